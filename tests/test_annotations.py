"""The sidecar file: round trips, validation, atomic writes, conflicts."""

import json
import os

import numpy as np
import pytest

from mfscan.annotations import (
    ROI,
    Annotation,
    AnnotationConflictError,
    find_sidecars,
    read_sidecar,
    sidecar_path,
    write_sidecar,
)
from mfscan.calibration import Calibration, from_scale_line
from mfscan.errors import AnnotationError

MINIMAL = """{"format": "mfscan.annotation", "version": 1, "image": "scan01.png",
 "calibration": {"row_mm": 0.12, "col_mm": 0.12, "source": "manual"},
 "subject": "P01", "visit": "1", "level": "L4", "rater": "R1",
 "rois": [{"side": "left", "points": [[10, 20], [10, 60], [50, 60], [50, 20]]},
          {"side": "right", "points": [[10.5, 120.25], [10, 160], [50, 160]]}]}"""


def test_minimal_hand_written_file(tmp_path):
    p = tmp_path / "scan01.mfscan.json"
    p.write_text(MINIMAL)
    a = read_sidecar(p)
    assert a.image == "scan01.png" and a.subject == "P01" and a.visit == "1"
    assert a.level == "L4" and a.rater == "R1"
    assert a.calibration == Calibration(0.12, 0.12, "manual")
    assert [r.side for r in a.rois] == ["left", "right"]
    assert a.rois[1].points.tolist() == [[10.5, 120.25], [10.0, 160.0], [50.0, 160.0]]
    assert a.rois[0].method == "manual"


def test_round_trip_identical_including_unknown_fields(tmp_path):
    rng = np.random.default_rng(1)
    a = Annotation(
        image="scan 01.dcm",
        subject="S-007",
        visit="10",
        level="L5",
        rater="AB",
        session="2",
        calibration=from_scale_line((10, 5), (410, 5), 40.0),
        image_sha256="ab" * 32,
        rois=[
            ROI(
                "left",
                rng.uniform(0, 500, (150, 2)),
                frame=3,
                region=1,
                method="proposed-edited",
                extra={"note": "faint lateral border"},
            ),
            ROI("right", [[0.1 + 0.2, 1 / 3], [2.0, 5e-17], [7.0, 1e6]], level="S1"),
        ],
        extra={"created": "made by another tool", "custom": {"nested": [1, 2.5, None]}},
    )
    p = write_sidecar(tmp_path / "x.mfscan.json", a)
    b = read_sidecar(p)
    assert b == a
    assert b.rois[0].points.tolist() == a.rois[0].points.tolist()  # exact floats
    # a second write of what was read is byte-identical
    text = p.read_bytes()
    write_sidecar(p, b)
    assert p.read_bytes() == text
    assert [f.name for f in tmp_path.iterdir()] == ["x.mfscan.json"]  # no temp files left


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "empty"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"format": "other", "version": 1, "image": "a.png", "rois": []}', "'format' is 'other'"),
        ('{"format": "mfscan.annotation", "version": 2, "image": "a.png", "rois": []}', "newer mfscan"),
        ('{"format": "mfscan.annotation", "version": "1", "image": "a.png"}', "'version' must be an integer"),
        ('{"format": "mfscan.annotation", "version": 1, "rois": []}', "'image' must name"),
        (
            '{"format": "mfscan.annotation", "version": 1, "image": "a.png", "rois": {}}',
            "'rois' must be a list",
        ),
        (
            '{"format": "mfscan.annotation", "version": 1, "image": "a.png", "rois": [{"side": "middle", "points": []}]}',
            "unknown side 'middle'",
        ),
        (
            '{"format": "mfscan.annotation", "version": 1, "image": "a.png", "rois": [{"side": "left", "points": [[1,2],[3,4]]}]}',
            "at least 3 points",
        ),
        (
            '{"format": "mfscan.annotation", "version": 1, "image": "a.png", "rois": [{"side": "left", "points": [[1,2],[3,NaN],[5,6]]}]}',
            "NaN is not valid JSON",
        ),
        ('{"format": "mfscan.annotation", "version": 1, "image": "a.png",}', r"not valid JSON \(line 1"),
        (
            '{"format": "mfscan.annotation", "version": 1, "image": "a.png", "rois": [{"side": "left", "points": [[1,2],[3,1e999],[5,6]]}]}',
            "a number is not finite",
        ),
        (
            '{"format": "mfscan.annotation", "version": 1, "image": "a.png", "rois": [{"side": "left", "points": [[1,2],[3],[5,6]]}]}',
            r"point 1 is \[3\]",
        ),
        (
            '{"format": "mfscan.annotation", "version": 1, "image": "a.png", "level": "L9", "rois": []}',
            "unknown vertebral level",
        ),
        (
            '{"format": "mfscan.annotation", "version": 1, "image": "a.png", "calibration": {"row_mm": 0, "col_mm": 0.1}, "rois": []}',
            "row_mm must be a positive",
        ),
        (
            '{"format": "mfscan.annotation", "version": 1, "image": "a.png", "calibration": {"row_mm": true, "col_mm": 0.1}, "rois": []}',
            "row_mm must be a number",
        ),
        (
            '{"format": "mfscan.annotation", "version": 1, "image": "a.png", "calibration": {"row_mm": 0.1, "col_mm": "0.1"}, "rois": []}',
            "col_mm must be a number",
        ),
        (
            '{"format": "mfscan.annotation", "version": 1, "image": "a.png", "calibration": {"row_mm": 0.1, "col_mm": 0.1, "region": "x"}, "rois": []}',
            "region must be a region number",
        ),
    ],
)
def test_invalid_sidecars_name_file_and_problem(tmp_path, content, message):
    p = tmp_path / "bad.mfscan.json"
    p.write_text(content)
    with pytest.raises(AnnotationError, match=message) as info:
        read_sidecar(p)
    assert str(p) in str(info.value)


