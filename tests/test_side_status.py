"""Side status: opposite painful sides do not cancel in group tables (issue 12, values by hand)."""

import numpy as np
import pandas as pd
import pytest

from mfscan.errors import MfscanError
from mfscan.stats.asymmetry import side_status
from mfscan.stats.longitudinal import group_summary, longitudinal
from mfscan.stats.sides import side_status_summary
from mfscan.stats.study import analyse_study
from mfscan.vocab import SIDE_STATUS_DTYPE


def rows(subject, visit, left, right):
    return [
        {
            "image": f"{subject}_{visit}_{side}.png",
            "subject": subject,
            "visit": visit,
            "level": "L4",
            "side": side,
            "rater": "R1",
            "csa_cm2": value,
        }
        for side, value in (("left", left), ("right", right))
    ]


# two subjects with 25 % deficits on opposite sides, the painful side recovering by 1 cm² at visit 2
MEAS = pd.DataFrame(
    rows("S1", "1", 6.0, 8.0)
    + rows("S2", "1", 8.0, 6.0)
    + rows("S1", "2", 7.0, 8.0)
    + rows("S2", "2", 8.0, 7.0)
)
SUBJECTS = pd.DataFrame({"subject": ["S1", "S2"], "symptomatic_side": ["L", "right"], "group": ["ex", "ex"]})


def test_side_status_rule():
    got = side_status(
        ["left", "right", "left", "right", "L", "R", "left"],
        ["left", "left", "Rt", "R", "bilateral", "none", None],
    )
    assert got.dtype == SIDE_STATUS_DTYPE
    assert list(got.astype(object)) == [
        "symptomatic",
        "asymptomatic",
        "asymptomatic",
        "symptomatic",
        "bilateral",
        "none",
        np.nan,
    ]
    with pytest.raises(MfscanError):
        side_status(["left"], ["sideways"])


def test_opposite_painful_sides_do_not_cancel():
    st = analyse_study(MEAS, subjects=SUBJECTS)
    g = st.group_summary.set_index(st.group_summary["visit"].astype(str))
    # by side: left (6 + 8) / 2 = 7 = right: the deficit cancels
    assert g.loc["1", "left_csa_cm2_mean"] == pytest.approx(7.0)
    assert g.loc["1", "right_csa_cm2_mean"] == pytest.approx(7.0)
    assert g.loc["1", "asymmetry_index_pct_mean"] == pytest.approx(0.0)
    # by side status: symptomatic 6 < asymptomatic 8; deficit (8 - 6) / 8 = 25 %
    assert g.loc["1", "symptomatic_csa_cm2_mean"] == pytest.approx(6.0)
    assert g.loc["1", "asymptomatic_csa_cm2_mean"] == pytest.approx(8.0)
    assert g.loc["1", "symptomatic_deficit_pct_mean"] == pytest.approx(25.0)
    assert g.loc["2", "symptomatic_change_cm2_mean"] == pytest.approx(1.0)
    assert g.loc["2", "asymptomatic_change_cm2_mean"] == pytest.approx(0.0)
    assert g.loc["2", "symptomatic_change_pct_mean"] == pytest.approx(100.0 / 6.0)

    s = st.side_status_summary
    s = s.set_index([s["visit"].astype(str), s["side_status"].astype(str)])
    assert s.loc[("1", "symptomatic"), "csa_cm2_mean"] == pytest.approx(6.0)
    assert s.loc[("1", "asymptomatic"), "csa_cm2_mean"] == pytest.approx(8.0)
    assert s.loc[("2", "symptomatic"), "change_cm2_mean"] == pytest.approx(1.0)
    assert (s["n_subjects"] == 2).all()


def test_per_side_tables_carry_side_status():
    st = analyse_study(MEAS, subjects=SUBJECTS)
    ss = st.side_summary
    assert ss["side_status"].dtype == SIDE_STATUS_DTYPE
    s1 = ss[(ss["subject"] == "S1") & (ss["visit"].astype(str) == "1")]
    assert dict(zip(s1["side"].astype(str), s1["side_status"].astype(str))) == {
        "left": "symptomatic",
        "right": "asymptomatic",
    }
    a = st.asymmetry
    s2 = a[a["subject"] == "S2"].iloc[0]
    assert s2["left_side_status"] == "asymptomatic" and s2["right_side_status"] == "symptomatic"
    assert s2["symptomatic_csa_cm2"] == 6.0 and s2["asymptomatic_csa_cm2"] == 8.0
    assert {"left_side_status", "symptomatic_csa_cm2"} <= set(st.longitudinal.columns)


def test_bilateral_and_none_counted_once_and_ci_by_hand():
    m = pd.DataFrame(
        rows("B1", "1", 6.0, 8.0)
        + rows("N1", "1", 9.0, 7.0)
        + rows("U1", "1", 5.0, 7.0)
        + rows("U2", "1", 6.0, 8.0)
        + rows("U3", "1", 8.0, 8.0)
    )
    subjects = pd.DataFrame(
        {
            "subject": ["B1", "N1", "U1", "U2", "U3"],
            "symptomatic_side": ["bilateral", "none", "left", "left", "left"],
        }
    )
    lon = longitudinal(m, subjects=subjects)
    s = side_status_summary(lon)
    s = s.set_index(s["side_status"].astype(str))
    assert s.loc["bilateral", "csa_cm2_mean"] == pytest.approx(7.0) and s.loc["bilateral", "n_subjects"] == 1
    assert s.loc["none", "csa_cm2_mean"] == pytest.approx(8.0)
    assert set(s["group"]) == {"all"}
    # symptomatic 5, 6, 8: mean 19/3, SD sqrt(7/3), t(0.975, 2) = 4.302653
    half = 4.302652729749464 * np.sqrt(7 / 3) / np.sqrt(3)
    assert s.loc["symptomatic", "csa_cm2_ci_lower"] == pytest.approx(19 / 3 - half)
    assert s.loc["symptomatic", "csa_cm2_ci_upper"] == pytest.approx(19 / 3 + half)
    assert np.isnan(s.loc["none", "csa_cm2_ci_lower"])  # one subject: no interval
    assert group_summary(lon)["symptomatic_csa_cm2_mean"].iloc[0] == pytest.approx(19 / 3)
