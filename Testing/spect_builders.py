"""Synthetic 177Lu SPECT/CT time points with a known truth, for the dosimetry tests.

Every number the tests compare against is computed here from the definitions (activity in each
region from its kinetics, counts = activity x calibration x duration), not by the code under test.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from iahepaticprrt.imaging.grid import Grid
from iahepaticprrt.imaging.segmentation import Segmentation
from iahepaticprrt.io.dicom_writer import write_image_series, write_nm_tomo
from iahepaticprrt.io.segmentation_files import write_seg_nrrd

ADMINISTRATION = dt.datetime(2025, 3, 4, 9, 30, 0)
CALIBRATION_CPS_PER_MBQ = 12.5
VIEWS_PER_HEAD = 60
FRAME_MS = 20000.0  # 20 s per view: 60 views -> 1200 s
DURATION_S = VIEWS_PER_HEAD * FRAME_MS / 1000.0


def rotation_sequence(views: int = VIEWS_PER_HEAD, frame_ms: float = FRAME_MS, arc: float | None = 180.0,
                      step: float | None = 3.0) -> Sequence:
    item = Dataset()
    item.NumberOfFramesInRotation = views
    item.ActualFrameDuration = int(frame_ms)
    if arc is not None:
        item.ScanArc = arc
    if step is not None:
        item.AngularStep = step
    return Sequence([item])


def spect_grid(shape=(36, 36, 36), spacing=4.8) -> Grid:
    n = np.array(shape[::-1], dtype=float)
    origin = -(n - 1) / 2.0 * spacing
    return Grid(shape, (spacing,) * 3, origin)


def distance_mm(grid: Grid, centre_lps) -> np.ndarray:
    k, j, i = np.indices(grid.shape_kji)
    lps = grid.index_to_lps(np.stack([i, j, k], axis=-1).reshape(-1, 3).astype(float)).reshape(*grid.shape_kji, 3)
    return np.linalg.norm(lps - np.asarray(centre_lps, dtype=float), axis=-1)


@dataclass
class Region:
    name: str
    centre_lps_mm: tuple
    radius_mm: float
    kinetics: tuple          # ("mono-exp", A0_MBq, lambda) or ("bi-exp-uptake", A, l1, l2)
    hu: float = 40.0

    def activity_mbq(self, t_h: float) -> float:
        kind, *p = self.kinetics
        if kind == "mono-exp":
            return p[0] * math.exp(-p[1] * t_h)
        return p[0] * (math.exp(-p[1] * t_h) - math.exp(-p[2] * t_h))

    def tia_mbqh(self) -> float:
        kind, *p = self.kinetics
        if kind == "mono-exp":
            return p[0] / p[1]
        return p[0] * (1.0 / p[1] - 1.0 / p[2])


@dataclass
class Patient:
    grid: Grid
    regions: list
    times_h: list
    masks: dict = field(default_factory=dict)

    def __post_init__(self):
        for region in self.regions:
            self.masks[region.name] = distance_mm(self.grid, region.centre_lps_mm) <= region.radius_mm

    def concentration_bqml(self, t_h: float, shift_mm=(0.0, 0.0, 0.0)) -> np.ndarray:
        """Uniform activity in each region's voxels (no partial volume), optionally shifted."""
        out = np.zeros(self.grid.shape_kji, dtype=np.float64)
        for region in self.regions:
            mask = distance_mm(self.grid, np.add(region.centre_lps_mm, shift_mm)) <= region.radius_mm \
                if any(shift_mm) else self.masks[region.name]
            out[mask] += region.activity_mbq(t_h) / mask.sum() / self.grid.voxel_volume_ml * 1.0e6
        return out

    def ct_hu(self, grid: Grid | None = None, shift_mm=(0.0, 0.0, 0.0)) -> np.ndarray:
        grid = grid or self.grid
        hu = np.full(grid.shape_kji, -1000.0)
        hu[distance_mm(grid, np.add((0.0, 0.0, 0.0), shift_mm)) <= 80.0] = 0.0   # water body
        for region in self.regions:
            hu[distance_mm(grid, np.add(region.centre_lps_mm, shift_mm)) <= region.radius_mm] = region.hu
        return hu

    def segmentation(self) -> Segmentation:
        seg = Segmentation(self.grid)
        for region in self.regions:
            seg.add(region.name, self.masks[region.name])
        return seg


