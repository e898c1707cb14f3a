"""Checks of the proposal's arguments and of the seed point.

:func:`_seed_check` refuses seeds that cannot lie inside a muscle (outside the
imaged sector, in a shadow, on a bright structure or on burned-in text) before
any outline is searched; the other functions validate and normalise the
arguments of :func:`mfscan.assist.propose.propose_outline`, in the order that
function checks them.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from mfscan.assist._cost import overlay_mask
from mfscan.assist._params import MIN_WORK_SPACING_MM, NOMINAL_SPACING_MM, PARAMS, ProposalError


def _merge_params(params) -> dict:
    """:data:`PARAMS` updated with ``params``; ValueError on an unknown name."""
    p = dict(PARAMS)
    if params:
        unknown = set(params) - set(PARAMS)
        if unknown:
            raise ValueError(f"unknown parameters {sorted(unknown)}")
        p.update(params)
    return p


def _as_frame(image) -> np.ndarray:
    """``image`` as one numeric 2D frame (non-finite values set to 0; the input is not modified)."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[0] == 1:
        img = img[0]
    if img.ndim != 2:
        raise ValueError(f"image must be a 2D grayscale frame, got shape {img.shape}")
    if img.dtype == bool or img.dtype.kind not in "uif":
        raise ValueError(f"image must be numeric, got dtype {img.dtype}")
    if img.dtype.kind == "f" and not np.isfinite(img).all():
        img = np.nan_to_num(img, nan=0.0, posinf=0.0, neginf=0.0)
    return img


def _parse_seed(seed, shape) -> tuple[float, float]:
    """The seed as ``(row, col)`` floats; ProposalError when not finite or outside the image."""
    rows, cols = shape
    try:
        sr, sc = (float(v) for v in np.asarray(seed, dtype=float).reshape(2))
    except (TypeError, ValueError) as e:
        raise ValueError(f"seed must be (row, col), got {seed!r}") from e
    if not (math.isfinite(sr) and math.isfinite(sc)):
        raise ProposalError(f"the seed {seed!r} is not a finite point")
    if not (-0.5 <= sr <= rows - 0.5 and -0.5 <= sc <= cols - 0.5):
        raise ProposalError(f"the seed ({sr:.0f}, {sc:.0f}) lies outside the {rows}x{cols} image")
    return sr, sc


def _parse_box(box, seed_rc):
    """``box`` as four floats ``(min_row, min_col, max_row, max_col)``, or None.

    ProposalError when the seed lies outside it.
    """
    if box is None:
        return None
    sr, sc = seed_rc
    br0, bc0, br1, bc1 = (float(v) for v in box)
    if not (br0 <= sr <= br1 and bc0 <= sc <= bc1):
        raise ProposalError(f"the seed ({sr:.0f}, {sc:.0f}) lies outside the box {tuple(box)}")
    return br0, bc0, br1, bc1


def _spacing(spacing):
    """``((row_mm, col_mm), calibrated)``; the nominal pixel size when ``spacing`` is None."""
    if spacing is None:
        return (NOMINAL_SPACING_MM, NOMINAL_SPACING_MM), False
    try:
        s = tuple(float(v) for v in (spacing if np.ndim(spacing) else (spacing, spacing)))
    except (TypeError, ValueError) as e:
        raise ValueError(f"spacing must be (row_mm, col_mm), got {spacing!r}") from e
    if len(s) != 2 or not all(math.isfinite(v) and v > 0 for v in s):
        raise ValueError(f"spacing must be two positive numbers (row_mm, col_mm), got {spacing!r}")
    return s, True


