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
    assert nodes.results_table.GetColumnUnitLabel("mean_dose_gy") == "Gy"
    assert nodes.results_table.GetColumnUnitLabel("tia_mbqh") == "MBq h"
    # TAC chart: measured points and the fitted curve per VOI; DVH chart: one curve per VOI.
    assert nodes.tac_chart.GetNumberOfPlotSeriesNodes() == 2 * len(patient.regions)
    assert nodes.dvh_chart.GetNumberOfPlotSeriesNodes() == len(patient.regions)
    measured = nodes.tac_chart.GetNthPlotSeriesNode(0)
    table = measured.GetTableNode().GetTable()
    assert table.GetNumberOfRows() == len(patient.times_h)
    assert table.GetColumnByName("y").GetValue(0) == pytest.approx(patient.regions[0].activity_mbq(patient.times_h[0]),
                                                                    rel=1e-3)
