"""The report's figures, each returned as a PNG ``data:`` URI for the HTML.

Every figure is drawn on its own :class:`matplotlib.figure.Figure` (no pyplot, no
backend switch, no ``rcParams`` change): building a report inside a Jupyter or
napari session leaves that session's matplotlib as it was. Styles are set per
axes. Sides are drawn in :data:`mfscan.vocab.SIDE_COLORS`.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mfscan.vocab import SIDE_COLORS

__all__ = [
    "GROUP_COLORS",
    "threshold_ratio",
    "primary_rows",
    "plot_asymmetry_over_visits",
    "plot_left_right",
    "plot_group_curves",
    "plot_bland_altman",
]

#: Colours of the study groups (Okabe-Ito, colour-blind safe; none is a side colour).
GROUP_COLORS = ["#009E73", "#CC79A7", "#0072B2", "#D55E00", "#F0E442", "#000000"]
FONT_SIZE = 9
TITLE_SIZE = 10.8


def _figure(ncols: int, figsize, *, sharey: bool = False):
    """A new Figure with one row of styled axes (no top/right spines, light grid)."""
    fig = Figure(figsize=figsize)
    axes = fig.subplots(1, ncols, sharey=sharey, squeeze=False)[0]
    for ax in axes:
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=FONT_SIZE)
    return fig, axes


def _fig_to_data_uri(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def primary_rows(asym: pd.DataFrame, of: pd.DataFrame | None = None) -> pd.DataFrame:
    """The rows of one rater and session per subject and visit, for per-subject figures and
    tables: the rater with most outlines for that subject (ties: natural order), its first
    session (:func:`mfscan.report._data.primary_judge`).

    ``of``: the table the choice is made on (default ``asym`` itself): the largest-level table
    takes the raters chosen on the whole asymmetry table, so both show the same rater."""
    from mfscan.report._data import _select, primary_judge

    rater, session = primary_judge(asym if of is None else of)
    return _select(asym, rater, session)


def _visit_x(visits, order):
    """x positions of visit labels in the study's order (``order``: None for natural order)."""
    from mfscan.report._data import visit_sequence

    seq = visit_sequence(visits, order)
    return {v: i for i, v in enumerate(seq)}, seq


def plot_asymmetry_over_visits(asym, subjects, threshold_pct, index="hides", visits=None):
    """Asymmetry per subject over visits, one panel per level, threshold dashed; None when empty.

    ``visits``: the study's visit order (default: :func:`mfscan.visits.visit_order`).
    """
    signed = index == "index"
    a = primary_rows(asym).dropna(subset=["asymmetry_pct"])
    pos, seq = _visit_x(a["visit"].astype(str), visits)
    levels = (
        [lv for lv in a["level"].cat.categories if (a["level"] == lv).any()]
        if hasattr(a["level"], "cat")
        else sorted(a["level"].dropna().unique())
    )
    if not levels:
        return None
    groups = sorted(a["group"].dropna().unique()) if "group" in a else []
    gcol = {g: GROUP_COLORS[i % len(GROUP_COLORS)] for i, g in enumerate(groups)}
    fig, axes = _figure(len(levels), (4.2 * len(levels), 3.4), sharey=True)
    for ax, lv in zip(axes, levels):
        d = a[a["level"] == lv]
        for subject, s in d.groupby("subject", observed=True):
            s = s.assign(_x=[pos[str(v)] for v in s["visit"]]).sort_values("_x")
            g = s["group"].iloc[0] if "group" in s and pd.notna(s["group"].iloc[0]) else None
            ax.plot(
                s["_x"],
                s["asymmetry_pct"],
                marker="o",
                ms=4,
                color=gcol.get(g, "#555555"),
                alpha=0.85,
            )
            ax.annotate(
                str(subject),
                (s["_x"].iloc[-1], s["asymmetry_pct"].iloc[-1]),
                fontsize=7,
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
            )
        ax.axhline(threshold_pct, color="#D55E00", ls="--", lw=1)
        if signed:
            ax.axhline(-threshold_pct, color="#D55E00", ls="--", lw=1)
            ax.axhline(0, color="black", lw=0.8)
        ax.set_title(f"{lv}", fontsize=TITLE_SIZE)
        ax.set_xticks(range(len(seq)), seq)
        ax.set_xlabel("visit", fontsize=FONT_SIZE)
    axes[0].set_ylabel("asymmetry (%)", fontsize=FONT_SIZE)
    if groups:
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], color=gcol[g], marker="o", label=g) for g in groups]
        handles.append(Line2D([], [], color="#D55E00", ls="--", label=f"{threshold_pct:g}% threshold"))
        axes[-1].legend(handles=handles, fontsize=8, loc="upper right", frameon=False)
    fig.suptitle("Side-to-side asymmetry per subject over visits", y=1.02, fontsize=TITLE_SIZE)
    return _fig_to_data_uri(fig)


def threshold_ratio(threshold_pct: float, index: str) -> float:
    """The larger/smaller CSA ratio at which `index` reaches `threshold_pct`."""
    t = threshold_pct / 100
    if index == "smaller-side":
        return 1 + t
    if index == "index":
        return (2 + t) / (2 - t) if t < 2 else float("inf")
    return 1 / (1 - t) if t < 1 else float("inf")


