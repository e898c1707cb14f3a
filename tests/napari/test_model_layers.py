"""Model-level tests of the napari plugin: no viewer, no Qt."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mfscan_napari import _model, _reader, _sample, _writer
from mfscan_napari_testutils import square, write_png

from mfscan.annotations import ROI, Annotation, read_sidecar, sidecar_path, write_sidecar
from mfscan.calibration import manual
from mfscan.errors import CalibrationError, MfscanError
from mfscan.io.images import load_image
from mfscan.measure import measure_outline
from mfscan.synthetic.dicom import write_us_dicom


def _by_type(layers, kind):
    return [ly for ly in layers if ly[2] == kind]


def test_reader_accepts_supported_files_only(tmp_path, annotated_png):
    img, sc = annotated_png
    assert _reader.get_reader(str(img)) is _reader.read
    assert _reader.get_reader(str(sc)) is _reader.read
    (tmp_path / "notes.txt").write_text("hello")
    assert _reader.get_reader(str(tmp_path / "notes.txt")) is None
    assert _reader.get_reader(str(tmp_path)) is None


def test_reader_png_with_sidecar(annotated_png, phantom):
    img, sc = annotated_png
    layers = _reader.read(str(img))
    (im,), (sh,) = _by_type(layers, "image"), _by_type(layers, "shapes")
    data, kw, _ = im
    assert data.shape == phantom.image.shape and not kw["rgb"]
    # The sidecar's manual calibration (0.25 mm) is the effective one.
    assert kw["scale"] == (0.25, 0.25) and kw["units"] == ("mm", "mm")
    assert kw["metadata"]["mfscan"]["calibration"]["source"] == "manual"
    sdata, skw, _ = sh
    assert skw["name"] == "outlines R1"
    assert skw["scale"] == kw["scale"]
    assert skw["shape_type"] == "polygon"
    np.testing.assert_array_equal(sdata[0], phantom.outlines["left"] + [0.123, 0.456])
    np.testing.assert_array_equal(sdata[1], phantom.outlines["right"])
    f = skw["features"]
    assert isinstance(f["side"].dtype, pd.CategoricalDtype)
    assert list(f["side"]) == ["left", "right"]
    assert list(f["level"]) == ["L4", "L4"] and list(f["rater"]) == ["R1", "R1"]
    assert list(f["method"]) == ["manual", "proposed-edited"] and list(f["frame"]) == [0, 0]
    csa = measure_outline(sdata[0], phantom.image, spacing=(0.25, 0.25))["csa_cm2"]
    assert f["label"][0] == f"left\n{csa:.2f} cm²"
    m = skw["metadata"]["mfscan"]
    assert Path(m["sidecar_path"]) == sc and m["digest"] == read_sidecar(sc).digest
    assert m["annotation"]["scanner"] == {"gain": 50} and m["annotation"]["subject"] == "P01"


def test_reader_opens_image_from_sidecar(annotated_png):
    img, sc = annotated_png
    layers = _reader.read(str(sc))
    assert len(_by_type(layers, "image")) == 1 and len(_by_type(layers, "shapes")) == 1
    assert _by_type(layers, "image")[0][1]["metadata"]["mfscan"]["image_path"] == str(img.resolve())


def test_reader_uncalibrated_png_in_pixels(tmp_path, phantom):
    img = write_png(tmp_path / "plain.png", phantom.image)
    ann = Annotation(image=img.name, rois=[ROI("left", square(10, 10, 40))])
    write_sidecar(sidecar_path(img), ann)
    layers = _reader.read(str(img))
    ((data, kw, _),) = _by_type(layers, "image")
    assert kw["scale"] == (1.0, 1.0) and kw["units"] == ("pixel", "pixel")
    ((_sd, skw, _),) = _by_type(layers, "shapes")
    assert skw["name"] == "outlines"
    assert skw["features"]["label"][0] == "left\n1600 px²"


def test_reader_rgb_png(tmp_path, phantom):
    rgb = np.stack([phantom.image] * 3, axis=-1).copy()
    rgb[5:10, 5:60] = (255, 255, 0)  # a yellow caliper label
    img = write_png(tmp_path / "colour.png", rgb)
    ((data, kw, _),) = _reader.read(str(img))
    assert kw["rgb"] is True and data.shape == rgb.shape
    np.testing.assert_array_equal(data, rgb)


def test_reader_dicom_regions_and_cine(tmp_path, phantom):
    frames = np.stack([phantom.image, np.roll(phantom.image, 3, axis=1), phantom.image])
    p = write_us_dicom(
        tmp_path / "cine.dcm", frames, regions=[{"bounds": (0, 0, 299, 399), "delta_cm": (0.03, 0.025)}]
    )
    ((data, kw, _),) = _reader.read(str(p))
    assert data.shape == frames.shape
    assert kw["scale"] == pytest.approx((1.0, 0.3, 0.25))
    assert kw["units"] == ("pixel", "mm", "mm")
    assert kw["metadata"]["mfscan"]["calibration"]["source"] == "dicom-region"
    # An outline on frame 2 comes back as 3-D shapes with the frame coordinate.
    ann = Annotation(image=p.name, rater="R2", rois=[ROI("right", square(50, 60, 30), frame=2)])
    write_sidecar(sidecar_path(p, "R2"), ann)
    layers = _reader.read(str(p))
    ((sdata, skw, _),) = _by_type(layers, "shapes")
    assert sdata[0].shape == (16, 3) and set(sdata[0][:, 0]) == {2.0}
    assert skw["scale"] == pytest.approx((1.0, 0.3, 0.25)) and list(skw["features"]["frame"]) == [2]
    back = _model.annotation_from_layer(sdata, skw["features"], skw["metadata"])
    assert back.rois == ann.rois


def test_layer_round_trip_is_lossless(annotated_png):
    img, sc = annotated_png
    original = read_sidecar(sc)
    ((sdata, skw, _),) = _by_type(_reader.read(str(img)), "shapes")
    back = _model.annotation_from_layer(sdata, skw["features"], skw["metadata"])
    assert back == original  # points, sides, levels (explicit or not), method, extras, calibration


def test_annotation_from_layer_applies_edits(annotated_png):
    img, sc = annotated_png
    ((sdata, skw, _),) = _by_type(_reader.read(str(img)), "shapes")
    f = skw["features"].copy()
    f.loc[0, "level"] = "L5"
    f.loc[1, "side"] = "left"
    data = [sdata[0] + 1.5, sdata[1]]
    ann = _model.annotation_from_layer(data, f, skw["metadata"])
    assert ann.rois[0].level == "L5" and ann.level == "L4"
    assert ann.rois[1].side == "left"
    np.testing.assert_array_equal(ann.rois[0].points, sdata[0] + 1.5)
    f.loc[0, "side"] = None
    with pytest.raises(MfscanError, match="no side"):
        _model.annotation_from_layer(data, f, skw["metadata"])


def test_writer_round_trip_and_conflict(annotated_png):
    img, sc = annotated_png
    original = read_sidecar(sc)
    ((sdata, skw, _),) = _by_type(_reader.read(str(img)), "shapes")
    meta = {"metadata": skw["metadata"], "features": skw["features"]}
    moved = [sdata[0].copy(), sdata[1]]
    moved[0][3] += [2.0, -1.0]
    written = _writer.write_shapes(str(sc), moved, meta)
    assert written == [str(sc)]
    back = read_sidecar(sc)
    np.testing.assert_array_equal(back.rois[0].points, moved[0])
    assert back.rois[1] == original.rois[1] and back.extra == original.extra
    assert back.calibration == original.calibration and back.rois[0].extra == {"note": "repeat 1"}
    # The metadata now holds the new digest: saving again goes through.
    assert meta["metadata"]["mfscan"]["digest"] == back.digest
    assert _writer.write_shapes(str(sc), moved, meta) == [str(sc)]
    # Someone else saves the file: our save is diverted, nothing overwritten.
    other = read_sidecar(sc)
    other.subject = "P99"
    write_sidecar(sc, other)
    with pytest.warns(UserWarning, match="changed on disk"):
        out = _writer.write_shapes(str(sc), moved, meta)
    cp = Path(out[0])
    assert cp != sc and cp.name.startswith("scan01.R1.conflict-") and cp.name.endswith(".mfscan.json")
    assert read_sidecar(sc).subject == "P99"
    np.testing.assert_array_equal(read_sidecar(cp).rois[0].points, moved[0])


def test_writer_default_name_from_plain_extension(annotated_png, tmp_path):
    img, sc = annotated_png
    ((sdata, skw, _),) = _by_type(_reader.read(str(img)), "shapes")
    meta = {"metadata": skw["metadata"], "features": skw["features"]}
    out = _writer.write_shapes(str(tmp_path / "whatever.json"), sdata, meta)
    assert out == [str(sc)]
    with pytest.raises(ValueError, match="mfscan"):
        _writer.write_shapes(str(tmp_path / "x.mfscan.json"), sdata, {"metadata": {}})


def test_measure_rows_equal_core(annotated_png, phantom):
    img, sc = annotated_png
    image = load_image(img)
    ann = read_sidecar(sc)
    rows = _model.measure_rows(image, ann)
    for r, roi in zip(rows, ann.rois, strict=True):
        m = measure_outline(roi.points, image.gray[0], spacing=(0.25, 0.25))
        assert r["value"] == pytest.approx(m["csa_cm2"], rel=1e-12)
        assert r["csa"] == f"{m['csa_cm2']:.2f}" and r["unit"] == "cm"
        assert r["ap"] == f"{m['ap_depth_cm']:.2f}" and r["lat"] == f"{m['lateral_width_cm']:.2f}"
        assert r["ratio"] == f"{m['shape_ratio']:.2f}"
        assert r["echo"] == f"{m['echo_mean']:.1f} ± {m['echo_sd']:.1f}"
    assert abs(rows[0]["value"] - phantom.true_csa_cm2["left"]) < 0.2


def test_asymmetry_and_warnings():
    def row(side, value, level="L4", frame=0, error=None):
        return {
            "side": side,
            "level": level,
            "frame": frame,
            "value": value,
            "calibrated": True,
            "m": None if error else {},
            "error": error,
        }

    rows = [row("left", 8.0), row("right", 7.2)]
    (a,) = _model.asymmetry_summary(rows)
    assert a["pct"] == pytest.approx(10.0) and a["larger"] == "left"
    assert "10.0 %" in _model.asymmetry_text([a])
    ann = Annotation(image="x.png", rois=[ROI("left", square(0, 0, 5))] * 3)
    rows3 = [row("left", 8.0), row("left", 7.0), row("left", 1.0, error="the outline crosses itself")]
    w = _model.outline_warnings(ann, rows3)
    assert any("no right outline" in s for s in w)
    assert any("3 left outlines of the same level" in s for s in w)
    assert any("crosses itself" in s for s in w)
    assert _model.asymmetry_summary(rows3) == []


def test_region_crossing_is_reported(tmp_path, phantom):
    split = write_us_dicom(
        tmp_path / "split.dcm",
        phantom.image,
        regions=[
            {"bounds": (0, 0, 299, 199), "delta_cm": (0.025, 0.025)},
            {"bounds": (0, 200, 299, 399), "delta_cm": (0.03, 0.03)},
        ],
    )
    image = load_image(split)
    ann = Annotation(
        image=split.name,
        level="L4",
        rois=[ROI("left", square(50, 150, 100)), ROI("right", square(50, 20, 60))],
    )
    rows = _model.measure_rows(image, ann)
    assert rows[0]["error"] and "region" in rows[0]["error"]
    # the core's own words, without the "ROI 0 (left): " prefix of error lists
    assert (
        rows[0]["error"]
        == "the outline crosses from ultrasound region 0 into region 1, which have separate calibrations"
    )
    assert rows[1]["error"] is None
    assert rows[1]["value"] == pytest.approx(
        measure_outline(square(50, 20, 60), spacing=(0.25, 0.25))["csa_cm2"]
    )
    assert any("region" in w for w in _model.outline_warnings(ann, rows))


def test_scale_line_calibration():
    cal = _model.scale_line_calibration([[10, 5], [410, 5]], 40.0)
    assert cal.source == "scale-line" and cal.row_mm == pytest.approx(0.1)
    cal3 = _model.scale_line_calibration([[0, 10, 5], [0, 210, 5]], 40.0)
    assert cal3.row_mm == pytest.approx(0.2)


def test_scale_line_over_a_dicoms_own_scale_is_decided_as_a_typed_one(tmp_path, phantom):
    """A scale line drawn on a DICOM whose region says 0.25 mm/px replaces it only as a typed
    --mm-per-pixel would (mfscan.calibration.sidecar_override): within 1% it is kept, 0.30
    mm/px (20% off: a line drawn over the wrong length) is refused naming both values."""
    from mfscan.io.images import load_image

    p = write_us_dicom(
        tmp_path / "own.dcm",
        phantom.image,
        regions=[{"bounds": (0, 0, 299, 399), "delta_cm": (0.025, 0.025)}],
    )
    image = load_image(p)
    near = _model.scale_line_calibration([[10, 5], [210, 5]], 50.2, image)  # 0.251 mm/px, 0.4% off
    assert near.row_mm == pytest.approx(0.251)
    with pytest.raises(CalibrationError, match=r"0\.3 x 0\.3 mm/px differs by 20%.*0\.25 x 0\.25"):
        _model.scale_line_calibration([[10, 5], [210, 5]], 60.0, image)
    assert _model.scale_line_calibration([[10, 5], [210, 5]], 60.0).row_mm == pytest.approx(0.3)  # no image


def _visit_study(root, phantom, visits):
    """One image per (subject, visit, date), traced by R1 on a 0.25 mm/px typed scale."""
    for subject, visit, date in visits:
        (root / subject).mkdir(exist_ok=True)
        img = write_png(root / subject / f"{subject}_{visit}.png", phantom.image)
        ann = Annotation(
            image=img.name,
            rois=[ROI("left", square(60, 60, 40)), ROI("right", square(60, 200, 40))],
            subject=subject,
            visit=visit,
            level="L4",
            rater="R1",
            visit_date=date,
            calibration=manual(0.25),
        )
        write_sidecar(sidecar_path(img, "R1"), ann)


@pytest.mark.parametrize(
    "visits, expected",
    [
        # "post" < "pre" as text: the visit-word rule puts pre first
        (
            [("S1", "post", None), ("S1", "pre", None), ("S2", "pre", None), ("S2", "post", None)],
            ["S1/S1_pre.png", "S1/S1_post.png", "S2/S2_pre.png", "S2/S2_post.png"],
        ),
        # words the rule does not know, ordered by the sidecars' visit dates (not as text)
        (
            [("S1", "autumn", "2023-10-01"), ("S1", "spring", "2023-04-02")],
            ["S1/S1_spring.png", "S1/S1_autumn.png"],
        ),
    ],
    ids=["pre-post", "dated"],
)
def test_worklist_follows_the_studys_visit_order(tmp_path, phantom, visits, expected):
    """The worklist is the study the command line resolves (mfscan.measure.study.resolve_study),
    in its order: per subject, the visits in the order the analysis of `mfscan measure`'s table
    settles (explicit, else dates, else the rule), not the file names' text order."""
    from mfscan.cli import main
    from mfscan.stats.study import analyse_study

    _visit_study(tmp_path, phantom, visits)
    wl = _model.Worklist.from_folder(tmp_path)
    assert [wl.relative(p) for p in wl.images] == expected
    assert main(["measure", str(tmp_path), "-o", str(tmp_path / "m.csv"), "--no-progress"]) == 0
    meas = pd.read_csv(tmp_path / "m.csv", dtype={"visit": str, "visit_date": str})
    order = analyse_study(meas).visit_order
    for subject in ("S1", "S2"):
        shown = [p.stem.split("_")[1] for p in wl.images if p.parent.name == subject]
        assert shown == [v for v in order if v in shown]


