"""Which rater's (and session's) measurement of a subject a per-subject analysis uses.

In a trial each subject is often measured by one sonographer, not by every rater: a
rule that keeps "the first rater" loses every subject that rater did not measure.
The rule, used by the mixed models (:mod:`mfscan.stats.mixed`) and the report's
CSA-over-visits figure:

* per **subject and visit**, the rows of **one rater** who measured that subject at that
  visit, and of that rater's **first session** there (natural order; a row without a
  session label is the first);
* where several raters did, the ``rater`` asked for when it is one of them, else the
  rater with **most outlines for that subject** (over all visits; ties in natural order);
* with ``session`` given, only rows of that session label are candidates;
* outlines are counted from the table's ``n`` (a side summary), else ``n_left + n_right``
  (an asymmetry table), else one per row (the measurements): :func:`chosen_judges`, so a
  table of any of these chooses the same rater for a subject.

The other raters' and sessions' rows of the same subject and visit are duplicates:
left out and counted in a note.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mfscan.errors import MfscanError
from mfscan.vocab import as_labels, natural_sort_key

__all__ = ["one_rater_per_subject", "chosen_judges"]


def _labels(table: pd.DataFrame, column: str) -> np.ndarray:
    if column not in table.columns:
        return np.full(len(table), "", dtype=object)
    return as_labels(table[column]).fillna("").to_numpy(dtype=object)


def _ranks(labels: np.ndarray, blank_first: bool = True) -> np.ndarray:
    """Natural-order rank of each label (the blank label first)."""
    order = sorted(set(labels), key=lambda v: (v != "" if blank_first else 0, natural_sort_key(v)))
    rank = {v: i for i, v in enumerate(order)}
    return np.array([rank[v] for v in labels], dtype=np.int64)


def _check_wanted(labels: np.ndarray, wanted, what: str) -> str | None:
    if wanted is None:
        return None
    wanted = str(wanted)
    present = sorted({v for v in labels if v != ""}, key=natural_sort_key)
    if wanted not in present:
        raise MfscanError(
            f"{what} {wanted!r} not in the measurements (found: {', '.join(present) or 'none'}); "
            f"give one of them with --{what}"
        )
    return wanted


def one_rater_per_subject(
    table: pd.DataFrame, *, rater=None, session=None, weight: str | None = None
) -> tuple[np.ndarray, list[str]]:
    """Rows of one rater and one session per subject and visit (module docstring).

    Parameters
    ----------
    table : DataFrame
        ``subject, visit`` and optionally ``rater, session``: one row per outline (the
        measurements) or per side mean (then ``weight`` names its outline count). Not
        modified.
    rater : str, optional
        The rater preferred where several measured a subject at a visit.
    session : str, optional
        Only rows of this session label (default: per subject and visit the chosen
        rater's first session).
    weight : str, optional
        Column with the number of outlines of each row (default: one per row).

    Returns
    -------
    keep : ndarray of bool
        The rows used.
    notes : list of str
        What was chosen and how many duplicate outlines were left out.

    Raises
    ------
    MfscanError
        ``rater`` or ``session`` not in the table.
    """
    raters, sessions = _labels(table, "rater"), _labels(table, "session")
    wanted = _check_wanted(raters, rater, "rater")
    wanted_session = _check_wanted(sessions, session, "session")
    notes: list[str] = []
    if not len(table):
        return np.zeros(0, dtype=bool), notes
    w = np.ones(len(table)) if weight is None else pd.to_numeric(table[weight]).to_numpy(dtype=float)
    frame = pd.DataFrame(
        {
            "subject": _labels(table, "subject"),
            "visit": _labels(table, "visit"),
            "rater": raters,
            "session": sessions,
            "w": w,
            "row": np.arange(len(table)),
        }
    )
    candidates = frame if wanted_session is None else frame[frame["session"] == wanted_session]
    per_rater = candidates.groupby(["subject", "rater"])["w"].transform("sum")
    ranked = candidates.assign(
        _wanted=(candidates["rater"] != wanted) if wanted is not None else False,
        _count=-per_rater,
        _rater=_ranks(candidates["rater"].to_numpy(dtype=object), blank_first=False),
        _session=_ranks(candidates["session"].to_numpy(dtype=object)),
    )
    ranked = ranked.sort_values(
        ["subject", "visit", "_wanted", "_count", "_rater", "_session"], kind="stable"
    )
    chosen = ranked.drop_duplicates(["subject", "visit"])[["subject", "visit", "rater", "session"]]
    used = frame.merge(chosen, on=["subject", "visit", "rater", "session"], how="left", indicator=True)
    keep = np.zeros(len(table), dtype=bool)
    keep[used.loc[used["_merge"] == "both", "row"].to_numpy()] = True
    if wanted_session is not None and (~keep).any():
        notes.append(
            f"session {wanted_session} only (--session): {int(w[~keep & (sessions != wanted_session)].sum())} "
            "outline(s) of other sessions left out"
        )
    judged = (
        frame[["subject", "visit", "rater", "session"]].drop_duplicates().groupby(["subject", "visit"]).size()
    )
    several = int((judged > 1).sum())
    dropped = int(w[~keep & ((sessions == wanted_session) if wanted_session is not None else True)].sum())
    if several:
        rule = (
            f"rater {wanted} where it measured the subject, else the rater"
            if wanted is not None
            else "the rater"
        )
        notes.append(
            f"{several} subject-visit(s) measured by several raters or sessions: per subject and visit "
            f"one rater and session is used ({rule} with most outlines for that subject, its first "
            f"session; choose with --rater / --session); {dropped} duplicate outline(s) left out"
        )
    if len(set(raters)) > 1:
        by = chosen.groupby("rater")["subject"].nunique()
        shown = ", ".join(
            f"{r or '(no rater)'}: {n}" for r, n in sorted(by.items(), key=lambda t: natural_sort_key(t[0]))
        )
        notes.append(f"subjects per rater used: {shown}")
    return keep, notes


def _outline_weights(table: pd.DataFrame) -> str | None:
    """The column counting each row's outlines (see the module docstring), made when needed."""
    if "n" in table.columns:
        return "n"
    if {"n_left", "n_right"} <= set(table.columns):
        return "_n_outlines"
    return None


def chosen_judges(table: pd.DataFrame, *, rater=None, session=None) -> pd.DataFrame:
    """The rater and session used per subject and visit, by :func:`one_rater_per_subject`.

    Parameters
    ----------
    table : DataFrame
        Measurements, a side summary (``n``) or an asymmetry table (``n_left``,
        ``n_right``): each row weighted by its outlines. Not modified.
    rater, session : optional
        As for :func:`one_rater_per_subject`.

    Returns
    -------
    DataFrame
        ``subject, visit, rater, session`` as text (``""`` for a missing label), one row
        per subject and visit: the judge whose rows a per-subject figure or table shows.
        Select the rows of another table of the same study (the largest level per
        visit) with these keys, so that both show the same rater.
    """
    weight = _outline_weights(table)
    if weight == "_n_outlines":
        table = table.assign(_n_outlines=table["n_left"].fillna(0) + table["n_right"].fillna(0))
    keep, _ = one_rater_per_subject(table, rater=rater, session=session, weight=weight)
    cols = ["subject", "visit", "rater", "session"]
    chosen = pd.DataFrame({c: _labels(table, c)[keep] for c in cols})
    return chosen.drop_duplicates().reset_index(drop=True)
