"""npe2 writer: an outline (Shapes) layer to its ``.mfscan.json`` sidecar."""

from __future__ import annotations

from pathlib import Path

from mfscan.annotations import SUFFIX

from . import _model


def write_shapes(path: str, data, meta: dict) -> list[str]:
    """Save a Shapes layer's outlines with :func:`mfscan.annotations.sidecar.write_sidecar`.

    Parameters
    ----------
    path : str
        Target file. A name not ending in ``.mfscan.json`` (napari appends the
        writer's first extension, ``.json``) is replaced by the sidecar name
        ``<image stem>[.<rater>].mfscan.json`` in the same folder; a folder gets
        that name inside it.
    data : list of arrays
        The polygons, in data pixels.
    meta : dict
        The layer state (``metadata`` as set by the mfscan reader, ``features``).

    Returns
    -------
    list of str
        The file written. If the sidecar changed on disk since it was opened,
        the outlines are written to a ``.conflict-<time>`` file beside it instead.
    """
    metadata = meta.get("metadata") or {}
    if _model.KEY not in metadata:
        raise ValueError(
            "mfscan can only save outline layers that belong to an image it opened "
            "(the layer's metadata lacks 'mfscan')"
        )
    p = Path(path)
    default = _model.layer_sidecar_path(metadata)
    if p.is_dir():
        p = p / Path(default).name
    elif not p.name.endswith(SUFFIX):
        p = p.with_name(Path(default).name)
    res = _model.save_layer_state(data, meta.get("features"), metadata, p)
    if res.conflict:
        import warnings

        warnings.warn(res.message, stacklevel=2)
    return [str(res.path)]
