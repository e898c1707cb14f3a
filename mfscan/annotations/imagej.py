"""Fiji ROIs into sidecar outlines and back: names, sides, frames, coordinates.

The ROI file itself is read by :func:`mfscan.io.imagej.read_roi_file` (with its limits).

Fiji's ``.roi`` files and ``RoiSet.zip`` archives hold outlines in (x, y) with the
origin at the top-left *corner* of the first pixel, so a pixel's centre is at
(x + 0.5, y + 0.5). mfscan (like napari) puts pixel centres at integer (row, col).
Import therefore maps ``row = y - 0.5, col = x - 0.5`` and export maps back, so a
polygon covers the same pixels in both programs. Vertices are kept to sub-pixel
precision (roifile's float32 sub-pixel coordinates).

ROI types read as area outlines: polygon, freehand, traced (wand), fitted ellipse
and rotated rectangle (as the polygon Fiji stores), rectangle (its 4 corners, area
w*h; rounded corners as Java draws them), oval (an inscribed 256-gon, area pi*a*b to
0.01%) and composites (ShapeRoi: brush, combine, XOR), whose disjoint parts become one
outline each (:mod:`mfscan.io.imagej_shapes`: even-odd fill, repairs, clipping). A
freehand or traced ROI that only touches itself where Fiji closed it is repaired (the
repair noted in the ROI's ``repair`` field); a ROI partly off the image is refused, or
clipped to the image with ``clip=True`` (the share cut off in ``clipped_share``).
Refused, each with a message naming the ROI: lines, points, angles, text and image
overlays, a ring that crosses itself, a composite part with a hole (a sidecar outline
has none), spline-fitted polygons (the file holds only the control points), and,
when the image is given, ROIs on a missing frame. :func:`~mfscan.io.imagej.read_roi_file`
refuses a RoiSet beyond its limits of entries and bytes before decompressing it.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np

from mfscan.annotations.records import ROI, Annotation
from mfscan.errors import AnnotationError
from mfscan.io.files import atomic_write_bytes
from mfscan.io.imagej import read_roi_file
from mfscan.io.imagej_shapes import area_parts, clip_part, roi_rings
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


def rois_from_imagej(
    path,
    *,
    sides=None,
    shape=None,
    n_frames: int | None = None,
    clip: bool = False,
    split_parts: bool = False,
) -> list[ROI]:
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
        The image's size: a ROI with a vertex off the image is refused (or clipped).
    n_frames : int, keyword-only, optional
        The image's frame count: a ROI on a later frame is refused.
    clip : bool, keyword-only
        Clip a ROI that runs off the image to the image, as Fiji measures it, instead of
        refusing it; ``extra["clipped_share"]`` holds the share of its area cut off.
    split_parts : bool, keyword-only
        A ROI whose area falls into several separate parts (a composite of disjoint
        shapes, a wand trace pinched at a point) is refused by default: its parts would
        be measured as separate outlines of one side, which the study tables average as
        repeated images (the mean of two lobes, not one muscle's area). With
        ``split_parts`` each part becomes its own named outline, for ROI sets where the
        parts really are separate tracings.

    Returns
    -------
    list of ROI
        One per part of each ImageJ ROI (one, except for a composite of disjoint parts,
        ``imagej_name`` "<name> part k/n" and ``imagej_part`` "k/n", ordered left to right,
        each with the ROI's side), ``method="imagej"``;
        ovals and rectangles become polygons of their exact area (see
        :func:`mfscan.io.imagej_shapes.roi_rings`). ``extra["repair"]`` notes a repair
        of a self-touching ring.

    Raises
    ------
    AnnotationError
        Unreadable file or beyond the limits of :func:`mfscan.io.imagej.read_roi_file`, a ROI that is not
        an area outline (line, point, text), a ring that crosses itself, a composite part
        with a hole, a name without a side, a `sides` list of the wrong length, or a ROI
        off the image (without ``clip``).
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
        rings = roi_rings(r, label, path)
        if not all(np.isfinite(xy).all() for xy in rings):
            raise AnnotationError(f"ROI {label!r} has a vertex that is not a finite number", path)
        position = max(int(r.t_position or 0), int(r.position or 0))
        frame = position - 1 if position >= 1 else None
        if n_frames is not None and frame is not None and frame >= n_frames:
            raise AnnotationError(
                f"ROI {label!r} is on frame {frame + 1} (Fiji position {position}) but the "
                f"image has {n_frames} frame(s); was it drawn on another image?",
                path,
            )
        pieces = [
            (xy, note, share)
            for ring, note in area_parts(rings, label, path)
            for xy, share in (
                clip_part(ring, shape, clip=clip, label=label, path=path)
                if shape is not None
                else [(ring, 0.0)]
            )
        ]
        if len(pieces) > 1 and not split_parts:
            raise AnnotationError(
                f"ROI {label!r} ({side}) falls into {len(pieces)} separate parts (a composite of "
                "disjoint shapes, or a trace that touches itself at a point): as separate outlines of "
                "one side they would be averaged as repeated images, not added. Join them into one "
                "outline in Fiji, or import with --split-parts if each part is a tracing of its own",
                path,
            )
        for k, (xy, note, share) in enumerate(pieces):
            name = r.name if len(pieces) == 1 else f"{label} part {k + 1}/{len(pieces)}"
            extra = {"imagej_name": name} if name else {}
            extra.update({"imagej_part": f"{k + 1}/{len(pieces)}"} if len(pieces) > 1 else {})
            extra.update({"repair": note} if note else {})
            extra.update({"clipped_share": round(float(share), 6)} if share > 0 else {})
            points = np.column_stack([xy[:, 1] - 0.5, xy[:, 0] - 0.5])
            out.append(ROI(side, points, level=level, frame=frame, method="imagej", extra=extra))
    return out


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


def annotation_from_imagej(
    image_path, rois_path, *, sides=None, clip: bool = False, split_parts: bool = False, **fields
) -> Annotation:
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
    clip : bool, keyword-only
        Clip ROIs that run off the image instead of refusing them (see :func:`rois_from_imagej`).
    split_parts : bool, keyword-only
        Import each part of a many-part ROI as its own outline (see :func:`rois_from_imagej`).
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
        rois_path,
        sides=sides,
        shape=(head["rows"], head["cols"]),
        n_frames=head["n_frames"],
        clip=clip,
        split_parts=split_parts,
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
