"""What every ``mfscan`` command family shares: help layout, messages, error lists, argument types.

No module of :mod:`mfscan.cli` imports :mod:`mfscan.cli.main`; they all import this one.
"""

from __future__ import annotations

import argparse
import sys

from mfscan import RESEARCH_NOTICE
from mfscan.errors import MfscanError
from mfscan.vocab import DEFAULT_MAX_PIXELS

__all__ = [
    "EPILOG",
    "INDEX_HELP",
    "_fmt",
    "_say",
    "_positive_int",
    "_report_errors",
    "_mm_per_pixel",
    "_threshold",
    "add_typed_scale_options",
    "scale_override",
    "merge_scale_override",
    "is_error_list",
    "add_measure_options",
    "add_parser",
]

EPILOG = f"Research use only: {RESEARCH_NOTICE}"

INDEX_HELP = (
    "asymmetry definition: hides = (larger-smaller)/larger x 100 (default); "
    "smaller-side = (larger-smaller)/smaller x 100; index = signed (right-left)/mean x 100"
)


def _fmt(prog):
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32, width=100)


def add_parser(sub, name: str, help: str, description: str, func) -> argparse.ArgumentParser:
    """A subcommand with the common help layout and the research-use epilog."""
    s = sub.add_parser(name, help=help, formatter_class=_fmt, epilog=EPILOG, description=description)
    s.set_defaults(func=func)
    return s


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


def _mm_per_pixel(v):
    try:
        parts = [float(x) for x in str(v).split(",")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or not all(x > 0 for x in parts):
        raise argparse.ArgumentTypeError("give mm per pixel as ROW or ROW,COL, e.g. 0.25 or 0.25,0.3")
    from mfscan.calibration import implausible, manual

    why = implausible(manual(*parts))  # the one plausibility range of the calibration rule
    if why:
        raise argparse.ArgumentTypeError(why)
    return parts


def add_typed_scale_options(p, help_mm: str) -> None:
    """``--mm-per-pixel`` and ``--override-calibration``, for every command that takes a typed scale."""
    p.add_argument("--mm-per-pixel", type=_mm_per_pixel, metavar="ROW[,COL]", help=help_mm)
    p.add_argument(
        "--override-calibration",
        action="store_true",
        help="use --mm-per-pixel even when it differs by more than 1%% from the image's own "
        "(DICOM or ImageJ) calibration; without it such a value is refused",
    )


def scale_override(
    image_path,
    image,
    *,
    mm_per_pixel=None,
    override_calibration: bool = False,
    force: bool = False,
    stored=None,
    shared=None,
    points=None,
    keeps_outlines: bool = False,
    sidecar=None,
):
    """The scale a command measures and stores with, over the image's own (None: the image's).

    The decision is :func:`mfscan.calibration.sidecar_override`'s, with ``--mm-per-pixel``
    (``mm_per_pixel``), ``--override-calibration`` and ``--force``; this only names the file
    in its refusal (the sidecar whose scale would change, else the image) and, for a typed
    scale, the option.
    """
    from mfscan.calibration import manual, sidecar_override

    typed = manual(*mm_per_pixel) if mm_per_pixel else None
    try:
        return sidecar_override(
            stored,
            image,
            typed=typed,
            shared=shared,
            points=points,
            override_image=override_calibration,
            keeps_outlines=keeps_outlines,
            force=force,
            sidecar=sidecar,
        )
    except MfscanError as e:
        raise MfscanError(("--mm-per-pixel: " if typed else "") + e.message, e.path or image_path) from e


def merge_scale_override(
    image_path,
    image,
    ann,
    sidecar,
    *,
    rater=None,
    output=None,
    mm_per_pixel=None,
    override_calibration: bool = False,
    force: bool = False,
    points=None,
):
    """:func:`scale_override` of a command that merges outlines into a rater's sidecar
    (``mfscan propose``, ``mfscan predict``).

    The stored scale is that of ``ann``, the sidecar merged into (None: a new one), else the one in
    the file ``output`` or ``rater`` names; the shared one is what the image's sidecars agree on;
    a sidecar with outlines keeps them (:func:`mfscan.calibration.sidecar_override`).
    """
    from mfscan.annotations.merge import existing_calibration
    from mfscan.annotations.scales import image_shared_scale

    return scale_override(
        image_path,
        image,
        mm_per_pixel=mm_per_pixel,
        override_calibration=override_calibration,
        force=force,
        stored=ann.calibration if ann is not None else existing_calibration(image_path, rater, output),
        shared=lambda: image_shared_scale(image_path),
        points=points,
        keeps_outlines=ann is not None and bool(ann.rois),
        sidecar=sidecar,
    )


def is_error_list(path) -> bool:
    """True when `path` is an errors table mfscan wrote (header ``path,roi,reason``): one a
    command may remove when a run has no errors."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().strip() == "path,roi,reason"
    except (OSError, UnicodeDecodeError):
        return False


def _threshold(v):
    x = float(v)
    if not (0 <= x < 100):
        raise argparse.ArgumentTypeError("the threshold is a percentage from 0 to 100")
    return x


def _positive_int(v):
    """An argparse type: a whole number of 1 or more (``--workers``, ``--max-pixels``)."""
    try:
        n = int(str(v).replace("_", ""))
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"give a whole number of 1 or more, not {v!r}")
    return n


def add_measure_options(p, *, hidden: bool = False) -> None:
    """``--workers --scheduler --max-pixels --no-progress`` (only ``--max-pixels``, hidden, for ``info``)."""
    if hidden:
        p.add_argument(
            "--max-pixels",
            type=_positive_int,
            default=DEFAULT_MAX_PIXELS,
            metavar="N",
            help=argparse.SUPPRESS,
        )
        return
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        metavar="N",
        help="local processes (default: one per core; 1 = no parallelism)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on an existing Dask distributed cluster, e.g. tcp://10.0.0.5:8786",
    )
    p.add_argument(
        "--max-pixels",
        type=_positive_int,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help="refuse images whose header claims more pixels than this (default: %(default)s)",
    )
    p.add_argument("--no-progress", action="store_true", help="do not show progress bars")
