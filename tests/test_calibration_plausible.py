"""Impossible or conflicting calibration never reaches a table (issue 19 §2).

Every source of a scale (sidecar, DICOM region, PixelSpacing, ImageJ tags, scale line, typed
value) outside 0.005-5 mm per pixel is refused with the source and value named; overlapping
DICOM regions with different scales are refused; a negative delta is named as such. The DICOM
files are written with pydicom directly, the TIFFs with tifffile.
"""

from __future__ import annotations

import json
import warnings

import cv2
import numpy as np
import pytest
import tifffile
from _pydicom_files import region_item, write_dicom

from mfscan.annotations import ROI, Annotation
from mfscan.calibration import CalibrationWarning, manual, roi_calibration
from mfscan.cli import main
from mfscan.errors import CalibrationError
from mfscan.io.images import load_image
from mfscan.measure.annotation import measure_annotation, measure_file
from mfscan.vocab import MM_PER_PIXEL_RANGE

ROWS, COLS = 120, 160
SQUARE = [[40.0, 50.0], [40.0, 90.0], [80.0, 90.0], [80.0, 50.0]]  # 40 x 40 px


def _pixels(dtype=np.uint8):
    rng = np.random.default_rng(3)
    return rng.integers(60, 200, (ROWS, COLS)).astype(dtype)


def _measure(image, calibration=None):
    ann = Annotation(image.path.name, [ROI("left", SQUARE)], calibration=calibration)
    return measure_annotation(image, ann)


