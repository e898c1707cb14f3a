"""Real-file cases of issue 10: dual-personality DICOM, regions that do not fit the
pixel matrix, sidecars naming files outside their folder, compressed TIFFs and
ImageJ-calibrated TIFFs. Files are written by pydicom and tifffile."""

from __future__ import annotations

import struct
import warnings

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
    write_us_dicom(path, pixels, burned_in_annotation="YES",
                   regions=[{"bounds": (0, 0, 59, 79), "delta_cm": (0.02, 0.025)}])
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
