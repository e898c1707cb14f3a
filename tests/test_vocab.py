"""One vocabulary: every reader accepts the same side and level spellings, gives the
same value, and names an unknown value in its error (issue 9, point 1).

Before, the sidecar reader, ``read_table``, ``summarize_sides``, ``asymmetry(subjects=)``,
``read_subjects`` and the ImageJ name parser each had their own list: ``summarize_sides``
refused "lt"/"rt" that ``read_table`` accepted, ``asymmetry(subjects=)`` refused "R"
that ``read_subjects`` accepted.
"""

import pandas as pd
import pytest

from mfscan import vocab
from mfscan.annotations import from_dict
from mfscan.annotations.imagej import parse_roi_name
from mfscan.errors import AnnotationError, MfscanError
from mfscan.io.tables import read_subjects, read_table, set_dtypes
from mfscan.stats.asymmetry import asymmetry
from mfscan.stats.summary import summarize_sides

#: Every spelling the issue lists, with the side it means.
SIDE_SPELLINGS = [
    ("L", "left"),
    ("l", "left"),
    ("lt", "left"),
    ("Lt", "left"),
    ("left", "left"),
    ("Left", "left"),
    ("LEFT", "left"),
    (" left ", "left"),
    ("R", "right"),
    ("rt", "right"),
    ("right", "right"),
    ("Right", "right"),
    ("sin", "left"),
    ("dx", "right"),
]
LEVEL_SPELLINGS = ["l4", " L4 ", "L4"]
SQUARE = [[10, 10], [10, 30], [30, 30], [30, 10]]


def _sidecar(side="left", level="L4", roi_level=None):
    roi = {"side": side, "points": SQUARE}
    if roi_level is not None:
        roi["level"] = roi_level
    return {"format": "mfscan.annotation", "version": 1, "image": "a.png", "level": level, "rois": [roi]}


def _outlines(sides, levels, csa):
    return pd.DataFrame(
        {"subject": "P1", "visit": "1", "level": levels, "side": sides, "rater": "R1", "csa_cm2": csa}
    )


def _one_subject(symptomatic):
    """P1 with left 8.0 and right 7.2 cm² (domain.md values) and its subjects table."""
    return (
        _outlines(["left", "right"], ["L4", "L4"], [8.0, 7.2]),
        pd.DataFrame({"subject": ["P1"], "symptomatic_side": [symptomatic]}),
    )


# ------------------------------------------------------------------ sides, one reader at a time


@pytest.mark.parametrize("spelling, side", SIDE_SPELLINGS)
def test_sidecar_reader_accepts_every_side_spelling(spelling, side):
    assert from_dict(_sidecar(spelling)).rois[0].side == side


@pytest.mark.parametrize("spelling, side", SIDE_SPELLINGS)
def test_tables_accept_every_side_spelling(tmp_path, spelling, side):
    got = set_dtypes(pd.DataFrame({"side": [spelling, "right"]}))["side"]
    assert got.tolist() == [side, "right"] and got.dtype == vocab.SIDE_DTYPE
    p = tmp_path / "t.csv"
    p.write_text(f"subject,side,csa_cm2\nP1,{spelling},7.5\n")
    read = read_table(p)
    assert read["side"].tolist() == [side] and read["side"].dtype == vocab.SIDE_DTYPE


@pytest.mark.parametrize("spelling, side", SIDE_SPELLINGS)
def test_summarize_sides_accepts_every_side_spelling(spelling, side):
    # the spelled outline joins the canonical one: one group of 2, mean of 7 and 9
    m = _outlines([spelling, side], ["L4", "L4"], [7.0, 9.0])
    s = summarize_sides(m, measures=["csa_cm2"])
    assert s["side"].tolist() == [side] and s["n"].tolist() == [2]
    assert s["csa_cm2"].tolist() == [8.0]
    assert vocab.as_side([spelling]).tolist() == [side]


@pytest.mark.parametrize("spelling, side", SIDE_SPELLINGS)
def test_asymmetry_subjects_accept_every_symptomatic_side_spelling(spelling, side):
    m, subjects = _one_subject(spelling)
    a = asymmetry(m, subjects=subjects)
    assert a["symptomatic_side"].tolist() == [side]
    assert a["symptomatic_side"].dtype == vocab.SYMPTOMATIC_DTYPE
    # right (7.2) painful: (8.0 - 7.2) / 8.0 = +10 %; left (8.0) painful: (7.2 - 8.0) / 7.2
    expected = 10.0 if side == "right" else -0.8 / 7.2 * 100
    assert a["symptomatic_deficit_pct"].iloc[0] == pytest.approx(expected, abs=1e-12)
    assert a["smaller_is_symptomatic"].tolist() == [side == "right"]


@pytest.mark.parametrize("spelling, side", SIDE_SPELLINGS)
def test_read_subjects_accepts_every_symptomatic_side_spelling(tmp_path, spelling, side):
    p = tmp_path / "subjects.csv"
    p.write_text(f"subject,symptomatic_side,group\nP1,{spelling},exercise\nP2,None,control\n")
    s = read_subjects(p)
    assert s["symptomatic_side"].tolist() == [side, "none"]
    assert s["subject"].tolist() == ["P1", "P2"] and s["group"].tolist() == ["exercise", "control"]


