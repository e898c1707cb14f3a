"""Stepping through a worklist reuses the viewer's layers (issue 11, the 300 ms step):
the reused layers must show exactly what new layers would."""

from __future__ import annotations

import numpy as np
import pytest
from mfscan_napari import _model
from mfscan_napari._model.reuse import LayerSpec, plan_reuse, tuple_spec
from mfscan_napari_testutils import square, write_png
from napari.utils.colormaps.standardize_color import transform_color

from mfscan.annotations import ROI, Annotation, read_sidecar, sidecar_path, write_sidecar
from mfscan.calibration import manual

IMG = LayerSpec("image", "image", 2, False, "a.png")
RGB = LayerSpec("image", "image", 2, True, "c.png")
R1 = LayerSpec("outlines", "shapes", 2, False, "outlines R1")
R2 = LayerSpec("outlines", "shapes", 2, False, "outlines R2")
R2_CINE = LayerSpec("outlines", "shapes", 3, False, "outlines R2")


def test_plan_reuse_by_kind_then_name():
    # Same kinds: everything reused; a layer keeps its name where it can.
    assert plan_reuse([IMG, R1, R2], [IMG._replace(name="b.png"), R2, R1]) == ([0, 2, 1], [])
    # One outline layer fewer: the unmatched one is left over.
    assert plan_reuse([IMG, R1, R2], [IMG, R2]) == ([0, 2], [1])
    # Grey -> RGB, 2-D -> cine outlines: nothing fits, new layers; old ones removed.
    assert plan_reuse([IMG, R2], [RGB, R2_CINE]) == ([None, None], [0, 1])
    # Another rater's layer takes the data when the name differs (order kept).
    assert plan_reuse([IMG, R1], [IMG, R2]) == ([0, 1], [])


def test_tuple_spec_of_reader_tuples(tmp_path, phantom):
    img = write_png(tmp_path / "a.png", phantom.image)
    write_sidecar(
        sidecar_path(img, "R1"), Annotation(image="a.png", rater="R1", rois=[ROI("left", square(5, 5, 9))])
    )
    specs = [tuple_spec(t) for t in _model.read_layers(img)]
    assert specs == [LayerSpec("image", "image", 2, False, "a.png"), R1]


def _folder(tmp_path, phantom):
    """Three images; R1 traced a (left, right) and b (right first, then left); nobody traced c."""
    folder = tmp_path / "study"
    folder.mkdir()
    paths = [write_png(folder / f"S0{i}_V1_L4_1.png", phantom.image) for i in (1, 2, 3)]
    order = {0: ("left", "right"), 1: ("right", "left")}
    for k, sides in order.items():
        rois = [ROI(s, square(40 + 30 * j + 7 * k, 50, 20 + 5 * k)) for j, s in enumerate(sides)]
        write_sidecar(
            sidecar_path(paths[k], "R1"),
            Annotation(
                image=paths[k].name,
                subject=f"S0{k + 1}",
                visit="1",
                level="L4",
                rater="R1",
                calibration=manual(0.2),
                rois=rois,
            ),
        )
    return folder, paths


def _edge_rgba(layer):
    return np.asarray(layer.edge_color)[:, :3]


