"""mfscan export-masks: masks by the centre-inside rule, label images, manifest, COCO, the CLI.

Expected values come from hand counts on squares, from the pixels written by
OpenCV and tifffile, from sidecars written with the json module and from the
DICOM header read by pydicom.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import tifffile
from badinput import tree_state

from mfscan import cli
from mfscan.io.tables import read_table
from mfscan.measure import outline_mask
from mfscan.measure.export import check_export_dir, export_masks
from mfscan.measure.masks import coco_polygon, label_image, outline_masks, roi_mask

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "study"

# A 10 x 10 px square whose corners lie on pixel centres (ties): the half-open rule keeps
# pixel-centre rows 10..19 (y in [10, 20)) and columns 11..20 (a centre is inside when an odd
# number of edge crossings lie strictly left of it: crossings at x = 10 and x = 20).
TIE_SQUARE = [[10, 10], [10, 20], [20, 20], [20, 10]]
# The same square moved by half a pixel: no centre on its border, rows and columns 11..20.
SQUARE = [[10.5, 10.5], [10.5, 20.5], [20.5, 20.5], [20.5, 10.5]]
RIGHT_SQUARE = [[10.5, 30.5], [10.5, 36.5], [16.5, 36.5], [16.5, 30.5]]  # rows/cols 11..16: 36 px


def sidecar(image: str, rois, **fields) -> str:
    d = {
        "format": "mfscan.annotation",
        "version": 1,
        "image": image,
        **fields,
        "rois": [
            {"side": s, "points": p, **extra} for s, p, *rest in rois for extra in [rest[0] if rest else {}]
        ],
    }
    return json.dumps(d)


def make_study(root: Path, *, n=2, rois=None, calibration=None, **fields) -> list[np.ndarray]:
    """`n` random 8-bit PNGs written by OpenCV, each with one sidecar of rater R1."""
    folder = root / "P007" / "visit01"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    arrays = []
    for i in range(n):
        a = rng.integers(0, 256, (40, 50), dtype=np.uint8)
        assert cv2.imwrite(str(folder / f"scan{i}.png"), a)
        cal = {"calibration": calibration} if calibration else {}
        meta = {"subject": "007", "visit": "01", "level": "l5", "rater": "R1", **cal, **fields}
        (folder / f"scan{i}.R1.mfscan.json").write_text(
            sidecar(f"scan{i}.png", rois or [("left", SQUARE), ("right", RIGHT_SQUARE)], **meta), "utf-8"
        )
        arrays.append(a)
    return arrays


def run(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return rc, out, err


# --------------------------------------------------------------------------- masks


def test_square_mask_has_the_hand_counted_centre_inside_pixels():
    m = roi_mask(TIE_SQUARE, (40, 40))
    expected = np.zeros((40, 40), bool)
    expected[10:20, 11:21] = True
    assert m.sum() == 100 and np.array_equal(m, expected)
    box, patch = outline_mask(TIE_SQUARE, (40, 40))  # the echo-intensity rule, placed by hand
    full = np.zeros((40, 40), bool)
    full[box] = patch
    assert np.array_equal(m, full)
    m2 = roi_mask(SQUARE, (40, 40))
    expected = np.zeros((40, 40), bool)
    expected[11:21, 11:21] = True
    assert np.array_equal(m2, expected)
    from skimage.draw import polygon2mask  # another program's rasteriser, no ties here

    assert np.array_equal(m2, polygon2mask((40, 40), np.asarray(SQUARE)))


def test_label_image_marks_left_1_right_2_and_overlap_3():
    from mfscan.annotations import from_dict

    ann = from_dict(json.loads(sidecar("x.png", [("left", SQUARE), ("right", RIGHT_SQUARE)])))
    masks = outline_masks(ann, (40, 50))
    assert set(masks) == {"left", "right"} and masks["left"].sum() == 100 and masks["right"].sum() == 36
    lab = label_image(masks)
    assert lab.dtype == np.uint8
    assert np.array_equal(lab == 1, masks["left"]) and np.array_equal(lab == 2, masks["right"])
    assert (lab == 0).sum() == 40 * 50 - 136
    # a right square over the left one's corner: rows and columns 16..20 are both, 5 x 5 px
    over = {
        "left": roi_mask(SQUARE, (40, 50)),
        "right": roi_mask([[15.5, 15.5], [15.5, 25.5], [25.5, 25.5], [25.5, 15.5]], (40, 50)),
    }
    lab = label_image(over)
    assert (lab == 3).sum() == 25 and np.all(lab[16:21, 16:21] == 3)
    assert (lab == 1).sum() == 75 and (lab == 2).sum() == 75
    with pytest.raises(ValueError):
        label_image({})
    assert label_image({}, (3, 4)).sum() == 0


def test_outline_masks_keep_their_frame_and_name_a_bad_roi():
    from mfscan.annotations import from_dict
    from mfscan.errors import MeasurementError

    ann = from_dict(json.loads(sidecar("x.png", [("left", SQUARE, {"frame": 2}), ("right", RIGHT_SQUARE)])))
    assert set(outline_masks(ann, (40, 50), frame=2)) == {"left"}
    assert set(outline_masks(ann, (40, 50))) == {"right"}
    bad = from_dict(json.loads(sidecar("x.png", [("left", [[1, 1], [1, 90], [9, 9]])])))
    with pytest.raises(MeasurementError, match=r"ROI 0 \(left\).*outside the 40x50 image"):
        outline_masks(bad, (40, 50))


def test_coco_polygon_is_x_col_y_row_plus_half_a_pixel():
    assert coco_polygon(TIE_SQUARE) == [10.5, 10.5, 20.5, 10.5, 20.5, 20.5, 10.5, 20.5]
    assert coco_polygon([[1, 7], [2, 9], [4, 5]]) == [7.5, 1.5, 9.5, 2.5, 5.5, 4.5]


# --------------------------------------------------------------------------- export


def test_export_writes_the_pixels_masks_and_the_sidecar_codes(tmp_path):
    arrays = make_study(
        tmp_path / "study", calibration={"row_mm": 0.3, "col_mm": 0.35, "source": "manual"}, session="2"
    )
    res = export_masks([tmp_path / "study"], tmp_path / "out", coco=True)
    assert res.errors.empty and len(res.manifest) == 2
    m = read_table(tmp_path / "out" / "manifest.csv")
    assert list(m["subject"]) == ["007", "007"] and list(m["visit"]) == ["01", "01"]
    assert list(m["level"].astype(str)) == ["L5", "L5"] and list(m["rater"]) == ["R1", "R1"]
    assert list(m["session"]) == ["2", "2"] and list(m["sides"]) == ["left;right"] * 2
    assert m["row_mm"].tolist() == [0.3, 0.3] and m["col_mm"].tolist() == [0.35, 0.35]
    assert list(m["calibration"]) == ["manual", "manual"]
    assert m["n_pixels_left"].tolist() == [100, 100] and m["n_pixels_right"].tolist() == [36, 36]
    assert m["n_pixels_overlap"].tolist() == [0, 0] and m["frame"].tolist() == [0, 0]
    assert m["image"].iloc[1] == "images/P007/visit01/scan1.png"
    assert m["mask_left"].iloc[1] == "masks/P007/visit01/scan1.R1_left.png"
    assert m["sidecar"].iloc[1] == "P007/visit01/scan1.R1.mfscan.json"
    for i, row in m.iterrows():
        gray = cv2.imread(str(tmp_path / "out" / row["image"]), cv2.IMREAD_UNCHANGED)
        assert gray.dtype == np.uint8 and np.array_equal(gray, arrays[i])
        left = cv2.imread(str(tmp_path / "out" / row["mask_left"]), cv2.IMREAD_UNCHANGED)
        assert set(np.unique(left)) == {0, 255} and np.all(left[11:21, 11:21] == 255)
        assert (left == 255).sum() == 100
        lab = cv2.imread(str(tmp_path / "out" / row["labels"]), cv2.IMREAD_UNCHANGED)
        assert (lab == 1).sum() == 100 and (lab == 2).sum() == 36 and np.all(lab[11:17, 31:37] == 2)
    coco = json.loads((tmp_path / "out" / "coco.json").read_text("utf-8"))
    assert [c["name"] for c in coco["categories"]] == ["left", "right"]
    assert len(coco["images"]) == 2 and len(coco["annotations"]) == 4
    a = coco["annotations"][0]
    assert a["category_id"] == 1 and a["area"] == pytest.approx(100.0)  # 10 x 10 px square
    assert a["segmentation"] == [[11.0, 11.0, 21.0, 11.0, 21.0, 21.0, 11.0, 21.0]]
    assert a["bbox"] == [11.0, 11.0, 10.0, 10.0]
    assert coco["annotations"][1]["area"] == pytest.approx(36.0)
    assert coco["images"][0]["width"] == 50 and coco["images"][0]["height"] == 40


def test_tiff_export_keeps_16_bit_values_and_frames(tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    rng = np.random.default_rng(5)
    cine = rng.integers(0, 65536, (3, 40, 50), dtype=np.uint16)
    tifffile.imwrite(folder / "cine.tif", cine, photometric="minisblack")
    (folder / "cine.mfscan.json").write_text(
        sidecar(
            "cine.tif",
            [("left", SQUARE, {"frame": 2}), ("right", RIGHT_SQUARE, {"frame": 1})],
            subject="S1",
            level="L4",
        ),
        "utf-8",
    )
    res = export_masks([folder], tmp_path / "out", fmt="tiff")
    assert res.errors.empty
    m = res.manifest
    assert m["frame"].tolist() == [1, 2] and m["sides"].tolist() == ["right", "left"]
    assert m["image"].tolist() == ["images/cine_f0001.tif", "images/cine_f0002.tif"]
    assert pd.isna(m["mask_left"].iloc[0]) and m["mask_right"].iloc[0] == "masks/cine_f0001_right.tif"
    assert m["calibration"].tolist() == ["none", "none"] and m["row_mm"].isna().all()
    for k, frame in enumerate((1, 2)):
        gray = tifffile.imread(tmp_path / "out" / m["image"].iloc[k])
        assert gray.dtype == np.uint16 and np.array_equal(gray, cine[frame])
    lab = tifffile.imread(tmp_path / "out" / m["labels"].iloc[1])
    assert (lab == 1).sum() == 100 and (lab == 2).sum() == 0  # the right outline is on frame 1
    assert not (tmp_path / "out" / "masks" / "cine_f0002_right.tif").exists()  # untraced: no file


def test_overlap_is_labelled_3_and_counted(tmp_path):
    make_study(
        tmp_path / "study",
        n=1,
        rois=[("left", SQUARE), ("right", [[15.5, 15.5], [15.5, 25.5], [25.5, 25.5], [25.5, 15.5]])],
    )
    res = export_masks([tmp_path / "study"], tmp_path / "out")
    assert res.manifest["n_pixels_overlap"].tolist() == [25]
    lab = cv2.imread(str(tmp_path / "out" / res.manifest["labels"].iloc[0]), cv2.IMREAD_UNCHANGED)
    assert (lab == 3).sum() == 25 and np.all(lab[16:21, 16:21] == 3)


def test_a_bad_outline_is_listed_and_the_other_side_written(tmp_path):
    make_study(tmp_path / "study", n=1, rois=[("left", [[1, 1], [1, 90], [9, 9]]), ("right", RIGHT_SQUARE)])
    res = export_masks([tmp_path / "study"], tmp_path / "out")
    assert res.manifest["sides"].tolist() == ["right"] and pd.isna(res.manifest["mask_left"].iloc[0])
    assert res.errors["roi"].tolist() == [0]
    assert "ROI 0 (left)" in res.errors["reason"].iloc[0] and "outside" in res.errors["reason"].iloc[0]


def test_output_inside_or_equal_to_the_study_is_refused(tmp_path, capsys):
    from mfscan.errors import MfscanError

    make_study(tmp_path / "study", n=1)
    before = tree_state(tmp_path / "study")
    for out in (tmp_path / "study", tmp_path / "study" / "P007" / "export", tmp_path / "study" / "."):
        rc, _, err = run(capsys, "export-masks", tmp_path / "study", "-o", out, "--no-progress")
        assert rc == 1 and "refusing to export into the study folder" in err
    one = tmp_path / "study" / "P007" / "visit01" / "scan0.png"
    with pytest.raises(MfscanError, match="export into the study folder"):
        export_masks([one], one.parent)  # one image: its own folder is the study
    assert tree_state(tmp_path / "study") == before
    shutil.copytree(tmp_path / "study", tmp_path / "x" / "masks")  # a study called 'masks'
    with pytest.raises(MfscanError, match="lies in the output's images/masks/labels folders"):
        check_export_dir(tmp_path / "x", [tmp_path / "x" / "masks"])
    with pytest.raises(MfscanError, match="lies in the output's"):
        check_export_dir(tmp_path / "x", [tmp_path / "x" / "masks" / "P007"])
    assert check_export_dir(tmp_path / "x", [tmp_path / "study"]) == tmp_path / "x"  # beside: fine
    (tmp_path / "afile").write_text("x")
    with pytest.raises(MfscanError, match="is a file"):
        check_export_dir(tmp_path / "afile", [tmp_path / "study"])
    assert tree_state(tmp_path / "study") == before
    assert check_export_dir(tmp_path / "elsewhere", [tmp_path / "study"]) == tmp_path / "elsewhere"


def test_a_broken_image_lands_in_errors_csv_and_the_others_are_written(tmp_path, capsys):
    make_study(tmp_path / "study", n=3)
    bad = tmp_path / "study" / "P007" / "visit01" / "scan1.png"
    bad.write_bytes(bad.read_bytes()[:60])  # truncated PNG
    rc, out, err = run(capsys, "export-masks", tmp_path / "study", "-o", tmp_path / "out", "--no-progress")
    assert rc == 1
    errors = pd.read_csv(tmp_path / "out" / "errors.csv", dtype=str)
    assert errors["path"].tolist() == ["P007/visit01/scan1.png"]
    m = read_table(tmp_path / "out" / "manifest.csv")
    assert m["source_image"].tolist() == ["P007/visit01/scan0.png", "P007/visit01/scan2.png"]
    assert (tmp_path / "out" / "labels" / "P007" / "visit01" / "scan2.R1.png").is_file()
    assert not (tmp_path / "out" / "images" / "P007" / "visit01" / "scan1.png").exists()
    # fixed: the next run succeeds and removes the stale error list
    cv2.imwrite(str(bad), np.zeros((40, 50), np.uint8))
    rc, _, _ = run(capsys, "export-masks", tmp_path / "study", "-o", tmp_path / "out", "--no-progress")
    assert rc == 0 and not (tmp_path / "out" / "errors.csv").exists()


def test_cli_on_the_sample_study_writes_one_row_per_sidecar(tmp_path, capsys):
    import pydicom

    from mfscan.measure.batch import measure_paths

    study = tmp_path / "study"
    shutil.copytree(SAMPLE, study)
    for rusi in list(study.rglob("rusi")):  # parasagittal thickness lines: no outline, no mask
        shutil.rmtree(rusi)
    sidecars = sorted(p.relative_to(study).as_posix() for p in study.rglob("*.mfscan.json"))
    images = sorted(p for p in study.rglob("*") if p.suffix in (".png", ".dcm"))
    assert len(sidecars) == 109 and len(images) == 37
    before = tree_state(study)
    rc, out, _ = run(capsys, "export-masks", study, "-o", tmp_path / "out", "--coco", "--no-progress")
    assert rc == 0 and "109 label image(s) from 37 image(s)" in out
    m = read_table(tmp_path / "out" / "manifest.csv")
    assert sorted(m["sidecar"]) == sidecars
    assert len(list((tmp_path / "out" / "images").rglob("*.png"))) == 37
    assert len(list((tmp_path / "out" / "labels").rglob("*.png"))) == 109
    coco = json.loads((tmp_path / "out" / "coco.json").read_text("utf-8"))
    assert len(coco["images"]) == 109 and len(coco["annotations"]) == 218
    for sc in sidecars[::10]:  # codes as the sidecar (read with json) has them
        d = json.loads((study / sc).read_text("utf-8"))
        row = m[m["sidecar"] == sc].iloc[0]
        assert (row["subject"], row["rater"], str(row["level"])) == (d["subject"], d["rater"], d["level"])
        if d.get("calibration", {}).get("source") == "scale-line":
            assert row["row_mm"] == d["calibration"]["row_mm"]
    ds = pydicom.dcmread(study / "dicom" / "S01_V1_L4_dicom.dcm")
    row = m[m["sidecar"] == "dicom/S01_V1_L4_dicom.R1.mfscan.json"].iloc[0]
    assert row["calibration"] == "dicom-region"
    assert row["row_mm"] == pytest.approx(ds.SequenceOfUltrasoundRegions[0].PhysicalDeltaY * 10)
    gray = cv2.imread(str(tmp_path / "out" / row["image"]), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(gray, ds.pixel_array)
    # the same pixels as the echo intensity of `mfscan measure` (grayscale sources: nothing excluded)
    meas = measure_paths([study], workers=1, progress=False).measurements
    for side in ("left", "right"):
        n = meas[meas["side"] == side].set_index("sidecar")["n_pixels"]
        assert (m.set_index("sidecar")[f"n_pixels_{side}"] == n.reindex(m["sidecar"]).to_numpy()).all()
    assert tree_state(study) == before


def test_split_screen_regions_give_each_scale_or_mixed(tmp_path):
    from mfscan.synthetic.dicom import write_us_dicom

    folder = tmp_path / "study"
    folder.mkdir()
    pixels = np.random.default_rng(1).integers(0, 256, (40, 50), dtype=np.uint8)
    for name, deltas in (("same", (0.02, 0.02)), ("split", (0.02, 0.03))):
        write_us_dicom(
            folder / f"{name}.dcm",
            pixels,
            regions=[
                {"bounds": (0, 0, 39, 24), "delta_cm": (deltas[0], deltas[0])},
                {"bounds": (0, 25, 39, 49), "delta_cm": (deltas[1], deltas[1])},
            ],
        )
        (folder / f"{name}.mfscan.json").write_text(
            sidecar(f"{name}.dcm", [("left", SQUARE), ("right", [[10.5, 30.5], [10.5, 40.5], [20.5, 40.5]])]),
            "utf-8",
        )
    res = export_masks([folder], tmp_path / "out")
    assert res.errors.empty
    m = res.manifest.set_index("sidecar")
    assert m.loc["same.mfscan.json", "row_mm"] == pytest.approx(0.2)
    assert m.loc["same.mfscan.json", "calibration"] == "dicom-region"
    assert m.loc["split.mfscan.json", "calibration"] == "mixed"  # 0.2 and 0.3 mm/px: no single scale
    assert np.isnan(m.loc["split.mfscan.json", "row_mm"])


def test_changed_images_duplicates_and_levels(tmp_path):
    make_study(tmp_path / "study", n=2, rois=[("left", SQUARE), ("right", RIGHT_SQUARE, {"level": "L4"})])
    folder = tmp_path / "study" / "P007" / "visit01"
    d = json.loads((folder / "scan0.R1.mfscan.json").read_text("utf-8"))
    (folder / "scan0.R1.mfscan.json").write_text(json.dumps({**d, "image_sha256": "0" * 64}), "utf-8")
    shutil.copy(folder / "scan1.R1.mfscan.json", folder / "scan1.R1 (copy).mfscan.json")
    res = export_masks([tmp_path / "study"], tmp_path / "out")
    reasons = dict(zip(res.errors["path"], res.errors["reason"]))
    assert "checksum does not match" in reasons["P007/visit01/scan0.R1.mfscan.json"]
    assert "same rater R1" in reasons["P007/visit01/scan1.R1 (copy).mfscan.json"]
    m = res.manifest  # scan1 only: its left outline is L5 (the file's level), the right one L4
    assert list(m["level"].astype(str)) == ["L4", "L5"] and list(m["sides"]) == ["right", "left"]
    assert list(m["labels"]) == ["labels/P007/visit01/scan1.R1_L4.png", "labels/P007/visit01/scan1.R1_L5.png"]
    assert list(m["image"]) == ["images/P007/visit01/scan1.png"] * 2
