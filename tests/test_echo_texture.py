"""Echo and texture: fat-corrected echo intensity by hand, GLCM texture equal to scikit-image's."""

import math
import subprocess
import sys

import numpy as np
import pytest
from skimage.feature import graycomatrix, graycoprops

from mfscan.errors import MeasurementError
from mfscan.measure.echo_texture import ECHO_CORRECTIONS, cooccurrence, correct_echo, glcm_features, quantize

ANGLES = [0, np.pi / 4, np.pi / 2, 3 * np.pi / 4]


def test_young_2015_correction_by_hand():
    # 50 + 40.5278 x 1.5 = 110.7917
    assert correct_echo(50.0, 1.5) == pytest.approx(110.7917, abs=1e-9)
    assert correct_echo(50.0, 1.5, correction="young2015") == pytest.approx(110.7917, abs=1e-9)
    assert correct_echo(50.0, 0.0) == 50.0


def test_mueller_correction_by_hand():
    # 50 + 38.30836 x 1.5 - 5.0054 x 1.5^2 = 50 + 57.46254 - 11.26215 = 96.20039
    assert correct_echo(50.0, 1.5, correction="mueller") == pytest.approx(96.20039, abs=1e-9)
    # 2 cm: 80 + 76.61672 - 20.0216 = 136.59512
    assert correct_echo(80.0, 2.0, correction="mueller") == pytest.approx(136.59512, abs=1e-9)


def test_corrections_on_arrays_keep_nan_and_unknown_names_fail():
    out = correct_echo([10.0, 20.0], [1.0, np.nan])
    assert out[0] == pytest.approx(50.5278) and math.isnan(out[1])
    with pytest.raises(MeasurementError, match="young2015, mueller"):
        correct_echo(10.0, 1.0, correction="caresio")
    assert set(ECHO_CORRECTIONS) == {"young2015", "mueller"}


def test_quantisation_is_on_the_fixed_range():
    v = np.array([0, 7, 8, 127, 128, 255], np.uint8)
    assert quantize(v).tolist() == [0, 0, 1, 15, 16, 31]
    assert quantize(np.array([0, 2047, 2048, 65535], np.uint16)).tolist() == [0, 0, 1, 31]
    assert quantize(np.array([-5.0, 300.0])).tolist() == [0, 31]


def _skimage_features(q):
    g = graycomatrix(q, [1], ANGLES, levels=32, symmetric=True, normed=True)
    out = {
        f"glcm_{f}": graycoprops(g, f).mean() for f in ("contrast", "homogeneity", "energy", "correlation")
    }
    p = g[:, :, 0, :]
    ent = [-(p[:, :, a][p[:, :, a] > 0] * np.log2(p[:, :, a][p[:, :, a] > 0])).sum() for a in range(4)]
    out["glcm_entropy"] = float(np.mean(ent))
    return out


def test_glcm_features_equal_scikit_image_on_the_same_quantised_pixels():
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (40, 50), dtype=np.uint8)
    img[:, :25] //= 2  # some structure, so correlation is not about zero
    ours = glcm_features(img, np.ones(img.shape, bool))
    ref = _skimage_features(img // 8)
    assert ours.keys() == ref.keys()
    for k in ref:
        assert ours[k] == pytest.approx(ref[k], rel=1e-12, abs=1e-12)


def test_pairs_with_a_pixel_outside_the_outline_do_not_count():
    """Masked features of the whole image equal scikit-image's on the inside block alone,
    however extreme the pixels outside."""
    rng = np.random.default_rng(9)
    img = rng.integers(0, 256, (60, 70), dtype=np.uint8)
    mask = np.zeros(img.shape, bool)
    mask[12:40, 20:55] = True
    img[~mask] = np.where(rng.random((~mask).sum()) < 0.5, 0, 255)
    ours = glcm_features(img, mask)
    ref = _skimage_features(img[12:40, 20:55] // 8)
    for k in ref:
        assert ours[k] == pytest.approx(ref[k], rel=1e-12, abs=1e-12)


def test_glcm_without_pairs_is_nan():
    img = np.full((5, 5), 100, np.uint8)
    mask = np.zeros((5, 5), bool)
    mask[2, 2] = True
    assert all(math.isnan(v) for v in glcm_features(img, mask).values())


@pytest.mark.parametrize(
    "shape,levels,distances,density",
    [((40, 50), 32, [1], 0.8), ((1, 30), 32, [1], 1.0), ((30, 1), 8, [1], 1.0), ((25, 33), 8, [1, 2], 0.5)],
)
def test_cooccurrence_equals_scikit_image_graycomatrix(shape, levels, distances, density):
    """Counts equal graycomatrix's (symmetric, not normed) on the same levels, pixels outside the
    mask set to an extra level whose row and column are then dropped."""
    rng = np.random.default_rng(sum(shape) + levels)
    q = rng.integers(0, levels, shape, dtype=np.uint8)
    mask = rng.random(shape) < density
    sentinel = q.copy()
    sentinel[~mask] = levels
    ref = graycomatrix(sentinel, distances, ANGLES, levels=levels + 1, symmetric=True, normed=False)
    ours = cooccurrence(q, mask, levels=levels, distances=distances)
    assert ours.shape == (levels, levels, len(distances), 4) and ours.dtype == np.float64
    np.testing.assert_array_equal(ours, ref[:levels, :levels])


def test_cooccurrence_counted_in_bands_sums_to_scikit_image(monkeypatch):
    """A patch too large for one float32 histogram is counted in row bands: no pair is lost or
    counted twice across band borders (bands of 7 pixels here instead of 2**23)."""
    import mfscan.measure.echo_texture as et

    monkeypatch.setattr(et, "_BAND_PIXELS", 7)
    rng = np.random.default_rng(3)
    q = rng.integers(0, 16, (23, 3), dtype=np.uint8)
    mask = rng.random(q.shape) < 0.9
    sentinel = q.copy()
    sentinel[~mask] = 16
    ref = graycomatrix(sentinel, [1, 2], ANGLES, levels=17, symmetric=True)[:16, :16]
    np.testing.assert_array_equal(cooccurrence(q, mask, levels=16, distances=[1, 2]), ref)


def test_texture_needs_no_scikit_image():
    """Importing scikit-image's texture module costs each worker process about 0.2 s."""
    code = (
        "import sys, numpy as np\n"
        "from mfscan.measure.echo_texture import glcm_features\n"
        "glcm_features(np.arange(64, dtype=np.uint8).reshape(8, 8), np.ones((8, 8), bool))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'skimage'))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_measure_outline_gives_echo_and_texture_of_the_same_pixels():
    """A rectangle whose pixel centres are rows 10-29 and columns 10-39: echo and texture are
    those of that block alone, however extreme the pixels around it."""
    from mfscan.measure.outline import measure_outline

    rng = np.random.default_rng(21)
    img = rng.integers(0, 256, (50, 60), dtype=np.uint8)
    block = img[10:30, 10:40]
    img[:10] = 255
    img[30:] = 0
    outline = [[9.6, 9.6], [9.6, 39.4], [29.4, 39.4], [29.4, 9.6]]
    m = measure_outline(outline, img, spacing=(0.1, 0.1), texture=True, bit_depth=8)
    assert m["n_pixels"] == 600
    assert m["echo_mean"] == pytest.approx(block.mean(), rel=1e-12)
    ref = _skimage_features(block // 8)
    for k in ref:
        assert m[k] == pytest.approx(ref[k], rel=1e-12, abs=1e-12)
    assert "glcm_entropy" not in measure_outline(outline, img, spacing=(0.1, 0.1))
