"""SUV statistics of volumes of interest (VOIs) on a PET, vectorised.

Partial-voxel policy (the project's, docs/physics.md section 10): when a segment is on another grid than the
PET, each PET voxel's weight is the fraction of it the segment covers
(``segmentation.resample_mask(..., "fraction")``, 27 sub-samples per voxel); SUVmean, SUVstd,
volume and total uptake use these weights; SUVmax, SUVmin and the candidate centres of SUVpeak use
the PET voxels covered at least half (fraction >= 0.5). On the same grid the weights are 0 or 1.

Statistics (docs/physics.md section 2):

- ``suv_max`` / ``suv_min``: hottest / coldest voxel (fraction >= 0.5).
- ``suv_peak``: the highest mean SUV of a 1 mL sphere (radius 6.2 mm; PERCIST, Wahl et al.,
  J Nucl Med 2009;50 Suppl 1:122S) centred on a voxel of the VOI (fraction >= 0.5). The sphere's
  voxels are weighted by the fraction of each inside the sphere (``sphere_kernel``); the sphere is
  not limited to the VOI (as PERCIST defines it). Means are computed once per region by FFT
  convolution of the SUV image with the sphere kernel, then read at the candidate centres. A sphere
  cut by the edge of the PET field of view averages the voxels inside it, with a warning.
- ``suv_mean``, ``suv_std`` (weighted, population), ``volume_ml`` (sum of weights x voxel volume),
  ``total_uptake_suv_ml`` = SUVmean x volume (total lesion uptake for lesions).
- Isocontour sub-VOIs (lesions): the voxels of the VOI (fraction >= 0.5) at or above 41 % and 50 %
  of SUVmax, 26-connected to the hottest voxel (:func:`iahepaticprrt.imaging.isocontour.isocontour_mask`), each voxel
  counted whole.

Memory: every VOI is held as its bounding box on the PET grid, so 12 VOIs on a 400 x 400 x 300
PET never need 12 full-size arrays (benchmarks/uptake.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..imaging.grid import Grid
from ..imaging.isocontour import isocontour_mask
from ..imaging.segmentation import Segmentation, resample_mask

#: PERCIST SUVpeak sphere: 1 mL, radius 6.2 mm (4/3 pi 6.2^3 = 998.3 mm^3; Wahl et al. 2009).
PEAK_SPHERE_RADIUS_MM = 6.2
#: Sub-samples per axis and voxel for the sphere kernel's partial-voxel weights (volume within 0.05 %
#: of 1 mL for 2 to 4 mm voxels).
KERNEL_SUBSAMPLES = 20
#: Isocontour levels (fractions of SUVmax) computed for lesions (docs/physics.md section 2).
ISOCONTOUR_FRACTIONS = (0.41, 0.50)
#: A VOI voxel counts for max/min/peak candidates when at least this fraction of it is covered.
CORE_FRACTION = 0.5
#: Voxels per FFT slab (bounds the memory of the SUVpeak convolution).
SLAB_VOXELS = 4_000_000


@dataclass
class VoiWeights:
    """One segment on the PET grid: its bounding box there and each voxel's coverage weight."""

    name: str
    box: tuple  # (slice_k, slice_j, slice_i) on the PET grid; None when nothing lies in the PET
    weights: np.ndarray  # float32 in [0, 1] over the box
    segment_volume_ml: float  # the segment's volume on its own grid
    outside_fov_fraction: float  # fraction of the segment's voxels whose centres lie outside the PET

    @property
    def core(self) -> np.ndarray:
        return self.weights >= CORE_FRACTION


