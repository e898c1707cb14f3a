"""Reliability designs: between raters, between sessions of one rater, and of the asymmetry index.

The matrix statistics (ICC forms, SEMs, MDC, Koo & Li bands, Bland-Altman) are
those of :mod:`mfscan.stats.icc`, re-exported here; this module decides what is
compared with what (GRRAS, Kottner et al. 2011):

* **between raters** (inter-rater): one session per rater, the first by default
  (``session=`` to choose one label for every rater); the same images for every
  rater: an image traced by only some raters of a level and side is left out and
  listed (``return_excluded=True``);
* **between sessions** (intra-rater): the sessions of each rater, the same images
  in every session, reported per rater; ICC(2,1) (absolute agreement) by default, as
  Koo & Li recommend for an intra-rater design (``icc_form=`` for another form);
* **one visit per subject** by default (each subject's first that every judge traced, or
  ``visit=``), so that ``n`` counts subjects; ``pool_visits=True`` pools the visits, labelled;
* the **asymmetry index** itself, from each judge's left and right means
  (``measure = "asymmetry_pct"``, side empty, unit ``pct``).

Image-to-image repeatability is :func:`mfscan.stats.repeatability.repeatability`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mfscan.errors import MfscanError
from mfscan.stats.icc import (
    _FORMS,
    MIN_TARGETS,
    SEM_ICC,
    STAT_COLUMNS,
    matrix_statistics,
)
from mfscan.stats.summary import (
    DEFAULT_MEASURES,
    _check_columns,
    _group_frame,
    _mean_sd,
    as_visit,
    group_index,
    prepare_keys,
)
from mfscan.visits import one_visit_per_subject
from mfscan.vocab import as_labels, natural_sort_key

_STAT_COLUMNS = STAT_COLUMNS
#: Columns of the table of left-out images.
EXCLUDED_COLUMNS = ("between", "image", "frame", "level", "side", "rater", "session", "n_outlines", "reason")


def _with_sessions(measurements: pd.DataFrame) -> pd.DataFrame:
    """A copy with ``session`` as text; a rater's tracing without a session label is that
    rater's session "1", for raters who label sessions at all (else missing)."""
    table = measurements.copy()
    if "session" not in table.columns:
        table["session"] = pd.Series(pd.NA, index=table.index, dtype="string")
        return table
    table["session"] = as_labels(table["session"])
    if "rater" in table.columns:
        labelled = table.groupby(as_labels(table["rater"]), dropna=False)["session"].transform(
            lambda s: s.notna().any()
        )
        fill = table["session"].isna() & labelled.fillna(False).astype(bool)
        table["session"] = table["session"].mask(fill, "1")
    return table


def _one_session(table: pd.DataFrame, session) -> tuple[pd.DataFrame, dict, list[str]]:
    """Each rater's rows of one session: ``session`` for all, else each rater's first."""
    chosen, notes, keep = {}, [], np.zeros(len(table), dtype=bool)
    raters = as_labels(table["rater"]).to_numpy(dtype=object)
    sessions = table["session"].astype(object).where(table["session"].notna(), None).to_numpy(dtype=object)
    for rater in sorted(set(raters), key=natural_sort_key):
        mine = raters == rater
        labels = sorted({s for s in sessions[mine] if pd.notna(s)}, key=natural_sort_key)
        if not labels:
            keep |= mine
            chosen[rater] = None
            continue
        pick = labels[0] if session is None else str(session)
        if pick not in labels:
            notes.append(f"rater {rater} has no session {pick} and is left out")
            continue
        keep |= mine & np.array([x == pick for x in sessions], dtype=bool)
        chosen[rater] = pick
    return table[keep], chosen, notes


def _session_text(chosen: dict, judges: list[str]):
    picks = {j: chosen.get(j) for j in judges if chosen.get(j) is not None}
    if not picks:
        return pd.NA
    if len(set(picks.values())) == 1 and len(picks) == len(judges):
        return next(iter(picks.values()))
    return "|".join(f"{j}:{p}" for j, p in picks.items())


def _image_keys(table: pd.DataFrame) -> list[str]:
    return ["image"] + (["frame"] if "frame" in table.columns else [])


