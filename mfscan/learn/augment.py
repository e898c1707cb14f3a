"""Ultrasound augmentation: gain, speckle, small rotations and shifts (no torch).

Geometric changes (rotation about the image centre, shift) are applied with the
same parameters to the image (bilinear) and its labels (nearest neighbour), so
they stay aligned; grey-value changes (gain, speckle) touch the image only.
There is no left-right flip: it would swap the patient's sides (a left label
would land where a right muscle belongs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["AugmentParams", "random_params", "affine_matrix", "warp", "augment"]


@dataclass(frozen=True)
class AugmentParams:
    """One draw of the augmentation.

    Attributes
    ----------
    angle_deg : float
        Rotation about the image centre; positive turns the content clockwise as
        displayed (row down, col right).
    shift : tuple of float
        ``(rows, cols)`` translation in pixels, applied after the rotation.
    gain : float
        Multiplies the grey values (the scanner's overall gain); 1 leaves them.
    speckle : float
        Standard deviation of the multiplicative, spatially smoothed noise; 0 none.
    """

    angle_deg: float = 0.0
    shift: tuple[float, float] = (0.0, 0.0)
    gain: float = 1.0
    speckle: float = 0.0


def random_params(
    rng: np.random.Generator,
    *,
    max_angle_deg: float = 8.0,
    max_shift_px: float = 12.0,
    gain_range: tuple[float, float] = (0.6, 1.5),
    max_speckle: float = 0.25,
) -> AugmentParams:
    """A random :class:`AugmentParams` (gain log-uniform in ``gain_range``)."""
    lo, hi = math.log(gain_range[0]), math.log(gain_range[1])
    return AugmentParams(
        angle_deg=float(rng.uniform(-max_angle_deg, max_angle_deg)),
        shift=(
            float(rng.uniform(-max_shift_px, max_shift_px)),
            float(rng.uniform(-max_shift_px, max_shift_px)),
        ),
        gain=float(math.exp(rng.uniform(lo, hi))),
        speckle=float(rng.uniform(0, max_speckle)),
    )


def affine_matrix(shape, params: AugmentParams) -> np.ndarray:
    """The 2x3 forward map from input (row, col) to output (row, col) coordinates.

    ``out = M[:, :2] @ [row, col] + M[:, 2]``: a rotation by ``angle_deg`` about the
    centre ``((rows - 1) / 2, (cols - 1) / 2)`` then the shift.
    """
    a = math.radians(params.angle_deg)
    cr, cc = (shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0
    # clockwise as displayed (row down): row' = sin*dc + cos*dr, col' = cos*dc - sin*dr
    rot = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    centre = np.array([cr, cc])
    t = centre - rot @ centre + np.asarray(params.shift, dtype=float)
    return np.hstack([rot, t[:, None]])


def _cv_matrix(m_rc: np.ndarray) -> np.ndarray:
    """The same map in OpenCV's (x=col, y=row) order."""
    p = np.array([[0, 1], [1, 0]], dtype=float)
    return np.hstack([p @ m_rc[:, :2] @ p, (p @ m_rc[:, 2])[:, None]])


def warp(
    image: np.ndarray | None, labels: np.ndarray | None, params: AugmentParams, *, fill_label: int = 255
):
    """Rotate and shift an image (bilinear) and its labels (nearest neighbour) alike.

    Parameters
    ----------
    image : (rows, cols) float ndarray or None
    labels : (rows, cols) uint8 ndarray or None
    params : AugmentParams
    fill_label : int, keyword-only
        Label of pixels that come from outside the input (unknown: ignored by the loss).

    Returns
    -------
    image, labels : ndarray or None
        New arrays (the inputs are not modified); pixels from outside the image are 0.
    """
    ref = image if image is not None else labels
    m = _cv_matrix(affine_matrix(ref.shape, params))
    size = (ref.shape[1], ref.shape[0])
    out_img = out_lab = None
    if image is not None:
        out_img = cv2.warpAffine(
            np.ascontiguousarray(image, dtype=np.float32),
            m,
            size,
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0.0,
        )
    if labels is not None:
        out_lab = cv2.warpAffine(
            np.ascontiguousarray(labels, dtype=np.uint8),
            m,
            size,
            flags=cv2.INTER_NEAREST,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=int(fill_label),
        )
    return out_img, out_lab


def _speckle_field(shape, sigma: float, rng: np.random.Generator) -> np.ndarray:
    noise = rng.standard_normal(shape).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 1.0)
    noise /= max(float(noise.std()), 1e-6)
    return np.clip(1.0 + sigma * noise, 0.0, None)


def augment(image: np.ndarray, labels: np.ndarray, params: AugmentParams, rng: np.random.Generator):
    """:func:`warp` then gain and speckle on the image; returns new ``(image, labels)`` (float32 0-1)."""
    img, lab = warp(image, labels, params)
    img = img * np.float32(params.gain)
    if params.speckle > 0:
        img = img * _speckle_field(img.shape, params.speckle, rng)
    return np.clip(img, 0.0, 1.0).astype(np.float32), lab
