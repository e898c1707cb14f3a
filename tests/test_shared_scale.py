"""Issue 23: an image's scale belongs to the image.

The sample study's PNGs carry no calibration of their own; R1 drew a scale line on the
depth ruler (200 px = 50 mm, 0.25 mm/px). A second rater ``X`` who never drew one uses
that scale in every command; sidecars that disagree by more than 1% are refused.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Polygon

from mfscan.annotations import read_sidecar
from mfscan.cli import main
from mfscan.errors import MfscanError

SAMPLE = Path(__file__).parents[1] / "sample_data" / "study" / "S01" / "visit1"
STEM = "S01_V1_L4_1"


@pytest.fixture
def only_r1(tmp_path):
    """A copy of one sample image with R1's sidecar only: calibrated by R1's scale line alone."""
    shutil.copy(SAMPLE / f"{STEM}.png", tmp_path)
    shutil.copy(SAMPLE / f"{STEM}.R1.mfscan.json", tmp_path)
    return tmp_path


def _seed(folder: Path, side: str) -> str:
    """A point inside R1's outline of `side` (its vertices' mean, inside this convex-ish shape)."""
    d = json.loads((folder / f"{STEM}.R1.mfscan.json").read_text())
    pts = np.array(next(r["points"] for r in d["rois"] if r["side"] == side))
    poly = Polygon(pts)
    p = poly.representative_point()
    return f"{side}:{p.x:.0f},{p.y:.0f}"


def _x_scale_sidecar(folder: Path, row_mm: float) -> None:
    """R2's sidecar with its own typed scale `row_mm` (a copy of R1's outlines)."""
    d = json.loads((folder / f"{STEM}.R1.mfscan.json").read_text())
    d["rater"] = "R2"
    d["calibration"] = {"row_mm": row_mm, "col_mm": row_mm, "source": "manual"}
    (folder / f"{STEM}.R2.mfscan.json").write_text(json.dumps(d))


def test_a_second_rater_proposes_with_the_first_raters_scale_line(only_r1, capsys):
    img = only_r1 / f"{STEM}.png"
    assert main(["propose", str(img), "--seed", _seed(only_r1, "left"), "--rater", "X"]) == 0
    out = capsys.readouterr().out
    ann = read_sidecar(only_r1 / f"{STEM}.X.mfscan.json")
    assert ann.calibration is None or not ann.calibration.calibrated  # the image's scale, not copied
    (roi,) = ann.rois
    area_px = Polygon(np.asarray(roi.points)[:, ::-1]).area  # shapely, independent of mfscan
    csa_cm2 = area_px * 0.25 * 0.25 / 100  # R1's line: 200 px = 50 mm
    assert f"left: CSA {csa_cm2:.2f} cm2" in out
    # every command measures X's outline with the same scale
    assert main(["measure", str(only_r1), "-o", str(only_r1 / "m.csv")]) == 0
    table = pd.read_csv(only_r1 / "m.csv")
    x = table[table["rater"] == "X"]
    assert list(x["row_mm"]) == [0.25] and x["csa_cm2"].iloc[0] == pytest.approx(csa_cm2, rel=1e-6)


def test_disagreeing_scales_are_refused_naming_both(only_r1, capsys):
    _x_scale_sidecar(only_r1, 0.3)  # 20% from R1's 0.25
    img = only_r1 / f"{STEM}.png"
    assert main(["propose", str(img), "--seed", _seed(only_r1, "left"), "--rater", "X"]) == 1
    err = capsys.readouterr().err
    assert "0.25 x 0.25" in err and "0.3 x 0.3" in err
    assert f"{STEM}.R1.mfscan.json" in err and f"{STEM}.R2.mfscan.json" in err
    assert not (only_r1 / f"{STEM}.X.mfscan.json").exists()
    # the rater's own typed scale is explicit: used
    seed = _seed(only_r1, "left")
    assert main(["propose", str(img), "--seed", seed, "--rater", "X", "--mm-per-pixel", "0.25"]) == 0
    assert read_sidecar(only_r1 / f"{STEM}.X.mfscan.json").calibration.row_mm == 0.25


def test_agreeing_scales_within_one_percent_are_shared(only_r1, capsys):
    _x_scale_sidecar(only_r1, 0.252)  # 0.8% from 0.25
    img = only_r1 / f"{STEM}.png"
    assert main(["propose", str(img), "--seed", _seed(only_r1, "left"), "--rater", "X"]) == 0
    assert "CSA" in capsys.readouterr().out


def test_blinded_study_names_no_other_rater(only_r1, capsys):
    (only_r1 / "mfscan.study.json").write_text(
        json.dumps({"format": "mfscan.study", "version": 1, "blinded": True})
    )
    _x_scale_sidecar(only_r1, 0.3)
    img = only_r1 / f"{STEM}.png"
    assert main(["propose", str(img), "--seed", _seed(only_r1, "left"), "--rater", "X"]) == 1
    err = capsys.readouterr().err
    assert "0.25 x 0.25" in err and "0.3 x 0.3" in err
    assert "R1" not in err and "R2" not in err


def test_measure_refuses_a_sidecar_without_scale_when_the_others_disagree(only_r1):
    from mfscan.annotations import ROI, Annotation, write_sidecar

    r1 = read_sidecar(only_r1 / f"{STEM}.R1.mfscan.json")
    write_sidecar(
        only_r1 / f"{STEM}.X.mfscan.json",
        Annotation(f"{STEM}.png", [ROI("left", r1.rois[0].points)], rater="X"),
    )
    _x_scale_sidecar(only_r1, 0.3)
    assert main(["measure", str(only_r1), "-o", str(only_r1 / "m.csv")]) in (0, 1)
    table = pd.read_csv(only_r1 / "m.csv")
    assert set(table["rater"]) == {"R1", "R2"}  # each with its own explicit scale
    assert sorted(table.groupby("rater")["row_mm"].first()) == [0.25, 0.3]
    errors = pd.read_csv(only_r1 / "errors.csv")
    (why,) = errors.loc[errors["path"] == f"{STEM}.X.mfscan.json", "reason"]
    assert "0.25 x 0.25" in why and "0.3 x 0.3" in why and f"{STEM}.R2.mfscan.json" in why


def test_the_rule_takes_the_sidecars_scales_as_data():
    from mfscan.calibration import SidecarScale, from_scale_line, manual, rater_override, shared_scale
    from mfscan.calibration.scale import UNCALIBRATED

    line = from_scale_line((631.0, 40.0), (631.0, 240.0), 50.0)  # 200 px = 50 mm: 0.25 mm/px
    scales = [
        SidecarScale(line, "a.R1.s1.mfscan.json", "R1", "1"),
        SidecarScale(manual(0.2512), "a.R2.mfscan.json", "R2"),
    ]
    shared = shared_scale(scales)
    assert shared.conflict is None and shared.source == "scale line, R1 session 1"
    assert (shared.calibration.row_mm, shared.calibration.col_mm) == (0.25, 0.25)
    assert rater_override(None, shared, UNCALIBRATED) == line  # X, without a scale of its own
    assert rater_override(manual(0.3), shared, UNCALIBRATED) == manual(0.3)  # explicit: its own
    assert rater_override(None, shared, manual(0.1)) is None  # the image's own scale applies
    bad = shared_scale([*scales, SidecarScale(manual(0.2525 * 1.02), "a.R3.mfscan.json", "R3")])
    assert bad.calibration is None and "a.R3.mfscan.json" in bad.conflict
    with pytest.raises(MfscanError, match="disagree"):
        rater_override(None, bad, UNCALIBRATED)
    assert shared_scale(scales, blinded=True).source == "the image's shared scale"  # no rater, no kind


def test_check_takes_a_sidecar_without_scale_as_using_the_shared_one(only_r1):
    from mfscan.annotations import ROI, Annotation, write_sidecar
    from mfscan.measure.check import check_study

    r1 = read_sidecar(only_r1 / f"{STEM}.R1.mfscan.json")
    x = Annotation(
        f"{STEM}.png", [ROI("left", r1.rois[0].points)], subject="S01", visit="1", level="L4", rater="X"
    )
    write_sidecar(only_r1 / f"{STEM}.X.mfscan.json", x)
    assert "calibration_differs" not in set(check_study(only_r1)["problem"].astype(str))
    _x_scale_sidecar(only_r1, 0.3)
    found = check_study(only_r1)
    differ = found[found["problem"] == "calibration_differs"]
    assert len(differ) and any("0.3 x 0.3" in m and "0.25 x 0.25" in m for m in differ["message"])


def test_agreement_measures_the_second_rater_with_the_shared_scale(only_r1):
    from mfscan.annotations import ROI, Annotation, write_sidecar
    from mfscan.measure.agreement import agreement_table
    from mfscan.measure.study import resolve_study

    r1 = read_sidecar(only_r1 / f"{STEM}.R1.mfscan.json")
    left = next(r for r in r1.rois if r.side == "left")
    x = Annotation(f"{STEM}.png", [ROI("left", left.points)], subject="S01", visit="1", level="L4", rater="X")
    write_sidecar(only_r1 / f"{STEM}.X.mfscan.json", x)
    study = resolve_study(only_r1)
    table, errors = agreement_table(study=study, between="rater")
    (row,) = table.itertuples()
    assert (row.row_mm_a, row.row_mm_b) == (0.25, 0.25) and row.dice == pytest.approx(1.0)
    assert errors.empty
    (read_x,) = [a for _, a in study.jobs[0].read if a.rater == "X"]
    assert read_x.calibration is None  # the study's sidecar is not modified


def test_masks_for_training_keep_the_second_raters_tracing_at_the_shared_scale(only_r1, tmp_path_factory):
    # mfscan train reads the export's manifest: a tracing without a scale is left out of training
    from mfscan.annotations import ROI, Annotation, write_sidecar
    from mfscan.measure.export import export_masks

    r1 = read_sidecar(only_r1 / f"{STEM}.R1.mfscan.json")
    x = Annotation(
        f"{STEM}.png", [ROI("left", r1.rois[0].points)], subject="S01", visit="1", level="L4", rater="X"
    )
    write_sidecar(only_r1 / f"{STEM}.X.mfscan.json", x)
    res = export_masks([only_r1], tmp_path_factory.mktemp("out") / "masks", progress=False)
    by_sidecar = res.manifest.set_index("sidecar")
    assert by_sidecar.loc[f"{STEM}.X.mfscan.json", "row_mm"] == 0.25
    assert by_sidecar.loc[f"{STEM}.X.mfscan.json", "calibration"] == "scale-line"
