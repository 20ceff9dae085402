"""MRML nodes to and from the package's arrays.

Every function takes the scene (or node) it works on, so the same code serves inside Slicer and on
the headless host. Geometry goes through :class:`~iahepaticprrt.imaging.grid.Grid` (LPS) and Slicer's
IJKToRAS matrix (RAS); arrays are always copied, so a node and an array never share memory.
Files are written through storage nodes (no ``slicer.app`` needed).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..imaging.grid import LPS_TO_RAS, Grid
from ..imaging.segmentation import Segmentation, resample_mask
from ..imaging.volume import Volume
from ..io.output_files import atomic_path

#: Unit attribute kept on volume nodes (what a voxel holds), read back by volume_from_node.
UNIT_ATTRIBUTE = "IAHepaticPRRT.Unit"

#: UCUM codes for Slicer's VoxelValueUnits (the codes Slicer's PET extensions use).
_UCUM = {
    "Bq/mL": ("Bq/ml", "Becquerels/milliliter"),
    "HU": ("[hnsf'U]", "Hounsfield unit"),
    "Gy": ("Gy", "Gray"),
    "MBq h": ("MBq.h", "Megabecquerel hour"),
    "SUVbw": ("{SUVbw}g/ml", "Standardized Uptake Value body weight"),
    "SUVlbm": ("{SUVlbm}g/ml", "Standardized Uptake Value lean body mass (James)"),
    "SUVlbmJanma": ("{SUVlbm(Janma)}g/ml", "Standardized Uptake Value lean body mass (Janmahasatian)"),
    "SUVbsa": ("{SUVbsa}cm2/ml", "Standardized Uptake Value body surface area"),
    "SUVibw": ("{SUVibw}g/ml", "Standardized Uptake Value ideal body weight"),
    "counts": ("{counts}", "Counts"),
}


# ---- volumes ---------------------------------------------------------------------------------
def _vtk_matrix(array: np.ndarray):
    import vtk

    m = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            m.SetElement(r, c, float(array[r, c]))
    return m


def _numpy_matrix(vtk_matrix) -> np.ndarray:
    return np.array([[vtk_matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def _set_voxel_units(node, unit: str) -> None:
    import slicer

    node.SetAttribute(UNIT_ATTRIBUTE, unit)
    if unit in _UCUM and hasattr(node, "SetVoxelValueUnits"):
        code, meaning = _UCUM[unit]
        entry = slicer.vtkCodedEntry()
        entry.SetValueSchemeMeaning(code, "UCUM", meaning)
        node.SetVoxelValueUnits(entry)


def volume_node_from_volume(scene, volume: Volume, name: str, node=None, label: bool = False):
    """Put ``volume`` into a scalar (or label map) volume node, creating it when ``node`` is None."""
    import vtk
    from vtk.util import numpy_support

    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode" if label else "vtkMRMLScalarVolumeNode", name)
    array = np.ascontiguousarray(volume.array)
    image = vtk.vtkImageData()
    image.SetDimensions(*volume.grid.size_ijk)
    scalars = numpy_support.numpy_to_vtk(array.ravel(), deep=True)
    image.GetPointData().SetScalars(scalars)
    node.SetAndObserveImageData(image)
    node.SetIJKToRASMatrix(_vtk_matrix(volume.grid.ijk_to_ras()))
    if volume.unit:
        _set_voxel_units(node, volume.unit)
    for key, value in volume.metadata.items():
        if isinstance(value, (str, int, float)):
            node.SetAttribute(f"IAHepaticPRRT.{key}", str(value))
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    return node


def _parent_to_world(node, what: str) -> np.ndarray:
    """The node's linear parent transform to world (identity without one); non-linear ones are refused."""
    import vtk

    parent = node.GetParentTransformNode()
    if parent is None:
        return np.eye(4)
    if not parent.IsTransformToWorldLinear():
        raise InputError(f"the {what} is under a non-linear transform: harden it first", node.GetName(),
                         "parent transform")
    to_world = vtk.vtkMatrix4x4()
    parent.GetMatrixTransformToWorld(to_world)
    return _numpy_matrix(to_world)


