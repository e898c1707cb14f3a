"""Linear mixed models of a trial (mfscan model).

Reference values: lme4's sleepstudy (Belenky et al. 2003; tests/data/sleepstudy.csv, the
180 rows of lme4's data set): REML fixed effects 251.405 (intercept) and 10.467 (Days)
for both (1 | Subject) and (Days | Subject); standard errors 9.747 / 0.804 and
6.825 / 1.546; variance components 1378.2 and 960.5 (random intercept) and REML
criteria 1786.5 and 1743.6 (Bates et al. 2015, J Stat Softw 67(1), and lme4's output).
Simulations have known effects; observed means are recomputed with pandas.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from scipy import stats

import mfscan.stats._mixed_data as mixed_data
from mfscan.cli.main import main
from mfscan.errors import MfscanError
from mfscan.report._context import Context
from mfscan.report.sections import mixed_models
from mfscan.stats._mixed_fit import design_rows, fit_mixed, fixed_effects, hedges_g, reml_intercept
from mfscan.stats.asymmetry import side_status
from mfscan.stats.mixed import fit_trial_model

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def sleep():
    return pd.read_csv(DATA / "sleepstudy.csv").rename(columns={"Subject": "subject"})


@pytest.mark.parametrize("engine", ["reml", "statsmodels"])
def test_sleepstudy_random_intercept(sleep, engine):
    assert len(sleep) == 180 and sleep["subject"].nunique() == 18
    fit = fit_mixed(sleep, "Reaction ~ Days", engine=engine)
    fe = fixed_effects(fit).set_index("term")
    assert round(fe.loc["Intercept", "estimate"], 3) == 251.405
    assert round(fe.loc["Days", "estimate"], 3) == 10.467
    assert fe.loc["Intercept", "se"] == pytest.approx(9.7467, abs=2e-4)
    assert fe.loc["Days", "se"] == pytest.approx(0.8042, abs=1e-4)
    assert fit.record["subject_variance"] == pytest.approx(1378.2, abs=0.1)
    assert fit.record["residual_variance"] == pytest.approx(960.46, abs=0.01)
    assert fit.record["reml_criterion"] == pytest.approx(1786.465, abs=1e-3)
    assert fit.record["converged"] and fit.record["method"] == "REML"


def test_sleepstudy_random_slope(sleep):
    fit = fit_mixed(sleep, "Reaction ~ Days", engine="statsmodels", re_formula="~ Days")
    fe = fixed_effects(fit).set_index("term")
    assert round(fe.loc["Intercept", "estimate"], 3) == 251.405
    assert round(fe.loc["Days", "estimate"], 3) == 10.467
    assert fe.loc["Intercept", "se"] == pytest.approx(6.825, abs=1e-3)
    assert fe.loc["Days", "se"] == pytest.approx(1.546, abs=1e-3)
    assert fit.record["reml_criterion"] == pytest.approx(1743.628, abs=1e-3)
    assert fit.record["formula"] == "Reaction ~ Days + (Days | subject)"


def test_closed_form_reml_equals_statsmodels_on_an_unbalanced_design():
    rng = np.random.default_rng(3)
    rows = []
    for s in range(40):
        u = rng.normal(0, 1.5)
        for v in ("1", "2", "3"):
            for side in ("asymptomatic", "symptomatic"):
                if rng.random() < 0.15:
                    continue
                rows.append((f"S{s}", "a" if s % 3 else "b", v, side, 8 + u + rng.normal(0, 0.6)))
    d = pd.DataFrame(rows, columns=["subject", "group", "visit", "side_status", "y"])
    f = "y ~ side_status * visit * group"
    a, b = fit_mixed(d, f), fit_mixed(d, f, engine="statsmodels")
    assert np.allclose(a.fe_params, b.fe_params, atol=1e-5)
    assert np.allclose(np.sqrt(np.diag(a.cov)), np.sqrt(np.diag(b.cov)), rtol=1e-3)
    assert a.record["reml_criterion"] == pytest.approx(b.record["reml_criterion"], abs=1e-5)


def _trial(rng, n_per_group=30, effect=0.6, levels=("L4", "L5"), repeats=3, noise=0.3):
    """Outline rows of a simulated trial: the exercise group's symptomatic side gains
    ``effect`` cm2 more than the control group's by visit 3 (half by visit 2)."""
    rows, subjects = [], []
    for i in range(2 * n_per_group):
        group = "exercise" if i % 2 else "control"
        sym = "right" if i % 3 else "left"
        subjects.append((f"P{i:03d}", sym, group))
        u = rng.normal(0, 1.0)
        for level in levels:
            for vi, visit in enumerate(("1", "2", "3")):
                for side in ("left", "right"):
                    mu = 9.0 + u + (0.5 if level == "L5" else 0.0)
                    if side == sym:
                        mu += -1.5 + 0.2 * vi + (effect * vi / 2 if group == "exercise" else 0.0)
                    side_mean = mu + rng.normal(0, noise)
                    for rep in range(repeats):
                        rows.append(
                            (f"P{i:03d}", visit, level, side, "R1", side_mean + rng.normal(0, 0.1), rep)
                        )
    meas = pd.DataFrame(rows, columns=["subject", "visit", "level", "side", "rater", "csa_cm2", "repeat"])
    subs = pd.DataFrame(subjects, columns=["subject", "symptomatic_side", "group"])
    return meas, subs


