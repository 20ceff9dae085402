"""One patient end to end, from a study manifest: uptake comparison, dosimetry, report.

Everything is computed first; only then are the outputs written (each atomically), so a failing
patient leaves no half-written folder of results. Outputs in OUT_DIR:

- ``uptake/uptake.json``, ``uptake/uptake.csv`` (when the manifest has "uptake");
- ``dosimetry/dosimetry.json``, ``dosimetry/dose.nrrd``, ``dosimetry/dvh.csv`` (with "dosimetry");
- ``followup/response.json``, ``followup/response.csv`` (with "followup", :mod:`iahepaticprrt.study.followup_run`);
- ``results.json``: patient ID, the result dictionaries, output paths, the manifest, the version;
- ``report.html``: the self-contained patient report;
- with ``dicom_out`` (or ``"report": {"dicom": true}`` in the manifest, into ``OUT_DIR/dicom``): RT
  Dose, SEG and a TID 1500 SR (:mod:`iahepaticprrt.study.dicom_export`), built before anything
  is written.
"""

from __future__ import annotations

import datetime as dt
from contextlib import nullcontext
import os
import urllib.parse
from pathlib import Path

import numpy as np

from ..io.output_files import atomic_path, check_output_folder, output_folder, write_json
from ..version import __version__
from .manifest import Manifest, read_manifest
from .voi_regions import uptake_regions

#: Points per fitted curve drawn in the report.
CURVE_POINTS = 120


def folder_name_of(patient_id: str) -> str:
    """A file-system-safe folder name for a patient ID, one-to-one: every character outside
    ``A-Z a-z 0-9 . _ -`` (and a leading dot) is percent-encoded, so ``NET/017`` and ``NET:017``
    get ``NET%2F017`` and ``NET%3A017``, never one folder for two patients."""
    name = urllib.parse.quote(patient_id, safe="._-")
    if name.startswith("."):
        name = "%2E" + name[1:]
    return name or "patient"


def output_folder_name(manifest_path) -> str:
    """A patient's folder name: its manifest's patient ID, else the manifest's file name."""
    try:
        name = read_manifest(manifest_path).patient_id
    except Exception:  # an unreadable manifest still gets a folder name for its error report
        name = ""
    return folder_name_of(name or Path(manifest_path).stem)


def summary_of(results: dict) -> dict:
    """The few figures a user reads first: mean ratio, eligibility, cumulative doses, limits exceeded, outputs."""
    uptake = results.get("uptake") or {}
    dosimetry = results.get("dosimetry") or {}
    limits = (dosimetry.get("limits") or {}).get("limits") or {}
    return {
        "patient_id": results["patient_id"],
        "mean_enhancement_ratio": uptake.get("mean_enhancement_ratio"),
        "mean_enhancement_ratio_ci": [uptake.get("mean_enhancement_ratio_ci_low"),
                                      uptake.get("mean_enhancement_ratio_ci_high")],
        "eligible": uptake.get("eligible"),
        "borderline": uptake.get("borderline"),
        "cumulative_doses_gy": {key: item.get("cumulative") for key, item in limits.items()},
        "limits_exceeded": sorted(key for key, item in limits.items() if item.get("exceeded")),
        "outputs": results["outputs"],
        **_followup_summary(results.get("followup")),
    }


def _followup_summary(followup: dict | None) -> dict:
    if not followup:
        return {}
    return {"best_overall_response": followup["recist"]["best_overall_response"],
            "pfs_months": followup["pfs_months"], "progressed": followup["progressed"]}


def _part(progress, start: float, stop: float):
    """``progress`` for a step that covers [start, stop] of the whole run."""
    return lambda fraction, message: progress(start + (stop - start) * fraction, message)


