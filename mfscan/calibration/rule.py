"""Which scale applies: the one calibration rule, called by batch, CLI, propose and the plugin.

Precedence, highest first:

1. an **override** stored in the sidecar (a scale line drawn on the depth ruler,
   or values typed by the rater: sources ``scale-line`` and ``manual``);
2. the image's own calibration: for a DICOM with calibrated ultrasound regions,
   **the region that contains the outline** (an outline crossing regions is an
   error), else the DICOM PixelSpacing; for a TIFF, the ImageJ scale
   (``imagej-tiff``: unit and resolution set in Fiji);
3. none: the image is uncalibrated and only pixel values are reported.

An image's scale belongs to the image: for a plain export (no calibration of its own),
the scale lines and typed scales that any of its sidecars holds serve every rater whose
own sidecar sets none, when they agree within 1% (:func:`shared_scale`,
:func:`rater_override`); when they disagree the image is refused, naming both values
(and, unless the study is blinded, both files).

Whether a typed scale (``--mm-per-pixel``, a scale line just drawn), the sidecar's stored
one or the image's shared one replaces the image's own is decided once,
:func:`sidecar_override`, for ``mfscan propose``, ``mfscan predict``, ``mfscan
import-imagej`` and the plugin.

A sidecar's stored ``dicom-region`` or ``none`` calibration is a record of what
the image said, never an override: the image is read again.

Whatever its source, a scale outside :data:`mfscan.vocab.MM_PER_PIXEL_RANGE`
(0.005-5 mm per pixel) is refused (:func:`check_plausible`), naming the source and
the value: no outline is measured with it. A typed scale is compared with the
image's own once, here (:func:`check_typed_scale`, :func:`typed_scale_problem`),
for every command that takes one.
"""

from __future__ import annotations

import dataclasses
import math

from mfscan.calibration.scale import Calibration, calibration_for_points
from mfscan.errors import CalibrationError
from mfscan.vocab import MM_PER_PIXEL_RANGE, SCALE_TOLERANCE_PCT

__all__ = [
    "OVERRIDE_SOURCES",
    "is_override",
    "image_calibration",
    "roi_calibration",
    "describe_source",
    "implausible",
    "check_plausible",
    "own_calibration",
    "typed_scale_problem",
    "check_typed_scale",
    "SidecarScale",
    "SharedScale",
    "shared_scale",
    "rater_override",
    "sidecar_override",
]

#: Calibration sources that a sidecar may set over the image's own.
OVERRIDE_SOURCES = ("scale-line", "manual")


def is_override(calibration: Calibration | None) -> bool:
    """True when a sidecar's calibration overrides the image's own (scale line, typed values)."""
    return calibration is not None and calibration.source in OVERRIDE_SOURCES


def describe_source(cal: Calibration) -> str:
    """Where a calibration came from, in words (for messages)."""
    if cal.source == "dicom-region":
        where = f" {cal.region}" if cal.region is not None else ""
        return f"the DICOM ultrasound region{where} (PhysicalDeltaX/Y)"
    return {
        "dicom-pixel-spacing": "the DICOM PixelSpacing",
        "imagej-tiff": "the TIFF's ImageJ scale",
        "scale-line": "the sidecar's scale line",
        "manual": "the typed (manual) calibration",
    }.get(cal.source, f"the {cal.source} calibration")


def implausible(cal: Calibration | None) -> str | None:
    """Why a calibration's scale cannot be an ultrasound image's, or None.

    A calibrated scale must lie in :data:`mfscan.vocab.MM_PER_PIXEL_RANGE` (inclusive)
    on both axes; an uncalibrated one (or None) is never implausible.
    """
    if cal is None or not cal.calibrated:
        return None
    lo, hi = MM_PER_PIXEL_RANGE
    bad = [
        f"{v:g} mm per pixel along the {axis}"
        for axis, v in (("rows", cal.row_mm), ("columns", cal.col_mm))
        if not (math.isfinite(v) and lo <= v <= hi)
    ]
    if not bad:
        return None
    return (
        f"{describe_source(cal)} gives {' and '.join(bad)}, outside the plausible "
        f"{lo:g}-{hi:g} mm per pixel of an ultrasound image; not used. Check the value "
        "(cm typed as mm? a wrong tag?) or calibrate with a scale line on the depth ruler"
    )


