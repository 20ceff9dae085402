"""The follow-up in Slicer's scene (real MRML from slicer-core, no mocks): the module logic's
follow-up gives the lesion-course and visit tables, the volume chart and one markups line per
diameter, whose end points and length are the measured ones (docs/physics.md section 28)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from followup_builders import write_patient
from iahepaticprrt.mrml import adapter
from iahepaticprrt.mrml.followup_nodes import VISIT_ATTRIBUTE


@pytest.fixture(scope="module")
def patient(tmp_path_factory):
    folder = tmp_path_factory.mktemp("followup_mrml") / "p"
    truth = write_patient(folder, 5)
    return folder, truth


def test_follow_up_nodes_hold_the_report_numbers(module_logic, scene, patient):
    folder, truth = patient
    result, nodes = module_logic.compute_followup(folder / "manifest.json")
    report = result.report
    rows = adapter.rows_from_table_node(nodes.course_table)
    assert len(rows) == 6 * 5  # six lesions at baseline and four visits
    lesion = report["lesions"][0]
    row = next(r for r in rows if r["lesion"] == lesion["name"] and r["visit"] == "month 6")
    entry = lesion["course"][1]
    assert row["volume_ml"] == entry["volume_ml"] and row["longest_diameter_mm"] == entry["longest_diameter_mm"]
    assert row["volumetric_response"] == entry["volumetric_response"]
    assert nodes.course_table.GetColumnUnitLabel("volume_ml") == "mL"
    visits = adapter.rows_from_table_node(nodes.visits_table)
    assert [v["overall_response"] for v in visits] == [v["overall_response"] for v in truth["recist"]["visits"]]
    assert nodes.chart.GetNumberOfPlotSeriesNodes() == 6
    # One line per lesion and scan, its control points the measured end points in RAS.
    assert sorted(nodes.lines) == sorted(["baseline", "month 3", "month 6", "month 12", "month 18"])
    line = next(n for n in nodes.lines["month 6"] if n.GetName().startswith(lesion["name"] + " |"))
    assert line.GetAttribute(VISIT_ATTRIBUTE) == "month 6" and line.GetLocked()
    assert line.GetLineLengthWorld() == pytest.approx(entry["longest_diameter_mm"], abs=1e-6)
    ras = np.array([line.GetNthControlPointPosition(n) for n in range(2)])
    lps = np.array(entry["longest_diameter_end_points_lps_mm"])
    assert ras == pytest.approx(lps * np.array([-1.0, -1.0, 1.0]))


def test_showing_a_visit_shows_only_its_lines_and_loads_its_scan(module_logic, scene, patient):
    folder, _ = patient
    _, nodes = module_logic.compute_followup(folder / "manifest.json")
    assert all(line.GetDisplayNode().GetVisibility() for line in nodes.lines["baseline"])
    shown, volume = module_logic.show_followup_scan(nodes, "month 12")
    assert len(shown) == 6 and all(line.GetDisplayNode().GetVisibility() for line in shown)
    assert not any(line.GetDisplayNode().GetVisibility() for line in nodes.lines["baseline"])
    assert volume is not None and volume.GetName() == "Follow-up month 12"
    assert module_logic.show_followup_scan(nodes, "month 12")[1] is volume  # loaded once


def test_follow_up_needs_a_manifest_with_a_followup_section(module_logic, scene, patient, tmp_path):
    from iahepaticprrt.errors import InputError

    folder, _ = patient
    with pytest.raises(InputError, match="choose the patient's manifest"):
        module_logic.compute_followup("")
    manifest = json.loads((folder / "manifest.json").read_text())
    followup = manifest.pop("followup")
    manifest["dosimetry"] = {"time_points": [{"spect": str(folder / "series.nrrd"), "time_h": 4.0}],
                             "segmentation": str(folder / followup["baseline"]["segmentation"]),
                             "administered_mbq": 7400}
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="no followup section"):
        module_logic.compute_followup(tmp_path / "m.json")


def test_follow_up_known_answer_scenario(module_logic, scene, tmp_path):
    """The scenario the in-Slicer self-test runs (known_answers.followup_scenario)."""
    from iahepaticprrt import known_answers

    errors = known_answers.followup_scenario(module_logic, tmp_path)
    assert errors["max_volume_relative_error"] < 0.03 and errors["max_diameter_error_mm"] <= 1.0
    assert errors["responses_match_truth"] and errors["pfs_months_error"] < 1e-9
    assert errors["lines"] == errors["expected_lines"] == errors["course_rows"]


def test_export_report_with_the_follow_up(module_logic, scene, patient, tmp_path):
    folder, _ = patient
    result, _ = module_logic.compute_followup(folder / "manifest.json")
    report = module_logic.export_report(tmp_path / "out", followup_result=result, patient={"id": "FU-005"})
    html = report.read_text()
    assert "Follow-up: response and progression-free survival" in html
    assert (tmp_path / "out" / "followup" / "response.json").is_file()
