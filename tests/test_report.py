"""The study report from the sample study: every file, the figures and the numbers."""

import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from mfscan import RESEARCH_NOTICE
from mfscan.annotations import ROI, Annotation, write_sidecar
from mfscan.calibration import manual
from mfscan.cli import main
from mfscan.io.tables import read_table
from mfscan.synthetic.sample_study import SUBJECTS

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "sample_data" / "study"


#: Copies of the sample study without its RUSI images, where a test is about transverse outlines.
NO_RUSI = shutil.ignore_patterns("rusi")


def _roi_counts(study: Path) -> dict:
    """ROIs per kind (an ROI without ``kind`` is an outline) in the study's sidecars, read as JSON."""
    import json
    from collections import Counter

    counts = Counter()
    for p in study.rglob("*.mfscan.json"):
        counts.update(r.get("kind", "outline") for r in json.loads(p.read_text())["rois"])
    return dict(counts)


def _transverse_images(study: Path) -> set:
    """The images whose sidecars hold outlines (the transverse CSA images)."""
    import json

    out = set()
    for p in study.rglob("*.mfscan.json"):
        d = json.loads(p.read_text())
        if any(r.get("kind", "outline") == "outline" for r in d["rois"]):
            out.add(d["image"])
    return out


@pytest.fixture(scope="session")  # session: made once even when other modules' tests run in between
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    study = out / "study"
    shutil.copytree(COMMITTED, study)
    assert main(["report", str(study), "-o", str(out / "rep"), "--no-progress", "--workers", "2"]) == 0
    return study, out / "rep"


def test_every_file_is_written(report):
    study, rep = report
    for name in (
        "measurements.csv",
        "images.csv",
        "side_summary.csv",
        "asymmetry.csv",
        "largest_asymmetry.csv",
        "longitudinal.csv",
        "group_summary.csv",
        "reliability.csv",
        "side_status_summary.csv",
        "repeatability.csv",
        "contraction.csv",
        "model.csv",
        "model_contrasts.csv",
        "model_change.csv",
        "model_fits.csv",
        "agreement_rater.csv",
        "agreement_session.csv",
        "report.html",
    ):
        assert (rep / name).is_file(), name
    assert not (rep / "errors.csv").exists() and not (rep / "check.csv").exists()
    sidecars = list(study.rglob("*.mfscan.json"))
    qc = list((rep / "qc").rglob("*.png"))
    assert len(qc) == len(sidecars) > 0  # one overlay per sidecar, outlines and lines alike
    img = cv2.imread(str(rep / "qc" / "S01" / "visit1" / "S01_V1_L5_1.R1.png"))
    assert img.shape[1] == 640 and img.shape[0] > 480  # caption band above the image


def test_measurements_and_asymmetry_values(report):
    study, rep = report
    m = read_table(rep / "measurements.csv")
    counts = _roi_counts(study)
    assert m["kind"].value_counts().to_dict() == counts and counts["outline"] > 0
    assert set(m["calibration"]) == {"scale-line", "dicom-region"}
    outlines = m[m["kind"] == "outline"]
    assert outlines["row_mm"].round(6).eq(0.25).all()  # 50 mm scale line over 200 px
    a = read_table(rep / "asymmetry.csv")
    assert len(a) == 3 * 3 * 2 * 3  # subjects x visits x levels x (R1, R1 session 2, R2)
    assert a["missing_reason"].isna().all()
    primary = a[(a["rater"] == "R1") & a["session"].isna()]
    designed = {
        (s, str(v + 1)): pct for s, _, _, base, later in SUBJECTS for v, pct in enumerate((base, *later))
    }
    for r in primary[primary["level"] == "L5"].itertuples():
        # the designed L5 asymmetry, give or take the rater's tracing (about 1-2%)
        assert r.asymmetry_pct == pytest.approx(designed[(r.subject, r.visit)], abs=2.5), (r.subject, r.visit)
        assert r.smaller_side == dict((s, side) for s, side, *_ in SUBJECTS)[r.subject]
        assert r.symptomatic_deficit_pct > 0
    # recomputed by hand from measurements.csv for one row
    one = m[
        (m.subject == "S02") & (m.visit == "3") & (m.level == "L5") & (m.rater == "R1") & m.session.isna()
    ]
    left, right = one[one.side == "left"].csa_cm2.mean(), one[one.side == "right"].csa_cm2.mean()
    row = primary[(primary.subject == "S02") & (primary.visit == "3") & (primary.level == "L5")].iloc[0]
    assert row.asymmetry_pct == pytest.approx((right - left) / right * 100, rel=1e-9)
    assert row.asymmetry_index_pct == pytest.approx((right - left) / ((right + left) / 2) * 100, rel=1e-9)
    assert row.n_left == 2 and row.exceeds_threshold


