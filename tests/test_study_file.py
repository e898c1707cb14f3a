"""The study's core rules the widget relies on, tested without a display: naming patterns,
session sidecar names (and their discovery), the study settings file, code disagreements."""

from __future__ import annotations

import json

import numpy as np

from mfscan.annotations import ROI, Annotation, find_sidecars, sidecar_path, write_sidecar
from mfscan.annotations.codes import code_disagreements
from mfscan.annotations.study_file import (
    codes_from_pattern,
    random_order,
    read_study_settings,
    write_study_settings,
)
from mfscan.measure.discover import discover


def test_codes_from_pattern_and_folder_levels():
    assert codes_from_pattern("{subject}_V{visit}_{level}_{repeat}", "S02/visit2/S02_V2_l5_1.png") == {
        "subject": "S02",
        "visit": "2",
        "level": "L5",
        "repeat": "1",
    }
    pat = "{subject}/visit{visit}/{subject}_V{visit}_{level}_{repeat}"
    assert codes_from_pattern(pat, "S03/visit2/S03_V2_L4_2.png")["subject"] == "S03"
    assert codes_from_pattern(pat, "S03/visit2/S02_V2_L4_2.png") == {}  # subject twice, not equal
    assert codes_from_pattern("{subject}/{visit}/{any}", "/data/P7/V1/x.dcm") == {
        "subject": "P7",
        "visit": "V1",
        "any": "x",
    }


def test_session_sidecar_names_and_discovery(tmp_path):
    img = tmp_path / "a.png"
    img.write_bytes(b"")
    assert sidecar_path(img, "R1", "2").name == "a.R1.s2.mfscan.json"
    assert sidecar_path(img, "R1").name == "a.R1.mfscan.json"
    for name in ("a.R1.s2", "a.R1s2", "a.R1", "a"):
        (tmp_path / f"{name}.mfscan.json").write_text(json.dumps({"image": "a.png"}))
    (tmp_path / "a.R1.conflict-20260101-000000.mfscan.json").write_text(json.dumps({"image": "a.png"}))
    assert [p.name for p in find_sidecars(img)] == [
        "a.R1.mfscan.json",
        "a.R1.s2.mfscan.json",
        "a.R1s2.mfscan.json",
        "a.mfscan.json",
    ]
    # a session sidecar whose content names no image is still matched by its file name
    (tmp_path / "a.R2.s3.mfscan.json").write_text("{}")
    jobs, errors = discover([tmp_path])
    names = {p.name for j in jobs for p in j.sidecars}
    assert "a.R2.s3.mfscan.json" in names and not errors


def test_study_settings_round_trip_and_defaults(tmp_path):
    s = read_study_settings(tmp_path)
    assert s["blinded"] is False and s["pattern"] is None and s["orders"] == {}
    s.update(blinded=True, pattern="{subject}_V{visit}_{level}_{repeat}")
    write_study_settings(tmp_path, s)
    d = json.loads((tmp_path / "mfscan.study.json").read_text("utf-8"))
    assert d["format"] == "mfscan.study" and d["blinded"] is True
    assert read_study_settings(tmp_path)["pattern"] == "{subject}_V{visit}_{level}_{repeat}"
    files = [f"S{i}.png" for i in range(20)]
    order = random_order(files, seed=7)
    assert sorted(order) == sorted(files) and order == random_order(files, seed=7) and order != files


def test_code_disagreements_name_both_values_and_the_file(tmp_path):
    img = tmp_path / "S02_V2_L5_1.png"
    img.write_bytes(b"")
    sq = np.array([[10.0, 10.0], [10.0, 30.0], [30.0, 30.0], [30.0, 10.0]])
    other = write_sidecar(
        sidecar_path(img, "R1"),
        Annotation(image=img.name, rois=[ROI("left", sq)], subject="S02", visit="2", level="L5", rater="R1"),
    )
    got = code_disagreements({"subject": "S01", "visit": "2", "level": "l5"}, img)
    assert got == [{"field": "subject", "value": "S01", "other": "S02", "source": other}]
    pattern = code_disagreements(
        {"subject": "S02", "visit": "1", "level": "L5"},
        img,
        pattern="{subject}_V{visit}_{level}_{repeat}",
        relative_path=img.name,
    )
    assert {(p["field"], p["other"]) for p in pattern} >= {("visit", "2")}


def test_protocol_codes_prefer_the_raters_own_sidecar(tmp_path):
    from mfscan.annotations.codes import protocol_codes

    img = tmp_path / "p.png"
    img.write_bytes(b"")
    (tmp_path / "p.R1.mfscan.json").write_text(json.dumps({"image": "p.png", "rater": "R1", "task": "rest"}))
    (tmp_path / "p.R2.mfscan.json").write_text(
        json.dumps(
            {"image": "p.png", "rater": "R2", "task": "contracted", "trial": 2, "view": "parasagittal"}
        )
    )
    assert protocol_codes(img, "R2") == {"task": "contracted", "trial": "2", "view": "parasagittal"}
    assert protocol_codes(img, "R1") == {"task": "rest", "trial": "2", "view": "parasagittal"}
    assert protocol_codes(tmp_path / "other.png", "R1") == {}


def test_session_order_is_drawn_once_and_new_images_appended():
    from mfscan.annotations.study_file import order_key, session_order

    files = [f"S{i:02d}.png" for i in range(12)]
    entry, changed = session_order({}, "R1", "1", files, seed=11)
    assert changed and entry["seed"] == 11 and entry["order"] == random_order(files, 11)
    orders = {order_key("R1", "1"): {**entry, "done": ["S03.png"]}}
    again, changed = session_order(orders, "R1", "1", files)
    assert not changed and again["order"] == entry["order"] and again["done"] == ["S03.png"]
    more = [*files, "S12.png"]
    grown, changed = session_order(orders, "R1", "1", more)
    assert changed and grown["order"] == entry["order"] + ["S12.png"]
    assert orders[order_key("R1", "1")]["order"] == entry["order"]  # input not modified
