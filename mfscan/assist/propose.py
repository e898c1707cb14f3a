"""Semi-automatic outlining: propose a multifidus outline from one click.

:func:`propose_outline` takes a grayscale transverse frame and a seed point
inside one multifidus and returns a closed polygon (a :class:`Proposal`) that a
rater then accepts or edits. It is a research aid: the rater owns the outline,
and a proposal that was edited is recorded as such (:func:`edited_method`).

Algorithm: optimal star-shaped contour by dynamic programming in polar
coordinates ("polar DP")
-----------------------------------------------------------------------------
The multifidus is roughly convex and the seed lies inside it, so its border
crosses every ray from the seed once. The frame is despeckled (median then
Gaussian), burned-in text, ruler ticks and calipers (bright and thin) are
painted over, and the neighbourhood of the seed is resampled on ``n_rays`` rays
(0.5 pixel steps, in millimetres so anisotropic pixels are handled) into a
polar image normalised by the muscle's own echo level at the seed. Each ray
then gets a cost for every candidate radius:

* **edge**: the rise of echo outward (muscle -> bright fascia, lamina,
  septum, spinous process surface) or its fall into a dark acoustic shadow or
  the black outside the sector. Outlines are traced on the inner border of the
  bright structures, which is where that rise is steepest;
* **barrier**: millimetres of clearly non-muscle pixels (much brighter or much
  darker than the seed's muscle) crossed between the seed and the radius, so
  that the contour never passes through the fascia, the lamina and its shadow,
  or the spinous process's shadow;

and one radius per ray is chosen by dynamic programming over the closed ring of
rays with a penalty on radius jumps between neighbouring rays. That smoothness
term is the shape prior that bridges a faint lateral septum by a smooth curve
between the fascia's lateral corner and the facet instead of leaking into
longissimus. Rays that find no edge and run far are pulled back by a final
check of the lateral width against the AP depth (``max_width_ratio``) and a
physical maximum width (``max_width_mm``).

This algorithm was chosen over seeded region growing (flood fill with
tolerance), random walker and morphological geodesic active contours by its
measured accuracy on the phantom benchmark (``benchmarks/bench_propose.py``).

Confidence
----------
``confidence`` in [0, 1] is the product of

* edge support: the fraction of the contour (by length) lying on a clear edge;
* regularity: how convex the polygon is (area / convex hull area);
* leak indicators: no ray stopped at the search limit or the image border, and
  the width was not clipped by the shape prior.

Each part is in ``Proposal.details``. A low value means "check this outline".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import ndimage as ndi

from mfscan.errors import MfscanError

__all__ = ["Proposal", "ProposalError", "edited_method", "propose_outline", "resample_closed"]

#: Search radius around the seed in millimetres.
SEARCH_RADIUS_MM = 40.0
#: Pixel size assumed when the image is uncalibrated (mm); a 600-row frame is then 9 cm deep.
NOMINAL_SPACING_MM = 0.15


class ProposalError(MfscanError):
    """No outline can be proposed from this seed (outside the image or sector,
    in a shadow, on a bright structure)."""


@dataclass(frozen=True)
class Proposal:
    """A proposed outline.

    Attributes
    ----------
    points : ndarray of float, shape (N, 2)
        Closed polygon (first point not repeated) in (row, col) pixels,
        counter-clockwise as displayed.
    confidence : float
        In [0, 1]; see the module documentation.
    details : dict
        The parts of the confidence and diagnostics (``edge_support``,
        ``solidity``, ``leak``, ``width_clipped``, ``n_rays``, ``seconds``).
    """

    points: np.ndarray
    confidence: float
    details: dict = field(default_factory=dict)

    def to_mask(self, shape) -> np.ndarray:
        """Boolean mask of shape ``shape[:2]``, True on pixels whose centre is inside."""
        from mfscan.measure import outline_mask

        box, m = outline_mask(self.points, shape)
        out = np.zeros(shape[:2], dtype=bool)
        out[box] = m
        return out


def edited_method(old_method: str | None, points_changed: bool) -> str:
    """The method to record after a rater may have edited an outline.

    ``"proposed"`` becomes ``"proposed-edited"`` when the points changed; every
    other method (``manual``, ``livewire``, ``proposed-edited`` ...) is kept.

    Examples
    --------
    >>> edited_method("proposed", True)
    'proposed-edited'
    >>> edited_method("proposed", False)
    'proposed'
    >>> edited_method("manual", True)
    'manual'
    """
    m = "manual" if old_method is None else str(old_method)
    if m == "proposed" and points_changed:
        return "proposed-edited"
    return m


# --------------------------------------------------------------------------- helpers


def _spacing(spacing):
    if spacing is None:
        return (NOMINAL_SPACING_MM, NOMINAL_SPACING_MM), False
    try:
        s = tuple(float(v) for v in (spacing if np.ndim(spacing) else (spacing, spacing)))
    except (TypeError, ValueError):
        raise ValueError(f"spacing must be (row_mm, col_mm), got {spacing!r}") from None
    if len(s) != 2 or not all(math.isfinite(v) and v > 0 for v in s):
        raise ValueError(f"spacing must be two positive numbers (row_mm, col_mm), got {spacing!r}")
    return s, True


def resample_closed(points, n: int) -> np.ndarray:
    """Resample a closed polygon to `n` vertices equally spaced along its length."""
    p = np.asarray(points, dtype=float)
    closed = np.vstack([p, p[:1]])
    seg = np.hypot(*np.diff(closed, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.arange(n) * (s[-1] / n)
    return np.column_stack([np.interp(t, s, closed[:, 0]), np.interp(t, s, closed[:, 1])])


def overlay_mask(image, *, min_value=None) -> np.ndarray:
    """Burned-in text, ruler ticks and calipers: bright, thin marks.

    Pixels that are near the image's maximum and much brighter than a
    morphological opening of their neighbourhood (strokes thinner than about
    5 pixels). Thick bright tissue (fascia, bone) survives the opening and is
    not marked.

    Parameters
    ----------
    image : (rows, cols) ndarray
    min_value : float, optional
        Minimum brightness of a mark (default: 85% of the image's maximum).

    Returns
    -------
    ndarray of bool
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


# --------------------------------------------------------------------------- parameters

#: Tunable constants of the polar DP (exposed for the benchmark's ablations).
#: Below this confidence no outline is returned: on 240 phantom proposals the
#: lowest confidence of a good outline was 0.49, a seed on burned-in text gives 0.
MIN_CONFIDENCE = 0.2

PARAMS = dict(
    n_rays=180,
    median_px=5,          # median filter size (pixels)
    smooth_mm=0.2,        # Gaussian sigma after the median (mm) ...
    smooth_px=1.0,        # ... at least this many pixels
    barrier_sigma_mm=0.3, # smoothing of the image the barrier is computed from (mm)
    barrier_min_mm=8.0,   # bright / dark blobs shorter than this are texture, not borders
    edge_sigma_mm=0.3,    # derivative-of-Gaussian sigma along rays (mm) ...
    edge_sigma_px=2.5,    # ... at least this many pixels
    bright=1.5,           # echo / muscle above which a pixel is "not muscle" (bright) ...
    bright_full=2.1,      # ... fully (both raised for coarse speckle, see _nonmuscle_map)
    dark=0.55,            # echo / muscle below which a pixel is "not muscle" (dark) ...
    dark_full=0.3,        # ... fully
    adapt=1.25,           # margin over the muscle's own 97th / under its 3rd percentile
    bright_cap=2.0,
    dark_floor=0.3,
    w_edge=1.0,
    w_fall=0.8,
    w_barrier=1.5,        # per mm of non-muscle crossed
    smooth=0.3,           # jump penalty per mm^2 of radius change between rays
    max_jump_mm=2.5,      # largest radius change between neighbouring rays
    min_radius_mm=2.0,
    max_width_ratio=1.7,  # lateral width <= ratio x AP depth
    max_width_mm=70.0,
)


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
    q = cv2.GaussianBlur(crop, (0, 0), sigmaX=max(sig / sp[1], 0.5), sigmaY=max(sig / sp[0], 0.5),
                         borderType=cv2.BORDER_REPLICATE) / np.float32(mu)
    yy, xx = np.ogrid[:q.shape[0], :q.shape[1]]
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


def _seed_check(image, seed, sp, exclude):
    """Raise ProposalError when the seed cannot be inside a muscle.

    The seed's neighbourhood (median over about 1.2 mm) is compared with the ring
    2-5 mm around it and with the bright end of the image (95th percentile of the
    non-black pixels): the product ``local^2 / (ring * p95)`` is about 0.3-1.7
    in muscle, above 2.2 on the fascia or lamina and below 0.5 in shadows on the
    phantoms; the limits used are 2.0 and 0.2 (shadows of low-contrast images
    can pass: the proposal then has a low confidence).
    """
    rows, cols = image.shape
    r, c = int(round(seed[0])), int(round(seed[1]))
    r, c = min(max(r, 0), rows - 1), min(max(c, 0), cols - 1)
    rad = max(2, int(round(0.6 / min(sp))))
    local = np.asarray(image[max(r - rad, 0):r + rad + 1, max(c - rad, 0):c + rad + 1], dtype=np.float64)
    where = f"the seed ({seed[0]:.0f}, {seed[1]:.0f})"
    if np.mean(local <= 0) > 0.6:
        raise ProposalError(f"{where} lies in the black area outside the imaged sector; "
                            "click inside the multifidus")
    step = max(1, int(math.sqrt(rows * cols / 250_000)))
    sub = np.asarray(image[::step, ::step], dtype=np.float64)
    if exclude is not None:
        sub = sub[~np.asarray(exclude, dtype=bool)[::step, ::step]]
    sub = sub[sub > 0]
    p95 = float(np.percentile(sub, 95)) if sub.size else 0.0
    if p95 <= 0:
        raise ProposalError("the image is blank; no outline can be proposed")
    R = max(4, int(round(5.0 / min(sp))))
    win = np.asarray(image[max(r - R, 0):r + R + 1, max(c - R, 0):c + R + 1], dtype=np.float64)
    yy, xx = np.ogrid[max(r - R, 0) - r:min(r + R + 1, rows) - r, max(c - R, 0) - c:min(c + R + 1, cols) - c]
    d2 = (yy * sp[0]) ** 2 + (xx * sp[1]) ** 2
    ring = win[(d2 >= 4.0) & (d2 <= 25.0)]
    ring_med = float(np.median(ring)) if ring.size else float(np.median(win))
    loc = float(np.median(local))
    score = loc * loc / (max(ring_med, 1e-6) * p95)
    if score < 0.2 or loc < 0.1 * p95:
        raise ProposalError(f"{where} lies in a dark region (acoustic shadow or outside the tissue), "
                            "not in muscle; click inside the multifidus")
    if score > 2.0:
        raise ProposalError(f"{where} lies on a bright structure (fascia, bone or a burned-in mark), "
                            "not in muscle; click inside the multifidus")
    # Burned-in text: thin bright strokes densely around the seed (within 3 mm,
    # 20% or more of the pixels near text on the phantoms, under 9% in muscle).
    Rr, Rc = max(3, int(round(3.0 / sp[0]))), max(3, int(round(3.0 / sp[1])))
    near = image[max(r - Rr, 0):r + Rr + 1, max(c - Rc, 0):c + Rc + 1]
    if overlay_mask(near, min_value=0.85 * float(np.max(image))).mean() > 0.15:
        raise ProposalError(f"{where} lies on burned-in text or marks, not in muscle; "
                            "click inside the multifidus")
    return loc


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
        padded[K:K + m] = acc
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
    return path[n:2 * n]


def propose_outline(image, seed, *, spacing=None, side=None, box=None, border_points=None,
                    n_vertices: int = 64, exclude=None, params=None) -> Proposal:
    """Propose the outline of the multifidus around a seed point.

    Parameters
    ----------
    image : (rows, cols) ndarray
        One grayscale frame (any numeric dtype). Not modified.
    seed : (row, col)
        A point inside the muscle, in pixels.
    spacing : (row_mm, col_mm), keyword-only, optional
        Pixel size. Uncalibrated images use a nominal 0.15 mm per pixel for the
        search radius and the shape limits only.
    side : {'left', 'right'}, optional
        The patient's side; recorded in ``details`` only (the border is found
        from the image, whatever the orientation convention).
    box : (min_row, min_col, max_row, max_col), optional
        The outline is kept inside this rectangle (pixels, inclusive).
    border_points : (M, 2) array_like, optional
        Points the rater placed on the border: the outline passes within about
        half a pixel of each (by its ray from the seed).
    n_vertices : int
        Vertices of the returned polygon, equally spaced along it.
    exclude : (rows, cols) ndarray of bool, optional
        Pixels to ignore (coloured overlay marks), besides the bright thin marks
        detected automatically.
    params : dict, optional
        Overrides of :data:`PARAMS` (for experiments).

    Returns
    -------
    Proposal

    Raises
    ------
    ProposalError
        When the seed lies outside the image, outside the imaged sector, in a
        dark shadow or on a bright structure.
    ValueError
        For malformed arguments (not a 2D image, bad spacing).
    """
    import time

    t0 = time.perf_counter()
    p = dict(PARAMS)
    if params:
        unknown = set(params) - set(PARAMS)
        if unknown:
            raise ValueError(f"unknown parameters {sorted(unknown)}")
        p.update(params)
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[0] == 1:
        img = img[0]
    if img.ndim != 2:
        raise ValueError(f"image must be a 2D grayscale frame, got shape {img.shape}")
    if img.dtype == bool or img.dtype.kind not in "uif":
        raise ValueError(f"image must be numeric, got dtype {img.dtype}")
    if img.dtype.kind == "f" and not np.isfinite(img).all():
        img = np.nan_to_num(img, nan=0.0, posinf=0.0, neginf=0.0)
    rows, cols = img.shape
    try:
        sr, sc = (float(v) for v in np.asarray(seed, dtype=float).reshape(2))
    except (TypeError, ValueError):
        raise ValueError(f"seed must be (row, col), got {seed!r}") from None
    if not (math.isfinite(sr) and math.isfinite(sc)):
        raise ProposalError(f"the seed {seed!r} is not a finite point")
    if not (-0.5 <= sr <= rows - 0.5 and -0.5 <= sc <= cols - 0.5):
        raise ProposalError(f"the seed ({sr:.0f}, {sc:.0f}) lies outside the {rows}x{cols} image")
    if box is not None:
        br0, bc0, br1, bc1 = (float(v) for v in box)
        if not (br0 <= sr <= br1 and bc0 <= sc <= bc1):
            raise ProposalError(f"the seed ({sr:.0f}, {sc:.0f}) lies outside the box {tuple(box)}")
    if n_vertices < 8:
        raise ValueError(f"n_vertices must be at least 8, got {n_vertices}")
    sp, calibrated = _spacing(spacing)
    if exclude is not None and np.shape(exclude) != (rows, cols):
        raise ValueError(f"exclude must have the image's shape {(rows, cols)}, got {np.shape(exclude)}")
    _seed_check(img, (sr, sc), sp, exclude)

    # ------------------------------------------------------------ polar image
    R = SEARCH_RADIUS_MM
    half = (int(math.ceil(R / sp[0])) + 4, int(math.ceil(R / sp[1])) + 4)
    crop, (o_r, o_c) = _preprocess(img, (sr, sc), half, exclude, p)
    sig = max(p["smooth_px"], p["smooth_mm"] / min(sp))
    crop = cv2.GaussianBlur(crop, (0, 0), sigmaX=sig * min(sp) / sp[1], sigmaY=sig * min(sp) / sp[0],
                            borderType=cv2.BORDER_REPLICATE)
    h = 0.5 * min(sp)  # radial step, mm
    n_r = int(R / h) + 1
    n_rays = int(p["n_rays"])
    theta = np.arange(n_rays) * (2 * math.pi / n_rays)
    rho = np.arange(n_r) * h
    dr = np.cos(theta)[:, None] * rho[None, :] / sp[0]  # rows: theta=0 points down
    dc = np.sin(theta)[:, None] * rho[None, :] / sp[1]
    map_r = (sr - o_r + dr).astype(np.float32)
    map_c = (sc - o_c + dc).astype(np.float32)
    P = cv2.remap(crop, map_c, map_r, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    inside_img = (map_r + o_r >= -0.5) & (map_r + o_r <= rows - 0.5) & (map_c + o_c >= -0.5) & (map_c + o_c <= cols - 0.5)
    if box is not None:
        inside_img &= ((map_r + o_r >= br0) & (map_r + o_r <= br1)
                       & (map_c + o_c >= bc0) & (map_c + o_c <= bc1))
    n_seed = max(2, int(2.0 / h))
    mu = float(np.median(P[:, :n_seed]))
    if mu <= 0:
        raise ProposalError(f"the seed ({sr:.0f}, {sc:.0f}) lies in a region without echo")
    Q = P / mu

    # ------------------------------------------------------------ costs
    Qs = ndi.gaussian_filter1d(Q, 1.0, axis=0, mode="wrap")
    es = max(p["edge_sigma_mm"] / h, p["edge_sigma_px"] * min(sp) / h)
    G = ndi.gaussian_filter1d(Qs, es, axis=1, order=1, mode="nearest") / h  # per mm
    ahead = int(round(1.0 / h))
    Qa = np.concatenate([Qs[:, ahead:], np.repeat(Qs[:, -1:], ahead, axis=1)], axis=1)
    rise = np.maximum(G, 0)
    dark_after = np.clip((p["dark"] - Qa) / (p["dark"] - p["dark_full"]), 0, 1)
    # a fall into a shadow is a border only from muscle, not from a bright line's far side
    Qbk = np.concatenate([np.repeat(Qs[:, :1], ahead, axis=1), Qs[:, :-ahead]], axis=1)
    not_bright_before = np.clip((1.4 - Qbk) / 0.3, 0, 1)
    fall = np.maximum(-G, 0) * dark_after * not_bright_before
    nm2d = _nonmuscle_map(crop, mu, sp, p, (sr - o_r, sc - o_c))
    nonmuscle = cv2.remap(nm2d, map_c, map_r, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=1.0)
    nonmuscle[~inside_img] = 1.0
    barrier = np.cumsum(nonmuscle, axis=1) * h
    edge = p["w_edge"] * rise + p["w_fall"] * fall
    cost = -edge + p["w_barrier"] * barrier
    cost[:, : int(p["min_radius_mm"] / h)] = 1e6
    # Never go past the image / box border (the border itself is allowed).
    outside = ~inside_img
    first_out = np.where(outside.any(axis=1), outside.argmax(axis=1), n_r)
    jj = np.arange(n_r)[None, :]
    cost[jj > first_out[:, None]] = 1e6
    limit_hit_idx = np.minimum(first_out, n_r - 1)

    if border_points is not None:
        bp = np.asarray(border_points, dtype=float).reshape(-1, 2)
        for br_, bc_ in bp:
            y = (br_ - sr) * sp[0]
            x = (bc_ - sc) * sp[1]
            rr = math.hypot(x, y)
            if rr < h or rr > R:
                continue
            a = math.atan2(x, y) % (2 * math.pi)
            k = int(round(a / (2 * math.pi / n_rays))) % n_rays
            j = int(round(rr / h))
            keep = np.zeros(n_r, dtype=bool)
            keep[max(j - 1, 0):j + 2] = True
            cost[k, ~keep] = 1e6

    # ------------------------------------------------------------ DP
    # allowed radius change between rays: steep borders near corners need large jumps
    max_jump = np.full(n_rays, int(math.ceil(p["max_jump_mm"] / h)))
    jump_pen = p["smooth"] * h * h
    path = _dp_closed(cost, jump_pen, max_jump)
    radius = rho[path]

    # ------------------------------------------------------------ polygon
    pts = np.column_stack([sr + np.cos(theta) * radius / sp[0], sc + np.sin(theta) * radius / sp[1]])
    pts[:, 0] = np.clip(pts[:, 0], -0.5, rows - 0.5)
    pts[:, 1] = np.clip(pts[:, 1], -0.5, cols - 0.5)

    # leak indicators: rays that ended at the search radius / image or box border
    at_limit = (path >= limit_hit_idx - 1) | (path >= n_r - 2)
    support = edge[np.arange(n_rays), path]
    strong = np.median(np.sort(support)[-max(3, n_rays // 4):]) if n_rays else 0.0
    supported = support > 0.35 * max(strong, 1e-9)
    seg_len = np.hypot(*np.diff(np.vstack([pts, pts[:1]]), axis=0).T)
    edge_support = float(np.sum(seg_len * supported) / max(seg_len.sum(), 1e-9))

    # shape prior: width vs AP depth and physical maximum
    width_clipped = False
    w_mm = float(np.ptp(pts[:, 1]) * sp[1])
    ap_mm = float(np.ptp(pts[:, 0]) * sp[0])
    max_w = min(p["max_width_ratio"] * ap_mm, p["max_width_mm"])
    if w_mm > max_w:
        width_clipped = True
        pts = _clip_width(pts, sc, max_w / sp[1], supported)

    poly = resample_closed(pts, n_vertices)
    if _signed_area(poly) < 0:
        poly = poly[::-1].copy()
    area = abs(_signed_area(poly))
    hull = cv2.convexHull(poly[:, ::-1].astype(np.float32))
    hull_area = float(cv2.contourArea(hull))
    solidity = float(area / hull_area) if hull_area > 0 else 0.0
    leak = float(np.mean(at_limit))
    regular = float(np.clip((solidity - 0.80) / 0.15, 0, 1))
    conf = edge_support * (0.5 + 0.5 * regular) * (1 - min(1.0, 3 * leak)) * (0.8 if width_clipped else 1.0)
    details = dict(edge_support=round(edge_support, 4), solidity=round(solidity, 4),
                   leak=round(leak, 4), width_clipped=width_clipped, n_rays=n_rays,
                   muscle_level=round(mu, 3), side=side, calibrated=calibrated,
                   seconds=round(time.perf_counter() - t0, 4))
    conf = float(np.clip(conf, 0, 1))
    if conf < MIN_CONFIDENCE:
        raise ProposalError(
            f"no plausible muscle outline around the seed ({seed[0]:.0f}, {seed[1]:.0f}) (confidence "
            f"{conf:.2f}): is it inside the multifidus, not on burned-in text, fat or a shadow?")
    return Proposal(points=poly, confidence=conf, details=details)


def _signed_area(p):
    r, c = p[:, 0], p[:, 1]
    return 0.5 * float(np.dot(r, np.roll(c, -1)) - np.dot(np.roll(r, -1), c))


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
