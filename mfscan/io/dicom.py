"""Loading DICOM ultrasound images and cines with pydicom.

Pixel data is decoded (frames selected before decoding when possible), signed
data shifted to unsigned, MONOCHROME1 inverted, palette colour expanded to RGB;
the calibrated ultrasound regions and PixelSpacing are read through
:mod:`mfscan.calibration.dicom`. Only non-identifying technical fields are kept
as metadata. Use :func:`mfscan.io.images.load_image`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from mfscan.calibration import (
    UNCALIBRATED,
    default_calibration,
    pixel_spacing_from_dicom,
    regions_from_dicom,
    warn_problems,
)
from mfscan.errors import ImageReadError
from mfscan.io.frames import FrameDecoder, FrameStack
from mfscan.io.pixels import Image, _check_size, _color_image, _frame_indices

#: Transfer syntaxes that lose information (echo intensity is affected).
_LOSSY_TS = {
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.93",
    "1.2.840.10008.1.2.4.100",
    "1.2.840.10008.1.2.4.101",
    "1.2.840.10008.1.2.4.102",
    "1.2.840.10008.1.2.4.103",
}


def _dicom_dataset(path: Path, *, header_only: bool, notes: list | None = None):
    """Read a DICOM data set; large values (the pixel data) are read only when used."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    kwargs = {"stop_before_pixels": header_only, "defer_size": "4 MB"}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                ds = pydicom.dcmread(path, **kwargs)
            except InvalidDicomError as e:
                ds = pydicom.dcmread(path, force=True, **kwargs)
                if "Rows" not in ds and "PixelData" not in ds:
                    raise ImageReadError("not a DICOM file: no DICOM image attributes found", path) from e
                if notes is not None:
                    notes.append("DICOM file lacks the 128-byte preamble and 'DICM' prefix; read anyway")
    except ImageReadError:
        raise
    except Exception as e:
        raise ImageReadError(
            "truncated or damaged DICOM file: its header cannot be read (the file may be cut short; "
            "copy or export it again)",
            path,
        ) from e
    if notes is not None:
        notes.extend(str(w.message) for w in caught)
    return ds


def _dicom_color(photometric: str) -> str:
    if photometric.startswith("MONOCHROME"):
        return "grayscale"
    if photometric == "PALETTE COLOR":
        return "palette"
    if photometric.startswith("YBR"):
        return "ybr"
    return "rgb"


def _dicom_shape(ds, path) -> tuple[int, int, int]:
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
    except (AttributeError, TypeError, ValueError) as e:
        raise ImageReadError("DICOM file has no valid Rows/Columns", path) from e
    try:
        n = int(getattr(ds, "NumberOfFrames", 1) or 1)
    except (TypeError, ValueError):
        n = 1
    return rows, cols, n


def _dicom_header(path: Path) -> dict:
    """Size, frames, colour model and bit depth of a DICOM file, its pixel data left unread."""
    ds = _dicom_dataset(path, header_only=True)
    rows, cols, n = _dicom_shape(ds, path)
    photometric = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2"))
    return {
        "format": "dicom",
        "rows": rows,
        "cols": cols,
        "n_frames": n,
        "color": _dicom_color(photometric),
        "bit_depth": int(getattr(ds, "BitsStored", 8) or 8),
    }


def _read_frame(path: Path, ds, k: int, n: int) -> np.ndarray:
    """Frame ``k`` as pydicom decodes it (YBR converted to RGB), reading only that frame.

    From the file when possible (pydicom reads the header, then seeks to the frame's
    bytes or encapsulated fragments), else from the data set already read.
    """
    from pydicom.pixels import pixel_array

    try:
        return pixel_array(path, index=k if n > 1 else None)
    except Exception:
        return pixel_array(ds, index=k if n > 1 else None)


