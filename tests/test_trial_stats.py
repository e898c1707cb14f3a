"""Issue 20: statistics a real trial can publish (subjects counted once, the right SEM,
small-sample intervals). Oracles: pandas recomputations by hand, statsmodels, pingouin,
scipy distributions and hand formulas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mfscan.errors import MfscanError
from mfscan.stats._model_fit import fit_mixed
from mfscan.stats.model import fit_trial_model


def _one_rater_trial(seed=5, n=20, duplicates=(0, 1, 2)):
    """Each subject measured by one sonographer (R1 even, R2 odd), 2 repeats per side; the
    subjects in ``duplicates`` also by the other rater, once per side, 5 cm² off."""
    rng = np.random.default_rng(seed)
    rows, subjects = [], []
    for i in range(n):
        group = "exercise" if i % 2 else "control"
        subjects.append((f"P{i:02d}", "right", group))
        u = rng.normal(0, 1.0)
        own = "R1" if i % 4 < 2 else "R2"
        other = "R2" if own == "R1" else "R1"
        for vi, visit in enumerate(("1", "2", "3")):
            for side in ("left", "right"):
                mu = (
                    9.0
                    + u
                    + (-1.5 + (0.8 * vi if group == "exercise" else 0.1 * vi) if side == "right" else 0)
                )
                m = mu + rng.normal(0, 0.3)
                for _rep in (1, 2):
                    rows.append((f"P{i:02d}", visit, "L5", side, own, "1", m + rng.normal(0, 0.05)))
                if i in duplicates:
                    rows.append((f"P{i:02d}", visit, "L5", side, other, "1", m + 5.0))
    meas = pd.DataFrame(rows, columns=["subject", "visit", "level", "side", "rater", "session", "csa_cm2"])
    return meas, pd.DataFrame(subjects, columns=["subject", "symptomatic_side", "group"])


def _observed_contrast(rows: pd.DataFrame, subs: pd.DataFrame) -> float:
    """Difference in mean change 1 -> 3 of the symptomatic side, exercise - control, by pandas."""
    m = rows[rows["side"] == "right"].groupby(["subject", "visit"])["csa_cm2"].mean().unstack()
    change = (m["3"] - m["1"]).rename("change").reset_index().merge(subs, on="subject")
    means = change.groupby("group")["change"].mean()
    return float(means["exercise"] - means["control"])


def test_model_uses_every_subject_once_with_its_own_rater():
    meas, subs = _one_rater_trial()
    res = fit_trial_model(meas, subs, models=["csa"], mdc=0.5)
    assert res.fits["n_subjects"].iloc[0] == 20  # was 10: only R1's subjects
    own = meas.groupby(["subject", "rater"]).size().groupby(level=0).idxmax().map(lambda t: t[1])
    expected_rows = meas[meas["rater"].to_numpy() == own.loc[meas["subject"]].to_numpy()]
    c = res.contrasts
    sym3 = c[(c["side_status"] == "symptomatic") & (c["visit"] == "3")].iloc[0]
    assert sym3["estimate"] == pytest.approx(_observed_contrast(expected_rows, subs), abs=1e-8)
    # 3 subjects x 3 visits measured twice; one duplicate outline per side: 3 x 3 x 2 left out
    note = next(n for n in res.notes if "duplicate" in n)
    assert "9 subject-visit(s)" in note and "18 duplicate outline(s) left out" in note


def test_model_rater_choice_where_several_measured():
    meas, subs = _one_rater_trial()
    res = fit_trial_model(meas, subs, models=["csa"], rater="R2", mdc=0.5)
    assert res.fits["n_subjects"].iloc[0] == 20
    # --rater R2: R2 for the subjects it measured (its 5 cm2-off duplicates for P00, P01)
    number = meas["subject"].str[1:].astype(int)
    own = np.where(number % 4 < 2, "R1", "R2")
    choice = np.where(number < 3, "R2", own)
    rows = meas[meas["rater"] == choice]
    c = res.contrasts
    sym3 = c[(c["side_status"] == "symptomatic") & (c["visit"] == "3")].iloc[0]
    assert sym3["estimate"] == pytest.approx(_observed_contrast(rows, subs), abs=1e-8)
    with pytest.raises(MfscanError, match="R7"):
        fit_trial_model(meas, subs, rater="R7")


def test_visit_order_naming_a_visit_without_data_is_refused_by_name():
    meas, subs = _one_rater_trial()
    with pytest.raises(MfscanError, match="visit\\(s\\) 4 with no measurement") as err:
        fit_trial_model(meas, subs, visit_order=["1", "2", "3", "4"])
    assert "rank deficient" not in str(err.value)


def test_reference_group_only_where_it_has_data():
    meas, subs = _one_rater_trial()
    subs = subs.copy()
    subs.loc[subs.index % 4 == 3, "group"] = "sham"
    l4 = meas[~meas["subject"].isin(subs.loc[subs["group"] == "control", "subject"])].assign(level="L4")
    res = fit_trial_model(pd.concat([meas, l4]), subs, models=["csa"], mdc=0.5)
    fits = res.fits.set_index("level")
    assert fits.loc["L5", "reference_group"] == "control"
    assert pd.isna(fits.loc["L4", "reference_group"])  # control has no L4 outline
    assert set(res.contrasts["level"]) == {"L5"}
    assert any("reference group control has no data" in n for n in res.notes)


def test_converged_false_when_the_fit_warned():
    rng = np.random.default_rng(1)
    d = pd.DataFrame(
        {"subject": np.repeat(np.arange(6), 3).astype(str), "visit": np.tile(["1", "2", "3"], 6)}
    )
    d["y"] = rng.normal(0, 1, len(d))
    record: dict = {}
    fit_mixed(d, "y ~ visit", engine="statsmodels", record=record)
    assert "boundary" in record["warnings"]  # statsmodels warned
    assert record["converged"] is False


def test_report_csa_over_visits_counts_every_subject_with_its_own_rater():
    from mfscan.report._data import primary_judge, side_means_over_visits
    from mfscan.report._section_trial import judge_text
    from mfscan.stats.summary import summarize_sides

    meas, subs = _one_rater_trial()
    ss = summarize_sides(meas, measures=["csa_cm2"])
    rater, session = primary_judge(ss)
    means = side_means_over_visits(ss, subs, "csa_cm2", rater=rater, session=session)
    assert (means["n_subjects"] == 10).all()  # was 5: R1's subjects only
    number = meas["subject"].str[1:].astype(int)
    own = meas[meas["rater"] == np.where(number % 4 < 2, "R1", "R2")]
    hand = own[own["side"] == "right"].groupby(["subject", "visit"])["csa_cm2"].mean().reset_index()
    hand = hand.merge(subs, on="subject").groupby(["group", "visit"])["csa_cm2"].mean()
    got = means[means["side_status"] == "symptomatic"].set_index(["group", "visit"])["csa_cm2_mean"]
    assert got.sort_index().to_numpy() == pytest.approx(hand.sort_index().to_numpy(), abs=1e-12)
    assert "R1 10, R2 10" in judge_text(rater, session)


def _two_visit_rater_study(seed=4, n=12):
    """Two raters trace every subject at visits 1, 2, 3 (subject effect shared by visits)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        u = rng.normal(8, 1.5)
        for visit in ("1", "2", "3"):
            for rater, offset in (("R1", 0.0), ("R2", 0.4)):
                for side in ("left", "right"):
                    v = u + offset + rng.normal(0, 0.3)
                    rows.append((f"S{i:02d}", visit, "L4", side, rater, "1", f"S{i}_{visit}_{side}.png", v))
    return pd.DataFrame(
        rows, columns=["subject", "visit", "level", "side", "rater", "session", "image", "csa_cm2"]
    )