def test_missing_file_and_binary_file(tmp_path):
    with pytest.raises(AnnotationError, match="not found"):
        read_sidecar(tmp_path / "nothing.mfscan.json")
    p = tmp_path / "bin.mfscan.json"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(AnnotationError, match="not UTF-8"):
        read_sidecar(p)


def test_side_spellings_normalised(tmp_path):
    d = json.loads(MINIMAL)
    d["rois"][0]["side"] = "Left"
    d["rois"][1]["side"] = "R"
    p = tmp_path / "s.mfscan.json"
    p.write_text(json.dumps(d))
    assert [r.side for r in read_sidecar(p).rois] == ["left", "right"]


def test_conflict_refused_when_file_changed_on_disk(tmp_path):
    p = tmp_path / "scan01.mfscan.json"
    p.write_text(MINIMAL)
    mine = read_sidecar(p)
    theirs = read_sidecar(p)
    theirs.rois.pop()
    write_sidecar(p, theirs)  # another window saves first
    mine.rois[0].points[0] = [11, 21]
    with pytest.raises(AnnotationConflictError, match="changed since it was loaded"):
        write_sidecar(p, mine)
    assert len(read_sidecar(p).rois) == 1  # their version intact
    write_sidecar(p, mine, force=True)
    assert len(read_sidecar(p).rois) == 2


