"""Vendor-neutral SUV from a DICOM PET series (docs/physics.md section 2).

SUV = C / (A_ref / N): C the activity concentration in Bq/mL, A_ref the net injected activity
decayed to the image's reference time in Bq, N the normaliser (:mod:`iahepaticprrt.uptake.suv_normalisers`: g, or cm^2
for SUVbsa). Sources: the IBSI SUV manual (Vácha et al., oncoray.github.io/suv_computation) and the
QIBA vendor-neutral SUV pseudo-code; DICOM PS3.3 C.8.9.4 (PET Image Module) for the attributes.

Rules, each one implemented and tested (Testing/test_suv_rules.py):

- RescaleSlope / RescaleIntercept per slice: :func:`iahepaticprrt.io.dicom_series.read_series` applies each slice's
  own values; the SUV factor is then applied per slice (it may differ slice by slice).
- Units (0054,1001): ``BQML`` used as is; ``GML`` is already SUV of SUVType (0054,1006) (empty =
  BW); ``CM2ML`` is SUVbsa; ``CNTS`` (Philips): SUVbw = value x (7053,1000) or, when only that is
  present, Bq/mL = value x (7053,1009) (both applied to the rescaled value, per slice). Anything
  else is refused.
- DecayCorrection (0054,1102): ``START``: the dose is decayed to the reference time; ``ADMIN``: the
  image is decay-corrected to the administration: the dose is not decayed; ``NONE``: each slice is
  decay-corrected to the administration from its own AcquisitionDate/Time and ActualFrameDuration
  (factor e^(lambda (t_acq - t_inj)) x lambda T / (1 - e^(-lambda T)), the second term the
  frame-average correction of PS3.3 C.8.9.4.1.5) and the dose is not decayed.
- Reference time (START): SeriesDate/Time unless it is later than the earliest
  AcquisitionDate/Time; then the GE private scan date-time (0009,100D); else back-computed from the
  earliest slice: AcquisitionDateTime + T_ave - FrameReferenceTime (0054,1300), with
  T_ave = ln(lambda T / (1 - e^(-lambda T))) / lambda (PS3.3 C.8.9.4.1.5), T = ActualFrameDuration.
- Injection date-time: RadiopharmaceuticalStartDateTime (0018,1078) first; with only
  RadiopharmaceuticalStartTime (0018,1072) the series date, or the day before when that puts the
  injection after the scan (injection before midnight, scan after).
- RadionuclideTotalDose (0018,1074) below 1e5 is read as MBq (broken exports), with a warning.
- PatientWeight missing or zero is refused unless the user gives the weight (no default weight).
- Half-life from RadionuclideHalfLife (0018,1075) of this scan (68Ga headers carry 4057.7 to
  4062.6 s; nothing here assumes 18F).

User overrides beat the header, each with a warning naming the header value it replaced: weight,
height, sex, injected activity, residual activity (net = injected - residual, both reported; the
residual is taken at the injection time), injection time, half-life.

Images that already hold SUV (GML, CM2ML, CNTS with (7053,1000)) are converted to the requested
SUV type by the ratio of normalisers: SUV_target = SUV_image x N_target(patient) / N_image(header
patient). With no override and the same type the factor is exactly 1 and no header field is
needed. Overrides of weight/height/sex enter N_target (N_image keeps the header's values, which the
scanner used); overrides of dose, residual, injection time or half-life multiply by
A_ref(header) / A_ref(user), which needs the header's own dose and times.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from dataclasses import dataclass, replace

import numpy as np

from ..errors import InputError
from ..sanity import FRAME_DURATION, PATIENT_HEIGHT, PATIENT_WEIGHT, PET_INJECTED_ACTIVITY, check_range
from ..imaging.volume import Volume
from ..io import dicom_time
from ..io.dicom_series import DicomSeries, read_series
from ..version import __version__
from .suv_normalisers import (
    DICOM_SUV_TYPES,
    NEEDS_HEIGHT,
    NEEDS_SEX,
    NORMALISER_UNIT,
    UNIT_OF_TYPE,
    Patient,
    normaliser,
    parse_suv_type,
)

#: RadionuclideTotalDose values below this are MBq in broken exports (docs/physics.md section 2).
MBQ_DOSE_LIMIT = 1.0e5
#: Activities are given by users in MBq.
BQ_PER_MBQ = 1.0e6
#: Private creators accepted for the vendor tags (a missing creator is accepted with a warning).
PHILIPS_CREATOR = "philips pet private group"
GE_CREATOR = "gems_petd_01"
SIEMENS_CREATOR = "siemens med pt"
#: A vendor's private SUV factor or decay reference that changes the SUV by more than this fraction
#: against the vendor-neutral (QIBA) computation gets a warning (docs/physics.md section 2.13).
VENDOR_DISAGREEMENT_LIMIT = 0.05

SUPPORTED_UNITS = ("BQML", "GML", "CM2ML", "CNTS")
DECAY_CORRECTIONS = ("START", "ADMIN", "NONE")


@dataclass(frozen=True)
class SuvOverrides:
    """Values the user gives; each one beats the header."""

    weight_kg: float | None = None
    height_cm: float | None = None
    sex: str | None = None
    injected_mbq: float | None = None
    residual_mbq: float | None = None
    injection_time: str | _dt.datetime | None = None
    half_life_s: float | None = None
    #: Plausibility checks the user accepts by name (docs/physics.md section 21; sanity.CHECKS).
    accept: frozenset = frozenset()

    def any_timing(self) -> bool:
        return any(v is not None for v in (self.injected_mbq, self.residual_mbq, self.injection_time,
                                           self.half_life_s))

    def to_dict(self) -> dict:
        value = self.injection_time
        return {"weight_kg": self.weight_kg, "height_cm": self.height_cm, "sex": self.sex,
                "injected_mbq": self.injected_mbq, "residual_mbq": self.residual_mbq,
                "injection_time": value.isoformat() if isinstance(value, _dt.datetime) else value,
                "half_life_s": self.half_life_s, "accept": sorted(self.accept)}


@dataclass
class SuvResult:
    """The SUV volume (float32, the PET's grid) and the JSON description of how it was computed."""

    volume: Volume
    info: dict
    series: DicomSeries | None = None

    @property
    def warnings(self) -> list[str]:
        return self.info["warnings"]


@dataclass
class _Timing:
    decay_correction: str
    half_life_s: float | None
    half_life_source: str
    injection: _dt.datetime | None
    injection_source: str
    reference: _dt.datetime | None
    reference_source: str
    injected_bq: float | None
    injected_source: str
    residual_bq: float
    net_bq: float | None
    reference_activity_bq: float | None
    frame_factors: np.ndarray  # per slice, multiplies the image (1 unless DecayCorrection NONE)
    radionuclide: str = ""


# ---- header access ---------------------------------------------------------------------------
def _value(ds, keyword: str):
    value = ds.get(keyword)
    if value is None:
        return None
    if isinstance(value, (str, bytes)) and not dicom_time._text(value):
        return None
    return value


def _float(ds, keyword: str, source, field: str) -> float | None:
    value = _value(ds, keyword)
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"not a number: '{value}'", source, field) from None
    if not math.isfinite(number):  # an infinite weight gave a ratio of 0, a NaN half-life an all-NaN SUV
        raise InputError(f"not a finite number: '{value}'", source, field)
    return number


