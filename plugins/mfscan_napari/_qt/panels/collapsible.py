"""A section of the dock that folds away: a title button with an arrow over its content."""

from __future__ import annotations

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import QSizePolicy, QToolButton, QVBoxLayout, QWidget


class Collapsible(QWidget):
    """`content` under a title button that shows or hides it (``toggled(expanded)`` emitted).

    Parameters
    ----------
    title : str
    content : QWidget
    expanded : bool
        Shown at first.
    """

    toggled = Signal(bool)

    def __init__(self, title: str, content: QWidget, *, expanded: bool = False, parent=None):
        super().__init__(parent)
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(0)
        self.button = QToolButton()
        self.button.setText(title)
        self.button.setCheckable(True)
        self.button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.button.setStyleSheet("QToolButton { border: none; font-weight: bold; text-align: left; }")
        self.button.toggled.connect(self.set_expanded)
        v.addWidget(self.button)
        self.content = content
        v.addWidget(content)
        self.button.setChecked(bool(expanded))
        self.set_expanded(bool(expanded))

    @property
    def expanded(self) -> bool:
        return self.button.isChecked()

    def set_expanded(self, on: bool) -> None:
        """Show (`on`) or fold the content."""
        if self.button.isChecked() != bool(on):
            self.button.setChecked(bool(on))  # calls back here
            return
        self.button.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.content.setVisible(bool(on))
        self.toggled.emit(bool(on))
