"""Pure model logic of the napari plugin: no Qt, no viewer.

Everything here converts between mfscan's core objects (:class:`mfscan.io.images.Image`,
:class:`mfscan.annotations.sidecar.Annotation`) and napari layer data (arrays, layer
keyword dictionaries, ``features`` tables), and measures outlines through the
core (:func:`mfscan.measure.batch.measure_annotation`), so the widget shows exactly what
``mfscan measure`` writes to its CSV.

Layer metadata
--------------
Every layer the plugin creates carries ``layer.metadata["mfscan"]``:

* image layers: ``{"kind": "image", "image_path", "calibration", "n_frames"}``;
  ``calibration`` is the effective calibration as a dict (the image's own, or the
  scale line / manual one set in the widget).
* outline (Shapes) layers: ``{"kind": "outlines", "image_path", "sidecar_path",
  "digest", "annotation", "n_frames"}``; ``annotation`` holds the Annotation's
  non-ROI fields as written in the file (subject, visit, level, rater,
  calibration, unknown extra fields), ``digest`` the SHA-256 of the sidecar when
  read or last saved (conflict detection in :func:`mfscan.annotations.sidecar.write_sidecar`).

Per-outline fields live in ``layer.features``: ``side`` (categorical left/right),
``level``, ``rater``, ``method``, ``frame``, ``label`` (the canvas text) and
``_roi`` (JSON of what the file held that has no column: region, explicit level
and frame, unknown fields such as a proposal's ``confidence``), so a round trip
through napari loses nothing. ``_roi["id"]`` indexes ``original_points``: the
vertices an outline had when read or added by Propose / Live-wire, which tells
an edited ``proposed`` outline (recorded as ``proposed-edited``) from an untouched one.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mfscan.measure import batch
from mfscan.annotations import (
    LEVELS, SIDES, SUFFIX, Annotation, AnnotationConflictError, ROI, conflict_path, from_dict,
    find_sidecars, read_sidecar, sidecar_path, write_sidecar,
)
from mfscan.calibration import UNCALIBRATED, Calibration, from_scale_line
from mfscan.errors import MfscanError

KEY = "mfscan"
#: Edge colours of the two sides on the canvas (left, right), colour-blind safe.
SIDE_COLORS = {"left": "#00e5ff", "right": "#ff9100"}
FEATURE_COLUMNS = ("side", "level", "rater", "method", "frame", "label", "_roi")
#: Columns of the widget's table: (key, header).
TABLE_COLUMNS = (
    ("side", "Side"), ("level", "Level"), ("csa", "CSA ({u}²)"), ("ap", "AP ({u})"),
    ("lat", "Lat ({u})"), ("ratio", "AP/Lat"), ("echo", "Echo ± SD"), ("frame", "Frame"),
    ("status", "Status"),
)


# --------------------------------------------------------------------------- images

_IMAGE_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 4


_MEMORY_IMAGES: dict = {}
MEMORY_PREFIX = "memory:"


def register_memory_image(key: str, image) -> str:
    """Make an in-memory image (sample data) available to :func:`get_image` as ``memory:<key>``."""
    name = MEMORY_PREFIX + key
    _MEMORY_IMAGES[name] = image
    return name


def image_key(image) -> str:
    """The ``image_path`` stored in layer metadata: the resolved file, or ``memory:<key>``."""
    p = str(image.path)
    return p if p.startswith(MEMORY_PREFIX) else str(Path(p).resolve())


def get_image(path):
    """Load an image through :func:`mfscan.io.images.load_image`, cached.

    The cache holds the last few images, keyed by path, size and modification time,
    so the widget can measure against the image the reader displayed without
    decoding it again. ``memory:<key>`` names an image registered with
    :func:`register_memory_image` (sample data).
    """
    from mfscan.io.images import load_image

    if str(path).startswith(MEMORY_PREFIX):
        try:
            return _MEMORY_IMAGES[str(path)]
        except KeyError:
            raise MfscanError("the sample image is no longer available; reopen it") from None
    p = Path(path).resolve()
    try:
        st = p.stat()
    except OSError as e:
        from mfscan.errors import ImageReadError
        raise ImageReadError(f"cannot open the image ({e.strerror or e}); was it moved or renamed?", p) from None
    key = (str(p), st.st_size, st.st_mtime_ns)
    img = _IMAGE_CACHE.get(key)
    if img is None:
        img = load_image(p)
        _IMAGE_CACHE[key] = img
        while len(_IMAGE_CACHE) > _CACHE_SIZE:
            _IMAGE_CACHE.popitem(last=False)
    else:
        _IMAGE_CACHE.move_to_end(key)
    return img


def layer_scale(cal: Calibration, n_frames: int = 1) -> tuple:
    """napari ``scale``: ``(row_mm, col_mm)`` (1, 1 uncalibrated), frame axis 1."""
    s = tuple(float(v) for v in cal.spacing)
    return ((1.0,) + s) if n_frames > 1 else s


def layer_units(cal: Calibration, n_frames: int = 1) -> tuple:
    """napari ``units``: ``mm`` calibrated, ``pixel`` otherwise."""
    u = ("mm", "mm") if cal.calibrated else ("pixel", "pixel")
    return (("pixel",) + u) if n_frames > 1 else u


def image_layer_data(image, calibration: Calibration | None = None, *, name: str | None = None) -> tuple:
    """napari layer data tuple ``(data, kwargs, "image")`` of a loaded image.

    Parameters
    ----------
    image : mfscan.io.images.Image
    calibration : Calibration, optional
        The effective calibration (default: the image's own).
    name : str, optional
        Layer name (default: the file name).
    """
    cal = image.calibration if calibration is None else calibration
    n = image.n_frames
    data = image.pixels if n > 1 else image.pixels[0]
    rgb = image.pixels.ndim == 4
    kwargs = {
        "name": name or Path(image.path).name,
        "scale": layer_scale(cal, n),
        "units": layer_units(cal, n),
        "rgb": rgb,
        "metadata": {KEY: {"kind": "image", "image_path": image_key(image),
                           "calibration": cal.to_dict(), "n_frames": n,
                           "warnings": list(image.warnings)}},
    }
    if not rgb:
        hi = 255 if image.pixels.dtype == np.uint8 else float((1 << int(image.bit_depth)) - 1)
        kwargs["contrast_limits"] = (0, hi)
    return data, kwargs, "image"


def effective_calibration(image, annotation: Annotation | None) -> Calibration:
    """The calibration an image is measured with (core rule, :func:`mfscan.measure.batch.effective_calibration`)."""
    return batch.effective_calibration(annotation, image)


def calibration_text(cal: Calibration) -> tuple[str, bool]:
    """Status text for a calibration and whether it is a warning."""
    if not cal.calibrated:
        return ("NOT CALIBRATED: areas are in pixels², not cm². Use “Set scale” on the depth ruler.", True)
    names = {"dicom-region": "DICOM ultrasound region", "dicom-pixel-spacing": "DICOM PixelSpacing",
             "scale-line": "scale line", "manual": "typed by user"}
    src = names.get(cal.source, cal.source)
    if cal.source == "dicom-region" and cal.region is not None:
        src += f" {cal.region}"
    if math.isclose(cal.row_mm, cal.col_mm, rel_tol=1e-9):
        mm = f"{cal.row_mm:.4g} mm/px"
    else:
        mm = f"{cal.row_mm:.4g} × {cal.col_mm:.4g} mm/px (row × col)"
    return (f"Calibrated: {mm} ({src})", False)


# --------------------------------------------------------------------------- outlines

def _side_categorical(values) -> pd.Categorical:
    return pd.Categorical(list(values), categories=list(SIDES))


def features_frame(rows: list[dict]) -> pd.DataFrame:
    """A ``features`` table with the plugin's columns and dtypes."""
    df = pd.DataFrame({
        "side": _side_categorical([r["side"] for r in rows]),
        "level": pd.Series([r.get("level") or "" for r in rows], dtype=object),
        "rater": pd.Series([r.get("rater") or "" for r in rows], dtype=object),
        "method": pd.Series([r.get("method") or "manual" for r in rows], dtype=object),
        "frame": pd.Series([int(r.get("frame") or 0) for r in rows], dtype=int),
        "label": pd.Series([r.get("label", "") for r in rows], dtype=object),
        "_roi": pd.Series([r.get("_roi", "{}") for r in rows], dtype=object),
    })
    return df


def annotation_fields(annotation: Annotation) -> dict:
    """The Annotation as a dict without its outlines (what a layer's metadata keeps)."""
    d = annotation.to_dict()
    d.pop("rois", None)
    return d


def new_annotation(image_path, *, subject=None, visit=None, level=None, rater=None) -> Annotation:
    """A fresh, empty Annotation for an image (fields left None when empty)."""
    name = str(image_path)
    name = name[len(MEMORY_PREFIX):] if name.startswith(MEMORY_PREFIX) else Path(name).name
    return Annotation(image=name, subject=subject or None, visit=visit or None,
                      level=level or None, rater=rater or None)


def outline_layer_name(rater: str | None) -> str:
    return f"outlines {rater}" if rater else "outlines"


def shapes_layer_data(image, annotation: Annotation, *, sidecar: str | Path | None,
                      calibration: Calibration | None = None, labels: bool = True) -> tuple:
    """napari layer data tuple ``(data, kwargs, "shapes")`` of one sidecar's outlines.

    Coordinates are in data pixels ``(row, col)``, with a leading frame
    coordinate for cine images; ``scale`` equals the image layer's.
    """
    cal = calibration if calibration is not None else effective_calibration(image, annotation)
    n = image.n_frames
    data, rows = [], []
    for roi in annotation.rois:
        pts = np.asarray(roi.points, float)
        frame = int(roi.frame or 0)
        if n > 1:
            pts = np.column_stack([np.full(len(pts), float(frame)), pts])
        data.append(pts)
        hidden = {"id": len(data) - 1, "region": roi.region, "level": roi.level, "frame": roi.frame,
                  "extra": roi.extra}
        rows.append({"side": roi.side, "level": roi.level or annotation.level or "",
                     "rater": annotation.rater or "", "method": roi.method, "frame": frame,
                     "_roi": json.dumps(hidden, ensure_ascii=False)})
    if labels and rows:
        table = measure_rows(image, annotation)
        for r, t in zip(rows, table, strict=True):
            r["label"] = t["label"]
    meta = {KEY: {
        "kind": "outlines",
        "image_path": image_key(image),
        "sidecar_path": None if sidecar is None else str(sidecar),
        "digest": annotation.digest,
        "annotation": annotation_fields(annotation),
        "n_frames": n,
        # napari keeps vertices as float32: the file's float64 values are kept
        # here and written back for outlines that were not edited.
        "original_points": [d.copy() for d in data],
    }}
    kwargs = shapes_layer_kwargs(cal, n, features_frame(rows), meta,
                                 name=outline_layer_name(annotation.rater))
    kwargs["shape_type"] = "polygon"
    if not data:
        kwargs["ndim"] = 3 if n > 1 else 2
    return data, kwargs, "shapes"


def shapes_layer_kwargs(cal: Calibration, n_frames: int, features: pd.DataFrame, metadata: dict,
                        *, name: str) -> dict:
    """Keyword arguments of an outline layer (colours by side, text label, scale, units)."""
    return {
        "name": name,
        "scale": layer_scale(cal, n_frames),
        "units": layer_units(cal, n_frames),
        "features": features,
        "edge_color": "side",
        "edge_color_cycle": [SIDE_COLORS[s] for s in SIDES],
        "edge_width": 2,
        "opacity": 1.0,
        "face_color": "transparent",
        "text": {"string": "{label}", "color": "white", "size": 10, "anchor": "center"},
        "metadata": metadata,
    }


def _hidden(value) -> dict:
    try:
        d = json.loads(value) if isinstance(value, str) and value else {}
    except ValueError:
        d = {}
    return d if isinstance(d, dict) else {}


def annotation_from_layer(data, features: pd.DataFrame, metadata: dict) -> Annotation:
    """Rebuild the Annotation from a Shapes layer's data, features and metadata.

    Parameters
    ----------
    data : list of (N, 2) or (N, 3) arrays
        Polygon vertices in data pixels (a leading frame coordinate for cine).
    features : DataFrame
        The layer's features (missing columns take defaults).
    metadata : dict
        The layer's metadata (``metadata["mfscan"]`` as set by the reader).

    Returns
    -------
    Annotation
        With ``path`` and ``digest`` of the sidecar it was read from, so that
        :func:`mfscan.annotations.sidecar.write_sidecar` detects a change on disk.
    """
    m = (metadata or {}).get(KEY, {})
    fields = dict(m.get("annotation") or {})
    image_path = m.get("image_path")
    if "image" not in fields:
        if not image_path:
            raise MfscanError("this Shapes layer does not belong to an image opened by mfscan")
        fields["image"] = Path(image_path).name
    fields.setdefault("format", "mfscan.annotation")
    fields.setdefault("version", 1)
    fields["rois"] = []
    ann = from_dict(fields)
    n = len(data)
    feats = features.reset_index(drop=True) if features is not None else pd.DataFrame(index=range(n))
    originals = m.get("original_points") or []
    for i in range(n):
        pts = np.asarray(data[i], float)
        row = feats.iloc[i] if i < len(feats) else pd.Series(dtype=object)
        hidden = _hidden(row.get("_roi"))
        k = hidden.get("id")
        if isinstance(k, int) and 0 <= k < len(originals):
            orig = np.asarray(originals[k], float)
            if orig.shape == pts.shape and np.array_equal(orig.astype(np.float32), pts.astype(np.float32)):
                pts = orig  # unchanged outline: the exact values read from the file
        side = row.get("side")
        if side is None or (isinstance(side, float) and math.isnan(side)) or str(side) not in SIDES:
            raise MfscanError(f"outline {i} has no side (left or right); set it before saving")
        side = str(side)
        if pts.shape[1] == 3:
            frame = int(round(float(np.median(pts[:, 0]))))
            pts = pts[:, 1:]
        else:
            f = row.get("frame")
            frame = 0 if f is None or pd.isna(f) else int(f)
        orig_frame = hidden.get("frame")
        frame_out = orig_frame if frame == int(orig_frame or 0) else frame
        lv = row.get("level")
        lv = str(lv).strip().upper() if isinstance(lv, str) and lv.strip() else None
        orig_level = hidden.get("level")
        level_out = orig_level if lv == (orig_level or ann.level) else lv
        if level_out is not None and level_out not in LEVELS:
            raise MfscanError(f"outline {i} has unknown level {level_out!r}")
        method = row.get("method")
        method = str(method) if isinstance(method, str) and method else "manual"
        ann.rois.append(ROI(side, pts, level_out, frame_out, hidden.get("region"), method,
                            dict(hidden.get("extra") or {})))
    sc = m.get("sidecar_path")
    ann.path = Path(sc) if sc and m.get("digest") else None
    ann.digest = m.get("digest")
    return ann


# --------------------------------------------------------------------------- semi-automatic outlining

#: Methods recorded for outlines made by the semi-automatic tools.
METHOD_PROPOSED, METHOD_LIVEWIRE = "proposed", "livewire"
#: A proposal below this confidence is flagged "check carefully".
LOW_CONFIDENCE = 0.5


def layer_calibration(image, metadata: dict, seed_rc=None) -> Calibration:
    """The calibration an outline layer's outlines are measured with.

    The sidecar's scale line / manual calibration (kept in the layer's
    metadata) when set, else the image's (:func:`mfscan.measure.batch.effective_calibration`);
    with DICOM ultrasound regions, the scale of the region holding `seed_rc`.
    """
    ac = ((metadata or {}).get(KEY, {}).get("annotation") or {}).get("calibration")
    ann = None
    if ac:
        ann = Annotation(image="", calibration=Calibration.from_dict(ac))
    cal = effective_calibration(image, ann)
    if seed_rc is not None and cal.source == "dicom-region":
        from mfscan.calibration import calibration_for_points
        cal = calibration_for_points([tuple(seed_rc)], image.regions, cal)
    return cal


def propose(image, frame: int, seed_rc, calibration: Calibration, side: str | None = None):
    """Propose an outline around `seed_rc` on one frame (:func:`mfscan.assist.propose.propose_outline`).

    The frame's grayscale is used with its coloured overlay pixels excluded and
    the calibration's pixel size. Raises :class:`mfscan.assist.propose.ProposalError`.
    """
    from mfscan.assist.propose import propose_outline

    frame = int(frame)
    return propose_outline(image.gray[frame], (float(seed_rc[0]), float(seed_rc[1])),
                           spacing=calibration.mm_per_pixel, side=side,
                           exclude=image.overlay_frame(frame))


def proposal_text(side: str, confidence: float) -> tuple[str, bool]:
    """Status text after a proposal and whether it is a warning (low confidence)."""
    if confidence < LOW_CONFIDENCE:
        return (f"Proposed {side} outline, LOW confidence {confidence:.2f} — check the whole border "
                "carefully and edit it (or delete it and trace by hand).", True)
    return (f"Proposed {side} outline, confidence {confidence:.2f} — check and edit the border.", False)


def livewire_segment(image, frame: int, start_rc, end_rc) -> np.ndarray:
    """The edge-following path between two anchors on one frame (:func:`mfscan.assist.livewire.livewire_path`)."""
    from mfscan.assist.livewire import livewire_path

    return livewire_path(image.gray[int(frame)], start_rc, end_rc)


def clean_anchors(anchors, tol: float = 2.0) -> np.ndarray:
    """Live-wire anchors without repeats: consecutive clicks within `tol` pixels
    (a double-click) and a last click on the first one (closing on it) are dropped."""
    out: list = []
    for p in np.asarray(anchors, float).reshape(-1, 2):
        if out and np.hypot(*(p - out[-1])) <= tol:
            continue
        out.append(p)
    while len(out) > 3 and np.hypot(*(out[-1] - out[0])) <= tol:
        out.pop()
    return np.asarray(out, float).reshape(-1, 2)


def livewire_outline(image, frame: int, anchors) -> np.ndarray:
    """Closed live-wire outline through the anchors (:func:`mfscan.assist.livewire.trace_livewire`).

    Raises :class:`mfscan.assist.livewire.LivewireError` with fewer than 3 distinct
    anchors, or when the outline would collapse (the closing wire ran back along
    the border already traced).
    """
    from mfscan.assist.livewire import LivewireError, trace_livewire
    from mfscan.measure import polygon_area

    a = clean_anchors(anchors)
    if len(a) < 3:
        raise LivewireError(f"a closed outline needs at least 3 anchors, got {len(a)}")
    pts = trace_livewire(image.gray[int(frame)], a, closed=True)
    if len(pts) < 3 or polygon_area(pts) < 0.5 * polygon_area(a):
        raise LivewireError("the live-wire outline collapsed: the wire that closes it ran along the "
                            "border already traced. Place anchors along the rest of the border, then close.")
    return pts


def register_new_outline(metadata: dict, data_points, extra: dict | None = None) -> str:
    """The ``_roi`` feature of an outline the plugin adds (proposal, live wire).

    Its vertices are kept as ``original_points`` (as for outlines read from a
    file): unchanged outlines are saved with their exact values, and an edit is
    detected by comparing with them (:func:`edited_methods`). `extra` (e.g.
    ``{"confidence": 0.87}``) is written into the sidecar's ROI.
    """
    m = metadata.setdefault(KEY, {})
    originals = m.setdefault("original_points", [])
    originals.append(np.array(data_points, float, copy=True))
    hidden = {"id": len(originals) - 1}
    if extra:
        hidden["extra"] = dict(extra)
    return json.dumps(hidden, ensure_ascii=False)


def outline_changed(points, roi_feature, metadata: dict) -> bool | None:
    """Whether an outline's vertices differ from those it had when read or added.

    None when there is nothing to compare with (an outline drawn by hand).
    """
    k = _hidden(roi_feature).get("id")
    originals = (metadata or {}).get(KEY, {}).get("original_points") or []
    if not isinstance(k, int) or not 0 <= k < len(originals):
        return None
    orig = np.asarray(originals[k], float)
    pts = np.asarray(points, float)
    return not (orig.shape == pts.shape and np.array_equal(orig.astype(np.float32), pts.astype(np.float32)))


def edited_methods(data, features: pd.DataFrame, metadata: dict, indices=None) -> dict:
    """New ``method`` values of outlines a rater edited: ``{index: "proposed-edited"}``.

    Only ``proposed`` outlines change (:func:`mfscan.assist.propose.edited_method`);
    `indices` limits the check (default: all outlines).
    """
    from mfscan.assist.propose import edited_method

    if features is None or "method" not in features.columns:
        return {}
    n = min(len(data), len(features))
    idx = range(n) if indices is None else [i for i in indices if isinstance(i, (int, np.integer)) and 0 <= i < n]
    out = {}
    for i in idx:
        old = features["method"].iloc[i]
        if old != METHOD_PROPOSED:
            continue
        roi = features["_roi"].iloc[i] if "_roi" in features.columns else None
        changed = outline_changed(data[i], roi, metadata)
        new = edited_method(old, True if changed is None else changed)
        if new != old:
            out[int(i)] = new
    return out


# --------------------------------------------------------------------------- measuring

def _fmt(v, nd=2):
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{nd}f}"