def _private_value(ds, group: int, element: int, creator: str, warnings: list, source, field: str):
    """A private element, if its block's creator is absent (accepted, warned) or matches ``creator``."""
    elem = ds.get((group, element))
    if elem is None:
        return None
    creator_elem = ds.get((group, (element >> 8) & 0xFF))
    if creator_elem is not None:
        found = dicom_time._text(creator_elem.value).lower()
        if creator.lower() not in found and found.split()[0:1] != creator.lower().split()[0:1]:
            warnings.append(f"{field}: private block belongs to '{found}', not '{creator}': ignored")
            return None
    else:
        note = f"{field}: no private creator for the block; read as the {creator} element"
        if note not in warnings:
            warnings.append(note)
    value = elem.value
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace").strip("\x00 ")
    return value


def _private_float(ds, group, element, creator, warnings, source, field) -> float | None:
    value = _private_value(ds, group, element, creator, warnings, source, field)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return float(value[0] if isinstance(value, (list, tuple)) else value)
    except (TypeError, ValueError):
        raise InputError(f"not a number: '{value}'", source, field) from None


def _same_in_every_slice(series: DicomSeries, keyword: str, field: str) -> str:
    values = [dicom_time._text(ds.get(keyword, "")).upper() for ds in series.datasets]
    first = values[0]
    for value, path in zip(values, series.files):
        if value != first:
            raise InputError(f"slices of one series disagree ('{first}' and '{value}')", path, field)
    return first


def _radiopharmaceutical(ds):
    sequence = ds.get("RadiopharmaceuticalInformationSequence")
    if sequence is None or len(sequence) == 0:
        return None
    return sequence[0]


def _acquisition_datetimes(series: DicomSeries, warnings: list) -> list[_dt.datetime | None]:
    result = []
    series_date = dicom_time.parse_da(series.first.get("SeriesDate"), series.files[0], "SeriesDate (0008,0021)")
    used_series_date = False
    for ds, path in zip(series.datasets, series.files):
        tz = dicom_time._text(ds.get("TimezoneOffsetFromUTC")) or None
        value = dicom_time.parse_dt(ds.get("AcquisitionDateTime"), path, "AcquisitionDateTime (0008,002A)", tz,
                                    warnings)
        if value is None:
            date = dicom_time.parse_da(ds.get("AcquisitionDate"), path, "AcquisitionDate (0008,0022)")
            time = dicom_time.parse_tm(ds.get("AcquisitionTime"), path, "AcquisitionTime (0008,0032)")
            if date is None and time is not None and series_date is not None:
                date, used_series_date = series_date, True
            value = dicom_time.combine(date, time)
        result.append(value)
    if used_series_date:
        warnings.append("AcquisitionDate (0008,0022) missing: the SeriesDate was used with the AcquisitionTime")
    return result


# ---- patient ---------------------------------------------------------------------------------
def _header_patient(ds, source, warnings: list) -> Patient:
    weight = _float(ds, "PatientWeight", source, "PatientWeight (0010,1030)")
    if weight is not None and weight <= 0:
        weight = None
    if weight is not None and weight > 1000.0:  # IBSI SUV manual: weights above 1000 were entered in grams
        warnings.append(f"PatientWeight (0010,1030) is {weight:g}, above 1000: read as grams ({weight / 1000:g} kg)")
        weight = weight / 1000.0
    size_m = _float(ds, "PatientSize", source, "PatientSize (0010,1020)")
    height_cm = None
    if size_m is not None and size_m > 0:
        if size_m > 3.0:  # DICOM says metres; nobody is 3 m tall: the value was written in cm
            warnings.append(f"PatientSize (0010,1020) is {size_m:g}, more than 3 m: read as centimetres")
            height_cm = size_m
        else:
            height_cm = size_m * 100.0
    sex = dicom_time._text(ds.get("PatientSex")).upper() or None
    return Patient(weight, height_cm, sex, "header PatientWeight (0010,1030)", "header PatientSize (0010,1020)",
                   "header PatientSex (0010,0040)")


