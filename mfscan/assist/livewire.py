"""Edge-snapping tracing ("live wire", intelligent scissors).

The rater clicks a few points on the border; between consecutive clicks the
path follows the strongest edges instead of a straight line. The default
backend is OpenCV's :class:`cv2.segmentation.IntelligentScissorsMB` (Mortensen
& Barrett); where the installed OpenCV lacks it, a minimum-cost path
(:func:`skimage.graph.route_through_array`) on an edge-cost image is used.

Both work on a crop around the two clicks (``margin`` pixels on each side), so a
path costs a few milliseconds whatever the image size. The image is despeckled
(median filter) first, so the wire follows tissue borders rather than speckle.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from mfscan.errors import MfscanError

__all__ = ["HAVE_INTELLIGENT_SCISSORS", "LivewireError", "edge_cost", "livewire_path", "trace_livewire"]

#: True when the installed OpenCV provides ``cv2.segmentation.IntelligentScissorsMB``.
HAVE_INTELLIGENT_SCISSORS = hasattr(getattr(cv2, "segmentation", None), "IntelligentScissorsMB")


class LivewireError(MfscanError):
    """A live-wire path cannot be traced (points outside the image, too few clicks)."""


def _as_uint8(image) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim != 2:
        raise ValueError(f"image must be a 2D grayscale frame, got shape {img.shape}")
    if img.dtype == np.uint8:
        return img
    f = img.astype(np.float32)
    f = np.nan_to_num(f, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(f.min()), float(f.max())
    if hi <= lo:
        return np.zeros(img.shape, dtype=np.uint8)
    return np.clip((f - lo) * (255.0 / (hi - lo)) + 0.5, 0, 255).astype(np.uint8)


def _check_point(p, shape, what):
    try:
        r, c = (float(v) for v in np.asarray(p, dtype=float).reshape(2))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what} must be (row, col), got {p!r}") from e
    inside = -0.5 <= r <= shape[0] - 0.5 and -0.5 <= c <= shape[1] - 0.5
    if not (np.isfinite(r) and np.isfinite(c)) or not inside:
        raise LivewireError(f"{what} ({r:.1f}, {c:.1f}) lies outside the {shape[0]}x{shape[1]} image")
    return int(round(min(max(r, 0), shape[0] - 1))), int(round(min(max(c, 0), shape[1] - 1)))


def edge_cost(image: npt.ArrayLike, *, sigma: float = 1.5) -> np.ndarray:
    """Cost image for minimum-cost edge following: low on strong edges.

    ``1 / (eps + |grad|)`` of the Gaussian-smoothed image, normalised to (0, 1].

    Parameters
    ----------
    image : (rows, cols) array_like
        Grayscale frame. Not modified.
    sigma : float
        Gaussian smoothing in pixels before the gradient.

    Returns
    -------
    ndarray of float64
        In the image's shape.
    """
    f = cv2.GaussianBlur(np.asarray(image, dtype=np.float32), (0, 0), sigma)
    gr = cv2.Sobel(f, cv2.CV_32F, 0, 1, ksize=3)
    gc = cv2.Sobel(f, cv2.CV_32F, 1, 0, ksize=3)
    mag = cv2.magnitude(gr, gc)
    scale = float(np.percentile(mag, 99)) or 1.0
    return (1.0 / (0.02 + mag / scale)).astype(np.float64) * 0.02


def livewire_path(
    image: npt.ArrayLike,
    start: npt.ArrayLike,
    end: npt.ArrayLike,
    *,
    margin: int = 25,
    backend: str = "auto",
    median: int = 3,
) -> np.ndarray:
    """The edge-following path between two points.

    Parameters
    ----------
    image : (rows, cols) ndarray
        Grayscale frame (any numeric dtype; scaled to 8 bits if needed). Not modified.
    start, end : (row, col)
        The two clicks, in pixels.
    margin : int
        Pixels around the two points' bounding box that the path may use.
    backend : {'auto', 'opencv', 'skimage'}
        ``auto`` uses OpenCV's intelligent scissors when available.
    median : int
        Median filter size for despeckling (odd; 0 or 1 for none).

    Returns
    -------
    ndarray of float, shape (N, 2)
        (row, col) pixel centres from `start` to `end`, both included, each step
        to one of the 8 neighbours.

    Raises
    ------
    LivewireError
        When a point lies outside the image.
    ValueError
        For a malformed image, point or backend.
    """
    img = _as_uint8(image)
    s = _check_point(start, img.shape, "the start point")
    e = _check_point(end, img.shape, "the end point")
    if s == e:
        return np.array([s], dtype=float)
    if backend == "auto":
        backend = "opencv" if HAVE_INTELLIGENT_SCISSORS else "skimage"
    if backend not in ("opencv", "skimage"):
        raise ValueError(f"backend must be 'auto', 'opencv' or 'skimage', got {backend!r}")
    if backend == "opencv" and not HAVE_INTELLIGENT_SCISSORS:
        raise LivewireError(
            "this OpenCV build lacks cv2.segmentation.IntelligentScissorsMB; use backend='skimage'"
        )
    m = int(max(margin, 2))
    r0, r1 = max(min(s[0], e[0]) - m, 0), min(max(s[0], e[0]) + m + 1, img.shape[0])
    c0, c1 = max(min(s[1], e[1]) - m, 0), min(max(s[1], e[1]) + m + 1, img.shape[1])
    crop = img[r0:r1, c0:c1]
    if median and median >= 3:
        crop = cv2.medianBlur(crop, int(median) | 1)
    ls, le = (s[0] - r0, s[1] - c0), (e[0] - r0, e[1] - c0)
    if backend == "opencv":
        tool = cv2.segmentation.IntelligentScissorsMB()
        tool.setEdgeFeatureCannyParameters(16, 48)
        tool.setGradientMagnitudeMaxLimit(100)
        tool.setWeights(0.3, 0.4, 0.3)
        tool.applyImage(cv2.GaussianBlur(crop, (0, 0), 1.0))
        tool.buildMap((int(ls[1]), int(ls[0])))
        xy = tool.getContour((int(le[1]), int(le[0])))
        path = np.asarray(xy, dtype=float).reshape(-1, 2)[:, ::-1]
        if len(path) == 0 or tuple(path[0].astype(int)) != ls:
            path = path[::-1]
    else:
        from skimage.graph import route_through_array

        cost = edge_cost(crop)
        idx, _ = route_through_array(cost, ls, le, fully_connected=True, geometric=True)
        path = np.asarray(idx, dtype=float)
    return path + np.array([r0, c0], dtype=float)


def trace_livewire(
    image: npt.ArrayLike, clicks: npt.ArrayLike, *, closed: bool = True, **kwargs
) -> np.ndarray:
    """A polygon through the clicks that follows edges between consecutive ones.

    Parameters
    ----------
    image : (rows, cols) array_like
        Grayscale frame (any numeric dtype). Not modified.
    clicks : (M, 2) array_like
        Points on the border in (row, col) pixels, in tracing order.
    closed : bool
        Also join the last click back to the first (an outline).
    **kwargs
        Passed to :func:`livewire_path` (``margin``, ``backend``, ``median``).

    Returns
    -------
    ndarray of float, shape (N, 2)
        The vertices, first point not repeated; consecutive duplicates removed.

    Raises
    ------
    LivewireError
        With fewer than 2 clicks (3 for a closed outline) or a click outside the image.
    ValueError
        When ``clicks`` is not an (M, 2) array.
    """
    pts = np.asarray(clicks, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"clicks must be an (M, 2) array of (row, col), got shape {pts.shape}")
    need = 3 if closed else 2
    if len(pts) < need:
        what = "closed outline" if closed else "path"
        raise LivewireError(f"a {what} needs at least {need} clicks, got {len(pts)}")
    pairs = list(zip(pts[:-1], pts[1:]))
    if closed:
        pairs.append((pts[-1], pts[0]))
    pieces = [livewire_path(image, a, b, **kwargs) for a, b in pairs]
    out = np.vstack([pc[:-1] if len(pc) > 1 else pc for pc in pieces])
    if not closed:
        return _remove_spurs(np.vstack([out, pieces[-1][-1:]]), closed)
    # The wires into and out of each click often share their first pixels (a spur),
    # which _remove_spurs cuts. Starting the cycle at the first click would put
    # that spur across the start, where the repeat looks like a loop spanning the
    # whole outline and cutting it collapses the outline: start half-way along the
    # first wire instead, where no wire retraces another.
    start = max(len(pieces[0]) - 1, 1) // 2
    return _remove_spurs(np.roll(out, -start, axis=0), closed)


def _remove_spurs(path, closed):
    """Drop repeated vertices and back-and-forth excursions (A, B, A -> A).

    Consecutive wires meet at a click and may retrace a few pixels; a vertex
    that occurs twice also closes a loop, which is cut out so that the outline
    stays a simple polygon.
    """
    stack: list[tuple[float, float]] = []
    where: dict[tuple[float, float], int] = {}
    for p in map(tuple, path):
        if p in where:  # back to a vertex already on the path: cut the loop / spur
            k = where[p]
            for q in stack[k + 1 :]:
                where.pop(q, None)
            del stack[k + 1 :]
            continue
        where[p] = len(stack)
        stack.append(p)
    out = np.asarray(stack, dtype=float).reshape(-1, 2)
    if closed:
        # the same at the seam between the last and the first vertex
        while len(out) > 3 and np.array_equal(out[1], out[-1]):
            out = out[1:-1]
    return out
