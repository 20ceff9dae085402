"""The patient's body on the dose grid: no time-integrated activity and no absorbed dose outside it
(docs/physics.md section 6.1).

From the reference CT: the CT density averaged to the dose grid's voxels (the same map the dose
uses, :func:`iahepaticprrt.dosimetry.masses.density_on_grid`) at or above the density of -500 HU,
halfway between air (-1000 HU) and water (0 HU): on a voxel straddling the skin this keeps the
voxels at least half filled with tissue; voxels outside the CT's field of view are outside. Then
the largest connected component (6-connected: the couch and blankets separated by air drop out),
with its holes filled in 3-D and in every slice (k) so that lungs, trachea and bowel gas, which
the threshold leaves out, are inside the body.

Without a CT: a segment named ``Body`` (or ``External``, ``Body contour``, ``Patient``), covering
at least half of a dose-grid voxel. Without either: no mask (every voxel is body), with a warning.
"""

from __future__ import annotations

import numpy as np

from ..imaging.grid import Grid
from ..imaging.segmentation import Segmentation, resample_mask
from ..imaging.volume import Volume

#: Body contour threshold (HU): halfway between air and water.
BODY_THRESHOLD_HU = -500.0
#: Names of a body-contour segment (compared case- and space-insensitively).
BODY_SEGMENT_NAMES = ("body", "external", "body contour", "patient")


def body_segment(segmentation: Segmentation):
    """The segment that outlines the body, if any."""
    for segment in segmentation.segments:
        if " ".join(segment.name.strip().lower().replace("_", " ").split()) in BODY_SEGMENT_NAMES and segment.voxel_count:
            return segment
    return None


def _largest_component_filled(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    labels, count = ndimage.label(mask)
    if count == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    body = labels == int(np.argmax(sizes))
    body = ndimage.binary_fill_holes(body)
    for k in range(body.shape[0]):  # slice by slice: lungs open to the outside through the trachea
        body[k] = ndimage.binary_fill_holes(body[k])
    return body


def body_mask_from_ct(ct: Volume, grid: Grid, density_g_per_ml: np.ndarray, calibration) -> np.ndarray:
    """Boolean body mask on ``grid`` from the reference CT (module docstring); ``density_g_per_ml``
    is the CT density already averaged to ``grid``."""
    from ..imaging.resample import resample_volume

    threshold = float(calibration(np.array([BODY_THRESHOLD_HU]))[0])
    inside_ct = resample_volume(Volume(np.ones(ct.grid.shape_kji, np.float32), ct.grid), grid, interpolation="linear",
                                default_value=0.0).array >= 0.5
    return _largest_component_filled((np.asarray(density_g_per_ml) >= threshold) & inside_ct)


def body_mask(ct: Volume | None, grid: Grid, density_g_per_ml: np.ndarray, calibration,
              segmentation: Segmentation) -> tuple[np.ndarray | None, str]:
    """The body on ``grid`` and where it came from; None (every voxel) when there is neither a CT nor a
    Body segment."""
    if ct is not None:
        return (body_mask_from_ct(ct, grid, density_g_per_ml, calibration),
                f"reference CT: density of {BODY_THRESHOLD_HU:g} HU or more averaged to the dose grid, largest "
                "connected component, holes filled in 3-D and slice by slice (lungs, trachea and gas inside)")
    segment = body_segment(segmentation)
    if segment is not None:
        coverage = resample_mask(segment.mask, segmentation.grid, grid, "fraction")
        return coverage >= 0.5, f"segment '{segment.name}' (dose-grid voxels covered at least half)"
    return None, "none: no CT and no Body segment; every voxel of the SPECT field of view counts as body"
