"""The study settings file ``<study folder>/mfscan.study.json``: set once, read by every rater.

JSON with these keys::

    {"format": "mfscan.study", "version": 1,
     "pattern": "{subject}_V{visit}_{level}_{repeat}" | null,
     "blinded": true | false,
     "border": "inner" | "centre",
     "orders": {"<rater>/<session>": {"seed": int, "order": ["rel/path.png", ...], "done": [...]}}}

``pattern`` names the study codes in the image paths (:func:`codes_from_pattern`);
``blinded`` hides other raters' and earlier sessions' outlines in the viewer and
randomises each rater's worklist; ``border`` is the study's tracing convention
(outlines on the inner edge of the fascia line, the default, or on its centre),
which ``mfscan propose`` follows and a model's card records (:func:`study_border`); ``orders`` keeps each rater's and session's
random order (with the seed it was drawn from) and the images already saved, so
that a rater resumes where they stopped. Paths in ``order`` are relative to the
study folder, with ``/``. The file is written atomically.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

from mfscan.errors import MfscanError
from mfscan.vocab import level_or_none

__all__ = [
    "STUDY_FILE",
    "read_study_settings",
    "write_study_settings",
    "codes_from_pattern",
    "study_border",
    "find_study_folder",
    "order_key",
    "random_order",
    "session_order",
]

#: The name of the study settings file in the study folder.
STUDY_FILE = "mfscan.study.json"
_FORMAT = "mfscan.study"
_FIELD_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _defaults() -> dict:
    return {"format": _FORMAT, "version": 1, "pattern": None, "blinded": False, "orders": {}}


def _border(value, path) -> str:
    from mfscan.vocab import BORDERS

    v = str(value).strip().lower().replace("center", "centre")
    if v not in BORDERS:
        raise MfscanError(f'the study\'s "border" is {value!r}; use "inner" or "centre"', path)
    return v


def study_border(path) -> str:
    """The tracing convention (``"inner"`` or ``"centre"``) of the study holding ``path`` (a file
    or folder): the ``border`` of the nearest ``mfscan.study.json`` at or above it, ``"inner"``
    when there is none.

    ``inner``: outlines follow the inner edge of the fascia line and of the bone (the classical
    proposer's border); ``centre``: the middle of the bright fascia line, where many raters
    put the line (about 3-7 % more area on an adult multifidus).
    """
    folder = find_study_folder(path)
    return "inner" if folder is None else read_study_settings(folder).get("border", "inner")


def read_study_settings(folder) -> dict:
    """The study settings of a folder; the defaults (no pattern, not blinded, no orders) when
    it has no ``mfscan.study.json``.

    Raises
    ------
    MfscanError
        When the file exists but is not a readable mfscan study file.
    """
    path = Path(folder) / STUDY_FILE
    out = _defaults()
    try:
        text = path.read_text("utf-8-sig")
    except FileNotFoundError:
        return out
    except OSError as e:
        raise MfscanError(f"cannot read the study file ({e.strerror or e})", path) from e
    try:
        d = json.loads(text)
    except ValueError as e:
        raise MfscanError(f"the study file is not valid JSON ({e})", path) from e
    if not isinstance(d, dict) or d.get("format") != _FORMAT:
        raise MfscanError(f'not an mfscan study file (its "format" is not "{_FORMAT}")', path)
    pattern = d.get("pattern")
    out["pattern"] = pattern if isinstance(pattern, str) and pattern.strip() else None
    out["blinded"] = bool(d.get("blinded", False))
    if "border" in d:
        out["border"] = _border(d["border"], path)
    orders = d.get("orders")
    out["orders"] = orders if isinstance(orders, dict) else {}
    for k, v in d.items():  # unknown keys are kept
        out.setdefault(k, v)
    return out


def write_study_settings(folder, settings: dict) -> Path:
    """Write (atomically) the study settings of a folder; returns the file's path.

    `settings` is merged over the defaults (so ``{"blinded": True}`` alone is a
    valid argument) and not modified. A pattern is checked (:func:`codes_from_pattern`).
    """
    from mfscan.io.files import atomic_write_bytes

    d = _defaults()
    d.update(dict(settings))
    d["format"], d["version"] = _FORMAT, 1
    if d.get("pattern"):
        _pattern_regex(str(d["pattern"]))  # raises on a bad pattern
    else:
        d["pattern"] = None
    d["blinded"] = bool(d["blinded"])
    path = Path(folder) / STUDY_FILE
    if "border" in d:
        d["border"] = _border(d["border"], path)
    try:
        atomic_write_bytes(path, (json.dumps(d, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
    except OSError as e:
        raise MfscanError(f"cannot write the study file ({e.strerror or e})", path) from e
    return path


def find_study_folder(path, max_levels: int = 8) -> Path | None:
    """The nearest folder at or above `path` (a file or folder) holding ``mfscan.study.json``."""
    p = Path(path).resolve()
    folder = p if p.is_dir() else p.parent
    for _ in range(max_levels):
        if (folder / STUDY_FILE).is_file():
            return folder
        if folder.parent == folder:
            break
        folder = folder.parent
    return None


def _pattern_regex(pattern: str) -> re.Pattern:
    parts = pattern.strip().strip("/").split("/")
    seen: set[str] = set()
    out = []
    for i, part in enumerate(parts):
        pos, rx = 0, ""
        for m in _FIELD_RE.finditer(part):
            rx += re.escape(part[pos : m.start()])
            name = m.group(1)
            rx += f"(?P={name})" if name in seen else f"(?P<{name}>[^/]+?)"
            seen.add(name)
            pos = m.end()
        rx += re.escape(part[pos:])
        if i == len(parts) - 1:
            rx += r"(?:\.[^/.]+)?"  # the file's suffix, if the pattern does not name it
        out.append(rx)
    if not seen:
        raise MfscanError(f"the naming pattern {pattern!r} names no field (write fields as {{subject}})")
    return re.compile("(?:^|/)" + "/".join(out) + "$")


def codes_from_pattern(pattern: str | None, relative_path) -> dict:
    """The codes a naming pattern reads from an image's path.

    Parameters
    ----------
    pattern : str or None
        Fields in braces, other text literal: ``"{subject}_V{visit}_{level}_{repeat}"``
        matches the file name (its suffix optional); ``/`` separates folder
        levels, matched against the path's last components
        (``"{subject}/visit{visit}/{any}"``). A field used twice must have the same
        value. Field names are free (``repeat``, ``session``, ...).
    relative_path : str or Path
        The image's path (relative to the study folder, or absolute).

    Returns
    -------
    dict
        ``{field: value}``; ``level`` upper-cased when it is a known level
        (``"l5"`` -> ``"L5"``). Empty when the path does not match.

    Examples
    --------
    >>> codes_from_pattern("{subject}_V{visit}_{level}_{repeat}", "S02/visit2/S02_V2_L5_1.png")
    {'subject': 'S02', 'visit': '2', 'level': 'L5', 'repeat': '1'}
    """
    if not pattern:
        return {}
    m = _pattern_regex(str(pattern)).search(Path(relative_path).as_posix())
    if m is None:
        return {}
    d = dict(m.groupdict())
    if "level" in d:
        d["level"] = level_or_none(d["level"]) or d["level"]
    return d


def order_key(rater: str, session: str | None = None) -> str:
    """The key of a rater's session in ``orders``: ``"<rater>/<session>"`` (``"R1/"`` without one)."""
    return f"{rater}/{session or ''}"


def random_order(relative_paths, seed: int) -> list[str]:
    """The relative paths in the random order drawn from `seed` (numpy's default generator,
    a permutation of the paths sorted as given): the same seed gives the same order."""
    import numpy as np

    paths = list(relative_paths)
    idx = np.random.default_rng(int(seed)).permutation(len(paths))
    return [paths[i] for i in idx]


def session_order(orders: dict, rater: str, session: str | None, relative_paths, seed: int | None = None):
    """The randomised worklist order of a rater's session, drawn once and then kept in the study file.

    Parameters
    ----------
    orders : dict
        The study file's ``orders`` (not modified).
    rater, session : str
    relative_paths : list of str
        The folder's images (relative, ``/``), in natural order.
    seed : int, optional
        The seed of a new order (default: a random one, recorded).

    Returns
    -------
    (entry, changed) : (dict, bool)
        ``{"seed", "order", "done"}`` for ``orders[order_key(rater, session)]``;
        `changed` when it was drawn now or images were added since (appended, in
        the order drawn from the same seed), and must be written back.
    """
    key = order_key(rater, session)
    rel = list(relative_paths)
    old = orders.get(key) if isinstance(orders, dict) else None
    if isinstance(old, dict) and isinstance(old.get("order"), list) and "seed" in old:
        entry = {"seed": int(old["seed"]), "order": list(old["order"]), "done": list(old.get("done") or [])}
        known = set(entry["order"])
        new = [p for p in random_order(rel, entry["seed"]) if p not in known]
        entry["order"] += new
        return entry, bool(new)
    seed = int(seed) if seed is not None else secrets.randbelow(2**31)
    return {"seed": seed, "order": random_order(rel, seed), "done": []}, True
