"""ImageJ / Fiji ROI interoperability through the ``roifile`` package.

Fiji's ``.roi`` files and ``RoiSet.zip`` archives hold outlines in (x, y) with the
origin at the top-left *corner* of the first pixel, so a pixel's centre is at
(x + 0.5, y + 0.5). mfscan (like napari) puts pixel centres at integer (row, col).
Import therefore maps ``row = y - 0.5, col = x - 0.5`` and export maps back, so a
polygon covers the same pixels in both programs. Vertices are kept to sub-pixel
precision (roifile's float32 sub-pixel coordinates).

ROI types read as area outlines: polygon, freehand, traced (wand), fitted ellipse
and rotated rectangle (as the polygon Fiji stores), rectangle (its 4 corners, area
w*h; rounded corners as Java draws them), oval (an inscribed 256-gon, area pi*a*b to
0.01%) and a composite (ShapeRoi: brush, combine, XOR) made of one ring. Refused,
each with a message naming the ROI: lines, points, angles, text and image
overlays, composites of several rings (holes or disjoint parts: mfscan measures one
closed outline per ROI), spline-fitted polygons (the file holds only the control
points), and, when the image is given, ROIs off the image or on a missing frame.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from pathlib import Path

import numpy as np

from mfscan.annotations.model import ROI, Annotation
from mfscan.errors import AnnotationError
from mfscan.geometry import signed_area
from mfscan.io.files import atomic_write_bytes
from mfscan.vocab import LEVELS, SIDE_SPELLINGS, SIDES, level_or_none, side_or_none

_LEVEL_IN_WORD = re.compile("(" + "|".join(LEVELS) + ")")


def _name_side_level(name: str) -> tuple[set, str | None]:
    """The sides and the level an ImageJ ROI name mentions (any number of sides)."""
    tokens = [t for t in re.split(r"[^A-Za-z0-9]+", name or "") if t]
    sides = set()
    level = None
    for t in tokens:
        low = t.lower()
        if (as_level := level_or_none(t)) is not None:
            level = as_level
        elif low in SIDE_SPELLINGS:
            sides.add(SIDE_SPELLINGS[low])
        else:
            for word in SIDES:  # "leftL4", "L4right"
                if word in low:
                    sides.add(word)
            m = _LEVEL_IN_WORD.search(t.upper())
            if m and level is None:
                level = m.group(1)
    return sides, level


def parse_roi_name(name: str) -> tuple[str, str | None]:
    """Side and optional level from an ImageJ ROI name.

    Accepts names such as ``left``, ``L4 right``, ``R_L5``, ``03-left-L4``.

    Raises
    ------
    AnnotationError
        When the name names no side or both sides.
    """
    sides, level = _name_side_level(name)
    if len(sides) != 1:
        what = "names no side" if not sides else "names both sides"
        raise AnnotationError(
            f"ROI name {name!r} {what}; name ROIs 'left'/'right' "
            "(optionally with the level, e.g. 'L4 left'), or give the sides "
            "in ROI order (import-imagej --sides left,right)"
        )
    return sides.pop(), level


def _given_sides(sides, n: int, path) -> list[str]:
    """``sides`` (one per ROI, any vocabulary spelling) as ``left``/``right``."""
    if isinstance(sides, str):
        sides = sides.split(",")
    given = [str(s).strip() for s in sides]
    out = []
    for s in given:
        if (side := side_or_none(s)) is None:
            raise AnnotationError(
                f"{s!r} is not a side; give 'left' or 'right' (or L/R, lt/rt, sin/dx) per ROI", path
            )
        out.append(side)
    if len(out) != n:
        raise AnnotationError(
            f"the file holds {n} ROI(s) but {len(out)} side(s) were given "
            f"({', '.join(given)}); give one side per ROI, in ROI order",
            path,
        )
    return out


#: Largest ROI file, or RoiSet entry by its declared (uncompressed) size, read: 16 MiB holds
#: a polygon of about a million vertices; a larger entry is refused before it is decompressed.
MAX_ROI_BYTES = 16 * 2**20
#: Most ROIs read from one RoiSet zip (an image's ROI set holds a handful).
MAX_ROIS = 1000

#: Vertices of an oval ROI's polygon: its area is pi*a*b to 0.01% (inscribed 256-gon).
OVAL_VERTICES = 256
#: Vertices per rounded corner of a rounded rectangle.
_CORNER_VERTICES = 32
#: Vertices per curved segment (QUADTO, CUBICTO) of a composite ROI's path.
_CURVE_VERTICES = 16
_NOT_AREAS = ("LINE", "FREELINE", "POLYLINE", "NOROI", "ANGLE", "POINT", "UNKNOWN")
_PATH_ARGS = {0: 2, 1: 2, 2: 4, 3: 6, 4: 0}  # java.awt.geom.PathIterator segment -> coordinates


def outline_xy(roi, label: str = "", path=None) -> np.ndarray:
    """The one closed outline of an ImageJ ROI in Fiji's (x, y) corner coordinates.

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
    ndarray of float, shape (N, 2)
        (x, y) vertices, closed implicitly. Rectangles give their 4 corners
        (area w*h); rounded rectangles their arcs; ovals an inscribed
        :data:`OVAL_VERTICES`-gon (area pi*a*b to 0.01%); a composite (ShapeRoi)
        its single ring, curves flattened.

    Raises
    ------
    AnnotationError
        A line, point, angle, text or image ROI; a composite of several rings (a
        hole or several parts: mfscan measures one closed outline per ROI); a
        spline-fitted polygon (the file holds only its control points); fewer than
        3 distinct vertices.
    """
    import roifile

    kind = roifile.ROI_TYPE(roi.roitype).name
    sub = roifile.ROI_SUBTYPE(roi.subtype).name
    if kind in _NOT_AREAS or sub in ("TEXT", "IMAGE", "ARROW"):
        what = f"{sub.lower()} overlay" if sub in ("TEXT", "IMAGE", "ARROW") else kind
        raise AnnotationError(f"ROI {label!r}: type {what} is not an area outline", path)
    if roi.composite and roi.multi_coordinates is not None:
        return _composite_ring(roi.multi_coordinates, label, path)
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
            return np.column_stack([x + w / 2 * (1 + np.cos(t)), y + h / 2 * (1 + np.sin(t))])
        return _rounded_rect(x, y, w, h, float(roi.rounded_rect_arc_size or 0))
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
    return xy


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


def _composite_ring(data, label: str, path) -> np.ndarray:
    """The single ring of a composite ROI; a refusal when it has holes or several parts."""
    try:
        rings = _path_rings(data)
    except ValueError as e:
        raise AnnotationError(f"ROI {label!r}: unreadable composite outline ({e})", path) from e
    rings = [r for r in (_clean_ring(r) for r in rings) if len(r) >= 3 and abs(signed_area(r)) > 1e-9]
    if not rings:
        raise AnnotationError(f"ROI {label!r} is a composite that encloses no area", path)
    if len(rings) > 1:
        raise AnnotationError(
            f"ROI {label!r} is a composite of {len(rings)} rings (a hole or several "
            "parts); mfscan measures one closed outline per ROI: draw it as one polygon "
            "in Fiji (or split the parts into ROIs of their own)",
            path,
        )
    return rings[0]


def rois_from_imagej(path, *, sides=None, shape=None, n_frames: int | None = None) -> list[ROI]:
    """Read a Fiji ``.roi`` file or ``RoiSet.zip`` into mfscan ROIs.

    Parameters
    ----------
    path : str or Path
        The ``.roi`` file or ``RoiSet.zip``.
    sides : sequence of str or str, keyword-only, optional
        One side per ROI in the file's order (``["left", "right"]``, ``"L,R"``; any
        spelling of :data:`mfscan.vocab.SIDE_SPELLINGS`), for ROI sets whose names
        say no side (Fiji's default ``0001-0015``). A name that says the other side
        is refused. Without it every name must say its side.
    shape : (rows, cols), keyword-only, optional
        The image's size: a ROI with a vertex off the image is refused.
    n_frames : int, keyword-only, optional
        The image's frame count: a ROI on a later frame is refused.

    Returns
    -------
    list of ROI
        One per ImageJ ROI, ``method="imagej"``; ovals and rectangles become polygons
        of their exact area (see :func:`outline_xy`).

    Raises
    ------
    AnnotationError
        Unreadable file, a ROI that is not one closed area outline (line, point,
        text, a composite of several rings), a name without a side, a `sides` list
        of the wrong length, or a ROI off the image.
    """
    path = Path(path)
    rois = read_roi_file(path)
    if not rois:
        raise AnnotationError("the ROI set is empty", path)
    given = _given_sides(sides, len(rois), path) if sides is not None else None
    out = []
    for i, r in enumerate(rois):
        label = r.name or f"#{i + 1}"
        side, level = _roi_side_level(r.name, label, given[i] if given else None, path)
        xy = outline_xy(r, label, path)
        if not np.isfinite(xy).all():
            raise AnnotationError(f"ROI {label!r} has a vertex that is not a finite number", path)
        if shape is not None:
            _check_on_image(xy, label, shape, path)
        position = max(int(r.t_position or 0), int(r.position or 0))
        frame = position - 1 if position >= 1 else None
        if n_frames is not None and frame is not None and frame >= n_frames:
            raise AnnotationError(
                f"ROI {label!r} is on frame {frame + 1} (Fiji position {position}) but the "
                f"image has {n_frames} frame(s); was it drawn on another image?",
                path,
            )
        points = np.column_stack([xy[:, 1] - 0.5, xy[:, 0] - 0.5])
        out.append(
            ROI(
                side,
                points,
                level=level,
                frame=frame,
                method="imagej",
                extra={"imagej_name": r.name} if r.name else {},
            )
        )
    return out


def read_roi_file(path) -> list:
    """The ``roifile.ImagejRoi`` objects of a ``.roi`` file, a ``RoiSet.zip`` or an ImageJ TIFF's overlay.

    A zip's entries are checked before anything is decompressed: more than
    :data:`MAX_ROIS` entries, or an entry whose declared size exceeds
    :data:`MAX_ROI_BYTES`, is refused (a zip bomb never reaches memory); each entry is read
    to at most that size. A ``.roi`` file larger than :data:`MAX_ROI_BYTES` is refused.

    Raises
    ------
    AnnotationError
        Missing or unreadable file, or one beyond the limits.
    """
    import roifile

    path = Path(path)
    mib = MAX_ROI_BYTES / 2**20
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                entries = [i for i in zf.infolist() if not i.is_dir()]
                if len(entries) > MAX_ROIS:
                    raise AnnotationError(
                        f"the RoiSet holds {len(entries)} entries, more than the {MAX_ROIS} ROIs "
                        "mfscan reads from one file; split it (one RoiSet per image)",
                        path,
                    )
                for info in entries:
                    if info.file_size > MAX_ROI_BYTES:
                        raise AnnotationError(
                            f"the RoiSet entry {info.filename[:60]!r} declares {info.file_size / 2**20:.0f} MiB "
                            f"once decompressed, more than the {mib:g} MiB a ROI may take; not read "
                            "(is it a ROI set Fiji wrote?)",
                            path,
                        )
                rois = []
                for info in entries:
                    with zf.open(info) as fh:
                        rois.append(roifile.ImagejRoi.frombytes(fh.read(MAX_ROI_BYTES)))
                return rois
        if path.suffix.lower() not in (".tif", ".tiff") and path.stat().st_size > MAX_ROI_BYTES:
            raise AnnotationError(
                f"the ROI file takes {path.stat().st_size / 2**20:.0f} MiB, more than the {mib:g} MiB "
                "a ROI may take; not read",
                path,
            )
        rois = roifile.ImagejRoi.fromfile(path, maxsize=MAX_ROI_BYTES)
    except FileNotFoundError as e:
        raise AnnotationError("ImageJ ROI file not found", path) from e
    except AnnotationError:
        raise
    except Exception as e:  # roifile raises ValueError/struct errors/zip errors
        raise AnnotationError(f"not a readable ImageJ ROI file or RoiSet zip ({e})", path) from e
    return rois if isinstance(rois, list) else [rois]


def _roi_side_level(name, label, given, path) -> tuple[str, str | None]:
    """The side of one ROI: from its name, or the given one (which the name must not contradict)."""
    if given is None:
        try:
            return parse_roi_name(name)
        except AnnotationError as e:
            raise AnnotationError(f"ROI {label}: {e.message}", path) from e
    named, level = _name_side_level(name)
    if named and named != {given}:
        raise AnnotationError(
            f"ROI {label!r} was given side {given!r} but its name says "
            f"{' and '.join(sorted(named))}; fix the name or the sides",
            path,
        )
    return given, level


def _check_on_image(xy: np.ndarray, label: str, shape, path) -> None:
    """Refuse a ROI with a vertex off the image (Fiji x in [0, cols], y in [0, rows])."""
    rows, cols = (int(v) for v in shape[:2])
    # the same bounds as measure.outline.validate_outline, in Fiji's corner coordinates
    off = (xy[:, 0] < 0) | (xy[:, 0] > cols) | (xy[:, 1] < 0) | (xy[:, 1] > rows)
    if off.any():
        x, y = xy[int(np.argmax(off))]
        raise AnnotationError(
            f"ROI {label!r} runs outside the {rows}x{cols} image (a vertex at x={x:.1f}, "
            f"y={y:.1f} in Fiji's coordinates); was it drawn on another image?",
            path,
        )


def annotation_from_imagej(image_path, rois_path, *, sides=None, **fields) -> Annotation:
    """An :class:`Annotation` for `image_path` from a Fiji ROI file.

    Parameters
    ----------
    image_path : str or Path
        The image the ROIs were drawn on; its header gives the size every ROI must
        lie within (and the frame count).
    rois_path : str or Path
        The ``.roi`` file or ``RoiSet.zip``.
    sides : sequence of str or str, keyword-only, optional
        One side per ROI in file order, for unnamed ROI sets (see :func:`rois_from_imagej`).
    **fields
        subject, visit, level, rater, session: the file fields. When every ROI names
        the same level and no level is given, it becomes the file's level.

    Raises
    ------
    ImageReadError
        The image is missing or not a readable image.
    AnnotationError
        See :func:`rois_from_imagej`.
    """
    from mfscan.io.images import read_header

    head = read_header(image_path)
    rois = rois_from_imagej(
        rois_path, sides=sides, shape=(head["rows"], head["cols"]), n_frames=head["n_frames"]
    )
    levels = {r.level for r in rois}
    if fields.get("level") is None and len(levels) == 1:
        fields["level"] = levels.pop()
        for r in rois:
            r.level = None
    return Annotation(image=Path(image_path).name, rois=rois, **fields)


def write_imagej(annotation: Annotation, path) -> Path:
    """Write an annotation's outlines as a Fiji ``RoiSet.zip`` (or one ``.roi``).

    ROI names are ``NN-side-level`` so that importing them back restores the
    sides and levels.
    """
    import roifile

    path = Path(path)
    rois = []
    for i, roi in enumerate(annotation.rois):
        level = roi.level or annotation.level
        name = f"{i + 1:02d}-{roi.side}" + (f"-{level}" if level else "")
        xy = np.column_stack([roi.points[:, 1] + 0.5, roi.points[:, 0] + 0.5])
        # roifile takes a 0-based position and stores it 1-based, as ImageJ does.
        kw = {"position": int(roi.frame)} if roi.frame is not None else {}
        rois.append(roifile.ImagejRoi.frompoints(xy, name=name, **kw))
    if not rois:
        raise AnnotationError("the sidecar has no outlines to export", annotation.path)
    suffix = path.suffix.lower()
    if suffix not in (".roi", ".zip"):
        # never replace an image, a sidecar or anything else by mistake
        raise AnnotationError("an ImageJ ROI file name must end in .zip (RoiSet) or .roi", path)
    if suffix == ".roi":
        if len(rois) != 1:
            raise AnnotationError(f"{len(rois)} outlines cannot go into one .roi file; write a .zip", path)
        data = rois[0].tobytes()
    else:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for r in rois:
                zf.writestr(r.name + ".roi", r.tobytes())
        data = buf.getvalue()
    try:
        atomic_write_bytes(path, data)  # a crash leaves the old file or the new one, never half
    except OSError as e:
        raise AnnotationError(f"cannot write ImageJ ROIs ({e.strerror or e})", path) from e
    return path
