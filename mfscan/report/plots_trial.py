"""The figures of a Hides-style trial (Hides et al. 1996, Spine 21:2763).

:func:`plot_sides_over_visits`: the CSA of each side per level over visits, one
row of panels per group, one panel per level: the group mean of the subjects'
side means (repeats averaged first) with its 95% CI; the symptomatic side is drawn
solid in vermilion with filled markers, the asymptomatic side dashed in blue with
open markers. Subjects without a unilateral symptomatic side are drawn as left and
right (dotted, side colours). :func:`plot_deficit_over_visits`: the mean
symptomatic deficit per group over visits with its 95% CI.

Every figure is its own :class:`matplotlib.figure.Figure` (no pyplot state). The
``*_figure`` functions return the Figure (tests read the plotted values from it);
the ``plot_*`` functions return a PNG ``data:`` URI, or None when there is nothing
to draw.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mfscan.report.plots import FONT_SIZE, GROUP_COLORS, TITLE_SIZE, _fig_to_data_uri
from mfscan.vocab import SIDE_COLORS

__all__ = [
    "STATUS_STYLE",
    "sides_figure",
    "plot_sides_over_visits",
    "deficit_figure",
    "plot_deficit_over_visits",
]

#: Line styles of a side status (symptomatic marked: solid, filled, vermilion).
STATUS_STYLE = {
    "symptomatic": {"color": "#D55E00", "ls": "-", "marker": "o", "mfc": "#D55E00", "lw": 2.0},
    "asymptomatic": {"color": "#0072B2", "ls": "--", "marker": "o", "mfc": "white", "lw": 1.5},
}


def _styled_axes(fig: Figure, nrows: int, ncols: int):
    axes = fig.subplots(nrows, ncols, sharey=True, squeeze=False)
    for ax in axes.ravel():
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=FONT_SIZE)
    return axes


def _series_label(status: str, side: str) -> str:
    if status in STATUS_STYLE:
        return f"{status} side"
    return f"{side} ({status})" if status else side


def _series_style(status: str, side: str) -> dict:
    if status in STATUS_STYLE:
        return STATUS_STYLE[status]
    color = SIDE_COLORS.get(side, "#555555")
    return {"color": color, "ls": ":", "marker": "s", "mfc": color, "lw": 1.3}


def _n_text(n: pd.Series) -> str:
    lo, hi = int(n.min()), int(n.max())
    return f"n = {lo}" if lo == hi else f"n = {lo}–{hi}"


def _draw_series(ax, d: pd.DataFrame, col: str, pos: dict, offset: float, style: dict, gid: str):
    x = np.array([pos[v] for v in d["visit"]], dtype=float) + offset
    y = d[f"{col}_mean"].to_numpy(float)
    lo = (y - d[f"{col}_ci_lower"].to_numpy(float)).clip(min=0)
    hi = (d[f"{col}_ci_upper"].to_numpy(float) - y).clip(min=0)
    err = np.vstack([np.nan_to_num(lo), np.nan_to_num(hi)])
    bars = ax.errorbar(x, y, yerr=err, capsize=3, ms=5, mec=style["color"], elinewidth=1, **style)
    bars.lines[0].set_gid(gid)
    return bars


def sides_figure(
    means: pd.DataFrame, measure: str, visits: Sequence[str], *, title: str = ""
) -> Figure | None:
    """The figure of :func:`plot_sides_over_visits` (rows: groups; columns: levels)."""
    if means is None or means.empty:
        return None
    col = measure
    groups = list(dict.fromkeys(means["group"]))
    levels = list(dict.fromkeys(means["level"]))
    pos = {v: i for i, v in enumerate(visits)}
    fig = Figure(figsize=(min(3.6 * len(levels), 14.0) + 1.6, 2.9 * len(groups) + 1.0))
    axes = _styled_axes(fig, len(groups), len(levels))
    series = list(dict.fromkeys(zip(means["side_status"], means["side"])))
    width = 0.08 * (len(series) - 1)
    for gi, g in enumerate(groups):
        for li, lv in enumerate(levels):
            ax = axes[gi, li]
            d = means[(means["group"] == g) & (means["level"] == lv)]
            for si, (status, side) in enumerate(series):
                s = d[(d["side_status"] == status) & (d["side"] == side)]
                if s.empty:
                    continue
                off = -width / 2 + 0.08 * si if len(series) > 1 else 0.0
                _draw_series(ax, s, col, pos, off, _series_style(status, side), f"{status}|{side}")
            ax.set_title(
                f"{g} · {lv} ({_n_text(d['n_subjects'])})" if len(d) else f"{g} · {lv}", fontsize=TITLE_SIZE
            )
            ax.set_xticks(range(len(visits)), [str(v) for v in visits])
            ax.set_xlim(-0.4, len(visits) - 0.6)
            if gi == len(groups) - 1:
                ax.set_xlabel("visit", fontsize=FONT_SIZE)
        unit = "cm²" if measure == "csa_cm2" else "px²"
        axes[gi, 0].set_ylabel(f"CSA ({unit}), mean ± 95% CI", fontsize=FONT_SIZE)
    from matplotlib.lines import Line2D

    handles = [
        Line2D(
            [],
            [],
            label=_series_label(st, sd),
            **{**_series_style(st, sd), "mec": _series_style(st, sd)["color"]},
        )
        for st, sd in series
    ]
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    fig.suptitle(title or "CSA of each side over visits", fontsize=TITLE_SIZE)
    h = fig.get_figheight()
    fig.subplots_adjust(hspace=0.35, wspace=0.12, top=1 - 0.8 / h, bottom=0.5 / h)
    return fig


def plot_sides_over_visits(means: pd.DataFrame, measure: str, visits: Sequence[str], *, title: str = ""):
    """The CSA of each side per level over visits, per group (a PNG data URI or None).

    Parameters
    ----------
    means : DataFrame
        :func:`mfscan.report._data.side_means_over_visits`.
    measure : str
        Its measure (``csa_cm2`` or ``csa_px2``).
    visits : sequence of str
        The visits in the study's order (the x axis).
    title : str
        The figure's title (names the rater and session shown).
    """
    fig = sides_figure(means, measure, visits, title=title)
    return None if fig is None else _fig_to_data_uri(fig)


def deficit_figure(deficit: pd.DataFrame, visits: Sequence[str], *, title: str = "") -> Figure | None:
    """The figure of :func:`plot_deficit_over_visits` (one panel per level, a line per group)."""
    if deficit is None or deficit.empty:
        return None
    col = "symptomatic_deficit_pct"
    levels = list(dict.fromkeys(deficit["level"]))
    groups = list(dict.fromkeys(deficit["group"]))
    pos = {v: i for i, v in enumerate(visits)}
    fig = Figure(figsize=(min(4.0 * len(levels), 14.0) + 1.4, 3.4))
    axes = _styled_axes(fig, 1, len(levels))[0]
    for ax, lv in zip(axes, levels):
        d = deficit[deficit["level"] == lv]
        for gi, g in enumerate(groups):
            s = d[d["group"] == g]
            if s.empty:
                continue
            color = GROUP_COLORS[gi % len(GROUP_COLORS)]
            off = -0.05 * (len(groups) - 1) + 0.1 * gi
            style = {"color": color, "ls": "-", "marker": "o", "mfc": color, "lw": 1.6}
            _draw_series(ax, s, col, pos, off, style, str(g))
        ax.axhline(0, color="black", lw=0.8)
        ax.set_title(str(lv), fontsize=TITLE_SIZE)
        ax.set_xticks(range(len(visits)), [str(v) for v in visits])
        ax.set_xlim(-0.4, len(visits) - 0.6)
        ax.set_xlabel("visit", fontsize=FONT_SIZE)
    axes[0].set_ylabel("symptomatic deficit (%), mean ± 95% CI", fontsize=FONT_SIZE)
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=GROUP_COLORS[i % len(GROUP_COLORS)], marker="o", label=str(g))
        for i, g in enumerate(groups)
    ]
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    fig.suptitle(title or "Symptomatic deficit over visits", fontsize=TITLE_SIZE)
    fig.subplots_adjust(wspace=0.15, top=0.8)
    return fig


def plot_deficit_over_visits(deficit: pd.DataFrame, visits: Sequence[str], *, title: str = ""):
    """Mean symptomatic deficit per group over visits, one panel per level (a PNG data URI or None).

    Parameters
    ----------
    deficit : DataFrame
        :func:`mfscan.report._data.deficit_over_visits`.
    visits : sequence of str
        The visits in the study's order.
    title : str
        The figure's title.
    """
    fig = deficit_figure(deficit, visits, title=title)
    return None if fig is None else _fig_to_data_uri(fig)
