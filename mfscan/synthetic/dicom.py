"""Write synthetic ultrasound DICOM files (for tests and sample data).

The files are *Ultrasound Image Storage* (single frame) or *Ultrasound
Multi-frame Image Storage* (cine) instances carrying a
``SequenceOfUltrasoundRegions`` exactly as given, so that tests can also write
the sloppy calibrations seen in the wild (off-by-one bounds, stale regions,
zero deltas, non-cm units).

Identity attributes are filled with obviously fake values
(``SYNTHETIC^PHANTOM``); tests that check de-identification plant their own
made-up identifiers with `identity`.

Encoders: uncompressed and RLE (pydicom), JPEG 2000 (pydicom with
pylibjpeg-openjpeg), JPEG baseline (OpenCV), JPEG lossless process 14 SV1
(imagecodecs, a test dependency, imported only when needed).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

US_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1"
US_MULTIFRAME_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.3.1"

TRANSFER_SYNTAXES = {
    "explicit-vr-little": "1.2.840.10008.1.2.1",
    "implicit-vr-little": "1.2.840.10008.1.2",
    "rle": "1.2.840.10008.1.2.5",
    "jpeg-baseline": "1.2.840.10008.1.2.4.50",
    "jpeg-lossless": "1.2.840.10008.1.2.4.70",
    "jpeg2000-lossless": "1.2.840.10008.1.2.4.90",
    "jpeg2000": "1.2.840.10008.1.2.4.91",
}
PHOTOMETRICS = ("MONOCHROME2", "MONOCHROME1", "RGB", "YBR_FULL", "YBR_FULL_422", "PALETTE COLOR")

#: Identity attributes written by default: obviously synthetic values.
DEFAULT_IDENTITY = {
    "PatientName": "SYNTHETIC^PHANTOM",
    "PatientID": "SYNTHETIC-0001",
    "PatientBirthDate": "",
    "PatientSex": "O",
    "StudyDate": "19000101",
    "StudyTime": "000000",
    "StudyID": "SYNTH",
    "AccessionNumber": "",
    "ReferringPhysicianName": "",
    "InstitutionName": "SYNTHETIC PHANTOM",
    "Manufacturer": "mfscan synthetic",
    "ManufacturerModelName": "mfscan.dicomgen",
}

_UID_ROOT = "1.2.826.0.1.3680043.8.498."  # pydicom's root, used for generated UIDs


def _uid(*parts) -> str:
    """A deterministic UID derived from `parts` (same input, same file)."""
    from pydicom.uid import generate_uid

    return generate_uid(_UID_ROOT, entropy_srcs=[str(p) for p in parts])


def _region_item(spec: dict):
    """One ``SequenceOfUltrasoundRegions`` item from a region dict (raw values)."""
    from pydicom.dataset import Dataset

    item = Dataset()
    if "bounds" in spec:
        r0, c0, r1, c1 = spec["bounds"]
        item.RegionLocationMinX0 = int(c0)
        item.RegionLocationMinY0 = int(r0)
        item.RegionLocationMaxX1 = int(c1)
        item.RegionLocationMaxY1 = int(r1)
    item.RegionSpatialFormat = int(spec.get("spatial_format", 1))
    item.RegionDataType = int(spec.get("data_type", 1))
    item.RegionFlags = int(spec.get("flags", 0))
    ux, uy = spec.get("units", (3, 3))
    item.PhysicalUnitsXDirection = int(ux)
    item.PhysicalUnitsYDirection = int(uy)
    if "delta_cm" in spec:
        drow, dcol = spec["delta_cm"]
        item.PhysicalDeltaX = float(dcol)
        item.PhysicalDeltaY = float(drow)
    for key, value in spec.items():
        if key not in ("bounds", "spatial_format", "data_type", "flags", "units", "delta_cm"):
            setattr(item, key, value)  # raw DICOM keyword, e.g. ReferencePixelX0
    return item


def _to_frames(pixels, photometric: str) -> np.ndarray:
    arr = np.asarray(pixels)
    color = photometric in ("RGB", "YBR_FULL", "YBR_FULL_422")
    if color:
        if arr.ndim not in (3, 4) or arr.shape[-1] != 3:
            raise ValueError(
                f"{photometric} pixels must be (rows, cols, 3) or (frames, rows, cols, 3), got {arr.shape}"
            )
        if arr.ndim == 3:
            arr = arr[None]
    else:
        if arr.ndim not in (2, 3):
            raise ValueError(
                f"{photometric} pixels must be (rows, cols) or (frames, rows, cols), got {arr.shape}"
            )
        if arr.ndim == 2:
            arr = arr[None]
    if arr.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"pixels must be uint8 or uint16, got {arr.dtype}")
    if photometric == "PALETTE COLOR" and arr.dtype != np.uint8:
        raise ValueError("PALETTE COLOR indices must be uint8")
    if photometric != "MONOCHROME2" and photometric != "MONOCHROME1" and arr.dtype != np.uint8:
        raise ValueError(f"{photometric} pixels must be uint8")
    return np.ascontiguousarray(arr)


def _rgb_to_ybr(frames: np.ndarray) -> np.ndarray:
    from pydicom.pixels import convert_color_space

    return np.stack([convert_color_space(f, "RGB", "YBR_FULL") for f in frames])


def _pack_ybr422(ybr: np.ndarray) -> bytes:
    """YBR_FULL frames (n, rows, cols, 3) to the native 4:2:2 byte order Y Y Cb Cr."""
    n, rows, cols, _ = ybr.shape
    if cols % 2:
        raise ValueError("YBR_FULL_422 needs an even number of columns")
    y = ybr[..., 0].reshape(n, rows, cols // 2, 2)
    cb = ybr[..., 1].astype(np.uint16).reshape(n, rows, cols // 2, 2).sum(-1) // 2
    cr = ybr[..., 2].astype(np.uint16).reshape(n, rows, cols // 2, 2).sum(-1) // 2
    out = np.empty((n, rows, cols // 2, 4), np.uint8)
    out[..., 0:2] = y
    out[..., 2] = cb
    out[..., 3] = cr
    return out.tobytes()


def _jpeg_baseline(frame: np.ndarray, photometric: str, quality: int) -> bytes:
    import cv2

    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    if frame.ndim == 3:
        sampling = {
            "YBR_FULL_422": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
            "YBR_FULL": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
        }[photometric]
        params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, sampling]
        frame = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", frame, params)
    if not ok:
        raise RuntimeError("OpenCV could not encode the frame as JPEG")
    return buf.tobytes()


def _jpeg_lossless(frame: np.ndarray, bits_stored: int) -> bytes:
    try:
        import imagecodecs
    except ImportError as e:
        raise ImportError(
            "writing JPEG lossless DICOM needs the 'imagecodecs' package (pip install imagecodecs)"
        ) from e
    kwargs = {"lossless": True, "predictor": 1, "bitspersample": bits_stored}
    if frame.ndim == 3:
        kwargs.update(colorspace="RGB", outcolorspace="RGB")
    return bytes(imagecodecs.jpeg8_encode(frame, **kwargs))


def write_us_dicom(
    path,
    pixels,
    *,
    regions: list[dict] | None = None,
    transfer_syntax: str = "explicit-vr-little",
    photometric: str = "MONOCHROME2",
    identity: dict | None = None,
    burned_in_annotation: str | None = None,
    pixel_spacing=None,
    palette=None,
    bits_stored: int | None = None,
    quality: int = 95,
    frame_time_ms: float = 33.3,
    modality: str = "US",
) -> Path:
    """Write a synthetic ultrasound DICOM file.

    Parameters
    ----------
    path : str or Path
        Output file (overwritten).
    pixels : ndarray
        ``(rows, cols)`` or ``(frames, rows, cols)`` grayscale or palette indices,
        or ``(rows, cols, 3)`` / ``(frames, rows, cols, 3)`` **RGB** for the colour
        photometrics (converted to YCbCr for ``YBR_*``). uint8, or uint16 for
        monochrome. More than one frame writes a multi-frame (cine) instance.
    regions : list of dict, optional
        Items of ``SequenceOfUltrasoundRegions``, written raw:
        ``bounds`` ``(min_row, min_col, max_row, max_col)`` (MinY0, MinX0, MaxY1,
        MaxX1), ``delta_cm`` ``(row_cm, col_cm)`` (PhysicalDeltaY, PhysicalDeltaX),
        ``units`` ``(x_code, y_code)`` (PhysicalUnitsX/YDirection, default
        ``(3, 3)`` cm), ``spatial_format`` (1), ``data_type`` (1), ``flags`` (0).
        Any other key is taken as a DICOM keyword of the item.
    transfer_syntax : str
        One of ``explicit-vr-little``, ``implicit-vr-little``, ``rle``,
        ``jpeg-baseline`` (MONOCHROME2, YBR_FULL_422, YBR_FULL), ``jpeg-lossless``
        (process 14 SV1; needs imagecodecs), ``jpeg2000-lossless``, ``jpeg2000``.
    photometric : str
        ``MONOCHROME2``, ``MONOCHROME1`` (pixels written as given), ``RGB``,
        ``YBR_FULL``, ``YBR_FULL_422`` or ``PALETTE COLOR``.
    identity : dict, optional
        Attributes overriding the synthetic identity: DICOM keyword -> value, or
        ``(group, element)`` -> ``(VR, value)`` for private or unusual tags.
    burned_in_annotation : str, optional
        ``"YES"`` or ``"NO"``; the attribute is omitted when None.
    pixel_spacing : (float, float), optional
        ``PixelSpacing`` (row_mm, col_mm).
    palette : ndarray, optional
        ``(n, 3)`` uint8 or uint16 RGB lookup table for ``PALETTE COLOR``
        (default: a 256-entry 16-bit "hot" ramp).
    bits_stored : int, optional
        Default 8 for uint8 and 16 for uint16 pixels.
    quality : int
        JPEG baseline quality.
    frame_time_ms : float
        ``FrameTime`` of a cine.
    modality : str
        ``Modality`` (0008,0060).

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    _check_options(transfer_syntax, photometric)
    frames = _to_frames(pixels, photometric)
    bits_alloc = frames.dtype.itemsize * 8
    bits = int(bits_stored or bits_alloc)
    if transfer_syntax == "jpeg-baseline" and bits_alloc != 8:
        raise ValueError("JPEG baseline needs 8-bit pixels")
    if photometric == "YBR_FULL_422" and transfer_syntax not in (
        "explicit-vr-little",
        "implicit-vr-little",
        "jpeg-baseline",
    ):
        raise ValueError("YBR_FULL_422 is written uncompressed or as JPEG baseline only")
    ds = _header(
        frames,
        transfer_syntax,
        photometric,
        modality=modality,
        burned_in_annotation=burned_in_annotation,
        pixel_spacing=pixel_spacing,
        regions=regions,
    )
    _image_pixel_module(ds, frames, photometric, bits, frame_time_ms)
    if photometric == "PALETTE COLOR":
        _palette_module(ds, palette)
    _pixel_data(ds, frames, transfer_syntax, photometric, bits, quality)
    for key, value in (identity or {}).items():
        if isinstance(key, str):
            setattr(ds, key, value)
        else:
            vr, val = value
            ds.add_new(key, vr, val)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if transfer_syntax == "implicit-vr-little":
        ds.save_as(path, implicit_vr=True, little_endian=True, enforce_file_format=True)
    else:
        ds.save_as(path, enforce_file_format=True)
    return path


