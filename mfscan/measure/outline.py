"""Measurements of one traced outline, in physical units.

All functions take the outline as an (N, 2) array of (row, col) pixel
coordinates and the pixel size as ``spacing=(row_mm, col_mm)``. The area comes
from the polygon itself (shoelace formula, :func:`mfscan.geometry.polygon_area`),
not from counting pixels, so it does not depend on how the outline falls on the
pixel grid. Every area and perimeter is computed by :mod:`mfscan.geometry`.

Linear measures come in two kinds, always both:

* **Bounding box** (``ap_depth_*``, ``lateral_width_*``, ``shape_ratio``): the
  outline's extent along the image rows (depth) and columns (lateral), i.e. the
  axis-aligned bounding box of its vertices. It equals the muscle's own depth and
  width only when the muscle lies square to the image; a muscle tilted by the probe's
  angle or by the anatomy reads larger: a 1.0 x 3.0 cm outline rotated 30 degrees
  reads 2.37 x 3.10 cm.
* **Along the muscle's own axes** (orientation-independent, Hides-type greatest
  depth and width): ``depth_muscle_cm`` and ``width_muscle_cm`` are the sides of the
  outline's minimum-area enclosing rectangle (:func:`mfscan.geometry.min_area_rectangle`),
  the width being the side nearer the image's lateral (column) axis;
  ``muscle_axis_deg`` is that side's angle from the column axis (positive turning
  towards deeper rows, clockwise as displayed, in [-45, 45]); ``shape_ratio_muscle``
  = depth / width. ``feret_max_cm`` is the greatest distance across the outline,
  ``feret_min_cm`` the smallest caliper width and ``feret_perpendicular_cm`` the
  extent perpendicular to the greatest diameter (:func:`mfscan.geometry.feret_diameters`).
  All are computed on calibrated (mm) coordinates, so anisotropic pixels are right;
  the ``_px`` variants (and the angle when uncalibrated) assume square pixels.
"""

from __future__ import annotations

import cv2
import numpy as np
import shapely

from mfscan.errors import MeasurementError
from mfscan.geometry import (
    _next,
    linear_extents,
    polygon_area,
    polygon_perimeter,
    signed_area,
)
from mfscan.geometry import as_points as _as_points
from mfscan.measure.echo_texture import TEXTURE_COLUMNS, glcm_features

#: Columns of :func:`measure_outline`'s result, in order.
MEASURE_COLUMNS = (
    "csa_cm2",
    "perimeter_cm",
    "ap_depth_cm",
    "lateral_width_cm",
    "shape_ratio",
    "echo_mean",
    "echo_sd",
    "n_pixels",
    "csa_px2",
    "perimeter_px",
    "ap_depth_px",
    "lateral_width_px",
    "depth_muscle_cm",
    "width_muscle_cm",
    "shape_ratio_muscle",
    "muscle_axis_deg",
    "feret_max_cm",
    "feret_min_cm",
    "feret_perpendicular_cm",
    "depth_muscle_px",
    "width_muscle_px",
    "feret_max_px",
)


def check_inside(points: np.ndarray, shape) -> None:
    """Raise MeasurementError naming the first of `points` (row, col) outside an image of `shape`.

    A pixel's area reaches half a pixel beyond its centre, so -0.5 and ``rows - 0.5`` are inside.
    """
    p = points
    rows, cols = shape[:2]
    out = (p[:, 0] < -0.5) | (p[:, 0] > rows - 0.5) | (p[:, 1] < -0.5) | (p[:, 1] > cols - 0.5)
    if out.any():
        i = int(np.argmax(out))
        raise MeasurementError(
            f"point {i} ({p[i, 0]:.1f}, {p[i, 1]:.1f}) lies outside the {rows}x{cols} image"
        )