def test_worklist_order_resume_progress(tmp_path, phantom):
    for name in ("img10.png", "img2.png", "img1.png"):
        write_png(tmp_path / name, phantom.image)
    (tmp_path / "sub").mkdir()
    write_png(tmp_path / "sub" / "a.png", phantom.image)
    (tmp_path / "notes.txt").write_text("x")
    wl = _model.Worklist.from_folder(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in wl.images] == [
        "img1.png",
        "img2.png",
        "img10.png",
        "sub/a.png",
    ]
    assert wl.resume("img10.png") == tmp_path / "img10.png" and wl.index == 2
    assert wl.step(5) == tmp_path / "sub" / "a.png" and wl.step(-10) == tmp_path / "img1.png"
    assert wl.progress("R1") == (0, 4)
    write_sidecar(
        sidecar_path(tmp_path / "img2.png", "R1"),
        Annotation(image="img2.png", rois=[ROI("left", square(1, 1, 9))]),
    )
    assert wl.progress("R1") == (1, 4) and wl.progress("R2") == (0, 4) and wl.progress() == (1, 4)


def test_settings_persist(tmp_path):
    s = _model.Settings(tmp_path / "cfg" / "s.json")
    s.set("fields", {"rater": "R1"})
    s.set_last_image(tmp_path, "img2.png")
    s2 = _model.Settings(tmp_path / "cfg" / "s.json")
    assert s2.get("fields") == {"rater": "R1"} and s2.last_image(tmp_path) == "img2.png"
    # The default location honours MFSCAN_CONFIG_DIR (set to a temporary folder by conftest).
    assert str(_model.Settings().path).startswith(str(_model.default_config_dir()))
    assert "config" in str(_model.default_config_dir())


