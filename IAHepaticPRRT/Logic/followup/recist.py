"""RECIST 1.1 (Eisenhauer et al., Eur J Cancer 2009;45:228-247): measurable lesions, target
selection, the target, non-target and overall response of each visit, the best overall response
and the visit of progression. docs/physics.md section 29.

Inputs are plain measurements (mm) so the rules can be checked by hand: a lesion's RECIST diameter
at a visit is its longest axial diameter (lymph nodes: the short axis), ``0`` when it has
disappeared and ``None`` when it was not evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InputError

CR, PR, SD, PD, NE = "CR", "PR", "SD", "PD", "NE"
NON_CR_NON_PD = "non-CR/non-PD"
#: Non-target assessments a user may enter for a visit.
NON_TARGET_VALUES = (CR, NON_CR_NON_PD, PD, NE)

#: Measurable: longest diameter >= 10 mm, and >= 2 x the slice thickness when slices are thicker
#: than 5 mm (RECIST 1.1 section 3.1.1); lymph nodes: short axis >= 15 mm (section 3.1.1).
MEASURABLE_MIN_MM = 10.0
MEASURABLE_NODE_SHORT_AXIS_MM = 15.0
THICK_SLICE_MM = 5.0
#: Pathological node: short axis >= 10 mm; a target node below 10 mm counts as normal for CR.
NODE_NORMAL_SHORT_AXIS_MM = 10.0
#: At most 5 target lesions, at most 2 per organ (section 3.3.1).
MAX_TARGETS = 5
MAX_TARGETS_PER_ORGAN = 2
#: PR: sum at least 30 % below the baseline sum; PD: at least 20 % and 5 mm above the smallest sum
#: on study (section 4.3.1).
PR_DECREASE = 0.30
PD_INCREASE = 0.20
PD_ABSOLUTE_MM = 5.0
#: A lesion present but smaller than this is recorded at this value ("too small to measure",
#: RECIST 1.1 Appendix I); not applied to lymph nodes, whose short axis is recorded as measured.
TOO_SMALL_MM = 5.0
#: Confirmation of CR and PR, when required: a later assessment at least 4 weeks later (section 4.6).
CONFIRMATION_DAYS = 28
#: SD counts as best response only at least this long after the start (section 4.4: protocol
#: defined, "in general not less than 6-8 weeks"; project default 6 weeks).
SD_MINIMUM_DAYS = 42

#: Ranking of visit responses for the best overall response (best first).
BEST_ORDER = (CR, PR, SD, NON_CR_NON_PD, PD, NE)


@dataclass
class Lesion:
    """A baseline lesion: its organ, whether it is a lymph node, and its baseline measurement."""

    name: str
    organ: str
    nodal: bool = False
    longest_diameter_mm: float = 0.0
    short_axis_mm: float = 0.0

    def baseline_mm(self) -> float:
        return self.short_axis_mm if self.nodal else self.longest_diameter_mm


def is_measurable(lesion: Lesion, slice_thickness_mm: float) -> bool:
    if lesion.nodal:
        return lesion.short_axis_mm >= MEASURABLE_NODE_SHORT_AXIS_MM
    minimum = max(MEASURABLE_MIN_MM, 2.0 * slice_thickness_mm) if slice_thickness_mm > THICK_SLICE_MM \
        else MEASURABLE_MIN_MM
    return lesion.longest_diameter_mm >= minimum


@dataclass
class TargetSelection:
    targets: list[str]
    non_targets: list[str]
    measurable: dict[str, bool]
    rule: str
    warnings: list = field(default_factory=list)


def select_targets(lesions: list[Lesion], slice_thickness_mm: float, chosen: list[str] | None = None,
                   source=None) -> TargetSelection:
    """Target lesions: the user's choice (checked against RECIST's limits), or by the project's
    rule (docs/physics.md section 29): among the measurable lesions, each organ's lesions by
    decreasing RECIST diameter, taking the largest of every organ first (organs in the order of
    their largest lesion), then the second largest of every organ, up to 5. Ties by name."""
    by_name = {lesion.name: lesion for lesion in lesions}
    measurable = {lesion.name: is_measurable(lesion, slice_thickness_mm) for lesion in lesions}
    warnings = []
    if chosen is not None:
        unknown = [name for name in chosen if name not in by_name]
        if unknown:
            raise InputError(f"target lesion(s) {', '.join(unknown)} are not baseline lesions (baseline lesions: "
                             f"{', '.join(by_name) or 'none'})", source, "followup.targets")
        if len(set(chosen)) != len(chosen):
            raise InputError("a target lesion is listed twice", source, "followup.targets")
        if len(chosen) > MAX_TARGETS:
            raise InputError(f"{len(chosen)} target lesions: RECIST 1.1 allows at most {MAX_TARGETS}", source,
                             "followup.targets")
        organs: dict[str, list[str]] = {}
        for name in chosen:
            organs.setdefault(by_name[name].organ, []).append(name)
        crowded = {organ: names for organ, names in organs.items() if len(names) > MAX_TARGETS_PER_ORGAN}
        if crowded:
            organ, names = next(iter(crowded.items()))
            raise InputError(f"{len(names)} target lesions in the {organ} ({', '.join(names)}): RECIST 1.1 allows at "
                             f"most {MAX_TARGETS_PER_ORGAN} per organ", source, "followup.targets")
        small = [name for name in chosen if not measurable[name]]
        if small:
            raise InputError(f"target lesion(s) {', '.join(small)} are not measurable at baseline (RECIST 1.1: "
                             f"longest diameter >= {MEASURABLE_MIN_MM:g} mm, or 2 x the slice thickness above "
                             f"{THICK_SLICE_MM:g} mm; lymph nodes short axis >= {MEASURABLE_NODE_SHORT_AXIS_MM:g} mm)",
                             source, "followup.targets")
        targets = list(chosen)
        rule = "chosen by the user (followup.targets)"
    else:
        per_organ: dict[str, list[Lesion]] = {}
        for lesion in lesions:
            if measurable[lesion.name]:
                per_organ.setdefault(lesion.organ, []).append(lesion)
        for organ_lesions in per_organ.values():
            organ_lesions.sort(key=lambda lesion: (-lesion.baseline_mm(), lesion.name))
        organ_order = sorted(per_organ, key=lambda organ: (-per_organ[organ][0].baseline_mm(), organ))
        targets = []
        for rank in range(MAX_TARGETS_PER_ORGAN):
            for organ in organ_order:
                if len(targets) < MAX_TARGETS and rank < len(per_organ[organ]):
                    targets.append(per_organ[organ][rank].name)
        rule = ("largest measurable lesion of every organ first, then the second largest, at most 5 and 2 per organ "
                "(docs/physics.md section 29)")
    if not targets:
        warnings.append("no measurable lesion at baseline: the response follows RECIST 1.1 table 2 (non-target "
                        "lesions only)")
    non_targets = [lesion.name for lesion in lesions if lesion.name not in targets]
    return TargetSelection(targets, non_targets, measurable, rule, warnings)


def recorded_diameter_mm(value: float | None, nodal: bool) -> float | None:
    """The value that enters the sum: None (not evaluated), 0 (disappeared), the measurement, or
    ``TOO_SMALL_MM`` for a non-nodal lesion present but smaller than that."""
    if value is None:
        return None
    if value <= 0.0:
        return 0.0
    if not nodal and value < TOO_SMALL_MM:
        return TOO_SMALL_MM
    return float(value)


@dataclass
class VisitInput:
    """One visit for the response rules: target diameters (mm, 0 = disappeared, None = not
    evaluated), whether each target is a node, the non-target assessment (None = not entered),
    the non-target lesions' measured presence, and new lesions."""

    name: str
    days_after_start: float
    target_mm: dict[str, float | None]
    non_target: str | None = None               # the user's assessment; None: not entered
    has_non_targets: bool = False
    non_targets_absent: bool | None = None      # every non-target lesion measured absent (None: not all measured)
    non_target_nodes_normal: bool = True        # every non-target node < 10 mm short axis
    new_lesions: bool = False


