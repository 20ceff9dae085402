"""The cohort batch: every patient manifest of a folder, in parallel processes.

A failing patient does not stop the batch: it is reported with its error in cohort.csv and the
summary. Outputs (OUT_DIR):

- ``<patient id>/``: each patient's own results (see :mod:`iahepaticprrt.study.pipeline`);
- ``cohort.csv``: one row per patient and VOI (tidy format), values copied from each patient's
  results.json; a failed patient has one row with ``status`` = ``error`` and the message;
- ``cohort_summary.json``: patient-level statistics (the patient is the unit of analysis of every
  test; docs/physics.md section 25): the primary comparison on the patients' mean log enhancement
  ratios (Wilcoxon signed-rank, Hodges-Lehmann estimate with its exact interval), the mean of the
  patients' mean ratios (Student-t and cluster-bootstrap intervals), the eligible patients
  (Clopper-Pearson), paired IA versus IV tests per VOI kind on per-patient means, the agreement of
  predicted and delivered lesion doses (Bland-Altman on log doses), absorbed doses per VOI, and the
  same per site. ``tests`` lists every test with its unit of analysis and n; ``absorbed_dose_gy_per_role``
  describes the per-VOI doses by VOI role (:data:`DOSE_ROLES`); ``outputs`` lists the three cohort files;
- ``cohort_report.html``: the cohort report a trial physician reads (:mod:`iahepaticprrt.report.cohort_report`),
  showing the numbers of cohort_summary.json and of the patients' results, linked to each patient's report.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import urllib.parse
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from ..errors import InputError
from ..imaging.voi_roles import role_of
from ..io.output_files import atomic_path, check_output_folder, output_folder, write_csv, write_json
from ..report.cohort_report import patient_id_of
from .cohort_statistics import (
    bland_altman_log,
    clopper_pearson,
    cluster_bootstrap_mean,
    describe,
    hodges_lehmann,
    mean_with_confidence_interval,
    paired_wilcoxon,
    wilcoxon_one_sample,
)

#: cohort.csv columns, in order (units in the names).
COHORT_COLUMNS = [
    "patient_id", "status", "error", "manifest", "site", "mean_enhancement_ratio", "mean_enhancement_ratio_ci_low",
    "mean_enhancement_ratio_ci_high", "probability_mean_at_least_threshold", "borderline", "eligible", "threshold",
    "metric", "voi", "role", "ia_suv_max", "iv_suv_max", "ia_suv_peak", "iv_suv_peak", "ia_suv_mean", "iv_suv_mean",
    "ia_volume_ml", "iv_volume_ml", "enhancement_ratio", "enhancement_ratio_suv_max", "enhancement_ratio_suv_peak",
    "enhancement_ratio_ci_low", "enhancement_ratio_ci_high",
    "mass_g", "model", "tia_mbqh", "tia_uncertainty_mbqh", "residence_time_h", "absorbed_dose_gy",
    "absorbed_dose_uncertainty_gy", "d2_gy", "d50_gy", "d98_gy", "bed_gy", "absorbed_dose_method",
    "iv_dose_gy", "predicted_ia_dose_gy", "delivered_ia_dose_gy", "delivered_to_predicted_ratio",
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


def _deidentify_setting(manifest: str) -> bool:
    """The manifest's ``report.deidentify``; True when the manifest cannot be read (its error then
    names only the manifest, and the cohort report errs on the side of showing less)."""
    try:
        data = json.loads(Path(manifest).read_text(encoding="utf-8"))
        return bool((data.get("report") or {}).get("deidentify", False))
    except Exception:
        return True


def cohort_rows(outcomes: list[dict]) -> list[dict]:
    """Rows of cohort.csv from the per-patient outcomes."""
    rows = []
    for outcome in outcomes:
        base = {"manifest": outcome["manifest"], "status": outcome["status"], "error": outcome.get("error", "")}
        results = outcome.get("results") or {}
        base["patient_id"] = patient_id_of(outcome)
        if outcome["status"] != "ok":
            rows.append(base)
            continue
        uptake = results.get("uptake") or {}
        dosimetry = results.get("dosimetry") or {}
        base["site"] = _site_of(results)
        for key in ("mean_enhancement_ratio", "mean_enhancement_ratio_ci_low", "mean_enhancement_ratio_ci_high",
                    "probability_mean_at_least_threshold", "borderline", "eligible", "threshold", "metric"):
            base[key] = uptake.get(key)
        vois: dict[str, dict] = {}
        metric = uptake.get("metric", "suv_max")
        for v in uptake.get("vois", []):
            ia, iv = v.get("ia") or {}, v.get("iv") or {}
            row = vois.setdefault(v["name"], dict(base, voi=v["name"], role=v.get("role")))
            for key in ("suv_max", "suv_peak", "suv_mean", "volume_ml"):
                row[f"ia_{key}"], row[f"iv_{key}"] = ia.get(key), iv.get(key)
            row["enhancement_ratio"] = v.get("enhancement_ratio")
            row["enhancement_ratio_suv_max"] = v.get("enhancement_ratio_suv_max")
            row["enhancement_ratio_suv_peak"] = v.get("enhancement_ratio_suv_peak")
            interval = (v.get("enhancement_ratio_interval") or {}).get(metric) or {}
            row["enhancement_ratio_ci_low"], row["enhancement_ratio_ci_high"] = interval.get("ci_low"), interval.get("ci_high")
        for v in dosimetry.get("vois", []):
            row = vois.setdefault(v["name"], dict(base, voi=v["name"], role=v.get("role")))
            for key in ("mass_g", "model", "tia_mbqh", "tia_uncertainty_mbqh", "residence_time_h", "absorbed_dose_gy",
                        "absorbed_dose_uncertainty_gy", "d2_gy", "d50_gy", "d98_gy", "bed_gy", "absorbed_dose_method"):
                row[key] = v.get(key)
        comparison = results.get("predicted_vs_delivered") or {}
        for entry in comparison.get("lesions", []):
            row = vois.setdefault(entry["name"], dict(base, voi=entry["name"], role=entry.get("role")))
            row["iv_dose_gy"] = entry.get("iv_dose_gy")
            row["predicted_ia_dose_gy"] = entry.get("predicted_ia_dose_gy")
            row["delivered_ia_dose_gy"] = entry.get("delivered_ia_dose_gy")
            row["delivered_to_predicted_ratio"] = entry.get("delivered_to_predicted_ratio")
        for entry in comparison.get("organs", []):
            row = vois.setdefault(entry["name"], dict(base, voi=entry["name"], role="organ"))
            row["iv_dose_gy"] = entry.get("iv_dose_gy")
            row["delivered_ia_dose_gy"] = entry.get("ia_dose_gy")
        rows.extend(vois.values() or [base])
    return rows


#: Site label of patients whose manifest names no site.
NO_SITE = "(no site given)"


def _site_of(results: dict) -> str:
    return ((results.get("site") or {}).get("name")) or NO_SITE


def _patient_log_ratio(uptake: dict) -> float | None:
    """The patient's primary value: the mean over the target lesions in the mean of ln(enhancement ratio)."""
    names = set(uptake.get("target_lesions_in_mean") or [])
    logs = [math.log(v["enhancement_ratio"]) for v in uptake.get("vois", [])
            if v.get("name") in names and (v.get("enhancement_ratio") or 0) > 0]
    return sum(logs) / len(logs) if logs else None


