"""RGB "screenshot" exports of a phantom with coloured caliper marks, as scanners export them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from mfscan.synthetic import _font
from mfscan.synthetic._anatomy import extremes
from mfscan.synthetic._font import font_for
from mfscan.synthetic._random import generator

if TYPE_CHECKING:
    from mfscan.synthetic.phantom import Phantom

__all__ = ["GREEN", "YELLOW", "make_rgb_export"]

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
    rng = generator(seed)
    rows, cols = phantom.image.shape
    row_mm, col_mm = phantom.spacing_mm
    size = max(5, int(round(2.0 / row_mm)))
    lines = []
    for side in ("right", "left"):
        rc = phantom.outlines[side]
        pts = extremes(rc) + rng.uniform(-0.5, 0.5, (4, 2)) / np.array([row_mm, col_mm])
        for r, c in pts:
            cv2.drawMarker(img, (int(round(c)), int(round(r))), YELLOW, cv2.MARKER_CROSS, size, 1, cv2.LINE_8)
        for r, c in rc[::4]:
            cv2.circle(img, (int(round(c)), int(round(r))), 1, YELLOW, -1, cv2.LINE_8)
        ap = (pts[1, 0] - pts[0, 0]) * row_mm / 10
        lat = (pts[3, 1] - pts[2, 1]) * col_mm / 10
        lines.append(f"{side[0].upper()} CSA {phantom.true_csa_cm2[side]:.2f}cm2 AP {ap:.2f} W {lat:.2f}")
    font = font_for(rows, cols, 0.38)
    (tw, th), base = _font.text_size(max(lines, key=len), font)
    lh = th + base + 4
    x = cols - tw - max(12, int(0.05 * cols))
    text_mask = np.zeros((rows, cols), dtype=np.uint8)
    for i, text in enumerate(lines):
        y = rows - 6 - base - (len(lines) - 1 - i) * lh
        _font.put_text(text_mask, text, (x, y), font)
    img[text_mask >= 128] = GREEN  # crisp, saturated
    return img
