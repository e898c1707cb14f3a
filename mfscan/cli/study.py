"""``mfscan asymmetry``, ``mfscan reliability`` and ``mfscan report``: the study tables.

All three call :func:`mfscan.stats.study.analyse_study`, so for the same data they
write the same tables (incomplete rows set aside, pixels when nothing is calibrated).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from mfscan.cli._common import INDEX_HELP, _report_errors, _say, _threshold, add_measure_options, add_parser

__all__ = ["cmd_asymmetry", "cmd_reliability", "cmd_report", "register"]

#: ``--between all``: the raters when there are several and the sessions when any row has one;
#: ``image``: image-to-image repeatability.
BETWEEN_CHOICES = ("rater", "session", "all", "image")


def _notes(notes) -> None:
    for note in notes:
        _say(f"NOTE: {note}", err=True)


def cmd_asymmetry(args) -> int:
    from mfscan.io.tables import read_subjects, read_table, write_table
    from mfscan.stats.study import analyse_study

    subjects = read_subjects(args.subjects) if args.subjects else None
    study = analyse_study(
        read_table(args.measurements),
        subjects=subjects,
        threshold_pct=args.threshold,
        index=args.index,
        tables=("asymmetry",),
        subjects_name=Path(args.subjects).name if args.subjects else "the subjects table",
        visit_order=[v.strip() for v in args.visit_order.split(",") if v.strip()]
        if args.visit_order
        else None,
    )
    _notes(study.notes)
    a = study.asymmetry
    write_table(a, args.output)
    n_flag = int(a["exceeds_threshold"].fillna(False).astype(bool).sum())
    n_missing = int(a["missing_reason"].notna().sum())
    _say(
        f"{len(a)} subject/visit/level/rater row(s), {n_flag} above {args.threshold:g}% "
        f"({args.index}), {n_missing} with a side missing -> {args.output}"
    )
    _report_errors(study.incomplete_errors)
    return 1 if len(study.incomplete_errors) else 0


def _say_icc(r) -> None:
    """One line per CSA row: the ICC of its design (``sem_icc``), its CI, SEMs, MDC95 and n."""
    from mfscan.stats.icc import _COLUMN

    for rec in r[r["measure"].isin(["csa_cm2"])].itertuples(index=False):
        label = rec.sem_icc if isinstance(rec.sem_icc, str) else "ICC(2,1)"
        form = _COLUMN[label]
        icc = getattr(rec, form)
        ci = (getattr(rec, f"{form}_ci_lower"), getattr(rec, f"{form}_ci_upper"))
        who = f" {rec.rater}" if rec.between == "session" else ""
        if icc == icc:
            _say(
                f"  CSA {rec.level} {rec.side}{who}: {label} {icc:.3f} [{ci[0]:.2f}, {ci[1]:.2f}], "
                f"SEM agreement {rec.sem_agreement:.3f} cm2 (MDC95 {rec.mdc95_agreement:.3f}), "
                f"consistency {rec.sem_consistency:.3f} cm2, n = {rec.n_subjects} subjects "
                f"({rec.n_targets} targets, visits: {rec.visits})"
            )
        else:
            _say(f"  CSA {rec.level} {rec.side}{who}: no ICC ({rec.note})")


def cmd_reliability(args) -> int:
    from mfscan.io.tables import read_table, write_table
    from mfscan.stats.study import analyse_study

    if args.between == "image":
        return _cmd_repeatability(args)
    between = None if args.between == "all" else args.between
    order = [v.strip() for v in args.visit_order.split(",") if v.strip()] if args.visit_order else None
    options = dict(
        pair_by=args.pair_by,
        tables=("reliability",),
        session=args.session,
        icc_form=args.icc_form,
        visit=args.visit,
        pool_visits=args.pool_visits,
        visit_order=order,
    )
    study = analyse_study(read_table(args.measurements), between=between, **options)
    r, excluded = study.reliability, study.reliability_excluded
    if r is None:  # --between all and neither several raters nor sessions: the raters' table says so
        again = analyse_study(study.measurements, between="rater", **options)
        r, excluded = again.reliability, again.reliability_excluded
    if r.empty or (r["n_targets"] == 0).all():
        what = {"session": "sessions (sidecar field \"session\")", "rater": "raters"}.get(
            args.between, "raters or sessions"
        )
        _say(
            f"mfscan reliability: no outline was traced by two or more {what} of the same target; "
            "nothing to compare",
            err=True,
        )
    write_table(r, args.output)  # first: refuses an output that is a source file
    if excluded is not None and len(excluded):
        path = Path(args.output).with_suffix(".excluded.csv")
        write_table(excluded, path)
        _say(f"{len(excluded)} image(s) not traced by every judge left out -> {path}", err=True)
    _say_icc(r)
    _say(f"{len(r)} row(s) -> {args.output}")
    _report_errors(study.incomplete_errors)
    return 1 if len(study.incomplete_errors) else 0


def _cmd_repeatability(args) -> int:
    from mfscan.io.tables import read_table, write_table
    from mfscan.stats.study import analyse_study

    study = analyse_study(read_table(args.measurements), tables=("repeatability",))
    r = study.repeatability
    if r is None:
        _say("mfscan reliability: no side has two or more images; nothing to compare", err=True)
        import pandas as pd

        from mfscan.stats.repeatability import REPEATABILITY_COLUMNS

        r = pd.DataFrame(columns=REPEATABILITY_COLUMNS)
    write_table(r, args.output)
    for rec in r[r["measure"].isin(["csa_cm2"])].itertuples(index=False):
        who = f" {rec.rater}" if rec.rater == rec.rater and rec.rater is not None else ""
        if rec.icc1_1 == rec.icc1_1:
            _say(
                f"  CSA {rec.level} {rec.side}{who}: ICC(1,1) {rec.icc1_1:.3f}, mean of {rec.k} ICC(1,k) "
                f"{rec.icc1_k:.3f}, within-subject SD {rec.within_sd:.3f} cm2, CV {rec.cv_pct:.1f}%"
            )
    _say(f"{len(r)} row(s) -> {args.output}")
    _report_errors(study.incomplete_errors)
    return 1 if len(study.incomplete_errors) else 0


def cmd_report(args) -> int:
    from mfscan.report import build_report

    order = [v.strip() for v in args.visit_order.split(",") if v.strip()] if args.visit_order else None
    res = build_report(
        args.study,
        args.output,
        subjects=args.subjects,
        threshold_pct=args.threshold,
        index=args.index,
        visit_order=order,
        workers=args.workers,
        scheduler=args.scheduler,
        progress=not args.no_progress,
        max_pixels=args.max_pixels,
    )
    m = res.measurements
    _say(
        f"measured {len(m)} outline(s) in {m['image'].nunique() if len(m) else 0} image(s); "
        f"wrote to {args.output}:"
    )
    for p in res.files:
        _say(f"  {Path(p).name}")
    if len(m):
        _say("  qc/ (an overlay per traced image)")
    _say(f"open {Path(args.output) / 'report.html'} in a browser")
    _notes(res.notes)
    if len(m) and (m["calibration"] == "none").any():
        _say(
            f"WARNING: {int((m['calibration'] == 'none').sum())} outline(s) are uncalibrated (pixels only)",
            err=True,
        )
    _report_errors(res.errors, None)
    return 1 if not res.errors.empty else 0


def _threshold_and_index(s) -> None:
    from mfscan.stats.asymmetry import INDEXES

    s.add_argument(
        "--threshold",
        type=_threshold,
        default=10.0,
        metavar="PCT",
        help="flag asymmetry above this percentage (default: %(default)s)",
    )
    s.add_argument("--index", default="hides", choices=list(INDEXES), help=INDEX_HELP)


def register(sub) -> None:
    """Add the ``asymmetry``, ``reliability`` and ``report`` subcommands."""
    s = add_parser(
        sub,
        "asymmetry",
        "side-to-side asymmetry per subject, visit, level and rater",
        textwrap.dedent("""\
                       Average the repeated images per side, then compare left and right per
                       subject, visit, level and rater. With --subjects (columns subject,
                       symptomatic_side[, group]) adds the signed symptomatic deficit
                       (asymptomatic - symptomatic) / asymptomatic x 100. A visit with one
                       side missing gets a row with the reason, never a silent drop.
                       The same table as asymmetry.csv of mfscan report."""),
        cmd_asymmetry,
    )
    s.add_argument("measurements", metavar="MEASUREMENTS_CSV")
    s.add_argument("--subjects", metavar="CSV", help="subject, symptomatic_side[, group]")
    _threshold_and_index(s)
    s.add_argument(
        "--visit-order",
        metavar="V1,V2,...",
        help="visit labels in chronological order (the rows' order; default: dates, else the visit rule)",
    )
    s.add_argument("-o", "--output", default="asymmetry.csv", metavar="CSV", help="default: %(default)s")

    s = add_parser(
        sub,
        "reliability",
        "inter-rater or intra-rater (session) reliability",
        textwrap.dedent("""\
                       ICC(2,1), ICC(3,1), ICC(2,k), ICC(3,k) with 95% CI, SEM, MDC95 and
                       Bland-Altman bias and limits of agreement, per measure, level and side.
                       --between rater: the raters' sidecars of the same images (inter-rater);
                       --between session: one rater's repeated sessions (sidecar field
                       "session"; intra-rater); --between all: both, as reliability.csv
                       of mfscan report (raters when there are several, sessions when any);
                       --between image: image-to-image repeatability of each rater's repeated
                       images (ICC(1,1) one image, ICC(1,k) the mean of k, within-subject SD, CV%).
                       Between raters each rater's first session is used (--session to choose)
                       and only images every rater traced (the others are written to
                       OUTPUT.excluded.csv). One visit per subject (each subject's first;
                       --visit V, or --pool-visits, labelled), so n counts subjects. Koo & Li
                       bands are rated by the 95% CI; SEMs: consistency sqrt(MS error),
                       agreement (de Vet 2006) and ICC-based SD x sqrt(1 - ICC), each
                       labelled; Bland-Altman with approximate and exact (Carkeet 2015) CIs
                       of the limits and a proportional-bias slope."""),
        cmd_reliability,
    )
    s.add_argument("measurements", metavar="MEASUREMENTS_CSV")
    s.add_argument(
        "--between",
        choices=list(BETWEEN_CHOICES),
        default="rater",
        help="the judges compared (default: %(default)s)",
    )
    s.add_argument(
        "--pair-by",
        choices=["mean", "image"],
        default="mean",
        help="targets: mean = subject x visit x level x side with repeats averaged (default); "
        "image = the same image and side",
    )
    s.add_argument(
        "--session",
        metavar="LABEL",
        help="between raters: the session used for every rater (default: each rater's first)",
    )
    s.add_argument(
        "--icc-form",
        choices=["ICC(1,1)", "ICC(2,1)", "ICC(3,1)", "ICC(1,k)", "ICC(2,k)", "ICC(3,k)"],
        help="the ICC of the band and the ICC-based SEM (default: ICC(2,1), absolute agreement, "
        "between raters and between sessions, as Koo & Li recommend)",
    )
    s.add_argument(
        "--visit",
        metavar="V",
        help="the visit compared for every subject (default: each subject's first visit, so n counts "
        "subjects)",
    )
    s.add_argument(
        "--pool-visits",
        action="store_true",
        help="every visit, a subject-visit per target (labelled: targets of one subject are not independent)",
    )
    s.add_argument(
        "--visit-order",
        metavar="V1,V2,...",
        help="visit labels in chronological order (which visit is each subject's first)",
    )
    s.add_argument("-o", "--output", default="reliability.csv", metavar="CSV", help="default: %(default)s")

    s = add_parser(
        sub,
        "report",
        "measure a study and write every table, QC images and report.html",
        textwrap.dedent("""\
                       Measure every annotated image under STUDY_DIR, then write to OUT_DIR:
                       measurements.csv, images.csv, side_summary.csv, asymmetry.csv,
                       largest_asymmetry.csv, longitudinal.csv, group_summary.csv,
                       reliability.csv (several raters or sessions),
                       errors.csv (when anything failed), qc/ overlays and a self-contained
                       report.html. STUDY_DIR/subjects.csv is used when present."""),
        cmd_report,
    )
    s.add_argument("study", metavar="STUDY_DIR")
    s.add_argument("-o", "--output", default="report", metavar="OUT_DIR", help="default: %(default)s")
    s.add_argument("--subjects", metavar="CSV", help="default: STUDY_DIR/subjects.csv if present")
    _threshold_and_index(s)
    s.add_argument(
        "--visit-order",
        metavar="V1,V2,...",
        help="visit labels in chronological order, e.g. T0,T1,T2 (default: visit_date when every "
        "visit is dated, else numbers by value and known words: pre < post, baseline < 4wk < 10wk, "
        "V1 < V2, follow-up 1 < 2; other labels are refused)",
    )
    add_measure_options(s)
