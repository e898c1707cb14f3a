"""Fiji ROI types written by roifile: composites, ovals, rectangles; unnamed ROI sets; ROIs off the image."""

import math

import cv2
import numpy as np
import pytest
import roifile
import shapely

from mfscan.annotations import read_sidecar
from mfscan.annotations.imagej import annotation_from_imagej, rois_from_imagej
from mfscan.cli import main
from mfscan.errors import AnnotationError, ImageReadError
from mfscan.geometry import polygon_area
from mfscan.measure.outline import outline_mask


def composite(rings, name, *, curves=()):
    """A ShapeRoi as Fiji writes it: RECT type, path data MOVETO/LINETO/.../CLOSE per ring."""
    data = []
    for ring in rings:
        data += [0, *ring[0]]
        for x, y in ring[1:]:
            data += [1, x, y]
        data += [4]
    for start, ctrl, end in curves:  # a ring of one Bezier curve closed by a line
        data += [0, *start, 2 if len(ctrl) == 1 else 3, *np.ravel(ctrl), *end, 4]
    xy = np.vstack([np.asarray(r, float).reshape(-1, 2) for r in rings] or [np.zeros((1, 2))])
    roi = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, name=name)
    roi.multi_coordinates = np.asarray(data, np.float32)
    roi.shape_roi_size = len(data)
    roi.left, roi.top = (int(v) for v in np.floor(xy.min(axis=0)))
    roi.right, roi.bottom = (int(v) for v in np.ceil(xy.max(axis=0)))
    return roi


def read_back(tmp_path, roi):
    roi.tofile(tmp_path / "one.roi")
    (r,) = rois_from_imagej(tmp_path / "one.roi")
    return r


def square(x, y, s):
    return [(x, y), (x + s, y), (x + s, y + s), (x, y + s)]


def ellipse(cx, cy, a, b, n=64):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return list(zip(cx + a * np.cos(t), cy + b * np.sin(t)))


# ------------------------------------------------------------------ composites


def test_composite_with_a_hole_is_refused_with_the_reason(tmp_path):
    # an oval inside a rectangle (Fiji: rectangle XOR oval): even-odd area 1200 - 251, not its first ring
    rect, hole = square(10, 10, 40)[:2] + [(50, 40), (10, 40)], ellipse(30, 25, 10, 8)
    assert shapely.Polygon(rect, [hole]).area == pytest.approx(1200 - polygon_area(hole))
    roi = composite([rect, hole], "L4 left")
    assert len(roi.coordinates(multi=True)) == 2  # roifile sees the two rings too
    with pytest.raises(
        AnnotationError,
        match=r"ROI 'L4 left' encloses holes \(part 1 \(x 10-50\): 1 hole\(s\)\); a sidecar outline has no holes",
    ):
        read_back(tmp_path, roi)


def test_donut_is_refused_and_separate_parts_split(tmp_path):
    with pytest.raises(AnnotationError, match=r"'right' encloses holes \(part 1 \(x 0-6\): 1 hole"):
        read_back(tmp_path, composite([square(0, 0, 6), square(2, 2, 2)], "right"))  # a 32 px² donut
    roi = composite([square(20, 0, 5), square(0, 0, 5), square(10, 0, 5)], "R")
    roi.tofile(tmp_path / "three.roi")
    # by default refused: three parts of one side would be averaged as repeated images
    with pytest.raises(AnnotationError, match=r"'R' \(right\) falls into 3 separate parts.*--split-parts"):
        rois_from_imagej(tmp_path / "three.roi")
    parts = rois_from_imagej(tmp_path / "three.roi", split_parts=True)
    assert [r.extra["imagej_name"] for r in parts] == ["R part 1/3", "R part 2/3", "R part 3/3"]
    assert [r.side for r in parts] == ["right"] * 3
    assert [polygon_area(r.points) for r in parts] == [25.0] * 3
    assert [r.points[:, 1].min() for r in parts] == [-0.5, 9.5, 19.5]  # left to right


