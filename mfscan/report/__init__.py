"""The study report: every table, QC overlays and a self-contained HTML page.

:func:`build_report` (orchestration, :mod:`mfscan.report.build`) measures a study
folder, computes its tables with :func:`mfscan.stats.study.analyse_study` and
writes them with the figures of :mod:`mfscan.report.plots` into the page of
:mod:`mfscan.report.html`.
"""

from .build import OUTPUT_FILES, ReportResult, build_report, read_subjects  # noqa: F401
from .html import CSS, render_html  # noqa: F401
from .plots import (  # noqa: F401
    GROUP_COLORS,
    SIDE_COLORS,
    plot_asymmetry_over_visits,
    plot_bland_altman,
    plot_group_curves,
    plot_left_right,
    threshold_ratio,
)
