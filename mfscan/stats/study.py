"""One study analysis: from the measurements table to every study table.

:func:`analyse_study` is the single place where a study's outlines become its
tables. ``mfscan report``, ``mfscan asymmetry`` and ``mfscan reliability`` (and
the plugin's live asymmetry) call it, so the same data give the same tables:

1. rows without a subject, visit, level or side are **set aside** (they stay in
   the measurements table) with one problem row per sidecar, merged with the
   caller's errors (see :func:`~mfscan.stats.summary.split_incomplete`);
2. the **measure** is ``csa_cm2``, or ``csa_px2`` when no outline is calibrated
   (a side-to-side ratio needs no unit when both sides share a scale), with a note;
3. the tables: side summary, asymmetry, the level with the largest asymmetry,
   change over visits, the group summary and reliability, each computed by the
   public functions of :mod:`mfscan.stats`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mfscan.errors import MfscanError
from mfscan.stats.asymmetry import INDEXES, asymmetry, attach_side_status, largest_asymmetry_level
from mfscan.stats.longitudinal import group_summary, longitudinal
from mfscan.stats.summary import as_visit, split_incomplete, summarize_sides
from mfscan.visits import study_visit_order

__all__ = ["TABLES", "ERROR_COLUMNS", "StudyAnalysis", "study_measure", "analyse_study"]

#: The tables :func:`analyse_study` can compute, in the order they are written.
TABLES = (
    "side_summary",
    "asymmetry",
    "largest_asymmetry",
    "longitudinal",
    "group_summary",
    "side_status_summary",
    "reliability",
    "repeatability",
)
#: Tables that need the chronological order of the visits.
_NEED_ORDER = {"longitudinal", "group_summary", "side_status_summary"}
#: Columns of an error (problem) table, as in ``errors.csv``.
ERROR_COLUMNS = ("path", "roi", "reason")
#: Judges of a reliability table.
_BETWEEN = ("rater", "session")

PX_NOTE = (
    "no calibrated outline: asymmetry is computed from areas in pixels (csa_px2); "
    "set a scale in the viewer or a calibration in the sidecar for cm²"
)


@dataclass
class StudyAnalysis:
    """The tables of one study (see :func:`analyse_study`); a table neither asked for nor needed is None.

    Attributes
    ----------
    measurements : DataFrame
        The complete rows: those with every study code, on which every table is based.
    incomplete : DataFrame
        The rows set aside (no subject, visit, level or side).
    incomplete_errors : DataFrame
        One ``path, roi, reason`` row per sidecar of the set-aside rows.
    errors : DataFrame
        The caller's errors followed by ``incomplete_errors``.
    measure : str
        The measure compared between sides: ``csa_cm2``, or ``csa_px2`` when nothing
        is calibrated.
    subjects : DataFrame or None
        The subjects table used.
    side_summary, asymmetry, largest_asymmetry, longitudinal, group_summary, reliability : DataFrame or None
        The tables (without rows when no row is complete); ``reliability`` is None when
        the study has nothing to compare and ``between`` was not given. With subjects,
        ``side_summary`` has ``side_status`` and ``group``.
    side_status_summary : DataFrame or None
        :func:`~mfscan.stats.sides.side_status_summary` (with subjects only).
    repeatability : DataFrame or None
        :func:`~mfscan.stats.repeatability.repeatability` (when some side has
        repeated images).
    reliability_excluded : DataFrame or None
        The images left out of ``reliability`` because not every judge traced
        them (columns :data:`~mfscan.stats.reliability.EXCLUDED_COLUMNS`).
    visit_order : list of str or None
        The chronological order of the visits used (when a table needed it).
    notes : list of str
        What a reader should know (pixel areas, unknown subject codes, visit order).
    """

    measurements: pd.DataFrame
    incomplete: pd.DataFrame
    incomplete_errors: pd.DataFrame
    errors: pd.DataFrame
    measure: str = "csa_cm2"
    subjects: pd.DataFrame | None = None
    side_summary: pd.DataFrame | None = None
    asymmetry: pd.DataFrame | None = None
    largest_asymmetry: pd.DataFrame | None = None
    longitudinal: pd.DataFrame | None = None
    group_summary: pd.DataFrame | None = None
    reliability: pd.DataFrame | None = None
    side_status_summary: pd.DataFrame | None = None
    repeatability: pd.DataFrame | None = None
    reliability_excluded: pd.DataFrame | None = None
    visit_order: list[str] | None = None
    notes: list[str] = field(default_factory=list)


def study_measure(measurements: pd.DataFrame) -> str:
    """``"csa_cm2"``, or ``"csa_px2"`` when no outline of the table is calibrated.

    Nothing is calibrated when every row's ``calibration`` is ``"none"``, or, for a
    hand-made table without a ``calibration`` column, when it has ``csa_px2`` and
    no ``csa_cm2`` value.
    """
    if not len(measurements):
        return "csa_cm2"
    if "calibration" in measurements:
        return "csa_px2" if (measurements["calibration"] == "none").all() else "csa_cm2"
    has_cm = "csa_cm2" in measurements and measurements["csa_cm2"].notna().any()
    return "csa_px2" if "csa_px2" in measurements and not has_cm else "csa_cm2"


def _outlines(meas: pd.DataFrame) -> pd.DataFrame:
    """The area outlines of a measurements table (rows without ``kind`` are outlines)."""
    if "kind" not in meas.columns:
        return meas
    kind = meas["kind"].astype(object)
    keep = kind.isna().to_numpy() | (kind == "outline").to_numpy()
    return meas if keep.all() else meas[keep]


def _split(measurements: pd.DataFrame):
    """Complete rows, set-aside rows and their problems; the input is not modified."""
    positional = measurements.set_axis(pd.RangeIndex(len(measurements)), axis=0)
    complete, problems = split_incomplete(positional)
    if len(complete) == len(measurements):  # nothing set aside: no copy
        return measurements, measurements.iloc[:0], problems.reset_index(drop=True)
    keep = np.zeros(len(measurements), dtype=bool)
    keep[complete.index.to_numpy()] = True
    return measurements[keep], measurements[~keep], problems.reset_index(drop=True)


def _merge_errors(errors, problems: pd.DataFrame) -> pd.DataFrame:
    if errors is None or (isinstance(errors, pd.DataFrame) and errors.empty):
        return problems if len(problems) else pd.DataFrame(columns=list(ERROR_COLUMNS))
    errors = errors if isinstance(errors, pd.DataFrame) else pd.DataFrame(errors, columns=list(ERROR_COLUMNS))
    return pd.concat([errors, problems], ignore_index=True) if len(problems) else errors


def _order_for(meas: pd.DataFrame, visit_order, needed: bool) -> tuple[list[str] | None, list[str]]:
    """The study's visit order (the one policy); when only the asymmetry rows' order depends on
    it (not ``needed``), labels the policy cannot order keep the order they are first found in
    (:func:`~mfscan.stats.summary.as_visit`), with a note; no order is None."""
    try:
        return _resolve_visits(meas, visit_order)
    except MfscanError as e:
        if needed or visit_order is not None:
            raise
        return None, [
            f"asymmetry rows keep the visit labels in the order they are found, not a time order ({e})"
        ]


def _resolve_visits(meas: pd.DataFrame, visit_order) -> tuple[list[str] | None, list[str]]:
    """The chronological visit order of the study and a note on how it was found: the one
    policy, :func:`mfscan.visits.study_visit_order`."""
    return study_visit_order(meas, visit_order)


def _subject_note(meas: pd.DataFrame, subjects: pd.DataFrame | None, name: str) -> list[str]:
    if subjects is None or not len(meas) or "subject" not in meas:
        return []
    measured = {str(v) for v in pd.unique(meas["subject"].dropna())}
    unknown = sorted(measured - set(subjects["subject"].astype(str)))
    if not unknown:
        return []
    return [
        f"{len(unknown)} measured subject(s) are not in {name}: "
        f"{', '.join(unknown[:10])}{' ...' if len(unknown) > 10 else ''}; they have no "
        "group or symptomatic side (check the spelling of the codes)"
    ]


def _judges(meas: pd.DataFrame, between) -> list[str]:
    """The reliability tables to compute: given ones, or those the study has (None)."""
    if between is not None:
        between = [between] if isinstance(between, str) else list(between)
        bad = [b for b in between if b not in _BETWEEN]
        if bad:
            raise MfscanError(
                f"unknown reliability judges {', '.join(map(repr, bad))}; expected {' or '.join(_BETWEEN)}"
            )
        return between
    found = []
    if "rater" in meas and meas["rater"].nunique() > 1:
        found.append("rater")
    if "session" in meas and meas["session"].notna().any():
        found.append("session")
    return found


def _reliability(meas: pd.DataFrame, between, pair_by: str, **options):
    """The reliability table of the study's designs and the images left out of it."""
    from mfscan.stats.reliability import EXCLUDED_COLUMNS, reliability  # scipy: loaded when asked for

    judges = _judges(meas, between)
    if not judges:
        return None, None
    results = [reliability(meas, between=b, pair_by=pair_by, return_excluded=True, **options) for b in judges]
    tables = [t for t, _ in results]
    excluded = [e for _, e in results if len(e)]
    excluded = (
        pd.concat(excluded, ignore_index=True) if excluded else pd.DataFrame(columns=list(EXCLUDED_COLUMNS))
    )
    rel = pd.concat(tables, ignore_index=True)
    cols = list(rel.columns)
    for c in ("session", "rater"):  # rater and session next to level and side
        if c in cols and "side" in cols:
            cols.remove(c)
            cols.insert(cols.index("side") + 1, c)
    return rel[cols], excluded


