"""Quality-control overlays: each annotated image with its outlines, side labels and CSA.

A reviewer checks every tracing at a glance. Drawn with OpenCV, so overlays can be
made inside the measuring workers while the image is already decoded. Captions
carry only the study's own codes (subject, visit, level, rater), never DICOM
identifiers.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mfscan.io.files import atomic_write_bytes
from mfscan.vocab import SIDE_COLORS_RGB

#: RGB colours of the sides: the study palette (:data:`mfscan.vocab.SIDE_COLORS`).
SIDE_COLORS = SIDE_COLORS_RGB
ERROR_COLOR = (213, 0, 0)


def to_display_rgb(pixels: np.ndarray) -> np.ndarray:
    """8-bit RGB for display from a grayscale or RGB frame of any bit depth (a new array)."""
    a = np.asarray(pixels)
    if a.dtype != np.uint8:
        a = a.astype(np.float64)
        hi = np.percentile(a, 99.9) if a.size else 1.0
        lo = a.min() if a.size else 0.0
        a = np.clip((a - lo) / max(hi - lo, 1e-9) * 255.0, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        return np.repeat(a[:, :, None], 3, axis=2)
    return np.ascontiguousarray(a[..., :3])


def _text(img, text, org, scale, color, thick):
    """Text on a dark box, legible over bright fascia and dark shadow alike."""
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    x, y = org
    x0, y0, x1, y1 = (
        max(x - 3, 0),
        max(y - th - 4, 0),
        min(x + tw + 3, img.shape[1]),
        min(y + base + 2, img.shape[0]),
    )
    img[y0:y1, x0:x1] = (img[y0:y1, x0:x1] * 0.25).astype(np.uint8)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, thick, cv2.LINE_AA)


def render_qc(pixels, outlines, *, title: str = "", notes=(), max_size: int = 1200) -> np.ndarray:
    """Draw outlines with their labels on an image.

    Parameters
    ----------
    pixels : ndarray
        The frame to show, (rows, cols) or (rows, cols, 3).
    outlines : list of dict
        Each ``{"side": "left"|"right", "points": (N, 2) (row, col), "label": str,
        "error": bool}``; errors are drawn in red.
    title : str
        Caption written in a band above the image.
    notes : sequence of str
        Extra caption lines (problems, calibration).
    max_size : int
        The longer side of the result is reduced to this many pixels.

    Returns
    -------
    ndarray of uint8, shape (H, W, 3)
        RGB image: a caption band above the annotated frame.
    """
    img = to_display_rgb(pixels)
    rows, cols = img.shape[:2]
    f = min(1.0, max_size / max(rows, cols))
    if f < 1.0:
        img = cv2.resize(img, (round(cols * f), round(rows * f)), interpolation=cv2.INTER_AREA)
    img = np.ascontiguousarray(img)
    h, w = img.shape[:2]
    scale = max(0.55, min(w, 1200) / 1300)
    thick = max(1, round(scale * 2))
    for o in outlines:
        color = ERROR_COLOR if o.get("error") else SIDE_COLORS.get(o["side"], (255, 255, 255))
        pts = np.asarray(o["points"], float) * f
        poly = np.round(pts[:, ::-1] * 16).astype(np.int32).reshape(-1, 1, 2)  # (x, y), 4-bit subpixel
        cv2.polylines(img, [poly], True, color, thick, cv2.LINE_AA, shift=4)
        label = o.get("label") or o["side"]
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        x = int(np.clip(pts[:, 1].mean() - tw / 2, 2, max(w - tw - 2, 2)))
        y = int(pts[:, 0].min()) - 6
        if y - th < 2:
            y = int(pts[:, 0].max()) + th + 6
        _text(img, label, (x, int(np.clip(y, th + 2, h - 4))), scale, color, thick)
    lines = [title] + list(notes) if title else list(notes)
    line_h = int(28 * scale) + 6
    band = np.full((line_h * max(len(lines), 1) + 8, w, 3), 32, np.uint8)
    for i, line in enumerate(lines):
        color = (255, 120, 120) if line.startswith(("!", "UNCALIBRATED")) else (235, 235, 235)
        cv2.putText(
            band,
            line,
            (8, line_h * (i + 1) - 4),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale * 0.9,
            color,
            max(1, thick - 1),
            cv2.LINE_AA,
        )
    return np.vstack([band, img])


def write_png(path, rgb: np.ndarray) -> Path:
    """Write an RGB array as PNG, atomically, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise OSError(f"cannot encode QC image {path}")
    atomic_write_bytes(path, buf.tobytes())
    return path


def qc_label(row: dict) -> str:
    """``left 7.42 cm2`` (or ``left 1234 px2`` uncalibrated); ``left thickness 2.31 cm`` for a line."""
    kind = row.get("kind") or "outline"
    if kind != "outline":
        value = row.get("fat_thickness_cm" if kind == "fat" else "thickness_cm", np.nan)
        if value is None or not np.isfinite(value):
            return f"{row['side']} {kind} {row.get('length_px', np.nan):.0f} px"
        return f"{row['side']} {kind} {value:.2f} cm"
    if row.get("calibration") == "none" or not np.isfinite(row.get("csa_cm2", np.nan)):
        return f"{row['side']} {row['csa_px2']:.0f} px2"
    return f"{row['side']} {row['csa_cm2']:.2f} cm2"


def qc_for_annotation(image, annotation, rows, errors, out_path) -> list[Path]:
    """Write the QC overlay(s) of one sidecar; one file per frame that has outlines."""
    by_frame: dict[int, list[dict]] = {}
    measured = {r["roi"]: r for r in rows}
    failed = {e["roi"]: e for e in errors if e.get("roi") is not None}
    for i, roi in enumerate(annotation.rois):
        frame = min(roi.frame or 0, image.n_frames - 1)
        if i in measured:
            by_frame.setdefault(frame, []).append(
                {"side": roi.side, "points": roi.points, "label": qc_label(measured[i])}
            )
        else:
            by_frame.setdefault(frame, []).append(
                {"side": roi.side, "points": roi.points, "error": True, "label": f"{roi.side}: ERROR"}
            )
    codes = [
        f"{k} {v}"
        for k, v in (
            ("subject", annotation.subject),
            ("visit", annotation.visit),
            ("level", annotation.level),
            ("rater", annotation.rater),
        )
        if v
    ]
    cal = rows[0] if rows else None
    if cal is None:
        cal_note = ""
    elif cal["calibration"] == "none":
        cal_note = "UNCALIBRATED: areas in pixels"
    else:
        cal_note = f"calibration {cal['calibration']} {cal['row_mm']:.3f} x {cal['col_mm']:.3f} mm/px"
    sides = [r["side"] for r in rows]
    notes = [n for n in [cal_note] if n]
    if len(sides) == 2 and set(sides) == {"left", "right"}:
        lo, hi = sorted(r["csa_cm2"] for r in rows)
        if np.isfinite(hi) and hi > 0:
            notes.append(
                f"asymmetry {(hi - lo) / hi * 100:.1f}% (smaller: "
                f"{min(rows, key=lambda r: r['csa_cm2'])['side']})"
            )
    notes += [f"! {e['reason']}" for e in failed.values()]
    written = []
    out_path = Path(out_path)
    for frame, outlines in sorted(by_frame.items()):
        p = out_path if len(by_frame) == 1 else out_path.with_name(f"{out_path.stem}.frame{frame}.png")
        pixels = image.pixels[frame]
        written.append(
            write_png(
                p,
                render_qc(
                    pixels, outlines, title="  ".join(codes) or Path(annotation.image).name, notes=notes
                ),
            )
        )
    return written
