"""mfscan.measure."""

from .outline import (  # noqa: F401
    MEASURE_COLUMNS,
    polygon_area,
    polygon_perimeter,
    validate_outline,
    outline_mask,
    echo_intensity,
    measure_outline,
)
