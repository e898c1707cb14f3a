"""Drawing the phantom's B-mode image: reflectivity, texture, speckle and depth attenuation.

Private helpers of :func:`mfscan.synthetic.phantom.make_phantom`. Each function takes
the random generator it draws from and is called in the generator's fixed order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import cv2
import numpy as np
from skimage.draw import polygon as _draw_polygon

from mfscan.synthetic._anatomy import L_LATERAL, SIDE_SIGNS, Field, Structures

# Reflectivity (echo amplitude) levels, fascia = about 1.
SKIN = 0.80
FAT = 0.20
FAT_STRAND = 0.55
MUSCLE = 0.30
LONGISSIMUS = 0.31
DEEP_MUSCLE = 0.24
FASCIA_ECHO = 1.00
BONE = 1.10
SP_SURFACE = 0.55
SHADOW = 0.045


# --------------------------------------------------------------------------- primitives


def cv_pts(rc, shift=4):
    """(row, col) float points to the int32 (x, y) fixed-point array cv2 wants."""
    rc = np.asarray(rc, dtype=float)
    return np.round(rc[:, ::-1] * (1 << shift)).astype(np.int32).reshape(-1, 1, 2)


def polyline(img, rc, value, thickness, closed=False):
    """Draw an open (or closed) polyline of (row, col) points into ``img`` in place."""
    cv2.polylines(img, [cv_pts(rc)], closed, float(value), int(max(1, thickness)), cv2.LINE_8, 4)


def fill(img, rc, value):
    """Fill a polygon of (row, col) points into ``img`` in place."""
    cv2.fillPoly(img, [cv_pts(rc)], float(value), cv2.LINE_8, 4)


def mask_of(rc, shape):
    """The pixels whose centre lies inside a polygon of (row, col) points."""
    rr, cc = _draw_polygon(rc[:, 0], rc[:, 1], shape)
    m = np.zeros(shape, dtype=bool)
    m[rr, cc] = True
    return m


def smooth_noise(rng, shape, sigma_rc, dtype=np.float32):
    """Gaussian-smoothed white noise of unit SD."""
    n = rng.standard_normal(shape, dtype=dtype)
    n = cv2.GaussianBlur(n, (0, 0), sigmaX=sigma_rc[1], sigmaY=sigma_rc[0], borderType=cv2.BORDER_REFLECT)
    return n / (n.std() + 1e-12)


def lowfreq_field(rng, shape, cell):
    """Smooth random field of unit SD varying over about ``cell`` pixels."""
    small = (max(2, int(math.ceil(shape[0] / cell)) + 1), max(2, int(math.ceil(shape[1] / cell)) + 1))
    n = rng.standard_normal(small, dtype=np.float32)
    f = cv2.resize(n, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    return f / (f.std() + 1e-12)


def echo_level(x, contrast):
    """Reflectivity ``x`` with its difference from muscle scaled by ``contrast`` (at least 0.005)."""
    return max(0.005, MUSCLE + contrast * (x - MUSCLE))


@dataclass(frozen=True)
class Thickness:
    """Line thicknesses (pixels) of the lamina, fascia, septum and spinous-process surface."""

    lamina: int
    fascia: int
    septum: int
    medial: int


def _px(mm: float, row_mm: float, col_mm: float) -> int:
    """A length in mm as a whole number of pixels (at least 1) of the mean pixel size."""
    return max(1, int(round(mm / (0.5 * (row_mm + col_mm)))))


def thickness(row_mm: float, col_mm: float) -> Thickness:
    """The bright lines' thicknesses for a pixel size."""
    fas_t = _px(2.2, row_mm, col_mm)
    # the septum is as clear as the other borders when lateral_contrast == 1
    return Thickness(
        lamina=_px(3.0, row_mm, col_mm), fascia=fas_t, septum=fas_t, medial=_px(1.0, row_mm, col_mm)
    )


# --------------------------------------------------------------------------- reflectivity


