"""Linear mixed models for a Hides-style trial: groups x visits, both sides, several levels.

Hides et al. (1996, Spine 21:2763) compared an exercise and a control group over
visits, on the symptomatic and the asymptomatic side. :func:`fit_trial_model` fits,
per level (and, with ``pooled=True``, over all levels with level as a fixed factor):

* the **CSA model** ``csa_cm2 ~ side_status * visit * group + (1 | subject)``, on
  subjects with one symptomatic side (bilateral and pain-free subjects have no
  side status to compare and are left out, with a note);
* the **deficit model** ``deficit_pct ~ visit * group + (1 | subject)``, with
  ``deficit_pct`` the symptomatic deficit (asymptomatic - symptomatic) /
  asymptomatic x 100 (:func:`mfscan.stats.asymmetry.symptomatic_deficit_pct`:
  positive when the symptomatic side is the smaller).

Both by REML with a random intercept per subject. The **repeats are averaged** first:
one observation per subject, visit, level and side (the mean of the repeated images,
what studies report). With ``adjust_baseline=True`` the baseline visit becomes a
covariate (``+ baseline_csa_cm2``, ANCOVA-style) and the model is fitted on the later
visits. The categorical references are the first visit of the visit order (baseline),
the asymptomatic side and the reference group (``control`` when there is one).

Derived tables:

* **group x visit contrasts**: the difference between each group and the reference in
  mean change from baseline (unadjusted models) or in the mean at the visit given
  baseline (adjusted), a linear contrast of the fixed effects with the model's
  covariance: estimate, SE, Satterthwaite df, t-based 95 % CI and p value (positive: the group changed
  more than the reference); beside it Hedges' g of the observed per-subject changes
  with its 95 % CI (Hedges & Olkin 1985);
* **change table**: per group and visit the mean change from baseline with its t 95 %
  CI, and the share of subjects whose change exceeds the MDC95 of that level and side
  (from a reliability table: between sessions of the rater when available, else between
  raters; or one ``mdc`` value).

For research use only, not for diagnosis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mfscan.errors import MfscanError
from mfscan.stats._mixed_data import MODEL_SIDE_STATUSES, baseline_columns, mdc_lookup, prepare
from mfscan.stats._mixed_fit import design_rows, fit_mixed, fixed_effects, hedges_g, linear_contrast
from mfscan.stats.sides import mean_ci

__all__ = ["ModelResult", "fit_trial_model", "MODELS", "output_paths"]

#: The models fitted: name -> response.
MODELS = ("csa", "deficit")

REPEATS = "averaged per subject, visit, level and side before fitting (one observation each)"


@dataclass
class ModelResult:
    """The output of :func:`fit_trial_model`: tidy tables and what a reader must know.

    Attributes
    ----------
    fits : DataFrame
        One row per fitted model: ``model, level, formula, n_subjects, n_observations,
        method, engine, converged, warnings, subject_variance, residual_variance,
        reml_criterion, adjusted_for_baseline, baseline_visit, reference_group, repeats``.
    fixed_effects : DataFrame
        ``model, level, term, estimate, se, df, ci_lower, ci_upper, t, p`` (t with
        Satterthwaite df, :func:`mfscan.stats._mixed_fit.satterthwaite_df`).
    contrasts : DataFrame
        ``model, level, side_status, visit, group, reference_group, contrast, unit,
        estimate, se, df, ci_lower, ci_upper, p, n_group, n_reference, hedges_g,
        hedges_g_ci_lower, hedges_g_ci_upper``.
    change : DataFrame
        ``model, level, side_status, group, visit, unit, n_subjects, mean_change, sd_change,
        ci_lower, ci_upper, mdc95, n_beyond_mdc95, pct_beyond_mdc95, pct_increase_beyond_mdc95``.
    notes : list of str
    measure : str
    """

    fits: pd.DataFrame
    fixed_effects: pd.DataFrame
    contrasts: pd.DataFrame
    change: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    measure: str = "csa_cm2"

    def statement(self) -> list[str]:
        """One sentence per fitted model: formula, n, method, convergence."""
        out = []
        for r in self.fits.itertuples(index=False):
            conv = "converged" if r.converged else "DID NOT CONVERGE"
            if not isinstance(r.formula, str) or r.n_observations == 0:
                out.append(f"{r.model} model, level {r.level}: not fitted ({r.warnings})")
                continue
            out.append(
                f"{r.model} model, level {r.level}: {r.formula}; linear mixed model, random intercept per "
                f"subject, {r.method} ({r.engine}); {r.n_subjects} subjects, {r.n_observations} "
                f"observations (repeats {REPEATS.split(' before')[0]}); {conv}"
                + (f"; warnings: {r.warnings}" if r.warnings else "")
            )
        return out


def output_paths(output) -> dict:
    """The four CSV files of ``-o model.csv``: fixed effects there, the others beside it."""
    out = Path(output)
    stem = out.stem
    return {
        "fixed_effects": out,
        "contrasts": out.with_name(f"{stem}_contrasts.csv"),
        "change": out.with_name(f"{stem}_change.csv"),
        "fits": out.with_name(f"{stem}_fits.csv"),
    }


def _unit(model: str, measure: str) -> str:
    if model == "deficit":
        return "percentage points"
    tail = measure.rsplit("_", 1)[-1]
    return {"cm2": "cm²", "px2": "px²"}.get(tail, tail)


def _cells(frame, factors: dict, extra: dict) -> pd.DataFrame:
    """One design row per combination in ``factors`` (lists), categoricals as in ``frame``."""
    idx = pd.MultiIndex.from_product(list(factors.values()), names=list(factors))
    cells = idx.to_frame(index=False)
    for c in cells.columns:
        cells[c] = pd.Categorical(cells[c], categories=frame[c].cat.categories)
    for c, v in extra.items():
        cells[c] = v
    return cells


def _observed_change(data: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per subject (and ``keys``) the change from the baseline visit; subjects without baseline dropped."""
    data = data.copy()
    data["baseline"] = baseline_columns(data, ["subject", *keys])
    data["change"] = data["value"] - data["baseline"]
    first = data["visit"].cat.categories[0]
    return data[(data["visit"] != first) & np.isfinite(data["change"])]


