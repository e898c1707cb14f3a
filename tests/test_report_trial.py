"""The report's Hides-style figures and tables, tables that fit the page, the GRRAS
checklist and the extra-section hooks; every expected value computed by hand."""

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from mfscan.annotations import ROI, Annotation, write_sidecar
from mfscan.calibration import manual

T975_DF1 = 12.706204736174698  # t(0.975, 1), from a t table
T975_DF2 = 4.302652729749464  # t(0.975, 2)


def _side_rows(rows):
    """Measurement-like rows: (subject, visit, level, side, csa_cm2) with repeats as separate rows."""
    df = pd.DataFrame(rows, columns=["subject", "visit", "level", "side", "csa_cm2"])
    df["rater"] = "R1"
    df["session"] = np.nan
    df["image"] = [f"{s}_{v}_{i}.png" for i, (s, v) in enumerate(zip(df.subject, df.visit))]
    return df


def _small_study():
    # P1 pain right, P2 pain left (group A); P3 pain right (group B, n = 1). Visits 1, 2, 10.
    rows = []
    values = {
        ("P1", "left"): {"1": [8.0, 8.2], "2": [8.1, 8.1], "10": [8.0, 8.0]},
        ("P1", "right"): {"1": [5.8, 6.2], "2": [6.5, 6.5], "10": [7.0, 7.2]},
        ("P2", "left"): {"1": [7.0, 7.0], "2": [7.4, 7.6], "10": [8.0, 8.0]},
        ("P2", "right"): {"1": [9.0, 9.4], "2": [9.0, 9.0], "10": [9.1, 9.1]},
        ("P3", "left"): {"1": [8.0, 8.0], "2": [8.0, 8.0], "10": [8.0, 8.0]},
        ("P3", "right"): {"1": [6.0, 6.0], "2": [6.2, 6.2], "10": [6.4, 6.4]},
    }
    for (subject, side), by_visit in values.items():
        for visit, reps in by_visit.items():
            rows += [(subject, visit, "L4", side, v) for v in reps]
    subjects = pd.DataFrame(
        {
            "subject": ["P1", "P2", "P3"],
            "symptomatic_side": ["right", "left", "right"],
            "group": ["A", "A", "B"],
        }
    )
    return _side_rows(rows), subjects


def _means(meas, subjects, order=None):
    from mfscan.report._data import side_means_over_visits
    from mfscan.stats.summary import summarize_sides

    ss = summarize_sides(meas, measures=["csa_cm2"])
    return side_means_over_visits(ss, subjects, "csa_cm2", visit_order=order, rater="R1", session=None)


def test_sides_figure_plots_group_means_of_subject_means_with_ci():
    from mfscan.report.plots_trial import sides_figure

    meas, subjects = _small_study()
    means = _means(meas, subjects)
    # by hand: symptomatic side of group A at visit 1 = mean(P1 right 6.0, P2 left 7.0)
    a1 = means[(means.group == "A") & (means.visit == "1")].set_index("side_status")
    assert a1.loc["symptomatic", "csa_cm2_mean"] == pytest.approx(6.5)
    assert a1.loc["asymptomatic", "csa_cm2_mean"] == pytest.approx((8.1 + 9.2) / 2)
    assert a1.loc["symptomatic", "n_subjects"] == 2
    half = T975_DF1 * np.std([6.0, 7.0], ddof=1) / np.sqrt(2)
    assert a1.loc["symptomatic", "csa_cm2_ci_lower"] == pytest.approx(6.5 - half)
    assert a1.loc["symptomatic", "csa_cm2_ci_upper"] == pytest.approx(6.5 + half)
    b = means[means.group == "B"]
    assert (b.n_subjects == 1).all() and b.csa_cm2_ci_lower.isna().all()  # n = 1: no CI

    fig = sides_figure(means, "csa_cm2", ["1", "2", "10"])
    axes = fig.get_axes()
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["1", "2", "10"]
    lines = {ln.get_gid(): ln for ln in axes[0].get_lines() if ln.get_gid()}
    # group A, L4: symptomatic = (P1 right, P2 left) per visit; asymptomatic = (P1 left, P2 right)
    assert lines["symptomatic|"].get_ydata() == pytest.approx([6.5, (6.5 + 7.5) / 2, (7.1 + 8.0) / 2])
    assert lines["asymptomatic|"].get_ydata() == pytest.approx(
        [(8.1 + 9.2) / 2, (8.1 + 9.0) / 2, (8.0 + 9.1) / 2]
    )
    assert np.round(lines["symptomatic|"].get_xdata()).tolist() == [0, 1, 2]  # visit 10 last
    lines_b = {ln.get_gid(): ln for ln in axes[1].get_lines() if ln.get_gid()}
    assert lines_b["symptomatic|"].get_ydata() == pytest.approx([6.0, 6.2, 6.4])  # P3's right side
    assert "(n = 2)" in axes[0].get_title() and "(n = 1)" in axes[1].get_title()


