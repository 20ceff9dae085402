"""Predicted versus delivered 177Lu dose on a case whose every number is computed by hand below."""

from __future__ import annotations

import pytest

from iahepaticprrt.study.predicted_delivered import delivered_dose_gy, predicted_versus_delivered

UPTAKE = {
    "metric": "suv_max",
    "vois": [
        {"name": "Lesion 1", "role": "target_lesion", "enhancement_ratio": 4.0,
         "enhancement_ratio_interval": {"suv_max": {"ci_low": 3.5, "ci_high": 4.5}}},
        {"name": "Lesion 2", "role": "target_lesion", "enhancement_ratio": 2.0,
         "enhancement_ratio_interval": {"suv_max": {"ci_low": 1.8, "ci_high": 2.2}}},
        {"name": "Spleen", "role": "organ", "enhancement_ratio": None},
    ],
}
DOSIMETRY = {
    "net_administered_activity_mbq": 7304.0,
    "limits": {"dose_quantity": "mean_dose_gy (mean of the dose map over the VOI)"},
    "vois": [{"name": "Lesion 1", "mean_dose_gy": 30.0}, {"name": "Lesion 2", "mean_dose_gy": 8.0},
             {"name": "Left kidney", "mean_dose_gy": 2.0}, {"name": "Right kidney", "mean_dose_gy": 2.5},
             {"name": "Bone marrow", "mean_dose_gy": 0.2}],
}
#: Two earlier IV cycles of 7400 MBq; cycle 2 gives no Lesion 2 dose; names in another case/spacing.
CYCLES = [
    {"cycle": "1", "administered_mbq": 7400.0,
     "voi_doses_gy": {"Lesion 1": 8.0, "lesion  2": 5.0, "Left kidney": 3.0, "Right kidney": 3.4, "Bone marrow": 0.3}},
    {"cycle": "2", "administered_mbq": 7400.0,
     "voi_doses_gy": {"LESION 1": 6.0, "Left kidney": 3.0, "Right kidney": 3.4, "Bone marrow": 0.3}},
    {"cycle": "3", "kidney_dose_gy": 3.6},  # no VOI doses: not part of the IV reference
]
#: Every IV dose is scaled to the IA cycle's net activity: x 7304 / 7400 = 0.987027.
SCALE = 7304.0 / 7400.0


def test_every_number_of_the_lesion_table():
    result = predicted_versus_delivered(UPTAKE, DOSIMETRY, CYCLES)
    lesions = {e["name"]: e for e in result["lesions"]}
    one = lesions["Lesion 1"]
    # IV dose: mean of 8 and 6 Gy = 7 Gy, x 0.987027 = 6.909189 Gy; predicted x 4 = 27.636757 Gy, interval
    # x 3.5 and x 4.5 = 24.182162 .. 31.091351 Gy; delivered 30 Gy: 30 / 27.636757 = 1.085511; IA/IV 4.342043.
    assert one["iv_dose_gy"] == pytest.approx(6.909189, abs=1e-6) and one["iv_cycles"] == 2
    assert one["predicted_ia_dose_gy"] == pytest.approx(27.636757, abs=1e-6)
    assert one["predicted_ia_dose_ci_low_gy"] == pytest.approx(24.182162, abs=1e-6)
    assert one["predicted_ia_dose_ci_high_gy"] == pytest.approx(31.091351, abs=1e-6)
    assert one["delivered_ia_dose_gy"] == 30.0
    assert one["delivered_to_predicted_ratio"] == pytest.approx(1.085511, abs=1e-6)
    assert one["ia_to_iv_dose_ratio"] == pytest.approx(4.342043, abs=1e-6)
    assert (one["enhancement_ratio"], one["enhancement_ratio_ci_low"], one["enhancement_ratio_ci_high"]) == (4.0, 3.5, 4.5)
    two = lesions["Lesion 2"]
    # IV dose 5 Gy (cycle 1 only) x 0.987027 = 4.935135; predicted x 2 = 9.870270 (8.883243 .. 10.857297);
    # delivered 8: 0.810515.
    assert two["iv_dose_gy"] == pytest.approx(4.935135, abs=1e-6) and two["iv_cycles"] == 1
    assert two["predicted_ia_dose_gy"] == pytest.approx(9.870270, abs=1e-6)
    assert (two["predicted_ia_dose_ci_low_gy"], two["predicted_ia_dose_ci_high_gy"]) == pytest.approx(
        (8.883243, 10.857297), abs=1e-6)
    assert two["delivered_to_predicted_ratio"] == pytest.approx(0.810515, abs=1e-6)
    assert result["iv_reference"]["cycles"] == ["1", "2"] and result["iv_reference"]["activity_scaled"] is True
    assert result["dose_quantity"] == "mean_dose_gy" and not result["warnings"]


