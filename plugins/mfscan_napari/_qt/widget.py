"""The "Multifidus" dock widget: trace, measure live, calibrate, step through a folder.

The widget composes panels (:mod:`.panels`: study codes, image and calibration,
tracing tools, measurements, worklist) and controllers that hold their own
state (:class:`.tools.ProposeTool`, :class:`.tools.LivewireTool`,
:class:`.saving.SaveController`, :class:`.navigation.Navigator`,
:class:`.scale.ScaleController`); it owns the image cache
(:class:`mfscan_napari._model.ImageCache`) and the session
(:class:`mfscan_napari._model.Session`: the open image, each rater's annotation
record, the calibration, the dirty state and the worklist position, with events the
panels follow). Layers are made by :class:`.factory.LayerFactory`, keys bound in
:mod:`.keys`. All measuring, reading, saving decisions and calibration rules are in
:mod:`mfscan_napari._model`, which calls mfscan's core; this module only holds Qt and
viewer wiring.
"""

from __future__ import annotations

import weakref

from qtpy.QtCore import QEvent, QTimer
from qtpy.QtWidgets import QMainWindow, QWidget

from mfscan.calibration import Calibration
from mfscan.errors import MfscanError

from .. import _model
from .._model import KEY, is_image_layer, is_outline_layer, layer_meta
from .factory import LayerFactory
from .keys import widget_keys
from .layers import LayerWatcher
from .navigation import Navigator
from .saving import SaveController
from .scale import ScaleController
from .study import StudyController
from .style import SHORTCUTS
from .swap import LayerSwapper
from .tracing import Tracer
from .ui import build_ui
from .undo import UndoController

__all__ = ["MultifidusWidget", "SHORTCUTS", "KEY"]


