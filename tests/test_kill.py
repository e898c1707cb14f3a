"""Nothing is lost when mfscan is killed (SIGKILL) at a random moment.

* A process saving a sidecar over and over, alternating two large versions, is
  killed 20 times: the file always parses and is exactly one of the two versions.
* ``mfscan measure`` on a folder of 40 phantom images is killed 20 times: its
  output tables are absent or a complete version (never partial), and no source
  image or sidecar changes.
* A save that would overwrite another writer's change is refused, and the other
  writer's file is kept intact.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from badinput import tree_state

from mfscan.annotations import (
    ROI,
    Annotation,
    AnnotationConflictError,
    dumps,
    find_sidecars,
    read_sidecar,
    write_sidecar,
)
from mfscan.calibration import manual
from mfscan.io.files import file_sha256
from mfscan.synthetic.phantom import make_phantom

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")

REPO = Path(__file__).resolve().parents[1]
N_KILLS = 20
ENV = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def big_annotation(seed: int, n_points: int = 4000) -> Annotation:
    """A valid annotation with two outlines of `n_points` vertices (about 300 kB of JSON)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, n_points, endpoint=False)
    rois = []
    for side, c in (("left", 300.0), ("right", 100.0)):
        r = 40 + rng.uniform(-0.4, 0.4, n_points)
        rois.append(
            ROI(
                side,
                np.column_stack([200 + r * np.sin(t), c + r * np.cos(t)]),
                extra={"note": f"version {seed}"},
            )
        )
    return Annotation(
        image="scan.png",
        rois=rois,
        subject=f"S{seed:02d}",
        visit="1",
        level="L4",
        rater="R1",
        calibration=manual(0.1),
        extra={"version_tag": seed},
    )


WRITER = r"""
import sys
from pathlib import Path
from mfscan.annotations import from_dict, read_sidecar, write_sidecar
import json

path = Path(sys.argv[1])
versions = [from_dict(json.loads(Path(p).read_text("utf-8"))) for p in sys.argv[2:4]]
i = 0
while True:
    current = read_sidecar(path)          # as a viewer does: load, edit, save
    new = versions[i % 2]
    new.path, new.digest = current.path, current.digest
    write_sidecar(path, new)
    i += 1
    if i == 2:
        print("ready", flush=True)
"""


def wait_ready(proc, timeout=30.0):
    line = proc.stdout.readline()
    if line.strip() != b"ready":
        proc.kill()
        raise AssertionError(f"writer did not start: {line!r} {proc.stderr.read()!r}")


def test_sidecar_survives_sigkill_while_saving(tmp_path):
    a, b = big_annotation(1), big_annotation(2)
    text_a, text_b = dumps(a).encode(), dumps(b).encode()
    assert len(text_a) > 200_000 and text_a != text_b
    (tmp_path / "a.json").write_bytes(text_a)
    (tmp_path / "b.json").write_bytes(text_b)
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "scan.png").write_bytes(b"not read by this test")
    path = folder / "scan.mfscan.json"
    rng = np.random.default_rng(20260101)
    seen = []
    for i in range(N_KILLS):
        write_sidecar(path, a.copy(), force=True)
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(tmp_path / "a.json"), str(tmp_path / "b.json")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=ENV,
            cwd=tmp_path,
        )
        wait_ready(proc)
        time.sleep(rng.uniform(0.0, 0.06))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL, f"iteration {i}: writer ended by itself"
        data = path.read_bytes()
        assert data in (text_a, text_b), f"iteration {i}: the sidecar is neither version ({len(data)} bytes)"
        got = read_sidecar(path)
        assert got == (a if data == text_a else b)
        seen.append("a" if data == text_a else "b")
        # a killed write leaves at most a hidden temporary file, which is never taken for a sidecar
        others = sorted(p.name for p in folder.iterdir() if p.name not in ("scan.png", "scan.mfscan.json"))
        assert all(n.startswith(".scan.mfscan.json.") and n.endswith(".tmp") for n in others), others
        assert find_sidecars(folder / "scan.png") == [path]
        for n in others:
            (folder / n).unlink()
    assert len(seen) == N_KILLS


# --------------------------------------------------------------------------- batch