def default_patient(times_h=(4.0, 24.0, 96.0, 168.0)) -> Patient:
    lam = math.log(2.0)
    return Patient(spect_grid(), [
        Region("Lesion 1", (-30.0, 0.0, 10.0), 20.0, ("mono-exp", 400.0, lam / 90.0), 50.0),
        Region("Left kidney", (40.0, 20.0, -10.0), 18.0, ("bi-exp-uptake", 150.0, lam / 50.0, lam / 1.5), 30.0),
        Region("Bone marrow", (0.0, 45.0, -30.0), 12.0, ("mono-exp", 20.0, lam / 40.0), 300.0),
    ], list(times_h))


def acquisition_time(t_h: float) -> dt.datetime:
    return ADMINISTRATION + dt.timedelta(hours=t_h)


def write_time_point(patient: Patient, index: int, folder: Path, counts: bool = True, shift_mm=(0.0, 0.0, 0.0),
                     negative_spacing: bool = False, extra: dict | None = None, with_private_cf: bool = True,
                     ct: bool = True) -> dict:
    """Write tp<index+1>: NM counts (or Bq/mL real-world mapping) and optionally its CT."""
    t_h = patient.times_h[index]
    start = acquisition_time(t_h)
    bqml = patient.concentration_bqml(t_h, shift_mm)
    frame = f"1.2.826.0.1.3680043.8.498.77.{index}"
    common = {
        "PatientName": "Dosimetry^Synthetic", "PatientID": "DOSI-1", "PatientSex": "M",
        "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.77", "FrameOfReferenceUID": frame,
        "AcquisitionDate": start.strftime("%Y%m%d"), "AcquisitionTime": start.strftime("%H%M%S"),
        # Reconstruction an hour later: a reader that used SeriesTime would be an hour off.
        "SeriesDate": start.strftime("%Y%m%d"), "SeriesTime": (start + dt.timedelta(hours=1)).strftime("%H%M%S"),
        "ContentDate": start.strftime("%Y%m%d"), "ContentTime": (start + dt.timedelta(hours=1)).strftime("%H%M%S"),
        "RotationInformationSequence": rotation_sequence(), "NumberOfDetectors": 2,
    }
    if with_private_cf:
        common[(0x0011, 0x0010)] = ("LO", "IAHepaticPRRT")
        common[(0x0011, 0x1001)] = ("DS", str(CALIBRATION_CPS_PER_MBQ))
    common.update(extra or {})
    tp = folder / f"tp{index + 1}"
    if counts:
        counts_array = bqml * patient.grid.voxel_volume_ml * 1.0e-6 * CALIBRATION_CPS_PER_MBQ * DURATION_S
        nm = write_nm_tomo(counts_array, patient.grid, tp / "nm" / "spect.dcm", common, uid_key=f"dosi tp{index}",
                           negative_slice_spacing=negative_spacing)
    else:
        peak = float(bqml.max()) or 1.0
        nm = write_nm_tomo(bqml, patient.grid, tp / "nm" / "spect.dcm", common, uid_key=f"dosi tp{index}",
                           real_world_bqml_slope=peak / 30000.0, negative_slice_spacing=negative_spacing)
    result = {"nm": nm, "time_h": t_h}
    if ct:
        write_image_series(patient.ct_hu(shift_mm=shift_mm), patient.grid, tp / "ct", "CT",
                           {"FrameOfReferenceUID": frame, "RescaleType": "HU", "PatientSex": "M"},
                           uid_key=f"dosi ct{index}", fixed_slope=1.0)
        result["ct"] = tp / "ct"
    return result


def write_patient(patient: Patient, folder: Path, **kwargs) -> list[dict]:
    folder = Path(folder)
    written = [write_time_point(patient, i, folder, **kwargs) for i in range(len(patient.times_h))]
    write_seg_nrrd(patient.segmentation(), folder / "vois.seg.nrrd")
    return written
