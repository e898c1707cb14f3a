"""A study's rules in the widget, as pure functions: whose outlines are shown, the randomised
worklist order of a rater's session, rater colours.

The study settings themselves (naming pattern, blinding, orders) are read and
written by :mod:`mfscan.annotations.study_file`; the codes of an image and their
disagreements by :mod:`mfscan.annotations.codes`.
"""

from __future__ import annotations

from mfscan.annotations.study_file import session_order as worklist_order
from mfscan.vocab import SIDE_COLORS

__all__ = [
    "same_owner",
    "is_hidden",
    "worklist_order",
    "resume_position",
    "RATER_PALETTE",
    "rater_colors",
    "ANOTHER_TRACING",
    "blinded_sources",
]

#: How a blinded rater's messages name a sidecar of another rater or session of the image.
ANOTHER_TRACING = "another tracing of this image"

#: Outline colours (left, right) of the raters shown beside the current one, in turn: each
#: rater a hue of their own, the left side lighter than the right. The current rater's
#: outlines keep :data:`mfscan.vocab.SIDE_COLORS` (blue left, orange right), so no hue here is
#: near blue or orange: an amber left outline read as "right" at a glance.
RATER_PALETTE = (
    ("#b39ddb", "#7e57c2"),  # violet
    ("#a5d6a7", "#43a047"),  # green
    ("#f48fb1", "#d81b60"),  # pink
    ("#ce93d8", "#8e24aa"),  # purple
    ("#e0e0e0", "#9e9e9e"),  # grey
)


def _norm(v) -> str:
    return "" if v is None else str(v).strip()


def same_owner(annotation: dict, rater: str | None, session: str | None) -> bool:
    """Whether an outline layer's annotation fields are `rater`'s `session` (None and ``""`` equal)."""
    a = annotation or {}
    return _norm(a.get("rater")) == _norm(rater) and _norm(a.get("session")) == _norm(session)


def is_hidden(annotation: dict, rater: str | None, session: str | None, *, blinded: bool) -> bool:
    """In a blinded study every outline layer but the rater's own session's is hidden."""
    return bool(blinded) and not same_owner(annotation, rater, session)


def blinded_sources(problems: list[dict], rows: list[dict], rater, session, *, blinded: bool) -> list[dict]:
    """Code disagreements (:func:`mfscan.annotations.code_disagreements`) whose ``source`` never
    names another rater's or session's sidecar in a blinded study: it becomes
    :data:`ANOTHER_TRACING` (a bare name, so :func:`mfscan.annotations.disagreement_text` shows it
    as it is). `rows` are the image's sidecars (:func:`mfscan.annotations.sidecar_codes`); the
    rater's own session's file and the naming pattern keep their names. Inputs not modified."""
    if not blinded:
        return [dict(p) for p in problems]
    own = {str(r["path"]) for r in rows if same_owner(r, rater, session)}
    return [
        dict(p, source=ANOTHER_TRACING)
        if p["source"] != "pattern" and str(p["source"]) not in own
        else dict(p)
        for p in problems
    ]


def resume_position(order, done, annotated) -> int:
    """Where a rater resumes: the first image of `order` neither in `done` nor `annotated`
    (a set of relative paths); the last image when all are."""
    skip = set(done) | set(annotated)
    for i, rel in enumerate(order):
        if rel not in skip:
            return i
    return max(len(order) - 1, 0)


def rater_colors(index: int) -> list[str]:
    """Edge colours (left, right) of the `index`-th outline layer: 0 is the current rater's
    (:data:`SIDE_COLORS`), then :data:`RATER_PALETTE` in turn."""
    if index <= 0:
        return [SIDE_COLORS["left"], SIDE_COLORS["right"]]
    return list(RATER_PALETTE[(index - 1) % len(RATER_PALETTE)])
