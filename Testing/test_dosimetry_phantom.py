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
def phantom(tmp_path_factory):
    folder = tmp_path_factory.mktemp("phantom")
    out = folder / "patient"
    assert main(["phantom", str(out), "--small", "--no-noise"]) == 0
    truth = json.loads((out / "truth.json").read_text())
    spect = truth["spect"]
    assert truth["generator"]["noise"] is False and truth["generator"]["size"] == "small"
    result = folder / "dosimetry"
    args = ["dosimetry", "--spect", *[str(out / tp["nm_file"]) for tp in spect["time_points"]],
            "--ct", *[str(out / tp["ct_folder"]) for tp in spect["time_points"]],
            "--seg", str(out / spect["segmentation"]), "-o", str(result),
            "--administered-mbq", str(spect["administered_activity_mbq"]),
            "--residual-mbq", str(spect["residual_activity_mbq"]),
            "--administration-time", spect["administration_datetime"],
            "--model", "bi-exp-uptake", "--pvc-fwhm-mm", str(truth["generator"]["spect_fwhm_mm"])]
    assert main(args) == 0
    report = json.loads((result / "dosimetry.json").read_text())
    return out, truth, report


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
        print(f"{name}: dose {voi['mean_dose_gy_voi_ldm']:.3f} vs {spect['mean_dose_gy_ldm'][name]:.3f} Gy")
        assert voi["mean_dose_gy_voi_ldm"] == pytest.approx(spect["mean_dose_gy_ldm"][name], rel=0.05)
        if name != "Bone marrow":  # OpenDose S-values here: liver, spleen, kidneys
            assert voi["organ_s_value_dose_gy"] > 0
    for name in ("Left kidney", "Right kidney"):
        voi = _voi(report, name)
        assert voi["bed_gy"] > voi["mean_dose_gy"] > 0


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
