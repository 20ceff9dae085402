"""The written synthetic patient (``--small``): values read back from the DICOM with pydicom and
SimpleITK (not the project's reader) against truth.json, geometry, segmentations, layout."""

from __future__ import annotations

import numpy as np
import pytest

import phantom_checks as pc

#: Regions that must have an interior at 2 x FWHM in the small patient (the others are too small:
#: PET: lesions 3-5 (24, 18, 12 mm), the 30 mm extra-hepatic lesion and the bone marrow (22 mm
#: high vertebral bodies); SPECT (12 mm FWHM): everything but the healthy liver).
PET_MUST_HAVE_INTERIOR = {"Lesion 1", "Healthy liver", "Left kidney", "Right kidney", "Spleen"}
SPECT_MUST_HAVE_INTERIOR = {"Healthy liver"}
TOLERANCE = 0.005


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return pc.phantom(tmp_path_factory, vendor="siemens", noise=False)


@pytest.fixture(scope="module")
def truth(clean):
    return pc.load_truth(clean)


def _interiors_checked(values, masks, expected: dict, skipped: list, label: str) -> set:
    checked = set()
    for name, mask in masks.items():
        if not mask.any():
            skipped.append(f"{label}: {name}")
            continue
        deviation = np.abs(values[mask] / expected[name] - 1.0)
        assert deviation.max() < TOLERANCE, f"{label} {name}: {deviation.max():.4f}"
        checked.add(name)
    return checked


@pytest.mark.parametrize("route, scan", [("ia", "ia_day0"), ("iv", "iv_day3")])
def test_pet_interiors_equal_truth(clean, truth, route, scan):
    from iahepaticprrt.io.dicom_series import read_series

    folder = clean / truth["pet"][route]["pet_folder"]
    values, affine, datasets = pc.read_slices_pydicom(folder)
    sitk_values, sitk_affine = pc.read_series_sitk(folder)
    assert np.allclose(affine, sitk_affine, atol=1e-4)
    assert np.allclose(values, sitk_values, rtol=1e-6, atol=1e-6 * values.max())
    project = read_series(folder)  # third opinion: the project's own reader
    assert np.allclose(project.volume.grid.ijk_to_lps(), affine, atol=1e-4)
    assert np.allclose(project.volume.array, values, rtol=1e-5, atol=1e-5 * values.max())
    assert datasets[0].SeriesInstanceUID == truth["pet"][route]["series_instance_uid"]

    masks = pc.interior_masks(truth, scan, affine, values.shape, truth["generator"]["pet_fwhm_mm"])
    skipped: list = []
    expected = truth["pet"][route]
    checked = _interiors_checked(values, masks, expected["concentration_bqml"], skipped, f"{route} Bq/mL")
    _interiors_checked(sitk_values, masks, expected["concentration_bqml"], [], f"{route} SimpleITK Bq/mL")
    suv = values * pc.suv_factor_from_headers(datasets)
    _interiors_checked(suv, masks, expected["suv_bw"], [], f"{route} SUVbw")
    assert PET_MUST_HAVE_INTERIOR <= checked, skipped
    print("skipped (no interior at 2 FWHM):", skipped)


def test_spect_interiors_and_totals_equal_truth(clean, truth):
    spect = truth["spect"]
    for n, tp in enumerate(spect["time_points"]):
        counts, affine, ds = pc.read_nm_pydicom(clean / tp["nm_file"], apply_real_world=False)
        sitk_counts, sitk_affine = pc.read_nm_sitk(clean / tp["nm_file"])
        bqml, bq_affine, bq_ds = pc.read_nm_pydicom(clean / tp["bqml_file"], apply_real_world=True)
        assert np.allclose(affine, sitk_affine, atol=1e-4) and np.allclose(affine, bq_affine, atol=1e-9)
        assert np.allclose(counts, sitk_counts, rtol=1e-6, atol=1e-6 * counts.max())
        # counts -> MBq with the header's calibration and duration (briefing's contract)
        calibration = float(ds[0x0011, 0x1001].value)
        assert ds[0x0011, 0x0010].value == "IAHepaticPRRT"
        rotation = ds.RotationInformationSequence[0]
        duration_s = rotation.NumberOfFramesInRotation * rotation.ActualFrameDuration / 1000.0
        assert duration_s == tp["acquisition_duration_s"] and calibration == spect["calibration_cps_per_mbq"]
        voxel_ml = abs(np.linalg.det(affine[:3, :3])) / 1000.0
        mbq = counts / (calibration * duration_s)
        expected = {name: spect["activity_mbq"][name][n] / truth["regions"][name]["volume_ml"]
                    for name in truth["regions"]}
        masks = pc.interior_masks(truth, f"spect_{tp['name']}", affine, counts.shape, truth["generator"]["spect_fwhm_mm"])
        checked = _interiors_checked(mbq / voxel_ml, masks, expected, [], f"{tp['name']} counts")
        _interiors_checked(bqml / 1e6, masks, expected, [], f"{tp['name']} Bq/mL")
        assert SPECT_MUST_HAVE_INTERIOR <= checked
        # the whole torso lies inside the SPECT field of view: every MBq is in the image
        assert mbq.sum() == pytest.approx(spect["total_phantom_activity_mbq"][n], rel=TOLERANCE)
        assert bqml.sum() * voxel_ml / 1e6 == pytest.approx(spect["total_phantom_activity_mbq"][n], rel=TOLERANCE)


