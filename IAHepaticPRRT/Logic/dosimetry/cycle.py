"""177Lu SPECT/CT dosimetry of one cycle, from time points already read, timed and aligned on the
reference SPECT grid: VOI activities -> kinetics, TIA, residence time -> voxel TIA map -> absorbed
dose (LDM or VSV) -> per-VOI dose, DVH, sphere model (lesions), organ S-values (liver, spleen,
kidneys), kidney BED -> limits.

Reading the files, timing and aligning the time points is :mod:`iahepaticprrt.study.dosimetry_run`;
this module holds the computation, one named stage per function, in the order
:func:`dosimetry_of_cycle` calls them.

Conventions (see also docs/dosimetry.md):

- Reference geometry: the SPECT grid of the reference time point (the first, unless chosen); every
  other time point has been registered to it (rigid, on the CTs, else on the SPECTs) and resampled
  onto it (activity concentration, linear interpolation). VOIs are defined on the reference.
- Partial-voxel policy (project-wide): a VOI drawn on another grid than the SPECT weights each
  SPECT voxel by the fraction it covers (``resample_mask(..., "fraction")``); totals and means use
  these weights; min/max use voxels covered >= 50 %.
- Times: each time point's acquisition start (AcquisitionDate/Time) minus the administration time,
  in hours; or the times given by the user (volume files need them).
- Masses: from the reference CT (HU -> density, :mod:`iahepaticprrt.dosimetry.ct_density`) on the segmentation's grid;
  without a CT every voxel is water-equivalent, 1.0 g/mL.
- ``mean_dose_gy`` is the mass-weighted mean of the dose map over the VOI (the method chosen);
  ``mean_dose_gy_voi_ldm`` is 0.08532 x TIA / mass with the VOI's fitted TIA. The dose uncertainty
  applies the VOI TIA's relative standard uncertainty (fit, calibration, recovery) to the mean dose.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..imaging.grid import Grid
from ..imaging.segmentation import Segment, Segmentation, resample_mask
from ..imaging.voi_roles import role_of
from ..imaging.volume import Volume
from ..io.spect_dicom import SpectTimePoint
from ..version import __version__
from . import kinetics, radiobiology, sphere_model
from .dvh import cumulative_dvh, dvh_metrics
from .limits import compare_with_limits
from .lu177 import DECAY_CONSTANT_PER_H, HALF_LIFE_H, LDM_GY_G_PER_MBQH
from .masses import density_on_grid, voi_masses
from .options import DosimetryOptions
from .organ_s_values import organ_dose_gy, phantom_for
from .voxel import activity_mbq_per_voxel, ldm_dose_gy, mean_dose_gy, voxel_tia_mbqh, vsv_dose_gy

#: A VOI less covered than this by the SPECT field of view gets a warning; below half it is not computed.
FOV_COVERAGE_WARNING = 0.98
S_VALUE_ORGANS = {"liver": "liver", "healthy_liver": "liver", "spleen": "spleen", "left_kidney": "left_kidney",
                  "right_kidney": "right_kidney", "kidneys": "kidneys"}


@dataclass
class AlignedTimePoints:
    """The cycle's SPECT time points, timed and aligned on the reference SPECT grid."""

    points: list[SpectTimePoint]
    times_h: list[float]                 # hours since administration
    arrays_bqml: list[np.ndarray]        # activity concentration on ``grid``, one array per time point
    grid: Grid                           # the reference time point's SPECT grid
    time_records: list[dict]             # how each time was found
    registration_records: list[dict]     # how each time point was aligned
    reference_ct: Volume | None = None   # the reference time point's CT (masses), if given


@dataclass
class DosimetryResult:
    report: dict
    dose: Volume
    tia_map: Volume
    density: Volume
    dvh: dict = field(default_factory=dict)         # VOI name -> (levels_gy, volume_fraction)
    fits: dict = field(default_factory=dict)        # VOI name -> kinetics.FitResult
    tacs: dict = field(default_factory=dict)        # VOI name -> (times_h, activities_mbq)

    def dvh_rows(self) -> list[dict]:
        rows = []
        for name, (levels, fractions) in self.dvh.items():
            rows.extend({"voi": name, "dose_gy": float(d), "volume_fraction": float(f)} for d, f in zip(levels, fractions))
        return rows


