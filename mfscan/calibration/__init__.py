"""Calibration in mm per pixel: sources, DICOM regions, and the rule of which scale applies.

* :mod:`mfscan.calibration.scale`: the :class:`Calibration` value (scale line, typed
  values) and the choice among the scales of an image's regions;
* :mod:`mfscan.calibration.dicom`: the calibrated regions and PixelSpacing of a DICOM file;
* :mod:`mfscan.calibration.rule`: the precedence of calibration sources (which scale
  applies to an outline), called by batch, CLI, propose and the plugin.
"""

from .dicom import (  # noqa: F401
    UNIT_CM,
    UNIT_CODES,
    Region,
    pixel_spacing_from_dicom,
    regions_from_dicom,
)
from .rule import (  # noqa: F401,E402
    OVERRIDE_SOURCES,
    SharedScale,
    SidecarScale,
    check_plausible,
    check_typed_scale,
    image_calibration,
    implausible,
    is_override,
    own_calibration,
    rater_override,
    roi_calibration,
    shared_scale,
    sidecar_override,
    typed_scale_problem,
)
from .scale import (  # noqa: F401
    SOURCES,
    UNCALIBRATED,
    Calibration,
    CalibrationWarning,
    calibration_for_points,
    default_calibration,
    from_scale_line,
    manual,
    region_calibration,
    warn_problems,
)
