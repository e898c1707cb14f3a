"""The "Multifidus" dock widget: trace, measure live, calibrate, step through a folder.

All measuring, reading and saving goes through :mod:`mfscan_napari._model`, which
calls mfscan's core; this module only holds Qt and viewer wiring.
"""

from __future__ import annotations

import weakref
from pathlib import Path

import numpy as np
from qtpy.QtCore import QEvent, Qt, QTimer
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFrame, QGridLayout,
    QGroupBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QMainWindow, QPushButton, QSizePolicy,
    QScrollArea, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from mfscan import RESEARCH_NOTICE
from mfscan.annotations import LEVELS, SIDES, sidecar_path
from mfscan.calibration import Calibration
from mfscan.errors import MfscanError

from .. import _model
from .._model import KEY

#: Keyboard shortcuts bound on the viewer (also listed in the widget).
SHORTCUTS = {
    "trace_left": "Alt+L",
    "trace_right": "Alt+R",
    "propose_left": "Shift+Alt+L",
    "propose_right": "Shift+Alt+R",
    "next_image": "PageDown",
    "previous_image": "PageUp",
}
RED = "#ff5252"
ORANGE = "#ffab40"
GREEN = "#69f0ae"
#: A press and release farther apart than this (screen pixels) is a drag (pan), not a click.
CLICK_TOLERANCE_PX = 5
#: Throttle of the live-wire rubber band that follows the mouse (ms).
RUBBER_BAND_MS = 40
#: Beyond this many pixels from the last anchor the rubber band is a straight line.
RUBBER_BAND_MAX_PX = 250


def _meta(layer) -> dict:
    md = getattr(layer, "metadata", None)
    return md.get(KEY, {}) if isinstance(md, dict) else {}


def _is_image(layer) -> bool:
    return _meta(layer).get("kind") == "image"


