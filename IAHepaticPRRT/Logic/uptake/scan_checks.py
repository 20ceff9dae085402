"""Checks that the two PET scans of the comparison are what the trial says they are, before any ratio:
both 68Ga, one patient, two different series, the intra-arterial (day 0) before the intravenous
(day 3). An IV PET of another patient, an 18F series, IA and IV swapped or the same series given
twice each gave a plausible ratio without a word.
"""

from __future__ import annotations

import datetime as _dt

from ..errors import InputError
from ..imaging.voi_placement import hot_voi_offsets_mm, placement_warning
from ..io import dicom_time
from ..io.patient_identity import check_same_patient, patient_identity
from ..io.radionuclides import check_radionuclide
from ..sanity import refuse_or_accept
from .suv import SuvResult

RADIONUCLIDE = "Ga-68"


def _scan_datetime(result: SuvResult) -> _dt.datetime | None:
    """The scan's earliest acquisition start (else its series date-time), as the header states it."""
    starts = []
    for ds in result.series.datasets:
        start = dicom_time.combine(dicom_time.parse_da(ds.get("AcquisitionDate") or ds.get("SeriesDate")),
                                   dicom_time.parse_tm(ds.get("AcquisitionTime") or ds.get("SeriesTime")))
        if start is not None:
            starts.append(start)
    return min(starts) if starts else None


def check_scans(suv: dict[str, SuvResult], warnings: list) -> dict:
    """Refuse (or, where the user accepted it by name, warn about) a pair of PET scans that cannot be
    this trial's IA and IV scans of one patient. Returns what was checked, for the provenance."""
    accept = set()
    for route, result in suv.items():
        accept |= set(result.info.get("overrides", {}).get("accept") or ())
        # A value the user accepted while the SUV was computed belongs with the comparison's warnings.
        warnings.extend(f"{route}: {w}" for w in result.warnings if w.startswith("accepted by the user"))
    checked = {}
    scans = [(route, result) for route, result in suv.items() if result.series is not None]
    for route, result in scans:
        source = result.series.files[0]
        checked[route] = {"radionuclide": check_radionuclide(result.series.first, RADIONUCLIDE, source, accept,
                                                             warnings)}
    if len(scans) == 2:
        (_, a), (_, b) = scans
        uid_a, uid_b = (r.series.volume.metadata.get("series_instance_uid") for r in (a, b))
        if uid_a and uid_a == uid_b:
            raise InputError("the intra-arterial and intravenous PET are the same series (SeriesInstanceUID "
                             f"{uid_a}): give each scan its own series", b.series.files[0], "SeriesInstanceUID")
        check_same_patient([(str(r.series.files[0]), patient_identity(r.series.first)) for _, r in scans], accept,
                           warnings)
    if "ia" in suv and "iv" in suv and suv["ia"].series is not None and suv["iv"].series is not None:
        ia, iv = _scan_datetime(suv["ia"]), _scan_datetime(suv["iv"])
        if ia is not None and iv is not None:
            checked["days_from_ia_to_iv"] = round((iv - ia).total_seconds() / 86400.0, 2)
            if iv <= ia:
                refuse_or_accept("scan-order", f"the intravenous PET ({iv.isoformat()}) is not after the intra-arterial "
                                 f"one ({ia.isoformat()}): scans swapped?", suv["iv"].series.files[0],
                                 "AcquisitionDate/AcquisitionTime (0008,0022)/(0008,0032)", accept, warnings)
    return checked


def check_voi_placement(suv: dict[str, SuvResult], segmentations: dict, warnings: list) -> dict:
    """A named warning when a scan's hot VOIs sit off its uptake (the other scan's segmentation?);
    returns each scan's offsets (mm) for the provenance."""
    offsets = {}
    for route, result in suv.items():
        segmentation = segmentations.get(route)
        if segmentation is None:
            continue
        offsets[route] = hot_voi_offsets_mm(result.volume.array, result.volume.grid, segmentation)
        warning = placement_warning(offsets[route], f"the {route.upper()} PET", segmentation.source or
                                    f"the {route.upper()} segmentation")
        if warning:
            warnings.append(f"{route}: {warning}")
    return offsets
