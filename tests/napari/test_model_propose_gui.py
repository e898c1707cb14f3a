"""GUI tests of issue 14 point 2: the widget's Propose with a chosen trained model."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from mfscan_napari_testutils import write_png

from mfscan.annotations import read_sidecar, sidecar_path
from mfscan.calibration import manual
from mfscan.synthetic.phantom import make_phantom

torch = pytest.importorskip("torch")

MM = 1.0  # the tiny model's scale (mm per pixel), as tests/test_learn.py
SMALL = dict(shape=(240, 320), spacing_mm=0.5, burned_in_text=False, ruler=False)


def _sample(ph, subject):
    from mfscan.learn.dataset import Sample, resample_image, resample_labels, to_float
    from mfscan.measure.masks import label_image

    return Sample(
        resample_image(to_float(ph.image), spacing=ph.spacing_mm, mm_per_pixel=MM),
        resample_labels(label_image(ph.masks), spacing=ph.spacing_mm, mm_per_pixel=MM),
        subject,
        subject,
        (MM, MM),
    )


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A tiny model trained on 6 phantoms in a few seconds, saved as a model folder."""
    from mfscan.learn.train import _reference, save_model, train_model

    train = [_sample(make_phantom(seed=i, **SMALL), f"S{i}") for i in range(6)]
    val = [_sample(make_phantom(seed=100 + i, **SMALL), f"V{i}") for i in range(2)]
    res = train_model(
        train, val, epochs=6, steps_per_epoch=10, channels=(8, 16, 32), crop=(96, 128),
        batch_size=4, lr=1e-2, threads=1, patience=100,
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("model")
    card = save_model(folder, res, {"mm_per_pixel": MM, "ood": _reference(res.net, train, val, 4)})
    return folder, card


def test_propose_with_a_chosen_model_and_edit(widget_factory, tmp_path, tiny_model):
    from mfscan.learn.predict import load_model, predict_outlines

    folder, _card = tiny_model
    ph = make_phantom(seed=200, **SMALL)  # never seen in training
    img = write_png(tmp_path / "scan.png", ph.image)
    viewer, w = widget_factory()
    viewer.open(str(img), plugin="mfscan")
    w.set_fields(subject="P01", visit="1", level="L4", rater="R1")
    w.apply_calibration(manual(0.5))
    model = w.tracer.propose.choose_model(str(folder))
    assert model is not None and model.model_id in w.tracing.model_label.text()
    # The same outline as the core's predict on the same frame, scale and seed.
    ref = predict_outlines(load_model(folder), ph.image if ph.image.ndim == 2 else ph.image[..., 0],
                           spacing=(0.5, 0.5), seeds={"left": ph.seeds["left"]})  # fmt: skip
    w.arm_propose("left")
    i = w.propose_at(ph.seeds["left"])
    if "left" not in ref:  # the tiny model missed this muscle: the widget says so and adds nothing
        assert i is None and "finds no muscle" in w.mode_label.text()
        return
    layer = w.outline_layer()
    np.testing.assert_allclose(np.asarray(layer.data[i]), ref["left"].points, atol=1e-6)
    assert layer.features["method"].iloc[i] == "model"
    data = [d.copy() for d in layer.data]
    data[i][3] += [2.0, -3.0]  # the rater moves a vertex
    layer.data = data
    assert layer.features["method"].iloc[i] == "model-edited"
    w.save(force_all=True)
    (roi,) = read_sidecar(sidecar_path(img, "R1")).rois
    assert roi.method == "model-edited" and roi.extra["model"] == model.model_id
    assert roi.extra["confidence"] == pytest.approx(ref["left"].confidence, abs=1e-3)
    prop = roi.extra["proposal"]
    assert prop["method"] == "model" and prop["model"] == model.model_id
    np.testing.assert_allclose(prop["points"], ref["left"].points, atol=1e-6)  # the unedited proposal
    # Back to classical: the next proposal is "proposed".
    assert w.tracer.propose.choose_model("") is None
    w.arm_propose("right")
    j = w.propose_at(ph.seeds["right"])
    assert j is not None and layer.features["method"].iloc[j] == "proposed"


def test_a_flagged_model_proposal_says_so_and_keeps_its_flags(widget_factory, tmp_path, tiny_model):
    """Issue 21 point 6: an image of another scanner (brighter, softer, low contrast) is out of
    the training images' distribution: the status says FLAGGED and the sidecar keeps the flags."""
    folder, _card = tiny_model
    ph = make_phantom(seed=200, gain=2.4, contrast=0.4, speckle=0.3, **SMALL)
    img = write_png(tmp_path / "scan.png", ph.image)
    viewer, w = widget_factory()
    viewer.open(str(img), plugin="mfscan")
    w.set_fields(subject="P01", visit="1", level="L4", rater="R1")
    w.apply_calibration(manual(0.5))
    w.tracer.propose.choose_model(str(folder))
    w.arm_propose("left")
    i = w.propose_at(ph.seeds["left"])
    assert i is not None  # the tiny model finds a muscle there (it is lost, not blind)
    assert "FLAGGED" in w.mode_label.text() and "out-of-distribution" in w.mode_label.text()
    w.save(force_all=True)
    (roi,) = read_sidecar(sidecar_path(img, "R1")).rois
    assert "out-of-distribution" in roi.extra["flags"]
    assert roi.extra["proposal"]["flags"] == roi.extra["flags"]


def test_missing_torch_shows_the_install_hint(widget_factory, tmp_path, tiny_model, monkeypatch):
    from mfscan.learn._torch import INSTALL_HINT

    viewer, w = widget_factory()
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    assert w.tracer.propose.choose_model(str(tiny_model[0])) is None
    assert INSTALL_HINT.split("\n")[0][:40] in w.mode_label.text()
    assert "classical" in w.tracing.model_label.text()