def test_organs_and_dose_ratios_of_both_routes():
    result = predicted_versus_delivered(UPTAKE, DOSIMETRY, CYCLES)
    organs = {o["name"]: o for o in result["organs"]}
    # Left kidney: IV 3.0 x 0.987027 = 2.961081, IA 2.0: 0.675429; right 3.4 -> 3.355892, IA 2.5: 0.744958;
    # marrow 0.3 -> 0.296108, IA 0.2: 0.675429.
    assert organs["Left kidney"]["iv_dose_gy"] == pytest.approx(2.961081, abs=1e-6)
    assert organs["Left kidney"]["ia_to_iv_dose_ratio"] == pytest.approx(0.675429, abs=1e-6)
    assert organs["Right kidney"]["ia_to_iv_dose_ratio"] == pytest.approx(0.744958, abs=1e-6)
    assert organs["Bone marrow"]["ia_to_iv_dose_ratio"] == pytest.approx(0.675429, abs=1e-6)
    iv, ia = result["dose_ratios"]["iv"], result["dose_ratios"]["ia"]
    # Kidney of record: the higher of left and right (IV right 3.4 x s, IA right 2.5). The scale cancels in IV
    # ratios: Lesion 1 7 / 3.4 = 2.058824, Lesion 2 5 / 3.4 = 1.470588, target mean (7 + 5) / 2 / 3.4 = 1.764706.
    assert iv["tumour_to_kidney"]["organ"] == "right kidney"
    assert iv["tumour_to_kidney"]["lesions"]["Lesion 1"] == pytest.approx(2.058824, abs=1e-6)
    assert iv["tumour_to_kidney"]["lesions"]["Lesion 2"] == pytest.approx(1.470588, abs=1e-6)
    assert iv["tumour_to_kidney"]["target_lesions_mean_ratio"] == pytest.approx(1.764706, abs=1e-6)
    # Marrow IV: 7 / 0.3 = 23.333333, target mean 6 / 0.3 = 20.
    assert iv["tumour_to_marrow"]["lesions"]["Lesion 1"] == pytest.approx(23.333333, abs=1e-6)
    assert iv["tumour_to_marrow"]["target_lesions_mean_ratio"] == pytest.approx(20.0)
    # IA: kidney 2.5: 30 / 2.5 = 12, 8 / 2.5 = 3.2, mean 19 / 2.5 = 7.6; marrow 0.2: 150, 40, 95.
    assert ia["tumour_to_kidney"]["lesions"] == pytest.approx({"Lesion 1": 12.0, "Lesion 2": 3.2})
    assert ia["tumour_to_kidney"]["target_lesions_mean_ratio"] == pytest.approx(7.6)
    assert ia["tumour_to_marrow"]["lesions"] == pytest.approx({"Lesion 1": 150.0, "Lesion 2": 40.0})
    assert ia["tumour_to_marrow"]["target_lesions_mean_ratio"] == pytest.approx(95.0)


def test_without_activities_the_doses_are_taken_as_given():
    cycles = [dict(CYCLES[0], administered_mbq=None), CYCLES[1]]
    result = predicted_versus_delivered(UPTAKE, DOSIMETRY, cycles)
    one = next(e for e in result["lesions"] if e["name"] == "Lesion 1")
    assert one["iv_dose_gy"] == 7.0 and one["predicted_ia_dose_gy"] == 28.0
    assert result["iv_reference"]["activity_scaled"] is False and "taken as given" in result["warnings"][0]


def test_the_one_function_that_says_which_dose_a_voi_has():
    # A row with absorbed_dose_gy (issue 11's dose of record) wins; else the limits' dose quantity.
    assert delivered_dose_gy({"absorbed_dose_gy": 5.0, "mean_dose_gy": 4.0}, DOSIMETRY) == (5.0, "absorbed_dose_gy")
    assert delivered_dose_gy({"mean_dose_gy": 4.0}, DOSIMETRY) == (4.0, "mean_dose_gy")
    pvc = {"limits": {"dose_quantity": "mean_dose_gy_voi_ldm (0.08532 x partial-volume-corrected TIA / mass)"}}
    assert delivered_dose_gy({"mean_dose_gy": 4.0, "mean_dose_gy_voi_ldm": 4.4}, pvc) == (4.4, "mean_dose_gy_voi_ldm")
    assert delivered_dose_gy({"mean_dose_gy": 4.0}, {}) == (4.0, "mean_dose_gy")


def test_no_iv_voi_doses_no_table():
    assert predicted_versus_delivered(UPTAKE, DOSIMETRY, [CYCLES[2]]) is None
    assert predicted_versus_delivered(None, DOSIMETRY, CYCLES) is None


def test_report_section_shows_the_same_numbers():
    from datetime import datetime

    from iahepaticprrt.report.patient_report import render_report

    result = predicted_versus_delivered(UPTAKE, DOSIMETRY, CYCLES)
    html = render_report(UPTAKE | {"threshold": 3.0, "mean_enhancement_ratio": 3.0, "eligible": True}, DOSIMETRY, {},
                         generated=datetime(2026, 1, 1), predicted_vs_delivered=result)
    section = html[html.index("<h2>Predicted versus delivered"):html.index("<summary>Provenance")]
    # Each as a table cell (3 significant digits): IV dose, predicted and interval, ratio; Lesion 2; organ
    # doses; the target-mean tumour-to-kidney and tumour-to-marrow ratios of both routes.
    for text in ("6.91", "27.6", "24.2 &ndash; 31.1", "1.09", "4.94", "9.87", "0.811", "2.96", "0.675", "0.745",
                 "1.76", "7.60", "20.0", "95.0"):  # three significant digits (report/formatting.py)
        assert f">{text}</td>" in section, text
