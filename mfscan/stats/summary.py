"""Average the repeated images of each side, and pair the left and right sides.

The measurements table written by ``mfscan measure`` has one row per outline.
A study usually takes about three images per subject, visit, level and side and
reports their mean (Sions et al.); :func:`summarize_sides` computes that mean, the
number of outlines ``n`` and their SD. :func:`pair_sides` puts the left and right
side of one subject, visit, level and rater (and session) on one row, the shape
that the asymmetry and longitudinal tables start from.

Every function takes a DataFrame and returns a new one; inputs are never modified.
The grouping is vectorised: the key columns are factorised once, combined into one
integer group number, and sums are taken with :func:`numpy.bincount`; there is no
Python loop over groups.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from mfscan.errors import MfscanError

# The dtypes and the side/level readers are those of mfscan.vocab (re-exported here).
from mfscan.visits import study_visit_order
from mfscan.vocab import as_labels, as_level, as_side, natural_sort_key

#: Columns that identify one traced side, in output order (``session`` and
#: ``rater`` only when the table has them).
KEY_COLUMNS = ("subject", "visit", "level", "rater", "session")
#: Columns a measurements table must have.
REQUIRED_COLUMNS = ("subject", "visit", "level", "side")
#: Measures averaged by default (those absent from the table are skipped).
DEFAULT_MEASURES = ("csa_cm2", "perimeter_cm", "ap_depth_cm", "lateral_width_cm", "shape_ratio", "echo_mean")


# --------------------------------------------------------------------------- labels


def _policy_order(labels: list[str]) -> list[str]:
    """``labels`` in the one policy's order; as found when the policy cannot order them."""
    if len(labels) < 2:
        return labels
    try:
        order, _ = study_visit_order(pd.DataFrame({"visit": labels}))
    except MfscanError:
        return labels
    return order


def as_visit(values, order: Sequence[str] | None = None) -> pd.Series:
    """Visits as an ordered categorical.

    The order is ``order`` when given, else the categories' order when ``values``
    is already an ordered categorical, else the study's policy applied to the labels
    (:func:`mfscan.visits.study_visit_order`: ``pre`` < ``post``, ``2`` < ``10``). Labels
    the policy cannot order keep the order they are first found in (no order is invented).
    """
    if (
        order is None
        and isinstance(getattr(values, "dtype", None), pd.CategoricalDtype)
        and values.cat.ordered
    ):
        order = [str(c) for c in values.cat.categories]
    s = as_labels(values)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    uniques = [str(u) for u in uniques]
    if order is None:
        order = _policy_order(uniques)
    else:
        order = [str(v) for v in order]
        unknown = sorted(set(uniques) - set(order), key=natural_sort_key)
        if unknown:
            raise MfscanError(f"visit(s) {', '.join(unknown)} missing from the visit order")
    dtype = pd.CategoricalDtype(order, ordered=True)
    lookup = np.array([dtype.categories.get_loc(u) for u in uniques] + [-1], dtype=np.int64)
    new = lookup[np.where(codes < 0, len(uniques), codes)]
    return pd.Series(pd.Categorical.from_codes(new, dtype=dtype), index=s.index, name=s.name)


# --------------------------------------------------------------------------- grouping


def key_columns(table: pd.DataFrame) -> list[str]:
    """The key columns of ``table`` among subject, visit, level, rater, session."""
    return [c for c in KEY_COLUMNS if c in table.columns]


def _check_columns(table: pd.DataFrame, required: Iterable[str]) -> None:
    if not isinstance(table, pd.DataFrame):
        raise MfscanError(f"expected a DataFrame, got {type(table).__name__}")
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise MfscanError(f"table lacks column(s) {', '.join(missing)}")


