"""Outline agreement of one pair: Dice, Hausdorff and mean contour distance, CSA difference.

How closely two tracings of the same muscle on the same image agree, beyond the
CSA they give: two raters (inter-rater), two sessions of one rater (intra-rater),
or a proposal (classical or a trained model) against the rater's final outline.
The pairs are gathered from the sidecars by :func:`mfscan.measure.agreement.agreement_table`
and summarised by :mod:`mfscan.stats.agreement`; this module holds the geometry.

Geometry: the filled polygons themselves (exact polygon intersection with
shapely), not rasterised masks, so the figures do not depend on how an outline
falls on the pixel grid. Each outline is placed in millimetres with its own
calibration, ``(row * row_mm, col * col_mm)``, so anisotropic pixels are handled
and the CSA difference is what two rows of the measurements table would show.
Pixel figures (columns with ``px`` in their names) are computed on the pixel
coordinates and are the only ones when either outline is uncalibrated.

Definitions (``a`` is the first rater, the earlier session or the proposal; ``b``
the second rater, the later session or the final outline):

- Dice = 2 |A ∩ B| / (|A| + |B|) of the enclosed areas (1 = identical, 0 = disjoint);
- directed distance d(a, B): from a point ``a`` of contour A to the nearest point
  of contour B (the boundary, not the filled area);
- symmetric Hausdorff distance = max(max_a d(a, B), max_b d(b, A));
- mean contour distance = (mean_a d(a, B) + mean_b d(b, A)) / 2, each mean taken
  along the contour's length (the average of the two directed means);
- CSA difference = CSA(b) - CSA(a) in cm² and (CSA(b) - CSA(a)) / CSA(a) x 100 in %:
  positive when the second rater / later session / final outline is larger.

The contours are sampled every tenth of a pixel (and at every vertex); distances
from the samples to the other contour are exact, so a distance is within 0.05
pixel of the continuous value. For research use only, not for diagnosis.
"""

from __future__ import annotations

import numpy as np
import shapely

from mfscan.geometry import polygon_area, polygon_perimeter, resample_closed
from mfscan.measure.outline import validate_outline

__all__ = ["AGREEMENT_MEASURES", "outline_agreement", "contour_distances"]

#: The figures of one pair, in the order of the agreement table.
AGREEMENT_MEASURES = (
    "dice",
    "hausdorff_mm",
    "mean_contour_distance_mm",
    "hausdorff_px",
    "mean_contour_distance_px",
    "csa_a_cm2",
    "csa_b_cm2",
    "csa_diff_cm2",
    "csa_diff_pct",
    "area_a_px2",
    "area_b_px2",
)

#: Contour sampling step, in pixels (distances are within half of it of the continuous value).
SAMPLE_STEP_PX = 0.1
_MAX_SAMPLES = 200_000


def _samples(p: np.ndarray, step: float) -> np.ndarray:
    """Points equally spaced along the closed contour (at most `step` apart), then each vertex."""
    n = int(min(max(np.ceil(polygon_perimeter(p) / step), 64), _MAX_SAMPLES))
    return np.vstack([resample_closed(p, n), p])


def _directed(samples: np.ndarray, ring) -> np.ndarray:
    return shapely.distance(shapely.points(samples), ring)


def contour_distances(a, b, *, spacing_a=None, spacing_b=None) -> tuple[float, float]:
    """Symmetric Hausdorff distance and mean contour distance between two closed outlines.

    Parameters
    ----------
    a, b : (N, 2) array_like
        Vertices in (row, col) pixel coordinates, closed implicitly.
    spacing_a, spacing_b : tuple of float, optional, keyword-only
        ``(row_mm, col_mm)`` of each outline; the distances are then in mm. Default:
        pixels (both must be given, or neither).

    Returns
    -------
    hausdorff, mean_contour_distance : float
        See the module docstring for the definitions.

    Examples
    --------
    >>> sq = [[0, 0], [0, 10], [10, 10], [10, 0]]
    >>> [round(x, 6) for x in contour_distances(sq, [[r + 2, c] for r, c in sq])]
    [2.0, 1.0]
    """
    pa, pb = validate_outline(a), validate_outline(b)
    sa, sb = _scales(spacing_a, spacing_b)
    return _distances(pa, pb, sa, sb)


