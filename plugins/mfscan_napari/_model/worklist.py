"""The worklist: the images of a folder, annotated one after another."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mfscan.annotations import find_sidecars, session_sidecar_names
from mfscan.errors import MfscanError

__all__ = ["Worklist"]


@dataclass
class Worklist:
    """The images of a folder (searched recursively) to annotate one after another.

    Attributes
    ----------
    folder : Path
    images : list of Path
        Supported images in study order (:meth:`from_folder`).
    index : int
        The current image.
    """

    folder: Path
    images: list = field(default_factory=list)
    index: int = 0

    @classmethod
    def from_folder(cls, folder, visit_order=None) -> Worklist:
        """The folder's images found and ordered as the command line finds and orders the study
        (:func:`mfscan.measure.study.resolve_study`, :meth:`mfscan.measure.study.Study.ordered`):
        by subject, visit in the study's visit order (explicit `visit_order`, else the
        sidecars' dates, else the visit-word rule: ``pre`` before ``post``), then path."""
        from mfscan.measure.study import resolve_study

        folder = Path(folder).resolve()
        if not folder.is_dir():
            raise MfscanError("not a folder", folder)
        study = resolve_study(folder)
        return cls(folder, [j.image for j in study.ordered(visit_order)], 0)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def current(self) -> Path | None:
        return self.images[self.index] if self.images else None

    def go(self, index: int) -> Path | None:
        if not self.images:
            return None
        self.index = max(0, min(int(index), len(self.images) - 1))
        return self.current

    def step(self, delta: int) -> Path | None:
        """Move by `delta` images (clamped); returns the new current image."""
        return self.go(self.index + delta)

    def resume(self, name: str | None) -> Path | None:
        """Go to the image named `name` (relative name or file name) if listed."""
        if name:
            for i, p in enumerate(self.images):
                if p.name == name or p.relative_to(self.folder).as_posix() == name:
                    return self.go(i)
        return self.go(0)

    def relative(self, image) -> str:
        """The image's path relative to the folder, with ``/``."""
        return Path(image).relative_to(self.folder).as_posix()

    def reorder(self, order) -> None:
        """Put the images in `order` (relative paths; images not in it follow, in their
        current order); the current image stays current."""
        cur = self.current
        pos = {rel: i for i, rel in enumerate(order)}
        n = len(pos)
        self.images = sorted(self.images, key=lambda p: pos.get(self.relative(p), n + self.images.index(p)))
        if cur is not None:
            self.index = self.images.index(cur)

    def is_annotated(self, image, rater: str | None = None, session: str | None = None) -> bool:
        """True when the image has a sidecar (of `rater`'s `session`, when given).

        Only the files' existence is checked (:func:`mfscan.annotations.session_sidecar_names`),
        so that the count stays cheap for folders of thousands of images.
        """
        image = Path(image)
        if rater:
            try:
                return any(p.is_file() for p in session_sidecar_names(image, rater, session or None))
            except MfscanError:
                return False
        return bool(find_sidecars(image))

    def progress(self, rater: str | None = None, session: str | None = None) -> tuple[int, int]:
        """``(annotated, total)``: images with a sidecar (of `rater`'s `session` when given)."""
        return sum(self.is_annotated(p, rater, session) for p in self.images), len(self.images)
