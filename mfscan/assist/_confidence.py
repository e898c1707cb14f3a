"""How far a proposed outline can be trusted: the parts of the confidence and the flag.

Every part is in [0, 1], 1 meaning "as a good outline looks", and is stored in
``Proposal.details``:

* ``edge_support``: the fraction of the contour (by length) lying on a clear edge;
* ``regular``: convexity (solidity, area / convex hull area, 0.80 -> 0, 0.95 -> 1);
* ``no_leak``: no ray stopped at the search limit or the image or box border;
* ``agreement``: the share of rays on which a second, stiffer dynamic-programming
  pass (four times the smoothness penalty) ends within 1 mm (or 8 % of the
  radius) of the chosen path (at half the radial resolution). Where the border is clear both passes find it;
  where the outline bridges a gap or follows texture they part;
* ``contrast``: the share of rays whose echo changes clearly across the border
  (median of 1.5 mm outside vs 1.5 mm inside, by more than 25 %);
* ``open_border``: the share of rays whose echo just outside the border (1.5 mm)
  is still muscle-like (0.75-1.3 x the muscle's level at the seed): the outline
  stopped inside the muscle at its texture, or runs on into a neighbour. A
  diagnostic only, not in the confidence: as a factor it flagged 6 of the 7
  phantom proposals under 0.90 Dice but also 9 of the 21 good ones of the sample study;
* ``plausible``: the area and depth against the range of lumbar multifidus at the
  given pixel size (1.5-20 cm², depth 12-60 mm); outside it, the scale or the seed
  is likely wrong.

See :mod:`mfscan.assist.propose` for how they combine.
"""

from __future__ import annotations

import numpy as np

from mfscan.assist._polar import _dp_closed

#: Expected range of a lumbar multifidus CSA (cm²) and AP depth (mm), generous.
CSA_RANGE_CM2 = (1.5, 20.0)
DEPTH_RANGE_MM = (12.0, 60.0)


def _agreement(cost, path, rays, p) -> float:
    """Share of rays where a 4x stiffer DP pass lands within max(1 mm, 8 %) of ``path``.

    The second pass runs at half the radial resolution (the minimum of each pair of
    radii), four times faster than the first and fine enough for a 1 mm tolerance.
    """
    h2 = 2 * rays.h
    m = cost.shape[1] // 2 * 2
    coarse = cost[:, :m].reshape(len(cost), m // 2, 2).min(axis=2)
    max_jump = np.full(len(rays.theta), int(np.ceil(p["max_jump_mm"] / h2)))
    stiff = _dp_closed(coarse, 4.0 * p["smooth"] * h2 * h2, max_jump)
    r1, r2 = rays.rho[path], rays.rho[2 * stiff]
    return float(np.mean(np.abs(r1 - r2) <= np.maximum(1.0, 0.08 * r1)))


def _contrast(Q, path, h) -> tuple[float, float]:
    """``(contrast, open_border)``: the share of rays whose echo differs by more than 25 % across
    the border (median of 1.5 mm each side), and the share whose echo just outside is still
    muscle-like (0.75-1.3 x the muscle's level at the seed)."""
    n_r = Q.shape[1]
    w = max(2, int(round(1.5 / h)))
    steps = np.arange(1, w + 1)
    inner = np.clip(path[:, None] - steps[None, :], 0, n_r - 1)
    outer = np.clip(path[:, None] + steps[None, :], 0, n_r - 1)
    q_in = np.median(np.take_along_axis(Q, inner, axis=1), axis=1)
    q_out = np.median(np.take_along_axis(Q, outer, axis=1), axis=1)
    ratio = np.log(np.maximum(q_out, 1e-3) / np.maximum(q_in, 1e-3))
    open_border = float(np.mean((q_out > 0.75) & (q_out < 1.3)))
    return float(np.mean(np.abs(ratio) > np.log(1.25))), open_border


def _plausible(area_mm2: float, depth_mm: float) -> float:
    """1 inside the expected CSA and depth ranges, falling to 0 at half / twice them."""

    def score(v, lo, hi):
        if v < lo:
            return float(np.clip((v - lo / 2) / (lo / 2), 0, 1))
        if v > hi:
            return float(np.clip((2 * hi - v) / hi, 0, 1))
        return 1.0

    return min(score(area_mm2 / 100.0, *CSA_RANGE_CM2), score(depth_mm, *DEPTH_RANGE_MM))


def _ramp(v: float, lo: float, hi: float) -> float:
    return float(np.clip((v - lo) / (hi - lo), 0.0, 1.0))


def combine(parts: dict) -> float:
    """The confidence from its parts (see the module documentation of :mod:`mfscan.assist.propose`).

    ``(edge x agreement x contrast)^(1/3) x (0.5 + 0.5 x regular) x no_leak x plausible``,
    x 0.8 when the width was clipped, with ``edge`` ramping from 0 at 40 % to 1 at
    80 % edge support, ``agreement`` from 60 % to 95 %, ``contrast`` from 60 % to
    100 %, and ``no_leak = 1 - min(1, 10 x leak)`` (a tenth of the rays at their
    limit gives 0).
    """
    qe = _ramp(parts["edge_support"], 0.40, 0.80)
    qa = _ramp(parts["agreement"], 0.60, 0.95)
    qc = _ramp(parts["contrast"], 0.60, 1.00)
    no_leak = 1.0 - min(1.0, 10.0 * parts["leak"])
    c = (qe * qa * qc) ** (1 / 3) * (0.5 + 0.5 * parts["regular"]) * no_leak * parts["plausible"]
    return float(np.clip(c * (0.8 if parts["width_clipped"] else 1.0), 0.0, 1.0))
