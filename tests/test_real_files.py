"""Real-file cases of issue 10: dual-personality DICOM, regions that do not fit the
pixel matrix, sidecars naming files outside their folder, compressed TIFFs and
ImageJ-calibrated TIFFs. Files are written by pydicom and tifffile."""

from __future__ import annotations

import json
import struct
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from mfscan.calibration import CalibrationWarning
from mfscan.io.images import load_image, read_header
from mfscan.synthetic.dicom import write_us_dicom

pydicom = pytest.importorskip("pydicom")
tifffile = pytest.importorskip("tifffile")


def _patch_preamble(path, preamble: bytes) -> None:
    data = bytearray(path.read_bytes())
    assert data[128:132] == b"DICM"
    data[:128] = preamble.ljust(128, b"\0")
    path.write_bytes(bytes(data))


# -- 1. DICOM is detected before anything else ------------------------------------------


def test_dual_personality_dicom_with_tiff_preamble_loads_as_dicom(tmp_path):
    path = tmp_path / "dual.dcm"
    pixels = (np.arange(60 * 80) % 251).astype(np.uint8).reshape(60, 80)
    write_us_dicom(
        path,
        pixels,
        burned_in_annotation="YES",
        regions=[{"bounds": (0, 0, 59, 79), "delta_cm": (0.02, 0.025)}],
    )
    # A little-endian TIFF header ("II*\0" + offset of the first IFD) in the preamble.
    _patch_preamble(path, b"II*\x00" + struct.pack("<I", 8))
    assert path.read_bytes()[:4] == b"II*\x00"
    # pydicom, independently, still reads the file as DICOM.
    ds = pydicom.dcmread(path)
    assert ds.preamble[:4] == b"II*\x00"
    assert read_header(path)["format"] == "dicom"
    img = load_image(path)
    assert img.format == "dicom"
    np.testing.assert_array_equal(img.frame(0), pixels)
    assert img.metadata["burned_in_annotation"] == "YES"
    assert len(img.regions) == 1
    assert img.calibration.source == "dicom-region"
    assert img.calibration.row_mm == pytest.approx(0.2)
    assert img.calibration.col_mm == pytest.approx(0.25)


def test_dual_personality_dicom_with_tiff_preamble_and_tif_suffix(tmp_path):
    path = tmp_path / "dual.tif"
    pixels = np.full((20, 30), 7, np.uint8)
    write_us_dicom(path, pixels)
    _patch_preamble(path, b"MM\x00*" + struct.pack(">I", 8))
    img = load_image(path)
    assert img.format == "dicom"
    assert any("'.tif'" in w for w in img.warnings)


# -- 2. DICOM regions checked against the pixel matrix ----------------------------------


