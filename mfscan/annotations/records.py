"""What a sidecar holds: :class:`ROI`, :class:`Annotation`, and their validation.

:func:`from_dict` turns a parsed sidecar into an :class:`Annotation`, checking
every field and naming the file and the problem when one is wrong. Sides and
levels are read through :mod:`mfscan.vocab`, so every spelling another reader
accepts (``L``, ``lt``, ``Right``, `` l4``) is accepted here too.
"""

from __future__ import annotations

import copy
import datetime
import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mfscan import vocab
from mfscan.annotations.paths import code_problem
from mfscan.calibration import Calibration
from mfscan.errors import AnnotationError, CalibrationError
from mfscan.vocab import ROI_KINDS, VIEWS

__all__ = [
    "FORMAT",
    "VERSION",
    "TASKS",
    "ROI",
    "Annotation",
    "normalize_side",
    "from_dict",
    "validated",
    "image_name_problem",
]

FORMAT = "mfscan.annotation"
VERSION = 1

#: Top-level fields written before ``rois``, in this order, when not None.
_WRITTEN_CODES = (
    "subject",
    "visit",
    "session",
    "level",
    "rater",
    "visit_date",
    "view",
    "task",
    "posture",
    "trial",
    "fat_thickness_cm",
)
_TOP_KEYS = ("format", "version", "image", "image_sha256", "calibration", *_WRITTEN_CODES, "rois")
_ROI_KEYS = ("side", "kind", "points", "level", "frame", "region", "method")
#: The two standard RUSI tasks; any other label (``arm-lift``) is kept as typed.
TASKS = ("rest", "contracted")
#: Largest typed subcutaneous fat thickness accepted (cm): more is a value in mm.
MAX_FAT_CM = 20.0


@dataclass
class ROI:
    """One traced outline, or a two-point line (thickness, fat).

    Attributes
    ----------
    side : {'left', 'right'}
        The patient's side, as assigned by the rater (never inferred from position).
    points : ndarray of float, shape (N, 2)
        Vertices in (row, col) pixel coordinates; the polygon is closed implicitly.
        A line (``kind`` thickness or fat) has exactly two points.
    level : str, optional
        Vertebral level of this outline when it differs from the file's level.
    frame : int, optional
        Frame index in a multi-frame (cine) image.
    region : int, optional
        Index of the DICOM ultrasound region the outline lies in.
    method : str
        ``manual``, ``proposed`` (semi-automatic, untouched), ``proposed-edited``,
        ``livewire`` or ``imagej`` (imported).
    extra : dict
        Any other fields found in the file, written back unchanged.
    kind : {'outline', 'thickness', 'fat'}
        ``outline`` (default; absent from the file) is a closed outline;
        ``thickness`` a line from the deep landmark (facet joint or lamina) to the
        muscle's superficial border; ``fat`` a line from the skin to the muscle's
        superficial fascia (subcutaneous fat). Written to the file only when not
        ``outline``, so old files round-trip unchanged.
    """

    side: str
    points: np.ndarray
    level: str | None = None
    frame: int | None = None
    region: int | None = None
    method: str = "manual"
    extra: dict = field(default_factory=dict)
    kind: str = "outline"

    def __post_init__(self):
        self.points = np.array(self.points, dtype=float).reshape(-1, 2)

    def to_dict(self) -> dict:
        d: dict = {"side": self.side}
        if self.kind != "outline":
            d["kind"] = self.kind
        d["points"] = self.points.tolist()
        if self.level is not None:
            d["level"] = self.level
        if self.frame is not None:
            d["frame"] = int(self.frame)
        if self.region is not None:
            d["region"] = int(self.region)
        d["method"] = self.method
        for k, v in self.extra.items():
            d.setdefault(k, v)
        return d

    def __eq__(self, other):
        if not isinstance(other, ROI):
            return NotImplemented
        return (
            self.side == other.side
            and self.kind == other.kind
            and self.level == other.level
            and self.frame == other.frame
            and self.region == other.region
            and self.method == other.method
            and self.extra == other.extra
            and self.points.shape == other.points.shape
            and bool(np.array_equal(self.points, other.points))
        )

    @property
    def is_line(self) -> bool:
        """Whether this ROI is a two-point line (``kind`` thickness or fat)."""
        return self.kind != "outline"


