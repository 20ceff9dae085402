"""Resampling volumes onto another grid, optionally through a spatial transform."""

from __future__ import annotations

import numpy as np

from .grid import Grid
from .volume import Volume

_INTERPOLATORS = {"linear": "sitkLinear", "nearest": "sitkNearestNeighbor", "bspline": "sitkBSpline"}


def resample_volume(volume: Volume, grid: Grid, transform=None, interpolation: str = "linear",
                    default_value: float = 0.0) -> Volume:
    """``volume`` sampled at the voxel centres of ``grid``.

    ``transform`` is a SimpleITK transform mapping points of ``grid``'s space to ``volume``'s space
    (ITK's convention: fixed to moving), identity when None. Points outside ``volume`` get
    ``default_value``. Values are float32 for linear/B-spline interpolation.
    """
    import SimpleITK as sitk

    if transform is None and volume.grid.is_same(grid):
        return Volume(volume.array.copy(), grid, volume.unit, dict(volume.metadata))
    reference = sitk.Image([int(n) for n in grid.size_ijk], sitk.sitkUInt8)
    grid.apply_to_sitk(reference)
    moving = volume.to_sitk()
    if interpolation != "nearest" and moving.GetPixelID() != sitk.sitkFloat32:
        moving = sitk.Cast(moving, sitk.sitkFloat64 if volume.array.dtype == np.float64 else sitk.sitkFloat32)
    out = sitk.Resample(moving, reference, transform or sitk.Transform(), getattr(sitk, _INTERPOLATORS[interpolation]),
                        float(default_value), moving.GetPixelID())
    return Volume(sitk.GetArrayFromImage(out), grid, volume.unit, dict(volume.metadata))
