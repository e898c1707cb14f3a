"""Worklist panel: open a folder, previous / next image, progress, save now and save messages."""

from __future__ import annotations

from qtpy.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from ... import _model
from ..style import RED, SHORTCUTS


class WorklistPanel(QGroupBox):
    """The folder's progress and the save status line (``save_label``)."""

    def __init__(self, parent=None):
        super().__init__("Worklist", parent)
        v = QVBoxLayout(self)
        row = QHBoxLayout()
        self.open_folder_button = QPushButton("Open folder…")
        self.save_button = QPushButton("Save now")
        row.addWidget(self.open_folder_button)
        row.addWidget(self.save_button)
        v.addLayout(row)
        self.folder_label = QLabel("No folder open.")
        self.folder_label.setWordWrap(True)
        v.addWidget(self.folder_label)
        row = QHBoxLayout()
        self.prev_button = QPushButton(f"◀ Previous ({SHORTCUTS['previous_image']})")
        self.next_button = QPushButton(f"Next ({SHORTCUTS['next_image']}) ▶")
        row.addWidget(self.prev_button)
        row.addWidget(self.next_button)
        v.addLayout(row)
        self.progress_label = QLabel()
        self.progress_label.setWordWrap(True)
        v.addWidget(self.progress_label)
        self.save_label = QLabel(_model.save_policy_text(5000))
        self.save_label.setWordWrap(True)
        v.addWidget(self.save_label)

    def show_progress(self, worklist, rater: str | None, session: str | None = None) -> None:
        """Buttons enabled where there is an image to go to; ``Image i of n · annotated: k / n``."""
        has = worklist is not None and len(worklist) > 0
        self.prev_button.setEnabled(has and worklist.index > 0)
        self.next_button.setEnabled(has and worklist.index < len(worklist) - 1)
        if not has:
            self.progress_label.setText("")
            return
        done, total = worklist.progress(rater, session)
        self.folder_label.setText(f"Folder: {worklist.folder}")
        by = (f" by {rater}" + (f" (session {session})" if session else "")) if rater else ""
        self.progress_label.setText(
            f"Image {worklist.index + 1} of {total} · annotated{by}: {done} / {total}"
        )

    def message(self, text: str, *, error: bool = False) -> None:
        """A save message (red and bold for an error)."""
        self.save_label.setStyleSheet(f"color: {RED}; font-weight: bold;" if error else "")
        self.save_label.setText(text)
