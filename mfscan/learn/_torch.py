"""The optional PyTorch dependency: imported only here, only when a learn command runs.

Nothing outside :mod:`mfscan.learn` imports torch, and :mod:`mfscan.learn` imports
it only inside functions (:func:`require_torch`), so mfscan works without it.
"""

from __future__ import annotations

import contextlib

from mfscan.errors import MfscanError

__all__ = ["INSTALL_HINT", "require_torch", "torch_threads", "pick_device"]

#: What to run when torch is missing.
INSTALL_HINT = (
    "model training and prediction need PyTorch, an optional extra: "
    'pip install "mfscan[learn]" (or install the CPU build of torch first from '
    "https://pytorch.org, then the extra)"
)


def require_torch():
    """The ``torch`` module, or an MfscanError with the install hint when it is missing."""
    try:
        import torch
    except ImportError as e:  # also raised when sys.modules["torch"] is None
        raise MfscanError(INSTALL_HINT) from e
    return torch


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Use ``n`` intra-op threads inside the block and restore the previous number after.

    ``None`` leaves torch's setting unchanged.
    """
    torch = require_torch()
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def pick_device(device: str | None = None) -> str:
    """``device`` when given, else ``"cuda"`` when a GPU is available, else ``"cpu"``."""
    torch = require_torch()
    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"
