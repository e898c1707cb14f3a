"""``mfscan propose``: propose outlines from seed points and save them as a sidecar.

The scale of each outline follows THE calibration rule
(:func:`mfscan.calibration.roi_calibration`): a scale line or manual calibration in
an existing sidecar of the image and rater overrides the image's own, else the DICOM
region under the seed (and the outline) applies, else the image's calibration.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from mfscan.cli._common import _say, add_parser
from mfscan.errors import MfscanError

__all__ = ["parse_seed", "existing_calibration", "cmd_propose", "register"]


def parse_seed(text: str) -> tuple[str, tuple[float, float]]:
    """``left:ROW,COL`` -> ('left', (row, col)); raises argparse.ArgumentTypeError."""
    from mfscan.annotations import normalize_side
    from mfscan.errors import AnnotationError

    side, sep, rest = str(text).partition(":")
    try:
        side = normalize_side(side)
    except AnnotationError as e:
        raise argparse.ArgumentTypeError(
            f"seed {text!r}: the side must be 'left' or 'right' (left:ROW,COL)") from e
    parts = rest.split(",")
    try:
        if not sep or len(parts) != 2:
            raise ValueError
        row, col = float(parts[0]), float(parts[1])
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"seed {text!r}: expected SIDE:ROW,COL, e.g. left:120,480") from e
    return side, (row, col)


def existing_calibration(image_path, rater=None, output=None):
    """The calibration stored in the sidecar a proposal would replace, or None.

    That is ``output`` when given and present, else ``<image stem>[.<rater>].mfscan.json``.
    """
    from mfscan.annotations import read_sidecar, sidecar_path

    for path in ([Path(output)] if output else []) + [sidecar_path(image_path, rater)]:
        if path.is_file():
            return read_sidecar(path).calibration
    return None


def _propose_side(img, frame_index: int, frames, side: str, seed, override, image_path):
    """One proposed ROI and its printed line, measured with the ROI's calibration.

    ``frames`` is the grey frame and its burned-in overlay mask.
    """
    from mfscan.annotations import ROI
    from mfscan.calibration import roi_calibration
    from mfscan.assist.propose import propose_outline
    from mfscan.measure import measure_outline

    def spacing(cal):
        return (cal.row_mm, cal.col_mm) if cal.calibrated else None

    frame, overlay = frames
    try:
        seed_cal = roi_calibration([seed], img, override)
        prop = propose_outline(frame, seed, spacing=spacing(seed_cal), side=side,
                               exclude=overlay)
        cal = roi_calibration(prop.points, img, override)
    except MfscanError as e:
        raise MfscanError(f"{side}: {e.message}", image_path) from e
    roi = ROI(side, prop.points, frame=frame_index if img.n_frames > 1 else None,
              region=cal.region if cal.source == "dicom-region" else None, method="proposed",
              extra={"confidence": round(float(prop.confidence), 3)})
    m = measure_outline(prop.points, frame, spacing=spacing(cal))
    size = f"{m['csa_cm2']:.2f} cm2" if cal.calibrated else f"{m['csa_px2']:.0f} px2 (uncalibrated)"
    return roi, f"  {side}: CSA {size}, confidence {prop.confidence:.2f}"


def cmd_propose(args) -> int:
    from mfscan.annotations import Annotation, sidecar_path, write_sidecar
    from mfscan.calibration import is_override
    from mfscan.io.images import load_image

    image_path = Path(args.image)
    sides = [s for s, _ in args.seed]
    if len(set(sides)) != len(sides):
        raise MfscanError(f"one seed per side, got {', '.join(sides)}")
    img = load_image(image_path)
    if not (0 <= args.frame < img.n_frames):
        raise MfscanError(f"frame {args.frame} does not exist (the image has {img.n_frames})", image_path)
    override = existing_calibration(image_path, args.rater, args.output)
    override = override if is_override(override) else None
    frames = (img.gray[args.frame], img.overlay_frame(args.frame))
    rois, lines = [], []
    for side, seed in args.seed:
        roi, line = _propose_side(img, args.frame, frames, side, seed, override, image_path)
        rois.append(roi)
        lines.append(line)
    ann = Annotation(image=image_path.name, rois=rois, calibration=override, subject=args.subject,
                     visit=args.visit, level=args.level, rater=args.rater)
    out = Path(args.output) if args.output else sidecar_path(image_path, args.rater)
    write_sidecar(out, ann, force=args.force)
    _say(f"proposed {len(rois)} outline(s) on {image_path.name} -> {out}")
    for ln in lines:
        _say(ln)
    _say("  (proposals are a starting point: check and edit them; edits are recorded as 'proposed-edited')")
    return 0


def register(sub) -> None:
    """Add the ``propose`` subcommand to the ``mfscan`` parser's subparsers."""
    from mfscan.vocab import LEVELS

    s = add_parser(
        sub, "propose", "propose multifidus outlines from seed points (semi-automatic)",
        textwrap.dedent("""\
            Propose the outline of each multifidus from one point inside it, and save the
            outlines as a sidecar with method "proposed" and a confidence (0-1) per outline.
            The side is the patient's side, as the rater assigns it (never inferred).
            A scale line or manual calibration in the image's existing sidecar (of the same
            rater) is kept and used, as when measuring.
            Example: mfscan propose scan01.png --seed right:120,300 --seed left:118,480 --rater R1"""),
        cmd_propose)
    s.add_argument("image", metavar="IMAGE")
    s.add_argument("--seed", action="append", type=parse_seed, required=True, metavar="SIDE:ROW,COL",
                   help="a point inside the muscle, e.g. left:120,480 (repeat for each side)")
    s.add_argument("--level", type=str.upper, choices=LEVELS, help="vertebral level")
    for name in ("rater", "subject", "visit"):
        s.add_argument(f"--{name}", help=f"{name} code to store in the sidecar")
    s.add_argument("--frame", type=int, default=0, metavar="N", help="frame of a cine image (default: 0)")
    s.add_argument("-o", "--output", metavar="SIDECAR", help="default: <image stem>[.<rater>].mfscan.json")
    s.add_argument("--force", action="store_true", help="overwrite an existing sidecar")