def test_side_marking_follows_symptomatic_side():
    from mfscan.report.plots_trial import sides_figure

    meas, subjects = _small_study()
    swapped = subjects.assign(symptomatic_side=["left", "left", "left"])
    means = _means(meas, swapped)
    lines = {
        ln.get_gid(): ln for ln in sides_figure(means, "csa_cm2", ["1", "2", "10"]).get_axes()[0].get_lines()
    }
    # now P1's left side is symptomatic: (P1 left 8.1, P2 left 7.0) at visit 1
    assert lines["symptomatic|"].get_ydata()[0] == pytest.approx((8.1 + 7.0) / 2)
    # no symptomatic side: left and right drawn, each the mean of both subjects' side
    none = subjects.assign(symptomatic_side=["none", "none", "none"])
    means = _means(meas, none)
    assert set(means.side_status) == {"none"} and set(means.side) == {"left", "right"}
    lines = {
        ln.get_gid(): ln for ln in sides_figure(means, "csa_cm2", ["1", "2", "10"]).get_axes()[0].get_lines()
    }
    assert lines["none|right"].get_ydata()[0] == pytest.approx((6.0 + 9.2) / 2)
    # a side_status column already in the table is used as it is
    from mfscan.report._data import with_side_status

    t = pd.DataFrame({"subject": ["P1"], "side": ["left"], "side_status": ["symptomatic"]})
    assert with_side_status(t, subjects)["side_status"].iloc[0] == "symptomatic"


def test_deficit_over_visits_per_group():
    from mfscan.report._data import deficit_over_visits

    asym = pd.DataFrame(
        {
            "subject": ["P1", "P2", "P3", "P1", "P2", "P3", "P4"],
            "group": ["A", "A", "A", "A", "A", "A", "B"],
            "level": "L5",
            "visit": ["2", "2", "2", "10", "10", "10", "2"],
            "rater": "R1",
            "symptomatic_deficit_pct": [10.0, 20.0, 30.0, 5.0, np.nan, 7.0, 12.0],
        }
    )
    d = deficit_over_visits(asym, visit_order=["2", "10"], rater="R1")
    assert d[["group", "visit"]].values.tolist() == [["A", "2"], ["A", "10"], ["B", "2"]]
    a2 = d.iloc[0]
    assert a2.n_subjects == 3 and a2.symptomatic_deficit_pct_mean == pytest.approx(20.0)
    assert a2.symptomatic_deficit_pct_ci_upper - 20 == pytest.approx(T975_DF2 * 10 / np.sqrt(3))
    assert d.iloc[1].n_subjects == 2 and d.iloc[1].symptomatic_deficit_pct_mean == pytest.approx(6.0)
    assert d.iloc[2].n_subjects == 1 and np.isnan(d.iloc[2].symptomatic_deficit_pct_ci_lower)


def test_sessions_in_natural_order_beside_rater():
    from mfscan.report._tables import sort_rows, table

    df = pd.DataFrame(
        {"session": ["10", "2", None, "1"], "value_cm2": [4.0, 3.0, 1.0, 2.0], "rater": "R1", "subject": "S1"}
    )
    out = sort_rows(df)
    assert out["session"].tolist()[1:] == ["1", "2", "10"] and pd.isna(out["session"].iloc[0])
    html = table(out)
    head = re.findall(r"<th[^>]*>(.*?)</th>", html)
    assert head[:3] == ["subject", "rater", "session"]  # key columns first, session beside rater
    assert re.findall(r"<td class=''>(\d\.\d\d)</td>", html) == ["1.00", "2.00", "3.00", "4.00"]
    from mfscan.report.sections.reliability import reliability_display

    rel = pd.DataFrame({"between": ["session"], "judges": ["1|10|2"], "icc3_1": [0.9]})
    assert reliability_display(rel)["judges"].iloc[0] == "1|2|10"


