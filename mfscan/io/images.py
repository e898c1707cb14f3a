"""Load ultrasound images: PNG, JPEG, BMP and TIFF exports, and DICOM.

:func:`load_image` returns an :class:`Image` holding the pixels for display, a
grayscale copy for measuring (the same array for grayscale sources), a mask of
coloured overlay pixels (calipers, text, colour Doppler) to leave out of echo
intensity, and the DICOM calibration regions.

Formats are recognised by their content (magic bytes), not by the file name.
Source files are opened read-only and never written. Images whose header claims
more than ``max_pixels`` pixels are refused before anything is decoded.

Examples
--------
>>> img = load_image("scan.dcm")                         # doctest: +SKIP
>>> img.frame(0).shape, img.calibration.spacing          # doctest: +SKIP
((600, 800), (0.262, 0.262))
"""

from __future__ import annotations

import logging
import struct
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mfscan.calibration import (
    UNCALIBRATED,
    Calibration,
    Region,
    default_calibration,
    pixel_spacing_from_dicom,
    regions_from_dicom,
    warn_problems,
)
from mfscan.errors import ImageReadError

FORMATS = ("png", "jpeg", "bmp", "tiff", "dicom")
SUPPORTED_SUFFIXES = (".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".dib", ".tif", ".tiff", ".dcm", ".dicom", ".dic")
_SUFFIX_FORMAT = {
    ".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".jpe": "jpeg", ".bmp": "bmp", ".dib": "bmp",
    ".tif": "tiff", ".tiff": "tiff", ".dcm": "dicom", ".dicom": "dicom", ".dic": "dicom",
}
_FORMAT_NAME = {"png": "PNG image", "jpeg": "JPEG image", "bmp": "BMP image",
                "tiff": "TIFF image", "dicom": "DICOM file"}

#: An RGB pixel whose channels differ by more than this (on the 0-255 scale) is
#: a coloured overlay pixel. Gray content saved as JPEG keeps its channels within
#: a few levels of each other; calipers, text and colour Doppler differ by far more.
OVERLAY_THRESHOLD = 40

#: Transfer syntaxes that lose information (echo intensity is affected).
_LOSSY_TS = {
    "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.93", "1.2.840.10008.1.2.4.100",
    "1.2.840.10008.1.2.4.101", "1.2.840.10008.1.2.4.102", "1.2.840.10008.1.2.4.103",
}


@dataclass
class Image:
    """A loaded image.

    Attributes
    ----------
    path : Path
        The source file.
    format : str
        ``png``, ``jpeg``, ``bmp``, ``tiff`` or ``dicom``.
    pixels : ndarray
        Pixels for display, ``(n_frames, rows, cols)`` or ``(n_frames, rows, cols, 3)``
        RGB, uint8 or uint16. Palette images are expanded to RGB; MONOCHROME1
        (and min-is-white TIFF) is inverted so that bright means echogenic.
    gray : ndarray
        ``(n_frames, rows, cols)`` grayscale for measuring, uint8 or uint16. For
        grayscale sources this *is* `pixels` (the same object, no copy); for colour
        sources it is the luminance (0.299 R + 0.587 G + 0.114 B).
    overlay : ndarray of bool or None
        ``(n_frames, rows, cols)``, True on coloured overlay pixels (calipers,
        text, colour Doppler) to be left out of echo intensity. None for
        grayscale sources.
    regions : list of Region
        Calibrated DICOM ultrasound regions, clipped to the image (empty for exports).
    calibration : Calibration
        The image-level calibration (largest tissue region, else PixelSpacing,
        else ``none``).
    color : str
        ``grayscale``, ``rgb``, ``palette`` or ``ybr`` (the source's colour model).
    bit_depth : int
        Significant bits per sample (8, 12, 16...).
    metadata : dict
        Only non-identifying technical fields: ``modality``, ``transfer_syntax``,
        ``photometric``, ``bits_stored``, ``burned_in_annotation`` (``"YES"``,
        ``"NO"`` or ``"unknown"``, which means possibly yes) and ``lossy``.
    warnings : list of str
        Calibration problems and oddities found while reading.
    """

    path: Path
    format: str
    pixels: np.ndarray
    gray: np.ndarray
    overlay: np.ndarray | None
    regions: list[Region] = field(default_factory=list)
    calibration: Calibration = UNCALIBRATED
    color: str = "grayscale"
    bit_depth: int = 8
    metadata: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def n_frames(self) -> int:
        return int(self.gray.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of one frame."""
        return (int(self.gray.shape[1]), int(self.gray.shape[2]))

    def frame(self, i: int = 0) -> np.ndarray:
        """The grayscale frame `i`, ``(rows, cols)`` (a view, not a copy)."""
        return self.gray[i]

    def overlay_frame(self, i: int = 0) -> np.ndarray | None:
        """The overlay mask of frame `i`, or None for a grayscale source."""
        return None if self.overlay is None else self.overlay[i]

    def __repr__(self) -> str:  # keep the arrays out of the repr
        return (f"Image(path={str(self.path)!r}, format={self.format!r}, frames={self.n_frames}, "
                f"shape={self.shape}, color={self.color!r}, bit_depth={self.bit_depth}, "
                f"calibration={self.calibration.source!r})")


# --------------------------------------------------------------------------- sniffing

def _sniff(head: bytes) -> str | None:
    """Format from the first bytes of a file (at least 132 for DICOM)."""
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:2] == b"BM" and len(head) >= 26:
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[128:132] == b"DICM":
        return "dicom"
    return None


def _looks_like_raw_dicom(head: bytes) -> bool:
    """A DICOM data set without preamble starts with a group 0002/0008 tag."""
    if len(head) < 8:
        return False
    group, element = struct.unpack("<HH", head[:4])
    return group in (0x0002, 0x0008) and element < 0x0100


def _read_head(path: Path, n: int = 132) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except FileNotFoundError:
        raise ImageReadError("file not found", path) from None
    except IsADirectoryError:
        raise ImageReadError("is a directory, not an image file", path) from None
    except OSError as e:
        raise ImageReadError(f"cannot open file: {e.strerror or e}", path) from None


def _read_all(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise ImageReadError(f"cannot read file: {e.strerror or e}", path) from None


def _detect(path: Path, head: bytes) -> tuple[str, list[str]]:
    """Format of the file at `path`, with a warning if the suffix disagrees."""
    if not head:
        raise ImageReadError("file is empty", path)
    fmt = _sniff(head)
    expected = _SUFFIX_FORMAT.get(path.suffix.lower())
    if fmt is None and _looks_like_raw_dicom(head) and expected in ("dicom", None):
        fmt = "dicom"
    if fmt is None:
        what = _FORMAT_NAME.get(expected, "supported image")
        raise ImageReadError(f"not a {what}: the content is not recognised "
                             f"(first bytes {head[:8]!r})", path)
    notes = []
    if expected is not None and expected != fmt:
        notes.append(f"file name ends in {path.suffix!r} but the content is a {_FORMAT_NAME[fmt]}")
    return fmt, notes


def is_supported(path) -> bool:
    """True if `path` is a file mfscan can try to load.

    Decided by the suffix (:data:`SUPPORTED_SUFFIXES`, case-insensitive) or, for
    other names (DICOM files often have none), by the content: a DICOM
    preamble (``DICM`` at offset 128) or the magic bytes of a supported format.
    """
    path = Path(path)
    if not path.is_file():
        return False
    if path.suffix.lower() in SUPPORTED_SUFFIXES:
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return _sniff(head) is not None


# --------------------------------------------------------------------------- headers

_PNG_COLOR = {0: "grayscale", 2: "rgb", 3: "palette", 4: "grayscale", 6: "rgb"}


def _png_header(data: bytes, path) -> dict:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise ImageReadError("not a valid PNG image: the IHDR header is missing or truncated", path)
    cols, rows, depth, ctype = struct.unpack(">IIBB", data[16:26])
    if ctype not in _PNG_COLOR:
        raise ImageReadError(f"not a valid PNG image: unknown colour type {ctype}", path)
    return {"format": "png", "rows": rows, "cols": cols, "n_frames": 1,
            "color": _PNG_COLOR[ctype], "bit_depth": 16 if depth == 16 else 8,
            "png_color_type": ctype}


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_header(data: bytes, path) -> dict:
    """Parse JPEG markers up to the frame header (SOF); also locate the first scan."""
    i, n = 2, len(data)
    info = None
    while i + 4 <= n:
        if data[i] != 0xFF:
            raise ImageReadError("not a valid JPEG image: corrupt marker structure", path)
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        if marker in _SOF:
            if i + 10 > n:
                break
            precision, rows, cols, ncomp = struct.unpack(">BHHB", data[i + 4:i + 10])
            info = {"format": "jpeg", "rows": rows, "cols": cols, "n_frames": 1,
                    "color": "grayscale" if ncomp == 1 else "rgb",
                    "bit_depth": 8 if precision <= 8 else 16, "components": ncomp,
                    "lossless": marker in (0xC3, 0xC7, 0xCB, 0xCF)}
        if marker == 0xDA:  # start of scan
            if info is None:
                raise ImageReadError("not a valid JPEG image: scan before frame header", path)
            info["scan_offset"] = i
            return info
        i += 2 + length
    if info is not None:
        info["scan_offset"] = None
        return info
    raise ImageReadError("not a valid JPEG image: no frame header found (truncated?)", path)


def _bmp_header(data: bytes, path) -> dict:
    if len(data) < 26:
        raise ImageReadError("not a valid BMP image: header truncated", path)
    (offset,) = struct.unpack("<I", data[10:14])
    (dib,) = struct.unpack("<I", data[14:18])
    if dib == 12:
        cols, rows, _, bpp = struct.unpack("<HHHH", data[18:26])
        compression = 0
    else:
        if len(data) < 34:
            raise ImageReadError("not a valid BMP image: header truncated", path)
        cols, rows, _, bpp, compression = struct.unpack("<iiHHI", data[18:34])
    rows = abs(rows)
    return {"format": "bmp", "rows": rows, "cols": cols, "n_frames": 1,
            "color": "palette" if bpp <= 8 else "rgb", "bit_depth": 8,
            "bmp_bpp": bpp, "bmp_compression": compression, "bmp_offset": offset}


def _tiff_layout(series):
    """Axis order of a tifffile series as (frame axes, Y, X, S or None)."""
    axes = series.axes
    if "Y" not in axes or "X" not in axes:
        raise ValueError(f"TIFF series with axes {axes!r} has no image plane")
    return axes


@contextmanager
def _tifffile_notes(notes: list):
    """Collect tifffile's log messages (malformed tags...) into `notes`.

    tifffile reports oddities through the ``logging`` module; without this they
    would be printed on stderr beside mfscan's one-line message.
    """
    logger = logging.getLogger("tifffile")

    class _Collect(logging.Handler):
        def emit(self, record):
            notes.append(f"TIFF: {record.getMessage()}")

    handler = _Collect(logging.WARNING)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _tiff_header(path) -> dict:
    import tifffile

    try:
        with _tifffile_notes([]), tifffile.TiffFile(path) as tf:
            series = tf.series[0]
            axes = _tiff_layout(series)
            shape = dict(zip(axes, series.shape))
            page = series.pages[0] if series.pages else tf.pages[0]
            frames = int(np.prod([s for a, s in zip(axes, series.shape) if a not in "YXS"], dtype=np.int64))
            samples = shape.get("S", 1)
            photometric = int(getattr(page, "photometric", 1))
            color = ("palette" if photometric == 3 else
                     "rgb" if samples >= 3 else "grayscale")
            return {"format": "tiff", "rows": int(shape["Y"]), "cols": int(shape["X"]),
                    "n_frames": frames, "color": color,
                    "bit_depth": int(getattr(page, "bitspersample", series.dtype.itemsize * 8)),
                    "n_series": len(tf.series)}
    except ImageReadError:
        raise
    except Exception as e:
        raise ImageReadError(f"not a valid TIFF image: {e}", path) from None


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
            except InvalidDicomError:
                ds = pydicom.dcmread(path, force=True, **kwargs)
                if "Rows" not in ds and "PixelData" not in ds:
                    raise ImageReadError("not a DICOM file: no DICOM image attributes found", path) from None
                if notes is not None:
                    notes.append("DICOM file lacks the 128-byte preamble and 'DICM' prefix; read anyway")
    except ImageReadError:
        raise
    except Exception as e:
        raise ImageReadError(f"cannot read DICOM file (corrupt or truncated?): {e}", path) from None
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
    except (AttributeError, TypeError, ValueError):
        raise ImageReadError("DICOM file has no valid Rows/Columns", path) from None
    try:
        n = int(getattr(ds, "NumberOfFrames", 1) or 1)
    except (TypeError, ValueError):
        n = 1
    return rows, cols, n


def read_header(path) -> dict:
    """Cheap facts about an image without decoding its pixels.

    Parameters
    ----------
    path : str or Path
        The image file.

    Returns
    -------
    dict
        ``format``, ``rows``, ``cols``, ``n_frames``, ``color`` (as stored:
        a palette BMP/PNG says ``palette``) and ``bit_depth``.

    Raises
    ------
    ImageReadError
        When the file is missing, empty or not a supported image.
    """
    path = Path(path)
    head = _read_head(path, 4096)
    fmt, _ = _detect(path, head)
    if fmt == "png":
        info = _png_header(head, path)
    elif fmt == "bmp":
        info = _bmp_header(head, path)
    elif fmt == "jpeg":
        info = _jpeg_header(path.read_bytes(), path)
    elif fmt == "tiff":
        info = _tiff_header(path)
    else:
        ds = _dicom_dataset(path, header_only=True)
        rows, cols, n = _dicom_shape(ds, path)
        photometric = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2"))
        info = {"format": "dicom", "rows": rows, "cols": cols, "n_frames": n,
                "color": _dicom_color(photometric),
                "bit_depth": int(getattr(ds, "BitsStored", 8) or 8)}
    return {k: info[k] for k in ("format", "rows", "cols", "n_frames", "color", "bit_depth")}


# --------------------------------------------------------------------------- helpers

def _frame_indices(n: int, frames: slice | None, path) -> range:
    idx = range(n) if frames is None else range(n)[frames]
    if len(idx) == 0:
        raise ImageReadError(f"no frames selected by {frames!r} (the image has {n})", path)
    return idx


def _check_size(rows: int, cols: int, n: int, max_pixels: int, path) -> None:
    if rows <= 0 or cols <= 0:
        raise ImageReadError(f"header claims an empty image ({rows}x{cols})", path)
    total = int(rows) * int(cols) * int(n)
    if total > max_pixels:
        raise ImageReadError(
            f"image of {rows}x{cols} pixels x {n} frame(s) = {total:,} pixels exceeds the limit "
            f"of {max_pixels:,} (max_pixels); refused without decoding", path)


def _overlay_threshold(bit_depth: int, dtype) -> float:
    top = (1 << bit_depth) - 1 if np.dtype(dtype) != np.uint8 else 255
    return OVERLAY_THRESHOLD * top / 255.0


def _color_image(rgb: np.ndarray, bit_depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Luminance and overlay mask of an ``(n, rows, cols, 3)`` RGB array."""
    import cv2

    n, rows, cols, _ = rgb.shape
    flat = np.ascontiguousarray(rgb).reshape(n * rows, cols, 3)
    gray = cv2.cvtColor(flat, cv2.COLOR_RGB2GRAY).reshape(n, rows, cols)
    r, g, b = cv2.split(flat)
    spread = cv2.subtract(cv2.max(cv2.max(r, g), b), cv2.min(cv2.min(r, g), b))
    overlay = (spread > _overlay_threshold(bit_depth, rgb.dtype)).reshape(n, rows, cols)
    return gray, overlay


def _make_image(path, fmt, arr, *, color, bit_depth, regions=(), calibration=UNCALIBRATED,
                metadata=None, notes=()) -> Image:
    """Build an Image from ``(n, rows, cols)`` or ``(n, rows, cols, 3)`` pixels."""
    if arr.ndim == 3:
        gray, overlay = arr, None
        if color == "rgb":
            color = "grayscale"
    else:
        gray, overlay = _color_image(arr, bit_depth)
    return Image(path=path, format=fmt, pixels=arr, gray=gray, overlay=overlay,
                 regions=list(regions), calibration=calibration, color=color,
                 bit_depth=int(bit_depth), metadata=dict(metadata or {}), warnings=list(notes))


def _export_metadata(photometric: str, bit_depth: int, lossy: bool) -> dict:
    return {"modality": None, "transfer_syntax": None, "photometric": photometric,
            "bits_stored": int(bit_depth), "burned_in_annotation": "unknown", "lossy": lossy}


# --------------------------------------------------------------------------- exports

def _decode_cv2(path: Path, fmt: str, data: bytes, info: dict) -> np.ndarray:
    import cv2

    buf = np.frombuffer(data, np.uint8)
    try:
        arr = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    except cv2.error as e:
        raise ImageReadError(f"cannot decode {_FORMAT_NAME[fmt]}: {str(e).strip().splitlines()[-1]}", path) from None
    if arr is None:
        raise ImageReadError(f"cannot decode {_FORMAT_NAME[fmt]} (corrupt or truncated data)", path)
    if arr.shape[:2] != (info["rows"], info["cols"]):
        raise ImageReadError(f"decoded size {arr.shape[:2]} differs from the header's "
                             f"{(info['rows'], info['cols'])}", path)
    if arr.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(f"unsupported sample type {arr.dtype}", path)
    return arr


def _bgr_to_rgb(arr: np.ndarray) -> np.ndarray:
    import cv2

    if arr.shape[2] == 4:
        return cv2.cvtColor(arr, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)


def _load_cv2(path: Path, fmt: str, frames, max_pixels: int, notes: list, data: bytes | None = None) -> Image:
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as e:
            raise ImageReadError(f"cannot read file: {e.strerror or e}", path) from None
    if fmt == "png":
        info = _png_header(data, path)
    elif fmt == "jpeg":
        info = _jpeg_header(data, path)
    else:
        info = _bmp_header(data, path)
    _frame_indices(1, frames, path)
    _check_size(info["rows"], info["cols"], 1, max_pixels, path)
    # Truncation: decoders often return a partly grey image instead of failing.
    if fmt == "png" and b"IEND\xaeB`\x82" not in data[-64:]:
        raise ImageReadError("truncated PNG image (no IEND chunk at the end)", path)
    if fmt == "jpeg":
        scan = info.get("scan_offset")
        if scan is None or data.find(b"\xff\xd9", scan) < 0:
            raise ImageReadError("truncated JPEG image (no end-of-image marker)", path)
    if fmt == "bmp" and info["bmp_compression"] in (0, 3):
        row_bytes = ((info["bmp_bpp"] * info["cols"] + 31) // 32) * 4
        if info["bmp_offset"] + row_bytes * info["rows"] > len(data):
            raise ImageReadError("truncated BMP image (pixel data shorter than the header says)", path)
    arr = _decode_cv2(path, fmt, data, info)
    bit_depth = 16 if arr.dtype == np.uint16 else 8
    lossy = fmt == "jpeg" and not info.get("lossless", False)
    if arr.ndim == 2:
        return _make_image(path, fmt, arr[None], color="grayscale", bit_depth=bit_depth,
                           metadata=_export_metadata("MONOCHROME", bit_depth, lossy), notes=notes)
    if fmt == "png" and info["png_color_type"] in (0, 4):  # gray (+ alpha) decoded as BGR(A)
        return _make_image(path, fmt, np.ascontiguousarray(arr[..., 0])[None], color="grayscale",
                           bit_depth=bit_depth, metadata=_export_metadata("MONOCHROME", bit_depth, lossy),
                           notes=notes)
    color = info["color"] if info["color"] == "palette" else "rgb"
    rgb = _bgr_to_rgb(arr)[None]
    return _make_image(path, fmt, rgb, color=color, bit_depth=bit_depth,
                       metadata=_export_metadata("PALETTE" if color == "palette" else "RGB", bit_depth, lossy),
                       notes=notes)


def _load_tiff(path: Path, frames, max_pixels: int, notes: list) -> Image:
    import tifffile

    try:
        with _tifffile_notes(notes), tifffile.TiffFile(path) as tf:
            series = tf.series[0]
            axes = _tiff_layout(series)
            page = series.pages[0] if series.pages else tf.pages[0]
            if len(tf.series) > 1:
                notes.append(f"TIFF holds {len(tf.series)} image series; only the first was read")
            shape = dict(zip(axes, series.shape))
            n = int(np.prod([s for a, s in zip(axes, series.shape) if a not in "YXS"], dtype=np.int64))
            idx = _frame_indices(n, frames, path)
            _check_size(int(shape["Y"]), int(shape["X"]), len(idx), max_pixels, path)
            size = tf.filehandle.size
            pages = list(series.pages)
            per_page = frames is not None and len(pages) == n and n > 1
            for i, p in enumerate(pages):
                if p is None or (per_page and i not in idx):
                    continue
                ends = [o + c for o, c in zip(p.dataoffsets, p.databytecounts) if c]
                if ends and max(ends) > size:
                    raise ImageReadError("truncated TIFF image (strip or tile data past the end of the file)", path)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if per_page:  # decode only the selected pages
                    arr = np.stack([pages[i].asarray() for i in idx])
                    axes = "I" + pages[idx[0]].axes
                    n = len(idx)
                    frames = None
                else:
                    arr = series.asarray()
            photometric = int(getattr(page, "photometric", 1))
            colormap = getattr(page, "colormap", None)
            bits = int(getattr(page, "bitspersample", arr.dtype.itemsize * 8))
    except ImageReadError:
        raise
    except Exception as e:
        raise ImageReadError(f"cannot decode TIFF image: {e}", path) from None
    # Reorder to (frames..., Y, X, S) and flatten the frame axes.
    order = [i for i, a in enumerate(axes) if a not in "YXS"] + [axes.index("Y"), axes.index("X")]
    if "S" in axes:
        order.append(axes.index("S"))
    arr = np.transpose(arr, order)
    arr = arr.reshape((n,) + arr.shape[len(order) - (3 if "S" in axes else 2):])
    arr = arr[frames] if frames is not None else arr
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * np.uint8(255)
        bits = 8
    if photometric == 3 and colormap is not None and arr.ndim == 3:  # palette
        cmap = np.asarray(colormap)
        if cmap.max() > 255:
            cmap = (cmap >> 8).astype(np.uint8)
        else:
            cmap = cmap.astype(np.uint8)
        rgb = np.ascontiguousarray(np.moveaxis(cmap[:, arr], 0, -1))
        return _make_image(path, "tiff", rgb, color="palette", bit_depth=8,
                           metadata=_export_metadata("PALETTE", 8, False), notes=notes)
    if arr.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(f"unsupported TIFF sample type {arr.dtype} (only 8- and 16-bit unsigned "
                             "integer images are read)", path)
    bit_depth = 16 if arr.dtype == np.uint16 else 8
    if arr.ndim == 4:
        s = arr.shape[-1]
        if s >= 3:
            rgb = np.ascontiguousarray(arr[..., :3])
            return _make_image(path, "tiff", rgb, color="rgb", bit_depth=bit_depth,
                               metadata=_export_metadata("RGB", bit_depth, False), notes=notes)
        arr = arr[..., 0]
    arr = np.ascontiguousarray(arr)
    if photometric == 0:  # min-is-white
        arr = np.subtract((1 << min(bits, bit_depth)) - 1, arr, dtype=arr.dtype)
        notes.append("TIFF is min-is-white; inverted so that bright means echogenic")
    return _make_image(path, "tiff", arr, color="grayscale", bit_depth=bit_depth,
                       metadata=_export_metadata("MONOCHROME", bit_depth, False), notes=notes)


# --------------------------------------------------------------------------- DICOM

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
        raise ImageReadError(f"cannot decode DICOM pixel data ({ts_name}, {photometric}): {e}", path) from None

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
            raise ImageReadError(f"cannot apply the DICOM palette colour lookup table: {e}", path) from None
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
    return _make_image(path, "dicom", arr, color=_dicom_color(photometric), bit_depth=bit_depth,
                       regions=regions, calibration=calibration, metadata=metadata, notes=notes)


# --------------------------------------------------------------------------- public

def load_image(path, *, max_pixels: int = 200_000_000, frames: slice | None = None,
               data: bytes | None = None) -> Image:
    """Load an ultrasound image or cine.

    Parameters
    ----------
    path : str or Path
        PNG, JPEG, BMP, TIFF (multi-page: one frame per page) or DICOM file,
        recognised by content.
    max_pixels : int, optional
        Refuse (before decoding) images whose header claims more than this many
        pixels, rows x cols x selected frames.
    frames : slice, optional
        Frames to load from a cine or multi-page file (default: all).
    data : bytes, optional
        The file's content, already read (the file is then not read again for
        PNG, JPEG and BMP; TIFF and DICOM are read from `path`).

    Returns
    -------
    Image

    Raises
    ------
    ImageReadError
        Missing, empty, truncated, undecodable or too large files, and DICOM
        files without pixel data.

    Notes
    -----
    A grayscale 8-bit PNG costs essentially its decode: ``gray`` and ``pixels``
    are the same view of the decoded array, with no conversion.
    """
    path = Path(path)
    head = data[:132] if data is not None else _read_head(path)
    fmt, notes = _detect(path, head)
    if fmt in ("png", "jpeg", "bmp"):
        if data is None and path.stat().st_size <= 256 << 20:
            data = _read_all(path)  # one read instead of a header read and a second open
        return _load_cv2(path, fmt, frames, max_pixels, notes, data=data)
    if fmt == "tiff":
        return _load_tiff(path, frames, max_pixels, notes)
    return _load_dicom(path, frames, max_pixels, notes)