def test_sample_data(phantom):
    (layer,) = _sample.phantom_image()
    data, kw, kind = layer
    assert kind == "image" and data.ndim == 2 and kw["units"] == ("mm", "mm")
    im, sh = _sample.phantom_with_outlines()
    sdata, skw, kind = sh
    assert kind == "shapes" and list(skw["features"]["side"]) == ["left", "right"]
    from mfscan.synthetic.phantom import make_phantom

    ph = make_phantom(seed=2026)
    assert skw["scale"] == tuple(float(s) for s in ph.spacing_mm)
    label = skw["features"]["label"][0]
    csa = measure_outline(ph.outlines["left"], ph.image, spacing=ph.spacing_mm)["csa_cm2"]
    assert label == f"left\n{csa:.2f} cm²"
    assert math.isclose(csa, ph.true_csa_cm2["left"], rel_tol=0.03)


def test_sidecar_whose_image_is_missing_names_both(annotated_png):
    img, sc = annotated_png
    img.unlink()
    with pytest.raises(MfscanError) as e:
        _model.read_layers(sc)
    assert not isinstance(e.value, FileNotFoundError)
    assert e.value.path == sc and img.name in e.value.message and "does not exist" in e.value.message
    with pytest.raises(MfscanError, match=img.name):  # through the napari reader too
        _reader.read(str(sc))


