"""The phantom's anatomy in millimetres: muscle outlines, fascia, bone and the imaged field.

Private helpers of :func:`mfscan.synthetic.phantom.make_phantom`. Coordinates here are
``(x, y)`` millimetres, ``x`` lateral from the midline (negative on the image's left,
the patient's right) and ``y`` depth below the skin; :meth:`Field.to_rc` maps them to
``(row, col)`` pixels. Every random draw happens in the order the generator has
always used, so a seed gives the same phantom as before the module was split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mfscan.geometry import resample_closed, signed_area

#: Number of vertices of each true outline.
N_VERTICES = 160

# Curved (convex) probe geometry.
CURVED_RADIUS_MM = 50.0
CURVED_HALF_ANGLE_DEG = 36.0

# Fractional position of the control points of one multifidus outline, (u, v):
# u lateral from the medial border in units of the width W, v depth from the top in
# units of the AP depth D. Labels: 0 fascia (superficial), 1 lateral (septum),
# 2 deep (lamina / facet), 3 medial (spinous process). The label of a control point
# is the label of the edge that starts at it.
L_FASCIA, L_LATERAL, L_DEEP, L_MEDIAL = 0, 1, 2, 3

_CONTROL_POINTS = np.array(
    [
        # u, v, label
        (0.00, 0.000, L_FASCIA),
        (0.08, 0.010, L_FASCIA),
        (0.50, 0.500, L_FASCIA),
        (0.88, 0.880, L_FASCIA),
        (1.00, 1.000, L_LATERAL),
        (1.04, 0.460, L_LATERAL),
        (0.96, 0.720, L_DEEP),
        (0.84, 0.820, L_DEEP),
        (0.50, 0.930, L_DEEP),
        (0.10, 1.000, L_DEEP),
        (0.00, 0.990, L_MEDIAL),
        (0.00, 0.930, L_MEDIAL),
        (-0.01, 0.500, L_MEDIAL),
        (0.00, 0.070, L_MEDIAL),
    ]
)

#: The two sides with the sign of their x (image-left = patient's right = negative x).
SIDE_SIGNS = (("right", -1.0), ("left", 1.0))


@dataclass(frozen=True)
class Field:
    """The imaged field: its size in pixels and millimetres and the probe geometry.

    ``skin_mm`` is the row (mm) of the skin at the midline (0 for a linear probe, the
    top of the fan for a curved one), ``mid_mm`` the column (mm) of the midline,
    ``radius_mm`` / ``half_angle`` the curved probe's radius and half-angle (radians),
    both 0 for a linear probe.
    """

    rows: int
    cols: int
    row_mm: float
    col_mm: float
    sector: str
    skin_mm: float
    mid_mm: float
    radius_mm: float
    half_angle: float

    @property
    def depth_mm(self) -> float:
        return self.rows * self.row_mm

    @property
    def width_mm(self) -> float:
        return self.cols * self.col_mm

    def to_rc(self, xy) -> np.ndarray:
        """``(x, y)`` mm points to ``(row, col)`` pixels."""
        xy = np.asarray(xy, dtype=float)
        return np.column_stack(
            [(self.skin_mm + xy[:, 1]) / self.row_mm, (self.mid_mm + xy[:, 0]) / self.col_mm]
        )


def make_field(rows: int, cols: int, row_mm: float, col_mm: float, sector: str, mid_jit: float) -> Field:
    """The field of a linear or curved probe, its midline moved by ``mid_jit`` mm."""
    if sector == "curved":
        r0 = CURVED_RADIUS_MM
        half = math.radians(CURVED_HALF_ANGLE_DEG)
        skin_mm = r0 * (1 - math.cos(half)) + 0.5  # row (mm) of the top of the fan at the centre
    else:
        r0, half, skin_mm = 0.0, 0.0, 0.0
    mid_mm = cols * col_mm / 2 + mid_jit  # column (mm) of the midline
    return Field(rows, cols, row_mm, col_mm, sector, skin_mm, mid_mm, r0, half)


# --------------------------------------------------------------------------- outlines


def drawn_area(points) -> float:
    """Signed area of an outline: :func:`mfscan.geometry.signed_area` (one shoelace for the project).

    Its centred sum is exact to about 1e-15; the generator's former uncentred sum
    differed in the last bits, so a true CSA of exactly 8.125 cm^2 is now
    8.12499999999998 and :func:`make_rgb_export` prints "8.12" where it printed
    "8.13". Phantom images and the sample study are unchanged.
    """
    return signed_area(points)


def chaikin(points, labels, iterations):
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


def muscle_outline_mm(rng, area_mm2, jitter):
    """One multifidus outline in local mm coordinates (u lateral, v depth).

    Returns vertices (u, v) with u >= about 0 at the medial border, v >= about 0 at
    the top, their labels, and the drawn shape parameters.
    """
    aspect = float(np.clip(1.08 + 0.08 * jitter * rng.standard_normal(), 0.88, 1.3))  # AP / Lat
    slope = float(np.clip(0.12 + 0.04 * jitter * rng.standard_normal(), 0.02, 0.25))
    ctrl = _CONTROL_POINTS
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
    pts, lab = chaikin(np.column_stack([u, v * aspect]), labels, 4)
    pts, lab = resample_closed(pts, N_VERTICES, labels=lab)
    # Scale to the exact area (about the centroid), then put the corner at the origin.
    a = abs(drawn_area(pts))
    cen = pts.mean(axis=0)
    pts = cen + (pts - cen) * math.sqrt(area_mm2 / a)
    pts -= [pts[:, 0].min(), pts[:, 1].min()]
    return pts, lab, {"aspect_ap_lat": aspect, "fascia_slope": slope}


def draw_shapes(rng_geom, csa: dict, shape_jitter: float) -> dict:
    """Both outlines and their bony surroundings, drawn right side first (fixed draw order)."""
    shapes = {}
    for side in ("right", "left"):
        area = csa[side] * 100.0
        pts, lab, info = muscle_outline_mm(rng_geom, area, float(shape_jitter))
        top_jit = float(rng_geom.uniform(-0.6, 0.6))
        tp_len = float(rng_geom.uniform(14.0, 22.0))
        tp_drop = float(rng_geom.uniform(4.0, 8.0))
        fascia_curv = float(rng_geom.uniform(0.0008, 0.002))
        shapes[side] = dict(
            pts=pts,
            lab=lab,
            info=info,
            top_jit=top_jit,
            tp_len=tp_len,
            tp_drop=tp_drop,
            fascia_curv=fascia_curv,
        )
    return shapes


def place_muscles(shapes: dict, sp_half: float, y_tip: float) -> dict:
    """Each outline in field mm ``(x, y)``, beside the spinous process (image-left = patient's right)."""
    geo = {}
    for side, sign in SIDE_SIGNS:
        s = shapes[side]
        u, v = s["pts"][:, 0], s["pts"][:, 1]
        x = sign * (sp_half + u)
        y = y_tip + 0.9 + s["top_jit"] * 0.3 + v
        geo[side] = np.column_stack([x, y])  # (x lateral mm from midline, y depth mm)
    return geo


def check_fit(geo: dict, fld: Field, csa: dict, *, spacing_mm, shape) -> dict:
    """The outlines in pixels; ValueError saying why when the muscles do not fit in the field.

    ``spacing_mm`` and ``shape`` are the caller's arguments, quoted in the message.
    """
    margin = 4.0
    depth_mm, width_mm, mid_mm, skin_mm = fld.depth_mm, fld.width_mm, fld.mid_mm, fld.skin_mm
    for side, _sign in SIDE_SIGNS:
        xy = geo[side]
        xmax = np.abs(xy[:, 0]).max() + margin + 5.0  # room for the septum / longissimus
        ybot = xy[:, 1].max() + margin
        if mid_mm - xmax < 0 or mid_mm + xmax > width_mm:
            raise ValueError(
                f"the {side} multifidus of {csa[side]:.2f} cm2 needs a field at least "
                f"{2 * xmax:.0f} mm wide around the midline, but the image is {width_mm:.1f} mm "
                f"wide ({fld.cols} px x {fld.col_mm} mm); use a smaller CSA, more columns or a larger spacing"
            )
        if skin_mm + ybot > depth_mm:
            raise ValueError(
                f"the {side} multifidus of {csa[side]:.2f} cm2 reaches {skin_mm + ybot:.0f} mm deep "
                f"with the lamina, but the image is {depth_mm:.1f} mm deep ({fld.rows} px x {fld.row_mm} mm); "
                f"use a smaller CSA, more rows or a larger spacing"
            )
        if fld.sector == "curved" and not _inside_fan(xy, fld, margin):
            raise ValueError(
                f"the {side} multifidus of {csa[side]:.2f} cm2 does not fit inside the "
                f"curved sector (half-angle {CURVED_HALF_ANGLE_DEG} deg); use a smaller CSA "
                f"or sector='linear'"
            )
    rcs = {side: fld.to_rc(geo[side]) for side in geo}
    min_extent = min(np.ptp(rc, axis=0).min() for rc in rcs.values())
    if min_extent < 20:
        raise ValueError(
            f"the muscles would span only {min_extent:.0f} pixels; the spacing {spacing_mm!r} "
            f"mm is too coarse for shape {shape!r}"
        )
    return rcs


def _inside_fan(xy, fld: Field, margin: float) -> bool:
    """Whether every point is at least ``margin`` mm inside the curved probe's fan."""
    r0 = fld.radius_mm
    # the apex is r0 mm above the top of the fan, on the midline
    ry = (fld.skin_mm + xy[:, 1]) - (fld.skin_mm - r0)
    rr = np.hypot(xy[:, 0], ry)
    th = np.abs(np.arctan2(xy[:, 0], ry))
    slack = fld.half_angle - np.arcsin(np.minimum(1.0, margin / rr))
    return not np.any(th > slack)


def exact_outlines(rcs: dict, shapes: dict, csa: dict, row_mm: float, col_mm: float):
    """Outlines scaled to the exact requested area in pixel space, counter-clockwise as displayed.

    Returns ``(outlines, labels, true_csa_cm2)``, dicts by side.
    """
    outlines, labels_px, true_csa = {}, {}, {}
    for side in ("right", "left"):
        rc = rcs[side]
        lab = shapes[side]["lab"]
        target = csa[side] * 100.0 / (row_mm * col_mm)  # pixels
        ar = drawn_area(rc)
        cen = rc.mean(axis=0)
        rc = cen + (rc - cen) * math.sqrt(target / abs(ar))
        if drawn_area(rc) < 0:
            rc, lab = rc[::-1].copy(), lab[::-1].copy()
        outlines[side] = rc
        labels_px[side] = lab
        true_csa[side] = drawn_area(rc) * row_mm * col_mm / 100.0
    return outlines, labels_px, true_csa


def extremes(rc) -> np.ndarray:
    """Caliper points: top and bottom at the centroid column, medial/lateral at its row."""
    rc = np.asarray(rc, dtype=float)
    top = rc[np.argmin(rc[:, 0])]
    bot = rc[np.argmax(rc[:, 0])]
    lft = rc[np.argmin(rc[:, 1])]
    rgt = rc[np.argmax(rc[:, 1])]
    return np.array([top, bot, lft, rgt])


# --------------------------------------------------------------------------- structures


def arc(points, labels, which):
    """The contiguous run of vertices with one label, in outline order."""
    idx = np.flatnonzero(labels == which)
    # The run may wrap around the end of the array.
    if len(idx) and idx[0] == 0 and idx[-1] == len(labels) - 1:
        gaps = np.flatnonzero(np.diff(idx) > 1)
        if len(gaps):
            k = gaps[0] + 1
            idx = np.concatenate([idx[k:], idx[:k]])
    return points[idx]


def fascia_extension(fasc, sign, curv, width_mm):
    """The fascia continued laterally from the lateral end of a muscle's fascia arc (medial -> lateral)."""
    p0, p1 = fasc[0], fasc[-1]
    slope = float(np.clip((p1[1] - p0[1]) / max(abs(p1[0] - p0[0]), 1e-6), -0.05, 0.25))
    dxs = np.linspace(0.5, width_mm + 10, 40)
    return np.column_stack([p1[0] + sign * dxs, p1[1] + slope * dxs + curv * dxs**2])


def transverse_process(deep, sign, length, drop):
    """The transverse process running laterally from the facet (the deep arc's lateral end)."""
    f = deep[0]  # lateral end of the deep arc (facet)
    t = np.linspace(0, 1, 12)[1:]
    return np.column_stack([f[0] + sign * length * t, f[1] + drop * (3 * t**2 - 2 * t**3) - 1.5 * t**2])


def shadow_foot(p, fld: Field, bottom: float):
    """Where the shadow edge from ``p`` leaves the field: along the beam, vertical or radial."""
    if fld.sector != "curved":
        return np.array([[p[0], bottom]])
    r0 = fld.radius_mm
    apex = np.array([0.0, -r0])
    d = p - apex
    return (apex + d * ((r0 + bottom) / np.hypot(*d)))[None]


@dataclass
class Structures:
    """The bright lines and the bone of the image, in field mm ``(x, y)``.

    ``arcs[side][label]`` are the runs of each outline by border; ``ext`` the fascia's
    lateral extensions by side; ``bone[side]`` has ``deep`` (lamina, lateral -> medial),
    ``med`` (spinous process surface, bottom -> top) and ``tp`` (transverse process).
    """

    arcs: dict
    ext: dict
    fascia_line: np.ndarray
    bone: dict
    cap: np.ndarray
    bottom: float
    bone_poly: np.ndarray


def structures(geo: dict, shapes: dict, fld: Field, *, y_tip: float, sp_half: float) -> Structures:
    """Fascia, spinous process, laminae, transverse processes and the bone-and-shadow polygon."""
    arcs = {}
    for side in ("right", "left"):
        xy, lab = geo[side], shapes[side]["lab"]
        arcs[side] = {k: arc(xy, lab, k) for k in (L_FASCIA, L_LATERAL, L_DEEP, L_MEDIAL)}
    tip = np.array([0.0, y_tip])
    # Fascia: from the field's left edge over the patient's right muscle, the spinous
    # process tip, the patient's left muscle, to the right edge. Both fascia arcs run
    # medial -> lateral in the original (clockwise-in-u,v) order.
    fr = arcs["right"][L_FASCIA]
    fl = arcs["left"][L_FASCIA]
    ext = {
        "right": fascia_extension(fr, -1.0, shapes["right"]["fascia_curv"], fld.width_mm),
        "left": fascia_extension(fl, 1.0, shapes["left"]["fascia_curv"], fld.width_mm),
    }
    fascia_line = np.vstack([ext["right"][::-1], fr[::-1], tip[None], fl, ext["left"]])
    # Bone: spinous-process cap, medial surfaces, laminae, transverse processes.
    bone = {}
    for side, sign in SIDE_SIGNS:
        sh = shapes[side]
        deep, med = arcs[side][L_DEEP], arcs[side][L_MEDIAL]  # deep: lateral->medial, med: bottom->top
        tp = transverse_process(deep, sign, sh["tp_len"], sh["tp_drop"])
        bone[side] = dict(deep=deep, med=med, tp=tp)
    cap = np.array(
        [
            [-sp_half - 0.4, y_tip + 1.3],
            [-sp_half * 0.5, y_tip + 0.2],
            [0.0, y_tip],
            [sp_half * 0.5, y_tip + 0.2],
            [sp_half + 0.4, y_tip + 1.3],
        ]
    )
    bottom = fld.depth_mm + 20.0
    br, bl = bone["right"], bone["left"]
    bone_poly = np.vstack(
        [
            cap[2:],
            bl["med"][::-1],
            bl["deep"][::-1],
            bl["tp"],
            shadow_foot(bl["tp"][-1], fld, bottom),
            shadow_foot(br["tp"][-1], fld, bottom),
            br["tp"][::-1],
            br["deep"],
            br["med"],
            cap[:2],
        ]
    )
    return Structures(arcs, ext, fascia_line, bone, cap, bottom, bone_poly)


def sector_and_depth(fld: Field):
    """The imaged field (bool) and each pixel's depth below the skin along the beam (mm, float32)."""
    rows, cols, row_mm, col_mm = fld.rows, fld.cols, fld.row_mm, fld.col_mm
    rr_idx = np.arange(rows, dtype=np.float32)[:, None]
    cc_idx = np.arange(cols, dtype=np.float32)[None, :]
    if fld.sector == "curved":
        r0 = fld.radius_mm
        ay_px = (fld.skin_mm - r0) / row_mm
        dy = (rr_idx - ay_px) * row_mm
        dx = (cc_idx - fld.mid_mm / col_mm) * col_mm
        rad = np.sqrt(dy * dy + dx * dx)
        theta = np.arctan2(dx, dy)
        sector_mask = (
            (rad >= r0) & (rad <= r0 + fld.depth_mm - fld.skin_mm - 0.5) & (np.abs(theta) <= fld.half_angle)
        )
        depth_map = (rad - r0).astype(np.float32)
    else:
        sector_mask = np.ones((rows, cols), dtype=bool)
        depth_map = np.broadcast_to(rr_idx * row_mm, (rows, cols)).astype(np.float32)
    return sector_mask, depth_map
