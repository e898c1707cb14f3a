"""What every section of the report page reads: the result tables and the study's settings."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

__all__ = ["Context", "Section"]


@dataclass
class Context:
    """The input of every section of the report page (:mod:`mfscan.report.sections`).

    Attributes
    ----------
    res : ReportResult
        The tables, notes and files of the report.
    study_dir : Path
        The study folder (only its name is shown; its settings file is read).
    subjects : DataFrame or None
        The subjects table.
    groups : DataFrame or None
        The group summary.
    threshold_pct, index, measure
        As given to :func:`mfscan.stats.study.analyse_study` and the measure it used.
    visit_order : list of str or None
        The visit order the analysis used (None: the natural order).
    visits : list of str
        The study's visits in that order (computed).
    problems : DataFrame or None
        The problems of :func:`mfscan.measure.check.check_study` (None: not checked).
    contraction : DataFrame or None
        :func:`mfscan.stats.contraction.contraction_table` (None: no thickness lines).
    mixed_models : mfscan.stats.mixed.ModelResult or None
        The trial's mixed models (None: not fitted).
    agreement : dict of str to DataFrame
        The outline agreement tables by ``between`` (empty: no pair).
    """

    res: object
    study_dir: Path
    subjects: pd.DataFrame | None = None
    groups: pd.DataFrame | None = None
    threshold_pct: float = 10.0
    index: str = "hides"
    measure: str = "csa_cm2"
    visit_order: list | None = None
    visits: list = field(default_factory=list)
    problems: pd.DataFrame | None = None
    contraction: pd.DataFrame | None = None
    mixed_models: object | None = None
    agreement: dict = field(default_factory=dict)

    def __post_init__(self):
        from mfscan.report._data import visit_sequence

        self.study_dir = Path(self.study_dir)
        analysis = getattr(self.res, "analysis", None)
        meas = analysis.measurements if analysis is not None else getattr(self.res, "measurements", None)
        if meas is not None and len(meas) and "visit" in meas:
            self.visits = visit_sequence(meas["visit"].dropna().astype(str), self.visit_order)


#: A section of the report page: HTML fragments from the report's context.
Section = Callable[[Context], Sequence[str]]