@pytest.mark.parametrize("spelling, side", SIDE_SPELLINGS)
def test_imagej_names_accept_every_side_spelling(spelling, side):
    assert parse_roi_name(spelling) == (side, None)
    assert parse_roi_name(f"03-{spelling}-L4") == (side, "L4")


# ------------------------------------------------------------------ levels


@pytest.mark.parametrize("spelling", LEVEL_SPELLINGS)
def test_every_reader_accepts_every_level_spelling(tmp_path, spelling):
    a = from_dict(_sidecar(level=spelling, roi_level=spelling))
    assert (a.level, a.rois[0].level) == ("L4", "L4")
    got = set_dtypes(pd.DataFrame({"level": [spelling, "L5"]}))["level"]
    assert got.tolist() == ["L4", "L5"] and got.dtype == vocab.LEVEL_DTYPE
    p = tmp_path / "t.csv"
    p.write_text(f"subject,level,side\nP1,{spelling},left\n")
    assert read_table(p)["level"].tolist() == ["L4"]
    s = summarize_sides(_outlines(["left", "left"], [spelling, "L4"], [7.0, 9.0]), measures=["csa_cm2"])
    assert s["level"].tolist() == ["L4"] and s["n"].tolist() == [2] and s["csa_cm2"].tolist() == [8.0]
    assert vocab.as_level([spelling]).tolist() == ["L4"]
    assert parse_roi_name(f"left {spelling}") == ("left", "L4")


# ------------------------------------------------------------------ unknown values named


def test_unknown_side_is_named_by_every_reader(tmp_path):
    with pytest.raises(AnnotationError, match=r"^ROI 0: unknown side 'middle'; expected 'left' or 'right'$"):
        from_dict(_sidecar("middle"))
    msg = r"column 'side' has value\(s\) 'middle' \(unknown side\); expected one of left, right"
    with pytest.raises(MfscanError, match=msg):
        set_dtypes(pd.DataFrame({"side": ["left", "middle"]}))
    p = tmp_path / "t.csv"
    p.write_text("subject,side\nP1,middle\n")
    with pytest.raises(MfscanError, match=msg) as e:
        read_table(p)
    assert e.value.path == p
    with pytest.raises(MfscanError, match=msg):
        summarize_sides(_outlines(["left", "middle"], ["L4", "L4"], [7.0, 9.0]))
    with pytest.raises(MfscanError, match=msg):
        asymmetry(_outlines(["left", "middle"], ["L4", "L4"], [7.0, 9.0]))
    with pytest.raises(AnnotationError, match="ROI name 'middle' names no side"):
        parse_roi_name("middle")


def test_unknown_symptomatic_side_is_named_by_every_reader(tmp_path):
    m, subjects = _one_subject("middle")
    with pytest.raises(
        MfscanError,
        match=r"column 'symptomatic_side' has value\(s\) 'middle' "
        r"\(unknown symptomatic_side\); expected one of left, right, "
        r"none, bilateral",
    ):
        asymmetry(m, subjects=subjects)
    p = tmp_path / "subjects.csv"
    p.write_text("subject,symptomatic_side\nP1,left\nP2,middle\n")
    with pytest.raises(
        MfscanError, match="symptomatic_side 'middle' for subject 'P2' is not left, right, none or bilateral"
    ) as e:
        read_subjects(p)
    assert e.value.path == p


def test_unknown_level_is_named_by_every_reader(tmp_path):
    with pytest.raises(
        AnnotationError, match="^unknown vertebral level 'T12'; expected one of L1, L2, L3, L4, L5, S1$"
    ):
        from_dict(_sidecar(level="T12"))
    with pytest.raises(AnnotationError, match=r"^ROI 0 \(left\): unknown vertebral level 'T12'"):
        from_dict(_sidecar(roi_level="T12"))
    msg = r"column 'level' has value\(s\) 'T12' \(unknown level\); expected one of L1, L2, L3, L4, L5, S1"
    with pytest.raises(MfscanError, match=msg):
        set_dtypes(pd.DataFrame({"level": ["L4", "T12"]}))
    with pytest.raises(MfscanError, match=msg):
        summarize_sides(_outlines(["left", "left"], ["L4", "T12"], [7.0, 9.0]))


def test_blank_and_missing_codes_stay_missing_in_tables():
    got = set_dtypes(pd.DataFrame({"side": ["left", "", " ", None], "level": ["L4", "", None, "l5"]}))
    assert got["side"].isna().tolist() == [False, True, True, True]
    assert got["level"].isna().tolist() == [False, True, True, False]
    assert got.loc[3, "level"] == "L5"


# ------------------------------------------------------------------ one definition


def test_dtypes_and_constants_are_the_very_same_objects():
    assert vocab.LEVEL_DTYPE.ordered and list(vocab.LEVEL_DTYPE.categories) == [
        "L1",
        "L2",
        "L3",
        "L4",
        "L5",
        "S1",
    ]
    assert list(vocab.SIDE_DTYPE.categories) == ["left", "right"]
