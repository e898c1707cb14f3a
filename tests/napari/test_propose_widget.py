"""GUI tests of the semi-automatic tools of the widget: Propose and Live-wire (real viewer, Xvfb)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from mfscan_napari import _model
from mfscan_napari._qt.widget import SHORTCUTS
from napari.utils.interactions import (
    mouse_double_click_callbacks,
    mouse_move_callbacks,
    mouse_press_callbacks,
    mouse_release_callbacks,
)

from mfscan.annotations import read_sidecar, sidecar_path
from mfscan.calibration import manual
from mfscan.measure import measure_outline, outline_mask
from mfscan.synthetic.phantom import shoelace_area


@pytest.fixture
def opened(open_png):
    """The phantom as a PNG, opened, calibrated by hand (0.25 mm/px), rater R1 at L4."""
    viewer, w, img = open_png("scan.png", subject="P01", visit="1", level="L4", rater="R1")
    w.apply_calibration(manual(0.25))
    return viewer, w, img


def _dice(points, truth):
    box, m = outline_mask(points, truth.shape)
    mask = np.zeros(truth.shape, bool)
    mask[box] = m
    return 2 * (mask & truth).sum() / (mask.sum() + truth.sum())


def _event(viewer, w, rc, type_="mouse_press", pos=(100.0, 100.0)):
    world = w.image_layer.data_to_world(rc)
    return SimpleNamespace(
        type=type_,
        position=tuple(world),
        pos=np.asarray(pos, float),
        button=1,
        modifiers=(),
        is_dragging=False,
        handled=False,
    )


def _click(viewer, w, rc):
    ev = _event(viewer, w, rc)
    mouse_press_callbacks(viewer, ev)
    ev.type = "mouse_release"
    mouse_release_callbacks(viewer, ev)


def _press_key(viewer, key):
    return viewer.window._qt_viewer._key_map_handler.press_key(key)


def test_propose_adds_checked_outline_and_table_equals_core(opened, phantom):
    viewer, w, img = opened
    layer = w.arm_propose("left")
    assert w.tool == "propose" and layer.name == "outlines R1" and layer.mode == "pan_zoom"
    i = w.propose_at(phantom.seeds["left"])
    assert i == 0 and w.tool is None  # disarmed after one proposal
    assert list(layer.features["side"]) == ["left"]
    assert list(layer.features["method"]) == ["proposed"]
    pts = np.asarray(layer.data[0], float)
    assert _dice(pts, phantom.masks["left"]) >= 0.9
    conf = _model._hidden(layer.features["_roi"].iloc[0])["extra"]["confidence"]
    assert 0 < conf <= 1
    assert f"Proposed left outline, confidence {conf:.2f}" in w.mode_label.text()
    assert layer.mode == "direct" and layer.selected_data == {0}
    gray = _model.get_image(layer.metadata["mfscan"]["image_path"]).gray[0]
    m = measure_outline(pts, gray, spacing=(0.25, 0.25))
    assert w.last_rows[0]["value"] == pytest.approx(m["csa_cm2"])
    assert w.table.item(0, 2).text() == f"{m['csa_cm2']:.2f}"
    assert w.last_rows[0]["value"] == pytest.approx(phantom.true_csa_cm2["left"], rel=0.06)
    # exactly the core's proposal for this image, seed and scale (to napari's float32 vertices)
    from mfscan.assist.propose import propose_outline

    core = propose_outline(gray, phantom.seeds["left"], spacing=(0.25, 0.25))
    np.testing.assert_allclose(pts, core.points, atol=1e-3)
    assert conf == pytest.approx(core.confidence, abs=1e-3)


def test_propose_by_mouse_click_and_shortcut(opened, phantom):
    viewer, w, img = opened
    keymap = {str(k): f for k, f in viewer.keymap.items()}
    keymap[SHORTCUTS["propose_right"]](viewer)
    assert w.tool == "propose" and w.tool_side == "right"
    # A drag (panning) proposes nothing and keeps the tool armed.
    ev = _event(viewer, w, phantom.seeds["right"])
    mouse_press_callbacks(viewer, ev)
    ev.type, ev.pos = "mouse_move", ev.pos + 40
    mouse_move_callbacks(viewer, ev)
    ev.type = "mouse_release"
    mouse_release_callbacks(viewer, ev)
    layer = w.outline_layer()
    assert len(layer.data) == 0 and w.tool == "propose"
    ev = _event(viewer, w, phantom.seeds["right"])  # moves not seen, release far away: a drag too
    mouse_press_callbacks(viewer, ev)
    ev.type, ev.pos = "mouse_release", ev.pos + 40
    mouse_release_callbacks(viewer, ev)
    assert len(layer.data) == 0 and w.tool == "propose"
    # A click proposes at the clicked point (world -> data coordinates of the calibrated image).
    _click(viewer, w, phantom.seeds["right"])
    assert list(layer.features["side"]) == ["right"] and list(layer.features["method"]) == ["proposed"]
    assert _dice(np.asarray(layer.data[0], float), phantom.masks["right"]) >= 0.9
    assert w.tool is None
    # Disarmed: another click adds nothing.
    _click(viewer, w, phantom.seeds["left"])
    assert len(layer.data) == 1


def test_propose_in_shadow_shows_message_adds_nothing(opened, phantom):
    viewer, w, img = opened
    shadow = phantom.landmarks["shadow_mask"]
    rr, cc = np.nonzero(shadow)
    seed = (float(np.median(rr)), float(np.median(cc)))
    assert shadow[int(seed[0]), int(seed[1])]
    layer = w.arm_propose("right")
    assert w.propose_at(seed) is None
    assert len(layer.data) == 0
    text = w.mode_label.text()
    assert "No outline proposed" in text and "shadow" in text and "Traceback" not in text
    # Outside the image: also a message.
    w.arm_propose("right")
    assert w.propose_at((-50.0, 10.0)) is None and "outside" in w.mode_label.text()
    assert len(layer.data) == 0


def test_escape_cancels_propose(opened, phantom):
    viewer, w, img = opened
    layer = w.arm_propose("left")
    assert viewer.layers.selection.active is layer
    assert _press_key(viewer, "Escape")
    assert w.tool is None and "Cancelled" in w.mode_label.text()
    _click(viewer, w, phantom.seeds["left"])
    assert len(layer.data) == 0
    assert not any(str(k) == "Escape" for k in layer.keymap)  # Esc is napari's own again
    # Choosing another mode in napari's layer controls disarms too (no proposal on the next click).
    w.arm_propose("left")
    layer.mode = "add_polygon"
    assert w.tool is None and "cancelled" in w.mode_label.text()


def test_edit_marks_proposed_edited_and_sidecar_round_trip(opened, phantom):
    viewer, w, img = opened
    w.arm_propose("left")
    w.propose_at(phantom.seeds["left"])
    w.arm_propose("right")
    w.propose_at(phantom.seeds["right"])
    layer = w.outline_layer()
    assert list(layer.features["method"]) == ["proposed", "proposed"]
    # Setting the same vertices again is no edit.
    layer.data = [d.copy() for d in layer.data]
    assert list(layer.features["method"]) == ["proposed", "proposed"]
    # Move one vertex of the left outline (napari emits "changed" with data_indices).
    data = [d.copy() for d in layer.data]
    data[0][5] += [2.0, -3.0]
    layer.data = data
    assert list(layer.features["method"]) == ["proposed-edited", "proposed"]
    assert "proposed-edited" in w.mode_label.text()
    (res,) = w.save()
    ann = read_sidecar(sidecar_path(img, "R1"))
    assert [(r.side, r.method) for r in ann.rois] == [("left", "proposed-edited"), ("right", "proposed")]
    for r in ann.rois:
        assert 0 < r.extra["confidence"] <= 1
    assert ann.calibration.source == "manual"
    raw = res.path.read_text("utf-8")
    assert '"confidence": ' in raw and '"method": "proposed-edited"' in raw
    # Reopened: method and confidence come back in the layer, and survive another save.
    _data, kw, _ = _model.read_layers(img)[1]
    assert list(kw["features"]["method"]) == ["proposed-edited", "proposed"]
    assert [_model._hidden(v)["extra"]["confidence"] for v in kw["features"]["_roi"]] == [
        r.extra["confidence"] for r in ann.rois
    ]
    # A vertex drag in direct mode: napari moves the vertex, then emits one "changed" event
    # for the selected shape only.
    layer._data_view.edit(1, np.asarray(layer.data[1])[:, :] + [0.0, 0.0])  # nothing moved
    layer.events.data(value=layer.data, action="changed", data_indices=(1,), vertex_indices=((),))
    assert list(layer.features["method"]) == ["proposed-edited", "proposed"]
    moved = np.asarray(layer.data[1]).copy()
    moved[2] += [1.5, 0.0]
    layer._data_view.edit(1, moved)
    layer.events.data(value=layer.data, action="changed", data_indices=(1,), vertex_indices=((2,),))
    assert list(layer.features["method"]) == ["proposed-edited", "proposed-edited"]


def test_livewire_traces_closed_outline(opened, phantom):
    viewer, w, img = opened
    w.livewire_check.setChecked(True)
    assert not w.lasso_check.isChecked()
    w.lasso_check.setChecked(True)
    assert not w.livewire_check.isChecked()  # mutually exclusive
    w.livewire_check.setChecked(True)
    layer = w.arm("left")
    tmp = w.tracer.livewire.path_layer
    assert w.tool == "livewire" and tmp is not None and tmp in viewer.layers
    assert viewer.layers.selection.active is tmp and tmp.mode == "pan_zoom"
    truth = phantom.outlines["left"]
    anchors = truth[np.linspace(0, len(truth), 8, endpoint=False).astype(int)]
    for k, a in enumerate(anchors[:-1]):
        _click(viewer, w, a)
        assert len(w.tracer.livewire.anchors) == k + 1
    assert len(tmp.data) == 1 and tmp.shape_type == ["path"]
    # Rubber band from the last anchor to the mouse (throttled; computed here directly).
    ev = _event(viewer, w, anchors[-1], type_="mouse_move")
    mouse_move_callbacks(viewer, ev)
    w.tracer.livewire.update_rubber_band()
    n_path = len(tmp.data[0])
    w.tracer.livewire.add_anchor(anchors[-1])
    assert len(tmp.data[0]) == pytest.approx(n_path, abs=2)
    # A double-click closes (and does not zoom).
    zoom = viewer.scene.camera.zoom
    ev = _event(viewer, w, anchors[-1], type_="mouse_double_click")
    mouse_double_click_callbacks(viewer, ev)
    assert viewer.scene.camera.zoom == zoom
    assert w.tool is None and w.tracer.livewire.path_layer is None and tmp not in viewer.layers
    assert [ly.name for ly in viewer.layers] == ["scan.png", "outlines R1"]
    assert any(
        getattr(cb, "__name__", "") == "double_click_to_zoom" for cb in viewer.mouse_double_click_callbacks
    )
    assert list(layer.features["method"]) == ["livewire"] and list(layer.features["side"]) == ["left"]
    pts = np.asarray(layer.data[0], float)
    csa = shoelace_area(pts) * 0.25 * 0.25 / 100
    assert csa == pytest.approx(phantom.true_csa_cm2["left"], rel=0.05)
    assert w.last_rows[0]["value"] == pytest.approx(csa, rel=1e-6)
    w.save()
    (roi,) = read_sidecar(sidecar_path(img, "R1")).rois
    assert roi.method == "livewire"
    # Editing a live-wire outline keeps its method.
    data = [d.copy() for d in layer.data]
    data[0][3] += 2.0
    layer.data = data
    assert list(layer.features["method"]) == ["livewire"]


def test_livewire_escape_enter_and_backspace(opened, phantom):
    viewer, w, img = opened
    layer = w.arm("right", livewire=True)
    truth = phantom.outlines["right"]
    anchors = truth[np.linspace(0, len(truth), 6, endpoint=False).astype(int)]
    for a in anchors[:2]:
        w.tracer.livewire.add_anchor(a)
    assert _press_key(viewer, "Enter")  # too few anchors: a message, still tracing
    assert w.tool == "livewire" and "at least 3 anchors" in w.mode_label.text()
    assert _press_key(viewer, "Escape")
    assert w.tool is None and w.tracer.livewire.path_layer is None
    assert [ly.name for ly in viewer.layers] == ["scan.png", "outlines R1"] and len(layer.data) == 0
    # Again, with Backspace removing a misplaced anchor, Enter closing.
    w.arm("right", livewire=True)
    for a in anchors[:3]:
        w.tracer.livewire.add_anchor(a)
    w.tracer.livewire.add_anchor((5.0, 5.0))
    assert _press_key(viewer, "Backspace") and len(w.tracer.livewire.anchors) == 3
    for a in anchors[3:]:
        w.tracer.livewire.add_anchor(a)
    w.tracer.livewire.add_anchor(anchors[0] + 0.5)  # closing on the first anchor
    assert _press_key(viewer, "Enter")
    assert list(layer.features["method"]) == ["livewire"]
    assert _dice(np.asarray(layer.data[0], float), phantom.masks["right"]) >= 0.9
    assert [ly.name for ly in viewer.layers] == ["scan.png", "outlines R1"]
    # Closing across a large gap collapses the outline: a message, the anchors are kept.
    w.arm("right", livewire=True)
    for a in truth[np.linspace(0, len(truth), 8, endpoint=False).astype(int)][:5]:
        w.tracer.livewire.add_anchor(a)
    assert w.tracer.livewire.close() is None
    assert "collapsed" in w.mode_label.text() and w.tool == "livewire" and len(w.tracer.livewire.anchors) == 5
    assert len(layer.data) == 1
    w.cancel_tool()
    # An anchor outside the image is refused with a message.
    w.arm("right", livewire=True)
    w.tracer.livewire.add_anchor((-40.0, 3.0))
    assert w.tracer.livewire.anchors == [] and "outside" in w.mode_label.text()
    # Arming another tool cancels the live-wire and removes its layer.
    w.arm_propose("left")
    assert w.tracer.livewire.path_layer is None and [ly.name for ly in viewer.layers] == [
        "scan.png",
        "outlines R1",
    ]


def test_propose_on_cine_frame(widget_factory, tmp_path, phantom):
    """A multi-frame image: the click's frame is proposed on and recorded."""
    import cv2

    from mfscan.synthetic.phantom import make_phantom

    other = make_phantom(seed=11, shape=(300, 400), spacing_mm=0.25)
    path = tmp_path / "cine.tif"
    if not cv2.imwritemulti(str(path), [phantom.image, other.image]):
        pytest.skip("OpenCV cannot write a multi-page TIFF here")
    viewer, w = widget_factory()
    viewer.open(str(path), plugin="mfscan")  # a reader regression must fail here, not skip
    assert w.image_layer.metadata["mfscan"]["n_frames"] == 2
    assert w.image_layer.data.shape == (2, 300, 400)
    w.set_fields(rater="R1", level="L4")
    w.apply_calibration(manual(0.25))
    viewer.dims.set_current_step(0, 1)
    w.arm_propose("left")
    _click(viewer, w, (1.0,) + tuple(other.seeds["left"]))
    layer = w.outline_layer()
    assert list(layer.features["frame"]) == [1]
    pts = np.asarray(layer.data[0], float)
    assert np.all(pts[:, 0] == 1.0)
    assert _dice(pts[:, 1:], other.masks["left"]) >= 0.9
    w.save()
    (roi,) = read_sidecar(sidecar_path(path, "R1")).rois
    assert roi.frame == 1 and roi.method == "proposed"


