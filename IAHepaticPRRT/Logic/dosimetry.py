"""177Lu SPECT/CT dosimetry of one cycle: time points -> registration -> VOI time-activity curves,
kinetics, TIA, residence time -> voxel TIA map -> absorbed dose (LDM or VSV) -> per-VOI dose, DVH,
sphere model (lesions), organ S-values (liver, spleen, kidneys), kidney BED, limits.

Conventions (see also docs/dosimetry.md):

- Reference geometry: the SPECT grid of the reference time point (the first, unless chosen); every
  other time point is registered to it (rigid, on the CTs, else on the SPECTs) and resampled onto
  it (activity concentration, linear interpolation). VOIs are defined on the reference.
- Partial-voxel policy (project-wide): a VOI drawn on another grid than the SPECT weights each
  SPECT voxel by the fraction it covers (``resample_mask(..., "fraction")``); totals and means use
  these weights; min/max use voxels covered >= 50 %.
- Times: each time point's acquisition start (AcquisitionDate/Time) minus the administration time,
  in hours; or the times given by the user (volume files need them).
- Masses: from the reference CT (HU -> density, :mod:`ct_density`) on the segmentation's grid;
  without a CT every voxel is water-equivalent, 1.0 g/mL.
- ``mean_dose_gy`` is the mass-weighted mean of the dose map over the VOI (the method chosen);
  ``mean_dose_gy_voi_ldm`` is 0.08532 x TIA / mass with the VOI's fitted TIA. The dose uncertainty
  applies the VOI TIA's relative standard uncertainty (fit, calibration, recovery) to the mean dose.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import ct_density, kinetics
from .errors import ComputationError, InputError
from .grid import Grid
from .lu177 import DECAY_CONSTANT_PER_H, HALF_LIFE_H, LDM_GY_G_PER_MBQH, decay_factor
from .segmentation import Segmentation, resample_mask
from .spect_dicom import SpectTimePoint
from .version import __version__
from .voi_roles import role_of
from .volume import Volume

METHODS = ("ldm", "vsv")
#: A VOI less covered than this by the SPECT field of view gets a warning; below half it is not computed.
FOV_COVERAGE_WARNING = 0.98
S_VALUE_ORGANS = {"liver": "liver", "healthy_liver": "liver", "spleen": "spleen", "left_kidney": "left_kidney",
                  "right_kidney": "right_kidney", "kidneys": "kidneys"}


@dataclass
class DosimetryOptions:
    """Everything a user chooses for one cycle (units in the names)."""

    administered_mbq: float
    administration_datetime: dt.datetime | None = None
    residual_mbq: float = 0.0
    times_h: list | None = None
    calibration_cps_per_mbq: float | None = None
    calibration_uncertainty_percent: float = 0.0
    acquisition_duration_s: list | None = None
    method: str = "ldm"
    model: str = "auto"
    voxel_model: str = "mono-exp"
    clamp: bool = True
    trapezoid_start: str = "zero"
    registration: bool = True
    reference_index: int = 0
    activity_uncertainty_percent: float | None = None
    recovery_table: object = None
    partial_volume_fwhm_mm: float | None = None
    ct_calibration: ct_density.DensityCalibration = ct_density.DEFAULT_CALIBRATION
    previous_cycles: list | None = None
    kidney_risk_factors: bool = False
    phantom_sex: str | None = None

    def validate(self) -> None:
        if not (math.isfinite(self.administered_mbq) and self.administered_mbq > 0):
            raise InputError(f"administered activity must be positive, got {self.administered_mbq}", "--administered-mbq")
        if not (math.isfinite(self.residual_mbq) and 0 <= self.residual_mbq < self.administered_mbq):
            raise InputError(f"residual activity must be >= 0 and below the administered activity, got "
                             f"{self.residual_mbq}", "--residual-mbq")
        if self.method not in METHODS:
            raise InputError(f"unknown method '{self.method}' (ldm or vsv)", "--method")
        if self.model not in kinetics.MODEL_CHOICES:
            raise InputError(f"unknown model '{self.model}' ({', '.join(kinetics.MODEL_CHOICES)})", "--model")
        if not (math.isfinite(self.calibration_uncertainty_percent) and self.calibration_uncertainty_percent >= 0):
            raise InputError("calibration uncertainty must be >= 0 %", "--calibration-uncertainty-percent")
        if self.activity_uncertainty_percent is not None and not self.activity_uncertainty_percent > 0:
            raise InputError("activity uncertainty must be > 0 %", "--activity-uncertainty-percent")
        if self.partial_volume_fwhm_mm is not None:
            if not (math.isfinite(self.partial_volume_fwhm_mm) and self.partial_volume_fwhm_mm > 0):
                raise InputError("the SPECT resolution (FWHM) must be positive", "--pvc-fwhm-mm")
            if self.recovery_table is not None:
                raise InputError("choose one partial-volume correction: recovery coefficients (--recovery) or the "
                                 "geometric transfer matrix (--pvc-fwhm-mm), not both", "--recovery")

    @property
    def net_administered_mbq(self) -> float:
        return self.administered_mbq - self.residual_mbq


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


# ---- inputs ----------------------------------------------------------------------------------
def load_time_points(sources, options: DosimetryOptions) -> list[SpectTimePoint]:
    """Read each SPECT time point (DICOM or volume file) into Bq/mL."""
    from .spect_dicom import read_time_point

    durations = options.acquisition_duration_s
    if durations is not None and len(durations) not in (1, len(sources)):
        raise InputError(f"{len(durations)} acquisition durations for {len(sources)} time points",
                         "--acquisition-duration-s")
    points = []
    for index, source in enumerate(sources):
        duration = None if durations is None else (durations[0] if len(durations) == 1 else durations[index])
        points.append(read_time_point(source, options.calibration_cps_per_mbq, duration))
    return points


def resolve_times(points: list[SpectTimePoint], options: DosimetryOptions) -> tuple[list[float], list[dict], list[str]]:
    """Hours since administration of each time point, how each was found, and warnings.

    Also undoes a decay correction to the administration time (DecayCorrection ADMIN)."""
    warnings = []
    records = []
    administration = options.administration_datetime
    if options.times_h is not None:
        if len(options.times_h) != len(points):
            raise InputError(f"{len(options.times_h)} times for {len(points)} time points", "--times-h")
        times = [float(t) for t in options.times_h]
        for point, t in zip(points, times):
            records.append({"time_h": t, "timing_source": "given by the user (--times-h)"})
            if administration is not None and point.acquisition_datetime is not None:
                header_h = (point.acquisition_datetime - administration).total_seconds() / 3600.0
                if abs(header_h - t) > 0.1:
                    warnings.append(f"{point.source}: time given {t:g} h differs from the header's acquisition start "
                                    f"({header_h:.2f} h after administration)")
    else:
        if administration is None:
            header_times = [p.header_administration_datetime for p in points if p.header_administration_datetime]
            if not header_times:
                raise InputError("no administration time: give --administration-time (or --times-h)",
                                 "--administration-time")
            administration = header_times[0]
            warnings.append(f"administration time taken from RadiopharmaceuticalStartDateTime (0018,1078): "
                            f"{administration.isoformat()}; state it with --administration-time")
        times = []
        for point in points:
            if point.acquisition_datetime is None:
                if point.provenance.get("input") == "volume file":
                    raise InputError("a volume file has no acquisition time: give --times-h", point.source, "--times-h")
                raise InputError("no acquisition start time", point.source,
                                 "AcquisitionDate/AcquisitionTime (0008,0022)/(0008,0032)")
            t = (point.acquisition_datetime - administration).total_seconds() / 3600.0
            times.append(t)
            records.append({"time_h": t, "timing_source": "AcquisitionDate/Time minus administration time",
                            "acquisition_datetime": point.acquisition_datetime.isoformat()})
    for point, t in zip(points, times):
        if not math.isfinite(t):
            raise InputError("non-finite time", point.source, "time_h")
        if t < 0:
            raise InputError(f"time point at {t:.2f} h lies before the administration", point.source, "time_h")
    if any(b <= a for a, b in zip(times, times[1:])):
        raise InputError(f"time points out of order or repeated ({', '.join(f'{t:.2f}' for t in times)} h): give them "
                         "in acquisition order", "--spect", "time_h")
    for point, t in zip(points, times):
        if point.decay_corrected_to == "ADMIN":
            point.volume = Volume((point.volume.array * np.float32(decay_factor(t))).astype(np.float32),
                                  point.volume.grid, point.volume.unit, point.volume.metadata)
            warnings.append(f"{point.source}: values were decay-corrected to the administration; decay to the "
                            f"acquisition ({t:.2f} h) restored")
    return times, records, warnings


# ---- geometry --------------------------------------------------------------------------------
def density_on_grid(ct: Volume | None, grid: Grid, calibration) -> tuple[np.ndarray, str]:
    """Voxel density (g/mL) on ``grid``: the CT's density averaged to the grid's voxel size
    (Gaussian pre-smoothing with the variance of the size difference, then linear sampling); 1.0
    everywhere without a CT."""
    if ct is None:
        return (np.full(grid.shape_kji, ct_density.WATER_EQUIVALENT_DENSITY_G_PER_ML, dtype=np.float32),
                "no CT: water-equivalent 1.0 g/mL")
    import SimpleITK as sitk

    from .resample import resample_volume

    density = ct_density.density_from_hu(ct.array, calibration)
    image = ct.grid.to_sitk(density)
    variance = [max((g * g - c * c) / 12.0, 0.0) for g, c in zip(grid.spacing_mm, ct.grid.spacing_mm)]
    if max(variance) > 0:
        image = sitk.SmoothingRecursiveGaussian(image, [math.sqrt(v) if v > 0 else 1e-3 for v in variance])
    smoothed = Volume(sitk.GetArrayFromImage(image).astype(np.float32), ct.grid)
    out = resample_volume(smoothed, grid, interpolation="linear",
                          default_value=ct_density.WATER_EQUIVALENT_DENSITY_G_PER_ML).array
    return np.clip(out, ct_density.AIR_DENSITY_G_PER_ML, ct_density.MAX_DENSITY_G_PER_ML).astype(np.float32), \
        f"reference CT, {calibration.description}"


def voi_masses(segmentation: Segmentation, ct: Volume | None, calibration) -> tuple[dict, str]:
    """name -> (volume_ml, mass_g) on the segmentation's own grid.

    Bone-marrow VOIs take the red marrow density (ICRP 89) whatever the CT says: their CT number
    is mostly the trabecular bone's, not the marrow's."""
    from .resample import resample_volume

    voxel_ml = segmentation.grid.voxel_volume_ml
    marrow = {s.name for s in segmentation.segments if role_of(s.name).organ == "bone_marrow"}
    marrow_note = (f"; bone marrow {ct_density.RED_MARROW_DENSITY_G_PER_ML} g/mL (red marrow, ICRP 89)"
                   if marrow else "")
    if ct is None:
        return ({s.name: (s.voxel_count * voxel_ml, s.voxel_count * voxel_ml * (
            ct_density.RED_MARROW_DENSITY_G_PER_ML if s.name in marrow else ct_density.WATER_EQUIVALENT_DENSITY_G_PER_ML))
                 for s in segmentation.segments}, "no CT: water-equivalent 1.0 g/mL" + marrow_note)
    hu = ct.array if ct.grid.is_same(segmentation.grid) else resample_volume(
        ct, segmentation.grid, interpolation="linear", default_value=0.0).array
    density = ct_density.density_from_hu(hu, calibration)
    masses = {}
    for s in segmentation.segments:
        volume_ml = s.voxel_count * voxel_ml
        masses[s.name] = (volume_ml, volume_ml * ct_density.RED_MARROW_DENSITY_G_PER_ML if s.name in marrow
                          else float(np.sum(density[s.mask], dtype=np.float64)) * voxel_ml)
    return masses, f"reference CT on the segmentation grid, {calibration.description}" + marrow_note


def register_to_reference(points: list[SpectTimePoint], cts: list | None, reference_index: int,
                          registration: bool) -> tuple[list[np.ndarray], list[dict], list[str]]:
    """Each time point's Bq/mL on the reference SPECT grid, the transforms used, warnings."""
    from .registration import register_rigid
    from .resample import resample_volume

    reference = points[reference_index]
    grid = reference.volume.grid
    arrays, records, warnings = [], [], []
    for index, point in enumerate(points):
        record = {"index": index}
        if index == reference_index:
            arrays.append(point.volume.array.astype(np.float32))
            record["registration"] = "reference"
            records.append(record)
            continue
        transform = None
        if registration:
            if cts is not None:
                fixed, moving, on = cts[reference_index], cts[index], "CT"
            else:
                fixed, moving, on = reference.volume, point.volume, "SPECT"
            try:
                result = register_rigid(fixed, moving)
            except ComputationError as exc:
                raise ComputationError(f"time point {index + 1} ({point.source}): {on} registration to the reference "
                                       f"failed: {exc}; check the images, or give --no-registration when the time "
                                       "points are already aligned") from exc
            transform = result.transform
            record["registration"] = {"on": on, **result.to_dict(),
                                      "transform_type": transform.GetName(),
                                      "parameters": list(transform.GetParameters()),
                                      "fixed_parameters": list(transform.GetFixedParameters()),
                                      "convention": "maps reference-space points (LPS mm) to this time point's space "
                                                    "(ITK; parameters as SimpleITK gives them)"}
        else:
            record["registration"] = "none (--no-registration): resampled in scanner coordinates"
        moved = resample_volume(point.volume, grid, transform, interpolation="linear", default_value=0.0)
        arrays.append(moved.array.astype(np.float32))
        inside = _fov_fraction(point.volume.grid, grid, transform)
        if inside < 0.9:
            warnings.append(f"{point.source}: only {100 * inside:.0f} % of the reference field of view lies inside this "
                            "time point's SPECT; voxels outside read 0 Bq/mL")
        records.append(record)
    return arrays, records, warnings