# ---- stage 0: what the inputs must satisfy ---------------------------------------------------
def check_time_points(points: list[SpectTimePoint], options: DosimetryOptions, cts: list | None) -> None:
    """Refuse a set of time points the chosen options cannot work with."""
    options.validate()
    if not points:
        raise InputError("no SPECT time point", "--spect")
    if not 0 <= options.reference_index < len(points):
        raise InputError(f"reference time point {options.reference_index + 1} does not exist", "--reference")
    if cts is not None and len(cts) != len(points):
        raise InputError(f"{len(cts)} CTs for {len(points)} SPECT time points: give one CT per time point", "--ct")
    needed = kinetics.MINIMUM_POINTS.get(options.model, 1)
    if len(points) < needed:
        raise InputError(f"model {options.model} needs at least {needed} time points, got {len(points)}", "--model")
    if options.model == "hanscheid-stp" and len(points) != 1:
        raise InputError(f"hanscheid-stp takes one time point, got {len(points)}", "--model")


# ---- stage 1: the dose map -------------------------------------------------------------------
def dose_map(times_h: np.ndarray, activities_mbq: list[np.ndarray], grid: Grid, density: np.ndarray,
             options: DosimetryOptions) -> tuple[np.ndarray, dict, np.ndarray, dict]:
    """Voxel TIA map (voxel-wise fits) and absorbed dose map (LDM or VSV), with their provenance."""
    tia_map, voxel_summary = voxel_tia_mbqh(times_h, activities_mbq, options.voxel_model, options.clamp)
    if options.method == "ldm":
        dose = ldm_dose_gy(tia_map, density, grid.voxel_volume_ml)
        dose_provenance = {"method": "local deposition", "formula": "D = 0.08532 Gy g/(MBq h) x TIA / (rho V)"}
    else:
        dose, dose_provenance = vsv_dose_gy(Volume(tia_map, grid), density)
        dose_provenance["method"] = "voxel S-value convolution"
    if not np.all(np.isfinite(dose)):
        raise InputError("non-finite absorbed dose (non-finite activity or density)", "--spect", "voxel values")
    return tia_map, voxel_summary, dose, dose_provenance


# ---- stage 2: activity per VOI ---------------------------------------------------------------
def partial_volume_corrected_activities(segmentation: Segmentation, aligned: AlignedTimePoints,
                                        options: DosimetryOptions) -> tuple[list[dict] | None, dict | None]:
    """Per time point, each VOI's activity corrected by the geometric transfer matrix (when asked)."""
    if options.partial_volume_fwhm_mm is None:
        return None, None
    from .partial_volume import transfer_matrix

    gtm = transfer_matrix(segmentation, aligned.grid, options.partial_volume_fwhm_mm)
    return [gtm.corrected_activities_mbq(a) for a in aligned.arrays_bqml], gtm.to_dict()


def voi_activity(row: dict, segment: Segment, segmentation: Segmentation, grid: Grid, activities_mbq: list[np.ndarray],
                 corrected: list[dict] | None, options: DosimetryOptions) -> tuple[np.ndarray, np.ndarray, float] | None:
    """The VOI's activity (MBq) at each time point, its SPECT voxel weights and the recovery
    coefficient's relative uncertainty; None (with a warning in ``row``) when it cannot be measured."""
    volume_ml = row["volume_ml"]
    if segment.voxel_count == 0:
        row["warnings"].append("empty segment: nothing computed")
        return None
    weights = resample_mask(segment.mask, segmentation.grid, grid, "fraction")
    covered_ml = float(np.sum(weights, dtype=np.float64)) * grid.voxel_volume_ml
    coverage = covered_ml / volume_ml if volume_ml > 0 else 0.0
    row["spect_coverage_fraction"] = coverage
    if coverage < 0.5:
        row["warnings"].append(f"only {100 * coverage:.0f} % of the VOI lies in the SPECT field of view: "
                               "nothing computed")
        return None
    if coverage < FOV_COVERAGE_WARNING:
        row["warnings"].append(f"{100 * (1 - coverage):.1f} % of the VOI lies outside the SPECT field of view: its "
                               "activity is underestimated")
    activity = np.array([float(np.sum(weights * a, dtype=np.float64)) for a in activities_mbq])
    if corrected is not None:
        row["activity_uncorrected_mbq"] = [float(v) for v in activity]
        activity = np.array([c[segment.name] for c in corrected])
        row["partial_volume_correction"] = "geometric transfer matrix"
    recovery_relative = 0.0
    if options.recovery_table is not None:
        rc, recovery_relative, rc_warning = options.recovery_table.lookup(volume_ml)
        activity = activity / rc
        row["recovery_coefficient"] = rc
        if rc_warning:
            row["warnings"].append(rc_warning)
    return activity, weights, recovery_relative


