"""Benchmark: reading one frame of a cine without decoding the others.

Writes (with pydicom; each frame encoded by OpenCV and encapsulated) a 120-frame
JPEG-baseline cine of 480x640 phantom frames and a single-frame JPEG-baseline file
of its first frame, then prints

* ``mfscan info`` time on each (in-process ``main(["info", ...])``, and as a new
  ``python -m mfscan.cli`` process), the median of ``--runs`` runs, and the
  cine / single-frame ratio (target <= 3);
* for reference, the time to decode the whole cine (``np.asarray(img.gray)``),
  which is what ``info`` cost before frames were decoded on use;
* ``mfscan propose --frame 60`` and ``mfscan measure`` of that proposal: time and
  peak memory, each in a fresh process (``tracemalloc`` peak of Python/numpy
  allocations, and the process's maximum resident set size from ``resource``).

Usage::

    python benchmarks/bench_cine.py [--runs 7] [--frames 120]

Files go to ``benchmarks/_work/cine/``. Timings are noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORK = ROOT / "benchmarks" / "_work" / "cine"
SHAPE = (480, 640)
SPACING_MM = 0.2


def write_files(n: int) -> tuple[Path, Path, tuple[float, float]]:
    from mfscan.synthetic.dicom import write_us_dicom
    from mfscan.synthetic.phantom import make_phantom

    WORK.mkdir(parents=True, exist_ok=True)
    ph = make_phantom(seed=5, shape=SHAPE, spacing_mm=SPACING_MM)
    frames = np.stack([np.roll(ph.image, k // 20, axis=1) for k in range(n)])  # a slow drift
    region = [{"bounds": (0, 0, SHAPE[0] - 1, SHAPE[1] - 1), "delta_cm": (SPACING_MM / 10,) * 2}]
    cine = write_us_dicom(WORK / "cine.dcm", frames, transfer_syntax="jpeg-baseline", regions=region)
    single = write_us_dicom(WORK / "single.dcm", frames[0], transfer_syntax="jpeg-baseline", regions=region)
    return cine, single, ph.seeds["left"]


def median_time(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def child(argv: list[str]) -> None:
    """Run one CLI command in this (fresh) process; print its time and peak memory as JSON."""
    import resource
    import tracemalloc

    from mfscan.cli.main import main

    tracemalloc.start()
    t0 = time.perf_counter()
    status = main(argv)
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {"status": status, "seconds": seconds, "peak_mb": peak / 2**20, "maxrss_mb": rss_kb / 1024}
        )
    )


def in_child(argv: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(argv)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(json.loads(args.child))
        return

    import contextlib
    import io

    from mfscan.cli.main import main as cli
    from mfscan.io.images import load_image

    cine, single, (r, c) = write_files(args.frames)
    mb = cine.stat().st_size / 2**20
    print(f"cine: {args.frames} frames of {SHAPE[0]}x{SHAPE[1]} JPEG baseline ({mb:.1f} MB); single: 1 frame")

    def info(p):
        with contextlib.redirect_stdout(io.StringIO()):
            assert cli(["info", str(p)]) == 0

    info(cine), info(single)  # warm the imports
    t_cine, t_single = (
        median_time(lambda: info(cine), args.runs),
        median_time(lambda: info(single), args.runs),
    )
    print(
        f"mfscan info (in-process, median of {args.runs}): cine {t_cine * 1000:.1f} ms, "
        f"single {t_single * 1000:.1f} ms, ratio {t_cine / t_single:.2f} (target <= 3)"
    )
    cmd = [sys.executable, "-m", "mfscan.cli", "info"]
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}

    def run(p):
        subprocess.run([*cmd, str(p)], check=True, capture_output=True, env=env, cwd=ROOT)

    p_cine, p_single = median_time(lambda: run(cine), args.runs), median_time(lambda: run(single), args.runs)
    print(
        f"mfscan info (new process, median of {args.runs}): cine {p_cine:.2f} s, single {p_single:.2f} s, "
        f"ratio {p_cine / p_single:.2f}"
    )
    t_all = median_time(lambda: np.asarray(load_image(cine).gray), max(1, args.runs // 2))
    print(f"decoding the whole cine (what info did before): {t_all:.2f} s")

    sidecar = WORK / "cine.mfscan.json"
    sidecar.unlink(missing_ok=True)
    prop = in_child(["propose", str(cine), "--seed", f"left:{r},{c}", "--frame", "60", "-o", str(sidecar)])
    print(
        f"mfscan propose --frame 60: {prop['seconds']:.2f} s, tracemalloc peak {prop['peak_mb']:.1f} MB, "
        f"max RSS {prop['maxrss_mb']:.0f} MB (status {prop['status']})"
    )
    meas = in_child(["measure", str(WORK), "-o", str(WORK / "m.csv"), "--no-progress", "--workers", "1"])
    print(
        f"mfscan measure (ROI on frame 60): {meas['seconds']:.2f} s, tracemalloc peak {meas['peak_mb']:.1f} MB, "
        f"max RSS {meas['maxrss_mb']:.0f} MB (status {meas['status']})"
    )
    full_mb = args.frames * SHAPE[0] * SHAPE[1] / 2**20
    print(f"(all {args.frames} frames decoded would hold {full_mb:.0f} MB of uint8 gray pixels alone)")


if __name__ == "__main__":
    main()
