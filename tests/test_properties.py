"""Property-based tests (hypothesis): geometry invariants, sidecar round trips,
the symptomatic deficit and the side/level spellings every reader shares.

The asymmetry indexes' own properties (symmetry under swapping sides, bounds,
functions of r = max / min) are in tests/test_asymmetry.py.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mfscan import vocab
from mfscan.annotations import (
    ROI,
    Annotation,
    dumps,
    normalize_side,
    read_sidecar,
    write_sidecar,
)
from mfscan.annotations.imagej import parse_roi_name
from mfscan.calibration import from_scale_line, manual
from mfscan.geometry import polygon_area, polygon_perimeter
from mfscan.io.tables import set_dtypes
from mfscan.measure import measure_outline, outline_mask, validate_outline
from mfscan.stats.asymmetry import asymmetry_pct, symptomatic_deficit_pct
from mfscan.vocab import LEVELS, METHODS, SIDES, as_level, as_side

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- strategies

spacing_values = st.floats(0.01, 2.0, allow_nan=False)
spacings = st.tuples(spacing_values, spacing_values)


@st.composite
def star_polygons(draw, min_n=3, max_n=40):
    """Simple (star-shaped) polygons: distinct sorted angles around a centre, radii 2-80 px."""
    n = draw(st.integers(min_n, max_n))
    gaps = np.array(draw(st.lists(st.floats(0.05, 1.0), min_size=n, max_size=n)))
    angles = np.cumsum(gaps) / gaps.sum() * 2 * np.pi
    radii = np.array(draw(st.lists(st.floats(2.0, 80.0), min_size=n, max_size=n)))
    centre = np.array([draw(st.floats(90.0, 110.0)), draw(st.floats(90.0, 110.0))])
    pts = centre + np.column_stack([radii * np.sin(angles), radii * np.cos(angles)])
    assume(shapely.is_simple(shapely.LinearRing(pts)) and polygon_area(pts) > 1.0)
    return pts


def close(a, b, scale):
    """Equal up to rounding of coordinates of magnitude `scale`."""
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * scale)


# --------------------------------------------------------------------------- geometry


@SETTINGS
@given(star_polygons(), spacings, st.floats(-500, 500), st.floats(-500, 500))
def test_translation_invariance(pts, spacing, dr, dc):
    moved = pts + [dr, dc]
    scale = 1000.0**2
    assert close(polygon_area(moved, spacing=spacing), polygon_area(pts, spacing=spacing), scale)
    assert close(polygon_perimeter(moved, spacing=spacing), polygon_perimeter(pts, spacing=spacing), 1000.0)
    a = measure_outline(pts, spacing=spacing)
    b = measure_outline(moved, spacing=spacing)
    for k in ("csa_px2", "perimeter_px", "ap_depth_px", "lateral_width_px", "csa_cm2", "perimeter_cm"):
        assert close(a[k], b[k], scale), k


@SETTINGS
@given(star_polygons(), spacings)
def test_rotation_by_90_degrees_with_swapped_spacing(pts, spacing):
    """Rotating the image a quarter turn (row, col) -> (col, -row) swaps the pixel sizes."""
    rot = np.column_stack([pts[:, 1], -pts[:, 0]])
    swapped = (spacing[1], spacing[0])
    area = polygon_area(pts, spacing=spacing)
    assert close(polygon_area(rot, spacing=swapped), area, 1e4)
    assert close(polygon_perimeter(rot, spacing=swapped), polygon_perimeter(pts, spacing=spacing), 1e3)
    a = measure_outline(pts, spacing=spacing)
    b = measure_outline(rot, spacing=swapped)
    assert close(b["csa_cm2"], a["csa_cm2"], 1.0)
    assert close(b["ap_depth_cm"], a["lateral_width_cm"], 1.0)
    assert close(b["lateral_width_cm"], a["ap_depth_cm"], 1.0)
    assert b["shape_ratio"] == pytest.approx(1.0 / a["shape_ratio"], rel=1e-9)


@SETTINGS
@given(star_polygons(), spacings, st.integers(0, 1000))
def test_vertex_order_reversal_and_cyclic_shift(pts, spacing, shift):
    variants = [
        pts[::-1],
        np.roll(pts, shift % len(pts), axis=0),
        np.roll(pts[::-1], shift % len(pts), axis=0),
    ]
    ref = measure_outline(pts, spacing=spacing)
    box, mask = outline_mask(pts, (220, 220))
    for v in variants:
        m = measure_outline(v, spacing=spacing)
        for k in (
            "csa_px2",
            "perimeter_px",
            "ap_depth_px",
            "lateral_width_px",
            "csa_cm2",
            "perimeter_cm",
            "ap_depth_cm",
            "lateral_width_cm",
        ):
            assert close(m[k], ref[k], 1e4), k
        vbox, vmask = outline_mask(v, (220, 220))
        assert vbox == box
        assert np.array_equal(vmask, mask)  # the same pixels, whatever the order of the vertices


@SETTINGS
@given(star_polygons(), spacings)
def test_scaling_by_spacing(pts, spacing):
    sr, sc = spacing
    px_area = polygon_area(pts)
    assert close(polygon_area(pts, spacing=spacing), px_area * sr * sc, 1e4)
    # anisotropic spacing is the same as stretching the outline
    assert close(polygon_perimeter(pts, spacing=spacing), polygon_perimeter(pts * [sr, sc]), 1e3)
    assert close(polygon_perimeter(pts, spacing=(sr, sr)), sr * polygon_perimeter(pts), 1e3)
    m = measure_outline(pts, spacing=spacing)
    assert close(m["csa_cm2"], m["csa_px2"] * sr * sc / 100.0, 1.0)
    assert close(m["ap_depth_cm"], m["ap_depth_px"] * sr / 10.0, 1.0)
    assert close(m["lateral_width_cm"], m["lateral_width_px"] * sc / 10.0, 1.0)
    # uncalibrated: pixel values only, and they do not depend on any spacing
    u = measure_outline(pts)
    assert math.isnan(u["csa_cm2"]) and math.isnan(u["perimeter_cm"])
    assert u["csa_px2"] == m["csa_px2"] and u["perimeter_px"] == m["perimeter_px"]


@SETTINGS
@given(star_polygons())
def test_shoelace_agrees_with_shapely_and_outline_is_valid(pts):
    poly = shapely.Polygon(pts)
    assert polygon_area(pts) == pytest.approx(poly.area, rel=1e-9)
    assert polygon_perimeter(pts) == pytest.approx(poly.length, rel=1e-9)
    cleaned = validate_outline(pts, shape=(220, 220))
    assert np.array_equal(cleaned, pts)
    # repeating the first vertex at the end, or double clicks, change nothing
    doubled = np.repeat(pts, 2, axis=0)
    assert np.array_equal(validate_outline(np.vstack([doubled, pts[:1]])), pts)


@SETTINGS
@given(star_polygons(min_n=4), st.integers(0, 100))
def test_self_intersection_always_detected(pts, k):
    """Swapping two non-adjacent vertices of a convex polygon makes it cross itself."""
    hull = np.asarray(shapely.Polygon(pts).convex_hull.exterior.coords)[:-1]
    assume(len(hull) >= 4)
    i = k % len(hull)
    j = (i + 2) % len(hull)
    bad = hull.copy()
    bad[[i, j]] = bad[[j, i]]
    assume(not shapely.is_simple(shapely.LinearRing(bad)))
    from mfscan.errors import MeasurementError

    with pytest.raises(MeasurementError, match="crosses itself"):
        validate_outline(bad)


# --------------------------------------------------------------------------- sidecar round trip

codes = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), max_size=12)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
coords = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@st.composite
def rois(draw):
    n = draw(st.integers(3, 30))
    points = np.array(draw(st.lists(st.tuples(coords, coords), min_size=n, max_size=n)), dtype=float)
    extra = draw(
        st.dictionaries(
            st.text(min_size=1, max_size=10).filter(
                lambda k: k not in ("side", "points", "level", "frame", "region", "method")
            ),
            json_values,
            max_size=3,
        )
    )
    return ROI(
        side=draw(st.sampled_from(SIDES)),
        points=points,
        level=draw(st.none() | st.sampled_from(LEVELS)),
        frame=draw(st.none() | st.integers(0, 10_000)),
        region=draw(st.none() | st.integers(0, 16)),
        method=draw(st.sampled_from(METHODS) | st.text(max_size=10)),
        extra=extra,
    )


calibrations = (
    st.none()
    | st.builds(manual, st.floats(0.001, 5.0), st.floats(0.001, 5.0))
    | st.builds(
        lambda r, length: from_scale_line((10.0, 5.0), (10.0 + r, 5.0), length),
        st.floats(2.0, 2000.0),
        st.floats(1.0, 200.0),
    )
)

TOP_KEYS = (
    "format",
    "version",
    "image",
    "image_sha256",
    "calibration",
    "subject",
    "visit",
    "session",
    "level",
    "rater",
    "rois",
)


@st.composite
def annotations(draw):
    return Annotation(
        image=draw(st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_ .-]{0,20}\.(png|dcm|tif)", fullmatch=True)),
        rois=draw(st.lists(rois(), max_size=4)),
        calibration=draw(calibrations),
        subject=draw(st.none() | codes),
        visit=draw(st.none() | codes),
        level=draw(st.none() | st.sampled_from(LEVELS)),
        rater=draw(st.none() | st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,6}", fullmatch=True)),
        session=draw(
            st.none() | st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,6}", fullmatch=True)
        ),  # a file-name code
        image_sha256=draw(st.none() | st.from_regex(r"[0-9a-f]{64}", fullmatch=True)),
        extra=draw(
            st.dictionaries(
                st.text(min_size=1, max_size=10).filter(lambda k: k not in TOP_KEYS), json_values, max_size=3
            )
        ),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(annotations())
def test_sidecar_round_trip(ann):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "scan.mfscan.json"
        write_sidecar(path, ann)
        back = read_sidecar(path)
        assert back == ann
        assert [len(r.points) for r in back.rois] == [len(r.points) for r in ann.rois]
        assert back.calibration == ann.calibration
        if ann.calibration is not None:
            assert back.calibration.details == ann.calibration.details
        # reading and saving again changes nothing, byte for byte
        text = path.read_bytes()
        write_sidecar(path, back)
        assert path.read_bytes() == text
        assert dumps(back) == dumps(ann)
        assert sorted(p.name for p in Path(d).iterdir()) == ["scan.mfscan.json"]


# --------------------------------------------------------------------------- symptomatic deficit

sizes = st.floats(0.01, 100.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(sizes, sizes, st.sampled_from(["left", "right"]))
def test_symptomatic_deficit_relates_to_the_indexes(left, right, side):
    d = symptomatic_deficit_pct(left, right, side)
    sym, other = (left, right) if side == "left" else (right, left)
    if sym <= other:  # the painful side is the smaller: Hides' asymmetry, positive
        assert d == pytest.approx(asymmetry_pct(left, right), abs=1e-9)
        assert 0.0 <= d < 100.0
    else:  # larger: minus the smaller-side index, negative
        assert d == pytest.approx(-asymmetry_pct(left, right, index="smaller-side"), rel=1e-9)
        assert d < 0.0
    # naming the other side as painful mirrors the definition
    opposite = symptomatic_deficit_pct(right, left, "right" if side == "left" else "left")
    assert opposite == pytest.approx(d, rel=1e-12, abs=1e-12)
    for none in ("none", "bilateral", None):
        assert math.isnan(symptomatic_deficit_pct(left, right, none))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(sizes, sizes, st.sampled_from(["left", "right", "none", "LEFT", "Right"])),
        min_size=1,
        max_size=20,
    )
)
def test_vectorised_equals_elementwise(rows):
    left = np.array([r[0] for r in rows])
    right = np.array([r[1] for r in rows])
    sides = [r[2] for r in rows]
    vec = symptomatic_deficit_pct(left, right, sides)
    one = [symptomatic_deficit_pct(l, r, s) for l, r, s in rows]
    np.testing.assert_allclose(vec, one, rtol=1e-12, equal_nan=True)
    for index in ("hides", "smaller-side", "index"):
        np.testing.assert_allclose(
            asymmetry_pct(left, right, index=index),
            [asymmetry_pct(l, r, index=index) for l, r, _ in rows],
            rtol=1e-12,
        )


# --------------------------------------------------------------------------- one vocabulary


@st.composite
def spelled(draw, words):
    """A word in random letter case with random spaces/tabs around it."""
    word = draw(st.sampled_from(sorted(words)))
    cased = "".join(c.upper() if draw(st.booleans()) else c.lower() for c in word)
    pad = st.text(alphabet=" \t", max_size=3)
    return draw(pad) + cased + draw(pad)


@SETTINGS
@given(spelled(vocab.SIDE_SPELLINGS))
def test_every_reader_gives_the_same_side_for_any_case_and_padding(text):
    side = vocab.SIDE_SPELLINGS[text.strip().lower()]
    assert side in SIDES
    assert normalize_side(text) == side
    assert set_dtypes(pd.DataFrame({"side": [text]}))["side"].tolist() == [side]
    assert as_side([text]).tolist() == [side]
    assert vocab.as_symptomatic_side([text]).tolist() == [side]
    assert symptomatic_deficit_pct(8.0, 7.2, text) == pytest.approx(10.0 if side == "right" else -100 / 9)
    assert parse_roi_name(text) == (side, None)


@SETTINGS
@given(spelled(LEVELS))
def test_every_reader_gives_the_same_level_for_any_case_and_padding(text):
    level = text.strip().upper()
    assert vocab.normalize_level(text) == level
    assert set_dtypes(pd.DataFrame({"level": [text]}))["level"].tolist() == [level]
    assert as_level([text]).tolist() == [level]
    assert parse_roi_name(f"left-{text}") == ("left", level)