def _scales(spacing_a, spacing_b) -> tuple[np.ndarray, np.ndarray]:
    if (spacing_a is None) != (spacing_b is None):
        raise ValueError("give the spacing of both outlines, or of neither")
    if spacing_a is None:
        return np.ones(2), np.ones(2)
    return np.asarray(spacing_a, dtype=float).reshape(2), np.asarray(spacing_b, dtype=float).reshape(2)


def _distances(pa, pb, sa, sb) -> tuple[float, float]:
    qa, qb = pa * sa, pb * sb  # in mm (or px): equal steps along the physical length
    step = SAMPLE_STEP_PX * float(min(sa.min(), sb.min()))
    ring_a, ring_b = shapely.LinearRing(qa), shapely.LinearRing(qb)
    n_a, n_b = len(pa), len(pb)
    da = _directed(_samples(qa, step), ring_b)
    db = _directed(_samples(qb, step), ring_a)
    hausdorff = float(max(da.max(), db.max()))
    # the means are along the length: the uniform samples only, not the extra vertices
    mean = (float(da[:-n_a].mean()) + float(db[:-n_b].mean())) / 2.0
    return hausdorff, mean


def _dice(pa, pb, sa, sb) -> float:
    ga = shapely.Polygon(pa * sa)
    gb = shapely.Polygon(pb * sb)
    total = ga.area + gb.area
    return float(2.0 * ga.intersection(gb).area / total) if total > 0 else float("nan")


def outline_agreement(a, b, *, spacing_a=None, spacing_b=None) -> dict:
    """Dice, Hausdorff and mean contour distance, and the CSA difference of two outlines.

    Parameters
    ----------
    a, b : (N, 2) array_like
        Vertices in (row, col) pixel coordinates; ``a`` is the reference (first
        rater, earlier session, proposal), ``b`` the other.
    spacing_a, spacing_b : tuple of float or None, keyword-only
        ``(row_mm, col_mm)`` from each outline's calibration; None when uncalibrated.

    Returns
    -------
    dict
        The keys of :data:`AGREEMENT_MEASURES`. Dice is computed in millimetres
        when both outlines are calibrated, else in pixels; the ``_mm`` and ``_cm2``
        values are NaN unless both are calibrated. ``csa_diff_cm2`` = b - a;
        ``csa_diff_pct`` = (b - a) / a x 100 (from the pixel areas when uncalibrated).

    Raises
    ------
    mfscan.errors.MeasurementError
        When an outline has fewer than 3 distinct points, encloses no area or crosses itself.

    Examples
    --------
    >>> sq = [[0, 0], [0, 10], [10, 10], [10, 0]]
    >>> r = outline_agreement(sq, [[r + 2, c] for r, c in sq])
    >>> round(r["dice"], 6), r["hausdorff_px"]
    (0.8, 2.0)
    """
    pa, pb = validate_outline(a), validate_outline(b)
    calibrated = spacing_a is not None and spacing_b is not None
    one = np.ones(2)
    h_px, m_px = _distances(pa, pb, one, one)
    area_a, area_b = polygon_area(pa), polygon_area(pb)
    out = dict.fromkeys(AGREEMENT_MEASURES, float("nan"))
    out.update(hausdorff_px=h_px, mean_contour_distance_px=m_px, area_a_px2=area_a, area_b_px2=area_b)
    if calibrated:
        sa, sb = _scales(spacing_a, spacing_b)
        out["dice"] = _dice(pa, pb, sa, sb)
        if sa[0] == sa[1] and np.array_equal(sa, sb):  # one square pixel size: mm = px x size
            out["hausdorff_mm"], out["mean_contour_distance_mm"] = h_px * sa[0], m_px * sa[0]
        else:
            out["hausdorff_mm"], out["mean_contour_distance_mm"] = _distances(pa, pb, sa, sb)
        ca = polygon_area(pa, spacing=tuple(sa)) / 100.0
        cb = polygon_area(pb, spacing=tuple(sb)) / 100.0
        out.update(csa_a_cm2=ca, csa_b_cm2=cb, csa_diff_cm2=cb - ca, csa_diff_pct=(cb - ca) / ca * 100.0)
    else:
        out["dice"] = _dice(pa, pb, one, one)
        out["csa_diff_pct"] = (area_b - area_a) / area_a * 100.0
    return out


# --------------------------------------------------------------------------- summaries

#: The columns naming a pair in the agreement table, in grouping order.