# ---- stage 3: kinetics -----------------------------------------------------------------------
def _json_fit(fit: kinetics.FitResult) -> dict:
    return {"model": fit.model, "formula": fit.formula, "parameters": fit.parameters,
            "parameter_uncertainties": fit.parameter_uncertainties, "aicc": fit.aicc,
            "clamped_to_physical_decay": fit.clamped, "fit_uncertainty_source": fit.uncertainty_source,
            "model_selection": fit.selection}


def voi_kinetics(row: dict, name: str, times_h: np.ndarray, activity: np.ndarray, recovery_relative: float,
                 options: DosimetryOptions) -> tuple[kinetics.FitResult, float | None] | None:
    """Fit the VOI's time-activity curve: TIA, its uncertainty, residence time, local-deposition dose
    (into ``row``). Returns the fit and the TIA's relative standard uncertainty, or None (with a
    warning in ``row``) when the curve cannot be fitted."""
    if not np.all(np.isfinite(activity)):
        row["warnings"].append("non-finite activity: nothing computed")
        return None
    if not np.any(activity > 0):
        row["warnings"].append("zero activity at every time point (outside the uptake, or a wrong VOI?): TIA and "
                               "dose not computed")
        return None
    if np.any(activity < 0):
        row["warnings"].append("negative activity at some time point (background-subtracted or noisy data): "
                               "clipped to 0 for the fit")
        activity = np.maximum(activity, 0.0)
    u = None if options.activity_uncertainty_percent is None else activity * options.activity_uncertainty_percent / 100.0
    if u is not None and np.any(u <= 0):
        u = np.maximum(u, 1e-6 * activity.max())
    fit = kinetics.fit_tac(options.model, times_h, activity, u, options.clamp, name, None, options.trapezoid_start)
    tia_u, components = kinetics.combine_uncertainty(fit.tia_mbqh, fit.tia_fit_uncertainty_mbqh,
                                                     options.calibration_uncertainty_percent / 100.0, recovery_relative)
    relative_u = None if tia_u is None or fit.tia_mbqh == 0 else tia_u / fit.tia_mbqh
    mass_g = row["mass_g"]
    row.update(_json_fit(fit))
    row.update({
        "tia_mbqh": fit.tia_mbqh, "tia_uncertainty_mbqh": tia_u, "tia_uncertainty_components": components,
        "residence_time_h": fit.tia_mbqh / options.net_administered_mbq,
        "residence_time_uncertainty_h": None if tia_u is None else tia_u / options.net_administered_mbq,
        "mean_dose_gy_voi_ldm": LDM_GY_G_PER_MBQH * fit.tia_mbqh / mass_g if mass_g > 0 else None,
    })
    row["warnings"].extend(fit.warnings)
    return fit, relative_u


# ---- stage 4: VOI doses ----------------------------------------------------------------------
def voi_dose(row: dict, fit: kinetics.FitResult, relative_u: float | None, dose: np.ndarray, weights: np.ndarray,
             density: np.ndarray, options: DosimetryOptions, corrected_voi_dose: bool) -> tuple:
    """The VOI's mean dose over the dose map, its uncertainty, DVH metrics, sphere-model dose
    (lesions) and BED (kidneys), into ``row``; returns the VOI's cumulative DVH."""
    role = role_of(row["name"])
    mass_g = row["mass_g"]
    mean = mean_dose_gy(dose, weights, density)
    row["mean_dose_gy"] = mean
    row["dose_uncertainty_gy"] = None if relative_u is None else abs(mean) * relative_u
    row["mean_dose_gy_per_gbq"] = mean / (options.net_administered_mbq / 1000.0)
    row.update(dvh_metrics(dose, weights))
    if role.is_lesion and mass_g > 0:
        row["sphere_model_dose_gy"] = sphere_model.sphere_dose_gy(fit.tia_mbqh, mass_g)
        row["sphere_model_absorbed_fraction"] = sphere_model.absorbed_fraction(mass_g)
    if role.is_kidney:
        # With a partial-volume correction the VOI-level dose (corrected TIA) is the organ dose of record.
        organ_dose = row["mean_dose_gy_voi_ldm"] if corrected_voi_dose else mean
        row["bed_dose_gy"] = organ_dose
        row.update({k: v for k, v in radiobiology.kidney_bed(organ_dose, fit).items()})
    return cumulative_dvh(dose, weights)


def patient_phantom(points: list[SpectTimePoint], options: DosimetryOptions, warnings: list) -> str:
    """The OpenDose phantom (adult male or female) for the organ S-values."""
    if options.phantom_sex:
        return phantom_for(options.phantom_sex)
    for point in points:
        if point.patient_sex.upper() in ("M", "F"):
            return phantom_for(point.patient_sex)
    warnings.append("patient sex unknown (no PatientSex, no --phantom-sex): organ S-values of the adult male phantom")
    return phantom_for("male")