def test_longitudinal_and_reliability(report):
    _, rep = report
    lo = read_table(rep / "longitudinal.csv")
    s01 = lo[(lo.subject == "S01") & (lo.level == "L5") & (lo.rater == "R1") & lo.session.isna()]
    s01 = s01.set_index(s01["visit"].astype(str))
    assert s01.loc["1", "asymmetry_change_pct_points"] == 0
    assert s01.loc["3", "asymmetry_change_pct_points"] == pytest.approx(
        s01.loc["3", "asymmetry_pct"] - s01.loc["1", "asymmetry_pct"]
    )
    assert s01.loc["3", "asymmetry_change_pct_points"] < -12  # 22% -> 6%: recovery with exercise
    rel = read_table(rep / "reliability.csv")
    csa = rel[(rel.measure == "csa_cm2") & (rel.between == "rater")]
    # one visit per subject (issue 20): 3 subjects are 3 targets, not 9 subject-visits
    assert len(csa) == 4 and (csa.n_targets == 3).all() and (csa.n_subjects == 3).all()
    assert (csa.visits == "first of each subject (1 for 3)").all()
    assert (csa.ba_bias < 0).all()  # R2 traces inside the border: smaller areas


def test_html_is_self_contained_and_complete(report):
    _, rep = report
    text = (rep / "report.html").read_text()
    assert RESEARCH_NOTICE in text
    # asymmetry, left/right, groups, CSA per side (R1 first session, R1 session 2, R2), deficit,
    # Bland-Altman, and the RUSI thickness change (the sample has parasagittal thickness lines)
    assert text.count("data:image/png;base64,") == 9
    # the extra sections, each linked from the contents bar; the sample study has no problem
    for anchor in ("contraction", "model", "agreement"):
        assert f"id='{anchor}'" in text and f"href='#{anchor}'" in text
    assert "Study check (<code>mfscan check</code>): no problem found" in text
    assert not re.search(r"""(src|href)=['"]https?://""", text)
    n_designed = sum(pct > 10 for *_, base, later in SUBJECTS for pct in (base, *later))
    assert n_designed == 8
    assert f"Flagged asymmetries (&gt; 10%): {n_designed}" in text
    for name in ("measurements.csv", "asymmetry.csv", "reliability.csv"):
        assert f"href='{name}'" in text
    assert "BurnedInAnnotation YES or absent" in text  # the sample DICOM says YES
    assert "qc/S01/visit1/S01_V1_L4_1.R1.png" in text


def test_report_lists_failures_and_exits_nonzero(report, tmp_path, capsys):
    study, _ = report
    bad = tmp_path / "study"
    shutil.copytree(study / "S01", bad / "S01", ignore=NO_RUSI)
    (bad / "S01" / "visit1" / "S01_V1_L4_1.png").write_text("not an image")
    assert main(["report", str(bad), "-o", str(tmp_path / "rep"), "--no-progress", "--workers", "1"]) == 1
    err = pd.read_csv(tmp_path / "rep" / "errors.csv")
    assert err["path"].tolist() == ["S01/visit1/S01_V1_L4_1.png"]  # one row for the image, all its sidecars
    assert "not a PNG image" in err["reason"].iloc[0]
    assert "Traceback" not in capsys.readouterr().err
    text = (tmp_path / "rep" / "report.html").read_text()
    assert "1 file(s) or outline(s) could not be measured" in text