def _patient_with_overrides(header: Patient, overrides: SuvOverrides, warnings: list) -> Patient:
    patient = header
    if overrides.weight_kg is not None:
        if not overrides.weight_kg > 0:
            raise InputError(f"weight must be positive, got {overrides.weight_kg}", "--weight-kg")
        if header.weight_kg is not None and not math.isclose(header.weight_kg, overrides.weight_kg, rel_tol=1e-9):
            warnings.append(f"weight {overrides.weight_kg:g} kg given by the user replaces the header's "
                            f"PatientWeight {header.weight_kg:g} kg")
        patient = replace(patient, weight_kg=float(overrides.weight_kg), weight_source="user (--weight-kg)")
    if overrides.height_cm is not None:
        if not overrides.height_cm > 0:
            raise InputError(f"height must be positive, got {overrides.height_cm}", "--height-cm")
        if header.height_cm is not None and not math.isclose(header.height_cm, overrides.height_cm, rel_tol=1e-9):
            warnings.append(f"height {overrides.height_cm:g} cm given by the user replaces the header's "
                            f"PatientSize {header.height_cm:g} cm")
        patient = replace(patient, height_cm=float(overrides.height_cm), height_source="user (--height-cm)")
    if overrides.sex is not None:
        sex = str(overrides.sex).strip().upper()
        if sex not in ("M", "F"):
            raise InputError(f"sex must be M or F, got '{overrides.sex}'", "--sex")
        if header.sex and header.sex != sex:
            warnings.append(f"sex {sex} given by the user replaces the header's PatientSex '{header.sex}'")
        patient = replace(patient, sex=sex, sex_source="user (--sex)")
    return patient


def _check_patient_ranges(patient: Patient, suv_type: str, source, accept, warnings: list) -> None:
    """The weight and height the SUV will use must be a patient's (a weight typed in grams, or
    a height in metres given as centimetres, would give a plausible-looking wrong SUV)."""
    if patient.weight_kg is not None:
        check_range(patient.weight_kg, PATIENT_WEIGHT, source,
                    "PatientWeight (0010,1030)" if patient.weight_source.startswith("header") else "--weight-kg",
                    accept, warnings)
    if suv_type in NEEDS_HEIGHT and patient.height_cm is not None:
        check_range(patient.height_cm, PATIENT_HEIGHT, source,
                    "PatientSize (0010,1020)" if patient.height_source.startswith("header") else "--height-cm",
                    accept, warnings)


# ---- timing ----------------------------------------------------------------------------------
def frame_average_time_s(duration_s: float, half_life_s: float) -> float:
    """T_ave: the time after frame start at which the activity equals its frame average
    (DICOM PS3.3 C.8.9.4.1.5): ln(lambda T / (1 - e^(-lambda T))) / lambda."""
    lam = math.log(2.0) / half_life_s
    x = lam * duration_s
    if x < 1e-8:
        return duration_s / 2.0
    return math.log(x / -math.expm1(-x)) / lam


def _half_life(rp, overrides: SuvOverrides, source, warnings: list) -> tuple[float | None, str]:
    header = _float(rp, "RadionuclideHalfLife", source, "RadionuclideHalfLife (0018,1075)") if rp is not None else None
    if overrides.half_life_s is not None:
        if not overrides.half_life_s > 0:
            raise InputError(f"half-life must be positive, got {overrides.half_life_s}", "--half-life-s")
        if header is not None and not math.isclose(header, overrides.half_life_s, rel_tol=1e-9):
            warnings.append(f"half-life {overrides.half_life_s:g} s given by the user replaces the header's "
                            f"RadionuclideHalfLife {header:g} s")
        return float(overrides.half_life_s), "user (--half-life-s)"
    if header is not None and header <= 0:
        raise InputError(f"half-life must be positive, got {header}", source, "RadionuclideHalfLife (0018,1075)")
    return header, "header RadionuclideHalfLife (0018,1075)"


def _scan_start(series: DicomSeries, acquisitions, warnings) -> _dt.datetime | None:
    known = [a for a in acquisitions if a is not None]
    if known:
        return min(known)
    first = series.first
    return dicom_time.combine(
        dicom_time.parse_da(first.get("SeriesDate"), series.files[0], "SeriesDate (0008,0021)"),
        dicom_time.parse_tm(first.get("SeriesTime"), series.files[0], "SeriesTime (0008,0031)"))


