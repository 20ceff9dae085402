"""Vendor-style DICOM headers of the synthetic patient (CT, 68Ga PET, 177Lu NM SPECT).

What each vendor variant exercises in an SUV engine (docs/physics.md section 2):

- ``siemens``: Units BQML, DecayCorrection START, SeriesTime = start of the first bed (the
  reference time), per-bed AcquisitionTime, per-slice RescaleSlope, header half-life 4057.7 s.
- ``ge``: Units BQML, SeriesTime 27 min AFTER the acquisition (reconstruction time), so the
  reference time must come from the GE private scan date-time (0009,100D) (creator
  "GEMS_PETD_01"); header half-life 4062.6 s (the ICRP 107 value).
- ``philips``: Units CNTS; SUVbw = (stored x RescaleSlope + RescaleIntercept) x (7053,1000), Bq/mL =
  (stored x RescaleSlope + RescaleIntercept) x (7053,1009) (creator "Philips PET Private Group");
  header half-life 4057.7 s.

Every PET slice also carries PatientWeight, PatientSize, PatientSex, the
RadiopharmaceuticalInformationSequence (RadionuclideTotalDose in Bq, RadiopharmaceuticalStartTime
and StartDateTime, RadionuclideHalfLife, positron fraction 0.889, radionuclide code C-131A3
"^68^Gallium"), SeriesDate/Time, AcquisitionDate/Time (its bed's start), ActualFrameDuration,
FrameReferenceTime, DecayFactor, DecayCorrection and Units.

Times are whole seconds; DICOM TM values are written HHMMSS and DT values YYYYMMDDHHMMSS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..io.dicom_writer import _ds_number as _ds

VENDORS = ("siemens", "ge", "philips")

VENDOR_INFO = {
    "siemens": {"Manufacturer": "SIEMENS", "pet_model": "Biograph Vision 600 (synthetic)",
                "nm_model": "Symbia Intevo Bold (synthetic)", "software": "VG80B synthetic",
                "pet_half_life_s": 4057.7, "ct_kernel": "Br38f"},
    "ge": {"Manufacturer": "GE MEDICAL SYSTEMS", "pet_model": "Discovery MI (synthetic)",
           "nm_model": "Discovery NM/CT 670 (synthetic)", "software": "pet_coreload.50 synthetic",
           "pet_half_life_s": 4062.6, "ct_kernel": "STANDARD"},
    "philips": {"Manufacturer": "Philips Medical Systems", "pet_model": "Vereos PET/CT (synthetic)",
                "nm_model": "BrightView XCT (synthetic)", "software": "3.5 synthetic",
                "pet_half_life_s": 4057.7, "ct_kernel": "B"},
}

#: GE reconstruction delay: SeriesTime later than the acquisition (exercises the 0009,100D rule).
GE_SERIES_DELAY_S = 27 * 60 + 14
#: Philips activity concentration scale factor (Bq/mL per CNTS unit) in (7053,1009).
PHILIPS_BQML_PER_CNTS = 0.8731
#: 68Ga positron yield (ICRP 107; docs/physics.md section 1).
GA68_POSITRON_FRACTION = 0.889
#: 177Lu half-life in s (6.647 d, ICRP 107).
LU177_HALF_LIFE_S = 159.53 * 3600.0

PATIENT = {"PatientName": "IAHPRRT^Synthetic Patient", "PatientID": "IAHPRRT-SYN-0001",
           "PatientBirthDate": "19620415", "PatientSex": "M", "PatientAge": "062Y"}
PATIENT_HEIGHT_CM = 176.0


def da(t: datetime) -> str:
    return t.strftime("%Y%m%d")


def tm(t: datetime) -> str:
    return t.strftime("%H%M%S")


def dt(t: datetime) -> str:
    return t.strftime("%Y%m%d%H%M%S")


def iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


@dataclass
class PetSession:
    """Timing and dose of one 68Ga PET/CT scan."""

    route: str                      # "ia" or "iv"
    folder: str                     # "ia_day0"
    description: str
    injection: datetime
    acquisition_start: datetime     # start of the first bed = decay-correction reference time
    injected_activity_bq: float
    residual_activity_bq: float
    weight_kg: float
    bed_duration_s: float
    bed_gap_s: float
    bed_split_z_mm: float = 0.0     # slices at z >= split: bed 1 (acquired first), below: bed 2
    study_number: int = 1
    extra: dict = field(default_factory=dict)

    def bed_start_offset_s(self, bed: int) -> float:
        return (bed - 1) * (self.bed_duration_s + self.bed_gap_s)


def frame_average_offset_s(duration_s: float, half_life_s: float) -> float:
    """Time after the frame start at which the activity equals its frame average (decay only)."""
    lam = math.log(2.0) / half_life_s
    return -math.log((1.0 - math.exp(-lam * duration_s)) / (lam * duration_s)) / lam


def series_datetime(session: PetSession, vendor: str) -> datetime:
    if vendor == "ge":
        return session.acquisition_start + timedelta(seconds=GE_SERIES_DELAY_S)
    return session.acquisition_start


def _common_patient_study(weight_kg: float, study_uid: str, study_time: datetime, study_id: str, description: str) -> dict:
    out = dict(PATIENT)
    out.update({
        "PatientWeight": f"{weight_kg:.1f}",
        "PatientSize": f"{PATIENT_HEIGHT_CM / 100.0:.2f}",
        "StudyInstanceUID": study_uid,
        "StudyDate": da(study_time), "StudyTime": tm(study_time),
        "StudyID": study_id, "AccessionNumber": f"ACC{study_id}",
        "ReferringPhysicianName": "", "StudyDescription": description,
        "InstitutionName": "IAHepaticPRRT synthetic trial site",
        "BodyPartExamined": "ABDOMEN", "PatientPosition": "HFS", "PositionReferenceIndicator": "",
    })
    return out


def _equipment(vendor: str, model_key: str) -> dict:
    info = VENDOR_INFO[vendor]
    return {"Manufacturer": info["Manufacturer"], "ManufacturerModelName": info[model_key],
            "SoftwareVersions": info["software"], "StationName": "SYNTH01", "DeviceSerialNumber": "0001"}


def ct_attributes(vendor: str, weight_kg: float, study_uid: str, frame_uid: str, series_uid: str, study_time: datetime,
                  acquisition: datetime, study_id: str, description: str, series_number: int) -> dict:
    """Attributes of a CT series (stored HU: RescaleSlope 1, RescaleIntercept 0)."""
    out = _common_patient_study(weight_kg, study_uid, study_time, study_id, description)
    out.update(_equipment(vendor, "pet_model" if "PET" in description else "nm_model"))
    out.update({
        "SeriesInstanceUID": series_uid, "FrameOfReferenceUID": frame_uid,
        "SeriesNumber": series_number, "SeriesDescription": f"{description} CT",
        "SeriesDate": da(acquisition), "SeriesTime": tm(acquisition),
        "AcquisitionDate": da(acquisition), "AcquisitionTime": tm(acquisition),
        "ContentDate": da(acquisition), "ContentTime": tm(acquisition),
        "ImageType": ["ORIGINAL", "PRIMARY", "AXIAL"],
        "KVP": "120", "XRayTubeCurrent": 80, "ExposureTime": 500,
        "ConvolutionKernel": VENDOR_INFO[vendor]["ct_kernel"], "RescaleType": "HU",
        "WindowCenter": "40", "WindowWidth": "400",
    })
    return out


def _radiopharmaceutical_ga68(session: PetSession, half_life_s: float):
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    code = Dataset()
    code.CodeValue = "C-131A3"
    code.CodingSchemeDesignator = "SRT"
    code.CodeMeaning = "^68^Gallium"
    item = Dataset()
    item.Radiopharmaceutical = "Ga68 DOTATATE"
    item.RadiopharmaceuticalRoute = "Intra-arterial (hepatic artery)" if session.route == "ia" else "Intravenous"
    item.RadiopharmaceuticalStartTime = tm(session.injection)
    item.RadiopharmaceuticalStartDateTime = dt(session.injection)
    item.RadionuclideTotalDose = f"{session.injected_activity_bq:.1f}"
    item.RadionuclideHalfLife = f"{half_life_s}"
    item.RadionuclidePositronFraction = f"{GA68_POSITRON_FRACTION}"
    item.RadionuclideCodeSequence = Sequence([code])
    return Sequence([item])


def pet_attributes(vendor: str, session: PetSession, study_uid: str, frame_uid: str, series_uid: str,
                   slice_z_mm: list[float], suv_factor: float | None) -> tuple[dict, list[dict]]:
    """(attributes common to every slice, per-slice attributes) of a PET series.

    ``suv_factor`` (Philips only): the (7053,1000) value, SUVbw per CNTS unit."""
    info = VENDOR_INFO[vendor]
    half_life = info["pet_half_life_s"]
    series_time = series_datetime(session, vendor)
    common = _common_patient_study(session.weight_kg, study_uid, session.acquisition_start,
                                   f"{session.study_number}", session.description)
    common.update(_equipment(vendor, "pet_model"))
    common.update({
        "SeriesInstanceUID": series_uid, "FrameOfReferenceUID": frame_uid,
        "SeriesNumber": 2, "SeriesDescription": f"{session.description} PET AC",
        "SeriesDate": da(series_time), "SeriesTime": tm(series_time),
        "ImageType": ["ORIGINAL", "PRIMARY"],
        "Units": "CNTS" if vendor == "philips" else "BQML",
        "CountsSource": "EMISSION", "SeriesType": ["WHOLE BODY", "IMAGE"],
        "CorrectedImage": ["DECY", "ATTN", "SCAT", "DTIM", "RAN", "NORM"],
        "DecayCorrection": "START", "RandomsCorrectionMethod": "DLYD",
        "AttenuationCorrectionMethod": "CT-based", "ReconstructionMethod": "OSEM 4i 16s, Gaussian 6 mm",
        "NumberOfSlices": len(slice_z_mm), "SliceSensitivityFactor": "1.0", "DoseCalibrationFactor": "1.0",
        "RadiopharmaceuticalInformationSequence": _radiopharmaceutical_ga68(session, half_life),
    })
    if vendor == "ge":
        common[(0x0009, 0x0010)] = ("LO", "GEMS_PETD_01")
        common[(0x0009, 0x100D)] = ("DT", dt(session.acquisition_start))
    if vendor == "philips":
        common[(0x7053, 0x0010)] = ("LO", "Philips PET Private Group")
        common[(0x7053, 0x1000)] = ("DS", _ds(suv_factor))
        common[(0x7053, 0x1009)] = ("DS", _ds(PHILIPS_BQML_PER_CNTS))
    per_slice = []
    lam = math.log(2.0) / half_life
    for index, z in enumerate(slice_z_mm):
        bed = 1 if z >= session.bed_split_z_mm else 2
        offset = session.bed_start_offset_s(bed)
        start = session.acquisition_start + timedelta(seconds=offset)
        reference_ms = (offset + frame_average_offset_s(session.bed_duration_s, half_life)) * 1000.0
        per_slice.append({
            "AcquisitionDate": da(start), "AcquisitionTime": tm(start),
            "ContentDate": da(series_time), "ContentTime": tm(series_time),
            "ActualFrameDuration": int(round(session.bed_duration_s * 1000.0)),
            "FrameReferenceTime": _ds(reference_ms),
            "DecayFactor": _ds(math.exp(lam * reference_ms / 1000.0)),
            "ImageIndex": index + 1,
        })
    return common, per_slice


@dataclass
class SpectTimePoint:
    name: str                       # "tp1"
    time_h: float                   # acquisition start after administration
    views_per_head: int
    seconds_per_view: float
    reconstruction_delay_s: float = 35 * 60.0

    @property
    def acquisition_duration_s(self) -> float:
        return self.views_per_head * self.seconds_per_view


def nm_attributes(vendor: str, weight_kg: float, tp: SpectTimePoint, administration: datetime, administered_mbq: float,
                  calibration_cps_per_mbq: float, study_uid: str, frame_uid: str, series_uid: str, variant: str) -> dict:
    """Attributes of a reconstructed 177Lu SPECT (NM RECON TOMO); ``variant`` "counts" or "bqml".

    RotationInformationSequence item 1: NumberOfFramesInRotation = views per head, ActualFrameDuration
    = ms per view, two heads over 180 degrees each (acquisition duration = views x ms / 1000).
    RadionuclideTotalDose is in MBq (the NM Isotope module's unit). The calibration factor is in the
    private block (0011,0010) "IAHepaticPRRT", (0011,1001) DS cps/MBq."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    start = administration + timedelta(hours=tp.time_h)
    series_time = start + timedelta(seconds=tp.acquisition_duration_s + tp.reconstruction_delay_s)
    out = _common_patient_study(weight_kg, study_uid, start, f"3{tp.name[-1]}", f"Lu177 SPECT/CT {tp.name}")
    out.update(_equipment(vendor, "nm_model"))
    rotation = Dataset()
    rotation.StartAngle = "0"
    rotation.AngularStep = "3"
    rotation.RotationDirection = "CW"
    rotation.ScanArc = "180"
    rotation.ActualFrameDuration = int(round(tp.seconds_per_view * 1000.0))
    rotation.NumberOfFramesInRotation = tp.views_per_head
    window_range = Dataset()
    window_range.EnergyWindowLowerLimit = "187.2"
    window_range.EnergyWindowUpperLimit = "228.8"
    window = Dataset()
    window.EnergyWindowRangeSequence = Sequence([window_range])
    window.EnergyWindowName = "Lu177 208keV"
    pharma = Dataset()
    pharma.Radiopharmaceutical = "Lu177 DOTATATE"
    pharma.RadiopharmaceuticalRoute = "Intra-arterial (hepatic artery)"
    pharma.RadiopharmaceuticalStartTime = tm(administration)
    pharma.RadiopharmaceuticalStartDateTime = dt(administration)
    pharma.RadionuclideTotalDose = _ds(administered_mbq)
    pharma.RadionuclideHalfLife = _ds(LU177_HALF_LIFE_S)
    pharma.RadionuclideCodeSequence = Sequence([])
    out.update({
        "SeriesInstanceUID": series_uid, "FrameOfReferenceUID": frame_uid,
        "SeriesNumber": 3 if variant == "counts" else 4,
        "SeriesDescription": f"Lu177 SPECT {tp.name} OSEM {'counts' if variant == 'counts' else 'Bq/mL'}",
        "SeriesDate": da(series_time), "SeriesTime": tm(series_time),
        "AcquisitionDate": da(start), "AcquisitionTime": tm(start),
        "ContentDate": da(series_time), "ContentTime": tm(series_time),
        "NumberOfDetectors": 2, "NumberOfRotations": 1, "NumberOfEnergyWindows": 1,
        "RotationInformationSequence": Sequence([rotation]),
        "EnergyWindowInformationSequence": Sequence([window]),
        "RadiopharmaceuticalInformationSequence": Sequence([pharma]),
        "CorrectedImage": ["ATTN", "SCAT"],
        (0x0011, 0x0010): ("LO", "IAHepaticPRRT"),
        (0x0011, 0x1001): ("DS", _ds(calibration_cps_per_mbq)),
    })
    return out


def mr_attributes(vendor: str, weight_kg: float, study_uid: str, frame_uid: str, series_uid: str, acquisition: datetime,
                  study_id: str, description: str, series_number: int) -> dict:
    """Attributes of an MR series (MR Image Storage; a T2-weighted fat-suppressed axial 3-D acquisition
    of the synthetic follow-up, signal in arbitrary units: RescaleSlope 1)."""
    out = _common_patient_study(weight_kg, study_uid, acquisition, study_id, description)
    out.update({"Manufacturer": VENDOR_INFO[vendor]["Manufacturer"], "ManufacturerModelName": "MR (synthetic)",
                "SoftwareVersions": VENDOR_INFO[vendor]["software"], "StationName": "SYNTHMR", "DeviceSerialNumber": "0002"})
    out.update({
        "SeriesInstanceUID": series_uid, "FrameOfReferenceUID": frame_uid,
        "SeriesNumber": series_number, "SeriesDescription": f"{description} T2 FS AX 3D",
        "SeriesDate": da(acquisition), "SeriesTime": tm(acquisition),
        "AcquisitionDate": da(acquisition), "AcquisitionTime": tm(acquisition),
        "ContentDate": da(acquisition), "ContentTime": tm(acquisition),
        "ImageType": ["ORIGINAL", "PRIMARY", "M", "ND"],
        "ScanningSequence": "SE", "SequenceVariant": ["SK", "SP"], "ScanOptions": "FS", "MRAcquisitionType": "3D",
        "RepetitionTime": "2000", "EchoTime": "90", "EchoTrainLength": "120", "MagneticFieldStrength": "1.5",
        "ImagingFrequency": "63.87", "ImagedNucleus": "1H", "FlipAngle": "90",
        "WindowCenter": "150", "WindowWidth": "400",
    })
    return out
