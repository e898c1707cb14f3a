"""The report's first and last sections: title, notice, counts and warnings; images and
calibration; problems, files and the closing notice."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from mfscan import RESEARCH_NOTICE, __version__
from mfscan.annotations import glob_escape
from mfscan.report._tables import table

__all__ = ["head_part", "summary_part", "images_part", "closing_part"]

_e = html.escape


def head_part(ctx, css: str) -> list[str]:
    """The document head, title and the research-use notice."""
    name = _e(ctx.study_dir.name)
    return [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>mfscan report: {name}</title><style>{css}</style></head><body>",
        f"<h1>Multifidus ultrasound study report</h1>"
        f"<p class='small'>Study folder <code>{name}</code> · mfscan {_e(__version__)}</p>",
        f"<div class='notice'><b>Research use only.</b> {_e(RESEARCH_NOTICE)}</div>",
    ]


def _group_sizes(ctx) -> list[tuple[str, int]]:
    """Subjects measured per group (from subjects.csv), natural order."""
    meas = ctx.res.measurements
    subj = ctx.subjects
    if subj is None or "group" not in subj or not len(meas):
        return []
    measured = set(meas["subject"].dropna().astype(str))
    s = subj[subj["subject"].astype(str).isin(measured)]
    counts = s.groupby(s["group"].fillna("(no group)").astype(str))["subject"].nunique()
    from mfscan.vocab import natural_sort_key

    return [(g, int(counts[g])) for g in sorted(counts.index, key=natural_sort_key)]


def summary_part(ctx) -> list[str]:
    """Counts (with n per group) and the warnings a reader must see first."""
    res = ctx.res
    meas, errors = res.measurements, res.errors
    n_img = int(meas["image"].nunique()) if len(meas) else 0
    kinds = (
        meas["kind"].astype(str) if "kind" in meas and len(meas) else pd.Series("outline", index=meas.index)
    )
    n_lines = int(kinds.isin(["thickness", "fat"]).sum())
    cards = [
        ("outlines measured", int((kinds == "outline").sum())),
        *([("thickness / fat lines", n_lines)] if n_lines else []),
        ("images", n_img),
        ("subjects", int(meas["subject"].nunique()) if len(meas) else 0),
        ("raters", int(meas["rater"].nunique()) if len(meas) else 0),
        ("problems", len(errors)),
    ]
    sizes = _group_sizes(ctx)
    cards += [(f"subjects in group {g}", n) for g, n in sizes]
    parts = [
        "<div class='cards'>"
        + "".join(f"<div class='card'><b>{v}</b>{_e(k)}</div>" for k, v in cards)
        + "</div>"
    ]
    single = [g for g, n in sizes if n == 1]
    if single:
        parts.append(
            f"<div class='warn'><b>n = 1</b> in group(s) {_e(', '.join(single))}: a group of one subject "
            "has no SD and no confidence interval; its means are one person's values.</div>"
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


def images_part(ctx) -> list[str]:
    res = ctx.res
    parts = [
        "<h2 id='images'>Images and calibration</h2><p>Every image's calibration source and scale "
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
    parts.append(table(tab, columns=[c for c in cols if c in tab], digits=4, raw=("qc",), key=["image"]))
    return parts


def closing_part(ctx) -> list[str]:
    res = ctx.res
    parts = []
    if not res.errors.empty:
        parts.append("<h2>Problems</h2>" + table(res.errors, columns=["path", "roi", "reason"]))
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
