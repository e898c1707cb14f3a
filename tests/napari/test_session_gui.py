"""The widget's session (issue 22 §4) in a real viewer: the controllers change it, the panels follow it."""

from __future__ import annotations

from mfscan_napari_testutils import png_folder, square

from mfscan.annotations import read_sidecar, sidecar_path


def test_widget_session_follows_edits_saves_and_the_worklist(widget_factory, tmp_path, phantom):
    folder = png_folder(tmp_path / "study", phantom.image, 2)
    viewer, w = widget_factory()
    seen = []
    s = w.session
    s.image_changed.connect(lambda p: seen.append(("image", p)))
    s.dirty_changed.connect(lambda k, d: seen.append(("dirty", k, d)))
    s.worklist_moved.connect(lambda i: seen.append(("moved", i)))
    w.set_fields(subject="P01", visit="1", level="L4", rater="R1")
    w.open_folder(folder)
    img1, img2 = (str((folder / n).resolve()) for n in ("img1.png", "img2.png"))
    assert s.image_path == img1 and ("image", img1) in seen and s.worklist.index == 0
    assert not s.calibration.calibrated and w.calibration_label.text().startswith("NOT CALIBRATED")
    layer = w.arm("left")
    layer.add_polygons([square(40, 250, 60)])
    assert s.records[("R1", "")] is layer.metadata["mfscan"] and s.dirty
    assert ("dirty", ("R1", ""), True) in seen
    seen.clear()
    w.step(1)
    # Saved before leaving (the sidecar really written), then the next image and its position.
    assert [r.side for r in read_sidecar(sidecar_path(folder / "img1.png", "R1")).rois] == ["left"]
    assert seen.index(("dirty", ("R1", ""), False)) < seen.index(("image", img2))
    assert ("moved", 1) in seen and s.image_path == img2 and not s.dirty
    assert "Image 2 of 2" in w.progress_label.text() and "img2.png" in w.calibration_panel.image_label.text()
    # The widget's own changes to a layer (defaults, labels) are not edits.
    own = w.outline_layer(create=True, by_rater=True)
    with s.applying():
        own.features = own.features.copy()
    assert not s.dirty
    own.features = own.features.copy()  # by anyone else: an edit to save
    assert s.dirty and s.records[("R1", "")] is own.metadata["mfscan"]
