"""Saving outlines and recovering them: the writes, and the save policy as pure decisions.

The writes go through :func:`mfscan.annotations.sidecar.write_sidecar` (conflict
detection by digest: edits are never written over a sidecar someone else
changed). The policy (which layer to save when, when a layer counts as unsaved,
what the rater is told) is decided here by pure functions of a layer's
metadata, so that it is tested without a viewer; the widget only applies it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from mfscan.annotations import (
    SUFFIX,
    Annotation,
    AnnotationConflictError,
    conflict_path,
    sidecar_path,
    write_sidecar,
)
from mfscan.annotations.codes import PROTOCOL_FIELDS, protocol_codes
from mfscan.errors import MfscanError

from .calibration import KEY
from .images import MEMORY_PREFIX
from .layers import annotation_from_layer
from .settings import default_config_dir

__all__ = [
    "SaveResult",
    "save_annotation",
    "layer_sidecar_path",
    "save_layer_state",
    "recovery_dir",
    "recovery_path",
    "write_recovery",
    "save_policy_text",
    "should_save",
    "is_unsaved",
    "apply_study_fields",
    "error_reason",
    "recovery_text",
    "leave_refused_text",
    "STUDY_FIELDS",
    "PROTOCOL_FIELDS",
    "protocol_codes",
]

#: The RUSI protocol fields of an image (:class:`mfscan.annotations.Annotation`): never carried over.
#: The study codes of the widget stored in an outline layer's annotation.
STUDY_FIELDS = ("subject", "visit", "level", *PROTOCOL_FIELDS)


@dataclass
class SaveResult:
    """What :func:`save_annotation` did."""

    path: Path
    conflict: bool = False
    message: str = ""


def save_annotation(annotation: Annotation, path) -> SaveResult:
    """Save through :func:`mfscan.annotations.sidecar.write_sidecar`; never lose edits.

    When the sidecar changed on disk since it was read (another window or rater
    saved it), the edits are written to a conflict file beside it instead
    (:func:`conflict_path`) and ``conflict=True`` is returned with a message.
    """
    path = Path(path)
    try:
        written = write_sidecar(path, annotation)
        return SaveResult(written)
    except AnnotationConflictError:
        cp = conflict_path(path, annotation.rater)
        written = write_sidecar(cp, annotation, force=True)
        return SaveResult(
            written,
            True,
            f"{path.name} was changed on disk by someone else since it was opened. "
            f"Your outlines were NOT written over it; they were saved to {written.name}. "
            "Compare the two files and merge by hand.",
        )


def layer_sidecar_path(metadata: dict, rater: str | None = None) -> Path:
    """Where an outline layer saves: its sidecar, else ``<stem>[.<rater>].mfscan.json``."""
    m = metadata.get(KEY, {})
    if m.get("sidecar_path"):
        return Path(m["sidecar_path"])
    ip = m.get("image_path")
    if not ip:
        raise MfscanError("this Shapes layer does not belong to an image opened by mfscan")
    if str(ip).startswith(MEMORY_PREFIX):
        raise MfscanError(
            "the sample image exists only in memory; save outlines on an image opened from a file"
        )
    if rater is None:
        rater = (m.get("annotation") or {}).get("rater")
    return sidecar_path(ip, rater or None)


def save_layer_state(data, features, metadata: dict, path=None) -> SaveResult:
    """Save a Shapes layer's outlines; updates ``metadata`` (path, digest) in place."""
    ann = annotation_from_layer(data, features, metadata)
    m = metadata.setdefault(KEY, {})
    target = Path(path) if path is not None else layer_sidecar_path(metadata)
    if ann.path is not None and Path(ann.path).resolve() != target.resolve():
        # Saving under another name: a fresh file there (refused if one exists).
        ann.path, ann.digest = None, None
    res = save_annotation(ann, target)
    m["sidecar_path"] = str(res.path)
    m["digest"] = ann.digest
    return res


# --------------------------------------------------------------------------- recovery


def recovery_dir() -> Path:
    """``<config dir>/recovery``: where outlines that could not be saved are kept (:func:`write_recovery`)."""
    return default_config_dir() / "recovery"


def recovery_path(metadata: dict, folder=None, when: float | None = None) -> Path:
    """``<folder>/<image stem>[.<rater>].<YYYYmmdd-HHMMSS>.mfscan.json`` (unique; default folder
    :func:`recovery_dir`)."""
    m = (metadata or {}).get(KEY, {})
    ip = str(m.get("image_path") or (m.get("annotation") or {}).get("image") or "outlines")
    name = ip[len(MEMORY_PREFIX) :] if ip.startswith(MEMORY_PREFIX) else ip
    stem = Path(name).stem or "outlines"
    rater = (m.get("annotation") or {}).get("rater")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when))
    folder = Path(folder) if folder is not None else recovery_dir()
    mid = f".{rater}" if rater else ""
    p = folder / f"{stem}{mid}.{stamp}{SUFFIX}"
    k = 1
    while p.exists():
        p = folder / f"{stem}{mid}.{stamp}-{k}{SUFFIX}"
        k += 1
    return p


