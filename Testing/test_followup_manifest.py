"""The manifest's follow-up section: validation (one clear error naming the file and the field, exit
status 2, nothing written), the response command, and where the lesions' doses come from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from followup_builders import write_patient
from iahepaticprrt.cli import main
from iahepaticprrt.errors import InputError
from iahepaticprrt.study.followup_run import _doses, run_followup
from iahepaticprrt.study.manifest import read_manifest


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """Patient FU-005 (seed 5: four visits, no event, censored at the last contact)."""
    folder = tmp_path_factory.mktemp("followup_manifest") / "p"
    truth = write_patient(folder, 5)
    return folder, truth


def _variant(source, tmp_path, change) -> Path:
    folder, _ = source
    manifest = json.loads((folder / "manifest.json").read_text())
    for section in ("followup",):
        for key in ("baseline",):
            for field in ("series", "segmentation"):
                manifest[section][key][field] = str(folder / manifest[section][key][field])
        for visit in manifest[section]["visits"]:
            for field in ("series", "segmentation"):
                if field in visit:
                    visit[field] = str(folder / visit[field])
    change(manifest)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    return path


def test_response_command_writes_json_and_csv(source, tmp_path, capsys):
    folder, truth = source
    assert main(["response", str(folder / "manifest.json"), "-o", str(tmp_path / "out")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["pfs_months"] == pytest.approx(truth["pfs_months"]) and summary["progressed"] is False
    report = json.loads((tmp_path / "out" / "response.json").read_text())
    assert {"visits", "lesions", "recist", "pfs_months", "progressed", "dose_response"} <= set(report)
    lesion = report["lesions"][0]["course"][0]
    assert {"volume_ml", "longest_diameter_mm", "longest_diameter_end_points_lps_mm", "slice_index"} <= set(lesion)
    rows = (tmp_path / "out" / "response.csv").read_text().splitlines()
    assert rows[0].startswith("patient_id,lesion,organ") and len(rows) == 1 + 6 * 5  # 6 lesions x (baseline + 4)


BAD = [
    (lambda m: m["followup"]["visits"].reverse(), "followup.visits[1].date", "chronological"),
    (lambda m: m["followup"]["visits"][0].pop("segmentation"), "followup.visits[0].segmentation", "carry_over"),
    (lambda m: m["followup"].pop("start_date"), "followup.start_date", "start of the intra-arterial cycle"),
    (lambda m: m["followup"].update(dosimetry_results=m["followup"]["baseline"]["segmentation"]),
     "followup.lesion_doses_gy", "given twice"),
    (lambda m: m["followup"].update(targets=["Lesion 1", "Lesion 2", "Lesion 3"]), "followup.targets",
     "at most 2 per organ"),
    (lambda m: m["followup"]["visits"][0].update(non_target="stable"), "followup.visits[0].non_target", "not one of"),
    (lambda m: m["followup"].update(lastcontact="2026-01-01"), "followup.lastcontact", "unknown key"),
    (lambda m: m["followup"].update(last_contact="2025-05-01"), "followup.last_contact", "before the last visit"),
    (lambda m: m["followup"].update(events=[{"type": "death", "date": "2026-01-01T00:00:00"}]),
     "followup.last_contact", "date of death"),
    (lambda m: m["followup"]["lesions"].update({"Lesion 9": {"organ": "liver"}}), "followup.lesions",
     "not segments of the baseline"),
]


@pytest.mark.parametrize("change, field, message", BAD, ids=[b[1] + ":" + b[2] for b in BAD])
def test_bad_follow_up_is_one_clear_error_and_nothing_written(source, tmp_path, capsys, change, field, message):
    path = _variant(source, tmp_path, change)
    out = tmp_path / "out"
    assert main(["response", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and field in err and message in err, err
    assert not out.exists()


def test_a_lesion_not_at_baseline_must_be_named_a_new_lesion(source, tmp_path):
    folder, truth = source
    from iahepaticprrt.io.segmentation_files import read_seg_nrrd, write_seg_nrrd

    seg = read_seg_nrrd(folder / "m06.seg.nrrd")
    mask = np.zeros(seg.grid.shape_kji, bool)
    mask[1:4, 1:4, 1:4] = True
    seg.add("Lesion 7", mask)
    write_seg_nrrd(seg, tmp_path / "m06.seg.nrrd")

    def change(m):
        m["followup"]["visits"][1]["segmentation"] = str(tmp_path / "m06.seg.nrrd")
    path = _variant(source, tmp_path, change)
    manifest = read_manifest(path)
    with pytest.raises(InputError, match="not at baseline: list them in new_lesions") as error:
        run_followup(manifest.data, manifest.path)
    assert error.value.field == "followup.visits[1].new_lesions"
    manifest.data["followup"]["visits"][1]["new_lesions"] = ["Lesion 7"]
    report = run_followup(manifest.data, manifest.path).report
    assert report["visits"][1]["recist"]["overall_response"] == "PD" and report["recist"]["progression_visit"] == "month 6"
    assert report["new_lesions"][0]["measurement"]["voxels"] == 27


def test_no_visit_before_an_early_event(source, tmp_path):
    def change(m):
        m["followup"]["visits"] = []
        m["followup"]["events"] = [{"type": "clinical_progression", "date": "2025-05-20T10:30:00"}]
    report = run_followup(read_manifest(_variant(source, tmp_path, change)).data, "m").report
    # 57 days after 2025-03-24 10:30.
    assert report["pfs_months"] == pytest.approx(57 / 30.4375) and report["recist"]["best_overall_response"] == "NE"


def test_doses_of_the_cycle_and_the_cumulative_dose_over_cycles(source, tmp_path):
    folder, _ = source
    data = read_manifest(folder / "manifest.json").data
    data["followup"]["lesion_doses_gy"] = {"Lesion 1": 30.0, "Lesion 2": 12.0}
    # Earlier intravenous cycles with per-VOI doses (dosimetry.previous_cycles[].voi_doses_gy).
    data["dosimetry"] = {"previous_cycles": [{"cycle": "1", "voi_doses_gy": {"Lesion 1": 5.0, "Lesion 2": 2.0}},
                                             {"cycle": "2", "voi_doses_gy": {"Lesion 1": 4.0}}]}
    doses, origin, cumulative, warnings = _doses(data, None, "m")
    assert doses == {"Lesion 1": 30.0, "Lesion 2": 12.0} and "lesion_doses_gy" in origin
    assert cumulative == {"Lesion 1": 39.0, "Lesion 2": None}          # 30 + 5 + 4; Lesion 2 lacks cycle 2
    assert warnings == ["Lesion 2: no dose for previous cycle(s) 2: no cumulative dose"]
    # From a run's results.json: the absorbed_dose_gy of its dosimetry VOIs, the same number.
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"dosimetry": {"vois": [{"name": "Lesion 1", "absorbed_dose_gy": 33.3}]}}))
    data["followup"].pop("lesion_doses_gy")
    data["followup"]["dosimetry_results"] = str(results)
    data.pop("dosimetry")
    doses, origin, _, _ = _doses(data, None, "m")
    assert doses == {"Lesion 1": 33.3} and str(results) in origin


def test_carry_over_refuses_a_series_of_another_modality(source, tmp_path):
    from iahepaticprrt.imaging.grid import Grid
    from iahepaticprrt.io.dicom_writer import write_image_series

    grid = Grid((4, 8, 8), (2.0, 2.0, 3.0))
    write_image_series(np.zeros(grid.shape_kji), grid, tmp_path / "ct", "CT", {}, uid_key="modality test",
                       fixed_slope=1.0)

    def change(m):
        m["followup"]["baseline"]["series"] = str(tmp_path / "ct")
        m["followup"]["visits"][0] = dict(m["followup"]["visits"][0], series=str(tmp_path / "ct"),
                                          carry_over={"registration": "rigid"})
        m["followup"]["visits"][0].pop("segmentation")
    manifest = read_manifest(_variant(source, tmp_path, change))
    with pytest.raises(InputError, match="the series is CT, the manifest says MR") as error:
        run_followup(manifest.data, manifest.path)
    assert error.value.field == "followup.baseline.modality"