def test_single_ring_composite_imports_as_that_ring(tmp_path):
    # an L made by OR-ing two rectangles: one ring, 20x10 + 10x10 = 300 px² by hand
    ell = [(10, 10), (30, 10), (30, 20), (20, 20), (20, 30), (10, 30)]
    r = read_back(tmp_path, composite([ell], "left L5"))
    assert (r.side, r.level, r.method) == ("left", "L5", "imagej")
    assert polygon_area(r.points) == 300.0
    assert shapely.Polygon(ell).area == 300.0
    assert r.points.tolist() == [[y - 0.5, x - 0.5] for x, y in ell]  # same corner convention as polygons


def test_degenerate_rings_do_not_count(tmp_path):
    # ImageJ paths may carry a zero-area sub-path (a lone MOVETO, a back-and-forth line)
    r = read_back(tmp_path, composite([[(3, 3)], [(1, 1), (8, 1), (1, 1)], square(10, 10, 7)], "right"))
    assert polygon_area(r.points) == 49.0
    with pytest.raises(AnnotationError, match="encloses no area"):
        read_back(tmp_path, composite([[(1, 1), (8, 1)]], "right"))


def test_composite_curves_are_flattened(tmp_path):
    # a quadratic Bezier arch from (0, 40) over control (10, 20) to (20, 40), closed by the chord:
    # a parabolic segment, 2/3 * base 20 * height 10 = 133.3 px² (Archimedes)
    roi = composite([], "left", curves=[((0, 40), [(10, 20)], (20, 40))])
    roi.left, roi.top, roi.right, roi.bottom = 0, 30, 20, 40
    r = read_back(tmp_path, roi)
    assert polygon_area(r.points) == pytest.approx(2 / 3 * 20 * 10, rel=0.005)
    # a cubic from (0, 40) to (20, 40) with both controls at (10, 20): x = 30t - 30t² + 20t³,
    # y = 40 - 60t(1 - t); area over the chord = integral of 60t(1-t) * (30 - 60t + 60t²) dt = 60 * 3 = 180
    r = read_back(tmp_path, composite([], "left", curves=[((0, 40), [(10, 20), (10, 20)], (20, 40))]))
    assert polygon_area(r.points) == pytest.approx(180.0, rel=0.005)


def test_unreadable_composite_path_is_refused(tmp_path):
    roi = composite([square(0, 0, 5)], "left")
    roi.multi_coordinates = np.array([0, 1, 1, 7, 3, 3, 4], np.float32)  # 7 is no PathIterator segment
    with pytest.raises(AnnotationError, match="unreadable composite outline") as e:
        read_back(tmp_path, roi)
    assert isinstance(e.value.__cause__, ValueError)


# ------------------------------------------------------------------ ovals and rectangles


def shape_roi(kind, left, top, right, bottom, name="left", **kw):
    roi = roifile.ImagejRoi(roitype=kind, name=name, left=left, top=top, right=right, bottom=bottom, **kw)
    return roi


def test_oval_keeps_its_exact_area_and_box(tmp_path):
    r = read_back(tmp_path, shape_roi(roifile.ROI_TYPE.OVAL, 10, 20, 70, 60))
    assert polygon_area(r.points) == pytest.approx(math.pi * 30 * 20, rel=0.005)
    assert abs(polygon_area(r.points) / (math.pi * 30 * 20) - 1) < 2e-4
    # the oval is inscribed in Fiji's box x 10..70, y 20..60 (pixel corners) -> centres at -0.5
    assert r.points[:, 0].min() == pytest.approx(19.5) and r.points[:, 0].max() == pytest.approx(59.5)
    assert r.points[:, 1].min() == pytest.approx(9.5) and r.points[:, 1].max() == pytest.approx(69.5)
    # roifile's own 33-point oval is 0.6% short: the reason for more vertices
    own = shape_roi(roifile.ROI_TYPE.OVAL, 10, 20, 70, 60).coordinates()
    assert len(own) == 33 and polygon_area(own) / (math.pi * 30 * 20) < 0.995


def test_subpixel_oval_uses_its_float_box(tmp_path):
    roi = shape_roi(
        roifile.ROI_TYPE.OVAL,
        10,
        20,
        41,
        40,
        xd=10.25,
        yd=20.5,
        widthd=30.5,
        heightd=19.0,
        options=roifile.ROI_OPTIONS.SUB_PIXEL_RESOLUTION,
    )
    r = read_back(tmp_path, roi)
    assert polygon_area(r.points) == pytest.approx(math.pi * 15.25 * 9.5, rel=0.005)
    assert r.points[:, 1].min() == pytest.approx(10.25 - 0.5)


