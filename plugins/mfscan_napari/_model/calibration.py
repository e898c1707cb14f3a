"""Calibration of layers: napari scale and units, and which calibration applies.

The rule itself (a sidecar's scale line or typed values override the image's
own calibration; with DICOM ultrasound regions, the region holding the outline)
is the core's: whether a sidecar's or a drawn scale replaces the image's own is
:func:`mfscan.calibration.sidecar_override` (as for ``mfscan propose``), the scale of
an outline :func:`mfscan.calibration.roi_calibration`. This module only reads the
override from a layer's metadata and formats the result.
"""

from __future__ import annotations

import math

import numpy as np

from mfscan.calibration import (
    UNCALIBRATED,
    Calibration,
    SharedScale,
    check_plausible,
    from_scale_line,
    image_calibration,
    is_override,
    roi_calibration,
    sidecar_override,
    typed_scale_problem,
)
from mfscan.errors import CalibrationError, MfscanError

KEY = "mfscan"

__all__ = [
    "ScaleDisagrees",
    "layer_scale",
    "layer_units",
    "effective_calibration",
    "stored_override",
    "layer_calibration",
    "shared_record",
    "stored_shared",
    "rater_calibration",
    "layer_override",
    "checked_scale",
    "OVERRIDE_LABEL",
    "shown_calibration",
    "calibration_text",
    "scale_line_calibration",
]


def layer_scale(cal: Calibration, n_frames: int = 1) -> tuple:
    """napari ``scale``: ``(row_mm, col_mm)`` (1, 1 uncalibrated), frame axis 1."""
    s = tuple(float(v) for v in cal.spacing)
    return ((1.0,) + s) if n_frames > 1 else s


def layer_units(cal: Calibration, n_frames: int = 1) -> tuple:
    """napari ``units``: ``mm`` calibrated, ``pixel`` otherwise."""
    u = ("mm", "mm") if cal.calibrated else ("pixel", "pixel")
    return (("pixel",) + u) if n_frames > 1 else u


def effective_calibration(image, annotation) -> Calibration:
    """The calibration an image is measured with for a sidecar
    (:func:`mfscan.calibration.image_calibration`)."""
    return image_calibration(image, annotation.calibration if annotation is not None else None)


def stored_override(metadata: dict) -> Calibration | None:
    """The scale line / typed calibration an outline layer carries for its sidecar, or None."""
    ac = ((metadata or {}).get(KEY, {}).get("annotation") or {}).get("calibration")
    if not ac:
        return None
    cal = Calibration.from_dict(ac)
    return cal if is_override(cal) else None


def shared_record(shared: SharedScale | None) -> dict:
    """What an image layer's metadata keeps of its sidecars' shared scale (``shared_scale``)."""
    if shared is None:
        return {}
    cal = shared.calibration
    return {
        "calibration": cal.to_dict() if cal is not None else None,
        "source": shared.source,
        "conflict": shared.conflict,
    }


def stored_shared(image_metadata: dict | None) -> SharedScale | None:
    """The shared scale an image layer keeps (:func:`shared_record`), or None."""
    rec = ((image_metadata or {}).get(KEY, {}) or {}).get("shared_scale") or {}
    if not rec:
        return None
    try:
        cal = Calibration.from_dict(rec["calibration"]) if rec.get("calibration") else None
    except MfscanError:
        cal = None
    return SharedScale(cal, rec.get("source"), rec.get("conflict"))


def rater_calibration(own: Calibration | None, shared: SharedScale | None, image) -> Calibration | None:
    """The override one rater's outlines are measured with: the core's decision,
    :func:`mfscan.calibration.sidecar_override` (their own scale, else the image's own, else
    the shared scale); None when the sidecars disagree (the widget shows the conflict)."""
    try:
        return sidecar_override(own, image, shared=shared)
    except CalibrationError:
        return None


def layer_override(image, layer_metadata: dict, image_metadata: dict | None = None) -> Calibration | None:
    """:func:`rater_calibration` of an outline layer: its stored scale (:func:`stored_override`)
    and the image layer's shared scale (:func:`stored_shared`)."""
    return rater_calibration(stored_override(layer_metadata), stored_shared(image_metadata), image)


#: The check box that lets a rater use a scale disagreeing with the image's own.
OVERRIDE_LABEL = "Use my scale over the image's own"


class ScaleDisagrees(CalibrationError):
    """A plausible scale set in the widget that differs from the image's own by more than 1%: the
    rater may use it anyway (:data:`OVERRIDE_LABEL`)."""


