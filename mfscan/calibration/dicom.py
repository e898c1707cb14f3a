"""Calibration read from DICOM: the ultrasound regions and PixelSpacing.

:func:`regions_from_dicom` reads the US Region Calibration Module
(``SequenceOfUltrasoundRegions``, PS3.3 C.8.5.5) into :class:`Region` objects,
each with its own bounds and scale; :func:`pixel_spacing_from_dicom` reads the
rarer ``PixelSpacing``. Which of these scales an outline is measured with is
decided in :mod:`mfscan.calibration.scale` (:func:`~mfscan.calibration.scale.calibration_for_points`)
and :mod:`mfscan.calibration.rule`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mfscan.calibration.scale import Calibration, nested_in, scales_differ

__all__ = [
    "UNIT_CODES",
    "UNIT_CM",
    "OVERRUN_FACTOR",
    "Region",
    "regions_from_dicom",
    "pixel_spacing_from_dicom",
]

#: DICOM (0018,6024)/(0018,6026) unit codes.
UNIT_CODES = {
    0: "none",
    1: "percent",
    2: "dB",
    3: "cm",
    4: "seconds",
    5: "hertz",
    6: "dB/s",
    7: "cm/s",
    8: "cm2",
    9: "cm2/s",
    10: "cm3",
    11: "cm3/s",
    12: "degrees",
}
UNIT_CM = 3


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
    scale_problem : str or None
        Why a region in cm has no length scale (``"negative PhysicalDeltaX
        (-0.0262 cm)"``, zero, missing or not finite), for messages.
    """

    index: int
    bounds: tuple[int, int, int, int]
    spacing_mm: tuple[float, float] | None
    spatial_format: int | None = None
    data_type: int | None = None
    flags: int | None = None
    units: tuple[int | None, int | None] = (None, None)
    scale_problem: str | None = None

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
        return (p[:, 0] >= r0 - 0.5) & (p[:, 0] <= r1 + 0.5) & (p[:, 1] >= c0 - 0.5) & (p[:, 1] <= c1 + 0.5)

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "bounds": list(self.bounds),
            "spacing_mm": None if self.spacing_mm is None else list(self.spacing_mm),
            "spatial_format": self.spatial_format,
            "data_type": self.data_type,
            "units": [UNIT_CODES.get(u, u) if u is not None else None for u in self.units],
            "scale_problem": self.scale_problem,
        }


def _delta_problem(dx: float | None, dy: float | None) -> str | None:
    """Why a region's physical deltas (cm per pixel) are not a length scale, or None."""
    bad = []
    for name, v in (("PhysicalDeltaX", dx), ("PhysicalDeltaY", dy)):
        if v is None:
            bad.append(f"no {name}")
        elif not math.isfinite(v):
            bad.append(f"{name} is not a number ({v})")
        elif v < 0:
            bad.append(f"negative {name} ({v:g} cm)")
        elif v == 0:
            bad.append(f"{name} is zero")
    return "; ".join(bad) or None


def _overlap_problems(regions: list[Region]) -> list[str]:
    """Overlapping tissue regions whose scales differ: an outline in the overlap is refused,
    unless one region is nested in the other (its own scale applies inside it)."""
    out = []
    tissue = [r for r in regions if r.is_tissue]
    for i, a in enumerate(tissue):
        for b in tissue[i + 1 :]:
            (ar0, ac0, ar1, ac1), (br0, bc0, br1, bc1) = a.bounds, b.bounds
            overlap = ar0 <= br1 and br0 <= ar1 and ac0 <= bc1 and bc0 <= ac1
            if not (overlap and scales_differ(a.spacing_mm, b.spacing_mm)):
                continue
            inner, outer = (a, b) if nested_in(a, b) else (b, a) if nested_in(b, a) else (None, None)
            if inner is not None:
                out.append(
                    f"region {inner.index} lies inside region {outer.index} with another scale "
                    f"({inner.spacing_mm[0]:g} x {inner.spacing_mm[1]:g} vs {outer.spacing_mm[0]:g} x "
                    f"{outer.spacing_mm[1]:g} mm/px): outlines inside region {inner.index} are measured "
                    "with its scale"
                )
            else:
                out.append(
                    f"regions {a.index} and {b.index} overlap but have different scales "
                    f"({a.spacing_mm[0]:g} x {a.spacing_mm[1]:g} and {b.spacing_mm[0]:g} x "
                    f"{b.spacing_mm[1]:g} mm/px); an outline in the overlap is refused"
                )
    return out


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


