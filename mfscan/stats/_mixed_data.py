"""Data preparation for :func:`mfscan.stats.mixed.fit_trial_model`.

From the measurements table (one row per outline) to one row per subject, visit,
level and side: per subject and visit one rater and session
(:func:`mfscan.stats.raters.one_rater_per_subject`), the **repeats averaged** (the mean of the
repeated images is the observation, as studies report it; ``n_repeats`` keeps how
many), the side recoded to ``side_status`` and the symptomatic deficit per subject,
visit and level.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mfscan.errors import MfscanError
from mfscan.stats.asymmetry import _subject_table, side_status, symptomatic_deficit_pct
from mfscan.stats.raters import one_rater_per_subject
from mfscan.visits import study_visit_order
from mfscan.vocab import as_labels, as_level, as_side, natural_sort_key

#: Side status of the model: the reference category first.
MODEL_SIDE_STATUSES = ("asymptomatic", "symptomatic")


def _visit_categories(frame: pd.DataFrame, order: Sequence[str] | None) -> list[str]:
    """The given order as strings, else the study's (dates, else the rule: the one policy,
    :func:`mfscan.visits.study_visit_order`)."""
    if order is not None:
        return [str(v) for v in order]
    return list(study_visit_order(frame[frame["visit"].notna()])[0] or [])


def _attach_subjects(frame: pd.DataFrame, subjects: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """``group`` and ``symptomatic_side`` per row; subjects unknown or without group left out."""
    frame = frame.copy()
    sub = _subject_table(subjects)
    if "group" not in sub.columns:
        sub["group"] = "all"
    sub["group"] = as_labels(sub["group"]).to_numpy(dtype=object)
    known = frame["subject"].isin(set(sub["subject"]))
    if (~known).any():
        lost = sorted(set(frame.loc[~known, "subject"]), key=natural_sort_key)
        notes.append(f"subject(s) {', '.join(lost)} not in the subjects table: left out")
        frame = frame[known].copy()
    info_sub = sub.set_index("subject")
    frame["group"] = info_sub.loc[frame["subject"], "group"].to_numpy(dtype=object)
    sym = info_sub.loc[frame["subject"], "symptomatic_side"].astype(object).to_numpy()
    frame["symptomatic_side"] = sym
    no_group = pd.isna(frame["group"])
    if no_group.any():
        notes.append(f"{frame.loc[no_group, 'subject'].nunique()} subject(s) without a group: left out")
        frame = frame[~no_group]
    return frame


def _deficits(sides: pd.DataFrame) -> pd.DataFrame:
    """The symptomatic deficit (%) per subject, visit and level from the per-side means."""
    wide = sides.pivot_table(
        index=["subject", "group", "level", "visit", "symptomatic_side"],
        columns="side",
        values="value",
        observed=True,
        dropna=False,
    ).reset_index()
    for s in ("left", "right"):
        if s not in wide.columns:
            wide[s] = np.nan
    wide["value"] = symptomatic_deficit_pct(
        wide["left"].to_numpy(), wide["right"].to_numpy(), wide["symptomatic_side"].to_numpy(dtype=object)
    )
    return wide.loc[np.isfinite(wide["value"]), ["subject", "group", "level", "visit", "value"]]


def prepare(
    measurements: pd.DataFrame,
    subjects: pd.DataFrame,
    *,
    measure: str,
    rater=None,
    session=None,
    level=None,
    visit_order: Sequence[str] | None = None,
    reference_group=None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Per-side and per-level observation tables and what was decided.

    Returns
    -------
    sides : DataFrame
        ``subject, group, level, visit, side, side_status, value, n_repeats``.
    deficits : DataFrame
        ``subject, group, level, visit, value`` (the symptomatic deficit, %).
    info : dict
        ``notes`` (list of str), ``visits`` (ordered), ``groups`` (reference first),
        ``levels``, ``rater``, ``session``, ``n_outlines``.
    """
    notes: list[str] = []
    need = ["subject", "visit", "level", "side", measure]
    missing = [c for c in need if c not in measurements.columns]
    if missing:
        raise MfscanError(f"the measurements have no column(s) {', '.join(missing)}")
    meas = measurements
    if "kind" in meas.columns:  # thickness and fat lines are no CSA
        meas = meas[meas["kind"].isna() | (meas["kind"].astype(object) == "outline")]
    keep, rater_notes = one_rater_per_subject(meas, rater=rater, session=session)
    meas = meas[keep]
    notes += rater_notes
    frame = pd.DataFrame(
        {
            "subject": as_labels(meas["subject"]).to_numpy(dtype=object),
            "visit": as_labels(meas["visit"]).to_numpy(dtype=object),
            "level": as_level(meas["level"]).astype(object).to_numpy(),
            "side": as_side(meas["side"]).astype(object).to_numpy(),
            "value": pd.to_numeric(meas[measure], errors="coerce").to_numpy(dtype=float),
        }
    )
    if "visit_date" in meas:  # the visit order's dates (study_visit_order), as in the study analysis
        frame["visit_date"] = meas["visit_date"].to_numpy(dtype=object)
    ok = frame[["subject", "visit", "level", "side"]].notna().all(axis=1) & np.isfinite(frame["value"])
    if (~ok).any():
        notes.append(
            f"{int((~ok).sum())} outline(s) without subject, visit, level, side or {measure} left out"
        )
    frame = frame[ok]
    if level is not None:
        lv = as_level(pd.Series([level])).astype(object).iloc[0]
        if lv is None or lv not in set(frame["level"]):
            raise MfscanError(
                f"level {level!r} not in the measurements ({', '.join(sorted(set(frame['level'])))})"
            )
        frame = frame[frame["level"] == lv]
    if frame.empty:
        raise MfscanError(f"no outline with a {measure} value to model")

    frame = _attach_subjects(frame, subjects, notes)

    visits = _visit_categories(frame, visit_order)
    unknown = sorted(set(frame["visit"]) - set(visits), key=natural_sort_key)
    if unknown:
        raise MfscanError(f"visit(s) {', '.join(unknown)} missing from --visit-order")
    empty = [v for v in visits if v not in set(frame["visit"])]
    if empty:
        raise MfscanError(
            f"--visit-order names visit(s) {', '.join(empty)} with no measurement to model "
            f"(visits with data: {', '.join(v for v in visits if v not in empty) or 'none'}): "
            "remove them from --visit-order or check the visit codes"
        )
    groups = sorted(set(frame["group"]), key=natural_sort_key)
    if not groups:
        raise MfscanError("no measured subject has a group in the subjects table: nothing to compare")
    if reference_group is None:
        reference_group = "control" if "control" in groups else groups[0]
    elif str(reference_group) not in groups:
        raise MfscanError(f"reference group {reference_group!r} not among the groups ({', '.join(groups)})")
    groups = [str(reference_group)] + [g for g in groups if g != str(reference_group)]

    keys = ["subject", "group", "level", "visit", "side", "symptomatic_side"]
    sides = frame.groupby(keys, sort=False, dropna=False)["value"].agg(["mean", "size"]).reset_index()
    sides = sides.rename(columns={"mean": "value", "size": "n_repeats"})
    sides["side_status"] = np.asarray(
        side_status(sides["side"].to_numpy(dtype=object), sides["symptomatic_side"].to_numpy(dtype=object)),
        dtype=object,
    )

    deficits = _deficits(sides)

    levels = sorted(set(frame["level"]), key=lambda v: ("L1", "L2", "L3", "L4", "L5", "S1").index(v))
    vdtype = pd.CategoricalDtype(visits, ordered=True)
    gdtype = pd.CategoricalDtype(groups)
    for t in (sides, deficits):
        t["visit"] = t["visit"].astype(vdtype)
        t["group"] = t["group"].astype(gdtype)
    sides = sides.drop(columns="symptomatic_side").reset_index(drop=True)
    info = {
        "notes": notes,
        "visits": visits,
        "groups": groups,
        "levels": levels,
        "n_outlines": int(len(frame)),
        "rater": None
        if "rater" not in meas.columns
        else "|".join(sorted(as_labels(meas["rater"]).dropna().unique(), key=natural_sort_key)),
    }
    return sides, deficits.reset_index(drop=True), info


