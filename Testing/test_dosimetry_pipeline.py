"""``iahprrt dosimetry`` end to end on synthetic DICOM time points whose truth the test knows, and
every bad input of the issue (one clear error, or a per-VOI warning, never a silent number)."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pydicom
import pytest

from iahepaticprrt.cli import main
from iahepaticprrt.dosimetry.ct_density import DEFAULT_CALIBRATION, RED_MARROW_DENSITY_G_PER_ML
from iahepaticprrt.dosimetry.lu177 import LDM_GY_G_PER_MBQH
from iahepaticprrt.imaging.grid import Grid
from iahepaticprrt.imaging.segmentation import Segmentation
from iahepaticprrt.imaging.voi_roles import role_of
from iahepaticprrt.imaging.volume import Volume
from iahepaticprrt.io.segmentation_files import write_seg_nrrd
from iahepaticprrt.io.volume_files import read_volume, write_volume

import spect_builders as sb
from cli_checks import error_lines

ADMINISTERED_MBQ = 7400.0
RESIDUAL_MBQ = 150.0


@pytest.fixture(scope="module")
def patient():
    return sb.default_patient()


@pytest.fixture(scope="module")
def dicom_case(patient, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dicom")
    written = sb.write_patient(patient, folder)
    return folder, written


def _run(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _base_args(folder, written, out, extra=()):
    return ["dosimetry", "--spect", *[str(w["nm"]) for w in written], "--ct", *[str(w["ct"]) for w in written],
            "--seg", str(folder / "vois.seg.nrrd"), "-o", str(out), "--administered-mbq", str(ADMINISTERED_MBQ),
            "--residual-mbq", str(RESIDUAL_MBQ), "--administration-time", sb.ADMINISTRATION.isoformat(), *extra]


def test_end_to_end_from_dicom_counts(patient, dicom_case, tmp_path, capsys):
    folder, written = dicom_case
    code, out, err = _run(_base_args(folder, written, tmp_path / "out",
                                     ["--no-registration", "--calibration-uncertainty-percent", "5"]), capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert set(summary["outputs"]) == {"dosimetry_json", "dose_nrrd", "dvh_csv"}
    report = json.loads((tmp_path / "out" / "dosimetry.json").read_text())
    vois = {v["name"]: v for v in report["vois"]}
    net = ADMINISTERED_MBQ - RESIDUAL_MBQ
    for region in patient.regions:
        voi = vois[region.name]
        for key in ("name", "role", "mass_g", "tac", "model", "tia_mbqh", "residence_time_h", "absorbed_dose_gy",
                    "absorbed_dose_uncertainty_gy", "absorbed_dose_method", "d2_gy", "d50_gy", "d98_gy"):
            assert key in voi, key
        # TAC: the truth at each acquisition time (no partial volume in this phantom).
        for point, t in zip(voi["tac"], patient.times_h):
            assert point["time_h"] == pytest.approx(t, abs=1e-6)
            assert point["activity_mbq"] == pytest.approx(region.activity_mbq(t), rel=1e-3)
        # Mass from the CT: HU -> density by the documented bilinear calibration; a bone-marrow VOI
        # takes the red marrow density instead (its CT number is the trabecular bone's).
        n = int(patient.masks[region.name].sum())
        density = (RED_MARROW_DENSITY_G_PER_ML if role_of(region.name).organ == "bone_marrow"
                   else float(DEFAULT_CALIBRATION(np.array([region.hu]))[0]))
        mass = n * patient.grid.voxel_volume_ml * density
        assert voi["mass_g"] == pytest.approx(mass, rel=1e-4)
        assert voi["residence_time_h"] == pytest.approx(voi["tia_mbqh"] / net, rel=1e-12)
        assert voi["ldm_voi_dose_gy"] == pytest.approx(LDM_GY_G_PER_MBQH * voi["tia_mbqh"] / mass, rel=1e-4)
        # LDM: the dose map carries the VOI's TIA, so its absorbed dose is the same local-deposition dose.
        assert voi["absorbed_dose_gy"] == pytest.approx(voi["ldm_voi_dose_gy"], rel=1e-3)
        assert voi["absorbed_dose_uncertainty_gy"] >= 0.05 * voi["absorbed_dose_gy"] * 0.999  # the calibration's 5 %
    lesion = vois["Lesion 1"]
    assert lesion["model"] == "mono-exp" and lesion["tia_mbqh"] == pytest.approx(patient.regions[0].tia_mbqh(), rel=0.01)
    assert lesion["role"] == "target_lesion" and lesion["sphere_model_dose_gy"] > 0
    kidney = vois["Left kidney"]
    assert kidney["bed_gy"] > kidney["absorbed_dose_gy"] and kidney["organ_s_value_dose_gy"] > 0
    # With 4 points auto takes mono-exp for the uptake curve: within 5 % of the bi-exponential truth.
    assert kidney["tia_mbqh"] == pytest.approx(patient.regions[1].tia_mbqh(), rel=0.05)
    assert report["limits"]["kidney_voi"] == "Left kidney"
    assert report["limits"]["limits"]["bone_marrow_dose_gy"]["this_cycle"] == pytest.approx(
        vois["Bone marrow"]["absorbed_dose_gy"])
    # Timing and scaling provenance.
    assert [tp["time_h"] for tp in report["time_points"]] == pytest.approx(patient.times_h)
    assert all(tp["acquisition_duration_s"] == pytest.approx(sb.DURATION_S) for tp in report["time_points"])
    assert report["provenance"]["density"].startswith("reference CT")
    # dose.nrrd on the reference SPECT grid, in Gy; dvh.csv one curve per VOI.
    dose = read_volume(tmp_path / "out" / "dose.nrrd")
    assert dose.grid.is_same(patient.grid, 1e-4)
    mask = patient.masks["Lesion 1"]
    density = float(DEFAULT_CALIBRATION(np.array([50.0]))[0])
    assert float(dose.array[mask].mean()) == pytest.approx(lesion["absorbed_dose_gy"], rel=1e-4)
    assert lesion["absorbed_dose_gy"] == pytest.approx(LDM_GY_G_PER_MBQH * lesion["tia_mbqh"] / lesion["mass_g"], rel=0.01)
    assert density > 1.0
    with open(tmp_path / "out" / "dvh.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["voi"] for r in rows} == {r.name for r in patient.regions}
    assert float(rows[0]["volume_fraction"]) == 1.0


def test_vsv_method_and_registration_of_shifted_time_points(patient, tmp_path, capsys):
    # Time points 2-4 shifted by a whole number of voxels (2, -1, 1): registration on the CTs must undo it.
    shift = (9.6, -4.8, 4.8)
    written = [sb.write_time_point(patient, i, tmp_path, shift_mm=(0.0, 0.0, 0.0) if i == 0 else shift)
               for i in range(4)]
    write_seg_nrrd(patient.segmentation(), tmp_path / "vois.seg.nrrd")
    code, out, err = _run(_base_args(tmp_path, written, tmp_path / "out", ["--method", "vsv"]), capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "out" / "dosimetry.json").read_text())
    for tp in report["time_points"][1:]:
        assert tp["registration"]["on"] == "CT"
        np.testing.assert_allclose(tp["registration"]["translation_mm"], shift, atol=0.5)
    lesion = next(v for v in report["vois"] if v["name"] == "Lesion 1")
    for point, t in zip(lesion["tac"], patient.times_h):
        assert point["activity_mbq"] == pytest.approx(patient.regions[0].activity_mbq(t), rel=0.03)
    assert lesion["tia_mbqh"] == pytest.approx(patient.regions[0].tia_mbqh(), rel=0.03)
    assert report["provenance"]["dose"]["method"] == "voxel S-value convolution"
    assert "4.8 mm kernel" in report["provenance"]["dose"]["grid_handling"]
    # VSV against LDM for this 20 mm sphere: the energy-complete kernel keeps all electron energy but
    # spreads part of it over the voxels around the sphere's surface (voxelised: a few per cent out), while
    # the sphere's own photons add 1-2 %.
    ratio = lesion["absorbed_dose_gy"] / lesion["ldm_voi_dose_gy"]
    print(f"20 mm sphere: VSV / LDM = {ratio:.4f}")
    assert 0.95 < ratio < 1.0


# ---- bad input ---------------------------------------------------------------------------------
def _volume_case(patient, folder, times=(4.0, 24.0, 96.0)):
    paths = []
    for t in times:
        path = folder / f"tp_{t:g}h.nrrd"
        write_volume(Volume(patient.concentration_bqml(t).astype(np.float32), patient.grid, "Bq/mL"), path)
        paths.append(str(path))
    write_seg_nrrd(patient.segmentation(), folder / "vois.seg.nrrd")
    return paths


def _volume_args(paths, folder, out, extra=()):
    return ["dosimetry", "--spect", *paths, "--seg", str(folder / "vois.seg.nrrd"), "-o", str(out),
            "--administered-mbq", "7400", *extra]


def _assert_refused(code, err, out_dir, *fragments):
    assert code == 2
    lines = error_lines(err)
    assert len(lines) == 1 and lines[0].startswith("iahprrt dosimetry: error:")
    for fragment in fragments:
        assert fragment in err
    assert not (out_dir / "dosimetry.json").exists() and not (out_dir / "dose.nrrd").exists()


def test_volume_files_need_times(patient, tmp_path, capsys):
    paths = _volume_case(patient, tmp_path)
    code, out, err = _run(_volume_args(paths, tmp_path, tmp_path / "out"), capsys)
    _assert_refused(code, err, tmp_path / "out", "--times-h")
    code, out, err = _run(_volume_args(paths, tmp_path, tmp_path / "ok", ["--times-h", "4", "24", "96"]), capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "ok" / "dosimetry.json").read_text())
    assert report["provenance"]["density"].startswith("no CT: water-equivalent 1.0 g/mL")


def test_times_out_of_order_or_before_administration(patient, tmp_path, capsys):
    paths = _volume_case(patient, tmp_path)
    code, out, err = _run(_volume_args(paths, tmp_path, tmp_path / "out", ["--times-h", "24", "4", "96"]), capsys)
    _assert_refused(code, err, tmp_path / "out", "out of order")
    code, out, err = _run(_volume_args(paths, tmp_path, tmp_path / "out", ["--times-h", "-1", "24", "96"]), capsys)
    _assert_refused(code, err, tmp_path / "out", "before the administration")


def test_fewer_time_points_than_the_model_needs(patient, tmp_path, capsys):
    paths = _volume_case(patient, tmp_path)
    code, out, err = _run(_volume_args(paths, tmp_path, tmp_path / "out",
                                       ["--times-h", "4", "24", "96", "--model", "bi-exp"]), capsys)
    _assert_refused(code, err, tmp_path / "out", "bi-exp needs at least 4 time points")


def test_counts_without_calibration(patient, tmp_path, capsys):
    written = [sb.write_time_point(patient, i, tmp_path, with_private_cf=False, ct=False) for i in range(2)]
    write_seg_nrrd(patient.segmentation(), tmp_path / "vois.seg.nrrd")
    args = ["dosimetry", "--spect", *[str(w["nm"]) for w in written], "--seg", str(tmp_path / "vois.seg.nrrd"),
            "-o", str(tmp_path / "out"), "--administered-mbq", "7400", "--administration-time",
            sb.ADMINISTRATION.isoformat()]
    code, out, err = _run(args, capsys)
    _assert_refused(code, err, tmp_path / "out", "calibration factor", "--calibration-cps-per-mbq")
    code, out, err = _run(args[:-2] + ["--administration-time", sb.ADMINISTRATION.isoformat(),
                                       "--calibration-cps-per-mbq", str(sb.CALIBRATION_CPS_PER_MBQ)], capsys)
    assert code == 0, err


def test_mismatched_geometry(patient, tmp_path, capsys):
    paths = _volume_case(patient, tmp_path)
    far = Grid((10, 10, 10), (2.0, 2.0, 2.0), (1000.0, 1000.0, 1000.0))  # a segmentation of another scan
    seg = Segmentation(far)
    seg.add("Lesion 1", np.ones(far.shape_kji, bool))
    write_seg_nrrd(seg, tmp_path / "far.seg.nrrd")
    args = _volume_args(paths, tmp_path, tmp_path / "out", ["--times-h", "4", "24", "96"])
    args[args.index("--seg") + 1] = str(tmp_path / "far.seg.nrrd")
    code, out, err = _run(args, capsys)
    _assert_refused(code, err, tmp_path / "out", "does not overlap")
    # One CT for three time points.
    ct = tmp_path / "ct"
    from iahepaticprrt.io.dicom_writer import write_image_series

    write_image_series(patient.ct_hu(), patient.grid, ct, "CT", {}, uid_key="one ct", fixed_slope=1.0)
    code, out, err = _run(_volume_args(paths, tmp_path, tmp_path / "out", ["--times-h", "4", "24", "96", "--ct",
                                                                           str(ct)]), capsys)
    _assert_refused(code, err, tmp_path / "out", "one CT per time point")


def test_zero_activity_voi_is_a_warning_not_a_number(patient, tmp_path, capsys):
    paths = _volume_case(patient, tmp_path)
    seg = patient.segmentation()
    empty_region = sb.distance_mm(patient.grid, (0.0, -50.0, 40.0)) <= 10.0  # no activity there
    seg.add("Spleen", empty_region)
    write_seg_nrrd(seg, tmp_path / "vois.seg.nrrd")
    code, out, err = _run(_volume_args(paths, tmp_path, tmp_path / "out", ["--times-h", "4", "24", "96"]), capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "out" / "dosimetry.json").read_text())
    spleen = next(v for v in report["vois"] if v["name"] == "Spleen")
    assert spleen.get("tia_mbqh") is None and spleen.get("absorbed_dose_gy") is None
    assert any("zero activity" in w for w in spleen["warnings"])
    assert any(w.startswith("Spleen: zero activity") for w in report["warnings"])


def test_non_finite_values(patient, tmp_path, capsys):
    paths = _volume_case(patient, tmp_path)
    bad = patient.concentration_bqml(24.0).astype(np.float32)
    bad[3, 3, 3] = np.inf
    write_volume(Volume(bad, patient.grid), paths[1])
    code, out, err = _run(_volume_args(paths, tmp_path, tmp_path / "out", ["--times-h", "4", "24", "96"]), capsys)
    _assert_refused(code, err, tmp_path / "out", "non-finite")


def test_voi_partly_outside_the_field_of_view_is_flagged(patient, tmp_path, capsys):
    paths = _volume_case(patient, tmp_path)
    big = Grid((60, 60, 60), (4.8, 4.8, 4.8), np.array(patient.grid.origin_lps_mm) - 12 * 4.8)
    seg = Segmentation(big)
    edge = sb.distance_mm(big, (0.0, 0.0, patient.grid.origin_lps_mm[2])) <= 20.0  # half outside in z
    seg.add("Lesion 2", edge)
    write_seg_nrrd(seg, tmp_path / "edge.seg.nrrd")
    args = _volume_args(paths, tmp_path, tmp_path / "out", ["--times-h", "4", "24", "96"])
    args[args.index("--seg") + 1] = str(tmp_path / "edge.seg.nrrd")
    code, out, err = _run(args, capsys)
    assert code == 0, err
    voi = json.loads((tmp_path / "out" / "dosimetry.json").read_text())["vois"][0]
    assert 0.5 <= voi["spect_coverage_fraction"] < 0.98
    assert any("outside the SPECT field of view" in w for w in voi["warnings"])


def test_header_administration_time_is_used_with_a_warning(patient, tmp_path, capsys):
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    item = Dataset()
    item.RadiopharmaceuticalStartDateTime = sb.ADMINISTRATION.strftime("%Y%m%d%H%M%S")
    written = [sb.write_time_point(patient, i, tmp_path, ct=False,
                                   extra={"RadiopharmaceuticalInformationSequence": Sequence([item])}) for i in range(3)]
    write_seg_nrrd(patient.segmentation(), tmp_path / "vois.seg.nrrd")
    code, out, err = _run(["dosimetry", "--spect", *[str(w["nm"]) for w in written], "--seg",
                           str(tmp_path / "vois.seg.nrrd"), "-o", str(tmp_path / "out"), "--administered-mbq", "7400",
                           "--no-registration"], capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "out" / "dosimetry.json").read_text())
    assert [tp["time_h"] for tp in report["time_points"]] == pytest.approx(patient.times_h[:3])
    assert any("RadiopharmaceuticalStartDateTime" in w for w in report["warnings"])
    assert not math.isnan(report["vois"][0]["tia_mbqh"])
    assert pydicom.dcmread(written[0]["nm"]).SeriesTime != pydicom.dcmread(written[0]["nm"]).AcquisitionTime


def test_single_time_point_uses_hanscheid(patient, tmp_path, capsys):
    paths = _volume_case(patient, tmp_path, times=(96.0,))
    code, out, err = _run(_volume_args(paths, tmp_path, tmp_path / "out", ["--times-h", "96"]), capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "out" / "dosimetry.json").read_text())
    lesion = next(v for v in report["vois"] if v["name"] == "Lesion 1")
    activity = patient.regions[0].activity_mbq(96.0)
    assert lesion["model"] == "hanscheid-stp"
    assert lesion["tia_mbqh"] == pytest.approx(activity * 2 * 96.0 / math.log(2.0), rel=1e-4)
    assert lesion["absorbed_dose_gy"] == pytest.approx(lesion["ldm_voi_dose_gy"], rel=1e-3)  # same TIA in the map
    assert "hanscheid" in report["provenance"]["voxel_tia"]["voxel_model"]