def _contrast_rows(fit, frame, spec, change_obs) -> list[dict]:
    """Group x visit contrasts of one fit (see the module docstring)."""
    rows = []
    groups = list(frame["group"].cat.categories)
    if len(groups) < 2:
        return rows
    ref = groups[0]
    visits = list(spec["visits"])
    later = visits[1:] if not spec["adjusted"] else visits
    statuses = list(MODEL_SIDE_STATUSES)[::-1] if spec["model"] == "csa" else [None]
    for status in statuses:
        factors = {"visit": visits, "group": groups}
        if status is not None:
            factors = {"side_status": [status], **factors}
        cells = _cells(frame, factors, spec["extra"])
        if spec["pooled"]:
            lv = frame["level"].cat.categories
            cells["level"] = pd.Categorical([lv[0]] * len(cells), categories=lv)
        x = design_rows(fit, cells)
        at = {
            (v, g): i for i, (v, g) in enumerate(zip(cells["visit"].astype(str), cells["group"].astype(str)))
        }
        obs = change_obs if status is None else change_obs[change_obs["side_status"] == status]
        for g in groups[1:]:
            for v in later:
                w = x[at[(v, g)]] - x[at[(v, ref)]]
                if not spec["adjusted"]:
                    w = w - (x[at[(visits[0], g)]] - x[at[(visits[0], ref)]])
                est, se, df, lo, hi, p = linear_contrast(fit, w)
                a = obs.loc[(obs["group"] == g) & (obs["visit"] == v), "change"]
                b = obs.loc[(obs["group"] == ref) & (obs["visit"] == v), "change"]
                hg, hlo, hhi = hedges_g(a, b)
                rows.append(
                    {
                        "side_status": status,
                        "visit": v,
                        "group": g,
                        "reference_group": ref,
                        "contrast": "difference at the visit adjusted for baseline (group - reference)"
                        if spec["adjusted"]
                        else "difference in mean change from baseline (group - reference)",
                        "estimate": est,
                        "se": se,
                        "df": df,
                        "ci_lower": lo,
                        "ci_upper": hi,
                        "p": p,
                        "n_group": int(np.isfinite(a).sum()),
                        "n_reference": int(np.isfinite(b).sum()),
                        "hedges_g": hg,
                        "hedges_g_ci_lower": hlo,
                        "hedges_g_ci_upper": hhi,
                    }
                )
    return rows


