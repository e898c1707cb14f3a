"""RoiSet zips are checked before they are decompressed: entry size and ROI count limits (issue 19 §3)."""

import tracemalloc
import zipfile

import numpy as np
import pytest
import roifile

from mfscan.annotations.imagej import rois_from_imagej
from mfscan.cli import main
from mfscan.errors import AnnotationError
from mfscan.io.imagej import MAX_ROI_BYTES, MAX_ROIS


def _roi_bytes(name="left"):
    return roifile.ImagejRoi.frompoints(np.array([[10, 10], [40, 10], [40, 30]]), name=name).tobytes()


def test_a_300_mb_entry_is_refused_before_it_is_decompressed(tmp_path, capsys):
    bomb = tmp_path / "RoiSet.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("0001-left.roi", _roi_bytes())
        with zf.open("0002-right.roi", "w", force_zip64=True) as fh:
            chunk = bytes(2**20)
            for _ in range(300):  # 300 MiB of zeros, a few hundred kB compressed
                fh.write(chunk)
    assert bomb.stat().st_size < 2 * 2**20
    assert zipfile.ZipFile(bomb).getinfo("0002-right.roi").file_size == 300 * 2**20
    tracemalloc.start()
    try:
        with pytest.raises(AnnotationError) as e:
            rois_from_imagej(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20  # roifile alone read 256 MiB of it
    assert "'0002-right.roi' declares 300 MiB once decompressed, more than the 16 MiB" in str(e.value)
    img = tmp_path / "scan.png"
    import cv2

    cv2.imwrite(str(img), np.zeros((60, 80), np.uint8))
    assert main(["import-imagej", str(img), str(bomb), "--rater", "R1"]) == 1
    assert "declares 300 MiB" in capsys.readouterr().err
    assert not (tmp_path / "scan.R1.mfscan.json").exists()


def test_more_rois_than_the_limit_are_refused(tmp_path):
    assert MAX_ROIS == 1000 and MAX_ROI_BYTES == 16 * 2**20
    many = tmp_path / "many.zip"
    data = _roi_bytes()
    with zipfile.ZipFile(many, "w") as zf:
        for i in range(MAX_ROIS + 1):
            zf.writestr(f"{i:04d}-left.roi", data)
    with pytest.raises(AnnotationError, match=r"holds 1001 entries, more than the 1000 ROIs"):
        rois_from_imagej(many)
    ok = tmp_path / "ok.zip"
    with zipfile.ZipFile(ok, "w") as zf:
        for i in range(3):
            zf.writestr(f"{i:04d}-left.roi", data)
    assert [r.side for r in rois_from_imagej(ok)] == ["left"] * 3


def test_a_roi_file_larger_than_the_limit_is_refused(tmp_path):
    big = tmp_path / "big.roi"
    with open(big, "wb") as fh:
        fh.write(_roi_bytes())
        fh.truncate(MAX_ROI_BYTES + 1)  # sparse: no disk used
    with pytest.raises(AnnotationError, match=r"the ROI file takes 16 MiB, more than the 16 MiB"):
        rois_from_imagej(big)


def test_entries_together_beyond_the_limit_are_refused(tmp_path):
    from mfscan.io.imagej import MAX_ROISET_BYTES

    assert MAX_ROISET_BYTES == 64 * 2**20
    path = tmp_path / "RoiSet.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(5):  # 5 x 15 MiB: each under the entry limit, 75 MiB together
            with zf.open(f"{i:04d}-left.roi", "w") as fh:
                for _ in range(15):
                    fh.write(bytes(2**20))
    with pytest.raises(
        AnnotationError, match=r"entries declare 75 MiB once decompressed, more than the 64 MiB"
    ):
        rois_from_imagej(path)


def test_an_entry_holding_more_than_it_declares_is_refused_with_bounded_memory(tmp_path):
    import struct

    path = tmp_path / "RoiSet.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("0001-left.roi", "w") as fh:
            for _ in range(100):
                fh.write(bytes(2**20))
    raw = bytearray(path.read_bytes())
    struct.pack_into("<I", raw, 22, 1000)  # the local header's uncompressed size: 1000 bytes
    struct.pack_into("<I", raw, raw.find(b"PK\x01\x02") + 24, 1000)  # and the central directory's
    path.write_bytes(bytes(raw))
    assert zipfile.ZipFile(path).getinfo("0001-left.roi").file_size == 1000
    tracemalloc.start()
    try:
        with pytest.raises(AnnotationError, match="not a readable ImageJ ROI file or RoiSet zip"):
            rois_from_imagej(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20
