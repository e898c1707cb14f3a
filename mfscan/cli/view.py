"""``mfscan view [PATH]``: open napari with the Multifidus widget.

Kept apart from :mod:`mfscan.cli` so that the core never imports napari or Qt
unless this subcommand runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mfscan import RESEARCH_NOTICE


def register(subparsers) -> None:
    """Add the ``view`` subcommand to the ``mfscan`` parser."""
    s = subparsers.add_parser(
        "view", help="open images in napari with the Multifidus tracing widget",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"Research use only: {RESEARCH_NOTICE}",
        description="Start napari with the mfscan 'Multifidus' dock widget. PATH may be an image "
                    "(PNG, JPEG, BMP, TIFF, DICOM) or a sidecar, opened with its outlines, or a "
                    "folder, opened as a worklist (next / previous image, autosave, resume where "
                    "you stopped).")
    s.add_argument("path", nargs="?", metavar="PATH", help="image, .mfscan.json sidecar or folder")
    s.add_argument("--rater", help="rater code to trace as (remembered for next time)")
    s.set_defaults(func=cmd_view)


def cmd_view(args) -> int:
    from mfscan.errors import MfscanError

    path = Path(args.path) if args.path else None
    if path is not None and not path.exists():
        raise MfscanError("no such file or folder", path)
    import napari

    viewer = napari.Viewer(title="mfscan")
    _dock, widget = viewer.window.add_plugin_dock_widget("mfscan", "Multifidus")
    if args.rater:
        widget.set_fields(rater=args.rater)
    if path is not None:
        if path.is_dir():
            widget.open_folder(path)
        else:
            widget.open_image(path)
    napari.run()
    return 0
