"""Merging proposed outlines into a rater's sidecar: THE merge rule of ``propose`` and ``predict``.

Whoever writes proposals (``mfscan propose``, ``mfscan predict``, the widget)
merges them with :func:`merge_rois`: only the outlines of the proposed sides at
the same level (the ROI's own, else the file's) and frame are replaced, and only
when asked (``force``); every other outline, every line (``kind`` thickness or
fat: a proposal is an outline and never takes a line's place), the codes, the
calibration and unknown fields are kept. :func:`proposal_extra` is the ``proposal`` bookkeeping
stored with each proposed outline (kept unchanged when the rater edits it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mfscan.errors import MfscanError

__all__ = [
    "same_place",
    "taken_places",
    "proposable",
    "merge_rois",
    "existing_calibration",
    "target_sidecar",
    "proposal_extra",
]


def same_place(roi, level, frame: int, file_level, kind: str = "outline") -> bool:
    """True when ``roi`` is of this ``kind`` (an outline by default) at this (effective) level and frame.

    A line (``kind`` thickness or fat) is never in an outline's place, whatever its side.
    """
    return roi.kind == kind and (roi.level or file_level) == level and (roi.frame or 0) == frame


def taken_places(ann, new_rois, *, frame: int) -> list[list[str]]:
    """For each of ``new_rois``, the methods of the outlines already in its place (empty when free).

    Its place: the same kind, side, level (the ROI's own, else the file's) and frame.
    """
    return [
        [
            r.method
            for r in ann.rois
            if r.side == new.side and same_place(r, new.level or ann.level, frame, ann.level, new.kind)
        ]
        for new in new_rois
    ]


def _taken_error(ann, taken: list[str], frame: int) -> MfscanError:
    return MfscanError(
        f"the sidecar already has an outline for {', '.join(taken)}"
        + (f" at level {ann.level}" if ann.level else "")
        + f"{f' in frame {frame}' if frame else ''}; not replaced (use --force to "
        "replace only those sides' outlines; everything else in the sidecar is kept)",
        ann.path,
    )


def proposable(ann, new_rois, *, frame: int, force: bool = False) -> tuple[list, list[str]]:
    """Which of ``new_rois`` to merge, and a note per side left as it was.

    With ``force`` every proposal; else a side already traced there is kept as it is and
    the free sides are proposed; when every proposed side is traced, a refusal.

    Returns
    -------
    rois : list of ROI
        The proposals to pass to :func:`merge_rois`.
    notes : list of str
        ``"left: already traced (manual), kept; --force replaces it"`` per side skipped.

    Raises
    ------
    MfscanError
        Every proposed side already has an outline there and ``force`` is False.
    """
    if ann is None or force:
        return list(new_rois), []
    taken = taken_places(ann, new_rois, frame=frame)
    if new_rois and all(taken):
        raise _taken_error(ann, [f"{n.side} ({m})" for n, t in zip(new_rois, taken) for m in t], frame)
    notes = [
        f"{n.side}: already traced ({', '.join(t)}), kept; --force replaces it"
        for n, t in zip(new_rois, taken)
        if t
    ]
    return [n for n, t in zip(new_rois, taken) if not t], notes


def merge_rois(ann, new_rois, *, frame: int, force: bool = False):
    """``ann`` with the outlines of ``new_rois``' sides replaced (a new Annotation; ``ann`` is kept).

    Only ROIs of the same kind (an outline replaces an outline, never a
    thickness or fat line), side, level (the ROI's own, else the file's) and
    frame are replaced; everything else (lines, other sides, levels and frames,
    the calibration, codes and unknown fields) is kept as it was. A replaced outline
    keeps its place in the list; a new one is appended. :func:`proposable` picks the
    free sides first when only some are traced.

    Raises
    ------
    MfscanError
        When a proposed side already has an outline there and ``force`` is False;
        the message names the side(s) and the outline's method.
    """
    out = ann.copy()
    out.path, out.digest = ann.path, ann.digest
    taken = [f"{n.side} ({m})" for n, t in zip(new_rois, taken_places(out, new_rois, frame=frame)) for m in t]
    if taken and not force:
        raise _taken_error(ann, taken, frame)
    for new in new_rois:
        level = new.level or out.level
        idx = [
            i
            for i, r in enumerate(out.rois)
            if r.side == new.side and same_place(r, level, frame, out.level, new.kind)
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