def _normalise(arr: np.ndarray, ds, p: dict, path: Path) -> np.ndarray:
    """One decoded frame to display pixels: unsigned, MONOCHROME1 inverted, palette expanded."""
    from pydicom.pixels import apply_color_lut

    rows, cols = p["shape"]
    if arr.shape[:2] != (rows, cols) or arr.ndim != (3 if p["samples"] == 3 else 2):
        raise ImageReadError(f"decoded pixel data has shape {arr.shape}, expected {rows}x{cols}", path)
    bits, bits_alloc = p["bits"], p["bits_alloc"]
    if np.issubdtype(arr.dtype, np.signedinteger):
        arr = (arr.astype(np.int32) + (1 << (bits - 1))).astype(np.uint8 if bits_alloc <= 8 else np.uint16)
    if p["photometric"] == "PALETTE COLOR":
        try:
            rgb = apply_color_lut(arr, ds)
        except Exception as e:
            raise ImageReadError(f"cannot apply the DICOM palette colour lookup table: {e}", path) from e
        if rgb.shape[-1] == 4:
            rgb = rgb[..., :3]
        if rgb.dtype != np.uint8:
            rgb = rgb.astype(np.uint8) if rgb.max(initial=0) <= 255 else (rgb >> 8).astype(np.uint8)
        return np.ascontiguousarray(rgb)
    if p["photometric"] == "MONOCHROME1":
        top = (1 << bits) - 1
        arr = np.subtract(top, np.minimum(arr, top), dtype=arr.dtype)
    if arr.dtype not in (np.uint8, np.uint16):
        arr = arr.astype(np.uint16)
    return arr


def _pixel_params(ds, path: Path) -> dict:
    """What decoding needs from the header, checked; ImageReadError for what is not supported."""
    if "PixelData" not in ds:
        if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
            raise ImageReadError("DICOM file has floating-point pixel data, which is not supported", path)
        if "Rows" in ds:  # an image header, but the pixel data element is cut off
            raise ImageReadError(
                "DICOM file has no pixel data although its header describes an image "
                "(the file may be cut short; copy or export it again)",
                path,
            )
        raise ImageReadError("DICOM file has no pixel data (not an image, or the file is cut short)", path)
    rows, cols, n = _dicom_shape(ds, path)
    photometric = str(getattr(ds, "PhotometricInterpretation", "") or "").strip().upper()
    if not photometric:
        raise ImageReadError("DICOM file has no PhotometricInterpretation", path)
    bits_alloc = int(getattr(ds, "BitsAllocated", 8) or 8)
    bits = int(getattr(ds, "BitsStored", bits_alloc) or bits_alloc)
    if bits_alloc > 16:
        raise ImageReadError(f"{bits_alloc}-bit DICOM pixel data is not supported", path)
    samples = int(getattr(ds, "SamplesPerPixel", 1) or 1)
    if samples not in (1, 3):
        raise ImageReadError(f"DICOM with {samples} samples per pixel is not supported", path)
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    return {
        "shape": (rows, cols),
        "n": n,
        "photometric": photometric,
        "bits": bits,
        "bits_alloc": bits_alloc,
        "samples": samples,
        "ts": ts,
        "ts_name": getattr(ts, "name", None) or (str(ts) if ts else None),
        "bit_depth": 8 if photometric == "PALETTE COLOR" else bits,
    }


def _decode_problem(ds, p: dict, k: int, e: Exception) -> str:
    """Why frame `k` cannot be decoded, in our words: uncompressed pixel data shorter than
    the header announces is a truncated file; other failures name the encoding."""
    where = f" of frame {k}" if p["n"] > 1 else ""
    ts = p["ts"]
    if ts is not None and not getattr(ts, "is_compressed", True):
        rows, cols = p["shape"]
        need = rows * cols * p["samples"] * p["n"] * p["bits_alloc"] // 8
        try:
            have = len(ds.PixelData)
        except Exception:
            have = None
        if have is not None and have < need:
            return (
                f"truncated DICOM file: the pixel data holds {have} of the {need} bytes its header "
                "announces (the file was cut short; copy or export it again)"
            )
    return f"cannot decode DICOM pixel data{where} ({p['ts_name']}, {p['photometric']}): {e}"