@pytest.fixture(scope="module")
def trial():
    meas, subs = _trial(np.random.default_rng(11))
    return meas, subs, fit_trial_model(meas, subs, mdc=0.5, pooled=True)


def test_simulated_effect_inside_the_ci_and_equal_to_observed_means(trial):
    meas, subs, res = trial
    c = res.contrasts
    sym = c[(c["model"] == "csa") & (c["side_status"] == "symptomatic") & (c["visit"] == "3")]
    assert set(sym["level"]) == {"L4", "L5", "pooled"}
    for r in sym.itertuples():
        assert r.ci_lower < 0.6 < r.ci_upper, r
        assert r.p < 0.05
    # complete balanced data: the contrast equals the difference of observed mean changes
    m = meas.groupby(["subject", "visit", "level", "side"], as_index=False)["csa_cm2"].mean()
    m = m.merge(subs, on="subject")
    m = m[(m["side"] == m["symptomatic_side"]) & (m["level"] == "L5")]
    wide = m.pivot_table(index=["subject", "group"], columns="visit", values="csa_cm2").reset_index()
    wide["change"] = wide["3"] - wide["1"]
    means = wide.groupby("group")["change"].mean()
    l5 = sym.set_index("level").loc["L5"]
    assert l5["estimate"] == pytest.approx(means["exercise"] - means["control"], abs=1e-8)
    g = pg.compute_effsize(
        wide.loc[wide["group"] == "exercise", "change"],
        wide.loc[wide["group"] == "control", "change"],
        eftype="hedges",
    )
    assert l5["hedges_g"] == pytest.approx(g, rel=1e-9)
    assert l5["hedges_g_ci_lower"] < g < l5["hedges_g_ci_upper"]
    # the asymptomatic side has no simulated group difference
    asym = c[(c["model"] == "csa") & (c["side_status"] == "asymptomatic") & (c["level"] == "L5")]
    assert (asym["ci_lower"] < 0).all() and (asym["ci_upper"] > 0).all()


def test_change_table_and_mdc_share(trial):
    meas, subs, res = trial
    ch = res.change
    row = ch[(ch["model"] == "csa") & (ch["level"] == "L4") & (ch["side_status"] == "symptomatic")]
    row = row[(row["group"] == "exercise") & (row["visit"] == "3")].iloc[0]
    m = meas[meas["level"] == "L4"].groupby(["subject", "visit", "side"], as_index=False)["csa_cm2"].mean()
    m = m.merge(subs, on="subject")
    m = m[(m["side"] == m["symptomatic_side"]) & (m["group"] == "exercise")]
    w = m.pivot_table(index="subject", columns="visit", values="csa_cm2")
    change = (w["3"] - w["1"]).to_numpy()
    lo, hi = stats.t.interval(0.95, len(change) - 1, loc=change.mean(), scale=stats.sem(change))
    assert row["n_subjects"] == len(change) == 30
    assert row["mean_change"] == pytest.approx(change.mean(), abs=1e-10)
    assert (row["ci_lower"], row["ci_upper"]) == pytest.approx((lo, hi), abs=1e-10)
    assert row["pct_beyond_mdc95"] == pytest.approx(100 * np.mean(np.abs(change) > 0.5))
    assert row["pct_increase_beyond_mdc95"] == pytest.approx(100 * np.mean(change > 0.5))
    assert row["unit"] == "cm²"


