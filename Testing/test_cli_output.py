"""What the command line shows: results as JSON on stdout for every command, progress stage by stage
on stderr (one line per stage when stderr is not a terminal), nothing on stderr with --quiet."""

from __future__ import annotations

import json
import re
import shutil

import phantom_checks
from cli_checks import error_lines
import pytest

from iahepaticprrt.cli import main



@pytest.fixture(scope="module")
def patient(tmp_path_factory):
    return phantom_checks.phantom(tmp_path_factory)  # small, noise-free, siemens


def _run(capsys, argv):
    assert main(argv) == 0, capsys.readouterr().err
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def test_run_prints_each_stage_with_its_time_and_json_on_stdout(patient, tmp_path, capsys):
    summary, err = _run(capsys, ["run", str(patient / "manifest.json"), "-o", str(tmp_path / "out")])
    assert summary["outputs"]["report"] == str(tmp_path / "out" / "report.html")
    lines = err.strip().splitlines()
    assert lines and not error_lines(err), err
    text = "\n".join(lines)
    for stage in ("uptake: reading the IA PET", "uptake: reading the IV PET", "dosimetry: reading SPECT time point 1",
                  "dosimetry: registering", "dosimetry: VOI kinetics", "writing the results and the report",
                  "report: "):
        assert stage in text, stage
    times = [float(re.match(r"^\[ *(\d+\.\d) s\]", line).group(1)) for line in lines]
    assert times == sorted(times)


def test_demo_prints_its_summary_as_json_on_stdout(tmp_path, capsys):
    summary, err = _run(capsys, ["demo", "-o", str(tmp_path / "demo"), "--small"])
    assert summary["outputs"]["report"] == str(tmp_path / "demo" / "results" / "report.html")
    assert "synthetic patient: 177Lu SPECT/CT time point 4 of 4" in err and "dosimetry: registering" in err


def test_quiet_silences_the_progress(patient, tmp_path, capsys):
    argv = ["uptake", "--ia", str(patient / "ia_day0" / "pet"), "--iv", str(patient / "iv_day3" / "pet"),
            "--ia-seg", str(patient / "segmentations" / "ia_day0.seg.nrrd"),
            "--iv-seg", str(patient / "segmentations" / "iv_day3.seg.nrrd"), "-o"]
    summary, err = _run(capsys, argv + [str(tmp_path / "loud")])
    assert "uptake: reading the IA PET" in err
    summary, err = _run(capsys, argv + [str(tmp_path / "quiet"), "--quiet"])
    assert err == "" and summary["eligible"] is True


def test_every_command_prints_valid_json_on_stdout(patient, tmp_path, capsys):
    segmentation = str(patient / "segmentations" / "ia_day0.seg.nrrd")
    tac = tmp_path / "tac.csv"
    tac.write_text("voi,time_h,activity_mbq\nKidney,4,100\nKidney,24,80\nKidney,96,30\nKidney,168,12\n")
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    shutil.copy(patient / "manifest.json", cohort / "manifest.json")
    manifest = json.loads((cohort / "manifest.json").read_text())
    manifest.pop("dosimetry")
    for route in ("ia", "iv"):
        for key in ("pet", "segmentation"):
            manifest["uptake"][route][key] = str(patient / manifest["uptake"][route][key])
    (cohort / "manifest.json").write_text(json.dumps(manifest))
    commands = [
        ["series", str(patient)],
        ["convert", str(patient / "ia_day0" / "ct"), "-o", str(tmp_path / "ct.nrrd")],
        ["suv", str(patient / "ia_day0" / "pet"), "-o", str(tmp_path / "suv.nrrd")],
        ["phantom", str(tmp_path / "phantom"), "--small", "--no-noise"],
        ["kinetics", str(tac), "--administered-mbq", "7400", "-o", str(tmp_path / "kinetics")],
        ["uptake", "--ia", str(patient / "ia_day0" / "pet"), "--iv", str(patient / "iv_day3" / "pet"),
         "--ia-seg", segmentation, "--iv-seg", str(patient / "segmentations" / "iv_day3.seg.nrrd"),
         "-o", str(tmp_path / "uptake")],
        ["dosimetry", "--spect", str(patient / "spect" / "tp1" / "nm" / "spect.dcm"), "--seg",
         str(patient / "segmentations" / "spect_tp1.seg.nrrd"), "--administered-mbq", "7400", "--times-h", "24",
         "-o", str(tmp_path / "dosimetry")],
        ["register", str(patient / "ia_day0" / "ct"), str(patient / "iv_day3" / "ct"), "-o", str(tmp_path / "t.tfm")],
        ["propagate", segmentation, str(tmp_path / "t.tfm"), "--reference", str(patient / "iv_day3" / "ct"),
         "-o", str(tmp_path / "p.seg.nrrd")],
        ["batch", str(cohort), "-o", str(tmp_path / "batch"), "--workers", "1"],
    ]
    for argv in commands:
        status = main(argv)
        captured = capsys.readouterr()
        assert status == 0, (argv[0], captured.err)
        json.loads(captured.out)  # stdout is JSON, whatever the command
