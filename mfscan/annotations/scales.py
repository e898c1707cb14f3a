"""The scales an image's sidecars hold, gathered for the one calibration rule.

An image's scale belongs to the image: a scale line drawn (or a scale typed) by one rater
serves every rater whose own sidecar sets none. This module only gathers the sidecars'
scales as data (:class:`mfscan.calibration.SidecarScale`); which one applies is decided by
:func:`mfscan.calibration.shared_scale` and :func:`mfscan.calibration.rater_override`.
"""

from __future__ import annotations

from pathlib import Path

from mfscan.calibration import SharedScale, SidecarScale, is_override, shared_scale
from mfscan.errors import MfscanError

__all__ = ["sidecar_scales", "image_shared_scale", "study_blinded"]


def sidecar_scales(annotations) -> list[SidecarScale]:
    """The scale lines and typed scales held by `annotations` (read sidecars), as data."""
    out = []
    for a in annotations:
        if is_override(a.calibration):
            name = Path(a.path).name if a.path else "(unsaved sidecar)"
            out.append(SidecarScale(a.calibration, name, a.rater, a.session))
    return out


def study_blinded(path) -> bool:
    """True when the study holding `path` (a file or folder) is blinded; False without a
    study file or when it cannot be read (the file's own problem is reported by ``mfscan check``)."""
    from mfscan.annotations.study_file import find_study_folder, read_study_settings

    folder = find_study_folder(path)
    if folder is None:
        return False
    try:
        return bool(read_study_settings(folder).get("blinded", False))
    except MfscanError:
        return False


def image_shared_scale(image_path, *, annotations=None, blinded: bool | None = None) -> SharedScale:
    """The scale the sidecars of one image agree on (:func:`mfscan.calibration.shared_scale`).

    Parameters
    ----------
    image_path : str or Path
    annotations : list of Annotation, optional
        The image's sidecars, already read; by default they are found beside the image
        (:func:`mfscan.annotations.find_sidecars`) and read here. Unreadable sidecars
        hold no scale (``mfscan check`` reports them).
    blinded : bool, optional
        Whether the study is blinded; by default read from its study file.
    """
    from mfscan.annotations.paths import find_sidecars
    from mfscan.annotations.sidecar import read_sidecar

    if annotations is None:
        annotations = []
        for p in find_sidecars(image_path):
            try:
                annotations.append(read_sidecar(p))
            except MfscanError:
                continue
    if blinded is None:
        blinded = study_blinded(image_path)
    return shared_scale(sidecar_scales(annotations), blinded=blinded)