def _is_outlines(layer) -> bool:
    return _meta(layer).get("kind") == "outlines" and layer.__class__.__name__ == "Shapes"


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

    def __init__(self, napari_viewer, settings: _model.Settings | None = None, *,
                 autosave_ms: int = 5000, refresh_ms: int = 50):
        super().__init__()
        self.viewer = napari_viewer
        self.settings = settings if settings is not None else _model.Settings()
        self.worklist: _model.Worklist | None = None
        self.image_layer = None
        self.last_rows: list[dict] = []
        self.last_warnings: list[str] = []
        self.last_asymmetry: list[dict] = []
        self.messages: list[str] = []  # save / conflict messages, newest last
        self._updating = False
        self._connected: set[int] = set()
        # Semi-automatic tools: "propose" or "livewire" while armed (see arm_propose, arm_livewire).
        self.tool: str | None = None
        self.tool_side: str | None = None
        self._tool_layer = None  # the outline layer the tool adds to
        self._escape_layer = None  # the layer whose Esc key is bound to cancel_tool
        self.livewire_layer = None  # temporary Shapes layer showing the live-wire path
        self.livewire_anchors: list = []  # (row, col) in data pixels
        self._lw_segments: list = []  # edge-following path between consecutive anchors
        self._lw_frame = 0
        self._rubber_world = None
        self._dblclick_zoom = None  # napari's double-click zoom, suspended while live-wire is armed
        self._key_funcs: dict = {}  # shortcut -> the function this widget bound on the viewer
        self._closed = False  # torn down (dock widget removed or closed): see close_widget
        self._was_docked = False
        self._main_window = None  # napari's main window, watched for its Close event

        self._build_ui()
        self._load_fields()

        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(refresh_ms)
        self._refresh_timer.timeout.connect(self.refresh_table)
        self._autosave_timer = QTimer(self)
        self._autosave_timer.setInterval(max(int(autosave_ms), 1))
        self._autosave_timer.timeout.connect(self.autosave)
        if autosave_ms > 0:
            self._autosave_timer.start()
        self.save_label.setText(self._save_policy_text(autosave_ms))
        self._rubber_timer = QTimer(self)
        self._rubber_timer.setSingleShot(True)
        self._rubber_timer.setInterval(RUBBER_BAND_MS)
        self._rubber_timer.timeout.connect(self.update_rubber_band)

        self.viewer.mouse_drag_callbacks.append(self._on_canvas_press)
        self.viewer.mouse_move_callbacks.append(self._on_canvas_move)
        self.viewer.mouse_double_click_callbacks.append(self._on_canvas_double_click)

        self.viewer.layers.events.inserted.connect(self._on_inserted)
        self.viewer.layers.events.removed.connect(self._on_removed)
        self.viewer.layers.selection.events.active.connect(self._on_active)
        for layer in self.viewer.layers:
            self._adopt(layer)
        self._bind_keys()
        self.refresh_table()

    @staticmethod
    def _save_policy_text(autosave_ms: int) -> str:
        if autosave_ms > 0:
            sec = autosave_ms / 1000
            every = f"every {sec:g} s" if sec >= 1 else f"every {autosave_ms} ms"
            return (f"Outlines are saved when you change image and {every} while there are unsaved "
                    "edits (“Save now” saves at once).")
        return "Outlines are saved when you change image and when you press “Save now”."

    # ------------------------------------------------------------------ UI
    def _build_ui(self):
        self.setMinimumWidth(470)  # the whole measurement table, echo column included
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        notice = QLabel("<b>Research use only — not for diagnosis.</b> " + RESEARCH_NOTICE)
        notice.setWordWrap(True)
        notice.setStyleSheet(f"color: {ORANGE}; font-size: 11px;")
        notice.setObjectName("research_notice")
        self.notice_label = notice
        outer.addWidget(notice)  # always visible, outside the scroll area
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        content = QWidget()
        scroll.setWidget(content)
        outer.addWidget(scroll, stretch=1)
        root = QVBoxLayout(content)
        root.setContentsMargins(0, 0, 4, 0)

        study = QGroupBox("Study codes (never patient names)")
        form = QGridLayout(study)
        self.subject_edit = QLineEdit()
        self.subject_edit.setPlaceholderText("e.g. P01")
        self.visit_edit = QLineEdit()
        self.visit_edit.setPlaceholderText("e.g. 1")
        self.level_combo = QComboBox()
        self.level_combo.addItems(list(LEVELS))
        self.level_combo.setCurrentText("L4")
        self.rater_edit = QLineEdit()
        self.rater_edit.setPlaceholderText("e.g. R1")
        self.rater_edit.setToolTip("Rater code: letters, digits, '-' and '_'. Each rater saves "
                                   "<image>.<rater>.mfscan.json")
        for i, (label, w) in enumerate((("Subject", self.subject_edit), ("Visit", self.visit_edit),
                                        ("Level", self.level_combo), ("Rater", self.rater_edit))):
            form.addWidget(QLabel(label), i // 2, 2 * (i % 2))
            form.addWidget(w, i // 2, 2 * (i % 2) + 1)
        form.setColumnStretch(1, 1)
        form.setColumnStretch(3, 1)
        for w in (self.subject_edit, self.visit_edit, self.rater_edit):
            w.editingFinished.connect(self._on_fields_changed)
        self.level_combo.currentTextChanged.connect(lambda _t: self._on_fields_changed())
        root.addWidget(study)

        img = QGroupBox("Image and calibration")
        v = QVBoxLayout(img)
        self.image_label = QLabel("No image. Open one (File ▸ Open) or a folder below.")
        self.image_label.setWordWrap(True)
        v.addWidget(self.image_label)
        self.calibration_label = QLabel()
        self.calibration_label.setWordWrap(True)
        self.calibration_label.setObjectName("calibration_status")
        v.addWidget(self.calibration_label)
        row = QHBoxLayout()
        self.scale_line_button = QPushButton("Draw scale line")
        self.scale_line_button.setToolTip("Draw a straight line over a known distance of the depth ruler")
        self.scale_line_button.clicked.connect(self.start_scale_line)
        self.scale_length = QDoubleSpinBox()
        self.scale_length.setRange(0.1, 500.0)
        self.scale_length.setDecimals(1)
        self.scale_length.setValue(10.0)
        self.scale_length.setSuffix(" mm")
        self.scale_length.setToolTip("Real length of the drawn line")
        self.set_scale_button = QPushButton("Set scale")
        self.set_scale_button.setToolTip("Calibrate this image from the last line drawn and its length in mm")
        self.set_scale_button.clicked.connect(lambda: self.set_scale_from_line())
        row.addWidget(self.scale_line_button)
        row.addWidget(self.scale_length)
        row.addWidget(self.set_scale_button)
        v.addLayout(row)
        root.addWidget(img)

        tr = QGroupBox("Trace")
        v = QVBoxLayout(tr)
        row = QHBoxLayout()
        self.left_button = QPushButton(f"Trace left ({SHORTCUTS['trace_left']})")
        self.left_button.setStyleSheet(f"border: 2px solid {_model.SIDE_COLORS['left']};")
        self.left_button.clicked.connect(lambda: self.arm("left"))
        self.right_button = QPushButton(f"Trace right ({SHORTCUTS['trace_right']})")
        self.right_button.setStyleSheet(f"border: 2px solid {_model.SIDE_COLORS['right']};")
        self.right_button.clicked.connect(lambda: self.arm("right"))
        row.addWidget(self.left_button)
        row.addWidget(self.right_button)
        v.addLayout(row)
        row = QHBoxLayout()
        propose_tip = ("Then click once inside the {side} multifidus: mfscan proposes its outline "
                       "(method “proposed”, with a confidence). Check it and drag its vertices to "
                       "correct it. Esc cancels.")
        self.propose_left_button = QPushButton(f"Propose left ({SHORTCUTS['propose_left']})")
        self.propose_left_button.setStyleSheet(f"border: 2px dashed {_model.SIDE_COLORS['left']};")
        self.propose_left_button.setToolTip(propose_tip.format(side="left"))
        self.propose_left_button.clicked.connect(lambda: self.arm_propose("left"))
        self.propose_right_button = QPushButton(f"Propose right ({SHORTCUTS['propose_right']})")
        self.propose_right_button.setStyleSheet(f"border: 2px dashed {_model.SIDE_COLORS['right']};")
        self.propose_right_button.setToolTip(propose_tip.format(side="right"))
        self.propose_right_button.clicked.connect(lambda: self.arm_propose("right"))
        row.addWidget(self.propose_left_button)
        row.addWidget(self.propose_right_button)
        v.addLayout(row)
        row = QHBoxLayout()
        self.lasso_check = QCheckBox("Freehand lasso (drag)")
        self.lasso_check.setToolTip("Trace left / right: draw the outline freehand instead of clicking its vertices")
        self.livewire_check = QCheckBox("Live-wire (snaps to edges)")
        self.livewire_check.setToolTip(
            "Trace left / right: click anchors on the border; between them the line follows the "
            "strongest edge. Double-click or Enter closes the outline, Backspace removes the last "
            "anchor, Esc cancels.")
        self.lasso_check.toggled.connect(lambda on: on and self.livewire_check.setChecked(False))
        self.livewire_check.toggled.connect(lambda on: on and self.lasso_check.setChecked(False))
        row.addWidget(self.lasso_check)
        row.addWidget(self.livewire_check)
        row.addStretch(1)
        v.addLayout(row)
        self.mode_label = QLabel("The patient's side is set by you, never guessed from the image.")
        self.mode_label.setWordWrap(True)
        v.addWidget(self.mode_label)
        root.addWidget(tr)

        ms = QGroupBox("Measurements")
        ms.setToolTip("Computed by mfscan's core: the same numbers `mfscan measure` writes to its CSV")
        v = QVBoxLayout(ms)
        self.layer_label = QLabel()
        v.addWidget(self.layer_label)
        self.table = QTableWidget(0, len(_model.TABLE_COLUMNS))
        self._set_headers("cm")
        self.table.verticalHeader().setVisible(True)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMinimumHeight(120)
        self.table.setWordWrap(False)
        self.table.setColumnHidden(self._column("frame"), True)
        self.table.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
        self.table.itemSelectionChanged.connect(self._on_table_selection)
        v.addWidget(self.table)
        self.asymmetry_label = QLabel()
        self.asymmetry_label.setWordWrap(True)
        self.asymmetry_label.setObjectName("asymmetry")
        v.addWidget(self.asymmetry_label)
        self.warnings_label = QLabel()
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setStyleSheet(f"color: {ORANGE};")
        v.addWidget(self.warnings_label)
        root.addWidget(ms)

        wl = QGroupBox("Worklist")
        v = QVBoxLayout(wl)
        row = QHBoxLayout()
        self.open_folder_button = QPushButton("Open folder…")
        self.open_folder_button.clicked.connect(self._choose_folder)
        self.save_button = QPushButton("Save now")
        self.save_button.clicked.connect(lambda: self.save(force_all=True))
        row.addWidget(self.open_folder_button)
        row.addWidget(self.save_button)
        v.addLayout(row)
        self.folder_label = QLabel("No folder open.")
        self.folder_label.setWordWrap(True)
        v.addWidget(self.folder_label)
        row = QHBoxLayout()
        self.prev_button = QPushButton(f"◀ Previous ({SHORTCUTS['previous_image']})")
        self.prev_button.clicked.connect(lambda: self.step(-1))
        self.next_button = QPushButton(f"Next ({SHORTCUTS['next_image']}) ▶")
        self.next_button.clicked.connect(lambda: self.step(1))
        row.addWidget(self.prev_button)
        row.addWidget(self.next_button)
        v.addLayout(row)
        self.progress_label = QLabel()
        v.addWidget(self.progress_label)
        self.save_label = QLabel(self._save_policy_text(5000))
        self.save_label.setWordWrap(True)
        v.addWidget(self.save_label)
        root.addWidget(wl)

        keys = QLabel(
            f"Keys: {SHORTCUTS['trace_left']} / {SHORTCUTS['trace_right']} trace left / right · "
            f"{SHORTCUTS['propose_left']} / {SHORTCUTS['propose_right']} propose left / right · "
            f"{SHORTCUTS['next_image']} / {SHORTCUTS['previous_image']} next / previous image · "
            "polygon and live-wire: click, double-click (or Enter) to close · Esc cancels")
        keys.setWordWrap(True)
        keys.setStyleSheet("font-size: 11px;")
        root.addWidget(keys)
        self._update_worklist_ui()

    @staticmethod
    def _column(key: str) -> int:
        return [k for k, _h in _model.TABLE_COLUMNS].index(key)

    def _bind_keys(self):
        funcs = {
            "trace_left": lambda _v: self.arm("left"),
            "trace_right": lambda _v: self.arm("right"),
            "propose_left": lambda _v: self.arm_propose("left"),
            "propose_right": lambda _v: self.arm_propose("right"),
            "next_image": lambda _v: self.step(1),
            "previous_image": lambda _v: self.step(-1),
        }
        for name, func in funcs.items():
            self.viewer.bind_key(SHORTCUTS[name], func, overwrite=True)
            self._key_funcs[SHORTCUTS[name]] = func

    def _unbind_keys(self):
        from napari.utils.key_bindings import coerce_keybinding

        keymap = self.viewer.keymap
        for key, func in self._key_funcs.items():
            if keymap.get(coerce_keybinding(key)) is func:  # not one another widget bound since
                self.viewer.bind_key(key, None)
        self._key_funcs = {}

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
        if (event.type() == QEvent.Type.Close and ref is not None and obj is ref()
                and not getattr(self, "_closed", True)):
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

    def save_or_recover(self) -> list:
        """Save every outline layer with unsaved edits; for each that cannot be saved, write a
        recovery copy (:meth:`_recover`). Returns the recovery files written."""
        written = []
        for layer in [ly for ly in self.viewer.layers if _is_outlines(ly) and _meta(ly).get("dirty")]:
            self._save_layer(layer)
            if _meta(layer).get("dirty"):
                p = self._recover(layer)
                if p is not None:
                    written.append(p)
        return written

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
        for t in (self._autosave_timer, self._refresh_timer, self._rubber_timer):
            t.stop()
        self._unbind_keys()
        v = self.viewer
        for emitter, cb in ((v.layers.events.inserted, self._on_inserted),
                            (v.layers.events.removed, self._on_removed),
                            (v.layers.selection.events.active, self._on_active)):
            try:
                emitter.disconnect(cb)
            except (KeyError, ValueError, TypeError, RuntimeError):
                pass
        for cbs, cb in ((v.mouse_drag_callbacks, self._on_canvas_press),
                        (v.mouse_move_callbacks, self._on_canvas_move),
                        (v.mouse_double_click_callbacks, self._on_canvas_double_click)):
            while cb in cbs:
                cbs.remove(cb)
        for layer in list(v.layers):
            self._disconnect(layer)
        self._connected.clear()
        win = self._main_window() if self._main_window is not None else None
        self._main_window = None
        if win is not None:
            try:
                win.removeEventFilter(self)
            except RuntimeError:  # already deleted by Qt
                pass

    # ------------------------------------------------------------------ fields
    def _load_fields(self):
        f = self.settings.get("fields") or {}
        self._updating = True
        try:
            self.subject_edit.setText(f.get("subject", ""))
            self.visit_edit.setText(f.get("visit", ""))
            if f.get("level") in LEVELS:
                self.level_combo.setCurrentText(f["level"])
            self.rater_edit.setText(f.get("rater", ""))
        finally:
            self._updating = False

    def fields(self) -> dict:
        """The study codes typed in the widget (empty strings when blank)."""
        return {"subject": self.subject_edit.text().strip(), "visit": self.visit_edit.text().strip(),
                "level": self.level_combo.currentText(), "rater": self.rater_edit.text().strip()}

    def set_fields(self, **values):
        """Set study fields (subject, visit, level, rater) as if typed, and apply them."""
        self._updating = True
        try:
            for k, v in values.items():
                if k == "level":
                    self.level_combo.setCurrentText(v)
                else:
                    getattr(self, f"{k}_edit").setText(v or "")
        finally:
            self._updating = False
        self._on_fields_changed()

    def _on_fields_changed(self):
        if self._updating:
            return
        f = self.fields()
        self.settings.set("fields", f)
        self._apply_ownership()
        layer = self.outline_layer(create=False, by_rater=True)
        if layer is not None:
            ann = _meta(layer).setdefault("annotation", {})
            changed = False
            for k in ("subject", "visit", "level"):
                new = f[k] or None
                if ann.get(k) != new:
                    if new is None:
                        ann.pop(k, None)
                    else:
                        ann[k] = new
                    changed = True
            if changed and (len(layer.data) or _meta(layer).get("sidecar_path")):
                self._mark_dirty(layer)
            self._set_defaults(layer)
        self.refresh_table()

    # ------------------------------------------------------------------ layers
    def _adopt(self, layer):
        if _is_image(layer):
            self.image_layer = layer
        elif _is_outlines(layer) and id(layer) not in self._connected:
            self._connected.add(id(layer))
            layer.events.data.connect(self._on_data)
            layer.events.features.connect(self._on_features)
            layer.events.editable.connect(self._on_editable)
            self._set_defaults(layer)
            self._apply_ownership(layer)

    def _disconnect(self, layer):
        if id(layer) in self._connected:
            for emitter, cb in ((layer.events.data, self._on_data), (layer.events.features, self._on_features),
                                (layer.events.editable, self._on_editable)):
                try:
                    emitter.disconnect(cb)
                except (KeyError, ValueError, TypeError, RuntimeError):
                    pass
            self._connected.discard(id(layer))

    # ------------------------------------------------------------------ whose outlines
    def current_rater(self) -> str | None:
        return self.fields()["rater"] or None

    def is_mine(self, layer) -> bool:
        """Whether an outline layer holds the outlines of the rater typed in the widget."""
        return ((_meta(layer).get("annotation") or {}).get("rater") or None) == self.current_rater()

    def _apply_ownership(self, layer=None):
        """Other raters' outline layers are shown read-only (``editable = False``): nothing done
        in this session may change, and autosave into, another rater's sidecar."""
        layers = [layer] if layer is not None else [ly for ly in self.viewer.layers if _is_outlines(ly)]
        for ly in layers:
            mine = self.is_mine(ly)
            if not mine and ly.editable:
                ly.editable = False  # napari switches it to pan_zoom
            elif mine and not ly.editable and self.viewer.dims.ndisplay == 2:
                ly.editable = True
        if self.tool is not None and self._tool_layer is not None and not self.is_mine(self._tool_layer):
            self.cancel_tool("Cancelled: the rater changed.")

    def _on_editable(self, event):
        # napari makes a Shapes layer editable again when its data is set or the view goes 2D.
        layer = event.source
        if layer.editable and not self.is_mine(layer):
            layer.editable = False

    def _on_inserted(self, event):
        self._adopt(event.value)
        if _is_image(event.value):
            self._update_image_labels(None)
        self.schedule_refresh()

    def _on_removed(self, event):
        layer = event.value
        if layer is self.livewire_layer:
            self.livewire_layer = None
            if self.tool == "livewire":
                self.cancel_tool("Live-wire cancelled (its layer was removed).")
        elif layer is self._tool_layer and self.tool is not None:
            self.cancel_tool()
        if _is_outlines(layer) and _meta(layer).get("dirty"):
            self._save_layer(layer)  # never silently discard edits
            if _meta(layer).get("dirty"):
                self._recover(layer)  # could not be saved: a copy in the recovery folder
        self._disconnect(layer)
        if layer is self.image_layer:
            rest = [ly for ly in self.viewer.layers if _is_image(ly)]
            self.image_layer = rest[-1] if rest else None
        self.schedule_refresh()

    def _on_active(self, event=None):
        layer = self.viewer.layers.selection.active
        if layer is not None and _is_outlines(layer):
            img = self._image_layer_for(layer)
            if img is not None:
                self.image_layer = img
        self.schedule_refresh()

    def _on_data(self, event):
        # Every data event (adding, removing, a vertex dragged, data set) is an edit.
        self._mark_dirty(event.source)
        if str(getattr(event, "action", "")) == "changed":
            self._mark_edited(event.source, getattr(event, "data_indices", None))
        self.schedule_refresh()

    def _mark_edited(self, layer, indices=None):
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
        self.mode_label.setText(f"Outline {n} edited: recorded as “{next(iter(changes.values()))}”.")

    def _on_features(self, event):
        if self._updating:
            return
        self._mark_dirty(event.source)
        self.schedule_refresh()

    def _mark_dirty(self, layer):
        if layer is not None and _is_outlines(layer):
            _meta(layer)["dirty"] = True

    def _image_layer_for(self, outline_layer):
        ip = _meta(outline_layer).get("image_path")
        for ly in self.viewer.layers:
            if _is_image(ly) and _meta(ly).get("image_path") == ip:
                return ly
        return None

    def image_layers(self):
        return [ly for ly in self.viewer.layers if _is_image(ly)]

    def outline_layers(self, image_layer=None):
        """Outline layers of an image layer (default: the current one)."""
        image_layer = image_layer or self.image_layer
        if image_layer is None:
            return []
        ip = _meta(image_layer).get("image_path")
        return [ly for ly in self.viewer.layers if _is_outlines(ly) and _meta(ly).get("image_path") == ip]

    def outline_layer(self, *, create: bool = False, by_rater: bool = False):
        """The outline layer the table shows and tracing draws into.

        The selected outline layer when there is one (unless `by_rater`), else
        the layer of the rater typed in the widget (``outlines <rater>``),
        created empty when `create` is true.
        """
        active = self.viewer.layers.selection.active
        if not by_rater and active is not None and _is_outlines(active) \
                and (self.image_layer is None or active in self.outline_layers()):
            return active
        if self.image_layer is None:
            return None
        rater = self.fields()["rater"] or None
        mine = [ly for ly in self.outline_layers()
                if ((_meta(ly).get("annotation") or {}).get("rater") or None) == rater]
        if mine:
            return mine[0]
        if not create:
            others = self.outline_layers()
            return others[0] if (others and not by_rater) else None
        return self._create_outline_layer(rater)

    def _create_outline_layer(self, rater):
        img_layer = self.image_layer
        im = _meta(img_layer)
        image = _model.get_image(im["image_path"])
        f = self.fields()
        if rater:
            sidecar_path(im["image_path"], rater)  # validates the rater code (raises)
        ann = _model.new_annotation(im["image_path"], subject=f["subject"], visit=f["visit"],
                                    level=f["level"], rater=rater)
        cal = Calibration.from_dict(im["calibration"])
        if cal.source in ("scale-line", "manual"):
            ann.calibration = cal
        sc = None
        if not str(im["image_path"]).startswith(_model.MEMORY_PREFIX):
            sc = str(sidecar_path(im["image_path"], rater))
        data, kw, _ = _model.shapes_layer_data(image, ann, sidecar=sc, calibration=cal)
        kw.pop("shape_type", None)
        return self.viewer.add_shapes(data, **kw)

    def _set_defaults(self, layer, side: str | None = None):
        f = self.fields()
        d = dict(layer.feature_defaults.iloc[0]) if len(layer.feature_defaults.columns) else {}
        rater = (_meta(layer).get("annotation") or {}).get("rater") or ""
        frame = 0
        if _meta(layer).get("n_frames", 1) > 1 and len(self.viewer.dims.current_step):
            frame = int(self.viewer.dims.current_step[0])
        d.update({"level": f["level"], "rater": rater, "method": "manual", "frame": frame,
                  "label": "", "_roi": "{}"})
        if side is not None:
            d["side"] = side
        elif d.get("side") not in SIDES:
            d["side"] = "left"
        self._updating = True
        try:
            layer.feature_defaults = d
        finally:
            self._updating = False

    # ------------------------------------------------------------------ tracing
    def arm(self, side: str, *, lasso: bool | None = None, livewire: bool | None = None):
        """Get ready to trace one side: select its layer, preset the side, enter drawing mode.

        With `livewire` (default: the “Live-wire” check box) clicks place live-wire
        anchors instead (:meth:`arm_livewire`).
        """
        if side not in SIDES:
            raise ValueError(side)
        use_livewire = self.livewire_check.isChecked() if livewire is None else livewire
        if use_livewire and not lasso:
            return self.arm_livewire(side)
        layer = self._prepare_layer(side)
        if layer is None:
            return None
        self.viewer.layers.selection.active = layer
        use_lasso = self.lasso_check.isChecked() if lasso is None else lasso
        layer.mode = "add_polygon_lasso" if use_lasso else "add_polygon"
        how = ("drag to draw freehand (or click, move, click)" if use_lasso
               else "click the vertices, double-click to close")
        self.mode_label.setText(
            f"<b style='color:{_model.SIDE_COLORS[side]}'>Tracing {side.upper()}</b> "
            f"({self.fields()['level']}, layer “{layer.name}”): {how}.")
        return layer

    def _target_layer(self):
        """The current rater's outline layer (created when needed), or None with a message."""
        if self.image_layer is None:
            self.mode_label.setText("Open an image first.")
            return None
        try:
            return self.outline_layer(create=True, by_rater=True)
        except MfscanError as e:
            self.mode_label.setText(f"<span style='color:{RED}'>{e.message}</span>")
            return None

    # ------------------------------------------------------------------ semi-automatic tools
    def _status(self, html: str, *, color: str | None = None):
        self.mode_label.setText(f"<span style='color:{color}'>{html}</span>" if color else html)

    def _side_html(self, side: str, what: str) -> str:
        return f"<b style='color:{_model.SIDE_COLORS[side]}'>{what} {side.upper()}</b>"

    def _prepare_layer(self, side: str):
        """Cancel any armed tool and get the rater's outline layer ready for `side` (or None)."""
        self.cancel_tool(quiet=True)
        layer = self._target_layer()
        if layer is None:
            return None
        layer.selected_data = set()
        self._set_defaults(layer, side)
        return layer

    def _arm_tool(self, tool: str, side: str):
        """Common part of arming a click tool: returns the outline layer or None."""
        if side not in SIDES:
            raise ValueError(side)
        layer = self._prepare_layer(side)
        if layer is not None:
            self.tool, self.tool_side, self._tool_layer = tool, side, layer
        return layer

    def _bind_escape(self, layer):
        """Esc on `layer` (the active one while a tool is armed) cancels the tool; so does
        choosing another mode of that layer (drawing, selecting) in napari's controls."""
        layer.bind_key("Escape", lambda _l: self.cancel_tool(), overwrite=True)
        layer.events.mode.connect(self._on_tool_layer_mode)
        self._escape_layer = layer

    def _unbind_escape(self):
        layer, self._escape_layer = self._escape_layer, None
        if layer is not None:
            try:
                layer.bind_key("Escape", None)
            except (KeyError, ValueError, TypeError):
                pass
            try:
                layer.events.mode.disconnect(self._on_tool_layer_mode)
            except (KeyError, ValueError, TypeError, RuntimeError):
                pass

    def _on_tool_layer_mode(self, event=None):
        layer = self._escape_layer
        if self.tool is not None and layer is not None and str(layer.mode) != "pan_zoom":
            self.cancel_tool(f"{'Propose' if self.tool == 'propose' else 'Live-wire'} cancelled "
                             f"(the layer's mode changed to {layer.mode}).")

    def arm_propose(self, side: str):
        """Arm “Propose”: the next left click on the image proposes the `side` outline there."""
        layer = self._arm_tool("propose", side)
        if layer is None:
            return None
        self.viewer.layers.selection.active = layer
        layer.mode = "pan_zoom"
        self._bind_escape(layer)
        self._status(f"{self._side_html(side, 'Propose')}: click once inside the {side} multifidus "
                     f"({self.fields()['level']}). Esc cancels.")
        return layer

    def cancel_tool(self, message: str | None = "Cancelled.", *, quiet: bool = False):
        """Disarm Propose / Live-wire; the live-wire's temporary layer is removed."""
        was = self.tool
        self.tool = None
        self._rubber_timer.stop()
        self._rubber_world = None
        self._unbind_escape()
        self._restore_double_click_zoom()
        self.livewire_anchors, self._lw_segments = [], []
        tmp, self.livewire_layer = self.livewire_layer, None
        if tmp is not None and tmp in self.viewer.layers:
            self._remove_layers([tmp])
        if self._tool_layer is not None and self._tool_layer in self.viewer.layers and was is not None:
            self.viewer.layers.selection.active = self._tool_layer
        if was is not None and not quiet and message:
            self._status(message)

    def _data_position(self, world) -> tuple[tuple[float, float], int] | None:
        """A canvas position (world coordinates) as ``((row, col), frame)`` of the image, or None."""
        il = self.image_layer
        if il is None:
            return None
        d = np.asarray(il.world_to_data(tuple(world)), float)
        frame = 0
        if d.size > 2:
            n = _meta(il).get("n_frames", 1)
            frame = int(min(max(round(float(d[-3])), 0), max(n - 1, 0)))
        return (float(d[-2]), float(d[-1])), frame

    def _on_canvas_press(self, viewer, event):
        """Mouse drag callback of the viewer: a left click (not a drag) while a tool is armed."""
        if self.tool is None or getattr(event, "button", 1) != 1 or tuple(getattr(event, "modifiers", ()) or ()):
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
        """A click on the canvas at `world` coordinates with a tool armed."""
        p = self._data_position(world)
        if p is None or self.tool is None:
            return None
        rc, frame = p
        if self.tool == "propose":
            return self.propose_at(rc, frame=frame)
        if self.tool == "livewire":
            return self.livewire_add_anchor(rc, frame=frame)
        return None

    def propose_at(self, seed_rc, *, frame: int | None = None, side: str | None = None):
        """Propose an outline from a seed (data pixels row, col) and add it to the rater's layer.

        Uses the armed side unless `side` is given; disarms Propose. Returns the
        index of the new outline, or None (the reason is shown in the widget).
        """
        side = side or self.tool_side
        if side not in SIDES:
            raise ValueError("no side: arm Propose left or right first, or pass side=")
        layer = self._tool_layer if (self.tool == "propose" and self._tool_layer in self.viewer.layers) \
            else self._target_layer()
        self.cancel_tool(quiet=True)
        if layer is None:
            return None
        if frame is None:
            frame = self._current_frame(layer)
        from mfscan.assist.propose import ProposalError
        try:
            image = _model.get_image(_meta(layer)["image_path"])
            cal = _model.layer_calibration(image, layer.metadata, seed_rc)
            prop = _model.propose(image, frame, seed_rc, cal, side)
        except ProposalError as e:
            self._status(f"No outline proposed: {e.message}", color=RED)
            return None
        except MfscanError as e:  # calibration outside every region, image gone ...
            self._status(f"No outline proposed: {e.message}", color=RED)
            return None
        conf = float(prop.confidence)
        i = self._add_outline(layer, prop.points, side, frame, _model.METHOD_PROPOSED,
                              {"confidence": round(conf, 3)})
        text, warn = _model.proposal_text(side, conf)
        self._status(text + " Drag its vertices to correct it.", color=ORANGE if warn else GREEN)
        return i

    def _current_frame(self, layer) -> int:
        if _meta(layer).get("n_frames", 1) > 1 and len(self.viewer.dims.current_step):
            return int(self.viewer.dims.current_step[0])
        return 0

    def _add_outline(self, layer, points_rc, side, frame, method, extra=None) -> int:
        """Add a polygon with its features (side, method, frame, extra) and select it for editing."""
        pts = np.asarray(points_rc, float)
        if _meta(layer).get("n_frames", 1) > 1:
            pts = np.column_stack([np.full(len(pts), float(frame)), pts])
        roi = _model.register_new_outline(layer.metadata, pts, extra)
        self._set_defaults(layer, side)
        d = dict(layer.feature_defaults.iloc[0])
        d.update(method=method, frame=int(frame), _roi=roi)
        self._updating = True
        try:
            layer.feature_defaults = d
        finally:
            self._updating = False
        layer.add_polygons([pts])
        self._set_defaults(layer, side)
        i = len(layer.data) - 1
        self.viewer.layers.selection.active = layer
        layer.mode = "direct"
        layer.selected_data = {i}
        self.refresh_table()
        return i

    # live-wire
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

    def arm_livewire(self, side: str):
        """Arm live-wire tracing of `side`: clicks place anchors, double-click / Enter closes."""
        layer = self._arm_tool("livewire", side)
        if layer is None:
            return None
        il = self.image_layer
        n = _meta(il).get("n_frames", 1)
        tmp = self.viewer.add_shapes(
            ndim=3 if n > 1 else 2, name=f"live-wire {side} (temporary)",
            edge_color=_model.SIDE_COLORS[side], edge_width=2, face_color="transparent",
            scale=tuple(il.scale), units=tuple(str(u) for u in il.units),
            metadata={KEY: {"kind": "livewire", "image_path": _meta(il).get("image_path")}})
        self.livewire_layer = tmp
        self.viewer.layers.selection.active = tmp
        tmp.mode = "pan_zoom"
        self._bind_escape(tmp)
        tmp.bind_key("Enter", lambda _l: self.livewire_close(), overwrite=True)
        tmp.bind_key("Backspace", lambda _l: self.livewire_undo(), overwrite=True)
        self._suspend_double_click_zoom()
        self._status(f"{self._side_html(side, 'Live-wire')}: click anchors along the border "
                     "(about 6–10); double-click or Enter closes, Backspace removes the last anchor, "
                     "Esc cancels.")
        return layer

    def livewire_add_anchor(self, rc, *, frame: int | None = None) -> int | None:
        """Add a live-wire anchor (data pixels row, col); returns the number of anchors."""
        if self.tool != "livewire":
            return None
        rc = (float(rc[0]), float(rc[1]))
        try:
            image = _model.get_image(_meta(self._tool_layer)["image_path"])
            if not self.livewire_anchors:
                self._lw_frame = self._current_frame(self._tool_layer) if frame is None else int(frame)
                _model.livewire_segment(image, self._lw_frame, rc, rc)  # checks the point
            else:
                seg = _model.livewire_segment(image, self._lw_frame, self.livewire_anchors[-1], rc)
                self._lw_segments.append(seg)
        except MfscanError as e:
            self._status(f"Anchor not placed: {e.message}", color=RED)
            return len(self.livewire_anchors)
        self.livewire_anchors.append(rc)
        self._show_livewire()
        k = len(self.livewire_anchors)
        self._status(f"{self._side_html(self.tool_side, 'Live-wire')}: {k} anchor{'s' if k > 1 else ''}. "
                     "Double-click or Enter closes, Backspace removes the last anchor, Esc cancels.")
        return k

    def livewire_undo(self):
        """Remove the last live-wire anchor."""
        if self.tool != "livewire" or not self.livewire_anchors:
            return
        self.livewire_anchors.pop()
        if self._lw_segments:
            self._lw_segments.pop()
        self._show_livewire()
        self._status(f"{self._side_html(self.tool_side, 'Live-wire')}: "
                     f"{len(self.livewire_anchors)} anchor(s) left.")

    def _show_livewire(self, rubber=None):
        """Show the path through the anchors (and the rubber band) on the temporary layer."""
        tmp = self.livewire_layer
        if tmp is None or tmp not in self.viewer.layers:
            return
        parts = [seg[:-1] for seg in self._lw_segments]
        if self.livewire_anchors:
            parts.append(np.asarray([self.livewire_anchors[-1]], float))
        if rubber is not None and len(rubber) > 1:
            parts.append(np.asarray(rubber, float)[1:])
        path = np.vstack(parts) if parts else np.zeros((0, 2))
        if len(path) < 2:
            if len(tmp.data):
                tmp.data = []
            return
        if tmp.ndim == 3:
            path = np.column_stack([np.full(len(path), float(self._lw_frame)), path])
        if len(tmp.data) == 1:
            tmp.data = [path]
        else:
            tmp.data = []
            tmp.add_paths([path], edge_width=2, edge_color=_model.SIDE_COLORS[self.tool_side])

    def _on_canvas_move(self, viewer, event):
        if self.tool == "livewire" and self.livewire_anchors:
            self._rubber_world = tuple(event.position)
            if not self._rubber_timer.isActive():
                self._rubber_timer.start()

    def update_rubber_band(self):
        """Throttled: the live-wire from the last anchor to the mouse (straight when far)."""
        world, self._rubber_world = self._rubber_world, None
        if self.tool != "livewire" or not self.livewire_anchors or world is None:
            return
        p = self._data_position(world)
        if p is None:
            return
        rc = np.asarray(p[0], float)
        last = np.asarray(self.livewire_anchors[-1], float)
        try:
            image = _model.get_image(_meta(self._tool_layer)["image_path"])
            rows, cols = image.gray.shape[-2:]
            if not (0 <= rc[0] <= rows - 1 and 0 <= rc[1] <= cols - 1):
                return
            if np.abs(rc - last).max() > RUBBER_BAND_MAX_PX:
                rubber = np.vstack([last, rc])
            else:
                rubber = _model.livewire_segment(image, self._lw_frame, last, rc)
        except MfscanError:
            return
        self._show_livewire(rubber)

    def _on_canvas_double_click(self, viewer, event):
        if self.tool == "livewire":
            self.livewire_close()

    def livewire_close(self):
        """Close the live-wire outline and add it (method "livewire"); returns its index or None."""
        if self.tool != "livewire":
            return None
        layer, side, frame = self._tool_layer, self.tool_side, self._lw_frame
        anchors = _model.clean_anchors(self.livewire_anchors)
        if len(anchors) < 3:
            self._status(f"Live-wire needs at least 3 anchors on the border (have {len(anchors)}); "
                         "click more, or Esc to cancel.", color=ORANGE)
            return None
        try:
            image = _model.get_image(_meta(layer)["image_path"])
            pts = _model.livewire_outline(image, frame, anchors)
        except MfscanError as e:
            self._status(f"Live-wire failed: {e.message}", color=RED)
            return None
        self.cancel_tool(quiet=True)
        if layer not in self.viewer.layers:
            return None
        i = self._add_outline(layer, pts, side, frame, _model.METHOD_LIVEWIRE)
        self._status(f"Live-wire {side} outline added ({len(anchors)} anchors). "
                     "Drag its vertices to correct it.", color=GREEN)
        return i

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
        if layer is None:
            self.last_rows, self.last_warnings, self.last_asymmetry = [], [], []
            self.table.setRowCount(0)
            self.layer_label.setText("No outlines yet: press “Trace left” or “Trace right”.")
            self.asymmetry_label.setText("")
            self.warnings_label.setText("")
            return
        rater = self.current_rater()
        if self.is_mine(layer):
            whose = f"<b style='color:{GREEN}'>yours</b>" + (f" (rater {rater})" if rater else "")
        else:
            other = (_meta(layer).get("annotation") or {}).get("rater") or "no rater"
            whose = (f"<b style='color:{ORANGE}'>read-only</b>: {other}'s outlines; you are "
                     f"{rater or 'no rater'}")
        self.layer_label.setText(f"Layer “{layer.name}”: {len(layer.data)} outline(s) · {whose}")
        try:
            image = _model.get_image(_meta(layer)["image_path"])
            ann = _model.annotation_from_layer(layer.data, layer.features, layer.metadata)
            rows = _model.measure_rows(image, ann)
        except MfscanError as e:
            self.last_rows = []
            self.table.setRowCount(0)
            self.warnings_label.setText(f"<span style='color:{RED}'>{e.message}</span>")
            return
        self.last_rows = rows
        self.last_asymmetry = _model.asymmetry_summary(rows)
        self.last_warnings = _model.outline_warnings(ann, rows)
        self._fill_table(rows)
        self.asymmetry_label.setText(_model.asymmetry_text(self.last_asymmetry))
        self.warnings_label.setText("<br>".join("⚠ " + w for w in self.last_warnings))
        self._update_labels(layer, rows)

    def _set_headers(self, unit: str):
        """Column headers with the unit of lengths (``cm``, ``px``, or ``mixed``: units in cells)."""
        u = unit
        labels = [h.format(u=u) if u != "mixed" else h.replace(" ({u}²)", "").replace(" ({u})", "")
                  for _k, h in _model.TABLE_COLUMNS]
        self.table.setHorizontalHeaderLabels(labels)

    def _fill_table(self, rows):
        t = self.table
        units = {r["unit"] for r in rows if r.get("unit")}
        unit = units.pop() if len(units) == 1 else ("cm" if not units else "mixed")
        self._set_headers(unit)
        t.setUpdatesEnabled(False)
        try:
            t.setRowCount(len(rows))
            keys = [k for k, _h in _model.TABLE_COLUMNS]
            for i, r in enumerate(rows):
                for j, k in enumerate(keys):
                    v = r.get(k, "")
                    text = str(v) if v is not None else ""
                    if unit == "mixed" and r.get("unit") and k in ("csa", "ap", "lat"):
                        text += f" {r['unit']}²" if k == "csa" else f" {r['unit']}"
                    item = t.item(i, j)
                    if item is None:
                        item = QTableWidgetItem(text)
                        t.setItem(i, j, item)
                    elif item.text() != text:
                        item.setText(text)
                    if k == "side":
                        item.setForeground(QColor(_model.SIDE_COLORS.get(r["side"], "white")))
                    elif k == "status":
                        item.setForeground(QColor(RED if r["error"] else (GREEN if r["calibrated"] else ORANGE)))
                        item.setToolTip(text)
        finally:
            t.setUpdatesEnabled(True)

    def _update_labels(self, layer, rows):
        labels = [r["label"] for r in rows]
        feats = layer.features
        if "label" not in feats.columns or len(feats) != len(labels):
            return
        if list(feats["label"]) == labels:
            return
        self._updating = True
        try:
            feats["label"] = labels
            layer.refresh_text()
        finally:
            self._updating = False

    def _update_image_labels(self, layer):
        il = self.image_layer
        if il is None:
            self.image_label.setText("No image. Open one (File ▸ Open) or a folder below.")
            self.calibration_label.setText("")
            return
        m = _meta(il)
        name = Path(str(m.get("image_path", il.name))).name
        n = m.get("n_frames", 1)
        self.image_label.setText(f"Image: <b>{name}</b>" + (f" ({n} frames)" if n > 1 else ""))
        self.table.setColumnHidden(self._column("frame"), n <= 1)
        try:
            cal = Calibration.from_dict(m["calibration"])
        except (MfscanError, KeyError):
            cal = _model.UNCALIBRATED
        if layer is not None:
            ac = (_meta(layer).get("annotation") or {}).get("calibration")
            if ac and ac.get("source") in ("scale-line", "manual"):
                cal = Calibration.from_dict(ac)
        text, warn = _model.calibration_text(cal)
        if warn:
            self.calibration_label.setStyleSheet(
                "color: white; background: #b71c1c; padding: 3px; font-weight: bold;")
        else:
            self.calibration_label.setStyleSheet(f"color: {GREEN};")
        self.calibration_label.setText(text)

    def _on_table_selection(self):
        layer = self.outline_layer()
        if layer is None or not layer.editable or layer.mode not in ("select", "direct", "pan_zoom"):
            return
        rows = {i.row() for i in self.table.selectedIndexes()}
        if rows and all(r < len(layer.data) for r in rows):
            layer.selected_data = rows

    # ------------------------------------------------------------------ calibration
    def start_scale_line(self):
        """Add (or select) the "scale line" layer in line-drawing mode."""
        if self.image_layer is None:
            return None
        ip = _meta(self.image_layer)["image_path"]
        for ly in self.viewer.layers:
            if _meta(ly).get("kind") == "scale" and _meta(ly).get("image_path") == ip:
                layer = ly
                break
        else:
            n = _meta(self.image_layer).get("n_frames", 1)
            layer = self.viewer.add_shapes(
                ndim=3 if n > 1 else 2, name="scale line", edge_color="yellow", edge_width=2,
                scale=tuple(self.image_layer.scale), units=tuple(str(u) for u in self.image_layer.units),
                metadata={KEY: {"kind": "scale", "image_path": ip}})
        self.viewer.layers.selection.active = layer
        layer.mode = "add_line"
        self.mode_label.setText("Draw a line over a known distance of the depth ruler, type its length "
                                "in mm, then press “Set scale”.")
        return layer

    def set_scale_from_line(self, line=None, length_mm: float | None = None) -> Calibration | None:
        """Calibrate the current image from a line (default: the last one of the scale layer).

        Parameters
        ----------
        line : (2, 2) array_like, optional
            End points in data pixels (row, col).
        length_mm : float, optional
            Default: the value typed in the widget.
        """
        if self.image_layer is None:
            return None
        if line is None:
            ip = _meta(self.image_layer)["image_path"]
            layers = [ly for ly in self.viewer.layers
                      if _meta(ly).get("kind") == "scale" and _meta(ly).get("image_path") == ip]
            if not layers or not len(layers[0].data):
                self.mode_label.setText("Draw a scale line first (“Draw scale line”).")
                return None
            line = layers[0].data[-1]
        length = float(self.scale_length.value() if length_mm is None else length_mm)
        try:
            cal = _model.scale_line_calibration(line, length)
        except MfscanError as e:
            self.mode_label.setText(f"<span style='color:{RED}'>{e.message}</span>")
            return None
        self.apply_calibration(cal)
        self.mode_label.setText(f"Scale set: {cal.row_mm:.4f} mm per pixel from a {length:g} mm line.")
        return cal

    def apply_calibration(self, cal: Calibration):
        """Use `cal` for the current image: stored on its outline layers (saved in the
        sidecars) and the layers rescaled."""
        il = self.image_layer
        m = _meta(il)
        m["calibration"] = cal.to_dict()
        n = m.get("n_frames", 1)
        scale, units = _model.layer_scale(cal, n), _model.layer_units(cal, n)
        ip = m["image_path"]
        for ly in list(self.viewer.layers):
            lm = _meta(ly)
            if lm.get("image_path") != ip:
                continue
            ly.units = units
            ly.scale = scale
            if lm.get("kind") == "outlines" and self.is_mine(ly):  # another rater's sidecar is theirs
                lm.setdefault("annotation", {})["calibration"] = cal.to_dict()
                self._mark_dirty(ly)
        if self.outline_layer(by_rater=True) is None:
            # Created after the image was rescaled (same units: no napari warning); it
            # carries the calibration into the rater's sidecar.
            ly = self.outline_layer(create=True, by_rater=True)
            _meta(ly).setdefault("annotation", {})["calibration"] = cal.to_dict()
            self._mark_dirty(ly)
        self.viewer.reset_view()
        self.refresh_table()

    # ------------------------------------------------------------------ saving
    def _save_layer(self, layer) -> _model.SaveResult | None:
        m = _meta(layer)
        try:
            res = _model.save_layer_state(layer.data, layer.features, layer.metadata)
        except (MfscanError, OSError, ValueError) as e:
            if isinstance(e, MfscanError):
                reason = f"{e.path.name}: {e.message}" if e.path is not None else e.message
            else:
                reason = str(e)
            m["save_error"] = reason
            self._message(f"Not saved ({layer.name}): {reason}", error=True)
            return None
        m["dirty"] = False
        m.pop("save_error", None)
        if res.conflict:
            self._message(res.message, error=True)
            try:
                from napari.utils.notifications import show_warning
                show_warning(res.message)
            except Exception:  # noqa: BLE001 - a notification must never lose the save
                pass
        else:
            self._message(f"Saved {res.path.name}")
        return res

    def save(self, *, force_all: bool = False) -> list:
        """Save the current image's changed outline layers.

        With `force_all` (“Save now”) the current rater's layer is saved even
        when unchanged; another rater's layer only when it really changed.
        """
        out = []
        for layer in self.outline_layers():
            m = _meta(layer)
            if m.get("dirty") or (force_all and self.is_mine(layer) and (len(layer.data) or m.get("digest"))):
                res = self._save_layer(layer)
                if res is not None:
                    out.append(res)
        self._update_worklist_ui()
        return out

    def autosave(self):
        """Timer slot: save changed outlines (nothing when nothing changed)."""
        if any(_meta(ly).get("dirty") for ly in self.outline_layers()):
            self.save()

    def _recover(self, layer):
        """Write a recovery copy of a layer whose edits could not be saved and tell where."""
        m = _meta(layer)
        reason = m.get("save_error") or "not saved"
        try:
            path = _model.write_recovery(layer.data, layer.features, layer.metadata,
                                         reuse=m.get("recovery_path"))
        except MfscanError as e:
            text = (f"Not saved: {reason}. Not even a recovery copy could be written ({e.message}); "
                    f"the outlines of “{layer.name}” are LOST unless the layer is still open.")
            self._message(text, error=True)
            self._notify(text)
            return None
        m["recovery_path"] = str(path)
        try:
            target = _model.layer_sidecar_path(layer.metadata).name
        except MfscanError:
            target = "the image's sidecar"
        text = (f"Not saved: {reason}. A recovery copy of “{layer.name}” was written to {path} — "
                f"once the problem is fixed, copy it beside the image as {target}.")
        self._message(text, error=True)
        self._notify(text)
        return path

    @staticmethod
    def _notify(text):
        try:
            from napari.utils.notifications import show_warning
            show_warning(text)
        except Exception:  # noqa: BLE001 - a notification must never stop a save or a recovery
            pass

    def _unsaved_layers(self):
        """Outline layers (of any image) with edits not written to their sidecar; sample
        images (in memory only) cannot be saved and do not count."""
        return [ly for ly in self.viewer.layers if _is_outlines(ly) and _meta(ly).get("dirty")
                and not str(_meta(ly).get("image_path", "")).startswith(_model.MEMORY_PREFIX)]

    def _ready_to_leave(self) -> bool:
        """Save all changed outlines before the image changes; False (the image must not
        change, its layers are kept) when one of them could not be saved."""
        self.save()
        for layer in self._unsaved_layers():  # outlines of other images still open
            self._save_layer(layer)
        left = self._unsaved_layers()
        if not left:
            return True
        why = "; ".join(f"{ly.name}: {_meta(ly).get('save_error') or 'not saved'}" for ly in left)
        text = (f"Not saved: {why}. Your outlines are kept here and the image was not changed; "
                "fix the problem and press “Save now”, or save the layer elsewhere with "
                "File ▸ Save Selected Layers (or remove the layer: a recovery copy is then written).")
        self._message(text, error=True)
        self._notify(text)
        return False

    def _message(self, text, *, error=False):
        self.messages.append(text)
        self.save_label.setStyleSheet(f"color: {RED}; font-weight: bold;" if error else "")
        self.save_label.setText(text)

    # ------------------------------------------------------------------ worklist
    def _choose_folder(self):
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of ultrasound images")
        if folder:
            self.open_folder(folder)

    def open_folder(self, folder):
        """List a folder's images and open the one where work stopped last time."""
        if not self._ready_to_leave():
            return None
        self.worklist = _model.Worklist.from_folder(folder)
        if not len(self.worklist):
            self.folder_label.setText(f"No supported images in {folder}.")
            self._update_worklist_ui()
            return None
        self.worklist.resume(self.settings.last_image(self.worklist.folder))
        return self.open_image(self.worklist.current)

    def open_image(self, path):
        """Save the current image's outlines, close its layers and open `path` with its sidecars.

        Nothing changes (None is returned, the reason shown in red) when outlines
        with edits cannot be saved: they stay open so that no work is lost.
        """
        self.cancel_tool(quiet=True)
        if not self._ready_to_leave():
            self._update_worklist_ui()
            return None
        self._remove_layers([ly for ly in self.viewer.layers
                             if _meta(ly).get("kind") in ("image", "outlines", "scale")])
        path = Path(path)
        try:
            self.add_image_layers(path)
        except Exception as e:  # noqa: BLE001 - show, go on with the next image
            self._message(f"Cannot open {path.name}: {e}", error=True)
            self._update_worklist_ui()
            return None
        layer = self.outline_layer(create=False, by_rater=True)
        if layer is not None:
            a = _meta(layer).get("annotation") or {}
            vals = {k: a[k] for k in ("subject", "visit", "level") if a.get(k)}
            if vals:
                self.set_fields(**vals)
        if self.image_layer is not None:
            self.viewer.layers.selection.active = self.image_layer
            if layer is not None:
                self.viewer.layers.selection.active = layer
        if self.worklist is not None:
            try:
                rel = path.resolve().relative_to(self.worklist.folder).as_posix()
            except ValueError:
                rel = path.name
            else:  # opened directly (File > Open): Next / Previous go on from here
                self.worklist.resume(rel)
            self.settings.set_last_image(self.worklist.folder, rel)
        self.viewer.reset_view()
        self._update_worklist_ui()
        self.refresh_table()
        return self.image_layer

    def add_image_layers(self, path):
        """Add an image and its outline layers through mfscan's reader.

        Called directly rather than through ``viewer.open``: napari picks readers
        by file-name pattern, and DICOM files without a suffix (``IM0001``) match
        none that a plugin can declare without claiming every file.
        """
        from napari.layers import Layer

        return [self.viewer.add_layer(Layer.create(data, kwargs, ltype))
                for data, kwargs, ltype in _model.read_layers(path)]

    def _remove_layers(self, layers):
        """Remove layers of the previous image.

        Work-around for a crash seen with napari 0.9 on software OpenGL (Xvfb,
        llvmpipe): drawing after a Shapes layer with polygons was removed
        segfaults in ``glDrawArrays``. Emptying the Shapes layers and rendering
        the window once before removing them avoids it.
        """
        shapes = [ly for ly in layers if ly.__class__.__name__ == "Shapes" and len(ly.data)]
        if shapes and self.isVisible():
            for ly in shapes:
                if _meta(ly).get("dirty"):
                    continue  # not saved (an error was shown): keep its data for _on_removed
                self._disconnect(ly)
                ly.data = []
            self.window().grab()
        for ly in layers:
            self.viewer.layers.remove(ly)

    def step(self, delta: int):
        """Go `delta` images forward (negative: back) in the worklist, saving first."""
        if self.worklist is None or not len(self.worklist):
            return None
        if not self._ready_to_leave():
            self._update_worklist_ui()
            return None
        old = self.worklist.index
        new = self.worklist.step(delta)
        if self.worklist.index == old:
            self.save()
            self._update_worklist_ui()
            return None
        return self.open_image(new)

    def _update_worklist_ui(self):
        wl = self.worklist
        has = wl is not None and len(wl) > 0
        self.prev_button.setEnabled(has and wl.index > 0)
        self.next_button.setEnabled(has and wl.index < len(wl) - 1)
        if not has:
            self.progress_label.setText("")
            return
        rater = self.fields()["rater"] or None
        done, total = wl.progress(rater)
        self.folder_label.setText(f"Folder: {wl.folder}")
        by = f" by {rater}" if rater else ""
        self.progress_label.setText(
            f"Image {wl.index + 1} of {total} · annotated{by}: {done} / {total}")
