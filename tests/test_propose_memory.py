"""`propose` memory does not grow with 1 / spacing (issue 19 §2).

A DICOM region of 1e-300 cm once made one proposal take 23.7 GB. Absurd scales are now refused
by the calibration rule; plausible-but-extreme ones (0.005 mm per pixel) are proposed on a grid
no finer than MIN_WORK_SPACING_MM, so the working arrays stay bounded. Memory is measured with
tracemalloc (numpy and OpenCV arrays are allocated through Python's allocator).
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from mfscan.assist.propose import MIN_WORK_SPACING_MM, ProposalError, propose_outline
from mfscan.geometry import polygon_area
from mfscan.synthetic.phantom import make_phantom


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(seed=11)


def _peak_mb(image, seed, spacing) -> float:
    tracemalloc.start()
    try:
        propose_outline(image, seed, spacing=spacing)
    except ProposalError:
        pass  # at a wrong scale no outline may be found: the memory is what is tested
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak / 1e6


@pytest.mark.parametrize("spacing", [0.005, 0.01, 5.0])
def test_working_memory_is_bounded_at_extreme_plausible_scales(phantom, spacing):
    seed = phantom.seeds["left"]
    propose_outline(phantom.image, seed, spacing=0.2)  # warm-up: lazy imports are not the proposal's
    at_own_scale = _peak_mb(phantom.image, seed, 0.2)
    # 600 x 800 pixels at 0.005 mm: the 40 mm search radius is 8000 pixels, 16001 samples per ray
    # before; on the 0.05 mm working grid the proposal needs no more than at its own scale.
    assert _peak_mb(phantom.image, seed, (spacing, spacing)) < 2 * at_own_scale + 5


def test_fine_image_is_proposed_on_the_working_grid_and_mapped_back():
    # the same anatomy drawn at 0.04 mm per pixel (3000 x 4000 pixels)
    ph = make_phantom(seed=11, shape=(3000, 4000), spacing_mm=0.04)
    prop = propose_outline(ph.image, ph.seeds["left"], spacing=0.04)
    assert prop.details["work_spacing_mm"] == [pytest.approx(MIN_WORK_SPACING_MM)] * 2
    truth = polygon_area(ph.outlines["left"])
    assert polygon_area(prop.points) == pytest.approx(truth, rel=0.03)
    # in the image's own pixels: the centroid lies within 1 mm (25 px) of the true one
    assert np.hypot(*(prop.points.mean(axis=0) - ph.outlines["left"].mean(axis=0))) < 25


def test_fine_image_keeps_the_study_border_on_the_working_grid():
    """The reduced-grid path passes ``border`` on: a centre-of-line outline of a 0.04 mm image is
    the centre one (larger than the inner one by the fascia and lamina half-widths)."""
    ph = make_phantom(seed=11, shape=(3000, 4000), spacing_mm=0.04)
    inner = propose_outline(ph.image, ph.seeds["left"], spacing=0.04)
    centre = propose_outline(ph.image, ph.seeds["left"], spacing=0.04, border="centre")
    assert (inner.details["border"], centre.details["border"]) == ("inner", "centre")
    # the phantom's fascia (2.2 mm) and lamina (3 mm) lie just outside the true outline
    assert 1.03 < polygon_area(centre.points) / polygon_area(inner.points) < 1.35


def test_thin_overlay_marks_survive_the_reduced_grid():
    """A one-pixel caliper stroke on a 0.02 mm image still marks the 0.05 mm working pixels it
    crosses (an 8-bit area average rounded its 2/5 share to 0 and the mark vanished)."""
    from mfscan.assist._seed import _coarser_grid

    image = np.zeros((400, 400), np.uint8)
    exclude = np.zeros((400, 400), bool)
    exclude[200, 50:350] = (
        True  # one row: 2 of the 5 x 5 pixels of each working pixel it crosses... 1 of 5 rows
    )
    exclude[100:102, 100:102] = True  # a 2-pixel mark
    small, ex, f = _coarser_grid(image, exclude, (0.02, 0.02))
    assert f == (2.5, 2.5) and small.shape == ex.shape == (160, 160)
    # every working pixel holding an excluded pixel is excluded: rows 200 / 2.5 = 80, cols 20-139
    assert ex[80, 20:140].all() and ex[40, 40]
    assert ex.sum() == 120 + 1
