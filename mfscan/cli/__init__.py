"""mfscan.cli."""

from .main import (  # noqa: F401
    EPILOG,
    cmd_info,
    image_info,
    format_info,
    cmd_measure,
    cmd_import_imagej,
    cmd_export_imagej,
    cmd_sample_data,
    cmd_asymmetry,
    cmd_reliability,
    cmd_report,
    build_parser,
    main,
)
