"""The command line as a user meets it: help, info, measure, exit codes."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pandas as pd
import pytest

from mfscan.annotations import ROI, Annotation, write_sidecar
from mfscan.calibration import manual
from mfscan.cli import main
from mfscan.synthetic.dicom import write_us_dicom

COMMANDS = [
    "info",
    "measure",
    "import-imagej",
    "export-imagej",
    "sample-data",
    "asymmetry",
    "reliability",
    "report",
]


@pytest.mark.parametrize("command", [None] + COMMANDS)
def test_help_everywhere(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(([command] if command else []) + ["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "Research use only" in out and "usage: mfscan" in out


def test_info_json_reports_regions_and_calibration(tmp_path, capsys):
    write_us_dicom(
        tmp_path / "two.dcm",
        np.zeros((300, 600), np.uint8),
        regions=[
            {
                "bounds": (10, 0, 289, 299),
                "delta_cm": (0.0262, 0.0262),
                "units": (3, 3),
                "spatial_format": 1,
                "data_type": 1,
            },
            {
                "bounds": (10, 300, 289, 599),
                "delta_cm": (0.0300, 0.0310),
                "units": (3, 3),
                "spatial_format": 1,
                "data_type": 1,
            },
        ],
    )
    assert main(["info", str(tmp_path / "two.dcm"), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["format"] == "dicom" and d["shape"] == [300, 600] and d["frames"] == 1
    assert [r["bounds"] for r in d["regions"]] == [[10, 0, 289, 299], [10, 300, 289, 599]]
    assert d["regions"][0]["spacing_mm"] == pytest.approx([0.262, 0.262])
    assert d["regions"][1]["spacing_mm"] == pytest.approx([0.300, 0.310])
    assert d["calibration"]["source"] == "dicom-region"
    assert "SYNTHETIC" not in json.dumps(d)  # no identity fields in info


def test_info_text_warns_when_uncalibrated(tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "x.png"), np.zeros((20, 30), np.uint8))
    assert main(["info", str(tmp_path / "x.png")]) == 0
    out = capsys.readouterr().out
    assert "20 x 30 px" in out and "calibration: NONE" in out


def test_measure_cli_writes_csv_and_exit_codes(tmp_path, capsys):
    img = np.full((100, 120), 80, np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), img)
    write_sidecar(
        tmp_path / "a.mfscan.json",
        Annotation(
            "a.png",
            [ROI("left", [[10, 10], [10, 50], [60, 50], [60, 10]])],
            calibration=manual(0.1),
            subject="S1",
            visit="1",
            level="L4",
            rater="R1",
        ),
    )
    out = tmp_path / "m.csv"
    assert main(["measure", str(tmp_path), "-o", str(out), "--no-progress"]) == 0
    df = pd.read_csv(out, dtype={"visit": str})
    assert list(df.columns[:11]) == [
        "image",
        "sidecar",
        "subject",
        "visit",
        "session",
        "level",
        "side",
        "rater",
        "frame",
        "roi",
        "method",
    ]
    assert df.loc[0, "csa_cm2"] == pytest.approx(0.2) and df.loc[0, "visit"] == "1"
    assert df.loc[0, "echo_mean"] == 80
    assert not (tmp_path / "errors.csv").exists()
    (tmp_path / "b.png").write_bytes(b"")
    (tmp_path / "b.mfscan.json").write_text('{"format": "mfscan.annotation", "version": 1, "image": "b.png"}')
    assert main(["measure", str(tmp_path), "-o", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "b.png: " in err and "empty" in err
    assert pd.read_csv(tmp_path / "errors.csv")["path"].tolist() == ["b.png"]


def test_script_runs_without_traceback(tmp_path):
    (tmp_path / "junk.dcm").write_text("hello")
    r = subprocess.run(
        [sys.executable, "-m", "mfscan.cli", "info", str(tmp_path / "junk.dcm")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr and "junk.dcm" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "mfscan.cli", "info", str(tmp_path / "junk.dcm"), "--debug"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1 and "Traceback" in r.stderr


def test_hand_made_tables_with_common_spellings(tmp_path, capsys):
    (tmp_path / "h.csv").write_text(
        "subject,visit,level,side,rater,csa_cm2\nP1,1, l4, R,R1,7.2\nP1,1,L4,Left ,R1,8.0\n"
    )
    assert main(["asymmetry", str(tmp_path / "h.csv"), "-o", str(tmp_path / "a.csv")]) == 0
    a = pd.read_csv(tmp_path / "a.csv")
    assert (a.loc[0, "left_csa_cm2"], a.loc[0, "right_csa_cm2"]) == (8.0, 7.2)
    assert a.loc[0, "asymmetry_pct"] == pytest.approx(10.0)
    (tmp_path / "bad.csv").write_text("subject,visit,level,side,rater,csa_cm2\nP1,1,L4,middle,R1,7\n")
    assert main(["asymmetry", str(tmp_path / "bad.csv"), "-o", str(tmp_path / "b.csv")]) == 1
    err = capsys.readouterr().err
    assert "bad.csv: column 'side' has value(s) 'middle'" in err and "Traceback" not in err


def test_measure_removes_its_stale_error_list_and_sample_data_refuses_a_full_folder(tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "a.png"), np.full((50, 50), 9, np.uint8))
    write_sidecar(tmp_path / "a.mfscan.json", Annotation("a.png", [ROI("left", [[5, 5], [5, 20], [20, 20]])]))
    (tmp_path / "errors.csv").write_text("path,roi,reason\nold.png,,from an earlier run\n")
    (tmp_path / "notes.csv").write_text("my own notes\n")
    assert (
        main(
            [
                "measure",
                str(tmp_path / "a.png"),
                "-o",
                str(tmp_path / "m.csv"),
                "--no-progress",
                "--errors",
                str(tmp_path / "notes.csv"),
            ]
        )
        == 0
    )
    assert (tmp_path / "notes.csv").read_text() == "my own notes\n"  # not an error list: kept
    assert main(["measure", str(tmp_path / "a.png"), "-o", str(tmp_path / "m.csv"), "--no-progress"]) == 0
    assert not (tmp_path / "errors.csv").exists()
    assert main(["sample-data", str(tmp_path)]) == 1
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "a.mfscan.json").is_file() and not (tmp_path / "subjects.csv").exists()


def test_view_without_napari_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "napari", None)  # `import napari` fails as when it is not installed
    assert main(["view"]) == 1
    err = capsys.readouterr().err
    assert 'pip install "mfscan[gui]"' in err and err.startswith("mfscan view: ")
    assert "Traceback" not in err


def test_no_cli_module_imports_main():
    import ast
    from pathlib import Path

    import mfscan.cli

    folder = Path(mfscan.cli.__file__).parent
    importers = []
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom):
                names = [f"{'.' * node.level}{node.module or ''}"] + [
                    f"{node.module}.{a.name}" for a in node.names if node.module
                ]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(n in (".main", "mfscan.cli.main") for n in names):
                importers.append(path.name)
    # only the package facade and `python -m mfscan.cli` import the entry point
    assert sorted(set(importers)) == ["__init__.py", "__main__.py"]
    assert len(list(folder.glob("*.py"))) >= 10  # _common + 7 families + main + facades


def _phantom_png(tmp_path):
    from mfscan.synthetic.phantom import make_phantom

    ph = make_phantom(seed=11)
    img = tmp_path / "scan.png"
    cv2.imwrite(str(img), ph.image)
    return ph, img


def test_propose_keeps_the_sidecars_manual_calibration(tmp_path, capsys):
    from mfscan.annotations import read_sidecar
    from mfscan.geometry import polygon_area

    ph, img = _phantom_png(tmp_path)
    r, c = ph.seeds["left"]
    # without a sidecar: a PNG has no calibration, and propose refuses to guess one
    assert main(["propose", str(img), "--seed", f"left:{r},{c}", "-o", str(tmp_path / "plain.json")]) == 1
    assert "--mm-per-pixel" in capsys.readouterr().err and not (tmp_path / "plain.json").exists()
    # the rater's sidecar holds a manual calibration of 0.3 mm/px: the proposal uses and keeps it
    write_sidecar(
        tmp_path / "scan.R1.mfscan.json", Annotation("scan.png", [], calibration=manual(0.3, 0.3), rater="R1")
    )
    assert main(["propose", str(img), "--seed", f"left:{r},{c}", "--rater", "R1", "--force"]) == 0
    out = capsys.readouterr().out
    ann = read_sidecar(tmp_path / "scan.R1.mfscan.json")
    assert ann.calibration.source == "manual" and (ann.calibration.row_mm, ann.calibration.col_mm) == (
        0.3,
        0.3,
    )
    (roi,) = ann.rois
    csa_cm2 = polygon_area(roi.points) * 0.3 * 0.3 / 100  # px² x mm²/px², in cm²
    assert f"left: CSA {csa_cm2:.2f} cm2" in out
    # written elsewhere with -o, the rater's sidecar still gives the scale
    assert (
        main(
            [
                "propose",
                str(img),
                "--seed",
                f"left:{r},{c}",
                "--rater",
                "R1",
                "-o",
                str(tmp_path / "other.json"),
            ]
        )
        == 0
    )
    assert read_sidecar(tmp_path / "other.json").calibration == manual(0.3, 0.3)