def _world_ijk_to_ras(node) -> np.ndarray:
    """IJK -> world RAS, with a linear parent transform applied."""
    import vtk

    ijk_to_ras = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(ijk_to_ras)
    return _parent_to_world(node, "volume") @ _numpy_matrix(ijk_to_ras)


def grid_from_ijk_to_ras(ijk_to_ras: np.ndarray, size_ijk) -> Grid:
    ijk_to_lps = LPS_TO_RAS @ ijk_to_ras  # the flip is its own inverse
    axes = ijk_to_lps[:3, :3]
    spacing = np.linalg.norm(axes, axis=0)
    return Grid(tuple(reversed(size_ijk)), spacing, ijk_to_lps[:3, 3], axes / spacing)


def volume_from_node(node) -> Volume:
    """Copy a volume node's voxels and world geometry into a :class:`Volume`."""
    from vtk.util import numpy_support

    image = node.GetImageData() if node is not None else None
    if image is None or image.GetPointData().GetScalars() is None:
        raise InputError("the volume node has no image data", node.GetName() if node else "volume node")
    if image.GetNumberOfScalarComponents() != 1:
        raise InputError("expected a scalar volume", node.GetName(), "scalar components")
    size = image.GetDimensions()
    grid = grid_from_ijk_to_ras(_world_ijk_to_ras(node), size)
    array = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(grid.shape_kji).copy()
    unit = node.GetAttribute(UNIT_ATTRIBUTE) or ""
    metadata = {"node_name": node.GetName()}
    for key in ("series_instance_uid", "modality", "source_folder", "source_file", "frame_of_reference_uid"):
        value = node.GetAttribute(f"IAHepaticPRRT.{key}")
        if value:
            metadata[key] = value
    return Volume(array, grid, unit, metadata)


def load_dicom_series_as_volume_node(scene, folder, name: str | None = None, series_uid: str | None = None):
    """Read a DICOM series folder (CT, PT) with the package's reader into a new volume node."""
    from ..io.dicom_series import read_series

    series = read_series(folder, series_uid=series_uid)
    label = name or series.volume.metadata.get("series_description") or Path(folder).name
    return volume_node_from_volume(scene, series.volume, label)


# ---- segmentations ---------------------------------------------------------------------------
def segmentation_node_from_segmentation(scene, segmentation: Segmentation, name: str, node=None):
    """Create (or fill) a segmentation node with one binary-labelmap segment per mask."""
    import slicer
    import vtk
    from vtk.util import numpy_support

    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
    node.GetSegmentation().RemoveAllSegments()
    ijk_to_ras = _vtk_matrix(segmentation.grid.ijk_to_ras())
    node.GetSegmentation().SetSourceRepresentationName(
        slicer.vtkSegmentationConverter.GetSegmentationBinaryLabelmapRepresentationName())
    for index, segment in enumerate(segmentation.segments):
        labelmap = slicer.vtkOrientedImageData()
        labelmap.SetDimensions(*segmentation.grid.size_ijk)
        labelmap.SetImageToWorldMatrix(ijk_to_ras)
        values = np.ascontiguousarray(segment.mask.astype(np.uint8)).ravel()
        labelmap.GetPointData().SetScalars(numpy_support.numpy_to_vtk(values, deep=True, array_type=vtk.VTK_UNSIGNED_CHAR))
        color = segment.color or (0.5, 0.5, 0.5)
        segment_id = node.GetSegmentation().AddEmptySegment(segment.name, segment.name, color)
        slicer.vtkSlicerSegmentationsModuleLogic.SetBinaryLabelmapToSegment(
            labelmap, node, segment_id, slicer.vtkSlicerSegmentationsModuleLogic.MODE_REPLACE,
            labelmap.GetExtent())
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    return node