def test_new_annotation_never_overwrites_existing_file(tmp_path):
    p = tmp_path / "scan01.mfscan.json"
    p.write_text(MINIMAL)
    fresh = Annotation("scan01.png", [ROI("left", [[0, 0], [0, 5], [5, 5]])])
    with pytest.raises(AnnotationConflictError, match="already exists"):
        write_sidecar(p, fresh)


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    p = tmp_path / "scan01.mfscan.json"
    p.write_text(MINIMAL)
    a = read_sidecar(p)
    a.rois[0].points[0] = [1, 1]

    def boom(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(AnnotationError, match="No space left"):
        write_sidecar(p, a)
    assert p.read_text() == MINIMAL
    assert sorted(f.name for f in tmp_path.iterdir()) == ["scan01.mfscan.json"]


def test_sidecar_paths_and_discovery(tmp_path):
    img = tmp_path / "scan01.png"
    assert sidecar_path(img) == tmp_path / "scan01.mfscan.json"
    assert sidecar_path(img, "R2") == tmp_path / "scan01.R2.mfscan.json"
    with pytest.raises(AnnotationError, match="rater code"):
        sidecar_path(img, "../evil")
    for rater, image in (("R1", "scan01.png"), ("R2", "scan01.png"), ("R3", "scan01.dcm")):
        write_sidecar(sidecar_path(img, rater), Annotation(image, rater=rater))
    write_sidecar(tmp_path / "scan01.extra.png.mfscan.json", Annotation("scan01.extra.png"))
    found = find_sidecars(img)
    assert [f.name for f in found] == ["scan01.R1.mfscan.json", "scan01.R2.mfscan.json"]


def test_atomic_writes_keep_or_give_normal_permissions(tmp_path):
    import stat

    p = tmp_path / "scan01.mfscan.json"
    write_sidecar(p, Annotation("scan01.png"))
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask  # as open(path, "w") would
    os.chmod(p, 0o664)
    a = read_sidecar(p)
    a.subject = "S1"
    write_sidecar(p, a)
    assert stat.S_IMODE(p.stat().st_mode) == 0o664  # a shared sidecar stays readable by the group


def test_frame_zero_and_region_zero_survive_a_round_trip(tmp_path):
    a = Annotation("cine.dcm", [ROI("left", [[1, 1], [1, 9], [9, 9]], frame=0, region=0)])
    p = write_sidecar(tmp_path / "cine.mfscan.json", a)
    d = json.loads(p.read_text())
    assert d["rois"][0]["frame"] == 0 and d["rois"][0]["region"] == 0
    b = read_sidecar(p)
    assert (b.rois[0].frame, b.rois[0].region) == (0, 0) and b == a


def test_conflict_copies_are_named_beside_the_sidecar_and_never_measured(tmp_path):
    import time

    from mfscan.annotations import conflict_path, is_conflict_copy

    when = time.mktime((2026, 3, 4, 5, 6, 7, 0, 0, -1))
    p = conflict_path(tmp_path / "scan01.R1.mfscan.json", "R1", when=when)
    assert p.name == "scan01.R1.conflict-20260304-050607.mfscan.json"
    p.write_text("{}")
    assert (
        conflict_path(tmp_path / "scan01.R1.mfscan.json", "R1", when=when).name
        == "scan01.R1.conflict-20260304-050607-1.mfscan.json"
    )  # never an existing file
    assert (
        conflict_path(tmp_path / "scan01.mfscan.json", None, when=when).name
        == "scan01.conflict-20260304-050607.mfscan.json"
    )
    assert is_conflict_copy(p) and not is_conflict_copy(tmp_path / "scan01.R1.mfscan.json")
    from mfscan.measure.batch import discover

    (tmp_path / "scan01.png").write_bytes(b"x")
    write_sidecar(tmp_path / "scan01.R1.mfscan.json", Annotation("scan01.png", rater="R1"))
    (jobs, _) = discover([tmp_path])
    assert [s.name for s in jobs[0].sidecars] == ["scan01.R1.mfscan.json"]


_UMASK_PROBE = r"""
import os, stat, sys

calls = []
real_umask = os.umask
os.umask = lambda mask: calls.append(mask) or real_umask(mask)   # record every call


def umask_now():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    raise SystemExit(3)


real_umask(int(sys.argv[1], 8))
before = umask_now()
import mfscan.annotations as a
import mfscan.io.files as files
after_import = umask_now()
folder = sys.argv[2]
p = a.write_sidecar(os.path.join(folder, "scan.mfscan.json"), a.Annotation("scan.png"))
files.atomic_write_bytes(os.path.join(folder, "table.csv"), b"x\n")
after_write = umask_now()
with open(os.path.join(folder, "plain.txt"), "w") as f:
    f.write("x")
mode = lambda name: stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode)
print(before, after_import, after_write, len(calls), mode("scan.mfscan.json"), mode("table.csv"),
      mode("plain.txt"))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc/self/status (Linux)")
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_no_umask_change_and_new_files_get_the_mode_open_gives(tmp_path, umask):
    import subprocess
    import sys
    from pathlib import Path

    import mfscan

    root = Path(mfscan.__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(root))
    out = subprocess.run(
        [sys.executable, "-c", _UMASK_PROBE, oct(umask), str(tmp_path)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if out.returncode == 3:
        pytest.skip("no Umask line in /proc/self/status (kernel < 4.7)")
    assert out.returncode == 0, out.stderr
    before, after_import, after_write, n_calls, sidecar, table, plain = map(int, out.stdout.split())
    assert before == after_import == after_write == umask
    assert n_calls == 0  # os.umask never called, not even to read it
    assert sidecar == table == plain == 0o666 & ~umask  # 0o644, 0o600, 0o664


def test_errors_keep_their_cause(tmp_path):
    import orjson

    from mfscan.errors import CalibrationError

    p = tmp_path / "scan01.mfscan.json"
    p.write_text('{"format": "mfscan.annotation", "version": 1, "image": "a.png", "rois": [')
    with pytest.raises(AnnotationError, match="not valid JSON") as e:
        read_sidecar(p)
    assert isinstance(e.value.__cause__, orjson.JSONDecodeError)
    with pytest.raises(AnnotationError, match="sidecar file not found") as e:
        read_sidecar(tmp_path / "missing.mfscan.json")
    assert isinstance(e.value.__cause__, FileNotFoundError)
    p.write_text(
        '{"format": "mfscan.annotation", "version": 1, "image": "a.png",'
        ' "calibration": {"row_mm": -1, "col_mm": 0.1, "source": "manual"}}'
    )
    with pytest.raises(AnnotationError) as e:
        read_sidecar(p)
    assert isinstance(e.value.__cause__, CalibrationError)
    assert e.value.message == e.value.__cause__.message  # the message is kept as it was


# --------------------------------------------------------------------------- RUSI and quality fields (issue 13)

RUSI = {
    "format": "mfscan.annotation",
    "version": 1,
    "image": "S01_L5_contract_2.png",
    "view": "parasagittal",
    "task": "contracted",
    "posture": "prone",
    "trial": 2,
    "visit_date": "2024-02-29",
    "fat_thickness_cm": 1.4,
    "subject": "S01",
    "visit": "1",
    "level": "L5",
    "rater": "R1",
    "rois": [
        {"side": "left", "kind": "thickness", "points": [[412.0, 300.5], [251.0, 302.0]]},
        {"side": "left", "kind": "fat", "points": [[0.0, 300.5], [60.0, 300.0]]},
    ],
}


def test_old_sidecars_read_unchanged_and_round_trip_byte_identically():
    from pathlib import Path

    from mfscan.annotations import dumps

    study = Path(__file__).resolve().parents[1] / "sample_data" / "study"
    old = sorted(p for p in study.glob("S0*/visit*/*.mfscan.json"))[:12] + [
        study / "dicom" / "S01_V1_L4_dicom.R1.mfscan.json"
    ]
    for p in old:
        a = read_sidecar(p)
        assert (a.view, a.task, a.posture, a.trial, a.visit_date, a.fat_thickness_cm) == (None,) * 6
        assert {r.kind for r in a.rois} == {"outline"}
        assert dumps(a).encode("utf-8") == p.read_bytes(), p


def test_hand_written_minimal_file_keeps_reading_as_outlines(tmp_path):
    p = tmp_path / "scan01.mfscan.json"
    p.write_text(MINIMAL)
    a = read_sidecar(p)
    assert [r.kind for r in a.rois] == ["outline", "outline"] and a.view is None
    assert "kind" not in a.to_dict()["rois"][0]  # not written when absent: old readers see nothing new


def test_rusi_fields_read_and_round_trip(tmp_path):
    p = tmp_path / "S01_L5_contract_2.R1.mfscan.json"
    p.write_text(json.dumps(RUSI))  # written by Python's json, not by mfscan
    a = read_sidecar(p)
    assert (a.view, a.task, a.posture, a.trial, a.visit_date) == (
        "parasagittal",
        "contracted",
        "prone",
        2,
        "2024-02-29",
    )
    assert a.fat_thickness_cm == 1.4
    assert [r.kind for r in a.rois] == ["thickness", "fat"]
    assert a.rois[0].points.tolist() == [[412.0, 300.5], [251.0, 302.0]]
    write_sidecar(tmp_path / "copy.mfscan.json", a)
    b = read_sidecar(tmp_path / "copy.mfscan.json")
    assert b == a
    assert json.loads((tmp_path / "copy.mfscan.json").read_text()) == RUSI | {
        "rois": [r | {"method": "manual"} for r in RUSI["rois"]]
    }


def test_spellings_of_view_task_and_kind_are_normalised(tmp_path):
    from mfscan.annotations import from_dict

    d = RUSI | {
        "view": " Parasagittal",
        "task": "REST",
        "rois": [{"side": "R", "kind": "Fat", "points": [[0, 1], [5, 1]]}],
    }
    a = from_dict(d)
    assert (a.view, a.task, a.rois[0].kind, a.rois[0].side) == ("parasagittal", "rest", "fat", "right")
    assert from_dict(RUSI | {"task": "arm-lift"}).task == "arm-lift"  # a free label is kept


@pytest.mark.parametrize(
    "change, message",
    [
        ({"view": "sagittal"}, "'view' is 'sagittal'; expected one of transverse, parasagittal"),
        ({"task": " "}, "'task' is empty"),
        ({"trial": 0}, "'trial' must be a positive integer"),
        ({"trial": 1.5}, "'trial' must be a positive integer"),
        ({"trial": True}, "'trial' must be a positive integer"),
        ({"trial": "2"}, "'trial' must be a positive integer"),
        ({"visit_date": "01/02/2024"}, "'visit_date' must be an ISO date YYYY-MM-DD"),
        ({"visit_date": "2023-02-29"}, "'visit_date' '2023-02-29' is not a calendar date"),
        ({"visit_date": 20240101}, "'visit_date' must be an ISO date"),
        ({"fat_thickness_cm": 14.0 * 10}, "'fat_thickness_cm' must be a number of cm from 0 to 20"),
        ({"fat_thickness_cm": -1}, "'fat_thickness_cm' must be a number of cm"),
        ({"fat_thickness_cm": "1.2"}, "'fat_thickness_cm' must be a number of cm"),
        (
            {"rois": [{"side": "left", "kind": "area", "points": [[0, 0], [1, 1]]}]},
            "ROI 0 (left): 'kind' is 'area'",
        ),
        (
            {"rois": [{"side": "left", "kind": "thickness", "points": [[0, 0], [1, 1], [2, 2]]}]},
            "ROI 0 (left thickness): a thickness line needs exactly 2 points (its two ends), found 3",
        ),
        (
            {"rois": [{"side": "right", "kind": "fat", "points": [[0, 0]]}]},
            "ROI 0 (right fat): a fat line needs exactly 2 points (its two ends), found 1",
        ),
    ],
)
def test_bad_rusi_values_are_named_with_file_and_field(tmp_path, change, message):
    p = tmp_path / "bad.mfscan.json"
    p.write_text(json.dumps(RUSI | change))
    with pytest.raises(AnnotationError) as e:
        read_sidecar(p)
    assert message in str(e.value) and "bad.mfscan.json" in str(e.value)