def _same_images(table: pd.DataFrame, cell: list[str], judge: str, between: str):
    """Mask of rows whose image every judge of its cell traced, and the table of the others."""
    if "image" not in table.columns or not len(table):
        return np.ones(len(table), dtype=bool), pd.DataFrame(columns=list(EXCLUDED_COLUMNS))
    img = _image_keys(table) + ["side"]
    keys = list(dict.fromkeys(cell + img))
    t = pd.DataFrame({c: table[c].astype(str).to_numpy() for c in keys + [judge]})
    n_cell = t.groupby(cell, sort=False)[judge].transform("nunique").to_numpy()
    n_img = t.groupby(keys, sort=False)[judge].transform("nunique").to_numpy()
    keep = n_img >= n_cell
    if keep.all():
        return keep, pd.DataFrame(columns=list(EXCLUDED_COLUMNS))
    cell_judges = t.groupby(cell, sort=False)[judge].agg(lambda s: sorted(set(s), key=natural_sort_key))
    rows = []
    bad = table[~keep]
    for key, grp in bad.groupby([bad[c].astype(str) for c in keys], sort=True):
        key = dict(zip(keys, key))
        have = sorted(set(grp[judge].astype(str)), key=natural_sort_key)
        want = cell_judges.loc[tuple(key[c] for c in cell) if len(cell) > 1 else key[cell[0]]]
        first = grp.iloc[0]
        rows.append(
            {
                "between": between,
                "image": first["image"],
                "frame": first["frame"] if "frame" in grp else pd.NA,
                "level": first["level"],
                "side": first["side"],
                "rater": first["rater"] if between == "session" or len(have) == 1 else "|".join(have),
                "session": first["session"] if between == "rater" or len(have) == 1 else "|".join(have),
                "n_outlines": len(grp),
                "reason": f"traced by {between} {', '.join(have)} only, not by "
                f"{', '.join(j for j in want if j not in have)}: left out so that every {between} "
                "is judged on the same images",
            }
        )
    return keep, pd.DataFrame(rows, columns=list(EXCLUDED_COLUMNS))


def _targets(between: str, pair_by: str, columns) -> list[str]:
    if pair_by == "image":
        keys = ["image"] + (["frame"] if "frame" in columns else []) + ["level", "side"]
    else:
        keys = ["subject", "visit", "level", "side"]
    if between == "session":
        keys.append("rater")
    return keys


def measure_unit(measure: str) -> str:
    """The unit of a measure column, from its name: of mean, sd, sem, mdc95 and the
    Bland-Altman columns of a reliability row."""
    for suffix, unit in (("_cm2", "cm2"), ("_px2", "px2"), ("_cm", "cm"), ("_px", "px")):
        if measure.endswith(suffix):
            return unit
    if measure.endswith("_pct"):
        return "pct"
    ratios = ("shape_ratio", "shape_ratio_muscle", "contraction_ratio")
    return (
        "ratio"
        if measure in ratios
        else {"echo_mean": "gray level", "echo_sd": "gray level"}.get(measure, "")
    )


def _cell_row(sub: np.ndarray, names, expected: list[str], base: dict, ctx: dict, subjects) -> dict:
    """One reliability row from the (targets x judges) means of one cell (NaN: no value);
    ``subjects``: the subject of each target."""
    what = {"rater": "raters", "session": "sessions"}[base["between"]]
    present = np.isfinite(sub).any(axis=0)
    sub = sub[:, present]
    judges = [str(j) for j in np.asarray(names)[present]]
    complete = np.isfinite(sub).all(axis=1)
    n_subjects = len(set(np.asarray(subjects, dtype=object)[complete]))
    row = {
        **base,
        "visits": ctx["visits"],
        "judges": "|".join(judges),
        "k": len(judges),
        "n_subjects": n_subjects,
        "n_targets": int(complete.sum()),
        "n_dropped": int((~complete).sum()),
        "sem_icc": ctx["sem_form"],
    }
    row.update(matrix_statistics(sub[complete], judges, ctx["sem_form"], ctx["alpha"], what))
    if n_subjects < int(complete.sum()):  # pooled visits: a subject is several targets
        pooled = (
            f"visits pooled: {int(complete.sum())} targets from {n_subjects} subjects; targets of one "
            "subject are not independent, so the CI is too narrow"
            + (f" (n = {n_subjects} subjects < {MIN_TARGETS})" if n_subjects < MIN_TARGETS else "")
        )
        row["note"] = pooled if not row.get("note") else f"{pooled}; {row['note']}"
    missing = [j for j in expected if j not in judges]
    if missing and judges:
        note = (
            f"{what} {', '.join(missing)} missing from this cell (no outline with a value): "
            f"k = {len(judges)} instead of {len(expected)}"
        )
        row["note"] = note if not row.get("note") else f"{note}; {row['note']}"
    return row


