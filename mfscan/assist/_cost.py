"""The proposal's image side: preprocessing and the cost of each radius on each ray.

* :func:`overlay_mask` finds burned-in text, ruler ticks and calipers;
* :func:`_preprocess` and :func:`_smooth` crop around the seed, paint over those
  marks and despeckle;
* :func:`_normalise` divides the polar image by the muscle's echo at the seed;
* :func:`_edge_map` (rise into bright tissue, fall into a shadow),
  :func:`_nonmuscle_map` and :func:`_barrier` (millimetres of non-muscle
  crossed) and :func:`_cost_table` give the table the dynamic programming of
  :mod:`._polar` minimises.

See :mod:`mfscan.assist.propose` for the algorithm as a whole.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt
from scipy import ndimage as ndi

from mfscan.assist._params import ProposalError

if TYPE_CHECKING:
    from mfscan.assist._polar import _Rays

__all__ = ["overlay_mask"]


def overlay_mask(image: npt.ArrayLike, *, min_value: float | None = None) -> np.ndarray:
    """Burned-in text, ruler ticks and calipers: bright, thin marks.

    Pixels that are near the image's maximum and much brighter than a
    morphological opening of their neighbourhood (strokes thinner than about
    5 pixels). Thick bright tissue (fascia, bone) survives the opening and is
    not marked.

    Parameters
    ----------
    image : (rows, cols) array_like
        One grayscale frame. Not modified.
    min_value : float, optional
        Minimum brightness of a mark (default: 85% of the image's maximum).

    Returns
    -------
    ndarray of bool
        The marks, dilated by one pixel, in the image's shape.
    """
    img = np.asarray(image, dtype=np.float32)
    top = float(img.max()) if img.size else 0.0
    if top <= 0:
        return np.zeros(img.shape, dtype=bool)
    thr = 0.85 * top if min_value is None else float(min_value)
    opened = cv2.morphologyEx(img, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    marks = (img >= thr) & (img - opened > 0.3 * top)
    if not marks.any():
        return marks
    return cv2.dilate(marks.view(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


def _preprocess(image, center, half, exclude, p):
    """Crop around `center`, paint over overlay marks, despeckle. Returns (crop float32, offset)."""
    rows, cols = image.shape
    r0 = max(int(center[0]) - half[0], 0)
    r1 = min(int(center[0]) + half[0] + 1, rows)
    c0 = max(int(center[1]) - half[1], 0)
    c1 = min(int(center[1]) + half[1] + 1, cols)
    crop = np.asarray(image[r0:r1, c0:c1], dtype=np.float32)
    marks = overlay_mask(crop, min_value=0.85 * float(image.max()))
    if exclude is not None:
        marks = marks | np.asarray(exclude, dtype=bool)[r0:r1, c0:c1]
    k = int(p["median_px"]) | 1
    if crop.dtype != np.uint8 and k > 5:
        k = 5
    med = cv2.medianBlur(crop, k) if k >= 3 else crop.copy()
    if marks.any():
        # replace the marks by the median of a larger neighbourhood without them
        big = cv2.dilate(marks.view(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        w = (~big).astype(np.float32)
        num = cv2.blur(med * w, (15, 15))
        den = cv2.blur(w, (15, 15))
        fill = np.where(den > 1e-3, num / np.maximum(den, 1e-3), med)
        med = np.where(big, fill, med)
    return med, (r0, c0)


def _smooth(crop, sp, p):
    """Gaussian smoothing of the despeckled crop: ``smooth_mm`` (at least ``smooth_px`` pixels)."""
    sig = max(p["smooth_px"], p["smooth_mm"] / min(sp))
    return cv2.GaussianBlur(
        crop,
        (0, 0),
        sigmaX=sig * min(sp) / sp[1],
        sigmaY=sig * min(sp) / sp[0],
        borderType=cv2.BORDER_REPLICATE,
    )


def _normalise(polar, h, seed_rc):
    """``(polar / mu, mu)`` with ``mu`` the median echo within 2 mm of the seed (rays of step ``h`` mm)."""
    n_seed = max(2, int(2.0 / h))
    mu = float(np.median(polar[:, :n_seed]))
    if mu <= 0:
        raise ProposalError(f"the seed ({seed_rc[0]:.0f}, {seed_rc[1]:.0f}) lies in a region without echo")
    return polar / mu, mu


def _edge_map(Q, sp, h, p):
    """Edge strength at each (ray, radius) of the normalised polar image ``Q``.

    The rise of echo outward (muscle -> bright tissue) plus the fall into a dark
    shadow when it starts from muscle, not from a bright line's far side.
    """
    Qs = ndi.gaussian_filter1d(Q, 1.0, axis=0, mode="wrap")
    es = max(p["edge_sigma_mm"] / h, p["edge_sigma_px"] * min(sp) / h)
    G = ndi.gaussian_filter1d(Qs, es, axis=1, order=1, mode="nearest") / h  # per mm
    ahead = max(1, int(round(1.0 / h)))  # at least one sample (coarse pixels: h > 2 mm)
    Qa = np.concatenate([Qs[:, ahead:], np.repeat(Qs[:, -1:], ahead, axis=1)], axis=1)
    rise = np.maximum(G, 0)
    dark_after = np.clip((p["dark"] - Qa) / (p["dark"] - p["dark_full"]), 0, 1)
    # a fall into a shadow is a border only from muscle, not from a bright line's far side
    Qbk = np.concatenate([np.repeat(Qs[:, :1], ahead, axis=1), Qs[:, :-ahead]], axis=1)
    not_bright_before = np.clip((1.4 - Qbk) / 0.3, 0, 1)
    fall = np.maximum(-G, 0) * dark_after * not_bright_before
    return p["w_edge"] * rise + p["w_fall"] * fall


def _nonmuscle_map(crop, mu, sp, p, seed_rc):
    """Soft map (0..1) of clearly-not-muscle pixels: bright or dark structures
    longer than ``barrier_min_mm`` (fascia, lamina, septa, shadows), not the
    short bright or dark blobs of the muscle's own texture.

    The thresholds adapt to the texture: a pixel is "bright" only when brighter
    than the 97th percentile of the muscle within 3 mm of the seed (and at least
    ``bright`` times its median), "dark" when darker than the 3rd percentile
    (and at most ``dark`` times the median).
    """
    sig = p["barrier_sigma_mm"]
    q = cv2.GaussianBlur(
        crop,
        (0, 0),
        sigmaX=max(sig / sp[1], 0.5),
        sigmaY=max(sig / sp[0], 0.5),
        borderType=cv2.BORDER_REPLICATE,
    ) / np.float32(mu)
    yy, xx = np.ogrid[: q.shape[0], : q.shape[1]]
    near = ((yy - seed_rc[0]) * sp[0]) ** 2 + ((xx - seed_rc[1]) * sp[1]) ** 2 <= 9.0
    q_lo, q_hi = np.percentile(q[near], [3, 97]) if near.any() else (1.0, 1.0)
    b0 = float(np.clip(q_hi * p["adapt"], p["bright"], p["bright_cap"]))
    b1 = b0 + (p["bright_full"] - p["bright"])
    d0 = float(np.clip(q_lo / p["adapt"], p["dark_floor"], p["dark"]))
    d1 = min(p["dark_full"], 0.6 * d0)
    out = np.zeros(q.shape, dtype=np.float32)
    lmin = p["barrier_min_mm"]
    for soft in (np.clip((q - b0) / (b1 - b0), 0, 1), np.clip((d0 - q) / (d0 - d1), 0, 1)):
        hit = (soft > 0).view(np.uint8)
        n, lab, stats, _ = cv2.connectedComponentsWithStats(hit, connectivity=8)
        ext = np.hypot(stats[:, cv2.CC_STAT_WIDTH] * sp[1], stats[:, cv2.CC_STAT_HEIGHT] * sp[0])
        keep = ext >= lmin
        keep[0] = False
        out += soft * keep[lab]
    return out


def _barrier(crop, mu, sp, seed_rc, rays: _Rays, p):
    """Millimetres of non-muscle crossed from the seed to each (ray, radius).

    Outside the image or the box counts as non-muscle. ``seed_rc`` is in the
    crop's coordinates.
    """
    nonmuscle = rays.sample(_nonmuscle_map(crop, mu, sp, p, seed_rc), border_value=1.0)
    nonmuscle[~rays.inside] = 1.0
    return np.cumsum(nonmuscle, axis=1) * rays.h


def _cost_table(edge, barrier, rays: _Rays, p):
    """The (n_rays, n_r) cost of each radius, and the last allowed radius index of each ray.

    Edges lower the cost, non-muscle crossed raises it; radii under
    ``min_radius_mm`` and past the image or box border (the border itself is
    allowed) are forbidden (cost 1e6).
    """
    h = rays.h
    n_r = len(rays.rho)
    cost = -edge + p["w_barrier"] * barrier
    cost[:, : int(p["min_radius_mm"] / h)] = 1e6
    # Never go past the image / box border (the border itself is allowed).
    outside = ~rays.inside
    first_out = np.where(outside.any(axis=1), outside.argmax(axis=1), n_r)
    jj = np.arange(n_r)[None, :]
    cost[jj > first_out[:, None]] = 1e6
    return cost, np.minimum(first_out, n_r - 1)
