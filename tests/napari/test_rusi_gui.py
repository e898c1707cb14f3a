"""GUI tests of issue 13 point 5: thickness and fat lines, the RUSI protocol fields, change vs rest."""

from __future__ import annotations

import numpy as np
import pytest
from mfscan_napari import _model
from mfscan_napari_testutils import write_png

from mfscan.annotations import ROI, Annotation, read_sidecar, sidecar_path, write_sidecar
from mfscan.calibration import manual


def _line(w, kind, side, p0, p1):
    tool = w.tracer.lines[kind]
    assert tool.arm(side) is not None
    assert tool.click(p0, 0) is None  # first end kept
    return tool.click(p1, 0)


def test_thickness_and_fat_lines_measured_and_saved(widget_factory, annotated_png):
    img, sc = annotated_png  # R1, manual calibration 0.25 mm/px, two outlines
    viewer, w = widget_factory()
    w.set_fields(rater="R1")
    w.open_image(img)
    layer = w.outline_layer(create=False, by_rater=True)
    # 30 rows down, 40 columns across: 50 px by Pythagoras = 12.5 mm = 1.25 cm
    i = _line(w, "thickness", "left", (100.0, 100.0), (130.0, 140.0))
    j = _line(w, "fat", "right", (20.0, 300.0), (44.0, 300.0))  # 24 px = 6 mm = 0.6 cm
    assert (i, j) == (2, 3)
    assert list(layer.shape_type[2:]) == ["line", "line"]
    assert list(layer.features["kind"]) == ["outline", "outline", "thickness", "fat"]
    rows = w.last_rows
    assert rows[i]["m"]["thickness_cm"] == pytest.approx(1.25)
    assert rows[i]["thick"] == "1.25" and rows[i]["side"] == "left"
    assert rows[j]["m"]["fat_thickness_cm"] == pytest.approx(0.6)
    assert rows[j]["thick"] == "0.60" and rows[j]["side"] == "right"
    # The lines do not count as outlines: the Hides asymmetry of the two outlines is unchanged.
    assert len(w.last_asymmetry) == 1 and w.last_asymmetry[0]["n_left"] == 1
    w.set_fields(view="parasagittal", task="contracted", posture="prone", trial="2")
    w.save(force_all=True)
    ann = read_sidecar(sc)
    assert (ann.view, ann.task, ann.posture, ann.trial) == ("parasagittal", "contracted", "prone", 2)
    kinds = [r.kind for r in ann.rois]
    assert kinds == ["outline", "outline", "thickness", "fat"]
    np.testing.assert_allclose(ann.rois[2].points, [[100, 100], [130, 140]])
    assert ann.rois[3].side == "right"


def test_protocol_fields_never_carried_over(widget_factory, annotated_png, phantom):
    img, sc = annotated_png
    other = write_png(img.parent / "scan02.png", phantom.image)
    viewer, w = widget_factory()
    w.set_fields(rater="R1")
    w.open_image(img)
    assert {k: w.fields()[k] for k in ("view", "task", "posture", "trial")} == dict.fromkeys(
        ("view", "task", "posture", "trial"), ""
    )
    w.set_fields(view="parasagittal", task="rest", posture="standing", trial="1")
    w.save(force_all=True)
    assert read_sidecar(sc).task == "rest"
    w.open_image(other)  # nobody traced it: blank, not carried over
    f = w.fields()
    assert (f["view"], f["task"], f["posture"], f["trial"]) == ("", "", "", "")
    w.open_image(img)  # its own sidecar again
    f = w.fields()
    assert (f["view"], f["task"], f["posture"], f["trial"]) == ("parasagittal", "rest", "standing", "1")


def test_contracted_change_against_rest(widget_factory, tmp_path, phantom):
    cal = manual(0.25)
    rest_imgs = [write_png(tmp_path / f"rest{k}.png", phantom.image) for k in (1, 2)]
    # two rest trials, 40 and 48 px: 1.0 and 1.2 cm, mean 1.1 cm
    for k, (img, n_px) in enumerate(zip(rest_imgs, (40.0, 48.0), strict=True)):
        ann = Annotation(
            image=img.name,
            subject="P01",
            visit="1",
            level="L4",
            rater="R1",
            task="rest",
            trial=k + 1,
            calibration=cal,
            rois=[ROI("left", [[100.0, 100.0], [100.0 + n_px, 100.0]], kind="thickness")],
        )
        write_sidecar(sidecar_path(img, "R1"), ann)
    # another subject's rest image and the other side: never used
    odd = write_png(tmp_path / "other.png", phantom.image)
    write_sidecar(
        sidecar_path(odd, "R1"),
        Annotation(
            image=odd.name,
            subject="P02",
            visit="1",
            level="L4",
            rater="R1",
            task="rest",
            calibration=cal,
            rois=[ROI("left", [[0.0, 0.0], [10.0, 0.0]], kind="thickness")],
        ),
    )
    con = write_png(tmp_path / "contracted.png", phantom.image)
    write_sidecar(
        sidecar_path(con, "R1"),
        Annotation(
            image=con.name,
            subject="P01",
            visit="1",
            level="L4",
            rater="R1",
            task="contracted",
            calibration=cal,
        ),
    )
    viewer, w = widget_factory()
    w.set_fields(rater="R1")
    w.open_image(con)
    assert w.fields()["task"] == "contracted"
    i = _line(w, "thickness", "left", (100.0, 100.0), (154.0, 100.0))  # 54 px = 1.35 cm
    j = _line(w, "thickness", "right", (100.0, 300.0), (154.0, 300.0))  # no right rest image
    rest, c = (1.0 + 1.2) / 2, 1.35
    row = w.last_rows[i]
    assert row["m"]["thickness_cm"] == pytest.approx(c)
    assert row["change_pct"] == pytest.approx((c - rest) / rest * 100)
    assert "n=2" in row["change"]
    assert w.last_rows[j]["change_pct"] is None and w.last_rows[j]["change"] == "no rest image"
    # The table shows the line columns, not the empty area ones; the change cell is short, its
    # rest value and trial count in the tooltip.
    from mfscan_napari._qt.panels.measurements import column

    t = w.measurements.table
    hidden = {k for k, _h in _model.TABLE_COLUMNS if t.isColumnHidden(column(k))}
    assert {"csa", "ap", "lat", "ratio", "echo"} <= hidden and not {"thick", "change", "side"} & hidden
    cell = t.item(i, column("change"))
    assert cell.text() == f"{row['change_pct']:+.1f} %" and cell.toolTip() == row["change"]
    assert "lines are measured one by one" in w.measurements.asymmetry_label.text()
    # A rest image has no change column.
    w.set_fields(task="rest")
    assert all(r["change_pct"] is None for r in w.last_rows)
