"""The report's GRRAS checklist (Kottner et al. 2011, J Clin Epidemiol 64:96): the items of the
Guidelines for Reporting Reliability and Agreement Studies as far as the study's files record them."""

from __future__ import annotations

import html

import pandas as pd

from mfscan import __version__
from mfscan.report._context import Context
from mfscan.report._data import study_settings
from mfscan.vocab import natural_sort_key

__all__ = ["section"]

_e = html.escape
#: The ICC model of each reliability design (Shrout & Fleiss 1979; McGraw & Wong 1996; Koo & Li 2016).
DESIGNS = {
    "rater": "inter-rater: ICC(2,1), two-way random effects, absolute agreement, single rater",
    "session": "intra-rater (between sessions): ICC(2,1), two-way random effects, absolute agreement, "
    "single measurement (Koo & Li 2016)",
    "image": "image-to-image repeatability: ICC(1,1) and ICC(1,k), one-way random effects",
    "repeat": "image-to-image repeatability: ICC(1,1) and ICC(1,k), one-way random effects",
}


def _raters_text(meas: pd.DataFrame) -> str:
    if "rater" not in meas or meas["rater"].isna().all():
        return "no rater recorded in the sidecars"
    raters = sorted(meas["rater"].dropna().astype(str).unique(), key=natural_sort_key)
    if "session" not in meas or meas["session"].isna().all():
        return f"{len(raters)}: " + "; ".join(raters)
    per = []
    for r in raters:
        s = (
            meas.loc[meas["rater"].astype(str) == r, "session"]
            if "session" in meas
            else pd.Series([], dtype=object)
        )
        vals = list(s.unique())
        blank = ["first (blank)"] if any(pd.isna(v) for v in vals) else []
        labels = blank + sorted({str(v) for v in vals if pd.notna(v)}, key=natural_sort_key)
        per.append(f"{r} (session{'s' if len(labels) > 1 else ''} {', '.join(labels)})" if labels else r)
    return f"{len(raters)}: " + "; ".join(per)


def _blinding_text(study_dir) -> str:
    settings = study_settings(study_dir)
    if settings is None:
        return "not recorded (the study folder has no mfscan.study.json); state it in the paper"
    if settings.get("unreadable"):
        return "not known: mfscan.study.json could not be read"
    orders = settings.get("orders") or {}
    shown = f"; blinded reading orders recorded for {len(orders)} rater/session(s)" if orders else ""
    if settings.get("blinded"):
        return "yes, as recorded in mfscan.study.json (raters read images in a blinded order" + shown + ")"
    return "no, as recorded in mfscan.study.json" + shown


def _replicates_text(ss) -> str:
    if ss is None or "n" not in ss or not len(ss):
        return "not known"
    n = ss["n"].astype(float)
    lo, hi, med = int(n.min()), int(n.max()), float(n.median())
    return (
        f"images per subject, visit, level and side for each rater and session: median {med:g}"
        + (f" (range {lo}–{hi})" if lo != hi else "")
        + "; reliability targets average them"
    )


def _design_text(rel) -> str:
    if rel is None or not len(rel) or "between" not in rel:
        return "no reliability design (one rater, one session)"
    items = []
    for b in dict.fromkeys(rel["between"].astype(str)):
        text = DESIGNS.get(b, f"between {b}")
        if "sem_icc" in rel:
            used = sorted(set(rel.loc[rel["between"].astype(str) == b, "sem_icc"].dropna().astype(str)))
            if used:
                text += f" (SEM and band from {', '.join(used)})"
        items.append(text)
    return "; ".join(items)


