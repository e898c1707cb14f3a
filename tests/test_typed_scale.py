"""A typed --mm-per-pixel that disagrees with the image's own calibration (issue 19 §2).

`mfscan propose` and `mfscan import-imagej` refuse it (more than 1% apart) unless
--override-calibration is given; `mfscan check` reports a sidecar whose typed scale differs
from the file's own. The decision is one function, `mfscan.calibration.check_typed_scale`.
The DICOMs are written with pydicom, the Fiji ROIs with roifile.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import roifile
from _pydicom_files import region_item, write_dicom

from mfscan.annotations import read_sidecar
from mfscan.calibration import check_typed_scale, manual
from mfscan.cli import main
from mfscan.errors import CalibrationError
from mfscan.io.images import load_image
from mfscan.measure.check import check_study
from mfscan.synthetic.phantom import make_phantom

OWN_CM = 0.02548  # the file's own scale: 0.2548 mm per pixel


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(seed=11, spacing_mm=0.2548)


@pytest.fixture()
def dcm(tmp_path, phantom):
    rows, cols = phantom.image.shape
    return write_dicom(
        tmp_path / "scan.dcm",
        phantom.image,
        regions=[region_item((0, 0, rows - 1, cols - 1), (OWN_CM, OWN_CM))],
    )


def _seed(ph, side="left"):
    r, c = ph.seeds[side]
    return f"{side}:{r},{c}"


def test_the_rule_refuses_more_than_one_percent(dcm):
    img = load_image(dcm)
    with pytest.raises(CalibrationError) as e:
        check_typed_scale(manual(0.5), img)
    # 0.5 over 0.2548: 96.2% apart, areas (0.5 / 0.2548)^2 = 3.85x
    assert "96.2%" in e.value.message and "3.85x" in e.value.message
    assert "DICOM ultrasound region 0" in e.value.message and "--override-calibration" in e.value.message
    assert check_typed_scale(manual(0.2560), img) == manual(0.2560)  # 0.47% apart: accepted
    cal = check_typed_scale(manual(0.5), img, override=True)
    assert (cal.row_mm, cal.details["overrides_image"]) == (0.5, True)


def test_propose_refuses_a_disagreeing_typed_scale(tmp_path, dcm, phantom, capsys):
    assert main(["propose", str(dcm), "--seed", _seed(phantom), "--mm-per-pixel", "0.5"]) == 1
    err = capsys.readouterr().err
    assert "--mm-per-pixel" in err and "96.2%" in err and "--override-calibration" in err
    assert not (tmp_path / "scan.mfscan.json").exists()
    # 2% off, deliberately: accepted with --override-calibration and recorded as such
    argv = ["propose", str(dcm), "--seed", _seed(phantom), "--mm-per-pixel", "0.26"]
    assert main(argv) == 1
    assert main([*argv, "--override-calibration"]) == 0
    cal = read_sidecar(tmp_path / "scan.mfscan.json").calibration
    assert (cal.source, cal.row_mm, cal.details.get("overrides_image")) == ("manual", 0.26, True)


def _roi_file(path, phantom):
    r, c = phantom.seeds["left"]
    xy = np.array([[c - 10, r - 10], [c + 10, r - 10], [c + 10, r + 10], [c - 10, r + 10]], float)
    roifile.ImagejRoi.frompoints(xy, name="left").tofile(path)
    return path


def test_import_imagej_refuses_a_disagreeing_typed_scale(tmp_path, dcm, phantom, capsys):
    roi = _roi_file(tmp_path / "left.roi", phantom)
    argv = ["import-imagej", str(dcm), str(roi), "--mm-per-pixel", "0.5"]
    assert main(argv) == 1
    assert "96.2%" in capsys.readouterr().err
    assert not (tmp_path / "scan.mfscan.json").exists()
    assert main([*argv, "--override-calibration"]) == 0
    assert read_sidecar(tmp_path / "scan.mfscan.json").calibration.row_mm == 0.5


def test_check_reports_a_typed_scale_that_disagrees_with_the_file(tmp_path, dcm, phantom):
    r, c = phantom.seeds["left"]
    square = [[r - 10, c - 10], [r - 10, c + 10], [r + 10, c + 10], [r + 10, c - 10]]
    base = {
        "format": "mfscan.annotation",
        "version": 1,
        "image": "scan.dcm",
        "subject": "S01",
        "visit": "1",
        "level": "L4",
        "rois": [{"side": "left", "points": square}, {"side": "right", "points": square}],
    }
    sidecar = tmp_path / "scan.R1.mfscan.json"
    sidecar.write_text(json.dumps({**base, "rater": "R1", "calibration": {"row_mm": 0.5, "col_mm": 0.5}}))
    table = check_study(tmp_path)
    (row,) = table[table["problem"] == "scale_differs_from_image"].itertuples()
    assert row.file == "scan.R1.mfscan.json" and "3.85x" in row.message and "0.2548" in row.message
    assert main(["check", str(tmp_path)]) == 1
    # within 1%: clean
    sidecar.write_text(json.dumps({**base, "rater": "R1", "calibration": {"row_mm": 0.255, "col_mm": 0.255}}))
    assert (check_study(tmp_path)["problem"] == "scale_differs_from_image").sum() == 0


def test_typed_scale_over_an_implausible_own_scale_needs_the_override(tmp_path, phantom, capsys):
    rows, cols = phantom.image.shape
    path = write_dicom(
        tmp_path / "tiny.dcm",
        phantom.image,
        regions=[region_item((0, 0, rows - 1, cols - 1), (1e-300, 1e-300))],
    )
    assert main(["propose", str(path), "--seed", _seed(phantom)]) == 1  # the own scale: refused
    assert "gives 1e-299 mm per pixel" in capsys.readouterr().err
    argv = ["propose", str(path), "--seed", _seed(phantom), "--mm-per-pixel", "0.2548"]
    assert main(argv) == 1
    assert "which is itself outside the plausible range" in capsys.readouterr().err
    assert main([*argv, "--override-calibration"]) == 0
    assert read_sidecar(tmp_path / "tiny.mfscan.json").calibration.row_mm == 0.2548


def test_sidecar_override_is_the_one_decision_of_a_replaced_scale(dcm, tmp_path, phantom):
    """Typed, stored and shared scales against the image's own (0.2548 mm/px), decided by one
    function: the cases of mfscan propose, predict, import-imagej and the widget."""
    from PIL import Image

    from mfscan.calibration import SharedScale, from_scale_line, sidecar_override

    own = load_image(dcm)
    Image.fromarray(np.asarray(phantom.image, dtype=np.uint8)).save(tmp_path / "plain.png")
    plain = load_image(tmp_path / "plain.png")  # a plain export: no scale of its own
    assert not plain.calibration.calibrated

    def never():
        raise AssertionError("the shared scale is not read when the image or the sidecar sets one")

    stored = manual(0.3)
    assert sidecar_override(stored, plain, shared=never) == stored  # the rater's own scale first
    assert sidecar_override(None, own, shared=never) is None  # the DICOM's own applies
    # a plain export: the scale its sidecars agree on; refused when they disagree
    line = from_scale_line((0, 0), (0, 100), 25.0)  # 100 px over 25 mm: 0.25 mm/px
    assert sidecar_override(None, plain, shared=lambda: SharedScale(line, "scale line, R1")) == line
    with pytest.raises(CalibrationError, match="disagree"):
        sidecar_override(None, plain, shared=SharedScale(conflict="the sidecars disagree"))
    # typed: within 1% of the DICOM's 0.2548 kept, 0.30 (17.7% off) refused unless overridden
    assert sidecar_override(None, own, typed=manual(0.2560)).row_mm == pytest.approx(0.2560)
    with pytest.raises(CalibrationError, match="differs by 17.7%"):
        sidecar_override(None, own, typed=manual(0.30))
    chosen = sidecar_override(None, own, typed=manual(0.30), override_image=True)
    assert chosen.row_mm == pytest.approx(0.30) and chosen.details["overrides_image"] is True
    # typed over a stored scale whose outlines were measured with it: refused unless forced
    with pytest.raises(CalibrationError, match="would change it") as e:
        sidecar_override(stored, plain, typed=manual(0.31), keeps_outlines=True, sidecar=tmp_path / "a.json")
    assert e.value.path == tmp_path / "a.json"
    assert sidecar_override(stored, plain, typed=manual(0.31), keeps_outlines=True, force=True) == manual(
        0.31
    )
    assert sidecar_override(stored, plain, typed=manual(0.31)) == manual(0.31)  # no outlines yet