def _load(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        return load_image(path)


def test_sidecar_scale_of_1e300_is_refused_not_infinite(tmp_path):
    png = tmp_path / "scan.png"
    cv2.imwrite(str(png), _pixels())
    sidecar = tmp_path / "scan.mfscan.json"
    sidecar.write_text(
        json.dumps(
            {
                "format": "mfscan.annotation",
                "version": 1,
                "image": "scan.png",
                "calibration": {"row_mm": 1e300, "col_mm": 0.2, "source": "manual"},
                "rois": [{"side": "left", "points": SQUARE}],
            }
        )
    )
    rows, errors, _ = measure_file(png, [sidecar])
    assert rows == []
    (err,) = errors
    assert (
        "typed (manual) calibration" in err["reason"]
        and "1e+300 mm per pixel along the rows" in err["reason"]
    )
    assert "0.005-5 mm per pixel" in err["reason"]
    # and the command says so with exit status 1, no infinite area in the table
    out = tmp_path / "m.csv"
    assert main(["measure", str(tmp_path), "-o", str(out)]) == 1
    assert not out.exists() or "inf" not in out.read_text()
    # mfscan check says so before anything is measured
    from mfscan.measure.check import check_study

    (row,) = check_study(tmp_path).query("problem == 'scale_differs_from_image'").itertuples()
    assert row.file == "scan.mfscan.json" and "1e+300 mm per pixel" in row.message


@pytest.mark.parametrize("delta_cm, shown", [(1e-300, "1e-299"), (0.0001, "0.001"), (1.0, "10")])
def test_dicom_region_outside_the_range_is_refused(tmp_path, delta_cm, shown, capsys):
    path = write_dicom(
        tmp_path / "r.dcm", _pixels(), regions=[region_item((0, 0, ROWS - 1, COLS - 1), (delta_cm, delta_cm))]
    )
    img = _load(path)
    rows, errors = _measure(img)
    assert rows == []
    assert f"DICOM ultrasound region 0 (PhysicalDeltaX/Y) gives {shown} mm per pixel" in errors[0]["reason"]
    assert main(["info", str(path)]) == 0
    assert "REFUSED for measuring: the DICOM ultrasound region 0" in capsys.readouterr().out
    # a plausible region beside it is measured: 40 x 40 px of 0.3 x 0.2 mm = 96 mm2 = 0.96 cm2
    ok = write_dicom(
        tmp_path / "ok.dcm", _pixels(), regions=[region_item((0, 0, ROWS - 1, COLS - 1), (0.03, 0.02))]
    )
    (row,), errors = _measure(_load(ok))
    assert errors == [] and row["csa_cm2"] == pytest.approx(0.96)


def test_dicom_pixel_spacing_outside_the_range_is_refused(tmp_path):
    path = write_dicom(tmp_path / "ps.dcm", _pixels(), pixel_spacing=("0.0001", "0.0001"))
    img = _load(path)
    assert img.calibration.source == "dicom-pixel-spacing"
    rows, errors = _measure(img)
    assert rows == [] and "DICOM PixelSpacing gives 0.0001 mm per pixel" in errors[0]["reason"]


def test_imagej_scale_outside_the_range_is_refused(tmp_path):
    # Fiji's Set Scale stored as 0.01 pixels per cm: 1000 mm per pixel.
    path = tmp_path / "ij.tif"
    tifffile.imwrite(path, _pixels(), imagej=True, resolution=(0.01, 0.01), metadata={"unit": "cm"})
    img = _load(path)
    assert img.calibration.source == "imagej-tiff" and img.calibration.row_mm == pytest.approx(1000.0)
    rows, errors = _measure(img)
    assert rows == [] and "the TIFF's ImageJ scale gives 1000 mm per pixel" in errors[0]["reason"]


def test_scale_line_outside_the_range_is_refused(tmp_path):
    from mfscan.calibration import from_scale_line

    png = tmp_path / "line.png"
    cv2.imwrite(str(png), _pixels())
    img = _load(png)
    line = from_scale_line((10, 5), (110, 5), 1000.0)  # 100 px drawn over "1000 mm": 10 mm per pixel
    rows, errors = _measure(img, line)
    assert rows == [] and "the sidecar's scale line gives 10 mm per pixel" in errors[0]["reason"]
    with pytest.raises(CalibrationError, match="scale line gives 10 mm"):
        roi_calibration(SQUARE, img, line)


@pytest.mark.parametrize("value", ["50", "0.001", "0.2,20"])
def test_typed_scale_outside_the_range_is_refused(tmp_path, value, capsys):
    png = tmp_path / "scan.png"
    cv2.imwrite(str(png), _pixels())
    with pytest.raises(SystemExit) as exit_:
        main(["propose", str(png), "--seed", "left:60,70", "--mm-per-pixel", value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "0.005-5 mm per pixel" in err and "--mm-per-pixel" in err
    assert not (tmp_path / "scan.mfscan.json").exists()
    img = _load(png)
    for v in MM_PER_PIXEL_RANGE:  # the edges of the range are accepted
        (row,), errors = _measure(img, manual(v))
        assert errors == [] and row["csa_cm2"] == pytest.approx(40 * 40 * v * v / 100)


# -- overlapping regions, negative deltas ---------------------------------------------


def test_overlapping_regions_with_different_scales_are_refused(tmp_path):
    # two regions over the same pixels, 0.25 and 0.30 mm per pixel: never region 0 silently
    path = write_dicom(
        tmp_path / "two.dcm",
        _pixels(),
        regions=[
            region_item((0, 0, ROWS - 1, COLS - 1), (0.025, 0.025)),
            region_item((0, 0, ROWS - 1, COLS - 1), (0.030, 0.030)),
        ],
    )
    with pytest.warns(CalibrationWarning, match="regions 0 and 1 overlap but have different scales"):
        img = load_image(path)
    rows, errors = _measure(img)
    assert rows == []
    assert (
        "regions 0 and 1 overlap" in errors[0]["reason"]
        and "0.25 x 0.25 and 0.3 x 0.3" in errors[0]["reason"]
    )
    # the same two regions with one scale are measured
    same = [region_item((0, 0, ROWS - 1, COLS - 1), (0.025, 0.025)) for _ in range(2)]
    (row,), errors = _measure(load_image(write_dicom(tmp_path / "same.dcm", _pixels(), regions=same)))
    assert errors == [] and row["csa_cm2"] == pytest.approx(40 * 40 * 0.25 * 0.25 / 100)


def test_partly_overlapping_regions_refused_only_in_the_overlap(tmp_path):
    path = write_dicom(
        tmp_path / "part.dcm",
        _pixels(),
        regions=[
            region_item((0, 0, ROWS - 1, 99), (0.025, 0.025)),
            region_item((0, 60, ROWS - 1, COLS - 1), (0.030, 0.030)),
        ],
    )
    img = _load(path)
    rows, errors = _measure(img)  # the square spans cols 50-90: inside region 0, partly in region 1
    assert rows == [] and "regions 0 and 1 overlap" in errors[0]["reason"]
    only_right = [[40.0, 110.0], [40.0, 150.0], [80.0, 150.0]]
    assert roi_calibration(only_right, img).row_mm == pytest.approx(0.30)
    only_left = [[40.0, 10.0], [40.0, 50.0], [80.0, 50.0]]
    assert roi_calibration(only_left, img).row_mm == pytest.approx(0.25)


def test_negative_delta_is_named(tmp_path, capsys):
    path = write_dicom(
        tmp_path / "neg.dcm", _pixels(), regions=[region_item((0, 0, ROWS - 1, COLS - 1), (0.025, -0.025))]
    )
    with pytest.warns(CalibrationWarning, match=r"negative PhysicalDeltaX \(-0.025 cm\)"):
        img = load_image(path)
    assert img.regions[0].spacing_mm is None
    assert img.regions[0].scale_problem == "negative PhysicalDeltaX (-0.025 cm)"
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "negative PhysicalDeltaX (-0.025 cm): not used for calibration" in out
    assert "no length scale" not in out


def test_outline_in_a_negative_delta_region_names_it(tmp_path):
    # split screen: region 0 (left half) has a negative delta, region 1 (right half) is fine
    path = write_dicom(
        tmp_path / "split.dcm",
        _pixels(),
        regions=[
            region_item((0, 0, ROWS - 1, 79), (0.025, -0.025)),
            region_item((0, 80, ROWS - 1, COLS - 1), (0.025, 0.025)),
        ],
    )
    img = _load(path)
    left = [[40.0, 10.0], [40.0, 50.0], [80.0, 50.0]]
    with pytest.raises(CalibrationError, match=r"region 0, whose negative PhysicalDeltaX \(-0.025 cm\)"):
        roi_calibration(left, img)
