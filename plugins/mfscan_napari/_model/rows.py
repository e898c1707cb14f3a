"""Display rows of the widget's table: measurements by the core, asymmetry by the core, warnings.

Every number shown comes from mfscan's core: the outlines are measured by
:func:`mfscan.measure.annotation.measure_annotation` (what ``mfscan measure`` writes
to its CSV) and the live asymmetry averages the repeats of each side with
:func:`mfscan.stats.summary.summarize_sides` and compares them with
:func:`mfscan.stats.asymmetry.asymmetry_pct` (what ``mfscan asymmetry`` does).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mfscan.annotations import Annotation
from mfscan.vocab import LEVELS, SIDES, level_or_none, side_or_none

__all__ = [
    "TABLE_COLUMNS",
    "measure_rows",
    "asymmetry_summary",
    "asymmetry_text",
    "outline_warnings",
    "redundant_columns",
    "short_status",
    "level_title",
]

#: Columns of the widget's table: (key, header).
TABLE_COLUMNS = (
    ("side", "Side"),
    ("level", "Level"),
    ("csa", "CSA ({u}²)"),
    ("ap", "AP ({u})"),
    ("lat", "Lat ({u})"),
    ("ratio", "AP/Lat"),
    ("echo", "Echo"),
    ("thick", "Thickness (cm)"),
    ("change", "Δ vs rest"),
    ("frame", "Frame"),
    ("status", "Status"),
)


def _fmt(v, nd=2):
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{nd}f}"


def measure_rows(image, annotation: Annotation, *, rest=None, override=None) -> list[dict]:
    """One display row per outline, measured by :func:`mfscan.measure.annotation.measure_annotation`.

    Returns
    -------
    list of dict
        In outline order. Each has ``side, level, frame, calibrated, value``
        (CSA in cm², or px² when uncalibrated), ``unit`` (``cm``, ``px`` or None),
        ``m`` (the core's measurement row or None), ``error`` (str or None),
        ``label`` (canvas text) and the formatted table cells
        (:data:`TABLE_COLUMNS`; lengths and areas in ``unit`` and its square).
        ``kind`` is ``outline``, ``thickness`` or ``fat``; a line's ``thick`` is its
        ``thickness_cm`` or ``fat_thickness_cm`` (the CSV's columns) and, on a
        ``contracted`` image, ``change`` its thickness change against the rest images
        (:func:`mfscan_napari._model.contraction.rest_change`).
    rest : callable, optional, keyword-only
        ``rest(annotation, row) -> (text, pct or None)`` for a contracted image's
        thickness rows (the widget passes one reading the rest images of the folder).
    override : Calibration, optional, keyword-only
        The scale to measure with, as the core chooses it for this sidecar
        (:func:`mfscan_napari._model.calibration.rater_calibration`: the image's shared scale
        for a rater who set none); default the annotation's own.
    """
    from mfscan.measure.annotation import measure_annotation

    rows, errors = measure_annotation(image, annotation, image_label="", sidecar_label="", override=override)
    by_roi = {r["roi"]: r for r in rows}
    err_by_roi = {e["roi"]: e.get("problem", e["reason"]) for e in errors}
    out = []
    for i, roi in enumerate(annotation.rois):
        m = by_roi.get(i)
        level = roi.level or annotation.level or ""
        d = {
            "side": roi.side,
            "level": level,
            "frame": int(roi.frame or 0),
            "m": m,
            "error": None,
            "calibrated": False,
            "value": float("nan"),
            "kind": roi.kind,
            "thick": "–",
            "change": "",
            "change_pct": None,
        }
        if m is None:
            reason = err_by_roi.get(i, "not measured")
            d["error"] = reason
            d.update(
                csa="–",
                ap="–",
                lat="–",
                ratio="–",
                echo="–",
                status=reason,
                unit=None,
                label=f"{roi.side}: error",
            )
        elif roi.kind != "outline":
            _line_row(d, m, roi, annotation, rest)
        else:
            cal = m["calibration"] != "none"
            d["calibrated"] = cal
            if cal:
                d["value"] = m["csa_cm2"]
                d.update(
                    csa=f"{m['csa_cm2']:.2f}",
                    ap=f"{m['ap_depth_cm']:.2f}",
                    lat=f"{m['lateral_width_cm']:.2f}",
                    unit="cm",
                    label=f"{roi.side}\n{m['csa_cm2']:.2f} cm²",  # two short lines: labels of the
                    # two sides, side by side at the fitted zoom, do not run into each other
                )
            else:
                d["value"] = m["csa_px2"]
                d.update(
                    csa=f"{m['csa_px2']:.0f}",
                    ap=f"{m['ap_depth_px']:.0f}",
                    lat=f"{m['lateral_width_px']:.0f}",
                    unit="px",
                    label=f"{roi.side}\n{m['csa_px2']:.0f} px²",
                )
            d.update(
                ratio=_fmt(m["shape_ratio"]),
                echo=f"{_fmt(m['echo_mean'], 1)} ± {_fmt(m['echo_sd'], 1)}",
                status="ok" if cal else "pixels only",
            )
        out.append(d)
    return out


def _line_row(d: dict, m: dict, roi, annotation: Annotation, rest) -> None:
    """The cells of a thickness or fat line: its length in cm (the CSV's column), no area."""
    col = "thickness_cm" if roi.kind == "thickness" else "fat_thickness_cm"
    v = float(m[col])
    cal = math.isfinite(v)
    d["calibrated"] = cal
    d.update(csa="–", ap="–", lat="–", ratio="–", echo="–", unit="cm" if cal else None)
    d["thick"] = f"{v:.2f}" if cal else "–"
    d["status"] = roi.kind if cal else f"{roi.kind}: pixels only ({m['length_px']:.0f} px)"
    name = "fat" if roi.kind == "fat" else "thick"
    d["label"] = f"{roi.side} {name} {v:.2f} cm" if cal else f"{roi.side} {name} {m['length_px']:.0f} px"
    if roi.kind == "thickness" and cal and rest is not None and (annotation.task or "") == "contracted":
        d["change"], d["change_pct"] = rest(annotation, d)


def _side_means(ok: list[dict]) -> dict:
    """``{level: {side: (mean, n)}}`` of measured rows, levels cranial to caudal.

    The means are :func:`mfscan.stats.summary.summarize_sides`'. When no side of
    a level was traced more than once there is nothing to average: the core's
    mean of a group of one finite value is that value (tested), and its few
    milliseconds of pandas per call are saved while a vertex is dragged.
    """
    from mfscan.stats.summary import summarize_sides

    keys = [(level_or_none(r["level"]), side_or_none(r["side"])) for r in ok]
    values = [float(r["value"]) for r in ok]
    means: dict = {}
    if (
        len(set(keys)) == len(keys)
        and all(s is not None for _lv, s in keys)
        and all(math.isfinite(v) for v in values)
    ):
        for (lv, side), v in zip(keys, values):
            means.setdefault(lv, {})[side] = (v, 1)
        return {lv: means[lv] for lv in sorted(means, key=LEVELS.index)}
    n = len(ok)
    table = pd.DataFrame(
        {
            "subject": ["-"] * n,
            "visit": ["1"] * n,
            "level": [r["level"] for r in ok],
            "side": [r["side"] for r in ok],
            "value": np.asarray(values, dtype=float),
        }
    )
    sides = summarize_sides(table, measures=["value"])
    for level, side, value, used in zip(
        sides["level"].tolist(),
        sides["side"].tolist(),
        sides["value"].to_numpy(),
        sides["value_n"].to_numpy(),
    ):
        if used > 0:
            means.setdefault(level, {})[side] = (float(value), int(used))
    return means


def asymmetry_summary(rows: list[dict]) -> list[dict]:
    """Hides asymmetry per level of the measured rows, computed by the core.

    The repeats of each side are averaged by :func:`mfscan.stats.summary.summarize_sides`
    and compared by :func:`mfscan.stats.asymmetry.asymmetry_pct` (``index="hides"``),
    as ``mfscan asymmetry`` does. Outlines without a level are left out (the
    core refuses them: they would form a group of their own), and so is a level
    measured partly in cm² and partly in px².

    Returns
    -------
    list of dict
        One per level with both sides, cranial to caudal: ``level, left, right,
        unit`` (``cm²`` or ``px²``), ``pct, larger`` (``left``, ``right`` or
        ``equal``), ``n_left, n_right``.
    """
    from mfscan.stats.asymmetry import asymmetry_pct

    ok = [
        r
        for r in rows
        if r["m"] is not None
        and r.get("kind", "outline") == "outline"
        and level_or_none(r["level"]) is not None
    ]
    units: dict = {}
    for r in ok:
        units.setdefault(level_or_none(r["level"]), set()).add(bool(r["calibrated"]))
    ok = [r for r in ok if len(units[level_or_none(r["level"])]) == 1]
    if not ok:
        return []
    means = _side_means(ok)
    paired = [lv for lv in means if all(s in means[lv] for s in SIDES)]
    left = np.array([means[lv]["left"][0] for lv in paired])
    right = np.array([means[lv]["right"][0] for lv in paired])
    pct = np.atleast_1d(asymmetry_pct(left, right, index="hides")) if paired else []
    out = []
    for lv, lval, rval, p in zip(paired, left, right, pct):
        out.append(
            {
                "level": lv,
                "left": float(lval),
                "right": float(rval),
                "unit": "cm²" if units[lv] == {True} else "px²",
                "pct": float(p),
                "larger": "left" if lval > rval else "right" if rval > lval else "equal",
                "n_left": means[lv]["left"][1],
                "n_right": means[lv]["right"][1],
            }
        )
    return out


#: Value columns hidden when no row has a value in them (a layer of lines shows no area columns).
VALUE_COLUMNS = ("csa", "ap", "lat", "ratio", "echo", "thick", "change")


def empty_columns(rows: list[dict]) -> set[str]:
    """The :data:`VALUE_COLUMNS` in which no row has a value ("–", "– ± –" or blank in all);
    with no rows, the line columns (the empty table shows its outline columns)."""
    if not rows:
        return {"thick", "change"}
    return {k for k in VALUE_COLUMNS if all(not str(r.get(k) or "").strip("–± ") for r in rows)}


def short_status(row: dict) -> str:
    """The Status cell of a display row, short (the full status is the cell's tooltip; errors are
    also listed under the table by :func:`outline_warnings`): ``ok``, ``px only``, ``error``, or
    a line's kind (``thickness``, ``fat``; ``thickness, px`` when uncalibrated)."""
    if row.get("error"):
        return "error"
    kind = row.get("kind", "outline")
    px = not row.get("calibrated")
    if kind != "outline":
        return f"{kind}, px" if px else kind
    return "px only" if px else "ok"


def redundant_columns(rows: list[dict]) -> set[str]:
    """Columns the table leaves out because they tell nothing the rest of the dock does not, so
    that no column is clipped in a narrow dock (1280x800): ``level`` when every row has the same
    level (then named in the panel's title, :func:`level_title`); ``status`` when every row is an
    outline (its status is then the colour and tooltip of the row's number: an error is also
    listed under the table, pixels only is in the headers' unit). A layer with lines keeps the
    column: it tells thickness from fat lines, and has no area columns."""
    out = set()
    levels = {r.get("level") or "" for r in rows}
    if len(levels) == 1 and "" not in levels:
        out.add("level")
    if all(r.get("kind", "outline") == "outline" for r in rows):
        out.add("status")
    return out


def level_title(rows: list[dict]) -> str:
    """The measurements panel's title: ``Measurements: L4`` when the Level column is left out."""
    if "level" in redundant_columns(rows):
        return f"Measurements: {rows[0]['level']}"
    return "Measurements"


def asymmetry_text(summary: list[dict], rows: list[dict] | None = None) -> str:
    """The asymmetry line under the table; `rows` (the table's) tell a layer of lines only apart."""
    if not summary and rows and all(r.get("kind", "outline") != "outline" for r in rows):
        return "Asymmetry: from left and right CSA outlines; lines are measured one by one."
    if not summary:
        return "Asymmetry: needs a left and a right outline of the same level."
    parts = []
    for a in summary:
        which = "sides equal" if a["larger"] == "equal" else f"{a['larger']} larger"
        nd = 2 if a["unit"] == "cm²" else 0
        parts.append(
            f"<b>{a['level'] or '(no level)'}: {a['pct']:.1f} %</b> "
            f"(left {a['left']:.{nd}f} / right {a['right']:.{nd}f} {a['unit']}; {which})"
        )
    return "Asymmetry, Hides (larger − smaller) / larger: " + "; ".join(parts)


def outline_warnings(annotation: Annotation, rows: list[dict]) -> list[str]:
    """Problems the rater should see: missing side, duplicates, unmeasurable outlines."""
    warns = []
    if not any(r.kind == "outline" for r in annotation.rois):
        return warns
    groups: dict = {}
    for r in rows:
        if r.get("kind", "outline") != "outline":
            continue
        groups.setdefault((r["level"], r["frame"]), []).append(r["side"])
    levels = sorted({k[0] for k in groups})
    for lv in levels:
        sides = [s for (l, _f), ss in groups.items() if l == lv for s in ss]
        name = lv or "(no level)"
        for s in SIDES:
            if s not in sides:
                warns.append(f"{name}: no {s} outline yet")
    for (lv, fr), ss in groups.items():
        for s in SIDES:
            if ss.count(s) > 1:
                where = f"{lv or '(no level)'}" + (f", frame {fr}" if fr else "")
                warns.append(
                    f"{where}: {ss.count(s)} {s} outlines of the same level (repeats? otherwise delete one)"
                )
    if any(not r["level"] for r in rows):
        warns.append("some outlines have no vertebral level: choose the level before tracing")
    for i, r in enumerate(rows):
        if r["error"]:
            warns.append(f"outline {i + 1} ({r['side']}): {r['error']}")
    return warns
