"""``mfscan propose``: propose outlines from seed points and merge them into the rater's sidecar.

The scale of each outline follows THE calibration rule
(:func:`mfscan.calibration.roi_calibration`): ``--mm-per-pixel`` (stored as a
``manual`` calibration), else a scale line or manual calibration in an existing
sidecar of the image and rater, else the DICOM region under the seed (and the
outline), else the image's own calibration, else (a plain export) the scale line or
typed scale that the image's other sidecars agree on within 1%
(:func:`mfscan.calibration.rater_override`; not copied into the rater's sidecar;
refused when they disagree). An image without any scale is
refused: the proposal's search radius and shape limits are in millimetres, and
a guessed scale makes outlines climb through the fascia.

Merge rule (:func:`mfscan.annotations.merge.merge_rois`, shared with ``mfscan
predict``): the proposal is written into ``<stem>.<rater>.mfscan.json`` (or
``-o``). When that sidecar exists only the outlines of the proposed sides (at the
same level and frame) are replaced, and only with ``--force`` when such an
outline exists; every other field, outline and the calibration are kept. Each proposed outline
also stores the ``proposal`` bookkeeping (:func:`mfscan.annotations.merge.proposal_extra`).
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import numpy as np

from mfscan.annotations.merge import merge_rois, proposable, proposal_extra
from mfscan.cli._common import _say, add_parser, add_typed_scale_options, merge_scale_override
from mfscan.errors import MfscanError

__all__ = ["parse_seed", "cmd_propose", "register", "NO_SCALE_HELP"]

#: How to give a scale, printed when an image has none.
NO_SCALE_HELP = (
    "the image has no calibration (no DICOM region or pixel spacing, no ImageJ scale, "
    "no scale line or manual calibration in any of its sidecars) and a proposal needs one: give "
    "--mm-per-pixel V (for example the depth ruler's length in mm / its length in pixels), "
    "or draw a scale line in the napari widget and save it first"
)


def parse_seed(text: str) -> tuple[str, tuple[float, float]]:
    """``left:ROW,COL`` -> ('left', (row, col)); raises argparse.ArgumentTypeError."""
    from mfscan.annotations import normalize_side
    from mfscan.errors import AnnotationError

    side, sep, rest = str(text).partition(":")
    try:
        side = normalize_side(side)
    except AnnotationError as e:
        raise argparse.ArgumentTypeError(
            f"seed {text!r}: the side must be 'left' or 'right' (left:ROW,COL)"
        ) from e
    parts = rest.split(",")
    try:
        if not sep or len(parts) != 2:
            raise ValueError
        row, col = float(parts[0]), float(parts[1])
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"seed {text!r}: expected SIDE:ROW,COL, e.g. left:120,480") from e
    return side, (row, col)


def _propose_side(img, frame_index: int, frames, side: str, seed, override, image_path, border="inner"):
    """One proposed ROI and its printed line, measured with the ROI's calibration.

    ``frames`` is the grey frame and its burned-in overlay mask.
    """
    from mfscan.annotations import ROI
    from mfscan.assist.propose import propose_outline
    from mfscan.calibration import roi_calibration
    from mfscan.measure import measure_outline

    def spacing(cal):
        return (cal.row_mm, cal.col_mm) if cal.calibrated else None

    frame, overlay = frames
    try:
        seed_cal = roi_calibration([seed], img, override)
        if not seed_cal.calibrated:
            raise MfscanError(NO_SCALE_HELP)
        prop = propose_outline(
            frame, seed, spacing=spacing(seed_cal), side=side, exclude=overlay, border=border
        )
        cal = roi_calibration(prop.points, img, override)
    except MfscanError as e:
        raise MfscanError(f"{side}: {e.message}", image_path) from e
    points = np.asarray(prop.points, dtype=float)
    flags = list(prop.flags)
    roi = ROI(
        side,
        points,
        frame=frame_index if img.n_frames > 1 else None,
        region=cal.region if cal.source == "dicom-region" else None,
        method="proposed",
        extra={
            "confidence": round(float(prop.confidence), 3),
            **({"flags": flags} if flags else {}),
            "proposal": proposal_extra(points, "proposed", flags=flags),
        },
    )
    m = measure_outline(prop.points, frame, spacing=spacing(cal))
    size = f"{m['csa_cm2']:.2f} cm2" if cal.calibrated else f"{m['csa_px2']:.0f} px2 (uncalibrated)"
    flag = "  LOW CONFIDENCE: check this outline" if prop.low_confidence else ""
    return roi, f"  {side}: CSA {size}, confidence {prop.confidence:.2f}{flag}"


def _target(args, image_path):
    """``(sidecar path, existing Annotation or None)``; an unreadable sidecar is refused."""
    from mfscan.annotations.merge import target_sidecar

    return target_sidecar(image_path, args.rater, args.output)


def _codes(args, ann, out):
    """``ann`` (or a new Annotation) with the codes given on the command line; conflicts are refused."""
    from mfscan.annotations import Annotation

    if ann is None:
        return Annotation(
            image=Path(args.image).name,
            subject=args.subject,
            visit=args.visit,
            level=args.level,
            rater=args.rater,
        )
    for key in ("subject", "visit", "rater"):
        given, stored = getattr(args, key), getattr(ann, key)
        if given is not None and stored is not None and given != stored:
            raise MfscanError(
                f"the sidecar's {key} is {stored!r} but --{key} {given!r} was given; "
                "not merged (fix the code or give another -o)",
                out,
            )
        if stored is None:
            setattr(ann, key, given)
    if ann.level is None and not ann.rois:
        ann.level = args.level
    return ann


def _override(args, ann, out, img):
    """The calibration override to use and store: :func:`mfscan.cli._common.merge_scale_override`
    with ``--mm-per-pixel`` and the sidecar's own (``ann``, else the one ``-o`` or the rater names)."""
    return merge_scale_override(
        args.image,
        img,
        ann,
        out,
        rater=args.rater,
        output=args.output,
        mm_per_pixel=args.mm_per_pixel,
        override_calibration=args.override_calibration,
        force=args.force,
        points=[seed for _, seed in args.seed] or None,
    )


