"""Click tools of the widget: Propose and Live-wire, each a controller holding its own state.

A tool is *armed* for one side and one outline layer (the rater's own); the
widget routes canvas clicks to the armed tool. Only one tool is armed at a
time: arming any tool (or tracing by hand) cancels the others
(``MultifidusWidget.cancel_tool``).
"""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import QTimer

from mfscan.annotations import study_border
from mfscan.errors import MfscanError
from mfscan.vocab import SIDE_COLORS, SIDES

from .. import _model
from .._model import layer_meta
from .keys import bind_layer_keys, unbind_layer_keys
from .style import GREEN, ORANGE, RED, RUBBER_BAND_MAX_PX, RUBBER_BAND_MS, side_html


class ClickTool:
    """What Propose and Live-wire share: the armed side and layer, Esc to cancel.

    Parameters
    ----------
    tracer : mfscan_napari._qt.tracing.Tracer
        The tracing controller (its widget: the viewer, the image cache, the status line).
    """

    name = ""
    title = ""

    def __init__(self, tracer):
        self.tracer = tracer
        self.widget = tracer.widget
        self.side: str | None = None  # armed while not None
        self.layer = None  # the outline layer the tool adds to
        self._escape_layer = None  # the layer whose Esc key is bound to cancel

    @property
    def armed(self) -> bool:
        return self.side is not None

    @property
    def viewer(self):
        return self.widget.viewer

    def status(self, html: str, *, color: str | None = None) -> None:
        self.tracer.status(html, color=color)

    def _arm(self, side: str):
        """Cancel any armed tool and arm this one on the rater's layer (returned; None when none)."""
        if side not in SIDES:
            raise ValueError(side)
        layer = self.tracer.prepare_layer(side)
        if layer is not None:
            self.side, self.layer = side, layer
        return layer

    def bind_escape(self, layer) -> None:
        """Esc on `layer` (the active one while armed) cancels; so does choosing another mode of
        that layer (drawing, selecting) in napari's controls."""
        bind_layer_keys(layer, {"Escape": self.widget.cancel_tool})
        layer.events.mode.connect(self._on_layer_mode)
        self._escape_layer = layer

    def unbind_escape(self) -> None:
        layer, self._escape_layer = self._escape_layer, None
        if layer is None:
            return
        unbind_layer_keys(layer, ["Escape"])
        try:
            layer.events.mode.disconnect(self._on_layer_mode)
        except (KeyError, ValueError, TypeError, RuntimeError):
            pass

    def _on_layer_mode(self, event=None):
        layer = self._escape_layer
        if self.armed and layer is not None and str(layer.mode) != "pan_zoom":
            self.widget.cancel_tool(f"{self.title} cancelled (the layer's mode changed to {layer.mode}).")

    def disarm(self) -> bool:
        """Disarm (the layer is kept, for re-selecting it); returns whether the tool was armed."""
        was = self.armed
        self.side = None
        self.unbind_escape()
        return was

    def click(self, rc, frame: int):
        raise NotImplementedError


