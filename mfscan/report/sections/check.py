"""The report's "Study check" section: the problems of :func:`mfscan.measure.check.check_study`,
shown at the top of the report so that nobody reads the tables before seeing them."""

from __future__ import annotations

import html

from mfscan.report._context import Context
from mfscan.report._tables import table as _table

__all__ = ["section"]

#: Rows shown per kind of problem (the rest is counted).
MAX_ROWS = 200


def section(ctx: Context) -> list[str]:
    """HTML fragments listing the study's problems, grouped by kind.

    Parameters
    ----------
    ctx : Context
        Its ``problems``: from :func:`mfscan.measure.check.check_study` (columns ``file``,
        ``problem``, ``message``, ...). None: the check was not run, nothing is shown.

    Returns
    -------
    list of str
        A clean study gives one short line; otherwise a warning box with the count
        per kind and one collapsible table per kind. Every value is escaped.
    """
    from mfscan.measure.check import problems_by_kind

    problems = ctx.problems
    if problems is None:
        return []
    n_img = problems.attrs.get("n_images")
    checked = f" ({n_img} annotated images, {problems.attrs.get('n_sidecars')} sidecars)" if n_img else ""
    if problems.empty:
        return [f"<p class='small'>Study check (<code>mfscan check</code>): no problem found{checked}.</p>"]
    groups = list(problems_by_kind(problems))
    counts = "".join(f"<li>{html.escape(heading)}: <b>{len(rows)}</b></li>" for _, heading, rows in groups)
    parts = [
        f"<div class='warn' id='check'><b>Study check: {len(problems)} problem(s) found{checked}.</b> "
        "Fix them (or confirm them) before trusting the tables below; "
        "<code>mfscan check STUDY</code> lists the same.<ul>" + counts + "</ul></div>"
    ]
    for kind, heading, rows in groups:
        parts.append(
            f"<details><summary>{html.escape(heading)} ({len(rows)}) "
            f"<span class='small'>[{html.escape(kind)}]</span></summary>"
            + _table(rows, columns=["file", "message"], max_rows=MAX_ROWS)
            + "</details>"
        )
    return parts