def _check_options(transfer_syntax: str, photometric: str) -> None:
    """ValueError for an unknown transfer syntax or photometric, or a pair that is not written."""
    if transfer_syntax not in TRANSFER_SYNTAXES:
        raise ValueError(
            f"unknown transfer_syntax {transfer_syntax!r}; expected one of {tuple(TRANSFER_SYNTAXES)}"
        )
    if photometric not in PHOTOMETRICS:
        raise ValueError(f"unknown photometric {photometric!r}; expected one of {PHOTOMETRICS}")
    if transfer_syntax == "jpeg-baseline" and photometric not in (
        "MONOCHROME2",
        "MONOCHROME1",
        "YBR_FULL_422",
        "YBR_FULL",
    ):
        raise ValueError(f"JPEG baseline is written for MONOCHROME or YBR_FULL(_422), not {photometric}")


def _header(
    frames: np.ndarray,
    transfer_syntax: str,
    photometric: str,
    *,
    modality: str,
    burned_in_annotation,
    pixel_spacing,
    regions,
):
    """The dataset's UIDs (derived from the pixels), synthetic identity, calibration and regions."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    n = frames.shape[0]
    digest = hashlib.sha1(frames.tobytes()).hexdigest()[:16]
    ds = Dataset()
    ds.SOPClassUID = US_MULTIFRAME_IMAGE_STORAGE if n > 1 else US_IMAGE_STORAGE
    ds.SOPInstanceUID = _uid("sop", digest, transfer_syntax, photometric)
    ds.StudyInstanceUID = _uid("study", digest)
    ds.SeriesInstanceUID = _uid("series", digest)
    ds.FrameOfReferenceUID = _uid("for", digest)
    ds.Modality = modality
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.ContentDate = "19000101"
    ds.ContentTime = "000000"
    for key, value in DEFAULT_IDENTITY.items():
        setattr(ds, key, value)
    if burned_in_annotation is not None:
        ds.BurnedInAnnotation = burned_in_annotation
    if pixel_spacing is not None:
        ds.PixelSpacing = [float(pixel_spacing[0]), float(pixel_spacing[1])]
    if regions:
        ds.SequenceOfUltrasoundRegions = Sequence([_region_item(r) for r in regions])
    return ds


def _image_pixel_module(ds, frames: np.ndarray, photometric: str, bits: int, frame_time_ms: float) -> None:
    """Rows, columns, samples, bits and (for a cine) the frame count and time, set on ``ds``."""
    n, rows, cols = frames.shape[:3]
    color = photometric in ("RGB", "YBR_FULL", "YBR_FULL_422")
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 3 if color else 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = frames.dtype.itemsize * 8
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    if color:
        ds.PlanarConfiguration = 0
    if n > 1:
        ds.NumberOfFrames = n
        ds.FrameTime = float(frame_time_ms)
        ds.add_new((0x0028, 0x0009), "AT", [(0x0018, 0x1063)])  # FrameIncrementPointer -> FrameTime


def _palette_module(ds, palette) -> None:
    """The red, green and blue palette descriptors and lookup tables, set on ``ds``."""
    lut = np.asarray(palette) if palette is not None else _hot_palette()
    if lut.ndim != 2 or lut.shape[1] != 3 or lut.dtype not in (np.uint8, np.uint16):
        raise ValueError("palette must be an (n, 3) uint8 or uint16 array")
    depth = lut.dtype.itemsize * 8
    entries = lut.shape[0]
    desc = [entries if entries < 65536 else 0, 0, depth]
    for i, name in enumerate(("Red", "Green", "Blue")):
        ds.add_new(getattr(_tags, f"{name}Desc"), "US", desc)
        data = lut[:, i].astype("<u2").tobytes()  # LUT data are 16-bit words (8-bit values widened)
        ds.add_new(getattr(_tags, f"{name}Data"), "OW", data)


def _pixel_data(
    ds, frames: np.ndarray, transfer_syntax: str, photometric: str, bits: int, quality: int
) -> None:
    """The file meta and the pixel data, encoded in the transfer syntax, set on ``ds``."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import UID, ExplicitVRLittleEndian

    n = frames.shape[0]
    bits_alloc = frames.dtype.itemsize * 8
    # Pixel data in the native layout first.
    if photometric in ("YBR_FULL", "YBR_FULL_422"):
        stored = _rgb_to_ybr(frames)
    else:
        stored = frames
    native = (
        _pack_ybr422(stored)
        if photometric == "YBR_FULL_422"
        else stored.astype(stored.dtype.newbyteorder("<")).tobytes()
    )
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    tsuid = UID(TRANSFER_SYNTAXES[transfer_syntax])

    if transfer_syntax in ("explicit-vr-little", "implicit-vr-little"):
        ds.file_meta.TransferSyntaxUID = tsuid
        ds.PixelData = native + (b"\0" if len(native) % 2 else b"")
        ds["PixelData"].VR = "OB" if bits_alloc == 8 else "OW"
    elif transfer_syntax in ("rle", "jpeg2000", "jpeg2000-lossless"):
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.PixelData = native + (b"\0" if len(native) % 2 else b"")
        ds["PixelData"].VR = "OB" if bits_alloc == 8 else "OW"
        kwargs = {}
        if transfer_syntax == "jpeg2000":
            kwargs["j2k_psnr"] = [45.0]
        if transfer_syntax == "rle":
            kwargs["encoding_plugin"] = "pydicom"
        arr = stored if n > 1 else stored[0]
        ds.compress(tsuid, arr, generate_instance_uid=False, **kwargs)
    else:
        if transfer_syntax == "jpeg-baseline":
            encoded = [_jpeg_baseline(f, photometric, quality) for f in frames]
        else:
            encoded = [_jpeg_lossless(f, bits) for f in stored]
        ds.file_meta.TransferSyntaxUID = tsuid
        ds.PixelData = encapsulate(encoded)
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
    if transfer_syntax in ("jpeg-baseline", "jpeg2000"):
        ds.LossyImageCompression = "01"


class _tags:
    RedDesc, GreenDesc, BlueDesc = 0x00281101, 0x00281102, 0x00281103
    RedData, GreenData, BlueData = 0x00281201, 0x00281202, 0x00281203


def _hot_palette() -> np.ndarray:
    """A 256-entry 16-bit 'hot' lookup table (black-red-yellow-white)."""
    x = np.arange(256, dtype=float) / 255.0
    r = np.clip(3 * x, 0, 1)
    g = np.clip(3 * x - 1, 0, 1)
    b = np.clip(3 * x - 2, 0, 1)
    return np.round(np.stack([r, g, b], axis=1) * 65535).astype(np.uint16)
