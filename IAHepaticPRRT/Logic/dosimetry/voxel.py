"""Voxel-level dosimetry: a time-integrated activity (TIA) map from voxel-wise fits, then absorbed
dose by local deposition (LDM) or voxel S-value convolution (VSV).

Voxel fits are vectorised over all voxels (numpy, no Python loop over voxels):

- ``mono-exp``: ln A = ln A0 - l t by least squares (relative errors), l clamped to >= the 177Lu
  physical decay constant (ICRP 107) with A0 refitted at the clamped l; TIA = A0 / l. Voxels with a
  non-positive value at any time point (noise, background) fall back to the trapezoid.
- ``trapezoid``: straight lines from A = 0 at administration through the points, physical decay
  after the last point (as :func:`iahepaticprrt.dosimetry.kinetics.fit_trapezoid`).
- One time point: A(t) 2 t / ln 2 in every voxel (Hänscheid et al., JNM 2018;59:75).

Dose:

- LDM: D = 0.08532 Gy g/(MBq h) x TIA / (rho x V) (docs/physics.md section 6; all electron energy absorbed in
  the voxel, photons ignored).
- VSV: D = TIA (*) S (Lanconelli et al. 2012 soft-tissue kernel, FFT convolution). Grid handling:
  when the map's voxels are isotropic and match a kernel voxel size (within 1 %), the map is
  convolved as it is. Otherwise the TIA map is moved to an isotropic grid with the kernel voxel
  size nearest the image's (geometric mean spacing), covering the same field of view with the same
  orientation, by voxel overlap (each voxel's TIA shared in proportion to the overlapping volume:
  the total is kept exactly), convolved there, and the deposited energy is moved back to the image
  voxels the same way and divided by their mass. The provenance says which was done. Density correction (Dieudonné et al., JNM 2013;54:236): the
  kernel dose for soft tissue (1.04 g/mL) is scaled by 1.04 / rho of the voxel, which keeps the
  energy deposited (dose x mass) equal to the kernel's.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError
from ..imaging.grid import Grid
from ..imaging.volume import Volume
from .kernels import Kernel, convolve, matching_kernel_size, nearest_kernel_size
from .lu177 import DECAY_CONSTANT_PER_H, LDM_GY_G_PER_MBQH

VOXEL_MODELS = ("mono-exp", "trapezoid")


def activity_mbq_per_voxel(concentration_bqml: np.ndarray, voxel_ml: float) -> np.ndarray:
    """Bq/mL -> MBq in each voxel."""
    return np.asarray(concentration_bqml, dtype=np.float32) * np.float32(voxel_ml * 1.0e-6)


def _trapezoid_weights(times_h: np.ndarray) -> np.ndarray:
    from .kinetics import _trapezoid_weights

    return _trapezoid_weights(np.asarray(times_h, dtype=float), "zero")


def voxel_tia_mbqh(times_h, activities_mbq: list[np.ndarray], model: str = "mono-exp",
                   clamp: bool = True) -> tuple[np.ndarray, dict]:
    """TIA map (MBq h per voxel) from one activity map (MBq per voxel) per time point.

    Returns the map (float32) and a summary (voxels fitted, voxels that fell back to the trapezoid).
    """
    t = np.asarray(times_h, dtype=np.float64)
    if model not in VOXEL_MODELS:
        raise InputError(f"unknown voxel model '{model}' (choose from {', '.join(VOXEL_MODELS)})", None, "--voxel-model")
    if len(activities_mbq) != t.size:
        raise ValueError("one activity map per time point")
    shape = activities_mbq[0].shape
    stack = np.stack([np.asarray(a, dtype=np.float32).ravel() for a in activities_mbq])  # (n, voxels)
    weights = _trapezoid_weights(t).astype(np.float32)
    trapezoid = np.tensordot(weights, stack, axes=1)  # float32, (voxels,)
    if t.size == 1:
        # One time point: Hänscheid's single-time-point TIA in every voxel, A(t) 2 t / ln 2 (as for the VOIs).
        if not t[0] > 0:
            raise InputError("a single time point must lie after the administration", None, "time_h")
        factor = np.float32(2.0 * t[0] / math.log(2.0))
        return (stack[0] * factor).reshape(shape), {"voxel_model": "hanscheid-stp (one time point)",
                                                    "voxels_fitted": 0, "voxels_trapezoid": 0}
    if model == "trapezoid":
        summary = {"voxel_model": "trapezoid", "voxels_fitted": 0,
                   "voxels_trapezoid": int(np.count_nonzero(np.any(stack != 0, axis=0)))}
        return trapezoid.reshape(shape), summary
    positive = np.all(stack > 0, axis=0)
    tia = trapezoid
    if np.any(positive):
        logs = np.log(stack[:, positive].astype(np.float64))  # (n, m)
        t_mean = t.mean()
        dt = t - t_mean
        slope = (dt @ (logs - logs.mean(axis=0))) / np.sum(dt * dt)   # d ln A / dt
        rate = -slope
        if clamp:
            rate = np.maximum(rate, DECAY_CONSTANT_PER_H)
        else:
            rate = np.maximum(rate, 1e-6)
        # Best intercept at the (possibly clamped) rate: mean of ln A + rate t.
        log_a0 = np.mean(logs + np.outer(t, rate), axis=0)
        fitted = np.exp(log_a0) / rate
        tia = trapezoid.copy()
        tia[positive] = fitted.astype(np.float32)
    any_activity = np.any(stack != 0, axis=0)
    summary = {"voxel_model": "mono-exp (log-linear, clamped)" if clamp else "mono-exp (log-linear)",
               "voxels_fitted": int(np.count_nonzero(positive)),
               "voxels_trapezoid": int(np.count_nonzero(any_activity & ~positive))}
    return tia.reshape(shape), summary


def ldm_dose_gy(tia_mbqh: np.ndarray, density_g_per_ml, voxel_ml: float) -> np.ndarray:
    """Local deposition: D = 0.08532 x TIA / (rho V) (docs/physics.md sections 1 and 6)."""
    mass_g = np.asarray(density_g_per_ml, dtype=np.float32) * np.float32(voxel_ml)
    return (np.float32(LDM_GY_G_PER_MBQH) * np.asarray(tia_mbqh, dtype=np.float32) / mass_g).astype(np.float32)


def _isotropic_grid(grid: Grid, voxel_mm: float) -> Grid:
    """Isotropic grid of ``voxel_mm`` covering ``grid``'s field of view, same orientation and centre."""
    extent = np.array(grid.size_ijk) * np.array(grid.spacing_mm)
    size = np.maximum(1, np.ceil(extent / voxel_mm - 1e-6).astype(int))
    centre = grid.center_lps_mm()
    origin = centre - grid.direction @ ((size - 1) / 2.0 * voxel_mm)
    return Grid(tuple(size[::-1]), (voxel_mm,) * 3, origin, grid.direction)


