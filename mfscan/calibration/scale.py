"""Physical calibration of ultrasound images in millimetres per pixel.

Three sources, recorded with every measurement:

* ``dicom-region``: the DICOM US Region Calibration Module
  (``SequenceOfUltrasoundRegions``, PS3.3 C.8.5.5). Every region keeps its own
  bounds and scale; an outline is measured with the scale of the one tissue region
  that contains it.
* ``dicom-pixel-spacing``: the rarer ``PixelSpacing`` attribute.
* ``scale-line``: two points on the burned-in depth ruler and their known distance.
* ``manual``: values typed by the user.

An image without any of these is ``none``: it is measured in pixels, and no value
is ever reported in centimetres from a guessed scale.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from mfscan.errors import CalibrationError

#: DICOM (0018,6024)/(0018,6026) unit codes.
UNIT_CODES = {
    0: "none", 1: "percent", 2: "dB", 3: "cm", 4: "seconds", 5: "hertz",
    6: "dB/s", 7: "cm/s", 8: "cm2", 9: "cm2/s", 10: "cm3", 11: "cm3/s", 12: "degrees",
}
UNIT_CM = 3
SOURCES = ("dicom-region", "dicom-pixel-spacing", "scale-line", "manual", "none")


class CalibrationWarning(UserWarning):
    """A calibration tag was unusual and was corrected or ignored."""


@dataclass(frozen=True)
class Region:
    """One region of a DICOM ``SequenceOfUltrasoundRegions``.

    Attributes
    ----------
    index : int
        Position of the item in the sequence.
    bounds : tuple of int
        ``(min_row, min_col, max_row, max_col)``, inclusive, clipped to the image.
    spacing_mm : tuple of float or None
        ``(row_mm, col_mm)`` when both axes are in cm with a positive delta,
        otherwise None (a Doppler strip, a colour bar, a region without units).
    spatial_format, data_type, flags : int or None
        ``RegionSpatialFormat`` (1 = 2D tissue), ``RegionDataType`` (1 = tissue,
        2 = colour flow, 0x0D grey bar, 0x0E colour bar) and ``RegionFlags``.
    units : tuple of int
        ``(PhysicalUnitsXDirection, PhysicalUnitsYDirection)`` codes.
    """

    index: int
    bounds: tuple[int, int, int, int]
    spacing_mm: tuple[float, float] | None
    spatial_format: int | None = None
    data_type: int | None = None
    flags: int | None = None
    units: tuple[int | None, int | None] = (None, None)

    @property
    def is_tissue(self) -> bool:
        """True for a calibrated 2D image region (B-mode or colour flow)."""
        return self.spacing_mm is not None and self.spatial_format in (None, 1)

    @property
    def area_px(self) -> int:
        r0, c0, r1, c1 = self.bounds
        return (r1 - r0 + 1) * (c1 - c0 + 1)

    def contains(self, points) -> np.ndarray:
        """Boolean array, True for each (row, col) point inside the region."""
        p = np.asarray(points, dtype=float).reshape(-1, 2)
        r0, c0, r1, c1 = self.bounds
        # Pixel centres are integers; a pixel covers +-0.5 around its centre.
        return ((p[:, 0] >= r0 - 0.5) & (p[:, 0] <= r1 + 0.5)
                & (p[:, 1] >= c0 - 0.5) & (p[:, 1] <= c1 + 0.5))

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "bounds": list(self.bounds),
            "spacing_mm": None if self.spacing_mm is None else list(self.spacing_mm),
            "spatial_format": self.spatial_format,
            "data_type": self.data_type,
            "units": [UNIT_CODES.get(u, u) if u is not None else None for u in self.units],
        }


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
                raise CalibrationError(f"calibration {name} must be a positive number of mm per pixel, got {v!r}")

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
    def from_dict(cls, d: dict) -> "Calibration":
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
            raise CalibrationError(f"'calibration' region must be a region number (0, 1, ...), got {region!r}")
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
    return Calibration(mm, mm, "scale-line", details={
        "line": [p0.tolist(), p1.tolist()], "length_mm": float(length_mm)})


def _int(item, name):
    v = getattr(item, name, None)
    if v is None or v == "":
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _float(item, name):
    v = getattr(item, name, None)
    if v is None or v == "":
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def regions_from_dicom(ds, shape) -> tuple[list[Region], list[str]]:
    """Read the calibrated regions of a DICOM dataset.

    Parameters
    ----------
    ds : pydicom.Dataset
        The dataset (pixel data need not be loaded).
    shape : tuple of int
        ``(rows, cols)`` of the image, to clip the regions' bounds.

    Returns
    -------
    regions : list of Region
        Every region that lies (at least partly) inside the image, bounds clipped.
        Regions whose units are not cm, or whose delta is zero or negative, are
        kept with ``spacing_mm=None``.
    problems : list of str
        What was corrected or ignored (off-by-one bounds, stale regions outside the
        image, non-cm units), for the caller to warn about.
    """
    rows, cols = int(shape[0]), int(shape[1])
    seq = getattr(ds, "SequenceOfUltrasoundRegions", None) or []
    regions: list[Region] = []
    problems: list[str] = []
    for i, item in enumerate(seq):
        x0, y0 = _int(item, "RegionLocationMinX0"), _int(item, "RegionLocationMinY0")
        x1, y1 = _int(item, "RegionLocationMaxX1"), _int(item, "RegionLocationMaxY1")
        if None in (x0, y0, x1, y1):
            problems.append(f"region {i}: missing location bounds; ignored")
            continue
        if x1 < x0 or y1 < y0:
            problems.append(f"region {i}: max bound before min bound; ignored")
            continue
        if x0 > cols - 1 or y0 > rows - 1 or x1 < 0 or y1 < 0:
            problems.append(f"region {i}: bounds ({y0},{x0})-({y1},{x1}) lie outside the "
                            f"{rows}x{cols} image (stale region of a cropped file?); ignored")
            continue
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, cols - 1), min(y1, rows - 1)
        if (cx0, cy0, cx1, cy1) != (x0, y0, x1, y1):
            problems.append(f"region {i}: bounds ({y0},{x0})-({y1},{x1}) clipped to the image")
        ux, uy = _int(item, "PhysicalUnitsXDirection"), _int(item, "PhysicalUnitsYDirection")
        dx, dy = _float(item, "PhysicalDeltaX"), _float(item, "PhysicalDeltaY")
        spacing = None
        if ux == UNIT_CM and uy == UNIT_CM:
            if dx is not None and dy is not None and math.isfinite(dx) and math.isfinite(dy) and dx > 0 and dy > 0:
                spacing = (abs(dy) * 10.0, abs(dx) * 10.0)
            else:
                problems.append(f"region {i}: physical delta ({dx}, {dy}) is not a positive length; "
                                "region not used for calibration")
        elif _int(item, "RegionSpatialFormat") == 1:
            problems.append(f"region {i}: 2D region with units "
                            f"({UNIT_CODES.get(ux, ux)}, {UNIT_CODES.get(uy, uy)}) instead of cm; "
                            "region not used for calibration")
        regions.append(Region(
            index=i, bounds=(cy0, cx0, cy1, cx1), spacing_mm=spacing,
            spatial_format=_int(item, "RegionSpatialFormat"),
            data_type=_int(item, "RegionDataType"), flags=_int(item, "RegionFlags"),
            units=(ux, uy)))
    return regions, problems


def pixel_spacing_from_dicom(ds) -> Calibration | None:
    """Calibration from ``PixelSpacing`` (row, col in mm) if present and valid."""
    ps = getattr(ds, "PixelSpacing", None)
    if ps is None:
        return None
    try:
        r, c = float(ps[0]), float(ps[1])
    except (TypeError, ValueError, IndexError):
        return None
    if not (math.isfinite(r) and math.isfinite(c) and r > 0 and c > 0):
        return None
    return Calibration(r, c, "dicom-pixel-spacing")


def region_calibration(region: Region) -> Calibration:
    """The Calibration of one calibrated region."""
    if region.spacing_mm is None:
        raise CalibrationError(f"region {region.index} has no length calibration")
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


def calibration_for_points(points, regions: list[Region], default: Calibration) -> Calibration:
    """The calibration that applies to an outline.

    With calibrated DICOM regions, the outline must lie inside exactly one of
    them, and that region's scale is used. Otherwise `default` is returned.

    Raises
    ------
    CalibrationError
        When the outline lies outside every calibrated region or crosses from
        one into another.
    """
    tissue = [r for r in regions if r.is_tissue]
    if not tissue or default.source not in ("dicom-region",):
        return default
    p = np.asarray(points, float).reshape(-1, 2)
    inside = [r for r in tissue if r.contains(p).all()]
    if inside:
        # Nested regions (a colour box inside the B-mode image): take the smallest,
        # since its scale is the one drawn there; they normally agree.
        best = min(inside, key=lambda r: r.area_px)
        return region_calibration(best)
    touched = [r.index for r in tissue if r.contains(p).any()]
    if len(touched) > 1:
        raise CalibrationError(f"the outline crosses from ultrasound region {touched[0]} into "
                               f"region {touched[1]}, which have separate calibrations")
    if touched:
        raise CalibrationError(f"the outline extends outside calibrated ultrasound region {touched[0]}")
    raise CalibrationError("the outline lies outside every calibrated ultrasound region")


def warn_problems(problems, path=None):
    """Emit CalibrationWarning for each problem string."""
    for p in problems:
        warnings.warn(f"{path}: {p}" if path else p, CalibrationWarning, stacklevel=3)