def check_plausible(cal: Calibration) -> Calibration:
    """`cal`, or CalibrationError naming its source and value when :func:`implausible`."""
    why = implausible(cal)
    if why:
        raise CalibrationError(why)
    return cal


def image_calibration(image, override: Calibration | None = None) -> Calibration:
    """The calibration an image is displayed and measured with, before choosing a region.

    Parameters
    ----------
    image : mfscan.io.images.Image
        The loaded image (its ``calibration`` is its own, from the file).
    override : Calibration, optional
        The sidecar's calibration, if any; used when :func:`is_override`.

    Notes
    -----
    For display: the scale is returned even when :func:`implausible`;
    :func:`roi_calibration`, which every measurement goes through, refuses it.
    """
    return override if is_override(override) else image.calibration


def roi_calibration(points, image, override: Calibration | None = None) -> Calibration:
    """The calibration one outline (or seed point) is measured with.

    Parameters
    ----------
    points : (N, 2) array_like
        The outline's vertices, or one seed point, in (row, col).
    image : mfscan.io.images.Image
        The loaded image, with its ``regions`` and own ``calibration``.
    override : Calibration, optional
        The sidecar's calibration, if any.

    Raises
    ------
    mfscan.errors.CalibrationError
        When the image has calibrated DICOM regions and the points lie outside
        every region, cross from one into another, or lie where overlapping regions
        give different scales; or when the scale is outside
        :data:`mfscan.vocab.MM_PER_PIXEL_RANGE` (the source and value are named).
    """
    cal = override if is_override(override) else image.calibration
    if cal.source == "dicom-region":
        cal = calibration_for_points(points, image.regions, cal)
    return check_plausible(cal)


def own_calibration(image, points=None) -> Calibration:
    """The image's own calibration (DICOM region or PixelSpacing, ImageJ scale), no override.

    With `points` and calibrated DICOM regions, the scale of the region holding them
    (the image-level one when they are outside every region or cross regions).
    """
    cal = image.calibration
    if points is not None and cal.source == "dicom-region":
        try:
            return calibration_for_points(points, image.regions, cal)
        except CalibrationError:
            return cal
    return cal


def typed_scale_problem(
    typed: Calibration, image, *, points=None, tolerance_pct: float = SCALE_TOLERANCE_PCT
) -> str | None:
    """Why a typed (or scale-line) calibration disagrees with the image's own, or None.

    Parameters
    ----------
    typed : Calibration
        The scale given by the user (``manual``) or drawn (``scale-line``).
    image : mfscan.io.images.Image
        The loaded image (its ``calibration`` and ``regions``).
    points : (N, 2) array_like, optional
        Where it is used (outline vertices or a seed), to pick the DICOM region.
    tolerance_pct : float, keyword-only
        Largest accepted difference on either axis, in % of the smaller value.

    Returns
    -------
    str or None
        None when the image has no calibration of its own or both agree within
        `tolerance_pct`; otherwise the two scales and how far apart they are.
    """
    own = own_calibration(image, points)
    if not (typed.calibrated and own.calibrated):
        return None
    pct = max(
        abs(a - b) / min(a, b) * 100.0 for a, b in ((typed.row_mm, own.row_mm), (typed.col_mm, own.col_mm))
    )
    if pct <= tolerance_pct:
        return None
    head = (
        f"the {typed.source} scale {typed.row_mm:g} x {typed.col_mm:g} mm/px differs by {pct:.3g}% "
        f"(more than {tolerance_pct:g}%) from the image's own, {own.row_mm:g} x {own.col_mm:g} mm/px "
        f"from {describe_source(own)}"
    )
    if implausible(own):
        return f"{head}, which is itself outside the plausible range"
    factor = (typed.row_mm / own.row_mm) * (typed.col_mm / own.col_mm)
    return f"{head}: areas would be {factor:.3g}x those of the image's scale"


