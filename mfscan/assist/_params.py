"""Tunable constants of the outline proposal and its error type.

Kept apart from :mod:`mfscan.assist.propose` so that the proposal's parts
(:mod:`._seed`, :mod:`._cost`, :mod:`._polar`) can use them without importing
the module that composes them. Everything here is re-exported by
:mod:`mfscan.assist.propose`, where it is documented.
"""

from __future__ import annotations

from mfscan.errors import MfscanError

__all__ = [
    "LOW_CONFIDENCE",
    "MIN_CONFIDENCE",
    "NOMINAL_SPACING_MM",
    "PARAMS",
    "ProposalError",
    "SEARCH_RADIUS_MM",
    "MIN_WORK_SPACING_MM",
]

#: Search radius around the seed in millimetres.
SEARCH_RADIUS_MM = 40.0
#: Pixel size assumed when the image is uncalibrated (mm); a 600-row frame is then 9 cm deep.
NOMINAL_SPACING_MM = 0.15
#: The finest pixel the proposal works on (mm): a finer image is first reduced to it (pixel
#: averaging), so that the working arrays (search crop, rays, costs) stay bounded, about
#: (2 x 40 mm / 0.05 mm)^2 crop pixels and 180 x 1600 ray samples, whatever the scale.
MIN_WORK_SPACING_MM = 0.05

#: Below this *outline score* (edge support x regularity x leak, ``details["outline_score"]``)
#: no outline is returned: on 240 phantom proposals the lowest score of a good outline
#: was 0.49, a seed on burned-in text gives 0. The refusal does not use the confidence.
MIN_CONFIDENCE = 0.2

#: Proposals below this confidence are flagged ``low_confidence`` ("check this outline").
#: Chosen on ``benchmarks/bench_propose.py`` (phantoms, the sample study at its own and at a
#: 0.6x wrong scale, seeds in anatomy-free speckle): it flags 88 % of the proposals
#: under 0.90 Dice and 1.5 % of those at or above.
LOW_CONFIDENCE = 0.5

#: Tunable constants of the polar DP (exposed for the benchmark's ablations).
PARAMS = dict(
    n_rays=180,
    median_px=5,  # median filter size (pixels)
    smooth_mm=0.2,  # Gaussian sigma after the median (mm) ...
    smooth_px=1.0,  # ... at least this many pixels
    barrier_sigma_mm=0.3,  # smoothing of the image the barrier is computed from (mm)
    barrier_min_mm=8.0,  # bright / dark blobs shorter than this are texture, not borders
    edge_sigma_mm=0.3,  # derivative-of-Gaussian sigma along rays (mm) ...
    edge_sigma_px=2.5,  # ... at least this many pixels
    bright=1.5,  # echo / muscle above which a pixel is "not muscle" (bright) ...
    bright_full=2.1,  # ... fully (both raised for coarse speckle, see _cost._nonmuscle_map)
    dark=0.55,  # echo / muscle below which a pixel is "not muscle" (dark) ...
    dark_full=0.3,  # ... fully
    adapt=1.25,  # margin over the muscle's own 97th / under its 3rd percentile
    bright_cap=2.0,
    dark_floor=0.3,
    w_edge=1.0,
    w_fall=0.8,
    w_barrier=1.5,  # per mm of non-muscle crossed
    smooth=0.3,  # jump penalty per mm^2 of radius change between rays
    max_jump_mm=2.5,  # largest radius change between neighbouring rays
    min_radius_mm=2.0,
    max_width_ratio=1.7,  # lateral width <= ratio x AP depth
    max_width_mm=70.0,
)


class ProposalError(MfscanError):
    """No outline can be proposed from this seed (outside the image or sector,
    in a shadow, on a bright structure)."""


# Raised and documented as mfscan.assist.propose.ProposalError (where it is re-exported).
ProposalError.__module__ = "mfscan.assist.propose"
