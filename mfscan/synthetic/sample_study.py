"""The synthetic sample study shipped in ``sample_data/study``.

Every image is a phantom (:mod:`mfscan.synthetic.phantom`): no patient data, real or
realistic-looking. Regenerate it with ``mfscan sample-data --force sample_data/study``.

Design (deterministic by seed):

* 3 subjects (S01-S03), 3 visits (1, 2, 3), levels L4 and L5, two repeat images
  per level and visit, each image showing both multifidus muscles.
* ``subjects.csv``: symptomatic side and group (exercise / control). The
  symptomatic side is smaller at L5 at baseline (about 20% asymmetry, Hides'
  definition); it recovers over visits in the exercise group and persists in the
  control group, as in Hides et al. 1996.
* PNG exports carry no calibration: each sidecar records a scale line drawn over
  5 cm of the burned-in depth ruler (``source: scale-line``).
* Raters R1 and R2 traced every image (inter-rater reliability; R2 traces about
  0.8 px inside the border, a systematic difference that ICC(2,1) and the
  Bland-Altman bias show), and R1 traced each a second time (``session: "2"``,
  intra-rater). Tracings are the true outlines with small smooth deviations.
* One calibrated DICOM (``SequenceOfUltrasoundRegions``, RLE compressed) with its
  sidecar, measured with the DICOM's own calibration.
* A small RUSI part (``<subject>/visit<N>/rusi/``, :data:`RUSI`): S01 and S02, every
  visit, L5, parasagittal images (:mod:`mfscan.synthetic.parasagittal`) of each side
  at rest and contracted, 3 trials each; every image has one ``thickness`` and one
  ``fat`` line traced by R1 and R2. The symptomatic side thickens less on
  contraction; in the exercise group (S01) it recovers over the visits.
"""

from __future__ import annotations

import csv
import io
import zlib
from pathlib import Path

import cv2
import numpy as np

from mfscan.annotations import ROI, Annotation, dumps, sidecar_path
from mfscan.calibration import from_scale_line
from mfscan.io.files import atomic_write_bytes
from mfscan.synthetic._random import generator
from mfscan.synthetic.phantom import make_phantom

SUBJECTS = (
    # subject, symptomatic side, group, baseline L5 asymmetry %, asymmetry at visits 2 and 3
    ("S01", "right", "exercise", 22.0, (12.0, 6.0)),
    ("S02", "left", "control", 19.0, (18.0, 17.0)),
    ("S03", "right", "control", 24.0, (21.0, 22.0)),
)
VISITS = ("1", "2", "3")
LEVELS = ("L4", "L5")
REPEATS = 2
SHAPE = (480, 640)
SPACING_MM = 0.25
#: RUSI part: subject -> (rest thickness cm, fat cm, {side: thickness change % at visits 1, 2, 3}).
RUSI = {
    "S01": (3.0, 1.0, {"right": (8.0, 14.0, 19.0), "left": (20.0, 21.0, 20.0)}),
    "S02": (3.2, 1.4, {"left": (9.0, 10.0, 9.0), "right": (19.0, 20.0, 19.0)}),
}
RUSI_SHAPE = (224, 320)
RUSI_SPACING_MM = 0.3
RUSI_TRIALS = 3


def _rater_outline(points, rng, *, bias_px=0.0, noise_px=1.5, n_keep=60):
    """A rater's tracing: fewer vertices, a smooth random radial deviation and a bias."""
    idx = np.linspace(0, len(points), n_keep, endpoint=False).astype(int)
    p = np.asarray(points, float)[idx]
    c = p.mean(axis=0)
    d = p - c
    r = np.hypot(d[:, 0], d[:, 1])
    k = np.arange(1, 4)
    t = np.linspace(0, 2 * np.pi, n_keep, endpoint=False)
    wobble = (
        rng.normal(0, noise_px / 2, 3)[:, None] * np.cos(np.outer(k, t) + rng.uniform(0, 6.28, 3)[:, None])
    ).sum(0)
    offset = rng.normal(0, 0.35)  # where exactly this tracing put the border: about 1-2% of CSA
    scale = (r + bias_px + offset + wobble) / r
    return np.round(c + d * scale[:, None], 2)