def checked_scale(cal: Calibration, image, *, points=None, override: bool = False) -> Calibration:
    """A scale set in the widget, checked against the image's own DICOM / ImageJ scale by the
    core (:func:`mfscan.calibration.check_typed_scale`, :func:`~mfscan.calibration.typed_scale_problem`).

    Raises
    ------
    mfscan.errors.CalibrationError
        When it is implausible (:func:`mfscan.calibration.check_plausible`, checked first: no
        override helps).
    ScaleDisagrees
        When it differs by more than 1% and `override` is false: the message names both scales
        and how to use it anyway. With `override` it is returned marked ``overrides_image``.
    """
    check_plausible(cal)
    why = typed_scale_problem(cal, image, points=points)
    if why and not override:
        raise ScaleDisagrees(
            f"Scale not set: {why}. The image's own scale is kept; to use yours anyway, tick "
            f"“{OVERRIDE_LABEL}” and press “Set scale” again."
        )
    return sidecar_override(None, image, typed=cal, points=points, override_image=override)


def layer_calibration(
    image, metadata: dict, seed_rc=None, *, image_metadata: dict | None = None
) -> Calibration:
    """The calibration an outline layer's outlines (or a seed point) are measured with.

    The core's rule (:func:`mfscan.calibration.roi_calibration`) with the layer's override
    (:func:`layer_override`: its own scale, else the image layer's shared scale); with DICOM
    ultrasound regions, the scale of the region holding `seed_rc`.
    """
    override = layer_override(image, metadata, image_metadata)
    if seed_rc is None:
        return image_calibration(image, override)
    return roi_calibration([(float(seed_rc[0]), float(seed_rc[1]))], image, override)


def shown_calibration(image_metadata: dict, layer_metadata: dict | None = None) -> Calibration:
    """The calibration shown for an image layer and its current outline layer.

    The image layer's effective calibration, unless the outline layer's sidecar
    overrides it (:func:`mfscan.calibration.is_override`).
    """
    try:
        raw = (image_metadata or {}).get(KEY, {})["calibration"]
        cal = Calibration.from_dict(raw)
        if not cal.calibrated and raw.get("scale_conflict"):  # the sidecars disagree: say so
            cal = Calibration(None, None, "none", details={"scale_conflict": str(raw["scale_conflict"])})
    except (MfscanError, KeyError, TypeError, AttributeError):
        cal = UNCALIBRATED
    if layer_metadata is not None:
        try:
            override = stored_override(layer_metadata)
        except MfscanError:
            override = None
        if override is not None:
            cal = override
    return cal


def calibration_text(cal: Calibration) -> tuple[str, bool]:
    """Status text for a calibration and whether it is a warning."""
    if not cal.calibrated and cal.details.get("scale_conflict"):
        return (f"NOT CALIBRATED: {cal.details['scale_conflict']}", True)
    if not cal.calibrated:
        return ("NOT CALIBRATED: areas are in pixels², not cm². Use “Set scale” on the depth ruler.", True)
    names = {
        "dicom-region": "DICOM ultrasound region",
        "dicom-pixel-spacing": "DICOM PixelSpacing",
        "scale-line": "scale line",
        "manual": "typed by user",
        "imagej-tiff": "ImageJ TIFF scale",
    }
    src = names.get(cal.source, cal.source)
    if cal.source == "dicom-region" and cal.region is not None:
        src += f" {cal.region}"
    if cal.details.get("shared_from"):  # another sidecar's scale line, shared by the image
        src = str(cal.details["shared_from"])
    if math.isclose(cal.row_mm, cal.col_mm, rel_tol=1e-9):
        mm = f"{cal.row_mm:.4g} mm/px"
    else:
        mm = f"{cal.row_mm:.4g} × {cal.col_mm:.4g} mm/px (row × col)"
    return (f"Calibrated: {mm} ({src})", False)


def scale_line_calibration(line, length_mm: float, image=None) -> Calibration:
    """Calibration from a 2-point line in data pixels (frame coordinate dropped).

    Raises :class:`mfscan.errors.CalibrationError` when the scale is outside the plausible
    range (:func:`mfscan.calibration.check_plausible`, the rule every measurement applies),
    so the widget refuses it when it is set, not only when the outline is measured; with
    `image`, also when it differs by more than 1% from the image's own (DICOM, ImageJ)
    scale: the decision of :func:`mfscan.calibration.sidecar_override`, as for a typed
    ``--mm-per-pixel``.
    """
    from mfscan.calibration import check_plausible

    pts = np.asarray(line, float)
    if pts.shape[1] == 3:
        pts = pts[:, 1:]
    cal = check_plausible(from_scale_line(pts[0], pts[-1], float(length_mm)))
    if image is None:
        return cal
    return sidecar_override(None, image, typed=cal, points=pts)
