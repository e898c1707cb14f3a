"""GUI tests: outlines are never lost, another rater's outlines are never changed, and the
widget lets go of the viewer when its dock is closed (real viewer under Xvfb)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from mfscan_napari import _model
from mfscan_napari._qt.widget import SHORTCUTS
from mfscan_napari_testutils import png_folder, square

from mfscan.annotations import read_sidecar, sidecar_path
from mfscan.calibration import manual
from mfscan.errors import AnnotationError


def _dirty(layer):
    return bool(layer.metadata["mfscan"].get("dirty"))


@pytest.fixture
def failing_saves(monkeypatch):
    """Every sidecar write fails as on a read-only share; call the returned function to fix it."""
    original = _model.saving.save_annotation

    def read_only(annotation, path):
        raise AnnotationError("disk is read-only", path)

    monkeypatch.setattr(_model.saving, "save_annotation", read_only)
    return lambda: monkeypatch.setattr(_model.saving, "save_annotation", original)


def test_failed_save_keeps_the_image_and_its_outlines(widget_factory, tmp_path, phantom, failing_saves):
    folder = png_folder(tmp_path / "study", phantom.image, 2)
    viewer, w = widget_factory()
    w.set_fields(subject="P01", visit="1", level="L4", rater="R1")
    w.open_folder(folder)
    layer = w.arm("left")
    layer.add_polygons([square(40, 250, 60)])
    w.arm("right")
    layer.add_polygons([square(40, 60, 60)])
    assert w.step(1) is None  # refused: the outlines could not be saved
    assert w.image_layer.name == "img1.png" and w.worklist.index == 0
    assert layer in viewer.layers and len(layer.data) == 2 and _dirty(layer)
    text = w.save_label.text()
    assert "Not saved" in text and "disk is read-only" in text and "kept here" in text
    assert "Save now" in text
    # Opening another image or folder is refused as well.
    assert w.open_image(folder / "img2.png") is None
    assert w.open_folder(folder) is None
    assert [ly.name for ly in viewer.layers] == ["img1.png", "outlines R1"] and len(layer.data) == 2
    assert not sidecar_path(folder / "img1.png", "R1").exists()
    # The problem is fixed: Save now writes them, Next goes on, Previous brings them back.
    failing_saves()
    w.save(force_all=True)
    assert not _dirty(layer)
    assert [r.side for r in read_sidecar(sidecar_path(folder / "img1.png", "R1")).rois] == ["left", "right"]
    w.step(1)
    assert w.image_layer.name == "img2.png"
    w.step(-1)
    assert w.image_layer.name == "img1.png"
    np.testing.assert_allclose(w.outline_layer().data[0], square(40, 250, 60))
    assert len(w.outline_layer().data) == 2


def _recovery_files():
    """The recovery folder: ``recovery`` in the plugin's config dir (a temporary one in tests)."""
    folder = Path(os.environ["MFSCAN_CONFIG_DIR"]) / "recovery"
    assert _model.recovery_dir() == folder
    return sorted(folder.glob("*.mfscan.json"))


def _assert_recovered(path, stem, rater, outlines, sides):
    assert re.fullmatch(rf"{stem}\.{rater}\.\d{{8}}-\d{{6}}\.mfscan\.json", path.name), path.name
    ann = read_sidecar(path)
    assert ann.rater == rater and [r.side for r in ann.rois] == sides
    for roi, pts in zip(ann.rois, outlines, strict=True):
        np.testing.assert_allclose(roi.points, pts)


def test_removing_unsaved_layer_writes_recovery_copy(open_png, failing_saves):
    viewer, w, img = open_png("rm.png", rater="R3", level="L4")
    layer = w.arm("left")
    layer.add_polygons([square(40, 250, 60)])
    edited = [d.copy() for d in layer.data]
    edited[0][0] = [30.0, 245.0]  # a vertex dragged
    layer.data = edited
    viewer.layers.remove(layer)
    assert not sidecar_path(img, "R3").exists()
    (rec,) = _recovery_files()
    _assert_recovered(rec, "rm", "R3", edited, ["left"])
    assert str(rec) in w.save_label.text() and "disk is read-only" in w.save_label.text()


