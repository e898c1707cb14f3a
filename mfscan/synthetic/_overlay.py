"""Burned-in overlays of the phantom (text, depth ruler, calipers) and its landmark masks.

Private helpers of :func:`mfscan.synthetic.phantom.make_phantom`. Overlays are drawn
into an 8-bit alpha image that is burned into the B-mode image at the end, as a
scanner burns its annotations into an exported frame.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from mfscan.synthetic import _font
from mfscan.synthetic._anatomy import Field, Structures, extremes
from mfscan.synthetic._font import Font, font_for
from mfscan.synthetic._render import Thickness, polyline


def put_text(overlay, text_boxes: list, guard, text: str, org_rc, font: Font, where: str = "tl") -> None:
    """Burn ``text`` into ``overlay`` at ``org_rc`` (baseline-left, or baseline-right for ``"tr"``).

    Left out when its box would cover a pixel of ``guard`` (the muscles and a margin)
    or fall outside the image; otherwise its inclusive box ``(r0, c0, r1, c1)`` is
    appended to ``text_boxes``.
    """
    rows, cols = overlay.shape
    (tw, th), base = _font.text_size(text, font)
    r, cpos = org_rc
    if where == "tr":
        cpos = cpos - tw
    r0, c0, r1, c1 = int(r - th - 1), int(cpos - 1), int(r + base + 1), int(cpos + tw + 1)
    if r0 < 0 or c0 < 0 or r1 >= rows or c1 >= cols or guard[r0 : r1 + 1, c0 : c1 + 1].any():
        return  # would cover a muscle or fall outside the image: leave it out
    _font.put_text(overlay, text, (int(cpos), int(r)), font)
    text_boxes.append((r0, c0, r1, c1))


def draw_text(overlay, guard, font: Font, *, level: str, depth_mm: float) -> list:
    """The corner labels ("SYNTHETIC", level, depth, "mfscan phantom"); returns their boxes."""
    rows, cols = overlay.shape
    text_boxes: list = []
    (_, th), base = _font.text_size("Ag", font)
    lh = th + base + 4
    put_text(overlay, text_boxes, guard, "SYNTHETIC", (lh - base, 6), font)
    put_text(overlay, text_boxes, guard, f"{level} TRANS", (2 * lh - base, 6), font)
    put_text(overlay, text_boxes, guard, f"D {depth_mm / 10:.1f}cm", (rows - base - 4, 6), font)
    put_text(
        overlay, text_boxes, guard, "mfscan phantom", (rows - base - 4, int(cols * 0.5)), font, where="tl"
    )
    return text_boxes


def _tick(overlay, tr: float, c0: int, c1: int) -> None:
    """A one-pixel tick over columns ``c0:c1`` at the sub-pixel row ``tr``.

    Split between the two rows it straddles so that its intensity centroid is
    exactly at ``tr``.
    """
    rows = overlay.shape[0]
    r0 = int(math.floor(tr))
    f = tr - r0
    for rr_, w in ((r0, 1.0 - f), (r0 + 1, f)):
        if 0 <= rr_ < rows:
            seg = overlay[rr_, c0:c1]
            np.maximum(seg, np.uint8(round(255 * w)), out=seg)


def draw_ruler(overlay, backing, font: Font, fld: Field) -> dict:
    """The depth ruler at the right edge, ticks every 10 mm (major every 50 mm), on black.

    Draws into ``overlay`` and ``backing`` (the black strip) in place and returns the
    ruler's landmarks.
    """
    rows, cols = overlay.shape
    skin_mm, row_mm = fld.skin_mm, fld.row_mm
    skin_row = skin_mm / row_mm
    rc_col = cols - 1 - max(3, int(round(0.012 * cols)))
    minor = max(4, int(round(0.015 * cols)))
    major = 2 * minor
    # scanners draw the depth scale on black: blank a strip behind the ticks
    backing[:, rc_col - major - 2 :] = True
    ticks_mm = np.arange(0.0, fld.depth_mm - skin_mm, 10.0)
    tick_rows = skin_row + ticks_mm / row_mm
    keep = tick_rows <= rows - 1.5
    ticks_mm, tick_rows = ticks_mm[keep], tick_rows[keep]
    overlay[int(math.floor(tick_rows[0])) : int(math.ceil(tick_rows[-1])) + 1, rc_col] = 255
    for tmm, tr in zip(ticks_mm, tick_rows):
        ln = major if round(tmm) % 50 == 0 else minor
        _tick(overlay, tr, rc_col - ln, rc_col)
        if round(tmm) % 50 == 0 and tmm > 0:
            lab = f"{int(round(tmm / 10))}"
            (tw, th), _ = _font.text_size(lab, font)
            _font.put_text(overlay, lab, (rc_col - major - tw - 3, int(round(tr + th / 2))), font)
    return dict(
        ruler_tick_rows=tick_rows,
        ruler_tick_mm=ticks_mm,
        ruler_col=int(rc_col),
        ruler_tick_cols=(int(rc_col - minor), int(rc_col - 1)),
        ruler_major_every_mm=50.0,
        ruler_minor_every_mm=10.0,
    )


def no_ruler() -> dict:
    """The ruler landmarks of an image without a ruler."""
    return dict(
        ruler_tick_rows=np.zeros(0),
        ruler_tick_mm=np.zeros(0),
        ruler_col=None,
        ruler_tick_cols=None,
        ruler_major_every_mm=50.0,
        ruler_minor_every_mm=10.0,
    )


def draw_calipers(overlay, outlines: dict, row_mm: float) -> dict:
    """White "+" calipers at each outline's AP and lateral extremes; returns them by side."""
    cal = {}
    size = max(5, int(round(2.0 / row_mm)))
    for side in ("left", "right"):
        cal[side] = extremes(outlines[side])
        for r, cc in cal[side]:
            cv2.drawMarker(overlay, (int(round(cc)), int(round(r))), 255, cv2.MARKER_CROSS, size, 1)
    return cal