#: A region whose far edge lies more than this factor beyond the image on *both* axes
#: cannot belong to the pixel matrix (the file was resized after the region was written).
OVERRUN_FACTOR = 1.1


def _misfit(x0: int, y0: int, x1: int, y1: int, rows: int, cols: int) -> str | None:
    """Why a region's bounds cannot belong to a ``rows`` x ``cols`` image, or None.

    The rule: a region whose start (MinX0, MinY0) lies outside the image is stale;
    a region whose extent (``max + 1``) exceeds ``OVERRUN_FACTOR`` times the image
    size on both axes was written for a larger image (a cine exported at half size
    keeps its 480x640 region on a 240x320 matrix) and its scale is wrong for these
    pixels. An overrun on one axis only, or a small one (vendors write
    ``MaxX1 == Columns``), is a crop: the bounds are clipped and the scale kept.
    """
    if x0 < 0 or y0 < 0 or x0 > cols - 1 or y0 > rows - 1:
        return (
            f"lie outside the {rows}x{cols} image: the region starts outside it "
            "(stale region of a cropped file?)"
        )
    if y1 + 1 > OVERRUN_FACTOR * rows and x1 + 1 > OVERRUN_FACTOR * cols:
        return (
            f"runs past the {rows}x{cols} image on both axes (extent {y1 + 1}x{x1 + 1}, more than "
            f"{OVERRUN_FACTOR:g}x the image): written for a larger image (resized export?), "
            "its scale does not fit these pixels"
        )
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
        Every region that can belong to the image, bounds clipped. A region whose
        start lies outside the image, or whose extent exceeds ``OVERRUN_FACTOR``
        (1.1) times the image size on both axes, is left out with a problem
        naming it and why: its scale does not fit these pixels.
        Regions whose units are not cm, or whose delta is zero or negative, are
        kept with ``spacing_mm=None`` (and, in cm, the reason in ``scale_problem``).
    problems : list of str
        What was corrected or ignored (off-by-one bounds, stale regions outside the
        image, non-cm units, negative deltas), and overlapping tissue regions whose
        scales differ, for the caller to warn about.
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
        misfit = _misfit(x0, y0, x1, y1, rows, cols)
        if misfit:
            problems.append(
                f"region {i}: bounds ({y0},{x0})-({y1},{x1}) {misfit}; ignored, not used for calibration"
            )
            continue
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, cols - 1), min(y1, rows - 1)
        if (cx0, cy0, cx1, cy1) != (x0, y0, x1, y1):
            problems.append(
                f"region {i}: bounds ({y0},{x0})-({y1},{x1}) clipped to the "
                f"{rows}x{cols} image (a crop that keeps the region's start; scale kept)"
            )
        ux, uy = _int(item, "PhysicalUnitsXDirection"), _int(item, "PhysicalUnitsYDirection")
        dx, dy = _float(item, "PhysicalDeltaX"), _float(item, "PhysicalDeltaY")
        spacing, why = None, None
        if ux == UNIT_CM and uy == UNIT_CM:
            why = _delta_problem(dx, dy)
            if why is None:
                spacing = (dy * 10.0, dx * 10.0)
            else:
                problems.append(
                    f"region {i}: {why}: the physical delta is not a positive length; region not used for calibration"
                )
        elif _int(item, "RegionSpatialFormat") == 1:
            problems.append(
                f"region {i}: 2D region with units "
                f"({UNIT_CODES.get(ux, ux)}, {UNIT_CODES.get(uy, uy)}) instead of cm; "
                "region not used for calibration"
            )
        regions.append(
            Region(
                index=i,
                bounds=(cy0, cx0, cy1, cx1),
                spacing_mm=spacing,
                spatial_format=_int(item, "RegionSpatialFormat"),
                data_type=_int(item, "RegionDataType"),
                flags=_int(item, "RegionFlags"),
                units=(ux, uy),
                scale_problem=why,
            )
        )
    return regions, problems + _overlap_problems(regions)


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
