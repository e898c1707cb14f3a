"""napari layers <-> mfscan annotations: layer data tuples, ``features`` and metadata.

Layer metadata
--------------
Every layer the plugin creates carries ``layer.metadata["mfscan"]``:

* image layers: ``{"kind": "image", "image_path", "calibration", "shared_scale", "n_frames"}``;
  ``calibration`` is the effective calibration as a dict (the image's own, the scale its
  sidecars share, or the scale line / manual one set in the widget, then with
  ``calibration_set_by`` ``[rater, session]``); ``shared_scale`` what the sidecars agree on
  (the scale of a rater whose own sidecar sets none, never copied into it).
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
from pathlib import Path

import numpy as np
import pandas as pd

from mfscan.annotations import ROI, SUFFIX, Annotation, find_sidecars, from_dict, read_sidecar
from mfscan.calibration import Calibration
from mfscan.errors import MfscanError
from mfscan.vocab import SIDE_COLORS, SIDE_DTYPE, SIDES, level_or_none, side_or_none

from .calibration import (
    KEY,
    effective_calibration,
    layer_scale,
    layer_units,
    rater_calibration,
    shared_record,
)
from .images import MEMORY_PREFIX, get_image, image_key
from .rows import measure_rows

__all__ = [
    "KEY",
    "SIDE_COLORS",
    "FEATURE_COLUMNS",
    "layer_meta",
    "is_image_layer",
    "is_outline_layer",
    "image_layer_data",
    "features_frame",
    "annotation_fields",
    "new_annotation",
    "outline_layer_name",
    "shapes_layer_data",
    "shapes_layer_kwargs",
    "annotation_from_layer",
    "register_new_outline",
    "outline_changed",
    "edited_methods",
    "sidecar_image_path",
    "read_layers",
]

FEATURE_COLUMNS = ("side", "kind", "level", "rater", "method", "frame", "label", "_roi")
#: Method of a proposed outline, which becomes "proposed-edited" once its vertices change.
METHOD_PROPOSED = "proposed"
#: Method of a trained model's outline, which becomes "model-edited" once its vertices change.
METHOD_MODEL = "model"


def layer_meta(layer) -> dict:
    """A layer's ``metadata["mfscan"]`` (an empty dict for other layers)."""
    md = getattr(layer, "metadata", None)
    return md.get(KEY, {}) if isinstance(md, dict) else {}


def is_image_layer(layer) -> bool:
    """True for an image layer opened by mfscan."""
    return layer_meta(layer).get("kind") == "image"


def is_outline_layer(layer) -> bool:
    """True for an outline (Shapes) layer of mfscan."""
    return layer_meta(layer).get("kind") == "outlines" and layer.__class__.__name__ == "Shapes"


def image_layer_data(
    image, calibration: Calibration | None = None, *, name: str | None = None, shared=None
) -> tuple:
    """napari layer data tuple ``(data, kwargs, "image")`` of a loaded image.

    Parameters
    ----------
    image : mfscan.io.images.Image
    calibration : Calibration, optional
        The effective calibration (default: the image's own).
    name : str, optional
        Layer name (default: the file name).
    shared : SharedScale, optional
        What the image's sidecars agree on (kept as ``shared_scale``: the scale of a rater
        who sets none, :func:`~mfscan_napari._model.calibration.layer_override`).
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
        "metadata": {
            KEY: {
                "kind": "image",
                "image_path": image_key(image),
                "calibration": cal.to_dict(),
                "shared_scale": shared_record(shared),
                "n_frames": n,
                "warnings": list(image.warnings),
            }
        },
    }
    if not rgb:
        hi = 255 if image.pixels.dtype == np.uint8 else float((1 << int(image.bit_depth)) - 1)
        kwargs["contrast_limits"] = (0, hi)
    return data, kwargs, "image"


def features_frame(rows: list[dict]) -> pd.DataFrame:
    """A ``features`` table with the plugin's columns and dtypes."""
    df = pd.DataFrame(
        {
            "side": pd.Categorical([r["side"] for r in rows], dtype=SIDE_DTYPE),
            "kind": pd.Series([r.get("kind") or "outline" for r in rows], dtype=object),
            "level": pd.Series([r.get("level") or "" for r in rows], dtype=object),
            "rater": pd.Series([r.get("rater") or "" for r in rows], dtype=object),
            "method": pd.Series([r.get("method") or "manual" for r in rows], dtype=object),
            "frame": pd.Series([int(r.get("frame") or 0) for r in rows], dtype=int),
            "label": pd.Series([r.get("label", "") for r in rows], dtype=object),
            "_roi": pd.Series([r.get("_roi", "{}") for r in rows], dtype=object),
        }
    )
    return df


