"""The rules of ``mfscan check``, one function each; :mod:`mfscan.measure.check` runs them.

Every rule returns a list of problem dicts ``{"file", "problem", "message", ...}``
with the file named relative to the study folder.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path

import pandas as pd

from mfscan import calibration as _cal
from mfscan.errors import MfscanError
from mfscan.measure.agreement import is_transverse_outline
from mfscan.visits import study_visit_order

#: The study codes every sidecar needs (a level either for the file or on every outline).
REQUIRED_CODES = ("subject", "visit", "level", "rater")


def _text(v) -> str | None:
    v = None if v is None else str(v).strip()
    return v or None


def problem(file, kind, message, ann=None, image=None) -> dict:
    """One row of the problems table."""
    return {
        "file": file,
        "problem": kind,
        "message": message,
        "image": image,
        "subject": _text(ann.subject) if ann is not None else None,
        "visit": _text(ann.visit) if ann is not None else None,
        "rater": _text(ann.rater) if ann is not None else None,
        "session": _text(ann.session) if ann is not None else None,
    }


def missing_codes(ann, file: str, image: str | None) -> list[dict]:
    """Subject, visit, level or rater absent or blank (a level on every outline counts as given)."""
    missing = [c for c in ("subject", "visit", "rater") if _text(getattr(ann, c)) is None]
    if ann.level is None and (not ann.rois or any(r.level is None for r in ann.rois)):
        missing.insert(2, "level")
    if not missing:
        return []
    return [problem(file, "missing_code", f"no {', no '.join(missing)} in the sidecar", ann, image)]


def codes_disagree(anns: list, labels: dict, image: str) -> list[dict]:
    """Subject, visit or level that differ between the sidecars of one image.

    The reference value is the one most sidecars give (ties: the first file's); each
    sidecar that differs gets a row naming the reference file.
    """
    out = []
    for code in ("subject", "visit", "level"):
        values = [(a, _text(getattr(a, code))) for a in anns]
        values = [(a, v) for a, v in values if v is not None]
        if len({v for _, v in values}) < 2:
            continue
        counts = Counter(v for _, v in values)
        ref_value = max(counts, key=lambda v: (counts[v], -[x for _, x in values].index(v)))
        ref_file = next(labels[id(a)] for a, v in values if v == ref_value)
        for a, v in values:
            if v != ref_value:
                out.append(
                    problem(
                        labels[id(a)],
                        "codes_disagree",
                        f"{code} {v!r} here, but {ref_value!r} in {ref_file} (same image)",
                        a,
                        image,
                    )
                )
    return out


def one_side(ann, file: str, image: str | None) -> list[dict]:
    """A transverse outline image with one side traced and not the other (per frame and level).

    Sidecars of a parasagittal view, and ROIs that are thickness or fat lines, are
    not outlines of both muscles and are never flagged.
    """
    sides = defaultdict(set)
    for roi in ann.rois:
        if is_transverse_outline(ann, roi):
            sides[(roi.frame or 0, roi.level or ann.level)].add(roi.side)
    out = []
    for (frame, level), found in sorted(sides.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        if len(found) == 1:
            (side,) = found
            other = "right" if side == "left" else "left"
            where = f" at {level}" if level else ""
            where += f", frame {frame}" if frame else ""
            out.append(
                problem(
                    file,
                    "one_side",
                    f"only the {side} side is traced{where}; the {other} is missing",
                    ann,
                    image,
                )
            )
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def same_image(images: list[Path], label) -> list[dict]:
    """Images whose bytes are identical (same SHA-256) under two names; only same-size files are hashed."""
    by_size = defaultdict(list)
    for p in images:
        try:
            by_size[p.stat().st_size].append(p)
        except OSError:
            continue
    out = []
    for group in by_size.values():
        if len(group) < 2:
            continue
        by_hash = defaultdict(list)
        for p in sorted(group):
            try:
                by_hash[_sha256(p)].append(p)
            except OSError:
                continue
        for same in by_hash.values():
            for p in same[1:]:
                out.append(
                    problem(
                        label(p),
                        "same_image",
                        f"the same image as {label(same[0])} (identical SHA-256): one image under two names",
                        image=label(p),
                    )
                )
    return out


def _scale_text(cal) -> str:
    if not cal.calibrated:
        return "uncalibrated"
    return f"{cal.row_mm:.4g} x {cal.col_mm:.4g} mm/px ({cal.source})"


def _apart_pct(a, b) -> float:
    """Largest relative difference of the two axes, in % of the smaller value."""
    return max(abs(x - y) / min(x, y) * 100.0 for x, y in ((a.row_mm, b.row_mm), (a.col_mm, b.col_mm)))


def _shared_or_own(ann, anns, image_obj):
    """The sidecar's own scale, else (a plain export) the one its image's sidecars agree on:
    a sidecar without a scale line is not "uncalibrated" when another one of the image has it."""
    if _cal.is_override(ann.calibration) or image_obj.calibration.calibrated:
        return ann.calibration
    from mfscan.annotations.scales import image_shared_scale

    return image_shared_scale(Path(ann.path).parent, annotations=anns).calibration or ann.calibration


def calibrations_differ(anns, labels, image_obj, image: str, tolerance_pct: float) -> list[dict]:
    """Two sidecars of one image whose calibrations (by the one rule) differ by more than
    `tolerance_pct` on either axis, or one calibrated and the other not.

    An image whose own calibration cannot be read is one ``image_unreadable`` problem of its
    own; the sidecars that need it are left out and the others are still compared."""
    cals, out = [], []
    for a in anns:
        try:
            cals.append((a, _cal.image_calibration(image_obj, _shared_or_own(a, anns, image_obj))))
        except MfscanError as e:
            if not out:  # said once
                msg = f"cannot read the image's calibration: {e.message}"
                out.append(problem(image, "image_unreadable", msg))
    for (a, ca), (b, cb) in combinations(cals, 2):
        if not ca.calibrated and not cb.calibrated:
            continue
        if ca.calibrated and cb.calibrated:
            pct = _apart_pct(ca, cb)
            if pct <= tolerance_pct:
                continue
            why = f"{pct:.1f}% apart, more than {tolerance_pct:g}%"
        else:
            why = "one calibrated, the other not"
        out.append(
            problem(
                labels[id(b)],
                "calibration_differs",
                f"calibration {_scale_text(cb)} here, {_scale_text(ca)} in {labels[id(a)]} ({why})",
                b,
                image,
            )
        )
    return out


def scale_differs_from_image(anns, labels, image_obj, image: str, tolerance_pct: float) -> list[dict]:
    """A sidecar's typed (``manual``) or scale-line calibration that the one calibration rule
    (:func:`mfscan.calibration.typed_scale_problem`) finds more than `tolerance_pct` from the
    image's own DICOM or ImageJ calibration, or outside the plausible range. `image_obj`
    None: the image has no calibration of its own (only the range is checked).

    An image whose own calibration cannot be read is one ``image_unreadable`` problem of its
    own; the problems found for its other sidecars are kept, and the remaining sidecars are
    still checked against the plausible range."""
    out = []
    for a in anns:
        if not _cal.is_override(a.calibration):
            continue
        points = [p for r in a.rois for p in r.points] or None
        why = _cal.implausible(a.calibration)
        if not why and image_obj is not None:
            try:
                why = _cal.typed_scale_problem(
                    a.calibration, image_obj, points=points, tolerance_pct=tolerance_pct
                )
            except MfscanError as e:
                why, image_obj = None, None  # unreadable: said once, the range still checked
                msg = f"cannot read the image's calibration: {e.message}"
                out.append(problem(image, "image_unreadable", msg))
        if why:
            if a.calibration.details.get("overrides_image"):
                why += " (stored with --override-calibration)"
            out.append(problem(labels[id(a)], "scale_differs_from_image", why, a, image))
    return out


def visit_labels(records: list[tuple], order=None) -> list[dict]:
    """Visit labels that the study's one visit-order policy cannot order.

    ``records`` are ``(file, annotation)`` of every readable sidecar; a sidecar's
    ``visit_date`` is its visit's date. The policy is the analysis':
    :func:`mfscan.visits.study_visit_order` (an explicit ``order``, the report's
    ``--visit-order``, which must name every visit once; else the dates when any is
    given, all or none; else the rule). Tried on the whole study, then per subject to
    name the subjects concerned (one row each, naming its first sidecar).
    """
    rows = [(f, a, _text(a.visit), a.visit_date) for f, a in records if _text(a.visit)]
    if not rows:
        return []

    def refusal(subset) -> str | None:
        table = pd.DataFrame(
            {
                "subject": [_text(a.subject) or "" for _, a, _, _ in subset],
                "visit": [v for _, _, v, _ in subset],
                "visit_date": [d for *_, d in subset],
            }
        )
        try:
            study_visit_order(table, order)
        except (MfscanError, ValueError) as e:
            return getattr(e, "message", None) or str(e)
        return None

    why = refusal(rows)
    if why is None:
        return []
    by_subject = defaultdict(list)
    for r in rows:
        by_subject[_text(r[1].subject) or ""].append(r)
    out = []
    for subject in sorted(by_subject):
        subset = sorted(by_subject[subject], key=lambda r: r[0])
        sub_why = refusal(subset)
        if sub_why is not None:
            labels = sorted({v for _, _, v, _ in subset})
            who = f"subject {subject!r}" if subject else "sidecars without a subject"
            out.append(
                problem(
                    subset[0][0],
                    "visit_order",
                    f"visit labels {', '.join(labels)} of {who} cannot be put in time order: {sub_why}",
                    subset[0][1],
                )
            )
    if not out:
        labels = sorted({v for _, _, v, _ in rows})
        out.append(
            problem(
                ".", "visit_order", f"the study's visit labels {', '.join(labels)} cannot be ordered: {why}"
            )
        )
    return out


def subjects_not_listed(records: list[tuple], listed: set[str], subjects_name: str) -> list[dict]:
    """Subjects of the sidecars that ``subjects.csv`` does not list (one row per subject)."""
    by_subject = defaultdict(list)
    for f, a in records:
        s = _text(a.subject)
        if s is not None and s not in listed:
            by_subject[s].append((f, a))
    out = []
    for s in sorted(by_subject):
        files = sorted(by_subject[s], key=lambda r: r[0])
        out.append(
            problem(
                files[0][0],
                "subject_not_listed",
                f"subject {s!r} ({len(files)} sidecar(s)) is not in {subjects_name}",
                files[0][1],
            )
        )
    return out
