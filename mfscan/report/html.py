"""The report's HTML: one self-contained page (styles inline, figures as ``data:`` URIs).

Every value taken from the study (codes, file names, notes) is escaped.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from mfscan import RESEARCH_NOTICE, __version__
from mfscan.annotations import glob_escape
from mfscan.report.plots import (
    plot_asymmetry_over_visits,
    plot_bland_altman,
    plot_group_curves,
    plot_left_right,
    primary_rows,
)

__all__ = ["CSS", "render_html"]

_e = html.escape

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1150px;margin:24px auto;
padding:0 16px;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:3px;margin-top:1.8em}
.notice{background:#fff4e5;border-left:5px solid #E69F00;padding:10px 14px;margin:12px 0}
.warn{background:#fdecea;border-left:5px solid #D55E00;padding:10px 14px;margin:12px 0}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:.85em;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 7px;text-align:right;
white-space:nowrap}
th{background:#f3f3f3}td.t,th.t{text-align:left}tr.flag td{background:#fff0e0}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{background:#f6f8fa;border-radius:6px;padding:8px 14px}
.card b{font-size:1.4em;display:block}img.plot{max-width:100%;margin:6px 0}
details{margin:8px 0}summary{cursor:pointer;font-weight:600}.small{font-size:.85em;color:#555}
"""


def _table(df: pd.DataFrame, *, columns=None, flags=None, max_rows=500, digits=2, raw=()) -> str:
    """An HTML table; every value is escaped except the columns named in `raw`."""
    if df is None or df.empty:
        return "<p class='small'>(none)</p>"
    d = df[columns] if columns else df
    rows = []
    text_columns = {c for c in d.columns if d[c].dtype == object or str(d[c].dtype) in ("string", "category")}
    head = "".join(
        f"<th class='{'t' if c in text_columns else ''}'>{html.escape(str(c))}</th>" for c in d.columns
    )
    for i, (_, r) in enumerate(d.head(max_rows).iterrows()):
        cells = []
        for c in d.columns:
            v = r[c]
            if c in raw:
                cells.append(f"<td class='t'>{v}</td>")
                continue
            if isinstance(v, (float, np.floating)):
                s, cls = ("" if pd.isna(v) else f"{v:.{digits}f}"), ""
            elif isinstance(v, (bool, np.bool_)):
                s, cls = ("yes" if v else "no"), "t"
            elif v is None or (not isinstance(v, str) and pd.isna(v)):
                s, cls = "", ""
            else:
                s, cls = str(v), "t"
            cells.append(f"<td class='{cls}'>{html.escape(s)}</td>")
        flag = flags is not None and bool(flags.iloc[i])
        rows.append(f"<tr{' class=flag' if flag else ''}>{''.join(cells)}</tr>")
    more = f"<p class='small'>… {len(d) - max_rows} more rows in the CSV</p>" if len(d) > max_rows else ""
    return f"<div class='scroll'><table><tr>{head}</tr>{''.join(rows)}</table></div>{more}"


def _img(uri, alt: str) -> str:
    return f"<img class='plot' alt='{alt}' src='{uri}'>" if uri else ""


def _summary_part(res, study_dir) -> list[str]:
    """Title, research notice, counts and the warnings a reader must see first."""
    meas, errors = res.measurements, res.errors
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>mfscan report: {_e(Path(study_dir).name)}</title><style>{CSS}</style></head><body>",
        f"<h1>Multifidus ultrasound study report</h1>"
        f"<p class='small'>Study folder <code>{_e(Path(study_dir).name)}</code> · "
        f"mfscan {_e(__version__)}</p>",
        f"<div class='notice'><b>Research use only.</b> {_e(RESEARCH_NOTICE)}</div>",
    ]
    n_img = int(meas["image"].nunique()) if len(meas) else 0
    cards = [
        ("outlines measured", len(meas)),
        ("images", n_img),
        ("subjects", int(meas["subject"].nunique()) if len(meas) else 0),
        ("raters", int(meas["rater"].nunique()) if len(meas) else 0),
        ("problems", len(errors)),
    ]
    parts.append(
        "<div class='cards'>"
        + "".join(f"<div class='card'><b>{v}</b>{_e(k)}</div>" for k, v in cards)
        + "</div>"
    )
    if len(meas) and (meas["calibration"] == "none").any():
        n = int((meas["calibration"] == "none").sum())
        parts.append(
            f"<div class='warn'><b>{n} outline(s) come from uncalibrated images.</b> Their areas "
            "are in pixels only (csa_px2); cm columns are empty. Set a scale in the viewer or a "
            "calibration in the sidecar.</div>"
        )
    parts += _burned_in_warning(res.images)
    for note in res.notes:
        parts.append(f"<div class='warn'>{_e(note)}</div>")
    if not errors.empty:
        parts.append(
            f"<div class='warn'><b>{len(errors)} file(s) or outline(s) could not be measured</b>; "
            "see <a href='errors.csv'>errors.csv</a> and the list at the end.</div>"
        )
    return parts


