"""Images of the synthetic patient: CT (HU), 68Ga PET and 177Lu SPECT, with resolution, noise and motion.

Sizes (``default`` realistic but CI-friendly, ``small`` for unit tests):

| series        | default                                   | small                               |
|---------------|-------------------------------------------|-------------------------------------|
| PET/CT CT     | 256 x 256 x 87, 1.875 x 1.875 x 3 mm      | 112 x 112 x 52, 4 x 4 x 5 mm        |
| PET           | 128 x 128 x 65, 4 mm                      | 72 x 72 x 43, 6 mm                  |
| SPECT/CT CT   | 256 x 256 x 101, 1.875 x 1.875 x 4 mm     | 112 x 112 x 81, 4 x 4 x 5 mm        |
| SPECT         | 128 x 128 x 84, 4.8 mm                    | 80 x 80 x 84, 4.8 mm                |

PET/CT fields of view cover z = -129..129 mm (the torso, 300 mm long, continues beyond them);
SPECT/CT fields of view (about 404 mm) hold the whole torso, so the total SPECT activity is the
phantom's total activity.

Emission images: the tissues' values are painted (coverage fractions, see :mod:`iahepaticprrt.phantom.shapes`)
on a grid ``fine_factor`` times finer than the output (and extended beyond the field of view by
the kernel's reach, so activity outside the field of view blurs in as it would), blurred by an
isotropic Gaussian (PET 6 mm, SPECT 12 mm FWHM; ``scipy.ndimage.gaussian_filter``, truncated at
4 sigma, kernel normalised so uniform regions keep their value exactly), then averaged over each
output voxel. Noise (optional, unbiased, independent from voxel to voxel, drawn after the blur):
PET, Poisson(value x gain) / gain with the gain such that a uniform region at the healthy liver's
value has a voxel coefficient of variation of 15 % (other regions scale as 1/sqrt(value)); SPECT,
Poisson counts in the counts image itself (healthy liver at tp1: about 250 counts per 4.8 mm voxel,
CV about 6 %; later time points are noisier); CT, Gaussian, 12 HU standard deviation. (Noise drawn
before the blur would look more like reconstructed images, but its spatial correlation makes the
mean of even a 600 mL region wander by about 0.6 %.) Every random draw comes from
``numpy.random.default_rng((seed, stream))`` with a fixed stream per image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..imaging.grid import Grid
from .shapes import RigidPose, Tissue, bounding_box, paint

#: FWHM of the emission images (mm): PET and SPECT system resolution after reconstruction.
PET_FWHM_MM = 6.0
SPECT_FWHM_MM = 12.0
#: Voxel coefficient of variation of PET noise in a uniform region at the healthy-liver level.
PET_NOISE_CV_LIVER = 0.15
#: CT noise (HU, standard deviation).
CT_NOISE_HU = 12.0
#: Gaussian kernel truncation (standard deviations).
TRUNCATE_SIGMA = 4.0
FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


@dataclass(frozen=True)
class GridSpec:
    """An axial grid: matrix (columns, rows, slices), spacing (column, row, slice) mm, and the LPS
    centre of its field of view."""

    size_ijk: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    centre_lps_mm: tuple[float, float, float] = (0.0, 10.0, 0.0)

    def grid(self) -> Grid:
        size = np.array(self.size_ijk, float)
        spacing = np.array(self.spacing_mm, float)
        origin = np.array(self.centre_lps_mm, float) - (size - 1.0) / 2.0 * spacing
        return Grid(tuple(int(n) for n in self.size_ijk[::-1]), self.spacing_mm, tuple(origin))


@dataclass(frozen=True)
class PhantomSize:
    name: str
    petct_ct: GridSpec
    pet: GridSpec
    spect_ct: GridSpec
    spect: GridSpec
    pet_fine_factor: int
    spect_fine_factor: int


SIZES = {
    "default": PhantomSize(
        "default",
        petct_ct=GridSpec((256, 256, 87), (1.875, 1.875, 3.0)),
        pet=GridSpec((128, 128, 65), (4.0, 4.0, 4.0)),
        spect_ct=GridSpec((256, 256, 101), (1.875, 1.875, 4.0)),
        spect=GridSpec((128, 128, 84), (4.8, 4.8, 4.8)),
        pet_fine_factor=2, spect_fine_factor=2),
    "small": PhantomSize(
        "small",
        petct_ct=GridSpec((112, 112, 52), (4.0, 4.0, 5.0)),
        pet=GridSpec((72, 72, 43), (6.0, 6.0, 6.0)),
        spect_ct=GridSpec((112, 112, 81), (4.0, 4.0, 5.0)),
        spect=GridSpec((80, 80, 84), (4.8, 4.8, 4.8)),
        pet_fine_factor=2, spect_fine_factor=1),
}


def _body_index_box(grid: Grid, pose: RigidPose, body_shape, margin_vox: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index range [lo, hi) (i, j, k) of the posed body's bounding box plus a margin, clipped to the
    grid extended by the margin (the box may reach outside the field of view)."""
    lo, hi = bounding_box(body_shape)
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    index = grid.lps_to_index(pose.apply(corners))
    low = np.floor(index.min(axis=0)).astype(int) - margin_vox
    high = np.ceil(index.max(axis=0)).astype(int) + 1 + margin_vox
    size = np.array(grid.size_ijk)
    low = np.maximum(low, -margin_vox)
    high = np.minimum(high, size + margin_vox)
    return low, high


