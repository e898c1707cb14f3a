"""Where sidecars live: their names beside the image, and the conflict copies.

A sidecar is ``<image stem>.mfscan.json`` (one rater) or
``<image stem>.<rater>.mfscan.json`` beside its image. When a save finds the file
changed on disk, the edits go to a conflict copy
``<stem>[.<rater>].conflict-<time>.mfscan.json`` that is never measured.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from mfscan.errors import AnnotationError

__all__ = [
    "SUFFIX",
    "CONFLICT_MARK",
    "sidecar_path",
    "is_sidecar",
    "find_sidecars",
    "sidecar_names_image",
    "glob_escape",
    "is_conflict_copy",
    "conflict_path",
]

#: The file-name ending of every sidecar.
SUFFIX = ".mfscan.json"
#: Marks the copy a save sets aside when the sidecar changed on disk meanwhile;
#: such copies are never measured (:func:`is_conflict_copy`).
CONFLICT_MARK = ".conflict-"

_RATER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")


def sidecar_path(image_path, rater: str | None = None) -> Path:
    """``<image stem>.mfscan.json`` or ``<image stem>.<rater>.mfscan.json``.

    Raises
    ------
    AnnotationError
        When the rater code has characters other than letters, digits, ``-`` and ``_``.
    """
    image_path = Path(image_path)
    if rater is None or rater == "":
        return image_path.with_name(image_path.stem + SUFFIX)
    if not _RATER_RE.match(str(rater)):
        raise AnnotationError(f"rater code {rater!r} may contain only letters, digits, '-' and '_'")
    return image_path.with_name(f"{image_path.stem}.{rater}{SUFFIX}")


def is_sidecar(path) -> bool:
    """True when the file name ends in ``.mfscan.json``."""
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
        middle = p.name[len(stem) : -len(SUFFIX)]
        if middle and not (middle.startswith(".") and _RATER_RE.match(middle[1:])):
            continue
        if sidecar_names_image(p, image_path.name) is False:
            continue
        out.append(p)
    return out


def glob_escape(s: str) -> str:
    """`s` with the glob characters ``*``, ``?`` and ``[`` matched literally."""
    return re.sub(r"([*?\[])", r"[\1]", s)


def sidecar_names_image(sidecar, image_name: str) -> bool | None:
    """True/False whether a sidecar's ``image`` field is `image_name`; None if unreadable."""
    try:
        d = json.loads(Path(sidecar).read_text("utf-8-sig"))
        return Path(str(d.get("image", ""))).name == image_name
    except (OSError, ValueError, AttributeError):
        return None


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