def measure_rows(image, annotation: Annotation) -> list[dict]:
    """One display row per outline, measured by :func:`mfscan.measure.batch.measure_annotation`.

    Returns
    -------
    list of dict
        In outline order. Each has ``side, level, frame, calibrated, value``
        (CSA in cm², or px² when uncalibrated), ``unit`` (``cm``, ``px`` or None),
        ``m`` (the core's measurement row or None), ``error`` (str or None),
        ``label`` (canvas text) and the formatted table cells
        (:data:`TABLE_COLUMNS`; lengths and areas in ``unit`` and its square).
    """
    rows, errors = batch.measure_annotation(image, annotation, image_label="", sidecar_label="")
    by_roi = {r["roi"]: r for r in rows}
    err_by_roi = {e["roi"]: e.get("problem", e["reason"]) for e in errors}
    out = []
    for i, roi in enumerate(annotation.rois):
        m = by_roi.get(i)
        level = roi.level or annotation.level or ""
        d = {"side": roi.side, "level": level, "frame": int(roi.frame or 0), "m": m,
             "error": None, "calibrated": False, "value": float("nan")}
        if m is None:
            reason = err_by_roi.get(i, "not measured")
            d["error"] = reason
            d.update(csa="–", ap="–", lat="–", ratio="–", echo="–", status=reason, unit=None,
                     label=f"{roi.side}: error")
        else:
            cal = m["calibration"] != "none"
            d["calibrated"] = cal
            if cal:
                d["value"] = m["csa_cm2"]
                d.update(csa=f"{m['csa_cm2']:.2f}", ap=f"{m['ap_depth_cm']:.2f}",
                         lat=f"{m['lateral_width_cm']:.2f}", unit="cm",
                         label=f"{roi.side} {m['csa_cm2']:.2f} cm²")
            else:
                d["value"] = m["csa_px2"]
                d.update(csa=f"{m['csa_px2']:.0f}", ap=f"{m['ap_depth_px']:.0f}",
                         lat=f"{m['lateral_width_px']:.0f}", unit="px",
                         label=f"{roi.side} {m['csa_px2']:.0f} px²")
            d.update(ratio=_fmt(m["shape_ratio"]),
                     echo=f"{_fmt(m['echo_mean'], 1)} ± {_fmt(m['echo_sd'], 1)}",
                     status="ok" if cal else "pixels only")
        out.append(d)
    return out


