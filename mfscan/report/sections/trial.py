"""The report's Hides-style trial sections: the CSA of each side per level over visits
per group (symptomatic side marked), and the symptomatic deficit over visits per group."""

from __future__ import annotations

import html

import pandas as pd

from mfscan.report._context import Context
from mfscan.report._data import deficit_over_visits, primary_judge, side_means_over_visits
from mfscan.report._tables import img, natural_ranks, table
from mfscan.report.plots_trial import plot_deficit_over_visits, plot_sides_over_visits

__all__ = ["section", "judge_text"]

_e = html.escape
#: At most this many rater-session figures (the others are in the CSV tables).
_MAX_JUDGES = 8


def judge_text(rater, session) -> str:
    """ "rater R1, session 2" ("first session" for a blank session; "" without a rater); for
    the rows chosen per subject (a table, :func:`mfscan.report._data.primary_judge`) the rule."""
    if rater is None:
        return ""
    if isinstance(rater, pd.DataFrame):
        judges = rater[[c for c in ("rater", "session") if c in rater]].drop_duplicates()
        if len(judges) == 1:
            r = judges.iloc[0]
            return judge_text(r["rater"] or None, (r.get("session") or None))
        per = rater.groupby("rater")["subject"].nunique()
        return (
            "per subject and visit one rater and session: the rater with most outlines for that "
            "subject, its first session (subjects per rater: "
            + ", ".join(f"{k or '(none)'} {v}" for k, v in per.items())
            + ")"
        )
    return f"rater {rater}, " + ("first session" if session is None else f"session {session}")


def _judges(side_summary: pd.DataFrame) -> list[tuple[object, object]]:
    """Every (rater, session) of the table in natural order; (None, None) without raters."""
    if "rater" not in side_summary or side_summary["rater"].isna().all():
        return [(None, None)]
    cols = ["rater", "session"] if "session" in side_summary else ["rater"]
    pairs = side_summary[cols].drop_duplicates()
    pairs = pairs.assign(
        _r=natural_ranks(pairs["rater"]), _s=natural_ranks(pairs.get("session", pairs["rater"]))
    )
    out = []
    for _, row in pairs.sort_values(["_r", "_s"]).iterrows():
        s = row.get("session")
        out.append((row["rater"], None if s is None or pd.isna(s) else s))
    return out


def _ci_display(d: pd.DataFrame, col: str, digits: int) -> pd.DataFrame:
    """``<col>_ci_lower``/``_ci_upper`` shown as one "95% CI" text column (empty for n = 1)."""
    lo, hi = d[f"{col}_ci_lower"], d[f"{col}_ci_upper"]
    text = [f"[{a:.{digits}f}, {b:.{digits}f}]" if pd.notna(a) else "" for a, b in zip(lo, hi)]
    out = d.drop(columns=[f"{col}_ci_lower", f"{col}_ci_upper"])
    out.insert(out.columns.get_loc(f"{col}_sd") + 1, f"{col} 95% CI", text)
    return out


def _single_groups(means: pd.DataFrame) -> list[str]:
    n = means.groupby("group")["n_subjects"].max()
    return [str(g) for g, v in n.items() if v == 1]


def _sides_figure_block(ss, ctx, rater, session) -> tuple[str, pd.DataFrame]:
    means = side_means_over_visits(
        ss, ctx.subjects, ctx.measure, visit_order=ctx.visits, rater=rater, session=session
    )
    who = judge_text(rater, session)
    title = "CSA of each side over visits" + (f" ({who})" if who else "")
    return img(plot_sides_over_visits(means, ctx.measure, ctx.visits, title=title), title), means


def _other_judges(ss, ctx, shown) -> list[str]:
    blocks = []
    judges = _judges(ss)
    for rater, session in judges[:_MAX_JUDGES] if len(judges) > 1 else []:
        if isinstance(shown[0], str) and (rater, session) == shown:
            continue
        fig, _ = _sides_figure_block(ss, ctx, rater, session)
        if fig:
            blocks.append(fig)
    if not blocks:
        return []
    return [
        "<details><summary>The same figure for every other rater and session</summary>"
        + "".join(blocks)
        + "</details>"
    ]


