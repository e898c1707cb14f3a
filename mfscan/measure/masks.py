"""Binary masks and label images of traced outlines.

A mask holds the pixels whose centres lie inside an outline: the rule of
:func:`mfscan.measure.outline.outline_mask`, so a mask holds exactly the pixels
whose grayscale values make the echo intensity (before coloured overlay pixels
are left out). :func:`mfscan.measure.export.export_masks` writes them, per traced
image, rater and session, for model training.

Label values: background 0, left 1, right 2; a pixel inside both a left and a
right outline (they should not overlap) is 3, and the manifest counts such pixels.
"""

from __future__ import annotations

import io

import numpy as np

from mfscan.errors import MfscanError
from mfscan.measure.outline import outline_mask, validate_outline
from mfscan.vocab import SIDES

__all__ = [
    "LABELS",
    "OVERLAP_LABEL",
    "MASK_VALUE",
    "FORMATS",
    "MANIFEST_COLUMNS",
    "roi_mask",
    "outline_masks",
    "label_image",
    "encode_image",
    "coco_polygon",
]

#: Label of each side in a label image (background is 0).
LABELS = {"left": 1, "right": 2}
#: Label of pixels inside both a left and a right outline.
OVERLAP_LABEL = 3
#: Value of the pixels inside the outline in a written binary mask (outside: 0).
MASK_VALUE = 255
#: File formats of the written images, with their suffixes.
FORMATS = {"png": ".png", "tiff": ".tif"}
#: Columns of the manifest, in order (paths relative to the output folder, POSIX).
MANIFEST_COLUMNS = tuple(
    "image mask_left mask_right labels source_image sidecar subject visit session level sides rater frame "
    "rows_px cols_px n_pixels_left n_pixels_right n_pixels_overlap row_mm col_mm calibration".split()
)
_SUBFOLDERS = ("images", "masks", "labels")
_COCO_IMAGE_KEYS = ("labels", "subject", "visit", "session", "level", "rater", "frame")
_COCO_CATEGORIES = [{"id": LABELS[s], "name": s, "supercategory": "multifidus"} for s in SIDES]


def roi_mask(points, shape) -> np.ndarray:
    """The pixels of one outline as a full-size boolean image.

    Parameters
    ----------
    points : (N, 2) array_like
        Vertices in (row, col) pixel coordinates (pixel centres at integers).
    shape : tuple of int
        ``(rows, cols)`` of the image.

    Returns
    -------
    ndarray of bool, shape (rows, cols)
        True where the pixel's centre lies inside the outline
        (:func:`mfscan.measure.outline.outline_mask`).

    Raises
    ------
    MeasurementError
        An outline that cannot be measured (:func:`~mfscan.measure.outline.validate_outline`).
    """
    p = validate_outline(points, shape=shape)
    out = np.zeros(tuple(shape[:2]), dtype=bool)
    box, mask = outline_mask(p, shape)
    out[box] = mask
    return out


def _roi_key(annotation, roi) -> tuple[int, str | None]:
    return (roi.frame or 0, roi.level or annotation.level)


def outline_masks(annotation, shape, *, frame: int = 0, level: str | None = None) -> dict[str, np.ndarray]:
    """One boolean mask per traced side of an annotation, on one frame.

    Parameters
    ----------
    annotation : mfscan.annotations.Annotation
    shape : tuple of int
        ``(rows, cols)`` of the image.
    frame : int, keyword-only
        The frame whose outlines are taken (a ROI without ``frame`` is on frame 0).
    level : str, optional, keyword-only
        Only outlines of this level (a ROI's own level, else the annotation's).

    Returns
    -------
    dict
        ``{side: ndarray of bool}`` for each side with an outline; several
        outlines of one side are united.

    Raises
    ------
    MeasurementError
        An outline that cannot be measured, naming the ROI.
    """
    masks: dict[str, np.ndarray] = {}
    for i, roi in enumerate(annotation.rois):
        f, lev = _roi_key(annotation, roi)
        if f != frame or (level is not None and lev != level):
            continue
        try:
            m = roi_mask(roi.points, shape)
        except MfscanError as e:
            raise type(e)(f"ROI {i} ({roi.side}): {e.message}", annotation.path) from e
        masks[roi.side] = masks[roi.side] | m if roi.side in masks else m
    return masks


def label_image(masks: dict, shape=None) -> np.ndarray:
    """A uint8 label image from side masks: background 0, left 1, right 2, both 3.

    Parameters
    ----------
    masks : dict
        ``{side: ndarray of bool}`` (as :func:`outline_masks` returns).
    shape : tuple of int, optional
        ``(rows, cols)``; needed when `masks` is empty.

    Returns
    -------
    ndarray of uint8
    """
    if shape is None:
        if not masks:
            raise ValueError("give the shape of an image without masks")
        shape = next(iter(masks.values())).shape
    out = np.zeros(tuple(shape[:2]), dtype=np.uint8)
    for side, m in masks.items():
        out[m] |= LABELS[side]  # 1 | 2 = 3 where the sides overlap
    return out


def encode_image(array: np.ndarray, fmt: str = "png") -> bytes:
    """A 2-D uint8 or uint16 image as PNG or (uncompressed) TIFF bytes, values unchanged."""
    if array.ndim != 2 or array.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"expected a 2-D uint8 or uint16 image, got {array.ndim}-D {array.dtype}")
    if fmt == "png":
        import cv2

        ok, buf = cv2.imencode(".png", np.ascontiguousarray(array))
        if not ok:
            raise ValueError("PNG encoding failed")
        return buf.tobytes()
    if fmt == "tiff":
        import tifffile

        bio = io.BytesIO()
        tifffile.imwrite(bio, array, photometric="minisblack")
        return bio.getvalue()
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def coco_polygon(points) -> list[float]:
    """COCO ``segmentation`` polygon ``[x0, y0, x1, y1, ...]`` from (row, col) points.

    ``x = col + 0.5`` and ``y = row + 0.5``: mfscan (like napari and scikit-image)
    puts pixel centres at integer coordinates, COCO puts the image's top-left
    corner at (0, 0), so a pixel's centre is at half-integers there.
    """
    p = np.asarray(points, dtype=float).reshape(-1, 2)
    return (p[:, ::-1] + 0.5).ravel().tolist()
