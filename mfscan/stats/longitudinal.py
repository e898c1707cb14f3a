"""Change of the multifidus over visits, and group means per visit.

Hides et al. (1996) followed patients with first-episode low back pain at 4 and
10 weeks: CSA recovered faster and more completely with specific exercise than in
the control group. :func:`longitudinal` gives, per subject, level and rater, each
visit's left and right values with their change from the subject's baseline (first)
visit; :func:`group_summary` sets groups against each other per visit and level.

Dates never leave these tables: with a ``visit_date`` column the output carries the
relative ``days_since_baseline`` instead (PS3.15 Annex E: export relative days only).
For research use only, not for diagnosis.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mfscan.errors import MfscanError
from mfscan.stats.asymmetry import _measure_of, asymmetry, attach_subjects
from mfscan.stats.summary import as_visit, group_index, key_columns
from mfscan.visits import is_dated, study_visit_order
from mfscan.vocab import SIDES, as_labels

_UNITS = ("cm2", "cm", "mm", "mm2", "px", "px2", "pct")


def _unit(measure: str) -> str:
    tail = measure.rsplit("_", 1)[-1]
    return tail if tail in _UNITS and "_" in measure else ""


def _dates(table: pd.DataFrame):
    """``visit_date`` parsed (NaT where blank), or None when the table has no date."""
    if "visit_date" not in table.columns or not is_dated(table["visit_date"]).any():
        return None
    raw = table["visit_date"]
    raw = raw.where(is_dated(raw), None) if raw.dtype == object or pd.api.types.is_string_dtype(raw) else raw
    try:
        return pd.to_datetime(raw, errors="raise")
    except (ValueError, TypeError) as e:
        raise MfscanError(f"visit_date cannot be read as dates ({e})") from e


def _subject_baselines(table: pd.DataFrame, vcode: np.ndarray, dates, by_date: bool):
    """Per row the subject code and date (ns), and per subject its baseline row and visit code.

    The baseline of a subject is its earliest visit: by date (then visit order) when
    ``by_date``, else the first visit in order (an explicit order wins over dates).
    """
    scode, _ = pd.factorize(as_labels(table["subject"]))
    if dates is not None:
        ns = dates.to_numpy(dtype="datetime64[ns]").astype(np.int64)
        ns = np.where(dates.isna().to_numpy(), np.iinfo(np.int64).max, ns)
    else:
        ns = np.zeros(len(table), dtype=np.int64)
    by = np.lexsort((vcode, ns if by_date else np.zeros_like(ns), scode))
    first_of_subject = by[np.r_[True, scode[by][1:] != scode[by][:-1]]] if len(by) else by
    base_code = np.full(scode.max() + 1 if len(scode) else 0, -1, dtype=np.int64)
    base_code[scode[first_of_subject]] = vcode[first_of_subject]
    return scode, ns, first_of_subject, base_code


def _days_since_baseline(ns: np.ndarray, scode: np.ndarray, first_of_subject, n_subjects: int) -> np.ndarray:
    """Days from each subject's baseline date; NaN where either date is missing."""
    missing = np.iinfo(np.int64).max
    base_ns = np.full(n_subjects, missing, dtype=np.int64)
    base_ns[scode[first_of_subject]] = ns[first_of_subject]
    return np.where((ns == missing) | (base_ns[scode] == missing), np.nan, (ns - base_ns[scode]) / 86_400e9)


def _carried(measure: str) -> tuple[str, ...]:
    """Columns of the asymmetry table copied to the longitudinal table."""
    return (
        f"left_{measure}",
        f"right_{measure}",
        "n_left",
        "n_right",
        "asymmetry_pct",
        "asymmetry_index_pct",
        "symptomatic_deficit_pct",
        "exceeds_threshold",
        "asymmetry_definition",
        "left_side_status",
        "right_side_status",
        f"symptomatic_{measure}",
        f"asymptomatic_{measure}",
    )