def _asymmetry_rows(matrix, targets, target_cols, judge_names, expected, ctx) -> list[dict]:
    """Reliability of the asymmetry index: each judge's left and right means paired per target."""
    from mfscan.stats.asymmetry import asymmetry_pct

    pair_cols = [c for c in target_cols if c != "side"]
    aid, afirst = group_index([targets[c] for c in pair_cols])
    pairs = _group_frame({c: targets[c] for c in pair_cols}, afirst)
    subjects = targets["_subject"].to_numpy(dtype=object)[afirst]
    side = targets["side"].cat.codes.to_numpy()
    left = np.full((len(afirst), matrix.shape[1]), np.nan)
    right = left.copy()
    left[aid[side == 0]] = matrix[side == 0]
    right[aid[side == 1]] = matrix[side == 1]
    values = asymmetry_pct(left, right, index=ctx["index"])
    cells = ["level"] + (["rater"] if ctx["between"] == "session" else [])
    cid, cfirst = group_index([pairs[c] for c in cells])
    rows = []
    for r in range(len(cfirst)):
        base = {
            "measure": "asymmetry_pct",
            "unit": "pct",
            **{c: pairs[c].iloc[cfirst[r]] for c in cells},
            "side": pd.NA,
            "between": ctx["between"],
            "pair_by": ctx["pair_by"],
        }
        exp = expected(base)
        rows.append(_cell_row(values[cid == r], judge_names, exp, base, ctx, subjects[cid == r]))
        rows[-1]["note"] = "; ".join(
            filter(None, [f"asymmetry index {ctx['index']!r} of {ctx['of']}", rows[-1].get("note")])
        )
    return rows


def _grid(table, target_cols, between, report_cols):
    """Cell number (target x judge) of each row, the targets, the judges in order and the report cells."""
    tkeys = prepare_keys(table, target_cols)
    jkeys = prepare_keys(table, [between])
    target, tfirst = group_index(list(tkeys.values()))
    judge_codes, judge_names = pd.factorize(jkeys[between], sort=True)
    order = sorted(range(len(judge_names)), key=lambda i: natural_sort_key(judge_names[i]))
    judge_names = pd.Index(np.asarray(judge_names, dtype=object)[order])
    judge_codes = np.argsort(order)[judge_codes] if len(order) else judge_codes
    cell = target * len(judge_names) + judge_codes
    targets = _group_frame(tkeys, tfirst)
    targets["_subject"] = as_labels(table["subject"]).to_numpy(dtype=object)[tfirst]
    report_id, report_first = group_index([targets[c] for c in report_cols])
    reports = _group_frame({c: targets[c] for c in report_cols}, report_first)
    return cell, targets, judge_names, report_id, reports


def _measures(measurements: pd.DataFrame, measures) -> list[str]:
    if measures is None:
        return [m for m in DEFAULT_MEASURES if m in measurements.columns]
    return [measures] if isinstance(measures, str) else list(measures)


def _expected_judges(table, between, judge_names):
    """A function giving the judges a cell should have: every rater, or the rater's sessions."""
    if between == "rater":
        return lambda base: [str(j) for j in judge_names]
    of_rater = pd.Series(table[between].astype(str).to_numpy()).groupby(as_labels(table["rater"]).to_numpy())
    of_rater = of_rater.unique()
    return lambda base: sorted(of_rater.get(str(base["rater"]), []), key=natural_sort_key)


def _checked(measurements, between, pair_by, icc_form, measures):
    """The ICC form, the measures and the target columns of a design; bad arguments refused."""
    if between not in ("rater", "session"):
        raise MfscanError(f"between must be 'rater' or 'session', not {between!r}")
    if pair_by not in ("mean", "image"):
        raise MfscanError(f"pair_by must be 'mean' or 'image', not {pair_by!r}")
    sem_form = icc_form or SEM_ICC[between]
    if sem_form not in _FORMS:
        raise MfscanError(f"unknown ICC form {sem_form!r}; expected one of {', '.join(_FORMS)}")
    measures = _measures(measurements, measures)
    _check_columns(measurements, [between])
    target_cols = _targets(between, pair_by, measurements.columns)
    need = target_cols + [between, "rater", "subject", "visit"] + measures
    _check_columns(measurements, list(dict.fromkeys(need)))
    return sem_form, measures, target_cols


