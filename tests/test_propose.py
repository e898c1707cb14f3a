"""Semi-automatic outlining: proposals, live wire, `mfscan propose`, method bookkeeping."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from shapely.geometry import LinearRing, Point

from mfscan.annotations import ROI, Annotation, read_sidecar, write_sidecar
from mfscan.assist.livewire import LivewireError, livewire_path, trace_livewire
from mfscan.assist.propose import (
    Proposal,
    ProposalError,
    edited_method,
    propose_outline,
)
from mfscan.calibration import manual
from mfscan.cli import main
from mfscan.errors import MfscanError
from mfscan.geometry import polygon_area
from mfscan.measure import validate_outline
from mfscan.synthetic.phantom import make_phantom


def dice(prop: Proposal, ph, side):
    pred = prop.to_mask(ph.image.shape)
    truth = ph.masks[side]
    return 2 * np.count_nonzero(pred & truth) / (np.count_nonzero(pred) + np.count_nonzero(truth))


def csa_err_pct(prop, ph, side):
    area = polygon_area(prop.points, spacing=ph.spacing_mm) / 100
    return (area - ph.true_csa_cm2[side]) / ph.true_csa_cm2[side] * 100


PHANTOMS = {
    "default": dict(seed=11),
    "faint-lateral": dict(seed=12, lateral_contrast=0.35),
    "curved": dict(seed=13, sector="curved", gain=0.8),
    "asym-small": dict(seed=16, asymmetry_pct=25, spacing_mm=0.22, shape=(480, 640)),
    "calipers-bright": dict(seed=15, caliper_overlay=True, gain=1.3, contrast=1.2),
}


@pytest.fixture(scope="module")
def phantoms():
    return {k: make_phantom(**kw) for k, kw in PHANTOMS.items()}


@pytest.mark.parametrize("name", list(PHANTOMS))
@pytest.mark.parametrize("side", ["left", "right"])
def test_proposal_matches_truth(phantoms, name, side):
    ph = phantoms[name]
    before = ph.image.copy()
    prop = propose_outline(ph.image, ph.seeds[side], spacing=ph.spacing_mm, side=side)
    assert np.array_equal(ph.image, before)  # input not modified
    assert prop.points.shape == (64, 2)
    validate_outline(prop.points, shape=ph.image.shape)  # simple polygon on the image
    assert dice(prop, ph, side) >= 0.9
    assert abs(csa_err_pct(prop, ph, side)) <= 6.0
    assert 0.0 <= prop.confidence <= 1.0
    assert prop.confidence > 0.5


def test_known_weak_case_stays_bounded():
    """Coarse pixels with strong speckle: the lower border stops short (see
    benchmarks/bench_propose.py). Today CSA is about 12% low with Dice 0.93; this
    guards against it getting worse."""
    ph = make_phantom(seed=14, asymmetry_pct=25, spacing_mm=0.22, shape=(480, 640))
    prop = propose_outline(ph.image, ph.seeds["left"], spacing=ph.spacing_mm)
    err = csa_err_pct(prop, ph, "left")
    assert err >= -15.0  # today about -12%: must not get worse
    m = prop.to_mask(ph.image.shape)
    assert 2 * (m & ph.masks["left"]).sum() / (m.sum() + ph.masks["left"].sum()) >= 0.9


def test_jittered_seed_and_vertices(phantoms):
    ph = phantoms["default"]
    r, c = ph.seeds["left"]
    seed = (r + 3.0 / ph.spacing_mm[0], c - 2.0 / ph.spacing_mm[1])  # 3.6 mm off
    prop = propose_outline(ph.image, seed, spacing=ph.spacing_mm, n_vertices=100)
    assert prop.points.shape == (100, 2)
    assert dice(prop, ph, "left") >= 0.9


def test_uncalibrated_and_float_image(phantoms):
    ph = phantoms["default"]
    prop = propose_outline(ph.image.astype(np.float32) / 255.0, ph.seeds["right"])
    assert dice(prop, ph, "right") >= 0.9
    assert prop.details["calibrated"] is False


def test_border_points_are_honoured(phantoms):
    ph = phantoms["default"]
    target = ph.outlines["left"][40]
    prop = propose_outline(
        ph.image, ph.seeds["left"], spacing=ph.spacing_mm, border_points=[target], n_vertices=360
    )
    d = np.hypot(*(prop.points - target).T).min()
    assert d < 2.5


def test_box_limits_the_outline(phantoms):
    ph = phantoms["default"]
    r, c = ph.seeds["left"]
    box = (r - 30, c - 30, r + 30, c + 30)
    prop = propose_outline(ph.image, ph.seeds["left"], spacing=ph.spacing_mm, box=box)
    assert prop.points[:, 0].min() >= box[0] - 0.5 and prop.points[:, 0].max() <= box[2] + 0.5
    assert prop.points[:, 1].min() >= box[1] - 0.5 and prop.points[:, 1].max() <= box[3] + 0.5
    assert prop.confidence < 0.5  # the box cut the muscle: check it


def test_burned_in_text_does_not_attract(phantoms):
    ph = phantoms["default"]
    # stamp text right beside the muscle: the outline must not change much
    img = ph.image.copy()
    top = int(ph.outlines["left"][:, 0].min())
    cv2.putText(
        img,
        "L4 TRANS 12:34",
        (int(ph.outlines["left"][:, 1].max()) - 60, top + 40),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.4,
        255,
        1,
        cv2.LINE_AA,
    )
    prop = propose_outline(img, ph.seeds["left"], spacing=ph.spacing_mm)
    assert dice(prop, ph, "left") >= 0.9


# ----------------------------------------------------------------- refusals


def test_seed_outside_image(phantoms):
    ph = phantoms["default"]
    with pytest.raises(ProposalError, match="outside the 600x800 image"):
        propose_outline(ph.image, (-5, 100), spacing=ph.spacing_mm)
    with pytest.raises(ProposalError):
        propose_outline(ph.image, (100, 800.2), spacing=ph.spacing_mm)
    assert issubclass(ProposalError, MfscanError)


def test_seed_outside_curved_sector(phantoms):
    ph = phantoms["curved"]
    far = cv2.distanceTransform((ph.sector | ph.landmarks["overlay_mask"]).view(np.uint8) ^ 1, cv2.DIST_L2, 5)
    r, c = np.unravel_index(
        np.argmax(np.where(np.arange(far.shape[1]) < far.shape[1] // 2, far, 0)), far.shape
    )  # a black pixel left of the fan, far from text
    assert not ph.sector[r, c]
    with pytest.raises(ProposalError, match="outside the imaged sector"):
        propose_outline(ph.image, (r, c), spacing=ph.spacing_mm)


def test_seed_in_shadow_below_lamina(phantoms):
    ph = phantoms["default"]
    r = ph.landmarks["lamina_rows"]["left"] + 8 / ph.spacing_mm[0]
    c = ph.seeds["left"][1]
    with pytest.raises(ProposalError, match="dark region"):
        propose_outline(ph.image, (r, c), spacing=ph.spacing_mm)


@pytest.mark.parametrize("name", ["default", "curved"])
def test_seed_on_fascia(phantoms, name):
    ph = phantoms[name]
    for side in ("left", "right"):
        r = ph.landmarks["fascia_rows"][side]
        with pytest.raises(ProposalError, match="bright structure"):
            propose_outline(ph.image, (r, ph.seeds[side][1]), spacing=ph.spacing_mm)


def test_bad_arguments(phantoms):
    ph = phantoms["default"]
    with pytest.raises(ValueError):
        propose_outline(np.zeros((3, 4, 5)), (1, 1))
    with pytest.raises(ValueError):
        propose_outline(ph.image, ph.seeds["left"], spacing=(0, 0.2))
    with pytest.raises(ProposalError):
        propose_outline(np.zeros((100, 100), np.uint8), (50, 50))


# ----------------------------------------------------------------- live wire


def _mean_distance(path, truth):
    ring = LinearRing(truth)
    return float(np.mean([ring.distance(Point(*p)) for p in path]))


def _straight(clicks):
    out = []
    for a, b in zip(clicks, np.roll(clicks, -1, axis=0)):
        n = int(np.ceil(np.hypot(*(b - a)))) + 1
        out.append(np.linspace(a, b, n)[:-1])
    return np.vstack(out)


@pytest.mark.parametrize("name", ["default", "curved"])
def test_livewire_follows_the_border(phantoms, name):
    ph = phantoms[name]
    truth = ph.outlines["left"]
    clicks = truth[::20]  # 8 clicks on the true outline
    path = trace_livewire(ph.image, clicks)
    validate_outline(path, shape=ph.image.shape)
    d_wire = _mean_distance(path, truth)
    d_straight = _mean_distance(_straight(clicks), truth)
    # about 1.3-1.6 px on the phantoms: the wire runs on pixel centres on the
    # bright side of each step, and medially on the shadow's edge just outside
    # the faint spinous-process line (see the report); straight lines: 2.3-2.9 px
    assert d_wire < 1.7
    assert d_wire < 0.75 * d_straight
    area = polygon_area(path, spacing=ph.spacing_mm) / 100
    assert abs(area - ph.true_csa_cm2["left"]) / ph.true_csa_cm2["left"] < 0.06


def test_livewire_skimage_backend_and_endpoints(phantoms):
    ph = phantoms["default"]
    a, b = ph.outlines["left"][0], ph.outlines["left"][20]
    p = livewire_path(ph.image, a, b, backend="skimage")
    assert tuple(p[0]) == tuple(np.round(a)) and tuple(p[-1]) == tuple(np.round(b))
    steps = np.abs(np.diff(p, axis=0)).max(axis=1)
    assert steps.max() <= 1  # 8-connected
    with pytest.raises(LivewireError):
        livewire_path(ph.image, a, (1e4, 5))
    with pytest.raises(LivewireError):
        trace_livewire(ph.image, [a, b])  # a closed outline needs 3 clicks


# ----------------------------------------------------------------- CLI and bookkeeping


def test_edited_method():
    assert edited_method("proposed", True) == "proposed-edited"
    assert edited_method("proposed", False) == "proposed"
    assert edited_method("proposed-edited", True) == "proposed-edited"
    assert edited_method("manual", True) == "manual"
    assert edited_method("livewire", True) == "livewire"
    assert edited_method(None, True) == "manual"


def test_cli_propose_writes_sidecar(tmp_path, phantoms, capsys):
    ph = phantoms["default"]
    img = tmp_path / "scan01.png"
    cv2.imwrite(str(img), ph.image)
    (rl, cl), (rr, cr) = ph.seeds["left"], ph.seeds["right"]
    args = [
        str(img),
        "--seed",
        f"left:{rl},{cl}",
        "--seed",
        f"R:{rr},{cr}",
        "--mm-per-pixel",
        "0.2",
        "--level",
        "L4",
        "--rater",
        "R1",
        "--subject",
        "P01",
        "--visit",
        "1",
    ]
    assert main(["propose", *args]) == 0
    out = capsys.readouterr().out
    assert "left: CSA" in out and "right: CSA" in out
    side_path = tmp_path / "scan01.R1.mfscan.json"
    ann = read_sidecar(side_path)
    assert ann.level == "L4" and ann.rater == "R1" and ann.subject == "P01"
    assert sorted(r.side for r in ann.rois) == ["left", "right"]
    for roi in ann.rois:
        assert roi.method == "proposed"
        assert 0 <= roi.extra["confidence"] <= 1
    # refuses to replace the outlines it wrote, unless --force; another visit code is a conflict
    assert main(["propose", *args]) == 1
    assert "already has an outline for left (proposed), right (proposed)" in capsys.readouterr().err
    assert main(["propose", *args, "--force"]) == 0
    args[-1] = "2"
    assert main(["propose", *args, "--force"]) == 1
    assert "visit is '1' but --visit '2'" in capsys.readouterr().err
    # a bad seed is reported without a traceback
    assert (
        main(
            [
                "propose",
                str(img),
                "--seed",
                "left:5000,10",
                "--mm-per-pixel",
                "0.2",
                "-o",
                str(tmp_path / "x.json"),
            ]
        )
        == 1
    )
    assert "outside" in capsys.readouterr().err


def test_edit_bookkeeping_through_save(tmp_path, phantoms):
    ph = phantoms["default"]
    prop = propose_outline(ph.image, ph.seeds["left"], spacing=ph.spacing_mm)
    ann = Annotation(
        "scan.png",
        [ROI("left", prop.points, method="proposed", extra={"confidence": round(prop.confidence, 3)})],
        calibration=manual(*ph.spacing_mm),
    )
    path = tmp_path / "scan.mfscan.json"
    write_sidecar(path, ann)
    loaded = read_sidecar(path)
    roi = loaded.rois[0]
    # the rater drags one vertex
    new = roi.points.copy()
    new[3] += (1.5, -2.0)
    changed = not np.array_equal(new, roi.points)
    roi.points = new
    roi.method = edited_method(roi.method, changed)
    write_sidecar(path, loaded)
    again = read_sidecar(path)
    assert again.rois[0].method == "proposed-edited"
    assert again.rois[0].extra["confidence"] == round(prop.confidence, 3)
    assert json.loads(path.read_text())["rois"][0]["method"] == "proposed-edited"


def test_closed_livewire_never_collapses_at_the_first_click():
    # Before the fix, about one closed trace in four collapsed where it closed:
    # the wire back into the first click retraced the first wire's pixels.
    from mfscan.geometry import polygon_area

    worst = 0.0
    for seed in (0, 3, 5):
        ph = make_phantom(seed=seed, shape=(480, 640), spacing_mm=0.25)
        for side in ("left", "right"):
            true = ph.outlines[side]
            for n, off in ((4, 0), (6, 7), (8, 0), (12, 7)):
                idx = (np.linspace(0, len(true), n, endpoint=False).astype(int) + off) % len(true)
                pts = trace_livewire(ph.image, true[idx], closed=True)
                worst = max(worst, abs(polygon_area(pts) / polygon_area(true) - 1))
    assert worst < 0.10


def test_seed_on_burned_in_text_is_refused_not_a_blob(phantoms):
    ph = phantoms["default"]
    for r0, c0, r1, c1 in ph.landmarks["text_boxes"]:  # "SYNTHETIC", "L4 TRANS", depth, label
        with pytest.raises(ProposalError, match="burned-in|bright structure"):
            propose_outline(ph.image, ((r0 + r1) / 2, (c0 + c1) / 2), spacing=ph.spacing_mm)
    with pytest.raises(ProposalError, match="burned-in|no plausible"):
        propose_outline(ph.image, (5, 5), spacing=ph.spacing_mm)  # the corner of the first text


# ----------------------------------------------------------------- one geometry, chained errors


def test_proposal_uses_the_geometry_module(phantoms):
    from shapely.geometry import Polygon

    import mfscan.assist.propose as propose_mod
    import mfscan.geometry as geometry

    assert propose_mod.resample_closed is geometry.resample_closed
    ph = phantoms["default"]
    prop = propose_outline(ph.image, ph.seeds["right"], spacing=ph.spacing_mm)
    r, c = prop.points[:, 0], prop.points[:, 1]
    # counter-clockwise as displayed: sum(r[i] c[i+1] - r[i+1] c[i]) > 0, written out here
    twice_area = sum(r[i] * c[(i + 1) % len(r)] - r[(i + 1) % len(r)] * c[i] for i in range(len(r)))
    assert twice_area > 0
    # solidity = area / convex hull area, computed independently with shapely
    poly = Polygon(prop.points)
    assert prop.details["solidity"] == pytest.approx(poly.area / poly.convex_hull.area, abs=1e-4)


def test_argument_errors_keep_their_cause(phantoms):
    ph = phantoms["default"]
    with pytest.raises(ValueError, match=r"^spacing must be \(row_mm, col_mm\), got 'ab'$") as ei:
        propose_outline(ph.image, ph.seeds["left"], spacing="ab")
    assert isinstance(ei.value.__cause__, ValueError)  # float('a') failed
    with pytest.raises(ValueError, match=r"^seed must be \(row, col\), got 'xy'$") as ei:
        propose_outline(ph.image, "xy", spacing=ph.spacing_mm)
    assert isinstance(ei.value.__cause__, ValueError)
    with pytest.raises(ValueError, match=r"^the start point must be \(row, col\), got 'ab'$") as ei:
        livewire_path(ph.image, "ab", (4, 4))
    assert isinstance(ei.value.__cause__, ValueError)
    assert ei.value.__suppress_context__  # shown as "the direct cause", not "during handling"


def test_low_confidence_refusal_names_the_seed(phantoms):
    # edges switched off: no contour has edge support, confidence 0
    ph = phantoms["default"]
    r, c = ph.seeds["left"]
    for seed in ((r, c), np.array([[r, c]])):  # any (row, col) shape the seed parser accepts
        msg = rf"around the seed \({r:.0f}, {c:.0f}\) \(outline score 0.00\)"
        with pytest.raises(ProposalError, match=msg):
            propose_outline(ph.image, seed, spacing=ph.spacing_mm, params={"w_edge": 0.0, "w_fall": 0.0})


def test_public_names_stay_importable_from_propose():
    from mfscan.assist import propose as m

    assert m.MIN_CONFIDENCE == 0.2 and m.PARAMS["n_rays"] == 180 and m.SEARCH_RADIUS_MM == 40.0
    assert m.ProposalError.__module__ == "mfscan.assist.propose" and issubclass(m.ProposalError, MfscanError)
    marks = m.overlay_mask(np.pad(np.full((1, 9), 255, np.uint8), 10))  # a 1-pixel bright stroke
    assert marks[10, 10] and marks[9, 10] and not marks[0, 0] and marks.sum() == 3 * 11
