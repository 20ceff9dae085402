"""The synthetic patient's follow-up over 18 months (``iahprrt phantom DIR --follow-up``): each lesion's
volume follows a known dose-response model of its true absorbed dose; MRI-like and CT scans at
baseline and 3, 6, 12 and 18 months with their own segmentations; the truth of every diameter,
volume, response category and the PFS time. docs/physics.md section 33.

The model (a project choice for test data, stated so the tests' expectations can be checked):

- every lesion has a tolerance dose ``D_tol`` drawn from a logistic distribution (location
  ``D50_GY``, scale ``SCALE_GY``); it responds when its absorbed dose ``D >= D_tol``, so that the
  probability of response is ``1 / (1 + exp(-(D - D50) / scale))`` (the logistic tolerance model
  of bio-assay, Berkson 1944) and a logistic fit over many lesions recovers ``D50``;
- a responding lesion shrinks towards a nadir: ``V(t) / V0 = f + (1 - f) exp(-t / TAU_MONTHS)``,
  ``f = 0.25 + 0.05 exp(-(D - D_tol) / 30 Gy)`` (at least 70 % smaller after 3 months);
- a lesion that does not respond grows: ``V(t) / V0 = 2^(t / T_d)``, the doubling time ``T_d``
  drawn log-uniformly between 12 and 36 months;
- with probability 0.25 a new liver lesion (10 mm) appears at 6, 12 or 18 months; with
  probability 0.06 a clinical progression and 0.04 a death happen between 45 and 540 days;
- the synthetic reader enters the non-target response: PD when a non-target lesion's diameter
  grew by 20 % and 5 mm over its smallest, CR when all are gone, otherwise non-CR/non-PD;
- imaging stops after the visit showing progression (or a clinical event); the last contact is
  18.5 months after the start (the date of death for a patient who died).

Every random number comes from ``rng_for(seed, "follow-up")`` in a fixed order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from ..imaging.grid import Grid
from ..imaging.segmentation import Segmentation
from .anatomy import EXTRAHEPATIC_LESION, LESIONS, build_tissues
from .scans import GridSpec, rng_for
from .shapes import Ellipsoid, RigidPose, Sphere, Tissue, paint

# ---- the dose-response model -------------------------------------------------------------------
D50_GY = 25.0
SCALE_GY = 5.0
NADIR_FRACTION = (0.25, 0.05)          # f = 0.25 + 0.05 exp(-(D - D_tol) / DOSE_EXCESS_SCALE_GY)
DOSE_EXCESS_SCALE_GY = 30.0
TAU_MONTHS = 0.6
DOUBLING_MONTHS = (12.0, 36.0)
P_NEW_LESION = 0.25
NEW_LESION_MONTHS = (6, 12, 18)
NEW_LESION_DIAMETER_MM = 10.0
NEW_LESION_DOUBLING_MONTHS = 6.0
#: Centre of the new liver lesion (reference pose, LPS mm): inside the healthy liver, at least
#: 15 mm from every other lesion at its largest.
NEW_LESION_CENTRE = (-72.0, -28.0, 12.0)
P_CLINICAL_PROGRESSION = 0.06
P_DEATH = 0.04
EVENT_DAYS = (45.0, 540.0)

# ---- schedule -------------------------------------------------------------------------------------
DAYS_PER_MONTH = 365.25 / 12.0
VISIT_MONTHS = (3, 6, 12, 18)
BASELINE_DAYS_BEFORE = 14
LAST_CONTACT_MONTHS = 18.5
#: The organ of the extra-hepatic lesion (a mesenteric mass, docs/phantom.md).
EXTRAHEPATIC_ORGAN = "mesentery"

# ---- scans ----------------------------------------------------------------------------------------
MR_SPEC = GridSpec((360, 260, 116), (1.0, 1.0, 2.0), (0.0, 0.0, 15.0))
CT_SPEC = GridSpec((384, 272, 96), (0.9375, 0.9375, 2.5), (0.0, 0.0, 15.0))
#: The segmentations are drawn on a grid finer than their scan (Slicer's oversampled segmentation
#: geometry): these factors along i, j, k (MR 0.5 x 0.5 x 0.667 mm, CT 0.469 x 0.469 x 0.625 mm).
SEGMENTATION_FACTORS = {"mr": (2, 2, 3), "ct": (2, 2, 4)}
MR_NOISE_SD = 4.0
MR_BIAS = (0.08, 0.04)                 # multiplicative field 1 + 0.08 x / 170 mm + 0.04 y / 120 mm
CT_NOISE_HU = 10.0
#: T2-weighted fat-suppressed MR signal (arbitrary units) and late-arterial contrast CT (HU) per tissue
#: kind or name; neuroendocrine liver metastases are bright on both (hypervascular, T2 hyperintense).
MR_SIGNAL = {"fat": 40.0, "soft_tissue": 60.0, "lung": 8.0, "blood": 20.0, "liver": 100.0, "lesion": 260.0,
             "extrahepatic_lesion": 240.0, "kidney": 190.0, "spleen": 170.0, "bone": 10.0, "marrow": 70.0,
             "disc": 150.0}
CT_HU = {"fat": -100.0, "soft_tissue": 55.0, "lung": -850.0, "blood": 300.0, "liver": 80.0, "lesion": 170.0,
         "extrahepatic_lesion": 150.0, "kidney": 200.0, "spleen": 140.0, "marrow": 230.0, "disc": 90.0}
#: Breath-hold position of the liver (and its lesions) relative to the body at each scan (mm, LPS).
LIVER_SHIFT_MM = {"baseline": (0.0, 0.0, 0.0), "m03": (0.0, 1.5, 4.0), "m06": (0.0, -1.0, -3.0),
                  "m12": (0.0, 2.0, 5.0), "m18": (0.0, -1.5, -4.0)}
_CENTRE = (-40.0, -10.0, 30.0)
POSES = {
    ("baseline", "mr"): RigidPose((2.0, -3.0, 4.0), (1.0, -0.5, 1.5), _CENTRE),
    ("baseline", "ct"): RigidPose((-3.0, 2.0, -2.0), (-0.5, 1.0, -1.0), _CENTRE),
    ("m03", "mr"): RigidPose((-4.0, 1.0, 6.0), (-1.0, 1.0, 2.0), _CENTRE),
    ("m03", "ct"): RigidPose((3.0, 2.5, -4.0), (0.5, -1.5, 1.0), _CENTRE),
    ("m06", "mr"): RigidPose((5.0, -2.0, -3.0), (1.5, 0.5, -1.5), _CENTRE),
    ("m06", "ct"): RigidPose((-2.0, -3.0, 5.0), (-1.0, -0.5, 2.0), _CENTRE),
    ("m12", "mr"): RigidPose((-3.0, 3.5, -5.0), (-1.5, -1.0, 1.0), _CENTRE),
    ("m12", "ct"): RigidPose((4.0, -1.0, 3.0), (1.0, 1.5, -2.0), _CENTRE),
    ("m18", "mr"): RigidPose((3.5, 2.0, 5.0), (0.5, 1.5, -2.5), _CENTRE),
    ("m18", "ct"): RigidPose((-4.5, -2.5, -3.0), (-1.5, 0.5, 1.5), _CENTRE),
}


@dataclass(frozen=True)
class Visit:
    key: str          # folder name
    name: str         # the manifest's visit name
    months: int


VISITS = [Visit(f"m{m:02d}", f"month {m}", m) for m in VISIT_MONTHS]


def visit_date(start: datetime, months: float) -> datetime:
    """The scan of the visit at ``months``: whole days, not after the nominal time (so that the
    18-month scan falls within the 18 months of the PFS landmark)."""
    return start + timedelta(days=math.floor(months * DAYS_PER_MONTH))


def _months(start: datetime, date: datetime) -> float:
    return (date - start).total_seconds() / 86400.0 / DAYS_PER_MONTH


def standard_lesions() -> dict[str, dict]:
    """The phantom's lesions: baseline diameter, centre (reference pose), organ, whether in the liver."""
    lesions = {name: {"diameter_mm": d, "centre_lps_mm": list(c), "organ": "liver", "in_liver": True}
               for name, d, c in LESIONS}
    name, d, c = EXTRAHEPATIC_LESION
    lesions[name] = {"diameter_mm": d, "centre_lps_mm": list(c), "organ": EXTRAHEPATIC_ORGAN, "in_liver": False}
    return lesions


