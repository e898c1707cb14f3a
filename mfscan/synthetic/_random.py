"""The random generator of every synthetic image: NumPy's Generator on a named bit generator.

``numpy.random.default_rng`` may pick another bit generator in a future NumPy; the
synthetic data must draw the same numbers with every NumPy, so the bit generator
(PCG64) is named here, once.
"""

from __future__ import annotations

import numpy as np

__all__ = ["generator"]


def generator(seed) -> np.random.Generator:
    """A :class:`numpy.random.Generator` on :class:`numpy.random.PCG64` seeded with ``seed``.

    ``seed`` is anything PCG64 takes: an int, a sequence of ints or a
    :class:`numpy.random.SeedSequence`.
    """
    return np.random.Generator(np.random.PCG64(seed))
