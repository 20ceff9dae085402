"""The uptake comparison through the Slicer module logic (headless host, real MRML nodes) gives the
same numbers as the command line on the same case."""

from __future__ import annotations

import json
import math

import pytest

from iahepaticprrt.cli import main
from iahepaticprrt.mrml import adapter
from iahepaticprrt.uptake.comparison import COLUMN_NAMES

import uptake_case as case


def _numbers(value, path=""):
    """Every number in a JSON-like structure, keyed by its path (provenance left out: it names inputs)."""
    out = {}
    if isinstance(value, dict):
        for key, item in value.items():
            if path == "" and key == "provenance":
                continue
            out.update(_numbers(item, f"{path}/{key}"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.update(_numbers(item, f"{path}/{index}"))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out[path] = value
    elif isinstance(value, bool) or value is None:
        out[path] = value
    return out


def test_module_logic_and_cli_give_identical_numbers(module_logic, scene, tmp_path, capsys):
    paths = case.write_case(tmp_path / "case")
    assert main(["uptake", "--ia", str(paths["pet_ia"]), "--iv", str(paths["pet_iv"]), "--ia-seg",
                 str(paths["seg_ia"]), "--iv-seg", str(paths["seg_iv"]), "-o", str(tmp_path / "cli")]) == 0
    capsys.readouterr()
    cli = json.loads((tmp_path / "cli" / "uptake.json").read_text())

    ia_node = module_logic.load_segmentation(paths["seg_ia"], name="IA segmentation")
    iv_node = module_logic.load_segmentation(paths["seg_iv"], name="IV segmentation")
    nodes = module_logic.compare_uptake(paths["pet_ia"], paths["pet_iv"], ia_node, iv_node)
    slicer_result = json.loads(json.dumps(nodes.result, default=str))  # the same JSON round trip as the file

    cli_numbers, slicer_numbers = _numbers(cli), _numbers(slicer_result)
    assert cli_numbers.keys() == slicer_numbers.keys()
    different = {k: (cli_numbers[k], slicer_numbers[k]) for k in cli_numbers if cli_numbers[k] != slicer_numbers[k]}
    assert not different
    assert cli["provenance"]["suv"] == slicer_result["provenance"]["suv"]
    assert slicer_result["vois"][0]["enhancement_ratio"] == pytest.approx(4.0, rel=1e-4)

    # The table node holds the CSV's rows, typed, with units.
    import vtk

    table = nodes.table_node
    assert [table.GetTable().GetColumn(c).GetName() for c in range(table.GetNumberOfColumns())] == COLUMN_NAMES
    assert table.GetColumnType("ia_suv_max") == vtk.VTK_DOUBLE and table.GetColumnUnitLabel("ia_suv_max") == "SUVbw"
    assert table.GetColumnUnitLabel("ia_volume_ml") == "mL" and table.GetColumnDescription("enhancement_ratio")
    rows = adapter.rows_from_table_node(table)
    assert [r["name"] for r in rows] == [v["name"] for v in cli["vois"]]
    for row, voi in zip(rows, cli["vois"]):
        for route in ("ia", "iv"):
            expected = (voi[route] or {}).get("suv_max")
            assert (math.isnan(row[f"{route}_suv_max"]) if expected is None else row[f"{route}_suv_max"] == expected)

    # Issue 14: the healthy liver and the liver reference sphere are rows; the ratio intervals are columns and
    # the patient's interval, probability and borderline flag are the table's attributes, as in uptake.json.
    by_name = {r["name"]: r for r in rows}
    assert by_name["Liver reference sphere"]["role"] == "reference" and "Healthy liver" in by_name
    for voi in cli["vois"]:
        interval = (voi.get("enhancement_ratio_interval") or {}).get("suv_peak")
        if interval:
            assert by_name[voi["name"]]["enhancement_ratio_suv_peak_ci_low"] == interval["ci_low"]
            assert by_name[voi["name"]]["enhancement_ratio_suv_peak_ci_high"] == interval["ci_high"]
    for key in ("mean_enhancement_ratio_ci_low", "mean_enhancement_ratio_ci_high", "probability_mean_at_least_threshold",
                "borderline"):
        assert table.GetAttribute(f"IAHepaticPRRT.{key}") == str(cli[key])

    # The chart: one bar series per route, one bar per VOI, labelled by VOI name.
    chart = nodes.chart_node
    assert chart.GetNumberOfPlotSeriesNodes() == 2
    series = chart.GetNthPlotSeriesNode(0)
    data = adapter.rows_from_table_node(series.GetTableNode())
    assert [d["label"] for d in data] == [v["name"] for v in cli["vois"]]
    assert data[0]["y"] == cli["vois"][0]["ia"]["suv_max"]
    import slicer

    assert series.GetPlotType() == slicer.vtkMRMLPlotSeriesNode.PlotTypeBar
    # SUV volume nodes carry the SUV unit.
    assert nodes.suv_volume_nodes["ia"].GetVoxelValueUnits().GetCodeValue() == "{SUVbw}g/ml"


def test_empty_segment_in_a_node_gets_its_warning(module_logic, scene, tmp_path):
    from iahepaticprrt.io.segmentation_files import read_segmentation, write_seg_nrrd

    paths = case.write_case(tmp_path / "case")
    seg = read_segmentation(paths["seg_iv"])
    seg.segments[[s.name for s in seg.segments].index("Spleen")].mask[:] = False
    write_seg_nrrd(seg, tmp_path / "iv.seg.nrrd")
    ia_node = module_logic.load_segmentation(paths["seg_ia"])
    iv_node = module_logic.load_segmentation(tmp_path / "iv.seg.nrrd")
    nodes = module_logic.compare_uptake(paths["pet_ia"], paths["pet_iv"], ia_node, iv_node, add_suv_volumes=False)
    spleen = next(v for v in nodes.result["vois"] if v["name"] == "Spleen")
    assert spleen["iv"]["suv_mean"] is None and any("iv: empty segment" in w for w in spleen["warnings"])


def test_panel_verdict_states_how_sure_it_is():
    from iahepaticprrt.mrml.uptake_nodes import verdict_text

    result = {"eligible": True, "mean_enhancement_ratio": 3.19, "threshold": 3.0, "mean_enhancement_ratio_ci_low": 2.94,
              "mean_enhancement_ratio_ci_high": 3.44, "probability_mean_at_least_threshold": 0.93, "borderline": True,
              "uncertainty": {"confidence": 0.95}}
    assert verdict_text(result) == ("ELIGIBLE for the intra-arterial 177Lu cycle: mean enhancement ratio 3.19 (threshold "
                                    "3). 95 % interval 2.94 to 3.44; probability of reaching the threshold 0.93. "
                                    "BORDERLINE: the interval contains the threshold.")
    assert verdict_text(dict(result, eligible=None)).startswith("No enhancement ratio")
    assert verdict_text(dict(result, mean_enhancement_ratio_ci_low=None)).endswith("(threshold 3).")