def baseline_columns(table: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Each row's baseline value: the same ``keys`` at the first visit of the order (NaN if none)."""
    first = table["visit"].cat.categories[0]
    base = table[table["visit"] == first].set_index(keys)["value"]
    idx = pd.MultiIndex.from_frame(table[keys].astype(object))
    base.index = pd.MultiIndex.from_frame(base.index.to_frame().astype(object))
    return pd.Series(base.reindex(idx).to_numpy(), index=table.index)


def mdc_lookup(reliability_table: pd.DataFrame | None, measure: str, rater=None) -> dict:
    """``{(level, side): MDC95}`` from a reliability table (between sessions of ``rater`` preferred).

    The **agreement** MDC95 (``mdc95_agreement``, de Vet et al. 2006): a subject's change is
    measured against every source of measurement error, systematic ones included."""
    column = "mdc95_agreement"
    if reliability_table is None or reliability_table.empty or column not in reliability_table.columns:
        return {}
    r = reliability_table[reliability_table["measure"].astype(object) == measure]
    out: dict = {}
    order = []
    if "between" in r.columns:
        order = [r[r["between"] == "session"], r[r["between"] == "rater"]]
        if rater is not None and "rater" in r.columns:
            order[0] = order[0][order[0]["rater"].astype(object).astype(str) == str(rater)]
    else:
        order = [r]
    for part in order:
        for rec in part.itertuples(index=False):
            key = (str(rec.level), str(rec.side))
            value = float(getattr(rec, column))
            if key not in out and np.isfinite(value):
                out[key] = value
    return out
