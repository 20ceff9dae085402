"""One patient's follow-up from the manifest's ``followup`` section: lesions measured at baseline and
at every visit (on the visit's own segmentation, or carried from the baseline by registration and
refined on the visit's image), RECIST 1.1 and volumetric response, progression-free survival, and
the dose-response of the patient's lesions. Writes ``response.json`` and ``response.csv``.

This module joins follow-up with registration (carrying VOIs) and with dosimetry (each lesion's
absorbed dose of the intra-arterial cycle, the number dosimetry.json holds, plus earlier cycles'
per-VOI doses when the manifest gives them). docs/physics.md sections 28 to 32.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..followup import recist
from ..followup.carry_over import lesion_contrast, refine_lesion
from ..followup.dose_response import dose_response
from ..followup.measure import LesionMeasurement, measure_lesion
from ..followup.survival import months_between, patient_pfs
from ..followup.volumetric import RESPONDING, volumetric_course
from ..imaging.segmentation import Segmentation
from ..imaging.voi_roles import TARGET_LESION, role_of
from .followup_manifest import date_of

#: Organ given to lesions whose organ the manifest does not state: "Lesion N" (the trial's target
#: liver metastases) are in the liver; every other lesion in one shared unspecified organ, so that
#: RECIST's limit of two targets per organ is never exceeded silently.
DEFAULT_ORGAN = {TARGET_LESION: "liver"}
UNSPECIFIED_ORGAN = "unspecified (extra-hepatic)"

#: response.csv columns, one row per lesion and scan (units in the names).
CSV_COLUMNS = [
    "patient_id", "lesion", "organ", "nodal", "target", "visit", "date", "months_after_start", "modality", "source",
    "present", "volume_ml", "longest_diameter_mm", "short_axis_mm", "recist_diameter_mm", "volume_change_percent",
    "volume_change_from_nadir_percent", "volumetric_response", "absorbed_dose_gy", "cumulative_absorbed_dose_gy",
    "visit_overall_response", "sum_of_diameters_mm",
]


@dataclass
class CarriedLesion:
    visit: str
    name: str
    mask: np.ndarray
    grid: object


@dataclass
class FollowupResult:
    report: dict
    carried: list[CarriedLesion] = field(default_factory=list)


def _lesion_names(seg: Segmentation, declared: dict) -> list[str]:
    return [name for name in seg.names if role_of(name).is_lesion or name in declared]


def _read_segmentation(path, labels, source, where):
    from ..io.segmentation_files import read_segmentation

    try:
        return read_segmentation(path, labels)
    except InputError as exc:
        if exc.source is None:
            exc.source = str(source)
        raise


def slice_thickness_mm(series: str, series_uid: str | None) -> float:
    """Slice spacing of a scan (for RECIST measurability), from the headers of a DICOM series or the
    volume file's spacing."""
    from ..io.volume_files import is_volume_file, read_volume

    if is_volume_file(series):
        return float(read_volume(series).grid.spacing_mm[2])
    from ..io.dicom_series import _dcmread, select_series, slice_layout

    summary = select_series(series, series_uid)
    headers = [_dcmread(p, stop_before_pixels=True) for p in summary.files]
    grid, _, _ = slice_layout(headers, summary.files)
    return float(grid.spacing_mm[2])


class _Images:
    """The scans read for carrying VOIs, read once each."""

    def __init__(self):
        self._cache = {}

    def get(self, spec: dict, source, where: str):
        from ..io.image_input import read_image

        key = (spec["series"], spec.get("series_uid"))
        if key not in self._cache:
            volume = read_image(spec["series"], spec.get("series_uid"))
            modality = volume.metadata.get("modality")
            if modality and modality != spec["modality"]:
                raise InputError(f"the series is {modality}, the manifest says {spec['modality']}", source,
                                 f"{where}.modality")
            self._cache[key] = volume
        return self._cache[key]


#: Working resolution of the registrations that carry VOIs (mm): they only place the search region
#: in which the lesion is found again (docs/physics.md section 28.2), so 4 mm is enough (the rigid
#: result moves by about 0.3 mm against 2 mm, at half the time).
CARRY_WORKING_SPACING_MM = 4.0


