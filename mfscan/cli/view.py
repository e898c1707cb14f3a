"""``mfscan view [PATH]``: open napari with the Multifidus widget.

napari and Qt come with the ``gui`` extra (``pip install "mfscan[gui]"``); they are
imported only when this subcommand runs, and without them it says what to install.
"""

from __future__ import annotations

from pathlib import Path

from mfscan.cli._common import add_parser
from mfscan.errors import MfscanError

__all__ = ["GUI_INSTALL", "register", "cmd_view"]

#: What to install for ``mfscan view``.
GUI_INSTALL = 'pip install "mfscan[gui]"'


def register(subparsers) -> None:
    """Add the ``view`` subcommand to the ``mfscan`` parser."""
    s = add_parser(
        subparsers,
        "view",
        "open images in napari with the Multifidus tracing widget",
        "Start napari with the mfscan 'Multifidus' dock widget. PATH may be an image\n"
        "(PNG, JPEG, BMP, TIFF, DICOM) or a sidecar, opened with its outlines, or a\n"
        "folder, opened as a worklist (next / previous image, autosave, resume where\n"
        f"you stopped). Needs napari and Qt, the GUI extra: {GUI_INSTALL}",
        cmd_view,
    )
    s.add_argument("path", nargs="?", metavar="PATH", help="image, .mfscan.json sidecar or folder")
    s.add_argument("--rater", help="rater code to trace as (remembered for next time)")


def _import_napari():
    """napari, or an MfscanError that says what to install."""
    try:
        import napari
        import qtpy.QtCore  # noqa: F401  (napari without a Qt binding cannot open a window)
    except ImportError as e:
        raise MfscanError(
            f"the viewer needs napari and a Qt binding, which are not installed ({e}); "
            f"install them with: {GUI_INSTALL}"
        ) from e
    return napari


def cmd_view(args) -> int:
    path = Path(args.path) if args.path else None
    if path is not None and not path.exists():
        raise MfscanError("no such file or folder", path)
    napari = _import_napari()

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
