"""The ``followup`` section of the study manifest (docs/manifest.md, "Follow-up"): the baseline
scan and its segmentation, the visits (date, modality, series, and the user's segmentation or a
request to carry the baseline VOIs over by registration), new lesions and non-target assessments
entered by the user, clinical events, the last contact, and where the lesions' doses come from.

The field specifications use :func:`iahepaticprrt.study.manifest._check` (the same kinds); the
rules between fields (order of dates, one source per visit) are checked by
:func:`check_followup`, naming the field at fault.
"""

from __future__ import annotations

from datetime import datetime

from ..errors import InputError
from ..followup.recist import NON_TARGET_VALUES

MODALITIES = ("MR", "CT")
REGISTRATIONS = ("rigid", "affine", "bspline")
EVENT_KINDS = ("clinical_progression", "death")


def _names(value, where: str, base, source):
    """A non-empty list of distinct non-empty strings (segment or lesion names)."""
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InputError("expected a list of names", source, where)
    if len({v.strip() for v in value}) != len(value):
        raise InputError("a name is listed twice", source, where)
    return [v.strip() for v in value]


def _doses(value, where: str, base, source):
    """{"lesion name": absorbed dose in Gy, ...}."""
    from .manifest import _check

    if not isinstance(value, dict) or not value:
        raise InputError('expected an object {"lesion name": absorbed dose in Gy, ...}', source, where)
    return {name: _check(dose, "nonnegative", f"{where}.{name}", base, source) for name, dose in value.items()}


_LESION = {"organ": ("str", False), "nodal": ("bool", False)}


def _lesions(value, where: str, base, source):
    """{"lesion name": {"organ": ..., "nodal": ...}, ...}."""
    from .manifest import _check

    if not isinstance(value, dict) or not value:
        raise InputError('expected an object {"lesion name": {"organ": "liver", "nodal": false}, ...}', source, where)
    return {name: _check(spec, _LESION, f"{where}.{name}", base, source) for name, spec in value.items()}


_CARRY_OVER = {"registration": (REGISTRATIONS, False), "margin_mm": ("positive", False)}
_SCAN = {
    "date": ("datetime", True), "modality": (MODALITIES, True), "series": ("path", True), "series_uid": ("str", False),
    "segmentation": ("path", True), "labels": ("path", False),
}
_VISIT = {
    "name": ("str", True), "date": ("datetime", True), "modality": (MODALITIES, True), "series": ("path", True),
    "series_uid": ("str", False), "segmentation": ("path", False), "labels": ("path", False),
    "carry_over": (_CARRY_OVER, False), "new_lesions": (_names, False), "non_target": (NON_TARGET_VALUES, False),
}
_EVENT = {"type": (EVENT_KINDS, True), "date": ("datetime", True)}


def _visits(value, where: str, base, source):
    """The visits, possibly none (a patient whose clinical progression or death came before the
    first scan)."""
    from .manifest import _check

    if not isinstance(value, list):
        raise InputError("expected a list of visits (may be empty)", source, where)
    return [_check(item, _VISIT, f"{where}[{i}]", base, source) for i, item in enumerate(value)]


FOLLOWUP = {
    "start_date": ("datetime", False), "baseline": (_SCAN, True), "visits": (_visits, True),
    "lesions": (_lesions, False), "targets": (_names, False), "events": ([_EVENT], False),
    "last_contact": ("datetime", False), "lesion_doses_gy": (_doses, False), "dosimetry_results": ("path", False),
    "confirmation_required": ("bool", False), "sd_minimum_days": ("nonnegative", False),
}


def date_of(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=None)


def check_followup(data: dict, source) -> None:
    """Rules between the follow-up fields of a validated manifest ``data`` (dates in order, one
    source of VOIs per visit, one source of doses)."""
    spec = data["followup"]
    start_text = spec.get("start_date") or (data.get("dosimetry") or {}).get("administration_time")
    if not start_text:
        raise InputError("the start of the intra-arterial cycle is needed for PFS: give followup.start_date (or "
                         "dosimetry.administration_time)", source, "followup.start_date")
    start = date_of(start_text)
    baseline = date_of(spec["baseline"]["date"])
    if baseline > start:
        raise InputError(f"the baseline scan ({spec['baseline']['date']}) is after the start of the cycle "
                         f"({start_text})", source, "followup.baseline.date")
    names = set()
    previous = start
    for n, visit in enumerate(spec["visits"]):
        where = f"followup.visits[{n}]"
        if visit["name"] in names or visit["name"].lower() == "baseline":
            raise InputError(f"visit name '{visit['name']}' is used twice (or is 'baseline')", source, f"{where}.name")
        names.add(visit["name"])
        date = date_of(visit["date"])
        if date <= previous:
            raise InputError(f"visit date {visit['date']} is not after the start of the cycle and the previous visit "
                             "(visits in chronological order)", source, f"{where}.date")
        previous = date
        if "segmentation" not in visit and "carry_over" not in visit:
            raise InputError("give the visit's segmentation, or carry_over to carry the baseline VOIs by registration",
                             source, f"{where}.segmentation")
        if "labels" in visit and "segmentation" not in visit:
            raise InputError("labels without a segmentation", source, f"{where}.labels")
    for n, event in enumerate(spec.get("events", [])):
        if date_of(event["date"]) < start:
            raise InputError(f"event date {event['date']} is before the start of the cycle", source,
                             f"followup.events[{n}].date")
    deaths = [e for e in spec.get("events", []) if e["type"] == "death"]
    if len(deaths) > 1:
        raise InputError("more than one death", source, "followup.events")
    if "last_contact" in spec:
        last = date_of(spec["last_contact"])
        if last < previous:
            raise InputError(f"the last contact ({spec['last_contact']}) is before the last visit", source,
                             "followup.last_contact")
        for n, event in enumerate(spec.get("events", [])):
            if date_of(event["date"]) > last:
                raise InputError(f"event date {event['date']} is after the last contact", source,
                                 f"followup.events[{n}].date")
        if deaths and date_of(deaths[0]["date"]) != last:
            raise InputError("the last contact of a patient who died is the date of death", source,
                             "followup.last_contact")
    sources = [key for key in ("lesion_doses_gy", "dosimetry_results") if key in spec]
    if len(sources) > 1 or (sources and "dosimetry" in data):
        given = sources + (["dosimetry"] if "dosimetry" in data else [])
        raise InputError(f"the lesions' absorbed doses are given twice ({', '.join(given)}): one quantity, one "
                         "number; keep one", source, f"followup.{sources[0]}")
