"""Images for the plugin: loading through the core, a small cache owned by its user, sample images.

:class:`ImageCache` keeps the last few decoded images so that the widget measures
against the image the reader displayed without decoding it at every vertex
edit; the widget owns one (``MultifidusWidget.images``), nothing here is a
process-wide cache. Sample images exist only in memory: they are registered
under ``memory:<key>`` (:func:`register_memory_image`) so that a layer's
``image_path`` can name them.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from mfscan.errors import ImageReadError, MfscanError
from mfscan.vocab import DEFAULT_MAX_PIXELS

__all__ = ["MEMORY_PREFIX", "ImageCache", "register_memory_image", "image_key", "load", "get_image"]

MEMORY_PREFIX = "memory:"

#: Sample images opened in this session (File ▸ Open Sample), by ``memory:<key>``. Only
#: the last image of each key is kept; the samples are small and few.
_MEMORY_IMAGES: dict = {}


def register_memory_image(key: str, image) -> str:
    """Make an in-memory image (sample data) loadable as ``memory:<key>``; returns that name."""
    name = MEMORY_PREFIX + key
    _MEMORY_IMAGES[name] = image
    return name


def image_key(image) -> str:
    """The ``image_path`` stored in layer metadata: the resolved file, or ``memory:<key>``."""
    p = str(image.path)
    return p if p.startswith(MEMORY_PREFIX) else str(Path(p).resolve())


def is_memory(path) -> bool:
    """True for the ``memory:<key>`` name of a sample image."""
    return str(path).startswith(MEMORY_PREFIX)


def _memory_image(path):
    try:
        return _MEMORY_IMAGES[str(path)]
    except KeyError as e:
        raise MfscanError("the sample image is no longer available; reopen it") from e


def _stat(path) -> tuple:
    p = Path(path).resolve()
    try:
        st = p.stat()
    except OSError as e:
        raise ImageReadError(f"cannot open the image ({e.strerror or e}); was it moved or renamed?", p) from e
    return p, (str(p), st.st_size, st.st_mtime_ns)


def load(path, *, max_pixels: int = DEFAULT_MAX_PIXELS):
    """Load an image through :func:`mfscan.io.images.load_image` (no cache).

    ``memory:<key>`` names a sample image registered with :func:`register_memory_image`.
    """
    from mfscan.io.images import load_image

    if is_memory(path):
        return _memory_image(path)
    p, _key = _stat(path)
    return load_image(p, max_pixels=max_pixels)


class ImageCache:
    """The last few images loaded, keyed by path, size and modification time.

    Parameters
    ----------
    size : int
        How many images to keep.
    max_pixels : int, keyword-only
        Passed to :func:`mfscan.io.images.load_image` (default
        :data:`mfscan.vocab.DEFAULT_MAX_PIXELS`).
    """

    def __init__(self, size: int = 4, *, max_pixels: int = DEFAULT_MAX_PIXELS):
        self.size = int(size)
        self.max_pixels = int(max_pixels)
        self._images: OrderedDict = OrderedDict()

    def __len__(self) -> int:
        return len(self._images)

    def clear(self) -> None:
        self._images.clear()

    def get(self, path):
        """The image at `path`, decoded once while the file is unchanged."""
        from mfscan.io.images import load_image

        if is_memory(path):
            return _memory_image(path)
        p, key = _stat(path)
        img = self._images.get(key)
        if img is None:
            img = load_image(p, max_pixels=self.max_pixels)
            self._images[key] = img
            while len(self._images) > self.size:
                self._images.popitem(last=False)
        else:
            self._images.move_to_end(key)
        return img


def get_image(path, cache: ImageCache | None = None):
    """The image at `path`: from `cache` when given (loaded into it), else loaded (:func:`load`)."""
    return cache.get(path) if cache is not None else load(path)
