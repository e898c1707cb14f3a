"""``mfscan model``: linear mixed models of a trial (groups x visits, symptomatic side)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from mfscan.cli._common import _report_errors, _say, add_measure_options, add_parser

__all__ = ["cmd_model", "register"]


def _measurements(source: Path, args):
    """The measurements table and its reliability: a study folder is measured first."""
    from mfscan.io.tables import read_table

    if source.is_dir():
        from mfscan.measure.batch import measure_paths

        res = measure_paths(
            [source],
            workers=args.workers,
            scheduler=args.scheduler,
            progress=not args.no_progress,
            max_pixels=args.max_pixels,
        )
        _report_errors(res.errors)
        return res.measurements
    return read_table(source)


def _reliability_table(meas, args):
    """The MDC95 source: --reliability CSV, else the study's own repeated sessions or raters."""
    from mfscan.io.tables import read_table
    from mfscan.stats.reliability import reliability

    if args.mdc is not None:
        return None
    if args.reliability:
        return read_table(args.reliability)
    if "session" in meas.columns and meas["session"].notna().any():
        return reliability(meas, between="session", measures=[args.measure])
    if "rater" in meas.columns and meas["rater"].nunique() > 1:
        return reliability(meas, between="rater", measures=[args.measure])
    return None


def cmd_model(args) -> int:
    from mfscan.errors import MfscanError
    from mfscan.io.tables import check_output, read_subjects, write_table
    from mfscan.stats.mixed import fit_trial_model, output_paths

    paths = output_paths(args.output)
    for p in paths.values():
        check_output(p)
    source = Path(args.source)
    subjects_path = args.subjects or (source / "subjects.csv" if source.is_dir() else None)
    if subjects_path is None or not Path(subjects_path).is_file():
        raise MfscanError("give --subjects subjects.csv (columns subject, symptomatic_side, group)")
    subjects = read_subjects(subjects_path)
    meas = _measurements(source, args)
    order = [v.strip() for v in args.visit_order.split(",") if v.strip()] if args.visit_order else None
    result = fit_trial_model(
        meas,
        subjects,
        measure=args.measure,
        level=args.level,
        pooled=args.pooled,
        adjust_baseline=args.adjust_baseline,
        visit_order=order,
        reference_group=args.reference_group,
        rater=args.rater,
        session=args.session,
        reliability=_reliability_table(meas, args),
        mdc=args.mdc,
        models=args.models.split(","),
        engine=args.engine,
    )
    write_table(result.fixed_effects, paths["fixed_effects"])
    write_table(result.contrasts, paths["contrasts"])
    write_table(result.change, paths["change"])
    write_table(result.fits, paths["fits"])
    for line in result.statement():
        _say(line)
    shown = result.contrasts[
        result.contrasts["side_status"].isna() | (result.contrasts["side_status"] == "symptomatic")
    ]
    for r in shown.itertuples(index=False):
        side = f" {r.side_status} side" if isinstance(r.side_status, str) else ""
        _say(
            f"  {r.model} {r.level}{side}, visit {r.visit}: {r.group} - {r.reference_group} "
            f"{r.estimate:+.3f} {r.unit} [{r.ci_lower:.3f}, {r.ci_upper:.3f}] (t, df {r.df:.1f}), "
            f"p = {r.p:.3g}, "
            + (
                f"Hedges' g {r.hedges_g:.2f}"
                if r.hedges_g == r.hedges_g
                else "Hedges' g n/a (n < 2 in a group)"
            )
        )
    for note in result.notes:
        _say(f"NOTE: {note}", err=True)
    _say("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0 if result.fits["converged"].all() else 1


def register(sub) -> None:
    """Add the ``model`` subcommand."""
    s = add_parser(
        sub,
        "model",
        "linear mixed models of a trial: group x visit contrasts, Hedges' g, change vs MDC95",
        textwrap.dedent("""\
            Fit, per level, by REML with a random intercept per subject:
              csa_cm2 ~ side_status * visit * group + (1 | subject)
              deficit_pct ~ visit * group + (1 | subject)
            side_status (symptomatic / asymptomatic) comes from subjects.csv symptomatic_side;
            deficit_pct = (asymptomatic - symptomatic) / asymptomatic x 100 (positive: the
            symptomatic side is smaller). The repeated images are averaged per subject, visit,
            level and side first; per subject and visit one rater and session are modelled
            (where several raters measured a subject: --rater, else the rater with most
            outlines for that subject; its first session unless --session; duplicates left
            out and counted in a note). References: the first visit (baseline), the
            asymptomatic side, the group 'control' (or --reference-group).

            Writes OUT.csv (fixed effects: estimate, SE, Satterthwaite df, t-based 95% CI, p),
            OUT_contrasts.csv (each group minus the reference in mean change from baseline,
            df, 95% CI, p, Hedges' g with
            its CI), OUT_change.csv (mean change per group and visit with its 95% CI and the
            share of subjects whose change exceeds the MDC95) and OUT_fits.csv (formula, n,
            REML, convergence, warnings). MDC95 per level and side: --mdc, or --reliability
            CSV (mfscan reliability), or the study's own sessions (else raters)."""),
        cmd_model,
    )
    s.add_argument("source", metavar="STUDY_DIR|MEASUREMENTS_CSV")
    s.add_argument(
        "--subjects", metavar="CSV", help="subject, symptomatic_side, group (default: STUDY_DIR/subjects.csv)"
    )
    s.add_argument("--level", metavar="L", help="model this level only (default: each level separately)")
    s.add_argument(
        "--pooled", action="store_true", help="also fit all levels together, level as a fixed factor"
    )
    s.add_argument(
        "--measure",
        default="csa_cm2",
        metavar="COLUMN",
        help="response of the side model (default: %(default)s)",
    )
    s.add_argument("--models", default="csa,deficit", metavar="M[,M]", help="csa, deficit or both (default)")
    s.add_argument(
        "--adjust-baseline", action="store_true", help="baseline value as covariate; fit the later visits"
    )
    s.add_argument(
        "--visit-order", metavar="V1,V2,...", help="visit labels in chronological order, e.g. pre,4wk,10wk"
    )
    s.add_argument(
        "--reference-group", metavar="G", help="the group others are compared with (default: control)"
    )
    s.add_argument(
        "--rater",
        metavar="R",
        help="rater used where several measured a subject (default: the one with most outlines for it)",
    )
    s.add_argument(
        "--session", metavar="S", help="session used (default: per subject and visit the rater's first)"
    )
    s.add_argument(
        "--mdc", type=float, metavar="VALUE", help="MDC95 in the measure's unit, every level and side"
    )
    s.add_argument("--reliability", metavar="CSV", help="reliability table with mdc95 per level and side")
    s.add_argument(
        "--engine",
        choices=["reml", "statsmodels"],
        default="reml",
        help="reml: closed-form REML (fast, default); statsmodels: MixedLM (same model, slow)",
    )
    s.add_argument("-o", "--output", default="model.csv", metavar="CSV", help="default: %(default)s")
    add_measure_options(s)
