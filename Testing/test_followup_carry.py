"""Carrying baseline VOIs to a visit by registration (rigid, affine, B-spline) and finding the
lesions again, through run_followup on volume files of the synthetic follow-up's anatomy: each
lesion's volume within 5 % of the true sphere at 2 x 2 x 3 mm (docs/physics.md section 28.2)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from iahepaticprrt.imaging.volume import Volume
from iahepaticprrt.io.segmentation_files import write_seg_nrrd
from iahepaticprrt.io.volume_files import write_volume
from iahepaticprrt.known_answers import standard_lesion_doses_gy
from iahepaticprrt.phantom.followup import POSES, _visit_tissues, followup_truth, lesion_segmentation, scan_image
from iahepaticprrt.phantom.scans import GridSpec, rng_for
from iahepaticprrt.study.followup_run import run_followup
from iahepaticprrt.study.manifest import read_manifest

GRID = GridSpec((180, 130, 78), (2.0, 2.0, 3.0), (0.0, 0.0, 15.0)).grid()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("carry")
    truth = followup_truth(5, standard_lesion_doses_gy(), datetime(2025, 3, 24, 10, 30))
    for key in ("baseline", "m06"):
        tissues = _visit_tissues(truth, key)
        pose = POSES[(key, "mr")]
        image = scan_image("mr", GRID, pose, tissues, rng_for(5, f"carry test {key}"))
        write_volume(Volume(image, GRID), root / f"{key}.nrrd")
        if key == "baseline":
            write_seg_nrrd(lesion_segmentation(GRID, (2, 2, 2), pose, tissues), root / "baseline.seg.nrrd")
    visit = truth["visits"][1]
    (root / "truth.json").write_text(json.dumps(truth))
    manifest = {"manifest_version": 1, "followup": {
        "start_date": truth["start"],
        "baseline": {"date": truth["baseline_date"], "modality": "MR", "series": "baseline.nrrd",
                     "segmentation": "baseline.seg.nrrd"},
        "visits": [{"name": visit["name"], "date": visit["date"], "modality": "MR", "series": "m06.nrrd",
                    "carry_over": {}}],
        "lesions": {"Extrahepatic lesion 1": {"organ": "mesentery"}}, "last_contact": truth["last_contact"]}}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


@pytest.mark.parametrize("registration", ["rigid", "affine", "bspline"])
def test_carried_lesions_found_again(folder, registration):
    manifest = read_manifest(folder / "manifest.json")
    manifest.data["followup"]["visits"][0]["carry_over"] = {"registration": registration}
    report = run_followup(manifest.data, manifest.path).report
    truth = json.loads((folder / "truth.json").read_text())
    visit = report["visits"][0]
    assert visit["carry_over"]["registration"] == registration
    assert visit["carry_over"]["transform_type"] == {"rigid": "rigid", "affine": "affine",
                                                     "bspline": "rigid+bspline"}[registration]
    for lesion in report["lesions"]:
        measured = lesion["course"][0]
        expected = truth["lesions"][lesion["name"]]["course"][1]
        assert measured["source"] == "carried"
        assert measured["volume_ml"] == pytest.approx(expected["volume_ml"], rel=0.05), lesion["name"]
        assert abs(measured["longest_diameter_mm"] - expected["longest_diameter_mm"]) <= 2 * 2.0, lesion["name"]