def _burned_in_warning(images) -> list[str]:
    if images is None or not len(images):
        return []
    maybe = images["burned_in_annotation"].isin(["YES", "unknown"])
    n_dicom = int((maybe & (images["format"] == "dicom")).sum())
    n_export = int((maybe & (images["format"] != "dicom")).sum())
    if not (n_dicom or n_export):
        return []
    what = []
    if n_dicom:
        what.append(
            f"{n_dicom} DICOM image(s) whose header says so or does not rule it out "
            "(BurnedInAnnotation YES or absent)"
        )
    if n_export:
        what.append(
            f"{n_export} exported image(s) (PNG/JPEG/BMP/TIFF carry no such tag; scanner "
            "screenshots usually show text)"
        )
    return [
        "<div class='warn'><b>Images may carry burned-in text</b>: "
        + "; ".join(what)
        + ". Text in the pixels (names, dates, clinic) can identify a patient: check the QC "
        "images before sharing them.</div>"
    ]


_DEFINITIONS = {
    "hides": "(larger − smaller) / larger × 100 (Hides)",
    "smaller-side": "(larger − smaller) / smaller × 100",
    "index": "(right − left) / mean × 100 (signed)",
}


def _asymmetry_part(res, subjects, threshold_pct, index, measure) -> list[str]:
    """Definition, figures, flagged and incomplete rows, the largest level per visit."""
    asym = res.asymmetry
    parts = [
        "<h2>Side-to-side asymmetry</h2>"
        f"<p>Asymmetry = {_e(_DEFINITIONS[index])}, from the mean CSA of the repeated images per side; "
        f"flagged above {threshold_pct:g}%. Signed index: (right − left) / mean × 100. "
        "A 10% threshold is a convention, not a diagnostic cut-off.</p>",
        _img(plot_asymmetry_over_visits(asym, subjects, threshold_pct, index), "asymmetry over visits"),
        _img(plot_left_right(asym, threshold_pct, measure, index), "left vs right CSA"),
    ]
    primary = primary_rows(asym)
    flagged = primary[primary["exceeds_threshold"].fillna(False).astype(bool)]
    cols = _asymmetry_columns(asym, measure)
    who = ""
    if (
        primary["rater"].notna().any()
        and asym["rater"].nunique() > 1
        or ("session" in asym and asym["session"].notna().any())
    ):
        who = (
            (
                f" (rater {_e(str(primary['rater'].iloc[0]))}, first session; every rater and session "
                "is in asymmetry.csv and under 'All asymmetry rows')"
            )
            if len(primary)
            else ""
        )
    parts.append(f"<h3>Flagged asymmetries (&gt; {threshold_pct:g}%): {len(flagged)}{who}</h3>")
    parts.append(_table(flagged, columns=cols))
    missing = asym[asym["missing_reason"].notna()]
    if len(missing):
        parts.append(f"<h3>Incomplete: {len(missing)} row(s) with a side missing</h3>")
        parts.append(
            _table(
                missing,
                columns=[c for c in ["subject", "visit", "level", "rater", "missing_reason"] if c in missing],
            )
        )
    if res.largest is not None and len(res.largest) and asym["level"].nunique() > 1:
        lg = primary_rows(res.largest)
        lcols = [
            c
            for c in [
                "subject",
                "visit",
                "rater",
                "level",
                "n_levels",
                "asymmetry_pct",
                "smaller_side",
                f"left_{measure}",
                f"right_{measure}",
            ]
            if c in lg
        ]
        named = len(lg) and pd.notna(lg["rater"].iloc[0])
        whose = f" (rater {_e(str(lg['rater'].iloc[0]))})" if named else ""
        parts.append(
            "<details><summary>Level with the largest asymmetry per subject and visit"
            f"{whose}</summary>" + _table(lg, columns=lcols) + "</details>"
        )
    with_pd = (
        primary.dropna(subset=["symptomatic_deficit_pct"]) if "symptomatic_deficit_pct" in primary else None
    )
    if with_pd is not None and len(with_pd):
        share = with_pd["smaller_is_symptomatic"].astype(float).mean() * 100
        whose = f" (rater {_e(str(with_pd['rater'].iloc[0]))})" if with_pd["rater"].notna().any() else ""
        parts.append(
            f"<p>The smaller side is the symptomatic side in {share:.0f}% of the "
            f"{len(with_pd)} subject-visit-level rows with a unilateral symptomatic "
            f"side{whose}.</p>"
        )
    return parts


