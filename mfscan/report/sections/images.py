"""The report's "Images and calibration" section: every image's calibration source and scale,
with links to its QC overlays."""

from __future__ import annotations

import html
from pathlib import Path

from mfscan.annotations import glob_escape
from mfscan.report._context import Context
from mfscan.report._tables import table

__all__ = ["section"]


def section(ctx: Context) -> list[str]:
    """The images table (nothing when no image was read)."""
    res = ctx.res
    if res.images is None or not len(res.images):
        return []
    parts = [
        "<h2 id='images'>Images and calibration</h2><p>Every image's calibration source and scale "
        "(dicom-region: the DICOM ultrasound region; scale-line: a line drawn over the depth "
        "ruler; manual; none: pixels only). QC overlays of every tracing are in "
        "<a href='qc/'>qc/</a>.</p>"
    ]
    cols = [
        "image",
        "format",
        "rows_px",
        "cols_px",
        "frames",
        "calibration",
        "row_mm",
        "col_mm",
        "burned_in_annotation",
        "lossy",
        "qc",
        "warnings",
    ]
    tab = res.images.copy()
    tab["qc"] = [_qc_links(res.out_dir, i) for i in tab["image"]]
    parts.append(table(tab, columns=[c for c in cols if c in tab], digits=4, raw=("qc",), key=["image"]))
    return parts


def _qc_links(out_dir: Path, image_label: str) -> str:
    stem = Path(image_label)
    folder = out_dir / "qc" / stem.parent
    if not folder.is_dir():
        return ""
    files = sorted(folder.glob(f"{glob_escape(stem.stem)}.*png"))
    return " ".join(
        f"<a href='{html.escape((Path('qc') / stem.parent / f.name).as_posix(), quote=True)}'>"
        f"{html.escape(f.name[len(stem.stem) + 1 : -4] or 'view')}</a>"
        for f in files
    )
