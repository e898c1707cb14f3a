"""Fiji/ImageJ ROI interoperability through roifile."""

import cv2
import numpy as np
import pytest
import roifile
import tifffile

from mfscan.annotations import ROI, Annotation, read_sidecar
from mfscan.annotations.imagej import annotation_from_imagej, parse_roi_name, rois_from_imagej, write_imagej
from mfscan.cli import main
from mfscan.errors import AnnotationError


@pytest.mark.parametrize(
    "name, side, level",
    [
        ("left", "left", None),
        ("Right", "right", None),
        ("L4 right", "right", "L4"),
        ("R_L5", "right", "L5"),
        ("03-left-L4", "left", "L4"),
        ("S1-Lt", "left", "S1"),
    ],
)
def test_roi_names(name, side, level):
    assert parse_roi_name(name) == (side, level)


@pytest.mark.parametrize("name", ["", "muscle", "left-right"])
def test_roi_names_without_one_side(name):
    with pytest.raises(AnnotationError):
        parse_roi_name(name)


def test_round_trip_keeps_vertices_to_0_01_px(tmp_path):
    rng = np.random.default_rng(3)
    t = np.linspace(0, 2 * np.pi, 180, endpoint=False)
    left = np.column_stack([250 + 60 * np.sin(t), 600 + 80 * np.cos(t)]) + rng.uniform(-0.5, 0.5, (180, 2))
    right = left - [0, 400]
    a = Annotation("scan.png", [ROI("left", left), ROI("right", right, frame=4)], level="L5")
    # a 5-frame 400x700 image: the size the ROIs must fit
    tifffile.imwrite(tmp_path / "scan.tif", np.zeros((5, 400, 700), np.uint8))
    write_imagej(a, tmp_path / "RoiSet.zip")
    b = annotation_from_imagej(tmp_path / "scan.tif", tmp_path / "RoiSet.zip", rater="R1")
    assert b.level == "L5" and b.rater == "R1"
    assert [r.side for r in b.rois] == ["left", "right"]
    assert [r.frame for r in b.rois] == [None, 4]
    for r, q in zip(b.rois, a.rois):
        assert np.abs(r.points - q.points).max() < 0.01


def test_imagej_pixel_corner_convention(tmp_path):
    # ImageJ: a polygon from (x=10, y=20) to (15, 24) covers pixels 10..14, 20..23,
    # whose centres in mfscan/napari are cols 10..14, rows 20..23 -> edges at -0.5.
    roi = roifile.ImagejRoi.frompoints(
        np.array([[10, 20], [15, 20], [15, 24], [10, 24]], float), name="left L4"
    )
    roi.tofile(tmp_path / "one.roi")
    (r,) = rois_from_imagej(tmp_path / "one.roi")
    assert r.side == "left" and r.level == "L4" and r.method == "imagej"
    assert r.points.tolist() == [[19.5, 9.5], [19.5, 14.5], [23.5, 14.5], [23.5, 9.5]]


def test_line_roi_and_garbage_are_errors(tmp_path):
    line = roifile.ImagejRoi.frompoints(np.array([[1, 1], [5, 5]], float), name="left")
    line.roitype = roifile.ROI_TYPE.LINE
    line.tofile(tmp_path / "line.roi")
    with pytest.raises(AnnotationError):
        rois_from_imagej(tmp_path / "line.roi")
    (tmp_path / "junk.zip").write_text("not a zip")
    with pytest.raises(AnnotationError, match="not a readable ImageJ ROI") as e:
        rois_from_imagej(tmp_path / "junk.zip")
    assert e.value.__cause__ is not None  # roifile's own error is kept
    with pytest.raises(AnnotationError, match="ImageJ ROI file not found") as e:
        rois_from_imagej(tmp_path / "missing.roi")
    assert isinstance(e.value.__cause__, FileNotFoundError)
    roifile.ImagejRoi.frompoints(np.array([[1, 1], [5, 1], [5, 5]], float), name="muscle").tofile(
        tmp_path / "muscle.roi"
    )
    with pytest.raises(AnnotationError, match="ROI muscle: ROI name 'muscle' names no side") as e:
        rois_from_imagej(tmp_path / "muscle.roi")
    assert isinstance(e.value.__cause__, AnnotationError)


def test_cli_import_then_export(tmp_path, capsys):
    img = tmp_path / "scan.png"
    cv2.imwrite(str(img), np.zeros((100, 100), np.uint8))  # import reads its size
    rois = [
        roifile.ImagejRoi.frompoints(np.array([[10, 20], [50, 20], [50, 60.25]]), name=n)
        for n in ("L4 left", "L4 right")
    ]
    roifile.roiwrite(tmp_path / "RoiSet.zip", rois)
    assert (
        main(
            [
                "import-imagej",
                str(img),
                str(tmp_path / "RoiSet.zip"),
                "--rater",
                "R2",
                "--subject",
                "P09",
                "--mm-per-pixel",
                "0.25,0.3",
            ]
        )
        == 0
    )
    a = read_sidecar(tmp_path / "scan.R2.mfscan.json")
    assert (a.calibration.row_mm, a.calibration.col_mm, a.calibration.source) == (0.25, 0.3, "manual")
    assert a.subject == "P09" and a.level == "L4" and [r.side for r in a.rois] == ["left", "right"]
    assert a.rois[0].points[2].tolist() == [59.75, 49.5]
    # importing again refuses to overwrite the rater's file
    assert main(["import-imagej", str(img), str(tmp_path / "RoiSet.zip"), "--rater", "R2"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert (
        main(["export-imagej", str(tmp_path / "scan.R2.mfscan.json"), "-o", str(tmp_path / "out.zip")]) == 0
    )
    back = roifile.ImagejRoi.fromfile(tmp_path / "out.zip")
    assert [r.name for r in back] == ["01-left-L4", "02-right-L4"]
    assert np.allclose(back[0].coordinates(), [[10, 20], [50, 20], [50, 60.25]])
