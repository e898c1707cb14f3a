"""Worklist panel: open a folder, previous / next image, progress, save now and save messages."""

from __future__ import annotations

from qtpy.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from ... import _model
from ..style import RED, SHORTCUTS


class WorklistPanel(QGroupBox):
    """The folder's progress and the save status line (``save_label``).

    Compact (previous / next / save / open on one row) because it stays at the top of the
    dock, outside its scroll area: always in sight, whatever the screen's height.
    """

    def __init__(self, parent=None):
        super().__init__("Worklist", parent)
        v = QVBoxLayout(self)
        v.setContentsMargins(6, 4, 6, 4)
        v.setSpacing(2)
        row = QHBoxLayout()
        self.prev_button = QPushButton("◀ Previous")
        self.prev_button.setToolTip(f"Previous image, saving first ({SHORTCUTS['previous_image']})")
        self.next_button = QPushButton("Next ▶")
        self.next_button.setToolTip(f"Next image, saving first ({SHORTCUTS['next_image']})")
        self.save_button = QPushButton("Save now")
        self.open_folder_button = QPushButton("Open folder…")
        for b in (self.prev_button, self.next_button, self.save_button, self.open_folder_button):
            row.addWidget(b)
        v.addLayout(row)
        self.folder_label = QLabel("No folder open.")
        self.folder_label.setWordWrap(True)
        v.addWidget(self.folder_label)
        self.progress_label = QLabel()
        self.progress_label.setWordWrap(True)
        self.progress_label.setVisible(False)  # until a folder is open
        v.addWidget(self.progress_label)
        self.save_label = QLabel(_model.save_policy_text(5000))
        self.save_label.setWordWrap(True)
        v.addWidget(self.save_label)

    def bind(self, session, owner) -> None:
        """Follow `session`'s worklist position (:class:`mfscan_napari._model.Session`);
        `owner()` gives the ``(rater, session)`` whose progress is shown."""
        session.worklist_moved.connect(lambda _i: self.show_progress(session.worklist, *owner()))

    def show_progress(self, worklist, rater: str | None, session: str | None = None) -> None:
        """Buttons enabled where there is an image to go to; ``Image i of n · annotated: k / n``."""
        has = worklist is not None and len(worklist) > 0
        self.prev_button.setEnabled(has and worklist.index > 0)
        self.next_button.setEnabled(has and worklist.index < len(worklist) - 1)
        self.progress_label.setVisible(has)  # empty, it would leave a blank line
        if not has:
            self.progress_label.setText("")
            self.folder_label.setVisible(True)
            return
        done, total = worklist.progress(rater, session)
        self.setTitle(f"Worklist: {worklist.folder.name}")
        self.setToolTip(f"Folder: {worklist.folder}")
        self.folder_label.setText(f"Folder: {worklist.folder}")
        self.folder_label.setVisible(False)  # named in the title (full path in the tooltip)
        by = (f" by {rater}" + (f" (session {session})" if session else "")) if rater else ""
        self.progress_label.setText(
            f"Image {worklist.index + 1} of {total} · annotated{by}: {done} / {total}"
        )

    def message(self, text: str, *, error: bool = False) -> None:
        """A save message (red and bold for an error)."""
        self.save_label.setStyleSheet(f"color: {RED}; font-weight: bold;" if error else "")
        self.save_label.setText(text)