def check_typed_scale(
    typed: Calibration,
    image,
    *,
    points=None,
    override: bool = False,
    tolerance_pct: float = SCALE_TOLERANCE_PCT,
) -> Calibration:
    """A typed scale checked against the image's own: the one decision of every command.

    ``mfscan propose``, ``mfscan import-imagej`` and ``mfscan predict`` call this for
    ``--mm-per-pixel``; ``override=True`` is ``--override-calibration``.

    Returns
    -------
    Calibration
        `typed`, when it is plausible and agrees with the image's own within
        `tolerance_pct` (or the image has none); with `override`, a disagreeing
        `typed` is returned with ``details["overrides_image"] = True``.

    Raises
    ------
    mfscan.errors.CalibrationError
        When `typed` is outside :data:`mfscan.vocab.MM_PER_PIXEL_RANGE`, or differs from
        the image's own scale by more than `tolerance_pct` without `override`.
    """
    check_plausible(typed)
    why = typed_scale_problem(typed, image, points=points, tolerance_pct=tolerance_pct)
    if why and override:  # recorded in the sidecar: chosen, not a slip
        return dataclasses.replace(typed, details={**typed.details, "overrides_image": True})
    if why:
        raise CalibrationError(
            f"{why}; the image's own calibration is used without --mm-per-pixel, or give "
            "--override-calibration to use the typed scale anyway"
        )
    return typed


@dataclasses.dataclass(frozen=True)
class SidecarScale:
    """A scale line or typed scale held by one sidecar of an image (gathered by the annotations
    layer, :func:`mfscan.annotations.scales.sidecar_scales`, and passed here as data)."""

    calibration: Calibration
    file: str
    rater: str | None = None
    session: str | None = None

    def label(self, *, blinded: bool = False) -> str:
        """``scale line, R1 session 1``; in a blinded study no rater is named: ``the image's
        shared scale``."""
        if blinded:
            return "the image's shared scale"
        kind = "scale line" if self.calibration.source == "scale-line" else "typed scale"
        who = self.rater or "no rater"
        return f"{kind}, {who}" + (f" session {self.session}" if self.session else "")


@dataclasses.dataclass(frozen=True)
class SharedScale:
    """The scale an image's sidecars agree on (:func:`shared_scale`).

    ``calibration`` is None when no sidecar holds a scale, or when they disagree (then
    ``conflict`` says how, naming both values and, unless blinded, both files).
    """

    calibration: Calibration | None = None
    source: str | None = None
    conflict: str | None = None


def shared_scale(scales, *, blinded: bool = False, tolerance_pct: float = SCALE_TOLERANCE_PCT) -> SharedScale:
    """The one scale line or typed scale that an image's sidecars agree on.

    Parameters
    ----------
    scales : iterable of SidecarScale
        The overrides (scale lines, typed scales) held by every sidecar of the image;
        others are ignored.
    blinded : bool, keyword-only
        The study is blinded: the source and the message name no rater and no file.
    tolerance_pct : float, keyword-only
        Largest accepted difference on either axis, in % of the smaller value.

    Returns
    -------
    SharedScale
        The first scale (sorted by file name) when all agree within `tolerance_pct`,
        its ``details["shared_from"]`` naming its source; else the conflict.
    """
    from mfscan.calibration.scale import scales_differ

    held = sorted((s for s in scales if is_override(s.calibration)), key=lambda s: s.file)
    if not held:
        return SharedScale()
    first = held[0]
    for other in held[1:]:
        a, b = first.calibration, other.calibration
        if scales_differ((a.row_mm, a.col_mm), (b.row_mm, b.col_mm), tolerance_pct):
            where = (
                ("one sidecar", "another")
                if blinded
                else (f"{first.file} ({first.label()})", f"{other.file} ({other.label()})")
            )
            return SharedScale(
                conflict=(
                    f"the sidecars of this image disagree on its scale by more than {tolerance_pct:g}%: "
                    f"{a.row_mm:g} x {a.col_mm:g} mm/px in {where[0]}, {b.row_mm:g} x {b.col_mm:g} "
                    f"mm/px in {where[1]}; correct the wrong one, or set the scale in your own "
                    "sidecar (a scale line, or --mm-per-pixel)"
                )
            )
    source = first.label(blinded=blinded)
    cal = dataclasses.replace(first.calibration, details={**first.calibration.details, "shared_from": source})
    return SharedScale(cal, source)


