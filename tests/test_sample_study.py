"""The committed sample study (sample_data/study) is what the generator writes today."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from mfscan.synthetic.sample_study import write_sample_study

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "sample_data" / "study"

#: Largest difference allowed between a committed and a regenerated pixel, in grey levels.
MAX_GREY_LEVELS = 1
#: Largest fraction of the pixels of one image allowed to differ (0.01%: 30 of 480 x 640).
MAX_DIFFERING_FRACTION = 1e-4
#: DICOM attributes derived from a digest of the pixel data (so they follow a one-level change).
PIXEL_DERIVED_UIDS = (
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "FrameOfReferenceUID",
    "MediaStorageSOPInstanceUID",
)


def assert_pixels_match(committed: np.ndarray, fresh: np.ndarray, what) -> None:
    """Same shape and dtype; at most MAX_GREY_LEVELS apart, in at most MAX_DIFFERING_FRACTION of the pixels."""
    assert committed.shape == fresh.shape and committed.dtype == fresh.dtype, what
    diff = np.abs(committed.astype(np.int64) - fresh.astype(np.int64))
    assert diff.max() <= MAX_GREY_LEVELS, (what, int(diff.max()))
    n = int(np.count_nonzero(diff))
    assert n <= MAX_DIFFERING_FRACTION * diff.size, (what, n, diff.size)


def test_committed_sample_study_is_regenerable(tmp_path):
    """Regenerating the sample study gives the committed files.

    Sidecars (JSON), ``subjects.csv`` and every other non-image file must be
    byte-identical. PNG and DICOM pixels may differ by at most one grey level in at
    most 0.01% of the pixels of each image (30 pixels of a 480 x 640 image), and the
    DICOM's attributes must be equal except the UIDs derived from a digest of its
    pixels. Why a tolerance: the phantom is drawn in float32 (OpenCV's Gaussian blur
    and resize, NumPy's exp, sin and power) and rounded to 8 bits at the end; those
    routines use SIMD code whose last bit may change with the library version and the
    CPU, so a pixel within one float32 ulp of a rounding boundary (x.5) can round the
    other way. A real change of the generator is far outside this tolerance: even a 1%
    change of the gain, contrast or speckle moves 40,000-100,000 pixels of an image.
    What a library release did change is kept out of the generator: OpenCV 5 draws
    ``putText`` differently from 4.x (1,700 pixels of every image, up to 252 levels),
    so the burned-in text uses mfscan's own bitmap font (see the tests below); with it,
    OpenCV 4.14 and 5.1 write identical images. PNGs are compared by pixels because PNG
    bytes depend on the zlib build.
    """
    import pydicom

    write_sample_study(tmp_path)
    committed = sorted(p.relative_to(COMMITTED) for p in COMMITTED.rglob("*") if p.is_file())
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert [p for p in committed if p.name != "README.md"] == fresh
    n_png = n_dcm = 0
    for rel in fresh:
        a, b = COMMITTED / rel, tmp_path / rel
        if rel.suffix == ".png":
            assert_pixels_match(
                cv2.imread(str(a), cv2.IMREAD_UNCHANGED), cv2.imread(str(b), cv2.IMREAD_UNCHANGED), rel
            )
            n_png += 1
        elif rel.suffix == ".dcm":
            da, db = pydicom.dcmread(a), pydicom.dcmread(b)
            assert_pixels_match(da.pixel_array, db.pixel_array, rel)
            for ds_a, ds_b in ((da, db), (da.file_meta, db.file_meta)):
                keys_a = {e.tag for e in ds_a if e.keyword not in ("PixelData", *PIXEL_DERIVED_UIDS)}
                keys_b = {e.tag for e in ds_b if e.keyword not in ("PixelData", *PIXEL_DERIVED_UIDS)}
                assert keys_a == keys_b, rel
                for tag in keys_a:
                    assert ds_a[tag].value == ds_b[tag].value, (rel, ds_a[tag].keyword)
            n_dcm += 1
        else:
            assert a.read_bytes() == b.read_bytes(), rel
    assert (n_png, n_dcm) == (36 + 72, 1)  # transverse + parasagittal RUSI images


def test_pixel_tolerance_is_one_grey_level_in_one_pixel_of_ten_thousand():
    base = np.full((480, 640), 100, np.uint8)
    assert_pixels_match(base, base.copy(), "same")
    moved = base.copy()
    moved.reshape(-1)[:30] += 1  # 30 of 307,200 pixels (0.0098%) one level up
    assert_pixels_match(base, moved, "30 pixels")
    moved.reshape(-1)[-1] -= 1  # a 31st (0.0101%)
    with pytest.raises(AssertionError):
        assert_pixels_match(base, moved, "31 pixels")
    two = base.copy()
    two[5, 5] = 102
    with pytest.raises(AssertionError):
        assert_pixels_match(base, two, "two levels")
    with pytest.raises(AssertionError):
        assert_pixels_match(base, base[:, :639].copy(), "shape")


def test_rusi_part_is_consistent_and_measures_the_designed_thickness_change():
    """Every RUSI image: parasagittal, one side, a task and a trial, one thickness and one fat
    line per rater; the contraction table gives the designed change within the tracing error."""
    from mfscan.annotations import read_sidecar
    from mfscan.measure.batch import measure_paths
    from mfscan.stats.contraction import contraction_table
    from mfscan.synthetic.sample_study import RUSI, RUSI_TRIALS, VISITS

    sidecars = sorted(COMMITTED.glob("S0*/visit*/rusi/*.mfscan.json"))
    assert len(sidecars) == len(RUSI) * len(VISITS) * 2 * 2 * RUSI_TRIALS * 2  # sides, tasks, trials, raters
    for p in sidecars[::7]:
        a = read_sidecar(p)
        side = "left" if "_left_" in a.image else "right"
        assert (a.view, a.posture, a.level) == ("parasagittal", "prone", "L5")
        assert a.task in a.image and f"_{a.trial}.png" in a.image
        assert sorted(r.kind for r in a.rois) == ["fat", "thickness"] and {r.side for r in a.rois} == {side}
    res = measure_paths([COMMITTED / s for s in RUSI], progress=False, workers=1)
    assert res.errors.empty
    t = contraction_table(res.measurements)
    assert len(t) == len(RUSI) * len(VISITS) * 2 * 2 and t["missing_reason"].isna().all()
    assert (t["n_rest"] == RUSI_TRIALS).all() and (t["n_contracted"] == RUSI_TRIALS).all()
    for r in t.itertuples():
        rest_cm, _, change = RUSI[r.subject]
        designed = change[str(r.side)][VISITS.index(r.visit)]
        assert r.thickness_change_pct == pytest.approx(designed, abs=3.0), r
        assert r.rest_thickness_cm == pytest.approx(rest_cm, abs=0.08)


def test_the_generator_draws_no_text_with_opencv():
    """OpenCV's text rendering changed between releases: the generator must not use it."""
    src = REPO / "mfscan" / "synthetic"
    users = [p.name for p in src.rglob("*.py") if re.search(r"cv2\.(putText|getTextSize)\(", p.read_text())]
    assert users == []


def test_bitmap_font_draws_the_glyph_cells():
    """'L1' at 1 and 2 pixels per cell, against the 5 x 7 cells written out by hand."""
    from mfscan.synthetic._font import Font, put_text, text_size

    cells = [
        "#.......#..",
        "#......##..",
        "#.......#..",
        "#.......#..",
        "#.......#..",
        "#.......#..",
        "#####..###.",
    ]
    # 'L' in cells 0-4, a one-cell gap, '1' in cells 6-10 (its last column is blank)
    expected1 = np.array([[c == "#" for c in row] for row in cells])
    img = np.zeros((9, 12), np.uint8)
    put_text(img, "L1", (1, 7), Font(1), value=200)  # baseline row 7: glyph rows 1-7
    assert np.array_equal(img[1:8, 1:12] == 200, expected1)
    assert img.sum() == 200 * expected1.sum()  # nothing outside
    assert text_size("L1", Font(1)) == ((11, 7), 2)
    img2 = np.zeros((20, 30), np.uint8)
    put_text(img2, "l1", (0, 13), Font(2))  # lower case drawn as upper case
    assert np.array_equal(img2[0:14, 0:22] == 255, np.kron(expected1, np.ones((2, 2), bool)))
    clipped = np.zeros((4, 4), np.uint8)
    put_text(clipped, "L", (-2, 5), Font(1))  # partly outside the image: drawn where it falls
    assert np.array_equal(clipped == 255, expected1[2:6, 2:6])
