"""Tests of the synthetic phantom generator (mfscan.phantom)."""

from __future__ import annotations

import numpy as np
import pytest

from mfscan.synthetic.export import make_rgb_export
from mfscan.synthetic.phantom import Phantom, make_phantom, shoelace_area


def shoelace(poly) -> float:
    """Independent shoelace formula: signed area of (row, col) vertices."""
    p = np.asarray(poly, dtype=float)
    total = 0.0
    for i in range(len(p)):
        r0, c0 = p[i]
        r1, c1 = p[(i + 1) % len(p)]
        total += r0 * c1 - r1 * c0
    return total / 2.0


@pytest.fixture(scope="module")
def default():
    return make_phantom(seed=0)


VARIANTS = [
    dict(seed=1),
    dict(seed=2, shape=(480, 640), spacing_mm=0.25),
    dict(seed=3, shape=(768, 1024), spacing_mm=0.15),
    dict(seed=4, shape=(800, 600), spacing_mm=0.2, left_csa_cm2=9.5),
    dict(seed=5, spacing_mm=(0.22, 0.18), left_csa_cm2=5.0, asymmetry_pct=15.0),
    dict(seed=6, sector="curved", asymmetry_pct=25.0, smaller_side="left"),
]


@pytest.fixture(scope="module", params=range(len(VARIANTS)))
def variant(request):
    kw = VARIANTS[request.param]
    return kw, make_phantom(**kw)


def test_types_and_shapes(default):
    p = default
    assert isinstance(p, Phantom)
    assert p.image.dtype == np.uint8 and p.image.shape == (600, 800)
    assert p.spacing_mm == (0.2, 0.2)
    assert p.sector.shape == (600, 800) and p.sector.all()  # linear: whole image
    for side in ("left", "right"):
        o = p.outlines[side]
        assert o.shape[1] == 2 and 100 <= len(o) <= 200
        assert not np.allclose(o[0], o[-1])  # first point not repeated
        assert p.masks[side].dtype == bool and p.masks[side].shape == (600, 800)
    assert p.params["spacing_mm"] == (0.2, 0.2)
    assert 5.0 <= p.params["left_csa_cm2"] <= 9.0  # default drawn at L4/L5 adult size


def test_deterministic():
    a = make_phantom(seed=11, sector="curved", caliper_overlay=True)
    b = make_phantom(seed=11, sector="curved", caliper_overlay=True)
    assert a.image.tobytes() == b.image.tobytes()
    for side in ("left", "right"):
        np.testing.assert_array_equal(a.outlines[side], b.outlines[side])
    c = make_phantom(seed=12, sector="curved", caliper_overlay=True)
    assert a.image.tobytes() != c.image.tobytes()
    assert a.true_csa_cm2 != c.true_csa_cm2


def test_appearance_settings_do_not_move_outlines():
    a = make_phantom(seed=3)
    b = make_phantom(
        seed=3, gain=1.5, speckle=0.3, contrast=0.7, lateral_contrast=0.1, burned_in_text=False, ruler=False
    )
    for side in ("left", "right"):
        np.testing.assert_array_equal(a.outlines[side], b.outlines[side])
    assert a.image.tobytes() != b.image.tobytes()


def test_area_matches_request(variant):
    kw, p = variant
    row_mm, col_mm = p.spacing_mm
    left = p.params["left_csa_cm2"]
    if "left_csa_cm2" in kw:
        assert left == kw["left_csa_cm2"]
    a = kw.get("asymmetry_pct", 0.0) / 100
    right = left * (1 - a) if kw.get("smaller_side", "right") == "right" else left / (1 - a)
    for side, want in (("left", left), ("right", right)):
        area = shoelace(p.outlines[side])
        assert area > 0  # counter-clockwise as displayed
        cm2 = area * row_mm * col_mm / 100
        assert cm2 == pytest.approx(p.true_csa_cm2[side], abs=1e-9)
        assert cm2 == pytest.approx(want, abs=1e-6)


