"""Measuring one annotated image: a sidecar's outlines on its loaded image.

The plugin and batch scripts measure with the same function,
:func:`measure_annotation`, so the CSV always shows what the rater saw. Each
outline's scale comes from the one calibration rule,
:func:`mfscan.calibration.roi_calibration`; :func:`check_annotation` is the one
check that a sidecar belongs to its image.
"""

from __future__ import annotations

import errno
from collections import defaultdict
from pathlib import Path

import numpy as np

from mfscan import calibration as _cal
from mfscan.annotations import Annotation, read_sidecar, session_sidecar_names, sidecar_path
from mfscan.errors import MfscanError
from mfscan.io.files import file_sha256
from mfscan.measure.discover import relative_label
from mfscan.measure.echo_texture import (
    ECHO_CORRECTIONS,
    TEXTURE_COLUMNS,
    correct_echo,
    correction_status,
)
from mfscan.measure.lines import measure_line
from mfscan.measure.outline import MEASURE_COLUMNS, measure_outline

#: Columns of the measurements table, in order. ``kind`` says what a row is: an outline
#: (every column of :data:`MEASURE_COLUMNS`) or a line (``thickness_cm`` or
#: ``fat_thickness_cm``; the outline columns empty). The first 11 columns are those of
#: earlier versions, in the same order; new columns follow them.
MEASUREMENT_COLUMNS = (
    *("image", "sidecar", "subject", "visit", "session", "level", "side", "rater", "frame", "roi", "method"),
    *("kind", "visit_date", "view", "task", "posture", "trial"),
    *MEASURE_COLUMNS,
    *("thickness_cm", "fat_thickness_cm", "fat_source", "echo_mean_corrected", "echo_correction"),
    *TEXTURE_COLUMNS,
    *("row_mm", "col_mm", "calibration", "region", "n_points"),
    *("outline_repair", "clipped_share"),
    "proposal_flags",
    *("echo_bit_depth", "echo_correction_status"),
)
ERROR_COLUMNS = ("path", "roi", "reason")


def measure_annotation(
    image,
    annotation: Annotation,
    *,
    image_label=None,
    sidecar_label=None,
    echo_correction: str = "young2015",
    override: _cal.Calibration | None = None,
) -> tuple[list[dict], list[dict]]:
    """Measure every outline and line of one sidecar on its loaded image.

    Parameters
    ----------
    image : mfscan.io.images.Image
    annotation : Annotation
    image_label, sidecar_label : str, optional
        What to write in the ``image`` and ``sidecar`` columns.
    echo_correction : {'young2015', 'mueller'}, keyword-only
        The fat correction of ``echo_mean_corrected``
        (:data:`mfscan.measure.echo_texture.ECHO_CORRECTIONS`).
    override : Calibration, optional, keyword-only
        The sidecar scale to measure with, as chosen by
        :func:`mfscan.calibration.sidecar_override` (the scale the image's sidecars share);
        by default the sidecar's own calibration.

    Returns
    -------
    rows : list of dict
        One per ROI measured (columns of :data:`MEASUREMENT_COLUMNS`), in ROI order.
        An outline's ``fat_thickness_cm`` is the mean of the ``fat`` lines of its side
        and frame, else of every fat line of its frame (``fat_source`` ``line``), else
        the sidecar's typed ``fat_thickness_cm`` (``typed``), else empty. Echo and
        texture are on the image's real bit depth (``echo_bit_depth``); the fat
        correction is applied to 8-bit images only (``echo_correction_status``).
    errors : list of dict
        One per ROI that could not be measured: ``path``, ``roi``, ``reason``
        (naming the ROI, for error lists) and ``problem`` (the reason alone, for
        showing beside the outline).
    """
    if echo_correction not in ECHO_CORRECTIONS:
        raise MfscanError(
            f"unknown echo correction {echo_correction!r}; expected one of {', '.join(ECHO_CORRECTIONS)}"
        )
    rows, errors = [], []
    sidecar_label = (
        sidecar_label if sidecar_label is not None else (str(annotation.path) if annotation.path else None)
    )
    image_label = image_label if image_label is not None else str(image.path)
    for i, roi in enumerate(annotation.rois):
        kind = getattr(roi, "kind", "outline")
        where = f"ROI {i} ({roi.side})" if kind == "outline" else f"ROI {i} ({roi.side} {kind})"
        try:
            frame = roi.frame or 0
            if frame >= image.n_frames:
                raise MfscanError(f"frame {frame} does not exist; the image has {image.n_frames} frame(s)")
            cal = _cal.roi_calibration(roi.points, image, override or annotation.calibration)
            m = _measure_roi(image, roi, kind, frame, cal)
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
                "visit_date": getattr(annotation, "visit_date", None),
                "session": annotation.session,
                "level": roi.level or annotation.level,
                "side": roi.side,
                "rater": annotation.rater,
                "frame": frame,
                "roi": i,
                "method": roi.method,
                "kind": kind,
                "view": getattr(annotation, "view", None) or "transverse",
                "task": getattr(annotation, "task", None),
                "posture": getattr(annotation, "posture", None),
                "trial": getattr(annotation, "trial", None),
                **m,
                "row_mm": cal.row_mm if cal.calibrated else np.nan,
                "col_mm": cal.col_mm if cal.calibrated else np.nan,
                "calibration": cal.source,
                "region": cal.region,
                "n_points": len(roi.points),
                **_import_notes(roi, kind),
                "proposal_flags": _flags(roi),
            }
        )
    _add_quality(rows, getattr(annotation, "fat_thickness_cm", None), echo_correction, image.bit_depth)
    return rows, errors


