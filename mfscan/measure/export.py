"""Export images, masks and label images for model training (``mfscan export-masks``).

:func:`export_masks` writes, per traced image, rater and session, the grayscale
frame the measurement saw, one binary mask per side (:mod:`mfscan.measure.masks`),
a label image and a manifest table, and optionally a COCO JSON file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mfscan.annotations.paths import SUFFIX
from mfscan.calibration import roi_calibration
from mfscan.errors import MfscanError
from mfscan.geometry import polygon_area
from mfscan.io.files import atomic_write_bytes
from mfscan.measure.masks import (
    _COCO_CATEGORIES,
    _COCO_IMAGE_KEYS,
    _SUBFOLDERS,
    FORMATS,
    LABELS,
    MANIFEST_COLUMNS,
    MASK_VALUE,
    OVERLAP_LABEL,
    _roi_key,
    coco_polygon,
    encode_image,
    label_image,
    roi_mask,
)
from mfscan.measure.outline import validate_outline
from mfscan.vocab import SIDES

__all__ = ["ExportResult", "check_export_dir", "export_masks"]


def check_export_dir(out_dir, sources) -> Path:
    """Refuse an output folder that is, or lies inside, a source folder or an image's folder.

    Exports never write into the study: a study folder holds only images and sidecars.
    An output folder that holds the study is refused as well when the study lies in
    one of the folders the export writes (``images``, ``masks``, ``labels``).

    Parameters
    ----------
    out_dir : str or Path
    sources : iterable of str or Path
        The folders and files exported from.

    Raises
    ------
    MfscanError
        Naming the output folder and the source it would write into, or when
        `out_dir` is an existing file.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise MfscanError("is a file; give a folder for the exported images and masks", out)
    real = Path(os.path.realpath(out))
    trees = [real / sub for sub in _SUBFOLDERS]
    for s in sources:
        s = Path(s)
        folder = s if s.is_dir() else s.parent
        src = Path(os.path.realpath(folder))
        if real == src or src in real.parents:
            raise MfscanError(
                f"refusing to export into the study folder {folder}: give an output folder outside it", out
            )
        if any(t == src or t in src.parents for t in trees):
            raise MfscanError(
                f"refusing to export: the study folder {folder} lies in the output's "
                f"{'/'.join(_SUBFOLDERS)} folders; give another output folder",
                out,
            )
    return out


@dataclass
class ExportResult:
    """Result of :func:`export_masks`.

    Attributes
    ----------
    manifest : DataFrame
        One row per exported label image (:data:`MANIFEST_COLUMNS`).
    errors : DataFrame
        ``path, roi, reason`` for every file or outline not exported.
    n_images : int
        Annotated images found.
    """

    manifest: pd.DataFrame
    errors: pd.DataFrame
    n_images: int


class _Writer:
    """Writes the files of one export (paths relative to ``out``) and collects its
    errors and COCO entries."""

    def __init__(self, out: Path, fmt: str, coco: bool):
        self.out, self.fmt, self.ext = out, fmt, FORMATS[fmt]
        self.errors: list[dict] = []
        self.coco: list | None = [] if coco else None

    def error(self, path: str, reason: str, roi: int | None = None) -> None:
        self.errors.append({"path": path, "roi": roi, "reason": reason})

    def write(self, rel: str, array: np.ndarray) -> str:
        path = self.out / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, encode_image(array, self.fmt))
        except OSError as e:
            raise MfscanError(f"cannot write ({e.strerror or e})", path) from e
        return rel


def _image_stems(jobs, root) -> dict[Path, str]:
    """Output stem per image, relative to `root`: the image's stem, or its name with
    the dot replaced when two images of a folder share a stem (scan.png, scan.dcm)."""
    from collections import Counter

    from mfscan.measure.batch import relative_label

    count = Counter((j.image.parent, j.image.stem) for j in jobs)
    out = {}
    for j in jobs:
        name = j.image.stem if count[(j.image.parent, j.image.stem)] == 1 else j.image.name.replace(".", "_")
        out[j.image] = relative_label(j.image.parent / name, root)
    return out


def _calibration_columns(cals: list) -> dict:
    """``row_mm, col_mm, calibration`` shared by the outlines of one label image.

    Outlines in DICOM regions of different scales (split screen) give empty
    ``row_mm``/``col_mm`` and calibration ``mixed``.
    """
    keys = {(c.source, c.row_mm if c.calibrated else None, c.col_mm if c.calibrated else None) for c in cals}
    if len(keys) != 1:
        return {"row_mm": np.nan, "col_mm": np.nan, "calibration": "mixed"}
    source, row_mm, col_mm = keys.pop()
    return {
        "row_mm": np.nan if row_mm is None else row_mm,
        "col_mm": np.nan if col_mm is None else col_mm,
        "calibration": source,
    }