def organ_s_value_doses(vois: list[dict], phantom: str) -> None:
    """Organ S-value dose for liver, healthy liver, spleen and kidney VOIs (in place)."""
    by_organ = {v["organ"]: v for v in vois if v.get("organ") and v.get("tia_mbqh") is not None}
    sources = {}
    for organ_key, source_key in (("liver", "liver"), ("spleen", "spleen"), ("left_kidney", "left_kidney"),
                                  ("right_kidney", "right_kidney"), ("kidneys", "kidneys")):
        if organ_key in by_organ:
            sources[source_key] = by_organ[organ_key]["tia_mbqh"]
    if "liver" not in sources and "healthy_liver" in by_organ:
        sources["liver"] = by_organ["healthy_liver"]["tia_mbqh"]
    for organ, row in by_organ.items():
        target = S_VALUE_ORGANS.get(organ)
        if target is None or not row.get("mass_g"):
            continue
        own = dict(sources)
        own[target] = row["tia_mbqh"]
        if target == "kidneys":
            own.pop("left_kidney", None)
            own.pop("right_kidney", None)
        result = organ_dose_gy(phantom, target, row["mass_g"], own)
        row["organ_s_value_dose_gy"] = result["dose_gy"]
        row["organ_s_value"] = {k: v for k, v in result.items() if k != "dose_gy"}


# ---- stage 5: limits -------------------------------------------------------------------------
def organ_limits(vois: list[dict], options: DosimetryOptions, corrected_voi_dose: bool) -> tuple[dict, list[str]]:
    """Cumulative kidney and bone-marrow doses (with the previous cycles) against their limits.
    The kidney of record is the kidney VOI with the highest dose."""
    dose_key = "mean_dose_gy_voi_ldm" if corrected_voi_dose else "mean_dose_gy"
    kidney_rows = [v for v in vois if v.get("organ") in ("kidneys", "left_kidney", "right_kidney")
                   and v.get(dose_key) is not None]
    worst = max(kidney_rows, key=lambda v: v[dose_key]) if kidney_rows else None
    marrow = next((v for v in vois if v.get("organ") == "bone_marrow" and v.get(dose_key) is not None), None)
    limits, limit_warnings = compare_with_limits(
        worst[dose_key] if worst else None, worst.get("bed_gy") if worst else None,
        marrow[dose_key] if marrow else None, options.previous_cycles, options.kidney_risk_factors,
        worst.get("effective_half_life_h") if worst else None)
    limits["dose_quantity"] = (dose_key + (" (0.08532 x partial-volume-corrected TIA / mass)" if corrected_voi_dose
                                           else " (mean of the dose map over the VOI)"))
    if worst:
        limits["kidney_voi"] = worst["name"]
    return limits, limit_warnings


