"""The photon part of the 177Lu dose kernel: a point kernel in water from 177Lu's photon lines, and
its voxel form for the long-range cross-dose (docs/physics.md section 13.2).

Point kernel (absorbed dose per decay at distance r from a point source in an infinite medium of
density rho, water's interaction coefficients):

    K(r) = sum_i y_i E_i (mu_en/rho)_i B_i(mu_i r) exp(-mu_i r) / (4 pi r^2),    mu_i = (mu/rho)_i rho

- lines: 177Lu photon energies E_i and yields y_i of ICRP Publication 107 (gamma rays and the Hf K
  x-rays, every line >= 15 keV); the L x-rays (about 8-9 keV, the rest of ICRP 107's 0.0351 MeV per
  decay) are absorbed within a millimetre and are deposited in the source voxel;
- mu/rho and mu_en/rho of liquid water from NIST Standard Reference Database 126 (Hubbell and
  Seltzer), interpolated log-log in energy;
- B: the geometric-progression (GP) build-up factor of ANSI/ANS-6.4.3-1991 for water, a function
  of the number of mean free paths mu r, interpolated log-log between the tabulated energies. The
  standard's exposure build-up factor stands in for water's energy-absorption build-up factor (see
  docs/physics.md: integrated over infinite water the kernel returns 95-104 % of each line's
  energy, which bounds the approximation).

Voxel kernel: the point kernel averaged over the source and target voxels (the difference of two
uniform positions in a cube has a tent distribution per axis), sampled finely near the source and
at voxel centres far from it, cut off at a radius of at least 15 cm. The medium density is the
electron kernel's (ICRU soft tissue 1.04 g/mL); no local density scaling is applied to photon dose
(see :func:`iahepaticprrt.dosimetry.voxel.vsv_dose_gy`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from .lu177 import JOULE_PER_MEV, PHOTON_ENERGY_PER_DECAY_MEV

#: 177Lu photon lines >= 15 keV, (energy MeV, yield per decay), ICRP Publication 107 (as transcribed in the
#: ZapMeNot isotope library, whose Lu-177 entry reproduces ICRP 107; docs/physics.md section 13.2). Hf K x-rays
#: first, then the gamma rays.
LU177_PHOTON_LINES_MEV_YIELD = (
    (0.0547191, 1.63172e-02), (0.0559237, 2.85488e-02), (0.0631238, 3.03923e-03), (0.0633831, 5.87418e-03),
    (0.0637565, 6.16681e-05), (0.0638133, 7.84966e-05), (0.0650467, 6.83509e-04), (0.0651063, 1.32314e-03),
    (0.0652562, 1.45294e-05), (0.0652671, 1.84032e-05), (0.0654356, 1.54461e-04), (0.0654439, 3.20040e-04),
    (0.0654762, 1.60842e-07), (0.0654766, 1.92701e-07),
    (0.0716460, 1.54e-03), (0.112950, 6.40e-02), (0.136725, 4.80e-04), (0.208366, 1.10e-01),
    (0.249674, 2.12e-03), (0.321316, 2.19e-03),
)

#: Liquid water: energy (MeV), mu/rho and mu_en/rho (cm2/g), NIST Standard Reference Database 126
#: (Hubbell and Seltzer, X-ray mass attenuation coefficients, table 4, "Water, Liquid"); mu/rho includes
#: coherent scattering.
WATER_NIST_MEV_MU_MUEN = (
    (0.015, 1.673, 1.374), (0.020, 8.096e-01, 5.503e-01), (0.030, 3.756e-01, 1.557e-01),
    (0.040, 2.683e-01, 6.947e-02), (0.050, 2.269e-01, 4.223e-02), (0.060, 2.059e-01, 3.190e-02),
    (0.080, 1.837e-01, 2.597e-02), (0.100, 1.707e-01, 2.546e-02), (0.150, 1.505e-01, 2.764e-02),
    (0.200, 1.370e-01, 2.967e-02), (0.300, 1.186e-01, 3.192e-02), (0.400, 1.061e-01, 3.279e-02),
)

#: Water, GP build-up factor coefficients (energy MeV, b, c, a, X, d), ANSI/ANS-6.4.3-1991 (exposure
#: build-up; values as tabulated in the ZapMeNot material library, which reproduces the standard).
WATER_GP_BUILDUP = (
    (0.015, 1.182, 0.463, 0.175, 14.23, -0.0908), (0.020, 1.427, 0.549, 0.143, 14.86, -0.0707),
    (0.030, 2.335, 0.736, 0.087, 13.28, -0.0419), (0.040, 3.477, 1.117, -0.019, 11.67, 0.0026),
    (0.050, 4.461, 1.457, -0.084, 13.62, 0.0341), (0.060, 4.983, 1.730, -0.126, 13.64, 0.0561),
    (0.080, 5.059, 2.059, -0.168, 13.67, 0.0770), (0.100, 4.663, 2.221, -0.186, 13.33, 0.0826),
    (0.150, 3.897, 2.242, -0.185, 14.19, 0.0777), (0.200, 3.478, 2.154, -0.176, 14.50, 0.0774),
    (0.300, 2.920, 2.022, -0.164, 14.21, 0.0655), (0.400, 2.660, 1.882, -0.149, 14.24, 0.0595),
)

#: Medium of the kernel: the electron kernel's ICRU soft tissue density (g/mL), water's mass coefficients.
PHOTON_MEDIUM_DENSITY_G_PER_ML = 1.04
#: The photon kernel reaches at least this far (mm).
PHOTON_KERNEL_RADIUS_MM = 150.0
#: Photon dose is computed on a grid of about this voxel size (mm), an integer multiple of the map's.
PHOTON_GRID_MM = 10.0


def local_photon_energy_mev() -> float:
    """Photon energy per decay below 15 keV (Hf L x-rays), deposited where the decay happens: ICRP 107's
    total photon energy minus the lines listed."""
    return PHOTON_ENERGY_PER_DECAY_MEV - sum(e * y for e, y in LU177_PHOTON_LINES_MEV_YIELD)


def water_coefficients_cm2_per_g(energy_mev: float) -> tuple[float, float]:
    """(mu/rho, mu_en/rho) of water at ``energy_mev``, log-log interpolation of the NIST table."""
    table = np.asarray(WATER_NIST_MEV_MU_MUEN)
    if not table[0, 0] <= energy_mev <= table[-1, 0]:
        raise ValueError(f"{energy_mev} MeV outside the water table")
    x = math.log(energy_mev)
    return (math.exp(np.interp(x, np.log(table[:, 0]), np.log(table[:, 1]))),
            math.exp(np.interp(x, np.log(table[:, 0]), np.log(table[:, 2]))))


def _gp(row, mfp: np.ndarray) -> np.ndarray:
    """ANSI/ANS-6.4.3 GP form: K(x) = c x^a + d (tanh(x/X - 2) - tanh(-2)) / (1 - tanh(-2));
    B = 1 + (b - 1)(K^x - 1)/(K - 1), or 1 + (b - 1) x when K = 1."""
    _, b, c, a, big_x, d = row
    x = np.maximum(np.asarray(mfp, dtype=np.float64), 1e-12)
    k = c * x ** a + d * (np.tanh(x / big_x - 2.0) - math.tanh(-2.0)) / (1.0 - math.tanh(-2.0))
    near_one = np.abs(k - 1.0) < 1e-9
    with np.errstate(all="ignore"):
        general = 1.0 + (b - 1.0) * (k ** x - 1.0) / (k - 1.0)
    return np.where(near_one, 1.0 + (b - 1.0) * x, general)


def buildup_factor(energy_mev: float, mfp) -> np.ndarray:
    """Build-up factor of water at ``mfp`` mean free paths, log-log interpolated between the two
    tabulated energies around ``energy_mev``."""
    table = WATER_GP_BUILDUP
    energies = [row[0] for row in table]
    if not energies[0] <= energy_mev <= energies[-1]:
        raise ValueError(f"{energy_mev} MeV outside the build-up table")
    i = min(max(int(np.searchsorted(energies, energy_mev)), 1), len(energies) - 1)
    low, high = table[i - 1], table[i]
    w = (math.log(energy_mev) - math.log(low[0])) / (math.log(high[0]) - math.log(low[0]))
    return np.exp((1.0 - w) * np.log(_gp(low, mfp)) + w * np.log(_gp(high, mfp)))


@functools.lru_cache(maxsize=None)
def _line_table(density_g_per_ml: float) -> tuple:
    """Per line: energy (J), yield, linear mu (1/mm), mu_en/rho (m2/kg)."""
    rows = []
    for energy, yield_ in LU177_PHOTON_LINES_MEV_YIELD:
        mu_rho, muen_rho = water_coefficients_cm2_per_g(energy)
        rows.append((energy, energy * JOULE_PER_MEV, yield_, mu_rho * density_g_per_ml / 10.0, muen_rho * 0.1))
    return tuple(rows)


def point_kernel_gy_per_decay(r_mm, density_g_per_ml: float = PHOTON_MEDIUM_DENSITY_G_PER_ML) -> np.ndarray:
    """Absorbed dose (Gy) per decay at ``r_mm`` from a point source (module docstring)."""
    r = np.maximum(np.asarray(r_mm, dtype=np.float64), 1e-9)
    total = np.zeros_like(r)
    for energy_mev, energy_j, yield_, mu_per_mm, muen_m2_per_kg in _line_table(float(density_g_per_ml)):
        x = mu_per_mm * r
        fluence_per_m2 = yield_ * energy_j * np.exp(-x) * buildup_factor(energy_mev, x) / (4.0 * math.pi * (r * 1e-3) ** 2)
        total += fluence_per_m2 * muen_m2_per_kg
    return total


def absorbed_energy_within_mev(radius_mm: float, density_g_per_ml: float = PHOTON_MEDIUM_DENSITY_G_PER_ML) -> float:
    """Photon energy per decay (MeV) absorbed within ``radius_mm`` of a point source in the infinite
    medium: sum_i y_i E_i int_0^{mu R} (mu_en/mu)_i B_i(x) e^-x dx (the lines >= 15 keV only)."""
    from scipy.integrate import quad

    total = 0.0
    for energy, yield_ in LU177_PHOTON_LINES_MEV_YIELD:
        mu_rho, muen_rho = water_coefficients_cm2_per_g(energy)
        upper = mu_rho * density_g_per_ml * radius_mm / 10.0
        integral, _ = quad(lambda x: float(buildup_factor(energy, x)) * math.exp(-x), 0.0, upper, limit=200)
        total += yield_ * energy * muen_rho / mu_rho * integral
    return total


@dataclass(frozen=True)
class PhotonKernel:
    """Voxel kernel of the photon point kernel, in Gy/(MBq h) per source voxel, centre at the middle."""

    s_gy_per_mbqh: np.ndarray
    voxel_mm: float
    radius_mm: float
    density_g_per_ml: float

    @property
    def voxel_mass_g(self) -> float:
        return self.density_g_per_ml * (self.voxel_mm / 10.0) ** 3

    def energy_mev_per_decay(self) -> float:
        """Energy per decay the kernel deposits (sum of S x voxel mass), MeV."""
        decays_per_mbqh = 3.6e9
        joule = float(self.s_gy_per_mbqh.sum()) * self.voxel_mass_g * 1e-3 / decays_per_mbqh
        return joule / JOULE_PER_MEV

    def to_dict(self) -> dict:
        return {"voxel_mm": self.voxel_mm, "radius_mm": self.radius_mm, "density_g_per_ml": self.density_g_per_ml,
                "shape": list(self.s_gy_per_mbqh.shape), "energy_mev_per_decay": self.energy_mev_per_decay(),
                "lines": "ICRP 107 photon lines >= 15 keV; NIST SRD 126 water coefficients; ANSI/ANS-6.4.3 GP "
                         "build-up (water)"}


def _tent_samples(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Midpoint nodes (in voxel units, within [-1, 1]) and weights of the tent density 1 - |u| on one axis."""
    edges = np.linspace(-1.0, 1.0, 2 * n + 1)
    nodes = 0.5 * (edges[:-1] + edges[1:])
    weights = 1.0 - np.abs(nodes)
    return nodes, weights / weights.sum()


