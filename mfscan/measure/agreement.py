"""The pairs of outlines compared by ``mfscan agreement``, gathered from the sidecars.

For each image, side (and frame, and a ROI's own level) three kinds of pair:

- ``between="rater"``: every two raters, each in their first session (a sidecar
  without a session comes first, then sessions in natural order: ``1 < 2 < 10``),
  or in the session given; ``a`` is the rater whose code sorts first;
- ``between="session"``: every two sessions of one rater, ``a`` the earlier;
- ``between="method"``: a ROI's stored proposal (its ``proposal.points``, kept
  unchanged when the rater edits the outline) against its final ``points``; ``a``
  is the proposal. A ROI whose ``method`` is still ``proposed`` or ``model`` but
  that stores no proposal is its own unchanged proposal (``proposal_stored`` False);
  one edited (``proposed-edited``, ``model-edited``) without a stored proposal gets a
  row with no figures, so that the share accepted unchanged still counts it.

Only transverse area outlines are compared (ROI ``kind`` absent or ``outline``, the
sidecar's ``view`` not ``parasagittal``). Each outline's scale comes from the one
calibration rule, :func:`mfscan.calibration.roi_calibration`; the image is decoded
only when a sidecar has no calibration of its own (a scale line or typed values).
The figures are those of :func:`mfscan.measure.overlap.outline_agreement`.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from mfscan import calibration as _cal
from mfscan import vocab
from mfscan.errors import MfscanError
from mfscan.measure.annotation import check_annotation, drop_duplicates, read_sidecars, sidecars_shared_scale
from mfscan.measure.discover import relative_label
from mfscan.measure.overlap import AGREEMENT_MEASURES, outline_agreement
from mfscan.measure.study import resolve_study
from mfscan.vocab import natural_sort_key

__all__ = ["BETWEEN", "AGREEMENT_COLUMNS", "agreement_table", "is_transverse_outline", "session_key"]

#: Final methods that mean the proposal was kept as proposed (no vertex changed).
UNCHANGED_METHODS = ("proposed", "model")

#: What ``mfscan agreement --between`` compares.
BETWEEN = ("rater", "session", "method")

#: Columns of :func:`agreement_table`, in order.
AGREEMENT_COLUMNS = (
    *("image", "sidecar_a", "sidecar_b", "subject", "visit", "level", "side", "frame", "between", "a", "b"),
    *("rater_a", "session_a", "rater_b", "session_b", "method_a", "method_b"),
    *("proposal_method", "model", "proposal_stored", "accepted_unchanged"),
    *AGREEMENT_MEASURES,
    *("row_mm_a", "col_mm_a", "row_mm_b", "col_mm_b"),
)


def is_transverse_outline(annotation, roi) -> bool:
    """True for an area outline on a transverse image: ROI ``kind`` absent or ``outline``,
    and neither the sidecar nor the ROI says ``view: parasagittal``."""
    kind = getattr(roi, "kind", None) or roi.extra.get("kind") or "outline"
    view = getattr(annotation, "view", None) or roi.extra.get("view") or annotation.extra.get("view")
    return kind == "outline" and view != "parasagittal"


def session_key(session) -> tuple:
    """Sort key of sessions: no session first, then natural order (``1 < 2 < 10``)."""
    return (0, ()) if session in (None, "") else (1, natural_sort_key(str(session)))


class _LazyImage:
    """The image's ``calibration`` and ``regions``, decoded on first use (only when the rule needs them)."""

    def __init__(self, path: Path, max_pixels: int | None):
        self.path, self._max_pixels, self._image, self._error = path, max_pixels, None, None

    def _load(self):
        if self._error is not None:
            raise self._error
        if self._image is None:
            from mfscan.io.images import load_image

            kw = {} if self._max_pixels is None else {"max_pixels": self._max_pixels}
            try:
                self._image = load_image(self.path, **kw)
            except MfscanError as e:
                self._error = e
                raise
        return self._image

    @property
    def calibration(self):
        return self._load().calibration

    @property
    def regions(self):
        return self._load().regions


def _outlines(annotation) -> tuple[dict, list[str]]:
    """{(frame, roi level, side): (index, ROI)} of the transverse outlines, and the keys found twice."""
    found: dict = {}
    twice = []
    for i, roi in enumerate(annotation.rois):
        if not is_transverse_outline(annotation, roi):
            continue
        key = (roi.frame or 0, roi.level, roi.side)
        if key in found:
            twice.append(key)
        found[key] = (i, roi)
    for key in twice:
        found.pop(key, None)
    return found, twice


def _spacing(points, annotation, image):
    cal = _cal.roi_calibration(points, image, annotation.calibration)
    return cal.mm_per_pixel


