"""Side-to-side asymmetry of the multifidus.

The left and right values are stored and the index is computed on demand. With
``max`` and ``min`` the larger and the smaller side (``r = max / min``):

============== ================================================ =====================
name           formula                                          as a function of r
============== ================================================ =====================
hides          (max - min) / max x 100 (default)                (1 - 1/r) x 100
smaller-side   (max - min) / min x 100                          (r - 1) x 100
index          (right - left) / ((right + left) / 2) x 100      +-2(r - 1)/(r + 1) x 100
============== ================================================ =====================

A 10 % difference by Hides' definition is 11.1 % by the smaller-side definition and
10.5 % by the mean-denominator index. The symptomatic deficit is
(asymptomatic - symptomatic) / asymptomatic x 100: positive when the painful side
is the smaller (Hides 1994, 2008).

Healthy people differ by less than about 10 % (Stokes et al. 2005), but this is a
default threshold, not a law (Niemelainen 2011; Fortin 2013), hence the option.
For research use only, not for diagnosis.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mfscan.errors import MfscanError
from mfscan.stats.summary import _pair_sides, key_columns
from mfscan.vocab import (
    SIDES,
    as_labels,
    as_side,
    as_symptomatic_side,
    symptomatic_or_none,
)

#: Names of the asymmetry definitions accepted by ``index=``.
INDEXES = ("hides", "smaller-side", "index")
#: Relative tolerance of the threshold comparison (see :func:`asymmetry`).
THRESHOLD_TOLERANCE = 1e-9

_SMALLER_DTYPE = pd.CategoricalDtype([*SIDES, "equal"])


def _valid_pair(left, right):
    left = np.asarray(left, dtype=np.float64)
    right = np.asarray(right, dtype=np.float64)
    ok = np.isfinite(left) & np.isfinite(right) & (left > 0) & (right > 0)
    return left, right, ok


def _result(values, like):
    return float(values) if np.ndim(values) == 0 and all(np.ndim(x) == 0 for x in like) else values


def asymmetry_pct(left, right, *, index: str = "hides"):
    """Side-to-side asymmetry in percent.

    Parameters
    ----------
    left, right : float or array_like
        Values of the two sides (e.g. CSA in cm²), broadcast together.
    index : {"hides", "smaller-side", "index"}
        ``"hides"``: (max - min) / max x 100, in [0, 100);
        ``"smaller-side"``: (max - min) / min x 100, >= the hides value;
        ``"index"``: signed (right - left) / ((right + left) / 2) x 100, positive
        when the right side is larger.

    Returns
    -------
    float or ndarray
        NaN where a value is missing, infinite, zero or negative.

    Examples
    --------
    >>> round(asymmetry_pct(8.0, 7.2), 2), round(asymmetry_pct(8.0, 7.2, index="smaller-side"), 2)
    (10.0, 11.11)
    >>> round(asymmetry_pct(8.0, 7.2, index="index"), 2)
    -10.53
    """
    if index not in INDEXES:
        raise MfscanError(f"unknown asymmetry index {index!r}; expected one of {', '.join(INDEXES)}")
    l, r, ok = _valid_pair(left, right)
    with np.errstate(invalid="ignore", divide="ignore"):
        if index == "index":
            value = (r - l) / ((r + l) / 2.0) * 100.0
        else:
            big, small = np.maximum(l, r), np.minimum(l, r)
            value = (big - small) / (big if index == "hides" else small) * 100.0
    value = np.where(ok, value, np.nan)
    return _result(value, (left, right))


def asymmetry_index_pct(left, right):
    """Signed asymmetry index (right - left) / mean x 100; see :func:`asymmetry_pct`."""
    return asymmetry_pct(left, right, index="index")


def symptomatic_deficit_pct(left, right, symptomatic_side):
    """Signed deficit of the symptomatic side: (asymptomatic - symptomatic) / asymptomatic x 100.

    Parameters
    ----------
    left, right : float or array_like
        Values of the two sides.
    symptomatic_side : str or array_like of str
        ``"left"`` or ``"right"`` in any spelling of :mod:`mfscan.vocab` (``"R"``,
        ``"lt"``); anything else (``"none"``, ``"bilateral"``, missing) gives NaN.

    Returns
    -------
    float or ndarray
        Positive when the symptomatic side is the smaller, negative when larger.

    Examples
    --------
    >>> round(symptomatic_deficit_pct(8.0, 7.2, "right"), 6)
    10.0
    """
    l, r, ok = _valid_pair(left, right)
    codes, uniques = pd.factorize(
        pd.Series(np.atleast_1d(np.asarray(symptomatic_side, dtype=object))), use_na_sentinel=True
    )
    spelled = np.array([symptomatic_or_none(u) or "" for u in uniques] + [""], dtype=object)
    side = spelled[np.where(codes < 0, len(uniques), codes)]
    if np.ndim(symptomatic_side) == 0:
        side = side[0]
    sym = np.where(side == "left", l, np.where(side == "right", r, np.nan))
    asym = np.where(side == "left", r, np.where(side == "right", l, np.nan))
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(ok, (asym - sym) / asym * 100.0, np.nan)
    return _result(value, (left, right, symptomatic_side))


def side_status(side, symptomatic_side) -> pd.Categorical:
    """The status of a measured side given the subject's symptomatic side.

    The one rule used by every per-side table (side summary, asymmetry,
    longitudinal, group summaries): Hides et al. compared the symptomatic with the
    asymptomatic side, and averaging left and right across subjects whose painful
    sides differ cancels the effect.

    Parameters
    ----------
    side : str or array_like
        ``"left"``/``"right"`` (any spelling of :mod:`mfscan.vocab`).
    symptomatic_side : str or array_like
        The subject's symptomatic side: left, right, bilateral or none (any
        spelling); missing for a subject not in the subjects table. Broadcast
        against ``side``.

    Returns
    -------
    Categorical
        :data:`mfscan.vocab.SIDE_STATUS_DTYPE`: ``symptomatic`` (the painful side of
        a unilateral subject), ``asymptomatic`` (its other side), ``bilateral``
        (both sides of a subject with bilateral pain), ``none`` (both sides of a
        subject without pain); missing when the symptomatic side is unknown.

    Examples
    --------
    >>> list(side_status(["left", "right", "L", "right"], ["right", "right", "bilateral", "none"]))
    ['asymptomatic', 'symptomatic', 'bilateral', 'none']
    """
    import mfscan.vocab as vocab

    side_arr = np.atleast_1d(np.asarray(side, dtype=object))
    sym_arr = np.atleast_1d(np.asarray(symptomatic_side, dtype=object))
    side_arr, sym_arr = np.broadcast_arrays(side_arr, sym_arr)
    s = np.asarray(as_side(pd.Series(side_arr.ravel())).astype(object), dtype=object)
    p = np.asarray(as_symptomatic_side(pd.Series(sym_arr.ravel())).astype(object), dtype=object)
    unilateral = np.isin(p, list(SIDES)) & pd.notna(s)
    code = np.select(
        [unilateral & (s == p), unilateral & (s != p), p == "bilateral", p == "none"],
        [0, 1, 2, 3],
        default=-1,
    )
    code = np.where(pd.notna(s), code, -1)
    return pd.Categorical.from_codes(code, dtype=vocab.SIDE_STATUS_DTYPE)


def attach_side_status(table: pd.DataFrame, subjects: pd.DataFrame) -> pd.DataFrame:
    """A per-side table (with ``subject`` and ``side``) with ``side_status`` and ``group`` added.

    Parameters
    ----------
    table : DataFrame
        For instance :func:`~mfscan.stats.summary.summarize_sides`; not modified.
    subjects : DataFrame
        ``subject, symptomatic_side[, group]``; subjects not listed get a missing status.

    Returns
    -------
    DataFrame
        A copy with ``side_status`` (see :func:`side_status`) after ``side``, and
        ``group`` (when the subjects table has one).
    """
    sub = _subject_table(subjects)
    pos = pd.Index(sub["subject"]).get_indexer(as_labels(table["subject"]))
    found = pos >= 0
    take = np.where(found, pos, 0)
    sym = np.where(found, np.asarray(sub["symptomatic_side"].astype(object))[take], None)
    out = table.drop(columns=[c for c in ("side_status", "group") if c in table.columns])
    out.insert(list(out.columns).index("side") + 1, "side_status", side_status(out["side"].to_numpy(), sym))
    if "group" in sub.columns:
        out["group"] = pd.Series(sub["group"].to_numpy()[take], index=out.index).where(found)
    return out


def _measure_of(table: pd.DataFrame) -> str:
    """The measure of a paired-sides table: ``csa_cm2`` from ``left_csa_cm2``."""
    measure = table.attrs.get("measure")
    if measure and f"left_{measure}" in table.columns:
        return measure
    for c in table.columns:
        if c.startswith("left_") and not c.endswith("_sd") and f"right_{c[5:]}" in table.columns:
            return c[5:]
    raise MfscanError("table has no left_<measure> / right_<measure> columns")


def _subject_table(subjects: pd.DataFrame) -> pd.DataFrame:
    if (
        not isinstance(subjects, pd.DataFrame)
        or "subject" not in subjects.columns
        or "symptomatic_side" not in subjects.columns
    ):
        raise MfscanError("subjects table needs columns subject and symptomatic_side")
    sub = pd.DataFrame({"subject": as_labels(subjects["subject"]).to_numpy()})
    if sub["subject"].isna().any():
        raise MfscanError("subjects table has rows without subject")
    dup = sub["subject"][sub["subject"].duplicated()].unique()
    if len(dup):
        raise MfscanError(f"subjects table lists subject(s) {', '.join(map(str, dup))} twice")
    side = as_symptomatic_side(pd.Series(subjects["symptomatic_side"].to_numpy(dtype=object)))
    sub["symptomatic_side"] = side.array
    if "group" in subjects.columns:
        sub["group"] = subjects["group"].to_numpy()
    return sub


def attach_subjects(table: pd.DataFrame, subjects: pd.DataFrame) -> pd.DataFrame:
    """Add ``symptomatic_side``, ``group`` and the symptomatic deficit to an asymmetry table.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`asymmetry` (any table with ``subject`` and paired sides).
    subjects : DataFrame
        ``subject``, ``symptomatic_side`` (left, right, none, bilateral, in any
        spelling of :mod:`mfscan.vocab`: ``R``, ``lt``) and optionally ``group``.
        Subjects not listed get missing values.

    Returns
    -------
    DataFrame
        A copy with ``symptomatic_side``, ``group``, ``symptomatic_deficit_pct``
        (NaN unless one side is symptomatic), ``left_side_status`` and
        ``right_side_status`` (:func:`side_status` of each side),
        ``symptomatic_<measure>`` and ``asymptomatic_<measure>`` (the values
        recoded by side status; NaN unless one side is symptomatic) and
        ``smaller_is_symptomatic`` (nullable boolean; NA unless one side is
        symptomatic and both are known).
    """
    measure = _measure_of(table)
    sub = _subject_table(subjects)
    out = table.drop(
        columns=[
            c
            for c in (
                "symptomatic_side",
                "group",
                "symptomatic_deficit_pct",
                "smaller_is_symptomatic",
                "left_side_status",
                "right_side_status",
                f"symptomatic_{measure}",
                f"asymptomatic_{measure}",
            )
            if c in table.columns
        ]
    )
    pos = pd.Index(sub["subject"]).get_indexer(as_labels(out["subject"]))
    found = pos >= 0
    take = np.where(found, pos, 0)
    side = pd.Categorical.from_codes(
        np.where(found, sub["symptomatic_side"].cat.codes.to_numpy()[take], -1),
        dtype=sub["symptomatic_side"].dtype,
    )
    out["symptomatic_side"] = side
    if "group" in sub.columns:
        out["group"] = pd.Series(sub["group"].to_numpy()[take], index=out.index).where(found)
    else:
        out["group"] = pd.Series(pd.NA, index=out.index, dtype="string")
    side_text = np.asarray(side.astype(object), dtype=object)
    out["symptomatic_deficit_pct"] = symptomatic_deficit_pct(
        out[f"left_{measure}"].to_numpy(), out[f"right_{measure}"].to_numpy(), side_text
    )
    l_now, r_now = out[f"left_{measure}"].to_numpy(float), out[f"right_{measure}"].to_numpy(float)
    out["left_side_status"] = side_status(np.full(len(out), "left", dtype=object), side_text)
    out["right_side_status"] = side_status(np.full(len(out), "right", dtype=object), side_text)
    out[f"symptomatic_{measure}"] = np.where(
        side_text == "left", l_now, np.where(side_text == "right", r_now, np.nan)
    )
    out[f"asymptomatic_{measure}"] = np.where(
        side_text == "left", r_now, np.where(side_text == "right", l_now, np.nan)
    )
    unilateral = np.isin(side_text, list(SIDES))
    if "smaller_side" in out.columns:
        smaller = np.asarray(out["smaller_side"].astype(object), dtype=object)
    else:
        l, r = out[f"left_{measure}"].to_numpy(), out[f"right_{measure}"].to_numpy()
        smaller = np.where(l < r, "left", np.where(r < l, "right", "equal"))
        smaller = np.where(np.isfinite(l) & np.isfinite(r), smaller, None)
    known = unilateral & pd.notna(smaller)
    out["smaller_is_symptomatic"] = pd.array(np.where(known, smaller == side_text, False), dtype="boolean")
    out.loc[~known, "smaller_is_symptomatic"] = pd.NA
    return out


def asymmetry(
    table: pd.DataFrame,
    *,
    subjects: pd.DataFrame | None = None,
    threshold_pct: float = 10.0,
    index: str = "hides",
    measure: str = "csa_cm2",
) -> pd.DataFrame:
    """Left-right asymmetry per subject, visit, level and rater (and session).

    Parameters
    ----------
    table : DataFrame
        The measurements table (one row per outline; the repeats of each side
        are averaged first) or the output of
        :func:`~mfscan.stats.summary.summarize_sides`.
    subjects : DataFrame, optional
        ``subject``, ``symptomatic_side`` (left, right, none, bilateral) and
        optionally ``group``; adds the columns of :func:`attach_subjects`.
    threshold_pct : float
        Asymmetry above which ``exceeds_threshold`` is true (default 10 %).
        The comparison is strict: ``asymmetry_pct > threshold_pct``, with a
        relative tolerance of 1e-9 so that a value equal to the threshold up to
        floating-point rounding (8.0 vs 7.2 cm² is 10 % by Hides' definition,
        computed as 9.999999999999996 or 10.000000000000002) does **not** exceed it.
    index : {"hides", "smaller-side", "index"}
        Definition used for ``asymmetry_pct`` (see :func:`asymmetry_pct`).
        With ``"index"`` the threshold is compared with the absolute value.
    measure : str
        The measure compared, default ``"csa_cm2"``. Uncalibrated tables can use
        ``"csa_px2"`` (a ratio needs no unit when both sides share a scale).

    Returns
    -------
    DataFrame
        One row per subject, visit, level, rater (, session), sorted, with
        ``visit_date`` (when given), ``left_<measure>``, ``right_<measure>``,
        ``n_left``, ``n_right``, their SDs, ``smaller_side`` (left, right,
        equal), ``index``, ``threshold_pct``, ``asymmetry_pct``,
        ``asymmetry_index_pct`` (always the signed index),
        ``exceeds_threshold`` (nullable boolean) and ``missing_reason`` (NA when
        both sides have a value, else e.g. "no right outline"). A key with one
        side missing keeps its row with NaN values. With ``subjects``, also
        ``symptomatic_side``, ``group``, ``symptomatic_deficit_pct`` and
        ``smaller_is_symptomatic``.
    """
    if index not in INDEXES:
        raise MfscanError(f"unknown asymmetry index {index!r}; expected one of {', '.join(INDEXES)}")
    threshold_pct = float(threshold_pct)
    wide, traced = _pair_sides(table, measure)
    left = wide[f"left_{measure}"].to_numpy()
    right = wide[f"right_{measure}"].to_numpy()
    l, r, ok = _valid_pair(left, right)

    smaller = np.where(l < r, 0, np.where(r < l, 1, 2))
    wide["smaller_side"] = pd.Categorical.from_codes(np.where(ok, smaller, -1), dtype=_SMALLER_DTYPE)
    wide["asymmetry_definition"] = index
    wide["threshold_pct"] = threshold_pct
    pct = asymmetry_pct(l, r, index=index)
    wide["asymmetry_pct"] = pct
    wide["asymmetry_index_pct"] = pct if index == "index" else asymmetry_pct(l, r, index="index")
    size = np.abs(pct)
    exceeds = size > threshold_pct + THRESHOLD_TOLERANCE * max(abs(threshold_pct), 1.0)
    wide["exceeds_threshold"] = pd.arrays.BooleanArray(exceeds, ~ok)

    n_left, n_right = traced[:, 0], traced[:, 1]  # outlines traced, with a value or not
    reason = np.select(
        [n_left == 0, n_right == 0, ~np.isfinite(l), ~np.isfinite(r), l <= 0, r <= 0],
        [
            "no left outline",
            "no right outline",
            f"no left {measure} value",
            f"no right {measure} value",
            f"left {measure} not positive",
            f"right {measure} not positive",
        ],
        default="",
    )
    wide["missing_reason"] = pd.array(np.where(reason == "", None, reason), dtype="string")
    wide.attrs["measure"] = measure
    if subjects is not None:
        wide = attach_subjects(wide, subjects)
        wide.attrs["measure"] = measure
    return wide


def largest_asymmetry_level(asym: pd.DataFrame) -> pd.DataFrame:
    """The level with the largest asymmetry per subject, visit and rater (, session).

    Parameters
    ----------
    asym : DataFrame
        Output of :func:`asymmetry`.

    Returns
    -------
    DataFrame
        The rows of ``asym`` with the largest ``asymmetry_pct`` (its absolute
        value for the signed ``index``) of each subject, visit, rater (,
        session), plus ``n_levels``: the number of levels compared. Levels
        without a value are ignored; a visit with none is left out. Ties go to
        the cranial level.
    """
    if "asymmetry_pct" not in asym.columns:
        raise MfscanError("expected the output of asymmetry() (no asymmetry_pct column)")
    keys = [c for c in key_columns(asym) if c != "level"]
    valid = asym[asym["asymmetry_pct"].notna()].copy()
    valid["_size"] = valid["asymmetry_pct"].abs()
    valid["n_levels"] = valid.groupby(keys, observed=True, dropna=False)["_size"].transform("size")
    valid = valid.sort_values(
        keys + ["_size", "level"], ascending=[True] * len(keys) + [False, True], kind="stable"
    )
    best = valid.drop_duplicates(keys, keep="first").drop(columns="_size")
    return best.sort_values(keys, kind="stable").reset_index(drop=True)