def asymmetry_summary(rows: list[dict]) -> list[dict]:
    """Hides asymmetry per (level, frame-independent) of the measured rows.

    Repeats of one side are averaged (as the batch summary does). Returns one
    dict per level with both sides: ``level, left, right, unit, pct, larger``.
    """
    from mfscan.stats.asymmetry import asymmetry_pct

    out = []
    levels = sorted({r["level"] for r in rows if r["m"] is not None},
                    key=lambda s: LEVELS.index(s) if s in LEVELS else 99)
    for lv in levels:
        ok = [r for r in rows if r["m"] is not None and r["level"] == lv]
        units = {r["calibrated"] for r in ok}
        if len(units) != 1:
            continue
        vals = {s: [r["value"] for r in ok if r["side"] == s] for s in SIDES}
        if not vals["left"] or not vals["right"]:
            continue
        left, right = float(np.mean(vals["left"])), float(np.mean(vals["right"]))
        pct = float(asymmetry_pct(left, right, index="hides"))
        out.append({"level": lv, "left": left, "right": right, "unit": "cm²" if units == {True} else "px²",
                    "pct": pct, "larger": "left" if left > right else "right" if right > left else "equal",
                    "n_left": len(vals["left"]), "n_right": len(vals["right"])})
    return out


def asymmetry_text(summary: list[dict]) -> str:
    if not summary:
        return "Asymmetry: needs a left and a right outline of the same level."
    parts = []
    for a in summary:
        which = "sides equal" if a["larger"] == "equal" else f"{a['larger']} larger"
        nd = 2 if a["unit"] == "cm²" else 0
        parts.append(f"<b>{a['level'] or '(no level)'}: {a['pct']:.1f} %</b> "
                     f"(left {a['left']:.{nd}f} / right {a['right']:.{nd}f} {a['unit']}; {which})")
    return "Asymmetry, Hides (larger − smaller) / larger: " + "; ".join(parts)


