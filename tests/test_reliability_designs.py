"""Reliability designs (issue 12): one session per rater, same images, repeatability, notes, CIs."""

import math

import numpy as np
import pandas as pd
import pingouin as pg  # the reference package
import pytest
from scipy import stats

from mfscan.stats.asymmetry import asymmetry_pct
from mfscan.stats.icc import agreement_sem, bland_altman, koo_li_band, koo_li_band_ci
from mfscan.stats.reliability import reliability
from mfscan.stats.repeatability import repeatability
from mfscan.stats.study import analyse_study


@pytest.fixture(autouse=True)
def unrounded_pingouin():
    old = dict(pg.options)
    pg.options["round"] = None
    pg.options["round.column.CI95"] = None
    yield
    pg.options.clear()
    pg.options.update(old)


def pingouin_icc(x):
    n, k = x.shape
    long = pd.DataFrame({"t": np.repeat(np.arange(n), k), "j": np.tile(np.arange(k), n), "s": x.ravel()})
    return pg.intraclass_corr(long, targets="t", raters="j", ratings="s").set_index("Type")


def outline(subject, side, rater, session, csa, i=0, level="L4"):
    return {
        "image": f"{subject}_{level}_{i}.png",
        "subject": subject,
        "visit": "1",
        "level": level,
        "side": side,
        "rater": rater,
        "session": session,
        "csa_cm2": csa,
    }


