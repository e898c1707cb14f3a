"""mfscan.report."""

from .build import (  # noqa: F401
    SIDE_COLORS,
    GROUP_COLORS,
    ReportResult,
    read_subjects,
    build_report,
    OUTPUT_FILES,
    plot_asymmetry_over_visits,
    threshold_ratio,
    plot_left_right,
    plot_group_curves,
    plot_bland_altman,
    CSS,
    render_html,
)
