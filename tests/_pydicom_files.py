"""Ultrasound DICOM files written directly with pydicom (not with mfscan's own writer)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

US_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1"


def region_item(bounds, delta_cm, *, units=(3, 3), spatial_format=1, data_type=1, flags=0):
    """One ``SequenceOfUltrasoundRegions`` item: bounds ``(min_row, min_col, max_row, max_col)``,
    ``delta_cm`` ``(row_cm, col_cm)`` written as PhysicalDeltaY, PhysicalDeltaX."""
    item = pydicom.Dataset()
    r0, c0, r1, c1 = bounds
    item.RegionLocationMinX0, item.RegionLocationMinY0 = c0, r0
    item.RegionLocationMaxX1, item.RegionLocationMaxY1 = c1, r1
    item.PhysicalUnitsXDirection, item.PhysicalUnitsYDirection = units
    item.PhysicalDeltaY, item.PhysicalDeltaX = delta_cm
    item.RegionSpatialFormat, item.RegionDataType, item.RegionFlags = spatial_format, data_type, flags
    return item


def write_dicom(path, pixels, *, regions=(), pixel_spacing=None, bits_stored=None) -> Path:
    """A single-frame MONOCHROME2 ultrasound DICOM of `pixels` (uint8 or uint16)."""
    path = Path(path)
    pixels = np.ascontiguousarray(pixels)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = US_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = US_IMAGE_STORAGE, meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = pixels.dtype.itemsize * 8
    ds.BitsStored = bits_stored or ds.BitsAllocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.tobytes()
    if pixel_spacing is not None:
        ds.PixelSpacing = [str(v) for v in pixel_spacing]
    if regions:
        ds.SequenceOfUltrasoundRegions = Sequence(list(regions))
    ds.save_as(path, enforce_file_format=True)
    return path
