"""GUI tests of the napari plugin (run under Xvfb by pytest-xvfb)."""

from __future__ import annotations

import numpy as np
import pytest
from mfscan_napari import _model
from mfscan_napari._qt.widget import SHORTCUTS
from mfscan_napari_testutils import png_folder, square, write_png

from mfscan.annotations import read_sidecar, sidecar_path, write_sidecar
from mfscan.io.images import load_image
from mfscan.measure import measure_outline


def _table(w):
    t = w.table
    return [[t.item(i, j).text() for j in range(t.columnCount())] for i in range(t.rowCount())]


def _col(key):
    return [k for k, _h in _model.TABLE_COLUMNS].index(key)


def test_open_with_plugin_reader_and_table_equals_core(widget_factory, annotated_png, phantom):
    img, sc = annotated_png
    viewer, w = widget_factory()
    viewer.open(str(img), plugin="mfscan")
    image_layer, shapes = viewer.layers
    assert (
        image_layer.scale.tolist() == [0.25, 0.25]
        and [str(u) for u in image_layer.units] == ["millimeter"] * 2
    )
    assert shapes.name == "outlines R1" and shapes.scale.tolist() == [0.25, 0.25]
    assert list(shapes.features["side"]) == ["left", "right"]
    np.testing.assert_allclose(shapes.data[1], phantom.outlines["right"], rtol=1e-6)  # napari: float32
    w.refresh_table()
    rows = _table(w)
    image = load_image(img)
    for row, data in zip(rows, shapes.data, strict=True):
        m = measure_outline(data, image.gray[0], spacing=(0.25, 0.25))
        assert row[_col("csa")] == f"{m['csa_cm2']:.2f}"
        assert row[_col("ap")] == f"{m['ap_depth_cm']:.2f}"
        assert row[_col("ratio")] == f"{m['shape_ratio']:.2f}"
    assert "Calibrated: 0.25 mm/px" in w.calibration_label.text()
    assert w.table.horizontalHeaderItem(_col("csa")).text() == "CSA (cm²)"
    assert "Research use only" in w.notice_label.text()
    assert "Asymmetry" in w.asymmetry_label.text()


def test_add_edit_outlines_updates_table_and_save_round_trip(widget_factory, tmp_path, phantom):
    img = write_png(tmp_path / "fresh.png", phantom.image)
    viewer, w = widget_factory()
    viewer.open(str(img), plugin="mfscan")
    assert w.calibration_label.text().startswith("NOT CALIBRATED")
    w.set_fields(subject="S07", visit="3", level="L5", rater="R2")
    layer = w.arm("left")
    assert layer.name == "outlines R2" and layer.mode == "add_polygon"
    assert layer.feature_defaults["side"][0] == "left"
    left = square(40, 250, 80, n=10)
    layer.add_polygons([left])
    w.arm("right", lasso=True)
    assert layer.mode == "add_polygon_lasso"
    right = square(40, 60, 100, n=10)
    layer.add_polygons([right])
    assert list(layer.features["side"]) == ["left", "right"]
    assert list(layer.features["level"]) == ["L5", "L5"]
    w.refresh_table()
    image = load_image(img)
    rows = _table(w)
    m_left = measure_outline(left, image.gray[0])
    assert rows[0][_col("csa")] == f"{m_left['csa_px2']:.0f}" == "6400"
    assert rows[1][_col("csa")] == "10000"
    assert w.table.horizontalHeaderItem(_col("csa")).text() == "CSA (px²)"
    assert w.last_asymmetry[0]["pct"] == pytest.approx(36.0)
    # Edit one vertex (as a drag would), the table follows.
    data = [d.copy() for d in layer.data]
    data[1][0] = [20.0, 60.0]
    layer.data = data
    assert _meta_dirty(layer)
    w.refresh_table()
    m_right = measure_outline(data[1], image.gray[0])
    assert w.last_rows[1]["value"] == pytest.approx(m_right["csa_px2"])
    assert _table(w)[1][_col("csa")] == f"{m_right['csa_px2']:.0f}"
    assert list(layer.features["label"]) == ["left\n6400 px²", f"right\n{m_right['csa_px2']:.0f} px²"]
    # Save through napari's writer API, reread with the core.
    target = sidecar_path(img, "R2")
    viewer.layers.selection.active = layer
    saved = viewer.layers.save(str(target), selected=True, plugin="mfscan")
    assert [str(target)] == [str(s) for s in saved]
    ann = read_sidecar(target)
    assert (ann.subject, ann.visit, ann.level, ann.rater) == ("S07", "3", "L5", "R2")
    assert [r.side for r in ann.rois] == ["left", "right"]
    np.testing.assert_allclose(ann.rois[0].points, left)
    np.testing.assert_allclose(ann.rois[1].points, data[1])
    assert ann.calibration is None


def _meta_dirty(layer):
    return layer.metadata["mfscan"].get("dirty")