@dataclass
class Annotation:
    """The content of one sidecar file.

    Attributes
    ----------
    image : str
        The image's file name, relative to the sidecar's folder.
    rois : list of ROI
    calibration : Calibration or None
        Overrides the image's own calibration when given (scale line, manual).
    subject, visit, level, rater, session : str or None
        The study's own codes; never patient identifiers.
    image_sha256 : str or None
        Checksum of the image file when the outlines were saved.
    visit_date : str or None
        The visit's date, ISO ``YYYY-MM-DD``; flows into the measurements' ``visit_date``.
    view : {'transverse', 'parasagittal'} or None
        The probe's orientation; None (absent) means transverse.
    task : str or None
        ``rest``, ``contracted`` or a free label (``arm-lift``): what the muscle did.
    posture : str or None
        ``prone``, ``standing``, ... (free text; posture changes thickness).
    trial : int or None
        Repeat number of this task (1, 2, 3), positive.
    fat_thickness_cm : float or None
        Subcutaneous fat thickness typed by the rater (cm), used when the image has
        no ``fat`` line.
    extra : dict
        Other top-level fields, kept unchanged.
    path : Path or None
        Where it was read from (not written to the file).
    digest : str or None
        SHA-256 of the file's bytes when read, to detect changes on disk.
    """

    image: str
    rois: list[ROI] = field(default_factory=list)
    calibration: Calibration | None = None
    subject: str | None = None
    visit: str | None = None
    level: str | None = None
    rater: str | None = None
    session: str | None = None
    image_sha256: str | None = None
    extra: dict = field(default_factory=dict)
    visit_date: str | None = None
    view: str | None = None
    task: str | None = None
    posture: str | None = None
    trial: int | None = None
    fat_thickness_cm: float | None = None
    path: Path | None = field(default=None, compare=False, repr=False)
    digest: str | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict:
        d: dict = {"format": FORMAT, "version": VERSION, "image": self.image}
        if self.image_sha256 is not None:
            d["image_sha256"] = self.image_sha256
        if self.calibration is not None:
            d["calibration"] = self.calibration.to_dict()
        for k in _WRITTEN_CODES:
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        d["rois"] = [r.to_dict() for r in self.rois]
        for k, v in self.extra.items():
            d.setdefault(k, v)
        return d

    def copy(self) -> Annotation:
        return copy.deepcopy(self)


# --------------------------------------------------------------------------- validation


def normalize_side(v, where: str = "", path=None) -> str:
    """``'left'``/``'right'`` from any spelling :mod:`mfscan.vocab` accepts
    (``'L'``, ``'lt'``, ``'Left'``, ``'RIGHT'``); :class:`AnnotationError` otherwise."""
    return vocab.normalize_side(v, where, path, error=AnnotationError)


def _normalize_level(v, where: str, path) -> str | None:
    """A level from any spelling :mod:`mfscan.vocab` accepts; None stays None."""
    if v is None:
        return None
    return vocab.normalize_level(v, where, path, error=AnnotationError)


def _str_or_none(d, key, where, path):
    """A code or free-text field as a string, or None; control characters (a newline, a tab) refused."""
    v = d.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (str, int, float)):
        raise AnnotationError(f"{where}'{key}' must be a string, got {type(v).__name__}", path)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise AnnotationError(f"{where}'{key}' must be a string, got {v}", path)
        v = int(v) if v.is_integer() else v
    v = str(v).strip()
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in v):
        raise AnnotationError(
            f"{where}'{key}' {v[:40]!r} holds a control character (a newline or tab); "
            "a code is one line of text",
            path,
        )
    return v


def _file_code(d, key: str, path) -> str | None:
    """The ``rater`` or ``session`` code, by the rule of the sidecar's file name
    (:func:`mfscan.annotations.paths.code_problem`); empty means none."""
    v = _str_or_none(d, key, "", path)
    if not v:
        return None if v is None else v
    if (problem := code_problem(v, key)) is not None:
        raise AnnotationError(problem, path)
    return v