def annotation_fields(annotation: Annotation) -> dict:
    """The Annotation as a dict without its outlines (what a layer's metadata keeps)."""
    d = annotation.to_dict()
    d.pop("rois", None)
    return d


def new_annotation(
    image_path, *, subject=None, visit=None, level=None, rater=None, session=None
) -> Annotation:
    """A fresh, empty Annotation for an image (fields left None when empty)."""
    name = str(image_path)
    name = name[len(MEMORY_PREFIX) :] if name.startswith(MEMORY_PREFIX) else Path(name).name
    return Annotation(
        image=name,
        subject=subject or None,
        visit=visit or None,
        level=level or None,
        rater=rater or None,
        session=session or None,
    )


def outline_layer_name(rater: str | None, session: str | None = None) -> str:
    """``outlines``, ``outlines R1``, ``outlines R1 s2`` (rater R1, session 2)."""
    name = f"outlines {rater}" if rater else "outlines"
    return f"{name} s{session}" if rater and session else name


def shapes_layer_data(
    image,
    annotation: Annotation,
    *,
    sidecar: str | Path | None,
    calibration: Calibration | None = None,
    labels: bool = True,
    override: Calibration | None = None,
) -> tuple:
    """napari layer data tuple ``(data, kwargs, "shapes")`` of one sidecar's outlines.

    Coordinates are in data pixels ``(row, col)``, with a leading frame
    coordinate for cine images; ``scale`` equals the image layer's. `override`: the scale the
    labels are measured with (:func:`~mfscan_napari._model.calibration.rater_calibration`).
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
        hidden = {
            "id": len(data) - 1,
            "region": roi.region,
            "level": roi.level,
            "frame": roi.frame,
            "extra": roi.extra,
        }
        rows.append(
            {
                "side": roi.side,
                "kind": roi.kind,
                "level": roi.level or annotation.level or "",
                "rater": annotation.rater or "",
                "method": roi.method,
                "frame": frame,
                "_roi": json.dumps(hidden, ensure_ascii=False),
            }
        )
    if labels and rows:
        table = measure_rows(image, annotation, override=override)
        for r, t in zip(rows, table, strict=True):
            r["label"] = t["label"]
    meta = {
        KEY: {
            "kind": "outlines",
            "image_path": image_key(image),
            "sidecar_path": None if sidecar is None else str(sidecar),
            "digest": annotation.digest,
            "annotation": annotation_fields(annotation),
            "n_frames": n,
            # napari keeps vertices as float32: the file's float64 values are kept
            # here and written back for outlines that were not edited.
            "original_points": [d.copy() for d in data],
        }
    }
    kwargs = shapes_layer_kwargs(
        cal, n, features_frame(rows), meta, name=outline_layer_name(annotation.rater, annotation.session)
    )
    # outlines are polygons; thickness and fat lines (``kind``) two-point lines
    types = [("polygon" if roi.kind == "outline" else "line") for roi in annotation.rois]
    kwargs["shape_type"] = types if "line" in types else "polygon"
    if not data:
        kwargs["ndim"] = 3 if n > 1 else 2
    return data, kwargs, "shapes"


def shapes_layer_kwargs(
    cal: Calibration, n_frames: int, features: pd.DataFrame, metadata: dict, *, name: str
) -> dict:
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
        side = side_or_none(row.get("side"))
        if side is None:
            raise MfscanError(f"outline {i} has no side (left or right); set it before saving")
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
        if level_out is not None and level_or_none(level_out) is None:
            raise MfscanError(f"outline {i} has unknown level {level_out!r}")
        method = row.get("method")
        method = str(method) if isinstance(method, str) and method else "manual"
        kind = row.get("kind")
        kind = str(kind) if isinstance(kind, str) and kind else "outline"
        if kind != "outline" and len(pts) != 2:
            raise MfscanError(f"{kind} line {i} has {len(pts)} points; a line has exactly two")
        extra = dict(hidden.get("extra") or {})
        ann.rois.append(ROI(side, pts, level_out, frame_out, hidden.get("region"), method, extra, kind))
    sc = m.get("sidecar_path")
    ann.path = Path(sc) if sc and m.get("digest") else None
    ann.digest = m.get("digest")
    return ann


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
    """New ``method`` values of outlines a rater edited: ``{index: "proposed-edited" | "model-edited"}``.

    Only ``proposed`` outlines change (:func:`mfscan.assist.propose.edited_method`);
    `indices` limits the check (default: all outlines).
    """
    from mfscan.assist.propose import edited_method

    if features is None or "method" not in features.columns:
        return {}
    n = min(len(data), len(features))
    idx = (
        range(n)
        if indices is None
        else [i for i in indices if isinstance(i, (int, np.integer)) and 0 <= i < n]
    )
    out = {}
    for i in idx:
        old = features["method"].iloc[i]
        if old not in (METHOD_PROPOSED, METHOD_MODEL):
            continue
        roi = features["_roi"].iloc[i] if "_roi" in features.columns else None
        changed = outline_changed(data[i], roi, metadata)
        changed = True if changed is None else changed
        new = edited_method(old, changed)  # proposed -> proposed-edited, model -> model-edited
        if new != old:
            out[int(i)] = new
    return out


def sidecar_image_path(sidecar) -> Path:
    """The image a sidecar names (resolved beside the sidecar)."""
    ann = read_sidecar(sidecar)
    return (Path(sidecar).parent / ann.image).resolve()


def shared_image_calibration(image, shared) -> Calibration:
    """The image's own calibration, else (a plain export) the scale line or typed scale its
    sidecars agree on within 1% (`shared`, the core's :func:`mfscan.calibration.shared_scale`;
    the decision of :func:`mfscan.calibration.sidecar_override` for a rater without a scale of
    their own), its source named; uncalibrated when they disagree (each rater's own scale still applies to
    their layer)."""
    if image.calibration.calibrated:
        return image.calibration
    if shared.conflict:  # shown instead of a bare "not calibrated" (calibration_text)
        return Calibration(None, None, "none", details={"scale_conflict": shared.conflict})
    return shared.calibration or image.calibration


def read_layers(path, images=None) -> list[tuple]:
    """Layer data tuples for an image (or a sidecar): the image and one outline layer per sidecar.

    The image layer carries the image's calibration: its own, else the one its sidecars'
    scale lines or typed scales agree on (:func:`shared_image_calibration`). `images`: an
    :class:`~mfscan_napari._model.images.ImageCache` to load through (the widget's).
    """
    path = Path(path)
    if path.name.endswith(SUFFIX):
        sidecar = path
        path = sidecar_image_path(sidecar)
        if not path.is_file():
            raise MfscanError(
                f"the image this sidecar belongs to, {path}, does not exist (moved, renamed "
                "or on a share that is not connected?); open the image itself, or put it "
                "back beside the sidecar",
                sidecar,
            )
    image = get_image(path, images)
    anns = []
    for sc in find_sidecars(path):
        anns.append((sc, read_sidecar(sc)))
    from mfscan.annotations.scales import image_shared_scale

    # an image with its own calibration needs no sidecar scale (nor the study file's blinding)
    shared = (
        None if image.calibration.calibrated else image_shared_scale(path, annotations=[a for _, a in anns])
    )
    cal = shared_image_calibration(image, shared)
    layers = [image_layer_data(image, cal, shared=shared)]
    for sc, ann in anns:
        over = rater_calibration(ann.calibration, shared, image)
        layers.append(shapes_layer_data(image, ann, sidecar=sc, calibration=cal, override=over))
    return layers