def _sub_grid(grid: Grid, low_ijk: np.ndarray, high_ijk: np.ndarray, factor: int) -> Grid:
    """Grid covering output voxels [low, high) with ``factor``^3 sub-voxels each."""
    spacing = np.array(grid.spacing_mm) / factor
    first = low_ijk - (factor - 1) / (2.0 * factor)
    shape_ijk = (high_ijk - low_ijk) * factor
    return Grid(tuple(int(n) for n in shape_ijk[::-1]), tuple(spacing), tuple(grid.index_to_lps(first)), grid.direction)


def _place(full: np.ndarray, block: np.ndarray, low_ijk: np.ndarray) -> None:
    """Copy ``block`` (indexed from ``low_ijk``) into ``full`` where they overlap."""
    size = np.array(full.shape[::-1])
    a = np.maximum(low_ijk, 0)
    b = np.minimum(low_ijk + np.array(block.shape[::-1]), size)
    if np.any(b <= a):
        return
    src = tuple(slice(int(a[d] - low_ijk[d]), int(b[d] - low_ijk[d])) for d in (2, 1, 0))
    dst = tuple(slice(int(a[d]), int(b[d])) for d in (2, 1, 0))
    full[dst] = block[src]


def emission_image(grid: Grid, pose: RigidPose, tissues: list[Tissue], values: dict[str, float], fwhm_mm: float,
                   fine_factor: int) -> np.ndarray:
    """Noise-free emission image on ``grid`` (float64): tissue values (per mL) painted on a fine grid,
    blurred by a Gaussian of ``fwhm_mm`` and averaged over each output voxel."""
    from scipy.ndimage import gaussian_filter

    sigma_mm = fwhm_mm * FWHM_TO_SIGMA
    spacing = np.array(grid.spacing_mm, float)
    margin = np.ceil(TRUNCATE_SIGMA * sigma_mm / spacing).astype(int) + 1
    body = tissues[0].shapes[0]
    low, high = _body_index_box(grid, pose, body, margin)
    fine_grid = _sub_grid(grid, low, high, fine_factor)
    fine = paint(fine_grid, pose, tissues, values, 0.0, antialias=True, dtype=np.float64)
    sigma_vox = [sigma_mm / s for s in fine_grid.spacing_mm[::-1]]  # k, j, i order
    blurred = gaussian_filter(fine, sigma_vox, mode="constant", cval=0.0, truncate=TRUNCATE_SIGMA)
    n = fine_factor
    nk, nj, ni = (np.array(blurred.shape) // n)
    block = blurred.reshape(nk, n, nj, n, ni, n).mean(axis=(1, 3, 5))
    out = np.zeros(grid.shape_kji, dtype=np.float64)
    _place(out, block, low)
    return out


def ct_image(grid: Grid, pose: RigidPose, tissues: list[Tissue]) -> np.ndarray:
    """Noise-free CT (HU, float32) of the posed phantom: air (-1000 HU) outside the body."""
    body = tissues[0].shapes[0]
    low, high = _body_index_box(grid, pose, body, np.array([2, 2, 2]))
    low = np.maximum(low, 0)
    high = np.minimum(high, np.array(grid.size_ijk))
    sub = _sub_grid(grid, low, high, 1)
    block = paint(sub, pose, tissues, {t.name: t.hu for t in tissues}, -1000.0, antialias=True)
    out = np.full(grid.shape_kji, -1000.0, dtype=np.float32)
    _place(out, block, low)
    return out


def rng_for(seed: int, stream: str) -> np.random.Generator:
    """Independent, reproducible random stream per image (``stream`` names the image)."""
    key = [int(seed)] + [b for b in stream.encode()]
    return np.random.default_rng(key)


def add_pet_noise(image: np.ndarray, reference_value: float, rng: np.random.Generator,
                  cv_at_reference: float = PET_NOISE_CV_LIVER) -> np.ndarray:
    """Poisson noise: Poisson(image x gain) / gain, with the gain such that a voxel at
    ``reference_value`` has a coefficient of variation ``cv_at_reference`` (unbiased)."""
    gain = 1.0 / (cv_at_reference ** 2 * reference_value)
    return rng.poisson(np.maximum(image, 0.0) * gain) / gain


def add_counts_noise(counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Poisson noise on a counts image (integer counts)."""
    return rng.poisson(np.maximum(counts, 0.0)).astype(np.float64)


def add_ct_noise(image: np.ndarray, rng: np.random.Generator, sigma_hu: float = CT_NOISE_HU) -> np.ndarray:
    noisy = image + rng.normal(0.0, sigma_hu, image.shape).astype(np.float32)
    return np.where(image > -1000.0, noisy, image).astype(np.float32)