def volume_fraction(months: float, responder: bool, nadir_fraction: float, doubling_months: float) -> float:
    if responder:
        return nadir_fraction + (1.0 - nadir_fraction) * math.exp(-months / TAU_MONTHS)
    return 2.0 ** (months / doubling_months)


def _sphere_volume_ml(diameter_mm: float) -> float:
    return math.pi / 6.0 * diameter_mm ** 3 / 1000.0


def _recist_truth(lesions: dict, targets: list[str], courses: dict, visit_names: list[str], new_at: str | None) -> list:
    """The synthetic reader's RECIST 1.1 (independent of iahepaticprrt.followup): sums of true
    diameters, 20 % / 5 mm over the nadir, 30 % below baseline, the reader's non-target entry."""
    baseline = sum(lesions[n]["diameter_mm"] for n in targets)
    nadir = baseline
    non_targets = [n for n in lesions if n not in targets]
    smallest = {n: lesions[n]["diameter_mm"] for n in non_targets}
    rows = []
    for index, visit in enumerate(visit_names):
        diameters = {n: courses[n][index]["diameter_mm"] for n in lesions}
        total = sum(max(diameters[n], 5.0) if diameters[n] > 0 else 0.0 for n in targets)
        if total - nadir >= 5.0 and total - nadir >= 0.2 * nadir:
            target = "PD"
        elif all(diameters[n] == 0 for n in targets):
            target = "CR"
        elif total <= 0.7 * baseline:
            target = "PR"
        else:
            target = "SD"
        grew = [n for n in non_targets if diameters[n] - smallest[n] >= 5.0 and diameters[n] >= 1.2 * smallest[n]]
        if not non_targets:
            non_target = None
        elif grew:
            non_target = "PD"
        elif all(diameters[n] == 0 for n in non_targets):
            non_target = "CR"
        else:
            non_target = "non-CR/non-PD"
        new = new_at == visit
        if new or target == "PD" or non_target == "PD":
            overall = "PD"
        elif target == "CR":
            overall = "CR" if non_target in ("CR", None) else "PR"
        else:
            overall = target
        rows.append({"visit": visit, "sum_of_diameters_mm": total, "nadir_sum_mm": nadir, "target_response": target,
                     "non_target_response": non_target, "new_lesion": new, "overall_response": overall})
        nadir = min(nadir, total)
        for n in non_targets:
            smallest[n] = min(smallest[n], diameters[n])
    return rows


