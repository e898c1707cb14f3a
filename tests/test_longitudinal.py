"""Tests of visit ordering, change from baseline and group summaries (values by hand)."""

import numpy as np
import pandas as pd
import pytest

from mfscan.errors import MfscanError
from mfscan.stats.asymmetry import asymmetry
from mfscan.stats.longitudinal import group_summary, longitudinal
from mfscan.visits import visit_order


def rows(subject, visit, left, right, *, level="L4", rater="R1", date=None, repeats=1):
    out = []
    for side, value in (("left", left), ("right", right)):
        if value is None:
            continue
        for i in range(repeats):
            out.append(
                {
                    "image": f"{subject}_{visit}_{level}_{side}_{i}.png",
                    "subject": subject,
                    "visit": visit,
                    "level": level,
                    "side": side,
                    "rater": rater,
                    "csa_cm2": value,
                    **({"visit_date": date} if date else {}),
                }
            )
    return out


def test_visit_order_numeric_and_natural():
    assert visit_order(["1", "2", "10"]) == ["1", "2", "10"]
    assert visit_order(["10", "2", "1", "2"]) == ["1", "2", "10"]
    assert visit_order([10, 2, 1]) == ["1", "2", "10"]
    assert visit_order(["week10", "week4", "baseline"]) == ["baseline", "week4", "week10"]
    # issue 12: V-numbers and numbers are one scale (they used to sort numbers first)
    assert visit_order(["v2", "3", "v10", "1"]) == ["1", "v2", "3", "v10"]


def test_visit_order_dates_override():
    visits = ["1", "2", "10", "1", "2", "10"]
    dates = ["2024-05-01", "2024-06-01", "2024-01-01", "2024-05-03", "2024-06-05", "2024-01-03"]
    assert visit_order(visits, dates) == ["10", "1", "2"]
    # issue 12: an undated visit is refused (it used to come last, silently)
    with pytest.raises(MfscanError, match="--visit-order"):
        visit_order(["a", "b", "c"], ["2024-02-01", None, "2024-01-01"])
    with pytest.raises(MfscanError, match="not for 1: 10"):
        visit_order(visits, dates[:-1] + [""])
    with pytest.raises(MfscanError, match="dates"):
        visit_order(["1", "2"], ["2024-01-01"])


