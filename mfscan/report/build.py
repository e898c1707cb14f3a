"""The study report: measure a study folder and write every table, QC overlays and
a self-contained HTML report (plots embedded, opens offline).

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
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mfscan import RESEARCH_NOTICE, __version__
from mfscan.annotations import atomic_write_bytes, glob_escape
from mfscan.measure.batch import relative_label
from mfscan.errors import MfscanError
from mfscan.io.tables import write_table

SIDE_COLORS = {"left": "#0072B2", "right": "#E69F00"}
GROUP_COLORS = ["#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]


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


def read_subjects(path) -> pd.DataFrame:
    """Read ``subjects.csv`` (``subject, symptomatic_side[, group]``), codes as strings."""
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except FileNotFoundError:
        raise MfscanError("subjects file not found", path) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise MfscanError(f"not a readable CSV ({e})", path) from None
    df.columns = [c.strip().lower() for c in df.columns]
    missing = {"subject", "symptomatic_side"} - set(df.columns)
    if missing:
        raise MfscanError(f"subjects file lacks column(s) {', '.join(sorted(missing))}; "
                          "expected subject, symptomatic_side[, group]", path)
    side = df["symptomatic_side"].str.strip().str.lower().replace({"l": "left", "lt": "left", "r": "right",
                                                                    "rt": "right", "": None})
    bad = side.notna() & ~side.isin(["left", "right", "none", "bilateral"])
    if bad.any():
        raise MfscanError(f"symptomatic_side {df.loc[bad, 'symptomatic_side'].iloc[0]!r} for subject "
                          f"{df.loc[bad, 'subject'].iloc[0]!r} is not left, right, none or bilateral", path)
    df["symptomatic_side"] = side
    return df


def build_report(study_dir, out_dir, *, subjects=None, threshold_pct: float = 10.0,
                 index: str = "hides", visit_order=None, workers=None, scheduler=None,
                 progress: bool = True, max_pixels: int | None = None) -> ReportResult:
    """Measure a study folder and write the tables, QC overlays and HTML report.

    Parameters
    ----------
    study_dir : path
        Folder with images and their sidecars (searched recursively), and
        optionally ``subjects.csv``.
    out_dir : path
        Output folder (created).
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
    """
    from tqdm.auto import tqdm

    from mfscan.stats.asymmetry import INDEXES, asymmetry, largest_asymmetry_level
    from mfscan.measure.batch import discover, measure_jobs
    from mfscan.stats.longitudinal import group_summary, longitudinal
    from mfscan.stats.reliability import reliability
    from mfscan.stats.summary import summarize_sides

    if index not in INDEXES:
        raise MfscanError(f"unknown asymmetry definition {index!r}; choose one of {', '.join(INDEXES)}")
    study_dir = Path(study_dir)
    if not study_dir.is_dir():
        raise MfscanError("study folder not found", study_dir)
    out = Path(out_dir)
    if out.resolve() == study_dir.resolve():
        raise MfscanError("the output folder must differ from the study folder", out)
    if out.exists() and not out.is_dir():
        raise MfscanError("exists and is not a folder; give a folder for the report", out)
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale_outputs(out)
    res = ReportResult(out)
    subj_path = Path(subjects) if subjects else study_dir / "subjects.csv"
    subj = read_subjects(subj_path) if (subjects or subj_path.exists()) else None

    jobs, disc_errors = discover([study_dir])
    m = measure_jobs(jobs, workers=workers, scheduler=scheduler, progress=progress,
                     max_pixels=max_pixels, label_root=study_dir, qc_dir=out / "qc")
    for p in disc_errors:
        p["path"] = relative_label(Path(p["path"]), study_dir)
    errors = pd.concat([pd.DataFrame(disc_errors, columns=["path", "roi", "reason"]), m.errors],
                       ignore_index=True) if disc_errors else m.errors
    res.measurements, res.errors, res.images = m.measurements, errors, m.images

    steps = tqdm(total=6, desc="report", unit="step", disable=not progress, leave=False)
    res.files.append(write_table(m.measurements, out / "measurements.csv"))
    res.files.append(write_table(m.images, out / "images.csv"))
    err_path = out / "errors.csv"
    if not errors.empty:
        res.files.append(write_table(errors, err_path))
    elif err_path.exists():
        err_path.unlink()  # a stale list from an earlier run would mislead
    steps.update()

    from mfscan.stats.summary import split_incomplete

    meas, incomplete = split_incomplete(m.measurements)
    if len(incomplete):
        res.errors = errors = pd.concat([errors, incomplete], ignore_index=True)
        write_table(errors, err_path)
        if err_path not in res.files:
            res.files.append(err_path)
    if subj is not None and len(meas):
        unknown = sorted(set(meas["subject"].dropna().astype(str)) - set(subj["subject"].astype(str)))
        if unknown:
            res.notes.append(f"{len(unknown)} measured subject(s) are not in {subj_path.name}: "
                             f"{', '.join(unknown[:10])}{' ...' if len(unknown) > 10 else ''}; they have no "
                             "group or symptomatic side (check the spelling of the codes)")
    if len(meas) and visit_order is None:
        labels = sorted(set(meas["visit"].dropna().astype(str)))
        if any(not lab.replace(".", "", 1).isdigit() for lab in labels):
            from mfscan.stats.longitudinal import visit_order as _order
            res.notes.append("visits are ordered " + " < ".join(_order(labels)) + " (numbers by value, words "
                             "alphabetically); if that is not their chronological order, pass --visit-order")
    if len(meas) and visit_order is not None:
        missing = sorted(set(meas["visit"].dropna().astype(str)) - set(map(str, visit_order)))
        if missing:
            raise MfscanError(f"--visit-order lacks visit(s) {', '.join(missing)} found in the study")
    if not len(m.measurements) and not jobs:
        res.notes.append("no annotated image found: a sidecar is <image stem>[.<rater>].mfscan.json "
                         "beside its image")
    measure = "csa_cm2"
    if len(meas) and (meas["calibration"] == "none").all():
        measure = "csa_px2"  # nothing calibrated: compare sides in pixels
    if len(meas):
        res.files.append(write_table(summarize_sides(meas), out / "side_summary.csv"))
        res.asymmetry = asymmetry(meas, subjects=subj, threshold_pct=threshold_pct, index=index,
                                  measure=measure)
        res.files.append(write_table(res.asymmetry, out / "asymmetry.csv"))
        res.largest = largest_asymmetry_level(res.asymmetry)
        res.files.append(write_table(res.largest, out / "largest_asymmetry.csv"))
        steps.update()
        res.longitudinal = longitudinal(res.asymmetry, subjects=subj, order=visit_order)
        res.files.append(write_table(res.longitudinal, out / "longitudinal.csv"))
        groups = group_summary(res.longitudinal, subj)
        res.files.append(write_table(groups, out / "group_summary.csv"))
        steps.update()
        rel = []
        if meas["rater"].nunique() > 1:
            rel.append(reliability(meas, between="rater"))
        if "session" in meas and meas["session"].notna().any():
            rel.append(reliability(meas, between="session"))
        if rel:
            rel = pd.concat(rel, ignore_index=True)
            cols = list(rel.columns)
            if "rater" in cols and "side" in cols:  # rater next to level and side, as for sessions
                cols.remove("rater")
                cols.insert(cols.index("side") + 1, "rater")
            res.reliability = rel[cols]
            res.files.append(write_table(res.reliability, out / "reliability.csv"))
        steps.update()
    else:
        groups = None
        steps.update(3)
    html_text = render_html(res, study_dir=study_dir, subjects=subj, groups=groups,
                            threshold_pct=threshold_pct, index=index, measure=measure)
    steps.update()
    atomic_write_bytes(out / "report.html", html_text.encode("utf-8"))
    res.files.append(out / "report.html")
    steps.update()
    steps.close()
    return res


OUTPUT_FILES = ("measurements.csv", "images.csv", "errors.csv", "side_summary.csv", "asymmetry.csv",
                "largest_asymmetry.csv", "longitudinal.csv", "group_summary.csv", "reliability.csv",
                "report.html")


def _remove_stale_outputs(out: Path) -> None:
    """Files of an earlier report in the same folder would be mistaken for this
    run's (and old QC overlays may show another study's burned-in text)."""
    for name in OUTPUT_FILES:
        (out / name).unlink(missing_ok=True)
    qc = out / "qc"
    if qc.is_dir():
        for p in qc.rglob("*.png"):
            p.unlink()
        for d in sorted((d for d in qc.rglob("*") if d.is_dir()), key=lambda d: -len(d.parts)):
            try:
                d.rmdir()
            except OSError:
                pass


# ------------------------------------------------------------------ figures
def _fig_to_data_uri(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
                         "axes.grid": True, "grid.alpha": 0.3})
    return plt


def _primary(asym: pd.DataFrame) -> pd.DataFrame:
    """One rater's first-session rows (the rater with most rows) for per-subject plots."""
    a = asym
    if "session" in a:
        a = a[a["session"].isna() | (a["session"].astype("string") == "1")]
    if a["rater"].notna().any():
        main = a["rater"].value_counts().idxmax()
        a = a[a["rater"] == main]
    return a