def followup_truth(seed: int, doses_gy: dict[str, float], start: datetime, lesions: dict | None = None) -> dict:
    """The follow-up of one synthetic patient: draws (tolerance, doubling time, new lesion, events)
    from ``rng_for(seed, "follow-up")``, lesion courses, visits until progression, RECIST truth and PFS."""
    lesions = lesions or standard_lesions()
    rng = rng_for(seed, "follow-up")
    names = sorted(lesions)
    draws = {}
    for name in names:
        u_tolerance, u_doubling = float(rng.uniform()), float(rng.uniform())
        tolerance = D50_GY + SCALE_GY * math.log(u_tolerance / (1.0 - u_tolerance))
        doubling = DOUBLING_MONTHS[0] * (DOUBLING_MONTHS[1] / DOUBLING_MONTHS[0]) ** u_doubling
        dose = float(doses_gy[name])
        responder = dose >= tolerance
        nadir = NADIR_FRACTION[0] + NADIR_FRACTION[1] * math.exp(-(dose - tolerance) / DOSE_EXCESS_SCALE_GY) \
            if responder else None
        draws[name] = {"absorbed_dose_gy": dose, "tolerance_dose_gy": tolerance, "responder": responder,
                       "nadir_volume_fraction": nadir, "doubling_time_months": None if responder else doubling,
                       "response_probability": 1.0 / (1.0 + math.exp(-(dose - D50_GY) / SCALE_GY))}
    u_new, new_index = float(rng.uniform()), int(rng.integers(len(NEW_LESION_MONTHS)))
    u_clinical, day_clinical = float(rng.uniform()), float(rng.uniform(*EVENT_DAYS))
    u_death, day_death = float(rng.uniform()), float(rng.uniform(*EVENT_DAYS))
    new_months = NEW_LESION_MONTHS[new_index] if u_new < P_NEW_LESION else None
    events = []
    if u_clinical < P_CLINICAL_PROGRESSION:
        events.append({"type": "clinical_progression", "date": start + timedelta(days=round(day_clinical))})
    if u_death < P_DEATH:
        events.append({"type": "death", "date": start + timedelta(days=round(day_death))})
    events.sort(key=lambda e: e["date"])
    first_event = events[0]["date"] if events else None

    # Targets by the documented rule (largest of every organ first, then the second largest; <= 5).
    per_organ: dict[str, list[str]] = {}
    for name in sorted(names, key=lambda n: (-lesions[n]["diameter_mm"], n)):
        if lesions[name]["diameter_mm"] >= 10.0:
            per_organ.setdefault(lesions[name]["organ"], []).append(name)
    organs = sorted(per_organ, key=lambda o: (-lesions[per_organ[o][0]]["diameter_mm"], o))
    targets = [per_organ[o][rank] for rank in range(2) for o in organs if rank < len(per_organ[o])][:5]

    all_visits = [v for v in VISITS if first_event is None or visit_date(start, v.months) < first_event]
    courses = {name: [] for name in names}
    for visit in all_visits:
        for name in names:
            d = draws[name]
            fraction = volume_fraction(visit.months, d["responder"], d["nadir_volume_fraction"] or 0.0,
                                       d["doubling_time_months"] or 1.0)
            diameter = lesions[name]["diameter_mm"] * fraction ** (1.0 / 3.0)
            courses[name].append({"visit": visit.name, "volume_fraction": fraction, "diameter_mm": diameter,
                                  "volume_ml": _sphere_volume_ml(diameter)})
    new_visit = next((v.name for v in all_visits if v.months == new_months), None)
    rows = _recist_truth(lesions, targets, courses, [v.name for v in all_visits], new_visit)
    progression = next((i for i, r in enumerate(rows) if r["overall_response"] == "PD"), None)
    kept = all_visits if progression is None else all_visits[:progression + 1]
    rows = rows[:len(kept)]
    for name in names:
        courses[name] = courses[name][:len(kept)]
        baseline_ml = _sphere_volume_ml(lesions[name]["diameter_mm"])
        nadir_ml = baseline_ml
        for entry in courses[name]:
            entry["volume_change_percent"] = 100.0 * (entry["volume_ml"] - baseline_ml) / baseline_ml
            entry["longest_diameter_mm"] = entry.pop("diameter_mm")
            # Volumetric category (sphere-equivalent RECIST thresholds: 0.7^3 of baseline, 1.2^3 of nadir).
            if entry["volume_ml"] >= 1.2 ** 3 * nadir_ml:
                entry["volumetric_response"] = "PD"
            elif entry["volume_ml"] <= 0.7 ** 3 * baseline_ml:
                entry["volumetric_response"] = "PR"
            else:
                entry["volumetric_response"] = "SD"
            nadir_ml = min(nadir_ml, entry["volume_ml"])
    new_lesion = None
    if new_visit is not None and any(v.name == new_visit for v in kept):
        new_lesion = {"name": "New lesion 1", "visit": new_visit, "diameter_mm": NEW_LESION_DIAMETER_MM,
                      "centre_lps_mm": list(NEW_LESION_CENTRE), "organ": "liver"}
    # PFS: the earliest of the progression scan, a clinical progression, a death; else the last contact.
    candidates = []
    if progression is not None:
        candidates.append((visit_date(start, kept[-1].months), "recist_progression"))
    candidates += [(e["date"], e["type"]) for e in events]
    deaths = [e["date"] for e in events if e["type"] == "death"]
    last_contact = deaths[0] if deaths else start + timedelta(days=round(LAST_CONTACT_MONTHS * DAYS_PER_MONTH))
    if candidates:
        pfs_date, pfs_type = min(candidates)
    else:
        pfs_date, pfs_type = last_contact, None
    order = ("CR", "PR", "SD", "non-CR/non-PD", "PD", "NE")
    best = min((r["overall_response"] for r in rows), key=order.index) if rows else "NE"
    return {
        "seed": seed,
        "model": {"d50_gy": D50_GY, "scale_gy": SCALE_GY, "nadir_fraction": list(NADIR_FRACTION),
                  "dose_excess_scale_gy": DOSE_EXCESS_SCALE_GY, "tau_months": TAU_MONTHS,
                  "doubling_months": list(DOUBLING_MONTHS), "p_new_lesion": P_NEW_LESION,
                  "formula": "responder when absorbed_dose_gy >= tolerance_dose_gy (logistic: location d50_gy, scale "
                             "scale_gy); responder V/V0 = f + (1 - f) exp(-t / tau_months), f = 0.25 + 0.05 "
                             "exp(-(D - D_tol) / 30 Gy); non-responder V/V0 = 2^(t / doubling_time_months)"},
        "start": start.isoformat(timespec="seconds"),
        "baseline_date": (start - timedelta(days=BASELINE_DAYS_BEFORE)).isoformat(timespec="seconds"),
        "visits": [{"key": v.key, "name": v.name, "months_nominal": v.months,
                    "date": visit_date(start, v.months).isoformat(timespec="seconds"),
                    "months_after_start": _months(start, visit_date(start, v.months))} for v in kept],
        "lesions": {name: {**{k: v for k, v in lesions[name].items()},
                           "baseline_volume_ml": _sphere_volume_ml(lesions[name]["diameter_mm"]),
                           "target": name in targets, **draws[name], "course": courses[name]} for name in names},
        "new_lesion": new_lesion,
        "events": [{"type": e["type"], "date": e["date"].isoformat(timespec="seconds")} for e in events],
        "recist": {"targets": targets, "non_targets": [n for n in names if n not in targets], "visits": rows,
                   "best_overall_response": best,
                   "progression_visit": kept[-1].name if progression is not None else None},
        "pfs_months": _months(start, pfs_date), "pfs_event": bool(candidates), "pfs_event_type": pfs_type,
        "progressed": any(t in ("recist_progression", "clinical_progression") for _, t in candidates),
        "last_contact": last_contact.isoformat(timespec="seconds"),
    }


