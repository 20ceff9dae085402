"""The ``kinetics`` command's work: read a TAC table, fit each VOI, write kinetics.json.

TAC CSV: one row per VOI and time point, columns ``voi,time_h,activity_mbq`` and optionally
``mass_g`` (one value per VOI; gives the absorbed dose by local deposition, 0.08532 x TIA / m) and
``activity_uncertainty_mbq`` (standard uncertainty of each activity; weights the fit and makes its
covariance absolute).
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.text_files import open_text
from ..version import __version__
from . import kinetics
from .conservation import check_administered_activity, check_tia
from .lu177 import DECAY_CONSTANT_PER_H, HALF_LIFE_H, LDM_GY_G_PER_MBQH

REQUIRED = ("voi", "time_h", "activity_mbq")


def _number(text, path, line, column) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise InputError(f"line {line}: '{text}' is not a number", path, column) from None
    if not math.isfinite(value):
        raise InputError(f"line {line}: non-finite value", path, column)
    return value


def read_tac_csv(path: str | os.PathLike) -> dict[str, dict]:
    """VOI name -> {"time_h": [...], "activity_mbq": [...], "uncertainty_mbq": [...] or None, "mass_g": float or None},
    in file order."""
    path = Path(path)
    if not path.is_file():
        raise InputError("TAC file not found", path)
    vois: dict[str, dict] = {}
    with open_text(path, "TAC file") as f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED if c not in columns]
        if missing:
            raise InputError(f"missing column(s) {', '.join(missing)} (need voi,time_h,activity_mbq[,mass_g])", path,
                             "header")
        with_mass, with_u = "mass_g" in columns, "activity_uncertainty_mbq" in columns
        for line, row in enumerate(reader, start=2):
            row = {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k}
            name = row.get("voi") or ""
            if not name:
                raise InputError(f"line {line}: empty VOI name", path, "voi")
            entry = vois.setdefault(name, {"time_h": [], "activity_mbq": [], "uncertainty_mbq": [] if with_u else None,
                                           "mass_g": None})
            entry["time_h"].append(_number(row.get("time_h"), path, line, "time_h"))
            entry["activity_mbq"].append(_number(row.get("activity_mbq"), path, line, "activity_mbq"))
            if with_u:
                entry["uncertainty_mbq"].append(_number(row.get("activity_uncertainty_mbq"), path, line,
                                                        "activity_uncertainty_mbq"))
            if with_mass and row.get("mass_g") not in (None, ""):
                mass = _number(row.get("mass_g"), path, line, "mass_g")
                if mass <= 0:
                    raise InputError(f"line {line}: mass must be positive", path, "mass_g")
                if entry["mass_g"] is not None and abs(entry["mass_g"] - mass) > 1e-9 * mass:
                    raise InputError(f"line {line}: VOI '{name}' has two different masses", path, "mass_g")
                entry["mass_g"] = mass
    if not vois:
        raise InputError("no rows", path)
    return vois


def fit_vois(vois: dict, administered_mbq: float, model: str = "auto", residual_mbq: float = 0.0,
             calibration_uncertainty_percent: float = 0.0, activity_uncertainty_percent: float | None = None,
             clamp: bool = True, trapezoid_start: str = "zero", source=None, accept=frozenset()) -> dict:
    """Fit every VOI; per-VOI problems that leave the others valid become warnings. A VOI holding more
    activity than was administered stops the whole table (a unit slip, :mod:`.conservation`)."""
    if not (math.isfinite(administered_mbq) and administered_mbq > 0):
        raise InputError(f"administered activity must be positive, got {administered_mbq}", "--administered-mbq")
    if not (math.isfinite(residual_mbq) and 0 <= residual_mbq < administered_mbq):
        raise InputError("residual activity must be >= 0 and below the administered activity", "--residual-mbq")
    if activity_uncertainty_percent is not None and not activity_uncertainty_percent > 0:
        raise InputError("activity uncertainty must be > 0 %", "--activity-uncertainty-percent")
    net = administered_mbq - residual_mbq
    rows, warnings = [], []
    check_administered_activity(administered_mbq, "--administered-mbq", accept, warnings)
    for name, entry in vois.items():
        t = np.asarray(entry["time_h"], dtype=float)
        a = np.asarray(entry["activity_mbq"], dtype=float)
        u = None if entry["uncertainty_mbq"] is None else np.asarray(entry["uncertainty_mbq"], dtype=float)
        if u is None and activity_uncertainty_percent is not None:
            u = np.maximum(a * activity_uncertainty_percent / 100.0, 1e-9 * max(float(np.max(a)), 1e-9))
        row = {"name": name, "tac": [{"time_h": float(ti), "activity_mbq": float(ai)} for ti, ai in zip(t, a)],
               "mass_g": entry["mass_g"], "warnings": []}
        rows.append(row)
        kinetics.validate_tac(t, a, u, source, name)
        if not np.any(a > 0):
            row["warnings"].append("zero activity at every time point: TIA not computed")
            row.update({"model": None, "tia_mbqh": None, "tia_uncertainty_mbqh": None, "residence_time_h": None,
                        "absorbed_dose_gy": None})
            warnings.append(f"{name}: {row['warnings'][-1]}")
            continue
        fit = kinetics.fit_tac(model, t, a, u, clamp, name, source, trapezoid_start)
        tia_u, components = kinetics.combine_uncertainty(fit.tia_mbqh, fit.tia_fit_uncertainty_mbqh,
                                                         calibration_uncertainty_percent / 100.0)
        row.update({
            "model": fit.model, "formula": fit.formula, "parameters": fit.parameters,
            "parameter_uncertainties": fit.parameter_uncertainties, "aicc": fit.aicc,
            "clamped_to_physical_decay": fit.clamped, "tia_mbqh": fit.tia_mbqh, "tia_uncertainty_mbqh": tia_u,
            "tia_uncertainty_components": components, "fit_uncertainty_source": fit.uncertainty_source,
            "residence_time_h": fit.tia_mbqh / net,
            "residence_time_uncertainty_h": None if tia_u is None else tia_u / net,
            "absorbed_dose_gy": None if entry["mass_g"] is None else LDM_GY_G_PER_MBQH * fit.tia_mbqh / entry["mass_g"],
        })
        if entry["mass_g"] is not None:
            row["absorbed_dose_uncertainty_gy"] = None if tia_u is None else LDM_GY_G_PER_MBQH * tia_u / entry["mass_g"]
            row["absorbed_dose_method"] = (f"{fit.model} fit of the time-activity curve; local deposition of the "
                                           "electron energy in the VOI's mass: 0.08532 Gy g/(MBq h) x TIA / mass_g")
        row["warnings"].extend(fit.warnings)
        warnings.extend(f"{name}: {w}" for w in fit.warnings)
        check_tia(name, fit.tia_mbqh, net, source, accept, warnings)
    return {
        "software": {"name": "IAHepaticPRRT", "version": __version__},
        "administered_activity_mbq": administered_mbq, "residual_activity_mbq": residual_mbq,
        "net_administered_activity_mbq": net, "model": model,
        "radionuclide": {"name": "Lu-177", "half_life_h": HALF_LIFE_H, "decay_constant_per_h": DECAY_CONSTANT_PER_H,
                         "source": "ICRP 107"},
        "ldm_constant_gy_g_per_mbqh": LDM_GY_G_PER_MBQH,
        "clamp_to_physical_decay": clamp, "calibration_uncertainty_percent": calibration_uncertainty_percent,
        "vois": rows, "warnings": warnings,
    }


def run_kinetics(tac_csv, out_dir, administered_mbq: float, model: str = "auto", residual_mbq: float = 0.0,
                 calibration_uncertainty_percent: float = 0.0, activity_uncertainty_percent: float | None = None,
                 clamp: bool = True, trapezoid_start: str = "zero", accept=frozenset()) -> dict:
    """Read, fit every VOI (all or nothing), then write OUT_DIR/kinetics.json; return a short summary."""
    from ..io.output_files import output_folder, write_json

    if not (math.isfinite(calibration_uncertainty_percent) and calibration_uncertainty_percent >= 0):
        raise InputError("calibration uncertainty must be >= 0 %", "--calibration-uncertainty-percent")
    vois = read_tac_csv(tac_csv)
    report = fit_vois(vois, administered_mbq, model, residual_mbq, calibration_uncertainty_percent,
                      activity_uncertainty_percent, clamp, trapezoid_start, str(tac_csv), accept)
    report["input"] = str(tac_csv)
    path = Path(out_dir) / "kinetics.json"
    with output_folder(out_dir):
        write_json(path, report)
    return {"output": str(path), "vois": [{"name": r["name"], "model": r.get("model"), "tia_mbqh": r.get("tia_mbqh"),
                                           "residence_time_h": r.get("residence_time_h")} for r in report["vois"]],
            "warnings": report["warnings"]}
