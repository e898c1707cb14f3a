"""Tracing panel: trace, propose and live-wire buttons of each side, and the status line."""

from __future__ import annotations

from qtpy.QtWidgets import QCheckBox, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from mfscan.vocab import SIDE_COLORS

from ..style import SHORTCUTS

PROPOSE_TIP = (
    "Then click once inside the {side} multifidus: mfscan proposes its outline "
    "(method “proposed”, with a confidence). Check it and drag its vertices to "
    "correct it. Esc cancels."
)


class TracingPanel(QGroupBox):
    """The tracing tools; ``mode_label`` tells the rater what the armed tool expects."""

    def __init__(self, parent=None):
        super().__init__("Trace", parent)
        v = QVBoxLayout(self)
        row = QHBoxLayout()
        self.left_button = QPushButton(f"Trace left ({SHORTCUTS['trace_left']})")
        self.left_button.setStyleSheet(f"border: 2px solid {SIDE_COLORS['left']};")
        self.right_button = QPushButton(f"Trace right ({SHORTCUTS['trace_right']})")
        self.right_button.setStyleSheet(f"border: 2px solid {SIDE_COLORS['right']};")
        row.addWidget(self.left_button)
        row.addWidget(self.right_button)
        v.addLayout(row)
        row = QHBoxLayout()
        self.propose_left_button = QPushButton(f"Propose left ({SHORTCUTS['propose_left']})")
        self.propose_left_button.setStyleSheet(f"border: 2px dashed {SIDE_COLORS['left']};")
        self.propose_left_button.setToolTip(PROPOSE_TIP.format(side="left"))
        self.propose_right_button = QPushButton(f"Propose right ({SHORTCUTS['propose_right']})")
        self.propose_right_button.setStyleSheet(f"border: 2px dashed {SIDE_COLORS['right']};")
        self.propose_right_button.setToolTip(PROPOSE_TIP.format(side="right"))
        row.addWidget(self.propose_left_button)
        row.addWidget(self.propose_right_button)
        v.addLayout(row)
        row = QHBoxLayout()  # which proposer Propose uses
        self.model_label = QLabel("Propose with: classical")
        self.model_label.setWordWrap(True)
        self.model_button = QPushButton("Model…")
        self.model_button.setToolTip(
            "Choose a trained model folder (weights.pt + model.json, from `mfscan train`): Propose then "
            "outlines with the model (method “model”). Needs the learn extra (torch)."
        )
        self.classical_button = QPushButton("Classical")
        self.classical_button.setToolTip("Propose with the classical region proposer (no model)")
        row.addWidget(self.model_label, 1)
        row.addWidget(self.model_button)
        row.addWidget(self.classical_button)
        v.addLayout(row)
        row = QHBoxLayout()  # RUSI lines: two clicks each
        self.line_buttons = {}
        for kind, tip in (
            (
                "thickness",
                "from the deep landmark (facet joint or lamina) to the muscle's superficial border",
            ),
            ("fat", "from the skin to the muscle's superficial fascia (subcutaneous fat)"),
        ):
            for side in ("left", "right"):
                b = QPushButton(f"{kind.capitalize()} {side[0].upper()}")
                b.setStyleSheet(f"border: 2px dotted {SIDE_COLORS[side]};")
                b.setToolTip(f"Click two points: a {side} {kind} line {tip}. Esc cancels.")
                self.line_buttons[(kind, side)] = b
                row.addWidget(b)
        v.addLayout(row)
        row = QHBoxLayout()
        self.lasso_check = QCheckBox("Freehand lasso (drag)")
        self.lasso_check.setToolTip(
            "Trace left / right: draw the outline freehand instead of clicking its vertices"
        )
        self.livewire_check = QCheckBox("Live-wire (snaps to edges)")
        self.livewire_check.setToolTip(
            "Trace left / right: click anchors on the border; between them the line follows the "
            "strongest edge. Double-click or Enter closes the outline, Backspace removes the last "
            "anchor, Esc cancels."
        )
        self.lasso_check.toggled.connect(lambda on: on and self.livewire_check.setChecked(False))
        self.livewire_check.toggled.connect(lambda on: on and self.lasso_check.setChecked(False))
        row.addWidget(self.lasso_check)
        row.addWidget(self.livewire_check)
        row.addStretch(1)
        v.addLayout(row)
        self.mode_label = QLabel("The patient's side is set by you, never guessed from the image.")
        self.mode_label.setWordWrap(True)
        v.addWidget(self.mode_label)

    def status(self, html: str, *, color: str | None = None) -> None:
        """Show a status line (in `color` when given)."""
        self.mode_label.setText(f"<span style='color:{color}'>{html}</span>" if color else html)
