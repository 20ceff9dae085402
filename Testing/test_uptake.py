"""``iahprrt uptake`` on a two-scan case whose SUVs are known (uptake_case.py), and its bad inputs."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pydicom
import pytest

from iahepaticprrt.cli import main
from iahepaticprrt.uptake.comparison import COLUMN_NAMES

import uptake_case as case
from cli_checks import error_lines


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    return case.write_case(tmp_path_factory.mktemp("uptake_case"))


def _args(paths, out, *extra):
    return ["uptake", "--ia", str(paths["pet_ia"]), "--iv", str(paths["pet_iv"]), "--ia-seg", str(paths["seg_ia"]),
            "--iv-seg", str(paths["seg_iv"]), "-o", str(out), *extra]


def _run(paths, out, capsys, *extra) -> dict:
    assert main(_args(paths, out, *extra)) == 0, capsys.readouterr().err
    capsys.readouterr()
    return json.loads((out / "uptake.json").read_text())


@pytest.fixture(scope="module")
def result(written, tmp_path_factory):
    out = tmp_path_factory.mktemp("uptake_out")
    assert main(_args(written, out)) == 0
    return json.loads((out / "uptake.json").read_text()), out


def _voi(result, name):
    return next(v for v in result["vois"] if v["name"] == name)


def test_enhancement_ratios_mean_and_eligibility(result):
    data, _ = result
    assert data["metric"] == "suv_max" and data["threshold"] == 3.0
    for name in case.LESIONS:
        assert _voi(data, name)["enhancement_ratio"] == pytest.approx(case.expected_ratio(name), rel=1e-4)
    expected_mean = np.mean([case.expected_ratio(n) for n in ("Lesion 1", "Lesion 2", "Lesion 3")])
    assert expected_mean == pytest.approx(3.5)
    assert data["mean_enhancement_ratio"] == pytest.approx(expected_mean, rel=1e-4)
    assert data["eligible"] is True and data["target_lesions_in_mean"] == ["Lesion 1", "Lesion 2", "Lesion 3"]


def test_every_region_suv_max_is_known(result):
    data, _ = result
    for name in case.LESIONS + case.ORGANS:
        voi = _voi(data, name)
        for route in ("ia", "iv"):
            assert voi[route]["suv_max"] == pytest.approx(case.SUV[route][name], rel=1e-4), (name, route)
    # Large lesions: the 1 mL sphere fits inside, so SUVpeak equals the lesion's SUV.
    for name in ("Lesion 1", "Lesion 2"):
        for route in ("ia", "iv"):
            assert _voi(data, name)[route]["suv_peak"] == pytest.approx(case.SUV[route][name], rel=1e-4)


def test_voi_structure_roles_and_volumes(result):
    data, _ = result
    names = [v["name"] for v in data["vois"]]
    # The liver reference sphere (PERCIST, issue 14) is a VOI of its own, with the role "reference".
    assert names[:4] == case.LESIONS and set(names) == set(case.LESIONS + case.ORGANS + ["Healthy liver", "Liver",
                                                                                          "Liver reference sphere"])
    assert _voi(data, "Liver reference sphere")["role"] == "reference"
    lesion = _voi(data, "Lesion 1")
    assert lesion["role"] == "target_lesion" and _voi(data, "Extrahepatic lesion 1")["role"] == "extrahepatic_lesion"
    assert _voi(data, "Spleen")["role"] == "organ" and _voi(data, "Spleen")["enhancement_ratio"] is None
    for key in ("suv_max", "suv_peak", "suv_mean", "volume_ml"):
        assert key in lesion["ia"] and key in lesion["iv"]
    # 30 mm sphere = 14.14 mL; on the 2 mm CT grid and then 4 mm PET the volume stays within 3 %.
    assert lesion["ia"]["volume_ml"] == pytest.approx(case.sphere_volume_ml(15.0), rel=0.03)
    assert set(lesion["ia"]["isocontours"]) == {"41", "50"}


def test_small_lesions_are_flagged_for_partial_volume(result, written, tmp_path, capsys):
    data, _ = result
    flags = {v["name"]: v["partial_volume_flag"] for v in data["vois"] if v["role"].endswith("lesion")}
    # Limit 3 x 7 mm = 21 mm: Lesion 3 (10 mm) and the 16 mm extra-hepatic lesion are flagged.
    assert flags == {"Lesion 1": False, "Lesion 2": False, "Lesion 3": True, "Extrahepatic lesion 1": True}
    assert data["partial_volume_criterion"]["diameter_limit_mm"] == 21.0
    assert any("partial volume" in w for w in _voi(data, "Lesion 3")["warnings"])
    wider = _run(written, tmp_path / "fwhm", capsys, "--fwhm-mm", "9")  # limit 27 mm
    assert _voi(wider, "Lesion 1")["partial_volume_flag"] is False and _voi(wider, "Lesion 2")["partial_volume_flag"]


def test_tumour_to_organ_ratios(written, tmp_path, capsys):
    data = _run(written, tmp_path, capsys, "--organ-metric", "suv_max", "--save-suv")
    from iahepaticprrt.io.volume_files import read_volume

    saved = read_volume(tmp_path / "ia_suv.nrrd")
    assert saved.grid.is_same(case.PET_GRIDS["ia"], 1e-4) and saved.array.max() == pytest.approx(40.0, rel=1e-4)
    ia, iv = data["ratios"]["ia"], data["ratios"]["iv"]
    assert ia["tumour_to_spleen"]["lesions"]["Lesion 1"] == pytest.approx(40.0 / 20.0, rel=1e-4)
    assert iv["tumour_to_spleen"]["lesions"]["Lesion 2"] == pytest.approx(10.0 / 22.0, rel=1e-4)
    # Left and right kidneys combined: the larger SUVmax (15 on IA).
    assert ia["tumour_to_kidney"]["organ_value"] == pytest.approx(15.0, rel=1e-4)
    assert ia["tumour_to_kidney"]["mean_target_lesions"] == pytest.approx((40 + 30 + 35) / 3 / 15, rel=1e-4)
    assert set(ia) == {"tumour_to_healthy_liver", "tumour_to_kidney", "tumour_to_spleen"}


def test_suv_peak_metric(written, tmp_path, capsys):
    data = _run(written, tmp_path, capsys, "--metric", "suv_peak", "--threshold", "4")
    assert data["metric"] == "suv_peak"
    assert _voi(data, "Lesion 1")["enhancement_ratio"] == pytest.approx(4.0, rel=1e-4)
    assert data["eligible"] is False  # the small Lesion 3 pulls the mean below 4


def test_csv_and_provenance(result, written):
    data, out = result
    with open(out / "uptake.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == COLUMN_NAMES and len(rows) == len(data["vois"])
    row = next(r for r in rows if r["name"] == "Lesion 1")
    assert float(row["enhancement_ratio"]) == pytest.approx(4.0, rel=1e-4) and row["partial_volume_flag"] == "false"
    provenance = data["provenance"]
    uid = pydicom.dcmread(next(written["pet_ia"].iterdir()), stop_before_pixels=True).SeriesInstanceUID
    assert provenance["series_instance_uids"]["ia"] == uid
    assert provenance["suv"]["iv"]["patient"]["weight_kg"] == 78.0
    assert provenance["inputs"]["ia_pet"] == str(written["pet_ia"])
    assert provenance["parameters"]["metric"] == "suv_max" and provenance["software_version"]


def test_labelmap_with_labels_csv_and_mapping(written, tmp_path, capsys):
    from iahepaticprrt.io.segmentation_files import read_segmentation, write_labelmap

    for route in ("ia", "iv"):
        seg = read_segmentation(written[f"seg_{route}"])
        seg.segments = [s for s in seg.segments if s.name != "Liver"]  # a label map cannot overlap
        for s in seg.segments:
            if s.name == "Lesion 1":
                s.name = "Tumour A"
        write_labelmap(seg, tmp_path / f"{route}.nii.gz", tmp_path / "labels.csv")
    (tmp_path / "mapping.csv").write_text("Tumour A,Lesion 1\n")
    paths = dict(written, seg_ia=tmp_path / "ia.nii.gz", seg_iv=tmp_path / "iv.nii.gz")
    data = _run(paths, tmp_path / "out", capsys, "--labels", str(tmp_path / "labels.csv"), "--mapping",
                str(tmp_path / "mapping.csv"))
    assert _voi(data, "Lesion 1")["enhancement_ratio"] == pytest.approx(4.0, rel=1e-4)
    assert data["provenance"]["segment_renaming"]["ia"] == {"Tumour A": "Lesion 1"}


# ---- bad input ---------------------------------------------------------------------------------
def test_lesion_in_one_segmentation_only(tmp_path, capsys):
    paths = case.write_case(tmp_path / "case", omit={"iv": ["Lesion 2"]})
    data = _run(paths, tmp_path / "out", capsys)
    lesion = _voi(data, "Lesion 2")
    assert lesion["iv"] is None and lesion["enhancement_ratio"] is None
    assert any("not in the IV segmentation" in w for w in lesion["warnings"])
    assert data["target_lesions_in_mean"] == ["Lesion 1", "Lesion 3"]
    assert data["mean_enhancement_ratio"] == pytest.approx((4.0 + 3.5) / 2, rel=1e-4)
    assert any("left out of the mean" in w and "Lesion 2" in w for w in data["warnings"])


def test_empty_segment_and_segment_outside_the_pet(tmp_path, capsys, written):
    from iahepaticprrt.imaging.grid import Grid
    from iahepaticprrt.imaging.segmentation import Segmentation
    from iahepaticprrt.io.segmentation_files import read_segmentation, write_seg_nrrd

    seg = read_segmentation(written["seg_iv"])
    seg.segments[[s.name for s in seg.segments].index("Spleen")].mask[:] = False
    write_seg_nrrd(seg, tmp_path / "iv.seg.nrrd")
    far = Segmentation(Grid((4, 4, 4), (2.0, 2.0, 2.0), (900.0, 900.0, 900.0)), source="far")
    far.add("Lesion 1", np.ones((4, 4, 4), bool))
    write_seg_nrrd(far, tmp_path / "ia.seg.nrrd")
    data = _run(dict(written, seg_iv=tmp_path / "iv.seg.nrrd", seg_ia=tmp_path / "ia.seg.nrrd"), tmp_path / "out",
                capsys)
    spleen = _voi(data, "Spleen")
    assert spleen["iv"]["suv_mean"] is None and any("iv: empty segment" in w for w in spleen["warnings"])
    lesion = _voi(data, "Lesion 1")
    assert lesion["ia"]["suv_max"] is None and lesion["enhancement_ratio"] is None
    assert any("ia: the segment lies outside the PET field of view" in w for w in lesion["warnings"])
    assert data["mean_enhancement_ratio"] is None and data["eligible"] is None


def _fails(args, capsys, *words):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    lines = error_lines(err)
    assert len(lines) == 1 and lines[0].startswith("iahprrt uptake: error:")
    for word in words:
        assert word in err, err
    return err


def test_missing_weight_names_file_and_field_and_writes_nothing(tmp_path, capsys, written):
    pet = tmp_path / "pet_iv"
    shutil.copytree(written["pet_iv"], pet)
    for path in pet.iterdir():
        ds = pydicom.dcmread(path)
        del ds.PatientWeight
        ds.save_as(path)
    out = tmp_path / "out"
    _fails(_args(dict(written, pet_iv=pet), out), capsys, "PatientWeight (0010,1030)", str(pet), "--weight-kg")
    assert not (out / "uptake.json").exists() and not (out / "uptake.csv").exists()
    data = _run(dict(written, pet_iv=pet), out, capsys, "--iv-weight-kg", "78")
    assert _voi(data, "Lesion 1")["enhancement_ratio"] == pytest.approx(4.0, rel=1e-4)


def test_unknown_units_and_several_series(tmp_path, capsys, written):
    pet = tmp_path / "pet_ia"
    shutil.copytree(written["pet_ia"], pet)
    for path in pet.iterdir():
        ds = pydicom.dcmread(path)
        ds.Units = "PROPCPS"
        ds.save_as(path)
    _fails(_args(dict(written, pet_ia=pet), tmp_path / "out"), capsys, "Units (0054,1001)", "PROPCPS")
    both = tmp_path / "both"
    shutil.copytree(written["pet_ia"], both / "a")
    shutil.copytree(written["pet_iv"], both / "b")
    uid = pydicom.dcmread(next((both / "a").iterdir()), stop_before_pixels=True).SeriesInstanceUID
    _fails(_args(dict(written, pet_ia=both), tmp_path / "out"), capsys, "several series", uid, "--series-uid")
    data = _run(dict(written, pet_ia=both), tmp_path / "out", capsys, "--ia-series-uid", uid)
    assert data["provenance"]["series_instance_uids"]["ia"] == uid


def test_missing_injection_time_and_dose(tmp_path, capsys, written):
    pet = tmp_path / "pet_iv"
    shutil.copytree(written["pet_iv"], pet)
    for path in pet.iterdir():
        ds = pydicom.dcmread(path)
        item = ds.RadiopharmaceuticalInformationSequence[0]
        del item.RadiopharmaceuticalStartDateTime
        del item.RadiopharmaceuticalStartTime
        del item.RadionuclideTotalDose
        ds.save_as(path)
    _fails(_args(dict(written, pet_iv=pet), tmp_path / "out"), capsys, "(0018,1078)", "--injection-time")
    _fails(_args(dict(written, pet_iv=pet), tmp_path / "out", "--iv-injection-time", "2025-03-04T09:45:00"), capsys,
           "RadionuclideTotalDose (0018,1074)", "--injected-mbq")
    data = _run(dict(written, pet_iv=pet), tmp_path / "out", capsys, "--iv-injection-time", "2025-03-04T09:45:00",
                "--iv-injected-mbq", "160")
    assert _voi(data, "Lesion 1")["enhancement_ratio"] == pytest.approx(4.0, rel=1e-4)


def test_residual_activity_is_reported_and_used(tmp_path, capsys, written):
    data = _run(written, tmp_path, capsys, "--ia-residual-mbq", "15")
    ia = data["provenance"]["suv"]["ia"]
    assert ia["injected_activity_bq"] == 150e6 and ia["net_injected_activity_bq"] == 135e6
    # Net activity 135 instead of 150 MBq: IA SUVs x 150/135.
    assert _voi(data, "Lesion 1")["enhancement_ratio"] == pytest.approx(4.0 * 150 / 135, rel=1e-4)


# ---- issue 14: reference regions, intervals, cross-calibration on the known case -------------------
def test_bad_reference_centre_and_calibration_factor_name_the_field(written, tmp_path, capsys):
    # The IA case's Lesion 1 centre (-30, -30, 2) is not healthy liver.
    err = _fails(_args(written, tmp_path / "out", "--ia-reference-centre", "-30", "-30", "2"), capsys,
                 "ia reference_sphere_centre_lps_mm", "not in the healthy liver", str(written["seg_ia"]))
    assert "Traceback" not in err
    _fails(_args(written, tmp_path / "out", "--iv-calibration-factor", "0"), capsys, "--iv-calibration-factor",
           "positive")
    _fails(_args(written, tmp_path / "out", "--replicates", "5"), capsys, "--replicates")
    assert not (tmp_path / "out" / "uptake.json").exists()


def test_cross_calibration_multiplies_the_suv_and_warns_outside_ten_percent(written, tmp_path, capsys):
    data = _run(written, tmp_path / "cal", capsys, "--site", "Centre C", "--calibration-factor", "1.15",
                "--replicates", "0")
    # Every SUV x 1.15 (the case's SUVs are known exactly): Lesion 1 40 -> 46 (IA), 10 -> 11.5 (IV); ratio unchanged.
    lesion = _voi(data, "Lesion 1")
    assert lesion["ia"]["suv_max"] == pytest.approx(46.0, rel=1e-4) and lesion["iv"]["suv_max"] == pytest.approx(11.5, rel=1e-4)
    assert lesion["enhancement_ratio"] == pytest.approx(4.0, rel=1e-4)
    assert data["cross_calibration"]["site"] == "Centre C" and data["cross_calibration"]["ia"]["factor"] == 1.15
    assert any("outside 0.9-1.1" in w for w in data["provenance"]["suv"]["ia"]["warnings"])
    assert data["uncertainty"] is None and data["borderline"] is None


def test_noise_free_case_has_point_intervals_and_a_healthy_liver_with_its_margin(result):
    data, _ = result
    for v in data["vois"]:
        if v["role"].endswith("lesion") and v["enhancement_ratio"] is not None:
            interval = v["enhancement_ratio_interval"]["suv_max"]
            # No noise in the case's reference sphere (only the 16-bit storage's quantisation, 1e-5 of the
            # values): the interval is the measured ratio.
            assert interval["ci_low"] == pytest.approx(v["enhancement_ratio"], rel=1e-4)
            assert interval["ci_high"] == pytest.approx(v["enhancement_ratio"], rel=1e-4)
    assert data["borderline"] is False and data["probability_mean_at_least_threshold"] == 1.0
    healthy = _voi(data, "Healthy liver")
    # The case has no blur: on the IA grid the healthy liver's SUVmax is the liver's 4.0 once the lesions'
    # partial-volume voxels are 14 mm away. On the shifted IV grid a voxel shared with the right kidney (16)
    # reads 7.75: the spill-in warning names it, 2 mm away.
    assert healthy["ia"]["suv_max"] == pytest.approx(4.0, rel=1e-4)
    assert healthy["iv"]["spill_in"][0]["from"] == "Right kidney" and healthy["iv"]["suv_max"] > 5.0
    assert any("spill-in" in w and "Right kidney" in w for w in healthy["warnings"])
    assert data["reference_regions"]["ia"]["healthy_liver"]["source_segment"] == "Healthy liver"
