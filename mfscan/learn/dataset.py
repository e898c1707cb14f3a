"""The training set: traced images resampled to a fixed scale, split by subject.

:func:`build_dataset` goes through :func:`mfscan.measure.export.export_masks`
(the same sidecar reading, calibration rule and pixel rule as ``mfscan
export-masks`` and ``mfscan measure``: a pixel is in an outline when its centre
is), then resamples each grey frame and its label image to ``mm_per_pixel``
so a model sees the anatomy at one physical scale whatever the depth setting.
No torch here.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mfscan.errors import MfscanError

__all__ = ["Sample", "build_dataset", "resample_image", "resample_labels", "split_by_subject", "to_float"]

#: Default scale of the model's input, mm per pixel.
DEFAULT_MM_PER_PIXEL = 0.6


@dataclass
class Sample:
    """One training image at the model's scale.

    Attributes
    ----------
    image : ndarray of float32, (rows, cols)
        Grey values scaled to 0-1 (:func:`to_float`).
    labels : ndarray of uint8, (rows, cols)
        0 background, 1 left, 2 right; 255 where unknown (a side not traced, left
        and right overlapping): ignored by the loss.
    subject : str
        Subject code (the split unit); the source image's path when the sidecar has none.
    source : str
        The sidecar, relative to the study (the manifest's ``sidecar``).
    spacing : tuple of float
        ``(row_mm, col_mm)`` of the resampled arrays (both ``mm_per_pixel``).
    source_image : str
        The traced image, relative to the study (several tracings may share it).
    rater, session : str or None
        The sidecar's codes.
    pixels_sha256 : str
        SHA-256 of the traced frame's grey pixels (C order) before resampling: the same
        image under another name has the same hash.
    subject_given : bool
        False when the sidecar has no subject code (``subject`` is then the image's path).
    """

    image: np.ndarray
    labels: np.ndarray
    subject: str
    source: str
    spacing: tuple[float, float]
    source_image: str = ""
    rater: str | None = None
    session: str | None = None
    pixels_sha256: str = ""
    subject_given: bool = True


def to_float(gray: np.ndarray) -> np.ndarray:
    """Grey values as float32 in 0-1: divided by the integer dtype's maximum (uint8: 255)."""
    a = np.asarray(gray)
    scale = float(np.iinfo(a.dtype).max) if np.issubdtype(a.dtype, np.integer) else 1.0
    return a.astype(np.float32) / np.float32(scale)


def _target_shape(shape, spacing, mm_per_pixel: float) -> tuple[int, int]:
    return (
        max(1, int(round(shape[0] * spacing[0] / mm_per_pixel))),
        max(1, int(round(shape[1] * spacing[1] / mm_per_pixel))),
    )


def resample_image(image: np.ndarray, *, spacing, mm_per_pixel: float) -> np.ndarray:
    """A float image resampled from ``spacing`` (row_mm, col_mm) to ``mm_per_pixel`` (area-averaged
    when shrinking, bilinear when enlarging); the physical field of view is kept."""
    rows, cols = _target_shape(image.shape, spacing, mm_per_pixel)
    shrink = rows * cols < image.shape[0] * image.shape[1]
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(image, dtype=np.float32), (cols, rows), interpolation=interp)


def resample_labels(labels: np.ndarray, *, spacing, mm_per_pixel: float, n_classes: int = 3) -> np.ndarray:
    """A label image resampled like :func:`resample_image`: each class's share of a new pixel is
    averaged and the largest wins (255, unknown, when the unknown share is the largest)."""
    rows, cols = _target_shape(labels.shape, spacing, mm_per_pixel)
    values = list(range(n_classes)) + [255]
    shares = [
        resample_image((labels == v).astype(np.float32), spacing=spacing, mm_per_pixel=mm_per_pixel)
        for v in values
    ]
    best = np.argmax(np.stack(shares), axis=0)
    out = np.asarray(values, dtype=np.uint8)[best]
    assert out.shape == (rows, cols)
    return out


def _sample_from_row(out: Path, row, mm_per_pixel: float) -> Sample:
    gray = cv2.imread(str(out / row["image"]), cv2.IMREAD_UNCHANGED)
    labels = cv2.imread(str(out / row["labels"]), cv2.IMREAD_UNCHANGED)
    if gray is None or labels is None or gray.ndim != 2:
        raise MfscanError("cannot read the exported image or labels back")
    labels = labels.astype(np.uint8)
    labels[labels > 2] = 255  # overlapping outlines: unknown
    traced = set(str(row["sides"]).split(";")) if isinstance(row["sides"], str) else set()
    if len(traced) < 2:  # the untraced side may lie anywhere in the background: unknown, never background
        labels[labels == 0] = 255
    spacing = (float(row["row_mm"]), float(row["col_mm"]))
    subject = row["subject"]
    given = isinstance(subject, str) and bool(subject)
    subject = str(subject) if given else str(row["source_image"])
    return Sample(
        image=resample_image(to_float(gray), spacing=spacing, mm_per_pixel=mm_per_pixel),
        labels=resample_labels(labels, spacing=spacing, mm_per_pixel=mm_per_pixel),
        subject=subject,
        source=str(row["sidecar"]),
        spacing=(mm_per_pixel, mm_per_pixel),
        source_image=str(row["source_image"]),
        rater=_code(row.get("rater")),
        session=_code(row.get("session")),
        pixels_sha256=hashlib.sha256(np.ascontiguousarray(gray).tobytes()).hexdigest(),
        subject_given=given,
    )


def _code(value) -> str | None:
    return str(value) if isinstance(value, str) and value else None


def build_dataset(paths, *, mm_per_pixel: float = DEFAULT_MM_PER_PIXEL, progress: bool = False):
    """Training samples from the sidecars of studies, at ``mm_per_pixel``.

    Parameters
    ----------
    paths : iterable of str or Path
        Study folders, images or sidecars (found as ``mfscan measure`` finds them).
    mm_per_pixel : float, keyword-only
        Scale of the returned arrays.
    progress : bool, keyword-only
        Show the export's progress bar.

    Returns
    -------
    samples : list of Sample
        One per traced (image, rater, session, frame, level); every outline of a
        sidecar goes into one label image, as ``mfscan export-masks`` writes it.
    skipped : list of dict
        ``{"path", "reason"}`` for every file or label image left out: the
        export's errors, and label images without a calibration (a model trained
        at a physical scale cannot use them) or with mixed scales.
    """
    from mfscan.measure.export import export_masks

    if not (math.isfinite(mm_per_pixel) and 0.01 <= mm_per_pixel <= 5):
        raise MfscanError(f"--mm-per-pixel must be between 0.01 and 5 mm, got {mm_per_pixel}")
    samples, skipped = [], []
    with tempfile.TemporaryDirectory(prefix="mfscan-train-") as tmp:
        res = export_masks(paths, Path(tmp) / "export", progress=progress)
        skipped += [{"path": e.path, "reason": e.reason} for e in res.errors.itertuples()]
        for row in res.manifest.to_dict("records"):
            if not (np.isfinite(row["row_mm"]) and np.isfinite(row["col_mm"])):
                why = "mixed scales (split screen)" if row["calibration"] == "mixed" else "no calibration"
                skipped.append({"path": row["sidecar"], "reason": f"{why}: left out of training"})
                continue
            try:
                samples.append(_sample_from_row(Path(tmp) / "export", row, mm_per_pixel))
            except MfscanError as e:
                skipped.append({"path": row["sidecar"], "reason": e.message})
    return samples, skipped


def _split_units(samples) -> list[str]:
    """The split unit of each sample: samples sharing a subject code or the same pixels
    (``pixels_sha256``: one image traced by two raters, or copied under two names) are one
    unit, named by its first subject in sorted order."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for s in samples:
        a = find("subject:" + s.subject)
        if s.pixels_sha256:
            b = find("pixels:" + s.pixels_sha256)
            if a != b:
                parent[max(a, b)] = min(a, b)
    members: dict[str, list[str]] = {}
    for s in samples:
        members.setdefault(find("subject:" + s.subject), []).append(s.subject)
    name = {root: min(subjects) for root, subjects in members.items()}
    return [name[find("subject:" + s.subject)] for s in samples]


def split_by_subject(samples, *, val_fraction: float = 0.2, seed: int = 0):
    """Training and validation samples; every subject's images fall on one side only.

    The unit of the split is a subject; samples of the same pixels (the same
    ``pixels_sha256``: one image traced by two raters, or copied under two names) go
    with each other too, so that an image without a subject code (its own unit, named by
    its path) never lands on both sides.

    Parameters
    ----------
    samples : list of Sample
    val_fraction : float, keyword-only
        Share of units (subjects, not images) held out, rounded, at least one when
        there are two units or more; 0 keeps every unit for training.
    seed : int, keyword-only
        Seed of the shuffle of the units.

    Returns
    -------
    train, val : list of Sample
    """
    if not 0 <= val_fraction < 1:
        raise MfscanError(f"the validation fraction must be in [0, 1), got {val_fraction}")
    units = _split_units(samples)
    names = sorted(set(units))
    rng = np.random.default_rng(seed)
    order = [names[i] for i in rng.permutation(len(names))]
    n_val = int(round(val_fraction * len(names)))
    if val_fraction > 0 and len(names) >= 2:
        n_val = min(max(n_val, 1), len(names) - 1)
    held = set(order[:n_val])
    train = [s for s, u in zip(samples, units) if u not in held]
    return train, [s for s, u in zip(samples, units) if u in held]
