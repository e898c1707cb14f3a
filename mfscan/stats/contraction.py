"""Rehabilitative ultrasound imaging (RUSI): multifidus thickness at rest and contracted.

:func:`contraction_table` turns the thickness lines of a measurements table
(``kind`` ``thickness``, one row per line; see :mod:`mfscan.measure.lines`) into one
row per subject, visit, level, side, rater, session (and posture):

* ``rest_thickness_cm``, ``contracted_thickness_cm``: mean over the trials of that
  task (a trial is one image and frame; several lines on one trial are averaged
  first), with ``n_rest``, ``n_contracted`` (trials) and the SD over trials;
* ``thickness_change_pct`` = (contracted - rest) / rest x 100 (positive: the muscle
  thickened, as in an activation);
* ``contraction_ratio`` = contracted / rest (1 = no change);
* ``missing_reason`` when a task is missing or the rest thickness is not positive.

Protocol (Kiesel et al. 2007, Man Ther 12:161; Wallwork et al. 2007 and 2009; Sions
et al. 2015): prone, parasagittal view over the L4/5 or L5/S1 facet joint, thickness
from the facet joint (or lamina) to the muscle-fat interface, at rest and during a
contralateral arm (or leg) lift, usually 3 trials each.

The table has the key columns of a measurements table, so the reliability and
longitudinal machinery takes it as it is: ``reliability(table, measures=[
"thickness_change_pct"])`` and :func:`contraction_longitudinal`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mfscan.errors import MfscanError
from mfscan.io.tables import set_dtypes

__all__ = [
    "CONTRACTION_COLUMNS",
    "CONTRACTION_MEASURES",
    "contraction_table",
    "contraction_longitudinal",
    "thickness_change",
    "rest_reference",
]

#: Key columns of a contraction row (``posture`` only when the table has it).
KEYS = ("subject", "visit", "level", "side", "rater", "session", "posture")
#: The measures of :func:`contraction_table` that reliability and change over visits take.
CONTRACTION_MEASURES = (
    "thickness_change_pct",
    "contraction_ratio",
    "rest_thickness_cm",
    "contracted_thickness_cm",
)
#: Columns of :func:`contraction_table`, in order.
CONTRACTION_COLUMNS = (
    *KEYS,
    "visit_date",
    "rest_thickness_cm",
    "rest_sd_cm",
    "n_rest",
    "contracted_task",
    "contracted_thickness_cm",
    "contracted_sd_cm",
    "n_contracted",
    "thickness_change_pct",
    "contraction_ratio",
    "missing_reason",
)


def _thickness_rows(measurements: pd.DataFrame) -> pd.DataFrame:
    need = ["kind", "task", "thickness_cm", "subject", "level", "side"]
    missing = [c for c in need if c not in measurements.columns]
    if missing:
        raise MfscanError(
            f"the measurements table lacks column(s) {', '.join(missing)}: measure the study with "
            "this mfscan version (thickness lines need kind, task and thickness_cm)"
        )
    t = measurements[measurements["kind"].astype("string") == "thickness"].copy()
    for c in KEYS + ("visit_date", "image", "frame"):
        if c not in t.columns:
            t[c] = pd.NA
    return t


def _per_trial(t: pd.DataFrame) -> pd.DataFrame:
    """One value per trial (image and frame): the mean of its thickness lines."""
    keys = list(KEYS) + ["task", "image", "frame"]
    for c in keys + ["visit_date"]:
        t[c] = t[c].astype("string") if c not in ("level", "side") else t[c].astype(object)
    g = t.groupby(keys, dropna=False, sort=False)
    return g.agg(thickness_cm=("thickness_cm", "mean"), visit_date=("visit_date", "first")).reset_index()


def contraction_table(measurements: pd.DataFrame, *, contracted_task: str = "contracted") -> pd.DataFrame:
    """Rest and contracted multifidus thickness per subject, visit, level, side, rater and session.

    Parameters
    ----------
    measurements : DataFrame
        The measurements table (``mfscan measure``); rows of ``kind`` ``thickness``
        with ``task`` ``rest`` or `contracted_task` are used, the others ignored.
    contracted_task : str, keyword-only
        The task label of the contracted images (default ``contracted``; for
        example ``arm-lift`` when the sidecars name the manoeuvre).

    Returns
    -------
    DataFrame
        :data:`CONTRACTION_COLUMNS`, one row per subject, visit, level, side, rater,
        session and posture that has a rest or a contracted trial; side and level
        categorical. Lengths in cm, ``thickness_change_pct`` in percent of rest,
        ``contraction_ratio`` without unit.
    """
    t = _thickness_rows(measurements)
    t = t[t["task"].astype("string").isin(["rest", contracted_task]).fillna(False).astype(bool)]
    keys = list(KEYS)
    if t.empty:
        return set_dtypes(pd.DataFrame(columns=list(CONTRACTION_COLUMNS)))
    trials = _per_trial(t)
    g = trials.groupby(keys + ["task"], dropna=False, sort=False)["thickness_cm"]
    stats = g.agg(["mean", "std", "count"]).reset_index()
    dates = trials.groupby(keys, dropna=False, sort=False)["visit_date"].first()
    wide = stats.pivot_table(
        index=keys, columns="task", values=["mean", "std", "count"], dropna=False, aggfunc="first"
    )
    out = pd.DataFrame(index=wide.index)

    def col(stat, task):
        return wide[(stat, task)] if (stat, task) in wide.columns else pd.Series(np.nan, index=wide.index)

    rest, contr = col("mean", "rest").astype(float), col("mean", contracted_task).astype(float)
    out["visit_date"] = dates.reindex(wide.index).to_numpy()
    out["rest_thickness_cm"] = rest
    out["rest_sd_cm"] = col("std", "rest").astype(float)
    out["n_rest"] = col("count", "rest").fillna(0).astype("int64")
    out["contracted_task"] = contracted_task
    out["contracted_thickness_cm"] = contr
    out["contracted_sd_cm"] = col("std", contracted_task).astype(float)
    out["n_contracted"] = col("count", contracted_task).fillna(0).astype("int64")
    out["thickness_change_pct"], out["contraction_ratio"] = thickness_change(
        contr.to_numpy(), rest.to_numpy()
    )
    out["missing_reason"] = _missing_reasons(rest.to_numpy(), contr.to_numpy(), contracted_task)
    out = out.reset_index()
    out = out[(out["n_rest"] > 0) | (out["n_contracted"] > 0)]
    out = set_dtypes(out.reindex(columns=list(CONTRACTION_COLUMNS)))
    out["posture"] = out["posture"].astype("string")
    out["visit_date"] = out["visit_date"].astype("string")
    order = ["subject", "visit", "level", "side", "rater", "session", "posture"]
    return out.sort_values(order, kind="stable", na_position="first").reset_index(drop=True)


def thickness_change(contracted_cm, rest_cm):
    """The one rule: ``(thickness_change_pct, contraction_ratio)`` of contracted against rest.

    ``pct = (contracted - rest) / rest x 100`` (positive: thicker when contracted) and
    ``ratio = contracted / rest``; NaN when rest is not positive or either is missing.
    Works on floats and arrays (the widget's live table calls it with floats).
    """
    c = np.asarray(contracted_cm, dtype=float)
    r = np.asarray(rest_cm, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(r > 0, c / r, np.nan)
    pct = (ratio - 1.0) * 100.0
    if ratio.ndim == 0:
        return float(pct), float(ratio)
    return pct, ratio


def rest_reference(
    measurements: pd.DataFrame, *, subject, visit, level, side, rater=None, session=None, posture=None
) -> tuple[float, int]:
    """Mean rest thickness (cm) and number of rest trials matching one contracted image.

    For the live table of the plugin: the rest trials of the same subject, visit,
    level and side (and rater, session and posture when given) among the thickness
    lines of `measurements`, averaged per trial first as in :func:`contraction_table`.
    Returns ``(nan, 0)`` when there is none.
    """
    t = _thickness_rows(measurements)
    sel = t["task"].astype("string") == "rest"
    for col, want in (("subject", subject), ("visit", visit), ("level", level), ("side", side)):
        sel &= t[col].astype("string") == str(want)
    for col, want in (("rater", rater), ("session", session), ("posture", posture)):
        if want is not None:
            sel &= t[col].astype("string") == str(want)
    t = t[sel.fillna(False).astype(bool)]
    if t.empty:
        return float("nan"), 0
    trials = _per_trial(t)["thickness_cm"].dropna()
    return (float(trials.mean()), int(len(trials))) if len(trials) else (float("nan"), 0)


def _missing_reasons(rest: np.ndarray, contracted: np.ndarray, task: str) -> list:
    out = []
    for r, c in zip(rest, contracted, strict=True):
        if not np.isfinite(r) and not np.isfinite(c):
            out.append(f"no rest and no {task} thickness")
        elif not np.isfinite(r):
            out.append("no rest thickness")
        elif not np.isfinite(c):
            out.append(f"no {task} thickness")
        elif r <= 0:
            out.append("rest thickness not positive")
        else:
            out.append(None)
    return out


def contraction_longitudinal(
    table: pd.DataFrame, *, measure: str = "thickness_change_pct", subjects: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Left and right `measure` per visit with change from baseline, as for CSA.

    Passes the contraction table through :func:`mfscan.stats.asymmetry.asymmetry` with
    ``measure`` and then :func:`mfscan.stats.longitudinal.longitudinal`. For a
    percentage measure (``thickness_change_pct``) the change from baseline is given in
    percentage points, ``left_change_pct_points`` and ``right_change_pct_points``
    (this visit minus baseline), beside ``left_change_pct``/``right_change_pct``
    (relative to the baseline value, empty when it is not positive). Asymmetry
    columns are empty when a value is not positive (a muscle that thinned).
    """
    from mfscan.stats.asymmetry import asymmetry
    from mfscan.stats.longitudinal import longitudinal

    if measure not in table.columns:
        raise MfscanError(f"the contraction table has no column {measure!r}")
    keep = [c for c in ("subject", "visit", "visit_date", "level", "side", "rater", "session") if c in table]
    # longitudinal names an absolute change by the measure's unit; a "_pct" unit would
    # collide with its relative change, so the measure goes in without it
    alias = measure[: -len("_pct")] if measure.endswith("_pct") else measure
    t = table[[*keep, measure]].rename(columns={measure: alias})
    out = longitudinal(asymmetry(t, measure=alias, subjects=subjects))
    if alias != measure:
        out = out.rename(
            columns={
                f"left_{alias}": f"left_{measure}",
                f"right_{alias}": f"right_{measure}",
                "left_change": "left_change_pct_points",
                "right_change": "right_change_pct_points",
            }
        )
        out.attrs["measure"] = measure
    return out
