"""No identity leaves mfscan: DICOM identifiers never reach any output.

Synthetic DICOMs carry made-up identifiers in every attribute PS3.15 Annex E
lists (shared/domain.md): names, IDs, birth date, every date, accession number,
institution, physicians, operator, station, device serial number, UIDs with a
distinctive root, a private tag, an overlay group and an icon image. The whole
pipeline runs over them (``mfscan info``, ``measure``, QC overlays,
``export-imagej``/``import-imagej``, ``report``) and every output byte is
searched: CSV, HTML (and the PNGs embedded in it), PNG bytes and their text
chunks, ZIP members, JSON, sidecars written, stdout and stderr. The study's own
codes are found (so the search works); no identifier is.

Every planted identifier contains ``LEAK`` (or is a date / the UID root), so a
case-insensitive search for "leak" catches fragments too. Test names and
folders avoid that word, since output paths appear in logs.
"""

from __future__ import annotations

import base64
import io
import re
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from mfscan import cli
from mfscan.annotations import ROI, Annotation, dumps, read_sidecar
from mfscan.io.images import load_image
from mfscan.measure.batch import measure_paths
from mfscan.synthetic.dicom import write_us_dicom
from mfscan.synthetic.phantom import make_phantom

UID_ROOT = "1.2.826.0.1.3680043.99999.4242"
DATES = {
    "PatientBirthDate": "19230405",
    "StudyDate": "20190312",
    "SeriesDate": "20190313",
    "AcquisitionDate": "20190314",
    "ContentDate": "20190315",
}
IDENTITY_TEXT = {
    "PatientName": "LEAKTEST^ALPHA",
    "PatientID": "LEAK-ID-93847",
    "OtherPatientIDs": "LEAK-OTHER-55120",
    "PatientAddress": "7 Leakstreet, Leaktown 40404",
    "AccessionNumber": "ACC-LEAK-5521",
    "StudyID": "STUDYLEAK88",
    "InstitutionName": "Leakville General",
    "InstitutionAddress": "1 Leakway, Leakville",
    "ReferringPhysicianName": "REFLEAK^DOCTOR",
    "PerformingPhysicianName": "PERFLEAK^DOCTOR",
    "OperatorsName": "OPLEAK^SONOGRAPHER",
    "StationName": "LEAKSTATION7",
    "DeviceSerialNumber": "SN-LEAK-7781",
}
PRIVATE_TEXT = "PRIVATE-LEAK 31337"
OVERLAY_TEXT = "OVERLAYLEAK CAPTION"
SEQ_ID = "LEAK-SEQ-60606"
#: The study's own codes, which must appear in the outputs (positive control).
STUDY_CODES = ("STUDY-P01", "STUDY-P02")

SHAPE = (200, 260)
SPACING = 0.4


def identity(n: int) -> dict:
    """Planted identifiers of file `n` (UIDs distinct per file, same root)."""
    ident: dict = dict(IDENTITY_TEXT)
    ident.update(DATES)
    ident["AcquisitionDateTime"] = "20190314101112.123456"
    ident["StudyTime"] = "101112"
    ident["StudyInstanceUID"] = f"{UID_ROOT}.1.{n}"
    ident["SeriesInstanceUID"] = f"{UID_ROOT}.2.{n}"
    ident["SOPInstanceUID"] = f"{UID_ROOT}.3.{n}"
    ident["FrameOfReferenceUID"] = f"{UID_ROOT}.4.{n}"
    other = Dataset()
    other.PatientID = SEQ_ID
    other.IssuerOfPatientID = "LEAK-ISSUER"
    ident["OtherPatientIDsSequence"] = Sequence([other])
    icon = Dataset()
    icon.Rows, icon.Columns, icon.SamplesPerPixel = 2, 2, 1
    icon.PhotometricInterpretation = "MONOCHROME2"
    icon.BitsAllocated, icon.BitsStored, icon.HighBit, icon.PixelRepresentation = 8, 8, 7, 0
    icon.PixelData = b"LEAK"
    ident["IconImageSequence"] = Sequence([icon])
    ident[(0x0009, 0x0010)] = ("LO", "LEAKCORP PRIVATE CREATOR")
    ident[(0x0009, 0x1001)] = ("LO", PRIVATE_TEXT)
    ident[(0x6000, 0x0022)] = ("LO", OVERLAY_TEXT)  # overlay description
    return ident