def _asymmetry_columns(asym, measure) -> list[str]:
    return [
        c
        for c in [
            "subject",
            "visit",
            "level",
            "rater",
            "group",
            "symptomatic_side",
            f"left_{measure}",
            f"right_{measure}",
            "n_left",
            "n_right",
            "smaller_side",
            "asymmetry_pct",
            "asymmetry_index_pct",
            "symptomatic_deficit_pct",
        ]
        if c in asym
    ]


def _groups_part(res, groups, measure) -> list[str]:
    """Group curves and table, then every asymmetry row."""
    asym = res.asymmetry
    parts = []
    img = plot_group_curves(groups)
    if img:
        parts.append("<h2>Groups over visits</h2>" + _img(img, "group curves"))
    if groups is not None and len(groups):
        gcols = [
            c
            for c in [
                "group",
                "visit",
                "level",
                "rater",
                "n_subjects",
                "asymmetry_pct_mean",
                "asymmetry_pct_sd",
                f"left_{measure}_mean",
                f"right_{measure}_mean",
                "asymmetry_change_pct_points_mean",
            ]
            if c in groups
        ]
        gtab = groups[groups["session"].isna()] if "session" in groups else groups
        parts.append(
            "<details><summary>Group summary table</summary>" + _table(gtab, columns=gcols) + "</details>"
        )
    parts.append(
        "<details><summary>All asymmetry rows</summary>"
        + _table(
            asym, columns=_asymmetry_columns(asym, measure), flags=asym["exceeds_threshold"].fillna(False)
        )
        + "</details>"
    )
    return parts


def _icc_text(r, form: str) -> list[str]:
    return [
        f"{a:.3f} [{b:.2f}, {c:.2f}]" if pd.notna(a) else ""
        for a, b, c in zip(r[form], r[f"{form}_ci_lower"], r[f"{form}_ci_upper"])
    ]


def _reliability_part(res, measure) -> list[str]:
    rel = res.reliability
    parts = [
        "<h2>Reliability</h2><p>ICC forms after Shrout &amp; Fleiss / McGraw &amp; Wong with 95% CI; "
        "between raters ICC(2,1) (absolute agreement), between sessions ICC(3,1) (consistency). "
        "SEM = SD × √(1 − ICC); MDC95 = 1.96 × √2 × SEM. Bands after Koo &amp; Li (2016). "
        "Targets are subject × visit × level × side, each rater's repeats averaged. "
        "ICC(2,1) counts a systematic difference between raters as disagreement and "
        "ICC(3,1) does not: a clearly lower ICC(2,1) (a low CI bound) points to a constant "
        "offset, which the Bland-Altman bias shows (for instance one rater tracing inside "
        "the border).</p>"
    ]
    shown = ["csa_cm2", "csa_px2", "ap_depth_cm", "lateral_width_cm", "echo_mean"]
    r = rel[rel["measure"].isin(shown)].copy()
    r["ICC(2,1) [95% CI]"] = _icc_text(r, "icc2_1")
    r["ICC(3,1) [95% CI]"] = _icc_text(r, "icc3_1")
    cols = [
        c
        for c in [
            "between",
            "measure",
            "level",
            "side",
            "rater",
            "judges",
            "n_targets",
            "ICC(2,1) [95% CI]",
            "ICC(3,1) [95% CI]",
            "band",
            "sem",
            "mdc95",
            "ba_pair",
            "ba_bias",
            "ba_loa_lower",
            "ba_loa_upper",
            "note",
        ]
        if c in r
    ]
    main = r["measure"].isin(["csa_cm2", "csa_px2"])
    parts.append("<p>Cross-sectional area (SEM, MDC95 and limits of agreement in cm²):</p>")
    parts.append(_table(r[main], columns=cols, digits=3))
    parts.append(
        "<details><summary>AP depth, lateral width and echo intensity</summary>"
        + _table(r[~main], columns=cols, digits=3)
        + "</details>"
    )
    parts.append(_img(plot_bland_altman(res.measurements, "rater", measure), "Bland-Altman plots"))
    return parts


