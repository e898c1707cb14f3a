"""Exceptions raised by mfscan.

Every error names the file (when there is one) and the problem in plain words, so
that a batch command can print ``path: reason`` and go on with the next file.
"""

from __future__ import annotations

from pathlib import Path


class MfscanError(Exception):
    """Base class of every error mfscan raises for bad input.

    Parameters
    ----------
    message : str
        What is wrong, in words a researcher understands.
    path : str or Path, optional
        The file concerned.
    """

    def __init__(self, message: str, path: str | Path | None = None):
        self.message = message
        self.path = None if path is None else Path(path)
        super().__init__(f"{self.path}: {message}" if path is not None else message)


class ImageReadError(MfscanError):
    """An image cannot be opened, decoded or is refused (too large, no pixels)."""


class CalibrationError(MfscanError):
    """Calibration is missing, invalid or ambiguous for what is being measured."""


class AnnotationError(MfscanError):
    """A sidecar annotation file is invalid or cannot be read or written."""


class MeasurementError(MfscanError):
    """An outline cannot be measured (too few points, self-intersecting, outside the image)."""
