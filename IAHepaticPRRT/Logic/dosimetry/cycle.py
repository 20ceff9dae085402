"""177Lu SPECT/CT dosimetry of one cycle, from time points already read, timed and aligned on the
reference SPECT grid: VOI activities -> kinetics, TIA, residence time -> hybrid VOI-voxel TIA map ->
absorbed dose map (LDM or VSV) inside the body -> per-VOI absorbed dose, DVH, sphere model (lesions),
organ S-values (liver, spleen, kidneys), kidney BED -> limits.

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
- One dose per VOI: ``absorbed_dose_gy`` is the energy the dose map deposits in the VOI over the VOI's
  mass (the mass-weighted mean of the map, with the VOI's own mass), and the dose map is built from the
  VOIs' own kinetics (:mod:`iahepaticprrt.dosimetry.tia_map`): the map's TIA over each VOI is that VOI's
  fitted (partial-volume-corrected) TIA. ``absorbed_dose_method`` says how
  in one sentence; ``absorbed_dose_uncertainty_gy`` applies the VOI TIA's relative standard
  uncertainty (fit, calibration, recovery) to it. Secondary figures keep their own names:
  ``ldm_voi_dose_gy`` (0.08532 x TIA / mass), ``sphere_model_dose_gy``, ``organ_s_value_dose_gy`` and,
  with a partial-volume correction, ``tia_uncorrected_mbqh`` and ``ldm_voi_dose_uncorrected_gy``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ComputationError, InputError
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
from .body_mask import body_mask
from .ct_density import AIR_DENSITY_G_PER_ML, RED_MARROW_DENSITY_G_PER_ML
from .masses import density_on_grid, voi_masses
from .options import DosimetryOptions
from .organ_s_values import organ_dose_gy, phantom_for
from .tia_map import HybridMap, SparseWeights, hybrid_tia_map
from .voxel import activity_mbq_per_voxel, ldm_dose_gy, voxel_tia_mbqh, vsv_dose_gy

#: A VOI less covered than this by the SPECT field of view gets a warning; below half it is not computed.
FOV_COVERAGE_WARNING = 0.98
#: Lowest density (g/mL) the dose map divides by inside the body: inflated lung, ICRU Report 46. A voxel
#: the CT reads lighter holds gas (trachea, bowel) or air at the skin, and no activity of its own.
LOWEST_TISSUE_DENSITY_G_PER_ML = 0.26
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
    segmentation: Segmentation | None = None        # the VOIs, on the reference SPECT's (the dose map's) grid
    reference_ct: Volume | None = None              # the reference time point's CT, when given (report images)

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
        row["partial_volume_correction"] = f"geometric transfer matrix, {options.partial_volume_fwhm_mm:g} mm FWHM"
    recovery_relative = 0.0
    if options.recovery_table is not None:
        rc, recovery_relative, rc_warning = options.recovery_table.lookup(volume_ml)
        row["activity_uncorrected_mbq"] = [float(v) for v in activity]
        activity = activity / rc
        row["recovery_coefficient"] = rc
        row["partial_volume_correction"] = f"recovery coefficient {rc:.3g}"
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
        "ldm_voi_dose_gy": LDM_GY_G_PER_MBQH * fit.tia_mbqh / mass_g if mass_g > 0 else None,
    })
    row["warnings"].extend(fit.warnings)
    if "activity_uncorrected_mbq" in row:
        _uncorrected_figures(row, name, times_h, options, fit)
    return fit, relative_u


def _uncorrected_figures(row: dict, name: str, times_h: np.ndarray, options: DosimetryOptions,
                         fit: kinetics.FitResult) -> None:
    """With a partial-volume correction: the same model fitted to the uncorrected curve, and its
    local-deposition dose, as secondary figures."""
    uncorrected = np.maximum(np.asarray(row["activity_uncorrected_mbq"], dtype=float), 0.0)
    if not np.any(uncorrected > 0):
        return
    u = None if options.activity_uncertainty_percent is None else \
        np.maximum(uncorrected * options.activity_uncertainty_percent / 100.0, 1e-6 * uncorrected.max())
    try:
        plain = kinetics.fit_tac(fit.model, times_h, uncorrected, u, options.clamp, name, None, options.trapezoid_start)
    except (InputError, ComputationError):
        return
    row["tia_uncorrected_mbqh"] = plain.tia_mbqh
    row["ldm_voi_dose_uncorrected_gy"] = (LDM_GY_G_PER_MBQH * plain.tia_mbqh / row["mass_g"]
                                          if row["mass_g"] > 0 else None)


def dose_density(ct_density: np.ndarray, body: np.ndarray | None, segmentation: Segmentation, grid: Grid,
                 reference_ct: Volume | None, options: DosimetryOptions) -> np.ndarray:
    """The density the dose map uses (docs/physics.md section 6.1).

    - Inside the body the CT's averaged to the dose grid, floored at inflated lung's, so that no
      activity is ever divided by the density of gas or air; outside the body air (no dose there).
    - Consistent with the VOI masses: the VOIs made disjoint (each voxel to the smallest VOI), each
      region's density is scaled, in the fraction of each voxel it covers, by its mean density on the
      segmentation grid (bone marrow: red marrow, ICRP 89) over its mean density on the dose grid. A
      thin VOI (vertebral cortex) otherwise loses mass to its neighbours in the averaging, and the
      dose map would disagree with the VOI's mass.
    """
    from .masses import is_marrow, segmentation_density
    from .tia_map import disjoint_labels

    averaged = np.asarray(ct_density, dtype=np.float64)
    inside = np.maximum(averaged, LOWEST_TISSUE_DENSITY_G_PER_ML)
    fine = segmentation_density(segmentation, reference_ct, options.ct_calibration)
    labels, order = disjoint_labels(segmentation, [s.name for s in segmentation.segments])
    factor = np.ones(grid.shape_kji, dtype=np.float64)
    for value, name in enumerate(order, start=1):
        region = labels == value
        if not region.any():
            continue
        w = resample_mask(region, segmentation.grid, grid, "fraction").astype(np.float64)
        covered = float(w.sum())
        if covered <= 0:
            continue
        target = RED_MARROW_DENSITY_G_PER_ML if is_marrow(name) else float(np.mean(fine[region], dtype=np.float64))
        current = float(np.sum(w * averaged) / covered)  # both means before the floor: air in a VOI counts alike
        if current > 0:
            factor += w * (target / current - 1.0)
    inside = (inside * factor).astype(np.float32)
    if body is None:
        return inside
    return np.where(body, inside, np.float32(AIR_DENSITY_G_PER_ML)).astype(np.float32)


# ---- stage 4: the TIA map and the dose map --------------------------------------------------
def tia_map(activities_mbq: list[np.ndarray], times_h: np.ndarray, fits: dict, weights: dict,
            segmentation: Segmentation, grid: Grid, body: np.ndarray | None, options: DosimetryOptions) -> tuple:
    """The hybrid VOI-voxel TIA map (:mod:`iahepaticprrt.dosimetry.tia_map`) and the voxel-wise fits'
    summary (voxels in no VOI keep their voxel-wise TIA)."""
    voxel_map, voxel_summary = voxel_tia_mbqh(times_h, activities_mbq, options.voxel_model, options.clamp)
    reference = options.reference_index
    hybrid = hybrid_tia_map(activities_mbq[reference], {name: fit.tia_mbqh for name, fit in fits.items()}, weights,
                            segmentation, grid, body, voxel_map,
                            f"time point {reference + 1} ({times_h[reference]:.1f} h)")
    return hybrid, voxel_summary


def dose_map(tia_mbqh: np.ndarray, grid: Grid, density: np.ndarray, body: np.ndarray | None,
             options: DosimetryOptions) -> tuple[np.ndarray, dict]:
    """Absorbed dose map (LDM or VSV) of a TIA map, zero outside the body, with its provenance."""
    if options.method == "ldm":
        dose = ldm_dose_gy(tia_mbqh, density, grid.voxel_volume_ml)
        provenance = {"method": "local deposition", "formula": "D = 0.08532 Gy g/(MBq h) x TIA / (rho V)"}
    else:
        dose, provenance = vsv_dose_gy(Volume(tia_mbqh, grid), density)
        provenance["method"] = "voxel S-value convolution"
    if body is not None:
        dose = np.where(body, dose, np.float32(0.0)).astype(np.float32)
    if not np.all(np.isfinite(dose)):
        raise InputError("non-finite absorbed dose (non-finite activity or density)", "--spect", "voxel values")
    return dose, provenance


def method_sentence(row: dict, options: DosimetryOptions) -> str:
    """``absorbed_dose_method``: how the VOI's absorbed dose was obtained, in one sentence."""
    correction = row.get("partial_volume_correction")
    curve = f"{row['model']} fit of the VOI's time-activity curve" + (f" ({correction})" if correction else "")
    kernel = ("local deposition (0.08532 Gy g/(MBq h) x TIA / mass per voxel)" if options.method == "ldm" else
              "voxel S-value convolution (energy-complete electron kernel, photons to 15 cm, density-corrected)")
    return (f"{curve}; that TIA spread over the VOI like the reference time point's activity; dose map by {kernel}; "
            "energy the map deposits in the VOI over the VOI's mass")


