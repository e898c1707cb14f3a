"""npe2 sample data: a synthetic transverse lumbar ultrasound image (mfscan.phantom)."""

from __future__ import annotations

from mfscan.annotations import ROI, Annotation
from mfscan.calibration import manual

from . import _model


class _PhantomImage:
    """The minimal :class:`mfscan.io.images.Image` interface over a phantom array."""

    def __init__(self, pixels, spacing_mm, name):
        import numpy as np
        self.path = _model.register_memory_image(name, self)
        self.pixels = np.asarray(pixels)[None]
        self.gray = self.pixels
        self.overlay = None
        self.regions = []
        self.calibration = manual(*spacing_mm)
        self.bit_depth = 8
        self.warnings = []

    @property
    def n_frames(self):
        return 1

    @property
    def shape(self):
        return self.gray.shape[1:3]


def _phantom():
    from mfscan.synthetic.phantom import make_phantom
    ph = make_phantom(seed=2026)
    return ph, _PhantomImage(ph.image, ph.spacing_mm, "mfscan-phantom.png")


def phantom_image() -> list[tuple]:
    """The phantom image alone, calibrated (its known pixel size, source 'manual')."""
    _ph, img = _phantom()
    return [_model.image_layer_data(img, name="mfscan phantom")]


def phantom_with_outlines() -> list[tuple]:
    """The phantom image with its true left and right outlines (an 'outlines example' layer)."""
    ph, img = _phantom()
    ann = Annotation(image="mfscan-phantom.png", subject="PHANTOM", visit="1", level="L4", rater="example",
                     rois=[ROI(s, ph.outlines[s]) for s in ("left", "right")])
    layers = [_model.image_layer_data(img, name="mfscan phantom")]
    data, kw, kind = _model.shapes_layer_data(img, ann, sidecar=None)
    kw["name"] = "outlines example"
    layers.append((data, kw, kind))
    return layers
