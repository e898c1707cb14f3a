"""Thickness and fat lines: lengths under anisotropic spacing, measuring, bad lines named."""

import json
import math

import cv2
import numpy as np
import pytest

from mfscan.errors import AnnotationError, MeasurementError
from mfscan.measure.batch import measure_paths
from mfscan.measure.echo_texture import glcm_features
from mfscan.measure.lines import line_length_mm, measure_line, validate_line


def test_line_length_under_anisotropic_spacing_by_hand():
    # drow = 30 px x 0.2 mm = 6 mm, dcol = 40 px x 0.3 mm = 12 mm: sqrt(36 + 144) mm
    p = [[10.0, 20.0], [40.0, 60.0]]
    assert line_length_mm(p, spacing=(0.2, 0.3)) == pytest.approx(math.sqrt(180.0), rel=1e-12)
    assert line_length_mm(p[::-1], spacing=(0.2, 0.3)) == pytest.approx(math.sqrt(180.0), rel=1e-12)
    # a vertical line only sees the row spacing, a horizontal one only the column spacing
    assert line_length_mm([[0, 5], [100, 5]], spacing=(0.25, 9.0)) == pytest.approx(25.0)
    assert line_length_mm([[3, 0], [3, 100]], spacing=(9.0, 0.4)) == pytest.approx(40.0)


def test_measure_line_columns():
    m = measure_line([[10.0, 20.0], [40.0, 60.0]], kind="thickness", spacing=(0.2, 0.3), shape=(100, 100))
    assert m["thickness_cm"] == pytest.approx(math.sqrt(180.0) / 10)
    assert m["length_px"] == pytest.approx(50.0)  # 30-40-50
    f = measure_line([[0.0, 5.0], [40.0, 5.0]], kind="fat", spacing=(0.25, 0.25))
    assert f["fat_thickness_cm"] == pytest.approx(1.0) and "thickness_cm" not in f
    u = measure_line([[0.0, 5.0], [40.0, 5.0]], kind="fat", spacing=None)
    assert math.isnan(u["fat_thickness_cm"]) and u["length_px"] == 40.0


@pytest.mark.parametrize(
    "pts, message",
    [
        ([[1, 1], [2, 2], [3, 3]], "exactly 2 points"),
        ([[1, 1]], "exactly 2 points"),
        ([[5, 5], [5, 5]], "zero length"),
        ([[5, 5], [np.nan, 5]], "not finite"),
        ([[5, 5], [5, 120]], "outside the 100x100 image"),
    ],
)
def test_bad_lines_are_refused(pts, message):
    with pytest.raises(MeasurementError, match=message):
        validate_line(pts, shape=(100, 100))


def _study(tmp_path, rois, *, extra=None):
    """A PNG written by OpenCV and a sidecar written with json: a manual, anisotropic scale."""
    rng = np.random.default_rng(3)
    img = rng.integers(30, 220, (100, 120), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "scan.png"), img)
    d = {
        "format": "mfscan.annotation",
        "version": 1,
        "image": "scan.png",
        "calibration": {"row_mm": 0.2, "col_mm": 0.3, "source": "manual"},
        "subject": "S1",
        "visit": "1",
        "level": "L5",
        "rater": "R1",
        "rois": rois,
        **(extra or {}),
    }
    (tmp_path / "scan.R1.mfscan.json").write_text(json.dumps(d))
    return img


def test_measure_gives_one_row_per_roi_with_kind_and_the_line_lengths(tmp_path):
    rect = [[20, 30], [20, 80], [70, 80], [70, 30]]
    img = _study(
        tmp_path,
        [
            {"side": "left", "points": rect},
            {"side": "left", "kind": "fat", "points": [[0, 50], [15, 50]]},  # 15 x 0.2 = 3 mm
            {"side": "right", "kind": "thickness", "points": [[90, 10], [60, 50]]},  # 6, 12 mm
        ],
        extra={
            "visit_date": "2024-03-01",
            "view": "parasagittal",
            "task": "rest",
            "posture": "prone",
            "trial": 2,
        },
    )
    res = measure_paths([tmp_path], progress=False, workers=1)
    assert res.errors.empty
    m = res.measurements
    assert list(m["kind"]) == ["outline", "fat", "thickness"]
    assert (
        set(m["view"]) == {"parasagittal"} and set(m["task"]) == {"rest"} and set(m["posture"]) == {"prone"}
    )
    assert list(m["trial"]) == [2, 2, 2] and set(m["visit_date"]) == {"2024-03-01"}
    assert m.loc[1, "fat_thickness_cm"] == pytest.approx(0.3)
    assert m.loc[2, "thickness_cm"] == pytest.approx(math.sqrt(180.0) / 10)
    assert math.isnan(m.loc[2, "csa_cm2"]) and m.loc[2, "n_points"] == 2
    out = m.loc[0]
    assert out["csa_cm2"] == pytest.approx(50 * 50 * 0.2 * 0.3 / 100)  # outline columns as before
    assert out["fat_thickness_cm"] == pytest.approx(0.3) and out["fat_source"] == "line"
    assert out["echo_mean_corrected"] == pytest.approx(out["echo_mean"] + 40.5278 * 0.3)
    assert out["echo_correction"].startswith("young2015")
    # texture of the pixels inside the rectangle by the half-open centre rule: rows 20-69, cols 31-80
    mask = np.zeros(img.shape, bool)
    mask[20:70, 31:81] = True
    assert out["n_pixels"] == mask.sum() and out["echo_mean"] == pytest.approx(img[mask].mean())
    for k, v in glcm_features(img, mask).items():
        assert out[k] == pytest.approx(v, rel=1e-12)


def test_typed_fat_thickness_is_used_without_a_fat_line(tmp_path):
    _study(
        tmp_path,
        [{"side": "left", "points": [[20, 30], [20, 80], [70, 80], [70, 30]]}],
        extra={"fat_thickness_cm": 1.25},
    )
    m = measure_paths([tmp_path], progress=False, workers=1).measurements
    assert m.loc[0, "fat_source"] == "typed" and m.loc[0, "fat_thickness_cm"] == 1.25
    assert m.loc[0, "echo_mean_corrected"] == pytest.approx(m.loc[0, "echo_mean"] + 40.5278 * 1.25)
    assert m.loc[0, "view"] == "transverse"  # absent view: transverse


def test_bad_line_rois_are_named(tmp_path):
    _study(
        tmp_path,
        [
            {"side": "left", "kind": "thickness", "points": [[10, 10], [10, 10]]},
            {"side": "right", "kind": "fat", "points": [[10, 10], [150, 10]]},
            {"side": "right", "kind": "thickness", "points": [[10, 10], [50, 10]]},
        ],
    )
    res = measure_paths([tmp_path], progress=False, workers=1)
    reasons = list(res.errors["reason"])
    assert reasons[0] == "ROI 0 (left thickness): the line has zero length (both ends on the same point)"
    assert reasons[1].startswith("ROI 1 (right fat): point 1 (150.0, 10.0) lies outside the 100x120 image")
    assert list(res.measurements["roi"]) == [2]


def test_a_line_with_three_points_names_the_file_and_roi(tmp_path):
    from mfscan.annotations import read_sidecar

    _study(tmp_path, [{"side": "L", "kind": "thickness", "points": [[1, 1], [2, 2], [3, 3]]}])
    with pytest.raises(AnnotationError) as e:
        read_sidecar(tmp_path / "scan.R1.mfscan.json")
    assert "scan.R1.mfscan.json" in str(e.value)
    assert "ROI 0 (left thickness): a thickness line needs exactly 2 points" in str(e.value)