# ---- segments onto the PET grid ----------------------------------------------------------------
def _box_around(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(lo, hi) inclusive k, j, i bounds of the true voxels of ``mask``; None if empty."""
    any_k = np.flatnonzero(mask.any(axis=(1, 2)))
    if any_k.size == 0:
        return None
    any_j = np.flatnonzero(mask.any(axis=(0, 2)))
    any_i = np.flatnonzero(mask.any(axis=(0, 1)))
    return (np.array([any_k[0], any_j[0], any_i[0]]), np.array([any_k[-1], any_j[-1], any_i[-1]]))


def _outside_fraction(mask: np.ndarray, bounds, source: Grid, target: Grid) -> float:
    """Fraction of the mask's voxel centres outside the target's field of view."""
    lo, hi = bounds
    corners = np.array([[i, j, k] for k in (lo[0], hi[0]) for j in (lo[1], hi[1]) for i in (lo[2], hi[2])], float)
    index = target.lps_to_index(source.index_to_lps(corners))
    size = np.array(target.size_ijk, float)
    if np.all(index >= -0.5) and np.all(index <= size - 0.5):
        return 0.0  # the box's corner voxels are inside: so is every voxel (the FOV is convex)
    outside = 0
    total = 0
    kk, jj, ii = np.nonzero(mask)
    for start in range(0, kk.size, 1_000_000):
        ijk = np.column_stack([ii[start:start + 1_000_000], jj[start:start + 1_000_000], kk[start:start + 1_000_000]])
        index = target.lps_to_index(source.index_to_lps(ijk.astype(float)))
        inside = np.all((index >= -0.5) & (index <= size - 0.5), axis=1)
        outside += int(np.count_nonzero(~inside))
        total += inside.size
    return outside / total if total else 0.0


def voi_weights(name: str, mask: np.ndarray, mask_grid: Grid, pet_grid: Grid) -> VoiWeights:
    """A segment's weights on the PET grid (see the module's partial-voxel policy)."""
    mask = np.asarray(mask, dtype=bool)
    bounds = _box_around(mask)
    segment_volume_ml = float(np.count_nonzero(mask)) * mask_grid.voxel_volume_ml if bounds is not None else 0.0
    empty = VoiWeights(name, None, np.zeros((0, 0, 0), np.float32), segment_volume_ml, 0.0)
    if bounds is None:
        return empty
    lo, hi = bounds
    if mask_grid.is_same(pet_grid):
        box = tuple(slice(int(a), int(b) + 1) for a, b in zip(lo, hi))
        return VoiWeights(name, box, mask[box].astype(np.float32), segment_volume_ml, 0.0)
    outside = _outside_fraction(mask, bounds, mask_grid, pet_grid)
    # PET voxels that can touch the segment: its box's outer corners mapped to PET indices, +-1.
    corners = np.array([[i, j, k] for k in (lo[0] - 0.5, hi[0] + 0.5) for j in (lo[1] - 0.5, hi[1] + 0.5)
                        for i in (lo[2] - 0.5, hi[2] + 0.5)], float)
    index = pet_grid.lps_to_index(mask_grid.index_to_lps(corners))
    size = np.array(pet_grid.size_ijk)
    t_lo = np.maximum(np.floor(index.min(axis=0)).astype(int) - 1, 0)
    t_hi = np.minimum(np.ceil(index.max(axis=0)).astype(int) + 1, size - 1)
    if np.any(t_hi < t_lo):
        empty.outside_fov_fraction = outside
        return empty
    sub_grid = Grid((t_hi - t_lo + 1)[::-1], pet_grid.spacing_mm, pet_grid.index_to_lps(t_lo.astype(float)),
                    pet_grid.direction)
    # Only the mask's own bounding box goes to the resampler (its tie-break makes the result
    # independent of the crop: Testing/test_voi_statistics.py).
    crop = tuple(slice(int(a), int(b) + 1) for a, b in zip(lo, hi))
    crop_grid = Grid(mask[crop].shape, mask_grid.spacing_mm, mask_grid.index_to_lps((lo[2], lo[1], lo[0])),
                     mask_grid.direction)
    fractions = resample_mask(mask[crop], crop_grid, sub_grid, "fraction")
    inner = _box_around(fractions > 0)
    if inner is None:
        empty.outside_fov_fraction = outside
        return empty
    a, b = inner
    fractions = fractions[a[0]:b[0] + 1, a[1]:b[1] + 1, a[2]:b[2] + 1]
    start = t_lo[::-1] + a
    box = tuple(slice(int(s), int(s) + n) for s, n in zip(start, fractions.shape))
    return VoiWeights(name, box, np.ascontiguousarray(fractions, dtype=np.float32), segment_volume_ml, outside)


def segmentation_weights(segmentation: Segmentation, pet_grid: Grid) -> list[VoiWeights]:
    return [voi_weights(s.name, s.mask, segmentation.grid, pet_grid) for s in segmentation.segments]


# ---- SUVpeak sphere ----------------------------------------------------------------------------
def sphere_kernel(spacing_mm, radius_mm: float = PEAK_SPHERE_RADIUS_MM,
                  subsamples: int = KERNEL_SUBSAMPLES) -> np.ndarray:
    """Weights [k, j, i] of the voxels around a centre voxel: the fraction of each inside a sphere
    of ``radius_mm`` centred on the centre voxel's centre (``subsamples`` per axis)."""
    di, dj, dk = (float(s) for s in spacing_mm)
    half = [int(math.floor(radius_mm / d + 0.5)) for d in (dk, dj, di)]
    offsets = (np.arange(subsamples) + 0.5) / subsamples - 0.5  # sub-sample positions in a voxel
    axes = []
    for n, d in zip(half, (dk, dj, di)):
        centres = np.arange(-n, n + 1, dtype=float)
        axes.append(((centres[:, None] + offsets[None, :]) * d) ** 2)  # (voxels, subsamples) squared mm
    zk, zj, zi = axes
    r2 = (zk[:, None, None, :, None, None] + zj[None, :, None, None, :, None] + zi[None, None, :, None, None, :])
    return (r2 <= radius_mm ** 2).mean(axis=(3, 4, 5))


