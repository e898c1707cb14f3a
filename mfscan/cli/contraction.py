"""``mfscan contraction``: RUSI thickness at rest and contracted, per side, into one CSV."""

from __future__ import annotations

import textwrap
from pathlib import Path

from mfscan.cli._common import _report_errors, _say, add_measure_options, add_parser

__all__ = ["cmd_contraction", "register"]


def _measurements(args):
    """The measurements table: read from a CSV, or measured from a study folder or images."""
    from mfscan.io.tables import read_table

    paths = [Path(p) for p in args.source]
    if len(paths) == 1 and paths[0].suffix.lower() == ".csv":
        return read_table(paths[0]), None
    from mfscan.measure.batch import measure_paths

    res = measure_paths(
        paths,
        workers=args.workers,
        scheduler=args.scheduler,
        progress=not args.no_progress,
        max_pixels=args.max_pixels,
    )
    return res.measurements, res.errors


def cmd_contraction(args) -> int:
    from mfscan.io.tables import check_output, write_table
    from mfscan.stats.contraction import contraction_table

    check_output(args.output)
    m, errors = _measurements(args)
    table = contraction_table(m, contracted_task=args.contracted_task)
    write_table(table, args.output)
    complete = int(table["missing_reason"].isna().sum())
    _say(
        f"{len(table)} subject/visit/level/side/rater row(s), {complete} with rest and "
        f"{args.contracted_task} thickness -> {args.output}"
    )
    if table.empty:
        _say(
            "no thickness lines with task rest or "
            f"{args.contracted_task} found (sidecar ROIs of kind 'thickness' on images with a 'task')",
            err=True,
        )
    if errors is not None:
        _report_errors(errors)
        return 1 if not errors.empty else 0
    return 0


def register(sub) -> None:
    """Add the ``contraction`` subcommand."""
    s = add_parser(
        sub,
        "contraction",
        "RUSI: multifidus thickness at rest and contracted, and its change, per side",
        textwrap.dedent("""\
        Rehabilitative ultrasound imaging (RUSI): from the thickness lines
        (sidecar ROIs of kind 'thickness', images with task 'rest' or
        'contracted' and a trial number) write one row per subject, visit,
        level, side, rater, session and posture:
          rest_thickness_cm, contracted_thickness_cm   mean of the trials (cm),
                                                       with n_rest, n_contracted and SDs
          thickness_change_pct = (contracted - rest) / rest x 100 (%; positive = thicker)
          contraction_ratio    = contracted / rest (no unit; 1 = no change)
          missing_reason       when a task is missing or rest is not positive
        SOURCE is a measurements CSV (mfscan measure), or study folders / images,
        which are measured first. References: Kiesel et al. 2007 (Man Ther
        12:161); Wallwork et al. 2007, 2009; Sions et al. 2015."""),
        cmd_contraction,
    )
    s.add_argument("source", nargs="+", metavar="SOURCE", help="measurements.csv, or study folders / images")
    s.add_argument(
        "-o", "--output", default="contraction.csv", metavar="CSV", help="output table (default: %(default)s)"
    )
    s.add_argument(
        "--contracted-task",
        default="contracted",
        metavar="LABEL",
        help="the task label of the contracted images, e.g. arm-lift (default: %(default)s)",
    )
    add_measure_options(s)