def _parse_points(raw, where, path, kind: str = "outline") -> np.ndarray:
    if not isinstance(raw, list):
        raise AnnotationError(f"{where}'points' must be a list of [row, col] pairs", path)
    if kind != "outline" and len(raw) != 2:
        raise AnnotationError(
            f"{where}a {kind} line needs exactly 2 points (its two ends), found {len(raw)}", path
        )
    if kind == "outline" and len(raw) < 3:
        raise AnnotationError(f"{where}an outline needs at least 3 points, found {len(raw)}", path)
    try:  # fast path: a clean list of numeric pairs
        pts = np.array(raw)
        ok = pts.ndim == 2 and pts.shape[1] == 2 and pts.dtype.kind in "if"
    except (ValueError, TypeError):
        ok = False
    if not ok:
        for i, p in enumerate(raw):
            if (
                not isinstance(p, (list, tuple))
                or len(p) != 2
                or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in p)
            ):
                raise AnnotationError(f"{where}point {i} is {p!r}, not a [row, col] pair of numbers", path)
        pts = np.asarray(raw, dtype=float)
    pts = pts.astype(float, copy=False)
    bad = ~np.isfinite(pts).all(axis=1)
    if bad.any():
        raise AnnotationError(f"{where}point {int(np.argmax(bad))} is not finite (NaN or infinity)", path)
    return pts


def _index_or_none(r: dict, key: str, where: str, path) -> int | None:
    """A non-negative integer field of a ROI (``frame``, ``region``), or None."""
    v = r.get(key)
    if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
        raise AnnotationError(f"{where}'{key}' must be a non-negative integer, got {v!r}", path)
    return v


def _roi_from_dict(r, i: int, path) -> ROI:
    where = f"ROI {i}: "
    if not isinstance(r, dict):
        raise AnnotationError(f"{where}must be an object with 'side' and 'points'", path)
    side = normalize_side(r.get("side"), where, path)
    where = f"ROI {i} ({side}): "
    kind = _roi_kind(r.get("kind", "outline"), where, path)
    if kind != "outline":
        where = f"ROI {i} ({side} {kind}): "
    pts = _parse_points(r.get("points"), where, path, kind)
    frame = _index_or_none(r, "frame", where, path)
    region = _index_or_none(r, "region", where, path)
    method = r.get("method", "manual")
    if not isinstance(method, str):
        raise AnnotationError(f"{where}'method' must be a string", path)
    extra = {k: v for k, v in r.items() if k not in _ROI_KEYS}
    level = _normalize_level(r.get("level"), where, path)
    return ROI(side, pts, level, frame, region, method, extra, kind=kind)


def _roi_kind(v, where: str, path) -> str:
    """A ROI's ``kind`` (:data:`mfscan.vocab.ROI_KINDS`), case and spaces ignored."""
    k = v.strip().lower() if isinstance(v, str) else v
    if k not in ROI_KINDS:
        raise AnnotationError(f"{where}'kind' is {v!r}; expected one of {', '.join(ROI_KINDS)}", path)
    return k


def _image_fields(d: dict, path) -> dict:
    """The RUSI and muscle-quality fields of a sidecar, validated (None when absent)."""
    out: dict = {}
    v = d.get("view")
    if v is not None:
        view = v.strip().lower() if isinstance(v, str) else v
        if view not in VIEWS:
            raise AnnotationError(f"'view' is {v!r}; expected one of {', '.join(VIEWS)}", path)
        out["view"] = view
    task = _str_or_none(d, "task", "", path)
    if task is not None:
        if not task:
            raise AnnotationError("'task' is empty; give rest, contracted or a label such as arm-lift", path)
        out["task"] = task.lower() if task.lower() in TASKS else task
    posture = _str_or_none(d, "posture", "", path)
    if posture is not None:
        out["posture"] = posture
    v = d.get("trial")
    if v is not None:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise AnnotationError(f"'trial' must be a positive integer (1, 2, 3), got {v!r}", path)
        out["trial"] = v
    v = d.get("visit_date")
    if v is not None:
        out["visit_date"] = _iso_date(v, path)
    v = d.get("fat_thickness_cm")
    if v is not None:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        if not ok or not 0 <= v < MAX_FAT_CM:
            raise AnnotationError(
                f"'fat_thickness_cm' must be a number of cm from 0 to {MAX_FAT_CM:g} "
                f"(subcutaneous fat thickness), got {v!r}",
                path,
            )
        out["fat_thickness_cm"] = float(v)
    return out


