"""Intraclass correlations, SEM, MDC, Koo & Li bands and Bland-Altman agreement of a matrix.

ICC forms after Shrout & Fleiss (1979) and McGraw & Wong (1996), from the mean
squares of a two-way ANOVA on a complete targets x judges matrix:

* ICC(2,1) / ICC(2,k): two-way random effects, absolute agreement, single / mean of
  k measures (inter-rater; includes systematic differences between raters, Weir 2005);
* ICC(3,1) / ICC(3,k): two-way mixed effects, consistency (intra-rater, between
  sessions; ignores systematic differences);
* ICC(1,1) / ICC(1,k): one-way random effects (image-to-image repeatability: the
  repeated images of a target are interchangeable).

95 % confidence intervals are the F-distribution intervals of Shrout & Fleiss /
McGraw & Wong (ICC(2,.) with Satterthwaite's degrees of freedom), as in pingouin.

Standard errors of measurement, one meaning per column (de Vet et al. 2006), from
the two-way ANOVA in every design: the **consistency SEM** = sqrt(MS_error) (systematic
differences between judges left out) and the **agreement SEM** = sqrt(MS_error +
judge variance), judge variance = (MS_judges - MS_error) / n floored at 0 (systematic
differences count as error); beside them the **ICC-based SEM** = SD x sqrt(1 - ICC)
of the design's ICC form (Weir 2005), column ``sem``. MDC95 = 1.96 x sqrt(2) x SEM. Bands after Koo & Li (2016): < 0.5 poor, 0.5-0.75 moderate,
0.75-0.9 good, > 0.9 excellent, rated by the 95 % CI ("poor to excellent").
Bland-Altman limits with the 95 % CIs of Bland & Altman (1999).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from mfscan.errors import MfscanError

#: ICC form used for SEM and the band, by design.
#: Between sessions (intra-rater) absolute agreement too, as Koo & Li (2016) recommend.
SEM_ICC = {"rater": "ICC(2,1)", "session": "ICC(2,1)", "image": "ICC(1,1)"}
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


def mean_squares(scores) -> dict:
    """Mean squares of a complete (n targets, k judges) matrix: two-way and one-way ANOVA.

    Returns
    -------
    dict
        ``n``, ``k``, ``msr`` (targets), ``msc`` (judges), ``mse`` (two-way
        residual), ``msw`` (one-way within targets), ``ss_total``.
    """
    x = np.asarray(scores, dtype=np.float64)
    n, k = x.shape
    grand = x.mean()
    ss_total = ((x - grand) ** 2).sum()
    ss_rows = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_err = max(ss_total - ss_rows - ss_cols, 0.0)
    return {
        "n": n,
        "k": k,
        "msr": ss_rows / (n - 1),
        "msc": ss_cols / (k - 1),
        "mse": ss_err / ((n - 1) * (k - 1)),
        "msw": (ss_cols + ss_err) / (n * (k - 1)),
        "ss_total": ss_total,
    }


def agreement_sem(scores, *, one_way: bool = False) -> float:
    """Agreement SEM of a complete matrix (de Vet et al. 2006), in the units of the scores.

    ``sqrt(MS_error + judge variance)`` with the judge variance ``(MS_judges -
    MS_error) / n`` (0 when negative): systematic differences between judges count
    as error. ``one_way=True`` (interchangeable repeats): ``sqrt(MS_within)``, the
    within-subject SD.
    """
    ms = mean_squares(scores)
    if one_way:
        return float(np.sqrt(ms["msw"]))
    judge_var = max((ms["msc"] - ms["mse"]) / ms["n"], 0.0)
    return float(np.sqrt(ms["mse"] + judge_var))


def _icc_forms(scores: np.ndarray, alpha: float = 0.05) -> dict:
    """All six ICCs with F tests and CIs of a complete (n targets, k judges) matrix."""
    ms = mean_squares(scores)
    n, k = ms["n"], ms["k"]
    df_r, df_e = n - 1, (n - 1) * (k - 1)
    msr, msc, mse, msw = ms["msr"], ms["msc"], ms["mse"], ms["msw"]
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


def koo_li_band_ci(lower, upper):
    """Koo & Li (2016) rating of an ICC by its 95 % CI: the bands of both bounds.

    ``"excellent"`` when both bounds are excellent, else ``"<band of lower> to <band
    of upper>"`` (e.g. ``"poor to excellent"`` for [0.05, 0.99]); None when a
    bound is missing. Works on floats or arrays (object array).

    Examples
    --------
    >>> koo_li_band_ci(0.05, 0.99), koo_li_band_ci(0.91, 0.99), koo_li_band_ci(0.6, 0.8)
    ('poor to excellent', 'excellent', 'moderate to good')
    """
    lo = np.atleast_1d(np.asarray(koo_li_band(np.atleast_1d(lower)), dtype=object))
    hi = np.atleast_1d(np.asarray(koo_li_band(np.atleast_1d(upper)), dtype=object))
    out = np.array(
        [None if a is None or b is None else a if a == b else f"{a} to {b}" for a, b in zip(lo, hi)],
        dtype=object,
    )
    return out[0] if np.ndim(lower) == 0 and np.ndim(upper) == 0 else out


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
        ``mean`` = grand mean of both measurements; 95 % CIs (Bland & Altman
        1999, t quantile with n - 1 df): ``bias_ci_lower``/``bias_ci_upper`` =
        bias -/+ t x SD / sqrt(n), ``loa_lower_ci_lower``, ``loa_lower_ci_upper``,
        ``loa_upper_ci_lower``, ``loa_upper_ci_upper`` = limit -/+ t x SD x
        sqrt(3 / n) (approximate); the exact CIs of Carkeet (2015) from the
        non-central t, ``loa_lower_exact_ci_lower``, ``loa_lower_exact_ci_upper``,
        ``loa_upper_exact_ci_lower``, ``loa_upper_exact_ci_upper``; the proportional-bias check, the regression of the
        difference on the pair's mean: ``slope``, ``slope_ci_lower``,
        ``slope_ci_upper`` (t with n - 2 df), ``slope_p`` (H0: slope 0),
        ``intercept`` (NaN with fewer than 3 pairs or equal means).

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
    out = {
        "n": n,
        "bias": bias,
        "sd": sd,
        "loa_lower": bias - Z95 * sd,
        "loa_upper": bias + Z95 * sd,
        "mean": float((a[ok].mean() + b[ok].mean()) / 2) if n else float("nan"),
    }
    nan = float("nan")
    t = float(stats.t.ppf(0.975, n - 1)) if n > 1 else nan
    se_bias = sd / np.sqrt(n) if n > 1 else nan
    se_loa = sd * np.sqrt(3.0 / n) if n > 1 else nan
    for name, centre, se in (
        ("bias", bias, se_bias),
        ("loa_lower", out["loa_lower"], se_loa),
        ("loa_upper", out["loa_upper"], se_loa),
    ):
        out[f"{name}_ci_lower"] = centre - t * se
        out[f"{name}_ci_upper"] = centre + t * se
    out.update(_exact_loa_ci(bias, sd, n))
    out.update(slope=nan, slope_ci_lower=nan, slope_ci_upper=nan, slope_p=nan, intercept=nan)
    means = (a[ok] + b[ok]) / 2
    if n >= 3 and np.ptp(means) > 0:
        fit = stats.linregress(means, d)
        tq = float(stats.t.ppf(0.975, n - 2))
        out.update(
            slope=float(fit.slope),
            slope_ci_lower=float(fit.slope - tq * fit.stderr),
            slope_ci_upper=float(fit.slope + tq * fit.stderr),
            slope_p=float(fit.pvalue),
            intercept=float(fit.intercept),
        )
    return out


def _exact_loa_ci(bias: float, sd: float, n: int, alpha: float = 0.05) -> dict:
    """Exact 95 % CIs of both limits of agreement (Carkeet 2015, Optom Vis Sci 92:e71).

    The upper limit estimates the quantile mu + 1.96 sigma of the differences; with
    normal differences sqrt(n) (quantile - mean) / s follows a non-central t with n - 1
    df and non-centrality 1.96 sqrt(n), so the limits are bias + s / sqrt(n) x its
    alpha/2 and 1 - alpha/2 quantiles (the lower limit symmetric). Wider than, and not
    symmetric about the limit unlike, the approximate CI of Bland & Altman (1999).
    """
    keys = ("loa_lower_exact_ci_lower", "loa_lower_exact_ci_upper")
    keys += ("loa_upper_exact_ci_lower", "loa_upper_exact_ci_upper")
    if n < 2 or not np.isfinite(sd):
        return dict.fromkeys(keys, float("nan"))
    nc = Z95 * np.sqrt(n)
    lo_q, hi_q = stats.nct.ppf([alpha / 2, 1 - alpha / 2], n - 1, nc) / np.sqrt(n)
    return dict(
        zip(
            keys,
            (
                float(bias - hi_q * sd),
                float(bias - lo_q * sd),
                float(bias + lo_q * sd),
                float(bias + hi_q * sd),
            ),
            strict=True,
        )
    )


#: Fewer targets than this give a note (Koo & Li 2016 recommend at least 30).
MIN_TARGETS = 30
#: Fewer judges than this give a note (Koo & Li 2016 recommend at least 3 raters).
MIN_JUDGES = 3


def matrix_notes(x: np.ndarray, what: str = "judges") -> list[str]:
    """What a reader must know about a complete targets x judges matrix ``x``.

    Notes for fewer than :data:`MIN_TARGETS` targets or :data:`MIN_JUDGES`
    judges (wide CI), constant scores (ICC undefined) and a zero residual (the
    judges agree exactly up to a constant: ICC(3,.) = 1, F infinite, no usable CI).
    """
    n, k = x.shape
    notes = []
    if n < MIN_TARGETS:
        notes.append(f"n = {n} targets (< {MIN_TARGETS}): the CI is wide (Koo & Li 2016)")
    if k < MIN_JUDGES:
        notes.append(f"k = {k} {what} (< {MIN_JUDGES}): the CI is wide (Koo & Li 2016)")
    if n >= 2 and k >= 2:
        ms = mean_squares(x)
        scale = max(float(np.abs(x).max()), 1e-300) ** 2
        if ms["ss_total"] <= 1e-24 * scale * x.size:
            notes.append("all scores are equal: the ICC is undefined (0 / 0)")
        elif ms["mse"] * (n - 1) * (k - 1) <= 1e-10 * ms["ss_total"]:
            notes.append(
                "zero residual: the scores agree exactly up to a constant per judge, so "
                "ICC(3,.) is 1 and its CI and F test are degenerate"
            )
    return notes


def matrix_statistics(x: np.ndarray, judges: list[str], sem_form: str, alpha: float, what: str) -> dict:
    """ICCs, both SEMs, MDC95, bands and Bland-Altman of complete targets ``x``
    (targets x judges), with notes (:func:`matrix_notes`) or a note saying why none
    could be computed. ``sem_form`` names the ICC of the band and of the ICC-based ``sem``
    (SD x sqrt(1 - ICC)); ``sem_consistency`` = sqrt(MS_error) and ``sem_agreement`` =
    sqrt(MS_error + judge variance) whatever the form (de Vet et al. 2006)."""
    if x.shape[0] < 2 or x.shape[1] < 2:
        return {"note": f"needs 2 judges and 2 complete targets, has {x.shape[1]} and {x.shape[0]}"}
    row = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        res = _icc_forms(x, alpha)
    for form in _FORMS:
        col = _COLUMN[form]
        row[col] = res[form]["icc"]
        row[f"{col}_ci_lower"] = res[form]["ci_lower"]
        row[f"{col}_ci_upper"] = res[form]["ci_upper"]
    icc = res[sem_form]["icc"]
    lo, hi = res[sem_form]["ci_lower"], res[sem_form]["ci_upper"]
    sd = float(x.std(ddof=1))
    row.update(
        band=koo_li_band_ci(lo, hi),
        band_point=koo_li_band(icc),
        band_ci_lower=koo_li_band(lo),
        band_ci_upper=koo_li_band(hi),
        mean=float(x.mean()),
        sd=sd,
        sem=sem(sd, icc),
    )
    row["mdc95"] = mdc95(row["sem"])
    row["sem_consistency"] = float(np.sqrt(mean_squares(x)["mse"]))
    row["mdc95_consistency"] = mdc95(row["sem_consistency"])
    row["sem_agreement"] = agreement_sem(x)
    row["mdc95_agreement"] = mdc95(row["sem_agreement"])
    ba = bland_altman(x[:, 0], x[:, 1])
    row["ba_pair"] = f"{judges[1]} - {judges[0]}"
    for key in BA_KEYS:
        row[f"ba_{key}"] = ba[key]
    notes = matrix_notes(x, what)
    row["note"] = "; ".join(notes) if notes else None
    return row


#: Keys of :func:`bland_altman` copied to a reliability row as ``ba_<key>``.
BA_KEYS = (
    "bias",
    "sd",
    "loa_lower",
    "loa_upper",
    "bias_ci_lower",
    "bias_ci_upper",
    "loa_lower_ci_lower",
    "loa_lower_ci_upper",
    "loa_upper_ci_lower",
    "loa_upper_ci_upper",
    "loa_lower_exact_ci_lower",
    "loa_lower_exact_ci_upper",
    "loa_upper_exact_ci_lower",
    "loa_upper_exact_ci_upper",
    "slope",
    "slope_ci_lower",
    "slope_ci_upper",
    "slope_p",
)

#: The statistics columns of a reliability row, after the key columns.
STAT_COLUMNS = (
    [
        f"{_COLUMN[f]}{s}"
        for f in ("ICC(2,1)", "ICC(3,1)", "ICC(2,k)", "ICC(3,k)", "ICC(1,1)", "ICC(1,k)")
        for s in ("", "_ci_lower", "_ci_upper")
    ]
    + ["sem_icc", "band", "band_point", "band_ci_lower", "band_ci_upper", "mean", "sd", "sem", "mdc95"]
    + ["sem_consistency", "mdc95_consistency", "sem_agreement", "mdc95_agreement", "ba_pair"]
    + [f"ba_{k}" for k in BA_KEYS]
    + ["note"]
)
