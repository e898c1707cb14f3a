"""THE merge rule of proposals (mfscan/annotations/merge.py), shared by propose and predict."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from mfscan.annotations import ROI, Annotation, read_sidecar, write_sidecar
from mfscan.annotations.merge import merge_rois, proposable, proposal_extra, same_place
from mfscan.calibration import manual
from mfscan.cli import main
from mfscan.errors import MfscanError
from mfscan.synthetic.phantom import make_phantom

SQUARE = [[10, 10], [10, 30], [30, 30], [30, 10]]


def _ann():
    return Annotation(
        image="scan.png",
        subject="S01",
        visit="2",
        level="L4",
        rater="R1",
        calibration=manual(0.25),
        rois=[
            ROI("left", SQUARE, method="manual"),
            ROI("right", SQUARE, method="manual", extra={"note": "keep me"}),
            ROI("left", SQUARE, level="L5", method="manual"),
            ROI("left", SQUARE, frame=3, method="manual"),
        ],
        extra={"custom": {"a": 1}},
    )


def test_same_place_uses_the_file_level_and_frame_zero():
    roi = ROI("left", SQUARE)  # no level, no frame: the file's level, frame 0
    assert same_place(roi, "L4", 0, "L4")
    assert not same_place(roi, "L5", 0, "L4")
    assert not same_place(roi, "L4", 1, "L4")


def test_merge_refuses_a_taken_side_without_force_and_names_it():
    with pytest.raises(MfscanError, match=r"left \(manual\)"):
        merge_rois(_ann(), [ROI("left", SQUARE, method="model")], frame=0)


def test_merge_replaces_only_that_side_level_and_frame():
    ann = _ann()
    new = ROI("left", [[1, 1], [1, 5], [5, 5]], method="model", extra={"model": "abc"})
    out = merge_rois(ann, [new], frame=0, force=True)
    assert len(out.rois) == 4
    assert out.rois[0] == new  # in the replaced outline's place
    assert out.rois[1:] == ann.rois[1:]  # right, L5 and frame 3 outlines untouched
    assert (out.subject, out.visit, out.level, out.rater) == ("S01", "2", "L4", "R1")
    assert out.calibration == manual(0.25) and out.extra == {"custom": {"a": 1}}
    assert ann.rois[0].method == "manual"  # the input is not modified


def test_merge_appends_a_new_side():
    ann = _ann()
    ann.rois = ann.rois[:1]
    out = merge_rois(ann, [ROI("right", SQUARE, method="model")], frame=0)
    assert [r.side for r in out.rois] == ["left", "right"]


def test_proposal_extra_holds_the_points_method_and_model():
    assert proposal_extra([[1, 2], [3, 4.5]], "model", "0123456789ab") == {
        "points": [[1.0, 2.0], [3.0, 4.5]],
        "method": "model",
        "model": "0123456789ab",
    }
    assert "model" not in proposal_extra(SQUARE, "proposed")


def test_propose_stores_the_proposal_bookkeeping(tmp_path):
    ph = make_phantom(seed=11)
    img = tmp_path / "scan.png"
    cv2.imwrite(str(img), ph.image)
    r, c = ph.seeds["left"]
    rc = main(["propose", str(img), "--seed", f"left:{r},{c}", "--rater", "R1", "--mm-per-pixel", "0.2"])
    assert rc == 0
    path = tmp_path / "scan.R1.mfscan.json"
    raw = json.loads(path.read_text())["rois"][0]
    assert raw["method"] == "proposed"
    assert raw["proposal"]["method"] == "proposed" and "model" not in raw["proposal"]
    assert np.array_equal(np.array(raw["proposal"]["points"]), np.array(raw["points"]))
    roi = read_sidecar(path).rois[0]  # read back: kept in ROI.extra, written back unchanged
    assert roi.extra["proposal"]["points"] == raw["points"]
    write_sidecar(path, read_sidecar(path), force=True)
    assert json.loads(path.read_text())["rois"][0]["proposal"] == raw["proposal"]


FAT = [[2.0, 20.0], [9.0, 20.0]]  # skin to fascia, a two-point line
THICK = [[40.0, 60.0], [25.0, 60.0]]  # deep landmark to the superficial border


def _lines_only():
    return Annotation(
        image="scan.png",
        level="L4",
        rater="R1",
        rois=[ROI("left", FAT, kind="fat"), ROI("right", THICK, kind="thickness")],
    )


def test_same_place_never_puts_an_outline_in_a_lines_place():
    assert not same_place(ROI("left", FAT, kind="fat"), "L4", 0, "L4")
    assert same_place(ROI("left", FAT, kind="fat"), "L4", 0, "L4", "fat")


@pytest.mark.parametrize("force", [False, True])
def test_merge_keeps_lines_and_proposes_the_sides_they_are_on(force):
    new = [ROI("left", SQUARE, method="proposed"), ROI("right", SQUARE, method="proposed")]
    out = merge_rois(_lines_only(), new, frame=0, force=force)
    assert [(r.side, r.kind) for r in out.rois] == [
        ("left", "fat"),
        ("right", "thickness"),
        ("left", "outline"),
        ("right", "outline"),
    ]
    assert np.array_equal(out.rois[0].points, FAT) and np.array_equal(out.rois[1].points, THICK)


def test_force_replaces_only_the_outline_of_the_proposed_side():
    ann = _lines_only()
    ann.rois += [ROI("left", SQUARE, method="manual"), ROI("right", SQUARE, method="manual")]
    new = ROI("left", [[1, 1], [1, 5], [5, 5]], method="proposed")
    with pytest.raises(MfscanError, match=r"outline for left \(manual\)"):
        merge_rois(ann, [new], frame=0)
    out = merge_rois(ann, [new], frame=0, force=True)
    assert out.rois[:2] == ann.rois[:2]  # both lines kept
    assert out.rois[2] == new and out.rois[3] == ann.rois[3]  # the right outline kept


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_propose_on_a_sidecar_of_lines_keeps_both_lines(tmp_path, force):
    ph = make_phantom(seed=11)
    img = tmp_path / "scan.png"
    cv2.imwrite(str(img), ph.image)
    sc = tmp_path / "scan.R1.mfscan.json"
    write_sidecar(sc, _lines_only())
    seeds = [a for s in ("left", "right") for a in ("--seed", f"{s}:{ph.seeds[s][0]},{ph.seeds[s][1]}")]
    rc = main(["propose", str(img), *seeds, "--rater", "R1", "--mm-per-pixel", "0.2", *force])
    assert rc == 0
    raw = json.loads(sc.read_text())["rois"]
    assert [(r["side"], r.get("kind", "outline")) for r in raw] == [
        ("left", "fat"),
        ("right", "thickness"),
        ("left", "outline"),
        ("right", "outline"),
    ]
    assert raw[0]["points"] == FAT and raw[1]["points"] == THICK


def test_proposable_keeps_a_traced_side_and_proposes_the_free_one():
    ann = _lines_only()
    ann.rois.append(ROI("left", SQUARE, method="manual"))
    new = [ROI("left", SQUARE, method="proposed"), ROI("right", SQUARE, method="proposed")]
    rois, notes = proposable(ann, new, frame=0)
    assert [r.side for r in rois] == ["right"]
    assert notes == ["left: already traced (manual), kept; --force replaces it"]
    assert proposable(ann, new, frame=0, force=True) == (new, [])
    with pytest.raises(MfscanError, match=r"already has an outline for left \(manual\) at level L4"):
        proposable(ann, new[:1], frame=0)  # the only proposed side is traced: refused


def test_propose_both_sides_with_one_traced_proposes_the_other_and_keeps_all(tmp_path, capsys):
    ph = make_phantom(seed=11)
    img = tmp_path / "scan.png"
    cv2.imwrite(str(img), ph.image)
    sc = tmp_path / "scan.R1.mfscan.json"
    ann = _lines_only()
    ann.rois.append(ROI("left", SQUARE, method="manual"))
    write_sidecar(sc, ann)
    seeds = [a for s in ("left", "right") for a in ("--seed", f"{s}:{ph.seeds[s][0]},{ph.seeds[s][1]}")]
    assert main(["propose", str(img), *seeds, "--rater", "R1", "--mm-per-pixel", "0.2"]) == 0
    assert "left: already traced (manual), kept; --force replaces it" in capsys.readouterr().out
    raw = json.loads(sc.read_text())["rois"]
    assert [(r["side"], r.get("kind", "outline"), r["method"]) for r in raw] == [
        ("left", "fat", "manual"),
        ("right", "thickness", "manual"),
        ("left", "outline", "manual"),
        ("right", "outline", "proposed"),
    ]
    assert raw[2]["points"] == SQUARE
