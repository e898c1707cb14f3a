"""The Multifidus widget's layout, wired to the widget's methods and its session.

At the top, always in sight: the research notice and the worklist (previous / next,
save now, progress, save messages). Below, in a scroll area: study codes, image and
calibration, tracing, measurements; then the rarely used study settings and the keys,
folded (:class:`.panels.Collapsible`, their state remembered in the widget's settings).
"""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

from mfscan import RESEARCH_NOTICE

from .panels import (
    CalibrationPanel,
    Collapsible,
    MeasurementsPanel,
    StudyCodesPanel,
    StudyPanel,
    TracingPanel,
    WorklistPanel,
)
from .style import ORANGE, keys_text


def build_ui(w) -> None:
    """Build the panels of widget `w` (a :class:`.widget.MultifidusWidget`) and connect them.

    Every label wraps and the scroll area never scrolls sideways, so nothing is
    cut off on the right at 1280x800 (tested on the widgets' geometry).
    """
    w.setMinimumWidth(470)  # the whole measurement table, echo column included
    outer = QVBoxLayout(w)
    outer.setContentsMargins(4, 4, 4, 4)
    w.notice_label = QLabel("<b>Research use only — not for diagnosis.</b> " + RESEARCH_NOTICE)
    w.notice_label.setWordWrap(True)
    w.notice_label.setStyleSheet(f"color: {ORANGE}; font-size: 11px;")
    w.notice_label.setObjectName("research_notice")
    outer.addWidget(w.notice_label)  # always visible, outside the scroll area
    w.worklist_panel = wp = WorklistPanel()
    wp.open_folder_button.clicked.connect(w.navigator.choose_folder)
    wp.save_button.clicked.connect(lambda: w.save(force_all=True))
    wp.prev_button.clicked.connect(lambda: w.step(-1))
    wp.next_button.clicked.connect(lambda: w.step(1))
    wp.bind(w.session, lambda: (w.current_rater(), w.current_session()))
    outer.addWidget(wp)  # always in sight, outside the scroll area
    w.scroll = scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    content = QWidget()
    scroll.setWidget(content)
    outer.addWidget(scroll, stretch=1)
    root = QVBoxLayout(content)
    root.setContentsMargins(0, 0, 4, 0)

    w.codes = StudyCodesPanel()
    w.codes.changed.connect(w._on_fields_changed)
    w.codes.confirm_check.toggled.connect(lambda on: w.study.confirm(on))
    w.study_panel = sp = StudyPanel()
    sp.pattern_button.clicked.connect(lambda: w.study.set_pattern(sp.pattern_edit.text()))
    sp.pattern_edit.returnPressed.connect(lambda: w.study.set_pattern(sp.pattern_edit.text()))
    sp.blinded_check.clicked.connect(lambda on: w.study.set_blinded(on))
    w.calibration_panel = cp = CalibrationPanel()
    cp.scale_line_button.clicked.connect(w.start_scale_line)
    cp.set_scale_button.clicked.connect(lambda: w.set_scale_from_line())
    cp.bind(w.session)
    w.tracing = tp = TracingPanel()
    tp.left_button.clicked.connect(lambda: w.arm("left"))
    tp.right_button.clicked.connect(lambda: w.arm("right"))
    tp.propose_left_button.clicked.connect(lambda: w.arm_propose("left"))
    tp.propose_right_button.clicked.connect(lambda: w.arm_propose("right"))
    tp.model_button.clicked.connect(lambda: w.tracer.propose.choose_model())
    tp.classical_button.clicked.connect(lambda: w.tracer.propose.choose_model(""))
    for (kind, side), b in tp.line_buttons.items():
        b.clicked.connect(lambda _c=False, k=kind, s=side: w.tracer.lines[k].arm(s))
    w.measurements = MeasurementsPanel()
    w.measurements.table.itemSelectionChanged.connect(w._on_table_selection)
    for panel in (w.codes, cp, tp, w.measurements):
        root.addWidget(panel)
    keys = QLabel(keys_text())
    keys.setWordWrap(True)
    keys.setStyleSheet("font-size: 11px;")
    sp.setTitle("")
    w.sections = {
        "study": Collapsible("Study settings (saved in the folder for every rater)", sp),
        "keys": Collapsible("Keys", keys),
    }
    folded = w.settings.get("expanded") or {}
    for name, section in w.sections.items():
        section.set_expanded(bool(folded.get(name, False)))
        section.toggled.connect(
            lambda on, n=name: w.settings.set("expanded", {**(w.settings.get("expanded") or {}), n: on})
        )
        root.addWidget(section)
    root.addStretch(1)
    # The controls scripts and tests read, by their former names.
    w.table, w.layer_label = w.measurements.table, w.measurements.layer_label
    w.asymmetry_label = w.measurements.asymmetry_label
    w.warnings_label = w.measurements.warnings_label
    w.calibration_label, w.scale_length = cp.calibration_label, cp.scale_length
    w.mode_label = tp.mode_label
    w.lasso_check, w.livewire_check = tp.lasso_check, tp.livewire_check
    w.save_label, w.progress_label = wp.save_label, wp.progress_label
    w.navigator.update_ui()
