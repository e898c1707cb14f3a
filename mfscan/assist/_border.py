"""The tracing convention: move an inner-border outline to the centre of the bright line outside it.

The classical proposer finds the **inner** edge of the fascia, lamina and septum (where
the echo rises, :mod:`mfscan.assist._cost`). Labs that trace on the **centre** of the
bright fascia line get outlines a few per cent larger; the study setting ``border``
(:func:`mfscan.annotations.study_border`) says which, and :func:`centre_of_line` moves
each vertex outward, along the outline's normal, to the middle of the bright line
there: the midpoint between where the echo profile rises above half its peak and where
it falls back below it (the half-maximum width, more stable under speckle than the
peak alone). Where no bright line lies within ``max_mm`` (a dark shadow, the black
outside the sector, a faint septum, or a step to brighter tissue that does not fall
back) the vertex stays where it is.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = ["centre_of_line"]

#: A bright line must rise by this share of the frame's 1-99 % grey range above the border.
MIN_RISE = 0.08


def _outward_normals(points_mm: np.ndarray) -> np.ndarray:
    """Unit normals (mm space) at each vertex of a closed polygon, pointing away from its centroid."""
    tangent = np.roll(points_mm, -1, axis=0) - np.roll(points_mm, 1, axis=0)
    normal = np.column_stack([tangent[:, 1], -tangent[:, 0]])
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-9)
    away = points_mm - points_mm.mean(axis=0)
    flip = np.sum(normal * away, axis=1) < 0
    normal[flip] *= -1
    return normal


def _line_centre(profile: np.ndarray, step_mm: float, rise: float) -> float:
    """Distance (mm) from the border to the bright line's half-maximum centre; 0 when no line."""
    base, k = profile[0], int(np.argmax(profile))
    if profile[k] - base < rise or k == 0:
        return 0.0
    half = base + (profile[k] - base) / 2.0
    start = k - int(np.argmax(profile[k::-1] < half)) + 0.5  # the base is below half: a crossing exists
    after = profile[k:] < half
    if not after.any():  # a step up (brighter tissue beyond), not a line: no centre to move to
        return 0.0
    end = k + int(np.argmax(after)) - 0.5
    return 0.5 * (start + end) * step_mm


def centre_of_line(image, points, *, spacing, max_mm: float = 3.0, step_mm: float = 0.1) -> np.ndarray:
    """An outline moved from the inner edge of the bright lines around it to their centre.

    Parameters
    ----------
    image : (rows, cols) ndarray
        The grey frame the outline was found on; not modified.
    points : (N, 2) array_like
        Closed polygon, (row, col) pixels, on the inner border.
    spacing : (row_mm, col_mm), keyword-only
        Pixel size.
    max_mm : float, keyword-only
        How far outward a line's centre is looked for.
    step_mm : float, keyword-only
        Sampling step along each normal.

    Returns
    -------
    (N, 2) ndarray
        The moved vertices (a new array). Each offset is smoothed with its neighbours'
        (circular median of 5), so a speckle peak does not make a spike.
    """
    img = np.asarray(image, dtype=np.float32)
    sp = np.asarray(spacing, dtype=float)
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    smooth = ndi.gaussian_filter(img, sigma=tuple(np.maximum(0.3 / sp, 0.5)))
    lo, hi = np.percentile(smooth, [1, 99])
    rise = MIN_RISE * max(float(hi - lo), 1e-6)
    normals = _outward_normals(pts * sp)
    d = np.arange(0.0, max_mm + step_mm / 2, step_mm)
    rr = pts[:, :1] + normals[:, :1] * d[None, :] / sp[0]
    cc = pts[:, 1:] + normals[:, 1:] * d[None, :] / sp[1]
    profiles = ndi.map_coordinates(smooth, [rr.ravel(), cc.ravel()], order=1, mode="nearest").reshape(
        rr.shape
    )
    offsets = np.array([_line_centre(p, step_mm, rise) for p in profiles])
    offsets = ndi.median_filter(offsets, size=5, mode="wrap")
    return pts + normals * offsets[:, None] / sp[None, :]
