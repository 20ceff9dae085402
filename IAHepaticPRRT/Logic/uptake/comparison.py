"""Intra-arterial (IA) versus intravenous (IV) 68Ga PET uptake: per-VOI SUV on each scan, lesion
enhancement ratios, the patient's mean ratio and eligibility (docs/physics.md section 3).

Each scan's SUV comes from its own headers (:mod:`iahepaticprrt.uptake.suv`); each scan's segmentation (on any grid,
usually its CT) is brought to that scan's PET with the project's partial-voxel policy
(:mod:`iahepaticprrt.uptake.voi_statistics`). Segment roles come from their names (:mod:`iahepaticprrt.imaging.voi_roles`), after an optional
renaming.

Definitions (docs/uptake.md):

- enhancement ratio of a lesion = metric(IA) / metric(IV), metric SUVmax (default) or SUVpeak;
  given for target and extra-hepatic lesions;
- mean_enhancement_ratio = mean over the target lesions that have a ratio on both scans;
  eligible = mean_enhancement_ratio >= threshold (3 by default);
- tumour-to-organ ratios per route: lesion metric / organ statistic (SUVmean by default) of the
  healthy liver, the kidneys (one "Kidneys" segment, or left and right combined: volume-weighted
  mean, maximum of max and peak) and the spleen;
- partial-volume flag: a lesion whose volume-equivalent sphere diameter (from the segment's own
  volume, on either scan) is below 3 x the PET resolution (FWHM, 7 mm by default) reads a lowered
  SUVmax: its recovery at the centre of a sphere of diameter 3 FWHM is 99.4 % for a Gaussian
  point-spread function, and 86 % at 2 FWHM;
- reference regions (docs/physics.md section 22, :mod:`iahepaticprrt.uptake.reference_regions`): the healthy
  liver is the tool's own (the liver minus the lesions dilated by 2 PET FWHM), a 30 mm liver
  reference sphere is added, VOIs holding lesions report no SUVmax, and spill-in from a hotter
  neighbour is named;
- how sure the ratio is (docs/physics.md section 23, :mod:`iahepaticprrt.uptake.ratio_uncertainty`): each lesion's
  SUVmax and SUVpeak ratio and the mean ratio get a 95 % interval from the scans' noise, the
  probability that the noise-free mean reaches the threshold, and ``borderline`` when the interval
  contains it; SUVpeak ratios are reported beside the SUVmax ones;
- a site's PET cross-calibration factor multiplies the SUV (docs/physics.md section 24).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..imaging import voi_roles
from ..imaging.segmentation import Segment, Segmentation
from ..imaging.volume import Volume
from ..version import __version__
from . import ratio_uncertainty as ru
from .reference_regions import (
    HEALTHY_LIVER_MARGIN_FWHM,
    REFERENCE_ROLE,
    REFERENCE_SPHERE_NAME,
    SPILL_IN_DISTANCE_FWHM,
    build_reference_regions,
    contained_lesions,
    noise_reference_mask,
    spill_in,
)
from .scan_checks import check_scans, check_voi_placement
from .suv import SuvResult
from .voi_statistics import (
    CORE_FRACTION,
    ISOCONTOUR_FRACTIONS,
    PEAK_SPHERE_RADIUS_MM,
    segmentation_weights,
    voi_statistics,
    voi_weights,
)

ROUTES = ("ia", "iv")
METRICS = ("suv_max", "suv_peak")
ORGAN_METRICS = ("suv_mean", "suv_max", "suv_peak")
#: Default PET resolution (FWHM, mm) for the partial-volume flag: reconstructed clinical 68Ga PET/CT
#: (system resolution 4-5 mm, plus 68Ga positron range and reconstruction smoothing) is typically
#: 6-8 mm; 7 mm is a middle value. Give the site's measured value with --fwhm-mm.
DEFAULT_PET_FWHM_MM = 7.0
#: Lesions smaller than this many FWHM (volume-equivalent diameter) are flagged.
PARTIAL_VOLUME_DIAMETER_FWHM = 3.0

ORGAN_ORDER = ["healthy_liver", "liver", "kidneys", "left_kidney", "right_kidney", "spleen", "bone_marrow"]
STAT_KEYS = ("suv_max", "suv_peak", "suv_mean", "suv_min", "suv_std", "volume_ml", "total_uptake_suv_ml")

PARTIAL_VOXEL_POLICY = (
    "segments on another grid than the PET: each PET voxel weighs the fraction of it the segment covers (27 "
    "sub-samples); SUVmean, SUVstd, volume and total uptake use the weights; SUVmax, SUVmin and SUVpeak centres use "
    f"the voxels covered at least {CORE_FRACTION:g}; on the same grid weights are 0 or 1")


#: PET cross-calibration factors outside this range get a warning: the EANM/EARL accreditation
#: accepts a site's calibration QC within +-10 % (Boellaard et al. 2015; docs/physics.md section 24).
CROSS_CALIBRATION_WARNING_RANGE = (0.9, 1.1)


@dataclass(frozen=True)
class UptakeParameters:
    metric: str = "suv_max"
    threshold: float = 3.0
    suv_type: str = "bw"
    organ_metric: str = "suv_mean"
    pet_fwhm_mm: float = DEFAULT_PET_FWHM_MM
    partial_volume_diameter_fwhm: float = PARTIAL_VOLUME_DIAMETER_FWHM
    #: Healthy liver = liver minus the lesions dilated by this margin (None: 2 x pet_fwhm_mm).
    healthy_liver_margin_mm: float | None = None
    #: Centres (LPS mm) of the liver reference sphere on each scan (None: placed automatically).
    ia_reference_centre_lps_mm: tuple | None = None
    iv_reference_centre_lps_mm: tuple | None = None
    #: Enhancement-ratio uncertainty: noise model, SIMEX images per level (0: no interval), seed, level.
    noise_model: str = "poisson"
    replicates_per_level: int = ru.REPLICATES_PER_LEVEL
    seed: int = ru.DEFAULT_SEED
    confidence: float = 0.95
    #: Site and PET cross-calibration factor of each scan (SUV x factor; from the site's phantom QC).
    site: str | None = None
    ia_cross_calibration_factor: float = 1.0
    iv_cross_calibration_factor: float = 1.0
    cross_calibration_source: str | None = None

    def check(self) -> None:
        if self.metric not in METRICS:
            raise InputError(f"metric must be one of {', '.join(METRICS)}, got '{self.metric}'", "--metric")
        if self.organ_metric not in ORGAN_METRICS:
            raise InputError(f"organ metric must be one of {', '.join(ORGAN_METRICS)}", "--organ-metric")
        if not (self.threshold > 0 and math.isfinite(self.threshold)):
            raise InputError(f"threshold must be positive, got {self.threshold}", "--threshold")
        if not (self.pet_fwhm_mm > 0 and math.isfinite(self.pet_fwhm_mm)):
            raise InputError(f"PET FWHM must be positive, got {self.pet_fwhm_mm} mm", "--fwhm-mm")
        margin = self.healthy_liver_margin_mm
        if margin is not None and not (math.isfinite(margin) and margin >= 0):
            raise InputError(f"the healthy-liver margin must be >= 0 mm, got {margin}", "--healthy-liver-margin-mm")
        if self.noise_model not in ru.NOISE_MODELS:
            raise InputError(f"noise model must be one of {', '.join(ru.NOISE_MODELS)}", "--noise-model")
        if self.replicates_per_level != 0 and self.replicates_per_level < 20:
            raise InputError(f"give 0 (no interval) or at least 20 images per noise level, got "
                             f"{self.replicates_per_level}", "--replicates")
        if not 0.5 <= self.confidence < 1.0:
            raise InputError(f"confidence must be in [0.5, 1), got {self.confidence}", "--confidence")
        for route in ROUTES:
            factor = self.cross_calibration_factor(route)
            if not (isinstance(factor, (int, float)) and math.isfinite(factor) and factor > 0):
                raise InputError(f"the {route.upper()} PET cross-calibration factor must be a positive number, got "
                                 f"{factor}", f"--{route}-calibration-factor")
            centre = self.reference_centre(route)
            if centre is not None and (len(centre) != 3 or not all(math.isfinite(float(c)) for c in centre)):
                raise InputError("give the reference sphere centre as three LPS coordinates (mm)",
                                 f"--{route}-reference-centre")

    @property
    def margin_mm(self) -> float:
        if self.healthy_liver_margin_mm is not None:
            return float(self.healthy_liver_margin_mm)
        return HEALTHY_LIVER_MARGIN_FWHM * self.pet_fwhm_mm

    def cross_calibration_factor(self, route: str) -> float:
        return self.ia_cross_calibration_factor if route == "ia" else self.iv_cross_calibration_factor

    def reference_centre(self, route: str):
        return self.ia_reference_centre_lps_mm if route == "ia" else self.iv_reference_centre_lps_mm


# ---- calibration -----------------------------------------------------------------------------------
def calibrated_suv(suv: SuvResult, factor: float, site: str | None = None, source: str | None = None,
                   route: str = "") -> SuvResult:
    """The SUV multiplied by the site's PET cross-calibration factor, with its provenance in the info
    (``cross_calibration``; ``suv_factor`` then includes it). Applying the same factor twice is a no-op."""
    done = suv.info.get("cross_calibration")
    if done is not None:
        if done["factor"] != factor:
            raise ValueError(f"SUV already cross-calibrated with {done['factor']}, not {factor}")
        return suv
    info = dict(suv.info)
    warnings = list(info.get("warnings", []))
    low, high = CROSS_CALIBRATION_WARNING_RANGE
    if not low <= factor <= high:
        warnings.append(f"PET cross-calibration factor {factor:g} is outside {low:g}-{high:g} (the EARL tolerance of "
                        "a calibration QC): check the site's phantom QC before trusting these SUVs")
    info["warnings"] = warnings
    info["cross_calibration"] = {
        "factor": float(factor), "site": site, "source": source,
        "rule": "SUV = SUV from the DICOM headers x factor; factor = reference activity concentration (dose "
                "calibrator) / concentration the scanner measured in the site's uniform-phantom QC",
    }
    if factor != 1.0:
        for key in ("suv_factor",):
            if isinstance(info.get(key), (int, float)):
                info["suv_factor_before_cross_calibration"] = info[key]
                info[key] = info[key] * factor
        if isinstance(info.get("suv_factor_per_slice"), list):
            info["suv_factor_per_slice"] = [v * factor if isinstance(v, (int, float)) else v
                                            for v in info["suv_factor_per_slice"]]
        volume = Volume((suv.volume.array * np.float32(factor)).astype(np.float32), suv.volume.grid, suv.volume.unit,
                        dict(suv.volume.metadata))
    else:
        volume = suv.volume
    return SuvResult(volume, info, suv.series)


def calibrate_routes(suv: dict[str, SuvResult], parameters: UptakeParameters) -> dict[str, SuvResult]:
    return {route: calibrated_suv(suv[route], parameters.cross_calibration_factor(route), parameters.site,
                                  parameters.cross_calibration_source, route) for route in ROUTES}


# ---- one scan ------------------------------------------------------------------------------------
def renamed_segmentation(segmentation: Segmentation, renamed: dict[str, str]) -> Segmentation:
    """The same masks under their (mapped) default names."""
    return Segmentation(segmentation.grid, [Segment(renamed[s.name], s.mask, s.color) for s in segmentation.segments],
                        segmentation.source)


def measured_regions(segmentation: Segmentation, renamed: dict[str, str], parameters: UptakeParameters,
                     route: str) -> tuple[Segmentation, dict, list[str]]:
    """The VOIs a scan is measured on: the segmentation under its default names, with the healthy liver
    away from the lesions and the liver reference sphere (:func:`build_reference_regions`). The DICOM
    SEG of a run is made of these, so that each SR measurement references the region it was made on."""
    return build_reference_regions(renamed_segmentation(segmentation, renamed), parameters.margin_mm,
                                   parameters.reference_centre(route), route)


def parameters_of(result: dict) -> UptakeParameters:
    """The :class:`UptakeParameters` a comparison result was computed with (from its provenance)."""
    recorded = result.get("provenance", {}).get("parameters", {})
    fields = {k: v for k, v in recorded.items() if k in UptakeParameters.__dataclass_fields__}
    for key in ("ia_reference_centre_lps_mm", "iv_reference_centre_lps_mm"):
        if fields.get(key) is not None:
            fields[key] = tuple(fields[key])
    return UptakeParameters(**fields)


def scan_statistics(suv: SuvResult, segmentation: Segmentation) -> tuple[dict[str, dict], dict]:
    """Statistics of every segment on this scan's SUV keyed by VOI name, and each VOI's PET weights."""
    vois = segmentation_weights(segmentation, suv.volume.grid)
    lesions = {v.name for v in vois if voi_roles.role_of(v.name).is_lesion}
    stats = voi_statistics(suv.volume.array, suv.volume.grid, vois, isocontour_names=lesions)
    return {s["name"]: s for s in stats}, {v.name: v for v in vois}


def _order_key(name: str):
    if name == REFERENCE_SPHERE_NAME:
        return (2, ORGAN_ORDER.index("healthy_liver") + 0.5, name)
    role = voi_roles.role_of(name)
    if role.role == voi_roles.TARGET_LESION:
        return (0, role.number, name)
    if role.role == voi_roles.EXTRAHEPATIC_LESION:
        return (1, role.number, name)
    if role.role == voi_roles.ORGAN:
        return (2, ORGAN_ORDER.index(role.organ) if role.organ in ORGAN_ORDER else 99, name)
    return (3, 0, name)


def _ratio(numerator, denominator):
    if numerator is None or denominator is None or not denominator > 0:
        return None
    return numerator / denominator


def _diameter_mm(volume_ml: float | None) -> float | None:
    if volume_ml is None or volume_ml <= 0:
        return None
    return (6.0 * volume_ml * 1000.0 / math.pi) ** (1.0 / 3.0)


def _kidney_reference(stats: dict[str, dict], metric: str, warnings: list, route: str):
    """The kidneys' statistic: one "Kidneys" segment, or left and right combined."""
    by_organ = {voi_roles.role_of(name).organ: s for name, s in stats.items()
                if voi_roles.role_of(name).role == voi_roles.ORGAN}
    if "kidneys" in by_organ:
        return by_organ["kidneys"].get(metric)
    parts = [by_organ[o] for o in ("left_kidney", "right_kidney") if o in by_organ and by_organ[o].get(metric) is not None]
    if not parts:
        return None
    if len(parts) == 1:
        warnings.append(f"{route}: only one kidney has statistics: the kidney reference is that kidney alone")
    if metric == "suv_mean":
        volume = sum(p["volume_ml"] for p in parts)
        return sum(p["suv_mean"] * p["volume_ml"] for p in parts) / volume if volume > 0 else None
    return max(p[metric] for p in parts)