def test_reliability_counts_subjects_one_visit_each():
    import pingouin as pg

    from mfscan.stats.reliability import reliability

    m = _two_visit_rater_study()
    rel = reliability(m, measures=["csa_cm2"])
    row = rel[rel["side"] == "left"].iloc[0]
    assert row["n_targets"] == 12 and row["n_subjects"] == 12  # was 36 subject-visits
    assert row["visits"].startswith("first of each subject")
    assert "n = 12 targets (< 30)" in row["note"]
    first = m[(m["visit"] == "1") & (m["side"] == "left")]
    ref = pg.intraclass_corr(first, targets="subject", raters="rater", ratings="csa_cm2").set_index("Type")
    assert row["icc2_1"] == pytest.approx(ref.loc["ICC(A,1)", "ICC"], abs=1e-9)
    assert [row["icc2_1_ci_lower"], row["icc2_1_ci_upper"]] == pytest.approx(
        ref.loc["ICC(A,1)", "CI95"], abs=0.01
    )
    second = reliability(m, measures=["csa_cm2"], visit="2")
    assert set(second["visits"]) == {"2"} and (second["n_targets"] == 12).all()
    pooled = reliability(m, measures=["csa_cm2"], pool_visits=True).iloc[0]
    assert pooled["n_targets"] == 36 and pooled["n_subjects"] == 12
    assert pooled["visits"].startswith("pooled") and "36 targets from 12 subjects" in pooled["note"]
    with pytest.raises(MfscanError, match="visit '7'"):
        reliability(m, measures=["csa_cm2"], visit="7")


