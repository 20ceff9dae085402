"""The study manifest: one JSON file per patient naming every input of the analysis.

Paths are relative to the manifest's folder (absolute paths are accepted). Unknown keys are
refused (a misspelt key would otherwise be silently ignored), and every error names the manifest
file and the field's JSON path, e.g. ``dosimetry.time_points[2].spect``. See docs/manifest.md.

Example::

    {
      "manifest_version": 1,
      "patient": {"id": "NET-017", "name": "Doe^Jane"},
      "uptake": {
        "ia": {"pet": "ia_day0/pet", "segmentation": "segmentations/ia_day0.seg.nrrd"},
        "iv": {"pet": "iv_day3/pet", "segmentation": "segmentations/iv_day3.seg.nrrd"},
        "suv_type": "bw", "metric": "suv_max", "threshold": 3.0
      },
      "dosimetry": {
        "time_points": [{"spect": "spect/tp1/nm/spect.dcm", "ct": "spect/tp1/ct"}, ...],
        "segmentation": "segmentations/spect_tp1.seg.nrrd",
        "administered_mbq": 7400, "administration_time": "2026-03-02T10:30:00",
        "calibration_cps_per_mbq": 9.6, "method": "vsv", "model": "auto",
        "previous_cycles": [{"kidney_dose_gy": 3.9, "kidney_bed_gy": 4.6, "bone_marrow_dose_gy": 0.3}]
      },
      "report": {"deidentify": false}
    }

Optional: ``site`` (name and PET cross-calibration factor from the site's phantom QC), per-scan
``reference_sphere_centre_lps_mm`` and ``pet_cross_calibration_factor``, ``uptake.pet_fwhm_mm``,
``healthy_liver_margin_mm``, ``noise_model``, ``replicates_per_level``, and per previous cycle its
``route``, ``administered_mbq`` and ``voi_doses_gy`` (docs/manifest.md).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..errors import InputError
from ..io.text_files import read_json
from ..sanity import CHECKS
from .followup_manifest import FOLLOWUP, check_followup

MANIFEST_VERSION = 1

def _cycle(value, where: str, base: Path, source: Path) -> str:
    """A cycle's number or label ("5", 5, "5b"); a number below 1 cannot be a treatment cycle."""
    if not isinstance(value, (str, int)) or isinstance(value, bool) or not str(value).strip():
        raise InputError("expected a cycle number or label", source, where)
    text = str(value).strip()
    if text.lstrip("+-").isdigit() and int(text) < 1:
        raise InputError(f"cycles are numbered from 1, got {text}", source, where)
    return text


# Field specifications: name -> (kind, required). Kinds: "path" (file or folder that must exist),
# "str", "number" (finite float), "positive", "nonnegative", "bool", "datetime" (ISO 8601),
# "checks" (a list of plausibility-check names), a tuple of allowed strings, a nested spec (dict) /
# [spec] for a list of objects, or a function (value, where, base, source) -> value.
_SCAN = {
    "pet": ("path", True), "segmentation": ("path", True), "labels": ("path", False),
    "series_uid": ("str", False), "weight_kg": ("positive", False), "height_cm": ("positive", False),
    "sex": (("M", "F"), False), "injected_mbq": ("positive", False), "residual_mbq": ("nonnegative", False),
    "injection_time": ("datetime", False),
    "reference_sphere_centre_lps_mm": ("point", False), "pet_cross_calibration_factor": ("positive", False),
}
_UPTAKE = {
    "ia": (_SCAN, True), "iv": (_SCAN, True),
    "suv_type": (("bw", "lbm-james", "lbm-janma", "bsa", "ibw"), False),
    "metric": (("suv_max", "suv_peak"), False), "threshold": ("positive", False), "mapping": ("path", False),
    "pet_fwhm_mm": ("positive", False), "healthy_liver_margin_mm": ("nonnegative", False),
    "noise_model": (("poisson", "proportional"), False), "replicates_per_level": ("count", False),
}
_TIME_POINT = {"spect": ("path", True), "ct": ("path", False), "time_h": ("nonnegative", False)}
_PREVIOUS_CYCLE = {
    "cycle": (_cycle, False), "kidney_dose_gy": ("nonnegative", False), "kidney_bed_gy": ("nonnegative", False),
    "bone_marrow_dose_gy": ("nonnegative", False),
    "route": (("iv", "ia"), False), "administered_mbq": ("positive", False), "voi_doses_gy": ("doses", False),
}
_DOSIMETRY = {
    "time_points": ([_TIME_POINT], True), "segmentation": ("path", True), "labels": ("path", False),
    "administered_mbq": ("positive", True), "administration_time": ("datetime", False),
    "residual_mbq": ("nonnegative", False), "calibration_cps_per_mbq": ("positive", False),
    "calibration_uncertainty_percent": ("nonnegative", False), "method": (("ldm", "vsv"), False),
    "model": ("str", False), "registration": ("bool", False), "pvc_fwhm_mm": ("positive", False),
    "previous_cycles": ([_PREVIOUS_CYCLE], False),
    "kidney_risk_factors": ("bool", False), "cycle": (_cycle, False),
}
_PATIENT = {"id": ("str", False), "name": ("str", False)}
_SITE = {"name": ("str", True), "pet_cross_calibration_factor": ("positive", False), "qc_date": ("str", False),
         "qc_reference": ("str", False)}