def _uptake(manifest: Manifest, progress=None):
    from ..uptake.comparison import UptakeParameters, run_uptake
    from ..uptake.suv import SuvOverrides

    spec = manifest.data["uptake"]
    site = manifest.data.get("site") or {}
    site_factor = site.get("pet_cross_calibration_factor", 1.0)
    source = None
    if site:
        source = f"site '{site['name']}' phantom QC" + (f" of {site['qc_date']}" if site.get("qc_date") else "") + (
            f" ({site['qc_reference']})" if site.get("qc_reference") else "")
    optional = {key: spec[key] for key in ("pet_fwhm_mm", "healthy_liver_margin_mm", "noise_model",
                                            "replicates_per_level") if key in spec}
    parameters = UptakeParameters(
        metric=spec.get("metric", "suv_max"), threshold=spec.get("threshold", 3.0), suv_type=spec.get("suv_type", "bw"),
        ia_reference_centre_lps_mm=_point(spec["ia"].get("reference_sphere_centre_lps_mm")),
        iv_reference_centre_lps_mm=_point(spec["iv"].get("reference_sphere_centre_lps_mm")),
        site=site.get("name"), cross_calibration_source=source,
        ia_cross_calibration_factor=spec["ia"].get("pet_cross_calibration_factor", site_factor),
        iv_cross_calibration_factor=spec["iv"].get("pet_cross_calibration_factor", site_factor), **optional)
    routes = ("ia", "iv")
    override_keys = ("weight_kg", "height_cm", "sex", "injected_mbq", "residual_mbq", "injection_time")
    return run_uptake(
        folders={r: spec[r]["pet"] for r in routes},
        segmentation_paths={r: spec[r]["segmentation"] for r in routes},
        parameters=parameters,
        labels={r: spec[r].get("labels") for r in routes},
        overrides={r: SuvOverrides(**{k: spec[r].get(k) for k in override_keys},
                                   accept=frozenset(manifest.data.get("accept", ()))) for r in routes},
        series_uids={r: spec[r].get("series_uid") for r in routes},
        mapping_path=spec.get("mapping"), progress=progress)


def _point(value):
    return None if value is None else tuple(float(v) for v in value)


def _dosimetry(manifest: Manifest, progress=None):
    from ..dosimetry.options import DosimetryOptions
    from .dosimetry_run import run_dosimetry

    spec = manifest.data["dosimetry"]
    points = spec["time_points"]
    times = [p.get("time_h") for p in points]
    if any(t is not None for t in times) and any(t is None for t in times):
        from ..errors import InputError

        raise InputError("give time_h for every time point or for none", manifest.path, "dosimetry.time_points")
    administration = spec.get("administration_time")
    options = DosimetryOptions(
        administered_mbq=spec["administered_mbq"],
        administration_datetime=dt.datetime.fromisoformat(administration).replace(tzinfo=None) if administration else None,
        residual_mbq=spec.get("residual_mbq", 0.0),
        times_h=times if times[0] is not None else None,
        calibration_cps_per_mbq=spec.get("calibration_cps_per_mbq"),
        calibration_uncertainty_percent=spec.get("calibration_uncertainty_percent", 0.0),
        method=spec.get("method", "ldm"), model=spec.get("model", "auto"),
        registration=spec.get("registration", True),
        partial_volume_fwhm_mm=spec.get("pvc_fwhm_mm"),
        previous_cycles=_previous_cycles(spec.get("previous_cycles")),
        kidney_risk_factors=spec.get("kidney_risk_factors", False),
        accept=frozenset(manifest.data.get("accept", ())))
    cts = [p.get("ct") for p in points]
    if any(cts) and not all(cts):
        from ..errors import InputError

        raise InputError("give a CT for every time point or for none", manifest.path, "dosimetry.time_points")
    return run_dosimetry([p["spect"] for p in points], spec["segmentation"], options, spec.get("labels"),
                         cts if all(cts) else None, progress=progress)


def _previous_cycles(cycles):
    """The manifest's previous cycles as dosimetry.limits expects them (None where a value is not given)."""
    if not cycles:
        return None
    from ..dosimetry.limits import FIELDS

    return [{"cycle": c.get("cycle", number), **{key: c.get(key) for key in FIELDS}, **_totals_from_voi_doses(c)}
            for number, c in enumerate(cycles, start=1)]


def _totals_from_voi_doses(cycle: dict) -> dict:
    """A cycle's kidney and marrow doses for the limits, from its per-VOI doses when it does not give them
    itself (kidney: "Kidneys", else the higher of left and right, as for this cycle)."""
    doses = {" ".join(k.lower().replace("_", " ").split()): v for k, v in (cycle.get("voi_doses_gy") or {}).items()}
    out = {}
    if cycle.get("kidney_dose_gy") is None:
        kidneys = doses.get("kidneys")
        if kidneys is None:
            sides = [doses[k] for k in ("left kidney", "right kidney") if k in doses]
            kidneys = max(sides) if sides else None
        if kidneys is not None:
            out["kidney_dose_gy"] = kidneys
    if cycle.get("bone_marrow_dose_gy") is None and doses.get("bone marrow") is not None:
        out["bone_marrow_dose_gy"] = doses["bone marrow"]
    return out


