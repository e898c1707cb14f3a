"""The ``mfscan`` command line: the parser and the entry point.

Every subcommand has ``--help``. Bad input never shows a Python traceback (pass
``--debug`` to see one): a failing file is reported with its path and the reason,
the others go on, and the exit status is 1 when anything failed (2 for usage errors).

Each command family lives in its own module (:mod:`~mfscan.cli.info`,
:mod:`~mfscan.cli.measure`, :mod:`~mfscan.cli.imagej`, :mod:`~mfscan.cli.sample`,
:mod:`~mfscan.cli.study`, :mod:`~mfscan.cli.view`, :mod:`~mfscan.cli.propose`) with a
``register(subparsers)``; they share :mod:`mfscan.cli._common` and none imports this module.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import warnings

from mfscan import __version__
from mfscan.cli import (
    agreement,
    check,
    contraction,
    export,
    imagej,
    info,
    measure,
    propose,
    sample,
    study,
    view,
)
from mfscan.cli import learn as learn_cli
from mfscan.cli import model as model_cli
from mfscan.cli._common import EPILOG, _fmt, _say
from mfscan.errors import MfscanError

__all__ = ["EPILOG", "COMMAND_FAMILIES", "build_parser", "main"]

#: The command families, in the order of ``mfscan --help``.
COMMAND_FAMILIES = (info, measure, imagej, sample, study, view, propose)


def build_parser() -> argparse.ArgumentParser:
    """The ``mfscan`` parser with every subcommand."""
    p = argparse.ArgumentParser(
        prog="mfscan",
        formatter_class=_fmt,
        description=textwrap.dedent("""\
            Measure the lumbar multifidus on transverse ultrasound images: calibrated
            cross-sectional area (cm2), linear measures and echo intensity per traced
            outline, side-to-side asymmetry, change over visits and rater reliability.

            Outlines live in a JSON sidecar beside each image (<image stem>.mfscan.json,
            or <image stem>.<rater>.mfscan.json), written by the napari plugin
            (mfscan view), by mfscan import-imagej, or by hand."""),
        epilog=EPILOG,
    )
    p.add_argument("--version", action="version", version=f"mfscan {__version__}")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks on errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for family in COMMAND_FAMILIES:
        family.register(sub)
    export.register(sub)
    check.register(sub)
    agreement.register(sub)
    contraction.register(sub)
    model_cli.register(sub)
    learn_cli.register(sub)
    return p


def main(argv=None) -> int:
    """Run ``mfscan`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere: mfscan measure ... --debug
    argv = [a for a in argv if a != "--debug"]
    args = parser.parse_args(argv)
    args.debug = debug
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    with warnings.catch_warnings():  # the caller's filters are back when the command ends
        if not args.debug:
            warnings.simplefilter("ignore")
        return _run(args)


def _run(args) -> int:
    """Run the parsed command; an error is said in one line (raised with ``--debug``)."""
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
        _say(
            f"mfscan {args.command}: unexpected internal error ({type(e).__name__}: {e}). "
            "Run again with --debug and report it.",
            err=True,
        )
        return 1
