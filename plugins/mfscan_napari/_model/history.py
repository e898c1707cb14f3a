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

__all__ = ["OutlineState", "EditHistory"]


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