@pytest.fixture(scope="module")
def phantom_study(tmp_path_factory):
    """40 small phantom PNGs with sidecars (calibrated, checksummed) and one broken sidecar."""
    import cv2

    root = tmp_path_factory.mktemp("killstudy") / "study"
    for i in range(40):
        folder = root / f"S{i // 10:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        ph = make_phantom(seed=i, shape=(120, 160), spacing_mm=1.0, burned_in_text=False, ruler=False)
        img = folder / f"img{i:02d}.png"
        ok, buf = cv2.imencode(".png", ph.image)
        img.write_bytes(buf.tobytes())
        ann = Annotation(
            image=img.name,
            subject=f"S{i // 10:02d}",
            visit=str(i % 3 + 1),
            level="L4",
            rater="R1",
            calibration=manual(1.0),
            image_sha256=file_sha256(img),
            rois=[ROI(s, np.round(ph.outlines[s], 2)) for s in ("left", "right")],
        )
        (folder / f"img{i:02d}.mfscan.json").write_text(dumps(ann), "utf-8")
    (root / "S00" / "img00.R9.mfscan.json").write_text("{broken", "utf-8")
    return root


def measure_cmd(study, out):
    return [
        sys.executable,
        "-m",
        "mfscan.cli",
        "measure",
        str(study),
        "-o",
        str(out / "measurements.csv"),
        "--workers",
        "1",
        "--no-progress",
    ]


def test_measure_outputs_complete_or_absent_after_sigkill(phantom_study, tmp_path):
    study = phantom_study
    before = tree_state(study)
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    t0 = time.perf_counter()
    r = subprocess.run(measure_cmd(study, ref_dir), capture_output=True, env=ENV, timeout=120)
    duration = time.perf_counter() - t0
    assert r.returncode == 1, r.stderr  # the broken sidecar
    ref = {name: (ref_dir / name).read_bytes() for name in ("measurements.csv", "errors.csv")}
    assert ref["measurements.csv"].count(b"\n") == 1 + 80
    assert ref["errors.csv"].count(b"\n") == 2 and b"img00.R9.mfscan.json" in ref["errors.csv"]
    # an older complete version of each table (as if an earlier run had written it)
    previous = {name: b"".join(data.splitlines(keepends=True)[:-1]) for name, data in ref.items()}

    out = tmp_path / "out"
    out.mkdir()
    rng = np.random.default_rng(7)
    outcomes = []
    killed = 0
    for i in range(N_KILLS):
        for p in out.iterdir():
            p.unlink()
        with_previous = i % 2 == 1
        if with_previous:
            for name, data in previous.items():
                (out / name).write_bytes(data)
        proc = subprocess.Popen(
            measure_cmd(study, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV
        )
        time.sleep(rng.uniform(0.1, 1.0) * duration)
        os.kill(proc.pid, signal.SIGKILL)
        killed += proc.wait(timeout=10) == -signal.SIGKILL
        for name in ("measurements.csv", "errors.csv"):
            p = out / name
            allowed = [ref[name], previous[name]] if with_previous else [ref[name]]
            if p.exists():
                assert p.read_bytes() in allowed, (
                    f"iteration {i}: {name} is partial ({p.stat().st_size} bytes)"
                )
                outcomes.append(p.read_bytes() == ref[name])
            else:
                assert not with_previous, f"iteration {i}: the previous {name} was lost"
        leftovers = [p.name for p in out.iterdir() if p.name not in ("measurements.csv", "errors.csv")]
        assert all(n.startswith(".") and n.endswith(".tmp") for n in leftovers), leftovers
        assert tree_state(study) == before, f"iteration {i}: a source image or sidecar changed"
    print(
        f"reference run {duration:.2f} s; {killed} killed; tables new {sum(outcomes)}, "
        f"previous {len(outcomes) - sum(outcomes)}"
    )
    assert killed >= N_KILLS // 4  # most runs were really interrupted


# --------------------------------------------------------------------------- conflicts


def test_conflicting_save_refused_and_other_version_intact(tmp_path):
    path = tmp_path / "scan.mfscan.json"
    write_sidecar(path, big_annotation(1, n_points=50))
    window1 = read_sidecar(path)
    window2 = read_sidecar(path)
    window2.rois[0].points[0] += 1.5
    window2.subject = "S99"
    write_sidecar(path, window2)
    theirs = path.read_bytes()
    window1.rois[1].points[3] -= 2.0
    with pytest.raises(AnnotationConflictError) as info:
        write_sidecar(path, window1)
    assert info.value.path == path
    assert "changed since it was loaded" in info.value.message
    assert path.read_bytes() == theirs
    assert read_sidecar(path).subject == "S99"
    # a fresh annotation never silently replaces an existing file either
    with pytest.raises(AnnotationConflictError, match="already exists"):
        write_sidecar(path, big_annotation(3, n_points=50))
    assert path.read_bytes() == theirs
    # no temporary files were left behind by the refused saves
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.mfscan.json"]
    # after reloading, the edit can be saved again; force overwrites on purpose
    reloaded = read_sidecar(path)
    reloaded.level = "L5"
    write_sidecar(path, reloaded)
    assert read_sidecar(path).level == "L5" and read_sidecar(path).subject == "S99"
    write_sidecar(path, window1, force=True)
    assert read_sidecar(path) == window1
