"""Frames of a cine decoded one at a time, on first use.

A multi-frame DICOM loaded without a ``frames`` selection gets a :class:`FrameStack`
for ``Image.pixels``, ``Image.gray`` and ``Image.overlay``: an array-like of shape
``(n_frames, rows, cols[, 3])`` whose ``stack[k]`` decodes frame ``k`` only (its
pixels, gray and overlay mask together, kept in a small cache of recent frames).
``np.asarray(stack)`` decodes every frame. It has ``shape``, ``dtype``, ``ndim``,
``size`` and ``__getitem__``, which is what napari needs to show a cine lazily,
one displayed frame at a time.
"""

from __future__ import annotations

import operator
import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from mfscan.errors import ImageReadError

__all__ = ["FrameStack", "FrameDecoder", "FrameIndexError", "frame_index"]

#: Decoded frames kept per file (pixels, gray and overlay of each).
CACHE_FRAMES = 8


class FrameIndexError(ImageReadError, IndexError):
    """A frame index outside the image (an :class:`ImageReadError` and an :class:`IndexError`)."""


def frame_index(i, n: int, path=None) -> int:
    """``i`` as a frame index in ``range(n)`` (negative counts from the end), or FrameIndexError."""
    try:
        k = operator.index(i)
    except TypeError as e:
        raise TypeError(f"a frame index must be an integer, not {type(i).__name__}") from e
    if not -n <= k < n:
        raise FrameIndexError(f"frame {k} does not exist (the image has {n} frame(s): 0-{n - 1})", path)
    return k % n


class FrameDecoder:
    """Decode frame ``k`` to ``(pixels, gray, overlay)`` with a small cache.

    Parameters
    ----------
    decode : callable
        ``decode(k) -> (pixels, gray, overlay or None)`` for one frame.
    n : int
        Frames in the file.
    path : Path
        For messages.
    """

    def __init__(self, decode: Callable, n: int, path, cache: int = CACHE_FRAMES):
        self._decode = decode
        self.n = int(n)
        self.path = path
        self._size = max(1, int(cache))
        self._cache: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, i) -> tuple:
        k = frame_index(i, self.n, self.path)
        with self._lock:
            if k in self._cache:
                self._cache.move_to_end(k)
                return self._cache[k]
        out = self._decode(k)
        with self._lock:
            self._cache[k] = out
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return out

    def __getstate__(self):  # pickled without the lock and the cache
        d = self.__dict__.copy()
        d["_lock"], d["_cache"] = None, OrderedDict()
        return d

    def __setstate__(self, d):
        self.__dict__.update(d)
        self._lock = threading.Lock()


class FrameStack:
    """One of a cine's pixels, gray or overlay, as an array-like decoded per frame.

    Parameters
    ----------
    decoder : FrameDecoder
    part : int
        0 pixels, 1 gray, 2 overlay.
    frame_shape : tuple
        Shape of one frame.
    dtype : dtype
    """

    def __init__(self, decoder: FrameDecoder, part: int, frame_shape: tuple, dtype):
        self._decoder = decoder
        self._part = int(part)
        self.shape = (decoder.n, *(int(s) for s in frame_shape))
        self.dtype = np.dtype(dtype)

    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: int(np.prod(self.shape)))
    nbytes = property(lambda self: self.size * self.dtype.itemsize)

    def __len__(self) -> int:
        return self.shape[0]

    def _frame(self, k) -> np.ndarray:
        return self._decoder.get(k)[self._part]

    def __getitem__(self, key):
        rest: tuple = ()
        if isinstance(key, tuple):
            if not key:
                return np.asarray(self)
            key, rest = key[0], key[1:]
        if key is Ellipsis:
            return np.asarray(self)[(Ellipsis, *rest)]
        if isinstance(key, slice):
            idx = range(self.shape[0])[key]
            if len(idx) == 0:
                return np.empty((0, *self.shape[1:]), self.dtype)[(slice(None), *rest)]
            return np.stack([self._frame(k)[rest] for k in idx])
        if isinstance(key, (list, np.ndarray)) and np.asarray(key).dtype != bool:
            return np.stack([self._frame(k)[rest] for k in np.asarray(key).ravel()])
        if isinstance(key, (list, np.ndarray)):
            return np.asarray(self)[(key, *rest)]
        return self._frame(key)[rest]

    def __iter__(self):
        for k in range(self.shape[0]):
            yield self._frame(k)

    def __array__(self, dtype=None, copy=None):
        arr = np.stack([self._frame(k) for k in range(self.shape[0])])
        return arr if dtype is None else arr.astype(dtype)

    def __repr__(self) -> str:
        what = ("pixels", "gray", "overlay")[self._part]
        return f"FrameStack({what}, shape={self.shape}, dtype={self.dtype}, decoded per frame)"
