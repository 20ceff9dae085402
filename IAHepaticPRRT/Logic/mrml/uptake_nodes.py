"""The IA versus IV uptake comparison in a scene: SUV volume nodes, a results table and a bar chart.

The numbers come from :func:`iahepaticprrt.uptake.compare_routes`, the function the ``iahprrt
uptake`` command calls, on the same inputs: SUV from each PET's DICOM folder (a volume node has no
DICOM headers), and segments read from segmentation nodes on their own stored lattice (no
resampling here: the partial-voxel weights are computed from them exactly as from a .seg.nrrd).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..segmentation import Segmentation, resample_mask
from ..suv import SuvOverrides, suv_from_folder
from ..uptake import COLUMNS, ROUTES, UptakeParameters, compare_routes, table_rows
from . import adapter

ROUTE_COLOURS = {"ia": (0.85, 0.33, 0.10), "iv": (0.00, 0.45, 0.74)}
ROUTE_LABELS = {"ia": "intra-arterial", "iv": "intravenous"}


@dataclass
class UptakeNodes:
    """What the comparison put in the scene, and the uptake.json content."""

    result: dict
    table_node: object
    chart_node: object
    suv_volume_nodes: dict = field(default_factory=dict)


def segmentation_from_node_lattice(node) -> Segmentation:
    """Every segment of a segmentation node on one grid of its stored lattice (the union of the
    segments' extents), without resampling; empty segments stay (empty) so they get their warning."""
    import slicer
    import vtk
    from vtk.util import numpy_support

    segmentation = node.GetSegmentation()
    labelmap_name = slicer.vtkSegmentationConverter.GetSegmentationBinaryLabelmapRepresentationName()
    if segmentation.GetNumberOfSegments() == 0:
        raise InputError("the segmentation has no segments", node.GetName(), "segments")
    if not segmentation.ContainsRepresentation(labelmap_name) and not node.CreateBinaryLabelmapRepresentation():
        raise InputError("cannot create a binary labelmap from this segmentation", node.GetName(), "representation")
    to_world = np.eye(4)
    parent = node.GetParentTransformNode()
    if parent is not None:
        if not parent.IsTransformToWorldLinear():
            raise InputError("the segmentation is under a non-linear transform: harden it first", node.GetName(),
                             "parent transform")
        m = vtk.vtkMatrix4x4()
        parent.GetMatrixTransformToWorld(m)
        to_world = adapter._numpy_matrix(m)
    parts = []
    for index in range(segmentation.GetNumberOfSegments()):
        segment = segmentation.GetSegment(segmentation.GetNthSegmentID(index))
        labelmap = segment.GetRepresentation(labelmap_name)
        matrix = vtk.vtkMatrix4x4()
        labelmap.GetImageToWorldMatrix(matrix)
        extent = labelmap.GetExtent()
        if extent[1] < extent[0] or labelmap.GetPointData().GetScalars() is None:
            parts.append((segment.GetName(), to_world @ adapter._numpy_matrix(matrix), None, None, segment))
            continue
        size = (extent[1] - extent[0] + 1, extent[3] - extent[2] + 1, extent[5] - extent[4] + 1)
        scalars = numpy_support.vtk_to_numpy(labelmap.GetPointData().GetScalars())
        mask = scalars.reshape(size[::-1]) == segment.GetLabelValue()
        parts.append((segment.GetName(), to_world @ adapter._numpy_matrix(matrix), np.array(extent[::2]), mask, segment))
    lattice = parts[0][1]
    non_empty = [p for p in parts if p[3] is not None]
    if non_empty:
        lo = np.min([p[2] for p in non_empty], axis=0)
        hi = np.max([p[2] + np.array(p[3].shape[::-1]) - 1 for p in non_empty], axis=0)
    else:
        lo = hi = np.zeros(3, int)
    grid = adapter.grid_from_ijk_to_ras(lattice @ adapter._translation(*lo), tuple(hi - lo + 1))
    result = Segmentation(grid, source=node.GetName())
    for name, matrix, start, mask, segment in parts:
        full = np.zeros(grid.shape_kji, bool)
        if mask is not None:
            if np.allclose(matrix, lattice, atol=1e-6):
                offset = (start - lo)[::-1]
                full[tuple(slice(int(o), int(o) + n) for o, n in zip(offset, mask.shape))] = mask
            else:  # a segment stored on another lattice: nearest-neighbour onto the first one
                own = adapter.grid_from_ijk_to_ras(matrix @ adapter._translation(*start), mask.shape[::-1])
                full = resample_mask(mask, own, grid, "nearest")
        result.add(name, full, tuple(segment.GetColor()))
    return result


def _column_unit(unit: str, suv_unit: str) -> str:
    return unit.replace("{suv}", suv_unit)


def uptake_table_node(scene, result: dict, name: str = "Uptake IA vs IV", node=None):
    """A table node: one row per VOI, typed columns with units and descriptions (uptake.COLUMNS)."""
    columns = [adapter.Column(c_name, value_type, _column_unit(unit, result["suv_unit"]), description)
               for c_name, value_type, unit, description in COLUMNS]
    node = adapter.table_node_from_rows(scene, name, columns, table_rows(result), node)
    node.SetAttribute("IAHepaticPRRT.mean_enhancement_ratio", str(result["mean_enhancement_ratio"]))
    node.SetAttribute("IAHepaticPRRT.eligible", str(result["eligible"]))
    return node


def uptake_chart_node(scene, result: dict, name: str = "Uptake IA vs IV chart", node=None):
    """A bar chart: the comparison metric (SUVmax or SUVpeak) per VOI, IA next to IV."""
    metric = result["metric"]
    names = [v["name"] for v in result["vois"]]
    series = []
    for route in ROUTES:
        values = [(v[route] or {}).get(metric) for v in result["vois"]]
        series.append(adapter.PlotSeries(
            f"{ROUTE_LABELS[route]} {metric}", list(range(len(names))),
            [math.nan if value is None else value for value in values], ROUTE_COLOURS[route], names))
    return adapter.plot_chart_node(scene, name, series, "bar", "VOI", f"{metric} ({result['suv_unit']})", node)


def compare_uptake_in_scene(scene, ia_pet_folder, iv_pet_folder, ia_segmentation_node, iv_segmentation_node,
                            parameters: UptakeParameters = UptakeParameters(),
                            overrides: dict[str, SuvOverrides] | None = None, series_uids: dict | None = None,
                            mapping: dict | None = None, add_suv_volumes: bool = True) -> UptakeNodes:
    """Run the comparison on two PET folders and two segmentation nodes; fill table and chart nodes."""
    overrides = overrides or {}
    series_uids = series_uids or {}
    folders = {"ia": ia_pet_folder, "iv": iv_pet_folder}
    nodes = {"ia": ia_segmentation_node, "iv": iv_segmentation_node}
    parameters.check()
    suv = {route: suv_from_folder(folders[route], parameters.suv_type, overrides.get(route), series_uids.get(route))
           for route in ROUTES}
    segmentations = {route: segmentation_from_node_lattice(nodes[route]) for route in ROUTES}
    inputs = {"ia_pet": str(ia_pet_folder), "iv_pet": str(iv_pet_folder),
              "ia_segmentation": f"segmentation node '{ia_segmentation_node.GetName()}'",
              "iv_segmentation": f"segmentation node '{iv_segmentation_node.GetName()}'"}
    result = compare_routes(suv, segmentations, parameters, mapping, inputs)
    volume_nodes = {}
    if add_suv_volumes:
        for route in ROUTES:
            volume_nodes[route] = adapter.volume_node_from_volume(
                scene, suv[route].volume, f"{route.upper()} PET {suv[route].info['suv_unit']}")
    table = uptake_table_node(scene, result)
    chart = uptake_chart_node(scene, result)
    return UptakeNodes(result, table, chart, volume_nodes)
