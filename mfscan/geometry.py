"""Polygon geometry in (row, col) pixel coordinates: one copy for every caller.

Measuring, proposing, the phantom and the napari plugin all use these functions,
so an area is computed the same way wherever it is shown.

Sign convention: :func:`signed_area` is positive when the vertices run
counter-clockwise *as displayed* (row axis pointing down, column axis right), that
is when ``sum(r[i] * c[i+1] - r[i+1] * c[i]) > 0``.
"""

from __future__ import annotations

import numpy as np

from mfscan.errors import MeasurementError

__all__ = [
    "as_points",
    "signed_area",
    "polygon_area",
    "polygon_perimeter",
    "resample_closed",
    "is_counter_clockwise",
    "orient",
]


def as_points(points) -> np.ndarray:
    """``points`` as a float (N, 2) array (a new array); MeasurementError otherwise."""
    p = np.array(points, dtype=float)
    if p.ndim != 2 or p.shape[1] != 2:
        raise MeasurementError(
            f"an outline must be an (N, 2) array of (row, col) points, got shape {p.shape}"
        )
    return p


def _next(p: np.ndarray) -> np.ndarray:
    """The vertex after each vertex, the last wrapping to the first (np.roll is slow on small arrays)."""
    return np.concatenate((p[1:], p[:1]))


def signed_area(points) -> float:
    """Signed area of a closed polygon in pixel units (shoelace formula).

    Parameters
    ----------
    points : (N, 2) array_like
        Vertices in (row, col); closed implicitly.

    Returns
    -------
    float
        Positive for counter-clockwise vertices as displayed (see the module docstring).

    Examples
    --------
    >>> signed_area([[0, 0], [10, 0], [10, 10], [0, 10]])
    100.0
    """
    p = as_points(points)
    if len(p) < 3:
        return 0.0
    q = p - p[0]  # small numbers: better conditioned far from the origin
    n = _next(q)
    return float(q[:, 0] @ n[:, 1] - q[:, 1] @ n[:, 0]) / 2.0


def polygon_area(points, *, spacing=(1.0, 1.0)) -> float:
    """Area enclosed by a polygon (shoelace formula).

    Parameters
    ----------
    points : (N, 2) array_like
        Vertices in (row, col) pixel coordinates; closed implicitly.
    spacing : tuple of float, keyword-only
        ``(row_mm, col_mm)``; the default gives square pixels.

    Returns
    -------
    float
        Area in squared spacing units (mm² for spacing in mm), always >= 0.

    Examples
    --------
    >>> polygon_area([[0, 0], [0, 10], [20, 10], [20, 0]], spacing=(0.1, 0.2))
    4.0
    """
    return abs(signed_area(points)) * float(spacing[0]) * float(spacing[1])


def polygon_perimeter(points, *, spacing=(1.0, 1.0)) -> float:
    """Length of the closed polygon's boundary in spacing units (mm)."""
    p = as_points(points)
    d = (_next(p) - p) * np.asarray(spacing, dtype=float)
    return float(np.hypot(d[:, 0], d[:, 1]).sum())


def resample_closed(points, n: int, *, labels=None):
    """Resample a closed polygon to ``n`` vertices equally spaced along its length.

    Parameters
    ----------
    points : (N, 2) array_like
        Vertices (row, col), closed implicitly.
    n : int
        Number of vertices wanted.
    labels : (N,) array_like, optional
        A label per edge (the edge starting at each vertex), carried to the new vertices.

    Returns
    -------
    (n, 2) ndarray, or ((n, 2) ndarray, (n,) ndarray) when ``labels`` is given.
    """
    p = as_points(points)
    closed = np.vstack([p, p[:1]])
    seg = np.hypot(*np.diff(closed, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.arange(n) * (s[-1] / n)
    out = np.column_stack([np.interp(t, s, closed[:, 0]), np.interp(t, s, closed[:, 1])])
    if labels is None:
        return out
    labels = np.asarray(labels)
    idx = np.clip(np.searchsorted(s, t, side="right") - 1, 0, len(labels) - 1)
    return out, labels[idx]


def is_counter_clockwise(points) -> bool:
    """True when the vertices run counter-clockwise as displayed (positive signed area)."""
    return signed_area(points) > 0


def orient(points, *, counter_clockwise: bool = True) -> np.ndarray:
    """The polygon with its vertices in the asked direction (a new array)."""
    p = as_points(points)
    return p[::-1].copy() if is_counter_clockwise(p) != counter_clockwise else p