def test_rectangle_area_and_pixels(tmp_path):
    r = read_back(tmp_path, shape_roi(roifile.ROI_TYPE.RECT, 5, 7, 45, 37))
    assert polygon_area(r.points) == 40 * 30
    # ImageJ's rectangle covers pixels x 5..44, y 7..36: the same 1200 pixels in mfscan
    box, mask = outline_mask(r.points, (50, 50))
    rows, cols = np.nonzero(mask)
    assert mask.sum() == 1200
    assert (rows.min() + box[0].start, rows.max() + box[0].start) == (7, 36)
    assert (cols.min() + box[1].start, cols.max() + box[1].start) == (5, 44)


def test_rounded_rectangle_area(tmp_path):
    r = read_back(tmp_path, shape_roi(roifile.ROI_TYPE.RECT, 5, 7, 45, 37, rounded_rect_arc_size=10))
    # corner radius 5: 40*30 minus 4 corners of (1 - pi/4) * 5²
    assert polygon_area(r.points) == pytest.approx(1200 - (4 - math.pi) * 25, rel=0.005)
    assert r.points[:, 1].min() == pytest.approx(4.5) and r.points[:, 0].max() == pytest.approx(36.5)


def test_not_area_rois_are_refused(tmp_path):
    pts = roifile.ImagejRoi.frompoints(np.array([[1, 1], [5, 1], [5, 5]], float), name="left")
    pts.roitype = roifile.ROI_TYPE.POINT
    with pytest.raises(AnnotationError, match="type POINT is not an area outline"):
        read_back(tmp_path, pts)
    spline = roifile.ImagejRoi.frompoints(np.array([[1, 1], [9, 1], [9, 9], [1, 9]], float), name="left")
    spline.roitype = roifile.ROI_TYPE.POLYGON
    spline.options |= roifile.ROI_OPTIONS.SPLINE_FIT
    with pytest.raises(AnnotationError, match="spline-fitted"):
        read_back(tmp_path, spline)
    with pytest.raises(AnnotationError, match="encloses no area"):
        read_back(tmp_path, shape_roi(roifile.ROI_TYPE.OVAL, 10, 20, 10, 60))
    with np.errstate(invalid="ignore"):  # roifile's integer copy of a NaN
        nan = roifile.ImagejRoi.frompoints(np.array([[1, 1], [9, np.nan], [9, 9]]), name="left")
    with pytest.raises(AnnotationError, match="ROI 'left' has a vertex that is not a finite number"):
        read_back(tmp_path, nan)


# ------------------------------------------------------------------ unnamed ROI sets: sides


def roiset(tmp_path, names, pts=((10, 20), (50, 20), (50, 40)), **kw):
    out = tmp_path / f"RoiSet{len(list(tmp_path.glob('RoiSet*.zip')))}.zip"  # a new file each time
    rois = [roifile.ImagejRoi.frompoints(np.array(pts, float), name=n, **kw) for n in names]
    roifile.roiwrite(out, rois)
    return out


def test_unnamed_roiset_needs_sides(tmp_path):
    zp = roiset(tmp_path, ["0001-0015", "0001-0123-0456"])
    with pytest.raises(AnnotationError, match="ROI 0001-0015: .*names no side.*--sides"):
        rois_from_imagej(zp)
    assert [r.side for r in rois_from_imagej(zp, sides=["left", "right"])] == ["left", "right"]
    assert [r.side for r in rois_from_imagej(zp, sides="R, sin")] == ["right", "left"]
    with pytest.raises(AnnotationError, match=r"holds 2 ROI\(s\) but 3 side\(s\) were given \(L, R, L\)"):
        rois_from_imagej(zp, sides="L,R,L")
    with pytest.raises(AnnotationError, match="'up' is not a side"):
        rois_from_imagej(zp, sides=["left", "up"])


