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

import hashlib
import json
import re
from pathlib import Path

import orjson

from mfscan.annotations.paths import (
    is_sidecar,
)
from mfscan.annotations.records import (
    Annotation,
    from_dict,
    validated,
)
from mfscan.errors import AnnotationError
from mfscan.io.files import atomic_write_bytes, loads_json

__all__ = ["AnnotationConflictError", "read_sidecar", "dumps", "write_sidecar"]


class AnnotationConflictError(AnnotationError):
    """The sidecar changed on disk since it was read; saving would overwrite that change."""


def _json_problem(e, data: bytes) -> str:
    """A plain-words reason for a JSON parse error."""
    where = f"line {e.lineno}, column {e.colno}"
    if "UTF-8" in e.msg:
        return "sidecar is not UTF-8 text (is it a JSON file?)"
    token = data[e.pos : e.pos + 9]
    for bad in (b"NaN", b"Infinity", b"-Infinity"):
        if token.startswith(bad):
            return (
                f"{bad.decode()} is not valid JSON ({where}): every coordinate must be a finite "
                "number (Python's json.dumps writes NaN; pass allow_nan=False to catch it)"
            )
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
    except FileNotFoundError as e:
        raise AnnotationError("sidecar file not found", path) from e
    except OSError as e:
        raise AnnotationError(f"cannot read sidecar ({e.strerror})", path) from e
    if not data.strip():
        raise AnnotationError("sidecar file is empty", path)
    try:
        d = loads_json(data)
    except orjson.JSONDecodeError as e:
        raise AnnotationError(_json_problem(e, data), path) from e
    ann = from_dict(d, path)
    ann.digest = hashlib.sha256(data).hexdigest()
    return ann


_PAIR = re.compile(r"\[\n\s*(-?[0-9][0-9.eE+-]*),\n\s*(-?[0-9][0-9.eE+-]*)\n\s*\]")


def dumps(annotation: Annotation) -> str:
    """The JSON text of a sidecar: UTF-8, indented, one ``[row, col]`` point per
    line, floats written so that they read back exactly."""
    text = json.dumps(annotation.to_dict(), indent=1, ensure_ascii=False, allow_nan=False)
    return _PAIR.sub(r"[\1, \2]", text) + "\n"


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

    Raises
    ------
    AnnotationError
        The annotation holds what the sidecar reader refuses (see
        :func:`mfscan.annotations.records.validated`); nothing is written.
    """
    path = Path(path)
    validated(annotation, path)  # never write a file the reader (and so measure) would refuse
    text = dumps(annotation).encode("utf-8")
    if not is_sidecar(path) and path.is_file():
        from mfscan.io.images import is_supported

        if is_supported(path):  # even with force: a sidecar never replaces an image
            raise AnnotationError("refusing to write a sidecar over an image file", path)
    if not force and path.exists():
        try:
            current = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as e:
            raise AnnotationError(
                f"cannot read the existing sidecar before saving ({e.strerror})", path
            ) from e
        same_file = annotation.path is not None and Path(annotation.path).resolve() == path.resolve()
        if current != hashlib.sha256(text).hexdigest():
            if not same_file:
                raise AnnotationConflictError(
                    "a sidecar already exists here and was not loaded by this session; "
                    "not overwritten (use --force, or another rater code)",
                    path,
                )
            if annotation.digest != current:
                raise AnnotationConflictError(
                    "the sidecar on disk changed since it was loaded (another rater or window saved it); "
                    "not overwritten: reload it or save under another name",
                    path,
                )
    try:
        atomic_write_bytes(path, text)
    except OSError as e:
        raise AnnotationError(f"cannot write sidecar ({e.strerror})", path) from e
    annotation.path = path
    annotation.digest = hashlib.sha256(text).hexdigest()
    return path