def _fov_fraction(source: Grid, target: Grid, transform) -> float:
    """Fraction of ``target``'s voxel centres (sampled) that fall inside ``source`` after ``transform``."""
    k, j, i = (np.linspace(0, n - 1, min(n, 12)) for n in target.shape_kji)
    points = np.stack(np.meshgrid(i, j, k, indexing="ij"), axis=-1).reshape(-1, 3)
    lps = target.index_to_lps(points)
    if transform is not None:
        lps = np.array([transform.TransformPoint(tuple(p)) for p in lps])
    index = source.lps_to_index(lps)
    size = np.array(source.size_ijk)
    inside = np.all((index >= -0.5) & (index <= size - 0.5), axis=1)
    return float(inside.mean())


# ---- the computation -------------------------------------------------------------------------
def _json_fit(fit: kinetics.FitResult) -> dict:
    return {"model": fit.model, "formula": fit.formula, "parameters": fit.parameters,
            "parameter_uncertainties": fit.parameter_uncertainties, "aicc": fit.aicc,
            "clamped_to_physical_decay": fit.clamped, "fit_uncertainty_source": fit.uncertainty_source,
            "model_selection": fit.selection}


def _patient_sex(points, options, warnings) -> str:
    from .organ_s_values import phantom_for

    if options.phantom_sex:
        return phantom_for(options.phantom_sex)
    for point in points:
        if point.patient_sex.upper() in ("M", "F"):
            return phantom_for(point.patient_sex)
    warnings.append("patient sex unknown (no PatientSex, no --phantom-sex): organ S-values of the adult male phantom")
    return phantom_for("male")