def prepare_keys(table: pd.DataFrame, columns: Iterable[str]) -> dict[str, pd.Series]:
    """Coerce key columns: level and side to categoricals, visit to an ordered
    categorical (:func:`as_visit`), other codes to strings. Only the key columns are
    converted; the table itself is not copied or modified.

    Missing values are refused in subject, visit, level and side (they would
    silently form their own groups; see :func:`split_incomplete`); ``rater`` and
    ``session`` may be missing (a study with one unnamed rater, no sessions).
    """
    out = {}
    for c in columns:
        col = table[c]
        if c == "level":
            col = as_level(col)
        elif c == "side":
            col = as_side(col)
        elif c == "visit":
            col = as_visit(col)
        else:
            col = as_labels(col)
        if c not in ("session", "rater"):
            n_missing = int(col.isna().sum())
            if n_missing:
                raise MfscanError(f"{n_missing} row(s) have no {c}")
        out[c] = col
    return out


def _blank(col: pd.Series) -> np.ndarray:
    """Missing or blank values, tested once per distinct value (codes repeat on every row)."""
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    blank_unique = np.array([str(u).strip() == "" for u in uniques] + [True], dtype=bool)
    return blank_unique[np.where(codes < 0, len(uniques), codes)]


def split_incomplete(
    measurements: pd.DataFrame, required: Sequence[str] = ("subject", "visit", "level", "side")
):
    """Separate the rows that lack a study code from the rest.

    An outline without a subject, visit or level is measured (it is in the
    measurements table) but cannot be placed in a per-subject, visit and level
    summary. Rather than stopping the whole study, such rows are set aside with
    one problem per sidecar, naming it and the missing codes.

    Returns
    -------
    complete : DataFrame
        The rows with every required code.
    problems : DataFrame
        ``path, roi, reason`` (the ``errors.csv`` columns).
    """
    present = [c for c in required if c in measurements.columns]
    if not present or measurements.empty:
        return measurements, pd.DataFrame(columns=["path", "roi", "reason"])
    missing = pd.DataFrame({c: _blank(measurements[c]) for c in present})
    bad = missing.any(axis=1).to_numpy()
    if not bad.any():
        return measurements, pd.DataFrame(columns=["path", "roi", "reason"])
    where = next(
        (measurements[c] for c in ("sidecar", "image") if c in measurements),
        pd.Series([f"row {i + 1}" for i in range(len(measurements))], index=measurements.index),
    )
    rows = []
    for path, idx in pd.Series(np.flatnonzero(bad)).groupby(
        np.asarray(where.astype("string").fillna("?"))[bad], sort=True
    ):
        lacks = [c for c in present if missing[c].to_numpy()[idx.to_numpy()].any()]
        rows.append(
            {
                "path": path,
                "roi": pd.NA,
                "reason": f"no {' and no '.join(lacks)}: its {len(idx)} outline(s) are in "
                "measurements.csv but left out of the asymmetry, longitudinal and "
                f"reliability tables; set {', '.join(repr(c) for c in lacks)} in the sidecar",
            }
        )
    return measurements[~bad], pd.DataFrame(rows, columns=["path", "roi", "reason"])