def _register(fixed, moving, method: str):
    from ..registration.register import refine_affine, register_deformable, register_multimodal, register_rigid

    same = fixed.metadata.get("modality") == moving.metadata.get("modality")
    options = {"working_spacing_mm": CARRY_WORKING_SPACING_MM}
    rigid = register_rigid(fixed, moving, **options) if same else register_multimodal(fixed, moving, **options)
    if method == "affine":
        return refine_affine(fixed, moving, rigid, **options)
    if method == "bspline":
        return register_deformable(fixed, moving, rigid, **options)
    return rigid


def _carry_over(spec: dict, visit: dict, where: str, names: list[str], baseline_seg: Segmentation,
                baseline_ml: dict, images: _Images, contrasts: dict, source) -> tuple[dict, list, dict]:
    """Carry ``names`` from the baseline to ``visit``: register the baseline image to the visit's,
    carry each lesion's VOI, refine it on the visit's image. Returns measurements, refined lesions
    and the registration's summary."""
    from ..imaging.segmentation import resample_mask
    from ..registration.propagation import propagate_mask

    baseline_image = images.get(spec["baseline"], source, "followup.baseline")
    visit_image = images.get(visit, source, where)
    options = visit.get("carry_over", {})
    method = options.get("registration", "rigid")
    registration = _register(visit_image, baseline_image, method)
    measurements, refined = {}, []
    for name in names:
        if name not in contrasts:
            on_baseline = resample_mask(baseline_seg.mask(name), baseline_seg.grid, baseline_image.grid, "fraction") >= 0.5
            contrasts[name] = lesion_contrast(baseline_image.array, baseline_image.grid, on_baseline,
                                              spec["baseline"]["segmentation"], name)
        carried = propagate_mask(baseline_seg.mask(name), baseline_seg.grid, visit_image.grid, registration.transform,
                                 "fraction")
        lesion = refine_lesion(visit_image.array, visit_image.grid, carried, contrasts[name].polarity, name,
                               options.get("margin_mm"), baseline_ml[name], contrasts[name])
        if lesion.detected is None:
            measurements[name] = None
        elif lesion.detected:
            m = measure_lesion(lesion.mask, lesion.grid, name)
            m.volume_ml = lesion.volume_ml
            measurements[name] = m
            refined.append(CarriedLesion(visit["name"], name, lesion.mask, lesion.grid))
        else:
            measurements[name] = LesionMeasurement(name, 0.0, 0, False)
        if measurements[name] is not None:
            measurements[name].warnings.extend(lesion.warnings)
        lesion_info = lesion.to_dict()
        lesion_info["baseline_contrast"] = contrasts[name].to_dict()
        if measurements[name] is not None:
            measurements[name].refinement = lesion_info
    summary = {"registration": method, "transform_type": registration.transform_type,
               "translation_mm": list(registration.translation_mm), "rotation_deg": list(registration.rotation_deg),
               "metric_value": registration.metric_value, "warnings": list(registration.warnings),
               "fixed": "visit image", "moving": "baseline image"}
    return measurements, refined, summary


def _doses(manifest_data: dict, dosimetry_report: dict | None, source) -> tuple[dict, str | None, dict, list]:
    """Each lesion's absorbed dose of the intra-arterial cycle (Gy), where it comes from, the
    cumulative dose over cycles where the manifest gives every earlier cycle's dose, and warnings."""
    from ..io.text_files import read_json

    spec = manifest_data["followup"]
    warnings: list[str] = []
    doses: dict[str, float] = {}
    origin = None
    if dosimetry_report is not None:
        doses = {v["name"]: v.get("absorbed_dose_gy") for v in dosimetry_report.get("vois", [])}
        origin = "this run's dosimetry (absorbed_dose_gy of dosimetry.json)"
    elif "dosimetry_results" in spec:
        data = read_json(spec["dosimetry_results"], "dosimetry results")
        report = data.get("dosimetry") if isinstance(data, dict) and "dosimetry" in data else data
        if not isinstance(report, dict) or not isinstance(report.get("vois"), list):
            raise InputError("not a dosimetry.json or results.json with dosimetry VOIs", spec["dosimetry_results"],
                             "vois")
        doses = {v.get("name"): v.get("absorbed_dose_gy") for v in report["vois"]}
        origin = f"absorbed_dose_gy of {spec['dosimetry_results']}"
    elif "lesion_doses_gy" in spec:
        doses = dict(spec["lesion_doses_gy"])
        origin = "followup.lesion_doses_gy of the manifest"
    cumulative: dict[str, float | None] = {}
    previous = (manifest_data.get("dosimetry") or {}).get("previous_cycles") or []
    per_cycle = [c.get("voi_doses_gy") for c in previous]
    if previous and any(per_cycle):
        for name, dose in doses.items():
            if dose is None:
                continue
            missing = [str(c.get("cycle", n + 1)) for n, (c, d) in enumerate(zip(previous, per_cycle))
                       if not d or d.get(name) is None]
            if missing:
                warnings.append(f"{name}: no dose for previous cycle(s) {', '.join(missing)}: no cumulative dose")
                cumulative[name] = None
            else:
                cumulative[name] = float(dose) + sum(float(d[name]) for d in per_cycle)
    return doses, origin, cumulative, warnings


