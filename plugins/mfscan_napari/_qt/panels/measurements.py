"""Measurements panel: the table of the core's measurements, live asymmetry and warnings."""

from __future__ import annotations

from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from mfscan.vocab import SIDE_COLORS

from ... import _model
from ..style import GREEN, ORANGE, RED

KEYS = [k for k, _h in _model.TABLE_COLUMNS]


def column(key: str) -> int:
    """The table column of a :data:`mfscan_napari._model.TABLE_COLUMNS` key."""
    return KEYS.index(key)


def table_unit(rows: list[dict]) -> str:
    """The unit of the headers: ``cm``, ``px``, or ``mixed`` (units then in the cells)."""
    units = {r["unit"] for r in rows if r.get("unit")}
    return units.pop() if len(units) == 1 else ("cm" if not units else "mixed")


class MeasurementsPanel(QGroupBox):
    """Shows display rows (:func:`mfscan_napari._model.measure_rows`) with the asymmetry and warnings."""

    def __init__(self, parent=None):
        super().__init__("Measurements", parent)
        self.setToolTip("Computed by mfscan's core: the same numbers `mfscan measure` writes to its CSV")
        v = QVBoxLayout(self)
        self.layer_label = QLabel()
        self.layer_label.setWordWrap(True)
        v.addWidget(self.layer_label)
        self.table = t = QTableWidget(0, len(KEYS))
        self.set_headers("cm")
        t.verticalHeader().setVisible(True)
        t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        t.horizontalHeader().setStretchLastSection(True)
        t.setMinimumHeight(120)
        t.setWordWrap(False)
        t.setColumnHidden(column("frame"), True)
        t.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
        v.addWidget(t)
        self.asymmetry_label = QLabel()
        self.asymmetry_label.setWordWrap(True)
        self.asymmetry_label.setObjectName("asymmetry")
        v.addWidget(self.asymmetry_label)
        self.warnings_label = QLabel()
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setStyleSheet(f"color: {ORANGE};")
        v.addWidget(self.warnings_label)

    def set_headers(self, unit: str, rows: list[dict] | None = None) -> None:
        """Column headers with the unit of lengths (``cm``, ``px``, or ``mixed``: units in cells);
        the level in the panel's title when the Level column is left out."""
        labels = [
            h.format(u=unit) if unit != "mixed" else h.replace(" ({u}²)", "").replace(" ({u})", "")
            for _k, h in _model.TABLE_COLUMNS
        ]
        self.table.setHorizontalHeaderLabels(labels)
        self.table.horizontalHeaderItem(column("echo")).setToolTip("Echo intensity: mean ± SD gray level")
        self.setTitle(_model.level_title(rows or []))

    def show_layer(
        self, name: str, n_outlines: int, *, mine: bool, rater: str | None, owner: str | None
    ) -> None:
        """The layer line: its name, outline count and whose outlines they are."""
        if mine:
            whose = f"<b style='color:{GREEN}'>yours</b>" + (f" (rater {rater})" if rater else "")
        else:
            whose = (
                f"<b style='color:{ORANGE}'>read-only</b>: {owner or 'no rater'}'s outlines; "
                f"you are {rater or 'no rater'}"
            )
        self.layer_label.setText(f"Layer “{name}”: {n_outlines} outline(s) · {whose}")

    def show_frames(self, n_frames: int) -> None:
        self.table.setColumnHidden(column("frame"), n_frames <= 1)

    def clear(self, message: str = "", error: str | None = None) -> None:
        """No rows; `message` above the table, `error` (red) below it."""
        self.table.setRowCount(0)
        for k in _model.VALUE_COLUMNS:
            self.table.setColumnHidden(column(k), k in _model.empty_columns([]))
        for k in ("level", "status"):  # nothing to tell yet: no column clipped in a narrow dock
            self.table.setColumnHidden(column(k), True)
        self.set_headers("cm")
        if message:
            self.layer_label.setText(message)
        if error is None:
            self.asymmetry_label.setText("")
            self.warnings_label.setText("")
        else:
            self.warnings_label.setText(f"<span style='color:{RED}'>{error}</span>")

    def show_rows(self, rows: list[dict], asymmetry: str, warnings: list[str]) -> None:
        self.fill(rows)
        self.asymmetry_label.setText(asymmetry)
        self.warnings_label.setText("<br>".join("⚠ " + w for w in warnings))

    def fill(self, rows: list[dict]) -> None:
        """The table cells (only changed cells are rewritten: the table follows a vertex drag)."""
        t = self.table
        unit = table_unit(rows)
        self.set_headers(unit, rows)
        t.setUpdatesEnabled(False)
        try:
            t.setRowCount(len(rows))
            for i, r in enumerate(rows):
                for j, k in enumerate(KEYS):
                    v = r.get(k, "")
                    text = str(v) if v is not None else ""
                    tip = ""
                    if k == "change" and " (" in text:  # "+20.7 % (rest 2.96 cm, n=3)": details in the tip
                        text, tip = text.split(" (", 1)[0], text
                    if k == "status":
                        tip, text = text, _model.short_status(r)
                    if unit == "mixed" and r.get("unit") and k in ("csa", "ap", "lat"):
                        text += f" {r['unit']}²" if k == "csa" else f" {r['unit']}"
                    item = t.item(i, j)
                    if item is None:
                        item = QTableWidgetItem(text)
                        t.setItem(i, j, item)
                    elif item.text() != text:
                        item.setText(text)
                    if item.toolTip() != tip and k in ("change", "status"):
                        item.setToolTip(tip)
                    if k == "side":
                        item.setForeground(QColor(SIDE_COLORS.get(r["side"], "white")))
                    elif k == "status":
                        colour = RED if r["error"] else (GREEN if r["calibrated"] else ORANGE)
                        item.setForeground(QColor(colour))
                        self._row_header(i, colour, tip)
            empty = _model.empty_columns(rows)  # lines only: no area columns; outlines: no line ones
            for k in _model.VALUE_COLUMNS:
                t.setColumnHidden(column(k), k in empty)
            redundant = _model.redundant_columns(rows)  # nothing clipped in a narrow dock
            for k in ("level", "status"):
                t.setColumnHidden(column(k), k in redundant)
        finally:
            t.setUpdatesEnabled(True)

    def _row_header(self, i: int, colour: str, status: str) -> None:
        """The row's number in its status colour, the status as its tooltip (the Status column may
        be left out: :func:`mfscan_napari._model.redundant_columns`)."""
        item = self.table.verticalHeaderItem(i)
        if item is None:
            item = QTableWidgetItem(str(i + 1))
            self.table.setVerticalHeaderItem(i, item)
        item.setForeground(QColor(colour))
        item.setToolTip(f"Outline {i + 1}: {status}")

    def selected_rows(self) -> set:
        return {i.row() for i in self.table.selectedIndexes()}
