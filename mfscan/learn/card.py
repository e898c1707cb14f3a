"""The model card (``model.json``) and the model's identifier (no torch at import).

A model folder holds ``weights.pt`` (the network's parameters) and ``model.json``
beside it. The model id is the first 12 hex digits of the SHA-256 of
``weights.pt``'s bytes: the same file gives the same id anywhere, and predictions
store it in the sidecar (ROI field ``model``), so agreement can be reported per
model version.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from pathlib import Path

from mfscan.errors import MfscanError
from mfscan.io.files import atomic_write_bytes

__all__ = ["CARD_NAME", "WEIGHTS_NAME", "FORMAT", "model_id", "software_versions", "write_card", "read_card"]

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
