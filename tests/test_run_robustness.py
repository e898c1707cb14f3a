"""One bad input never sinks or corrupts a run (issue 19 §4).

* ``mfscan report`` builds everything in a staging folder and moves it into place at
  the end: a report that fails (a visit label that cannot be ordered, a full disk)
  leaves the previous report as it was, and no partial file.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from badinput import tree_state

from mfscan.annotations import ROI, Annotation, write_sidecar
from mfscan.calibration import manual
from mfscan.cli import main


def _annotated(folder: Path, name: str, subject: str, visit: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / name), np.full((100, 120), 90, np.uint8))
    write_sidecar(
        folder / (Path(name).stem + ".mfscan.json"),
        Annotation(
            name,
            [
                ROI("left", [[10, 10], [10, 50], [60, 50], [60, 10]]),
                ROI("right", [[10, 60], [10, 100], [40, 100], [40, 60]]),
            ],
            calibration=manual(0.1),
            subject=subject,
            visit=visit,
            level="L4",
            rater="R1",
        ),
    )


def _report(study: Path, out: Path) -> int:
    return main(["report", str(study), "-o", str(out), "--no-progress", "--workers", "1"])


@pytest.fixture
def reported(tmp_path):
    """A study with two visits of one subject and its complete report."""
    study, out = tmp_path / "study", tmp_path / "report"
    _annotated(study, "a1.png", "S1", "1")
    _annotated(study, "a2.png", "S1", "2")
    assert _report(study, out) == 0
    assert (out / "report.html").is_file() and (out / "qc").is_dir()
    return study, out


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith("." + folder.name))


def test_failed_report_keeps_the_previous_one(reported, capsys):
    study, out = reported
    (out / "notes.txt").write_text("mine")  # a file of the user's own: kept by every run
    (out / "qc" / "notes.txt").write_text("mine too")
    before = tree_state(out)
    assert any(k.startswith("qc/") for k in before)
    _annotated(study, "b1.png", "S2", "banana")  # a label with no place among 1, 2
    capsys.readouterr()
    assert _report(study, out) == 1
    err = capsys.readouterr().err
    assert "banana" in err and "--visit-order" in err
    assert tree_state(out) == before  # not a file changed, added or removed
    assert _leftovers(out) == []
    # the same study with the order given succeeds and replaces the report
    assert (
        main(
            [
                "report",
                str(study),
                "-o",
                str(out),
                "--no-progress",
                "--workers",
                "1",
                "--visit-order",
                "1,2,banana",
            ]
        )
        == 0
    )
    assert "b1.png" in (out / "measurements.csv").read_text()
    assert any(k.startswith("qc/b1") for k in tree_state(out))
    assert (out / "notes.txt").read_text() == "mine" and (out / "qc" / "notes.txt").read_text() == "mine too"


def test_first_report_that_fails_leaves_no_folder(tmp_path):
    study, out = tmp_path / "study", tmp_path / "report"
    _annotated(study, "a1.png", "S1", "1")
    _annotated(study, "b1.png", "S2", "banana")
    assert _report(study, out) == 1
    assert not out.exists() and _leftovers(out) == []


def test_full_disk_during_report_keeps_the_previous_one(reported, monkeypatch, capsys):
    import mfscan.io.tables as tables

    study, out = reported
    before = tree_state(out)
    _annotated(study, "a3.png", "S1", "3")
    real = tables.atomic_write_bytes

    def full_disk(path, data):
        if Path(path).name == "asymmetry.csv":  # after measurements.csv and qc/ are written
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, data)

    monkeypatch.setattr(tables, "atomic_write_bytes", full_disk)
    capsys.readouterr()
    assert _report(study, out) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "unexpected" not in err
    assert tree_state(out) == before
    assert _leftovers(out) == []


def test_full_disk_while_writing_qc_stops_the_report(reported, monkeypatch, capsys):
    """A full disk is no fault of one image: the run stops instead of listing each overlay
    as an image's problem and replacing the report with one that lacks its QC."""
    import mfscan.measure.qc as qc

    study, out = reported
    before = tree_state(out)
    _annotated(study, "a3.png", "S1", "3")

    def full_disk(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(qc, "atomic_write_bytes", full_disk)
    capsys.readouterr()
    assert _report(study, out) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "QC overlay not written" not in err
    assert tree_state(out) == before and _leftovers(out) == []


# ------------------------------------------------------- scheduler and argument errors


@pytest.mark.parametrize(
    "address, words",
    [
        ("tcp://127.0.0.1:1", "cannot reach the Dask scheduler at tcp://127.0.0.1:1 (Connection refused)"),
        ("127.0.0.1:1", "cannot reach the Dask scheduler at 127.0.0.1:1"),
        ("tcp://127.0.0.1:99999", "the port must be from 1 to 65535"),
        ("nonsense", "is not a Dask scheduler address"),
        ("foo://1.2.3.4:5", "is not a Dask scheduler address"),
    ],
)
@pytest.mark.parametrize("command", ["measure", "report"])
def test_bad_scheduler_is_one_line_in_our_words(tmp_path, capsys, address, words, command):
    study = tmp_path / "study"
    _annotated(study, "a1.png", "S1", "1")
    out = tmp_path / ("m.csv" if command == "measure" else "report")
    capsys.readouterr()
    assert main([command, str(study), "-o", str(out), "--no-progress", "--scheduler", address]) == 1
    err = capsys.readouterr().err.strip()
    assert words in err and "unexpected" not in err and "Traceback" not in err
    assert len(err.splitlines()) == 1
    assert not out.exists()


def test_scheduler_address_answering_another_protocol(tmp_path, capsys):
    """A port that answers, but not as Dask (a web server, a wrong port): one line in our words."""
    import socketserver
    import threading

    class Garbage(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" * 4)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Garbage)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        address = f"tcp://127.0.0.1:{server.server_address[1]}"
        study = tmp_path / "study"
        _annotated(study, "a1.png", "S1", "1")
        capsys.readouterr()
        argv = ["measure", str(study), "-o", str(tmp_path / "m.csv"), "--no-progress", "--scheduler", address]
        assert main(argv) == 1
    finally:
        server.shutdown()
        server.server_close()
    err = capsys.readouterr().err.strip()
    assert f"no Dask scheduler answers at {address}" in err and "unexpected" not in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "argv, option",
    [
        (["measure", ".", "--workers", "-3"], "--workers"),
        (["measure", ".", "--workers", "0"], "--workers"),
        (["report", ".", "--max-pixels", "-1"], "--max-pixels"),
        (["check", ".", "--max-pixels", "-1"], "--max-pixels"),
        (["agreement", ".", "--max-pixels", "-1"], "--max-pixels"),
        (["export-masks", ".", "-o", "x", "--max-pixels", "-1"], "--max-pixels"),
        (["info", "x.png", "--max-pixels", "0"], "--max-pixels"),
    ],
)
def test_negative_workers_and_max_pixels_refused_by_argparse(argv, option, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an empty folder: nothing is written anywhere else if not refused
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: give a whole number of 1 or more" in err


def test_library_refuses_negative_workers(tmp_path):
    from mfscan.errors import MfscanError
    from mfscan.measure.batch import measure_paths

    _annotated(tmp_path, "a1.png", "S1", "1")
    with pytest.raises(MfscanError, match="workers must be a whole number of 1 or more, got -3"):
        measure_paths([tmp_path], workers=-3, progress=False)


# ------------------------------------------------------------- --force and permissions


def _roi_file(path: Path) -> Path:
    """A Fiji polygon ROI named 'left' written by roifile (not by mfscan)."""
    import roifile

    roi = roifile.ImagejRoi.frompoints(np.array([[10, 10], [50, 10], [50, 60], [10, 60]], float))
    roi.name = "left"
    roi.tofile(str(path))
    return path


def _other_group() -> int | None:
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return 4242
    others = [g for g in os.getgroups() if g != os.getegid()]
    return others[0] if others else None


def test_force_replace_keeps_mode_and_group(tmp_path):
    gid = _other_group()
    if gid is None:
        pytest.skip("the test needs a second group to give the sidecar")
    cv2.imwrite(str(tmp_path / "a.png"), np.full((100, 120), 90, np.uint8))
    roi = _roi_file(tmp_path / "left.roi")
    sidecar = tmp_path / "a.mfscan.json"
    assert main(["import-imagej", str(tmp_path / "a.png"), str(roi), "--mm-per-pixel", "0.1"]) == 0
    os.chown(sidecar, -1, gid)
    os.chmod(sidecar, 0o640)
    argv = ["import-imagej", str(tmp_path / "a.png"), str(roi), "--mm-per-pixel", "0.2", "--force"]
    assert main(argv) == 0
    st = sidecar.stat()
    assert (st.st_mode & 0o7777, st.st_gid) == (0o640, gid)
    assert '"row_mm": 0.2' in sidecar.read_text()


def test_read_only_sidecar_is_not_replaced_even_with_force(tmp_path, capsys):
    from mfscan.annotations import read_sidecar
    from mfscan.errors import AnnotationError

    cv2.imwrite(str(tmp_path / "a.png"), np.full((100, 120), 90, np.uint8))
    roi = _roi_file(tmp_path / "left.roi")
    sidecar = tmp_path / "a.mfscan.json"
    assert main(["import-imagej", str(tmp_path / "a.png"), str(roi), "--mm-per-pixel", "0.1"]) == 0
    os.chmod(sidecar, 0o444)
    before = sidecar.read_bytes()
    capsys.readouterr()
    argv = ["import-imagej", str(tmp_path / "a.png"), str(roi), "--mm-per-pixel", "0.2", "--force"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "a.mfscan.json" in err and "read-only" in err
    assert sidecar.read_bytes() == before and (sidecar.stat().st_mode & 0o777) == 0o444
    ann = read_sidecar(sidecar)
    with pytest.raises(AnnotationError, match="read-only"):
        write_sidecar(sidecar, ann, force=True)
    assert sidecar.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mfscan.json", "a.png", "left.roi"]


def test_read_only_table_is_not_replaced(tmp_path):
    import pandas as pd

    from mfscan.errors import MfscanError
    from mfscan.io.tables import write_table

    path = tmp_path / "t.csv"
    path.write_text("kept\n")
    os.chmod(path, 0o444)
    with pytest.raises(MfscanError, match="read-only"):
        write_table(pd.DataFrame({"a": [1]}), path)
    assert path.read_text() == "kept\n"


# ------------------------------------------------------- truncated files, in our words

#: What mfscan says about a cut file (its own words) ...
OUR_WORDS = (
    "file is empty",
    "the content is not recognised",
    "truncated",
    "cut short",
    "the IHDR header is missing",
    "no frame header found",
)
#: ... and library phrases that must never reach the user.
LIBRARY_WORDS = (
    "list index out of range",
    "index out of range",
    "unpack requires",
    "corrupted IFD",
    "corrupted tag list",
    "suspicious number of tags",
    "missing data offset",
    "number of bytes of pixel data is less than expected",
    "Expected total bytes",
)


def _cut_lengths(n: int) -> list[int]:
    return sorted(set(range(0, min(n, 300))) | {n * k // 40 for k in range(1, 40)} | {n - 7, n - 100})


def _library_written_files(folder: Path) -> list[Path]:
    """Images written by tifffile, OpenCV and pydicom (not by mfscan)."""
    import tifffile
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    img = (np.random.default_rng(0).random((200, 240)) * 255).astype(np.uint8)
    files = {
        "plain.tif": dict(),
        "zlib.tif": dict(compression="zlib"),
        "tiled.tif": dict(tile=(64, 64)),
        "big.tif": dict(bigtiff=True),
        "imagej.tif": dict(imagej=True, resolution=(10.0, 10.0), metadata={"unit": "mm"}),
    }
    for name, kw in files.items():
        tifffile.imwrite(folder / name, img, **kw)
    cv2.imwrite(str(folder / "a.png"), img)
    cv2.imwrite(str(folder / "a.jpg"), img)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID, ds.SOPInstanceUID = (
        ds.file_meta.MediaStorageSOPClassUID,
        ds.file_meta.MediaStorageSOPInstanceUID,
    )
    ds.Modality, ds.Rows, ds.Columns, ds.SamplesPerPixel = "US", 200, 240, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = img.tobytes()
    ds.save_as(folder / "a.dcm", enforce_file_format=True)
    return sorted(p for p in folder.iterdir())


def test_truncated_files_are_named_in_our_words(tmp_path):
    from mfscan.errors import ImageReadError
    from mfscan.io.images import load_image

    src = tmp_path / "src"
    src.mkdir()
    seen = set()
    for path in _library_written_files(src):
        data = path.read_bytes()
        cut = tmp_path / path.name
        for n in _cut_lengths(len(data)):
            cut.write_bytes(data[:n])
            try:
                load_image(cut)
            except ImageReadError as e:
                msg = e.message
            else:
                continue  # the cut left a complete image (trailing bytes only)
            assert not any(w in msg for w in LIBRARY_WORDS), f"{path.name} cut at {n}: {msg}"
            assert any(w in msg for w in OUR_WORDS), f"{path.name} cut at {n}: {msg}"
            seen.add(msg)
    assert any("truncated or damaged TIFF image" in m for m in seen)


def test_truncated_tiff_header_and_imagej_stack(tmp_path):
    import tifffile

    from mfscan.errors import ImageReadError
    from mfscan.io.images import load_image

    img = np.arange(4 * 50 * 60, dtype=np.uint8).reshape(4, 50, 60)
    tifffile.imwrite(tmp_path / "stack.tif", img, imagej=True, metadata={"axes": "TYX"})
    data = (tmp_path / "stack.tif").read_bytes()
    (tmp_path / "head.tif").write_bytes(data[:8])  # tifffile: "list index out of range"
    with pytest.raises(ImageReadError, match="truncated or damaged TIFF image"):
        load_image(tmp_path / "head.tif")
    # cut in the third frame: tifffile falls back to the first page alone
    offset = tifffile.TiffFile(tmp_path / "stack.tif").series[0].dataoffset
    (tmp_path / "cut.tif").write_bytes(data[: offset + 2 * 50 * 60 + 10])
    with pytest.raises(ImageReadError, match="announces 4 images but only 1 can be read"):
        load_image(tmp_path / "cut.tif")
    assert load_image(tmp_path / "stack.tif").pixels.shape[0] == 4


def test_truncated_dicom_says_how_many_bytes(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    dcm = src / "a.dcm"
    _library_written_files(src)
    data = dcm.read_bytes()  # pixel data (7FE0,0010) is the last element: 200 x 240 = 48000 bytes
    (tmp_path / "cut.dcm").write_bytes(data[:-1000])
    assert main(["info", str(tmp_path / "cut.dcm")]) == 1
    err = capsys.readouterr().err
    assert "truncated DICOM file: the pixel data holds 47000 of the 48000 bytes" in err
