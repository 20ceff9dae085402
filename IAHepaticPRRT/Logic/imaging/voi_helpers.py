"""VOI helpers: spheres, boxes, isocontours, healthy liver, bone-marrow cylinders.

All positions are LPS mm (DICOM patient coordinates), sizes mm, masks bool arrays [k, j, i] on a
:class:`~iahepaticprrt.imaging.grid.Grid`. A voxel belongs to a geometric VOI (sphere, box, cylinder) when
its CENTRE is inside (compare the voxel count's volume with :func:`sphere_volume_ml` to see the
discretisation).

Bone marrow (L2 to L4): the marrow VOI is a union of cylinders inside the vertebral bodies
(a common practice for SPECT marrow dosimetry: trabecular bone of the lumbar bodies, away from the
cortex and the discs to limit spill-in). Two ways to place them:

- :func:`marrow_cylinders` from user points (one per vertebral body, its centre);
- :func:`find_vertebral_bodies` from an axial CT, refining approximate user points (one per level,
  from a click or carried from another scan): around each point, bone (>= 130 HU) is opened
  in-plane with a 5 mm disk (removes pedicles, laminae and spinous process, which would otherwise
  close the spinal canal), holes are filled, and the part nearest the point is kept; the body centre
  is where that bone is thickest (in-plane distance-transform maximum); the body's ends along the
  spine are the half-way drops of the HU profile into the discs above and below. The cylinder is
  shrunk when needed to stay ``margin_mm`` (3 mm) inside the bone and the ends. The vertebral
  levels themselves are NOT recognised automatically: the user's points say which bodies are L2,
  L3 and L4 (counting levels needs the ribs or the sacrum in the field of view; not done).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..errors import InputError
from .grid import Grid
from .isocontour import isocontour_mask
from .volume import Volume


# ---- distances ------------------------------------------------------------------------------------
def _sampling_kji(grid: Grid) -> tuple[float, float, float]:
    return tuple(reversed(grid.spacing_mm))


def _box_around(mask: np.ndarray, grid: Grid, margin_mm: float) -> tuple[slice, ...]:
    kji = np.argwhere(mask)
    pad = np.ceil(margin_mm / np.array(_sampling_kji(grid))).astype(int) + 1
    lo = np.maximum(kji.min(axis=0) - pad, 0)
    hi = np.minimum(kji.max(axis=0) + pad + 1, mask.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))


def distance_to_mask_mm(mask: np.ndarray, grid: Grid) -> np.ndarray:
    """Distance (mm) from each voxel centre to the nearest voxel centre of ``mask`` (0 inside).
    Infinity everywhere when the mask is empty."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return np.full(mask.shape, np.inf)
    return ndimage.distance_transform_edt(~mask, sampling=_sampling_kji(grid))


def dilate_mm(mask: np.ndarray, grid: Grid, margin_mm: float) -> np.ndarray:
    """Voxels whose centre lies within ``margin_mm`` of a mask voxel centre (Euclidean, anisotropic
    spacing respected)."""
    mask = np.asarray(mask, dtype=bool)
    if margin_mm <= 0 or not mask.any():
        return mask.copy()
    box = _box_around(mask, grid, margin_mm)
    out = np.zeros_like(mask)
    out[box] = ndimage.distance_transform_edt(~mask[box], sampling=_sampling_kji(grid)) <= margin_mm
    return out


def erode_mm(mask: np.ndarray, grid: Grid, margin_mm: float) -> np.ndarray:
    """Voxels of ``mask`` farther than ``margin_mm`` from every voxel outside it."""
    mask = np.asarray(mask, dtype=bool)
    if margin_mm <= 0 or not mask.any():
        return mask.copy()
    padded = np.pad(mask, 1)  # the outside of the grid counts as outside the mask
    distance = ndimage.distance_transform_edt(padded, sampling=_sampling_kji(grid))[1:-1, 1:-1, 1:-1]
    return distance > margin_mm


