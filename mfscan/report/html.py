"""The report's HTML: one self-contained page (styles inline, figures as ``data:`` URIs).

Every value taken from the study (codes, file names, notes) is escaped. The page,
in order (:func:`render_html`):

1. title, research-use notice, counts (subjects per group), warnings;
2. ``top`` fragments: the first things a reader must see (for instance the
   problems of ``mfscan check``);
3. side-to-side asymmetry, asymmetry by group;
4. the Hides-style trial sections: CSA of each side per level over visits per
   group (symptomatic side marked) and the symptomatic deficit over visits;
5. reliability, and the GRRAS checklist;
6. ``parts`` fragments: extra sections of other modules (model, agreement,
   contraction), each a complete ``<h2>`` section;
7. images and calibration, problems, files and the closing notice.

**Extra sections.** Another module adds a section by writing a function that
returns a list of HTML fragments (escaped, self-contained: styles from
:data:`CSS`, figures as data URIs, tables with :func:`mfscan.report._tables.table`) and passing its
output to ``render_html(..., top=[...])`` or ``render_html(..., parts=[...])``.
:func:`mfscan.report.build.build_report` takes callables instead
(``top_parts``/``parts``: ``f(result) -> list[str]``, called after the tables are
written) and wires the built-in ones in ``mfscan.report.build._extra_parts``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from mfscan.report._context import Context
from mfscan.report._section_asymmetry import asymmetry_part, groups_part
from mfscan.report._section_reliability import grras_part, reliability_part
from mfscan.report._section_summary import closing_part, head_part, images_part, summary_part
from mfscan.report._section_trial import trial_part

__all__ = ["CSS", "render_html"]

_e = html.escape

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1150px;margin:24px auto;
padding:0 16px;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:3px;margin-top:1.8em}
.notice{background:#fff4e5;border-left:5px solid #E69F00;padding:10px 14px;margin:12px 0}
.warn{background:#fdecea;border-left:5px solid #D55E00;padding:10px 14px;margin:12px 0}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:.85em;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 7px;
text-align:right;white-space:nowrap}
th{background:#f3f3f3;white-space:normal;vertical-align:bottom}td.t,th.t{text-align:left}
tr.flag td{background:#fff0e0}caption{text-align:left;font-size:.9em;color:#555;padding:2px 0}
table.grras th{vertical-align:top;width:15em}td.wrap{white-space:normal}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{background:#f6f8fa;border-radius:6px;padding:8px 14px}
.card b{font-size:1.4em;display:block}img.plot{max-width:100%;margin:6px 0}
details{margin:8px 0}summary{cursor:pointer;font-weight:600}.small{font-size:.85em;color:#555}
nav.toc{font-size:.9em;margin:10px 0}nav.toc a{margin-right:12px}
"""

_TOC = (
    ("check", "Study check"),
    ("asymmetry", "Asymmetry"),
    ("sides", "CSA of each side"),
    ("deficit", "Symptomatic deficit"),
    ("reliability", "Reliability"),
    ("grras", "GRRAS"),
    ("contraction", "Activation (RUSI)"),
    ("model", "Mixed models"),
    ("agreement", "Outline agreement"),
    ("images", "Images"),
)


def _toc(body: Sequence[str]) -> str:
    text = "".join(body)
    links = [f"<a href='#{i}'>{_e(t)}</a>" for i, t in _TOC if f"id='{i}'" in text]
    return f"<nav class='toc'>{''.join(links)}</nav>" if len(links) > 1 else ""


def render_html(
    res,
    *,
    study_dir,
    subjects,
    groups,
    threshold_pct,
    index,
    measure,
    visit_order: Sequence[str] | None = None,
    top: Sequence[str] = (),
    parts: Sequence[str] = (),
) -> str:
    """The report page of a :class:`~mfscan.report.build.ReportResult`.

    Parameters
    ----------
    res : ReportResult
        The tables (``measurements``, ``asymmetry``, ``largest``, ``reliability``,
        ``images``, ``errors``, ``analysis``), ``notes`` and ``files`` written.
    study_dir : path
        The study folder (its name is shown; its ``mfscan.study.json`` is read for
        the blinding of the GRRAS checklist).
    subjects : DataFrame or None
        The subjects table.
    groups : DataFrame or None
        The group summary.
    threshold_pct, index, measure
        As given to :func:`mfscan.stats.study.analyse_study` and the measure it used.
    visit_order : sequence of str, optional
        The visit order the analysis used (None: its natural order).
    top : sequence of str
        HTML fragments shown right after the summary and warnings (check problems).
    parts : sequence of str
        HTML fragments (extra sections) inserted before the images section.
    """
    ctx = Context(
        res,
        study_dir,
        subjects=subjects,
        groups=groups,
        threshold_pct=threshold_pct,
        index=index,
        measure=measure,
        visit_order=list(visit_order) if visit_order is not None else None,
    )
    head = head_part(ctx, CSS)
    body = summary_part(ctx) + list(top)
    if res.asymmetry is not None and len(res.asymmetry):
        body += asymmetry_part(ctx)
        body += groups_part(ctx)
        body += trial_part(ctx)
    if res.reliability is not None and len(res.reliability):
        body += reliability_part(ctx)
    if res.measurements is not None and len(res.measurements):
        body += grras_part(ctx)
    body += list(parts)
    if res.images is not None and len(res.images):
        body += images_part(ctx)
    body += closing_part(ctx)
    return "\n".join(p for p in [*head, _toc(body), *body] if p)
