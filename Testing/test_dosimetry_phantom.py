"""Dosimetry of the synthetic trial patient (issue 3: ``iahprrt phantom --small --no-noise``) against its truth.json.

The SPECT has a 12 mm FWHM resolution (truth ``generator.spect_fwhm_mm``): without correction the
organ VOIs keep 75-80 % of their activity (spill-out) and the healthy liver gains 13 % from the
lesions. The run therefore uses the geometric-transfer-matrix correction of the VOI activities
with that FWHM (``--pvc-fwhm-mm``), registration on the CTs, the header's calibration and
durations, and the model the phantom's kinetics follow (``bi-exp-uptake``); ``auto`` (mono-exp
with 4 points) is checked on the same curves.

Known limits, measured here and stated in the report: the bone marrow (thin vertebral cylinders,
voxelised on the 4 x 4 x 5 mm CT grid, next to non-uniform bone and disc background) comes out
about 6 % low after correction; its CT density (spongiosa at 230 HU -> 1.18 g/mL) is above the
1.04 g/mL the phantom uses for every segment's mass, so its dose is compared through dose x mass.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from iahepaticprrt.cli import main
from iahepaticprrt.dosimetry import kinetics
from iahepaticprrt.dosimetry.lu177 import LDM_GY_G_PER_MBQH

ORGANS = ("Liver", "Healthy liver", "Left kidney", "Right kidney", "Spleen", "Body")


@pytest.fixture(scope="module")
def patient(tmp_path_factory):
    folder = tmp_path_factory.mktemp("phantom")
    out = folder / "patient"
    assert main(["phantom", str(out), "--small", "--no-noise"]) == 0
    truth = json.loads((out / "truth.json").read_text())
    assert truth["generator"]["noise"] is False and truth["generator"]["size"] == "small"
    return folder, out, truth


def _dosimetry_args(out, truth, result, method, pvc):
    spect = truth["spect"]
    args = ["dosimetry", "--spect", *[str(out / tp["nm_file"]) for tp in spect["time_points"]],
            "--ct", *[str(out / tp["ct_folder"]) for tp in spect["time_points"]],
            "--seg", str(out / spect["segmentation"]), "-o", str(result),
            "--administered-mbq", str(spect["administered_activity_mbq"]),
            "--residual-mbq", str(spect["residual_activity_mbq"]),
            "--administration-time", spect["administration_datetime"],
            "--model", "bi-exp-uptake", "--method", method]
    return args + (["--pvc-fwhm-mm", str(truth["generator"]["spect_fwhm_mm"])] if pvc else [])


_RUNS: dict = {}


def _run_mode(patient, method: str, pvc: bool):
    """One dosimetry of the patient with the command's own argument parser and options, cached per mode.
    The time points are read, timed and registered once (``align_time_points``: registration does not
    depend on the dose method or the partial-volume correction), then each mode runs the cycle's
    dosimetry; dose.nrrd and dosimetry.json are written and read back as a user would."""
    import argparse

    from iahepaticprrt.commands.dosimetry import add_arguments, options_from_args
    from iahepaticprrt.dosimetry.cycle import dosimetry_of_cycle, write_outputs
    from iahepaticprrt.io.dicom_series import read_series
    from iahepaticprrt.io.segmentation_files import read_segmentation
    from iahepaticprrt.study.dosimetry_run import align_time_points, load_time_points

    folder, out, truth = patient
    key = (str(folder), method, pvc)
    if key not in _RUNS:
        result_dir = folder / f"dosimetry-{method}-{'gtm' if pvc else 'no-pvc'}"
        parser = argparse.ArgumentParser()
        add_arguments(parser)
        args = parser.parse_args(_dosimetry_args(out, truth, result_dir, method, pvc)[1:])
        options = options_from_args(args)
        if "aligned" not in _RUNS:
            points = load_time_points(args.spect, options)
            cts = [read_series(path, modalities=("CT",)).volume for path in args.ct]
            _RUNS["aligned"] = align_time_points(points, options, cts) + (read_segmentation(args.seg),)
        aligned, warnings, segmentation = _RUNS["aligned"]
        result = dosimetry_of_cycle(aligned, segmentation, options, list(warnings))
        write_outputs(result, result_dir)
        _RUNS[key] = (result, result_dir)
    return _RUNS[key]


@pytest.fixture(scope="module")
def phantom(patient):
    _, out, truth = patient
    _, result_dir = _run_mode(patient, "ldm", True)
    report = json.loads((result_dir / "dosimetry.json").read_text())
    return out, truth, report


MODES = [("ldm", False), ("ldm", True), ("vsv", False), ("vsv", True)]


@pytest.fixture(scope="module", params=MODES, ids=[f"{m}-{'gtm' if p else 'no-pvc'}" for m, p in MODES])
def mode_run(request, patient):
    method, pvc = request.param
    _, out, truth = patient
    result, result_dir = _run_mode(patient, method, pvc)
    return out, truth, result, result_dir, request.param


def _voi(report, name):
    return next(v for v in report["vois"] if v["name"] == name)


def test_timing_calibration_and_durations_from_the_headers(phantom):
    _, truth, report = phantom
    for tp, expected in zip(report["time_points"], truth["spect"]["time_points"]):
        assert tp["time_h"] == pytest.approx(expected["time_h"], abs=1e-6)
        assert tp["acquisition_duration_s"] == pytest.approx(expected["acquisition_duration_s"])
        assert tp["calibration_cps_per_mbq"] == pytest.approx(truth["spect"]["calibration_cps_per_mbq"])


def test_registration_recovers_the_patient_motion(phantom):
    import SimpleITK as sitk

    _, truth, report = phantom
    for index, tp in enumerate(report["time_points"][1:], start=2):
        reg = tp["registration"]
        transform = sitk.Euler3DTransform()
        transform.SetFixedParameters(reg["fixed_parameters"])
        transform.SetParameters(reg["parameters"])
        for name in ("Liver", "Left kidney", "Spleen", "Lesion 1"):
            centres = truth["regions"][name]["centre_lps_mm_per_scan"]
            moved = np.array(transform.TransformPoint(tuple(centres["spect_tp1"])))
            assert np.linalg.norm(moved - np.array(centres[f"spect_tp{index}"])) < 1.5, (index, name)


def test_organ_tia_and_residence_time_within_5_percent(phantom):
    _, truth, report = phantom
    spect = truth["spect"]
    net = spect["administered_activity_mbq"] - spect["residual_activity_mbq"]
    for name in ORGANS + ("Bone marrow",):
        voi = _voi(report, name)
        print(f"{name}: TIA {voi['tia_mbqh']:.0f} vs {spect['tia_mbqh'][name]:.0f} MBq h "
              f"({100 * (voi['tia_mbqh'] / spect['tia_mbqh'][name] - 1):+.1f} %)")
        assert voi["tia_mbqh"] == pytest.approx(spect["tia_mbqh"][name], rel=0.05)
        assert voi["residence_time_h"] == pytest.approx(voi["tia_mbqh"] / net, rel=1e-12)
        assert voi["residence_time_h"] == pytest.approx(spect["residence_time_net_h"][name], rel=0.05)
        assert voi["tia_uncertainty_mbqh"] is not None


def test_organ_doses_within_5_percent(phantom):
    _, truth, report = phantom
    spect, regions = truth["spect"], truth["regions"]
    for name in ORGANS[:-1] + ("Bone marrow",):
        voi = _voi(report, name)
        # CT density (marrow: ICRP 89 red marrow 1.03 g/mL) against the phantom's 1.04 g/mL
        assert voi["mass_g"] == pytest.approx(regions[name]["mass_g"], rel=0.03)
        print(f"{name}: dose {voi['absorbed_dose_gy']:.3f} (LDM from the VOI TIA {voi['ldm_voi_dose_gy']:.3f}) vs "
              f"{spect['mean_dose_gy_ldm'][name]:.3f} Gy")
        assert voi["ldm_voi_dose_gy"] == pytest.approx(spect["mean_dose_gy_ldm"][name], rel=0.05)
        # LDM mode: the absorbed dose of record is the same local-deposition dose, now read from the map.
        assert voi["absorbed_dose_gy"] == pytest.approx(spect["mean_dose_gy_ldm"][name], rel=0.05)
        if name != "Bone marrow":  # OpenDose S-values here: liver, spleen, kidneys
            assert voi["organ_s_value_dose_gy"] > 0
    for name in ("Left kidney", "Right kidney"):
        voi = _voi(report, name)
        assert voi["bed_gy"] > voi["absorbed_dose_gy"] > 0


def test_auto_model_on_the_corrected_curves(phantom):
    _, truth, report = phantom
    for name in ORGANS:
        tac = _voi(report, name)["tac"]
        fit = kinetics.fit_tac("auto", [p["time_h"] for p in tac], [p["activity_mbq"] for p in tac])
        print(f"{name}: auto chose {fit.model}, TIA {100 * (fit.tia_mbqh / truth['spect']['tia_mbqh'][name] - 1):+.1f} %"
              f" ({fit.selection})")
        # The phantom's organs follow uptake-washout kinetics: with 4 points the F-test lets auto take
        # bi-exp-uptake when the first point sits significantly below the mono-exponential trend.
        assert fit.model in ("mono-exp", "bi-exp-uptake")
        assert fit.tia_mbqh == pytest.approx(truth["spect"]["tia_mbqh"][name], rel=0.05)


def test_bqml_variant_reads_the_same_activity(phantom):
    from iahepaticprrt.io.spect_dicom import read_time_point

    out, truth, _ = phantom
    tp = truth["spect"]["time_points"][1]
    counts = read_time_point(out / tp["nm_file"])
    bqml = read_time_point(out / tp["bqml_file"])
    assert bqml.provenance["scaling"].startswith("RealWorldValueMapping")
    assert counts.volume.grid.is_same(bqml.volume.grid, 1e-4)
    peak = float(counts.volume.array.max())
    np.testing.assert_allclose(bqml.volume.array, counts.volume.array, atol=2e-4 * peak)
    total = float(counts.volume.array.sum()) * counts.volume.grid.voxel_volume_ml * 1e-6
    assert total == pytest.approx(truth["spect"]["total_phantom_activity_mbq"][1], rel=0.005)


def test_ldm_constant_in_truth(phantom):
    _, truth, _ = phantom
    spect = truth["spect"]
    name = "Spleen"
    assert spect["mean_dose_gy_ldm"][name] == pytest.approx(
        LDM_GY_G_PER_MBQH * spect["tia_mbqh"][name] / truth["regions"][name]["mass_g"], rel=1e-9)
    assert math.isfinite(spect["tia_mbqh"][name])


# ---- issue 11: one dose per VOI, the dose map tied to it, no dose in air (all four modes) ---------
def _coverage_on(grid, segmentation, name):
    from iahepaticprrt.imaging.segmentation import resample_mask

    segment = next(s for s in segmentation.segments if s.name == name)
    return resample_mask(segment.mask, segmentation.grid, grid, "fraction").astype(np.float64)


def test_dose_map_mean_equals_absorbed_dose_for_vois_of_20_ml(mode_run):
    """Issue 11 acceptance: the mean of dose.nrrd over every VOI of 20 mL or more equals its
    absorbed_dose_gy within 3 %, in LDM and VSV, with and without the partial-volume correction; and
    the map holds each VOI's own TIA (owning VOIs within 0.5 %)."""
    from iahepaticprrt.io.segmentation_files import read_segmentation
    from iahepaticprrt.io.volume_files import read_volume

    out, truth, result, result_dir, (method, pvc) = mode_run
    dose = read_volume(result_dir / "dose.nrrd")
    report = json.loads((result_dir / "dosimetry.json").read_text())
    segmentation = read_segmentation(out / truth["spect"]["segmentation"])
    density = result.density.array.astype(np.float64)
    tia_map = result.tia_map.array.astype(np.float64)
    checked = 0
    for voi in report["vois"]:
        if voi["volume_ml"] < 20.0 or voi.get("absorbed_dose_gy") is None:
            continue
        w = _coverage_on(dose.grid, segmentation, voi["name"])
        mean = float(np.sum(w * density * dose.array) / np.sum(w * density))  # mass-weighted mean of the map
        map_tia = float(np.sum(w * tia_map))
        print(f"{method} {'GTM' if pvc else 'no PVC'} {voi['name']}: map mean {mean:.4f} Gy, absorbed_dose_gy "
              f"{voi['absorbed_dose_gy']:.4f} ({100 * (mean / voi['absorbed_dose_gy'] - 1):+.2f} %); map TIA "
              f"{map_tia:.0f} vs fitted {voi['tia_mbqh']:.0f} MBq h")
        assert mean == pytest.approx(voi["absorbed_dose_gy"], rel=0.03)
        if voi["name"] != "Liver":  # the liver owns no voxel of its own here (lesions + healthy liver): warned
            assert map_tia == pytest.approx(voi["tia_mbqh"], rel=0.005)
        checked += 1
    assert checked >= 9  # lesion 1, liver, healthy liver, kidneys, spleen, marrow, vertebral bone, body
    liver = next(v for v in report["vois"] if v["name"] == "Liver")
    assert any("owns no voxel" in w for w in liver["warnings"])