def outline_warnings(annotation: Annotation, rows: list[dict]) -> list[str]:
    """Problems the rater should see: missing side, duplicates, unmeasurable outlines."""
    warns = []
    if not annotation.rois:
        return warns
    groups: dict = {}
    for r in rows:
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
                warns.append(f"{where}: {ss.count(s)} {s} outlines of the same level "
                             "(repeats? otherwise delete one)")
    if any(not r["level"] for r in rows):
        warns.append("some outlines have no vertebral level: choose the level before tracing")
    for i, r in enumerate(rows):
        if r["error"]:
            warns.append(f"outline {i + 1} ({r['side']}): {r['error']}")
    return warns


# --------------------------------------------------------------------------- saving

@dataclass
class SaveResult:
    """What :func:`save_annotation` did."""

    path: Path
    conflict: bool = False
    message: str = ""


def save_annotation(annotation: Annotation, path) -> SaveResult:
    """Save through :func:`mfscan.annotations.sidecar.write_sidecar`; never lose edits.

    When the sidecar changed on disk since it was read (another window or rater
    saved it), the edits are written to a conflict file beside it instead
    (:func:`conflict_path`) and ``conflict=True`` is returned with a message.
    """
    path = Path(path)
    try:
        written = write_sidecar(path, annotation)
        return SaveResult(written)
    except AnnotationConflictError:
        cp = conflict_path(path, annotation.rater)
        written = write_sidecar(cp, annotation, force=True)
        return SaveResult(written, True,
                          f"{path.name} was changed on disk by someone else since it was opened. "
                          f"Your outlines were NOT written over it; they were saved to {written.name}. "
                          "Compare the two files and merge by hand.")


