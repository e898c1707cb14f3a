"""mfscan.learn: the training set, augmentation, a tiny model, predict's merge, the missing extra."""

from __future__ import annotations

import hashlib
import json

import cv2
import numpy as np
import pytest

from mfscan.annotations import ROI, Annotation, read_sidecar, write_sidecar
from mfscan.calibration import manual
from mfscan.errors import MfscanError
from mfscan.learn.augment import AugmentParams, affine_matrix, augment, warp
from mfscan.learn.dataset import (
    Sample,
    build_dataset,
    resample_image,
    resample_labels,
    split_by_subject,
    to_float,
)
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


def test_split_keeps_the_same_pixels_on_one_side():
    # without subject codes each image is its own unit (its path): the same pixels traced by two
    # raters, or copied under two names, must still fall on one side (grouped by pixel hash)
    z = np.zeros((4, 4), np.float32)
    samples = []
    for i in range(10):
        digest = hashlib.sha256(f"image {i}".encode()).hexdigest()
        for copy in ("a", "b"):  # one image under two names (a copy), one tracing each
            samples.append(
                Sample(
                    z,
                    z.astype(np.uint8),
                    f"{copy}/img{i}.png",
                    f"{copy}/img{i}.R1.mfscan.json",
                    (1, 1),
                    source_image=f"{copy}/img{i}.png",
                    pixels_sha256=digest,
                    subject_given=False,
                )
            )
    for seed in range(10):
        train, val = split_by_subject(samples, val_fraction=0.3, seed=seed)
        assert not {s.pixels_sha256 for s in train} & {s.pixels_sha256 for s in val}
        assert len(val) == 6 and len(train) == 14  # 3 of the 10 images (30 %), both copies of each


def test_split_keeps_one_subject_for_training():
    z = np.zeros((4, 4), np.float32)
    samples = [
        Sample(z, z.astype(np.uint8), "S1", "a", (1, 1)),
        Sample(z, z.astype(np.uint8), "S2", "b", (1, 1)),
    ]
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


# ------------------------------------------------------------------ a tiny model