def _overlap_matrices(source: Grid, target: Grid) -> list[np.ndarray]:
    """Per axis (k, j, i order), the overlap length (mm) of source voxel a and target voxel b, for
    two grids with the same direction matrix."""
    matrices = []
    for axis in (2, 1, 0):  # i, j, k in grid terms -> we return k, j, i order below
        unit = source.direction[:, axis]
        s0 = float(unit @ np.asarray(source.origin_lps_mm))
        t0 = float(unit @ np.asarray(target.origin_lps_mm))
        hs, ht = source.spacing_mm[axis], target.spacing_mm[axis]
        ns, nt = source.size_ijk[axis], target.size_ijk[axis]
        s_lo = s0 + (np.arange(ns) - 0.5) * hs
        t_lo = t0 + (np.arange(nt) - 0.5) * ht
        lo = np.maximum(s_lo[:, None], t_lo[None, :])
        hi = np.minimum(s_lo[:, None] + hs, t_lo[None, :] + ht)
        matrices.append(np.clip(hi - lo, 0.0, None))
    return matrices


def _remap(array: np.ndarray, matrices: list[np.ndarray]) -> np.ndarray:
    """Apply separable (k, j, i) matrices: out[b] = sum_a array[a] M[a, b] along each axis."""
    out = np.tensordot(array, matrices[0], axes=([0], [0]))          # (j, i, K)
    out = np.tensordot(out, matrices[1], axes=([0], [0]))            # (i, K, J)
    out = np.tensordot(out, matrices[2], axes=([0], [0]))            # (K, J, I)
    return out


def conservative_remap(extensive: np.ndarray, source: Grid, target: Grid) -> np.ndarray:
    """Move an extensive quantity (TIA, energy) between two grids of the same orientation by voxel
    overlap: each source voxel's content is shared among the target voxels in proportion to the
    overlapping volume, so the total inside the common field of view is kept exactly."""
    if not np.allclose(source.direction, target.direction, atol=1e-9):
        raise ValueError("conservative remapping needs grids of the same orientation")
    matrices = [m / h for m, h in zip(_overlap_matrices(source, target), reversed(source.spacing_mm))]
    return _remap(np.asarray(extensive, dtype=np.float64), matrices)


