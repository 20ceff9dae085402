"""Is every series of a study the same patient's? PatientID, PatientName, PatientBirthDate and
PatientSex (DICOM PS3.3 C.7.1.1) compared across series.

A field empty in either series is not compared (de-identification often blanks them). Different
values stop the run: an intravenous PET or a SPECT time point of another patient would otherwise give
a plausible ratio or dose. De-identified data whose pseudonyms differ between series are accepted by
name (``--accept patient-identity``), with a warning.
"""

from __future__ import annotations

from collections.abc import Collection

from ..sanity import refuse_or_accept

FIELDS = (("PatientID", "PatientID (0010,0020)"), ("PatientName", "PatientName (0010,0010)"),
          ("PatientBirthDate", "PatientBirthDate (0010,0030)"), ("PatientSex", "PatientSex (0010,0040)"))


def _normalise(keyword: str, value) -> str:
    text = str(value or "").strip()
    if keyword == "PatientName":  # DICOM PN: components separated by ^, trailing empty ones optional
        text = "^".join(part.strip() for part in text.split("^")).rstrip("^")
    return text.upper()


def patient_identity(ds) -> dict[str, str]:
    """The identifying fields of a dataset, normalised for comparison (not for display)."""
    return {keyword: _normalise(keyword, ds.get(keyword)) for keyword, _ in FIELDS}


def check_same_patient(identities: list[tuple[str, dict]], accept: Collection[str], warnings: list) -> None:
    """``identities``: (source, identity) per series, the first being the reference."""
    if len(identities) < 2:
        return
    reference_source, reference = identities[0]
    for source, identity in identities[1:]:
        for keyword, field in FIELDS:
            a, b = reference.get(keyword, ""), identity.get(keyword, "")
            if a and b and a != b:
                refuse_or_accept("patient-identity", f"{field} differs from that of {reference_source}: another "
                                 "patient's series?", source, field, accept, warnings)
                break
