"""Polygon geometry in (row, col) pixel coordinates: one copy for every caller.

Measuring, proposing, the phantom and the napari plugin all use these functions,
so an area is computed the same way wherever it is shown.

Sign convention: :func:`signed_area` is positive when the vertices run
counter-clockwise *as displayed* (row axis pointing down, column axis right), that
is when ``sum(r[i] * c[i+1] - r[i+1] * c[i]) > 0``.

Orientation-independent extents (:func:`min_area_rectangle`, :func:`feret_diameters`)
are computed on calibrated coordinates (row x row_mm, col x col_mm), so that a muscle
lying obliquely on anisotropic pixels is measured right; a rotation of the outline
does not change them, unlike its axis-aligned bounding box.
"""

from __future__ import annotations

import numpy as np
import shapely

from mfscan.errors import MeasurementError

__all__ = [
    "as_points",
    "signed_area",
    "polygon_area",
    "polygon_perimeter",
    "resample_closed",
    "is_counter_clockwise",
    "orient",
    "convex_hull",
    "min_area_rectangle",
    "feret_diameters",
    "linear_extents",
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


def convex_hull(points, *, spacing=(1.0, 1.0)) -> np.ndarray:
    """Vertices of the convex hull in calibrated coordinates ``(row * row_mm, col * col_mm)``.

    Parameters
    ----------
    points : (N, 2) array_like
        Vertices in (row, col) pixels.
    spacing : tuple of float, keyword-only
        ``(row_mm, col_mm)``; the default keeps pixels.

    Returns
    -------
    (H, 2) ndarray
        The hull's distinct vertices in order (float64), without repeating the first;
        fewer than 3 when all points lie on one line.
    """
    p = as_points(points) * np.asarray(spacing, dtype=float)
    if len(p) == 0:
        return p
    hull = shapely.convex_hull(shapely.multipoints(p))
    if hull.geom_type == "Polygon":
        return np.asarray(hull.exterior.coords, dtype=float)[:-1]
    return np.asarray(shapely.get_coordinates(hull), dtype=float)


def _edge_frames(hull: np.ndarray):
    """Per hull edge the unit direction ``u`` and normal ``v``, and the hull's extents along both."""
    d = _next(hull) - hull
    length = np.hypot(d[:, 0], d[:, 1])
    keep = length > 0
    u = d[keep] / length[keep, None]
    v = np.column_stack([-u[:, 1], u[:, 0]])
    proj = np.concatenate([u, v]) @ hull.T  # (2E, H) projections, reduced along contiguous rows
    ext = proj.max(axis=1) - proj.min(axis=1)
    return u, v, ext[: len(u)], ext[len(u) :]


def _rectangle_of_hull(hull: np.ndarray, frames) -> tuple[float, float, float]:
    u, v, eu, ev = frames
    i = int(np.argmin(eu * ev))
    # two sides: along u (length eu) and along v (length ev); the width is the one nearer the columns
    (a, da), (b, db) = (float(eu[i]), u[i]), (float(ev[i]), v[i])
    ca, cb = abs(da[1]), abs(db[1])
    if ca > cb + 1e-12 or (abs(ca - cb) <= 1e-12 and a >= b):
        width, wdir, depth = a, da, b
    else:
        width, wdir, depth = b, db, a
    if wdir[1] < 0:
        wdir = -wdir
    return depth, width, float(np.degrees(np.arctan2(wdir[0], wdir[1])))


def _feret_of_hull(hull: np.ndarray, frames) -> tuple[float, float, float]:
    dr = np.subtract.outer(hull[:, 0], hull[:, 0])
    dc = np.subtract.outer(hull[:, 1], hull[:, 1])
    dr *= dr
    dc *= dc
    dr += dc
    i, j = divmod(int(dr.argmax()), len(hull))
    axis = hull[i] - hull[j]
    fmax = float(np.hypot(axis[0], axis[1]))
    pv = hull @ np.array([-axis[1], axis[0]]) / fmax
    return fmax, float(frames[3].min()), float(pv.max() - pv.min())


def min_area_rectangle(points, *, spacing=(1.0, 1.0)) -> tuple[float, float, float]:
    """The smallest-area rectangle enclosing an outline, named by the image's axes.

    The minimum-area enclosing rectangle has one side on an edge of the convex hull
    (Freeman & Shapira 1975), so every hull edge is tried, in float64 on calibrated
    coordinates (same result as ``cv2.minAreaRect`` on ``points * spacing``, without its
    float32 rounding).

    Parameters
    ----------
    points : (N, 2) array_like
        Vertices in (row, col) pixels.
    spacing : tuple of float, keyword-only
        ``(row_mm, col_mm)``; lengths come out in its unit (pixels by default).

    Returns
    -------
    depth, width, angle_deg : float
        ``width`` is the rectangle's side nearer the image's column (lateral) axis,
        ``depth`` the side nearer the row (depth) axis: the muscle's own
        anteroposterior depth and lateral width. ``angle_deg`` is the width axis's
        angle from the column axis, positive when it turns towards increasing rows
        (clockwise as displayed), in [-45, 45]. At exactly 45 degrees the longer side
        is the width. All NaN for fewer than 3 non-collinear points.

    Examples
    --------
    >>> c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    >>> rect = np.array([[0, 0], [0, 3], [1, 3], [1, 0]]) @ np.array([[c, s], [-s, c]])
    >>> [round(x, 6) for x in min_area_rectangle(rect)]
    [1.0, 3.0, -30.0]
    """
    return linear_extents(points, spacing=spacing)[:3]


def feret_diameters(points, *, spacing=(1.0, 1.0)) -> tuple[float, float, float]:
    """Feret (caliper) diameters of an outline in calibrated coordinates.

    Parameters
    ----------
    points : (N, 2) array_like
        Vertices in (row, col) pixels.
    spacing : tuple of float, keyword-only
        ``(row_mm, col_mm)``; lengths come out in its unit.

    Returns
    -------
    feret_max, feret_min, feret_perpendicular : float
        The greatest distance between two points of the outline; the smallest
        caliper width (distance between two parallel tangents), found on a hull
        edge; and the outline's extent perpendicular to the greatest diameter. NaN
        for fewer than 3 non-collinear points.

    Examples
    --------
    >>> [round(x, 6) for x in feret_diameters([[0, 0], [0, 4], [3, 4], [3, 0]])]
    [5.0, 3.0, 4.8]
    """
    return linear_extents(points, spacing=spacing)[3:]


def linear_extents(points, *, spacing=(1.0, 1.0), hull=None) -> tuple[float, ...]:
    """:func:`min_area_rectangle` and :func:`feret_diameters` from one convex hull.

    Returns
    -------
    depth, width, angle_deg, feret_max, feret_min, feret_perpendicular : float
        ``hull`` (calibrated hull vertices, from :func:`convex_hull`) skips the hull.
    """
    if hull is None:
        hull = convex_hull(points, spacing=spacing)
    if len(hull) < 3:
        return (float("nan"),) * 6
    frames = _edge_frames(hull)
    return _rectangle_of_hull(hull, frames) + _feret_of_hull(hull, frames)
