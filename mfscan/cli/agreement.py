"""``mfscan agreement``: outline agreement (Dice, Hausdorff, mean contour distance, CSA difference)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from mfscan.cli._common import _positive_int, _report_errors, _say, add_parser

__all__ = ["cmd_agreement", "register"]


def _beside(output: Path, what: str) -> Path:
    return output.with_name(f"{output.stem}_{what}{output.suffix or '.csv'}")


def _say_summary(summary) -> None:
    """One line per pair and level: median Dice, Hausdorff and mean contour distance."""
    if summary.empty:
        return
    keys = [c for c in ("a", "b", "model", "level") if c in summary]
    for key, g in summary.groupby(keys, observed=True, sort=True, dropna=False):
        key = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        med = dict(zip(g["measure"], g["median"], strict=True))
        n = int(g["n"].max())
        unit = "mm" if "hausdorff_mm" in med else "px"
        model = f" [{key['model']}]" if key.get("model") else ""
        _say(
            f"  {key['a']} vs {key['b']}{model} {key.get('level') or '(no level)'}: median Dice "
            f"{med.get('dice', float('nan')):.3f}, Hausdorff {med.get('hausdorff_' + unit, float('nan')):.2f} "
            f"{unit}, mean contour distance {med.get('mean_contour_distance_' + unit, float('nan')):.2f} "
            f"{unit}, n={n}"
        )


def cmd_agreement(args) -> int:
    from mfscan.io.tables import check_output, write_table
    from mfscan.measure.agreement import agreement_table
    from mfscan.stats.agreement import acceptance_summary, agreement_summary

    out = check_output(args.output)
    summary_path = check_output(args.summary) if args.summary else _beside(out, "summary")
    table, errors = agreement_table(
        args.paths, between=args.between, session=args.session, max_pixels=args.max_pixels
    )
    summary = agreement_summary(table)
    write_table(table, out)
    write_table(summary, summary_path)
    written = [out, summary_path]
    if args.between == "method":
        acceptance = acceptance_summary(table)
        written.append(write_table(acceptance, _beside(out, "acceptance")))
        for rec in acceptance.itertuples(index=False):
            who = f"{rec.proposal_method}" + (f" {rec.model}" if rec.model else "")
            _say(
                f"  {who}: {rec.n_accepted_unchanged} of {rec.n_proposals} proposal(s) accepted unchanged "
                f"({rec.accepted_unchanged_pct:.0f}%), median Dice {rec.median_dice:.3f}, CSA bias "
                f"{rec.median_csa_bias_pct:+.1f}% median, {rec.mean_csa_bias_pct:+.1f}% mean "
                "(proposal vs final)"
            )
    if table.empty:
        what = {
            "rater": "two raters' outlines of the same image and side",
            "session": "two sessions of one rater on the same image and side",
            "method": "outline with a stored proposal (ROI field 'proposal') or an unchanged proposal",
        }[args.between]
        _say(f"mfscan agreement: found no {what}; nothing to compare", err=True)
    _say_summary(summary)
    _say(f"{len(table)} pair(s) -> " + ", ".join(str(p) for p in written))
    _report_errors(errors)
    return 1 if len(errors) else 0


def register(sub) -> None:
    """Add the ``agreement`` subcommand."""
    from mfscan.measure.agreement import BETWEEN
    from mfscan.vocab import DEFAULT_MAX_PIXELS

    s = add_parser(
        sub,
        "agreement",
        "outline agreement between raters, sessions, or a proposal and the final outline",
        textwrap.dedent("""\
            For each image, side and pair of outlines: the Dice coefficient of the
            filled polygons (exact polygon intersection), the symmetric Hausdorff
            distance and the mean contour distance (mean of the two directed mean
            distances along the contours) in mm, using each outline's own calibration
            (anisotropic pixels handled; *_px columns in pixels, the only ones when
            uncalibrated), and the CSA difference b - a in cm2 and % of a.
              --between rater: every two raters, each in their first session (or --session);
                a = the rater whose code sorts first;
              --between session: every two sessions of one rater, a = the earlier;
              --between method: the ROI's stored proposal (a) against the final outline (b),
                with the model id for model proposals, and per method and model in
                OUT_acceptance.csv: the share accepted unchanged (method still
                proposed/model) and the CSA bias (proposal - final) / final x 100 (median,
                mean; negative: the method traces smaller than the raters).
            Writes OUT (one row per pair) and OUT_summary.csv (median, q1, q3, IQR,
            mean and n per pair and level)."""),
        cmd_agreement,
    )
    s.add_argument("paths", nargs="+", metavar="PATH", help="images, sidecars or folders")
    s.add_argument(
        "--between", choices=list(BETWEEN), default="rater", help="what is compared (default: %(default)s)"
    )
    s.add_argument("--session", metavar="S", help="with --between rater: compare the raters in this session")
    s.add_argument("-o", "--output", default="agreement.csv", metavar="CSV", help="default: %(default)s")
    s.add_argument("--summary", metavar="CSV", help="default: OUT with _summary before .csv")
    s.add_argument(
        "--max-pixels",
        type=_positive_int,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help="refuse images whose header claims more pixels (default: %(default)s)",
    )
