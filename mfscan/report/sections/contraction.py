"""The report's RUSI section: multifidus thickness at rest and contracted, and its change.

:func:`section` gives the HTML fragments (a heading, the protocol in one
paragraph, a plot of the thickness change per side over visits, and the contraction
table of :func:`mfscan.stats.contraction.contraction_table`, ``ctx.contraction``); nothing
when the study has no thickness lines. :func:`plot_thickness_change` draws the plot on its own
:class:`matplotlib.figure.Figure` (object API only; no pyplot, no global settings).
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from mfscan.report._context import Context
from mfscan.vocab import SIDE_COLORS, SIDES

__all__ = ["section", "plot_thickness_change"]

#: The columns of the contraction table shown in the report (all are in the CSV).
SHOWN = (
    "subject",
    "visit",
    "level",
    "side",
    "rater",
    "session",
    "rest_thickness_cm",
    "n_rest",
    "contracted_thickness_cm",
    "n_contracted",
    "thickness_change_pct",
    "contraction_ratio",
    "missing_reason",
)


def plot_thickness_change(table: pd.DataFrame, *, visit_order=None) -> str | None:
    """Thickness change (%) per side over visits: a PNG data URI, or None without values.

    One panel per level; per side (the project's side colours) a thin line per
    subject (the mean over its raters and sessions) and a thick line with markers for
    the mean over subjects. Visits in `visit_order` (the study analysis' order: explicit,
    else dates, else the rule of :mod:`mfscan.visits`), else the rule's.
    """
    from mfscan.report.plots import FONT_SIZE, _fig_to_data_uri, _figure

    t = table[np.isfinite(table["thickness_change_pct"].to_numpy(dtype=float, na_value=np.nan))]
    if t.empty:
        return None
    from mfscan.report._data import visit_sequence

    order = visit_sequence(t["visit"].astype(object), visit_order)  # the study's order, dates and all
    pos = {v: i for i, v in enumerate(order)}
    levels = [lv for lv in pd.unique(t["level"].astype(object)) if pd.notna(lv)] or [None]
    fig, axes = _figure(len(levels), (3.6 * len(levels) + 0.6, 3.0), sharey=True)
    for ax, level in zip(axes, levels, strict=True):
        lt = t if level is None else t[t["level"].astype(object) == level]
        for side in SIDES:
            st = lt[lt["side"].astype(object) == side]
            if st.empty:
                continue
            x = st["visit"].astype(str).map(pos).to_numpy()
            per = pd.DataFrame({"subject": st["subject"].astype(str).to_numpy(), "x": x})
            per["y"] = st["thickness_change_pct"].to_numpy(dtype=float)
            subj = per.groupby(["subject", "x"], sort=True)["y"].mean().reset_index()
            for _, g in subj.groupby("subject"):
                ax.plot(g["x"], g["y"], color=SIDE_COLORS[side], alpha=0.35, linewidth=1)
            mean = subj.groupby("x")["y"].mean()
            ax.plot(
                mean.index, mean.to_numpy(), color=SIDE_COLORS[side], linewidth=2.4, marker="o", label=side
            )
        ax.axhline(0.0, color="0.5", linewidth=0.8)
        ax.set_xticks(range(len(order)), order)
        ax.set_xlabel("visit", fontsize=FONT_SIZE)
        ax.set_title(f"{level} " if level else "", fontsize=FONT_SIZE)
        ax.legend(fontsize=FONT_SIZE - 1, frameon=False)
    axes[0].set_ylabel("thickness change (%)\n(contracted - rest) / rest", fontsize=FONT_SIZE)
    return _fig_to_data_uri(fig)


def section(ctx: Context) -> list[str]:
    """The RUSI section of the report as HTML fragments; empty when there is nothing to show.

    Parameters
    ----------
    ctx : Context
        Its ``contraction`` (the table of :func:`mfscan.stats.contraction.contraction_table`,
        None without thickness lines) and ``visit_order`` (the study's visits in time order,
        ``StudyAnalysis.visit_order``).

    Returns
    -------
    list of str
        HTML fragments, in order; every value from the study is escaped.
    """
    from mfscan.report._tables import table as _table

    table = ctx.contraction
    if table is None or table.empty:
        return []
    n_ok = int(table["missing_reason"].isna().sum())
    parts = [
        "<h2 id='contraction'>Activation (RUSI): multifidus thickness at rest and contracted</h2>",
        "<p>Thickness from the facet joint (or lamina) to the muscle's superficial border on "
        "parasagittal images, mean of the trials of each task. Thickness change = (contracted "
        "&minus; rest) / rest &times; 100 (%, positive: the muscle thickened); contraction ratio = "
        "contracted / rest. Kiesel et al. 2007 (Man Ther 12:161); Wallwork et al. 2007, 2009; "
        f"Sions et al. 2015. {n_ok} of {len(table)} row(s) have both tasks; "
        "all are in <code>contraction.csv</code>.</p>",
    ]
    uri = plot_thickness_change(table, visit_order=ctx.visit_order)
    if uri:
        parts.append(
            f"<figure><img alt='thickness change per side over visits' src='{html.escape(uri)}'>"
            "<figcaption>Thickness change per side over visits: thin lines per subject (mean "
            "over raters and sessions), thick lines the mean over subjects.</figcaption></figure>"
        )
    shown = [c for c in SHOWN if c in table.columns]
    flags = table["missing_reason"].notna()
    parts.append(_table(table[shown], flags=flags.reset_index(drop=True), digits=2))
    return parts
