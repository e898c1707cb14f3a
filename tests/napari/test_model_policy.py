"""Model-level tests of the plugin's save policy, image cache and calibration rule: no viewer, no Qt."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from mfscan_napari import _model, _sample
from mfscan_napari_testutils import square, write_png

from mfscan.annotations import ROI, Annotation
from mfscan.calibration import from_scale_line, manual
from mfscan.errors import AnnotationError, CalibrationError, ImageReadError
from mfscan.synthetic.dicom import write_us_dicom


def _meta(**m):
    return {"mfscan": {"kind": "outlines", **m}}


# --------------------------------------------------------------------------- save policy


def test_should_save_dirty_always_force_only_own_non_empty():
    dirty = _meta(dirty=True, image_path="/d/a.png")
    clean = _meta(dirty=False, image_path="/d/a.png")
    saved = _meta(dirty=False, digest="abc", image_path="/d/a.png")
    assert _model.should_save(dirty, 0, mine=False) is True  # another rater's layer that really changed
    assert _model.should_save(clean, 3, mine=True) is False  # autosave: nothing changed
    assert _model.should_save(clean, 3, mine=True, force_all=True) is True  # “Save now”
    assert _model.should_save(clean, 3, mine=False, force_all=True) is False  # never another rater's
    assert _model.should_save(clean, 0, mine=True, force_all=True) is False  # empty new layer: no file
    assert _model.should_save(saved, 0, mine=True, force_all=True) is True  # all outlines deleted: rewrite


def test_is_unsaved_ignores_sample_images():
    assert _model.is_unsaved(_meta(dirty=True, image_path="/d/a.png")) is True
    assert _model.is_unsaved(_meta(dirty=True, image_path="memory:mfscan-phantom.png")) is False
    assert _model.is_unsaved(_meta(dirty=False, image_path="/d/a.png")) is False
    assert _model.is_unsaved({}) is False


def test_apply_study_fields_is_pure_and_says_when_dirty():
    ann = {"image": "a.png", "subject": "P01", "visit": "1", "level": "L4", "rater": "R1"}
    before = dict(ann)
    new, dirty = _model.apply_study_fields(
        ann, {"subject": "P02", "visit": "", "level": "L4", "rater": "X"}, n_outlines=2
    )
    assert ann == before  # input not modified
    # the rater is not a study field: it names the file
    assert new == {"image": "a.png", "subject": "P02", "level": "L4", "rater": "R1"}
    assert dirty is True
    # The same codes: nothing changes, nothing to save.
    assert _model.apply_study_fields(ann, {"subject": "P01", "visit": "1", "level": "L4"}, n_outlines=2) == (
        ann,
        False,
    )
    # A changed code on an empty layer without a sidecar is not worth a file; with a sidecar it is.
    assert _model.apply_study_fields(ann, {"subject": "P09"})[1] is False
    assert _model.apply_study_fields(ann, {"subject": "P09"}, sidecar="/d/a.R1.mfscan.json")[1] is True


def test_policy_texts():
    assert _model.save_policy_text(5000) == (
        "Outlines are saved when you change image and every 5 s while "
        "there are unsaved edits (“Save now” saves at once)."
    )
    assert "every 250 ms" in _model.save_policy_text(250)
    assert _model.save_policy_text(0) == (
        "Outlines are saved when you change image and when you press “Save now”."
    )
    assert (
        _model.error_reason(AnnotationError("disk is read-only", Path("/d/a.R1.mfscan.json")))
        == "a.R1.mfscan.json: disk is read-only"
    )
    assert _model.error_reason(OSError("no space")) == "no space"
    text = _model.recovery_text(
        "disk full", "outlines R1", Path("/rec/a.R1.x.mfscan.json"), "a.R1.mfscan.json"
    )
    assert text == (
        "Not saved: disk full. A recovery copy of “outlines R1” was written to "
        "/rec/a.R1.x.mfscan.json — once the problem is fixed, copy it beside the image as "
        "a.R1.mfscan.json."
    )
    lost = _model.recovery_text("disk full", "outlines R1", error="read-only")
    assert "Not even a recovery copy could be written (read-only)" in lost and "LOST" in lost
    refused = _model.leave_refused_text([("outlines R1", "disk full"), ("outlines R2", None)])
    assert refused.startswith("Not saved: outlines R1: disk full; outlines R2: not saved. ")
    assert "the image was not changed" in refused


def test_write_recovery_failure_keeps_its_cause(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    meta = _meta(image_path=str(tmp_path / "a.png"), annotation={"image": "a.png", "rater": "R1"})
    feats = _model.features_frame([{"side": "left"}])
    with pytest.raises(Exception) as e:
        _model.write_recovery([square(1, 1, 5)], feats, meta, folder=blocker / "sub")
    assert isinstance(e.value.__cause__, OSError)  # chained with `from e`, not hidden


# --------------------------------------------------------------------------- image cache


def test_image_cache_decodes_once_until_the_file_changes(tmp_path, phantom):
    img = write_png(tmp_path / "a.png", phantom.image)
    cache = _model.ImageCache(size=2)
    first = cache.get(img)
    assert cache.get(str(img)) is first and len(cache) == 1
    np.testing.assert_array_equal(first.gray[0], phantom.image)
    write_png(img, 255 - phantom.image)
    st = img.stat()
    os.utime(img, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a later modification time
    second = cache.get(img)
    assert second is not first
    np.testing.assert_array_equal(second.gray[0], 255 - phantom.image)
    # Bounded: the oldest image goes.
    b, c = (write_png(tmp_path / n, phantom.image) for n in ("b.png", "c.png"))
    cache.get(b)
    cache.get(c)
    assert len(cache) == 2
    # Two caches share nothing (no module-level cache).
    assert _model.ImageCache().get(c) is not cache.get(c)


def test_image_cache_errors_keep_their_cause(tmp_path):
    with pytest.raises(ImageReadError) as e:
        _model.ImageCache().get(tmp_path / "gone.png")
    assert "moved or renamed" in e.value.message and isinstance(e.value.__cause__, OSError)
    with pytest.raises(Exception) as e:
        _model.get_image("memory:never-registered.png")
    assert "reopen it" in str(e.value) and isinstance(e.value.__cause__, KeyError)


def test_image_cache_max_pixels(tmp_path, phantom):
    img = write_png(tmp_path / "a.png", phantom.image)
    assert _model.ImageCache().max_pixels == 200_000_000
    with pytest.raises(ImageReadError, match="max_pixels"):
        _model.ImageCache(max_pixels=1000).get(img)


def test_sample_is_a_real_image(phantom):
    from mfscan.io.images import Image

    image = _sample.phantom_sample_image(phantom, "test-phantom.png")
    assert isinstance(image, Image) and image.overlay_frame(0) is None
    assert image.calibration == manual(*phantom.spacing_mm)
    assert _model.get_image("memory:test-phantom.png") is image
    assert _model.image_key(image) == "memory:test-phantom.png"


# --------------------------------------------------------------------------- one calibration rule


def test_layer_calibration_is_the_core_rule(tmp_path, phantom):
    """The widget's calibration of a seed or outline equals batch's for the same sidecar:
    the override first, else the DICOM region holding the points."""
    from mfscan.calibration import roi_calibration
    from mfscan.io.images import load_image

    p = write_us_dicom(
        tmp_path / "two.dcm",
        phantom.image,
        regions=[
            {"bounds": (0, 0, 299, 199), "delta_cm": (0.025, 0.025)},
            {"bounds": (0, 200, 299, 399), "delta_cm": (0.03, 0.03)},
        ],
    )
    image = load_image(p)
    left, right = square(50, 250, 40), square(50, 20, 40)
    line = from_scale_line((10, 5), (210, 5), 40.0)  # 0.2 mm/px
    for override in (None, line):
        ann = Annotation(image=p.name, calibration=override, rois=[ROI("left", left), ROI("right", right)])
        meta = _meta(annotation=_model.annotation_fields(ann))
        for pts in (left, right):
            core = roi_calibration(pts, image, ann.calibration)
            assert _model.layer_calibration(image, meta, pts[0]) == core
        if override is None:
            assert _model.layer_calibration(image, meta, left[0]).row_mm == pytest.approx(0.3)
            assert _model.layer_calibration(image, meta, right[0]).row_mm == pytest.approx(0.25)
        else:
            assert _model.layer_calibration(image, meta, right[0]) == line
            assert _model.layer_calibration(image, meta) == line
    # A stored "dicom-region" calibration is a record, never an override: the image is read again.
    recorded = _meta(annotation={"calibration": {"row_mm": 9.0, "col_mm": 9.0, "source": "dicom-region"}})
    assert _model.layer_calibration(image, recorded, left[0]).row_mm == pytest.approx(0.3)
    with pytest.raises(CalibrationError):
        _model.layer_calibration(image, _meta(annotation={}), (-5.0, -5.0))


def test_layer_calibration_takes_the_image_layers_shared_scale(tmp_path, phantom):
    """A rater without a scale of their own, on a plain PNG: measured with the scale the image
    layer records as shared (0.25 mm/px typed here, not read back from the function); their own
    scale line wins (40 mm over 200 px: 0.2 mm/px); sidecars that disagree: no override (the
    widget shows the conflict instead of a scale)."""
    from mfscan.calibration import SharedScale
    from mfscan.io.images import load_image

    image = load_image(write_png(tmp_path / "plain.png", phantom.image))
    shared = {
        "mfscan": {
            "shared_scale": _model.calibration.shared_record(SharedScale(manual(0.25), "scale line, R1"))
        }
    }
    mine = _meta(annotation={})
    assert _model.layer_calibration(image, mine, image_metadata=shared).row_mm == pytest.approx(0.25)
    assert _model.layer_calibration(image, mine, (10.0, 10.0), image_metadata=shared).col_mm == pytest.approx(
        0.25
    )
    line = from_scale_line((10, 5), (210, 5), 40.0)
    own = _meta(annotation={"calibration": line.to_dict()})
    assert _model.layer_calibration(image, own, image_metadata=shared).row_mm == pytest.approx(0.2)
    conflict = {
        "mfscan": {
            "shared_scale": _model.calibration.shared_record(SharedScale(None, None, "0.25 vs 0.30 mm/px"))
        }
    }
    assert _model.layer_override(image, mine, conflict) is None
    assert not _model.layer_calibration(image, mine, image_metadata=conflict).calibrated
    assert not _model.layer_calibration(image, mine).calibrated  # no shared record: the PNG has none


def test_shown_calibration_prefers_the_sidecar_override():
    image_meta = {"mfscan": {"kind": "image", "calibration": manual(0.25).to_dict()}}
    assert _model.shown_calibration(image_meta) == manual(0.25)
    line = from_scale_line((0, 0), (100, 0), 20.0)
    assert _model.shown_calibration(image_meta, _meta(annotation={"calibration": line.to_dict()})) == line
    record = {"row_mm": 0.3, "col_mm": 0.3, "source": "dicom-region"}
    assert _model.shown_calibration(image_meta, _meta(annotation={"calibration": record})) == manual(0.25)
    assert not _model.shown_calibration({}).calibrated


def test_asymmetry_summary_leaves_out_rows_the_core_refuses():
    def row(side, value, level="L4", calibrated=True):
        return {
            "side": side,
            "level": level,
            "frame": 0,
            "value": value,
            "calibrated": calibrated,
            "m": {},
            "error": None,
        }

    rows = [
        row("left", 8.0),
        row("right", 6.0),
        row("right", 7.0, level=""),  # no level: left out
        row("left", 5.0, level="L5"),
        row("right", 500.0, level="L5", calibrated=False),
    ]  # cm² vs px²
    (a,) = _model.asymmetry_summary(rows)
    assert (a["level"], a["left"], a["right"], a["unit"]) == ("L4", 8.0, 6.0, "cm²")
    assert a["pct"] == pytest.approx(25.0) and a["larger"] == "left" and (a["n_left"], a["n_right"]) == (1, 1)
    # The level's case does not matter (one vocabulary): "l4" is L4.
    (b,) = _model.asymmetry_summary([row("left", 4.0, "l4"), row("right", 4.0, "L4")])
    assert b["level"] == "L4" and b["pct"] == 0.0 and b["larger"] == "equal"


def test_asymmetry_summary_equals_summarize_sides_with_and_without_repeats():
    """Both ways through the plugin (a side traced once, sides traced again) give the core's
    summarize_sides means and asymmetry_pct, computed here from the same values."""
    import pandas as pd

    from mfscan.stats.asymmetry import asymmetry_pct
    from mfscan.stats.summary import summarize_sides

    def row(side, value, level):
        return {
            "side": side,
            "level": level,
            "frame": 0,
            "value": value,
            "calibrated": True,
            "m": {},
            "error": None,
        }

    single = [
        row("right", 6.5, "L5"),
        row("left", 7.25, "L5"),
        row("left", 9.0, "L3"),
        row("right", 8.0, "L3"),
    ]
    repeats = single + [row("left", 6.75, "L5")]
    for rows in (single, repeats):
        t = pd.DataFrame(
            {
                "subject": "S",
                "visit": "1",
                "level": [r["level"] for r in rows],
                "side": [r["side"] for r in rows],
                "csa_cm2": [r["value"] for r in rows],
            }
        )
        core = summarize_sides(t, measures=["csa_cm2"])
        got = _model.asymmetry_summary(rows)
        assert [a["level"] for a in got] == ["L3", "L5"]  # cranial to caudal
        for a in got:
            c = core[core["level"] == a["level"]].set_index("side")
            assert a["left"] == c.loc["left", "csa_cm2"] and a["right"] == c.loc["right", "csa_cm2"]
            assert (a["n_left"], a["n_right"]) == (c.loc["left", "n"], c.loc["right", "n"])
            assert a["pct"] == asymmetry_pct(c.loc["left", "csa_cm2"], c.loc["right", "csa_cm2"])
    # By hand: L5 with the repeat, left (7.25 + 6.75) / 2 = 7.0 vs right 6.5: (7.0 - 6.5) / 7.0.
    l5 = _model.asymmetry_summary(repeats)[1]
    assert l5["left"] == 7.0 and l5["n_left"] == 2 and l5["pct"] == pytest.approx(100 * 0.5 / 7.0)


def test_propose_refuses_an_image_without_a_scale(phantom):
    """The widget, like ``mfscan propose``, never guesses a pixel size."""
    from mfscan.assist.propose import LOW_CONFIDENCE, ProposalError
    from mfscan.calibration import UNCALIBRATED, manual

    image = _sample.phantom_sample_image(phantom)
    seed = phantom.seeds["left"]
    with pytest.raises(ProposalError, match="no scale"):
        _model.propose(image, 0, seed, UNCALIBRATED, side="left")
    prop = _model.propose(image, 0, seed, manual(*phantom.spacing_mm), side="left")
    assert prop.points.shape[1] == 2 and _model.LOW_CONFIDENCE == LOW_CONFIDENCE
