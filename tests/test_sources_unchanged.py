"""Source images and sidecars are never written by any command.

Every CLI command runs over a generated study; the SHA-256, size and mtime of
every file in the study folder are compared before and after. The only change
allowed is the new sidecar that ``import-imagej`` is asked to write, and no
other file (temporary or output) may appear in the study folder.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from badinput import tree_state

from mfscan import cli
from mfscan.annotations import ROI, Annotation, dumps, read_sidecar
from mfscan.calibration import manual
from mfscan.io.files import file_sha256
from mfscan.synthetic.dicom import write_us_dicom
from mfscan.synthetic.phantom import make_phantom

SHAPE = (200, 260)
SPACING = 0.4


def make_study(root: Path) -> Path:
    """2 subjects x 2 visits of PNG phantoms (raters R1, R2 at visit 1), a DICOM, subjects.csv."""
    root.mkdir(parents=True)
    (root / "subjects.csv").write_text(
        "subject,symptomatic_side,group\nS01,right,exercise\nS02,left,control\n", "utf-8"
    )
    n = 0
    for subject in ("S01", "S02"):
        for visit in ("1", "2"):
            folder = root / subject / f"visit{visit}"
            folder.mkdir(parents=True)
            ph = make_phantom(seed=n, shape=SHAPE, spacing_mm=SPACING, asymmetry_pct=5.0 + 4 * n)
            img = folder / f"{subject}_V{visit}.png"
            img.write_bytes(cv2.imencode(".png", ph.image)[1].tobytes())
            for k, rater in enumerate(["R1", "R2"] if visit == "1" else ["R1"]):
                ann = Annotation(
                    image=img.name,
                    subject=subject,
                    visit=visit,
                    level="L4",
                    rater=rater,
                    calibration=manual(SPACING),
                    image_sha256=file_sha256(img),
                    rois=[ROI(s, np.round(ph.outlines[s] * (1 + 0.01 * k), 2)) for s in ("left", "right")],
                )
                img.with_name(f"{img.stem}.{rater}.mfscan.json").write_text(dumps(ann), "utf-8")
            n += 1
    ph = make_phantom(seed=99, shape=SHAPE, spacing_mm=SPACING)
    dcm = write_us_dicom(
        root / "S01" / "visit1" / "S01_V1_dicom.dcm",
        ph.image,
        transfer_syntax="rle",
        regions=[{"bounds": (0, 0, SHAPE[0] - 1, SHAPE[1] - 1), "delta_cm": (SPACING / 10, SPACING / 10)}],
    )
    ann = Annotation(
        image=dcm.name,
        subject="S01",
        visit="1",
        level="L5",
        rater="R1",
        rois=[ROI(s, ph.outlines[s]) for s in ("left", "right")],
    )
    dcm.with_name(dcm.stem + ".mfscan.json").write_text(dumps(ann), "utf-8")
    # one broken sidecar: failures must not write anything either
    (root / "S02" / "visit2" / "S02_V2.R3.mfscan.json").write_text('{"format": "mfscan.annotation"', "utf-8")
    return root


def run(capsys, *argv) -> int:
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return rc


def test_no_command_writes_source_images_or_sidecars(tmp_path, capsys):
    study = make_study(tmp_path / "study")
    out = tmp_path / "out"
    before = tree_state(study)
    images = sorted(p for p in study.rglob("*") if p.suffix in (".png", ".dcm"))
    assert len(images) == 5 and len(before) == 5 + 7 + 1 + 1

    assert run(capsys, "info", *images) == 0
    assert run(capsys, "info", "--json", *images) == 0
    assert run(capsys, "measure", study, "-o", out / "measurements.csv", "--workers", 1, "--no-progress") == 1
    # images given one by one find their sidecars, the broken one included
    assert run(capsys, "measure", *images, "-o", out / "m2.csv", "--workers", 2, "--no-progress") == 1
    assert (
        run(
            capsys,
            "asymmetry",
            out / "measurements.csv",
            "--subjects",
            study / "subjects.csv",
            "-o",
            out / "asymmetry.csv",
        )
        == 0
    )
    assert run(capsys, "reliability", out / "measurements.csv", "-o", out / "reliability.csv") == 0
    assert run(capsys, "report", study, "-o", out / "report", "--workers", 1, "--no-progress") == 1
    assert (out / "report" / "report.html").is_file()
    sidecar = study / "S01" / "visit1" / "S01_V1.R1.mfscan.json"
    assert run(capsys, "export-imagej", sidecar, "-o", out / "RoiSet.zip") == 0
    # the broken sidecar is an error (exit 1); every other tracing is exported
    assert run(capsys, "export-masks", study, "-o", out / "masks", "--no-progress") == 1
    assert (
        run(
            capsys,
            "export-masks",
            study,
            "-o",
            out / "masks-tiff",
            "--format",
            "tiff",
            "--coco",
            "--no-progress",
        )
        == 1
    )
    assert (out / "masks" / "manifest.csv").is_file() and (out / "masks-tiff" / "coco.json").is_file()
    assert tree_state(study) == before

    # import-imagej writes exactly the sidecar it is asked for, beside the image
    image = study / "S01" / "visit1" / "S01_V1.png"
    assert run(capsys, "import-imagej", image, out / "RoiSet.zip", "--rater", "R9", "--subject", "S01") == 0
    new = "S01/visit1/S01_V1.R9.mfscan.json"
    after = tree_state(study)
    assert set(after) == set(before) | {new}
    assert {k: v for k, v in after.items() if k != new} == before
    assert read_sidecar(study / new).rater == "R9"
    # ... and refuses to overwrite an existing one (here: the R1 tracing)
    assert run(capsys, "import-imagej", image, out / "RoiSet.zip", "--rater", "R1") == 1
    assert run(capsys, "import-imagej", image, out / "RoiSet.zip", "-o", sidecar) == 1
    assert tree_state(study) == after

    # a report into the study folder itself is refused
    assert run(capsys, "report", study, "-o", study, "--no-progress") == 1
    assert tree_state(study) == after


OUTPUT_MISTAKES = {
    "report into the study": ("report", "{study}", "-o", "{study}", "--no-progress"),
    "measure over an image": ("measure", "{study}", "-o", "{image}", "--workers", "1", "--no-progress"),
    "measure over a sidecar": ("measure", "{study}", "-o", "{sidecar}", "--workers", "1", "--no-progress"),
    "measure over a DICOM without suffix": (
        "measure",
        "{study}",
        "-o",
        "{bare_dicom}",
        "--workers",
        "1",
        "--no-progress",
    ),
    "errors over an image": (
        "measure",
        "{study}",
        "-o",
        "{out}/m.csv",
        "--errors",
        "{image}",
        "--workers",
        "1",
        "--no-progress",
    ),
    "asymmetry over a sidecar": ("asymmetry", "{out}/m.csv", "-o", "{sidecar}"),
    "reliability over an image": ("reliability", "{out}/m.csv", "-o", "{image}"),
    "export-masks into the study": ("export-masks", "{study}", "-o", "{study}/masks", "--no-progress"),
    "export-imagej over an image": ("export-imagej", "{sidecar}", "-o", "{image}"),
    "export-imagej over a sidecar": ("export-imagej", "{sidecar}", "-o", "{other_sidecar}"),
    "import-imagej --force over an image": (
        "import-imagej",
        "{image}",
        "{out}/RoiSet.zip",
        "-o",
        "{bare_dicom}",
        "--force",
    ),
    "import-imagej over another image's sidecar": (
        "import-imagej",
        "{image}",
        "{out}/RoiSet.zip",
        "-o",
        "{other_sidecar}",
    ),
}


@pytest.fixture(scope="module")
def mistake_study(tmp_path_factory):
    root = tmp_path_factory.mktemp("mistakes")
    study = make_study(root / "study")
    bare = study / "S02" / "IM0001"  # a DICOM named the way scanners export them
    write_us_dicom(bare, np.full((20, 20), 90, np.uint8))
    out = root / "out"
    assert cli.main(["measure", str(study), "-o", str(out / "m.csv"), "--workers", "1", "--no-progress"]) == 1
    assert (
        cli.main(
            [
                "export-imagej",
                str(study / "S01" / "visit1" / "S01_V1.R1.mfscan.json"),
                "-o",
                str(out / "RoiSet.zip"),
            ]
        )
        == 0
    )
    return study, out


@pytest.mark.parametrize("mistake", list(OUTPUT_MISTAKES))
def test_output_pointing_at_a_source_is_refused(mistake_study, capsys, mistake):
    """A mistyped ``-o`` naming a source image, sidecar or the study folder never replaces it."""
    study, out = mistake_study
    capsys.readouterr()
    names = {
        "study": study,
        "out": out,
        "image": study / "S01" / "visit1" / "S01_V1.png",
        "sidecar": study / "S01" / "visit1" / "S01_V1.R1.mfscan.json",
        "other_sidecar": study / "S02" / "visit1" / "S02_V1.R1.mfscan.json",
        "bare_dicom": study / "S02" / "IM0001",
    }
    before = tree_state(study)
    argv = [a.format(**names) for a in OUTPUT_MISTAKES[mistake]]
    rc = cli.main(argv)
    _, err = capsys.readouterr()
    assert rc == 1
    assert "Traceback" not in err
    assert any(
        w in err
        for w in (
            "refusing to write",
            "must differ",
            "must end in",
            "already exists",
            "refusing to export into the study folder",
        )
    ), err
    assert tree_state(study) == before
