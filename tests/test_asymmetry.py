"""Tests of side summaries and asymmetry (values from /work/shared/domain.md or by hand)."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfscan.errors import MfscanError
from mfscan.stats.asymmetry import (
    asymmetry,
    asymmetry_index_pct,
    asymmetry_pct,
    largest_asymmetry_level,
    symptomatic_deficit_pct,
)
from mfscan.stats.summary import pair_sides, summarize_sides
from mfscan.vocab import natural_sort_key


def outlines(values, *, subject="P1", visit="1", level="L4", rater="R1", **extra):
    """Measurement rows: ``values`` maps side -> list of CSA values (one per image)."""
    rows = []
    for side, csas in values.items():
        for i, csa in enumerate(csas):
            rows.append(
                {
                    "image": f"{subject}_{visit}_{level}_{side}_{i}.png",
                    "subject": subject,
                    "visit": visit,
                    "level": level,
                    "side": side,
                    "rater": rater,
                    "csa_cm2": csa,
                    **extra,
                }
            )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ pure functions


def test_domain_test_values():
    # domain.md: left 8.0, right 7.2 -> hides 10.0, smaller-side 11.11, index -10.53
    assert asymmetry_pct(8.0, 7.2) == pytest.approx(10.0, abs=1e-12)
    assert asymmetry_pct(8.0, 7.2, index="smaller-side") == pytest.approx(100 / 9, abs=1e-12)
    assert asymmetry_pct(8.0, 7.2, index="index") == pytest.approx(-0.8 / 7.6 * 100, abs=1e-12)
    assert round(asymmetry_pct(8.0, 7.2, index="index"), 2) == -10.53
    assert asymmetry_index_pct(8.0, 7.2) == pytest.approx(-10.526315789, abs=1e-8)
    # pain on the right (the smaller side): deficit +10
    assert symptomatic_deficit_pct(8.0, 7.2, "right") == pytest.approx(10.0, abs=1e-12)
    # pain on the left (the larger side): (7.2 - 8.0) / 7.2 = -11.11
    assert symptomatic_deficit_pct(8.0, 7.2, "left") == pytest.approx(-100 / 9, abs=1e-12)
    assert math.isnan(symptomatic_deficit_pct(8.0, 7.2, "bilateral"))
    assert math.isnan(symptomatic_deficit_pct(8.0, 7.2, "none"))


def test_ten_percent_equivalence():
    # a 10 % hides difference is 11.1 % smaller-side and 10.5 % mean-denominator
    left, right = np.array([10.0, 9.0]), np.array([9.0, 10.0])
    np.testing.assert_allclose(asymmetry_pct(left, right), [10.0, 10.0])
    np.testing.assert_allclose(asymmetry_pct(left, right, index="smaller-side"), [100 / 9] * 2)
    np.testing.assert_allclose(asymmetry_pct(left, right, index="index"), [-1 / 9.5 * 100, 1 / 9.5 * 100])
    # the r-forms of domain.md with r = 10/9
    r = 10 / 9
    assert asymmetry_pct(10.0, 9.0) == pytest.approx((1 - 1 / r) * 100)
    assert asymmetry_pct(10.0, 9.0, index="smaller-side") == pytest.approx((r - 1) * 100)
    assert abs(asymmetry_pct(10.0, 9.0, index="index")) == pytest.approx(2 * (r - 1) / (r + 1) * 100)


def test_arrays_invalid_values_and_errors():
    out = asymmetry_pct([8.0, np.nan, 0.0, -1.0, 5.0], [7.2, 7.0, 7.0, 7.0, 5.0])
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, [10.0, np.nan, np.nan, np.nan, 0.0])
    with pytest.raises(MfscanError, match="unknown asymmetry index"):
        asymmetry_pct(1.0, 2.0, index="ratio")


@settings(max_examples=200, deadline=None)
@given(st.floats(0.01, 100.0), st.floats(0.01, 100.0))
def test_properties(left, right):
    hides = asymmetry_pct(left, right)
    smaller = asymmetry_pct(left, right, index="smaller-side")
    signed = asymmetry_pct(left, right, index="index")
    # symmetric under swapping sides; the signed index changes sign
    assert asymmetry_pct(right, left) == pytest.approx(hides, abs=1e-12)
    assert asymmetry_pct(right, left, index="smaller-side") == pytest.approx(smaller, rel=1e-12)
    assert asymmetry_pct(right, left, index="index") == pytest.approx(-signed, abs=1e-12)
    assert 0.0 <= hides < 100.0
    assert smaller >= hides - 1e-12
    assert -200.0 < signed < 200.0
    # each definition is a function of r = max / min
    r = max(left, right) / min(left, right)
    assert hides == pytest.approx((1 - 1 / r) * 100, abs=1e-9)
    assert abs(signed) == pytest.approx(2 * (r - 1) / (r + 1) * 100, abs=1e-9)


# ------------------------------------------------------------------ summaries


def test_summarize_sides_averages_repeats():
    m = outlines({"left": [7.9, 8.0, 8.4], "right": [7.0, 7.2, 7.4]})
    m["ap_depth_cm"] = [3.0, 3.1, 3.2, 2.9, 2.9, 2.9]
    before = m.copy()
    s = summarize_sides(m)
    pd.testing.assert_frame_equal(m, before)  # input untouched
    assert list(s.columns) == [
        "subject",
        "visit",
        "level",
        "rater",
        "side",
        "n",
        "csa_cm2",
        "csa_cm2_sd",
        "csa_cm2_n",
        "ap_depth_cm",
        "ap_depth_cm_sd",
        "ap_depth_cm_n",
    ]
    assert list(s["side"]) == ["left", "right"]
    assert list(s["n"]) == [3, 3]
    # left: mean 8.1, deviations -0.2, -0.1, 0.3 -> SD sqrt(0.14 / 2)
    np.testing.assert_allclose(s["csa_cm2"], [8.1, 7.2])
    np.testing.assert_allclose(s["csa_cm2_sd"], [math.sqrt(0.07), 0.2])
    np.testing.assert_allclose(s["ap_depth_cm"], [3.1, 2.9])
    np.testing.assert_allclose(s["ap_depth_cm_sd"], [0.1, 0.0], atol=1e-12)
    assert isinstance(s["level"].dtype, pd.CategoricalDtype) and s["level"].cat.ordered
    assert list(s["side"].cat.categories) == ["left", "right"]


def test_summarize_sides_uncalibrated_and_single_image():
    m = outlines({"left": [8.0, np.nan], "right": [np.nan]})
    s = summarize_sides(m, measures=["csa_cm2"])
    assert list(s["n"]) == [2, 1]  # outlines traced
    assert list(s["csa_cm2_n"]) == [1, 0]  # values averaged: an uncalibrated repeat has no cm value
    a = asymmetry(m)
    assert (a["n_left"].iloc[0], a["n_right"].iloc[0]) == (1, 0)
    assert a["missing_reason"].iloc[0] == "no right csa_cm2 value"
    assert s["csa_cm2"].iloc[0] == 8.0
    assert np.isnan(s["csa_cm2"].iloc[1])
    assert s["csa_cm2_sd"].isna().all()  # fewer than two values
    with pytest.raises(MfscanError, match="perimeter_cm"):
        summarize_sides(m, measures=["perimeter_cm"])


def test_summarize_sides_groups_and_visit_order():
    m = pd.concat(
        [
            outlines({"left": [1.0], "right": [2.0]}, visit=v, level=lv)
            for v in ("10", "2", "1")
            for lv in ("l5", "L4")
        ]
    )
    m["session"] = np.nan
    s = summarize_sides(m, measures=["csa_cm2"])
    assert "session" in s.columns
    assert list(s["visit"].astype(str).unique()) == ["1", "2", "10"]
    assert list(s["level"].astype(str))[:4] == ["L4", "L4", "L5", "L5"]
    assert len(s) == 12


def test_side_aliases_and_categoricals_give_same_result():
    a = outlines({"left": [8.0, 8.2], "right": [7.0, 7.4]})
    b = a.copy()
    b["side"] = pd.Categorical(["L", "l", "Right", "R"])
    b["level"] = pd.Categorical(["l4"] * 4)
    pd.testing.assert_frame_equal(asymmetry(a), asymmetry(b))
    c = a.copy()
    c.loc[0, "side"] = "middle"
    with pytest.raises(MfscanError, match="unknown side"):
        asymmetry(c)
    d = a.copy()
    d.loc[0, "level"] = "T12"
    with pytest.raises(MfscanError, match="unknown level"):
        summarize_sides(d)


def test_numeric_codes_become_labels():
    m = outlines({"left": [8.0], "right": [7.2]})
    m["visit"] = [1, 1]
    m["subject"] = [7.0, 7.0]
    a = asymmetry(m)
    assert a["visit"].astype(str).tolist() == ["1"]
    assert a["subject"].tolist() == ["7"]


# ------------------------------------------------------------------ asymmetry table


def test_asymmetry_table_values():
    m = pd.concat(
        [
            outlines({"left": [7.9, 8.0, 8.1], "right": [7.1, 7.2, 7.3]}),
            outlines({"left": [6.0, 6.0, 6.0], "right": [7.5, 7.5, 7.5]}, level="L5"),
        ]
    )
    a = asymmetry(m)
    for c in (
        "subject",
        "visit",
        "level",
        "rater",
        "left_csa_cm2",
        "right_csa_cm2",
        "n_left",
        "n_right",
        "smaller_side",
        "asymmetry_pct",
        "asymmetry_index_pct",
        "exceeds_threshold",
        "missing_reason",
        "asymmetry_definition",
    ):
        assert c in a.columns
    assert len(a) == 2
    np.testing.assert_allclose(a["left_csa_cm2"], [8.0, 6.0])
    np.testing.assert_allclose(a["right_csa_cm2"], [7.2, 7.5])
    np.testing.assert_allclose(a["left_csa_cm2_sd"], [0.1, 0.0], atol=1e-12)
    assert list(a["n_left"]) == [3, 3] and list(a["n_right"]) == [3, 3]
    # L4 10 % (not above the threshold), L5 (7.5 - 6) / 7.5 = 20 %
    np.testing.assert_allclose(a["asymmetry_pct"], [10.0, 20.0])
    np.testing.assert_allclose(a["asymmetry_index_pct"], [-0.8 / 7.6 * 100, 1.5 / 6.75 * 100])
    assert list(a["smaller_side"]) == ["right", "left"]
    assert list(a["exceeds_threshold"]) == [False, True]
    assert a["missing_reason"].isna().all()
    assert set(a["asymmetry_definition"]) == {"hides"}

    b = asymmetry(m, index="smaller-side", threshold_pct=11.0)
    np.testing.assert_allclose(b["asymmetry_pct"], [100 / 9, 25.0])
    assert list(b["exceeds_threshold"]) == [True, True]
    # the signed index is always the same column
    np.testing.assert_allclose(b["asymmetry_index_pct"], a["asymmetry_index_pct"])
    c = asymmetry(m, index="index", threshold_pct=20.0)
    np.testing.assert_allclose(c["asymmetry_pct"], c["asymmetry_index_pct"])
    assert list(c["exceeds_threshold"]) == [False, True]  # |-10.5| and 22.2


def test_threshold_is_strict_with_float_tolerance():
    # 10.000000000000002 % by floating point must not exceed a 10 % threshold
    left, right = 7.0, 6.3
    raw = (max(left, right) - min(left, right)) / max(left, right) * 100
    assert raw > 10.0  # 10.000000000000002
    m = outlines({"left": [left], "right": [right]})
    a = asymmetry(m)
    assert a["asymmetry_pct"].iloc[0] == pytest.approx(10.0)
    assert not a["exceeds_threshold"].iloc[0]
    assert asymmetry(outlines({"left": [1.0], "right": [0.8999]}))["exceeds_threshold"].iloc[0]


def test_missing_side_keeps_row_with_reason():
    m = pd.concat(
        [
            outlines({"left": [8.0, 8.2]}),
            outlines({"right": [7.0]}, level="L5"),
            outlines({"left": [np.nan], "right": [7.0]}, level="S1"),
        ]
    )
    a = asymmetry(m)
    assert list(a["level"].astype(str)) == ["L4", "L5", "S1"]
    assert list(a["missing_reason"]) == ["no right outline", "no left outline", "no left csa_cm2 value"]
    assert list(a["n_left"]) == [2, 0, 0] and list(a["n_right"]) == [0, 1, 1]  # values averaged
    assert a["left_csa_cm2"].iloc[0] == pytest.approx(8.1)
    assert np.isnan(a["right_csa_cm2"].iloc[0])
    assert a["asymmetry_pct"].isna().all()
    assert a["exceeds_threshold"].isna().all()
    assert a["smaller_side"].isna().all()


def test_asymmetry_from_side_summary_equals_from_measurements():
    m = pd.concat(
        [outlines({"left": [7.9, 8.1], "right": [7.0, 7.2, 7.4]}, visit=v) for v in ("1", "2")]
        + [outlines({"left": [5.0]}, visit="3")]
    )
    m["session"] = "a"
    direct = asymmetry(m)
    via = asymmetry(summarize_sides(m))
    pd.testing.assert_frame_equal(direct, via)
    assert "session" in direct.columns
    pd.testing.assert_frame_equal(pair_sides(m), pair_sides(summarize_sides(m)))


def test_sessions_and_raters_are_kept_apart():
    m = pd.concat(
        [
            outlines({"left": [8.0], "right": [7.2]}, rater="A", session="1"),
            outlines({"left": [8.0], "right": [6.4]}, rater="A", session="2"),
            outlines({"left": [8.0], "right": [8.0]}, rater="B", session="1"),
        ]
    )
    a = asymmetry(m)
    assert list(zip(a["rater"], a["session"])) == [("A", "1"), ("A", "2"), ("B", "1")]
    np.testing.assert_allclose(a["asymmetry_pct"], [10.0, 20.0, 0.0], atol=1e-12)
    assert list(a["smaller_side"]) == ["right", "right", "equal"]


def test_symptomatic_side_signs():
    m = pd.concat(
        [
            outlines({"left": [8.0], "right": [7.2]}, subject="P1"),
            outlines({"left": [8.0], "right": [7.2]}, subject="P2"),
            outlines({"left": [8.0], "right": [7.2]}, subject="P3"),
            outlines({"left": [8.0], "right": [7.2]}, subject="P4"),
        ]
    )
    subjects = pd.DataFrame(
        {
            "subject": ["P1", "P2", "P3"],
            "symptomatic_side": ["right", "Left", "bilateral"],
            "group": ["exercise", "control", "control"],
        }
    )
    before = subjects.copy()
    a = asymmetry(m, subjects=subjects)
    pd.testing.assert_frame_equal(subjects, before)
    assert a["symptomatic_side"].astype(object).tolist()[:3] == ["right", "left", "bilateral"]
    assert pd.isna(a["symptomatic_side"].iloc[3])  # P4 not listed
    assert a["group"].tolist()[:3] == ["exercise", "control", "control"]
    assert pd.isna(a["group"].iloc[3])
    # pain on the smaller side -> +10; on the larger -> (7.2 - 8) / 7.2 = -11.1
    np.testing.assert_allclose(a["symptomatic_deficit_pct"], [10.0, -100 / 9, np.nan, np.nan])
    assert a["smaller_is_symptomatic"].tolist()[:2] == [True, False]
    assert a["smaller_is_symptomatic"].iloc[2:].isna().all()


def test_subjects_table_errors():
    m = outlines({"left": [8.0], "right": [7.2]})
    with pytest.raises(MfscanError, match="symptomatic_side"):
        asymmetry(m, subjects=pd.DataFrame({"subject": ["P1"]}))
    with pytest.raises(MfscanError, match="unknown symptomatic_side"):
        asymmetry(m, subjects=pd.DataFrame({"subject": ["P1"], "symptomatic_side": ["up"]}))
    with pytest.raises(MfscanError, match="twice"):
        asymmetry(m, subjects=pd.DataFrame({"subject": ["P1", "P1"], "symptomatic_side": ["left", "left"]}))


def test_largest_asymmetry_level():
    m = pd.concat(
        [
            outlines({"left": [8.0], "right": [7.2]}, level="L3"),  # 10 %
            outlines({"left": [8.0], "right": [6.0]}, level="L4"),  # 25 %
            outlines({"left": [6.0], "right": [8.0]}, level="L5"),  # 25 %, tie
            outlines({"left": [8.0]}, level="S1"),  # missing
            outlines({"left": [8.0], "right": [7.6]}, visit="2", level="L4"),
            outlines({"left": [8.0]}, visit="3", level="L4"),
        ]
    )
    best = largest_asymmetry_level(asymmetry(m))
    assert best["visit"].astype(str).tolist() == ["1", "2"]
    assert best["level"].astype(str).tolist() == ["L4", "L4"]  # tie -> cranial level
    np.testing.assert_allclose(best["asymmetry_pct"], [25.0, 5.0])
    assert best["n_levels"].tolist() == [3, 1]


def test_natural_sort_key():
    assert sorted(["10", "2", "1", "1.5"], key=natural_sort_key) == ["1", "1.5", "2", "10"]
    assert sorted(["week10", "Week4", "3", "baseline"], key=natural_sort_key) == [
        "3",
        "baseline",
        "Week4",
        "week10",
    ]