def _change_rows(change_obs: pd.DataFrame, model: str, mdc: dict, mdc_value) -> list[dict]:
    rows = []
    by = ["side_status", "group", "visit"] if model == "csa" else ["group", "visit"]
    for key, part in change_obs.groupby(by, observed=True, sort=True):
        key = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        n, m, sd, lo, hi = mean_ci(part["change"])
        if model == "csa" and (mdc_value is not None or mdc):
            if mdc_value is not None:
                limit = np.full(len(part), float(mdc_value))
            else:
                limit = np.array(
                    [mdc.get((str(lv), str(s)), np.nan) for lv, s in zip(part["level"], part["side"])]
                )
            ok = np.isfinite(limit)
            beyond = (np.abs(part["change"].to_numpy()) > limit) & ok
            up = (part["change"].to_numpy() > limit) & ok
            n_ok = int(ok.sum())
            mdc_shown = float(np.nanmean(limit)) if n_ok else np.nan
            pct = 100.0 * beyond.sum() / n_ok if n_ok else np.nan
            pct_up = 100.0 * up.sum() / n_ok if n_ok else np.nan
            n_beyond = int(beyond.sum()) if n_ok else pd.NA
        else:
            mdc_shown, pct, pct_up, n_beyond = np.nan, np.nan, np.nan, pd.NA
        rows.append(
            {
                "side_status": key.get("side_status"),
                "group": key["group"],
                "visit": key["visit"],
                "n_subjects": n,
                "mean_change": m,
                "sd_change": sd,
                "ci_lower": lo,
                "ci_upper": hi,
                "mdc95": mdc_shown,
                "n_beyond_mdc95": n_beyond,
                "pct_beyond_mdc95": pct,
                "pct_increase_beyond_mdc95": pct_up,
            }
        )
    return rows


def _model_frame(sides, deficits, model: str, level, adjusted: bool, response: str):
    """The observations of one fit and its formula (see the module docstring)."""
    data = sides if model == "csa" else deficits
    data = data if level == "pooled" else data[data["level"] == level]
    if model == "csa":
        data = data[data["side_status"].isin(MODEL_SIDE_STATUSES)].copy()
        data["side_status"] = pd.Categorical(data["side_status"], categories=list(MODEL_SIDE_STATUSES))
    else:
        data = data.copy()
    keys = ["level"] + (["side_status"] if model == "csa" else [])
    change_obs = _observed_change(data, keys)
    terms = ("side_status * " if model == "csa" else "") + "visit"
    if data["group"].nunique() > 1:
        terms += " * group"
    if level == "pooled":
        data["level"] = pd.Categorical(data["level"].astype(str))
        terms = "level + " + terms
    frame = data.rename(columns={"value": response})
    if adjusted:
        first = data["visit"].cat.categories[0]
        frame[f"baseline_{response}"] = baseline_columns(data, ["subject", *keys]).to_numpy()
        frame = frame[(frame["visit"] != first) & np.isfinite(frame[f"baseline_{response}"])].copy()
        frame["visit"] = frame["visit"].cat.remove_categories([first])
        terms = f"baseline_{response} + " + terms
    frame["group"] = frame["group"].cat.remove_unused_categories()
    if level == "pooled":  # one value per subject: the mean change over levels
        by = ["subject", "group", "visit"] + (["side_status"] if model == "csa" else [])
        change_obs = change_obs.groupby(by, observed=True)["change"].mean().reset_index()
    return frame, f"{response} ~ {terms}", change_obs