def _images_part(res) -> list[str]:
    parts = [
        "<h2>Images and calibration</h2><p>Every image's calibration source and scale "
        "(dicom-region: the DICOM ultrasound region; scale-line: a line drawn over the depth "
        "ruler; manual; none: pixels only). QC overlays of every tracing are in "
        "<a href='qc/'>qc/</a>.</p>"
    ]
    cols = [
        "image",
        "format",
        "rows_px",
        "cols_px",
        "frames",
        "calibration",
        "row_mm",
        "col_mm",
        "burned_in_annotation",
        "lossy",
        "qc",
        "warnings",
    ]
    tab = res.images.copy()
    tab["qc"] = [_qc_links(res.out_dir, i) for i in tab["image"]]
    parts.append(_table(tab, columns=cols, digits=4, raw=("qc",)))
    return parts


def _closing_part(res) -> list[str]:
    parts = []
    if not res.errors.empty:
        parts.append("<h2>Problems</h2>" + _table(res.errors, columns=["path", "roi", "reason"]))
    parts.append(
        "<h2>Files</h2><ul>"
        + "".join(
            f"<li><a href='{_e(p.name)}'>{_e(p.name)}</a></li>" for p in res.files if p.suffix == ".csv"
        )
        + "</ul><p class='small'>Columns carry their units (csa_cm2, ap_depth_cm, asymmetry_pct). "
        "No DICOM patient, institution, date or device identifiers are exported; subjects are the "
        "study's own codes.</p>"
    )
    parts.append(f"<div class='notice'><b>Research use only.</b> {_e(RESEARCH_NOTICE)}</div></body></html>")
    return parts


def render_html(res, *, study_dir, subjects, groups, threshold_pct, index, measure) -> str:
    """The report page of a :class:`~mfscan.report.build.ReportResult`.

    Parameters
    ----------
    res : ReportResult
        The tables (``measurements``, ``asymmetry``, ``largest``, ``reliability``,
        ``images``, ``errors``), ``notes`` and ``files`` written.
    study_dir : path
        The study folder (only its name is shown).
    subjects : DataFrame or None
        The subjects table.
    groups : DataFrame or None
        The group summary.
    threshold_pct, index, measure
        As given to :func:`mfscan.stats.study.analyse_study` and the measure it used.
    """
    parts = _summary_part(res, study_dir)
    if res.asymmetry is not None and len(res.asymmetry):
        parts += _asymmetry_part(res, subjects, threshold_pct, index, measure)
        parts += _groups_part(res, groups, measure)
    if res.reliability is not None and len(res.reliability):
        parts += _reliability_part(res, measure)
    if res.images is not None and len(res.images):
        parts += _images_part(res)
    parts += _closing_part(res)
    return "\n".join(p for p in parts if p)


def _qc_links(out_dir: Path, image_label: str) -> str:
    stem = Path(image_label)
    folder = out_dir / "qc" / stem.parent
    if not folder.is_dir():
        return ""
    files = sorted(folder.glob(f"{glob_escape(stem.stem)}.*png"))
    return " ".join(
        f"<a href='{html.escape((Path('qc') / stem.parent / f.name).as_posix(), quote=True)}'>"
        f"{html.escape(f.name[len(stem.stem) + 1 : -4] or 'view')}</a>"
        for f in files
    )
