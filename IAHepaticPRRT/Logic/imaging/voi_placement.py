"""Do the VOIs sit on the uptake they should hold? A check for a segmentation drawn on another scan.

A ``.seg.nrrd`` carries no frame of reference, so the intra-arterial segmentation given with the
intravenous PET, or the PET/CT segmentation given with the SPECT, resamples without complaint and
measures beside the lesions. Such a mix-up shows as a common displacement: every hot VOI (lesions,
kidneys, spleen) is several millimetres off the uptake around it, where a VOI drawn on its own scan
is within a voxel or two.

For each hot VOI: the uptake it holds is the connected region, within ``SEARCH_MARGIN_MM`` of the
VOI, of voxels at or above half the VOI's hottest voxel (seeded at that voxel); its offset is the
distance from the VOI's centroid to that region's intensity-weighted centroid. When at least
``MIN_VOIS`` VOIs are checked and their median offset exceeds ``MEDIAN_OFFSET_WARNING_MM``, the
segmentation probably belongs to another scan (or the scans moved: breathing, a misregistration),
and a warning says so. Measured on the synthetic patient (docs/physics.md section 21): median offset
0.5 to 1.3 mm for each scan's own segmentation, 6.8 to 10.1 mm for another scan's.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .grid import Grid

#: Uptake within this distance of a VOI may be the uptake it was drawn around (mm).
SEARCH_MARGIN_MM = 15.0
#: Median offset of the hot VOIs above which the segmentation is reported as misplaced (mm).
MEDIAN_OFFSET_WARNING_MM = 5.0
#: Fewer hot VOIs than this give no verdict (one irregular lesion is not a misplaced segmentation).
MIN_VOIS = 3


def uptake_offset_mm(values: np.ndarray, grid: Grid, mask: np.ndarray) -> float | None:
    """Distance (mm) from the VOI's centroid to the centroid of the uptake it holds; None when the VOI
    is empty or holds no positive value."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return None
    kji = np.argwhere(mask)
    pad = np.ceil(SEARCH_MARGIN_MM / np.array(grid.spacing_mm[::-1])).astype(int) + 1
    lo = np.maximum(kji.min(axis=0) - pad, 0)
    hi = np.minimum(kji.max(axis=0) + pad + 1, mask.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    voi, image = mask[box], np.asarray(values[box], dtype=np.float64)
    inside = np.where(voi, image, -np.inf)
    seed = np.unravel_index(int(np.argmax(inside)), image.shape)
    if not image[seed] > 0:
        return None
    near = ndimage.distance_transform_edt(~voi, sampling=grid.spacing_mm[::-1]) <= SEARCH_MARGIN_MM
    labels, _ = ndimage.label(near & (image >= 0.5 * image[seed]))
    hot = labels == labels[seed]
    uptake = np.array(ndimage.center_of_mass(np.where(hot, image, 0.0)))
    centre = np.array(ndimage.center_of_mass(voi.astype(np.float64)))
    offset_kji = (uptake - centre) * np.array(grid.spacing_mm[::-1])
    # Direction cosines are orthonormal: the length in index space times spacing is the length in mm.
    return float(np.linalg.norm(offset_kji))


def hot_voi_offsets_mm(values: np.ndarray, grid: Grid, segmentation) -> dict[str, float | None]:
    """Offsets of the VOIs that should hold hot uptake (lesions, kidneys, spleen), each resampled
    (nearest voxel) onto ``grid``."""
    from .segmentation import resample_mask
    from .voi_roles import role_of

    offsets = {}
    for segment in segmentation.segments:
        role = role_of(segment.name)
        if role.is_lesion or role.organ in ("spleen", "left_kidney", "right_kidney", "kidneys"):
            mask = segment.mask if segmentation.grid.is_same(grid) else resample_mask(segment.mask, segmentation.grid,
                                                                                   grid, "nearest")
            offsets[segment.name] = uptake_offset_mm(values, grid, mask)
    return offsets


def placement_warning(offsets_mm: dict[str, float | None], image: str, segmentation: str) -> str | None:
    """The warning for a segmentation whose hot VOIs sit off their uptake, or None."""
    measured = {name: d for name, d in offsets_mm.items() if d is not None}
    if len(measured) < MIN_VOIS:
        return None
    median = float(np.median(list(measured.values())))
    if median <= MEDIAN_OFFSET_WARNING_MM:
        return None
    worst = ", ".join(f"{name} {d:.1f} mm" for name, d in sorted(measured.items(), key=lambda x: -x[1])[:3])
    return (f"the VOIs of {segmentation} sit a median {median:.1f} mm off the uptake they should hold in {image} "
            f"({worst}): a segmentation of another scan, a misregistration or breathing motion? Check the VOIs on "
            "this scan")