def segmentation_from_node(node, grid: Grid | None = None, mode: str = "nearest") -> Segmentation:
    """Per-segment masks of a segmentation node.

    Without ``grid`` every segment comes on one grid of the node's stored lattice, covering the
    union of the segments' extents, without resampling (empty segments stay, empty). With ``grid``
    the segments are then resampled with :meth:`Segmentation.resampled` (the same code the command
    line uses, so both give the same voxels).
    """
    import slicer
    import vtk
    from vtk.util import numpy_support

    segmentation = node.GetSegmentation()
    labelmap_name = slicer.vtkSegmentationConverter.GetSegmentationBinaryLabelmapRepresentationName()
    if segmentation.GetNumberOfSegments() == 0:
        raise InputError("the segmentation has no segments", node.GetName(), "segments")
    if not segmentation.ContainsRepresentation(labelmap_name) and not node.CreateBinaryLabelmapRepresentation():
        raise InputError("cannot create a binary labelmap from this segmentation", node.GetName(), "representation")
    to_world = _parent_to_world(node, "segmentation")
    parts = []  # (name, image-to-world matrix, extent start (i, j, k) or None, mask or None, segment)
    for index in range(segmentation.GetNumberOfSegments()):
        segment = segmentation.GetSegment(segmentation.GetNthSegmentID(index))
        labelmap = segment.GetRepresentation(labelmap_name)
        matrix = vtk.vtkMatrix4x4()
        labelmap.GetImageToWorldMatrix(matrix)
        matrix = to_world @ _numpy_matrix(matrix)
        extent = labelmap.GetExtent()
        if extent[1] < extent[0] or labelmap.GetPointData().GetScalars() is None:
            parts.append((segment.GetName(), matrix, None, None, segment))
            continue
        size = (extent[1] - extent[0] + 1, extent[3] - extent[2] + 1, extent[5] - extent[4] + 1)
        scalars = numpy_support.vtk_to_numpy(labelmap.GetPointData().GetScalars())
        mask = scalars.reshape(size[::-1]) == segment.GetLabelValue()
        parts.append((segment.GetName(), matrix, np.array(extent[::2]), mask, segment))
    non_empty = [p for p in parts if p[3] is not None]
    lattice = (non_empty or parts)[0][1]
    if non_empty:
        # Each segment's index box in the lattice's indices (segments may be stored with another
        # image-to-world matrix: another origin, or another lattice altogether).
        to_lattice = np.linalg.inv(lattice)
        boxes = []
        for _, matrix, start, mask, _ in non_empty:
            corners = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)], float)
            corners = start + corners * (np.array(mask.shape[::-1]) - 1)
            mapped = (to_lattice @ matrix @ np.c_[corners, np.ones(8)].T)[:3].T
            boxes.append((np.floor(mapped.min(axis=0) + 1e-6), np.ceil(mapped.max(axis=0) - 1e-6)))
        lo = np.min([b[0] for b in boxes], axis=0).astype(int)
        hi = np.max([b[1] for b in boxes], axis=0).astype(int)
    else:
        lo = hi = np.zeros(3, int)
    own_grid = grid_from_ijk_to_ras(lattice @ _translation(*lo), tuple(hi - lo + 1))
    result = Segmentation(own_grid, source=node.GetName())
    for name, matrix, start, mask, segment in parts:
        full = np.zeros(own_grid.shape_kji, bool)
        if mask is not None:
            if np.allclose(matrix, lattice, atol=1e-6):
                offset = (start - lo)[::-1]
                full[tuple(slice(int(o), int(o) + n) for o, n in zip(offset, mask.shape))] = mask
            else:  # a segment stored on another lattice: nearest neighbour onto the first one
                stored = grid_from_ijk_to_ras(matrix @ _translation(*start), mask.shape[::-1])
                full = resample_mask(mask, stored, own_grid, "nearest")
        result.add(name, full, tuple(segment.GetColor()))
    return result if grid is None else result.resampled(grid, mode)


