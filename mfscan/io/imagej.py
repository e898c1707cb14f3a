"""Fiji ROI files read through the ``roifile`` package, within limits.

A ``.roi`` file, a ``RoiSet.zip`` or an ImageJ TIFF's overlay gives its
``roifile.ImagejRoi`` objects; :func:`read_roi_file` refuses a RoiSet beyond
:data:`MAX_ROIS` entries or :data:`MAX_ROI_BYTES` per entry (:data:`MAX_ROISET_BYTES`
together) before decompressing it. Their geometry (rings, composite parts, repairs,
clipping) is :mod:`mfscan.io.imagej_shapes`; turning them into sidecar outlines
(names, sides, frames, coordinates) and back is :mod:`mfscan.annotations.imagej`.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from mfscan.errors import AnnotationError

#: Largest ROI file, or RoiSet entry by its declared (uncompressed) size, read: 16 MiB holds
#: a polygon of about a million vertices; a larger entry is refused before it is decompressed.
MAX_ROI_BYTES = 16 * 2**20
#: Most ROIs read from one RoiSet zip (an image's ROI set holds a handful).
MAX_ROIS = 1000
#: Largest declared (uncompressed) size of all of a RoiSet's entries together.
MAX_ROISET_BYTES = 64 * 2**20


def read_roi_file(path) -> list:
    """The ``roifile.ImagejRoi`` objects of a ``.roi`` file, a ``RoiSet.zip`` or an ImageJ TIFF's overlay.

    A zip's entries are checked before anything is decompressed: more than
    :data:`MAX_ROIS` entries, an entry whose declared size exceeds :data:`MAX_ROI_BYTES`,
    or entries declaring more than :data:`MAX_ROISET_BYTES` together, are refused (a zip
    bomb never reaches memory); each entry is read to at most its declared size (an entry
    that holds more fails zipfile's CRC check). A ``.roi`` file larger than
    :data:`MAX_ROI_BYTES` is refused.

    Raises
    ------
    AnnotationError
        Missing or unreadable file, or one beyond the limits.
    """
    import roifile

    path = Path(path)
    mib = MAX_ROI_BYTES / 2**20
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                entries = [i for i in zf.infolist() if not i.is_dir()]
                if len(entries) > MAX_ROIS:
                    raise AnnotationError(
                        f"the RoiSet holds {len(entries)} entries, more than the {MAX_ROIS} ROIs "
                        "mfscan reads from one file; split it (one RoiSet per image)",
                        path,
                    )
                for info in entries:
                    if info.file_size > MAX_ROI_BYTES:
                        raise AnnotationError(
                            f"the RoiSet entry {info.filename[:60]!r} declares {info.file_size / 2**20:.0f} MiB "
                            f"once decompressed, more than the {mib:g} MiB a ROI may take; not read "
                            "(is it a ROI set Fiji wrote?)",
                            path,
                        )
                total = sum(i.file_size for i in entries)
                if total > MAX_ROISET_BYTES:
                    raise AnnotationError(
                        f"the RoiSet's entries declare {total / 2**20:.0f} MiB once decompressed, more "
                        f"than the {MAX_ROISET_BYTES / 2**20:g} MiB mfscan reads from one file; not read",
                        path,
                    )
                rois = []
                for info in entries:
                    with zf.open(info) as fh:  # at most the declared size; a lie fails the CRC check
                        rois.append(roifile.ImagejRoi.frombytes(fh.read(info.file_size)))
                return rois
        if path.suffix.lower() not in (".tif", ".tiff") and path.stat().st_size > MAX_ROI_BYTES:
            raise AnnotationError(
                f"the ROI file takes {path.stat().st_size / 2**20:.0f} MiB, more than the {mib:g} MiB "
                "a ROI may take; not read",
                path,
            )
        rois = roifile.ImagejRoi.fromfile(path, maxsize=MAX_ROI_BYTES)
        if isinstance(rois, list) and len(rois) > MAX_ROIS:  # an ImageJ TIFF's overlay
            raise AnnotationError(
                f"the file holds {len(rois)} ROIs, more than the {MAX_ROIS} mfscan reads", path
            )
    except FileNotFoundError as e:
        raise AnnotationError("ImageJ ROI file not found", path) from e
    except AnnotationError:
        raise
    except Exception as e:  # roifile raises ValueError/struct errors/zip errors
        raise AnnotationError(f"not a readable ImageJ ROI file or RoiSet zip ({e})", path) from e
    return rois if isinstance(rois, list) else [rois]