def _visit_rows(table, visit, pool_visits: bool, visit_order, between: str):
    """The rows of the visits compared, how they were chosen (the ``visits`` column) and a note
    naming the subjects compared at a later visit than their first.

    By default each subject's first visit that every judge of it traced (the judged rows of
    the design: each rater's chosen session, or each rater's sessions), so that a subject whose
    second rater traced only a later visit is compared there, not dropped."""
    if pool_visits:
        visits = as_visit(table["visit"].dropna().astype(object), visit_order)  # the study's order
        return table, "pooled: " + "|".join(str(v) for v in visits.cat.categories if (visits == v).any()), []
    judges = as_labels(table["rater"]).fillna("").to_numpy(dtype=object)
    if between == "session":
        judges = judges + "\x00" + as_labels(table["session"]).fillna("").to_numpy(dtype=object)
    later: dict = {}
    keep, used = one_visit_per_subject(
        table, visit=visit, visit_order=visit_order, judges=judges, later=later
    )
    notes = []
    if later:
        what = {"rater": "rater", "session": "session of each rater"}[between]
        shown = ", ".join(f"{s} at visit {v}" for s, v in list(later.items())[:10])
        more = f" and {len(later) - 10} more" if len(later) > 10 else ""
        notes.append(
            f"{len(later)} subject(s) compared at their first visit that every {what} traced, not "
            f"their first visit: {shown}{more}"
        )
    return table[keep], used, notes


def _label_rows(rows: list[dict], between: str, chosen: dict, design_notes: list[str]) -> None:
    """Each row's session text (between raters) and the design's notes, in place."""
    for row in rows:
        if between == "rater" and "judges" in row:
            row["session"] = _session_text(chosen, [j for j in row["judges"].split("|") if j])
        if design_notes:
            row["note"] = "; ".join(filter(None, [*design_notes, row.get("note")]))


def _design_rows(table, between, session):
    """The judged rows of a design, the sessions chosen per rater and the design's notes."""
    if between == "rater":
        table = table[table["rater"].notna()]
        return _one_session(table, session)
    return table[table["session"].notna()], {}, []


