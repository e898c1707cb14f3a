"""The report's first section: counts (subjects per group) and the warnings a reader must see first."""

from __future__ import annotations

import html

import pandas as pd

from mfscan.report._context import Context

__all__ = ["section"]

_e = html.escape


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


def section(ctx: Context) -> list[str]:
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