def _fitted_curves(result) -> dict:
    """Each VOI's fitted model sampled for the report's plot (from 0 h to 1.2 x the last point)."""
    curves = {}
    for name, fit in result.fits.items():
        times, _ = result.tacs.get(name, ([], []))
        if len(times) == 0:
            continue
        t = np.linspace(0.0, 1.2 * float(np.max(times)), CURVE_POINTS)
        try:
            curves[name] = (t.tolist(), np.asarray(fit.activity_mbq(t), dtype=float).tolist())
        except (ValueError, NotImplementedError):
            continue
    return curves


def _dvh_percent(result) -> dict:
    return {name: (np.asarray(levels, float).tolist(), (100.0 * np.asarray(fractions, float)).tolist())
            for name, (levels, fractions) in result.dvh.items()}


def _dicom_objects(manifest: Manifest, uptake_result, suv, dosimetry_result, regions=None) -> dict:
    from .dicom_export import build_dicom_results

    uptake = dosimetry = None
    if uptake_result is not None:
        spec = manifest.data["uptake"]
        uptake = {"result": uptake_result, "suv": suv,
                  "segmentations": {r: spec[r]["segmentation"] for r in ("ia", "iv")},
                  "labels": {r: spec[r].get("labels") for r in ("ia", "iv")}, "mapping": spec.get("mapping"),
                  "regions": regions}
    if dosimetry_result is not None:
        spec = manifest.data["dosimetry"]
        dosimetry = {"result": dosimetry_result, "spect": [p["spect"] for p in spec["time_points"]],
                     "reference_index": 0, "segmentation": spec["segmentation"], "labels": spec.get("labels")}
    return build_dicom_results(manifest.patient_id, uptake, dosimetry)


def run_patient(manifest_path: str | os.PathLike, output: str | os.PathLike,
                generated: dt.datetime | None = None, progress=None, dicom_out=None) -> dict:
    """Run one patient's manifest into ``output``; return the content of results.json.

    ``progress(fraction, message)`` is called between steps (it may raise to cancel)."""
    progress = progress or (lambda fraction, message: None)
    check_output_folder(output)
    manifest = read_manifest(manifest_path)
    report_settings = manifest.data.get("report", {})
    if dicom_out is None and report_settings.get("dicom", False):
        dicom_out = Path(output) / "dicom"
    uptake_result = dosimetry_result = suv = None
    if "uptake" in manifest.data:
        progress(0.0, "uptake: SUV and VOI statistics of both PET scans")
        uptake_result, suv = _uptake(manifest, _part(progress, 0.0, 0.3))
    if "dosimetry" in manifest.data:
        progress(0.3, "dosimetry: time points, registration, kinetics, dose")
        dosimetry_result = _dosimetry(manifest, _part(progress, 0.3, 0.75))
        spec = manifest.data["dosimetry"]
        dosimetry_result.report["cycle"] = spec.get("cycle") or str(len(spec.get("previous_cycles") or []) + 1)
    followup_result = None
    if "followup" in manifest.data:
        from .followup_run import run_followup

        progress(0.75, "follow-up: lesions at every visit, response, PFS, dose-response")
        followup_result = run_followup(manifest.data, manifest.path, dosimetry_result.report if dosimetry_result else None,
                                       manifest.patient_id)
    regions = None
    if uptake_result is not None:
        spec = manifest.data["uptake"]
        regions = uptake_regions(uptake_result, suv, {r: spec[r]["segmentation"] for r in ("ia", "iv")},
                                 {r: spec[r].get("labels") for r in ("ia", "iv")}, spec.get("mapping"))
    dicom_objects = None
    if dicom_out is not None:
        progress(0.8, "DICOM results: RT Dose, SEG, SR")
        dicom_objects = _dicom_objects(manifest, uptake_result, suv, dosimetry_result, regions)
    progress(0.85, "report images: lesion slices, projections, dose over CT")
    from ..report.patient_images import patient_images

    images = patient_images(uptake_result, suv, regions, dosimetry_result)
    progress(0.9, "writing the results and the report")
    from .predicted_delivered import predicted_versus_delivered

    comparison = predicted_versus_delivered(uptake_result, dosimetry_result.report if dosimetry_result else None,
                                            (manifest.data.get("dosimetry") or {}).get("previous_cycles"))
    results = write_patient_outputs(output, uptake_result, dosimetry_result, manifest.data.get("patient", {}),
                                    report_settings.get("deidentify", False), manifest.patient_id,
                                    str(manifest.path), generated, dicom_objects, dicom_out, comparison,
                                    manifest.data.get("site"), images, followup_result)
    progress(1.0, "done")
    return results


