"""The annotation sidecar: ``<image stem>.mfscan.json`` beside the image.

A sidecar holds the outlines one rater traced on one image, with the study's own
subject code, visit and vertebral level. Minimal content, which other tools may
write by hand::

    {"format": "mfscan.annotation", "version": 1, "image": "scan01.png",
     "calibration": {"row_mm": 0.12, "col_mm": 0.12, "source": "manual"},
     "subject": "P01", "visit": "1", "level": "L4", "rater": "R1",
     "rois": [{"side": "left", "points": [[row, col], ...]},
              {"side": "right", "points": [[row, col], ...]}]}

Points are pixel coordinates (row, col), napari's order. Fields this module does
not know are kept and written back unchanged, so nothing a rater or another tool
stored is ever lost. Writes are atomic: a crash leaves either the old or the new
complete file, never half of one.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

from mfscan.calibration import Calibration
from mfscan.errors import AnnotationError, CalibrationError

FORMAT = "mfscan.annotation"
VERSION = 1
SUFFIX = ".mfscan.json"
SIDES = ("left", "right")
LEVELS = ("L1", "L2", "L3", "L4", "L5", "S1")
METHODS = ("manual", "proposed", "proposed-edited", "livewire", "imagej")

_TOP_KEYS = ("format", "version", "image", "image_sha256", "calibration", "subject",
             "visit", "session", "level", "rater", "rois")
_ROI_KEYS = ("side", "points", "level", "frame", "region", "method")
_RATER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")


class AnnotationConflictError(AnnotationError):
    """The sidecar changed on disk since it was read; saving would overwrite that change."""


@dataclass
class ROI:
    """One traced outline.

    Attributes
    ----------
    side : {'left', 'right'}
        The patient's side, as assigned by the rater (never inferred from position).
    points : ndarray of float, shape (N, 2)
        Vertices in (row, col) pixel coordinates; the polygon is closed implicitly.
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
    """

    side: str
    points: np.ndarray
    level: str | None = None
    frame: int | None = None
    region: int | None = None
    method: str = "manual"
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.points = np.array(self.points, dtype=float).reshape(-1, 2)

    def to_dict(self) -> dict:
        d: dict = {"side": self.side, "points": self.points.tolist()}
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
        return (self.side == other.side and self.level == other.level and self.frame == other.frame
                and self.region == other.region and self.method == other.method
                and self.extra == other.extra and self.points.shape == other.points.shape
                and bool(np.array_equal(self.points, other.points)))


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
    path: Path | None = field(default=None, compare=False, repr=False)
    digest: str | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict:
        d: dict = {"format": FORMAT, "version": VERSION, "image": self.image}
        if self.image_sha256 is not None:
            d["image_sha256"] = self.image_sha256
        if self.calibration is not None:
            d["calibration"] = self.calibration.to_dict()
        for k in ("subject", "visit", "session", "level", "rater"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        d["rois"] = [r.to_dict() for r in self.rois]
        for k, v in self.extra.items():
            d.setdefault(k, v)
        return d

    def copy(self) -> "Annotation":
        return copy.deepcopy(self)


def _str_or_none(d, key, where, path):
    v = d.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (str, int, float)):
        raise AnnotationError(f"{where}'{key}' must be a string, got {type(v).__name__}", path)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise AnnotationError(f"{where}'{key}' must be a string, got {v}", path)
        v = int(v) if v.is_integer() else v
    return str(v).strip()


def _normalize_level(v, where, path):
    if v is None:
        return None
    s = str(v).strip().upper()
    if s not in LEVELS:
        raise AnnotationError(f"{where}unknown vertebral level {v!r}; expected one of {', '.join(LEVELS)}", path)
    return s


def normalize_side(v, where="", path=None) -> str:
    """'left'/'right' from common spellings ('L', 'Left', 'RIGHT'); error otherwise."""
    s = str(v).strip().lower() if v is not None else ""
    s = {"l": "left", "r": "right", "lt": "left", "rt": "right"}.get(s, s)
    if s not in SIDES:
        raise AnnotationError(f"{where}unknown side {v!r}; expected 'left' or 'right'", path)
    return s


def _parse_points(raw, where, path) -> np.ndarray:
    if not isinstance(raw, list):
        raise AnnotationError(f"{where}'points' must be a list of [row, col] pairs", path)
    if len(raw) < 3:
        raise AnnotationError(f"{where}an outline needs at least 3 points, found {len(raw)}", path)
    try:  # fast path: a clean list of numeric pairs
        pts = np.array(raw)
        ok = pts.ndim == 2 and pts.shape[1] == 2 and pts.dtype.kind in "if"
    except (ValueError, TypeError):
        ok = False
    if not ok:
        for i, p in enumerate(raw):
            if (not isinstance(p, (list, tuple)) or len(p) != 2
                    or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in p)):
                raise AnnotationError(f"{where}point {i} is {p!r}, not a [row, col] pair of numbers", path)
        pts = np.asarray(raw, dtype=float)
    pts = pts.astype(float, copy=False)
    bad = ~np.isfinite(pts).all(axis=1)
    if bad.any():
        raise AnnotationError(f"{where}point {int(np.argmax(bad))} is not finite (NaN or infinity)", path)
    return pts


def from_dict(d, path=None) -> Annotation:
    """Validate a parsed sidecar and build an :class:`Annotation`.

    Raises
    ------
    AnnotationError
        Naming the file and the problem.
    """
    if not isinstance(d, dict):
        raise AnnotationError(f"a sidecar must hold a JSON object, found {type(d).__name__}", path)
    fmt = d.get("format")
    if fmt != FORMAT:
        raise AnnotationError(f"'format' is {fmt!r}, expected {FORMAT!r}", path)
    ver = d.get("version")
    if isinstance(ver, bool) or not isinstance(ver, int):
        raise AnnotationError(f"'version' must be an integer, got {ver!r}", path)
    if ver > VERSION:
        raise AnnotationError(f"version {ver} was written by a newer mfscan; this one reads version {VERSION}", path)
    if ver < 1:
        raise AnnotationError(f"unknown version {ver}", path)
    image = d.get("image")
    if not isinstance(image, str) or not image.strip():
        raise AnnotationError("'image' must name the image file", path)
    cal = None
    if d.get("calibration") is not None:
        try:
            cal = Calibration.from_dict(d["calibration"])
        except CalibrationError as e:
            raise AnnotationError(e.message, path) from None
    level = _normalize_level(d.get("level"), "", path)
    raw_rois = d.get("rois", [])
    if not isinstance(raw_rois, list):
        raise AnnotationError("'rois' must be a list", path)
    rois = []
    for i, r in enumerate(raw_rois):
        where = f"ROI {i}: "
        if not isinstance(r, dict):
            raise AnnotationError(f"{where}must be an object with 'side' and 'points'", path)
        side = normalize_side(r.get("side"), where, path)
        where = f"ROI {i} ({side}): "
        pts = _parse_points(r.get("points"), where, path)
        frame = r.get("frame")
        if frame is not None and (isinstance(frame, bool) or not isinstance(frame, int) or frame < 0):
            raise AnnotationError(f"{where}'frame' must be a non-negative integer, got {frame!r}", path)
        region = r.get("region")
        if region is not None and (isinstance(region, bool) or not isinstance(region, int) or region < 0):
            raise AnnotationError(f"{where}'region' must be a non-negative integer, got {region!r}", path)
        method = r.get("method", "manual")
        if not isinstance(method, str):
            raise AnnotationError(f"{where}'method' must be a string", path)
        extra = {k: v for k, v in r.items() if k not in _ROI_KEYS}
        rois.append(ROI(side, pts, _normalize_level(r.get("level"), where, path), frame, region, method, extra))
    sha = d.get("image_sha256")
    if sha is not None and not (isinstance(sha, str) and re.fullmatch(r"[0-9a-fA-F]{64}", sha)):
        raise AnnotationError("'image_sha256' must be 64 hexadecimal characters", path)
    rater = _str_or_none(d, "rater", "", path)
    return Annotation(
        image=image, rois=rois, calibration=cal,
        subject=_str_or_none(d, "subject", "", path), visit=_str_or_none(d, "visit", "", path),
        level=level, rater=rater, session=_str_or_none(d, "session", "", path),
        image_sha256=sha.lower() if sha else None,
        extra={k: v for k, v in d.items() if k not in _TOP_KEYS},
        path=None if path is None else Path(path))


def _json_problem(e, data: bytes) -> str:
    """A plain-words reason for a JSON parse error."""
    where = f"line {e.lineno}, column {e.colno}"
    if "UTF-8" in e.msg:
        return "sidecar is not UTF-8 text (is it a JSON file?)"
    token = data[e.pos:e.pos + 9]
    for bad in (b"NaN", b"Infinity", b"-Infinity"):
        if token.startswith(bad):
            return (f"{bad.decode()} is not valid JSON ({where}): every coordinate must be a finite "
                    "number (Python's json.dumps writes NaN; pass allow_nan=False to catch it)")
    if "infinity" in e.msg:
        return f"a number is not finite, too large for a coordinate ({where})"
    return f"not valid JSON ({where}: {e.msg})"


def read_sidecar(path) -> Annotation:
    """Read and validate a sidecar file.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    Annotation
        With ``path`` and ``digest`` set, so that a later save can detect a change on disk.

    Raises
    ------
    AnnotationError
        When the file is missing, is not JSON, or its content is invalid; the
        message names the file and the problem.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise AnnotationError("sidecar file not found", path) from None
    except OSError as e:
        raise AnnotationError(f"cannot read sidecar ({e.strerror})", path) from None
    if not data.strip():
        raise AnnotationError("sidecar file is empty", path)
    try:
        d = orjson.loads(data[3:] if data.startswith(b"\xef\xbb\xbf") else data)
    except orjson.JSONDecodeError as e:
        raise AnnotationError(_json_problem(e, data), path) from None
    ann = from_dict(d, path)
    ann.digest = hashlib.sha256(data).hexdigest()
    return ann


