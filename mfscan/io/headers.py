"""Image headers read without decoding: size, colour model and bit depth of PNG, JPEG, BMP and TIFF.

:func:`mfscan.io.images.read_header` and the loaders use these to refuse an image
that is too large, or truncated, before its pixels are decoded.
"""

from __future__ import annotations

import logging
import struct
from contextlib import contextmanager

import numpy as np

from mfscan.errors import ImageReadError

_PNG_COLOR = {0: "grayscale", 2: "rgb", 3: "palette", 4: "grayscale", 6: "rgb"}


def _png_header(data: bytes, path) -> dict:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise ImageReadError("not a valid PNG image: the IHDR header is missing or truncated", path)
    cols, rows, depth, ctype = struct.unpack(">IIBB", data[16:26])
    if ctype not in _PNG_COLOR:
        raise ImageReadError(f"not a valid PNG image: unknown colour type {ctype}", path)
    return {
        "format": "png",
        "rows": rows,
        "cols": cols,
        "n_frames": 1,
        "color": _PNG_COLOR[ctype],
        "bit_depth": 16 if depth == 16 else 8,
        "png_color_type": ctype,
    }


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
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _SOF:
            if i + 10 > n:
                break
            precision, rows, cols, ncomp = struct.unpack(">BHHB", data[i + 4 : i + 10])
            info = {
                "format": "jpeg",
                "rows": rows,
                "cols": cols,
                "n_frames": 1,
                "color": "grayscale" if ncomp == 1 else "rgb",
                "bit_depth": 8 if precision <= 8 else 16,
                "components": ncomp,
                "lossless": marker in (0xC3, 0xC7, 0xCB, 0xCF),
            }
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
    return {
        "format": "bmp",
        "rows": rows,
        "cols": cols,
        "n_frames": 1,
        "color": "palette" if bpp <= 8 else "rgb",
        "bit_depth": 8,
        "bmp_bpp": bpp,
        "bmp_compression": compression,
        "bmp_offset": offset,
    }


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


def _tiff_problem(e: Exception) -> str:
    """What a tifffile failure means, in our words: a tag directory that cannot be read
    (tifffile's "corrupted IFD structure", "list index out of range", a short ``struct``
    read) is a truncated or damaged file; anything else is named as a decoding failure."""
    import tifffile

    if isinstance(e, (struct.error, IndexError, EOFError, tifffile.TiffFileError)):
        return (
            "truncated or damaged TIFF image: its directory of tags cannot be read "
            "(the file may be cut short; copy or export it again)"
        )
    return f"cannot decode TIFF image: pixel data damaged or in an encoding mfscan cannot read ({type(e).__name__}: {e})"


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
            color = "palette" if photometric == 3 else "rgb" if samples >= 3 else "grayscale"
            return {
                "format": "tiff",
                "rows": int(shape["Y"]),
                "cols": int(shape["X"]),
                "n_frames": frames,
                "color": color,
                "bit_depth": int(getattr(page, "bitspersample", series.dtype.itemsize * 8)),
                "n_series": len(tf.series),
            }
    except ImageReadError:
        raise
    except Exception as e:
        raise ImageReadError(_tiff_problem(e), path) from e
