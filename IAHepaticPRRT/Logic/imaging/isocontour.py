"""Isocontour VOIs: the voxels at or above a fraction of the maximum inside a search region.

Used for lesion sub-VOIs (41 % and 50 % of SUVmax, docs/physics.md section 2) and for VOI helpers
(a percentage of SUVmax or of activity inside a sphere or a box).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def isocontour_mask(values: np.ndarray, search_region: np.ndarray, fraction_of_max: float,
                    connected_to_max: bool = True) -> np.ndarray:
    """Voxels of ``search_region`` with ``values >= fraction_of_max x max(values in search_region)``.

    With ``connected_to_max`` only the 26-connected component holding the hottest voxel is kept
    (so a second hot structure in the search box is not merged into the lesion). An empty search
    region gives an empty mask.
    """
    if not 0.0 < fraction_of_max <= 1.0:
        raise ValueError(f"fraction_of_max must be in (0, 1], got {fraction_of_max}")
    search_region = np.asarray(search_region, dtype=bool)
    if not search_region.any():
        return np.zeros(values.shape, dtype=bool)
    inside = np.where(search_region, values, -np.inf)
    hottest = np.unravel_index(int(np.argmax(inside)), values.shape)
    threshold = fraction_of_max * values[hottest]
    mask = search_region & (values >= threshold)
    if connected_to_max:
        labels, _ = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
        mask = labels == labels[hottest]
    return mask
