"""Calibration controller of the widget: the scale line on the depth ruler, and applying a calibration."""

from __future__ import annotations

import numpy as np

from mfscan.calibration import Calibration
from mfscan.errors import CalibrationError, MfscanError

from .. import _model
from .._model import layer_meta
from .style import RED


class ScaleController:
    """Draws the scale line, calibrates from it, and applies a calibration to an image's layers.

    Parameters
    ----------
    widget : MultifidusWidget
    """

    def __init__(self, widget):
        self.widget = widget

    @property
    def viewer(self):
        return self.widget.viewer

    def _scale_layers(self, image_path):
        return [
            ly
            for ly in self.viewer.layers
            if layer_meta(ly).get("kind") == "scale" and layer_meta(ly).get("image_path") == image_path
        ]

    def start_scale_line(self):
        """Add (or select) the "scale line" layer in line-drawing mode."""
        il = self.widget.image_layer
        if il is None:
            return None
        ip = layer_meta(il)["image_path"]
        existing = self._scale_layers(ip)
        if existing:
            layer = existing[0]
        else:
            layer = self.widget.factory.add_helper_layer(
                "scale", "scale line", edge_color="yellow", edge_width=2
            )
        self.viewer.layers.selection.active = layer
        layer.mode = "add_line"
        self.widget.tracing.status(
            "Draw a line over a known distance of the depth ruler, type its length "
            "in mm, then press “Set scale”."
        )
        return layer

    def set_scale_from_line(self, line=None, length_mm: float | None = None) -> Calibration | None:
        """Calibrate the current image from a line (default: the last one of the scale layer).

        Parameters
        ----------
        line : (2, 2) array_like, optional
            End points in data pixels (row, col).
        length_mm : float, optional
            Default: the value typed in the widget.
        """
        w = self.widget
        if w.image_layer is None:
            return None
        if line is None:
            layers = self._scale_layers(layer_meta(w.image_layer)["image_path"])
            if not layers or not len(layers[0].data):
                self.refuse("Draw a scale line first (“Draw scale line”).")
                return None
            line = layers[0].data[-1]
        length = float(w.calibration_panel.scale_length.value() if length_mm is None else length_mm)
        try:
            # checked against the image's own scale by apply_calibration (which offers the override)
            cal = _model.scale_line_calibration(line, length)
        except MfscanError as e:
            self.refuse(e.message)
            return None
        pts = np.asarray(line, float)
        cal = self.apply_calibration(cal, points=pts[:, -2:])
        if cal is None:  # refused: disagrees with the image's own scale
            return None
        self.remember_length(length)
        w.calibration_panel.clear_scale_error()
        w.tracing.status(f"Scale set: {cal.row_mm:.4f} mm per pixel from a {length:g} mm line.")
        return cal

    def refuse(self, message: str) -> None:
        """Say why the scale was not set in the calibration panel, by “Set scale” and the
        override box (scrolled into sight); the tracing status only points there."""
        w = self.widget
        w.calibration_panel.show_scale_error(message)
        w.tracing.status("Scale not set: see “Image and calibration”.", color=RED)
        content = w.scroll.widget()
        if content is not None and content.layout() is not None:
            content.layout().activate()  # the message's place, before scrolling to it
        w.scroll.ensureWidgetVisible(w.calibration_panel.scale_error_label, 0, 4)

    def _study_key(self) -> str | None:
        """The study the current image belongs to: its study folder (``mfscan.study.json``), else
        the worklist's folder, else the image's own folder (None for an image in memory), by
        :func:`mfscan_napari._model.study_key` (one path normalisation)."""
        w = self.widget
        ip = layer_meta(w.image_layer).get("image_path") if w.image_layer is not None else None
        wl = w.worklist.folder if w.worklist is not None else None
        return _model.study_key(ip, [w.study.folder, wl])

    def remember_length(self, length_mm: float) -> None:
        """Keep the length of the scale line just used, for the study's next images and sessions."""
        key = self._study_key()
        if key is not None:
            self.widget.settings.set(
                "scale_length_mm", {**(self.widget.settings.get("scale_length_mm") or {}), key: length_mm}
            )

    def show_remembered_length(self) -> None:
        """Put the last length used in the current image's study in the length box (if any)."""
        key = self._study_key()
        mm = (self.widget.settings.get("scale_length_mm") or {}).get(key) if key else None
        if isinstance(mm, (int, float)) and mm > 0:
            self.widget.calibration_panel.scale_length.setValue(float(mm))

    def apply_calibration(self, cal: Calibration, *, points=None) -> Calibration | None:
        """Use `cal` for the current image: stored on the rater's outline layers (saved in the
        sidecars) and the layers rescaled.

        First checked against the image's own DICOM / ImageJ scale
        (:func:`mfscan_napari._model.checked_scale`, the core's rule; `points`: where it was
        drawn, to pick the DICOM region): more than 1% apart it is refused with both values,
        unless the rater ticked the override. Returns the calibration used, None when refused.
        """
        w = self.widget
        m = layer_meta(w.image_layer)
        panel = w.calibration_panel
        try:
            image = w.images.get(m["image_path"])
        except MfscanError as e:  # the file is gone or changed: nothing to check against
            self.refuse(e.message)
            return None
        try:
            checked = _model.checked_scale(
                cal, image, points=points, override=panel.override_check.isChecked()
            )
        except _model.ScaleDisagrees as e:  # plausible, but not the image's own: may be overridden
            panel.offer_override()
            self.refuse(e.message)
            return None
        except CalibrationError as e:
            self.refuse(e.message)
            return None
        cal = checked
        panel.clear_scale_error()
        m["calibration"] = cal.to_dict()
        m["calibration_set_by"] = [w.fields()["rater"] or "", w.fields()["session"] or ""]
        w.session.set_calibration(cal)
        n = m.get("n_frames", 1)
        scale, units = _model.layer_scale(cal, n), _model.layer_units(cal, n)
        ip = m["image_path"]
        for ly in list(self.viewer.layers):
            lm = layer_meta(ly)
            if lm.get("image_path") != ip:
                continue
            ly.units = units
            ly.scale = scale
            if lm.get("kind") == "outlines" and w.is_mine(ly):  # another rater's sidecar is theirs
                lm.setdefault("annotation", {})["calibration"] = cal.to_dict()
                w.watcher.mark_dirty(ly)
        if w.outline_layer(by_rater=True) is None:
            # Created after the image was rescaled (same units: no napari warning); it
            # carries the calibration into the rater's sidecar.
            ly = w.outline_layer(create=True, by_rater=True)
            layer_meta(ly).setdefault("annotation", {})["calibration"] = cal.to_dict()
            w.watcher.mark_dirty(ly)
        self.viewer.reset_view()
        w.refresh_table()
        return cal