def _injection(series: DicomSeries, rp, overrides: SuvOverrides, scan_start, warnings: list):
    """Injection date-time and where it came from."""
    source = series.files[0]
    first = series.first
    series_date = dicom_time.parse_da(first.get("SeriesDate"), source, "SeriesDate (0008,0021)")
    if series_date is None and scan_start is not None:
        series_date = scan_start.date()

    def from_time_of_day(time: _dt.time, what: str, notes: list, field: str):
        if series_date is None:
            raise InputError(f"{what} gives no date and the series has no SeriesDate", source, field)
        value = _dt.datetime.combine(series_date, time)
        if scan_start is not None and value > scan_start:
            value -= _dt.timedelta(days=1)
            notes.append(f"{what} {time.isoformat()} is after the scan start on the series date: the injection "
                            f"was taken on the day before ({value.date().isoformat()}, before midnight)")
        return value

    def from_header(notes: list):
        if rp is None:
            return None, ""
        tz = dicom_time._text(first.get("TimezoneOffsetFromUTC")) or None
        value = dicom_time.parse_dt(rp.get("RadiopharmaceuticalStartDateTime"), source,
                                    "RadiopharmaceuticalStartDateTime (0018,1078)", tz, notes)
        if value is not None:
            return value, "header RadiopharmaceuticalStartDateTime (0018,1078)"
        time = dicom_time.parse_tm(rp.get("RadiopharmaceuticalStartTime"), source,
                                   "RadiopharmaceuticalStartTime (0018,1072)")
        if time is None:
            return None, ""
        notes.append("RadiopharmaceuticalStartDateTime (0018,1078) missing: injection date taken from the "
                     "SeriesDate with RadiopharmaceuticalStartTime (0018,1072)")
        value = from_time_of_day(time, "RadiopharmaceuticalStartTime (0018,1072)", notes,
                                 "RadiopharmaceuticalStartTime (0018,1072)")
        return value, "header RadiopharmaceuticalStartTime (0018,1072) with the SeriesDate"

    if overrides.injection_time is not None:
        try:  # the header value is only compared with the user's: a broken header does not matter here
            header_value, _ = from_header([])
        except InputError:
            header_value = None
        if isinstance(overrides.injection_time, _dt.datetime):
            value, time = overrides.injection_time.replace(tzinfo=None), None
        else:
            value, time = dicom_time.parse_user_time(overrides.injection_time, "--injection-time")
        if value is None:
            value = from_time_of_day(time, "--injection-time", warnings, "--injection-time")
        if header_value is not None and header_value != value:
            warnings.append(f"injection time {value.isoformat()} given by the user replaces the header's "
                            f"{header_value.isoformat()}")
        return value, "user (--injection-time)"
    header_value, header_source = from_header(warnings)
    if header_value is None:
        raise InputError("no injection time: neither RadiopharmaceuticalStartDateTime (0018,1078) nor "
                         "RadiopharmaceuticalStartTime (0018,1072) is in the header; give --injection-time",
                         source, "RadiopharmaceuticalStartDateTime (0018,1078)")
    return header_value, header_source


def _reference_time(series: DicomSeries, acquisitions, half_life_s, warnings: list) -> tuple[_dt.datetime, str]:
    """The time the image is decay-corrected to when DecayCorrection is START."""
    source = series.files[0]
    first = series.first
    series_dt = dicom_time.combine(
        dicom_time.parse_da(first.get("SeriesDate"), source, "SeriesDate (0008,0021)"),
        dicom_time.parse_tm(first.get("SeriesTime"), source, "SeriesTime (0008,0031)"))
    known = [(a, k) for k, a in enumerate(acquisitions) if a is not None]
    earliest, earliest_k = min(known) if known else (None, None)
    if series_dt is not None and (earliest is None or series_dt <= earliest):
        return series_dt, "SeriesDate/SeriesTime (0008,0021)/(0008,0031)"
    if earliest is None:
        raise InputError("no reference time: SeriesDate/SeriesTime and AcquisitionDate/AcquisitionTime are "
                         "missing", source, "SeriesTime (0008,0031)")
    why = ("SeriesDate/SeriesTime missing" if series_dt is None else
           f"SeriesDate/SeriesTime {series_dt.isoformat()} is later than the earliest acquisition "
           f"{earliest.isoformat()} (a post-processed series)")
    tz = dicom_time._text(first.get("TimezoneOffsetFromUTC")) or None
    ge_text = _private_value(first, 0x0009, 0x100D, GE_CREATOR, warnings, source, "GE scan date-time (0009,100D)")
    ge = dicom_time.parse_dt(ge_text, source, "GE scan date-time (0009,100D)", tz, warnings) if ge_text else None
    if ge is not None:
        warnings.append(f"{why}: reference time taken from the GE private scan date-time (0009,100D) {ge.isoformat()}")
        return ge, "GE private scan date-time (0009,100D)"
    ds, path = series.datasets[earliest_k], series.files[earliest_k]
    frame_reference_ms = _float(ds, "FrameReferenceTime", path, "FrameReferenceTime (0054,1300)")
    duration_ms = _float(ds, "ActualFrameDuration", path, "ActualFrameDuration (0018,1242)")
    if frame_reference_ms is None or duration_ms is None or half_life_s is None:
        warnings.append(f"{why}; FrameReferenceTime (0054,1300), ActualFrameDuration (0018,1242) or the half-life "
                        f"missing: reference time taken as the earliest acquisition start {earliest.isoformat()}")
        return earliest, "earliest AcquisitionDate/AcquisitionTime (0008,0022)/(0008,0032)"
    if duration_ms <= 0:
        raise InputError(f"must be positive, got {duration_ms:g} ms", path, "ActualFrameDuration (0018,1242)")
    t_ave_s = frame_average_time_s(duration_ms / 1000.0, half_life_s)
    reference = earliest + _dt.timedelta(seconds=t_ave_s - frame_reference_ms / 1000.0)
    warnings.append(f"{why}: reference time back-computed as AcquisitionTime {earliest.time().isoformat()} + "
                    f"frame-average time {t_ave_s:.3f} s - FrameReferenceTime {frame_reference_ms / 1000.0:g} s "
                    f"= {reference.isoformat()}")
    return reference, "back-computed: earliest AcquisitionDate/Time + frame-average time - FrameReferenceTime"


def _injected_activity(rp, overrides: SuvOverrides, source, warnings: list) -> tuple[float | None, str]:
    header = _float(rp, "RadionuclideTotalDose", source, "RadionuclideTotalDose (0018,1074)") if rp is not None else None
    header_bq = None
    if header is not None and header > 0:
        if header < MBQ_DOSE_LIMIT:
            header_bq = header * BQ_PER_MBQ
            warnings.append(f"RadionuclideTotalDose (0018,1074) is {header:g}, below {MBQ_DOSE_LIMIT:g}: read as MBq "
                            f"({header_bq:.6g} Bq)")
        else:
            header_bq = header
    if overrides.injected_mbq is not None:
        if not overrides.injected_mbq > 0:
            raise InputError(f"injected activity must be positive, got {overrides.injected_mbq} MBq", "--injected-mbq")
        value = overrides.injected_mbq * BQ_PER_MBQ
        if header_bq is not None and not math.isclose(header_bq, value, rel_tol=1e-9):
            warnings.append(f"injected activity {overrides.injected_mbq:g} MBq given by the user replaces the "
                            f"header's RadionuclideTotalDose {header_bq / BQ_PER_MBQ:g} MBq")
        return value, "user (--injected-mbq)"
    return header_bq, "header RadionuclideTotalDose (0018,1074)"