def _kind_of(voi: dict) -> str:
    return voi.get("role") if voi.get("role") in ("target_lesion", "extrahepatic_lesion") else voi["name"]


def _per_patient_kind_means(ok: list[dict]) -> dict[str, tuple[list, list]]:
    """Per VOI kind, one (IA, IV) pair per patient: the mean of that patient's VOIs of the kind."""
    by_kind: dict[str, tuple[list, list]] = {}
    for o in ok:
        uptake = o["results"].get("uptake") or {}
        metric = uptake.get("metric", "suv_max")
        mine: dict[str, tuple[list, list]] = {}
        for v in uptake.get("vois", []):
            ia, iv = (v.get("ia") or {}).get(metric), (v.get("iv") or {}).get(metric)
            if ia is None or iv is None:
                continue
            pair = mine.setdefault(_kind_of(v), ([], []))
            pair[0].append(ia)
            pair[1].append(iv)
        for kind, (ia, iv) in mine.items():
            lists = by_kind.setdefault(kind, ([], []))
            lists[0].append(sum(ia) / len(ia))
            lists[1].append(sum(iv) / len(iv))
    return by_kind


#: VOI roles of the cohort's absorbed-dose description and the cohort report's dose plot: (key, label,
#: organs), organs None for a lesion role (the results' ``role``), else the results' ``organ`` names.
DOSE_ROLES = (
    ("target_lesion", "Target lesions", None),
    ("extrahepatic_lesion", "Extrahepatic lesions", None),
    ("kidneys", "Kidneys", ("kidneys", "left_kidney", "right_kidney")),
    ("liver", "Liver (whole)", ("liver",)),
    ("healthy_liver", "Healthy liver", ("healthy_liver",)),
    ("spleen", "Spleen", ("spleen",)),
    ("bone_marrow", "Bone marrow", ("bone_marrow",)),
)


