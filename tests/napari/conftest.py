"""Fixtures of the napari plugin tests: synthetic images and sidecars made by code.

Nothing here touches the user's real configuration: ``MFSCAN_CONFIG_DIR`` points
into a temporary folder for every test.
"""

from __future__ import annotations


import pytest

from mfscan.annotations import ROI, Annotation, sidecar_path, write_sidecar
from mfscan.calibration import manual

from mfscan_napari_testutils import write_png


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
        image=img.name, subject="P01", visit="2", level="L4", rater="R1",
        calibration=manual(0.25),
        rois=[ROI("left", phantom.outlines["left"] + [0.123, 0.456], method="manual",
                  extra={"note": "repeat 1"}),
              ROI("right", phantom.outlines["right"], level="L4", region=None, method="proposed-edited")],
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
        w = MultifidusWidget(viewer, settings=_model.Settings(tmp_path / "settings.json"),
                             autosave_ms=kw.pop("autosave_ms", 0), **kw)
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
