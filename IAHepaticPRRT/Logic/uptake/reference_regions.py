"""Reference regions of a 68Ga PET: the healthy liver away from the lesions, a PERCIST-style liver
reference sphere, VOIs that contain lesions, and spill-in from hotter neighbours
(docs/physics.md section 22).

Everything here works on the segmentation's own grid (usually the scan's CT, finer than the PET);
the regions it builds then go through the same partial-voxel weighting onto the PET as any segment
(:mod:`iahepaticprrt.uptake.voi_statistics`).

- Healthy liver: the "Healthy liver" segment (or, without one, the "Liver" segment) minus every
  voxel whose centre lies within ``margin_mm`` of a lesion voxel (target or extra-hepatic). With
  a margin of 2 PET FWHM the spill-out of a lesion, a Gaussian tail, has fallen below 1e-4 of the
  lesion's contrast (at 2 FWHM = 4.7 sigma), so the healthy liver's SUVmax is the liver's own.
- Liver reference sphere: a 30 mm sphere (PERCIST: Wahl et al. 2009, a 3 cm spherical VOI in the
  normal right liver lobe) centred on the healthy-liver voxel farthest from everything that is not
  healthy liver (the liver surface and the lesions with their margin), or on the user's point.
- Containers: a non-lesion VOI holding at least half of a lesion's voxels (Liver, Body) would
  report that lesion's SUVmax and SUVpeak as its own; the comparison leaves them out.
- Noise reference: the sphere's voxels at least one PET FWHM inside the healthy liver.
- Spill-in: a VOI whose SUVmax voxel lies within 2 PET FWHM of a hotter VOI (higher SUVmax) that it
  does not overlap gets a named warning.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..errors import InputError
from ..imaging import voi_roles
from ..imaging.grid import Grid
from ..imaging.segmentation import Segment, Segmentation
from ..imaging.voi_helpers import healthy_liver, sphere_mask

#: Diameter of the PERCIST liver reference sphere (Wahl et al. 2009: "3-cm-diameter ROI").
REFERENCE_SPHERE_DIAMETER_MM = 30.0
#: Name of the reference-sphere VOI in the outputs (a segment of that name is used as drawn).
REFERENCE_SPHERE_NAME = "Liver reference sphere"
HEALTHY_LIVER_NAME = "Healthy liver"
#: Default healthy-liver margin around the lesions, in PET FWHM (docs/physics.md section 22).
HEALTHY_LIVER_MARGIN_FWHM = 2.0
#: A VOI's SUVmax closer than this many PET FWHM to a hotter VOI is flagged for spill-in.
SPILL_IN_DISTANCE_FWHM = 2.0
#: A non-lesion VOI holding at least this fraction of a lesion's voxels "contains" the lesion.
CONTAINS_FRACTION = 0.5
#: Role given to the reference sphere in the outputs (it is neither a lesion nor an organ).
REFERENCE_ROLE = "reference"


def _lesion_names(segmentation: Segmentation) -> list[str]:
    return [s.name for s in segmentation.segments if voi_roles.role_of(s.name).is_lesion]


def _organ_segment(segmentation: Segmentation, organ: str) -> Segment | None:
    for s in segmentation.segments:
        role = voi_roles.role_of(s.name)
        if role.role == voi_roles.ORGAN and role.organ == organ:
            return s
    return None


def _crop_box(mask: np.ndarray, grid: Grid, pad_mm: float) -> tuple[slice, ...] | None:
    index = np.argwhere(mask)
    if index.size == 0:
        return None
    pad = np.ceil(pad_mm / np.array(tuple(reversed(grid.spacing_mm)))).astype(int) + 1
    lo = np.maximum(index.min(axis=0) - pad, 0)
    hi = np.minimum(index.max(axis=0) + pad + 1, mask.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))


def _distance_to_outside_mm(region: np.ndarray, grid: Grid) -> np.ndarray:
    """Distance (mm) from each voxel centre of ``region`` to the nearest voxel centre outside it (the
    outside of the array counts as outside)."""
    padded = np.pad(region, 1)
    return ndimage.distance_transform_edt(padded, sampling=tuple(reversed(grid.spacing_mm)))[1:-1, 1:-1, 1:-1]


def place_reference_sphere(region: np.ndarray, grid: Grid) -> tuple[np.ndarray, float]:
    """The voxel centre (LPS mm) of ``region`` farthest from every voxel outside it, and that distance
    (mm). The distance is flat near its maximum (on a voxel grid many voxels come within a fraction of
    a voxel of it): of the voxels within half the smallest spacing of the maximum, the one nearest their
    centroid is taken (central and deterministic)."""
    box = _crop_box(region, grid, 0.0)
    if box is None:
        raise InputError("the healthy liver is empty: no place for the reference sphere", None, "healthy liver")
    distance = _distance_to_outside_mm(region[box], grid)
    best = float(distance.max())
    candidates = np.argwhere(distance >= best - 0.5 * min(grid.spacing_mm))
    offset = np.array([b.start for b in box])
    points = grid.index_to_lps((candidates + offset)[:, ::-1].astype(float))
    chosen = int(np.argmin(np.linalg.norm(points - points.mean(axis=0), axis=1)))
    k, j, i = candidates[chosen]
    return points[chosen], float(distance[k, j, i])


def _distance_to_mask_from_point_mm(mask: np.ndarray, grid: Grid, point_lps, reach_mm: float) -> float | None:
    """Distance (mm) from a point to the nearest voxel centre of ``mask`` within ``reach_mm``; None when
    no voxel of the mask lies that close."""
    centre = grid.lps_to_index(np.asarray(point_lps, float))
    half = np.ceil(reach_mm / np.array(grid.spacing_mm)).astype(int) + 1
    lo = np.maximum(np.floor(centre).astype(int) - half, 0)
    hi = np.minimum(np.ceil(centre).astype(int) + half + 1, np.array(grid.size_ijk))
    if np.any(hi <= lo):
        return None
    sub = mask[lo[2]:hi[2], lo[1]:hi[1], lo[0]:hi[0]]
    kji = np.argwhere(sub)
    if kji.size == 0:
        return None
    ijk = kji[:, ::-1] + lo
    distance = float(np.min(np.linalg.norm(grid.index_to_lps(ijk.astype(float)) - np.asarray(point_lps, float),
                                           axis=1)))
    return distance if distance <= reach_mm else None


def build_reference_regions(segmentation: Segmentation, margin_mm: float, sphere_centre_lps_mm=None,
                            route: str = "") -> tuple[Segmentation, dict, list[str]]:
    """The segmentation with the computed healthy liver (replacing or adding "Healthy liver") and the
    liver reference sphere (added), their description, and warnings.

    ``segmentation`` has the default names already (after any renaming). Without a "Healthy liver" or
    "Liver" segment the segmentation is returned unchanged (no healthy liver, no sphere)."""
    if not np.isfinite(margin_mm) or margin_mm < 0:
        raise InputError(f"the healthy-liver margin must be >= 0 mm, got {margin_mm}", None, "healthy_liver_margin_mm")
    label = f"{route}: " if route else ""
    warnings: list[str] = []
    grid = segmentation.grid
    base = _organ_segment(segmentation, "healthy_liver") or _organ_segment(segmentation, "liver")
    info: dict = {"healthy_liver": None, "reference_sphere": None}
    segments = list(segmentation.segments)
    if base is None:
        warnings.append(f"{label}no 'Healthy liver' or 'Liver' segment: no healthy-liver VOI and no liver reference "
                        "sphere (no noise estimate for the enhancement-ratio interval)")
        return segmentation, info, warnings
    lesions = _lesion_names(segmentation)
    lesion_masks = [segmentation.mask(n) for n in lesions]
    healthy = healthy_liver(base.mask, lesion_masks, grid, margin_mm)
    voxel_ml = grid.voxel_volume_ml
    info["healthy_liver"] = {
        "definition": f"segment '{base.name}' minus every voxel within {margin_mm:g} mm of a lesion voxel",
        "source_segment": base.name, "lesion_margin_mm": float(margin_mm), "lesions_excluded": lesions,
        "source_volume_ml": float(np.count_nonzero(base.mask)) * voxel_ml,
        "volume_ml": float(np.count_nonzero(healthy)) * voxel_ml,
    }
    if not healthy.any():
        warnings.append(f"{label}the healthy liver is empty after removing the lesions with a {margin_mm:g} mm margin")
    existing = _organ_segment(segmentation, "healthy_liver")
    if existing is not None:
        segments[segments.index(existing)] = Segment(existing.name, healthy, existing.color)
    else:
        segments.append(Segment(HEALTHY_LIVER_NAME, healthy))
    out = Segmentation(grid, segments, segmentation.source)
    if REFERENCE_SPHERE_NAME in segmentation:
        info["reference_sphere"] = {"placement": "segment", "diameter_mm": None,
                                    "definition": f"the segment '{REFERENCE_SPHERE_NAME}' as drawn"}
        return out, info, warnings
    sphere_info, sphere, sphere_warnings = _reference_sphere(healthy, base.mask, lesion_masks, grid, margin_mm,
                                                             sphere_centre_lps_mm, label, segmentation.source, route)
    warnings.extend(sphere_warnings)
    info["reference_sphere"] = sphere_info
    if sphere is not None:
        out.segments.append(Segment(REFERENCE_SPHERE_NAME, sphere))
    return out, info, warnings


def _reference_sphere(healthy, liver, lesion_masks, grid: Grid, margin_mm, centre_lps_mm, label, source=None,
                      route=""):
    warnings = []
    if not healthy.any():
        return None, None, [f"{label}no liver reference sphere: the healthy liver is empty"]
    if centre_lps_mm is None:
        centre, depth = place_reference_sphere(healthy, grid)
        placement = "automatic: the healthy-liver voxel farthest from the liver surface and from the lesions' margin"
    else:
        centre = np.asarray(centre_lps_mm, dtype=float)
        if centre.shape != (3,) or not np.all(np.isfinite(centre)):
            raise InputError("the reference sphere centre must be three finite LPS coordinates (mm)", source or None,
                             f"{route} reference_sphere_centre_lps_mm".strip())
        index = np.round(grid.lps_to_index(centre)).astype(int)
        inside = bool(np.all(index >= 0) and np.all(index < np.array(grid.size_ijk)))
        if not inside or not healthy[index[2], index[1], index[0]]:
            raise InputError(f"the reference sphere centre {centre.tolist()} (LPS mm) is not in the healthy liver "
                             "(the liver minus the lesions and their margin) of this segmentation", source or None,
                             f"{route} reference_sphere_centre_lps_mm".strip())
        depth = None
        placement = "user: the given centre"
    mask = sphere_mask(grid, centre, REFERENCE_SPHERE_DIAMETER_MM)
    to_lesion, to_surface = _distances_at(centre, liver, lesion_masks, grid)
    outside_healthy = float(np.count_nonzero(mask & ~healthy)) / max(int(np.count_nonzero(mask)), 1)
    info = {
        "placement": placement, "diameter_mm": REFERENCE_SPHERE_DIAMETER_MM,
        "centre_lps_mm": [float(v) for v in centre],
        "distance_to_nearest_lesion_mm": to_lesion, "distance_to_liver_surface_mm": to_surface,
        "fraction_outside_healthy_liver": outside_healthy,
        "source": "PERCIST 1.0 (Wahl et al., J Nucl Med 2009;50 Suppl 1:122S): 3 cm sphere in normal liver",
    }
    if depth is not None:
        info["distance_to_healthy_liver_edge_mm"] = depth
    if outside_healthy > 0:
        warnings.append(f"{label}the {REFERENCE_SPHERE_DIAMETER_MM:g} mm liver reference sphere does not fit in the "
                        f"healthy liver: {100 * outside_healthy:.1f} % of it lies outside (near the liver surface or a "
                        "lesion's margin); its SUVmean may be biased")
    return info, mask, warnings


def _distances_at(point_lps, liver: np.ndarray, lesion_masks, grid: Grid) -> tuple[float | None, float | None]:
    """Distances (mm) from a point of the liver to the nearest lesion voxel and to the nearest voxel
    outside the liver, from distance transforms over the liver's bounding box (a lesion farther than
    that box reaches is reported as None)."""
    box = _crop_box(liver, grid, REFERENCE_SPHERE_DIAMETER_MM)
    index = np.round(grid.lps_to_index(np.asarray(point_lps, float))).astype(int)[::-1]
    local = tuple(int(i - b.start) for i, b in zip(index, box))
    if any(i < 0 or i >= b.stop - b.start for i, b in zip(local, box)):
        return None, None
    sampling = tuple(reversed(grid.spacing_mm))
    to_surface = float(_distance_to_outside_mm(liver[box], grid)[local])
    union = np.zeros(tuple(b.stop - b.start for b in box), bool)
    for lesion in lesion_masks:
        union |= lesion[box]
    to_lesion = float(ndimage.distance_transform_edt(~union, sampling=sampling)[local]) if union.any() else None
    return to_lesion, to_surface


def noise_reference_mask(segmentation: Segmentation, pet_fwhm_mm: float) -> np.ndarray | None:
    """The voxels of the liver reference sphere at least one PET FWHM inside the healthy liver: the
    scan's noise is measured there, away from the partial volume of the liver surface and the lesions'
    margin (a sphere that touches them would count that structure as noise). None without a sphere."""
    if REFERENCE_SPHERE_NAME not in segmentation:
        return None
    sphere = segmentation.mask(REFERENCE_SPHERE_NAME)
    healthy = _organ_segment(segmentation, "healthy_liver")
    if healthy is None or not sphere.any():
        return sphere
    box = _crop_box(sphere, segmentation.grid, pet_fwhm_mm + max(segmentation.grid.spacing_mm))
    out = np.zeros_like(sphere)
    out[box] = sphere[box] & (_distance_to_outside_mm(healthy.mask[box], segmentation.grid) > pet_fwhm_mm)
    return out


def contained_lesions(segmentation: Segmentation) -> dict[str, list[str]]:
    """Non-lesion segment name -> the lesions it contains (at least half of the lesion's voxels)."""
    lesions = [s for s in segmentation.segments if voi_roles.role_of(s.name).is_lesion]
    out: dict[str, list[str]] = {}
    for s in segmentation.segments:
        if voi_roles.role_of(s.name).is_lesion:
            continue
        inside = [lesion.name for lesion in lesions
                  if lesion.voxel_count and np.count_nonzero(s.mask & lesion.mask) >= CONTAINS_FRACTION * lesion.voxel_count]
        if inside:
            out[s.name] = inside
    return out


def spill_in(segmentation: Segmentation, stats: dict[str, dict], distance_mm: float,
             skip: set[str] = frozenset()) -> dict[str, list[dict]]:
    """For each VOI with an SUVmax position: the hotter VOIs (higher SUVmax, not overlapping it, not in
    ``skip``) with a voxel within ``distance_mm`` of that position, nearest first."""
    masks = {s.name: s.mask for s in segmentation.segments}
    grid = segmentation.grid
    out: dict[str, list[dict]] = {}
    for name, s in stats.items():
        position = s.get("suv_max_position_lps_mm")
        if name in skip or s.get("suv_max") is None or position is None or name not in masks:
            continue
        found = []
        for other, o in stats.items():
            if other == name or other in skip or other not in masks or o.get("suv_max") is None:
                continue
            if not o["suv_max"] > s["suv_max"]:
                continue
            if np.any(masks[name] & masks[other]):
                continue  # nested or overlapping VOIs (a sphere inside the healthy liver) are not neighbours
            d = _distance_to_mask_from_point_mm(masks[other], grid, position, distance_mm)
            if d is not None and d < distance_mm:
                found.append({"from": other, "distance_mm": d, "suv_max_of_neighbour": o["suv_max"]})
        if found:
            out[name] = sorted(found, key=lambda f: f["distance_mm"])
    return out

