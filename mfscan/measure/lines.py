"""Two-point line measurements: multifidus thickness and subcutaneous fat thickness.

A line ROI (``kind`` ``thickness`` or ``fat``, :data:`mfscan.vocab.ROI_KINDS`) has
exactly two points in (row, col) pixel coordinates. Its physical length honours
anisotropic pixels::

    length_mm = sqrt((drow * row_mm) ** 2 + (dcol * col_mm) ** 2)

where ``drow``, ``dcol`` are the differences of the two ends in pixels and
``spacing = (row_mm, col_mm)`` the pixel size. The order of the two points does not
matter (a length has no sign). RUSI thickness (Kiesel et al. 2007, Man Ther 12:161)
runs from the deep landmark (facet joint or lamina) to the muscle's superficial
border; subcutaneous fat runs from the skin to the muscle's superficial fascia.
"""

from __future__ import annotations

import math

import numpy as np

from mfscan.errors import MeasurementError
from mfscan.geometry import as_points as _as_points
from mfscan.measure.outline import check_inside

__all__ = ["LINE_COLUMNS", "line_length_mm", "validate_line", "measure_line"]

#: The column a line of each kind fills (cm).
LINE_COLUMNS = {"thickness": "thickness_cm", "fat": "fat_thickness_cm"}


def validate_line(points, *, shape=None) -> np.ndarray:
    """Check that a line can be measured.

    Parameters
    ----------
    points : (2, 2) array_like
        The two ends in (row, col) pixels.
    shape : tuple of int, optional
        ``(rows, cols)`` of the image; both ends must lie on it (pixel centres span
        ``-0.5 .. rows - 0.5``, as for outlines).

    Returns
    -------
    ndarray of float, shape (2, 2)
        A copy of the two ends.

    Raises
    ------
    MeasurementError
        Other than two points, a non-finite coordinate, zero length (both ends on
        one spot) or an end outside the image.
    """
    p = _as_points(points)
    if len(p) != 2:
        raise MeasurementError(f"a line needs exactly 2 points (its two ends), found {len(p)}")
    if not np.isfinite(p).all():
        i = int(np.argmax(~np.isfinite(p).all(axis=1)))
        raise MeasurementError(f"point {i} is not finite (NaN or infinity)")
    if p[0, 0] == p[1, 0] and p[0, 1] == p[1, 1]:
        raise MeasurementError("the line has zero length (both ends on the same point)")
    if shape is not None:
        check_inside(p, shape)
    return p.copy()


def line_length_mm(points, *, spacing) -> float:
    """Length of a two-point line in mm under (possibly anisotropic) pixel spacing.

    Parameters
    ----------
    points : (2, 2) array_like
        The two ends in (row, col) pixels.
    spacing : tuple of float, keyword-only
        ``(row_mm, col_mm)``.

    Returns
    -------
    float
        ``sqrt((drow * row_mm)**2 + (dcol * col_mm)**2)``.
    """
    p = _as_points(points)
    d = p[1] - p[0]
    return math.hypot(float(d[0]) * float(spacing[0]), float(d[1]) * float(spacing[1]))


def measure_line(points, *, kind: str, shape=None, spacing=None) -> dict:
    """Every measure of one line ROI.

    Parameters
    ----------
    points : (2, 2) array_like
        The two ends in (row, col) pixels.
    kind : {'thickness', 'fat'}, keyword-only
    shape : tuple of int, optional, keyword-only
        The image's ``(rows, cols)`` for the bounds check.
    spacing : tuple of float or None, keyword-only
        ``(row_mm, col_mm)``; None (uncalibrated) gives NaN lengths in cm.

    Returns
    -------
    dict
        ``length_px`` (in pixels, isotropic) and ``thickness_cm`` or
        ``fat_thickness_cm`` (:data:`LINE_COLUMNS`) in cm.

    Raises
    ------
    MeasurementError
        See :func:`validate_line`; an unknown `kind`.
    """
    if kind not in LINE_COLUMNS:
        raise MeasurementError(f"unknown line kind {kind!r}; expected one of {', '.join(LINE_COLUMNS)}")
    p = validate_line(points, shape=shape)
    cm = float("nan") if spacing is None else line_length_mm(p, spacing=spacing) / 10.0
    return {"length_px": line_length_mm(p, spacing=(1.0, 1.0)), LINE_COLUMNS[kind]: cm}