torch = pytest.importorskip("torch")  # the tests above run without the extra


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny model trained on 6 phantoms (a few seconds on an idle CPU), saved as a model folder."""
    from mfscan.learn.train import _reference, save_model, train_model

    train = [_sample(make_phantom(seed=i, **SMALL), f"S{i}") for i in range(6)]
    val = [_sample(make_phantom(seed=100 + i, **SMALL), f"V{i}") for i in range(2)]
    threads, rng_state = torch.get_num_threads(), torch.random.get_rng_state()
    res = train_model(
        train,
        val,
        epochs=6,
        steps_per_epoch=10,
        channels=(8, 16, 32),
        crop=(96, 128),
        batch_size=4,
        lr=1e-2,
        threads=1,
        patience=100,
    )
    state_kept = torch.get_num_threads() == threads and torch.equal(torch.random.get_rng_state(), rng_state)
    folder = tmp_path_factory.mktemp("model")
    reference = _reference(res.net, train, val, 4)  # 2 poolings: multiples of 4
    card = save_model(folder, res, {"mm_per_pixel": MM, "ood": reference})
    return folder, card, res, state_kept, train


def test_training_leaves_threads_and_random_state_as_they_were(tiny):
    assert tiny[3]


def test_tiny_model_beats_the_all_background_baseline(tiny):
    from mfscan.learn.predict import load_model, predict_probabilities

    model = load_model(tiny[0], device="cpu")
    dices = []
    for seed in (200, 201):  # phantoms never seen in training or validation
        ph = make_phantom(seed=seed, **SMALL)
        best = np.argmax(predict_probabilities(model, ph.image, spacing=ph.spacing_mm), axis=0)
        for side, value in (("left", 1), ("right", 2)):
            dices.append(_dice(best == value, ph.masks[side]))
    baseline = 0.0  # all background: no muscle pixel, Dice 2*0/(0 + |T|)
    assert np.mean(dices) > baseline + 0.15


def test_model_card_id_is_the_hash_of_the_weights(tiny):
    from mfscan.learn.card import read_card

    folder, card = tiny[0], tiny[1]
    data = (folder / "weights.pt").read_bytes()
    assert card["model_id"] == hashlib.sha256(data).hexdigest()[:12]
    assert read_card(folder)["model_id"] == card["model_id"]
    bad = folder.parent / "tampered"
    bad.mkdir()
    (bad / "model.json").write_text((folder / "model.json").read_text())
    (bad / "weights.pt").write_bytes(data + b"x")
    with pytest.raises(MfscanError, match="replaced or damaged"):
        read_card(bad)


def _muscle_pixel(tiny, ph):
    """``(row, col, class)``: a pixel the tiny model calls a muscle (1 left, 2 right), nearest a seed."""
    from mfscan.learn.predict import load_model, predict_probabilities

    best = np.argmax(predict_probabilities(load_model(tiny[0]), ph.image, spacing=ph.spacing_mm), axis=0)
    rr, cc = np.nonzero(best > 0)
    assert rr.size, "the tiny model finds no muscle"
    seeds = np.array([ph.seeds["left"], ph.seeds["right"]])
    d = np.min((rr[:, None] - seeds[None, :, 0]) ** 2 + (cc[:, None] - seeds[None, :, 1]) ** 2, axis=1)
    i = int(np.argmin(d))
    return int(rr[i]), int(cc[i]), int(best[rr[i], cc[i]])


def test_seed_picks_the_component_and_the_side_is_the_raters(tiny):
    from mfscan.learn.predict import load_model, predict_outlines

    ph = make_phantom(seed=200, **SMALL)
    r, c, value = _muscle_pixel(tiny, ph)
    other = "right" if value == 1 else "left"  # the model says the other side is here
    out = predict_outlines(load_model(tiny[0]), ph.image, spacing=ph.spacing_mm, seeds={other: (r, c)})
    assert list(out) == [other]  # the rater's side, whatever the class
    assert roi_mask(out[other].points, ph.image.shape)[r, c]  # the component under the seed
    none = predict_outlines(load_model(tiny[0]), ph.image, spacing=ph.spacing_mm, seeds={"left": (2, 2)})
    assert none == {}  # nothing under a seed in the skin


def test_predict_merges_into_an_existing_sidecar_without_loss(tiny, tmp_path, capsys):
    from mfscan.cli import main

    ph = make_phantom(seed=200, **SMALL)
    img = tmp_path / "scan.png"
    cv2.imwrite(str(img), ph.image)
    kept = [
        ROI("right", ph.outlines["right"], method="manual"),
        ROI("left", ph.outlines["left"], level="L5", method="manual", extra={"note": "other level"}),
    ]
    ann = Annotation(
        image="scan.png",
        subject="S07",
        visit="2",
        level="L4",
        rater="R1",
        calibration=manual(0.5),
        rois=kept,
        extra={"protocol": "B-mode 12 MHz"},  # a field mfscan does not know
    )
    sidecar = tmp_path / "scan.R1.mfscan.json"
    write_sidecar(sidecar, ann)
    r, c, _ = _muscle_pixel(tiny, ph)
    assert main(["predict", str(tiny[0]), str(img), "--rater", "R1", "--seed", f"left:{r},{c}"]) == 0
    after = read_sidecar(sidecar)
    assert (after.subject, after.visit, after.level, after.rater) == ("S07", "2", "L4", "R1")
    assert after.calibration == manual(0.5) and after.extra == {"protocol": "B-mode 12 MHz"}
    assert after.rois[:2] == kept  # the other outlines unchanged, in place
    new = after.rois[2]
    assert (new.side, new.method, new.level) == ("left", "model", None)
    assert new.extra["model"] == tiny[1]["model_id"]
    prop = json.loads(sidecar.read_text())["rois"][2]["proposal"]
    assert prop["method"] == "model" and prop["model"] == tiny[1]["model_id"]
    assert np.array_equal(np.array(prop["points"]), new.points)
    # a second prediction of the taken side is refused without --force; nothing changes
    before = sidecar.read_bytes()
    assert main(["predict", str(tiny[0]), str(img), "--rater", "R1", "--seed", f"left:{r},{c}"]) == 1
    assert "already has an outline for left (model)" in capsys.readouterr().err
    assert sidecar.read_bytes() == before


def test_train_command_writes_a_subject_split_model_card(tmp_path):
    from mfscan.cli import main

    _write_study(tmp_path / "study", [1, 2, 3, 4, 5, 6])  # 3 subjects of 2 images
    out = tmp_path / "m"
    rc = main(
        [
            "train",
            str(tmp_path / "study"),
            "-o",
            str(out),
            "--epochs",
            "1",
            "--mm-per-pixel",
            "1",
            "--val-fraction",
            "0.34",
            "--no-progress",
        ]
    )
    assert rc == 0
    card = json.loads((out / "model.json").read_text())
    assert card["model_id"] == hashlib.sha256((out / "weights.pt").read_bytes()).hexdigest()[:12]
    train, val = card["subjects"]["train"], card["subjects"]["val"]
    assert len(train) == 2 and len(val) == 1 and not set(train) & set(val)
    assert card["mm_per_pixel"] == 1.0 and card["data"]["n_train"] == 4 and card["data"]["n_val"] == 2
    assert card["software"]["torch"] == torch.__version__
    assert main(["train", str(tmp_path / "study"), "-o", str(out), "--epochs", "1"]) == 1  # no overwrite


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_predict_on_a_sidecar_of_lines_keeps_both_lines(tiny, tmp_path, force):
    from mfscan.cli import main

    ph = make_phantom(seed=200, **SMALL)
    img = tmp_path / "scan.png"
    cv2.imwrite(str(img), ph.image)
    fat, thick = [[2.0, 20.0], [9.0, 20.0]], [[40.0, 60.0], [25.0, 60.0]]
    lines = [ROI("left", fat, kind="fat"), ROI("right", thick, kind="thickness")]
    sidecar = tmp_path / "scan.R1.mfscan.json"
    write_sidecar(sidecar, Annotation(image="scan.png", rater="R1", calibration=manual(0.5), rois=lines))
    r, c, value = _muscle_pixel(tiny, ph)
    side = "left" if value == 1 else "right"
    assert (
        main(["predict", str(tiny[0]), str(img), "--rater", "R1", "--seed", f"{side}:{r},{c}", *force]) == 0
    )
    raw = json.loads(sidecar.read_text())["rois"]
    assert [(x["side"], x.get("kind", "outline")) for x in raw] == [
        ("left", "fat"),
        ("right", "thickness"),
        (side, "outline"),
    ]
    assert raw[0]["points"] == fat and raw[1]["points"] == thick and raw[2]["method"] == "model"


# ------------------------------------------------------------------ issue 21: OOD flags, predict options, card


def _other_scanner(seed=200):
    """A phantom of the same anatomy under another imaging chain (brighter, softer, low contrast)."""
    return make_phantom(seed=seed, gain=2.4, contrast=0.4, speckle=0.3, **SMALL)


def test_model_card_records_the_training_images_reference(tiny):
    ref, train = tiny[1]["ood"], tiny[4]
    assert ref["intensity"]["mean"][0] == pytest.approx(np.mean([s.image.mean() for s in train]), rel=1e-5)
    assert len(ref["embedding"]["mean"]) == 32  # one per bottleneck channel of (8, 16, 32)
    areas = [np.count_nonzero(s.labels == v) * MM * MM / 100 for s in train for v in (1, 2)]
    assert ref["csa_cm2"]["min"] == pytest.approx(min(areas)) and ref["csa_cm2"]["max"] == pytest.approx(
        max(areas)
    )
    # the phantom's convention: the patient's left on the image's right half (mfscan.synthetic.phantom)
    assert ref["side_half"] == {"left": "right", "right": "left"}
    assert 0.5 <= ref["confidence_floor"] <= 0.9


def test_images_of_another_scanner_are_out_of_distribution(tiny):
    from mfscan.learn.ood import intensity_features, ood_score

    grey_only = {"intensity": tiny[1]["ood"]["intensity"]}

    def score(ph):
        small = resample_image(to_float(ph.image), spacing=ph.spacing_mm, mm_per_pixel=MM)
        return ood_score(grey_only, intensity_features(small), None)

    for seed in (200, 201, 202):  # never seen in training
        assert score(make_phantom(seed=seed, **SMALL)) < 1 < score(_other_scanner(seed))


def test_a_flagged_prediction_is_flagged_in_the_sidecar_its_proposal_and_the_table(tiny, tmp_path, capsys):
    import pandas as pd

    from mfscan.cli import main

    ph = _other_scanner()
    img = tmp_path / "scan.png"
    cv2.imwrite(str(img), ph.image)
    rc = main(["predict", str(tiny[0]), str(img), "--rater", "R1", "--mm-per-pixel", "0.5"])
    assert rc == 0
    assert "FLAGGED" in capsys.readouterr().out
    raw = json.loads((tmp_path / "scan.R1.mfscan.json").read_text())
    assert raw["rois"], "the tiny model proposed nothing"
    for roi in raw["rois"]:
        assert "out-of-distribution" in roi["flags"] and roi["ood_score"] > 1
        assert roi["proposal"]["flags"] == roi["flags"]
    assert main(["measure", str(tmp_path), "-o", str(tmp_path / "m.csv")]) == 0
    table = pd.read_csv(tmp_path / "m.csv")
    assert all("out-of-distribution" in f.split(";") for f in table["proposal_flags"])


def test_predict_takes_a_typed_scale_as_propose_does_and_threads(tiny, tmp_path, capsys):
    from mfscan.cli import main

    ph = make_phantom(seed=200, **SMALL)
    img = tmp_path / "scan.png"
    cv2.imwrite(str(img), ph.image)  # a PNG: no calibration of its own
    r, c, _ = _muscle_pixel(tiny, ph)
    seed = ["--seed", f"left:{r},{c}"]
    assert main(["predict", str(tiny[0]), str(img), "--rater", "R1", *seed]) == 1
    assert "no calibration" in capsys.readouterr().err
    threads = torch.get_num_threads()
    cmd = [
        "predict",
        str(tiny[0]),
        str(img),
        "--rater",
        "R1",
        *seed,
        "--mm-per-pixel",
        "0.5",
        "--threads",
        "1",
    ]
    assert main(cmd) == 0
    assert torch.get_num_threads() == threads  # restored after
    ann = read_sidecar(tmp_path / "scan.R1.mfscan.json")
    assert ann.calibration == manual(0.5) and [r.side for r in ann.rois] == ["left"]
    # a typed scale that contradicts the sidecar's, whose outlines were measured with it: refused
    before = (tmp_path / "scan.R1.mfscan.json").read_bytes()
    cmd = [
        "predict",
        str(tiny[0]),
        str(img),
        "--rater",
        "R1",
        "--seed",
        f"right:{r},{c}",
        "--mm-per-pixel",
        "0.4",
    ]
    assert main(cmd) == 1
    assert "would change it" in capsys.readouterr().err
    assert (tmp_path / "scan.R1.mfscan.json").read_bytes() == before
    with pytest.raises(SystemExit) as e:  # argparse refuses
        main([*cmd[:-2], "--threads", "0"])
    assert e.value.code == 2 and "--threads must be a whole number" in capsys.readouterr().err


def test_train_refuses_tracings_without_subject_codes(tmp_path, capsys):
    from mfscan.cli import main

    _write_study(tmp_path / "study", [1, 2, 3])
    for sc in (tmp_path / "study").glob("S1_*.mfscan.json"):  # one subject's codes lost
        ann = read_sidecar(sc)
        ann.subject = None
        write_sidecar(sc, ann, force=True)
    args = [
        "train",
        str(tmp_path / "study"),
        "-o",
        str(tmp_path / "m"),
        "--epochs",
        "1",
        "--mm-per-pixel",
        "1",
    ]
    assert main([*args, "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "1 tracing(s) have no subject code (S1_2.R1.mfscan.json)" in err and not (tmp_path / "m").exists()


def test_model_card_lists_settings_images_raters_and_convention(tmp_path, capsys):
    from mfscan.annotations import write_study_settings
    from mfscan.cli import main

    phs = _write_study(tmp_path / "study", [1, 2, 3, 4])
    write_study_settings(tmp_path / "study", {"border": "centre"})
    for name in list(phs)[:2]:  # a second rater, second session, on two of the images
        ann = read_sidecar(tmp_path / "study" / name.replace(".png", ".R1.mfscan.json"))
        ann.rater, ann.session = "R2", "2"
        write_sidecar(tmp_path / "study" / name.replace(".png", ".R2.s2.mfscan.json"), ann)
    for sc in (tmp_path / "study").glob("S1_3.*.mfscan.json"):
        ann = read_sidecar(sc)
        ann.subject = None
        write_sidecar(sc, ann, force=True)
    out = tmp_path / "m"
    args = ["train", str(tmp_path / "study"), "-o", str(out), "--epochs", "1", "--mm-per-pixel", "1"]
    assert main([*args, "--no-progress", "--allow-missing-subjects", "--val-fraction", "0.3"]) == 0
    assert "warning: 1 tracing(s) without a subject code" in capsys.readouterr().err
    card = json.loads((out / "model.json").read_text())
    data, tr = card["data"], card["training"]
    assert data["n_images"] == 4 and data["n_tracings"] == 6  # images, not tracings
    assert data["raters"] == ["R1", "R2"] and data["rater_sessions"] == ["R1/1", "R2/2"]
    hashes = {
        r["image"]: r["pixels_sha256"] for r in data["images"]
    }  # each image's grey pixels as cv2 reads the PNG another program wrote
    for name in phs:
        gray = cv2.imread(str(tmp_path / "study" / name), cv2.IMREAD_UNCHANGED)
        assert hashes[name] == hashlib.sha256(np.ascontiguousarray(gray).tobytes()).hexdigest()
    assert {r["tracings"] for r in data["images"]} == {1, 2}
    assert tr["crop"] == [120, 160] and tr["batch_size"] == 8 and tr["lr"] == 5e-3 and tr["patience"] == 8
    assert tr["augmentation"]["max_angle_deg"] == 8.0 and tr["augmentation"]["left_right_flip"] is False
    assert card["border"] == "centre" and len(card["warnings"]) == 1
    assert set(card["ood"]) >= {"intensity", "embedding", "shape", "side_half", "confidence_floor"}


def test_predict_notes_a_model_of_another_tracing_convention(tiny, tmp_path, capsys):
    import shutil

    from mfscan.annotations import write_study_settings
    from mfscan.cli import main

    model = tmp_path / "model"
    shutil.copytree(tiny[0], model)
    card = json.loads((model / "model.json").read_text())
    (model / "model.json").write_text(json.dumps({**card, "border": "inner"}))
    study = tmp_path / "study"
    study.mkdir()
    write_study_settings(study, {"border": "centre"})
    ph = make_phantom(seed=200, **SMALL)
    cv2.imwrite(str(study / "scan.png"), ph.image)
    r, c, _ = _muscle_pixel(tiny, ph)
    cmd = ["predict", str(model), str(study / "scan.png"), "--seed", f"left:{r},{c}", "--mm-per-pixel", "0.5"]
    assert main(cmd) == 0
    out = capsys.readouterr().out
    assert "learnt outlines on the inner border of the fascia line, this study traces the centre" in out


def test_predict_refuses_a_typed_scale_that_disagrees_with_the_dicom_unless_overridden(
    tiny, tmp_path, capsys
):
    """predict takes --mm-per-pixel through propose's rule: > 1% from the file's own scale is refused."""
    from _pydicom_files import region_item, write_dicom

    from mfscan.cli import main

    ph = make_phantom(seed=201, **SMALL)  # 0.5 mm per pixel
    rows, cols = ph.image.shape
    dcm = write_dicom(
        tmp_path / "scan.dcm", ph.image, regions=[region_item((0, 0, rows - 1, cols - 1), (0.05, 0.05))]
    )
    r, c, value = _muscle_pixel(tiny, ph)
    side = "left" if value == 1 else "right"
    argv = [
        "predict",
        str(tiny[0]),
        str(dcm),
        "--rater",
        "R1",
        "--seed",
        f"{side}:{r},{c}",
        "--mm-per-pixel",
        "1.0",
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err
    # 1.0 typed over the region's 0.5 mm: 100% apart, areas 4x
    assert "100%" in err and "--override-calibration" in err
    assert not (tmp_path / "scan.R1.mfscan.json").exists()
    assert main([*argv, "--override-calibration"]) == 0
    cal = read_sidecar(tmp_path / "scan.R1.mfscan.json").calibration
    assert (cal.source, cal.row_mm, cal.details.get("overrides_image")) == ("manual", 1.0, True)


def test_a_second_rater_predicts_with_the_first_raters_scale_line(tiny, tmp_path, capsys):
    # issue 23: the sample image's only scale is R1's scale line (200 px = 50 mm); rater X
    # never drew one and types none: the image's scale serves X's prediction
    import shutil
    from pathlib import Path

    from mfscan.cli import main

    sample = Path(__file__).parents[1] / "sample_data" / "study" / "S01" / "visit1"
    for name in ("S01_V1_L4_1.png", "S01_V1_L4_1.R1.mfscan.json"):
        shutil.copy(sample / name, tmp_path)
    img = tmp_path / "S01_V1_L4_1.png"
    assert main(["predict", str(tiny[0]), str(img), "--rater", "X"]) == 0
    captured = capsys.readouterr()
    assert "no calibration" not in captured.err
    x = tmp_path / "S01_V1_L4_1.X.mfscan.json"
    assert f"-> {x}" in captured.out or f"{img.name}: nothing written" in captured.out
    if x.exists():  # the shared scale is the image's: not copied into X's sidecar
        assert read_sidecar(x).calibration is None or not read_sidecar(x).calibration.calibrated
