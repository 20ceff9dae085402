"""The HTML report: self-contained, summary first, numbers as given, de-identification."""

import re
import xml.etree.ElementTree as ET
from datetime import datetime

from iahepaticprrt.report.patient_report import render_report

UPTAKE = {
    "metric": "suv_max", "threshold": 3.0, "mean_enhancement_ratio": 3.75, "eligible": True,
    "vois": [
        {"name": "Lesion 1", "role": "target_lesion", "ia": {"suv_max": 30.0, "suv_peak": 25.0, "suv_mean": 20.0,
         "volume_ml": 14.1}, "iv": {"suv_max": 8.0, "suv_peak": 7.0, "suv_mean": 5.0, "volume_ml": 14.0},
         "enhancement_ratio": 3.75, "warnings": ["small lesion: partial volume biases SUVmax"]},
        {"name": "Spleen", "role": "organ", "ia": {"suv_max": 9.0}, "iv": {"suv_max": 21.0}, "enhancement_ratio": None},
    ],
    "ratios": {"tumour_to_healthy_liver": {"ia": 6.1, "iv": 1.9}},
    "provenance": {"inputs": {"ia_pet": "/data/NET-017-Doe/ia/pet"}, "software_version": "0.1.0"},
}
DOSIMETRY = {
    "vois": [{"name": "Left kidney", "role": "organ", "mass_g": 160.0, "model": "bi-exp", "tia_mbqh": 5000.0,
              "tia_uncertainty_mbqh": 400.0, "residence_time_h": 0.68, "absorbed_dose_gy": 2.67,
              "absorbed_dose_uncertainty_gy": 0.25, "d2_gy": 4.1, "d50_gy": 2.6, "d98_gy": 1.2, "bed_gy": 2.9,
              "ldm_voi_dose_gy": 2.61, "organ_s_value_dose_gy": 2.7,
              "absorbed_dose_method": "bi-exp fit of the VOI's time-activity curve; dose map by local deposition",
              "tac": [{"time_h": 4, "activity_mbq": 90}, {"time_h": 24, "activity_mbq": 80},
                      {"time_h": 96, "activity_mbq": 30}, {"time_h": 168, "activity_mbq": 12}]}],
    "limits": {"limits": {"kidney_dose_gy": {"this_cycle": 2.67, "previous_cycles": 16.0, "cumulative": 18.67,
                                             "limit": 23.0, "exceeded": False, "limit_source": "Bodei 2008"}},
               "kidney_voi": "Left kidney"},
}


def _render(**kwargs):
    return render_report(UPTAKE, DOSIMETRY, {"name": "Doe^Jane", "id": "NET-017"},
                         generated=datetime(2026, 3, 2, 12, 0), **kwargs)


def test_self_contained_and_well_formed_svg():
    html = _render(dvh={"Left kidney": ([0, 1, 2, 3, 4], [100, 98, 60, 10, 0])})
    assert "<script" not in html and "src=" not in html and "href=" not in html  # nothing external
    svgs = re.findall(r"<svg.*?</svg>", html, re.S)
    assert len(svgs) == 3  # bar chart, time-activity curves (organs), DVH
    for svg in svgs:
        ET.fromstring(svg)


def test_summary_first_with_verdict_and_limits():
    html = _render()
    summary = html.index("<h2>Summary</h2>")
    assert summary < html.index("<h2>Uptake") < html.index("<h2>Dosimetry") < html.index("<summary>Provenance")
    assert "Eligible for the intra-arterial 177Lu cycle: mean enhancement ratio 3.75 &ge; threshold 3</div>" in html
    assert "18.7 Gy" in html and "23.0 Gy" in html and "below" in html
    assert "small lesion: partial volume" in html


def test_not_eligible_and_exceeded_limit():
    uptake = dict(UPTAKE, mean_enhancement_ratio=2.4, eligible=False)
    limit = dict(DOSIMETRY["limits"]["limits"]["kidney_dose_gy"], cumulative=24.0, exceeded=True)
    dosimetry = dict(DOSIMETRY, limits={"limits": {"kidney_dose_gy": limit}})
    html = render_report(uptake, dosimetry, {}, generated=datetime(2026, 1, 1))
    assert "Not eligible" in html and "2.40 &lt; threshold 3</div>" in html and "EXCEEDED" in html


def test_deidentified_report_leaves_out_name_id_and_paths():
    html = _render(deidentify=True)
    assert "Doe" not in html and "NET-017" not in html
    assert "de-identified" in html
    named = _render()
    assert "Doe, Jane" in named and "/data/NET-017-Doe/ia/pet" in named


def test_interval_borderline_reference_regions_and_site():
    # Issue 14: the verdict's certainty, SUVpeak ratios beside SUVmax, reference regions, the site.
    uptake = dict(UPTAKE, mean_enhancement_ratio=3.1, mean_enhancement_ratio_ci_low=2.85, mean_enhancement_ratio_ci_high=3.4,
                  probability_mean_at_least_threshold=0.71, borderline=True, mean_enhancement_ratio_suv_max=3.1,
                  mean_enhancement_ratio_suv_peak=3.3,
                  uncertainty={"confidence": 0.95,
                               "suv_max": {"noise_corrected_mean_ratio": 3.2, "ci_low": 2.85, "ci_high": 3.4,
                                           "probability_at_least_threshold": 0.71, "borderline": True},
                               "suv_peak": {"noise_corrected_mean_ratio": 3.35, "ci_low": 3.2, "ci_high": 3.5,
                                            "probability_at_least_threshold": 1.0, "borderline": False},
                               "noise": {"ia": {"coefficient_of_variation": 0.151, "lag1_autocorrelation_ijk": [0.0, 0.1, 0.2]}}},
                  reference_regions={"healthy_liver_margin_mm": 14.0, "margin_rule": "2 x the PET FWHM of 7 mm",
                                     "ia": {"healthy_liver": {"definition": "segment 'Liver' minus every voxel within 14 mm"},
                                            "reference_sphere": {"centre_lps_mm": [-40.3, 1.6, 36.0]}}},
                  cross_calibration={"site": "Centre B", "ia": {"factor": 1.04}, "iv": {"factor": 1.04}})
    html = render_report(uptake, None, {}, generated=datetime(2026, 1, 1), site={"name": "Centre B"})
    summary = html[html.index("<h2>Summary</h2>"):html.index("<h2>Uptake")]
    assert "Borderline:</b> the interval contains the threshold" in summary
    assert "2.85 to 3.40" in summary and "reaches 3: 0.71" in summary
    assert "SUVpeak" in html and ">3.30</td>" in html and ">3.20 &ndash; 3.50</td>" in html
    assert "-40.3, 1.6, 36.0" in html and "within 14 mm" in html and ">0.15</td>" in html
    assert "site Centre B" in html and "IA 1.04" in html