def dose_by_role(ok: list[dict]) -> dict[str, dict]:
    """Per VOI role of :data:`DOSE_ROLES`, every VOI's absorbed dose: ``{"label", "points": [(patient id,
    VOI name, absorbed_dose_gy)]}``, in the patients' order. A VOI's role and organ are those of its
    results (from its name when the results do not say)."""
    groups = {key: {"label": label, "points": []} for key, label, _ in DOSE_ROLES}
    for o in ok:
        for v in (o["results"].get("dosimetry") or {}).get("vois", []):
            fallback = role_of(v.get("name", ""))
            role, organ = v.get("role") or fallback.role, v.get("organ") or fallback.organ
            for key, _, organs in DOSE_ROLES:
                if (organs is None and role == key) or (organs is not None and role == "organ" and organ in organs):
                    groups[key]["points"].append((patient_id_of(o), v.get("name"), v.get("absorbed_dose_gy")))
                    break
    return groups


def _describe_roles(ok: list[dict]) -> dict[str, dict]:
    described = {}
    for key, group in dose_by_role(ok).items():
        doses = [dose for _, _, dose in group["points"]]
        described[key] = {"label": group["label"], "unit_of_analysis": "VOI (descriptive only: no test)",
                          "n_patients": len({pid for pid, _, dose in group["points"] if dose is not None}),
                          **describe(doses)}
    return described


def _endpoints(ok: list[dict], label: str) -> tuple[dict, list[dict]]:
    """The patient-level statistics of a group of patients, and the list of its tests."""
    uptakes = [o["results"].get("uptake") or {} for o in ok]
    with_uptake = [u for u in uptakes if u]
    metric = next((u.get("metric") for u in with_uptake), "suv_max")
    logs = [_patient_log_ratio(u) for u in with_uptake]
    logs = [x for x in logs if x is not None]
    test = wilcoxon_one_sample(logs)
    hl = hodges_lehmann(logs)
    for key in ("estimate", "ci_low", "ci_high"):
        hl[f"{key}_ratio"] = None if hl[key] is None else math.exp(hl[key])
    ratios = [u.get("mean_enhancement_ratio") for u in with_uptake]
    mean = mean_with_confidence_interval(ratios)
    mean["unit_of_analysis"] = "patient"
    mean["cluster_bootstrap"] = cluster_bootstrap_mean(ratios)
    decided = [u for u in with_uptake if u.get("eligible") is not None]
    eligible = clopper_pearson(sum(1 for u in decided if u["eligible"]), len(decided))
    eligible["unit_of_analysis"] = "patient"
    eligible["borderline_patients"] = sum(1 for u in decided if u.get("borderline"))
    primary = {
        "definition": f"per patient: the mean over the target lesions of ln(enhancement ratio) ({metric} IA / IV); "
                      "0 means no difference between the routes",
        "metric": metric, "unit_of_analysis": "patient", "n": len(logs),
        "wilcoxon_signed_rank": {**test, "null_hypothesis": "median patient mean log ratio = 0 (IA = IV)",
                                 "alternative": "two-sided", "unit_of_analysis": "patient"},
        "hodges_lehmann": {**hl, "unit_of_analysis": "patient",
                           "note": "estimate and interval of the patients' mean log ratio; *_ratio = exp (a "
                                   "geometric-mean enhancement ratio)"},
    }
    kinds = _per_patient_kind_means(ok)
    paired = {}
    for kind, values in kinds.items():
        result = paired_wilcoxon(*values)
        result.update(unit_of_analysis="patient", n=result["n_pairs"],
                      pairs="one per patient: the mean of that patient's VOIs of this kind, IA and IV")
        paired[kind] = result
    tests = [{"test": "Wilcoxon signed-rank, patients' mean log enhancement ratio vs 0", "group": label,
              "unit_of_analysis": "patient", "n": test["n"], "p_value": test["p_value"]},
             {"test": "Hodges-Lehmann estimate with exact interval, patients' mean log enhancement ratio",
              "group": label, "unit_of_analysis": "patient", "n": hl["n"]},
             {"test": "Student-t and cluster (patient) bootstrap intervals of the mean of the patients' mean ratios",
              "group": label, "unit_of_analysis": "patient", "n": mean["n"]},
             {"test": "Clopper-Pearson interval of the proportion of eligible patients", "group": label,
              "unit_of_analysis": "patient", "n": eligible["n"]}]
    tests += [{"test": f"Wilcoxon signed-rank, IA vs IV {metric}, {kind} (per-patient means)", "group": label,
               "unit_of_analysis": "patient", "n": r["n"], "p_value": r["p_value"]} for kind, r in paired.items()]
    return {"patients": len(ok), "primary_endpoint": primary, "mean_enhancement_ratio": mean,
            "eligibility": eligible, "paired_wilcoxon_ia_vs_iv": paired}, tests