def test_side_summary_largest_level_and_units(report):
    study, rep = report
    m = read_table(rep / "measurements.csv")
    s = read_table(rep / "side_summary.csv")
    row = s[
        (s.subject == "S03") & (s.visit == "2") & (s.level == "L4") & (s.rater == "R2") & (s.side == "left")
    ]
    reps = m[
        (m.subject == "S03") & (m.visit == "2") & (m.level == "L4") & (m.rater == "R2") & (m.side == "left")
    ]
    assert len(row) == 1 and row.n.iloc[0] == len(reps) == 2
    assert row.csa_cm2.iloc[0] == pytest.approx(reps.csa_cm2.mean(), rel=1e-9)
    assert row.csa_cm2_sd.iloc[0] == pytest.approx(reps.csa_cm2.std(ddof=1), rel=1e-6)
    assert row.echo_mean.iloc[0] == pytest.approx(reps.echo_mean.mean(), rel=1e-9)
    largest = read_table(rep / "largest_asymmetry.csv")
    primary = largest[(largest.rater == "R1") & largest.session.isna()]
    assert len(primary) == 9 and set(primary.level) == {"L5"}  # the designed asymmetry is at L5
    rel = read_table(rep / "reliability.csv")
    units = dict(zip(rel.measure, rel.unit))
    assert units["csa_cm2"] == "cm2" and units["ap_depth_cm"] == "cm" and units["echo_mean"] == "gray level"
    img = read_table(rep / "images.csv")
    assert {"rows_px", "cols_px"} <= set(img.columns)
    transverse = img[img["image"].map(lambda p: Path(p).name).isin(_transverse_images(study))]
    assert len(transverse) and (transverse.rows_px == 480).all()


def test_explicit_visit_order(report, tmp_path):
    study, _ = report
    s = tmp_path / "study"  # one subject's three visits are enough: a third of the measuring
    shutil.copytree(study / "S01", s / "S01", ignore=NO_RUSI)
    shutil.copy(study / "subjects.csv", s / "subjects.csv")
    assert (
        main(
            [
                "report",
                str(s),
                "-o",
                str(tmp_path / "rep"),
                "--no-progress",
                "--workers",
                "1",
                "--visit-order",
                "3,2,1",
            ]
        )
        == 0
    )
    lo = read_table(tmp_path / "rep" / "longitudinal.csv")
    assert set(lo["baseline_visit"].astype(str)) == {"3"}
    s01 = lo[(lo.subject == "S01") & (lo.level == "L5") & (lo.rater == "R1") & lo.session.isna()]
    assert s01["visit"].tolist() == ["3", "2", "1"]  # rows in the given chronological order
    by = s01.set_index("visit")
    assert by.loc["3", "asymmetry_change_pct_points"] == 0
    assert by.loc["1", "asymmetry_change_pct_points"] == pytest.approx(
        by.loc["1", "asymmetry_pct"] - by.loc["3", "asymmetry_pct"]
    )
    assert by.loc["1", "asymmetry_change_pct_points"] > 12  # read backwards, S01 got worse


def test_sidecar_without_level_or_rater_does_not_stop_the_study(report, tmp_path):
    import json

    study, _ = report
    s = tmp_path / "study"
    shutil.copytree(study, s, ignore=shutil.ignore_patterns("rusi", "S03"))  # S01, S02 and the DICOMs
    no_level = s / "S01" / "visit1" / "S01_V1_L4_1.R1.mfscan.json"
    d = json.loads(no_level.read_text())
    del d["level"]
    no_level.write_text(json.dumps(d))
    no_rater = s / "S02" / "visit1" / "S02_V1_L4_1.R2.mfscan.json"
    d = json.loads(no_rater.read_text())
    del d["rater"]
    no_rater.write_text(json.dumps(d))
    assert main(["report", str(s), "-o", str(tmp_path / "rep"), "--no-progress", "--workers", "1"]) == 1
    err = pd.read_csv(tmp_path / "rep" / "errors.csv")
    assert err["path"].tolist() == ["S01/visit1/S01_V1_L4_1.R1.mfscan.json"]
    assert err["reason"].iloc[0].startswith("no level: its 2 outline(s) are in measurements.csv")
    assert (tmp_path / "rep" / "report.html").is_file()
    m = read_table(tmp_path / "rep" / "measurements.csv")
    assert (m["kind"] == "outline").sum() == _roi_counts(s)["outline"]  # every outline is measured
    a = read_table(tmp_path / "rep" / "asymmetry.csv")
    unnamed = a[a["rater"].isna()]
    assert len(unnamed) == 1 and (unnamed.subject.iloc[0], unnamed.visit.iloc[0]) == ("S02", "1")
    assert unnamed.n_left.iloc[0] == 1
    r1 = a[(a.subject == "S01") & (a.visit == "1") & (a.level == "L4") & (a.rater == "R1") & a.session.isna()]
    assert r1.n_left.iloc[0] == 2  # 2 PNG repeats + the DICOM, less the one without a level


