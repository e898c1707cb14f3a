"""The study report: every table, QC overlays and a self-contained HTML page.

:func:`build_report` (orchestration, :mod:`mfscan.report.build`) measures a study
folder, computes its tables with :func:`mfscan.stats.study.analyse_study` and
writes them with the figures of :mod:`mfscan.report.plots` into the page of
:mod:`mfscan.report.html`. The figure and HTML names are imported on first use, so
``from mfscan.report import build_report`` does not load matplotlib.

The page's sections live in :mod:`mfscan.report.sections`, one module each, all
``section(ctx) -> list[str]`` (tables in ``_tables.py``, the numbers behind the trial
figures in ``_data.py``); other modules add sections of the same signature through
``build_report(..., top_parts=..., parts=...)`` (see :mod:`mfscan.report.html`).
"""

from .build import OUTPUT_FILES, ReportResult, build_report  # noqa: F401

_LAZY = {
    "CSS": "html",
    "render_html": "html",
    "GROUP_COLORS": "plots",
    "threshold_ratio": "plots",
    "primary_rows": "plots",
    "plot_asymmetry_over_visits": "plots",
    "plot_left_right": "plots",
    "plot_group_curves": "plots",
    "plot_bland_altman": "plots",
    "plot_sides_over_visits": "plots_trial",
    "plot_deficit_over_visits": "plots_trial",
}

__all__ = ["OUTPUT_FILES", "ReportResult", "build_report", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