def needles() -> dict[str, bytes]:
    """Every identifier, and every date in several spellings, as bytes."""
    out = {k: v.encode() for k, v in IDENTITY_TEXT.items()}
    for part in ("LEAKTEST", "93847", "ACC-LEAK", "Leakville", "SN-LEAK", "LEAKSTATION"):
        out[f"part {part}"] = part.encode()
    out["private"] = PRIVATE_TEXT.encode()
    out["overlay"] = OVERLAY_TEXT.encode()
    out["sequence id"] = SEQ_ID.encode()
    out["uid root"] = UID_ROOT.encode()
    out["uid root tail"] = b"99999.4242"
    out["acquisition datetime"] = b"20190314101112"
    for name, d in DATES.items():
        y, m, dd = d[:4], d[4:6], d[6:]
        for form in (f"{y}{m}{dd}", f"{y}-{m}-{dd}", f"{dd}.{m}.{y}", f"{m}/{dd}/{y}", f"{y}/{m}/{dd}"):
            out[f"{name} {form}"] = form.encode()
    return out


# --------------------------------------------------------------------------- output scanning


def png_text_chunks(data: bytes) -> list[bytes]:
    """Text of tEXt, zTXt and iTXt chunks of a PNG (decompressed), and eXIf."""
    out = []
    i = 8
    while i + 8 <= len(data):
        (n,), kind = struct.unpack(">I", data[i : i + 4]), data[i + 4 : i + 8]
        body = data[i + 8 : i + 8 + n]
        if kind == b"tEXt" or kind == b"eXIf":
            out.append(body)
        elif kind == b"zTXt":
            key, _, rest = body.partition(b"\0")
            out.append(key + b"\0" + zlib.decompress(rest[1:]))
        elif kind == b"iTXt":
            key, _, rest = body.partition(b"\0")
            compressed = rest[0] == 1
            lang, _, rest = rest[2:].partition(b"\0")
            tkey, _, text = rest.partition(b"\0")
            out.append(key + lang + tkey + (zlib.decompress(text) if compressed else text))
        i += 12 + n
    return out


def blobs_of(name: str, data: bytes):
    """`data` itself and everything packed in it (PNG text chunks, ZIP members, data URIs)."""
    yield name, data
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        for j, t in enumerate(png_text_chunks(data)):
            yield f"{name} [text chunk {j}]", t
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for member in z.namelist():
                yield from blobs_of(f"{name} [{member}]", member.encode() + b"\n" + z.read(member))
    for j, m in enumerate(re.finditer(rb"data:[a-z/+.-]+;base64,([A-Za-z0-9+/=]+)", data)):
        yield from blobs_of(f"{name} [data URI {j}]", base64.b64decode(m.group(1)))


def find_identity(outputs: dict[str, bytes]) -> list[str]:
    """Every (output, identifier) pair found, case-insensitively; also UTF-16 text."""
    found = []
    ns = needles()
    for name, data in outputs.items():
        for where, blob in blobs_of(name, data):
            low = blob.lower()
            if b"leak" in low:
                k = low.index(b"leak")
                found.append(f"{where}: 'leak' in ...{blob[max(k - 30, 0) : k + 30]!r}...")
            for label, needle in ns.items():
                if needle.lower() in low or needle.decode().encode("utf-16-le") in blob:
                    found.append(f"{where}: {label}")
    return found


