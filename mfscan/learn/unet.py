"""The compact U-Net that segments both multifidus muscles.

Three output classes: 0 background, 1 the patient's left multifidus, 2 the
patient's right (the label values of :data:`mfscan.measure.masks.LABELS`). The
side therefore comes from the image (the side of the spinous process shadow);
a rater's seed, when given at prediction, picks the connected component and the
rater's side overrides the class (:mod:`mfscan.learn.predict`).

Importing this module does not import torch, so every module of mfscan imports
without the ``learn`` extra: the network class is built on first access of
:data:`UNet` (a module ``__getattr__``, PEP 562), which imports torch then and
raises the install hint of :func:`mfscan.learn._torch.require_torch` without it.
"""

from __future__ import annotations

from functools import cache

from mfscan.learn._torch import require_torch

__all__ = ["N_CLASSES", "DEFAULT_CHANNELS", "UNet", "multiple_of"]  # noqa: F822 (UNet: module __getattr__)

#: Output classes: background, left, right.
N_CLASSES = 3
#: Feature channels per level, finest first (the last is the bottleneck).
DEFAULT_CHANNELS = (16, 32, 64, 128)


def _block(nn, cin: int, cout: int):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def multiple_of(channels) -> int:
    """The factor an input's rows and cols must be a multiple of (2 ** poolings)."""
    return 2 ** (len(channels) - 1)


@cache
def _unet_class():
    """Define the U-Net class (needs torch); one class per process."""
    torch = require_torch()
    nn = torch.nn
    F = torch.nn.functional  # noqa: N806

    class UNet(nn.Module):
        """U-Net (Ronneberger et al. 2015) with ``len(channels)`` levels, one grey input channel.

        Parameters
        ----------
        channels : tuple of int
            Feature channels per level, finest first.
        n_classes : int
            Output channels (logits).

        Notes
        -----
        Input ``(batch, 1, rows, cols)`` with rows and cols multiples of
        :func:`multiple_of`; output logits ``(batch, n_classes, rows, cols)``.
        """

        def __init__(self, channels=DEFAULT_CHANNELS, n_classes: int = N_CLASSES):
            super().__init__()
            channels = tuple(int(c) for c in channels)
            self.channels = channels
            self.down = nn.ModuleList()
            cin = 1
            for c in channels:
                self.down.append(_block(nn, cin, c))
                cin = c
            self.up = nn.ModuleList()
            self.dec = nn.ModuleList()
            for c in reversed(channels[:-1]):
                self.up.append(nn.ConvTranspose2d(cin, c, 2, stride=2))
                self.dec.append(_block(nn, 2 * c, c))
                cin = c
            self.head = nn.Conv2d(cin, n_classes, 1)

        def forward(self, x):
            skips = []
            for i, block in enumerate(self.down):
                x = block(x if i == 0 else F.max_pool2d(x, 2))
                skips.append(x)
            skips.pop()
            for up, dec in zip(self.up, self.dec, strict=True):
                x = dec(torch.cat([up(x), skips.pop()], dim=1))
            return self.head(x)

    UNet.__qualname__ = "UNet"
    return UNet


def __getattr__(name: str):
    if name == "UNet":
        return _unet_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