def _load_warned(path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        img = load_image(path)
    return img, [str(w.message) for w in caught if issubclass(w.category, CalibrationWarning)]


def test_half_size_export_keeping_original_region_is_uncalibrated(tmp_path):
    # A 480x640 cine exported at half size (240x320) that kept its 480x640 region.
    path = tmp_path / "half.dcm"
    write_us_dicom(
        path,
        np.zeros((240, 320), np.uint8),
        regions=[{"bounds": (0, 0, 479, 639), "delta_cm": (0.0051, 0.0051)}],
    )
    assert pydicom.dcmread(path).SequenceOfUltrasoundRegions[0].RegionLocationMaxY1 == 479
    img, warned = _load_warned(path)
    assert img.calibration.source == "none"
    assert img.calibration.row_mm is None
    assert img.regions == []
    msg = [w for w in warned if "region 0" in w]
    assert len(msg) == 1
    assert "both axes" in msg[0] and "240x320" in msg[0] and "not used for calibration" in msg[0]


def test_off_by_one_max_bound_keeps_calibration(tmp_path):
    # Vendors write MaxX1 == Columns (and MaxY1 == Rows): one past the last pixel.
    path = tmp_path / "obo.dcm"
    write_us_dicom(
        path,
        np.zeros((240, 320), np.uint8),
        regions=[{"bounds": (0, 0, 240, 320), "delta_cm": (0.0102, 0.0102)}],
    )
    img, warned = _load_warned(path)
    assert img.calibration.source == "dicom-region"
    assert img.calibration.row_mm == pytest.approx(0.102)
    assert img.regions[0].bounds == (0, 0, 239, 319)
    assert any("clipped" in w for w in warned)


def test_crop_keeping_region_start_keeps_scale_with_warning(tmp_path):
    # The right part of the image was cropped away: overrun on the columns only.
    path = tmp_path / "crop.dcm"
    write_us_dicom(
        path,
        np.zeros((240, 200), np.uint8),
        regions=[{"bounds": (10, 20, 229, 399), "delta_cm": (0.01, 0.01)}],
    )
    img, warned = _load_warned(path)
    assert img.calibration.source == "dicom-region"
    assert img.calibration.col_mm == pytest.approx(0.1)
    assert img.regions[0].bounds == (10, 20, 229, 199)
    assert any("region 0" in w and "clipped" in w for w in warned)


def test_region_starting_outside_the_image_is_not_used(tmp_path):
    path = tmp_path / "outside.dcm"
    write_us_dicom(
        path,
        np.zeros((100, 120), np.uint8),
        regions=[
            {"bounds": (0, 130, 99, 200), "delta_cm": (0.02, 0.02)},
            {"bounds": (0, 0, 99, 119), "delta_cm": (0.03, 0.03)},
        ],
    )
    img, warned = _load_warned(path)
    # Only the second region (which fits) calibrates the image.
    assert [r.index for r in img.regions] == [1]
    assert img.calibration.row_mm == pytest.approx(0.3)
    assert any("region 0" in w and "starts outside" in w for w in warned)


# -- 3. A sidecar's image is a file beside it ------------------------------------------

SECRET = "TOPSECRET-not-an-image-0123456789"


def _sidecar(path, image: str) -> None:
    path.write_text(
        json.dumps(
            {
                "format": "mfscan.annotation",
                "version": 1,
                "image": image,
                "rois": [{"side": "left", "points": [[2, 2], [2, 12], [12, 12], [12, 2]]}],
            }
        ),
        "utf-8",
    )


@pytest.mark.parametrize(
    "field", ["../../secret.txt", "../../etc/hostname", "/etc/hostname", "sub/scan.png", "..\\..\\secret.txt"]
)
def test_sidecar_image_leaving_its_folder_is_refused(tmp_path, field):
    from mfscan import cli
    from mfscan.io.tables import read_table

    (tmp_path / "secret.txt").write_text(SECRET, "utf-8")
    study = tmp_path / "a" / "study"
    (study / "sub").mkdir(parents=True)
    cv2.imwrite(str(study / "scan.png"), np.full((20, 20), 100, np.uint8))
    cv2.imwrite(str(study / "sub" / "scan.png"), np.full((20, 20), 100, np.uint8))
    # Name matches no image: discover asks the sidecar which image it annotates.
    _sidecar(study / "odd.mfscan.json", field)
    # Name matches scan.png, but its field names a file elsewhere.
    _sidecar(study / "scan.mfscan.json", field)
    out = tmp_path / "out"
    out.mkdir()
    rc = cli.main(["measure", str(study), "-o", str(out / "m.csv"), "--workers", "1", "--no-progress"])
    assert rc == 1
    text = (out / "errors.csv").read_text("utf-8")
    assert SECRET not in text
    hostname = Path("/etc/hostname")
    if hostname.is_file() and len(hostname.read_text().strip()) > 3:
        assert hostname.read_text().strip() not in text.replace("/etc/hostname", "")
    errors = read_table(out / "errors.csv")
    reasons = {Path(p).name: r for p, r in zip(errors["path"], errors["reason"])}
    for name in ("odd.mfscan.json", "scan.mfscan.json"):
        assert name in reasons, reasons
        assert "'image' field" in reasons[name]
        assert "leaving the sidecar's folder" in reasons[name]


# -- 4. Every TIFF compression Fiji and scanners write ---------------------------------


def _gray_ramp():
    rr, cc = np.mgrid[0:64, 0:96]
    return ((rr * 3 + cc * 2) % 256).astype(np.uint8)


@pytest.mark.parametrize("compression", ["lzw", "zlib", "adobe_deflate", "packbits"])
def test_lossless_compressed_grayscale_tiff_reads_exactly(tmp_path, compression):
    pytest.importorskip("imagecodecs")
    path = tmp_path / f"{compression}.tif"
    pixels = _gray_ramp()
    tifffile.imwrite(path, pixels, compression=compression)
    with tifffile.TiffFile(path) as tf:  # the file really is compressed that way
        assert tf.pages[0].compression != 1
    img = load_image(path)
    assert img.format == "tiff"
    np.testing.assert_array_equal(img.frame(0), pixels)


@pytest.mark.parametrize("compression", ["lzw", "zlib", "packbits"])
def test_lossless_compressed_rgb_tiff_reads_exactly(tmp_path, compression):
    pytest.importorskip("imagecodecs")
    path = tmp_path / f"rgb-{compression}.tif"
    g = _gray_ramp()
    rgb = np.stack([g, g[::-1], 255 - g], axis=-1)
    tifffile.imwrite(path, rgb, photometric="rgb", compression=compression)
    img = load_image(path)
    np.testing.assert_array_equal(img.pixels[0], rgb)


def test_jpeg_compressed_tiffs_read_close(tmp_path):
    pytest.importorskip("imagecodecs")
    rr, cc = np.mgrid[0:64, 0:96]
    gray = (60 + rr + cc).astype(np.uint8)  # smooth: JPEG keeps it within a few levels
    tifffile.imwrite(tmp_path / "g.tif", gray, compression="jpeg", compressionargs={"level": 95})
    img = load_image(tmp_path / "g.tif")
    with tifffile.TiffFile(tmp_path / "g.tif") as tf:
        assert tf.pages[0].compression == 7  # JPEG
    assert img.frame(0).shape == gray.shape
    assert np.abs(img.frame(0).astype(int) - gray).max() <= 4
    rgb = np.stack([gray, gray, gray // 2], axis=-1)
    tifffile.imwrite(
        tmp_path / "c.tif", rgb, photometric="rgb", compression="jpeg", compressionargs={"level": 95}
    )
    img = load_image(tmp_path / "c.tif")
    assert img.pixels.shape == (1, 64, 96, 3)
    assert np.abs(img.pixels[0].astype(int) - rgb).max() <= 6


# -- 5. ImageJ TIFF calibration ----------------------------------------------------------


@pytest.mark.parametrize(
    "unit, res_x, res_y, mm_x, mm_y",
    [
        ("cm", 40.0, 50.0, 10 / 40.0, 10 / 50.0),  # 40 px/cm -> 0.25 mm/px
        ("mm", 4.0, 4.0, 0.25, 0.25),
        ("micron", 1 / 150.0, 1 / 150.0, 0.15, 0.15),  # 150 um per pixel
    ],
)
def test_imagej_tiff_scale_is_a_calibration_source(tmp_path, unit, res_x, res_y, mm_x, mm_y):
    path = tmp_path / "fiji.tif"
    tifffile.imwrite(path, _gray_ramp(), imagej=True, resolution=(res_x, res_y), metadata={"unit": unit})
    with tifffile.TiffFile(path) as tf:
        assert tf.is_imagej and tf.imagej_metadata["unit"] == unit
    img = load_image(path)
    assert img.calibration.source == "imagej-tiff"
    assert img.calibration.col_mm == pytest.approx(mm_x, rel=1e-6)
    assert img.calibration.row_mm == pytest.approx(mm_y, rel=1e-6)


def test_tiff_without_imagej_unit_stays_uncalibrated(tmp_path):
    # A plain TIFF's resolution is a print size (dpi), and ImageJ's "pixel" unit is no scale.
    tifffile.imwrite(tmp_path / "plain.tif", _gray_ramp(), resolution=(72, 72))
    assert load_image(tmp_path / "plain.tif").calibration.source == "none"
    tifffile.imwrite(
        tmp_path / "px.tif", _gray_ramp(), imagej=True, resolution=(2, 2), metadata={"unit": "pixel"}
    )
    assert load_image(tmp_path / "px.tif").calibration.source == "none"


def test_sidecar_override_wins_over_imagej_scale(tmp_path):
    from mfscan.calibration import manual
    from mfscan.calibration.rule import roi_calibration

    tifffile.imwrite(
        tmp_path / "fiji.tif", _gray_ramp(), imagej=True, resolution=(40.0, 40.0), metadata={"unit": "cm"}
    )
    img = load_image(tmp_path / "fiji.tif")
    assert roi_calibration([[5, 5]], img).col_mm == pytest.approx(0.25)
    assert roi_calibration([[5, 5]], img, manual(0.3, 0.3)).row_mm == pytest.approx(0.3)
