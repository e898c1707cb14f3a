"""The study codes of an image, from its sidecars and the study's naming pattern, and where they
disagree.

An image has one subject, visit and level, whoever traced it: every sidecar of
the image (any rater, any session) and the study's naming pattern
(:func:`mfscan.annotations.study_file.codes_from_pattern`) must agree on them.
:func:`image_codes` reads what is known, :func:`code_disagreements` lists the
conflicts of a set of codes about to be saved. Pure functions over files; no Qt.
"""

from __future__ import annotations

from pathlib import Path

from mfscan.io.files import read_json

from .paths import find_sidecars
from .study_file import codes_from_pattern

__all__ = [
    "CODE_FIELDS",
    "PROTOCOL_FIELDS",
    "sidecar_codes",
    "image_codes",
    "protocol_codes",
    "code_disagreements",
    "disagreement_text",
]

#: The codes that belong to the image (the same in every rater's and session's sidecar).
CODE_FIELDS = ("subject", "visit", "level")
#: The RUSI protocol fields of an image (they may differ between raters, so they are not checked).
PROTOCOL_FIELDS = ("view", "task", "posture", "trial")


def _text(v) -> str | None:
    if v is None:
        return None
    s = str(v).strip()
    return s or None


def sidecar_codes(image_path) -> list[dict]:
    """The codes each sidecar of an image holds.

    Returns
    -------
    list of dict
        ``{"path": Path, "rater", "session", "subject", "visit", "level", "view",
        "task", "posture", "trial"}`` per
        readable sidecar (values None when absent), sorted by file name;
        unreadable sidecars are left out (reading them reports the problem).
    """
    out = []
    for sc in find_sidecars(image_path):
        try:
            d = read_json(sc)
        except (OSError, ValueError):
            continue
        if not isinstance(d, dict):
            continue
        row = {"path": Path(sc)}
        for k in ("rater", "session", *CODE_FIELDS, *PROTOCOL_FIELDS):
            row[k] = _text(d.get(k))
        if row["level"]:
            row["level"] = row["level"].upper()
        out.append(row)
    return out


def protocol_codes(image_path, rater: str | None = None, session: str | None = None) -> dict:
    """View, task, posture and trial of an image from its own sidecars (a field absent when none has it).

    The sidecar of `rater`'s `session` first, then the others by file name; never from
    another image, so a field stays blank until the image's own files say it.
    """
    own = (_text(rater), _text(session))
    rows = sorted(sidecar_codes(image_path), key=lambda r: (r["rater"], r["session"]) != own)
    out: dict = {}
    for row in rows:
        for k in PROTOCOL_FIELDS:
            if row[k] is not None and k not in out:
                out[k] = row[k]
    return out


def image_codes(
    image_path, *, pattern: str | None = None, relative_path=None, exclude=None, annotations=None
) -> tuple[dict, dict]:
    """The subject, visit and level of an image, and where each was read.

    Parameters
    ----------
    image_path : str or Path
    pattern : str, optional
        The study's naming pattern.
    relative_path : str or Path, optional
        The image's path relative to the study folder (default `image_path`).
    exclude : str or Path, optional
        A sidecar not to read (the one being saved).
    annotations : list of (Path, Annotation), optional
        The image's sidecars already read (:func:`mfscan.measure.study.resolve_study`); by
        default they are read here.

    Returns
    -------
    (codes, sources) : (dict, dict)
        ``codes[field]`` the value (fields with none are absent); ``sources[field]``
        the sidecar it came from (the first, by file name, that has it) or
        ``"pattern"``. Sidecars come before the pattern.
    """
    skip = Path(exclude).resolve() if exclude is not None else None
    codes: dict = {}
    sources: dict = {}
    rows = sidecar_codes(image_path) if annotations is None else _annotation_codes(annotations)
    for row in rows:
        if skip is not None and row["path"].resolve() == skip:
            continue
        for k in CODE_FIELDS:
            if row[k] and k not in codes:
                codes[k], sources[k] = row[k], row["path"]
    fromp = codes_from_pattern(pattern, relative_path if relative_path is not None else image_path)
    for k in CODE_FIELDS:
        if _text(fromp.get(k)) and k not in codes:
            codes[k], sources[k] = _text(fromp[k]), "pattern"
    return codes, sources


def _annotation_codes(annotations) -> list[dict]:
    """:func:`sidecar_codes` rows of sidecars already read, sorted by file name."""
    rows = []
    for path, ann in sorted(annotations, key=lambda pa: Path(pa[0]).name):
        row = {"path": Path(path)} | {k: _text(getattr(ann, k, None)) for k in CODE_FIELDS}
        if row["level"]:
            row["level"] = row["level"].upper()
        rows.append(row)
    return rows


def code_disagreements(
    codes: dict, image_path, *, pattern: str | None = None, relative_path=None, exclude=None
) -> list[dict]:
    """Where `codes` (about to be saved for an image) disagree with its other sidecars or the pattern.

    Parameters
    ----------
    codes : dict
        ``subject``, ``visit``, ``level`` to check (missing or empty ones are not checked).
    image_path, pattern, relative_path, exclude
        As in :func:`image_codes`; `exclude` is the sidecar being written.

    Returns
    -------
    list of dict
        ``{"field", "value", "other", "source"}`` per conflict: `value` is in
        `codes`, `other` in `source` (a sidecar path or ``"pattern"``). Levels are
        compared case-insensitively, other codes as text after stripping spaces.
    """
    skip = Path(exclude).resolve() if exclude is not None else None
    mine = {k: _text(codes.get(k)) for k in CODE_FIELDS}
    if mine["level"]:
        mine["level"] = mine["level"].upper()
    out = []
    for row in sidecar_codes(image_path):
        if skip is not None and row["path"].resolve() == skip:
            continue
        for k in CODE_FIELDS:
            if mine[k] and row[k] and row[k] != mine[k]:
                out.append({"field": k, "value": mine[k], "other": row[k], "source": row["path"]})
    fromp = codes_from_pattern(pattern, relative_path if relative_path is not None else image_path)
    for k in CODE_FIELDS:
        other = _text(fromp.get(k))
        if mine[k] and other and other != mine[k]:
            out.append({"field": k, "value": mine[k], "other": other, "source": "pattern"})
    return out


def disagreement_text(problems: list[dict]) -> str:
    """One sentence per conflict: ``subject is S01 here but S02 in scan.R1.mfscan.json``."""
    parts = []
    for p in problems:
        src = p["source"]
        where = "the study's naming pattern" if src == "pattern" else Path(src).name
        parts.append(f"{p['field']} is {p['value']} here but {p['other']} in {where}")
    return "; ".join(parts)
