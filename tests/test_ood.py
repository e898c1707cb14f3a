"""Issue 21 points 6 and 9 without torch: the OOD reference and flags by hand, the study's tracing
border (centre of the fascia line), the CSA bias per proposal method."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mfscan.errors import MfscanError
from mfscan.learn.ood import fit_reference, ood_score, prediction_flags, shape_features, side_half


def test_ood_score_is_the_rms_z_over_the_threshold_by_hand():
    train = np.array([[0.0] * 7, [4.0] * 7])  # every feature: mean 2, SD (n-1) 2 sqrt(2)
    ref = fit_reference(train, train[:, :3])
    # training distances: each z = 1/sqrt(2), RMS 0.7071, under the floor of 1 SD: threshold 1.5 x 1
    assert ref["intensity"]["threshold"] == pytest.approx(1.5)
    # an image 6 above the mean everywhere: z = 6 / (2 sqrt(2)) = 2.1213, / 1.5 = 1.4142
    assert ood_score(ref, [8.0] * 7, [2.0] * 3) == pytest.approx(math.sqrt(2))
    assert ood_score(ref, [2.0] * 7, [2.0] * 3) == pytest.approx(0.0)
    assert ood_score(None, [8.0] * 7, [2.0] * 3) is None  # an older model: no reference, no score


def test_validation_images_widen_the_threshold():
    train = np.array([[0.0], [2.0]])
    val = np.array([[5.0]])  # z = 4 / sqrt(2) = 2.828, larger than the training 0.707
    ref = fit_reference(train, train, val, val)
    assert ref["embedding"]["threshold"] == pytest.approx(1.5 * 4 / math.sqrt(2))


def test_side_half_is_where_each_side_lay_in_training():
    lab = np.zeros((10, 20), np.uint8)
    lab[2:5, 14:18] = 1  # left on the image's right half
    lab[2:5, 2:6] = 2  # right on the image's left half
    swapped = lab[:, ::-1]
    assert side_half([lab] * 9) == {"left": "right", "right": "left"}
    assert side_half([lab] * 9 + [swapped]) == {"left": "right", "right": "left"}  # 90 %
    assert side_half([lab] * 5 + [swapped] * 5) == {"left": None, "right": None}


def test_side_half_needs_ninety_percent():
    lab = np.zeros((10, 20), np.uint8)
    lab[2:5, 14:18] = 1
    swapped = lab[:, ::-1]
    assert side_half([lab] * 8 + [swapped] * 2)["left"] is None  # 80 % is not consistent


REF = {
    "confidence_floor": 0.8,
    "side_half": {"left": "right", "right": "left"},
    "csa_cm2": {"min": 4.0, "max": 10.0, "median": 7.0},
}


def flags(**kw):
    args = dict(side="left", confidence=0.9, score=0.5, csa_cm2=7.0, centroid_col=500.0, cols=640)
    return prediction_flags(REF, **{**args, **kw})


def test_prediction_flags_by_hand():
    assert flags() == []
    assert flags(confidence=0.79) == ["low-confidence"]
    assert flags(score=1.01) == ["out-of-distribution"]
    assert flags(centroid_col=100.0) == ["side-position"]  # the patient's left on the image's left
    assert flags(other_centroid_col=600.0) == ["side-position"]  # right of the left: the other order
    assert flags(other_centroid_col=200.0) == []
    assert flags(csa_cm2=15.1) == ["implausible-size"]  # above 10 x 1.5
    assert flags(csa_cm2=2.6) == ["implausible-size"]  # below 4 / 1.5 = 2.67
    assert flags(csa_cm2=14.9) == []
    old = prediction_flags(None, side="left", confidence=0.7, score=None, csa_cm2=1, centroid_col=1, cols=9)
    assert old == ["low-confidence"]  # no reference: the confidence against 0.75 only


def test_shape_features_of_a_rectangle_by_hand():
    m = np.zeros((60, 80), bool)
    m[10:30, 20:60] = True  # 20 x 40 pixels of 0.5 mm: 10 x 20 mm = 2 cm2
    f = shape_features(m, (0.5, 0.5))
    var_r, var_c = (20**2 - 1) / 12, (40**2 - 1) / 12  # central moments of a pixel grid
    expected = [math.log(2.0), 1.0, 10 / 20, 19.5 * 0.5, math.sqrt(1 - var_r / var_c)]
    assert f == pytest.approx(expected, rel=1e-6)
    assert shape_features(np.zeros((5, 5), bool), (1, 1)) is None


# ------------------------------------------------------------------ point 9: the tracing border


def _ring(r_in=60.0, width=8.0, spacing=(0.2, 0.2), seed=0):
    """A dark disc (the muscle) in a bright ring of known width (the fascia line), speckled."""
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[:200, :220]
    r = np.hypot(rr - 100, cc - 110)
    img = np.full(r.shape, 60.0)
    img[(r >= r_in) & (r < r_in + width)] = 200
    img[r >= r_in + width] = 90
    img += rng.normal(0, 10, img.shape)
    t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    return img, np.column_stack([100 + r_in * np.sin(t), 110 + r_in * np.cos(t)])


@pytest.mark.parametrize("spacing", [(0.2, 0.2), (0.2, 0.3)])
def test_centre_of_line_moves_the_inner_border_to_the_middle_of_the_line(spacing):
    from mfscan.assist._border import centre_of_line

    img, inner = _ring()
    before = img.copy()
    out = centre_of_line(img, inner, spacing=spacing)
    radius = np.hypot(out[:, 0] - 100, out[:, 1] - 110)
    assert np.median(radius) == pytest.approx(60 + 8 / 2, abs=0.5)  # the ring's middle, in pixels
    assert np.all(np.abs(radius - 64) < 1.5)
    assert np.array_equal(img, before)


def test_centre_of_line_leaves_a_border_without_a_bright_line():
    from mfscan.assist._border import centre_of_line

    img, inner = _ring(width=0.0)  # a dark disc in a mid-grey field: no line to centre on
    out = centre_of_line(img, inner, spacing=(0.2, 0.2))
    assert np.allclose(out, inner)


def test_study_border_setting_is_read_checked_and_inherited(tmp_path):
    from mfscan.annotations import study_border, write_study_settings

    assert study_border(tmp_path / "scan.png") == "inner"  # no study file: the default
    write_study_settings(tmp_path, {"border": "center"})
    (tmp_path / "S01").mkdir()
    assert study_border(tmp_path / "S01" / "scan.png") == "centre"  # the nearest study file above
    (tmp_path / "mfscan.study.json").write_text('{"format": "mfscan.study", "border": "middle"}')
    with pytest.raises(MfscanError, match="border"):
        study_border(tmp_path / "scan.png")


def test_propose_follows_the_study_border(tmp_path, capsys):
    import cv2

    from mfscan.annotations import read_sidecar, write_study_settings
    from mfscan.cli import main
    from mfscan.geometry import polygon_area
    from mfscan.synthetic.phantom import make_phantom

    ph = make_phantom(seed=3, shape=(480, 640), spacing_mm=0.25, burned_in_text=False, ruler=False)
    img = tmp_path / "scan.png"
    cv2.imwrite(str(img), ph.image)
    seed = "{}:{:.0f},{:.0f}".format("left", *ph.seeds["left"])
    args = ["propose", str(img), "--seed", seed, "--mm-per-pixel", "0.25", "--rater"]
    assert main([*args, "R1"]) == 0
    write_study_settings(tmp_path, {"border": "centre"})
    assert main([*args, "R2"]) == 0
    assert "border: centre" in capsys.readouterr().out
    inner = read_sidecar(tmp_path / "scan.R1.mfscan.json").rois[0].points
    centre = read_sidecar(tmp_path / "scan.R2.mfscan.json").rois[0].points
    a_in, a_c = polygon_area(inner), polygon_area(centre)
    # the phantom's fascia is 2.2 mm, its lamina 3 mm thick, both just outside the true outline:
    # their centres lie 1.1-1.5 mm out, about 5-6 px at 0.25 mm over much of the perimeter
    assert 1.03 < a_c / a_in < 1.35
    gray = ph.image.astype(float)

    def echo(points):
        rc = np.round(points).astype(int)
        return gray[rc[:, 0], rc[:, 1]].mean()

    assert echo(centre) > echo(inner) + 20  # on the bright lines, not inside them


# ------------------------------------------------------------------ point 9: the bias per method


def test_acceptance_summary_gives_the_csa_bias_per_method_by_hand():
    from mfscan.stats.agreement import acceptance_summary

    # proposal CSA a and final CSA b; csa_diff_pct = (b - a) / a x 100 as the agreement table has it
    pairs = {"proposed": [(9.45, 10.0), (9.3, 10.0), (9.6, 10.0)], "model": [(10.2, 10.0), (10.0, 10.0)]}
    rows = [
        {
            "proposal_method": m,
            "model": "abc" if m == "model" else None,
            "accepted_unchanged": a == b,
            "dice": 0.9,
            "csa_diff_pct": (b - a) / a * 100,
        }
        for m, ab in pairs.items()
        for a, b in ab
    ]
    out = acceptance_summary(pd.DataFrame(rows)).set_index("proposal_method")
    # (a - b) / b x 100: proposed -5.5, -7.0, -4.0 -> median -5.5, mean -5.5; model +2.0, 0.0
    assert out.loc["proposed", "median_csa_bias_pct"] == pytest.approx(-5.5)
    assert out.loc["proposed", "mean_csa_bias_pct"] == pytest.approx(-5.5)
    assert out.loc["model", "median_csa_bias_pct"] == pytest.approx(1.0)
    assert out.loc["model", "n_accepted_unchanged"] == 1


def test_confidence_floor_is_the_groups_rule_one_sided_by_hand():
    train = np.array([[0.0], [2.0]])
    # mean 0.85; deviations -0.15, 0.05 x 3: SD (n-1) sqrt(0.03 / 3) = 0.1; lowest z = 0.15 / 0.1 = 1.5
    # floor 0.85 - 1.5 x 1.5 x 0.1 = 0.625 (the former 5th percentile - 0.05 gave 0.73 - 0.05 = 0.68)
    ref = fit_reference(train, train, val_confidences=[0.70, 0.90, 0.90, 0.90])
    assert ref["confidence_floor"] == pytest.approx(0.625)
    # spread 0.1 around 0.9, the lowest 1 SD under: 0.9 - 1.5 x max(1, 1) x 0.1 = 0.75 (former 0.76)
    assert fit_reference(train, train, val_confidences=[0.8, 0.9, 1.0])["confidence_floor"] == pytest.approx(
        0.75
    )


def test_confidence_floor_of_near_identical_validation_muscles_keeps_a_margin():
    train = np.array([[0.0], [2.0]])
    # five validation muscles at 0.95, 0.95, 0.95, 0.95, 0.94: SD 0.00447 under the floor of
    # 2 % of the mean (0.948) + 0.001 = 0.01996; lowest z = 0.008 / 0.01996 = 0.401 -> 1 SD:
    # 0.948 - 1.5 x 0.01996 = 0.91806, clipped to 0.9 (the former rule: 0.942 - 0.05 = 0.892)
    ref = fit_reference(train, train, val_confidences=[0.95, 0.95, 0.95, 0.95, 0.94])
    assert ref["confidence_floor"] == pytest.approx(0.9)
    # one muscle at 0.85: SD floor 0.018; 0.85 - 1.5 x 0.018 = 0.823 (former 0.80)
    assert fit_reference(train, train, val_confidences=[0.85])["confidence_floor"] == pytest.approx(0.823)
    # no validation muscle: the default
    assert fit_reference(train, train)["confidence_floor"] == pytest.approx(0.75)