def test_stepping_reuses_layers_and_shows_what_new_layers_would(widget_factory, tmp_path, phantom):
    folder, paths = _folder(tmp_path, phantom)
    viewer, w = widget_factory(show=True)
    w.set_fields(rater="R2")
    w.open_folder(folder)
    image_layer = w.image_layer
    (r1,) = w.outline_layers()
    mine = w.arm("left")
    mine.add_polygons([square(100, 100, 30)])  # R2 traces image 1
    w.step(1)
    # The same layer objects, now image 2's.
    assert w.image_layer is image_layer and image_layer.name == paths[1].name
    assert _model.layer_meta(image_layer)["image_path"] == str(paths[1])
    np.testing.assert_array_equal(image_layer.data, phantom.image)  # the pixels written to the PNG
    assert [ly.name for ly in viewer.layers] == [paths[1].name, "outlines R1", "outlines R2"]
    assert viewer.layers["outlines R1"] is r1 and viewer.layers["outlines R2"] is mine
    # R1's outlines of image 2, in the file's order, coloured by side (right first here).
    ann = read_sidecar(sidecar_path(paths[1], "R1"))
    assert len(r1.data) == 2 and list(r1.features["side"]) == ["right", "left"]
    for got, roi in zip(r1.data, ann.rois, strict=True):
        np.testing.assert_allclose(got, roi.points, atol=1e-4)
    palette = _model.rater_colors(1)  # R1 is the other rater: palette colours, left then right
    np.testing.assert_allclose(_edge_rgba(r1), transform_color([palette[1], palette[0]])[:, :3], atol=1e-6)
    assert not r1.editable and _model.layer_meta(r1)["sidecar_path"] == str(sidecar_path(paths[1], "R1"))
    # R2's own layer: empty, for image 2, named for image 2's sidecar; codes from R1's sidecar.
    assert len(mine.data) == 0 and mine.editable
    assert _model.layer_meta(mine)["sidecar_path"] == str(sidecar_path(paths[1], "R2"))
    assert w.fields()["subject"] == "S02"
    # Image 1 was saved by R2 before the step; nothing is written for the empty layer of image 2.
    assert sidecar_path(paths[0], "R2").is_file() and not sidecar_path(paths[1], "R2").exists()
    # Undo does not reach back into image 1.
    assert not w.undo() and len(mine.data) == 0
    # Tracing on the reused layer saves image 2's own sidecar with the right codes.
    w.arm("right").add_polygons([square(120, 200, 25)])
    w.step(1)
    saved = read_sidecar(sidecar_path(paths[1], "R2"))
    assert (saved.subject, saved.rater, saved.image) == ("S02", "R2", paths[1].name)
    assert [r.side for r in saved.rois] == ["right"]
    # Image 3: nobody else traced it; R1's layer goes, R2's stays as the empty layer to trace into.
    assert [ly.name for ly in viewer.layers] == [paths[2].name, "outlines R2"]
    assert w.image_layer is image_layer and len(viewer.layers["outlines R2"].data) == 0
    # Back to image 1: R2's own outline again, editable, in the current rater's colours.
    w.step(-2)
    own = viewer.layers["outlines R2"]
    assert len(own.data) == 1 and own.editable and list(own.features["side"]) == ["left"]
    np.testing.assert_allclose(own.data[0], square(100, 100, 30), atol=1e-4)
    np.testing.assert_allclose(
        _edge_rgba(own)[0], transform_color(_model.SIDE_COLORS["left"])[0, :3], atol=1e-6
    )


def test_rgb_after_grey_gets_a_new_image_layer(widget_factory, tmp_path, phantom):
    folder = tmp_path / "mixed"
    folder.mkdir()
    grey = write_png(folder / "a.png", phantom.image)
    rgb = write_png(folder / "b.png", np.dstack([phantom.image] * 3))
    viewer, w = widget_factory()
    w.open_image(grey)
    first = w.image_layer
    w.open_image(rgb)
    assert w.image_layer is not first and w.image_layer.rgb and first not in viewer.layers
    assert [ly.name for ly in viewer.layers] == ["b.png"]


def test_unreadable_image_closes_the_previous_one_and_says_why(widget_factory, tmp_path, phantom):
    folder = tmp_path / "broken"
    folder.mkdir()
    good = write_png(folder / "a.png", phantom.image)
    bad = folder / "b.png"
    bad.write_bytes(b"not a png")
    viewer, w = widget_factory()
    w.open_folder(folder)
    assert w.image_layer.name == good.name
    assert w.step(1) is None
    assert [ly.name for ly in viewer.layers] == [] and w.image_layer is None
    assert w.saver.messages[-1].startswith("Cannot open b.png")


@pytest.mark.parametrize("n_before", [1, 3])
def test_outline_count_changes_keep_edge_width(widget_factory, tmp_path, phantom, n_before):
    """Fewer shapes than before replace the data in one update, more are added: both look the same."""
    folder = tmp_path / "n"
    folder.mkdir()
    a = write_png(folder / "a.png", phantom.image)
    b = write_png(folder / "b.png", phantom.image)
    sides = ["left", "right", "left"]
    for img, n in ((a, n_before), (b, 2)):
        rois = [ROI(sides[k], square(30 + 40 * k, 60, 25)) for k in range(n)]
        write_sidecar(sidecar_path(img, "R1"), Annotation(image=img.name, rater="R1", rois=rois))
    viewer, w = widget_factory()
    w.open_image(a)
    (layer,) = w.outline_layers()
    w.open_image(b)
    assert w.outline_layers() == [layer] and len(layer.data) == 2
    assert list(layer.edge_width) == [2, 2] and list(layer.shape_type) == ["polygon", "polygon"]
    assert list(layer.features["side"]) == ["left", "right"]
    assert list(layer.features["label"]) == [
        r["label"] for r in _model.measure_rows(w.images.get(str(b)), read_sidecar(sidecar_path(b, "R1")))
    ]


def test_16_bit_then_8_bit_image_reuses_the_layer_with_the_new_contrast(widget_factory, tmp_path, phantom):
    import tifffile

    deep = tmp_path / "a.tif"
    tifffile.imwrite(deep, (phantom.image.astype(np.uint16) * 16))  # 12-bit values in 16-bit words
    shallow = write_png(tmp_path / "b.png", phantom.image)
    viewer, w = widget_factory(show=True)
    w.open_image(deep)
    layer = w.image_layer
    first = tuple(layer.contrast_limits)
    w.open_image(shallow)
    assert w.image_layer is layer and layer.data.dtype == np.uint8
    assert tuple(layer.contrast_limits) == (0, 255) and tuple(layer.contrast_limits_range) == (0, 255)
    assert first != (0, 255)
    np.testing.assert_array_equal(layer.data, phantom.image)  # the pixels written to the PNG
    shot = viewer.screenshot(canvas_only=True, flash=False)  # draws without error
    assert shot.shape[0] > 100 and shot[..., :3].std() > 5  # an image, not a blank canvas