def plot_asymmetry_over_visits(asym, subjects, threshold_pct, index="hides"):
    plt = _plt()
    signed = index == "index"
    a = _primary(asym).dropna(subset=["asymmetry_pct"])
    levels = [lv for lv in a["level"].cat.categories if (a["level"] == lv).any()] \
        if hasattr(a["level"], "cat") else sorted(a["level"].dropna().unique())
    if not levels:
        return None
    groups = sorted(a["group"].dropna().unique()) if "group" in a else []
    gcol = {g: GROUP_COLORS[i % len(GROUP_COLORS)] for i, g in enumerate(groups)}
    fig, axes = plt.subplots(1, len(levels), figsize=(4.2 * len(levels), 3.4), sharey=True, squeeze=False)
    for ax, lv in zip(axes[0], levels):
        d = a[a["level"] == lv]
        for subject, s in d.groupby("subject", observed=True):
            s = s.sort_values("visit")
            g = s["group"].iloc[0] if "group" in s and pd.notna(s["group"].iloc[0]) else None
            ax.plot(s["visit"].astype(str), s["asymmetry_pct"], marker="o", ms=4,
                    color=gcol.get(g, "#555555"), alpha=0.85)
            ax.annotate(str(subject), (len(s) - 1, s["asymmetry_pct"].iloc[-1]), fontsize=7,
                        xytext=(4, 0), textcoords="offset points", va="center")
        ax.axhline(threshold_pct, color="#D55E00", ls="--", lw=1)
        if signed:
            ax.axhline(-threshold_pct, color="#D55E00", ls="--", lw=1)
            ax.axhline(0, color="black", lw=0.8)
        ax.set_title(f"{lv}")
        ax.set_xlabel("visit")
    axes[0][0].set_ylabel("asymmetry (%)")
    if groups:
        from matplotlib.lines import Line2D
        handles = [Line2D([], [], color=gcol[g], marker="o", label=g) for g in groups]
        handles.append(Line2D([], [], color="#D55E00", ls="--", label=f"{threshold_pct:g}% threshold"))
        axes[0][-1].legend(handles=handles, fontsize=8, loc="upper right", frameon=False)
    fig.suptitle("Side-to-side asymmetry per subject over visits", y=1.02)
    return _fig_to_data_uri(fig)