# ---- geometric VOIs ---------------------------------------------------------------------------------
def _voxel_centres(grid: Grid, box: tuple[slice, ...] | None = None) -> np.ndarray:
    box = box or tuple(slice(0, n) for n in grid.shape_kji)
    k, j, i = np.meshgrid(*(np.arange(s.start, s.stop, dtype=float) for s in box), indexing="ij")
    return grid.index_to_lps(np.stack([i, j, k], axis=-1))


def _box_of_points(grid: Grid, points_lps_mm: np.ndarray) -> tuple[slice, ...] | None:
    index = grid.lps_to_index(points_lps_mm)
    lo = np.floor(index.min(axis=0)).astype(int) - 1
    hi = np.ceil(index.max(axis=0)).astype(int) + 1
    size = np.array(grid.size_ijk)
    if np.any(hi < 0) or np.any(lo > size - 1):
        return None
    lo, hi = np.clip(lo, 0, size - 1), np.clip(hi, 0, size - 1)
    return tuple(slice(int(lo[a]), int(hi[a]) + 1) for a in (2, 1, 0))


def sphere_mask(grid: Grid, centre_lps_mm, diameter_mm: float) -> np.ndarray:
    """Voxels whose centre is within ``diameter_mm / 2`` of ``centre_lps_mm``."""
    if diameter_mm <= 0:
        raise InputError(f"sphere diameter must be positive, got {diameter_mm} mm", "sphere", "diameter_mm")
    centre = np.asarray(centre_lps_mm, dtype=float)
    radius = diameter_mm / 2.0
    corners = centre + radius * np.array([[a, b, c] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)])
    mask = np.zeros(grid.shape_kji, dtype=bool)
    box = _box_of_points(grid, corners)
    if box is None:
        return mask
    points = _voxel_centres(grid, box)
    mask[box] = np.sum((points - centre) ** 2, axis=-1) <= radius ** 2
    return mask


def sphere_volume_ml(diameter_mm: float) -> float:
    """Exact volume of a sphere, mL (for comparison with the voxelised one)."""
    return float(np.pi / 6.0 * diameter_mm ** 3 / 1000.0)


def box_mask(grid: Grid, corner_a_lps_mm, corner_b_lps_mm) -> np.ndarray:
    """Voxels whose centre lies in the LPS-axis-aligned box spanned by two opposite corners."""
    a, b = np.asarray(corner_a_lps_mm, float), np.asarray(corner_b_lps_mm, float)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    mask = np.zeros(grid.shape_kji, dtype=bool)
    box = _box_of_points(grid, corners)
    if box is None:
        return mask
    points = _voxel_centres(grid, box)
    mask[box] = np.all((points >= lo) & (points <= hi), axis=-1)
    return mask


def cylinder_mask(grid: Grid, centre_lps_mm, axis, diameter_mm: float, height_mm: float) -> np.ndarray:
    """Voxels whose centre is in the cylinder (centre of its middle cross-section, axis direction)."""
    centre = np.asarray(centre_lps_mm, dtype=float)
    axis = np.asarray(axis, dtype=float)
    axis = axis / np.linalg.norm(axis)
    reach = np.hypot(diameter_mm / 2.0, height_mm / 2.0)
    corners = centre + reach * np.array([[a, b, c] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)])
    mask = np.zeros(grid.shape_kji, dtype=bool)
    box = _box_of_points(grid, corners)
    if box is None:
        return mask
    d = _voxel_centres(grid, box) - centre
    along = d @ axis
    radial2 = np.sum(d ** 2, axis=-1) - along ** 2
    mask[box] = (np.abs(along) <= height_mm / 2.0) & (radial2 <= (diameter_mm / 2.0) ** 2)
    return mask


