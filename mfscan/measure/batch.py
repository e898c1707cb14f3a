"""Measuring many annotated images: a folder, in parallel, or on a Dask cluster.

One image is measured by :mod:`mfscan.measure.annotation` (its names are importable
from here too); finding the images and their sidecars is :mod:`mfscan.measure.discover`.
"""

from __future__ import annotations

import os
import socket
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mfscan.errors import MfscanError
from mfscan.io.tables import set_dtypes
from mfscan.measure.annotation import (
    ERROR_COLUMNS,
    MEASUREMENT_COLUMNS,
    measure_file,
)
from mfscan.measure.discover import discover, relative_label
from mfscan.measure.echo_texture import TEXTURE_COLUMNS
from mfscan.measure.outline import MEASURE_COLUMNS


def _measure_chunk(chunk, max_pixels, label_root, qc_dir=None, echo_correction="young2015"):
    """Measure a list of (image, sidecars): decode here, measure and read files in a helper thread.

    Decoders release the GIL for the whole decode, so while this thread decodes
    image k the helper measures image k - 1 and then reads the file of image k + 1:
    this thread does nothing but decode, and measuring hides behind decoding. The
    roles are chosen so that no thread waits for the GIL: the helper gets it when
    this thread enters the decoder and is done (measuring and reading take less
    time than decoding) before the decoder returns. No interpreter setting (switch
    interval) is changed. At most two decoded images and two files are held.
    """
    from concurrent.futures import ThreadPoolExecutor

    rows, errors, infos = [], [], []

    def collect(result):
        r, e, info = result
        rows.extend(r)
        errors.extend(e)
        if info is not None:
            infos.append(info)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mfscan-measure") as helper:
        reads = [helper.submit(_read_export, path) for path, _ in chunk[:2]]
        measuring = None
        for i, (image, sidecars) in enumerate(chunk):
            loader = _decoded(image, reads[i].result(), max_pixels)
            reads[i] = None  # the bytes are not needed any more
            if measuring is not None:
                collect(measuring.result())
            # FIFO: the helper measures image i, then reads file i + 2, while this thread decodes i + 1.
            measuring = helper.submit(
                measure_file,
                image,
                sidecars,
                max_pixels=max_pixels,
                label_root=label_root,
                qc_dir=qc_dir,
                loader=loader,
                echo_correction=echo_correction,
            )
            if i + 2 < len(chunk):
                reads.append(helper.submit(_read_export, chunk[i + 2][0]))
        if measuring is not None:
            collect(measuring.result())
    return rows, errors, infos


