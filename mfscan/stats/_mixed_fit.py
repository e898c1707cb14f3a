"""Fitting and the derived tables of :mod:`mfscan.stats.mixed`.

One fit: a linear mixed model with a random intercept per subject, by REML, either by
closed forms (:func:`reml_intercept`, the default: statsmodels' ``MixedLM`` takes about
6 s per fit of 1,000 subjects, looping over subjects in Python) or by statsmodels
``MixedLM``; both give the same estimates. Warnings are captured into the fit's record,
never printed. Tests and 95 % intervals of the fixed effects and of every contrast are
**t-based with Satterthwaite degrees of freedom** (:func:`satterthwaite_df`, as lmerTest):
a trial of 6 subjects has no normal distribution to lean on. A model with random slopes
(statsmodels only) has no df here: its intervals are Wald z, its ``df`` infinite.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from patsy import PatsyError
from scipy import optimize, stats

Z95 = float(stats.norm.ppf(0.975))


@dataclass
class Fit:
    """A fitted random-intercept model, whatever the engine (see :func:`fit_mixed`)."""

    fe_params: pd.Series
    cov: np.ndarray
    design_info: object
    record: dict = field(default_factory=dict)
    #: ``weights -> df`` (Satterthwaite); None: infinite (Wald z).
    df_of: object = None

    def df(self, weights) -> float:
        """Satterthwaite degrees of freedom of ``weights @ fixed effects`` (inf: none)."""
        return float(self.df_of(np.asarray(weights, dtype=float))) if self.df_of is not None else np.inf


def _group_sums(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    out = np.zeros((n_groups,) + values.shape[1:])
    np.add.at(out, codes, values)
    return out


def _intercept_parts(y: np.ndarray, x: np.ndarray, codes: np.ndarray):
    """``parts(g) -> (X'W X, X'W y, y'W y)`` with W = I - w 11' per subject, w = g / (1 + n g):
    the sums every REML quantity of a random-intercept model is made of (N, p, n_i beside)."""
    n_groups = int(codes.max()) + 1
    n_i = np.bincount(codes, minlength=n_groups).astype(float)
    sx = _group_sums(x, codes, n_groups)
    sy = _group_sums(y, codes, n_groups)
    xtx, xty, yty = x.T @ x, x.T @ y, float(y @ y)

    def parts(g):
        w = g / (1.0 + n_i * g)
        a = xtx - (sx * w[:, None]).T @ sx
        b = xty - (sx * w[:, None]).T @ sy
        c = yty - float(w @ sy**2)
        return a, b, c

    return parts, n_i


def _hessian(f, theta: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Central-difference Hessian of ``f`` at ``theta``."""
    k = len(theta)
    h = np.zeros((k, k))
    e = np.diag(step)
    f0 = f(theta)
    for i in range(k):
        h[i, i] = (f(theta + e[i]) - 2 * f0 + f(theta - e[i])) / step[i] ** 2
        for j in range(i + 1, k):
            h[i, j] = h[j, i] = (
                f(theta + e[i] + e[j])
                - f(theta + e[i] - e[j])
                - f(theta - e[i] + e[j])
                + f(theta - e[i] - e[j])
            ) / (4 * step[i] * step[j])
    return h


def satterthwaite_df(y, x, codes, residual_variance: float, subject_variance: float):
    """The Satterthwaite degrees of freedom of contrasts of a random-intercept REML fit.

    For a contrast c of the fixed effects, v(theta) = c' (X' V(theta)^-1 X)^-1 c with the
    variance parameters theta = (residual variance, subject variance), and

        df = 2 v^2 / (grad v' A grad v),    A = 2 H^-1,

    H the Hessian of the REML deviance -2 l_R(theta) at the estimate (A the asymptotic
    covariance of theta), both by central differences, as lmerTest does (Kuznetsova et
    al. 2017, J Stat Softw 82(13)). A subject variance at 0 (the boundary) is held
    there: only the residual variance varies, and df = N - p, the least-squares df. In a
    balanced design the df are exact: N - p - (n_subjects - n_between) within subjects,
    n_subjects - n_groups for a between-subject contrast of a one-way design.

    Returns
    -------
    callable
        ``weights -> df`` (a float, at least 1).
    """
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    parts, n_i = _intercept_parts(y, x, codes)
    n_obs, p = x.shape

    def deviance(theta):
        s2e, s2u = theta
        g = s2u / s2e
        if s2e <= 0 or np.any(1 + n_i * g <= 0):
            return np.inf
        a, b, c = parts(g)
        sign, logdet = np.linalg.slogdet(a)
        rss = c - float(b @ np.linalg.solve(a, b))
        return (n_obs - p) * np.log(s2e) + float(np.log1p(n_i * g).sum()) + logdet + rss / s2e

    def cov(theta):
        s2e, s2u = theta
        return s2e * np.linalg.inv(parts(s2u / s2e)[0])

    boundary = not subject_variance > 1e-10 * residual_variance
    theta = np.array([residual_variance, 0.0 if boundary else subject_variance])
    free = [0] if boundary else [0, 1]
    step = 2e-3 * theta[free] + 1e-12 * residual_variance

    def on_free(f):
        def g(t):
            full = theta.copy()
            full[free] = t
            return f(full)

        return g

    # Richardson: the central-difference error falls as step^2
    hess = (
        4 * _hessian(on_free(deviance), theta[free], step / 2)
        - _hessian(on_free(deviance), theta[free], step)
    ) / 3
    a_cov = 2 * np.linalg.pinv(hess)

    def df_of(w):
        v = float(w @ cov(theta) @ w)
        grad = np.empty(len(free))
        for i in range(len(free)):
            e = np.zeros(len(free))
            e[i] = step[i]
            vf = on_free(lambda t: float(w @ cov(t) @ w))
            grad[i] = (vf(theta[free] + e) - vf(theta[free] - e)) / (2 * step[i])
        denom = float(grad @ a_cov @ grad)
        return max(2 * v**2 / denom, 1.0) if denom > 0 else np.inf

    return df_of


def reml_intercept(y: np.ndarray, x: np.ndarray, codes: np.ndarray) -> dict:
    """REML fit of ``y = X b + u[group] + e`` with u ~ N(0, s2 g), e ~ N(0, s2), by closed forms.

    With a random intercept only, each subject's covariance is s2 (I + g 11'), whose
    inverse is (I - w 11') / s2 with w = g / (1 + n g): every quantity of the REML
    likelihood is a sum over subjects of column sums, and the profiled REML criterion
    (lme4's, Bates et al. 2015 eq. 42)

        -2 l_R(g) = log det(X' H^-1 X) + sum log(1 + n_i g) + (N - p) (1 + log(2 pi RSS / (N - p)))

    is minimised over the one variance ratio g >= 0 (grid, then bounded Brent).

    Returns
    -------
    dict
        ``beta``, ``cov`` (s2 (X' H^-1 X)^-1), ``scale`` (residual variance s2),
        ``subject_variance`` (s2 g), ``reml_criterion``, ``converged``, ``boundary``.
    """
    n_obs, p = x.shape
    parts, n_i = _intercept_parts(y, x, codes)
    dof = n_obs - p

    def criterion(g):
        a, b, c = parts(g)
        sign, logdet = np.linalg.slogdet(a)
        if sign <= 0:
            return np.inf
        beta = np.linalg.solve(a, b)
        rss = c - float(beta @ b)
        if not rss > 0:
            return np.inf
        return logdet + float(np.log1p(n_i * g).sum()) + dof * (1 + np.log(2 * np.pi * rss / dof))

    grid = np.concatenate([[0.0], np.logspace(-5, 4, 19)])  # ratio steps of 3.2, then Brent
    values = np.array([criterion(g) for g in grid])
    k = int(np.argmin(values))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    opt = optimize.minimize_scalar(criterion, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10})
    g = float(opt.x) if opt.fun <= values[k] else float(grid[k])
    if criterion(0.0) <= criterion(g):
        g = 0.0
    a, b, c = parts(g)
    beta = np.linalg.solve(a, b)
    scale = (c - float(beta @ b)) / dof
    return {
        "beta": beta,
        "cov": scale * np.linalg.inv(a),
        "scale": float(scale),
        "subject_variance": float(scale * g),
        "reml_criterion": float(criterion(g)),
        "converged": bool(opt.success) and k < len(grid) - 1,
        "boundary": g == 0.0,
    }


