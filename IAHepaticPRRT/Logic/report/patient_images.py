"""Which images a patient report shows, and how each is windowed.

- For each target lesion, an axial slice of the intra-arterial and of the intravenous PET through the
  lesion's SUVmax voxel on that scan (the voxel the statistics found, so the red cross marks the very
  SUVmax the tables report), its VOI contour, both shown with one window (0 to the higher of the two
  SUVmax values) so that the two routes compare by eye.
- A coronal maximum-intensity projection of each PET, one window for both (0 to the highest target
  lesion SUVmax of either scan).
- The absorbed-dose map over the reference CT (over the density map when no CT was given) at the level
  of each target lesion and of the kidneys, with isodose lines and the VOIs' contours.

Nothing here computes a number the tables do not already hold: positions and values come from the
results; the images only show where they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..imaging.voi_roles import OTHER, TARGET_LESION, role_of
from .figures import Figure, centroid_lps, coronal_mip, dose_slice, lesion_slice

#: CT display window (HU) of the dose images: soft tissue, level 40, width 400.
CT_WINDOW_HU = (-160.0, 240.0)
#: Density display window (g/mL) when no CT was given.
DENSITY_WINDOW_G_PER_ML = (0.0, 1.6)
#: At most this many isodose lines per dose image (the highest ones), so that the lines stay readable.
MAX_ISODOSE_LINES = 5


@dataclass
class LesionImages:
    name: str
    ia: Figure
    iv: Figure
    window_max_suv: float
    ia_suv_max: float | None
    iv_suv_max: float | None


@dataclass
class DoseImage:
    label: str
    figure: Figure


@dataclass
class PatientImages:
    lesions: list[LesionImages] = field(default_factory=list)
    mips: dict = field(default_factory=dict)          # route -> Figure
    mip_window_max_suv: float | None = None
    doses: list[DoseImage] = field(default_factory=list)
    dose_background: str = ""
    notes: list[str] = field(default_factory=list)


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and np.isfinite(value)


def uptake_images(uptake_result: dict, suv: dict, regions: dict, images: PatientImages) -> None:
    """The lesion slices and the MIPs (``suv``: route -> SuvResult; ``regions``: route -> Segmentation
    of the measured regions, under the results' VOI names)."""
    lesion_maxima = []
    for voi in uptake_result.get("vois", []):
        if voi.get("role") != "target_lesion":
            continue
        stats = {route: voi.get(route) or {} for route in ("ia", "iv")}
        maxima = [stats[r].get("suv_max") for r in ("ia", "iv") if _finite(stats[r].get("suv_max"))]
        if not maxima or any(voi["name"] not in regions[r] for r in ("ia", "iv")):
            images.notes.append(f"{voi['name']}: no image (no SUVmax or no VOI on one of the scans)")
            continue
        window = max(maxima)
        lesion_maxima.append(window)
        figures = {}
        for route in ("ia", "iv"):
            segment = regions[route].segment(voi["name"])
            figures[route] = lesion_slice(suv[route].volume, segment.mask, regions[route].grid, window,
                                          stats[route].get("suv_max_position_lps_mm"))
        images.lesions.append(LesionImages(voi["name"], figures["ia"], figures["iv"], window,
                                           stats["ia"].get("suv_max"), stats["iv"].get("suv_max")))
    if lesion_maxima:
        window = max(lesion_maxima)
    else:  # no target lesion: the 99.9th percentile of both scans
        window = max(float(np.percentile(suv[r].volume.array, 99.9)) for r in ("ia", "iv")) or 1.0
    images.mip_window_max_suv = window
    images.mips = {route: coronal_mip(suv[route].volume, window) for route in ("ia", "iv")}


def dose_images(result, images: PatientImages) -> None:
    """Dose over CT at each target lesion's level and at the kidneys' (``result``: DosimetryResult)."""
    segmentation = result.segmentation
    if segmentation is None:
        images.notes.append("dose images: the run kept no segmentation")
        return
    if result.reference_ct is not None:
        background, window = result.reference_ct, CT_WINDOW_HU
        images.dose_background = "reference CT (HU window -160 to 240)"
    else:
        background, window = result.density, DENSITY_WINDOW_G_PER_ML
        images.dose_background = "density map (no CT given; 0 to 1.6 g/mL)"
    contours = [(s.mask, segmentation.grid) for s in segmentation.segments
                if role_of(s.name).role != OTHER and s.mask.any()]
    targets = [(s.name, centroid_lps(s.mask, segmentation.grid)) for s in segmentation.segments
               if role_of(s.name).role == TARGET_LESION and s.mask.any()]
    kidneys = [s.mask for s in segmentation.segments if role_of(s.name).is_kidney and s.mask.any()]
    if kidneys:
        targets.append(("Kidneys", centroid_lps(np.logical_or.reduce(kidneys), segmentation.grid)))
    (centre_x, centre_y), half_width = _axial_field(segmentation)
    for label, centre in targets:
        images.doses.append(DoseImage(label, dose_slice(result.dose, background, window,
                                                        (centre_x, centre_y, centre[2]), contours, MAX_ISODOSE_LINES,
                                                        half_width, pixel_mm=1.0)))


def _axial_field(segmentation) -> tuple[tuple[float, float], float]:
    """The centre (LPS x, y, mm) and half-width (mm) of a square field holding the body (its "Body"
    segment, else every VOI) with a 15 mm margin."""
    body = [s.mask for s in segmentation.segments if s.name.lower() == "body" and s.mask.any()]
    masks = body or [s.mask for s in segmentation.segments if s.mask.any()]
    union = np.logical_or.reduce(masks)
    k, j, i = np.nonzero(union)
    corners = segmentation.grid.index_to_lps(np.array([[i.min(), j.min(), k.min()], [i.max(), j.max(), k.max()]],
                                                      dtype=float))
    low, high = corners.min(axis=0), corners.max(axis=0)
    half_width = float(max(high[0] - low[0], high[1] - low[1])) / 2.0 + 15.0
    return (float(low[0] + high[0]) / 2.0, float(low[1] + high[1]) / 2.0), half_width


def patient_images(uptake_result: dict | None = None, suv: dict | None = None, regions: dict | None = None,
                   dosimetry_result=None) -> PatientImages:
    images = PatientImages()
    if uptake_result is not None and suv and regions:
        uptake_images(uptake_result, suv, regions, images)
    if dosimetry_result is not None:
        dose_images(dosimetry_result, images)
    return images
