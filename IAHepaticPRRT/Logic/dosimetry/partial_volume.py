"""Partial-volume correction of VOI activities by the geometric transfer matrix (GTM).

Rousset, Ma and Evans, "Correction for partial volume effects in PET: principle and validation",
J Nucl Med 1998;39:904. The SPECT image is modelled as the sum over disjoint regions of a uniform
concentration c_j times the region's indicator blurred by the system's point-spread function
(here an isotropic Gaussian of the user's FWHM, in mm). The mean of the image over region i is
then t_i = sum_j G_ij c_j with G_ij = mean over region i of the blurred indicator of region j;
solving G c = t gives the regions' true concentrations.

Regions: the segments, made disjoint by giving each voxel of the segmentation grid to the
smallest segment that contains it (a lesion inside the liver, an organ inside the body), plus one
region for everything outside all segments (the rest of the field of view). A segment's corrected
activity is the sum over regions of c_j x the volume the region shares with the segment.

Assumptions (stated in the output): uniform activity in each region, a spatially invariant
Gaussian PSF, and segments that follow the true anatomy. Only the VOI time-activity curves are
corrected; the dose map carries them (each VOI's voxels hold its corrected TIA, docs/physics.md
section 6.1) but is not corrected voxel by voxel (a different problem).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ComputationError, InputError
from ..imaging.grid import Grid
from ..imaging.segmentation import Segmentation, resample_mask

OUTSIDE = "(outside all segments)"


@dataclass
class TransferMatrix:
    regions: list[str]                 # region names (a segment's name, or OUTSIDE)
    weights: list[np.ndarray]          # per region, coverage fraction of each SPECT voxel
    matrix: np.ndarray                 # G_ij
    shared_volume_ml: dict             # segment -> {region: mL shared}, on the segmentation grid
    fwhm_mm: float

    @property
    def condition_number(self) -> float:
        return float(np.linalg.cond(self.matrix))

    def corrected_activities_mbq(self, concentration_bqml: np.ndarray) -> dict[str, float]:
        """Per segment, the activity (MBq) after correction, from one SPECT image (Bq/mL)."""
        observed = np.array([float(np.sum(w * concentration_bqml, dtype=np.float64) / np.sum(w, dtype=np.float64))
                             for w in self.weights])
        true_bqml = np.linalg.solve(self.matrix, observed)
        index = {name: i for i, name in enumerate(self.regions)}
        return {segment: sum(true_bqml[index[r]] * ml for r, ml in shared.items()) * 1.0e-6
                for segment, shared in self.shared_volume_ml.items()}

    def to_dict(self) -> dict:
        return {"method": "geometric transfer matrix (Rousset et al., JNM 1998;39:904)", "fwhm_mm": self.fwhm_mm,
                "psf": "isotropic Gaussian", "regions": self.regions, "condition_number": self.condition_number,
                "note": "VOI activities corrected; the dose map carries each VOI's corrected TIA in its voxels "
                        "(no voxel-by-voxel correction)"}


def disjoint_regions(segmentation: Segmentation) -> tuple[np.ndarray, list[str]]:
    """Label map on the segmentation grid (0 = outside): each voxel goes to the smallest segment holding it."""
    order = sorted((s for s in segmentation.segments if s.voxel_count > 0), key=lambda s: s.voxel_count, reverse=True)
    labels = np.zeros(segmentation.grid.shape_kji, dtype=np.int32)
    names = []
    for segment in order:  # largest first, so smaller segments overwrite
        names.append(segment.name)
        labels[segment.mask] = len(names)
    present = np.unique(labels)
    kept = [names[v - 1] for v in present if v > 0]
    remap = np.zeros(len(names) + 1, dtype=np.int32)
    for new, value in enumerate([v for v in present if v > 0], start=1):
        remap[value] = new
    return remap[labels], kept


def transfer_matrix(segmentation: Segmentation, grid: Grid, fwhm_mm: float) -> TransferMatrix:
    """The GTM of ``segmentation``'s disjoint regions on the SPECT ``grid`` for a Gaussian PSF."""
    from scipy.ndimage import gaussian_filter

    if not (math.isfinite(fwhm_mm) and fwhm_mm > 0):
        raise InputError(f"the SPECT resolution (FWHM) must be positive, got {fwhm_mm}", "--spect-fwhm-mm")
    labels, names = disjoint_regions(segmentation)
    weights = [resample_mask(labels == value, segmentation.grid, grid, "fraction").astype(np.float64)
               for value in range(1, len(names) + 1)]
    inside = np.sum(weights, axis=0) if weights else np.zeros(grid.shape_kji)
    outside = np.clip(1.0 - inside, 0.0, 1.0)
    regions = list(names)
    if outside.sum() > 0.5:
        regions.append(OUTSIDE)
        weights.append(outside)
    keep = [i for i, w in enumerate(weights) if w.sum() > 0]
    regions = [regions[i] for i in keep]
    weights = [weights[i] for i in keep]
    sigma_vox = [fwhm_mm / (2.0 * math.sqrt(2.0 * math.log(2.0))) / s for s in reversed(grid.spacing_mm)]
    n = len(regions)
    matrix = np.zeros((n, n))
    sums = [w.sum() for w in weights]
    for j, w in enumerate(weights):
        blurred = gaussian_filter(w, sigma_vox, mode="constant", cval=0.0, truncate=4.0)
        for i, wi in enumerate(weights):
            matrix[i, j] = float(np.sum(wi * blurred) / sums[i])
    if not np.all(np.isfinite(matrix)) or np.linalg.cond(matrix) > 1e8:
        raise ComputationError("the geometric transfer matrix is singular (regions too small for the resolution?)")
    voxel_ml = segmentation.grid.voxel_volume_ml
    region_index = {name: value for value, name in enumerate(names, start=1)}
    shared = {}
    for segment in segmentation.segments:
        if segment.voxel_count == 0:
            continue
        inside_labels = labels[segment.mask]
        counts = np.bincount(inside_labels, minlength=len(names) + 1)
        shared[segment.name] = {name: counts[region_index[name]] * voxel_ml for name in names
                                if counts[region_index[name]] > 0 and name in regions}
    return TransferMatrix(regions, [w.astype(np.float32) for w in weights], matrix, shared, float(fwhm_mm))
