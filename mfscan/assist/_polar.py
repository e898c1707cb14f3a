"""The proposal's geometry side: rays from the seed, the closed optimal path, the width limit.

* :func:`_rays` lays ``n_rays`` rays from the seed (0.5 pixel steps in
  millimetres, so anisotropic pixels are handled) and :meth:`_Rays.sample`
  resamples a crop along them into a polar image;
* :func:`_pin_border_points` forces the contour through the rater's border points;
* :func:`_dp_closed` and :func:`_trace` choose one radius per ray by dynamic
  programming over the closed ring of rays;
* :func:`_limit_width` applies the shape prior on the lateral width.

See :mod:`mfscan.assist.propose` for the algorithm as a whole.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from mfscan.assist._params import SEARCH_RADIUS_MM


@dataclass(frozen=True)
class _Rays:
    """Rays from the seed: angles, radii and where each sample lies in the crop.

    ``theta`` (n_rays,) is measured from the row axis (0 points down),
    ``rho`` (n_r,) in mm with step ``h``; ``map_r`` / ``map_c`` (n_rays, n_r)
    are crop coordinates (float32) and ``inside`` marks samples on the image and
    in the box.
    """

    theta: np.ndarray
    rho: np.ndarray
    h: float
    map_r: np.ndarray
    map_c: np.ndarray
    inside: np.ndarray

    def sample(self, crop, *, border_value: float = 0) -> np.ndarray:
        """``crop`` resampled along the rays (bilinear), ``border_value`` off the crop."""
        return cv2.remap(
            crop,
            self.map_c,
            self.map_r,
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=border_value,
        )


def _rays(seed_rc, offset, shape, sp, box, n_rays) -> _Rays:
    """``n_rays`` rays of :data:`SEARCH_RADIUS_MM` from the seed, in steps of half the smaller pixel side.

    ``offset`` is the crop's top-left corner in the image, ``box`` None or
    ``(min_row, min_col, max_row, max_col)`` floats.
    """
    sr, sc = seed_rc
    o_r, o_c = offset
    rows, cols = shape
    R = SEARCH_RADIUS_MM
    h = 0.5 * min(sp)  # radial step, mm
    n_r = int(R / h) + 1
    theta = np.arange(n_rays) * (2 * math.pi / n_rays)
    rho = np.arange(n_r) * h
    dr = np.cos(theta)[:, None] * rho[None, :] / sp[0]  # rows: theta=0 points down
    dc = np.sin(theta)[:, None] * rho[None, :] / sp[1]
    map_r = (sr - o_r + dr).astype(np.float32)
    map_c = (sc - o_c + dc).astype(np.float32)
    inside = (
        (map_r + o_r >= -0.5)
        & (map_r + o_r <= rows - 0.5)
        & (map_c + o_c >= -0.5)
        & (map_c + o_c <= cols - 0.5)
    )
    if box is not None:
        br0, bc0, br1, bc1 = box
        inside &= (map_r + o_r >= br0) & (map_r + o_r <= br1) & (map_c + o_c >= bc0) & (map_c + o_c <= bc1)
    return _Rays(theta=theta, rho=rho, h=h, map_r=map_r, map_c=map_c, inside=inside)


def _pin_border_points(cost, border_points, seed_rc, sp, rays: _Rays) -> None:
    """Forbid (in place, cost 1e6) every radius farther than one step from a border point on its ray.

    Points closer to the seed than one step or beyond the search radius are ignored.
    """
    sr, sc = seed_rc
    h = rays.h
    n_rays, n_r = len(rays.theta), len(rays.rho)
    bp = np.asarray(border_points, dtype=float).reshape(-1, 2)
    for br_, bc_ in bp:
        y = (br_ - sr) * sp[0]
        x = (bc_ - sc) * sp[1]
        rr = math.hypot(x, y)
        if rr < h or rr > SEARCH_RADIUS_MM:
            continue
        a = math.atan2(x, y) % (2 * math.pi)
        k = int(round(a / (2 * math.pi / n_rays))) % n_rays
        j = int(round(rr / h))
        keep = np.zeros(n_r, dtype=bool)
        keep[max(j - 1, 0) : j + 2] = True
        cost[k, ~keep] = 1e6


def _dp_closed(cost, jump_pen, max_jump):
    """Minimum-cost closed path through a (n_rays, n_r) cost table.

    One radius index per ray; between consecutive rays the index changes by at
    most ``max_jump[ray]`` at a cost ``jump_pen * dj**2``. Closure is obtained by
    running three turns and keeping the middle one.
    """
    n, m = cost.shape
    K = int(max(max_jump.max(), 1))
    shifts = np.arange(-K, K + 1)
    pen_base = jump_pen * shifts.astype(np.float64) ** 2
    big = np.float64(1e12)
    turns = 3
    total = n * turns
    acc = cost[0].astype(np.float64).copy()
    back = np.empty((total, m), dtype=np.int16)
    back[0] = 0
    padded = np.full(m + 2 * K, big)
    for t in range(1, total):
        i = t % n
        padded[K : K + m] = acc
        # cand[k, j] = acc[j - shifts[k]] + pen
        idx = np.arange(m)[None, :] - shifts[:, None] + K
        cand = padded[idx] + pen_base[:, None]
        lim = int(max_jump[i])
        if lim < K:
            cand[np.abs(shifts) > lim] = big
        k = np.argmin(cand, axis=0)
        acc = cand[k, np.arange(m)] + cost[i]
        back[t] = shifts[k]
    j = int(np.argmin(acc))
    path = np.empty(total, dtype=np.int64)
    for t in range(total - 1, -1, -1):
        path[t] = j
        j = j - int(back[t, j])
    return path[n : 2 * n]


def _trace(cost, rays: _Rays, seed_rc, sp, shape, p):
    """The optimal closed contour: ``(points (n_rays, 2) in image pixels, radius index per ray)``.

    Radius jumps between neighbouring rays cost ``smooth`` per mm² and are at
    most ``max_jump_mm``; the points are clipped to the image.
    """
    sr, sc = seed_rc
    h, theta = rays.h, rays.theta
    # allowed radius change between rays: steep borders near corners need large jumps
    max_jump = np.full(len(theta), int(math.ceil(p["max_jump_mm"] / h)))
    jump_pen = p["smooth"] * h * h
    path = _dp_closed(cost, jump_pen, max_jump)
    radius = rays.rho[path]
    pts = np.column_stack([sr + np.cos(theta) * radius / sp[0], sc + np.sin(theta) * radius / sp[1]])
    pts[:, 0] = np.clip(pts[:, 0], -0.5, shape[0] - 0.5)
    pts[:, 1] = np.clip(pts[:, 1], -0.5, shape[1] - 0.5)
    return pts, path


def _limit_width(pts, sc, sp, supported, p):
    """Shape prior: ``(points, clipped)`` with the lateral width at most
    ``max_width_ratio`` x the AP depth and at most ``max_width_mm``."""
    w_mm = float(np.ptp(pts[:, 1]) * sp[1])
    ap_mm = float(np.ptp(pts[:, 0]) * sp[0])
    max_w = min(p["max_width_ratio"] * ap_mm, p["max_width_mm"])
    if w_mm > max_w:
        return _clip_width(pts, sc, max_w / sp[1], supported), True
    return pts, False


def _clip_width(pts, sc, max_w_px, supported):
    """Pull the weaker (less edge-supported) side in until the width is `max_w_px`."""
    left = pts[:, 1] < sc
    sup_l = supported[left].mean() if left.any() else 1.0
    sup_r = supported[~left].mean() if (~left).any() else 1.0
    out = pts.copy()
    if sup_r <= sup_l:  # clip the image-right side
        lim = pts[:, 1].min() + max_w_px
        out[:, 1] = np.minimum(out[:, 1], lim)
    else:
        lim = pts[:, 1].max() - max_w_px
        out[:, 1] = np.maximum(out[:, 1], lim)
    return out
