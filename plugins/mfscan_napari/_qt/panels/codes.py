"""Study codes panel: subject, visit, level, rater and session (never patient names), and the
warning when they disagree with the image's other sidecars or the study's naming pattern."""

from __future__ import annotations

from qtpy.QtCore import Signal
from qtpy.QtWidgets import QCheckBox, QComboBox, QGridLayout, QGroupBox, QLabel, QLineEdit

from mfscan.annotations.records import TASKS
from mfscan.vocab import LEVELS, VIEWS

from ..style import RED

#: The fields of the panel, in order (the last four: the RUSI protocol of the image).
FIELDS = ("subject", "visit", "level", "rater", "session", "view", "task", "posture", "trial")


class StudyCodesPanel(QGroupBox):
    """The study codes; ``changed`` is emitted when one is edited.

    Subject, visit and level belong to the image (filled from its sidecars or the
    study's naming pattern when it opens, blank when unknown); rater and session
    are the person tracing, kept from image to image.
    """

    changed = Signal()

    def __init__(self, parent=None):
        super().__init__("Study codes (never patient names)", parent)
        self._updating = False
        form = QGridLayout(self)
        self.subject_edit = QLineEdit()
        self.subject_edit.setPlaceholderText("e.g. P01")
        self.visit_edit = QLineEdit()
        self.visit_edit.setPlaceholderText("e.g. 1")
        self.level_combo = QComboBox()
        self.level_combo.addItems(["", *LEVELS])  # "": not known yet, chosen per image
        self.level_combo.setToolTip("The level of THIS image (filled from its sidecars or file name)")
        self.rater_edit = QLineEdit()
        self.rater_edit.setPlaceholderText("e.g. R1")
        self.rater_edit.setToolTip(
            "Rater code: letters, digits, '-' and '_'. Each rater saves <image>.<rater>.mfscan.json"
        )
        self.session_edit = QLineEdit()
        self.session_edit.setPlaceholderText("e.g. 1")
        self.session_edit.setToolTip(
            "Session of a repeated tracing (intra-rater reliability): each session saves its own "
            "<image>.<rater>.s<session>.mfscan.json and never edits another session's file. "
            "Leave blank in a one-session study."
        )
        self._protocol_widgets()
        for i, (label, w) in enumerate(
            (
                ("Subject", self.subject_edit),
                ("Visit", self.visit_edit),
                ("Level", self.level_combo),
                ("Rater", self.rater_edit),
                ("Session", self.session_edit),
                ("View", self.view_combo),
                ("Task", self.task_combo),
                ("Posture", self.posture_edit),
                ("Trial", self.trial_edit),
            )
        ):
            form.addWidget(QLabel(label), i // 2, 2 * (i % 2))
            form.addWidget(w, i // 2, 2 * (i % 2) + 1)
        form.setColumnStretch(1, 1)
        form.setColumnStretch(3, 1)
        self.source_label = QLabel()
        self.source_label.setWordWrap(True)
        self.source_label.setStyleSheet("font-size: 11px;")
        form.addWidget(self.source_label, 5, 0, 1, 4)  # rows 0-4: the nine fields
        self.warning_label = QLabel()
        self.warning_label.setWordWrap(True)
        self.warning_label.setObjectName("codes_warning")
        self.warning_label.setStyleSheet(f"color: {RED}; font-weight: bold;")
        self.warning_label.setVisible(False)
        form.addWidget(self.warning_label, 6, 0, 1, 4)
        self.confirm_check = QCheckBox("I corrected these codes: save them anyway")
        self.confirm_check.setVisible(False)
        form.addWidget(self.confirm_check, 7, 0, 1, 4)
        for w in (
            self.subject_edit,
            self.visit_edit,
            self.rater_edit,
            self.session_edit,
            self.posture_edit,
            self.trial_edit,
        ):
            w.editingFinished.connect(self._emit)
        self.level_combo.currentTextChanged.connect(lambda _t: self._emit())
        self.view_combo.currentTextChanged.connect(lambda _t: self._emit())
        self.task_combo.currentTextChanged.connect(lambda _t: self._emit())

    def _protocol_widgets(self) -> None:
        """View, task, posture, trial: the RUSI protocol of THIS image, never carried over."""
        self.view_combo = QComboBox()
        self.view_combo.addItems(["", *VIEWS])
        self.view_combo.setToolTip("Probe view of THIS image (blank: transverse, as older files)")
        self.task_combo = QComboBox()
        self.task_combo.setEditable(True)  # rest, contracted, or another task typed (arm-lift)
        self.task_combo.addItems(["", *TASKS])
        self.task_combo.setToolTip(
            "Task of THIS image: rest or contracted (the live table compares a contracted image's "
            "thickness with the rest images of the folder), or type another"
        )
        self.posture_edit = QLineEdit()
        self.posture_edit.setPlaceholderText("e.g. prone")
        self.trial_edit = QLineEdit()
        self.trial_edit.setPlaceholderText("e.g. 1")
        self.trial_edit.setToolTip("Repeat number of this task (1, 2, 3)")

    def _emit(self):
        if not self._updating:
            self.changed.emit()

    def fields(self) -> dict:
        """The codes typed (empty strings when blank)."""
        return {
            "subject": self.subject_edit.text().strip(),
            "visit": self.visit_edit.text().strip(),
            "level": self.level_combo.currentText(),
            "rater": self.rater_edit.text().strip(),
            "session": self.session_edit.text().strip(),
            "view": self.view_combo.currentText(),
            "task": self.task_combo.currentText().strip(),
            "posture": self.posture_edit.text().strip(),
            "trial": self.trial_edit.text().strip(),
        }

    def set_fields(self, *, emit: bool = True, **values) -> None:
        """Set codes (subject, visit, level, rater, session) as if typed; ``changed`` once when
        `emit`. A level that is neither ``""`` nor one of :data:`mfscan.vocab.LEVELS` is ignored."""
        self._updating = True
        try:
            for k, v in values.items():
                if k == "level":
                    v = (v or "").upper()
                    if v == "" or v in LEVELS:
                        self.level_combo.setCurrentText(v)
                elif k == "view":
                    if (v or "") in ("", *VIEWS):
                        self.view_combo.setCurrentText(v or "")
                elif k == "task":
                    self.task_combo.setCurrentText(str(v or ""))
                elif k in FIELDS:
                    getattr(self, f"{k}_edit").setText("" if v is None else str(v))
        finally:
            self._updating = False
        if emit:
            self.changed.emit()

    def show_problems(self, text: str) -> None:
        """The disagreement of the codes (empty: none), with the confirm box while there is one."""
        self.warning_label.setText(text)
        self.warning_label.setVisible(bool(text))
        self.confirm_check.setVisible(bool(text))
        if not text:
            self.confirm_check.setChecked(False)
