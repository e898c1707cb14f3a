"""Issue 23 review, in the widget: a scale line checked against the image's own DICOM scale,
the shared scale kept shared (never copied into a second rater's sidecar), the study-wide
scale length under one path normalisation, and a blinded rater never told whose scale it is.

Real viewers (under Xvfb); the DICOM is written with pydicom, areas are computed by shapely.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _pydicom_files import region_item, write_dicom
from mfscan_napari._qt.panels.measurements import column
from mfscan_napari_testutils import overlapping_controls, png_folder, square, write_png
from shapely.geometry import Polygon

from mfscan.annotations import read_sidecar, sidecar_path, write_study_settings
from mfscan.calibration import is_override
from mfscan.cli import main

SAMPLE = Path(__file__).parents[2] / "sample_data" / "study" / "S01" / "visit1"
STEM = "S01_V1_L4_1"
OWN_CM = 0.02548  # the DICOM region's own scale: 0.2548 mm per pixel
CODES = {"subject": "S01", "visit": "1", "level": "L4"}


def _area_cm2(vertices, mm_per_px: float) -> float:
    """A (row, col) polygon's area in cm² by shapely (not by mfscan)."""
    return Polygon(np.asarray(vertices, float)[:, ::-1]).area * mm_per_px**2 / 100.0


def _dicom(tmp_path, phantom) -> Path:
    rows, cols = phantom.image.shape
    return write_dicom(
        tmp_path / "scan.dcm", phantom.image, regions=[region_item((0, 0, rows - 1, cols - 1), (OWN_CM,) * 2)]
    )


# ---------------------------------------------------------------------- 1: the image's own scale
def test_a_scale_line_disagreeing_with_the_dicom_region_is_refused(widget_factory, tmp_path, phantom):
    dcm = _dicom(tmp_path, phantom)
    viewer, w = widget_factory()
    w.set_fields(rater="R1", **CODES)
    w.open_image(dcm)
    own = "Calibrated: 0.2548 mm/px (DICOM ultrasound region 0)"
    assert w.calibration_panel.calibration_label.text() == own
    # 100 px drawn as 50 mm: 0.5 mm/px, 96.2% from the region's 0.2548 (areas 3.85x)
    assert w.set_scale_from_line([[10.0, 10.0], [10.0, 110.0]], 50.0) is None
    text = w.calibration_panel.scale_error_label.text()  # by Set scale and the override box
    assert "0.5 x 0.5" in text and "0.2548 x 0.2548" in text and "96.2%" in text
    assert "tick “Use my scale over the image's own”" in text  # how to override, in the widget's words
    assert w.calibration_panel.override_check.isVisibleTo(w)
    assert w.calibration_panel.calibration_label.text() == own  # unchanged
    w.arm("left").add_polygons([square(40, 250, 60)])
    w.save(force_all=True)
    mine = sidecar_path(dcm, "R1")
    assert not is_override(read_sidecar(mine).calibration)  # no 0.5 saved
    table = tmp_path / "m.csv"
    assert main(["measure", str(tmp_path), "-o", str(table)]) == 0
    row = pd.read_csv(table).iloc[0]
    assert row["row_mm"] == pytest.approx(0.2548)
    assert row["csa_cm2"] == pytest.approx(_area_cm2(square(40, 250, 60), 0.2548), rel=1e-6)
    # chosen deliberately: used, and recorded as overriding the image's own scale
    w.calibration_panel.override_check.setChecked(True)
    cal = w.set_scale_from_line([[10.0, 10.0], [10.0, 110.0]], 50.0)
    assert cal is not None and cal.row_mm == pytest.approx(0.5)
    w.save(force_all=True)
    saved = read_sidecar(mine).calibration
    assert (saved.source, saved.details.get("overrides_image")) == ("scale-line", True)
    assert saved.row_mm == pytest.approx(0.5)


def test_a_scale_line_within_one_percent_of_the_region_is_accepted(widget_factory, tmp_path, phantom):
    dcm = _dicom(tmp_path, phantom)
    viewer, w = widget_factory()
    w.set_fields(rater="R1", **CODES)
    w.open_image(dcm)
    cal = w.set_scale_from_line([[10.0, 10.0], [10.0, 110.0]], 25.6)  # 0.256: 0.47% off
    assert cal is not None and cal.row_mm == pytest.approx(0.256)
    assert not w.calibration_panel.override_check.isVisibleTo(w)