def _data_notes(sides: pd.DataFrame, info: dict, models, no_mdc: bool) -> list[str]:
    """What a reader must know about the modelled data (small groups, left-out subjects, MDC)."""
    notes = []
    if len(info["groups"]) < 2:
        notes.append("one group only: the models have no group term and there are no group contrasts")
    n_small = sides.groupby("group", observed=True)["subject"].nunique()
    if (n_small < 2).any():
        notes.append(
            f"group(s) with fewer than 2 subjects ({', '.join(map(str, n_small[n_small < 2].index))}): "
            "contrasts and Hedges' g are not estimable or meaningless"
        )
    excluded = sides.loc[~sides["side_status"].isin(MODEL_SIDE_STATUSES), "subject"].nunique()
    if excluded and "csa" in models:
        notes.append(
            f"{excluded} subject(s) without one symptomatic side (bilateral, none) left out of the CSA model"
        )
    if "csa" in models and no_mdc:
        notes.append(
            "no MDC95 (no reliability table with this measure and no --mdc): share beyond MDC95 not given"
        )
    return notes


def fit_trial_model(
    measurements: pd.DataFrame,
    subjects: pd.DataFrame,
    *,
    measure: str = "csa_cm2",
    level: str | None = None,
    pooled: bool = False,
    adjust_baseline: bool = False,
    visit_order: Sequence[str] | None = None,
    reference_group: str | None = None,
    rater: str | None = None,
    session: str | None = None,
    reliability: pd.DataFrame | None = None,
    mdc: float | None = None,
    models: Sequence[str] = MODELS,
    engine: str = "reml",
) -> ModelResult:
    """Fit the trial's linear mixed models (module docstring) and derive contrasts and changes.

    Parameters
    ----------
    measurements : DataFrame
        One row per outline (``mfscan measure``): ``subject, visit, level, side``, the
        measure and optionally ``rater, session``. Not modified.
    subjects : DataFrame
        ``subject, symptomatic_side, group`` (``read_subjects``).
    measure : str
        The response of the CSA model (default ``csa_cm2``).
    level : str, optional
        Fit this level only; default every level, each separately.
    pooled : bool
        Also fit over all levels with ``level`` as a fixed factor.
    adjust_baseline : bool
        Baseline as covariate, fitted on the later visits.
    visit_order : sequence of str, optional
        Chronological visit labels; default the study's order (dates, else the rule:
        :func:`mfscan.visits.study_visit_order`).
    reference_group : str, optional
        Default ``control`` if present, else the first group in natural order.
    rater, session : str, optional
        The rater and session modelled; default the first of each (with a note when
        there are several).
    reliability : DataFrame, optional
        A :func:`mfscan.stats.reliability.reliability` table for the MDC95 per level and side.
    mdc : float, optional
        One MDC95 (unit of ``measure``) for every level and side; overrides ``reliability``.
    models : sequence of {"csa", "deficit"}
    engine : {"reml", "statsmodels"}
        See :func:`mfscan.stats._mixed_fit.fit_mixed`.

    Returns
    -------
    ModelResult

    Raises
    ------
    MfscanError
        Missing columns, no data, fewer than two visits, unknown level, group, rater,
        session or visit.
    """
    bad = sorted(set(models) - set(MODELS))
    if bad or engine not in ("reml", "statsmodels"):
        raise MfscanError(f"unknown model(s) {bad} or engine {engine!r}")
    sides, deficits, info = prepare(
        measurements,
        subjects,
        measure=measure,
        rater=rater,
        session=session,
        level=level,
        visit_order=visit_order,
        reference_group=reference_group,
    )
    if len(info["visits"]) < 2:
        raise MfscanError(f"one visit only ({info['visits'][0]}): a change over visits needs two or more")
    notes = info["notes"]
    modelled = (
        rater if rater is not None else info["rater"] if info["rater"] and "|" not in info["rater"] else None
    )
    mdc_map = {} if mdc is not None else mdc_lookup(reliability, measure, modelled)
    notes += _data_notes(sides, info, models, mdc is None and not mdc_map)
    levels = list(info["levels"]) + (["pooled"] if pooled and len(info["levels"]) > 1 else [])
    fits, fe, con, chg = [], [], [], []
    for model in models:
        response = measure if model == "csa" else "deficit_pct"
        for lv in levels:
            frame, formula, change_obs = _model_frame(sides, deficits, model, lv, adjust_baseline, response)
            head = {"model": model, "level": lv}
            record: dict = {"warnings": "no data"}
            fit = fit_mixed(frame, formula, engine=engine, record=record) if len(frame) else None
            present = list(frame["group"].cat.categories) if len(frame) else []
            ref_ok = info["groups"][0] in present
            # the fit's reference: the study's reference group only when it has data here
            record["reference_group"] = present[0] if len(present) > 1 and ref_ok else None
            if len(present) > 1 and not ref_ok:
                notes.append(
                    f"{model} model, level {lv}: reference group {info['groups'][0]} has no data "
                    "here; no group contrasts (the fixed effects compare the other groups)"
                )
            fits.append({**head, **record})
            unit = {"unit": _unit(model, measure)}
            if fit is not None:
                fe.append(fixed_effects(fit).assign(**head))
                spec = {
                    "model": model,
                    "visits": list(frame["visit"].cat.categories),
                    "adjusted": adjust_baseline,
                    "pooled": lv == "pooled",
                    "extra": {f"baseline_{response}": 0.0} if adjust_baseline else {},
                }
                if ref_ok:
                    con += [{**head, **unit, **r} for r in _contrast_rows(fit, frame, spec, change_obs)]
            use_mdc, use_value = (mdc_map, mdc) if lv != "pooled" else ({}, None)
            chg += [{**head, **unit, **r} for r in _change_rows(change_obs, model, use_mdc, use_value)]
    return _result(fits, fe, con, chg, notes, measure, info, adjust_baseline)


