"""The Slicer panel: its .ui file against the module file, and its actions through the module logic
on the headless host (the in-Slicer self-test runs the same scenario)."""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from iahepaticprrt import known_answers
from iahepaticprrt.mrml.module_logic import ModuleLogic

ROOT = Path(__file__).resolve().parents[1]
UI = ROOT / "IAHepaticPRRT" / "Resources" / "UI" / "IAHepaticPRRT.ui"
MODULE = ROOT / "IAHepaticPRRT" / "IAHepaticPRRT.py"
INPUT_CLASSES = {"qMRMLNodeComboBox", "qMRMLCheckableNodeComboBox", "QComboBox", "QDoubleSpinBox", "QSpinBox",
                 "QCheckBox", "QLineEdit", "ctkPathLineEdit", "ctkDirectoryButton", "QDateTimeEdit", "QPushButton"}


def _widgets():
    widgets = {}
    for w in ET.parse(UI).getroot().iter("widget"):
        bound = [p.find("string").text for p in w.findall("property") if p.get("name") == "SlicerParameterName"]
        widgets[w.get("name")] = (w.get("class"), bound[0] if bound else None)
    return widgets


def _parameter_fields() -> set[str]:
    tree = ast.parse(MODULE.read_text())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "IAHepaticPRRTParameterNode":
            return {n.target.id for n in node.body if isinstance(n, ast.AnnAssign)}
    raise AssertionError("no IAHepaticPRRTParameterNode class in the module file")


def test_every_widget_the_module_uses_exists():
    used = set(re.findall(r"self\.ui\.(\w+)", MODULE.read_text()))
    missing = used - set(_widgets())
    assert not missing, f"used by the module file but absent from the .ui: {sorted(missing)}"


def test_every_input_widget_is_used_or_bound_to_the_parameter_node():
    used = set(re.findall(r"self\.ui\.(\w+)", MODULE.read_text()))
    fields = _parameter_fields()
    for name, (cls, parameter) in _widgets().items():
        if cls not in INPUT_CLASSES:
            continue
        if parameter is not None:
            assert parameter in fields, f"{name} is bound to '{parameter}', not a parameter node field"
        else:
            assert name in used, f"input widget {name} ({cls}) is neither bound nor used"
    bound = {parameter for _, parameter in _widgets().values() if parameter}
    assert fields == bound, f"parameter fields without a widget: {sorted(fields - bound)}"


def test_every_logic_call_of_the_panel_exists_on_the_module_logic():
    calls = set(re.findall(r"self\.logic\.(\w+)\(", MODULE.read_text())) - {"getParameterNode"}  # Slicer's base
    assert {"compare_uptake", "run_dosimetry", "export_report", "dicom_source_of_node", "dosimetry_inputs",
            "add_healthy_liver", "add_sphere", "add_isocontour"} <= calls
    for name in calls:
        assert callable(getattr(ModuleLogic, name, None)), name


def test_dicom_source_of_a_loaded_volume(tmp_path):
    grid, _ = known_answers.write_oblique_ct(tmp_path / "ct")
    files = sorted((tmp_path / "ct").iterdir())
    folder, uid = ModuleLogic.dicom_source(files)
    assert folder == str(tmp_path / "ct") and uid.startswith("2.25.")
    from iahepaticprrt.errors import InputError

    with pytest.raises(InputError, match="not loaded from DICOM"):
        ModuleLogic.dicom_source([])


def test_panel_actions_on_the_synthetic_patient(module_logic, tmp_path):
    errors = known_answers.panel_scenario(module_logic, tmp_path)
    assert errors["eligible_matches_truth"]
    assert errors["lesion_1_ratio_relative_error"] < 0.02
    assert errors["organ_tia_max_relative_error"] < 0.05
    assert errors["uptake_table_rows"] == errors["uptake_vois"]
    assert errors["uptake_chart_series"] == 2
    assert errors["dose_volume_unit"] == "Gy"
    assert errors["report_written"] and errors["results_match_report"]
    assert errors["time_points_in_acquisition_order"] and errors["administration_from_headers"]
    assert errors["unset_output_folder_refused"]


def test_voi_helpers_scenario_of_the_self_test(module_logic):
    # 60^3 liver voxels minus the 4169 lattice points within 10 mm of one lesion voxel, and a 20 mm
    # sphere of 4169 voxels (OEIS A000605, n = 10); the 125 voxels of the 5 mm cube at 41 % of 100.
    assert known_answers.voi_helpers_scenario(module_logic) == {
        "healthy_liver_voxels": 211831, "sphere_voxels": 4169, "isocontour_voxels": 125, "far_maximum_refused": True}


def _parameter_defaults() -> dict:
    tree = ast.parse(MODULE.read_text())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "IAHepaticPRRTParameterNode":
            return {n.target.id: (ast.literal_eval(n.value) if isinstance(n.value, ast.Constant) else
                                  ast.unparse(n.value) if n.value is not None else None)
                    for n in node.body if isinstance(n, ast.AnnAssign)}
    raise AssertionError("no IAHepaticPRRTParameterNode class in the module file")


def test_an_unedited_panel_takes_the_administration_time_from_the_headers_never_now():
    defaults = _parameter_defaults()
    # Unticked by default: the logic then uses RadiopharmaceuticalStartDateTime (administration_from_panel -> None).
    assert defaults["administrationTimeSet"] is False and defaults["administrationDateTime"] == ""
    assert ModuleLogic.administration_from_panel(False, "") is None
    calls = {ast.unparse(n.func) for n in ast.walk(ast.parse(MODULE.read_text())) if isinstance(n, ast.Call)}
    assert not {c for c in calls if c.endswith(("currentDateTime", "datetime.now", "datetime.today"))}
    # No default output folder: an untouched path parameter is Path("."), which the logic refuses.
    assert defaults["outputFolder"] is None


def test_the_dicom_database_comes_from_the_application():
    """slicer.dicomDatabase exists only once the DICOM module has started; slicer.app.dicomDatabase() always."""
    attributes = {ast.unparse(n) for n in ast.walk(ast.parse(MODULE.read_text())) if isinstance(n, ast.Attribute)}
    assert "slicer.dicomDatabase" not in attributes and "slicer.app.dicomDatabase" in attributes
