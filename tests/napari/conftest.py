"""Fixtures of the napari plugin tests: synthetic images and sidecars made by code.

Nothing here touches the user's real configuration: ``MFSCAN_CONFIG_DIR`` points
into a temporary folder for every test.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest
from mfscan_napari_testutils import write_png

from mfscan.annotations import ROI, Annotation, sidecar_path, write_sidecar
from mfscan.calibration import manual

HERE = Path(__file__).resolve().parent
QT_BINDINGS = ("PyQt6", "PySide6", "PyQt5", "PySide2")
MISSING_GUI = 'GUI tests need napari and a Qt binding: pip install "mfscan[gui]"'
NO_DISPLAY = (
    "GUI tests need a display: DISPLAY / WAYLAND_DISPLAY is not set and pytest-xvfb did not "
    "start Xvfb (install Xvfb, e.g. apt-get install xvfb, or run on a desktop)"
)


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def gui_missing() -> str | None:
    """Why the GUI tests cannot run here (napari or a Qt binding not installed), or None."""
    if not (_installed("napari") and _installed("qtpy") and any(_installed(b) for b in QT_BINDINGS)):
        return MISSING_GUI
    return None


def display_missing() -> str | None:
    """Why Qt cannot open windows here, or None. Checked after pytest-xvfb's pytest_configure,
    which starts Xvfb and sets DISPLAY: creating a QApplication without a display aborts
    the whole Python process ("Fatal Python error: Aborted"), so no test may try."""
    if sys.platform in ("win32", "darwin") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return NO_DISPLAY


class _GuiMissingModule(pytest.File):
    """Stands for a test module that cannot be imported without the GUI stack: one skipped item."""

    def collect(self):
        yield _GuiMissingItem.from_parent(self, name="gui-tests")


class _GuiMissingItem(pytest.Item):
    def runtest(self):
        pytest.skip(MISSING_GUI)

    def reportinfo(self):
        return self.path, 0, f"{self.path.name} (not imported: {MISSING_GUI})"


def pytest_pycollect_makemodule(module_path, parent):
    """Without napari or Qt the modules here are not imported (they import napari): each is
    reported as one skipped test with the reason."""
    if gui_missing():
        return _GuiMissingModule.from_parent(parent, path=Path(module_path))
    return None


def pytest_collection_modifyitems(config, items):
    """Without a display, skip every test of this folder before any QApplication exists."""
    reason = gui_missing() or display_missing()
    if reason is None:
        return
    mark = pytest.mark.skip(reason=reason)
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(mark)


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MFSCAN_CONFIG_DIR", str(tmp_path_factory.mktemp("config")))


@pytest.fixture(scope="session")
def phantom():
    from mfscan.synthetic.phantom import make_phantom

    return make_phantom(seed=7, shape=(300, 400), spacing_mm=0.25)


@pytest.fixture
def annotated_png(tmp_path, phantom):
    """A phantom PNG with a rater R1 sidecar (manual calibration, two outlines, extra fields)."""
    img = write_png(tmp_path / "scan01.png", phantom.image)
    ann = Annotation(
        image=img.name,
        subject="P01",
        visit="2",
        level="L4",
        rater="R1",
        calibration=manual(0.25),
        rois=[
            ROI(
                "left", phantom.outlines["left"] + [0.123, 0.456], method="manual", extra={"note": "repeat 1"}
            ),
            ROI("right", phantom.outlines["right"], level="L4", region=None, method="proposed-edited"),
        ],
        extra={"scanner": {"gain": 50}},
    )
    sc = write_sidecar(sidecar_path(img, "R1"), ann)
    return img, sc


@pytest.fixture
def widget_factory(make_napari_viewer, tmp_path):
    """``make(show=False, **kw) -> (viewer, widget)``: a viewer with the Multifidus
    widget docked, its settings in a temporary file and autosave off by default."""
    from mfscan_napari import _model
    from mfscan_napari._qt.widget import MultifidusWidget

    def make(show=False, **kw):
        viewer = make_napari_viewer(show=show)
        w = MultifidusWidget(
            viewer,
            settings=_model.Settings(tmp_path / "settings.json"),
            autosave_ms=kw.pop("autosave_ms", 0),
            **kw,
        )
        viewer.window.add_dock_widget(w, name="Multifidus", area="right")
        return viewer, w

    return make


@pytest.fixture
def open_png(widget_factory, tmp_path, phantom):
    """``open_png(name, *, show=False, widget=None, **fields) -> (viewer, widget, path)``:
    the phantom written as ``tmp_path/name``, opened with the mfscan reader, the
    widget's study fields set."""

    def make(name, *, show=False, widget=None, **fields):
        img = write_png(tmp_path / name, phantom.image)
        viewer, w = widget_factory(show=show, **(widget or {}))
        viewer.open(str(img), plugin="mfscan")
        if fields:
            w.set_fields(**fields)
        return viewer, w, img

    return make