def test_reruns_notes_and_threshold_lines(report, tmp_path, capsys):
    from mfscan.report import threshold_ratio

    # larger/smaller ratio at 10%, from each definition solved by hand
    assert threshold_ratio(10, "hides") == pytest.approx(1 / 0.9)  # (r-1)/r = 0.1
    assert threshold_ratio(10, "smaller-side") == pytest.approx(1.1)  # r-1 = 0.1
    assert threshold_ratio(10, "index") == pytest.approx(2.1 / 1.9)  # 2(r-1)/(r+1) = 0.1
    study, _ = report
    s = tmp_path / "study"
    shutil.copytree(study / "S01", s / "S01", ignore=NO_RUSI)
    (s / "subjects.csv").write_text("subject,symptomatic_side,group\ns01,R,exercise\n")
    out = tmp_path / "rep"
    (out / "qc" / "old").mkdir(parents=True)
    (out / "qc" / "old" / "other_study.png").write_bytes(b"stale")
    (out / "reliability.csv").write_text("stale")
    (out / "errors.csv").write_text("path,roi,reason\nold.png,,stale\n")
    assert main(["report", str(s), "-o", str(out), "--no-progress", "--workers", "1"]) == 0
    err = capsys.readouterr().err
    assert "NOTE: 1 measured subject(s) are not in subjects.csv: S01" in err
    assert not (out / "qc" / "old").exists() and not (out / "errors.csv").exists()
    assert (out / "reliability.csv").read_text() != "stale"
    assert "are not in subjects.csv" in (out / "report.html").read_text()
    assert main(["report", str(s), "-o", str(out / "measurements.csv"), "--no-progress"]) == 1
    assert "is not a folder" in capsys.readouterr().err


def write_tiny_study(folder: Path, visits=("1", "2", "3"), *, calibrated=True, raters=("R1",)) -> Path:
    """Two subjects, one level, one image per visit and rater: left 20 x 20 px, right 20 x 25 px.

    The asymmetry of every visit is (500 - 400) / 500 = 20 % (Hides), whatever the scale.
    """
    folder.mkdir(parents=True, exist_ok=True)
    image = np.tile(np.arange(160, dtype=np.uint8), (120, 1))
    left = [[30, 20], [30, 40], [50, 40], [50, 20]]
    right = [[30, 100], [30, 125], [50, 125], [50, 100]]
    for subject in ("P1", "P2"):
        for visit in visits:
            name = f"{subject}_{visit}.png"
            cv2.imwrite(str(folder / name), image)
            for rater in raters:
                write_sidecar(
                    folder / f"{subject}_{visit}.{rater}.mfscan.json",
                    Annotation(
                        name,
                        [ROI("left", left), ROI("right", right)],
                        calibration=manual(0.1) if calibrated else None,
                        subject=subject,
                        visit=visit,
                        level="L4",
                        rater=rater,
                    ),
                )
    return folder