def _timing(series: DicomSeries, overrides: SuvOverrides, warnings: list, what: str) -> _Timing:
    """Everything time- and dose-related, following the header's DecayCorrection."""
    source = series.files[0]
    decay = _same_in_every_slice(series, "DecayCorrection", "DecayCorrection (0054,1102)")
    if not decay:
        raise InputError(f"{what}: DecayCorrection is missing (START, ADMIN or NONE needed)", source,
                         "DecayCorrection (0054,1102)")
    if decay not in DECAY_CORRECTIONS:
        raise InputError(f"unsupported DecayCorrection '{decay}' (supported: {', '.join(DECAY_CORRECTIONS)})",
                         source, "DecayCorrection (0054,1102)")
    corrected = [dicom_time._text(v).upper() for v in (series.first.get("CorrectedImage") or [])]
    if corrected:
        if decay != "NONE" and "DECY" not in corrected:
            warnings.append(f"DecayCorrection is {decay} but CorrectedImage (0028,0051) does not list DECY")
        if "ATTN" not in corrected:
            warnings.append("CorrectedImage (0028,0051) does not list ATTN: the image may not be attenuation "
                            "corrected, and its SUV not quantitative")
    rp = _radiopharmaceutical(series.first)
    radionuclide = ""
    if rp is not None:
        codes = rp.get("RadionuclideCodeSequence")
        if codes:
            radionuclide = dicom_time._text(codes[0].get("CodeMeaning"))
    half_life_s, half_life_source = _half_life(rp, overrides, source, warnings)
    acquisitions = _acquisition_datetimes(series, warnings)
    scan_start = _scan_start(series, acquisitions, warnings)
    injection, injection_source = _injection(series, rp, overrides, scan_start, warnings)
    injected_bq, injected_source = _injected_activity(rp, overrides, source, warnings)
    if injected_bq is None:
        raise InputError("no injected activity: RadionuclideTotalDose is missing or zero; give --injected-mbq",
                         source, "RadionuclideTotalDose (0018,1074)")
    check_range(injected_bq / BQ_PER_MBQ, PET_INJECTED_ACTIVITY, source,
                "RadionuclideTotalDose (0018,1074)" if injected_source.startswith("header") else "--injected-mbq",
                overrides.accept, warnings)
    residual_bq = 0.0
    if overrides.residual_mbq is not None:
        if overrides.residual_mbq < 0:
            raise InputError(f"residual activity must not be negative, got {overrides.residual_mbq} MBq",
                             "--residual-mbq")
        residual_bq = overrides.residual_mbq * BQ_PER_MBQ
        if residual_bq >= injected_bq:
            raise InputError(f"residual activity {overrides.residual_mbq:g} MBq is not less than the injected "
                             f"activity {injected_bq / BQ_PER_MBQ:g} MBq", "--residual-mbq")
        warnings.append(f"net injected activity = injected {injected_bq / BQ_PER_MBQ:g} MBq - residual "
                        f"{overrides.residual_mbq:g} MBq (residual taken at the injection time)")
    net_bq = injected_bq - residual_bq
    if scan_start is not None and injection > scan_start:
        raise InputError(f"the injection ({injection.isoformat()}) is after the scan start ({scan_start.isoformat()})",
                         source, injection_source.replace("header ", ""))
    if scan_start is not None and (scan_start - injection) > _dt.timedelta(hours=24):
        warnings.append(f"the scan starts {(scan_start - injection).total_seconds() / 3600:.1f} h after the injection: "
                        "check the injection date")
    if decay == "ADMIN" and overrides.injection_time is not None:
        # The scanner decay-corrected the image to the header's administration time: replacing that
        # time would need the image re-corrected, which the header does not describe.
        raise InputError("DecayCorrection ADMIN: the image is decay-corrected to the header's injection time; "
                         "an --injection-time override cannot be applied to it", source,
                         "DecayCorrection (0054,1102)")
    frame_factors = np.ones(len(series.datasets))
    if decay == "START":
        if half_life_s is None:
            raise InputError("DecayCorrection START needs the half-life (never assumed): give --half-life-s", source,
                             "RadionuclideHalfLife (0018,1075)")
        reference, reference_source = _reference_time(series, acquisitions, half_life_s, warnings)
        delay_s = (reference - injection).total_seconds()
        if delay_s < 0:
            raise InputError(f"the injection ({injection.isoformat()}) is after the reference time "
                             f"({reference.isoformat()})", source, injection_source.replace("header ", ""))
        reference_activity = net_bq * math.exp(-math.log(2.0) * delay_s / half_life_s)
    elif decay == "ADMIN":
        reference, reference_source = injection, "injection (DecayCorrection ADMIN: the dose is not decayed)"
        reference_activity = net_bq
    else:  # NONE
        if half_life_s is None:
            raise InputError("DecayCorrection NONE needs the half-life to correct each frame: give --half-life-s",
                             source, "RadionuclideHalfLife (0018,1075)")
        lam = math.log(2.0) / half_life_s
        for k, (ds, path, start) in enumerate(zip(series.datasets, series.files, acquisitions)):
            if start is None:
                raise InputError("DecayCorrection NONE needs each slice's acquisition time", path,
                                 "AcquisitionTime (0008,0032)")
            duration_ms = _float(ds, "ActualFrameDuration", path, "ActualFrameDuration (0018,1242)")
            if duration_ms is None or duration_ms <= 0:
                raise InputError("DecayCorrection NONE needs each slice's frame duration", path,
                                 "ActualFrameDuration (0018,1242)")
            check_range(duration_ms / 1000.0, FRAME_DURATION, path, "ActualFrameDuration (0018,1242)",
                        overrides.accept, warnings)
            x = lam * duration_ms / 1000.0
            frame_factors[k] = math.exp(lam * (start - injection).total_seconds()) * x / -math.expm1(-x)
        reference, reference_source = injection, ("injection (DecayCorrection NONE: each slice decay-corrected to the "
                                                  "injection from its own AcquisitionTime and ActualFrameDuration)")
        reference_activity = net_bq
        warnings.append("DecayCorrection NONE: each slice was decay-corrected to the injection time from its own "
                        "AcquisitionDate/Time and ActualFrameDuration (frame-average correction included)")
    return _Timing(decay, half_life_s, half_life_source, injection, injection_source, reference, reference_source,
                   injected_bq, injected_source, residual_bq, net_bq, reference_activity, frame_factors, radionuclide)


