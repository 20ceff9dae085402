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
  point-spread function, and 86 % at 2 FWHM.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import InputError
from ..imaging import voi_roles
from ..imaging.segmentation import Segmentation
from ..version import __version__
from .scan_checks import check_scans, check_voi_placement
from .suv import SuvResult
from .voi_statistics import (
    CORE_FRACTION,
    ISOCONTOUR_FRACTIONS,
    PEAK_SPHERE_RADIUS_MM,
    segmentation_weights,
    voi_statistics,
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


@dataclass(frozen=True)
class UptakeParameters:
    metric: str = "suv_max"
    threshold: float = 3.0
    suv_type: str = "bw"
    organ_metric: str = "suv_mean"
    pet_fwhm_mm: float = DEFAULT_PET_FWHM_MM
    partial_volume_diameter_fwhm: float = PARTIAL_VOLUME_DIAMETER_FWHM

    def check(self) -> None:
        if self.metric not in METRICS:
            raise InputError(f"metric must be one of {', '.join(METRICS)}, got '{self.metric}'", "--metric")
        if self.organ_metric not in ORGAN_METRICS:
            raise InputError(f"organ metric must be one of {', '.join(ORGAN_METRICS)}", "--organ-metric")
        if not (self.threshold > 0 and math.isfinite(self.threshold)):
            raise InputError(f"threshold must be positive, got {self.threshold}", "--threshold")
        if not self.pet_fwhm_mm > 0:
            raise InputError(f"PET FWHM must be positive, got {self.pet_fwhm_mm} mm", "--fwhm-mm")


# ---- one scan ------------------------------------------------------------------------------------
def scan_statistics(suv: SuvResult, segmentation: Segmentation, renamed: dict[str, str]) -> dict[str, dict]:
    """Statistics of every segment on this scan's SUV, keyed by the (renamed) VOI name."""
    vois = segmentation_weights(segmentation, suv.volume.grid)
    for voi in vois:
        voi.name = renamed[voi.name]
    lesions = {v.name for v in vois if voi_roles.role_of(v.name).is_lesion}
    stats = voi_statistics(suv.volume.array, suv.volume.grid, vois, isocontour_names=lesions)
    return {s["name"]: s for s in stats}


def _order_key(name: str):
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
                "suv_max_position_lps_mm", "suv_peak_centre_lps_mm", "isocontours"):
        if key in stats:
            out[key] = stats[key]
    out["warnings"] = list(stats.get("warnings", []))
    return out


# ---- the comparison --------------------------------------------------------------------------------
def compare_routes(suv: dict[str, SuvResult], segmentations: dict[str, Segmentation],
                   parameters: UptakeParameters = UptakeParameters(), mapping: dict[str, str] | None = None,
                   inputs: dict | None = None) -> dict:
    """The uptake.json content for the IA and IV scans (``suv`` and ``segmentations`` keyed by route)."""
    parameters.check()
    scan_warnings: list[str] = []
    scans_checked = check_scans(suv, scan_warnings)  # 68Ga, one patient, two series, IA before IV
    renamed = {route: voi_roles.apply_mapping(segmentations[route].names, mapping) for route in ROUTES}
    stats = {route: scan_statistics(suv[route], segmentations[route], renamed[route]) for route in ROUTES}
    names = sorted(set(stats["ia"]) | set(stats["iv"]), key=_order_key)
    warnings: list[str] = list(scan_warnings)
    scans_checked["voi_offsets_mm"] = check_voi_placement(suv, segmentations, warnings)
    metric = parameters.metric
    limit_mm = parameters.partial_volume_diameter_fwhm * parameters.pet_fwhm_mm
    vois = []
    for name in names:
        role = voi_roles.role_of(name)
        entry = {"name": name, "role": role.role}
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
            diameters = [_diameter_mm((stats[r].get(name) or {}).get("segment_volume_ml")) for r in ROUTES]
            diameters = [d for d in diameters if d is not None]
            smallest = min(diameters) if diameters else None
            flag = None if smallest is None else bool(smallest < limit_mm)
            entry["volume_equivalent_diameter_mm"] = smallest
            entry["partial_volume_flag"] = flag
            if flag:
                voi_warnings.append(f"small lesion: volume-equivalent diameter {smallest:.1f} mm < "
                                    f"{parameters.partial_volume_diameter_fwhm:g} x PET FWHM "
                                    f"({limit_mm:.1f} mm): partial volume lowers SUVmax, the ratio may be biased")
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
    flagged = [v["name"] for v in with_ratio if v.get("partial_volume_flag")]
    if flagged:
        warnings.append(f"the mean includes lesions flagged for partial volume: {', '.join(flagged)}")
    ratios = _tumour_to_organ(stats, vois, parameters, warnings)
    return {
        "metric": metric,
        "threshold": parameters.threshold,
        "mean_enhancement_ratio": mean_ratio,
        "eligible": None if mean_ratio is None else bool(mean_ratio >= parameters.threshold),
        "target_lesions_in_mean": [v["name"] for v in with_ratio],
        "suv_type": suv["ia"].info["suv_type"],
        "suv_unit": suv["ia"].info["suv_unit"],
        "vois": vois,
        "ratios": ratios,
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
    ("role", "string", "", "target_lesion, extrahepatic_lesion, organ or other"),
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
    ("volume_equivalent_diameter_mm", "double", "mm", "diameter of the sphere of the lesion's volume (smaller scan)"),
    ("partial_volume_flag", "string", "", "true when the lesion is small enough for partial volume to bias SUVmax"),
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