def write_patient_outputs(output: str | os.PathLike, uptake_result: dict | None, dosimetry_result,
                          patient: dict | None = None, deidentify: bool = False, patient_id: str = "",
                          manifest: str | None = None, generated: dt.datetime | None = None,
                          dicom_objects: dict | None = None, dicom_out=None,
                          predicted_vs_delivered: dict | None = None, site: dict | None = None,
                          images=None, followup_result=None) -> dict:
    """Write uptake, dosimetry (a :class:`~iahepaticprrt.dosimetry.cycle.DosimetryResult`), the follow-up
    (a :class:`~iahepaticprrt.study.followup_run.FollowupResult`), the report and results.json into
    ``output``; return the content of results.json. The report is rendered before anything is written;
    ``images`` (:class:`~iahepaticprrt.report.patient_images.PatientImages`) go into it, and its paths
    are shown relative to the manifest's folder."""
    from ..report.patient_report import render_report

    patient = patient or {}
    html = render_report(
        uptake_result, dosimetry_result.report if dosimetry_result else None, patient, deidentify=deidentify,
        dvh=_dvh_percent(dosimetry_result) if dosimetry_result else None,
        fitted_curves=_fitted_curves(dosimetry_result) if dosimetry_result else None,
        generated=generated, predicted_vs_delivered=predicted_vs_delivered, site=site, images=images,
        study_folder=str(Path(manifest).parent) if manifest else None,
        followup=followup_result.report if followup_result else None)
    output = Path(output)
    dicom_elsewhere = bool(dicom_objects) and not Path(dicom_out).resolve().is_relative_to(output.resolve())
    with output_folder(output), (output_folder(dicom_out, "--dicom-out") if dicom_elsewhere else nullcontext()):
        return _write_patient_files(output, uptake_result, dosimetry_result, html, patient, patient_id, manifest,
                                    dicom_objects, dicom_out, predicted_vs_delivered, site, followup_result)


def _write_patient_files(output: Path, uptake_result, dosimetry_result, html: str, patient: dict, patient_id: str,
                         manifest: str | None, dicom_objects: dict | None, dicom_out, predicted_vs_delivered: dict | None,
                         site: dict | None, followup_result=None) -> dict:
    outputs = {}
    if uptake_result is not None:
        from ..uptake.comparison import write_outputs as write_uptake

        outputs["uptake"] = write_uptake(uptake_result, output / "uptake")
    if dosimetry_result is not None:
        from ..dosimetry.cycle import write_outputs as write_dosimetry

        outputs["dosimetry"] = write_dosimetry(dosimetry_result, output / "dosimetry")
    if followup_result is not None:
        from .followup_run import write_followup_outputs

        outputs["followup"] = write_followup_outputs(followup_result, output / "followup")
    if dicom_objects:
        from .dicom_export import write_dicom_results

        outputs["dicom"] = write_dicom_results(dicom_out, dicom_objects)
    with atomic_path(output / "report.html") as tmp:
        tmp.write_text(html, encoding="utf-8")
    outputs["report"] = str(output / "report.html")
    results = {
        "patient_id": patient_id or patient.get("id") or "",
        "software_version": __version__,
        "manifest": manifest,
        "site": site,
        "uptake": uptake_result,
        "dosimetry": dosimetry_result.report if dosimetry_result else None,
        "predicted_vs_delivered": predicted_vs_delivered,
        **({"followup": followup_result.report} if followup_result is not None else {}),
        "outputs": outputs,
    }
    write_json(output / "results.json", results)
    return results
