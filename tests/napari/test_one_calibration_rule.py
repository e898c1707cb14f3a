"""One calibration rule: a sidecar's override gives the same scale in batch, propose and the widget.

A rater's sidecar holds a typed calibration (0.3 mm/px) over a PNG that has none of
its own. ``mfscan measure``, ``mfscan propose`` and the napari widget must all
measure with 0.3 mm/px, and give the same numbers for the same outline.
"""

from __future__ import annotations

import numpy as np
import pytest
from mfscan_napari import _model
from mfscan_napari_testutils import write_png

from mfscan.annotations import ROI, Annotation, read_sidecar, sidecar_path, write_sidecar
from mfscan.assist.propose import propose_outline
from mfscan.calibration import manual
from mfscan.cli import main
from mfscan.geometry import polygon_area
from mfscan.measure.batch import measure_paths

MM = 0.3  # the rater's typed scale; the PNG itself carries none


@pytest.fixture
def study(tmp_path, phantom):
    img = write_png(tmp_path / "scan.png", phantom.image)
    ann = Annotation(
        image=img.name,
        subject="P01",
        visit="1",
        level="L4",
        rater="R1",
        calibration=manual(MM),
        rois=[ROI("right", phantom.outlines["right"])],
    )
    write_sidecar(sidecar_path(img, "R1"), ann)
    return img


def test_batch_propose_and_widget_use_the_sidecars_scale(study, phantom, widget_factory, capsys):
    right_cm2 = polygon_area(phantom.outlines["right"]) * MM * MM / 100  # by hand: px² x mm²/px² / 100

    # batch: the right outline measured with the override
    rows = measure_paths([study.parent], workers=1, progress=False).measurements
    (right,) = rows[rows["side"] == "right"].itertuples()
    assert (right.row_mm, right.col_mm, right.calibration) == (MM, MM, "manual")
    assert right.csa_cm2 == pytest.approx(right_cm2, rel=1e-12)

    # propose: merges the left side into the same sidecar, with the same scale
    seed = phantom.seeds["left"]
    assert main(["propose", str(study), "--seed", f"left:{seed[0]},{seed[1]}", "--rater", "R1"]) == 0
    capsys.readouterr()
    ann = read_sidecar(sidecar_path(study, "R1"))
    assert ann.calibration == manual(MM)
    left = next(r for r in ann.rois if r.side == "left")
    core = propose_outline(phantom.image, seed, spacing=(MM, MM))
    np.testing.assert_allclose(left.points, core.points, atol=1e-6)
    assert [r.side for r in ann.rois] == ["right", "left"]  # the traced right side kept

    # the widget: the same scale for the layer, the same CSA for both outlines, the same proposal
    viewer, w = widget_factory()
    viewer.open(str(study), plugin="mfscan")
    w.set_fields(subject="P01", visit="1", level="L4", rater="R1")
    layer = w.outline_layer()
    image = w.images.get(layer.metadata["mfscan"]["image_path"])
    assert _model.layer_calibration(image, layer.metadata) == manual(MM)
    assert _model.layer_calibration(image, layer.metadata, seed_rc=seed) == manual(MM)
    w.refresh_table()
    shown = {r["side"]: r for r in w.last_rows}  # one display row per outline; "value" is CSA
    assert sorted(shown) == ["left", "right"] and len(w.last_rows) == 2
    assert shown["right"]["value"] == pytest.approx(right.csa_cm2, rel=1e-6)
    assert shown["left"]["value"] == pytest.approx(polygon_area(left.points) * MM * MM / 100, rel=1e-5)
    prop = _model.propose(image, 0, seed, _model.layer_calibration(image, layer.metadata, seed_rc=seed))
    np.testing.assert_allclose(prop.points, core.points, atol=1e-9)
