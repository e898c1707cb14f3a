"""``mfscan check``: the study validator (every problem of a study folder, with its file)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from mfscan.cli._common import _positive_int, _say, add_parser

__all__ = ["cmd_check", "register"]


def cmd_check(args) -> int:
    from mfscan.io.tables import check_output, write_table
    from mfscan.measure.check import check_study, problems_by_kind

    study = Path(args.study)
    subjects = args.subjects
    if subjects is None and (study / "subjects.csv").is_file():
        subjects = study / "subjects.csv"
    if args.csv:
        check_output(args.csv)
    order = [v.strip() for v in args.visit_order.split(",") if v.strip()] if args.visit_order else None
    table = check_study(
        study, subjects=subjects, visit_order=order, tolerance_pct=args.tolerance, max_pixels=args.max_pixels
    )
    n_img, n_sc = table.attrs.get("n_images", 0), table.attrs.get("n_sidecars", 0)
    checked = f"{n_img} annotated image(s), {n_sc} sidecar(s)"
    checked += f", subjects from {subjects}" if subjects is not None else " (no subjects table)"
    if table.empty:
        _say(f"mfscan check: no problem found in {study} ({checked})")
    else:
        _say(f"mfscan check: {len(table)} problem(s) in {study} ({checked}):")
        for kind, heading, rows in problems_by_kind(table):
            _say(f"\n{heading} [{kind}] ({len(rows)}):")
            for rec in rows.itertuples(index=False):
                _say(f"  {rec.file}: {rec.message}")
    if args.csv:
        write_table(table, args.csv)
        _say(f"problems listed in {args.csv}")
    return 1 if len(table) else 0


def _tolerance(v):
    import argparse

    x = float(v)
    if not (0 <= x < 100):
        raise argparse.ArgumentTypeError("the tolerance is a percentage from 0 to 100")
    return x


def register(sub) -> None:
    """Add the ``check`` subcommand."""
    from mfscan.vocab import DEFAULT_MAX_PIXELS

    s = add_parser(
        sub,
        "check",
        "list every problem of a study folder, with its file (exit 1 if any)",
        textwrap.dedent("""\
            Check a study folder before analysing it, as the BIDS validator does for
            neuroimaging. Lists, grouped, every:
              sidecar that cannot be read, or whose image is missing or changed;
              sidecar without subject, visit, level or rater;
              subject, visit or level that disagree between the sidecars of one image;
              transverse outline image with one side traced and not the other
                (parasagittal views and thickness/fat lines are not flagged);
              image stored twice under two names (same SHA-256);
              two calibrations of one image more than --tolerance apart;
              typed or scale-line calibration more than --tolerance from the image's own
                (DICOM or ImageJ), or outside 0.005-5 mm per pixel;
              visit labels that cannot be put in time order;
              subject missing from subjects.csv (STUDY_DIR/subjects.csv when present).
            Exit status 0 when the study is clean, 1 when anything was found."""),
        cmd_check,
    )
    s.add_argument("study", metavar="STUDY_DIR")
    s.add_argument("--subjects", metavar="CSV", help="default: STUDY_DIR/subjects.csv if present")
    s.add_argument(
        "--csv", metavar="CSV", help="also write the problems as a table (file, problem, message, ...)"
    )
    s.add_argument(
        "--visit-order",
        metavar="V1,V2,...",
        help="visit labels in time order, as given to mfscan report; every label must be in it "
        "(default: labels must be orderable: numbers, or words mfscan knows)",
    )
    s.add_argument(
        "--tolerance",
        type=_tolerance,
        default=1.0,
        metavar="PCT",
        help="flag calibrations of one image (or a typed scale and the image's own) further apart "
        "than this, in %% (default: %(default)s)",
    )
    s.add_argument(
        "--max-pixels",
        type=_positive_int,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help="refuse images whose header claims more pixels (default: %(default)s)",
    )
