"""Outline measurements against analytic values."""

import math

import numpy as np
import pytest
from skimage.draw import polygon as sk_polygon

from mfscan.errors import MeasurementError
from mfscan.geometry import polygon_area, polygon_perimeter
from mfscan.measure import (
    echo_intensity,
    measure_outline,
    outline_mask,
    validate_outline,
)


def ellipse(center, a_rows, b_cols, n=400):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.column_stack([center[0] + a_rows * np.sin(t), center[1] + b_cols * np.cos(t)])


def test_rectangle_area_perimeter_anisotropic_spacing():
    rect = [[10, 20], [10, 70], [40, 70], [40, 20]]  # 30 rows x 50 cols
    assert polygon_area(rect, spacing=(0.2, 0.1)) == pytest.approx(30 * 0.2 * 50 * 0.1, rel=1e-12)
    assert polygon_perimeter(rect, spacing=(0.2, 0.1)) == pytest.approx(2 * (6 + 5), rel=1e-12)
    m = measure_outline(rect, spacing=(0.2, 0.1))
    assert m["csa_cm2"] == pytest.approx(0.30, rel=1e-12)  # 30 mm2
    assert m["perimeter_cm"] == pytest.approx(2.2, rel=1e-12)
    assert m["ap_depth_cm"] == pytest.approx(0.6, rel=1e-12)  # 30 rows x 0.2 mm
    assert m["lateral_width_cm"] == pytest.approx(0.5, rel=1e-12)
    assert m["shape_ratio"] == pytest.approx(1.2, rel=1e-12)


def test_ellipse_area_matches_analytic_within_0_1_percent():
    # A multifidus-sized ellipse: semi-axes 14 mm (depth) x 16 mm (lateral) at 0.26 mm/px.
    mm = 0.262
    pts = ellipse((300, 400), 14 / mm, 16 / mm)
    m = measure_outline(pts, spacing=(mm, mm))
    assert m["csa_cm2"] == pytest.approx(math.pi * 1.4 * 1.6, rel=1e-3)
    # Ramanujan's perimeter of the ellipse
    a, b = 1.6, 1.4
    h = ((a - b) / (a + b)) ** 2
    assert m["perimeter_cm"] == pytest.approx(
        math.pi * (a + b) * (1 + 3 * h / (10 + math.sqrt(4 - 3 * h))), rel=1e-3
    )
    assert m["ap_depth_cm"] == pytest.approx(2.8, rel=1e-3)
    assert m["lateral_width_cm"] == pytest.approx(3.2, rel=1e-3)


def test_regular_polygon_exact_area():
    n, r = 7, 50.0
    t = 2 * np.pi * np.arange(n) / n
    pts = np.column_stack([100 + r * np.sin(t), 100 + r * np.cos(t)])
    assert polygon_area(pts) == pytest.approx(0.5 * n * r * r * math.sin(2 * math.pi / n), rel=1e-12)


def test_area_independent_of_orientation_and_start():
    pts = ellipse((50, 60), 20, 30, n=37)
    a = polygon_area(pts, spacing=(0.3, 0.2))
    assert polygon_area(pts[::-1], spacing=(0.3, 0.2)) == pytest.approx(a, rel=1e-12)
    assert polygon_area(np.roll(pts, 5, axis=0), spacing=(0.3, 0.2)) == pytest.approx(a, rel=1e-12)


def test_uncalibrated_gives_pixels_only():
    rect = [[0, 0], [0, 10], [20, 10], [20, 0]]
    m = measure_outline(rect, spacing=None)
    assert math.isnan(m["csa_cm2"]) and math.isnan(m["perimeter_cm"]) and math.isnan(m["ap_depth_cm"])
    assert m["csa_px2"] == 200.0
    assert m["perimeter_px"] == 60.0
    assert m["shape_ratio"] == 2.0


def test_echo_intensity_with_and_without_overlay():
    img = np.zeros((50, 50), np.uint8)
    img[10:20, 10:20] = 100
    img[10:20, 15:20] = 200
    square = [[9.5, 9.5], [9.5, 19.5], [19.5, 19.5], [19.5, 9.5]]  # pixel edges: covers 10..19
    mean, sd, n = echo_intensity(img, square)
    assert n == 100
    assert mean == pytest.approx(150.0)
    assert sd == pytest.approx(50.0)
    exclude = np.zeros_like(img, bool)
    exclude[:, 15:] = True  # a yellow caliper over the right half
    mean, sd, n = echo_intensity(img, square, exclude=exclude)
    assert (mean, sd, n) == (100.0, 0.0, 50)
    m = measure_outline(square, img, spacing=(0.1, 0.1), exclude=exclude)
    assert m["echo_mean"] == 100.0 and m["n_pixels"] == 50
    # float images take the numpy path: the same population SD (ddof=0)
    mean, sd, n = echo_intensity(img.astype(np.float64) / 2, square)
    assert (mean, sd, n) == (pytest.approx(75.0), pytest.approx(25.0), 100)


