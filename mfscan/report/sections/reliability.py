"""The report's reliability section: the reliability table (ICCs with their 95% CIs,
Koo & Li bands, SEM, MDC95, Bland-Altman); the GRRAS checklist is :mod:`.grras`.

The table shows whatever columns the reliability table has: every ``iccX_Y`` form
with its ``_ci_lower``/``_ci_upper`` as one "ICC(X,Y) [95% CI]" column, every column
naming a band, then the rest, formatted; a wide table is split into column groups.
"""

from __future__ import annotations

import html
import re

import pandas as pd

from mfscan.report._context import Context
from mfscan.report._tables import img, sort_rows, table
from mfscan.report.plots import plot_bland_altman
from mfscan.vocab import natural_sort_key

__all__ = ["section", "reliability_display"]

_e = html.escape
_ICC = re.compile(r"^icc(\d)_(\d|k)$")
#: Columns shown right after the ICCs and bands: SEM, MDC, Bland-Altman, notes.
_PRIORITY = re.compile(r"^(sem|mdc|ba_pair|ba_bias|ba_loa|note)")
_KEY = ["between", "measure", "level", "side", "rater", "session", "visits", "judges", "k", "n_subjects"]
_KEY += ["n_targets", "n_dropped"]


def _icc_text(r: pd.DataFrame, form: str) -> list[str]:
    lo, hi = r.get(f"{form}_ci_lower"), r.get(f"{form}_ci_upper")
    out = []
    for i, a in enumerate(r[form]):
        if pd.isna(a):
            out.append("")
        elif lo is not None and hi is not None and pd.notna(lo.iloc[i]):
            out.append(f"{a:.3f} [{lo.iloc[i]:.2f}, {hi.iloc[i]:.2f}]")
        else:
            out.append(f"{a:.3f}")
    return out


def _natural_judges(r: pd.DataFrame) -> pd.Series:
    """``judges`` ("1|10|2") with the judges in natural order ("1|2|10")."""
    return r["judges"].map(
        lambda j: "|".join(sorted(str(j).split("|"), key=natural_sort_key)) if isinstance(j, str) else j
    )


def _with_ci(r: pd.DataFrame, est: str, lo: str, hi: str, digits: int = 3) -> list[str]:
    """``"est [lo, hi]"`` per row ("" when the estimate is missing)."""
    out = []
    for a, b, c in zip(r[est], r[lo] if lo in r else [None] * len(r), r[hi] if hi in r else [None] * len(r)):
        if pd.isna(a):
            out.append("")
        elif b is None or pd.isna(b) or pd.isna(c):
            out.append(f"{a:.{digits}f}")
        else:
            out.append(f"{a:.{digits}f} [{b:.{digits}f}, {c:.{digits}f}]")
    return out


#: The columns of the reading table, after the key columns: (label, column) in order.
_SHOWN = (
    ("Koo & Li band (from the 95% CI)", "band"),
    ("band of the CI lower bound", "band_ci_lower"),
    ("band of the CI upper bound", "band_ci_upper"),
    ("band and ICC-based SEM from", "sem_icc"),
    ("SEM (ICC-based) = SD × √(1 − ICC)", "sem"),
    ("MDC95 (ICC-based)", "mdc95"),
    ("SEM consistency = √MS error", "sem_consistency"),
    ("MDC95 (consistency)", "mdc95_consistency"),
    ("SEM agreement = √(MS error + judge variance)", "sem_agreement"),
    ("MDC95 (agreement)", "mdc95_agreement"),
    ("Bland-Altman pair", "ba_pair"),
    ("bias [95% CI]", "ba_bias"),
    ("lower LoA [approximate 95% CI]", "ba_loa_lower"),
    ("lower LoA [exact 95% CI, Carkeet 2015]", "ba_loa_lower_exact"),
    ("upper LoA [approximate 95% CI]", "ba_loa_upper"),
    ("upper LoA [exact 95% CI, Carkeet 2015]", "ba_loa_upper_exact"),
    ("unit", "unit"),
    ("note", "note"),
)