@pytest.mark.parametrize("asym,smaller", [(0.0, "right"), (10.0, "right"), (31.0, "left"), (4.5, "left")])
def test_asymmetry_reproduces_hides(asym, smaller):
    p = make_phantom(seed=8, left_csa_cm2=7.0, asymmetry_pct=asym, smaller_side=smaller)
    big, small = max(p.true_csa_cm2.values()), min(p.true_csa_cm2.values())
    assert (big - small) / big * 100 == pytest.approx(asym, abs=1e-6)
    assert p.true_csa_cm2["left"] == pytest.approx(7.0, abs=1e-9)
    if asym > 0:
        assert p.true_csa_cm2[smaller] == pytest.approx(small)


def test_masks_match_area_and_do_not_overlap(variant):
    _, p = variant
    px_area = p.spacing_mm[0] * p.spacing_mm[1] / 100
    for side in ("left", "right"):
        got = p.masks[side].sum() * px_area
        assert got == pytest.approx(p.true_csa_cm2[side], rel=0.02)
        r, c = p.seeds[side]
        assert p.masks[side][int(round(r)), int(round(c))]
        # the seed is well inside: at least 4 mm from every vertex
        d = np.hypot(*((p.outlines[side] - [r, c]) * p.spacing_mm).T).min()
        assert d > 4.0
        assert (p.masks[side] <= p.sector).all()
    assert not (p.masks["left"] & p.masks["right"]).any()


def test_realistic_size(variant):
    _, p = variant
    for side in ("left", "right"):
        o = p.outlines[side] * p.spacing_mm
        ap = np.ptp(o[:, 0]) / 10
        lat = np.ptp(o[:, 1]) / 10
        csa = p.true_csa_cm2[side]
        # AP x Lat is close to the CSA (a rounded shape fills 70-90 % of its box)
        assert 0.65 < csa / (ap * lat) < 0.95
        assert 0.7 < ap / lat < 1.45


def test_patient_left_is_on_image_right(variant):
    _, p = variant
    mid = p.landmarks["midline_col"]
    assert abs(mid - p.image.shape[1] / 2) < 2.0 / p.spacing_mm[1]
    assert p.outlines["left"][:, 1].min() > mid
    assert p.outlines["right"][:, 1].max() < mid
    assert p.seeds["left"][1] > mid > p.seeds["right"][1]
    assert p.landmarks["orientation"] == "patient right on image left"


def test_intensities_fascia_muscle_shadow(variant):
    _, p = variant
    img = p.image.astype(float)
    fascia = img[p.landmarks["fascia_mask"]].mean()
    lamina = img[p.landmarks["lamina_mask"]].mean()
    shadow = img[p.landmarks["shadow_mask"]].mean()
    assert p.landmarks["shadow_mask"].sum() > 200
    for side in ("left", "right"):
        muscle = img[p.masks[side]].mean()
        assert fascia > muscle + 50
        assert lamina > muscle + 50
        assert shadow < muscle - 30
        assert 40 < muscle < 140
        # the landmark rows point at bright bands above and below the muscle
        r, c = p.seeds[side]
        c = int(c)
        fr = int(round(p.landmarks["fascia_rows"][side]))
        lr = int(round(p.landmarks["lamina_rows"][side]))
        assert img[fr - 1 : fr + 2, c - 8 : c + 9].mean() > muscle + 30
        assert img[lr - 1 : lr + 2, c - 8 : c + 9].mean() > muscle + 30
        assert fr < r < lr
    tip_r, tip_c = p.landmarks["spinous_process_tip"]
    assert abs(tip_c - p.landmarks["midline_col"]) < 1e-9
    assert tip_r < min(o[:, 0].min() for o in p.outlines.values()) + 2


def test_gain_and_contrast_change_brightness():
    base = make_phantom(seed=4)
    bright = make_phantom(seed=4, gain=1.6)
    dim = make_phantom(seed=4, gain=0.6)
    m = base.masks["left"]
    means = [x.image[m].mean() for x in (dim, base, bright)]
    assert means[0] < means[1] < means[2]
    flat = make_phantom(seed=4, contrast=0.2)
    fm = base.landmarks["fascia_mask"]
    assert flat.image[fm].mean() - flat.image[m].mean() < 0.5 * (base.image[fm].mean() - base.image[m].mean())