def threshold_ratio(threshold_pct: float, index: str) -> float:
    """The larger/smaller CSA ratio at which `index` reaches `threshold_pct`."""
    t = threshold_pct / 100
    if index == "smaller-side":
        return 1 + t
    if index == "index":
        return (2 + t) / (2 - t) if t < 2 else float("inf")
    return 1 / (1 - t) if t < 1 else float("inf")


def plot_left_right(asym, threshold_pct, unit, index="hides"):
    plt = _plt()
    a = _primary(asym).dropna(subset=["left_" + unit, "right_" + unit])
    if a.empty:
        return None
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    levels = a["level"].astype(str)
    markers = dict(zip(sorted(levels.unique()), "osD^v<"))
    for lv, d in a.groupby(levels):
        ax.scatter(d["left_" + unit], d["right_" + unit], s=22, marker=markers[lv], label=lv, alpha=0.8)
    lo = float(min(a["left_" + unit].min(), a["right_" + unit].min())) * 0.9
    hi = float(max(a["left_" + unit].max(), a["right_" + unit].max())) * 1.05
    x = np.linspace(lo, hi, 50)
    f = 1 / threshold_ratio(threshold_pct, index)
    ax.plot(x, x, color="black", lw=1)
    ax.plot(x, x * f, color="#D55E00", ls="--", lw=1, label=f"{threshold_pct:g}% asymmetry ({index})")
    ax.plot(x, x / f, color="#D55E00", ls="--", lw=1)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    u = "cm²" if unit == "csa_cm2" else "px²"
    ax.set_xlabel(f"left CSA ({u})")
    ax.set_ylabel(f"right CSA ({u})")
    ax.legend(fontsize=8, frameon=False)
    ax.set_title("Left vs right CSA (mean of repeats)")
    return _fig_to_data_uri(fig)


