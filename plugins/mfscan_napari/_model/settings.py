"""Persistent settings of the widget (study codes, last image per folder) and the config folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .images import is_memory

__all__ = ["default_config_dir", "Settings", "study_key"]


def default_config_dir() -> Path:
    """``$MFSCAN_CONFIG_DIR`` or the user's config folder for mfscan."""
    env = os.environ.get("MFSCAN_CONFIG_DIR")
    if env:
        return Path(env)
    from platformdirs import user_config_dir

    return Path(user_config_dir("mfscan", appauthor=False))


def study_key(image_path, folders) -> str | None:
    """The study an image belongs to, as a settings key: the first of `folders` (study folder,
    worklist folder; None skipped) holding it, else the image's own folder; None for an image in
    memory. One normalisation for both sides (absolute, symbolic links resolved), so a study
    opened through a relative path or a link keeps one key."""
    if not image_path or is_memory(image_path):
        return None
    p = Path(image_path).resolve()
    for folder in folders:
        if folder is not None and Path(folder).resolve() in p.parents:
            return str(Path(folder).resolve())
    return str(p.parent)


class Settings:
    """Small persistent JSON settings (widget fields, last image per folder).

    Parameters
    ----------
    path : str or Path, optional
        The JSON file; default ``<config dir>/napari-widget.json``
        (:func:`default_config_dir`). Tests pass a temporary file.
    """

    def __init__(self, path=None):
        self.path = Path(path) if path is not None else default_config_dir() / "napari-widget.json"
        self._data: dict = {}
        try:
            d = json.loads(self.path.read_text("utf-8"))
            if isinstance(d, dict):
                self._data = d
        except (OSError, ValueError):
            pass

    def get(self, key, default=None):
        return self._data.get(key, default)

    def set(self, key, value) -> None:
        if key in self._data and self._data[key] == value:
            return  # unchanged: no write (fields change on every image; rater and session rarely)
        self._data[key] = value
        self.save()

    def update(self, values: dict) -> None:
        self._data.update(values)
        self.save()

    def save(self) -> None:
        from mfscan.io.files import atomic_write_bytes

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.path, json.dumps(self._data, indent=1).encode("utf-8"))
        except OSError:
            pass  # settings are a convenience; never stop the rater's work

    def last_image(self, folder) -> str | None:
        return (self._data.get("last_image") or {}).get(str(Path(folder).resolve()))

    def set_last_image(self, folder, image) -> None:
        d = dict(self._data.get("last_image") or {})
        d[str(Path(folder).resolve())] = str(Path(image).name)
        self.set("last_image", d)
