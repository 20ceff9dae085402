"""A baseline lesion carried to a follow-up scan by registration, refined on that scan's image:
where the lesion is now and how large, from its contrast against the tissue around it.
docs/physics.md section 28.2.

Registration places the baseline VOI on the visit's image (``study/followup_run.py``); the lesion
may have shrunk, grown or moved a little with the liver since, so the VOI is only where to look:

1. The search region is the carried VOI grown by ``margin_mm`` (10 mm + half the baseline
   lesion's equivalent radius by default). The background level B is the median of the search
   region outside the carried VOI grown by 3 mm (then outside the found lesion grown by two
   voxels), the noise the scaled median absolute deviation there; the lesion's sign (brighter or
   darker than its surroundings) comes from the baseline image.
2. The lesion is the connected part of the search region at least half way from B to the lesion
   level L (first the highest 3 x 3 x 3 mean near the carried VOI, then the median of the found
   lesion's interior) that touches the carried VOI grown by 3 mm; none: the lesion is not detected.
3. Its volume is the partial-volume sum sum((I - B) / (L - B)) over the found lesion grown by one
   voxel: a voxel half covered by the lesion counts one half, so the volume does not depend on
   where the voxel grid cuts the lesion's surface.
4. The segmentation is drawn on a grid finer than the image (``FINE_SPACING_MM``): the image's
   contrast fraction, linearly interpolated, above the level that gives the segmentation exactly
   that volume. Diameters are measured on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..errors import InputError
from ..imaging.grid import Grid

#: Base search margin around the carried VOI (mm); half the lesion's equivalent radius is added.
CARRY_MARGIN_MM = 10.0
#: Region around the carried VOI that the lesion must touch, and that the background leaves out (mm).
NEAR_MM = 3.0
#: Target spacing of the refined segmentation: in-plane and between slices (mm).
FINE_SPACING_MM = (0.5, 0.5, 0.7)
#: A lesion is detected when its highest 3 x 3 x 3 mean exceeds the background by this many noise SDs.
DETECTION_NOISE_SD = 2.0
#: Baseline contrast-to-noise ratio below which a lesion cannot be followed by its contrast.
MIN_BASELINE_CNR = 3.0
#: Levels of the volume-preserving segmentation outside this range get a warning (fraction of L - B).
LEVEL_RANGE = (0.25, 0.75)
MAD_TO_SD = 1.4826


@dataclass
class LesionContrast:
    polarity: float            # +1 brighter than its surroundings, -1 darker
    lesion_level: float
    background_level: float
    noise_sd: float

    @property
    def contrast_to_noise(self) -> float:
        return abs(self.lesion_level - self.background_level) / self.noise_sd if self.noise_sd > 0 else math.inf

    def to_dict(self) -> dict:
        return {"polarity": self.polarity, "lesion_level": self.lesion_level, "background_level": self.background_level,
                "noise_sd": self.noise_sd, "contrast_to_noise": self.contrast_to_noise}


@dataclass
class RefinedLesion:
    name: str
    detected: bool
    mask: np.ndarray | None          # bool on ``grid`` (a crop of the fine lattice of the visit image)
    grid: Grid | None
    volume_ml: float
    lesion_level: float | None = None
    background_level: float | None = None
    noise_sd: float | None = None
    level_fraction: float | None = None
    margin_mm: float = 0.0
    carried_volume_ml: float = 0.0
    displacement_mm: float | None = None  # centroid of the found lesion minus that of the carried VOI
    warnings: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"detected": self.detected, "volume_ml": self.volume_ml, "lesion_level": self.lesion_level,
                "background_level": self.background_level, "noise_sd": self.noise_sd,
                "level_fraction": self.level_fraction, "margin_mm": self.margin_mm,
                "carried_volume_ml": self.carried_volume_ml, "displacement_mm": self.displacement_mm,
                "method": "carried VOI refined on the visit image (docs/physics.md section 28.2)",
                "warnings": list(self.warnings)}


def _spacing_kji(grid: Grid) -> tuple[float, float, float]:
    return tuple(reversed(grid.spacing_mm))


def _within(mask: np.ndarray, distance_mm: float, spacing_kji) -> np.ndarray:
    """Voxels within ``distance_mm`` of ``mask`` (Euclidean, voxel centres)."""
    if distance_mm <= 0:
        return mask.copy()
    return ndimage.distance_transform_edt(~mask, sampling=spacing_kji) <= distance_mm


def _robust(values: np.ndarray) -> tuple[float, float]:
    median = float(np.median(values))
    return median, MAD_TO_SD * float(np.median(np.abs(values - median)))


def lesion_contrast(values: np.ndarray, grid: Grid, mask: np.ndarray, source=None, name: str = "") -> LesionContrast:
    """Level and sign of a lesion against its surroundings on the scan it was drawn on: the median of
    its interior (the mask eroded by one voxel, or the mask itself when too thin) against the median
    of a 3 to 8 mm shell around it; noise from that shell. Refused when the lesion is not visible
    (contrast-to-noise below ``MIN_BASELINE_CNR``): it could not be found again by its contrast."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        raise InputError(f"the baseline lesion '{name}' is empty on the baseline image", source, name)
    spacing = _spacing_kji(grid)
    lo, hi = _box(mask, 10.0, grid)
    sub = (slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(lo[2], hi[2]))
    m = mask[sub]
    v = np.asarray(values[sub], dtype=float)
    interior = ndimage.binary_erosion(m)
    lesion = float(np.median(v[interior if interior.any() else m]))
    shell = _within(m, 8.0, spacing) & ~_within(m, NEAR_MM, spacing)
    background, noise = _robust(v[shell])
    contrast = LesionContrast(1.0 if lesion >= background else -1.0, lesion, background, noise)
    if contrast.contrast_to_noise < MIN_BASELINE_CNR:
        raise InputError(f"lesion '{name}' is hardly visible on the baseline image (contrast-to-noise "
                         f"{contrast.contrast_to_noise:.1f} < {MIN_BASELINE_CNR:g}): it cannot be found again by its "
                         "contrast; give the visits' own segmentations", source, name)
    return contrast