def _ruler_line(ph):
    rows = np.asarray(ph.landmarks.get("ruler_tick_rows", []), float)
    mm = np.asarray(ph.landmarks.get("ruler_tick_mm", []), float)
    col = float(ph.landmarks.get("ruler_col") or 0)
    if len(rows) < 2:
        raise RuntimeError("phantom has no depth ruler")
    i0 = int(np.argmin(np.abs(mm - 10)))
    i1 = int(np.argmin(np.abs(mm - 60)))
    return (rows[i0], col), (rows[i1], col), float(mm[i1] - mm[i0])


def _png_bytes(image):
    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise RuntimeError("OpenCV could not encode the image as PNG")
    return buf.tobytes()


def write_sample_study(directory, *, seed: int = 2026) -> str:
    """Write the sample study into `directory` (created; existing files replaced).

    Returns
    -------
    str
        A one-line summary of what was written.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    rng = generator(seed)
    n_images = n_sidecars = 0
    rows = []
    for s_i, (subject, symptomatic, group, asym0, later) in enumerate(SUBJECTS):
        rows.append({"subject": subject, "symptomatic_side": symptomatic, "group": group})
        base_csa = {"L4": 7.0 + 0.6 * s_i, "L5": 8.2 + 0.5 * s_i}
        for v_i, visit in enumerate(VISITS):
            folder = root / subject / f"visit{visit}"
            folder.mkdir(parents=True, exist_ok=True)
            for level in LEVELS:
                asym = (asym0, *later)[v_i] if level == "L5" else 4.0 + 2.0 * rng.random()
                for rep in range(1, REPEATS + 1):
                    ph_seed = int(rng.integers(0, 2**31))
                    larger = base_csa[level] * (1 + rng.normal(0, 0.015))
                    ph = make_phantom(
                        seed=ph_seed,
                        shape=SHAPE,
                        spacing_mm=SPACING_MM,
                        left_csa_cm2=larger if symptomatic != "left" else larger * (1 - asym / 100),
                        asymmetry_pct=asym,
                        smaller_side=symptomatic,
                        lateral_contrast=0.8,
                        level=level,
                    )
                    name = f"{subject}_V{visit}_{level}_{rep}.png"
                    img_path = folder / name
                    atomic_write_bytes(img_path, _png_bytes(ph.image))
                    n_images += 1
                    p0, p1, length = _ruler_line(ph)
                    cal = from_scale_line(p0, p1, length)
                    tracings = [("R1", None, 0.0), ("R2", None, -0.8), ("R1", "2", 0.0)]
                    for rater, session, bias in tracings:
                        trng = generator([ph_seed, zlib.crc32(f"{rater}/{session}".encode())])
                        ann = Annotation(
                            image=name,
                            subject=subject,
                            visit=visit,
                            level=level,
                            rater=rater,
                            session=session,
                            calibration=cal,
                            rois=[
                                ROI(side, _rater_outline(ph.outlines[side], trng, bias_px=bias))
                                for side in ("left", "right")
                            ],
                        )
                        code = rater if session is None else f"{rater}s{session}"
                        atomic_write_bytes(sidecar_path(img_path, code), dumps(ann).encode())
                        n_sidecars += 1
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["subject", "symptomatic_side", "group"], lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_bytes(root / "subjects.csv", buf.getvalue().encode())
    n_images += _write_dicom_sample(root, seed)
    n_sidecars += 1
    n_rusi, n_rusi_sidecars = _write_rusi_sample(root, seed)
    return (
        f"{n_images + n_rusi} images ({n_rusi} parasagittal RUSI), "
        f"{n_sidecars + n_rusi_sidecars} sidecars, subjects.csv"
    )


def _line_tracing(line, rng, *, bias_px: float = 0.0, noise_px: float = 0.7):
    """A rater's two clicks: the true ends with a small error; the superficial end moved
    by ``bias_px`` along the line (positive: deeper)."""
    p = np.asarray(line, float) + rng.normal(0, noise_px, (2, 2)) * np.array([[1.0, 0.5]])
    p[1, 0] += bias_px
    p[:, 0] = np.maximum(p[:, 0], 0.0)  # a click on the skin stays on the image
    return np.round(p, 2)


def _write_rusi_sample(root: Path, seed: int) -> tuple[int, int]:
    """The RUSI part: parasagittal rest and contracted trials per side, with their lines."""
    from mfscan.synthetic.parasagittal import make_rusi_series

    rng = generator([seed, 13])
    n_images = n_sidecars = 0
    for subject, (rest_cm, fat_cm, change) in RUSI.items():
        for v_i, visit in enumerate(VISITS):
            folder = root / subject / f"visit{visit}" / "rusi"
            folder.mkdir(parents=True, exist_ok=True)
            for side in ("left", "right"):
                series = make_rusi_series(
                    seed=int(rng.integers(0, 2**31)),
                    rest_thickness_cm=rest_cm,
                    contracted_thickness_cm=rest_cm * (1 + change[side][v_i] / 100),
                    fat_cm=fat_cm,
                    trials=RUSI_TRIALS,
                    trial_sd_cm=0.04,
                    shape=RUSI_SHAPE,
                    spacing_mm=RUSI_SPACING_MM,
                    level="L5",
                )
                for (task, trial), ph in series.items():
                    name = f"{subject}_V{visit}_L5_{side}_{task}_{trial}.png"
                    img_path = folder / name
                    atomic_write_bytes(img_path, _png_bytes(ph.image))
                    n_images += 1
                    rows = np.asarray(ph.landmarks["ruler_tick_rows"], float)
                    mm = np.asarray(ph.landmarks["ruler_tick_mm"], float)
                    col = float(ph.landmarks["ruler_col"])
                    cal = from_scale_line((rows[1], col), (rows[-1], col), float(mm[-1] - mm[1]))
                    for rater, bias in (("R1", 0.0), ("R2", 0.6)):
                        trng = generator([seed, zlib.crc32(f"{name}/{rater}".encode())])
                        ann = Annotation(
                            image=name,
                            subject=subject,
                            visit=visit,
                            level="L5",
                            rater=rater,
                            calibration=cal,
                            view="parasagittal",
                            task=task,
                            posture="prone",
                            trial=trial,
                            rois=[
                                ROI(
                                    side,
                                    _line_tracing(ph.lines["thickness"], trng, bias_px=bias),
                                    kind="thickness",
                                ),
                                ROI(side, _line_tracing(ph.lines["fat"], trng), kind="fat"),
                            ],
                        )
                        atomic_write_bytes(sidecar_path(img_path, rater), dumps(ann).encode())
                        n_sidecars += 1
    return n_images, n_sidecars


def _write_dicom_sample(root: Path, seed: int) -> int:
    """A calibrated DICOM of subject S01, visit 1, level L4, measured with its own regions."""
    from mfscan.synthetic.dicom import write_us_dicom

    ph = make_phantom(
        seed=seed,
        shape=SHAPE,
        spacing_mm=SPACING_MM,
        left_csa_cm2=7.4,
        asymmetry_pct=5.0,
        smaller_side="left",
        lateral_contrast=0.8,
    )
    folder = root / "dicom"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "S01_V1_L4_dicom.dcm"
    rows, cols = SHAPE
    write_us_dicom(
        path,
        ph.image,
        transfer_syntax="rle",
        burned_in_annotation="YES",
        regions=[
            {
                "bounds": (0, 0, rows - 1, cols - 1),
                "delta_cm": (SPACING_MM / 10, SPACING_MM / 10),
                "units": (3, 3),
                "spatial_format": 1,
                "data_type": 1,
                "flags": 0,
            }
        ],
    )
    rng = generator(seed)
    ann = Annotation(
        image=path.name,
        subject="S01",
        visit="1",
        level="L4",
        rater="R1",
        rois=[ROI(side, _rater_outline(ph.outlines[side], rng)) for side in ("left", "right")],
    )
    atomic_write_bytes(sidecar_path(path, "R1"), dumps(ann).encode())
    return 1