def test_real_canvas_events(open_png, phantom, qtbot):
    """The whole chain: vispy mouse events on the shown canvas -> napari -> the widget."""
    viewer, w, img = open_png("scan.png", show=True, rater="R1", level="L4")
    w.apply_calibration(manual(0.25))
    qtbot.wait(50)
    canvas = viewer.window._qt_viewer.canvas
    sc, view = canvas._scene_canvas, canvas.view

    def canvas_pos(rc):
        world = w.image_layer.data_to_world(rc)
        p = view.scene.transform.map([world[1], world[0], 0, 1])
        return p[:2] / p[3]

    def click(rc):
        p = canvas_pos(rc)
        sc.events.mouse_press(pos=p, button=1, modifiers=())
        sc.events.mouse_release(pos=p, button=1, modifiers=())
        return p

    w.arm_propose("left")
    click(phantom.seeds["left"])
    layer = w.outline_layer()
    assert list(layer.features["method"]) == ["proposed"]
    assert _dice(np.asarray(layer.data[0], float), phantom.masks["left"]) >= 0.9
    w.arm("right", livewire=True)
    zoom = viewer.scene.camera.zoom
    truth = phantom.outlines["right"]
    for a in truth[np.linspace(0, len(truth), 8, endpoint=False).astype(int)]:
        p = click(a)
        sc.events.mouse_move(pos=p + 3, button=None, modifiers=())
    qtbot.waitUntil(lambda: not w.tracer.livewire.rubber_timer.isActive(), timeout=1000)
    sc.events.mouse_double_click(pos=p, button=1, modifiers=())
    sc.events.mouse_release(pos=p, button=1, modifiers=())
    assert list(layer.features["method"]) == ["proposed", "livewire"]
    assert viewer.scene.camera.zoom == zoom  # the closing double-click did not zoom
    assert _dice(np.asarray(layer.data[1], float), phantom.masks["right"]) >= 0.9


