"""Study manifest validation: every error names the manifest and the field."""

import json

import pytest

from iahepaticprrt.errors import InputError
from iahepaticprrt.study.manifest import read_manifest


def _write(tmp_path, data):
    path = tmp_path / "patient.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def study(tmp_path):
    for folder in ("ia/pet", "iv/pet", "tp1", "tp2", "tp3"):
        (tmp_path / folder).mkdir(parents=True)
    for name in ("ia.seg.nrrd", "iv.seg.nrrd", "ref.seg.nrrd"):
        (tmp_path / name).write_bytes(b"")
    return {
        "manifest_version": 1,
        "patient": {"id": "NET-001"},
        "uptake": {"ia": {"pet": "ia/pet", "segmentation": "ia.seg.nrrd"},
                   "iv": {"pet": "iv/pet", "segmentation": "iv.seg.nrrd", "weight_kg": 71.5}},
        "dosimetry": {"time_points": [{"spect": "tp1"}, {"spect": "tp2"}, {"spect": "tp3", "time_h": 96}],
                      "segmentation": "ref.seg.nrrd", "administered_mbq": 7400,
                      "administration_time": "2026-03-02T10:30:00",
                      "previous_cycles": [{"kidney_dose_gy": 3.9}]},
    }


def test_valid_manifest_resolves_paths(tmp_path, study):
    manifest = read_manifest(_write(tmp_path, study))
    assert manifest.patient_id == "NET-001"
    assert manifest.data["uptake"]["ia"]["pet"] == str((tmp_path / "ia/pet").resolve())
    assert manifest.data["dosimetry"]["time_points"][2]["time_h"] == 96
    assert manifest.data["uptake"]["iv"]["weight_kg"] == 71.5


@pytest.mark.parametrize("edit, field, message", [
    (lambda d: d["uptake"]["ia"].pop("pet"), "uptake.ia.pet", "missing required field"),
    (lambda d: d["uptake"]["iv"].update(pet="nowhere"), "uptake.iv.pet", "does not exist"),
    (lambda d: d["uptake"].update(metrik="suv_max"), "uptake.metrik", "unknown key"),
    (lambda d: d["uptake"].update(metric="suv_mean"), "uptake.metric", "not one of"),
    (lambda d: d["dosimetry"].update(administered_mbq=-1), "dosimetry.administered_mbq", "greater than 0"),
    (lambda d: d["dosimetry"]["time_points"][1].update(spect="gone"), "dosimetry.time_points[1].spect", "does not exist"),
    (lambda d: d["dosimetry"].update(administration_time="yesterday"), "dosimetry.administration_time", "ISO 8601"),
    (lambda d: d["dosimetry"]["previous_cycles"][0].update(kidney_dose_gy=float("nan")),
     "dosimetry.previous_cycles[0].kidney_dose_gy", "finite number"),
    (lambda d: d.update(manifest_version=2), "manifest_version", "unsupported"),
    (lambda d: d["dosimetry"].update(cycle=-1), "dosimetry.cycle", "cycles are numbered from 1, got -1"),
    (lambda d: d["dosimetry"].update(cycle="0"), "dosimetry.cycle", "cycles are numbered from 1, got 0"),
    (lambda d: d["dosimetry"].update(cycle=[5]), "dosimetry.cycle", "expected a cycle number or label"),
    (lambda d: d["dosimetry"]["previous_cycles"][0].update(cycle=0), "dosimetry.previous_cycles[0].cycle",
     "cycles are numbered from 1"),
    # issue 14: site, cross-calibration, reference sphere, ratio intervals, IV-cycle VOI doses
    (lambda d: d.update(site={"pet_cross_calibration_factor": 1.02}), "site.name", "missing required field"),
    (lambda d: d.update(site={"name": "A", "pet_cross_calibration_factor": 0}), "site.pet_cross_calibration_factor",
     "greater than 0"),
    (lambda d: d["uptake"]["ia"].update(pet_cross_calibration_factor=-1.0), "uptake.ia.pet_cross_calibration_factor",
     "greater than 0"),
    (lambda d: d["uptake"]["iv"].update(reference_sphere_centre_lps_mm=[1, 2]),
     "uptake.iv.reference_sphere_centre_lps_mm", "three finite numbers"),
    (lambda d: d["uptake"].update(replicates_per_level=2.5), "uptake.replicates_per_level", "whole number"),
    (lambda d: d["uptake"].update(noise_model="gaussian"), "uptake.noise_model", "not one of"),
    (lambda d: d["dosimetry"]["previous_cycles"][0].update(voi_doses_gy={"Lesion 1": -2.0}),
     "dosimetry.previous_cycles[0].voi_doses_gy.Lesion 1", "must not be negative"),
    (lambda d: d["dosimetry"]["previous_cycles"][0].update(voi_doses_gy=[1.0]),
     "dosimetry.previous_cycles[0].voi_doses_gy", "expected an object"),
    (lambda d: d["dosimetry"]["previous_cycles"][0].update(route="arterial"), "dosimetry.previous_cycles[0].route",
     "not one of"),
])
def test_errors_name_file_and_field(tmp_path, study, edit, field, message):
    edit(study)
    path = _write(tmp_path, study)
    with pytest.raises(InputError) as info:
        read_manifest(path)
    assert info.value.field == field
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_site_reference_centre_and_iv_cycle_doses_are_read(tmp_path, study):
    study["site"] = {"name": "Centre B", "pet_cross_calibration_factor": 1.04, "qc_date": "2026-01-12"}
    study["uptake"]["ia"]["reference_sphere_centre_lps_mm"] = [-40, 1.5, 36]
    study["uptake"].update(pet_fwhm_mm=6.0, healthy_liver_margin_mm=10, replicates_per_level=0)
    study["dosimetry"]["previous_cycles"][0].update(route="iv", administered_mbq=7400,
                                                    voi_doses_gy={"Lesion 1": 12.5, "Left kidney": 3.1})
    data = read_manifest(_write(tmp_path, study)).data
    assert data["site"] == {"name": "Centre B", "pet_cross_calibration_factor": 1.04, "qc_date": "2026-01-12"}
    assert data["uptake"]["ia"]["reference_sphere_centre_lps_mm"] == [-40.0, 1.5, 36.0]
    assert data["uptake"]["replicates_per_level"] == 0
    assert data["dosimetry"]["previous_cycles"][0]["voi_doses_gy"] == {"Lesion 1": 12.5, "Left kidney": 3.1}


def test_not_json_and_nothing_to_do(tmp_path):
    path = tmp_path / "m.json"
    path.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        read_manifest(path)
    path.write_text(json.dumps({"manifest_version": 1}))
    with pytest.raises(InputError, match="nothing to do"):
        read_manifest(path)
