"""Tests of ICC (against pingouin), SEM, MDC, Bland-Altman and the reliability table."""

import math

import numpy as np
import pandas as pd
import pingouin as pg  # the reference package: part of the test extra, never skipped
import pytest

from mfscan.errors import MfscanError
from mfscan.stats.icc import bland_altman, intraclass_corr, koo_li_band, mdc95, sem
from mfscan.stats.reliability import reliability

SHROUT_FLEISS = np.array(
    [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], dtype=float
)
PINGOUIN_TYPES = {
    "ICC(1,1)": "ICC(1,1)",
    "ICC(2,1)": "ICC(A,1)",
    "ICC(3,1)": "ICC(C,1)",
    "ICC(1,k)": "ICC(1,k)",
    "ICC(2,k)": "ICC(A,k)",
    "ICC(3,k)": "ICC(C,k)",
}


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
    long = pd.DataFrame(
        {"target": np.repeat(np.arange(n), k), "judge": np.tile(np.arange(k), n), "score": x.ravel()}
    )
    res = pg.intraclass_corr(long, targets="target", raters="judge", ratings="score")
    return res.set_index("Type")


def assert_same_as_pingouin(x):
    ours = intraclass_corr(x).set_index("form")
    ref = pingouin_icc(x)
    for form, ptype in PINGOUIN_TYPES.items():
        lo, hi = ref.loc[ptype, "CI95"]
        assert ours.loc[form, "icc"] == pytest.approx(ref.loc[ptype, "ICC"], abs=1e-6)
        assert ours.loc[form, "ci_lower"] == pytest.approx(lo, abs=1e-6)
        assert ours.loc[form, "ci_upper"] == pytest.approx(hi, abs=1e-6)
        assert ours.loc[form, "f"] == pytest.approx(ref.loc[ptype, "F"], rel=1e-9)
        assert ours.loc[form, "df2"] == ref.loc[ptype, "df2"]
        assert ours.loc[form, "pval"] == pytest.approx(ref.loc[ptype, "pval"], rel=1e-6, abs=1e-12)


def test_shrout_fleiss_example():
    icc = intraclass_corr(SHROUT_FLEISS).set_index("form")["icc"]
    # Shrout & Fleiss (1979), Table 4
    assert round(icc["ICC(2,1)"], 2) == 0.29
    assert round(icc["ICC(3,1)"], 2) == 0.71
    assert round(icc["ICC(2,k)"], 2) == 0.62
    assert round(icc["ICC(3,k)"], 2) == 0.91
    assert round(icc["ICC(1,1)"], 2) == 0.17
    assert round(icc["ICC(1,k)"], 2) == 0.44
    assert_same_as_pingouin(SHROUT_FLEISS)


@pytest.mark.parametrize("seed,n,k", [(0, 10, 2), (1, 30, 3), (2, 6, 4), (3, 50, 2), (4, 15, 5)])
def test_random_data_against_pingouin(seed, n, k):
    rng = np.random.default_rng(seed)
    x = (
        rng.normal(8.0, 1.5, (n, 1))
        + rng.normal(0, 0.3, (1, k))
        + rng.normal(0, rng.uniform(0.1, 2.0), (n, k))
    )
    assert_same_as_pingouin(x)


def test_icc_input_errors():
    with pytest.raises(MfscanError):
        intraclass_corr([[1.0, 2.0]])
    with pytest.raises(MfscanError, match="complete"):
        intraclass_corr([[1.0, 2.0], [np.nan, 3.0]])