def validate_outline(points, *, shape=None) -> np.ndarray:
    """Check that an outline can be measured.

    Consecutive duplicate vertices (a double click) are dropped, as is a last
    vertex that repeats the first.

    Parameters
    ----------
    points : (N, 2) array_like
    shape : tuple of int, optional
        ``(rows, cols)`` of the image; points must lie on it.

    Returns
    -------
    ndarray of float, shape (M, 2)
        A cleaned copy of the vertices.

    Raises
    ------
    MeasurementError
        Fewer than 3 distinct points, non-finite coordinates, a self-intersecting
        or zero-area outline, or points outside the image.
    """
    p = _as_points(points)
    if not np.isfinite(p).all():
        i = int(np.argmax(~np.isfinite(p).all(axis=1)))
        raise MeasurementError(f"point {i} is not finite (NaN or infinity)")
    if len(p) > 1:
        keep = np.empty(len(p), bool)
        keep[0] = True
        np.any(p[1:] != p[:-1], axis=1, out=keep[1:])
        if not keep.all():
            p = p[keep]
        if len(p) > 1 and p[0, 0] == p[-1, 0] and p[0, 1] == p[-1, 1]:
            p = p[:-1]
    if len(p) < 3:
        raise MeasurementError(f"an outline needs at least 3 distinct points, found {len(p)}")
    if shape is not None:
        check_inside(p, shape)
    if abs(signed_area(p)) < 1e-9 and np.linalg.matrix_rank(p - p.mean(axis=0), tol=1e-9) < 2:
        raise MeasurementError("the outline encloses no area (all points on one line)")
    if not shapely.is_simple(shapely.LinearRing(p)):
        raise MeasurementError("the outline crosses itself (self-intersecting polygon); redraw it")
    return p


def outline_mask(points, shape) -> tuple[tuple[slice, slice], np.ndarray]:
    """Pixels whose centres lie inside the outline, within its bounding box.

    An even-odd scanline fill, vectorised over the edges' row crossings: the same
    pixels as :func:`skimage.draw.polygon` (centre inside; ties on a pixel centre
    follow the half-open rule, so two outlines sharing a border never share a
    pixel), in time proportional to the crossings rather than pixels x edges.

    Returns
    -------
    box : tuple of slice
        The bounding box in the image, ``image[box]`` is the patch.
    mask : ndarray of bool
        The mask within the patch.
    """
    p = _as_points(points)
    rows, cols = shape[:2]
    r0 = max(int(np.floor(p[:, 0].min())), 0)
    c0 = max(int(np.floor(p[:, 1].min())), 0)
    r1 = min(int(np.ceil(p[:, 0].max())) + 1, rows)
    c1 = min(int(np.ceil(p[:, 1].max())) + 1, cols)
    h, w = max(r1 - r0, 0), max(c1 - c0, 0)
    if h == 0 or w == 0:
        return (slice(r0, r0 + h), slice(c0, c0 + w)), np.zeros((h, w), dtype=bool)
    ya, xa = p[:, 0], p[:, 1]
    nxt = _next(p)
    yb, xb = nxt[:, 0], nxt[:, 1]
    # Half-open rule: an edge crosses pixel-centre row y when min(ya, yb) <= y < max(ya, yb),
    # i.e. rows ceil(min) .. ceil(max) - 1: a contiguous run per edge.
    first_row = np.ceil(np.minimum(ya, yb)).astype(np.int64)
    n_rows = np.ceil(np.maximum(ya, yb)).astype(np.int64) - first_row
    total = int(n_rows.sum())
    edge = np.repeat(np.arange(len(p)), n_rows)
    starts = np.cumsum(n_rows) - n_rows
    y = first_row[edge] + (np.arange(total) - starts[edge])
    x = xa[edge] + (y - ya[edge]) * (xb[edge] - xa[edge]) / (yb[edge] - ya[edge])
    # a pixel centre c is inside when an odd number of crossings lie left of it (x < c)
    first = np.floor(x - c0).astype(np.int64)
    first += 1
    np.minimum(first, w, out=first)
    np.maximum(first, 0, out=first)
    keep = (y >= r0) & (y < r1)
    counts = np.bincount((y[keep] - r0) * (w + 1) + first[keep], minlength=h * (w + 1))
    # Parity of the running count of crossings. Every row of a closed polygon has an
    # even number of crossings (those right of the box land in the extra last column),
    # so one flat running sum restarts even at each row: no per-row pass is needed.
    run = np.cumsum(counts)
    run &= 1
    mask = run.astype(bool).reshape(h, w + 1)[:, :w]
    return (slice(r0, r1), slice(c0, c1)), mask