# ---- the image's own scale -------------------------------------------------------------------
def _image_kind(series: DicomSeries, warnings: list) -> tuple[str, str | None, np.ndarray, str]:
    """("activity" | "suv", SUV type of the image if already SUV, per-slice scale, description)."""
    source = series.files[0]
    units = _same_in_every_slice(series, "Units", "Units (0054,1001)")
    n = len(series.datasets)
    if not units:
        raise InputError(f"Units missing (supported: {', '.join(SUPPORTED_UNITS)})", source, "Units (0054,1001)")
    if units == "BQML":
        return "activity", None, np.ones(n), "Bq/mL"
    if units == "GML":
        suv_type_text = _same_in_every_slice(series, "SUVType", "SUVType (0054,1006)")
        if not suv_type_text:
            warnings.append("Units GML with SUVType (0054,1006) empty: read as SUVbw")
            return "suv", "bw", np.ones(n), "GML"
        if suv_type_text not in DICOM_SUV_TYPES:
            raise InputError(f"unknown SUVType '{suv_type_text}' (known: {', '.join(DICOM_SUV_TYPES)})", source,
                             "SUVType (0054,1006)")
        image_type = DICOM_SUV_TYPES[suv_type_text]
        if image_type == "bsa":
            raise InputError("Units GML (g/mL) contradicts SUVType BSA (cm2/mL)", source, "SUVType (0054,1006)")
        if suv_type_text == "LBM":
            warnings.append("SUVType LBM read as Morgan's lean body mass (James' formula with 120 for men; "
                            "IBSI SUV manual); LBMJAMES128 is the 128 variant")
        return "suv", image_type, np.ones(n), "GML"
    if units == "CM2ML":
        suv_type_text = _same_in_every_slice(series, "SUVType", "SUVType (0054,1006)")
        if suv_type_text and suv_type_text != "BSA":
            raise InputError(f"Units CM2ML (SUVbsa) contradicts SUVType '{suv_type_text}'", source,
                             "SUVType (0054,1006)")
        return "suv", "bsa", np.ones(n), "CM2ML"
    if units == "CNTS":
        suv_factors = [_private_float(ds, 0x7053, 0x1000, PHILIPS_CREATOR, warnings, path,
                                      "Philips SUV factor (7053,1000)")
                       for ds, path in zip(series.datasets, series.files)]
        if all(f is not None and f > 0 for f in suv_factors):
            warnings.append("Units CNTS: SUVbw = value x Philips SUV factor (7053,1000) of each slice")
            return "suv", "bw", np.array(suv_factors, dtype=float), "CNTS"
        bqml_factors = [_private_float(ds, 0x7053, 0x1009, PHILIPS_CREATOR, warnings, path,
                                       "Philips activity concentration factor (7053,1009)")
                        for ds, path in zip(series.datasets, series.files)]
        if all(f is not None and f > 0 for f in bqml_factors):
            warnings.append("Units CNTS without the Philips SUV factor (7053,1000): Bq/mL = value x Philips activity "
                            "concentration factor (7053,1009) of each slice")
            return "activity", None, np.array(bqml_factors, dtype=float), "CNTS"
        missing = next((p for p, a, b in zip(series.files, suv_factors, bqml_factors) if not a and not b),
                       series.files[0])
        raise InputError("Units CNTS: counts need the Philips SUV factor (7053,1000) or activity concentration factor "
                         "(7053,1009) in every slice (non-Philips counts cannot be converted)", missing,
                         "(7053,1000)/(7053,1009)")
    raise InputError(f"unsupported Units '{units}' (supported: {', '.join(SUPPORTED_UNITS)})", source,
                     "Units (0054,1001)")


