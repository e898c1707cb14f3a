"""RUSI contraction table: thickness change and contraction ratio by hand; reliability and
change over visits on its measures; the CLI and the report part."""

import math

import numpy as np
import pandas as pd
import pytest

from mfscan.stats.contraction import contraction_longitudinal, contraction_table


def _row(subject="S1", visit="1", side="left", rater="R1", task="rest", trial=1, cm=3.0, image=None, **kw):
    return {
        "image": image or f"{subject}_{visit}_{side}_{task}_{trial}.png",
        "frame": 0,
        "subject": subject,
        "visit": visit,
        "level": "L5",
        "side": side,
        "rater": rater,
        "session": None,
        "kind": "thickness",
        "task": task,
        "trial": trial,
        "thickness_cm": cm,
        **kw,
    }


def test_thickness_change_and_ratio_by_hand():
    rows = [_row(task="rest", trial=t, cm=v) for t, v in ((1, 3.0), (2, 3.2), (3, 3.1))]
    rows += [_row(task="contracted", trial=t, cm=v) for t, v in ((1, 3.6), (2, 3.8), (3, 3.7))]
    rows.append(_row(kind="fat", task="rest", cm=np.nan, fat_thickness_cm=1.0))  # ignored
    rows.append({**_row(task="rest", cm=9.9), "kind": "outline"})  # ignored
    t = contraction_table(pd.DataFrame(rows))
    assert len(t) == 1
    r = t.iloc[0]
    assert r["rest_thickness_cm"] == pytest.approx(3.1) and r["n_rest"] == 3
    assert r["contracted_thickness_cm"] == pytest.approx(3.7) and r["n_contracted"] == 3
    assert r["rest_sd_cm"] == pytest.approx(0.1) and r["contracted_sd_cm"] == pytest.approx(0.1)
    # (3.7 - 3.1) / 3.1 x 100 = 19.3548...; 3.7 / 3.1 = 1.193548...
    assert r["thickness_change_pct"] == pytest.approx(60 / 3.1)
    assert r["contraction_ratio"] == pytest.approx(3.7 / 3.1)
    assert pd.isna(r["missing_reason"]) and str(r["side"]) == "left"


def test_lines_of_one_trial_are_averaged_first_and_a_missing_task_is_named():
    rows = [
        _row(task="rest", trial=1, cm=3.0, image="a.png"),
        _row(task="rest", trial=1, cm=3.2, image="a.png"),  # two lines on one trial: 3.1
        _row(task="rest", trial=2, cm=3.4, image="b.png"),
        _row(side="right", task="contracted", cm=3.5),
    ]
    t = contraction_table(pd.DataFrame(rows)).set_index("side")
    assert t.loc["left", "rest_thickness_cm"] == pytest.approx((3.1 + 3.4) / 2)
    assert t.loc["left", "n_rest"] == 2 and t.loc["left", "n_contracted"] == 0
    assert t.loc["left", "missing_reason"] == "no contracted thickness"
    assert math.isnan(t.loc["left", "thickness_change_pct"])
    assert t.loc["right", "missing_reason"] == "no rest thickness"


def test_free_task_label_as_the_contraction():
    rows = [_row(task="rest", cm=2.0), _row(task="arm-lift", cm=2.5), _row(task="contracted", cm=9.0)]
    t = contraction_table(pd.DataFrame(rows), contracted_task="arm-lift")
    assert t.iloc[0]["thickness_change_pct"] == pytest.approx(25.0)
    assert t.iloc[0]["contracted_task"] == "arm-lift"


def _two_rater_study():
    """Rest 3.0 cm for everyone; contracted values chosen so each change is a round number."""
    changes = {  # (subject, visit, side): (R1 %, R2 %)
        ("S1", "1", "left"): (10, 12),
        ("S2", "1", "left"): (20, 19),
        ("S3", "1", "left"): (30, 33),
        ("S4", "1", "left"): (15, 14),
        ("S1", "2", "left"): (14, 15),
        ("S1", "1", "right"): (8, 9),
        ("S1", "2", "right"): (18, 17),
    }
    rows = []
    for (s, v, side), pcts in changes.items():
        for rater, pct in zip(("R1", "R2"), pcts, strict=True):
            rows.append(_row(s, v, side, rater, "rest", 1, 3.0))
            rows.append(_row(s, v, side, rater, "contracted", 1, 3.0 * (1 + pct / 100)))
    return pd.DataFrame(rows), changes


def test_reliability_works_on_the_thickness_change():
    import pingouin as pg

    from mfscan.stats.reliability import reliability

    m, changes = _two_rater_study()
    t = contraction_table(m)
    rel = reliability(t, measures=["thickness_change_pct"], pool_visits=True)  # subject-visits
    left = rel[(rel["side"] == "left") & (rel["level"] == "L5")].iloc[0]
    assert left["n_targets"] == 5 and left["judges"] == "R1|R2"
    long = pd.DataFrame(
        [
            {"target": f"{s}/{v}", "rater": r, "score": pct}
            for (s, v, side), pcts in changes.items()
            if side == "left"
            for r, pct in zip(("R1", "R2"), pcts, strict=True)
        ]
    )
    icc = pg.intraclass_corr(long, targets="target", raters="rater", ratings="score").set_index("Type")
    assert left["icc2_1"] == pytest.approx(icc.loc["ICC(A,1)", "ICC"], rel=1e-9)  # ICC(2,1), absolute
    assert left["mean"] == pytest.approx(long["score"].mean())


