"""Chronological order of visit labels: never sorted as strings, never guessed.

A wrong baseline inverts every change silently (``"post"`` sorts before ``"pre"``,
``"4wk"`` before ``"baseline"``), so visit labels are ordered only by a rule that
knows them, and anything else is refused with a message naming ``--visit-order``
(``visit_order=`` in the library).

The rule (:func:`visit_key`), applied to the distinct labels of a study:

1. **numbers** (``1``, ``2``, ``10``, ``01``) order by value; ``V1``, ``visit 2``,
   ``T0`` are visit numbers on the same scale (``1`` and ``V1`` together are refused:
   two names of one visit);
2. **ISO dates** (``2024-03-01``) order by date (all labels, or none, must be dates);
3. **words**: ``screening`` < ``baseline`` = ``base`` = ``pre`` = ``before`` =
   ``initial`` = ``entry`` = ``intake``, always first; then either

   * **times** since baseline: ``week 4``, ``4wk``, ``w4``, ``4 weeks``, ``day 3``,
     ``d3``, ``month 3``, ``6mo``, ``m6``, ``year 1``, ``1y`` (a week is 7 days, a
     month 30.44, a year 365.25; ``4wk follow-up`` is a time), or visit numbers; or
   * ``mid`` (``midpoint``, ``interim``) < ``post`` (``after``, ``end``,
     ``post-treatment``) < ``follow-up`` (``fu``; numbered ``fu2``, ``follow-up 3``,
     ``follow-up`` alone being the first);

   times and visit numbers are not combined with each other, nor with ``post`` or
   ``follow-up`` (is ``post`` before or after ``week 4``?): such a study needs its order.

Two labels meaning the same (``pre`` and ``baseline``, ``4wk`` and ``week 4``) are
refused too. With ``visit_date`` the dates order the visits instead, but only when
every measured visit is dated (:func:`check_dated`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from mfscan.errors import MfscanError
from mfscan.vocab import as_labels, natural_sort_key

__all__ = ["VISIT_ORDER_HELP", "visit_key", "visit_order", "check_dated", "is_dated"]

#: How the refusal tells the user to give the order.
VISIT_ORDER_HELP = "pass the chronological order with --visit-order V1,V2,... (visit_order=[...] in Python)"

_FIRST = {"screening": -1.0, "screen": -1.0}
_FIRST.update(
    dict.fromkeys(
        ("baseline", "base", "pre", "before", "initial", "entry", "intake", "pretreatment", "pre-treatment"),
        0.0,
    )
)
_AFTER = {"mid": 0.0, "midpoint": 0.0, "interim": 0.0}
_AFTER.update(dict.fromkeys(("post", "after", "end", "posttreatment", "post-treatment", "eot"), 1.0))
_DAYS = {"d": 1.0, "w": 7.0, "m": 30.44, "y": 365.25}
_UNIT = (
    r"(?P<unit>d|days?|w|wk|wks|weeks?|m|mo|mos|mon|months?|y|yr|yrs|years?)"  # unit, first letter decides
)
_NUM = r"(?P<n>\d+(?:\.\d+)?)"
_TIME = [re.compile(rf"^{_NUM}\s*{_UNIT}$"), re.compile(rf"^{_UNIT}\s*{_NUM}$")]
_VISIT_NUMBER = re.compile(rf"^(?:v|visit|t|time|timepoint)\s*{_NUM}$")
_FOLLOW = re.compile(r"^(?:fu|f/u|follow\s*up|followup)\s*(?P<n>\d+)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FOLLOW_WORDS = re.compile(r"\b(?:fu|f/u|follow\s*up|followup|visit|assessment)\b")


def _clean(label) -> str:
    text = str(label).strip().lower().replace("_", " ").replace("-", " ")
    return re.sub(r"\s+", " ", text)


def visit_key(label) -> tuple[str, float] | None:
    """The kind and position of one visit label by the rule of this module, or None.

    Returns
    -------
    tuple or None
        ``(kind, value)`` with kind ``"number"`` (numbers and ``V1``: the number),
        ``"date"`` (nanoseconds), ``"first"`` (screening -1, baseline 0), ``"time"``
        (days since baseline), ``"after"`` (mid 0, post 1) or ``"follow"`` (its
        number); None for a label the rule does not know.

    Examples
    --------
    >>> visit_key("4wk"), visit_key("Month 3"), visit_key("V2"), visit_key("pre")
    (('time', 28.0), ('time', 91.32), ('number', 2.0), ('first', 0.0))
    """
    raw = str(label).strip()
    if _DATE.match(raw):
        try:
            return ("date", float(pd.Timestamp(raw).value))
        except ValueError:
            return None
    try:
        value = float(raw)
    except ValueError:
        value = None
    if value is not None:
        return ("number", value) if np.isfinite(value) else None
    text = _clean(raw)
    compact = text.replace(" ", "")
    if text in _FIRST or compact in _FIRST:
        return ("first", _FIRST.get(text, _FIRST.get(compact)))
    if text in _AFTER or compact in _AFTER:
        return ("after", _AFTER.get(text, _AFTER.get(compact)))
    match = _VISIT_NUMBER.match(text)
    if match:
        return ("number", float(match["n"]))
    match = _FOLLOW.match(text)
    if match:
        return ("follow", float(match["n"] or 1))
    timed = _FOLLOW_WORDS.sub(" ", text).strip()
    for pattern in _TIME:
        match = pattern.match(timed)
        if match:
            return ("time", round(float(match["n"]) * _DAYS[match["unit"][0]], 6))
    return None


_PHASE = {"first": 0, "number": 1, "time": 1, "after": 2, "follow": 3, "date": 1}


def _refuse(message: str):
    raise MfscanError(f"{message}; {VISIT_ORDER_HELP}")


def _rule_order(labels: list[str]) -> list[str]:
    keys = {lab: visit_key(lab) for lab in labels}
    unknown = [lab for lab, k in keys.items() if k is None]
    if unknown:
        _refuse(
            f"cannot tell the chronological order of visit label(s) {', '.join(map(repr, unknown[:8]))} "
            "(known: numbers, dates, V1/visit 2, screening/baseline/pre, week 4/4wk/6mo, "
            "mid/post, follow-up 1)"
        )
    kinds = {k[0] for k in keys.values()}
    middle = kinds & {"number", "time", "date"}
    if "date" in kinds and kinds != {"date"}:
        _refuse("visit labels mix dates with other labels")
    if len(middle) > 1 or (middle and kinds & {"after", "follow"}):
        _refuse(
            "visit labels mix kinds whose relative order is unknown ("
            + ", ".join(sorted(kinds - {"first"}))
            + ")"
        )
    positions: dict[tuple, str] = {}
    for lab, (kind, value) in keys.items():
        pos = (_PHASE[kind], value)
        if pos in positions:
            _refuse(f"visit labels {positions[pos]!r} and {lab!r} name the same time")
        positions[pos] = lab
    return [positions[p] for p in sorted(positions)]


def _labels(visits) -> pd.Series:
    return as_labels(pd.Series(np.asarray(visits, dtype=object))).reset_index(drop=True)


def is_dated(dates) -> np.ndarray:
    """True where a ``visit_date`` value is present (not missing, not blank)."""
    s = pd.Series(np.asarray(dates, dtype=object))
    return (s.notna() & (s.astype(str).str.strip() != "")).to_numpy()


def check_dated(visits, dates, subjects=None) -> None:
    """Refuse a study where some visits are dated and others not.

    A visit is a label (with ``subjects``: a subject's visit). Either all carry a
    ``visit_date`` or none; otherwise the undated ones are named.
    """
    labels = _labels(visits)
    dated = is_dated(dates)
    if dated.all() or not dated.any():
        return
    who = labels if subjects is None else _labels(subjects) + " visit " + labels
    missing = sorted(set(who[~dated].astype(str)))
    _refuse_partial(missing)


def _refuse_partial(missing: list[str]) -> None:
    raise MfscanError(
        f"visit_date is given for some visits but not for {len(missing)}: "
        f"{', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}; a visit without a date "
        "cannot be placed among dated ones: date every visit (sidecar field visit_date), remove the "
        f"dates, or {VISIT_ORDER_HELP}"
    )


def visit_order(visits, dates=None) -> list[str]:
    """The distinct visit labels in chronological order.

    Parameters
    ----------
    visits : array_like
        Visit labels (numbers are converted to their text, ``1.0`` -> ``"1"``).
    dates : array_like, optional
        A date (ISO ``YYYY-MM-DD``) for each entry of ``visits``; blank or missing
        for none. When any is given every entry must have one; labels are then
        ordered by their median date (a label used by several subjects on
        different days takes the middle one).

    Returns
    -------
    list of str
        The labels in order, by the rule of :mod:`mfscan.visits` (numbers by
        value, dates, ``pre`` < ``post``, ``baseline`` < ``4wk`` < ``10wk``, ...).

    Raises
    ------
    mfscan.errors.MfscanError
        For labels the rule does not know or cannot combine, or partial dates;
        the message names ``--visit-order``.

    Examples
    --------
    >>> visit_order(["10", "2", "1", "2"])
    ['1', '2', '10']
    >>> visit_order(["post", "pre"]), visit_order(["10wk", "baseline", "4wk"])
    (['pre', 'post'], ['baseline', '4wk', '10wk'])
    >>> visit_order(["a", "b"], dates=["2024-03-01", "2024-01-01"])
    ['b', 'a']
    """
    labels = _labels(visits)
    uniques = list(dict.fromkeys(str(v) for v in labels.dropna()))
    if dates is None:
        return _rule_order(uniques)
    dates = pd.Series(np.asarray(dates, dtype=object))
    if len(dates) != len(labels):
        raise MfscanError(f"{len(labels)} visits but {len(dates)} dates")
    dated = is_dated(dates)
    if not dated.any():
        return _rule_order(uniques)
    check_dated(labels, dates)
    try:
        ns = pd.to_datetime(dates.where(dated, None), errors="raise")
    except (ValueError, TypeError) as e:
        raise MfscanError(f"visit_date cannot be read as dates ({e})") from e
    frame = pd.DataFrame({"visit": labels, "ns": ns.to_numpy(dtype="datetime64[ns]")})
    median = frame.dropna().groupby("visit")["ns"].median()
    return sorted(uniques, key=lambda v: (median[v], uniques.index(v)))


_visit_rule = visit_order  # the rule, for :func:`study_visit_order` whose parameter shares its name


def explicit_order(order: Sequence[str], labels) -> list[str]:
    """An explicit order as strings, refused when it lacks a label of the study or repeats one."""
    order = [str(v).strip() for v in order]
    dup = sorted({v for v in order if order.count(v) > 1})
    if dup:
        raise MfscanError(f"the visit order names {', '.join(dup)} twice")
    missing = sorted(set(_labels(labels).dropna().astype(str)) - set(order))
    if missing:
        raise MfscanError(f"--visit-order lacks visit(s) {', '.join(missing)} found in the study")
    return order


def study_visit_order(table: pd.DataFrame, visit_order: Sequence[str] | None = None):
    """THE policy of a study's visit order: explicit, else dates, else the rule.

    Parameters
    ----------
    table : DataFrame
        ``visit`` labels, with ``visit_date`` and ``subject`` when dated.
    visit_order : sequence of str, optional
        An explicit order; it must name every visit (:func:`explicit_order`).

    Returns
    -------
    order : list of str or None
        None for a table without visits.
    notes : list of str
        How the order was found, when not given or by numbers.

    Raises
    ------
    MfscanError
        For an order lacking a visit, partial dates (:func:`check_dated`) or labels the
        rule cannot order (the message names ``--visit-order``).
    """
    if not len(table) or "visit" not in table:
        return None, []
    if visit_order is not None:
        return explicit_order(visit_order, table["visit"]), []
    if "visit_date" in table and is_dated(table["visit_date"]).any():
        check_dated(table["visit"].astype(object), table["visit_date"], table.get("subject"))
        order = _visit_rule(table["visit"].astype(object), table["visit_date"])
        return order, ["visits are ordered by visit_date: " + " < ".join(order)]
    order = _visit_rule(pd.unique(table["visit"].astype(object)))
    if any(visit_key(v)[0] != "number" for v in order):
        return order, [
            "visits are ordered " + " < ".join(order) + " by the visit-word rule (README, visit order); "
            "if that is not their chronological order, pass --visit-order"
        ]
    return order, []


def one_visit_per_subject(
    table: pd.DataFrame,
    *,
    visit=None,
    visit_order: Sequence[str] | None = None,
    judges=None,
    later: dict | None = None,
) -> tuple[np.ndarray, str]:
    """Rows of one visit per subject, so that a subject is one target of a reliability design.

    Parameters
    ----------
    table : DataFrame
        ``subject, visit`` (and ``visit_date`` when dated); not modified.
    visit : str, optional
        This visit for every subject (refused when no row has it). Default: each
        subject's first visit in the study's order (``visit_order``, else dates when
        every visit is dated, else :func:`visit_order`).
    visit_order : sequence of str, optional
        The study's chronological visit labels.
    judges : array_like, optional
        The judge of each row (a rater, or a rater's session). Then each subject's visit
        is its first visit with the most judges of that subject: the first that **every**
        judge traced when there is one, so that a subject whose second rater traced only a
        later visit is compared there rather than left incomplete at its first.
    later : dict, optional
        Filled with ``{subject: visit}`` for the subjects whose visit is not their first
        (an earlier visit lacked a judge).

    Returns
    -------
    keep : ndarray of bool
    used : str
        ``"2"`` (one visit) or ``"first of each subject (1 for 12, 2 for 3)"``, followed by
        ``"; later where an earlier visit lacks a judge: S4: 2"`` when ``later`` is not empty.
    """
    labels = _labels(table["visit"]).fillna("").to_numpy(dtype=object)
    if visit is not None:
        visit = str(visit).strip()
        present = [v for v in dict.fromkeys(labels) if v]
        if visit not in present:
            raise MfscanError(f"visit {visit!r} is not in the measurements (found: {', '.join(present)})")
        return labels == visit, visit
    present = [v for v in dict.fromkeys(labels) if v]
    if len(present) <= 1:
        return np.ones(len(table), dtype=bool), present[0] if present else ""
    order, _ = study_visit_order(table[labels != ""], visit_order)  # the one policy
    rank = {v: i for i, v in enumerate(order)}
    ranks = np.array([rank.get(v, len(order)) for v in labels])
    subjects = _labels(table["subject"]).fillna("").to_numpy(dtype=object)
    first = pd.Series(ranks).groupby(subjects).transform("min").to_numpy()
    chosen = first
    if judges is not None:
        frame = pd.DataFrame(
            {"subject": subjects, "rank": ranks, "judge": pd.Series(judges, dtype=object).to_numpy()}
        )
        per_visit = frame.groupby(["subject", "rank"])["judge"].nunique().reset_index()
        most = per_visit.groupby("subject")["judge"].transform("max")
        best = per_visit[per_visit["judge"] == most].groupby("subject")["rank"].min()
        chosen = best.reindex(subjects).to_numpy(dtype=np.int64)
    keep = ranks == chosen
    counts = pd.Series(labels[keep]).groupby(subjects[keep]).first().value_counts()
    shown = ", ".join(f"{v} for {counts[v]}" for v in order if v in counts)
    moved = {
        s: order[r] if r < len(order) else ""
        for s, r, f in sorted(set(zip(subjects, chosen, first)), key=lambda t: natural_sort_key(t[0]))
        if r != f
    }
    if later is not None:
        later.update(moved)
    text = f"first of each subject ({shown})"
    if moved:
        shown = [f"{s}: {v}" for s, v in moved.items()]
        more = f" and {len(shown) - 10} more" if len(shown) > 10 else ""
        text += "; later where an earlier visit lacks a judge: " + ", ".join(shown[:10]) + more
    return keep, text
