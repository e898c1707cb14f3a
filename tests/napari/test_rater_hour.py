"""GUI tests of issue 21 points 1-5 (a rater's hour): live measurements while a vertex is dragged,
the worklist always in sight, no overlapping controls, blinded setup, scale length and undo
messages. Real mouse and key events on the shown canvas and widgets (under Xvfb)."""

from __future__ import annotations

import numpy as np
import pytest
from mfscan_napari._qt.panels.measurements import column
from mfscan_napari_testutils import square, write_png
from shapely.geometry import Polygon

from mfscan.annotations import ROI, Annotation, sidecar_path, write_sidecar
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


def test_table_follows_a_vertex_drag_before_release(widget_factory, tmp_path, phantom, qtbot):
    """A corner of the left square dragged with real Qt mouse events on the canvas: the table's CSA
    and the canvas label follow during the drag (before the release and its data event)."""
    from qtpy.QtCore import QPoint, Qt
    from qtpy.QtGui import QMouseEvent
    from qtpy.QtWidgets import QApplication

    img = _squares_png(tmp_path, phantom)
    viewer, w = widget_factory(show=True, refresh_ms=10)
    viewer.window._qt_window.resize(1280, 800)
    w.set_fields(rater="R1")
    w.open_image(img)
    layer = w.outline_layer(by_rater=True)
    viewer.layers.selection.active = layer
    _process()
    assert w.table.item(0, column("csa")).text() == "6.25"  # 25 mm x 25 mm
    layer.mode = "direct"
    layer.selected_data = {0}
    _process()
    data_events = []
    layer.events.data.connect(lambda e: data_events.append(str(e.action)))
    native = viewer.window._qt_viewer.canvas._scene_canvas.native
    ratio = native.devicePixelRatioF()

    def send(kind, rc, buttons):
        x, y = _canvas_pos(viewer, layer, rc) / ratio
        pos = QPoint(int(round(x)), int(round(y)))
        if kind == "move":
            qtbot.mouseMove(native, pos)  # the hover before the press
            return
        etype = {
            "press": QMouseEvent.Type.MouseButtonPress,
            "drag": QMouseEvent.Type.MouseMove,
            "release": QMouseEvent.Type.MouseButtonRelease,
        }[kind]
        glob = native.mapToGlobal(pos)
        ev = QMouseEvent(
            etype,
            pos.toPointF(),
            glob.toPointF(),
            Qt.MouseButton.LeftButton,
            buttons,
            Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(native, ev)

    corner = np.asarray(layer.data[0][0], float)  # (100, 220)
    send("move", corner, Qt.MouseButton.NoButton)
    send("press", corner, Qt.MouseButton.LeftButton)
    for k in range(1, 5):  # up and left, 40 px in four moves
        send("drag", corner - 10 * k, Qt.MouseButton.LeftButton)
        qtbot.wait(30)
        _process()
    moved = np.asarray(layer.data[0], float)
    assert moved[0] == pytest.approx(corner - 40, abs=1.0)  # the vertex followed the mouse
    assert "changed" not in data_events  # still dragging: napari has emitted no data event
    expected = _csa_cm2(moved)
    assert expected > 6.25 + 0.3  # a triangle of 0.5 x 40 x 100 px x 2 added (~0.5 cm²)
    qtbot.waitUntil(lambda: w.table.item(0, column("csa")).text() == f"{expected:.2f}", timeout=2000)
    assert layer.features["label"][0] == f"left {expected:.2f} cm²"  # the canvas label too
    send("release", corner - 40, Qt.MouseButton.NoButton)
    _process()
    assert "changed" in data_events