# ---- vendor cross-checks (docs/physics.md section 2.13) ----------------------------------------
def _vendor_cross_checks(series: DicomSeries, kind: str, image_unit: str, scale: np.ndarray, warnings: list) -> list:
    """Compare vendors' private SUV factor and decay reference with the vendor-neutral computation
    from the same header (no user overrides: like is compared with like). Returns the records;
    appends a warning for each disagreement above ``VENDOR_DISAGREEMENT_LIMIT``."""
    records = []
    notes: list[str] = []  # creator notes of the private reads; not user warnings here
    philips = [_private_float(ds, 0x7053, 0x1000, PHILIPS_CREATOR, notes, path, "Philips SUV factor (7053,1000)")
               for ds, path in zip(series.datasets, series.files)]
    siemens_text = _private_value(series.first, 0x0071, 0x1022, SIEMENS_CREATOR, notes, series.files[0],
                                  "Siemens decay correction date-time (0071,1022)")
    philips_present = all(f is not None and f > 0 for f in philips)
    if not philips_present and not siemens_text:
        return records
    try:
        timing = _timing(series, SuvOverrides(), [], "vendor cross-check")
        n_bw, _ = normaliser("bw", _header_patient(series.first, series.files[0], []), str(series.files[0]))
    except InputError as exc:
        records.append({"check": "vendor private fields", "result": f"not compared: {exc.message}"})
        return records
    if philips_present:
        if kind == "activity":
            per_value = scale * timing.frame_factors * n_bw / timing.reference_activity_bq
        else:  # CNTS with (7053,1000): compare with (7053,1009) when the scanner wrote both
            bqml = [_private_float(ds, 0x7053, 0x1009, PHILIPS_CREATOR, notes, path,
                                   "Philips activity concentration factor (7053,1009)")
                    for ds, path in zip(series.datasets, series.files)]
            per_value = None
            if all(b is not None and b > 0 for b in bqml):
                per_value = np.array(bqml) * timing.frame_factors * n_bw / timing.reference_activity_bq
        if per_value is not None:
            ratio = np.array(philips, dtype=float) / per_value
            worst = int(np.argmax(np.abs(ratio - 1.0)))
            difference = float(ratio[worst] - 1.0)
            record = {"check": "Philips SUV factor (7053,1000) against the QIBA SUVbw factor",
                      "vendor_factor": float(philips[worst]), "qiba_factor": float(per_value[worst]),
                      "factor_unit": f"g/mL per {image_unit}" if kind == "activity" else "g/mL per CNTS",
                      "difference_percent": 100.0 * difference, "slice": worst + 1,
                      "file": str(series.files[worst])}
            records.append(record)
            if abs(difference) > VENDOR_DISAGREEMENT_LIMIT:
                warnings.append(
                    f"the Philips SUV factor (7053,1000) {philips[worst]:.6g} disagrees with the QIBA SUVbw factor "
                    f"{per_value[worst]:.6g} from the same header by {100 * difference:+.1f} % (slice {worst + 1}, "
                    f"{series.files[worst].name}); the QIBA value is used: check the dose, times and weight")
    if siemens_text and timing.decay_correction == "START" and timing.half_life_s:
        try:
            siemens = dicom_time.parse_dt(siemens_text, series.files[0],
                                          "Siemens decay correction date-time (0071,1022)", None, [])
        except InputError:
            siemens = None
        if siemens is not None and timing.reference is not None:
            delay_s = (siemens - timing.reference).total_seconds()
            difference = math.exp(-math.log(2.0) * delay_s / timing.half_life_s) - 1.0
            records.append({"check": "Siemens decay reference (0071,1022) against the reference time used",
                            "vendor_datetime": siemens.isoformat(), "reference_time": timing.reference.isoformat(),
                            "difference_s": delay_s, "difference_percent": 100.0 * difference})
            if abs(difference) > VENDOR_DISAGREEMENT_LIMIT:
                warnings.append(
                    f"the Siemens decay reference (0071,1022) {siemens.isoformat()} is {delay_s:+.0f} s from the "
                    f"reference time used ({timing.reference.isoformat()}, {timing.reference_source}): the SUV would "
                    f"differ by {100 * difference:+.1f} %; the QIBA reference time is used")
    return records


# ---- the SUV ---------------------------------------------------------------------------------
def _needs(suv_type: str, patient: Patient) -> tuple:
    """The patient measures a normaliser depends on (to decide whether two patients give the same)."""
    values = [patient.weight_kg]
    if suv_type in NEEDS_HEIGHT:
        values.append(patient.height_cm)
    if suv_type in NEEDS_SEX:
        values.append(patient.sex)
    return tuple(values)


