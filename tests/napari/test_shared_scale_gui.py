"""Issue 23 in the widget: an image calibrated only by R1's scale line opens, for rater X,
with that scale shown and its source named."""

from __future__ import annotations

import shutil
from pathlib import Path

from mfscan_napari import _model

SAMPLE = Path(__file__).parents[2] / "sample_data" / "study" / "S01" / "visit1"
STEM = "S01_V1_L4_1"


def test_the_widget_shows_the_shared_scale_on_opening(tmp_path, widget_factory):
    for name in (f"{STEM}.png", f"{STEM}.R1.mfscan.json"):
        shutil.copy(SAMPLE / name, tmp_path)  # never into sample_data
    viewer, w = widget_factory()
    viewer.open(str(tmp_path / f"{STEM}.png"), plugin="mfscan")
    w.set_fields(subject="S01", visit="1", level="L4", rater="X")
    layer = w.outline_layer(create=True, by_rater=True)  # X's layer: X never drew a scale
    assert layer.name == "outlines X"
    viewer.layers.selection.active = layer
    w.refresh_table()
    text = w.calibration_panel.calibration_label.text()
    # R1's line: 200 px = 50 mm on the depth ruler
    assert text == "Calibrated: 0.25 mm/px (scale line, R1)"
    image_layer = next(ly for ly in viewer.layers if "calibration" in ly.metadata.get("mfscan", {}))
    assert tuple(image_layer.scale) == (0.25, 0.25)
    assert _model.calibration_text(_model.shown_calibration(image_layer.metadata))[0] == text


def test_the_widget_names_a_disagreement_instead_of_a_bare_not_calibrated(tmp_path, widget_factory):
    import json

    for name in (f"{STEM}.png", f"{STEM}.R1.mfscan.json"):
        shutil.copy(SAMPLE / name, tmp_path)
    d = json.loads((tmp_path / f"{STEM}.R1.mfscan.json").read_text())
    d["rater"], d["calibration"] = "R2", {"row_mm": 0.3, "col_mm": 0.3, "source": "manual"}
    (tmp_path / f"{STEM}.R2.mfscan.json").write_text(json.dumps(d))
    viewer, w = widget_factory()
    viewer.open(str(tmp_path / f"{STEM}.png"), plugin="mfscan")
    w.set_fields(subject="S01", visit="1", level="L4", rater="X")
    layer = w.outline_layer(create=True, by_rater=True)
    viewer.layers.selection.active = layer
    w.refresh_table()
    text = w.calibration_panel.calibration_label.text()
    assert text.startswith("NOT CALIBRATED: the sidecars of this image disagree")
    assert "0.25 x 0.25" in text and "0.3 x 0.3" in text
