"""The hybrid VOI-voxel time-integrated activity (TIA) map (docs/physics.md section 6.1).

Each VOI's total is its own fitted TIA (after partial-volume or recovery correction); inside it,
the TIA follows the activity distribution of the reference time point (the one the VOIs are drawn
on). Voxels of the body in no VOI keep their voxel-wise TIA (:func:`voxel.voxel_tia_mbqh`).
Nothing outside the body.

Construction:

- The VOIs with a TIA are made disjoint on the segmentation grid, each voxel going to the smallest
  VOI that holds it (as the geometric transfer matrix does): region j belongs to VOI v(j). Their
  coverage fractions w_j on the dose grid are clipped to the body; what the regions leave of a body
  voxel, r = body x (1 - sum_j w_j), is "rest".
- T(x) = D(x) sum_j s_j w_j(x) + r(x) T_voxel(x), with D = the reference activity (negatives from
  noise set to 0; a region without activity at the reference time is filled uniformly) and one
  scale s_j (h) per region.
- The scales are solved together so that every VOI's coverage-weighted map sum equals its TIA,
  sum_x W_v(x) T(x) = TIA_v, W_v the VOI's own coverage fractions: a linear system (as many
  equations as VOIs, one unknown per region) solved by non-negative least squares on relative
  residuals. For VOIs that nest or are disjoint (lesions in a liver in a body) the solution is
  exact, partial voxels at the boundaries included. A VOI that owns no voxel of its own (wholly
  covered by smaller ones, as a liver made of its lesions and the healthy liver) takes what those
  hold (its equation is weighted 1e-3); it, and a VOI whose TIA is smaller than what the VOIs
  inside it hold, cannot be matched exactly: the map's sum over it is reported with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..imaging.grid import Grid
from ..imaging.segmentation import Segmentation, resample_mask

#: A VOI whose map TIA differs from its fitted TIA by more than this fraction gets a warning.
MATCH_TOLERANCE = 0.01
#: Weight of the equation of a VOI that owns no voxel (wholly covered by smaller VOIs) in the scale solve.
NON_OWNER_WEIGHT = 1e-3


@dataclass
class SparseWeights:
    """Coverage fractions of one VOI or region on the dose grid, as flat indices and values."""

    index: np.ndarray
    value: np.ndarray

    @classmethod
    def from_dense(cls, weights: np.ndarray) -> "SparseWeights":
        flat = np.asarray(weights, dtype=np.float32).ravel()
        index = np.flatnonzero(flat > 0)
        return cls(index, flat[index])

    def dot(self, array: np.ndarray) -> float:
        return float(np.dot(self.value.astype(np.float64), np.asarray(array).ravel()[self.index].astype(np.float64)))

    def dense(self, shape) -> np.ndarray:
        out = np.zeros(int(np.prod(shape)), dtype=np.float32)
        out[self.index] = self.value
        return out.reshape(shape)


@dataclass
class HybridMap:
    tia_mbqh: np.ndarray                       # float32, MBq h per voxel, on the dose grid
    summary: dict
    map_tia_mbqh: dict = field(default_factory=dict)    # VOI -> coverage-weighted sum of the map
    warnings: dict = field(default_factory=dict)        # VOI -> list of warnings


def disjoint_labels(segmentation: Segmentation, names: list[str]) -> tuple[np.ndarray, list[str]]:
    """Label map on the segmentation grid (0 = in none of ``names``): each voxel to the smallest VOI."""
    segments = sorted((s for s in segmentation.segments if s.name in names and s.voxel_count > 0),
                      key=lambda s: s.voxel_count, reverse=True)
    labels = np.zeros(segmentation.grid.shape_kji, dtype=np.int32)
    order = []
    for segment in segments:  # largest first: smaller segments overwrite
        order.append(segment.name)
        labels[segment.mask] = len(order)
    return labels, order


def hybrid_tia_map(reference_activity_mbq: np.ndarray, voi_tia_mbqh: dict, voi_weights: dict,
                   segmentation: Segmentation, grid: Grid, body: np.ndarray | None,
                   voxel_tia_mbqh: np.ndarray, reference_label: str = "") -> HybridMap:
    """The map (module docstring). ``voi_tia_mbqh``: VOI -> fitted TIA; ``voi_weights``: VOI ->
    :class:`SparseWeights` of its coverage on ``grid``; ``body``: boolean mask on ``grid`` or None."""
    from scipy.optimize import nnls

    shape = grid.shape_kji
    names = [n for n in voi_tia_mbqh if voi_tia_mbqh[n] is not None and n in voi_weights]
    body_f = np.ones(shape, np.float32) if body is None else np.asarray(body, dtype=np.float32)
    distribution = np.maximum(np.asarray(reference_activity_mbq, dtype=np.float32), 0.0) * body_f
    labels, order = disjoint_labels(segmentation, names)
    regions, region_owner = [], []
    covered = np.zeros(shape, np.float32)
    for value, name in enumerate(order, start=1):
        w = resample_mask(labels == value, segmentation.grid, grid, "fraction") * body_f
        if not np.any(w > 0):
            continue
        covered += w
        regions.append(SparseWeights.from_dense(w))
        region_owner.append(name)
    rest = body_f * np.clip(1.0 - covered, 0.0, 1.0)
    rest_tia = rest * np.maximum(np.asarray(voxel_tia_mbqh, dtype=np.float32), 0.0)
    del covered
    # Per region, the distribution it spreads its TIA with: the reference activity, or uniform when the
    # region holds none at the reference time.
    uniform_regions = []
    columns = []
    scratch = np.zeros(int(np.prod(shape)), np.float32)
    flat_distribution = distribution.ravel()
    for region, owner in zip(regions, region_owner):
        g = region.value * flat_distribution[region.index]
        if not float(g.sum()) > 0:
            g = region.value.copy()
            uniform_regions.append(owner)
        columns.append(g)
    matrix = np.zeros((len(names), len(regions)))
    offsets = np.zeros(len(names))
    for j, (region, g) in enumerate(zip(regions, columns)):
        scratch[region.index] = g
        for v, name in enumerate(names):
            matrix[v, j] = voi_weights[name].dot(scratch)
        scratch[region.index] = 0.0
    for v, name in enumerate(names):
        offsets[v] = voi_weights[name].dot(rest_tia)
    target = np.array([voi_tia_mbqh[n] for n in names], dtype=np.float64)
    # Relative residuals; a VOI that owns no voxel of its own (made of smaller VOIs) only takes what they
    # hold: its row gets a small weight so that it cannot pull the VOIs that do own voxels off their TIAs.
    owners = set(region_owner)
    priority = np.array([1.0 if n in owners else NON_OWNER_WEIGHT for n in names])
    scale = np.where(target > 0, target, 1.0) / priority
    if regions:
        s, _ = nnls(matrix / scale[:, None], (target - offsets) / scale, maxiter=50 * max(len(regions), 10))
    else:
        s = np.zeros(0)
    tia = rest_tia.ravel().astype(np.float32).copy()
    for region, g, sj in zip(regions, columns, s):
        tia[region.index] += (g * sj).astype(np.float32)
    tia = tia.reshape(shape)
    result = HybridMap(tia, {}, {}, {})
    for v, name in enumerate(names):
        achieved = voi_weights[name].dot(tia)
        result.map_tia_mbqh[name] = achieved
        expected = voi_tia_mbqh[name]
        if expected > 0 and abs(achieved / expected - 1.0) > MATCH_TOLERANCE:
            owns = name in region_owner
            why = ("it owns no voxel of its own (covered by smaller VOIs)" if not owns else
                   "the VOIs inside it hold more TIA than its own fit, or the rest of the body overlaps it")
            result.warnings.setdefault(name, []).append(
                f"the dose map holds {achieved:.0f} MBq h over this VOI against its fitted TIA {expected:.0f} MBq h "
                f"({100 * (achieved / expected - 1):+.1f} %): {why}; its absorbed dose follows the map")
    for owner in uniform_regions:
        result.warnings.setdefault(owner, []).append(
            "no activity in this VOI at the reference time point: its TIA is spread uniformly over it in the dose map")
    result.summary = {
        "method": "hybrid VOI-voxel map: inside each VOI the reference time point's activity distribution scaled so "
                  "that the map's sum over every VOI equals that VOI's fitted (and partial-volume-corrected) TIA; "
                  "voxels in the body and in no VOI: their voxel-wise TIA; nothing outside the body",
        "reference_time_point": reference_label,
        "overlap_rule": "each voxel belongs to the smallest VOI that holds it (scales solved jointly so that nested "
                        "VOIs match their own TIAs)",
        "scales_h": {owner: float(sj) for owner, sj in zip(region_owner, s)},
        "rest_tia_mbqh": float(np.sum(rest_tia, dtype=np.float64)),
        "total_tia_mbqh": float(np.sum(tia, dtype=np.float64)),
    }
    return result
