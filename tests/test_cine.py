"""Cine loops: one frame decoded without the others (info, measure, propose, the widget).

The cines are written by pydicom: JPEG baseline frames encoded one by one with
OpenCV and encapsulated (``pydicom.encaps.encapsulate``), RLE by pydicom's encoder,
JPEG 2000 by pylibjpeg-openjpeg, native pixel data as is. The reference for
"frame k" is pydicom's own decode of the whole file (``Dataset.pixel_array``).
Which frames were decoded is counted on :func:`mfscan.io.dicom._read_frame`.
"""

import json
import pickle

import cv2
import numpy as np
import pydicom
import pytest

import mfscan.io.dicom as dicom_io
from mfscan.cli.main import main
from mfscan.errors import ImageReadError
from mfscan.io.frames import FrameIndexError, FrameStack
from mfscan.io.images import load_image
from mfscan.synthetic.dicom import write_us_dicom

N = 120
REGION = {"bounds": (0, 0, 59, 79), "delta_cm": (0.02, 0.02)}


def speckle_cine(n=N, rows=60, cols=80, seed=0):
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.uniform(0, 255, (rows, cols + n)).astype(np.float32), (0, 0), 1.5)
    base = (base - base.min()) / np.ptp(base) * 255
    return np.stack([base[:, k : k + cols] for k in range(n)]).astype(np.uint8)  # a probe sweep


@pytest.fixture
def decoded(monkeypatch):
    """The frame numbers decoded, in order."""
    seen = []
    real = dicom_io._read_frame

    def spy(path, ds, k, n):
        seen.append(k)
        return real(path, ds, k, n)

    monkeypatch.setattr(dicom_io, "_read_frame", spy)
    return seen


@pytest.fixture(scope="module")
def jpeg_cine(tmp_path_factory):
    cine = speckle_cine()
    p = write_us_dicom(
        tmp_path_factory.mktemp("cine") / "cine.dcm", cine, transfer_syntax="jpeg-baseline", regions=[REGION]
    )
    return p, pydicom.dcmread(p).pixel_array


def test_the_jpeg_cine_is_encapsulated_frame_by_frame(jpeg_cine):
    p, full = jpeg_cine
    ds = pydicom.dcmread(p)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.50" and int(ds.NumberOfFrames) == N
    assert full.shape == (N, 60, 80)
    frags = list(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=N))
    assert len(frags) == N and all(f[:2] == b"\xff\xd8" for f in frags)  # one JPEG per frame


@pytest.mark.parametrize("k", [0, 1, 59, 60, 119, -1])
def test_frame_k_alone_equals_frame_k_of_the_full_decode(jpeg_cine, decoded, k):
    p, full = jpeg_cine
    img = load_image(p)
    assert isinstance(img.gray, FrameStack) and img.n_frames == N and img.gray.shape == (N, 60, 80)
    assert decoded == [0]  # the header and the first frame only
    np.testing.assert_array_equal(img.frame(k), full[k])
    assert set(decoded) == {0, k % N}
    one = load_image(p, frames=k % N)
    assert one.n_frames == 1
    np.testing.assert_array_equal(one.frame(0), full[k])


def test_slices_lists_and_the_whole_stack(jpeg_cine):
    p, full = jpeg_cine
    img = load_image(p)
    np.testing.assert_array_equal(img.gray[10:20:3], full[10:20:3])
    np.testing.assert_array_equal(img.gray[[5, 100]], full[[5, 100]])
    np.testing.assert_array_equal(img.gray[7, 3:9, 4], full[7, 3:9, 4])
    np.testing.assert_array_equal(np.asarray(img.gray), full)
    part = load_image(p, frames=[3, 90])
    np.testing.assert_array_equal(part.gray, full[[3, 90]])
    again = pickle.loads(pickle.dumps(img))
    np.testing.assert_array_equal(again.gray[42], full[42])


def test_frame_out_of_range_is_a_clear_error(jpeg_cine):
    p, _ = jpeg_cine
    img = load_image(p)
    with pytest.raises(
        FrameIndexError, match=r"frame 120 does not exist \(the image has 120 frame\(s\): 0-119\)"
    ):
        img.gray[120]
    with pytest.raises(IndexError):  # also an IndexError, as sequences raise
        img.overlay_frame(-121) if img.overlay is not None else img.frame(-121)
    with pytest.raises(ImageReadError, match="frame 200 does not exist"):
        load_image(p, frames=200)
    with pytest.raises(ImageReadError, match="frame 120 does not exist"):
        load_image(p, frames=[0, 120])