def cohort_doses(seed: int, standard_doses_gy: dict[str, float]) -> dict[str, float]:
    """Lesion doses of a synthetic cohort patient: the phantom's true doses times a factor drawn
    log-uniformly between 0.3 and 3 per lesion (``rng_for(seed, "cohort doses")``), so that a cohort
    spans about 2 to 115 Gy (tumour doses of 2 to 77 Gy per cycle are reported for 177Lu-DOTATATE,
    Roth et al. 2022; docs/physics.md section 33)."""
    rng = rng_for(seed, "cohort doses")
    return {name: dose * 0.3 * 10.0 ** float(rng.uniform()) for name, dose in sorted(standard_doses_gy.items())}


# ---- scans ----------------------------------------------------------------------------------------
def _visit_tissues(truth: dict, visit_key: str) -> list[Tissue]:
    """The anatomy at a scan: lesions at their size that day, the liver and its lesions shifted."""
    shift = np.asarray(LIVER_SHIFT_MM[visit_key], dtype=float)
    index = None if visit_key == "baseline" else [v["key"] for v in truth["visits"]].index(visit_key)
    tissues = []
    for t in build_tissues():
        if t.kind in ("lesion", "extrahepatic_lesion"):
            lesion = truth["lesions"][t.name]
            diameter = lesion["diameter_mm"] if index is None else lesion["course"][index]["longest_diameter_mm"]
            centre = np.asarray(lesion["centre_lps_mm"], float) + (shift if lesion["in_liver"] else 0.0)
            if diameter > 0:
                tissues.append(Tissue(t.name, [Sphere(tuple(centre), diameter / 2.0)], t.hu, t.density_g_per_ml,
                                      t.parent, t.segment, t.kind))
            continue
        if t.name == "healthy liver":
            e = t.shapes[0]
            t = Tissue(t.name, [Ellipsoid(tuple(np.asarray(e.centre) + shift), e.semi_axes, e.rotation)], t.hu,
                       t.density_g_per_ml, t.parent, t.segment, t.kind)
        tissues.append(t)
        if t.name == "healthy liver":
            new = truth.get("new_lesion")
            if new and index is not None and index >= [v["name"] for v in truth["visits"]].index(new["visit"]):
                months = truth["visits"][index]["months_after_start"] - next(v["months_after_start"] for v in truth["visits"]
                                                                 if v["name"] == new["visit"])
                diameter = new["diameter_mm"] * 2.0 ** (months / NEW_LESION_DOUBLING_MONTHS / 3.0)
                centre = np.asarray(new["centre_lps_mm"], float) + shift
                tissues.append(Tissue(new["name"], [Sphere(tuple(centre), diameter / 2.0)], 38.0, 1.04,
                                      "healthy liver", new["name"], "lesion"))
    # Lesions after the liver, before the organs painted later (painting order = nesting order).
    return tissues


