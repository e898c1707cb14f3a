"""Layer events of the widget: which layers it follows, edits, and ownership
(another rater's layer is read-only)."""

from __future__ import annotations

import numpy as np

from .. import _model
from .._model import is_image_layer, is_outline_layer, layer_meta


class LayerWatcher:
    """Follows the viewer's layers for a widget: marks edits, keeps other raters' layers read-only,
    saves a layer with unsaved edits that is removed, and refreshes the table.

    Parameters
    ----------
    widget : MultifidusWidget
    """

    def __init__(self, widget):
        self.widget = widget
        self.connected: set[int] = set()  # ids of the outline layers whose events are connected
        self.colors_deferred = False  # while layers change image: colours once, at the end

    @property
    def viewer(self):
        return self.widget.viewer

    def connect(self) -> None:
        v = self.viewer
        v.layers.events.inserted.connect(self.on_inserted)
        v.layers.events.removed.connect(self.on_removed)
        v.layers.selection.events.active.connect(self.on_active)
        for layer in v.layers:
            self.adopt(layer)

    def disconnect(self) -> None:
        """Disconnect every viewer and layer callback."""
        v = self.viewer
        for emitter, cb in (
            (v.layers.events.inserted, self.on_inserted),
            (v.layers.events.removed, self.on_removed),
            (v.layers.selection.events.active, self.on_active),
        ):
            try:
                emitter.disconnect(cb)
            except (KeyError, ValueError, TypeError, RuntimeError):
                pass
        for layer in list(v.layers):
            self.disconnect_layer(layer)
        self.connected.clear()

    def adopt(self, layer) -> None:
        w = self.widget
        if is_image_layer(layer):
            w.image_layer = layer
        elif is_outline_layer(layer) and id(layer) not in self.connected:
            if w.study.adopt(layer):
                return  # blinded: another rater's or session's outlines, removed at once
            self.connected.add(id(layer))
            w.history.adopt(layer)
            layer.events.data.connect(self.on_data)
            layer.events.features.connect(self.on_features)
            layer.events.editable.connect(self.on_editable)
            layer.mouse_drag_callbacks.append(self.on_drag)
            if layer_meta(layer).get("image_path") == w.session.image_path:
                w.session.adopt(layer_meta(layer))
            w.factory.set_defaults(layer)
            self.apply_ownership(layer)

    def disconnect_layer(self, layer) -> None:
        if id(layer) in self.connected:
            for emitter, cb in (
                (layer.events.data, self.on_data),
                (layer.events.features, self.on_features),
                (layer.events.editable, self.on_editable),
            ):
                try:
                    emitter.disconnect(cb)
                except (KeyError, ValueError, TypeError, RuntimeError):
                    pass
            if self.on_drag in layer.mouse_drag_callbacks:
                layer.mouse_drag_callbacks.remove(self.on_drag)
            self.connected.discard(id(layer))
            self.widget.history.forget(layer)

    def apply_ownership(self, layer=None) -> None:
        """Other raters' outline layers are shown read-only (``editable = False``): nothing done
        in this session may change, and autosave into, another rater's sidecar."""
        w = self.widget
        layers = [layer] if layer is not None else [ly for ly in self.viewer.layers if is_outline_layer(ly)]
        self.apply_colors()
        for ly in layers:
            mine = w.is_mine(ly)
            if not mine and ly.editable:
                ly.editable = False  # napari switches it to pan_zoom
            elif mine and not ly.editable and self.viewer.dims.ndisplay == 2:
                ly.editable = True
        tool = w.tracer.armed_tool()
        if tool is not None and tool.layer is not None and not w.is_mine(tool.layer):
            w.cancel_tool("Cancelled: the rater changed.")

    def apply_colors(self) -> None:
        """Each rater's (session's) outlines in colours of their own
        (:func:`mfscan_napari._model.rater_colors`): the current rater's by side as always (the
        first layer's when they have none), the others from a small palette, left lighter than
        right; their canvas labels shifted apart."""
        w = self.widget
        if w.image_layer is None or self.colors_deferred:
            return
        mine = [ly for ly in w.outline_layers() if w.is_mine(ly)]
        others = sorted(
            (ly for ly in w.outline_layers() if not w.is_mine(ly)),
            key=lambda ly: (str((layer_meta(ly).get("annotation") or {}).get("rater") or ""), ly.name),
        )
        order = [*mine[:1], *others]  # the rater's own layer first; else the first other one
        for ly in w.outline_layers():
            k = order.index(ly) if ly in order else 0
            colors = _model.rater_colors(k)
            m = layer_meta(ly)
            if m.get("colors") != colors:
                m["colors"] = colors
                with w.session.applying():
                    ly.edge_color_cycle = colors
                    ly.edge_color = "side"
            step = label_step(ly, camera(self.viewer).zoom)  # each layer's labels below the previous one's
            shift = (k * step, 0.0) if ly.ndim == 2 else (0.0, k * step, 0.0)
            if np.shape(ly.text.translation) != (len(shift),) or tuple(ly.text.translation) != shift:
                ly.text.translation = shift

    def on_editable(self, event) -> None:
        # napari makes a Shapes layer editable again when its data is set or the view goes 2D.
        layer = event.source
        if layer.editable and not self.widget.is_mine(layer):
            layer.editable = False

    def on_inserted(self, event) -> None:
        self.adopt(event.value)
        if is_image_layer(event.value):
            self.widget.study.fill_codes(layer_meta(event.value).get("image_path"))  # never carried over
            self.widget._update_image_labels(None)
        self.widget.schedule_refresh()

    def on_removed(self, event) -> None:
        w = self.widget
        layer = event.value
        tool, livewire = w.tracer.armed_tool(), w.tracer.livewire
        if layer is livewire.path_layer:
            livewire.path_layer = None
            if livewire.armed:
                w.cancel_tool("Live-wire cancelled (its layer was removed).")
        elif tool is not None and layer is tool.layer:
            w.cancel_tool()
        if is_outline_layer(layer) and layer_meta(layer).get("dirty"):
            w.saver.save_or_recover_layer(layer)  # never silently discard edits
        self.disconnect_layer(layer)
        w.session.forget(layer_meta(layer))
        if layer is w.image_layer:
            rest = w.image_layers()
            w.image_layer = rest[-1] if rest else None
        w.schedule_refresh()

    def on_active(self, event=None) -> None:
        w = self.widget
        layer = self.viewer.layers.selection.active
        if layer is not None and is_outline_layer(layer):
            img = w._image_layer_for(layer)
            if img is not None:
                w.image_layer = img
        w.schedule_refresh()

    def on_data(self, event) -> None:
        # Every data event (adding, removing, a vertex dragged, data set) is an edit.
        self.mark_dirty(event.source)
        action = str(getattr(event, "action", ""))
        if action == "changed":
            self.mark_edited(event.source, getattr(event, "data_indices", None))
        self.widget.history.record(event.source, action)
        self.widget.schedule_refresh()

    def on_drag(self, layer, event):
        """Mouse-drag callback of an outline layer: while a vertex or an outline is dragged, the
        table and the canvas labels follow (napari emits the layer's data event only on release).
        The refresh is throttled (``refresh_ms``) and runs after napari has moved the vertex."""
        yield
        while event.type == "mouse_move":
            if layer.editable and getattr(layer, "_is_moving", True):
                self.widget.schedule_refresh()
            yield

    def mark_edited(self, layer, indices=None) -> None:
        """A "proposed" outline whose vertices changed becomes "proposed-edited"."""
        if indices is not None:
            indices = [int(i) for i in indices if isinstance(i, (int, np.integer)) and i >= 0]
        try:
            changes = _model.edited_methods(layer.data, layer.features, layer.metadata, indices)
        except (KeyError, ValueError, IndexError):
            return
        if not changes:
            return
        feats = layer.features
        col = feats.columns.get_loc("method")
        for i, method in changes.items():
            feats.iloc[i, col] = method
        n = ", ".join(str(i + 1) for i in sorted(changes))
        self.widget.tracing.status(f"Outline {n} edited: recorded as “{next(iter(changes.values()))}”.")

    def on_features(self, event) -> None:
        if self.widget.session.is_applying:  # the widget itself set defaults or labels
            return
        self.mark_dirty(event.source)
        self.widget.schedule_refresh()

    def mark_dirty(self, layer) -> None:
        if layer is not None and is_outline_layer(layer):
            self.widget.session.mark_dirty(layer_meta(layer))


def label_step(layer, zoom: float, line_px: float = 32.0) -> float:
    """How far (data pixels of `layer`) the canvas labels of successive raters' layers are moved
    down so that two-line 10-point labels (side, then area) at the same place are `line_px`
    screen pixels apart at the camera's `zoom` (screen pixels per world unit; a text's
    translation is in data pixels, before the layer's scale). Computed for the view when the image opens (fitted)."""
    per_px = float(zoom) * abs(float(layer.scale[-2]))  # screen pixels per data pixel
    return line_px / per_px if per_px > 0 else line_px


def camera(viewer):
    """The viewer's camera: ``viewer.scene.camera`` from napari 0.9, ``viewer.camera`` before."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None and hasattr(scene, "camera") else viewer.camera
