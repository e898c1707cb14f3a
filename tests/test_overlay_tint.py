"""Tinted-grayscale exports: overlay pixels are those far from the image's own tint axis.

Every image here is made from a known gray source ``g`` shown through a tint map
``RGB = round(g * t)`` (as a scanner's chroma map does), then written by OpenCV
(PNG, JPEG) or pydicom; the expected overlay masks are the pixels we painted.
"""

import cv2
import numpy as np
import pytest

from mfscan.io.images import load_image
from mfscan.io.tint import tint_axis
from mfscan.measure.outline import measure_outline
from mfscan.synthetic.dicom import write_us_dicom
from mfscan.synthetic.phantom import make_phantom

BLUE = np.array([165, 174, 208]) / 208.0  # Esaote-style blue-gray
SEPIA = np.array([255, 217, 166]) / 255.0


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(seed=3)


def tinted(g, t):
    return np.clip(np.rint(g[..., None].astype(float) * t), 0, 255).astype(np.uint8)


def write_png(path, rgb):
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def box_outline(r0, c0, r1, c1):
    """A rectangle on pixel edges covering rows r0..r1-1 and cols c0..c1-1."""
    return [[r0 - 0.5, c0 - 0.5], [r0 - 0.5, c1 - 0.5], [r1 - 0.5, c1 - 0.5], [r1 - 0.5, c0 - 0.5]]


def muscle_box(p, side="left"):
    """A 30x30 box inside the phantom's muscle, centred on its brightest inner pixel."""
    inner = cv2.erode(p.masks[side].astype(np.uint8), np.ones((31, 31), np.uint8)).astype(bool)
    r, c = np.unravel_index(np.argmax(np.where(inner, p.image.astype(int), -1)), inner.shape)
    assert p.masks[side][r - 15 : r + 15, c - 15 : c + 15].all()
    return r - 15, c - 15, r + 15, c + 15


def colour_marks(shape):
    """Yellow, green and cyan caliper crosses, and a red/blue Doppler box, with their masks."""
    rows, cols = shape
    paint = np.zeros((rows, cols, 3), np.uint8)
    mask = np.zeros((rows, cols), bool)
    for (r, c), colour in zip(
        [(60, 100), (300, 420), (450, 200)], [(255, 255, 0), (0, 255, 0), (0, 255, 255)]
    ):
        paint[r - 6 : r + 7, c] = colour
        paint[r, c - 6 : c + 7] = colour
        mask[r - 6 : r + 7, c] = mask[r, c - 6 : c + 7] = True
    rr, cc = np.mgrid[0:80, 0:120]
    vel = np.sin(rr / 9.0) * np.cos(cc / 13.0)  # -1..1, towards (red) and away (blue)
    mag = 120 + 135 * np.abs(vel)
    doppler = np.where(
        (vel >= 0)[..., None],
        np.stack([mag, 0.5 * (mag - 120), 0 * mag], -1),
        np.stack([0 * mag, 0.5 * (mag - 120), mag], -1),
    )
    paint[380:460, 600:720] = np.rint(doppler).astype(np.uint8)
    mask[380:460, 600:720] = True
    return paint, mask


def test_axis_of_plain_gray_is_none_and_of_tints_is_the_tint(phantom):
    g = phantom.image
    assert tint_axis(np.repeat(g[..., None], 3, axis=2)) is None
    np.testing.assert_allclose(tint_axis(tinted(g, BLUE)), BLUE, atol=0.01)
    np.testing.assert_allclose(tint_axis(tinted(g, SEPIA)), SEPIA, atol=0.01)


@pytest.mark.parametrize("tint", [BLUE, SEPIA], ids=["blue", "sepia"])
def test_tinted_png_without_overlays(tmp_path, phantom, tint):
    g = phantom.image
    rgb = tinted(g, tint)
    spread = rgb.max(-1).astype(int) - rgb.min(-1)
    tissue = phantom.masks["left"] | phantom.masks["right"]
    assert (spread > 40)[tissue].any()  # the plain-gray rule would drop bright muscle pixels
    img = load_image(write_png(tmp_path / "t.png", rgb))
    np.testing.assert_allclose(img.tint, tint, atol=0.01)
    assert not img.overlay.any()
    # The gray value is the position on the axis: the gray source comes back within rounding.
    assert np.abs(img.frame().astype(int) - g).max() <= 1
    r0, c0, r1, c1 = muscle_box(phantom)
    m = measure_outline(box_outline(r0, c0, r1, c1), img.frame(), exclude=img.overlay_frame())
    assert m["n_pixels"] == 900
    assert m["echo_mean"] == pytest.approx(g[r0:r1, c0:c1].mean(), abs=0.5)