def fit_mixed(
    frame: pd.DataFrame,
    formula: str,
    *,
    engine: str = "reml",
    re_formula: str | None = None,
    record: dict | None = None,
) -> Fit | None:
    """Fit ``formula`` with a random intercept per ``frame['subject']`` by REML.

    Parameters
    ----------
    engine : {"reml", "statsmodels"}
        ``"reml"``: :func:`reml_intercept` (closed forms; seconds for thousands of
        subjects). ``"statsmodels"``: ``statsmodels`` ``MixedLM.fit(reml=True)``, the
        same model, slower by about a hundredfold; both agree (tests/test_model.py).
    re_formula : str, optional
        Random effects beyond the intercept, e.g. ``"~ Days"`` for ``(Days | subject)``;
        needs ``engine="statsmodels"``.
    record : dict, optional
        Filled in place with the fit's record (also when the fit fails).

    Returns
    -------
    Fit or None
        None when the design cannot be fitted; the reason is then in ``record``
        (a record dict, as ``Fit.record``): ``formula, n_subjects, n_observations,
        method, engine, converged, warnings, subject_variance, residual_variance,
        reml_criterion``.
    """
    from patsy import dmatrices

    record = {} if record is None else record
    record |= {
        "formula": f"{formula} + ({re_formula.lstrip('~ ') if re_formula else '1'} | subject)",
        "n_subjects": int(frame["subject"].nunique()),
        "n_observations": int(len(frame)),
        "method": "REML",
        "engine": "mfscan closed-form REML" if engine == "reml" else "statsmodels MixedLM",
        "converged": False,
        "warnings": "",
        "subject_variance": np.nan,
        "residual_variance": np.nan,
        "reml_criterion": np.nan,
    }
    if re_formula is not None and engine != "statsmodels":
        raise ValueError("random slopes (re_formula) need engine='statsmodels'")
    remarks: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yv, xv = dmatrices(formula, frame, return_type="dataframe", NA_action="drop")
            y, x = yv.to_numpy()[:, 0], xv.to_numpy()
            if np.linalg.matrix_rank(x.T @ x) < x.shape[1]:  # p x p: no SVD of X
                raise ValueError(
                    "the design is rank deficient (a combination of the factors has no observation)"
                )
            if len(y) <= x.shape[1]:
                raise ValueError(f"{len(y)} observation(s) for {x.shape[1]} fixed effects")
            subjects = frame.loc[yv.index, "subject"].astype(str)
            if engine == "reml":
                codes, _ = pd.factorize(subjects)
                r = reml_intercept(y, x, codes)
                beta, cov = r["beta"], r["cov"]
                record.update(
                    converged=r["converged"],
                    subject_variance=r["subject_variance"],
                    residual_variance=r["scale"],
                    reml_criterion=r["reml_criterion"],
                )
                if r["boundary"]:  # the REML optimum on the boundary: a result, not a failed fit
                    remarks.append("subject variance estimated at 0 (boundary of the parameter space)")
            else:
                import statsmodels.api as sm

                exog_re = None
                if re_formula is not None:
                    from patsy import dmatrix

                    exog_re = np.asarray(dmatrix(re_formula, frame.loc[yv.index]))
                res = sm.MixedLM(y, x, groups=subjects.to_numpy(), exog_re=exog_re).fit(reml=True)
                beta = res.fe_params
                cov = np.asarray(res.cov_params())[: len(beta), : len(beta)]
                record.update(
                    converged=bool(res.converged),
                    subject_variance=float(np.asarray(res.cov_re)[0, 0]),
                    residual_variance=float(res.scale),
                    reml_criterion=float(-2 * res.llf),
                )
        except (ValueError, np.linalg.LinAlgError, PatsyError) as e:
            record["warnings"] = f"not fitted: {e}"
            return None
    messages = list(dict.fromkeys(str(w.message).splitlines()[0] for w in caught))
    record["warnings"] = "; ".join(messages + remarks)
    if messages:  # any warning of the fit (not our own boundary remark): not a clean fit
        record["converged"] = False
    record["n_subjects"] = int(subjects.nunique())
    record["n_observations"] = int(len(y))
    df_of = None
    if re_formula is None and np.isfinite(record["residual_variance"]) and record["residual_variance"] > 0:
        codes = pd.factorize(subjects)[0]
        df_of = satterthwaite_df(
            y, x, codes, record["residual_variance"], max(record["subject_variance"], 0.0)
        )
    fe = pd.Series(np.asarray(beta), index=list(xv.columns))
    return Fit(fe, np.asarray(cov), xv.design_info, record, df_of)


