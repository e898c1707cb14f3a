"""``mfscan propose``: propose outlines from seed points and save them as a sidecar.

Hooked into :mod:`mfscan.cli` through ``_EXTRA_COMMANDS``.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from mfscan.errors import MfscanError


def parse_seed(text: str) -> tuple[str, tuple[float, float]]:
    """``left:ROW,COL`` -> ('left', (row, col)); raises argparse.ArgumentTypeError."""
    from mfscan.annotations import normalize_side
    from mfscan.errors import AnnotationError

    side, sep, rest = str(text).partition(":")
    try:
        side = normalize_side(side)
    except AnnotationError:
        raise argparse.ArgumentTypeError(f"seed {text!r}: the side must be 'left' or 'right' (left:ROW,COL)") from None
    parts = rest.split(",")
    try:
        if not sep or len(parts) != 2:
            raise ValueError
        row, col = float(parts[0]), float(parts[1])
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed {text!r}: expected SIDE:ROW,COL, e.g. left:120,480") from None
    return side, (row, col)


def cmd_propose(args) -> int:
    from mfscan.annotations import ROI, Annotation, sidecar_path, write_sidecar
    from mfscan.calibration import calibration_for_points
    from mfscan.io.images import load_image
    from mfscan.measure import measure_outline
    from mfscan.assist.propose import propose_outline

    image_path = Path(args.image)
    sides = [s for s, _ in args.seed]
    if len(set(sides)) != len(sides):
        raise MfscanError(f"one seed per side, got {', '.join(sides)}")
    img = load_image(image_path)
    if not (0 <= args.frame < img.n_frames):
        raise MfscanError(f"frame {args.frame} does not exist (the image has {img.n_frames})", image_path)
    frame = img.gray[args.frame]
    overlay = img.overlay_frame(args.frame)
    cal = img.calibration
    spacing = (cal.row_mm, cal.col_mm) if cal.calibrated else None
    rois, lines = [], []
    for side, seed in args.seed:
        try:
            prop = propose_outline(frame, seed, spacing=spacing, side=side, exclude=overlay)
        except MfscanError as e:
            raise MfscanError(f"{side}: {e.message}", image_path) from None
        region = None
        sp = spacing
        if img.regions and cal.calibrated:
            c = calibration_for_points(prop.points, img.regions, cal)
            region = c.region
            sp = (c.row_mm, c.col_mm)
        rois.append(ROI(side, prop.points, frame=args.frame if img.n_frames > 1 else None,
                        region=region, method="proposed",
                        extra={"confidence": round(float(prop.confidence), 3)}))
        m = measure_outline(prop.points, frame, spacing=sp)
        size = f"{m['csa_cm2']:.2f} cm2" if sp is not None else f"{m['csa_px2']:.0f} px2 (uncalibrated)"
        lines.append(f"  {side}: CSA {size}, confidence {prop.confidence:.2f}")
    ann = Annotation(image=image_path.name, rois=rois, subject=args.subject, visit=args.visit,
                     level=args.level, rater=args.rater)
    out = Path(args.output) if args.output else sidecar_path(image_path, args.rater)
    write_sidecar(out, ann, force=args.force)
    print(f"proposed {len(rois)} outline(s) on {image_path.name} -> {out}")
    for ln in lines:
        print(ln)
    print("  (proposals are a starting point: check and edit them; edits are recorded as 'proposed-edited')")
    return 0


def register(sub) -> None:
    """Add the ``propose`` subcommand to the ``mfscan`` parser's subparsers."""
    from mfscan.annotations import LEVELS
    from mfscan.cli.main import EPILOG, _fmt

    s = sub.add_parser(
        "propose", help="propose multifidus outlines from seed points (semi-automatic)",
        formatter_class=_fmt, epilog=EPILOG,
        description=textwrap.dedent("""\
            Propose the outline of each multifidus from one point inside it, and save the
            outlines as a sidecar with method "proposed" and a confidence (0-1) per outline.
            The side is the patient's side, as the rater assigns it (never inferred).
            Example: mfscan propose scan01.png --seed right:120,300 --seed left:118,480 --rater R1"""))
    s.add_argument("image", metavar="IMAGE")
    s.add_argument("--seed", action="append", type=parse_seed, required=True, metavar="SIDE:ROW,COL",
                   help="a point inside the muscle, e.g. left:120,480 (repeat for each side)")
    s.add_argument("--level", type=str.upper, choices=LEVELS, help="vertebral level")
    for name in ("rater", "subject", "visit"):
        s.add_argument(f"--{name}", help=f"{name} code to store in the sidecar")
    s.add_argument("--frame", type=int, default=0, metavar="N", help="frame of a cine image (default: 0)")
    s.add_argument("-o", "--output", metavar="SIDECAR", help="default: <image stem>[.<rater>].mfscan.json")
    s.add_argument("--force", action="store_true", help="overwrite an existing sidecar")
    s.set_defaults(func=cmd_propose)
