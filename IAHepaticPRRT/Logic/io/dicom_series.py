"""Finding and reading DICOM image series (CT, PET, SPECT stored as PT) from a folder.

The slice order comes from ImagePositionPatient projected on the slice normal, never from file
names or InstanceNumber. Pixel values get each slice's own RescaleSlope / RescaleIntercept
(PET slopes differ slice by slice). Geometry problems (missing position or orientation, mixed
orientations, duplicate positions, missing slices) are refused with the file and attribute named.

Slice positions (docs/physics.md section 17): a uniform grid is fitted to the positions along the
normal (least squares over the slice index). Positions within ``SLICE_POSITION_TOLERANCE`` of a
slice spacing of that grid are read on it (a warning gives the largest deviation when it exceeds
rounding); larger irregularity is resampled onto a regular grid (linear interpolation between the
two nearest slices along the normal, as Slicer's acquisition-geometry regularisation does), with
a warning; a step longer than ``MISSING_SLICE_STEP_RATIO`` spacings is refused as missing slices.
Files without preamble and compressed pixel data: :mod:`iahepaticprrt.io.dicom_decode`.

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

#: Largest deviation of a slice position from the uniform grid fitted to all positions that is
#: read as that grid, as a fraction of the grid's slice spacing (docs/physics.md section 17).
SLICE_POSITION_TOLERANCE = 0.1
#: Deviations up to this (mm) are the rounding of decimal strings: read without a warning.
SLICE_POSITION_ROUNDING_MM = 0.01
#: A step between neighbouring slices longer than this many nominal spacings is a gap: missing slices.
MISSING_SLICE_STEP_RATIO = 1.5
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

    ``datasets`` are the slice headers (without pixel data) in slice order along the normal, and
    ``files`` the matching paths, so callers can read per-slice attributes (timing, units).

    Normally slice n of ``datasets`` is slice k = n of the volume. When the slice positions had to
    be regularised (resampled onto a regular grid), ``interpolation`` is the (volume slices x
    file slices) matrix of linear-interpolation weights, and ``slice_values`` the values of the
    files' own slices: a per-slice factor (:meth:`scaled`) is then applied before the
    interpolation, never after.
    """

    volume: Volume
    datasets: list
    files: list[Path]
    warnings: list = field(default_factory=list)
    interpolation: np.ndarray | None = None
    slice_values: np.ndarray | None = None

    @property
    def first(self):
        return self.datasets[0]

    def scaled(self, factors, dtype=np.float32) -> np.ndarray:
        """The volume with each file slice's values multiplied by its own factor (``factors`` in the
        order of ``datasets``), on the volume's grid."""
        factors = np.asarray(factors, dtype=np.float64)
        if len(factors) != len(self.datasets):
            raise ValueError(f"{len(factors)} factors for {len(self.datasets)} slices")
        out = np.empty(self.volume.array.shape, dtype=dtype)
        if self.interpolation is None:
            for k, factor in enumerate(factors):  # slice by slice: no full-size float64 copy
                out[k] = self.volume.array[k].astype(np.float64) * factor
            return out
        for k, weights in enumerate(self.interpolation):
            used = np.nonzero(weights)[0]
            out[k] = sum(weights[n] * factors[n] * self.slice_values[n].astype(np.float64) for n in used)
        return out


def _dcmread(path: Path, stop_before_pixels: bool):
    from .dicom_decode import read_dataset

    return read_dataset(path, stop_before_pixels)


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
    """Grid of single-frame slices, and the order that sorts them along the slice normal.

    (Kept for callers that need only these two; :func:`slice_layout` also says how the positions
    were regularised.)"""
    grid, order, _ = slice_layout(datasets, files)
    return grid, order


@dataclass
class SliceLayout:
    """How the files' slices sit along the normal, and what the reader does about it."""

    distances_mm: np.ndarray            # sorted positions along the normal
    max_deviation_mm: float = 0.0       # largest distance of a slice from the fitted uniform grid
    deviating_slice: int = 0            # which one (index in sorted order)
    interpolation: np.ndarray | None = None  # (output slices x file slices) weights when regularised
    warnings: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"slice_position_max_deviation_mm": self.max_deviation_mm,
                "regularised": self.interpolation is not None,
                "number_of_file_slices": int(len(self.distances_mm)),
                "tolerance_fraction_of_spacing": SLICE_POSITION_TOLERANCE}


