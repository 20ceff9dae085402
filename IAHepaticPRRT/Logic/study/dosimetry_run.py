"""One cycle's 177Lu SPECT/CT dosimetry from its files, in named stages: read the time points, the
CTs and the VOIs; time each point since administration; align them on the reference time point
(registration); then the dosimetry itself (:func:`iahepaticprrt.dosimetry.cycle.dosimetry_of_cycle`).

This run lives in ``study`` because it joins two domains, registration and dosimetry, which do not
import each other (docs/architecture.md). Nothing is written here (``dosimetry.cycle.write_outputs``).
"""

from __future__ import annotations

from ..dosimetry.cycle import AlignedTimePoints, DosimetryResult, check_time_points, dosimetry_of_cycle
from ..dosimetry.options import DosimetryOptions, replace_times
from ..dosimetry.timing import resolve_times
from ..errors import InputError
from ..imaging.segmentation import Segmentation
from ..io.dicom_series import read_series
from ..io.segmentation_files import read_segmentation
from ..io.spect_dicom import SpectTimePoint, read_time_point
from ..registration.time_points import register_to_reference


def load_time_points(sources, options: DosimetryOptions) -> list[SpectTimePoint]:
    """Read each SPECT time point (DICOM or volume file) into Bq/mL."""
    durations = options.acquisition_duration_s
    if durations is not None and len(durations) not in (1, len(sources)):
        raise InputError(f"{len(durations)} acquisition durations for {len(sources)} time points",
                         "--acquisition-duration-s")
    points = []
    for index, source in enumerate(sources):
        duration = None if durations is None else (durations[0] if len(durations) == 1 else durations[index])
        points.append(read_time_point(source, options.calibration_cps_per_mbq, duration))
    return points


def align_time_points(points: list[SpectTimePoint], options: DosimetryOptions, cts: list | None = None,
                      times_h: list | None = None) -> tuple[AlignedTimePoints, list[str]]:
    """Check the time points, time them since administration and align them on the reference one
    (registration); returns them with the warnings of these stages."""
    check_time_points(points, options, cts)
    warnings: list[str] = []
    for point in points:
        warnings.extend(point.warnings)
    times, time_records, time_warnings = resolve_times(points, replace_times(options, times_h))
    warnings.extend(time_warnings)
    arrays, registration_records, registration_warnings = register_to_reference(
        points, cts, options.reference_index, options.registration)
    warnings.extend(registration_warnings)
    aligned = AlignedTimePoints(points, times, arrays, points[options.reference_index].volume.grid, time_records,
                                registration_records, cts[options.reference_index] if cts is not None else None)
    return aligned, warnings


def compute_dosimetry(points: list[SpectTimePoint], segmentation: Segmentation, options: DosimetryOptions,
                      cts: list | None = None, times_h: list | None = None, inputs: dict | None = None) -> DosimetryResult:
    """The whole cycle's dosimetry from time points already read: check, time, align, compute."""
    aligned, warnings = align_time_points(points, options, cts, times_h)
    return dosimetry_of_cycle(aligned, segmentation, options, warnings, inputs)


def run_dosimetry(spect_sources: list, segmentation_path, options: DosimetryOptions, labels_csv=None,
                  ct_sources: list | None = None) -> DosimetryResult:
    """Read the inputs (files; the segmentation may also be a :class:`Segmentation`) and compute
    (nothing written)."""
    options.validate()
    points = load_time_points(spect_sources, options)
    cts = None
    if ct_sources:
        if len(ct_sources) != len(spect_sources):
            raise InputError(f"{len(ct_sources)} CTs for {len(spect_sources)} SPECT time points: give one CT per "
                             "time point", "--ct")
        cts = [read_series(path, modalities=("CT",)).volume for path in ct_sources]
    if isinstance(segmentation_path, Segmentation):  # already read (e.g. from a segmentation node)
        segmentation = segmentation_path
        segmentation_path = segmentation.source or "segmentation"
    else:
        segmentation = read_segmentation(segmentation_path, labels_csv)
    inputs = {"spect": [str(s) for s in spect_sources], "ct": [str(c) for c in ct_sources or []],
              "segmentation": str(segmentation_path), "labels": str(labels_csv) if labels_csv else None}
    return compute_dosimetry(points, segmentation, options, cts, inputs=inputs)
