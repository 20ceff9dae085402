"""A small two-scan patient (IA and IV 68Ga PET with CT-grid segmentations) whose SUVs are known.

Regions are analytic (spheres and boxes in LPS mm). Each PET voxel holds the volume-weighted mean of
the region concentrations over 4 x 4 x 4 sub-samples (partial volume without blur), so any PET voxel
lying wholly inside a region holds that region's concentration exactly: SUVmax of every region is
known, and so is each lesion's enhancement ratio. The IV PET grid is shifted by a fraction of a voxel
against the IA grid; the segmentations are on a 2 mm CT grid of their own.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from iahepaticprrt.imaging.grid import Grid
from iahepaticprrt.imaging.segmentation import Segmentation
from iahepaticprrt.io.dicom_writer import write_image_series
from iahepaticprrt.io.segmentation_files import write_seg_nrrd

from pet_builder import base_header, radiopharmaceutical

PET_GRIDS = {
    "ia": Grid((30, 40, 40), (4.0, 4.0, 4.0), (-78.0, -78.0, -58.0)),
    "iv": Grid((30, 40, 40), (4.0, 4.0, 4.0), (-79.5, -77.0, -59.25)),
}
CT_GRID = Grid((60, 80, 80), (2.0, 2.0, 2.0), (-79.0, -79.0, -59.0))

# name: (kind, centre LPS mm, size mm (radius or half-widths))
SHAPES = {
    "Lesion 1": ("sphere", (-30.0, -30.0, 2.0), 15.0),   # diameter 30 mm
    "Lesion 2": ("sphere", (10.0, -34.0, -6.0), 12.0),   # diameter 24 mm
    "Lesion 3": ("sphere", (-30.0, 10.0, 2.0), 5.0),     # diameter 10 mm: flagged
    "Extrahepatic lesion 1": ("sphere", (50.0, 50.0, 20.0), 8.0),
    "Left kidney": ("box", (45.0, 20.0, -20.0), (10.0, 14.0, 18.0)),
    "Right kidney": ("box", (-50.0, 30.0, -20.0), (10.0, 14.0, 18.0)),
    "Spleen": ("box", (50.0, -10.0, 20.0), (14.0, 14.0, 14.0)),
    "Liver": ("box", (-12.0, -20.0, 0.0), (40.0, 36.0, 30.0)),
}
LESIONS = ["Lesion 1", "Lesion 2", "Lesion 3", "Extrahepatic lesion 1"]
ORGANS = ["Left kidney", "Right kidney", "Spleen"]

#: SUVbw of each region per route (background 1.0).
SUV = {
    "ia": {"Lesion 1": 40.0, "Lesion 2": 30.0, "Lesion 3": 35.0, "Extrahepatic lesion 1": 12.0,
           "Healthy liver": 4.0, "Left kidney": 15.0, "Right kidney": 14.0, "Spleen": 20.0, "background": 1.0},
    "iv": {"Lesion 1": 10.0, "Lesion 2": 10.0, "Lesion 3": 10.0, "Extrahepatic lesion 1": 12.0,
           "Healthy liver": 5.0, "Left kidney": 16.0, "Right kidney": 16.0, "Spleen": 22.0, "background": 1.0},
}
#: Scan headers: weight, injected activity, injection and scan times (1 h uptake, 68Ga).
SCANS = {
    "ia": {"weight_kg": 80.0, "dose_bq": 150e6, "injection": "20250301093000", "scan": "103000"},
    "iv": {"weight_kg": 78.0, "dose_bq": 160e6, "injection": "20250304094500", "scan": "104500"},
}
HALF_LIFE_S = 4057.7


def expected_ratio(name: str) -> float:
    return SUV["ia"][name] / SUV["iv"][name]


def _inside(name: str, points: np.ndarray) -> np.ndarray:
    kind, centre, size = SHAPES[name]
    d = points - np.array(centre)
    if kind == "sphere":
        return np.sum(d * d, axis=-1) <= size ** 2
    return np.all(np.abs(d) <= np.array(size), axis=-1)


def region_labels(points: np.ndarray) -> np.ndarray:
    """Region name index of each LPS point: lesions first, then organs, healthy liver, background."""
    names = region_names()
    label = np.full(points.shape[:-1], names.index("background"))
    liver = _inside("Liver", points)
    label[liver] = names.index("Healthy liver")
    for name in ORGANS + LESIONS:
        label[_inside(name, points)] = names.index(name)
    return label


def region_names() -> list[str]:
    return LESIONS + ["Healthy liver"] + ORGANS + ["background"]


def reference_activity_bq(route: str) -> float:
    return SCANS[route]["dose_bq"] * 2.0 ** (-3600.0 / HALF_LIFE_S)


def concentration_bqml(route: str) -> dict[str, float]:
    scale = reference_activity_bq(route) / (SCANS[route]["weight_kg"] * 1000.0)
    return {name: suv * scale for name, suv in SUV[route].items()}


def pet_values(route: str, subsamples: int = 4) -> np.ndarray:
    grid = PET_GRIDS[route]
    names = region_names()
    concentration = np.array([concentration_bqml(route)[n] for n in names])
    offsets = (np.arange(subsamples) + 0.5) / subsamples - 0.5
    values = np.zeros(grid.shape_kji)
    k, j, i = np.indices(grid.shape_kji, dtype=float)
    for ok in offsets:
        for oj in offsets:
            for oi in offsets:
                points = grid.index_to_lps(np.stack([i + oi, j + oj, k + ok], axis=-1))
                values += concentration[region_labels(points)]
    return (values / subsamples ** 3).astype(np.float32)


def segmentation(route: str) -> Segmentation:
    k, j, i = np.indices(CT_GRID.shape_kji, dtype=float)
    points = CT_GRID.index_to_lps(np.stack([i, j, k], axis=-1))
    seg = Segmentation(CT_GRID, source=f"{route} CT segmentation")
    labels = region_labels(points)
    names = region_names()
    for name in LESIONS:
        seg.add(name, labels == names.index(name))
    seg.add("Healthy liver", labels == names.index("Healthy liver"))
    seg.add("Liver", _inside("Liver", points))
    for name in ORGANS:
        seg.add(name, labels == names.index(name))
    return seg


def write_case(root: str | Path, omit: dict[str, list[str]] | None = None) -> dict[str, Path]:
    """Write pet_ia/, pet_iv/ (DICOM) and seg_ia.seg.nrrd, seg_iv.seg.nrrd under ``root``.

    ``omit`` removes segments per route (a lesion drawn on one scan only, ...)."""
    root = Path(root)
    paths = {}
    for route in ("ia", "iv"):
        scan = SCANS[route]
        date = scan["injection"][:8]
        header = base_header(
            PatientName="Uptake^Case", PatientID="UPTAKE-01", PatientWeight=f"{scan['weight_kg']:g}",
            SeriesDate=date, AcquisitionDate=date, SeriesTime=scan["scan"], AcquisitionTime=scan["scan"],
            SeriesDescription=f"68Ga PET {route.upper()}",
            RadiopharmaceuticalInformationSequence=radiopharmaceutical(
                dose=f"{scan['dose_bq']:.0f}", half_life=f"{HALF_LIFE_S:g}", start_datetime=scan["injection"],
                start_time=scan["injection"][8:]))
        header["StudyInstanceUID"] = f"1.2.826.0.1.3680043.8.498.9{1 if route == 'ia' else 2}"
        write_image_series(pet_values(route), PET_GRIDS[route], root / f"pet_{route}", "PT", header,
                           uid_key=f"uptake case {route}")
        seg = segmentation(route)
        for name in (omit or {}).get(route, []):
            seg.segments = [s for s in seg.segments if s.name != name]
        paths[f"seg_{route}"] = write_seg_nrrd(seg, root / f"seg_{route}.seg.nrrd")
        paths[f"pet_{route}"] = root / f"pet_{route}"
    return paths


def lesion_diameter_mm(name: str) -> float:
    return 2.0 * SHAPES[name][2]


def sphere_volume_ml(radius_mm: float) -> float:
    return 4.0 / 3.0 * math.pi * radius_mm ** 3 / 1000.0