def longitudinal(
    asym: pd.DataFrame, *, subjects: pd.DataFrame | None = None, order: Sequence[str] | None = None
) -> pd.DataFrame:
    """Left and right values and asymmetry per visit, with change from baseline.

    Parameters
    ----------
    asym : DataFrame
        Output of :func:`~mfscan.stats.asymmetry.asymmetry` (or a measurements table,
        which is passed through it with default options first).
    subjects : DataFrame, optional
        ``subject``, ``symptomatic_side`` and optionally ``group`` (see
        :func:`~mfscan.stats.asymmetry.attach_subjects`), when ``asym`` lacks them.
    order : sequence of str, optional
        The visit labels in chronological order; each subject's baseline is then
        its first visit in this order. Default: by ``visit_date`` when the table
        has dates (every visit must be dated; the baseline is each subject's
        earliest date), else the rule of :mod:`mfscan.visits`; labels the
        rule does not know are refused (:class:`~mfscan.errors.MfscanError`
        naming ``--visit-order``).

    Returns
    -------
    DataFrame
        One row per subject, level, rater (, session) and visit, sorted so, with
        ``visit`` an ordered categorical. The baseline of a subject is its
        earliest visit (by date when dated and no order is given, else by visit order),
        the same for all its levels and raters: ``baseline_visit``. Changes are
        this visit minus baseline: ``left_change_<unit>``,
        ``right_change_<unit>`` (unit from the measure name, e.g. ``cm2``),
        ``left_change_pct``, ``right_change_pct`` (relative to baseline),
        ``asymmetry_change_pct_points``, ``asymmetry_index_change_pct_points``
        and, with subjects, ``symptomatic_deficit_change_pct_points``,
        ``left_side_status``, ``right_side_status``, ``symptomatic_<measure>``,
        ``asymptomatic_<measure>`` and their changes ``symptomatic_change_<unit>``,
        ``asymptomatic_change_<unit>``, ``symptomatic_change_pct``,
        ``asymptomatic_change_pct`` (see
        :func:`~mfscan.stats.asymmetry.side_status`). They are
        NaN where the baseline visit lacks that level, rater or side. With dates,
        ``days_since_baseline`` replaces ``visit_date``.
    """
    if "asymmetry_pct" not in asym.columns:
        asym = asymmetry(asym, subjects=subjects)
    elif subjects is not None:
        asym = attach_subjects(asym, subjects)
    measure = _measure_of(asym)
    unit = _unit(measure)
    # an absolute change of a percentage is in percentage points: "_pct" alone names the relative change
    suffix = "_pct_points" if unit == "pct" else f"_{unit}" if unit else ""
    table = asym.reset_index(drop=True)
    if table.duplicated(key_columns(table)).any():
        raise MfscanError("asymmetry table has duplicate subject/visit/level/rater rows")

    dates = _dates(table)
    by_date = dates is not None and order is None
    if order is None:  # the one policy: dates, else the rule
        order, _ = study_visit_order(table)
    visit = as_visit(table["visit"].astype(object), order)
    vcode = visit.cat.codes.to_numpy().astype(np.int64)

    scode, ns, first_of_subject, base_code = _subject_baselines(table, vcode, dates, by_date)
    row_base_code = base_code[scode]
    is_base = vcode == row_base_code

    track = [c for c in key_columns(table) if c not in ("visit",)]
    tkeys = [as_labels(table[c]) if c in ("subject", "rater", "session") else table[c] for c in track]
    tid, tfirst = group_index(tkeys)
    base_row = np.full(len(tfirst), -1, dtype=np.int64)
    base_row[tid[is_base]] = np.flatnonzero(is_base)
    row = base_row[tid]
    has_base = row >= 0
    take = np.where(has_base, row, 0)

    def baseline(col):
        values = table[col].to_numpy(dtype=np.float64, na_value=np.nan)
        return values, np.where(has_base, values[take], np.nan)

    out = pd.DataFrame({c: table[c] for c in track if c != "level"})
    out.insert(1, "level", table["level"])
    for c in ("symptomatic_side", "group"):
        if c in table.columns:
            out.insert(1, c, table[c])
    out["visit"] = visit
    if dates is not None:
        out["days_since_baseline"] = _days_since_baseline(ns, scode, first_of_subject, len(base_code))
    out["baseline_visit"] = pd.Categorical.from_codes(row_base_code, dtype=visit.dtype)
    for c in _carried(measure):
        if c in table.columns:
            out[c] = table[c]
    statuses = [s for s in ("symptomatic", "asymptomatic") if f"{s}_{measure}" in table.columns]
    with np.errstate(invalid="ignore", divide="ignore"):
        for side in (*SIDES, *statuses):
            now, base = baseline(f"{side}_{measure}")
            out[f"{side}_change{suffix}"] = now - base
            out[f"{side}_change_pct"] = np.where(base > 0, (now - base) / base * 100.0, np.nan)
    for c in ("asymmetry_pct", "asymmetry_index_pct", "symptomatic_deficit_pct"):
        if c in table.columns:
            now, base = baseline(c)
            out[f"{c[:-4]}_change_pct_points"] = now - base
    if "missing_reason" in table.columns:
        out["missing_reason"] = table["missing_reason"]
    sort_keys = ["subject"] + [c for c in track if c != "subject"] + ["visit"]
    out = out.sort_values(sort_keys, kind="stable").reset_index(drop=True)
    out.attrs["measure"] = measure
    return out