def test_closing_viewer_with_unsaved_outlines_writes_recovery_copy(open_png, failing_saves):
    viewer, w, img = open_png("cl.png", show=True, rater="R4", level="L4")
    layer = w.arm("right")
    layer.add_polygons([square(40, 60, 50)])
    outlines = [np.asarray(d, float) for d in layer.data]
    from qtpy.QtGui import QCloseEvent
    from qtpy.QtWidgets import QApplication

    # napari's window receives its Close event (the window's close button) before it goes.
    QApplication.sendEvent(w.window(), QCloseEvent())
    (rec,) = _recovery_files()
    _assert_recovered(rec, "cl", "R4", outlines, ["right"])
    assert str(rec) in w.save_label.text()
    # The viewer then removes its layers: the same outlines are not copied a second time.
    viewer.layers.remove(layer)
    assert _recovery_files() == [rec]


def test_other_raters_layer_is_read_only_and_never_saved(widget_factory, annotated_png):
    img, sc = annotated_png  # rater R1's sidecar
    before, mtime = sc.read_bytes(), sc.stat().st_mtime_ns
    viewer, w = widget_factory()
    w.set_fields(rater="R2", level="L4")
    w.open_image(img)
    r1 = next(ly for ly in viewer.layers if ly.name == "outlines R1")
    assert not r1.editable
    viewer.layers.selection.active = r1
    w.refresh_table()
    assert "read-only" in w.layer_label.text() and "R1" in w.layer_label.text()
    r1.mode = "direct"  # napari's layer controls: refused on a read-only layer
    assert str(r1.mode) == "pan_zoom"
    w.table.selectRow(0)  # selecting in the table must not select (Delete would remove it)
    assert r1.selected_data == set()
    r1._reset_editable()  # what napari does when data is set or the view goes back to 2-D
    assert not r1.editable
    # The tools work on R2's own layer.
    mine = w.arm("left")
    assert mine.name == "outlines R2" and mine is not r1 and mine.editable
    w.refresh_table()
    assert "yours" in w.layer_label.text()
    assert w.arm_propose("right") is mine and w.tracer.propose.layer is mine
    w.cancel_tool()
    w.apply_calibration(manual(0.3))
    assert w.arm("left") is mine
    mine.add_polygons([square(40, 250, 60)])
    assert not _dirty(r1) and r1.metadata["mfscan"]["annotation"]["calibration"]["row_mm"] == 0.25
    w.save(force_all=True)  # “Save now”
    assert sc.read_bytes() == before and sc.stat().st_mtime_ns == mtime
    assert [r.side for r in read_sidecar(sidecar_path(img, "R2")).rois] == ["left"]
    # Back to rater R1: R1's layer is editable again, R2's read-only.
    w.set_fields(rater="R1")
    assert r1.editable and not mine.editable


def test_removing_dock_widget_saves_and_lets_go_of_viewer(open_png):
    viewer, w, img = open_png("dock.png", widget={"autosave_ms": 60000}, rater="R1", level="L4")
    layer = w.arm("left")
    layer.add_polygons([square(40, 250, 60)])
    assert w._autosave_timer.isActive() and _dirty(layer)
    keymap = {str(k) for k in viewer.keymap}
    assert set(SHORTCUTS.values()) <= keymap
    viewer.window.remove_dock_widget(w)
    # Saved on closing.
    assert [r.side for r in read_sidecar(sidecar_path(img, "R1")).rois] == ["left"] and not _dirty(layer)
    # Keys unbound: Alt+L no longer arms the closed widget.
    assert not set(SHORTCUTS.values()) & {str(k) for k in viewer.keymap}
    viewer.layers.selection.active = viewer.layers[0]
    w.mode_label.setText("")
    from napari.utils.key_bindings import coerce_keybinding

    handler = viewer.keymap.get(coerce_keybinding("Alt+L"))
    if handler is not None:
        handler(viewer)
    assert viewer.layers.selection.active is viewer.layers[0] and w.mode_label.text() == ""
    assert not w._autosave_timer.isActive()
    # Layer and viewer callbacks are disconnected: edits and new layers no longer reach it.
    layer.add_polygons([square(150, 250, 40)])
    assert not _dirty(layer)
    n = len(w.last_rows)
    viewer.open(str(img), plugin="mfscan")
    assert w.watcher.connected == set() and len(w.last_rows) == n
    assert w.tracer.on_canvas_press not in viewer.mouse_drag_callbacks


def test_save_policy_text_says_what_happens(widget_factory):
    _viewer, w = widget_factory(autosave_ms=5000)
    assert w.save_label.text() == (
        "Outlines are saved when you change image and every 5 s while there "
        "are unsaved edits (“Save now” saves at once)."
    )
    assert w._autosave_timer.interval() == 5000
    assert "Research use only" in w.notice_label.text()
    _viewer, w0 = widget_factory(autosave_ms=0)
    assert "every" not in w0.save_label.text() and "Save now" in w0.save_label.text()