def _organ_reference(stats: dict[str, dict], organ: str, metric: str):
    for name, s in stats.items():
        role = voi_roles.role_of(name)
        if role.role == voi_roles.ORGAN and role.organ == organ:
            return s.get(metric)
    return None


def _compact(stats: dict | None) -> dict | None:
    if stats is None:
        return None
    out = {key: stats.get(key) for key in STAT_KEYS}
    for key in ("voxel_count", "segment_volume_ml", "fraction_outside_pet_fov", "volume_equivalent_diameter_mm",
                "suv_max_position_lps_mm", "suv_peak_centre_lps_mm", "isocontours", "contains_lesions", "spill_in"):
        if key in stats:
            out[key] = stats[key]
    out["warnings"] = list(stats.get("warnings", []))
    return out


def _suppress_containers(stats: dict[str, dict], containers: dict[str, list[str]]) -> None:
    """A VOI holding lesions (Liver, Body) reports no SUVmax, SUVmin or SUVpeak: they would be a lesion's."""
    for name, lesions in containers.items():
        s = stats.get(name)
        if s is None:
            continue
        for key in ("suv_max", "suv_min", "suv_peak"):
            s[key] = None
        s.pop("suv_max_position_lps_mm", None)
        s.pop("suv_peak_centre_lps_mm", None)
        s["contains_lesions"] = list(lesions)
        s.setdefault("warnings", []).append(
            f"contains {', '.join(lesions)}: its SUVmax, SUVmin and SUVpeak would be a lesion's and are not reported "
            "(SUVmean, volume and total uptake are the whole VOI's)")


