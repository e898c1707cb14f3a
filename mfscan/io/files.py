"""Writing files safely, reading JSON, and checksumming files.

:func:`atomic_write_bytes` is how mfscan writes every file it owns (sidecars,
tables, QC overlays, ImageJ ROI sets): a crash leaves either the old or the new
complete file, never half of one. Nothing here changes the process (no
``os.umask`` call): a new file gets its permissions from the kernel, exactly as
with a plain ``open(path, "w")``.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "atomic_write_bytes",
    "file_sha256",
    "loads_json",
    "read_json",
    "link_outside",
    "staging_folder",
    "move_into",
]

_BOM = b"\xef\xbb\xbf"


def loads_json(data: bytes):
    """Parse JSON bytes (UTF-8, a byte-order mark allowed, as Windows editors write it).

    Raises
    ------
    ValueError
        When `data` is not valid JSON (``orjson.JSONDecodeError`` is a ValueError).
    """
    import orjson  # about 6 times faster than json on sidecars, whose reading is on hot paths

    return orjson.loads(data[3:] if data.startswith(_BOM) else data)


def read_json(path):
    """The parsed content of a JSON file (see :func:`loads_json`); raises OSError or ValueError."""
    return loads_json(Path(path).read_bytes())


def link_outside(path, folder) -> str | None:
    """Why `path`, found under `folder`, must not be read: it resolves outside `folder`.

    The one confinement rule of mfscan: a file found by searching a study folder (an
    image, a sidecar, the image a sidecar names) is read only when its real location
    (every symbolic link followed, its own and its folders') lies inside the folder's
    real location. A link to a file elsewhere (``/etc``, a home folder, another study)
    would otherwise be measured and its pixels copied into ``qc/``.

    Parameters
    ----------
    path : str or Path
        The file found.
    folder : str or Path
        The folder that was searched (the study folder, or the image's folder).

    Returns
    -------
    str or None
        The reason, naming where the link leads and what to do; None when `path` is
        inside `folder` (or does not exist, which the reader reports in its own words).
    """
    path, folder = Path(path), Path(folder)
    try:
        real = path.resolve(strict=True)
        root = folder.resolve(strict=True)
    except (OSError, RuntimeError):  # missing, or a loop of links: left to the reader
        return None
    if real == root or root in real.parents:
        return None
    return (
        f"is a symbolic link to {real}, outside the folder searched ({root}); refused so that no "
        "file from elsewhere is read. Copy the file into the study, or give a folder that holds "
        "the link's target"
    )


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new, empty temporary file beside `path`, created with mode 0o666 so that
    the kernel applies the caller's umask (and a folder's default ACL) as ``open()``
    does."""
    while True:
        tmp = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")
        try:
            return os.open(tmp, _CREATE, 0o666), tmp
        except FileExistsError:
            continue


def _keep_group_and_mode(fd: int, st: os.stat_result) -> None:
    """Give the new file the replaced file's group (when allowed) and mode bits."""
    if hasattr(os, "fchown") and os.fstat(fd).st_gid != st.st_gid:
        try:
            os.fchown(fd, -1, st.st_gid)
        except OSError:
            pass  # not a member of that group: the folder's rules apply
    os.fchmod(fd, st.st_mode & 0o7777)


def _fsync_folder(folder: Path) -> None:
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def atomic_write_bytes(path, data: bytes) -> None:
    """Write `data` to `path` atomically.

    The bytes go to a temporary file in the same folder, are flushed to disk, and
    the temporary file is renamed over the target.

    The file keeps the permissions (mode bits) and, when the caller may set it,
    the group of the file it replaces; a new file gets those a plain
    ``open(path, "w")`` would give (``0o666 & ~umask``), so sidecars in a shared
    study folder stay readable by the other raters' accounts. A file that is
    read-only (no write bit, or not writable by the caller) is never replaced:
    ``PermissionError`` says so, as ``open(path, "w")`` would.

    Parameters
    ----------
    path : str or Path
        The file to write (its folder must exist).
    data : bytes
        The complete new content.

    Raises
    ------
    OSError
        When the folder is not writable or the disk is full; the target is then
        unchanged and no temporary file is left behind. PermissionError when the
        target is read-only.
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError:
        st = None  # a new file: the kernel applies the umask
    if st is not None and (not st.st_mode & 0o222 or not os.access(path, os.W_OK)):
        raise PermissionError(
            errno.EACCES, "read-only file, not replaced; make it writable to replace it", str(path)
        )
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            if st is not None:
                _keep_group_and_mode(f.fileno(), st)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_folder(path.parent)


def file_sha256(path) -> str:
    """SHA-256 of a file's bytes, read in chunks.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    str
        64 lower-case hexadecimal characters.
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextmanager
def staging_folder(target) -> Iterator[Path]:
    """A new, empty folder beside `target` to build a set of outputs in.

    The folder (``.<target name>.partial-<random>``) is created with the
    permissions a plain ``mkdir`` gives (the kernel applies the umask); when the
    block raises, it is removed with everything in it, so a failed run leaves
    `target` as it was. Move the outputs in with :func:`move_into` inside the block.

    Parameters
    ----------
    target : str or Path
        The folder the outputs are for (its parent is created when missing).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = target.with_name(f".{target.name}.partial-{os.urandom(4).hex()}")
        try:
            tmp.mkdir(0o777)
            break
        except FileExistsError:
            continue
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def move_into(staging, target, *, retire=()) -> None:
    """Move every file of `staging` to the same place under `target` (renames, no copy),
    so that a failure leaves `target` as it was.

    When `target` does not exist, `staging` itself is renamed to it. Otherwise the files of
    `target` that a new file replaces, and those named in `retire` (an earlier set of outputs
    that this one may lack), are first moved aside into a folder beside `target`; then the new
    files are moved in (folders created as needed); the old files are deleted, with the
    folders they leave empty, only when every move succeeded. When a move fails, the new files
    moved in so far are removed and the old ones put back before the error is raised. Files of
    `target` neither replaced nor retired are kept. Both must be on the same file system
    (:func:`staging_folder` puts the staging folder beside the target).

    Parameters
    ----------
    staging, target : str or Path
        The folder of the new outputs and the folder they are for.
    retire : iterable of str or Path, keyword-only
        Paths relative to `target` of old outputs to remove (missing ones are ignored).

    Raises
    ------
    OSError
        When a move fails (`target` restored), or when restoring fails too (then with the
        attribute ``restore_failed = True``, the message naming the folder of the old files).
    """
    staging, target = Path(staging), Path(target)
    if not target.exists():
        os.replace(staging, target)
        return
    aside = target.with_name(f".{target.name}.old-{os.urandom(4).hex()}")
    aside.mkdir(0o700)
    moved_aside: list[tuple[Path, Path]] = []
    moved_in: list[Path] = []
    made: list[Path] = []

    def put_aside(rel: Path) -> None:
        (aside / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(target / rel, aside / rel)
        moved_aside.append((target / rel, aside / rel))

    try:
        for rel in dict.fromkeys(Path(r) for r in retire):
            if (target / rel).is_file() or (target / rel).is_symlink():
                put_aside(rel)
        for root, _dirs, files in os.walk(staging):
            rel_dir = Path(root).relative_to(staging)
            # os.walk is top-down: every parent of rel_dir was made when it was walked
            if rel_dir.parts and not (target / rel_dir).is_dir():
                (target / rel_dir).mkdir()
                made.append(target / rel_dir)
            for name in files:
                rel = rel_dir / name
                if (target / rel).is_file() or (target / rel).is_symlink():
                    put_aside(rel)
                os.replace(Path(root) / name, target / rel)
                moved_in.append(target / rel)
    except BaseException as e:
        _restore(moved_in, made, moved_aside, aside, e)
        raise
    shutil.rmtree(aside, ignore_errors=True)
    _remove_empty_parents([orig for orig, _ in moved_aside], target)
    _fsync_folder(target)


def _restore(moved_in, made, moved_aside, aside: Path, error: BaseException) -> None:
    """Undo :func:`move_into`: the new files out, the old ones back, `aside` removed."""
    try:
        for path in reversed(moved_in):
            path.unlink(missing_ok=True)
        for d in reversed(made):
            try:
                d.rmdir()
            except OSError:
                pass
        for orig, kept in reversed(moved_aside):
            os.replace(kept, orig)
    except OSError as restore_error:
        failed = OSError(
            errno.EIO,
            f"{error}; restoring the previous files failed too ({restore_error}): they are in {aside}",
        )
        failed.restore_failed = True
        raise failed from restore_error
    shutil.rmtree(aside, ignore_errors=True)


def _remove_empty_parents(paths, top: Path) -> None:
    """Remove the folders under `top` that held `paths` and are now empty, deepest first."""
    folders = {p for path in paths for p in Path(path).parents if p != top and top in p.parents}
    for d in sorted(folders, key=lambda d: -len(d.parts)):
        try:
            d.rmdir()
        except OSError:
            pass
