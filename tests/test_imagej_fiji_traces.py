"""Real Fiji traces measured as Fiji measures them (issue 19 §5): self-touching freehand and wand
outlines, composites of separate parts or with holes, ROIs that run off the image. ROIs are
written with roifile; areas are checked against pixel counts made independently with
skimage.draw.polygon (each ring filled, XOR-ed: the even-odd rule)."""

import cv2
import numpy as np
import pandas as pd
import pytest
import roifile
from skimage.draw import polygon as fill

from mfscan.annotations.imagej import annotation_from_imagej, rois_from_imagej
from mfscan.cli import main
from mfscan.errors import AnnotationError
from mfscan.geometry import polygon_area


def _image(tmp_path, rows=100, cols=120):
    img = tmp_path / "scan.png"
    cv2.imwrite(str(img), np.full((rows, cols), 90, np.uint8))
    return img


def _freehand(tmp_path, xy, name="left", kind=roifile.ROI_TYPE.FREEHAND):
    roi = roifile.ImagejRoi.frompoints(np.asarray(xy, float), name=name)
    roi.roitype = kind
    path = tmp_path / f"{name.replace(' ', '_')}.roi"
    roi.tofile(path)
    assert roifile.ImagejRoi.fromfile(path).roitype == kind  # as Fiji would read it
    return path


def _measure(tmp_path):
    out = tmp_path / "m.csv"
    assert main(["measure", str(tmp_path), "-o", str(out), "--workers", "1", "--no-progress"]) == 0
    return pd.read_csv(out)


def _even_odd_count(rings_xy, shape):
    """Pixels whose centres lie inside an odd number of rings (Fiji x, y -> row y - 0.5, col x - 0.5)."""
    mask = np.zeros(shape, bool)
    for xy in rings_xy:
        xy = np.asarray(xy, float)
        one = np.zeros(shape, bool)
        one[fill(xy[:, 1] - 0.5, xy[:, 0] - 0.5, shape)] = True
        mask ^= one
    return int(mask.sum())


# a 30 x 30 px square traced with the freehand tool, which overshoots the start along the
# closing edge (x = 10 from y = 40 up to y = 5, past the start at y = 10): zero-area overlap
OVERSHOOT = [(10, 10), (40, 10), (40, 40), (10, 40), (10, 5)]
# the same square with a zero-area spike out and back on the closing side
SPIKE = [(10, 10), (40, 10), (40, 40), (10, 40), (10, 25), (4, 25), (10, 25)]


@pytest.mark.parametrize("xy", [OVERSHOOT, SPIKE], ids=["overshoot", "spike"])
@pytest.mark.parametrize("kind", [roifile.ROI_TYPE.FREEHAND, roifile.ROI_TYPE.TRACED])
def test_self_touching_freehand_is_repaired_and_measured(tmp_path, capsys, xy, kind):
    img = _image(tmp_path)
    roi = _freehand(tmp_path, xy, kind=kind)
    assert main(["import-imagej", str(img), str(roi), "--mm-per-pixel", "0.1"]) == 0
    assert "zero-area spike removed" in capsys.readouterr().out
    m = _measure(tmp_path)
    assert len(m) == 1 and m.loc[0, "side"] == "left"
    assert m.loc[0, "csa_px2"] == pytest.approx(900.0)  # 30 x 30, by hand
    assert m.loc[0, "csa_cm2"] == pytest.approx(900 * 0.01 / 100)
    assert m.loc[0, "n_pixels"] == _even_odd_count([xy[:4]], (100, 120)) == 900
    assert (
        "self-touching outline repaired (zero-area spike removed; area change 0.0000%)"
        in m.loc[0, "outline_repair"]
    )
    assert m.loc[0, "clipped_share"] == 0


def test_an_outline_that_really_crosses_itself_is_refused(tmp_path):
    img = _image(tmp_path)
    # a bow tie: two 15 x 30 triangles of opposite turn; the shoelace area cancels to 0
    bow = _freehand(tmp_path, [(10, 10), (40, 40), (40, 10), (10, 40)], name="right")
    with pytest.raises(AnnotationError, match=r"ROI 'right' crosses itself \(its outline encloses 450.0 px2"):
        annotation_from_imagej(img, bow)
    # a figure of eight whose loop adds 1% to the area is no zero-area spike either
    loop = _freehand(tmp_path, [(10, 10), (40, 10), (40, 40), (10, 40), (10, 30), (7, 27), (7, 30), (10, 27)])
    with pytest.raises(AnnotationError, match="crosses itself"):
        annotation_from_imagej(img, loop)


def _composite(rings, name):
    """A ShapeRoi as Fiji writes it: path data MOVETO/LINETO/.../CLOSE per ring."""
    data = []
    for ring in rings:
        data += [0, *ring[0]]
        for x, y in ring[1:]:
            data += [1, x, y]
        data += [4]
    xy = np.vstack([np.asarray(r, float) for r in rings])
    roi = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, name=name)
    roi.multi_coordinates = np.asarray(data, np.float32)
    roi.shape_roi_size = len(data)
    roi.left, roi.top = (int(v) for v in np.floor(xy.min(axis=0)))
    roi.right, roi.bottom = (int(v) for v in np.ceil(xy.max(axis=0)))
    return roi


def _ellipse(cx, cy, a, b, n=128):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return [(float(x), float(y)) for x, y in zip(cx + a * np.cos(t), cy + b * np.sin(t))]