def _mark_spill_in(stats: dict[str, dict], neighbours: dict[str, list[dict]], distance_mm: float) -> None:
    for name, found in neighbours.items():
        s = stats[name]
        s["spill_in"] = found
        nearest = found[0]
        s.setdefault("warnings", []).append(
            f"spill-in: the SUVmax voxel lies {nearest['distance_mm']:.1f} mm from the hotter "
            f"'{nearest['from']}' (SUVmax {nearest['suv_max_of_neighbour']:.3g}), within {distance_mm:g} mm "
            f"({SPILL_IN_DISTANCE_FWHM:g} x PET FWHM): its SUVmax may include that VOI's activity"
            + (f" (and {len(found) - 1} more)" if len(found) > 1 else ""))


#: The noise reference: the liver reference sphere's voxels at least one PET FWHM inside the healthy liver.
NOISE_REGION_NAME = "Liver reference sphere, 1 FWHM inside the healthy liver"
#: A noise reference needs at least this many PET voxels covered half (else the whole sphere is used).
MIN_NOISE_VOXELS = 30


def _noise_region(weights: dict, inner=None, warnings=None, route=""):
    if inner is not None and inner.box is not None and int(np.count_nonzero(inner.core)) >= MIN_NOISE_VOXELS:
        return inner
    if inner is not None and warnings is not None:
        warnings.append(f"{route}: fewer than {MIN_NOISE_VOXELS} PET voxels of the liver reference sphere lie one PET "
                        "FWHM inside the healthy liver: the scan's noise is measured on the whole sphere, whose edge "
                        "may add partial volume of the liver surface or a lesion's margin (wider intervals)")
    for name in (REFERENCE_SPHERE_NAME, "Healthy liver"):
        if name in weights and weights[name].box is not None:
            return weights[name]
    for name, w in weights.items():
        if voi_roles.role_of(name).organ == "healthy_liver" and w.box is not None:
            return w
    return None