class MultifidusWidget(QWidget):
    """Dock widget to trace and measure the left and right multifidus.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
    settings : mfscan_napari._model.Settings, optional
        Where the fields and the last image of each folder are remembered; default
        a JSON file in the user's config folder (``$MFSCAN_CONFIG_DIR`` overrides it).
    autosave_ms : int
        Interval of the autosave of changed outlines (0 disables the timer;
        changing image always saves).
    refresh_ms : int
        Throttle of the live table while a vertex is dragged.
    """

    def __init__(
        self,
        napari_viewer,
        settings: _model.Settings | None = None,
        *,
        autosave_ms: int = 5000,
        refresh_ms: int = 50,
    ):
        super().__init__()
        self.viewer = napari_viewer
        self.settings = settings if settings is not None else _model.Settings()
        self.images = _model.ImageCache()  # decoded images, owned by this widget
        self.rest_cache: dict = {}  # measured rest sidecars (RUSI change column), owned by this widget
        self._image_layer = None
        self.last_rows: list[dict] = []
        self.last_warnings: list[str] = []
        self.last_asymmetry: list[dict] = []
        self._closed = False  # torn down (dock widget removed or closed): see close_widget
        self._was_docked = False
        self._main_window = None  # napari's main window, watched for its Close event
        self.session = _model.Session()  # image, raters' records, calibration, dirty state, worklist
        self.factory = LayerFactory(self)
        self.saver = SaveController(self)
        self.navigator = Navigator(self)
        self.swapper = LayerSwapper(self)
        self.scale = ScaleController(self)
        self.tracer = Tracer(self)
        self.watcher = LayerWatcher(self)
        self.study = StudyController(self)
        self.history = UndoController(self)

        build_ui(self)
        saved = self.settings.get("fields") or {}
        self.codes.set_fields(emit=False, **{k: v for k, v in saved.items() if k in ("rater", "session")})
        self.study.owner = (self.fields()["rater"], self.fields()["session"])

        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(refresh_ms)
        self._refresh_timer.timeout.connect(self.refresh_table)
        self._autosave_timer = QTimer(self)
        self._autosave_timer.setInterval(max(int(autosave_ms), 1))
        self._autosave_timer.timeout.connect(self.autosave)
        if autosave_ms > 0:
            self._autosave_timer.start()
        self.save_label.setText(_model.save_policy_text(autosave_ms))

        self.tracer.connect()
        self.watcher.connect()
        self._keys = widget_keys(self)
        self.refresh_table()

    # ------------------------------------------------------------------ closing
    def _watch_main_window(self):
        """Save (or write recovery copies) when napari's window is about to close: an event
        filter on the main window the widget is docked in (its parent even when floating)."""
        win = self.parentWidget()
        while win is not None and not isinstance(win, QMainWindow):
            win = win.parentWidget()
        old = self._main_window() if self._main_window is not None else None
        if win is None or win is old:
            return
        if old is not None:
            old.removeEventFilter(self)
        win.installEventFilter(self)
        self._main_window = weakref.ref(win)  # a strong reference would keep napari's window alive

    def showEvent(self, event):
        if not self._closed:
            self._watch_main_window()
        super().showEvent(event)

    def eventFilter(self, obj, event):
        # getattr: Qt may deliver events while Python is finalizing the widget.
        ref = getattr(self, "_main_window", None)
        if (
            event.type() == QEvent.Type.Close
            and ref is not None
            and obj is ref()
            and not getattr(self, "_closed", True)
        ):
            self.save_or_recover()
        return False

    def event(self, event):
        if event.type() == QEvent.Type.ParentChange and not getattr(self, "_closed", True):
            if self.parent() is not None:
                self._was_docked = True
            elif self._was_docked:  # napari's remove_dock_widget (or the panel's close button)
                self.close_widget()
        return super().event(event)

    def closeEvent(self, event):
        self.close_widget()
        super().closeEvent(event)

    def close_widget(self):
        """Tear the widget down (its dock was removed or it was closed): save what is unsaved
        (recovery copies when that fails), stop the timers, unbind the keys and disconnect
        every viewer and layer callback. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self.cancel_tool(quiet=True)
        except (RuntimeError, ValueError, KeyError):
            pass
        self.save_or_recover()
        for t in (self._autosave_timer, self._refresh_timer):
            t.stop()
        self.tracer.disconnect()
        self._keys.unbind()
        self.watcher.disconnect()
        win = self._main_window() if self._main_window is not None else None
        self._main_window = None
        if win is not None:
            try:
                win.removeEventFilter(self)
            except RuntimeError:  # already deleted by Qt
                pass

    # ------------------------------------------------------------------ fields
    def fields(self) -> dict:
        """The study codes typed in the widget (empty strings when blank)."""
        return self.codes.fields()

    def set_fields(self, **values):
        """Set study fields (subject, visit, level, rater, session) as if typed, and apply them."""
        self.codes.set_fields(**values)

    def current_rater(self) -> str | None:
        return self.fields()["rater"] or None

    def current_session(self) -> str | None:
        return self.fields()["session"] or None

    def confirm_codes(self, on: bool = True):
        """Confirm codes that disagree with another sidecar or the pattern (as the check box)."""
        self.study.confirm(on)

    def set_study(self, *, pattern: str | None = None, blinded: bool | None = None):
        """Store the naming pattern and/or blinding in the study folder's ``mfscan.study.json``."""
        if pattern is not None:
            self.study.set_pattern(pattern)
        if blinded is not None:
            self.study.set_blinded(blinded)

    def undo(self) -> bool:
        """Undo the last edit of the rater's outlines (Ctrl+Z)."""
        return self.history.undo()

    def redo(self) -> bool:
        """Redo the last undone outline edit (Ctrl+Shift+Z)."""
        return self.history.redo()

    def _on_fields_changed(self):
        f = self.fields()
        self.settings.set("fields", {k: f[k] for k in ("rater", "session")})
        self.study.owner_changed()
        self.watcher.apply_ownership()
        layer = self.outline_layer(create=False, by_rater=True)
        if layer is not None:
            m = layer_meta(layer)
            ann, dirty = _model.apply_study_fields(
                m.get("annotation") or {},
                f,
                n_outlines=len(layer.data),
                sidecar=m.get("digest") and m.get("sidecar_path"),
            )  # a sidecar only when one was read or saved: an empty new layer writes no file
            self.session.set_annotation(m, ann, dirty=dirty)
            self.factory.set_defaults(layer)
        self.study.check_codes()
        self.navigator.update_ui()
        self.refresh_table()

    # ------------------------------------------------------------------ layers (events: .layers.LayerWatcher)
    @property
    def image_layer(self):
        """The image layer shown (None: none); setting it opens its image in :attr:`session`."""
        return self._image_layer

    @image_layer.setter
    def image_layer(self, layer):
        same = layer is self._image_layer
        self._image_layer = layer
        if layer is None:
            self.session.set_image(None)
            return
        m = layer_meta(layer)
        if same and m.get("image_path") == self.session.image_path:
            return
        cal = Calibration.from_dict(m["calibration"]) if m.get("calibration") else None
        self.session.set_image(m.get("image_path"), calibration=cal, n_frames=m.get("n_frames", 1))
        for ly in self.outline_layers(layer):
            self.session.adopt(layer_meta(ly))

    def is_mine(self, layer) -> bool:
        """Whether an outline layer holds the outlines of the rater and session typed in the widget."""
        f = self.fields()
        return _model.same_owner(layer_meta(layer).get("annotation") or {}, f["rater"], f["session"])

    def _image_layer_for(self, outline_layer):
        ip = layer_meta(outline_layer).get("image_path")
        return next((ly for ly in self.image_layers() if layer_meta(ly).get("image_path") == ip), None)

    def image_layers(self):
        return [ly for ly in self.viewer.layers if is_image_layer(ly)]

    def outline_layers(self, image_layer=None):
        """Outline layers of an image layer (default: the current one)."""
        image_layer = image_layer or self.image_layer
        if image_layer is None:
            return []
        ip = layer_meta(image_layer).get("image_path")
        return [
            ly for ly in self.viewer.layers if is_outline_layer(ly) and layer_meta(ly).get("image_path") == ip
        ]

    def outline_layer(self, *, create: bool = False, by_rater: bool = False):
        """The outline layer the table shows and tracing draws into.

        The selected outline layer when there is one (unless `by_rater`), else
        the layer of the rater typed in the widget (``outlines <rater>``),
        created empty when `create` is true.
        """
        active = self.viewer.layers.selection.active
        if (
            not by_rater
            and active is not None
            and is_outline_layer(active)
            and (self.image_layer is None or active in self.outline_layers())
        ):
            return active
        if self.image_layer is None:
            return None
        mine = [ly for ly in self.outline_layers() if self.is_mine(ly)]
        if mine:
            return mine[0]
        if not create:
            others = self.outline_layers()
            return others[0] if (others and not by_rater) else None
        return self.factory.add_own_layer(self.current_rater())

    # ------------------------------------------------------------------ tracing (see .tracing.Tracer)
    def arm(self, side: str, *, lasso: bool | None = None, livewire: bool | None = None):
        """Get ready to trace one side by hand, or with live-wire (:meth:`.tracing.Tracer.arm`)."""
        return self.tracer.arm(side, lasso=lasso, livewire=livewire)

    def arm_propose(self, side: str):
        """Arm “Propose”: the next left click on the image proposes the `side` outline there."""
        return self.tracer.propose.arm(side)

    def propose_at(self, seed_rc, *, frame: int | None = None, side: str | None = None):
        """Propose an outline at a seed (data pixels); see :meth:`.tools.ProposeTool.propose_at`."""
        return self.tracer.propose.propose_at(seed_rc, frame=frame, side=side)

    def cancel_tool(self, message: str | None = "Cancelled.", *, quiet: bool = False):
        """Disarm Propose / Live-wire; the live-wire's temporary layer is removed."""
        self.tracer.cancel(message, quiet=quiet)

    @property
    def tool(self) -> str | None:
        """``"propose"`` or ``"livewire"`` while that tool is armed, else None."""
        t = self.tracer.armed_tool()
        return t.name if t is not None else None

    @property
    def tool_side(self) -> str | None:
        t = self.tracer.armed_tool()
        return t.side if t is not None else None

    # ------------------------------------------------------------------ table
    def schedule_refresh(self):
        """Refresh the table soon (at most once per throttle interval)."""
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def refresh_table(self):
        """Measure the current outline layer with the core and show the results."""
        self._refresh_timer.stop()
        layer = self.outline_layer()
        self._update_image_labels(layer)
        ms = self.measurements
        if layer is None:
            self.last_rows, self.last_warnings, self.last_asymmetry = [], [], []
            ms.clear("No outlines yet: press “Trace left” or “Trace right”.")
            return
        owner = (layer_meta(layer).get("annotation") or {}).get("rater")
        ms.show_layer(
            layer.name, len(layer.data), mine=self.is_mine(layer), rater=self.current_rater(), owner=owner
        )
        try:
            image = self.images.get(layer_meta(layer)["image_path"])
            ann = _model.annotation_from_layer(layer.data, layer.features, layer.metadata)
            rest = _model.RestLookup(layer_meta(layer)["image_path"], self.images, self.rest_cache)
            il = self._image_layer_for(layer)
            over = _model.layer_override(image, layer.metadata, il.metadata if il is not None else None)
            rows = _model.measure_rows(image, ann, rest=rest, override=over)
        except MfscanError as e:
            self.last_rows = []
            ms.clear(error=e.message)
            return
        self.last_rows = rows
        self.last_asymmetry = _model.asymmetry_summary(rows)
        self.last_warnings = _model.outline_warnings(ann, rows)
        ms.show_rows(rows, _model.asymmetry_text(self.last_asymmetry, rows), self.last_warnings)
        self.factory.set_labels(layer, rows)

    def _update_image_labels(self, layer):
        """The calibration shown for the image and outline `layer` goes to the session (the
        calibration panel follows it)."""
        il = self.image_layer
        if il is None:
            return
        self.measurements.show_frames(layer_meta(il).get("n_frames", 1))
        self.session.set_calibration(
            _model.shown_calibration(il.metadata, layer.metadata if layer is not None else None)
        )

    def _on_table_selection(self):
        layer = self.outline_layer()
        if layer is None or not layer.editable or layer.mode not in ("select", "direct", "pan_zoom"):
            return
        rows = self.measurements.selected_rows()
        if rows and all(r < len(layer.data) for r in rows):
            layer.selected_data = rows

    # ------------------------------------------------------------------ calibration, saving, images
    def start_scale_line(self):
        """Add (or select) the "scale line" layer in line-drawing mode (:class:`.scale.ScaleController`)."""
        return self.scale.start_scale_line()

    def set_scale_from_line(self, line=None, length_mm: float | None = None) -> Calibration | None:
        """Calibrate the current image from a line (:meth:`.scale.ScaleController.set_scale_from_line`)."""
        return self.scale.set_scale_from_line(line, length_mm)

    def apply_calibration(self, cal: Calibration):
        """Use `cal` for the current image (:meth:`.scale.ScaleController.apply_calibration`)."""
        return self.scale.apply_calibration(cal)

    @property
    def messages(self) -> list[str]:
        """Save / conflict messages, newest last."""
        return self.saver.messages

    def save(self, *, force_all: bool = False) -> list:
        """Save the current image's changed outline layers (“Save now”: `force_all`)."""
        return self.saver.save(force_all=force_all)

    def autosave(self):
        """Timer slot: save changed outlines (nothing when nothing changed)."""
        self.saver.autosave()

    def save_or_recover(self) -> list:
        """Save every layer with unsaved edits, recovery copies of the others; the copies written."""
        return self.saver.save_or_recover()

    @property
    def worklist(self) -> _model.Worklist | None:
        return self.navigator.worklist

    def open_folder(self, folder):
        """List a folder's images and open the one where work stopped last time."""
        return self.navigator.open_folder(folder)

    def open_image(self, path):
        """Save, then open `path` with its sidecars (:meth:`.navigation.Navigator.open_image`)."""
        return self.navigator.open_image(path)

    def add_image_layers(self, path):
        """Add an image and its outline layers through mfscan's reader."""
        return self.navigator.add_image_layers(path)

    def step(self, delta: int):
        """Go `delta` images forward (negative: back) in the worklist, saving first."""
        return self.navigator.step(delta)
