"""Compatibility alias: ``mfscan.asymmetry`` is :mod:`mfscan.stats.asymmetry`, kept for the import path the README documents."""

from mfscan.stats.asymmetry import *  # noqa: F401,F403
from mfscan.stats.asymmetry import __doc__ as _doc  # noqa: F401