def _rng(seed: int, route: str, name: str) -> np.random.Generator:
    """One stream per lesion and scan: a lesion's draws do not depend on the other VOIs present."""
    return np.random.default_rng([int(seed), ROUTES.index(route), zlib.crc32(name.encode("utf-8"))])


# ---- the comparison --------------------------------------------------------------------------------
def compare_routes(suv: dict[str, SuvResult], segmentations: dict[str, Segmentation],
                   parameters: UptakeParameters = UptakeParameters(), mapping: dict[str, str] | None = None,
                   inputs: dict | None = None) -> dict:
    """The uptake.json content for the IA and IV scans (``suv`` and ``segmentations`` keyed by route)."""
    parameters.check()
    scan_warnings: list[str] = []
    scans_checked = check_scans(suv, scan_warnings)  # 68Ga, one patient, two series, IA before IV
    suv = calibrate_routes(suv, parameters)
    warnings: list[str] = list(scan_warnings)
    renamed = {route: voi_roles.apply_mapping(segmentations[route].names, mapping) for route in ROUTES}
    prepared, regions = {}, {}
    for route in ROUTES:
        prepared[route], regions[route], region_warnings = measured_regions(segmentations[route], renamed[route],
                                                                            parameters, route)
        warnings.extend(region_warnings)
    scans_checked["voi_offsets_mm"] = check_voi_placement(suv, prepared, warnings)
    stats, weights = {}, {}
    spill_distance_mm = SPILL_IN_DISTANCE_FWHM * parameters.pet_fwhm_mm
    for route in ROUTES:
        stats[route], weights[route] = scan_statistics(suv[route], prepared[route])
        containers = contained_lesions(prepared[route])
        _suppress_containers(stats[route], containers)
        _mark_spill_in(stats[route], spill_in(prepared[route], stats[route], spill_distance_mm, set(containers)),
                       spill_distance_mm)
    names = sorted(set(stats["ia"]) | set(stats["iv"]), key=_order_key)
    metric = parameters.metric
    limit_mm = parameters.partial_volume_diameter_fwhm * parameters.pet_fwhm_mm
    vois = []
    for name in names:
        role = voi_roles.role_of(name)
        entry = {"name": name, "role": REFERENCE_ROLE if name == REFERENCE_SPHERE_NAME else role.role}
        if role.organ:
            entry["organ"] = role.organ
        voi_warnings = []
        for route in ROUTES:
            s = stats[route].get(name)
            entry[route] = _compact(s)
            if s is None:
                voi_warnings.append(f"not in the {route.upper()} segmentation "
                                    f"({segmentations[route].source or route}): no {route.upper()} values")
            else:
                voi_warnings.extend(f"{route}: {w}" for w in s.get("warnings", []))
        if role.is_lesion:
            ia_value = (stats["ia"].get(name) or {}).get(metric)
            iv_value = (stats["iv"].get(name) or {}).get(metric)
            ratio = _ratio(ia_value, iv_value)
            if ratio is None and ia_value is not None and iv_value is not None:
                voi_warnings.append(f"IV {metric} is {iv_value:g}: no enhancement ratio")
            elif ratio is None:
                voi_warnings.append("no enhancement ratio: the lesion lacks values on one scan")
            entry["enhancement_ratio"] = ratio
            for other in METRICS:
                entry[f"enhancement_ratio_{other}"] = _ratio((stats["ia"].get(name) or {}).get(other),
                                                             (stats["iv"].get(name) or {}).get(other))
            diameters = [_diameter_mm((stats[r].get(name) or {}).get("segment_volume_ml")) for r in ROUTES]
            diameters = [d for d in diameters if d is not None]
            smallest = min(diameters) if diameters else None
            flag = None if smallest is None else bool(smallest < limit_mm)
            entry["volume_equivalent_diameter_mm"] = smallest
            entry["partial_volume_flag"] = flag
            if flag:
                voi_warnings.append(f"small lesion: volume-equivalent diameter {smallest:.1f} mm < {limit_mm:.1f} mm "
                                    f"({parameters.partial_volume_diameter_fwhm:g} x the PET FWHM of "
                                    f"{parameters.pet_fwhm_mm:g} mm): partial volume lowers SUVmax, the ratio may "
                                    "be biased")
        else:
            entry["enhancement_ratio"] = None
        entry["warnings"] = voi_warnings
        vois.append(entry)
    targets = [v for v in vois if v["role"] == voi_roles.TARGET_LESION]
    with_ratio = [v for v in targets if v["enhancement_ratio"] is not None]
    if not targets:
        warnings.append("no target lesion ('Lesion N') in either segmentation: no mean enhancement ratio")
    elif len(with_ratio) < len(targets):
        missing = [v["name"] for v in targets if v["enhancement_ratio"] is None]
        warnings.append(f"target lesions without an enhancement ratio left out of the mean: {', '.join(missing)}")
    mean_ratio = (sum(v["enhancement_ratio"] for v in with_ratio) / len(with_ratio)) if with_ratio else None
    means_by_metric = {}
    for other in METRICS:
        values = [v[f"enhancement_ratio_{other}"] for v in targets if v.get(f"enhancement_ratio_{other}") is not None]
        means_by_metric[other] = sum(values) / len(values) if values else None
    flagged = [v["name"] for v in with_ratio if v.get("partial_volume_flag")]
    if flagged:
        warnings.append(f"the mean includes lesions flagged for partial volume: {', '.join(flagged)}")
    noise_regions = {}
    for route in ROUTES:
        mask = noise_reference_mask(prepared[route], parameters.pet_fwhm_mm)
        noise_regions[route] = (None if mask is None else
                                voi_weights(NOISE_REGION_NAME, mask, prepared[route].grid, suv[route].volume.grid))
    uncertainty = _uncertainty(suv, stats, weights, vois, [v["name"] for v in with_ratio], parameters, warnings,
                               noise_regions)
    primary = (uncertainty.get(metric) or {}) if uncertainty else {}
    ratios = _tumour_to_organ(stats, vois, parameters, warnings)
    return {
        "metric": metric,
        "threshold": parameters.threshold,
        "mean_enhancement_ratio": mean_ratio,
        "eligible": None if mean_ratio is None else bool(mean_ratio >= parameters.threshold),
        "mean_enhancement_ratio_ci_low": primary.get("ci_low"),
        "mean_enhancement_ratio_ci_high": primary.get("ci_high"),
        "probability_mean_at_least_threshold": primary.get("probability_at_least_threshold"),
        "borderline": primary.get("borderline"),
        "mean_enhancement_ratio_suv_max": means_by_metric["suv_max"],
        "mean_enhancement_ratio_suv_peak": means_by_metric["suv_peak"],
        "target_lesions_in_mean": [v["name"] for v in with_ratio],
        "suv_type": suv["ia"].info["suv_type"],
        "suv_unit": suv["ia"].info["suv_unit"],
        "vois": vois,
        "ratios": ratios,
        "uncertainty": uncertainty,
        "reference_regions": {
            "healthy_liver_margin_mm": parameters.margin_mm,
            "margin_rule": ("given by the user" if parameters.healthy_liver_margin_mm is not None else
                            f"{HEALTHY_LIVER_MARGIN_FWHM:g} x the PET FWHM of {parameters.pet_fwhm_mm:g} mm"),
            "ia": regions["ia"], "iv": regions["iv"],
        },
        "spill_in_criterion": {
            "distance_mm": spill_distance_mm,
            "rule": f"a VOI whose SUVmax voxel lies within {SPILL_IN_DISTANCE_FWHM:g} x PET FWHM of a hotter VOI "
                    "(higher SUVmax) it does not overlap is flagged; VOIs that contain lesions are not compared",
        },
        "cross_calibration": {"site": parameters.site,
                              **{route: suv[route].info["cross_calibration"] for route in ROUTES}},
        "partial_volume_criterion": {
            "pet_fwhm_mm": parameters.pet_fwhm_mm,
            "diameter_fwhm": parameters.partial_volume_diameter_fwhm,
            "diameter_limit_mm": limit_mm,
            "rule": "lesion flagged when the diameter of the sphere of its segment's volume (smaller of the two "
                    "scans) is below diameter_fwhm x pet_fwhm_mm",
        },
        "warnings": warnings,
        "scan_checks": scans_checked,
        "provenance": _provenance(suv, segmentations, parameters, mapping, renamed, inputs),
    }


