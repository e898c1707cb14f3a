"""The geometry of Fiji/ImageJ ROIs: their rings, the parts they enclose, repairs and clipping.

Everything here is in Fiji's (x, y) pixel-corner coordinates (see :mod:`mfscan.annotations.imagej`).
:func:`roi_rings` gives a ROI's rings as Fiji stores them; :func:`area_parts` turns them into
the simple outlines mfscan measures, by the rules Fiji fills a ROI with:

- a ring that only touches itself (a zero-area spike where Fiji's freehand or wand tool
  closes the outline) is repaired with ``shapely.make_valid`` when the repair changes the
  area by less than :data:`MAX_REPAIR_CHANGE` (0.1%), and the repair is noted; a ring that
  really crosses itself is refused;
- a composite (ShapeRoi) is filled by the even-odd rule: its disjoint parts become one
  outline each; a part with a hole (donut, rectangle in rectangle) is refused with the
  reason, since a sidecar outline has no holes;
- :func:`clip_part` clips a part that runs off the image to the image, as Fiji measures
  it, giving the share of its area cut off, or refuses it naming the furthest point outside.
"""

from __future__ import annotations

import math

import numpy as np
import shapely

from mfscan.errors import AnnotationError
from mfscan.geometry import signed_area

__all__ = ["OVAL_VERTICES", "MAX_REPAIR_CHANGE", "roi_rings", "area_parts", "clip_part"]

#: Largest relative area change a repair of a self-touching ring may make (0.1%).
MAX_REPAIR_CHANGE = 1e-3


#: Vertices of an oval ROI's polygon: its area is pi*a*b to 0.01% (inscribed 256-gon).
OVAL_VERTICES = 256
#: Vertices per rounded corner of a rounded rectangle.
_CORNER_VERTICES = 32
#: Vertices per curved segment (QUADTO, CUBICTO) of a composite ROI's path.
_CURVE_VERTICES = 16
_NOT_AREAS = ("LINE", "FREELINE", "POLYLINE", "NOROI", "ANGLE", "POINT", "UNKNOWN")
_PATH_ARGS = {0: 2, 1: 2, 2: 4, 3: 6, 4: 0}  # java.awt.geom.PathIterator segment -> coordinates


def roi_rings(roi, label: str = "", path=None) -> list[np.ndarray]:
    """The rings of an ImageJ ROI in Fiji's (x, y) corner coordinates, as Fiji stores them.

    Parameters
    ----------
    roi : roifile.ImagejRoi
        One ROI as read by roifile.
    label : str
        The ROI's name for messages.
    path : str or Path, optional
        The ROI file, for messages.

    Returns
    -------
    list of ndarray of float, shape (N, 2)
        (x, y) vertices of each ring, closed implicitly: one ring, except for a
        composite (ShapeRoi), whose every ring is given (curves flattened; rings
        enclosing no area left out). Rectangles give their 4 corners (area w*h);
        rounded rectangles their arcs; ovals an inscribed :data:`OVAL_VERTICES`-gon
        (area pi*a*b to 0.01%).

    Raises
    ------
    AnnotationError
        A line, point, angle, text or image ROI; a spline-fitted polygon (the file
        holds only its control points); fewer than 3 distinct vertices.
    """
    import roifile

    kind = roifile.ROI_TYPE(roi.roitype).name
    sub = roifile.ROI_SUBTYPE(roi.subtype).name
    if kind in _NOT_AREAS or sub in ("TEXT", "IMAGE", "ARROW"):
        what = f"{sub.lower()} overlay" if sub in ("TEXT", "IMAGE", "ARROW") else kind
        raise AnnotationError(f"ROI {label!r}: type {what} is not an area outline", path)
    if roi.composite and roi.multi_coordinates is not None:
        return _composite_rings(roi.multi_coordinates, label, path)
    if kind in ("RECT", "OVAL"):
        if roi.subpixelrect:
            x, y, w, h = (float(v) for v in (roi.xd, roi.yd, roi.widthd, roi.heightd))
        else:
            x, y, w, h = (float(v) for v in (roi.left, roi.top, roi.right - roi.left, roi.bottom - roi.top))
        if not (w > 0 and h > 0):
            raise AnnotationError(
                f"ROI {label!r}: the {kind.lower()} is {w:g}x{h:g} px and encloses no area", path
            )
        if kind == "OVAL":
            t = np.arange(OVAL_VERTICES) * (2 * np.pi / OVAL_VERTICES)
            return [np.column_stack([x + w / 2 * (1 + np.cos(t)), y + h / 2 * (1 + np.sin(t))])]
        return [_rounded_rect(x, y, w, h, float(roi.rounded_rect_arc_size or 0))]
    if roi.options & roifile.ROI_OPTIONS.SPLINE_FIT:
        raise AnnotationError(
            f"ROI {label!r} is spline-fitted in Fiji and its file holds only the control "
            "points; make it a plain polygon (Edit > Selection > Interpolate, interval 1) "
            "and save it again",
            path,
        )
    try:
        xy = np.asarray(roi.coordinates(), dtype=float).reshape(-1, 2)
    except Exception as e:  # roifile: malformed coordinate arrays
        raise AnnotationError(f"ROI {label!r}: unreadable coordinates ({e})", path) from e
    xy = _clean_ring(xy)
    if len(xy) < 3:
        raise AnnotationError(
            f"ROI {label!r}: type {kind} has {len(xy)} distinct vertices, not an area outline", path
        )
    return [xy]


