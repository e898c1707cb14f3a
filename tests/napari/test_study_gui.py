"""GUI tests of issue 11 points 1-5: codes that cannot drift, sessions, blinding, undo, layout."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mfscan_napari import _model
from mfscan_napari_testutils import png_folder, square, write_png

from mfscan.annotations import (
    ROI,
    Annotation,
    read_sidecar,
    read_study_settings,
    sidecar_path,
    write_sidecar,
    write_study_settings,
)


def _layers(viewer):
    return [ly.name for ly in viewer.layers]


def _study(tmp_path, phantom, names):
    """A study folder S02/visit2/<name> per name, each with an R1 sidecar whose codes are right."""
    root = tmp_path / "study"
    out = []
    for name in names:
        folder = root / "S02" / "visit2"
        folder.mkdir(parents=True, exist_ok=True)
        img = write_png(folder / name, phantom.image)
        out.append(img)
    return root, out


def test_codes_come_from_the_image_never_the_previous_one(widget_factory, annotated_png, phantom):
    img, sc = annotated_png  # R1: subject P01, visit 2, level L4
    other = write_png(img.parent / "S07_V3_L5_1.png", phantom.image)
    viewer, w = widget_factory()
    w.set_fields(rater="R4", subject="S01", visit="1", level="L3")
    w.open_image(img)
    f = w.fields()
    assert (f["subject"], f["visit"], f["level"], f["rater"]) == ("P01", "2", "L4", "R4")
    assert "scan01.R1.mfscan.json" in w.codes.source_label.text()
    # An image nobody traced and no pattern: blank, not P01 / 2 / L4 carried over.
    w.open_image(other)
    f = w.fields()
    assert (f["subject"], f["visit"], f["level"]) == ("", "", "")
    # The study's naming pattern, set once for the folder (stored in mfscan.study.json).
    w.set_study(pattern="{subject}_V{visit}_{level}_{repeat}")
    f = w.fields()
    assert (f["subject"], f["visit"], f["level"]) == ("S07", "3", "L5")
    assert read_study_settings(img.parent)["pattern"] == "{subject}_V{visit}_{level}_{repeat}"
    # Back to the first image: its own codes again.
    w.open_image(img)
    assert (w.fields()["subject"], w.fields()["level"]) == ("P01", "L4")


def test_disagreeing_save_refused_until_confirmed(widget_factory, annotated_png):
    img, sc = annotated_png
    viewer, w = widget_factory()
    w.set_fields(rater="R4")
    w.open_image(img)
    w.set_fields(subject="S01", level="L5")  # typed wrong
    assert "P01" in w.codes.warning_label.text() and w.codes.confirm_check.isVisibleTo(w)
    layer = w.arm("left")
    layer.add_polygons([square(40, 250, 60)])
    assert w.save() == []
    mine = sidecar_path(img, "R4")
    assert not mine.exists()
    text = w.save_label.text()
    assert "subject is S01 here but P01 in scan01.R1.mfscan.json" in text
    assert "level is L5 here but L4 in scan01.R1.mfscan.json" in text
    # Leaving the image is refused too: the outlines stay.
    w.open_image(img)
    assert layer in viewer.layers
    w.confirm_codes()
    (res,) = w.save()
    ann = read_sidecar(mine)
    assert res.path == mine and (ann.subject, ann.level) == ("S01", "L5")


def test_pattern_disagreement_refused(widget_factory, tmp_path, phantom):
    img = write_png(tmp_path / "S02_V2_L5_1.png", phantom.image)
    write_study_settings(tmp_path, {"pattern": "{subject}_V{visit}_{level}_{repeat}"})
    viewer, w = widget_factory()
    w.set_fields(rater="R1")
    w.open_image(img)
    assert (w.fields()["subject"], w.fields()["visit"], w.fields()["level"]) == ("S02", "2", "L5")
    w.set_fields(visit="1")
    layer = w.arm("right")
    layer.add_polygons([square(40, 60, 50)])
    assert w.save() == []
    assert "visit is 1 here but 2 in the study's naming pattern" in w.save_label.text()
    w.set_fields(visit="2")
    (res,) = w.save()
    assert read_sidecar(res.path).visit == "2"


def test_session_has_its_own_sidecar(widget_factory, annotated_png):
    img, sc = annotated_png
    before = sc.read_bytes()
    viewer, w = widget_factory()
    w.set_fields(rater="R1", session="2")
    w.open_image(img)
    first = next(ly for ly in viewer.layers if ly.name == "outlines R1")
    assert not first.editable  # session 1's file is never edited in session 2
    layer = w.arm("left")
    assert layer.name == "outlines R1 s2" and layer is not first
    layer.add_polygons([square(40, 250, 60)])
    (res,) = w.save()
    assert res.path.name == "scan01.R1.s2.mfscan.json"
    ann = read_sidecar(res.path)
    assert (ann.rater, ann.session, ann.subject) == ("R1", "2", "P01")
    assert sc.read_bytes() == before
    # Progress counts this session's files only.
    w.open_folder(img.parent)
    assert w.progress_label.text().endswith("annotated by R1 (session 2): 1 / 1")


def test_blinded_hides_other_raters_and_randomises_order(widget_factory, annotated_png, phantom):
    img, sc = annotated_png
    folder = img.parent
    for i in range(5):
        write_png(folder / f"extra{i}.png", phantom.image)
    write_study_settings(folder, {"blinded": True})
    viewer, w = widget_factory()
    w.set_fields(rater="R2", session="1")
    w.open_folder(folder)
    w.open_image(img)
    # No trace of R1: no layer, no row, no canvas label, no asymmetry line.
    assert _layers(viewer) == ["scan01.png"]
    w.refresh_table()
    assert w.last_rows == [] and w.table.rowCount() == 0 and w.asymmetry_label.text() == ""
    assert w.fields()["subject"] == "P01"  # the codes still come from R1's file
    # The order: random, drawn once with a recorded seed, kept in the folder.
    entry = read_study_settings(folder)["orders"]["R2/1"]
    rel = sorted(p.name for p in folder.glob("*.png"))
    from mfscan.annotations import random_order

    assert entry["order"] == random_order(rel, entry["seed"]) != rel
    assert [p.name for p in w.worklist.images] == entry["order"]
    # Saving marks the image done; a new widget resumes at the first image not done.
    w.open_image(folder / entry["order"][0])
    w.set_fields(level="L4")
    layer = w.arm("left")
    layer.add_polygons([square(40, 250, 60)])
    w.save()
    assert read_study_settings(folder)["orders"]["R2/1"]["done"] == [entry["order"][0]]
    viewer2, w2 = widget_factory()
    w2.set_fields(rater="R2", session="1")
    w2.open_folder(folder)
    assert w2.image_layer.name == entry["order"][1]
    # Through the reader too (File > Open): R1's layer is removed at once.
    viewer2.open(str(img), plugin="mfscan")
    from qtpy.QtWidgets import QApplication

    QApplication.processEvents()
    assert "outlines R1" not in _layers(viewer2)


def test_undo_restores_moved_vertex_and_no_single_key_delete(open_png):
    viewer, w, img = open_png("u.png", rater="R1", level="L4")
    layer = w.arm("left")
    sq = square(40, 250, 60)
    layer.add_polygons([sq])
    data = [d.copy() for d in layer.data]
    data[0][0] = [10.0, 240.0]  # a vertex moved (as a drag ends)
    layer.data = data
    assert np.allclose(layer.data[0][0], [10.0, 240.0])
    assert w.undo()
    np.testing.assert_allclose(layer.data[0], sq, rtol=1e-6)
    assert w.redo()
    assert np.allclose(layer.data[0][0], [10.0, 240.0])
    # Undo twice: before the outline was added.
    assert w.undo() and w.undo() and len(layer.data) == 0
    assert not w.undo()
    w.redo()
    assert len(layer.data) == 1 and list(layer.features["side"]) == ["left"]
    # The keys: Ctrl+Z on the layer, and "3" / Delete / Backspace do not delete.
    keymap = {str(k): f for k, f in layer.keymap.items()}
    layer.mode = "direct"
    layer.selected_data = {0}
    for key in ("3", "Delete", "Backspace"):
        keymap[key](layer)
    assert len(layer.data) == 1
    layer.remove_selected()  # the layer's delete button: undoable
    assert len(layer.data) == 0
    keymap["Ctrl+Z"](layer)
    assert len(layer.data) == 1
    keymap["Ctrl+Shift+Z"](layer)
    assert len(layer.data) == 0


def test_propose_stores_proposal_and_message_cleared(widget_factory, tmp_path, phantom):
    folder = png_folder(tmp_path / "p", phantom.image, 2)
    viewer, w = widget_factory()
    w.set_fields(rater="R1")
    w.open_folder(folder)
    w.set_fields(level="L4", subject="P1", visit="1")
    w.apply_calibration(__import__("mfscan.calibration", fromlist=["manual"]).manual(0.25))
    seed = phantom.outlines["left"].mean(axis=0)
    i = w.propose_at(seed, side="left")
    assert i == 0 and "Propose" in w.mode_label.text() or "proposed" in w.mode_label.text().lower()
    layer = w.outline_layer()
    (res,) = w.save()
    roi = json.loads(res.path.read_text())["rois"][0]
    assert roi["proposal"]["method"] == "proposed"
    np.testing.assert_allclose(roi["proposal"]["points"], roi["points"])
    assert len(layer.data) == 1
    w.step(1)
    assert "propos" not in w.mode_label.text().lower()


def test_progress_correct_from_the_start(widget_factory, tmp_path, phantom):
    folder = png_folder(tmp_path / "w", phantom.image, 3)
    for name in ("img1.png", "img3.png"):
        write_sidecar(
            sidecar_path(folder / name, "R1"),
            Annotation(image=name, rater="R1", rois=[ROI("left", square(40, 250, 60))]),
        )
    viewer, w = widget_factory()
    w.open_folder(folder)
    w.set_fields(rater="R1")
    assert w.progress_label.text().endswith("annotated by R1: 2 / 3")


def _clipped(w):
    """Visible descendants of the dock's scroll content that stick out of its viewport sideways."""
    from qtpy.QtCore import QPoint
    from qtpy.QtWidgets import QWidget

    vp = w.scroll.viewport()
    right = vp.mapToGlobal(QPoint(vp.width(), 0)).x()
    left = vp.mapToGlobal(QPoint(0, 0)).x()
    out = []
    for child in w.scroll.widget().findChildren(QWidget):
        if not child.isVisibleTo(w) or child.width() == 0:
            continue
        x0 = child.mapToGlobal(QPoint(0, 0)).x()
        x1 = child.mapToGlobal(QPoint(child.width(), 0)).x()
        if x0 < left - 1 or x1 > right + 1:
            out.append((child.objectName() or type(child).__name__, x0, x1, left, right))
    return out


