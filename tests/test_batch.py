"""Measuring annotated images end to end: phantoms, DICOM regions, overlays, parallel runs."""

import json

import cv2
import numpy as np
import pandas as pd
import pytest
from skimage.draw import polygon as sk_polygon

from mfscan.annotations import ROI, Annotation, sidecar_path, write_sidecar
from mfscan.calibration import manual
from mfscan.io.files import file_sha256
from mfscan.measure.batch import discover, measure_jobs, measure_paths
from mfscan.synthetic.dicom import write_us_dicom
from mfscan.synthetic.export import make_rgb_export
from mfscan.synthetic.phantom import make_phantom


def shoelace_cm2(points, row_mm, col_mm):
    r, c = points[:, 0] * row_mm, points[:, 1] * col_mm
    return abs(np.sum(r * np.roll(c, -1) - c * np.roll(r, -1))) / 2 / 100


def centre_mask(points, shape):
    m = np.zeros(shape, bool)
    rr, cc = sk_polygon(points[:, 0], points[:, 1], shape=shape)
    m[rr, cc] = True
    return m


@pytest.fixture
def phantom_png(tmp_path):
    ph = make_phantom(seed=11, shape=(480, 640), spacing_mm=0.25, left_csa_cm2=7.5, asymmetry_pct=15)
    img = tmp_path / "scan.png"
    cv2.imwrite(str(img), ph.image)
    ann = Annotation(
        "scan.png",
        [ROI(s, ph.outlines[s]) for s in ("left", "right")],
        calibration=manual(0.25),
        subject="P01",
        visit="2",
        level="L5",
        rater="R1",
    )
    write_sidecar(sidecar_path(img, "R1"), ann)
    return ph, img


def test_phantom_outlines_measure_to_known_area_and_echo(phantom_png, tmp_path):
    ph, img = phantom_png
    res = measure_paths([tmp_path], workers=1, progress=False)
    assert res.errors.empty
    m = res.measurements.set_index("side")
    for side in ("left", "right"):
        assert m.loc[side, "csa_cm2"] == pytest.approx(ph.true_csa_cm2[side], rel=1e-9)
        mask = centre_mask(ph.outlines[side], ph.image.shape)
        assert m.loc[side, "echo_mean"] == pytest.approx(ph.image[mask].mean(), rel=1e-9)
        assert m.loc[side, "echo_sd"] == pytest.approx(ph.image[mask].std(), rel=1e-6)
        assert m.loc[side, "n_pixels"] == mask.sum()
        rows = ph.outlines[side][:, 0]
        assert m.loc[side, "ap_depth_cm"] == pytest.approx((rows.max() - rows.min()) * 0.025, rel=1e-12)
    assert m.loc["left", "csa_cm2"] == pytest.approx(7.5, rel=1e-9)
    assert m.loc["right", "csa_cm2"] == pytest.approx(7.5 * 0.85, rel=1e-9)
    row = res.measurements.iloc[0]
    assert (row.subject, row.visit, row.level, row.rater, row.calibration) == (
        "P01",
        "2",
        "L5",
        "R1",
        "manual",
    )
    assert row.image == "scan.png" and row.sidecar == "scan.R1.mfscan.json"
    assert str(res.measurements["side"].dtype) == "category"
    assert list(res.measurements["level"].cat.categories) == ["L1", "L2", "L3", "L4", "L5", "S1"]


def test_uncalibrated_png_gives_pixels_only(tmp_path):
    ph = make_phantom(seed=2, shape=(480, 640), spacing_mm=0.25)
    cv2.imwrite(str(tmp_path / "u.png"), ph.image)
    write_sidecar(tmp_path / "u.mfscan.json", Annotation("u.png", [ROI("left", ph.outlines["left"])]))
    res = measure_paths([tmp_path], workers=1, progress=False)
    r = res.measurements.iloc[0]
    assert r.calibration == "none" and np.isnan(r.csa_cm2) and np.isnan(r.row_mm)
    assert r.csa_px2 == pytest.approx(ph.true_csa_cm2["left"] * 100 / 0.25**2, rel=1e-9)
    assert res.n_uncalibrated == 1