def test_wide_tables_split_into_column_groups():
    from mfscan.report._tables import table

    wide = pd.DataFrame({f"measure_number_{i:02d}_cm2": [1.5 + i, 2.5] for i in range(30)})
    wide.insert(0, "visit", ["1", "2"])
    wide.insert(0, "subject", ["S1", "S2"])
    html = table(wide)
    parts = re.findall(r"<table>(.*?)</table>", html)
    assert len(parts) >= 2
    seen = []
    for p in parts:
        head = [h.replace("<wbr>", "") for h in re.findall(r"<th[^>]*>(.*?)</th>", p)]
        assert head[:2] == ["subject", "visit"]  # key columns repeated in every group
        seen += head[2:]
        width = sum(max(len(h.split("_")[0]), 6) for h in head)
        assert width < 1110 / 7  # each group fits in the page by its own estimate
    assert seen == [c for c in wide.columns[2:]]  # every other column exactly once, in order
    narrow = table(wide.iloc[:, :5])
    assert narrow.count("<table>") == 1 and "part 1" not in narrow


def write_study(folder: Path, subjects=None, raters=("R1", "R2")) -> Path:
    """Subjects P1-P2 (or as given), visits 1 and 2, L4, one image per visit and rater."""
    folder.mkdir(parents=True, exist_ok=True)
    image = np.tile(np.arange(160, dtype=np.uint8), (120, 1))
    left = [[30, 20], [30, 40], [50, 40], [50, 20]]
    right = [[30, 100], [30, 125], [50, 125], [50, 100]]
    for subject in subjects or ("P1", "P2"):
        for visit in ("1", "2"):
            name = f"{subject}_{visit}.png"
            cv2.imwrite(str(folder / name), image)
            for rater in raters:
                write_sidecar(
                    folder / f"{subject}_{visit}.{rater}.mfscan.json",
                    Annotation(
                        name,
                        [ROI("left", left), ROI("right", right)],
                        calibration=manual(0.1),
                        subject=subject,
                        visit=visit,
                        level="L4",
                        rater=rater,
                    ),
                )
    return folder


def _grras(text: str) -> str:
    return text[text.index("id='grras'") : text.index("</table>", text.index("id='grras'"))]


def test_grras_lists_raters_and_blinding_from_the_settings_file(tmp_path):
    from mfscan.report import build_report

    study = write_study(tmp_path / "study", raters=("R2", "R10", "R1"))
    (study / "mfscan.study.json").write_text(
        json.dumps({"format": "mfscan.study", "version": 1, "pattern": None, "blinded": True, "orders": {}})
    )
    build_report(study, tmp_path / "rep", workers=1, progress=False)
    g = _grras((tmp_path / "rep" / "report.html").read_text())
    assert "3: R1; R2; R10" in g
    assert "yes, as recorded in mfscan.study.json" in g
    assert "2 subject(s) measured" in g and "2 visit(s) (1, 2)" in g
    assert "ICC(2,1), two-way random effects, absolute agreement" in g
    (study / "mfscan.study.json").write_text(
        json.dumps({"format": "mfscan.study", "version": 1, "blinded": False})
    )
    build_report(study, tmp_path / "rep", workers=1, progress=False)
    assert "no, as recorded in mfscan.study.json" in _grras((tmp_path / "rep" / "report.html").read_text())
    (study / "mfscan.study.json").unlink()
    build_report(study, tmp_path / "rep", workers=1, progress=False)
    assert "not recorded (the study folder has no mfscan.study.json)" in _grras(
        (tmp_path / "rep" / "report.html").read_text()
    )