def _clean_ring(xy: np.ndarray) -> np.ndarray:
    """Vertices without repeats of the previous one and without the closing copy of the first."""
    if len(xy) > 1:
        xy = xy[np.concatenate([[True], np.any(xy[1:] != xy[:-1], axis=1)])]
    if len(xy) > 1 and np.array_equal(xy[0], xy[-1]):
        xy = xy[:-1]
    return xy


def _rounded_rect(x: float, y: float, w: float, h: float, arc: float) -> np.ndarray:
    """A rectangle, with corners rounded as Java's RoundRectangle2D(arc, arc) when ``arc > 0``."""
    if arc <= 0:
        return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
    rx, ry = min(arc, w) / 2, min(arc, h) / 2
    t = np.linspace(0, np.pi / 2, _CORNER_VERTICES + 1)
    parts = []
    for k, (cx, cy) in enumerate(
        [(x + w - rx, y + h - ry), (x + rx, y + h - ry), (x + rx, y + ry), (x + w - rx, y + ry)]
    ):
        a = t + k * np.pi / 2
        parts.append(np.column_stack([cx + rx * np.cos(a), cy + ry * np.sin(a)]))
    return _clean_ring(np.vstack(parts))


def _path_rings(data) -> list[np.ndarray]:
    """The rings of a ShapeRoi path (MOVETO, LINETO, QUADTO, CUBICTO, CLOSE), curves flattened."""
    v = np.asarray(data, dtype=float).ravel().tolist()
    rings, ring, start, i = [], [], None, 0
    t = np.linspace(0, 1, _CURVE_VERTICES + 1)[1:, None]
    while i < len(v):
        op = int(v[i])
        if op != v[i] or op not in _PATH_ARGS or i + 1 + _PATH_ARGS[op] > len(v):
            raise ValueError(f"invalid path segment {v[i]:g} at position {i}")
        pts = np.asarray(v[i + 1 : i + 1 + _PATH_ARGS[op]]).reshape(-1, 2)
        i += 1 + _PATH_ARGS[op]
        if op == 0:
            if ring:
                rings.append(ring)
            ring, start = [pts[0]], pts[0]
            continue
        if op == 4:
            if ring:
                rings.append(ring)
            ring = []
            continue
        if not ring:  # drawing on after a CLOSE starts again from the last MOVETO
            if start is None:
                raise ValueError("a path segment before any MOVETO")
            ring = [start]
        if op == 1:
            ring.append(pts[0])
        else:  # Bezier curve from the current point through the control points
            ctrl = np.vstack([ring[-1], pts])
            deg = len(ctrl) - 1
            basis = np.hstack([math.comb(deg, j) * t**j * (1 - t) ** (deg - j) for j in range(deg + 1)])
            ring.extend(basis @ ctrl)
    if ring:
        rings.append(ring)
    return [np.asarray(r, dtype=float) for r in rings]


def _composite_rings(data, label: str, path) -> list[np.ndarray]:
    """The rings of a composite ROI's path that enclose some area."""
    try:
        rings = _path_rings(data)
    except ValueError as e:
        raise AnnotationError(f"ROI {label!r}: unreadable composite outline ({e})", path) from e
    rings = [r for r in (_clean_ring(r) for r in rings) if len(r) >= 3 and abs(signed_area(r)) > 1e-9]
    if not rings:
        raise AnnotationError(f"ROI {label!r} is a composite that encloses no area", path)
    return rings


def _polygons(geom) -> list:
    """The polygons of a shapely geometry that have some area (the lines and points a repair leaves dropped)."""
    out = []
    for g in shapely.get_parts(geom):
        if g.geom_type == "Polygon":
            out += [g] if g.area > 0 else []
        elif g.geom_type in ("MultiPolygon", "GeometryCollection"):
            out += _polygons(g)
    return out


def _exterior(poly) -> np.ndarray:
    """A polygon's outer ring as (x, y) vertices without the closing copy of the first."""
    return _clean_ring(np.asarray(poly.exterior.coords, dtype=float))