_FIT_COLUMNS = [
    "model", "level", "formula", "n_subjects", "n_observations", "method", "engine", "converged",
    "warnings", "subject_variance", "residual_variance", "reml_criterion", "adjusted_for_baseline",
    "baseline_visit", "reference_group", "repeats",
]  # fmt: skip
_FE_COLUMNS = ["model", "level", "term", "estimate", "se", "df", "ci_lower", "ci_upper", "t", "p"]
_CONTRAST_COLUMNS = [
    "model", "level", "side_status", "visit", "group", "reference_group", "contrast", "unit", "estimate",
    "se", "df", "ci_lower", "ci_upper", "p", "n_group", "n_reference", "hedges_g", "hedges_g_ci_lower",
    "hedges_g_ci_upper",
]  # fmt: skip
_CHANGE_COLUMNS = [
    "model", "level", "side_status", "group", "visit", "unit", "n_subjects", "mean_change", "sd_change",
    "ci_lower", "ci_upper", "mdc95", "n_beyond_mdc95", "pct_beyond_mdc95", "pct_increase_beyond_mdc95",
]  # fmt: skip


def _result(fits, fe, con, chg, notes, measure, info, adjusted) -> ModelResult:
    fits_df = pd.DataFrame(fits).reindex(columns=_FIT_COLUMNS)
    fits_df["adjusted_for_baseline"] = adjusted
    fits_df["baseline_visit"] = info["visits"][0]
    fits_df["repeats"] = REPEATS
    fits_df["converged"] = fits_df["converged"].fillna(False).astype(bool)
    fe_df = pd.concat(fe, ignore_index=True)[_FE_COLUMNS] if fe else pd.DataFrame(columns=_FE_COLUMNS)
    con_df = pd.DataFrame(con).reindex(columns=_CONTRAST_COLUMNS)
    chg_df = pd.DataFrame(chg).reindex(columns=_CHANGE_COLUMNS)
    not_conv = fits_df[~fits_df["converged"]]
    for r in not_conv.itertuples(index=False):
        notes.append(
            f"{r.model} model, level {r.level}: not converged or not fitted ({r.warnings or 'no reason given'})"
        )
    return ModelResult(fits_df, fe_df, con_df, chg_df, notes, measure)
