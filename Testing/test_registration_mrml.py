"""Registration results as MRML transform nodes (real MRML scene, no mocks): RAS and "to parent"
conventions checked by mapping points both ways, and against Slicer's own reading of the ITK file."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from iahepaticprrt.errors import InputError
from iahepaticprrt.imaging import transforms as T
from iahepaticprrt.io.transform_files import write_transform
from iahepaticprrt.mrml import adapter
from iahepaticprrt.mrml.registration_nodes import (
    load_transform_node,
    sitk_transform_from_node,
    transform_node_from_sitk,
)

import synthetic_ct as body

FLIP = np.array([-1.0, -1.0, 1.0])  # LPS <-> RAS
LIVER_CENTRE = (-60.0, 0.0, 25.0)
POINTS_LPS = [(-60.0, 0.0, 25.0), (30.0, -40.0, 80.0), (-120.0, 60.0, -50.0)]


def ras(p):
    return np.asarray(p, float) * FLIP


def test_linear_node_maps_points_both_ways(scene, tmp_path):
    itk = T.rigid_transform((6.0, -4.0, 9.0), (2.0, -1.5, 3.0), LIVER_CENTRE)  # fixed -> moving, LPS
    node = transform_node_from_sitk(scene, itk, "IV to IA")
    assert node.IsA("vtkMRMLLinearTransformNode")
    for p in POINTS_LPS:
        q = itk.TransformPoint(p)  # where the fixed point lies in the moving scan
        # from parent = world (fixed) -> moving; to parent = moving -> world (fixed)
        assert np.allclose(node.GetTransformFromParent().TransformPoint(*ras(p)), ras(q), atol=1e-6)
        assert np.allclose(node.GetTransformToParent().TransformPoint(*ras(q)), ras(p), atol=1e-6)
    # Slicer's own reader of the ITK file gives the same node transform.
    write_transform(itk, tmp_path / "t.tfm")
    read = load_transform_node(scene, tmp_path / "t.tfm")
    import vtk

    a, b = vtk.vtkMatrix4x4(), vtk.vtkMatrix4x4()
    node.GetMatrixTransformToParent(a)
    read.GetMatrixTransformToWorld(b)
    assert np.allclose(adapter._numpy_matrix(a), adapter._numpy_matrix(b), atol=1e-9)
    # Back to ITK from the node.
    back = sitk_transform_from_node(node)
    assert np.allclose(T.transform_points(back, POINTS_LPS), T.transform_points(itk, POINTS_LPS), atol=1e-6)


def test_deformable_node_maps_points_like_itk(scene):
    grid = body.default_grid(spacing_mm=(10.0, 10.0, 10.0))
    bspline = sitk.BSplineTransformInitializer(grid.to_sitk(np.zeros(grid.shape_kji, np.uint8)), [3, 3, 3], 3)
    bspline.SetParameters(tuple(np.random.default_rng(1).normal(0.0, 4.0, len(bspline.GetParameters()))))
    itk = sitk.CompositeTransform([T.rigid_transform((3.0, 2.0, -1.0), (1.0, 0.0, -2.0), LIVER_CENTRE), bspline])
    node = transform_node_from_sitk(scene, itk, "deformable")
    assert not node.IsLinear()
    for p in POINTS_LPS:
        q = itk.TransformPoint(p)
        assert np.allclose(node.GetTransformFromParent().TransformPoint(*ras(p)), ras(q), atol=1e-3)
        assert np.allclose(node.GetTransformToParent().TransformPoint(*ras(q)), ras(p), atol=1e-2)
    with pytest.raises(InputError, match="not linear"):
        sitk_transform_from_node(node)


def test_module_logic_registers_volume_nodes(scene, module_logic):
    grid_fixed = body.default_grid(spacing_mm=(5.0, 5.0, 5.0))
    grid_moving = body.default_grid(spacing_mm=(4.0, 4.0, 6.0), center=(0.0, 0.0, 10.0))
    truth = T.rigid_transform((4.0, -5.0, 3.0), (1.0, 2.0, -1.5), LIVER_CENTRE)
    fixed = adapter.volume_node_from_volume(scene, body.body_ct(grid_fixed, noise_hu=10.0, seed=1), "IA CT")
    moving = adapter.volume_node_from_volume(scene, body.body_ct(grid_moving, truth.GetInverse(), noise_hu=10.0,
                                                                 seed=2), "IV CT")
    roi = adapter.segmentation_node_from_segmentation(scene, body.segmentation(grid_fixed, names=("Liver",)), "IA VOIs")
    node, result = module_logic.register_volumes(fixed, moving, roi, "Liver")
    assert node.GetName() == "IV CT to IA CT"
    error = T.rigid_error(result.transform, truth, [c for c, _, _ in body.LESIONS.values()])
    assert error["max_point_error_mm"] < 1.0 and error["rotation_error_deg"] < 0.5
    # Under the node, the moving volume's world geometry agrees with the fixed scan's anatomy: a lesion
    # centre of the moving scan lands on the same lesion centre in world (fixed) coordinates.
    moving.SetAndObserveTransformNodeID(node.GetID())
    world = adapter.volume_from_node(moving)
    lesion_in_moving = np.array(truth.TransformPoint(body.LESIONS["Lesion 1"][0]))
    index = grid_moving.lps_to_index(lesion_in_moving)
    assert np.allclose(world.grid.index_to_lps(index), body.LESIONS["Lesion 1"][0], atol=1.0)