class ProposeTool(ClickTool):
    """Propose: the next click proposes the armed side's outline around the clicked seed."""

    name, title = "propose", "Propose"

    def arm(self, side: str):
        """Arm: the next left click on the image proposes the `side` outline there."""
        layer = self._arm(side)
        if layer is None:
            return None
        self.viewer.layers.selection.active = layer
        layer.mode = "pan_zoom"
        self.bind_escape(layer)
        self.status(
            f"{side_html(side, 'Propose')}: click once inside the {side} multifidus "
            f"({self.widget.fields()['level']}). Esc cancels."
        )
        return layer

    def click(self, rc, frame: int):
        return self.propose_at(rc, frame=frame)

    #: the trained model Propose uses (:func:`mfscan.learn.predict.load_model`); None: classical
    model = None

    def choose_model(self, folder=None):
        """Propose with the model in `folder` ("" or classical: the classical proposer; None: ask).

        Returns the loaded model or None; a folder that cannot be loaded (or torch missing)
        leaves the choice unchanged and shows the core's message.
        """
        from qtpy.QtWidgets import QFileDialog

        label = self.widget.tracing.model_label
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self.widget, "Trained model folder (weights.pt)")
            if not folder:
                return self.model
        if folder == "" or folder == "classical":
            self.model = None
            label.setText("Propose with: classical")
            self.status("Propose uses the classical proposer.")
            return None
        try:
            from mfscan.learn.predict import load_model

            model = load_model(folder)
        except MfscanError as e:  # torch missing (install hint), damaged folder ...
            self.status(f"Model not loaded: {e.message}", color=RED)
            return self.model
        self.model = model
        label.setText(f"Propose with: model {model.model_id}")
        self.status(f"Propose uses the model {model.model_id} (method “model”).", color=GREEN)
        return model

    def propose_at(self, seed_rc, *, frame: int | None = None, side: str | None = None):
        """Propose an outline from a seed (data pixels row, col) and add it to the rater's layer.

        Uses the armed side unless `side` is given; disarms. Returns the index of
        the new outline, or None (the reason is shown in the widget).
        """
        from mfscan.assist.propose import ProposalError

        w = self.widget
        side = side or self.side
        if side not in SIDES:
            raise ValueError("no side: arm Propose left or right first, or pass side=")
        armed = self.armed and self.layer in self.viewer.layers
        layer = self.layer if armed else self.tracer.target_layer()
        w.cancel_tool(quiet=True)
        if layer is None:
            return None
        if frame is None:
            frame = w.factory.current_frame(layer)
        try:
            image_path = layer_meta(layer)["image_path"]
            image = w.images.get(image_path)
            il = w._image_layer_for(layer)
            cal = _model.layer_calibration(
                image, layer.metadata, seed_rc, image_metadata=il.metadata if il is not None else None
            )
            if self.model is not None:
                prop = _model.model_propose(self.model, image, frame, seed_rc, cal, side)
            else:
                border = study_border(image_path) if image_path else "inner"  # as mfscan propose
                prop = _model.propose(image, frame, seed_rc, cal, side, border)
        except (ProposalError, MfscanError) as e:  # shadow, outside every region, image gone ...
            self.status(f"No outline proposed: {e.message}", color=RED)
            return None
        from mfscan.annotations.merge import proposal_extra

        conf = float(prop.confidence)
        model_id = getattr(prop, "model_id", None)
        method = _model.METHOD_MODEL if model_id is not None else _model.METHOD_PROPOSED
        flags = list(prop.flags)  # low confidence, out of distribution, side position, size
        extra = {"confidence": round(conf, 3), **({"flags": flags} if flags else {})}
        if model_id is not None:
            extra["model"] = model_id
        extra["proposal"] = proposal_extra(prop.points, method, model_id, flags)  # kept unchanged when edited
        i = self.tracer.add_outline(layer, prop.points, side, frame, method, extra)
        text, warn = _model.proposal_text(side, conf, flags)
        self.status(text + " Drag its vertices to correct it.", color=ORANGE if warn else GREEN)
        return i


