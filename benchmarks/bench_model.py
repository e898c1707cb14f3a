"""Benchmark: `mfscan model` on a large synthetic trial.

1,000 subjects (two groups) x 3 visits x 2 sides x 2 levels x 3 repeated images =
36,000 outline rows written to benchmarks/_work/model/measurements.csv, then the whole
command is timed in one process (reading the CSV, averaging the repeats, four REML
fits: CSA and deficit at each level, contrasts, Hedges' g, change table, writing the
four CSVs). Target: under 10 s on 2 cores. For comparison it also times one CSA fit
with statsmodels' MixedLM (``--engine statsmodels``; same estimates).

Usage: python benchmarks/bench_model.py [N_SUBJECTS] [--statsmodels]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mfscan.cli.main import main

WORK = Path(__file__).parent / "_work" / "model"


def make_trial(n_subjects: int, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    subj = np.arange(n_subjects)
    group = np.where(subj % 2 == 0, "control", "exercise")
    sym = np.where(subj % 3 == 0, "left", "right")
    u = rng.normal(0, 1.0, n_subjects)
    s, v, lv, sd, rep = np.meshgrid(
        subj, np.arange(3), np.arange(2), np.arange(2), np.arange(3), indexing="ij"
    )
    s, v, lv, sd, rep = (a.ravel() for a in (s, v, lv, sd, rep))
    side = np.where(sd == 0, "left", "right")
    is_sym = side == sym[s]
    csa = 9.0 + u[s] + 0.5 * lv + np.where(is_sym, -1.5 + 0.2 * v + 0.3 * v * (group[s] == "exercise"), 0.0)
    csa = csa + rng.normal(0, 0.3, len(csa))
    meas = pd.DataFrame(
        {
            "subject": np.char.add("P", subj.astype(str))[s],
            "visit": (v + 1).astype(str),
            "level": np.where(lv == 0, "L4", "L5"),
            "side": side,
            "rater": "R1",
            "csa_cm2": csa + rng.normal(0, 0.1, len(csa)),
        }
    )
    subjects = pd.DataFrame(
        {"subject": np.char.add("P", subj.astype(str)), "symptomatic_side": sym, "group": group}
    )
    return meas, subjects


def run(n: int, statsmodels: bool) -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    meas, subjects = make_trial(n)
    meas.to_csv(WORK / "measurements.csv", index=False)
    subjects.to_csv(WORK / "subjects.csv", index=False)
    args = ["model", str(WORK / "measurements.csv"), "--subjects", str(WORK / "subjects.csv"), "--mdc", "0.3"]
    t = time.perf_counter()
    rc = main([*args, "-o", str(WORK / "model.csv")])
    dt = time.perf_counter() - t
    print(
        f"mfscan model: {n} subjects, {len(meas)} outline rows, 4 fits: {dt:.2f} s (exit {rc}; target < 10 s)"
    )
    if statsmodels:
        t = time.perf_counter()
        main(
            [*args, "--level", "L5", "--models", "csa", "--engine", "statsmodels", "-o", str(WORK / "sm.csv")]
        )
        print(f"statsmodels MixedLM, one CSA fit (L5): {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    argv = [a for a in sys.argv[1:] if not a.startswith("--")]
    run(int(argv[0]) if argv else 1000, "--statsmodels" in sys.argv)