def burn_in(image, overlay, backing):
    """``image`` with ``backing`` black and ``overlay`` blended in as white of that alpha (a new array)."""
    image = image.copy()
    image[backing] = 0
    if overlay.any():
        alpha_ov = overlay.astype(np.float32) / 255.0
        image = np.clip(image * (1 - alpha_ov) + 255.0 * alpha_ov + 0.5, 0, 255).astype(np.uint8)
    return image


# --------------------------------------------------------------------------- landmarks


def seeds_and_bands(masks: dict, thick: Thickness):
    """Per side: the interior point farthest from the border, and the rows of the middle of the
    bright fascia / lamina bands just outside the outline at that point's column.

    Returns ``(seeds, fascia_rows, lamina_rows)``, dicts by side.
    """
    seeds, fascia_rows, lamina_rows = {}, {}, {}
    for side in ("left", "right"):
        m = masks[side]
        dist = cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, 5)
        r, cc = np.unravel_index(int(np.argmax(dist)), dist.shape)
        seeds[side] = (float(r), float(cc))
        inside = np.flatnonzero(m[:, cc])
        fascia_rows[side] = float(inside.min() - 0.5 - 0.25 * thick.fascia)
        lamina_rows[side] = float(inside.max() + 0.5 + 0.25 * thick.lamina)
    return seeds, fascia_rows, lamina_rows


def structure_masks(
    fld: Field,
    st: Structures,
    thick: Thickness,
    *,
    masks: dict,
    bone_mask,
    sector_mask,
    y_tip: float,
    sp_half: float,
):
    """The visible lamina and fascia lines and the acoustic shadow under the spinous process.

    The shadow is the bone region between the muscles' medial borders, from 3 mm below
    the tip to the level of the shallower lamina, kept clear of the muscles.

    Returns ``(lamina_mask, fascia_mask, shadow_mask)``, bool arrays.
    """
    rows, cols = fld.rows, fld.cols
    muscle_any = masks["left"] | masks["right"]
    lam_mask = np.zeros((rows, cols), dtype=np.uint8)
    fas_mask = np.zeros((rows, cols), dtype=np.uint8)
    for side in ("right", "left"):
        b = st.bone[side]
        polyline(lam_mask, fld.to_rc(np.vstack([b["deep"][::-1], b["tp"]])), 1, thick.lamina)
    polyline(fas_mask, fld.to_rc(st.fascia_line), 1, thick.fascia)
    lam_mask = lam_mask.astype(bool) & ~muscle_any & sector_mask
    fas_mask = fas_mask.astype(bool) & ~muscle_any & sector_mask
    shadow = bone_mask & sector_mask & ~muscle_any
    lam_top = min(np.flatnonzero(masks[s].any(axis=1)).max() for s in masks)
    band_r0 = int(math.ceil((fld.skin_mm + y_tip + 3.0) / fld.row_mm))
    ccol = fld.mid_mm / fld.col_mm
    sh = np.zeros_like(shadow)
    c0 = int(math.floor(ccol - sp_half / fld.col_mm))
    c1 = int(math.ceil(ccol + sp_half / fld.col_mm))
    sh[band_r0 : lam_top - thick.lamina, max(0, c0) : c1 + 1] = True
    shadow &= sh
    k = 2 * thick.medial + 3
    dil = cv2.dilate(muscle_any.astype(np.uint8), np.ones((k, k), np.uint8)).astype(bool)
    shadow &= ~dil
    return lam_mask, fas_mask, shadow


def burn_overlays(
    image,
    fld: Field,
    masks: dict,
    outlines: dict,
    *,
    burned_in_text: bool,
    ruler: bool,
    caliper_overlay: bool,
    level: str,
):
    """Burn the asked overlays into the image, kept away from the muscles.

    Returns
    -------
    image : (rows, cols) uint8
        A new image with the overlays.
    landmarks : dict
        The ruler's landmarks and ``calipers``.
    text_boxes : list of (r0, c0, r1, c1)
    overlay_mask : (rows, cols) bool
        Every burned-in pixel and the black strip behind the ruler.
    """
    rows, cols = image.shape
    overlay = np.zeros((rows, cols), dtype=np.uint8)  # alpha of burned-in white marks
    backing = np.zeros((rows, cols), dtype=bool)  # black behind the ruler
    font = font_for(rows, cols, 0.42)
    muscle_any = masks["left"] | masks["right"]
    guard = cv2.dilate(muscle_any.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    text_boxes = draw_text(overlay, guard, font, level=level, depth_mm=fld.depth_mm) if burned_in_text else []
    landmarks = draw_ruler(overlay, backing, font, fld) if ruler else no_ruler()
    landmarks["calipers"] = draw_calipers(overlay, outlines, fld.row_mm) if caliper_overlay else {}
    return burn_in(image, overlay, backing), landmarks, text_boxes, (overlay > 0) | backing
