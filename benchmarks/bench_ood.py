"""Benchmark: does the learned model flag the predictions it gets wrong, on images unlike its training set?

A small model is trained (``mfscan train``'s pipeline, subject-split validation) on
transverse phantoms (:func:`mfscan.synthetic.phantom.make_phantom`, as in
``bench_learn.py``), then predicts both muscles without seeds on three families:

* ``phantom``: held-out transverse phantoms drawn like the training set (in family);
* ``phantom-scanner``: the same generator under another imaging chain: gain 1.8-2.6,
  contrast 0.3-0.5, speckle 0.2-0.4, then a Gaussian blur (sigma 1.5-3 px) and a gamma
  of 0.5 (a softer, brighter scanner and preset than any training image);
* ``parasagittal``: images of the project's other generator
  (:func:`mfscan.synthetic.parasagittal.make_parasagittal`, the RUSI view): no
  transverse multifidus in them, so every outline predicted there is wrong (Dice 0).

Per predicted outline: Dice against the true mask (0 when the truth has none), and its
flags (:func:`mfscan.learn.ood.prediction_flags`). Prints, per family and overall, the
number of predictions, the share with Dice < 0.8, the share of those flagged (target
>= 90 % across families) and the share of good predictions (Dice >= 0.8) flagged in
family (false flags, target <= 10 %), the OOD scores' range, and how often each flag
fires. Rows go to ``benchmarks/_work/ood_results.csv``.

Training is kept small (2 shared cores): defaults 36 phantoms of 12 subjects, 15
epochs x 10 steps x batch 4, crop 96 x 128, 0.6 mm/px, 1 thread (a few minutes).

Usage::

    python benchmarks/bench_ood.py [--n-train 36] [--n-test 30] [--epochs 15] [--steps 10] [--seed 1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from bench_learn import WORK, draw_cases, train_timed, write_study  # noqa: E402

SIDES = ("left", "right")


def other_scanner(n: int, rng, first: int = 70_000) -> list:
    """Transverse phantoms under another imaging chain: ``(image, spacing, masks)``."""
    from mfscan.synthetic.phantom import make_phantom

    out, i = [], 0
    while len(out) < n:
        i += 1
        try:
            ph = make_phantom(
                seed=first + i,
                shape=(480, 640),
                spacing_mm=float(rng.uniform(0.15, 0.3)),
                gain=float(rng.uniform(1.8, 2.6)),
                contrast=float(rng.uniform(0.3, 0.5)),
                speckle=float(rng.uniform(0.2, 0.4)),
            )
        except ValueError:
            continue
        img = cv2.GaussianBlur(ph.image.astype(np.float32), (0, 0), float(rng.uniform(1.5, 3.0)))
        img = (255 * (img / 255.0) ** 0.5).clip(0, 255).astype(np.uint8)
        out.append((img, ph.spacing_mm, ph.masks))
    return out


def parasagittal(n: int, rng, first: int = 80_000) -> list:
    """RUSI-view images of the other generator: no transverse muscle (empty masks)."""
    from mfscan.synthetic.parasagittal import make_parasagittal

    out = []
    for i in range(n):
        ph = make_parasagittal(
            seed=first + i,
            shape=(int(rng.integers(300, 480)), int(rng.integers(320, 640))),
            spacing_mm=float(rng.uniform(0.2, 0.3)),
            thickness_cm=float(rng.uniform(2.5, 3.2)),
            fat_cm=float(rng.uniform(0.5, 1.2)),
            gain=float(rng.uniform(0.7, 1.3)),
        )
        empty = np.zeros(ph.image.shape, bool)
        out.append((ph.image, ph.spacing_mm, {"left": empty, "right": empty}))
    return out


def dice(points, truth) -> float:
    from mfscan.measure.masks import roi_mask

    pred = roi_mask(points, truth.shape)
    denom = np.count_nonzero(pred) + np.count_nonzero(truth)
    return 2 * np.count_nonzero(pred & truth) / denom if denom else 1.0


def evaluate(model, families: dict, threads: int) -> pd.DataFrame:
    from mfscan.learn._torch import torch_threads
    from mfscan.learn.predict import predict_outlines

    rows = []
    with torch_threads(threads):
        for family, cases in families.items():
            for j, (image, spacing, masks) in enumerate(cases):
                for side, o in predict_outlines(model, image, spacing=spacing).items():
                    rows.append(
                        {
                            "family": family,
                            "case": j,
                            "side": side,
                            "dice": dice(o.points, masks[side]),
                            "confidence": o.confidence,
                            "ood_score": o.ood_score,
                            "flags": ";".join(o.flags),
                        }
                    )
    return pd.DataFrame(rows)


def report(df: pd.DataFrame) -> None:
    df = df.assign(bad=df.dice < 0.8, flagged=df["flags"] != "")
    print(
        f"\n{'family':<16} {'n':>4} {'Dice<0.8':>9} {'bad flagged':>12} {'good flagged':>13} "
        f"{'OOD score median [min, max]':>29}"
    )
    for family, g in list(df.groupby("family", sort=False)) + [("all", df)]:
        bad, good = g[g.bad], g[~g.bad]
        pct = lambda x: f"{100 * x.mean():.0f}%" if len(x) else "-"  # noqa: E731
        s = g.ood_score
        print(
            f"{family:<16} {len(g):>4} {pct(g.bad):>9} {pct(bad.flagged):>8} ({len(bad):>2}) "
            f"{pct(good.flagged):>8} ({len(good):>2}) {s.median():>10.2f} [{s.min():.2f}, {s.max():.2f}]"
        )
    flags = df["flags"].str.split(";").explode()
    print("flags raised:", flags[flags != ""].value_counts().to_dict())
    bad = df[df.bad]
    inf = df[(df.family == "phantom") & ~df.bad]
    print(
        f"\ntargets: {100 * bad.flagged.mean():.0f}% of the {len(bad)} predictions with Dice < 0.8 flagged "
        f"(>= 90%); {100 * inf.flagged.mean():.0f}% of the {len(inf)} good in-family predictions flagged (<= 10%)"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=36)
    ap.add_argument("--n-test", type=int, default=30, help="images per family")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--crop", type=int, nargs=2, default=(96, 128), metavar=("ROWS", "COLS"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reuse", action="store_true", help="use the model of the last run")
    ap.add_argument(
        "--seed",
        type=int,
        default=1,
        help="draws training and test images (another seed: another work folder)",
    )
    args = ap.parse_args(argv)

    from mfscan.learn.predict import load_model

    seed = args.seed
    rng = np.random.default_rng(seed)
    tail = "" if seed == 1 else f"_seed{seed}"
    shift = 100_000 * (seed - 1)  # the generators' seeds too: other images, not only other settings
    model_dir = WORK / f"ood_model{tail}"
    if not args.reuse:
        study = WORK / f"ood_study{tail}"
        write_study(draw_cases(args.n_train, 1000 + shift, rng), study)
        card, _, seconds = train_timed(study, model_dir, args, patience=args.epochs)
        print(
            f"trained on {card['data']['n_train_images']} images in {seconds:.0f} s; "
            f"validation Dice {card['validation']['dice']}; confidence floor "
            f"{card['ood']['confidence_floor']}; side halves {card['ood']['side_half']}"
        )
    model = load_model(model_dir, device="cpu")
    tests = draw_cases(args.n_test, 50_000 + shift, np.random.default_rng(seed + 1))
    families = {
        "phantom": [(ph.image, ph.spacing_mm, ph.masks) for ph in tests],
        "phantom-scanner": other_scanner(args.n_test, np.random.default_rng(seed + 2), 70_000 + shift),
        "parasagittal": parasagittal(args.n_test, np.random.default_rng(seed + 3), 80_000 + shift),
    }
    df = evaluate(model, families, args.threads)
    WORK.mkdir(exist_ok=True)
    df.to_csv(WORK / f"ood_results{tail}.csv", index=False)
    report(df)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