def test_sem_mdc_band_by_hand():
    assert sem(2.0, 0.84) == pytest.approx(0.8)
    assert mdc95(0.8) == pytest.approx(1.96 * math.sqrt(2) * 0.8)
    assert mdc95(0.8) == pytest.approx(2.2174869, abs=1e-7)  # 2.7718586 x 0.8
    np.testing.assert_allclose(sem([1.0, 3.0], [0.75, 0.91]), [0.5, 0.9])
    assert math.isnan(sem(1.0, np.nan))
    assert koo_li_band(0.49) == "poor"
    assert koo_li_band(0.5) == "moderate"
    assert koo_li_band(0.75) == "good"
    assert koo_li_band(0.9) == "good"
    assert koo_li_band(0.91) == "excellent"
    assert koo_li_band(np.nan) is None
    assert list(koo_li_band([0.2, 0.95])) == ["poor", "excellent"]


def test_bland_altman_by_hand():
    # differences b - a: 0.5, 0.5, -0.5, 0.5 -> bias 0.25, SD sqrt(0.75 / 3) = 0.5
    ba = bland_altman([1.0, 2.0, 3.0, 4.0, np.nan], [1.5, 2.5, 2.5, 4.5, 9.0])
    assert ba["n"] == 4
    assert ba["bias"] == pytest.approx(0.25)
    assert ba["sd"] == pytest.approx(0.5)
    assert ba["loa_lower"] == pytest.approx(0.25 - 0.98)
    assert ba["loa_upper"] == pytest.approx(0.25 + 0.98)
    assert ba["mean"] == pytest.approx((2.5 + 2.75) / 2)
    with pytest.raises(MfscanError):
        bland_altman([1.0], [1.0, 2.0])