class SphereMeans:
    """Mean SUV of the sphere centred on each voxel of a region, by FFT convolution (slab-wise)."""

    def __init__(self, suv: np.ndarray, spacing_mm, radius_mm: float = PEAK_SPHERE_RADIUS_MM):
        self.suv = suv
        self.kernel = sphere_kernel(spacing_mm, radius_mm)
        self.kernel_sum = float(self.kernel.sum())
        self.half = np.array(self.kernel.shape) // 2
        self.region = None
        self.sums = None

    def prepare(self, boxes: list[tuple]) -> None:
        """Compute the kernel-weighted sums over the union of ``boxes`` (k, j, i slices)."""
        boxes = [b for b in boxes if b is not None]
        if not boxes:
            return
        lo = np.min([[s.start for s in b] for b in boxes], axis=0)
        hi = np.max([[s.stop for s in b] for b in boxes], axis=0)  # exclusive
        self.region = (lo, hi)
        self.sums = np.empty(tuple(hi - lo), dtype=np.float32)
        shape = np.array(self.suv.shape)
        h = self.half
        plane = int(np.prod(hi[1:] - lo[1:] + 2 * h[1:]))
        slab = max(1, SLAB_VOXELS // max(plane, 1) - 2 * int(h[0]))
        for k0 in range(lo[0], hi[0], slab):
            k1 = min(k0 + slab, hi[0])
            want_lo = np.array([k0, lo[1], lo[2]]) - h
            want_hi = np.array([k1, hi[1], hi[2]]) + h
            block = np.zeros(tuple(want_hi - want_lo), dtype=np.float64)  # zeros outside the image
            src_lo = np.maximum(want_lo, 0)
            src_hi = np.minimum(want_hi, shape)
            dst = tuple(slice(int(a - w), int(b - w)) for a, b, w in zip(src_lo, src_hi, want_lo))
            block[dst] = self.suv[tuple(slice(int(a), int(b)) for a, b in zip(src_lo, src_hi))]
            self.sums[k0 - lo[0]:k1 - lo[0]] = _correlate_valid(block, self.kernel)

    def means_at(self, kji: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sphere means at voxel indices ``kji`` (n, 3) inside the prepared region, and whether each
        sphere is cut by the edge of the image (then the mean is over the part inside)."""
        lo, _ = self.region
        sums = self.sums[tuple((kji - lo).T)].astype(np.float64)
        shape = np.array(self.suv.shape)
        near = np.any((kji < self.half) | (kji >= shape - self.half), axis=1)
        weight = np.full(len(kji), self.kernel_sum)
        if np.any(near):
            idx = kji[near]
            valid = []
            for axis in range(3):
                offsets = np.arange(-self.half[axis], self.half[axis] + 1)
                position = idx[:, axis, None] + offsets[None, :]
                valid.append(((position >= 0) & (position < shape[axis])).astype(np.float64))
            weight[near] = np.einsum("abc,na,nb,nc->n", self.kernel, *valid)
        return sums / weight, weight < self.kernel_sum * (1 - 1e-9)


def _correlate_valid(block: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Sum of kernel x block around each voxel whose kernel window lies wholly in ``block`` (numpy's
    "valid" correlation), by FFT. A circular convolution of the block's own size is enough: the
    valid outputs are the ones the wrap-around does not reach."""
    from scipy import fft

    shape = [fft.next_fast_len(int(n), real=True) for n in block.shape]
    flipped = kernel[::-1, ::-1, ::-1]  # correlation = convolution with the flipped kernel
    spectrum = fft.rfftn(block, shape)
    spectrum *= fft.rfftn(flipped, shape)
    full = fft.irfftn(spectrum, shape)
    del spectrum
    valid = tuple(slice(k - 1, n) for k, n in zip(kernel.shape, block.shape))
    return full[valid]


# ---- statistics ----------------------------------------------------------------------------------
def _lps(grid: Grid, kji) -> list[float]:
    k, j, i = (float(v) for v in kji)
    return [float(v) for v in grid.index_to_lps((i, j, k))]


def _empty_stats(reason: str) -> dict:
    return {"volume_ml": 0.0, "suv_max": None, "suv_peak": None, "suv_mean": None, "suv_min": None,
            "suv_std": None, "total_uptake_suv_ml": None, "warnings": [reason]}


def voi_statistics(suv: np.ndarray, grid: Grid, vois: list[VoiWeights], isocontour_names=(),
                   isocontour_fractions=ISOCONTOUR_FRACTIONS, unit: str = "SUV") -> list[dict]:
    """Statistics of every VOI (in order); ``isocontour_names`` get the isocontour sub-VOIs."""
    voxel_ml = grid.voxel_volume_ml
    peaks = SphereMeans(suv, grid.spacing_mm)
    peaks.prepare([v.box for v in vois if v.box is not None and np.any(v.core)])
    results = []
    for voi in vois:
        stats = _one_voi(suv, grid, voi, voxel_ml, peaks)
        if voi.name in isocontour_names and stats.get("suv_max") is not None:
            stats["isocontours"] = _isocontours(suv, grid, voi, voxel_ml, isocontour_fractions)
        results.append(stats)
    return results


def _one_voi(suv, grid, voi: VoiWeights, voxel_ml, peaks: SphereMeans) -> dict:
    base = {"name": voi.name, "segment_volume_ml": voi.segment_volume_ml,
            "fraction_outside_pet_fov": voi.outside_fov_fraction}
    if voi.segment_volume_ml == 0.0:
        return {**base, **_empty_stats("empty segment: no voxel")}
    if voi.box is None or not np.any(voi.weights > 0):
        return {**base, **_empty_stats("the segment lies outside the PET field of view")}
    warnings = []
    if voi.outside_fov_fraction > 0:
        warnings.append(f"{100 * voi.outside_fov_fraction:.1f} % of the segment lies outside the PET field of view: "
                        "statistics cover the part inside")
    values = suv[voi.box].astype(np.float64)
    w = voi.weights.astype(np.float64)
    weight_sum = float(w.sum())
    mean = float(np.sum(w * values) / weight_sum)
    variance = float(np.sum(w * (values - mean) ** 2) / weight_sum)
    volume_ml = weight_sum * voxel_ml
    stats = {**base, "voxel_count": int(np.count_nonzero(voi.core)), "volume_ml": volume_ml,
             "volume_equivalent_diameter_mm": (6.0 * volume_ml * 1000.0 / math.pi) ** (1.0 / 3.0),
             "suv_mean": mean, "suv_std": math.sqrt(max(variance, 0.0)), "total_uptake_suv_ml": mean * volume_ml}
    core = voi.core
    if not np.any(core):
        warnings.append("no PET voxel is covered at least half by the segment: SUVmax, SUVmin and SUVpeak undefined")
        stats.update({"suv_max": None, "suv_min": None, "suv_peak": None})
        stats["warnings"] = warnings
        return stats
    offset = np.array([s.start for s in voi.box])
    core_index = np.argwhere(core)
    core_values = values[core]
    arg_max = int(np.argmax(core_values))
    stats["suv_max"] = float(core_values[arg_max])
    stats["suv_min"] = float(core_values.min())
    stats["suv_max_position_lps_mm"] = _lps(grid, core_index[arg_max] + offset)
    means, truncated = peaks.means_at(core_index + offset)
    arg_peak = int(np.argmax(means))
    stats["suv_peak"] = float(means[arg_peak])
    stats["suv_peak_centre_lps_mm"] = _lps(grid, core_index[arg_peak] + offset)
    if truncated[arg_peak]:
        warnings.append("the SUVpeak sphere is cut by the edge of the PET field of view: its mean covers the part "
                        "inside")
    stats["warnings"] = warnings
    return stats


def _isocontours(suv, grid, voi: VoiWeights, voxel_ml, fractions) -> dict:
    values = suv[voi.box]
    out = {}
    for fraction in fractions:
        mask = isocontour_mask(values, voi.core, fraction)
        count = int(np.count_nonzero(mask))
        inside = values[mask].astype(np.float64)
        mean = float(inside.mean()) if count else None
        volume_ml = count * voxel_ml
        out[f"{round(100 * fraction):d}"] = {
            "fraction_of_suv_max": fraction,
            "threshold_suv": float(fraction * values[voi.core].max()),
            "voxel_count": count, "volume_ml": volume_ml, "suv_mean": mean,
            "total_uptake_suv_ml": None if mean is None else mean * volume_ml,
        }
    return out
