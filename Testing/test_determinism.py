"""The same inputs give byte-identical outputs (issue 13): two runs of one patient, the registration
of its SPECT time points included (ITK's sampling seeded, its optimisation single-threaded)."""

from __future__ import annotations

import hashlib

import phantom_checks

from iahepaticprrt.cli import main

OUTPUTS = ("results.json", "uptake/uptake.json", "uptake/uptake.csv", "dosimetry/dosimetry.json",
           "dosimetry/dose.nrrd", "dosimetry/dvh.csv")


def _hashes(folder):
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in OUTPUTS}


def test_two_runs_of_one_patient_give_byte_identical_results(tmp_path_factory, tmp_path):
    patient = phantom_checks.phantom(tmp_path_factory, noise=True)  # small, with noise: registration has work
    out = tmp_path / "out"
    assert main(["run", str(patient / "manifest.json"), "-o", str(out)]) == 0
    first = _hashes(out)
    assert main(["run", str(patient / "manifest.json"), "-o", str(out)]) == 0  # replaces the first
    assert _hashes(out) == first