def _repaired(ring: np.ndarray, label: str, path) -> tuple[list, str | None]:
    """The polygon(s) of one ring: as it is when simple, else its zero-area cleanup or a refusal."""
    if shapely.is_simple(shapely.LinearRing(ring)):
        return [shapely.Polygon(ring)], None
    drawn = abs(signed_area(ring))  # the shoelace area: a spike adds nothing, a crossing subtracts
    polys = _polygons(shapely.make_valid(shapely.Polygon(ring)))
    area = sum(p.area for p in polys)
    change = abs(area - drawn) / max(area, drawn, 1e-12)
    if not polys or change >= MAX_REPAIR_CHANGE or any(p.interiors for p in polys):
        raise AnnotationError(
            f"ROI {label!r} crosses itself (its outline encloses {area:.1f} px2 once untangled but "
            f"{drawn:.1f} px2 as drawn); redraw it in Fiji without the crossing",
            path,
        )
    what = "zero-area spike removed" if len(polys) == 1 else f"touches itself: split into {len(polys)} parts"
    return polys, f"self-touching outline repaired ({what}; area change {100 * change:.4f}%)"


def area_parts(rings: list[np.ndarray], label: str = "", path=None) -> list[tuple[np.ndarray, str | None]]:
    """The simple outlines a ROI's rings enclose, filled as Fiji fills them.

    Parameters
    ----------
    rings : list of ndarray, shape (N, 2)
        The ROI's rings (:func:`roi_rings`), (x, y).
    label : str
        The ROI's name for messages.
    path : str or Path, optional
        The ROI file, for messages.

    Returns
    -------
    list of (ndarray, str or None)
        One ``(ring, repair)`` per part, ordered left to right (by smallest x): the
        outline in (x, y), and a note of the repair made (None when none).

    Raises
    ------
    AnnotationError
        A ring that crosses itself (more than a :data:`MAX_REPAIR_CHANGE` area change to
        untangle), or a part with a hole (each such part named with its hole count).
    """
    if len(rings) == 1 and shapely.is_simple(shapely.LinearRing(rings[0])):
        return [(rings[0], None)]  # the vertices as Fiji stored them
    notes, polys = [], []
    for ring in rings:
        p, note = _repaired(ring, label, path)
        polys.append(shapely.unary_union(p))
        notes += [note] if note else []
    geom = polys[0]
    for p in polys[1:]:  # the even-odd rule: a region inside an even number of rings is outside
        geom = shapely.symmetric_difference(geom, p)
    parts = sorted(_polygons(geom), key=lambda g: g.bounds[0])
    holed = [
        f"part {k + 1} (x {g.bounds[0]:.0f}-{g.bounds[2]:.0f}): {len(g.interiors)} hole(s)"
        for k, g in enumerate(parts)
        if g.interiors
    ]
    if holed:
        raise AnnotationError(
            f"ROI {label!r} encloses holes ({'; '.join(holed)}); a sidecar outline has no holes, "
            "so the area would be wrong: trace the muscle as one polygon in Fiji without the hole",
            path,
        )
    if len(rings) > 1 and len(parts) > 1:
        notes.append(f"composite of {len(parts)} separate parts, one outline each")
    note = "; ".join(notes) or None
    return [(_exterior(g), note) for g in parts]


def clip_part(
    ring: np.ndarray, shape, *, clip: bool, label: str = "", path=None
) -> list[tuple[np.ndarray, float]]:
    """A part within the image (Fiji x in [0, cols], y in [0, rows]), clipped or refused.

    Parameters
    ----------
    ring : (N, 2) ndarray
        The part's outline in (x, y).
    shape : (rows, cols)
        The image's size.
    clip : bool, keyword-only
        True: clip the part to the image, as Fiji measures it. False: refuse it.

    Returns
    -------
    list of (ndarray, float)
        ``(ring, clipped_share)``: the outline(s) on the image (clipping a concave part
        may leave several pieces) and the share of the part's area cut off (0 when the part
        lies on the image).

    Raises
    ------
    AnnotationError
        Off the image without ``clip`` (naming the point furthest outside), or entirely off it.
    """
    rows, cols = (int(v) for v in shape[:2])
    beyond = np.max(np.column_stack([-ring[:, 0], ring[:, 0] - cols, -ring[:, 1], ring[:, 1] - rows]), axis=1)
    if beyond.max() <= 0:
        return [(ring, 0.0)]
    i = int(np.argmax(beyond))
    where = (
        f"a vertex at x={ring[i, 0]:.1f}, y={ring[i, 1]:.1f} in Fiji's coordinates, the furthest "
        f"outside, {beyond[i]:.1f} px beyond the edge"
    )
    if not clip:
        raise AnnotationError(
            f"ROI {label!r} runs outside the {rows}x{cols} image ({where}); was it drawn on "
            "another image? (--clip measures the part on the image, as Fiji does)",
            path,
        )
    poly = shapely.Polygon(ring)
    pieces = sorted(
        _polygons(shapely.intersection(poly, shapely.box(0, 0, cols, rows))), key=lambda g: g.bounds[0]
    )
    if not pieces:
        raise AnnotationError(f"ROI {label!r} lies entirely outside the {rows}x{cols} image ({where})", path)
    share = 1.0 - sum(g.area for g in pieces) / poly.area
    return [(_exterior(g), share) for g in pieces]