def _t_interval(est: float, se: float, df: float) -> tuple[float, float, float, float]:
    """t statistic, 95 % CI bounds and two-sided p with ``df`` degrees of freedom (inf: normal)."""
    q = float(stats.t.ppf(0.975, df)) if np.isfinite(df) else Z95
    with np.errstate(invalid="ignore", divide="ignore"):
        t = est / se if se > 0 else np.nan
    p = float(2 * stats.t.sf(abs(t), df)) if np.isfinite(t) else np.nan
    return t, est - q * se, est + q * se, p


def fixed_effects(fit: Fit) -> pd.DataFrame:
    """``term, estimate, se, df, ci_lower, ci_upper, t, p`` of the fixed effects (t with
    Satterthwaite df; Wald z, df inf, without them)."""
    est = fit.fe_params.to_numpy()
    se = np.sqrt(np.clip(np.diag(fit.cov), 0, None))
    eye = np.eye(len(est))
    rows = []
    for i in range(len(est)):
        df = fit.df(eye[i])
        t, lo, hi, p = _t_interval(float(est[i]), float(se[i]), df)
        rows.append((fit.fe_params.index[i], est[i], se[i], df, lo, hi, t, p))
    return pd.DataFrame(rows, columns=["term", "estimate", "se", "df", "ci_lower", "ci_upper", "t", "p"])


