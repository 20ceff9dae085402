"""The cohort batch: every patient manifest of a folder, in parallel processes.

A failing patient does not stop the batch: it is reported with its error in cohort.csv and the
summary. Outputs (OUT_DIR):

- ``<patient id>/``: each patient's own results (see :mod:`iahepaticprrt.study.pipeline`);
- ``cohort.csv``: one row per patient and VOI (tidy format), values copied from each patient's
  results.json; a failed patient has one row with ``status`` = ``error`` and the message;
- ``cohort_summary.json``: mean enhancement ratio with its 95 % confidence interval, paired
  Wilcoxon tests intra-arterial versus intravenous per VOI kind, absorbed doses per organ.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.parse
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from ..errors import InputError
from ..io.output_files import check_output_folder, output_folder, write_csv, write_json
from .cohort_statistics import describe, mean_with_confidence_interval, paired_wilcoxon

#: cohort.csv columns, in order (units in the names).
COHORT_COLUMNS = [
    "patient_id", "status", "error", "manifest", "mean_enhancement_ratio", "eligible", "threshold", "metric",
    "voi", "role", "ia_suv_max", "iv_suv_max", "ia_suv_peak", "iv_suv_peak", "ia_suv_mean", "iv_suv_mean",
    "ia_volume_ml", "iv_volume_ml", "enhancement_ratio",
    "mass_g", "model", "tia_mbqh", "tia_uncertainty_mbqh", "residence_time_h", "absorbed_dose_gy",
    "absorbed_dose_uncertainty_gy", "d2_gy", "d50_gy", "d98_gy", "bed_gy", "absorbed_dose_method",
]


def find_manifests(cohort_dir: str | os.PathLike) -> list[Path]:
    """Manifests of a cohort folder: ``*.json`` files directly inside it, or ``*/manifest.json``."""
    cohort_dir = Path(cohort_dir)
    if not cohort_dir.is_dir():
        raise InputError("cohort folder not found", cohort_dir)
    manifests = sorted(p for p in cohort_dir.glob("*.json") if p.is_file())
    manifests += sorted(p for p in cohort_dir.glob("*/manifest.json") if p.is_file())
    if not manifests:
        raise InputError("no manifests (*.json or */manifest.json)", cohort_dir)
    return manifests


def patient_folders(manifests: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Each manifest's output folder name, and the manifests refused because another manifest of the
    cohort has the same patient (their error). Names compare case-insensitively: two folders that
    differ only by case are one folder on macOS and Windows."""
    from .pipeline import output_folder_name

    folders: dict[str, str] = {}
    refused: dict[str, str] = {}
    owner: dict[str, str] = {}
    for manifest in manifests:
        name = output_folder_name(manifest)
        if name.lower() in owner:
            refused[manifest] = (f"error: the patient's output folder '{name}' is also that of {owner[name.lower()]} "
                                 "(the same patient ID twice in the cohort?): each patient once")
            continue
        owner[name.lower()] = manifest
        folders[manifest] = name
    return folders, refused


def _run_one(manifest: str, output_root: str, folder_name: str) -> dict:
    """Worker: run one patient; never raises (the error is returned)."""
    from .pipeline import run_patient

    try:
        folder = Path(output_root) / folder_name
        results = run_patient(manifest, folder)
        return {"manifest": manifest, "status": "ok", "results": results, "output": str(folder)}
    except Exception as exc:  # a failing patient must not stop the cohort
        kind = "error" if isinstance(exc, InputError) else f"error ({type(exc).__name__})"
        return {"manifest": manifest, "status": "error", "error": f"{kind}: {exc}"}