def echo_intensity(image, points, *, exclude=None) -> tuple[float, float, int]:
    """Mean and SD of the grayscale values inside an outline.

    Parameters
    ----------
    image : (rows, cols) ndarray
        Grayscale frame.
    points : (N, 2) array_like
        Outline in (row, col) pixels.
    exclude : (rows, cols) ndarray of bool, optional
        Pixels to leave out (coloured overlay: calipers, text, colour Doppler).

    Returns
    -------
    mean, sd, n : float, float, int
        SD is the population SD (ddof=0) of the included pixels; NaN when no
        pixel is included.
    """
    box, mask = _measured_pixels(points, image.shape, exclude)
    return _echo(image[box], mask)


def _measured_pixels(points, shape, exclude) -> tuple[tuple[slice, slice], np.ndarray]:
    """:func:`outline_mask` less the `exclude` pixels: what echo intensity and texture measure."""
    box, mask = outline_mask(points, shape)
    if exclude is not None:
        mask &= ~exclude[box]
    return box, mask


def _echo(patch: np.ndarray, mask: np.ndarray) -> tuple[float, float, int]:
    """Mean, population SD and count of `patch` where `mask` (see :func:`echo_intensity`)."""
    n = int(np.count_nonzero(mask))
    if n == 0:
        return float("nan"), float("nan"), 0
    if patch.dtype in (np.uint8, np.uint16, np.float32) and patch.ndim == 2:
        mean, sd = cv2.meanStdDev(patch, mask=mask.view(np.uint8))
        return float(mean[0, 0]), float(sd[0, 0]), n
    vals = patch[mask].astype(np.float64)
    mean = float(vals.mean())
    return mean, float(vals.std()), n


