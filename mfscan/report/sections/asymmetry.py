"""The report's asymmetry section: definition, per-subject figures, flagged and incomplete rows,
the largest level (group curves and every row: :mod:`.groups`)."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from mfscan.report._context import Context
from mfscan.report._tables import img, sort_rows, table
from mfscan.report.plots import (
    plot_asymmetry_over_visits,
    plot_left_right,
    primary_rows,
)
from mfscan.vocab import natural_sort_key

__all__ = ["section", "asymmetry_columns", "who_text"]

_e = html.escape

_DEFINITIONS = {
    "hides": "(larger − smaller) / larger × 100 (Hides)",
    "smaller-side": "(larger − smaller) / smaller × 100",
    "index": "(right − left) / mean × 100 (signed)",
}


def who_text(rows: pd.DataFrame) -> str:
    """Whose rows these are: "rater R1, session 2" when one judge made them all, else the judge
    chosen for each subject and visit with its number of subjects, "the rater with most outlines
    per subject and visit: R1 (2 subjects), R2 (1 subject)" ("" without a rater)."""
    if rows is None or not len(rows) or "rater" not in rows or rows["rater"].isna().all():
        return ""
    judged = rows[rows["rater"].notna()]
    judge = judged["rater"].astype(str).to_numpy(dtype=object)
    if "session" in judged:
        session = judged["session"]
        judge = judge + np.where(session.isna(), ", first session", ", session " + session.astype(str))
    subjects = judged["subject"] if "subject" in judged else pd.Series(np.nan, index=judged.index)
    counts = pd.Series(subjects.to_numpy()).groupby(judge).nunique()
    if len(counts) == 1:
        return f"rater {counts.index[0]}"
    shown = [  # a table without subjects (group means) names the judges only
        f"{j} ({counts[j]} subject{'s' if counts[j] != 1 else ''})" if counts[j] else j
        for j in sorted(counts.index, key=natural_sort_key)
    ]
    sep = "; " if "session" in judged else ", "
    return "the rater with most outlines per subject and visit: " + sep.join(shown)


def asymmetry_columns(asym, measure) -> list[str]:
    return [
        c
        for c in [
            "subject",
            "visit",
            "level",
            "rater",
            "session",
            "group",
            "symptomatic_side",
            f"left_{measure}",
            f"right_{measure}",
            "n_left",
            "n_right",
            "smaller_side",
            "asymmetry_pct",
            "asymmetry_index_pct",
            "symptomatic_deficit_pct",
        ]
        if c in asym
    ]


def section(ctx: Context) -> list[str]:
    """Definition, figures, flagged and incomplete rows, the largest level per visit (nothing
    without an asymmetry table)."""
    res, measure, threshold_pct, index = ctx.res, ctx.measure, ctx.threshold_pct, ctx.index
    asym = res.asymmetry
    if asym is None or not len(asym):
        return []
    primary = primary_rows(asym)
    who = who_text(primary)
    parts = [
        "<h2 id='asymmetry'>Side-to-side asymmetry</h2>"
        f"<p>Asymmetry = {_e(_DEFINITIONS[index])}, from the mean CSA of the repeated images per side; "
        f"flagged above {threshold_pct:g}%. Signed index: (right − left) / mean × 100. "
        "A 10% threshold is a convention, not a diagnostic cut-off."
        + (f" Figures: {_e(who)}." if who else "")
        + "</p>",
        img(
            plot_asymmetry_over_visits(asym, ctx.subjects, threshold_pct, index, visits=ctx.visits),
            "asymmetry over visits",
        ),
        img(plot_left_right(asym, threshold_pct, measure, index), "left vs right CSA"),
    ]
    flagged = sort_rows(primary[primary["exceeds_threshold"].fillna(False).astype(bool)], ctx.visits)
    cols = asymmetry_columns(asym, measure)
    several = asym["rater"].nunique() > 1 or ("session" in asym and asym["session"].notna().any())
    whose = (
        f" ({_e(who)}; every rater and session is in asymmetry.csv and under 'All asymmetry rows')"
        if who and several
        else ""
    )
    parts.append(f"<h3>Flagged asymmetries (&gt; {threshold_pct:g}%): {len(flagged)}{whose}</h3>")
    parts.append(table(flagged, columns=cols))
    missing = sort_rows(asym[asym["missing_reason"].notna()], ctx.visits)
    if len(missing):
        parts.append(f"<h3>Incomplete: {len(missing)} row(s) with a side missing</h3>")
        mcols = ["subject", "visit", "level", "rater", "session", "missing_reason"]
        parts.append(table(missing, columns=[c for c in mcols if c in missing]))
    if res.largest is not None and len(res.largest) and asym["level"].nunique() > 1:
        lg = sort_rows(primary_rows(res.largest, of=asym), ctx.visits)  # the raters of the rows above
        lcols = ["subject", "visit", "rater", "session", "level", "n_levels", "asymmetry_pct", "smaller_side"]
        lcols = [c for c in lcols + [f"left_{measure}", f"right_{measure}"] if c in lg]
        w = who_text(lg)
        parts.append(
            "<details><summary>Level with the largest asymmetry per subject and visit"
            f"{f' ({_e(w)})' if w else ''}</summary>" + table(lg, columns=lcols) + "</details>"
        )
    with_pd = (
        primary.dropna(subset=["symptomatic_deficit_pct"]) if "symptomatic_deficit_pct" in primary else None
    )
    if with_pd is not None and len(with_pd):
        share = with_pd["smaller_is_symptomatic"].astype(float).mean() * 100
        parts.append(
            f"<p>The smaller side is the symptomatic side in {share:.0f}% of the "
            f"{len(with_pd)} subject-visit-level rows with a unilateral symptomatic "
            f"side{f' ({_e(who)})' if who else ''}.</p>"
        )
    return parts
