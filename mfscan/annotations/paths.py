"""Where sidecars live: their names beside the image, and the conflict copies.

A sidecar lives beside its image:

=========================================== =============================================
``<image stem>.mfscan.json``                one rater, no rater code
``<image stem>.<rater>.mfscan.json``        one rater, no session (or a one-session study)
``<image stem>.<rater>.s<session>.mfscan.json`` one rater's session (a repeated tracing)
=========================================== =============================================

Rater and session codes are letters, digits, ``-`` and ``_`` (no dot), so the
name splits one way only. Each rater's session has its own file: a second
session never edits the first one's. Older names stay readable:
``<image stem>.<rater>s<session>.mfscan.json`` (the sample study's) is found by
:func:`find_sidecars` like any ``<stem>.<code>.mfscan.json``, and which rater and
session a file holds is always read from its ``rater`` and ``session`` fields,
never from its name (:func:`session_sidecar_names` lists both spellings).

When a save finds the file changed on disk, the edits go to a conflict copy
``<stem>[.<rater>].conflict-<time>.mfscan.json`` that is never measured.
"""

from __future__ import annotations

import re
from pathlib import Path

from mfscan.errors import AnnotationError
from mfscan.io.files import link_outside, read_json

__all__ = [
    "SUFFIX",
    "CONFLICT_MARK",
    "sidecar_path",
    "session_sidecar_names",
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


def code_problem(value: str, what: str) -> str | None:
    """Why `value` is not a rater or session code (it goes into sidecar file names), or None.

    THE rule for these codes: :func:`sidecar_path` and the sidecar reader
    (:func:`mfscan.annotations.records.from_dict`) both apply it.
    """
    if _RATER_RE.fullmatch(str(value)):  # fullmatch: "$" alone lets a final newline through
        return None
    shown = str(value) if len(str(value)) <= 40 else str(value)[:37] + "..."
    return (
        f"{what} code {shown!r} may contain only letters, digits, '-' and '_' "
        "(starting with a letter or digit): it becomes part of the sidecar's file name"
    )


def _check_code(value: str, what: str) -> None:
    if (problem := code_problem(value, what)) is not None:
        raise AnnotationError(problem)


def sidecar_path(image_path, rater: str | None = None, session: str | None = None) -> Path:
    """Where a rater's (session's) sidecar of an image is written.

    ``<image stem>.mfscan.json`` without a rater, ``<image stem>.<rater>.mfscan.json``
    without a session, ``<image stem>.<rater>.s<session>.mfscan.json`` with one.

    Parameters
    ----------
    image_path : str or Path
    rater : str, optional
    session : str, optional
        The session code (``"1"``, ``"2"``); None or ``""`` for no session.

    Raises
    ------
    AnnotationError
        When a code has characters other than letters, digits, ``-`` and ``_``,
        or a session is given without a rater.
    """
    image_path = Path(image_path)
    session = None if session is None or str(session).strip() == "" else str(session).strip()
    if rater is None or rater == "":
        if session is not None:
            raise AnnotationError("a session needs a rater code (the file is <stem>.<rater>.s<session>)")
        return image_path.with_name(image_path.stem + SUFFIX)
    _check_code(rater, "rater")
    if session is None:
        return image_path.with_name(f"{image_path.stem}.{rater}{SUFFIX}")
    _check_code(session, "session")
    return image_path.with_name(f"{image_path.stem}.{rater}.s{session}{SUFFIX}")


def session_sidecar_names(image_path, rater: str, session: str | None = None) -> list[Path]:
    """The files that may hold `rater`'s `session` of an image: :func:`sidecar_path`, then
    the older ``<stem>.<rater>s<session>.mfscan.json`` (a file's own ``rater`` and
    ``session`` fields decide)."""
    first = sidecar_path(image_path, rater, session)
    if session is None or str(session).strip() == "":
        return [first]
    image_path = Path(image_path)
    return [first, image_path.with_name(f"{image_path.stem}.{rater}s{str(session).strip()}{SUFFIX}")]


def is_sidecar(path) -> bool:
    """True when the file name ends in ``.mfscan.json``."""
    return Path(path).name.endswith(SUFFIX)


def find_sidecars(image_path, *, confine: bool = True) -> list[Path]:
    """The sidecars beside an image that name it, sorted by file name.

    Candidates are ``<stem>.mfscan.json``, ``<stem>.<code>.mfscan.json`` and
    ``<stem>.<rater>.s<session>.mfscan.json``; a
    candidate whose ``image`` field names another file (``scan01.dcm`` beside
    ``scan01.png``) is skipped. Unreadable candidates are returned, so that
    reading them reports the problem instead of hiding the file.

    With `confine` (the default), a candidate that is a symbolic link resolving
    outside the image's folder is left out (:func:`mfscan.io.files.link_outside`);
    :func:`mfscan.measure.discover.discover` passes False and reports such files.
    """
    image_path = Path(image_path)
    stem = image_path.stem
    folder = image_path.parent
    out = []
    for p in sorted(folder.glob(f"{glob_escape(stem)}*{SUFFIX}")):
        middle = p.name[len(stem) : -len(SUFFIX)]
        if middle and not _is_code_middle(middle):
            continue
        if confine and link_outside(p, folder):
            continue
        if sidecar_names_image(p, image_path.name) is False:
            continue
        out.append(p)
    return out


def _is_code_middle(middle: str) -> bool:
    """``.<rater>`` or ``.<rater>.s<session>``."""
    if not middle.startswith("."):
        return False
    parts = middle[1:].split(".")
    if len(parts) == 1:
        return bool(_RATER_RE.match(parts[0]))
    return (
        len(parts) == 2
        and bool(_RATER_RE.match(parts[0]))
        and parts[1].startswith("s")
        and bool(_RATER_RE.match(parts[1][1:]))
    )


def glob_escape(s: str) -> str:
    """`s` with the glob characters ``*``, ``?`` and ``[`` matched literally."""
    return re.sub(r"([*?\[])", r"[\1]", s)


def sidecar_names_image(sidecar, image_name: str) -> bool | None:
    """True/False whether a sidecar's ``image`` field is `image_name`; None if unreadable."""
    try:
        d = read_json(sidecar)
        return Path(str(d.get("image", ""))).name == image_name
    except (OSError, ValueError, AttributeError):
        return None


def is_conflict_copy(path) -> bool:
    """True for a ``<stem>[.<rater>].conflict-<time>.mfscan.json`` copy."""
    return CONFLICT_MARK in Path(path).name


def conflict_path(sidecar, rater: str | None, when: float | None = None) -> Path:
    """Where to set edits aside when `sidecar` changed on disk since it was read:
    ``<stem>[.<rater>[.s<session>]].conflict-<YYYYmmdd-HHMMSS>[-k].mfscan.json`` beside it,
    never an existing file."""
    import time

    sidecar = Path(sidecar)
    base = sidecar.name[: -len(SUFFIX)] if sidecar.name.endswith(SUFFIX) else sidecar.stem
    mid = f".{rater}" if rater else ""
    if rater and base.endswith("." + rater):
        base = base[: -len(rater) - 1]
    elif rater and re.search(rf"\.{re.escape(rater)}\.s[^.]+$", base):
        mid = ""  # a session's sidecar: <stem>.<rater>.s<session>.conflict-<time>
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when))
    p = sidecar.with_name(f"{base}{mid}{CONFLICT_MARK}{stamp}{SUFFIX}")
    k = 1
    while p.exists():
        p = sidecar.with_name(f"{base}{mid}{CONFLICT_MARK}{stamp}-{k}{SUFFIX}")
        k += 1
    return p