def _group_rois(ann, image, label, writer: _Writer, override=None) -> dict:
    """Valid outlines per (frame, level): ``{key: [(side, points, calibration), ...]}``.

    Line ROIs (``kind`` thickness or fat) enclose no muscle and are not exported as masks.
    """
    groups: dict = {}
    for i, roi in enumerate(ann.rois):
        if roi.kind != "outline":
            continue
        frame, level = _roi_key(ann, roi)
        try:
            if frame >= image.n_frames:
                raise MfscanError(f"frame {frame} does not exist; the image has {image.n_frames} frame(s)")
            p = validate_outline(roi.points, shape=image.shape)
            cal = roi_calibration(p, image, override or ann.calibration)
        except MfscanError as e:
            writer.error(label, f"ROI {i} ({roi.side}): {e.message}", i)
            continue
        groups.setdefault((frame, level), []).append((i, roi.side, p, cal))
    return groups


def _export_annotation(
    ann, image, stem: str, sc_label: str, img_label: str, writer: _Writer, written: set, override=None
) -> list[dict]:
    """Write the masks of one sidecar; one manifest row per (frame, level). `override`: the
    scale the image's sidecars share (:func:`mfscan.calibration.sidecar_override`)."""
    groups = _group_rois(ann, image, sc_label, writer, override)
    levels = {lev for _, lev in groups}
    base = (Path(sc_label).parent / Path(sc_label).name[: -len(SUFFIX)]).as_posix()
    rows = []
    for (frame, level), rois in sorted(groups.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        fsuffix = f"_f{frame:04d}" if image.n_frames > 1 else ""
        suffix = fsuffix + (f"_{level}" if len(levels) > 1 else "")
        img_rel = f"images/{stem}{fsuffix}{writer.ext}"
        if img_rel not in written:
            writer.write(img_rel, np.ascontiguousarray(image.gray[frame]))
            written.add(img_rel)
        masks: dict[str, np.ndarray] = {}
        for _, side, p, _ in rois:
            m = roi_mask(p, image.shape)
            masks[side] = masks[side] | m if side in masks else m
        labels = label_image(masks, image.shape)
        row = {
            "image": img_rel,
            "source_image": img_label,
            "sidecar": sc_label,
            "subject": ann.subject,
            "visit": ann.visit,
            "session": ann.session,
            "level": level,
            "sides": ";".join(s for s in SIDES if s in masks),
            "rater": ann.rater,
            "frame": frame,
            "rows_px": image.shape[0],
            "cols_px": image.shape[1],
            "n_pixels_overlap": int(np.count_nonzero(labels == OVERLAP_LABEL)),
            **_calibration_columns([c for *_, c in rois]),
        }
        for side in SIDES:
            m = masks.get(side)
            row[f"mask_{side}"] = (
                None
                if m is None
                else writer.write(
                    f"masks/{base}{suffix}_{side}{writer.ext}", m.astype(np.uint8) * np.uint8(MASK_VALUE)
                )
            )
            row[f"n_pixels_{side}"] = 0 if m is None else int(np.count_nonzero(m))
        row["labels"] = writer.write(f"labels/{base}{suffix}{writer.ext}", labels)
        rows.append(row)
        if writer.coco is not None:
            writer.coco.append((row, [(side, p) for _, side, p, _ in rois]))
    return rows


def _export_job(job, root, stem: str, writer: _Writer, max_pixels) -> list[dict]:
    """Read the sidecars of one image, load it once and export each sidecar; never raises
    for bad input (failures become error rows, as in :func:`mfscan.measure.batch.measure_file`)."""
    from mfscan.calibration import sidecar_override
    from mfscan.io.images import load_image
    from mfscan.measure.annotation import (
        check_annotation,
        drop_duplicates,
        read_sidecars,
        sidecars_shared_scale,
    )
    from mfscan.measure.batch import relative_label

    label = relative_label(job.image, root)
    rows = []
    anns, unread = read_sidecars(job.read if job.read is not None else job.sidecars)
    for sc, why in unread:
        writer.error(relative_label(sc, root), why)
    anns = drop_duplicates(anns, job.image, root, writer.errors)
    if not anns:
        return rows
    try:
        image = load_image(job.image, **({} if max_pixels is None else {"max_pixels": max_pixels}))
    except MfscanError as e:
        writer.error(label, e.message)
        return rows
    except Exception as e:  # a decoder bug must cost one file, never the export
        writer.error(label, f"cannot decode image ({type(e).__name__})")
        return rows
    written: set = set()
    digest: dict = {}
    shared = sidecars_shared_scale(image, anns)
    for ann in anns:
        sc_label = relative_label(Path(ann.path), root)
        problem = check_annotation(ann, job.image, digest)
        if problem:
            writer.error(sc_label, problem)
            continue
        try:
            override = sidecar_override(ann.calibration, image, shared=shared)
            rows += _export_annotation(ann, image, stem, sc_label, label, writer, written, override)
        except MfscanError as e:
            writer.error(sc_label, str(e))
    return rows


def _coco_document(entries) -> dict:
    images, annotations = [], []
    for image_id, (row, rois) in enumerate(entries, start=1):
        images.append(
            {
                "id": image_id,
                "file_name": row["image"],
                "height": row["rows_px"],
                "width": row["cols_px"],
                **{k: row[k] for k in _COCO_IMAGE_KEYS},
            }
        )
        for side, p in rois:
            poly = coco_polygon(p)
            x, y = p[:, 1].min() + 0.5, p[:, 0].min() + 0.5
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": LABELS[side],
                    "segmentation": [poly],
                    "area": polygon_area(p),
                    "iscrowd": 0,
                    "bbox": [float(x), float(y), float(np.ptp(p[:, 1])), float(np.ptp(p[:, 0]))],
                }
            )
    return {
        "info": {
            "description": "mfscan export-masks: multifidus outlines per image, rater and "
            "session (one COCO image per tracing: a file may appear once per rater)",
            "coordinates": "x = col + 0.5, y = row + 0.5 of mfscan's (row, col) pixel centres; "
            "area: polygon area in px2",
        },
        "images": images,
        "annotations": annotations,
        "categories": _COCO_CATEGORIES,
    }


