"""Rater reliability: intraclass correlation, SEM, MDC and Bland-Altman agreement.

ICC forms after Shrout & Fleiss (1979) and McGraw & Wong (1996), from the mean
squares of a two-way ANOVA on a complete targets x judges matrix:

* ICC(2,1) / ICC(2,k): two-way random effects, absolute agreement, single / mean of
  k measures (inter-rater; includes systematic differences between raters, Weir 2005);
* ICC(3,1) / ICC(3,k): two-way mixed effects, consistency (intra-rater, between
  sessions; ignores systematic differences);
* ICC(1,1) / ICC(1,k): one-way random effects, for completeness.

95 % confidence intervals are the F-distribution intervals of Shrout & Fleiss /
McGraw & Wong (ICC(2,.) with Satterthwaite's degrees of freedom), as in pingouin.

SEM = SD x sqrt(1 - ICC) with SD the standard deviation of all scores; MDC95 =
1.96 x sqrt(2) x SEM. Bands after Koo & Li (2016): < 0.5 poor, 0.5-0.75 moderate,
0.75-0.9 good, > 0.9 excellent.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from mfscan.errors import MfscanError
from mfscan.stats.summary import (
    DEFAULT_MEASURES,
    _check_columns,
    _group_frame,
    _mean_sd,
    group_index,
    prepare_keys,
)

#: ICC form used for SEM and the band, by design.
SEM_ICC = {"rater": "ICC(2,1)", "session": "ICC(3,1)"}
_FORMS = ("ICC(1,1)", "ICC(2,1)", "ICC(3,1)", "ICC(1,k)", "ICC(2,k)", "ICC(3,k)")
_COLUMN = {
    "ICC(1,1)": "icc1_1",
    "ICC(2,1)": "icc2_1",
    "ICC(3,1)": "icc3_1",
    "ICC(1,k)": "icc1_k",
    "ICC(2,k)": "icc2_k",
    "ICC(3,k)": "icc3_k",
}
Z95 = 1.96


def _icc_forms(scores: np.ndarray, alpha: float = 0.05) -> dict:
    """All six ICCs with F tests and CIs of a complete (n targets, k judges) matrix."""
    x = np.asarray(scores, dtype=np.float64)
    n, k = x.shape
    grand = x.mean()
    ss_total = ((x - grand) ** 2).sum()
    ss_rows = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_err = ss_total - ss_rows - ss_cols
    df_r, df_c, df_e = n - 1, k - 1, (n - 1) * (k - 1)
    msr, msc, mse = ss_rows / df_r, ss_cols / df_c, ss_err / df_e
    msw = (ss_cols + ss_err) / (n * (k - 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        icc = {
            "ICC(1,1)": (msr - msw) / (msr + (k - 1) * msw),
            "ICC(2,1)": (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n),
            "ICC(3,1)": (msr - mse) / (msr + (k - 1) * mse),
            "ICC(1,k)": (msr - msw) / msr,
            "ICC(2,k)": (msr - mse) / (msr + (msc - mse) / n),
            "ICC(3,k)": (msr - mse) / msr,
        }
        q = 1 - alpha / 2
        df_w = n * (k - 1)
        f1 = msr / msw
        f1l = f1 / stats.f.ppf(q, df_r, df_w)
        f1u = f1 * stats.f.ppf(q, df_w, df_r)
        f3 = msr / mse
        f3l = f3 / stats.f.ppf(q, df_r, df_e)
        f3u = f3 * stats.f.ppf(q, df_e, df_r)
        i2 = icc["ICC(2,1)"]
        fj = msc / mse
        v = (df_e * (k * i2 * fj + n * (1 + (k - 1) * i2) - k * i2) ** 2) / (
            df_r * k**2 * i2**2 * fj**2 + (n * (1 + (k - 1) * i2) - k * i2) ** 2
        )
        f2u = stats.f.ppf(q, n - 1, v)
        f2l = stats.f.ppf(q, v, n - 1)
        l2 = n * (msr - f2u * mse) / (f2u * (k * msc + (k * n - k - n) * mse) + n * msr)
        u2 = n * (f2l * msr - mse) / (k * msc + (k * n - k - n) * mse + n * f2l * msr)
        ci = {
            "ICC(1,1)": ((f1l - 1) / (f1l + k - 1), (f1u - 1) / (f1u + k - 1)),
            "ICC(2,1)": (l2, u2),
            "ICC(3,1)": ((f3l - 1) / (f3l + k - 1), (f3u - 1) / (f3u + k - 1)),
            "ICC(1,k)": (1 - 1 / f1l, 1 - 1 / f1u),
            "ICC(2,k)": (l2 * k / (1 + l2 * (k - 1)), u2 * k / (1 + u2 * (k - 1))),
            "ICC(3,k)": (1 - 1 / f3l, 1 - 1 / f3u),
        }
        f = {"ICC(1,1)": f1, "ICC(1,k)": f1}
        f.update(dict.fromkeys(("ICC(2,1)", "ICC(3,1)", "ICC(2,k)", "ICC(3,k)"), f3))
        p1, p3 = stats.f.sf(f1, df_r, df_w), stats.f.sf(f3, df_r, df_e)
    return {
        form: {
            "icc": float(icc[form]),
            "f": float(f[form]),
            "df1": df_r,
            "df2": df_w if form.startswith("ICC(1") else df_e,
            "pval": float(p1 if form.startswith("ICC(1") else p3),
            "ci_lower": float(ci[form][0]),
            "ci_upper": float(ci[form][1]),
        }
        for form in _FORMS
    }


def intraclass_corr(scores, *, alpha: float = 0.05) -> pd.DataFrame:
    """Six intraclass correlations of a complete targets x judges matrix.

    Parameters
    ----------
    scores : array_like, shape (n_targets, k_judges)
        One row per target (image or subject side), one column per judge (rater
        or session). No missing values; at least 2 targets and 2 judges.
    alpha : float
        1 - confidence level of the intervals (default 95 %).

    Returns
    -------
    DataFrame
        One row per form (``ICC(1,1)``, ``ICC(2,1)``, ``ICC(3,1)``, ``ICC(1,k)``,
        ``ICC(2,k)``, ``ICC(3,k)``) with ``icc``, ``f``, ``df1``, ``df2``,
        ``pval``, ``ci_lower``, ``ci_upper``. ICC(2,.) and ICC(3,.) equal
        pingouin's ICC(A,.) and ICC(C,.).

    Examples
    --------
    Shrout & Fleiss (1979), 6 targets x 4 judges:

    >>> x = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    >>> intraclass_corr(x).set_index("form")["icc"].round(2).tolist()
    [0.17, 0.29, 0.71, 0.44, 0.62, 0.91]
    """
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise MfscanError("ICC needs a matrix of at least 2 targets x 2 judges")
    if not np.isfinite(x).all():
        raise MfscanError("ICC needs a complete matrix (no missing values)")
    res = _icc_forms(x, alpha)
    return pd.DataFrame([{"form": form, **res[form]} for form in _FORMS])


def sem(sd, icc):
    """Standard error of measurement SD x sqrt(1 - ICC), in the units of SD.

    NaN where the ICC is missing or above 1. A negative ICC gives SEM > SD.
    """
    sd = np.asarray(sd, dtype=float)
    icc = np.asarray(icc, dtype=float)
    with np.errstate(invalid="ignore"):
        out = sd * np.sqrt(np.where(icc <= 1, 1.0 - icc, np.nan))
    return out.item() if out.ndim == 0 else out


def mdc95(sem_value):
    """Minimal detectable change at 95 % confidence: 1.96 x sqrt(2) x SEM."""
    out = Z95 * np.sqrt(2.0) * np.asarray(sem_value, dtype=float)
    return out.item() if out.ndim == 0 else out


def koo_li_band(icc):
    """Koo & Li (2016) label: < 0.5 poor, [0.5, 0.75) moderate, [0.75, 0.9] good,
    > 0.9 excellent; missing -> None. Works on a float or an array (object array)."""
    x = np.asarray(icc, dtype=float)
    label = np.select(
        [~np.isfinite(x), x < 0.5, x < 0.75, x <= 0.9],
        [None, "poor", "moderate", "good"],
        default="excellent",
    )
    label = np.where(np.isfinite(x), label, None)
    return label.item() if label.ndim == 0 else label


def bland_altman(a, b) -> dict:
    """Bland-Altman agreement of paired measurements.

    Parameters
    ----------
    a, b : array_like
        First and second measurement of each pair (e.g. rater 1 and rater 2).
        Pairs with a missing value are left out.

    Returns
    -------
    dict
        ``n`` (pairs used), ``bias`` = mean of ``b - a``, ``sd`` = SD of the
        differences (ddof=1), ``loa_lower`` and ``loa_upper`` = bias -/+ 1.96 SD,
        ``mean`` = grand mean of both measurements.

    Examples
    --------
    >>> bland_altman([1.0, 2.0, 3.0], [1.5, 2.0, 3.5])["bias"]
    0.3333333333333333
    """
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise MfscanError(f"Bland-Altman needs pairs: {a.size} vs {b.size} values")
    ok = np.isfinite(a) & np.isfinite(b)
    d = b[ok] - a[ok]
    n = int(d.size)
    bias = float(d.mean()) if n else float("nan")
    sd = float(d.std(ddof=1)) if n > 1 else float("nan")
    return {
        "n": n,
        "bias": bias,
        "sd": sd,
        "loa_lower": bias - Z95 * sd,
        "loa_upper": bias + Z95 * sd,
        "mean": float((a[ok].mean() + b[ok].mean()) / 2) if n else float("nan"),
    }


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
    return {"echo_mean": "gray level", "echo_sd": "gray level", "shape_ratio": "ratio"}.get(measure, "")


def _judged_rows(measurements: pd.DataFrame, between: str) -> pd.DataFrame:
    """The rows that have a judge (a rater, or a session of a rater)."""
    if between != "session":
        return measurements[measurements[between].notna()]
    # A rater's tracing without a session label is that rater's first session,
    # but only for raters who have labelled sessions at all.
    labelled = measurements.groupby("rater", observed=True)["session"].transform(lambda s: s.notna().any())
    table = measurements.copy()
    fill = table["session"].isna() & labelled.fillna(False).astype(bool)
    table["session"] = table["session"].astype("string").mask(fill, "1")
    return table[table["session"].notna()]


def _statistics(x: np.ndarray, judges: list[str], sem_form: str, alpha: float) -> dict:
    """ICCs, SEM, MDC95 and Bland-Altman of complete targets ``x`` (targets x judges),
    or a note saying why none could be computed."""
    if x.shape[0] < 2 or x.shape[1] < 2:
        return {"note": f"needs 2 judges and 2 complete targets, has {x.shape[1]} and {x.shape[0]}"}
    row = {}
    res = _icc_forms(x, alpha)
    for form in _FORMS:
        col = _COLUMN[form]
        row[col] = res[form]["icc"]
        row[f"{col}_ci_lower"] = res[form]["ci_lower"]
        row[f"{col}_ci_upper"] = res[form]["ci_upper"]
    icc = res[sem_form]["icc"]
    sd = float(x.std(ddof=1))
    row.update(band=koo_li_band(icc), mean=float(x.mean()), sd=sd, sem=sem(sd, icc))
    row["mdc95"] = mdc95(row["sem"])
    ba = bland_altman(x[:, 0], x[:, 1])
    row.update(
        ba_pair=f"{judges[1]} - {judges[0]}",
        ba_bias=ba["bias"],
        ba_sd=ba["sd"],
        ba_loa_lower=ba["loa_lower"],
        ba_loa_upper=ba["loa_upper"],
        note=None,
    )
    return row


#: The statistics columns of :func:`reliability`, after the key columns.
_STAT_COLUMNS = [
    f"{_COLUMN[f]}{s}"
    for f in ("ICC(2,1)", "ICC(3,1)", "ICC(2,k)", "ICC(3,k)", "ICC(1,1)", "ICC(1,k)")
    for s in ("", "_ci_lower", "_ci_upper")
] + [
    "sem_icc",
    "band",
    "mean",
    "sd",
    "sem",
    "mdc95",
    "ba_pair",
    "ba_bias",
    "ba_sd",
    "ba_loa_lower",
    "ba_loa_upper",
    "note",
]


def reliability(
    measurements: pd.DataFrame,
    *,
    between: str = "rater",
    measures: Sequence[str] | None = None,
    pair_by: str = "mean",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Inter-rater or between-session reliability per measure, level and side.

    Parameters
    ----------
    measurements : DataFrame
        One row per outline (the table of ``mfscan measure``).
    between : {"rater", "session"}
        The judges: raters (inter-rater reliability; SEM and band from
        ICC(2,1)) or the sessions of one rater (intra-rater; ICC(3,1), reported
        per rater). Rows without a judge are left out.
    measures : sequence of str, optional
        Default: those of :data:`~mfscan.stats.summary.DEFAULT_MEASURES` in the table.
    pair_by : {"mean", "image"}
        What a target is. ``"mean"`` (default, what studies report): a subject,
        visit, level and side, each judge's score being the mean of all its
        outlines of that side (the repeats, and for ``between="rater"`` all
        sessions). ``"image"``: the same image (and frame) and side traced by
        each judge; needs the raters to have traced the same images.
    alpha : float
        1 - confidence level of the intervals.

    Returns
    -------
    DataFrame
        One row per measure, level, side (and rater for sessions) with ``unit``
        (the unit of mean, sd, sem, mdc95 and the Bland-Altman columns) and
        ``judges`` ("A|B"), ``k``, ``n_targets`` (complete targets: every judge
        of that level and side has a value), ``n_dropped`` (incomplete targets,
        left out), ``icc2_1``, ``icc3_1``, ``icc2_k``, ``icc3_k`` (and ICC(1,.))
        each with ``_ci_lower``/``_ci_upper``; ``sem_icc`` naming the ICC used,
        ``band`` (Koo & Li, of that ICC's point estimate), ``mean``, ``sd`` (of
        all scores of the complete targets), ``sem``, ``mdc95``; Bland-Altman
        ``ba_pair`` ("B - A": second minus first judge in sorted order; with
        more than two judges only that pair), ``ba_bias``, ``ba_sd``,
        ``ba_loa_lower``, ``ba_loa_upper``; and ``note`` when no ICC could be
        computed (fewer than 2 complete targets or judges).
    """
    if between not in SEM_ICC:
        raise MfscanError(f"between must be 'rater' or 'session', not {between!r}")
    if pair_by not in ("mean", "image"):
        raise MfscanError(f"pair_by must be 'mean' or 'image', not {pair_by!r}")
    if measures is None:
        measures = [m for m in DEFAULT_MEASURES if m in measurements.columns]
    else:
        measures = [measures] if isinstance(measures, str) else list(measures)
    _check_columns(measurements, [between])
    target_cols = _targets(between, pair_by, measurements.columns)
    _check_columns(measurements, list(dict.fromkeys(target_cols + [between] + measures)))
    table = _judged_rows(measurements, between)
    tkeys = prepare_keys(table, target_cols)
    jkeys = prepare_keys(table, [between])
    target, tfirst = group_index(list(tkeys.values()))
    judge_codes, judge_names = pd.factorize(jkeys[between], sort=True)
    n_t, n_j = len(tfirst), len(judge_names)
    cell = target * n_j + judge_codes
    targets = _group_frame(tkeys, tfirst)
    report_cols = ["level", "side"] + (["rater"] if between == "session" else [])
    report_id, report_first = group_index([targets[c] for c in report_cols])
    reports = _group_frame({c: targets[c] for c in report_cols}, report_first)
    sem_form = SEM_ICC[between]

    rows = []
    for m in measures:
        mean, _, _ = _mean_sd(table[m].to_numpy(dtype=np.float64, na_value=np.nan), cell, n_t * n_j)
        matrix = mean.reshape(n_t, n_j)
        for r in range(len(report_first)):
            sub = matrix[report_id == r]
            present = np.isfinite(sub).any(axis=0)
            sub = sub[:, present]
            judges = [str(j) for j in np.asarray(judge_names)[present]]
            complete = np.isfinite(sub).all(axis=1)
            x = sub[complete]
            row = {
                "measure": m,
                "unit": measure_unit(m),
                **{c: reports[c].iloc[r] for c in report_cols},
                "between": between,
                "pair_by": pair_by,
                "judges": "|".join(judges),
                "k": len(judges),
                "n_targets": int(complete.sum()),
                "n_dropped": int((~complete).sum()),
                "sem_icc": sem_form,
            }
            row.update(_statistics(x, judges, sem_form, alpha))
            rows.append(row)
    columns = ["measure", "unit", *report_cols, "between", "pair_by", "judges", "k", "n_targets", "n_dropped"]
    columns += _STAT_COLUMNS
    out = pd.DataFrame(rows).reindex(columns=columns)
    for c in ("level", "side"):
        out[c] = out[c].astype(targets[c].dtype)
    return out
