"""Synthetic parasagittal lumbar images for RUSI, with known multifidus and fat thickness.

:func:`make_parasagittal` draws a B-mode-like parasagittal image over the L4/5 or
L5/S1 facet joint (patient prone, probe along the spine, cranial on the image's
left): skin, subcutaneous fat, the fascia (muscle-fat interface), the multifidus
layer with oblique fascicle striations, and the laminae as bright humps with their
acoustic shadow, dipping to the facet joint at the measurement column. The true
lines are known exactly:

* ``lines["thickness"]``: from the facet joint (deep end, first point) straight up
  to the muscle's superficial border (the fascia's deep edge) at the facet's column;
  its length is ``thickness_cm``;
* ``lines["fat"]``: from the skin (row 0) down to the fascia at the same column; its
  length is ``fat_cm``.

Both lines are vertical, so their length in mm is ``drow * row_mm`` whatever the
column spacing. :func:`make_rusi_series` draws the rest and contracted trials of one
side (the contracted muscle thicker by a known amount; fat unchanged). As with
:mod:`mfscan.synthetic.phantom`, it is a drawing for tests and the sample study, not
a simulation of ultrasound physics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from mfscan.synthetic import _font, _overlay, _render
from mfscan.synthetic._anatomy import make_field
from mfscan.synthetic._random import generator

__all__ = ["ParasagittalPhantom", "make_parasagittal", "make_rusi_series"]

#: Height of the lamina humps above the facet joint (mm) and their period (mm).
LAMINA_HUMP_MM = 5.0
LAMINA_PERIOD_MM = 38.0


@dataclass
class ParasagittalPhantom:
    """A parasagittal phantom and its truth.

    Attributes
    ----------
    image : (rows, cols) uint8
    spacing_mm : tuple of float
        ``(row_mm, col_mm)``.
    thickness_cm, fat_cm : float
        True multifidus thickness (facet joint to fascia) and fat thickness (skin to
        fascia) at the facet's column.
    lines : dict
        ``{"thickness": (2, 2), "fat": (2, 2)}`` true line ends in (row, col) pixels.
    task : str
    level : str
    landmarks : dict
        ``facet_rc`` (the facet joint), ``fascia_rows`` and ``bone_rows`` per column,
        and the depth ruler's ticks (as :func:`mfscan.synthetic.phantom.make_phantom`).
    """

    image: np.ndarray
    spacing_mm: tuple
    thickness_cm: float
    fat_cm: float
    lines: dict
    task: str
    level: str
    landmarks: dict = field(default_factory=dict)


def _check(shape, spacing_mm, thickness_cm, fat_cm) -> tuple[int, int, float, float]:
    rows, cols = (int(shape[0]), int(shape[1]))
    row_mm, col_mm = (float(spacing_mm), float(spacing_mm)) if np.isscalar(spacing_mm) else spacing_mm
    if rows < 64 or cols < 64:
        raise ValueError(f"shape {shape} is too small; at least 64 x 64 pixels")
    if not (0 < row_mm < 5 and 0 < col_mm < 5):
        raise ValueError(f"spacing_mm {spacing_mm} must be between 0 and 5 mm")
    if not (0.5 <= thickness_cm <= 8.0) or not (0.1 <= fat_cm <= 6.0):
        raise ValueError("thickness_cm must be 0.5-8 cm and fat_cm 0.1-6 cm")
    if (thickness_cm + fat_cm) * 10 + 10 > rows * row_mm:
        raise ValueError(
            f"fat + muscle ({thickness_cm + fat_cm:.1f} cm) do not fit in the image's "
            f"{rows * row_mm / 10:.1f} cm depth with 1 cm of bone below"
        )
    return rows, cols, float(row_mm), float(col_mm)


def make_parasagittal(
    *,
    seed: int = 0,
    shape=(200, 320),
    spacing_mm=0.3,
    thickness_cm: float = 3.0,
    fat_cm: float = 1.0,
    task: str = "rest",
    level: str = "L5",
    gain: float = 1.0,
) -> ParasagittalPhantom:
    """A parasagittal image with a known multifidus thickness and fat thickness.

    Parameters
    ----------
    seed : int
        Seeds the texture and the small shape variations (the truth is exact).
    shape : (rows, cols)
    spacing_mm : float or (row_mm, col_mm)
    thickness_cm : float
        Facet joint to the muscle's superficial border, at the facet's column.
    fat_cm : float
        Skin to the fascia, at the same column.
    task, level : str
        Written into the burned-in text and the result.
    gain : float
        Overall brightness (1 = default).

    Returns
    -------
    ParasagittalPhantom
    """
    rows, cols, row_mm, col_mm = _check(shape, spacing_mm, thickness_cm, fat_cm)
    rng = generator(seed)
    fat_mm, thick_mm = fat_cm * 10.0, thickness_cm * 10.0
    c0 = (cols - 1) * (0.45 + 0.1 * rng.random())  # the facet joint's column
    x = (np.arange(cols) - c0) * col_mm  # mm from the facet, cranial negative
    phase = rng.uniform(-0.6, 0.6)
    fascia_mm = fat_mm + 1.5 * np.sin(2 * np.pi * x / (cols * col_mm * 1.3) + phase) - 1.5 * math.sin(phase)
    bone_mm = fat_mm + thick_mm - LAMINA_HUMP_MM * (1 - np.cos(2 * np.pi * x / LAMINA_PERIOD_MM)) / 2
    fascia_r, bone_r = fascia_mm / row_mm, bone_mm / row_mm
    rr = np.arange(rows, dtype=np.float64)[:, None]
    refl = _reflectivity(rng, rr, fascia_r, bone_r, row_mm, col_mm, shape=(rows, cols))
    coh = np.zeros((rows, cols), np.float32)
    band = lambda lo, hi: (rr >= lo) & (rr < hi)  # noqa: E731
    coh[band(fascia_r - 2.0, fascia_r) | band(bone_r, bone_r + 3.0)] = 0.7
    amp = _render.speckle_amplitude(refl, coh, rng, 0.8)
    depth = np.repeat((np.arange(rows, dtype=np.float32) * row_mm)[:, None], cols, axis=1)
    img, _ = _render.to_bmode(amp, rng, depth_map=depth, sector_mask=np.ones((rows, cols), bool), gain=gain)
    img, ruler = _burn_overlays(img, rows, cols, row_mm, col_mm, level=level, task=task, fat_r=fascia_r)
    fascia_c0, bone_c0 = fat_mm / row_mm, (fat_mm + thick_mm) / row_mm
    lines = {
        "thickness": np.array([[bone_c0, c0], [fascia_c0, c0]]),
        "fat": np.array([[0.0, c0], [fascia_c0, c0]]),
    }
    landmarks = {"facet_rc": (bone_c0, c0), "fascia_rows": fascia_r, "bone_rows": bone_r, **ruler}
    return ParasagittalPhantom(
        img, (row_mm, col_mm), float(thickness_cm), float(fat_cm), lines, task, level, landmarks
    )


def _reflectivity(rng, rr, fascia_r, bone_r, row_mm, col_mm, *, shape) -> np.ndarray:
    """Echo level of every pixel: skin, fat with strands, fascia, muscle with oblique
    striations, bone surface and its shadow."""
    rows, cols = shape
    cc = np.arange(cols, dtype=np.float64)[None, :]
    rr = np.broadcast_to(rr, shape)
    refl = np.full(shape, 0.22, np.float32)
    strands = _render.smooth_noise(rng, shape, (0.8, 6.0))
    fat = rr < fascia_r
    refl[fat] += (0.12 * np.clip(strands, 0, None))[fat]
    refl[rr < 2.0 / row_mm] = 0.75  # skin
    muscle = (rr >= fascia_r) & (rr < bone_r)
    angle = math.radians(rng.uniform(12, 22))  # fascicles run obliquely, deep-caudal
    wobble = _render.smooth_noise(rng, shape, (3.0, 3.0))
    stri = 0.5 + 0.5 * np.sin(
        2 * np.pi * (rr * row_mm * math.cos(angle) + cc * col_mm * math.sin(angle)) / 2.2
    )
    stri = stri + 0.3 * wobble
    refl[muscle] = (0.38 + 0.12 * np.clip(stri, 0, 1.5))[muscle]
    refl[(rr >= fascia_r - 2.0) & (rr < fascia_r)] = 0.95  # fascia, just above the border
    refl[(rr >= bone_r) & (rr < bone_r + 3.0)] = 1.0  # bone surface, just below the landmark
    refl[rr >= bone_r + 3.0] = 0.03  # acoustic shadow
    return refl


def _burn_overlays(img, rows, cols, row_mm, col_mm, *, level, task, fat_r):
    """Corner text and the depth ruler, kept off the muscle."""
    fld = make_field(rows, cols, row_mm, col_mm, "linear", 0.0)
    overlay = np.zeros((rows, cols), np.uint8)
    backing = np.zeros((rows, cols), bool)
    font = _font.font_for(rows, cols, 0.45)
    ruler = _overlay.draw_ruler(overlay, backing, font, fld)
    guard = np.zeros((rows, cols), bool)
    guard[int(np.floor(fat_r.min())) :, :] = True
    guard[rows - 20 :, :] = False
    boxes: list = []
    _, base = _font.text_size("Ag", font)
    text = f"SYNTHETIC {level} PARASAG {task.upper()}"
    _overlay.put_text(overlay, boxes, guard, text, (rows - base - 4, 4), font)
    return _overlay.burn_in(img, overlay, backing), ruler


def make_rusi_series(
    *,
    seed: int = 0,
    rest_thickness_cm: float = 3.0,
    contracted_thickness_cm: float = 3.5,
    fat_cm: float = 1.0,
    trials: int = 3,
    trial_sd_cm: float = 0.0,
    **kwargs,
) -> dict:
    """The rest and contracted trials of one side: ``{(task, trial): ParasagittalPhantom}``.

    Each trial's true thickness is the task's value plus a normal deviation of SD
    `trial_sd_cm` (0: every trial exactly the task's value; the truth of each image
    is in its ``thickness_cm``). Fat is the same on every image. Other keywords go
    to :func:`make_parasagittal`.
    """
    rng = generator(seed)
    out = {}
    for task, value in (("rest", rest_thickness_cm), ("contracted", contracted_thickness_cm)):
        for trial in range(1, trials + 1):
            t = float(value + (rng.normal(0, trial_sd_cm) if trial_sd_cm > 0 else 0.0))
            out[(task, trial)] = make_parasagittal(
                seed=int(rng.integers(0, 2**31)), thickness_cm=t, fat_cm=fat_cm, task=task, **kwargs
            )
    return out
