"""The napari plugin's session object (issue 22 §4), without Qt or a viewer.

The session owns the open image, each rater's annotation record, the calibration, the
dirty state and the worklist position, and emits one event per real change.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from mfscan_napari._model.session import Session

from mfscan.calibration import UNCALIBRATED, Calibration


def _record(rater, session=None, **extra):
    return {"annotation": {"rater": rater, "session": session}, **extra}


@pytest.fixture
def events():
    """A session and the list of events it emitted, as (name, args)."""
    s = Session()
    seen = []
    for name in (
        "image_changed",
        "calibration_changed",
        "annotation_changed",
        "dirty_changed",
        "worklist_moved",
    ):
        getattr(s, name).connect(lambda *a, _n=name: seen.append((_n, a)))
    return s, seen


def test_session_imports_no_qt_and_no_napari():
    # The module is pure Python: importing it pulls in neither Qt nor napari (a fresh interpreter).
    import subprocess

    code = (
        "import sys, mfscan_napari._model.session; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('napari', 'qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'vispy')]; "
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_image_and_calibration_events_once_per_change(events):
    s, seen = events
    cal = Calibration(0.25, 0.25, "scale-line")
    s.set_image("/d/a.png", calibration=cal, n_frames=1)
    assert seen == [("image_changed", ("/d/a.png",)), ("calibration_changed", (cal,))]
    seen.clear()
    s.set_image("/d/a.png", calibration=Calibration(0.25, 0.25, "scale-line"))  # the same again
    assert seen == []
    s.set_calibration(Calibration(0.1, 0.1, "manual"))
    assert seen == [("calibration_changed", (Calibration(0.1, 0.1, "manual"),))]
    assert s.calibration.spacing == (0.1, 0.1)
    seen.clear()
    s.set_image(None)
    assert seen == [("image_changed", (None,)), ("calibration_changed", (UNCALIBRATED,))]
    assert s.image_path is None and not s.calibration.calibrated


def test_each_rater_has_one_record_and_another_image_forgets_them(events):
    s, seen = events
    s.set_image("/d/a.png")
    r1, r2 = _record("R1"), _record("R2", "2")
    s.adopt(r1)
    s.adopt(r2)
    s.adopt(r1)  # already held: no event
    assert s.records == {("R1", ""): r1, ("R2", "2"): r2}
    assert [e for e in seen if e[0] == "annotation_changed"] == [
        ("annotation_changed", (("R1", ""),)),
        ("annotation_changed", (("R2", "2"),)),
    ]
    s.forget(r2)
    assert list(s.records) == [("R1", "")]
    s.set_image("/d/b.png")
    assert s.records == {}


def test_dirty_state_events_and_the_record_flag(events):
    s, seen = events
    s.set_image("/d/a.png")
    r1, r2 = _record("R1"), _record("R2")
    s.adopt(r1)
    s.adopt(r2)
    seen.clear()
    assert s.dirty is False
    s.mark_dirty(r1)
    s.mark_dirty(r1)  # already dirty: one event only
    assert seen == [("dirty_changed", (("R1", ""), True))]
    assert r1["dirty"] is True and "dirty" not in r2 and s.dirty is True
    s.mark_saved(r1)
    assert seen[-1] == ("dirty_changed", (("R1", ""), False)) and s.dirty is False
    assert Session.is_dirty(r1) is False and Session.is_dirty(None) is False


def test_set_annotation_moves_the_record_to_its_new_owner_and_marks_it_dirty(events):
    s, seen = events
    s.set_image("/d/a.png")
    rec = _record(None)  # an empty layer before the rater typed a code
    s.adopt(rec)
    seen.clear()
    s.set_annotation(rec, {"rater": "R3", "session": None, "subject": "S01"}, dirty=True)
    assert s.records == {("R3", ""): rec} and rec["annotation"]["subject"] == "S01"
    assert seen == [("annotation_changed", (("R3", ""),)), ("dirty_changed", (("R3", ""), True))]
    seen.clear()
    s.set_annotation(rec, {"rater": "R3", "session": None, "subject": "S02"}, dirty=False)
    assert seen == [("annotation_changed", (("R3", ""),))] and rec.get("dirty") is True


def test_worklist_position_events(events, tmp_path):
    from mfscan_napari._model.worklist import Worklist

    for name in ("b.tif", "a.tif", "c.tif"):  # written by tifffile, listed sorted by name
        tifffile.imwrite(tmp_path / name, np.zeros((8, 8), np.uint8))
    s, seen = events
    s.set_worklist(Worklist.from_folder(tmp_path))
    assert seen == [("worklist_moved", (0,))]
    assert Path(s.step(1)).name == "b.tif" and seen[-1] == ("worklist_moved", (1,))
    n = len(seen)
    assert Path(s.step(5)).name == "c.tif" and seen[-1] == ("worklist_moved", (2,))
    assert Path(s.step(1)).name == "c.tif" and len(seen) == n + 1  # clamped at the end: no event
    assert Path(s.resume("a.tif")).name == "a.tif" and seen[-1] == ("worklist_moved", (0,))
    assert Path(s.go(2)).name == "c.tif" and seen[-1] == ("worklist_moved", (2,))
    n = len(seen)
    s.reorder(["c.tif", "a.tif", "b.tif"])  # a blinded rater's order: c.tif stays current, now first
    assert [p.name for p in s.worklist.images] == ["c.tif", "a.tif", "b.tif"]
    assert s.worklist.current.name == "c.tif" and seen[-1] == ("worklist_moved", (0,)) and len(seen) == n + 1
    s.reorder(["c.tif", "b.tif", "a.tif"])  # still first: no event
    assert len(seen) == n + 1
    assert Session().step(1) is None and Session().go(0) is None  # no worklist


def test_applying_is_nestable_and_reset_after_an_error():
    s = Session()
    assert not s.is_applying
    with s.applying():
        with s.applying():
            assert s.is_applying
        assert s.is_applying
    assert not s.is_applying
    with pytest.raises(ValueError):
        with s.applying():
            raise ValueError("x")
    assert not s.is_applying


QT_DIR = Path(__file__).resolve().parents[1] / "plugins" / "mfscan_napari" / "_qt"


def _calls_and_private_sets(path):
    """(attribute calls, private attributes set on another object) of one source file."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls, private = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            calls.add(node.func.attr)
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for t in targets:
            for a in ast.walk(t):
                owner_is_self = (
                    isinstance(a, ast.Attribute) and isinstance(a.value, ast.Name) and a.value.id == "self"
                )
                if isinstance(a, ast.Attribute) and a.attr.startswith("_") and not owner_is_self:
                    private.append(f"{path.name}:{node.lineno} {ast.unparse(a)}")
    return calls, private


def test_no_controller_sets_another_objects_private_flags():
    # The widget's `_updating` was set from layers.py, undo.py and swap.py; now the session's
    # `applying()` says when the widget itself changes a layer.
    private = [p for f in sorted(QT_DIR.rglob("*.py")) for p in _calls_and_private_sets(f)[1]]
    assert private == []


def test_layers_are_added_and_keys_bound_in_one_place():
    where = {}
    for f in sorted(QT_DIR.rglob("*.py")):
        calls = _calls_and_private_sets(f)[0]
        for name in ("add_shapes", "add_layer", "add_image", "bind_key"):
            if name in calls:
                where.setdefault(name, set()).add(f.name)
    assert where == {"add_shapes": {"factory.py"}, "add_layer": {"factory.py"}, "bind_key": {"keys.py"}}