def test_echo_before_and_after_on_tinted_phantom(tmp_path, phantom):
    """Before: luminance with the channel-spread rule; after: the tint axis. By hand from g."""
    g = phantom.image
    rgb = tinted(g, BLUE)
    r0, c0, r1, c1 = muscle_box(phantom)
    source_mean = g[r0:r1, c0:c1].mean()
    # The old rule by hand: 0.299 R + 0.587 G + 0.114 B, pixels with spread > 40 dropped.
    box = rgb[r0:r1, c0:c1].astype(float)
    lum = np.rint(box @ [0.299, 0.587, 0.114])
    kept = (box.max(-1) - box.min(-1)) <= 40
    before = lum[kept].mean()
    assert kept.sum() < 900 and abs(before - source_mean) > 5  # wrong: bright pixels dropped, dimmer scale
    img = load_image(write_png(tmp_path / "t.png", rgb))
    m = measure_outline(box_outline(r0, c0, r1, c1), img.frame(), exclude=img.overlay_frame())
    assert m["n_pixels"] == 900
    assert m["echo_mean"] == pytest.approx(source_mean, abs=0.5)


@pytest.mark.parametrize("tint", [BLUE, SEPIA], ids=["blue", "sepia"])
def test_tinted_with_calipers_and_doppler_flags_exactly_them(tmp_path, phantom, tint):
    g = phantom.image
    rgb = tinted(g, tint)
    paint, mask = colour_marks(g.shape)
    rgb[mask] = paint[mask]
    img = load_image(write_png(tmp_path / "c.png", rgb))
    np.testing.assert_allclose(img.tint, tint, atol=0.01)
    np.testing.assert_array_equal(img.overlay_frame(), mask)
    assert np.abs(img.frame().astype(int) - g)[~mask].max() <= 1


def test_tinted_dicom_rgb_with_marks(tmp_path, phantom):
    g = phantom.image
    rgb = tinted(g, BLUE)
    paint, mask = colour_marks(g.shape)
    rgb[mask] = paint[mask]
    img = load_image(write_us_dicom(tmp_path / "t.dcm", rgb, photometric="RGB", transfer_syntax="rle"))
    np.testing.assert_array_equal(img.overlay_frame(), mask)


@pytest.mark.parametrize("quality", [95, 75, 50])
def test_tinted_jpeg_no_overlay_in_tissue_and_marks_found(tmp_path, phantom, quality):
    g = phantom.image
    rgb = tinted(g, BLUE)
    paint, mask = colour_marks(g.shape)
    rgb[mask] = paint[mask]
    p = tmp_path / "t.jpg"
    assert cv2.imwrite(str(p), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    img = load_image(p)
    np.testing.assert_allclose(img.tint, BLUE, atol=0.03)
    ov = img.overlay_frame()
    tissue = phantom.masks["left"] | phantom.masks["right"]
    assert not ov[tissue & ~mask].any()
    assert ov[380:460, 600:720].mean() > 0.99  # the Doppler box
    for r, c in [(60, 100), (300, 420), (450, 200)]:  # each caliper's centre
        assert ov[r, c]
    r0, c0, r1, c1 = muscle_box(phantom)
    m = measure_outline(box_outline(r0, c0, r1, c1), img.frame(), exclude=ov)
    assert m["n_pixels"] == 900
    assert m["echo_mean"] == pytest.approx(g[r0:r1, c0:c1].mean(), abs=2.0)


def test_mostly_doppler_does_not_hijack_the_axis(tmp_path, phantom):
    """A colour box over most of the image: the tint still comes from the gray pixels around it."""
    g = phantom.image
    rows, cols = g.shape
    rgb = tinted(g, BLUE)
    rr, cc = np.mgrid[0:rows, 0:cols]
    box = (rr >= 30) & (rr < rows - 30) & (cc >= 30) & (cc < cols - 30)
    vel = np.sin(rr / 17.0) * np.cos(cc / 23.0)
    mag = 100 + 155 * np.abs(vel)
    doppler = np.where(
        (vel >= 0)[..., None],
        np.stack([mag, 0.3 * (mag - 100), 0 * mag], -1),
        np.stack([0 * mag, 0.3 * (mag - 100), mag], -1),
    )
    rgb[box] = np.rint(doppler[box]).astype(np.uint8)
    bright = rgb.max(-1) >= 0.15 * 255
    assert (box & bright).sum() > 3 * (~box & bright).sum()  # colour outnumbers gray 3:1
    img = load_image(write_png(tmp_path / "d.png", rgb))
    np.testing.assert_allclose(img.tint, BLUE, atol=0.01)
    np.testing.assert_array_equal(img.overlay_frame(), box)


def test_all_red_image_keeps_the_gray_rule(tmp_path):
    """No pixel could be a tint: the plain-gray rule applies (no axis, everything coloured flagged)."""
    rgb = np.zeros((60, 80, 3), np.uint8)
    rgb[..., 0] = np.linspace(60, 255, 80).astype(np.uint8)
    img = load_image(write_png(tmp_path / "r.png", rgb))
    assert img.tint is None
    np.testing.assert_array_equal(img.overlay_frame(), rgb[..., 0] > 40)
    # luminance as before: 0.299 R
    np.testing.assert_array_equal(img.frame(), np.rint(0.299 * rgb[..., 0]).astype(np.uint8))