def design_rows(fit: Fit, cells: pd.DataFrame) -> np.ndarray:
    """The fixed-effects design matrix rows of ``cells`` (columns as the fitted frame)."""
    from patsy import build_design_matrices

    return np.asarray(build_design_matrices([fit.design_info], cells)[0])


def linear_contrast(fit: Fit, weights: np.ndarray) -> tuple[float, float, float, float, float, float]:
    """Estimate, SE, df, CI lower, CI upper and p of ``weights @ fixed effects`` (t with
    Satterthwaite df, :meth:`Fit.df`)."""
    est = float(weights @ fit.fe_params.to_numpy())
    se = float(np.sqrt(max(weights @ fit.cov @ weights, 0.0)))
    df = fit.df(weights) if se > 0 else np.nan
    _, lo, hi, p = _t_interval(est, se, df if se > 0 else np.inf)
    return est, se, df, lo, hi, p


def hedges_g(a, b) -> tuple[float, float, float]:
    """Hedges' g of mean(a) - mean(b) with its 95 % CI (Hedges & Olkin 1985).

    d = difference / pooled SD (ddof = 1); g = J d with J = 1 - 3 / (4 (n_a + n_b) - 9);
    SE = sqrt((n_a + n_b) / (n_a n_b) + g^2 / (2 (n_a + n_b))); CI = g +- 1.96 SE.
    NaN with fewer than 2 values in a group or no spread.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return np.nan, np.nan, np.nan
    pooled = np.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))
    if not pooled > 0:
        return np.nan, np.nan, np.nan
    g = (1 - 3 / (4 * (na + nb) - 9)) * (a.mean() - b.mean()) / pooled
    se = np.sqrt((na + nb) / (na * nb) + g**2 / (2 * (na + nb)))
    return float(g), float(g - Z95 * se), float(g + Z95 * se)
