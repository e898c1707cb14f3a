"""A study's rules in the widget, as pure functions: whose outlines are shown, the randomised
worklist order of a rater's session, rater colours.

The study settings themselves (naming pattern, blinding, orders) are read and
written by :mod:`mfscan.annotations.study_file`; the codes of an image and their
disagreements by :mod:`mfscan.annotations.codes`.
"""

from __future__ import annotations

import secrets

from mfscan.annotations import order_key, random_order
from mfscan.vocab import SIDE_COLORS

__all__ = ["same_owner", "is_hidden", "worklist_order", "resume_position", "RATER_PALETTE", "rater_colors"]

#: Outline colours (left, right) of the raters shown beside the current one, in turn: each
#: rater a hue of their own, the left side lighter than the right. The current rater's
#: outlines keep :data:`mfscan.vocab.SIDE_COLORS`.
RATER_PALETTE = (
    ("#ffe082", "#ffb300"),  # amber
    ("#b39ddb", "#7e57c2"),  # violet
    ("#a5d6a7", "#43a047"),  # green
    ("#f48fb1", "#d81b60"),  # pink
    ("#bcaaa4", "#795548"),  # brown
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


def worklist_order(orders: dict, rater: str, session: str | None, relative_paths, seed: int | None = None):
    """The randomised order of a rater's session, drawn once and then kept.

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
        new = [p for p in random_order(rel, entry["seed"]) if p not in set(entry["order"])]
        entry["order"] += new
        return entry, bool(new)
    seed = int(seed) if seed is not None else secrets.randbelow(2**31)
    return {"seed": seed, "order": random_order(rel, seed), "done": []}, True


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