def test_table_updates_by_throttled_timer(widget_factory, annotated_png, qtbot):
    img, sc = annotated_png
    viewer, w = widget_factory(refresh_ms=10)
    viewer.open(str(img), plugin="mfscan")
    layer = viewer.layers[-1]
    w.refresh_table()
    before = w.last_rows[0]["value"]
    data = [d.copy() for d in layer.data]
    data[0] = data[0][::2]  # drop every other vertex
    layer.data = data
    qtbot.waitUntil(lambda: w.last_rows and w.last_rows[0]["value"] != before, timeout=2000)
    image = load_image(img)
    assert w.last_rows[0]["value"] == pytest.approx(
        measure_outline(data[0], image.gray[0], spacing=(0.25, 0.25))["csa_cm2"]
    )


def test_warnings_missing_side_and_duplicates(open_png):
    viewer, w, img = open_png("w.png", level="L4", rater="R1")
    layer = w.arm("left")
    layer.add_polygons([square(40, 250, 50)])
    w.refresh_table()
    assert any("no right outline" in s for s in w.last_warnings)
    layer.add_polygons([square(150, 250, 50)])
    w.refresh_table()
    assert any("2 left outlines" in s for s in w.last_warnings)
    assert "no right outline" in w.warnings_label.text()


def test_set_scale_from_line(open_png):
    viewer, w, img = open_png("ruler.png", rater="R1", level="L4")
    layer = w.arm("left")
    layer.add_polygons([square(40, 250, 80)])
    w.refresh_table()
    assert w.last_rows[0]["value"] == pytest.approx(6400.0) and not w.last_rows[0]["calibrated"]
    scale_layer = w.start_scale_line()
    assert scale_layer.mode == "add_line"
    scale_layer.add_lines([np.array([[10.0, 20.0], [210.0, 20.0]])])
    w.scale_length.setValue(40.0)  # 200 px = 40 mm: 0.2 mm/px
    cal = w.set_scale_from_line()
    assert cal.source == "scale-line" and cal.row_mm == pytest.approx(0.2)
    assert w.last_rows[0]["calibrated"]
    assert w.last_rows[0]["value"] == pytest.approx(6400 * 0.04 / 100)  # px² x (mm/px)² / 100 -> cm²
    for ly in viewer.layers:
        assert ly.scale.tolist() == pytest.approx([0.2, 0.2])
    assert "scale line" in w.calibration_label.text()
    w.save()
    ann = read_sidecar(sidecar_path(img, "R1"))
    assert ann.calibration.source == "scale-line" and ann.calibration.row_mm == pytest.approx(0.2)
    # Reopening shows the stored calibration.
    layers = _model.read_layers(img)
    assert layers[0][1]["scale"] == pytest.approx((0.2, 0.2))


def test_implausible_scale_line_is_refused_when_set(open_png):
    """A 2-pixel line called 100 mm (50 mm per pixel, outside 0.005-5) is refused on Set scale."""
    viewer, w, img = open_png("ruler.png", rater="R1", level="L4")
    before = [ly.scale.tolist() for ly in viewer.layers]
    assert w.set_scale_from_line([(10.0, 20.0), (10.0, 22.0)], length_mm=100.0) is None
    shown = w.calibration_panel.scale_error_label.text()  # by Set scale
    assert "50 mm per pixel" in shown and "plausible" in shown
    assert [ly.scale.tolist() for ly in viewer.layers] == before  # nothing applied
    cal = w.set_scale_from_line([(10.0, 20.0), (210.0, 20.0)], length_mm=40.0)  # 0.2 mm/px: fine
    assert cal.row_mm == pytest.approx(0.2)


def test_worklist_steps_autosaves_and_resumes(widget_factory, tmp_path, phantom):
    folder = png_folder(tmp_path / "study", phantom.image, 3)
    viewer, w = widget_factory()
    w.set_fields(rater="R1")
    w.open_folder(folder)
    assert w.image_layer.name == "img1.png"
    w.set_fields(subject="P02", visit="1", level="L4")  # codes belong to the image: typed after opening
    assert w.progress_label.text().endswith("annotated by R1: 0 / 3")
    layer = w.arm("left")
    layer.add_polygons([square(40, 250, 60)])
    w.arm("right")
    layer.add_polygons([square(40, 60, 60)])
    assert not sidecar_path(folder / "img1.png", "R1").exists()
    w.step(1)  # autosave on changing image
    sc1 = sidecar_path(folder / "img1.png", "R1")
    assert sc1.exists()
    ann = read_sidecar(sc1)
    assert [r.side for r in ann.rois] == ["left", "right"] and ann.subject == "P02"
    np.testing.assert_allclose(ann.rois[0].points, square(40, 250, 60))
    assert w.image_layer.name == "img2.png"
    assert "annotated by R1: 1 / 3" in w.progress_label.text()
    # Timer autosave: only when dirty.
    layer2 = w.arm("left")
    layer2.add_polygons([square(30, 30, 30)])
    w.autosave()
    assert sidecar_path(folder / "img2.png", "R1").exists()
    mtime = sidecar_path(folder / "img2.png", "R1").stat().st_mtime_ns
    w.autosave()
    assert sidecar_path(folder / "img2.png", "R1").stat().st_mtime_ns == mtime
    # Back to image 1: its outlines come back.
    w.step(-1)
    assert w.image_layer.name == "img1.png"
    assert len(w.outline_layer().data) == 2
    # A new widget on the same settings resumes at the last image.
    w.step(1)
    viewer2, w2 = widget_factory()
    w2.open_folder(folder)
    assert w2.image_layer.name == "img2.png"
    # An image opened directly becomes the worklist's current one: Previous goes on from it.
    w2.open_image(folder / "img3.png")
    assert w2.progress_label.text().startswith("Image 3 of 3")
    w2.step(-1)
    assert w2.image_layer.name == "img2.png"


