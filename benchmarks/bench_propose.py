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

Usage::

    python benchmarks/bench_propose.py [-n 60] [--methods polar,flood,random_walker,mgac]
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
from mfscan.geometry import resample_closed
from mfscan.measure import outline_mask, polygon_area
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
    rr, cc = np.ogrid[:crop.shape[0], :crop.shape[1]]
    disk = ((rr - s[0]) * sp[0]) ** 2 + ((cc - s[1]) * sp[1]) ** 2 <= 2.0 ** 2
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
    ls = morphological_geodesic_active_contour(g, 150, init_level_set=d, smoothing=2, balloon=1,
                                               threshold=0.5)
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


def summarize(df):
    g = df.groupby(["method", "seed_kind"])
    out = g.agg(n=("dice", "size"),
                dice_median=("dice", "median"),
                dice_p10=("dice", lambda x: np.percentile(x, 10)),
                abs_csa_err_median=("abs_csa_err_pct", "median"),
                hausdorff_mm_median=("hausdorff_mm", "median"),
                sec_median=("seconds", "median"),
                sec_p90=("seconds", lambda x: np.percentile(x, 90)),
                failures=("failed", "sum"))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=60)
    ap.add_argument("--methods", default="polar")
    ap.add_argument("--no-jitter", action="store_true")
    args = ap.parse_args(argv)
    methods = args.methods.split(",")
    cases = draw_cases(args.n)
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
                    rows.append(dict(case=ci, side=side, seed_kind=kind, method=meth,
                                     shape=f"{kw['shape'][0]}x{kw['shape'][1]}",
                                     spacing_mm=round(kw["spacing_mm"], 4), sector=kw["sector"],
                                     lateral_contrast=round(kw["lateral_contrast"], 3),
                                     gain=round(kw["gain"], 3), contrast=round(kw["contrast"], 3),
                                     speckle=round(kw["speckle"], 3),
                                     asymmetry_pct=round(kw["asymmetry_pct"], 1),
                                     caliper_overlay=kw["caliper_overlay"],
                                     true_csa_cm2=round(ph.true_csa_cm2[side], 4),
                                     dice=dice, csa_err_pct=err, abs_csa_err_pct=abs(err),
                                     hausdorff_mm=hd, seconds=sec, confidence=conf, failed=failed))
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
        print("\nSpearman correlation of confidence with Dice:",
              {m: round(g["confidence"].corr(g["dice"], method="spearman"), 3)
               for m, g in ok.groupby("method")})
    sub = df[df["shape"] == "600x800"]
    if len(sub):
        print("\n600x800 images, seconds per muscle (median):",
              sub.groupby("method")["seconds"].median().round(3).to_dict())
    return df


if __name__ == "__main__":
    main()
