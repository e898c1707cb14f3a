"""Measuring many annotated images: one sidecar, one file, a folder, in parallel.

The plugin and batch scripts measure with the same function,
:func:`measure_annotation`, so the CSV always shows what the rater saw. Each
outline's scale comes from the one calibration rule,
:func:`mfscan.calibration.roi_calibration`. Finding the images and their sidecars
is :mod:`mfscan.measure.discover` (its names are importable from here too).
"""

from __future__ import annotations

import os
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd

from mfscan import calibration as _cal
from mfscan.annotations import Annotation, file_sha256, read_sidecar
from mfscan.errors import MfscanError
from mfscan.io.tables import set_dtypes
from mfscan.measure.discover import Job, discover, relative_label  # noqa: F401  (importable from here too)
from mfscan.measure.outline import MEASURE_COLUMNS, measure_outline

#: Columns of the measurements table, in order.
MEASUREMENT_COLUMNS = (
    "image",
    "sidecar",
    "subject",
    "visit",
    "session",
    "level",
    "side",
    "rater",
    "frame",
    "roi",
    "method",
    "csa_cm2",
    "perimeter_cm",
    "ap_depth_cm",
    "lateral_width_cm",
    "shape_ratio",
    "echo_mean",
    "echo_sd",
    "n_pixels",
    "csa_px2",
    "perimeter_px",
    "ap_depth_px",
    "lateral_width_px",
    "row_mm",
    "col_mm",
    "calibration",
    "region",
    "n_points",
)
ERROR_COLUMNS = ("path", "roi", "reason")


def _override(annotation: Annotation | None) -> _cal.Calibration | None:
    return annotation.calibration if annotation is not None else None


def effective_calibration(annotation: Annotation | None, image) -> _cal.Calibration:
    """Alias of :func:`mfscan.calibration.image_calibration` taking the sidecar (kept for the plugin)."""
    return _cal.image_calibration(image, _override(annotation))


def roi_calibration(points, annotation: Annotation | None, image) -> _cal.Calibration:
    """Alias of :func:`mfscan.calibration.roi_calibration` taking the sidecar (kept for the plugin)."""
    return _cal.roi_calibration(points, image, _override(annotation))


def measure_annotation(
    image, annotation: Annotation, *, image_label=None, sidecar_label=None
) -> tuple[list[dict], list[dict]]:
    """Measure every outline of one sidecar on its loaded image.

    Parameters
    ----------
    image : mfscan.io.images.Image
    annotation : Annotation
    image_label, sidecar_label : str, optional
        What to write in the ``image`` and ``sidecar`` columns.

    Returns
    -------
    rows : list of dict
        One per outline measured (columns of :data:`MEASUREMENT_COLUMNS`).
    errors : list of dict
        One per outline that could not be measured: ``path``, ``roi``, ``reason``
        (naming the ROI, for error lists) and ``problem`` (the reason alone, for
        showing beside the outline).
    """
    rows, errors = [], []
    sidecar_label = (
        sidecar_label if sidecar_label is not None else (str(annotation.path) if annotation.path else None)
    )
    image_label = image_label if image_label is not None else str(image.path)
    for i, roi in enumerate(annotation.rois):
        where = f"ROI {i} ({roi.side})"
        try:
            frame = roi.frame or 0
            if frame >= image.n_frames:
                raise MfscanError(f"frame {frame} does not exist; the image has {image.n_frames} frame(s)")
            cal = _cal.roi_calibration(roi.points, image, annotation.calibration)
            overlay = image.overlay[frame] if image.overlay is not None else None
            m = measure_outline(roi.points, image.gray[frame], spacing=cal.mm_per_pixel, exclude=overlay)
        except MfscanError as e:
            errors.append(
                {
                    "path": sidecar_label or image_label,
                    "roi": i,
                    "reason": f"{where}: {e.message}",
                    "problem": e.message,
                }
            )
            continue
        rows.append(
            {
                "image": image_label,
                "sidecar": sidecar_label,
                "subject": annotation.subject,
                "visit": annotation.visit,
                "session": annotation.session,
                "level": roi.level or annotation.level,
                "side": roi.side,
                "rater": annotation.rater,
                "frame": frame,
                "roi": i,
                "method": roi.method,
                **m,
                "row_mm": cal.row_mm if cal.calibrated else np.nan,
                "col_mm": cal.col_mm if cal.calibrated else np.nan,
                "calibration": cal.source,
                "region": cal.region,
                "n_points": len(roi.points),
            }
        )
    return rows, errors


