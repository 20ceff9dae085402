"""Physical sanity checks shared by every domain: a value that cannot be is an error, a value outside
the range a trial site can produce is an error too unless the user accepts it by name.

Each plausible range is a named check (``patient-weight``, ``injected-activity``, ...). When a real
site legitimately trips one (a 310 kg patient, a reduced activity), the user reruns with
``--accept NAME`` (or ``"accept": ["NAME"]`` in the manifest); the value is then used and the
acceptance is written into the results' warnings. The ranges and their reasons are in
docs/physics.md section 21.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

from .errors import InputError


@dataclass(frozen=True)
class PlausibleRange:
    """The range of a quantity that a trial site can produce (limits included)."""

    check: str      # the name a user gives to --accept
    quantity: str   # what it is, for messages
    unit: str
    low: float
    high: float


PATIENT_WEIGHT = PlausibleRange("patient-weight", "patient weight", "kg", 20.0, 300.0)
PATIENT_HEIGHT = PlausibleRange("patient-height", "patient height", "cm", 100.0, 230.0)
PET_INJECTED_ACTIVITY = PlausibleRange("injected-activity", "injected PET activity", "MBq", 10.0, 2000.0)
LU177_ADMINISTERED_ACTIVITY = PlausibleRange("administered-activity", "administered 177Lu activity", "MBq",
                                             500.0, 15000.0)
FRAME_DURATION = PlausibleRange("frame-duration", "frame duration", "s", 1.0, 7200.0)
SPECT_ACQUISITION_DURATION = PlausibleRange("frame-duration", "SPECT acquisition duration", "s", 60.0, 7200.0)

#: Named checks that are not ranges: a radionuclide that is not the one the analysis is for, an
#: activity balance beyond its margin, patient identities that differ between series.
OTHER_CHECKS = {
    "radionuclide": "the radionuclide named in a header is not the one the analysis is for",
    "activity-balance": "more activity in a SPECT or a VOI than was administered",
    "patient-identity": "series whose patient ID, name, birth date or sex differ (de-identified data)",
    "scan-order": "the intravenous PET is not after the intra-arterial one",
}
CHECKS = {r.check: r.quantity for r in (PATIENT_WEIGHT, PATIENT_HEIGHT, PET_INJECTED_ACTIVITY,
                                        LU177_ADMINISTERED_ACTIVITY, FRAME_DURATION)} | OTHER_CHECKS


def accepted_checks(names, option: str = "--accept") -> frozenset[str]:
    """The user's accepted check names, every one known (a misspelt name would silently accept nothing)."""
    names = frozenset(str(n).strip() for n in (names or ()))
    unknown = sorted(names - set(CHECKS))
    if unknown:
        raise InputError(f"unknown check(s) {', '.join(unknown)}; known: {', '.join(sorted(CHECKS))}", option)
    return names


def finite(value, source, field: str, positive: bool = True) -> float:
    """``value`` as a float, refused when not a finite number (or not positive): impossible values."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"not a number: '{value}'", source, field) from None
    if not math.isfinite(number):
        raise InputError(f"not a finite number: {value}", source, field)
    if positive and number <= 0:
        raise InputError(f"must be positive, got {number:g}", source, field)
    return number


def refuse_or_accept(check: str, message: str, source, field: str | None, accept: Collection[str],
                     warnings: list) -> None:
    """Stop with ``message``, or, when the user accepted ``check``, record it as a warning."""
    if check in accept:
        warnings.append(f"accepted by the user (--accept {check}): {message}")
        return
    raise InputError(f"{message}; if it is right, rerun with --accept {check}", source, field)


def check_range(value: float, plausible: PlausibleRange, source, field: str | None, accept: Collection[str],
                warnings: list) -> float:
    """``value`` (already finite) within its plausible range, or refused/accepted by name."""
    if not plausible.low <= value <= plausible.high:
        refuse_or_accept(plausible.check, f"{plausible.quantity} {value:g} {plausible.unit} is outside the plausible "
                         f"{plausible.low:g} to {plausible.high:g} {plausible.unit}", source, field, accept, warnings)
    return value
