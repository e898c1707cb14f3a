"""Image navigation of the widget: open an image or a folder (worklist), previous / next."""

from __future__ import annotations

from pathlib import Path

from qtpy.QtWidgets import QFileDialog

from .. import _model
from .._model import layer_meta


class Navigator:
    """Opens images with their outline layers, always saving first; owns the worklist.

    Parameters
    ----------
    widget : MultifidusWidget
    """

    def __init__(self, widget):
        self.widget = widget

    @property
    def worklist(self) -> _model.Worklist | None:
        """The worklist, owned by the widget's session."""
        return self.widget.session.worklist

    @property
    def viewer(self):
        return self.widget.viewer

    def choose_folder(self):
        folder = QFileDialog.getExistingDirectory(self.widget, "Open a folder of ultrasound images")
        if folder:
            self.open_folder(folder)

    def open_folder(self, folder):
        """List a folder's images and open the one where work stopped last time."""
        w = self.widget
        if not w.saver.ready_to_leave():
            return None
        w.session.set_worklist(_model.Worklist.from_folder(folder))
        w.study.load(self.worklist.folder)
        if not len(self.worklist):
            w.worklist_panel.folder_label.setText(f"No supported images in {folder}.")
            self.update_ui()
            return None
        if w.study.blinded:  # the rater's own random order, from the first image not saved
            w.session.resume(None)
            w.study.apply_order(resume=True)
        else:
            w.session.resume(w.settings.last_image(self.worklist.folder))
        return self.open_image(self.worklist.current)

    def open_image(self, path):
        """Save the current image's outlines and show `path` with its sidecars instead.

        The previous image's layers take the new data where they can
        (:class:`~mfscan_napari._qt.swap.LayerSwapper`); the others are closed.
        An image that cannot be read closes the previous one (saved) and shows
        why, so that Next goes on past it. Nothing changes (None is returned, the reason shown in red) when outlines
        with edits cannot be saved: they stay open so that no work is lost.
        """
        w = self.widget
        w.cancel_tool(quiet=True)
        if not w.saver.ready_to_leave():
            self.update_ui()
            return None
        w.tracing.status(
            "The patient's side is set by you, never guessed from the image."
        )  # no stale message
        path = Path(path)
        old = [
            ly for ly in self.viewer.layers if layer_meta(ly).get("kind") in ("image", "outlines", "scale")
        ]
        try:
            layer_data = self.read_layer_data(path)
        except Exception as e:  # noqa: BLE001 - show, go on with the next image
            w.swapper.swap(old, [], self.remove_layers)
            w.saver.message(f"Cannot open {path.name}: {e}", error=True)
            self.update_ui()
            return None
        try:
            w.swapper.swap(old, layer_data, self.remove_layers)
        except Exception as e:  # noqa: BLE001 - never leave layers half given to the next image
            left = [
                ly
                for ly in self.viewer.layers
                if layer_meta(ly).get("kind") in ("image", "outlines", "scale")
            ]
            w.swapper.swap(left, [], self.remove_layers)
            w.saver.message(f"Cannot show {path.name}: {e}", error=True)
            self.update_ui()
            return None
        layer = w.outline_layer(create=False, by_rater=True)
        active = layer if layer is not None else w.image_layer
        if active is not None and self.viewer.layers.selection.active is not active:
            self.viewer.layers.selection.active = active
        if self.worklist is not None:
            try:
                rel = path.resolve().relative_to(self.worklist.folder).as_posix()
            except ValueError:
                rel = path.name
            else:  # opened directly (File > Open): Next / Previous go on from here
                w.session.resume(rel)
            w.settings.set_last_image(self.worklist.folder, rel)
        self.viewer.reset_view()
        w.watcher.apply_colors()  # once per image, after the swap: the labels' spacing follows the fitted zoom
        w.scale.show_remembered_length()
        self.update_ui()
        w.refresh_table()
        return w.image_layer

    def read_layer_data(self, path) -> list[tuple]:
        """Layer data tuples of an image and the outline layers this rater may see (blinding).

        Read through mfscan's reader (and the widget's cache) rather than
        ``viewer.open``: napari picks readers by file-name pattern, and DICOM files
        without a suffix (``IM0001``) match none that a plugin can declare
        without claiming every file.
        """
        w = self.widget
        w.study.load_for_image(path)
        return w.study.filter_layer_data(_model.read_layers(path, w.images))  # blinded: only mine

    def add_image_layers(self, path):
        """Add an image and its outline layers (beside the layers already open)."""
        return [self.widget.factory.add_read_layer(t) for t in self.read_layer_data(path)]

    def remove_layers(self, layers):
        """Remove layers of the previous image.

        Work-around for a crash seen with napari 0.9 on software OpenGL (Xvfb,
        llvmpipe): drawing after a Shapes layer with polygons was removed
        segfaults in ``glDrawArrays``. Emptying the Shapes layers and rendering
        the window once before removing them avoids it.
        """
        w = self.widget
        shapes = [ly for ly in layers if ly.__class__.__name__ == "Shapes" and len(ly.data)]
        if shapes and w.isVisible():
            for ly in shapes:
                if layer_meta(ly).get("dirty"):
                    continue  # not saved (an error was shown): keep its data for _on_removed
                w.watcher.disconnect_layer(ly)
                ly.data = []
            w.window().grab()
        for ly in layers:
            self.viewer.layers.remove(ly)

    def step(self, delta: int):
        """Go `delta` images forward (negative: back) in the worklist, saving first."""
        w = self.widget
        if self.worklist is None or not len(self.worklist):
            return None
        if not w.saver.ready_to_leave():
            self.update_ui()
            return None
        old = self.worklist.index
        new = w.session.step(delta)
        if self.worklist.index == old:
            w.saver.save()
            return None
        return self.open_image(new)

    def update_ui(self):
        w = self.widget
        w.worklist_panel.show_progress(self.worklist, w.current_rater(), w.current_session())
