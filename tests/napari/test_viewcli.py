"""``mfscan view``: the subcommand's parser and a start of napari with the widget."""

from __future__ import annotations

import argparse

import napari
import pytest
from mfscan_napari_testutils import write_png

from mfscan.cli.view import cmd_view, register
from mfscan.errors import MfscanError


def _parse(argv):
    p = argparse.ArgumentParser()
    register(p.add_subparsers(dest="command"))
    return p.parse_args(argv)


def test_view_parser():
    args = _parse(["view", "scans/", "--rater", "R2"])
    assert args.path == "scans/" and args.rater == "R2" and args.func is cmd_view
    assert _parse(["view"]).path is None


def test_view_missing_path_is_an_error(tmp_path):
    with pytest.raises(MfscanError, match="no such file"):
        cmd_view(_parse(["view", str(tmp_path / "nope.png")]))


def test_view_opens_folder_as_worklist(tmp_path, phantom, monkeypatch, qtbot):
    for i in range(2):
        write_png(tmp_path / f"img{i}.png", phantom.image)
    monkeypatch.setattr(napari, "run", lambda *a, **k: None)
    assert cmd_view(_parse(["view", str(tmp_path), "--rater", "R5"])) == 0
    viewer = napari.current_viewer()
    try:
        from mfscan_napari._qt.widget import MultifidusWidget

        docked = list(viewer.window.dock_widgets.values())
        assert any(isinstance(w, MultifidusWidget) for w in docked), docked
        (w,) = [w for w in docked if isinstance(w, MultifidusWidget)]
        assert w.fields()["rater"] == "R5" and "annotated by R5: 0 / 2" in w.progress_label.text()
        assert [ly.name for ly in viewer.layers] == ["img0.png"]
    finally:
        viewer.close()