def test_word_visit_labels_are_flagged(tmp_path, capsys):
    study = write_tiny_study(tmp_path / "study", visits=("pre", "post", "followup"))
    assert main(["report", str(study), "-o", str(tmp_path / "rep"), "--no-progress", "--workers", "1"]) == 0
    assert "visits are ordered pre < post < followup" in capsys.readouterr().err
    assert (
        main(
            [
                "report",
                str(study),
                "-o",
                str(tmp_path / "rep2"),
                "--no-progress",
                "--workers",
                "1",
                "--visit-order",
                "pre,post,followup",
            ]
        )
        == 0
    )
    assert "visits are ordered" not in capsys.readouterr().err
    assert (
        main(
            ["report", str(study), "-o", str(tmp_path / "rep3"), "--no-progress", "--visit-order", "pre,post"]
        )
        == 1
    )
    assert "--visit-order lacks visit(s) followup" in capsys.readouterr().err
    a = read_table(tmp_path / "rep" / "asymmetry.csv")
    assert len(a) == 6 and a["asymmetry_pct"].to_numpy() == pytest.approx(20.0)
    assert a["left_csa_cm2"].to_numpy() == pytest.approx(400 * 0.01 / 100)  # 400 px of 0.1 x 0.1 mm


def test_report_leaves_matplotlib_alone(tmp_path):
    import matplotlib
    import matplotlib.pyplot as plt

    from mfscan.report import build_report

    study = write_tiny_study(tmp_path / "study")
    backend = matplotlib.get_backend()
    old_size = matplotlib.rcParams["font.size"]
    matplotlib.rcParams["font.size"] = 13.5  # a caller's own setting (the report draws at 9)
    try:
        before = dict(matplotlib.rcParams)
        figures = plt.get_fignums()
        res = build_report(study, tmp_path / "rep", workers=1, progress=False)
        assert matplotlib.get_backend() == backend
        assert dict(matplotlib.rcParams) == before and matplotlib.rcParams["font.size"] == 13.5
        assert plt.get_fignums() == figures == []
    finally:
        matplotlib.rcParams["font.size"] = old_size
    text = (tmp_path / "rep" / "report.html").read_text()
    # asymmetry over visits, left vs right, groups ("all"), CSA of each side over visits
    assert text.count("data:image/png;base64,") == 4
    assert len(res.asymmetry) == 6


def test_cli_tables_equal_the_report_tables(report, tmp_path, capsys):
    from pandas.testing import assert_frame_equal

    study, rep = report
    assert (
        main(
            [
                "asymmetry",
                str(rep / "measurements.csv"),
                "--subjects",
                str(study / "subjects.csv"),
                "-o",
                str(tmp_path / "asymmetry.csv"),
            ]
        )
        == 0
    )
    assert_frame_equal(read_table(tmp_path / "asymmetry.csv"), read_table(rep / "asymmetry.csv"))
    assert (
        main(
            [
                "reliability",
                str(rep / "measurements.csv"),
                "--between",
                "all",
                "-o",
                str(tmp_path / "reliability.csv"),
            ]
        )
        == 0
    )
    report_rel = read_table(rep / "reliability.csv")
    assert set(report_rel["between"]) == {"rater", "session"}
    assert_frame_equal(read_table(tmp_path / "reliability.csv"), report_rel)
    # the default, between raters: the report's rater rows (which have no rater column of their own)
    assert main(["reliability", str(rep / "measurements.csv"), "-o", str(tmp_path / "raters.csv")]) == 0
    raters = report_rel[report_rel["between"] == "rater"].drop(columns="rater").reset_index(drop=True)
    assert_frame_equal(read_table(tmp_path / "raters.csv"), raters, check_dtype=False)
    assert "ICC(2,1)" in capsys.readouterr().out


