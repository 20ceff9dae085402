"""RECIST 1.1 (Eisenhauer et al., Eur J Cancer 2009;45:228-247) and the volumetric response, on
hand-worked cases (docs/physics.md sections 29 and 30). Expected values are worked out in the
comments from the rules, not taken from the module."""

from __future__ import annotations

import pytest

from iahepaticprrt.errors import InputError
from iahepaticprrt.followup.recist import (
    Lesion,
    VisitInput,
    best_overall_response,
    evaluate_visits,
    overall_response,
    recorded_diameter_mm,
    select_targets,
)
from iahepaticprrt.followup.volumetric import volumetric_course

LESIONS = [
    Lesion("A", "liver", longest_diameter_mm=40.0), Lesion("B", "liver", longest_diameter_mm=32.0),
    Lesion("C", "liver", longest_diameter_mm=24.0), Lesion("D", "lung", longest_diameter_mm=15.0),
    Lesion("E", "lung", longest_diameter_mm=12.0),
    Lesion("F", "lymph node", nodal=True, longest_diameter_mm=25.0, short_axis_mm=16.0),
    Lesion("G", "bone", longest_diameter_mm=8.0),
]


def test_target_selection_rule():
    # 5 mm slices: measurable A-E (>= 10 mm) and F (node, short axis 16 >= 15); G (8 mm) is not.
    # Organs by their largest: liver (40), lymph node (16), lung (15). Largest of each: A, F, D;
    # then the second largest of each: B (liver), E (lung). Five targets, at most two per organ.
    selection = select_targets(LESIONS, 5.0)
    assert selection.targets == ["A", "F", "D", "B", "E"]
    assert selection.non_targets == ["C", "G"]
    assert selection.measurable == {"A": True, "B": True, "C": True, "D": True, "E": True, "F": True, "G": False}
    # 8 mm slices: measurable needs >= 2 x 8 = 16 mm: A, B, C, and the node F; D (15) and E (12) not.
    assert select_targets(LESIONS, 8.0).targets == ["A", "F", "B"]


def test_user_targets_are_checked_against_the_limits():
    assert select_targets(LESIONS, 5.0, ["C", "D"]).targets == ["C", "D"]
    with pytest.raises(InputError, match="at most 2 per organ"):
        select_targets(LESIONS, 5.0, ["A", "B", "C"])
    with pytest.raises(InputError, match="not measurable"):
        select_targets(LESIONS, 5.0, ["G"])
    with pytest.raises(InputError, match="not baseline lesions"):
        select_targets(LESIONS, 5.0, ["Z"])
    many = [Lesion(f"L{n}", f"organ {n}", longest_diameter_mm=20.0) for n in range(6)]
    with pytest.raises(InputError, match="at most 5"):
        select_targets(many, 5.0, [f"L{n}" for n in range(6)])


THREE = {n: Lesion(n, "liver", longest_diameter_mm=d) for n, d in (("P", 50.0), ("Q", 30.0), ("R", 20.0))}


def _visit(name, day, p, q, r, **kw):
    return VisitInput(name, day, {"P": p, "Q": q, "R": r}, **kw)


def test_sums_nadir_and_the_20_percent_and_5_mm_rule():
    rows = evaluate_visits(THREE, ["P", "Q", "R"], [
        _visit("v1", 60, 35.0, 20.0, 10.0),   # 65 mm: -35 % from 100 -> PR
        _visit("v2", 120, 30.0, 20.0, 10.0),  # 60 mm: -40 % -> PR; nadir before it 65
        _visit("v3", 180, 40.0, 22.0, 10.0),  # 72 mm: +12 mm = +20 % of the nadir 60 -> PD
    ])
    assert [r["sum_of_diameters_mm"] for r in rows] == [65.0, 60.0, 72.0]
    assert [r["nadir_sum_mm"] for r in rows] == [100.0, 65.0, 60.0]
    assert [r["target_response"] for r in rows] == ["PR", "PR", "PD"]
    assert rows[0]["change_from_baseline_percent"] == pytest.approx(-35.0)
    assert rows[2]["change_from_nadir_percent"] == pytest.approx(20.0)
    # 71.9 mm: +11.9 mm < 20 % of 60 -> not PD; -28.1 % from baseline -> SD.
    below = evaluate_visits(THREE, ["P", "Q", "R"], [_visit("v1", 60, 35.0, 20.0, 10.0),
                                                     _visit("v2", 120, 30.0, 20.0, 10.0),
                                                     _visit("v3", 180, 39.9, 22.0, 10.0)])
    assert below[2]["target_response"] == "SD"


def test_absolute_5_mm_rule_and_too_small_to_measure():
    two = {"S": Lesion("S", "liver", longest_diameter_mm=12.0), "T": Lesion("T", "lung", longest_diameter_mm=8.0)}
    rows = evaluate_visits(two, ["S", "T"], [VisitInput("v1", 60, {"S": 6.0, "T": 4.0}),
                                              VisitInput("v2", 120, {"S": 8.0, "T": 6.0})])
    # v1: T measures 4 mm, recorded 5 mm (too small to measure): 11 mm, -45 % of 20 -> PR.
    assert rows[0]["sum_of_diameters_mm"] == 11.0 and rows[0]["target_response"] == "PR"
    # v2: 14 mm is +3 mm over the nadir 11 (+27 %) but less than 5 mm: not PD; -30 % of 20 -> PR.
    assert rows[1]["target_response"] == "PR"
    assert recorded_diameter_mm(3.0, nodal=False) == 5.0
    assert recorded_diameter_mm(3.0, nodal=True) == 3.0
    assert recorded_diameter_mm(0.0, nodal=False) == 0.0 and recorded_diameter_mm(None, False) is None