def _import_notes(roi, kind: str) -> dict:
    """What an import did to an outline (:mod:`mfscan.io.imagej_shapes`): ``outline_repair``, the
    repair of a self-touching ring (None when none), and ``clipped_share``, the share of its area
    cut off at the image's edge (0 when none; NaN for a line)."""
    share = roi.extra.get("clipped_share", 0.0)
    ok = isinstance(share, (int, float)) and not isinstance(share, bool) and 0 <= share < 1
    repair = roi.extra.get("repair")
    return {
        "outline_repair": repair if isinstance(repair, str) else None,
        "clipped_share": float(share) if ok and kind == "outline" else float("nan"),
    }


def _flags(roi) -> str | None:
    """The ROI's proposal flags (ROI field ``flags``, :data:`mfscan.vocab.PROPOSAL_FLAGS`) joined
    by ``;``: None when the outline was not flagged. Kept after a rater's edit (the method then
    says ``*-edited``), so a table shows which accepted outlines began as a flagged proposal."""
    flags = roi.extra.get("flags")
    if isinstance(flags, str):
        flags = [flags]
    if not isinstance(flags, list) or not flags:
        return None
    return ";".join(str(f) for f in flags)


def _measure_roi(image, roi, kind: str, frame: int, cal) -> dict:
    """The measure columns of one ROI: an outline's (with texture) or a line's."""
    nan = float("nan")
    spacing = cal.mm_per_pixel
    if kind != "outline":
        line = measure_line(roi.points, kind=kind, shape=image.shape, spacing=spacing)
        return {
            **dict.fromkeys(MEASURE_COLUMNS, nan),
            "n_pixels": None,
            "thickness_cm": line.get("thickness_cm", nan),
            "fat_thickness_cm": line.get("fat_thickness_cm", nan),
            **dict.fromkeys(TEXTURE_COLUMNS, nan),
        }
    gray = image.gray[frame]
    overlay = image.overlay[frame] if image.overlay is not None else None
    m = measure_outline(
        roi.points, gray, spacing=spacing, exclude=overlay, texture=True, bit_depth=_grey_depth(image, gray)
    )
    return {**m, "thickness_cm": nan}


def _grey_depth(image, gray) -> int | None:
    """The real bit depth of the grey values measured (``Image.bit_depth``, at most the dtype's)."""
    if gray.dtype.kind not in "ui":
        return None
    return min(int(image.bit_depth), 8 * gray.dtype.itemsize)


def _add_quality(rows: list[dict], typed_fat_cm, correction: str, bit_depth: int = 8) -> None:
    """Each outline row's fat thickness (from the fat lines of its image, or typed) and
    fat-corrected echo intensity (8-bit images only), in place; line rows get empty
    quality columns."""
    fat_lines: dict = defaultdict(list)
    for r in rows:
        if r["kind"] == "fat" and np.isfinite(r["fat_thickness_cm"]):
            fat_lines[(r["frame"], r["side"])].append(r["fat_thickness_cm"])
            fat_lines[(r["frame"], None)].append(r["fat_thickness_cm"])
    label = ECHO_CORRECTIONS[correction][0]
    applies, status = correction_status(bit_depth, correction)
    for r in rows:
        r.update(fat_source=None, echo_mean_corrected=np.nan, echo_correction=None)
        r.update(echo_bit_depth=None, echo_correction_status=None)
        if r["kind"] != "outline":
            continue
        r["echo_bit_depth"] = int(bit_depth)
        found = fat_lines.get((r["frame"], r["side"])) or fat_lines.get((r["frame"], None))
        if found:
            r["fat_thickness_cm"], r["fat_source"] = float(np.mean(found)), "line"
        elif typed_fat_cm is not None:
            r["fat_thickness_cm"], r["fat_source"] = float(typed_fat_cm), "typed"
        else:
            r["fat_thickness_cm"] = np.nan
            continue
        r["echo_correction_status"] = status
        if not applies:
            continue
        r["echo_mean_corrected"] = correct_echo(r["echo_mean"], r["fat_thickness_cm"], correction=correction)
        r["echo_correction"] = label


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