def segmentation_lattice(node) -> np.ndarray | None:
    """The IJK -> RAS matrix of the voxel lattice a segmentation node's labelmaps are stored on (its
    first non-empty segment's), or None when the node holds no voxel yet.

    Segments added to a node must be on this lattice: Slicer resamples the segments sharing a
    labelmap layer onto the geometry of a segment written on another lattice (a 1 mm lesion of 125
    voxels became 8 voxels when a 2 mm segment was added), so new segments are voxelised on it."""
    import slicer
    import vtk

    if node.GetParentTransformNode() is not None:
        raise InputError("the segmentation is under a transform: harden it first", node.GetName(), "parent transform")
    segmentation = node.GetSegmentation()
    labelmap_name = slicer.vtkSegmentationConverter.GetSegmentationBinaryLabelmapRepresentationName()
    if segmentation.GetNumberOfSegments() and not segmentation.ContainsRepresentation(labelmap_name):
        if not node.CreateBinaryLabelmapRepresentation():
            raise InputError("cannot create a binary labelmap from this segmentation", node.GetName(),
                             "representation")
    for index in range(segmentation.GetNumberOfSegments()):
        labelmap = segmentation.GetSegment(segmentation.GetNthSegmentID(index)).GetRepresentation(labelmap_name)
        if labelmap is None:
            continue
        extent = labelmap.GetExtent()
        if extent[1] < extent[0] or labelmap.GetPointData().GetScalars() is None:
            continue
        matrix = vtk.vtkMatrix4x4()
        labelmap.GetImageToWorldMatrix(matrix)
        return _numpy_matrix(matrix)
    return None


def lattice_grid_covering(lattice_ijk_to_ras: np.ndarray, corners_lps_mm) -> Grid:
    """The grid on ``lattice_ijk_to_ras`` (whole voxel steps) whose voxel centres cover the points
    ``corners_lps_mm``, with one voxel to spare on every side."""
    ras = np.asarray(corners_lps_mm, dtype=float).reshape(-1, 3) * np.array([-1.0, -1.0, 1.0])
    ijk = (np.linalg.inv(lattice_ijk_to_ras) @ np.c_[ras, np.ones(len(ras))].T)[:3].T
    lo = np.floor(ijk.min(axis=0)).astype(int) - 1
    hi = np.ceil(ijk.max(axis=0)).astype(int) + 1
    return grid_from_ijk_to_ras(lattice_ijk_to_ras @ _translation(*lo), tuple(int(n) for n in hi - lo + 1))


