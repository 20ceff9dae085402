"""Independent readers and truth helpers for the synthetic-patient tests.

Nothing here uses the project's DICOM reader: PET and SPECT are read with pydicom (geometry built
from ImagePositionPatient / ImageOrientationPatient / PixelSpacing, or for NM from
DetectorInformationSequence and SpacingBetweenSlices) and with SimpleITK. Region interiors are
computed from truth.json's analytic shapes and transforms, with a LOWER BOUND of the distance to
the region's boundary (exact for spheres and planes; for an ellipse or ellipsoid of gauge s <= 1,
(1 - s) x smallest semi-axis, by homothety of a convex body), so a voxel called interior truly is.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pydicom

#: Interior margin: voxel centres deeper than this many FWHM inside their region's boundary.
INTERIOR_MARGIN_FWHM = 2.0


# ---- generating (once per configuration and test session) ---------------------------------------
_CACHE: dict = {}


def phantom(tmp_path_factory, vendor="siemens", noise=False, seed=1, size="small"):
    """Generate (once per session) and return the phantom folder for these arguments. Any warning
    during generation (for example pydicom's value-too-long for a VR) fails the test."""
    import warnings

    from iahepaticprrt.phantom.generate import generate_phantom

    key = (vendor, noise, seed, size)
    if key not in _CACHE:
        folder = tmp_path_factory.mktemp(f"phantom_{vendor}_{'noise' if noise else 'clean'}_{seed}_{size}") / "patient"
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            generate_phantom(folder, seed=seed, noise=noise, vendor=vendor, size=size)
        _CACHE[key] = folder
    return _CACHE[key]


def load_truth(folder: Path) -> dict:
    import json

    return json.loads((Path(folder) / "truth.json").read_text())


# ---- reading with pydicom -----------------------------------------------------------------------
def read_slices_pydicom(folder: Path):
    """(values [k, j, i] after per-slice rescale, 4x4 index->LPS affine, datasets sorted by position)."""
    datasets = [pydicom.dcmread(p) for p in sorted(Path(folder).glob("*.dcm"))]
    iop = np.array(datasets[0].ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    datasets.sort(key=lambda d: float(np.dot(np.array(d.ImagePositionPatient, float), normal)))
    positions = np.array([d.ImagePositionPatient for d in datasets], float)
    steps = np.diff(positions @ normal)
    assert np.allclose(steps, steps[0], rtol=1e-4), "uneven slice spacing"
    row_spacing, col_spacing = (float(v) for v in datasets[0].PixelSpacing)
    affine = np.eye(4)
    affine[:3, 0] = iop[:3] * col_spacing
    affine[:3, 1] = iop[3:] * row_spacing
    affine[:3, 2] = normal * steps[0]
    affine[:3, 3] = positions[0]
    values = np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in datasets])
    return values, affine, datasets


