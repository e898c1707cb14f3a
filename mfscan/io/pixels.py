"""The :class:`Image` container, and what every format's loader shares to build one.

Frame selection, the size limit checked before decoding, and the split of colour
pixels into luminance (for measuring) and a mask of coloured overlay pixels
(calipers, text, colour Doppler) are done here once for PNG, JPEG, BMP, TIFF
and DICOM alike. Load images with :func:`mfscan.io.images.load_image`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mfscan.calibration import UNCALIBRATED, Calibration, Region
from mfscan.errors import ImageReadError

__all__ = ["Image", "OVERLAY_THRESHOLD"]

#: What a format is called in messages.
_FORMAT_NAME = {
    "png": "PNG image",
    "jpeg": "JPEG image",
    "bmp": "BMP image",
    "tiff": "TIFF image",
    "dicom": "DICOM file",
}

#: An RGB pixel whose channels differ by more than this (on the 0-255 scale) is
#: a coloured overlay pixel. Gray content saved as JPEG keeps its channels within
#: a few levels of each other; calipers, text and colour Doppler differ by far more.
#: Tinted-grayscale images (a chroma map, :mod:`mfscan.io.tint`) use the distance
#: from their own tint axis instead, with the matching limit.
OVERLAY_THRESHOLD = 40


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
        RGB, uint8 or uint16. For a multi-frame DICOM loaded without ``frames``,
        `pixels`, `gray` and `overlay` are :class:`mfscan.io.frames.FrameStack`
        array-likes that decode a frame when it is first indexed
        (``np.asarray`` decodes them all). Palette images are expanded to RGB; MONOCHROME1
        (and min-is-white TIFF) is inverted so that bright means echogenic.
    gray : ndarray
        ``(n_frames, rows, cols)`` grayscale for measuring, uint8 or uint16. For
        grayscale sources this *is* `pixels` (the same object, no copy); for colour
        sources it is the luminance (0.299 R + 0.587 G + 0.114 B).
    overlay : ndarray of bool or None
        ``(n_frames, rows, cols)``, True on coloured overlay pixels (calipers,
        text, colour Doppler) to be left out of echo intensity: pixels whose
        channels differ by more than :data:`OVERLAY_THRESHOLD`, or on a tinted
        image pixels far from its tint axis. None for grayscale sources.
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
    tint : (float, float, float) or None
        The tint axis ``t`` (R, G, B, largest 1) of a tinted-grayscale colour
        image's first frame (:mod:`mfscan.io.tint`), None for plain gray.
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
    tint: tuple[float, float, float] | None = None

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
        return (
            f"Image(path={str(self.path)!r}, format={self.format!r}, frames={self.n_frames}, "
            f"shape={self.shape}, color={self.color!r}, bit_depth={self.bit_depth}, "
            f"calibration={self.calibration.source!r})"
        )


def _frame_indices(n: int, frames, path) -> list[int]:
    """Frame numbers selected by ``frames``: None (all), an int, a slice or a sequence of ints."""
    from mfscan.io.frames import frame_index

    if frames is None:
        idx = list(range(n))
    elif isinstance(frames, slice):
        idx = list(range(n)[frames])
    elif isinstance(frames, (int, np.integer)):
        idx = [frame_index(frames, n, path)]
    else:
        idx = [frame_index(k, n, path) for k in frames]
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
            f"of {max_pixels:,} (max_pixels); refused without decoding",
            path,
        )


def _overlay_threshold(bit_depth: int, dtype) -> float:
    top = (1 << bit_depth) - 1 if np.dtype(dtype) != np.uint8 else 255
    return OVERLAY_THRESHOLD * top / 255.0


def _color_image(rgb: np.ndarray, bit_depth: int) -> tuple[np.ndarray, np.ndarray, list]:
    """Luminance, overlay mask and per-frame tint axes of an ``(n, rows, cols, 3)`` RGB array.

    Each frame is checked for a tint (:func:`mfscan.io.tint.tint_axis`). Plain gray
    frames: luminance 0.299 R + 0.587 G + 0.114 B, overlay where the channels differ
    by more than :data:`OVERLAY_THRESHOLD`. Tinted frames: the position on the tint
    axis and the distance from it (:func:`mfscan.io.tint.tinted_gray_and_overlay`).
    """
    import cv2

    from mfscan.io.tint import axis_threshold, tint_axis, tinted_gray_and_overlay

    n, rows, cols, _ = rgb.shape
    tints = [tint_axis(rgb[i], bit_depth) for i in range(n)]
    if all(t is None for t in tints):
        flat = np.ascontiguousarray(rgb).reshape(n * rows, cols, 3)
        gray = cv2.cvtColor(flat, cv2.COLOR_RGB2GRAY).reshape(n, rows, cols)
        r, g, b = cv2.split(flat)
        spread = cv2.subtract(cv2.max(cv2.max(r, g), b), cv2.min(cv2.min(r, g), b))
        overlay = (spread > _overlay_threshold(bit_depth, rgb.dtype)).reshape(n, rows, cols)
        return gray, overlay, tints
    gray = np.empty((n, rows, cols), rgb.dtype)
    overlay = np.empty((n, rows, cols), bool)
    limit = axis_threshold(bit_depth, rgb.dtype, OVERLAY_THRESHOLD)
    for i, t in enumerate(tints):
        if t is None:
            g1, o1, _ = _color_image(rgb[i : i + 1], bit_depth)
            gray[i], overlay[i] = g1[0], o1[0]
        else:
            gray[i], overlay[i] = tinted_gray_and_overlay(rgb[i], t, bit_depth, limit)
    return gray, overlay, tints


def _make_image(
    path, fmt, arr, *, color, bit_depth, regions=(), calibration=UNCALIBRATED, metadata=None, notes=()
) -> Image:
    """Build an Image from ``(n, rows, cols)`` or ``(n, rows, cols, 3)`` pixels."""
    tint = None
    if arr.ndim == 3:
        gray, overlay = arr, None
        if color == "rgb":
            color = "grayscale"
    else:
        gray, overlay, tints = _color_image(arr, bit_depth)
        tint = None if tints[0] is None else tuple(float(v) for v in tints[0])
    return Image(
        path=path,
        format=fmt,
        pixels=arr,
        gray=gray,
        overlay=overlay,
        regions=list(regions),
        calibration=calibration,
        color=color,
        bit_depth=int(bit_depth),
        metadata=dict(metadata or {}),
        warnings=list(notes),
        tint=tint,
    )


def _export_metadata(photometric: str, bit_depth: int, lossy: bool) -> dict:
    return {
        "modality": None,
        "transfer_syntax": None,
        "photometric": photometric,
        "bits_stored": int(bit_depth),
        "burned_in_annotation": "unknown",
        "lossy": lossy,
    }
