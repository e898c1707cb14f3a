"""Orientation-independent linear measures: minimum-area rectangle and Feret diameters.

Expected values are worked out by hand (rectangle and rhombus geometry); cv2.minAreaRect
serves as an independent implementation of the minimum-area rectangle.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from mfscan.geometry import feret_diameters, min_area_rectangle
from mfscan.measure.annotation import MEASUREMENT_COLUMNS
from mfscan.measure.outline import MEASURE_COLUMNS, measure_outline

NEW = (
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


def _rotated_rectangle_mm(depth_mm, width_mm, degrees, centre=(40.0, 60.0)):
    """Corners (row, col) in mm of a depth x width rectangle whose width axis turns ``degrees``
    from the column axis towards increasing rows."""
    t = math.radians(degrees)
    w = np.array([math.sin(t), math.cos(t)])  # width direction (row, col)
    d = np.array([math.cos(t), -math.sin(t)])  # depth direction, perpendicular
    c = np.array(centre)
    return np.array(
        [c + sw * width_mm / 2 * w + sd * depth_mm / 2 * d for sw, sd in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    )


def test_rotated_rectangle_exact_while_bounding_box_is_not():
    spacing = (0.1, 0.1)  # mm per pixel: 1 cm = 100 px
    pts = _rotated_rectangle_mm(10.0, 30.0, 30.0) / np.array(spacing)
    m = measure_outline(pts, spacing=spacing)
    assert m["depth_muscle_cm"] == pytest.approx(1.0, abs=1e-6)
    assert m["width_muscle_cm"] == pytest.approx(3.0, abs=1e-6)
    assert m["shape_ratio_muscle"] == pytest.approx(1 / 3, abs=1e-6)
    assert m["muscle_axis_deg"] == pytest.approx(30.0, abs=1e-6)
    # bounding box, by hand: 3 sin30 + 1 cos30 = 2.366 deep, 3 cos30 + 1 sin30 = 3.098 wide
    assert m["ap_depth_cm"] == pytest.approx(1.5 + math.sqrt(3) / 2, abs=1e-9)
    assert m["lateral_width_cm"] == pytest.approx(1.5 * math.sqrt(3) + 0.5, abs=1e-9)
    assert round(m["ap_depth_cm"], 2) == 2.37 and round(m["lateral_width_cm"], 2) == 3.10
    # Feret: the diagonal sqrt(1 + 9); narrowest caliper 1.0; across the diagonal 2ab/diag
    assert m["feret_max_cm"] == pytest.approx(math.sqrt(10.0), abs=1e-9)
    assert m["feret_min_cm"] == pytest.approx(1.0, abs=1e-9)
    assert m["feret_perpendicular_cm"] == pytest.approx(2 * 1 * 3 / math.sqrt(10.0), abs=1e-9)
    assert m["depth_muscle_px"] == pytest.approx(100.0, abs=1e-6)
    assert m["width_muscle_px"] == pytest.approx(300.0, abs=1e-6)


def test_other_rotation_sign_and_steeper_muscle():
    pts = _rotated_rectangle_mm(10.0, 30.0, -20.0) / 0.25
    m = measure_outline(pts, spacing=(0.25, 0.25))
    assert (m["depth_muscle_cm"], m["width_muscle_cm"]) == pytest.approx((1.0, 3.0), abs=1e-9)
    assert m["muscle_axis_deg"] == pytest.approx(-20.0, abs=1e-9)
    # a muscle deeper than wide, tilted 40 degrees: the side nearer the rows stays the depth
    pts = _rotated_rectangle_mm(35.0, 25.0, 40.0) / 0.25
    m = measure_outline(pts, spacing=(0.25, 0.25))
    assert (m["depth_muscle_cm"], m["width_muscle_cm"]) == pytest.approx((3.5, 2.5), abs=1e-9)
    assert m["muscle_axis_deg"] == pytest.approx(40.0, abs=1e-9)


def test_anisotropic_spacing_by_hand():
    # a square diamond in pixels; with 1.0 mm rows and 0.5 mm columns it is a rhombus of
    # diagonals 20 mm (rows) x 10 mm (columns), side sqrt(10^2 + 5^2) = 11.180 mm.
    pts = np.array([[0.0, 10.0], [10.0, 20.0], [20.0, 10.0], [10.0, 0.0]])
    m = measure_outline(pts, spacing=(1.0, 0.5))
    side = math.hypot(10.0, 5.0)
    height = 100.0 / side  # area (20 x 10 / 2) / side = distance between parallel sides
    # rectangle on a side: extent along the side (10, 5)/side is (20*10 + 5*5 - 5*5)/side = 17.889
    along = (200.0 + 25.0 - 25.0) / side
    assert m["depth_muscle_cm"] == pytest.approx(along / 10.0, abs=1e-9)  # the side nearer the rows
    assert m["width_muscle_cm"] == pytest.approx(height / 10.0, abs=1e-9)
    assert abs(m["muscle_axis_deg"]) == pytest.approx(math.degrees(math.atan2(5.0, 10.0)), abs=1e-9)
    assert m["feret_max_cm"] == pytest.approx(2.0, abs=1e-12)
    assert m["feret_min_cm"] == pytest.approx(height / 10.0, abs=1e-9)
    assert m["feret_perpendicular_cm"] == pytest.approx(1.0, abs=1e-12)
    assert m["ap_depth_cm"] == pytest.approx(2.0) and m["lateral_width_cm"] == pytest.approx(1.0)
    # in pixels (square-pixel assumption) it is a 14.14 px square: the cm values are not px x spacing
    assert m["depth_muscle_px"] == pytest.approx(math.sqrt(200.0), abs=1e-9)
    assert m["width_muscle_px"] == pytest.approx(math.sqrt(200.0), abs=1e-9)
    assert m["feret_max_px"] == pytest.approx(20.0, abs=1e-12)


def test_uncalibrated_gives_pixels_only():
    pts = _rotated_rectangle_mm(10.0, 30.0, 30.0)
    m = measure_outline(pts, spacing=None)
    for c in ("depth_muscle_cm", "width_muscle_cm", "feret_max_cm", "feret_min_cm", "feret_perpendicular_cm"):
        assert math.isnan(m[c])
    assert m["depth_muscle_px"] == pytest.approx(10.0, abs=1e-9)
    assert m["width_muscle_px"] == pytest.approx(30.0, abs=1e-9)
    assert m["muscle_axis_deg"] == pytest.approx(30.0, abs=1e-9)
    assert m["shape_ratio_muscle"] == pytest.approx(1 / 3, abs=1e-9)


def test_rotation_invariance_and_agreement_with_opencv():
    rng = np.random.default_rng(7)
    t = np.sort(rng.uniform(0, 2 * np.pi, 40))
    radius = 30 + 8 * rng.random(40)
    base = np.column_stack([radius * np.sin(t) * 0.6, radius * np.cos(t)])  # star-shaped, simple
    ref = None
    for deg in (0.0, 13.0, 71.0, 160.0):
        a = math.radians(deg)
        rot = base @ np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]).T + [200, 300]
        depth, width, _ = min_area_rectangle(rot)
        fmax, fmin, fperp = feret_diameters(rot)
        sides = sorted((depth, width))
        (_, _), (w_cv, h_cv), _ = cv2.minAreaRect(rot[:, ::-1].astype(np.float32))
        assert sides == pytest.approx(sorted((w_cv, h_cv)), rel=1e-4)
        here = (*sides, fmax, fmin, fperp)
        if ref is None:
            ref = here
        assert here == pytest.approx(ref, rel=1e-9)
        # the brute-force greatest distance between vertices
        d = np.hypot(*(rot[:, None, :] - rot[None, :, :]).transpose(2, 0, 1))
        assert fmax == pytest.approx(d.max(), rel=1e-12)


def test_columns_reach_the_measurements_table():
    for c in NEW:
        assert c in MEASURE_COLUMNS and c in MEASUREMENT_COLUMNS
    # bounding-box columns keep their names and their place
    assert MEASURE_COLUMNS[:12][2:4] == ("ap_depth_cm", "lateral_width_cm")