@pytest.mark.parametrize("size", [(1280, 800), (1600, 1000)])
def test_layout_fits(widget_factory, annotated_png, size, tmp_path):
    from qtpy.QtWidgets import QApplication

    img, sc = annotated_png
    viewer, w = widget_factory(show=True)
    win = viewer.window._qt_window
    win.resize(*size)
    for _ in range(3):
        QApplication.processEvents()
    w.set_fields(rater="R2")
    w.open_image(img)
    w.codes.show_problems("Codes disagree: subject is S01 here but P01 in scan01.R1.mfscan.json.")
    for _ in range(3):
        QApplication.processEvents()
    assert win.width() <= size[0] and win.height() <= size[1]
    assert _clipped(w) == []
    # Labels wrap: none needs more width than the dock gives it.
    from qtpy.QtWidgets import QLabel

    for label in w.findChildren(QLabel):
        if label.isVisibleTo(w) and label.text():
            assert label.wordWrap() or label.sizeHint().width() <= w.scroll.viewport().width(), label.text()
    # The first image fitted to the canvas: the whole image inside the view.
    canvas = viewer.window._qt_viewer.canvas.size
    shot = viewer.screenshot(canvas_only=True, flash=False)
    assert shot.shape[0] > 100
    (r0, c0), (r1, c1) = np.asarray(viewer.layers[0].extent.world)[:, -2:]  # mm (0.25 mm/px)
    assert (r1 - r0, c1 - c0) == pytest.approx((300 * 0.25, 400 * 0.25), abs=0.3)
    zoom = viewer.scene.camera.zoom  # screen pixels per mm
    assert zoom * (c1 - c0) <= canvas[0] + 1 and zoom * (r1 - r0) <= canvas[1] + 1, (zoom, canvas)
    assert zoom * (c1 - c0) >= 0.5 * canvas[0] or zoom * (r1 - r0) >= 0.5 * canvas[1]  # not tiny
    assert win.grab().save(str(tmp_path / f"layout-{size[0]}x{size[1]}.png"))  # to look at when it fails


