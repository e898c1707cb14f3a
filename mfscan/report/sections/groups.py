"""The report's "Asymmetry by group" section: group curves, the group summary table and
every asymmetry row."""

from __future__ import annotations

import html

from mfscan.report._context import Context
from mfscan.report._tables import img, sort_rows, table
from mfscan.report.plots import plot_group_curves, primary_rows
from mfscan.report.sections.asymmetry import asymmetry_columns, who_text

__all__ = ["section"]

_e = html.escape


def section(ctx: Context) -> list[str]:
    """Group curves and table (n per group and visit), then every asymmetry row."""
    res, groups, measure = ctx.res, ctx.groups, ctx.measure
    asym = res.asymmetry
    if asym is None or not len(asym):
        return []
    parts = []
    uri = plot_group_curves(groups, visits=ctx.visits)
    if uri:
        who = who_text(primary_rows(groups))
        parts.append(
            "<h2 id='groups'>Asymmetry by group over visits</h2>"
            f"<p>Mean ± SD of the subjects' asymmetry{f' ({_e(who)})' if who else ''}; "
            "n per group and visit in the table below.</p>" + img(uri, "group curves")
        )
    if groups is not None and len(groups):
        gcols = [
            "group",
            "visit",
            "level",
            "rater",
            "session",
            "n_subjects",
            "asymmetry_pct_mean",
            "asymmetry_pct_sd",
            f"left_{measure}_mean",
            f"right_{measure}_mean",
            "symptomatic_deficit_pct_mean",
            "asymmetry_change_pct_points_mean",
        ]
        gtab = sort_rows(groups, ctx.visits)
        parts.append(
            "<details><summary>Group summary table (every rater and session)</summary>"
            + table(gtab, columns=[c for c in gcols if c in gtab])
            + "</details>"
        )
    srt = sort_rows(asym, ctx.visits)
    parts.append(
        "<details><summary>All asymmetry rows</summary>"
        + table(srt, columns=asymmetry_columns(asym, measure), flags=srt["exceeds_threshold"].fillna(False))
        + "</details>"
    )
    return parts