# ---- stage 5: VOI doses ----------------------------------------------------------------------
def voi_dose(row: dict, fit: kinetics.FitResult, relative_u: float | None, dose: np.ndarray, weights: SparseWeights,
             density: np.ndarray, dose_grid_voxel_ml: float, options: DosimetryOptions, hybrid: HybridMap) -> tuple:
    """The VOI's absorbed dose (the energy the dose map deposits in it over its mass), its uncertainty,
    method, DVH metrics, sphere-model dose (lesions) and BED (kidneys), into ``row``; returns the VOI's
    cumulative DVH."""
    role = role_of(row["name"])
    mass_g = row["mass_g"]
    voxel_dose = dose.ravel()[weights.index].astype(np.float64)
    # Energy the map deposits in the VOI (coverage x voxel mass x dose) over the VOI's mass from its own
    # segmentation grid: the mass-weighted mean of the map, without the coverage fractions' volume error.
    voxel_mass_g = (weights.value.astype(np.float64) * density.ravel()[weights.index].astype(np.float64)
                    * dose_grid_voxel_ml)
    energy_gy_g = float(np.sum(voxel_mass_g * voxel_dose))
    absorbed = energy_gy_g / mass_g if mass_g > 0 else math.nan
    row["absorbed_dose_gy"] = absorbed
    row["absorbed_dose_uncertainty_gy"] = None if relative_u is None else abs(absorbed) * relative_u
    row["absorbed_dose_method"] = method_sentence(row, options)
    row["absorbed_dose_gy_per_gbq"] = absorbed / (options.net_administered_mbq / 1000.0)
    row["map_tia_mbqh"] = hybrid.map_tia_mbqh.get(row["name"])
    row["warnings"].extend(hybrid.warnings.get(row["name"], []))
    row.update(dvh_metrics(voxel_dose, weights.value))
    if role.is_lesion and mass_g > 0:
        row["sphere_model_dose_gy"] = sphere_model.sphere_dose_gy(fit.tia_mbqh, mass_g)
        row["sphere_model_absorbed_fraction"] = sphere_model.absorbed_fraction(mass_g)
    if role.is_kidney:
        row.update({k: v for k, v in radiobiology.kidney_bed(absorbed, fit).items()})
    return cumulative_dvh(voxel_dose, weights.value)


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