def layer_sidecar_path(metadata: dict, rater: str | None = None) -> Path:
    """Where an outline layer saves: its sidecar, else ``<stem>[.<rater>].mfscan.json``."""
    m = metadata.get(KEY, {})
    if m.get("sidecar_path"):
        return Path(m["sidecar_path"])
    ip = m.get("image_path")
    if not ip:
        raise MfscanError("this Shapes layer does not belong to an image opened by mfscan")
    if str(ip).startswith(MEMORY_PREFIX):
        raise MfscanError("the sample image exists only in memory; save outlines on an image opened "
                          "from a file")
    if rater is None:
        rater = (m.get("annotation") or {}).get("rater")
    return sidecar_path(ip, rater or None)


def save_layer_state(data, features, metadata: dict, path=None) -> SaveResult:
    """Save a Shapes layer's outlines; updates ``metadata`` (path, digest) in place."""
    ann = annotation_from_layer(data, features, metadata)
    m = metadata.setdefault(KEY, {})
    target = Path(path) if path is not None else layer_sidecar_path(metadata)
    if ann.path is not None and Path(ann.path).resolve() != target.resolve():
        # Saving under another name: a fresh file there (refused if one exists).
        ann.path, ann.digest = None, None
    res = save_annotation(ann, target)
    m["sidecar_path"] = str(res.path)
    m["digest"] = ann.digest
    return res


