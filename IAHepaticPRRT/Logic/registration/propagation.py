"""Carrying VOIs from one scan to another through a registration transform.

The transform follows ITK's convention (:mod:`iahepaticprrt.registration.register`): it maps points of the TARGET grid's
space (the registration's fixed image) to the SOURCE segmentation's space (the moving image).
Register with the scan that should receive the VOIs as the fixed image, then propagate.

Two resampling modes (the choice is reported in every result):

- ``"fraction"`` (default): each target voxel is split into 3 x 3 x 3 sub-voxels whose centres are
  mapped through the transform and looked up (nearest neighbour) in the source mask; the fraction
  inside is the voxel's coverage, and the voxel belongs to the propagated VOI when it is at least
  0.5 (the project's partial-voxel policy: half-covered voxels count, so the volume is kept when
  the target voxels are larger or rotated). :func:`propagate_mask` can return the fractions.
- ``"nearest"``: the target voxel's centre is mapped and looked up (faster; a VOI's volume drifts
  by up to a voxel layer when the grids differ).

Only the target voxels that can reach the source mask are computed (a bound from the linear part
of the transform and the B-spline's largest coefficient), so small VOIs are cheap on large grids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..imaging.grid import Grid
from ..imaging.segmentation import FRACTION_SUBSAMPLES, Segment, Segmentation
from ..imaging.transforms import linear_part_and_displacement_bound
from ..imaging.voi_roles import role_of

MODES = ("fraction", "nearest")
#: Coverage fraction at or above which a target voxel belongs to the propagated VOI.
FRACTION_THRESHOLD = 0.5


def _target_box(mask: np.ndarray, source: Grid, target: Grid, transform) -> tuple[np.ndarray, np.ndarray] | None:
    """(lo, hi) i, j, k indices of the target voxels whose transformed centres can fall in the mask's
    bounding box; None when none can."""
    size = np.array(target.size_ijk)
    bound = linear_part_and_displacement_bound(transform) if transform is not None else (np.eye(3), np.zeros(3), 0.0)
    if bound is None:
        return np.zeros(3, int), size - 1
    a, o, displacement_mm = bound
    kk, jj, ii = np.nonzero(mask)
    lo = np.array([ii.min(), jj.min(), kk.min()], float) - 1.0
    hi = np.array([ii.max(), jj.max(), kk.max()], float) + 1.0
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    source_points = source.index_to_lps(corners)
    target_points = (source_points - o) @ np.linalg.inv(a).T
    index = target.lps_to_index(target_points)
    pad = displacement_mm / np.array(target.spacing_mm) + 1.0
    t_lo = np.floor(index.min(axis=0) - pad).astype(int)
    t_hi = np.ceil(index.max(axis=0) + pad).astype(int)
    if np.any(t_hi < 0) or np.any(t_lo > size - 1):
        return None
    return np.clip(t_lo, 0, size - 1), np.clip(t_hi, 0, size - 1)


def propagate_mask(mask: np.ndarray, source: Grid, target: Grid, transform=None, mode: str = "fraction",
                   return_fraction: bool = False) -> np.ndarray:
    """Mask on ``source`` carried onto ``target`` through ``transform`` (target -> source points).

    Returns a bool mask (``"fraction"``: coverage >= 0.5), or the float32 coverage fractions with
    ``return_fraction=True`` (``"fraction"`` mode only). Source points outside the source grid are
    outside the mask.
    """
    import SimpleITK as sitk

    if mode not in MODES:
        raise ValueError(f"unknown propagation mode '{mode}' (expected one of {', '.join(MODES)})")
    if return_fraction and mode != "fraction":
        raise ValueError("fractions need mode='fraction'")
    mask = np.asarray(mask, dtype=bool)
    fractions = np.zeros(target.shape_kji, dtype=np.float32) if return_fraction else None
    result = np.zeros(target.shape_kji, dtype=bool)
    if not mask.any():
        return fractions if return_fraction else result
    box = _target_box(mask, source, target, transform)
    if box is None:
        return fractions if return_fraction else result
    t_lo, t_hi = box
    n = FRACTION_SUBSAMPLES if mode == "fraction" else 1
    sub_size = (t_hi - t_lo + 1) * n
    reference = sitk.Image([int(v) for v in sub_size], sitk.sitkUInt8)
    reference.SetSpacing([float(v) for v in np.array(target.spacing_mm) / n])
    reference.SetOrigin([float(v) for v in target.index_to_lps(t_lo - (n - 1) / (2.0 * n))])
    reference.SetDirection(tuple(target.direction.ravel()))
    moving = source.to_sitk(mask.astype(np.uint8))
    resampled = sitk.Resample(moving, reference, transform if transform is not None else sitk.Transform(),
                              sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    block = sitk.GetArrayFromImage(resampled)
    sl = tuple(slice(int(a), int(b) + 1) for a, b in zip(t_lo[::-1], t_hi[::-1]))
    if n == 1:
        result[sl] = block.astype(bool)
        return result
    nk, nj, ni = (t_hi - t_lo + 1)[::-1]
    block_fraction = block.reshape(nk, n, nj, n, ni, n).mean(axis=(1, 3, 5), dtype=np.float32)
    if return_fraction:
        fractions[sl] = block_fraction
        return fractions
    result[sl] = block_fraction >= FRACTION_THRESHOLD
    return result


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice similarity 2 |A n B| / (|A| + |B|) of two masks on the same grid (NaN when both are empty)."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"masks on different grids: {a.shape} vs {b.shape}")
    total = int(np.count_nonzero(a)) + int(np.count_nonzero(b))
    return float("nan") if total == 0 else 2.0 * int(np.count_nonzero(a & b)) / total


@dataclass
class PropagationResult:
    segmentation: Segmentation
    rows: list[dict] = field(default_factory=list)
    mode: str = "fraction"
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"mode": self.mode, "fraction_threshold": FRACTION_THRESHOLD if self.mode == "fraction" else None,
                "segments": list(self.rows), "warnings": list(self.warnings)}


def propagate_segmentation(seg: Segmentation, transform, target: Grid, mode: str = "fraction",
                           names=None) -> PropagationResult:
    """Every segment (or those in ``names``) carried onto ``target``; one row per segment with its
    volume before (source grid) and after (target grid) in mL and their ratio.

    A segment that ends up empty or loses more than half its volume gets a warning (it left the
    target's field of view or the transform is wrong) but is kept, so the user sees it.
    """
    out = Segmentation(target, source=seg.source)
    rows, warnings = [], []
    for segment in seg.segments:
        if names is not None and segment.name not in names:
            continue
        mask = propagate_mask(segment.mask, seg.grid, target, transform, mode)
        out.segments.append(Segment(segment.name, mask, segment.color))
        before_ml = segment.voxel_count * seg.grid.voxel_volume_ml
        after_ml = int(np.count_nonzero(mask)) * target.voxel_volume_ml
        ratio = after_ml / before_ml if before_ml > 0 else float("nan")
        rows.append({"segment": segment.name, "role": role_of(segment.name).role, "volume_ml_before": before_ml,
                     "volume_ml_after": after_ml, "volume_ratio": ratio})
        if before_ml > 0 and after_ml == 0:
            warnings.append(f"{segment.name}: empty after propagation (outside the target's field of view?)")
        elif before_ml > 0 and ratio < 0.5:
            warnings.append(f"{segment.name}: lost {1 - ratio:.0%} of its volume (partly outside the target's field "
                            "of view?)")
    return PropagationResult(out, rows, mode, warnings)


def compare_with_target(propagated: Segmentation, target: Segmentation) -> list[dict]:
    """Dice of each propagated segment against the target scan's own segment of the same name.

    ``target`` is resampled (nearest) onto the propagated grid when its grid differs. Segments
    without a namesake are skipped.
    """
    if not propagated.grid.is_same(target.grid):
        target = target.resampled(propagated.grid, "nearest")
    rows = []
    for segment in propagated.segments:
        if segment.name not in target:
            continue
        reference = target.mask(segment.name)
        rows.append({"segment": segment.name, "role": role_of(segment.name).role,
                     "dice": dice(segment.mask, reference),
                     "volume_ml_target": int(np.count_nonzero(reference)) * target.grid.voxel_volume_ml})
    return rows