def _box(mask: np.ndarray, margin_mm: float, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Index box [lo, hi) (k, j, i) of ``mask`` grown by ``margin_mm`` plus two voxels, clipped."""
    kk, jj, ii = np.nonzero(mask)
    pad = np.ceil(margin_mm / np.array(_spacing_kji(grid))).astype(int) + 2
    lo = np.maximum(np.array([kk.min(), jj.min(), ii.min()]) - pad, 0)
    hi = np.minimum(np.array([kk.max(), jj.max(), ii.max()]) + 1 + pad, np.array(mask.shape))
    return lo, hi


def fine_factors(grid: Grid) -> tuple[int, int, int]:
    """Oversampling factors (i, j, k) that bring the grid's spacing to ``FINE_SPACING_MM`` or finer."""
    return tuple(max(1, math.ceil(s / t - 1e-9)) for s, t in zip(grid.spacing_mm, FINE_SPACING_MM))


def fine_grid(grid: Grid, factors, lo_kji=(0, 0, 0), shape_kji=None) -> Grid:
    """The lattice ``factors`` times finer than ``grid`` (same axes; sub-voxel centres), or the crop of
    it starting at fine index ``lo_kji`` with ``shape_kji`` voxels."""
    factors = np.asarray(factors, dtype=float)  # i, j, k
    spacing = np.asarray(grid.spacing_mm) / factors
    first = (1.0 / factors - 1.0) / 2.0 + np.asarray(lo_kji[::-1], dtype=float) / factors
    shape = shape_kji if shape_kji is not None else tuple(int(n * f) for n, f in zip(grid.shape_kji, factors[::-1]))
    return Grid(shape, tuple(spacing), tuple(grid.index_to_lps(first)), grid.direction)


def _component(candidate: np.ndarray, near: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, int]:
    """The 26-connected part of ``candidate`` touching ``near`` with the largest sum of z; the
    number of such parts."""
    labels, count = ndimage.label(candidate, structure=np.ones((3, 3, 3), bool))
    touching = np.unique(labels[near & candidate])
    touching = touching[touching > 0]
    if touching.size == 0:
        return np.zeros(candidate.shape, bool), 0
    sums = ndimage.sum_labels(z, labels, touching)
    return labels == touching[int(np.argmax(sums))], int(touching.size)


def refine_lesion(values: np.ndarray, grid: Grid, carried: np.ndarray, polarity: float, name: str = "",
                  margin_mm: float | None = None, baseline_volume_ml: float | None = None,
                  baseline: LesionContrast | None = None) -> RefinedLesion:
    """Find the lesion near its carried VOI on the visit image (``values`` on ``grid``); see the module
    docstring. ``carried`` is the baseline VOI on ``grid`` (bool). Returns the refined segmentation
    on a crop of the image's fine lattice, and its volume.

    With the ``baseline`` contrast, a search region whose "background" is closer to the baseline
    lesion's level than to the baseline background (a lesion grown over the whole region) is not
    evaluated rather than called gone."""
    carried = np.asarray(carried, dtype=bool)
    carried_ml = float(carried.sum()) * grid.voxel_volume_ml
    if margin_mm is None:
        reference_ml = baseline_volume_ml if baseline_volume_ml else carried_ml
        margin_mm = CARRY_MARGIN_MM + 0.5 * (3.0 * reference_ml * 1000.0 / (4.0 * math.pi)) ** (1.0 / 3.0)
    result = RefinedLesion(name, False, None, None, 0.0, margin_mm=margin_mm, carried_volume_ml=carried_ml)
    if not carried.any():
        result.warnings.append("the carried VOI is empty on this scan (outside its field of view?): not evaluated")
        result.detected = None
        return result
    spacing = _spacing_kji(grid)
    lo, hi = _box(carried, margin_mm + 2.0 * max(spacing), grid)
    sub = (slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(lo[2], hi[2]))
    c = carried[sub]
    v = np.asarray(values[sub], dtype=float)
    region = _within(c, margin_mm, spacing)
    near = _within(c, NEAR_MM, spacing) & region
    background, noise = _robust(v[region & ~near])
    if baseline is not None and polarity * (background - baseline.background_level) > \
            0.5 * abs(baseline.lesion_level - baseline.background_level):
        result.detected = None
        result.background_level, result.noise_sd = background, noise
        result.warnings.append(f"the search region ({margin_mm:.0f} mm around the carried VOI) looks like lesion "
                               f"everywhere (level {background:.4g} against the baseline's background "
                               f"{baseline.background_level:.4g} and lesion {baseline.lesion_level:.4g}): the lesion may "
                               "have grown beyond it; not evaluated: segment it on this visit or widen margin_mm")
        return result
    z = polarity * (v - background)
    smoothed = ndimage.uniform_filter(z, size=3, mode="nearest")
    peak = float(smoothed[near].max())
    if noise > 0 and peak < DETECTION_NOISE_SD * noise:
        result.background_level, result.noise_sd = background, noise
        result.warnings.append(f"no lesion found near the carried VOI (highest local mean {peak / noise:.1f} noise SDs "
                               "from the background): recorded as disappeared; if it is visible, segment it on this "
                               "visit")
        return result
    level = peak
    lesion = np.zeros(z.shape, bool)
    for _ in range(3):
        lesion, parts = _component(region & (z >= 0.5 * level), near, z)
        if not lesion.any():
            break
        around = region & ~ndimage.binary_dilation(lesion, np.ones((3, 3, 3), bool), iterations=2)
        if around.sum() > 10:
            background, noise = _robust(v[around])
            z = polarity * (v - background)
        interior = ndimage.binary_erosion(lesion)
        level = float(np.median(z[interior])) if interior.any() else float(z[lesion].max())
    lesion, parts = _component(region & (z >= 0.5 * level), near, z)
    if not lesion.any() or level <= 0:
        result.warnings.append("no lesion found near the carried VOI: recorded as disappeared")
        return result
    if not ndimage.binary_erosion(lesion).any():
        result.warnings.append("lesion too thin for an interior: its level is its brightest voxel (volume may be "
                               "overestimated)")
    if parts > 1:
        result.warnings.append(f"{parts - 1} other structure(s) with the lesion's contrast near the carried VOI were "
                               "left out")
    if (lesion & ~ndimage.binary_erosion(region)).any():
        result.warnings.append(f"the lesion reaches the edge of the search region ({margin_mm:.0f} mm around the "
                               "carried VOI): it may extend beyond it; check it or segment it on this visit")
    counted = ndimage.binary_dilation(lesion, np.ones((3, 3, 3), bool)) & region
    volume_voxels = float(z[counted].sum()) / level

    # Fine segmentation with the same volume.
    factors = np.array(fine_factors(grid))                  # i, j, k
    f_kji = factors[::-1]
    kk, jj, ii = np.nonzero(counted)
    c_lo = np.array([kk.min(), jj.min(), ii.min()])
    c_hi = np.array([kk.max(), jj.max(), ii.max()]) + 1
    shape = tuple(int(v) for v in (c_hi - c_lo) * f_kji)
    axes = [(np.arange(n) + 0.5) / f - 0.5 + lo_c for n, f, lo_c in zip(shape, f_kji, c_lo)]
    coords = np.meshgrid(*axes, indexing="ij")
    fraction = ndimage.map_coordinates(z / level, coords, order=1, mode="nearest")
    inside = np.repeat(np.repeat(np.repeat(counted[c_lo[0]:c_hi[0], c_lo[1]:c_hi[1], c_lo[2]:c_hi[2]], f_kji[0], 0),
                                 f_kji[1], 1), f_kji[2], 2)
    wanted = int(round(volume_voxels * float(np.prod(factors))))
    candidates = np.sort(fraction[inside])[::-1]
    if wanted <= 0:
        result.warnings.append("the lesion's partial-volume sum is not positive: recorded as disappeared")
        return result
    wanted = min(wanted, candidates.size)
    threshold = float(candidates[wanted - 1])
    mask = inside & (fraction >= threshold)
    if not LEVEL_RANGE[0] <= threshold <= LEVEL_RANGE[1]:
        result.warnings.append(f"the segmentation's level is {threshold:.2f} of the lesion's contrast (expected about "
                               "0.5): the lesion is not uniform or other tissue is counted; check it")
    fine_lo = (lo + c_lo) * f_kji
    sub_grid = fine_grid(grid, factors, tuple(int(v) for v in fine_lo), shape)
    full_fine_counted = np.nonzero(mask)
    centre_found = sub_grid.index_to_lps(np.array([full_fine_counted[2].mean(), full_fine_counted[1].mean(),
                                                   full_fine_counted[0].mean()]))
    ck, cj, ci = np.nonzero(carried)
    centre_carried = grid.index_to_lps(np.array([ci.mean(), cj.mean(), ck.mean()]))
    result.detected = True
    result.mask = mask
    result.grid = sub_grid
    result.volume_ml = float(mask.sum()) * sub_grid.voxel_volume_ml
    result.lesion_level = float(polarity * level + background)
    result.background_level = background
    result.noise_sd = noise
    result.level_fraction = threshold
    result.displacement_mm = float(np.linalg.norm(centre_found - centre_carried))
    return result
