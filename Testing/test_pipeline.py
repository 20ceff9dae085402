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
    assert "Synthetic^Patient" in html and results["patient_id"] in html


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


def test_demo_ends_with_the_report_path(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path / "demo"), "--small"]) == 0
    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    assert last_line == str(tmp_path / "demo" / "results" / "report.html")
    assert (tmp_path / "demo" / "results" / "report.html").is_file()