def _value(table: dict, tissue: Tissue, default: float) -> float:
    if tissue.name in table:
        return table[tissue.name]
    return table.get(tissue.kind, default)


def scan_image(modality: str, grid: Grid, pose: RigidPose, tissues: list[Tissue], rng) -> np.ndarray:
    """Noisy MRI-like (T2 FS) or late-arterial CT image of the posed anatomy (coverage-fraction edges)."""
    from .scans import _body_index_box, _place, _sub_grid

    if modality == "mr":
        values = {t.name: _value(MR_SIGNAL, t, 60.0) for t in tissues}
        background = 0.0
    else:
        values = {t.name: (_value(CT_HU, t, t.hu) if t.kind != "bone" else t.hu) for t in tissues}
        background = -1000.0
    body = tissues[0].shapes[0]
    low, high = _body_index_box(grid, pose, body, np.array([2, 2, 2]))
    low = np.maximum(low, 0)
    high = np.minimum(high, np.array(grid.size_ijk))
    sub = _sub_grid(grid, low, high, 1)
    block = paint(sub, pose, tissues, values, background, antialias=True, dtype=np.float64)
    image = np.full(grid.shape_kji, background, dtype=np.float64)
    _place(image, block, low)
    inside = image != background
    if modality == "mr":
        kk, jj, ii = np.indices(grid.shape_kji, dtype=np.float32)
        ijk = np.stack([ii, jj, kk], axis=-1)
        lps = grid.index_to_lps(ijk)
        field = 1.0 + MR_BIAS[0] * lps[..., 0] / 170.0 + MR_BIAS[1] * lps[..., 1] / 120.0
        image = image * field + rng.normal(0.0, MR_NOISE_SD, image.shape)
        image = np.abs(image)  # magnitude images are never negative
    else:
        image = np.where(inside, image + rng.normal(0.0, CT_NOISE_HU, image.shape), image)
    return image.astype(np.float32)


