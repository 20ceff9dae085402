"""Lesion measurements on a segmentation mask: volume, RECIST 1.1 longest diameter in the slice
plane and the short axis perpendicular to it, with the end points a reader checks in Slicer.

docs/physics.md section 28. The segment's outline in a slice is taken where Slicer draws it: half
way between each voxel of the segment and each of its four in-plane neighbours outside it (the
0.5 level of the binary mask, marching squares). The longest diameter of a slice is the largest
distance between two outline points (found on their convex hull); the lesion's longest diameter
is the largest over its slices. The short axis (RECIST's measure of lymph nodes) is, in each slice,
the outline's width perpendicular to that slice's longest diameter; the lesion's short axis is the
largest over its slices, drawn through the middle of its long axis. Volume = voxels x voxel volume
(the segmentation's own grid: a segmentation drawn on a finer grid than its image, as Slicer's
oversampled segmentation geometry does, measures small lesions more finely).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..imaging.grid import Grid

#: A slice plane is "axial" when its normal is within this angle of the patient's z axis (degrees).
AXIAL_TOLERANCE_DEG = 1.0


@dataclass
class LesionMeasurement:
    """One lesion on one scan. Lengths in mm, positions in LPS mm (Slicer shows RAS: x and y negated)."""

    name: str
    volume_ml: float
    voxels: int
    present: bool
    longest_diameter_mm: float = 0.0
    longest_diameter_end_points_lps_mm: list | None = None
    short_axis_mm: float = 0.0
    short_axis_end_points_lps_mm: list | None = None
    slice_index: int | None = None          # k of the slice holding the longest diameter
    short_axis_slice_index: int | None = None
    plane_normal_lps: list | None = None
    plane_point_lps_mm: list | None = None  # a point of the plane of the longest diameter
    centroid_lps_mm: list | None = None
    warnings: list = field(default_factory=list)
    source: str = ""                        # where the mask came from (set by the caller)
    refinement: dict | None = None          # how a carried lesion was found (followup/carry_over.py)

    def to_dict(self) -> dict:
        return {
            "name": self.name, "present": self.present, "volume_ml": self.volume_ml, "voxels": self.voxels,
            "longest_diameter_mm": self.longest_diameter_mm,
            "longest_diameter_end_points_lps_mm": self.longest_diameter_end_points_lps_mm,
            "short_axis_mm": self.short_axis_mm,
            "short_axis_end_points_lps_mm": self.short_axis_end_points_lps_mm,
            "slice_index": self.slice_index, "short_axis_slice_index": self.short_axis_slice_index,
            "plane_normal_lps": self.plane_normal_lps, "plane_point_lps_mm": self.plane_point_lps_mm,
            "centroid_lps_mm": self.centroid_lps_mm, "warnings": list(self.warnings),
        }


def is_axial(grid: Grid) -> bool:
    """True when the grid's slices are axial (normal within ``AXIAL_TOLERANCE_DEG`` of z)."""
    normal = grid.direction[:, 2]
    return abs(float(normal[2])) >= math.cos(math.radians(AXIAL_TOLERANCE_DEG))


def outline_points(slice_mask: np.ndarray) -> np.ndarray:
    """Outline points (i, j continuous indices, shape (n, 2)) of a 2-D mask indexed [j, i]: half way
    between every voxel of the mask and each of its 4-neighbours outside it (outside the array
    counts as outside)."""
    padded = np.pad(np.asarray(slice_mask, dtype=bool), 1)
    inside = padded[1:-1, 1:-1]
    points = []
    for dj, di in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        neighbour = padded[1 + dj:padded.shape[0] - 1 + dj, 1 + di:padded.shape[1] - 1 + di]
        jj, ii = np.nonzero(inside & ~neighbour)
        points.append(np.column_stack([ii + 0.5 * di, jj + 0.5 * dj]))
    return np.unique(np.concatenate(points), axis=0) if points else np.zeros((0, 2))


def _hull(points_mm: np.ndarray) -> np.ndarray:
    """Convex hull vertices of 2-D points (all points when they are too few or collinear)."""
    if len(points_mm) < 4:
        return points_mm
    from scipy.spatial import ConvexHull, QhullError

    try:
        return points_mm[ConvexHull(points_mm).vertices]
    except QhullError:  # collinear points (a one-voxel-wide segment)
        return points_mm


