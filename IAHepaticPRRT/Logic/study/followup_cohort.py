"""The cohort's follow-up: Kaplan-Meier estimate of progression-free survival (95 % band, median,
18-month rate with their intervals), best overall responses, and the lesions' dose-response per
visit pooled over patients. Written by the batch into ``cohort_summary.json["followup"]`` and four
CSV files for the statistician. docs/physics.md sections 31 and 32.

Visits of different patients are pooled by their name in the manifests (the protocol's schedule,
e.g. "month 3"). At later visits only the patients still followed contribute: those who progressed
earlier have left (docs/physics.md section 32).
"""

from __future__ import annotations

from pathlib import Path

from ..followup.dose_response import dose_response
from ..followup.recist import BEST_ORDER, NE
from ..followup.survival import LANDMARK_MONTHS, kaplan_meier
from ..followup.volumetric import RESPONDING
from .followup_run import CSV_COLUMNS, csv_rows

PFS_COLUMNS = ["patient_id", "pfs_months", "pfs_event", "pfs_event_type", "progressed", "died",
               "best_overall_response", "progression_visit", "start_date", "last_contact"]
KM_COLUMNS = ["time_months", "at_risk", "events", "censored", "survival", "ci_low", "ci_high"]
DOSE_RESPONSE_COLUMNS = ["visit", "dose", "n_lesions", "n_patients", "spearman_rho", "spearman_p_value",
                         "logistic_d50_gy", "logistic_d50_ci_low_gy", "logistic_d50_ci_high_gy", "logistic_slope_per_gy",
                         "logistic_p_value", "logistic_note", "roc_auc", "roc_auc_ci_low", "roc_auc_ci_high",
                         "roc_p_value"]


def _reports(outcomes: list[dict]) -> list[dict]:
    return [o["results"]["followup"] for o in outcomes
            if o.get("status") == "ok" and (o.get("results") or {}).get("followup")]