# ---- isocontours -----------------------------------------------------------------------------------
@dataclass
class IsocontourVoi:
    mask: np.ndarray
    max_value: float         # maximum of the image inside the search region (unit of the image)
    threshold_value: float   # voxels >= this value (unit of the image)
    percent: float           # % of the maximum (above background when one was given)
    background_value: float | None = None
    volume_ml: float = 0.0

    def to_dict(self) -> dict:
        return {"max_value": self.max_value, "threshold_value": self.threshold_value, "percent": self.percent,
                "background_value": self.background_value, "volume_ml": self.volume_ml}


def isocontour_voi(volume: Volume, search_region: np.ndarray, percent: float, background_value: float | None = None,
                   connected_to_max: bool = True) -> IsocontourVoi:
    """Voxels of ``search_region`` at or above ``percent`` % of the region's maximum.

    The image may hold SUV (PET), Bq/mL, MBq or counts (SPECT, activity): the threshold is relative
    to its maximum whatever the unit. With ``background_value`` the threshold is
    ``background + percent/100 x (max - background)`` (background-adapted isocontour). Only the
    26-connected part holding the hottest voxel is kept unless ``connected_to_max`` is False.
    """
    if not 0.0 < percent <= 100.0:
        raise InputError(f"isocontour percentage must be in (0, 100], got {percent}", "isocontour", "percent")
    region = np.asarray(search_region, dtype=bool)
    if region.shape != volume.grid.shape_kji:
        raise ValueError("search region and image are on different grids")
    if not region.any():
        raise InputError("the search region (sphere or box) holds no voxel of the image", "isocontour",
                         "search region")
    values = volume.array
    max_value = float(values[region].max())
    if background_value is None:
        if max_value <= 0:
            raise InputError(f"the maximum in the search region is {max_value:g}: no uptake to contour", "isocontour",
                             "search region")
        mask = isocontour_mask(values, region, percent / 100.0, connected_to_max)
        threshold = percent / 100.0 * max_value
    else:
        if max_value <= background_value:
            raise InputError("the maximum in the search region is not above the background", "isocontour",
                             "background")
        shifted = values.astype(np.float64) - background_value
        mask = isocontour_mask(shifted, region, percent / 100.0, connected_to_max)
        threshold = background_value + percent / 100.0 * (max_value - background_value)
    return IsocontourVoi(mask, max_value, float(threshold), float(percent), background_value,
                         int(np.count_nonzero(mask)) * volume.grid.voxel_volume_ml)


def isocontour_in_sphere(volume: Volume, centre_lps_mm, diameter_mm: float, percent: float = 41.0,
                         **kwargs) -> IsocontourVoi:
    """Isocontour at ``percent`` % of the maximum inside a sphere (docs/physics.md section 2.12: 41 % or 50 % of SUVmax)."""
    return isocontour_voi(volume, sphere_mask(volume.grid, centre_lps_mm, diameter_mm), percent, **kwargs)


def isocontour_in_box(volume: Volume, corner_a_lps_mm, corner_b_lps_mm, percent: float = 41.0,
                      **kwargs) -> IsocontourVoi:
    """Isocontour at ``percent`` % of the maximum inside an LPS-axis-aligned box."""
    return isocontour_voi(volume, box_mask(volume.grid, corner_a_lps_mm, corner_b_lps_mm), percent, **kwargs)


# ---- healthy liver ---------------------------------------------------------------------------------
def healthy_liver(liver: np.ndarray, lesions, grid: Grid, margin_mm: float = 0.0) -> np.ndarray:
    """Liver minus the lesions minus every voxel whose centre lies within ``margin_mm`` of a lesion
    voxel centre (Euclidean distance transform on the anisotropic grid). ``lesions`` is a list of
    masks (or one mask). The margin keeps spill-out of hot lesions out of the healthy-liver VOI."""
    liver = np.asarray(liver, dtype=bool)
    if isinstance(lesions, np.ndarray):
        lesions = [lesions]
    union = np.zeros_like(liver)
    for lesion in lesions:
        union |= np.asarray(lesion, dtype=bool)
    if margin_mm < 0:
        raise InputError(f"margin must be >= 0 mm, got {margin_mm}", "healthy liver", "margin_mm")
    return liver & ~dilate_mm(union, grid, margin_mm)


