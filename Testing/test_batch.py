"""Cohort batch: five synthetic patients, one corrupt: four results, one clear error, and a cohort.csv
that holds exactly the per-patient JSON values."""

from __future__ import annotations

import csv
import json
import math
import shutil

import pytest

from iahepaticprrt.cli import main
from iahepaticprrt.study.batch import COHORT_COLUMNS

import phantom_checks

PATIENTS = [  # (patient id, vendor, noise, seed)
    ("P1", "siemens", False, 1), ("P2", "ge", False, 1), ("P3", "philips", False, 1), ("P4", "siemens", True, 2),
]
#: Sites of the patients (issue 14): P4 alone at its site.
SITES = {"P1": "A", "P2": "A", "P3": "B", "P4": "C"}


def _manifest(folder, patient_id):
    """The phantom's own manifest with absolute paths, a new ID, and a quick dosimetry (LDM, no registration)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["patient"]["id"] = patient_id
    for scan in ("ia", "iv"):
        for key in ("pet", "segmentation"):
            manifest["uptake"][scan][key] = str(folder / manifest["uptake"][scan][key])
    dosimetry = manifest["dosimetry"]
    dosimetry["segmentation"] = str(folder / dosimetry["segmentation"])
    dosimetry["time_points"] = [{"spect": str(folder / tp["spect"])} for tp in dosimetry["time_points"]]
    dosimetry.update(method="ldm", registration=False)
    if patient_id in SITES:
        manifest["site"] = {"name": SITES[patient_id]}
    return manifest


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    cohort = tmp_path_factory.mktemp("cohort")
    for patient_id, vendor, noise, seed in PATIENTS:
        folder = phantom_checks.phantom(tmp_path_factory, vendor=vendor, noise=noise, seed=seed)
        (cohort / f"{patient_id}.json").write_text(json.dumps(_manifest(folder, patient_id)))
    corrupt = tmp_path_factory.mktemp("corrupt") / "patient"
    shutil.copytree(phantom_checks.phantom(tmp_path_factory), corrupt)
    victim = sorted((corrupt / "ia_day0" / "pet").iterdir())[5]
    victim.write_bytes(victim.read_bytes()[:-500])  # pixel data cut short
    (cohort / "P5.json").write_text(json.dumps(_manifest(corrupt, "P5")))
    out = tmp_path_factory.mktemp("batch") / "out"
    status = main(["batch", str(cohort), "-o", str(out), "--workers", "2", "--no-progress"])
    return status, out, victim


def test_four_results_and_one_clear_error(batch):
    status, out, victim = batch
    assert status == 4  # some patients failed
    summary = json.loads((out / "cohort_summary.json").read_text())
    assert (summary["patients"], summary["succeeded"]) == (5, 4)
    [failure] = summary["failed"]
    assert failure["manifest"].endswith("P5.json")
    assert str(victim) in failure["error"] and "PixelData" in failure["error"]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["P1", "P2", "P3", "P4"]


def test_cohort_csv_equals_the_per_patient_json(batch):
    _, out, _ = batch
    with open(out / "cohort.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == COHORT_COLUMNS
    failed = [r for r in rows if r["status"] != "ok"]
    assert len(failed) == 1 and failed[0]["patient_id"] == "P5" and failed[0]["error"]
    checked = 0
    for patient_id, *_ in PATIENTS:
        results = json.loads((out / patient_id / "results.json").read_text())
        mine = {r["voi"]: r for r in rows if r["patient_id"] == patient_id}
        uptake = {v["name"]: v for v in results["uptake"]["vois"]}
        dosimetry = {v["name"]: v for v in results["dosimetry"]["vois"]}
        assert set(mine) == set(uptake) | set(dosimetry)
        for name, row in mine.items():
            assert float(row["mean_enhancement_ratio"]) == results["uptake"]["mean_enhancement_ratio"]
            assert row["eligible"] == ("true" if results["uptake"]["eligible"] else "false")
            for route in ("ia", "iv"):
                for key in ("suv_max", "suv_peak", "suv_mean", "volume_ml"):
                    value = (uptake[name][route] or {}).get(key)
                    assert (row[f"{route}_{key}"] == "") if value is None else float(row[f"{route}_{key}"]) == value
            ratio = uptake[name]["enhancement_ratio"]
            assert (row["enhancement_ratio"] == "") if ratio is None else float(row["enhancement_ratio"]) == ratio
            if name not in dosimetry:  # the liver reference sphere is an uptake VOI only
                assert all(row[key] == "" for key in ("tia_mbqh", "absorbed_dose_gy"))
                continue
            for key in ("tia_mbqh", "residence_time_h", "absorbed_dose_gy", "d50_gy"):
                assert float(row[key]) == dosimetry[name][key]
                checked += 1
    assert checked >= 4 * 10 * 4


def test_cohort_summary_statistics(batch):
    _, out, _ = batch
    summary = json.loads((out / "cohort_summary.json").read_text())
    ratios = [json.loads((out / p / "results.json").read_text())["uptake"]["mean_enhancement_ratio"]
              for p, *_ in PATIENTS]
    ci = summary["mean_enhancement_ratio"]
    assert ci["n"] == 4 and ci["mean"] == pytest.approx(sum(ratios) / 4)
    assert ci["ci_low"] < ci["mean"] < ci["ci_high"]
    # One pair per patient (the mean of its target lesions), not 20 lesion pairs from 4 patients: with every
    # patient's IA above IV the exact two-sided p-value is 2 / 2^4 = 0.125 (issue 14: the unit of analysis).
    lesions = summary["paired_wilcoxon_ia_vs_iv"]["target_lesion"]
    assert lesions["n_pairs"] == 4 and lesions["unit_of_analysis"] == "patient"
    assert lesions["p_value"] == pytest.approx(0.125)
    assert summary["absorbed_dose_gy_per_voi"]["Left kidney"]["n"] == 4


def test_every_test_is_on_patients_and_says_its_n(batch):
    _, out, _ = batch
    summary = json.loads((out / "cohort_summary.json").read_text())
    primary = summary["primary_endpoint"]
    # One value per patient: n is the number of patients (4), not the 20 lesions.
    assert primary["n"] == 4 and primary["wilcoxon_signed_rank"]["n"] == 4
    assert primary["wilcoxon_signed_rank"]["unit_of_analysis"] == "patient"
    # Every patient's IA ratio is above 1 (log ratio > 0): the exact two-sided p is 2 / 2^4 = 0.125, the
    # smallest 4 patients can give.
    assert primary["wilcoxon_signed_rank"]["p_value"] == pytest.approx(0.125)
    assert primary["wilcoxon_signed_rank"]["minimum_attainable_p_value"] == pytest.approx(0.125)
    logs = []
    for patient_id, *_ in PATIENTS:
        uptake = json.loads((out / patient_id / "results.json").read_text())["uptake"]
        ratios = [v["enhancement_ratio"] for v in uptake["vois"] if v["name"] in uptake["target_lesions_in_mean"]]
        logs.append(sum(math.log(r) for r in ratios) / len(ratios))
    # Hodges-Lehmann of 4 values: the median of their 10 Walsh averages.
    walsh = sorted((a + b) / 2 for i, a in enumerate(logs) for b in logs[i:])
    assert primary["hodges_lehmann"]["estimate"] == pytest.approx((walsh[4] + walsh[5]) / 2)
    eligibility = summary["eligibility"]
    assert eligibility["n"] == 4 and eligibility["count"] == summary["eligible_patients"]
    assert summary["mean_enhancement_ratio"]["cluster_bootstrap"]["n"] == 4
    assert summary["tests"] and all(t["unit_of_analysis"] == "patient" and t["n"] <= 4 for t in summary["tests"])
    assert {t["group"] for t in summary["tests"]} == {"all patients", "site A", "site B", "site C"}


def test_summary_split_by_site_and_one_patient_is_never_significant(batch):
    _, out, _ = batch
    summary = json.loads((out / "cohort_summary.json").read_text())
    assert sorted(summary["by_site"]) == ["A", "B", "C"]
    assert [summary["by_site"][s]["patients"] for s in ("A", "B", "C")] == [2, 1, 1]
    alone = summary["by_site"]["C"]["primary_endpoint"]["wilcoxon_signed_rank"]
    # Site C: one patient with five lesion pairs is n = 1: p = 1 (lesion pairs would have given p = 0.0625).
    assert alone["n"] == 1 and alone["p_value"] == 1.0
    with open(out / "cohort.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["status"] == "ok"]
    assert {r["patient_id"]: r["site"] for r in rows} == SITES


def test_a_failed_patient_in_its_own_folder_is_named_after_the_folder():
    from iahepaticprrt.report.cohort_report import patient_id_of as shown_id
    from iahepaticprrt.study.batch import patient_id_of

    for name_of in (patient_id_of, shown_id):
        assert name_of({"manifest": "/cohort/NET-017/manifest.json", "status": "error"}) == "NET-017"
        assert name_of({"manifest": "/cohort/P5.json", "status": "error"}) == "P5"
        assert name_of({"manifest": "/cohort/x/manifest.json", "results": {"patient_id": "ID9"}}) == "ID9"
