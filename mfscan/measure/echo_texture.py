"""Muscle quality of one outline: fat-corrected echo intensity and grey-level texture.

Echo intensity corrected for subcutaneous fat
---------------------------------------------
Subcutaneous fat attenuates the beam, so a muscle under more fat looks darker.
Published corrections add a function of the fat thickness ``fat_cm`` (skin to the
muscle's superficial fascia, in cm) to the raw mean grey level ``EI`` of the outline:

``young2015`` (default)
    ``EI + 40.5278 * fat_cm`` (Young et al. 2015, Muscle Nerve 52:963-971, derived on
    limb muscles with one scanner's settings).
``mueller``
    ``EI + 38.30836 * fat_cm - 5.0054 * fat_cm**2``: the quadratic correction
    attributed to Müller et al. as used by the VL CSA+EI tool
    (github.com/kenziew/ultrasound_vl_csa_and_ei, ``NAPARI_DCM_GUI/utils/vl_utils.py``,
    ``calculate_corrected_eis``, fat thickness in cm; implemented here from that formula).

Both constants were derived on **8-bit** grey levels (0-255): on an image of another bit
depth (a 12-bit DICOM, a 16-bit TIFF) they are refused, not rescaled (a 12-bit grey level
is not a linear multiple of the 8-bit display value a scanner exports):
:func:`correction_status` says so in ``echo_correction_status`` and ``echo_mean_corrected``
is left empty. Echo intensity and texture themselves are on the data's real bit depth
(``echo_bit_depth``).

Both only ever increase EI for fat up to 7.6 cm. The gain from correcting is small
(Rush et al. 2024): the raw ``echo_mean`` is always kept beside ``echo_mean_corrected``,
and ``echo_correction`` names the formula used. Compare corrected values only between
images of one scanner, probe and preset.

Texture (grey-level co-occurrence matrix, GLCM)
-----------------------------------------------
Haralick-type features of the pixels inside the outline, with scikit-image's
``graycomatrix``/``graycoprops`` semantics (computed here from OpenCV 2-D histograms of the
pixel pairs, :func:`cooccurrence`, and numpy, without importing scikit-image;
tests/test_echo_texture.py checks both against scikit-image), on a fixed, stated
quantisation so that values are comparable between images of one protocol:

* grey levels: :data:`GLCM_LEVELS` (32) bins of equal width over the fixed range of the
  data's **real bit depth** (``0 .. 2**bit_depth - 1``: 0-255 for 8-bit images, 0-4095
  for a DICOM with BitsStored 12 in 16-bit words, 0-65535 for 16-bit; float images are
  taken as 0-255), never the outline's own min-max: ``q = floor(value * 32 / 2**bit_depth)``;
* pixel offsets: distance 1 pixel at angles 0, 45, 90 and 135 degrees, scikit-image's
  ``(round(sin(angle) * d), round(cos(angle) * d))`` in (row, col): ``(0, 1), (1, 1),
  (1, 0), (1, -1)``; symmetric (each pair counted both ways, so the sign of an offset
  does not matter) and normalised; each feature is the mean over the 4 angles;
* only pairs whose **both** pixels lie inside the outline (pixel centre inside, as
  for the echo intensity; overlay pixels excluded) count;
* features: ``glcm_contrast``, ``glcm_homogeneity``, ``glcm_energy``,
  ``glcm_correlation`` (as ``graycoprops``) and ``glcm_entropy`` = ``-sum p log2 p``
  (bits) of the normalised matrix.

Distances are in pixels: with another pixel size the same tissue gives other values.
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from mfscan.errors import MeasurementError

__all__ = [
    "ECHO_CORRECTIONS",
    "GLCM_LEVELS",
    "GLCM_DISTANCES",
    "GLCM_ANGLES_DEG",
    "TEXTURE_COLUMNS",
    "CORRECTION_BIT_DEPTH",
    "correct_echo",
    "correction_status",
    "quantize",
    "glcm_offsets",
    "cooccurrence",
    "glcm_features",
]

#: The named corrections: ``(label, a, b)`` for ``EI + a * fat_cm + b * fat_cm**2``.
ECHO_CORRECTIONS = {
    "young2015": ("young2015: EI + 40.5278 x fat_cm", 40.5278, 0.0),
    "mueller": ("mueller: EI + 38.30836 x fat_cm - 5.0054 x fat_cm^2", 38.30836, -5.0054),
}
#: The bit depth of the grey levels the fat corrections' constants were derived on.
CORRECTION_BIT_DEPTH = 8
#: Grey levels of the texture quantisation.
GLCM_LEVELS = 32
#: Pixel distances of the co-occurrence pairs.
GLCM_DISTANCES = (1,)
#: Angles of the co-occurrence pairs (degrees), averaged.
GLCM_ANGLES_DEG = (0, 45, 90, 135)
#: Pixels of one histogram of :func:`cooccurrence` (float32 bins count exactly below 2**24).
_BAND_PIXELS = 1 << 23
#: The texture columns of :func:`glcm_features`, in order.
TEXTURE_COLUMNS = ("glcm_contrast", "glcm_homogeneity", "glcm_energy", "glcm_correlation", "glcm_entropy")


def correct_echo(echo_mean, fat_cm, *, correction: str = "young2015"):
    """Echo intensity corrected for subcutaneous fat thickness.

    Parameters
    ----------
    echo_mean : float or array_like
        Raw mean grey level of the muscle.
    fat_cm : float or array_like
        Subcutaneous fat thickness in cm (NaN gives NaN).
    correction : {'young2015', 'mueller'}, keyword-only
        See the module notes and :data:`ECHO_CORRECTIONS`.

    Returns
    -------
    float or ndarray
        ``echo_mean + a * fat_cm + b * fat_cm**2``.
    """
    if correction not in ECHO_CORRECTIONS:
        raise MeasurementError(
            f"unknown echo correction {correction!r}; expected one of {', '.join(ECHO_CORRECTIONS)}"
        )
    _, a, b = ECHO_CORRECTIONS[correction]
    ei = np.asarray(echo_mean, dtype=float)
    fat = np.asarray(fat_cm, dtype=float)
    out = ei + a * fat + b * fat * fat
    return float(out) if out.ndim == 0 else out


def correction_status(bit_depth: int, correction: str = "young2015") -> tuple[bool, str]:
    """Whether a fat correction applies to echo values of `bit_depth` bits, and why.

    Returns
    -------
    applies : bool
        True only for :data:`CORRECTION_BIT_DEPTH` (8-bit) grey levels.
    status : str
        ``"applied (8-bit)"`` or ``"refused: 12-bit grey levels; the young2015 constants
        are for 8-bit (0-255)"``: the ``echo_correction_status`` column.
    """
    if int(bit_depth) == CORRECTION_BIT_DEPTH:
        return True, f"applied ({CORRECTION_BIT_DEPTH}-bit)"
    return False, (
        f"refused: {int(bit_depth)}-bit grey levels; the {correction} constants are for "
        f"{CORRECTION_BIT_DEPTH}-bit (0-255)"
    )


def quantize(values, *, levels: int = GLCM_LEVELS, bit_depth: int | None = None) -> np.ndarray:
    """Grey values binned into `levels` equal bins of a fixed range (uint8 array).

    The range is ``0 .. 2**bit_depth - 1`` when `bit_depth` is given (the data's real depth:
    12 for a DICOM with BitsStored 12 in 16-bit words; values above are put in the top bin),
    else the dtype's: 8-bit and float values 0-255 (floats clipped), 16-bit values 0-65535.
    ``floor(value * levels / 2**bit_depth)``.
    """
    v = np.asarray(values)
    top = _top(v.dtype, bit_depth)
    if v.dtype in (np.uint8, np.uint16):  # a table of every possible value: the same formula, once
        return np.take(_table(v.dtype.str, levels, top), v)
    return _bins(v, levels, top)


def _top(dtype: np.dtype, bit_depth: int | None) -> float:
    """``2**bit_depth``: the end of the quantised range (see :func:`quantize`)."""
    if bit_depth is not None and dtype.kind in "ui":
        if not 1 <= int(bit_depth) <= 8 * dtype.itemsize:
            raise MeasurementError(f"bit depth {bit_depth} does not fit {dtype} grey values")
        return float(1 << int(bit_depth))
    return 65536.0 if dtype.kind in "ui" and dtype.itemsize >= 2 else 256.0


def _bins(v: np.ndarray, levels: int, top: float) -> np.ndarray:
    """The quantisation formula of :func:`quantize`, on the values themselves."""
    if v.dtype.kind == "f":
        v = np.clip(v, 0.0, 255.0)
    q = np.floor(v.astype(np.float64) * (levels / top)).astype(np.int64)
    return np.clip(q, 0, levels - 1).astype(np.uint8)


@functools.lru_cache(maxsize=16)
def _table(dtype: str, levels: int, top: float) -> np.ndarray:
    """The bin of every value of an 8- or 16-bit unsigned dtype (read-only), by :func:`_bins`."""
    table = _bins(np.arange(np.iinfo(np.dtype(dtype)).max + 1, dtype=np.dtype(dtype)), levels, top)
    table.flags.writeable = False
    return table


def glcm_offsets(distances=GLCM_DISTANCES, angles_deg=GLCM_ANGLES_DEG) -> list[tuple[int, int]]:
    """The (row, col) pixel offsets of each (distance, angle), distance-major.

    scikit-image's ``graycomatrix`` convention: ``(round(sin(angle) * d), round(cos(angle) * d))``;
    at distance 1 the angles 0, 45, 90 and 135 degrees give ``(0, 1), (1, 1), (1, 0), (1, -1)``.
    """
    return [
        (int(round(math.sin(math.radians(a)) * d)), int(round(math.cos(math.radians(a)) * d)))
        for d in distances
        for a in angles_deg
    ]


def cooccurrence(
    q, mask, *, levels: int = GLCM_LEVELS, distances=GLCM_DISTANCES, angles_deg=GLCM_ANGLES_DEG
) -> np.ndarray:
    """Symmetric grey-level co-occurrence counts of the pixel pairs inside `mask`.

    The counts of scikit-image's ``graycomatrix(q, distances, angles, levels=levels,
    symmetric=True, normed=False)`` restricted to the pairs whose both pixels lie in `mask`,
    computed as one 2-D histogram of (pixel, neighbour) levels per offset, masked to the
    pairs inside (OpenCV's ``calcHist``; bins of float32 count exactly below 2**24, so the
    patch is counted in bands of at most 2**23 pixels, summed in float64).

    Parameters
    ----------
    q : (rows, cols) ndarray of int
        Grey levels, each in ``0 .. levels - 1`` (:func:`quantize`; uint8 is used as it is).
    mask : (rows, cols) ndarray of bool
        The pixels that count.
    levels : int, keyword-only
        Number of grey levels, 1 to 256.
    distances, angles_deg : sequence, keyword-only
        Pixel distances and angles in degrees (:func:`glcm_offsets`).

    Returns
    -------
    ndarray of float64, shape (levels, levels, len(distances), len(angles_deg))
        ``P[i, j, d, a]``: how often grey levels i and j are neighbours at offset (d, a),
        each pair counted both ways.
    """
    q = np.asarray(q)
    mask = np.asarray(mask, dtype=bool)
    if q.shape != mask.shape or q.ndim != 2:
        raise MeasurementError(f"grey levels {q.shape} and mask {mask.shape} must be one 2-D shape")
    if not 1 <= levels <= 256:
        raise MeasurementError(f"the co-occurrence matrix takes 1 to 256 grey levels, got {levels}")
    if q.dtype != np.uint8:
        if q.size and (q.min() < 0 or q.max() >= levels):
            raise MeasurementError(f"grey levels must lie in 0 .. {levels - 1}")
        q = q.astype(np.uint8)
    counts = _pair_counts(q, mask, levels, glcm_offsets(distances, angles_deg), top=levels)
    out = np.empty((levels, levels, len(distances), len(angles_deg)))
    out[...] = counts.reshape(len(distances), len(angles_deg), levels, levels).transpose(2, 3, 0, 1)
    return out


def _pair_counts(values: np.ndarray, mask: np.ndarray, levels: int, offsets, *, top: int) -> np.ndarray:
    """:func:`cooccurrence`'s counts, one (levels, levels) matrix per offset: shape (n_offsets, levels, levels).

    `values` (uint8) fall into `levels` equal bins over ``0 .. top - 1``: quantised levels with
    ``top = levels``, or 8-bit grey values with ``top = 256`` (bins of ``256 / levels`` values,
    those of :func:`quantize`: OpenCV bins 8-bit data by ``floor(value * levels / 256)``).
    """
    rows, cols = values.shape
    inside = mask.view(np.uint8)
    counts = np.zeros((len(offsets), levels, levels))
    for k, (dr, dc) in enumerate(offsets):
        r0, r1 = max(0, -dr), min(rows, rows - dr)  # the pixels whose neighbour is in the patch
        c0, c1 = max(0, -dc), min(cols, cols - dc)
        if r1 <= r0 or c1 <= c0:
            continue
        band = max(1, _BAND_PIXELS // (c1 - c0))  # float32 bins count exactly up to 2**24
        for b0 in range(r0, r1, band):
            b1 = min(b0 + band, r1)
            first = (slice(b0, b1), slice(c0, c1))
            second = (slice(b0 + dr, b1 + dr), slice(c0 + dc, c1 + dc))
            both = inside[first] & inside[second]  # a pair counts when both its pixels are inside
            # a 2-D histogram of (pixel, neighbour) levels: the pair counts of this offset
            counts[k] += cv2.calcHist(
                [values[first], values[second]], [0, 1], both, [levels, levels], [0, top, 0, top]
            )
    counts += counts.transpose(0, 2, 1).copy()
    return counts


def glcm_features(image, mask, *, levels: int = GLCM_LEVELS, bit_depth: int | None = None) -> dict:
    """GLCM texture of the pixels of `image` where `mask` is True.

    Parameters
    ----------
    image : (rows, cols) ndarray
        Grayscale patch (uint8 or uint16; floats as 0-255).
    mask : (rows, cols) ndarray of bool
        The pixels that count; a pair counts only when both its pixels are in it.
    levels : int, keyword-only
        Grey levels of the quantisation (:func:`quantize`), at most 256.
    bit_depth : int, keyword-only, optional
        The data's real bit depth (``Image.bit_depth``: BitsStored of a DICOM); the
        quantisation spans ``0 .. 2**bit_depth - 1``. Default: the dtype's range.

    Returns
    -------
    dict
        :data:`TEXTURE_COLUMNS`, each the mean over :data:`GLCM_ANGLES_DEG` at
        distance 1; NaN when no pair of pixels lies inside.
    """
    image = np.asarray(image)
    mask = np.asarray(mask, dtype=bool)
    if image.shape != mask.shape or image.ndim != 2:
        raise MeasurementError(f"image {image.shape} and mask {mask.shape} must be one 2-D shape")
    if image.dtype == np.uint8 and _top(image.dtype, bit_depth) == 256.0:
        values, top = image, 256  # binned as quantize bins them, by the histogram itself
    else:
        values, top = quantize(image, levels=levels, bit_depth=bit_depth), levels
    offsets = glcm_offsets()
    c = _pair_counts(values, mask, levels, offsets, top=top).reshape(len(offsets), levels * levels)
    totals = c.sum(axis=1)
    if not (totals > 0).all():
        return dict.fromkeys(TEXTURE_COLUMNS, float("nan"))
    # The properties of skimage's graycoprops (tests/test_echo_texture.py checks each against it),
    # from one product of the counts with the weights of every level pair, and one pass over p
    # for energy and entropy (graycoprops takes about 1 ms per property).
    moments = (c @ _level_weights(levels)) / totals[:, None]
    mu_i, mu_j, e_ii, e_jj, e_ij, contrast, homogeneity = moments.T
    std_i = np.sqrt(np.maximum(e_ii - mu_i**2, 0.0))
    std_j = np.sqrt(np.maximum(e_jj - mu_j**2, 0.0))
    flat = (std_i < 1e-15) | (std_j < 1e-15)  # graycoprops' convention: a constant patch correlates 1
    correlation = np.where(flat, 1.0, (e_ij - mu_i * mu_j) / np.where(flat, 1.0, std_i * std_j))
    p = c / totals[:, None]
    logp = np.log2(p, where=p > 0, out=np.zeros_like(p))
    per_angle = np.stack(  # one row per column of TEXTURE_COLUMNS, one column per angle
        [contrast, homogeneity, np.sqrt((p * p).sum(axis=1)), correlation, -(p * logp).sum(axis=1)]
    )
    return dict(zip(TEXTURE_COLUMNS, per_angle.mean(axis=1).tolist()))


@functools.lru_cache(maxsize=8)
def _level_weights(levels: int) -> np.ndarray:
    """The weights of the GLCM properties for each flattened (i, j) level pair (read-only),
    one column each: ``i, j, i*i, j*j, i*j, (i-j)**2, 1/(1+(i-j)**2)``."""
    i, j = (g.ravel().astype(np.float64) for g in np.indices((levels, levels)))
    d2 = (i - j) ** 2
    weights = np.stack([i, j, i * i, j * j, i * j, d2, 1.0 / (1.0 + d2)], axis=1)
    weights.flags.writeable = False
    return weights
