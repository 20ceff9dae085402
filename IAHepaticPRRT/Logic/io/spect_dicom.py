"""Reading one quantitative SPECT time point: NM multi-frame RECON TOMO, SPECT stored as a PT
series, or a volume file already in Bq/mL. Follows docs/physics.md section 4.

Geometry of an NM multi-frame file (PS3.3 C.8.4): frame n is slice SliceVector[n];
ImagePositionPatient / ImageOrientationPatient in DetectorInformationSequence item 1; slice k at
IPP + k x SpacingBetweenSlices x (row cosines x column cosines). A negative SpacingBetweenSlices
means slices run against that normal: the volume is flipped so the grid's k axis is the normal.

Voxel units: exactly one scaling, the first that applies of
1. RealWorldValueMappingSequence (0040,9096) (units Bq/ml or {counts}), applied to stored values;
2. Units (0054,1001) BQML or CNTS, with RescaleSlope / RescaleIntercept;
3. RescaleSlope / RescaleIntercept: counts;
4. stored values: counts.
Counts become activity with A [MBq] = counts / (acquisition duration [s] x calibration [cps/MBq])
(MIRD Pamphlet 26); decay during the acquisition is neglected (< 0.1 % for 177Lu and 30 min).

Timing: acquisition start = AcquisitionDateTime, else AcquisitionDate + AcquisitionTime; never
SeriesTime or ContentTime (often the reconstruction time). Acquisition duration =
NumberOfFramesInRotation x ActualFrameDuration from RotationInformationSequence, cross-checked with
ScanArc / AngularStep and NumberOfDetectors; the user may state it instead. Which duration and
which scaling were used is recorded in ``provenance``.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..imaging.grid import Grid
from ..imaging.volume import Volume
from ..sanity import SPECT_ACQUISITION_DURATION, check_range, finite
from .dicom_series import rescale_parameters
from .patient_identity import patient_identity
from .radionuclides import check_radionuclide

#: Private block written by the project's synthetic patient: (0011,0010) LO "IAHepaticPRRT",
#: (0011,1001) DS calibration factor in cps/MBq.
PRIVATE_CREATOR = "IAHepaticPRRT"
PRIVATE_GROUP = 0x0011
PRIVATE_CALIBRATION_ELEMENT = 0x01

BQML = "Bq/mL"
COUNTS = "counts"


@dataclass
class SpectTimePoint:
    """One SPECT time point as activity concentration (Bq/mL) at the acquisition start."""

    volume: Volume
    source: str
    acquisition_datetime: dt.datetime | None = None
    provenance: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    patient_sex: str = ""
    frame_of_reference_uid: str = ""
    header_administration_datetime: dt.datetime | None = None
    decay_corrected_to: str = ""   # "" (activity at acquisition) or "ADMIN"
    patient_identity: dict = field(default_factory=dict)  # for the same-patient check, never written out


# ---- small DICOM helpers ---------------------------------------------------------------------
def parse_dicom_datetime(date_text, time_text=None) -> dt.datetime | None:
    """DA + TM, or one DT value, to a naive datetime; None when absent. Time-zone offsets are ignored."""
    if date_text is None or str(date_text).strip() == "":
        return None
    date = str(date_text).strip()
    if time_text is None:  # DT: YYYYMMDDHHMMSS.FFFFFF&ZZXX
        text = date
        for sign in "+-":
            index = text.find(sign, 8)
            if index != -1:
                text = text[:index]
    else:
        time_str = str(time_text).strip().replace(":", "")
        if not time_str:
            return None
        text = date.replace(".", "").replace("-", "")[:8] + time_str
    main, _, fraction = text.partition(".")
    if len(main) < 8 or not main.isdigit():
        raise ValueError(f"not a DICOM date/time: {date_text} {time_text or ''}".strip())
    try:
        value = dt.datetime.strptime(main.ljust(14, "0")[:14], "%Y%m%d%H%M%S")
    except ValueError:
        raise ValueError(f"not a DICOM date/time: {date_text} {time_text or ''}".strip()) from None
    if fraction.isdigit():
        value += dt.timedelta(microseconds=int((fraction + "000000")[:6]))
    return value


def acquisition_start(ds, path) -> dt.datetime | None:
    """AcquisitionDateTime, else AcquisitionDate + AcquisitionTime (never SeriesTime / ContentTime)."""
    try:
        value = parse_dicom_datetime(ds.get("AcquisitionDateTime"))
        if value is None:
            value = parse_dicom_datetime(ds.get("AcquisitionDate"), ds.get("AcquisitionTime"))
    except ValueError as exc:
        raise InputError(str(exc), path, "AcquisitionDate/AcquisitionTime (0008,0022)/(0008,0032)") from None
    return value


def header_administration(ds) -> dt.datetime | None:
    """RadiopharmaceuticalStartDateTime (0018,1078) of the first radiopharmaceutical item, if any."""
    items = ds.get("RadiopharmaceuticalInformationSequence") or []
    for item in items:
        try:
            value = parse_dicom_datetime(item.get("RadiopharmaceuticalStartDateTime"))
        except ValueError:
            value = None
        if value is not None:
            return value
    return None


def private_calibration(ds) -> float | None:
    """Calibration factor (cps/MBq) from the project's private block, or None."""
    try:
        block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)
        value = float(block[PRIVATE_CALIBRATION_ELEMENT].value)
    except (KeyError, ValueError, TypeError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def acquisition_duration(ds, path) -> tuple[float | None, str, bool]:
    """(duration in s or None, how it was found, ambiguous) from RotationInformationSequence."""
    items = ds.get("RotationInformationSequence") or []
    if not items:
        return None, "RotationInformationSequence (0054,0052) absent", False
    durations = []
    for item in items:
        frame_ms = item.get("ActualFrameDuration")
        frames = item.get("NumberOfFramesInRotation")
        if frame_ms is None or frames is None:
            return None, "ActualFrameDuration or NumberOfFramesInRotation missing in RotationInformationSequence", False
        durations.append((float(frame_ms), int(frames), item.get("ScanArc"), item.get("AngularStep")))
    frame_ms, frames, arc, step = durations[0]
    if len({(d[0], d[1]) for d in durations}) > 1:
        return None, f"{len(durations)} rotations with different durations", True
    detectors = ds.get("NumberOfDetectors")
    views_per_head = None
    if arc is not None and step is not None and float(step) != 0:
        views_per_head = round(abs(float(arc) / float(step)))
    per_view_s = frame_ms / 1000.0
    if views_per_head is None:
        return frames * per_view_s, (f"NumberOfFramesInRotation {frames} x ActualFrameDuration {frame_ms:g} ms, taken as "
                                     "views per head (ScanArc/AngularStep absent: not cross-checked)"), True
    if frames == views_per_head:
        return frames * per_view_s, (f"NumberOfFramesInRotation {frames} (= ScanArc/AngularStep, views per head) x "
                                     f"ActualFrameDuration {frame_ms:g} ms"), False
    if detectors and frames == views_per_head * int(detectors):
        return views_per_head * per_view_s, (f"NumberOfFramesInRotation {frames} counts all {int(detectors)} heads "
                                             f"(ScanArc/AngularStep = {views_per_head} per head) x ActualFrameDuration "
                                             f"{frame_ms:g} ms"), False
    return None, (f"NumberOfFramesInRotation {frames} matches neither ScanArc/AngularStep ({views_per_head}) nor that "
                  f"times NumberOfDetectors ({detectors})"), True


# ---- geometry and values of an NM multi-frame file ------------------------------------------
def _nm_geometry(ds, path) -> tuple[Grid, np.ndarray, bool, list[str]]:
    """Grid, frame order (frames sorted by SliceVector) and whether to flip k (negative spacing)."""
    warnings = []
    detector = (ds.get("DetectorInformationSequence") or [None])[0]
    if detector is None or "ImagePositionPatient" not in detector or "ImageOrientationPatient" not in detector:
        raise InputError("no ImagePositionPatient/ImageOrientationPatient in DetectorInformationSequence item 1: "
                         "the volume cannot be placed in the patient", path, "DetectorInformationSequence (0054,0022)")
    ipp = np.array(detector.ImagePositionPatient, dtype=float)
    iop = np.array(detector.ImageOrientationPatient, dtype=float)
    if iop.shape != (6,) or ipp.shape != (3,):
        raise InputError("malformed position or orientation", path, "DetectorInformationSequence (0054,0022)")
    row_dir, col_dir = iop[:3], iop[3:]
    normal = np.cross(row_dir, col_dir)
    if not np.isclose(np.linalg.norm(normal), 1.0, atol=1e-3):
        raise InputError("direction cosines are not orthonormal", path, "ImageOrientationPatient (0020,0037)")
    if "PixelSpacing" not in ds:
        raise InputError("missing attribute", path, "PixelSpacing (0028,0030)")
    pixel_spacing = np.array(ds.PixelSpacing, dtype=float)
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    spacing_k = ds.get("SpacingBetweenSlices")
    if spacing_k is None or str(spacing_k).strip() == "":
        thickness = ds.get("SliceThickness")
        if n_frames > 1 and (thickness is None or float(thickness) == 0):
            raise InputError("no slice spacing: neither SpacingBetweenSlices nor SliceThickness", path,
                             "SpacingBetweenSlices (0018,0088)")
        spacing_k = float(thickness) if thickness is not None else float(pixel_spacing[0])
        warnings.append(f"{path}: SpacingBetweenSlices (0018,0088) absent: slice spacing taken from SliceThickness "
                        f"({spacing_k:g} mm)")
    spacing_k = float(spacing_k)
    if spacing_k == 0 or not math.isfinite(spacing_k):
        raise InputError(f"slice spacing {spacing_k} is not usable", path, "SpacingBetweenSlices (0018,0088)")
    slice_vector = ds.get("SliceVector")
    if slice_vector is not None and len(slice_vector) == n_frames:
        order = np.argsort(np.array(slice_vector, dtype=int), kind="stable")
        if sorted(int(v) for v in slice_vector) != list(range(1, n_frames + 1)):
            raise InputError("SliceVector is not a permutation of 1..NumberOfFrames (several detectors, energy "
                             "windows or phases in one object?)", path, "SliceVector (0054,0080)")
    else:
        order = np.arange(n_frames)
        if n_frames > 1:
            warnings.append(f"{path}: SliceVector (0054,0080) absent: frames taken in stored order")
    flip = spacing_k < 0
    step = abs(spacing_k)
    origin = ipp + (n_frames - 1) * spacing_k * normal if flip else ipp
    grid = Grid((n_frames, int(ds.Rows), int(ds.Columns)), (pixel_spacing[1], pixel_spacing[0], step), origin,
                np.column_stack([row_dir, col_dir, normal]))
    return grid, order, flip, warnings


def _real_world_mapping(ds) -> tuple[str, float, float, str] | None:
    """(unit, slope, intercept, description) of the first usable RealWorldValueMapping item."""
    items = ds.get("RealWorldValueMappingSequence") or []
    for item in items:
        codes = item.get("MeasurementUnitsCodeSequence") or []
        code = str(codes[0].get("CodeValue", "")).strip().lower() if codes else ""
        label = str(item.get("LUTLabel", "")).strip().upper()
        slope = item.get("RealWorldValueSlope")
        if slope is None:
            continue
        slope = finite(slope, None, "RealWorldValueSlope (0040,9225)")
        intercept_value = item.get("RealWorldValueIntercept")
        intercept = 0.0 if intercept_value is None else finite(intercept_value, None,
                                                                 "RealWorldValueIntercept (0040,9224)", positive=False)
        if code in ("bq/ml", "bq/cm3") or label in ("BQML", "BQ/ML"):
            return BQML, float(slope), intercept, f"RealWorldValueMapping ({code or label}) slope {float(slope):g}"
        if code in ("{counts}", "counts", "{cnts}") or label in ("CNTS", "COUNTS"):
            return COUNTS, float(slope), intercept, f"RealWorldValueMapping ({code or label}) slope {float(slope):g}"
        raise InputError(f"real-world value mapping to unsupported units '{code or label}'", None,
                         "MeasurementUnitsCodeSequence (0040,08EA)")
    return None


def _scale(ds, stored: np.ndarray, path, warnings: list) -> tuple[np.ndarray, str, str]:
    """Apply exactly one scaling (see module docstring): (values, unit, description)."""
    slope, intercept = rescale_parameters(ds, path, False)
    try:
        mapping = _real_world_mapping(ds)
    except InputError as exc:
        raise InputError(exc.message, path, exc.field) from None
    if mapping is not None:
        unit, rw_slope, rw_intercept, text = mapping
        if slope != 1.0 or intercept != 0.0:
            warnings.append(f"{path}: RescaleSlope/Intercept ({slope:g}/{intercept:g}) ignored: the real-world value "
                            "mapping already maps stored values (one scaling only)")
        return stored * rw_slope + rw_intercept, unit, text
    units = str(ds.get("Units", "")).strip().upper()
    if units:
        if units == "BQML":
            return stored * slope + intercept, BQML, f"Units BQML with RescaleSlope {slope:g}"
        if units in ("CNTS", "COUNTS"):
            return stored * slope + intercept, COUNTS, f"Units CNTS with RescaleSlope {slope:g}"
        raise InputError(f"SPECT voxel units '{units}' are not supported (BQML or CNTS)", path, "Units (0054,1001)")
    if "RescaleSlope" in ds:
        return stored * slope + intercept, COUNTS, f"RescaleSlope {slope:g} (no units: counts)"
    return stored, COUNTS, "stored values (no units, no rescale: counts)"


def read_nm_multiframe(path: str | os.PathLike) -> tuple[Volume, object, list[str]]:
    """An NM RECON TOMO object as a volume in its own units (counts or Bq/mL); header; warnings."""
    from .dicom_decode import decode_pixels, read_dataset

    path = Path(path)
    ds = read_dataset(path)  # files without preamble included
    if ds is None:
        raise InputError("not a readable DICOM file", path)
    image_type = [str(v).strip().upper() for v in (ds.get("ImageType") or [])]
    value3 = image_type[2] if len(image_type) > 2 else ""
    if "RECON" not in value3:
        if value3 in ("TOMO", "GATED TOMO"):
            raise InputError("these are SPECT projections (ImageType value 3 'TOMO'), not a reconstructed volume: "
                             "export the reconstruction (RECON TOMO)", path, "ImageType (0008,0008)")
        shown = "\\".join(image_type) or "absent"
        raise InputError(f"not a reconstructed tomographic NM image (ImageType {shown}); "
                         "expected value 3 'RECON TOMO'", path, "ImageType (0008,0008)")
    grid, order, flip, warnings = _nm_geometry(ds, path)
    stored_values, decoder = decode_pixels(ds, path)  # compressed syntaxes too; the decoder is recorded
    pixels = np.asarray(stored_values, dtype=np.float64)
    if pixels.ndim == 2:
        pixels = pixels[np.newaxis]
    if pixels.shape != grid.shape_kji:
        raise InputError(f"pixel data shape {pixels.shape} does not match NumberOfFrames x Rows x Columns", path,
                         "NumberOfFrames (0028,0008)")
    stored = pixels[order]
    if flip:
        stored = stored[::-1]
    values, unit, description = _scale(ds, stored, path, warnings)
    if not np.all(np.isfinite(values)):
        raise InputError("non-finite voxel values", path, "PixelData")
    volume = Volume(values.astype(np.float32), grid, unit, {
        "series_instance_uid": str(ds.get("SeriesInstanceUID", "")), "modality": "NM", "source_file": str(path),
        "scaling": description, "negative_slice_spacing": bool(flip), "pixel_decoder": decoder,
        "frame_of_reference_uid": str(ds.get("FrameOfReferenceUID", "") or ""),
        "study_instance_uid": str(ds.get("StudyInstanceUID", "") or ""),
    })
    if getattr(ds, "read_without_file_meta", False):
        warnings.append(f"{path}: no DICOM preamble and file meta information: read as a bare dataset")
    return volume, ds, warnings


# ---- one time point --------------------------------------------------------------------------
def _find_dicom(path: Path, series_uid: str | None):
    """(kind, file or folder, header) for an NM multi-frame object or a PT/NM single-frame series."""
    from .dicom_series import select_series

    summary = select_series(path, series_uid, modalities=("NM", "PT"))
    if summary.number_of_frames > 1 or (summary.modality == "NM" and len(summary.files) == 1):
        if len(summary.files) != 1:
            raise InputError(f"{len(summary.files)} NM multi-frame files in one series: give one file", path,
                             "SeriesInstanceUID")
        return "nm", summary.files[0], summary
    return "series", path, summary


def read_time_point(path: str | os.PathLike, calibration_cps_per_mbq: float | None = None,
                    acquisition_duration_s: float | None = None, series_uid: str | None = None,
                    accept: Collection[str] = ()) -> SpectTimePoint:
    """Read one time point and return it in Bq/mL at the acquisition start.

    ``path``: an NM multi-frame file, a folder holding one NM or PT SPECT series, or a volume file
    (NRRD/NIfTI) already in Bq/mL (its time must be given separately). ``calibration_cps_per_mbq``
    and ``acquisition_duration_s``, when given, override the header (count data only).
    """
    from .dicom_series import read_series
    from .volume_files import is_volume_file, read_volume

    path = Path(path)
    if is_volume_file(path):
        volume = read_volume(path, unit=BQML)
        volume.array = volume.array.astype(np.float32)
        volume.metadata["scaling"] = "volume file taken as Bq/mL"
        return SpectTimePoint(volume, str(path), None, {"input": "volume file", "unit": BQML,
                                                        "scaling": "none (volume file in Bq/mL)"})
    if not path.exists():
        raise InputError("no such SPECT file or folder", path)
    kind, location, summary = _find_dicom(path, series_uid)
    warnings: list[str] = []
    if kind == "nm":
        volume, ds, warnings = read_nm_multiframe(location)
        header_file = location
    else:
        series = read_series(location, series_uid=summary.series_instance_uid)
        volume, ds, header_file = series.volume, series.first, series.files[0]
        warnings.extend(f"{location}: {w}" for w in series.warnings)
        units = str(ds.get("Units", "")).strip().upper()
        if units == "BQML":
            volume.unit = BQML
            volume.metadata["scaling"] = "Units BQML with per-slice RescaleSlope"
        elif units in ("CNTS", ""):
            volume.unit = COUNTS
            volume.metadata["scaling"] = "per-slice RescaleSlope (counts)"
        else:
            raise InputError(f"SPECT voxel units '{units}' are not supported (BQML or CNTS)", header_file,
                             "Units (0054,1001)")
    provenance = {
        "input": "NM multi-frame" if kind == "nm" else f"{summary.modality} single-frame series",
        "file": str(header_file), "series_instance_uid": summary.series_instance_uid,
        "scaling": volume.metadata.get("scaling", ""), "stored_unit": volume.unit,
        "pixel_decoders": volume.metadata.get("pixel_decoders") or volume.metadata.get("pixel_decoder"),
    }
    provenance["radionuclide"] = check_radionuclide(ds, "Lu-177", header_file, accept, warnings)
    start = acquisition_start(ds, header_file)
    provenance["acquisition_datetime"] = start.isoformat() if start else None
    decay_corrected_to = ""
    correction = str(ds.get("DecayCorrection", "")).strip().upper()
    if correction == "ADMIN":
        decay_corrected_to = "ADMIN"
        provenance["decay_correction"] = "ADMIN (values decay-corrected to administration: undone from the timing)"
    elif correction:
        provenance["decay_correction"] = f"{correction} (values at the acquisition)"
    if volume.unit == COUNTS:
        header_cf = private_calibration(ds)
        cf = calibration_cps_per_mbq if calibration_cps_per_mbq is not None else header_cf
        if cf is None:
            raise InputError("the SPECT holds counts: a calibration factor is needed (--calibration-cps-per-mbq)",
                             header_file, "calibration factor (cps/MBq)")
        if not math.isfinite(cf) or cf <= 0:
            raise InputError(f"calibration factor must be positive, got {cf}", "--calibration-cps-per-mbq")
        header_duration, how, ambiguous = acquisition_duration(ds, header_file)
        if acquisition_duration_s is not None:
            if not math.isfinite(acquisition_duration_s) or acquisition_duration_s <= 0:
                raise InputError(f"acquisition duration must be positive, got {acquisition_duration_s}",
                                 "--acquisition-duration-s")
            duration, duration_source = float(acquisition_duration_s), "given by the user"
            if header_duration is not None and abs(header_duration - duration) > 0.01 * duration:
                warnings.append(f"{header_file}: acquisition duration given ({duration:g} s) differs from the header "
                                f"({header_duration:g} s: {how})")
        elif header_duration is None:
            raise InputError(f"acquisition duration unknown ({how}): state it with --acquisition-duration-s",
                             header_file, "RotationInformationSequence (0054,0052)")
        else:
            duration, duration_source = header_duration, f"header: {how}"
            if ambiguous:
                warnings.append(f"{header_file}: acquisition duration {duration:g} s from {how}; check it (or state "
                                "it with --acquisition-duration-s)")
        check_range(duration, SPECT_ACQUISITION_DURATION, header_file if duration_source.startswith("header") else
                    "--acquisition-duration-s", "RotationInformationSequence (0054,0052)", accept, warnings)
        voxel_ml = volume.grid.voxel_volume_ml
        # A [MBq] = counts / (T [s] x CF [cps/MBq]) (MIRD 26); Bq/mL = A x 1e6 / V [mL].
        volume = Volume((volume.array / (duration * cf) * 1.0e6 / voxel_ml).astype(np.float32), volume.grid, BQML,
                        dict(volume.metadata))
        provenance.update({
            "calibration_cps_per_mbq": cf,
            "calibration_source": "given by the user" if calibration_cps_per_mbq is not None else
            f"private tag ({PRIVATE_GROUP:04X},10{PRIVATE_CALIBRATION_ELEMENT:02X}) '{PRIVATE_CREATOR}'",
            "acquisition_duration_s": duration, "acquisition_duration_source": duration_source,
        })
    else:
        if calibration_cps_per_mbq is not None:
            warnings.append(f"{header_file}: the SPECT is already in Bq/mL: the calibration factor given is not "
                            "applied")
    volume.unit = BQML
    if not np.all(np.isfinite(volume.array)):
        raise InputError("non-finite activity values", header_file, "PixelData")
    return SpectTimePoint(volume, str(path), start, provenance, warnings, str(ds.get("PatientSex", "") or ""),
                          str(ds.get("FrameOfReferenceUID", "") or ""), header_administration(ds), decay_corrected_to,
                          patient_identity(ds))