def test_complete_response_with_a_node_below_10_mm_and_the_non_target_table():
    lesions = {"P": THREE["P"], "N": Lesion("N", "node", nodal=True, longest_diameter_mm=24.0, short_axis_mm=16.0)}
    cases = [(None, "CR"), ("CR", "CR"), ("non-CR/non-PD", "PR"), ("NE", "PR"), ("PD", "PD")]
    for non_target, expected in cases:
        rows = evaluate_visits(lesions, ["P", "N"], [VisitInput("v", 90, {"P": 0.0, "N": 8.0}, non_target,
                                                                non_target is not None)])
        # The node's 8 mm counts in the sum (8 mm) but is normal (< 10 mm): targets CR.
        assert rows[0]["target_response"] == "CR" and rows[0]["sum_of_diameters_mm"] == 8.0
        assert rows[0]["overall_response"] == expected, non_target


def test_not_evaluated_target_and_new_lesion():
    rows = evaluate_visits(THREE, ["P", "Q", "R"], [_visit("v1", 60, 45.0, None, 20.0),
                                                     _visit("v2", 120, 50.0, None, 30.0),
                                                     _visit("v3", 180, 30.0, 20.0, 15.0, new_lesions=True)])
    # v1: Q not evaluated, the other two 65 mm: no PD shown against the nadir (baseline 100) -> NE.
    # v2: 80 mm of the evaluated two, still below the nadir 100 (NE visits do not set it) -> NE.
    # v3: all evaluated, 65 mm = -35 % -> PR for the targets.
    assert [r["target_response"] for r in rows] == ["NE", "NE", "PR"]
    assert rows[2]["overall_response"] == "PD"  # a new lesion is progression
    rows = evaluate_visits(THREE, ["P", "Q", "R"], [_visit("v1", 60, 30.0, 20.0, 10.0),
                                                     _visit("v2", 120, 50.0, None, 20.0)])
    # v2: 70 mm evaluated is +10 mm (+16.7 %) over the nadir 60: not PD from the evaluated ones -> NE.
    assert rows[1]["target_response"] == "NE"
    rows = evaluate_visits(THREE, ["P", "Q", "R"], [_visit("v1", 60, 30.0, 20.0, 10.0),
                                                     _visit("v2", 120, 60.0, None, 20.0)])
    # v2: 80 mm evaluated is +33 % and +20 mm over 60: PD even without Q.
    assert rows[1]["target_response"] == "PD"


def test_overall_response_tables_1_and_2():
    assert overall_response("SD", "NE", False) == "SD"
    assert overall_response("PR", None, False) == "PR"
    assert overall_response("NE", "non-CR/non-PD", False) == "NE"
    assert overall_response(None, "CR", False) == "CR"                 # table 2: non-target disease only
    assert overall_response(None, "non-CR/non-PD", False) == "non-CR/non-PD"
    assert overall_response(None, "CR", True) == "PD"


def test_best_overall_response_and_confirmation():
    rows = [{"visit": "w4", "days_after_start": 30, "overall_response": "SD"},
            {"visit": "m3", "days_after_start": 91, "overall_response": "PR"},
            {"visit": "m6", "days_after_start": 182, "overall_response": "PD"},
            {"visit": "m9", "days_after_start": 273, "overall_response": "CR"}]
    # SD before 42 days does not count; PR at m3; PD at m6 ends the assessment (CR after PD ignored).
    best = best_overall_response(rows)
    assert (best["best_overall_response"], best["reached_at_visit"], best["progression_visit"]) == ("PR", "m3", "m6")
    # With confirmation, the PR at m3 is not confirmed (the next visit is PD): it counts as SD.
    assert best_overall_response(rows, confirmation=True)["best_overall_response"] == "SD"
    confirmed = [{"visit": "m3", "days_after_start": 91, "overall_response": "PR"},
                 {"visit": "m4", "days_after_start": 112, "overall_response": "PR"},   # 21 days later: too early
                 {"visit": "m6", "days_after_start": 182, "overall_response": "CR"}]   # 91 days after m3: confirms PR
    result = best_overall_response(confirmed, confirmation=True)
    assert result["best_overall_response"] == "PR" and result["progression_visit"] is None
    early_pd = [{"visit": "w4", "days_after_start": 30, "overall_response": "SD"},
                {"visit": "w8", "days_after_start": 60, "overall_response": "PD"}]
    assert best_overall_response(early_pd)["best_overall_response"] == "PD"
    assert best_overall_response([])["best_overall_response"] == "NE"


def test_volumetric_thresholds_are_the_cubed_recist_ones():
    # (1 - 0.3)^3 = 0.343: 3.43 mL of 10 mL is PR, 3.44 mL is not.
    assert volumetric_course(10.0, [3.43])[0]["volumetric_response"] == "PR"
    assert volumetric_course(10.0, [3.44])[0]["volumetric_response"] == "SD"
    # (1 + 0.2)^3 = 1.728 over the nadir 3.0 mL: 5.184 mL is PD, 5.18 mL is not.
    rows = volumetric_course(10.0, [3.0, 5.184, None, 0.0])
    assert [r["volumetric_response"] for r in rows] == ["PR", "PD", "NE", "CR"]
    assert rows[1]["volume_change_from_nadir_percent"] == pytest.approx(72.8)
    assert rows[0]["volume_change_percent"] == pytest.approx(-70.0)
    assert volumetric_course(10.0, [3.0, 5.18])[1]["volumetric_response"] == "SD"
    # A lesion that reappears after being gone progresses.
    assert [r["volumetric_response"] for r in volumetric_course(2.0, [0.0, 0.1])] == ["CR", "PD"]
