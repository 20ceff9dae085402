"""The synthetic patient's files: valid DICOM, vendor-style PET headers with everything the SUV needs,
NM RECON TOMO SPECT, byte-identical reruns, noise statistics and the command line."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pydicom
import pytest

from iahepaticprrt.cli import main

import phantom_checks as pc

#: What docs/physics.md section 2 reads from a PET slice (keyword or private tag).
PET_ATTRIBUTES = ["PatientWeight", "PatientSize", "PatientSex", "Units", "DecayCorrection", "SeriesDate", "SeriesTime",
                  "AcquisitionDate", "AcquisitionTime", "FrameReferenceTime", "ActualFrameDuration", "RescaleSlope",
                  "RescaleIntercept", "RadiopharmaceuticalInformationSequence", "CorrectedImage", "ImagePositionPatient"]
RADIOPHARMACEUTICAL_ATTRIBUTES = ["RadionuclideTotalDose", "RadiopharmaceuticalStartDateTime",
                                  "RadiopharmaceuticalStartTime", "RadionuclideHalfLife"]


def _dt(date, time):
    return datetime.strptime(date + time.split(".")[0], "%Y%m%d%H%M%S")


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.dcm"))


@pytest.mark.parametrize("vendor", ["siemens", "ge", "philips"])
def test_pet_headers_carry_what_the_suv_needs_and_give_the_true_suv(tmp_path_factory, vendor):
    folder = pc.phantom(tmp_path_factory, vendor=vendor, noise=False)
    truth = pc.load_truth(folder)
    assert truth["generator"]["vendor"] == vendor
    for route, scan in (("ia", "ia_day0"), ("iv", "iv_day3")):
        expected = truth["pet"][route]
        values, affine, datasets = pc.read_slices_pydicom(folder / expected["pet_folder"])
        for ds in datasets:
            for keyword in PET_ATTRIBUTES:
                assert keyword in ds and ds.data_element(keyword).value not in (None, ""), keyword
            item = ds.RadiopharmaceuticalInformationSequence[0]
            for keyword in RADIOPHARMACEUTICAL_ATTRIBUTES:
                assert keyword in item, keyword
            assert float(item.RadionuclideHalfLife) == expected["half_life_s"]
            assert float(item.RadionuclideTotalDose) == expected["injected_activity_bq"]
            assert float(ds.PatientWeight) == expected["patient_weight_kg"]
            assert ds.Units == expected["units"] and ds.DecayCorrection == expected["decay_correction"]
        slopes = {float(ds.RescaleSlope) for ds in datasets}
        assert len(slopes) > 10  # per-slice rescale slopes
        first = datasets[0]
        series = _dt(first.SeriesDate, first.SeriesTime)
        earliest = min(_dt(d.AcquisitionDate, d.AcquisitionTime) for d in datasets)
        assert earliest.isoformat() == expected["acquisition_datetime"]
        assert series.isoformat() == expected["series_datetime"]
        assert len({d.AcquisitionTime for d in datasets}) == 2  # two bed positions
        if vendor == "ge":
            assert series > earliest  # the rule that sends an engine to (0009,100D)
            assert first[0x0009, 0x0010].value == "GEMS_PETD_01"
            scan_datetime = str(first[0x0009, 0x100D].value)
            assert datetime.strptime(scan_datetime[:14], "%Y%m%d%H%M%S") == earliest
        else:
            assert series == earliest and (0x0009, 0x100D) not in first
        # the back-computation rule gives the same reference time on every slice
        for ds in datasets:
            half_life = float(ds.RadiopharmaceuticalInformationSequence[0].RadionuclideHalfLife)
            lam = np.log(2.0) / half_life
            duration = float(ds.ActualFrameDuration) / 1000.0
            average = -np.log((1.0 - np.exp(-lam * duration)) / (lam * duration)) / lam
            start = _dt(ds.AcquisitionDate, ds.AcquisitionTime)
            offset = average - float(ds.FrameReferenceTime) / 1000.0
            assert abs((start - earliest).total_seconds() + offset) < 1e-6
        masks = pc.interior_masks(truth, scan, affine, values.shape, truth["generator"]["pet_fwhm_mm"])
        liver = masks["Healthy liver"]
        if vendor == "philips":
            assert first.Units == "CNTS" and first[0x7053, 0x0010].value == "Philips PET Private Group"
            suv = values * float(first[0x7053, 0x1000].value)
            bqml = values * float(first[0x7053, 0x1009].value)
            assert np.allclose(bqml[liver], expected["concentration_bqml"]["Healthy liver"], rtol=0.005)
            assert np.allclose(suv[liver], expected["suv_bw"]["Healthy liver"], rtol=0.005)
        else:
            bqml = values
        suv_from_headers = bqml * pc.suv_factor_from_headers(datasets)
        for name in ("Healthy liver", "Spleen", "Lesion 1"):
            assert np.allclose(suv_from_headers[masks[name]], expected["suv_bw"][name], rtol=0.005), name


def test_uids_differ_between_vendors_and_studies(tmp_path_factory):
    uids = set()
    for vendor in ("siemens", "ge", "philips"):
        truth = pc.load_truth(pc.phantom(tmp_path_factory, vendor=vendor, noise=False))
        for route in ("ia", "iv"):
            uids |= {truth["pet"][route][k] for k in ("series_instance_uid", "study_instance_uid", "ct_series_instance_uid")}
    assert len(uids) == 3 * 2 * 3


def test_every_file_is_conformant_dicom(tmp_path_factory):
    folder = pc.phantom(tmp_path_factory, vendor="siemens", noise=False)
    files = _files(folder)
    assert len(files) == 2 * (52 + 43) + 4 * (81 + 2)
    for path in files:
        raw = path.read_bytes()
        assert raw[128:132] == b"DICM", path
        ds = pydicom.dcmread(path, force=False)
        assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
        assert pydicom.dcmread(io.BytesIO(buffer.getvalue())).SOPInstanceUID == ds.SOPInstanceUID


def test_spect_files_are_nm_recon_tomo_with_duration_and_calibration(tmp_path_factory):
    folder = pc.phantom(tmp_path_factory, vendor="siemens", noise=False)
    truth = pc.load_truth(folder)
    for tp in truth["spect"]["time_points"]:
        for key in ("nm_file", "bqml_file"):
            ds = pydicom.dcmread(folder / tp[key])
            assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.20" and ds.Modality == "NM"
            assert list(ds.ImageType)[2:] == ["RECON TOMO", "EMISSION"]
            assert ds.FrameIncrementPointer == 0x00540080 and len(ds.SliceVector) == ds.NumberOfFrames
            assert ds.pixel_array.shape == (ds.NumberOfFrames, ds.Rows, ds.Columns)
            rotation = ds.RotationInformationSequence[0]
            assert rotation.NumberOfFramesInRotation * rotation.ActualFrameDuration / 1000 == tp["acquisition_duration_s"]
            assert float(ds[0x0011, 0x1001].value) == truth["spect"]["calibration_cps_per_mbq"]
            assert _dt(ds.AcquisitionDate, ds.AcquisitionTime).isoformat() == tp["acquisition_datetime"]
            assert _dt(ds.SeriesDate, ds.SeriesTime) > _dt(ds.AcquisitionDate, ds.AcquisitionTime)
            start = datetime.fromisoformat(truth["spect"]["administration_datetime"])
            assert (_dt(ds.AcquisitionDate, ds.AcquisitionTime) - start).total_seconds() / 3600 == tp["time_h"]
            assert float(ds.RadiopharmaceuticalInformationSequence[0].RadionuclideTotalDose) == 7400.0  # MBq (NM)
            if key == "bqml_file":
                assert ds.RealWorldValueMappingSequence[0].MeasurementUnitsCodeSequence[0].CodeValue == "Bq/ml"
            else:
                assert "RealWorldValueMappingSequence" not in ds


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files_from_the_command_line(tmp_path_factory, tmp_path, capsys):
    first = pc.phantom(tmp_path_factory, vendor="siemens", noise=True, seed=1)
    assert main(["phantom", str(tmp_path / "again"), "--small", "--seed", "1"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["generator"]["seed"] == 1 and summary["eligible"] is True
    hashes = _hashes(first)
    assert len(hashes) > 500
    assert _hashes(tmp_path / "again") == hashes
    # The project's own previous output is replaced by the new one (here identical, same seed) ...
    assert main(["phantom", str(tmp_path / "again"), "--small", "--seed", "1"]) == 0
    assert _hashes(tmp_path / "again") == hashes
    # ... but a folder holding a file the project did not write is refused (exit 2) and left untouched.
    foreign = tmp_path / "theirs"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("a colleague's file")
    assert main(["phantom", str(foreign), "--small"]) == 2
    assert "did not write (notes.txt)" in capsys.readouterr().err
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again", "theirs"]  # nothing left beside them


def test_noise_is_unbiased_with_a_clinical_coefficient_of_variation(tmp_path_factory):
    noisy = pc.phantom(tmp_path_factory, vendor="siemens", noise=True, seed=1)
    truth = pc.load_truth(noisy)
    clean = pc.phantom(tmp_path_factory, vendor="siemens", noise=False)
    for route, scan in (("ia", "ia_day0"), ("iv", "iv_day3")):
        values, affine, _ = pc.read_slices_pydicom(noisy / truth["pet"][route]["pet_folder"])
        liver = pc.interior_masks(truth, scan, affine, values.shape, 6.0)["Healthy liver"]
        assert liver.sum() > 2000
        expected = truth["pet"][route]["concentration_bqml"]["Healthy liver"]
        assert values[liver].mean() == pytest.approx(expected, rel=0.01)
        assert 0.10 <= values[liver].std() / values[liver].mean() <= 0.20
    tp = truth["spect"]["time_points"][0]
    counts, affine, ds = pc.read_nm_pydicom(noisy / tp["nm_file"], apply_real_world=False)
    assert np.array_equal(counts, np.round(counts))  # integer Poisson counts
    liver = pc.interior_masks(truth, "spect_tp1", affine, counts.shape, 12.0)["Healthy liver"]
    expected = truth["spect"]["activity_mbq"]["Healthy liver"][0] / truth["regions"]["Healthy liver"]["volume_ml"]
    expected_counts = expected * abs(np.linalg.det(affine[:3, :3])) / 1000 * 9.82 * tp["acquisition_duration_s"]
    assert counts[liver].mean() == pytest.approx(expected_counts, rel=0.01)
    assert counts[liver].std() == pytest.approx(np.sqrt(expected_counts), rel=0.1)  # Poisson
    ct_noisy, _, _ = pc.read_slices_pydicom(noisy / truth["pet"]["ia"]["ct_folder"])
    ct_clean, ct_affine, _ = pc.read_slices_pydicom(clean / truth["pet"]["ia"]["ct_folder"])
    liver = pc.interior_masks(truth, "ia_day0", ct_affine, ct_clean.shape, 4.0)["Healthy liver"]
    assert (ct_noisy - ct_clean)[liver].std() == pytest.approx(12.0, rel=0.1)
