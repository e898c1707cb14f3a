"""Loading exported images: PNG, JPEG and BMP (decoded by OpenCV) and TIFF (by tifffile).

Truncated files are refused (decoders often return a partly grey image instead of
failing); palette images are expanded to RGB and min-is-white TIFF is inverted so
that bright means echogenic. Use :func:`mfscan.io.images.load_image`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from mfscan.calibration.scale import UNCALIBRATED, Calibration
from mfscan.errors import ImageReadError
from mfscan.io.headers import (
    _bmp_header,
    _jpeg_header,
    _png_header,
    _tiff_layout,
    _tiff_problem,
    _tifffile_notes,
)
from mfscan.io.pixels import (
    _FORMAT_NAME,
    Image,
    _check_size,
    _export_metadata,
    _frame_indices,
    _make_image,
)


def _read_all(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise ImageReadError(f"cannot read file: {e.strerror or e}", path) from e


def _decode_cv2(path: Path, fmt: str, data: bytes, info: dict) -> np.ndarray:
    import cv2

    buf = np.frombuffer(data, np.uint8)
    try:
        arr = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    except cv2.error as e:
        raise ImageReadError(
            f"cannot decode {_FORMAT_NAME[fmt]}: {str(e).strip().splitlines()[-1]}", path
        ) from e
    if arr is None:
        raise ImageReadError(f"cannot decode {_FORMAT_NAME[fmt]} (corrupt or truncated data)", path)
    if arr.shape[:2] != (info["rows"], info["cols"]):
        raise ImageReadError(
            f"decoded size {arr.shape[:2]} differs from the header's {(info['rows'], info['cols'])}", path
        )
    if arr.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(f"unsupported sample type {arr.dtype}", path)
    return arr


def _bgr_to_rgb(arr: np.ndarray) -> np.ndarray:
    import cv2

    if arr.shape[2] == 4:
        return cv2.cvtColor(arr, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)


def _tiff_bits(page, dtype) -> int:
    """The real bit depth of a TIFF's samples: BitsPerSample (12 for packed 12-bit data), or
    fewer when a MaxSampleValue tag says so (12-bit data in 16-bit words, max 4095)."""
    bits = int(getattr(page, "bitspersample", np.dtype(dtype).itemsize * 8) or 8)
    tag = page.tags.get(281) if hasattr(page, "tags") else None  # MaxSampleValue
    try:
        top = int(np.max(tag.value)) if tag is not None else 0
    except (TypeError, ValueError):
        top = 0
    if 0 < top < (1 << bits) - 1 and (top + 1) & top == 0:  # 2**k - 1: k stored bits
        bits = top.bit_length()
    return bits


def _load_cv2(path: Path, fmt: str, frames, max_pixels: int, notes: list, data: bytes | None = None) -> Image:
    if data is None:
        data = _read_all(path)
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
        return _make_image(
            path,
            fmt,
            arr[None],
            color="grayscale",
            bit_depth=bit_depth,
            metadata=_export_metadata("MONOCHROME", bit_depth, lossy),
            notes=notes,
        )
    if fmt == "png" and info["png_color_type"] in (0, 4):  # gray (+ alpha) decoded as BGR(A)
        return _make_image(
            path,
            fmt,
            np.ascontiguousarray(arr[..., 0])[None],
            color="grayscale",
            bit_depth=bit_depth,
            metadata=_export_metadata("MONOCHROME", bit_depth, lossy),
            notes=notes,
        )
    color = info["color"] if info["color"] == "palette" else "rgb"
    rgb = _bgr_to_rgb(arr)[None]
    return _make_image(
        path,
        fmt,
        rgb,
        color=color,
        bit_depth=bit_depth,
        metadata=_export_metadata("PALETTE" if color == "palette" else "RGB", bit_depth, lossy),
        notes=notes,
    )


#: Millimetres per ImageJ length unit (ImageJ's ``unit`` in its TIFF description).
_IMAGEJ_UNIT_MM = {
    "cm": 10.0,
    "mm": 1.0,
    "micron": 1e-3,
    "microns": 1e-3,
    "um": 1e-3,
    "\u00b5m": 1e-3,
    "\\u00b5m": 1e-3,
    "inch": 25.4,
    "in": 25.4,
}


def _imagej_calibration(tf, page, notes: list) -> Calibration:
    """Scale Fiji set with *Analyze > Set Scale*: ImageJ ``unit`` and the X/YResolution tags.

    Only files with ImageJ metadata naming a length unit are calibrated (a plain
    TIFF's resolution is a print size in dots per inch, not a scale). The tags hold
    pixels per unit; mm per pixel is ``unit_mm / resolution``.
    """
    meta = tf.imagej_metadata or {}
    unit = str(meta.get("unit", "") or "").strip()
    if not unit or unit.lower() in ("pixel", "pixels", "none"):
        return UNCALIBRATED
    factors = []
    for tag, key in (("YResolution", "yunit"), ("XResolution", "unit")):
        u = str(meta.get(key, unit) or unit).strip()
        mm = _IMAGEJ_UNIT_MM.get(u.lower()) or _IMAGEJ_UNIT_MM.get(u)
        value = page.tags.get(tag)
        try:
            num, den = value.value
            per_unit = num / den
        except (AttributeError, TypeError, ValueError, ZeroDivisionError):
            per_unit = None
        if mm is None:
            notes.append(f"ImageJ unit {u[:20]!r} is not a length mfscan knows; image left uncalibrated")
            return UNCALIBRATED
        if per_unit is None or not np.isfinite(per_unit) or per_unit <= 0:
            notes.append(f"ImageJ unit {u[:20]!r} without a valid {tag}; image left uncalibrated")
            return UNCALIBRATED
        factors.append(mm / per_unit)
    return Calibration(factors[0], factors[1], "imagej-tiff", details={"unit": unit})


def _check_imagej_count(tf, n: int, path: Path) -> None:
    """An ImageJ stack whose header announces more images than can be read is cut short
    (tifffile then falls back to the pages it finds, often only the first)."""
    if not tf.is_imagej:
        return
    meta = tf.imagej_metadata or {}
    announced = meta.get("images", 1)
    if isinstance(announced, int) and announced > n:
        raise ImageReadError(
            f"truncated ImageJ TIFF stack: its header announces {announced} images but only {n} "
            "can be read (the file may be cut short; copy or export it again)",
            path,
        )


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
            _check_imagej_count(tf, n, path)
            idx = _frame_indices(n, frames, path)
            _check_size(int(shape["Y"]), int(shape["X"]), len(idx), max_pixels, path)
            size = tf.filehandle.size
            if series.dataoffset is not None and series.dataoffset + series.nbytes > size:
                raise ImageReadError(
                    f"truncated TIFF image: its {n} frame(s) need {series.nbytes} bytes of pixel data, "
                    f"the file holds {max(size - series.dataoffset, 0)} (the file may be cut short)",
                    path,
                )
            pages = list(series.pages)
            per_page = frames is not None and len(pages) == n and n > 1
            for i, p in enumerate(pages):
                if p is None or (per_page and i not in idx):
                    continue
                ends = [o + c for o, c in zip(p.dataoffsets, p.databytecounts) if c]
                if ends and max(ends) > size:
                    raise ImageReadError(
                        "truncated TIFF image (strip or tile data past the end of the file)", path
                    )
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
            bits = _tiff_bits(page, arr.dtype)
            cal = _imagej_calibration(tf, page, notes) if tf.is_imagej else UNCALIBRATED
    except ImageReadError:
        raise
    except Exception as e:
        raise ImageReadError(_tiff_problem(e), path) from e
    # Reorder to (frames..., Y, X, S) and flatten the frame axes.
    order = [i for i, a in enumerate(axes) if a not in "YXS"] + [axes.index("Y"), axes.index("X")]
    if "S" in axes:
        order.append(axes.index("S"))
    arr = np.transpose(arr, order)
    arr = arr.reshape((n,) + arr.shape[len(order) - (3 if "S" in axes else 2) :])
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
        return _make_image(
            path,
            "tiff",
            rgb,
            color="palette",
            bit_depth=8,
            metadata=_export_metadata("PALETTE", 8, False),
            calibration=cal,
            notes=notes,
        )
    if arr.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(
            f"unsupported TIFF sample type {arr.dtype} (only 8- and 16-bit unsigned integer images are read)",
            path,
        )
    bit_depth = min(max(bits, 8), 16) if arr.dtype == np.uint16 else 8  # 12-bit data stays 12-bit, 8-bit 8
    color, photo = "grayscale", "MONOCHROME"
    if arr.ndim == 4 and arr.shape[-1] >= 3:
        arr, color, photo = arr[..., :3], "rgb", "RGB"
    else:
        if arr.ndim == 4:
            arr = arr[..., 0]
        if photometric == 0:  # min-is-white
            arr = np.subtract((1 << min(bits, bit_depth)) - 1, arr, dtype=arr.dtype)
            notes.append("TIFF is min-is-white; inverted so that bright means echogenic")
    return _make_image(
        path,
        "tiff",
        np.ascontiguousarray(arr),
        color=color,
        bit_depth=bit_depth,
        metadata=_export_metadata(photo, bit_depth, False),
        calibration=cal,
        notes=notes,
    )
