"""Tests of mfscan.io.images (loading) and mfscan.dicomgen (synthetic DICOM writer).

All test images are generated here; expected values are the pixels written.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib

import cv2
import numpy as np
import pydicom
import pytest
import tifffile

from mfscan.errors import ImageReadError
from mfscan.io import images
from mfscan.io.images import Image, is_supported, load_image, read_header
from mfscan.synthetic.dicom import US_IMAGE_STORAGE, US_MULTIFRAME_IMAGE_STORAGE, write_us_dicom

ROWS, COLS = 48, 64


def gradient(rows=ROWS, cols=COLS, dtype=np.uint8, scale=3):
    """Deterministic, non-trivial grayscale content."""
    r, c = np.mgrid[0:rows, 0:cols]
    top = np.iinfo(dtype).max
    return ((r * scale + c * 7 + (r * c) % 13) % (top + 1)).astype(dtype)


def speckle(rows=ROWS, cols=COLS, seed=0):
    """Ultrasound-like speckle: random gray texture with bright bands."""
    rng = np.random.default_rng(seed)
    img = rng.gamma(2.0, 30.0, size=(rows, cols))
    img[rows // 3 : rows // 3 + 3] = 240
    return np.clip(img, 0, 255).astype(np.uint8)


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def png_bytes(width, height, bit_depth, color_type, rows_bytes, plte=None):
    """A minimal PNG (filter 0 on each row) built by hand."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + r for r in rows_bytes)
    out = b"\x89PNG\r\n\x1a\n" + chunk(
        b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    )
    if plte is not None:
        out += chunk(b"PLTE", bytes(np.asarray(plte, np.uint8).ravel()))
    return out + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


# --------------------------------------------------------------------------- exports


def test_gray_png_8bit_is_decoded_without_copy(tmp_path):
    g = gradient()
    p = tmp_path / "g.png"
    assert cv2.imwrite(str(p), g)
    img = load_image(p)
    assert isinstance(img, Image)
    assert img.format == "png" and img.color == "grayscale" and img.bit_depth == 8
    assert img.pixels.shape == (1, ROWS, COLS) and img.pixels.dtype == np.uint8
    np.testing.assert_array_equal(img.frame(0), g)
    assert img.gray is img.pixels
    assert img.overlay is None and img.overlay_frame(0) is None
    assert img.n_frames == 1 and img.shape == (ROWS, COLS)
    assert img.regions == [] and not img.calibration.calibrated
    assert img.metadata["burned_in_annotation"] == "unknown"
    assert read_header(p) == {
        "format": "png",
        "rows": ROWS,
        "cols": COLS,
        "n_frames": 1,
        "color": "grayscale",
        "bit_depth": 8,
    }


def test_png_16bit_exact(tmp_path):
    g = gradient(dtype=np.uint16, scale=1009)
    assert g.max() > 255
    p = tmp_path / "g16.png"
    assert cv2.imwrite(str(p), g)
    img = load_image(p)
    assert img.pixels.dtype == np.uint16 and img.bit_depth == 16
    np.testing.assert_array_equal(img.frame(), g)


def rgb_with_calipers(gray):
    rgb = np.repeat(gray[..., None], 3, axis=2).copy()
    mask = np.zeros(gray.shape, bool)
    mask[10, 5:20] = True  # a yellow caliper line
    mask[5:15, 30] = True  # a green caliper line
    rgb[10, 5:20] = (255, 255, 0)
    rgb[5:15, 30] = (0, 255, 0)
    return rgb, mask