@functools.lru_cache(maxsize=8)
def photon_voxel_kernel(voxel_mm: float, radius_mm: float = PHOTON_KERNEL_RADIUS_MM,
                        density_g_per_ml: float = PHOTON_MEDIUM_DENSITY_G_PER_ML) -> PhotonKernel:
    """The voxel kernel of :func:`point_kernel_gy_per_decay` for cubic voxels of ``voxel_mm``: for each
    offset the mean point-kernel value over source and target voxel (tent-distributed separation,
    midpoint rule with 16 nodes per axis for the nearest offsets, 4 up to 4 voxels away, the centre
    value beyond), zero beyond ``radius_mm`` (distance between voxel centres)."""
    half = int(math.ceil(radius_mm / voxel_mm))
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    k, j, i = np.meshgrid(offsets, offsets, offsets, indexing="ij")
    centre_mm = np.sqrt(i * i + j * j + k * k) * voxel_mm
    values = point_kernel_gy_per_decay(np.maximum(centre_mm, 1e-9), density_g_per_ml)
    chebyshev = np.maximum(np.maximum(np.abs(i), np.abs(j)), np.abs(k))
    for lowest, reach, n in ((0, 1, 16), (2, 4, 4)):
        nodes, weights = _tent_samples(n)
        du = np.stack(np.meshgrid(nodes, nodes, nodes, indexing="ij"), axis=-1).reshape(-1, 3)
        w = np.einsum("a,b,c->abc", weights, weights, weights).ravel()
        near = np.argwhere((chebyshev >= lowest) & (chebyshev <= reach))
        r = np.linalg.norm((offsets[near][:, None, :] + du[None, :, :]) * voxel_mm, axis=2)   # (offsets, samples)
        averaged = point_kernel_gy_per_decay(r, density_g_per_ml) @ w
        values[tuple(near.T)] = averaged
    values[centre_mm > radius_mm] = 0.0
    decays_per_mbqh = 3.6e9
    kernel = values * decays_per_mbqh
    kernel.setflags(write=False)
    return PhotonKernel(kernel, float(voxel_mm), float(radius_mm), float(density_g_per_ml))