def lesion_segmentation(scan_grid: Grid, factors, pose: RigidPose, tissues: list[Tissue], margin_mm: float = 3.0
                        ) -> Segmentation:
    """The lesions of ``tissues`` on a grid ``factors`` finer than the scan's, cropped to hold them;
    a voxel belongs to a lesion when its centre is inside the sphere."""
    from ..followup.carry_over import fine_grid

    lesions = [t for t in tissues if t.kind in ("lesion", "extrahepatic_lesion")]
    fine = fine_grid(scan_grid, factors)
    lo, hi = None, None
    for t in lesions:
        s = t.shapes[0]
        corners = np.array([[s.centre[0] + a * s.radius_mm, s.centre[1] + b * s.radius_mm, s.centre[2] + c * s.radius_mm]
                            for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)])
        index = fine.lps_to_index(pose.apply(corners))
        a, b = index.min(axis=0) - margin_mm / min(fine.spacing_mm), index.max(axis=0) + margin_mm / min(fine.spacing_mm)
        lo = a if lo is None else np.minimum(lo, a)
        hi = b if hi is None else np.maximum(hi, b)
    lo = np.maximum(np.floor(lo).astype(int), 0)
    hi = np.minimum(np.ceil(hi).astype(int) + 1, np.array(fine.size_ijk))
    grid = fine_grid(scan_grid, factors, tuple(int(v) for v in lo[::-1]), tuple(int(v) for v in (hi - lo)[::-1]))
    seg = Segmentation(grid)
    colours = [(0.9, 0.2, 0.2), (0.95, 0.5, 0.1), (0.95, 0.85, 0.1), (0.6, 0.2, 0.8), (0.9, 0.3, 0.6),
               (0.2, 0.8, 0.8), (0.3, 0.9, 0.3)]
    for n, t in enumerate(sorted(lesions, key=lambda t: t.name)):
        seg.add(t.name, paint(grid, pose, [t], {t.name: 1.0}, 0.0, antialias=False) > 0.5, colours[n % len(colours)])
    return seg