def read_outputs(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_scanner_finds_planted_values(tmp_path):
    """The search itself works: it finds identifiers in raw text, PNG chunks, ZIPs and data URIs."""
    import cv2

    ok, png = cv2.imencode(".png", np.zeros((4, 4), np.uint8))
    png = png.tobytes()
    chunk = b"zTXt" + b"Comment\0\0" + zlib.compress(b"made by LEAKTEST^ALPHA")
    with_text = png[:33] + struct.pack(">I", len(chunk) - 4) + chunk + b"\0\0\0\0" + png[33:]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.txt", "seen on 2019-03-12")
    uri = b"<img src='data:image/png;base64," + base64.b64encode(with_text) + b"'>"
    found = find_identity(
        {
            "t.csv": b"id,1.2.826.0.1.3680043.99999.4242.3.1\n",
            "p.png": with_text,
            "r.zip": buf.getvalue(),
            "r.html": uri,
            "clean.csv": b"subject,csa\nSTUDY-P01,7.1\n",
        }
    )
    text = "\n".join(found)
    assert "t.csv: uid root" in text
    assert "p.png [text chunk 0]: PatientName" in text
    assert "r.zip [a.txt]: StudyDate 2019-03-12" in text
    assert "r.html [data URI 0] [text chunk 0]: PatientName" in text
    assert "clean.csv" not in text


# --------------------------------------------------------------------------- the study


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Five identity-laden DICOMs (two subjects, two visits, two raters) and two broken ones."""
    root = tmp_path_factory.mktemp("deid") / "study"
    root.mkdir()
    (root / "subjects.csv").write_text(
        "subject,symptomatic_side,group\nSTUDY-P01,right,exercise\nSTUDY-P02,left,control\n", "utf-8"
    )
    regions = [{"bounds": (0, 0, SHAPE[0] - 1, SHAPE[1] - 1), "delta_cm": (SPACING / 10, SPACING / 10)}]
    specs = [  # subject, visit, burned-in annotation, transfer syntax
        ("STUDY-P01", "1", "YES", "explicit-vr-little"),
        ("STUDY-P01", "2", "NO", "rle"),
        ("STUDY-P02", "1", None, "explicit-vr-little"),
        ("STUDY-P02", "2", None, "jpeg-baseline"),
        ("STUDY-P02", "3", "YES", "implicit-vr-little"),
    ]
    files = []
    for n, (subject, visit, burned, ts) in enumerate(specs):
        ph = make_phantom(seed=100 + n, shape=SHAPE, spacing_mm=SPACING, asymmetry_pct=8.0 + 3 * n)
        path = root / f"scan{n}.dcm"
        write_us_dicom(
            path,
            ph.image,
            regions=regions,
            transfer_syntax=ts,
            burned_in_annotation=burned,
            identity=identity(n),
        )
        raters = ["R1", "R2"] if visit == "1" else ["R1"]
        for r_i, rater in enumerate(raters):
            ann = Annotation(
                image=path.name,
                subject=subject,
                visit=visit,
                level="L5",
                rater=rater,
                rois=[ROI(s, np.round(ph.outlines[s] * (1 + 0.01 * r_i), 2)) for s in ("left", "right")],
            )
            (root / f"scan{n}.{rater}.mfscan.json").write_text(dumps(ann), "utf-8")
        files.append((path, burned))
    # broken files whose error messages could quote the header
    ph = make_phantom(seed=1, shape=SHAPE, spacing_mm=SPACING)
    trunc = write_us_dicom(root / "cut.dcm", ph.image, regions=regions, identity=identity(90))
    trunc.write_bytes(trunc.read_bytes()[:-5000])
    stale = write_us_dicom(
        root / "stale.dcm",
        ph.image,
        identity=identity(91),
        regions=[{"bounds": (900, 900, 1200, 1200), "delta_cm": (0.04, 0.04)}],
    )
    for p in (trunc, stale):
        ann = Annotation(
            image=p.name,
            subject="STUDY-P02",
            visit="4",
            level="L4",
            rater="R1",
            rois=[ROI(s, ph.outlines[s]) for s in ("left", "right")],
        )
        p.with_name(p.stem + ".mfscan.json").write_text(dumps(ann), "utf-8")
    assert b"LEAKTEST^ALPHA" in (root / "scan0.dcm").read_bytes()
    assert UID_ROOT.encode() in (root / "scan3.dcm").read_bytes()
    return root, files


def test_dicoms_really_carry_the_identifiers(study):
    import pydicom

    root, files = study
    ds = pydicom.dcmread(files[1][0])
    assert str(ds.PatientName) == "LEAKTEST^ALPHA"
    assert ds.PatientBirthDate == "19230405"
    assert ds.SOPInstanceUID == f"{UID_ROOT}.3.1"
    assert ds.file_meta.MediaStorageSOPInstanceUID == f"{UID_ROOT}.3.1"
    assert ds[0x0009, 0x1001].value == PRIVATE_TEXT
    assert ds.OtherPatientIDsSequence[0].PatientID == SEQ_ID
    assert ds.DeviceSerialNumber == "SN-LEAK-7781"
    data = b"".join(p.read_bytes() for p, _ in files)
    for label in ("PatientName", "private", "uid root", "StudyDate 20190312", "overlay"):
        assert needles()[label] in data


def run(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return rc, out.encode(), err.encode()


def test_no_identifier_in_any_output(study, tmp_path, capsys):
    root, files = study
    out_dir = tmp_path / "outputs"
    out_dir.mkdir()
    logs: dict[str, bytes] = {}
    dicoms = sorted(root.glob("*.dcm"))

    rc, o, e = run(capsys, "info", "--json", *dicoms)
    assert rc == 1  # cut.dcm
    logs["info --json stdout"], logs["info --json stderr"] = o, e
    assert o.count(b'"format": "dicom"') == len(dicoms) - 1
    rc, o, e = run(capsys, "info", *dicoms)
    logs["info stdout"], logs["info stderr"] = o, e
    assert b"burned-in annotation: YES" in o and b"burned-in annotation: unknown" in o

    rc, o, e = run(
        capsys,
        "measure",
        root,
        "-o",
        out_dir / "measure" / "measurements.csv",
        "--workers",
        1,
        "--no-progress",
    )
    assert rc == 1
    logs["measure stdout"], logs["measure stderr"] = o, e
    assert b"cut.dcm: truncated DICOM file" in e and b"2 outline(s) come from UNCALIBRATED" in e

    meas_csv = out_dir / "measure" / "measurements.csv"
    rc, o, e = run(
        capsys, "asymmetry", meas_csv, "--subjects", root / "subjects.csv", "-o", out_dir / "asym.csv"
    )
    assert rc == 0
    logs["asymmetry stdout"], logs["asymmetry stderr"] = o, e
    rc, o, e = run(capsys, "reliability", meas_csv, "-o", out_dir / "rel.csv")
    assert rc == 0
    logs["reliability stdout"], logs["reliability stderr"] = o, e
    assert b"STUDY-P01" in (out_dir / "asym.csv").read_bytes()

    res = measure_paths([root], workers=1, progress=False, qc_dir=out_dir / "qc")
    logs["images table"] = res.images.to_csv(index=False).encode()
    logs["errors table"] = res.errors.to_csv(index=False).encode()
    assert len(list((out_dir / "qc").glob("*.png"))) == 8

    rc, o, e = run(capsys, "export-imagej", root / "scan0.R1.mfscan.json", "-o", out_dir / "RoiSet.zip")
    assert rc == 0
    logs["export stdout"], logs["export stderr"] = o, e
    rc, o, e = run(
        capsys,
        "import-imagej",
        root / "scan0.dcm",
        out_dir / "RoiSet.zip",
        "--subject",
        "STUDY-P01",
        "--visit",
        "1",
        "--rater",
        "R3",
        "-o",
        out_dir / "scan0.R3.mfscan.json",
    )
    assert rc == 0
    logs["import stdout"], logs["import stderr"] = o, e
    assert read_sidecar(out_dir / "scan0.R3.mfscan.json").subject == "STUDY-P01"

    report = report_runner()
    if report is not None:
        o, e = report(capsys, root, out_dir / "report")
        logs["report stdout"], logs["report stderr"] = o, e
        for name in (
            "report.html",
            "measurements.csv",
            "images.csv",
            "asymmetry.csv",
            "longitudinal.csv",
            "reliability.csv",
            "errors.csv",
        ):
            assert (out_dir / "report" / name).is_file(), name
        assert list((out_dir / "report" / "qc").rglob("*.png"))

    outputs = read_outputs(out_dir)
    outputs.update(logs)
    # positive control: the study's own codes and the measurements are there
    meas = outputs["measure/measurements.csv"]
    assert all(code.encode() in meas for code in STUDY_CODES)
    assert meas.count(b"\n") == 1 + 2 * 8  # 7 sidecars of 5 images, and stale.dcm (uncalibrated)
    if report is not None:
        assert b"STUDY-P02" in outputs["report/report.html"]
    assert find_identity(outputs) == []
    if report is None:
        pytest.skip("mfscan.report is missing: the report part of the identity search did not run")


def report_runner():
    """Run ``mfscan report`` (the CLI command, else mfscan.report.build.build_report); None if neither exists."""
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    if "report" in sub.choices:

        def via_cli(capsys, study, out):
            rc, o, e = run(capsys, "report", study, "-o", out, "--workers", 1, "--no-progress")
            assert rc == 1  # the two broken files are listed
            return o, e

        return via_cli
    try:
        from mfscan.report import build_report
    except ImportError:
        return None

    def via_library(capsys, study, out):
        build_report(study, out, workers=1, progress=False)
        o, e = capsys.readouterr()
        return o.encode(), e.encode()

    return via_library


def test_burned_in_annotation_flagged(study, capsys):
    root, files = study
    expected = {"YES": "YES", "NO": "NO", None: "unknown"}
    for path, burned in files:
        img = load_image(path)
        assert img.metadata["burned_in_annotation"] == expected[burned]
        assert set(img.metadata) == {
            "modality",
            "transfer_syntax",
            "photometric",
            "bits_stored",
            "burned_in_annotation",
            "lossy",
        }
        rc, out, err = run(capsys, "info", path)
        flagged = b"burned-in annotation: " + expected[burned].encode() + b" (text in the pixels may identify"
        assert (flagged in out) == (burned != "NO")
    res = measure_paths([root], workers=1, progress=False)
    table = dict(zip(res.images["image"], res.images["burned_in_annotation"]))
    for path, burned in files:
        assert table[path.name] == expected[burned]
    assert table["stale.dcm"] == "unknown"
    assert "cut.dcm" not in table
