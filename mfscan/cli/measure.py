"""``mfscan measure``: measure every annotated image into one tidy CSV."""

from __future__ import annotations

import textwrap
from pathlib import Path

from mfscan.cli._common import _report_errors, _say, add_measure_options, add_parser, is_error_list

__all__ = ["cmd_measure", "register"]


def cmd_measure(args) -> int:
    from mfscan.io.tables import check_output, write_table
    from mfscan.measure.batch import measure_paths

    check_output(args.output)  # a wrong -o is refused before a long run, not after
    if args.errors:
        check_output(args.errors)
    res = measure_paths(
        args.paths,
        workers=args.workers,
        scheduler=args.scheduler,
        progress=not args.no_progress,
        max_pixels=args.max_pixels,
        echo_correction=args.echo_correction,
    )
    out = Path(args.output)
    write_table(res.measurements, out)
    m = res.measurements
    _say(f"measured {len(m)} outline(s) in {m['image'].nunique()} image(s) -> {out}")
    if res.n_uncalibrated:
        _say(
            f"WARNING: {res.n_uncalibrated} outline(s) come from UNCALIBRATED images: their cm "
            "columns are empty and only the _px columns are given (column 'calibration' is 'none').",
            err=True,
        )
    if len(m) == 0 and res.errors.empty:
        _say("no annotated images found (a sidecar is <image stem>.mfscan.json beside the image)", err=True)
    errors_path = Path(args.errors) if args.errors else out.with_name("errors.csv")
    _report_errors(res.errors, errors_path)
    if res.errors.empty and errors_path.is_file() and is_error_list(errors_path):
        errors_path.unlink()  # an earlier run's list would be mistaken for this run's
    return 1 if not res.errors.empty else 0


def register(sub) -> None:
    """Add the ``measure`` subcommand."""
    s = add_parser(
        sub,
        "measure",
        "measure every annotated image into a tidy CSV",
        textwrap.dedent("""\
        Measure every outline of every annotated image found under PATH
        (images or folders, searched recursively with their sidecars).
        Writes one row per outline: image, subject, visit, level, side,
        rater, csa_cm2, perimeter_cm, ap_depth_cm, lateral_width_cm,
        shape_ratio, echo_mean, echo_sd, row_mm, col_mm, calibration ...
        Uncalibrated images get empty cm columns and _px values.
        Files that fail are listed (errors.csv) and the rest go on."""),
        cmd_measure,
    )
    s.add_argument("paths", nargs="+", metavar="PATH")
    s.add_argument(
        "-o",
        "--output",
        default="measurements.csv",
        metavar="CSV",
        help="output table (default: %(default)s)",
    )
    s.add_argument(
        "--errors", metavar="CSV", help="where to list failures (default: errors.csv beside the output)"
    )
    add_measure_options(s)
    s.add_argument(
        "--echo-correction",
        choices=("young2015", "mueller"),
        default="young2015",
        help="formula of echo_mean_corrected from the subcutaneous fat thickness: young2015 "
        "(EI + 40.5278 x fat cm) or mueller (EI + 38.30836 x fat - 5.0054 x fat^2); raw echo_mean "
        "is always kept (default: %(default)s)",
    )