def target_response(current_mm: float | None, baseline_mm: float, nadir_mm: float, all_disappeared: bool) -> str:
    """Target-lesion response of one visit from the sums (mm): PD (>= 20 % and >= 5 mm above the
    nadir) before CR (every target gone, nodes < 10 mm) before PR (>= 30 % below baseline) before SD."""
    if current_mm is None:
        return NE
    increase = current_mm - nadir_mm
    if increase >= PD_ABSOLUTE_MM - 1e-9 and increase >= PD_INCREASE * nadir_mm - 1e-9:
        return PD
    if all_disappeared:
        return CR
    if current_mm <= (1.0 - PR_DECREASE) * baseline_mm + 1e-9:
        return PR
    return SD


def overall_response(target: str | None, non_target: str | None, new_lesions: bool) -> str:
    """RECIST 1.1 table 1 (targets present) and table 2 (``target`` None: non-target lesions only).
    ``non_target`` None means there are no non-target lesions."""
    if new_lesions or target == PD or non_target == PD:
        return PD
    if target is None:
        return {CR: CR, NON_CR_NON_PD: NON_CR_NON_PD, NE: NE, None: NE}[non_target]
    if target == CR:
        return CR if non_target in (CR, None) else PR
    if target == PR:
        return PR
    if target == SD:
        return SD
    return NE  # targets not all evaluated and no progression shown


