"""Outline agreement summarised: per pair and level, and the share of proposals accepted unchanged.

The figures of each pair are those of :func:`mfscan.measure.overlap.outline_agreement`
(definitions there), gathered from the sidecars by
:func:`mfscan.measure.agreement.agreement_table`. For research use only, not for diagnosis.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["SUMMARY_MEASURES", "agreement_summary", "acceptance_summary"]

#: Summarised per pair and level by :func:`agreement_summary`.
SUMMARY_MEASURES = (
    "dice",
    "hausdorff_mm",
    "mean_contour_distance_mm",
    "hausdorff_px",
    "mean_contour_distance_px",
    "csa_diff_cm2",
    "csa_diff_pct",
)


PAIR_COLUMNS = ("between", "a", "b", "proposal_method", "model", "level")


def _q(x: np.ndarray, q: float) -> float:
    return float(np.quantile(x, q)) if len(x) else float("nan")


def agreement_summary(table: pd.DataFrame, *, measures: Sequence[str] | None = None) -> pd.DataFrame:
    """Median, quartiles, IQR, mean and n of each agreement figure per pair and level.

    Parameters
    ----------
    table : DataFrame
        From :func:`mfscan.measure.agreement.agreement_table`.
    measures : sequence of str, optional
        Default: :data:`SUMMARY_MEASURES` present in the table.

    Returns
    -------
    DataFrame
        One row per pair (``between``, ``a``, ``b``, and for proposals
        ``proposal_method`` and ``model``), level and measure: ``n`` (non-missing
        values), ``median``, ``q1``, ``q3``, ``iqr`` (= q3 - q1, quartiles by linear
        interpolation), ``mean``. Measures with no value in a group are left out.
    """
    measures = [m for m in (measures or SUMMARY_MEASURES) if m in table]
    keys = [c for c in PAIR_COLUMNS if c in table]
    rows = []
    if table.empty:
        return pd.DataFrame(columns=[*keys, "measure", "n", "median", "q1", "q3", "iqr", "mean"])
    t = table.copy()
    for c in keys:
        if c != "level":
            t[c] = t[c].astype("string").fillna("")
    for key, g in t.groupby(keys, observed=True, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        for m in measures:
            x = pd.to_numeric(g[m], errors="coerce").dropna().to_numpy(float)
            if not len(x):
                continue
            q1, q3 = _q(x, 0.25), _q(x, 0.75)
            rows.append(
                {
                    **dict(zip(keys, key, strict=True)),
                    "measure": m,
                    "n": len(x),
                    "median": float(np.median(x)),
                    "q1": q1,
                    "q3": q3,
                    "iqr": q3 - q1,
                    "mean": float(x.mean()),
                }
            )
    out = pd.DataFrame(rows, columns=[*keys, "measure", "n", "median", "q1", "q3", "iqr", "mean"])
    if "level" in out and "level" in table and isinstance(table["level"].dtype, pd.CategoricalDtype):
        out["level"] = out["level"].astype(table["level"].dtype)
    return out


def acceptance_summary(table: pd.DataFrame) -> pd.DataFrame:
    """The share of proposals accepted unchanged, per proposal method and model id.

    Parameters
    ----------
    table : DataFrame
        The agreement table of ``between="method"`` (columns ``proposal_method``,
        ``model``, ``accepted_unchanged``, ``dice``).

    Returns
    -------
    DataFrame
        ``proposal_method``, ``model`` (empty for the classical proposal),
        ``n_proposals``, ``n_accepted_unchanged``, ``accepted_unchanged_pct``
        (= accepted / proposals x 100), ``median_dice`` of all the proposals, and the
        proposals' CSA bias against the final outlines, ``median_csa_bias_pct`` and
        ``mean_csa_bias_pct``: per outline (proposal - final) / final x 100, so a
        method that traces smaller than the raters (the inner border when they trace
        the centre of the fascia line) has a negative bias.
        A proposal counts as accepted unchanged when the outline's ``method`` is
        still ``proposed`` or ``model``.
    """
    cols = [
        "proposal_method",
        "model",
        "n_proposals",
        "n_accepted_unchanged",
        "accepted_unchanged_pct",
        "median_dice",
        "median_csa_bias_pct",
        "mean_csa_bias_pct",
    ]
    if table.empty or "accepted_unchanged" not in table:
        return pd.DataFrame(columns=cols)
    t = table.assign(
        proposal_method=table["proposal_method"].astype("string").fillna(""),
        model=table["model"].astype("string").fillna(""),
    )
    rows = []
    for (pm, model), g in t.groupby(["proposal_method", "model"], sort=True):
        acc = g["accepted_unchanged"].astype(bool)
        diff = pd.to_numeric(g["csa_diff_pct"], errors="coerce")  # (final - proposal) / proposal x 100
        bias = -diff / (100.0 + diff) * 100.0  # (proposal - final) / final x 100
        rows.append(
            {
                "proposal_method": pm,
                "model": model,
                "n_proposals": len(g),
                "n_accepted_unchanged": int(acc.sum()),
                "accepted_unchanged_pct": float(acc.mean() * 100.0),
                "median_dice": float(pd.to_numeric(g["dice"], errors="coerce").median()),
                "median_csa_bias_pct": float(bias.median()),
                "mean_csa_bias_pct": float(bias.mean()),
            }
        )
    return pd.DataFrame(rows, columns=cols)
