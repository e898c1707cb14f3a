"""Which scale applies: the one calibration rule, called by batch, CLI, propose and the plugin.

Precedence, highest first:

1. an **override** stored in the sidecar (a scale line drawn on the depth ruler,
   or values typed by the rater: sources ``scale-line`` and ``manual``);
2. the image's own calibration: for a DICOM with calibrated ultrasound regions,
   **the region that contains the outline** (an outline crossing regions is an
   error), else the DICOM PixelSpacing; for a TIFF, the ImageJ scale
   (``imagej-tiff``: unit and resolution set in Fiji);
3. none: the image is uncalibrated and only pixel values are reported.

A sidecar's stored ``dicom-region`` or ``none`` calibration is a record of what
the image said, never an override: the image is read again.
"""

from __future__ import annotations

from mfscan.calibration.scale import Calibration, calibration_for_points

__all__ = ["OVERRIDE_SOURCES", "is_override", "image_calibration", "roi_calibration"]

#: Calibration sources that a sidecar may set over the image's own.
OVERRIDE_SOURCES = ("scale-line", "manual")


def is_override(calibration: Calibration | None) -> bool:
    """True when a sidecar's calibration overrides the image's own (scale line, typed values)."""
    return calibration is not None and calibration.source in OVERRIDE_SOURCES


def image_calibration(image, override: Calibration | None = None) -> Calibration:
    """The calibration an image is displayed and measured with, before choosing a region.

    Parameters
    ----------
    image : mfscan.io.images.Image
        The loaded image (its ``calibration`` is its own, from the file).
    override : Calibration, optional
        The sidecar's calibration, if any; used when :func:`is_override`.
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
        every region or cross from one into another.
    """
    cal = image_calibration(image, override)
    if cal.source == "dicom-region":
        return calibration_for_points(points, image.regions, cal)
    return cal
