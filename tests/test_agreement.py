"""Outline agreement (issue 11 point 7, issue 14 point 3): every figure against a value by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import tifffile

from mfscan.annotations import ROI, Annotation, sidecar_path, write_sidecar
from mfscan.calibration import Calibration
from mfscan.cli.main import main
from mfscan.measure.agreement import agreement_table
from mfscan.measure.overlap import outline_agreement
from mfscan.report._context import Context
from mfscan.report.sections import agreement as agreement_section
from mfscan.stats.agreement import acceptance_summary, agreement_summary


def square(r0, c0, side):
    """Vertices (row, col) of an axis-aligned square with top-left corner (r0, c0)."""
    return np.array([[r0, c0], [r0, c0 + side], [r0 + side, c0 + side], [r0 + side, c0]], float)


def centred_square(half, centre=(50.0, 50.0)):
    return square(centre[0] - half, centre[1] - half, 2 * half)


# --------------------------------------------------------------------------- geometry


@pytest.mark.parametrize("dr, dc", [(4, 0), (0, 4), (0, 6)])
def test_offset_squares_dice_hausdorff_and_mean_distance(dr, dc):
    side = 20.0
    a = square(10, 10, side)
    b = a + [dr, dc]
    r = outline_agreement(a, b)
    d = max(dr, dc)
    # overlap (side - d) x side of two side x side squares
    assert r["dice"] == pytest.approx(2 * (side - d) * side / (2 * side * side), rel=1e-12)
    assert r["hausdorff_px"] == pytest.approx(d, abs=1e-9)
    # along each square's boundary: d on the leading edge (length s), min(d, c, s - c) on
    # the trailing edge (integral s*d - d^2), d - t over length d on each side edge
    # (d^2 / 2 each): 2 s d over a perimeter 4 s, so d / 2 each way
    assert r["mean_contour_distance_px"] == pytest.approx(d / 2, rel=1e-3)
    assert r["csa_diff_pct"] == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(r["hausdorff_mm"]) and math.isnan(r["csa_diff_cm2"])  # uncalibrated: px only


def test_concentric_squares_mean_contour_distance_by_hand():
    a_half, b_half = 10.0, 6.0
    g = a_half - b_half
    outer, inner = centred_square(a_half), centred_square(b_half)
    r = outline_agreement(outer, inner, spacing_a=(0.2, 0.2), spacing_b=(0.2, 0.2))
    # inner -> outer: g everywhere. outer -> inner, per edge of length 2a: g over 2b,
    # and sqrt(g^2 + u^2) for u in [0, g] at both ends: g^2 / 2 (sqrt 2 + asinh 1) each
    outer_mean = (2 * b_half * g + g * g * (math.sqrt(2) + math.asinh(1))) / (2 * a_half)
    mcd_px = (g + outer_mean) / 2
    assert outer_mean == pytest.approx(4.23647, abs=1e-5)
    assert r["mean_contour_distance_px"] == pytest.approx(mcd_px, rel=1e-3)
    assert r["mean_contour_distance_mm"] == pytest.approx(0.2 * mcd_px, rel=1e-3)
    assert r["hausdorff_px"] == pytest.approx(g * math.sqrt(2), rel=1e-9)  # corner to corner
    assert r["hausdorff_mm"] == pytest.approx(0.2 * g * math.sqrt(2), rel=1e-9)
    assert r["dice"] == pytest.approx(2 * b_half**2 / (a_half**2 + b_half**2), rel=1e-12)
    # sign: b - a, a the first (outer): 12 x 12 px minus 20 x 20 px at 0.04 mm^2 per px
    assert r["csa_a_cm2"] == pytest.approx(400 * 0.04 / 100)
    assert r["csa_diff_cm2"] == pytest.approx((144 - 400) * 0.04 / 100)
    assert r["csa_diff_pct"] == pytest.approx((144 - 400) / 400 * 100)


@pytest.mark.parametrize("dr, dc, hausdorff_mm", [(4, 0, 2.0), (0, 4, 1.0)])
def test_anisotropic_spacing(dr, dc, hausdorff_mm):
    spacing = (0.5, 0.25)  # rows 0.5 mm, columns 0.25 mm: the 20 px square is 10 mm x 5 mm
    a = square(0, 0, 20)
    b = a + [dr, dc]
    r = outline_agreement(a, b, spacing_a=spacing, spacing_b=spacing)
    assert r["hausdorff_mm"] == pytest.approx(hausdorff_mm, abs=1e-9)
    # a W x H rectangle offset by d across its W edges: 2 W d over the perimeter 2 (W + H)
    # each way. Rows: W = 5 mm, d = 2 mm; columns: W = 10 mm, d = 1 mm: 10 / 15 both
    assert r["mean_contour_distance_mm"] == pytest.approx(10 / 15, rel=1e-3)
    assert r["mean_contour_distance_px"] == pytest.approx(2.0, rel=1e-3)  # d / 2 in pixels
    assert r["dice"] == pytest.approx(0.8, rel=1e-12)
    assert r["csa_a_cm2"] == pytest.approx(0.5)  # 10 mm x 5 mm


def test_identical_outlines():
    t = np.linspace(0, 2 * np.pi, 50, endpoint=False)
    a = np.c_[100 + 30 * np.sin(t), 200 + 45 * np.cos(t)]
    r = outline_agreement(a, a.copy(), spacing_a=(0.3, 0.2), spacing_b=(0.3, 0.2))
    assert r["dice"] == pytest.approx(1.0, abs=1e-12)
    for k in ("hausdorff_mm", "mean_contour_distance_mm", "hausdorff_px", "csa_diff_cm2", "csa_diff_pct"):
        assert r[k] == pytest.approx(0.0, abs=1e-9), k


def test_each_outline_uses_its_own_calibration():
    a = square(0, 0, 10)
    r = outline_agreement(a, a.copy(), spacing_a=(0.25, 0.25), spacing_b=(0.275, 0.275))
    assert r["csa_diff_pct"] == pytest.approx((1.1**2 - 1) * 100)  # 10% larger pixels both ways
    # the corner (10, 10) px sits at (2.5, 2.5) mm in a and (2.75, 2.75) mm in b: 0.25 sqrt 2 apart
    assert r["hausdorff_mm"] == pytest.approx(0.25 * math.sqrt(2), rel=1e-9)
    assert r["dice"] == pytest.approx(2 * 2.5**2 / (2.5**2 + 2.75**2))


def test_self_intersecting_outline_is_refused():
    from mfscan.errors import MeasurementError

    bow = [[0, 0], [10, 10], [0, 10], [10, 0]]
    with pytest.raises(MeasurementError, match="crosses itself"):
        outline_agreement(square(0, 0, 10), bow)


def test_summary_median_iqr_by_hand():
    t = pd.DataFrame(
        {
            "between": "rater",
            "a": "R1",
            "b": "R2",
            "level": ["L4"] * 4 + ["L5"],
            "dice": [0.9, 0.8, 0.7, 1.0, 0.5],
        }
    )
    s = agreement_summary(t, measures=["dice"])
    l4 = s[s["level"] == "L4"].iloc[0]
    assert l4["n"] == 4 and l4["median"] == pytest.approx(0.85) and l4["mean"] == pytest.approx(0.85)
    # linear-interpolation quartiles of 0.7, 0.8, 0.9, 1.0: 0.775 and 0.925
    assert l4["q1"] == pytest.approx(0.775) and l4["q3"] == pytest.approx(0.925)
    assert l4["iqr"] == pytest.approx(0.15)
    assert s[s["level"] == "L5"].iloc[0]["n"] == 1


# --------------------------------------------------------------------------- from sidecars


def _image(folder, name, shape=(120, 160), **tiff):
    path = folder / name
    tifffile.imwrite(path, np.full(shape, 90, np.uint8), **tiff)
    return path


def _save(image, rater, rois, *, session=None, cal=None, name=None):
    ann = Annotation(
        image=image.name,
        rois=rois,
        calibration=cal,
        subject="S1",
        visit="1",
        level="L4",
        rater=rater,
        session=session,
    )
    path = sidecar_path(image, rater) if name is None else image.with_name(name)
    write_sidecar(path, ann)
    return path


def test_table_between_raters_sessions_and_methods(tmp_path):
    img = _image(tmp_path, "a.tif")
    cal = Calibration(0.2, 0.2, "manual")
    left, right = square(20, 20, 40), square(20, 90, 40)
    _save(img, "R1", [ROI("left", left), ROI("right", right)], cal=cal)
    _save(img, "R2", [ROI("left", left + [0, 4]), ROI("right", right)], cal=cal)
    _save(img, "R1", [ROI("left", left + [2, 0])], session="2", cal=cal, name="a.R1s2.mfscan.json")
    t, e = agreement_table([tmp_path], between="rater")
    assert e.empty and len(t) == 2
    r = t.set_index("side").loc["left"]
    assert (r["a"], r["b"], r["session_a"]) == ("R1", "R2", None)  # R1's first session, not s2
    assert r["dice"] == pytest.approx(2 * 36 * 40 / 3200)
    assert r["hausdorff_mm"] == pytest.approx(4 * 0.2)
    assert r["mean_contour_distance_mm"] == pytest.approx(2 * 0.2, rel=1e-3)
    assert t.set_index("side").loc["right", "dice"] == pytest.approx(1.0)
    t, e = agreement_table([tmp_path], between="session")
    assert len(t) == 1 and t.iloc[0]["b"] == "R1 session 2"  # only the side traced in both
    assert t.iloc[0]["hausdorff_px"] == pytest.approx(2.0)
    t, e = agreement_table([tmp_path], between="rater", session="2")
    assert t.empty  # R2 has no session 2


def test_table_method_with_model_and_acceptance(tmp_path):
    img = _image(tmp_path, "b.tif")
    prop_l, prop_r = square(20, 20, 40), square(20, 90, 40)
    rois = [
        ROI(
            "left",
            prop_l + [0, 3],
            method="model-edited",
            extra={"proposal": {"points": prop_l.tolist(), "method": "model", "model": "unet-2026-01"}},
        ),
        ROI(
            "right",
            prop_r,
            method="model",
            extra={"proposal": {"points": prop_r.tolist(), "method": "model", "model": "unet-2026-01"}},
        ),
    ]
    _save(img, "R1", rois, cal=Calibration(0.25, 0.25, "manual"))
    img2 = _image(tmp_path, "c.tif")
    _save(img2, "R1", [ROI("left", prop_l, method="proposed"), ROI("right", prop_r, method="manual")])
    img3 = _image(tmp_path, "d.tif")  # edited, proposal not kept: counted, not measured
    _save(img3, "R1", [ROI("left", prop_l, method="proposed-edited")])
    t, e = agreement_table([tmp_path], between="method")
    assert e.empty and len(t) == 4  # the manual outline has no proposal
    left = t[(t["image"] == "b.tif") & (t["side"] == "left")].iloc[0]
    assert (left["a"], left["b"], left["model"], left["method_b"]) == (
        "proposal",
        "final",
        "unet-2026-01",
        "model-edited",
    )
    assert left["hausdorff_mm"] == pytest.approx(3 * 0.25)
    assert left["csa_diff_cm2"] == pytest.approx(0.0)
    assert not left["accepted_unchanged"]
    c = t[t["image"] == "c.tif"].iloc[0]  # untouched, no copy stored: its own proposal
    assert c["accepted_unchanged"] and not c["proposal_stored"] and c["dice"] == pytest.approx(1.0)
    acc = acceptance_summary(t).set_index("model")
    assert acc.loc["unet-2026-01", "n_proposals"] == 2
    assert acc.loc["unet-2026-01", "accepted_unchanged_pct"] == pytest.approx(50.0)
    assert acc.loc["", "proposal_method"] == "proposed" and acc.loc["", "accepted_unchanged_pct"] == 50.0
    assert acc.loc["", "median_dice"] == pytest.approx(1.0)  # of the one measured
    d = t[t["image"] == "d.tif"].iloc[0]
    assert np.isnan(d["dice"]) and not d["accepted_unchanged"]
    html = "".join(agreement_section.section(Context(None, tmp_path, agreement={"method": t})))
    assert "unet-2026-01" in html and "Outline agreement" in html


def test_calibration_from_the_image_by_the_one_rule(tmp_path):
    # a Fiji TIFF at 40 px per cm (0.25 mm per pixel) and no override in the sidecars
    img = _image(tmp_path, "fiji.tif", imagej=True, resolution=(40.0, 40.0), metadata={"unit": "cm"})
    a = square(10, 10, 40)
    _save(img, "R1", [ROI("left", a)])
    _save(img, "R2", [ROI("left", a + [4, 0])])
    t, _ = agreement_table([img], between="rater")
    assert t.iloc[0]["row_mm_a"] == pytest.approx(0.25)
    assert t.iloc[0]["hausdorff_mm"] == pytest.approx(1.0)


def test_thickness_lines_and_parasagittal_views_are_not_compared(tmp_path):
    img = _image(tmp_path, "p.tif")
    line = [[10, 10], [40, 10]]
    _save(img, "R1", [ROI("left", line, kind="thickness"), ROI("right", square(5, 5, 10))])
    _save(img, "R2", [ROI("left", line, kind="thickness"), ROI("right", square(5, 5, 10))])
    t, _ = agreement_table([tmp_path])
    assert list(t["side"]) == ["right"]


def test_cli_writes_pairs_summary_and_exit_status(tmp_path, capsys):
    study = tmp_path / "study"
    study.mkdir()
    img = _image(study, "a.tif")
    a = square(20, 20, 40)
    _save(img, "R1", [ROI("left", a)], cal=Calibration(0.2, 0.2, "manual"))
    _save(img, "R2", [ROI("left", a + [0, 4])], cal=Calibration(0.2, 0.2, "manual"))
    out = tmp_path / "out" / "agreement.csv"
    assert main(["agreement", str(study), "--between", "rater", "-o", str(out)]) == 0
    t = pd.read_csv(out)
    assert t.loc[0, "dice"] == pytest.approx(0.9)
    s = pd.read_csv(out.with_name("agreement_summary.csv"))
    assert s.set_index("measure").loc["hausdorff_mm", "median"] == pytest.approx(0.8)
    assert "median Dice 0.900" in capsys.readouterr().out
    bad = study / "b.tif"
    tifffile.imwrite(bad, np.zeros((50, 50), np.uint8))
    (study / "b.R1.mfscan.json").write_text("{not json")
    assert main(["agreement", str(study), "-o", str(out)]) == 1
    assert "b.R1.mfscan.json" in capsys.readouterr().err


def test_agreement_between_method_prints_and_writes_the_csa_bias_per_method(tmp_path, capsys):
    """Issue 21 point 9: proposals on the inner border against outlines on the line's centre."""
    cal = Calibration(0.25, 0.25, "manual")
    finals = {"a.tif": 40.0, "b.tif": 50.0}  # the rater's squares (side in px), traced on the centre
    for name, side in finals.items():
        prop = square(10, 10, side - 2)  # the proposer one pixel inside on every side
        roi = ROI(
            "left",
            square(9, 9, side),
            method="proposed-edited",
            extra={"proposal": {"points": prop.tolist(), "method": "proposed"}},
        )
        _save(_image(tmp_path, name), "R1", [roi], cal=cal)
    out = tmp_path / "agr.csv"
    assert main(["agreement", str(tmp_path), "--between", "method", "-o", str(out)]) == 0
    acc = pd.read_csv(tmp_path / "agr_acceptance.csv")
    # (proposal - final) / final x 100 by hand: 38^2/40^2 - 1 = -9.75 %, 48^2/50^2 - 1 = -7.84 %
    expected = [(38**2 / 40**2 - 1) * 100, (48**2 / 50**2 - 1) * 100]
    assert acc["median_csa_bias_pct"].iloc[0] == pytest.approx(np.median(expected))
    assert acc["mean_csa_bias_pct"].iloc[0] == pytest.approx(np.mean(expected))
    assert f"CSA bias {np.median(expected):+.1f}% median" in capsys.readouterr().out
