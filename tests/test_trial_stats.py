"""Issue 20: statistics a real trial can publish (subjects counted once, the right SEM,
small-sample intervals). Oracles: pandas recomputations by hand, statsmodels, pingouin,
scipy distributions and hand formulas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mfscan.errors import MfscanError
from mfscan.stats._mixed_fit import fit_mixed
from mfscan.stats.mixed import fit_trial_model


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
    from mfscan.report.sections.trial import judge_text
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
    # ICC(2,1) by hand from the same ANOVA (Shrout & Fleiss): k raters, n subjects
    k, ms_subjects = x["rater"].nunique(), table.loc["C(subject)", "mean_sq"]
    icc21 = (ms_subjects - ms_error) / (ms_subjects + (k - 1) * ms_error + k * (ms_raters - ms_error) / n)
    sd = x["csa_cm2"].std(ddof=1)
    assert rel["sem"] == pytest.approx(sd * np.sqrt(1 - icc21), rel=1e-9)  # ICC-based, own name
    # between sessions: ICC(2,1) by default (Koo & Li), the same SEM meanings; R2's values as
    # R1's second session give the same two-way table, so the same ANOVA values
    s = pd.concat([m[m["rater"] == "R1"], m[m["rater"] == "R2"].assign(rater="R1", session="2")])
    ses = reliability(s, between="session", measures=["csa_cm2"]).iloc[0]
    assert ses["sem_icc"] == "ICC(2,1)"
    assert ses["sem_consistency"] == pytest.approx(np.sqrt(ms_error), rel=1e-9)
    assert ses["sem_agreement"] == pytest.approx(np.sqrt(ms_error + (ms_raters - ms_error) / n), rel=1e-9)


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
    m["trial"] = m["trial"].astype("Int64")  # as mfscan measure writes it
    m.loc[m["trial"] == 4, "trial"] = pd.NA  # no repeat number: after those with one
    row = repeatability(m, measures=["csa_cm2"]).iloc[0]
    assert row["k"] == 3 and row["n_targets"] == 8 and row["n_images_left_out"] == 3
    ref = pd.DataFrame(chosen, columns=["subject", "trial", "csa_cm2"])
    icc = pg.intraclass_corr(ref, targets="subject", raters="trial", ratings="csa_cm2").set_index("Type")
    assert row["icc1_1"] == pytest.approx(icc.loc["ICC(1,1)", "ICC"], abs=1e-9)


def _nct_quantile_by_integration(q, df, nc):
    """Quantile of the non-central t without scipy's nct: P(T <= t) = E_V[Phi(t sqrt(V/df) - nc)],
    V ~ chi2(df), by quadrature, and a root finder."""
    from scipy import integrate, optimize, stats

    def cdf(t):
        f = lambda v: stats.norm.cdf(t * np.sqrt(v / df) - nc) * stats.chi2.pdf(v, df)  # noqa: E731
        return integrate.quad(f, 0, np.inf, limit=200)[0]

    return optimize.brentq(lambda t: cdf(t) - q, -50, 100, xtol=1e-12)


def test_exact_limits_of_agreement_ci_carkeet():
    from mfscan.stats.icc import bland_altman

    rng = np.random.default_rng(3)
    a = rng.normal(10, 1, 12)
    b = a + rng.normal(0.3, 0.5, 12)
    ba = bland_altman(a, b)
    d = b - a
    n, mean, s = len(d), d.mean(), d.std(ddof=1)
    k_lo = _nct_quantile_by_integration(0.025, n - 1, 1.96 * np.sqrt(n)) / np.sqrt(n)
    k_hi = _nct_quantile_by_integration(0.975, n - 1, 1.96 * np.sqrt(n)) / np.sqrt(n)
    assert ba["loa_upper_exact_ci_lower"] == pytest.approx(mean + k_lo * s, abs=1e-7)
    assert ba["loa_upper_exact_ci_upper"] == pytest.approx(mean + k_hi * s, abs=1e-7)
    assert ba["loa_lower_exact_ci_lower"] == pytest.approx(mean - k_hi * s, abs=1e-7)
    assert ba["loa_lower_exact_ci_upper"] == pytest.approx(mean - k_lo * s, abs=1e-7)
    # the approximate CI (Bland & Altman 1999) stays beside it, unchanged
    half = stats_t(n - 1) * s * np.sqrt(3 / n)
    assert ba["loa_upper_ci_upper"] == pytest.approx(mean + 1.96 * s + half, abs=1e-12)


def stats_t(df):
    from scipy import stats

    return stats.t.ppf(0.975, df)


def test_exact_loa_ci_covers_the_true_limit_95_percent():
    """20000 seeded samples of 8 differences: the exact CI of the upper limit (mu + 1.96 sigma)
    covers it in 95 % (Monte Carlo SD 0.15 points); the approximate one less often. The CI is
    mean + k s with factors k fixed by n: read from bland_altman once, applied to every sample."""
    from mfscan.stats.icc import bland_altman

    rng = np.random.default_rng(7)
    d0 = rng.normal(0, 1, 8)
    ba = bland_altman(np.zeros(8), d0)
    m0, s0 = d0.mean(), d0.std(ddof=1)
    k = {c: (ba[c] - m0) / s0 for c in ba if c.startswith("loa_upper") and c.endswith(("lower", "upper"))}
    d = rng.normal(0.2, 1.0, (20000, 8))
    m, s = d.mean(axis=1), d.std(axis=1, ddof=1)
    true_upper = 0.2 + 1.96

    def coverage(lo, hi):
        return np.mean((m + k[lo] * s <= true_upper) & (true_upper <= m + k[hi] * s))

    assert coverage("loa_upper_exact_ci_lower", "loa_upper_exact_ci_upper") == pytest.approx(0.95, abs=0.005)
    assert coverage("loa_upper_ci_lower", "loa_upper_ci_upper") < 0.94


def _balanced(rng, n_subjects=9, n_groups=3, n_visits=4):
    rows = []
    for i in range(n_subjects):
        u = rng.normal(0, 2.0)
        for v in range(1, n_visits + 1):
            rows.append((f"S{i}", f"g{i % n_groups}", str(v), 10 + u + rng.normal(0, 1.0)))
    return pd.DataFrame(rows, columns=["subject", "group", "visit", "y"])


def test_satterthwaite_df_exact_on_balanced_designs():
    from mfscan.stats._mixed_fit import fixed_effects

    d = _balanced(np.random.default_rng(12))
    # between-subject contrasts of a balanced random-intercept design: n_subjects - n_groups
    fe = fixed_effects(fit_mixed(d, "y ~ group")).set_index("term")
    assert fe.loc["group[T.g1]", "df"] == pytest.approx(9 - 3, abs=1e-3)
    assert fe.loc["group[T.g2]", "df"] == pytest.approx(9 - 3, abs=1e-3)
    # within-subject contrasts (visit, visit x group): (n_subjects - n_groups) (n_visits - 1)
    fe = fixed_effects(fit_mixed(d, "y ~ visit * group")).set_index("term")
    assert fe.loc["visit[T.2]", "df"] == pytest.approx(6 * 3, abs=1e-3)
    assert fe.loc["visit[T.4]:group[T.g2]", "df"] == pytest.approx(6 * 3, abs=1e-3)
    # t interval with that df, by hand
    r = fe.loc["visit[T.2]"]
    q = stats_t(r["df"])
    assert (r["ci_lower"], r["ci_upper"]) == pytest.approx(
        (r["estimate"] - q * r["se"], r["estimate"] + q * r["se"])
    )


def test_satterthwaite_df_sleepstudy_as_lmertest():
    """lmerTest (Kuznetsova et al. 2017) on lme4's sleepstudy, Reaction ~ Days + (1 | Subject):
    df 22.81 (intercept) and 161.0 (Days, within subjects: 180 - 18 - 1)."""
    from pathlib import Path

    from mfscan.stats._mixed_fit import fixed_effects

    sleep = pd.read_csv(Path(__file__).parent / "data" / "sleepstudy.csv").rename(
        columns={"Subject": "subject"}
    )
    for engine in ("reml", "statsmodels"):
        fe = fixed_effects(fit_mixed(sleep, "Reaction ~ Days", engine=engine)).set_index("term")
        assert fe.loc["Days", "df"] == pytest.approx(161.0, abs=0.01)
        assert fe.loc["Intercept", "df"] == pytest.approx(22.81, abs=0.01)


def test_small_trial_contrast_ci_coverage():
    """300 seeded trials of 6 subjects (3 per group, 3 visits, subject SD 4, residual SD 3):
    the 95 % CI of the group difference in change (visit 3 - visit 1), t with Satterthwaite
    df, covers the true -5 in 94-96 % (Monte Carlo SD 1.3 points); Wald z covered ~90 %.
    The REML core on the design fit_mixed builds (built once, for speed)."""
    from scipy import stats

    from mfscan.stats._mixed_fit import design_rows, reml_intercept, satterthwaite_df

    subject = np.repeat(np.arange(6), 3)
    d = pd.DataFrame(
        {
            "subject": subject.astype(str),
            "group": np.where(subject % 2, "exercise", "control"),
            "visit": np.tile(["1", "2", "3"], 6),
        }
    )
    template = fit_mixed(d.assign(y=np.arange(len(d)) % 5 + 0.1 * subject), "y ~ visit * group")
    x = design_rows(template, d)

    def cell(v, g):
        return x[((d["visit"] == v) & (d["group"] == g)).to_numpy()][0]

    w = (cell("3", "exercise") - cell("3", "control")) - (cell("1", "exercise") - cell("1", "control"))
    mu = 20 - np.where(d["group"] == "exercise", 2.5 * (d["visit"].astype(int).to_numpy() - 1), 0)
    rng = np.random.default_rng(20)
    hit_t = hit_z = 0
    for _ in range(300):
        y = mu + rng.normal(0, 4, 6)[subject] + rng.normal(0, 3, len(d))
        r = reml_intercept(y, x, subject)
        est, se = w @ r["beta"], np.sqrt(w @ r["cov"] @ w)
        df = satterthwaite_df(y, x, subject, r["scale"], r["subject_variance"])(w)
        hit_t += abs(est + 5) <= stats.t.ppf(0.975, df) * se
        hit_z += abs(est + 5) <= 1.959964 * se
    assert 0.94 <= hit_t / 300 <= 0.96, hit_t / 300
    assert hit_z / 300 < 0.93  # why small trials need the t interval


def test_model_tables_carry_df_and_t_intervals():
    from scipy import stats

    meas, subs = _one_rater_trial()
    res = fit_trial_model(meas, subs, models=["csa"], mdc=0.5)
    c = res.contrasts.iloc[0]
    # change contrasts are within subjects: 120 observations - 20 subjects - (12 - 2) effects
    assert c["df"] == pytest.approx(90, abs=1e-3)
    q = stats.t.ppf(0.975, c["df"])
    assert (c["ci_lower"], c["ci_upper"]) == pytest.approx(
        (c["estimate"] - q * c["se"], c["estimate"] + q * c["se"])
    )
    assert c["p"] == pytest.approx(2 * stats.t.sf(abs(c["estimate"] / c["se"]), c["df"]))
    assert {"df", "t"} <= set(res.fixed_effects.columns) and "z" not in res.fixed_effects.columns


def test_grras_targets_count_subjects():
    from mfscan.report.sections.grras import _targets_text

    # 36 pooled subject-visits of 12 subjects: the fewer-than-30 warning is about subjects
    text = _targets_text(pd.DataFrame({"n_targets": [36, 36], "n_subjects": [12, 12]}))
    assert text == "36 targets per ICC from 12 subjects (fewer than 30 subjects: wide CIs, Koo & Li 2016)"


def test_reliability_command_visit_options(tmp_path, capsys):
    from mfscan.cli.main import main

    m = _two_visit_rater_study()
    m.to_csv(tmp_path / "m.csv", index=False)
    out = tmp_path / "r.csv"
    assert main(["reliability", str(tmp_path / "m.csv"), "-o", str(out)]) == 0
    r = pd.read_csv(out)
    assert (r["n_subjects"] == 12).all() and (r.loc[r["measure"] == "csa_cm2", "n_targets"] == 12).all()
    assert "n = 12 subjects" in capsys.readouterr().out
    assert main(["reliability", str(tmp_path / "m.csv"), "--visit", "3", "-o", str(out)]) == 0
    assert set(pd.read_csv(out, dtype={"visits": str})["visits"]) == {"3"}
    assert main(["reliability", str(tmp_path / "m.csv"), "--pool-visits", "-o", str(out)]) == 0
    pooled = pd.read_csv(out)
    assert (pooled.loc[pooled["measure"] == "csa_cm2", "n_targets"] == 36).all()
    assert pooled["visits"].str.startswith("pooled").all()