# ---- bone marrow ---------------------------------------------------------------------------------
#: Default marrow cylinder (mm): inside a lumbar body (about 40-50 mm wide, 30-35 mm deep, 25-30 mm
#: high in adults) with room for the cortex and partial volume.
MARROW_CYLINDER_DIAMETER_MM = 20.0
MARROW_CYLINDER_HEIGHT_MM = 15.0
#: Trabecular bone of the lumbar bodies is about 100-300 HU in adults; below this is soft tissue/disc.
BONE_HU = 130.0
LUMBAR_LEVELS = ("L2", "L3", "L4")


def _spine_axes(centres: np.ndarray, axis=None) -> list[np.ndarray]:
    """Axis per body: the given one, else the line through the neighbouring bodies (LPS z for one)."""
    if axis is not None:
        a = np.asarray(axis, float)
        return [a / np.linalg.norm(a)] * len(centres)
    if len(centres) == 1:
        return [np.array([0.0, 0.0, 1.0])]
    axes = []
    for n in range(len(centres)):
        a = centres[min(n + 1, len(centres) - 1)] - centres[max(n - 1, 0)]
        a = a / np.linalg.norm(a)
        axes.append(a if a[2] >= 0 else -a)
    return axes


def marrow_cylinders(grid: Grid, centres_lps_mm, diameter_mm: float = MARROW_CYLINDER_DIAMETER_MM,
                     height_mm: float = MARROW_CYLINDER_HEIGHT_MM, axis=None) -> np.ndarray:
    """Union of cylinders centred on the given vertebral-body centres (for example L2, L3, L4).

    The cylinder axis follows the spine (the line through neighbouring centres; LPS z for a single
    point) unless ``axis`` is given.
    """
    centres = np.atleast_2d(np.asarray(centres_lps_mm, dtype=float))
    if centres.shape[1] != 3 or len(centres) == 0:
        raise InputError("give one x, y, z point (LPS mm) per vertebral body", "bone marrow", "points")
    if len(centres) > 1 and np.min(np.linalg.norm(np.diff(centres, axis=0), axis=1)) < 1.0:
        raise InputError("two vertebral-body points coincide", "bone marrow", "points")
    mask = np.zeros(grid.shape_kji, dtype=bool)
    for centre, a in zip(centres, _spine_axes(centres, axis)):
        mask |= cylinder_mask(grid, centre, a, diameter_mm, height_mm)
    return mask