def _process(n=5):
    from qtpy.QtWidgets import QApplication

    for _ in range(n):
        QApplication.processEvents()


def _whole_in_sight(w, label) -> bool:
    """Whether `label` lies inside the dock's scroll viewport and is as tall as its wrapped text."""
    from qtpy.QtCore import QPoint, QRect

    vp = w.scroll.viewport()
    inside = QRect(QPoint(0, 0), vp.size()).contains(QRect(label.mapTo(vp, QPoint(0, 0)), label.size()))
    return inside and label.height() >= label.heightForWidth(label.width())


@pytest.mark.parametrize("size", [(1280, 800), (1600, 1000)])
def test_the_refusal_is_shown_whole_by_set_scale(widget_factory, tmp_path, phantom, size):
    """The refusal is in the calibration panel, between Set scale and the override box, wrapped,
    whole and in the dock's visible area even when the dock was scrolled to its end; no control
    overlaps another; cleared by an accepted scale and by another image."""
    dcm = _dicom(tmp_path, phantom)
    viewer, w = widget_factory(show=True)
    win = viewer.window._qt_window
    win.resize(*size)
    _process()
    assert win.width() <= size[0] and win.height() <= size[1]
    w.set_fields(rater="R1", **CODES)
    w.open_image(dcm)
    _process()
    bar = w.scroll.verticalScrollBar()
    bar.setValue(bar.maximum())  # the rater was looking at the table
    _process()
    panel = w.calibration_panel
    label = panel.scale_error_label
    assert w.set_scale_from_line([[10.0, 10.0], [10.0, 110.0]], 50.0) is None
    _process()
    text = label.text()
    assert "0.5 x 0.5" in text and "0.2548 x 0.2548" in text and "96.2%" in text
    assert text.endswith("and press “Set scale” again.")  # the line once cut off
    assert label.isVisible() and label.wordWrap()
    assert _whole_in_sight(w, label)
    box, button = panel.override_check, panel.set_scale_button
    assert box.isVisible() and _whole_in_sight(w, box)
    assert button.geometry().bottom() < label.geometry().top() < box.geometry().top()  # between them
    controls, overlaps = overlapping_controls(w)
    assert len(controls) > 30 and label in controls and box in controls
    assert overlaps == []
    # an accepted scale clears it
    box.setChecked(True)
    assert w.set_scale_from_line([[10.0, 10.0], [10.0, 110.0]], 50.0) is not None
    assert not label.isVisibleTo(w) and label.text() == ""
    # an implausible scale (100 px = 0.5 mm: 0.005 mm/px) is shown there too, without the box
    box.setChecked(False)
    assert w.set_scale_from_line([[10.0, 10.0], [10.0, 110.0]], 0.5) is None
    _process()
    assert label.isVisible() and "0.005" in label.text() and _whole_in_sight(w, label)
    # another image clears it
    w.open_image(write_png(tmp_path / "other.png", phantom.image))
    _process()
    assert not label.isVisibleTo(w) and not box.isVisibleTo(w)


# ---------------------------------------------------------------------- 2: shared, not copied
@pytest.fixture
def only_r1(tmp_path):
    """One sample image with R1's sidecar: calibrated only by R1's scale line, 200 px = 50 mm."""
    for name in (f"{STEM}.png", f"{STEM}.R1.mfscan.json"):
        shutil.copy(SAMPLE / name, tmp_path)  # never into sample_data
    return tmp_path


def test_a_second_rater_keeps_the_shared_scale_shared(widget_factory, only_r1):
    img = only_r1 / f"{STEM}.png"
    viewer, w = widget_factory()
    w.set_fields(rater="R2", **CODES)
    w.open_image(img)
    outline = square(150, 150, 80)
    w.arm("left").add_polygons([outline])
    w.refresh_table()
    expected = _area_cm2(outline, 0.25)
    assert w.table.item(0, column("csa")).text() == f"{expected:.2f}"
    assert w.calibration_panel.calibration_label.text() == "Calibrated: 0.25 mm/px (scale line, R1)"
    w.save(force_all=True)
    raw = json.loads(sidecar_path(img, "R2").read_text())
    assert raw.get("calibration") is None  # R2 set no scale: none of their own
    # the image's scale serves R2 in the batch too
    table = only_r1 / "m.csv"
    assert main(["measure", str(only_r1), "-o", str(table)]) == 0
    r2 = pd.read_csv(table).query("rater == 'R2'")
    assert list(r2["row_mm"]) == [0.25]
    assert r2["csa_cm2"].iloc[0] == pytest.approx(expected, rel=1e-6)
    # reopened: still shared, still measured with R1's line
    viewer2, w2 = widget_factory()
    w2.set_fields(rater="R2", **CODES)
    w2.open_image(img)
    w2.viewer.layers.selection.active = w2.outline_layer(by_rater=True)
    w2.refresh_table()
    assert w2.table.item(0, column("csa")).text() == f"{expected:.2f}"
    assert w2.calibration_panel.calibration_label.text() == "Calibrated: 0.25 mm/px (scale line, R1)"