def test_analyse_study_falls_back_to_pixels_and_sets_incomplete_rows_aside():
    from mfscan.stats.study import analyse_study

    rows = [  # P1 visit 1: left 800 px², right 1000 px², twice; one outline without a level
        ("a.png", "a.mfscan.json", "P1", "1", "L4", "left", 800.0),
        ("a.png", "a.mfscan.json", "P1", "1", "L4", "right", 1000.0),
        ("b.png", "b.mfscan.json", "P1", "1", "L4", "left", 820.0),
        ("b.png", "b.mfscan.json", "P1", "1", "L4", "right", 980.0),
        ("c.png", "c.mfscan.json", "P1", "1", None, "left", 700.0),
    ]
    m = pd.DataFrame(rows, columns=["image", "sidecar", "subject", "visit", "level", "side", "csa_px2"])
    m["rater"], m["csa_cm2"], m["calibration"] = "R1", np.nan, "none"
    given = m.copy()
    earlier = pd.DataFrame([{"path": "d.png", "roi": pd.NA, "reason": "not a PNG image"}])
    st = analyse_study(m, errors=earlier)
    pd.testing.assert_frame_equal(m, given)  # the input is not modified
    assert st.measure == "csa_px2" and any("pixels (csa_px2)" in n for n in st.notes)
    assert st.incomplete["image"].tolist() == ["c.png"] and len(st.measurements) == 4
    assert st.incomplete_errors["path"].tolist() == ["c.mfscan.json"]
    assert st.incomplete_errors["reason"].iloc[0].startswith("no level: its 1 outline(s)")
    assert st.errors["path"].tolist() == ["d.png", "c.mfscan.json"]
    (row,) = st.asymmetry.itertuples()
    assert (row.left_csa_px2, row.right_csa_px2) == (810.0, 990.0)  # repeats averaged
    assert row.asymmetry_pct == pytest.approx((990 - 810) / 990 * 100)
    assert st.reliability is None  # one rater, no sessions
    assert st.side_summary["n"].tolist() == [2, 2]
    # one calibrated outline is enough for cm²
    m.loc[0, ["calibration", "csa_cm2"]] = ["manual", 8.0]
    assert analyse_study(m, tables=("asymmetry",)).measure == "csa_cm2"
    # a hand-made table without calibration column, in pixels only
    px = given.drop(columns=["calibration", "csa_cm2", "sidecar", "image"])
    st = analyse_study(px, tables=("asymmetry",))
    assert st.measure == "csa_px2" and st.incomplete_errors["path"].tolist() == ["row 5"]
    assert st.longitudinal is None and st.reliability is None


def test_check_problems_are_written_and_shown_first(tmp_path):
    study = write_tiny_study(tmp_path / "study")
    (study / "subjects.csv").write_text("subject,symptomatic_side,group\nP1,left,control\n")  # P2 left out
    out = tmp_path / "rep"
    assert main(["report", str(study), "-o", str(out), "--no-progress", "--workers", "1"]) == 0
    check = read_table(out / "check.csv")
    listed = check[check["problem"] == "subject_not_listed"]
    assert len(listed) >= 1 and set(listed["subject"].astype(str)) == {"P2"}
    text = (out / "report.html").read_text()
    assert "id='check'" in text and text.index("id='check'") < text.index("id='asymmetry'")
    assert "href='#check'" in text
    # one group in subjects.csv and P2 without one: no contraction (no lines), no agreement (one rater)
    assert "id='contraction'" not in text and "id='agreement'" not in text