def plot_group_curves(groups):
    if groups is None or groups.empty or "asymmetry_pct_mean" not in groups:
        return None
    plt = _plt()
    g = groups
    if "session" in g:
        g = g[g["session"].isna() | (g["session"].astype("string") == "1")]
    if g["rater"].notna().any():
        g = g[g["rater"] == g["rater"].value_counts().idxmax()]
    levels = sorted(g["level"].astype(str).unique())
    names = sorted(g["group"].astype(str).unique())
    fig, axes = plt.subplots(1, len(levels), figsize=(4.2 * len(levels), 3.4), sharey=True, squeeze=False)
    for ax, lv in zip(axes[0], levels):
        d = g[g["level"].astype(str) == lv]
        for i, name in enumerate(names):
            s = d[d["group"].astype(str) == name].sort_values("visit")
            if s.empty:
                continue
            ax.errorbar(s["visit"].astype(str), s["asymmetry_pct_mean"], yerr=s["asymmetry_pct_sd"].fillna(0),
                        marker="o", capsize=3, color=GROUP_COLORS[i % len(GROUP_COLORS)],
                        label=f"{name}")
        ax.set_title(lv)
        ax.set_xlabel("visit")
    axes[0][0].set_ylabel("asymmetry, mean ± SD (%)")
    axes[0][-1].legend(fontsize=8, frameon=False)
    fig.suptitle("Asymmetry by group over visits", y=1.02)
    return _fig_to_data_uri(fig)


def plot_bland_altman(meas, between="rater", measure="csa_cm2"):
    """Bland-Altman plots of the first two raters (or sessions) per level and side."""
    from mfscan.stats.reliability import bland_altman

    col = between
    m = meas.dropna(subset=[measure])
    if col == "session":
        return None
    judges = sorted(m[col].dropna().astype(str).unique())
    if len(judges) < 2:
        return None
    a_name, b_name = judges[:2]
    mean = (m[m[col].astype(str).isin([a_name, b_name])]
            .groupby(["subject", "visit", "level", "side", col], observed=True)[measure].mean()
            .unstack(col).dropna())
    if mean.empty:
        return None
    plt = _plt()
    cells = sorted({(str(lv), str(sd)) for _, _, lv, sd in mean.index})
    fig, axes = plt.subplots(1, len(cells), figsize=(3.3 * len(cells), 3.1), sharey=True, squeeze=False)
    for ax, (lv, sd) in zip(axes[0], cells):
        d = mean[(mean.index.get_level_values("level").astype(str) == lv)
                 & (mean.index.get_level_values("side").astype(str) == sd)]
        a, b = d[a_name].to_numpy(float), d[b_name].to_numpy(float)
        ba = bland_altman(a, b)
        ax.scatter((a + b) / 2, b - a, s=18, color=SIDE_COLORS.get(sd, "#333333"))
        for y, ls in ((ba["bias"], "-"), (ba["loa_lower"], "--"), (ba["loa_upper"], "--")):
            ax.axhline(y, color="#444444", ls=ls, lw=1)
        ax.set_title(f"{lv} {sd}")
        ax.set_xlabel("mean CSA (cm²)" if measure == "csa_cm2" else "mean")
    axes[0][0].set_ylabel(f"{b_name} − {a_name}")
    fig.suptitle(f"Bland-Altman: {b_name} − {a_name} (bias solid, 95% limits dashed)", y=1.03)
    return _fig_to_data_uri(fig)