@dataclass
class VertebralBody:
    level: str
    centre_lps_mm: tuple[float, float, float]
    inscribed_radius_mm: float   # largest in-plane radius fitting in the body's bone at the centre
    height_mm: float             # distance between the neighbouring discs (NaN when not found)
    cylinder_diameter_mm: float
    cylinder_height_mm: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _slab_profile(hu: np.ndarray, grid: Grid, centre: np.ndarray, axis: np.ndarray, radius_mm: float,
                  half_length_mm: float, step_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean HU in discs of ``radius_mm`` along ``axis`` through ``centre`` (positions in mm)."""
    positions = np.arange(-half_length_mm, half_length_mm + 1e-9, step_mm)
    helper = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u)
    v = np.cross(axis, u)
    rs = np.arange(0.0, radius_mm + 1e-9, max(min(grid.spacing_mm), 1.0))
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    offsets = [np.zeros(3)] + [r * (np.cos(a) * u + np.sin(a) * v) for r in rs[1:] for a in angles]
    offsets = np.array(offsets)
    points = centre + positions[:, None, None] * axis + offsets[None, :, :]
    index = grid.lps_to_index(points.reshape(-1, 3))
    values = ndimage.map_coordinates(hu, [index[:, 2], index[:, 1], index[:, 0]], order=1, mode="nearest")
    return positions, values.reshape(len(positions), len(offsets)).mean(axis=1)


def _body_extent(positions: np.ndarray, profile: np.ndarray) -> tuple[float, float]:
    """Lower and upper ends (mm along the axis) of the body holding position 0: where the profile
    first falls below half-way between the body's level and the lowest value found (the discs).
    NaN for an end without a clear drop."""
    smooth = ndimage.uniform_filter1d(profile, 3, mode="nearest")
    zero = int(np.argmin(np.abs(positions)))
    body_level = float(np.median(smooth[np.abs(positions) <= 4.0]))
    low = float(smooth.min())
    if body_level - low < 40.0:  # HU: no disc contrast along the profile
        return float("nan"), float("nan")
    half = (body_level + low) / 2.0
    below = [n for n in range(zero, -1, -1) if smooth[n] < half]
    above = [n for n in range(zero, len(smooth)) if smooth[n] < half]

    def crossing(n_out: int, n_in: int) -> float:  # linear interpolation of the half-way crossing
        a, b = smooth[n_in], smooth[n_out]
        w = (a - half) / (a - b) if a != b else 0.5
        return float(positions[n_in] + w * (positions[n_out] - positions[n_in]))

    lower = crossing(below[0], below[0] + 1) if below and below[0] < zero else float("nan")
    upper = crossing(above[0], above[0] - 1) if above and above[0] > zero else float("nan")
    return lower, upper


#: In-plane opening radius (mm) that removes pedicles, laminae and spinous process (thinner than
#: about 10 mm) but keeps the vertebral body (30-50 mm across).
POSTERIOR_OPENING_MM = 5.0


def _disk(radius_mm: float, spacing_ji) -> np.ndarray:
    rj, ri = (int(np.ceil(radius_mm / s)) for s in spacing_ji)
    j, i = np.mgrid[-rj:rj + 1, -ri:ri + 1]
    return (j * spacing_ji[0]) ** 2 + (i * spacing_ji[1]) ** 2 <= radius_mm ** 2


def find_vertebral_bodies(ct: Volume, approximate_centres_lps_mm, levels=LUMBAR_LEVELS,
                          bone_hu: float = BONE_HU, search_radius_mm: float = 30.0, margin_mm: float = 3.0,
                          diameter_mm: float = MARROW_CYLINDER_DIAMETER_MM,
                          height_mm: float = MARROW_CYLINDER_HEIGHT_MM) -> list[VertebralBody]:
    """Vertebral-body centres and marrow cylinders from an axial CT (HU), from approximate points.

    Each point may be off by up to about ``search_radius_mm`` in-plane and a third of a body height
    along the spine. Method, per point: in the axial slices within 4 mm of it, bone (>= ``bone_hu``)
    is opened in-plane with a 5 mm disk (removes the posterior elements, which would otherwise close
    the spinal canal), holes are filled, and the component nearest the point is kept; the body centre
    in-plane is its thickest point (largest in-plane distance to the outside, summed over the
    slices). Along the spine axis (through the neighbouring bodies) the mean HU profile in a small
    disk gives the body's ends at the discs (half-way drops); the centre is moved to their middle.
    Without disc contrast (dense discs or porotic bone) the point's level and the requested
    height are kept (``height_mm`` NaN in the result). The cylinder diameter and height are the
    requested ones, reduced to stay ``margin_mm`` inside the bone and the body's ends.
    Raises :class:`InputError` when no bone is found near a point.
    """
    points = np.atleast_2d(np.asarray(approximate_centres_lps_mm, dtype=float))
    levels = list(levels)[: len(points)] + [f"body {n + 1}" for n in range(len(levels), len(points))]
    grid = ct.grid
    source = ct.metadata.get("source_file", "CT")
    spacing_ji = _sampling_kji(grid)[1:]
    refined = []
    for level, point in zip(levels, points):
        reach = search_radius_mm + 30.0
        corners = point + np.array([[a * reach, b * reach, c * 4.0] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)])
        box = _box_of_points(grid, corners)
        if box is None:
            raise InputError(f"{level}: the point lies outside the CT", source, "points")
        hu = np.asarray(ct.array[box], dtype=np.float32)
        bone = hu >= bone_hu
        opened = np.zeros_like(bone)
        disk = _disk(POSTERIOR_OPENING_MM, spacing_ji)
        thickness = np.zeros(bone.shape, dtype=np.float32)
        for k in range(bone.shape[0]):
            opened[k] = ndimage.binary_fill_holes(ndimage.binary_opening(bone[k], disk))
        labels, count = ndimage.label(opened)
        if count == 0:
            raise InputError(f"{level}: no vertebral body (bone >= {bone_hu:g} HU, over 10 mm thick) near the point",
                             source, "points")
        centres_lps = _voxel_centres(grid, box)
        distance = np.linalg.norm(centres_lps - point, axis=-1)
        nearest = ndimage.minimum(distance, labels, index=np.arange(1, count + 1))
        best = int(np.argmin(nearest)) + 1
        if nearest[best - 1] > search_radius_mm:
            raise InputError(f"{level}: no vertebral body within {search_radius_mm:g} mm of the point", source, "points")
        component = labels == best
        for k in range(bone.shape[0]):
            if component[k].any():
                thickness[k] = ndimage.distance_transform_edt(np.pad(component[k], 1), sampling=spacing_ji)[1:-1, 1:-1]
        depth = thickness.sum(axis=0)
        j, i = np.unravel_index(int(np.argmax(depth)), depth.shape)
        radius = float(thickness[:, j, i].max())
        k_point = grid.lps_to_index(point)[2]
        centre = grid.index_to_lps([i + box[2].start, j + box[1].start, k_point])
        refined.append((level, centre, radius))
    centres = np.array([c for _, c, _ in refined])
    bodies = []
    hu_all = ct.array
    for (level, centre, radius), axis in zip(refined, _spine_axes(centres)):
        positions, profile = _slab_profile(hu_all, grid, centre, axis, min(radius * 0.5, 6.0), 30.0,
                                           min(grid.spacing_mm[2], 1.0))
        lower, upper = _body_extent(positions, profile)
        height = float(upper - lower) if np.isfinite(lower) and np.isfinite(upper) else float("nan")
        if np.isfinite(height):
            centre = centre + axis * (lower + upper) / 2.0
        cylinder_diameter = min(diameter_mm, 2.0 * (radius - margin_mm))
        cylinder_height = min(height_mm, height - 2.0 * margin_mm) if np.isfinite(height) else height_mm
        if cylinder_diameter <= 0 or cylinder_height <= 0:
            raise InputError(f"{level}: the vertebral body found is too small for a marrow cylinder "
                             f"(radius {radius:.1f} mm, height {height:.1f} mm)", source, "points")
        bodies.append(VertebralBody(level, tuple(float(v) for v in centre), radius, height,
                                    float(cylinder_diameter), float(cylinder_height)))
    return bodies


def marrow_voi_from_ct(ct: Volume, approximate_centres_lps_mm, **kwargs) -> tuple[np.ndarray, list[VertebralBody]]:
    """Bone-marrow mask (union of the cylinders of :func:`find_vertebral_bodies`) on the CT grid."""
    bodies = find_vertebral_bodies(ct, approximate_centres_lps_mm, **kwargs)
    centres = np.array([b.centre_lps_mm for b in bodies])
    axes = _spine_axes(centres)
    mask = np.zeros(ct.grid.shape_kji, dtype=bool)
    for body, axis in zip(bodies, axes):
        mask |= cylinder_mask(ct.grid, body.centre_lps_mm, axis, body.cylinder_diameter_mm, body.cylinder_height_mm)
    return mask, bodies
