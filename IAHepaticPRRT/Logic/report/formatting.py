"""How the reports write numbers, activities, names, dates and paths for a reader.

- Numbers: three significant digits, never an exponent (15797.4 MBq h reads "15800", 0.004345 /h
  reads "0.00435"); a missing value is a dash, never 0.
- Activities in MBq below 1 GBq, in GBq above (7400 MBq reads "7.40 GBq").
- DICOM person names (PS3.5 6.2, ``Family^Given^Middle^Prefix^Suffix``) as "Family, Given Middle";
  radionuclide code meanings (``^68^Gallium``) as "Ga-68".
- Dates as dates ("2025-03-24 10:30"); in a de-identified report as days relative to the
  intra-arterial 68Ga PET ("day 21, 10:30"), since a calendar date identifies a patient
  (HIPAA Safe Harbor, 45 CFR 164.514(b)(2)(i)(C)).
- Paths relative to the study folder (the manifest's folder); a de-identified report shows no
  absolute path, no DICOM UID and no calendar date, even inside a warning's free text.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from dataclasses import dataclass
from html import escape
from pathlib import PurePath

DASH = "&ndash;"

#: An absolute POSIX or Windows path inside free text (up to the next blank, quote or separator).
_ABSOLUTE_PATH = re.compile(r"(?<![\w.])(?:[A-Za-z]:[\\/]|/)(?:[^\s'\"();,]+)")
#: A DICOM UID (PS3.5 9.1): at least four dot-separated numeric components.
_UID = re.compile(r"\b\d+(?:\.\d+){3,}\b")
#: ISO dates (2025-03-24, 2025-03-24T10:30:00, 2025-03-24 10:30) and DICOM DA values (20250324).
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::\d{2}(?:\.\d+)?)?)?\b")
_DICOM_DATE = re.compile(r"\b((?:19|20)\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\b")


def significant(value, digits: int = 3, unit: str = "") -> str:
    """``value`` to ``digits`` significant digits in plain decimal notation, with its unit."""
    if value is None or isinstance(value, str):
        return escape(value) if isinstance(value, str) else DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    value = float(value)
    if not math.isfinite(value):
        return DASH
    if value == 0.0:
        text = "0"
    else:
        places = digits - 1 - math.floor(math.log10(abs(value)))  # negative: round to tens, hundreds, ...
        rounded = round(value, places)
        if rounded != 0.0 and math.floor(math.log10(abs(rounded))) != math.floor(math.log10(abs(value))):
            places -= 1  # 9.996 rounds to 10.0: one place fewer keeps three digits
            rounded = round(value, places)
        text = f"{rounded:.{max(places, 0)}f}"
        if text.startswith("-") and float(text) == 0.0:
            text = text[1:]
    return f"{text} {unit}" if unit else text


def activity(mbq, digits: int = 3) -> str:
    """An activity in MBq, or in GBq from 1000 MBq: decided on the rounded value, so 999.9 MBq is
    "1.00 GBq", never "1000 MBq"."""
    if mbq is None or isinstance(mbq, bool) or not isinstance(mbq, (int, float)) or not math.isfinite(mbq):
        return DASH
    in_mbq = significant(mbq, digits)
    return significant(mbq / 1000.0, digits, "GBq") if abs(float(in_mbq)) >= 1000.0 else f"{in_mbq} MBq"


def person_name(value) -> str:
    """A DICOM PN as "Family, Given Middle" (the first, alphabetic, component group)."""
    if not value:
        return ""
    parts = [p.strip() for p in str(value).split("=")[0].split("^")]
    family, rest = (parts[0] if parts else ""), " ".join(p for p in parts[1:3] if p)
    if family and rest:
        return f"{family}, {rest}"
    return family or rest


def radionuclide(value) -> str:
    """"^68^Gallium", "Gallium^68" or "68Ga" as "Ga-68"; an unknown text as it is."""
    from ..io.radionuclides import from_code_meaning

    if not value:
        return ""
    return from_code_meaning(str(value)) or str(value)


def parse_datetime(value) -> dt.datetime | None:
    """An ISO 8601 or DICOM (DA, DT) date-time, or None when it is not one."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if not value:
        return None
    text = str(value).strip()
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "")).replace(tzinfo=None)
    except ValueError:
        pass
    for pattern in ("%Y%m%d%H%M%S", "%Y%m%d"):
        try:
            return dt.datetime.strptime(text.split(".")[0][:14 if "%H" in pattern else 8], pattern)
        except ValueError:
            continue
    return None


@dataclass
class Presentation:
    """How one report shows dates, paths and free text.

    ``day_zero``: the date days are counted from in a de-identified report (the intra-arterial 68Ga
    PET, else the 177Lu administration); ``study_folder``: the folder paths are shown relative to."""

    deidentify: bool = False
    day_zero: dt.datetime | None = None
    study_folder: str | None = None
    day_zero_label: str = "the intra-arterial 68Ga PET"

    # ---- dates ---------------------------------------------------------------------------------
    def when(self, value, with_time: bool = True) -> str:
        """A date-time as "2025-03-24 10:30", or "day 21, 10:30" when de-identified."""
        moment = parse_datetime(value)
        if moment is None:
            return DASH if not value else ("date withheld" if self.deidentify else escape(str(value)))
        clock = moment.strftime("%H:%M") if with_time else ""
        if self.deidentify:
            if self.day_zero is None:
                return f"time {clock}" if clock else "date withheld"
            days = (moment.date() - self.day_zero.date()).days
            return f"day {days:+d}" + (f", {clock}" if clock else "")
        return moment.strftime("%Y-%m-%d") + (f" {clock}" if clock else "")

    # ---- paths ---------------------------------------------------------------------------------
    def _roots(self) -> list[str]:
        if not self.study_folder:
            return []
        roots = {os.path.abspath(self.study_folder), os.path.realpath(self.study_folder)}
        return sorted(roots, key=len, reverse=True)

    def path(self, value) -> str:
        """A path relative to the study folder; outside it, its last component when de-identified."""
        if value is None or value == "":
            return DASH
        text = str(value)
        for root in self._roots():
            if text == root:
                return "."
            if text.startswith(root + os.sep):
                return escape(text[len(root) + 1:])
        if self.deidentify and (os.path.isabs(text) or re.match(r"[A-Za-z]:[\\/]", text)):
            return escape(PurePath(text).name)
        return escape(text)

    def text(self, value) -> str:
        """Free text (a warning) with its paths relative to the study folder; de-identified, without
        absolute paths, UIDs or calendar dates. Returns escaped HTML."""
        text = str(value)
        for root in self._roots():
            text = text.replace(root + os.sep, "")
        if self.deidentify:
            text = _ABSOLUTE_PATH.sub(lambda m: PurePath(m.group(0).rstrip(".:")).name
                                      + m.group(0)[len(m.group(0).rstrip(".:")):], text)
            text = _UID.sub("[UID]", text)
            text = _ISO_DATE.sub(lambda m: self.when(m.group(0), with_time=m.group(4) is not None), text)
            text = _DICOM_DATE.sub(lambda m: self.when(f"{m.group(1)}-{m.group(2)}-{m.group(3)}", with_time=False),
                                   text)
        return escape(text)


def merged_warnings(warnings) -> list[tuple[str, int]]:
    """Each distinct warning once, in first-seen order, with how many times it was raised."""
    counts: dict[str, int] = {}
    for warning in warnings or []:
        key = " ".join(str(warning).split())
        counts[key] = counts.get(key, 0) + 1
    return list(counts.items())