def plot_left_right(asym, threshold_pct, unit, index="hides"):
    """Right vs left CSA (``unit``: the measure) with the threshold lines of ``index``; None when empty."""
    a = primary_rows(asym).dropna(subset=["left_" + unit, "right_" + unit])
    if a.empty:
        return None
    fig, (ax,) = _figure(1, (4.6, 4.2))
    levels = a["level"].astype(str)
    markers = dict(zip(sorted(levels.unique()), "osD^v<"))
    for lv, d in a.groupby(levels):
        ax.scatter(d["left_" + unit], d["right_" + unit], s=22, marker=markers[lv], label=lv, alpha=0.8)
    lo = float(min(a["left_" + unit].min(), a["right_" + unit].min())) * 0.9
    hi = float(max(a["left_" + unit].max(), a["right_" + unit].max())) * 1.05
    x = np.linspace(lo, hi, 50)
    f = 1 / threshold_ratio(threshold_pct, index)
    ax.plot(x, x, color="black", lw=1)
    ax.plot(x, x * f, color="#D55E00", ls="--", lw=1, label=f"{threshold_pct:g}% asymmetry ({index})")
    ax.plot(x, x / f, color="#D55E00", ls="--", lw=1)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    u = "cm²" if unit == "csa_cm2" else "px²"
    ax.set_xlabel(f"left CSA ({u})", fontsize=FONT_SIZE)
    ax.set_ylabel(f"right CSA ({u})", fontsize=FONT_SIZE)
    ax.legend(fontsize=8, frameon=False)
    ax.set_title("Left vs right CSA (mean of repeats)", fontsize=TITLE_SIZE)
    return _fig_to_data_uri(fig)


def plot_group_curves(groups, visits=None):
    """Mean ± SD asymmetry per group over visits, one panel per level; None without groups.

    ``visits``: the study's visit order (default: :func:`mfscan.visits.visit_order`).
    """
    if groups is None or groups.empty or "asymmetry_pct_mean" not in groups:
        return None
    g = primary_rows(groups)
    g = g[g["group"].notna()]  # a subject missing from subjects.csv has no group
    if g.empty:
        return None
    pos, seq = _visit_x(g["visit"].astype(str), visits)
    levels = sorted(g["level"].astype(str).unique())
    names = sorted(g["group"].astype(str).unique())
    fig, axes = _figure(len(levels), (4.2 * len(levels), 3.4), sharey=True)
    for ax, lv in zip(axes, levels):
        d = g[g["level"].astype(str) == lv]
        for i, name in enumerate(names):
            s = d[d["group"].astype(str) == name]
            s = s.assign(_x=[pos[str(v)] for v in s["visit"]]).sort_values("_x")
            if s.empty:
                continue
            ax.errorbar(
                s["_x"],
                s["asymmetry_pct_mean"],
                yerr=s["asymmetry_pct_sd"].fillna(0),
                marker="o",
                capsize=3,
                color=GROUP_COLORS[i % len(GROUP_COLORS)],
                label=f"{name}",
            )
        ax.set_title(lv, fontsize=TITLE_SIZE)
        ax.set_xticks(range(len(seq)), seq)
        ax.set_xlabel("visit", fontsize=FONT_SIZE)
    axes[0].set_ylabel("asymmetry, mean ± SD (%)", fontsize=FONT_SIZE)
    axes[-1].legend(fontsize=8, frameon=False)
    fig.suptitle("Asymmetry by group over visits", y=1.02, fontsize=TITLE_SIZE)
    return _fig_to_data_uri(fig)


def plot_bland_altman(meas, between="rater", measure="csa_cm2"):
    """Bland-Altman plots of the first two raters (or sessions) per level and side."""
    from mfscan.stats.icc import bland_altman

    col = between
    m = meas.dropna(subset=[measure])
    if col == "session":
        return None
    judges = sorted(m[col].dropna().astype(str).unique())
    if len(judges) < 2:
        return None
    a_name, b_name = judges[:2]
    mean = (
        m[m[col].astype(str).isin([a_name, b_name])]
        .groupby(["subject", "visit", "level", "side", col], observed=True)[measure]
        .mean()
        .unstack(col)
        .dropna()
    )
    if mean.empty:
        return None
    cells = sorted({(str(lv), str(sd)) for _, _, lv, sd in mean.index})
    fig, axes = _figure(len(cells), (3.3 * len(cells), 3.1), sharey=True)
    for ax, (lv, sd) in zip(axes, cells):
        d = mean[
            (mean.index.get_level_values("level").astype(str) == lv)
            & (mean.index.get_level_values("side").astype(str) == sd)
        ]
        a, b = d[a_name].to_numpy(float), d[b_name].to_numpy(float)
        ba = bland_altman(a, b)
        ax.scatter((a + b) / 2, b - a, s=18, color=SIDE_COLORS.get(sd, "#333333"))
        for y, ls in ((ba["bias"], "-"), (ba["loa_lower"], "--"), (ba["loa_upper"], "--")):
            ax.axhline(y, color="#444444", ls=ls, lw=1)
        ax.set_title(f"{lv} {sd}", fontsize=TITLE_SIZE)
        ax.set_xlabel("mean CSA (cm²)" if measure == "csa_cm2" else "mean", fontsize=FONT_SIZE)
    axes[0].set_ylabel(f"{b_name} − {a_name}", fontsize=FONT_SIZE)
    fig.suptitle(
        f"Bland-Altman: {b_name} − {a_name} (bias solid, 95% limits dashed)", y=1.03, fontsize=TITLE_SIZE
    )
    return _fig_to_data_uri(fig)