def _uncertainty(suv, stats, weights, vois, targets_in_mean, parameters: UptakeParameters, warnings,
                 noise_regions: dict | None = None) -> dict | None:
    """Noise of each scan, SIMEX bias and spread of every lesion's SUVmax and SUVpeak, and the intervals
    (docs/physics.md section 23); None when switched off."""
    if parameters.replicates_per_level == 0:
        return None
    noise = {}
    for route in ROUTES:
        region = _noise_region(weights[route], (noise_regions or {}).get(route), warnings, route)
        noise[route] = (None if region is None else
                        ru.estimate_noise(suv[route].volume.array, suv[route].volume.grid, region,
                                          parameters.noise_model))
        if noise[route] is None:
            warnings.append(f"{route}: no reference region with at least 10 PET voxels: the scan's noise is unknown "
                            "and the enhancement ratios have no interval")
    errors: dict[str, dict] = {}
    lesions = [v for v in vois if voi_roles.role_of(v["name"]).is_lesion]
    for v in lesions:
        errors[v["name"]] = {}
        for route in ROUTES:
            w = weights[route].get(v["name"])
            if noise[route] is None or w is None or (stats[route].get(v["name"]) or {}).get("suv_max") is None:
                errors[v["name"]][route] = None
                continue
            errors[v["name"]][route] = ru.lesion_noise_errors(
                suv[route].volume.array, suv[route].volume.grid, w, noise[route],
                _rng(parameters.seed, route, v["name"]), parameters.replicates_per_level)
    per_lesion, means = ru.ratio_intervals(errors, targets_in_mean, parameters.threshold, parameters.confidence,
                                           np.random.default_rng([int(parameters.seed), 2]))
    for v in lesions:
        v["enhancement_ratio_interval"] = per_lesion.get(v["name"])
        v["noise"] = {route: ru.public_errors(errors[v["name"]].get(route)) for route in ROUTES}
    metric = parameters.metric
    if means.get(metric) is None and targets_in_mean:
        warnings.append(f"no interval for the mean {metric} enhancement ratio (a target lesion lacks one)")
    elif means.get(metric) is not None and means[metric]["borderline"]:
        m = means[metric]
        warnings.append(f"borderline: the {100 * parameters.confidence:g} % interval of the mean {metric} enhancement "
                        f"ratio, {m['ci_low']:.2f} to {m['ci_high']:.2f}, contains the threshold "
                        f"{parameters.threshold:g} (probability {m['probability_at_least_threshold']:.2f} that the "
                        "noise-free mean reaches it)")
    return {
        "method": "SIMEX noise-bias correction and parametric bootstrap of each lesion's SUVmax and SUVpeak on each "
                  "scan, from the scan's noise measured in its reference region (docs/physics.md section 23)",
        "confidence": parameters.confidence, "seed": parameters.seed,
        "simex_lambdas": list(ru.SIMEX_LAMBDAS), "replicates_per_level": parameters.replicates_per_level,
        "samples": ru.SAMPLES, "noise_model": parameters.noise_model,
        "noise": {route: ru.public_noise(noise[route]) for route in ROUTES},
        "suv_max": means.get("suv_max"), "suv_peak": means.get("suv_peak"),
    }