def run_followup(manifest_data: dict, source, dosimetry_report: dict | None = None, patient_id: str = "",
                 progress=None) -> FollowupResult:
    """The follow-up of one patient from a validated manifest's data (paths absolute)."""
    progress = progress or (lambda fraction, message: None)
    spec = manifest_data["followup"]
    start_text = spec.get("start_date") or manifest_data["dosimetry"]["administration_time"]
    start = date_of(start_text)
    declared = spec.get("lesions", {})
    warnings: list[str] = []

    # ---- baseline
    progress(0.0, "follow-up: baseline lesions")
    baseline_spec = spec["baseline"]
    baseline_seg = _read_segmentation(baseline_spec["segmentation"], baseline_spec.get("labels"), source,
                                      "followup.baseline")
    names = _lesion_names(baseline_seg, declared)
    missing_declared = [n for n in declared if n not in baseline_seg]
    if missing_declared:
        raise InputError(f"lesion(s) {', '.join(missing_declared)} are not segments of the baseline segmentation",
                         source, "followup.lesions")
    if not names:
        raise InputError("the baseline segmentation has no lesion (segments named 'Lesion N' or 'Extrahepatic lesion "
                         "N', or listed in followup.lesions)", baseline_spec["segmentation"], "segment names")
    baseline = {name: measure_lesion(baseline_seg.mask(name), baseline_seg.grid, name) for name in names}
    empty = [name for name, m in baseline.items() if not m.present]
    if empty:
        raise InputError(f"baseline lesion(s) {', '.join(empty)} are empty", baseline_spec["segmentation"], empty[0])
    thickness = slice_thickness_mm(baseline_spec["series"], baseline_spec.get("series_uid"))
    lesions = {}
    for name in names:
        role = role_of(name).role
        info = declared.get(name, {})
        organ = info.get("organ") or DEFAULT_ORGAN.get(role)
        if organ is None:
            organ = UNSPECIFIED_ORGAN
            warnings.append(f"{name}: organ not given (followup.lesions): counted in '{UNSPECIFIED_ORGAN}' for the "
                            "two-targets-per-organ rule")
        lesions[name] = recist.Lesion(name, organ, bool(info.get("nodal", False)),
                                      baseline[name].longest_diameter_mm, baseline[name].short_axis_mm)
    selection = recist.select_targets(list(lesions.values()), thickness, spec.get("targets"), source)
    warnings += selection.warnings
    if (date_of(start_text) - date_of(baseline_spec["date"])).days > 28:
        warnings.append("the baseline scan is more than 4 weeks before the start of the cycle (RECIST 1.1 section 3.2 "
                        "asks for 4 weeks at most)")

    # ---- visits
    images = _Images()
    contrasts: dict = {}
    carried: list[CarriedLesion] = []
    visit_measurements: list[dict] = []
    visit_reports = []
    new_lesion_rows = []
    baseline_ml = {name: baseline[name].volume_ml for name in names}
    for n, visit in enumerate(spec["visits"]):
        where = f"followup.visits[{n}]"
        progress(0.1 + 0.8 * n / len(spec["visits"]), f"follow-up: visit {visit['name']}")
        if visit["modality"] != baseline_spec["modality"]:
            warnings.append(f"visit {visit['name']} is {visit['modality']}, the baseline {baseline_spec['modality']}: "
                            "RECIST 1.1 asks for the same modality and technique at every assessment")
        measured: dict[str, LesionMeasurement | None] = {}
        new_names = visit.get("new_lesions", [])
        seg = None
        if "segmentation" in visit:
            seg = _read_segmentation(visit["segmentation"], visit.get("labels"), source, where)
            unknown = [s for s in seg.names if s not in names and s not in new_names
                       and (role_of(s).is_lesion or s in declared)]
            if unknown:
                raise InputError(f"segment(s) {', '.join(unknown)} are lesions that are not at baseline: list them in "
                                 "new_lesions (a new lesion is progression) or rename them", visit["segmentation"],
                                 f"{where}.new_lesions")
            for name in names:
                if name in seg:
                    m = measure_lesion(seg.mask(name), seg.grid, name)
                    m.source = "segmentation"
                    measured[name] = m
        to_carry = [name for name in names if name not in measured]
        carry_summary = None
        if to_carry and "carry_over" in visit:
            found, refined, carry_summary = _carry_over(spec, visit, where, to_carry, baseline_seg, baseline_ml, images,
                                                        contrasts, source)
            for name, m in found.items():
                if m is not None:
                    m.source = "carried"
                measured[name] = m
            carried += refined
        for name in new_names:
            m = measure_lesion(seg.mask(name), seg.grid, name) if seg is not None and name in seg else None
            new_lesion_rows.append({"visit": visit["name"], "name": name,
                                    "measurement": m.to_dict() if m is not None else None})
        not_evaluated = [name for name in names if measured.get(name) is None]
        visit_measurements.append(measured)
        visit_reports.append({
            "name": visit["name"], "date": visit["date"],
            "days_after_start": (date_of(visit["date"]) - start).total_seconds() / 86400,
            "months_after_start": months_between(start, date_of(visit["date"])), "modality": visit["modality"],
            "series": visit["series"], "segmentation": visit.get("segmentation"), "carry_over": carry_summary,
            "new_lesions": new_names, "non_target_entered": visit.get("non_target"),
            "not_evaluated_lesions": not_evaluated,
        })
        if not_evaluated:
            warnings.append(f"visit {visit['name']}: lesion(s) {', '.join(not_evaluated)} not evaluated (not in the "
                            "visit's segmentation, not carried over)")

    # ---- RECIST
    progress(0.92, "follow-up: response, PFS, dose-response")
    inputs = []
    for visit, report, measured in zip(spec["visits"], visit_reports, visit_measurements):
        target_mm = {}
        for name in selection.targets:
            m = measured.get(name)
            target_mm[name] = None if m is None else (m.short_axis_mm if lesions[name].nodal else m.longest_diameter_mm)
        non_target = [(name, measured.get(name)) for name in selection.non_targets]
        absent, nodes_normal = None, True
        if non_target and all(m is not None for _, m in non_target):
            absent = all(not m.present for name, m in non_target if not lesions[name].nodal)
            nodes_normal = all(m.short_axis_mm < recist.NODE_NORMAL_SHORT_AXIS_MM for name, m in non_target
                               if lesions[name].nodal)
        inputs.append(recist.VisitInput(visit["name"], report["days_after_start"], target_mm, visit.get("non_target"),
                                        bool(selection.non_targets), absent, nodes_normal,
                                        bool(visit.get("new_lesions"))))
        if selection.non_targets and visit.get("non_target") is None:
            report.setdefault("notes", []).append(
                "non-target response not entered: derived from the measurements (CR when every non-target lesion is "
                "gone, otherwise not evaluated, RECIST 1.1 table 1)")
    rows = recist.evaluate_visits(lesions, selection.targets, inputs)
    for report, row in zip(visit_reports, rows):
        report["recist"] = row
    best = recist.best_overall_response(rows, spec.get("confirmation_required", False),
                                        spec.get("sd_minimum_days", recist.SD_MINIMUM_DAYS))

    # ---- PFS
    progression_date = None
    if best["progression_visit"] is not None:
        progression_date = date_of(next(v["date"] for v in spec["visits"] if v["name"] == best["progression_visit"]))
    events = [(e["type"], date_of(e["date"])) for e in spec.get("events", [])]
    if "last_contact" in spec:
        last_contact = date_of(spec["last_contact"])
    elif spec["visits"]:
        last_contact = date_of(spec["visits"][-1]["date"])
        warnings.append("followup.last_contact not given: a patient without event is censored at the last visit")
    else:
        raise InputError("no visit and no last contact: give followup.last_contact", source, "followup.last_contact")
    pfs = patient_pfs(start, progression_date, events, last_contact)

    # ---- lesions' courses and doses
    doses, dose_origin, cumulative, dose_warnings = _doses(manifest_data, dosimetry_report, source)
    warnings += dose_warnings
    lesion_reports = []
    for name in names:
        volumes = [None if visit.get(name) is None else visit[name].volume_ml for visit in visit_measurements]
        course = volumetric_course(baseline[name].volume_ml, volumes)
        entries = []
        for visit, report, measured, vol in zip(spec["visits"], visit_reports, visit_measurements, course):
            m = measured.get(name)
            entry = {"visit": visit["name"], "date": visit["date"], "months_after_start": report["months_after_start"],
                     "source": m.source if m is not None else "not evaluated"}
            if m is not None:
                entry.update({k: v for k, v in m.to_dict().items() if k != "name"})
                entry["recist_diameter_mm"] = recist.recorded_diameter_mm(
                    m.short_axis_mm if lesions[name].nodal else m.longest_diameter_mm, lesions[name].nodal)
                if m.refinement is not None:
                    entry["refinement"] = m.refinement
            entry.update(vol)
            entries.append(entry)
        dose = doses.get(name)
        if doses and dose is None:
            warnings.append(f"{name}: no absorbed dose for this lesion ({dose_origin}): left out of the dose-response")
        lesion_reports.append({
            "name": name, "organ": lesions[name].organ, "nodal": lesions[name].nodal,
            "target": name in selection.targets, "measurable": selection.measurable[name],
            "absorbed_dose_gy": dose, "cumulative_absorbed_dose_gy": cumulative.get(name),
            "baseline": {k: v for k, v in baseline[name].to_dict().items() if k != "name"},
            "course": entries,
        })

    # ---- dose-response of this patient's lesions, per visit
    per_visit = {}
    if doses:
        for index, visit in enumerate(spec["visits"]):
            rows_v = [(lesion["absorbed_dose_gy"], lesion["cumulative_absorbed_dose_gy"],
                       lesion["course"][index].get("volume_change_percent"),
                       lesion["course"][index]["volumetric_response"]) for lesion in lesion_reports]
            evaluated = [r for r in rows_v if r[3] != recist.NE]
            per_visit[visit["name"]] = {
                "absorbed_dose": dose_response([r[0] for r in evaluated], [r[2] for r in evaluated],
                                               [r[3] in RESPONDING for r in evaluated]),
                "cumulative_absorbed_dose": dose_response([r[1] for r in evaluated], [r[2] for r in evaluated],
                                                          [r[3] in RESPONDING for r in evaluated])
                if any(c is not None for c in cumulative.values()) else None,
            }
    report = {
        "patient_id": patient_id,
        "start_date": start.isoformat(timespec="seconds"),
        "start_source": "followup.start_date" if spec.get("start_date") else "dosimetry.administration_time",
        "baseline": {"date": baseline_spec["date"], "modality": baseline_spec["modality"],
                     "series": baseline_spec["series"], "segmentation": baseline_spec["segmentation"],
                     "slice_thickness_mm": thickness},
        "visits": visit_reports,
        "lesions": lesion_reports,
        "new_lesions": new_lesion_rows,
        "recist": {"targets": selection.targets, "non_targets": selection.non_targets,
                   "selection_rule": selection.rule, **best,
                   "definition": "RECIST 1.1 (Eisenhauer et al. 2009), docs/physics.md section 29"},
        **pfs,
        "last_contact": last_contact.isoformat(timespec="seconds"),
        "events": spec.get("events", []),
        "dose_response": {"dose_source": dose_origin, "per_visit": per_visit,
                          "response": "volumetric CR or PR of the lesion at the visit (docs/physics.md section 30)"},
        "definitions": {
            "longest_diameter_mm": "RECIST 1.1 longest diameter in the slice plane, from the segment's outline "
                                   "(docs/physics.md section 28)",
            "volume_ml": "voxels of the segmentation x voxel volume (carried lesions: the partial-volume sum, "
                         "section 28.2)",
            "pfs_months": "months (30.4375 days) from the start of the intra-arterial cycle to the first RECIST "
                          "progression, clinical progression or death, else to the last contact (section 31)",
        },
        "warnings": warnings,
    }
    return FollowupResult(report, carried)


