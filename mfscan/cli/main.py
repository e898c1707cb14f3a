"""The ``mfscan`` command line.

Every subcommand has ``--help``. Bad input never shows a Python traceback (pass
``--debug`` to see one): a failing file is reported with its path and the reason,
the others go on, and the exit status is 1 when anything failed (2 for usage errors).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import warnings
from pathlib import Path

from mfscan import RESEARCH_NOTICE, __version__
from mfscan.errors import MfscanError

EPILOG = f"Research use only: {RESEARCH_NOTICE}"


def _fmt(prog):
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32, width=100)


def _say(msg="", *, err=False):
    print(msg, file=sys.stderr if err else sys.stdout, flush=True)


def _report_errors(errors_df, out_path=None, *, limit=20):
    """Print failures on stderr and optionally write them as CSV."""
    from mfscan.io.tables import write_table

    if errors_df is None or errors_df.empty:
        return
    _say(f"mfscan: {len(errors_df)} problem(s):", err=True)
    for rec in errors_df.head(limit).itertuples(index=False):
        _say(f"  {rec.path}: {rec.reason}", err=True)
    if len(errors_df) > limit:
        _say(f"  ... and {len(errors_df) - limit} more", err=True)
    if out_path is not None:
        write_table(errors_df, out_path)
        _say(f"  all listed in {out_path}", err=True)


# ---------------------------------------------------------------- info
def cmd_info(args) -> int:
    from mfscan.io.images import load_image

    status = 0
    out = []
    for path in args.images:
        try:
            img = load_image(path, max_pixels=args.max_pixels)
        except MfscanError as e:
            if args.debug:
                raise
            _say(f"mfscan info: {e}", err=True)
            status = 1
            continue
        out.append(image_info(img))
    if args.json:
        text = json.dumps(out[0] if len(out) == 1 and len(args.images) == 1 else out, indent=2)
        _say(text)
    else:
        for d in out:
            _say(format_info(d))
    return status


def image_info(img) -> dict:
    """Non-identifying facts about a loaded image, for ``mfscan info --json``."""
    cal = img.calibration
    return {
        "file": Path(img.path).name,
        "format": img.format,
        "shape": [int(img.shape[0]), int(img.shape[1])],
        "frames": int(img.n_frames),
        "color": img.color,
        "bit_depth": int(img.bit_depth),
        "regions": [{
            "index": r.index,
            "bounds": [int(b) for b in r.bounds],
            "spacing_mm": None if r.spacing_mm is None else [float(s) for s in r.spacing_mm],
            "spatial_format": r.spatial_format,
            "data_type": r.data_type,
        } for r in img.regions],
        "calibration": cal.to_dict(),
        "calibrated": cal.calibrated,
        "metadata": {k: v for k, v in img.metadata.items()},
        "warnings": list(img.warnings),
    }


def format_info(d: dict) -> str:
    lines = [f"{d['file']}: {d['format'].upper()}, {d['shape'][0]} x {d['shape'][1]} px "
             f"(rows x cols), {d['frames']} frame(s), {d['color']}, {d['bit_depth']}-bit"]
    cal = d["calibration"]
    if d["calibrated"]:
        lines.append(f"  calibration: {cal['row_mm']:.4f} mm/px (rows) x {cal['col_mm']:.4f} mm/px (cols), "
                     f"source {cal['source']}" + (f" (region {cal['region']})" if cal.get("region") is not None else ""))
    else:
        lines.append("  calibration: NONE - measurements will be in pixels only; "
                     "set a scale (mfscan view, Set scale) or a 'calibration' in the sidecar")
    for r in d["regions"]:
        sp = "no length scale" if r["spacing_mm"] is None else \
            f"{r['spacing_mm'][0]:.4f} x {r['spacing_mm'][1]:.4f} mm/px"
        lines.append(f"  region {r['index']}: rows {r['bounds'][0]}-{r['bounds'][2]}, "
                     f"cols {r['bounds'][1]}-{r['bounds'][3]}, {sp}")
    bia = d["metadata"].get("burned_in_annotation")
    if bia and bia != "NO" and d["format"] == "dicom":
        lines.append(f"  burned-in annotation: {bia} (text in the pixels may identify the patient)")
    for w in d["warnings"]:
        lines.append(f"  warning: {w}")
    return "\n".join(lines)


# ---------------------------------------------------------------- measure
def _add_measure_options(p):
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local processes (default: one per core; 1 = no parallelism)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on an existing Dask distributed cluster, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--max-pixels", type=int, default=200_000_000, metavar="N",
                   help="refuse images whose header claims more pixels than this (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="do not show progress bars")


def cmd_measure(args) -> int:
    from mfscan.measure.batch import measure_paths
    from mfscan.io.tables import check_output, write_table

    check_output(args.output)  # a wrong -o is refused before a long run, not after
    if args.errors:
        check_output(args.errors)
    res = measure_paths(args.paths, workers=args.workers, scheduler=args.scheduler,
                        progress=not args.no_progress, max_pixels=args.max_pixels)
    out = Path(args.output)
    write_table(res.measurements, out)
    m = res.measurements
    _say(f"measured {len(m)} outline(s) in {m['image'].nunique()} image(s) -> {out}")
    if res.n_uncalibrated:
        _say(f"WARNING: {res.n_uncalibrated} outline(s) come from UNCALIBRATED images: their cm "
             "columns are empty and only the _px columns are given (column 'calibration' is 'none').",
             err=True)
    if len(m) == 0 and res.errors.empty:
        _say("no annotated images found (a sidecar is <image stem>.mfscan.json beside the image)", err=True)
    errors_path = Path(args.errors) if args.errors else out.with_name("errors.csv")
    _report_errors(res.errors, errors_path)
    if res.errors.empty and errors_path.is_file() and _is_error_list(errors_path):
        errors_path.unlink()  # an earlier run's list would be mistaken for this run's
    return 1 if not res.errors.empty else 0


def _is_error_list(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().strip() == "path,roi,reason"
    except (OSError, UnicodeDecodeError):
        return False


# ---------------------------------------------------------------- ImageJ
def cmd_import_imagej(args) -> int:
    from mfscan.annotations import sidecar_path, write_sidecar
    from mfscan.io.imagej import annotation_from_imagej

    image = Path(args.image)
    if not image.is_file():
        raise MfscanError("image file not found", image)
    ann = annotation_from_imagej(image, args.rois, subject=args.subject, visit=args.visit,
                                 level=args.level, rater=args.rater, session=args.session)
    if args.mm_per_pixel:
        from mfscan.calibration import manual
        ann.calibration = manual(*args.mm_per_pixel)
    out = Path(args.output) if args.output else sidecar_path(image, args.rater)
    write_sidecar(out, ann, force=args.force)
    _say(f"imported {len(ann.rois)} outline(s) ({', '.join(r.side for r in ann.rois)}) -> {out}")
    return 0


def cmd_export_imagej(args) -> int:
    from mfscan.annotations import read_sidecar
    from mfscan.io.imagej import write_imagej

    ann = read_sidecar(args.sidecar)
    out = write_imagej(ann, args.output)
    _say(f"exported {len(ann.rois)} outline(s) -> {out}")
    return 0


# ---------------------------------------------------------------- sample data
def cmd_sample_data(args) -> int:
    from mfscan.synthetic.sample_study import write_sample_study

    d = Path(args.directory)
    if d.exists() and not d.is_dir():
        raise MfscanError("exists and is not a folder", d)
    if d.is_dir() and any(d.iterdir()) and not args.force:
        raise MfscanError("the folder is not empty; sample data would replace files in it "
                          "(use --force, or another folder)", d)
    info = write_sample_study(d, seed=args.seed)
    _say(f"wrote a synthetic sample study to {args.directory}: {info}")
    return 0


# ---------------------------------------------------------------- pipeline
def _mm_per_pixel(v):
    try:
        parts = [float(x) for x in str(v).split(",")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or not all(0 < x < 100 for x in parts):
        raise argparse.ArgumentTypeError("give mm per pixel as ROW or ROW,COL, e.g. 0.25 or 0.25,0.3")
    return parts


def _threshold(v):
    x = float(v)
    if not (0 <= x < 100):
        raise argparse.ArgumentTypeError("the threshold is a percentage from 0 to 100")
    return x


def cmd_asymmetry(args) -> int:
    from mfscan.stats.asymmetry import asymmetry
    from mfscan.report import read_subjects
    from mfscan.stats.summary import split_incomplete
    from mfscan.io.tables import read_table, write_table

    m, incomplete = split_incomplete(read_table(args.measurements))
    subjects = read_subjects(args.subjects) if args.subjects else None
    measure = "csa_cm2"
    if len(m) and "calibration" in m and (m["calibration"] == "none").all():
        measure = "csa_px2"
        _say("WARNING: no calibrated outline: asymmetry is computed from areas in pixels (csa_px2)", err=True)
    a = asymmetry(m, subjects=subjects, threshold_pct=args.threshold, index=args.index, measure=measure)
    write_table(a, args.output)
    n_flag = int(a["exceeds_threshold"].fillna(False).astype(bool).sum())
    n_missing = int(a["missing_reason"].notna().sum())
    _say(f"{len(a)} subject/visit/level/rater row(s), {n_flag} above {args.threshold:g}% "
         f"({args.index}), {n_missing} with a side missing -> {args.output}")
    _report_errors(incomplete)
    return 1 if len(incomplete) else 0


def cmd_reliability(args) -> int:
    from mfscan.stats.reliability import reliability
    from mfscan.stats.summary import split_incomplete
    from mfscan.io.tables import read_table, write_table

    m, incomplete = split_incomplete(read_table(args.measurements))
    r = reliability(m, between=args.between, pair_by=args.pair_by)
    if r.empty or (r["n_targets"] == 0).all():
        what = "sessions (sidecar field \"session\")" if args.between == "session" else "raters"
        _say(f"mfscan reliability: no outline was traced by two or more {what} of the same target; "
             "nothing to compare", err=True)
    write_table(r, args.output)
    csa = r[r["measure"].isin(["csa_cm2"])]
    for rec in csa.itertuples(index=False):
        icc = rec.icc2_1 if args.between == "rater" else rec.icc3_1
        form = "ICC(2,1)" if args.between == "rater" else "ICC(3,1)"
        who = f" {rec.rater}" if args.between == "session" else ""
        ci = (rec.icc2_1_ci_lower, rec.icc2_1_ci_upper) if args.between == "rater" else \
            (rec.icc3_1_ci_lower, rec.icc3_1_ci_upper)
        if icc == icc:
            _say(f"  CSA {rec.level} {rec.side}{who}: {form} {icc:.3f} [{ci[0]:.2f}, {ci[1]:.2f}], "
                 f"SEM {rec.sem:.3f} cm2, MDC95 {rec.mdc95:.3f} cm2, n={rec.n_targets}")
        else:
            _say(f"  CSA {rec.level} {rec.side}{who}: no ICC ({rec.note})")
    _say(f"{len(r)} row(s) -> {args.output}")
    _report_errors(incomplete)
    return 1 if len(incomplete) else 0


def cmd_report(args) -> int:
    from mfscan.report import build_report

    order = [v.strip() for v in args.visit_order.split(",") if v.strip()] if args.visit_order else None
    res = build_report(args.study, args.output, subjects=args.subjects, threshold_pct=args.threshold,
                       index=args.index, visit_order=order, workers=args.workers, scheduler=args.scheduler,
                       progress=not args.no_progress, max_pixels=args.max_pixels)
    m = res.measurements
    _say(f"measured {len(m)} outline(s) in {m['image'].nunique() if len(m) else 0} image(s); "
         f"wrote to {args.output}:")
    for p in res.files:
        _say(f"  {Path(p).name}")
    if len(m):
        _say("  qc/ (an overlay per traced image)")
    _say(f"open {Path(args.output) / 'report.html'} in a browser")
    for note in res.notes:
        _say(f"NOTE: {note}", err=True)
    if len(m) and (m["calibration"] == "none").any():
        _say(f"WARNING: {int((m['calibration'] == 'none').sum())} outline(s) are uncalibrated (pixels only)",
             err=True)
    _report_errors(res.errors, None)
    return 1 if not res.errors.empty else 0


def _register_pipeline(sub):
    idx_help = ("asymmetry definition: hides = (larger-smaller)/larger x 100 (default); "
                "smaller-side = (larger-smaller)/smaller x 100; index = signed (right-left)/mean x 100")
    s = sub.add_parser("asymmetry", help="side-to-side asymmetry per subject, visit, level and rater",
                       formatter_class=_fmt, epilog=EPILOG,
                       description=textwrap.dedent("""\
                           Average the repeated images per side, then compare left and right per
                           subject, visit, level and rater. With --subjects (columns subject,
                           symptomatic_side[, group]) adds the signed symptomatic deficit
                           (asymptomatic - symptomatic) / asymptomatic x 100. A visit with one
                           side missing gets a row with the reason, never a silent drop."""))
    s.add_argument("measurements", metavar="MEASUREMENTS_CSV")
    s.add_argument("--subjects", metavar="CSV", help="subject, symptomatic_side[, group]")
    s.add_argument("--threshold", type=_threshold, default=10.0, metavar="PCT",
                   help="flag asymmetry above this percentage (default: %(default)s)")
    s.add_argument("--index", default="hides", choices=["hides", "smaller-side", "index"], help=idx_help)
    s.add_argument("-o", "--output", default="asymmetry.csv", metavar="CSV", help="default: %(default)s")
    s.set_defaults(func=cmd_asymmetry)

    s = sub.add_parser("reliability", help="inter-rater or intra-rater (session) reliability",
                       formatter_class=_fmt, epilog=EPILOG,
                       description=textwrap.dedent("""\
                           ICC(2,1), ICC(3,1), ICC(2,k), ICC(3,k) with 95% CI, SEM, MDC95 and
                           Bland-Altman bias and limits of agreement, per measure, level and side.
                           --between rater: the raters' sidecars of the same images (inter-rater);
                           --between session: one rater's repeated sessions (sidecar field
                           "session"; intra-rater)."""))
    s.add_argument("measurements", metavar="MEASUREMENTS_CSV")
    s.add_argument("--between", choices=["rater", "session"], default="rater")
    s.add_argument("--pair-by", choices=["mean", "image"], default="mean",
                   help="targets: mean = subject x visit x level x side with repeats averaged (default); "
                        "image = the same image and side")
    s.add_argument("-o", "--output", default="reliability.csv", metavar="CSV", help="default: %(default)s")
    s.set_defaults(func=cmd_reliability)

    s = sub.add_parser("report", help="measure a study and write every table, QC images and report.html",
                       formatter_class=_fmt, epilog=EPILOG,
                       description=textwrap.dedent("""\
                           Measure every annotated image under STUDY_DIR, then write to OUT_DIR:
                           measurements.csv, images.csv, side_summary.csv, asymmetry.csv,
                           largest_asymmetry.csv, longitudinal.csv, group_summary.csv,
                           reliability.csv (several raters or sessions),
                           errors.csv (when anything failed), qc/ overlays and a self-contained
                           report.html. STUDY_DIR/subjects.csv is used when present."""))
    s.add_argument("study", metavar="STUDY_DIR")
    s.add_argument("-o", "--output", default="report", metavar="OUT_DIR", help="default: %(default)s")
    s.add_argument("--subjects", metavar="CSV", help="default: STUDY_DIR/subjects.csv if present")
    s.add_argument("--threshold", type=_threshold, default=10.0, metavar="PCT",
                   help="flag asymmetry above this percentage (default: %(default)s)")
    s.add_argument("--index", default="hides", choices=["hides", "smaller-side", "index"], help=idx_help)
    s.add_argument("--visit-order", metavar="V1,V2,...",
                   help="visit labels in chronological order, e.g. baseline,week4,week10 "
                        "(default: numeric/natural order, so 2 comes before 10)")
    _add_measure_options(s)
    s.set_defaults(func=cmd_report)


# ---------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mfscan", formatter_class=_fmt,
        description=textwrap.dedent("""\
            Measure the lumbar multifidus on transverse ultrasound images: calibrated
            cross-sectional area (cm2), linear measures and echo intensity per traced
            outline, side-to-side asymmetry, change over visits and rater reliability.

            Outlines live in a JSON sidecar beside each image (<image stem>.mfscan.json,
            or <image stem>.<rater>.mfscan.json), written by the napari plugin
            (mfscan view), by mfscan import-imagej, or by hand."""),
        epilog=EPILOG)
    p.add_argument("--version", action="version", version=f"mfscan {__version__}")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks on errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("info", help="describe an image: format, size, frames, calibration",
                       formatter_class=_fmt, epilog=EPILOG,
                       description="Describe images: format, size, frames, colour and every calibrated "
                                   "ultrasound region with its mm-per-pixel scale. Never prints patient data.")
    s.add_argument("images", nargs="+", metavar="IMAGE")
    s.add_argument("--json", action="store_true", help="print JSON (regions as bounds and spacing_mm)")
    s.add_argument("--max-pixels", type=int, default=200_000_000, metavar="N", help=argparse.SUPPRESS)
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("measure", help="measure every annotated image into a tidy CSV",
                       formatter_class=_fmt, epilog=EPILOG,
                       description=textwrap.dedent("""\
                           Measure every outline of every annotated image found under PATH
                           (images or folders, searched recursively with their sidecars).
                           Writes one row per outline: image, subject, visit, level, side,
                           rater, csa_cm2, perimeter_cm, ap_depth_cm, lateral_width_cm,
                           shape_ratio, echo_mean, echo_sd, row_mm, col_mm, calibration ...
                           Uncalibrated images get empty cm columns and _px values.
                           Files that fail are listed (errors.csv) and the rest go on."""))
    s.add_argument("paths", nargs="+", metavar="PATH")
    s.add_argument("-o", "--output", default="measurements.csv", metavar="CSV",
                   help="output table (default: %(default)s)")
    s.add_argument("--errors", metavar="CSV", help="where to list failures (default: errors.csv beside the output)")
    _add_measure_options(s)
    s.set_defaults(func=cmd_measure)

    s = sub.add_parser("import-imagej", help="turn a Fiji .roi / RoiSet.zip into a sidecar",
                       formatter_class=_fmt, epilog=EPILOG,
                       description="Convert Fiji/ImageJ ROIs of IMAGE into an mfscan sidecar. ROI names must "
                                   "say the side ('left', 'R', 'L4 right', '01-left-L5'); a level in the name "
                                   "is kept. Vertices are kept to sub-pixel precision.")
    s.add_argument("image", metavar="IMAGE")
    s.add_argument("rois", metavar="ROIS", help=".roi file or RoiSet .zip")
    s.add_argument("-o", "--output", metavar="SIDECAR", help="default: <image stem>[.<rater>].mfscan.json")
    for name in ("subject", "visit", "level", "rater", "session"):
        s.add_argument(f"--{name}", help=f"{name} code to store in the sidecar")
    s.add_argument("--mm-per-pixel", type=_mm_per_pixel, metavar="ROW[,COL]",
                   help="pixel size to store as a manual calibration (Fiji ROI files carry none; "
                        "a DICOM's own calibration is used without it)")
    s.add_argument("--force", action="store_true", help="overwrite an existing sidecar")
    s.set_defaults(func=cmd_import_imagej)

    s = sub.add_parser("export-imagej", help="write a sidecar's outlines as a Fiji RoiSet.zip",
                       formatter_class=_fmt, epilog=EPILOG,
                       description="Write a sidecar's outlines as Fiji ROIs named NN-side-level.")
    s.add_argument("sidecar", metavar="SIDECAR")
    s.add_argument("-o", "--output", default="RoiSet.zip", metavar="ZIP", help="default: %(default)s")
    s.set_defaults(func=cmd_export_imagej)

    s = sub.add_parser("sample-data", help="write the synthetic sample study to a folder",
                       formatter_class=_fmt, epilog=EPILOG,
                       description="Write a small synthetic study (phantom images, sidecars of two raters, "
                                   "subjects.csv, a calibrated DICOM) to DIR. Deterministic by --seed.")
    s.add_argument("directory", metavar="DIR")
    s.add_argument("--seed", type=int, default=2026)
    s.add_argument("--force", action="store_true", help="write into a folder that is not empty")
    s.set_defaults(func=cmd_sample_data)

    for register in _EXTRA_COMMANDS:
        register(sub)
    return p


#: Functions ``register(subparsers)`` that add more subcommands (pipeline, report, viewer).
def _register_view(sub):
    from mfscan.cli.view import register  # napari is imported only when `mfscan view` runs

    register(sub)


def _register_propose(sub):
    from mfscan.cli.propose import register

    register(sub)


_EXTRA_COMMANDS: list = [_register_pipeline, _register_view, _register_propose]


def main(argv=None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere: mfscan measure ... --debug
    argv = [a for a in argv if a != "--debug"]
    args = parser.parse_args(argv)
    args.debug = debug
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    if not args.debug:
        warnings.simplefilter("ignore")
    try:
        return int(args.func(args) or 0)
    except MfscanError as e:
        if args.debug:
            raise
        _say(f"mfscan {args.command}: {e}", err=True)
        return 1
    except KeyboardInterrupt:
        _say("interrupted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # a bug: say so plainly, without a traceback
        if args.debug:
            raise
        _say(f"mfscan {args.command}: unexpected internal error ({type(e).__name__}: {e}). "
             "Run again with --debug and report it.", err=True)
        return 1

