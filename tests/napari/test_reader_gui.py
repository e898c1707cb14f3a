"""The reader through napari: bare DICOM files (no suffix) open with the mfscan plugin."""

from __future__ import annotations

import numpy as np
from mfscan_napari import _reader

from mfscan.synthetic.dicom import write_us_dicom


def test_bare_dicom_opens_in_the_widget_and_worklist(widget_factory, tmp_path, phantom):
    p = write_us_dicom(
        tmp_path / "tmp.dcm",
        phantom.image,
        regions=[{"bounds": (0, 0, 299, 399), "delta_cm": (0.025, 0.025)}],
    )
    bare = p.rename(tmp_path / "IM0001")
    viewer, w = widget_factory()
    w.open_folder(tmp_path)
    assert [im.name for im in w.worklist.images] == ["IM0001"]
    layer = w.image_layer
    np.testing.assert_array_equal(np.asarray(layer.data), phantom.image)
    assert layer.scale.tolist() == [0.25, 0.25]
    assert layer.metadata["mfscan"]["calibration"]["source"] == "dicom-region"
    assert bare.exists()


def test_reader_declines_unsupported_files_without_suffix_rule(tmp_path):
    (tmp_path / "notes.txt").write_text("hello, not an image\n" * 20)
    (tmp_path / "README").write_text("plain text without a suffix\n")
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)) * 4)
    for name in ("notes.txt", "README", "blob.bin"):
        assert _reader.get_reader(str(tmp_path / name)) is None
    assert _reader.get_reader(str(tmp_path / "missing")) is None


def test_reader_patterns_do_not_claim_every_file():
    from npe2 import PluginManager

    pm = PluginManager.instance()
    pm.discover()
    assert "mfscan" in {r.plugin_name for r in pm.iter_compatible_readers(["/data/scan.dcm"])}
    for name in ("data.npy", "table.csv", "points.txt"):
        assert "mfscan" not in {r.plugin_name for r in pm.iter_compatible_readers([name])}, name