def test_sem_columns_one_meaning_each():
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    from mfscan.stats.reliability import reliability

    m = _two_visit_rater_study(seed=9)
    rel = reliability(m, measures=["csa_cm2"]).iloc[0]
    x = m[(m["visit"] == "1") & (m["side"] == rel["side"])]
    fit = smf.ols("csa_cm2 ~ C(subject) + C(rater)", data=x).fit()
    table = anova_lm(fit)
    ms_error, ms_raters, n = fit.mse_resid, table.loc["C(rater)", "mean_sq"], x["subject"].nunique()
    assert rel["sem_consistency"] == pytest.approx(np.sqrt(ms_error), rel=1e-9)
    assert rel["sem_agreement"] == pytest.approx(np.sqrt(ms_error + (ms_raters - ms_error) / n), rel=1e-9)
    assert rel["mdc95_consistency"] == pytest.approx(1.96 * np.sqrt(2) * np.sqrt(ms_error), rel=1e-9)
    sd = x["csa_cm2"].std(ddof=1)
    assert rel["sem"] == pytest.approx(sd * np.sqrt(1 - rel["icc2_1"]), rel=1e-9)  # ICC-based, own name
    # between sessions: ICC(2,1) by default (Koo & Li), the same SEM meanings
    s = m[m["rater"] == "R1"].copy()
    s["session"] = np.where(s.index % 4 < 2, "1", "2")
    s = pd.concat([m[m["rater"] == "R1"], m[m["rater"] == "R2"].assign(rater="R1", session="2")])
    ses = reliability(s, between="session", measures=["csa_cm2"]).iloc[0]
    assert ses["sem_icc"] == "ICC(2,1)"
    assert ses["sem_consistency"] == pytest.approx(rel["sem_consistency"], rel=1e-9)


def test_model_share_beyond_mdc_uses_the_agreement_mdc():
    meas, subs = _one_rater_trial()
    rel = pd.DataFrame(
        {
            "measure": ["csa_cm2"] * 2,
            "level": ["L5"] * 2,
            "side": ["left", "right"],
            "between": ["session"] * 2,
            "rater": ["R1"] * 2,
            "mdc95": [0.01, 0.01],  # ICC-based: would count every change
            "mdc95_agreement": [5.0, 5.0],  # no simulated change exceeds 5 cm2
        }
    )
    res = fit_trial_model(meas, subs, models=["csa"], reliability=rel)
    assert (res.change["mdc95"] == 5.0).all()
    assert (res.change["n_beyond_mdc95"] == 0).all()


def test_asymmetry_command_writes_rows_in_visit_order(tmp_path):
    from mfscan.cli.main import main

    rows = []
    for subject in ("S1", "S2"):
        for visit in ("post", "pre", "follow-up"):
            for side, csa in (("left", 8.0), ("right", 7.2)):
                rows.append((subject, visit, "L5", side, "R1", csa))
    m = pd.DataFrame(rows, columns=["subject", "visit", "level", "side", "rater", "csa_cm2"])
    m.to_csv(tmp_path / "m.csv", index=False)
    assert main(["asymmetry", str(tmp_path / "m.csv"), "-o", str(tmp_path / "a.csv")]) == 0
    a = pd.read_csv(tmp_path / "a.csv", dtype={"visit": str})
    assert list(a.loc[a["subject"] == "S1", "visit"]) == ["pre", "post", "follow-up"]  # not text order
    assert a["asymmetry_pct"].round(6).eq(10.0).all()  # hides: (8.0 - 7.2) / 8.0
    out = tmp_path / "b.csv"
    assert (
        main(["asymmetry", str(tmp_path / "m.csv"), "--visit-order", "follow-up,pre,post", "-o", str(out)])
        == 0
    )
    b = pd.read_csv(out, dtype={"visit": str})
    assert list(b.loc[b["subject"] == "S2", "visit"]) == ["follow-up", "pre", "post"]


def test_repeatability_takes_images_by_repeat_number_not_file_name():
    import pingouin as pg

    from mfscan.stats.repeatability import repeatability

    rng = np.random.default_rng(21)
    rows, chosen = [], []
    for i in range(8):
        u = rng.normal(8, 1.2)
        values = u + rng.normal(0, 0.2, 3)
        for trial, v in zip((1, 2, 3), values):
            # file names against the repeat order: trial 3 is "a", trial 1 is "c"
            rows.append((f"S{i}", "1", "L5", "left", "R1", f"S{i}_{'cba'[trial - 1]}.png", trial, v))
            chosen.append((f"S{i}", trial, v))
        if i < 3:  # a fourth repeat, named first, far off: left out as trial 4
            rows.append((f"S{i}", "1", "L5", "left", "R1", f"S{i}_0.png", 4, u + 5.0))
    m = pd.DataFrame(
        rows, columns=["subject", "visit", "level", "side", "rater", "image", "trial", "csa_cm2"]
    )
    row = repeatability(m, measures=["csa_cm2"]).iloc[0]
    assert row["k"] == 3 and row["n_targets"] == 8 and row["n_images_left_out"] == 3
    ref = pd.DataFrame(chosen, columns=["subject", "trial", "csa_cm2"])
    icc = pg.intraclass_corr(ref, targets="subject", raters="trial", ratings="csa_cm2").set_index("Type")
    assert row["icc1_1"] == pytest.approx(icc.loc["ICC(1,1)", "ICC"], abs=1e-9)
