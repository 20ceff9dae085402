"""Registration results as MRML transform nodes, and registration of volume nodes.

Conventions, and how they meet:

- The package's transforms follow ITK: ``T`` maps FIXED-image points to MOVING-image points, LPS mm
  (the "resampling" direction, what ITK transform files store).
- A MRML transform node stores RAS transforms; its "to parent" transform maps points of the nodes
  placed under it to world (the parent). Slicer's convention for a registration result is: put
  the MOVING volume (or a segmentation drawn on the moving scan) under the node, and it appears
  aligned with the fixed volume. So "from parent" (world -> moving) is ``T`` in RAS and "to
  parent" is its inverse: ``M_to_parent = (F A F)^-1`` with ``F = diag(-1, -1, 1)`` (LPS <-> RAS) and
  ``A`` the homogeneous 4 x 4 matrix of ``T``. This is also what Slicer does when it reads an ITK
  transform file (checked in the tests by mapping a point both ways).
- Linear transforms go into a ``vtkMRMLLinearTransformNode`` with that matrix. Deformable
  (composite linear + B-spline) transforms are read by Slicer's own transform storage node from an
  ITK ``.h5`` file (a ``vtkMRMLTransformNode`` holding Slicer's B-spline and linear parts), so the
  conversion is Slicer's, exactly as in the application.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..imaging.transforms import is_linear, matrix_and_offset, simplify
from ..io.transform_files import write_transform
from .adapter import _numpy_matrix, _vtk_matrix

_FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])


def itk_to_parent_matrix_ras(transform) -> np.ndarray:
    """4 x 4 RAS "to parent" matrix of a linear ITK (fixed -> moving, LPS) transform."""
    a, o = matrix_and_offset(transform)
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = a, o
    return np.linalg.inv(_FLIP @ m @ _FLIP)


def sitk_transform_from_to_parent_ras(matrix_to_parent_ras) -> object:
    """ITK (fixed -> moving, LPS) affine transform from a RAS "to parent" matrix."""
    import SimpleITK as sitk

    m = _FLIP @ np.linalg.inv(np.asarray(matrix_to_parent_ras, dtype=float)) @ _FLIP
    affine = sitk.AffineTransform(3)
    affine.SetMatrix(tuple(m[:3, :3].ravel()))
    affine.SetTranslation(tuple(m[:3, 3]))
    return affine


def transform_node_from_sitk(scene, transform, name: str, node=None):
    """A transform node holding ``transform`` (ITK convention, see the module docstring)."""
    transform = simplify(transform)
    if is_linear(transform):
        if node is None:
            node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", name)
        node.SetMatrixTransformToParent(_vtk_matrix(itk_to_parent_matrix_ras(transform)))
        return node
    with tempfile.TemporaryDirectory(prefix="iahprrt-transform-") as folder:
        path = Path(folder) / "transform.h5"
        write_transform(transform, path)
        return load_transform_node(scene, path, name)


def load_transform_node(scene, path: str | os.PathLike, name: str | None = None):
    """Read an ITK transform file (.tfm, .h5, .mat) into a new transform node with Slicer's reader."""
    import slicer

    path = Path(path)
    if not path.is_file():
        raise InputError("transform file not found", path)
    node = scene.AddNewNodeByClass("vtkMRMLTransformNode", name or path.name.split(".")[0])
    storage = slicer.vtkMRMLTransformStorageNode()
    scene.AddNode(storage)
    storage.SetFileName(str(path))
    if not storage.ReadData(node):
        scene.RemoveNode(storage)
        scene.RemoveNode(node)
        raise InputError("Slicer cannot read this transform file", path)
    # The node must not keep pointing at a temporary file.
    scene.RemoveNode(storage)
    return node


def sitk_transform_from_node(node):
    """The ITK (fixed -> moving, LPS) transform of a linear transform node (as an AffineTransform).

    Non-linear nodes are refused: save them as an .h5 file from Slicer and read that instead.
    """
    import vtk

    if node is None or not node.IsTransformToWorldLinear():
        raise InputError("the transform node is not linear: save it as .h5 and use the file",
                         node.GetName() if node else "transform node", "transform")
    matrix = vtk.vtkMatrix4x4()
    node.GetMatrixTransformToWorld(matrix)
    return sitk_transform_from_to_parent_ras(_numpy_matrix(matrix))


def register_volume_nodes(scene, fixed_node, moving_node, roi_mask_node=None, roi_segment: str | None = None,
                          roi_margin_mm: float = 30.0, deformable: bool = False, mri: bool = False,
                          transform_type: str = "rigid", name: str | None = None, **kwargs):
    """Register two volume nodes; returns (transform node, RegistrationResult).

    ``roi_mask_node`` is a segmentation node and ``roi_segment`` the segment restricting the
    metric (dilated by ``roi_margin_mm``), on any grid (resampled to the fixed volume). Put the
    moving volume under the returned node to see it aligned with the fixed one.
    """
    from ..imaging.voi_helpers import dilate_mm
    from ..registration.register import refine_affine, register_deformable, register_multimodal, register_rigid
    from .adapter import segmentation_from_node, volume_from_node

    fixed = volume_from_node(fixed_node)
    moving = volume_from_node(moving_node)
    mask = None
    if roi_mask_node is not None:
        segmentation = segmentation_from_node(roi_mask_node, fixed.grid, "nearest")
        segment = roi_segment or (segmentation.names[0] if segmentation.names else None)
        if segment is None:
            raise InputError("the ROI segmentation has no segment", roi_mask_node.GetName(), "segment")
        mask = dilate_mm(segmentation.mask(segment), fixed.grid, roi_margin_mm)
    if mri:
        result = register_multimodal(fixed, moving, mask, transform_type=transform_type, **kwargs)
    else:
        kwargs.setdefault("metric", "correlation" if mask is not None else "mattes")
        result = register_rigid(fixed, moving, mask, **kwargs)
        if transform_type == "affine":
            result = refine_affine(fixed, moving, result, mask)
    if deformable:
        result = register_deformable(fixed, moving, result, mask)
    node_name = name or f"{moving_node.GetName()} to {fixed_node.GetName()}"
    return transform_node_from_sitk(scene, result.transform, node_name), result