def test_split_screen_dicom_measures_each_outline_with_its_region(tmp_path):
    # Two tissue regions side by side with different scales (0.30 and 0.20 mm/px).
    img = np.full((400, 800), 60, np.uint8)
    write_us_dicom(
        tmp_path / "split.dcm",
        img,
        regions=[
            {
                "bounds": (0, 0, 399, 399),
                "delta_cm": (0.030, 0.030),
                "units": (3, 3),
                "spatial_format": 1,
                "data_type": 1,
            },
            {
                "bounds": (0, 400, 399, 799),
                "delta_cm": (0.020, 0.025),
                "units": (3, 3),
                "spatial_format": 1,
                "data_type": 1,
            },
        ],
    )
    sq_right_image = np.array([[100, 500], [100, 600], [200, 600], [200, 500]], float)  # 100 x 100 px
    sq_left_image = sq_right_image - [0, 400]
    crossing = np.array([[100, 350], [100, 450], [200, 450], [200, 350]], float)
    write_sidecar(
        tmp_path / "split.mfscan.json",
        Annotation(
            "split.dcm",
            [ROI("right", sq_left_image), ROI("left", sq_right_image), ROI("left", crossing, level="L5")],
            level="L4",
        ),
    )
    res = measure_paths([tmp_path], workers=1, progress=False)
    m = res.measurements.set_index("roi")
    assert m.loc[0, "csa_cm2"] == pytest.approx(100 * 100 * 0.3 * 0.3 / 100)
    assert (m.loc[0, "row_mm"], m.loc[0, "col_mm"], m.loc[0, "region"]) == (
        pytest.approx(0.3),
        pytest.approx(0.3),
        0,
    )
    assert m.loc[1, "csa_cm2"] == pytest.approx(100 * 100 * 0.2 * 0.25 / 100)
    assert (m.loc[1, "row_mm"], m.loc[1, "col_mm"], m.loc[1, "region"]) == (
        pytest.approx(0.2),
        pytest.approx(0.25),
        1,
    )
    assert m.loc[1, "ap_depth_cm"] == pytest.approx(2.0) and m.loc[1, "lateral_width_cm"] == pytest.approx(
        2.5
    )
    assert list(res.errors["roi"]) == [2]
    assert "crosses from ultrasound region 0 into region 1" in res.errors["reason"].iloc[0]
    assert res.images["calibration"].iloc[0] == "dicom-region" and res.images["n_regions"].iloc[0] == 2


def test_sidecar_scale_line_overrides_dicom_and_frames(tmp_path):
    frames = np.stack([np.full((200, 300), 10 * (i + 1), np.uint8) for i in range(4)])
    write_us_dicom(
        tmp_path / "cine.dcm",
        frames,
        transfer_syntax="rle",
        regions=[
            {
                "bounds": (0, 0, 199, 299),
                "delta_cm": (0.02, 0.02),
                "units": (3, 3),
                "spatial_format": 1,
                "data_type": 1,
            }
        ],
    )
    sq = np.array([[50, 50], [50, 100], [100, 100], [100, 50]], float)
    write_sidecar(
        tmp_path / "cine.mfscan.json",
        Annotation("cine.dcm", [ROI("left", sq, frame=2), ROI("right", sq + [0, 100], frame=0)]),
    )
    write_sidecar(
        tmp_path / "cine.R2.mfscan.json",
        Annotation(
            "cine.dcm",
            [ROI("left", sq, frame=7), ROI("left", sq, frame=3)],
            rater="R2",
            calibration=manual(0.5),
        ),
    )
    res = measure_paths([tmp_path], workers=1, progress=False)
    m = res.measurements
    dicom = m[m.rater.isna()].set_index("roi")
    assert dicom.loc[0, "echo_mean"] == 30.0 and dicom.loc[1, "echo_mean"] == 10.0
    assert dicom.loc[0, "csa_cm2"] == pytest.approx(50 * 50 * 0.2 * 0.2 / 100)
    assert set(dicom["calibration"]) == {"dicom-region"}
    r2 = m[m.rater == "R2"].iloc[0]
    assert (r2.calibration, r2.row_mm, r2.frame, r2.echo_mean) == ("manual", 0.5, 3, 40.0)
    assert r2.csa_cm2 == pytest.approx(50 * 50 * 0.5 * 0.5 / 100)
    assert "frame 7 does not exist; the image has 4 frame(s)" in res.errors["reason"].iloc[0]


