"""Finding and reading DICOM image series (CT, PET, SPECT stored as PT) from a folder.

The slice order comes from ImagePositionPatient projected on the slice normal, never from file
names or InstanceNumber. Pixel values get each slice's own RescaleSlope / RescaleIntercept
(PET slopes differ slice by slice). Geometry problems (missing position or orientation, mixed
orientations, uneven or duplicate slice positions) are refused with the file and attribute named.

NM multi-frame SPECT is read by :mod:`iahepaticprrt.io.spect_dicom`, not here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..sanity import finite
from ..imaging.grid import Grid
from ..imaging.volume import Volume

#: Relative tolerance on slice spacing uniformity (fraction of the median spacing).
SLICE_SPACING_TOLERANCE = 0.01
#: Tolerance on direction cosines when checking that every slice has the same orientation.
ORIENTATION_TOLERANCE = 1e-4
#: Image storage SOP classes (PS3.4 B.5) whose files must carry an image: CT, enhanced CT, MR,
#: enhanced MR, NM, PET, enhanced PET, legacy converted enhanced CT/MR/PET.
IMAGE_SOP_CLASS_UIDS = {
    "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.4",
    "1.2.840.10008.5.1.4.1.1.4.1", "1.2.840.10008.5.1.4.1.1.20", "1.2.840.10008.5.1.4.1.1.128",
    "1.2.840.10008.5.1.4.1.1.130", "1.2.840.10008.5.1.4.1.1.2.2", "1.2.840.10008.5.1.4.1.1.4.4",
    "1.2.840.10008.5.1.4.1.1.128.1",
}


@dataclass
class SeriesSummary:
    """One series found in a folder (headers only)."""

    series_instance_uid: str
    modality: str
    series_description: str
    files: list[Path] = field(default_factory=list)
    number_of_frames: int = 1

    def to_dict(self) -> dict:
        return {
            "series_instance_uid": self.series_instance_uid,
            "modality": self.modality,
            "series_description": self.series_description,
            "number_of_files": len(self.files),
        }


@dataclass
class DicomSeries:
    """A series read into a volume.

    ``datasets`` are the slice headers (without pixel data) in the volume's k order, and
    ``files`` the matching paths, so callers can read per-slice attributes (timing, units).
    """

    volume: Volume
    datasets: list
    files: list[Path]

    @property
    def first(self):
        return self.datasets[0]


def _dcmread(path: Path, stop_before_pixels: bool):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(str(path), stop_before_pixels=stop_before_pixels)
    except InvalidDicomError:
        return None
    except Exception as exc:  # truncated or corrupt file
        raise InputError(f"unreadable DICOM file ({exc})", path) from exc


def _candidate_files(folder: Path) -> list[Path]:
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise InputError("no such DICOM file or folder", folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    return [p for p in files if p.name.upper() != "DICOMDIR"]


def scan_folder(folder: str | os.PathLike) -> list[SeriesSummary]:
    """Group the DICOM image files under ``folder`` by SeriesInstanceUID.

    Files that are not DICOM are ignored, except those named ``*.dcm``, which must read.
    """
    folder = Path(folder)
    series: dict[str, SeriesSummary] = {}
    for path in _candidate_files(folder):
        ds = _dcmread(path, stop_before_pixels=True)
        if ds is None:
            if path.suffix.lower() == ".dcm":
                raise InputError("not a readable DICOM file", path)
            continue
        if "Rows" not in ds:
            sop_classes = {str(ds.get("SOPClassUID", "")),
                           str(getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", ""))}
            if sop_classes & IMAGE_SOP_CLASS_UIDS:
                raise InputError("an image file without its image attributes (truncated or incomplete file?)",
                                 path, "Rows (0028,0010)")
            continue  # structured reports, RT structures, presentation states
        uid = str(ds.get("SeriesInstanceUID", ""))
        if not uid:
            raise InputError("missing attribute", path, "SeriesInstanceUID (0020,000E)")
        summary = series.setdefault(
            uid, SeriesSummary(uid, str(ds.get("Modality", "")), str(ds.get("SeriesDescription", ""))))
        summary.files.append(path)
        summary.number_of_frames = max(summary.number_of_frames, int(ds.get("NumberOfFrames", 1) or 1))
    return list(series.values())


def select_series(folder: str | os.PathLike, series_uid: str | None = None,
                  modalities: tuple[str, ...] | None = None) -> SeriesSummary:
    """The one image series in ``folder`` (optionally of the given modalities or UID).

    Several candidates without ``series_uid`` is an error that lists them, so the user can pick.
    """
    found = scan_folder(folder)
    if modalities:
        candidates = [s for s in found if s.modality in modalities]
    else:
        candidates = found
    if series_uid:
        chosen = [s for s in found if s.series_instance_uid == series_uid]
        if not chosen:
            listing = "; ".join(f"{s.series_instance_uid} ({s.modality})" for s in found) or "none"
            raise InputError(f"no series with this UID (series here: {listing})", folder, "SeriesInstanceUID")
        return chosen[0]
    if not candidates:
        wanted = "/".join(modalities) if modalities else "image"
        raise InputError(f"no {wanted} DICOM series found", folder)
    if len(candidates) > 1:
        listing = "; ".join(
            f"{s.series_instance_uid} ({s.modality}, '{s.series_description}', {len(s.files)} files)"
            for s in candidates)
        raise InputError(f"several series found; choose one with --series-uid: {listing}", folder,
                         "SeriesInstanceUID")
    return candidates[0]


def _required(ds, keyword: str, tag: str, path: Path):
    value = ds.get(keyword)
    if value is None or (hasattr(value, "__len__") and len(value) == 0):
        raise InputError("missing attribute", path, f"{keyword} {tag}")
    return value


def slice_geometry(datasets: list, files: list[Path]) -> tuple[Grid, np.ndarray]:
    """Grid of single-frame slices, and the order that sorts them along the slice normal."""
    first, first_path = datasets[0], files[0]
    iop = np.array(_required(first, "ImageOrientationPatient", "(0020,0037)", first_path), dtype=float)
    if iop.shape != (6,):
        raise InputError("must hold 6 values", first_path, "ImageOrientationPatient (0020,0037)")
    row_dir, col_dir = iop[:3], iop[3:]
    normal = np.cross(row_dir, col_dir)
    if not np.isclose(np.linalg.norm(normal), 1.0, atol=1e-3):
        raise InputError("direction cosines are not orthonormal", first_path, "ImageOrientationPatient (0020,0037)")
    pixel_spacing = np.array(_required(first, "PixelSpacing", "(0028,0030)", first_path), dtype=float)
    rows, cols = int(_required(first, "Rows", "(0028,0010)", first_path)), int(
        _required(first, "Columns", "(0028,0011)", first_path))
    positions = []
    for ds, path in zip(datasets, files):
        other = np.array(_required(ds, "ImageOrientationPatient", "(0020,0037)", path), dtype=float)
        if not np.allclose(other, iop, atol=ORIENTATION_TOLERANCE):
            raise InputError("slices of one series have different orientations", path,
                             "ImageOrientationPatient (0020,0037)")
        if int(ds.Rows) != rows or int(ds.Columns) != cols:
            raise InputError("slices of one series have different matrix sizes", path, "Rows/Columns")
        if not np.allclose(np.array(ds.get("PixelSpacing", pixel_spacing), dtype=float), pixel_spacing, atol=1e-6):
            raise InputError("slices of one series have different pixel spacings", path, "PixelSpacing (0028,0030)")
        positions.append(np.array(_required(ds, "ImagePositionPatient", "(0020,0032)", path), dtype=float))
    positions = np.array(positions)
    distance = positions @ normal
    order = np.argsort(distance, kind="stable")
    distance = distance[order]
    if len(datasets) > 1:
        steps = np.diff(distance)
        if np.any(steps < 1e-3):
            dup = files[order[int(np.argmin(steps)) + 1]]
            raise InputError("two slices at the same position (a dynamic, gated or mixed series?); "
                             "select one series or frame set", dup, "ImagePositionPatient (0020,0032)")
        spacing_k = float(np.median(steps))
        if np.max(np.abs(steps - spacing_k)) > SLICE_SPACING_TOLERANCE * spacing_k:
            raise InputError(f"uneven slice spacing ({steps.min():.3f} to {steps.max():.3f} mm): "
                             "missing slices or a variable-spacing series", files[order[0]].parent,
                             "ImagePositionPatient (0020,0032)")
        # Positions must lie on the normal through the first slice (no gantry tilt / shear).
        in_plane = positions[order] - positions[order[0]] - np.outer(distance - distance[0], normal)
        if np.max(np.abs(in_plane)) > 0.01 * spacing_k + 1e-3:
            raise InputError("slice positions are sheared relative to the slice normal (gantry tilt?)",
                             files[order[0]].parent, "ImagePositionPatient (0020,0032)")
    else:
        thickness = first.get("SpacingBetweenSlices") or first.get("SliceThickness")
        if not thickness:
            raise InputError("single-slice series without slice thickness", first_path, "SliceThickness (0018,0050)")
        spacing_k = abs(float(thickness))
    grid = Grid(
        shape_kji=(len(datasets), rows, cols),
        # PixelSpacing is [row spacing (between rows, along j), column spacing (along i)].
        spacing_mm=(pixel_spacing[1], pixel_spacing[0], spacing_k),
        origin_lps_mm=positions[order[0]],
        direction=np.column_stack([row_dir, col_dir, normal]),
    )
    return grid, order


def rescale_parameters(ds, path: Path, slope_expected: bool) -> tuple[float, float]:
    """RescaleSlope and RescaleIntercept of one slice. A slope of 0 or below, or missing in one slice
    of a series whose other slices have one, is refused: taken as 1 it gave a plausible wrong image."""
    slope_value = ds.get("RescaleSlope")
    if slope_value is None or str(slope_value).strip() == "":
        if slope_expected:
            raise InputError("RescaleSlope is missing in this slice but present in the others of the series", path,
                             "RescaleSlope (0028,1053)")
        slope = 1.0
    else:
        slope = finite(slope_value, path, "RescaleSlope (0028,1053)")
    intercept_value = ds.get("RescaleIntercept")
    intercept = 0.0 if intercept_value is None or str(intercept_value).strip() == "" else \
        finite(intercept_value, path, "RescaleIntercept (0028,1052)", positive=False)
    return slope, intercept


def _slice_values(ds, path: Path, slope_expected: bool = False) -> np.ndarray:
    try:
        pixels = ds.pixel_array
    except Exception as exc:
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "unknown")
        raise InputError(f"cannot decode pixel data (transfer syntax {syntax}): {exc}", path, "PixelData") from exc
    if pixels.ndim != 2:
        raise InputError("expected one frame per file; multi-frame images are read by the SPECT reader", path,
                         "NumberOfFrames (0028,0008)")
    slope, intercept = rescale_parameters(ds, path, slope_expected)
    return pixels.astype(np.float64) * slope + intercept


def read_series(folder: str | os.PathLike, series_uid: str | None = None,
                modalities: tuple[str, ...] | None = None, dtype=np.float32) -> DicomSeries:
    """Read one single-frame image series from ``folder`` into a :class:`DicomSeries`.

    Voxel values are stored value x RescaleSlope + RescaleIntercept of their own slice, in the
    modality's units (HU for CT, the PET's Units for PT); no other scaling is applied here.
    """
    summary = select_series(folder, series_uid, modalities)
    if summary.number_of_frames > 1:
        raise InputError("multi-frame object: read NM SPECT with the SPECT reader", summary.files[0],
                         "NumberOfFrames (0028,0008)")
    files = summary.files
    headers = [_dcmread(p, stop_before_pixels=True) for p in files]
    grid, order = slice_geometry(headers, files)
    array = np.empty(grid.shape_kji, dtype=dtype)
    slope_expected = any(str(h.get("RescaleSlope", "")).strip() for h in headers)
    for k, index in enumerate(order):
        ds = _dcmread(files[index], stop_before_pixels=False)
        array[k] = _slice_values(ds, files[index], slope_expected)
    if not np.all(np.isfinite(array)):
        raise InputError("non-finite voxel values after rescale", files[0], "RescaleSlope (0028,1053)")
    sorted_headers = [headers[i] for i in order]
    sorted_files = [files[i] for i in order]
    unit = "HU" if summary.modality == "CT" else str(headers[0].get("Units", ""))
    volume = Volume(array, grid, unit, {
        "series_instance_uid": summary.series_instance_uid,
        "modality": summary.modality,
        "series_description": summary.series_description,
        "source_folder": str(folder),
        "number_of_files": len(files),
    })
    return DicomSeries(volume, sorted_headers, sorted_files)
