"""Compatibility alias: ``mfscan.batch`` is :mod:`mfscan.measure.batch`, kept for the import path the README documents."""

from mfscan.measure.batch import *  # noqa: F401,F403
from mfscan.measure.batch import __doc__ as _doc  # noqa: F401