def test_composite_of_two_ellipses_splits_into_named_parts_with_fijis_area(tmp_path, capsys):
    img = _image(tmp_path)
    right_one, left_one = _ellipse(85, 50, 22, 16), _ellipse(30, 45, 18, 25)
    path = tmp_path / "two.roi"
    _composite([right_one, left_one], "L4 left").tofile(path)
    argv = ["import-imagej", str(img), str(path), "--mm-per-pixel", "0.2"]
    # by default refused: two left outlines would be averaged as repeats, not added
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "'L4 left' (left) falls into 2 separate parts" in err and "--split-parts" in err
    assert not list(tmp_path.glob("*.mfscan.json"))
    with pytest.raises(AnnotationError, match="2 separate parts"):
        rois_from_imagej(path)
    assert main([*argv, "--split-parts"]) == 0
    assert (
        "WARNING: ROI 'L4 left' has 2 separate parts, imported as 2 left outlines" in capsys.readouterr().err
    )
    m = _measure(tmp_path)
    assert list(m["side"]) == ["left", "left"] and list(m["level"]) == ["L4", "L4"]
    total = _even_odd_count([right_one, left_one], (100, 120))
    for row, ring in zip(m.itertuples(), [left_one, right_one]):  # parts ordered left to right
        count = _even_odd_count([ring], (100, 120))
        assert row.csa_px2 == pytest.approx(count, rel=0.01)
        assert row.n_pixels == count
    assert m["csa_px2"].sum() == pytest.approx(total, rel=0.01)
    ann = rois_from_imagej(path, split_parts=True)
    assert [r.extra["imagej_name"] for r in ann] == ["L4 left part 1/2", "L4 left part 2/2"]
    assert [r.extra["imagej_part"] for r in ann] == ["1/2", "2/2"]
    assert all("2 separate parts" in r.extra["repair"] for r in ann)


def test_composite_part_with_a_hole_is_refused_naming_that_part(tmp_path):
    outer, hole, apart = _ellipse(40, 50, 25, 20), _ellipse(40, 50, 8, 6), _ellipse(95, 50, 10, 10)
    even_odd = _even_odd_count([outer, hole], (100, 120))
    assert even_odd == pytest.approx(polygon_area(np.array(outer)) - polygon_area(np.array(hole)), rel=0.01)
    path = tmp_path / "donut.roi"
    _composite([outer, hole, apart], "right").tofile(path)
    with pytest.raises(AnnotationError, match=r"'right' encloses holes \(part 1 \(x 15-65\): 1 hole\(s\)\)"):
        rois_from_imagej(path)


def test_roi_off_the_image_is_refused_naming_the_furthest_point_or_clipped(tmp_path, capsys):
    img = _image(tmp_path, rows=60, cols=80)
    # a 40 x 20 rectangle from x = 60 to 100 on an 80-column image: half of it off the right edge
    path = _freehand(
        tmp_path, [(60, 20), (100, 20), (100, 40), (70, 40)], name="right", kind=roifile.ROI_TYPE.POLYGON
    )
    assert main(["import-imagej", str(img), str(path)]) == 1
    err = capsys.readouterr().err
    assert "ROI 'right' runs outside the 60x80 image (a vertex at x=100.0, y=20.0" in err
    assert "the furthest outside, 20.0 px beyond the edge" in err and "--clip" in err
    assert main(["import-imagej", str(img), str(path), "--clip", "--mm-per-pixel", "0.1"]) == 0
    captured = capsys.readouterr()
    # by hand: the trapezoid (60,20)-(100,20)-(100,40)-(70,40) is (40 + 30) / 2 x 20 = 700 px2;
    # on the image (x <= 80) (20 + 10) / 2 x 20 = 300 px2, so 400 / 700 = 57.14% is cut off
    assert "WARNING: ROI 'right' ran off the image: clipped to it, 57.14% of its area cut off" in captured.err
    m = _measure(tmp_path)
    assert m.loc[0, "csa_px2"] == pytest.approx(300.0)
    assert m.loc[0, "clipped_share"] == pytest.approx(400 / 700, abs=1e-6)
    # Fiji's pixels: those of the whole ROI's even-odd fill that lie on the image
    whole = _even_odd_count([[(60, 20), (100, 20), (100, 40), (70, 40)]], (60, 120))
    on_image = np.zeros((60, 120), bool)
    on_image[fill(np.array([20, 20, 40, 40]) - 0.5, np.array([60, 100, 100, 70]) - 0.5, (60, 120))] = True
    assert m.loc[0, "n_pixels"] == on_image[:, :80].sum() and whole > on_image[:, :80].sum()
    assert m.loc[0, "csa_px2"] == pytest.approx(on_image[:, :80].sum(), rel=0.01)


def test_wand_trace_pinched_at_a_corner_splits_into_its_two_lobes(tmp_path):
    # the wand tool traces two 10 x 10 blocks that meet at the corner (10, 10) as one ring through it
    ring = [(0, 0), (10, 0), (10, 10), (20, 10), (20, 20), (10, 20), (10, 10), (0, 10)]
    path = _freehand(tmp_path, ring, kind=roifile.ROI_TYPE.TRACED)
    with pytest.raises(AnnotationError, match="falls into 2 separate parts"):
        rois_from_imagej(path)  # one muscle's two lobes must not become two "repeats"
    parts = rois_from_imagej(path, split_parts=True)
    assert [polygon_area(r.points) for r in parts] == [100.0, 100.0]
    assert [r.points[:, 1].min() for r in parts] == [-0.5, 9.5]  # left to right
    assert "touches itself: split into 2 parts; area change 0.0000%" in parts[0].extra["repair"]
