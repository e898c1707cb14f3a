"""Memory stays bounded: peak RSS of `mfscan measure` for N and 10 x N images.

Images are streamed (decoded one at a time per worker, a bounded window of chunks
in flight), so the peak memory should barely grow with the folder's size; only
the result table (a few hundred bytes per outline) grows. The images are hard
links to a few phantom PNGs, so a folder of thousands costs no disk.

Usage: python benchmarks/bench_memory.py [N]   (default 400; also runs 10 x N)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

WORK = Path(__file__).parent / "_work" / "memory"


def build(n):
    import cv2

    from mfscan.annotations import ROI, Annotation, dumps
    from mfscan.calibration import manual
    from mfscan.synthetic.phantom import make_phantom

    folder = WORK / str(n)
    if (folder / ".done").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    base = []
    for s in range(4):
        ph = make_phantom(seed=s)
        p = WORK / f"base{s}.png"
        cv2.imwrite(str(p), ph.image)
        base.append((p, ph))
    for i in range(n):
        src, ph = base[i % 4]
        img = folder / f"img{i:05d}.png"
        if not img.exists():
            os.link(src, img)
        ann = Annotation(
            img.name,
            [ROI(s, ph.outlines[s]) for s in ("left", "right")],
            calibration=manual(*ph.spacing_mm),
            subject=f"S{i % 97}",
            visit="1",
            level="L4",
        )
        (folder / f"img{i:05d}.mfscan.json").write_text(dumps(ann))
    (folder / ".done").touch()
    return folder


CHILD = """
import json, resource, sys, time
from mfscan.measure.batch import measure_paths
t = time.perf_counter()
res = measure_paths([sys.argv[1]], workers=int(sys.argv[2]), progress=False)
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
peak_children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rows": len(res.measurements), "errors": len(res.errors), "seconds": time.perf_counter() - t,
                  "peak_mb": peak_kb / 1024, "peak_worker_mb": peak_children_kb / 1024}))
"""


def run(folder, workers):
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder), str(workers)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    for workers in (1, 2):
        small, big = run(build(n), workers), run(build(10 * n), workers)
        assert small["errors"] == big["errors"] == 0
        print(
            f"workers={workers}: {n:>6} images: peak {small['peak_mb']:.0f} MB (largest worker "
            f"{small['peak_worker_mb']:.0f} MB), {small['seconds']:.1f} s"
        )
        print(
            f"workers={workers}: {10 * n:>6} images: peak {big['peak_mb']:.0f} MB (largest worker "
            f"{big['peak_worker_mb']:.0f} MB), {big['seconds']:.1f} s"
        )
        print(
            f"  growth for 10x the images: {big['peak_mb'] - small['peak_mb']:+.0f} MB in the main process, "
            f"{big['peak_worker_mb'] - small['peak_worker_mb']:+.0f} MB per worker"
        )


if __name__ == "__main__":
    main()
