"""Visit order is never silently wrong (issue 12): rule, explicit order, dates, refusals."""

import numpy as np
import pandas as pd
import pytest

from mfscan.errors import MfscanError
from mfscan.stats.longitudinal import longitudinal
from mfscan.stats.study import analyse_study
from mfscan.visits import visit_key, visit_order


def rows(subject, visit, left, right, date=None):
    return [
        {
            "image": f"{subject}_{visit}_{side}.png",
            "subject": subject,
            "visit": visit,
            "level": "L4",
            "side": side,
            "rater": "R1",
            "csa_cm2": value,
            **({"visit_date": date} if date is not None else {}),
        }
        for side, value in (("left", left), ("right", right))
    ]


@pytest.mark.parametrize(
    "labels, expected",
    [
        (["post", "pre"], ["pre", "post"]),
        (["10wk", "baseline", "4wk"], ["baseline", "4wk", "10wk"]),
        (["week 10", "Baseline", "week 4"], ["Baseline", "week 4", "week 10"]),
        (["w10", "w4", "screening", "base"], ["screening", "base", "w4", "w10"]),
        (["6mo", "month 3", "baseline", "12 months"], ["baseline", "month 3", "6mo", "12 months"]),
        (["follow-up 2", "post", "pre", "fu1"], ["pre", "post", "fu1", "follow-up 2"]),
        (["V10", "visit 2", "V1"], ["V1", "visit 2", "V10"]),
        (["10", "2", "1"], ["1", "2", "10"]),
        (["2024-03-01", "2023-12-24"], ["2023-12-24", "2024-03-01"]),
    ],
)
def test_rule_orders_known_labels(labels, expected):
    assert visit_order(labels) == expected


def test_times_in_days():
    assert visit_key("4wk") == ("time", 28.0)
    assert visit_key("10 weeks") == ("time", 70.0)
    assert visit_key("6mo") == ("time", round(6 * 30.44, 6))
    assert visit_key("6mo follow-up") == ("time", round(6 * 30.44, 6))
    assert visit_key("pre") == ("first", 0.0) and visit_key("screening") == ("first", -1.0)
    assert visit_key("T2") == ("number", 2.0)
    assert visit_key("control") is None


@pytest.mark.parametrize(
    "labels, match",
    [
        (["a", "b"], "'a', 'b'"),
        (["pre", "baseline"], "same time"),
        (["4wk", "week 4"], "same time"),
        (["1", "V1"], "same time"),
        (["baseline", "4wk", "post"], "mix"),
        (["1", "4wk"], "mix"),
        (["2024-01-01", "post"], "dates"),
    ],
)
def test_unorderable_labels_refused_naming_the_option(labels, match):
    with pytest.raises(MfscanError, match=match) as e:
        visit_order(labels)
    assert "--visit-order" in str(e.value) and "visit_order=" in str(e.value)


def test_pre_post_change_from_the_right_baseline():
    # "post" < "pre" as strings: the old order took post as baseline and inverted the change
    m = pd.DataFrame(rows("P1", "post", 9.0, 8.0) + rows("P1", "pre", 8.0, 7.2))
    lon = longitudinal(m)
    assert lon["visit"].astype(str).tolist() == ["pre", "post"]
    assert lon["baseline_visit"].astype(str).tolist() == ["pre", "pre"]
    np.testing.assert_allclose(lon["left_change_cm2"], [0.0, 1.0])
    np.testing.assert_allclose(lon["right_change_cm2"], [0.0, 0.8], atol=1e-12)


def test_baseline_4wk_10wk_through_analyse_study():
    m = pd.DataFrame(
        rows("P1", "10wk", 8.0, 8.0) + rows("P1", "baseline", 8.0, 6.0) + rows("P1", "4wk", 8.0, 7.0)
    )
    st = analyse_study(m)
    assert st.visit_order == ["baseline", "4wk", "10wk"]
    lon = st.longitudinal
    assert lon["visit"].astype(str).tolist() == ["baseline", "4wk", "10wk"]
    np.testing.assert_allclose(lon["right_change_cm2"], [0.0, 1.0, 2.0])
    # hides asymmetry 25 % -> 12.5 % -> 0 %
    np.testing.assert_allclose(lon["asymmetry_change_pct_points"], [0.0, -12.5, -25.0])
    assert any("baseline < 4wk < 10wk" in n for n in st.notes)
    assert st.side_summary["visit"].astype(str).tolist()[:2] == ["baseline", "baseline"]


