"""Per-lesion volumetric response: each lesion's volume at each visit against its baseline and its
smallest volume so far. docs/physics.md section 30.

The thresholds are RECIST 1.1's diameter thresholds carried to the volume of a sphere (a project
choice, stated as such): a 30 % smaller diameter is (1 - 0.30)^3 - 1 = -65.7 % in volume, a 20 %
larger one (1 + 0.20)^3 - 1 = +72.8 %.
"""

from __future__ import annotations

from .recist import CR, NE, PD, PD_INCREASE, PR, PR_DECREASE, SD

#: Volume change at or below which a lesion responds (partial response), fraction.
VOLUME_PR_CHANGE = (1.0 - PR_DECREASE) ** 3 - 1.0
#: Volume growth over the lesion's smallest volume at or above which it progresses, fraction.
VOLUME_PD_CHANGE = (1.0 + PD_INCREASE) ** 3 - 1.0
#: Categories counted as a response in the dose-response analysis.
RESPONDING = (CR, PR)


def volumetric_course(baseline_ml: float, volumes_ml: list[float | None]) -> list[dict]:
    """One lesion's visits: volume change from baseline and from the nadir (the smallest volume
    before the visit, baseline included), in per cent, and the category: CR (gone), PR (<= -65.7 %
    from baseline), PD (>= +72.8 % over the nadir; a lesion that reappears after being gone is PD),
    SD, or NE (not evaluated). ``volumes_ml`` None = not evaluated, 0 = gone."""
    nadir = baseline_ml
    rows = []
    for volume in volumes_ml:
        if volume is None:
            rows.append({"volume_change_percent": None, "volume_change_from_nadir_percent": None,
                         "nadir_volume_ml": nadir, "volumetric_response": NE})
            continue
        change = (volume - baseline_ml) / baseline_ml if baseline_ml > 0 else None
        if nadir > 0:
            from_nadir = (volume - nadir) / nadir
            progressed = from_nadir >= VOLUME_PD_CHANGE - 1e-12
        else:
            from_nadir = None
            progressed = volume > 0
        if progressed:
            category = PD
        elif volume == 0:
            category = CR
        elif change is not None and change <= VOLUME_PR_CHANGE + 1e-12:
            category = PR
        else:
            category = SD
        rows.append({"volume_change_percent": None if change is None else 100.0 * change,
                     "volume_change_from_nadir_percent": None if from_nadir is None else 100.0 * from_nadir,
                     "nadir_volume_ml": nadir, "volumetric_response": category})
        nadir = min(nadir, volume)
    return rows