def _codes(col: pd.Series) -> tuple[np.ndarray, int]:
    """Integer codes in sorted order (missing = last code) and the number of codes."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy().astype(np.int64)
        size = len(col.cat.categories)
    else:
        codes, uniques = pd.factorize(col, sort=True, use_na_sentinel=True)
        codes = codes.astype(np.int64)
        size = len(uniques)
    if (codes < 0).any():
        codes = np.where(codes < 0, size, codes)
    return codes, size + 1


def group_index(keys: Sequence[pd.Series]) -> tuple[np.ndarray, np.ndarray]:
    """Number the distinct combinations of ``keys`` in sorted (lexicographic) order.

    Parameters
    ----------
    keys : sequence of Series
        Equal-length key columns (categoricals sort by category order, other
        values by value; missing values last).

    Returns
    -------
    group : ndarray of int64
        The group number of each row, ``0 .. n_groups - 1``.
    first : ndarray of int64
        One row position of each group (to read the group's key values).
    """
    n = len(keys[0]) if keys else 0
    combined = np.zeros(n, dtype=np.int64)
    span = 1
    for col in keys:
        codes, size = _codes(col)
        if span * size >= 2**62:  # keep the combined number in int64
            combined, uniq = pd.factorize(combined, sort=True)
            combined = combined.astype(np.int64)
            span = len(uniq)
        combined = combined * size + codes
        span *= size
    group, uniques = pd.factorize(combined, sort=True)
    group = group.astype(np.int64)
    first = np.empty(len(uniques), dtype=np.int64)
    first[group] = np.arange(n, dtype=np.int64)  # any row of a group will do
    return group, first


def _group_frame(keys: dict[str, pd.Series], rows: np.ndarray) -> pd.DataFrame:
    """The key values at ``rows`` as a new frame with a default index."""
    return pd.DataFrame({c: s.take(rows).reset_index(drop=True) for c, s in keys.items()})


def _mean_sd(values: np.ndarray, group: np.ndarray, n_groups: int):
    """Mean, SD (ddof=1) and count of the finite values of each group."""
    values = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(values)
    x = np.where(ok, values, 0.0)
    count = np.bincount(group, weights=ok, minlength=n_groups)
    total = np.bincount(group, weights=x, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        dev = np.where(ok, x - mean[group], 0.0)  # two-pass: exact for small SDs
        ss = np.bincount(group, weights=dev * dev, minlength=n_groups)
        sd = np.sqrt(ss / (count - 1))
    sd[count < 2] = np.nan
    return mean, sd, count.astype(np.int64)


def _dates_per_group(table: pd.DataFrame, group: np.ndarray, n_groups: int):
    """Earliest ``visit_date`` of each group (NaT when none), or None."""
    if "visit_date" not in table.columns:
        return None
    codes, uniques = pd.factorize(table["visit_date"], use_na_sentinel=True)
    try:
        parsed = pd.to_datetime(pd.Series(uniques, dtype=object), errors="raise")
    except (ValueError, TypeError) as e:
        raise MfscanError(f"visit_date cannot be read as dates ({e})") from e
    ns = parsed.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    ns = np.append(ns, np.iinfo(np.int64).min)  # missing -> NaT
    row_ns = ns[np.where(codes < 0, len(uniques), codes)]
    nat = np.iinfo(np.int64).min
    big = np.where(row_ns == nat, np.iinfo(np.int64).max, row_ns)
    best = (
        pd.Series(big)
        .groupby(group, sort=True)
        .min()
        .reindex(range(n_groups), fill_value=np.iinfo(np.int64).max)
        .to_numpy()
        .copy()
    )
    best[best == np.iinfo(np.int64).max] = nat
    return pd.Series(best.view("datetime64[ns]"))


def _is_side_summary(table: pd.DataFrame) -> bool:
    return "n" in table.columns and "image" not in table.columns


# --------------------------------------------------------------------------- public


def summarize_sides(measurements: pd.DataFrame, *, measures: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean and SD of the repeated outlines of each side.

    Parameters
    ----------
    measurements : DataFrame
        One row per outline (the table of ``mfscan measure``), with at least
        ``subject``, ``visit``, ``level``, ``side`` and the measures; ``rater``
        and ``session`` are used as keys when present. Side and level may be
        strings or categoricals; ``visit_date`` is carried (earliest per group).
    measures : sequence of str, optional
        Measure columns to average. By default those of
        :data:`DEFAULT_MEASURES` that the table has; measures named explicitly
        must exist.

    Returns
    -------
    DataFrame
        One row per subject, visit, level, rater (, session) and side, sorted by
        them, with ``n`` (number of outlines) and, per measure ``m``, its mean
        ``m``, SD ``m_sd`` (ddof=1; NaN when fewer than two values) and the
        number of values averaged ``m_n``. Missing
        values of a measure (e.g. the ``cm`` columns of an uncalibrated image)
        are left out of its mean; a group without any value gives NaN.
        ``visit`` is an ordered categorical in natural order ("2" < "10"), level
        an ordered categorical, side a categorical.

    Examples
    --------
    >>> m = pd.DataFrame({"subject": "P1", "visit": "1", "level": "L4",
    ...                   "side": ["left"] * 3, "csa_cm2": [7.9, 8.0, 8.1]})
    >>> summarize_sides(m, measures=["csa_cm2"])[["side", "n", "csa_cm2"]]
       side  n  csa_cm2
    0  left  3      8.0
    """
    _check_columns(measurements, REQUIRED_COLUMNS)
    if measures is None:
        measures = [m for m in DEFAULT_MEASURES if m in measurements.columns]
    else:
        measures = [measures] if isinstance(measures, str) else list(measures)
        _check_columns(measurements, measures)
    names = key_columns(measurements) + ["side"]
    keys = prepare_keys(measurements, names)
    group, first = group_index(list(keys.values()))
    n_groups = len(first)
    out = _group_frame(keys, first)
    out["n"] = np.bincount(group, minlength=n_groups).astype(np.int64)
    for m in measures:
        mean, sd, used = _mean_sd(
            measurements[m].to_numpy(dtype=np.float64, na_value=np.nan), group, n_groups
        )
        out[m] = mean
        out[f"{m}_sd"] = sd
        out[f"{m}_n"] = used
    dates = _dates_per_group(measurements, group, n_groups)
    if dates is not None:
        out.insert(len(names), "visit_date", dates)
    return out


def pair_sides(table: pd.DataFrame, measure: str = "csa_cm2") -> pd.DataFrame:
    """Left and right side of each subject, visit, level, rater (, session) on one row.

    Parameters
    ----------
    table : DataFrame
        Either the measurements table (one row per outline; repeats are
        averaged) or the output of :func:`summarize_sides` (recognised by its
        ``n`` column and the absence of ``image``).
    measure : str
        The measure to pair, default ``"csa_cm2"``.

    Returns
    -------
    DataFrame
        Keys, ``left_<measure>``, ``right_<measure>``, ``n_left``, ``n_right``
        (the values averaged: 0 when a side was not traced or has no value, e.g.
        the cm value of an uncalibrated image; the mean is then NaN),
        ``left_<measure>_sd``, ``right_<measure>_sd`` and ``visit_date`` when the
        input has it. A key with only one side traced keeps its row.
    """
    return _pair_sides(table, measure)[0]


def _pair_sides(table: pd.DataFrame, measure: str = "csa_cm2"):
    """:func:`pair_sides` and the outlines traced per side, ``(n_keys, 2)``, with a value or not."""
    _check_columns(table, REQUIRED_COLUMNS + (measure,))
    names = key_columns(table)
    keys = prepare_keys(table, names + ["side"])
    side = keys.pop("side").cat.codes.to_numpy().astype(np.int64)  # 0 left, 1 right
    group, first = group_index(list(keys.values()))
    n_groups = len(first)
    cell = group * 2 + side
    values = table[measure].to_numpy(dtype=np.float64, na_value=np.nan)
    if _is_side_summary(table):
        counts = np.bincount(cell, minlength=2 * n_groups)
        if (counts > 1).any():
            raise MfscanError("the side summary has duplicate rows for one side")
        mean = np.full(2 * n_groups, np.nan)
        mean[cell] = values
        n = np.zeros(2 * n_groups, dtype=np.int64)
        used = f"{measure}_n" if f"{measure}_n" in table.columns else "n"
        n[cell] = table[used].to_numpy(dtype=np.int64)
        traced = np.zeros(2 * n_groups, dtype=np.int64)
        traced[cell] = table["n"].to_numpy(dtype=np.int64)
        sd = np.full(2 * n_groups, np.nan)
        if f"{measure}_sd" in table.columns:
            sd[cell] = table[f"{measure}_sd"].to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        # n counts the values averaged: an uncalibrated repeat has no cm value
        mean, sd, n = _mean_sd(values, cell, 2 * n_groups)
        traced = np.bincount(cell, minlength=2 * n_groups).astype(np.int64)
    out = _group_frame(keys, first)
    dates = _dates_per_group(table, group, n_groups)
    if dates is not None:
        out["visit_date"] = dates
    mean, sd, n, traced = mean.reshape(-1, 2), sd.reshape(-1, 2), n.reshape(-1, 2), traced.reshape(-1, 2)
    out[f"left_{measure}"] = mean[:, 0]
    out[f"right_{measure}"] = mean[:, 1]
    out["n_left"] = n[:, 0]
    out["n_right"] = n[:, 1]
    out[f"left_{measure}_sd"] = sd[:, 0]
    out[f"right_{measure}_sd"] = sd[:, 1]
    return out, traced
