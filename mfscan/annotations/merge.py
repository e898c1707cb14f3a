"""Merging proposed outlines into a rater's sidecar: THE merge rule of ``propose`` and ``predict``.

Whoever writes proposals (``mfscan propose``, ``mfscan predict``, the widget)
merges them with :func:`merge_rois`: only the outlines of the proposed sides at
the same level (the ROI's own, else the file's) and frame are replaced, and only
when asked (``force``); every other outline, the codes, the calibration and
unknown fields are kept. :func:`proposal_extra` is the ``proposal`` bookkeeping
stored with each proposed outline (kept unchanged when the rater edits it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mfscan.errors import MfscanError

__all__ = ["same_place", "merge_rois", "existing_calibration", "target_sidecar", "proposal_extra"]


def same_place(roi, level, frame: int, file_level) -> bool:
    """True when ``roi`` is an outline at this (effective) level and frame."""
    return (roi.level or file_level) == level and (roi.frame or 0) == frame


def merge_rois(ann, new_rois, *, frame: int, force: bool = False):
    """``ann`` with the outlines of ``new_rois``' sides replaced (a new Annotation; ``ann`` is kept).

    Only outlines of the same side, level (the ROI's own, else the file's) and
    frame are replaced; everything else (other sides, levels and frames, the
    calibration, codes and unknown fields) is kept as it was. A replaced outline
    keeps its place in the list; a new one is appended.

    Raises
    ------
    MfscanError
        When a proposed side already has an outline there and ``force`` is False;
        the message names the side(s) and the outline's method.
    """
    out = ann.copy()
    out.path, out.digest = ann.path, ann.digest
    taken = []
    for new in new_rois:
        level = new.level or out.level
        old = [r for r in out.rois if r.side == new.side and same_place(r, level, frame, out.level)]
        taken += [f"{new.side} ({r.method})" for r in old]
    if taken and not force:
        raise MfscanError(
            f"the sidecar already has an outline for {', '.join(taken)}"
            + (f" at level {out.level}" if out.level else "")
            + f"{f' in frame {frame}' if frame else ''}; not replaced (use --force to "
            "replace only those sides' outlines; everything else in the sidecar is kept)",
            ann.path,
        )
    for new in new_rois:
        level = new.level or out.level
        idx = [
            i for i, r in enumerate(out.rois) if r.side == new.side and same_place(r, level, frame, out.level)
        ]
        keep = [r for i, r in enumerate(out.rois) if i not in idx]
        at = min(idx) if idx else len(keep)
        out.rois = keep[:at] + [new] + keep[at:]
    return out


def existing_calibration(image_path, rater=None, output=None):
    """The calibration stored in the sidecar a proposal would merge into, or None.

    That is ``output`` when given and present, else ``<image stem>[.<rater>].mfscan.json``.
    """
    from mfscan.annotations import read_sidecar, sidecar_path

    for path in ([Path(output)] if output else []) + [sidecar_path(image_path, rater)]:
        if path.is_file():
            return read_sidecar(path).calibration
    return None


def target_sidecar(image_path, rater=None, output=None):
    """``(sidecar path, existing Annotation or None)`` a proposal merges into.

    Raises
    ------
    MfscanError
        An unreadable sidecar, or one that names another image.
    """
    from mfscan.annotations import read_sidecar, sidecar_path

    image_path = Path(image_path)
    out = Path(output) if output else sidecar_path(image_path, rater)
    if not out.is_file():
        return out, None
    ann = read_sidecar(out)
    if Path(ann.image).name != image_path.name:
        raise MfscanError(
            f"this sidecar belongs to the image {ann.image!r}, not {image_path.name!r}; "
            "not merged (give another -o)",
            out,
        )
    return out, ann


def proposal_extra(points, method: str, model: str | None = None, flags=()) -> dict:
    """The ``proposal`` bookkeeping of a proposed outline (ROI field ``proposal``).

    ``{"points": [[row, col], ...], "method": "proposed" | "model"[, "model": id][, "flags": [...]]}``:
    the outline as proposed, kept unchanged when the rater edits the outline, so
    agreement can compare the proposal with the final outline; ``flags``
    (:data:`mfscan.vocab.PROPOSAL_FLAGS`) when the proposal was flagged.
    """
    d: dict = {"points": np.asarray(points, dtype=float).reshape(-1, 2).tolist(), "method": method}
    if model is not None:
        d["model"] = model
    if flags:
        d["flags"] = list(flags)
    return d
