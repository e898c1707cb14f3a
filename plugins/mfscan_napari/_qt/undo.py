"""Undo / redo of outline edits (Ctrl+Z / Ctrl+Shift+Z) and no single-key deletion of outlines.

napari's Shapes layer has no undo (napari issue 1382) and deletes the selected
shapes with the keys 3, Delete and Backspace. For the rater's outline layers the
widget keeps an :class:`mfscan_napari._model.EditHistory` (one per layer, i.e.
per image and rater session), records the layer's state after each finished
edit (data events ``added``, ``removed``, ``changed``: a vertex moved, an outline
added or deleted, a proposal), and binds on each outline layer: Ctrl+Z undo,
Ctrl+Shift+Z redo, and 3 / Delete / Backspace to a message instead of deletion
(deleting stays possible with the layer controls' delete button, and undoable).
"""

from __future__ import annotations

from .. import _model
from .._model import is_outline_layer
from .keys import bind_layer_keys
from .style import SHORTCUTS

#: napari's single keys that delete the selected shapes (``napari:delete_selected_shapes``).
DELETE_KEYS = ("3", "Delete", "Backspace")
FINISHED = ("added", "removed", "changed")


class UndoController:
    """Edit histories of a widget's outline layers and their key bindings.

    Parameters
    ----------
    widget : MultifidusWidget
    """

    def __init__(self, widget):
        self.widget = widget
        self.histories: dict[int, _model.EditHistory] = {}
        self.restoring = False

    def adopt(self, layer) -> None:
        """Start a layer's history from its state now, and bind its keys."""
        if not is_outline_layer(layer):
            return
        h = _model.EditHistory()
        h.reset(_model.OutlineState.of(layer.data, layer.features))
        self.histories[id(layer)] = h
        keys = {SHORTCUTS["undo"]: self.undo, SHORTCUTS["redo"]: self.redo}
        bind_layer_keys(layer, {**keys, **dict.fromkeys(DELETE_KEYS, self._no_delete)})

    def forget(self, layer) -> None:
        self.histories.pop(id(layer), None)

    def _no_delete(self) -> None:
        self.widget.tracing.status(
            "Outlines are not deleted by a single key: use the layer's delete button (Ctrl+Z brings it back)."
        )

    def record(self, layer, action: str = "changed") -> None:
        """After a finished edit of `layer` (a data event's action): record its state."""
        if self.restoring or action not in FINISHED:
            return
        h = self.histories.get(id(layer))
        if h is not None:
            h.record(_model.OutlineState.of(layer.data, layer.features))

    def target(self):
        layer = self.widget.outline_layer(create=False, by_rater=True)
        return layer if layer is not None and id(layer) in self.histories else None

    def undo(self) -> bool:
        """Restore the rater's outline layer to its state before the last edit (False: none)."""
        return self._restore(lambda h: h.undo(), "Undone")

    def redo(self) -> bool:
        """Redo the last undone edit (False: none)."""
        return self._restore(lambda h: h.redo(), "Redone")

    def _restore(self, step, what: str) -> bool:
        layer = self.target()
        if layer is None or not layer.editable:
            return False
        h = self.histories[id(layer)]
        was = h.states[h.pos] if h.pos >= 0 else None
        state = step(h)
        if state is None:
            self.widget.tracing.status(f"Nothing to {what.lower()[:-1]}.")
            return False
        # The edit undone is the one from `state` to `was`; the edit redone, from `was` to `state`.
        edit = _model.describe_edit(state, was) if what == "Undone" else _model.describe_edit(was, state)
        self.restoring = True
        try:
            layer.selected_data = set()
            if layer.mode not in ("pan_zoom", "select", "direct"):
                layer.mode = "pan_zoom"
            layer.data = [(d.copy(), "polygon") for d in state.data] if state.data else []
            with self.widget.session.applying():  # the features are set back as they were: no default logic
                layer.features = state.features.copy(deep=True)
            layer.refresh_colors()
            self.widget.watcher.mark_dirty(layer)
        finally:
            self.restoring = False
        self.widget.tracing.status(f"{what}: {edit}. {len(state.data)} outline(s) now.")
        self.widget.refresh_table()
        return True
