"""The widget's session: one evented object owning what the rater works on. Pure Python, no Qt.

As napari-animation's evented model and micro-sam's annotator state: the dock
widget, its controllers and its panels share one :class:`Session` and listen to its
events instead of reading or setting each other's attributes.

The session owns

* the open image (its path, frame count and the calibration it is shown with);
* each rater's annotation of that image: one *record* per owner ``(rater, session)``, the
  ``mfscan`` metadata dictionary its outline layer carries (``annotation``, ``digest``,
  ``sidecar_path``, ``dirty``, ...); the session is the only writer of ``dirty``;
* the worklist and the position in it;
* whether the widget itself is applying a change to a layer (:meth:`Session.applying`), which
  the layer callbacks ignore (it is not the rater's edit).

Events (:mod:`psygnal` signals; napari depends on psygnal): ``image_changed(path)``,
``calibration_changed(calibration)``, ``annotation_changed(owner)``,
``dirty_changed(owner, dirty)``, ``worklist_moved(index)``. Each is emitted once per real
change, never when a value is set to what it already was.
"""

from __future__ import annotations

from contextlib import contextmanager

from psygnal import Signal

from mfscan.calibration import UNCALIBRATED, Calibration

__all__ = ["Session", "owner_key"]


def owner_key(annotation: dict | None) -> tuple[str, str]:
    """The owner of an annotation: ``(rater, session)``, None and ``""`` alike
    (as :func:`mfscan_napari._model.study.same_owner` compares them)."""
    a = annotation or {}
    return (str(a.get("rater") or ""), str(a.get("session") or ""))


class Session:
    """The image, each rater's annotation, the calibration, the dirty state and the worklist
    position of one dock widget, with events on each change (see the module's docstring)."""

    image_changed = Signal(object)
    calibration_changed = Signal(object)
    annotation_changed = Signal(object)
    dirty_changed = Signal(object, bool)
    worklist_moved = Signal(int)

    def __init__(self) -> None:
        self.image_path: str | None = None
        self.n_frames: int = 1
        self.calibration: Calibration = UNCALIBRATED
        self.records: dict[tuple[str, str], dict] = {}
        self.worklist = None
        self._applying = 0

    # ------------------------------------------------------------------ image, calibration
    def set_image(self, path, *, calibration: Calibration | None = None, n_frames: int = 1) -> None:
        """The image shown now (None: none). Another image forgets the previous image's records."""
        path = None if path is None else str(path)
        self.n_frames = int(n_frames)
        if path != self.image_path:
            self.image_path = path
            self.records = {}
            self.image_changed.emit(path)
        self.set_calibration(calibration if calibration is not None else UNCALIBRATED)

    def set_calibration(self, calibration: Calibration) -> None:
        """The calibration the image is measured and shown with. A change of its details alone
        (``Calibration`` equality ignores them) is a change too: the source shown, such as the
        shared scale's, named in words that follow the study's blinding, is in them."""
        if calibration.to_dict() != self.calibration.to_dict():
            self.calibration = calibration
            self.calibration_changed.emit(calibration)

    # ------------------------------------------------------------------ annotations
    def adopt(self, record: dict) -> tuple[str, str]:
        """Hold `record` (an outline layer's ``mfscan`` metadata) as its owner's annotation."""
        key = owner_key(record.get("annotation"))
        if self.records.get(key) is not record:
            self.records[key] = record
            self.annotation_changed.emit(key)
        return key

    def forget(self, record: dict) -> None:
        """Stop holding `record` (its layer was removed or given another image)."""
        for key, rec in list(self.records.items()):
            if rec is record:
                del self.records[key]
                self.annotation_changed.emit(key)

    def set_annotation(self, record: dict, annotation: dict, *, dirty: bool) -> None:
        """Give `record` new annotation fields (codes typed in the widget); `dirty`: they differ
        from its sidecar and must be saved."""
        old = owner_key(record.get("annotation"))
        if self.records.get(old) is record and owner_key(annotation) != old:
            del self.records[old]
        record["annotation"] = annotation
        key = owner_key(annotation)
        self.records[key] = record
        self.annotation_changed.emit(key)
        if dirty:
            self.mark_dirty(record)

    # ------------------------------------------------------------------ dirty state
    def mark_dirty(self, record: dict) -> None:
        """`record`'s outlines were edited and are not saved."""
        self._set_dirty(record, True)

    def mark_saved(self, record: dict) -> None:
        """`record`'s outlines were written to its sidecar."""
        self._set_dirty(record, False)

    def _set_dirty(self, record: dict, dirty: bool) -> None:
        if bool(record.get("dirty")) != dirty:
            record["dirty"] = dirty
            self.dirty_changed.emit(owner_key(record.get("annotation")), dirty)

    @staticmethod
    def is_dirty(record: dict | None) -> bool:
        """Whether `record` (an outline layer's ``mfscan`` metadata) has edits not saved."""
        return bool((record or {}).get("dirty"))

    @property
    def dirty(self) -> bool:
        """Whether any annotation of the open image has edits not saved."""
        return any(self.is_dirty(r) for r in self.records.values())

    # ------------------------------------------------------------------ worklist
    def set_worklist(self, worklist) -> None:
        """Work through `worklist` (a :class:`~mfscan_napari._model.Worklist`), from its position."""
        self.worklist = worklist
        if worklist is not None:
            self.worklist_moved.emit(int(worklist.index))

    def _move(self, move):
        """Apply `move` to the worklist and emit ``worklist_moved`` when its position changed;
        the image there (None: no worklist)."""
        if self.worklist is None:
            return None
        old = self.worklist.index
        move(self.worklist)
        if self.worklist.index != old:
            self.worklist_moved.emit(int(self.worklist.index))
        return self.worklist.current

    def step(self, delta: int):
        """Move `delta` images in the worklist (clamped); the image there (None: no worklist)."""
        return self._move(lambda w: w.step(delta))

    def go(self, index: int):
        """Go to image `index` of the worklist (clamped); the image there (None: no worklist)."""
        return self._move(lambda w: w.go(index))

    def reorder(self, order) -> None:
        """Put the worklist in `order` (relative names; a blinded rater's random order): the
        current image stays current, at its new position."""
        self._move(lambda w: w.reorder(order))

    def resume(self, name: str | None):
        """Go to the image named `name` in the worklist (its first image when not listed)."""
        return self._move(lambda w: w.resume(name))

    # ------------------------------------------------------------------ changes the widget makes
    @contextmanager
    def applying(self):
        """While the widget itself sets a layer's features, defaults or labels: the layer's
        events are not the rater's edits (:attr:`is_applying`). Nestable."""
        self._applying += 1
        try:
            yield self
        finally:
            self._applying -= 1

    @property
    def is_applying(self) -> bool:
        return self._applying > 0