def _uniform_fit(distance: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Least-squares line through (slice index, position): first position, spacing, residuals."""
    k = np.arange(len(distance), dtype=float)
    spacing, first = np.polyfit(k, distance, 1)
    return float(first), float(spacing), distance - (first + spacing * k)


def _regular_grid_weights(distance: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Output positions from the first to the last slice at ``spacing`` (rounded so that the last
    slice is reached), and the linear-interpolation weights from the file slices."""
    count = int(round((distance[-1] - distance[0]) / spacing)) + 1
    step = (distance[-1] - distance[0]) / (count - 1)
    out = distance[0] + step * np.arange(count)
    weights = np.zeros((count, len(distance)))
    upper = np.clip(np.searchsorted(distance, out, side="right"), 1, len(distance) - 1)
    lower = upper - 1
    t = np.clip((out - distance[lower]) / (distance[upper] - distance[lower]), 0.0, 1.0)
    weights[np.arange(count), lower] = 1.0 - t
    weights[np.arange(count), upper] += t
    return out, weights


def slice_layout(datasets: list, files: list[Path]) -> tuple[Grid, np.ndarray, SliceLayout]:
    """Grid of single-frame slices, the order that sorts them along the slice normal, and the
    layout (fitted-grid deviation, regularisation). See the module docstring for the rules."""
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
    layout = SliceLayout(distance)
    origin = positions[order[0]]
    if len(datasets) > 1:
        steps = np.diff(distance)
        if np.any(steps < 1e-3):
            dup = files[order[int(np.argmin(steps)) + 1]]
            raise InputError("two slices at the same position (a dynamic, gated or mixed series?); "
                             "select one series or frame set", dup, "ImagePositionPatient (0020,0032)")
        nominal = float(np.median(steps))
        header_spacing = first.get("SpacingBetweenSlices")
        try:
            header_spacing = abs(float(header_spacing)) if header_spacing not in (None, "") else None
        except (TypeError, ValueError):
            header_spacing = None
        if header_spacing:
            nominal = min(nominal, header_spacing)
        gap = int(np.argmax(steps))
        if steps[gap] > MISSING_SLICE_STEP_RATIO * nominal:
            raise InputError(
                f"missing slice(s): a gap of {steps[gap]:.3f} mm between the slices at {distance[gap]:.3f} and "
                f"{distance[gap + 1]:.3f} mm along the normal, where the series' spacing is {nominal:.3f} mm "
                f"(steps {steps.min():.3f} to {steps.max():.3f} mm); check that every file of the series is there",
                files[order[gap + 1]], "ImagePositionPatient (0020,0032)")
        first_fit, spacing_k, residuals = _uniform_fit(distance)
        worst = int(np.argmax(np.abs(residuals)))
        layout.max_deviation_mm, layout.deviating_slice = float(abs(residuals[worst])), worst
        # Positions must lie on the normal through the first slice (no gantry tilt / shear).
        in_plane = positions[order] - positions[order[0]] - np.outer(distance - distance[0], normal)
        if np.max(np.abs(in_plane)) > 0.01 * spacing_k + 1e-3:
            raise InputError("slice positions are sheared relative to the slice normal (gantry tilt?)",
                             files[order[0]].parent, "ImagePositionPatient (0020,0032)")
        where = f"slice {worst + 1} of {len(distance)}, {files[order[worst]].name}"
        if layout.max_deviation_mm <= SLICE_POSITION_TOLERANCE * spacing_k:
            # Read on the fitted uniform grid: every slice within a tenth of a slice of its place.
            origin = origin + (first_fit - distance[0]) * normal
            if layout.max_deviation_mm > SLICE_POSITION_ROUNDING_MM:
                layout.warnings.append(
                    f"slice positions deviate from a uniform grid by up to {layout.max_deviation_mm:.3f} mm "
                    f"({100 * layout.max_deviation_mm / spacing_k:.1f} % of the {spacing_k:.4f} mm spacing; {where}; "
                    f"steps {steps.min():.3f} to {steps.max():.3f} mm): read on the fitted uniform grid "
                    f"(tolerance {100 * SLICE_POSITION_TOLERANCE:g} % of a slice, docs/physics.md section 17)")
        else:
            spacing_k = float(np.median(steps))
            _, layout.interpolation = _regular_grid_weights(distance, spacing_k)
            count = layout.interpolation.shape[0]
            spacing_k = float((distance[-1] - distance[0]) / (count - 1))
            layout.warnings.append(
                f"irregular slice positions: up to {layout.max_deviation_mm:.3f} mm off a uniform grid "
                f"({100 * layout.max_deviation_mm / spacing_k:.0f} % of a slice; {where}; steps {steps.min():.3f} to "
                f"{steps.max():.3f} mm): resampled onto a regular grid of {count} slices {spacing_k:.4f} mm apart "
                "(linear interpolation along the slice normal)")
    else:
        thickness = first.get("SpacingBetweenSlices") or first.get("SliceThickness")
        if not thickness:
            raise InputError("single-slice series without slice thickness", first_path, "SliceThickness (0018,0050)")
        spacing_k = abs(float(thickness))
    count = len(datasets) if layout.interpolation is None else layout.interpolation.shape[0]
    grid = Grid(
        shape_kji=(count, rows, cols),
        # PixelSpacing is [row spacing (between rows, along j), column spacing (along i)].
        spacing_mm=(pixel_spacing[1], pixel_spacing[0], spacing_k),
        origin_lps_mm=origin,
        direction=np.column_stack([row_dir, col_dir, normal]),
    )
    return grid, order, layout


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


def _slice_values(ds, path: Path, slope_expected: bool = False) -> tuple[np.ndarray, str]:
    from .dicom_decode import decode_pixels

    pixels, decoder = decode_pixels(ds, path)
    if pixels.ndim != 2:
        raise InputError("expected one frame per file; multi-frame images are read by the SPECT reader", path,
                         "NumberOfFrames (0028,0008)")
    slope, intercept = rescale_parameters(ds, path, slope_expected)
    return pixels.astype(np.float64) * slope + intercept, decoder


def read_series(folder: str | os.PathLike, series_uid: str | None = None,
                modalities: tuple[str, ...] | None = None, dtype=np.float32) -> DicomSeries:
    """Read one single-frame image series from ``folder`` into a :class:`DicomSeries`.

    Voxel values are stored value x RescaleSlope + RescaleIntercept of their own slice, in the
    modality's units (HU for CT, the PET's Units for PT); no other scaling is applied here.
    The volume's metadata say how the pixels were decoded and how the slice positions were read
    (``pixel_decoders``, ``slice_positions``); ``DicomSeries.warnings`` says what a user must know.
    """
    summary = select_series(folder, series_uid, modalities)
    if summary.number_of_frames > 1:
        raise InputError("multi-frame object: read NM SPECT with the SPECT reader", summary.files[0],
                         "NumberOfFrames (0028,0008)")
    files = summary.files
    headers = [_dcmread(p, stop_before_pixels=True) for p in files]
    grid, order, layout = slice_layout(headers, files)
    n_files = len(files)
    file_values = np.empty((n_files,) + grid.shape_kji[1:], dtype=dtype)
    decoders: dict[str, int] = {}
    slope_expected = any(str(h.get("RescaleSlope", "")).strip() for h in headers)
    for n, index in enumerate(order):
        ds = _dcmread(files[index], stop_before_pixels=False)
        file_values[n], decoder = _slice_values(ds, files[index], slope_expected)
        decoders[decoder] = decoders.get(decoder, 0) + 1
    if not np.all(np.isfinite(file_values)):
        raise InputError("non-finite voxel values after rescale", files[0], "RescaleSlope (0028,1053)")
    if layout.interpolation is None:
        array, slice_values = file_values, None
    else:
        array = np.empty(grid.shape_kji, dtype=dtype)
        for k, weights in enumerate(layout.interpolation):
            used = np.nonzero(weights)[0]
            array[k] = sum(weights[n] * file_values[n].astype(np.float64) for n in used)
        slice_values = file_values
    sorted_headers = [headers[i] for i in order]
    sorted_files = [files[i] for i in order]
    warnings = list(layout.warnings)
    without_meta = [f for f, h in zip(sorted_files, sorted_headers) if getattr(h, "read_without_file_meta", False)]
    if without_meta:
        warnings.append(f"{len(without_meta)} file(s) without the DICOM preamble and file meta information (e.g. "
                        f"{without_meta[0].name}) were read as bare datasets (transfer syntax as detected)")
    unit = "HU" if summary.modality == "CT" else str(headers[0].get("Units", ""))
    volume = Volume(array, grid, unit, {
        "series_instance_uid": summary.series_instance_uid,
        "modality": summary.modality,
        "series_description": summary.series_description,
        "frame_of_reference_uid": str(headers[0].get("FrameOfReferenceUID", "") or ""),
        "study_instance_uid": str(headers[0].get("StudyInstanceUID", "") or ""),
        "source_folder": str(folder),
        "number_of_files": len(files),
        "pixel_decoders": decoders,
        "files_without_file_meta": len(without_meta),
        "slice_positions": layout.to_dict(),
    })
    return DicomSeries(volume, sorted_headers, sorted_files, warnings, layout.interpolation, slice_values)
