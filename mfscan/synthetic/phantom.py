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

Modules
-------
This module checks the request and puts the phantom together; the drawing lives in
private modules: ``_anatomy`` (outlines, fascia and bone in mm, the field),
``_render`` (reflectivity, texture, speckle, attenuation) and ``_overlay`` (burned-in
text, ruler, calipers, landmark masks). :mod:`mfscan.synthetic.export` makes RGB
screenshots (:func:`~mfscan.synthetic.export.make_rgb_export`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from mfscan.geometry import signed_area
from mfscan.synthetic import _anatomy, _overlay, _render
from mfscan.synthetic._anatomy import N_VERTICES
from mfscan.synthetic._random import generator

__all__ = ["Phantom", "make_phantom", "shoelace_area"]

#: Minimum image size accepted, in pixels.
MIN_SIZE = 64
#: Upper limit of the requested CSA (cm^2); larger muscles are not human.
MAX_CSA_CM2 = 30.0


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

    Positive when the vertices run counter-clockwise as displayed (row down); the
    same as :func:`mfscan.geometry.signed_area`, which it calls.

    Parameters
    ----------
    polygon : array_like, shape (N, 2)

    Returns
    -------
    float
    """
    return signed_area(polygon)


# --------------------------------------------------------------------------- validation


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


def _validate(
    *,
    shape,
    spacing_mm,
    sector,
    smaller_side,
    asymmetry_pct,
    lateral_contrast,
    speckle,
    contrast,
    shape_jitter,
    gain,
):
    """``(rows, cols, row_mm, col_mm)``; ValueError naming the first parameter out of range."""
    try:
        rows, cols = (int(v) for v in shape)
    except (TypeError, ValueError) as e:
        raise ValueError(f"shape must be (rows, cols), got {shape!r}") from e
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
    return rows, cols, row_mm, col_mm


def _side_csa(rng_geom, left_csa_cm2, asymmetry_pct, smaller_side) -> dict:
    """The CSA (cm^2) of each side; the default left CSA is drawn from ``rng_geom`` (always drawn)."""
    drawn_left = float(rng_geom.uniform(5.0, 9.0))
    left = drawn_left if left_csa_cm2 is None else float(left_csa_cm2)
    if not (math.isfinite(left) and 0 < left <= MAX_CSA_CM2):
        raise ValueError(f"left_csa_cm2 must be in (0, {MAX_CSA_CM2}] cm2, got {left_csa_cm2!r}")
    a = float(asymmetry_pct) / 100.0
    right = left * (1 - a) if smaller_side == "right" else left / (1 - a)
    if right > MAX_CSA_CM2:
        raise ValueError(f"the right multifidus would be {right:.1f} cm2, above {MAX_CSA_CM2} cm2")
    return {"left": left, "right": right}


# --------------------------------------------------------------------------- main API


def make_phantom(
    *,
    seed=0,
    shape=(600, 800),
    spacing_mm=0.2,
    left_csa_cm2=None,
    asymmetry_pct=0.0,
    smaller_side="right",
    speckle=1.0,
    contrast=1.0,
    lateral_contrast=1.0,
    gain=1.0,
    shape_jitter=1.0,
    burned_in_text=True,
    ruler=True,
    sector="linear",
    caliper_overlay=False,
    level="L4",
) -> Phantom:
    """Draw a synthetic transverse lumbar ultrasound image with known outlines.

    The patient's right appears on the image's left (common transverse
    convention): ``outlines["left"]`` is on the image's right half.

    Parameters
    ----------
    seed : int
        Seed of the random generator (:func:`mfscan.synthetic._random.generator`); the same seed and parameters give a
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
    opts = dict(locals())  # the keyword arguments, as given
    return _draw_phantom(opts)


#: make_phantom's keyword arguments recorded in ``Phantom.params``.
_RECORDED_OPTIONS = (
    "seed",
    "left_csa_cm2",
    "asymmetry_pct",
    "smaller_side",
    "speckle",
    "contrast",
    "lateral_contrast",
    "gain",
    "shape_jitter",
    "burned_in_text",
    "ruler",
    "caliper_overlay",
)


def _draw_phantom(o: dict) -> Phantom:
    """The phantom of :func:`make_phantom`'s keyword arguments ``o``: validate, draw the anatomy, render."""
    rows, cols, row_mm, col_mm = _validate(
        **{
            k: o[k]
            for k in (
                "shape",
                "spacing_mm",
                "sector",
                "smaller_side",
                "asymmetry_pct",
                "lateral_contrast",
                "speckle",
                "contrast",
                "shape_jitter",
                "gain",
            )
        }
    )
    ss = np.random.SeedSequence(int(o["seed"]))
    rng_geom, rng_tex, rng_fat = (generator(s) for s in ss.spawn(3))
    csa = _side_csa(rng_geom, o["left_csa_cm2"], o["asymmetry_pct"], o["smaller_side"])

    # ---- anatomy in mm, then the exact outlines in pixels (draws from rng_geom, in this order)
    fat_mm = float(rng_geom.uniform(7.0, 13.0))
    sp_half = float(rng_geom.uniform(2.2, 3.2))  # half-width of the spinous process
    mid_jit = float(rng_geom.uniform(-1.5, 1.5))
    shapes = _anatomy.draw_shapes(rng_geom, csa, o["shape_jitter"])
    fld = _anatomy.make_field(rows, cols, row_mm, col_mm, o["sector"], mid_jit)
    y_tip = fat_mm + 1.2  # depth of the spinous process tip below the skin
    geo = _anatomy.place_muscles(shapes, sp_half, y_tip)
    rcs = _anatomy.check_fit(geo, fld, csa, spacing_mm=o["spacing_mm"], shape=o["shape"])
    outlines, _, true_csa = _anatomy.exact_outlines(rcs, shapes, csa, row_mm, col_mm)
    masks = {side: _render.mask_of(outlines[side], (rows, cols)) for side in ("left", "right")}
    sector_mask, depth_map = _anatomy.sector_and_depth(fld)
    st = _anatomy.structures(geo, shapes, fld, y_tip=y_tip, sp_half=sp_half)

    # ---- the image (fat strands from rng_fat, texture and speckle from rng_tex)
    refl, fat, bone_mask = _render.background(
        fld, st, contrast=o["contrast"], fat_mm=fat_mm, rng_fat=rng_fat, depth_map=depth_map
    )
    thick = _render.thickness(row_mm, col_mm)
    coh = _render.interfaces(
        refl, fld, st, thick, contrast=o["contrast"], lateral_contrast=o["lateral_contrast"]
    )
    refl = _render.texture(
        refl, coh, rng_tex, fat=fat, bone_mask=bone_mask, masks=masks, contrast=o["contrast"], row_mm=row_mm
    )
    amp = _render.speckle_amplitude(refl, coh, rng_tex, o["speckle"])
    image, alpha = _render.to_bmode(
        amp, rng_tex, depth_map=depth_map, sector_mask=sector_mask, gain=o["gain"]
    )
    image, landmarks, text_boxes, overlay_mask = _overlay.burn_overlays(
        image,
        fld,
        masks,
        outlines,
        burned_in_text=o["burned_in_text"],
        ruler=o["ruler"],
        caliper_overlay=o["caliper_overlay"],
        level=o["level"],
    )

    seeds, more = _landmarks(
        fld,
        st,
        thick,
        masks=masks,
        bone_mask=bone_mask,
        sector_mask=sector_mask,
        y_tip=y_tip,
        sp_half=sp_half,
        text_boxes=text_boxes,
        overlay_mask=overlay_mask,
    )
    landmarks.update(more)
    params = _params(
        fld,
        csa,
        shapes,
        **{k: o[k] for k in _RECORDED_OPTIONS},
        fat_mm=fat_mm,
        sp_half=sp_half,
        alpha=alpha,
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


def _landmarks(fld, st, thick, *, masks, bone_mask, sector_mask, y_tip, sp_half, text_boxes, overlay_mask):
    """The muscles' seed points and the anatomical landmarks (see :class:`Phantom`)."""
    seeds, fascia_rows, lamina_rows = _overlay.seeds_and_bands(masks, thick)
    lam_mask, fas_mask, shadow = _overlay.structure_masks(
        fld,
        st,
        thick,
        masks=masks,
        bone_mask=bone_mask,
        sector_mask=sector_mask,
        y_tip=y_tip,
        sp_half=sp_half,
    )
    ccol = fld.mid_mm / fld.col_mm
    return seeds, dict(
        orientation="patient right on image left",
        skin_row=float(fld.skin_mm / fld.row_mm),
        midline_col=float(ccol),
        spinous_process_tip=(float((fld.skin_mm + y_tip) / fld.row_mm), float(ccol)),
        fascia_rows=fascia_rows,
        lamina_rows=lamina_rows,
        text_boxes=text_boxes,
        overlay_mask=overlay_mask,
        fascia_mask=fas_mask,
        lamina_mask=lam_mask,
        shadow_mask=shadow,
    )


def _params(
    fld,
    csa,
    shapes,
    *,
    seed,
    left_csa_cm2,
    asymmetry_pct,
    smaller_side,
    speckle,
    contrast,
    lateral_contrast,
    gain,
    shape_jitter,
    burned_in_text,
    ruler,
    caliper_overlay,
    fat_mm,
    sp_half,
    alpha,
) -> dict:
    """Every parameter used, requested and drawn (JSON-serialisable)."""
    return dict(
        seed=int(seed),
        shape=(fld.rows, fld.cols),
        spacing_mm=(fld.row_mm, fld.col_mm),
        left_csa_cm2=float(csa["left"]),
        right_csa_cm2=float(csa["right"]),
        left_csa_cm2_requested=None if left_csa_cm2 is None else float(left_csa_cm2),
        asymmetry_pct=float(asymmetry_pct),
        smaller_side=smaller_side,
        speckle=float(speckle),
        contrast=float(contrast),
        lateral_contrast=float(lateral_contrast),
        gain=float(gain),
        shape_jitter=float(shape_jitter),
        burned_in_text=bool(burned_in_text),
        ruler=bool(ruler),
        sector=fld.sector,
        caliper_overlay=bool(caliper_overlay),
        field_mm=(fld.depth_mm, fld.width_mm),
        skin_mm=fld.skin_mm,
        fat_mm=fat_mm,
        spinous_half_width_mm=sp_half,
        midline_mm=fld.mid_mm,
        attenuation_per_mm=alpha,
        curved_radius_mm=fld.radius_mm if fld.sector == "curved" else None,
        curved_half_angle_deg=_anatomy.CURVED_HALF_ANGLE_DEG if fld.sector == "curved" else None,
        n_vertices=N_VERTICES,
        outline_shape={
            side: {**shapes[side]["info"], "tp_len_mm": shapes[side]["tp_len"]} for side in ("left", "right")
        },
    )
