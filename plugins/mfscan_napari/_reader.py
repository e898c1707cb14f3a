"""npe2 reader: ultrasound images (PNG, JPEG, BMP, TIFF, DICOM) and ``.mfscan.json`` sidecars."""

from __future__ import annotations

from pathlib import Path

from mfscan.annotations import SUFFIX

from . import _model


def _accepts(path) -> bool:
    if isinstance(path, (list, tuple)):
        return bool(path) and all(_accepts(p) for p in path)
    p = Path(str(path))
    if p.name.endswith(SUFFIX):
        return p.is_file()
    if p.is_dir():
        return False
    from mfscan.io.images import is_supported

    return is_supported(p)


def get_reader(path):
    """Return :func:`read` when mfscan can open `path` (or every path of a list), else None."""
    return read if _accepts(path) else None


def read(path) -> list[tuple]:
    """Layer data tuples: the image (scale in mm from its calibration) and one
    Shapes layer per rater sidecar beside it (``outlines <rater>``).

    A sidecar path opens its image and all of that image's sidecars.
    """
    paths = path if isinstance(path, (list, tuple)) else [path]
    layers = []
    for p in paths:
        layers += _model.read_layers(p)
    return layers
