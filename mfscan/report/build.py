"""The study report: measure a study folder and write every table, QC overlays and
a self-contained HTML report (plots embedded, opens offline).

The tables come from :func:`mfscan.stats.study.analyse_study`, the same function
``mfscan asymmetry`` and ``mfscan reliability`` call; figures are in
:mod:`mfscan.report.plots` and the HTML in :mod:`mfscan.report.html`.

Files written into the output folder:

``measurements.csv``  one row per outline
``images.csv``        one row per image: format, size, calibration source and scale,
                      burned-in annotation flag
``side_summary.csv``  mean, n and SD of the repeated images per side, every measure
``asymmetry.csv``     per subject, visit, level, rater (and session)
``largest_asymmetry.csv`` the level with the largest asymmetry per subject and visit
``longitudinal.csv``  change from baseline per side and of the asymmetry
``group_summary.csv`` mean, SD and n per group, visit and level
``reliability.csv``   when there are several raters or sessions
``errors.csv``        when any file or outline failed
``qc/``               every annotated image with its outlines, sides and CSA drawn
``report.html``       all of the above for a reader, with the research-use notice

The page's sections are the modules of :mod:`mfscan.report.sections`, each
``section(ctx) -> list[str]`` with ``ctx`` the report's
:class:`~mfscan.report._context.Context`, listed in page order by :func:`_page_sections`;
the tables they show beyond the study tables (check, contraction, mixed models, agreement)
are computed and written by :func:`_extra_tables`. Extra sections of the same signature:
``build_report(..., top_parts=[f], parts=[g])``, shown after the study check (``top_parts``)
or before the images section (``parts``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mfscan.errors import MfscanError
from mfscan.io.files import atomic_write_bytes, move_into, staging_folder
from mfscan.io.tables import (
    read_subjects,
    write_table,
)
from mfscan.measure.batch import relative_label
from mfscan.report._context import Context, Section
from mfscan.stats.study import StudyAnalysis

__all__ = ["ReportResult", "OUTPUT_FILES", "build_report"]

OUTPUT_FILES = (
    "measurements.csv",
    "images.csv",
    "errors.csv",
    "side_summary.csv",
    "asymmetry.csv",
    "largest_asymmetry.csv",
    "longitudinal.csv",
    "group_summary.csv",
    "reliability.csv",
    "side_status_summary.csv",
    "repeatability.csv",
    "report.html",
)
#: The study tables written, in order, with their file names.
_TABLE_FILES = (
    ("side_summary", "side_summary.csv"),
    ("asymmetry", "asymmetry.csv"),
    ("largest_asymmetry", "largest_asymmetry.csv"),
    ("longitudinal", "longitudinal.csv"),
    ("group_summary", "group_summary.csv"),
    ("reliability", "reliability.csv"),
    ("side_status_summary", "side_status_summary.csv"),
    ("repeatability", "repeatability.csv"),
)
#: Written only when they have rows (and removed as stale otherwise).
_EXTRA_FILES = (
    "check.csv",
    "contraction.csv",
    "reliability_excluded.csv",
    "model.csv",
    "model_contrasts.csv",
    "model_change.csv",
    "model_fits.csv",
    "agreement_rater.csv",
    "agreement_session.csv",
    "agreement_method.csv",
)


@dataclass
class ReportResult:
    """What :func:`build_report` produced."""

    out_dir: Path
    files: list[Path] = field(default_factory=list)
    measurements: pd.DataFrame | None = None
    asymmetry: pd.DataFrame | None = None
    longitudinal: pd.DataFrame | None = None
    reliability: pd.DataFrame | None = None
    largest: pd.DataFrame | None = None
    errors: pd.DataFrame | None = None
    notes: list = field(default_factory=list)
    images: pd.DataFrame | None = None
    analysis: StudyAnalysis | None = None


def _output_folder(study_dir: Path, out_dir) -> Path:
    """The checked output folder (created and cleaned only when the report is complete)."""
    if not study_dir.is_dir():
        raise MfscanError("study folder not found", study_dir)
    out = Path(out_dir)
    if out.resolve() == study_dir.resolve():
        raise MfscanError("the output folder must differ from the study folder", out)
    if out.exists() and not out.is_dir():
        raise MfscanError("exists and is not a folder; give a folder for the report", out)
    return out


def _put_in_place(res: ReportResult, staging: Path, out: Path) -> None:
    """Replace the previous report in `out` by the complete one built in `staging`: the old
    files are moved aside, the new ones in, and the old ones deleted only at the end (on a
    failure the previous report is put back, :func:`mfscan.io.files.move_into`)."""
    try:
        move_into(staging, out, retire=_stale_outputs(out) if out.is_dir() else ())
    except OSError as e:
        kept = "" if getattr(e, "restore_failed", False) else "; the previous one is kept"
        raise MfscanError(f"cannot move the report into place ({e.strerror or e}){kept}", out) from e
    res.files = [out / p.relative_to(staging) for p in res.files]
    res.out_dir = out


def _stale_outputs(out: Path) -> list[Path]:
    """Files of an earlier report in the same folder (relative to it), which would be mistaken
    for this run's (and old QC overlays may show another study's burned-in text)."""
    old = [Path(name) for name in (*OUTPUT_FILES, *_EXTRA_FILES)]
    qc = out / "qc"
    if qc.is_dir():
        old += [p.relative_to(out) for p in sorted(qc.rglob("*.png"))]
    return old


def _measure_study(study_dir: Path, out: Path, study, **kw):
    """Measure every annotated image (QC overlays into ``out/qc``); discovery errors merged."""
    from mfscan.measure.batch import measure_jobs

    jobs, disc_errors = study.annotated, [dict(e) for e in study.errors]
    m = measure_jobs(jobs, label_root=study_dir, qc_dir=out / "qc", **kw)
    for p in disc_errors:
        p["path"] = relative_label(Path(p["path"]), study_dir)
    errors = (
        pd.concat([pd.DataFrame(disc_errors, columns=["path", "roi", "reason"]), m.errors], ignore_index=True)
        if disc_errors
        else m.errors
    )
    return m, errors, jobs


def _write_errors(res: ReportResult, errors: pd.DataFrame) -> None:
    """Write (or remove a stale) ``errors.csv``; listed once in ``res.files``."""
    path = res.out_dir / "errors.csv"
    res.errors = errors
    if errors.empty:
        path.unlink(missing_ok=True)  # a stale list from an earlier run would mislead
        return
    write_table(errors, path)
    if path not in res.files:
        res.files.append(path)


def _write_study_tables(res: ReportResult, analysis: StudyAnalysis) -> None:
    res.analysis = analysis
    if not len(analysis.measurements):
        return  # nothing to summarise: no empty tables
    res.asymmetry, res.largest = analysis.asymmetry, analysis.largest_asymmetry
    res.longitudinal, res.reliability = analysis.longitudinal, analysis.reliability
    for name, file in _TABLE_FILES:
        table = getattr(analysis, name)
        if table is not None:
            res.files.append(write_table(table, res.out_dir / file))
    excluded = analysis.reliability_excluded
    if excluded is not None and len(excluded):
        res.files.append(write_table(excluded, res.out_dir / "reliability_excluded.csv"))


def _extra_tables(ctx: Context, *, subjects_path, visit_order, max_pixels, study) -> None:
    """The tables of the check, contraction (RUSI), mixed-model and agreement sections: computed
    into ``ctx`` and written (when they have rows), in that order."""
    from mfscan.measure.check import check_study

    res = ctx.res
    ctx.problems = check_study(
        ctx.study_dir, subjects=subjects_path, visit_order=visit_order, max_pixels=max_pixels, study=study
    )
    if len(ctx.problems):
        res.files.append(write_table(ctx.problems, res.out_dir / "check.csv"))
    ctx.contraction = _contraction_table(res)
    if ctx.contraction is not None:
        res.files.append(write_table(ctx.contraction, res.out_dir / "contraction.csv"))
    ctx.mixed_models = _mixed_models(res, ctx.subjects)
    if ctx.mixed_models is not None:
        from mfscan.stats.mixed import output_paths

        for name, path in output_paths(res.out_dir / "model.csv").items():
            table = getattr(ctx.mixed_models, name)
            if table is not None and len(table):
                res.files.append(write_table(table, path))
    from mfscan.report.sections.agreement import agreement_tables

    ctx.agreement, _errors = agreement_tables(ctx.study_dir, max_pixels=max_pixels, study=study)
    for between, table in ctx.agreement.items():
        res.files.append(write_table(table, res.out_dir / f"agreement_{between}.csv"))


def _contraction_table(res: ReportResult) -> pd.DataFrame | None:
    """The RUSI table when the study has thickness lines (None otherwise)."""
    from mfscan.stats.contraction import contraction_table

    m = res.measurements
    if m is None or not len(m) or "kind" not in m.columns or not (m["kind"] == "thickness").any():
        return None
    table = contraction_table(m)
    return None if table is None or table.empty else table


def _mixed_models(res: ReportResult, subjects):
    """The trial's mixed models when subjects.csv has groups and the study has two visits or more
    (None otherwise, or when they cannot be fitted: then a note says why)."""
    from mfscan.stats.mixed import fit_trial_model

    analysis = res.analysis
    if analysis is None or subjects is None or "group" not in subjects or not len(analysis.measurements):
        return None
    if subjects["group"].dropna().astype(str).str.strip().eq("").all():
        return None
    if analysis.measurements["visit"].dropna().nunique() < 2:
        return None
    try:
        return fit_trial_model(
            analysis.measurements,
            subjects,
            visit_order=analysis.visit_order,
            reliability=analysis.reliability,
        )
    except MfscanError as e:
        res.notes.append(f"mixed models not fitted: {e}")
        return None


def _page_sections(top_parts: Sequence[Section], parts: Sequence[Section]) -> list[Section]:
    """The sections of the report page, in page order, with the caller's extra sections:
    ``top_parts`` after the study check, ``parts`` before the images."""
    from mfscan.report.sections import (
        agreement,
        asymmetry,
        check,
        closing,
        contraction,
        groups,
        grras,
        images,
        mixed_models,
        reliability,
        summary,
        trial,
    )

    return [
        summary.section,
        check.section,
        *top_parts,
        asymmetry.section,
        groups.section,
        trial.section,
        reliability.section,
        grras.section,
        contraction.section,
        mixed_models.section,
        agreement.section,
        *parts,
        images.section,
        closing.section,
    ]


def build_report(
    study_dir,
    out_dir,
    *,
    subjects=None,
    threshold_pct: float = 10.0,
    index: str = "hides",
    visit_order=None,
    workers=None,
    scheduler=None,
    progress: bool = True,
    max_pixels: int | None = None,
    top_parts: Sequence[Section] = (),
    parts: Sequence[Section] = (),
) -> ReportResult:
    """Measure a study folder and write the tables, QC overlays and HTML report.

    Parameters
    ----------
    study_dir : path
        Folder with images and their sidecars (searched recursively), and
        optionally ``subjects.csv``.
    out_dir : path
        Output folder (created). Everything is built in a staging folder beside it
        (:func:`mfscan.io.files.staging_folder`) and moved in at the end, so a
        report that fails (a visit label that cannot be ordered, a full disk)
        leaves the previous report in `out_dir` as it was.
    subjects : path, optional
        Subjects table; default ``study_dir/subjects.csv`` when it exists.
    threshold_pct : float
        Asymmetry above which a row is flagged.
    index : {"hides", "smaller-side", "index"}
        Definition of ``asymmetry_pct``.
    visit_order : sequence of str, optional
        The visit labels in chronological order ("baseline", "week4", ...);
        default: numeric / natural order ("2" before "10").
    workers, scheduler, progress, max_pixels
        As for :func:`mfscan.measure.batch.measure_jobs`.
    top_parts, parts : sequence of callables
        Extra report sections, of the signature of :mod:`mfscan.report.sections`: each
        ``f(ctx) -> list of HTML fragments``, ``ctx`` the report's
        :class:`~mfscan.report._context.Context` (``ctx.res``: the :class:`ReportResult`, every
        table written), shown after the study check (``top_parts``) or before the images
        section (``parts``), after the built-in sections (:func:`_page_sections`).
    """
    from mfscan.stats.asymmetry import INDEXES

    if index not in INDEXES:
        raise MfscanError(f"unknown asymmetry definition {index!r}; choose one of {', '.join(INDEXES)}")
    study_dir = Path(study_dir)
    target = _output_folder(study_dir, out_dir)
    subj_path = Path(subjects) if subjects else study_dir / "subjects.csv"
    subj = read_subjects(subj_path) if (subjects or subj_path.exists()) else None
    options = dict(threshold_pct=threshold_pct, index=index, visit_order=visit_order, max_pixels=max_pixels)
    measure = dict(workers=workers, scheduler=scheduler, progress=progress, max_pixels=max_pixels)
    try:
        with staging_folder(target) as out:
            res = ReportResult(out)
            _build_into(res, study_dir, subj, subj_path, measure, options, top_parts, parts)
            _put_in_place(res, out, target)
    except OSError as e:
        raise MfscanError(
            f"cannot write the report ({e.strerror or e}); the previous one is kept", target
        ) from e
    return res


def _build_into(res: ReportResult, study_dir, subj, subj_path, measure, options, top_parts, parts) -> None:
    """Measure the study and write every output of the report into ``res.out_dir``."""
    from tqdm.auto import tqdm

    from mfscan.measure.study import resolve_study
    from mfscan.report.html import render_html
    from mfscan.stats.study import analyse_study

    out = res.out_dir
    study = resolve_study(study_dir)  # found and read once: measure, check and agreement take it
    m, errors, jobs = _measure_study(study_dir, out, study, **measure)
    res.measurements, res.images = m.measurements, m.images
    steps = tqdm(total=4, desc="report", unit="step", disable=not measure["progress"], leave=False)
    res.files.append(write_table(m.measurements, out / "measurements.csv"))
    res.files.append(write_table(m.images, out / "images.csv"))
    _write_errors(res, errors)
    steps.update()

    analysis = analyse_study(
        m.measurements,
        subjects=subj,
        errors=errors,
        threshold_pct=options["threshold_pct"],
        index=options["index"],
        visit_order=options["visit_order"],
        subjects_name=subj_path.name,
    )
    _write_errors(res, analysis.errors)
    res.notes.extend(analysis.notes)
    if not len(m.measurements) and not jobs:
        res.notes.append(
            "no annotated image found: a sidecar is <image stem>[.<rater>].mfscan.json beside its image"
        )
    _write_study_tables(res, analysis)
    steps.update()
    ctx = Context(
        res,
        study_dir,
        subjects=subj,
        groups=analysis.group_summary if len(analysis.measurements) else None,
        threshold_pct=options["threshold_pct"],
        index=options["index"],
        measure=analysis.measure,
        # one order for every section: explicit, else dates, else the rule
        visit_order=list(analysis.visit_order) if analysis.visit_order is not None else None,
    )
    _extra_tables(
        ctx,
        subjects_path=subj_path if subj is not None else None,
        visit_order=options["visit_order"],
        max_pixels=options["max_pixels"],
        study=study,
    )
    html_text = render_html(ctx, _page_sections(top_parts, parts))
    steps.update()
    atomic_write_bytes(out / "report.html", html_text.encode("utf-8"))
    res.files.append(out / "report.html")
    steps.update()
    steps.close()