def two_sessions(seed=0, n=12):
    """R1 traces twice (session 2 reads 1 cm² larger), R2 once; plus an image only R1 traced."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n):
        subj = f"S{s:02d}"
        true = rng.normal(8, 1.5)
        for i in range(2):
            rows.append(outline(subj, "left", "R1", "1", true + rng.normal(0, 0.3), i))
            rows.append(outline(subj, "left", "R1", "2", true + 1.0 + rng.normal(0, 0.3), i))
            rows.append(outline(subj, "left", "R2", None, true + 0.1 + rng.normal(0, 0.3), i))
    rows.append(outline("S00", "left", "R1", "1", 20.0, i=7))  # only R1: must not reach the ICC
    return pd.DataFrame(rows)


def test_first_session_only_same_images_against_pingouin():
    m = two_sessions()
    rel, ex = reliability(m, measures=["csa_cm2"], return_excluded=True)
    row = rel.iloc[0]
    # independently: R1's first session and R2, images both traced, repeats averaged
    common = m[m["image"] != "S00_L4_7.png"]
    first = common[(common["rater"] == "R2") | (common["session"] == "1")]
    x = first.groupby(["subject", "rater"])["csa_cm2"].mean().unstack("rater")[["R1", "R2"]].to_numpy()
    ref = pingouin_icc(x)
    assert row["icc2_1"] == pytest.approx(ref.loc["ICC(A,1)", "ICC"], abs=1e-9)
    assert row["icc2_1_ci_lower"] == pytest.approx(ref.loc["ICC(A,1)", "CI95"][0], abs=1e-6)
    assert row["ba_bias"] == pytest.approx(np.mean(x[:, 1] - x[:, 0]))
    assert row["session"] == "R1:1" and row["n_targets"] == 12  # R2 labels no session
    # pooling R1's sessions (the old behaviour) gives another answer
    pooled = common.groupby(["subject", "rater"])["csa_cm2"].mean().unstack("rater")[["R1", "R2"]].to_numpy()
    assert abs(pingouin_icc(pooled).loc["ICC(A,1)", "ICC"] - row["icc2_1"]) > 0.02
    assert abs(np.mean(pooled[:, 1] - pooled[:, 0]) - row["ba_bias"]) > 0.3
    # the image only R1 traced is listed
    assert ex["image"].tolist() == ["S00_L4_7.png"] and "R1 only, not by R2" in ex["reason"].iloc[0]
    st = analyse_study(m, between="rater")
    assert st.reliability_excluded["image"].tolist() == ["S00_L4_7.png"]
    assert st.reliability["icc2_1"].iloc[0] == pytest.approx(row["icc2_1"])


def test_chosen_session_and_a_rater_without_it():
    m = two_sessions()
    m.loc[m["rater"] == "R2", "session"] = "1"
    m = pd.concat([m, m[m["rater"] == "R2"].assign(session="2")], ignore_index=True)
    rel = reliability(m, measures=["csa_cm2"], session="2")
    sub = m[(m["session"] == "2") & (m["image"] != "S00_L4_7.png")]
    x = sub.groupby(["subject", "rater"])["csa_cm2"].mean().unstack("rater")[["R1", "R2"]].to_numpy()
    assert rel["icc2_1"].iloc[0] == pytest.approx(pingouin_icc(x).loc["ICC(A,1)", "ICC"], abs=1e-9)
    only_r1 = m[~((m["rater"] == "R2") & (m["session"] == "2"))]
    note = reliability(only_r1, measures=["csa_cm2"], session="2")["note"].iloc[0]
    assert "rater R2 has no session 2 and is left out" in note and "needs 2 judges" in note


def test_each_subject_at_its_first_visit_both_raters_traced():
    # 4 subjects, visits 1 and 2, two raters; subject S4's R2 traced only visit 2. S4's first
    # visit both raters traced is 2: it is a target there, not dropped for R2's missing visit 1
    values = {  # (subject, visit, rater): left CSA, by hand
        ("S1", "1", "R1"): 7.0, ("S1", "1", "R2"): 7.3, ("S1", "2", "R1"): 7.5, ("S1", "2", "R2"): 7.9,
        ("S2", "1", "R1"): 8.2, ("S2", "1", "R2"): 8.0, ("S2", "2", "R1"): 8.8, ("S2", "2", "R2"): 8.5,
        ("S3", "1", "R1"): 9.1, ("S3", "1", "R2"): 9.6, ("S3", "2", "R1"): 9.0, ("S3", "2", "R2"): 9.4,
        ("S4", "1", "R1"): 6.0, ("S4", "2", "R1"): 6.4, ("S4", "2", "R2"): 6.9,
    }  # fmt: skip
    rows = [
        {**outline(subj, "left", rater, None, csa), "visit": visit, "image": f"{subj}_V{visit}.png"}
        for (subj, visit, rater), csa in values.items()
    ]
    m = pd.DataFrame(rows)
    rel, ex = reliability(m, measures=["csa_cm2"], return_excluded=True)
    row = rel.iloc[0]
    assert row["n_targets"] == 4 and row["n_subjects"] == 4 and row["n_dropped"] == 0  # was 3 (S4 dropped)
    used = {"S1": "1", "S2": "1", "S3": "1", "S4": "2"}
    x = np.array([[values[(s, v, "R1")], values[(s, v, "R2")]] for s, v in used.items()])
    ref = pingouin_icc(x)
    assert row["icc2_1"] == pytest.approx(ref.loc["ICC(A,1)", "ICC"], abs=1e-9)
    assert row["ba_bias"] == pytest.approx(np.mean(x[:, 1] - x[:, 0]), abs=1e-12)
    assert row["visits"].startswith("first of each subject") and "S4: 2" in row["visits"]
    assert "S4" in row["note"] and ex.empty  # said in the note; no image of the visits used left out
    # --visit 1 for everyone: S4 has no R2 tracing there (left out and listed), as asked
    one = reliability(m, measures=["csa_cm2"], visit="1").iloc[0]
    assert one["n_targets"] == 3 and one["visits"] == "1"


def test_band_from_the_ci():
    assert koo_li_band_ci(0.05, 0.99) == "poor to excellent"
    assert koo_li_band_ci(0.91, 0.99) == "excellent"
    assert koo_li_band_ci(0.55, 0.8) == "moderate to good"
    assert koo_li_band_ci(np.nan, 0.8) is None
    x = np.array([[7.0, 7.4], [8.0, 7.6], [9.0, 9.5], [8.5, 8.0], [7.5, 8.1]])
    row = reliability(matrix_rows(x), measures=["csa_cm2"]).iloc[0]
    lo, hi = row["icc2_1_ci_lower"], row["icc2_1_ci_upper"]
    assert row["band"] == (
        koo_li_band(lo) if koo_li_band(lo) == koo_li_band(hi) else f"{koo_li_band(lo)} to {koo_li_band(hi)}"
    )
    assert row["band_point"] == koo_li_band(row["icc2_1"])
    assert row["band"] != row["band_point"]  # 5 targets: the CI spans several bands


def matrix_rows(x, side="left", raters=("A", "B", "C")):
    return pd.DataFrame(
        [
            outline(f"S{i:02d}", side, raters[j], None, float(v))
            for i, r in enumerate(x)
            for j, v in enumerate(r)
        ]
    )


def test_degenerate_designs_give_notes():
    rng = np.random.default_rng(5)
    x = rng.normal(8, 1, size=(10, 2))
    note = reliability(matrix_rows(x), measures=["csa_cm2"])["note"].iloc[0]
    assert "n = 10 targets (< 30)" in note and "k = 2 raters (< 3)" in note
    const = reliability(matrix_rows(np.full((4, 2), 7.0)), measures=["csa_cm2"]).iloc[0]
    assert "all scores are equal" in const["note"] and math.isnan(const["icc2_1"])
    shifted = np.column_stack([x[:, 0], x[:, 0] + 1.0])
    row = reliability(matrix_rows(shifted), measures=["csa_cm2"]).iloc[0]
    assert "zero residual" in row["note"] and row["icc3_1"] == pytest.approx(1.0)
    # rater C traced only the left side: the right cell has k = 2 and says so
    three = rng.normal(8, 1, size=(6, 3))
    m = pd.concat([matrix_rows(three), matrix_rows(three[:, :2], side="right")], ignore_index=True)
    rel = reliability(m, measures=["csa_cm2"]).set_index("side")
    assert rel.loc["right", "k"] == 2 and "raters C missing from this cell" in rel.loc["right", "note"]
    assert "missing" not in rel.loc["left", "note"]


def test_bland_altman_cis_by_hand():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    b = np.array([1.5, 2.5, 2.5, 4.5])
    ba = bland_altman(a, b)
    # d = 0.5, 0.5, -0.5, 0.5: bias 0.25, SD 0.5, t(0.975, 3) = 3.182446
    t = 3.182446305284263
    assert ba["bias_ci_lower"] == pytest.approx(0.25 - t * 0.5 / 2)
    assert ba["bias_ci_upper"] == pytest.approx(0.25 + t * 0.5 / 2)
    half = t * 0.5 * math.sqrt(3 / 4)
    assert ba["loa_lower_ci_lower"] == pytest.approx(0.25 - 0.98 - half)
    assert ba["loa_upper_ci_upper"] == pytest.approx(0.25 + 0.98 + half)
    # regression of d on the means 1.25, 2.25, 2.75, 4.25 by least squares
    mean, d = (a + b) / 2, b - a
    X = np.column_stack([np.ones(4), mean])
    coef, res, *_ = np.linalg.lstsq(X, d, rcond=None)
    se = math.sqrt(res[0] / 2 / ((mean - mean.mean()) ** 2).sum())
    assert ba["slope"] == pytest.approx(coef[1])
    assert ba["slope_ci_upper"] == pytest.approx(coef[1] + 4.302652729749464 * se)
    assert ba["slope_p"] == pytest.approx(2 * stats.t.sf(abs(coef[1] / se), 2))


def test_agreement_and_consistency_sem_and_icc21_intra_rater():
    rng = np.random.default_rng(8)
    x = rng.normal(8, 1.5, size=(15, 1)) + rng.normal(0, 0.4, size=(15, 2)) + [0.0, 0.5]
    m = matrix_rows(x, raters=("R1", "R1"))
    m["session"] = np.tile(["1", "2"], 15)
    rel = reliability(m, between="session", measures=["csa_cm2"], icc_form="ICC(2,1)").iloc[0]
    n, k = x.shape
    g = x.mean()
    msr = k * ((x.mean(1) - g) ** 2).sum() / (n - 1)
    msc = n * ((x.mean(0) - g) ** 2).sum() / (k - 1)
    mse = (((x - g) ** 2).sum() - (n - 1) * msr - (k - 1) * msc) / ((n - 1) * (k - 1))
    assert rel["sem_agreement"] == pytest.approx(math.sqrt(mse + (msc - mse) / n))
    assert agreement_sem(x) == pytest.approx(rel["sem_agreement"])
    assert rel["sem_icc"] == "ICC(2,1)"
    icc21 = pingouin_icc(x).loc["ICC(A,1)", "ICC"]
    assert rel["sem"] == pytest.approx(x.std(ddof=1) * math.sqrt(1 - icc21))  # ICC-based SEM
    assert rel["sem_consistency"] == pytest.approx(math.sqrt(mse))  # de Vet: sqrt(MS error)
    assert rel["mdc95_agreement"] == pytest.approx(1.96 * math.sqrt(2) * rel["sem_agreement"])


def test_reliability_of_the_asymmetry_index():
    rng = np.random.default_rng(11)
    rows = []
    for s in range(8):
        left, right = rng.normal(8, 1), rng.normal(7, 1)
        for rater in ("A", "B"):
            rows.append(outline(f"S{s}", "left", rater, None, left + rng.normal(0, 0.2)))
            rows.append(outline(f"S{s}", "right", rater, None, right + rng.normal(0, 0.2)))
    m = pd.DataFrame(rows)
    rel = reliability(m, measures=["csa_cm2"], asymmetry_index="hides")
    row = rel[rel["measure"] == "asymmetry_pct"].iloc[0]
    w = m.pivot_table(index="subject", columns=["rater", "side"], values="csa_cm2")
    x = np.column_stack([asymmetry_pct(w[(r, "left")], w[(r, "right")]) for r in ("A", "B")])
    assert row["icc2_1"] == pytest.approx(pingouin_icc(x).loc["ICC(A,1)", "ICC"], abs=1e-9)
    assert row["unit"] == "pct" and pd.isna(row["side"]) and row["n_targets"] == 8


def test_repeatability_against_pingouin():
    rng = np.random.default_rng(2)
    rows = []
    for s in range(12):
        true = rng.normal(8, 1.5)
        for i in range(3):
            rows.append(outline(f"S{s:02d}", "left", "R1", None, true + rng.normal(0, 0.4), i))
    rows.append(outline("S00", "left", "R1", None, 8.0, 9))  # a 4th image: left out of k = 3
    m = pd.DataFrame(rows)
    row = repeatability(m, measures=["csa_cm2"]).iloc[0]
    x = np.array([[r["csa_cm2"] for r in rows if r["subject"] == f"S{s:02d}"][:3] for s in range(12)])
    ref = pingouin_icc(x)
    assert row["k"] == 3 and row["n_targets"] == 12 and row["n_images_left_out"] == 1
    assert row["icc1_1"] == pytest.approx(ref.loc["ICC(1,1)", "ICC"], abs=1e-9)
    assert row["icc1_k"] == pytest.approx(ref.loc["ICC(1,k)", "ICC"], abs=1e-9)
    assert row["icc1_1_ci_lower"] == pytest.approx(ref.loc["ICC(1,1)", "CI95"][0], abs=1e-6)
    sw = math.sqrt(((x - x.mean(1, keepdims=True)) ** 2).sum() / (12 * 2))
    assert row["within_sd"] == pytest.approx(sw)
    assert row["cv_pct"] == pytest.approx(100 * sw / x.mean())
    assert row["within_sd_mean_k"] == pytest.approx(sw / math.sqrt(3))
    st = analyse_study(m)
    assert st.repeatability["icc1_1"].iloc[0] == pytest.approx(row["icc1_1"])


def test_cli_session_choice_excluded_file_and_repeatability(tmp_path):
    from mfscan.cli.main import main

    m = two_sessions()
    csv = tmp_path / "m.csv"
    m.to_csv(csv, index=False)
    out = tmp_path / "rel.csv"
    assert main(["reliability", str(csv), "-o", str(out), "--icc-form", "ICC(3,1)"]) == 0
    rel = pd.read_csv(out)
    common = m[(m["image"] != "S00_L4_7.png") & ((m["rater"] == "R2") | (m["session"] == "1"))]
    x = common.groupby(["subject", "rater"])["csa_cm2"].mean().unstack("rater")[["R1", "R2"]].to_numpy()
    icc3 = pingouin_icc(x).loc["ICC(C,1)", "ICC"]
    assert rel["sem_icc"].iloc[0] == "ICC(3,1)"
    assert rel["sem"].iloc[0] == pytest.approx(x.std(ddof=1) * math.sqrt(1 - icc3))
    assert pd.read_csv(tmp_path / "rel.excluded.csv")["image"].tolist() == ["S00_L4_7.png"]
    rep = tmp_path / "rep.csv"
    assert main(["reliability", str(csv), "--between", "image", "-o", str(rep)]) == 0
    r = pd.read_csv(rep)
    r2 = r[(r["rater"] == "R2")].iloc[0]
    y = np.array(
        [m[(m["rater"] == "R2") & (m["subject"] == f"S{s:02d}")]["csa_cm2"].to_numpy() for s in range(12)]
    )
    assert r2["k"] == 2 and r2["icc1_1"] == pytest.approx(pingouin_icc(y).loc["ICC(1,1)", "ICC"], abs=1e-9)