def reliability(
    measurements: pd.DataFrame,
    *,
    between: str = "rater",
    measures: Sequence[str] | None = None,
    pair_by: str = "mean",
    alpha: float = 0.05,
    session: str | None = None,
    icc_form: str | None = None,
    asymmetry_index: str | None = None,
    return_excluded: bool = False,
    visit: str | None = None,
    pool_visits: bool = False,
    visit_order: Sequence[str] | None = None,
):
    """Inter-rater or between-session reliability per measure, level and side.

    Parameters
    ----------
    measurements : DataFrame
        One row per outline (the table of ``mfscan measure``); not modified.
    between : {"rater", "session"}
        The judges. ``"rater"`` (inter-rater): one session per rater (see
        ``session``), SEM and band from ICC(2,1). ``"session"``: the sessions of
        each rater (intra-rater), reported per rater, ICC(2,1) by default (absolute
        agreement, Koo & Li 2016). Rows
        without a judge are left out. Both designs keep only images every judge
        of the level and side traced (the others are listed, ``return_excluded``).
    measures : sequence of str, optional
        Default: those of :data:`~mfscan.stats.summary.DEFAULT_MEASURES` in the table.
    pair_by : {"mean", "image"}
        Targets: ``"mean"`` (default) a subject, visit, level and side, each judge's
        score the mean of its repeats; ``"image"`` the same image (, frame) and side.
    alpha : float
        1 - confidence level of the intervals.
    session : str, optional
        Between raters: the session label used for every rater (default: each
        rater's first session in order; a tracing without a session label is the
        rater's session "1" when the rater labels sessions). A rater without it is
        left out, with a note.
    icc_form : str, optional
        The ICC of the band and of the ICC-based ``sem``. Default ICC(2,1) (absolute
        agreement) between raters and between sessions (Koo & Li 2016);
        ``"ICC(3,1)"`` for consistency.
    asymmetry_index : str or None
        Add the reliability of the asymmetry index of this definition
        (:func:`~mfscan.stats.asymmetry.asymmetry_pct`) of ``csa_cm2`` (or
        ``csa_px2``): rows with ``measure = "asymmetry_pct"``, empty ``side``, unit
        ``pct`` (percentage points for the SEM). None (default): no such rows.
    return_excluded : bool
        Also return the table of images left out (see Returns).
    visit, pool_visits, visit_order : optional
        The visit compared for every subject; default each subject's first in ``visit_order``
        that every judge traced (:func:`_visit_rows`), so n counts subjects.
        ``pool_visits=True``: every visit, labelled (column ``visits``, note).

    Returns
    -------
    DataFrame
        One row per measure, level, side (and rater for sessions) with ``unit``
        (of mean, sd, the SEMs, the MDCs and the Bland-Altman columns); between
        raters ``session`` (the session used: one label, or ``"R1:1|R2:2"``);
        ``visits`` (the visit compared, ``first of each subject (...)`` or
        ``pooled: ...``); ``judges`` ("A|B"), ``k``, ``n_subjects`` (distinct subjects
        of the complete targets), ``n_targets`` (complete targets),
        ``n_dropped`` (incomplete targets, left out); ``icc2_1``, ``icc3_1``,
        ``icc2_k``, ``icc3_k``, ``icc1_1``, ``icc1_k`` each with
        ``_ci_lower``/``_ci_upper``; ``sem_icc`` (the ICC of ``sem`` and the band);
        ``band`` (Koo & Li by the 95 % CI: ``"poor to excellent"``),
        ``band_point`` (of the point estimate), ``band_ci_lower``,
        ``band_ci_upper``; ``mean``, ``sd`` (all scores of the complete targets);
        ``sem`` = SD x sqrt(1 - ICC) of ``sem_icc`` (ICC-based, Weir 2005),
        ``mdc95`` from it; ``sem_consistency`` = sqrt(MS error) and
        ``mdc95_consistency``; ``sem_agreement`` = sqrt(MS error + judge variance)
        (de Vet 2006) and ``mdc95_agreement``; Bland-Altman ``ba_pair`` ("B - A": second minus first
        judge in order; with more judges only that pair), ``ba_bias``, ``ba_sd``,
        ``ba_loa_lower``, ``ba_loa_upper``, the 95 % CIs ``ba_bias_ci_lower``,
        ``ba_bias_ci_upper``, ``ba_loa_lower_ci_lower``, ``ba_loa_lower_ci_upper``,
        ``ba_loa_upper_ci_lower``, ``ba_loa_upper_ci_upper`` and the proportional
        bias ``ba_slope``, ``ba_slope_ci_lower``, ``ba_slope_ci_upper``,
        ``ba_slope_p``; ``note``: why no ICC could be computed, or what to know
        (n < 30 targets, k < 3, constant scores, zero residual, judges missing
        from the cell, a rater without the chosen session), ``"; "``-separated.
    excluded : DataFrame
        with ``return_excluded=True`` (then a tuple): the images not traced by
        every judge of their cell, left out (:data:`EXCLUDED_COLUMNS`).
    """
    sem_form, measures, target_cols = _checked(measurements, between, pair_by, icc_form, measures)
    table, chosen, design_notes = _design_rows(_with_sessions(measurements), between, session)
    table, visits_used, visit_notes = _visit_rows(table, visit, pool_visits, visit_order, between)
    design_notes = design_notes + visit_notes
    ctx = {"sem_form": sem_form, "alpha": alpha, "visits": visits_used}
    report_cols = ["level", "side"] + (["rater"] if between == "session" else [])
    keep, excluded = _same_images(table, report_cols, between, between)
    cell, targets, judge_names, report_id, reports = _grid(table, target_cols, between, report_cols)
    n_t, n_j = len(targets), len(judge_names)
    expected = _expected_judges(table, between, judge_names)
    rows, means = [], {}
    for m in measures:
        values = np.where(keep, table[m].to_numpy(dtype=np.float64, na_value=np.nan), np.nan)
        means[m] = _mean_sd(values, cell, n_t * n_j)[0].reshape(n_t, n_j)
        for r in range(len(reports)):
            base = {"measure": m, "unit": measure_unit(m), **{c: reports[c].iloc[r] for c in report_cols}}
            base.update(between=between, pair_by=pair_by)
            cell_subjects = targets["_subject"].to_numpy(dtype=object)[report_id == r]
            rows.append(
                _cell_row(means[m][report_id == r], judge_names, expected(base), base, ctx, cell_subjects)
            )
    of = next((m for m in ("csa_cm2", "csa_px2") if m in means), None)
    if asymmetry_index is not None and of is not None and len(targets):
        ctx.update(between=between, pair_by=pair_by, index=asymmetry_index, of=of)
        rows += _asymmetry_rows(means[of], targets, target_cols, judge_names, expected, ctx)
    _label_rows(rows, between, chosen, design_notes)
    columns = ["measure", "unit", *report_cols] + (["session"] if between == "rater" else [])
    columns += ["between", "pair_by", "visits", "judges", "k", "n_subjects", "n_targets", "n_dropped"]
    columns += list(STAT_COLUMNS)
    out = pd.DataFrame(rows).reindex(columns=columns)
    for c in ("level", "side"):
        out[c] = pd.Categorical(out[c].astype(object).where(out[c].notna(), None), dtype=targets[c].dtype)
    return (out, excluded.reset_index(drop=True)) if return_excluded else out