def background(fld: Field, st: Structures, *, contrast: float, fat_mm: float, rng_fat, depth_map: np.ndarray):
    """Reflectivity of everything but the bright lines and the muscle texture.

    Longissimus, the deep muscles under the transverse processes, fat with connective
    strands (drawn from ``rng_fat``), the skin, and bone with its acoustic shadow.

    Returns
    -------
    refl : (rows, cols) float32
    fat, bone_mask : (rows, cols) bool
    """
    rows, cols, row_mm = fld.rows, fld.cols, fld.row_mm
    width_mm, skin_mm, to_rc = fld.width_mm, fld.skin_mm, fld.to_rc
    lvl = partial(echo_level, contrast=float(contrast))
    refl = np.full((rows, cols), lvl(LONGISSIMUS), dtype=np.float32)
    # Deep muscles lateral to / under the transverse processes: a bit darker with depth.
    deep_zone = np.zeros((rows, cols), dtype=np.float32)
    for side in ("right", "left"):
        tp = st.bone[side]["tp"]
        poly = np.vstack(
            [
                tp,
                [
                    [tp[-1, 0] + np.sign(tp[-1, 0]) * width_mm, tp[-1, 1]],
                    [tp[-1, 0] + np.sign(tp[-1, 0]) * width_mm, st.bottom],
                    [tp[0, 0], st.bottom],
                ],
            ]
        )
        fill(deep_zone, to_rc(poly), 1.0)
    refl[deep_zone > 0] = lvl(DEEP_MUSCLE)

    # Fat above the fascia.
    fascia_line = st.fascia_line
    fat_poly = np.vstack(
        [[[fascia_line[0, 0], -skin_mm - 5]], fascia_line, [[fascia_line[-1, 0], -skin_mm - 5]]]
    )
    fat_mask = np.zeros((rows, cols), dtype=np.uint8)
    fill(fat_mask, to_rc(fat_poly), 1)
    fat = fat_mask.astype(bool)
    refl[fat] = lvl(FAT)
    strands = np.zeros((rows, cols), dtype=np.float32)
    n_str = int(rng_fat.integers(5, 10))
    for _ in range(n_str):
        d0 = rng_fat.uniform(2.0, max(2.5, fat_mm - 1.0))
        x0 = rng_fat.uniform(-width_mm / 2, width_mm / 2)
        length = rng_fat.uniform(15.0, 60.0)
        xs = np.linspace(x0, x0 + length, 30)
        ys = (
            d0
            + rng_fat.uniform(-0.06, 0.06) * (xs - x0)
            + rng_fat.uniform(0.3, 1.0) * np.sin((xs - x0) / rng_fat.uniform(4, 12) + rng_fat.uniform(0, 6))
        )
        polyline(
            strands, to_rc(np.column_stack([xs, ys])), rng_fat.uniform(0.6, 1.0), max(1, round(0.5 / row_mm))
        )
    refl = np.where(fat & (strands > 0), lvl(FAT_STRAND) * np.maximum(strands, 0.6) / 0.8, refl)
    refl[depth_map < 1.2] = lvl(SKIN)

    # Bone and acoustic shadow.
    bone_fill = np.zeros((rows, cols), dtype=np.uint8)
    fill(bone_fill, to_rc(st.bone_poly), 1)
    bone_mask = bone_fill.astype(bool)
    refl[bone_mask] = lvl(SHADOW)
    return refl, fat, bone_mask


def _line(refl, coh, rc, level, thick, coherent):
    """A bright interface: its echo level in ``refl`` and its coherent fraction in ``coh`` (in place)."""
    polyline(refl, rc, level, thick)
    polyline(coh, rc, coherent, thick)


def interfaces(
    refl, fld: Field, st: Structures, thick: Thickness, *, contrast: float, lateral_contrast: float
) -> np.ndarray:
    """Draw the septa, spinous-process surfaces, laminae and fascia into ``refl`` (in place).

    Bright interfaces are partly specular (a coherent echo on top of speckle, Rician
    rather than Rayleigh).

    Returns
    -------
    coh : (rows, cols) float32
        The coherent fraction of each pixel.
    """
    to_rc = fld.to_rc
    lvl = partial(echo_level, contrast=float(contrast))
    coh = np.zeros((fld.rows, fld.cols), dtype=np.float32)
    # Septa (drawn before the brighter lines so those win at junctions).
    lc = float(lateral_contrast)
    sep_level = lvl(MUSCLE + lc * (FASCIA_ECHO - MUSCLE))
    for side, sign in SIDE_SIGNS:
        lat = st.arcs[side][L_LATERAL]
        # septum from the fascia down the lateral border to the facet
        top = lat[0] + np.array([0.3 * sign, -2.5])
        _line(refl, coh, to_rc(np.vstack([top[None], lat])), sep_level, thick.septum, 0.55 * lc)
        # a fainter longissimus / iliocostalis septum further out
        tp = st.bone[side]["tp"]
        xe = tp[-1, 0] - sign * 2.0
        ext = st.ext[side]
        fy = float(np.interp(sign * xe, sign * ext[:, 0], ext[:, 1]))
        ys = np.linspace(fy, tp[-1, 1], 10)
        xs = xe + sign * 2.5 * np.sin(np.linspace(0, math.pi, 10))
        _line(refl, coh, to_rc(np.column_stack([xs, ys])), lvl(0.5), thick.septum, 0.3)
        _line(refl, coh, to_rc(st.bone[side]["med"]), lvl(SP_SURFACE), thick.medial, 0.4)
    for side in ("right", "left"):
        b = st.bone[side]
        _line(refl, coh, to_rc(np.vstack([b["deep"][::-1], b["tp"]])), lvl(BONE), thick.lamina, 0.6)
    _line(refl, coh, to_rc(st.fascia_line), lvl(FASCIA_ECHO), thick.fascia, 0.55)
    _line(refl, coh, to_rc(st.cap), lvl(BONE), thick.lamina, 0.6)
    return coh