def group_summary(longitudinal_df: pd.DataFrame, subjects: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean, SD and n per group, visit and level (and rater, session).

    Parameters
    ----------
    longitudinal_df : DataFrame
        Output of :func:`longitudinal`.
    subjects : DataFrame, optional
        ``subject`` and ``group`` (other columns are ignored), used when
        ``longitudinal_df`` has no ``group`` column. Without any group
        information all subjects form the group ``"all"``.

    Returns
    -------
    DataFrame
        One row per group, visit, level, rater (, session) with ``n_subjects``
        and, for each of the left and right values, the symptomatic and
        asymptomatic values (recoded per subject by
        :func:`~mfscan.stats.asymmetry.side_status`, so that opposite painful sides
        do not cancel), the asymmetries and their changes, ``<column>_mean``, ``<column>_sd`` (ddof=1) and ``<column>_n``
        (subjects with a value). Raters are kept apart, so that a subject
        counts once per row.
    """
    df = longitudinal_df
    if "visit" not in df.columns or "subject" not in df.columns:
        raise MfscanError("expected the output of longitudinal()")
    measure = _measure_of(df)
    df = df.copy()
    if subjects is not None:
        if "subject" not in subjects.columns or "group" not in subjects.columns:
            raise MfscanError("subjects table needs columns subject and group")
        groups = pd.Series(subjects["group"].to_numpy(), index=as_labels(subjects["subject"]).to_numpy())
        if groups.index.duplicated().any():
            raise MfscanError("subjects table lists a subject twice")
        df["group"] = as_labels(df["subject"]).map(groups).to_numpy()
    elif "group" not in df.columns:
        df["group"] = "all"
    keys = ["group", "visit", "level"] + [c for c in ("rater", "session") if c in df.columns]
    candidates = [
        f"left_{measure}",
        f"right_{measure}",
        f"symptomatic_{measure}",
        f"asymptomatic_{measure}",
        "asymmetry_pct",
        "asymmetry_index_pct",
        "symptomatic_deficit_pct",
    ]
    candidates += [c for c in df.columns if "_change" in c]
    values = [c for c in candidates if c in df.columns]
    grouped = df.groupby(keys, observed=True, dropna=False, sort=True)
    stats = grouped[values].agg(["mean", "std", "count"])
    stats.columns = [f"{c}_{'sd' if s == 'std' else 'n' if s == 'count' else s}" for c, s in stats.columns]
    stats.insert(0, "n_subjects", grouped["subject"].nunique())
    out = stats.reset_index()
    out.attrs["measure"] = measure
    return out