def vsv_dose_gy(tia: Volume, density_g_per_ml: np.ndarray | float | None = None, medium: str = "soft",
                kernel_voxel_mm: float | None = None, dtype=np.float32, photons: bool = True) -> tuple[np.ndarray, dict]:
    """Voxel S-value dose (Gy) on ``tia.grid`` from a TIA map (MBq h per voxel), with provenance.

    Two parts (docs/physics.md section 13):

    - short range: the energy-complete 177Lu kernel (:func:`kernels.short_range_kernel`: the
      Lanconelli et al. kernel with the missing ICRP 107 electron energy and the L x-rays in its
      central voxel), FFT convolution on the image grid or on the nearest kernel's isotropic grid
      (overlap remapping, energy kept); ``density_g_per_ml`` (map or number) applies the Dieudonne
      et al. correction 1.04 / rho to it (None: none). Energy per decay: electrons + L x-rays.
    - photons (``photons=True``): the photon lines' point kernel in soft tissue (build-up, attenuation)
      on a grid of about 10 mm, out to 15 cm (:func:`photon_kernel.photon_dose_gy`). Not divided by the
      local density: a photon deposits energy in proportion to the mass it crosses, so its dose (per
      gram) does not depend on the voxel's density, and a lung voxel would otherwise get 1.04 / 0.26 = 4
      times the photon dose of the tissue around it.
    """
    from .kernels import short_range_kernel
    from .photon_kernel import photon_dose_gy

    grid = tia.grid
    match = matching_kernel_size(grid.spacing_mm, medium) if kernel_voxel_mm is None else kernel_voxel_mm
    provenance = {"medium": medium}
    work_dtype = np.float64 if dtype == np.float64 else np.float32
    size = match if match is not None else nearest_kernel_size(grid.spacing_mm, medium)
    kernel = short_range_kernel(size, medium)
    if match is not None:
        work_tia = np.asarray(tia.array, dtype=work_dtype)
        dose = convolve(work_tia, kernel, dtype=work_dtype)
        provenance["grid_handling"] = (f"image voxels {tuple(round(s, 3) for s in grid.spacing_mm)} mm match the "
                                       f"{kernel.voxel_mm} mm kernel: convolved on the image grid")
    else:
        work = _isotropic_grid(grid, kernel.voxel_mm)
        work_tia = conservative_remap(tia.array, grid, work).astype(work_dtype)
        work_dose = convolve(work_tia, kernel, dtype=work_dtype)
        energy = conservative_remap(work_dose * kernel.voxel_mass_g, work, grid)  # Gy g per image voxel
        dose = energy / (kernel.density_g_per_ml * grid.voxel_volume_ml)
        provenance["grid_handling"] = (
            f"TIA map moved from {tuple(round(s, 3) for s in grid.spacing_mm)} mm voxels to an isotropic grid of the "
            f"nearest kernel voxel size, {kernel.voxel_mm} mm (same orientation and field of view), by voxel overlap "
            "(total TIA kept); convolved there; the deposited energy moved back to the image voxels by overlap "
            "(energy kept) and divided by their mass; the photon dose moved back as an overlap-weighted mean")
    provenance["kernel"] = kernel.to_dict()
    provenance["kernel"]["energy_completion"] = (
        "published kernel + the ICRP 107 electron energy it lacks + the L x-rays (< 15 keV), in the central voxel")
    provenance["convolution"] = "FFT (scipy.fft, zero-padded linear convolution)"
    if density_g_per_ml is not None:
        dose = dose * (np.float32(kernel.density_g_per_ml) / np.asarray(density_g_per_ml, dtype=np.float32))
        provenance["density_correction"] = (f"short-range part x {kernel.density_g_per_ml} / rho (kernel medium "
                                            "density over voxel density; Dieudonné et al., JNM 2013;54:236); photon "
                                            "part not scaled (photon dose per gram does not depend on the voxel's "
                                            "density)")
    else:
        provenance["density_correction"] = "none"
    if photons:
        photon_work, photon_provenance = photon_dose_gy(work_tia, kernel.voxel_mm, dtype=work_dtype)
        if match is None:
            photon_work = conservative_remap(photon_work * (kernel.voxel_mm / 10.0) ** 3, work, grid) / grid.voxel_volume_ml
        dose = dose + photon_work
        provenance["photons"] = photon_provenance
    else:
        provenance["photons"] = "not included"
    return np.asarray(dose, dtype=dtype), provenance


def kernel_for(grid: Grid, medium: str = "soft") -> Kernel:
    """The short-range kernel :func:`vsv_dose_gy` would use for ``grid``."""
    from .kernels import short_range_kernel

    match = matching_kernel_size(grid.spacing_mm, medium)
    return short_range_kernel(match if match is not None else nearest_kernel_size(grid.spacing_mm, medium), medium)
