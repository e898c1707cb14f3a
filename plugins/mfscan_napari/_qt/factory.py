"""Where the widget makes its layers and sets their feature defaults and labels.

Every layer the widget adds to the viewer is made here: the layers read for an image
(image and outlines, through mfscan's reader), the rater's own empty outline layer (named
and coded by the widget's fields), and the helper shapes layers drawn over the image (the
scale line, the live-wire's temporary path). The features new outlines get and the canvas
labels from the measured rows are set here only; the changes are applied inside :meth:`mfscan_napari._model.Session.applying`, so
the layer callbacks (:class:`.layers.LayerWatcher`) do not take them for the rater's edits.
"""

from __future__ import annotations

from napari.layers import Layer

from mfscan.annotations import sidecar_path
from mfscan.calibration import Calibration, is_override
from mfscan.vocab import SIDES

from .. import _model
from .._model import KEY, layer_meta

__all__ = ["LayerFactory"]


class LayerFactory:
    """Makes the widget's outline layers and sets what the widget itself writes into them."""

    def __init__(self, widget):
        self.widget = widget

    @property
    def viewer(self):
        return self.widget.viewer

    def add_read_layer(self, layer_data: tuple):
        """Add a layer from a reader's ``(data, kwargs, layer_type)`` tuple."""
        return self.viewer.add_layer(Layer.create(*layer_data))

    def add_helper_layer(self, kind: str, name: str, **style):
        """Add a shapes layer of `kind` (``"scale"``, ``"livewire"``) over the current image:
        its frames, scale and units; `style`: napari's shapes keywords (colours, width)."""
        il = self.widget.image_layer
        m = layer_meta(il)
        return self.viewer.add_shapes(
            ndim=3 if m.get("n_frames", 1) > 1 else 2,
            name=name,
            scale=tuple(il.scale),
            units=tuple(str(u) for u in il.units),
            metadata={KEY: {"kind": kind, "image_path": m.get("image_path")}},
            **style,
        )

    def add_own_layer(self, rater):
        """Add `rater`'s empty outline layer of the current image to the viewer."""
        data, kw = self.own_layer_data(rater)
        return self.viewer.add_shapes(data, **kw)

    def own_layer_data(self, rater) -> tuple:
        """``(data, kwargs)`` of an empty outline layer of `rater` for the current image, named
        and coded by the widget's fields (raises when they cannot name a sidecar)."""
        w = self.widget
        im = layer_meta(w.image_layer)
        image = w.images.get(im["image_path"])
        f = w.fields()
        session = f["session"] if rater else None
        if rater:
            sidecar_path(im["image_path"], rater, session)  # validates the codes (raises)
        ann = _model.new_annotation(
            im["image_path"],
            subject=f["subject"],
            visit=f["visit"],
            level=f["level"],
            rater=rater,
            session=session,
        )
        cal = Calibration.from_dict(im["calibration"])
        if is_override(cal) and im.get("calibration_set_by") == [rater or "", session or ""]:
            ann.calibration = cal  # this rater's own scale line, set here; a shared one stays shared
        mem = _model.is_memory(im["image_path"])
        sc = None if mem else str(sidecar_path(im["image_path"], rater, session))
        data, kw, _ = _model.shapes_layer_data(image, ann, sidecar=sc, calibration=cal)
        kw.pop("shape_type", None)
        return data, kw

    def set_defaults(self, layer, side: str | None = None, **values):
        """The features new outlines of `layer` get: the widget's level, the layer's rater, `side`."""
        d = dict(layer.feature_defaults.iloc[0]) if len(layer.feature_defaults.columns) else {}
        rater = (layer_meta(layer).get("annotation") or {}).get("rater") or ""
        d.update(
            {
                "level": self.widget.fields()["level"],
                "rater": rater,
                "method": "manual",
                "kind": "outline",
                "frame": self.current_frame(layer),
                "label": "",
                "_roi": "{}",
            }
        )
        if side is not None:
            d["side"] = side
        elif d.get("side") not in SIDES:
            d["side"] = "left"
        d.update(values)
        with self.widget.session.applying():
            layer.feature_defaults = d

    def current_frame(self, layer) -> int:
        if layer_meta(layer).get("n_frames", 1) > 1 and len(self.viewer.dims.current_step):
            return int(self.viewer.dims.current_step[0])
        return 0

    def set_labels(self, layer, rows) -> None:
        """The canvas labels of `layer`'s outlines from the table's rows."""
        labels = [r["label"] for r in rows]
        feats = layer.features
        if "label" not in feats.columns or len(feats) != len(labels) or list(feats["label"]) == labels:
            return
        with self.widget.session.applying():
            feats["label"] = labels
            layer.refresh_text()
