"""import-imagej checks the typed codes by the sidecar reader's own rule, and never writes a
sidecar that ``measure`` would refuse (issue 19 §4); the reader refuses what cannot be a code."""

import json

import cv2
import numpy as np
import pytest
import roifile

from mfscan.annotations import Annotation, read_sidecar, sidecar_path, write_sidecar
from mfscan.cli import main
from mfscan.errors import AnnotationError


@pytest.fixture
def files(tmp_path):
    img = tmp_path / "scan.png"
    cv2.imwrite(str(img), np.zeros((60, 80), np.uint8))
    roi = tmp_path / "left.roi"
    roifile.ImagejRoi.frompoints(np.array([[10, 10], [40, 10], [40, 30], [10, 30]]), name="left").tofile(roi)
    return img, roi


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--level", "L9", "unknown vertebral level 'L9'"),
        ("--rater", "../../x", "rater code '../../x' may contain only letters, digits"),
        ("--rater", "R 1", "rater code 'R 1' may contain only"),
        ("--session", "s/2", "session code 's/2' may contain only"),
        ("--visit", "2\nbaseline", "'visit' '2\\nbaseline' holds a control character"),
        ("--subject", "P01\t", None),  # stripped by the reader, as in a sidecar: accepted
    ],
)
def test_import_checks_codes_as_the_reader_does(files, capsys, option, value, message):
    img, roi = files
    out = img.with_name("out.mfscan.json")
    extra = ["--rater", "R1"] if option == "--session" else []
    rc = main(["import-imagej", str(img), str(roi), option, value, *extra, "-o", str(out)])
    if message is None:
        assert rc == 0 and read_sidecar(out).subject == "P01"
        return
    assert rc == 1
    assert message in capsys.readouterr().err
    assert not out.exists()
    assert list(img.parent.glob("*.json")) == []


def test_import_writes_the_codes_as_the_reader_reads_them(files):
    img, roi = files
    assert (
        main(["import-imagej", str(img), str(roi), "--level", " l4", "--rater", "R1", "--session", "2"]) == 0
    )
    raw = json.loads(sidecar_path(img, "R1").read_text())
    assert (raw["level"], raw["rater"], raw["session"]) == ("L4", "R1", "2")
    assert main(["measure", str(img.parent), "-o", str(img.parent / "m.csv"), "--workers", "1"]) == 0


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("rater", "../../x", "rater code '../../x' may contain only"),
        ("rater", "R1\n", None),  # stripped: R1
        ("session", "a.b", "session code 'a.b' may contain only"),
        ("visit", "1\n2", "holds a control character"),
        ("subject", "P\x0001", "holds a control character"),
        ("posture", "prone\u2028standing", "holds a control character"),
    ],
)
def test_reader_refuses_codes_that_are_not_one_line_or_not_a_file_name(tmp_path, field, value, message):
    sc = tmp_path / "scan.mfscan.json"
    d = {"format": "mfscan.annotation", "version": 1, "image": "scan.png", field: value, "rois": []}
    sc.write_text(json.dumps(d))
    if message is None:
        assert getattr(read_sidecar(sc), field) == value.strip()
        return
    with pytest.raises(AnnotationError, match=message):
        read_sidecar(sc)


def test_write_sidecar_never_writes_what_the_reader_refuses(tmp_path):
    sc = tmp_path / "scan.mfscan.json"
    with pytest.raises(AnnotationError, match="unknown vertebral level 'L9'"):
        write_sidecar(sc, Annotation(image="scan.png", level="L9"))
    with pytest.raises(AnnotationError, match="rater code"):
        write_sidecar(sc, Annotation(image="scan.png", rater="../x"))
    assert not sc.exists()


def test_sidecar_path_refuses_a_rater_code_ending_in_a_newline(tmp_path):
    with pytest.raises(AnnotationError, match="rater code"):
        sidecar_path(tmp_path / "scan.png", "R1\n")