class _FrameReader:
    """``reader(k) -> (pixels, gray, overlay, tint)`` of one frame (picklable).

    Grayscale frames give ``(pixels, pixels, None, None)``. Decoder warnings go to
    ``notes`` when it is a list (the first frame's, read at load time).
    """

    def __init__(self, path: Path, ds, p: dict, notes: list | None = None):
        self.path, self.ds, self.p, self.notes = path, ds, p, notes
        self.done: dict = {}  # frames decoded at load time, handed over once

    def __getstate__(self):
        return {**self.__dict__, "notes": None, "done": {}}

    def __call__(self, k: int):
        if k in self.done:
            return self.done.pop(k)
        p, path = self.p, self.path
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                raw = _read_frame(path, self.ds, k, p["n"])
        except Exception as e:
            raise ImageReadError(_decode_problem(self.ds, p, k, e), path) from e
        if self.notes is not None:
            self.notes.extend(m for m in (str(w.message) for w in caught) if m not in self.notes)
        arr = _normalise(raw, self.ds, p, path)
        if arr.ndim == 2:
            return arr, arr, None, None
        gray, overlay, tints = _color_image(arr[None], p["bit_depth"])
        return arr, gray[0], overlay[0], tints[0]


def _load_dicom(path: Path, frames, max_pixels: int, notes: list) -> Image:
    ds = _dicom_dataset(path, header_only=False, notes=notes)
    p = _pixel_params(ds, path)
    rows, cols = p["shape"]
    n = p["n"]
    idx = _frame_indices(n, frames, path)
    _check_size(rows, cols, len(idx), max_pixels, path)
    first_notes = list(notes)
    decode = _FrameReader(path, ds, p, first_notes)
    first = decode(idx[0])
    decode.notes = None
    del notes[:]
    notes.extend(first_notes)
    signed = int(getattr(ds, "PixelRepresentation", 0) or 0) == 1
    if signed:
        notes.append("signed pixel data shifted to unsigned")
    tint = None if first[3] is None else tuple(float(v) for v in first[3])
    if frames is None and n > 1:
        pixels, gray, overlay = _lazy_stacks(path, decode, n, first, idx[0])
    else:
        decoded = [first] + [decode(k) for k in idx[1:]]
        pixels = np.stack([d[0] for d in decoded])
        gray = pixels if first[2] is None else np.stack([d[1] for d in decoded])
        overlay = None if first[2] is None else np.stack([d[2] for d in decoded])
    return _dicom_image(path, ds, p, pixels, gray, overlay, tint, notes)


def _lazy_stacks(path, decode, n: int, first, k0: int):
    """FrameStacks of a cine's pixels, gray and overlay, frame ``k0`` already decoded."""
    decode.done[k0] = first
    decoder = FrameDecoder(decode, n, path)
    decoder.get(k0)
    pixels = FrameStack(decoder, 0, first[0].shape, first[0].dtype)
    if first[2] is None:
        return pixels, pixels, None
    gray = FrameStack(decoder, 1, first[1].shape, first[1].dtype)
    return pixels, gray, FrameStack(decoder, 2, first[2].shape, bool)


def _dicom_image(path, ds, p, pixels, gray, overlay, tint, notes) -> Image:
    rows, cols = p["shape"]
    regions, problems = regions_from_dicom(ds, (rows, cols))
    if problems:
        warn_problems(problems, path)
        notes.extend(problems)
    calibration = default_calibration(regions, pixel_spacing_from_dicom(ds) or UNCALIBRATED)
    burned = str(getattr(ds, "BurnedInAnnotation", "") or "").strip().upper()
    lossy = str(p["ts"]) in _LOSSY_TS or str(getattr(ds, "LossyImageCompression", "") or "") == "01"
    metadata = {
        "modality": str(getattr(ds, "Modality", "") or "") or None,
        "transfer_syntax": p["ts_name"],
        "photometric": p["photometric"],
        "bits_stored": p["bits"],
        "burned_in_annotation": burned if burned in ("YES", "NO") else "unknown",
        "lossy": bool(lossy),
    }
    return Image(
        path=path,
        format="dicom",
        pixels=pixels,
        gray=gray,
        overlay=overlay,
        regions=list(regions),
        calibration=calibration,
        color=_dicom_color(p["photometric"]),
        bit_depth=int(p["bit_depth"]),
        metadata=metadata,
        warnings=list(notes),
        tint=tint,
    )
