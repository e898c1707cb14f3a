"""mfscan.calibration."""

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
