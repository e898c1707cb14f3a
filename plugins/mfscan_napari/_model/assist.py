"""Semi-automatic outlining: Propose and Live-wire, as calls into the core and a live-wire trace.

:func:`propose` and :func:`livewire_outline` call :mod:`mfscan.assist`; a
:class:`LivewireTrace` holds the state of one live-wire tracing (its anchors,
the edge-following path between them, its frame) so that the Qt controller only
shows it.
"""

from __future__ import annotations

import numpy as np

from mfscan.assist.propose import LOW_CONFIDENCE  # one threshold: the core's
from mfscan.calibration import Calibration
from mfscan.geometry import polygon_area

from .layers import METHOD_MODEL, METHOD_PROPOSED  # noqa: F401 - re-exported

__all__ = [
    "METHOD_PROPOSED",
    "METHOD_LIVEWIRE",
    "LOW_CONFIDENCE",
    "propose",
    "proposal_text",
    "model_propose",
    "livewire_segment",
    "clean_anchors",
    "livewire_outline",
    "LivewireTrace",
]

#: Method recorded for outlines made by live-wire.
METHOD_LIVEWIRE = "livewire"
#: A proposal below this confidence is flagged "check carefully".


def propose(
    image, frame: int, seed_rc, calibration: Calibration, side: str | None = None, border: str = "inner"
):
    """Propose an outline around `seed_rc` on one frame (:func:`mfscan.assist.propose.propose_outline`).

    The frame's grayscale is used with its coloured overlay pixels excluded and
    the calibration's pixel size; `border` is the study's tracing convention
    (:func:`mfscan.annotations.study_border`: ``"inner"`` or ``"centre"`` of the fascia
    line), as ``mfscan propose`` uses it. Raises :class:`mfscan.assist.propose.ProposalError`.
    """
    from mfscan.assist.propose import ProposalError, propose_outline

    if not calibration.calibrated:
        raise ProposalError(
            "this image has no scale, and a proposal needs one to know how large a muscle is: "
            "draw a scale line on the depth ruler and press Set scale first"
        )
    frame = int(frame)
    return propose_outline(
        image.gray[frame],
        (float(seed_rc[0]), float(seed_rc[1])),
        spacing=calibration.mm_per_pixel,
        side=side,
        exclude=image.overlay_frame(frame),
        border=border,
    )


def model_propose(model, image, frame: int, seed_rc, calibration: Calibration, side: str):
    """The trained `model`'s outline of `side` under the seed (:func:`mfscan.learn.predict.predict_outlines`).

    Returns a :class:`mfscan.learn.predict.ModelOutline` (``points``, ``confidence``,
    ``model_id``). Raises :class:`mfscan.assist.propose.ProposalError` when the image
    has no scale or the model finds no muscle under the seed.
    """
    from mfscan.assist.propose import ProposalError
    from mfscan.learn.predict import predict_outlines

    if not calibration.calibrated:
        raise ProposalError(
            "this image has no scale, and the model needs one (it works at a fixed mm per pixel): "
            "draw a scale line on the depth ruler and press Set scale first"
        )
    mm = calibration.mm_per_pixel
    spacing = (float(mm[0]), float(mm[1])) if np.ndim(mm) else (float(mm), float(mm))
    seed = (float(seed_rc[0]), float(seed_rc[1]))
    out = predict_outlines(model, image.gray[int(frame)], spacing=spacing, seeds={side: seed})
    if side not in out:
        raise ProposalError(f"the model {model.model_id} finds no muscle under this point")
    return out[side]


def proposal_text(side: str, confidence: float, flags=()) -> tuple[str, bool]:
    """Status text after a proposal and whether it is a warning (low confidence or another flag)."""
    other = [f for f in flags if f != "low-confidence"]
    if other:
        return (
            f"Proposed {side} outline, FLAGGED ({', '.join(flags)}), confidence {confidence:.2f} — the "
            "model may be lost on this image: check the whole border and the side, edit it or trace by hand.",
            True,
        )
    if confidence < LOW_CONFIDENCE or flags:
        return (
            f"Proposed {side} outline, LOW confidence {confidence:.2f} — check the whole border "
            "carefully and edit it (or delete it and trace by hand).",
            True,
        )
    return (f"Proposed {side} outline, confidence {confidence:.2f} — check and edit the border.", False)