def _scan_folder(visit_key: str, modality: str) -> str:
    return f"followup/{visit_key}/{modality}"


def write_followup_scans(out: Path, truth: dict, seed: int, noise: bool, vendor: str, uid) -> dict:
    """Write the MR and CT series and their segmentations of the baseline and every visit of
    ``truth`` (from :func:`followup_truth`) under ``out/followup``; return each scan's files and
    geometry for truth.json. ``uid(*parts)`` gives the scan's deterministic UIDs."""
    from ..io.dicom_writer import write_image_series
    from ..io.segmentation_files import write_seg_nrrd
    from .headers import ct_attributes, mr_attributes

    start = datetime.fromisoformat(truth["start"])
    scans = [("baseline", datetime.fromisoformat(truth["baseline_date"]))]
    scans += [(v["key"], datetime.fromisoformat(v["date"])) for v in truth["visits"]]
    written = {}
    for number, (key, date) in enumerate(scans):
        tissues = _visit_tissues(truth, key)
        entry = {}
        for modality, spec in (("mr", MR_SPEC), ("ct", CT_SPEC)):
            grid = spec.grid()
            pose = POSES[(key, modality)]
            rng = rng_for(seed, f"follow-up {key} {modality}") if noise else _NoNoise()
            image = scan_image(modality, grid, pose, tissues, rng)
            study_uid, frame_uid, series_uid = (uid("followup", key, modality, what)
                                                for what in ("study", "frame of reference", "series"))
            acquisition = date + timedelta(hours=1 if modality == "mr" else 2)
            description = f"Follow-up {key}"
            if modality == "mr":
                common = mr_attributes(vendor, 76.0, study_uid, frame_uid, series_uid, acquisition,
                                       f"F{number}M", description, 60 + number)
            else:
                common = ct_attributes(vendor, 76.0, study_uid, frame_uid, series_uid, acquisition, acquisition,
                                       f"F{number}C", description, 70 + number)
                common["SeriesDescription"] = f"{description} CT late arterial"
            folder = out / _scan_folder(key, modality)
            write_image_series(image, grid, folder, modality.upper(), common,
                               uid_key=uid("followup", key, modality, "instances"), fixed_slope=1.0,
                               file_prefix=modality.upper())
            seg = lesion_segmentation(grid, SEGMENTATION_FACTORS[modality], pose, tissues)
            seg_path = out / "followup" / key / f"{modality}.seg.nrrd"
            write_seg_nrrd(seg, seg_path)
            centres = {t.name: [float(v) for v in pose.apply(np.asarray(t.shapes[0].centre, float))]
                       for t in tissues if t.kind in ("lesion", "extrahepatic_lesion")}
            entry[modality] = {
                "series": _scan_folder(key, modality), "segmentation": f"followup/{key}/{modality}.seg.nrrd",
                "series_instance_uid": series_uid, "acquisition_datetime": acquisition.isoformat(timespec="seconds"),
                "grid": {"size_ijk": list(spec.size_ijk), "spacing_mm": list(spec.spacing_mm)},
                "segmentation_spacing_mm": list(seg.grid.spacing_mm),
                "pose": {"translation_mm": list(pose.translation_mm), "rotation_deg": list(pose.rotation_deg),
                         "center_lps_mm": list(pose.center_lps_mm), "reference": "ia_day0",
                         "convention": "x_scan = R (x_ref - c) + c + t"},
                "lesion_centres_lps_mm": centres,
            }
        entry["liver_shift_mm"] = list(LIVER_SHIFT_MM[key])
        entry["date"] = date.isoformat(timespec="seconds")
        entry["months_after_start"] = _months(start, date)
        written[key] = entry
    return written


