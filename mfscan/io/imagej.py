"""ImageJ / Fiji ROI interoperability through the ``roifile`` package.

Fiji's ``.roi`` files and ``RoiSet.zip`` archives hold outlines in (x, y) with the
origin at the top-left *corner* of the first pixel, so a pixel's centre is at
(x + 0.5, y + 0.5). mfscan (like napari) puts pixel centres at integer (row, col).
Import therefore maps ``row = y - 0.5, col = x - 0.5`` and export maps back, so a
polygon covers the same pixels in both programs. Vertices are kept to sub-pixel
precision (roifile's float32 sub-pixel coordinates).
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np

from mfscan.annotations.model import ROI, Annotation
from mfscan.errors import AnnotationError
from mfscan.io.files import atomic_write_bytes
from mfscan.vocab import LEVELS, SIDE_SPELLINGS, SIDES, level_or_none

_LEVEL_IN_WORD = re.compile("(" + "|".join(LEVELS) + ")")


def parse_roi_name(name: str) -> tuple[str, str | None]:
    """Side and optional level from an ImageJ ROI name.

    Accepts names such as ``left``, ``L4 right``, ``R_L5``, ``03-left-L4``.

    Raises
    ------
    AnnotationError
        When the name names no side or both sides.
    """
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
    if len(sides) != 1:
        what = "names no side" if not sides else "names both sides"
        raise AnnotationError(f"ROI name {name!r} {what}; name ROIs 'left'/'right' "
                              "(optionally with the level, e.g. 'L4 left')")
    return sides.pop(), level


def rois_from_imagej(path) -> list[ROI]:
    """Read a Fiji ``.roi`` file or ``RoiSet.zip`` into mfscan ROIs.

    Raises
    ------
    AnnotationError
        Unreadable file, unsupported ROI type (line, point), or a name without a side.
    """
    import roifile

    path = Path(path)
    try:
        rois = roifile.ImagejRoi.fromfile(path)
    except FileNotFoundError as e:
        raise AnnotationError("ImageJ ROI file not found", path) from e
    except Exception as e:  # roifile raises ValueError/struct errors/zip errors
        raise AnnotationError(f"not a readable ImageJ ROI file or RoiSet zip ({e})", path) from e
    if not isinstance(rois, list):
        rois = [rois]
    if not rois:
        raise AnnotationError("the ROI set is empty", path)
    out = []
    for i, r in enumerate(rois):
        label = r.name or f"#{i + 1}"
        try:
            side, level = parse_roi_name(r.name)
        except AnnotationError as e:
            raise AnnotationError(f"ROI {label}: {e.message}", path) from e
        try:
            xy = r.coordinates()
        except Exception:
            xy = None
        if xy is None or len(xy) < 3 or r.roitype in (roifile.ROI_TYPE.LINE, roifile.ROI_TYPE.POINT,
                                                       roifile.ROI_TYPE.NOROI, roifile.ROI_TYPE.ANGLE,
                                                       roifile.ROI_TYPE.POLYLINE, roifile.ROI_TYPE.FREELINE):
            raise AnnotationError(f"ROI {label}: type {roifile.ROI_TYPE(r.roitype).name} "
                                  "is not an area outline", path)
        xy = np.asarray(xy, dtype=float)
        points = np.column_stack([xy[:, 1] - 0.5, xy[:, 0] - 0.5])
        position = max(int(r.t_position or 0), int(r.position or 0))
        frame = position - 1 if position >= 1 else None
        out.append(ROI(side, points, level=level, frame=frame, method="imagej",
                       extra={"imagej_name": r.name} if r.name else {}))
    return out


def annotation_from_imagej(image_path, rois_path, **fields) -> Annotation:
    """An :class:`Annotation` for `image_path` from a Fiji ROI file.

    Keyword arguments (subject, visit, level, rater, session) fill the file fields.
    When every ROI names the same level and no level is given, it becomes the
    file's level.
    """
    rois = rois_from_imagej(rois_path)
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