def rater_override(own: Calibration | None, shared: SharedScale | None, image_cal: Calibration):
    """The override a rater's outlines are measured with: THE choice among sidecar scales.

    Parameters
    ----------
    own : Calibration or None
        The rater's own sidecar's calibration (None when it has no sidecar yet).
    shared : SharedScale, callable or None
        What the image's sidecars agree on (:func:`shared_scale`), or a function returning
        it, called only when it is needed (it reads every sidecar of the image).
    image_cal : Calibration
        The image's own calibration (DICOM, ImageJ).

    Returns
    -------
    Calibration or None
        `own` when it is a scale line or typed scale (set explicitly); else None when the
        image has its own calibration or no sidecar holds a scale; else the shared scale.

    Raises
    ------
    mfscan.errors.CalibrationError
        When the image has no calibration of its own, the rater's sidecar sets none and
        the sidecars' scales disagree (``shared.conflict``).
    """
    if is_override(own):
        return own
    if image_cal.calibrated or shared is None:
        return None
    if callable(shared):
        shared = shared()
        if shared is None:
            return None
    if shared.conflict:
        raise CalibrationError(shared.conflict)
    return shared.calibration


def sidecar_override(
    stored: Calibration | None,
    image,
    *,
    typed: Calibration | None = None,
    shared=None,
    points=None,
    override_image: bool = False,
    keeps_outlines: bool = False,
    force: bool = False,
    sidecar=None,
) -> Calibration | None:
    """THE decision whether a typed or sidecar scale replaces the image's own.

    Parameters
    ----------
    stored : Calibration or None
        The calibration of the rater's sidecar (None without one); only a scale line or
        typed scale (:func:`is_override`) counts.
    image : mfscan.io.images.Image
        The loaded image (its own ``calibration`` and ``regions``).
    typed : Calibration, optional, keyword-only
        A scale given now (``--mm-per-pixel``, a scale line drawn in the widget).
    shared : SharedScale or callable, optional, keyword-only
        What the image's sidecars agree on (:func:`shared_scale`), or a function returning
        it, called only when needed (it reads every sidecar of the image).
    points : (N, 2) array_like, optional, keyword-only
        Where `typed` is used (outline vertices, seeds), to pick the DICOM region.
    override_image : bool, keyword-only
        ``--override-calibration``: a typed scale differing from the image's own is used
        anyway (:func:`check_typed_scale`).
    keeps_outlines : bool, keyword-only
        The rater's sidecar has outlines, measured with `stored`.
    force : bool, keyword-only
        A typed scale may replace a different `stored` one under kept outlines.
    sidecar : str or Path, optional, keyword-only
        The rater's sidecar, named by the refusal of a replaced scale.

    Returns
    -------
    Calibration or None
        Without `typed`: :func:`rater_override` (the stored scale line or typed scale,
        else nothing when the image has its own calibration, else the shared scale); with
        `typed`: `typed`, checked against the image's own (:func:`check_typed_scale`).
        None: the image's own calibration applies.

    Raises
    ------
    mfscan.errors.CalibrationError
        A typed scale that is implausible or differs from the image's own without
        `override_image`; one that differs from the stored scale its outlines were measured
        with, without `force`; sidecars that disagree on the image's scale.
    """
    stored = stored if is_override(stored) else None
    if typed is None:
        return rater_override(stored, shared, image.calibration)
    cal = check_typed_scale(typed, image, points=points, override=override_image)
    if (
        keeps_outlines
        and stored is not None
        and not force
        and (stored.row_mm, stored.col_mm) != (cal.row_mm, cal.col_mm)
    ):
        raise CalibrationError(
            f"the sidecar's {stored.source} calibration is {stored.row_mm:g} x {stored.col_mm:g} mm/px "
            "and its outlines are measured with it; the typed scale would change it (use --force to "
            "replace it)",
            sidecar,
        )
    return cal
