"""One cycle's 177Lu SPECT/CT dosimetry from its files, in named stages: read the time points, the
CTs and the VOIs; time each point since administration; align them on the reference time point
(registration); then the dosimetry itself (:func:`iahepaticprrt.dosimetry.cycle.dosimetry_of_cycle`).

This run lives in ``study`` because it joins two domains, registration and dosimetry, which do not
import each other (docs/architecture.md). Nothing is written here (``dosimetry.cycle.write_outputs``).
"""

from __future__ import annotations

from ..dosimetry.conservation import (
    check_administered_activity,
    check_field_of_view,
    check_tia,
    field_of_view_activity_mbq,
)
from ..dosimetry.cycle import AlignedTimePoints, DosimetryResult, check_time_points, dosimetry_of_cycle
from ..dosimetry.options import DosimetryOptions, replace_times
from ..dosimetry.timing import resolve_times
from ..errors import InputError
from ..imaging.segmentation import Segmentation
from ..imaging.voi_placement import hot_voi_offsets_mm, placement_warning
from ..io.dicom_series import read_series
from ..io.patient_identity import check_same_patient, patient_identity
from ..io.segmentation_files import read_segmentation
from ..io.spect_dicom import SpectTimePoint, read_time_point
from ..registration.time_points import register_to_reference


def _no_progress(fraction: float, message: str) -> None:
    pass


def load_time_points(sources, options: DosimetryOptions, progress=_no_progress) -> list[SpectTimePoint]:
    """Read each SPECT time point (DICOM or volume file) into Bq/mL."""
    durations = options.acquisition_duration_s
    if durations is not None and len(durations) not in (1, len(sources)):
        raise InputError(f"{len(durations)} acquisition durations for {len(sources)} time points",
                         "--acquisition-duration-s")
    points = []
    for index, source in enumerate(sources):
        duration = None if durations is None else (durations[0] if len(durations) == 1 else durations[index])
        progress(index / len(sources), f"dosimetry: reading SPECT time point {index + 1} of {len(sources)}")
        points.append(read_time_point(source, options.calibration_cps_per_mbq, duration, accept=options.accept))
    return points


def align_time_points(points: list[SpectTimePoint], options: DosimetryOptions, cts: list | None = None,
                      times_h: list | None = None, ct_identities: list[tuple[str, dict]] = (),
                      progress=_no_progress) -> tuple[AlignedTimePoints, list[str]]:
    """Check the time points (one patient, a therapy's activity, no more activity than administered),
    time them since administration and align them on the reference one (registration); returns them
    with the warnings of these stages."""
    check_time_points(points, options, cts)
    warnings: list[str] = []
    for point in points:
        warnings.extend(point.warnings)
    check_inputs_belong_together(points, options, warnings, ct_identities)
    times, time_records, time_warnings = resolve_times(points, replace_times(options, times_h))
    warnings.extend(time_warnings)
    balance = check_field_of_view([field_of_view_activity_mbq(p.volume.array, p.volume.grid.voxel_volume_ml)
                                   for p in points], times, [p.source for p in points],
                                  options.net_administered_mbq, options.accept, warnings)
    for record, ratio in zip(time_records, balance):
        record["field_of_view_activity_fraction_of_administered"] = ratio
    progress(0.1, f"dosimetry: registering {len(points) - 1} time point(s) to the reference"
             if options.registration and len(points) > 1 else "dosimetry: aligning the time points")
    arrays, registration_records, registration_warnings = register_to_reference(
        points, cts, options.reference_index, options.registration)
    warnings.extend(registration_warnings)
    aligned = AlignedTimePoints(points, times, arrays, points[options.reference_index].volume.grid, time_records,
                                registration_records, cts[options.reference_index] if cts is not None else None)
    return aligned, warnings


