"""Image-to-image repeatability: the repeated images of one muscle by one rater and session.

A study takes about three images per subject, visit, level and side. Their
agreement is a one-way design (the repeats are interchangeable): ICC(1,1) is the
reliability of **one image**, ICC(1,k) that of **the mean of k images** (Sions et
al.: one image against the mean of three). The within-subject SD is
``sqrt(MS_within)`` (the SEM of one image; of the mean of k it is divided by
sqrt(k)), CV% = 100 x within-subject SD / grand mean, and the repeatability
coefficient 1.96 x sqrt(2) x within-subject SD is the MDC95 of one image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mfscan.errors import MfscanError
from mfscan.stats.icc import _icc_forms, koo_li_band_ci, matrix_notes, mdc95, mean_squares
from mfscan.stats.reliability import _with_sessions, measure_unit
from mfscan.stats.summary import DEFAULT_MEASURES, _check_columns, _group_frame, group_index, prepare_keys

__all__ = ["repeatability", "REPEATABILITY_COLUMNS"]

#: Columns of :func:`repeatability`.
REPEATABILITY_COLUMNS = [
    "measure",
    "unit",
    "level",
    "side",
    "rater",
    "session",
    "between",
    "k",
    "n_targets",
    "n_dropped",
    "n_images_left_out",
    *[f"{f}{s}" for f in ("icc1_1", "icc1_k") for s in ("", "_ci_lower", "_ci_upper")],
    "band",
    "band_mean_k",
    "mean",
    "within_sd",
    "within_sd_mean_k",
    "cv_pct",
    "repeatability_coefficient",
    "note",
]


def _matrix(values: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, int, int, int]:
    """Targets x k repeats (first k in row order); k = the most common count >= 2."""
    ok = np.isfinite(values)
    counts = np.bincount(target[ok], minlength=target.max() + 1 if len(target) else 0)
    present = counts[np.unique(target)] if len(target) else counts
    usable = present[present >= 2]
    if not len(usable):
        return np.empty((0, 0)), 0, len(present), 0
    k = int(np.bincount(usable).argmax())
    keep_t = np.flatnonzero(counts >= k)
    rows = []
    left_out = 0
    for t in keep_t:
        v = values[(target == t) & ok]
        rows.append(v[:k])
        left_out += len(v) - k
    return np.array(rows), k, int((present < k).sum()), left_out


def _in_repeat_order(table: pd.DataFrame) -> pd.DataFrame:
    """Rows by repeat number (the sidecar's ``trial``: 1, 2, 3; none last), then image and frame:
    the order in which a target's first k repeats are taken."""
    keys = {}
    if "trial" in table.columns:
        trial = pd.to_numeric(table["trial"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        keys["_trial"] = np.where(np.isnan(trial), np.inf, trial)  # Int64 in measurement tables
    for c in ("image", "frame"):
        if c in table.columns:
            keys[f"_{c}"] = table[c].to_numpy()
    if not keys:
        return table
    return table.assign(**keys).sort_values(list(keys), kind="stable").drop(columns=list(keys))


def _row(x: np.ndarray, k: int, alpha: float) -> dict:
    if x.shape[0] < 2 or k < 2:
        return {"note": f"needs 2 targets with 2 repeated images, has {x.shape[0]} with k = {k}"}
    with np.errstate(invalid="ignore", divide="ignore"):
        res = _icc_forms(x, alpha)
    row = {}
    for form, col in (("ICC(1,1)", "icc1_1"), ("ICC(1,k)", "icc1_k")):
        row[col] = res[form]["icc"]
        row[f"{col}_ci_lower"] = res[form]["ci_lower"]
        row[f"{col}_ci_upper"] = res[form]["ci_upper"]
    row["band"] = koo_li_band_ci(row["icc1_1_ci_lower"], row["icc1_1_ci_upper"])
    row["band_mean_k"] = koo_li_band_ci(row["icc1_k_ci_lower"], row["icc1_k_ci_upper"])
    sw = float(np.sqrt(mean_squares(x)["msw"]))
    mean = float(x.mean())
    row.update(
        mean=mean,
        within_sd=sw,
        within_sd_mean_k=sw / np.sqrt(k),
        cv_pct=100.0 * sw / mean if mean > 0 else np.nan,
        repeatability_coefficient=mdc95(sw),
    )
    notes = matrix_notes(x, "images")
    row["note"] = "; ".join(notes) if notes else None
    return row


def repeatability(
    measurements: pd.DataFrame, *, measures: Sequence[str] | None = None, alpha: float = 0.05
) -> pd.DataFrame:
    """Image-to-image repeatability per measure, level, side, rater and session.

    Parameters
    ----------
    measurements : DataFrame
        One row per outline; a target is a subject and visit, its repeats the
        outlines of one level and side by one rater in one session (a rater's
        outlines without a session label are its session "1").
    measures : sequence of str, optional
        Default: those of :data:`~mfscan.stats.summary.DEFAULT_MEASURES` in the table.
    alpha : float
        1 - confidence level of the intervals.

    Returns
    -------
    DataFrame
        :data:`REPEATABILITY_COLUMNS`: ``k`` the number of repeats compared (the
        most common number of images with a value, at least 2; a target with more
        uses its first k images, ``n_images_left_out`` counts the rest; one with
        fewer is dropped, ``n_dropped``; the first k by repeat number, the
        sidecar's ``trial``, images without one after those with, then by image
        name); ``icc1_1`` (one image) and ``icc1_k``
        (the mean of k) with 95 % CIs; ``band`` and ``band_mean_k`` (Koo & Li by the
        CI); ``mean``; ``within_sd`` = sqrt(MS within) in the measure's unit (the
        SEM of one image), ``within_sd_mean_k`` = within_sd / sqrt(k); ``cv_pct`` =
        100 x within_sd / mean; ``repeatability_coefficient`` = 1.96 x sqrt(2) x
        within_sd; ``note`` as in :func:`~mfscan.stats.reliability.reliability`.
    """
    if measures is None:
        measures = [m for m in DEFAULT_MEASURES if m in measurements.columns]
    else:
        measures = [measures] if isinstance(measures, str) else list(measures)
    _check_columns(measurements, ["subject", "visit", "level", "side", *measures])
    table = _with_sessions(measurements)
    if "rater" not in table.columns:
        table["rater"] = pd.Series(pd.NA, index=table.index, dtype="string")
    table = _in_repeat_order(table)
    cells = ["level", "side", "rater", "session"]
    keys = prepare_keys(table, cells + ["subject", "visit"])
    cell_id, cell_first = group_index([keys[c] for c in cells])
    target, _ = group_index(list(keys.values()))
    info = _group_frame({c: keys[c] for c in cells}, cell_first)
    rows = []
    for m in measures:
        values = table[m].to_numpy(dtype=np.float64, na_value=np.nan)
        for c in range(len(cell_first)):
            inside = cell_id == c
            x, k, dropped, left_out = _matrix(values[inside], target[inside])
            base = {
                "measure": m,
                "unit": measure_unit(m),
                **{col: info[col].iloc[c] for col in cells},
                "between": "image",
                "k": k,
                "n_targets": x.shape[0],
                "n_dropped": dropped,
                "n_images_left_out": left_out,
            }
            rows.append({**base, **_row(x, k, alpha)})
    if not rows and len(table):
        raise MfscanError("no measure to compare")
    out = pd.DataFrame(rows).reindex(columns=REPEATABILITY_COLUMNS)
    for col in ("level", "side"):
        out[col] = out[col].astype(keys[col].dtype)
    return out
