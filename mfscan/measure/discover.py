"""Finding the work: images and the sidecars that annotate them, under files and folders.

A sidecar is paired with its image by file name (``stem[.rater].mfscan.json``) and,
when the name is ambiguous or unusual, by the image it names. Hidden files and the
copies a viewer sets aside after a save conflict are skipped. A file found by the
search (not named by the caller) that is a symbolic link resolving outside the folder
searched is refused with an error (:func:`mfscan.io.files.link_outside`), as is the
image a sidecar names when it leads outside. Used by
:func:`mfscan.measure.batch.measure_paths`, the report and the plugin's worklist.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from mfscan.annotations import find_sidecars, is_conflict_copy, is_sidecar
from mfscan.annotations.paths import SUFFIX, code_problem
from mfscan.annotations.records import image_name_problem
from mfscan.io.files import link_outside
from mfscan.io.images import SUPPORTED_SUFFIXES, is_supported

__all__ = ["Job", "discover", "relative_label"]


@dataclass
class Job:
    """One image and the sidecars that annotate it."""

    image: Path
    sidecars: list[Path] = field(default_factory=list)
    #: The sidecars already read, ``(path, Annotation or why it cannot be read)`` in the order of
    #: `sidecars` (:func:`mfscan.measure.study.resolve_study`); None: read them when needed.
    read: list | None = None


def _is_image_file(path: Path) -> bool:
    """True for a file mfscan can load (by suffix, or by content for suffixless DICOM)."""
    try:
        return is_supported(path)
    except OSError:
        return False


def _image_suffixes() -> set[str]:
    return {s.lower() for s in SUPPORTED_SUFFIXES}


def discover(paths, *, include_unannotated: bool = False) -> tuple[list[Job], list[dict]]:
    """Find images and their sidecars under files and folders.

    Parameters
    ----------
    paths : iterable of str or Path
        Image files, sidecar files or folders (searched recursively).
    include_unannotated : bool
        Also return images that have no sidecar.

    Returns
    -------
    jobs : list of Job
        Sorted by image path.
    errors : list of dict
        ``{"path", "roi", "reason"}`` for sidecars whose image is missing, paths
        that do not exist, and files found that link outside the folder searched.
    """
    images: set[Path] = set()
    sidecars: dict[Path, Path] = {}  # sidecar -> the folder its image must lie in
    errors: list[dict] = []
    left_out: set[Path] = set()

    def refused(f: Path, folder: Path, is_link: bool) -> bool:
        why = link_outside(f, folder) if is_link else None
        if why:
            errors.append({"path": str(f), "roi": None, "reason": why})
            left_out.add(f)
        return bool(why)

    for p in paths:
        p = Path(p)
        if p.is_dir():
            for f, is_link in _walk(p):
                if refused(f, p, is_link):
                    continue
                if is_sidecar(f):
                    sidecars[f] = p
                else:
                    images.add(f)
        elif p.is_file():
            if is_sidecar(p):
                sidecars[p] = p.parent
            else:
                images.add(p)  # named by the caller: read wherever it leads
                for sc in find_sidecars(p, confine=False):
                    if not refused(sc, p.parent, sc.is_symlink()):
                        sidecars[sc] = p.parent
        else:
            errors.append({"path": str(p), "roi": None, "reason": "no such file or folder"})
    by_image: dict[Path, list[Path]] = defaultdict(list)
    by_name = {(img.parent, img.name): img for img in images}
    by_stem: dict[tuple[Path, str], list[Path]] = defaultdict(list)
    for img in images:
        by_stem[(img.parent, img.stem)].append(img)
    for sc in sorted(sidecars):
        img = _match_by_name(sc, by_stem)
        if img is None:  # ambiguous or unusual name: ask the file which image it annotates
            img, problem = _match_by_content(sc, by_name, images, sidecars[sc])
            if problem and Path(sc.parent, problem[1]) in left_out:
                continue  # the sidecar of an image refused above: one message is enough
            if problem:
                errors.append({"path": str(sc), "roi": None, "reason": problem[0]})
                continue
        by_image[img].append(sc)
    jobs = [
        Job(img, sorted(by_image.get(img, [])))
        for img in sorted(images)
        if include_unannotated or by_image.get(img)
    ]
    return jobs, errors


def _walk(folder: Path):
    """``(path, is_link)`` of the image and sidecar files under `folder` (recursively; hidden
    files and folders, conflict copies skipped; links to folders not followed). Whether an
    entry is a link comes with the folder listing, at no extra system call."""
    suffixes = _image_suffixes()
    stack = [str(folder)]
    while stack:
        root = stack.pop()
        try:
            with os.scandir(root) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue  # unreadable folder: skipped, as os.walk does
        subdirs = []
        for e in entries:
            name = e.name
            if name.startswith("."):
                continue  # hidden files and folders
            try:
                is_dir = e.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                if not e.is_symlink():
                    subdirs.append(e.path)
                continue
            if is_conflict_copy(name):
                continue  # edits the viewer saved aside after a save conflict
            f = Path(e.path)
            if is_sidecar(f) or f.suffix.lower() in suffixes:
                yield f, e.is_symlink()
            elif not f.suffix and _is_image_file(f):
                yield f, e.is_symlink()  # DICOM files from scanners often have no suffix (IM0001)
        stack.extend(reversed(subdirs))


def _match_by_name(sidecar: Path, by_stem) -> Path | None:
    """The one image whose stem the sidecar's name starts with (``stem[.rater[.s<session>]].mfscan.json``)."""
    base = sidecar.name[: -len(SUFFIX)]
    candidates = by_stem.get((sidecar.parent, base), [])
    if not candidates and "." in base:
        stem, rater = base.rsplit(".", 1)
        if code_problem(rater, "rater") is None:
            candidates = by_stem.get((sidecar.parent, stem), [])
        parts = base.rsplit(".", 2)
        if (
            not candidates
            and len(parts) == 3
            and parts[2][:1] == "s"
            and code_problem(parts[1], "rater") is None
        ):
            candidates = by_stem.get((sidecar.parent, parts[0]), [])  # <stem>.<rater>.s<session>
    return candidates[0] if len(candidates) == 1 else None


def _match_by_content(sidecar: Path, by_name, images, folder: Path):
    """The image the sidecar's ``image`` field names, beside it, and None; or None and
    (why there is none, the name read): missing, or a link leading outside `folder`,
    the folder searched."""
    try:
        d = json.loads(sidecar.read_text("utf-8-sig"))
        name = d.get("image") if isinstance(d, dict) else None
    except (OSError, ValueError):
        name = None
    if not isinstance(name, str) or not name:
        return None, (
            "sidecar cannot be read, or names no image, and no image beside it matches its file name",
            "",
        )
    problem = image_name_problem(name)
    if problem:
        return None, (problem, "")
    img = by_name.get((sidecar.parent, name))
    if img is None:
        candidate = sidecar.parent / name
        if not candidate.is_file():
            return None, (f"the image {name[:60]!r} named by the sidecar is missing", name)
        why = link_outside(candidate, folder)
        if why:
            return None, (f"the image {name[:60]!r} named by the sidecar {why}", name)
        img = candidate
        images.add(img)
    return img, None


def relative_label(path: Path, root) -> str:
    """`path` relative to `root` in POSIX form (as written to the tables), else as given."""
    if root is not None:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            pass
    return path.as_posix()