def test_every_series_geometry_agrees_between_pydicom_and_simpleitk(clean, truth):
    folders = [truth["pet"][r][k] for r in ("ia", "iv") for k in ("pet_folder", "ct_folder")]
    folders += [tp["ct_folder"] for tp in truth["spect"]["time_points"]]
    for folder in folders:
        values, affine, _ = pc.read_slices_pydicom(clean / folder)
        sitk_values, sitk_affine = pc.read_series_sitk(clean / folder)
        assert np.allclose(affine, sitk_affine, atol=1e-4), folder
        assert np.allclose(values, sitk_values, rtol=1e-6, atol=1e-3), folder
    for tp in truth["spect"]["time_points"]:
        for key in ("nm_file", "bqml_file"):
            _, affine, _ = pc.read_nm_pydicom(clean / tp[key], apply_real_world=key == "bqml_file")
            assert np.allclose(affine, pc.read_nm_sitk(clean / tp[key])[1], atol=1e-4)


def test_ct_numbers_and_segmentations_follow_the_moved_anatomy(clean, truth):
    """Each segmentation sits on its CT grid with the anatomy where the truth transforms put it."""
    from iahepaticprrt.io.segmentation_files import read_seg_nrrd

    cases = [("ia_day0", truth["pet"]["ia"]["ct_folder"], truth["pet"]["ia"]["segmentation"]),
             ("iv_day3", truth["pet"]["iv"]["ct_folder"], truth["pet"]["iv"]["segmentation"]),
             ("spect_tp1", truth["spect"]["time_points"][0]["ct_folder"], truth["spect"]["segmentation"])]
    for scan, ct_folder, seg_file in cases:
        ct, affine, datasets = pc.read_slices_pydicom(clean / ct_folder)
        seg = read_seg_nrrd(clean / seg_file)
        assert seg.names == list(truth["regions"])
        assert np.allclose(seg.grid.ijk_to_lps(), affine, atol=1e-4), scan
        for name in ("Lesion 1", "Left kidney", "Spleen", "Healthy liver"):
            mask = seg.mask(name)
            k, j, i = np.nonzero(mask)
            centre = (np.stack([i, j, k, np.ones_like(i)], axis=1) @ affine.T)[:, :3].mean(axis=0)
            expected = truth["regions"][name]["centre_lps_mm_per_scan"][scan]
            assert np.linalg.norm(centre - expected) < 1.0, (scan, name)
            # centre-of-voxel masks: volume within a few voxel layers of the exact volume
            volume_ml = mask.sum() * abs(np.linalg.det(affine[:3, :3])) / 1000.0
            assert volume_ml == pytest.approx(truth["regions"][name]["volume_ml"], rel=0.08), (scan, name)
        masks = pc.interior_masks(truth, scan, affine, ct.shape, 4.0)
        assert np.allclose(ct[masks["Healthy liver"]], 60.0, atol=0.5)
        assert np.allclose(ct[masks["Left kidney"]], 32.0, atol=0.5)
        assert ct.min() == -1000.0
    assert truth["transforms"]["iv_day3"]["reference"] == "ia_day0"
    assert truth["transforms"]["spect_tp3"]["reference"] == "spect_tp1"


def test_truth_has_the_contract_keys(truth):
    assert set(truth) >= {"generator", "patient", "regions", "pet", "enhancement_ratio", "mean_enhancement_ratio",
                          "eligible", "transforms", "spect"}
    assert set(truth["generator"]) >= {"software_version", "seed", "vendor", "noise", "size"}
    assert set(truth["patient"]) >= {"weight_kg", "height_cm", "sex"}
    for region in truth["regions"].values():
        assert set(region) >= {"role", "volume_ml", "mass_g", "centre_lps_mm"}
    for route in ("ia", "iv"):
        assert set(truth["pet"][route]) >= {
            "pet_folder", "ct_folder", "series_instance_uid", "injected_activity_bq", "residual_activity_bq",
            "injection_datetime", "series_datetime", "acquisition_datetime", "half_life_s", "decay_correction",
            "units", "concentration_bqml", "suv_bw"}
    assert truth["mean_enhancement_ratio"] == pytest.approx(3.75) and truth["eligible"] is True
    assert set(truth["transforms"]) >= {"iv_day3", "spect_tp2", "spect_tp3", "spect_tp4"}
    spect = truth["spect"]
    assert set(spect) >= {"administered_activity_mbq", "residual_activity_mbq", "administration_datetime",
                          "calibration_cps_per_mbq", "reference_time_point", "time_points", "kinetics", "activity_mbq",
                          "tia_mbqh", "residence_time_h", "mean_dose_gy_ldm"}
    assert [tp["time_h"] for tp in spect["time_points"]] == [4.0, 24.0, 96.0, 168.0]
    for name, tia in spect["tia_mbqh"].items():
        assert spect["residence_time_h"][name] == pytest.approx(tia / spect["administered_activity_mbq"])
        assert spect["mean_dose_gy_ldm"][name] == pytest.approx(0.08532 * tia / truth["regions"][name]["mass_g"])
    kidney = spect["kinetics"]["Left kidney"]["parameters"]
    assert 50 <= kidney["effective_half_life_h"] <= 60
    # the activity table follows the stated model
    a0, lw, lu = kidney["a0_mbq"], kidney["lambda_washout_per_h"], kidney["lambda_uptake_per_h"]
    assert spect["activity_mbq"]["Left kidney"] == pytest.approx(
        [a0 * (np.exp(-lw * t) - np.exp(-lu * t)) for t in (4.0, 24.0, 96.0, 168.0)])
    assert spect["tia_mbqh"]["Left kidney"] == pytest.approx(a0 * (1 / lw - 1 / lu))
