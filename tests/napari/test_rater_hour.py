"""GUI tests of issue 21 points 1-5 (a rater's hour): live measurements while a vertex is dragged,
the worklist always in sight, no overlapping controls, blinded setup, scale length and undo
messages. Real mouse and key events on the shown canvas and widgets (under Xvfb)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mfscan_napari._qt.panels.measurements import column
from mfscan_napari_testutils import overlapping_controls, square, write_png
from shapely.geometry import Polygon

from mfscan.annotations import (
    ROI,
    Annotation,
    read_study_settings,
    sidecar_path,
    write_sidecar,
    write_study_settings,
)
from mfscan.calibration import manual

SPACING = 0.25  # mm per pixel of the phantom's sidecar


def _process(n=5):
    from qtpy.QtWidgets import QApplication

    for _ in range(n):
        QApplication.processEvents()


def _squares_png(tmp_path, phantom, rater="R1"):
    """The phantom with a sidecar of `rater`: two 4-vertex squares (100 px sides), 0.25 mm/px."""
    img = write_png(tmp_path / "scan.png", phantom.image)
    ann = Annotation(
        image=img.name,
        level="L4",
        rater=rater,
        calibration=manual(SPACING),
        rois=[ROI("left", square(100, 220, 100, n=1)), ROI("right", square(100, 60, 100, n=1))],
    )
    write_sidecar(sidecar_path(img, rater), ann)
    return img


def _canvas_pos(viewer, layer, rc):
    """Screen position (canvas pixels) of a data point (row, col) of `layer`."""
    view = viewer.window._qt_viewer.canvas.view
    world = layer.data_to_world(rc)
    p = view.scene.transform.map([world[-1], world[-2], 0, 1])
    return p[:2] / p[3]


def _csa_cm2(vertices) -> float:
    """Area of a (row, col) polygon in cm² at 0.25 mm per pixel, by shapely (not by mfscan)."""
    return Polygon(np.asarray(vertices, float)[:, ::-1]).area * SPACING**2 / 100.0


class Mouse:
    """Real Qt mouse events (left button) sent to the canvas's native widget at data points."""

    def __init__(self, viewer, layer, qtbot):
        self.viewer, self.layer, self.qtbot = viewer, layer, qtbot
        self.native = viewer.window._qt_viewer.canvas._scene_canvas.native

    def _pos(self, rc):
        from qtpy.QtCore import QPoint

        x, y = _canvas_pos(self.viewer, self.layer, rc) / self.native.devicePixelRatioF()
        return QPoint(int(round(x)), int(round(y)))

    def send(self, kind, rc):
        from qtpy.QtCore import Qt
        from qtpy.QtGui import QMouseEvent
        from qtpy.QtWidgets import QApplication

        pos = self._pos(rc)
        if kind == "hover":
            self.qtbot.mouseMove(self.native, pos)
            return
        etype = {
            "press": QMouseEvent.Type.MouseButtonPress,
            "drag": QMouseEvent.Type.MouseMove,
            "release": QMouseEvent.Type.MouseButtonRelease,
        }[kind]
        buttons = Qt.MouseButton.NoButton if kind == "release" else Qt.MouseButton.LeftButton
        glob = self.native.mapToGlobal(pos)
        ev = QMouseEvent(
            etype,
            pos.toPointF(),
            glob.toPointF(),
            Qt.MouseButton.LeftButton,
            buttons,
            Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(self.native, ev)

    def drag(self, start, offsets):
        """Press at data point `start`, move through ``start + offset`` for each offset (no release)."""
        start = np.asarray(start, float)
        self.send("hover", start)
        self.send("press", start)
        for off in offsets:
            self.send("drag", start + off)
            self.qtbot.wait(30)
            _process()


def _editing(widget_factory, tmp_path, phantom, **kw):
    """R1's squares open, the layer selected in direct mode with the left square selected."""
    img = _squares_png(tmp_path, phantom)
    viewer, w = widget_factory(show=True, **kw)
    viewer.window._qt_window.resize(1280, 800)
    w.set_fields(rater="R1")
    w.open_image(img)
    layer = w.outline_layer(by_rater=True)
    viewer.layers.selection.active = layer
    _process()
    layer.mode = "direct"
    layer.selected_data = {0}
    _process()
    return viewer, w, layer


def test_table_follows_a_vertex_drag_before_release(widget_factory, tmp_path, phantom, qtbot):
    """A corner of the left square dragged with real Qt mouse events on the canvas: the table's CSA
    and the canvas label follow during the drag (before the release and its data event)."""
    viewer, w, layer = _editing(widget_factory, tmp_path, phantom, refresh_ms=10)
    assert w.table.item(0, column("csa")).text() == "6.25"  # 25 mm x 25 mm
    data_events = []
    layer.events.data.connect(lambda e: data_events.append(str(e.action)))
    mouse = Mouse(viewer, layer, qtbot)
    corner = np.asarray(layer.data[0][0], float)  # (100, 220)
    mouse.drag(corner, [-10.0 * k for k in range(1, 5)])  # up and left, 40 px in four moves
    moved = np.asarray(layer.data[0], float)
    assert moved[0] == pytest.approx(corner - 40, abs=1.0)  # the vertex followed the mouse
    assert "changed" not in data_events  # still dragging: napari has emitted no data event
    expected = _csa_cm2(moved)
    assert expected > 6.25 + 0.3  # a triangle of 0.5 x 40 x 100 px x 2 added (~0.5 cm²)
    qtbot.waitUntil(lambda: w.table.item(0, column("csa")).text() == f"{expected:.2f}", timeout=2000)
    assert layer.features["label"][0] == f"left\n{expected:.2f} cm²"  # the canvas label too
    mouse.send("release", corner - 40)
    _process()
    assert "changed" in data_events


# ---------------------------------------------------------------------- 2, 3: layout
SIZES = [(1280, 800), (1600, 1000)]
REFUSAL = "Codes disagree: subject is S01 here but P01 in scan01.R1.mfscan.json."


def _shown(widget_factory, annotated_png, size):
    """The widget docked in a window of `size`, a one-image folder open, a refusal shown."""
    img, _sc = annotated_png
    viewer, w = widget_factory(show=True)
    win = viewer.window._qt_window
    win.resize(*size)
    _process()
    w.set_fields(rater="R2")
    w.open_folder(img.parent)
    w.open_image(img)
    w.codes.show_problems(REFUSAL)
    _process()
    assert win.width() <= size[0] and win.height() <= size[1]
    return viewer, w


def _fully_visible(widget) -> bool:
    """Whether every pixel of `widget` is on screen: not scrolled away, not cut by its dock."""
    from qtpy.QtCore import QRect

    if not widget.isVisible():
        return False
    return widget.visibleRegion().boundingRect() == QRect(0, 0, widget.width(), widget.height())


@pytest.mark.parametrize("size", SIZES)
def test_worklist_always_in_sight(widget_factory, annotated_png, size):
    """Next / Previous, Save now and the progress line are on screen whatever the dock's scroll
    position; the rarely used study settings are folded."""
    viewer, w = _shown(widget_factory, annotated_png, size)
    wp = w.worklist_panel
    for scroll_to in (0, w.scroll.verticalScrollBar().maximum()):
        w.scroll.verticalScrollBar().setValue(scroll_to)
        _process()
        for widget in (
            wp.prev_button,
            wp.next_button,
            wp.save_button,
            wp.open_folder_button,
            wp.progress_label,
        ):
            assert _fully_visible(widget), (widget.text(), scroll_to)
    assert w.progress_label.text() == "Image 1 of 1 · annotated by R2: 0 / 1"
    assert not w.study_panel.isVisibleTo(w)  # folded
    assert not _fully_visible(w.study_panel.pattern_edit)


def test_study_settings_unfold_with_a_click_and_stay_so(widget_factory, annotated_png, qtbot, tmp_path):
    from qtpy.QtCore import Qt

    viewer, w = _shown(widget_factory, annotated_png, (1280, 800))
    section = w.sections["study"]
    qtbot.mouseClick(section.button, Qt.MouseButton.LeftButton)
    _process()
    assert w.study_panel.isVisibleTo(w) and w.study_panel.pattern_edit.isVisibleTo(w)
    # Remembered for the next widget (the same settings file).
    viewer2, w2 = widget_factory(show=False)
    assert w2.study_panel.isVisibleTo(w2) and not w2.sections["keys"].content.isVisibleTo(w2)


@pytest.mark.parametrize("size", SIZES)
def test_no_table_column_clipped(widget_factory, annotated_png, size):
    """Every shown column of the measurement table is as wide as its header and cells, and all of
    them fit in the table's width (no horizontal scrolling); the level of both outlines is in the
    panel's title."""
    viewer, w = _shown(widget_factory, annotated_png, size)
    t = w.table
    hh = t.horizontalHeader()
    shown = [j for j in range(t.columnCount()) if not t.isColumnHidden(j)]
    headers = [t.horizontalHeaderItem(j).text() for j in shown]
    for j in shown:
        assert hh.sectionSize(j) >= max(t.sizeHintForColumn(j), hh.sectionSizeHint(j)), headers[
            shown.index(j)
        ]
    assert sum(hh.sectionSize(j) for j in shown) <= t.viewport().width()
    assert not t.horizontalScrollBar().isVisible()
    assert headers == ["Side", "CSA (cm²)", "AP (cm)", "Lat (cm)", "AP/Lat", "Echo"]
    assert t.item(0, column("echo")).text().count("±") == 1
    assert w.measurements.title() == "Measurements: L4"


@pytest.mark.parametrize("size", SIZES)
def test_no_column_clipped_nor_blank_line_before_any_outline(widget_factory, tmp_path, phantom, size):
    """An image without outlines and no folder open: the empty table's columns all fit (its last
    column, Status, was cut at the dock's edge) and the worklist leaves no blank line under
    "No folder open." (the empty progress line took one)."""
    img = write_png(tmp_path / "plain.png", phantom.image)
    viewer, w = widget_factory(show=True)
    viewer.window._qt_window.resize(*size)
    _process()
    w.set_fields(rater="R1", level="L4")
    w.open_image(img)
    _process()
    t = w.table
    hh = t.horizontalHeader()
    shown = [j for j in range(t.columnCount()) if not t.isColumnHidden(j)]
    assert t.rowCount() == 0
    assert [t.horizontalHeaderItem(j).text() for j in shown] == [
        "Side",
        "CSA (cm²)",
        "AP (cm)",
        "Lat (cm)",
        "AP/Lat",
        "Echo",
    ]
    assert all(hh.sectionSize(j) >= hh.sectionSizeHint(j) for j in shown)
    assert sum(hh.sectionSize(j) for j in shown) <= t.viewport().width()
    wp = w.worklist_panel
    assert wp.folder_label.text() == "No folder open." and wp.folder_label.isVisible()
    gap = wp.save_label.geometry().top() - wp.folder_label.geometry().bottom()
    assert 0 < gap < wp.folder_label.height()  # a line's spacing, not a blank line


def test_columns_left_out_only_when_they_tell_nothing_new():
    from mfscan_napari._model import redundant_columns, short_status

    ok = {"level": "L4", "kind": "outline", "calibrated": True, "error": None, "status": "ok"}
    assert redundant_columns([ok, dict(ok)]) == {"level", "status"}
    assert redundant_columns([ok, dict(ok, level="L5")]) == {"status"}  # two levels: the column stays
    assert redundant_columns([ok, dict(ok, level="")]) == {"status"}  # a missing level shows
    line = dict(ok, kind="fat", status="fat")
    assert redundant_columns([ok, line]) == {"level"}  # lines: the status tells fat from thickness
    assert [short_status(r) for r in (ok, dict(ok, calibrated=False), line, dict(ok, error="outside"))] == [
        "ok",
        "px only",
        "fat",
        "error",
    ]
    assert short_status(dict(line, kind="thickness", calibrated=False)) == "thickness, px"


def test_row_number_carries_the_status(open_png):
    """The Status column left out, an uncalibrated outline's row number says "pixels only"."""
    viewer, w, img = open_png("plain.png", rater="R1", level="L4")
    layer = w.arm("left")
    layer.add_polygons([square(100, 220, 100, n=1)])
    w.refresh_table()
    assert w.table.isColumnHidden(column("status"))
    assert w.table.verticalHeaderItem(0).toolTip() == "Outline 1: pixels only"
    assert w.table.item(0, column("csa")).text() == "10000"  # 100 x 100 px²


@pytest.mark.parametrize("size", SIZES)
def test_no_two_visible_widgets_overlap(widget_factory, annotated_png, size):
    """With the codes refusal and its check box shown, no two visible controls of the dock overlap
    (the check box once lay exactly over the "Codes from ..." line)."""
    viewer, w = _shown(widget_factory, annotated_png, size)
    assert w.codes.confirm_check.isVisibleTo(w) and w.codes.source_label.text().startswith("Codes from")
    controls, overlaps = overlapping_controls(w)
    assert len(controls) > 40
    assert overlaps == []


# ---------------------------------------------------------------------- 4: blinded setup
@pytest.mark.parametrize("size", SIZES)
def test_the_two_sides_canvas_labels_do_not_run_into_each_other(widget_factory, tmp_path, size):
    """The left and right muscles lie side by side. On the sample study's DICOM (R1's outlines)
    at the fitted zoom, the rendered canvas is read back: between the two labels' anchors
    (the centres of the outlines) some column of the labels' band holds no text pixel, so the
    labels do not run into each other (they did with one-line labels at 1280x800)."""
    import shutil

    sample = Path(__file__).parents[2] / "sample_data" / "study" / "dicom"
    for name in ("S01_V1_L4_dicom.dcm", "S01_V1_L4_dicom.R1.mfscan.json"):
        shutil.copy(sample / name, tmp_path)  # never into sample_data
    viewer, w = widget_factory(show=True)
    viewer.window._qt_window.resize(*size)
    _process()
    w.set_fields(rater="R1")
    w.open_image(tmp_path / "S01_V1_L4_dicom.dcm")
    _process()
    layer = w.outline_layer(by_rater=True)
    for ly in viewer.layers:
        ly.visible = False
    labels = [str(t) for t in layer.features["label"]]
    extents = {}
    for i, side in enumerate(layer.features["side"]):
        # the widget's label i alone (its string, size, anchor and shift), white on black
        alone = viewer.add_shapes(
            layer.data,
            shape_type=list(layer.shape_type),
            edge_width=0,
            edge_color="black",
            face_color="transparent",
            features={"label": [t if k == i else "" for k, t in enumerate(labels)]},
            text={
                "string": "{label}",
                "size": layer.text.size,
                "anchor": layer.text.anchor,
                "translation": layer.text.translation,
                "color": "white",
            },
            scale=layer.scale,
            opacity=1.0,
        )
        _process()
        shot = viewer.screenshot(canvas_only=True, flash=False)
        viewer.layers.remove(alone)
        ratio = shot.shape[1] / viewer.window._qt_viewer.canvas.native.width()  # device pixels
        cols = np.flatnonzero((shot[..., :3] > 128).all(axis=-1).any(axis=0))
        assert cols.size, f"no {side} label rendered"  # the test sees the text
        extents[side] = (cols.min() / ratio, cols.max() / ratio)
    (l0, l1), (r0, r1) = extents["left"], extents["right"]
    assert l1 < r0 or r1 < l0, (size, extents)  # side by side, apart


def _type(qtbot, edit, text):
    """Type `text` into a line edit with real key events and press Enter."""
    from qtpy.QtCore import Qt

    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    _process()


def _shown_names(w):
    return Path(w.image_layer.metadata["mfscan"]["image_path"]).name


def test_blinded_setup_in_the_readme_order(widget_factory, tmp_path, phantom, qtbot):
    """README: study settings (pattern, Blinded) first, then rater and session, then Open folder:
    the settings land in the folder's study file and the rater starts at the first image of
    their own random order."""
    from qtpy.QtCore import Qt

    from mfscan.annotations import random_order

    folder = tmp_path / "study"
    folder.mkdir()
    for s in ("S01", "S02", "S03", "S04"):
        write_png(folder / f"{s}_V1_L4_1.png", phantom.image)
    viewer, w = widget_factory(show=True)
    qtbot.mouseClick(w.sections["study"].button, Qt.MouseButton.LeftButton)
    sp = w.study_panel
    _type(qtbot, sp.pattern_edit, "{subject}_V{visit}_{level}_{repeat}")
    qtbot.mouseClick(sp.pattern_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(sp.blinded_check, Qt.MouseButton.LeftButton)
    assert sp.blinded_check.isChecked()  # not refused for want of a folder
    _type(qtbot, w.codes.rater_edit, "R1")
    _type(qtbot, w.codes.session_edit, "1")
    w.open_folder(folder)  # the button opens a file dialog
    settings = read_study_settings(folder)
    assert settings["pattern"] == "{subject}_V{visit}_{level}_{repeat}" and settings["blinded"] is True
    entry = settings["orders"]["R1/1"]
    names = sorted(p.name for p in folder.glob("*.png"))
    assert entry["order"] == random_order(names, entry["seed"])
    assert _shown_names(w) == entry["order"][0]
    assert w.progress_label.text() == "Image 1 of 4 · annotated by R1 (session 1): 0 / 4"
    assert w.fields()["subject"] == entry["order"][0][:3]  # from the pattern


def test_ticking_blinded_starts_at_the_first_unsaved_image_of_the_raters_order(
    widget_factory, tmp_path, phantom, qtbot
):
    """A rater who opened the folder unblinded ticks Blinded: the worklist is reopened at the
    first image they have not saved, in their own order, and Next visits every image (it once
    stayed on the current image, at its place in the new order, and Next skipped the others)."""
    from qtpy.QtCore import Qt

    from mfscan.annotations import random_order

    folder = tmp_path / "study"
    folder.mkdir()
    for i in range(9):
        write_png(folder / f"img{i + 1}.png", phantom.image)
    names = sorted(p.name for p in folder.glob("*.png"))
    # R1's order drawn earlier (as the widget draws it), with a seed that puts img1.png 8th of 9,
    # as in the report.
    seed = next(s for s in range(10_000) if random_order(names, s).index("img1.png") == 7)
    order = random_order(names, seed)
    write_study_settings(
        folder, {"blinded": False, "orders": {"R1/1": {"seed": seed, "order": order, "done": []}}}
    )
    viewer, w = widget_factory(show=True)
    w.set_fields(rater="R1", session="1")
    w.open_folder(folder)
    assert _shown_names(w) == "img1.png"
    qtbot.mouseClick(w.sections["study"].button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(w.study_panel.blinded_check, Qt.MouseButton.LeftButton)
    assert read_study_settings(folder)["orders"]["R1/1"]["order"] == order
    assert w.progress_label.text().startswith("Image 1 of 9")
    seen = [_shown_names(w)]
    for _ in range(8):
        qtbot.mouseClick(w.worklist_panel.next_button, Qt.MouseButton.LeftButton)
        seen.append(_shown_names(w))
    assert seen == order


def test_blinded_messages_never_name_another_raters_file(widget_factory, annotated_png, qtbot):
    """R1's sidecar says subject P01; blinded R2 types S01: the refusal and the codes' source say
    "another tracing of this image", never R1's file; unblinded, the file is named."""
    img, sc = annotated_png  # scan01.R1.mfscan.json
    write_study_settings(img.parent, {"blinded": True})
    viewer, w = widget_factory(show=True)
    w.set_fields(rater="R2", session="1")
    w.open_folder(img.parent)
    assert w.codes.source_label.text() == "Codes from another tracing of this image"
    _type(qtbot, w.codes.subject_edit, "S01")
    layer = w.arm("left")
    layer.add_polygons([square(40, 250, 60)])
    assert w.save() == []  # refused
    texts = [w.save_label.text(), w.codes.warning_label.text(), w.codes.source_label.text(), *w.messages]
    assert not any("R1" in t or sc.name in t for t in texts), texts
    assert "subject is S01 here but P01 in another tracing of this image" in w.save_label.text()
    # Not blinded: the file is named, as before.
    write_study_settings(img.parent, {"blinded": False})
    w.study.load(img.parent)
    w.study.check_codes()
    assert w.codes.warning_label.text() == f"Codes disagree: subject is S01 here but P01 in {sc.name}."


# ---------------------------------------------------------------------- 5: small fixes
def test_undo_and_redo_say_what_they_undid(widget_factory, tmp_path, phantom, qtbot):
    """A vertex dragged with the mouse, then Ctrl+Z and Ctrl+Shift+Z pressed on the canvas."""
    from qtpy.QtCore import Qt

    viewer, w, layer = _editing(widget_factory, tmp_path, phantom, refresh_ms=10)
    mouse = Mouse(viewer, layer, qtbot)
    corner = np.asarray(layer.data[0][0], float)
    mouse.drag(corner, [(-10.0, -10.0), (-20.0, -20.0)])
    mouse.send("release", corner - 20)
    _process()
    w.refresh_table()
    assert w.table.item(0, column("csa")).text() != "6.25"
    native = mouse.native
    native.setFocus()
    qtbot.keyClick(native, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    _process()
    assert w.tracing.mode_label.text() == "Undone: vertex moved (outline 1). 2 outline(s) now."
    assert w.table.item(0, column("csa")).text() == "6.25"
    qtbot.keyClick(
        native, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    _process()
    assert w.tracing.mode_label.text() == "Redone: vertex moved (outline 1). 2 outline(s) now."
    assert np.asarray(layer.data[0], float)[0] == pytest.approx(corner - 20, abs=1.0)


def test_edit_descriptions():
    import pandas as pd
    from mfscan_napari._model import OutlineState, describe_edit

    sq = square(0, 0, 10, n=1)  # (0,0) (0,10) (10,10) (10,0)

    def state(polys, sides=None, methods=None):
        n = len(polys)
        feats = pd.DataFrame(
            {"side": sides or ["left"] * n, "method": methods or ["manual"] * n, "label": [""] * n}
        )
        return OutlineState.of(polys, feats)

    one = state([sq])
    bent = sq.copy()
    bent[2] += (3.0, 4.0)
    assert describe_edit(one, state([bent])) == "vertex moved (outline 1)"
    assert describe_edit(one, state([sq + 5.0])) == "outline moved (outline 1)"
    assert describe_edit(one, state([np.vstack([sq, [[5.0, -1.0]]])])) == "vertex added (outline 1)"
    assert describe_edit(one, state([sq, sq + 20], methods=["manual", "manual"])) == "outline added"
    assert describe_edit(one, state([sq, sq + 20], methods=["manual", "proposed"])) == "outline proposed"
    assert describe_edit(state([sq, sq + 20, sq + 40]), one) == "2 outlines deleted"
    assert describe_edit(one, state([sq], sides=["right"])) == "side changed (outline 1)"
    two = state([sq, sq + 20])
    assert describe_edit(two, state([sq, sq + 25])) == "outline moved (outline 2)"


def test_scale_length_remembered_in_the_study(widget_factory, tmp_path, phantom, qtbot):
    """The length typed for the scale line (real key events) is offered again on the study's next
    image and in the next session's widget, not in another study."""
    from qtpy.QtCore import Qt

    study = tmp_path / "study"
    study.mkdir()
    a, b = (write_png(study / n, phantom.image) for n in ("a.png", "b.png"))
    other = tmp_path / "other"
    other.mkdir()
    c = write_png(other / "c.png", phantom.image)
    viewer, w = widget_factory(show=True)
    w.set_fields(rater="R1")
    w.open_folder(study)
    box = w.calibration_panel.scale_length
    assert box.value() == 10.0  # nothing remembered yet
    box.setFocus()
    box.selectAll()
    qtbot.keyClicks(box, "40")
    qtbot.keyClick(box, Qt.Key.Key_Return)
    cal = w.set_scale_from_line([(20.0, 30.0), (180.0, 30.0)])  # 160 px
    assert cal.row_mm == pytest.approx(40.0 / 160.0)
    box.setValue(10.0)  # changed by hand, not used
    w.step(1)
    assert _shown_names(w) == "b.png" and box.value() == 40.0
    viewer2, w2 = widget_factory(show=False)  # the next session: same settings file
    w2.set_fields(rater="R1")
    w2.open_image(c)
    assert w2.calibration_panel.scale_length.value() == 10.0  # another study: not its length
    w2.open_image(a)
    assert w2.calibration_panel.scale_length.value() == 40.0


def test_settings_typed_before_a_folder_never_overwrite_the_studys(widget_factory, tmp_path, phantom):
    folder = tmp_path / "study"
    folder.mkdir()
    write_png(folder / "S01_V1_L4_1.png", phantom.image)
    write_study_settings(folder, {"pattern": "{subject}_V{visit}_{level}_{repeat}"})
    viewer, w = widget_factory()
    w.set_study(pattern="{subject}-{visit}-{level}-{repeat}", blinded=True)  # no folder open yet: kept
    assert read_study_settings(folder)["pattern"] == "{subject}_V{visit}_{level}_{repeat}"
    w.set_fields(rater="R1")
    w.open_folder(folder)
    settings = read_study_settings(folder)
    assert settings["pattern"] == "{subject}_V{visit}_{level}_{repeat}"  # the study's own, kept
    assert settings["blinded"] is True  # not set in the file: written
    assert any(
        "already sets pattern {subject}_V{visit}_{level}_{repeat}" in m
        and "pattern {subject}-{visit}-{level}-{repeat}" in m
        for m in w.messages
    ), w.messages
    assert w.study_panel.pattern_edit.text() == "{subject}_V{visit}_{level}_{repeat}"