def test_lateral_contrast_controls_septum():
    def septum_contrast(p):
        # ring of pixels just outside the lateral half of the patient's left muscle
        from scipy import ndimage

        m = p.masks["left"]
        ring = ndimage.binary_dilation(m, iterations=4) & ~m
        c0 = p.outlines["left"][:, 1]
        lateral = np.zeros_like(m)
        lateral[:, int(np.percentile(c0, 85)) :] = True
        ring &= lateral & ~p.landmarks["fascia_mask"] & ~p.landmarks["lamina_mask"]
        rows = np.nonzero(m)[0]
        band = np.zeros_like(m)
        band[int(np.percentile(rows, 30)) : int(np.percentile(rows, 65))] = True
        ring &= band
        return p.image[ring].mean() - p.image[m].mean()

    hi = septum_contrast(make_phantom(seed=9, lateral_contrast=1.0))
    lo = septum_contrast(make_phantom(seed=9, lateral_contrast=0.1))
    assert hi > 50
    assert lo < 20


def test_speckle_grain_and_no_speckle():
    p = make_phantom(seed=2)
    m = p.masks["left"]
    vals = p.image[m].astype(float)
    assert vals.std() / vals.mean() > 0.3  # speckled
    smooth = make_phantom(seed=2, speckle=0.0)
    sv = smooth.image[m].astype(float)
    assert sv.std() / sv.mean() < 0.5 * vals.std() / vals.mean()
    # grain: horizontal autocorrelation still high at 1 px, low by 6 px
    r0, c0 = (int(v) for v in p.seeds["left"])
    patch = p.image[r0 - 20 : r0 + 20, c0 - 20 : c0 + 20].astype(float)
    patch -= patch.mean()

    def ac(k):
        return (patch[:, :-k] * patch[:, k:]).mean() / patch.var()

    assert ac(1) > 0.5
    assert ac(6) < 0.3


def test_ruler_ticks_calibrate(variant):
    _, p = variant
    row_mm = p.spacing_mm[0]
    ticks = p.landmarks["ruler_tick_rows"]
    assert len(ticks) >= 4
    np.testing.assert_allclose(np.diff(ticks), 10.0 / row_mm, rtol=1e-12)
    np.testing.assert_allclose(p.landmarks["ruler_tick_mm"], 10.0 * np.arange(len(ticks)))
    # measure the ticks in the pixels: intensity-weighted centroids of each tick
    c0, c1 = p.landmarks["ruler_tick_cols"]
    prof = p.image[:, c0 : c1 + 1].astype(float).mean(axis=1)  # ticks drawn on black
    # blind detection: runs of bright rows, intensity-weighted centroid of each
    hot = np.flatnonzero(prof > 0)
    runs = np.split(hot, np.flatnonzero(np.diff(hot) > 1) + 1)
    found = np.array([(r * prof[r]).sum() / prof[r].sum() for r in runs])
    inner = ticks[(ticks > 1) & (ticks < p.image.shape[0] - 2)]
    found = found[(found > 1) & (found < p.image.shape[0] - 2)]
    assert len(found) == len(inner)
    assert np.abs(found - inner).max() < 0.02  # uint8 rounding only
    slope = np.polyfit(np.arange(len(found)), found, 1)[0]
    assert 10.0 / slope == pytest.approx(row_mm, rel=1e-3)


def test_text_and_ruler_outside_muscles(variant):
    _, p = variant
    ov = p.landmarks["overlay_mask"]
    assert ov.any()
    assert len(p.landmarks["text_boxes"]) >= 2
    for side in ("left", "right"):
        assert not (ov & p.masks[side]).any()
        for r0, c0, r1, c1 in p.landmarks["text_boxes"]:
            assert not p.masks[side][r0 : r1 + 1, c0 : c1 + 1].any()
    # burned-in text is white
    assert p.image[ov].max() == 255


def test_no_overlays_when_disabled():
    p = make_phantom(seed=1, burned_in_text=False, ruler=False)
    assert not p.landmarks["overlay_mask"].any()
    assert p.landmarks["text_boxes"] == []
    assert len(p.landmarks["ruler_tick_rows"]) == 0