def cohort_summary(outcomes: list[dict]) -> dict:
    """Patient-level cohort statistics (see the module docstring), overall and per site."""
    ok = [o for o in outcomes if o["status"] == "ok"]
    overall, tests = _endpoints(ok, "all patients")
    doses: dict[str, list] = {}
    agreement: dict[str, list] = {}
    for o in ok:
        for v in (o["results"].get("dosimetry") or {}).get("vois", []):
            doses.setdefault(v["name"], []).append(v.get("absorbed_dose_gy"))
        comparison = o["results"].get("predicted_vs_delivered") or {}
        pairs = [(e.get("predicted_ia_dose_gy"), e.get("delivered_ia_dose_gy")) for e in comparison.get("lesions", [])]
        if pairs:
            agreement[o["results"].get("patient_id") or o["manifest"]] = pairs
    bland_altman = bland_altman_log(agreement)
    if bland_altman["n"]:
        tests.append({"test": "Bland-Altman agreement of delivered and predicted lesion doses (log doses)",
                      "group": "all patients", "unit_of_analysis": bland_altman["unit_of_analysis"],
                      "n": bland_altman["n"], "n_patients": bland_altman["n_patients"]})
    sites: dict[str, list] = {}
    for o in ok:
        sites.setdefault(_site_of(o["results"]), []).append(o)
    by_site = {}
    for site, members in sorted(sites.items()):
        by_site[site], site_tests = _endpoints(members, f"site {site}")
        tests.extend(site_tests)
    summary = {
        "patients": len(outcomes), "succeeded": len(ok),
        "failed": [{"manifest": o["manifest"], "error": o["error"]} for o in outcomes if o["status"] != "ok"],
        "unit_of_analysis": "patient (every test takes one value per patient, or resamples patients)",
        **{key: overall[key] for key in ("primary_endpoint", "mean_enhancement_ratio", "eligibility",
                                         "paired_wilcoxon_ia_vs_iv")},
        "eligible_patients": overall["eligibility"]["count"],
        "predicted_vs_delivered": {"bland_altman_log_dose": bland_altman},
        "absorbed_dose_gy_per_voi": {name: describe(values) for name, values in doses.items()},
        "absorbed_dose_gy_per_role": _describe_roles(ok),
        "by_site": by_site,
        "tests": tests,
    }
    return summary


def _add_followup(summary: dict, outcomes: list[dict], output: Path) -> None:
    """The cohort's follow-up (PFS, responses, dose-response) and its CSV files, when patients have one."""
    from .followup_cohort import cohort_followup, write_cohort_followup_files

    followup = cohort_followup(outcomes)
    if followup is not None:
        followup["files"] = write_cohort_followup_files(output, outcomes, followup)
        summary["followup"] = followup


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
    """Run every manifest; write cohort.csv, cohort_summary.json and cohort_report.html (all three
    prepared before any is written); return the summary."""
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
        for o in outcomes:  # what the cohort report needs beyond the results: the folder it links to
            o.update(patient_id=patient_id_of(o), folder=folders.get(o["manifest"]),
                     deidentify=_deidentify_setting(o["manifest"]))
        rows = cohort_rows(outcomes)
        summary = cohort_summary(outcomes)
        _add_followup(summary, outcomes, output)
        summary["elapsed_s"] = time.perf_counter() - started
        summary["outputs"] = {"cohort_csv": str(output / "cohort.csv"),
                              "cohort_summary_json": str(output / "cohort_summary.json"),
                              "cohort_report_html": str(output / "cohort_report.html")}
        from ..report.cohort_report import render_cohort_report

        from .followup_cohort import lesion_rows_by_visit

        html = render_cohort_report(summary, outcomes, dose_by_role([o for o in outcomes if o["status"] == "ok"]),
                                    cohort_dir=cohort_dir, output_dir=output, workers=workers,
                                    followup_lesion_rows=lesion_rows_by_visit(outcomes) if summary.get("followup")
                                    else None)
        write_csv(output / "cohort.csv", rows, COHORT_COLUMNS)
        write_json(output / "cohort_summary.json", summary)
        with atomic_path(output / "cohort_report.html") as tmp:
            tmp.write_text(html, encoding="utf-8")
    return summary
