"""Which layers of the previous image are reused for the next one (pure decisions).

Removing a layer costs napari a full garbage collection and a scene-graph
rebuild, and adding one builds its shaders and layer controls: together more
than a second per image on a laptop. Stepping through a worklist therefore
gives the next image's data to the layers already in the viewer when they can
take it: an image layer of the same kind (grey or RGB, single frame or cine),
an outline layer of the same dimensionality. Only the rest are removed or added.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .layers import KEY

__all__ = ["LayerSpec", "ReusePlan", "layer_spec", "tuple_spec", "plan_reuse"]


class LayerSpec(NamedTuple):
    """What a layer must share with new data to take it: mfscan kind, napari type, ndim, rgb."""

    kind: str
    type: str
    ndim: int
    rgb: bool
    name: str = ""  # preferred, not required: a layer keeps its name when it can


class ReusePlan(NamedTuple):
    """``reuse[i]``: the index of the old layer that takes new tuple ``i`` (None: add a layer);
    ``unused``: indices of the old layers that take nothing, in order."""

    reuse: list[int | None]
    unused: list[int]


def layer_spec(layer) -> LayerSpec:
    """The :class:`LayerSpec` of a napari layer in the viewer."""
    md = getattr(layer, "metadata", None)
    kind = (md.get(KEY, {}) if isinstance(md, dict) else {}).get("kind") or ""
    rgb = bool(getattr(layer, "rgb", False))
    return LayerSpec(kind, type(layer).__name__.lower(), int(layer.ndim), rgb, str(layer.name))


def tuple_spec(layer_data: tuple) -> LayerSpec:
    """The :class:`LayerSpec` a layer made from a ``(data, kwargs, layer_type)`` tuple would have."""
    data, kwargs, ltype = layer_data
    kind = (kwargs.get("metadata") or {}).get(KEY, {}).get("kind") or ""
    rgb = bool(kwargs.get("rgb", False))
    if ltype == "image":
        ndim = len(np.shape(data)) - (1 if rgb else 0)
    elif data is not None and len(data):
        ndim = int(np.shape(data[0])[-1])
    else:
        ndim = int(kwargs.get("ndim", 2))
    return LayerSpec(kind, ltype, ndim, rgb, str(kwargs.get("name") or ""))


def plan_reuse(old: list[LayerSpec], new: list[LayerSpec]) -> ReusePlan:
    """Give each new layer an unused old layer of the same kind, type, ndim and rgb.

    An old layer of the same name is preferred (the layer list keeps its
    names); otherwise the first one in viewer order.

    Parameters
    ----------
    old : list of LayerSpec
        The previous image's layers, in viewer order.
    new : list of LayerSpec
        The next image's layer tuples, in order.

    Examples
    --------
    >>> img = LayerSpec("image", "image", 2, False, "a.png")
    >>> r1, r2 = (LayerSpec("outlines", "shapes", 2, False, n) for n in ("outlines R1", "outlines R2"))
    >>> plan_reuse([img, r1, r2], [img._replace(name="b.png"), r2])
    ReusePlan(reuse=[0, 2], unused=[1])
    """
    taken: set[int] = set()
    reuse: list[int | None] = [None] * len(new)
    for same_name in (True, False):
        for k, spec in enumerate(new):
            if reuse[k] is not None:
                continue
            j = next(
                (
                    i
                    for i, o in enumerate(old)
                    if i not in taken and o[:4] == spec[:4] and (o.name == spec.name or not same_name)
                ),
                None,
            )
            if j is not None:
                taken.add(j)
                reuse[k] = j
    return ReusePlan(reuse, [i for i in range(len(old)) if i not in taken])
