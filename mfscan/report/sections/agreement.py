"""The report's "Outline agreement" section, from the tables of ``mfscan agreement``.

:func:`agreement_tables` gathers the pairs of a study (raters, sessions, proposals)
with :func:`mfscan.measure.agreement.agreement_table`; the :func:`section` turns
them into HTML fragments: per pair and level the median [IQR] of the Dice
coefficient, Hausdorff and mean contour distance and CSA difference, and for
proposals the share accepted unchanged per model.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from mfscan.report._context import Context
from mfscan.report._tables import table as _table

__all__ = ["section", "agreement_tables"]

_TITLES = {
    "rater": "Between raters (each rater's first session)",
    "session": "Between sessions of one rater",
    "method": "Proposal against the rater's final outline",
}


def agreement_tables(paths, **kwargs) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """The agreement tables of a study for every ``between`` that has pairs.

    Parameters
    ----------
    paths : str, Path or list of them
        The study folder (or images, sidecars, folders).
    **kwargs
        Passed to :func:`mfscan.measure.agreement.agreement_table` (``max_pixels``, ``label_root``,
        ``study``: the study resolved once, then `paths` is not searched).

    Returns
    -------
    tables : dict of str to DataFrame
        ``{"rater": ..., "session": ..., "method": ...}``, only the non-empty ones.
    errors : DataFrame
        ``path``, ``roi``, ``reason`` of what could not be compared (each once).
    """
    from mfscan.measure.agreement import BETWEEN, agreement_table
    from mfscan.measure.study import resolve_study

    study = kwargs.pop("study", None)
    if study is None:  # resolved once for the three comparisons
        paths = [paths] if isinstance(paths, (str, bytes)) or not hasattr(paths, "__iter__") else list(paths)
        study = resolve_study(paths)
    tables, errors = {}, []
    for between in BETWEEN:
        table, err = agreement_table(between=between, study=study, **kwargs)
        errors.append(err)
        if len(table):
            tables[between] = table
    err = pd.concat(errors, ignore_index=True).drop_duplicates() if errors else pd.DataFrame()
    return tables, err.reset_index(drop=True)


def _fmt(x: np.ndarray, digits: int) -> str:
    x = x[np.isfinite(x)]
    if not len(x):
        return ""
    q1, med, q3 = np.quantile(x, [0.25, 0.5, 0.75])
    return f"{med:.{digits}f} [{q1:.{digits}f}, {q3:.{digits}f}]"


def _wide(table: pd.DataFrame) -> pd.DataFrame:
    """One row per pair and level: n and median [q1, q3] of each figure."""
    unit = "mm" if table["hausdorff_mm"].notna().any() else "px"
    keys = ["a", "b", "model", "level"] if table["model"].notna().any() else ["a", "b", "level"]
    t = table.assign(**{k: table[k].astype("string").fillna("") for k in keys})
    rows = []
    for key, g in t.groupby(keys, sort=True):
        v = {c: pd.to_numeric(g[c], errors="coerce").to_numpy(float) for c in g.columns if c in table}
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "n": len(g),
                "Dice": _fmt(v["dice"], 3),
                f"Hausdorff ({unit})": _fmt(v[f"hausdorff_{unit}"], 2),
                f"mean contour distance ({unit})": _fmt(v[f"mean_contour_distance_{unit}"], 2),
                "CSA b - a (cm²)": _fmt(v["csa_diff_cm2"], 3),
                "CSA b - a (%)": _fmt(v["csa_diff_pct"], 1),
            }
        )
    return pd.DataFrame(rows)


def section(ctx: Context) -> list[str]:
    """HTML fragments of the outline agreement section.

    Parameters
    ----------
    ctx : Context
        Its ``agreement``: agreement tables by ``between`` (``rater``, ``session``,
        ``method``), as from :func:`agreement_tables` or ``mfscan agreement``'s CSV read back;
        the proposals' acceptance (:func:`mfscan.stats.agreement.acceptance_summary`) is
        computed from ``agreement["method"]``.

    Returns
    -------
    list of str
        Empty when there is no pair; otherwise the heading, the definitions with the
        sign convention, and one table per kind of pair (values escaped).
    """
    from mfscan.stats.agreement import acceptance_summary

    tables = {k: v for k, v in (ctx.agreement or {}).items() if v is not None and len(v)}
    if not tables:
        return []
    parts = [
        "<h2 id='agreement'>Outline agreement</h2><p>Per pair of outlines of the same image and side: the Dice "
        "coefficient of the filled polygons (exact polygon intersection; 1 = identical), the symmetric "
        "Hausdorff distance and the mean contour distance (the mean of the two directed mean distances "
        "along the contours), in mm with each outline's own calibration, and the CSA difference "
        "<b>b - a</b> (a = first rater, earlier session, or the proposal; positive when b is larger). "
        "Median [quartiles] over images and sides; every pair in <code>mfscan agreement</code>'s CSV.</p>"
    ]
    for between in ("rater", "session", "method"):
        if between not in tables:
            continue
        parts.append(f"<h3>{html.escape(_TITLES[between])}</h3>" + _table(_wide(tables[between])))
    if "method" in tables:
        acc = acceptance_summary(tables["method"])
        parts.append(
            "<p>Proposals accepted unchanged (the outline's method is still <code>proposed</code> or "
            "<code>model</code>), per model:</p>" + _table(acc, digits=3)
        )
    return parts