def _targets_text(rel) -> str:
    if rel is None or "n_targets" not in rel or not len(rel):
        return ""
    n = rel["n_targets"].dropna().astype(int)
    if not len(n):
        return ""
    subjects = rel["n_subjects"].dropna().astype(int) if "n_subjects" in rel else n
    few = " (fewer than 30 subjects: wide CIs, Koo & Li 2016)" if subjects.min() < 30 else ""
    text = f"{n.min()}–{n.max()} targets per ICC" if n.min() != n.max() else f"{n.min()} targets per ICC"
    if "n_subjects" in rel and len(subjects):
        text += (
            f" from {subjects.min()}–{subjects.max()} subjects"
            if subjects.min() != subjects.max()
            else f" from {subjects.min()} subjects"
        )
    return text + few


def section(ctx: Context) -> list[str]:
    """The GRRAS items (Kottner et al. 2011) as far as the study records them (nothing without
    measurements)."""
    res = ctx.res
    if res.measurements is None or not len(res.measurements):
        return []
    meas = getattr(getattr(res, "analysis", None), "measurements", None)
    meas = res.measurements if meas is None else meas
    rel = res.reliability
    ss = getattr(getattr(res, "analysis", None), "side_summary", None)
    subj = int(meas["subject"].nunique()) if len(meas) else 0
    groups = ""
    if ctx.subjects is not None and "group" in ctx.subjects and len(meas):
        s = ctx.subjects[ctx.subjects["subject"].astype(str).isin(set(meas["subject"].astype(str)))]
        counts = s.groupby(s["group"].fillna("(no group)").astype(str))["subject"].nunique()
        groups = "; " + ", ".join(f"{g}: n = {counts[g]}" for g in sorted(counts.index, key=natural_sort_key))
    pair_by = (
        ", ".join(sorted(set(rel["pair_by"].dropna().astype(str))))
        if rel is not None and "pair_by" in rel
        else ""
    )
    ci = "95% (F-distribution intervals of Shrout & Fleiss / McGraw & Wong)"
    has_ci_band = rel is not None and {"band_ci_lower", "band_ci_upper"} <= set(rel.columns)
    rows = [
        ("Raters (number, codes, sessions)", _raters_text(meas)),
        ("Rater training and experience", "not recorded by mfscan; state it in the paper"),
        ("Blinding", _blinding_text(ctx.study_dir)),
        (
            "Subjects (n) and sampling",
            f"{subj} subject(s) measured{groups}; sampling and recruitment are not recorded by mfscan: "
            "describe them in the paper",
        ),
        (
            "Visits, levels and sides",
            f"{len(ctx.visits)} visit(s) ({', '.join(ctx.visits)}); levels "
            + ", ".join(sorted(meas["level"].dropna().astype(str).unique(), key=natural_sort_key))
            + "; left and right"
            if len(meas)
            else "none",
        ),
        ("Replicates", _replicates_text(ss)),
        (
            "Reliability targets",
            (f"subject × level × side at one visit per subject ({pair_by})" if pair_by else "")
            + (
                f"; visits: {', '.join(map(str, rel['visits'].dropna().unique()))}"
                if rel is not None and "visits" in rel
                else ""
            )
            + (f"; {_targets_text(rel)}" if _targets_text(rel) else ""),
        ),
        ("ICC form and model", _design_text(rel)),
        ("Confidence level", ci),
        (
            "Koo & Li band",
            "from the 95% CI, as Koo & Li (2016) rate: the band of the CI's lower bound to that of its "
            "upper bound (columns band, band_ci_lower, band_ci_upper; band_point is the point "
            "estimate's band, for information only)"
            if has_ci_band
            else "not computed: Koo & Li (2016) rate by the 95% CI of the ICC; read the CI",
        ),
        ("Software and data", f"mfscan {__version__}; every table is in the CSV files of this report"),
    ]
    body = "".join(f"<tr><th class='t'>{_e(k)}</th><td class='t wrap'>{_e(v)}</td></tr>" for k, v in rows)
    return [
        "<h2 id='grras'>Reporting checklist (GRRAS)</h2><p>The items of the Guidelines for Reporting "
        "Reliability and Agreement Studies (Kottner et al. 2011, J Clin Epidemiol 64:96) as far as this "
        "study's files record them.</p>"
        f"<table class='grras'>{body}</table>"
    ]