def csv_rows(report: dict) -> list[dict]:
    """response.csv: one row per lesion and scan (baseline first)."""
    by_visit = {v["name"]: v for v in report["visits"]}
    rows = []
    for lesion in report["lesions"]:
        common = {"patient_id": report.get("patient_id", ""), "lesion": lesion["name"], "organ": lesion["organ"],
                  "nodal": lesion["nodal"], "target": lesion["target"], "absorbed_dose_gy": lesion["absorbed_dose_gy"],
                  "cumulative_absorbed_dose_gy": lesion["cumulative_absorbed_dose_gy"]}
        b = lesion["baseline"]
        rows.append(dict(common, visit="baseline", date=report["baseline"]["date"], months_after_start=None,
                         modality=report["baseline"]["modality"], source="segmentation", present=True,
                         volume_ml=b["volume_ml"], longest_diameter_mm=b["longest_diameter_mm"],
                         short_axis_mm=b["short_axis_mm"],
                         recist_diameter_mm=b["short_axis_mm"] if lesion["nodal"] else b["longest_diameter_mm"],
                         volume_change_percent=0.0))
        for entry in lesion["course"]:
            visit = by_visit[entry["visit"]]
            rows.append(dict(common, visit=entry["visit"], date=entry["date"],
                             months_after_start=entry["months_after_start"],
                             modality=visit["modality"], source=entry["source"], present=entry.get("present"),
                             volume_ml=entry.get("volume_ml"), longest_diameter_mm=entry.get("longest_diameter_mm"),
                             short_axis_mm=entry.get("short_axis_mm"), recist_diameter_mm=entry.get("recist_diameter_mm"),
                             volume_change_percent=entry.get("volume_change_percent"),
                             volume_change_from_nadir_percent=entry.get("volume_change_from_nadir_percent"),
                             volumetric_response=entry.get("volumetric_response"),
                             visit_overall_response=visit["recist"]["overall_response"],
                             sum_of_diameters_mm=visit["recist"]["sum_of_diameters_mm"]))
    return rows


