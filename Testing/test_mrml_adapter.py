"""Volume, table and plot nodes through the adapter on Slicer's real MRML scene."""

from __future__ import annotations

import numpy as np
import pytest

from iahepaticprrt.imaging.grid import Grid
from iahepaticprrt.imaging.volume import Volume
from iahepaticprrt.io.volume_files import read_volume
from iahepaticprrt.known_answers import oblique_grid
from iahepaticprrt.mrml import adapter


def test_volume_node_round_trip_keeps_values_geometry_and_unit(scene):
    grid = oblique_grid()
    values = np.random.default_rng(1).random(grid.shape_kji).astype(np.float32)
    node = adapter.volume_node_from_volume(scene, Volume(values, grid, "Bq/mL"), "activity")
    back = adapter.volume_from_node(node)
    np.testing.assert_array_equal(back.array, values)
    assert back.grid.is_same(grid, 1e-9)
    assert back.unit == "Bq/mL"
    assert node.GetVoxelValueUnits().GetCodeValue() == "Bq/ml"
    values[0, 0, 0] = 42.0  # the node holds a copy
    assert adapter.volume_from_node(node).array[0, 0, 0] != 42.0


def test_linear_parent_transform_is_applied(scene):
    import vtk

    grid = Grid((2, 2, 2), (1.0, 1.0, 1.0))
    node = adapter.volume_node_from_volume(scene, Volume(np.zeros(grid.shape_kji, np.float32), grid), "v")
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    m = vtk.vtkMatrix4x4()
    m.SetElement(0, 3, 10.0)  # +10 mm in R = -10 mm in L
    transform.SetMatrixTransformToParent(m)
    node.SetAndObserveTransformNodeID(transform.GetID())
    assert adapter.volume_from_node(node).grid.origin_lps_mm == pytest.approx((-10.0, 0.0, 0.0))


def test_volume_saved_through_storage_node_reads_back(scene, tmp_path):
    grid = oblique_grid()
    values = np.arange(np.prod(grid.shape_kji), dtype=np.float32).reshape(grid.shape_kji)
    node = adapter.volume_node_from_volume(scene, Volume(values, grid), "ramp")
    adapter.save_node(node, tmp_path / "ramp.nrrd")
    assert [p.name for p in tmp_path.iterdir()] == ["ramp.nrrd"]  # no temporary file left
    back = read_volume(tmp_path / "ramp.nrrd")
    np.testing.assert_array_equal(back.array, values)
    assert back.grid.is_same(grid, 1e-5)


def test_table_columns_carry_types_units_and_descriptions(scene):
    columns = [
        adapter.Column("name", "string", description="VOI name"),
        adapter.Column("suv_max", "double", "g/mL", "hottest voxel SUV"),
        adapter.Column("voxel_count", "int", "voxels", "number of voxels"),
    ]
    rows = [{"name": "Lesion 1", "suv_max": 12.5, "voxel_count": 33}, {"name": "Spleen", "suv_max": 4.25, "voxel_count": 900}]
    node = adapter.table_node_from_rows(scene, "stats", columns, rows)
    assert node.GetColumnUnitLabel("suv_max") == "g/mL"
    assert node.GetColumnDescription("voxel_count") == "number of voxels"
    import vtk

    assert node.GetColumnType("suv_max") == vtk.VTK_DOUBLE
    assert node.GetColumnType("voxel_count") == vtk.VTK_INT
    assert node.GetColumnType("name") == vtk.VTK_STRING
    assert adapter.rows_from_table_node(node) == rows


def test_table_saved_as_csv_with_schema(scene, tmp_path):
    node = adapter.table_node_from_rows(scene, "t", [adapter.Column("volume_ml", "double", "mL", "VOI volume")],
                                        [{"volume_ml": 1.5}])
    adapter.save_node(node, tmp_path / "t.csv")
    import csv

    with open(tmp_path / "t.csv", newline="") as f:
        assert list(csv.reader(f)) == [["volume_ml"], ["1.5"]]
    schema = (tmp_path / "t.schema.csv").read_text()
    assert "mL" in schema and "VOI volume" in schema


def test_bar_chart_of_two_routes(scene):
    chart = adapter.plot_chart_node(scene, "SUVmax per VOI", [
        adapter.PlotSeries("intra-arterial", [0, 1], [10.0, 8.0], labels=["Lesion 1", "Lesion 2"]),
        adapter.PlotSeries("intravenous", [0, 1], [3.0, 2.5], labels=["Lesion 1", "Lesion 2"]),
    ], plot_type="bar", y_title="SUVmax")
    assert chart.GetNumberOfPlotSeriesNodes() == 2
    series = chart.GetNthPlotSeriesNode(1)
    assert series.GetName() == "intravenous"
    table = series.GetTableNode()
    assert adapter.rows_from_table_node(table)[1] == {"label": "Lesion 2", "x": 1.0, "y": 2.5}