class _NoNoise:
    """A stand-in random generator that draws zeros (noise-free follow-up scans)."""

    def normal(self, loc, scale, size):
        return np.zeros(size)


def followup_manifest(truth: dict, scans: dict, modality: str = "mr", carry_over: bool = False) -> dict:
    """The manifest's ``followup`` section for this follow-up (paths relative to the patient folder):
    the visits' own segmentations, or (``carry_over``) the baseline VOIs carried by registration."""
    def scan(key):
        return scans[key][modality]

    visits = []
    for v in truth["visits"]:
        row = truth["recist"]["visits"][[r["visit"] for r in truth["recist"]["visits"]].index(v["name"])]
        visit = {"name": v["name"], "date": v["date"], "modality": modality.upper(), "series": scan(v["key"])["series"]}
        if carry_over:
            visit["carry_over"] = {"registration": "rigid"}
        else:
            visit["segmentation"] = scan(v["key"])["segmentation"]
        if truth["new_lesion"] and truth["new_lesion"]["visit"] == v["name"]:
            visit["new_lesions"] = [truth["new_lesion"]["name"]]
        if row["non_target_response"] is not None:
            visit["non_target"] = row["non_target_response"]
        visits.append(visit)
    lesions = {name: {"organ": lesion["organ"]} for name, lesion in truth["lesions"].items()
               if not lesion["in_liver"]}
    section = {
        "start_date": truth["start"],
        "baseline": {"date": truth["baseline_date"], "modality": modality.upper(), "series": scan("baseline")["series"],
                     "segmentation": scan("baseline")["segmentation"]},
        "visits": visits,
        "lesions": lesions,
        "last_contact": truth["last_contact"],
    }
    if truth["events"]:
        section["events"] = truth["events"]
    return section
