"""``mfscan sample-data``: write the synthetic sample study to a folder."""

from __future__ import annotations

from pathlib import Path

from mfscan.cli._common import _say, add_parser
from mfscan.errors import MfscanError

__all__ = ["cmd_sample_data", "register"]


def cmd_sample_data(args) -> int:
    from mfscan.synthetic.sample_study import write_sample_study

    d = Path(args.directory)
    if d.exists() and not d.is_dir():
        raise MfscanError("exists and is not a folder", d)
    if d.is_dir() and any(d.iterdir()) and not args.force:
        raise MfscanError(
            "the folder is not empty; sample data would replace files in it (use --force, or another folder)",
            d,
        )
    info = write_sample_study(d, seed=args.seed)
    _say(f"wrote a synthetic sample study to {args.directory}: {info}")
    return 0


def register(sub) -> None:
    """Add the ``sample-data`` subcommand."""
    s = add_parser(
        sub,
        "sample-data",
        "write the synthetic sample study to a folder",
        "Write a small synthetic study (phantom images, sidecars of two raters, "
        "subjects.csv, a calibrated DICOM) to DIR. Deterministic by --seed.",
        cmd_sample_data,
    )
    s.add_argument("directory", metavar="DIR")
    s.add_argument("--seed", type=int, default=2026)
    s.add_argument("--force", action="store_true", help="write into a folder that is not empty")