def livewire_segment(image, frame: int, start_rc, end_rc) -> np.ndarray:
    """The edge-following path between two anchors on one frame
    (:func:`mfscan.assist.livewire.livewire_path`)."""
    from mfscan.assist.livewire import livewire_path

    return livewire_path(image.gray[int(frame)], start_rc, end_rc)


def clean_anchors(anchors, tol: float = 2.0) -> np.ndarray:
    """Live-wire anchors without repeats: consecutive clicks within `tol` pixels
    (a double-click) and a last click on the first one (closing on it) are dropped."""
    out: list = []
    for p in np.asarray(anchors, float).reshape(-1, 2):
        if out and np.hypot(*(p - out[-1])) <= tol:
            continue
        out.append(p)
    while len(out) > 3 and np.hypot(*(out[-1] - out[0])) <= tol:
        out.pop()
    return np.asarray(out, float).reshape(-1, 2)


def livewire_outline(image, frame: int, anchors) -> np.ndarray:
    """Closed live-wire outline through the anchors (:func:`mfscan.assist.livewire.trace_livewire`).

    Raises :class:`mfscan.assist.livewire.LivewireError` with fewer than 3 distinct
    anchors, or when the outline would collapse (the closing wire ran back along
    the border already traced).
    """
    from mfscan.assist.livewire import LivewireError, trace_livewire

    a = clean_anchors(anchors)
    if len(a) < 3:
        raise LivewireError(f"a closed outline needs at least 3 anchors, got {len(a)}")
    pts = trace_livewire(image.gray[int(frame)], a, closed=True)
    if len(pts) < 3 or polygon_area(pts) < 0.5 * polygon_area(a):
        raise LivewireError(
            "the live-wire outline collapsed: the wire that closes it ran along the "
            "border already traced. Place anchors along the rest of the border, then close."
        )
    return pts


class LivewireTrace:
    """One live-wire outline being traced on one frame: anchors and the wires between them.

    Parameters
    ----------
    image : mfscan.io.images.Image
    frame : int
        The frame traced on (fixed by the first anchor).
    """

    def __init__(self, image, frame: int = 0):
        self.image = image
        self.frame = int(frame)
        self.anchors: list[tuple[float, float]] = []  # (row, col) in data pixels
        self.segments: list[np.ndarray] = []  # the wire from each anchor to the next

    def __len__(self) -> int:
        return len(self.anchors)

    def add(self, rc) -> int:
        """Add an anchor; returns the number of anchors.

        Raises :class:`mfscan.errors.MfscanError` (e.g. outside the image); the
        trace is then unchanged.
        """
        rc = (float(rc[0]), float(rc[1]))
        if not self.anchors:
            livewire_segment(self.image, self.frame, rc, rc)  # checks the point
        else:
            self.segments.append(livewire_segment(self.image, self.frame, self.anchors[-1], rc))
        self.anchors.append(rc)
        return len(self.anchors)

    def undo(self) -> bool:
        """Remove the last anchor (and its wire); False when there is none."""
        if not self.anchors:
            return False
        self.anchors.pop()
        if self.segments:
            self.segments.pop()
        return True

    def rubber_band(self, rc, max_px: float) -> np.ndarray | None:
        """The wire from the last anchor to `rc` (a straight line beyond `max_px` pixels);
        None without anchors or outside the image."""
        if not self.anchors:
            return None
        rc = np.asarray(rc, float)
        last = np.asarray(self.anchors[-1], float)
        rows, cols = self.image.gray.shape[-2:]
        if not (0 <= rc[0] <= rows - 1 and 0 <= rc[1] <= cols - 1):
            return None
        if np.abs(rc - last).max() > max_px:
            return np.vstack([last, rc])
        return livewire_segment(self.image, self.frame, last, rc)

    def path(self, rubber=None) -> np.ndarray:
        """``(N, 2)`` the path through the anchors, and `rubber` after the last one."""
        parts = [seg[:-1] for seg in self.segments]
        if self.anchors:
            parts.append(np.asarray([self.anchors[-1]], float))
        if rubber is not None and len(rubber) > 1:
            parts.append(np.asarray(rubber, float)[1:])
        return np.vstack(parts) if parts else np.zeros((0, 2))

    def distinct_anchors(self) -> np.ndarray:
        """The anchors without repeats (:func:`clean_anchors`)."""
        return clean_anchors(self.anchors)

    def close(self) -> np.ndarray:
        """The closed outline (:func:`livewire_outline`); raises LivewireError."""
        return livewire_outline(self.image, self.frame, self.anchors)