def recovery_dir() -> Path:
    """``<config dir>/recovery``: where outlines that could not be saved are kept (:func:`write_recovery`)."""
    return default_config_dir() / "recovery"


def recovery_path(metadata: dict, folder=None, when: float | None = None) -> Path:
    """``<folder>/<image stem>[.<rater>].<YYYYmmdd-HHMMSS>.mfscan.json`` (unique; default folder
    :func:`recovery_dir`)."""
    m = (metadata or {}).get(KEY, {})
    ip = str(m.get("image_path") or (m.get("annotation") or {}).get("image") or "outlines")
    name = ip[len(MEMORY_PREFIX):] if ip.startswith(MEMORY_PREFIX) else ip
    stem = Path(name).stem or "outlines"
    rater = (m.get("annotation") or {}).get("rater")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when))
    folder = Path(folder) if folder is not None else recovery_dir()
    mid = f".{rater}" if rater else ""
    p = folder / f"{stem}{mid}.{stamp}{SUFFIX}"
    k = 1
    while p.exists():
        p = folder / f"{stem}{mid}.{stamp}-{k}{SUFFIX}"
        k += 1
    return p


def write_recovery(data, features, metadata: dict, folder=None, when: float | None = None,
                   reuse=None) -> Path:
    """Write an outline layer's outlines to a recovery file; returns its path.

    The safety net when a layer with unsaved edits is about to disappear and its
    sidecar cannot be written (read-only share, full disk): the annotation, as
    :func:`save_layer_state` would have written it, goes to
    :func:`recovery_path` (atomically, :func:`mfscan.annotations.sidecar.atomic_write_bytes`).
    Copy it beside the image under the sidecar's name to use it. ``metadata`` is
    not changed. `reuse`: a recovery file written before; returned as is when it
    already holds exactly these outlines (no second copy when, e.g., the window
    closes and then its layers are removed). Raises :class:`MfscanError` when even
    that file cannot be written.
    """
    from mfscan.annotations import atomic_write_bytes, dumps

    ann = annotation_from_layer(data, features, metadata)
    text = dumps(ann).encode("utf-8")
    if reuse is not None:
        try:
            if Path(reuse).read_bytes() == text:
                return Path(reuse)
        except OSError:
            pass
    p = recovery_path(metadata, folder, when)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(p, text)
    except OSError as e:
        raise MfscanError(f"cannot write a recovery copy ({e.strerror or e})", p) from None
    return p


