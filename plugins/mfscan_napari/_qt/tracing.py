"""Tracing controller of the widget: tracing by hand, the click tools, and canvas clicks.

:class:`Tracer` arms tracing of one side by hand (napari's polygon or lasso
mode) or one of its click tools (:class:`.tools.ProposeTool`,
:class:`.tools.LivewireTool`, at most one armed), routes canvas clicks to the
armed tool, and adds the outlines the tools make to the rater's layer.
"""

from __future__ import annotations

import numpy as np

from mfscan.errors import MfscanError
from mfscan.vocab import SIDES

from .. import _model
from .._model import layer_meta
from .style import CLICK_TOLERANCE_PX, RED, side_html
from .tools import LineTool, LivewireTool, ProposeTool


class Tracer:
    """Tracing for a widget: ``propose`` and ``livewire`` tools, and the viewer's mouse callbacks.

    Parameters
    ----------
    widget : MultifidusWidget
    """

    def __init__(self, widget):
        self.widget = widget
        self.propose = ProposeTool(self)
        self.livewire = LivewireTool(self)
        #: the RUSI line tools by kind (``thickness``, ``fat``)
        self.lines = {k: LineTool(self, k) for k in ("thickness", "fat")}

    @property
    def viewer(self):
        return self.widget.viewer

    def status(self, html: str, *, color: str | None = None) -> None:
        self.widget.tracing.status(html, color=color)

    def connect(self) -> None:
        v = self.viewer
        v.mouse_drag_callbacks.append(self.on_canvas_press)
        v.mouse_move_callbacks.append(self.on_canvas_move)
        v.mouse_double_click_callbacks.append(self.on_canvas_double_click)

    def disconnect(self) -> None:
        v = self.viewer
        for cbs, cb in (
            (v.mouse_drag_callbacks, self.on_canvas_press),
            (v.mouse_move_callbacks, self.on_canvas_move),
            (v.mouse_double_click_callbacks, self.on_canvas_double_click),
        ):
            while cb in cbs:
                cbs.remove(cb)
        self.livewire.rubber_timer.stop()

    # ------------------------------------------------------------------ arming
    def arm(self, side: str, *, lasso: bool | None = None, livewire: bool | None = None):
        """Get ready to trace one side: select its layer, preset the side, enter drawing mode.

        With `livewire` (default: the “Live-wire” check box) clicks place live-wire
        anchors instead (:meth:`.tools.LivewireTool.arm`); `lasso` (default: the
        “Freehand lasso” check box) draws freehand.
        """
        if side not in SIDES:
            raise ValueError(side)
        panel = self.widget.tracing
        use_livewire = panel.livewire_check.isChecked() if livewire is None else livewire
        if use_livewire and not lasso:
            return self.livewire.arm(side)
        layer = self.prepare_layer(side)
        if layer is None:
            return None
        self.viewer.layers.selection.active = layer
        use_lasso = panel.lasso_check.isChecked() if lasso is None else lasso
        layer.mode = "add_polygon_lasso" if use_lasso else "add_polygon"
        how = (
            "drag to draw freehand (or click, move, click)"
            if use_lasso
            else "click the vertices, double-click to close"
        )
        self.status(
            f"{side_html(side, 'Tracing')} ({self.widget.fields()['level']}, layer “{layer.name}”): {how}."
        )
        return layer

    def armed_tool(self):
        """The armed click tool, or None."""
        return next((t for t in self.tools() if t.armed), None)

    def tools(self) -> tuple:
        return (self.propose, self.livewire, *self.lines.values())

    def cancel(self, message: str | None = "Cancelled.", *, quiet: bool = False) -> None:
        """Disarm the click tools; the live-wire's temporary layer is removed."""
        tool = self.armed_tool()
        for t in self.tools():
            t.disarm()
        if tool is not None and tool.layer is not None and tool.layer in self.viewer.layers:
            self.viewer.layers.selection.active = tool.layer
        if tool is not None and not quiet and message:
            self.status(message)

    def target_layer(self):
        """The current rater's outline layer (created when needed), or None with a message."""
        w = self.widget
        if w.image_layer is None:
            self.status("Open an image first.")
            return None
        try:
            return w.outline_layer(create=True, by_rater=True)
        except MfscanError as e:
            self.status(e.message, color=RED)
            return None

    def prepare_layer(self, side: str):
        """Cancel any armed tool and get the rater's outline layer ready for `side` (or None)."""
        self.cancel(quiet=True)
        layer = self.target_layer()
        if layer is None:
            return None
        layer.selected_data = set()
        self.widget.factory.set_defaults(layer, side)
        return layer

    def add_outline(self, layer, points_rc, side, frame, method, extra=None) -> int:
        """Add a polygon with its features (side, method, frame, extra) and select it for editing."""
        w = self.widget
        pts = np.asarray(points_rc, float)
        if layer_meta(layer).get("n_frames", 1) > 1:
            pts = np.column_stack([np.full(len(pts), float(frame)), pts])
        roi = _model.register_new_outline(layer.metadata, pts, extra)
        w.factory.set_defaults(layer, side, method=method, frame=int(frame), _roi=roi)
        layer.add_polygons([pts])
        w.factory.set_defaults(layer, side)
        i = len(layer.data) - 1
        self.viewer.layers.selection.active = layer
        layer.mode = "direct"
        layer.selected_data = {i}
        w.refresh_table()
        return i

    def add_line(self, layer, points_rc, side, frame, kind) -> int:
        """Add a two-point ``kind`` line (thickness, fat) of `side`; returns its index."""
        w = self.widget
        pts = np.asarray(points_rc, float)
        if layer_meta(layer).get("n_frames", 1) > 1:
            pts = np.column_stack([np.full(len(pts), float(frame)), pts])
        w.factory.set_defaults(layer, side, kind=kind, frame=int(frame))
        layer.add_lines([pts])
        w.factory.set_defaults(layer, side)
        i = len(layer.data) - 1
        self.viewer.layers.selection.active = layer
        layer.mode = "direct"
        layer.selected_data = {i}
        w.refresh_table()
        return i

    # ------------------------------------------------------------------ canvas
    def data_position(self, world) -> tuple[tuple[float, float], int] | None:
        """A canvas position (world coordinates) as ``((row, col), frame)`` of the image, or None."""
        il = self.widget.image_layer
        if il is None:
            return None
        d = np.asarray(il.world_to_data(tuple(world)), float)
        frame = 0
        if d.size > 2:
            n = layer_meta(il).get("n_frames", 1)
            frame = int(min(max(round(float(d[-3])), 0), max(n - 1, 0)))
        return (float(d[-2]), float(d[-1])), frame

    def on_canvas_press(self, viewer, event):
        """Mouse drag callback of the viewer: a left click (not a drag) while a tool is armed."""
        if (
            self.armed_tool() is None
            or getattr(event, "button", 1) != 1
            or tuple(getattr(event, "modifiers", ()) or ())
        ):
            return
        pos0 = np.asarray(getattr(event, "pos", (0, 0)), float)
        world = tuple(event.position)
        yield

        def moved():
            pos = getattr(event, "pos", None)
            return pos is not None and np.hypot(*(np.asarray(pos, float) - pos0)) > CLICK_TOLERANCE_PX

        dragged = False
        while event.type == "mouse_move":
            dragged = dragged or moved()  # panning the view
            yield
        if not (dragged or moved()):
            self.canvas_click(world)

    def canvas_click(self, world):
        """A click on the canvas at `world` coordinates: the armed tool's click."""
        p = self.data_position(world)
        tool = self.armed_tool()
        if p is None or tool is None:
            return None
        rc, frame = p
        return tool.click(rc, frame)

    def on_canvas_move(self, viewer, event):
        self.livewire.on_move(event.position)

    def on_canvas_double_click(self, viewer, event):
        if self.livewire.armed:
            self.livewire.close()
