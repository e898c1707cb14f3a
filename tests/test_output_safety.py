"""Outputs that cannot hurt the person who opens them (issue 19 §3).

* CSV formula injection: a text cell that starts with ``= + - @``, a tab or a carriage
  return gets a leading ``'`` (OWASP), in every table every command writes; numbers,
  including negative ones, stay numbers.
* Links out of the study: an image or sidecar that is a symbolic link resolving outside
  the folder being searched is refused with a message, never measured.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from mfscan.annotations import ROI, Annotation, find_sidecars, write_sidecar
from mfscan.calibration import manual
from mfscan.cli import main

FORMULA = '=HYPERLINK("http://example.invalid/x","click")'
BAD_NAME = "=cmd|' calc'!A0.png"
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _image(path: Path, value: int = 90) -> Path:
    cv2.imwrite(str(path), np.full((100, 120), value, np.uint8))
    return path


def _annotate(image: Path, subject: str, *, left=(10, 50), right=(10, 40)) -> None:
    """Two rectangles: the left 50 x 40 px, the right 30 x 40 px at 0.1 mm (0.2 and 0.12 cm2)."""
    l0, l1 = left
    r0, r1 = right
    write_sidecar(
        image.with_name(image.stem + ".mfscan.json"),
        Annotation(
            image.name,
            [
                ROI("left", [[l0, 10], [l0, 50], [l1 + 10, 50], [l1 + 10, 10]]),
                ROI("right", [[r0, 60], [r0, 100], [r1, 100], [r1, 60]]),
            ],
            calibration=manual(0.1),
            subject=subject,
            visit="1",
            level="L4",
            rater="R1",
        ),
    )


def _csv_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _assert_no_formula(path: Path) -> int:
    """Every cell of a CSV that starts with a trigger is a number; returns the count of numbers
    that start with ``-`` (so a test can check negative numbers were seen)."""
    negatives = 0
    for r, row in enumerate(_csv_rows(path)):
        for c, cell in enumerate(row):
            if cell.startswith(TRIGGERS):
                assert _is_number(cell), f"{path.name} row {r} col {c}: {cell!r} would run as a formula"
                negatives += cell.startswith("-")
    return negatives


@pytest.fixture
def hostile_study(tmp_path):
    study = tmp_path / "study"
    study.mkdir()
    _annotate(_image(study / BAD_NAME), FORMULA)
    _annotate(_image(study / "b.png", 120), "@SUM(1+1)*cmd")
    return study


def test_measure_neutralises_formula_cells_and_keeps_numbers(hostile_study, tmp_path):
    out = tmp_path / "m.csv"
    assert main(["measure", str(hostile_study), "-o", str(out), "--no-progress", "--workers", "1"]) == 0
    rows = _csv_rows(out)
    head = rows[0]
    body = [dict(zip(head, r)) for r in rows[1:]]
    by_image = {r["image"]: r for r in body if r["side"] == "left"}
    assert set(by_image) == {"'" + BAD_NAME, "b.png"}
    assert by_image["'" + BAD_NAME]["subject"] == "'" + FORMULA
    assert by_image["b.png"]["subject"] == "'@SUM(1+1)*cmd"
    assert by_image["'" + BAD_NAME]["sidecar"] == "'=cmd|' calc'!A0.mfscan.json"
    # 50 x 40 px at 0.1 mm = 0.2 cm2: numbers stay numbers
    assert float(by_image["b.png"]["csa_cm2"]) == pytest.approx(0.2)
    _assert_no_formula(out)


def test_report_tables_are_neutralised_and_read_back_once(hostile_study, tmp_path):
    out = tmp_path / "report"
    code = main(
        ["report", str(hostile_study), "-o", str(out), "--no-progress", "--workers", "1", "--index", "index"]
    )
    assert code == 0
    tables = sorted(out.glob("*.csv"))
    assert {"measurements.csv", "images.csv", "asymmetry.csv", "side_summary.csv"} <= {p.name for p in tables}
    negatives = sum(_assert_no_formula(p) for p in tables)
    # left 0.2 cm2 > right 0.12 cm2: the signed index (right-left)/mean x 100 = -50 is a number
    assert negatives > 0
    asym = [dict(zip(_csv_rows(out / "asymmetry.csv")[0], r)) for r in _csv_rows(out / "asymmetry.csv")[1:]]
    row = next(r for r in asym if r["subject"] == "'" + FORMULA)
    index_cols = [c for c in row if c.startswith("asymmetry") and row[c].startswith("-")]
    assert index_cols and float(row[index_cols[0]]) == pytest.approx(-50.0)
    images = {r[0] for r in _csv_rows(out / "images.csv")[1:]}
    assert "'" + BAD_NAME in images
    # a table read back (mfscan asymmetry) gets the codes without the quote, written once again
    again = tmp_path / "asym.csv"
    assert main(["asymmetry", str(out / "measurements.csv"), "-o", str(again)]) == 0
    subjects = {r[0] for r in _csv_rows(again)[1:]}
    assert "'" + FORMULA in subjects and "''" + FORMULA not in subjects
    _assert_no_formula(again)


def test_check_and_error_tables_are_neutralised(hostile_study, tmp_path):
    _annotate(_image(tmp_path / "+orphan.png"), "-x")
    (tmp_path / "+orphan.mfscan.json").replace(hostile_study / "+orphan.mfscan.json")  # image missing
    check_csv = tmp_path / "check.csv"
    assert main(["check", str(hostile_study), "--csv", str(check_csv)]) == 1
    cells = [c for row in _csv_rows(check_csv) for c in row]
    assert "'+orphan.mfscan.json" in cells
    _assert_no_formula(check_csv)
    out = tmp_path / "m.csv"
    assert main(["measure", str(hostile_study), "-o", str(out), "--no-progress", "--workers", "1"]) == 1
    errors = _csv_rows(tmp_path / "errors.csv")
    assert [r[0] for r in errors[1:]] == ["'+orphan.mfscan.json"]
    _assert_no_formula(tmp_path / "errors.csv")


def test_agreement_reliability_and_export_tables_are_neutralised(hostile_study, tmp_path):
    """Two raters on the same images: the tables of agreement, reliability and export-masks
    carry subject codes and image names too."""
    import shutil

    for sc in sorted(hostile_study.glob("*.mfscan.json")):
        text = sc.read_text().replace('"rater": "R1"', '"rater": "R2"')
        sc.with_name(sc.name.replace(".mfscan.json", ".R2.mfscan.json")).write_text(text)
        shutil.move(sc, sc.with_name(sc.name.replace(".mfscan.json", ".R1.mfscan.json")))
    out = tmp_path / "agree.csv"
    assert (
        main(["agreement", str(hostile_study), "-o", str(out), "--summary", str(tmp_path / "sum.csv")]) == 0
    )
    cells = {c for row in _csv_rows(out) for c in row}
    assert "'" + BAD_NAME in cells and "'" + FORMULA in cells
    _assert_no_formula(out)
    _assert_no_formula(tmp_path / "sum.csv")
    m = tmp_path / "m.csv"
    assert main(["measure", str(hostile_study), "-o", str(m), "--no-progress", "--workers", "1"]) == 0
    rel = tmp_path / "rel.csv"
    assert main(["reliability", str(m), "--between", "rater", "-o", str(rel)]) == 0
    _assert_no_formula(rel)
    masks = tmp_path / "masks"
    assert main(["export-masks", str(hostile_study), "-o", str(masks), "--no-progress"]) == 0
    manifest = _csv_rows(masks / "manifest.csv")
    assert any(c.startswith("'" + BAD_NAME) or c.startswith("'=cmd") for row in manifest for c in row)
    _assert_no_formula(masks / "manifest.csv")


# ---------------------------------------------------------------- links out of the study


@pytest.fixture
def linked_study(tmp_path):
    """A study with one real image, an image linked to a file outside and a real image whose
    sidecar is linked to a sidecar outside; the outside files are bright (200) so their pixels
    would show in echo_mean and in qc/."""
    study, outside = tmp_path / "study", tmp_path / "outside"
    study.mkdir()
    outside.mkdir()
    _annotate(_image(study / "real.png"), "S1")
    _image(outside / "secret.png", 200)
    os.symlink(outside / "secret.png", study / "linked.png")
    _annotate(_image(tmp_path / "linked.png"), "S2")  # a regular sidecar for the linked image
    (tmp_path / "linked.mfscan.json").replace(study / "linked.mfscan.json")
    _image(study / "other.png", 60)
    _annotate(_image(outside / "other.png", 60), "S3")
    os.symlink(outside / "other.mfscan.json", study / "other.mfscan.json")
    os.symlink(study / "real.png", study / "inside_link.png")  # a link inside the study is fine
    _annotate(study / "inside_link.png", "S4")
    return study


def test_measure_refuses_links_leading_out_of_the_study(linked_study, tmp_path):
    out = tmp_path / "m.csv"
    assert main(["measure", str(linked_study), "-o", str(out), "--no-progress", "--workers", "1"]) == 1
    rows = _csv_rows(out)
    measured = {r[0] for r in rows[1:]}
    assert measured == {"real.png", "inside_link.png"}
    errors = {r[0]: r[2] for r in _csv_rows(tmp_path / "errors.csv")[1:]}
    assert set(errors) == {"linked.png", "other.mfscan.json"}
    assert "symbolic link" in errors["linked.png"] and "secret.png" in errors["linked.png"]
    assert "outside" in errors["other.mfscan.json"]


def test_report_copies_no_pixels_from_outside(linked_study, tmp_path):
    out = tmp_path / "report"
    assert main(["report", str(linked_study), "-o", str(out), "--no-progress", "--workers", "1"]) == 1
    qc = sorted(p.name for p in (out / "qc").rglob("*.png"))
    assert qc and not any("linked" in n or "other" in n for n in qc)
    subjects = {r[2] for r in _csv_rows(out / "measurements.csv")[1:]}
    assert subjects == {"S1", "S4"}


def test_check_and_named_image_refuse_outside_sidecars(linked_study, capsys):
    assert main(["check", str(linked_study)]) == 1
    assert "other.mfscan.json" in capsys.readouterr().out
    # an image named on the command line: its sidecar linked outside its folder is refused
    from mfscan.measure.discover import discover

    jobs, errors = discover([linked_study / "other.png"])
    assert jobs == [] and [Path(e["path"]).name for e in errors] == ["other.mfscan.json"]
    assert find_sidecars(linked_study / "other.png") == []
    assert find_sidecars(linked_study / "real.png") == [linked_study / "real.mfscan.json"]


def test_sidecar_naming_an_image_that_links_outside(tmp_path):
    from mfscan.measure.discover import discover

    study, outside = tmp_path / "study", tmp_path / "outside"
    study.mkdir()
    outside.mkdir()
    _image(outside / "x.png", 200)
    os.symlink(outside / "x.png", study / "scan.png")
    _annotate(_image(tmp_path / "y.png"), "S1")
    text = (tmp_path / "y.mfscan.json").read_text().replace('"y.png"', '"scan.png"')
    (study / "annotation.mfscan.json").write_text(text)  # matched by its image field only
    jobs, errors = discover([study / "annotation.mfscan.json"])
    assert jobs == [] and "symbolic link" in errors[0]["reason"]


def test_worklist_leaves_out_links_outside(linked_study):
    pytest.importorskip("mfscan_napari")
    from mfscan_napari._model.worklist import Worklist

    wl = Worklist.from_folder(linked_study)
    assert sorted(p.name for p in wl.images) == ["inside_link.png", "other.png", "real.png"]


def test_widget_rest_lookup_reads_nothing_from_outside(tmp_path):
    """The widget's change-vs-rest lookup searches the image's folder for rest sidecars: one
    linked in from outside (or one whose image links outside) is not read."""
    pytest.importorskip("mfscan_napari")
    from mfscan_napari._model.contraction import RestLookup

    from mfscan.annotations import sidecar_path

    study, outside = tmp_path / "study", tmp_path / "outside"
    study.mkdir()
    outside.mkdir()

    def rest_sidecar(folder: Path, image_name: str, rater: str) -> Path:
        sc = sidecar_path(folder / image_name, rater)
        write_sidecar(
            sc,
            Annotation(
                image=image_name,
                subject="P01",
                visit="1",
                level="L4",
                rater=rater,
                task="rest",
                calibration=manual(0.25),
                rois=[ROI("left", [[10.0, 50.0], [50.0, 50.0]], kind="thickness")],  # 40 px: 1.0 cm
            ),
        )
        return sc

    contracted = Annotation(
        image="c.png", subject="P01", visit="1", level="L4", rater="R1", task="contracted"
    )
    row = {"level": "L4", "side": "left", "m": {"thickness_cm": 1.2}}
    _image(outside / "rest.png", 120)
    os.symlink(rest_sidecar(outside, "rest.png", "R1"), sidecar_path(study / "rest.png", "R1"))
    os.symlink(outside / "rest.png", study / "rest.png")
    _text, pct = RestLookup(study / "c.png")(contracted, row)
    assert pct is None  # neither the linked sidecar nor the linked image is read
    _image(study / "rest2.png", 120)
    rest_sidecar(study, "rest2.png", "R1")  # a rest inside the folder is used: (1.2 - 1.0) / 1.0
    _text, pct = RestLookup(study / "c.png")(contracted, row)
    assert pct == pytest.approx(20.0)


def test_a_table_is_never_written_to_a_json_name(tmp_path):
    # sidecars, the study file and model cards are JSON: a mistyped -o must not replace one
    import json

    import pandas as pd

    from mfscan.errors import MfscanError
    from mfscan.io.tables import write_table

    card = tmp_path / "model_card.json"
    card.write_text(json.dumps({"model": "unet"}))
    with pytest.raises(MfscanError, match="give the output a .csv name"):
        write_table(pd.DataFrame({"a": [1]}), card)
    assert json.loads(card.read_text()) == {"model": "unet"}
    with pytest.raises(MfscanError, match="give the output a .csv name"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "mfscan-study.json")
    assert not (tmp_path / "mfscan-study.json").exists()