def suv_from_series(series: DicomSeries, suv_type: str = "bw", overrides: SuvOverrides | None = None) -> SuvResult:
    """Convert a PET series (as read by :func:`read_series`) to SUV of ``suv_type``."""
    overrides = overrides or SuvOverrides()
    suv_type = parse_suv_type(suv_type)
    warnings: list[str] = list(getattr(series, "warnings", []))  # slice positions, files without file meta
    source = series.files[0]
    first = series.first
    modality = dicom_time._text(first.get("Modality")).upper()
    if modality != "PT":
        raise InputError(f"not a PET series (Modality '{modality}'): SUV needs a PT series", source, "Modality (0008,0060)")
    kind, image_type, scale, image_unit = _image_kind(series, warnings)
    vendor_checks = _vendor_cross_checks(series, kind, image_unit, scale, warnings)
    intercepts = [float(ds.get("RescaleIntercept", 0) or 0) for ds in series.datasets]
    if any(i != 0 for i in intercepts):
        warnings.append(f"RescaleIntercept (0028,1052) is not 0 in {sum(i != 0 for i in intercepts)} slice(s) "
                        "(PET requires 0): applied as given")
    header_patient = _header_patient(first, source, warnings)
    patient = _patient_with_overrides(header_patient, overrides, warnings)
    _check_patient_ranges(patient, suv_type, source, overrides.accept, warnings)
    timing = None
    header_timing = None
    if kind == "activity":
        timing = _timing(series, overrides, warnings, "activity concentration image")
        n_target, n_warnings = normaliser(suv_type, patient, str(source))
        warnings.extend(n_warnings)
        factors = scale * timing.frame_factors * n_target / timing.reference_activity_bq
        factor_unit = f"{UNIT_OF_TYPE[suv_type]} per {image_unit} ({NORMALISER_UNIT[suv_type]}/Bq)"
    else:
        same_patient = _needs(suv_type, patient) == _needs(suv_type, header_patient)
        if image_type == suv_type and same_patient:
            ratio, n_target = 1.0, None
        else:
            n_target, n_warnings = normaliser(suv_type, patient, str(source))
            warnings.extend(n_warnings)
            try:
                n_image, image_warnings = normaliser(image_type, header_patient, str(source))
            except InputError as exc:
                raise InputError(f"the image holds SUV {image_type} ({image_unit}); converting it needs the patient "
                                 f"data the scanner used: {exc.message}", exc.source, exc.field) from None
            warnings.extend(w for w in image_warnings if w not in warnings)
            ratio = n_target / n_image
            warnings.append(f"image already holds SUV {image_type} ({image_unit}): converted to {suv_type} by the "
                            f"normaliser ratio N_{suv_type} / N_{image_type} = {ratio:.6g}")
        if overrides.any_timing():
            # Undo the scanner's activity normalisation and apply the user's: needs the header's own values.
            decay = _same_in_every_slice(series, "DecayCorrection", "DecayCorrection (0054,1102)")
            if decay != "START" and (overrides.injection_time is not None or overrides.half_life_s is not None):
                raise InputError(f"the image holds SUV with DecayCorrection '{decay}': only the injected and residual "
                                 "activity can be replaced, not the injection time or half-life", source,
                                 "DecayCorrection (0054,1102)")
            header_only = SuvOverrides()
            try:
                header_timing = _timing(series, header_only, [], "SUV image")
            except InputError as exc:
                raise InputError(f"the image holds SUV computed by the scanner; replacing its dose or times needs the "
                                 f"header's own values: {exc.message}", exc.source, exc.field) from None
            timing = _timing(series, overrides, warnings, "SUV image")
            ratio *= header_timing.reference_activity_bq / timing.reference_activity_bq
            warnings.append("image already holds SUV: the user's dose/residual/time override applied as the ratio "
                            "A_ref(header) / A_ref(user) = "
                            f"{header_timing.reference_activity_bq / timing.reference_activity_bq:.6g}")
        else:
            warnings.append(f"image already holds SUV ({image_unit}, SUV type {image_type}): injected activity, times "
                            "and half-life were not needed")
        factors = scale * ratio
        factor_unit = f"{UNIT_OF_TYPE[suv_type]} per {image_unit}"
    # Each file slice's own factor, applied before any regularisation of the slice positions.
    suv = series.scaled(factors)
    uniform = bool(np.allclose(factors, factors[0], rtol=1e-12, atol=0.0))
    info = {
        "suv_type": suv_type,
        "suv_unit": UNIT_OF_TYPE[suv_type],
        "suv_factor": float(factors[0]) if uniform else None,
        "suv_factor_unit": factor_unit,
    }
    if not uniform:
        info["suv_factor_per_slice"] = [float(f) for f in factors]
        warnings.append("the SUV factor differs between slices (per-slice factors in suv_factor_per_slice, "
                        "in slice order along the PET's k axis)")
    info.update({
        "units": dicom_time._text(first.get("Units")).upper(),
        "image_suv_type": image_type,
        "decay_correction": (timing.decay_correction if timing else
                             dicom_time._text(first.get("DecayCorrection")).upper() or None),
        "reference_time": dicom_time.iso(timing.reference) if timing else None,
        "reference_time_source": timing.reference_source if timing else None,
        "injection_time": dicom_time.iso(timing.injection) if timing else None,
        "injection_time_source": timing.injection_source if timing else None,
        "uptake_time_s": ((timing.reference - timing.injection).total_seconds()
                          if timing and timing.decay_correction == "START" else None),
        "injected_activity_bq": timing.injected_bq if timing else None,
        "injected_activity_source": timing.injected_source if timing else None,
        "residual_activity_bq": timing.residual_bq if timing else None,
        "net_injected_activity_bq": timing.net_bq if timing else None,
        "reference_activity_bq": timing.reference_activity_bq if timing else None,
        "half_life_s": timing.half_life_s if timing else None,
        "half_life_source": timing.half_life_source if timing and timing.half_life_s is not None else None,
        "radionuclide": timing.radionuclide if timing else None,
        "normaliser": n_target,
        "normaliser_unit": NORMALISER_UNIT[suv_type],
        "patient": {
            "weight_kg": patient.weight_kg, "weight_source": patient.weight_source if patient.weight_kg else None,
            "height_cm": patient.height_cm, "height_source": patient.height_source if patient.height_cm else None,
            "sex": patient.sex, "sex_source": patient.sex_source if patient.sex else None,
        },
        "overrides": overrides.to_dict(),
        "series_instance_uid": series.volume.metadata.get("series_instance_uid"),
        "modality": modality,
        "manufacturer": dicom_time._text(first.get("Manufacturer")) or None,
        "source_folder": series.volume.metadata.get("source_folder"),
        "number_of_slices": len(series.datasets),
        "pixel_decoders": series.volume.metadata.get("pixel_decoders"),
        "vendor_cross_checks": vendor_checks,
        "slice_positions": series.volume.metadata.get("slice_positions"),
        "software_version": __version__,
        "warnings": warnings,
    })
    metadata = dict(series.volume.metadata)
    metadata.update({"suv_type": suv_type, "suv_factor": info["suv_factor"]})
    volume = Volume(suv, series.volume.grid, UNIT_OF_TYPE[suv_type], metadata)
    return SuvResult(volume, info, series)


def suv_from_folder(folder: str | os.PathLike, suv_type: str = "bw", overrides: SuvOverrides | None = None,
                    series_uid: str | None = None) -> SuvResult:
    """Read the PET series in ``folder`` (one PT series, or the one named by ``series_uid``) as SUV."""
    series = read_series(folder, series_uid=series_uid, modalities=("PT",))
    return suv_from_series(series, suv_type, overrides)
