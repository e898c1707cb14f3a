"""Measuring outlines: one outline, many annotated images, quality-control overlays.

* :mod:`mfscan.measure.outline`: the measures of one outline (area and perimeter from
  :mod:`mfscan.geometry`), its names listed here;
* :mod:`mfscan.measure.discover`: finding images and their sidecars;
* :mod:`mfscan.measure.batch`: measuring sidecars, files and folders, in parallel;
* :mod:`mfscan.measure.qc`: QC overlays.
"""

from .outline import (  # noqa: F401
    MEASURE_COLUMNS,
    echo_intensity,
    measure_outline,
    outline_mask,
    validate_outline,
)
