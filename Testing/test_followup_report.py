"""The follow-up in the HTML reports: the patient report's section shows response.json's numbers and
its charts; the cohort fragments (Kaplan-Meier with its band, dose-response) show
cohort_summary.json's numbers."""

from __future__ import annotations

import re

import pytest

from followup_builders import write_patient
from iahepaticprrt.report.followup_sections import (
    cohort_followup_section,
    dose_response_chart,
    kaplan_meier_chart,
)
from iahepaticprrt.report.patient_report import render_report
from iahepaticprrt.study.followup_cohort import cohort_followup, lesion_rows
from iahepaticprrt.study.followup_run import run_followup
from iahepaticprrt.study.manifest import read_manifest


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    root = tmp_path_factory.mktemp("followup_report")
    out = []
    for seed in (1, 5, 7):  # a new lesion at 6 months; censored; progression at 12 months
        write_patient(root / str(seed), seed)
        manifest = read_manifest(root / str(seed) / "manifest.json")
        out.append(run_followup(manifest.data, manifest.path, patient_id=manifest.patient_id).report)
    return out


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def test_patient_report_section_shows_the_response_numbers(reports):
    report = reports[0]
    html = render_report(followup=report, patient={"id": "FU-001"})
    assert "Follow-up: response and progression-free survival" in html
    assert f"Best overall response (RECIST 1.1): {report['recist']['best_overall_response']}" in html
    assert "New lesion at month 6" in html
    for visit in report["visits"]:
        assert f"{visit['recist']['sum_of_diameters_mm']:.4g} mm" in html  # sums shown to 4 digits
    lesion = report["lesions"][0]
    entry = lesion["course"][0]
    assert f"{_fmt(entry['volume_ml'])} mL / {_fmt(entry['longest_diameter_mm'])} mm" in html
    assert html.count("<svg") == 2 and "Lesion volume over the follow-up" in html
    assert "Absorbed dose and volume change" in html and "Dose-response of this patient" in html
    assert not re.search(r"<script", html)


def test_the_summary_states_the_follow_up_and_a_de_identified_report_has_no_dates(reports):
    report = reports[2]  # seed 7: progression at 12 months
    html = render_report(followup=report, patient={"id": "FU-007", "name": "Doe^Jane"})
    summary = html[html.index('<section id="summary">'):html.index("</section>")]
    assert f"Best overall response (RECIST 1.1): {report['recist']['best_overall_response']}" in summary
    assert "progression: month 12" in summary and "RECIST 1.1 progression" in summary
    assert report["visits"][0]["date"][:10] in html  # identified: the visit's calendar date
    hidden = render_report(followup=report, patient={"id": "FU-007", "name": "Doe^Jane"}, deidentify=True)
    assert not re.search(r"\d{4}-\d{2}-\d{2}", hidden), re.findall(r"\d{4}-\d{2}-\d{2}", hidden)[:3]
    assert "Doe" not in hidden and "FU-007" not in hidden
    # Days counted from the start of the cycle: the first visit (month 3) falls on day +91 or so.
    days = (report["visits"][0]["days_after_start"])
    assert f"day +{int(days)}" in hidden


def test_cohort_fragments(reports):
    outcomes = [{"status": "ok", "results": {"followup": r}} for r in reports]
    summary = cohort_followup(outcomes)
    assert summary["patients_with_followup"] == 3
    html = cohort_followup_section(summary, {"month 3": lesion_rows(reports, "month 3")})
    assert "Follow-up of the cohort" in html and "Progression-free survival (Kaplan-Meier, 95 % band)" in html
    assert "<polygon" in html  # the confidence band
    assert "Dose-response at month 3" in html
    assert f"{summary['pfs']['n']} patients, {summary['pfs']['events']} events" in html
    km = kaplan_meier_chart(summary["pfs"])
    assert km.startswith("<svg") and "censored" in km
    rows = lesion_rows(reports, "month 3")
    assert len(rows) == 18 and {"absorbed_dose_gy", "volume_change_percent", "responded"} <= set(rows[0])
    fit = {"estimable": True, "intercept": -5.0, "slope_per_gy": 0.2, "d50_gy": 25.0}
    chart = dose_response_chart(rows, fit, "Dose-response")
    assert "D50 25 Gy" in chart and chart.count("<polyline") == 1


def test_p_values_as_journals_print_them():
    def visit(p_value):
        return {"absorbed_dose": {"spearman": {"rho": -0.7219, "p_value": p_value},
                                  "logistic": {"n": 138, "d50_gy": 25.6, "d50_ci_gy": [21.3, 30.4]},
                                  "roc": {"auc": 0.943, "ci_low": 0.891, "ci_high": 0.99}}}
    followup = {"pfs": {"n": 3, "events": 1, "landmark_months": 18.0},
                "dose_response": {"per_visit": {"month 3": visit(1.68e-12), "month 6": visit(0.04321)}}}
    html = cohort_followup_section(followup)
    assert "-0.722 (p &lt; 0.001)" in html and "-0.722 (p 0.043)" in html
    assert "25.6 Gy [21.3, 30.4]" in html and "PFS at 18 months" in html