def check_annotation(annotation: Annotation, image_path, digests: dict | None = None) -> str | None:
    """Why a sidecar does not belong to its image, or None: the check of every command.

    A sidecar must name the image it was matched to, and when it carries
    ``image_sha256``, the image must not have changed since. ``digests`` caches the
    image's checksum between the sidecars of one image.
    """
    image_path = Path(image_path)
    if Path(annotation.image).name != image_path.name:
        return (
            f"the sidecar names image {annotation.image!r}, but its file name matches "
            f"{image_path.name!r}; rename the sidecar or fix its 'image' field"
        )
    if annotation.image_sha256:
        digests = {} if digests is None else digests
        if "sha256" not in digests:
            digests["sha256"] = file_sha256(image_path)
        if digests["sha256"] != annotation.image_sha256:
            return "the image changed since it was annotated (checksum does not match)"
    return None


def measure_file(
    image_path, sidecars, *, max_pixels: int | None = None, label_root=None, qc_dir=None, loader=None
) -> tuple[list[dict], list[dict], dict | None]:
    """Load one image and measure the outlines of each of its sidecars.

    Never raises for bad input: failures come back as error rows.

    Parameters
    ----------
    image_path : Path
    sidecars : list of Path
    max_pixels : int, optional
        Refuse images whose header claims more pixels.
    label_root : Path, optional
        Paths in the output are written relative to this folder.
    qc_dir : Path, optional
        Write a QC overlay per sidecar there (same relative folders).
    loader : callable, optional
        ``loader()`` returns the loaded image (or raises); used to measure an
        image decoded ahead (see :func:`_measure_chunk`).

    Returns
    -------
    rows, errors : list of dict
    info : dict or None
        Facts about the image (format, size, calibration, burned-in annotation,
        warnings) when it could be loaded.
    """
    from mfscan.io.images import load_image

    image_path = Path(image_path)
    label = relative_label(image_path, label_root)
    rows, errors = [], []
    anns = []
    for sc in sidecars:
        try:
            anns.append(read_sidecar(sc))
        except MfscanError as e:
            errors.append({"path": relative_label(Path(sc), label_root), "roi": None, "reason": e.message})
        except Exception as e:  # a validation gap must cost one file, never the batch
            errors.append(
                {
                    "path": relative_label(Path(sc), label_root),
                    "roi": None,
                    "reason": f"cannot read sidecar ({type(e).__name__}: {e})",
                }
            )
    anns = drop_duplicates(anns, image_path, label_root, errors)
    if not anns:
        return rows, errors, None
    try:
        if loader is not None:
            image = loader()
        else:
            kw = {} if max_pixels is None else {"max_pixels": max_pixels}
            image = load_image(image_path, **kw)
    except MfscanError as e:
        errors.append({"path": label, "roi": None, "reason": e.message})
        return rows, errors, None
    except Exception as e:  # a decoder bug must not stop a batch of 5,000 files
        errors.append(
            {"path": label, "roi": None, "reason": f"cannot decode image ({type(e).__name__}: {e})"}
        )
        return rows, errors, None
    cal = image.calibration
    info = _image_info(image, label)
    digests: dict = {}
    for ann in anns:
        sc_label = relative_label(Path(ann.path), label_root)
        problem = check_annotation(ann, image_path, digests)
        if problem:
            errors.append({"path": sc_label, "roi": None, "reason": problem})
            continue
        r, e = measure_annotation(image, ann, image_label=label, sidecar_label=sc_label)
        if r and r[0]["calibration"] != cal.source:
            info["calibration"] = r[0]["calibration"]  # the sidecar's scale line / manual value
            info["row_mm"], info["col_mm"] = r[0]["row_mm"], r[0]["col_mm"]
        if qc_dir is not None:
            from mfscan.measure.qc import qc_for_annotation

            name = Path(sc_label).name[: -len(".mfscan.json")] + ".png"
            try:
                qc_for_annotation(image, ann, r, e, Path(qc_dir) / Path(sc_label).parent / name)
            except (OSError, ValueError, cv2_error()) as exc:
                errors.append({"path": sc_label, "roi": None, "reason": f"QC overlay not written ({exc})"})
        rows += r
        errors += e
    return rows, errors, info


