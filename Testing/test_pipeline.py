"""One patient end to end from its manifest (the synthetic patient's own manifest.json), and the demo."""

from __future__ import annotations

import json
import shutil

import pytest

from iahepaticprrt.cli import main

import phantom_checks


@pytest.fixture(scope="module")
def patient(tmp_path_factory):
    return phantom_checks.phantom(tmp_path_factory)  # small, noise-free, siemens


@pytest.fixture(scope="module")
def run_output(patient, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    assert main(["run", str(patient / "manifest.json"), "-o", str(out)]) == 0
    return out


def test_results_json_holds_exactly_what_the_output_files_hold(run_output):
    results = json.loads((run_output / "results.json").read_text())
    assert results["uptake"] == json.loads((run_output / "uptake" / "uptake.json").read_text())
    assert results["dosimetry"] == json.loads((run_output / "dosimetry" / "dosimetry.json").read_text())
    for path in (run_output / "dosimetry" / "dose.nrrd", run_output / "dosimetry" / "dvh.csv",
                 run_output / "uptake" / "uptake.csv", run_output / "report.html"):
        assert path.is_file(), path
    # No temporary file left behind: the only hidden file is the marker that says the folder is ours.
    assert [p.relative_to(run_output).as_posix() for p in run_output.rglob(".*")] == [".iahepaticprrt-output"]


def test_end_to_end_numbers_against_truth(run_output, patient):
    truth = phantom_checks.load_truth(patient)
    results = json.loads((run_output / "results.json").read_text())
    uptake, dosimetry = results["uptake"], results["dosimetry"]
    assert uptake["eligible"] == truth["eligible"]
    lesion_1 = next(v for v in uptake["vois"] if v["name"] == "Lesion 1")  # 40 mm: no partial-volume bias
    assert lesion_1["enhancement_ratio"] == pytest.approx(truth["enhancement_ratio"]["Lesion 1"], rel=0.02)
    vois = {v["name"]: v for v in dosimetry["vois"]}
    for organ in ("Healthy liver", "Left kidney", "Right kidney", "Spleen"):  # partial-volume corrected VOIs
        assert vois[organ]["tia_mbqh"] == pytest.approx(truth["spect"]["tia_mbqh"][organ], rel=0.05), organ
    # The manifest's four earlier cycles add to this cycle's kidney dose.
    kidney = dosimetry["limits"]["limits"]["kidney_dose_gy"]
    assert kidney["previous_cycles"] == pytest.approx(4 * 3.6)
    assert kidney["cumulative"] == pytest.approx(kidney["previous_cycles"] + kidney["this_cycle"])


def test_report_states_the_verdict_and_numbers(run_output):
    results = json.loads((run_output / "results.json").read_text())
    html = (run_output / "report.html").read_text()
    ratio = results["uptake"]["mean_enhancement_ratio"]
    assert f"Eligible for the intra-arterial 177Lu cycle: mean enhancement ratio {ratio:.3g}" in html
    # The DICOM name Synthetic^Patient shown as a person's name, family name first.
    assert "Synthetic, Patient" in html and "Synthetic^Patient" not in html and results["patient_id"] in html


def test_deidentified_report(patient, tmp_path):
    manifest = json.loads((patient / "manifest.json").read_text())
    manifest["report"] = {"deidentify": True}
    manifest.pop("dosimetry")  # uptake only: a patient before the intra-arterial cycle
    for scan in ("ia", "iv"):
        for key in ("pet", "segmentation"):
            manifest["uptake"][scan][key] = str(patient / manifest["uptake"][scan][key])
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    assert main(["run", str(path), "-o", str(tmp_path / "out")]) == 0
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Synthetic" not in html and manifest["patient"]["id"] not in html and str(patient) not in html
    assert "Dosimetry" not in html and "Eligible" in html


def test_a_failing_patient_writes_nothing(patient, tmp_path, capsys):
    copy = tmp_path / "patient"
    shutil.copytree(patient, copy)
    victim = sorted((copy / "iv_day3" / "pet").iterdir())[3]
    victim.write_bytes(victim.read_bytes()[:400])  # truncated DICOM file
    assert main(["run", str(copy / "manifest.json"), "-o", str(tmp_path / "out")]) == 2
    assert victim.name in capsys.readouterr().err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# ---- issue 14: a site with its cross-calibration, and the earlier IV cycles' VOI doses -----------------
#: Per-VOI doses of the four earlier IV cycles (7400 MBq each, the same every cycle for readability).
IV_CYCLE_DOSES = {"Lesion 1": 10.0, "Lesion 2": 8.0, "Lesion 3": 9.0, "Lesion 4": 6.0, "Lesion 5": 5.0,
                  "Left kidney": 3.6, "Right kidney": 3.4, "Bone marrow": 0.25, "Spleen": 4.0, "Healthy liver": 2.0}


@pytest.fixture(scope="module")
def site_run(patient, tmp_path_factory):
    manifest = json.loads((patient / "manifest.json").read_text())
    root = tmp_path_factory.mktemp("site_run")
    for scan in ("ia", "iv"):
        for key in ("pet", "segmentation"):
            manifest["uptake"][scan][key] = str(patient / manifest["uptake"][scan][key])
    dosimetry = manifest["dosimetry"]
    dosimetry["segmentation"] = str(patient / dosimetry["segmentation"])
    dosimetry["time_points"] = [{"spect": str(patient / tp["spect"])} for tp in dosimetry["time_points"]]
    dosimetry.update(method="ldm", registration=False, pvc_fwhm_mm=None)
    for cycle in dosimetry["previous_cycles"]:
        cycle.update(route="iv", administered_mbq=7400.0, voi_doses_gy=IV_CYCLE_DOSES)
    manifest["site"] = {"name": "Centre B", "pet_cross_calibration_factor": 1.05, "qc_date": "2026-01-12"}
    path = root / "manifest.json"
    path.write_text(json.dumps({k: v for k, v in manifest.items() if v is not None}))
    assert main(["run", str(path), "-o", str(root / "out")]) == 0
    return root / "out"


def test_cross_calibration_scales_every_suv_and_cancels_in_the_ratio(run_output, site_run):
    plain = json.loads((run_output / "results.json").read_text())["uptake"]
    site = json.loads((site_run / "results.json").read_text())
    calibrated = site["uptake"]
    assert site["site"]["name"] == "Centre B"
    for route in ("ia", "iv"):
        info = calibrated["provenance"]["suv"][route]["cross_calibration"]
        assert info["factor"] == 1.05 and info["site"] == "Centre B" and "2026-01-12" in info["source"]
    for name in ("Lesion 1", "Spleen", "Liver reference sphere"):
        a = next(v for v in plain["vois"] if v["name"] == name)
        b = next(v for v in calibrated["vois"] if v["name"] == name)
        for route in ("ia", "iv"):
            assert b[route]["suv_mean"] == pytest.approx(1.05 * a[route]["suv_mean"], rel=1e-6), (name, route)
    assert calibrated["mean_enhancement_ratio"] == pytest.approx(plain["mean_enhancement_ratio"], rel=1e-6)
    assert "Centre B" in (site_run / "report.html").read_text()


def test_predicted_versus_delivered_in_results_and_report(site_run):
    results = json.loads((site_run / "results.json").read_text())
    table = results["predicted_vs_delivered"]
    uptake = {v["name"]: v for v in results["uptake"]["vois"]}
    dosimetry = {v["name"]: v for v in results["dosimetry"]["vois"]}
    # The IA cycle's net activity is 7400 - 96 = 7304 MBq: every IV dose x 7304 / 7400 = 0.987027.
    scale = 7304.0 / 7400.0
    assert table["dose_quantity"] == "absorbed_dose_gy" and table["iv_reference"]["cycles"] == ["1", "2", "3", "4"]
    html = (site_run / "report.html").read_text()
    start = html.index('<section id="predicted">')
    section = html[start:html.index("</section>", start)]
    for entry in table["lesions"]:
        name = entry["name"]
        if name not in IV_CYCLE_DOSES:
            continue
        assert entry["iv_dose_gy"] == pytest.approx(IV_CYCLE_DOSES[name] * scale, rel=1e-12)
        ratio = uptake[name]["enhancement_ratio"]
        assert entry["predicted_ia_dose_gy"] == pytest.approx(IV_CYCLE_DOSES[name] * scale * ratio, rel=1e-12)
        assert entry["delivered_ia_dose_gy"] == dosimetry[name]["absorbed_dose_gy"]  # one dose per VOI
        assert entry["delivered_to_predicted_ratio"] == pytest.approx(
            dosimetry[name]["absorbed_dose_gy"] / (IV_CYCLE_DOSES[name] * scale * ratio), rel=1e-12)
        assert f">{entry['predicted_ia_dose_gy']:.3g}</td>" in section
        assert f">{entry['delivered_ia_dose_gy']:.3g}</td>" in section
    kidney = table["dose_ratios"]["ia"]["tumour_to_kidney"]
    worst = max(dosimetry["Left kidney"]["absorbed_dose_gy"], dosimetry["Right kidney"]["absorbed_dose_gy"])
    assert kidney["organ_dose_gy"] == worst
    # The previous cycles' kidney totals stay the manifest's (3.6 Gy each).
    assert results["dosimetry"]["limits"]["limits"]["kidney_dose_gy"]["previous_cycles"] == pytest.approx(4 * 3.6)
