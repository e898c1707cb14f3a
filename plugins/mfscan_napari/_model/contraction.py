"""The live table's thickness change of a contracted image against its rest images (RUSI).

A thickness line of an image whose sidecar says ``task: contracted`` is compared
with the rest images of the same subject, visit, level and side (and rater,
session and posture when the contracted sidecar has them) found in the image's
folder: their sidecars with ``task: rest`` are measured by the core
(:func:`mfscan.measure.annotation.measure_annotation`, what ``mfscan measure``
writes), the rest thickness is :func:`mfscan.stats.contraction.rest_reference`
(the mean of the rest trials) and the change
:func:`mfscan.stats.contraction.thickness_change`:
``(contracted - rest) / rest x 100`` (positive: thicker when contracted).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from mfscan.annotations import SUFFIX, Annotation, read_sidecar
from mfscan.errors import MfscanError
from mfscan.io.files import link_outside

from .images import get_image, is_memory

__all__ = ["RestLookup"]


class RestLookup:
    """``lookup(annotation, row) -> (text, pct)`` for :func:`.rows.measure_rows` (``rest=``).

    Parameters
    ----------
    image_path : str or Path
        The contracted image; its folder is searched for rest sidecars.
    images : ImageCache, optional
        The widget's image cache (rest images are decoded once).
    cache : dict, optional
        Measured rest sidecars by path, with their modification time (a sidecar
        that changed is measured again). The widget passes a dict it owns, so that
        the table can follow a vertex drag; default: a new one (nothing shared
        between widgets or with other code in the process).
    """

    def __init__(self, image_path, images=None, cache: dict | None = None):
        self.image_path = None if is_memory(image_path) else Path(image_path)
        self.images = images
        self._cache = {} if cache is None else cache  # sidecar path -> (mtime_ns, rows)

    def measurements(self, annotation: Annotation) -> pd.DataFrame:
        """Thickness rows of the folder's rest sidecars of the same subject and visit."""
        from mfscan.measure.annotation import measure_annotation

        rows: list[dict] = []
        if self.image_path is None or not annotation.subject:
            return pd.DataFrame(rows)
        folder = self.image_path.parent
        for sc in sorted(folder.glob("*" + SUFFIX)):
            if link_outside(sc, folder):
                continue  # the one confinement rule: nothing read from outside the folder
            try:
                key, mtime = str(sc), sc.stat().st_mtime_ns
                hit = self._cache.get(key)
                if hit is None or hit[0] != mtime:
                    ann = read_sidecar(sc)
                    found = []
                    ip = sc.parent / ann.image
                    rest = (ann.task or "") == "rest" and any(r.kind == "thickness" for r in ann.rois)
                    if rest and not link_outside(ip, folder):
                        image = get_image(ip, self.images)  # a trial is an image (and frame)
                        found, _errors = measure_annotation(
                            image, ann, image_label=str(ip), sidecar_label=key
                        )
                    hit = self._cache[key] = (mtime, found)
            except (OSError, MfscanError):
                continue
            rows.extend(r for r in hit[1] if r["subject"] == annotation.subject)
        return pd.DataFrame(rows)

    def __call__(self, annotation: Annotation, row: dict) -> tuple[str, float | None]:
        from mfscan.stats.contraction import rest_reference, thickness_change

        m = self.measurements(annotation)
        if m.empty or not row.get("level"):
            return "no rest image", None
        rest_cm, n = rest_reference(
            m,
            subject=annotation.subject,
            visit=annotation.visit,
            level=row["level"],
            side=row["side"],
            rater=annotation.rater,
            session=annotation.session,
            posture=annotation.posture,
        )
        if n == 0 or not math.isfinite(rest_cm):
            return "no rest image", None
        pct, _ratio = thickness_change(row["m"]["thickness_cm"], rest_cm)
        if not math.isfinite(pct):
            return "rest not positive", None
        return f"{pct:+.1f} % (rest {rest_cm:.2f} cm, n={n})", pct