def _image_info(image, label: str) -> dict:
    """One row of the images table (:data:`IMAGE_COLUMNS`), with the image's own calibration."""
    cal = image.calibration
    return {
        "image": label,
        "format": image.format,
        "rows_px": image.shape[0],
        "cols_px": image.shape[1],
        "frames": image.n_frames,
        "color": image.color,
        "calibration": cal.source,
        "row_mm": cal.row_mm if cal.calibrated else np.nan,
        "col_mm": cal.col_mm if cal.calibrated else np.nan,
        "n_regions": sum(r.is_tissue for r in image.regions),
        # exports carry no such tag, and scanner screenshots usually show text: unknown
        "burned_in_annotation": image.metadata.get("burned_in_annotation", "unknown"),
        "lossy": bool(image.metadata.get("lossy", image.format == "jpeg")),
        "warnings": "; ".join(image.warnings),
    }


def drop_duplicates(anns, image_path: Path, label_root, errors) -> list:
    """One sidecar per rater and session of an image: a backup copy
    (``scan.R1 (copy).mfscan.json``) must not count as another repeat."""
    groups: dict = defaultdict(list)
    for a in anns:
        groups[(a.rater, a.session)].append(a)
    keep = []
    for (rater, session), group in groups.items():
        if len(group) == 1:
            keep += group
            continue
        canonical = f"{image_path.stem}.{rater}.mfscan.json" if rater else f"{image_path.stem}.mfscan.json"
        group.sort(key=lambda a: (Path(a.path).name != canonical, len(Path(a.path).name), Path(a.path).name))
        keep.append(group[0])
        who = f"rater {rater}" if rater else "no rater"
        who += f", session {session}" if session else ""
        for dup in group[1:]:
            errors.append(
                {
                    "path": relative_label(Path(dup.path), label_root),
                    "roi": None,
                    "reason": f"another sidecar of this image has the same {who} "
                    f"({Path(group[0].path).name}); not measured, so that no tracing "
                    "counts twice: remove the copy or give it its own rater or session",
                }
            )
    return keep


def cv2_error():
    import cv2

    return cv2.error


def _measure_chunk(chunk, max_pixels, label_root, qc_dir=None):
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


def _chunks(jobs, size):
    it = iter(jobs)
    while chunk := list(islice(it, size)):
        yield [(j.image, j.sidecars) for j in chunk]


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
    """
    from tqdm.auto import tqdm

    jobs = list(jobs)
    bar = tqdm(total=len(jobs), unit="image", desc="measuring", disable=not progress or not jobs, leave=False)
    out = _Collector(bar)
    chunks = _chunks(jobs, chunk_size)
    args = (max_pixels, label_root, qc_dir)
    if scheduler:
        _run_dask(chunks, scheduler, args, out)
    else:
        workers = workers or os.cpu_count() or 1
        if workers == 1 or len(jobs) <= chunk_size:
            for chunk in chunks:
                out.add(_measure_chunk(chunk, *args), len(chunk))
        else:
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


def _run_dask(chunks, address, args, out):
    from distributed import Client

    with Client(address, set_as_default=False) as client:
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


def measure_paths(paths, **kwargs) -> MeasureResult:
    """Discover and measure; paths are labelled relative to a single folder argument.

    See :func:`measure_jobs` for the keyword arguments.
    """
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
    for c in MEASURE_COLUMNS + ("row_mm", "col_mm"):
        if c not in ("n_pixels",):
            df[c] = df[c].astype(float)
    return set_dtypes(df)


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
