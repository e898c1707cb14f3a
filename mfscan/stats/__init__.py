"""Study statistics: side summaries, asymmetry, change over visits, reliability.

:func:`mfscan.stats.study.analyse_study` is the one study analysis that the report,
the command line and the napari widget call.
"""

from .study import StudyAnalysis, analyse_study  # noqa: F401
