"""Prediction: a trained model's outlines of the multifidus on one frame.

:func:`predict_outlines` is what the CLI (``mfscan predict``) and the napari
widget's Propose (with a chosen model) call: the frame is resampled to the
model's scale, the network gives class probabilities, which are resampled back
to the frame's pixels; each side's outline is the 0.5 contour of that side's
probability around its connected component.

Without a seed a side's outline is its largest component (class left or right).
With a seed the connected component of muscle (either class) under the seed is
taken and the side is the rater's, whatever the class says.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage as ndi

from mfscan.errors import MfscanError
from mfscan.learn._torch import pick_device, require_torch
from mfscan.learn.card import WEIGHTS_NAME, read_card
from mfscan.learn.dataset import resample_image, to_float

__all__ = ["LoadedModel", "ModelOutline", "load_model", "predict_probabilities", "predict_outlines"]

#: Smallest component kept as a muscle, in cm2.
MIN_AREA_CM2 = 0.3
_CLASS = {"left": 1, "right": 2}


@dataclass
class LoadedModel:
    """A model ready to predict: the network (eval mode), its card and id."""

    net: object
    card: dict
    model_id: str
    mm_per_pixel: float
    device: str = "cpu"


@dataclass
class ModelOutline:
    """One predicted outline.

    Attributes
    ----------
    side : str
    points : ndarray, (N, 2)
        Closed polygon, (row, col) pixels of the frame, counter-clockwise as displayed.
    confidence : float
        Mean probability of the chosen class(es) inside the outline (0-1).
    model_id : str
    flags : tuple of str
        :data:`mfscan.vocab.PROPOSAL_FLAGS` raised (:func:`mfscan.learn.ood.prediction_flags`);
        empty when none.
    ood_score : float or None
        The prediction's out-of-distribution score (:func:`mfscan.learn.ood.ood_score` of the
        image and the outline's shape; above 1: unlike the training images); None for a model
        whose card has no reference.
    """

    side: str
    points: np.ndarray
    confidence: float
    model_id: str
    flags: tuple = ()
    ood_score: float | None = None


def load_model(model_dir, *, device: str | None = None) -> LoadedModel:
    """Read ``weights.pt`` and ``model.json`` of a model folder (the id is checked)."""
    torch = require_torch()
    from mfscan.learn.unet import UNet

    card = read_card(model_dir)
    path = Path(model_dir) / WEIGHTS_NAME
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        net = UNet(blob["channels"])
        net.load_state_dict(blob["state_dict"])
    except Exception as e:  # a damaged or foreign file
        raise MfscanError(f"cannot load the weights ({type(e).__name__}: {e})", path) from e
    device = pick_device(device)
    return LoadedModel(net.to(device).eval(), card, card["model_id"], float(card["mm_per_pixel"]), device)


def predict_probabilities(model: LoadedModel, frame, *, spacing) -> np.ndarray:
    """Class probabilities ``(3, rows, cols)`` float32 (background, left, right) on the frame's pixels.

    Parameters
    ----------
    model : LoadedModel
    frame : (rows, cols) ndarray
        One grey frame (uint8, uint16 or float 0-1); not modified.
    spacing : (row_mm, col_mm), keyword-only
        The frame's pixel size; required (the model works at a physical scale).
    """
    return _model_pass(model, frame, spacing)[0]


def _model_pass(model: LoadedModel, frame, spacing):
    """The probabilities on the frame's pixels and the image's features ``(intensity, embedding)``."""
    from mfscan.learn.ood import intensity_features
    from mfscan.learn.train import logits_at_model_scale
    from mfscan.learn.unet import multiple_of

    frame = np.asarray(frame)
    if frame.ndim != 2:
        raise MfscanError(f"expected one grey frame (rows, cols), got shape {frame.shape}")
    if spacing is None:
        raise MfscanError("the image has no calibration; a model needs the pixel size in mm")
    small = resample_image(to_float(frame), spacing=spacing, mm_per_pixel=model.mm_per_pixel)
    p, emb = logits_at_model_scale(
        model.net, small, multiple_of(model.net.channels), model.device, embedding=True
    )
    size = (frame.shape[1], frame.shape[0])
    probs = np.stack([cv2.resize(c, size, interpolation=cv2.INTER_LINEAR) for c in p])
    return probs, (intensity_features(small), emb)


def component(binary: np.ndarray, seed=None) -> np.ndarray | None:
    """The largest connected component, or the one under ``seed`` (None when none is there)."""
    lab, n = ndi.label(binary)
    if n == 0:
        return None
    if seed is not None:
        r, c = int(round(seed[0])), int(round(seed[1]))
        if not (0 <= r < lab.shape[0] and 0 <= c < lab.shape[1]) or lab[r, c] == 0:
            return None
        return ndi.binary_fill_holes(lab == lab[r, c])
    sizes = np.bincount(lab.ravel())[1:]
    return ndi.binary_fill_holes(lab == 1 + int(np.argmax(sizes)))


def _outline(prob: np.ndarray, comp: np.ndarray) -> np.ndarray | None:
    """The 0.5 contour of ``prob`` around ``comp`` (sub-pixel), simplified to within 0.2 px."""
    from skimage.measure import approximate_polygon, find_contours

    from mfscan.geometry import orient, polygon_area

    rows, cols = np.nonzero(comp)
    r0, r1 = max(rows.min() - 3, 0), min(rows.max() + 4, comp.shape[0])
    c0, c1 = max(cols.min() - 3, 0), min(cols.max() + 4, comp.shape[1])
    near = ndi.binary_dilation(comp[r0:r1, c0:c1], iterations=2)
    field = np.where(near, prob[r0:r1, c0:c1], 0.0)
    field = np.where(comp[r0:r1, c0:c1], np.maximum(field, 0.51), field)  # no holes inside
    contours = find_contours(np.pad(field, 1), 0.5)
    if not contours:
        return None
    best = max(contours, key=lambda c: polygon_area(c) if len(c) >= 3 else 0.0)
    poly = approximate_polygon(best, tolerance=0.2)
    if np.allclose(poly[0], poly[-1]):
        poly = poly[:-1]
    if len(poly) < 3:
        return None
    return orient(poly - 1 + np.array([r0, c0]))


def predict_outlines(model: LoadedModel, frame, *, spacing, seeds: dict | None = None) -> dict:
    """The model's outline of each multifidus on one frame.

    Parameters
    ----------
    model : LoadedModel
        From :func:`load_model`.
    frame : (rows, cols) ndarray
        One grey frame; not modified.
    spacing : (row_mm, col_mm), keyword-only
        Pixel size of the frame (THE calibration rule's, at the muscle).
    seeds : dict, optional, keyword-only
        ``{side: (row, col)}``, the rater's points inside the muscles: only those
        sides are returned, each the muscle component under its seed, with the
        rater's side. Without seeds both sides are returned when found.

    Returns
    -------
    dict
        ``{side: ModelOutline}``; a side the model does not find (no component of at
        least 0.3 cm2, or none under the seed) is absent. Each outline carries its
        flags (low confidence, out of distribution, side position, implausible size:
        :func:`mfscan.learn.ood.prediction_flags` against the card's ``ood`` reference)
        and its OOD score.
    """
    from mfscan.geometry import polygon_area
    from mfscan.learn.ood import ood_score, prediction_flags, shape_features

    probs, image_features = _model_pass(model, frame, spacing)
    best = np.argmax(probs, axis=0)
    min_px = MIN_AREA_CM2 * 100 / (spacing[0] * spacing[1])
    found = {}
    wanted = seeds if seeds else {s: None for s in _CLASS}
    for side, seed in wanted.items():
        if seed is None:
            comp, prob = component(best == _CLASS[side]), probs[_CLASS[side]]
        else:
            comp, prob = component(best != 0, seed), 1.0 - probs[0]
        if comp is None or np.count_nonzero(comp) < (0 if seed is not None else min_px):
            continue
        points = _outline(prob, comp)
        if points is not None:
            shape = shape_features(comp, spacing)
            score = ood_score(model.card.get("ood"), *image_features, shape)
            found[side] = (np.round(points, 2), round(float(np.mean(prob[comp])), 3), score)
    out = {}
    for side, (points, conf, score) in found.items():
        other = found.get("right" if side == "left" else "left")
        flags = prediction_flags(
            model.card.get("ood"),
            side=side,
            confidence=conf,
            score=score,
            csa_cm2=polygon_area(points, spacing=spacing) / 100.0,
            centroid_col=float(np.mean(points[:, 1])),
            cols=np.asarray(frame).shape[1],
            other_centroid_col=None if other is None else float(np.mean(other[0][:, 1])),
        )
        out[side] = ModelOutline(side, points, conf, model.model_id, tuple(flags), score)
    return out


_component = component  # the former private name
