"""Group means per side status: the symptomatic and the asymptomatic side over visits.

Hides et al. (1994, 1996) compared the symptomatic with the asymptomatic side. A
group mean of the *left* side over subjects whose painful sides differ mixes both
and cancels the effect, so :func:`side_status_summary` averages the sides by their
status (:func:`mfscan.stats.asymmetry.side_status`) instead: the figure of Hides
1996 (CSA of each side per level over visits, per group) is drawn from it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from mfscan.errors import MfscanError
from mfscan.stats.asymmetry import _measure_of
from mfscan.vocab import SIDES

__all__ = ["side_status_summary", "mean_ci"]


def _ci(mean: pd.Series, sd: pd.Series, n: pd.Series, alpha: float):
    with np.errstate(invalid="ignore", divide="ignore"):
        half = stats.t.ppf(1 - alpha / 2, n - 1) * sd / np.sqrt(n)
    half = np.where(n >= 2, half, np.nan)
    return mean - half, mean + half


def mean_ci(values, *, level: float = 0.95) -> tuple[int, float, float, float, float]:
    """``n, mean, sd, ci_lower, ci_upper`` of the finite `values`: SD with ddof 1 and the
    t-based CI of the mean (mean ± t(0.5 + level/2, n - 1) x SD / sqrt(n)); NaN SD and CI when n < 2.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return 0, np.nan, np.nan, np.nan, np.nan
    mean = float(v.mean())
    if n < 2:
        return 1, mean, np.nan, np.nan, np.nan
    sd = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / np.sqrt(n)
    return n, mean, sd, mean - half, mean + half


def side_status_summary(longitudinal_df: pd.DataFrame, *, alpha: float = 0.05) -> pd.DataFrame:
    """Mean, SD, n and t-based CI per group, visit, level (, rater, session) and side status.

    Parameters
    ----------
    longitudinal_df : DataFrame
        Output of :func:`~mfscan.stats.longitudinal.longitudinal` with subjects
        (it has ``left_side_status`` and ``right_side_status``).
    alpha : float
        1 - confidence level of the intervals of the means.

    Returns
    -------
    DataFrame
        One row per group, visit, level, rater (, session) and ``side_status``
        (symptomatic, asymptomatic, bilateral, none) with ``n_subjects`` and, for
        the measure (``<measure>``, e.g. ``csa_cm2``), its change from baseline
        (``change_<unit>``) and the relative change (``change_pct``):
        ``<col>_mean``, ``<col>_sd`` (ddof=1), ``<col>_n`` and the
        ``<col>_ci_lower``/``<col>_ci_upper`` of the mean (t distribution, n - 1
        degrees of freedom; NaN with fewer than 2 subjects). A subject counts once
        per row: with bilateral or no pain its two sides share one status and are
        averaged first. Subjects without a status (not in the subjects table) are
        left out; ``group`` is ``"all"`` when no group is given.
    """
    df = longitudinal_df
    if "left_side_status" not in df.columns or "visit" not in df.columns:
        raise MfscanError("expected the output of longitudinal() with a subjects table (no side status)")
    measure = _measure_of(df)
    unit = next((c[len("left_change_") :] for c in df.columns if c.startswith("left_change_")), "")
    keys = [c for c in ("group", "visit", "level", "rater", "session") if c in df.columns]
    parts = []
    for side in SIDES:
        part = pd.DataFrame({c: df[c] for c in ["subject", *keys]})
        part["side_status"] = df[f"{side}_side_status"]
        part[measure] = df[f"{side}_{measure}"].to_numpy(dtype=float)
        for c in (f"change_{unit}", "change_pct"):
            if f"{side}_{c}" in df.columns:
                part[c] = df[f"{side}_{c}"].to_numpy(dtype=float)
        parts.append(part)
    long = pd.concat(parts, ignore_index=True)
    if "group" in long.columns and long["group"].isna().all():
        long = long.drop(columns="group")
        keys = [k for k in keys if k != "group"]
    if "group" not in long.columns:
        long.insert(0, "group", "all")
        keys = ["group", *keys]
    long["group"] = long["group"].astype(object).where(long["group"].notna(), "(no group)")
    long = long[long["side_status"].notna()]
    values = [c for c in (measure, f"change_{unit}", "change_pct") if c in long.columns]
    by_subject = (
        long.groupby([*keys, "side_status", "subject"], observed=True, dropna=False, sort=True)[values]
        .mean()
        .reset_index()
    )
    grouped = by_subject.groupby([*keys, "side_status"], observed=True, dropna=False, sort=True)
    agg = grouped[values].agg(["mean", "std", "count"])
    out = grouped["subject"].nunique().rename("n_subjects").reset_index()
    for c in values:
        mean, sd, n = agg[(c, "mean")].to_numpy(), agg[(c, "std")].to_numpy(), agg[(c, "count")].to_numpy()
        lo, hi = _ci(mean, sd, n, alpha)
        out[f"{c}_mean"], out[f"{c}_sd"], out[f"{c}_n"] = mean, sd, n.astype(np.int64)
        out[f"{c}_ci_lower"], out[f"{c}_ci_upper"] = lo, hi
    out.attrs["measure"] = measure
    return out
