"""`mfscan propose`: the calibration rule, --mm-per-pixel, the refusal without a scale, and the merge."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from mfscan.annotations import ROI, Annotation, read_sidecar, write_sidecar
from mfscan.calibration import manual
from mfscan.cli import main
from mfscan.geometry import polygon_area
from mfscan.synthetic.phantom import make_phantom

SAMPLE = Path(__file__).parents[1] / "sample_data" / "study" / "S02" / "visit1"


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(seed=11)


@pytest.fixture()
def png(tmp_path, phantom):
    img = tmp_path / "scan.png"
    cv2.imwrite(str(img), phantom.image)
    return img


def _seed(ph, side):
    r, c = ph.seeds[side]
    return f"{side}:{r},{c}"


def _centroid(points, shape):
    from mfscan.measure import outline_mask

    box, m = outline_mask(points, shape)
    rr, cc = np.nonzero(m)
    return rr.mean() + box[0].start, cc.mean() + box[1].start


def test_sample_uses_its_scale_line_and_keeps_the_other_side(tmp_path, capsys):
    # the shipped sample S02_V1_L5_1 is a PNG calibrated by R1's scale line: 200 px = 50 mm
    shutil.copy(SAMPLE / "S02_V1_L5_1.png", tmp_path)
    sc = shutil.copy(SAMPLE / "S02_V1_L5_1.R1.mfscan.json", tmp_path)
    before = read_sidecar(sc)
    truth = {r.side: r for r in before.rois}
    seed = _centroid(truth["left"].points, (480, 640))
    img = tmp_path / "S02_V1_L5_1.png"
    assert main(["propose", str(img), "--seed", f"left:{seed[0]},{seed[1]}", "--rater", "R1"]) == 1
    assert "already has an outline for left (manual)" in capsys.readouterr().err
    assert main(["propose", str(img), "--seed", f"left:{seed[0]},{seed[1]}", "--rater", "R1", "--force"]) == 0
    out = capsys.readouterr().out
    after = read_sidecar(sc)
    assert after.calibration == before.calibration and after.calibration.row_mm == 50.0 / 200.0
    new = {r.side: r for r in after.rois}
    assert new["right"] == truth["right"] and new["left"].method == "proposed"
    csa_cm2 = polygon_area(new["left"].points) * 0.25 * 0.25 / 100  # px² x mm²/px² / 100
    assert f"left: CSA {csa_cm2:.2f} cm2" in out
    # with the image's own scale the outline stays in the muscle (the guessed 0.15 mm/px gave +56 %)
    true_cm2 = polygon_area(truth["left"].points) * 0.0625 / 100
    assert abs(csa_cm2 / true_cm2 - 1) < 0.15


def test_existing_manual_calibration_is_used_and_kept(tmp_path, png, phantom, capsys):
    write_sidecar(
        tmp_path / "scan.R1.mfscan.json", Annotation("scan.png", [], calibration=manual(0.3, 0.3), rater="R1")
    )
    assert main(["propose", str(png), "--seed", _seed(phantom, "left"), "--rater", "R1"]) == 0
    out = capsys.readouterr().out
    ann = read_sidecar(tmp_path / "scan.R1.mfscan.json")
    assert (ann.calibration.source, ann.calibration.row_mm, ann.calibration.col_mm) == ("manual", 0.3, 0.3)
    (roi,) = ann.rois
    assert f"left: CSA {polygon_area(roi.points) * 0.09 / 100:.2f} cm2" in out


@pytest.mark.parametrize("given, expected", [("0.2", (0.2, 0.2)), ("0.2,0.25", (0.2, 0.25))])
def test_mm_per_pixel_is_stored_as_manual(tmp_path, png, phantom, capsys, given, expected):
    assert main(["propose", str(png), "--seed", _seed(phantom, "left"), "--mm-per-pixel", given]) == 0
    out = capsys.readouterr().out
    ann = read_sidecar(tmp_path / "scan.mfscan.json")
    cal = ann.calibration
    assert cal.source == "manual" and (cal.row_mm, cal.col_mm) == expected
    (roi,) = ann.rois
    assert f"CSA {polygon_area(roi.points) * expected[0] * expected[1] / 100:.2f} cm2" in out


def test_uncalibrated_image_without_scale_is_refused(tmp_path, png, phantom, capsys):
    assert main(["propose", str(png), "--seed", _seed(phantom, "left")]) == 1
    err = capsys.readouterr().err
    assert "has no calibration" in err and "--mm-per-pixel" in err and "scan.png" in err
    assert not (tmp_path / "scan.mfscan.json").exists()


def _rich_sidecar(path):
    """A sidecar with codes, a calibration, unknown fields, a manual left outline at L4 and a
    right outline at another level (L5) and another in frame 0 at L4 by ImageJ."""
    d = {
        "format": "mfscan.annotation",
        "version": 1,
        "image": "scan.png",
        "calibration": {"row_mm": 0.2, "col_mm": 0.2, "source": "manual"},
        "subject": "P01",
        "visit": "2",
        "session": "s1",
        "level": "L4",
        "rater": "R1",
        "lab_note": {"probe": "C5-1", "kept": [1, 2]},
        "rois": [
            {
                "side": "left",
                "points": [[100, 400], [100, 450], [150, 450]],
                "method": "manual",
                "reviewer": "R9",
            },
            {"side": "right", "points": [[10, 10], [10, 40], [40, 40]], "level": "L5", "method": "imagej"},
        ],
    }
    path.write_text(json.dumps(d), encoding="utf-8")
    return d


def test_merge_keeps_everything_else(tmp_path, png, phantom, capsys):
    sc = tmp_path / "scan.R1.mfscan.json"
    d = _rich_sidecar(sc)
    # right has no outline at L4: proposed without --force; everything else is kept
    assert (
        main(["propose", str(png), "--seed", _seed(phantom, "right"), "--rater", "R1", "--level", "L4"]) == 0
    )
    out = json.loads(sc.read_text())
    for key in ("calibration", "subject", "visit", "session", "level", "rater", "lab_note"):
        assert out[key] == d[key], key
    assert out["rois"][:2] == d["rois"]
    assert out["rois"][2]["side"] == "right" and out["rois"][2]["method"] == "proposed"
    assert "level" not in out["rois"][2]  # the file's level (L4)
    # left has a manual outline at L4: refused without --force, naming the side; file unchanged
    before = sc.read_bytes()
    assert main(["propose", str(png), "--seed", _seed(phantom, "left"), "--rater", "R1"]) == 1
    assert "already has an outline for left (manual) at level L4" in capsys.readouterr().err
    assert sc.read_bytes() == before
    assert main(["propose", str(png), "--seed", _seed(phantom, "left"), "--rater", "R1", "--force"]) == 0
    out2 = json.loads(sc.read_text())
    assert out2["rois"][0]["side"] == "left" and out2["rois"][0]["method"] == "proposed"
    assert "reviewer" not in out2["rois"][0]  # the replaced outline's own fields go with it
    assert out2["rois"][1:] == out["rois"][1:] and out2["lab_note"] == d["lab_note"]
    assert out2["calibration"] == d["calibration"]


def test_merge_at_another_level_keeps_the_files_level(tmp_path, png, phantom):
    sc = tmp_path / "scan.R1.mfscan.json"
    d = _rich_sidecar(sc)
    assert (
        main(["propose", str(png), "--seed", _seed(phantom, "left"), "--rater", "R1", "--level", "L5"]) == 0
    )
    out = json.loads(sc.read_text())
    assert out["level"] == "L4" and out["rois"][:2] == d["rois"]
    assert out["rois"][2]["side"] == "left" and out["rois"][2]["level"] == "L5"


def test_merge_refuses_changing_the_scale_or_codes_silently(tmp_path, png, phantom, capsys):
    sc = tmp_path / "scan.R1.mfscan.json"
    _rich_sidecar(sc)
    before = sc.read_bytes()
    assert (
        main(
            [
                "propose",
                str(png),
                "--seed",
                _seed(phantom, "right"),
                "--rater",
                "R1",
                "--mm-per-pixel",
                "0.25",
            ]
        )
        == 1
    )
    assert "manual calibration is 0.2 x 0.2 mm/px" in capsys.readouterr().err
    assert (
        main(["propose", str(png), "--seed", _seed(phantom, "right"), "--rater", "R1", "--subject", "P02"])
        == 1
    )
    assert "subject is 'P01' but --subject 'P02'" in capsys.readouterr().err
    assert sc.read_bytes() == before
    # with --force the typed scale replaces the stored one (and is what the outline is measured with)
    assert (
        main(
            [
                "propose",
                str(png),
                "--seed",
                _seed(phantom, "right"),
                "--rater",
                "R1",
                "--mm-per-pixel",
                "0.25",
                "--force",
            ]
        )
        == 0
    )
    assert json.loads(sc.read_text())["calibration"] == {"row_mm": 0.25, "col_mm": 0.25, "source": "manual"}


def test_sidecar_of_another_image_is_not_merged(tmp_path, png, phantom, capsys):
    other = tmp_path / "other.json"
    write_sidecar(other, Annotation("elsewhere.png", [ROI("left", [[1, 1], [1, 5], [5, 5]])]))
    before = other.read_bytes()
    assert (
        main(
            ["propose", str(png), "--seed", _seed(phantom, "left"), "--mm-per-pixel", "0.2", "-o", str(other)]
        )
        == 1
    )
    assert "belongs to the image 'elsewhere.png'" in capsys.readouterr().err
    assert other.read_bytes() == before


def test_output_elsewhere_takes_and_stores_the_raters_scale(tmp_path, png, phantom, capsys):
    write_sidecar(
        tmp_path / "scan.R1.mfscan.json", Annotation("scan.png", [], calibration=manual(0.3, 0.3), rater="R1")
    )
    other = tmp_path / "other.json"
    assert (
        main(["propose", str(png), "--seed", _seed(phantom, "left"), "--rater", "R1", "-o", str(other)]) == 0
    )
    ann = read_sidecar(other)
    assert ann.calibration == manual(0.3, 0.3)
    assert f"left: CSA {polygon_area(ann.rois[0].points) * 0.09 / 100:.2f} cm2" in capsys.readouterr().out
