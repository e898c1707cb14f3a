"""The proposal's confidence and its low-confidence flag: hand values and planted good / bad cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage as ndi

from mfscan.annotations import read_sidecar
from mfscan.assist._confidence import _plausible, combine
from mfscan.assist.propose import LOW_CONFIDENCE, Proposal, ProposalError, propose_outline
from mfscan.geometry import polygon_area
from mfscan.io.images import load_image
from mfscan.measure import outline_mask
from mfscan.synthetic.phantom import make_phantom

SAMPLE = Path(__file__).parents[1] / "sample_data" / "study" / "S02" / "visit1"
GOOD = dict(
    edge_support=0.8,
    agreement=0.95,
    contrast=1.0,
    regular=1.0,
    leak=0.0,
    plausible=1.0,
    width_clipped=False,
    open_border=0.0,
)


def test_flag_threshold_and_property():
    sq = [[0, 0], [0, 10], [10, 10], [10, 0]]
    assert LOW_CONFIDENCE == 0.5
    assert Proposal(np.array(sq, float), 0.49).low_confidence
    assert not Proposal(np.array(sq, float), 0.5).low_confidence


def test_combine_by_hand():
    assert combine(GOOD) == pytest.approx(1.0)
    # edge support 60 %: ramp 40 -> 80 % gives 0.5, cube root of the product 0.5 ** (1/3)
    assert combine(dict(GOOD, edge_support=0.6)) == pytest.approx(0.5 ** (1 / 3))
    # 5 % of the rays at their limit halve it; a clipped width costs 20 %; solidity ramp 0 halves it
    assert combine(dict(GOOD, leak=0.05)) == pytest.approx(0.5)
    assert combine(dict(GOOD, width_clipped=True)) == pytest.approx(0.8)
    assert combine(dict(GOOD, regular=0.0)) == pytest.approx(0.5)
    assert combine(dict(GOOD, open_border=0.9)) == pytest.approx(1.0)  # a diagnostic, not a factor
    assert combine(dict(GOOD, leak=0.1)) == 0.0 and combine(dict(GOOD, agreement=0.6)) == 0.0


def test_plausible_area_and_depth():
    assert _plausible(800.0, 30.0) == 1.0  # 8 cm², 30 mm deep
    assert _plausible(50.0, 30.0) == 0.0  # 0.5 cm²: under half of 1.5 cm²
    assert _plausible(3000.0, 30.0) == pytest.approx(0.5)  # 30 cm²: (40 - 30) / 20
    assert _plausible(800.0, 6.0) == 0.0  # 6 mm deep: half of 12 mm


def _dice(points, truth_mask):
    box, m = outline_mask(points, truth_mask.shape)
    pred = np.zeros(truth_mask.shape, bool)
    pred[box] = m
    return 2 * np.count_nonzero(pred & truth_mask) / (np.count_nonzero(pred) + np.count_nonzero(truth_mask))


@pytest.mark.parametrize("seed", [11, 13])
def test_good_phantom_proposal_is_not_flagged(seed):
    ph = make_phantom(seed=seed)
    for side in ("left", "right"):
        prop = propose_outline(ph.image, ph.seeds[side], spacing=ph.spacing_mm)
        assert _dice(prop.points, ph.masks[side]) > 0.93
        assert not prop.low_confidence and prop.confidence >= LOW_CONFIDENCE


def test_blob_in_anatomy_free_speckle_is_flagged():
    # fully developed speckle, nothing else: any outline is a blob of texture
    rng = np.random.default_rng(500)
    z = rng.normal(size=(480, 640)) + 1j * rng.normal(size=(480, 640))
    a = np.abs(ndi.gaussian_filter(z.real, (1.0, 1.5)) + 1j * ndi.gaussian_filter(z.imag, (1.0, 1.5)))
    img = np.clip(a / np.median(a) * 70, 0, 255).astype(np.uint8)
    for seed in ((240, 320), (200, 250), (300, 400)):
        try:
            prop = propose_outline(img, seed, spacing=(0.2, 0.2))
        except ProposalError:
            continue
        assert prop.low_confidence, (seed, prop.confidence, prop.details)


def test_leak_at_a_wrong_scale_is_flagged_and_right_scale_is_not_a_leak():
    # the shipped sample at 0.15 mm/px (its scale line says 0.25): the outlines climb through the fascia
    ann = read_sidecar(SAMPLE / "S02_V1_L5_1.R1.mfscan.json")
    img = load_image(SAMPLE / ann.image)
    for roi in ann.rois:
        box, m = outline_mask(roi.points, (480, 640))
        rr, cc = np.nonzero(m)
        seed = (rr.mean() + box[0].start, cc.mean() + box[1].start)
        wrong = propose_outline(img.gray[0], seed, spacing=(0.15, 0.15), exclude=img.overlay_frame(0))
        assert polygon_area(wrong.points) / polygon_area(roi.points) > 1.4  # a leak
        assert wrong.low_confidence
        right = propose_outline(img.gray[0], seed, spacing=(0.25, 0.25), exclude=img.overlay_frame(0))
        assert abs(polygon_area(right.points) / polygon_area(roi.points) - 1) < 0.1
        assert right.confidence > wrong.confidence