def _coarser_grid(image, exclude, sp):
    """``(image, exclude, (f_row, f_col))`` reduced to pixels of at least
    :data:`MIN_WORK_SPACING_MM`, or None when the image is not finer than that.

    Pixels are averaged (``cv2.INTER_AREA``); an excluded pixel marks the working pixel
    it falls in. The factors are exact for the integer grid (``rows / new_rows``), and
    a point maps as ``(x + 0.5) / f - 0.5``.
    """
    want = [max(1.0, MIN_WORK_SPACING_MM / s) for s in sp]
    if want == [1.0, 1.0]:
        return None
    rows, cols = image.shape
    new_rows, new_cols = max(1, int(rows // want[0])), max(1, int(cols // want[1]))
    img = image if image.dtype in (np.uint8, np.uint16, np.float32) else image.astype(np.float32)
    small = cv2.resize(img, (new_cols, new_rows), interpolation=cv2.INTER_AREA)
    ex = None
    if exclude is not None:
        # float: a reduced pixel touched by any excluded pixel stays excluded (an 8-bit area
        # average rounds a thin stroke's share below one half to 0 and the mark would vanish)
        marks = np.asarray(exclude, dtype=np.float32)
        ex = cv2.resize(marks, (new_cols, new_rows), interpolation=cv2.INTER_AREA) > 0
    return small, ex, (rows / new_rows, cols / new_cols)


def _seed_check(image, seed, sp, exclude):
    """Raise ProposalError when the seed cannot be inside a muscle.

    The seed's neighbourhood (median over about 1.2 mm) is compared with the ring
    2-5 mm around it and with the bright end of the image (95th percentile of the
    non-black pixels): the product ``local^2 / (ring * p95)`` is about 0.3-1.7
    in muscle, above 2.2 on the fascia or lamina and below 0.5 in shadows on the
    phantoms; the limits used are 2.0 and 0.2 (shadows of low-contrast images
    can pass: the proposal then has a low confidence).

    Returns the median echo level around the seed.
    """
    rows, cols = image.shape
    r, c = int(round(seed[0])), int(round(seed[1]))
    r, c = min(max(r, 0), rows - 1), min(max(c, 0), cols - 1)
    rad = max(2, int(round(0.6 / min(sp))))
    local = np.asarray(image[max(r - rad, 0) : r + rad + 1, max(c - rad, 0) : c + rad + 1], dtype=np.float64)
    where = f"the seed ({seed[0]:.0f}, {seed[1]:.0f})"
    if np.mean(local <= 0) > 0.6:
        raise ProposalError(
            f"{where} lies in the black area outside the imaged sector; click inside the multifidus"
        )
    p95 = _bright_level(image, exclude)
    # Burned-in text: thin bright strokes densely around the seed (within 3 mm,
    # 20% or more of the pixels near text on the phantoms, under 9% in muscle).
    # Checked before the darkness of the seed's neighbourhood: between the strokes of
    # a thin font the seed's own pixels can be dark, and the text is what to name.
    Rr, Rc = max(3, int(round(3.0 / sp[0]))), max(3, int(round(3.0 / sp[1])))
    near = image[max(r - Rr, 0) : r + Rr + 1, max(c - Rc, 0) : c + Rc + 1]
    if overlay_mask(near, min_value=0.85 * float(np.max(image))).mean() > 0.15:
        raise ProposalError(
            f"{where} lies on burned-in text or marks, not in muscle; click inside the multifidus"
        )
    R = max(4, int(round(5.0 / min(sp))))
    win = np.asarray(image[max(r - R, 0) : r + R + 1, max(c - R, 0) : c + R + 1], dtype=np.float64)
    yy, xx = np.ogrid[
        max(r - R, 0) - r : min(r + R + 1, rows) - r, max(c - R, 0) - c : min(c + R + 1, cols) - c
    ]
    d2 = (yy * sp[0]) ** 2 + (xx * sp[1]) ** 2
    ring = win[(d2 >= 4.0) & (d2 <= 25.0)]
    ring_med = float(np.median(ring)) if ring.size else float(np.median(win))
    loc = float(np.median(local))
    score = loc * loc / (max(ring_med, 1e-6) * p95)
    if score < 0.2 or loc < 0.1 * p95:
        raise ProposalError(
            f"{where} lies in a dark region (acoustic shadow or outside the tissue), "
            "not in muscle; click inside the multifidus"
        )
    if score > 2.0:
        raise ProposalError(
            f"{where} lies on a bright structure (fascia, bone or a burned-in mark), "
            "not in muscle; click inside the multifidus"
        )
    return loc


def _bright_level(image, exclude) -> float:
    """95th percentile of the non-black, not excluded pixels (on a subsample of about 250,000).

    ProposalError when the image is blank.
    """
    rows, cols = image.shape
    step = max(1, int(math.sqrt(rows * cols / 250_000)))
    sub = np.asarray(image[::step, ::step], dtype=np.float64)
    if exclude is not None:
        sub = sub[~np.asarray(exclude, dtype=bool)[::step, ::step]]
    sub = sub[sub > 0]
    p95 = float(np.percentile(sub, 95)) if sub.size else 0.0
    if p95 <= 0:
        raise ProposalError("the image is blank; no outline can be proposed")
    return p95
