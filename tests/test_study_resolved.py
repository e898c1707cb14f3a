"""Issue 22 point 1: a study resolved once (:func:`mfscan.measure.study.resolve_study`).

The report measures, checks and compares tracings of the same sidecars: each sidecar
file is read once, not once per section.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

SAMPLE = Path(__file__).parents[1] / "sample_data" / "study"


@pytest.fixture
def study(tmp_path):
    """A copy of one subject's first visit of the sample study (never written into)."""
    dst = tmp_path / "study" / "S01" / "visit1"
    shutil.copytree(SAMPLE / "S01" / "visit1", dst, ignore=shutil.ignore_patterns("rusi"))
    return tmp_path / "study"


def _count_sidecar_reads(monkeypatch) -> Counter:
    """Every read of a ``.mfscan.json`` file's bytes, by file name."""
    reads: Counter = Counter()
    real_bytes, real_text = Path.read_bytes, Path.read_text

    def read_bytes(self):
        if self.name.endswith(".mfscan.json"):
            reads[self.name] += 1
        return real_bytes(self)

    def read_text(self, *a, **k):
        if self.name.endswith(".mfscan.json"):
            reads[self.name] += 1
        return real_text(self, *a, **k)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    monkeypatch.setattr(Path, "read_text", read_text)
    return reads


def test_the_report_reads_each_sidecar_once(study, tmp_path, monkeypatch):
    from mfscan.report.build import build_report

    names = sorted(p.name for p in study.rglob("*.mfscan.json"))
    assert len(names) == 12  # 4 images x (R1, R1 session 2, R2)
    reads = _count_sidecar_reads(monkeypatch)
    res = build_report(study, tmp_path / "rep", workers=1, progress=False)
    assert len(res.measurements) == 24  # 12 sidecars x 2 sides: every sidecar was measured
    assert sorted(reads) == names and set(reads.values()) == {1}


def test_resolve_study_reads_once_and_commands_take_it(study, monkeypatch):
    from mfscan.measure.agreement import agreement_table
    from mfscan.measure.batch import measure_jobs, measure_paths
    from mfscan.measure.check import check_study
    from mfscan.measure.study import resolve_study

    reads = _count_sidecar_reads(monkeypatch)
    s = resolve_study(study)
    assert s.root == study and len(s.jobs) == 4 and not s.errors and s.blinded is False
    assert sum(reads.values()) == 12
    m = measure_jobs(s.annotated, label_root=s.root, workers=1, progress=False)
    again = measure_paths(study=s, workers=1, progress=False).measurements
    assert list(again["csa_cm2"]) == list(m.measurements["csa_cm2"])
    assert set(again["sidecar"]) == {p.relative_to(study).as_posix() for p in study.rglob("*.mfscan.json")}
    problems = check_study(study, study=s)
    table, _ = agreement_table(study=s, between="rater")
    assert sum(reads.values()) == 12  # nothing read again
    assert len(m.measurements) == 24 and problems.attrs["n_sidecars"] == 12
    assert set(table["rater_a"]) | set(table["rater_b"]) == {"R1", "R2"}
    # the shared scale of every image: R1's scale line, 200 px = 50 mm
    shared = s.shared_scale(s.jobs[0])
    assert (shared.calibration.row_mm, shared.source) == (0.25, "scale line, R1")


def test_a_session_sidecar_under_both_names_counts_once_the_current_name_wins(study):
    # R1's session 2 of one image saved under the current name (<stem>.R1.s2) beside the sample
    # study's older spelling (<stem>.R1s2): one tracing, measured once, from the current file
    from mfscan.measure.batch import measure_paths

    folder = study / "S01" / "visit1"
    old = folder / "S01_V1_L4_1.R1s2.mfscan.json"
    new = folder / "S01_V1_L4_1.R1.s2.mfscan.json"
    new.write_bytes(old.read_bytes())
    res = measure_paths([study], workers=1, progress=False)
    m = res.measurements
    rows = m[(m["image"] == "S01/visit1/S01_V1_L4_1.png") & (m["rater"] == "R1") & (m["session"] == "2")]
    assert set(rows["sidecar"]) == {"S01/visit1/S01_V1_L4_1.R1.s2.mfscan.json"} and len(rows) == 2
    (why,) = res.errors.loc[res.errors["path"] == "S01/visit1/S01_V1_L4_1.R1s2.mfscan.json", "reason"]
    assert "S01_V1_L4_1.R1.s2.mfscan.json" in why
