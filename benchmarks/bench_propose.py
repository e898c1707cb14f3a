"""Benchmark: accuracy and speed of the semi-automatic outline proposal.

Draws N phantom images (default 60) of varied size, pixel spacing (0.15-0.3
mm), asymmetry (0-30 %), speckle, contrast, gain (0.6-1.4), lateral septum
visibility (half of them faint, 0.3-0.6), linear and curved sectors, some with
caliper marks, and proposes both muscles from

* the phantom's seed (the deepest interior point), and
* a jittered seed 2-4 mm away in a random direction (still inside the muscle).

Per image and side: Dice against the phantom's true mask, CSA error (%),
symmetric Hausdorff distance of the outlines (mm) and seconds per muscle.
Prints a summary (median and 10th percentile Dice, median |CSA error|,
median Hausdorff, median and P90 seconds) per method and seed kind, and saves
every row to ``benchmarks/_work/propose_results.csv``.

Targets: median Dice >= 0.93, P10 Dice >= 0.88, median |CSA error| <= 4 %,
median <= 0.3 s per muscle on an 800x600 image (2 cores, shared: timings are noisy).

``--methods`` also runs the alternatives the algorithm was chosen against
(seeded region growing ``flood``, ``random_walker``, morphological geodesic
active contour ``mgac``), all with the same despeckling and overlay masking and
the same width limit as the chosen ``polar`` dynamic programming.

Besides the phantoms it reports, for the chosen method:

* the committed sample study (``sample_data/study``): the R1 outlines of visit 1
  as truth, seeds at their centroids, the scale by THE calibration rule (each
  image's sidecar scale line): Dice and CSA error per muscle
  (``_work/propose_sample_study.csv``);
* planted bad cases: seeds in anatomy-free speckle (no muscle, Dice 0) and the
  sample study's visit 1 given a scale 0.6x its own (what the old nominal
  0.15 mm/px did on these 0.25 mm/px images: outlines leak through the fascia);
* the confidence figures: Spearman correlation of confidence with Dice, the share
  of proposals under 0.90 Dice flagged ``low_confidence``, and the share of false
  flags among proposals at or above 0.90.

Usage::

    python benchmarks/bench_propose.py [-n 60] [--quick] [--case-seed 0]
                                       [--methods polar,flood,random_walker,mgac]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from scipy.spatial.distance import directed_hausdorff

from mfscan.assist._cost import _preprocess
from mfscan.assist._seed import _seed_check
from mfscan.assist.propose import (
    PARAMS,
    SEARCH_RADIUS_MM,
    ProposalError,
    propose_outline,
)
from mfscan.geometry import polygon_area, resample_closed
from mfscan.measure import outline_mask
from mfscan.synthetic.phantom import make_phantom

WORK = Path(__file__).parent / "_work"
SHAPES = [(600, 800), (480, 640), (768, 1024), (800, 600)]


def draw_cases(n, seed=0):
    """Phantom parameter sets (retrying those whose muscles do not fit the field)."""
    rng = np.random.default_rng(seed)
    cases = []
    i = 0
    while len(cases) < n:
        i += 1
        kw = dict(
            seed=1000 + i,
            shape=SHAPES[len(cases) % len(SHAPES)],
            spacing_mm=float(rng.uniform(0.15, 0.3)),
            asymmetry_pct=float(rng.uniform(0, 30)),
            smaller_side=str(rng.choice(["left", "right"])),
            speckle=float(rng.uniform(0.5, 1.0)),
            contrast=float(rng.uniform(0.6, 1.4)),
            lateral_contrast=float(rng.uniform(0.3, 0.6) if len(cases) % 2 == 0 else rng.uniform(0.6, 1.0)),
            gain=float(rng.uniform(0.6, 1.4)),
            sector="curved" if rng.random() < 0.4 else "linear",
            caliper_overlay=bool(rng.random() < 0.2),
        )
        try:
            ph = make_phantom(**kw)
        except ValueError:
            continue
        cases.append((kw, ph))
    return cases


def jittered_seed(ph, side, rng):
    """A point 2-4 mm from the phantom's seed, inside the muscle."""
    m = ph.masks[side]
    r0, c0 = ph.seeds[side]
    dist = cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, 5)
    for _ in range(50):
        d = rng.uniform(2.0, 4.0)
        a = rng.uniform(0, 2 * math.pi)
        r = r0 + d * math.cos(a) / ph.spacing_mm[0]
        c = c0 + d * math.sin(a) / ph.spacing_mm[1]
        ri, ci = int(round(r)), int(round(c))
        if 0 <= ri < m.shape[0] and 0 <= ci < m.shape[1] and dist[ri, ci] > 1.0 / ph.spacing_mm[0]:
            return (r, c)
    return (r0, c0)


