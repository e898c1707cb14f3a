"""Load ultrasound images: PNG, JPEG, BMP and TIFF exports, and DICOM.

:func:`load_image` returns an :class:`Image` holding the pixels for display, a
grayscale copy for measuring (the same array for grayscale sources), a mask of
coloured overlay pixels (calipers, text, colour Doppler) to leave out of echo
intensity, and the DICOM calibration regions.

Formats are recognised by their content (magic bytes), not by the file name.
Source files are opened read-only and never written. Images whose header claims
more than ``max_pixels`` pixels are refused before anything is decoded.

The format readers live beside this module: :mod:`mfscan.io.headers` (headers read
without decoding), :mod:`mfscan.io.export_readers` (PNG, JPEG, BMP, TIFF),
:mod:`mfscan.io.dicom` (DICOM) and :mod:`mfscan.io.pixels` (the :class:`Image`
they all return).

Examples
--------
>>> img = load_image("scan.dcm")                         # doctest: +SKIP
>>> img.frame(0).shape, img.calibration.spacing          # doctest: +SKIP
((600, 800), (0.262, 0.262))
"""

from __future__ import annotations

import struct
from pathlib import Path

from mfscan.errors import ImageReadError
from mfscan.io.dicom import _dicom_header, _load_dicom
from mfscan.io.export_readers import _load_cv2, _load_tiff, _read_all
from mfscan.io.headers import _bmp_header, _jpeg_header, _png_header, _tiff_header
from mfscan.io.pixels import _FORMAT_NAME, Image
from mfscan.vocab import DEFAULT_MAX_PIXELS

FORMATS = ("png", "jpeg", "bmp", "tiff", "dicom")
SUPPORTED_SUFFIXES = (
    ".png",
    ".jpg",
    ".jpeg",
    ".jpe",
    ".bmp",
    ".dib",
    ".tif",
    ".tiff",
    ".dcm",
    ".dicom",
    ".dic",
)
_SUFFIX_FORMAT = {
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".jpe": "jpeg",
    ".bmp": "bmp",
    ".dib": "bmp",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".dcm": "dicom",
    ".dicom": "dicom",
    ".dic": "dicom",
}


def _sniff(head: bytes) -> str | None:
    """Format from the first bytes of a file (at least 132 for DICOM).

    DICOM (``DICM`` at offset 128) is tried first: its 128-byte preamble may hold
    anything, including a TIFF header (dual-personality files are legal DICOM).
    """
    if head[128:132] == b"DICM":
        return "dicom"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:2] == b"BM" and len(head) >= 26:
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
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
    except FileNotFoundError as e:
        raise ImageReadError("file not found", path) from e
    except IsADirectoryError as e:
        raise ImageReadError("is a directory, not an image file", path) from e
    except OSError as e:
        raise ImageReadError(f"cannot open file: {e.strerror or e}", path) from e


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
        raise ImageReadError(f"not a {what}: the content is not recognised", path)
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
        info = _dicom_header(path)
    return {k: info[k] for k in ("format", "rows", "cols", "n_frames", "color", "bit_depth")}


def load_image(
    path, *, max_pixels: int = DEFAULT_MAX_PIXELS, frames: slice | None = None, data: bytes | None = None
) -> Image:
    """Load an ultrasound image or cine.

    Parameters
    ----------
    path : str or Path
        PNG, JPEG, BMP, TIFF (multi-page: one frame per page) or DICOM file,
        recognised by content.
    max_pixels : int, optional
        Refuse (before decoding) images whose header claims more than this many
        pixels, rows x cols x selected frames.
    frames : int, slice or sequence of int, optional
        Frames to load from a cine or multi-page file, decoded now (frame numbers
        then count within the selection: ``load_image(p, frames=60).frame(0)`` is
        frame 60). Default: all frames; a multi-frame DICOM then decodes its first
        frame only and every other frame when first used (``img.gray[k]``,
        ``img.frame(k)``; :class:`mfscan.io.frames.FrameStack`), reading just that
        frame's bytes from the file. A frame number outside the file raises
        :class:`mfscan.io.frames.FrameIndexError` (an ImageReadError).
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
    To show a cine's first frame quickly, ``load_image(path)`` is enough: it reads
    the header and frame 0, and ``img.pixels`` can be given to napari as it is
    (napari asks for the displayed frame only).

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