# ---- stage 6: limits -------------------------------------------------------------------------
def organ_limits(vois: list[dict], options: DosimetryOptions) -> tuple[dict, list[str]]:
    """Cumulative kidney and bone-marrow absorbed doses (with the previous cycles) against their
    limits. The kidney of record is the kidney VOI with the highest absorbed dose."""
    dose_key = "absorbed_dose_gy"
    kidney_rows = [v for v in vois if v.get("organ") in ("kidneys", "left_kidney", "right_kidney")
                   and v.get(dose_key) is not None]
    worst = max(kidney_rows, key=lambda v: v[dose_key]) if kidney_rows else None
    marrow = next((v for v in vois if v.get("organ") == "bone_marrow" and v.get(dose_key) is not None), None)
    limits, limit_warnings = compare_with_limits(
        worst[dose_key] if worst else None, worst.get("bed_gy") if worst else None,
        marrow[dose_key] if marrow else None, options.previous_cycles, options.kidney_risk_factors,
        worst.get("effective_half_life_h") if worst else None)
    limits["dose_quantity"] = ("absorbed_dose_gy (each VOI's absorbed dose: the mass-weighted mean of the dose map, "
                               "which is built from the VOI's own kinetics)")
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
    for point, array in zip(aligned.points, aligned.arrays_bqml):
        if not np.all(np.isfinite(array)):
            raise InputError("non-finite activity concentration in the time point", point.source, "voxel values")
    activities = [activity_mbq_per_voxel(a, grid.voxel_volume_ml) for a in aligned.arrays_bqml]
    ct_density_map, density_source = density_on_grid(aligned.reference_ct, grid, options.ct_calibration)
    masses, mass_source = voi_masses(segmentation, aligned.reference_ct, options.ct_calibration)
    body, body_source = body_mask(aligned.reference_ct, grid, ct_density_map, options.ct_calibration, segmentation)
    density = dose_density(ct_density_map, body, segmentation, grid, aligned.reference_ct, options)
    if body is None:
        warnings.append("no body contour (no CT and no Body segment): activity outside the patient (noise, "
                        "scatter) gets a dose; segment 'Body' to exclude it")

    phantom = patient_phantom(aligned.points, options, warnings)
    corrected, partial_volume_provenance = partial_volume_corrected_activities(segmentation, aligned, options)
    vois, fits, tacs, dvhs, weights, uncertainties = [], {}, {}, {}, {}, {}
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
        activity, dense_weights, recovery_relative = measured
        row["tac"] = [{"time_h": float(ti), "activity_mbq": float(ai)} for ti, ai in zip(t, activity)]
        tacs[segment.name] = (t.copy(), activity.copy())
        fitted = voi_kinetics(row, segment.name, t, activity, recovery_relative, options)
        if fitted is None:
            continue
        fits[segment.name], uncertainties[segment.name] = fitted
        weights[segment.name] = SparseWeights.from_dense(dense_weights)
    if segmentation.segments and overlapping == 0:
        raise InputError("the segmentation does not overlap the SPECT field of view (mismatched geometry: a "
                         "segmentation of another scan?)", segmentation.source or "--seg", "geometry")

    hybrid, voxel_summary = tia_map(activities, t, fits, weights, segmentation, grid, body, options)
    dose, dose_provenance = dose_map(hybrid.tia_mbqh, grid, density, body, options)
    for row in vois:
        name = row["name"]
        if name in fits:
            dvhs[name] = voi_dose(row, fits[name], uncertainties[name], dose, weights[name], density,
                                  grid.voxel_volume_ml, options, hybrid)
    organ_s_value_doses(vois, phantom)

    limits, limit_warnings = organ_limits(vois, options)
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
            "body": body_source,
            "dose_density": f"the density above inside the body, floored at {LOWEST_TISSUE_DENSITY_G_PER_ML} g/mL "
                            "(inflated lung, ICRU 46: lighter voxels hold gas or air at the skin); in each VOI "
                            "(made disjoint, smallest first) scaled to the VOI's mean density on its own grid, as "
                            f"its mass (bone marrow {RED_MARROW_DENSITY_G_PER_ML} g/mL, ICRP 89); air "
                            f"({AIR_DENSITY_G_PER_ML} g/mL) outside the body, where the dose is 0",
            "tia_map": hybrid.summary, "voxel_tia": voxel_summary, "dose": dose_provenance,
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
    return DosimetryResult(report, dose_volume, Volume(hybrid.tia_mbqh.astype(np.float32), grid, "MBq h"),
                           Volume(density, grid, "g/mL"), dvhs, fits, tacs, segmentation, aligned.reference_ct)


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
