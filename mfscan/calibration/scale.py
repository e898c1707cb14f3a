"""Physical calibration of ultrasound images in millimetres per pixel.

The sources, recorded with every measurement:

* ``dicom-region``: the DICOM US Region Calibration Module
  (``SequenceOfUltrasoundRegions``, PS3.3 C.8.5.5, read by
  :mod:`mfscan.calibration.dicom`). Every region keeps its own bounds and scale;
  an outline is measured with the scale of the one tissue region that contains it
  (:func:`calibration_for_points`).
* ``dicom-pixel-spacing``: the rarer ``PixelSpacing`` attribute.
* ``imagej-tiff``: the scale Fiji stores in a TIFF (ImageJ ``unit`` cm, mm or
  micron and the X/YResolution tags, pixels per unit), read by :mod:`mfscan.io.export_readers`.
* ``scale-line``: two points on the burned-in depth ruler and their known distance.
* ``manual``: values typed by the user.

An image without any of these is ``none``: it is measured in pixels, and no value
is ever reported in centimetres from a guessed scale.

This module holds the :class:`Calibration` value and the choice among region
scales; which source wins over which is :mod:`mfscan.calibration.rule`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from mfscan.errors import CalibrationError

if TYPE_CHECKING:  # annotations only: regions are read in mfscan.calibration.dicom
    from mfscan.calibration.dicom import Region

__all__ = [
    "SOURCES",
    "CalibrationWarning",
    "Calibration",
    "UNCALIBRATED",
    "manual",
    "from_scale_line",
    "region_calibration",
    "default_calibration",
    "calibration_for_points",
    "warn_problems",
    "scales_differ",
    "nested_in",
]

SOURCES = ("dicom-region", "dicom-pixel-spacing", "imagej-tiff", "scale-line", "manual", "none")


class CalibrationWarning(UserWarning):
    """A calibration tag was unusual and was corrected or ignored."""


@dataclass(frozen=True)
class Calibration:
    """Millimetres per pixel along rows and columns, and where that came from.

    Attributes
    ----------
    row_mm, col_mm : float or None
        Size of one pixel along the rows (vertical, depth) and the columns
        (horizontal, lateral). None when uncalibrated.
    source : str
        One of ``dicom-region``, ``dicom-pixel-spacing``, ``scale-line``,
        ``manual`` or ``none``.
    region : int or None
        For ``dicom-region``, the index of the region in the sequence.
    details : dict
        Extra facts (the scale line's points and length, for instance).
    """

    row_mm: float | None
    col_mm: float | None
    source: str = "none"
    region: int | None = None
    details: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if self.source not in SOURCES:
            raise CalibrationError(f"unknown calibration source {self.source!r}; expected one of {SOURCES}")
        if self.source == "none":
            if self.row_mm is not None or self.col_mm is not None:
                raise CalibrationError("an uncalibrated image cannot carry a spacing")
            return
        for name, v in (("row_mm", self.row_mm), ("col_mm", self.col_mm)):
            if v is None or not math.isfinite(v) or v <= 0:
                raise CalibrationError(
                    f"calibration {name} must be a positive number of mm per pixel, got {v!r}"
                )

    @property
    def calibrated(self) -> bool:
        return self.source != "none"

    @property
    def mm_per_pixel(self) -> tuple[float, float] | None:
        """``(row_mm, col_mm)`` for measuring, None when uncalibrated.

        Pass it as ``spacing=`` to :func:`mfscan.measure.outline.measure_outline`: None
        gives pixel values only, never centimetres from a guessed scale.
        """
        return (float(self.row_mm), float(self.col_mm)) if self.calibrated else None

    @property
    def spacing(self) -> tuple[float, float]:
        """``(row_mm, col_mm)`` for display scaling; ``(1.0, 1.0)`` when
        uncalibrated (pixel units). Use :attr:`mm_per_pixel` to measure."""
        if not self.calibrated:
            return (1.0, 1.0)
        return (float(self.row_mm), float(self.col_mm))

    def to_dict(self) -> dict:
        d = {"row_mm": self.row_mm, "col_mm": self.col_mm, "source": self.source}
        if self.region is not None:
            d["region"] = self.region
        d.update({k: v for k, v in self.details.items() if k not in d})
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        """Build from a sidecar's ``calibration`` object (raises CalibrationError)."""
        if not isinstance(d, dict):
            raise CalibrationError(f"'calibration' must be an object, got {type(d).__name__}")
        source = d.get("source", "manual")
        if not isinstance(source, str):
            raise CalibrationError(f"'calibration' source must be a string, got {source!r}")
        if source == "none":
            return UNCALIBRATED
        for key in ("row_mm", "col_mm"):
            if key not in d:
                raise CalibrationError(f"'calibration' lacks {key!r}")
            v = d[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise CalibrationError(f"'calibration' {key} must be a number of mm per pixel, got {v!r}")
        region = d.get("region")
        if region is not None and (isinstance(region, bool) or not isinstance(region, int) or region < 0):
            raise CalibrationError(
                f"'calibration' region must be a region number (0, 1, ...), got {region!r}"
            )
        details = {k: v for k, v in d.items() if k not in ("row_mm", "col_mm", "source", "region")}
        return cls(float(d["row_mm"]), float(d["col_mm"]), source, region, details)


UNCALIBRATED = Calibration(None, None, "none")


def manual(row_mm: float, col_mm: float | None = None) -> Calibration:
    """Calibration typed by the user (square pixels when `col_mm` is omitted)."""
    return Calibration(float(row_mm), float(row_mm if col_mm is None else col_mm), "manual")


def from_scale_line(p0, p1, length_mm: float) -> Calibration:
    """Calibrate from a line drawn over a known distance (the depth ruler).

    Pixels are taken as square: mm per pixel = `length_mm` / line length in pixels.

    Parameters
    ----------
    p0, p1 : sequence of float
        The line's end points in (row, col) pixels.
    length_mm : float
        The real distance between them in millimetres.

    Examples
    --------
    >>> from_scale_line((10, 5), (410, 5), 40.0).row_mm
    0.1
    """
    p0 = np.asarray(p0, float)
    p1 = np.asarray(p1, float)
    length_px = float(np.hypot(*(p1 - p0)))
    if not np.isfinite(length_px) or length_px < 2:
        raise CalibrationError("the scale line must be at least 2 pixels long")
    if not (isinstance(length_mm, (int, float)) and math.isfinite(length_mm) and length_mm > 0):
        raise CalibrationError(f"the scale line's length must be a positive number of mm, got {length_mm!r}")
    mm = float(length_mm) / length_px
    return Calibration(
        mm, mm, "scale-line", details={"line": [p0.tolist(), p1.tolist()], "length_mm": float(length_mm)}
    )


def region_calibration(region: Region) -> Calibration:
    """The Calibration of one calibrated region."""
    if region.spacing_mm is None:
        why = f": {region.scale_problem}" if region.scale_problem else ""
        raise CalibrationError(f"region {region.index} has no length calibration{why}")
    return Calibration(region.spacing_mm[0], region.spacing_mm[1], "dicom-region", region.index)


def default_calibration(regions: list[Region], fallback: Calibration | None = None) -> Calibration:
    """The image-level calibration: the largest calibrated tissue region.

    Used for display (napari layer scale) and for outlines when all regions share
    one scale. Outlines are measured with :func:`calibration_for_points`.
    """
    tissue = [r for r in regions if r.is_tissue]
    if tissue:
        # Prefer high-priority (flag bit 0 clear) B-mode tissue regions, then the largest.
        best = max(tissue, key=lambda r: (not ((r.flags or 0) & 1), r.data_type == 1, r.area_px))
        return region_calibration(best)
    return fallback if fallback is not None else UNCALIBRATED


def scales_differ(a, b, tolerance_pct: float | None = None) -> bool:
    """True when two ``(row_mm, col_mm)`` scales differ by more than `tolerance_pct`
    (default :data:`mfscan.vocab.SCALE_TOLERANCE_PCT`, 1%) of the smaller on either axis."""
    from mfscan.vocab import SCALE_TOLERANCE_PCT

    tol = SCALE_TOLERANCE_PCT if tolerance_pct is None else tolerance_pct
    return any(abs(x - y) > tol / 100.0 * min(x, y) for x, y in zip(a, b))


def nested_in(inner: Region, outer: Region) -> bool:
    """True when `inner`'s bounds lie within `outer`'s and are smaller (a box inside an image)."""
    (a0, b0, a1, b1), (c0, d0, c1, d1) = inner.bounds, outer.bounds
    return c0 <= a0 and d0 <= b0 and a1 <= c1 and b1 <= d1 and inner.area_px < outer.area_px


def calibration_for_points(points, regions: list[Region], default: Calibration) -> Calibration:
    """The calibration that applies to an outline.

    With calibrated DICOM regions, the outline must lie inside exactly one of
    them, and that region's scale is used. Otherwise `default` is returned.

    Raises
    ------
    CalibrationError
        When the outline lies outside every calibrated region, crosses from
        one into another, or lies inside overlapping regions whose scales differ
        by more than 1% (never one of them silently), unless one is nested in the
        other (a colour box inside the B-mode image: the inner region's scale).
    """
    tissue = [r for r in regions if r.is_tissue]
    if not tissue or default.source not in ("dicom-region",):
        return default
    p = np.asarray(points, float).reshape(-1, 2)
    inside = [r for r in tissue if r.contains(p).all()]
    if inside:
        # Nested regions (a colour box inside the B-mode image): take the smallest,
        # whose scale is the one drawn there. Overlapping regions that are not nested
        # (or have the same bounds) and give different scales: refused, never one silently.
        best = min(inside, key=lambda r: r.area_px)
        touching = [r for r in tissue if r is not best and r.contains(p).any()]
        other = next(
            (
                r
                for r in touching
                if scales_differ(r.spacing_mm, best.spacing_mm)
                and not (nested_in(best, r) or nested_in(r, best))
            ),
            None,
        )
        if other is not None:
            a, b = sorted((best, other), key=lambda r: r.index)
            raise CalibrationError(
                f"the outline lies where ultrasound regions {a.index} and {b.index} overlap, and "
                f"their scales differ ({a.spacing_mm[0]:g} x {a.spacing_mm[1]:g} and "
                f"{b.spacing_mm[0]:g} x {b.spacing_mm[1]:g} mm/px): which applies is unknown; "
                "type the scale (a manual calibration) or draw a scale line"
            )
        return region_calibration(best)
    touched = [r.index for r in tissue if r.contains(p).any()]
    if len(touched) > 1:
        raise CalibrationError(
            f"the outline crosses from ultrasound region {touched[0]} into "
            f"region {touched[1]}, which have separate calibrations"
        )
    unusable = next((r for r in regions if r.scale_problem and r.contains(p).any()), None)
    why = (
        f" (it lies in region {unusable.index}, whose {unusable.scale_problem} is not a length scale)"
        if unusable is not None
        else ""
    )
    if touched:
        raise CalibrationError(f"the outline extends outside calibrated ultrasound region {touched[0]}{why}")
    raise CalibrationError(f"the outline lies outside every calibrated ultrasound region{why}")


def warn_problems(problems, path=None):
    """Emit CalibrationWarning for each problem string."""
    for p in problems:
        warnings.warn(f"{path}: {p}" if path else p, CalibrationWarning, stacklevel=3)