def texture(refl, coh, rng_tex, *, fat, bone_mask, masks: dict, contrast: float, row_mm: float):
    """Muscle texture: striations and slow inhomogeneity everywhere below the fascia.

    Draws from ``rng_tex``; the multifidus pixels get the muscle level times the
    texture and no coherent echo (``coh`` is changed in place). Returns the new ``refl``.
    """
    rows, cols = refl.shape
    lvl = partial(echo_level, contrast=float(contrast))
    stri = smooth_noise(rng_tex, (rows, cols), (0.8, 3.0))
    stri = np.clip(stri - 1.2, 0, None) * 1.2
    slow = lowfreq_field(rng_tex, (rows, cols), cell=max(8, int(15.0 / row_mm)))
    musc = ~(fat | bone_mask)
    tex = (1.0 + 0.08 * slow + stri).astype(np.float32)
    refl = np.where(musc & (refl < lvl(0.45)), refl * tex, refl)
    for side in ("right", "left"):
        m = masks[side]
        refl[m] = (lvl(MUSCLE) * tex[m]).astype(np.float32)
        coh[m] = 0.0
    return refl


# --------------------------------------------------------------------------- image formation


def speckle_amplitude(refl, coh, rng_tex, speckle: float):
    """Echo amplitude after the point-spread function, with Rayleigh speckle mixed in.

    The PSF sigma is (1.0, 1.5) pixels (rows, cols), which gives a speckle grain of
    2-4 pixels; ``coh`` (the coherent fraction) lowers the speckle on bright lines.
    """
    sig = (1.0, 1.5)
    det = cv2.GaussianBlur(
        refl,
        (0, 0),
        sigmaX=sig[1] / math.sqrt(2),
        sigmaY=sig[0] / math.sqrt(2),
        borderType=cv2.BORDER_REFLECT,
    )
    s = float(speckle)
    if s <= 0:
        return det
    rows, cols = refl.shape
    n1 = rng_tex.standard_normal((rows, cols), dtype=np.float32) * refl
    n2 = rng_tex.standard_normal((rows, cols), dtype=np.float32) * refl
    n1 = cv2.GaussianBlur(n1, (0, 0), sigmaX=sig[1], sigmaY=sig[0], borderType=cv2.BORDER_REFLECT)
    n2 = cv2.GaussianBlur(n2, (0, 0), sigmaX=sig[1], sigmaY=sig[0], borderType=cv2.BORDER_REFLECT)
    kr = cv2.getGaussianKernel(int(2 * round(4 * sig[0]) + 1), sig[0])
    kc = cv2.getGaussianKernel(int(2 * round(4 * sig[1]) + 1), sig[1])
    norm = math.sqrt(float((kr**2).sum() * (kc**2).sum())) * math.sqrt(math.pi / 2)
    spk = cv2.magnitude(n1, n2) / np.float32(norm)
    coh = cv2.GaussianBlur(
        coh, (0, 0), sigmaX=sig[1] / math.sqrt(2), sigmaY=sig[0] / math.sqrt(2), borderType=cv2.BORDER_REFLECT
    )
    ks = np.float32(min(s, 1.0)) * (1 - coh)  # weight of the speckle
    return (1 - ks) * det + ks * spk


def to_bmode(amp, rng_tex, *, depth_map, sector_mask, gain: float):
    """The 8-bit B-mode image: depth attenuation with partial time-gain compensation, gain, log-like
    compression and black outside the field.

    Returns
    -------
    image : (rows, cols) uint8
    alpha : float
        The attenuation per mm drawn from ``rng_tex``.
    """
    alpha = float(rng_tex.uniform(0.004, 0.009))  # per mm, after TGC
    tgc_wobble = float(rng_tex.uniform(-0.06, 0.06))
    dd = np.clip(depth_map, 0, None)
    att = np.exp(-alpha * dd) * (1 + tgc_wobble * np.sin(dd / 25.0))
    out = amp * att.astype(np.float32) * np.float32(float(gain) * 0.75)
    out = np.power(np.clip(out, 0, 1), np.float32(0.75)) * 255.0
    out[~sector_mask] = 0
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), alpha