_REPORT = {"deidentify": ("bool", False), "dicom": ("bool", False)}
_MANIFEST = {
    "manifest_version": ("positive", True), "patient": (_PATIENT, False), "site": (_SITE, False),
    "uptake": (_UPTAKE, False),
    "dosimetry": (_DOSIMETRY, False), "report": (_REPORT, False), "accept": ("checks", False),
    "followup": (FOLLOWUP, False),
}


@dataclass
class Manifest:
    path: Path
    data: dict  # validated, with paths resolved to absolute strings

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def patient_id(self) -> str:
        return self.data.get("patient", {}).get("id") or self.path.stem


def _check(value, kind, where: str, base: Path, source: Path):
    """Validate one value against its kind; return it normalised (paths absolute)."""
    if callable(kind):  # a section's own kind (study/followup_manifest.py)
        return kind(value, where, base, source)
    if isinstance(kind, dict):
        if not isinstance(value, dict):
            raise InputError("expected an object", source, where)
        return _check_object(value, kind, where, base, source)
    if isinstance(kind, list):
        if not isinstance(value, list) or not value:
            raise InputError("expected a non-empty list", source, where)
        return [_check(item, kind[0], f"{where}[{i}]", base, source) for i, item in enumerate(value)]
    if isinstance(kind, tuple):
        if value not in kind:
            raise InputError(f"'{value}' is not one of {', '.join(kind)}", source, where)
        return value
    if kind == "path":
        if not isinstance(value, str) or not value:
            raise InputError("expected a path", source, where)
        path = Path(value) if os.path.isabs(value) else base / value
        if not path.exists():
            raise InputError(f"'{value}' does not exist (relative paths start at the manifest's folder)", source, where)
        return str(path.resolve())
    if kind == "str":
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise InputError("expected a string", source, where)
        return str(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise InputError("expected true or false", source, where)
        return value
    if kind == "datetime":
        try:
            datetime.fromisoformat(str(value))
        except ValueError:
            raise InputError(f"'{value}' is not an ISO 8601 date-time (YYYY-MM-DDTHH:MM[:SS])", source, where) from None
        return str(value)
    if kind == "point":
        if (not isinstance(value, list) or len(value) != 3
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)):
            raise InputError("expected three finite numbers [x, y, z] (LPS mm)", source, where)
        return [float(v) for v in value]
    if kind == "count":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InputError("expected a whole number >= 0", source, where)
        return value
    if kind == "doses":
        if not isinstance(value, dict) or not value:
            raise InputError("expected an object {\"VOI name\": dose in Gy, ...}", source, where)
        doses = {}
        for name, dose in value.items():
            doses[name] = _check(dose, "nonnegative", f"{where}.{name}", base, source)
        return doses
    if kind in ("number", "positive", "nonnegative"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputError("expected a finite number", source, where)
        if kind == "positive" and value <= 0:
            raise InputError("must be greater than 0", source, where)
        if kind == "nonnegative" and value < 0:
            raise InputError("must not be negative", source, where)
        return float(value) if isinstance(value, float) else value
    if kind == "checks":  # plausibility checks accepted by name (sanity.CHECKS)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError("expected a list of check names", source, where)
        unknown = sorted(set(value) - set(CHECKS))
        if unknown:
            raise InputError(f"unknown check(s) {', '.join(unknown)}; known: {', '.join(sorted(CHECKS))}", source,
                             where)
        return sorted(set(value))
    raise AssertionError(kind)


def _check_object(value: dict, spec: dict, where: str, base: Path, source: Path) -> dict:
    prefix = f"{where}." if where else ""
    unknown = sorted(set(value) - set(spec))
    if unknown:
        raise InputError(f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(spec)})", source,
                         prefix + unknown[0])
    out = {}
    for key, (kind, required) in spec.items():
        if key not in value or value[key] is None:
            if required:
                raise InputError("missing required field", source, prefix + key)
            continue
        out[key] = _check(value[key], kind, prefix + key, base, source)
    return out


def read_manifest(path: str | os.PathLike) -> Manifest:
    """Read and validate a manifest; paths come back absolute."""
    path = Path(path)
    raw = read_json(path, "manifest")
    if not isinstance(raw, dict):
        raise InputError("a manifest is a JSON object", path)
    data = _check_object(raw, _MANIFEST, "", path.parent.resolve(), path)
    if data["manifest_version"] != MANIFEST_VERSION:
        raise InputError(f"unsupported manifest version {data['manifest_version']} (this software reads "
                         f"{MANIFEST_VERSION})", path, "manifest_version")
    if "uptake" not in data and "dosimetry" not in data and "followup" not in data:
        raise InputError("nothing to do: give 'uptake', 'dosimetry', 'followup' or several", path)
    if "followup" in data:
        check_followup(data, path)
    return Manifest(path.resolve(), data)
