"""The numbers behind the report's Hides-style figures: side means over visits and the
symptomatic deficit per group, each with n and a 95% confidence interval.

Each subject counts once per cell: the repeated images of a side are averaged per
subject first (the side summary), then the subjects' means are averaged per group,
level, side and visit. The 95% CI of a group mean is the t interval
mean ± t(0.975, n − 1) × SD / √n (SD with n − 1); it is empty for n = 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mfscan.report._tables import natural_ranks
from mfscan.stats.sides import mean_ci
from mfscan.visits import study_visit_order
from mfscan.vocab import SIDE_STATUSES

__all__ = [
    "visit_sequence",
    "primary_judge",
    "with_side_status",
    "side_means_over_visits",
    "deficit_over_visits",
    "study_settings",
]


def visit_sequence(labels, order: Sequence[str] | None = None) -> list[str]:
    """The study's visits present in ``labels``, in chronological order.

    The order is the one policy's, :func:`mfscan.visits.study_visit_order`: ``order`` when
    given (the order the analysis settled, ``StudyAnalysis.visit_order``, or the
    ``--visit-order`` given), else the rule applied to the labels. No second rule places a
    visit: one that ``order`` lacks is refused (:class:`~mfscan.errors.MfscanError` naming
    ``--visit-order``), as are labels the rule cannot order.
    """
    present = pd.Series(labels, dtype=object).dropna().astype(str)
    settled, _ = study_visit_order(pd.DataFrame({"visit": pd.unique(present)}), order)
    shown = set(present)
    return [v for v in settled or [] if v in shown]


def primary_judge(table: pd.DataFrame) -> tuple[object, object]:
    """The rows a per-subject figure shows: :func:`mfscan.stats.raters.chosen_judges`.

    Returns ``(chosen, None)``: ``chosen`` the ``subject, visit, rater, session`` used (per
    subject and visit the rater with most outlines for that subject, its first session;
    outline counts from ``n``, or ``n_left + n_right``, when the table has them), or
    ``(rater, session)`` when one rater and session is used for every subject, or
    ``(None, None)`` without raters. :func:`_select` takes it as the rater.
    """
    from mfscan.stats.raters import chosen_judges

    if "rater" not in table or not table["rater"].notna().any():
        return None, None
    chosen = chosen_judges(table)
    chosen = chosen[[c for c in chosen.columns if c in table]]
    used = _select(table, chosen, None).drop_duplicates([c for c in ("rater", "session") if c in table])
    if len(used) == 1:  # one rater and session for every subject: named as such
        session = used["session"].iloc[0] if "session" in used else None
        return used["rater"].iloc[0], None if pd.isna(session) else session
    return chosen, None


def _judge_keys(table: pd.DataFrame) -> pd.DataFrame:
    from mfscan.vocab import as_labels

    cols = [c for c in ("subject", "visit", "rater", "session") if c in table]
    return pd.DataFrame({c: as_labels(table[c]).fillna("").to_numpy(dtype=object) for c in cols})


def _select(table: pd.DataFrame, rater, session) -> pd.DataFrame:
    t = table
    if isinstance(rater, pd.DataFrame):  # the rows chosen per subject and visit (primary_judge)
        keys = _judge_keys(t)
        on = [c for c in rater.columns if c in keys]
        hit = keys.merge(rater[on].assign(_hit=True), on=on, how="left")["_hit"].notna().to_numpy()
        return t[hit]
    if rater is not None and "rater" in t:
        t = t[t["rater"].astype(str) == str(rater)]
    if "session" in t:
        t = t[t["session"].isna()] if session is None else t[t["session"].astype(str) == str(session)]
    return t


def with_side_status(table: pd.DataFrame, subjects: pd.DataFrame | None) -> pd.DataFrame:
    """The per-side table with ``side_status`` (kept when present) and ``group`` (from subjects)."""
    from mfscan.stats.asymmetry import side_status

    out = table.copy()
    if "side_status" not in out:
        if subjects is not None and "symptomatic_side" in subjects and "side" in out and len(out):
            sym = dict(zip(subjects["subject"].astype(str), subjects["symptomatic_side"].astype(object)))
            given = [sym.get(s) for s in out["subject"].astype(str)]
            out["side_status"] = np.asarray(side_status(out["side"].to_numpy(), given).astype(object))
        else:
            out["side_status"] = pd.NA
    out["side_status"] = pd.Categorical(out["side_status"].astype(object), categories=list(SIDE_STATUSES))
    if "group" not in out:
        if subjects is not None and "group" in subjects:
            groups = dict(zip(subjects["subject"].astype(str), subjects["group"]))
            out["group"] = [groups.get(s) for s in out["subject"].astype(str)]
        else:
            out["group"] = None
    return out


def _group_label(value) -> str:
    return "all" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def side_means_over_visits(
    side_summary: pd.DataFrame,
    subjects: pd.DataFrame | None,
    measure: str,
    *,
    visit_order: Sequence[str] | None = None,
    rater=None,
    session=None,
) -> pd.DataFrame:
    """Group mean of the subjects' side means per group, level, side and visit, with 95% CI.

    Parameters
    ----------
    side_summary : DataFrame
        One row per subject, visit, level, rater, session and side: ``measure`` is the
        mean of the repeated images (:func:`mfscan.stats.summary.summarize_sides`).
    subjects : DataFrame or None
        ``subject, symptomatic_side[, group]``; gives ``group`` and ``side_status``
        unless the table carries them.
    measure : str
        The column averaged (``csa_cm2``).
    visit_order : sequence of str, optional
        The study's visit order.
    rater, session : optional
        The rater and session shown (None: rows without a rater / session).

    Returns
    -------
    DataFrame
        ``group, level, side, side_status, visit, n_subjects, <measure>_mean,
        <measure>_sd, <measure>_ci_lower, <measure>_ci_upper`` in study order. With a
        symptomatic side the sides are ``symptomatic`` / ``asymptomatic`` rows
        (``side`` empty), else left and right per side status (``bilateral``, ``none``,
        or unknown).
    """
    t = with_side_status(_select(side_summary, rater, session), subjects)
    t = t[np.isfinite(pd.to_numeric(t[measure], errors="coerce"))]
    unilateral = t["side_status"].isin(["symptomatic", "asymptomatic"]).to_numpy()
    rows = []
    keys = {
        "group": t["group"].map(_group_label),
        "level": t["level"].astype(str),
        "side": pd.Series(np.where(unilateral, "", t["side"].astype(str)), index=t.index),
        "side_status": t["side_status"].astype(object).fillna(""),
        "visit": t["visit"].astype(str),
    }
    for key, d in t.groupby(list(keys.values()), sort=False):
        n, mean, sd, lo, hi = mean_ci(d.groupby(d["subject"].astype(str))[measure].mean())
        rows.append((*key, n, mean, sd, lo, hi))
    cols = ["group", "level", "side", "side_status", "visit", "n_subjects"]
    out = pd.DataFrame(
        rows, columns=cols + [f"{measure}_{s}" for s in ("mean", "sd", "ci_lower", "ci_upper")]
    )
    return _study_order(out, visit_order)


def _study_order(out: pd.DataFrame, visit_order) -> pd.DataFrame:
    if out.empty:
        return out
    status_rank = {s: i for i, s in enumerate(("symptomatic", "asymptomatic", "bilateral", "none", ""))}
    order = visit_sequence(out["visit"], visit_order)
    out = out.assign(
        _g=natural_ranks(out["group"]),
        _l=natural_ranks(out["level"]),
        _st=out["side_status"].map(status_rank) if "side_status" in out else 0,
        _sd=natural_ranks(out["side"]) if "side" in out else 0,
        _v=natural_ranks(out["visit"], order),
    )
    return (
        out.sort_values(["_g", "_l", "_st", "_sd", "_v"], kind="stable")
        .drop(columns=["_g", "_l", "_st", "_sd", "_v"])
        .reset_index(drop=True)
    )


def deficit_over_visits(
    asym: pd.DataFrame, *, visit_order: Sequence[str] | None = None, rater=None, session=None
) -> pd.DataFrame:
    """Mean symptomatic deficit (%) per group, level and visit with n and 95% CI.

    ``symptomatic_deficit_pct`` = (asymptomatic − symptomatic) / asymptomatic × 100 of
    each subject (positive: the symptomatic side is smaller), from the asymmetry table;
    subjects without a unilateral symptomatic side have none and are not counted.
    """
    cols = ["group", "level", "visit", "n_subjects"] + [
        f"symptomatic_deficit_pct_{s}" for s in ("mean", "sd", "ci_lower", "ci_upper")
    ]
    if asym is None or "symptomatic_deficit_pct" not in asym:
        return pd.DataFrame(columns=cols)
    t = _select(asym, rater, session)
    t = t[np.isfinite(pd.to_numeric(t["symptomatic_deficit_pct"], errors="coerce"))]
    groups = t["group"].map(_group_label) if "group" in t else pd.Series("all", index=t.index)
    rows = []
    for key, d in t.groupby([groups, t["level"].astype(str), t["visit"].astype(str)], sort=False):
        rows.append((*key, *mean_ci(d.groupby(d["subject"].astype(str))["symptomatic_deficit_pct"].mean())))
    return _study_order(pd.DataFrame(rows, columns=cols), visit_order)


def study_settings(study_dir) -> dict | None:
    """The study settings file ``<study>/mfscan.study.json`` read by
    :func:`mfscan.annotations.study_file.read_study_settings`: None when the study has
    none, the defaults with ``unreadable=True`` when it cannot be read."""
    from mfscan.annotations.study_file import STUDY_FILE, read_study_settings
    from mfscan.errors import MfscanError

    if not (Path(study_dir) / STUDY_FILE).is_file():
        return None
    try:
        return dict(read_study_settings(study_dir))
    except (MfscanError, OSError, ValueError):
        return {"blinded": False, "orders": {}, "unreadable": True}
