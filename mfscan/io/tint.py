"""The tinted-grayscale model: an image's own gray axis, and what departs from it.

Many scanners export B-mode with a colour tint ("chroma map"): a gray level ``v``
is shown as ``RGB = v * t`` for a fixed *tint vector* ``t`` (blue-gray on Esaote,
sepia on others; plain gray is ``t = (1, 1, 1)``). On such an image bright tissue
has channels that differ by more than the plain-gray overlay rule allows, and
would be taken for a coloured overlay. Here the axis ``t`` is estimated from the
image itself, and a pixel is an overlay pixel when it lies far from that axis.

The model
---------
* ``t`` is the tint of the bulk of the pixels: the most frequent chromaticity
  (direction of RGB through black) among pixels that are neither dark (their
  brightest channel under 15 % of full scale, where noise makes the direction
  meaningless) nor clipped (over 98 %), restricted to *possible tints* (lowest
  channel at least 40 % of the highest, so that red, blue, yellow, green or cyan
  Doppler and calipers can never be taken for the axis however many pixels they
  cover) and spread over at least 3 of 6 brightness bands (a tint shows the whole
  range of echo, a colour map a narrow one). ``t`` is the per-channel median of
  ``rgb / max(rgb)`` over the pixels of that chromaticity, scaled so that its
  largest component is 1.
* An axis whose channels differ by at most :data:`GRAY_TOLERANCE` levels at full
  scale is plain gray: the image is then treated exactly as before (overlay when
  the channels differ by more than ``OVERLAY_THRESHOLD``; luminance
  0.299 R + 0.587 G + 0.114 B).
* On a tinted image a pixel ``p`` is an overlay pixel when its distance to the
  line ``{g * t}`` exceeds :func:`axis_threshold` (``OVERLAY_THRESHOLD * sqrt(2/3)``
  levels at 8 bits, scaled to the bit depth: the distance that a channel spread of
  ``OVERLAY_THRESHOLD`` gives on the gray axis; JPEG chroma noise on tinted
  content stays well below it).
* The gray value of a tinted pixel is its least-squares position on the axis,
  ``g = (p . t) / (t . t)``, rounded and clipped to the bit depth: the pixel
  ``g * t`` maps to ``g``, so the brightest tint (largest channel at full scale)
  maps to full scale as white does on a gray image, and a gray source shown
  through the tint map (``RGB = round(v * t)``) gives back ``v``.

The model is a line through black (no offset), estimated per frame.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["GRAY_TOLERANCE", "tint_axis", "axis_threshold", "tinted_gray_and_overlay"]

#: An axis whose channels differ by at most this many levels (0-255 scale) at full
#: scale is taken for plain gray.
GRAY_TOLERANCE = 12

_DARK, _CLIP = 0.15, 0.98  # brightness range (share of full scale) used for the estimate
_MIN_RATIO = 0.4  # lowest/highest channel of a possible tint
_BINS = 100  # chromaticity histogram bins per axis (r/s, g/s)
_BANDS, _MIN_BANDS = 6, 3
_SAMPLES = 65536


def _top(bit_depth: int, dtype) -> int:
    return 255 if np.dtype(dtype) == np.uint8 else (1 << int(bit_depth)) - 1


def axis_threshold(bit_depth: int, dtype, overlay_threshold: float) -> float:
    """Distance from the tint axis beyond which a pixel is overlay (same units as the pixels)."""
    return overlay_threshold * math.sqrt(2.0 / 3.0) * _top(bit_depth, dtype) / 255.0


def tint_axis(rgb: np.ndarray, bit_depth: int = 8) -> np.ndarray | None:
    """The tint vector of one ``(rows, cols, 3)`` RGB frame, or None for plain gray.

    Parameters
    ----------
    rgb : (rows, cols, 3) ndarray, uint8 or uint16
        One frame.
    bit_depth : int
        Significant bits of uint16 data.

    Returns
    -------
    (3,) ndarray of float or None
        ``t`` with ``max(t) == 1`` (R, G, B), or None when the image's axis is
        plain gray (within :data:`GRAY_TOLERANCE`) or no possible tint covers
        enough pixels.
    """
    top = _top(bit_depth, rgb.dtype)
    rows, cols = rgb.shape[:2]
    step = max(1, math.ceil(math.sqrt(rows * cols / _SAMPLES)))
    p = rgb[::step, ::step].reshape(-1, 3).astype(np.float32)
    m = p.max(axis=1)
    keep = (m >= _DARK * top) & (m <= _CLIP * top)
    if keep.sum() < 50:
        return None
    p, m = p[keep], m[keep]
    ratio = p.min(axis=1) / m
    s = p.sum(axis=1)
    x = np.minimum((p[:, 0] / s * _BINS).astype(np.int64), _BINS - 1)
    y = np.minimum((p[:, 1] / s * _BINS).astype(np.int64), _BINS - 1)
    band = np.minimum(((m / top - _DARK) / (_CLIP - _DARK) * _BANDS).astype(np.int64), _BANDS - 1)
    ok = ratio >= _MIN_RATIO
    if not ok.any():
        return None
    cell = x * _BINS + y
    counts = np.bincount(cell[ok], minlength=_BINS * _BINS).reshape(_BINS, _BINS).astype(np.float64)
    per_band = np.bincount(cell[ok] * _BANDS + band[ok], minlength=_BINS * _BINS * _BANDS)
    per_band = per_band.reshape(_BINS, _BINS, _BANDS)
    score = _box3(counts)
    occupied = (_box3(per_band) >= max(2.0, 0.01 * score.max())).sum(axis=2)
    score[occupied < _MIN_BANDS] = 0
    if score.max() < max(50.0, 0.05 * keep.sum()):
        return None
    bx, by = np.unravel_index(int(np.argmax(score)), score.shape)
    near = ok & (np.abs(x - bx) <= 1) & (np.abs(y - by) <= 1)
    t = np.median(p[near] / m[near, None], axis=0)
    t = t / t.max()
    if (1.0 - t.min()) * 255.0 <= GRAY_TOLERANCE:
        return None
    return t.astype(np.float64)


def _box3(a: np.ndarray) -> np.ndarray:
    """3x3 box sum over the first two axes (zero padded)."""
    out = np.zeros_like(a, dtype=np.float64)
    padded = np.pad(a.astype(np.float64), [(1, 1), (1, 1)] + [(0, 0)] * (a.ndim - 2))
    for dr in range(3):
        for dc in range(3):
            out += padded[dr : dr + a.shape[0], dc : dc + a.shape[1]]
    return out


def tinted_gray_and_overlay(
    rgb: np.ndarray, t: np.ndarray, bit_depth: int, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Gray values (projection onto the axis) and overlay mask of one tinted frame.

    Parameters
    ----------
    rgb : (rows, cols, 3) ndarray
        One frame, uint8 or uint16.
    t : (3,) ndarray
        The tint vector (:func:`tint_axis`).
    bit_depth : int
        Significant bits (uint16 data).
    threshold : float
        Distance from the axis beyond which a pixel is overlay.

    Returns
    -------
    gray : (rows, cols) ndarray, the dtype of `rgb`
        ``round((p . t) / (t . t))`` clipped to ``[0, full scale]``.
    overlay : (rows, cols) ndarray of bool
    """
    top = _top(bit_depth, rgb.dtype)
    t = np.asarray(t, dtype=np.float32)
    p = rgb.astype(np.float32)
    dot = p @ t
    g = dot / float(t @ t)
    dist2 = np.einsum("...c,...c->...", p, p) - dot * g
    gray = np.clip(np.rint(g), 0, top).astype(rgb.dtype)
    return gray, dist2 > threshold * threshold