def test_sides_must_agree_with_names_that_say_one(tmp_path):
    zp = roiset(tmp_path, ["L5 left", "0002-0040"])
    rois = rois_from_imagej(zp, sides=["left", "right"])
    assert [(r.side, r.level) for r in rois] == [("left", "L5"), ("right", None)]
    with pytest.raises(AnnotationError, match="ROI 'L5 left' was given side 'right' but its name says left"):
        rois_from_imagej(zp, sides=["right", "left"])


def test_cli_sides(tmp_path, capsys):
    img = tmp_path / "scan.png"
    cv2.imwrite(str(img), np.zeros((60, 80), np.uint8))
    zp = roiset(tmp_path, ["0001-0015", "0001-0123-0456"])
    assert main(["import-imagej", str(img), str(zp), "--rater", "R1"]) == 1
    assert "names no side" in capsys.readouterr().err
    assert main(["import-imagej", str(img), str(zp), "--rater", "R1", "--sides", "L"]) == 1
    assert "holds 2 ROI(s) but 1 side(s) were given" in capsys.readouterr().err
    assert not (tmp_path / "scan.R1.mfscan.json").exists()
    assert main(["import-imagej", str(img), str(zp), "--rater", "R1", "--sides", "R,L"]) == 0
    a = read_sidecar(tmp_path / "scan.R1.mfscan.json")
    assert [r.side for r in a.rois] == ["right", "left"]
    assert a.rois[0].extra == {"imagej_name": "0001-0015"}


# ------------------------------------------------------------------ ROIs off the image


def test_roi_off_the_image_is_refused_at_import(tmp_path, capsys):
    img = tmp_path / "scan.png"
    cv2.imwrite(str(img), np.zeros((60, 80), np.uint8))  # 60 rows x 80 cols
    # a ROI on the image's very edges (Fiji x 0..80, y 0..60) fits: rows/cols -0.5 .. 59.5/79.5
    edge = annotation_from_imagej(img, roiset(tmp_path, ["left"], pts=((0, 0), (80, 0), (80, 60), (0, 60))))
    assert edge.rois[0].points.min(axis=0).tolist() == [-0.5, -0.5]
    assert edge.rois[0].points.max(axis=0).tolist() == [59.5, 79.5]
    assert polygon_area(edge.rois[0].points) == 60 * 80
    zp = roiset(tmp_path, ["L4 right"], pts=((10, 10), (80.5, 10), (40, 50)))
    with pytest.raises(
        AnnotationError,
        match=r"ROI 'L4 right' runs outside the 60x80 image \(a vertex at "
        r"x=80.5, y=10.0",
    ):
        annotation_from_imagej(img, zp)
    with pytest.raises(AnnotationError, match="runs outside the 60x80 image"):
        annotation_from_imagej(img, roiset(tmp_path, ["left"], pts=((10, -1), (20, 10), (5, 10))))
    # an oval that pokes out of the bottom
    shape_roi(roifile.ROI_TYPE.OVAL, 10, 40, 30, 61, name="left").tofile(tmp_path / "oval.roi")
    with pytest.raises(AnnotationError, match="ROI 'left' runs outside"):
        annotation_from_imagej(img, tmp_path / "oval.roi")
    # the CLI refuses and writes nothing
    assert main(["import-imagej", str(img), str(zp), "--rater", "R1"]) == 1
    assert "ROI 'L4 right' runs outside the 60x80 image" in capsys.readouterr().err
    assert not (tmp_path / "scan.R1.mfscan.json").exists()


def test_roi_on_a_missing_frame_is_refused(tmp_path):
    img = tmp_path / "scan.png"
    cv2.imwrite(str(img), np.zeros((60, 80), np.uint8))
    ok = annotation_from_imagej(img, roiset(tmp_path, ["left"], position=0))  # Fiji position 1
    assert ok.rois[0].frame == 0
    with pytest.raises(
        AnnotationError,
        match=r"ROI 'left' is on frame 3 \(Fiji position 3\) but the image "
        r"has 1 frame",
    ):
        annotation_from_imagej(img, roiset(tmp_path, ["left"], position=2))


def test_missing_image_is_an_image_error(tmp_path):
    with pytest.raises(ImageReadError):
        annotation_from_imagej(tmp_path / "nope.png", roiset(tmp_path, ["left"]))
