"""Progression-free survival: one patient's PFS time from dates, and a cohort's Kaplan-Meier
estimate (scipy.stats.ecdf on censored data) with its 95 % band, median and rate at 18 months.
docs/physics.md section 31.
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np

#: Days per month (365.25 / 12): PFS in months = days / 30.4375.
DAYS_PER_MONTH = 365.25 / 12.0
#: The trial's landmark: the PFS rate at 18 months.
LANDMARK_MONTHS = 18.0
#: Pointwise confidence band of the Kaplan-Meier curve: scipy's "log-log" (exponential Greenwood).
BAND_METHOD = "log-log"

EVENT_TYPES = ("recist_progression", "clinical_progression", "death")


def months_between(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 86400.0 / DAYS_PER_MONTH


def patient_pfs(start: datetime, progression_date: datetime | None, events: list[tuple[str, datetime]],
                last_contact: datetime) -> dict:
    """PFS of one patient from the start of the intra-arterial cycle: the earliest of the RECIST
    progression (the date of the scan showing it), clinical progression and death is the event;
    without one the time is censored at the last contact."""
    candidates = [(date, kind) for kind, date in events]
    if progression_date is not None:
        candidates.append((progression_date, "recist_progression"))
    candidates.sort(key=lambda item: (item[0], EVENT_TYPES.index(item[1])))
    if candidates:
        date, kind = candidates[0]
        event = True
    else:
        date, kind, event = last_contact, None, False
    progressed = any(k in ("recist_progression", "clinical_progression") for _, k in candidates)
    return {
        "pfs_months": months_between(start, date), "pfs_days": (date - start).total_seconds() / 86400.0,
        "pfs_event": event, "pfs_event_type": kind, "pfs_date": date.isoformat(timespec="seconds"),
        "progressed": progressed, "died": any(k == "death" for _, k in candidates),
        "censored_at_last_contact": not event,
    }


def _value(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def kaplan_meier(times_months, events, confidence: float = 0.95, landmark_months: float = LANDMARK_MONTHS) -> dict:
    """Kaplan-Meier estimate of PFS (``scipy.stats.ecdf`` on ``scipy.stats.CensoredData``) with its
    pointwise confidence band (``BAND_METHOD``), the median PFS and its interval (the times where
    the band's lower and upper limits first reach 0.5, Brookmeyer and Crowley 1982) and the PFS
    rate at ``landmark_months`` with its interval (None when the last observation is earlier)."""
    from scipy import stats

    times = np.asarray(times_months, dtype=float)
    events = np.asarray(events, dtype=bool)
    n = int(times.size)
    result = {"n": n, "events": int(events.sum()), "censored": int((~events).sum()), "confidence": confidence,
              "band_method": BAND_METHOD, "table": [], "median_months": None, "median_ci_months": [None, None],
              "landmark_months": landmark_months, "landmark_rate": None, "landmark_ci": [None, None],
              "estimator": "scipy.stats.ecdf(CensoredData).sf"}
    if n == 0:
        return result
    if not events.any():
        result["table"] = [{"time_months": float(t), "at_risk": int((times >= t).sum()), "events": 0,
                            "censored": int(((times == t) & ~events).sum()), "survival": 1.0, "ci_low": None,
                            "ci_high": None} for t in np.unique(times)]
        if times.max() >= landmark_months:
            result["landmark_rate"] = 1.0
        return result
    data = stats.CensoredData(uncensored=times[events], right=times[~events])
    sf = stats.ecdf(data).sf
    band = sf.confidence_interval(confidence, method=BAND_METHOD)
    grid = np.unique(times)
    survival = sf.evaluate(grid)
    low = band.low.evaluate(grid)
    high = band.high.evaluate(grid)
    table = []
    for t, s, lo, hi in zip(grid, survival, low, high):
        if s == 0.0:  # the band degenerates where the estimate reaches 0
            lo, hi = 0.0, 0.0
        table.append({"time_months": float(t), "at_risk": int((times >= t).sum()),
                      "events": int(((times == t) & events).sum()), "censored": int(((times == t) & ~events).sum()),
                      "survival": float(s), "ci_low": _value(lo), "ci_high": _value(hi)})
    result["table"] = table
    event_rows = [row for row in table if row["events"] > 0]

    def first_time(key):
        for row in event_rows:
            value = row[key]
            if value is not None and value <= 0.5:
                return row["time_months"]
        return None

    result["median_months"] = first_time("survival")
    # The band's lower limit reaches 0.5 first: the earliest time the median could be; the upper
    # limit later: the latest (None: not reached within the follow-up).
    result["median_ci_months"] = [first_time("ci_low"), first_time("ci_high")]
    if times.max() >= landmark_months:
        at = [row for row in table if row["time_months"] <= landmark_months][-1]
        result["landmark_rate"] = at["survival"]
        result["landmark_ci"] = [at["ci_low"], at["ci_high"]]
    return result
