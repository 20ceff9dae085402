"""Dates and times from DICOM headers (DA, TM, DT) and from users, as naive local datetimes.

DICOM DA/TM carry no time zone; a DT may carry an offset (``+0100``). Everything is compared as
local clock time: an offset-aware DT is converted to the dataset's TimezoneOffsetFromUTC
(0008,0201) when present, and its offset is dropped otherwise (with a warning from the caller).
"""

from __future__ import annotations

import datetime as _dt
import re

from ..errors import InputError


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    return str(value).strip().strip("\x00").strip()


def parse_da(value, source=None, field: str | None = None) -> _dt.date | None:
    """A DICOM DA (``YYYYMMDD``; the old ``YYYY.MM.DD`` is accepted). Empty gives None."""
    text = _text(value).replace(".", "").replace("-", "")
    if not text:
        return None
    try:
        return _dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise InputError(f"not a valid DICOM date: '{text}'", source, field) from None


def parse_tm(value, source=None, field: str | None = None) -> _dt.time | None:
    """A DICOM TM (``HH[MM[SS[.FFFFFF]]]``; the old ``HH:MM:SS`` is accepted). Empty gives None."""
    text = _text(value).replace(":", "")
    if not text:
        return None
    match = re.fullmatch(r"(\d{2})(\d{2})?(\d{2})?(?:\.(\d{1,6}))?", text)
    if not match:
        raise InputError(f"not a valid DICOM time: '{text}'", source, field)
    hours, minutes, seconds, fraction = match.groups()
    hours, minutes, seconds = int(hours), int(minutes or 0), int(seconds or 0)
    if seconds == 60:  # leap second allowed by DICOM
        seconds = 59
    microseconds = int((fraction or "").ljust(6, "0")) if fraction else 0
    try:
        return _dt.time(hours, minutes, seconds, microseconds)
    except ValueError:
        raise InputError(f"not a valid DICOM time: '{text}'", source, field) from None


def parse_dt(value, source=None, field: str | None = None, tz_offset: str | None = None,
             warnings: list | None = None) -> _dt.datetime | None:
    """A DICOM DT (``YYYYMMDDHHMMSS.FFFFFF&ZZXX``, components after the year optional).

    With an offset, the result is converted to ``tz_offset`` (``+HHMM``, the dataset's
    TimezoneOffsetFromUTC) when given, and the offset is dropped otherwise. Empty gives None.
    """
    text = _text(value)
    if not text:
        return None
    match = re.fullmatch(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?([+-]\d{4})?", text)
    if not match:
        raise InputError(f"not a valid DICOM date-time: '{text}'", source, field)
    year, month, day, hours, minutes, seconds, fraction, offset = match.groups()
    try:
        result = _dt.datetime(int(year), int(month or 1), int(day or 1), int(hours or 0), int(minutes or 0),
                              min(int(seconds or 0), 59), int((fraction or "0").ljust(6, "0")))
    except ValueError:
        raise InputError(f"not a valid DICOM date-time: '{text}'", source, field) from None
    if offset:
        own = _offset(offset)
        target = _offset(tz_offset) if tz_offset else None
        if target is not None:
            result = result - own + target
        elif warnings is not None:
            warnings.append(f"{field or 'date-time'} '{text}' carries a UTC offset and the series has no "
                            "TimezoneOffsetFromUTC (0008,0201): read as local time")
    return result


def _offset(text: str) -> _dt.timedelta:
    text = _text(text)
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    return sign * _dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))


def combine(date: _dt.date | None, time: _dt.time | None) -> _dt.datetime | None:
    if date is None or time is None:
        return None
    return _dt.datetime.combine(date, time)


def parse_user_time(text: str, option: str) -> tuple[_dt.datetime | None, _dt.time | None]:
    """A user's date-time (ISO 8601 ``2025-01-01T10:00[:00]`` or DICOM ``20250101100000``) or a
    time of day alone (``10:00[:00]``). Returns (datetime, None) or (None, time)."""
    text = str(text).strip()
    try:
        value = _dt.datetime.fromisoformat(text)
        return value.replace(tzinfo=None), None
    except ValueError:
        pass
    if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?", text):
        hours, rest = text.split(":", 1)
        try:
            return None, _dt.time.fromisoformat(f"{int(hours):02d}:{rest}")
        except ValueError:
            pass
    if re.fullmatch(r"\d{8,14}(\.\d+)?", text):
        return parse_dt(text, option, "date-time"), None
    raise InputError(f"cannot read '{text}' as a date-time (use 2025-01-31T10:05:00 or 10:05:00)", option)


def iso(value: _dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()
