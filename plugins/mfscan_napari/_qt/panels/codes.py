"""Study codes panel: subject, visit, level and rater (never patient names)."""

from __future__ import annotations

from qtpy.QtCore import Signal
from qtpy.QtWidgets import QComboBox, QGridLayout, QGroupBox, QLabel, QLineEdit

from mfscan.vocab import LEVELS


class StudyCodesPanel(QGroupBox):
    """The study codes typed by the rater; ``changed`` is emitted when one is edited."""

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
        self.level_combo.addItems(list(LEVELS))
        self.level_combo.setCurrentText("L4")
        self.rater_edit = QLineEdit()
        self.rater_edit.setPlaceholderText("e.g. R1")
        self.rater_edit.setToolTip(
            "Rater code: letters, digits, '-' and '_'. Each rater saves <image>.<rater>.mfscan.json"
        )
        for i, (label, w) in enumerate(
            (
                ("Subject", self.subject_edit),
                ("Visit", self.visit_edit),
                ("Level", self.level_combo),
                ("Rater", self.rater_edit),
            )
        ):
            form.addWidget(QLabel(label), i // 2, 2 * (i % 2))
            form.addWidget(w, i // 2, 2 * (i % 2) + 1)
        form.setColumnStretch(1, 1)
        form.setColumnStretch(3, 1)
        for w in (self.subject_edit, self.visit_edit, self.rater_edit):
            w.editingFinished.connect(self._emit)
        self.level_combo.currentTextChanged.connect(lambda _t: self._emit())

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
        }

    def set_fields(self, *, emit: bool = True, **values) -> None:
        """Set codes (subject, visit, level, rater) as if typed; ``changed`` once when `emit`.
        A level that is not one of :data:`mfscan.vocab.LEVELS` is ignored."""
        self._updating = True
        try:
            for k, v in values.items():
                if k == "level":
                    if v in LEVELS:
                        self.level_combo.setCurrentText(v)
                else:
                    getattr(self, f"{k}_edit").setText(v or "")
        finally:
            self._updating = False
        if emit:
            self.changed.emit()