def _farthest_pair(points_mm: np.ndarray) -> tuple[float, int, int]:
    """Largest distance between two points and their indices (brute force over hull vertices)."""
    difference = points_mm[:, None, :] - points_mm[None, :, :]
    distance = np.sqrt((difference ** 2).sum(axis=-1))
    a, b = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return float(distance[a, b]), int(a), int(b)


def _slice_diameters(slice_mask: np.ndarray, spacing_ij: tuple[float, float]):
    """(longest diameter mm, its two end points (i, j), short axis mm, its end points (i, j)) of one slice."""
    points = outline_points(slice_mask)
    scale = np.asarray(spacing_ij, float)
    hull = _hull(points * scale)
    longest, a, b = _farthest_pair(hull)
    p, q = hull[a], hull[b]
    if longest == 0.0:
        return 0.0, (p / scale, q / scale), 0.0, (p / scale, q / scale)
    axis = (q - p) / longest
    normal = np.array([-axis[1], axis[0]])
    projection = hull @ normal
    low, high = float(projection.min()), float(projection.max())
    middle = (p + q) / 2.0
    offset = float(middle @ normal)
    s0 = middle + (low - offset) * normal
    s1 = middle + (high - offset) * normal
    return longest, (p / scale, q / scale), high - low, (s0 / scale, s1 / scale)


def measure_lesion(mask: np.ndarray, grid: Grid, name: str = "") -> LesionMeasurement:
    """Volume, longest diameter and short axis of ``mask`` (bool [k, j, i] on ``grid``), measured in
    the grid's slice planes (docs/physics.md section 28). An empty mask is a lesion that is absent:
    volume 0 and diameters 0."""
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != grid.shape_kji:
        raise ValueError(f"mask shape {mask.shape} does not match grid {grid.shape_kji}")
    voxels = int(np.count_nonzero(mask))
    warnings = []
    if not is_axial(grid):
        warnings.append("the slices are not axial: diameters are measured in the image's own slice planes")
    if voxels == 0:
        return LesionMeasurement(name, 0.0, 0, False, warnings=warnings)
    kk, jj, ii = np.nonzero(mask)
    k0, k1, j0, j1, i0, i1 = kk.min(), kk.max() + 1, jj.min(), jj.max() + 1, ii.min(), ii.max() + 1
    box = mask[k0:k1, j0:j1, i0:i1]
    spacing_ij = (grid.spacing_mm[0], grid.spacing_mm[1])
    best = (-1.0, None, None)
    best_short = (-1.0, None, None)
    for k in range(box.shape[0]):
        if not box[k].any():
            continue
        longest, ends, short, short_ends = _slice_diameters(box[k], spacing_ij)
        if longest > best[0] + 1e-9:
            best = (longest, k, ends)
        if short > best_short[0] + 1e-9:
            best_short = (short, k, short_ends)

    def to_lps(point_ij, k):
        return [float(v) for v in grid.index_to_lps((point_ij[0] + i0, point_ij[1] + j0, float(k + k0)))]

    longest, k_long, ends = best
    short, k_short, short_ends = best_short
    centroid = grid.index_to_lps(np.array([ii.mean(), jj.mean(), kk.mean()]))
    return LesionMeasurement(
        name=name, volume_ml=voxels * grid.voxel_volume_ml, voxels=voxels, present=True,
        longest_diameter_mm=longest, longest_diameter_end_points_lps_mm=[to_lps(ends[0], k_long), to_lps(ends[1], k_long)],
        short_axis_mm=short,
        short_axis_end_points_lps_mm=[to_lps(short_ends[0], k_short), to_lps(short_ends[1], k_short)],
        slice_index=int(k_long + k0), short_axis_slice_index=int(k_short + k0),
        plane_normal_lps=[float(v) for v in grid.direction[:, 2]],
        plane_point_lps_mm=to_lps(((ends[0][0] + ends[1][0]) / 2, (ends[0][1] + ends[1][1]) / 2), k_long),
        centroid_lps_mm=[float(v) for v in centroid], warnings=warnings)