def _iso_date(v, path) -> str:
    """A ``visit_date`` as an ISO ``YYYY-MM-DD`` string, checked to be a real date."""
    if not isinstance(v, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v.strip()):
        raise AnnotationError(f"'visit_date' must be an ISO date YYYY-MM-DD, got {v!r}", path)
    try:
        datetime.date.fromisoformat(v.strip())
    except ValueError as e:
        raise AnnotationError(f"'visit_date' {v!r} is not a calendar date ({e})", path) from e
    return v.strip()


def _check_header(d, path) -> None:
    if not isinstance(d, dict):
        raise AnnotationError(f"a sidecar must hold a JSON object, found {type(d).__name__}", path)
    fmt = d.get("format")
    if fmt != FORMAT:
        raise AnnotationError(f"'format' is {fmt!r}, expected {FORMAT!r}", path)
    ver = d.get("version")
    if isinstance(ver, bool) or not isinstance(ver, int):
        raise AnnotationError(f"'version' must be an integer, got {ver!r}", path)
    if ver > VERSION:
        raise AnnotationError(
            f"version {ver} was written by a newer mfscan; this one reads version {VERSION}", path
        )
    if ver < 1:
        raise AnnotationError(f"unknown version {ver}", path)
    image = d.get("image")
    if not isinstance(image, str) or not image.strip():
        raise AnnotationError("'image' must name the image file", path)
    problem = image_name_problem(image)
    if problem:
        raise AnnotationError(problem, path)


def image_name_problem(name: str) -> str | None:
    """Why a sidecar's ``image`` field is not the name of a file beside the sidecar, or None.

    The image of a sidecar lives in the sidecar's folder: a path with a separator,
    an absolute path, ``.`` or ``..`` would make mfscan read a file elsewhere, and is
    refused. The message quotes at most 60 characters of the field, never a file's bytes.
    """
    if "/" in name or "\\" in name or name in (".", "..") or ":" in name[:2] or "\0" in name:
        shown = name if len(name) <= 60 else name[:57] + "..."
        return (
            f"the 'image' field {shown!r} is not a file name beside the sidecar "
            "(a path leaving the sidecar's folder is refused)"
        )
    return None


def from_dict(d, path=None) -> Annotation:
    """Validate a parsed sidecar and build an :class:`Annotation`.

    Parameters
    ----------
    d : dict
        The parsed JSON object.
    path : str or Path, optional
        The file it was read from, named in errors and kept as ``Annotation.path``.

    Raises
    ------
    AnnotationError
        Naming the file and the problem.
    """
    _check_header(d, path)
    cal = None
    if d.get("calibration") is not None:
        try:
            cal = Calibration.from_dict(d["calibration"])
        except CalibrationError as e:
            raise AnnotationError(e.message, path) from e
    level = _normalize_level(d.get("level"), "", path)
    raw_rois = d.get("rois", [])
    if not isinstance(raw_rois, list):
        raise AnnotationError("'rois' must be a list", path)
    rois = [_roi_from_dict(r, i, path) for i, r in enumerate(raw_rois)]
    sha = d.get("image_sha256")
    if sha is not None and not (isinstance(sha, str) and re.fullmatch(r"[0-9a-fA-F]{64}", sha)):
        raise AnnotationError("'image_sha256' must be 64 hexadecimal characters", path)
    rater = _file_code(d, "rater", path)
    return Annotation(
        image=d["image"],
        rois=rois,
        calibration=cal,
        subject=_str_or_none(d, "subject", "", path),
        visit=_str_or_none(d, "visit", "", path),
        level=level,
        rater=rater,
        session=_file_code(d, "session", path),
        image_sha256=sha.lower() if sha else None,
        extra={k: v for k, v in d.items() if k not in _TOP_KEYS},
        path=None if path is None else Path(path),
        **_image_fields(d, path),
    )


def validated(annotation: Annotation, path=None) -> Annotation:
    """``annotation`` as the sidecar reader would read it back (a new object): the same
    validation as :func:`from_dict`, so a sidecar that is written can always be read and measured.

    Codes come back normalised (``l4`` -> ``L4``, ``R`` -> ``right``); ``path`` and
    ``digest`` are kept.

    Raises
    ------
    AnnotationError
        Whatever :func:`from_dict` refuses (a level that is not one, a rater code that cannot
        name a file, a newline in a visit ...), naming ``path``.
    """
    out = from_dict(annotation.to_dict(), path if path is not None else annotation.path)
    out.path, out.digest = annotation.path, annotation.digest
    return out