def section(ctx: Context) -> list[str]:
    """The CSA-per-side figure and table, and the symptomatic deficit figure and table (nothing
    without an asymmetry table)."""
    if ctx.res.asymmetry is None or not len(ctx.res.asymmetry):
        return []
    analysis = getattr(ctx.res, "analysis", None)
    ss = getattr(analysis, "side_summary", None)
    if ss is None or not len(ss) or ctx.measure not in ss:
        return []
    rater, session = primary_judge(ss)
    fig, means = _sides_figure_block(ss, ctx, rater, session)
    if means.empty:
        return []
    who = judge_text(rater, session)
    has_status = means["side_status"].isin(["symptomatic", "asymptomatic"]).any()
    source = (
        "side status from the table's side_status column"
        if "side_status" in ss
        else "side status from subjects.csv symptomatic_side"
    )
    unit = "cm²" if ctx.measure == "csa_cm2" else "px²"
    parts = [
        "<h2 id='sides'>CSA of each side over visits</h2>"
        f"<p>As Hides et al. (1996): per group and level, the mean {_e(unit)} CSA of each side at each "
        "visit, with its 95% confidence interval (t interval over subjects). Each subject counts once: "
        "the repeated images of a side are averaged first. "
        + (
            "The <b>symptomatic side</b> (solid, vermilion, filled markers) is compared with the "
            f"asymptomatic side (dashed, blue, open markers) across subjects ({_e(source)}); subjects "
            "without a unilateral symptomatic side are drawn as left and right (dotted). "
            if has_status
            else "No symptomatic side is known (subjects.csv with symptomatic_side marks it), so "
            "left and right are drawn. "
        )
        + (f"Shown: {_e(who)}. " if who else "")
        + "n = subjects per panel.</p>",
        fig,
    ]
    single = _single_groups(means)
    if single:
        parts.append(
            f"<p class='small'><b>n = 1</b> in {_e(', '.join(single))}: no confidence interval "
            "(one subject's values).</p>"
        )
    parts.append(
        "<details><summary>Table: CSA of each side per group, level and visit (n, mean, SD, 95% CI)"
        "</summary>"
        + table(
            _ci_display(means.drop(columns=["side"] if (means["side"] == "").all() else []), ctx.measure, 3),
            key=["group", "level", "side_status", "side", "visit"],
            digits=3,
        )
        + "</details>"
    )
    parts += _other_judges(ss, ctx, (rater, session))
    parts += _deficit_fragments(ctx, rater, session, who)
    return parts


def _deficit_fragments(ctx, rater, session, who) -> list[str]:
    d = deficit_over_visits(ctx.res.asymmetry, visit_order=ctx.visits, rater=rater, session=session)
    if d.empty:
        return []
    parts = [
        "<h2 id='deficit'>Symptomatic deficit over visits</h2>"
        "<p>Symptomatic deficit = (asymptomatic − symptomatic) / asymptomatic × 100 of each subject "
        "with a unilateral symptomatic side (positive: the symptomatic side is smaller), from the mean "
        "of the repeated images; per group, level and visit the mean with its 95% CI and n"
        + (f" ({_e(who)})" if who else "")
        + ".</p>",
        img(plot_deficit_over_visits(d, ctx.visits, title="Symptomatic deficit over visits"), "deficit"),
        table(_ci_display(d, "symptomatic_deficit_pct", 1), key=["group", "level", "visit"], digits=2),
    ]
    single = sorted({str(g) for g, n in zip(d["group"], d["n_subjects"]) if n == 1})
    if single:
        parts.append(
            f"<p class='small'><b>n = 1</b> in {_e(', '.join(single))} (at least one visit): "
            "no SD or confidence interval.</p>"
        )
    return parts
