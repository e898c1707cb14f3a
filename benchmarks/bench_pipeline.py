"""Benchmark: asymmetry + longitudinal tables on a 1,000,000-row measurements table.

Compares the study pipeline (:func:`mfscan.stats.study.analyse_study`: incomplete rows
set aside, repeats averaged, sides paired, asymmetry, change from baseline) with one
plain ``groupby([...])["csa_cm2"].mean()`` over the same table;
the target is a ratio of at most 3 (no Python loop per group).

Run: ``python benchmarks/bench_pipeline.py [--rows 1000000] [--runs 3]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from mfscan.stats.study import analyse_study
from mfscan.vocab import LEVEL_DTYPE, SIDE_DTYPE

VISITS = ("1", "2", "10")
LEVELS = ("L3", "L4", "L5")
SIDES = ("left", "right")
REPEATS = 3


def synthetic_measurements(n_rows: int = 1_000_000, seed: int = 0) -> pd.DataFrame:
    """About ``n_rows`` outlines: subjects x 3 visits x 3 levels x 2 sides x 3 repeats.

    Dtypes as :func:`mfscan.io.tables.read_table` returns them: codes as strings, side
    and level categoricals. CSA about 8 cm² (L5 larger), side differences of a few
    percent, 2 % repeat noise; 1 % of the sides are missing (untraced).
    """
    rng = np.random.default_rng(seed)
    per_subject = len(VISITS) * len(LEVELS) * len(SIDES) * REPEATS
    n_subjects = int(n_rows / (per_subject * 0.98)) + 1  # 1 % of sides dropped below
    shape = (n_subjects, len(VISITS), len(LEVELS), len(SIDES), REPEATS)
    s, v, lv, sd, rep = (a.ravel() for a in np.indices(shape))
    base = rng.normal(7.5, 1.2, n_subjects)[s] * np.array([0.85, 1.0, 1.15])[lv]
    side_factor = rng.normal(1.0, 0.05, (n_subjects, len(VISITS), len(LEVELS), len(SIDES)))
    csa = base * side_factor[s, v, lv, sd] * rng.normal(1.0, 0.02, s.size)
    keep = rng.random(n_subjects * len(VISITS) * len(LEVELS) * len(SIDES)) > 0.01
    keep = keep[np.ravel_multi_index((s, v, lv, sd), shape[:4])]
    subject_codes = np.array([f"P{i:05d}" for i in range(n_subjects)], dtype=object)
    df = pd.DataFrame(
        {
            "image": pd.array(
                np.char.add(np.char.add(subject_codes[s].astype(str), "_"), np.arange(s.size).astype(str)),
                dtype="string",
            ),
            "subject": pd.array(subject_codes[s], dtype="string"),
            "visit": pd.array(np.array(VISITS, dtype=object)[v], dtype="string"),
            "level": pd.Categorical(np.array(LEVELS, dtype=object)[lv], dtype=LEVEL_DTYPE),
            "side": pd.Categorical.from_codes(sd, dtype=SIDE_DTYPE),
            "rater": pd.array(np.full(s.size, "R1", dtype=object), dtype="string"),
            "frame": 0,
            "roi": rep,
            "csa_cm2": csa,
            "ap_depth_cm": np.sqrt(csa) * 0.9,
        }
    )
    df = df[keep].head(n_rows).reset_index(drop=True)
    return df


def best_time(fn, runs: int) -> tuple[float, object]:
    best, result = np.inf, None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)

    table = synthetic_measurements(args.rows)
    keys = ["subject", "visit", "level", "side", "rater"]

    def pipeline():
        return analyse_study(table, tables=("longitudinal",)).longitudinal

    def plain():
        return table.groupby(keys, observed=True)["csa_cm2"].mean()

    plain()  # warm-up (imports, caches)
    t_pipe, result = best_time(pipeline, args.runs)
    t_plain, _ = best_time(plain, args.runs)
    ratio = t_pipe / t_plain
    print(f"{len(table):,} measurement rows -> {len(result):,} longitudinal rows (best of {args.runs})")
    print(f"pipeline {t_pipe:.2f} s, groupby mean {t_plain:.2f} s, ratio {ratio:.1f} (target <= 3)")


if __name__ == "__main__":
    main()