def cmd_propose(args) -> int:
    from mfscan.annotations import study_border, write_sidecar
    from mfscan.calibration import image_calibration, is_override
    from mfscan.io.images import load_image

    image_path = Path(args.image)
    sides = [s for s, _ in args.seed]
    if len(set(sides)) != len(sides):
        raise MfscanError(f"one seed per side, got {', '.join(sides)}")
    img = load_image(image_path)
    if not (0 <= args.frame < img.n_frames):
        raise MfscanError(f"frame {args.frame} does not exist (the image has {img.n_frames})", image_path)
    out, existing = _target(args, image_path)
    ann = _codes(args, existing, out)
    override = _override(args, existing, out, img)
    if not image_calibration(img, override).calibrated:
        raise MfscanError(NO_SCALE_HELP, image_path)
    level = args.level if args.level and args.level != ann.level else None
    seeds, lines = args.seed, []
    if existing is not None:  # before the work: a traced side is kept, refused when every side is
        from mfscan.annotations import ROI

        free, lines = proposable(
            ann, [ROI(s, [[0, 0]], level=level) for s in sides], frame=args.frame, force=args.force
        )
        seeds = [(s, seed) for s, seed in args.seed if s in {r.side for r in free}]
    frames = (img.gray[args.frame], img.overlay_frame(args.frame))
    border = args.border or study_border(image_path)
    rois, lines = [], [f"  {n}" for n in lines]
    for side, seed in seeds:
        roi, line = _propose_side(img, args.frame, frames, side, seed, override, image_path, border)
        roi.level = level
        rois.append(roi)
        lines.append(line)
    ann = merge_rois(ann, rois, frame=args.frame, force=args.force)
    shared = override is not None and "shared_from" in override.details  # the image's, not stored
    if override is not None and not shared and (args.mm_per_pixel or not is_override(ann.calibration)):
        ann.calibration = override  # typed, or the rater's sidecar's when written elsewhere with -o
    write_sidecar(out, ann)  # never force: a file changed or created meanwhile is not overwritten
    verb = "merged" if existing is not None else "proposed"
    _say(f"{verb} {len(rois)} outline(s) on {image_path.name} -> {out} (border: {border} of the lines)")
    for ln in lines:
        _say(ln)
    _say("  (proposals are a starting point: check and edit them; edits are recorded as 'proposed-edited')")
    return 0


def register(sub) -> None:
    """Add the ``propose`` subcommand to the ``mfscan`` parser's subparsers."""
    from mfscan.vocab import BORDERS, LEVELS

    s = add_parser(
        sub,
        "propose",
        "propose multifidus outlines from seed points (semi-automatic)",
        textwrap.dedent("""\
            Propose the outline of each multifidus from one point inside it, and save the
            outlines in the rater's sidecar with method "proposed" and a confidence (0-1) per
            outline; a low confidence is flagged on screen ("check this outline").
            The side is the patient's side, as the rater assigns it (never inferred).
            Border: the inner edge of the bright fascia/bone lines, or their centre when the
            study's mfscan.study.json says "border": "centre" (or --border centre).
            Scale: --mm-per-pixel (stored as a manual calibration; refused when more than 1% from
            the image's own DICOM/ImageJ scale unless --override-calibration), else a scale line or manual
            calibration in the image's existing sidecar (of the same rater), else the image's own
            (DICOM region, pixel spacing, ImageJ TIFF), else the scale line or typed scale that the
            image's other sidecars (other raters, sessions) agree on within 1%; refused when they
            disagree. An image without a scale is refused.
            An existing sidecar is merged into: only the proposed sides' outlines are replaced,
            and only with --force when they exist; codes, calibration, other outlines are kept.
            Example: mfscan propose scan01.png --seed right:120,300 --seed left:118,480 --rater R1"""),
        cmd_propose,
    )
    s.add_argument("image", metavar="IMAGE")
    s.add_argument(
        "--seed",
        action="append",
        type=parse_seed,
        required=True,
        metavar="SIDE:ROW,COL",
        help="a point inside the muscle, e.g. left:120,480 (repeat for each side)",
    )
    add_typed_scale_options(s, "pixel size in mm (stored in the sidecar as a manual calibration)")
    s.add_argument("--level", type=str.upper, choices=LEVELS, help="vertebral level")
    s.add_argument(
        "--border",
        choices=list(BORDERS),
        help="trace the inner edge of the fascia and bone lines or their centre (default: the study's "
        '"border" in mfscan.study.json, else inner)',
    )
    for name in ("rater", "subject", "visit"):
        s.add_argument(f"--{name}", help=f"{name} code to store in the sidecar")
    s.add_argument("--frame", type=int, default=0, metavar="N", help="frame of a cine image (default: 0)")
    s.add_argument("-o", "--output", metavar="SIDECAR", help="default: <image stem>[.<rater>].mfscan.json")
    s.add_argument(
        "--force",
        action="store_true",
        help="replace existing outlines of the proposed sides (and the sidecar's calibration "
        "with --mm-per-pixel); nothing else is dropped",
    )