def compute_dosimetry(points: list[SpectTimePoint], segmentation: Segmentation, options: DosimetryOptions,
                      cts: list | None = None, times_h: list | None = None, inputs: dict | None = None,
                      ct_identities: list[tuple[str, dict]] = (), progress=_no_progress) -> DosimetryResult:
    """The whole cycle's dosimetry from time points already read: check, time, align, compute, and
    check that no VOI holds more activity than was administered. ``progress(fraction, message)`` is
    called at each stage."""
    aligned, warnings = align_time_points(points, options, cts, times_h, ct_identities, progress)
    warning = placement_warning(hot_voi_offsets_mm(aligned.arrays_bqml[options.reference_index], aligned.grid,
                                                   segmentation),
                                f"the reference SPECT ({points[options.reference_index].source})",
                                segmentation.source or "the segmentation")
    if warning:
        warnings.append(warning)
    progress(0.7, "dosimetry: VOI kinetics, dose map, VOI doses, limits")
    result = dosimetry_of_cycle(aligned, segmentation, options, warnings, inputs)
    for row in result.report["vois"]:  # warnings is the report's own list: an acceptance lands in it
        check_tia(row["name"], row.get("tia_mbqh"), options.net_administered_mbq,
                  segmentation.source or "segmentation", options.accept, warnings)
    return result


def check_inputs_belong_together(points: list[SpectTimePoint], options: DosimetryOptions, warnings: list,
                                 ct_identities: list[tuple[str, dict]] = ()) -> None:
    """One patient, one 177Lu activity of a therapy's size, no time point given twice."""
    check_administered_activity(options.administered_mbq, "--administered-mbq", options.accept, warnings)
    seen: dict[str, str] = {}
    for point in points:
        uid = point.provenance.get("series_instance_uid")
        if uid and uid in seen:
            raise InputError(f"the same SPECT series as {seen[uid]} (SeriesInstanceUID {uid}): each time point "
                             "once", point.source, "SeriesInstanceUID")
        if uid:
            seen[uid] = point.source
    check_same_patient([(p.source, p.patient_identity) for p in points if p.patient_identity] + list(ct_identities),
                       options.accept, warnings)


def run_dosimetry(spect_sources: list, segmentation_path, options: DosimetryOptions, labels_csv=None,
                  ct_sources: list | None = None, progress=None) -> DosimetryResult:
    """Read the inputs (files; the segmentation may also be a :class:`Segmentation`) and compute
    (nothing written)."""
    progress = progress or _no_progress
    options.validate()
    points = load_time_points(spect_sources, options, lambda f, m: progress(0.2 * f, m))
    cts, ct_identities = None, []
    if ct_sources:
        if len(ct_sources) != len(spect_sources):
            raise InputError(f"{len(ct_sources)} CTs for {len(spect_sources)} SPECT time points: give one CT per "
                             "time point", "--ct")
        progress(0.2, "dosimetry: reading the CTs")
        ct_series = [read_series(path, modalities=("CT",)) for path in ct_sources]
        cts = [series.volume for series in ct_series]
        ct_identities = [(str(s.files[0]), patient_identity(s.first)) for s in ct_series]
    if isinstance(segmentation_path, Segmentation):  # already read (e.g. from a segmentation node)
        segmentation = segmentation_path
        segmentation_path = segmentation.source or "segmentation"
    else:
        # The reference time point is the image an RTSTRUCT is rasterised for (and whose Frame of
        # Reference an RTSTRUCT or SEG must share).
        segmentation = read_segmentation(segmentation_path, labels_csv, points[options.reference_index].volume)
    inputs = {"spect": [str(s) for s in spect_sources], "ct": [str(c) for c in ct_sources or []],
              "segmentation": str(segmentation_path), "labels": str(labels_csv) if labels_csv else None}
    return compute_dosimetry(points, segmentation, options, cts, inputs=inputs, ct_identities=ct_identities,
                             progress=lambda f, m: progress(0.2 + 0.8 * f, m))