def test_change_from_baseline_by_hand():
    m = pd.DataFrame(
        rows("P1", "1", 8.0, 7.2, repeats=3) + rows("P1", "2", 8.4, 7.8) + rows("P1", "10", 8.0, 8.0)
    )
    before = m.copy()
    lon = longitudinal(asymmetry(m))
    pd.testing.assert_frame_equal(m, before)
    assert lon["visit"].astype(str).tolist() == ["1", "2", "10"]
    assert lon["visit"].cat.ordered
    assert lon["baseline_visit"].astype(str).tolist() == ["1", "1", "1"]
    np.testing.assert_allclose(lon["left_change_cm2"], [0.0, 0.4, 0.0], atol=1e-12)
    np.testing.assert_allclose(lon["right_change_cm2"], [0.0, 0.6, 0.8], atol=1e-12)
    np.testing.assert_allclose(lon["left_change_pct"], [0.0, 5.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(lon["right_change_pct"], [0.0, 0.6 / 7.2 * 100, 0.8 / 7.2 * 100])
    # hides: 10 %, (8.4 - 7.8) / 8.4 = 7.142857 %, 0 %
    np.testing.assert_allclose(
        lon["asymmetry_change_pct_points"], [0.0, 0.6 / 8.4 * 100 - 10.0, -10.0], atol=1e-12
    )
    idx = [-0.8 / 7.6 * 100, -0.6 / 8.1 * 100, 0.0]
    np.testing.assert_allclose(lon["asymmetry_index_change_pct_points"], np.array(idx) - idx[0], atol=1e-12)
    assert "visit_date" not in lon.columns


def test_measurements_and_subjects_accepted_directly():
    m = pd.DataFrame(rows("P1", "1", 8.0, 7.2) + rows("P1", "2", 8.0, 7.6))
    subjects = pd.DataFrame({"subject": ["P1"], "symptomatic_side": ["right"], "group": ["ex"]})
    lon = longitudinal(m, subjects=subjects)
    assert lon["group"].tolist() == ["ex", "ex"]
    np.testing.assert_allclose(lon["symptomatic_deficit_pct"], [10.0, 5.0])
    np.testing.assert_allclose(lon["symptomatic_deficit_change_pct_points"], [0.0, -5.0], atol=1e-12)
    # attaching subjects to an existing asymmetry table gives the same
    lon2 = longitudinal(asymmetry(m), subjects=subjects)
    pd.testing.assert_frame_equal(lon, lon2)


def test_dates_choose_baseline_and_give_relative_days():
    m = pd.DataFrame(
        rows("P1", "1", 8.0, 8.0, date="2024-03-01")
        + rows("P1", "2", 7.0, 7.0, date="2024-01-01")
        + rows("P2", "1", 5.0, 5.0, date="2024-02-10")
        + rows("P2", "2", 6.0, 6.0, date="2024-02-01")
    )
    lon = longitudinal(asymmetry(m))
    assert "visit_date" not in lon.columns
    assert lon["visit"].astype(str).tolist() == ["2", "1", "2", "1"]
    assert lon["baseline_visit"].astype(str).tolist() == ["2", "2", "2", "2"]
    np.testing.assert_allclose(lon["days_since_baseline"], [0.0, 60.0, 0.0, 9.0])
    np.testing.assert_allclose(lon["left_change_cm2"], [0.0, 1.0, 0.0, -1.0])
    # an explicit order wins over dates
    lon = longitudinal(asymmetry(m), order=["1", "2"])
    assert lon["visit"].astype(str).tolist() == ["1", "2", "1", "2"]
    with pytest.raises(MfscanError, match="missing from the visit order"):
        longitudinal(asymmetry(m), order=["1"])


def test_baseline_missing_for_a_level_or_side():
    m = pd.DataFrame(
        rows("P1", "1", 8.0, 7.2, level="L4")
        + rows("P1", "1", 9.0, None, level="L5")
        + rows("P1", "2", 8.8, 7.2, level="L4")
        + rows("P1", "2", 9.9, 9.0, level="L5")
        + rows("P1", "3", 8.0, 8.0, level="S1")
    )
    lon = longitudinal(asymmetry(m))
    assert lon["level"].astype(str).tolist() == ["L4", "L4", "L5", "L5", "S1"]
    np.testing.assert_allclose(lon["left_change_cm2"], [0.0, 0.8, 0.0, 0.9, np.nan], atol=1e-12)
    np.testing.assert_allclose(lon["right_change_cm2"], [0.0, 0.0, np.nan, np.nan, np.nan], atol=1e-12)
    assert lon["asymmetry_change_pct_points"].iloc[2:].isna().all()
    assert lon["missing_reason"].tolist()[2] == "no right outline"
    assert lon["baseline_visit"].astype(str).tolist() == ["1"] * 5


def test_group_summary_by_hand():
    data = []
    # exercise group: left CSA at visit 1 and 2
    for subj, l1, l2 in (("E1", 8.0, 9.0), ("E2", 6.0, 7.0)):
        data += rows(subj, "1", l1, 8.0) + rows(subj, "2", l2, 8.0)
    for subj, l1, l2 in (("C1", 7.0, 7.0), ("C2", 7.0, 7.5), ("C3", 7.0, 8.0)):
        data += rows(subj, "1", l1, 8.0) + rows(subj, "2", l2, 8.0)
    m = pd.DataFrame(data)
    subjects = pd.DataFrame(
        {
            "subject": ["E1", "E2", "C1", "C2", "C3"],
            "symptomatic_side": ["left"] * 5,
            "group": ["exercise"] * 2 + ["control"] * 3,
        }
    )
    lon = longitudinal(asymmetry(m))
    summary = group_summary(lon, subjects)
    assert summary[["group", "visit"]].astype(str).values.tolist() == [
        ["control", "1"],
        ["control", "2"],
        ["exercise", "1"],
        ["exercise", "2"],
    ]
    np.testing.assert_allclose(summary["left_csa_cm2_mean"], [7.0, 7.5, 7.0, 8.0])
    np.testing.assert_allclose(summary["left_csa_cm2_sd"], [0.0, 0.5, np.sqrt(2), np.sqrt(2)])
    assert summary["left_csa_cm2_n"].tolist() == [3, 3, 2, 2]
    assert summary["n_subjects"].tolist() == [3, 3, 2, 2]
    np.testing.assert_allclose(summary["left_change_cm2_mean"], [0.0, 0.5, 0.0, 1.0])
    # hides asymmetry: control visit 2: 12.5, 6.25, 0 -> mean 6.25
    np.testing.assert_allclose(summary["asymmetry_pct_mean"].iloc[1], 6.25)
    # group column taken from the table when present; "all" without any group
    with_groups = group_summary(longitudinal(asymmetry(m, subjects=subjects)))
    pd.testing.assert_frame_equal(with_groups[summary.columns], summary)
    assert "symptomatic_deficit_pct_mean" in with_groups.columns
    assert set(group_summary(lon)["group"]) == {"all"}