# ---- the cycle -------------------------------------------------------------------------------
def dosimetry_of_cycle(aligned: AlignedTimePoints, segmentation: Segmentation, options: DosimetryOptions,
                       warnings: list[str], inputs: dict | None = None) -> DosimetryResult:
    """The cycle's dosimetry from aligned time points (see the module docstring); ``warnings`` holds
    those of the earlier stages (reading, timing, registration) and receives this one's."""
    t = np.asarray(aligned.times_h, dtype=float)
    grid = aligned.grid
    activities = [activity_mbq_per_voxel(a, grid.voxel_volume_ml) for a in aligned.arrays_bqml]
    density, density_source = density_on_grid(aligned.reference_ct, grid, options.ct_calibration)
    masses, mass_source = voi_masses(segmentation, aligned.reference_ct, options.ct_calibration)

    tia_map, voxel_summary, dose, dose_provenance = dose_map(t, activities, grid, density, options)

    phantom = patient_phantom(aligned.points, options, warnings)
    corrected_voi_dose = options.partial_volume_fwhm_mm is not None or options.recovery_table is not None
    corrected, partial_volume_provenance = partial_volume_corrected_activities(segmentation, aligned, options)
    vois, fits, tacs, dvhs = [], {}, {}, {}
    overlapping = 0
    for segment in segmentation.segments:
        role = role_of(segment.name)
        volume_ml, mass_g = masses[segment.name]
        row = {"name": segment.name, "role": role.role, "organ": role.organ or None, "warnings": [],
               "volume_ml": volume_ml, "mass_g": mass_g}
        vois.append(row)
        measured = voi_activity(row, segment, segmentation, grid, activities, corrected, options)
        if row.get("spect_coverage_fraction", 0.0) > 0:
            overlapping += 1
        if measured is None:
            continue
        activity, weights, recovery_relative = measured
        row["tac"] = [{"time_h": float(ti), "activity_mbq": float(ai)} for ti, ai in zip(t, activity)]
        tacs[segment.name] = (t.copy(), activity.copy())
        fitted = voi_kinetics(row, segment.name, t, activity, recovery_relative, options)
        if fitted is None:
            continue
        fits[segment.name], relative_u = fitted
        dvhs[segment.name] = voi_dose(row, fits[segment.name], relative_u, dose, weights, density, options,
                                      corrected_voi_dose)
    if segmentation.segments and overlapping == 0:
        raise InputError("the segmentation does not overlap the SPECT field of view (mismatched geometry: a "
                         "segmentation of another scan?)", segmentation.source or "--seg", "geometry")
    organ_s_value_doses(vois, phantom)

    limits, limit_warnings = organ_limits(vois, options, corrected_voi_dose)
    warnings.extend(limit_warnings)
    for row in vois:
        warnings.extend(f"{row['name']}: {w}" for w in row["warnings"])

    time_points = []
    for index, (point, record, reg) in enumerate(zip(aligned.points, aligned.time_records,
                                                     aligned.registration_records)):
        time_points.append({"index": index + 1, "source": point.source, **record, **point.provenance,
                            "registration": reg["registration"], "reference": index == options.reference_index})
    report = {
        "software": {"name": "IAHepaticPRRT", "version": __version__},
        "radionuclide": {"name": "Lu-177", "half_life_h": HALF_LIFE_H, "decay_constant_per_h": DECAY_CONSTANT_PER_H,
                         "source": "ICRP 107"},
        "administered_activity_mbq": options.administered_mbq,
        "residual_activity_mbq": options.residual_mbq,
        "net_administered_activity_mbq": options.net_administered_mbq,
        "administration_datetime": options.administration_datetime.isoformat() if options.administration_datetime else None,
        "method": options.method, "model": options.model,
        "time_points": time_points,
        "vois": vois,
        "limits": limits,
        "warnings": warnings,
        "provenance": {
            "inputs": inputs or {},
            "reference_time_point": options.reference_index + 1,
            "reference_grid": grid.to_dict(),
            "partial_voxel_policy": "VOI weights = fraction of each SPECT voxel covered (3x3x3 sub-samples); min/max "
                                    "over voxels covered >= 50 %",
            "density": density_source, "mass": mass_source,
            "voxel_tia": voxel_summary, "dose": dose_provenance,
            "kinetics": {"clamp_to_physical_decay": options.clamp, "trapezoid_start": options.trapezoid_start,
                         "activity_uncertainty_percent": options.activity_uncertainty_percent,
                         "calibration_uncertainty_percent": options.calibration_uncertainty_percent},
            "recovery_table": getattr(options.recovery_table, "source", None),
            "partial_volume_correction": partial_volume_provenance,
            "sphere_model": sphere_model.description() if any(v.get("sphere_model_dose_gy") for v in vois) else None,
            "organ_s_values": {"phantom": phantom, "source": "OpenDose (Chauvin et al., JNM 2020;61:1514)",
                               "scaling": "self-dose x phantom mass / patient mass; cross-dose between liver, spleen "
                                          "and kidneys unscaled; remainder of body not included"},
            "ldm_constant_gy_g_per_mbqh": LDM_GY_G_PER_MBQH,
        },
    }
    dose_volume = Volume(np.asarray(dose, dtype=np.float32), grid, "Gy", {"quantity": "absorbed dose"})
    return DosimetryResult(report, dose_volume, Volume(tia_map.astype(np.float32), grid, "MBq h"),
                           Volume(density, grid, "g/mL"), dvhs, fits, tacs)


# ---- files -----------------------------------------------------------------------------------
def write_outputs(result: DosimetryResult, out_dir: str | os.PathLike) -> dict:
    """dosimetry.json, dose.nrrd (Gy, reference geometry) and dvh.csv, each written atomically."""
    from ..io.output_files import write_csv, write_json
    from ..io.volume_files import write_volume

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"dosimetry_json": out / "dosimetry.json", "dose_nrrd": out / "dose.nrrd", "dvh_csv": out / "dvh.csv"}
    write_volume(result.dose, paths["dose_nrrd"])
    write_csv(paths["dvh_csv"], result.dvh_rows(), ["voi", "dose_gy", "volume_fraction"])
    write_json(paths["dosimetry_json"], result.report)
    return {k: str(v) for k, v in paths.items()}
