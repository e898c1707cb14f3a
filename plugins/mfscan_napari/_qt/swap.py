"""Moving the viewer from one image to the next, reusing the layers already there.

Which old layer takes which new layer's data is decided by
:func:`mfscan_napari._model.plan_reuse`; this module applies it. A reused
layer is disconnected from the widget while its data, metadata, name and
scale change (none of that is an edit) and adopted again afterwards, with a
fresh undo history. The rater's own outline layer of the previous image, when
the next image has none, becomes the empty layer they will trace into.
"""

from __future__ import annotations

import contextlib

import numpy as np

from mfscan.errors import MfscanError

from .. import _model
from .._model import is_outline_layer, layer_meta


class LayerSwapper:
    """Replaces the layers of the previous image by those of the next one.

    Parameters
    ----------
    widget : MultifidusWidget
    """

    def __init__(self, widget):
        self.widget = widget

    @property
    def viewer(self):
        return self.widget.viewer

    def swap(self, old_layers: list, layer_data: list[tuple], remove) -> None:
        """Show `layer_data` (``(data, kwargs, type)`` tuples, the image first) instead of `old_layers`.

        `remove(layers)` removes layers (the navigator's, with its Xvfb work-around). The caller
        applies the raters' colours once afterwards (``watcher.apply_colors``), after fitting the view.
        """
        w = self.widget
        # A layer with edits not written (outlines of a sample image, in memory only) is never
        # reused: it is removed, and removal writes its recovery copy.
        kept = [ly for ly in old_layers if not layer_meta(ly).get("dirty")]
        unused = [ly for ly in old_layers if layer_meta(ly).get("dirty")]
        plan = _model.plan_reuse(
            [_model.layer_spec(ly) for ly in kept], [_model.tuple_spec(t) for t in layer_data]
        )
        unused += [kept[i] for i in plan.unused]
        spare = self._spare(unused, layer_data)
        gone = [ly for ly in unused if ly is not spare]
        if spare is not None:
            w.watcher.disconnect_layer(spare)
        w.watcher.colors_deferred = True
        try:
            with self._batch(bool(gone)):
                if gone:
                    remove(gone)
                for t, j in zip(layer_data, plan.reuse, strict=True):
                    if j is None:
                        w.factory.add_read_layer(t)
                    elif t[2] == "image":
                        self.update_image(kept[j], t[0], t[1])
                    else:
                        self.update_outlines(kept[j], t[0], t[1])
            if spare is not None:
                self.repurpose(spare, remove)
        finally:
            w.watcher.colors_deferred = False
        # colours and label spacing: applied once by the caller, after it fits the view

    def _spare(self, unused: list, layer_data: list[tuple]):
        """The rater's own outline layer among `unused` that can become their empty layer of the
        next image: none when nothing opens, when the next image has the rater's layer already,
        or when its dimensionality differs (2-D outlines cannot hold a cine's, nor the reverse)."""
        w = self.widget
        image = next((t for t in layer_data if t[2] == "image"), None)
        if image is None or not w.current_rater():
            return None
        if any(
            _model.same_owner(
                (t[1].get("metadata") or {}).get(_model.KEY, {}).get("annotation") or {}, *self._owner()
            )
            for t in layer_data
            if t[2] == "shapes"
        ):
            return None
        ndim = _model.tuple_spec(image).ndim
        return next(
            (
                ly
                for ly in unused
                if is_outline_layer(ly)
                and w.is_mine(ly)
                and ly.ndim == ndim
                and not layer_meta(ly).get("dirty")
            ),
            None,
        )

    def _owner(self) -> tuple:
        f = self.widget.fields()
        return f["rater"], f["session"]

    def _batch(self, removing: bool):
        """napari's batched update (one garbage collection for all removals), only when removing:
        leaving it runs a full collection even when nothing was removed."""
        if removing:
            return self.viewer.layers.batched_update()
        return contextlib.nullcontext()

    def update_image(self, layer, data, kwargs: dict) -> None:
        """Give an image layer the next image (data, name, scale, units, metadata, contrast)."""
        w = self.widget
        layer.data = data
        layer.metadata = kwargs["metadata"]
        _set_frame(layer, kwargs)
        if not layer.rgb:
            if layer.gamma != 1.0:  # display settings of the previous image do not carry over
                layer.gamma = 1.0
            if layer.colormap.name != "gray":
                layer.colormap = "gray"
        limits = kwargs.get("contrast_limits")
        if limits is not None and tuple(layer.contrast_limits_range) != tuple(limits):
            layer.contrast_limits_range = limits
        if limits is not None and tuple(layer.contrast_limits) != tuple(limits):
            layer.contrast_limits = limits
        w.image_layer = layer
        w.study.fill_codes(layer_meta(layer).get("image_path"))  # never carried over
        w._update_image_labels(None)
        w.schedule_refresh()

    def update_outlines(self, layer, data, kwargs: dict) -> None:
        """Give an outline layer another sidecar's outlines (or none), as a new layer would get them."""
        w = self.widget
        w.watcher.disconnect_layer(layer)
        colors = layer_meta(layer).get("colors")  # the edge colour cycle the layer has
        with w.session.applying():
            layer.selected_data = set()
            _set_frame(layer, kwargs)
            _set_shapes(layer, data, kwargs)
            layer.features = kwargs["features"]
            layer.metadata = kwargs["metadata"]  # last: a failure above leaves the old image's
            if colors is not None:  # apply_colors changes the cycle only when it differs
                layer_meta(layer)["colors"] = colors
            layer.refresh_colors()  # edge colours by side from the new features
        w.watcher.adopt(layer)

    def repurpose(self, layer, remove) -> None:
        """The rater's own layer of the previous image becomes their empty layer of this one;
        removed instead when the widget's codes cannot name its sidecar."""
        w = self.widget
        try:
            data, kwargs = w.factory.own_layer_data(w.current_rater())
        except (MfscanError, ValueError):
            with self.viewer.layers.batched_update():
                remove([layer])
            return
        self.update_outlines(layer, data, kwargs)


def _set_frame(layer, kwargs: dict) -> None:
    """Name, scale and units of a layer from layer kwargs, each set only when it changes: napari
    recomputes the dims and redraws on every assignment, even of an equal value. A layer the
    rater hid, or made transparent, on the previous image is shown as a new layer would be."""
    if not layer.visible:
        layer.visible = True
    opacity = float(kwargs.get("opacity", 1.0))
    if layer.opacity != opacity:
        layer.opacity = opacity
    if layer.name != kwargs["name"]:
        layer.name = kwargs["name"]
    if not np.allclose(layer.scale, kwargs["scale"]):
        layer.scale = kwargs["scale"]
    units = kwargs.get("units")
    if units is not None and tuple(str(u) for u in layer.units) != tuple(str(u) for u in units):
        layer.units = units


def _set_shapes(layer, data: list, kwargs: dict) -> None:
    """Replace a Shapes layer's shapes by `data` in as few napari updates as possible (each one
    recomputes the viewer's dims and rebuilds the layer's meshes)."""
    n_old = len(layer.data)
    types = kwargs.get("shape_type", "polygon")
    types = [types] * len(data) if isinstance(types, str) else list(types)
    if data and len(data) <= n_old:  # one update; edge widths and face colours are the old shapes'
        layer.data = list(zip(data, types, strict=True))
        return
    if n_old:
        layer.data = []
    if data:
        layer.add(data, shape_type=types, edge_width=kwargs["edge_width"], face_color=kwargs["face_color"])
