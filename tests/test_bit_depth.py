"""Echo intensity and texture on the data's real bit depth; the 8-bit fat corrections refused
on other depths (issue 19 §2).

16-bit TIFFs are written with tifffile, the 16-bit DICOM (BitsStored 12) with pydicom. The
expected texture is computed with scikit-image's graycomatrix/graycoprops on the same pixels,
quantised by hand to 32 levels of the data's range.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import tifffile
from _pydicom_files import region_item, write_dicom
from skimage.feature import graycomatrix, graycoprops

from mfscan.annotations import ROI, Annotation
from mfscan.io.images import load_image
from mfscan.measure.annotation import measure_annotation

ROWS, COLS = 100, 120
# corners on pixel edges: exactly the pixels of rows 40..79, cols 50..89 have their centre inside
SQUARE = [[39.5, 49.5], [39.5, 89.5], [79.5, 89.5], [79.5, 49.5]]
PATCH = (slice(40, 80), slice(50, 90))


def _data(top: int) -> np.ndarray:
    """Smooth-ish texture over the full range 0..top (uint16)."""
    rng = np.random.default_rng(7)
    base = np.linspace(0, top, COLS)[None, :] * np.ones((ROWS, 1))
    noisy = base + rng.normal(0, top / 12, (ROWS, COLS))
    return np.clip(np.round(noisy), 0, top).astype(np.uint16)


def _expected_texture(patch: np.ndarray, bits: int) -> dict:
    q = np.floor(patch.astype(np.float64) * 32 / 2**bits).astype(np.uint8)
    angles = [0, math.pi / 4, math.pi / 2, 3 * math.pi / 4]
    m = graycomatrix(q, [1], angles, levels=32, symmetric=True, normed=True)
    out = {
        f"glcm_{k}": float(graycoprops(m, k).mean())
        for k in ("contrast", "homogeneity", "energy", "correlation")
    }
    p = m[:, :, 0, :]
    ent = [-(p[..., a][p[..., a] > 0] * np.log2(p[..., a][p[..., a] > 0])).sum() for a in range(4)]
    out["glcm_entropy"] = float(np.mean(ent))
    return out


def _measure(path, fat_cm=0.5):
    img = load_image(path)
    ann = Annotation(path.name, [ROI("left", SQUARE)], fat_thickness_cm=fat_cm)
    (row,), errors = measure_annotation(img, ann)
    assert errors == []
    return img, row


def test_12_bit_dicom_texture_on_4096_levels(tmp_path):
    data = _data(4095)
    path = write_dicom(
        tmp_path / "d12.dcm",
        data,
        bits_stored=12,
        regions=[region_item((0, 0, ROWS - 1, COLS - 1), (0.02, 0.02))],
    )
    img, row = _measure(path)
    assert img.bit_depth == 12
    want = _expected_texture(data[PATCH], 12)
    for k, v in want.items():
        assert row[k] == pytest.approx(v, rel=1e-9, abs=1e-12), k
    assert want["glcm_entropy"] > 5.0  # 32 levels in use, not 2
    assert row["echo_mean"] == pytest.approx(data[PATCH].mean())  # raw 12-bit grey levels
    # the young2015 constants are for 8-bit grey levels: refused, and said so
    assert row["echo_bit_depth"] == 12
    assert np.isnan(row["echo_mean_corrected"]) and row["echo_correction"] is None
    assert row["echo_correction_status"].startswith("refused: 12-bit grey levels")
    assert row["fat_thickness_cm"] == 0.5  # the fat thickness is still reported


@pytest.mark.parametrize(
    "name, write, bits",
    [
        ("packed12.tif", dict(bitspersample=12), 12),  # BitsPerSample 12 (tifffile packs the samples)
        ("max4095.tif", dict(extratags=[(281, "H", 1, 4095, True)]), 12),  # 16-bit words, MaxSampleValue 4095
    ],
)
def test_12_bit_tiff_texture_on_its_real_depth(tmp_path, name, write, bits):
    data = _data(4095)
    path = tmp_path / name
    tifffile.imwrite(path, data, **write)
    img, row = _measure(path)
    assert img.bit_depth == bits
    want = _expected_texture(data[PATCH], bits)
    assert row["glcm_entropy"] == pytest.approx(want["glcm_entropy"], rel=1e-9)
    assert row["glcm_contrast"] == pytest.approx(want["glcm_contrast"], rel=1e-9)
    assert row["echo_correction_status"].startswith("refused: 12-bit")


def test_full_16_bit_tiff_refuses_the_8_bit_correction(tmp_path):
    data = _data(65535)
    path = tmp_path / "d16.tif"
    tifffile.imwrite(path, data)
    img, row = _measure(path)
    assert img.bit_depth == 16
    assert row["glcm_entropy"] == pytest.approx(_expected_texture(data[PATCH], 16)["glcm_entropy"], rel=1e-9)
    assert row["echo_bit_depth"] == 16 and np.isnan(row["echo_mean_corrected"])
    assert row["echo_correction_status"].startswith("refused: 16-bit")


def test_8_bit_image_keeps_the_correction_and_says_so(tmp_path):
    data = (_data(4095) >> 4).astype(np.uint8)
    path = tmp_path / "d8.tif"
    tifffile.imwrite(path, data)
    _, row = _measure(path, fat_cm=0.5)
    # young2015: EI + 40.5278 x 0.5
    assert row["echo_mean_corrected"] == pytest.approx(data[PATCH].mean() + 40.5278 * 0.5)
    assert (row["echo_bit_depth"], row["echo_correction_status"]) == (8, "applied (8-bit)")
    assert row["glcm_entropy"] == pytest.approx(_expected_texture(data[PATCH], 8)["glcm_entropy"], rel=1e-9)


def test_16_bit_words_holding_8_bit_data_are_8_bit(tmp_path):
    """uint16 samples whose MaxSampleValue (tag 281) is 255 hold 8-bit data: bit depth 8, so the
    texture spans 0-255 and the 8-bit fat correction applies (it was labelled 9-bit)."""
    from mfscan.measure.echo_texture import correction_status

    data = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) % 256).astype(np.uint16)
    path = tmp_path / "eight_in_sixteen.tif"
    tifffile.imwrite(path, data, extratags=[(281, "H", 1, 255, False)])
    assert load_image(path).bit_depth == 8
    assert correction_status(8)[0] is True
