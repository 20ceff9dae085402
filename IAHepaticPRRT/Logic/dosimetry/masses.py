"""Voxel densities and VOI masses from the reference CT (HU -> g/mL, :mod:`iahepaticprrt.dosimetry.ct_density`)."""

from __future__ import annotations

import math

import numpy as np

from ..imaging.grid import Grid
from ..imaging.segmentation import Segmentation
from ..imaging.voi_roles import role_of
from ..imaging.volume import Volume
from . import ct_density


def density_on_grid(ct: Volume | None, grid: Grid, calibration) -> tuple[np.ndarray, str]:
    """Voxel density (g/mL) on ``grid``: the CT's density averaged to the grid's voxel size
    (Gaussian pre-smoothing with the variance of the size difference, then linear sampling); 1.0
    everywhere without a CT."""
    if ct is None:
        return (np.full(grid.shape_kji, ct_density.WATER_EQUIVALENT_DENSITY_G_PER_ML, dtype=np.float32),
                "no CT: water-equivalent 1.0 g/mL")
    import SimpleITK as sitk

    from ..imaging.resample import resample_volume

    density = ct_density.density_from_hu(ct.array, calibration)
    image = ct.grid.to_sitk(density)
    variance = [max((g * g - c * c) / 12.0, 0.0) for g, c in zip(grid.spacing_mm, ct.grid.spacing_mm)]
    if max(variance) > 0:
        image = sitk.SmoothingRecursiveGaussian(image, [math.sqrt(v) if v > 0 else 1e-3 for v in variance])
    smoothed = Volume(sitk.GetArrayFromImage(image).astype(np.float32), ct.grid)
    out = resample_volume(smoothed, grid, interpolation="linear",
                          default_value=ct_density.WATER_EQUIVALENT_DENSITY_G_PER_ML).array
    return np.clip(out, ct_density.AIR_DENSITY_G_PER_ML, ct_density.MAX_DENSITY_G_PER_ML).astype(np.float32), \
        f"reference CT, {calibration.description}"


def segmentation_density(segmentation: Segmentation, ct: Volume | None, calibration) -> np.ndarray:
    """Density (g/mL) on the segmentation's own grid: the reference CT's (resampled linearly when on
    another grid, outside the CT 0 HU), or water-equivalent 1.0 without a CT."""
    if ct is None:
        return np.full(segmentation.grid.shape_kji, ct_density.WATER_EQUIVALENT_DENSITY_G_PER_ML, dtype=np.float32)
    from ..imaging.resample import resample_volume

    hu = ct.array if ct.grid.is_same(segmentation.grid) else resample_volume(
        ct, segmentation.grid, interpolation="linear", default_value=0.0).array
    return ct_density.density_from_hu(hu, calibration)


def is_marrow(name: str) -> bool:
    return role_of(name).organ == "bone_marrow"


def voi_masses(segmentation: Segmentation, ct: Volume | None, calibration) -> tuple[dict, str]:
    """name -> (volume_ml, mass_g) on the segmentation's own grid.

    Bone-marrow VOIs take the red marrow density (ICRP 89) whatever the CT says: their CT number
    is mostly the trabecular bone's, not the marrow's."""
    voxel_ml = segmentation.grid.voxel_volume_ml
    marrow = {s.name for s in segmentation.segments if is_marrow(s.name)}
    marrow_note = (f"; bone marrow {ct_density.RED_MARROW_DENSITY_G_PER_ML} g/mL (red marrow, ICRP 89)"
                   if marrow else "")
    density = segmentation_density(segmentation, ct, calibration)
    masses = {}
    for s in segmentation.segments:
        volume_ml = s.voxel_count * voxel_ml
        masses[s.name] = (volume_ml, volume_ml * ct_density.RED_MARROW_DENSITY_G_PER_ML if s.name in marrow
                          else float(np.sum(density[s.mask], dtype=np.float64)) * voxel_ml)
    source = ("no CT: water-equivalent 1.0 g/mL" if ct is None
              else f"reference CT on the segmentation grid, {calibration.description}")
    return masses, source + marrow_note