def _tree(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_failed_move_into_place_keeps_the_previous_report(tmp_path, monkeypatch, capsys):
    import os

    from mfscan.report import build

    study = write_tiny_study(tmp_path / "study", visits=("1", "2"))
    out = tmp_path / "rep"
    assert main(["report", str(study), "-o", str(out), "--no-progress", "--workers", "1"]) == 0
    (out / "notes.txt").write_text("the user's own file")
    before = _tree(out)
    assert "report.html" in before and any(k.startswith("qc") for k in before)
    write_tiny_study(study, visits=("1", "2", "3"))  # the next report differs (a third visit)
    real_replace, put = os.replace, build._put_in_place

    for nth in (1, 2, 10, 25):

        def failing(src, dst, *a, calls=[], nth=nth, **k):  # noqa: B006 (a fresh list per nth)
            calls.append(1)
            if len(calls) == nth:
                raise OSError(28, "No space left on device")
            return real_replace(src, dst, *a, **k)

        def put_failing(*a, failing=failing, **k):
            with monkeypatch.context() as m:
                m.setattr(os, "replace", failing)
                return put(*a, **k)

        monkeypatch.setattr(build, "_put_in_place", put_failing)
        assert main(["report", str(study), "-o", str(out), "--no-progress", "--workers", "1"]) == 1
        assert "the previous one is kept" in capsys.readouterr().err
        assert _tree(out) == before, f"move {nth} failed"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["rep", "study"]  # nothing left aside
    monkeypatch.setattr(build, "_put_in_place", put)
    assert main(["report", str(study), "-o", str(out), "--no-progress", "--workers", "1"]) == 0
    after = _tree(out)
    assert after["notes.txt"] == b"the user's own file" and after["report.html"] != before["report.html"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep", "study"]


def test_largest_level_rows_show_the_rater_of_the_asymmetry_rows():
    # S1: R1 and R2 traced 8 outlines each (R1 3+3 at L4, 1+1 at L5; R2 2+2 at each): a tie, so
    # R1 by natural order. R1's largest level is L5, (8 - 6) / 8 = 25 % (L4: 10 %); R2's is L4,
    # (8 - 5) / 8 = 37.5 %, with 4 outlines there against R1's 2. The largest-level table must show
    # R1's L5 (the rater of the report's other asymmetry rows), not R2's L4. S2: only R2.
    import types

    from mfscan.report.plots import primary_rows
    from mfscan.report.sections.asymmetry import section as asymmetry_section
    from mfscan.stats.asymmetry import asymmetry, largest_asymmetry_level

    def rows(subject, level, rater, left, right):
        return [
            dict(
                image=f"{subject}_{level}_{rater}_{side}_{i}.png",
                subject=subject,
                visit="1",
                level=level,
                side=side,
                rater=rater,
                csa_cm2=v,
            )
            for side, values in (("left", left), ("right", right))
            for i, v in enumerate(values)
        ]

    m = pd.DataFrame(
        rows("S1", "L4", "R1", [8.0] * 3, [7.2] * 3)
        + rows("S1", "L5", "R1", [8.0], [6.0])
        + rows("S1", "L4", "R2", [8.0] * 2, [5.0] * 2)
        + rows("S1", "L5", "R2", [8.0] * 2, [7.2] * 2)
        + rows("S2", "L4", "R2", [8.0], [7.2])
        + rows("S2", "L5", "R2", [8.0], [6.0])
    )
    asym = asymmetry(m)
    assert set(primary_rows(asym)[["subject", "rater"]].itertuples(index=False)) == {
        ("S1", "R1"),
        ("S2", "R2"),
    }
    res = types.SimpleNamespace(asymmetry=asym, largest=largest_asymmetry_level(asym))
    ctx = types.SimpleNamespace(
        res=res, measure="csa_cm2", threshold_pct=10.0, index="hides", subjects=None, visits=["1"]
    )
    page = "".join(asymmetry_section(ctx))
    part = page[page.index("Level with the largest") :]
    part = part[: part.index("</table>")]
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>", part)]
    cells = [c[:4] + [c[5]] for c in cells if c]  # subject, visit, level, rater, asymmetry_pct
    assert cells == [["S1", "1", "L5", "R1", "25.00"], ["S2", "1", "L5", "R2", "25.00"]]


def test_asymmetry_section_names_the_rater_of_each_subject():
    # S1 and S3 traced by R1 alone (2 outlines per side), S2 by R2 alone: the figures and the
    # flagged rows are R1's for two subjects and R2's for one, not "rater R1" for every subject.
    import types

    from mfscan.report.sections.asymmetry import section as asymmetry_section
    from mfscan.stats.asymmetry import asymmetry

    m = pd.DataFrame(
        [
            dict(subject=s, visit="1", level="L4", side=side, rater=r, csa_cm2=v, image=f"{s}_{side}_{i}.png")
            for s, r in (("S1", "R1"), ("S2", "R2"), ("S3", "R1"))
            for side, v in (("left", 8.0), ("right", 6.0))
            for i in range(2)
        ]
    )
    res = types.SimpleNamespace(asymmetry=asymmetry(m), largest=None)
    ctx = types.SimpleNamespace(
        res=res, measure="csa_cm2", threshold_pct=10.0, index="hides", subjects=None, visits=["1"]
    )
    page = "".join(asymmetry_section(ctx))
    who = "the rater with most outlines per subject and visit: R1 (2 subjects), R2 (1 subject)"
    assert f"Figures: {who}." in page
    assert f"Flagged asymmetries (&gt; 10%): 3 ({who};" in page  # (8 - 6) / 8 = 25 % each
    assert "rater R1" not in page
