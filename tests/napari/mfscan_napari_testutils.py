"""Helpers shared by the napari plugin tests (synthetic files made by code)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def write_png(path, pixels) -> Path:
    path = Path(path)
    arr = np.asarray(pixels)
    if arr.ndim == 3:
        arr = arr[..., ::-1]  # RGB -> BGR for OpenCV
    assert cv2.imwrite(str(path), arr)
    return path


def square(r0, c0, size, n=4):
    """A square outline (row, col), `n` vertices per side."""
    t = np.linspace(0, size, n, endpoint=False)
    top = np.column_stack([np.full(n, r0), c0 + t])
    right = np.column_stack([r0 + t, np.full(n, c0 + size)])
    bottom = np.column_stack([np.full(n, r0 + size), c0 + size - t])
    left = np.column_stack([r0 + size - t, np.full(n, c0)])
    return np.vstack([top, right, bottom, left]).astype(float)


def png_folder(folder, pixels, n) -> Path:
    """A worklist folder with ``img1.png`` ... ``img<n>.png`` (created)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write_png(folder / f"img{i + 1}.png", pixels)
    return folder


def overlapping_controls(w):
    """``(controls, overlaps)`` of widget `w`: its visible leaf controls (labels, buttons, edits,
    check boxes; a panel contains its controls) and the pairs of them whose rectangles in `w`,
    cut to their parents' (a scroll area shows only its viewport), intersect by more than one
    pixel each way (type and object names)."""
    from qtpy.QtCore import QPoint, QRect
    from qtpy.QtWidgets import QWidget

    controls = [
        c
        for c in w.findChildren(QWidget)
        if c.isVisibleTo(w) and c.width() > 0 and c.height() > 0 and not c.findChildren(QWidget)
    ]

    def rect(c):
        r = QRect(c.mapTo(w, QPoint(0, 0)), c.size())
        p = c.parentWidget()
        while p is not None and p is not w:
            r = r.intersected(QRect(p.mapTo(w, QPoint(0, 0)), p.size()))
            p = p.parentWidget()
        return r

    overlaps = []
    for i, a in enumerate(controls):
        for b in controls[i + 1 :]:
            inter = rect(a).intersected(rect(b))
            if inter.width() > 1 and inter.height() > 1:
                overlaps.append((type(a).__name__, a.objectName(), type(b).__name__, b.objectName()))
    return controls, overlaps