def _tumour_to_organ(stats, vois, parameters: UptakeParameters, warnings: list) -> dict:
    lesions = [v["name"] for v in vois if voi_roles.role_of(v["name"]).is_lesion]
    targets = [v["name"] for v in vois if v["role"] == voi_roles.TARGET_LESION]
    result = {"definition": f"lesion {parameters.metric} / organ {parameters.organ_metric}",
              "lesion_metric": parameters.metric, "organ_metric": parameters.organ_metric}
    for route in ROUTES:
        references = {
            "healthy_liver": _organ_reference(stats[route], "healthy_liver", parameters.organ_metric),
            "kidney": _kidney_reference(stats[route], parameters.organ_metric, warnings, route),
            "spleen": _organ_reference(stats[route], "spleen", parameters.organ_metric),
        }
        per_route = {}
        for organ, reference in references.items():
            if reference is None:
                warnings.append(f"{route}: no {organ.replace('_', ' ')} statistic: tumour-to-{organ.replace('_', '-')} "
                                "ratios are null")
            values = {name: _ratio((stats[route].get(name) or {}).get(parameters.metric), reference)
                      for name in lesions}
            target_values = [values[n] for n in targets if values.get(n) is not None]
            per_route[f"tumour_to_{organ}"] = {
                "organ_value": reference,
                "lesions": values,
                "mean_target_lesions": sum(target_values) / len(target_values) if target_values else None,
            }
        result[route] = per_route
    return result


