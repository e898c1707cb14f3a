"""``mfscan export-masks``: images, binary masks, label images and a manifest for model training."""

from __future__ import annotations

import argparse
import textwrap

from mfscan.cli._common import _positive_int, _report_errors, _say, add_parser
from mfscan.vocab import DEFAULT_MAX_PIXELS

__all__ = ["cmd_export_masks", "register"]


def cmd_export_masks(args) -> int:
    from mfscan.cli._common import is_error_list
    from mfscan.measure.export import check_export_dir, export_masks

    out = check_export_dir(args.output, [args.study])  # refused before a long run, not after
    res = export_masks(
        [args.study],
        out,
        fmt=args.format,
        coco=args.coco,
        progress=not args.no_progress,
        max_pixels=args.max_pixels,
    )
    m = res.manifest
    n_images = m["source_image"].nunique() if len(m) else 0
    _say(
        f"exported {len(m)} label image(s) from {n_images} image(s) -> {out / 'manifest.csv'}"
        + (f" and {out / 'coco.json'}" if args.coco else "")
    )
    uncalibrated = int((m["calibration"] == "none").sum()) if len(m) else 0
    if uncalibrated:
        _say(
            f"WARNING: {uncalibrated} row(s) come from UNCALIBRATED images: row_mm and col_mm are empty "
            "(column 'calibration' is 'none').",
            err=True,
        )
    if len(m) == 0 and res.errors.empty:
        _say("no annotated images found (a sidecar is <image stem>.mfscan.json beside the image)", err=True)
    errors_path = out / "errors.csv"
    _report_errors(res.errors, errors_path)
    if res.errors.empty and errors_path.is_file() and is_error_list(errors_path):
        errors_path.unlink()  # an earlier run's list would be mistaken for this run's
    return 1 if not res.errors.empty else 0


def register(sub) -> None:
    """Add the ``export-masks`` subcommand."""
    s = add_parser(
        sub,
        "export-masks",
        "write images, masks and label images for model training",
        textwrap.dedent("""\
        For every traced image, rater and session found under STUDY, write the
        grayscale frame that was measured, one binary mask per traced side
        (0 outside, 255 inside: the pixels whose centres lie inside the outline,
        the pixels of the echo intensity), and a label image (background 0,
        left 1, right 2, and 3 where a left and a right outline overlap), with
        manifest.csv (one row per label image: files, subject, visit, session,
        level, sides, rater, frame, pixel counts, row_mm, col_mm, calibration).
        Files that fail are listed in OUT/errors.csv and the rest go on; the
        exit status is then 1. OUT must lie outside the study folder."""),
        cmd_export_masks,
    )
    s.add_argument("study", metavar="STUDY", help="study folder (or one image or sidecar)")
    s.add_argument(
        "-o", "--output", required=True, metavar="OUT", help="output folder (created; never inside STUDY)"
    )
    s.add_argument(
        "--format",
        choices=("png", "tiff"),
        default="png",
        help="file format of images and masks (default: %(default)s)",
    )
    s.add_argument(
        "--coco",
        action="store_true",
        help="also write OUT/coco.json (COCO polygons, categories left and right)",
    )
    s.add_argument(
        "--max-pixels", type=_positive_int, default=DEFAULT_MAX_PIXELS, metavar="N", help=argparse.SUPPRESS
    )
    s.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
