"""Benchmark: a model trained on phantoms (mfscan train's pipeline) against the classical proposal.

Writes 60 phantoms of varied shape (image size, CSA, asymmetry), scale
(0.15-0.3 mm/px), gain (0.6-1.4), speckle, contrast, septum visibility and
sector as a study (PNG + R1 sidecars with a manual calibration; 3 images per
subject, so 20 subjects) in ``benchmarks/_work/learn_study``, trains with
:func:`mfscan.learn.train.train` (subject-split validation, 2 torch threads),
then proposes both muscles on 30 phantoms drawn from seeds never used in
training, with

* ``model``: :func:`mfscan.learn.predict.predict_outlines` without seeds (both sides found by the model);
* ``model+seed``: the same with the phantom's seed points (the component under the seed);
* ``classical``: :func:`mfscan.assist.propose.propose_outline` from the same seeds.

Per image and side: Dice against the phantom's true mask (pixel-centre rule),
CSA error (%) against the true CSA, seconds per image (both sides). Prints
median Dice, 10th percentile Dice, median |CSA error|, median seconds per image,
and the training time. Rows go to ``benchmarks/_work/learn_results.csv``.

Targets (issue 14): median Dice >= 0.95, P10 >= 0.92, < 0.2 s per image on a CPU.
Timings are on a shared 2-core machine: noisy.

Usage::

    python benchmarks/bench_learn.py [--epochs 30] [--steps 16] [--mm-per-pixel 0.6] [--crop 128 160] [--n-train 60] [--n-test 30]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from mfscan.synthetic.phantom import make_phantom

WORK = Path(__file__).parent / "_work"
SHAPES = [(600, 800), (480, 640), (768, 1024), (800, 600)]
SIDES = ("left", "right")


def draw_cases(n, first_seed, rng):
    cases, i = [], 0
    while len(cases) < n:
        i += 1
        kw = dict(
            seed=first_seed + i,
            shape=SHAPES[len(cases) % len(SHAPES)],
            spacing_mm=float(rng.uniform(0.15, 0.3)),
            left_csa_cm2=float(rng.uniform(4.0, 10.0)),
            asymmetry_pct=float(rng.uniform(0, 30)),
            smaller_side=str(rng.choice(list(SIDES))),
            speckle=float(rng.uniform(0.5, 1.0)),
            contrast=float(rng.uniform(0.6, 1.4)),
            lateral_contrast=float(rng.uniform(0.3, 1.0)),
            gain=float(rng.uniform(0.6, 1.4)),
            shape_jitter=float(rng.uniform(0.5, 1.5)),
            sector="curved" if rng.random() < 0.4 else "linear",
        )
        try:
            cases.append(make_phantom(**kw))
        except ValueError:
            continue
    return cases


def write_study(cases, folder: Path, per_subject: int = 3) -> None:
    from mfscan.annotations import ROI, Annotation, write_sidecar
    from mfscan.calibration import manual

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for i, ph in enumerate(cases):
        subject = f"P{i // per_subject:02d}"
        name = f"{subject}_{i:03d}.png"
        cv2.imwrite(str(folder / name), ph.image)
        ann = Annotation(
            image=name,
            subject=subject,
            rater="R1",
            calibration=manual(*ph.spacing_mm),
            rois=[ROI(s, ph.outlines[s]) for s in SIDES],
        )
        write_sidecar(folder / f"{subject}_{i:03d}.R1.mfscan.json", ann)


def score(points, ph, side):
    from mfscan.geometry import polygon_area
    from mfscan.measure.masks import roi_mask

    pred = roi_mask(points, ph.image.shape)
    truth = ph.masks[side]
    dice = 2 * np.count_nonzero(pred & truth) / (np.count_nonzero(pred) + np.count_nonzero(truth))
    csa = polygon_area(points, spacing=ph.spacing_mm) / 100.0
    return dice, (csa - ph.true_csa_cm2[side]) / ph.true_csa_cm2[side] * 100


def evaluate(model, tests, threads: int) -> pd.DataFrame:
    from mfscan.assist.propose import propose_outline
    from mfscan.learn._torch import torch_threads
    from mfscan.learn.predict import predict_outlines

    rows = []
    with torch_threads(threads):
        predict_outlines(model, tests[0].image, spacing=tests[0].spacing_mm)  # warm-up
        for j, ph in enumerate(tests):
            for method in ("model", "model+seed", "classical"):
                t0 = time.perf_counter()
                if method == "classical":
                    found = {}
                    for s in SIDES:
                        try:
                            found[s] = propose_outline(
                                ph.image, ph.seeds[s], spacing=ph.spacing_mm, side=s
                            ).points
                        except Exception:  # a failed proposal scores Dice 0
                            pass
                else:
                    seeds = dict(ph.seeds) if method == "model+seed" else None
                    out = predict_outlines(model, ph.image, spacing=ph.spacing_mm, seeds=seeds)
                    found = {s: o.points for s, o in out.items()}
                sec = time.perf_counter() - t0
                for s in SIDES:
                    dice, err = score(found[s], ph, s) if s in found else (0.0, -100.0)
                    rows.append(
                        {
                            "case": j,
                            "method": method,
                            "side": s,
                            "dice": dice,
                            "csa_error_pct": err,
                            "seconds_per_image": sec,
                        }
                    )
    return pd.DataFrame(rows)


def train_timed(study: Path, model_dir: Path, args, **options):
    """Train a model on ``study`` into ``model_dir`` (replaced) with the command line's
    ``--epochs``, ``--steps``, ``--batch``, ``--crop`` and ``--threads``; ``options`` go to
    :func:`mfscan.learn.train.train`. Returns ``(card, skipped, seconds)``."""
    from mfscan.learn.train import train

    t0 = time.perf_counter()
    card, skipped = train(
        [study],
        model_dir,
        epochs=args.epochs,
        steps_per_epoch=args.steps,
        batch_size=args.batch,
        crop=tuple(args.crop),
        force=True,
        threads=args.threads,
        **options,
    )
    return card, skipped, time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=60)
    ap.add_argument("--n-test", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--steps", type=int, default=16, help="optimisation steps per epoch")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=5e-3, help="peak learning rate (one-cycle)")
    ap.add_argument("--mm-per-pixel", type=float, default=0.6, help="the network's input scale")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--crop", type=int, nargs=2, default=(128, 160), metavar=("ROWS", "COLS"))
    ap.add_argument("--patience", type=int, default=30)
    args = ap.parse_args(argv)

    from mfscan.learn.predict import load_model

    rng = np.random.default_rng(0)
    train_cases = draw_cases(args.n_train, 1000, rng)
    tests = draw_cases(args.n_test, 50_000, rng)  # seeds never used in training
    study, model_dir = WORK / "learn_study", WORK / "learn_model"
    write_study(train_cases, study)
    card, skipped, train_s = train_timed(
        study,
        model_dir,
        args,
        lr=args.lr,
        mm_per_pixel=args.mm_per_pixel,
        progress=True,
        patience=args.patience,
    )
    tr = card["training"]
    print(
        f"training: {card['data']['n_train']} images ({len(card['subjects']['train'])} subjects), "
        f"validation {card['data']['n_val']} images ({len(card['subjects']['val'])} subjects, none in training); "
        f"{tr['epochs_run']} epochs x {args.steps} steps x batch {args.batch} (best {tr['best_epoch']}), "
        f"{args.mm_per_pixel} mm/px, crop {tuple(args.crop)}, peak lr {args.lr}; {train_s:.0f} s on {args.threads} threads; "
        f"validation Dice {card['validation']['dice']}, median |CSA error| "
        f"{card['validation']['csa_error_pct_median']} %; model {card['model_id']}; skipped {len(skipped)}"
    )
    model = load_model(model_dir, device="cpu")
    df = evaluate(model, tests, args.threads)
    df.to_csv(WORK / "learn_results.csv", index=False)
    print(
        f"\nheld-out phantoms: {args.n_test} images, {2 * args.n_test} muscles (targets: median Dice >= 0.95, "
        "P10 >= 0.92, < 0.2 s per image)"
    )
    print(f"{'method':<12} {'median Dice':>11} {'P10 Dice':>9} {'median |CSA err| %':>19} {'s/image':>8}")
    for method, g in df.groupby("method", sort=False):
        per_image = g.groupby("case")["seconds_per_image"].first()
        print(
            f"{method:<12} {g.dice.median():>11.3f} {g.dice.quantile(0.1):>9.3f} "
            f"{g.csa_error_pct.abs().median():>19.1f} {per_image.median():>8.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