def study(seed=0, n_subjects=12, raters=("A", "B"), sessions=(None,), repeats=3):
    """Outlines of both sides at L4 by each rater (and session), 3 images each."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_subjects):
        true = {"left": rng.normal(8, 1.5), "right": rng.normal(8, 1.5)}
        for side in ("left", "right"):
            for r, rater in enumerate(raters):
                for session in sessions:
                    for i in range(repeats):
                        csa = true[side] + 0.3 * r + rng.normal(0, 0.3)
                        rows.append(
                            {
                                "image": f"S{s}_{side}_{i}.png",
                                "subject": f"S{s:02d}",
                                "visit": "1",
                                "level": "L4",
                                "side": side,
                                "rater": rater,
                                "session": session,
                                "frame": 0,
                                "csa_cm2": csa,
                                "perimeter_cm": 3.5 * math.sqrt(csa),
                            }
                        )
    return pd.DataFrame(rows)


def test_reliability_between_raters_by_hand():
    m = study()
    m = m.drop(index=m.index[(m["subject"] == "S03") & (m["side"] == "left") & (m["rater"] == "B")])
    before = m.copy()
    rel = reliability(m, measures=["csa_cm2", "perimeter_cm"])
    pd.testing.assert_frame_equal(m, before)
    assert len(rel) == 4
    row = rel[(rel["measure"] == "csa_cm2") & (rel["side"] == "left")].iloc[0]
    # target = subject side; score = mean of a rater's three images
    wide = m[m["side"] == "left"].groupby(["subject", "rater"])["csa_cm2"].mean().unstack("rater").dropna()
    x = wide[["A", "B"]].to_numpy()
    assert row["n_targets"] == 11 and row["n_dropped"] == 1
    assert row["k"] == 2 and row["judges"] == "A|B"
    ref = pingouin_icc(x)
    assert row["icc2_1"] == pytest.approx(ref.loc["ICC(A,1)", "ICC"], abs=1e-6)
    assert row["icc3_1"] == pytest.approx(ref.loc["ICC(C,1)", "ICC"], abs=1e-6)
    assert row["icc2_k"] == pytest.approx(ref.loc["ICC(A,k)", "ICC"], abs=1e-6)
    assert row["icc3_k"] == pytest.approx(ref.loc["ICC(C,k)", "ICC"], abs=1e-6)
    assert row["icc2_1_ci_lower"] == pytest.approx(ref.loc["ICC(A,1)", "CI95"][0], abs=1e-6)
    assert row["icc3_k_ci_upper"] == pytest.approx(ref.loc["ICC(C,k)", "CI95"][1], abs=1e-6)
    # SEM from ICC(2,1) and the SD of all 22 scores; MDC95
    sd = np.std(x, ddof=1)
    assert row["sem_icc"] == "ICC(2,1)"
    assert row["sd"] == pytest.approx(sd)
    assert row["sem"] == pytest.approx(sd * math.sqrt(1 - row["icc2_1"]))
    assert row["mdc95"] == pytest.approx(1.96 * math.sqrt(2) * row["sem"])
    # Koo & Li rate by the 95 % CI (issue 12: the band of the point estimate alone misled)
    lo, hi = koo_li_band(row["icc2_1_ci_lower"]), koo_li_band(row["icc2_1_ci_upper"])
    assert row["band"] == (lo if lo == hi else f"{lo} to {hi}")
    assert row["band_point"] == koo_li_band(row["icc2_1"])
    # Bland-Altman: B - A
    d = x[:, 1] - x[:, 0]
    assert row["ba_pair"] == "B - A"
    assert row["ba_bias"] == pytest.approx(d.mean())
    assert row["ba_loa_upper"] == pytest.approx(d.mean() + 1.96 * d.std(ddof=1))
    assert row["ba_loa_lower"] == pytest.approx(d.mean() - 1.96 * d.std(ddof=1))
    assert row["ba_bias"] == pytest.approx(0.3, abs=0.25)  # the simulated offset


def test_reliability_pair_by_image():
    m = study(seed=1, n_subjects=8)
    rel = reliability(m, measures=["csa_cm2"], pair_by="image")
    row = rel[rel["side"] == "right"].iloc[0]
    wide = m[m["side"] == "right"].groupby(["image", "rater"])["csa_cm2"].mean().unstack("rater")
    assert row["n_targets"] == 24
    ref = pingouin_icc(wide[["A", "B"]].to_numpy())
    assert row["icc2_1"] == pytest.approx(ref.loc["ICC(A,1)", "ICC"], abs=1e-6)
    assert row["icc3_1_ci_lower"] == pytest.approx(ref.loc["ICC(C,1)", "CI95"][0], abs=1e-6)


def test_reliability_between_sessions_per_rater():
    m = study(seed=2, raters=("A", "B"), sessions=("1", "2"))
    rel = reliability(m, between="session", measures=["csa_cm2"])
    assert len(rel) == 4  # 2 sides x 2 raters
    assert set(rel["sem_icc"]) == {"ICC(2,1)"}  # absolute agreement (Koo & Li 2016)
    row = rel[(rel["side"] == "left") & (rel["rater"] == "B")].iloc[0]
    sub = m[(m["side"] == "left") & (m["rater"] == "B")]
    x = sub.groupby(["subject", "session"])["csa_cm2"].mean().unstack("session")[["1", "2"]]
    x = x.to_numpy()
    ref = pingouin_icc(x)
    assert row["judges"] == "1|2"
    assert row["icc3_1"] == pytest.approx(ref.loc["ICC(C,1)", "ICC"], abs=1e-6)
    assert row["sem"] == pytest.approx(np.std(x, ddof=1) * math.sqrt(1 - row["icc2_1"]))
    assert row["ba_pair"] == "2 - 1"


def test_reliability_three_raters_and_too_few_targets():
    m = study(seed=3, raters=("A", "B", "C"), n_subjects=10)
    rel = reliability(m, measures=["csa_cm2"])
    assert set(rel["k"]) == {3}
    assert set(rel["ba_pair"]) == {"B - A"}
    one = study(seed=4, n_subjects=1)
    rel = reliability(one, measures=["csa_cm2"])
    assert rel["icc2_1"].isna().all()
    assert rel["note"].str.contains("2 complete targets").all()
    with pytest.raises(MfscanError, match="session"):
        reliability(m.drop(columns="session"), between="session")
    with pytest.raises(MfscanError):
        reliability(m, pair_by="subject")
