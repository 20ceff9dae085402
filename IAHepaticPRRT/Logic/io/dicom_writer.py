"""Writing volumes as DICOM image series (one file per slice), deterministically.

Used by the synthetic trial patient and the tests. UIDs derive from a caller-given key, so the
same inputs give byte-identical files. Pixel data are stored as signed 16-bit integers with a
per-slice RescaleSlope chosen to use the full range (as PET scanners do) unless a fixed slope is
given (CT stores HU with slope 1).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ..imaging.grid import Grid

#: Root for the project's generated UIDs (a UUID-derived root, PS3.5 B.2: "2.25.").
UID_ROOT = "2.25."

SOP_CLASS_UIDS = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",      # CT Image Storage
    "PT": "1.2.840.10008.5.1.4.1.1.128",    # Positron Emission Tomography Image Storage
    "NM": "1.2.840.10008.5.1.4.1.1.20",     # Nuclear Medicine Image Storage
    "MR": "1.2.840.10008.5.1.4.1.1.4",      # MR Image Storage
}
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"


def deterministic_uid(*parts) -> str:
    """A valid UID (2.25.<integer>) derived from ``parts``; the same parts give the same UID."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return UID_ROOT + str(int.from_bytes(digest[:16], "big"))


def save_dataset(ds, path: str | os.PathLike) -> None:
    """Write a dataset as a conformant DICOM file (preamble + file meta), pydicom 2.4 or 3."""
    import pydicom

    major = int(pydicom.__version__.split(".")[0])
    if major >= 3:
        ds.save_as(str(path), enforce_file_format=True)
    else:  # pragma: no cover - Slicer builds with pydicom 2.x
        ds.save_as(str(path), write_like_original=False)


def new_dataset(sop_class_uid: str, sop_instance_uid: str):
    """An empty dataset with its file meta information filled in."""
    from pydicom.dataset import Dataset, FileMetaDataset

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class_uid
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = EXPLICIT_VR_LITTLE_ENDIAN
    meta.ImplementationClassUID = deterministic_uid("IAHepaticPRRT implementation")
    meta.ImplementationVersionName = "IAHPRRT"
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = sop_instance_uid
    ds.SpecificCharacterSet = "ISO_IR 100"
    return ds


def _ds_number(value: float) -> str:
    """A decimal string of at most 16 characters (DS VR)."""
    for digits in range(15, 0, -1):
        text = f"{value:.{digits}g}"
        if len(text) <= 16:
            return text
    raise ValueError(f"cannot format {value} as DS")


def quantize_slice(values: np.ndarray, slope: float | None = None) -> tuple[np.ndarray, float, float]:
    """Stored int16 values, RescaleSlope and RescaleIntercept for one slice.

    With ``slope`` None the slope maps the slice's largest magnitude to 32000 (intercept 0), the
    usual PET practice; the stored value is rounded to nearest.
    """
    if slope is None:
        peak = float(np.max(np.abs(values))) if values.size else 0.0
        slope = peak / 32000.0 if peak > 0 else 1.0
        slope = float(_ds_number(slope))  # the slope as written, so stored x slope is exact
    stored = np.round(values / slope)
    if stored.min() < -32768 or stored.max() > 32767:
        raise ValueError("values do not fit 16 bits with this rescale slope")
    return stored.astype(np.int16), slope, 0.0


def _set_int16_pixel_module(ds) -> None:
    """Image Pixel module attributes for signed 16-bit monochrome pixels (PS3.3 C.7.6.3)."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1


def _set_attributes(ds, attributes: dict) -> None:
    for key, value in attributes.items():
        if isinstance(key, tuple):
            vr, element_value = value
            ds.add_new(key, vr, element_value)
        else:
            setattr(ds, key, value)


def write_image_series(
    array: np.ndarray,
    grid: Grid,
    folder: str | os.PathLike,
    modality: str,
    common: dict,
    per_slice: list[dict] | None = None,
    uid_key: str = "",
    fixed_slope: float | None = None,
    file_prefix: str = "slice",
    reverse_file_order: bool = False,
) -> list[Path]:
    """Write ``array`` ([k, j, i] on ``grid``) as a single-frame DICOM series.

    ``common`` holds attributes for every slice, ``per_slice`` extra ones for slice k: a keyword
    maps to its value, a ``(group, element)`` tuple (private tags) to ``(VR, value)``. Geometry attributes (ImagePositionPatient, ImageOrientationPatient, PixelSpacing,
    SliceThickness, SpacingBetweenSlices, Rows, Columns) and UIDs are set here. With
    ``reverse_file_order`` the file names run against the slice positions (a reader must sort by
    position, not name).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sop_class = SOP_CLASS_UIDS[modality]
    series_uid = common.get("SeriesInstanceUID") or deterministic_uid(uid_key, "series")
    frame_of_reference = common.get("FrameOfReferenceUID") or deterministic_uid(uid_key, "frame of reference")
    row_dir, col_dir = grid.direction[:, 0], grid.direction[:, 1]
    paths = []
    n_slices = grid.shape_kji[0]
    for k in range(n_slices):
        sop_uid = deterministic_uid(uid_key, "instance", k)
        ds = new_dataset(sop_class, sop_uid)
        ds.Modality = modality
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_of_reference
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [_ds_number(v) for v in grid.index_to_lps((0.0, 0.0, float(k)))]
        ds.ImageOrientationPatient = [_ds_number(v) for v in (*row_dir, *col_dir)]
        ds.PixelSpacing = [_ds_number(grid.spacing_mm[1]), _ds_number(grid.spacing_mm[0])]
        ds.SliceThickness = _ds_number(grid.spacing_mm[2])
        ds.SpacingBetweenSlices = _ds_number(grid.spacing_mm[2])
        ds.SliceLocation = _ds_number(float(grid.index_to_lps((0.0, 0.0, float(k)))[2]))
        ds.Rows, ds.Columns = grid.shape_kji[1], grid.shape_kji[2]
        _set_int16_pixel_module(ds)
        stored, slope, intercept = quantize_slice(np.asarray(array[k], dtype=np.float64), fixed_slope)
        ds.RescaleSlope = _ds_number(slope)
        ds.RescaleIntercept = _ds_number(intercept)
        _set_attributes(ds, common)
        if per_slice is not None:
            _set_attributes(ds, per_slice[k])
        ds.PixelData = stored.tobytes()
        ds["PixelData"].VR = "OW"
        number = n_slices - k if reverse_file_order else k + 1
        path = folder / f"{file_prefix}_{number:04d}.dcm"
        save_dataset(ds, path)
        paths.append(path)
    return paths