def read_one(path) -> Annotation | str:
    """A sidecar read and validated, or why it cannot be (never raises for bad input)."""
    try:
        return read_sidecar(path)
    except MfscanError as e:
        return e.message
    except Exception as e:  # a validation gap must cost one file, never the batch
        return f"cannot read sidecar ({type(e).__name__}: {e})"


def read_sidecars(sidecars) -> tuple[list[Annotation], list[tuple[Path, str]]]:
    """The readable sidecars and ``(path, why)`` of the others: each read once.

    `sidecars` holds paths, or ``(path, Annotation or why)`` pairs already read
    (:attr:`mfscan.measure.discover.Job.read`, filled by
    :func:`mfscan.measure.study.resolve_study`), which are not read again.
    """
    anns, unread = [], []
    for item in sidecars:
        path, got = item if isinstance(item, tuple) else (item, read_one(item))
        if isinstance(got, str):
            unread.append((Path(path), got))
        else:
            anns.append(got)
    return anns, unread


def measure_file(
    image_path,
    sidecars,
    *,
    max_pixels: int | None = None,
    label_root=None,
    qc_dir=None,
    loader=None,
    echo_correction: str = "young2015",
) -> tuple[list[dict], list[dict], dict | None]:
    """Load one image and measure the outlines of each of its sidecars.

    Never raises for bad input: failures come back as error rows.

    Parameters
    ----------
    image_path : Path
    sidecars : list of Path
        Or ``(path, Annotation or why)`` pairs already read (:func:`read_sidecars`).
    max_pixels : int, optional
        Refuse images whose header claims more pixels.
    label_root : Path, optional
        Paths in the output are written relative to this folder.
    qc_dir : Path, optional
        Write a QC overlay per sidecar there (same relative folders).
    loader : callable, optional
        ``loader()`` returns the loaded image (or raises); used to measure an
        image decoded ahead (see :func:`_measure_chunk`).
    echo_correction : str, optional
        Passed to :func:`measure_annotation`.

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
    anns, unread = read_sidecars(sidecars)
    errors += [{"path": relative_label(p, label_root), "roi": None, "reason": why} for p, why in unread]
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
    shared = sidecars_shared_scale(image, anns)
    for ann in anns:
        sc_label = relative_label(Path(ann.path), label_root)
        problem = check_annotation(ann, image_path, digests)
        try:
            override = _cal.sidecar_override(ann.calibration, image, shared=shared)
        except MfscanError as e:
            problem = problem or e.message
        if problem:
            errors.append({"path": sc_label, "roi": None, "reason": problem})
            continue
        r, e = measure_annotation(
            image,
            ann,
            image_label=label,
            sidecar_label=sc_label,
            echo_correction=echo_correction,
            override=override,
        )
        if r and r[0]["calibration"] != cal.source:
            info["calibration"] = r[0]["calibration"]  # the sidecar's scale line / manual value
            info["row_mm"], info["col_mm"] = r[0]["row_mm"], r[0]["col_mm"]
        if qc_dir is not None:
            from mfscan.measure.qc import qc_for_annotation

            name = Path(sc_label).name[: -len(".mfscan.json")] + ".png"
            try:
                qc_for_annotation(image, ann, r, e, Path(qc_dir) / Path(sc_label).parent / name)
            except (OSError, ValueError, cv2_error()) as exc:
                if isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS:
                    raise  # a full or read-only disk stops the run, it is no fault of this image
                errors.append({"path": sc_label, "roi": None, "reason": f"QC overlay not written ({exc})"})
        rows += r
        errors += e
    return rows, errors, info


#: Write errors that concern the output disk, not one image: they stop a run.
_DISK_ERRNOS = frozenset(
    getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EROFS", "EIO") if hasattr(errno, name)
)


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
        "warnings": "; ".join([*image.warnings, *filter(None, [_cal.implausible(cal)])]),
    }


def sidecars_shared_scale(image, anns):
    """What the sidecars `anns` of a plain export agree on (None when the image has its own
    calibration or every sidecar sets its own scale): :func:`mfscan.calibration.shared_scale`."""
    from mfscan.annotations.scales import image_shared_scale

    if image.calibration.calibrated or all(_cal.is_override(a.calibration) for a in anns):
        return None
    return image_shared_scale(image.path, annotations=anns)


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
        canonical = [p.name for p in session_sidecar_names(image_path, rater, session)] if rater else []
        canonical = canonical or [sidecar_path(image_path).name]
        group.sort(
            key=lambda a: (_rank(Path(a.path).name, canonical), len(Path(a.path).name), Path(a.path).name)
        )
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


def _rank(name: str, canonical: list[str]) -> int:
    """0 for the name :func:`mfscan.annotations.sidecar_path` writes, 1 for the older spelling, then copies."""
    return canonical.index(name) if name in canonical else len(canonical)


def cv2_error():
    import cv2

    return cv2.error