def export_masks(
    paths,
    out_dir,
    *,
    fmt: str = "png",
    coco: bool = False,
    progress: bool = False,
    max_pixels: int | None = None,
) -> ExportResult:
    """Write images, masks, label images and a manifest for every traced image.

    Parameters
    ----------
    paths : iterable of str or Path
        Study folders, images or sidecars (found as ``mfscan measure`` finds them).
    out_dir : str or Path
        Output folder, created when missing; never inside a source folder.
    fmt : {'png', 'tiff'}, keyword-only
        File format of the written images.
    coco : bool, keyword-only
        Also write ``coco.json`` (COCO instance segmentation, categories left/right).
    progress : bool, keyword-only
        Show a progress bar on stderr.
    max_pixels : int, optional, keyword-only
        Refuse images whose header claims more pixels.

    Returns
    -------
    ExportResult
        The manifest (also written as ``manifest.csv`` in `out_dir`) and the errors.

    Notes
    -----
    Layout of `out_dir`, below each the source's folders relative to the study:
    ``images/<image stem>[_fNNNN]``, the grayscale frame (uint8 or uint16 as loaded);
    ``masks/<sidecar stem>[_fNNNN][_LEVEL]_<side>``, 0 outside and 255 inside;
    ``labels/<sidecar stem>[_fNNNN][_LEVEL]``, 0/1/2 (3 where left and right overlap).
    A side that was not traced has no mask file (its manifest cell is empty), so a
    missing tracing is never written as an empty muscle.
    """
    from tqdm.auto import tqdm

    from mfscan.io.tables import set_dtypes, write_table
    from mfscan.measure.batch import discover, errors_frame, relative_label

    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    paths = [Path(p) for p in paths]
    out = check_export_dir(out_dir, paths)
    jobs, errors = discover(paths)
    root = (
        paths[0]
        if len(paths) == 1 and paths[0].is_dir()
        else (Path(os.path.commonpath([j.image.parent for j in jobs])) if jobs else None)
    )
    for e in errors:
        e["path"] = relative_label(Path(e["path"]), root)
    out.mkdir(parents=True, exist_ok=True)
    writer, stems, rows = _Writer(out, fmt, coco), _image_stems(jobs, root), []
    writer.errors += errors
    for job in tqdm(jobs, unit="image", desc="exporting", disable=not progress or not jobs, leave=False):
        rows += _export_job(job, root, stems[job.image], writer, max_pixels)
    manifest = set_dtypes(pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS)))
    write_table(manifest, out / "manifest.csv")
    if coco:
        text = json.dumps(_coco_document(writer.coco), indent=1, allow_nan=False)
        atomic_write_bytes(out / "coco.json", text.encode("utf-8"))
    return ExportResult(manifest, errors_frame(writer.errors), len(jobs))