def _proposal(roi) -> tuple[np.ndarray | None, str | None, str, bool]:
    """The proposal's points (None when absent), its method, model id and whether it was stored."""
    prop = roi.extra.get("proposal")
    if isinstance(prop, dict) and prop.get("points") is not None:
        try:
            pts = np.asarray(prop["points"], dtype=float).reshape(-1, 2)
        except (TypeError, ValueError) as e:
            raise MfscanError("the stored proposal's points are not [row, col] pairs") from e
        method = str(prop.get("method") or roi.method.removesuffix("-edited"))
        return pts, method, str(prop.get("model") or roi.extra.get("model") or ""), True
    if roi.method in UNCHANGED_METHODS:  # untouched, no copy kept: the outline is the proposal
        return roi.points, roi.method, str(roi.extra.get("model") or ""), False
    if roi.method.endswith("-edited") and roi.method.removesuffix("-edited") in UNCHANGED_METHODS:
        return None, roi.method.removesuffix("-edited"), str(roi.extra.get("model") or ""), False
    return None, None, "", False


def _pairs(anns, between: str, session):
    """(ann_a, ann_b, label_a, label_b) for rater and session comparisons."""
    by_rater = defaultdict(list)
    for a in anns:
        by_rater[a.rater or ""].append(a)
    for group in by_rater.values():
        group.sort(key=lambda a: session_key(a.session))
    if between == "session":
        for rater in sorted(by_rater, key=natural_sort_key):
            for a, b in combinations(by_rater[rater], 2):
                yield a, b, _label(rater, a.session), _label(rater, b.session)
        return
    chosen = {}
    for rater, group in by_rater.items():
        pick = group if session is None else [a for a in group if (a.session or "") == str(session)]
        if pick:
            chosen[rater] = pick[0]
    for ra, rb in combinations(sorted(chosen, key=natural_sort_key), 2):
        yield chosen[ra], chosen[rb], ra or "(no rater)", rb or "(no rater)"


def _label(rater, session) -> str:
    who = rater or "(no rater)"
    return f"{who} session {session}" if session else f"{who} (no session)"


def _row(image_label, ann_a, ann_b, key, roi_a, roi_b, sc_a, sc_b, between, la, lb) -> dict:
    frame, roi_level, side = key
    return {
        "image": image_label,
        "sidecar_a": sc_a,
        "sidecar_b": sc_b,
        "subject": ann_a.subject,
        "visit": ann_a.visit,
        "level": roi_level or ann_a.level,
        "side": side,
        "frame": frame,
        "between": between,
        "a": la,
        "b": lb,
        "rater_a": ann_a.rater,
        "session_a": ann_a.session,
        "rater_b": ann_b.rater,
        "session_b": ann_b.session,
        "method_a": roi_a.method if roi_a is not None else None,
        "method_b": roi_b.method,
    }


def _compare(row, pts_a, ann_a, pts_b, ann_b, image, where, errors) -> dict | None:
    try:
        sa = _spacing(pts_a, ann_a, image)
        sb = _spacing(pts_b, ann_b, image)
        figures = outline_agreement(pts_a, pts_b, spacing_a=sa, spacing_b=sb)
    except MfscanError as e:
        errors.append({"path": where, "roi": None, "reason": e.message})
        return None
    row.update(figures)
    row.update(
        row_mm_a=sa[0] if sa else np.nan,
        col_mm_a=sa[1] if sa else np.nan,
        row_mm_b=sb[0] if sb else np.nan,
        col_mm_b=sb[1] if sb else np.nan,
    )
    return row


def _image_rows(job, between, session, label_root, max_pixels, errors) -> list[dict]:
    anns, unread = read_sidecars(job.read if job.read is not None else job.sidecars)
    errors += [{"path": relative_label(p, label_root), "roi": None, "reason": why} for p, why in unread]
    anns = drop_duplicates(anns, job.image, label_root, errors)
    digests: dict = {}
    keep = []
    for a in anns:
        problem = check_annotation(a, job.image, digests)
        if problem:
            errors.append({"path": relative_label(Path(a.path), label_root), "roi": None, "reason": problem})
        else:
            keep.append(a)
    image = _LazyImage(job.image, max_pixels)
    keep = _with_shared_scale(keep, image, label_root, errors)
    label = relative_label(job.image, label_root)
    rows = []
    if between == "method":
        for a in keep:
            rows += _method_rows(a, image, label, label_root, errors)
        return rows
    for ann_a, ann_b, la, lb in _pairs(keep, between, session):
        sc_a = relative_label(Path(ann_a.path), label_root)
        sc_b = relative_label(Path(ann_b.path), label_root)
        out_a, twice_a = _outlines(ann_a)
        out_b, twice_b = _outlines(ann_b)
        for sc, twice in ((sc_a, twice_a), (sc_b, twice_b)):
            for key in twice:
                errors.append(
                    {
                        "path": sc,
                        "roi": None,
                        "reason": f"two {key[2]} outlines on frame {key[0]}; not compared",
                    }
                )
        for key in sorted(set(out_a) & set(out_b), key=lambda k: (k[0], k[1] or "", k[2])):
            (_, roi_a), (_, roi_b) = out_a[key], out_b[key]
            row = _row(label, ann_a, ann_b, key, roi_a, roi_b, sc_a, sc_b, between, la, lb)
            row = _compare(row, roi_a.points, ann_a, roi_b.points, ann_b, image, f"{sc_a} vs {sc_b}", errors)
            if row is not None:
                rows.append(row)
    return rows