def _cine(path, phantom):
    import tifffile

    from mfscan.synthetic.phantom import make_phantom

    other = make_phantom(seed=11, shape=(300, 400), spacing_mm=0.25)
    tifffile.imwrite(path, np.stack([phantom.image, other.image]))  # two frames
    return path


@pytest.mark.parametrize("order", ["2d_then_cine", "cine_then_2d"])
def test_own_layer_is_not_reused_across_2d_and_cine(widget_factory, tmp_path, phantom, order):
    """Found in review: the own layer of a 2-D image was given to a cine (or the reverse), the
    swap failed half way and "Save now" wrote the old image's outline into the new sidecar."""
    flat = write_png(tmp_path / "a.png", phantom.image)
    cine = _cine(tmp_path / "b.tif", phantom)
    first, second = (flat, cine) if order == "2d_then_cine" else (cine, flat)
    viewer, w = widget_factory()
    w.set_fields(rater="R1")
    w.open_image(first)
    layer = w.outline_layer(create=True)
    pts = square(100, 100, 30)
    layer.add_polygons([pts if layer.ndim == 2 else np.column_stack([np.zeros(len(pts)), pts])])
    assert w.open_image(second) is not None
    assert w.image_layer.name == second.name
    saved_first = read_sidecar(sidecar_path(first, "R1"))
    assert len(saved_first.rois) == 1
    own = w.outline_layer(create=True, by_rater=True)
    assert own.ndim == (3 if second == cine else 2) and len(own.data) == 0
    w.save(force_all=True)
    assert not sidecar_path(second, "R1").exists()  # nothing traced there: no file, no old outline


def test_unsaved_outlines_of_the_sample_image_get_their_recovery_copy(widget_factory, tmp_path, phantom):
    """Found in review: a dirty layer of the in-memory sample image was reused for the next image and
    its outlines dropped; it must be removed, which writes the recovery copy, as before."""
    from mfscan_napari import _sample
    from napari.layers import Layer

    img = write_png(tmp_path / "a.png", phantom.image)
    viewer, w = widget_factory()
    for t in _sample.phantom_image():
        viewer.add_layer(Layer.create(*t))
    w.set_fields(rater="R1")
    w.outline_layer(create=True).add_polygons([square(100, 100, 30)])
    w.open_image(img)
    rec = list(_model.recovery_dir().glob("*.mfscan.json"))
    assert len(rec) == 1 and ".R1." in rec[0].name, (rec, w.saver.messages, _model.recovery_dir())
    assert len(read_sidecar(rec[0]).rois) == 1
    assert [ly.name for ly in viewer.layers] == ["a.png"]


def test_changing_a_code_on_an_untraced_image_writes_no_sidecar(widget_factory, tmp_path, phantom):
    """Found in review: the rater's reused empty layer made a code change save an empty sidecar
    (the image then counted as done, and a blinded rater's resume skipped it)."""
    folder = tmp_path / "f"
    folder.mkdir()
    a, b, _c = (write_png(folder / f"{n}.png", phantom.image) for n in "abc")
    viewer, w = widget_factory()
    w.set_fields(rater="R1")
    w.open_folder(folder)
    w.arm("left").add_polygons([square(100, 100, 30)])
    w.step(1)
    w.set_fields(level="L5")
    w.step(1)
    assert sidecar_path(a, "R1").exists() and not sidecar_path(b, "R1").exists()


def test_hidden_layers_and_display_settings_do_not_carry_over(widget_factory, tmp_path, phantom):
    """Found in review: a layer hidden (or the image's gamma changed) on one image stayed so on the next."""
    folder = tmp_path / "f"
    folder.mkdir()
    paths = [write_png(folder / f"{n}.png", phantom.image) for n in "ab"]
    for p in paths:
        write_sidecar(
            sidecar_path(p, "R1"),
            Annotation(image=p.name, rater="R1", rois=[ROI("left", square(40, 50, 20))]),
        )
    viewer, w = widget_factory()
    w.set_fields(rater="R2")
    w.open_folder(folder)
    w.arm("left").add_polygons([square(100, 100, 30)])
    for ly in w.outline_layers():
        ly.visible = False
        ly.opacity = 0.3
    w.image_layer.gamma = 0.3
    w.step(1)
    assert [(ly.name, ly.visible, ly.opacity) for ly in w.outline_layers()] == [
        ("outlines R1", True, 1.0),
        ("outlines R2", True, 1.0),
    ]
    assert w.image_layer.gamma == 1.0 and w.image_layer.colormap.name == "gray"
