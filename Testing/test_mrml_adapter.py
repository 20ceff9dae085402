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


def _segment_with_own_origin(node, name: str, mask: np.ndarray, grid: Grid) -> None:
    """A segment whose labelmap has its own image-to-world matrix (origin at its first voxel), as
    segments read from different files are stored."""
    import slicer
    import vtk
    from vtk.util import numpy_support

    labelmap = slicer.vtkOrientedImageData()
    labelmap.SetDimensions(*grid.size_ijk)
    labelmap.SetImageToWorldMatrix(adapter._vtk_matrix(grid.ijk_to_ras()))
    labelmap.GetPointData().SetScalars(numpy_support.numpy_to_vtk(
        np.ascontiguousarray(mask.astype(np.uint8)).ravel(), deep=True, array_type=vtk.VTK_UNSIGNED_CHAR))
    segment = slicer.vtkSegment()
    segment.SetName(name)
    segment.AddRepresentation(slicer.vtkSegmentationConverter.GetSegmentationBinaryLabelmapRepresentationName(),
                              labelmap)
    node.GetSegmentation().AddSegment(segment)


def test_segments_stored_with_different_origins_keep_every_voxel(scene):
    """Two 5 x 5 x 5 mm cubes on one 1 mm lattice, each labelmap with its own origin (20 mm apart):
    both read back whole (125 voxels each) at their own place."""
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "two origins")
    for name, origin in (("A", 0.0), ("B", 20.0)):
        grid = Grid((5, 5, 5), (1.0, 1.0, 1.0), (origin, origin, origin), np.eye(3))
        _segment_with_own_origin(node, name, np.ones(grid.shape_kji, bool), grid)
    segmentation = adapter.segmentation_from_node(node)
    assert [s.voxel_count for s in segmentation.segments] == [125, 125]
    assert segmentation.grid.shape_kji == (25, 25, 25) and segmentation.grid.origin_lps_mm == (0.0, 0.0, 0.0)
    b = np.argwhere(segmentation.mask("B"))
    assert segmentation.grid.index_to_lps(b.min(axis=0)[::-1]) == pytest.approx([20.0, 20.0, 20.0])


def test_set_segment_adds_or_replaces_one_segment_on_the_lattice(scene):
    grid = Grid((10, 10, 10), (2.0, 2.0, 2.0), (0.0, 0.0, 0.0), np.eye(3))
    mask = np.zeros(grid.shape_kji, bool)
    mask[2:4, 2:4, 2:4] = True
    from iahepaticprrt.imaging.segmentation import Segmentation

    node = adapter.segmentation_node_from_segmentation(scene, Segmentation(grid, [], ""), "VOIs")
    node.GetSegmentation().RemoveAllSegments()
    adapter.set_segment(node, "A", mask, grid, (1.0, 0.0, 0.0))
    far = adapter.lattice_grid_covering(adapter.segmentation_lattice(node), [[40.0, 40.0, 40.0], [44.0, 44.0, 44.0]])
    assert far.spacing_mm == (2.0, 2.0, 2.0) and far.origin_lps_mm == (38.0, 38.0, 38.0)  # one voxel to spare
    adapter.set_segment(node, "B", np.ones(far.shape_kji, bool), far)
    adapter.set_segment(node, "A", np.ones((1, 1, 1), bool), Grid((1, 1, 1), (2.0,) * 3, (4.0,) * 3, np.eye(3)))
    segmentation = adapter.segmentation_from_node(node)
    assert {s.name: s.voxel_count for s in segmentation.segments} == {"A": 1, "B": far.shape_kji[0] ** 3}
    assert segmentation.names == ["A", "B"] and segmentation.segment("A").color == pytest.approx((1.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="lattice"):
        adapter.set_segment(node, "C", mask, Grid((10, 10, 10), (2.0,) * 3, (1.0, 0.0, 0.0), np.eye(3)))