def test_propose_on_open_sample_equals_core(widget_factory):
    """File ▸ Open Sample, then Propose left by a click: the core's outline for the same image,
    seed and scale (the sample was once an imitation of Image without overlay_frame, and
    Propose crashed on it)."""
    from mfscan.assist.propose import propose_outline
    from mfscan.synthetic.phantom import make_phantom

    viewer, w = widget_factory()
    viewer.open_sample("mfscan", "phantom")  # the npe2 sample-data command, as the menu runs it
    assert [ly.name for ly in viewer.layers] == ["mfscan phantom"]
    ph = make_phantom(seed=2026)
    w.set_fields(level="L4")
    layer = w.arm_propose("left")
    assert layer is not None and w.tool == "propose"
    _click(viewer, w, ph.seeds["left"])
    assert w.tool is None and "No outline proposed" not in w.mode_label.text()
    assert list(layer.features["method"]) == ["proposed"] and list(layer.features["side"]) == ["left"]
    core = propose_outline(ph.image, ph.seeds["left"], spacing=ph.spacing_mm, side="left")
    np.testing.assert_allclose(np.asarray(layer.data[0], float), core.points, atol=1e-3)
    conf = _model._hidden(layer.features["_roi"].iloc[0])["extra"]["confidence"]
    assert conf == pytest.approx(core.confidence, abs=1e-3)
    m = measure_outline(core.points, ph.image, spacing=ph.spacing_mm)
    assert w.last_rows[0]["value"] == pytest.approx(m["csa_cm2"], rel=1e-5)


def test_widget_propose_follows_the_study_border(open_png, phantom, tmp_path):
    """The widget's Propose traces the study's border ("centre" in mfscan.study.json) as the CLI does."""
    from mfscan.annotations import write_study_settings
    from mfscan.geometry import polygon_area

    viewer, w, img = open_png("scan.png", subject="P01", visit="1", level="L4", rater="R1")
    w.apply_calibration(manual(0.25))
    layer = w.arm_propose("left")
    assert w.propose_at(phantom.seeds["left"]) == 0
    inner = np.asarray(layer.data[0], float)
    write_study_settings(tmp_path, {"border": "centre"})
    layer = w.arm_propose("left")
    assert w.propose_at(phantom.seeds["left"]) == 1
    centre = np.asarray(layer.data[1], float)
    # the phantom's fascia (2.2 mm) and lamina (3 mm) lie just outside the true outline: their
    # centres are 1.1-1.5 mm further out, so the centre-of-line outline encloses clearly more
    assert 1.03 < polygon_area(centre) / polygon_area(inner) < 1.35
    truth = phantom.masks["left"].sum()
    assert polygon_area(inner) < polygon_area(centre) and abs(polygon_area(inner) - truth) < abs(
        polygon_area(centre) - truth
    )