def carried_segmentations(result: FollowupResult) -> dict[str, Segmentation]:
    """Per visit, the refined carried lesions on one grid (the visit image's fine lattice, cropped to
    hold them all), to write and check in Slicer."""
    from ..imaging.grid import Grid

    out = {}
    for visit in dict.fromkeys(c.visit for c in result.carried):
        lesions = [c for c in result.carried if c.visit == visit]
        reference = lesions[0].grid
        spacing = np.asarray(reference.spacing_mm)
        # Each crop's index range in the common lattice (same axes and spacing, offsets are whole voxels).
        starts = [np.rint(reference.lps_to_index(c.grid.origin_lps_mm)).astype(int) for c in lesions]  # i, j, k
        low = np.min(starts, axis=0)
        high = np.max([s + np.array(c.grid.size_ijk) for s, c in zip(starts, lesions)], axis=0)
        grid = Grid(tuple((high - low)[::-1]), tuple(spacing), tuple(reference.index_to_lps(low)), reference.direction)
        seg = Segmentation(grid, source=f"carried to {visit}")
        for start, c in zip(starts, lesions):
            mask = np.zeros(grid.shape_kji, bool)
            o = start - low
            mask[o[2]:o[2] + c.grid.shape_kji[0], o[1]:o[1] + c.grid.shape_kji[1], o[0]:o[0] + c.grid.shape_kji[2]] = c.mask
            seg.add(c.name, mask)
        out[visit] = seg
    return out


def folder_safe(name: str) -> str:
    import urllib.parse

    return urllib.parse.quote(name, safe="._-") or "visit"


def write_followup_outputs(result: FollowupResult, folder: str | os.PathLike) -> dict:
    """response.json, response.csv and the carried segmentations (one ``.seg.nrrd`` per visit) into
    ``folder``; returns their paths."""
    from ..io.output_files import write_csv, write_json
    from ..io.segmentation_files import write_seg_nrrd

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    outputs = {"response_json": str(folder / "response.json"), "response_csv": str(folder / "response.csv")}
    segmentations = {}
    for visit, seg in carried_segmentations(result).items():
        path = folder / f"carried_{folder_safe(visit)}.seg.nrrd"
        write_seg_nrrd(seg, path)
        segmentations[visit] = str(path)
    if segmentations:
        outputs["carried_segmentations"] = segmentations
        for visit in result.report["visits"]:
            if visit["name"] in segmentations:
                visit["carried_segmentation"] = segmentations[visit["name"]]
    write_csv(folder / "response.csv", csv_rows(result.report), CSV_COLUMNS)
    write_json(folder / "response.json", result.report)
    return outputs