def test_n1_note_group_sizes_and_extra_sections(tmp_path):
    from mfscan.report import build_report

    study = write_study(tmp_path / "study", subjects=("P1", "P2", "P3"), raters=("R1",))
    (study / "subjects.csv").write_text(
        "subject,symptomatic_side,group\nP1,right,ex\nP2,left,ex\nP3,left,solo\n"
    )
    seen = []

    def top(ctx):
        seen.append(len(ctx.res.measurements))
        return ["<div class='warn' id='dummy-top'>check problems here</div>"]

    def extra(ctx):
        return ["<h2 id='dummy-part'>Dummy section</h2>", "<p>model table</p>"]

    build_report(study, tmp_path / "rep", workers=1, progress=False, top_parts=[top], parts=[extra])
    text = (tmp_path / "rep" / "report.html").read_text()
    assert seen == [3 * 2 * 2]  # called once with the measured result: 3 subjects x 2 visits x 2 sides
    assert "<b>n = 1</b> in group(s) solo" in text
    assert "<b>2</b>subjects in group ex" in text and "<b>1</b>subjects in group solo" in text
    order = [text.index(s) for s in ("class='cards'", "id='dummy-top'", "id='asymmetry'", "id='sides'")]
    assert order == sorted(order)
    order = [text.index(s) for s in ("id='grras'", "id='dummy-part'", "<p>model table</p>", "id='images'")]
    assert order == sorted(order)
    assert "id='deficit'" in text


def test_render_html_writes_the_sections_in_the_order_given(tmp_path):
    from mfscan.report import build_report
    from mfscan.report._context import Context
    from mfscan.report.html import render_html
    from mfscan.report.sections import asymmetry, closing, images

    study = write_study(tmp_path / "study", raters=("R1",))
    res = build_report(study, tmp_path / "rep", workers=1, progress=False)
    a = res.analysis
    ctx = Context(res, study, groups=a.group_summary, threshold_pct=10, index="hides", measure=a.measure)
    seen = []

    def top(c):
        seen.append(c)
        return ["<p id='t1'>top</p>"]

    page = render_html(
        ctx,
        [top, asymmetry.section, lambda c: ["<h2 id='p1'>part</h2>"], images.section, closing.section],
    )
    assert seen == [ctx]  # each section called once, with the context
    assert (
        page.index("id='t1'")
        < page.index("id='asymmetry'")
        < page.index("id='p1'")
        < page.index("id='images'")
    )
    assert "id='grras'" not in page  # only the sections given
    assert page.count("Research use only.") == 2


def test_blinding_of_an_unreadable_settings_file(tmp_path):
    from mfscan.report.sections.grras import _blinding_text

    (tmp_path / "mfscan.study.json").write_text("{not json")
    assert _blinding_text(tmp_path) == "not known: mfscan.study.json could not be read"
    (tmp_path / "mfscan.study.json").write_text(
        json.dumps({"format": "mfscan.study", "blinded": True, "orders": {"R1/1": {}, "R2/1": {}}})
    )
    assert _blinding_text(tmp_path).startswith("yes, as recorded in mfscan.study.json")
    assert "recorded for 2 rater/session(s)" in _blinding_text(tmp_path)


def test_visit_sequence_is_the_one_visit_order_policy():
    """The report's visit axis comes from the study's policy (mfscan.visits.study_visit_order):
    the analysis' order restricted to the visits shown, else the rule (pre < post, by the words,
    though "post" < "pre" as text); a visit the order lacks is refused, never placed after it by
    another rule (natural text order put "fu" last and "10wk" before "4wk" before)."""
    from mfscan.errors import MfscanError
    from mfscan.report._data import visit_sequence

    assert visit_sequence(["post", "pre", "post"]) == ["pre", "post"]
    assert visit_sequence(["10wk", "baseline", "4wk"]) == ["baseline", "4wk", "10wk"]
    assert visit_sequence(["b", "a"], ["b", "c", "a"]) == ["b", "a"]  # the analysis' order, dates and all
    with pytest.raises(MfscanError, match="--visit-order lacks visit"):
        visit_sequence(["pre", "post", "fu"], ["pre", "post"])
    with pytest.raises(MfscanError, match="--visit-order"):
        visit_sequence(["pre", "later"])  # "later" is no word of the rule