#: Exports read whole before decoding (DICOM and TIFF, possibly large cines, are read by their decoder).
_BYTES_SUFFIXES = {".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".dib"}


def _read_export(path) -> bytes | None:
    """The bytes of a PNG/JPEG/BMP file, read ahead so that decoding it starts at once; else None."""
    if Path(path).suffix.lower() not in _BYTES_SUFFIXES:
        return None
    try:
        return Path(path).read_bytes()
    except OSError:
        return None  # load_image reports it


def _decoded(path, data: bytes | None, max_pixels: int | None):
    """Load `path` now; return a loader giving the image, or raising what loading raised."""
    from mfscan.io.images import load_image

    kw = {} if max_pixels is None else {"max_pixels": max_pixels}
    if data is not None:
        kw["data"] = data
    try:
        image = load_image(path, **kw)
    except Exception as e:  # reported by measure_file, as if it had loaded the image itself
        error = e

        def fail():
            raise error

        return fail
    return lambda: image


def _chunks(jobs, size: int, workers: int = 1):
    """Lists of at most `size` ``(image, sidecars)``. With several `workers` the last chunks shrink
    (each at most ``1 / (2 * workers)`` of the images left, at least 2), so that at the end no worker
    is left alone with a long chunk while the others wait."""
    jobs = list(jobs)
    start = 0
    while start < len(jobs):
        n = size if workers <= 1 else max(2, min(size, (len(jobs) - start) // (2 * workers)))
        chunk = jobs[start : start + n]
        start += n
        yield [(j.image, j.read if j.read is not None else j.sidecars) for j in chunk]


@dataclass
class MeasureResult:
    """Result of :func:`measure_paths`.

    Attributes
    ----------
    measurements : DataFrame
        One row per outline (:data:`MEASUREMENT_COLUMNS`).
    errors : DataFrame
        ``path, roi, reason`` for every file or outline that failed.
    images : DataFrame
        One row per loaded image: format, size, calibration source and scale,
        burned-in annotation flag, calibration warnings.
    n_images : int
        Annotated images found.
    """

    measurements: pd.DataFrame
    errors: pd.DataFrame
    images: pd.DataFrame
    n_images: int

    @property
    def n_uncalibrated(self) -> int:
        return int((self.measurements["calibration"] == "none").sum())


class _Collector:
    def __init__(self, bar):
        self.rows, self.errors, self.infos, self.bar = [], [], [], bar

    def add(self, result, n):
        r, e, i = result
        self.rows += r
        self.errors += e
        self.infos += i
        self.bar.update(n)


def measure_jobs(
    jobs,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    max_pixels: int | None = None,
    label_root=None,
    qc_dir=None,
    chunk_size: int = 16,
    echo_correction: str = "young2015",
) -> MeasureResult:
    """Measure discovered jobs, in parallel, streaming (bounded memory).

    Images are decoded one at a time in each worker and dropped after measuring;
    at most a few chunks per worker are in flight, so a folder of 100,000
    images needs no more memory than a few dozen.

    Parameters
    ----------
    jobs : list of Job
    workers : int, optional
        Local processes; default: the number of cores. 1 measures in this process.
    scheduler : str, optional
        Address of a running Dask distributed scheduler (``tcp://host:8786``);
        the same work runs there instead of on local processes, with identical results.
    progress : bool
        Show a progress bar on stderr.
    max_pixels : int, optional
        Refuse images whose header claims more pixels.
    label_root : Path, optional
        Write paths relative to this folder.
    qc_dir : Path, optional
        Write QC overlays there.
    echo_correction : {'young2015', 'mueller'}
        Formula of ``echo_mean_corrected`` (see :data:`mfscan.measure.echo_texture.ECHO_CORRECTIONS`).
    """
    from tqdm.auto import tqdm

    jobs = list(jobs)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise MfscanError(f"workers must be a whole number of 1 or more, got {workers!r}")
    if scheduler:
        check_scheduler(scheduler)
    bar = tqdm(total=len(jobs), unit="image", desc="measuring", disable=not progress or not jobs, leave=False)
    out = _Collector(bar)
    args = (max_pixels, label_root, qc_dir, echo_correction)
    if scheduler:
        _run_dask(_chunks(jobs, chunk_size), scheduler, args, out)
    else:
        workers = workers or os.cpu_count() or 1
        if workers == 1 or len(jobs) <= chunk_size:
            for chunk in _chunks(jobs, chunk_size):
                out.add(_measure_chunk(chunk, *args), len(chunk))
        else:
            chunks = _chunks(jobs, chunk_size, workers)
            with ProcessPoolExecutor(max_workers=workers) as ex:
                pending = []
                for chunk in chunks:
                    pending.append((len(chunk), ex.submit(_measure_chunk, chunk, *args)))
                    if len(pending) >= 4 * workers:  # bounded window: results collected in order
                        n, fut = pending.pop(0)
                        out.add(fut.result(), n)
                for n, fut in pending:
                    out.add(fut.result(), n)
    bar.close()
    return MeasureResult(
        measurements_frame(out.rows), errors_frame(out.errors), images_frame(out.infos), len(jobs)
    )


def check_scheduler(address: str) -> None:
    """Raise MfscanError, in a line, when `address` is not a Dask scheduler address or nothing
    answers there within :data:`mfscan.vocab.SCHEDULER_TIMEOUT_S` (a refused TCP connection or
    an unknown host fails at once)."""
    from distributed.comm import parse_address, parse_host_port
    from distributed.comm.registry import get_backend

    from mfscan.vocab import SCHEDULER_TIMEOUT_S

    example = "give one such as tcp://10.0.0.5:8786"
    try:
        scheme, location = parse_address(str(address))
        get_backend(scheme)
        host, port = parse_host_port(location) if scheme in ("tcp", "tls") else (None, None)
    except (ValueError, TypeError) as e:
        raise MfscanError(
            f"--scheduler {address!r} is not a Dask scheduler address (scheme://host:port); {example}"
        ) from e
    if host is None:
        return  # inproc, ucx, ws: Client's own timeout applies
    if not (isinstance(port, int) and 0 < port < 65536):
        raise MfscanError(f"--scheduler {address!r}: the port must be from 1 to 65535; {example}")
    advice = "check the address and that the scheduler is running (dask scheduler), or leave out --scheduler"
    try:
        socket.create_connection((host, port), timeout=SCHEDULER_TIMEOUT_S).close()
    except OSError as e:
        why = "no answer" if isinstance(e, TimeoutError) else (e.strerror or str(e))
        raise MfscanError(f"cannot reach the Dask scheduler at {address} ({why}); {advice}") from e
    _ask_identity(address, SCHEDULER_TIMEOUT_S, advice)


def _ask_identity(address: str, timeout: float, advice: str) -> None:
    """Ask the server at `address` who it is, in a thread of its own (safe under a running event
    loop); MfscanError unless a Dask scheduler answers within `timeout` seconds. A port that
    answers in another protocol would otherwise fail deep inside the Dask client."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    async def probe():
        from distributed.comm import connect

        comm = await connect(address, timeout=timeout)
        try:
            await asyncio.wait_for(comm.write({"op": "identity", "reply": True}), timeout)
            return await asyncio.wait_for(comm.read(), timeout)
        finally:
            comm.abort()

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mfscan-scheduler") as ex:
        try:
            reply = ex.submit(asyncio.run, probe()).result()
        except Exception as e:  # any failure of the handshake means: no scheduler there
            raise MfscanError(
                f"no Dask scheduler answers at {address} (the connection is open but the reply is "
                f"not Dask's); {advice}"
            ) from e
    if not (isinstance(reply, dict) and reply.get("type") == "Scheduler"):
        raise MfscanError(f"the server at {address} is not a Dask scheduler; {advice}")


def _run_dask(chunks, address, args, out):
    from distributed import Client

    from mfscan.vocab import SCHEDULER_TIMEOUT_S

    try:
        client = Client(address, set_as_default=False, timeout=SCHEDULER_TIMEOUT_S)
    except OSError as e:
        raise MfscanError(f"cannot connect to the Dask scheduler at {address} ({e})") from e
    with client:
        window = 4 * max(sum(client.nthreads().values()), 1)
        pending = []
        for chunk in chunks:
            pending.append((len(chunk), client.submit(_measure_chunk, chunk, *args, pure=False)))
            if len(pending) >= window:  # bounded window, results in submission order
                n, fut = pending.pop(0)
                out.add(fut.result(), n)
                fut.release()
        for n, fut in pending:
            out.add(fut.result(), n)
            fut.release()


def measure_paths(paths=None, *, study=None, **kwargs) -> MeasureResult:
    """Discover and measure; paths are labelled relative to a single folder argument.

    With `study` (:func:`mfscan.measure.study.resolve_study`), its images and the
    sidecars it read are measured instead (nothing is searched or read again). See
    :func:`measure_jobs` for the other keyword arguments.
    """
    if study is not None:
        jobs, errors = study.annotated, [dict(e) for e in study.errors]
        kwargs.setdefault("label_root", study.root)
    else:
        paths = [Path(p) for p in paths]
        jobs, errors = discover(paths)
        if "label_root" not in kwargs and len(paths) == 1 and paths[0].is_dir():
            kwargs["label_root"] = paths[0]
    res = measure_jobs(jobs, **kwargs)
    root = kwargs.get("label_root")
    for e in errors:
        e["path"] = relative_label(Path(e["path"]), root)
    if errors:  # discovery problems first
        res.errors = errors_frame(errors + res.errors.to_dict("records"))
    return res


def measurements_frame(rows) -> pd.DataFrame:
    """The tidy measurements table from row dicts, with dtypes set."""
    df = pd.DataFrame(rows, columns=list(MEASUREMENT_COLUMNS))
    df["frame"] = df["frame"].astype("Int64")
    df["roi"] = df["roi"].astype("Int64")
    df["region"] = df["region"].astype("Int64")
    df["n_pixels"] = df["n_pixels"].astype("Int64")
    df["n_points"] = df["n_points"].astype("Int64")
    df["trial"] = df["trial"].astype("Int64")
    for c in MEASURE_COLUMNS + QUALITY_FLOAT_COLUMNS + ("row_mm", "col_mm"):
        if c not in ("n_pixels",):
            df[c] = df[c].astype(float)
    for c in ("visit_date", "kind", "view", "task", "posture", "fat_source", "echo_correction"):
        df[c] = df[c].astype("string")
    df["echo_correction_status"] = df["echo_correction_status"].astype("string")
    df["echo_bit_depth"] = df["echo_bit_depth"].astype("Int64")
    return set_dtypes(df)


#: Float columns of line and muscle-quality measures (:mod:`mfscan.measure.lines`, ``.echo_texture``).
QUALITY_FLOAT_COLUMNS = ("thickness_cm", "fat_thickness_cm", "echo_mean_corrected", *TEXTURE_COLUMNS)


IMAGE_COLUMNS = (
    "image",
    "format",
    "rows_px",
    "cols_px",
    "frames",
    "color",
    "calibration",
    "row_mm",
    "col_mm",
    "n_regions",
    "burned_in_annotation",
    "lossy",
    "warnings",
)


def images_frame(infos) -> pd.DataFrame:
    """One row per loaded image (see :class:`MeasureResult`)."""
    return pd.DataFrame(infos, columns=list(IMAGE_COLUMNS))


def errors_frame(errors) -> pd.DataFrame:
    df = pd.DataFrame(errors, columns=list(ERROR_COLUMNS))
    df["roi"] = df["roi"].astype("Int64")
    return df