def compute_dosimetry(points: list[SpectTimePoint], segmentation: Segmentation, options: DosimetryOptions,
                      cts: list | None = None, times_h: list | None = None, inputs: dict | None = None) -> DosimetryResult:
    """The whole cycle's dosimetry from time points already read (see module docstring)."""
    from . import radiobiology, sphere_model
    from .dose_limits import compare_with_limits
    from .dvh import cumulative_dvh, dvh_metrics
    from .voxel_dosimetry import (activity_mbq_per_voxel, ldm_dose_gy, mean_dose_gy, voxel_tia_mbqh,
                                  vsv_dose_gy)

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
    warnings: list[str] = []
    for point in points:
        warnings.extend(point.warnings)
    times_h, time_records, time_warnings = resolve_times(points, replace_times(options, times_h))
    warnings.extend(time_warnings)
    t = np.asarray(times_h, dtype=float)

    # Registration onto the reference SPECT grid.
    arrays, registration_records, registration_warnings = register_to_reference(
        points, cts, options.reference_index, options.registration)
    warnings.extend(registration_warnings)
    grid = points[options.reference_index].volume.grid
    voxel_ml = grid.voxel_volume_ml
    activities = [activity_mbq_per_voxel(a, voxel_ml) for a in arrays]

    reference_ct = cts[options.reference_index] if cts is not None else None
    density, density_source = density_on_grid(reference_ct, grid, options.ct_calibration)
    masses, mass_source = voi_masses(segmentation, reference_ct, options.ct_calibration)

    # Voxel TIA map and dose map.
    tia_map, voxel_summary = voxel_tia_mbqh(t, activities, options.voxel_model, options.clamp)
    if options.method == "ldm":
        dose = ldm_dose_gy(tia_map, density, voxel_ml)
        dose_provenance = {"method": "local deposition", "formula": "D = 0.08532 Gy g/(MBq h) x TIA / (rho V)"}
    else:
        dose, dose_provenance = vsv_dose_gy(Volume(tia_map, grid), density)
        dose_provenance["method"] = "voxel S-value convolution"
    if not np.all(np.isfinite(dose)):
        raise InputError("non-finite absorbed dose (non-finite activity or density)", "--spect", "voxel values")

    phantom = _patient_sex(points, options, warnings)
    corrected_voi_dose = options.partial_volume_fwhm_mm is not None or options.recovery_table is not None
    dose_key = "mean_dose_gy_voi_ldm" if corrected_voi_dose else "mean_dose_gy"
    corrected = None
    if options.partial_volume_fwhm_mm is not None:
        from .partial_volume import transfer_matrix

        gtm = transfer_matrix(segmentation, grid, options.partial_volume_fwhm_mm)
        corrected = [gtm.corrected_activities_mbq(a) for a in arrays]
        partial_volume_provenance = gtm.to_dict()
    else:
        partial_volume_provenance = None
    calibration_relative = options.calibration_uncertainty_percent / 100.0
    vois, fits, tacs, dvhs = [], {}, {}, {}
    overlapping = 0
    for segment in segmentation.segments:
        role = role_of(segment.name)
        row = {"name": segment.name, "role": role.role, "organ": role.organ or None, "warnings": []}
        volume_ml, mass_g = masses[segment.name]
        row.update({"volume_ml": volume_ml, "mass_g": mass_g})
        vois.append(row)
        if segment.voxel_count == 0:
            row["warnings"].append("empty segment: nothing computed")
            continue
        weights = resample_mask(segment.mask, segmentation.grid, grid, "fraction")
        covered_ml = float(np.sum(weights, dtype=np.float64)) * voxel_ml
        coverage = covered_ml / volume_ml if volume_ml > 0 else 0.0
        row["spect_coverage_fraction"] = coverage
        if coverage > 0:
            overlapping += 1
        if coverage < 0.5:
            row["warnings"].append(f"only {100 * coverage:.0f} % of the VOI lies in the SPECT field of view: "
                                   "nothing computed")
            continue
        if coverage < FOV_COVERAGE_WARNING:
            row["warnings"].append(f"{100 * (1 - coverage):.1f} % of the VOI lies outside the SPECT field of view: its "
                                   "activity is underestimated")
        activity = np.array([float(np.sum(weights * a, dtype=np.float64)) for a in activities])
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
        row["tac"] = [{"time_h": float(ti), "activity_mbq": float(ai)} for ti, ai in zip(t, activity)]
        tacs[segment.name] = (t.copy(), activity.copy())
        if not np.all(np.isfinite(activity)):
            row["warnings"].append("non-finite activity: nothing computed")
            continue
        if not np.any(activity > 0):
            row["warnings"].append("zero activity at every time point (outside the uptake, or a wrong VOI?): TIA and "
                                   "dose not computed")
            continue
        if np.any(activity < 0):
            row["warnings"].append("negative activity at some time point (background-subtracted or noisy data): "
                                   "clipped to 0 for the fit")
            activity = np.maximum(activity, 0.0)
        u = None if options.activity_uncertainty_percent is None else activity * options.activity_uncertainty_percent / 100.0
        if u is not None and np.any(u <= 0):
            u = np.maximum(u, 1e-6 * activity.max())
        fit = kinetics.fit_tac(options.model, t, activity, u, options.clamp, segment.name, None, options.trapezoid_start)
        fits[segment.name] = fit
        tia_u, components = kinetics.combine_uncertainty(fit.tia_mbqh, fit.tia_fit_uncertainty_mbqh,
                                                         calibration_relative, recovery_relative)
        relative_u = None if tia_u is None or fit.tia_mbqh == 0 else tia_u / fit.tia_mbqh
        row.update(_json_fit(fit))
        row.update({
            "tia_mbqh": fit.tia_mbqh, "tia_uncertainty_mbqh": tia_u, "tia_uncertainty_components": components,
            "residence_time_h": fit.tia_mbqh / options.net_administered_mbq,
            "residence_time_uncertainty_h": None if tia_u is None else tia_u / options.net_administered_mbq,
            "mean_dose_gy_voi_ldm": LDM_GY_G_PER_MBQH * fit.tia_mbqh / mass_g if mass_g > 0 else None,
        })
        row["warnings"].extend(fit.warnings)
        mean = mean_dose_gy(dose, weights, density)
        row["mean_dose_gy"] = mean
        row["dose_uncertainty_gy"] = None if relative_u is None else abs(mean) * relative_u
        row["mean_dose_gy_per_gbq"] = mean / (options.net_administered_mbq / 1000.0)
        row.update(dvh_metrics(dose, weights))
        dvhs[segment.name] = cumulative_dvh(dose, weights)
        if role.is_lesion and mass_g > 0:
            row["sphere_model_dose_gy"] = sphere_model.sphere_dose_gy(fit.tia_mbqh, mass_g)
            row["sphere_model_absorbed_fraction"] = sphere_model.absorbed_fraction(mass_g)
        if role.is_kidney:
            # With a partial-volume correction the VOI-level dose (corrected TIA) is the organ dose of record.
            organ_dose = row["mean_dose_gy_voi_ldm"] if corrected_voi_dose else mean
            row["bed_dose_gy"] = organ_dose
            row.update({k: v for k, v in radiobiology.kidney_bed(organ_dose, fit).items()})
    if segmentation.segments and overlapping == 0:
        raise InputError("the segmentation does not overlap the SPECT field of view (mismatched geometry: a "
                         "segmentation of another scan?)", segmentation.source or "--seg", "geometry")
    _organ_s_value_doses(vois, phantom, warnings)

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
    warnings.extend(limit_warnings)
    for row in vois:
        warnings.extend(f"{row['name']}: {w}" for w in row["warnings"])

    time_points = []
    for index, (point, record, reg) in enumerate(zip(points, time_records, registration_records)):
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