def test_a_proposal_of_the_second_rater_uses_the_shared_scale(widget_factory, only_r1, monkeypatch):
    from mfscan_napari import _model

    seen = []
    real = _model.propose

    def spy(image, frame, seed_rc, cal, *args, **kw):
        seen.append(cal)
        return real(image, frame, seed_rc, cal, *args, **kw)

    monkeypatch.setattr(_model, "propose", spy)
    img = only_r1 / f"{STEM}.png"
    viewer, w = widget_factory()
    w.set_fields(rater="R2", **CODES)
    w.open_image(img)
    w.arm_propose("left")
    w.propose_at((200.0, 200.0))
    (cal,) = seen
    assert (cal.source, cal.row_mm) == ("scale-line", 0.25)  # R1's line: 200 px = 50 mm


# ---------------------------------------------------------------------- 3: one path normalisation
def test_the_scale_length_is_one_setting_whichever_path_opens_the_study(
    widget_factory, tmp_path, phantom, monkeypatch
):
    real = png_folder(tmp_path / "data" / "study", phantom.image, 2)
    write_study_settings(real, {"pattern": None})
    (real / "S").mkdir()
    shutil.move(real / "img2.png", real / "S" / "img2.png")
    link = tmp_path / "link"
    os.symlink(real, link)
    viewer, w = widget_factory()
    w.set_fields(rater="R1")
    w.open_folder(link)  # through a symbolic link
    assert w.set_scale_from_line([[10.0, 10.0], [10.0, 110.0]], 37.5) is not None
    stored = w.settings.get("scale_length_mm")
    assert list(stored) == [str(real.resolve())]
    # a relative path to the image in the subfolder: the same study, the same setting
    monkeypatch.chdir(tmp_path)
    viewer2, w2 = widget_factory()
    w2.set_fields(rater="R1")
    w2.calibration_panel.scale_length.setValue(10.0)
    w2.open_image(Path("link") / "S" / "img2.png")
    assert w2.calibration_panel.scale_length.value() == 37.5
    assert w2.settings.get("scale_length_mm") == stored


def test_study_key_of_the_model(tmp_path):
    from mfscan_napari._model import study_key

    real = tmp_path / "real"
    (real / "a").mkdir(parents=True)
    link = tmp_path / "link"
    os.symlink(real, link)
    img = link / "a" / "x.png"
    assert study_key(img, [link]) == str(real)
    assert study_key(img, [None, real]) == str(real)
    assert study_key(img, [tmp_path / "elsewhere"]) == str(real / "a")
    assert study_key("memory:phantom", [real]) is None


# ---------------------------------------------------------------------- 4: blinded
def test_a_blinded_rater_is_not_told_whose_scale_it_is(widget_factory, only_r1):
    viewer, w = widget_factory()
    w.set_fields(rater="R2", **CODES)
    w.open_folder(only_r1)

    def shown():
        viewer.layers.selection.active = w.outline_layer(create=True, by_rater=True)  # R2's own
        w.refresh_table()
        return w.calibration_panel.calibration_label.text()

    assert shown() == "Calibrated: 0.25 mm/px (scale line, R1)"
    w.set_study(blinded=True)  # ticked with the image open: the image is opened again, blinded
    text = shown()
    assert text == "Calibrated: 0.25 mm/px (the image's shared scale)"
    assert "R1" not in text
    # a later session opens the blinded study afresh: the same words
    viewer2, w2 = widget_factory()
    w2.set_fields(rater="R2", **CODES)
    w2.open_folder(only_r1)
    w2.viewer.layers.selection.active = w2.outline_layer(create=True, by_rater=True)
    w2.refresh_table()
    assert w2.calibration_panel.calibration_label.text() == text