def test_rgb_png_overlay_and_gray_values(tmp_path):
    g = gradient()
    rgb, mask = rgb_with_calipers(g)
    p = tmp_path / "rgb.png"
    assert cv2.imwrite(str(p), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    img = load_image(p)
    assert img.color == "rgb" and img.pixels.shape == (1, ROWS, COLS, 3)
    np.testing.assert_array_equal(img.pixels[0], rgb)  # RGB order, not BGR
    assert tuple(img.pixels[0, 10, 5]) == (255, 255, 0)
    np.testing.assert_array_equal(img.overlay_frame(0), mask)
    # Gray pixels keep their value exactly; yellow is 0.299*255 + 0.587*255 = 225.6 -> 226.
    np.testing.assert_array_equal(img.frame(0)[~mask], g[~mask])
    assert img.frame(0)[10, 5] == 226
    assert img.frame(0)[5, 30] == 150  # 0.587 * 255 = 149.7


def test_rgba_png_drops_alpha(tmp_path):
    g = gradient()
    rgb, mask = rgb_with_calipers(g)
    alpha = np.full(g.shape, 77, np.uint8)
    bgra = np.dstack([rgb[..., ::-1], alpha])
    p = tmp_path / "rgba.png"
    assert cv2.imwrite(str(p), bgra)
    img = load_image(p)
    assert img.pixels.shape == (1, ROWS, COLS, 3)
    np.testing.assert_array_equal(img.pixels[0], rgb)
    np.testing.assert_array_equal(img.overlay[0], mask)


def test_palette_png_expanded_to_rgb(tmp_path):
    idx = (gradient() % 4).astype(np.uint8)
    plte = np.array([[0, 0, 0], [100, 100, 100], [200, 200, 200], [255, 0, 0]], np.uint8)
    p = tmp_path / "pal.png"
    p.write_bytes(png_bytes(COLS, ROWS, 8, 3, [r.tobytes() for r in idx], plte))
    assert read_header(p)["color"] == "palette"
    img = load_image(p)
    assert img.color == "palette"
    np.testing.assert_array_equal(img.pixels[0], plte[idx])
    np.testing.assert_array_equal(img.overlay[0], idx == 3)
    np.testing.assert_array_equal(img.frame()[idx == 2], 200)


def test_gray_alpha_png_is_grayscale(tmp_path):
    g = gradient()
    ga = np.dstack([g, np.full_like(g, 255)])
    p = tmp_path / "ga.png"
    p.write_bytes(png_bytes(COLS, ROWS, 8, 4, [r.tobytes() for r in ga.reshape(ROWS, -1)]))
    img = load_image(p)
    assert img.color == "grayscale" and img.pixels.shape == (1, ROWS, COLS)
    np.testing.assert_array_equal(img.frame(), g)


def test_gray_jpeg_close_to_original(tmp_path):
    g = speckle()
    p = tmp_path / "g.jpg"
    assert cv2.imwrite(str(p), g, [cv2.IMWRITE_JPEG_QUALITY, 95])
    img = load_image(p)
    assert img.format == "jpeg" and img.color == "grayscale" and img.overlay is None
    assert img.metadata["lossy"] is True
    diff = np.abs(img.frame().astype(int) - g)
    assert diff.mean() < 3 and diff.max() < 40


@pytest.mark.parametrize("jitter,quality", [(0, 30), (8, 90), (12, 75)])
def test_rgb_jpeg_of_gray_content_has_no_overlay(tmp_path, jitter, quality):
    g = speckle(96, 128)
    # Gray content as captured from a video output: each channel off by a few levels.
    noise = np.random.default_rng(1).integers(-jitter, jitter + 1, size=(96, 128, 3))
    rgb = np.clip(g[..., None].astype(int) + noise, 0, 255).astype(np.uint8)
    p = tmp_path / "gray_as_rgb.jpg"
    assert cv2.imwrite(
        str(p),
        rgb,
        [
            cv2.IMWRITE_JPEG_QUALITY,
            quality,
            cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
            cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
        ],
    )
    img = load_image(p)
    assert img.color == "rgb" and img.pixels.shape == (1, 96, 128, 3)
    spread = img.pixels[0].max(-1).astype(int) - img.pixels[0].min(-1)
    if jitter:
        assert spread.max() > 0  # the chroma noise is there ...
    assert not img.overlay.any()  # ... but is not taken for an overlay
    assert abs(img.frame().mean() - g.mean()) < 2


def test_rgb_jpeg_caliper_flagged(tmp_path):
    g = speckle(96, 128) // 2
    rgb = np.repeat(g[..., None], 3, axis=2)
    rgb[40:44, 20:80] = (255, 255, 0)
    p = tmp_path / "cal.jpg"
    assert cv2.imwrite(str(p), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    img = load_image(p)
    assert img.overlay[0, 41:43, 24:76].all()
    assert not img.overlay[0, 60:, :].any()


def test_bmp_gray_and_rgb_exact(tmp_path):
    g = gradient()
    p = tmp_path / "g.bmp"
    assert cv2.imwrite(str(p), g)
    img = load_image(p)
    assert img.format == "bmp" and img.color == "grayscale"
    np.testing.assert_array_equal(img.frame(), g)
    rgb, mask = rgb_with_calipers(g)
    p2 = tmp_path / "rgb.bmp"
    assert cv2.imwrite(str(p2), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    img2 = load_image(p2)
    np.testing.assert_array_equal(img2.pixels[0], rgb)
    np.testing.assert_array_equal(img2.overlay[0], mask)


def test_tiff_single_multipage_16bit_rgb(tmp_path):
    g = gradient()
    tifffile.imwrite(tmp_path / "one.tif", g)
    img = load_image(tmp_path / "one.tif")
    assert img.format == "tiff" and img.n_frames == 1
    np.testing.assert_array_equal(img.frame(), g)

    stack = np.stack([g, g // 2, 255 - g, g // 3])
    tifffile.imwrite(tmp_path / "cine.tif", stack, photometric="minisblack")
    assert read_header(tmp_path / "cine.tif")["n_frames"] == 4
    img = load_image(tmp_path / "cine.tif")
    assert img.n_frames == 4 and img.gray is img.pixels
    np.testing.assert_array_equal(img.gray, stack)
    part = load_image(tmp_path / "cine.tif", frames=slice(1, 4, 2))
    np.testing.assert_array_equal(part.gray, stack[[1, 3]])

    g16 = gradient(dtype=np.uint16, scale=2003)
    tifffile.imwrite(tmp_path / "g16.tiff", g16)
    img = load_image(tmp_path / "g16.tiff")
    assert img.pixels.dtype == np.uint16 and img.bit_depth == 16
    np.testing.assert_array_equal(img.frame(), g16)

    rgb, mask = rgb_with_calipers(g)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    img = load_image(tmp_path / "rgb.tif")
    np.testing.assert_array_equal(img.pixels[0], rgb)
    np.testing.assert_array_equal(img.overlay[0], mask)


def test_tiff_min_is_white_inverted(tmp_path):
    g = gradient()
    tifffile.imwrite(tmp_path / "miw.tif", g, photometric="miniswhite")
    img = load_image(tmp_path / "miw.tif")
    np.testing.assert_array_equal(img.frame(), 255 - g)


# --------------------------------------------------------------------------- DICOM

LOSSLESS_GRAY = ["explicit-vr-little", "implicit-vr-little", "rle", "jpeg-lossless", "jpeg2000-lossless"]


@pytest.mark.parametrize("ts", LOSSLESS_GRAY)
def test_dicom_monochrome2_lossless_exact(tmp_path, ts):
    g = gradient()
    p = write_us_dicom(tmp_path / "m2.dcm", g, transfer_syntax=ts)
    img = load_image(p)
    assert img.format == "dicom" and img.color == "grayscale" and img.overlay is None
    assert img.pixels.dtype == np.uint8 and img.pixels.shape == (1, ROWS, COLS)
    np.testing.assert_array_equal(img.frame(), g)
    assert img.metadata["transfer_syntax"] == pydicom.dcmread(p).file_meta.TransferSyntaxUID.name
    assert img.metadata["lossy"] is False
    assert img.metadata["modality"] == "US" and img.metadata["photometric"] == "MONOCHROME2"


@pytest.mark.parametrize("ts", ["explicit-vr-little", "rle", "jpeg-lossless", "jpeg2000-lossless"])
def test_dicom_12bit_exact(tmp_path, ts):
    g = gradient(dtype=np.uint16, scale=211) % 4096
    p = write_us_dicom(tmp_path / "m12.dcm", g, transfer_syntax=ts, bits_stored=12)
    img = load_image(p)
    assert img.pixels.dtype == np.uint16 and img.bit_depth == 12
    np.testing.assert_array_equal(img.frame(), g)


@pytest.mark.parametrize("ts", ["jpeg-baseline", "jpeg2000"])
def test_dicom_monochrome2_lossy_close(tmp_path, ts):
    g = speckle()
    p = write_us_dicom(tmp_path / "lossy.dcm", g, transfer_syntax=ts)
    ds = pydicom.dcmread(p)
    assert (
        ds.file_meta.TransferSyntaxUID
        == {"jpeg-baseline": "1.2.840.10008.1.2.4.50", "jpeg2000": "1.2.840.10008.1.2.4.91"}[ts]
    )
    img = load_image(p)
    diff = np.abs(img.frame().astype(int) - g)
    assert diff.mean() < 4 and diff.max() < 60
    assert diff.max() > 0  # really lossy
    assert img.metadata["lossy"] is True


@pytest.mark.parametrize("ts", ["explicit-vr-little", "rle", "jpeg-lossless", "jpeg2000-lossless"])
def test_dicom_rgb_exact_with_overlay(tmp_path, ts):
    g = gradient()
    rgb, mask = rgb_with_calipers(g)
    p = write_us_dicom(tmp_path / "rgb.dcm", rgb, photometric="RGB", transfer_syntax=ts)
    img = load_image(p)
    assert img.color == "rgb"
    np.testing.assert_array_equal(img.pixels[0], rgb)
    np.testing.assert_array_equal(img.overlay[0], mask)
    np.testing.assert_array_equal(img.frame()[~mask], g[~mask])


def smooth_color():
    r, c = np.mgrid[0:ROWS, 0:COLS]
    return np.stack([r * 4 + 20, 230 - c * 3, (r + c) + 30], -1).astype(np.uint8)


@pytest.mark.parametrize(
    "photometric,ts,tol",
    [
        ("YBR_FULL", "explicit-vr-little", 2),
        ("YBR_FULL", "rle", 2),
        ("YBR_FULL_422", "explicit-vr-little", 4),
        ("YBR_FULL_422", "jpeg-baseline", 6),
    ],
)
def test_dicom_ybr_converted_to_rgb(tmp_path, photometric, ts, tol):
    rgb = smooth_color()
    p = write_us_dicom(tmp_path / "ybr.dcm", rgb, photometric=photometric, transfer_syntax=ts)
    assert pydicom.dcmread(p).PhotometricInterpretation == photometric
    img = load_image(p)
    assert img.color == "ybr" and img.metadata["photometric"] == photometric
    assert img.pixels.shape == (1, ROWS, COLS, 3)
    assert np.abs(img.pixels[0].astype(int) - rgb).max() <= tol


def test_dicom_ybr_jpeg_of_gray_content_no_overlay(tmp_path):
    g = speckle()
    rgb = np.repeat(g[..., None], 3, axis=2)
    p = write_us_dicom(
        tmp_path / "ybrg.dcm", rgb, photometric="YBR_FULL_422", transfer_syntax="jpeg-baseline", quality=70
    )
    img = load_image(p)
    assert not img.overlay.any()


@pytest.mark.parametrize("ts", ["explicit-vr-little", "rle"])
def test_dicom_palette_color(tmp_path, ts):
    idx = gradient()
    lut = np.zeros((256, 3), np.uint16)
    lut[:, 0] = np.arange(256) * 257
    lut[:, 1] = (255 - np.arange(256)) * 257
    lut[200:, 2] = 65535
    p = write_us_dicom(
        tmp_path / "pal.dcm", idx, photometric="PALETTE COLOR", palette=lut, transfer_syntax=ts
    )
    img = load_image(p)
    assert img.color == "palette" and img.pixels.dtype == np.uint8 and img.bit_depth == 8
    expected = (lut[idx] >> 8).astype(np.uint8)
    np.testing.assert_array_equal(img.pixels[0], expected)
    assert tuple(img.pixels[0, 0, 0]) == (0, 255, 0)


def test_dicom_monochrome1_inverted(tmp_path):
    g = gradient()
    p = write_us_dicom(tmp_path / "m1.dcm", g, photometric="MONOCHROME1")
    img = load_image(p)
    np.testing.assert_array_equal(img.frame(), 255 - g)
    g12 = gradient(dtype=np.uint16, scale=97) % 4096
    p = write_us_dicom(tmp_path / "m1_12.dcm", g12, photometric="MONOCHROME1", bits_stored=12)
    np.testing.assert_array_equal(load_image(p).frame(), 4095 - g12)


@pytest.mark.parametrize("ts", ["explicit-vr-little", "rle", "jpeg-lossless", "jpeg2000-lossless"])
def test_dicom_cine_five_frames(tmp_path, ts):
    cine = np.stack([np.roll(gradient(), 3 * k, axis=1) for k in range(5)])
    p = write_us_dicom(tmp_path / "cine.dcm", cine, transfer_syntax=ts)
    ds = pydicom.dcmread(p, stop_before_pixels=True)
    assert ds.SOPClassUID == US_MULTIFRAME_IMAGE_STORAGE and int(ds.NumberOfFrames) == 5
    assert read_header(p)["n_frames"] == 5
    img = load_image(p)
    assert img.n_frames == 5
    np.testing.assert_array_equal(img.gray, cine)
    part = load_image(p, frames=slice(1, 4))
    np.testing.assert_array_equal(part.gray, cine[1:4])


def test_dicom_rgb_cine(tmp_path):
    rgb, mask = rgb_with_calipers(gradient())
    cine = np.stack([rgb, rgb[::-1], rgb[:, ::-1]])
    img = load_image(write_us_dicom(tmp_path / "rgbcine.dcm", cine, photometric="RGB", transfer_syntax="rle"))
    np.testing.assert_array_equal(img.pixels, cine)
    np.testing.assert_array_equal(img.overlay, np.stack([mask, mask[::-1], mask[:, ::-1]]))


def test_dicomgen_tags_and_identity(tmp_path):
    p = write_us_dicom(tmp_path / "a.dcm", gradient())
    raw = p.read_bytes()
    assert raw[128:132] == b"DICM"
    ds = pydicom.dcmread(p)
    assert ds.SOPClassUID == US_IMAGE_STORAGE and ds.Modality == "US"
    assert str(ds.PatientName) == "SYNTHETIC^PHANTOM"
    assert "BurnedInAnnotation" not in ds
    planted = {
        "PatientName": "DOE^JANE",
        "PatientID": "MRN-998877",
        "PatientBirthDate": "19700101",
        "InstitutionName": "St Example Hospital",
        "DeviceSerialNumber": "SN-4242",
    }
    p2 = write_us_dicom(tmp_path / "b.dcm", gradient(), identity=planted, burned_in_annotation="YES")
    ds2 = pydicom.dcmread(p2)
    for k, v in planted.items():
        assert str(ds2[k].value) == v
    img = load_image(p2)
    assert img.metadata["burned_in_annotation"] == "YES"
    text = repr(img.metadata) + repr(img)
    for v in planted.values():
        assert v not in text
    assert set(img.metadata) == {
        "modality",
        "transfer_syntax",
        "photometric",
        "bits_stored",
        "burned_in_annotation",
        "lossy",
    }
    img3 = load_image(write_us_dicom(tmp_path / "c.dcm", gradient(), burned_in_annotation="NO"))
    assert img3.metadata["burned_in_annotation"] == "NO"
    assert load_image(p).metadata["burned_in_annotation"] == "unknown"


def test_dicom_without_suffix_and_without_preamble(tmp_path):
    g = gradient()
    p = write_us_dicom(tmp_path / "x.dcm", g)
    noext = tmp_path / "IM0001"
    noext.write_bytes(p.read_bytes())
    assert is_supported(noext)
    np.testing.assert_array_equal(load_image(noext).frame(), g)
    bare = tmp_path / "bare.dcm"
    bare.write_bytes(p.read_bytes()[132:])  # no preamble, no "DICM"
    img = load_image(bare)
    np.testing.assert_array_equal(img.frame(), g)
    assert any("preamble" in w for w in img.warnings)


# --------------------------------------------------------------------------- errors


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(ImageReadError, match="file not found"):
        load_image(tmp_path / "nope.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty") as e:
        load_image(tmp_path / "empty.png")
    assert "empty.png" in str(e.value)


def test_text_named_as_image(tmp_path):
    (tmp_path / "notes.png").write_text("this is not an image\n" * 20)
    with pytest.raises(ImageReadError, match="not a PNG image"):
        load_image(tmp_path / "notes.png")
    (tmp_path / "notes.dcm").write_text("this is not a dicom file\n" * 20)
    with pytest.raises(ImageReadError, match="not a DICOM file"):
        load_image(tmp_path / "notes.dcm")
    (tmp_path / "notes.txt").write_text("hello")
    assert not is_supported(tmp_path / "notes.txt")
    assert is_supported(tmp_path / "notes.png")  # by suffix; loading then fails


def test_truncated_files(tmp_path):
    g = speckle()
    png = tmp_path / "t.png"
    cv2.imwrite(str(png), g)
    data = png.read_bytes()
    png.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="truncated"):
        load_image(png)
    jpg = tmp_path / "t.jpg"
    cv2.imwrite(str(jpg), g)
    data = jpg.read_bytes()
    jpg.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ImageReadError, match="truncated"):
        load_image(jpg)
    bmp = tmp_path / "t.bmp"
    cv2.imwrite(str(bmp), g)
    bmp.write_bytes(bmp.read_bytes()[:-200])
    with pytest.raises(ImageReadError, match="truncated"):
        load_image(bmp)
    tif = tmp_path / "t.tif"
    tifffile.imwrite(tif, np.stack([g, g]), photometric="minisblack")
    tif.write_bytes(tif.read_bytes()[:-500])
    with pytest.raises(ImageReadError):
        load_image(tif)
    dcm = write_us_dicom(tmp_path / "t.dcm", g)
    dcm.write_bytes(dcm.read_bytes()[:-1000])
    with pytest.raises(ImageReadError):
        load_image(dcm)


def _decoder_error(fn):
    """The exception the third-party decoder itself raises on the same file."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        return e
    raise AssertionError("the decoder accepted the corrupt file")


def test_decoder_errors_are_chained_with_their_cause(tmp_path):
    """The decoder's own exception is kept as ``__cause__`` (shown by --debug); the message is ours."""
    g = speckle()
    dcm = write_us_dicom(tmp_path / "t.dcm", g)
    dcm.write_bytes(dcm.read_bytes()[:-1000])  # pixel data 1000 bytes short
    expected = _decoder_error(lambda: pydicom.dcmread(dcm).pixel_array)
    with pytest.raises(ImageReadError) as e:
        load_image(dcm)
    cause = e.value.__cause__
    assert type(cause) is type(expected) and str(cause) == str(expected)
    assert "less than expected (2072 vs 3072 bytes)" in str(cause)  # 48 x 64 - 1000
    assert e.value.message.startswith(
        "truncated DICOM file: the pixel data holds 2072 of the 3072 bytes its header announces"
    )

    tif = tmp_path / "t.tif"
    tifffile.imwrite(tif, np.stack([g, g]), photometric="minisblack")
    tif.write_bytes(tif.read_bytes()[:-500])
    with pytest.raises(ImageReadError, match="truncated TIFF image: its 2 frame.s. need 6144 bytes"):
        load_image(tif)  # 2 x 48 x 64 bytes; found before decoding
    tifffile.imwrite(tif, g, compression="zlib")
    with tifffile.TiffFile(tif) as tf:
        off, count = tf.pages[0].dataoffsets[0], tf.pages[0].databytecounts[0]
    damaged = bytearray(tif.read_bytes())
    damaged[off : off + count] = bytes(count)  # the zlib stream zeroed
    tif.write_bytes(bytes(damaged))
    expected = _decoder_error(lambda: tifffile.imread(tif))
    with pytest.raises(ImageReadError) as e:
        load_image(tif)
    assert type(e.value.__cause__) is type(expected) and str(e.value.__cause__) == str(expected)
    assert e.value.message.startswith("cannot decode TIFF image: pixel data damaged")

    with pytest.raises(ImageReadError, match="file not found") as e:
        load_image(tmp_path / "nope.png")
    assert isinstance(e.value.__cause__, FileNotFoundError)
    assert e.value.__cause__.filename == str(tmp_path / "nope.png")
    with pytest.raises(ImageReadError, match="is a directory") as e:
        read_header(tmp_path)
    assert isinstance(e.value.__cause__, IsADirectoryError)


def test_dicom_without_pixel_data(tmp_path):
    p = write_us_dicom(tmp_path / "full.dcm", gradient())
    ds = pydicom.dcmread(p)
    del ds.PixelData
    ds.save_as(tmp_path / "nopix.dcm", enforce_file_format=True)
    with pytest.raises(ImageReadError, match="DICOM file has no pixel data"):
        load_image(tmp_path / "nopix.dcm")


def test_huge_png_header_refused_without_decoding(tmp_path, monkeypatch):
    p = tmp_path / "huge.png"
    p.write_bytes(png_bytes(100_000, 100_000, 8, 0, [b"\x00" * 10]))
    assert read_header(p)["rows"] == 100_000

    def no_decode(*a, **k):
        raise AssertionError("decoder called")

    monkeypatch.setattr(cv2, "imdecode", no_decode)
    with pytest.raises(ImageReadError, match="10,000,000,000 pixels exceeds the limit of 200,000,000"):
        load_image(p)
    # A small limit refuses a small image too.
    small = tmp_path / "small.png"
    small.write_bytes(png_bytes(20, 10, 8, 0, [b"\x01" * 20] * 10))
    with pytest.raises(ImageReadError, match="limit of 100"):
        load_image(small, max_pixels=100)


def test_huge_dicom_header_refused_without_decoding(tmp_path, monkeypatch):
    p = write_us_dicom(tmp_path / "x.dcm", gradient())
    ds = pydicom.dcmread(p)
    ds.Rows, ds.Columns, ds.NumberOfFrames = 30000, 30000, 500
    ds.save_as(tmp_path / "huge.dcm", enforce_file_format=True)

    def no_decode(self):
        raise AssertionError("decoder called")

    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array", property(no_decode))
    with pytest.raises(ImageReadError, match="exceeds the limit"):
        load_image(tmp_path / "huge.dcm")


def test_suffix_mismatch_warns_and_loads_by_content(tmp_path):
    g = gradient()
    p = tmp_path / "really_png.jpg"
    ok, buf = cv2.imencode(".png", g)
    p.write_bytes(buf.tobytes())
    img = load_image(p)
    assert img.format == "png"
    assert any("content is a PNG image" in w for w in img.warnings)
    np.testing.assert_array_equal(img.frame(), g)


def test_no_frames_selected(tmp_path):
    p = tmp_path / "g.png"
    cv2.imwrite(str(p), gradient())
    with pytest.raises(ImageReadError, match="no frames selected"):
        load_image(p, frames=slice(1, None))


def test_source_files_unchanged_and_read_only(tmp_path):
    g = gradient()
    rgb, _ = rgb_with_calipers(g)
    paths = [tmp_path / "a.png", tmp_path / "b.jpg", tmp_path / "c.bmp", tmp_path / "d.tif"]
    cv2.imwrite(str(paths[0]), g)
    cv2.imwrite(str(paths[1]), rgb)
    cv2.imwrite(str(paths[2]), g)
    tifffile.imwrite(paths[3], np.stack([g, g]), photometric="minisblack")
    paths.append(
        write_us_dicom(
            tmp_path / "e.dcm", g, regions=[{"bounds": (0, 0, ROWS, COLS), "delta_cm": (0.03, 0.03)}]
        )
    )  # off-by-one: clipped, warned
    paths.append(write_us_dicom(tmp_path / "f.dcm", rgb, photometric="RGB", transfer_syntax="rle"))
    before = {}
    for p in paths:
        os.chmod(p, 0o444)
        before[p] = (sha256(p), p.stat().st_mtime_ns)
    with pytest.warns(UserWarning):
        loaded = [load_image(p) for p in paths]
    assert all(isinstance(i, Image) for i in loaded)
    for p in paths:
        assert (sha256(p), p.stat().st_mtime_ns) == before[p]


def test_supported_suffixes():
    assert images.SUPPORTED_SUFFIXES[:3] == (".png", ".jpg", ".jpeg")
    for s in (".bmp", ".tif", ".tiff", ".dcm"):
        assert s in images.SUPPORTED_SUFFIXES