def test_plugin_asymmetry_equals_core_with_repeats(tmp_path, phantom):
    """Two left outlines (repeats, averaged) and one right: the widget's percentage is the
    one `mfscan asymmetry` computes from the measurements table."""
    from mfscan.calibration import manual
    from mfscan.measure import batch
    from mfscan.measure.annotation import measure_annotation
    from mfscan.stats.asymmetry import asymmetry

    img = write_png(tmp_path / "asym.png", phantom.image)
    image = load_image(img)
    ann = Annotation(
        image=img.name,
        subject="P01",
        visit="1",
        level="L4",
        rater="R1",
        calibration=manual(0.25),
        rois=[
            ROI("left", phantom.outlines["left"]),
            ROI("left", square(60, 250, 70, n=12)),
            ROI("right", phantom.outlines["right"]),
        ],
    )
    summary = _model.asymmetry_summary(_model.measure_rows(image, ann))
    rows, errors = measure_annotation(image, ann)
    assert errors == [] and len(rows) == 3
    core = asymmetry(batch.measurements_frame(rows))
    assert len(summary) == 1 and len(core) == 1
    (s,), c = summary, core.iloc[0]
    assert (s["n_left"], s["n_right"]) == (2, 1) and (c["n_left"], c["n_right"]) == (2, 1)
    assert s["left"] == pytest.approx(c["left_csa_cm2"], rel=1e-12)
    assert s["right"] == pytest.approx(c["right_csa_cm2"], rel=1e-12)
    assert s["pct"] == pytest.approx(c["asymmetry_pct"], rel=1e-12)
    # The repeats really differ, so averaging (not the first or last) is what is compared.
    lefts = [r["csa_cm2"] for r in rows if r["side"] == "left"]
    assert abs(lefts[0] - lefts[1]) > 0.1 and s["left"] == pytest.approx(np.mean(lefts))


