"""Acceptance on the synthetic follow-up (iahprrt phantom --follow-up): lesion volumes within 3 % and
longest diameters within one voxel of truth at every visit on the visits' own MR and CT
segmentations; RECIST categories and the PFS time equal to truth; with the baseline VOIs carried to
the visits by registration, within 5 % and two voxels with the same categories and PFS.

Seed 5: every lesion shrinks or grows, no new lesion; the non-target lesions progress at 18 months
(truth.json "followup"). The truth is the phantom's own (analytic spheres and its own RECIST reader).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from iahepaticprrt.phantom.generate import generate_phantom
from iahepaticprrt.study.followup_run import run_followup
from iahepaticprrt.study.manifest import read_manifest

SEED = 5
#: In-plane voxel of the follow-up scans (mm): MR 1.0, CT 0.9375 (phantom/followup.py MR_SPEC, CT_SPEC).
VOXEL_MM = {"manifest.json": 1.0, "manifest_ct.json": 0.9375, "manifest_carry_over.json": 1.0}


@pytest.fixture(scope="module")
def patient(tmp_path_factory):
    folder = tmp_path_factory.mktemp("followup") / "patient"
    generate_phantom(folder, seed=SEED, size="small", follow_up=True)
    return folder


def _truth(folder: Path) -> dict:
    return json.loads((folder / "truth.json").read_text())["followup"]


def _response(folder: Path, manifest: str) -> dict:
    m = read_manifest(folder / manifest)
    return run_followup(m.data, m.path, patient_id=m.patient_id).report


def _check_against_truth(report: dict, truth: dict, volume_tolerance: float, diameter_tolerance_mm: float):
    assert [v["name"] for v in report["visits"]] == [v["name"] for v in truth["visits"]]
    for lesion in report["lesions"]:
        true = truth["lesions"][lesion["name"]]
        assert lesion["target"] == true["target"], lesion["name"]
        assert lesion["baseline"]["volume_ml"] == pytest.approx(true["baseline_volume_ml"], rel=volume_tolerance)
        assert abs(lesion["baseline"]["longest_diameter_mm"] - true["diameter_mm"]) <= diameter_tolerance_mm
        for measured, expected in zip(lesion["course"], true["course"], strict=True):
            where = f"{lesion['name']} at {measured['visit']}"
            assert measured["volume_ml"] == pytest.approx(expected["volume_ml"], rel=volume_tolerance), where
            assert abs(measured["longest_diameter_mm"] - expected["longest_diameter_mm"]) <= diameter_tolerance_mm, where
            assert measured["volumetric_response"] == expected["volumetric_response"], where
    for visit, expected in zip(report["visits"], truth["recist"]["visits"], strict=True):
        r = visit["recist"]
        assert (r["target_response"], r["non_target_response"], r["new_lesions"], r["overall_response"]) == \
            (expected["target_response"], expected["non_target_response"], expected["new_lesion"],
             expected["overall_response"]), visit["name"]
    assert report["recist"]["targets"] == truth["recist"]["targets"]
    assert report["recist"]["best_overall_response"] == truth["recist"]["best_overall_response"]
    assert report["recist"]["progression_visit"] == truth["recist"]["progression_visit"]
    assert report["pfs_months"] == pytest.approx(truth["pfs_months"], abs=1e-9)
    assert report["pfs_event_type"] == truth["pfs_event_type"] and report["progressed"] == truth["progressed"]


@pytest.mark.parametrize("manifest", ["manifest.json", "manifest_ct.json"])
def test_own_segmentations_measure_truth(patient, manifest):
    _check_against_truth(_response(patient, manifest), _truth(patient), 0.03, VOXEL_MM[manifest])


def test_carried_by_registration_measure_truth(patient):
    report = _response(patient, "manifest_carry_over.json")
    _check_against_truth(report, _truth(patient), 0.05, 2.0 * VOXEL_MM["manifest_carry_over.json"])
    assert all(v["carry_over"]["registration"] == "rigid" for v in report["visits"])
    # The liver moved against the body between scans (truth: liver_shift_mm): the refinement found it.
    for lesion in report["lesions"]:
        for entry in lesion["course"]:
            assert entry["source"] == "carried" and entry["refinement"]["displacement_mm"] < 8.0


def test_truth_holds_every_value_and_the_model(patient):
    truth = _truth(patient)
    assert [v["name"] for v in truth["visits"]] == ["month 3", "month 6", "month 12", "month 18"]
    assert truth["model"]["d50_gy"] == 25.0 and truth["pfs_event_type"] == "recist_progression"
    for lesion in truth["lesions"].values():
        assert {"tolerance_dose_gy", "responder", "absorbed_dose_gy"} <= set(lesion)
        for entry in lesion["course"]:
            assert {"longest_diameter_mm", "volume_ml", "volume_change_percent", "volumetric_response"} <= set(entry)
    scans = truth["scans"]
    assert set(scans) == {"baseline", "m03", "m06", "m12", "m18"}
    assert (patient / scans["m12"]["mr"]["series"]).is_dir() and (patient / scans["m12"]["ct"]["segmentation"]).is_file()


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_without_follow_up_every_other_file_is_unchanged(patient, tmp_path):
    plain = tmp_path / "plain"
    generate_phantom(plain, seed=SEED, size="small")
    marker = ".iahepaticprrt-output"  # the output folder's list of the files written: differs by the follow-up's
    with_follow_up = {k: v for k, v in _hashes(patient).items()
                      if not k.startswith("followup") and k not in ("truth.json", "manifest.json", "manifest_ct.json",
                                                                     "manifest_carry_over.json", marker)}
    without = {k: v for k, v in _hashes(plain).items() if k not in ("truth.json", "manifest.json", marker)}
    assert with_follow_up == without
    listed = set((patient / marker).read_text().splitlines())
    assert set(_hashes(patient)) - {marker} <= listed and set(_hashes(plain)) - {marker} <= listed
    truth = json.loads((plain / "truth.json").read_text())
    followed = json.loads((patient / "truth.json").read_text())
    assert "followup" not in truth and {k: v for k, v in followed.items() if k != "followup"} == \
        dict(truth, generator=dict(truth["generator"], command=truth["generator"]["command"] + " --follow-up"))


def test_run_includes_the_follow_up_with_this_runs_doses(patient, tmp_path):
    """``iahprrt run`` on the follow-up patient: results.json holds the follow-up, the report its
    section, and each lesion's dose in the dose-response is dosimetry.json's absorbed_dose_gy."""
    from iahepaticprrt.study.pipeline import run_patient

    results = run_patient(patient / "manifest.json", tmp_path / "out")
    followup = results["followup"]
    doses = {v["name"]: v["absorbed_dose_gy"] for v in results["dosimetry"]["vois"]}
    for lesion in followup["lesions"]:
        assert lesion["absorbed_dose_gy"] == doses[lesion["name"]]
    assert followup["dose_response"]["dose_source"].startswith("this run's dosimetry")
    on_disk = json.loads((tmp_path / "out" / "followup" / "response.json").read_text())
    assert on_disk["pfs_months"] == followup["pfs_months"] == pytest.approx(_truth(patient)["pfs_months"])
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Follow-up: response and progression-free survival" in html
    with open(tmp_path / "out" / "followup" / "response.csv") as f:
        header = f.readline().strip().split(",")
    assert header[:4] == ["patient_id", "lesion", "organ", "nodal"] and "absorbed_dose_gy" in header
