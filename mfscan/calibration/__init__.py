"""Calibration in mm per pixel: sources, DICOM regions, and the rule of which scale applies.

See :mod:`mfscan.calibration.rule` for the precedence of calibration sources.
"""

from .scale import (  # noqa: F401
    UNIT_CODES,
    UNIT_CM,
    SOURCES,
    CalibrationWarning,
    Region,
    Calibration,
    UNCALIBRATED,
    manual,
    from_scale_line,
    regions_from_dicom,
    pixel_spacing_from_dicom,
    region_calibration,
    default_calibration,
    calibration_for_points,
    warn_problems,
)
from .rule import OVERRIDE_SOURCES, image_calibration, is_override, roi_calibration  # noqa: F401,E402
