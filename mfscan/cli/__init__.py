"""mfscan.cli: the ``mfscan`` command, one module per command family (see :mod:`mfscan.cli.main`)."""

from ._common import EPILOG  # noqa: F401
from .imagej import cmd_export_imagej, cmd_import_imagej  # noqa: F401
from .info import cmd_info, format_info, image_info  # noqa: F401
from .main import build_parser, main  # noqa: F401
from .measure import cmd_measure  # noqa: F401
from .sample import cmd_sample_data  # noqa: F401
from .study import cmd_asymmetry, cmd_reliability, cmd_report  # noqa: F401
