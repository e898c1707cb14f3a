"""The report's mixed-model section: statement, fixed effects, group x visit contrasts, change table.

:func:`section` turns ``ctx.mixed_models`` (a :class:`mfscan.stats.mixed.ModelResult`) into
HTML fragments for :func:`mfscan.report.html.render_html`.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from mfscan.report._context import Context
from mfscan.report._tables import table as _table

__all__ = ["section"]


def _p_text(p) -> str:
    if p is None or not np.isfinite(p):
        return ""
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _with_ci(df: pd.DataFrame, est: str, lo: str, hi: str, digits: int = 2) -> pd.Series:
    def one(r):
        if not np.isfinite(r[est]):
            return ""
        if not (np.isfinite(r[lo]) and np.isfinite(r[hi])):
            return f"{r[est]:.{digits}f}"
        return f"{r[est]:.{digits}f} [{r[lo]:.{digits}f}, {r[hi]:.{digits}f}]"

    return df.apply(one, axis=1) if len(df) else pd.Series(dtype=object)


def section(ctx: Context) -> list[str]:
    """HTML fragments of the mixed-model section.

    Parameters
    ----------
    ctx : Context
        Its ``mixed_models``: a :class:`mfscan.stats.mixed.ModelResult`, or None (not fitted:
        nothing is shown).

    Returns
    -------
    list of str
        A heading, the model statement (formula, n, REML, convergence), the notes,
        the group x visit contrasts, the change table and (folded) the fixed effects.
    """
    result = ctx.mixed_models
    if result is None or result.fits.empty:
        return []
    out = ["<h2 id='model'>Mixed models of the trial</h2>"]
    out.append(
        "<p class='small'>Linear mixed models, random intercept per subject, REML; repeats averaged per "
        "subject, visit, level and side. Estimates with t-based 95% CI and p values (Satterthwaite degrees of freedom, column df). Positive contrasts: "
        "the group changed more than the reference group. deficit_pct = (asymptomatic - symptomatic) / "
        "asymptomatic x 100, positive when the symptomatic side is the smaller. For research use only.</p>"
    )
    out.append("<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in result.statement()) + "</ul>")
    if result.notes:
        out.append(
            "<ul class='small'>" + "".join(f"<li>{html.escape(n)}</li>" for n in result.notes) + "</ul>"
        )
    c = result.contrasts.copy()
    if len(c):
        c["difference [95% CI]"] = _with_ci(c, "estimate", "ci_lower", "ci_upper")
        c["p value"] = c["p"].map(_p_text)
        c["Hedges' g [95% CI]"] = _with_ci(c, "hedges_g", "hedges_g_ci_lower", "hedges_g_ci_upper")
        c["n"] = c["n_group"].astype(str) + " vs " + c["n_reference"].astype(str)
        cols = ["model", "level", "side_status", "visit", "group", "reference_group", "unit"]
        cols += ["difference [95% CI]", "df", "p value", "Hedges' g [95% CI]", "n"]
        out.append("<h3>Group x visit contrasts (difference in mean change from baseline)</h3>")
        out.append(_table(c, columns=cols))
    ch = result.change.copy()
    if len(ch):
        ch["mean change [95% CI]"] = _with_ci(ch, "mean_change", "ci_lower", "ci_upper")
        cols = [
            "model",
            "level",
            "side_status",
            "group",
            "visit",
            "unit",
            "n_subjects",
            "mean change [95% CI]",
        ]
        cols += ["mdc95", "pct_beyond_mdc95", "pct_increase_beyond_mdc95"]
        out.append("<h3>Change from baseline per group and visit</h3>")
        out.append(_table(ch, columns=cols))
    fe = result.fixed_effects.copy()
    if len(fe):
        fe["estimate [95% CI]"] = _with_ci(fe, "estimate", "ci_lower", "ci_upper", 3)
        fe["p value"] = fe["p"].map(_p_text)
        out.append("<details><summary>Fixed effects</summary>")
        out.append(
            _table(
                fe, columns=["model", "level", "term", "estimate [95% CI]", "se", "df", "p value"], digits=3
            )
        )
        out.append("</details>")
    return out
