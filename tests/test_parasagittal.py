"""The parasagittal RUSI phantom: known thickness and fat lines, drawn where the truth says."""

import numpy as np
import pytest

from mfscan.measure.lines import line_length_mm
from mfscan.synthetic.parasagittal import make_parasagittal, make_rusi_series


@pytest.mark.parametrize("spacing", [0.3, (0.25, 0.4)])
def test_true_lines_have_the_requested_lengths(spacing):
    ph = make_parasagittal(seed=4, thickness_cm=3.3, fat_cm=1.2, spacing_mm=spacing, shape=(240, 300))
    sp = ph.spacing_mm
    assert line_length_mm(ph.lines["thickness"], spacing=sp) == pytest.approx(33.0, rel=1e-12)
    assert line_length_mm(ph.lines["fat"], spacing=sp) == pytest.approx(12.0, rel=1e-12)
    (deep_r, c), (sup_r, c2) = ph.lines["thickness"]
    assert c == c2 and deep_r > sup_r  # first point deep (facet joint), second superficial
    assert ph.lines["fat"][0, 0] == 0.0 and ph.lines["fat"][1, 0] == pytest.approx(sup_r)
    assert ph.image.shape == (240, 300) and ph.image.dtype == np.uint8


def test_the_image_shows_fascia_muscle_bone_and_shadow_at_the_truth():
    ph = make_parasagittal(seed=2, thickness_cm=3.0, fat_cm=1.0, spacing_mm=0.3, shape=(220, 320))
    img = ph.image.astype(float)
    (deep_r, c), (sup_r, _) = ph.lines["thickness"]
    cols = slice(int(c) - 10, int(c) + 10)
    bone = img[int(np.ceil(deep_r)) : int(np.ceil(deep_r)) + 3, cols].mean()
    shadow = img[int(deep_r) + 12 : int(deep_r) + 30, cols].mean()
    muscle = img[int(sup_r) + 10 : int(deep_r) - 10, cols].mean()
    fascia = img[int(np.floor(sup_r)) - 2 : int(np.floor(sup_r)), cols].mean()
    assert bone > muscle + 40 and fascia > muscle + 30 and shadow < muscle / 3


def test_rusi_series_has_rest_and_contracted_trials():
    s = make_rusi_series(seed=1, rest_thickness_cm=3.0, contracted_thickness_cm=3.6, trials=3)
    assert sorted(s) == [
        ("contracted", 1),
        ("contracted", 2),
        ("contracted", 3),
        ("rest", 1),
        ("rest", 2),
        ("rest", 3),
    ]
    assert {s[("rest", t)].thickness_cm for t in (1, 2, 3)} == {3.0}
    assert {s[("contracted", t)].thickness_cm for t in (1, 2, 3)} == {3.6}
    noisy = make_rusi_series(seed=1, rest_thickness_cm=3.0, contracted_thickness_cm=3.6, trial_sd_cm=0.05)
    ph = noisy[("contracted", 2)]
    assert ph.thickness_cm != 3.6
    assert line_length_mm(ph.lines["thickness"], spacing=ph.spacing_mm) == pytest.approx(ph.thickness_cm * 10)


def test_deterministic_and_refuses_what_does_not_fit():
    a = make_parasagittal(seed=7)
    b = make_parasagittal(seed=7)
    assert np.array_equal(a.image, b.image)
    with pytest.raises(ValueError, match="do not fit"):
        make_parasagittal(thickness_cm=5.0, fat_cm=2.0, shape=(200, 320), spacing_mm=0.3)
