"""npe2 sample data: a synthetic transverse lumbar ultrasound image (:mod:`mfscan.synthetic.phantom`).

The sample is a real :class:`mfscan.io.images.Image` held in memory (its
``path`` is ``memory:<name>``, see :func:`mfscan_napari._model.register_memory_image`),
so that every tool of the widget (measuring, Propose, Live-wire) works on it as
on an opened file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mfscan.annotations import ROI, Annotation
from mfscan.calibration import manual

from . import _model

SAMPLE_NAME = "mfscan-phantom.png"
SAMPLE_SEED = 2026


def phantom_sample_image(phantom, name: str = SAMPLE_NAME):
    """A phantom as an in-memory :class:`mfscan.io.images.Image`, calibrated with its known pixel size
    (source ``manual``) and registered as ``memory:<name>``."""
    from mfscan.io.images import Image

    pixels = np.asarray(phantom.image)[None]
    image = Image(
        path=Path(_model.MEMORY_PREFIX + name),
        format="png",
        pixels=pixels,
        gray=pixels,
        overlay=None,
        regions=[],
        calibration=manual(*phantom.spacing_mm),
        color="grayscale",
        bit_depth=8 * pixels.dtype.itemsize,
    )
    _model.register_memory_image(name, image)
    return image


def _phantom():
    from mfscan.synthetic.phantom import make_phantom

    ph = make_phantom(seed=SAMPLE_SEED)
    return ph, phantom_sample_image(ph)


def phantom_image() -> list[tuple]:
    """The phantom image alone, calibrated (its known pixel size, source 'manual')."""
    _ph, img = _phantom()
    return [_model.image_layer_data(img, name="mfscan phantom")]


def phantom_with_outlines() -> list[tuple]:
    """The phantom image with its true left and right outlines (an 'outlines example' layer)."""
    ph, img = _phantom()
    ann = Annotation(
        image=SAMPLE_NAME,
        subject="PHANTOM",
        visit="1",
        level="L4",
        rater="example",
        rois=[ROI(s, ph.outlines[s]) for s in ("left", "right")],
    )
    layers = [_model.image_layer_data(img, name="mfscan phantom")]
    data, kw, kind = _model.shapes_layer_data(img, ann, sidecar=None)
    kw["name"] = "outlines example"
    layers.append((data, kw, kind))
    return layers
