"""Image and calibration panel: the image's name, its calibration status, the scale-line tool."""

from __future__ import annotations

from pathlib import Path

from qtpy.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
)

from mfscan.calibration import Calibration

from ... import _model
from ..style import GREEN, RED

NO_IMAGE = "No image. Open one (File ▸ Open) or a folder below."


class CalibrationPanel(QGroupBox):
    """Shows the current image and its calibration; holds the scale-line controls."""

    def __init__(self, parent=None):
        super().__init__("Image and calibration", parent)
        v = QVBoxLayout(self)
        self.image_label = QLabel(NO_IMAGE)
        self.image_label.setWordWrap(True)
        v.addWidget(self.image_label)
        self.calibration_label = QLabel()
        self.calibration_label.setWordWrap(True)
        self.calibration_label.setObjectName("calibration_status")
        v.addWidget(self.calibration_label)
        row = QHBoxLayout()
        self.scale_line_button = QPushButton("Draw scale line")
        self.scale_line_button.setToolTip("Draw a straight line over a known distance of the depth ruler")
        self.scale_length = QDoubleSpinBox()
        self.scale_length.setRange(0.1, 500.0)
        self.scale_length.setDecimals(1)
        self.scale_length.setValue(10.0)
        self.scale_length.setSuffix(" mm")
        self.scale_length.setToolTip("Real length of the drawn line")
        self.set_scale_button = QPushButton("Set scale")
        self.set_scale_button.setToolTip("Calibrate this image from the last line drawn and its length in mm")
        row.addWidget(self.scale_line_button)
        row.addWidget(self.scale_length)
        row.addWidget(self.set_scale_button)
        v.addLayout(row)
        # why the last scale was not set (refused, implausible, no line): here, by Set scale and
        # the override box it may refer to, not in the tracing status further down the dock
        self.scale_error_label = QLabel()
        self.scale_error_label.setWordWrap(True)
        self.scale_error_label.setObjectName("scale_error")
        self.scale_error_label.setStyleSheet(f"color: {RED};")
        self.scale_error_label.setVisible(False)
        v.addWidget(self.scale_error_label)
        self.override_check = QCheckBox(_model.OVERRIDE_LABEL)
        self.override_check.setToolTip(
            "Use the scale line even though it differs by more than 1% from the image's own "
            "(DICOM or ImageJ) scale; the sidecar records that it overrides the image"
        )
        self.override_check.setVisible(False)  # offered only after a refusal
        v.addWidget(self.override_check)

    def offer_override(self) -> None:
        """Show the override box (after a scale was refused for disagreeing with the image's own)."""
        self.override_check.setVisible(True)

    def show_scale_error(self, text: str) -> None:
        """Show why the scale was not set (word-wrapped, in red, under “Set scale”)."""
        self.scale_error_label.setText(text)
        self.scale_error_label.setVisible(bool(text))

    def clear_scale_error(self) -> None:
        """Hide the scale message (a scale was accepted, or another image opened)."""
        self.show_scale_error("")

    def _new_image(self, *_args) -> None:
        """Each image starts without the override (chosen for one image at a time) and without
        the previous image's scale message."""
        self.override_check.setChecked(False)
        self.override_check.setVisible(False)
        self.clear_scale_error()

    def bind(self, session) -> None:
        """Follow `session` (:class:`mfscan_napari._model.Session`): its image and calibration."""
        self._session = session
        session.image_changed.connect(self._new_image)
        session.image_changed.connect(self._follow)
        session.calibration_changed.connect(self._follow)
        self._follow()

    def _follow(self, *_args) -> None:
        s = self._session
        if s.image_path is None:
            self.show_none()
        else:
            self.show_image(Path(s.image_path).name, s.n_frames, s.calibration)

    def show_none(self) -> None:
        self.image_label.setText(NO_IMAGE)
        self.calibration_label.setText("")

    def show_image(self, name: str, n_frames: int, cal: Calibration) -> None:
        """The image's name (and frame count) and its calibration, a warning when uncalibrated."""
        self.image_label.setText(f"Image: <b>{name}</b>" + (f" ({n_frames} frames)" if n_frames > 1 else ""))
        text, warn = _model.calibration_text(cal)
        if warn:
            self.calibration_label.setStyleSheet(
                "color: white; background: #b71c1c; padding: 3px; font-weight: bold;"
            )
        else:
            self.calibration_label.setStyleSheet(f"color: {GREEN};")
        self.calibration_label.setText(text)