def set_segment(node, name: str, mask: np.ndarray, grid: Grid, color=None) -> str:
    """Put ``mask`` (on ``grid``, which must lie on the node's lattice when it has one) into the
    segment called ``name``, replacing its voxels when it exists, adding it otherwise; the other
    segments are left as they are. Returns the segment ID."""
    import slicer
    import vtk
    from vtk.util import numpy_support

    lattice = segmentation_lattice(node)
    if lattice is not None:
        steps = np.linalg.inv(lattice) @ grid.ijk_to_ras()
        if not (np.allclose(steps[:3, :3], np.eye(3), atol=1e-6)
                and np.allclose(steps[:3, 3], np.round(steps[:3, 3]), atol=1e-4)):
            raise ValueError("the mask's grid is not on the segmentation's voxel lattice")
    segmentation = node.GetSegmentation()
    segmentation.SetSourceRepresentationName(
        slicer.vtkSegmentationConverter.GetSegmentationBinaryLabelmapRepresentationName())
    labelmap = slicer.vtkOrientedImageData()
    if lattice is None:
        start, matrix = np.zeros(3, int), grid.ijk_to_ras()
    else:  # Slicer's own convention: one image-to-world matrix, each segment its extent on it
        start, matrix = np.round(steps[:3, 3]).astype(int), lattice
    size = np.array(grid.size_ijk)
    labelmap.SetExtent(*(int(v) for a in range(3) for v in (start[a], start[a] + size[a] - 1)))
    labelmap.SetImageToWorldMatrix(_vtk_matrix(matrix))
    values = np.ascontiguousarray(np.asarray(mask, dtype=bool).astype(np.uint8)).ravel()
    labelmap.GetPointData().SetScalars(numpy_support.numpy_to_vtk(values, deep=True, array_type=vtk.VTK_UNSIGNED_CHAR))
    # The segment gets its own labelmap layer (vtkSegment.AddRepresentation, then AddSegment): writing
    # it into a layer shared with other segments (SetBinaryLabelmapToSegment) cropped it to that
    # layer's extent (a 20 mm sphere kept 1949 of its 4169 voxels).
    segment_id = segmentation.GetSegmentIdBySegmentName(name)
    if segment_id:
        old = segmentation.GetSegment(segment_id)
        color = color or tuple(old.GetColor())
        index = segmentation.GetSegmentIndex(segment_id)
        segmentation.RemoveSegment(segment_id)
    else:
        segment_id, index = "", -1
    segment = slicer.vtkSegment()
    segment.SetName(name)
    segment.SetColor(*(tuple(color) if color else (0.5, 0.5, 0.5)))
    segment.AddRepresentation(slicer.vtkSegmentationConverter.GetSegmentationBinaryLabelmapRepresentationName(),
                              labelmap)
    if not segmentation.AddSegment(segment, segment_id, segmentation.GetNthSegmentID(index) if index >= 0 and
                                   index < segmentation.GetNumberOfSegments() else ""):
        raise InputError(f"Slicer could not add the segment '{name}'", node.GetName(), "segment")
    segment_id = segmentation.GetSegmentIdBySegmentName(name)
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    return segment_id


def _translation(i, j, k) -> np.ndarray:
    t = np.eye(4)
    t[:3, 3] = (i, j, k)
    return t


# ---- tables and plots ------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    """A result table column: its name (with the unit in it), value type, unit and meaning."""

    name: str
    value_type: str  # "string", "double", "int" or "bit"
    unit: str = ""
    description: str = ""
    title: str = ""


_VTK_ARRAYS = {"string": "vtkStringArray", "double": "vtkDoubleArray", "int": "vtkIntArray", "bit": "vtkBitArray"}


def table_node_from_rows(scene, name: str, columns: list[Column], rows: list[dict], node=None):
    """Fill a table node with typed columns carrying units and descriptions (as SegmentStatistics does)."""
    import vtk

    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    node.RemoveAllColumns()
    table = node.GetTable()
    for column in columns:
        array = getattr(vtk, _VTK_ARRAYS[column.value_type])()
        array.SetName(column.name)
        for row in rows:
            value = row.get(column.name)
            if column.value_type == "string":
                array.InsertNextValue("" if value is None else str(value))
            elif column.value_type == "double":
                array.InsertNextValue(float("nan") if value is None else float(value))
            else:
                array.InsertNextValue(0 if value is None else int(value))
        table.AddColumn(array)
        node.SetColumnType(column.name, array.GetDataType())
        if column.unit:
            node.SetColumnUnitLabel(column.name, column.unit)
        if column.description:
            node.SetColumnDescription(column.name, column.description)
        node.SetColumnTitle(column.name, column.title or column.name)
    node.SetUseColumnTitleAsColumnHeader(True)
    node.Modified()
    return node


def rows_from_table_node(node) -> list[dict]:
    """Read a table node back as a list of dicts (values typed by column)."""
    table = node.GetTable()
    rows = []
    for r in range(table.GetNumberOfRows()):
        row = {}
        for c in range(table.GetNumberOfColumns()):
            array = table.GetColumn(c)
            value = array.GetValue(r)
            row[array.GetName()] = value
        rows.append(row)
    return rows