def _provenance(suv, segmentations, parameters, mapping, renamed, inputs) -> dict:
    return {
        "software": "IAHepaticPRRT",
        "software_version": __version__,
        "inputs": dict(inputs or {}),
        "series_instance_uids": {route: suv[route].info.get("series_instance_uid") for route in ROUTES},
        "suv": {route: suv[route].info for route in ROUTES},
        "segmentations": {route: {"source": segmentations[route].source, "grid": segmentations[route].grid.to_dict(),
                                  "segments": segmentations[route].names} for route in ROUTES},
        "segment_renaming": {route: {k: v for k, v in renamed[route].items() if k != v} for route in ROUTES},
        "name_mapping": dict(mapping or {}),
        "parameters": {**asdict(parameters), "suv_peak_sphere_radius_mm": PEAK_SPHERE_RADIUS_MM,
                       "isocontour_fractions_of_suv_max": list(ISOCONTOUR_FRACTIONS),
                       "partial_voxel_policy": PARTIAL_VOXEL_POLICY},
    }


# ---- table form ------------------------------------------------------------------------------------
#: Columns of uptake.csv and of the Slicer table: (name, value type, unit, description). "{suv}" in a
#: unit is replaced by the SUV unit (SUVbw, ...).
COLUMNS = [
    ("name", "string", "", "VOI (segment) name"),
    ("role", "string", "", "target_lesion, extrahepatic_lesion, organ, reference (liver reference sphere) or other"),
]
for _route, _label in (("ia", "intra-arterial"), ("iv", "intravenous")):
    COLUMNS += [
        (f"{_route}_suv_max", "double", "{suv}", f"SUVmax on the {_label} PET (voxels covered >= 50 %)"),
        (f"{_route}_suv_peak", "double", "{suv}", f"SUVpeak (1 mL sphere, PERCIST) on the {_label} PET"),
        (f"{_route}_suv_mean", "double", "{suv}", f"SUVmean (partial-voxel weighted) on the {_label} PET"),
        (f"{_route}_suv_min", "double", "{suv}", f"SUVmin on the {_label} PET"),
        (f"{_route}_suv_std", "double", "{suv}", f"SUV standard deviation on the {_label} PET"),
        (f"{_route}_volume_ml", "double", "mL", f"VOI volume on the {_label} PET grid"),
        (f"{_route}_total_uptake_suv_ml", "double", "{suv}.mL", f"SUVmean x volume on the {_label} PET"),
    ]
COLUMNS += [
    ("enhancement_ratio", "double", "1", "lesion metric IA / IV"),
    ("enhancement_ratio_suv_max", "double", "1", "lesion SUVmax IA / IV"),
    ("enhancement_ratio_suv_max_ci_low", "double", "1", "lower end of the SUVmax ratio's interval (noise)"),
    ("enhancement_ratio_suv_max_ci_high", "double", "1", "upper end of the SUVmax ratio's interval (noise)"),
    ("enhancement_ratio_suv_peak", "double", "1", "lesion SUVpeak IA / IV"),
    ("enhancement_ratio_suv_peak_ci_low", "double", "1", "lower end of the SUVpeak ratio's interval (noise)"),
    ("enhancement_ratio_suv_peak_ci_high", "double", "1", "upper end of the SUVpeak ratio's interval (noise)"),
    ("volume_equivalent_diameter_mm", "double", "mm", "diameter of the sphere of the lesion's volume (smaller scan)"),
    ("partial_volume_flag", "string", "", "true when the lesion is small enough for partial volume to bias SUVmax"),
    ("spill_in_from", "string", "", "hotter VOIs within 2 x PET FWHM of this VOI's SUVmax (ia: / iv:)"),
    ("warnings", "string", "", "per-VOI warnings, separated by '; '"),
]
COLUMN_NAMES = [c[0] for c in COLUMNS]