def test_rater_colours_differ(widget_factory, annotated_png, phantom):
    img, sc = annotated_png
    write_sidecar(
        sidecar_path(img, "R2"),
        Annotation(image=img.name, rater="R2", rois=[ROI("left", phantom.outlines["left"])]),
    )
    viewer, w = widget_factory()
    w.set_fields(rater="R3")
    w.open_image(img)
    w.arm("left")  # R3's own layer
    r1 = next(ly for ly in viewer.layers if ly.name == "outlines R1")
    r2 = next(ly for ly in viewer.layers if ly.name == "outlines R2")
    c1 = {tuple(np.round(c, 3)) for c in r1.edge_color}
    c2 = {tuple(np.round(c, 3)) for c in r2.edge_color}
    assert c1 and c2 and not (c1 & c2)
    assert len(c1) == 2  # left and right still distinguishable
    from mfscan.vocab import SIDE_COLORS

    side = {tuple(np.round(_hex(c), 3)) for c in SIDE_COLORS.values()}
    assert not (c1 & side) and not (c2 & side)
    # Two-line labels of the layers at the same place are 32 screen pixels apart at the fitted
    # zoom (a text's translation is in data pixels: 32 / (zoom x mm per pixel)).
    w.navigator.open_image(img)
    per_px = viewer.scene.camera.zoom * 0.25
    rows = sorted(float(ly.text.translation[0]) for ly in (r1, r2, w.outline_layer(by_rater=True)))
    assert np.diff(rows) * per_px == pytest.approx([32.0, 32.0], abs=0.01)


def _hex(c):
    c = c.lstrip("#")
    return [int(c[i : i + 2], 16) / 255 for i in (0, 2, 4)] + [1.0]


def test_session_ownership():
    # the core names and finds session sidecars (tests/test_study_file.py); the widget owns a row
    # only when both rater and session are its own
    assert _model.same_owner({"rater": "R1", "session": None}, "R1", "")
    assert not _model.same_owner({"rater": "R1", "session": "2"}, "R1", "1")