class LineTool(ClickTool):
    """Thickness or fat line (RUSI): two clicks make a two-point line ROI of ``kind``.

    The side is the armed one (set by the rater, never guessed); the line is added to
    the rater's outline layer as a napari ``line`` shape with features ``kind`` and ``side``.
    """

    def __init__(self, tracer, kind: str):
        super().__init__(tracer)
        self.kind = kind
        self.name, self.title = kind, f"{kind.capitalize()} line"
        self.first: tuple | None = None  # (row, col), frame of the first click

    def arm(self, side: str):
        """Arm: the next two left clicks are the line's ends."""
        layer = self._arm(side)
        if layer is None:
            return None
        self.first = None
        self.viewer.layers.selection.active = layer
        layer.mode = "pan_zoom"
        self.bind_escape(layer)
        what = (
            "deep landmark, then the muscle's superficial border"
            if self.kind == "thickness"
            else ("skin, then the muscle's superficial fascia")
        )
        self.status(f"{side_html(side, self.title)}: click the {what}. Esc cancels.")
        return layer

    def disarm(self) -> bool:
        self.first = None
        return super().disarm()

    def click(self, rc, frame: int):
        """First click: keep it; second: add the line (returns its index) and disarm."""
        if self.first is None:
            self.first = ((float(rc[0]), float(rc[1])), int(frame))
            self.status(f"{side_html(self.side, self.title)}: now click its other end. Esc cancels.")
            return None
        (p0, f0), side, layer = self.first, self.side, self.layer
        self.widget.cancel_tool(quiet=True)
        if layer is None or layer not in self.viewer.layers:
            return None
        i = self.tracer.add_line(layer, [p0, (float(rc[0]), float(rc[1]))], side, f0, self.kind)
        row = self.widget.last_rows[i] if i < len(self.widget.last_rows) else {}
        self.status(f"{side_html(side, self.title)}: {row.get('label', '')}. Drag its ends to correct it.")
        return i