def write_recovery(
    data, features, metadata: dict, folder=None, when: float | None = None, reuse=None
) -> Path:
    """Write an outline layer's outlines to a recovery file; returns its path.

    The safety net when a layer with unsaved edits is about to disappear and its
    sidecar cannot be written (read-only share, full disk): the annotation, as
    :func:`save_layer_state` would have written it, goes to
    :func:`recovery_path` (atomically, :func:`mfscan.io.files.atomic_write_bytes`).
    Copy it beside the image under the sidecar's name to use it. ``metadata`` is
    not changed. `reuse`: a recovery file written before; returned as is when it
    already holds exactly these outlines (no second copy when, e.g., the window
    closes and then its layers are removed). Raises :class:`MfscanError` when even
    that file cannot be written.
    """
    from mfscan.annotations import dumps
    from mfscan.io.files import atomic_write_bytes

    ann = annotation_from_layer(data, features, metadata)
    text = dumps(ann).encode("utf-8")
    if reuse is not None:
        try:
            if Path(reuse).read_bytes() == text:
                return Path(reuse)
        except OSError:
            pass
    p = recovery_path(metadata, folder, when)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(p, text)
    except OSError as e:
        raise MfscanError(f"cannot write a recovery copy ({e.strerror or e})", p) from e
    return p


# --------------------------------------------------------------------------- policy (pure)


def save_policy_text(autosave_ms: int) -> str:
    """What the widget tells the rater about when outlines are saved."""
    if autosave_ms > 0:
        sec = autosave_ms / 1000
        every = f"every {sec:g} s" if sec >= 1 else f"every {autosave_ms} ms"
        return (
            f"Outlines are saved when you change image and {every} while there are unsaved "
            "edits (“Save now” saves at once)."
        )
    return "Outlines are saved when you change image and when you press “Save now”."


def should_save(metadata: dict, n_outlines: int, *, mine: bool, force_all: bool = False) -> bool:
    """Whether an outline layer is saved now.

    A layer with unsaved edits (``dirty``) always is. With `force_all` (“Save
    now”) the current rater's own layer is saved even when unchanged, provided
    it has outlines or a sidecar already (an empty new layer writes no file);
    another rater's layer only when it really changed.
    """
    m = (metadata or {}).get(KEY, {})
    if m.get("dirty"):
        return True
    return bool(force_all and mine and (n_outlines or m.get("digest")))


def is_unsaved(metadata: dict) -> bool:
    """True when a layer holds edits not written to its sidecar that could be written:
    the outlines of a sample image (in memory only) cannot, and do not count."""
    m = (metadata or {}).get(KEY, {})
    return bool(m.get("dirty")) and not str(m.get("image_path", "")).startswith(MEMORY_PREFIX)


def apply_study_fields(
    annotation: dict, fields: dict, *, n_outlines: int = 0, sidecar: str | None = None
) -> tuple[dict, bool]:
    """The layer's annotation fields with the widget's study codes (subject, visit, level).

    Parameters
    ----------
    annotation : dict
        The layer's ``metadata["mfscan"]["annotation"]`` (not modified).
    fields : dict
        The widget's codes; an empty value removes the field.
    n_outlines : int
        Outlines in the layer.
    sidecar : str, optional
        The layer's sidecar path, if it has one.

    Returns
    -------
    (dict, bool)
        The new annotation fields, and whether the layer now has unsaved edits:
        a code changed on a layer with outlines or a sidecar (an empty new layer
        is not worth a file).
    """
    new = dict(annotation or {})
    changed = False
    for k in STUDY_FIELDS:
        value = fields.get(k) or None
        if k == "trial" and value is not None:
            value = int(value) if str(value).isdigit() and int(value) > 0 else None
        if new.get(k) != value:
            if value is None:
                new.pop(k, None)
            else:
                new[k] = value
            changed = True
    return new, bool(changed and (n_outlines or sidecar))


def error_reason(error: Exception) -> str:
    """Why a save failed, in the rater's words (the file's name and the core's message)."""
    if isinstance(error, MfscanError):
        return f"{error.path.name}: {error.message}" if error.path is not None else error.message
    return str(error)


def recovery_text(
    reason: str, layer_name: str, path=None, target: str | None = None, error: str | None = None
) -> str:
    """The message after a layer could not be saved: where its recovery copy is (`path`), or,
    when even that failed (`error`), that its outlines are lost once the layer is closed."""
    if path is None:
        return (
            f"Not saved: {reason}. Not even a recovery copy could be written ({error}); "
            f"the outlines of “{layer_name}” are LOST unless the layer is still open."
        )
    target = target or "the image's sidecar"
    return (
        f"Not saved: {reason}. A recovery copy of “{layer_name}” was written to {path} — "
        f"once the problem is fixed, copy it beside the image as {target}."
    )


def leave_refused_text(problems: list[tuple[str, str | None]]) -> str:
    """Why the image was not changed: ``(layer name, save error)`` of each layer left unsaved."""
    why = "; ".join(f"{name}: {err or 'not saved'}" for name, err in problems)
    return (
        f"Not saved: {why}. Your outlines are kept here and the image was not changed; "
        "fix the problem and press “Save now”, or save the layer elsewhere with "
        "File ▸ Save Selected Layers (or remove the layer: a recovery copy is then written)."
    )