# --------------------------------------------------------------------------- reading

def sidecar_image_path(sidecar) -> Path:
    """The image a sidecar names (resolved beside the sidecar)."""
    ann = read_sidecar(sidecar)
    return (Path(sidecar).parent / ann.image).resolve()


def read_layers(path) -> list[tuple]:
    """Layer data tuples for an image (or a sidecar): the image and one outline layer per sidecar.

    The image layer carries the effective calibration: the one stored by a
    scale line or by hand in a sidecar, otherwise the image's own.
    """
    path = Path(path)
    if path.name.endswith(SUFFIX):
        sidecar = path
        path = sidecar_image_path(sidecar)
        if not path.is_file():
            raise MfscanError(f"the image this sidecar belongs to, {path}, does not exist (moved, renamed "
                              "or on a share that is not connected?); open the image itself, or put it "
                              "back beside the sidecar", sidecar)
    image = get_image(path)
    anns = []
    for sc in find_sidecars(path):
        anns.append((sc, read_sidecar(sc)))
    cal = image.calibration
    for _sc, ann in anns:
        c = effective_calibration(image, ann)
        if c is not image.calibration:
            cal = c
            break
    layers = [image_layer_data(image, cal)]
    for sc, ann in anns:
        layers.append(shapes_layer_data(image, ann, sidecar=sc, calibration=cal))
    return layers


# --------------------------------------------------------------------------- settings

def default_config_dir() -> Path:
    """``$MFSCAN_CONFIG_DIR`` or the user's config folder for mfscan."""
    env = os.environ.get("MFSCAN_CONFIG_DIR")
    if env:
        return Path(env)
    from platformdirs import user_config_dir
    return Path(user_config_dir("mfscan", appauthor=False))