def table_rows(result: dict) -> list[dict]:
    """One row per VOI with the COLUMNS keys (None where there is no value)."""
    rows = []
    for voi in result["vois"]:
        row = {"name": voi["name"], "role": voi["role"]}
        for route in ROUTES:
            for key in STAT_KEYS:
                row[f"{route}_{key}"] = (voi[route] or {}).get(key)
        row["enhancement_ratio"] = voi.get("enhancement_ratio")
        interval = voi.get("enhancement_ratio_interval") or {}
        for metric in METRICS:
            row[f"enhancement_ratio_{metric}"] = voi.get(f"enhancement_ratio_{metric}")
            row[f"enhancement_ratio_{metric}_ci_low"] = (interval.get(metric) or {}).get("ci_low")
            row[f"enhancement_ratio_{metric}_ci_high"] = (interval.get(metric) or {}).get("ci_high")
        row["spill_in_from"] = "; ".join(f"{route}: {', '.join(n['from'] for n in (voi[route] or {}).get('spill_in', []))}"
                                         for route in ROUTES if (voi[route] or {}).get("spill_in"))
        row["volume_equivalent_diameter_mm"] = voi.get("volume_equivalent_diameter_mm")
        flag = voi.get("partial_volume_flag")
        row["partial_volume_flag"] = "" if flag is None else ("true" if flag else "false")
        row["warnings"] = "; ".join(voi.get("warnings", []))
        rows.append(row)
    return rows


# ---- files ---------------------------------------------------------------------------------------
def run_uptake(folders: dict, segmentation_paths: dict, parameters: UptakeParameters | None = None,
               labels: dict | None = None, overrides: dict | None = None, series_uids: dict | None = None,
               mapping_path=None, progress=None) -> tuple[dict, dict]:
    """Read both scans and segmentations (files) and compare them; nothing is written.
    ``progress(fraction, message)`` is called at each stage.

    ``folders``, ``segmentation_paths``, ``labels`` (labels CSV of a label-map segmentation),
    ``overrides`` (:class:`SuvOverrides`) and ``series_uids`` are keyed by route ("ia", "iv").
    Returns (the uptake.json content, the SUV results by route).
    """
    from ..io.segmentation_files import read_name_mapping, read_segmentation
    from .suv import suv_from_folder

    parameters = parameters or UptakeParameters()
    parameters.check()
    labels = labels or {}
    overrides = overrides or {}
    series_uids = series_uids or {}
    progress = progress or (lambda fraction, message: None)
    mapping = read_name_mapping(mapping_path) if mapping_path else None
    suv = {}
    for index, route in enumerate(ROUTES):
        progress(0.4 * index, f"uptake: reading the {route.upper()} PET and its SUV")
        suv[route] = suv_from_folder(folders[route], parameters.suv_type, overrides.get(route), series_uids.get(route))
    progress(0.8, "uptake: segmentations, VOI statistics and enhancement ratios")
    suv = calibrate_routes(suv, parameters)  # so that --save-suv writes the SUV the statistics used
    # The PET is the reference of an RTSTRUCT (rasterised for its grid) and of the Frame of Reference check.
    segmentations = {route: read_segmentation(segmentation_paths[route], labels.get(route), suv[route].volume)
                     for route in ROUTES}
    inputs = {"ia_pet": str(folders["ia"]), "iv_pet": str(folders["iv"]),
              "ia_segmentation": str(segmentation_paths["ia"]), "iv_segmentation": str(segmentation_paths["iv"]),
              "ia_labels": labels.get("ia"), "iv_labels": labels.get("iv"),
              "mapping": str(mapping_path) if mapping_path else None}
    return compare_routes(suv, segmentations, parameters, mapping, inputs), suv


def write_outputs(result: dict, out_dir, suv: dict | None = None) -> list[str]:
    """uptake.json and uptake.csv (and, with ``suv``, each route's SUV volume), each written atomically."""
    from ..io.output_files import write_csv, write_json
    from ..io.volume_files import write_volume

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "uptake.json", result)
    write_csv(out / "uptake.csv", table_rows(result), COLUMN_NAMES)
    paths = [str(out / "uptake.json"), str(out / "uptake.csv")]
    for route, scan in (suv or {}).items():
        write_volume(scan.volume, out / f"{route}_suv.nrrd")
        paths.append(str(out / f"{route}_suv.nrrd"))
    return paths
