"""Saving controller of the widget: applies the save policy of :mod:`mfscan_napari._model.saving`.

What to save when, and what the rater is told, are pure functions of the model
(:func:`~mfscan_napari._model.should_save`, :func:`~mfscan_napari._model.is_unsaved`,
:func:`~mfscan_napari._model.recovery_text` ...); this object only walks the
viewer's layers, writes, and shows the messages.
"""

from __future__ import annotations

from mfscan.errors import MfscanError

from .. import _model
from .._model import is_outline_layer, layer_meta


def notify(text: str) -> None:
    """A napari warning notification; never raises (a notification must not stop a save)."""
    try:
        from napari.utils.notifications import show_warning

        show_warning(text)
    except Exception:  # noqa: BLE001 - a notification must never stop a save or a recovery
        pass


class SaveController:
    """Saves the outline layers of a widget's viewer; never loses edits.

    Parameters
    ----------
    widget : MultifidusWidget
    """

    def __init__(self, widget):
        self.widget = widget
        self.messages: list[str] = []  # save / conflict messages, newest last

    @property
    def viewer(self):
        return self.widget.viewer

    def message(self, text: str, *, error: bool = False) -> None:
        self.messages.append(text)
        self.widget.worklist_panel.message(text, error=error)

    def save_layer(self, layer) -> _model.SaveResult | None:
        """Save one layer (a conflict file when its sidecar changed on disk); None on failure,
        with ``save_error`` in its metadata."""
        m = layer_meta(layer)
        refused = self.widget.study.refusal(layer)
        if refused:  # codes disagree with another sidecar or the naming pattern, not confirmed
            m["save_error"] = refused
            self.message(f"Not saved ({layer.name}): {refused}", error=True)
            return None
        try:
            res = _model.save_layer_state(layer.data, layer.features, layer.metadata)
        except (MfscanError, OSError, ValueError) as e:
            reason = _model.error_reason(e)
            m["save_error"] = reason
            self.message(f"Not saved ({layer.name}): {reason}", error=True)
            return None
        self.widget.session.mark_saved(m)
        m.pop("save_error", None)
        if res.conflict:
            self.message(res.message, error=True)
            notify(res.message)
        else:
            self.message(f"Saved {res.path.name}")
            self.widget.study.saved(layer)
        return res

    def save(self, *, force_all: bool = False) -> list:
        """Save the current image's outline layers that :func:`~mfscan_napari._model.should_save`."""
        w = self.widget
        out = []
        for layer in w.outline_layers():
            if _model.should_save(
                layer.metadata, len(layer.data), mine=w.is_mine(layer), force_all=force_all
            ):
                res = self.save_layer(layer)
                if res is not None:
                    out.append(res)
        w.navigator.update_ui()
        return out

    def autosave(self) -> None:
        """Timer slot: save changed outlines (nothing when nothing changed)."""
        if any(layer_meta(ly).get("dirty") for ly in self.widget.outline_layers()):
            self.save()

    def recover(self, layer):
        """Write a recovery copy of a layer whose edits could not be saved and tell where."""
        m = layer_meta(layer)
        reason = m.get("save_error") or "not saved"
        try:
            path = _model.write_recovery(
                layer.data, layer.features, layer.metadata, reuse=m.get("recovery_path")
            )
        except MfscanError as e:
            text = _model.recovery_text(reason, layer.name, error=e.message)
            self.message(text, error=True)
            notify(text)
            return None
        m["recovery_path"] = str(path)
        try:
            target = _model.layer_sidecar_path(layer.metadata).name
        except MfscanError:
            target = None
        text = _model.recovery_text(reason, layer.name, path, target)
        self.message(text, error=True)
        notify(text)
        return path

    def save_or_recover_layer(self, layer):
        """Save a layer with unsaved edits; a recovery copy when that fails (its path, else None)."""
        self.save_layer(layer)
        if layer_meta(layer).get("dirty"):
            return self.recover(layer)
        return None

    def save_or_recover(self) -> list:
        """Save every outline layer with unsaved edits; recovery copies of those that cannot be
        saved. Returns the recovery files written."""
        written = []
        dirty = [ly for ly in self.viewer.layers if is_outline_layer(ly) and layer_meta(ly).get("dirty")]
        for layer in dirty:
            p = self.save_or_recover_layer(layer)
            if p is not None:
                written.append(p)
        return written

    def unsaved_layers(self) -> list:
        """Outline layers (of any image) that :func:`~mfscan_napari._model.is_unsaved`."""
        return [ly for ly in self.viewer.layers if is_outline_layer(ly) and _model.is_unsaved(ly.metadata)]

    def ready_to_leave(self) -> bool:
        """Save all changed outlines before the image changes; False (the image must not
        change, its layers are kept) when one of them could not be saved."""
        self.save()
        for layer in self.unsaved_layers():  # outlines of other images still open
            self.save_layer(layer)
        left = self.unsaved_layers()
        if not left:
            return True
        text = _model.leave_refused_text([(ly.name, layer_meta(ly).get("save_error")) for ly in left])
        self.message(text, error=True)
        notify(text)
        return False
