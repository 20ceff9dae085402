"""Segmentations as named boolean masks on a grid, and their resampling to another grid.

Reading and writing segmentation files is :mod:`iahepaticprrt.io.segmentation_files`.

Resampling to another grid (a PET or SPECT) is done one documented way per use:
``"nearest"`` (a target voxel is in the segment when its centre falls in a segment voxel) or
``"fraction"`` (the fraction of the target voxel covered, from 3 x 3 x 3 sub-samples per voxel).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from .grid import Grid

#: Sub-samples per axis for fractional coverage (27 per voxel: coverage resolved to 1/27).
FRACTION_SUBSAMPLES = 3
#: Sample positions are moved by this much (mm, along the target's i, j, k axes). Image and
#: segmentation grids are often aligned so that sample positions fall exactly on the faces of
#: segmentation voxels; nearest-neighbour lookup then depends on floating-point round-off (a 30 mm
#: sphere's volume changed by 3 % between a cropped and an uncropped copy of one mask). A shift far
#: above round-off and far below any voxel size breaks those ties one fixed way.
TIE_BREAK_SHIFT_MM = (1.7e-4, 2.3e-4, 2.9e-4)


@dataclass
class Segment:
    name: str
    mask: np.ndarray  # bool, indexed [k, j, i] on the segmentation's grid
    color: tuple[float, float, float] | None = None

    @property
    def voxel_count(self) -> int:
        return int(np.count_nonzero(self.mask))


@dataclass
class Segmentation:
    """Ordered named masks on one grid. Masks may overlap (for example Liver and Lesion 1)."""

    grid: Grid
    segments: list[Segment] = field(default_factory=list)
    source: str = ""

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.segments]

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def segment(self, name: str) -> Segment:
        for s in self.segments:
            if s.name == name:
                return s
        raise InputError(f"no segment named '{name}' (segments: {', '.join(self.names) or 'none'})",
                         self.source or None, "segment name")

    def mask(self, name: str) -> np.ndarray:
        return self.segment(name).mask

    def add(self, name: str, mask: np.ndarray, color=None) -> Segment:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != self.grid.shape_kji:
            raise ValueError(f"mask shape {mask.shape} does not match grid {self.grid.shape_kji}")
        if name in self:
            raise ValueError(f"segment '{name}' already exists")
        segment = Segment(name, mask, color)
        self.segments.append(segment)
        return segment

    def volume_ml(self, name: str) -> float:
        return self.segment(name).voxel_count * self.grid.voxel_volume_ml

    def resampled(self, grid: Grid, mode: str = "nearest") -> "Segmentation":
        """The same segments on ``grid`` (boolean masks; see :func:`resample_mask`)."""
        if self.grid.is_same(grid):
            return Segmentation(grid, [Segment(s.name, s.mask.copy(), s.color) for s in self.segments], self.source)
        out = Segmentation(grid, source=self.source)
        for s in self.segments:
            out.add(s.name, resample_mask(s.mask, self.grid, grid, "nearest") if mode == "nearest"
                    else resample_mask(s.mask, self.grid, grid, "fraction") >= 0.5, s.color)
        return out


# ---- resampling ------------------------------------------------------------------------------
def resample_mask(mask: np.ndarray, source: Grid, target: Grid, mode: str = "nearest") -> np.ndarray:
    """Resample a boolean mask from ``source`` to ``target``.

    ``mode="nearest"`` returns a bool array (target voxel centre inside a source voxel of the mask);
    ``mode="fraction"`` returns float32 coverage fractions in [0, 1] (sub-sampled voxel centres,
    ``FRACTION_SUBSAMPLES`` per axis). Points outside the source grid count as outside the mask.
    """
    import SimpleITK as sitk

    if mode not in ("nearest", "fraction"):
        raise ValueError(f"unknown resampling mode '{mode}'")
    mask = np.asarray(mask, dtype=bool)
    if source.is_same(target):
        return mask.copy() if mode == "nearest" else mask.astype(np.float32)
    out_dtype = bool if mode == "nearest" else np.float32
    result = np.zeros(target.shape_kji, dtype=out_dtype)
    if not mask.any():
        return result
    # Restrict the work to the target voxels around the mask's bounding box.
    kk, jj, ii = np.nonzero(mask)
    lo = np.array([ii.min(), jj.min(), kk.min()], float) - 1.0
    hi = np.array([ii.max(), jj.max(), kk.max()], float) + 1.0
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    target_index = target.lps_to_index(source.index_to_lps(corners))
    size = np.array(target.size_ijk)
    t_lo = np.clip(np.floor(target_index.min(axis=0)).astype(int) - 1, 0, size - 1)
    t_hi = np.clip(np.ceil(target_index.max(axis=0)).astype(int) + 1, 0, size - 1)
    if np.any(t_hi < t_lo):
        return result
    n = FRACTION_SUBSAMPLES if mode == "fraction" else 1
    sub_size = (t_hi - t_lo + 1) * n
    sub_spacing = np.array(target.spacing_mm) / n
    # Centre of the first sub-sample of voxel t_lo: voxel centre - (n - 1) / 2 sub-steps.
    first_index = t_lo - (n - 1) / (2.0 * n)
    reference = sitk.Image([int(v) for v in sub_size], sitk.sitkUInt8)
    reference.SetSpacing([float(v) for v in sub_spacing])
    origin = target.index_to_lps(first_index) + target.direction @ np.array(TIE_BREAK_SHIFT_MM)
    reference.SetOrigin([float(v) for v in origin])
    reference.SetDirection(tuple(target.direction.ravel()))
    moving = source.to_sitk(mask.astype(np.uint8))
    resampled = sitk.Resample(moving, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    block = sitk.GetArrayFromImage(resampled)
    sl = tuple(slice(int(a), int(b) + 1) for a, b in zip(t_lo[::-1], t_hi[::-1]))
    if mode == "nearest":
        result[sl] = block.astype(bool)
    else:
        nk, nj, ni = (t_hi - t_lo + 1)[::-1]
        result[sl] = block.reshape(nk, n, nj, n, ni, n).mean(axis=(1, 3, 5), dtype=np.float32)
    return result
