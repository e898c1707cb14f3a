"""``mfscan import-imagej`` and ``mfscan export-imagej``: Fiji ROIs to and from sidecars."""

from __future__ import annotations

from pathlib import Path

from mfscan.cli._common import _say, add_parser, add_typed_scale_options, scale_override
from mfscan.errors import MfscanError

__all__ = ["cmd_import_imagej", "cmd_export_imagej", "register"]


def cmd_import_imagej(args) -> int:
    from mfscan.annotations import Annotation, sidecar_path, write_sidecar
    from mfscan.annotations.imagej import annotation_from_imagej
    from mfscan.annotations.records import validated

    image = Path(args.image)
    if not image.is_file():
        raise MfscanError("image file not found", image)
    codes = {k: getattr(args, k) for k in ("subject", "visit", "level", "rater", "session")}
    out = Path(args.output) if args.output else sidecar_path(image, args.rater)
    # the typed codes, checked by the sidecar reader's own rule before any ROI is read
    validated(Annotation(image=image.name, **codes), out)
    ann = annotation_from_imagej(
        image, args.rois, sides=args.sides, clip=args.clip, split_parts=args.split_parts, **codes
    )
    if args.mm_per_pixel:
        from mfscan.io.images import load_image

        points = [p for roi in ann.rois for p in roi.points]
        ann.calibration = scale_override(  # a new sidecar: nothing stored, nothing shared
            image,
            load_image(image),
            mm_per_pixel=args.mm_per_pixel,
            override_calibration=args.override_calibration,
            points=points or None,
        )
    ann = validated(ann, out)  # codes as the reader normalises them (l4 -> L4)
    write_sidecar(out, ann, force=args.force)
    _say(f"imported {len(ann.rois)} outline(s) ({', '.join(r.side for r in ann.rois)}) -> {out}")
    for roi in ann.rois:
        name = roi.extra.get("imagej_name", roi.side)
        part, _, n = str(roi.extra.get("imagej_part", "")).partition("/")
        if part == "1":
            _say(
                f"WARNING: ROI {name.rsplit(' part ', 1)[0]!r} has {n} separate parts, imported as {n} "
                f"{roi.side} outlines measured on rows of their own (averaged as repeats by the study "
                "tables): if they are one muscle, join them in Fiji; if they are both sides, give each "
                "its own ROI and name",
                err=True,
            )
        if roi.extra.get("clipped_share"):
            _say(
                f"WARNING: ROI {name!r} ran off the image: clipped to it, "
                f"{100 * roi.extra['clipped_share']:.2f}% of its area cut off (column clipped_share)",
                err=True,
            )
        if roi.extra.get("repair"):
            _say(f"note: ROI {name!r}: {roi.extra['repair']} (column outline_repair)")
    return 0


def cmd_export_imagej(args) -> int:
    from mfscan.annotations import read_sidecar
    from mfscan.annotations.imagej import write_imagej

    ann = read_sidecar(args.sidecar)
    out = write_imagej(ann, args.output)
    _say(f"exported {len(ann.rois)} outline(s) -> {out}")
    return 0


def register(sub) -> None:
    """Add the ``import-imagej`` and ``export-imagej`` subcommands."""
    s = add_parser(
        sub,
        "import-imagej",
        "turn a Fiji .roi / RoiSet.zip into a sidecar",
        "Convert Fiji/ImageJ ROIs of IMAGE into an mfscan sidecar. ROI names must "
        "say the side ('left', 'R', 'L4 right', '01-left-L5'), or --sides gives them in "
        "ROI order; a level in the name is kept. Vertices are kept to sub-pixel precision. "
        "Polygon, freehand, traced, rectangle, oval and composite ROIs are read "
        "(ovals and rectangles with their exact area; a composite's separate parts as one "
        "outline each; a freehand or traced outline that only touches itself where Fiji "
        "closed it is repaired and noted). Composite parts with holes, outlines that cross "
        "themselves, lines and points are refused, and ROIs that run off the image too "
        "unless --clip is given.",
        cmd_import_imagej,
    )
    s.add_argument("image", metavar="IMAGE")
    s.add_argument("rois", metavar="ROIS", help=".roi file or RoiSet .zip")
    s.add_argument("-o", "--output", metavar="SIDECAR", help="default: <image stem>[.<rater>].mfscan.json")
    for name in ("subject", "visit", "level", "rater", "session"):
        s.add_argument(f"--{name}", help=f"{name} code to store in the sidecar")
    s.add_argument(
        "--sides",
        metavar="SIDE,SIDE...",
        help="one side per ROI in ROI order, e.g. left,right or L,R: for RoiSets with "
        "Fiji's default names (0001-0015); a name that says the other side is refused",
    )
    add_typed_scale_options(
        s,
        "pixel size to store as a manual calibration (Fiji ROI files carry none; "
        "a DICOM's own calibration is used without it)",
    )
    s.add_argument(
        "--clip",
        action="store_true",
        help="clip a ROI that runs off the image to the image, as Fiji measures it (warned, and "
        "the share cut off kept in the column clipped_share); without it such a ROI is refused, "
        "naming its point furthest outside",
    )
    s.add_argument(
        "--split-parts",
        action="store_true",
        help="import each part of a ROI that falls into separate parts (a composite of disjoint "
        "shapes, a trace pinched at a point) as an outline of its own, named '<ROI> part k/n' "
        "(measured on rows of their own, which the study tables average as repeats); without it "
        "such a ROI is refused",
    )
    s.add_argument("--force", action="store_true", help="overwrite an existing sidecar")

    s = add_parser(
        sub,
        "export-imagej",
        "write a sidecar's outlines as a Fiji RoiSet.zip",
        "Write a sidecar's outlines as Fiji ROIs named NN-side-level.",
        cmd_export_imagej,
    )
    s.add_argument("sidecar", metavar="SIDECAR")
    s.add_argument("-o", "--output", default="RoiSet.zip", metavar="ZIP", help="default: %(default)s")
