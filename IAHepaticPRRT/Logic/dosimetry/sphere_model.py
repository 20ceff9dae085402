"""Sphere model for lesions: S(m) for unit-density spheres with uniform 177Lu activity.

Model: electrons deposit their energy uniformly along a straight path of effective length s from
a uniformly distributed, isotropic source. For a sphere of radius R the distance L from a random
interior point to the surface along a random direction has P(L > l) = 1 - 3l/(4R) + l^3/(16R^3)
(0 <= l <= 2R), so the self-absorbed fraction phi = E[min(L, s)] / s is

    phi = 1 - 3s/(8R) + s^3/(64 R^3)    for s <= 2R,      phi = 3R/(4s)   for s > 2R,

and S(m) = phi(m) x 0.08532 Gy g/(MBq h) / m (electron energy per decay, ICRP 107; photons not
counted: for organ-size spheres they add a few per cent, e.g. OpenDose liver self-S x mass is 4 %
above the electron energy), D = TIA x S(m). S x m tends to the electron energy for large spheres.

Derivation of s (done at first use, cached): the 2.21 mm soft-tissue voxel S-value kernel
(Lanconelli et al. 2012) is convolved (FFT) with spheres made of whole voxels (R = 10 to 60 mm).
For whole voxels the voxel kernel is exact, but a voxelised sphere is a staircase whose surface
is larger than the sphere's (about 1.5 times); for electron ranges much shorter than a voxel the
escaping energy is proportional to the surface, so the escape fraction of the smooth sphere is
the staircase's times (sphere area / staircase area). Fitting escape = 3 s / (8 R) to those
points gives s (about 0.6 mm at 1.04 g/mL, i.e. 3s/8 = 0.23 mm). Electron paths scale with
1/density: for unit density s is multiplied by 1.04.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .kernels import convolve, load_kernel
from .lu177 import LDM_GY_G_PER_MBQH

SPHERE_KERNEL_VOXEL_MM = 2.21
DERIVATION_RADII_MM = (10.0, 15.0, 20.0, 30.0, 40.0, 60.0)


def voxel_sphere(radius_mm: float, voxel_mm: float) -> np.ndarray:
    """Bool cube: voxels whose centre lies in a sphere centred on the central voxel, with a margin
    of the kernel's reach."""
    half = int(math.ceil(radius_mm / voxel_mm)) + 7
    axis = np.arange(-half, half + 1) * voxel_mm
    z, y, x = np.meshgrid(axis, axis, axis, indexing="ij")
    return (x * x + y * y + z * z) <= radius_mm * radius_mm


def staircase_escape(radius_mm: float, voxel_mm: float = SPHERE_KERNEL_VOXEL_MM) -> dict:
    """Kernel convolution over a whole-voxel sphere: absorbed fraction of the kernel's energy, the
    staircase / sphere surface ratio and the escape fraction corrected to a smooth sphere."""
    kernel = load_kernel(voxel_mm, "soft")
    mask = voxel_sphere(radius_mm, voxel_mm)
    inside = mask.astype(np.float64)
    n = inside.sum()
    dose = convolve(inside / n, kernel, dtype=np.float64)  # 1 MBq h spread over the sphere
    absorbed = float(np.sum(dose[mask])) * kernel.voxel_mass_g / kernel.energy_gy_g_per_mbqh()
    faces = sum(float(np.abs(np.diff(np.pad(inside, 1), axis=a)).sum()) for a in range(3)) * voxel_mm ** 2
    volume = n * voxel_mm ** 3
    radius_equivalent = (3.0 * volume / (4.0 * math.pi)) ** (1.0 / 3.0)
    area_ratio = faces / (4.0 * math.pi * radius_equivalent ** 2)
    return {"radius_mm": radius_equivalent, "absorbed_fraction_staircase": absorbed, "area_ratio": area_ratio,
            "escape_fraction_sphere": (1.0 - absorbed) / area_ratio}


@functools.lru_cache(maxsize=1)
def effective_path_mm() -> float:
    """Effective straight path s (mm) at the kernel's density (1.04 g/mL), fitted as in the module docstring."""
    points = [staircase_escape(r) for r in DERIVATION_RADII_MM]
    inverse_r = np.array([1.0 / p["radius_mm"] for p in points])
    escape = np.array([p["escape_fraction_sphere"] for p in points])
    slope = float(np.sum(inverse_r * escape) / np.sum(inverse_r * inverse_r))  # escape = slope / R
    return slope * 8.0 / 3.0


def unit_density_path_mm() -> float:
    """s for unit-density tissue: paths scale as 1 / density (kernel medium 1.04 g/mL)."""
    from .kernels import MEDIUM_DENSITY_G_PER_ML

    return effective_path_mm() * MEDIUM_DENSITY_G_PER_ML["soft"] / 1.0


def absorbed_fraction_radius(radius_mm: float, path_mm: float) -> float:
    """phi(R) for a uniform isotropic source losing energy uniformly along straight paths of ``path_mm``."""
    if radius_mm <= 0:
        raise ValueError("radius must be positive")
    x = path_mm / radius_mm
    if x <= 2.0:
        return 1.0 - 3.0 * x / 8.0 + x ** 3 / 64.0
    return 3.0 / (4.0 * x)


def radius_mm(mass_g: float) -> float:
    """Radius of a unit-density sphere of ``mass_g`` (mm)."""
    return 10.0 * (3.0 * mass_g / (4.0 * math.pi)) ** (1.0 / 3.0)


def absorbed_fraction(mass_g: float) -> float:
    """Self-absorbed fraction of the 177Lu electron energy in a unit-density sphere of ``mass_g``."""
    if not mass_g > 0:
        raise ValueError("sphere mass must be positive")
    return absorbed_fraction_radius(radius_mm(mass_g), unit_density_path_mm())


def s_value_gy_per_mbqh(mass_g: float) -> float:
    """S(m) for a unit-density sphere: phi(m) x 0.08532 / m (Gy per MBq h)."""
    return absorbed_fraction(mass_g) * LDM_GY_G_PER_MBQH / mass_g


def sphere_dose_gy(tia_mbqh: float, mass_g: float) -> float:
    return tia_mbqh * s_value_gy_per_mbqh(mass_g)


def description() -> str:
    return (f"unit-density sphere, straight-path absorbed fraction with effective electron path "
            f"{unit_density_path_mm():.3f} mm (derived from the 2.21 mm voxel S-value kernel over whole-voxel "
            "spheres, staircase-surface corrected); S(m) = phi x 0.08532 / m; photons not counted")