def test_unorderable_label_refused_by_the_library_and_explicit_order_accepted():
    m = pd.DataFrame(rows("P1", "first", 8.0, 7.0) + rows("P1", "second", 8.0, 8.0))
    with pytest.raises(MfscanError, match="--visit-order"):
        analyse_study(m)
    with pytest.raises(MfscanError, match="--visit-order"):
        longitudinal(m)
    st = analyse_study(m, visit_order=["second", "first"])
    assert st.longitudinal["visit"].astype(str).tolist() == ["second", "first"]
    np.testing.assert_allclose(st.longitudinal["right_change_cm2"], [0.0, -1.0])
    with pytest.raises(MfscanError, match="lacks visit"):
        analyse_study(m, visit_order=["first"])
    # tables that need no order do not refuse
    assert analyse_study(m, tables=("asymmetry",)).asymmetry is not None


def test_dates_order_visits_when_every_visit_is_dated():
    m = pd.DataFrame(
        rows("P1", "a", 8.0, 8.0, "2024-03-01")
        + rows("P1", "b", 8.0, 6.0, "2024-01-01")
        + rows("P2", "a", 5.0, 5.0, "2024-03-05")
        + rows("P2", "b", 5.0, 4.0, "2024-01-03")
    )
    st = analyse_study(m)
    assert st.visit_order == ["b", "a"]
    lon = st.longitudinal
    np.testing.assert_allclose(lon["right_change_cm2"], [0.0, 2.0, 0.0, 1.0])
    np.testing.assert_allclose(lon["days_since_baseline"], [0.0, 60.0, 0.0, 62.0])


def test_partially_dated_visits_refused():
    m = pd.DataFrame(
        rows("P1", "1", 8.0, 8.0, "2024-03-01") + rows("P1", "2", 8.0, 6.0, "") + rows("P2", "1", 5, 5, "")
    )
    with pytest.raises(MfscanError, match="visit_date is given for some visits but not for 2") as e:
        analyse_study(m)
    assert "P1 visit 2" in str(e.value) and "--visit-order" in str(e.value)
    with pytest.raises(MfscanError, match="visit_date"):
        longitudinal(m)
    # undated everywhere (blank strings): the rule orders the labels
    undated = m.assign(visit_date="")
    assert analyse_study(undated).visit_order == ["1", "2"]
    # an explicit order is the user's word: accepted with partial dates, baseline by that order
    st = analyse_study(m, visit_order=["1", "2"])
    p1 = st.longitudinal[st.longitudinal["subject"] == "P1"]
    np.testing.assert_allclose(p1["right_change_cm2"], [0.0, -2.0])


def _pre_post_two_raters() -> pd.DataFrame:
    """Two subjects, visits "post" and "pre" (the rows in text order, post first), raters R1 and
    R2 each tracing every side once; R2 is 0.5 cm² larger everywhere."""
    table = []
    for subject, base in (("S1", 8.0), ("S2", 9.0), ("S3", 7.0)):
        for visit, shift in (("post", 1.0), ("pre", 0.0)):
            for rater, offset in (("R1", 0.0), ("R2", 0.5)):
                for r in rows(subject, visit, base + shift + offset, base + shift + offset - 0.4):
                    table.append({**r, "rater": rater})
    return pd.DataFrame(table)


def test_summary_and_report_reliability_take_the_policys_visit_order():
    """The side summary (without any asymmetry table asking for the order) and the report's
    reliability table (visits pooled) put "pre" before "post", as the rule does (``pre`` is a
    first visit, ``post`` after it), not in text order ("post" < "pre")."""
    from types import SimpleNamespace

    from mfscan.report._context import Context
    from mfscan.report.sections.reliability import section
    from mfscan.stats.summary import summarize_sides

    m = _pre_post_two_raters()
    summary = summarize_sides(m, measures=["csa_cm2"])
    s1 = summary[(summary["subject"] == "S1") & (summary["rater"] == "R1") & (summary["side"] == "left")]
    assert list(s1["visit"].astype(str)) == ["pre", "post"]
    assert list(s1["csa_cm2"]) == [8.0, 9.0]  # pre 8.0, post 8.0 + 1.0
    alone = analyse_study(m, tables=("side_summary",)).side_summary
    assert list(alone["visit"].cat.categories) == ["pre", "post"]

    res = analyse_study(m, tables=("reliability",), pool_visits=True)
    assert set(res.reliability["visits"]) == {"pooled: pre|post"}
    html = "".join(
        section(Context(res=SimpleNamespace(reliability=res.reliability, measurements=m), study_dir="."))
    )
    assert "pooled: pre|post" in html and "post|pre" not in html


def test_asymmetry_rows_keep_unorderable_visits_as_found_not_in_text_order():
    """Labels the rule cannot order ("zeta", "alpha"): the asymmetry table (which alone needs no
    order) keeps them as found, with a note, instead of sorting them as text."""
    m = pd.DataFrame([r for s in ("S1", "S2") for v in ("zeta", "alpha") for r in rows(s, v, 8.0, 7.0)])
    res = analyse_study(m, tables=("asymmetry",))
    assert list(res.asymmetry["visit"].astype(str)) == ["zeta", "alpha", "zeta", "alpha"]
    assert res.visit_order is None
    assert any("order they are found, not a time order" in n for n in res.notes)
