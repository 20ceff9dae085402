"""Dosimetry results as MRML nodes on Slicer's real scene (headless host)."""

from __future__ import annotations

import numpy as np
import pytest

from iahepaticprrt.dosimetry.options import DosimetryOptions
from iahepaticprrt.mrml import adapter

import spect_builders as sb


def test_module_logic_run_dosimetry_makes_the_nodes(module_logic, tmp_path):
    patient = sb.default_patient()
    written = sb.write_patient(patient, tmp_path, ct=False)
    options = DosimetryOptions(7400.0, administration_datetime=sb.ADMINISTRATION, registration=False)
    result, nodes = module_logic.run_dosimetry([w["nm"] for w in written], tmp_path / "vois.seg.nrrd", options)
    dose = adapter.volume_from_node(nodes.dose_volume)
    assert dose.unit == "Gy" and dose.grid.is_same(patient.grid, 1e-6)
    np.testing.assert_array_equal(dose.array, result.dose.array)
    assert nodes.dose_volume.GetVoxelValueUnits().GetCodeValue() == "Gy"
    rows = adapter.rows_from_table_node(nodes.results_table)
    assert [r["name"] for r in rows] == [r.name for r in patient.regions]
    lesion = rows[0]
    assert lesion["tia_mbqh"] == pytest.approx(result.report["vois"][0]["tia_mbqh"])
    assert nodes.results_table.GetColumnUnitLabel("absorbed_dose_gy") == "Gy"
    assert nodes.results_table.GetColumnUnitLabel("absorbed_dose_uncertainty_gy") == "Gy"
    assert nodes.results_table.GetColumnUnitLabel("tia_mbqh") == "MBq h"
    # TAC chart: measured points and the fitted curve per VOI; DVH chart: one curve per VOI.
    assert nodes.tac_chart.GetNumberOfPlotSeriesNodes() == 2 * len(patient.regions)
    assert nodes.dvh_chart.GetNumberOfPlotSeriesNodes() == len(patient.regions)
    measured = nodes.tac_chart.GetNthPlotSeriesNode(0)
    table = measured.GetTableNode().GetTable()
    assert table.GetNumberOfRows() == len(patient.times_h)
    assert table.GetColumnByName("y").GetValue(0) == pytest.approx(patient.regions[0].activity_mbq(patient.times_h[0]),
                                                                    rel=1e-3)


def test_report_limits_cohort_csv_and_mrml_table_show_the_same_absorbed_dose(module_logic, tmp_path):
    """Issue 11: one number per VOI. The same cycle's absorbed_dose_gy read back from the MRML results
    table, the report's dosimetry table (first dose column) and its limits table, the limits entry of
    dosimetry.json and cohort.csv are one number (up to the report's 3 significant digits)."""
    import csv
    import html as html_module
    import re

    from iahepaticprrt.io.output_files import write_csv
    from iahepaticprrt.report.patient_report import render_report
    from iahepaticprrt.study.batch import COHORT_COLUMNS, cohort_rows

    patient = sb.default_patient()
    written = sb.write_patient(patient, tmp_path, ct=False)
    options = DosimetryOptions(7400.0, administration_datetime=sb.ADMINISTRATION, registration=False, method="vsv")
    result, nodes = module_logic.run_dosimetry([w["nm"] for w in written], tmp_path / "vois.seg.nrrd", options)
    report = result.report
    doses = {v["name"]: v["absorbed_dose_gy"] for v in report["vois"]}
    assert all(isinstance(d, float) and d > 0 for d in doses.values())
    # MRML results table.
    table = {r["name"]: r for r in adapter.rows_from_table_node(nodes.results_table)}
    for name, dose in doses.items():
        assert table[name]["absorbed_dose_gy"] == pytest.approx(dose, rel=1e-12)
        assert table[name]["absorbed_dose_method"] == next(v["absorbed_dose_method"] for v in report["vois"]
                                                           if v["name"] == name)
    # Limits (this cycle's kidney and marrow values).
    limits = report["limits"]["limits"]
    assert limits["kidney_dose_gy"]["this_cycle"] == doses["Left kidney"]
    assert limits["bone_marrow_dose_gy"]["this_cycle"] == doses["Bone marrow"]
    # cohort.csv, written as the batch writes it.
    path = tmp_path / "cohort.csv"
    write_csv(path, cohort_rows([{"manifest": "P1.json", "status": "ok", "results": {"patient_id": "P1",
                                                                                      "dosimetry": report}}]),
              COHORT_COLUMNS)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            assert float(row["absorbed_dose_gy"]) == doses[row["voi"]]
    # The report: the dosimetry table's first dose column and the limits table, 3 significant digits.
    page = render_report(None, report, {"id": "P1"}, dvh={n: (list(lv), list(100 * fr)) for n, (lv, fr) in
                                                         result.dvh.items()})
    header = re.search(r"<table><thead><tr>(.*?)</tr></thead>(.*?)</table>",
                       page[page.index("<h2>Dosimetry"):], re.S)
    columns = [html_module.unescape(c) for c in re.findall(r"<th[^>]*>(.*?)</th>", header.group(1))]
    assert columns.index("absorbed dose (Gy)") == 2  # the first dose column
    for row in re.findall(r"<tr>(.*?)</tr>", header.group(2), re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        assert float(cells[2]) == pytest.approx(float(f"{doses[cells[0]]:.3g}"), rel=1e-9)  # 3 significant digits
    summary = page[page.index("<h2>Summary"):page.index("<h2>Dosimetry")]
    assert f"{doses['Left kidney']:.3g} Gy" in summary and f"{doses['Bone marrow']:.3g} Gy" in summary
    assert "voxel S-value convolution" in page[page.index("<h2>Dosimetry"):]  # the method in the caption