def test_no_dose_in_air(mode_run):
    """Issue 11 acceptance: no voxel outside the body dilated by 2 voxels above 5 % of the body's
    99th-percentile dose (the body: the phantom's own Body segment, nearest voxel centres)."""
    from scipy import ndimage

    from iahepaticprrt.io.segmentation_files import read_segmentation
    from iahepaticprrt.io.volume_files import read_volume

    out, truth, result, result_dir, (method, pvc) = mode_run
    dose = read_volume(result_dir / "dose.nrrd").array
    segmentation = read_segmentation(out / truth["spect"]["segmentation"])
    body = _coverage_on(result.dose.grid, segmentation, "Body") >= 0.5
    outside = ~ndimage.binary_dilation(body, iterations=2)
    p99 = float(np.percentile(dose[body], 99))
    worst = float(dose[outside].max())
    print(f"{method} {'GTM' if pvc else 'no PVC'}: body 99th percentile {p99:.3f} Gy, highest dose outside the "
          f"dilated body {worst:.4f} Gy ({100 * worst / p99:.2f} %)")
    assert worst <= 0.05 * p99
    # ... and the body the map uses is the patient's: the TIA map holds activity in the Body segment's voxels
    # (those covered at least 90 %; at the skin the CT contour and the segment differ by partial voxels).
    interior = _coverage_on(result.dose.grid, segmentation, "Body") >= 0.9
    assert float(np.mean(result.tia_map.array[interior] > 0)) >= 0.995
    assert result.report["provenance"]["body"].startswith("reference CT")
    # Activity is never divided by the density of air or gas: wherever the TIA map holds activity the
    # density is at least inflated lung's (0.26 g/mL, ICRU 46).
    assert float(result.density.array[result.tia_map.array > 0].min()) >= 0.26


