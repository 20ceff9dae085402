"""Reading SPECT time points: NM RECON TOMO counts or Bq/mL, PT-stored SPECT, volume files; one scaling,
timing from the acquisition, duration from the rotation, refusals (see docs/physics.md section 4)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from iahepaticprrt.dosimetry.options import DosimetryOptions
from iahepaticprrt.dosimetry.timing import resolve_times
from iahepaticprrt.errors import InputError
from iahepaticprrt.imaging.grid import Grid
from iahepaticprrt.imaging.volume import Volume
from iahepaticprrt.io.dicom_writer import write_image_series, write_nm_tomo
from iahepaticprrt.io.spect_dicom import acquisition_duration, read_time_point
from iahepaticprrt.io.volume_files import write_volume

import spect_builders as sb


@pytest.fixture(scope="module")
def patient():
    return sb.default_patient()


def _tolerance(truth):
    return 1e-4 * float(np.max(truth))  # 16-bit storage with a slope mapping the maximum to 32000


def test_nm_counts_become_bq_per_ml_with_header_calibration_and_duration(patient, tmp_path):
    written = sb.write_time_point(patient, 1, tmp_path, ct=False)
    point = read_time_point(written["nm"])
    truth = patient.concentration_bqml(patient.times_h[1])
    assert point.volume.unit == "Bq/mL"
    assert point.volume.grid.is_same(patient.grid, 1e-4)
    np.testing.assert_allclose(point.volume.array, truth, atol=_tolerance(truth))
    assert point.provenance["calibration_cps_per_mbq"] == sb.CALIBRATION_CPS_PER_MBQ
    assert "private tag" in point.provenance["calibration_source"]
    assert point.provenance["acquisition_duration_s"] == pytest.approx(sb.DURATION_S)
    assert "views per head" in point.provenance["acquisition_duration_source"]
    # Timing: AcquisitionDate/Time, not the SeriesTime/ContentTime written an hour later.
    assert point.acquisition_datetime == sb.acquisition_time(patient.times_h[1])
    assert point.patient_sex == "M"


def test_user_calibration_and_duration_override_the_header(patient, tmp_path):
    written = sb.write_time_point(patient, 0, tmp_path, ct=False)
    point = read_time_point(written["nm"], calibration_cps_per_mbq=2 * sb.CALIBRATION_CPS_PER_MBQ,
                            acquisition_duration_s=2 * sb.DURATION_S)
    truth = patient.concentration_bqml(patient.times_h[0]) / 4.0
    np.testing.assert_allclose(point.volume.array, truth, atol=_tolerance(truth))
    assert point.provenance["acquisition_duration_source"] == "given by the user"
    assert any("differs from the header" in w for w in point.warnings)


def test_negative_slice_spacing_gives_the_same_volume(patient, tmp_path):
    written = sb.write_time_point(patient, 0, tmp_path, ct=False, negative_spacing=True)
    assert float(pydicom.dcmread(written["nm"]).SpacingBetweenSlices) < 0
    point = read_time_point(written["nm"])
    truth = patient.concentration_bqml(patient.times_h[0])
    assert point.volume.grid.is_same(patient.grid, 1e-4)
    np.testing.assert_allclose(point.volume.array, truth, atol=_tolerance(truth))
    # SimpleITK agrees on the geometry (notes: it reads negative spacing correctly).
    image = sitk.ReadImage(str(written["nm"]))
    flipped = Grid.from_sitk(image)
    assert np.allclose(np.sort(flipped.corners_lps_mm(), axis=0), np.sort(patient.grid.corners_lps_mm(), axis=0),
                       atol=1e-3)


def test_real_world_value_mapping_is_the_only_scaling(patient, tmp_path):
    written = sb.write_time_point(patient, 2, tmp_path, counts=False, ct=False,
                                  extra={"RescaleSlope": "2.0"})  # a rescale slope that must NOT be applied too
    point = read_time_point(written["nm"], calibration_cps_per_mbq=99.0)
    truth = patient.concentration_bqml(patient.times_h[2])
    np.testing.assert_allclose(point.volume.array, truth, atol=_tolerance(truth))
    assert "RealWorldValueMapping" in point.provenance["scaling"]
    assert any("ignored" in w for w in point.warnings)
    assert any("not applied" in w for w in point.warnings)  # the calibration factor of count data


def test_projections_are_refused(patient, tmp_path):
    written = sb.write_time_point(patient, 0, tmp_path, ct=False,
                                  extra={"ImageType": ["ORIGINAL", "PRIMARY", "TOMO", "EMISSION"]})
    with pytest.raises(InputError, match="projections") as info:
        read_time_point(written["nm"])
    assert "ImageType (0008,0008)" in str(info.value)


def test_counts_without_calibration_are_refused(patient, tmp_path):
    written = sb.write_time_point(patient, 0, tmp_path, ct=False, with_private_cf=False)
    with pytest.raises(InputError, match="calibration factor is needed"):
        read_time_point(written["nm"])
    assert read_time_point(written["nm"], calibration_cps_per_mbq=sb.CALIBRATION_CPS_PER_MBQ).volume.unit == "Bq/mL"


def test_missing_geometry_is_refused(patient, tmp_path):
    written = sb.write_time_point(patient, 0, tmp_path, ct=False)
    ds = pydicom.dcmread(written["nm"])
    del ds.DetectorInformationSequence
    ds.save_as(written["nm"])
    with pytest.raises(InputError, match="DetectorInformationSequence"):
        read_time_point(written["nm"])


def _rotation_dataset(**kwargs):
    ds = pydicom.Dataset()
    ds.RotationInformationSequence = sb.rotation_sequence(**kwargs)
    ds.NumberOfDetectors = 2
    return ds


def test_duration_cross_checks():
    duration, how, ambiguous = acquisition_duration(_rotation_dataset(), "x")
    assert duration == pytest.approx(1200.0) and not ambiguous
    # Frames counted over both heads: 120 = 2 x 180/3 -> 60 views per head.
    duration, how, ambiguous = acquisition_duration(_rotation_dataset(views=120), "x")
    assert duration == pytest.approx(1200.0) and "all 2 heads" in how and not ambiguous
    # No arc/step: taken as views per head but flagged.
    duration, how, ambiguous = acquisition_duration(_rotation_dataset(arc=None, step=None), "x")
    assert duration == pytest.approx(1200.0) and ambiguous
    # Inconsistent: refused (None).
    duration, how, ambiguous = acquisition_duration(_rotation_dataset(views=45), "x")
    assert duration is None and ambiguous


def test_missing_or_inconsistent_duration_needs_the_user(patient, tmp_path):
    written = sb.write_time_point(patient, 0, tmp_path / "a", ct=False,
                                  extra={"RotationInformationSequence": sb.rotation_sequence(views=45)})
    with pytest.raises(InputError, match="acquisition duration unknown"):
        read_time_point(written["nm"])
    point = read_time_point(written["nm"], acquisition_duration_s=sb.DURATION_S)
    truth = patient.concentration_bqml(patient.times_h[0])
    np.testing.assert_allclose(point.volume.array, truth, atol=_tolerance(truth))
    written = sb.write_time_point(patient, 0, tmp_path / "b", ct=False,
                                  extra={"RotationInformationSequence": sb.rotation_sequence(arc=None, step=None)})
    point = read_time_point(written["nm"])
    assert any("check it" in w for w in point.warnings)


def test_pt_stored_spect_in_bqml(patient, tmp_path):
    truth = patient.concentration_bqml(patient.times_h[0])
    start = sb.acquisition_time(patient.times_h[0])
    write_image_series(truth, patient.grid, tmp_path / "pt", "PT", {
        "Units": "BQML", "DecayCorrection": "START", "AcquisitionDate": start.strftime("%Y%m%d"),
        "AcquisitionTime": start.strftime("%H%M%S"), "SeriesTime": "235959"}, uid_key="pt spect")
    point = read_time_point(tmp_path / "pt")
    np.testing.assert_allclose(point.volume.array, truth, rtol=1e-4, atol=_tolerance(truth))
    assert point.acquisition_datetime == start and point.provenance["input"].startswith("PT")


def test_decay_correction_to_administration_is_undone(patient, tmp_path):
    t_h = patient.times_h[2]
    truth = patient.concentration_bqml(t_h)
    start = sb.acquisition_time(t_h)
    from iahepaticprrt.dosimetry.lu177 import decay_factor

    write_image_series(truth / decay_factor(t_h), patient.grid, tmp_path / "pt", "PT", {
        "Units": "BQML", "DecayCorrection": "ADMIN", "AcquisitionDate": start.strftime("%Y%m%d"),
        "AcquisitionTime": start.strftime("%H%M%S")}, uid_key="pt admin")
    point = read_time_point(tmp_path / "pt")
    times, _, warnings = resolve_times([point], DosimetryOptions(7400.0, administration_datetime=sb.ADMINISTRATION))
    assert times[0] == pytest.approx(t_h)
    np.testing.assert_allclose(point.volume.array, truth, rtol=2e-4, atol=_tolerance(truth))
    assert any("decay-corrected to the administration" in w for w in warnings)


def test_volume_file_needs_its_time(patient, tmp_path):
    truth = patient.concentration_bqml(24.0).astype(np.float32)
    write_volume(Volume(truth, patient.grid), tmp_path / "tp.nrrd")
    point = read_time_point(tmp_path / "tp.nrrd")
    np.testing.assert_array_equal(point.volume.array, truth)
    with pytest.raises(InputError, match="--times-h"):
        resolve_times([point], DosimetryOptions(7400.0, administration_datetime=sb.ADMINISTRATION))
    times, records, _ = resolve_times([point], DosimetryOptions(7400.0, times_h=[24.0]))
    assert times == [24.0] and "given by the user" in records[0]["timing_source"]


def test_times_before_administration_or_out_of_order(patient, tmp_path):
    points = [read_time_point(sb.write_time_point(patient, i, tmp_path, ct=False)["nm"]) for i in (0, 1)]
    with pytest.raises(InputError, match="before the administration"):
        resolve_times(points, DosimetryOptions(7400.0, administration_datetime=sb.ADMINISTRATION + dt.timedelta(hours=10)))
    with pytest.raises(InputError, match="out of order"):
        resolve_times(points[::-1], DosimetryOptions(7400.0, administration_datetime=sb.ADMINISTRATION))
    with pytest.raises(InputError, match="no administration time"):
        resolve_times(points, DosimetryOptions(7400.0))


def test_non_finite_values_are_refused(tmp_path):
    grid = Grid((4, 6, 6), (4.8, 4.8, 4.8))
    values = np.ones(grid.shape_kji, np.float32)
    values[1, 2, 3] = np.nan
    write_volume(Volume(values, grid), tmp_path / "bad.nrrd")
    with pytest.raises(InputError, match="non-finite"):
        read_time_point(tmp_path / "bad.nrrd")


def test_nm_writer_and_reader_agree_on_an_oblique_anisotropic_grid(tmp_path):
    from iahepaticprrt.known_answers import oblique_grid

    grid = oblique_grid()
    values = np.arange(np.prod(grid.shape_kji), dtype=float).reshape(grid.shape_kji)
    path = write_nm_tomo(values, grid, tmp_path / "o.dcm", {"Units": "BQML"}, fixed_slope=1.0)
    point = read_time_point(path)
    assert point.volume.grid.is_same(grid, 1e-4)
    np.testing.assert_array_equal(point.volume.array, values)
