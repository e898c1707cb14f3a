"""Undo and redo of outline edits: snapshots of an outline layer's data and features.

napari's Shapes layer keeps no history (napari issue 1382), so the widget keeps
one per image and rater layer: after every finished edit (an outline added,
removed, a vertex moved, a proposal) the layer's state is recorded; undo and redo
step through these states. Pure: no Qt, no viewer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["OutlineState", "EditHistory", "describe_edit"]


@dataclass(frozen=True)
class OutlineState:
    """An outline layer's vertices (copies) and features (a copy)."""

    data: tuple
    features: pd.DataFrame

    @classmethod
    def of(cls, data, features) -> OutlineState:
        return cls(
            tuple(np.array(d, float, copy=True) for d in data),
            features.copy(deep=True) if features is not None else pd.DataFrame(),
        )

    def same(self, other: OutlineState | None) -> bool:
        """Same vertices (compared as napari stores them, float32) and same features."""
        if other is None or len(self.data) != len(other.data):
            return False
        for a, b in zip(self.data, other.data, strict=True):
            if a.shape != b.shape or not np.array_equal(a.astype(np.float32), b.astype(np.float32)):
                return False
        fa, fb = self.features.reset_index(drop=True), other.features.reset_index(drop=True)
        cols = [c for c in fa.columns if c != "label"]  # the label is the measurement, recomputed
        if cols != [c for c in fb.columns if c != "label"]:
            return False
        return fa[cols].astype(str).equals(fb[cols].astype(str))


class EditHistory:
    """Undo / redo stacks of :class:`OutlineState`.

    ``states[pos]`` is the current state; :meth:`record` after each edit,
    :meth:`undo` / :meth:`redo` return the state to restore (None at either end).

    Parameters
    ----------
    limit : int
        States kept (the oldest are dropped).
    """

    def __init__(self, limit: int = 200):
        self.limit = int(limit)
        self.states: list[OutlineState] = []
        self.pos = -1

    def reset(self, state: OutlineState) -> None:
        """Start again from `state` (the layer as read or opened): nothing to undo."""
        self.states, self.pos = [state], 0

    def record(self, state: OutlineState) -> bool:
        """Record the state after an edit (unless it equals the current one); drops the redo
        states. True when recorded."""
        if self.pos >= 0 and state.same(self.states[self.pos]):
            return False
        del self.states[self.pos + 1 :]
        self.states.append(state)
        if len(self.states) > self.limit:
            del self.states[: len(self.states) - self.limit]
        self.pos = len(self.states) - 1
        return True

    @property
    def can_undo(self) -> bool:
        return self.pos > 0

    @property
    def can_redo(self) -> bool:
        return 0 <= self.pos < len(self.states) - 1

    def undo(self) -> OutlineState | None:
        if not self.can_undo:
            return None
        self.pos -= 1
        return self.states[self.pos]

    def redo(self) -> OutlineState | None:
        if not self.can_redo:
            return None
        self.pos += 1
        return self.states[self.pos]


def _n(k: int, what: str) -> str:
    return f"{what}" if k == 1 else f"{k} {what.replace('outline', 'outlines').replace('vertex', 'vertices')}"


def describe_edit(before: OutlineState, after: OutlineState) -> str:
    """What an edit did, in the rater's words, for the undo and redo messages: ``vertex moved
    (outline 2)``, ``outline moved (outline 1)``, ``vertex added (outline 1)``, ``outline
    added``, ``outline proposed``, ``2 outlines deleted``, ``side changed (outline 1)``,
    ``outline edited (outline 1)``. Outlines are numbered from 1, as in the table."""
    a, b = before.data, after.data
    if len(b) > len(a):
        methods = list(after.features.get("method", pd.Series(dtype=str)))[len(a) :]
        proposed = methods and all(str(m).startswith(("proposed", "model")) for m in methods)
        return _n(len(b) - len(a), "outline proposed" if proposed else "outline added")
    if len(b) < len(a):
        return _n(len(a) - len(b), "outline deleted")
    changed = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if not _same_vertices(x, y)]
    if not changed:
        fa, fb = before.features.reset_index(drop=True), after.features.reset_index(drop=True)
        cols = [c for c in fb.columns if c in fa.columns and c != "label"]
        diff = [c for c in cols if not fa[c].astype(str).equals(fb[c].astype(str))]
        rows = sorted({int(i) for c in diff for i in np.flatnonzero(fa[c].astype(str) != fb[c].astype(str))})
        where = f" (outline {', '.join(str(i + 1) for i in rows)})" if rows else ""
        return (f"{diff[0]} changed" if len(diff) == 1 else "outline edited") + where
    where = f" (outline {', '.join(str(i + 1) for i in changed)})"
    if len(changed) > 1:
        return _n(len(changed), "outline edited") + where
    x, y = np.asarray(a[changed[0]], float), np.asarray(b[changed[0]], float)
    if len(y) != len(x):
        k = len(y) - len(x)
        return _n(abs(k), "vertex added" if k > 0 else "vertex removed") + where
    moved = np.flatnonzero(np.any(np.abs(x - y) > 1e-6, axis=1))
    if len(moved) == len(x) and np.allclose(y - x, (y - x)[0], atol=1e-6):
        return "outline moved" + where
    return _n(len(moved), "vertex moved") + where


def _same_vertices(x, y) -> bool:
    x, y = np.asarray(x), np.asarray(y)
    return x.shape == y.shape and np.array_equal(x.astype(np.float32), y.astype(np.float32))