def test_rgb_export_excludes_caliper_pixels_from_echo(tmp_path):
    ph = make_phantom(seed=5, shape=(480, 640), spacing_mm=0.25, caliper_overlay=False)
    rgb = make_rgb_export(ph, calipers=True, seed=1)
    cv2.imwrite(str(tmp_path / "rgb.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    write_sidecar(
        tmp_path / "rgb.mfscan.json",
        Annotation("rgb.png", [ROI("left", ph.outlines["left"])], calibration=manual(0.25)),
    )
    res = measure_paths([tmp_path], workers=1, progress=False)
    colored = rgb.max(axis=2).astype(int) - rgb.min(axis=2) > 40
    mask = centre_mask(ph.outlines["left"], ph.image.shape)
    assert (mask & colored).sum() > 0, "the test needs caliper pixels inside the outline"
    expected = ph.image[mask & ~colored].mean()
    assert res.measurements["echo_mean"].iloc[0] == pytest.approx(expected, rel=1e-9)
    assert res.measurements["n_pixels"].iloc[0] == (mask & ~colored).sum()


def test_checksum_mismatch_and_missing_image_reported_others_go_on(phantom_png, tmp_path):
    ph, img = phantom_png
    ann = Annotation("scan.png", [ROI("left", ph.outlines["left"])], rater="R9", image_sha256="0" * 64)
    write_sidecar(sidecar_path(img, "R9"), ann)
    ok = Annotation("scan.png", [ROI("left", ph.outlines["left"])], rater="R3", image_sha256=file_sha256(img))
    write_sidecar(sidecar_path(img, "R3"), ok)
    (tmp_path / "lost.mfscan.json").write_text(
        json.dumps({"format": "mfscan.annotation", "version": 1, "image": "lost.png", "rois": []})
    )
    res = measure_paths([tmp_path], workers=1, progress=False)
    assert sorted(res.measurements["rater"].unique()) == ["R1", "R3"]
    reasons = dict(zip(res.errors["path"], res.errors["reason"]))
    assert "checksum does not match" in reasons["scan.R9.mfscan.json"]
    assert "'lost.png' named by the sidecar is missing" in reasons["lost.mfscan.json"]


def test_discovery_pairs_sidecars_with_the_right_image(tmp_path):
    for name in ("a.png", "a.dcm", "b.png"):
        (tmp_path / name).write_bytes(b"x")
    for sc, image in (
        ("a.R1.mfscan.json", "a.dcm"),
        ("a.mfscan.json", "a.png"),
        ("b.R2.mfscan.json", "b.png"),
    ):
        (tmp_path / sc).write_text(json.dumps({"format": "mfscan.annotation", "version": 1, "image": image}))
    jobs, errors = discover([tmp_path])
    got = {j.image.name: [s.name for s in j.sidecars] for j in jobs}
    assert got == {"a.dcm": ["a.R1.mfscan.json"], "a.png": ["a.mfscan.json"], "b.png": ["b.R2.mfscan.json"]}
    assert errors == []


def _study(tmp_path, n=24):
    base = make_phantom(seed=0, shape=(240, 320), spacing_mm=0.5)
    for i in range(n):
        p = tmp_path / f"img{i:02d}.png"
        cv2.imwrite(str(p), np.roll(base.image, i, axis=1))
        write_sidecar(
            sidecar_path(p),
            Annotation(
                p.name,
                [ROI(s, base.outlines[s] + [0, i]) for s in ("left", "right")],
                calibration=manual(0.5),
                subject=f"S{i % 4}",
                visit="1",
                level="L4",
            ),
        )
    return tmp_path


def test_parallel_and_dask_runs_equal_the_serial_run(tmp_path):
    from distributed import LocalCluster

    root = _study(tmp_path)
    jobs, _ = discover([root])
    serial = measure_jobs(jobs, workers=1, progress=False, label_root=root, chunk_size=4)
    parallel = measure_jobs(jobs, workers=2, progress=False, label_root=root, chunk_size=4)
    pd.testing.assert_frame_equal(serial.measurements, parallel.measurements)
    with LocalCluster(
        n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None, processes=True
    ) as cluster:
        remote = measure_jobs(
            jobs, scheduler=cluster.scheduler_address, progress=False, label_root=root, chunk_size=4
        )
    pd.testing.assert_frame_equal(serial.measurements, remote.measurements)
    assert len(serial.measurements) == 48


def test_backup_copies_of_a_sidecar_are_not_counted_twice(phantom_png, tmp_path):
    ph, img = phantom_png
    original = tmp_path / "scan.R1.mfscan.json"
    (tmp_path / "scan.R1_backup.mfscan.json").write_bytes(original.read_bytes())
    (tmp_path / "scan.R1 (copy).mfscan.json").write_bytes(original.read_bytes())
    res = measure_paths([tmp_path], workers=1, progress=False)
    assert len(res.measurements) == 2 and set(res.measurements["sidecar"]) == {"scan.R1.mfscan.json"}
    assert sorted(res.errors["path"]) == ["scan.R1 (copy).mfscan.json", "scan.R1_backup.mfscan.json"]
    assert res.errors["reason"].str.contains("same rater R1 \\(scan.R1.mfscan.json\\)").all()


def test_dicom_without_suffix_is_found_in_folders(tmp_path):
    img = np.full((200, 300), 60, np.uint8)
    p = write_us_dicom(
        tmp_path / "x.dcm",
        img,
        regions=[
            {
                "bounds": (0, 0, 199, 299),
                "delta_cm": (0.02, 0.02),
                "units": (3, 3),
                "spatial_format": 1,
                "data_type": 1,
            }
        ],
    )
    bare = p.rename(tmp_path / "IM0001")
    (tmp_path / "README").write_text("not an image\n")
    write_sidecar(
        tmp_path / "IM0001.R1.mfscan.json",
        Annotation("IM0001", [ROI("left", [[50, 50], [50, 100], [100, 100], [100, 50]])], rater="R1"),
    )
    res = measure_paths([tmp_path], workers=1, progress=False)
    assert res.errors.empty
    assert res.measurements["image"].tolist() == ["IM0001"]
    assert res.measurements["csa_cm2"].iloc[0] == pytest.approx(50 * 50 * 0.2 * 0.2 / 100)
    assert bare.exists()


def test_measuring_leaves_the_switch_interval_alone(tmp_path, monkeypatch):
    """No process-wide setting changes: the switch interval is the caller's, during and after."""
    import sys

    import mfscan.measure.annotation as batch  # where measure_outline is called

    root = _study(tmp_path)
    before = sys.getswitchinterval()
    calls, during = [], []
    monkeypatch.setattr(sys, "setswitchinterval", lambda *a: calls.append(a))
    real = batch.measure_outline

    def spy(*a, **k):
        during.append(sys.getswitchinterval())
        return real(*a, **k)

    monkeypatch.setattr(batch, "measure_outline", spy)
    res = measure_paths([root], workers=1, progress=False, chunk_size=5)
    assert calls == []
    assert len(during) == len(res.measurements) == 48 and set(during) == {before}
    assert sys.getswitchinterval() == before


def test_images_decoded_ahead_keep_their_order_and_errors(tmp_path):
    """Decoding ahead of measuring: rows come in discovery order, a bad image costs its own rows only."""
    root = _study(tmp_path)
    jobs, _ = discover([root])
    (root / "img03.png").write_bytes((root / "img03.png").read_bytes()[:300])  # truncated
    res = measure_jobs(jobs, workers=1, progress=False, label_root=root, chunk_size=5)
    expected = [f"img{i:02d}.png" for i in range(24) if i != 3]
    assert res.measurements["image"].tolist() == [name for name in expected for _ in range(2)]
    assert res.measurements["side"].tolist() == ["left", "right"] * 23
    assert res.measurements["csa_cm2"].notna().all() and len(res.measurements) == 46
    assert res.errors["path"].tolist() == ["img03.png"]
    assert "truncated PNG image" in res.errors["reason"].iloc[0]


def test_qc_overlay_draws_each_side_in_the_study_palette():
    """The QC overlay's side colours are the one palette of mfscan.vocab (#56B4E9 left, #E69F00 right)."""
    from mfscan.measure.qc import render_qc

    img = np.zeros((200, 300), np.uint8)
    square = np.array([[50, 30], [50, 120], [150, 120], [150, 30]], float)
    out = render_qc(
        img,
        [
            {"side": "left", "points": square, "label": "L"},
            {"side": "right", "points": square + [0, 150], "label": "R"},
        ],
    )
    body = out[-200:]  # below the caption band
    for colour, cols in (((0x56, 0xB4, 0xE9), range(0, 150)), ((0xE6, 0x9F, 0x00), range(150, 300))):
        ys, xs = np.nonzero((body == colour).all(axis=-1))
        assert len(xs) > 0 and set(xs) <= set(cols), colour


def test_last_chunks_shrink_so_no_worker_is_left_alone_with_a_long_one():
    """300 images, chunks of at most 16, 2 workers: 15 chunks of 16 (240 images, while at least
    64 are left), then each chunk at most a quarter of what is left, at least 2, in order."""
    from types import SimpleNamespace

    from mfscan.measure.batch import _chunks

    jobs = [SimpleNamespace(image=f"{i}.png", read=None, sidecars=[f"{i}.json"]) for i in range(300)]
    chunks = list(_chunks(jobs, 16, 2))
    sizes = [len(c) for c in chunks]
    assert sizes == [16] * 15 + [15, 11, 8, 6, 5, 3, 3, 2, 2, 2, 2, 1]  # 60 // 4 = 15, 45 // 4 = 11, ...
    assert [image for c in chunks for image, _ in c] == [f"{i}.png" for i in range(300)]
    assert [len(c) for c in _chunks(jobs, 16)] == [16] * 18 + [12]  # one process: plain chunks
