"""Study settings panel: the naming pattern and blinded mode, stored in the study folder
(``mfscan.study.json``) so that every rater gets them."""

from __future__ import annotations

from qtpy.QtWidgets import QCheckBox, QGridLayout, QGroupBox, QLabel, QLineEdit, QPushButton


class StudyPanel(QGroupBox):
    """The folder's naming pattern and blinding (:mod:`mfscan.annotations.study_file`)."""

    def __init__(self, parent=None):
        super().__init__("Study settings (saved in the folder for every rater)", parent)
        g = QGridLayout(self)
        g.addWidget(QLabel("Names"), 0, 0)
        self.pattern_edit = QLineEdit()
        self.pattern_edit.setPlaceholderText("{subject}_V{visit}_{level}_{repeat}")
        self.pattern_edit.setToolTip(
            "How the image paths name the codes, set once per study folder: fields in braces, "
            "other text literal; '/' separates folder levels, e.g. {subject}/visit{visit}/{any}. "
            "Codes of a new image are read from it, and a save that disagrees is refused."
        )
        g.addWidget(self.pattern_edit, 0, 1)
        self.pattern_button = QPushButton("Set")
        g.addWidget(self.pattern_button, 0, 2)
        self.blinded_check = QCheckBox("Blinded: hide other raters and sessions, random order")
        self.blinded_check.setToolTip(
            "Every rater sees only their own session's outlines and measurements, and steps through "
            "the folder in a random order drawn once per rater and session (seed recorded)."
        )
        g.addWidget(self.blinded_check, 1, 0, 1, 3)
        self.status_label = QLabel("No study folder open.")
        self.status_label.setWordWrap(True)
        self.status_label.setStyleSheet("font-size: 11px;")
        g.addWidget(self.status_label, 2, 0, 1, 3)
        g.setColumnStretch(1, 1)
