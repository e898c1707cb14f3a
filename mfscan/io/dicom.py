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
from mfscan.io.pixels import Image, _check_size, _frame_indices, _make_image

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
        raise ImageReadError(f"cannot read DICOM file (corrupt or truncated?): {e}", path) from e
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


def _load_dicom(path: Path, frames, max_pixels: int, notes: list) -> Image:
    from pydicom.pixels import apply_color_lut, iter_pixels

    ds = _dicom_dataset(path, header_only=False, notes=notes)
    if "PixelData" not in ds:
        if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
            raise ImageReadError("DICOM file has floating-point pixel data, which is not supported", path)
        raise ImageReadError("DICOM file has no pixel data", path)
    rows, cols, n = _dicom_shape(ds, path)
    idx = _frame_indices(n, frames, path)
    _check_size(rows, cols, len(idx), max_pixels, path)
    photometric = str(getattr(ds, "PhotometricInterpretation", "") or "").strip().upper()
    if not photometric:
        raise ImageReadError("DICOM file has no PhotometricInterpretation", path)
    bits_alloc = int(getattr(ds, "BitsAllocated", 8) or 8)
    bits = int(getattr(ds, "BitsStored", bits_alloc) or bits_alloc)
    if bits_alloc > 16:
        raise ImageReadError(f"{bits_alloc}-bit DICOM pixel data is not supported", path)
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    ts_name = getattr(ts, "name", None) or (str(ts) if ts else None)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if len(idx) == n:
                arr = ds.pixel_array
            else:
                arr = np.stack(list(iter_pixels(ds, indices=list(idx))))
        notes.extend(str(w.message) for w in caught)
    except Exception as e:
        raise ImageReadError(f"cannot decode DICOM pixel data ({ts_name}, {photometric}): {e}", path) from e

    # Normalise to (frames, rows, cols[, 3]).
    samples = int(getattr(ds, "SamplesPerPixel", 1) or 1)
    if samples not in (1, 3):
        raise ImageReadError(f"DICOM with {samples} samples per pixel is not supported", path)
    expected_ndim = 3 if samples == 3 else 2
    if arr.ndim == expected_ndim:
        arr = arr[None]
    if arr.shape[1:3] != (rows, cols):
        raise ImageReadError(f"decoded pixel data has shape {arr.shape}, expected {rows}x{cols}", path)

    if np.issubdtype(arr.dtype, np.signedinteger):
        arr = (arr.astype(np.int32) + (1 << (bits - 1))).astype(np.uint8 if bits_alloc <= 8 else np.uint16)
        notes.append("signed pixel data shifted to unsigned")
    if photometric == "PALETTE COLOR":
        try:
            rgb = apply_color_lut(arr, ds)
        except Exception as e:
            raise ImageReadError(f"cannot apply the DICOM palette colour lookup table: {e}", path) from e
        if rgb.shape[-1] == 4:
            rgb = rgb[..., :3]
        if rgb.dtype != np.uint8:
            rgb = rgb.astype(np.uint8) if rgb.max(initial=0) <= 255 else (rgb >> 8).astype(np.uint8)
        arr, bit_depth = np.ascontiguousarray(rgb), 8
    else:
        bit_depth = bits
        if photometric == "MONOCHROME1":
            top = (1 << bits) - 1
            arr = np.subtract(top, np.minimum(arr, top), dtype=arr.dtype)
        if arr.dtype not in (np.uint8, np.uint16):
            arr = arr.astype(np.uint16)

    regions, problems = regions_from_dicom(ds, (rows, cols))
    if problems:
        warn_problems(problems, path)
        notes.extend(problems)
    calibration = default_calibration(regions, pixel_spacing_from_dicom(ds) or UNCALIBRATED)

    burned = str(getattr(ds, "BurnedInAnnotation", "") or "").strip().upper()
    lossy = str(ts) in _LOSSY_TS or str(getattr(ds, "LossyImageCompression", "") or "") == "01"
    metadata = {
        "modality": str(getattr(ds, "Modality", "") or "") or None,
        "transfer_syntax": ts_name,
        "photometric": photometric,
        "bits_stored": bits,
        "burned_in_annotation": burned if burned in ("YES", "NO") else "unknown",
        "lossy": bool(lossy),
    }
    return _make_image(
        path,
        "dicom",
        arr,
        color=_dicom_color(photometric),
        bit_depth=bit_depth,
        regions=regions,
        calibration=calibration,
        metadata=metadata,
        notes=notes,
    )
