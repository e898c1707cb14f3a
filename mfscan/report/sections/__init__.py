"""The sections of the report page, one module each, all with one signature:

``section(ctx: mfscan.report._context.Context) -> list[str]``

HTML fragments (every study value escaped; tables with :func:`mfscan.report._tables.table`,
figures as PNG data URIs), an empty list when the study has nothing for that section. A
section reads the report's tables from ``ctx`` and writes no file: the tables it shows are
computed and written by :mod:`mfscan.report.build`, which lists the sections in page order
(``_page_sections``) and hands them to :func:`mfscan.report.html.render_html`.

=================  ==========================================================================
``summary``        counts (subjects per group) and the warnings a reader must see first
``check``          the problems of ``mfscan check`` (``ctx.problems``)
``asymmetry``      definition, figures, flagged and incomplete rows, the largest level
``groups``         asymmetry by group over visits, every asymmetry row
``trial``          CSA of each side per level over visits, the symptomatic deficit
``reliability``    ICCs, SEM, MDC95, Bland-Altman
``grras``          the GRRAS reporting checklist
``contraction``    activation (RUSI) thickness (``ctx.contraction``)
``mixed_models``   the trial's mixed models (``ctx.mixed_models``)
``agreement``      outline agreement (``ctx.agreement``)
``images``         images and calibration, QC links
``closing``        problems, files and the closing notice
=================  ==========================================================================
"""