def _repeatability(meas: pd.DataFrame) -> pd.DataFrame | None:
    """Image-to-image repeatability, when some side has repeated images."""
    keys = [c for c in ("subject", "visit", "level", "side", "rater", "session") if c in meas]
    if not len(meas) or not (meas.groupby(keys, observed=True, dropna=False).size() >= 2).any():
        return None
    from mfscan.stats.repeatability import repeatability

    return repeatability(meas)


def _wanted(tables) -> set[str]:
    if tables is None:
        return set(TABLES)
    wanted = {tables} if isinstance(tables, str) else set(tables)
    bad = sorted(wanted - set(TABLES))
    if bad:
        raise MfscanError(f"unknown study table(s) {', '.join(bad)}; expected some of {', '.join(TABLES)}")
    return wanted


def analyse_study(
    measurements: pd.DataFrame,
    *,
    subjects: pd.DataFrame | None = None,
    errors: pd.DataFrame | None = None,
    threshold_pct: float = 10.0,
    index: str = "hides",
    visit_order: Sequence[str] | None = None,
    between: str | Sequence[str] | None = None,
    pair_by: str = "mean",
    tables: Collection[str] | None = None,
    subjects_name: str = "the subjects table",
    session: str | None = None,
    icc_form: str | None = None,
    visit: str | None = None,
    pool_visits: bool = False,
) -> StudyAnalysis:
    """Every study table from a measurements table, the same for the report and the CLI.

    Parameters
    ----------
    measurements : DataFrame
        One row per outline (the table of ``mfscan measure`` or
        :func:`~mfscan.io.tables.read_table`). Not modified.
    subjects : DataFrame, optional
        ``subject, symptomatic_side[, group]`` (for instance from ``read_subjects``).
    errors : DataFrame, optional
        ``path, roi, reason`` rows of earlier steps (discovery, measuring); the
        problems of the set-aside rows are appended to them.
    threshold_pct : float
        Asymmetry above which a row is flagged.
    index : {"hides", "smaller-side", "index"}
        Definition of ``asymmetry_pct`` (see :func:`~mfscan.stats.asymmetry.asymmetry`).
    visit_order : sequence of str, optional
        The visit labels in chronological order; must name every visit of the study.
        Default: by ``visit_date`` when every visit is dated, else by the rule of
        :mod:`mfscan.visits` (numbers, ``pre`` < ``post``, ``baseline`` <
        ``4wk`` < ``10wk``, ...; a note says so when labels are words). Labels the
        rule does not know, and partial dates, are refused when a table needs the
        order (longitudinal, group_summary, side_status_summary).
    between : {"rater", "session"} or sequence of them, optional
        The reliability tables. Default: between raters when there are several and
        between sessions when any row has one; given explicitly, always computed.
    pair_by : {"mean", "image"}
        Reliability targets (see :func:`~mfscan.stats.reliability.reliability`).
    tables : collection of str, optional
        Which of :data:`TABLES` to compute (default: all); the others are None.
    subjects_name : str
        How notes name the subjects table (its file name).
    session : str, optional
        Between raters: the session of every rater (default: each rater's first).
    icc_form : str, optional
        The ICC of the SEM and band (default ICC(2,1) between raters, ICC(3,1)
        between sessions), e.g. ``"ICC(2,1)"`` for an intra-rater design.
    visit, pool_visits : optional
        Reliability: the visit compared (default each subject's first) or every visit
        pooled (see :func:`~mfscan.stats.reliability.reliability`).

    Returns
    -------
    StudyAnalysis

    Raises
    ------
    mfscan.errors.MfscanError
        For an unknown ``index``, a ``visit_order`` that lacks a visit of the study,
        visits that cannot be ordered or are partially dated.
    """
    if index not in INDEXES:
        raise MfscanError(f"unknown asymmetry definition {index!r}; choose one of {', '.join(INDEXES)}")
    wanted = _wanted(tables)
    meas, incomplete, problems = _split(measurements)
    outlines = _outlines(meas)  # thickness and fat lines have their own table (stats.contraction)
    res = StudyAnalysis(
        meas,
        incomplete,
        problems,
        _merge_errors(errors, problems),
        measure=study_measure(outlines),
        subjects=subjects,
    )
    if res.measure == "csa_px2":
        res.notes.append(PX_NOTE)
    res.notes += _subject_note(meas, subjects, subjects_name)
    meas = work = outlines
    if wanted & (_NEED_ORDER | {"asymmetry"}):  # asymmetry: rows in visit order too
        res.visit_order, notes = _order_for(meas, visit_order, needed=bool(wanted & _NEED_ORDER))
        res.notes += notes
        if res.visit_order is not None:  # every table's visits in that order
            work = meas.assign(visit=as_visit(meas["visit"].astype(object), res.visit_order))
    if "side_summary" in wanted:
        res.side_summary = summarize_sides(work)
        if subjects is not None:
            res.side_summary = attach_side_status(res.side_summary, subjects)
    if wanted & ({"asymmetry", "largest_asymmetry"} | _NEED_ORDER):
        res.asymmetry = asymmetry(
            work, subjects=subjects, threshold_pct=threshold_pct, index=index, measure=res.measure
        )
    if "largest_asymmetry" in wanted:
        res.largest_asymmetry = largest_asymmetry_level(res.asymmetry)
    if wanted & _NEED_ORDER:
        res.longitudinal = longitudinal(
            res.asymmetry, subjects=subjects, order=visit_order and res.visit_order
        )
    if "group_summary" in wanted:
        res.group_summary = group_summary(res.longitudinal, subjects)
    if "side_status_summary" in wanted and subjects is not None and len(res.longitudinal):
        from mfscan.stats.sides import side_status_summary

        res.side_status_summary = side_status_summary(res.longitudinal)
    if "reliability" in wanted:
        order = res.visit_order if res.visit_order is not None else visit_order
        options = dict(session=session, icc_form=icc_form, visit=visit, pool_visits=pool_visits)
        res.reliability, res.reliability_excluded = _reliability(
            meas, between, pair_by, asymmetry_index=index, visit_order=order, **options
        )
    if "repeatability" in wanted:
        res.repeatability = _repeatability(meas)
    return res
