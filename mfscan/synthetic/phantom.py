"""Synthetic transverse lumbar ultrasound images with known multifidus outlines.

:func:`make_phantom` draws a B-mode-like transverse image at L4/L5 (patient prone)
whose true left and right multifidus outlines, areas and masks are known exactly.
It is meant for tests of the measurement code, the committed sample study, napari
sample data and benchmarks. It is a drawing, not a simulation of ultrasound
physics, and never a substitute for real images.

Orientation
-----------
By the common transverse convention the probe marker points to the patient's
right, which appears on the **image's left**. So ``outlines["left"]`` (the
patient's left multifidus) lies on the image's right half and
``outlines["right"]`` on the image's left half.

Anatomy drawn (all borders are where the outline says they are)
----------------------------------------------------------------
* skin (bright band), subcutaneous fat with connective strands;
* the thoracolumbar fascia, a bright curved line that is the superficial border of
  each multifidus and continues laterally over longissimus;
* the spinous process tip at the midline (bright cap) with its dark acoustic
  shadow between the two muscles (medial border);
* the lamina / facet (bright line, shadow beneath) as deep border, continued
  laterally by the transverse process;
* the intermuscular septum with longissimus as lateral border, whose visibility is
  set by ``lateral_contrast``;
* muscle texture: correlated Rayleigh speckle (the magnitude of a smoothed complex
  Gaussian field, grain of about 2-4 pixels) with hyperechoic striations, depth
  attenuation, and a gain / contrast setting.

Each outline is traced on the **inner border** of the bright structures: the
bright lines lie just outside the polygon.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from skimage.draw import polygon as _draw_polygon

__all__ = ["Phantom", "make_phantom", "make_rgb_export", "shoelace_area"]

#: Number of vertices of each true outline.
N_VERTICES = 160
#: Minimum image size accepted, in pixels.
MIN_SIZE = 64
#: Upper limit of the requested CSA (cm^2); larger muscles are not human.
MAX_CSA_CM2 = 30.0

# Reflectivity (echo amplitude) levels, fascia = about 1.
_SKIN = 0.80
_FAT = 0.20
_FAT_STRAND = 0.55
_MUSCLE = 0.30
_LONGISSIMUS = 0.31
_DEEP_MUSCLE = 0.24
_FASCIA_ECHO = 1.00
_BONE = 1.10
_SP_SURFACE = 0.55
_SHADOW = 0.045

# Curved (convex) probe geometry.
_CURVED_RADIUS_MM = 50.0
_CURVED_HALF_ANGLE_DEG = 36.0

# Fractional position of the control points of one multifidus outline, (u, v):
# u lateral from the medial border in units of the width W, v depth from the top in
# units of the AP depth D. Labels: 0 fascia (superficial), 1 lateral (septum),
# 2 deep (lamina / facet), 3 medial (spinous process). The label of a control point
# is the label of the edge that starts at it.
_L_FASCIA, _L_LATERAL, _L_DEEP, _L_MEDIAL = 0, 1, 2, 3


@dataclass
class Phantom:
    """A synthetic transverse image and its ground truth.

    Attributes
    ----------
    image : ndarray of uint8, shape (rows, cols)
        Grayscale B-mode-like image, burned-in text and ruler included.
    spacing_mm : tuple of float
        ``(row_mm, col_mm)``, millimetres per pixel.
    outlines : dict of str to ndarray
        ``"left"`` / ``"right"`` (patient's sides) to an ``(N, 2)`` float array of
        ``(row, col)`` vertices of a closed polygon, first point not repeated,
        counter-clockwise as displayed (row down, col right), i.e. the shoelace sum
        ``sum(r[i] * c[i+1] - r[i+1] * c[i])`` is positive.
    true_csa_cm2 : dict of str to float
        Shoelace area of each outline in cm^2.
    masks : dict of str to ndarray of bool
        Pixels whose centre lies inside each outline.
    seeds : dict of str to tuple of float
        A ``(row, col)`` point well inside each muscle.
    sector : ndarray of bool
        The imaged field (True inside the rectangle or fan).
    landmarks : dict
        Anatomical and overlay positions, all in pixels ``(row, col)``:
        ``spinous_process_tip``, ``midline_col``, ``skin_row``,
        ``fascia_rows`` and ``lamina_rows`` (dict side -> row of the middle of the
        visible fascia / lamina band above / below the muscle, at the seed column), ``ruler_tick_rows`` (float
        rows of the depth ruler ticks), ``ruler_tick_mm`` (their depth),
        ``ruler_col`` (column of the ruler spine), ``ruler_tick_cols`` (column
        range ``(c0, c1)`` of the minor ticks), ``ruler_major_every_mm``,
        ``text_boxes`` (list of ``(r0, c0, r1, c1)``, inclusive), ``overlay_mask``
        (bool, every burned-in text / ruler / caliper pixel and the black strip
        behind the ruler), ``calipers`` (dict
        side -> (4, 2) caliper points when ``caliper_overlay``), ``fascia_mask``,
        ``lamina_mask``, ``shadow_mask`` (the acoustic shadow beneath the spinous
        process, between the muscles) and ``orientation``.
    params : dict
        Every parameter used, requested and drawn (JSON-serialisable).
    """

    image: np.ndarray
    spacing_mm: tuple[float, float]
    outlines: dict[str, np.ndarray]
    true_csa_cm2: dict[str, float]
    masks: dict[str, np.ndarray]
    seeds: dict[str, tuple[float, float]]
    sector: np.ndarray
    landmarks: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)


def shoelace_area(polygon) -> float:
    """Signed area of a closed polygon of ``(row, col)`` vertices, in pixel units.

    Positive when the vertices run counter-clockwise as displayed (row down).

    Parameters
    ----------
    polygon : array_like, shape (N, 2)

    Returns
    -------
    float
    """
    p = np.asarray(polygon, dtype=float)
    r, c = p[:, 0], p[:, 1]
    return 0.5 * float(np.dot(r, np.roll(c, -1)) - np.dot(np.roll(r, -1), c))


# --------------------------------------------------------------------------- geometry


def _chaikin(points, labels, iterations):
    """Chaikin corner cutting of a closed polygon, carrying edge labels."""
    p = np.asarray(points, dtype=float)
    lab = np.asarray(labels)
    for _ in range(iterations):
        q = np.roll(p, -1, axis=0)
        a = 0.75 * p + 0.25 * q
        b = 0.25 * p + 0.75 * q
        p = np.empty((2 * len(a), 2))
        p[0::2], p[1::2] = a, b
        lab = np.repeat(lab, 2)
    return p, lab


def _resample_closed(points, labels, n):
    """Resample a closed polyline to ``n`` vertices equally spaced in arc length."""
    closed = np.vstack([points, points[:1]])
    seg = np.hypot(*np.diff(closed, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.arange(n) * (s[-1] / n)
    out = np.column_stack([np.interp(t, s, closed[:, 0]), np.interp(t, s, closed[:, 1])])
    idx = np.clip(np.searchsorted(s, t, side="right") - 1, 0, len(labels) - 1)
    return out, labels[idx]


def _muscle_outline_mm(rng, area_mm2, jitter):
    """One multifidus outline in local mm coordinates (u lateral, v depth).

    Returns vertices (u, v) with u >= about 0 at the medial border, v >= about 0 at
    the top, their labels, and the drawn shape parameters.
    """
    aspect = float(np.clip(1.08 + 0.08 * jitter * rng.standard_normal(), 0.88, 1.3))  # AP / Lat
    slope = float(np.clip(0.12 + 0.04 * jitter * rng.standard_normal(), 0.02, 0.25))
    ctrl = np.array([
        # u, v, label
        (0.00, 0.000, _L_FASCIA),
        (0.08, 0.010, _L_FASCIA),
        (0.50, 0.500, _L_FASCIA),
        (0.88, 0.880, _L_FASCIA),
        (1.00, 1.000, _L_LATERAL),
        (1.04, 0.460, _L_LATERAL),
        (0.96, 0.720, _L_DEEP),
        (0.84, 0.820, _L_DEEP),
        (0.50, 0.930, _L_DEEP),
        (0.10, 1.000, _L_DEEP),
        (0.00, 0.990, _L_MEDIAL),
        (0.00, 0.930, _L_MEDIAL),
        (-0.01, 0.500, _L_MEDIAL),
        (0.00, 0.070, _L_MEDIAL),
    ])
    u, v, labels = ctrl[:, 0].copy(), ctrl[:, 1].copy(), ctrl[:, 2].astype(int)
    # The fascia slopes down laterally; the superolateral corner sits a bit lower.
    v[1:4] = slope * u[1:4]
    v[4] = slope + 0.12
    # Seed-driven jitter; the medial points stay on the spinous process line.
    ju = 0.035 * jitter * rng.standard_normal(len(u))
    jv = 0.035 * jitter * rng.standard_normal(len(v))
    ju[[0, 10, 11, 12, 13]] *= 0.15
    jv[0] = 0.0
    u += ju
    v += jv
    pts, lab = _chaikin(np.column_stack([u, v * aspect]), labels, 4)
    pts, lab = _resample_closed(pts, lab, N_VERTICES)
    # Scale to the exact area (about the centroid), then put the corner at the origin.
    a = abs(_area_xy(pts))
    cen = pts.mean(axis=0)
    pts = cen + (pts - cen) * math.sqrt(area_mm2 / a)
    pts -= [pts[:, 0].min(), pts[:, 1].min()]
    return pts, lab, {"aspect_ap_lat": aspect, "fascia_slope": slope}


def _area_xy(p):
    x, y = p[:, 0], p[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def _arc(points, labels, which):
    """The contiguous run of vertices with one label, in outline order."""
    idx = np.flatnonzero(labels == which)
    # The run may wrap around the end of the array.
    if len(idx) and idx[0] == 0 and idx[-1] == len(labels) - 1:
        gaps = np.flatnonzero(np.diff(idx) > 1)
        if len(gaps):
            k = gaps[0] + 1
            idx = np.concatenate([idx[k:], idx[:k]])
    return points[idx]


# --------------------------------------------------------------------------- drawing


def _cv_pts(rc, shift=4):
    """(row, col) float points to the int32 (x, y) fixed-point array cv2 wants."""
    rc = np.asarray(rc, dtype=float)
    return np.round(rc[:, ::-1] * (1 << shift)).astype(np.int32).reshape(-1, 1, 2)


def _polyline(img, rc, value, thickness, closed=False):
    cv2.polylines(img, [_cv_pts(rc)], closed, float(value), int(max(1, thickness)),
                  cv2.LINE_8, 4)


def _fill(img, rc, value):
    cv2.fillPoly(img, [_cv_pts(rc)], float(value), cv2.LINE_8, 4)


def _mask_of(rc, shape):
    rr, cc = _draw_polygon(rc[:, 0], rc[:, 1], shape)
    m = np.zeros(shape, dtype=bool)
    m[rr, cc] = True
    return m


def _smooth_noise(rng, shape, sigma_rc, dtype=np.float32):
    n = rng.standard_normal(shape, dtype=dtype)
    n = cv2.GaussianBlur(n, (0, 0), sigmaX=sigma_rc[1], sigmaY=sigma_rc[0],
                         borderType=cv2.BORDER_REFLECT)
    return n / (n.std() + 1e-12)


def _lowfreq_field(rng, shape, cell):
    """Smooth random field of unit SD varying over about ``cell`` pixels."""
    small = (max(2, int(math.ceil(shape[0] / cell)) + 1), max(2, int(math.ceil(shape[1] / cell)) + 1))
    n = rng.standard_normal(small, dtype=np.float32)
    f = cv2.resize(n, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    return f / (f.std() + 1e-12)


# --------------------------------------------------------------------------- main API


def _as_spacing(spacing_mm):
    if np.ndim(spacing_mm) == 0:
        s = (float(spacing_mm), float(spacing_mm))
    else:
        s = tuple(float(v) for v in spacing_mm)
        if len(s) != 2:
            raise ValueError(f"spacing_mm must be a number or (row_mm, col_mm), got {spacing_mm!r}")
    if not all(math.isfinite(v) and v > 0 for v in s):
        raise ValueError(f"spacing_mm must be positive, got {spacing_mm!r}")
    return s


def make_phantom(*, seed=0, shape=(600, 800), spacing_mm=0.2, left_csa_cm2=None,
                 asymmetry_pct=0.0, smaller_side="right", speckle=1.0, contrast=1.0,
                 lateral_contrast=1.0, gain=1.0, shape_jitter=1.0, burned_in_text=True,
                 ruler=True, sector="linear", caliper_overlay=False, level="L4") -> Phantom:
    """Draw a synthetic transverse lumbar ultrasound image with known outlines.

    The patient's right appears on the image's left (common transverse
    convention): ``outlines["left"]`` is on the image's right half.

    Parameters
    ----------
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed and parameters give a
        byte-identical image. Geometry, texture and overlays use separate streams,
        so changing e.g. ``gain`` or ``speckle`` leaves the outlines unchanged.
    shape : tuple of int
        ``(rows, cols)`` of the image.
    spacing_mm : float or tuple of float
        Pixel size, scalar or ``(row_mm, col_mm)``. The field of view is
        ``rows * row_mm`` deep and ``cols * col_mm`` wide.
    left_csa_cm2 : float, optional
        CSA of the patient's left multifidus. Default: drawn uniformly in 5-9 cm^2
        (adult, L4/L5).
    asymmetry_pct : float
        Hides' asymmetry ``(larger - smaller) / larger * 100``, in [0, 100).
    smaller_side : {"right", "left"}
        Which side is smaller. ``left_csa_cm2`` always sets the left side; the
        right side is ``left * (1 - a)`` when it is the smaller one, else
        ``left / (1 - a)`` with ``a = asymmetry_pct / 100``.
    speckle : float
        Amount of speckle, 0 (none) to 1 (fully developed Rayleigh speckle).
    contrast : float
        Scales the difference of every structure's echo from muscle (1 = default).
    lateral_contrast : float
        Visibility of the intermuscular septum (lateral border), 0..1; 1 is as
        bright as the fascia, 0 leaves no line between multifidus and longissimus.
    gain : float
        Overall brightness factor (values saturate at 255).
    shape_jitter : float
        Scale of the random deformation of the outlines (0 = the template shape).
    burned_in_text : bool
        Draw text labels ("SYNTHETIC", level, depth) in corners, away from muscles.
    ruler : bool
        Draw a depth ruler with ticks every 10 mm (major every 50 mm) at the right
        edge, on a black strip a few millimetres wide (part of
        ``landmarks["overlay_mask"]``); tick rows are in
        ``landmarks["ruler_tick_rows"]``. Each tick is one pixel thick, its
        intensity split between the two rows it straddles so that its intensity
        centroid is at the exact (sub-pixel) tick row.
    sector : {"linear", "curved"}
        Rectangular field (linear probe) or a fan with black outside (convex
        probe of radius 50 mm).
    caliper_overlay : bool
        Burn white "+" caliper marks at the AP and lateral extremes of each
        outline, as scanners do (they touch the muscle borders).
    level : str
        Vertebral level written in the burned-in text ("L4 TRANS").

    Returns
    -------
    Phantom

    Raises
    ------
    ValueError
        If a parameter is out of range or the requested muscles (with the spinous
        process, laminae and a margin for longissimus) do not fit in the field.
    """
    # ----------------------------------------------------------- validate input
    try:
        rows, cols = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be (rows, cols), got {shape!r}") from None
    if rows < MIN_SIZE or cols < MIN_SIZE:
        raise ValueError(f"shape {shape!r} is too small: at least {MIN_SIZE} x {MIN_SIZE} pixels")
    row_mm, col_mm = _as_spacing(spacing_mm)
    if sector not in ("linear", "curved"):
        raise ValueError(f"sector must be 'linear' or 'curved', got {sector!r}")
    if smaller_side not in ("left", "right"):
        raise ValueError(f"smaller_side must be 'left' or 'right', got {smaller_side!r}")
    if not (0.0 <= float(asymmetry_pct) < 100.0):
        raise ValueError(f"asymmetry_pct must be in [0, 100), got {asymmetry_pct!r}")
    if not (0.0 <= float(lateral_contrast) <= 1.0):
        raise ValueError(f"lateral_contrast must be in [0, 1], got {lateral_contrast!r}")
    for name, val in (("speckle", speckle), ("contrast", contrast), ("shape_jitter", shape_jitter)):
        if not (math.isfinite(float(val)) and float(val) >= 0):
            raise ValueError(f"{name} must be a non-negative number, got {val!r}")
    if not (math.isfinite(float(gain)) and float(gain) > 0):
        raise ValueError(f"gain must be positive, got {gain!r}")

    ss = np.random.SeedSequence(int(seed))
    rng_geom, rng_tex, rng_fat = (np.random.default_rng(s) for s in ss.spawn(3))

    drawn_left = float(rng_geom.uniform(5.0, 9.0))
    left = drawn_left if left_csa_cm2 is None else float(left_csa_cm2)
    if not (math.isfinite(left) and 0 < left <= MAX_CSA_CM2):
        raise ValueError(f"left_csa_cm2 must be in (0, {MAX_CSA_CM2}] cm2, got {left_csa_cm2!r}")
    a = float(asymmetry_pct) / 100.0
    right = left * (1 - a) if smaller_side == "right" else left / (1 - a)
    if right > MAX_CSA_CM2:
        raise ValueError(f"the right multifidus would be {right:.1f} cm2, above {MAX_CSA_CM2} cm2")
    csa = {"left": left, "right": right}

    # ----------------------------------------------------------- geometry (mm)
    depth_mm, width_mm = rows * row_mm, cols * col_mm
    fat_mm = float(rng_geom.uniform(7.0, 13.0))
    sp_half = float(rng_geom.uniform(2.2, 3.2))  # half-width of the spinous process
    mid_jit = float(rng_geom.uniform(-1.5, 1.5))
    shapes = {}
    for side in ("right", "left"):  # fixed draw order
        area = csa[side] * 100.0
        pts, lab, info = _muscle_outline_mm(rng_geom, area, float(shape_jitter))
        top_jit = float(rng_geom.uniform(-0.6, 0.6))
        tp_len = float(rng_geom.uniform(14.0, 22.0))
        tp_drop = float(rng_geom.uniform(4.0, 8.0))
        fascia_curv = float(rng_geom.uniform(0.0008, 0.002))
        shapes[side] = dict(pts=pts, lab=lab, info=info, top_jit=top_jit, tp_len=tp_len,
                            tp_drop=tp_drop, fascia_curv=fascia_curv)

    if sector == "curved":
        r0 = _CURVED_RADIUS_MM
        half = math.radians(_CURVED_HALF_ANGLE_DEG)
        skin_mm = r0 * (1 - math.cos(half)) + 0.5  # row (mm) of the top of the fan at the centre
    else:
        r0, half, skin_mm = 0.0, 0.0, 0.0
    mid_mm = width_mm / 2 + mid_jit  # column (mm) of the midline
    y_tip = fat_mm + 1.2  # depth of the spinous process tip below the skin

    # Place each muscle: image-left = patient's right (x < 0).
    geo = {}
    for side, sign in (("right", -1.0), ("left", 1.0)):
        s = shapes[side]
        u, v = s["pts"][:, 0], s["pts"][:, 1]
        x = sign * (sp_half + u)
        y = y_tip + 0.9 + s["top_jit"] * 0.3 + v
        geo[side] = np.column_stack([x, y])  # (x lateral mm from midline, y depth mm)

    def to_rc(xy):
        xy = np.asarray(xy, dtype=float)
        return np.column_stack([(skin_mm + xy[:, 1]) / row_mm, (mid_mm + xy[:, 0]) / col_mm])

    # ---- fit checks
    margin = 4.0
    for side, sign in (("right", -1.0), ("left", 1.0)):
        xy = geo[side]
        xmax = np.abs(xy[:, 0]).max() + margin + 5.0  # room for the septum / longissimus
        ybot = xy[:, 1].max() + margin
        if mid_mm - xmax < 0 or mid_mm + xmax > width_mm:
            raise ValueError(
                f"the {side} multifidus of {csa[side]:.2f} cm2 needs a field at least "
                f"{2 * xmax:.0f} mm wide around the midline, but the image is {width_mm:.1f} mm "
                f"wide ({cols} px x {col_mm} mm); use a smaller CSA, more columns or a larger spacing")
        if skin_mm + ybot > depth_mm:
            raise ValueError(
                f"the {side} multifidus of {csa[side]:.2f} cm2 reaches {skin_mm + ybot:.0f} mm deep "
                f"with the lamina, but the image is {depth_mm:.1f} mm deep ({rows} px x {row_mm} mm); "
                f"use a smaller CSA, more rows or a larger spacing")
        if sector == "curved":
            # the apex is r0 mm above the top of the fan, on the midline
            ry = (skin_mm + xy[:, 1]) - (skin_mm - r0)
            rr = np.hypot(xy[:, 0], ry)
            th = np.abs(np.arctan2(xy[:, 0], ry))
            slack = half - np.arcsin(np.minimum(1.0, margin / rr))
            if np.any(th > slack):
                raise ValueError(
                    f"the {side} multifidus of {csa[side]:.2f} cm2 does not fit inside the "
                    f"curved sector (half-angle {_CURVED_HALF_ANGLE_DEG} deg); use a smaller CSA "
                    f"or sector='linear'")
    rcs = {side: to_rc(geo[side]) for side in geo}
    min_extent = min(np.ptp(rc, axis=0).min() for rc in rcs.values())
    if min_extent < 20:
        raise ValueError(
            f"the muscles would span only {min_extent:.0f} pixels; the spacing {spacing_mm!r} "
            f"mm is too coarse for shape {shape!r}")

    # ---- exact areas in pixel space, outlines counter-clockwise as displayed
    outlines, labels_px, true_csa = {}, {}, {}
    for side in ("right", "left"):
        rc = rcs[side]
        lab = shapes[side]["lab"]
        target = csa[side] * 100.0 / (row_mm * col_mm)  # pixels
        ar = shoelace_area(rc)
        cen = rc.mean(axis=0)
        rc = cen + (rc - cen) * math.sqrt(target / abs(ar))
        if shoelace_area(rc) < 0:
            rc, lab = rc[::-1].copy(), lab[::-1].copy()
        outlines[side] = rc
        labels_px[side] = lab
        true_csa[side] = shoelace_area(rc) * row_mm * col_mm / 100.0

    # ----------------------------------------------------------- masks
    masks = {side: _mask_of(outlines[side], (rows, cols)) for side in ("left", "right")}
    rr_idx = np.arange(rows, dtype=np.float32)[:, None]
    cc_idx = np.arange(cols, dtype=np.float32)[None, :]
    if sector == "curved":
        ay_px = (skin_mm - r0) / row_mm
        dy = (rr_idx - ay_px) * row_mm
        dx = (cc_idx - mid_mm / col_mm) * col_mm
        rad = np.sqrt(dy * dy + dx * dx)
        theta = np.arctan2(dx, dy)
        sector_mask = (rad >= r0) & (rad <= r0 + depth_mm - skin_mm - 0.5) & (np.abs(theta) <= half)
        depth_map = (rad - r0).astype(np.float32)
    else:
        sector_mask = np.ones((rows, cols), dtype=bool)
        depth_map = np.broadcast_to(rr_idx * row_mm, (rows, cols)).astype(np.float32)

    # ----------------------------------------------------------- structure lines (mm)
    arcs = {}
    for side in ("right", "left"):
        sh = shapes[side]
        xy, lab = geo[side], sh["lab"]
        arcs[side] = {k: _arc(xy, lab, k) for k in (_L_FASCIA, _L_LATERAL, _L_DEEP, _L_MEDIAL)}
    tip = np.array([0.0, y_tip])

    # Fascia: from the field's left edge over the patient's right muscle, the spinous
    # process tip, the patient's left muscle, to the right edge.
    def fascia_ext(fasc, sign, curv):
        # fasc runs medial -> lateral
        p0, p1 = fasc[0], fasc[-1]
        slope = float(np.clip((p1[1] - p0[1]) / max(abs(p1[0] - p0[0]), 1e-6), -0.05, 0.25))
        dxs = np.linspace(0.5, width_mm + 10, 40)
        return np.column_stack([p1[0] + sign * dxs, p1[1] + slope * dxs + curv * dxs ** 2])

    fr = arcs["right"][_L_FASCIA]
    fl = arcs["left"][_L_FASCIA]
    # Both fascia arcs run medial -> lateral in the original (clockwise-in-u,v) order.
    ext_r = fascia_ext(fr, -1.0, shapes["right"]["fascia_curv"])
    ext_l = fascia_ext(fl, 1.0, shapes["left"]["fascia_curv"])
    fascia_line = np.vstack([ext_r[::-1], fr[::-1], tip[None], fl, ext_l])

    # Bone: spinous-process cap, medial surfaces, laminae, transverse processes.
    def tp_line(deep, sign, length, drop):
        f = deep[0]  # lateral end of the deep arc (facet)
        t = np.linspace(0, 1, 12)[1:]
        return np.column_stack([f[0] + sign * length * t,
                                f[1] + drop * (3 * t ** 2 - 2 * t ** 3) - 1.5 * t ** 2])

    bone = {}
    for side, sign in (("right", -1.0), ("left", 1.0)):
        sh = shapes[side]
        deep, med = arcs[side][_L_DEEP], arcs[side][_L_MEDIAL]  # deep: lateral->medial, med: bottom->top
        tp = tp_line(deep, sign, sh["tp_len"], sh["tp_drop"])
        bone[side] = dict(deep=deep, med=med, tp=tp)
    cap = np.array([[-sp_half - 0.4, y_tip + 1.3], [-sp_half * 0.5, y_tip + 0.2], [0.0, y_tip],
                    [sp_half * 0.5, y_tip + 0.2], [sp_half + 0.4, y_tip + 1.3]])
    bottom = depth_mm + 20.0
    br, bl = bone["right"], bone["left"]

    def shadow_foot(p):
        # the shadow edge runs along the beam: vertical (linear) or radial (curved)
        if sector != "curved":
            return np.array([[p[0], bottom]])
        apex = np.array([0.0, -r0])
        d = p - apex
        return (apex + d * ((r0 + bottom) / np.hypot(*d)))[None]

    bone_poly = np.vstack([
        cap[2:],
        bl["med"][::-1], bl["deep"][::-1], bl["tp"],
        shadow_foot(bl["tp"][-1]), shadow_foot(br["tp"][-1]),
        br["tp"][::-1], br["deep"], br["med"],
        cap[:2],
    ])

    # ----------------------------------------------------------- reflectivity map
    c = float(contrast)

    def lvl(x):  # contrast about the muscle level
        return max(0.005, _MUSCLE + c * (x - _MUSCLE))

    refl = np.full((rows, cols), lvl(_LONGISSIMUS), dtype=np.float32)
    # Deep muscles lateral to / under the transverse processes: a bit darker with depth.
    deep_zone = np.zeros((rows, cols), dtype=np.float32)
    for side in ("right", "left"):
        tp = bone[side]["tp"]
        poly = np.vstack([tp, [[tp[-1, 0] + np.sign(tp[-1, 0]) * width_mm, tp[-1, 1]],
                               [tp[-1, 0] + np.sign(tp[-1, 0]) * width_mm, bottom],
                               [tp[0, 0], bottom]]])
        _fill(deep_zone, to_rc(poly), 1.0)
    refl[deep_zone > 0] = lvl(_DEEP_MUSCLE)

    # Fat above the fascia.
    fat_poly = np.vstack([[[fascia_line[0, 0], -skin_mm - 5]], fascia_line,
                          [[fascia_line[-1, 0], -skin_mm - 5]]])
    fat_mask = np.zeros((rows, cols), dtype=np.uint8)
    _fill(fat_mask, to_rc(fat_poly), 1)
    fat = fat_mask.astype(bool)
    refl[fat] = lvl(_FAT)
    strands = np.zeros((rows, cols), dtype=np.float32)
    n_str = int(rng_fat.integers(5, 10))
    for _ in range(n_str):
        d0 = rng_fat.uniform(2.0, max(2.5, fat_mm - 1.0))
        x0 = rng_fat.uniform(-width_mm / 2, width_mm / 2)
        length = rng_fat.uniform(15.0, 60.0)
        xs = np.linspace(x0, x0 + length, 30)
        ys = d0 + rng_fat.uniform(-0.06, 0.06) * (xs - x0) + \
            rng_fat.uniform(0.3, 1.0) * np.sin((xs - x0) / rng_fat.uniform(4, 12) + rng_fat.uniform(0, 6))
        _polyline(strands, to_rc(np.column_stack([xs, ys])), rng_fat.uniform(0.6, 1.0),
                  max(1, round(0.5 / row_mm)))
    refl = np.where(fat & (strands > 0), lvl(_FAT_STRAND) * np.maximum(strands, 0.6) / 0.8, refl)
    refl[depth_map < 1.2] = lvl(_SKIN)

    # Bone and acoustic shadow.
    bone_fill = np.zeros((rows, cols), dtype=np.uint8)
    _fill(bone_fill, to_rc(bone_poly), 1)
    bone_mask = bone_fill.astype(bool)
    refl[bone_mask] = lvl(_SHADOW)

    def px(mm):
        return max(1, int(round(mm / (0.5 * (row_mm + col_mm)))))

    lam_t = px(3.0)
    fas_t = px(2.2)
    sep_t = fas_t  # as clear as the other borders when lateral_contrast == 1
    med_t = px(1.0)
    # Bright interfaces are partly specular (a coherent echo on top of speckle,
    # Rician rather than Rayleigh): ``coh`` is the coherent fraction of each pixel.
    coh = np.zeros((rows, cols), dtype=np.float32)

    def line(xy, level, thick, coherent):
        _polyline(refl, to_rc(xy), level, thick)
        _polyline(coh, to_rc(xy), coherent, thick)

    # Septa (drawn before the brighter lines so those win at junctions).
    lc = float(lateral_contrast)
    sep_level = lvl(_MUSCLE + lc * (_FASCIA_ECHO - _MUSCLE))
    for side, sign in (("right", -1.0), ("left", 1.0)):
        lat = arcs[side][_L_LATERAL]
        # septum from the fascia down the lateral border to the facet
        top = lat[0] + np.array([0.3 * sign, -2.5])
        line(np.vstack([top[None], lat]), sep_level, sep_t, 0.55 * lc)
        # a fainter longissimus / iliocostalis septum further out
        tp = bone[side]["tp"]
        xe = tp[-1, 0] - sign * 2.0
        ext = ext_l if sign > 0 else ext_r
        fy = float(np.interp(sign * xe, sign * ext[:, 0], ext[:, 1]))
        ys = np.linspace(fy, tp[-1, 1], 10)
        xs = xe + sign * 2.5 * np.sin(np.linspace(0, math.pi, 10))
        line(np.column_stack([xs, ys]), lvl(0.5), sep_t, 0.3)
        line(bone[side]["med"], lvl(_SP_SURFACE), med_t, 0.4)
    for side in ("right", "left"):
        b = bone[side]
        line(np.vstack([b["deep"][::-1], b["tp"]]), lvl(_BONE), lam_t, 0.6)
    line(fascia_line, lvl(_FASCIA_ECHO), fas_t, 0.55)
    line(cap, lvl(_BONE), lam_t, 0.6)

    # Muscle texture: striations and slow inhomogeneity everywhere below the fascia.
    stri = _smooth_noise(rng_tex, (rows, cols), (0.8, 3.0))
    stri = np.clip(stri - 1.2, 0, None) * 1.2
    slow = _lowfreq_field(rng_tex, (rows, cols), cell=max(8, int(15.0 / row_mm)))
    musc = ~(fat | bone_mask)
    tex = (1.0 + 0.08 * slow + stri).astype(np.float32)
    refl = np.where(musc & (refl < lvl(0.45)), refl * tex, refl)
    for side in ("right", "left"):
        m = masks[side]
        refl[m] = (lvl(_MUSCLE) * tex[m]).astype(np.float32)
        coh[m] = 0.0

    # ----------------------------------------------------------- speckle + PSF
    sig = (1.0, 1.5)  # PSF sigma (rows, cols) in pixels -> speckle grain 2-4 px
    det = cv2.GaussianBlur(refl, (0, 0), sigmaX=sig[1] / math.sqrt(2), sigmaY=sig[0] / math.sqrt(2),
                           borderType=cv2.BORDER_REFLECT)
    s = float(speckle)
    if s > 0:
        n1 = rng_tex.standard_normal((rows, cols), dtype=np.float32) * refl
        n2 = rng_tex.standard_normal((rows, cols), dtype=np.float32) * refl
        n1 = cv2.GaussianBlur(n1, (0, 0), sigmaX=sig[1], sigmaY=sig[0], borderType=cv2.BORDER_REFLECT)
        n2 = cv2.GaussianBlur(n2, (0, 0), sigmaX=sig[1], sigmaY=sig[0], borderType=cv2.BORDER_REFLECT)
        kr = cv2.getGaussianKernel(int(2 * round(4 * sig[0]) + 1), sig[0])
        kc = cv2.getGaussianKernel(int(2 * round(4 * sig[1]) + 1), sig[1])
        norm = math.sqrt(float((kr ** 2).sum() * (kc ** 2).sum())) * math.sqrt(math.pi / 2)
        spk = cv2.magnitude(n1, n2) / np.float32(norm)
        coh = cv2.GaussianBlur(coh, (0, 0), sigmaX=sig[1] / math.sqrt(2),
                               sigmaY=sig[0] / math.sqrt(2), borderType=cv2.BORDER_REFLECT)
        ks = np.float32(min(s, 1.0)) * (1 - coh)  # weight of the speckle
        amp = (1 - ks) * det + ks * spk
    else:
        amp = det

    # Depth attenuation with partial time-gain compensation.
    alpha = float(rng_tex.uniform(0.004, 0.009))  # per mm, after TGC
    tgc_wobble = float(rng_tex.uniform(-0.06, 0.06))
    dd = np.clip(depth_map, 0, None)
    att = np.exp(-alpha * dd) * (1 + tgc_wobble * np.sin(dd / 25.0))
    out = amp * att.astype(np.float32) * np.float32(float(gain) * 0.75)
    out = np.power(np.clip(out, 0, 1), np.float32(0.75)) * 255.0
    out[~sector_mask] = 0
    image = np.clip(out + 0.5, 0, 255).astype(np.uint8)

    # ----------------------------------------------------------- overlays
    overlay = np.zeros((rows, cols), dtype=np.uint8)  # alpha of burned-in white marks
    backing = np.zeros((rows, cols), dtype=bool)  # black behind the ruler
    landmarks: dict = {}
    skin_row = skin_mm / row_mm
    font = cv2.FONT_HERSHEY_SIMPLEX
    fscale = 0.42 * min(rows, cols) / 480.0
    fthick = max(1, int(round(min(rows, cols) / 480.0)))
    muscle_any = masks["left"] | masks["right"]
    guard = cv2.dilate(muscle_any.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    text_boxes = []

    def put_text(text, org_rc, where="tl"):
        (tw, th), base = cv2.getTextSize(text, font, fscale, fthick)
        r, cpos = org_rc
        if where == "tr":
            cpos = cpos - tw
        r0, c0, r1, c1 = int(r - th - 1), int(cpos - 1), int(r + base + 1), int(cpos + tw + 1)
        if r0 < 0 or c0 < 0 or r1 >= rows or c1 >= cols or guard[r0:r1 + 1, c0:c1 + 1].any():
            return  # would cover a muscle or fall outside the image: leave it out
        cv2.putText(overlay, text, (int(cpos), int(r)), font, fscale, 255, fthick, cv2.LINE_AA)
        text_boxes.append((r0, c0, r1, c1))

    if burned_in_text:
        (_, th), base = cv2.getTextSize("Ag", font, fscale, fthick)
        lh = th + base + 4
        put_text("SYNTHETIC", (lh - base, 6))
        put_text(f"{level} TRANS", (2 * lh - base, 6))
        put_text(f"D {depth_mm / 10:.1f}cm", (rows - base - 4, 6))
        put_text("mfscan phantom", (rows - base - 4, int(cols * 0.5)), where="tl")

    if ruler:
        rc_col = cols - 1 - max(3, int(round(0.012 * cols)))
        minor = max(4, int(round(0.015 * cols)))
        major = 2 * minor
        # scanners draw the depth scale on black: blank a strip behind the ticks
        backing[:, rc_col - major - 2:] = True
        ticks_mm = np.arange(0.0, depth_mm - skin_mm, 10.0)
        tick_rows = skin_row + ticks_mm / row_mm
        keep = tick_rows <= rows - 1.5
        ticks_mm, tick_rows = ticks_mm[keep], tick_rows[keep]
        overlay[int(math.floor(tick_rows[0])):int(math.ceil(tick_rows[-1])) + 1, rc_col] = 255
        for tmm, tr in zip(ticks_mm, tick_rows):
            ln = major if round(tmm) % 50 == 0 else minor
            # a one-pixel line at a sub-pixel row: split between the two rows it
            # straddles so its intensity centroid is exactly at ``tr``
            r0 = int(math.floor(tr))
            f = tr - r0
            for rr_, w in ((r0, 1.0 - f), (r0 + 1, f)):
                if 0 <= rr_ < rows:
                    seg = overlay[rr_, rc_col - ln:rc_col]
                    np.maximum(seg, np.uint8(round(255 * w)), out=seg)
            if round(tmm) % 50 == 0 and tmm > 0:
                lab = f"{int(round(tmm / 10))}"
                (tw, th), _ = cv2.getTextSize(lab, font, fscale, fthick)
                cv2.putText(overlay, lab, (rc_col - major - tw - 3, int(round(tr + th / 2))),
                            font, fscale, 255, fthick, cv2.LINE_AA)
        landmarks.update(ruler_tick_rows=tick_rows, ruler_tick_mm=ticks_mm, ruler_col=int(rc_col),
                         ruler_tick_cols=(int(rc_col - minor), int(rc_col - 1)),
                         ruler_major_every_mm=50.0, ruler_minor_every_mm=10.0)
    else:
        landmarks.update(ruler_tick_rows=np.zeros(0), ruler_tick_mm=np.zeros(0), ruler_col=None,
                         ruler_tick_cols=None, ruler_major_every_mm=50.0, ruler_minor_every_mm=10.0)

    if caliper_overlay:
        cal = {}
        size = max(5, int(round(2.0 / row_mm)))
        for side in ("left", "right"):
            cal[side] = _extremes(outlines[side])
            for r, cc in cal[side]:
                cv2.drawMarker(overlay, (int(round(cc)), int(round(r))), 255, cv2.MARKER_CROSS, size, 1)
        landmarks["calipers"] = cal
    else:
        landmarks["calipers"] = {}

    image[backing] = 0
    if overlay.any():
        alpha_ov = overlay.astype(np.float32) / 255.0
        image = np.clip(image * (1 - alpha_ov) + 255.0 * alpha_ov + 0.5, 0, 255).astype(np.uint8)

    # ----------------------------------------------------------- landmarks
    seeds = {}
    fascia_rows, lamina_rows = {}, {}
    for side in ("left", "right"):
        m = masks[side]
        # the interior point farthest from the border
        dist = cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, 5)
        r, cc = np.unravel_index(int(np.argmax(dist)), dist.shape)
        seeds[side] = (float(r), float(cc))
        # middle of the visible bright band just outside the outline, at the seed column
        inside = np.flatnonzero(m[:, cc])
        fascia_rows[side] = float(inside.min() - 0.5 - 0.25 * fas_t)
        lamina_rows[side] = float(inside.max() + 0.5 + 0.25 * lam_t)

    lam_mask = np.zeros((rows, cols), dtype=np.uint8)
    fas_mask = np.zeros((rows, cols), dtype=np.uint8)
    for side in ("right", "left"):
        b = bone[side]
        _polyline(lam_mask, to_rc(np.vstack([b["deep"][::-1], b["tp"]])), 1, lam_t)
    _polyline(fas_mask, to_rc(fascia_line), 1, fas_t)
    lam_mask = lam_mask.astype(bool) & ~muscle_any & sector_mask
    fas_mask = fas_mask.astype(bool) & ~muscle_any & sector_mask
    # Shadow under the spinous process: bone region between the muscles' medial borders,
    # from 3 mm below the tip to the level of the shallower lamina.
    shadow = bone_mask & sector_mask & ~muscle_any
    lam_top = min(np.flatnonzero(masks[s].any(axis=1)).max() for s in masks)
    band_r0 = int(math.ceil((skin_mm + y_tip + 3.0) / row_mm))
    ccol = mid_mm / col_mm
    sh = np.zeros_like(shadow)
    c0 = int(math.floor(ccol - sp_half / col_mm))
    c1 = int(math.ceil(ccol + sp_half / col_mm))
    sh[band_r0:lam_top - lam_t, max(0, c0):c1 + 1] = True
    shadow &= sh
    dil = cv2.dilate(muscle_any.astype(np.uint8), np.ones((2 * med_t + 3,) * 2, np.uint8)).astype(bool)
    shadow &= ~dil

    landmarks.update(
        orientation="patient right on image left",
        skin_row=float(skin_row),
        midline_col=float(ccol),
        spinous_process_tip=(float((skin_mm + y_tip) / row_mm), float(ccol)),
        fascia_rows=fascia_rows,
        lamina_rows=lamina_rows,
        text_boxes=text_boxes,
        overlay_mask=(overlay > 0) | backing,
        fascia_mask=fas_mask,
        lamina_mask=lam_mask,
        shadow_mask=shadow,
    )

    params = dict(
        seed=int(seed), shape=(rows, cols), spacing_mm=(row_mm, col_mm),
        left_csa_cm2=float(left), right_csa_cm2=float(right),
        left_csa_cm2_requested=None if left_csa_cm2 is None else float(left_csa_cm2),
        asymmetry_pct=float(asymmetry_pct), smaller_side=smaller_side, speckle=float(speckle),
        contrast=float(contrast), lateral_contrast=float(lateral_contrast), gain=float(gain),
        shape_jitter=float(shape_jitter), burned_in_text=bool(burned_in_text), ruler=bool(ruler),
        sector=sector, caliper_overlay=bool(caliper_overlay),
        field_mm=(depth_mm, width_mm), skin_mm=skin_mm, fat_mm=fat_mm,
        spinous_half_width_mm=sp_half, midline_mm=mid_mm, attenuation_per_mm=alpha,
        curved_radius_mm=r0 if sector == "curved" else None,
        curved_half_angle_deg=_CURVED_HALF_ANGLE_DEG if sector == "curved" else None,
        n_vertices=N_VERTICES,
        outline_shape={side: {**shapes[side]["info"], "tp_len_mm": shapes[side]["tp_len"]}
               for side in ("left", "right")},
    )
    return Phantom(
        image=image,
        spacing_mm=(row_mm, col_mm),
        outlines={k: outlines[k] for k in ("left", "right")},
        true_csa_cm2={k: true_csa[k] for k in ("left", "right")},
        masks=masks,
        seeds=seeds,
        sector=sector_mask,
        landmarks=landmarks,
        params=params,
    )


def _extremes(rc):
    """Caliper points: top and bottom at the centroid column, medial/lateral at its row."""
    rc = np.asarray(rc, dtype=float)
    top = rc[np.argmin(rc[:, 0])]
    bot = rc[np.argmax(rc[:, 0])]
    lft = rc[np.argmin(rc[:, 1])]
    rgt = rc[np.argmax(rc[:, 1])]
    return np.array([top, bot, lft, rgt])


#: Colours used by :func:`make_rgb_export` (RGB).
YELLOW = (255, 255, 0)
GREEN = (0, 255, 0)


def make_rgb_export(phantom: Phantom, *, calipers: bool = True, seed: int = 0) -> np.ndarray:
    """An RGB "screenshot" of a phantom with coloured caliper marks.

    Scanners export screenshots with coloured measurement marks burned in. This
    returns the gray image in three equal channels, with (when ``calipers``) for
    each muscle yellow "+" calipers at its AP and lateral extremes (placed with a
    seed-driven error of up to 0.5 mm, as a rater would), a dotted yellow trace
    along the outline and a green measurement text in the bottom-right corner.
    Every pixel not drawn keeps ``R == G == B == phantom.image``; every drawn pixel
    is saturated yellow ``(255, 255, 0)`` or green ``(0, 255, 0)``.

    Parameters
    ----------
    phantom : Phantom
    calipers : bool
        Draw the marks; False returns the plain gray image as RGB.
    seed : int
        Seed of the caliper placement error.

    Returns
    -------
    ndarray of uint8, shape (rows, cols, 3)
    """
    img = np.ascontiguousarray(np.repeat(phantom.image[:, :, None], 3, axis=2))
    if not calipers:
        return img
    rng = np.random.default_rng(seed)
    rows, cols = phantom.image.shape
    row_mm, col_mm = phantom.spacing_mm
    size = max(5, int(round(2.0 / row_mm)))
    lines = []
    for side in ("right", "left"):
        rc = phantom.outlines[side]
        pts = _extremes(rc) + rng.uniform(-0.5, 0.5, (4, 2)) / np.array([row_mm, col_mm])
        for r, c in pts:
            cv2.drawMarker(img, (int(round(c)), int(round(r))), YELLOW, cv2.MARKER_CROSS, size, 1,
                           cv2.LINE_8)
        for r, c in rc[::4]:
            cv2.circle(img, (int(round(c)), int(round(r))), 1, YELLOW, -1, cv2.LINE_8)
        ap = (pts[1, 0] - pts[0, 0]) * row_mm / 10
        lat = (pts[3, 1] - pts[2, 1]) * col_mm / 10
        lines.append(f"{side[0].upper()} CSA {phantom.true_csa_cm2[side]:.2f}cm2 "
                     f"AP {ap:.2f} W {lat:.2f}")
    font = cv2.FONT_HERSHEY_SIMPLEX
    fscale = 0.38 * min(rows, cols) / 480.0
    fthick = max(1, int(round(min(rows, cols) / 480.0)))
    (tw, th), base = cv2.getTextSize(max(lines, key=len), font, fscale, fthick)
    lh = th + base + 4
    x = cols - tw - max(12, int(0.05 * cols))
    text_mask = np.zeros((rows, cols), dtype=np.uint8)
    for i, text in enumerate(lines):
        y = rows - 6 - base - (len(lines) - 1 - i) * lh
        cv2.putText(text_mask, text, (x, y), font, fscale, 255, fthick, cv2.LINE_8)
    img[text_mask >= 128] = GREEN  # crisp, saturated (some OpenCV builds smooth text)
    return img