def test_change_over_visits_of_the_thickness_change_in_percentage_points():
    m, changes = _two_rater_study()
    lon = contraction_longitudinal(contraction_table(m))
    r = lon[(lon["subject"] == "S1") & (lon["rater"] == "R1") & (lon["visit"] == "2")].iloc[0]
    assert r["left_thickness_change_pct"] == pytest.approx(14.0)
    assert r["left_change_pct_points"] == pytest.approx(14.0 - 10.0)
    assert r["right_change_pct_points"] == pytest.approx(18.0 - 8.0)
    assert r["left_change_pct"] == pytest.approx((14 - 10) / 10 * 100)
    ratio = contraction_longitudinal(contraction_table(m), measure="contraction_ratio")
    r2 = ratio[(ratio["subject"] == "S1") & (ratio["rater"] == "R2") & (ratio["visit"] == "2")].iloc[0]
    assert r2["left_change"] == pytest.approx(1.15 - 1.12)


def test_cli_on_a_measurements_csv(tmp_path, capsys):
    from mfscan.cli.main import main

    m, _ = _two_rater_study()
    m.to_csv(tmp_path / "measurements.csv", index=False)  # pandas writes it, mfscan reads it
    out = tmp_path / "contraction.csv"
    assert main(["contraction", str(tmp_path / "measurements.csv"), "-o", str(out)]) == 0
    assert "14 subject/visit/level/side/rater row(s), 14 with rest and contracted" in capsys.readouterr().out
    t = pd.read_csv(out, dtype={"visit": str})
    r = t[(t.subject == "S3") & (t.rater == "R2")].iloc[0]
    assert r["thickness_change_pct"] == pytest.approx(33.0) and r["contraction_ratio"] == pytest.approx(1.33)


def test_cli_names_a_table_without_thickness_columns(tmp_path, capsys):
    from mfscan.cli.main import main

    pd.DataFrame({"subject": ["S1"], "side": ["left"], "level": ["L5"], "csa_cm2": [7.0]}).to_csv(
        tmp_path / "old.csv", index=False
    )
    assert main(["contraction", str(tmp_path / "old.csv"), "-o", str(tmp_path / "c.csv")]) == 1
    assert "lacks column(s) kind, task, thickness_cm" in capsys.readouterr().err


def test_report_part_shows_the_table_and_the_plot():
    import base64
    from types import SimpleNamespace

    from mfscan.report._context import Context
    from mfscan.report.build import _contraction_table
    from mfscan.report.sections.contraction import section

    m, _ = _two_rater_study()
    m.loc[0, "subject"] = "<S&1>"
    parts = section(Context(None, ".", contraction=_contraction_table(SimpleNamespace(measurements=m))))
    html = "".join(parts)
    assert "Activation (RUSI)" in html and "&lt;S&amp;1&gt;" in html and "<S&1>" not in html
    uri = next(p for p in parts if "data:image/png;base64," in p)
    png = base64.b64decode(uri.split("base64,")[1].split("'")[0])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert _contraction_table(SimpleNamespace(measurements=m[m["kind"] == "outline"])) is None
    assert section(Context(None, ".", contraction=None)) == []


def test_rest_reference_and_thickness_change_for_the_live_table():
    from mfscan.stats.contraction import rest_reference, thickness_change

    rows = [_row(task="rest", trial=t, cm=v) for t, v in ((1, 2.9), (2, 3.1))]
    rows += [_row(side="right", task="rest", cm=5.0), _row(task="contracted", cm=3.6)]
    m = pd.DataFrame(rows)
    rest, n = rest_reference(m, subject="S1", visit="1", level="L5", side="left")
    assert (rest, n) == (pytest.approx(3.0), 2)
    assert thickness_change(3.6, rest) == (pytest.approx(20.0), pytest.approx(1.2))
    assert rest_reference(m, subject="S1", visit="2", level="L5", side="left")[1] == 0
    pct, ratio = thickness_change(3.6, 0.0)
    assert math.isnan(pct) and math.isnan(ratio)


def test_report_part_orders_visits_as_the_study_analysis_does(monkeypatch):
    # visits "pre" and "post" dated the other way round from the words: the study's order
    # (the analysis': explicit, else dates, else the rule) is the plot's, never a second policy
    import mfscan.report.plots as plots
    from mfscan.report._context import Context
    from mfscan.report.sections.contraction import section
    from mfscan.stats.contraction import contraction_table

    rows = []
    for visit, pct in (("pre", 10), ("post", 20)):
        rows += [
            _row(visit=visit, task="rest", cm=3.0),
            _row(visit=visit, task="contracted", cm=3.0 * (1 + pct / 100)),
        ]
    shown = []
    real = plots._fig_to_data_uri

    def capture(fig):
        shown.append([t.get_text() for t in fig.axes[0].get_xticklabels()])
        return real(fig)

    monkeypatch.setattr(plots, "_fig_to_data_uri", capture)
    section(
        Context(None, ".", contraction=contraction_table(pd.DataFrame(rows)), visit_order=["post", "pre"])
    )
    assert shown == [["post", "pre"]]