def metrics(points, ph, side):
    sp = ph.spacing_mm
    shape = ph.image.shape
    truth = ph.masks[side]
    box, m = outline_mask(points, shape)
    pred = np.zeros(shape, dtype=bool)
    pred[box] = m
    inter = np.count_nonzero(pred & truth)
    dice = 2 * inter / (np.count_nonzero(pred) + np.count_nonzero(truth))
    area = polygon_area(points, spacing=sp) / 100.0
    err = (area - ph.true_csa_cm2[side]) / ph.true_csa_cm2[side] * 100
    a = resample_closed(points, 400) * sp
    b = resample_closed(ph.outlines[side], 400) * sp
    hd = max(directed_hausdorff(a, b)[0], directed_hausdorff(b, a)[0])
    return dice, err, hd


# --------------------------------------------------------------------------- alternatives


def _contour_of(mask, offset, seed_rc):
    """Outer contour (row, col) of the component of `mask` containing the seed."""
    n, lab = cv2.connectedComponents(mask.astype(np.uint8), connectivity=4)
    s = (int(round(seed_rc[0])), int(round(seed_rc[1])))
    if not (0 <= s[0] < mask.shape[0] and 0 <= s[1] < mask.shape[1]) or lab[s] == 0:
        raise ProposalError("empty segmentation")
    comp = (lab == lab[s]).astype(np.uint8)
    cs, _ = cv2.findContours(comp, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    c = max(cs, key=cv2.contourArea)[:, 0, ::-1].astype(float)
    return c + np.asarray(offset, float)


def _limit_width(points, sc, sp, p=PARAMS):
    w = np.ptp(points[:, 1]) * sp[1]
    ap = np.ptp(points[:, 0]) * sp[0]
    lim = min(p["max_width_ratio"] * ap, p["max_width_mm"]) / sp[1]
    if w * 1.0 / sp[1] > lim:
        # clip the side farther from the seed
        if points[:, 1].max() - sc > sc - points[:, 1].min():
            points[:, 1] = np.minimum(points[:, 1], points[:, 1].min() + lim)
        else:
            points[:, 1] = np.maximum(points[:, 1], points[:, 1].max() - lim)
    return points


def _prep(img, seed, sp):
    _seed_check(img, seed, sp, None)
    R = SEARCH_RADIUS_MM
    half = (int(math.ceil(R / sp[0])) + 4, int(math.ceil(R / sp[1])) + 4)
    crop, off = _preprocess(img, seed, half, None, PARAMS)
    crop = cv2.GaussianBlur(crop, (0, 0), 1.0)
    s = (seed[0] - off[0], seed[1] - off[1])
    rr, cc = np.ogrid[: crop.shape[0], : crop.shape[1]]
    disk = ((rr - s[0]) * sp[0]) ** 2 + ((cc - s[1]) * sp[1]) ** 2 <= 2.0**2
    mu = float(np.median(crop[disk]))
    return crop / mu, off, s, disk


def alt_flood(img, seed, sp):
    from skimage.segmentation import flood

    Q, off, s, disk = _prep(img, seed, sp)
    m = flood(Q, (int(round(s[0])), int(round(s[1]))), tolerance=0.45)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (int(2 / sp[1]) | 1, int(2 / sp[0]) | 1))
    m = cv2.morphologyEx(m.astype(np.uint8), cv2.MORPH_OPEN, k)
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, k)
    m = ndi_fill(m)
    pts = _contour_of(m, off, s)
    return _limit_width(pts, seed[1], sp)


def ndi_fill(m):
    from scipy import ndimage as ndi

    return ndi.binary_fill_holes(m).astype(np.uint8)