def test_model_statement_and_deficit_model(trial):
    _, _, res = trial
    f = res.fits.set_index(["model", "level"])
    assert f.loc[("csa", "L5"), "formula"] == "csa_cm2 ~ side_status * visit * group + (1 | subject)"
    assert f.loc[("deficit", "L4"), "formula"] == "deficit_pct ~ visit * group + (1 | subject)"
    assert f.loc[("csa", "pooled"), "formula"].startswith("csa_cm2 ~ level + ")
    assert f.loc[("csa", "L5"), "n_subjects"] == 60 and f.loc[("csa", "L5"), "n_observations"] == 360
    assert f["converged"].all() and (f["method"] == "REML").all()
    assert "averaged" in f["repeats"].iloc[0]
    # the deficit shrinks more in the exercise group: a negative difference in change
    d = res.contrasts[(res.contrasts["model"] == "deficit") & (res.contrasts["visit"] == "3")]
    assert (d["estimate"] < 0).all() and (d["ci_upper"] < 0).all()
    html = "".join(mixed_models.section(Context(None, ".", mixed_models=res)))
    assert "csa_cm2 ~ side_status * visit * group + (1 | subject)" in html and "Hedges" in html


def test_null_effect_rejection_rate_is_nominal():
    """No group x visit effect: the Wald tests of both interaction terms reject at about 5 %.

    600 simulated trials (24 subjects per group, 3 visits, subject SD 4, residual SD 3),
    fitted by the REML core on the design that fit_mixed builds (built once, for speed);
    the Monte Carlo SD of a 5 % rate over 600 runs is 0.9 points.
    """
    n, runs = 24, 600
    subject = np.repeat(np.arange(2 * n), 3)
    d = pd.DataFrame(
        {
            "subject": subject,
            "group": np.where(subject % 2 == 0, "control", "exercise"),
            "visit": np.tile(["1", "2", "3"], 2 * n),
            "y": 0.0,
        }
    )
    fit = fit_mixed(d.assign(y=np.arange(len(d)) % 7), "y ~ visit * group")
    x = design_rows(fit, d)
    names = list(fit.fe_params.index)
    cols = [names.index("visit[T.2]:group[T.exercise]"), names.index("visit[T.3]:group[T.exercise]")]
    rng = np.random.default_rng(2026)
    rejected = np.zeros(2)
    for _ in range(runs):
        y = 20 + rng.normal(0, 4, 2 * n)[subject] + rng.normal(0, 3, len(subject))
        r = reml_intercept(y, x, subject)
        z = r["beta"][cols] / np.sqrt(np.diag(r["cov"])[cols])
        rejected += 2 * stats.norm.sf(np.abs(z)) < 0.05
    rate = rejected / runs
    assert np.all(np.abs(rate - 0.05) <= 0.03), rate


def test_hedges_g_ci_by_hand():
    a, b = [1.2, 0.8, 1.5, 1.1, 0.9], [0.4, 0.6, 0.2, 0.7]
    g, lo, hi = hedges_g(a, b)
    assert g == pytest.approx(pg.compute_effsize(a, b, eftype="hedges"), rel=1e-12)
    se = np.sqrt(9 / 20 + g**2 / 18)  # (na + nb) / (na nb) + g^2 / (2 (na + nb))
    assert (lo, hi) == pytest.approx((g - 1.959964 * se, g + 1.959964 * se), abs=1e-5)
    assert all(np.isnan(hedges_g([1.0], [2.0, 3.0])))


def test_side_status_on_opposite_painful_sides():
    s = side_status(["left", "right", "left", "right", "left"], ["left", "left", "right", "bilateral", None])
    assert [None if pd.isna(v) else v for v in s] == [
        "symptomatic", "asymptomatic", "asymptomatic", "bilateral", None
    ]  # fmt: skip
    # one function decides side status: the model's data preparation has no copy of the rule
    assert not hasattr(mixed_data, "side_status_of")