def test_mask_pixel_count_close_to_polygon_area():
    pts = ellipse((100, 120), 40.3, 55.7)
    box, mask = outline_mask(pts, (200, 250))
    assert mask.sum() == pytest.approx(polygon_area(pts), rel=0.01)
    assert box[0].start == 59 and box[1].start == 64


@pytest.mark.parametrize(
    "pts, message",
    [
        ([[0, 0], [1, 1]], "at least 3"),
        ([[0, 0], [0, 0], [1, 1], [1, 1]], "at least 3"),
        ([[0, 0], [10, np.nan], [5, 5]], "not finite"),
        ([[0, 0], [10, np.inf], [5, 5]], "not finite"),
        ([[0, 0], [10, 10], [0, 10], [10, 0]], "crosses itself"),
        ([[0, 0], [5, 5], [10, 10]], "no area"),
    ],
)
def test_invalid_outlines(pts, message):
    with pytest.raises(MeasurementError, match=message):
        validate_outline(pts)


def test_outline_outside_image():
    with pytest.raises(MeasurementError, match="outside the 100x100 image"):
        measure_outline([[10, 10], [10, 120], [50, 50]], np.zeros((100, 100), np.uint8), spacing=(0.1, 0.1))


def test_duplicate_closing_vertex_is_dropped_and_input_unchanged():
    pts = np.array([[0.0, 0], [0, 10], [10, 10], [10, 0], [0, 0]])
    before = pts.copy()
    clean = validate_outline(pts)
    assert len(clean) == 4
    assert np.array_equal(pts, before)
    assert polygon_area(pts) == polygon_area(clean) == 100.0


def test_mask_equals_skimage_centre_rule_on_random_polygons():
    # skimage.draw.polygon takes the pixels whose centres lie inside: an independent reference.
    rng = np.random.default_rng(7)
    for k in range(300):
        n = int(rng.integers(3, 150))
        t = np.sort(rng.uniform(0, 2 * np.pi, n))
        r = rng.uniform(5, 80, n)
        p = np.column_stack([100 + r * np.sin(t), 120 + r * np.cos(t)]) + rng.uniform(-3, 3, (n, 2))
        if k % 4 == 0:
            p = p[rng.permutation(n)]  # self-intersecting
        if k % 5 == 0:
            p[:, 1] -= 130  # partly outside the image
        box, mask = outline_mask(p, (200, 250))
        full = np.zeros((200, 250), bool)
        full[box] = mask
        ref = np.zeros_like(full)
        rr, cc = sk_polygon(p[:, 0], p[:, 1], shape=(200, 250))
        ref[rr, cc] = True
        assert np.array_equal(full, ref), k


def test_outlines_sharing_a_border_share_no_pixel():
    # Two outlines meeting on a diagonal through pixel centres: each pixel belongs to one.
    a = [[10, 10], [10, 40], [40, 40]]
    b = [[10, 10], [40, 40], [40, 10]]
    (ba, ma), (bb, mb) = outline_mask(a, (60, 60)), outline_mask(b, (60, 60))
    fa, fb = np.zeros((60, 60), bool), np.zeros((60, 60), bool)
    fa[ba], fb[bb] = ma, mb
    assert not (fa & fb).any()
    assert (fa | fb).sum() == 30 * 30  # the square's pixel centres 10..39 x 10..39


def test_measurement_columns_keep_the_old_ones_in_order_and_add_the_rusi_ones():
    from mfscan.measure.annotation import MEASUREMENT_COLUMNS
    from mfscan.measure.outline import MEASURE_COLUMNS

    old = (
        *(
            "image",
            "sidecar",
            "subject",
            "visit",
            "session",
            "level",
            "side",
            "rater",
            "frame",
            "roi",
            "method",
        ),
        *MEASURE_COLUMNS,
        *("row_mm", "col_mm", "calibration", "region", "n_points"),
    )
    assert [c for c in MEASUREMENT_COLUMNS if c in old] == list(old)
    new = {"visit_date", "kind", "view", "task", "posture", "trial", "thickness_cm", "fat_thickness_cm"}
    new |= {"fat_source", "echo_mean_corrected", "echo_correction", "glcm_contrast", "glcm_homogeneity"}
    new |= {"glcm_energy", "glcm_correlation", "glcm_entropy", "proposal_flags"}
    new |= {"outline_repair", "clipped_share"}
    new |= {"echo_bit_depth", "echo_correction_status"}
    assert set(MEASUREMENT_COLUMNS) - set(old) == new