def test_conflict_keeps_edits(widget_factory, annotated_png):
    img, sc = annotated_png
    viewer, w = widget_factory()
    viewer.open(str(img), plugin="mfscan")
    layer = viewer.layers[-1]
    data = [d.copy() for d in layer.data]
    data[0][0] += 1.0
    layer.data = data
    other = read_sidecar(sc)
    other.visit = "9"
    write_sidecar(sc, other)  # another window saved meanwhile
    (res,) = w.save()
    assert res.conflict and res.path != sc
    assert read_sidecar(sc).visit == "9"  # not overwritten
    np.testing.assert_array_equal(read_sidecar(res.path).rois[0].points, data[0])
    assert "changed on disk" in w.save_label.text()
    # Later saves go on into the conflict file, still never over the other's file.
    data[0][1] += 1.0
    layer.data = data
    (res2,) = w.save()
    assert res2.path == res.path and read_sidecar(sc).visit == "9"


def test_removing_dirty_layer_saves_it(open_png):
    viewer, w, img = open_png("rm.png", rater="R3")
    layer = w.arm("right")
    layer.add_polygons([square(40, 60, 50)])
    viewer.layers.remove(layer)
    assert [r.side for r in read_sidecar(sidecar_path(img, "R3")).rois] == ["right"]


def test_keyboard_shortcuts_arm_tracing(open_png):
    viewer, w, img = open_png("k.png", rater="R1")
    keymap = {str(k): f for k, f in viewer.keymap.items()}
    assert (
        set(SHORTCUTS.values())
        == {"Alt+L", "Alt+R", "Shift+Alt+L", "Shift+Alt+R", "PageDown", "PageUp", "Ctrl+Z", "Ctrl+Shift+Z"}
        <= set(keymap)
    )
    keymap["Alt+R"](viewer)
    layer = viewer.layers.selection.active
    assert layer.name == "outlines R1" and layer.feature_defaults["side"][0] == "right"
    assert layer.mode == "add_polygon"


def test_sample_data_through_viewer(widget_factory):
    viewer, w = widget_factory()
    viewer.open_sample("mfscan", "phantom_outlines")
    assert [ly.name for ly in viewer.layers] == ["mfscan phantom", "outlines example"]
    viewer.layers.selection.active = viewer.layers[-1]
    w.refresh_table()
    from mfscan.synthetic.phantom import make_phantom

    ph = make_phantom(seed=2026)
    m = measure_outline(ph.outlines["left"], ph.image, spacing=ph.spacing_mm)
    assert w.last_rows[0]["value"] == pytest.approx(m["csa_cm2"])


def test_screenshot_shows_side_colors(widget_factory, annotated_png, tmp_path):
    img, sc = annotated_png
    viewer, w = widget_factory(show=True)
    viewer.open(str(img), plugin="mfscan")
    w.refresh_table()
    shot = viewer.screenshot(canvas_only=True, flash=False)
    r, g, b = (shot[..., i].astype(int) for i in range(3))
    # ONE palette for the canvas, QC and the report: mfscan.vocab's (Okabe-Ito sky blue / orange).
    from mfscan import vocab

    assert _model.SIDE_COLORS is vocab.SIDE_COLORS
    assert vocab.SIDE_COLORS == {"left": "#56B4E9", "right": "#E69F00"}
    # Edge colours are antialiased; grayscale ultrasound never has R, G, B this far apart.
    blue = (b - r > 80) & (b > 150) & (g > 100)  # left, #56B4E9 = (86, 180, 233)
    orange = (r - b > 120) & (r > 170) & (g > 90) & (g < 210)  # right, #E69F00 = (230, 159, 0)
    assert blue.sum() > 100 and orange.sum() > 100, (blue.sum(), orange.sum())
    # Each colour sits where its outline is: left outline on the image's right half here.
    assert np.median(np.nonzero(blue)[1]) > np.median(np.nonzero(orange)[1])