def alt_random_walker(img, seed, sp):
    from skimage.segmentation import random_walker

    Q, off, s, disk = _prep(img, seed, sp)
    f = 2  # work at half resolution
    q = cv2.resize(Q, (Q.shape[1] // f, Q.shape[0] // f), interpolation=cv2.INTER_AREA)
    d = cv2.resize(disk.astype(np.uint8), (q.shape[1], q.shape[0]), interpolation=cv2.INTER_NEAREST)
    labels = np.zeros(q.shape, np.int32)
    labels[(q > 1.9) | (q < 0.35)] = 2
    labels[0, :] = labels[-1, :] = labels[:, 0] = labels[:, -1] = 2
    labels[d > 0] = 1
    seg = random_walker(q, labels, beta=200, mode="cg_j", tol=1e-3) == 1
    seg = cv2.resize(seg.astype(np.uint8), (Q.shape[1], Q.shape[0]), interpolation=cv2.INTER_NEAREST)
    pts = _contour_of(ndi_fill(seg), off, s)
    return _limit_width(pts, seed[1], sp)


def alt_mgac(img, seed, sp):
    from skimage.segmentation import (
        inverse_gaussian_gradient,
        morphological_geodesic_active_contour,
    )

    Q, off, s, disk = _prep(img, seed, sp)
    f = 2
    q = cv2.resize(Q, (Q.shape[1] // f, Q.shape[0] // f), interpolation=cv2.INTER_AREA)
    d = cv2.resize(disk.astype(np.uint8), (q.shape[1], q.shape[0]), interpolation=cv2.INTER_NEAREST)
    g = inverse_gaussian_gradient(q, alpha=60.0, sigma=1.5)
    ls = morphological_geodesic_active_contour(
        g, 150, init_level_set=d, smoothing=2, balloon=1, threshold=0.5
    )
    seg = cv2.resize(ls.astype(np.uint8), (Q.shape[1], Q.shape[0]), interpolation=cv2.INTER_NEAREST)
    pts = _contour_of(ndi_fill(seg), off, s)
    return _limit_width(pts, seed[1], sp)


def run_polar(img, seed, sp, side):
    prop = propose_outline(img, seed, spacing=sp, side=side)
    return prop.points, prop.confidence


METHODS = {
    "polar": run_polar,
    "flood": lambda img, seed, sp, side: alt_flood(img, seed, sp),
    "random_walker": lambda img, seed, sp, side: alt_random_walker(img, seed, sp),
    "mgac": lambda img, seed, sp, side: alt_mgac(img, seed, sp),
}


def speckle_image(seed, shape=(480, 640), grain=(1.0, 1.5)):
    """A field of fully developed speckle with no anatomy (as in a cardiac or abdominal view)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=shape) + 1j * rng.normal(size=shape)
    from scipy import ndimage as ndi

    a = np.abs(ndi.gaussian_filter(z.real, grain) + 1j * ndi.gaussian_filter(z.imag, grain))
    return np.clip(a / np.median(a) * 70, 0, 255).astype(np.uint8)


def sample_study_rows(root, first_visit_only=True, scale=1.0):
    """Dice and CSA error on the committed sample study: R1 outlines of the first visit as truth.

    Seeds are the centroids of the truth outlines; the scale is the image's
    calibration by THE rule (the sidecar's scale line here), times ``scale``
    (0.6 plants the wrong scale an uncalibrated guess of 0.15 mm/px gave on these
    0.25 mm/px images).
    """
    from mfscan.annotations import read_sidecar
    from mfscan.calibration import roi_calibration
    from mfscan.io.images import load_image

    rows = []
    for sc_path in sorted(Path(root).glob("*/visit*/*.R1.mfscan.json")):
        if first_visit_only and sc_path.parent.name != "visit1":
            continue
        ann = read_sidecar(sc_path)
        img = load_image(sc_path.parent / ann.image)
        for roi in ann.rois:
            frame = img.gray[roi.frame or 0]
            seed = tuple(float(v) for v in np.argwhere(_mask(roi.points, frame.shape)).mean(axis=0))
            cal = roi_calibration([seed], img, ann.calibration)
            sp = (cal.row_mm, cal.col_mm)
            t0 = time.perf_counter()
            try:
                prop = propose_outline(
                    frame,
                    seed,
                    spacing=(sp[0] * scale, sp[1] * scale),
                    side=roi.side,
                    exclude=img.overlay_frame(0),
                )
                pts, conf, failed = prop.points, prop.confidence, False
            except ProposalError as e:
                print(f"{sc_path.name} {roi.side}: {e}", file=sys.stderr)
                pts, conf, failed = None, float("nan"), True
            sec = time.perf_counter() - t0
            dice, err = (0.0, -100.0) if failed else _dice_err(pts, roi.points, frame.shape, sp)
            rows.append(
                dict(
                    image=ann.image,
                    side=roi.side,
                    spacing_mm=sp[0],
                    dice=dice,
                    csa_err_pct=err,
                    abs_csa_err_pct=abs(err),
                    confidence=conf,
                    seconds=sec,
                    failed=failed,
                )
            )
    return pd.DataFrame(rows)


def _mask(points, shape):
    box, m = outline_mask(points, shape)
    out = np.zeros(shape, dtype=bool)
    out[box] = m
    return out


def _dice_err(points, truth_points, shape, sp):
    pred, truth = _mask(points, shape), _mask(truth_points, shape)
    dice = 2 * np.count_nonzero(pred & truth) / (np.count_nonzero(pred) + np.count_nonzero(truth))
    a, t = polygon_area(points, spacing=sp), polygon_area(truth_points, spacing=sp)
    return dice, (a - t) / t * 100


def bad_rows(n, rng, sample_root):
    """Planted bad proposals: ``n`` seeds in anatomy-free speckle (no muscle: Dice 0), and the
    sample study's visit 1 proposed at 0.6x its true scale (leaks through the fascia)."""
    rows = []
    for i in range(n):
        img = speckle_image(500 + i)
        seed = (float(rng.uniform(150, 330)), float(rng.uniform(200, 440)))
        try:
            conf = propose_outline(img, seed, spacing=(0.2, 0.2)).confidence
            refused = False
        except ProposalError:
            conf, refused = 0.0, True
        rows.append(dict(kind="speckle (no muscle)", dice=0.0, confidence=conf, refused=refused))
    wrong = sample_study_rows(sample_root, scale=0.6)
    wrong = wrong.assign(
        kind="sample study at 0.6x scale", refused=wrong.failed, confidence=wrong.confidence.fillna(0.0)
    )
    return pd.concat([pd.DataFrame(rows), wrong], ignore_index=True)


def confidence_figures(df, threshold):
    """Spearman rho of confidence with Dice, share flagged among Dice < 0.90, false flags among >= 0.90."""
    ok = df.dropna(subset=["confidence"])
    rho = ok["confidence"].corr(ok["dice"], method="spearman") if len(ok) > 2 else float("nan")
    bad, good = ok[ok.dice < 0.90], ok[ok.dice >= 0.90]
    flagged = float(np.mean(bad.confidence < threshold)) if len(bad) else float("nan")
    false = float(np.mean(good.confidence < threshold)) if len(good) else float("nan")
    return dict(
        n=len(ok),
        n_below_090=len(bad),
        spearman=round(float(rho), 3),
        flagged_below_090=round(flagged, 3),
        false_flags_at_or_above_090=round(false, 3),
    )


def summarize(df):
    g = df.groupby(["method", "seed_kind"])
    out = g.agg(
        n=("dice", "size"),
        dice_median=("dice", "median"),
        dice_p10=("dice", lambda x: np.percentile(x, 10)),
        abs_csa_err_median=("abs_csa_err_pct", "median"),
        hausdorff_mm_median=("hausdorff_mm", "median"),
        sec_median=("seconds", "median"),
        sec_p90=("seconds", lambda x: np.percentile(x, 90)),
        failures=("failed", "sum"),
    )
    return out


def report_confidence(df, args, rng):
    """The sample study, the planted bad cases and the confidence figures (polar method only)."""
    from mfscan.assist.propose import LOW_CONFIDENCE

    study = sample_study_rows(args.sample)
    study.to_csv(WORK / "propose_sample_study.csv", index=False)
    print(
        f"\nsample study ({args.sample}, R1 visit 1 as truth, centroid seeds, sidecar scale): "
        f"{len(study)} muscles, Dice median {study.dice.median():.3f}, min {study.dice.min():.3f}; "
        f"|CSA error| median {study.abs_csa_err_pct.median():.1f} %, "
        f"max {study.abs_csa_err_pct.max():.1f} %; "
        f"confidence {study.confidence.min():.2f}-{study.confidence.max():.2f}"
    )
    bad = bad_rows(args.n_bad, rng, args.sample)
    bad.to_csv(WORK / "propose_bad_cases.csv", index=False)
    for kind, g in bad.groupby("kind"):
        print(
            f"planted ({kind}): {len(g)}, refused {int(g.refused.sum())}, Dice median "
            f"{g.dice.median():.3f}, confidence median {g.confidence.median():.2f}, "
            f"flagged or refused {np.mean(g.confidence < LOW_CONFIDENCE):.0%}"
        )
    print(f"\nconfidence (flag: confidence < LOW_CONFIDENCE = {LOW_CONFIDENCE}):")
    cols = ["dice", "confidence"]
    for name, part in (
        ("phantoms", df[cols]),
        ("sample study", study[cols]),
        ("all, with planted bad cases", pd.concat([df[cols], study[cols], bad[cols]])),
    ):
        print(f"  {name}: {confidence_figures(part, LOW_CONFIDENCE)}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=60)
    ap.add_argument("--methods", default="polar")
    ap.add_argument("--no-jitter", action="store_true")
    ap.add_argument("--quick", action="store_true", help="12 phantoms, 6 speckle seeds")
    ap.add_argument("--n-bad", type=int, default=20, help="seeds in anatomy-free speckle (default 20)")
    ap.add_argument("--case-seed", type=int, default=0, help="seed of the phantom draw (default 0)")
    ap.add_argument(
        "--sample",
        default=str(Path(__file__).parents[1] / "sample_data" / "study"),
        help="the committed sample study",
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.n_bad = 12, 6
    methods = args.methods.split(",")
    cases = draw_cases(args.n, seed=args.case_seed)
    rng = np.random.default_rng(7)
    rows = []
    for ci, (kw, ph) in enumerate(cases):
        for side in ("left", "right"):
            seeds = [("phantom", ph.seeds[side])]
            if not args.no_jitter:
                seeds.append(("jittered", jittered_seed(ph, side, rng)))
            for kind, seed in seeds:
                for meth in methods:
                    t0 = time.perf_counter()
                    try:
                        pts = METHODS[meth](ph.image, seed, ph.spacing_mm, side)
                        sec = time.perf_counter() - t0
                        pts, conf = pts if isinstance(pts, tuple) else (pts, float("nan"))
                        dice, err, hd = metrics(pts, ph, side)
                        failed = False
                    except Exception as e:  # a failure counts as Dice 0
                        sec = time.perf_counter() - t0
                        dice, err, hd, failed, conf = 0.0, -100.0, float("nan"), True, float("nan")
                        print(f"case {ci} {side} {kind} {meth}: {type(e).__name__}: {e}", file=sys.stderr)
                    rows.append(
                        dict(
                            case=ci,
                            side=side,
                            seed_kind=kind,
                            method=meth,
                            shape=f"{kw['shape'][0]}x{kw['shape'][1]}",
                            spacing_mm=round(kw["spacing_mm"], 4),
                            sector=kw["sector"],
                            lateral_contrast=round(kw["lateral_contrast"], 3),
                            gain=round(kw["gain"], 3),
                            contrast=round(kw["contrast"], 3),
                            speckle=round(kw["speckle"], 3),
                            asymmetry_pct=round(kw["asymmetry_pct"], 1),
                            caliper_overlay=kw["caliper_overlay"],
                            true_csa_cm2=round(ph.true_csa_cm2[side], 4),
                            dice=dice,
                            csa_err_pct=err,
                            abs_csa_err_pct=abs(err),
                            hausdorff_mm=hd,
                            seconds=sec,
                            confidence=conf,
                            failed=failed,
                        )
                    )
    df = pd.DataFrame(rows)
    WORK.mkdir(parents=True, exist_ok=True)
    out = WORK / "propose_results.csv"
    df.to_csv(out, index=False)
    pd.set_option("display.width", 200)
    print(f"{len(cases)} phantom images, {len(df)} proposals -> {out}")
    print(summarize(df).round(3).to_string())
    faint = df[df.lateral_contrast < 0.6]
    print("\nfaint lateral border (lateral_contrast < 0.6):")
    print(summarize(faint).round(3).to_string())
    ok = df.dropna(subset=["confidence"])
    if len(ok) > 2:
        print(
            "\nSpearman correlation of confidence with Dice:",
            {
                m: round(g["confidence"].corr(g["dice"], method="spearman"), 3)
                for m, g in ok.groupby("method")
            },
        )
    report_confidence(df[df.method == "polar"], args, rng)
    sub = df[df["shape"] == "600x800"]
    if len(sub):
        print(
            "\n600x800 images, seconds per muscle (median):",
            sub.groupby("method")["seconds"].median().round(3).to_dict(),
        )
    return df


if __name__ == "__main__":
    main()
