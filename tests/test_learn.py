"""mfscan.learn: the training set, augmentation, a tiny model, predict's merge, the missing extra."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from mfscan.annotations import ROI, Annotation, read_sidecar, write_sidecar
from mfscan.calibration import manual
from mfscan.errors import MfscanError
from mfscan.learn.augment import AugmentParams, affine_matrix, augment, warp
from mfscan.learn.dataset import Sample, build_dataset, resample_image, resample_labels, split_by_subject
from mfscan.learn.dataset import to_float
from mfscan.measure.masks import label_image, roi_mask
from mfscan.synthetic.phantom import make_phantom

MM = 1.0  # the tiny model's scale (mm per pixel)
SMALL = dict(shape=(240, 320), spacing_mm=0.5, burned_in_text=False, ruler=False)


def _dice(a, b):
    return 2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def _write_study(folder, seeds, *, calibrated=True, per_subject=2):
    folder.mkdir(parents=True, exist_ok=True)
    phantoms = {}
    for i, seed in enumerate(seeds):
        ph = make_phantom(seed=seed, **SMALL)
        subject = f"S{i // per_subject}"
        name = f"{subject}_{i}.png"
        cv2.imwrite(str(folder / name), ph.image)
        ann = Annotation(
            image=name,
            subject=subject,
            rater="R1",
            calibration=manual(*ph.spacing_mm) if calibrated else None,
            rois=[ROI(s, ph.outlines[s]) for s in ("left", "right")],
        )
        write_sidecar(folder / f"{subject}_{i}.R1.mfscan.json", ann)
        phantoms[name] = ph
    return phantoms


def _sample(ph, subject="S"):
    return Sample(
        resample_image(to_float(ph.image), spacing=ph.spacing_mm, mm_per_pixel=MM),
        resample_labels(label_image(ph.masks), spacing=ph.spacing_mm, mm_per_pixel=MM),
        subject,
        subject,
        (MM, MM),
    )


# ------------------------------------------------------------------ the training set


def test_split_by_subject_never_puts_a_subject_on_both_sides():
    z = np.zeros((4, 4), np.float32)
    samples = [Sample(z, z.astype(np.uint8), f"S{i % 10}", f"f{i}", (1, 1)) for i in range(40)]
    for seed in range(5):
        train, val = split_by_subject(samples, val_fraction=0.2, seed=seed)
        tr, va = {s.subject for s in train}, {s.subject for s in val}
        assert not tr & va
        assert len(va) == 2 and len(tr) == 8  # 20 % of 10 subjects
        assert len(train) + len(val) == 40 and len(val) == 8  # 4 images per subject


def test_split_keeps_one_subject_for_training():
    z = np.zeros((4, 4), np.float32)
    samples = [Sample(z, z.astype(np.uint8), "S1", "a", (1, 1)), Sample(z, z.astype(np.uint8), "S2", "b", (1, 1))]
    train, val = split_by_subject(samples, val_fraction=0.9)
    assert len(train) == 1 and len(val) == 1 and train[0].subject != val[0].subject
    with pytest.raises(MfscanError):
        split_by_subject(samples, val_fraction=1.0)


def test_build_dataset_keeps_the_physical_scale_and_skips_uncalibrated(tmp_path):
    phs = _write_study(tmp_path / "study", [1, 2])
    _write_study(tmp_path / "study" / "nocal", [3], calibrated=False)
    samples, skipped = build_dataset([tmp_path / "study"], mm_per_pixel=MM)
    assert len(samples) == 2 and {s.subject for s in samples} == {"S0"}
    assert len(skipped) == 1 and "no calibration" in skipped[0]["reason"]
    for s in samples:
        ph = phs[s.source.replace(".R1.mfscan.json", ".png")]
        assert s.image.shape == (120, 160)  # 240 x 0.5 mm / 1 mm, 320 x 0.5 / 1
        for side, value in (("left", 1), ("right", 2)):
            area_cm2 = np.count_nonzero(s.labels == value) * MM * MM / 100
            assert area_cm2 == pytest.approx(ph.true_csa_cm2[side], rel=0.04)


def test_resample_labels_votes_by_share():
    labels = np.zeros((4, 4), np.uint8)
    labels[:3, :3] = 1  # 2x2 blocks: top-left all 1, top-right and bottom-left 2 of 4, bottom-right 1 of 4
    out = resample_labels(labels, spacing=(1, 1), mm_per_pixel=2)
    assert out.tolist() == [[1, 0], [0, 0]]  # ties go to the lower class (background)


# ------------------------------------------------------------------ augmentation


def test_warp_moves_the_mask_exactly_as_nearest_neighbour():
    ph = make_phantom(seed=5, **SMALL)
    labels = label_image(ph.masks)
    params = AugmentParams(angle_deg=6.0, shift=(5.0, -7.0))
    _, out = warp(None, labels, params)
    m = affine_matrix(labels.shape, params)  # forward map; invert it independently
    inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
    rr, cc = np.mgrid[: labels.shape[0], : labels.shape[1]]
    src = inv @ np.stack([rr.ravel(), cc.ravel(), np.ones(rr.size)])
    sr, sc = np.rint(src[0]).astype(int), np.rint(src[1]).astype(int)
    inside = (sr >= 0) & (sr < labels.shape[0]) & (sc >= 0) & (sc < labels.shape[1])
    expect = np.full(rr.size, 255, np.uint8)
    expect[inside] = labels[sr[inside], sc[inside]]
    expect = expect.reshape(labels.shape)
    for value in (1, 2):
        assert _dice(out == value, expect == value) == 1.0


def test_augmentation_keeps_image_and_mask_aligned_with_the_outline():
    ph = make_phantom(seed=5, **SMALL)
    labels = label_image(ph.masks)
    image = ph.masks["left"].astype(np.float32)  # an image whose bright shape is the left muscle
    params = AugmentParams(angle_deg=-7.0, shift=(3.0, 4.0), gain=1.0, speckle=0.0)
    img, lab = augment(image, labels, params, np.random.default_rng(0))
    m = affine_matrix(labels.shape, params)
    moved = ph.outlines["left"] @ m[:, :2].T + m[:, 2]  # the known outline, moved by the forward map
    truth = roi_mask(moved, labels.shape)
    assert _dice(lab == 1, truth) > 0.98  # staircase of the nearest-neighbour mask only
    assert _dice(img > 0.5, lab == 1) > 0.98  # image and mask moved alike
    assert np.array_equal(labels, label_image(ph.masks))  # input unchanged


def test_gain_and_speckle_touch_the_image_only():
    image = np.full((40, 50), 0.4, np.float32)
    labels = np.zeros((40, 50), np.uint8)
    labels[10:20, 10:30] = 2
    img, lab = augment(image, labels, AugmentParams(gain=1.5), np.random.default_rng(0))
    assert np.allclose(img, 0.6) and np.array_equal(lab, labels)
    img, lab = augment(image, labels, AugmentParams(speckle=0.2), np.random.default_rng(0))
    assert 0.01 < float(np.std(img)) < 0.2 and np.array_equal(lab, labels)