def write_nm_tomo(
    array: np.ndarray,
    grid: Grid,
    path: str | os.PathLike,
    common: dict,
    uid_key: str = "",
    fixed_slope: float | None = None,
    real_world_bqml_slope: float | None = None,
    negative_slice_spacing: bool = False,
) -> Path:
    """Write ``array`` ([k, j, i] on ``grid``) as one reconstructed NM multi-frame file
    (SOP class NM Image Storage, ImageType ORIGINAL\\PRIMARY\\RECON TOMO\\EMISSION).

    Geometry follows PS3.3 C.8.4 (see docs/physics.md section 4): frame n is slice n
    (SliceVector 1..N, FrameIncrementPointer -> SliceVector), ImagePositionPatient and
    ImageOrientationPatient inside DetectorInformationSequence item 1, slice k at
    IPP + k x SpacingBetweenSlices x (row cosines x column cosines). With ``negative_slice_spacing``
    the frames are stored from the last slice to the first and SpacingBetweenSlices is negative.

    One RescaleSlope for the whole object (NM has no per-frame rescale). With
    ``real_world_bqml_slope`` a RealWorldValueMappingSequence item maps stored values to Bq/mL
    (and RescaleSlope is left at 1), as quantitative SPECT writers do.

    ``common`` sets further attributes (timing, RotationInformationSequence, private tags, ...).
    """
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    values = np.asarray(array, dtype=np.float64)
    n_slices = grid.shape_kji[0]
    row_dir, col_dir = grid.direction[:, 0], grid.direction[:, 1]
    normal = np.cross(row_dir, col_dir)
    if not np.allclose(normal, grid.direction[:, 2], atol=1e-6):
        raise ValueError("NM geometry needs the k axis along row x column cosines")
    if negative_slice_spacing:
        values = values[::-1]
        first_position = grid.index_to_lps((0.0, 0.0, float(n_slices - 1)))
        spacing_between_slices = -grid.spacing_mm[2]
    else:
        first_position = grid.index_to_lps((0.0, 0.0, 0.0))
        spacing_between_slices = grid.spacing_mm[2]
    if real_world_bqml_slope is not None:
        stored, _, _ = quantize_slice(values / real_world_bqml_slope, 1.0)
        rescale_slope = 1.0
    else:
        stored, rescale_slope, _ = quantize_slice(values, fixed_slope)
    sop_uid = common.get("SOPInstanceUID") or deterministic_uid(uid_key, "nm instance")
    ds = new_dataset(SOP_CLASS_UIDS["NM"], sop_uid)
    ds.Modality = "NM"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "RECON TOMO", "EMISSION"]
    ds.SeriesInstanceUID = common.get("SeriesInstanceUID") or deterministic_uid(uid_key, "nm series")
    ds.FrameOfReferenceUID = common.get("FrameOfReferenceUID") or deterministic_uid(uid_key, "frame of reference")
    ds.InstanceNumber = 1
    ds.NumberOfFrames = n_slices
    ds.FrameIncrementPointer = 0x00540080  # SliceVector
    ds.SliceVector = list(range(1, n_slices + 1))
    ds.NumberOfSlices = n_slices
    ds.Rows, ds.Columns = grid.shape_kji[1], grid.shape_kji[2]
    ds.PixelSpacing = [_ds_number(grid.spacing_mm[1]), _ds_number(grid.spacing_mm[0])]
    ds.SliceThickness = _ds_number(grid.spacing_mm[2])
    ds.SpacingBetweenSlices = _ds_number(spacing_between_slices)
    detector = Dataset()
    detector.ImagePositionPatient = [_ds_number(v) for v in first_position]
    detector.ImageOrientationPatient = [_ds_number(v) for v in (*row_dir, *col_dir)]
    ds.DetectorInformationSequence = Sequence([detector])
    _set_int16_pixel_module(ds)
    ds.RescaleSlope = _ds_number(rescale_slope)
    ds.RescaleIntercept = "0"
    if real_world_bqml_slope is not None:
        item = Dataset()
        item.RealWorldValueFirstValueMapped = int(stored.min())
        item.RealWorldValueLastValueMapped = int(stored.max())
        item.RealWorldValueSlope = float(real_world_bqml_slope)
        item.RealWorldValueIntercept = 0.0
        item.LUTLabel = "BQML"
        item.LUTExplanation = "Bq/ml"
        unit = Dataset()
        unit.CodeValue = "Bq/ml"
        unit.CodingSchemeDesignator = "UCUM"
        unit.CodeMeaning = "becquerels/milliliter"
        item.MeasurementUnitsCodeSequence = Sequence([unit])
        ds.RealWorldValueMappingSequence = Sequence([item])
    _set_attributes(ds, {k: v for k, v in common.items() if k not in ("SOPInstanceUID",)})
    ds.PixelData = stored.tobytes()
    ds["PixelData"].VR = "OW"
    save_dataset(ds, path)
    return path