def _visit_order(reports: list[dict]) -> list[str]:
    """Visit names ordered by their median month over the patients."""
    months: dict[str, list[float]] = {}
    for report in reports:
        for visit in report["visits"]:
            months.setdefault(visit["name"], []).append(visit["months_after_start"])
    return sorted(months, key=lambda name: (sorted(months[name])[len(months[name]) // 2], name))


def lesion_rows(reports: list[dict], visit: str) -> list[dict]:
    """Every evaluated lesion of every patient at ``visit`` with its doses and volume change."""
    rows = []
    for report in reports:
        for lesion in report["lesions"]:
            for entry in lesion["course"]:
                if entry["visit"] == visit and entry["volumetric_response"] != NE:
                    rows.append({"patient_id": report.get("patient_id", ""), "lesion": lesion["name"],
                                 "absorbed_dose_gy": lesion["absorbed_dose_gy"],
                                 "cumulative_absorbed_dose_gy": lesion["cumulative_absorbed_dose_gy"],
                                 "volume_change_percent": entry["volume_change_percent"],
                                 "responded": entry["volumetric_response"] in RESPONDING})
    return rows


def lesion_rows_by_visit(outcomes: list[dict]) -> dict[str, list[dict]]:
    """:func:`lesion_rows` of every visit (in schedule order) over the patients with a follow-up."""
    reports = _reports(outcomes)
    return {visit: lesion_rows(reports, visit) for visit in _visit_order(reports)}


def cohort_followup(outcomes: list[dict]) -> dict | None:
    """The follow-up part of the cohort summary (None when no patient has a follow-up)."""
    reports = _reports(outcomes)
    if not reports:
        return None
    km = kaplan_meier([r["pfs_months"] for r in reports], [r["pfs_event"] for r in reports])
    best = {category: 0 for category in BEST_ORDER}
    for report in reports:
        best[report["recist"]["best_overall_response"]] += 1
    per_visit = {}
    for visit in _visit_order(reports):
        rows = lesion_rows(reports, visit)
        analyses = {"n_patients": len({r["patient_id"] for r in rows})}
        for kind, key in (("absorbed_dose", "absorbed_dose_gy"),
                          ("cumulative_absorbed_dose", "cumulative_absorbed_dose_gy")):
            usable = [r for r in rows if r[key] is not None]
            analyses[kind] = dose_response([r[key] for r in usable], [r["volume_change_percent"] for r in usable],
                                           [r["responded"] for r in usable]) if usable else None
        per_visit[visit] = analyses
    return {
        "patients_with_followup": len(reports),
        "pfs": {**km, "definition": "Kaplan-Meier (scipy.stats.ecdf) of pfs_months with pfs_event, docs/physics.md "
                                    "section 31"},
        "median_pfs_months": km["median_months"], "median_pfs_ci_months": km["median_ci_months"],
        f"pfs_rate_{int(LANDMARK_MONTHS)}_months": km["landmark_rate"],
        f"pfs_rate_{int(LANDMARK_MONTHS)}_months_ci": km["landmark_ci"],
        "best_overall_response_counts": best,
        "dose_response": {"per_visit": per_visit,
                          "response": "volumetric CR or PR of the lesion at the visit (docs/physics.md section 30)",
                          "unit_of_analysis": "lesion (lesions of one patient are treated as independent)"},
    }


def write_cohort_followup_files(output: Path, outcomes: list[dict], summary: dict | None) -> dict:
    """followup_lesions.csv, pfs.csv, kaplan_meier.csv and dose_response.csv (nothing without follow-up)."""
    from ..io.output_files import write_csv

    reports = _reports(outcomes)
    if not reports or summary is None:
        return {}
    lesions = [row for report in reports for row in csv_rows(report)]
    pfs = [{"patient_id": r.get("patient_id", ""), "pfs_months": r["pfs_months"], "pfs_event": r["pfs_event"],
            "pfs_event_type": r["pfs_event_type"], "progressed": r["progressed"], "died": r["died"],
            "best_overall_response": r["recist"]["best_overall_response"],
            "progression_visit": r["recist"]["progression_visit"], "start_date": r["start_date"],
            "last_contact": r["last_contact"]} for r in reports]
    dose_rows = []
    for visit, analyses in summary["dose_response"]["per_visit"].items():
        for kind in ("absorbed_dose", "cumulative_absorbed_dose"):
            result = analyses.get(kind)
            if not result:
                continue
            s, lg, roc = result["spearman"], result["logistic"], result["roc"]
            dose_rows.append({"visit": visit, "dose": kind, "n_lesions": lg["n"], "n_patients": analyses["n_patients"],
                              "spearman_rho": s["rho"], "spearman_p_value": s["p_value"], "logistic_d50_gy": lg["d50_gy"],
                              "logistic_d50_ci_low_gy": lg["d50_ci_gy"][0], "logistic_d50_ci_high_gy": lg["d50_ci_gy"][1],
                              "logistic_slope_per_gy": lg["slope_per_gy"],
                              "logistic_p_value": lg["likelihood_ratio_p_value"], "logistic_note": lg.get("note", ""),
                              "roc_auc": roc["auc"], "roc_auc_ci_low": roc["ci_low"], "roc_auc_ci_high": roc["ci_high"],
                              "roc_p_value": roc["p_value"]})
    paths = {"followup_lesions": output / "followup_lesions.csv", "pfs": output / "pfs.csv",
             "kaplan_meier": output / "kaplan_meier.csv", "dose_response": output / "dose_response.csv"}
    write_csv(paths["followup_lesions"], lesions, CSV_COLUMNS)
    write_csv(paths["pfs"], pfs, PFS_COLUMNS)
    write_csv(paths["kaplan_meier"], summary["pfs"]["table"], KM_COLUMNS)
    write_csv(paths["dose_response"], dose_rows, DOSE_RESPONSE_COLUMNS)
    return {key: str(path) for key, path in paths.items()}