def test_caliper_overlay_marks_extremes():
    p = make_phantom(seed=1, caliper_overlay=True)
    for side in ("left", "right"):
        cal = p.landmarks["calipers"][side]
        assert cal.shape == (4, 2)
        o = p.outlines[side]
        assert cal[0, 0] == o[:, 0].min() and cal[1, 0] == o[:, 0].max()
        for r, c in cal:
            assert p.image[int(round(r)), int(round(c))] >= 250
            assert p.landmarks["overlay_mask"][int(round(r)), int(round(c))]


def test_curved_sector():
    p = make_phantom(seed=6, sector="curved")
    s = p.sector
    assert not s.all() and s.mean() > 0.5
    assert not s[0, 0] and not s[0, -1]  # corners are outside the fan
    row0 = int(p.landmarks["skin_row"]) + 1
    assert s[row0, p.image.shape[1] // 2]
    outside = ~s & ~p.landmarks["overlay_mask"]
    assert p.image[outside].max() == 0
    for side in ("left", "right"):
        assert (p.masks[side] <= s).all()
    # rows in the top of the fan are wider deeper down
    widths = s.sum(axis=1)
    assert widths[row0 + 50] > widths[row0 + 5]


def test_curved_params_record_the_probe():
    # the curved probe's radius was overwritten by a ruler tick row (550 for this seed) before the split
    import math

    p = make_phantom(seed=1, sector="curved")
    assert p.params["curved_radius_mm"] == 50.0 and p.params["curved_half_angle_deg"] == 36.0
    # the fan's top at the midline: radius * (1 - cos(half-angle)) + 0.5 mm
    assert p.params["skin_mm"] == pytest.approx(50.0 * (1 - math.cos(math.radians(36.0))) + 0.5, abs=1e-12)
    assert p.landmarks["skin_row"] == pytest.approx(p.params["skin_mm"] / 0.2, abs=1e-9)
    lin = make_phantom(seed=1)
    assert lin.params["curved_radius_mm"] is None and lin.params["curved_half_angle_deg"] is None
    assert lin.params["skin_mm"] == 0.0


def test_shoelace_area_is_signed_and_matches_the_outlines(default):
    square = [[0, 0], [10, 0], [10, 10], [0, 10]]  # (row, col): down, right, up: counter-clockwise as shown
    assert shoelace_area(square) == 100.0
    assert shoelace_area(square[::-1]) == -100.0
    assert shoelace_area([[5, 5], [5, 25], [15, 5]]) == -100.0  # triangle, legs 20 and 10, clockwise
    for side in ("left", "right"):
        o = default.outlines[side]
        assert shoelace_area(o) == pytest.approx(shoelace(o), rel=1e-9)
        assert shoelace_area(o) * 0.2 * 0.2 / 100 == pytest.approx(default.true_csa_cm2[side], rel=1e-9)


@pytest.mark.parametrize(
    "kw",
    [
        dict(shape=(200, 200)),  # 4 x 4 cm field
        dict(spacing_mm=0.1, left_csa_cm2=20.0),  # 6 x 8 cm field, huge muscle
        dict(shape=(600, 300), left_csa_cm2=9.0),  # 6 cm wide field
        dict(shape=(150, 800), left_csa_cm2=9.0),  # 3 cm deep field
        dict(sector="curved", left_csa_cm2=25.0),
        dict(left_csa_cm2=0.0),
        dict(left_csa_cm2=-3.0),
        dict(left_csa_cm2=float("nan")),
        dict(left_csa_cm2=80.0),
        dict(asymmetry_pct=100.0),
        dict(asymmetry_pct=-1.0),
        dict(smaller_side="middle"),
        dict(sector="phased"),
        dict(lateral_contrast=1.5),
        dict(gain=0.0),
        dict(spacing_mm=0.0),
        dict(spacing_mm=(0.2, 0.2, 0.2)),
        dict(shape=(10, 10)),
        dict(shape=(600, 800), spacing_mm=2.0),  # muscle spans only a few pixels
    ],
)
def test_impossible_requests_raise(kw):
    with pytest.raises(ValueError):
        make_phantom(**kw)


def test_bad_shape_error_keeps_its_cause():
    with pytest.raises(ValueError, match="shape must be") as info:
        make_phantom(shape=("a", 600))
    assert isinstance(info.value.__cause__, ValueError)  # int("a"), chained with "from e"


def test_does_not_fit_message_says_why():
    with pytest.raises(ValueError, match="wide"):
        make_phantom(shape=(600, 300), left_csa_cm2=9.0)


def test_rgb_export(default):
    p = default
    rgb = make_rgb_export(p, calipers=True, seed=0)
    assert rgb.shape == p.image.shape + (3,) and rgb.dtype == np.uint8
    coloured = (rgb[..., 0] != rgb[..., 1]) | (rgb[..., 1] != rgb[..., 2])
    assert coloured.sum() > 100
    # elsewhere the gray content is unchanged
    for k in range(3):
        np.testing.assert_array_equal(rgb[..., k][~coloured], p.image[~coloured])
    # every coloured pixel is saturated yellow or green
    cols = {tuple(v) for v in rgb[coloured]}
    assert cols <= {(255, 255, 0), (0, 255, 0)}
    # yellow marks lie on the outlines (within 1.5 mm), green text in the bottom-right
    yellow = np.all(rgb == (255, 255, 0), axis=-1)
    green = np.all(rgb == (0, 255, 0), axis=-1)
    assert yellow.any() and green.any()
    yr, yc = np.nonzero(yellow)
    pts = np.vstack([p.outlines["left"], p.outlines["right"]])
    d = np.hypot(yr[:, None] - pts[None, :, 0], yc[:, None] - pts[None, :, 1]).min(axis=1)
    assert d.max() * p.spacing_mm[0] < 1.5 + 2.0  # caliper error 0.5 mm + marker arm 1 mm + margin
    gr, gc = np.nonzero(green)
    assert gr.min() > 0.8 * p.image.shape[0] and gc.min() > 0.3 * p.image.shape[1]
    assert not (green & (p.masks["left"] | p.masks["right"])).any()
    # deterministic, and no colour without calipers
    assert make_rgb_export(p, calipers=True, seed=0).tobytes() == rgb.tobytes()
    plain = make_rgb_export(p, calipers=False)
    assert not ((plain[..., 0] != plain[..., 1]) | (plain[..., 1] != plain[..., 2])).any()
    np.testing.assert_array_equal(plain[..., 1], p.image)


def test_params_are_json_serialisable(default):
    import json

    back = json.loads(json.dumps(default.params))
    assert back["seed"] == 0 and back["sector"] == "linear"
    assert back["shape"] == [600, 800]
    assert back["left_csa_cm2"] == pytest.approx(default.true_csa_cm2["left"], abs=1e-9)


def test_property_area_and_asymmetry_over_random_requests():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=12, deadline=None, derandomize=True)
    @given(
        seed=st.integers(0, 10_000),
        left=st.floats(3.0, 12.0),
        asym=st.floats(0.0, 40.0),
        smaller=st.sampled_from(["left", "right"]),
        jitter=st.floats(0.0, 2.0),
    )
    def check(seed, left, asym, smaller, jitter):
        p = make_phantom(
            seed=seed,
            left_csa_cm2=left,
            asymmetry_pct=asym,
            smaller_side=smaller,
            shape_jitter=jitter,
            burned_in_text=False,
            ruler=False,
            speckle=0.0,
        )
        row_mm, col_mm = p.spacing_mm
        areas = {s: shoelace(p.outlines[s]) * row_mm * col_mm / 100 for s in ("left", "right")}
        assert areas["left"] == pytest.approx(left, abs=1e-6)
        big, small = max(areas.values()), min(areas.values())
        assert (big - small) / big * 100 == pytest.approx(asym, abs=1e-6)
        assert not (p.masks["left"] & p.masks["right"]).any()

    check()


def test_dicom_writer_keeps_the_cause_of_a_missing_encoder(tmp_path, monkeypatch):
    import sys

    from mfscan.synthetic.dicom import write_us_dicom

    monkeypatch.setitem(sys.modules, "imagecodecs", None)  # "import imagecodecs" raises ImportError
    with pytest.raises(ImportError, match="imagecodecs") as info:
        write_us_dicom(tmp_path / "x.dcm", np.zeros((8, 8), np.uint8), transfer_syntax="jpeg-lossless")
    assert isinstance(info.value.__cause__, ImportError)  # chained with "from e", not "from None"
    assert not (tmp_path / "x.dcm").exists()