@pytest.mark.parametrize("ts", ["explicit-vr-little", "rle", "jpeg2000-lossless", "jpeg-lossless"])
def test_other_transfer_syntaxes_one_frame(tmp_path, decoded, ts):
    cine = speckle_cine(n=12, seed=1)
    p = write_us_dicom(tmp_path / "c.dcm", cine, transfer_syntax=ts)
    full = pydicom.dcmread(p).pixel_array
    np.testing.assert_array_equal(full, cine)  # lossless
    img = load_image(p)
    np.testing.assert_array_equal(img.frame(7), cine[7])
    assert set(decoded) == {0, 7}


def caliper_rgb_cine(n=10):
    g = speckle_cine(n=n, seed=2) // 2 + 40
    rgb = np.repeat(g[..., None], 3, axis=3)
    masks = np.zeros(g.shape, bool)
    for k in range(n):  # a yellow caliper moving one column per frame
        rgb[k, 20:40, 10 + 3 * k] = (255, 255, 0)
        masks[k, 20:40, 10 + 3 * k] = True
    return rgb, masks


@pytest.mark.parametrize(
    "photometric,ts", [("YBR_FULL_422", "jpeg-baseline"), ("YBR_FULL", "jpeg-baseline"), ("RGB", "rle")]
)
def test_colour_cine_rgb_and_overlay_per_frame(tmp_path, decoded, photometric, ts):
    rgb, masks = caliper_rgb_cine()
    p = write_us_dicom(tmp_path / "c.dcm", rgb, photometric=photometric, transfer_syntax=ts, quality=95)
    full_rgb = pydicom.dcmread(p).pixel_array  # YBR converted to RGB by pydicom
    img = load_image(p)
    assert img.color == ("rgb" if photometric == "RGB" else "ybr")
    np.testing.assert_array_equal(img.pixels[6], full_rgb[6])
    if ts == "rle":
        np.testing.assert_array_equal(img.pixels[6], rgb[6])
    ov = img.overlay_frame(6)
    assert set(decoded) == {0, 6}
    assert ov[22:38, 10 + 18].all()  # frame 6's caliper ...
    assert not ov[:, :25].any() and not ov[:, 32:].any()  # ... and nothing elsewhere
    if ts == "rle":
        np.testing.assert_array_equal(ov, masks[6])
    whole = load_image(p, frames=slice(None))  # everything decoded at once: the same per frame
    np.testing.assert_array_equal(whole.overlay[6], ov)
    np.testing.assert_array_equal(whole.gray[6], img.gray[6])


def test_info_reads_the_header_and_one_frame(jpeg_cine, decoded, capsys):
    p, _ = jpeg_cine
    assert main(["info", str(p), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["frames"] == N and d["shape"] == [60, 80] and d["calibrated"] and d["tint"] is None
    assert decoded == [0]


def test_propose_and_measure_decode_only_their_frame(tmp_path, decoded):
    from mfscan.annotations import read_sidecar
    from mfscan.synthetic.phantom import make_phantom

    ph = make_phantom(seed=11)
    frames = np.stack([np.roll(ph.image, k // 20, axis=1) for k in range(N)])  # a slow drift
    p = write_us_dicom(
        tmp_path / "cine.dcm",
        frames,
        transfer_syntax="jpeg-baseline",
        regions=[{"bounds": (0, 0, 599, 799), "delta_cm": (0.02, 0.02)}],
    )
    r, c = ph.seeds["left"]
    sidecar = tmp_path / "cine.mfscan.json"
    assert main(["propose", str(p), "--seed", f"left:{r},{c + 3}", "--frame", "60", "-o", str(sidecar)]) == 0
    assert sorted(set(decoded)) == [0, 60]
    (roi,) = read_sidecar(sidecar).rois
    assert roi.frame == 60
    decoded.clear()
    out = tmp_path / "m.csv"
    assert main(["measure", str(tmp_path), "-o", str(out), "--no-progress"]) == 0
    assert sorted(set(decoded)) == [0, 60]
    import pandas as pd

    df = pd.read_csv(out)
    assert list(df["frame"]) == [60]
    # the echo of frame 60 as decoded alone, by hand over the outline's pixels
    from mfscan.measure.outline import outline_mask

    full60 = pydicom.pixels.pixel_array(p, index=60)
    box, mask = outline_mask(np.asarray(roi.points), full60.shape)
    assert df["echo_mean"][0] == pytest.approx(full60[box][mask].mean(), abs=1e-6)