# ------------------------------------------------------------------ HTML
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1150px;margin:24px auto;
padding:0 16px;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:3px;margin-top:1.8em}
.notice{background:#fff4e5;border-left:5px solid #E69F00;padding:10px 14px;margin:12px 0}
.warn{background:#fdecea;border-left:5px solid #D55E00;padding:10px 14px;margin:12px 0}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:.85em;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 7px;text-align:right;
white-space:nowrap}
th{background:#f3f3f3}td.t,th.t{text-align:left}tr.flag td{background:#fff0e0}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{background:#f6f8fa;border-radius:6px;padding:8px 14px}
.card b{font-size:1.4em;display:block}img.plot{max-width:100%;margin:6px 0}
details{margin:8px 0}summary{cursor:pointer;font-weight:600}.small{font-size:.85em;color:#555}
"""


def _table(df: pd.DataFrame, *, columns=None, flags=None, max_rows=500, digits=2, raw=()) -> str:
    """An HTML table; every value is escaped except the columns named in `raw`."""
    if df is None or df.empty:
        return "<p class='small'>(none)</p>"
    d = df[columns] if columns else df
    rows = []
    head = "".join(f"<th class='{'t' if d[c].dtype == object or str(d[c].dtype) in ('string', 'category') else ''}'>"
                   f"{html.escape(str(c))}</th>" for c in d.columns)
    for i, (_, r) in enumerate(d.head(max_rows).iterrows()):
        cells = []
        for c in d.columns:
            v = r[c]
            if c in raw:
                cells.append(f"<td class='t'>{v}</td>")
                continue
            if isinstance(v, (float, np.floating)):
                s, cls = ("" if pd.isna(v) else f"{v:.{digits}f}"), ""
            elif isinstance(v, (bool, np.bool_)):
                s, cls = ("yes" if v else "no"), "t"
            elif v is None or (not isinstance(v, str) and pd.isna(v)):
                s, cls = "", ""
            else:
                s, cls = str(v), "t"
            cells.append(f"<td class='{cls}'>{html.escape(s)}</td>")
        flag = flags is not None and bool(flags.iloc[i])
        rows.append(f"<tr{' class=flag' if flag else ''}>{''.join(cells)}</tr>")
    more = f"<p class='small'>… {len(d) - max_rows} more rows in the CSV</p>" if len(d) > max_rows else ""
    return f"<div class='scroll'><table><tr>{head}</tr>{''.join(rows)}</table></div>{more}"


def render_html(res: ReportResult, *, study_dir, subjects, groups, threshold_pct, index, measure) -> str:
    meas, asym, errors, images = res.measurements, res.asymmetry, res.errors, res.images
    e = html.escape
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>mfscan report: {e(Path(study_dir).name)}</title><style>{CSS}</style></head><body>",
             f"<h1>Multifidus ultrasound study report</h1>"
             f"<p class='small'>Study folder <code>{e(Path(study_dir).name)}</code> · mfscan {e(__version__)}</p>",
             f"<div class='notice'><b>Research use only.</b> {e(RESEARCH_NOTICE)}</div>"]
    n_img = int(meas["image"].nunique()) if len(meas) else 0
    cards = [("outlines measured", len(meas)), ("images", n_img),
             ("subjects", int(meas["subject"].nunique()) if len(meas) else 0),
             ("raters", int(meas["rater"].nunique()) if len(meas) else 0),
             ("problems", len(errors))]
    parts.append("<div class='cards'>" + "".join(f"<div class='card'><b>{v}</b>{e(k)}</div>" for k, v in cards)
                 + "</div>")
    if len(meas) and (meas["calibration"] == "none").any():
        n = int((meas["calibration"] == "none").sum())
        parts.append(f"<div class='warn'><b>{n} outline(s) come from uncalibrated images.</b> Their areas are "
                     "in pixels only (csa_px2); cm columns are empty. Set a scale in the viewer or a calibration "
                     "in the sidecar.</div>")
    if images is not None and len(images):
        maybe = images["burned_in_annotation"].isin(["YES", "unknown"])
        n_dicom = int((maybe & (images["format"] == "dicom")).sum())
        n_export = int((maybe & (images["format"] != "dicom")).sum())
        if n_dicom or n_export:
            what = []
            if n_dicom:
                what.append(f"{n_dicom} DICOM image(s) whose header says so or does not rule it out "
                            "(BurnedInAnnotation YES or absent)")
            if n_export:
                what.append(f"{n_export} exported image(s) (PNG/JPEG/BMP/TIFF carry no such tag; scanner "
                            "screenshots usually show text)")
            parts.append("<div class='warn'><b>Images may carry burned-in text</b>: " + "; ".join(what)
                         + ". Text in the pixels (names, dates, clinic) can identify a patient: check the QC "
                         "images before sharing them.</div>")
    for note in res.notes:
        parts.append(f"<div class='warn'>{e(note)}</div>")
    if not errors.empty:
        parts.append(f"<div class='warn'><b>{len(errors)} file(s) or outline(s) could not be measured</b>; "
                     "see <a href='errors.csv'>errors.csv</a> and the list at the end.</div>")

    if asym is not None and len(asym):
        defs = {"hides": "(larger − smaller) / larger × 100 (Hides)",
                "smaller-side": "(larger − smaller) / smaller × 100",
                "index": "(right − left) / mean × 100 (signed)"}
        parts.append("<h2>Side-to-side asymmetry</h2>"
                     f"<p>Asymmetry = {e(defs[index])}, from the mean CSA of the repeated images per side; "
                     f"flagged above {threshold_pct:g}%. Signed index: (right − left) / mean × 100. "
                     "A 10% threshold is a convention, not a diagnostic cut-off.</p>")
        img = plot_asymmetry_over_visits(asym, subjects, threshold_pct, index)
        if img:
            parts.append(f"<img class='plot' alt='asymmetry over visits' src='{img}'>")
        img = plot_left_right(asym, threshold_pct, measure, index)
        if img:
            parts.append(f"<img class='plot' alt='left vs right CSA' src='{img}'>")
        primary = _primary(asym)
        flagged = primary[primary["exceeds_threshold"].fillna(False).astype(bool)]
        cols = [c for c in ["subject", "visit", "level", "rater", "group", "symptomatic_side",
                            f"left_{measure}", f"right_{measure}", "n_left", "n_right", "smaller_side",
                            "asymmetry_pct", "asymmetry_index_pct", "symptomatic_deficit_pct"] if c in asym]
        who = ""
        if primary["rater"].notna().any() and asym["rater"].nunique() > 1 or \
                ("session" in asym and asym["session"].notna().any()):
            who = (f" (rater {e(str(primary['rater'].iloc[0]))}, first session; every rater and session "
                   "is in asymmetry.csv and under 'All asymmetry rows')") if len(primary) else ""
        parts.append(f"<h3>Flagged asymmetries (&gt; {threshold_pct:g}%): {len(flagged)}{who}</h3>")
        parts.append(_table(flagged, columns=cols))
        missing = asym[asym["missing_reason"].notna()]
        if len(missing):
            parts.append(f"<h3>Incomplete: {len(missing)} row(s) with a side missing</h3>")
            parts.append(_table(missing, columns=[c for c in ["subject", "visit", "level", "rater",
                                                              "missing_reason"] if c in missing]))
        if res.largest is not None and len(res.largest) and asym["level"].nunique() > 1:
            lg = _primary(res.largest)
            lcols = [c for c in ["subject", "visit", "rater", "level", "n_levels", "asymmetry_pct",
                                 "smaller_side", f"left_{measure}", f"right_{measure}"] if c in lg]
            parts.append("<details><summary>Level with the largest asymmetry per subject and visit"
                         f"{' (rater ' + e(str(lg['rater'].iloc[0])) + ')' if len(lg) and pd.notna(lg['rater'].iloc[0]) else ''}"
                         "</summary>" + _table(lg, columns=lcols) + "</details>")
        prim = _primary(asym)
        with_pd = prim.dropna(subset=["symptomatic_deficit_pct"]) if "symptomatic_deficit_pct" in prim else None
        if with_pd is not None and len(with_pd):
            share = with_pd["smaller_is_symptomatic"].astype(float).mean() * 100
            whose = f" (rater {e(str(with_pd['rater'].iloc[0]))})" if with_pd["rater"].notna().any() else ""
            parts.append(f"<p>The smaller side is the symptomatic side in {share:.0f}% of the "
                         f"{len(with_pd)} subject-visit-level rows with a unilateral symptomatic side{whose}.</p>")
        img = plot_group_curves(groups)
        if img:
            parts.append("<h2>Groups over visits</h2>"
                         f"<img class='plot' alt='group curves' src='{img}'>")
        if groups is not None and len(groups):
            gcols = [c for c in ["group", "visit", "level", "rater", "n_subjects", "asymmetry_pct_mean",
                                 "asymmetry_pct_sd", f"left_{measure}_mean", f"right_{measure}_mean",
                                 "asymmetry_change_pct_points_mean"] if c in groups]
            gtab = groups
            if "session" in gtab:
                gtab = gtab[gtab["session"].isna()]
            parts.append("<details><summary>Group summary table</summary>" + _table(gtab, columns=gcols)
                         + "</details>")
        parts.append("<details><summary>All asymmetry rows</summary>"
                     + _table(asym, columns=cols, flags=asym["exceeds_threshold"].fillna(False)) + "</details>")

    if res.reliability is not None and len(res.reliability):
        rel = res.reliability
        parts.append("<h2>Reliability</h2><p>ICC forms after Shrout &amp; Fleiss / McGraw &amp; Wong with 95% CI; "
                     "between raters ICC(2,1) (absolute agreement), between sessions ICC(3,1) (consistency). "
                     "SEM = SD × √(1 − ICC); MDC95 = 1.96 × √2 × SEM. Bands after Koo &amp; Li (2016). "
                     "Targets are subject × visit × level × side, each rater's repeats averaged. "
                     "ICC(2,1) counts a systematic difference between raters as disagreement and "
                     "ICC(3,1) does not: a clearly lower ICC(2,1) (a low CI bound) points to a constant "
                     "offset, which the Bland-Altman bias shows (for instance one rater tracing inside "
                     "the border).</p>")
        r = rel[rel["measure"].isin(["csa_cm2", "csa_px2", "ap_depth_cm", "lateral_width_cm", "echo_mean"])].copy()
        r["ICC(2,1) [95% CI]"] = [f"{a:.3f} [{b:.2f}, {c:.2f}]" if pd.notna(a) else ""
                                 for a, b, c in zip(r["icc2_1"], r["icc2_1_ci_lower"], r["icc2_1_ci_upper"])]
        r["ICC(3,1) [95% CI]"] = [f"{a:.3f} [{b:.2f}, {c:.2f}]" if pd.notna(a) else ""
                                 for a, b, c in zip(r["icc3_1"], r["icc3_1_ci_lower"], r["icc3_1_ci_upper"])]
        cols = [c for c in ["between", "measure", "level", "side", "rater", "judges", "n_targets",
                            "ICC(2,1) [95% CI]", "ICC(3,1) [95% CI]", "band", "sem", "mdc95", "ba_pair",
                            "ba_bias", "ba_loa_lower", "ba_loa_upper", "note"] if c in r]
        main = r["measure"].isin(["csa_cm2", "csa_px2"])
        parts.append("<p>Cross-sectional area (SEM, MDC95 and limits of agreement in cm²):</p>")
        parts.append(_table(r[main], columns=cols, digits=3))
        parts.append("<details><summary>AP depth, lateral width and echo intensity</summary>"
                     + _table(r[~main], columns=cols, digits=3) + "</details>")
        img = plot_bland_altman(meas, "rater", measure)
        if img:
            parts.append(f"<img class='plot' alt='Bland-Altman plots' src='{img}'>")

    if images is not None and len(images):
        parts.append("<h2>Images and calibration</h2><p>Every image's calibration source and scale "
                     "(dicom-region: the DICOM ultrasound region; scale-line: a line drawn over the depth "
                     "ruler; manual; none: pixels only). QC overlays of every tracing are in "
                     "<a href='qc/'>qc/</a>.</p>")
        cols = ["image", "format", "rows_px", "cols_px", "frames", "calibration", "row_mm", "col_mm",
                "burned_in_annotation", "lossy", "qc", "warnings"]
        tab = images.copy()
        tab["qc"] = [_qc_links(res.out_dir, i) for i in tab["image"]]
        parts.append(_table(tab, columns=cols, digits=4, raw=("qc",)))
    if not errors.empty:
        parts.append("<h2>Problems</h2>" + _table(errors, columns=["path", "roi", "reason"]))
    parts.append("<h2>Files</h2><ul>" + "".join(
        f"<li><a href='{e(p.name)}'>{e(p.name)}</a></li>" for p in res.files if p.suffix == ".csv")
        + "</ul><p class='small'>Columns carry their units (csa_cm2, ap_depth_cm, asymmetry_pct). "
        "No DICOM patient, institution, date or device identifiers are exported; subjects are the "
        "study's own codes.</p>")
    parts.append(f"<div class='notice'><b>Research use only.</b> {e(RESEARCH_NOTICE)}</div></body></html>")
    return "\n".join(parts)


def _qc_links(out_dir: Path, image_label: str) -> str:
    stem = Path(image_label)
    folder = out_dir / "qc" / stem.parent
    if not folder.is_dir():
        return ""
    files = sorted(folder.glob(f"{glob_escape(stem.stem)}.*png"))
    return " ".join(f"<a href='{html.escape((Path('qc') / stem.parent / f.name).as_posix(), quote=True)}'>"
                    f"{html.escape(f.name[len(stem.stem) + 1:-4] or 'view')}</a>" for f in files)