def reliability_display(rel: pd.DataFrame) -> pd.DataFrame:
    """The reliability table for reading: key columns (with ``session``), the ICC forms of
    the two designs as "ICC(x,y) [95% CI]", the Koo & Li band read from the CI (and the band
    of each CI bound), the consistency and agreement SEM and MDC95 labelled, and the
    Bland-Altman bias and limits of agreement with their 95% CIs. Every column stays in
    ``reliability.csv``."""
    r = rel.copy()
    forms = [c for c in r.columns if _ICC.match(c)]
    if "judges" in r:
        r["judges"] = _natural_judges(r)
    key = [c for c in _KEY if c in r and c != "k"]
    if "n_dropped" in r and not (pd.to_numeric(r["n_dropped"], errors="coerce").fillna(0) > 0).any():
        key.remove("n_dropped")
    out = r[key].copy()
    one_way = "between" in r and r["between"].isin(["image", "repeat"]).any()
    for f in ("icc2_1", "icc3_1", "icc1_1", "icc1_k"):
        if f.startswith("icc1") and not one_way and "between" in r:
            continue
        if f in forms and r[f].notna().any():
            m = _ICC.match(f)
            out[f"ICC({m.group(1)},{m.group(2)}) [95% CI]"] = _icc_text(r, f)
    for label, col in _SHOWN:
        if col.endswith("_exact") and f"{col}_ci_lower" in r:
            out[label] = _with_ci(
                r.assign(**{col: r[col[: -len("_exact")]]}), col, f"{col}_ci_lower", f"{col}_ci_upper"
            )
            continue
        if col not in r:
            continue
        if col in ("ba_bias", "ba_loa_lower", "ba_loa_upper"):
            out[label] = _with_ci(r, col, f"{col}_ci_lower", f"{col}_ci_upper")
        else:
            out[label] = r[col]
    return out


def section(ctx: Context) -> list[str]:
    """The ICC, measurement-error and Bland-Altman tables and plots (nothing without a
    reliability table)."""
    if ctx.res.reliability is None or not len(ctx.res.reliability):
        return []
    rel = sort_rows(ctx.res.reliability, ctx.visits)
    parts = [
        "<h2 id='reliability'>Reliability</h2><p>ICC forms after Shrout &amp; Fleiss / McGraw &amp; Wong "
        "with 95% CI; between raters and between sessions ICC(2,1) (absolute agreement, as Koo &amp; "
        "Li recommend for inter- and intra-rater designs). SEM consistency = √(MS error); SEM "
        "agreement = √(MS error + (MS judges − MS error)/n) (de Vet et al. 2006), which counts a "
        "systematic offset; the ICC-based SEM = SD × √(1 − ICC) of the band's ICC form beside them; "
        "MDC95 = 1.96 × √2 × SEM. "
        "Bands after Koo &amp; Li (2016), who rate by the 95% CI: the band runs from the band of the "
        "CI's lower bound to that of its upper bound. Bland-Altman bias and 95% limits of agreement "
        "(LoA) with their 95% CIs (second judge minus first): approximate (Bland &amp; Altman 1999, "
        "limit ± t × SD × √(3/n)) and exact (Carkeet 2015, non-central t), labelled. "
        "Targets are subject × level × side at one visit per subject (each subject's first unless "
        "another is chosen; column visits), each rater's repeats averaged, so n counts subjects. "
        "ICC(2,1) counts "
        "a systematic difference between raters as disagreement and ICC(3,1) does not: a clearly "
        "lower ICC(2,1) (a low CI bound) points to a constant offset, which the Bland-Altman bias "
        "shows (for instance one rater tracing inside the border).</p>"
    ]
    d = reliability_display(rel)
    main = d["measure"].isin(["csa_cm2", "csa_px2"]) if "measure" in d else pd.Series(True, index=d.index)
    key = [c for c in ("between", "measure", "level", "side", "rater", "session") if c in d]
    error = [label for label, col in _SHOWN[3:-2] if label in d]
    notes = [c for c in ("unit", "note") if c in d]
    icc = [c for c in d.columns if c not in key and c not in error and c not in notes]

    def tables(rows: pd.Series) -> str:
        return (
            "<h3>ICC and Koo &amp; Li band</h3>"
            + table(d[rows], columns=key + icc, key=key, digits=3)
            + "<h3>Measurement error (SEM, MDC95) and Bland-Altman</h3>"
            + table(d[rows], columns=key + error + notes[:1], key=key, digits=3)
            + (
                "<details><summary>Notes per row</summary>"
                + table(d[rows], columns=key + ["note"], key=key)
                + "</details>"
                if "note" in d and d.loc[rows, "note"].notna().any()
                else ""
            )
        )

    parts.append("<p>Cross-sectional area (SEM, MDC95, bias and limits of agreement in cm²):</p>")
    parts.append(tables(main))
    if (~main).any():
        parts.append(
            "<details><summary>Other measures (AP depth, lateral width, echo intensity, ...)</summary>"
            + tables(~main)
            + "</details>"
        )
    parts.append(img(plot_bland_altman(ctx.res.measurements, "rater", ctx.measure), "Bland-Altman plots"))
    return parts
