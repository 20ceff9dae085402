"""177Lu voxel S-value kernels (MIRD Pamphlet 17) and their FFT convolution with a TIA map.

Data: Lanconelli et al., Phys. Med. Biol. 57 (2012) 517 (``data/lu177-voxel-s-values``, with its
attribution README). Each file holds one octant (offsets 0..5 voxels) of S in mGy/(MBq s); the
full 11 x 11 x 11 kernel follows by mirroring, S(i, j, k) = S(|i|, |j|, |k|).

Dose from a time-integrated activity (TIA) map: D = TIA (*) S, with TIA in MBq h per voxel,
S converted to Gy/(MBq h) (x 3600 s/h x 1e-3 Gy/mGy). The convolution uses FFTs of the zero-padded
arrays (scipy.fft), which equals direct summation to float rounding.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .lu177 import ELECTRON_ENERGY_PER_DECAY_MEV, electron_energy_mgy_g_per_mbq_s, total_energy_mgy_g_per_mbq_s

KERNEL_FOLDER = Path(__file__).resolve().parent / "data" / "lu177-voxel-s-values"

#: Kernel media and their mass densities in g/mL.
#: soft: ICRU soft tissue 1.04 g/cm3 (Lanconelli et al. 2012); bone: compact bone, 1.85 g/cm3
#: (NIST ESTAR "Bone, Compact (ICRU)"), used only for the bone kernels' energy check.
MEDIUM_DENSITY_G_PER_ML = {"soft": 1.04, "bone": 1.85}

#: mGy/(MBq s) -> Gy/(MBq h).
GY_PER_MBQH_PER_MGY_PER_MBQ_S = 3600.0 * 1.0e-3

#: Two voxel sizes closer than this relative difference are taken as the same.
VOXEL_SIZE_TOLERANCE = 0.01

_NAME = re.compile(r"^177Lu([\d.]+)mm(soft|bone)\.txt$")


@dataclass(frozen=True)
class Kernel:
    """A full 11 x 11 x 11 voxel S-value kernel, centre at [5, 5, 5]."""

    s_mgy_per_mbq_s: np.ndarray
    voxel_mm: float
    medium: str
    source_file: str

    @property
    def density_g_per_ml(self) -> float:
        return MEDIUM_DENSITY_G_PER_ML[self.medium]

    @property
    def voxel_mass_g(self) -> float:
        return self.density_g_per_ml * (self.voxel_mm / 10.0) ** 3

    @property
    def s_gy_per_mbqh(self) -> np.ndarray:
        return self.s_mgy_per_mbq_s * GY_PER_MBQH_PER_MGY_PER_MBQ_S

    @property
    def central_value_mgy_per_mbq_s(self) -> float:
        return float(self.s_mgy_per_mbq_s[5, 5, 5])

    def energy_sum_mgy_g_per_mbq_s(self) -> float:
        """Sum of S x voxel mass: the energy per decay the kernel deposits within its 11 voxels."""
        return float(self.s_mgy_per_mbq_s.sum()) * self.voxel_mass_g

    def energy_gy_g_per_mbqh(self) -> float:
        """The same in Gy g/(MBq h), comparable with the local-deposition 0.08532."""
        return self.energy_sum_mgy_g_per_mbq_s() * GY_PER_MBQH_PER_MGY_PER_MBQ_S

    def electron_energy_fraction(self) -> float:
        """Kernel energy / 177Lu electron energy per decay (ICRP 107)."""
        return self.energy_sum_mgy_g_per_mbq_s() / electron_energy_mgy_g_per_mbq_s()

    def to_dict(self) -> dict:
        return {"voxel_mm": self.voxel_mm, "medium": self.medium, "density_g_per_ml": self.density_g_per_ml,
                "source_file": self.source_file, "central_value_mgy_per_mbq_s": self.central_value_mgy_per_mbq_s,
                "electron_energy_fraction": self.electron_energy_fraction()}


def available_kernels(medium: str = "soft") -> dict[float, Path]:
    """Voxel size (mm) -> kernel file for ``medium``."""
    found = {}
    for path in KERNEL_FOLDER.glob("177Lu*mm*.txt"):
        match = _NAME.match(path.name)
        if match and match.group(2) == medium:
            found[float(match.group(1))] = path
    if not found:
        raise InputError(f"no 177Lu voxel S-value kernels for medium '{medium}'", KERNEL_FOLDER)
    return dict(sorted(found.items()))


def read_octant(path: Path) -> np.ndarray:
    """The 6 x 6 x 6 octant of one kernel file (two header lines, then ``i j k S`` rows)."""
    lines = path.read_text(encoding="latin-1").splitlines()
    octant = np.full((6, 6, 6), np.nan)
    for number, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4:
            raise InputError(f"line {number}: expected 'i j k S'", path)
        i, j, k = (int(p) for p in parts[:3])
        octant[i, j, k] = float(parts[3])
    if np.isnan(octant).any() or (octant < 0).any():
        raise InputError("incomplete or negative kernel octant", path)
    return octant


def mirror_octant(octant: np.ndarray) -> np.ndarray:
    """Full (2n-1)^3 kernel from its octant: S(i, j, k) = S(|i|, |j|, |k|)."""
    n = octant.shape[0]
    index = np.abs(np.arange(-(n - 1), n))
    return octant[np.ix_(index, index, index)]


@functools.lru_cache(maxsize=None)
def load_kernel(voxel_mm: float, medium: str = "soft") -> Kernel:
    """The kernel for a voxel size listed in the database (within 1 %)."""
    kernels = available_kernels(medium)
    for size, path in kernels.items():
        if abs(size - voxel_mm) <= VOXEL_SIZE_TOLERANCE * size:
            values = mirror_octant(read_octant(path))
            values.setflags(write=False)
            kernel = Kernel(values, size, medium, path.name)
            check_kernel(kernel)
            return kernel
    raise InputError(f"no {medium} kernel for {voxel_mm} mm voxels (available: {', '.join(map(str, kernels))} mm)",
                     KERNEL_FOLDER)


def nearest_kernel_size(spacing_mm, medium: str = "soft") -> float:
    """Database voxel size nearest to the geometric mean of ``spacing_mm``."""
    mean = float(np.prod(np.asarray(spacing_mm, dtype=float)) ** (1.0 / len(spacing_mm)))
    sizes = np.array(list(available_kernels(medium)))
    return float(sizes[np.argmin(np.abs(np.log(sizes / mean)))])


def matching_kernel_size(spacing_mm, medium: str = "soft") -> float | None:
    """The database voxel size equal to an isotropic ``spacing_mm`` (within 1 %), else None."""
    spacing = np.asarray(spacing_mm, dtype=float)
    for size in available_kernels(medium):
        if np.all(np.abs(spacing - size) <= VOXEL_SIZE_TOLERANCE * size):
            return size
    return None


def check_kernel(kernel: Kernel) -> None:
    """Refuse a kernel that breaks the symmetries or deposits more energy than a decay emits."""
    s = kernel.s_mgy_per_mbq_s
    if s.shape != (11, 11, 11):
        raise InputError(f"kernel shape {s.shape}, expected 11 x 11 x 11", kernel.source_file)
    for axes in ((1, 0, 2), (2, 1, 0), (0, 2, 1)):
        if not np.allclose(s, np.transpose(s, axes), rtol=1e-12, atol=0.0):
            raise InputError("kernel is not invariant under permutation of axes", kernel.source_file)
    if kernel.energy_sum_mgy_g_per_mbq_s() > total_energy_mgy_g_per_mbq_s():
        raise InputError("kernel deposits more than the energy emitted per decay", kernel.source_file)


def fft_convolve(array: np.ndarray, kernel: np.ndarray, workers: int = -1) -> np.ndarray:
    """Linear (not circular) convolution of ``array`` with an odd-sized ``kernel`` centred on its middle
    voxel, by real FFTs of the zero-padded arrays (scipy.fft, padded to fast lengths, ``workers``
    threads), cropped to the input's grid (``same``): zero outside the array. The arithmetic follows
    the arrays' dtype (float32 gives relative errors ~1e-6)."""
    from scipy import fft as sfft

    shape = [sfft.next_fast_len(n + m - 1, real=True) for n, m in zip(array.shape, kernel.shape)]
    spectrum = sfft.rfftn(array, shape, workers=workers)
    spectrum *= sfft.rfftn(kernel, shape, workers=workers)
    full = sfft.irfftn(spectrum, shape, workers=workers)
    del spectrum
    c = [(m - 1) // 2 for m in kernel.shape]
    return np.ascontiguousarray(full[c[0]:c[0] + array.shape[0], c[1]:c[1] + array.shape[1],
                                     c[2]:c[2] + array.shape[2]])


def convolve(tia_mbqh: np.ndarray, kernel: Kernel, dtype=np.float64, workers: int = -1) -> np.ndarray:
    """Absorbed dose (Gy) of a TIA map (MBq h per voxel) on the kernel's isotropic voxel grid
    (:func:`fft_convolve`; zero activity outside the map). Negative TIA values (noise) are kept:
    they cancel in sums as they should."""
    tia = np.asarray(tia_mbqh, dtype=dtype)
    return fft_convolve(tia, kernel.s_gy_per_mbqh.astype(dtype), workers)


@functools.lru_cache(maxsize=None)
def short_range_kernel(voxel_mm: float, medium: str = "soft") -> Kernel:
    """The energy-complete short-range kernel (docs/physics.md section 13.1): the published kernel plus,
    in its central voxel, (a) the electron energy per decay it lacks with respect to ICRP 107 (0.14792
    MeV; the missing energy is that of conversion and Auger electrons, whose ranges, below 0.5 mm in
    water, keep it in the source voxel) and (b) the Hf L x-rays below 15 keV (absorbed within about a
    millimetre). A kernel that already holds more than the electron energy (bone, >= 5 mm) gets only
    (b). The electron part alone is :func:`electron_kernel`."""
    from .photon_kernel import local_photon_energy_mev

    electrons = electron_kernel(voxel_mm, medium)
    values = np.array(electrons.s_mgy_per_mbq_s, dtype=np.float64)
    local_mgy_g_per_mbq_s = local_photon_energy_mev() / ELECTRON_ENERGY_PER_DECAY_MEV * electron_energy_mgy_g_per_mbq_s()
    values[5, 5, 5] += local_mgy_g_per_mbq_s / electrons.voxel_mass_g
    values.setflags(write=False)
    return Kernel(values, electrons.voxel_mm, medium, electrons.source_file + " (energy-complete, with L x-rays)")


@functools.lru_cache(maxsize=None)
def electron_kernel(voxel_mm: float, medium: str = "soft") -> Kernel:
    """The published kernel with its electron-energy deficit added to the central voxel, so that
    sum(S x voxel mass) equals the ICRP 107 electron energy per decay (unchanged if it already holds more)."""
    published = load_kernel(voxel_mm, medium)
    values = np.array(published.s_mgy_per_mbq_s, dtype=np.float64)
    deficit = electron_energy_mgy_g_per_mbq_s() - published.energy_sum_mgy_g_per_mbq_s()
    if deficit > 0:
        values[5, 5, 5] += deficit / published.voxel_mass_g
    values.setflags(write=False)
    return Kernel(values, published.voxel_mm, medium, published.source_file + " (electron energy completed)")


def convolve_direct(tia_mbqh: np.ndarray, kernel: Kernel) -> np.ndarray:
    """Direct summation of the same convolution (reference for tests and benchmarks; slow)."""
    from scipy.ndimage import convolve as ndi_convolve

    return ndi_convolve(np.asarray(tia_mbqh, dtype=np.float64), kernel.s_gy_per_mbqh, mode="constant", cval=0.0)
