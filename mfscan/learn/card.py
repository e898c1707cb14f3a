"""The model card (``model.json``) and the model's identifier (no torch at import).

A model folder holds ``weights.pt`` (the network's parameters) and ``model.json``
beside it. The model id is the first 12 hex digits of the SHA-256 of
``weights.pt``'s bytes: the same file gives the same id anywhere, and predictions
store it in the sidecar (ROI field ``model``), so agreement can be reported per
model version.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import platform
import sys
from pathlib import Path

from mfscan.errors import MfscanError
from mfscan.io.files import atomic_write_bytes

__all__ = [
    "CARD_NAME",
    "WEIGHTS_NAME",
    "FORMAT",
    "model_id",
    "software_versions",
    "write_card",
    "read_card",
    "data_record",
    "subjects_table",
    "augmentation_record",
]

CARD_NAME = "model.json"
WEIGHTS_NAME = "weights.pt"
FORMAT = "mfscan.model"
#: Length of the model id (hex digits of the weights' SHA-256).
ID_LENGTH = 12


def model_id(weights: bytes) -> str:
    """The id of a model: the first 12 hex digits of the SHA-256 of its weights file's bytes."""
    return hashlib.sha256(weights).hexdigest()[:ID_LENGTH]


def software_versions() -> dict:
    """Versions of Python, mfscan, numpy, torch (when imported) and the platform."""
    import numpy as np

    from mfscan import __version__

    out = {"python": platform.python_version(), "mfscan": __version__, "numpy": np.__version__}
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch"] = torch.__version__
    out["platform"] = platform.platform()
    return out


def write_card(model_dir, card: dict) -> Path:
    """Write ``model.json`` (atomically, UTF-8, indented) into ``model_dir``; returns its path."""
    path = Path(model_dir) / CARD_NAME
    text = json.dumps({"format": FORMAT, "version": 1, **card}, indent=1, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode("utf-8"))
    return path


def read_card(model_dir) -> dict:
    """The model card of a model folder, checked against its weights' id.

    Raises
    ------
    MfscanError
        A missing or unreadable card or weights file, or weights whose id is not
        the card's (a weights file replaced or damaged after training).
    """
    folder = Path(model_dir)
    card_path, weights_path = folder / CARD_NAME, folder / WEIGHTS_NAME
    for p in (card_path, weights_path):
        if not p.is_file():
            raise MfscanError(
                f"not a model folder: {p.name} is missing (train one with mfscan train)", folder
            )
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise MfscanError(f"cannot read the model card ({e})", card_path) from e
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise MfscanError(f"not an mfscan model card (format is not {FORMAT!r})", card_path)
    found = model_id(weights_path.read_bytes())
    if card.get("model_id") != found:
        raise MfscanError(
            f"the weights' id is {found} but the card says {card.get('model_id')!r}: the weights file "
            "was replaced or damaged; retrain or restore it",
            weights_path,
        )
    return card


def subjects_table(samples) -> dict:
    """``{subject: [sidecar, ...]}`` of training samples (sorted)."""
    out: dict = {}
    for s in samples:
        out.setdefault(s.subject, []).append(s.source)
    return {k: sorted(v) for k, v in sorted(out.items())}


def data_record(paths, samples, train_s, val_s, skipped) -> dict:
    """The ``data`` entry of the card: counts of images (not tracings), raters, sessions, hashes."""
    where = {id(s): "train" for s in train_s} | {id(s): "val" for s in val_s}
    images: dict = {}
    for s in samples:
        rec = images.setdefault(
            s.pixels_sha256 or s.source_image,
            {"image": s.source_image, "pixels_sha256": s.pixels_sha256, "subject": s.subject, "tracings": 0},
        )
        rec["tracings"] += 1
        rec["set"] = where.get(id(s), "unused")
    raters = sorted({s.rater for s in samples if s.rater})
    sessions = sorted({f"{s.rater or '?'}/{s.session or '1'}" for s in samples})
    return {
        "sources": [str(p) for p in paths],
        "n_images": len(images),
        "n_tracings": len(samples),
        "n_train": len(train_s),
        "n_val": len(val_s),
        "n_train_images": len({s.pixels_sha256 for s in train_s}),
        "n_val_images": len({s.pixels_sha256 for s in val_s}),
        "raters": raters,
        "rater_sessions": sessions,
        "images": sorted(images.values(), key=lambda r: r["image"]),
        "skipped": skipped,
    }


def augmentation_record() -> dict:
    """The augmentation's settings, read from :func:`mfscan.learn.augment.random_params`'s defaults."""
    from mfscan.learn.augment import random_params

    sig = inspect.signature(random_params)
    out = {k: p.default for k, p in sig.parameters.items() if p.default is not inspect.Parameter.empty}
    out = {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}
    out.update(left_right_flip=False, rotation="about the image centre", speckle="multiplicative, smoothed")
    return out
