"""``mfscan info``: describe images (format, size, frames, every calibrated region).

A DICOM cine is read as its header plus its first frame only (the other frames
are decoded on use, :mod:`mfscan.io.frames`), so ``info`` on a 120-frame cine
costs about what it costs on a single-frame file.
"""

from __future__ import annotations

import json
from pathlib import Path

from mfscan.calibration import implausible
from mfscan.cli._common import _say, add_measure_options, add_parser
from mfscan.errors import MfscanError

__all__ = ["cmd_info", "image_info", "format_info", "register"]


def cmd_info(args) -> int:
    from mfscan.io.images import load_image

    status = 0
    out = []
    for path in args.images:
        try:
            img = load_image(path, max_pixels=args.max_pixels)
        except MfscanError as e:
            if args.debug:
                raise
            _say(f"mfscan info: {e}", err=True)
            status = 1
            continue
        out.append(image_info(img))
    if args.json:
        text = json.dumps(out[0] if len(out) == 1 and len(args.images) == 1 else out, indent=2)
        _say(text)
    else:
        for d in out:
            _say(format_info(d))
    return status


def image_info(img) -> dict:
    """Non-identifying facts about a loaded image, for ``mfscan info --json``."""
    cal = img.calibration
    return {
        "file": Path(img.path).name,
        "format": img.format,
        "shape": [int(img.shape[0]), int(img.shape[1])],
        "frames": int(img.n_frames),
        "color": img.color,
        "bit_depth": int(img.bit_depth),
        "tint": None if img.tint is None else [round(float(v), 3) for v in img.tint],
        "regions": [
            {
                "index": r.index,
                "bounds": [int(b) for b in r.bounds],
                "spacing_mm": None if r.spacing_mm is None else [float(s) for s in r.spacing_mm],
                "spatial_format": r.spatial_format,
                "data_type": r.data_type,
                "scale_problem": r.scale_problem,
            }
            for r in img.regions
        ],
        "calibration": cal.to_dict(),
        "calibrated": cal.calibrated,
        "calibration_problem": implausible(cal),
        "metadata": {k: v for k, v in img.metadata.items()},
        "warnings": list(img.warnings),
    }


def format_info(d: dict) -> str:
    lines = [
        f"{d['file']}: {d['format'].upper()}, {d['shape'][0]} x {d['shape'][1]} px "
        f"(rows x cols), {d['frames']} frame(s), {d['color']}, {d['bit_depth']}-bit"
    ]
    if d.get("tint"):
        r, g, b = d["tint"]
        lines.append(
            f"  tinted grayscale: RGB = gray x ({r:.3f}, {g:.3f}, {b:.3f}); gray values are positions "
            "on this axis, coloured overlay = pixels far from it"
        )
    cal = d["calibration"]
    if d["calibrated"]:
        lines.append(
            f"  calibration: {cal['row_mm']:.4f} mm/px (rows) x {cal['col_mm']:.4f} mm/px (cols), "
            f"source {cal['source']}"
            + (f" (region {cal['region']})" if cal.get("region") is not None else "")
        )
        if d.get("calibration_problem"):
            lines.append(f"  REFUSED for measuring: {d['calibration_problem']}")
    else:
        lines.append(
            "  calibration: NONE - measurements will be in pixels only; "
            "set a scale (mfscan view, Set scale) or a 'calibration' in the sidecar"
        )
    for r in d["regions"]:
        sp = (
            (
                f"{r['scale_problem']}: not used for calibration"
                if r.get("scale_problem")
                else "no length scale"
            )
            if r["spacing_mm"] is None
            else f"{r['spacing_mm'][0]:.4f} x {r['spacing_mm'][1]:.4f} mm/px"
        )
        lines.append(
            f"  region {r['index']}: rows {r['bounds'][0]}-{r['bounds'][2]}, "
            f"cols {r['bounds'][1]}-{r['bounds'][3]}, {sp}"
        )
    bia = d["metadata"].get("burned_in_annotation")
    if bia and bia != "NO" and d["format"] == "dicom":
        lines.append(f"  burned-in annotation: {bia} (text in the pixels may identify the patient)")
    for w in d["warnings"]:
        lines.append(f"  warning: {w}")
    return "\n".join(lines)


def register(sub) -> None:
    """Add the ``info`` subcommand."""
    s = add_parser(
        sub,
        "info",
        "describe an image: format, size, frames, calibration",
        "Describe images: format, size, frames, colour and every calibrated "
        "ultrasound region with its mm-per-pixel scale. Never prints patient data.",
        cmd_info,
    )
    s.add_argument("images", nargs="+", metavar="IMAGE")
    s.add_argument("--json", action="store_true", help="print JSON (regions as bounds and spacing_mm)")
    add_measure_options(s, hidden=True)