class LivewireTool(ClickTool):
    """Live-wire: clicks place anchors, the path between them follows edges; double-click or
    Enter closes. Its trace (:class:`mfscan_napari._model.LivewireTrace`) and a temporary
    path layer (``path_layer``) live here."""

    name, title = "livewire", "Live-wire"

    def __init__(self, tracer):
        super().__init__(tracer)
        self.trace: _model.LivewireTrace | None = None
        self.path_layer = None  # temporary Shapes layer showing the path
        self._rubber_world = None
        self._dblclick_zoom = None  # napari's double-click zoom, suspended while armed
        self.rubber_timer = QTimer(self.widget)
        self.rubber_timer.setSingleShot(True)
        self.rubber_timer.setInterval(RUBBER_BAND_MS)
        self.rubber_timer.timeout.connect(self.update_rubber_band)

    @property
    def anchors(self) -> list:
        """The anchors placed, (row, col) in data pixels."""
        return list(self.trace.anchors) if self.trace is not None else []

    def arm(self, side: str):
        """Arm live-wire tracing of `side`: clicks place anchors, double-click / Enter closes."""
        layer = self._arm(side)
        if layer is None:
            return None
        tmp = self.widget.factory.add_helper_layer(
            "livewire",
            f"live-wire {side} (temporary)",
            edge_color=SIDE_COLORS[side],
            edge_width=2,
            face_color="transparent",
        )
        self.path_layer = tmp
        self.viewer.layers.selection.active = tmp
        tmp.mode = "pan_zoom"
        self.bind_escape(tmp)
        bind_layer_keys(tmp, {"Enter": self.close, "Backspace": self.undo})
        self._suspend_double_click_zoom()
        self.status(
            f"{side_html(side, 'Live-wire')}: click anchors along the border "
            "(about 6–10); double-click or Enter closes, Backspace removes the last anchor, "
            "Esc cancels."
        )
        return layer

    def disarm(self) -> bool:
        """Disarm and remove the temporary layer; returns whether the tool was armed."""
        was = super().disarm()
        self.rubber_timer.stop()
        self._rubber_world = None
        self._restore_double_click_zoom()
        self.trace = None
        tmp, self.path_layer = self.path_layer, None
        if tmp is not None and tmp in self.viewer.layers:
            self.widget.navigator.remove_layers([tmp])
        return was

    def click(self, rc, frame: int):
        return self.add_anchor(rc, frame=frame)

    def add_anchor(self, rc, *, frame: int | None = None) -> int | None:
        """Add an anchor (data pixels row, col); returns the number of anchors."""
        if not self.armed:
            return None
        try:
            if self.trace is None:
                image = self.widget.images.get(layer_meta(self.layer)["image_path"])
                f = self.widget.factory.current_frame(self.layer) if frame is None else int(frame)
                trace = _model.LivewireTrace(image, f)
                trace.add(rc)
                self.trace = trace
            else:
                self.trace.add(rc)
        except MfscanError as e:
            self.status(f"Anchor not placed: {e.message}", color=RED)
            return len(self.anchors)
        self.show()
        k = len(self.trace)
        self.status(
            f"{side_html(self.side, 'Live-wire')}: {k} anchor{'s' if k > 1 else ''}. "
            "Double-click or Enter closes, Backspace removes the last anchor, Esc cancels."
        )
        return k

    def undo(self) -> None:
        """Remove the last anchor."""
        if not self.armed or self.trace is None or not self.trace.undo():
            return
        self.show()
        self.status(f"{side_html(self.side, 'Live-wire')}: {len(self.trace)} anchor(s) left.")

    def show(self, rubber=None) -> None:
        """Show the path through the anchors (and the rubber band) on the temporary layer."""
        tmp = self.path_layer
        if tmp is None or tmp not in self.viewer.layers:
            return
        path = self.trace.path(rubber) if self.trace is not None else np.zeros((0, 2))
        if len(path) < 2:
            if len(tmp.data):
                tmp.data = []
            return
        if tmp.ndim == 3:
            path = np.column_stack([np.full(len(path), float(self.trace.frame)), path])
        if len(tmp.data) == 1:
            tmp.data = [path]
        else:
            tmp.data = []
            tmp.add_paths([path], edge_width=2, edge_color=SIDE_COLORS[self.side])

    def on_move(self, world) -> None:
        """The mouse moved over the canvas: update the rubber band soon (throttled)."""
        if self.armed and self.anchors:
            self._rubber_world = tuple(world)
            if not self.rubber_timer.isActive():
                self.rubber_timer.start()

    def update_rubber_band(self) -> None:
        """The live-wire from the last anchor to the mouse (straight when far)."""
        world, self._rubber_world = self._rubber_world, None
        if not self.armed or self.trace is None or world is None:
            return
        p = self.tracer.data_position(world)
        if p is None:
            return
        try:
            rubber = self.trace.rubber_band(p[0], RUBBER_BAND_MAX_PX)
        except MfscanError:
            return
        if rubber is not None:
            self.show(rubber)

    def close(self):
        """Close the outline and add it (method "livewire"); returns its index or None."""
        if not self.armed:
            return None
        layer, side = self.layer, self.side
        n = len(self.trace.distinct_anchors()) if self.trace is not None else 0
        if n < 3:
            self.status(
                f"Live-wire needs at least 3 anchors on the border (have {n}); click more, or Esc to cancel.",
                color=ORANGE,
            )
            return None
        frame = self.trace.frame
        try:
            pts = self.trace.close()
        except MfscanError as e:
            self.status(f"Live-wire failed: {e.message}", color=RED)
            return None
        self.widget.cancel_tool(quiet=True)
        if layer not in self.viewer.layers:
            return None
        i = self.tracer.add_outline(layer, pts, side, frame, _model.METHOD_LIVEWIRE)
        self.status(
            f"Live-wire {side} outline added ({n} anchors). Drag its vertices to correct it.", color=GREEN
        )
        return i

    def _suspend_double_click_zoom(self):
        cbs = self.viewer.mouse_double_click_callbacks
        for k, cb in enumerate(cbs):
            if getattr(cb, "__name__", "") == "double_click_to_zoom":
                self._dblclick_zoom = (k, cbs.pop(k))
                return

    def _restore_double_click_zoom(self):
        if self._dblclick_zoom is not None:
            k, cb = self._dblclick_zoom
            self._dblclick_zoom = None
            cbs = self.viewer.mouse_double_click_callbacks
            if cb not in cbs:
                cbs.insert(min(k, len(cbs)), cb)