def test_empty_columns_and_asymmetry_text_of_lines():
    outline = {
        "kind": "outline",
        "csa": "6.72",
        "ap": "2.86",
        "lat": "2.85",
        "ratio": "1.00",
        "echo": "82.3 ± 34.5",
        "thick": "–",
        "change": "",
    }
    line = {
        "kind": "thickness",
        "csa": "–",
        "ap": "–",
        "lat": "–",
        "ratio": "–",
        "echo": "–",
        "thick": "3.57",
        "change": "+20.7 % (rest 2.96 cm, n=3)",
    }
    fat = {**line, "kind": "fat", "thick": "1.01", "change": ""}
    assert _model.empty_columns([outline]) == {"thick", "change"}
    assert _model.empty_columns([line, fat]) == {"csa", "ap", "lat", "ratio", "echo"}
    assert _model.empty_columns([fat]) == {"csa", "ap", "lat", "ratio", "echo", "change"}
    assert _model.empty_columns([outline, line]) == set()
    assert _model.empty_columns([]) == {"thick", "change"}
    assert "lines are measured one by one" in _model.asymmetry_text([], [line, fat])
    assert _model.asymmetry_text([], [outline]).startswith("Asymmetry: needs a left and a right")


def test_rest_lookup_cache_is_owned_not_shared(tmp_path, phantom):
    """The measured rest images are cached in the dict the caller passes (the widget's), never in
    a process-wide one; a rest sidecar that changes is measured again."""
    import os

    from mfscan_napari_testutils import write_png

    from mfscan.annotations import ROI, Annotation, sidecar_path, write_sidecar
    from mfscan.calibration import manual

    rest = write_png(tmp_path / "rest.png", phantom.image)
    sc = sidecar_path(rest, "R1")

    def write_rest(length_px):
        write_sidecar(
            sc,
            Annotation(
                image=rest.name,
                subject="P01",
                visit="1",
                level="L4",
                rater="R1",
                task="rest",
                calibration=manual(0.25),
                rois=[ROI("left", [[10.0, 50.0], [10.0 + length_px, 50.0]], kind="thickness")],
            ),
            force=True,  # the test rewrites its own rest sidecar
        )

    write_rest(40)  # 40 px x 0.25 mm = 1.0 cm
    contracted = Annotation(
        image="c.png", subject="P01", visit="1", level="L4", rater="R1", task="contracted"
    )
    row = {"level": "L4", "side": "left", "m": {"thickness_cm": 1.2}}
    owned: dict = {}
    text, pct = _model.RestLookup(tmp_path / "c.png", cache=owned)(contracted, row)
    assert pct == pytest.approx(20.0) and "n=1" in text
    assert list(owned) == [str(sc)]
    assert _model.RestLookup(tmp_path / "c.png")._cache == {}  # a new lookup shares nothing
    write_rest(60)  # 1.5 cm: measured again (new modification time)
    st = os.stat(sc)
    os.utime(sc, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    _text, pct = _model.RestLookup(tmp_path / "c.png", cache=owned)(contracted, row)
    assert pct == pytest.approx((1.2 - 1.5) / 1.5 * 100)


def test_other_raters_colours_are_never_near_the_side_colours():
    """Another rater's outlines must not look like the current rater's left (blue) or right
    (orange): every palette colour is at least 40 degrees of hue away from both, or grey."""
    import colorsys

    from mfscan.vocab import SIDE_COLORS

    def hsv(c):
        return colorsys.rgb_to_hsv(*(int(c[i : i + 2], 16) / 255 for i in (1, 3, 5)))

    side_hues = [hsv(c)[0] * 360 for c in SIDE_COLORS.values()]
    for pair in _model.RATER_PALETTE:
        for c in pair:
            h, s, _v = hsv(c)
            if s < 0.1:
                continue  # grey
            for sh in side_hues:
                d = abs(h * 360 - sh)
                assert min(d, 360 - d) >= 40, (c, sh)