@dataclass
class PlotSeries:
    name: str
    x: list
    y: list
    color: tuple[float, float, float] | None = None
    labels: list[str] | None = None  # category labels for bar charts


def plot_chart_node(scene, name: str, series: list[PlotSeries], plot_type: str = "line",
                    x_title: str = "", y_title: str = "", node=None):
    """A plot chart with one table-backed plot series per ``series`` entry.

    ``plot_type`` is ``"line"``, ``"scatter"`` or ``"bar"`` (bars use the labels as categories).
    """
    import slicer

    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", name)
    node.RemoveAllPlotSeriesNodeIDs()
    types = {"line": slicer.vtkMRMLPlotSeriesNode.PlotTypeLine,
             "scatter": slicer.vtkMRMLPlotSeriesNode.PlotTypeScatter,
             "bar": slicer.vtkMRMLPlotSeriesNode.PlotTypeBar}
    for entry in series:
        columns = [Column("x", "double"), Column("y", "double")]
        rows = [{"x": x, "y": y} for x, y in zip(entry.x, entry.y)]
        if entry.labels is not None:
            columns.insert(0, Column("label", "string"))
            for row, label in zip(rows, entry.labels):
                row["label"] = label
        table = table_node_from_rows(scene, f"{name} {entry.name} data", columns, rows)
        series_node = scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", entry.name)
        series_node.SetAndObserveTableNodeID(table.GetID())
        series_node.SetXColumnName("x")
        series_node.SetYColumnName("y")
        if entry.labels is not None:
            series_node.SetLabelColumnName("label")
        series_node.SetPlotType(types[plot_type])
        if entry.color is not None:
            series_node.SetColor(*entry.color)
        node.AddAndObservePlotSeriesNodeID(series_node.GetID())
    node.SetTitle(name)
    node.SetXAxisTitle(x_title)
    node.SetYAxisTitle(y_title)
    return node


# ---- files through storage nodes ------------------------------------------------------------
def save_node(node, path: str | os.PathLike) -> Path:
    """Write a node with its default storage node, atomically (temporary name, then rename)."""
    storage = node.GetStorageNode()
    if storage is None:
        storage = node.CreateDefaultStorageNode()
        node.GetScene().AddNode(storage)
        node.SetAndObserveStorageNodeID(storage.GetID())
    path = Path(path)
    with atomic_path(path) as tmp:
        storage.SetFileName(str(tmp))
        if not storage.WriteData(node):
            raise OSError(f"{path}: writing {node.GetClassName()} failed")
        # Some storage nodes write companion files named after the file (a table's .schema.csv):
        # give them the final name too.
        stem = tmp.name[: -len(_full_suffix(tmp.name))]
        final_stem = path.name[: -len(_full_suffix(path.name))]
        for companion in tmp.parent.glob(stem + "*"):
            if companion != tmp:
                companion.replace(path.parent / (final_stem + companion.name[len(stem):]))
    storage.SetFileName(str(path))
    return path


def _full_suffix(name: str) -> str:
    for suffix in (".seg.nrrd", ".nii.gz", ".schema.csv"):
        if name.lower().endswith(suffix):
            return suffix
    return Path(name).suffix


def load_node(scene, path: str | os.PathLike, node_class: str, name: str | None = None):
    """Read a file into a new node of ``node_class`` with that class's default storage node."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path)
    node = scene.AddNewNodeByClass(node_class, name or path.name.split(".")[0])
    storage = node.CreateDefaultStorageNode()
    scene.AddNode(storage)
    node.SetAndObserveStorageNodeID(storage.GetID())
    storage.SetFileName(str(path))
    if not storage.ReadData(node):
        scene.RemoveNode(node)
        raise InputError(f"cannot read as {node_class}", path)
    return node