_PAIR = re.compile(r"\[\n\s*(-?[0-9][0-9.eE+-]*),\n\s*(-?[0-9][0-9.eE+-]*)\n\s*\]")


def dumps(annotation: Annotation) -> str:
    """The JSON text of a sidecar: UTF-8, indented, one ``[row, col]`` point per
    line, floats written so that they read back exactly."""
    text = json.dumps(annotation.to_dict(), indent=1, ensure_ascii=False, allow_nan=False)
    return _PAIR.sub(r"[\1, \2]", text) + "\n"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once, at import: os.umask cannot be read without setting it


def atomic_write_bytes(path, data: bytes) -> None:
    """Write `data` to `path` atomically: a temporary file in the same folder,
    flushed to disk, then renamed over the target.

    The file gets the permissions of the file it replaces, or those a plain
    ``open(path, "w")`` would give (so sidecars in a shared study folder stay
    readable by the other raters' accounts).
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode & 0o7777
    except OSError:
        mode = 0o666 & ~_UMASK
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def write_sidecar(path, annotation: Annotation, *, force: bool = False) -> Path:
    """Save an annotation atomically.

    If `annotation` was read from `path` and the file has changed on disk since
    (another rater or window saved it), the save is refused with
    :class:`AnnotationConflictError` unless ``force=True``. A file that appeared
    since an annotation was created fresh is likewise never overwritten silently.

    Returns
    -------
    Path
        The path written. ``annotation.path`` and ``digest`` are updated so that
        further saves from the same session go through.
    """
    path = Path(path)
    text = dumps(annotation).encode("utf-8")
    if not is_sidecar(path) and path.is_file():
        from mfscan.io.images import is_supported

        if is_supported(path):  # even with force: a sidecar never replaces an image
            raise AnnotationError("refusing to write a sidecar over an image file", path)
    if not force and path.exists():
        try:
            current = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as e:
            raise AnnotationError(f"cannot read the existing sidecar before saving ({e.strerror})", path) from None
        same_file = annotation.path is not None and Path(annotation.path).resolve() == path.resolve()
        if current != hashlib.sha256(text).hexdigest():
            if not same_file:
                raise AnnotationConflictError(
                    "a sidecar already exists here and was not loaded by this session; "
                    "not overwritten (use --force, or another rater code)", path)
            if annotation.digest != current:
                raise AnnotationConflictError(
                    "the sidecar on disk changed since it was loaded (another rater or window saved it); "
                    "not overwritten: reload it or save under another name", path)
    try:
        atomic_write_bytes(path, text)
    except OSError as e:
        raise AnnotationError(f"cannot write sidecar ({e.strerror})", path) from None
    annotation.path = path
    annotation.digest = hashlib.sha256(text).hexdigest()
    return path


#: Marks the copy a save sets aside when the sidecar changed on disk meanwhile;
#: such copies are never measured (:func:`is_conflict_copy`).
CONFLICT_MARK = ".conflict-"


def is_conflict_copy(path) -> bool:
    """True for a ``<stem>[.<rater>].conflict-<time>.mfscan.json`` copy."""
    return CONFLICT_MARK in Path(path).name


def conflict_path(sidecar, rater: str | None, when: float | None = None) -> Path:
    """Where to set edits aside when `sidecar` changed on disk since it was read:
    ``<stem>[.<rater>].conflict-<YYYYmmdd-HHMMSS>[-k].mfscan.json`` beside it,
    never an existing file."""
    import time

    sidecar = Path(sidecar)
    base = sidecar.name[: -len(SUFFIX)] if sidecar.name.endswith(SUFFIX) else sidecar.stem
    if rater and base.endswith("." + rater):
        base = base[: -len(rater) - 1]
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when))
    mid = f".{rater}" if rater else ""
    p = sidecar.with_name(f"{base}{mid}{CONFLICT_MARK}{stamp}{SUFFIX}")
    k = 1
    while p.exists():
        p = sidecar.with_name(f"{base}{mid}{CONFLICT_MARK}{stamp}-{k}{SUFFIX}")
        k += 1
    return p


def sidecar_path(image_path, rater: str | None = None) -> Path:
    """``<image stem>.mfscan.json`` or ``<image stem>.<rater>.mfscan.json``."""
    image_path = Path(image_path)
    if rater is None or rater == "":
        return image_path.with_name(image_path.stem + SUFFIX)
    if not _RATER_RE.match(str(rater)):
        raise AnnotationError(f"rater code {rater!r} may contain only letters, digits, '-' and '_'")
    return image_path.with_name(f"{image_path.stem}.{rater}{SUFFIX}")


def is_sidecar(path) -> bool:
    return Path(path).name.endswith(SUFFIX)


def find_sidecars(image_path) -> list[Path]:
    """The sidecars beside an image that name it, sorted by file name.

    Candidates are ``<stem>.mfscan.json`` and ``<stem>.*.mfscan.json``; a
    candidate whose ``image`` field names another file (``scan01.dcm`` beside
    ``scan01.png``) is skipped. Unreadable candidates are returned, so that
    reading them reports the problem instead of hiding the file.
    """
    image_path = Path(image_path)
    stem = image_path.stem
    folder = image_path.parent
    out = []
    for p in sorted(folder.glob(f"{glob_escape(stem)}*{SUFFIX}")):
        middle = p.name[len(stem):-len(SUFFIX)]
        if middle and not (middle.startswith(".") and _RATER_RE.match(middle[1:])):
            continue
        if sidecar_names_image(p, image_path.name) is False:
            continue
        out.append(p)
    return out


def glob_escape(s: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", s)


def sidecar_names_image(sidecar, image_name: str) -> bool | None:
    """True/False whether a sidecar's ``image`` field is `image_name`; None if unreadable."""
    try:
        d = json.loads(Path(sidecar).read_text("utf-8-sig"))
        return Path(str(d.get("image", ""))).name == image_name
    except (OSError, ValueError, AttributeError):
        return None


def file_sha256(path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