def coarsening_factor(voxel_mm: float) -> int:
    """Integer factor from the map's voxels to the photon grid (about :data:`PHOTON_GRID_MM`, at least 2)."""
    return max(2, int(round(PHOTON_GRID_MM / voxel_mm)))


def _block_sum(array: np.ndarray, f: int) -> np.ndarray:
    """Sums over blocks of f x f x f voxels (the array zero-padded at its far ends to a multiple of f),
    one axis at a time with strided slices (several times faster than a 6-D reshape-sum)."""
    out = array
    for axis in range(3):
        n = out.shape[axis]
        m = int(math.ceil(n / f))
        index = [slice(None)] * 3
        total = None
        for phase in range(f):
            index[axis] = slice(phase, None, f)
            part = out[tuple(index)]
            if part.shape[axis] < m:  # the far end beyond the array: zero padding
                pad = [(0, 0)] * 3
                pad[axis] = (0, m - part.shape[axis])
                part = np.pad(part, pad)
            total = part.copy() if total is None else total + part
        out = total
    return out


def _upsample_linear(coarse: np.ndarray, f: int, shape) -> np.ndarray:
    """Linear interpolation of a block-centred coarse field back to the fine voxel centres (edge values
    held beyond the first and last block centres), one axis at a time with strided slices. Fine voxel
    f c + p lies at (p - (f - 1)/2) / f coarse voxels from the centre of block c."""
    out = coarse
    for axis in (2, 1, 0):  # the fastest-varying axis while the array is smallest: strided writes stay cheap
        n = shape[axis]
        nc = out.shape[axis]
        pad = [(0, 0)] * 3
        pad[axis] = (1, 1)
        padded = np.pad(out, pad, mode="edge")          # padded index q = coarse index + 1
        new_shape = list(out.shape)
        new_shape[axis] = nc * f
        fine = np.empty(new_shape, dtype=out.dtype)
        for phase in range(f):
            x = (phase - (f - 1) / 2.0) / f
            low = int(math.floor(x))
            w = out.dtype.type(x - low)
            first = [slice(None)] * 3
            second = [slice(None)] * 3
            target = [slice(None)] * 3
            first[axis] = slice(1 + low, 1 + low + nc)
            second[axis] = slice(2 + low, 2 + low + nc)
            target[axis] = slice(phase, None, f)
            fine[tuple(target)] = padded[tuple(first)] * (1 - w) + padded[tuple(second)] * w
        index = [slice(None)] * 3
        index[axis] = slice(0, n)
        out = fine[tuple(index)]
    return np.ascontiguousarray(out)


def photon_dose_gy(tia_mbqh: np.ndarray, voxel_mm: float, dtype=np.float32, workers: int = -1) -> tuple[np.ndarray, dict]:
    """Photon absorbed dose (Gy) on an isotropic grid of ``voxel_mm`` from a TIA map (MBq h per voxel):
    the TIA summed over blocks of f^3 voxels, convolved (FFT) with the photon voxel kernel of the block
    size, the result interpolated linearly back to the voxels. (The L x-rays are in the short-range
    kernel, :func:`iahepaticprrt.dosimetry.kernels.short_range_kernel`.)"""
    from .kernels import fft_convolve

    f = coarsening_factor(voxel_mm)
    kernel = photon_voxel_kernel(voxel_mm * f)
    tia = np.asarray(tia_mbqh, dtype=dtype)
    coarse = fft_convolve(_block_sum(tia, f), kernel.s_gy_per_mbqh.astype(dtype), workers)
    dose = _upsample_linear(coarse.astype(dtype), f, tia.shape)
    provenance = {"photon_grid_mm": voxel_mm * f, "coarsening_factor": f, "kernel": kernel.to_dict()}
    return np.asarray(dose, dtype=dtype), provenance