def cohort_rows(outcomes: list[dict]) -> list[dict]:
    """Rows of cohort.csv from the per-patient outcomes."""
    rows = []
    for outcome in outcomes:
        base = {"manifest": outcome["manifest"], "status": outcome["status"], "error": outcome.get("error", "")}
        results = outcome.get("results") or {}
        base["patient_id"] = results.get("patient_id") or Path(outcome["manifest"]).stem
        if outcome["status"] != "ok":
            rows.append(base)
            continue
        uptake = results.get("uptake") or {}
        dosimetry = results.get("dosimetry") or {}
        base.update(mean_enhancement_ratio=uptake.get("mean_enhancement_ratio"), eligible=uptake.get("eligible"),
                    threshold=uptake.get("threshold"), metric=uptake.get("metric"))
        vois: dict[str, dict] = {}
        for v in uptake.get("vois", []):
            ia, iv = v.get("ia") or {}, v.get("iv") or {}
            row = vois.setdefault(v["name"], dict(base, voi=v["name"], role=v.get("role")))
            for key in ("suv_max", "suv_peak", "suv_mean", "volume_ml"):
                row[f"ia_{key}"], row[f"iv_{key}"] = ia.get(key), iv.get(key)
            row["enhancement_ratio"] = v.get("enhancement_ratio")
        for v in dosimetry.get("vois", []):
            row = vois.setdefault(v["name"], dict(base, voi=v["name"], role=v.get("role")))
            for key in ("mass_g", "model", "tia_mbqh", "tia_uncertainty_mbqh", "residence_time_h", "absorbed_dose_gy",
                        "absorbed_dose_uncertainty_gy", "d2_gy", "d50_gy", "d98_gy", "bed_gy", "absorbed_dose_method"):
                row[key] = v.get(key)
        rows.extend(vois.values() or [base])
    return rows


def cohort_summary(outcomes: list[dict]) -> dict:
    """Mean enhancement ratio (95 % CI), paired Wilcoxon IA vs IV per VOI kind, doses per organ."""
    ok = [o for o in outcomes if o["status"] == "ok"]
    ratios = [(o["results"].get("uptake") or {}).get("mean_enhancement_ratio") for o in ok]
    by_kind: dict[str, tuple[list, list]] = {}
    doses: dict[str, list] = {}
    for o in ok:
        uptake = o["results"].get("uptake") or {}
        metric = uptake.get("metric", "suv_max")
        for v in uptake.get("vois", []):
            kind = v.get("role") if v.get("role") in ("target_lesion", "extrahepatic_lesion") else v["name"]
            ia_list, iv_list = by_kind.setdefault(kind, ([], []))
            ia_list.append((v.get("ia") or {}).get(metric))
            iv_list.append((v.get("iv") or {}).get(metric))
        for v in (o["results"].get("dosimetry") or {}).get("vois", []):
            doses.setdefault(v["name"], []).append(v.get("absorbed_dose_gy"))
    return {
        "patients": len(outcomes), "succeeded": len(ok),
        "failed": [{"manifest": o["manifest"], "error": o["error"]} for o in outcomes if o["status"] != "ok"],
        "mean_enhancement_ratio": mean_with_confidence_interval(ratios),
        "eligible_patients": sum(1 for o in ok if (o["results"].get("uptake") or {}).get("eligible")),
        "paired_wilcoxon_ia_vs_iv": {kind: paired_wilcoxon(*values) for kind, values in by_kind.items()},
        "absorbed_dose_gy_per_voi": {name: describe(values) for name, values in doses.items()},
    }


def _progress(done: int, total: int, label: str, stream=sys.stderr) -> None:
    if not stream.isatty():  # a log file gets one line per patient, not carriage returns
        stream.write(f"{done}/{total} {label}\n")
        stream.flush()
        return
    width = 30
    filled = int(width * done / max(total, 1))
    stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label[:50]:<50}")
    if done == total:
        stream.write("\n")
    stream.flush()


def run_batch(cohort_dir: str | os.PathLike, output: str | os.PathLike, workers: int | None = None,
              progress: bool = True) -> dict:
    """Run every manifest; write cohort.csv and cohort_summary.json; return the summary."""
    manifests = [str(p) for p in find_manifests(cohort_dir)]
    output = check_output_folder(output)
    folders, refused = patient_folders(manifests)
    workers = workers or max(1, min(len(folders), os.cpu_count() or 1))
    started = time.perf_counter()
    outcomes: list[dict] = [{"manifest": m, "status": "error", "error": error} for m, error in refused.items()]
    with output_folder(output):
        if workers == 1:
            for manifest, name in folders.items():
                outcomes.append(_run_one(manifest, str(output), name))
                if progress:
                    _progress(len(outcomes), len(manifests), urllib.parse.unquote(name))
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = {pool.submit(_run_one, m, str(output), name): name for m, name in folders.items()}
                for future in as_completed(futures):
                    outcomes.append(future.result())
                    if progress:
                        _progress(len(outcomes), len(manifests), urllib.parse.unquote(futures[future]))
        outcomes.sort(key=lambda o: o["manifest"])
        write_csv(output / "cohort.csv", cohort_rows(outcomes), COHORT_COLUMNS)
        summary = cohort_summary(outcomes)
        summary["elapsed_s"] = time.perf_counter() - started
        write_json(output / "cohort_summary.json", summary)
    return summary