def replace_times(options: DosimetryOptions, times_h):
    from dataclasses import replace

    return options if times_h is None else replace(options, times_h=list(times_h))


def _organ_s_value_doses(vois: list[dict], phantom: str, warnings: list) -> None:
    """Organ S-value dose for liver, healthy liver, spleen and kidney VOIs (in place)."""
    from .organ_s_values import organ_dose_gy

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


# ---- files -----------------------------------------------------------------------------------
def run_dosimetry(spect_sources: list, segmentation_path, options: DosimetryOptions, labels_csv=None,
                  ct_sources: list | None = None) -> DosimetryResult:
    """Read the inputs (files; the segmentation may also be a :class:`Segmentation`) and compute
    (nothing written)."""
    from .dicom_series import read_series
    from .segmentation import read_segmentation

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


def write_outputs(result: DosimetryResult, out_dir: str | os.PathLike) -> dict:
    """dosimetry.json, dose.nrrd (Gy, reference geometry) and dvh.csv, each written atomically."""
    from .output_files import write_csv, write_json
    from .volume_files import write_volume

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"dosimetry_json": out / "dosimetry.json", "dose_nrrd": out / "dose.nrrd", "dvh_csv": out / "dvh.csv"}
    write_volume(result.dose, paths["dose_nrrd"])
    write_csv(paths["dvh_csv"], result.dvh_rows(), ["voi", "dose_gy", "volume_fraction"])
    write_json(paths["dosimetry_json"], result.report)
    return {k: str(v) for k, v in paths.items()}