def measure_outline(
    points, image=None, *, spacing=None, exclude=None, texture: bool = False, bit_depth: int | None = None
) -> dict:
    """Every measure of one outline, the outline validated and its pixels found once.

    Parameters
    ----------
    points : (N, 2) array_like
        Vertices in (row, col) pixel coordinates.
    image : (rows, cols) ndarray, optional
        Grayscale frame for echo intensity and the bounds check.
    spacing : tuple of float or None, keyword-only
        ``(row_mm, col_mm)``. None means uncalibrated: every ``_cm``/``_cm2``
        value is NaN and only the ``_px`` values are given.
    exclude : (rows, cols) ndarray of bool, optional
        Overlay pixels left out of the echo intensity (and texture).
    texture : bool, keyword-only
        Also the GLCM texture of the same pixels (:data:`mfscan.measure.echo_texture.TEXTURE_COLUMNS`,
        :func:`mfscan.measure.echo_texture.glcm_features`; NaN without `image`).
    bit_depth : int, keyword-only, optional
        The grey values' real bit depth, for the texture's quantisation.

    Returns
    -------
    dict
        ``csa_cm2, perimeter_cm, ap_depth_cm, lateral_width_cm, shape_ratio,
        echo_mean, echo_sd, n_pixels, csa_px2, perimeter_px, ap_depth_px,
        lateral_width_px`` (bounding box), then along the muscle's own axes
        ``depth_muscle_cm, width_muscle_cm, shape_ratio_muscle, muscle_axis_deg,
        feret_max_cm, feret_min_cm, feret_perpendicular_cm, depth_muscle_px,
        width_muscle_px, feret_max_px`` (see the module docstring); with `texture`, then
        ``glcm_contrast, glcm_homogeneity, glcm_energy, glcm_correlation, glcm_entropy``.

    Raises
    ------
    MeasurementError
        See :func:`validate_outline`.
    """
    p = validate_outline(points, shape=None if image is None else image.shape)
    lo = p.min(axis=0)
    hi = p.max(axis=0)
    ap_px, lat_px = float(hi[0] - lo[0]), float(hi[1] - lo[1])
    area_px = polygon_area(p)
    out = {
        "csa_px2": area_px,
        "perimeter_px": polygon_perimeter(p),
        "ap_depth_px": ap_px,
        "lateral_width_px": lat_px,
    }
    nan = float("nan")
    if spacing is None:
        out.update(
            csa_cm2=nan,
            perimeter_cm=nan,
            ap_depth_cm=nan,
            lateral_width_cm=nan,
            shape_ratio=ap_px / lat_px if lat_px > 0 else nan,
        )
    else:
        row_mm, col_mm = float(spacing[0]), float(spacing[1])
        ap = ap_px * row_mm / 10.0
        lat = lat_px * col_mm / 10.0
        out.update(
            csa_cm2=area_px * row_mm * col_mm / 100.0,
            perimeter_cm=polygon_perimeter(p, spacing=(row_mm, col_mm)) / 10.0,
            ap_depth_cm=ap,
            lateral_width_cm=lat,
            shape_ratio=ap / lat if lat > 0 else nan,
        )
    out.update(_muscle_axes(p, spacing))
    columns = MEASURE_COLUMNS + (TEXTURE_COLUMNS if texture else ())
    if image is None:
        out["echo_mean"], out["echo_sd"], out["n_pixels"] = nan, nan, 0
        return {k: out.get(k, nan) for k in columns}
    box, mask = _measured_pixels(p, image.shape, exclude)
    patch = image[box]
    out["echo_mean"], out["echo_sd"], out["n_pixels"] = _echo(patch, mask)
    if texture:
        out.update(glcm_features(patch, mask, bit_depth=bit_depth))
    return {k: out[k] for k in columns}


def _muscle_axes(p: np.ndarray, spacing) -> dict:
    """The orientation-independent linear measures (module docstring); cm NaN when uncalibrated."""
    hull = p[cv2.convexHull(p.astype(np.float32), clockwise=False, returnPoints=False).ravel()]
    # the hull of scaled points is the scaled hull: one hull for pixels and mm; float32 only picks
    # the hull's vertices, every length is computed from the float64 points
    px = linear_extents(p, hull=hull)
    depth_px, width_px, angle_px, fmax_px, _, _ = px
    nan = float("nan")
    out = {"depth_muscle_px": depth_px, "width_muscle_px": width_px, "feret_max_px": fmax_px}
    if spacing is None:
        out.update(
            depth_muscle_cm=nan,
            width_muscle_cm=nan,
            feret_max_cm=nan,
            feret_min_cm=nan,
            feret_perpendicular_cm=nan,
            muscle_axis_deg=angle_px,
            shape_ratio_muscle=depth_px / width_px if width_px > 0 else nan,
        )
        return out
    mm = np.array([float(spacing[0]), float(spacing[1])])
    if mm[0] == mm[1]:  # square pixels: every length scales, the angle stays
        k = mm[0]
        depth, width, angle, fmax, fmin, fperp = px[0] * k, px[1] * k, px[2], px[3] * k, px[4] * k, px[5] * k
    else:
        depth, width, angle, fmax, fmin, fperp = linear_extents(p, hull=hull * mm)
    out.update(
        depth_muscle_cm=depth / 10.0,
        width_muscle_cm=width / 10.0,
        feret_max_cm=fmax / 10.0,
        feret_min_cm=fmin / 10.0,
        feret_perpendicular_cm=fperp / 10.0,
        muscle_axis_deg=angle,
        shape_ratio_muscle=depth / width if width > 0 else nan,
    )
    return out
