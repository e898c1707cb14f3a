"""Shared constants of the Qt parts: keyboard shortcuts, status colours, interaction tolerances."""

from __future__ import annotations

from mfscan.vocab import SIDE_COLORS

#: Keyboard shortcuts bound on the viewer (also listed in the widget).
SHORTCUTS = {
    "trace_left": "Alt+L",
    "trace_right": "Alt+R",
    "propose_left": "Shift+Alt+L",
    "propose_right": "Shift+Alt+R",
    "next_image": "PageDown",
    "previous_image": "PageUp",
    "undo": "Ctrl+Z",
    "redo": "Ctrl+Shift+Z",
}
RED = "#ff5252"
ORANGE = "#ffab40"
GREEN = "#69f0ae"
#: A press and release farther apart than this (screen pixels) is a drag (pan), not a click.
CLICK_TOLERANCE_PX = 5
#: Throttle of the live-wire rubber band that follows the mouse (ms).
RUBBER_BAND_MS = 40
#: Beyond this many pixels from the last anchor the rubber band is a straight line.
RUBBER_BAND_MAX_PX = 250


def side_html(side: str, what: str) -> str:
    """``<b>`` text in the side's colour (:data:`mfscan.vocab.SIDE_COLORS`): ``"Propose LEFT"``."""
    return f"<b style='color:{SIDE_COLORS[side]}'>{what} {side.upper()}</b>"


def keys_text() -> str:
    """The keyboard help shown at the bottom of the widget."""
    k = SHORTCUTS
    return (
        f"Keys: {k['trace_left']} / {k['trace_right']} trace left / right · "
        f"{k['propose_left']} / {k['propose_right']} propose left / right · "
        f"{k['next_image']} / {k['previous_image']} next / previous image · "
        "polygon and live-wire: click, double-click (or Enter) to close · Esc cancels · "
        "Ctrl+Z / Ctrl+Shift+Z undo / redo outline edits (Delete, Backspace and 3 do not delete "
        "outlines: use the layer's delete button)"
    )