def test_visit_order_adjustment_and_errors(trial):
    meas, subs, _ = trial
    words = meas.assign(visit=meas["visit"].map({"1": "pre", "2": "4wk", "3": "10wk"}))
    res = fit_trial_model(words, subs, visit_order=["pre", "4wk", "10wk"], level="L5", models=["csa"])
    assert set(res.contrasts["visit"]) == {"4wk", "10wk"}
    assert (res.fits["baseline_visit"] == "pre").all()
    adj = fit_trial_model(meas, subs, level="L5", adjust_baseline=True, models=["csa"])
    assert (
        adj.fits["formula"].iloc[0]
        == "csa_cm2 ~ baseline_csa_cm2 + side_status * visit * group + (1 | subject)"
    )
    sym3 = adj.contrasts[
        (adj.contrasts["side_status"] == "symptomatic") & (adj.contrasts["visit"] == "3")
    ].iloc[0]
    assert sym3["ci_lower"] < 0.6 < sym3["ci_upper"]
    with pytest.raises(MfscanError, match="visit-order"):
        fit_trial_model(words, subs, visit_order=["pre", "4wk"])
    with pytest.raises(MfscanError, match="level"):
        fit_trial_model(meas, subs, level="L2")
    with pytest.raises(MfscanError, match="symptomatic_side"):
        fit_trial_model(meas, subs.drop(columns="symptomatic_side"))


def test_cli_writes_tables_and_refuses_bad_input(tmp_path, trial, capsys):
    meas, subs, _ = trial
    meas = meas[meas["subject"].isin(sorted(meas["subject"].unique())[:20])]
    meas.to_csv(tmp_path / "m.csv", index=False)
    subs.to_csv(tmp_path / "s.csv", index=False)
    out = tmp_path / "model.csv"
    rc = main(
        [
            "model",
            str(tmp_path / "m.csv"),
            "--subjects",
            str(tmp_path / "s.csv"),
            "--mdc",
            "0.4",
            "-o",
            str(out),
        ]
    )
    assert rc == 0
    fe = pd.read_csv(out)
    assert {"term", "estimate", "se", "ci_lower", "ci_upper", "p"} <= set(fe.columns)
    con = pd.read_csv(tmp_path / "model_contrasts.csv")
    assert {"hedges_g", "hedges_g_ci_lower"} <= set(con.columns)
    assert pd.read_csv(tmp_path / "model_fits.csv")["converged"].all()
    assert "REML" in capsys.readouterr().out
    (tmp_path / "bad.csv").write_text("subject,group\nP000,control\n")
    rc = main(["model", str(tmp_path / "m.csv"), "--subjects", str(tmp_path / "bad.csv"), "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 1 and "symptomatic_side" in err and "Traceback" not in err


def test_unfittable_design_is_recorded_not_raised():
    d = pd.DataFrame(
        {"subject": list("aabb"), "visit": ["1", "2", "1", "2"], "group": list("xxyy"), "y": 1.0}
    )
    d["y"] = [1.0, 2.0, 3.0, 5.0]
    record: dict = {}
    # group y never has visit 2 alone: drop that cell so visit x group is rank deficient
    fit = fit_mixed(d.iloc[:3], "y ~ visit * group", record=record)
    assert fit is None and record["warnings"].startswith("not fitted") and not record["converged"]


def test_visit_dates_order_the_model_as_they_order_the_study(trial):
    # labels the visit-word rule cannot order ("x", "y", "z"), dated z < y < x: the study
    # analysis orders them by date, and so does the model (one policy), baseline z
    meas, subs, _ = trial
    names = {"1": "z", "2": "y", "3": "x"}
    days = {"1": "2024-01-08", "2": "2024-02-05", "3": "2024-03-04"}
    dated = meas.assign(visit=meas["visit"].map(names), visit_date=meas["visit"].map(days))
    res = fit_trial_model(dated, subs, level="L5", models=["csa"])
    assert (res.fits["baseline_visit"] == "z").all()
    assert set(res.contrasts["visit"]) == {"y", "x"}
    with pytest.raises(MfscanError, match="visit-order"):  # undated, the rule refuses them
        fit_trial_model(dated.drop(columns="visit_date"), subs, level="L5", models=["csa"])