class Settings:
    """Small persistent JSON settings (widget fields, last image per folder).

    Parameters
    ----------
    path : str or Path, optional
        The JSON file; default ``<config dir>/napari-widget.json``
        (:func:`default_config_dir`). Tests pass a temporary file.
    """

    def __init__(self, path=None):
        self.path = Path(path) if path is not None else default_config_dir() / "napari-widget.json"
        self._data: dict = {}
        try:
            d = json.loads(self.path.read_text("utf-8"))
            if isinstance(d, dict):
                self._data = d
        except (OSError, ValueError):
            pass

    def get(self, key, default=None):
        return self._data.get(key, default)

    def set(self, key, value) -> None:
        self._data[key] = value
        self.save()

    def update(self, values: dict) -> None:
        self._data.update(values)
        self.save()

    def save(self) -> None:
        from mfscan.annotations import atomic_write_bytes
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.path, json.dumps(self._data, indent=1).encode("utf-8"))
        except OSError:
            pass  # settings are a convenience; never stop the rater's work

    def last_image(self, folder) -> str | None:
        return (self._data.get("last_image") or {}).get(str(Path(folder).resolve()))

    def set_last_image(self, folder, image) -> None:
        d = dict(self._data.get("last_image") or {})
        d[str(Path(folder).resolve())] = str(Path(image).name)
        self.set("last_image", d)


# --------------------------------------------------------------------------- worklist

@dataclass
class Worklist:
    """The images of a folder (searched recursively) to annotate one after another.

    Attributes
    ----------
    folder : Path
    images : list of Path
        Supported images, sorted naturally by relative path.
    index : int
        The current image.
    """

    folder: Path
    images: list = field(default_factory=list)
    index: int = 0

    @classmethod
    def from_folder(cls, folder) -> "Worklist":
        """The folder's images as ``mfscan measure`` finds them (:func:`mfscan.measure.batch.discover`)."""
        from mfscan.measure.batch import discover
        from mfscan.stats.summary import natural_sort_key

        folder = Path(folder).resolve()
        if not folder.is_dir():
            raise MfscanError("not a folder", folder)
        jobs, _ = discover([folder], include_unannotated=True)
        imgs = sorted((j.image for j in jobs), key=lambda p: natural_sort_key(p.relative_to(folder).as_posix()))
        return cls(folder, imgs, 0)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def current(self) -> Path | None:
        return self.images[self.index] if self.images else None

    def go(self, index: int) -> Path | None:
        if not self.images:
            return None
        self.index = max(0, min(int(index), len(self.images) - 1))
        return self.current

    def step(self, delta: int) -> Path | None:
        """Move by `delta` images (clamped); returns the new current image."""
        return self.go(self.index + delta)

    def resume(self, name: str | None) -> Path | None:
        """Go to the image named `name` (relative name or file name) if listed."""
        if name:
            for i, p in enumerate(self.images):
                if p.name == name or p.relative_to(self.folder).as_posix() == name:
                    return self.go(i)
        return self.go(0)

    def is_annotated(self, image, rater: str | None = None) -> bool:
        """True when the image has a sidecar (of `rater`, when given).

        Only the file's existence is checked, so that the count stays cheap for
        folders of thousands of images.
        """
        image = Path(image)
        if rater:
            try:
                return sidecar_path(image, rater).is_file()
            except MfscanError:
                return False
        return bool(find_sidecars(image))

    def progress(self, rater: str | None = None) -> tuple[int, int]:
        """``(annotated, total)``."""
        return sum(self.is_annotated(p, rater) for p in self.images), len(self.images)


def scale_line_calibration(line, length_mm: float) -> Calibration:
    """Calibration from a 2-point line in data pixels (frame coordinate dropped)."""
    pts = np.asarray(line, float)
    if pts.shape[1] == 3:
        pts = pts[:, 1:]
    return from_scale_line(pts[0], pts[-1], float(length_mm))


__all__ = [
    "KEY", "SIDE_COLORS", "TABLE_COLUMNS", "Settings", "Worklist", "SaveResult", "UNCALIBRATED",
    "get_image", "image_layer_data", "shapes_layer_data", "shapes_layer_kwargs", "annotation_from_layer",
    "measure_rows", "asymmetry_summary", "asymmetry_text", "outline_warnings", "save_annotation",
    "save_layer_state", "read_layers", "layer_sidecar_path", "conflict_path", "new_annotation",
    "features_frame", "calibration_text", "scale_line_calibration", "layer_scale", "layer_units",
    "layer_calibration", "propose", "proposal_text", "livewire_segment", "livewire_outline", "clean_anchors",
    "register_new_outline", "outline_changed", "edited_methods", "METHOD_PROPOSED", "METHOD_LIVEWIRE",
    "LOW_CONFIDENCE", "recovery_dir", "recovery_path", "write_recovery",
]