def test_one_number_per_voi_in_every_mode(mode_run):
    """absorbed_dose_gy drives the limits, the BED and the per-GBq figure; its uncertainty and method ride along."""
    out, truth, result, result_dir, (method, pvc) = mode_run
    report = json.loads((result_dir / "dosimetry.json").read_text())
    vois = {v["name"]: v for v in report["vois"]}
    kidney = report["limits"]["kidney_voi"]
    assert report["limits"]["limits"]["kidney_dose_gy"]["this_cycle"] == vois[kidney]["absorbed_dose_gy"]
    assert kidney == max(("Left kidney", "Right kidney"), key=lambda n: vois[n]["absorbed_dose_gy"])
    assert report["limits"]["limits"]["bone_marrow_dose_gy"]["this_cycle"] == vois["Bone marrow"]["absorbed_dose_gy"]
    net_gbq = (truth["spect"]["administered_activity_mbq"] - truth["spect"]["residual_activity_mbq"]) / 1000.0
    for v in vois.values():
        if v.get("absorbed_dose_gy") is None:
            continue
        assert "mean_dose_gy" not in v and "mean_dose_gy_voi_ldm" not in v
        assert v["absorbed_dose_gy_per_gbq"] == pytest.approx(v["absorbed_dose_gy"] / net_gbq, rel=1e-12)
        assert v["absorbed_dose_uncertainty_gy"] >= 0
        assert ("voxel S-value" if method == "vsv" else "local deposition") in v["absorbed_dose_method"]
        assert ("geometric transfer matrix" in v["absorbed_dose_method"]) == pvc
        assert (v.get("ldm_voi_dose_uncorrected_gy") is not None) == pvc
        if method == "ldm" and v["name"] != "Liver":
            # LDM: the map's energy over the VOI is 0.08532 x its TIA: the dose from the map is the VOI dose.
            assert v["absorbed_dose_gy"] == pytest.approx(v["ldm_voi_dose_gy"], rel=0.005)
