"""The report's HTML: one self-contained page (styles inline, figures as ``data:`` URIs).

:func:`render_html` writes the document head (title, research-use notice), a table of
contents and the fragments of each section in the order given. The sections are the modules
of :mod:`mfscan.report.sections`, each ``section(ctx) -> list[str]`` with ``ctx`` the
report's :class:`~mfscan.report._context.Context`; :mod:`mfscan.report.build` lists them in
page order:

1. counts (subjects per group), warnings; the problems of ``mfscan check``; then the
   caller's ``top_parts``;
2. side-to-side asymmetry, asymmetry by group;
3. the Hides-style trial sections: CSA of each side per level over visits per
   group (symptomatic side marked) and the symptomatic deficit over visits;
4. reliability, and the GRRAS checklist;
5. activation (RUSI), mixed models, outline agreement; then the caller's ``parts``;
6. images and calibration, problems, files and the closing notice.

**Extra sections.** Another module adds a section by writing a function of the same
signature (escaped, self-contained fragments: styles from :data:`CSS`, figures as data URIs,
tables with :func:`mfscan.report._tables.table`) and passing it to
:func:`mfscan.report.build.build_report` (``top_parts=[f]`` or ``parts=[f]``).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from mfscan import RESEARCH_NOTICE, __version__
from mfscan.report._context import Context, Section

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


def _head(ctx: Context) -> list[str]:
    """The document head, title and the research-use notice."""
    name = _e(ctx.study_dir.name)
    return [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>mfscan report: {name}</title><style>{CSS}</style></head><body>",
        f"<h1>Multifidus ultrasound study report</h1>"
        f"<p class='small'>Study folder <code>{name}</code> · mfscan {_e(__version__)}</p>",
        f"<div class='notice'><b>Research use only.</b> {_e(RESEARCH_NOTICE)}</div>",
    ]


def render_html(ctx: Context, sections: Sequence[Section]) -> str:
    """The report page: the head, a table of contents and the sections in the order given.

    Parameters
    ----------
    ctx : Context
        The report's tables (``ctx.res``: a :class:`~mfscan.report.build.ReportResult`),
        settings and the extra tables its sections show.
    sections : sequence of callables
        Each ``section(ctx) -> list of HTML fragments`` (:mod:`mfscan.report.sections`);
        called once, in order. The last one closes the page (``closing``).

    Returns
    -------
    str
        The HTML document.
    """
    body = [fragment for section in sections for fragment in (section(ctx) or ())]
    return "\n".join(p for p in [*_head(ctx), _toc(body), *body] if p)