def evaluate_visits(lesions: dict[str, Lesion], targets: list[str], visits: list[VisitInput]) -> list[dict]:
    """Per visit: the sum of target diameters, its change from baseline and from the nadir (the
    smallest sum before this visit, baseline included), the target, non-target and overall
    responses. Visits must be in chronological order."""
    baseline_sum = sum(lesions[name].baseline_mm() for name in targets)
    nadir = baseline_sum
    rows = []
    for visit in visits:
        recorded = {name: recorded_diameter_mm(visit.target_mm.get(name), lesions[name].nodal) for name in targets}
        missing = [name for name, value in recorded.items() if value is None]
        available = sum(value for value in recorded.values() if value is not None)
        target = None
        if targets:
            if missing:
                # Not all evaluated: still PD when the evaluated ones already show it (section 4.3.1 note).
                increase = available - nadir
                target = PD if (increase >= PD_ABSOLUTE_MM and increase >= PD_INCREASE * nadir) else NE
            else:
                gone = all((value < NODE_NORMAL_SHORT_AXIS_MM) if lesions[name].nodal else value == 0.0
                           for name, value in recorded.items())
                target = target_response(available, baseline_sum, nadir, gone)
        # Non-target response: the user's assessment; without one, CR when every non-target lesion was
        # measured gone (nodes below 10 mm), otherwise not evaluated; None when there are none.
        non_target, derived = None, False
        if visit.has_non_targets:
            non_target = visit.non_target
            if non_target is None:
                derived = True
                non_target = CR if (visit.non_targets_absent and visit.non_target_nodes_normal) else NE
        overall = overall_response(target, non_target, visit.new_lesions)
        rows.append({
            "visit": visit.name, "days_after_start": visit.days_after_start,
            "sum_of_diameters_mm": None if missing else available,
            "sum_of_evaluated_diameters_mm": available, "not_evaluated_targets": missing,
            "baseline_sum_mm": baseline_sum, "nadir_sum_mm": nadir,
            "change_from_baseline_percent": None if missing or baseline_sum == 0 else
            100.0 * (available - baseline_sum) / baseline_sum,
            "change_from_nadir_mm": None if missing else available - nadir,
            "change_from_nadir_percent": None if missing or nadir == 0 else 100.0 * (available - nadir) / nadir,
            "target_diameters_mm": recorded,
            "target_response": target, "non_target_response": non_target,
            "non_target_response_derived": derived, "new_lesions": visit.new_lesions, "overall_response": overall,
        })
        if not missing and targets:
            nadir = min(nadir, available)
    return rows


def best_overall_response(rows: list[dict], confirmation: bool = False,
                          sd_minimum_days: float = SD_MINIMUM_DAYS) -> dict:
    """Best overall response (section 4.4) over the visits up to the first PD: the best of CR, PR,
    SD, non-CR/non-PD, PD, NE. SD (and non-CR/non-PD) count only from ``sd_minimum_days`` after the
    start. With ``confirmation`` a CR (PR) counts only when a later visit at least 28 days after it
    is CR (CR or PR) with no PD between; an unconfirmed one counts as SD. Returns the response, the
    visit it was reached at and the first visit with PD."""
    counted = []
    first_pd = None
    for index, row in enumerate(rows):
        response = row["overall_response"]
        if response == PD:
            first_pd = row
            counted.append((PD, row))
            break
        if confirmation and response in (CR, PR):
            confirming = (CR,) if response == CR else (CR, PR)
            confirmed = False
            for later in rows[index + 1:]:
                if later["overall_response"] == PD:
                    break
                late_enough = later["days_after_start"] - row["days_after_start"] >= CONFIRMATION_DAYS
                if late_enough and later["overall_response"] in confirming:
                    confirmed = True
                    break
            if not confirmed:
                response = SD
        if response in (SD, NON_CR_NON_PD) and row["days_after_start"] < sd_minimum_days:
            response = NE
        counted.append((response, row))
    if not counted:
        return {"best_overall_response": NE, "reached_at_visit": None, "progression_visit": None,
                "confirmation_required": confirmation, "sd_minimum_days": sd_minimum_days}
    best, at = min(counted, key=lambda item: BEST_ORDER.index(item[0]))
    return {"best_overall_response": best, "reached_at_visit": at["visit"],
            "progression_visit": first_pd["visit"] if first_pd else None,
            "progression_days_after_start": first_pd["days_after_start"] if first_pd else None,
            "confirmation_required": confirmation, "sd_minimum_days": sd_minimum_days}
