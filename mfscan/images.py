"""Compatibility alias: ``mfscan.images`` is :mod:`mfscan.io.images`, kept for the import path the README documents."""

from mfscan.io.images import *  # noqa: F401,F403
from mfscan.io.images import __doc__ as _doc  # noqa: F401
