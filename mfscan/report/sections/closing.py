"""The report's last section: the problems, the files written and the closing notice."""

from __future__ import annotations

import html

from mfscan import RESEARCH_NOTICE
from mfscan.report._context import Context
from mfscan.report._tables import table

__all__ = ["section"]

_e = html.escape


def section(ctx: Context) -> list[str]:
    """The problems (if any), the CSV files written and the research-use notice; closes the page."""
    res = ctx.res
    parts = []
    if not res.errors.empty:
        parts.append("<h2>Problems</h2>" + table(res.errors, columns=["path", "roi", "reason"]))
    parts.append(
        "<h2>Files</h2><ul>"
        + "".join(
            f"<li><a href='{_e(p.name)}'>{_e(p.name)}</a></li>" for p in res.files if p.suffix == ".csv"
        )
        + "</ul><p class='small'>Columns carry their units (csa_cm2, ap_depth_cm, asymmetry_pct). "
        "No DICOM patient, institution, date or device identifiers are exported; subjects are the "
        "study's own codes.</p>"
    )
    parts.append(f"<div class='notice'><b>Research use only.</b> {_e(RESEARCH_NOTICE)}</div></body></html>")
    return parts