def _with_shared_scale(anns, image, label_root, errors) -> list:
    """`anns` measured with the scale the image's sidecars share when a sidecar
    sets none (:func:`mfscan.calibration.sidecar_override`); those it refuses are left out."""
    if all(_cal.is_override(a.calibration) for a in anns):
        return anns  # the image is not decoded
    try:
        shared = sidecars_shared_scale(image, anns)
    except MfscanError:
        return anns  # reported when an outline is measured
    out = []
    for a in anns:
        try:
            cal = _cal.sidecar_override(a.calibration, image, shared=shared)
        except MfscanError as e:
            errors.append(
                {"path": relative_label(Path(a.path), label_root), "roi": None, "reason": e.message}
            )
            continue
        if cal is not None and cal is not a.calibration:
            a = copy.copy(a)  # the study's annotation is not modified
            a.calibration = cal
        out.append(a)
    return out


def _method_rows(ann, image, label, label_root, errors) -> list[dict]:
    sc = relative_label(Path(ann.path), label_root)
    rows = []
    for i, roi in enumerate(ann.rois):
        if not is_transverse_outline(ann, roi):
            continue
        try:
            pts, pmethod, model, stored = _proposal(roi)
        except MfscanError as e:
            errors.append({"path": sc, "roi": i, "reason": f"ROI {i} ({roi.side}): {e.message}"})
            continue
        if pmethod is None:
            continue  # not a proposal
        key = (roi.frame or 0, roi.level, roi.side)
        row = _row(label, ann, ann, key, None, roi, sc, sc, "method", "proposal", "final")
        row.update(
            proposal_method=pmethod,
            model=model,
            proposal_stored=stored,
            accepted_unchanged=roi.method in UNCHANGED_METHODS,
            method_a=pmethod,
        )
        if pts is None:  # edited, and the proposal was not kept: counted, not measured
            rows.append(row)
            continue
        row = _compare(row, pts, ann, roi.points, ann, image, f"{sc} ROI {i} ({roi.side})", errors)
        if row is not None:
            rows.append(row)
    return rows


def agreement_table(
    paths=None,
    *,
    between: str = "rater",
    session=None,
    label_root=None,
    max_pixels: int | None = None,
    study=None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Outline agreement for every pair of tracings of the same image and side.

    Parameters
    ----------
    paths : iterable of str or Path
        Images, sidecars or folders (searched recursively), as for ``mfscan measure``.
    between : {'rater', 'session', 'method'}
        What is compared (see the module docstring).
    session : str, optional
        With ``between="rater"``, compare the raters in this session instead of
        each rater's first.
    label_root : Path, optional
        Paths in the table relative to this folder (default: the one folder given).
    max_pixels : int, optional
        Refuse larger images (those decoded for their calibration).
    study : mfscan.measure.study.Study, optional, keyword-only
        The study resolved once, instead of `paths` (its sidecars are not read again).

    Returns
    -------
    table : DataFrame
        One row per pair, image, frame and side (:data:`AGREEMENT_COLUMNS`): the
        figures of :func:`mfscan.measure.overlap.outline_agreement`, differences
        b - a. ``side`` and ``level`` are categoricals.
    errors : DataFrame
        ``path``, ``roi``, ``reason`` for what could not be compared.

    Raises
    ------
    MfscanError
        For an unknown ``between``.
    """
    if between not in BETWEEN:
        raise MfscanError(f"--between must be one of {', '.join(BETWEEN)}, got {between!r}")
    if study is None:
        study = resolve_study(paths)
    label_root = study.root if label_root is None else label_root
    jobs, errors = study.annotated, [dict(e) for e in study.errors]
    for e in errors:
        e["path"] = relative_label(Path(e["path"]), label_root)
    rows = []
    for job in jobs:
        rows += _image_rows(job, between, session, label_root, max_pixels, errors)
    table = pd.DataFrame(rows, columns=list(AGREEMENT_COLUMNS))
    table["side"] = table["side"].astype(vocab.SIDE_DTYPE)
    table["level"] = vocab.as_level(table["level"], "level")
    for c in ("proposal_stored", "accepted_unchanged"):
        if between != "method":
            table[c] = pd.array([pd.NA] * len(table), dtype="boolean")
    return table, pd.DataFrame(errors, columns=["path", "roi", "reason"])
