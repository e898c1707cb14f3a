"""Calibration read from synthetic ultrasound DICOM files (US Region Calibration Module)."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from mfscan.calibration import UNCALIBRATED, CalibrationWarning, calibration_for_points
from mfscan.errors import CalibrationError
from mfscan.io.images import load_image
from mfscan.synthetic.dicom import write_us_dicom

ROWS, COLS = 120, 200

LEFT = {"bounds": (10, 0, 109, 99), "delta_cm": (0.0262, 0.0250)}
RIGHT = {"bounds": (10, 100, 109, 199), "delta_cm": (0.0300, 0.0280)}


def image():
    r, c = np.mgrid[0:ROWS, 0:COLS]
    return ((r + 2 * c) % 256).astype(np.uint8)


def square(r0, c0, size=20):
    return np.array([(r0, c0), (r0, c0 + size), (r0 + size, c0 + size), (r0 + size, c0)], float)


@pytest.fixture
def split_screen(tmp_path):
    return load_image(write_us_dicom(tmp_path / "split.dcm", image(), regions=[LEFT, RIGHT]))


def test_writer_maps_rows_to_y_and_cols_to_x(tmp_path):
    p = write_us_dicom(tmp_path / "split.dcm", image(), regions=[LEFT, RIGHT])
    item = pydicom.dcmread(p).SequenceOfUltrasoundRegions[1]
    assert (item.RegionLocationMinX0, item.RegionLocationMinY0) == (100, 10)
    assert (item.RegionLocationMaxX1, item.RegionLocationMaxY1) == (199, 109)
    assert item.PhysicalDeltaX == 0.0280 and item.PhysicalDeltaY == 0.0300
    assert (item.PhysicalUnitsXDirection, item.PhysicalUnitsYDirection) == (3, 3)
    assert (item.RegionSpatialFormat, item.RegionDataType, item.RegionFlags) == (1, 1, 0)


def test_split_screen_regions(split_screen):
    img = split_screen
    assert img.warnings == []
    assert [r.index for r in img.regions] == [0, 1]
    left, right = img.regions
    assert left.bounds == (10, 0, 109, 99) and right.bounds == (10, 100, 109, 199)
    # Spacing in mm is the tag (cm) x 10, rows from DeltaY and columns from DeltaX.
    assert left.spacing_mm == (0.0262 * 10.0, 0.0250 * 10.0)
    assert right.spacing_mm == (0.0300 * 10.0, 0.0280 * 10.0)
    assert left.spacing_mm == pytest.approx((0.262, 0.250), rel=1e-12)
    assert right.spacing_mm == pytest.approx((0.300, 0.280), rel=1e-12)
    assert img.calibration.source == "dicom-region"
    assert img.calibration.region in (0, 1)  # both are the same size


def test_outline_picks_its_region(split_screen):
    img = split_screen
    cal_left = calibration_for_points(square(40, 30), img.regions, img.calibration)
    assert (cal_left.region, cal_left.row_mm, cal_left.col_mm) == (0, 0.0262 * 10.0, 0.0250 * 10.0)
    cal_right = calibration_for_points(square(40, 150), img.regions, img.calibration)
    assert (cal_right.region, cal_right.row_mm, cal_right.col_mm) == (1, 0.0300 * 10.0, 0.0280 * 10.0)
    with pytest.raises(CalibrationError, match="crosses"):
        calibration_for_points(square(40, 90), img.regions, img.calibration)
    with pytest.raises(CalibrationError):
        calibration_for_points(square(0, 30, 5) - (3, 0), img.regions, img.calibration)  # above both


def test_off_by_one_bound_clipped_with_warning(tmp_path):
    region = {"bounds": (0, 0, ROWS - 1, COLS), "delta_cm": (0.02, 0.03)}  # MaxX1 == Columns
    with pytest.warns(CalibrationWarning, match="clipped"):
        img = load_image(write_us_dicom(tmp_path / "obo.dcm", image(), regions=[region]))
    assert img.regions[0].bounds == (0, 0, ROWS - 1, COLS - 1)
    assert any("clipped" in w for w in img.warnings)
    assert (img.calibration.row_mm, img.calibration.col_mm) == (0.2, 0.03 * 10.0)


def test_stale_region_dropped_with_warning(tmp_path):
    stale = {"bounds": (300, 400, 599, 799), "delta_cm": (0.05, 0.05)}
    with pytest.warns(CalibrationWarning, match="outside"):
        img = load_image(write_us_dicom(tmp_path / "stale.dcm", image(), regions=[stale, LEFT]))
    assert [r.index for r in img.regions] == [1]
    assert img.calibration.region == 1 and img.calibration.row_mm == 0.0262 * 10.0
    assert any("outside" in w for w in img.warnings)


def test_doppler_strip_not_chosen(tmp_path):
    tissue = {"bounds": (0, 0, 59, 199), "delta_cm": (0.0262, 0.0262)}
    doppler = {
        "bounds": (60, 0, 119, 199),
        "delta_cm": (0.01, 2.5),
        "units": (4, 5),
        "spatial_format": 4,
        "data_type": 3,
    }
    img = load_image(write_us_dicom(tmp_path / "dop.dcm", image(), regions=[doppler, tissue]))
    dop = img.regions[0]
    assert dop.units == (4, 5) and dop.spacing_mm is None and not dop.is_tissue
    assert img.calibration.region == 1
    # An outline on the Doppler strip has no length scale.
    with pytest.raises(CalibrationError):
        calibration_for_points(square(80, 50), img.regions, img.calibration)
    cal = calibration_for_points(square(10, 50), img.regions, img.calibration)
    assert cal.region == 1 and cal.col_mm == 0.0262 * 10.0


def test_zero_delta_ignored(tmp_path):
    zero = {"bounds": (0, 0, ROWS - 1, COLS - 1), "delta_cm": (0.0, 0.0)}
    with pytest.warns(CalibrationWarning, match="not a positive length"):
        img = load_image(write_us_dicom(tmp_path / "zero.dcm", image(), regions=[zero]))
    assert img.regions[0].spacing_mm is None
    assert img.calibration == UNCALIBRATED


def test_zero_delta_falls_back_to_other_region(tmp_path):
    zero = {"bounds": (0, 0, ROWS - 1, COLS - 1), "delta_cm": (0.0, 0.0)}
    with pytest.warns(CalibrationWarning):
        img = load_image(write_us_dicom(tmp_path / "zero2.dcm", image(), regions=[zero, RIGHT]))
    assert img.calibration.region == 1 and img.calibration.row_mm == 0.0300 * 10.0


def test_pixel_spacing_fallback(tmp_path):
    img = load_image(write_us_dicom(tmp_path / "ps.dcm", image(), pixel_spacing=(0.2, 0.3)))
    assert img.regions == []
    assert img.calibration.source == "dicom-pixel-spacing"
    assert (img.calibration.row_mm, img.calibration.col_mm) == (0.2, 0.3)
    # Regions win over PixelSpacing.
    img2 = load_image(
        write_us_dicom(tmp_path / "both.dcm", image(), pixel_spacing=(0.2, 0.3), regions=[LEFT])
    )
    assert img2.calibration.source == "dicom-region" and img2.calibration.row_mm == 0.0262 * 10.0


def test_no_calibration_is_uncalibrated(tmp_path):
    img = load_image(write_us_dicom(tmp_path / "none.dcm", image()))
    assert img.regions == [] and img.calibration == UNCALIBRATED
    assert not img.calibration.calibrated and img.calibration.spacing == (1.0, 1.0)


def test_calibration_of_cine_and_compressed(tmp_path):
    cine = np.stack([image()] * 3)
    img = load_image(
        write_us_dicom(tmp_path / "cine.dcm", cine, regions=[LEFT, RIGHT], transfer_syntax="rle")
    )
    assert img.n_frames == 3
    assert [r.spacing_mm for r in img.regions] == [
        (0.0262 * 10.0, 0.0250 * 10.0),
        (0.0300 * 10.0, 0.0280 * 10.0),
    ]


def test_outline_inside_nested_regions_uses_the_inner_scale():
    # A colour-flow box (inner region, its own scale) inside the B-mode region.
    from mfscan.calibration import Region, calibration_for_points, region_calibration

    outer = Region(0, (0, 0, 399, 599), (0.30, 0.30), spatial_format=1, data_type=1)
    inner = Region(1, (100, 200, 250, 400), (0.20, 0.25), spatial_format=1, data_type=2)
    default = region_calibration(outer)
    inside_both = [[120, 220], [120, 380], [230, 380], [230, 220]]
    only_outer = [[300, 50], [300, 150], [380, 150]]
    cal = calibration_for_points(inside_both, [outer, inner], default)
    assert (cal.row_mm, cal.col_mm, cal.region) == (0.20, 0.25, 1)
    cal = calibration_for_points(only_outer, [outer, inner], default)
    assert (cal.row_mm, cal.col_mm, cal.region) == (0.30, 0.30, 0)


def test_measure_annotation_and_batch_aliases_follow_the_calibration_rule(split_screen):
    """One rule: measure_annotation and mfscan.calibration agree, with and without override."""
    from mfscan.annotations import ROI, Annotation
    from mfscan.calibration import image_calibration, manual, roi_calibration
    from mfscan.measure import annotation as measured

    left, right = square(30, 20), square(30, 150)
    for override, expected in (
        (None, [(0.262, 0.250, "dicom-region", 0), (0.300, 0.280, "dicom-region", 1)]),  # LEFT, RIGHT deltas
        (manual(0.4, 0.5), [(0.4, 0.5, "manual", None)] * 2),
    ):
        ann = Annotation("split.dcm", [ROI("left", left), ROI("right", right)], calibration=override)
        rows, errors = measured.measure_annotation(split_screen, ann)
        assert errors == []
        got = [(r["row_mm"], r["col_mm"], r["calibration"], r["region"]) for r in rows]
        assert got == [(pytest.approx(a), pytest.approx(b), c, d) for a, b, c, d in expected]
        for r, pts in zip(rows, (left, right)):
            cal = roi_calibration(pts, split_screen, override)
            assert (r["row_mm"], r["col_mm"], r["region"]) == (cal.row_mm, cal.col_mm, cal.region)
            assert r["csa_cm2"] == pytest.approx(20 * 20 * cal.row_mm * cal.col_mm / 100)
        assert image_calibration(split_screen, override) == (override or split_screen.calibration)