def read_nm_pydicom(path: Path, apply_real_world: bool):
    """(values [k, j, i], affine, dataset) of an NM RECON TOMO file (SliceVector order)."""
    ds = pydicom.dcmread(path)
    frames = ds.pixel_array.astype(np.float64)
    order = np.argsort(np.array(ds.SliceVector, int), kind="stable")
    frames = frames[order]
    detector = ds.DetectorInformationSequence[0]
    iop = np.array(detector.ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    spacing_k = float(ds.SpacingBetweenSlices)
    row_spacing, col_spacing = (float(v) for v in ds.PixelSpacing)
    affine = np.eye(4)
    affine[:3, 0] = iop[:3] * col_spacing
    affine[:3, 1] = iop[3:] * row_spacing
    affine[:3, 2] = normal * spacing_k
    affine[:3, 3] = np.array(detector.ImagePositionPatient, float)
    if spacing_k < 0:  # frames stored from the last slice: flip to increasing k along the normal
        frames = frames[::-1]
        affine[:3, 3] = affine[:3, 3] + affine[:3, 2] * (frames.shape[0] - 1)
        affine[:3, 2] = -affine[:3, 2]
    if apply_real_world:
        item = ds.RealWorldValueMappingSequence[0]
        values = frames * float(item.RealWorldValueSlope) + float(item.RealWorldValueIntercept)
    else:
        values = frames * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    return values, affine, ds


# ---- reading with SimpleITK ---------------------------------------------------------------------
def _sitk_affine(image) -> np.ndarray:
    affine = np.eye(4)
    direction = np.array(image.GetDirection()).reshape(3, 3)
    affine[:3, :3] = direction @ np.diag(image.GetSpacing())
    affine[:3, 3] = image.GetOrigin()
    return affine


def read_series_sitk(folder: Path):
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    image = reader.Execute()
    return sitk.GetArrayFromImage(image).astype(np.float64), _sitk_affine(image)


def read_nm_sitk(path: Path):
    import SimpleITK as sitk

    image = sitk.ReadImage(str(path))
    return sitk.GetArrayFromImage(image).astype(np.float64), _sitk_affine(image)


# ---- truth geometry -----------------------------------------------------------------------------
def pose_matrix(entry: dict) -> np.ndarray:
    """4x4 reference -> scan from a truth transform entry (x = R (x_ref - c) + c + t)."""
    r = np.array(entry["matrix"], float)
    c = np.array(entry["center_lps_mm"], float)
    t = np.array(entry["translation_mm"], float)
    m = np.eye(4)
    m[:3, :3] = r
    m[:3, 3] = c - r @ c + t
    return m


def scan_pose(truth: dict, scan: str) -> np.ndarray:
    """4x4 mapping IA day-0 (reference) coordinates to ``scan``'s, composed from the truth transforms."""
    if scan == "ia_day0":
        return np.eye(4)
    entry = truth["transforms"][scan]
    return pose_matrix(entry) @ scan_pose(truth, entry["reference"])


def _local(shape: dict, points: np.ndarray) -> np.ndarray:
    axes = np.array(shape.get("axes", np.eye(3)), float)  # rows = local axes in LPS
    return (points - np.array(shape["centre_lps_mm"], float)) @ axes.T


def depth_lower_bound(shape: dict, points: np.ndarray) -> np.ndarray:
    """Lower bound of the distance from each point to the shape's boundary for points inside
    (negative or zero outside)."""
    kind = shape["type"]
    if kind == "sphere":
        return shape["radius_mm"] - np.linalg.norm(points - np.array(shape["centre_lps_mm"]), axis=-1)
    if kind == "ellipsoid":
        a = np.array(shape["semi_axes_mm"], float)
        s = np.sqrt(np.sum((_local(shape, points) / a) ** 2, axis=-1))
        return (1.0 - s) * a.min()
    if kind == "elliptic_cylinder":
        a = np.array(shape["semi_axes_mm"], float)
        u = _local(shape, points)
        s = np.sqrt(np.sum((u[..., :2] / a) ** 2, axis=-1))
        return np.minimum((1.0 - s) * a.min(), shape["half_height_mm"] - np.abs(u[..., 2]))
    if kind == "union":
        return np.max([depth_lower_bound(s, points) for s in shape["of"]], axis=0)
    if kind == "difference":
        depth = depth_lower_bound(shape["of"], points)
        for hole in shape["minus"]:
            depth = np.minimum(depth, -depth_lower_bound_outside(hole, points))
        return depth
    raise ValueError(kind)


def depth_lower_bound_outside(shape: dict, points: np.ndarray) -> np.ndarray:
    """Negative of a lower bound of the distance to a sphere for points outside it."""
    assert shape["type"] == "sphere"
    return shape["radius_mm"] - np.linalg.norm(points - np.array(shape["centre_lps_mm"]), axis=-1)


def voxel_centres(affine: np.ndarray, shape_kji) -> np.ndarray:
    k, j, i = np.indices(shape_kji)
    ijk1 = np.stack([i, j, k, np.ones_like(i)], axis=-1).astype(float)
    return (ijk1 @ affine.T)[..., :3]


def interior_masks(truth: dict, scan: str, affine: np.ndarray, shape_kji, fwhm_mm: float) -> dict[str, np.ndarray]:
    """Per uniform region: voxels whose centre lies deeper than INTERIOR_MARGIN_FWHM x FWHM."""
    centres_scan = voxel_centres(affine, shape_kji)
    to_reference = np.linalg.inv(scan_pose(truth, scan))
    centres = centres_scan @ to_reference[:3, :3].T + to_reference[:3, 3]
    margin = INTERIOR_MARGIN_FWHM * fwhm_mm
    return {name: depth_lower_bound(region["shape"], centres) > margin
            for name, region in truth["regions"].items() if region["uniform"]}


# ---- an independent SUV computation from the headers (docs/physics.md section 2) ----------------------
def _datetime(date: str, time: str) -> datetime:
    time = time.split(".")[0]
    return datetime.strptime(date + time, "%Y%m%d%H%M%S")


def suv_factor_from_headers(datasets) -> float:
    """SUVbw per Bq/mL for a PET series (DecayCorrection START)."""
    first = datasets[0]
    assert first.DecayCorrection == "START"
    item = first.RadiopharmaceuticalInformationSequence[0]
    injection = datetime.strptime(item.RadiopharmaceuticalStartDateTime.split(".")[0], "%Y%m%d%H%M%S")
    series = _datetime(first.SeriesDate, first.SeriesTime)
    earliest = min(_datetime(d.AcquisitionDate, d.AcquisitionTime) for d in datasets)
    if series <= earliest:
        reference = series
    elif (0x0009, 0x100D) in first:
        reference = datetime.strptime(str(first[0x0009, 0x100D].value).split(".")[0], "%Y%m%d%H%M%S")
    else:
        raise AssertionError("reference time needs the frame-time back-computation")
    half_life = float(item.RadionuclideHalfLife)
    decayed = float(item.RadionuclideTotalDose) * 2.0 ** (-(reference - injection).total_seconds() / half_life)
    return float(first.PatientWeight) * 1000.0 / decayed
