"""DICOM series reading: geometry against truth and SimpleITK, per-slice rescale, refusals."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from iahepaticprrt import known_answers
from iahepaticprrt.errors import InputError
from iahepaticprrt.imaging.grid import Grid
from iahepaticprrt.io.dicom_series import read_series, scan_folder
from iahepaticprrt.io.dicom_writer import write_image_series


def test_oblique_series_into_volume_node_matches_truth_and_simpleitk(module_logic, tmp_path):
    errors = known_answers.dicom_volume_scenario(module_logic, tmp_path / "ct")
    assert errors["max_value_error"] == 0.0
    assert errors["max_matrix_error_vs_truth"] < 1e-6
    assert errors["max_matrix_error_vs_simpleitk"] < 1e-6
    assert errors["max_value_error_vs_simpleitk"] == 0.0


def test_volume_node_ijk_to_ras_is_lps_flipped(module_logic, tmp_path):
    grid, _ = known_answers.write_oblique_ct(tmp_path / "ct")
    node = module_logic.load_dicom_volume(tmp_path / "ct")
    import vtk

    m = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(m)
    ijk_to_ras = np.array([[m.GetElement(r, c) for c in range(4)] for r in range(4)])
    expected = np.diag([-1.0, -1.0, 1.0, 1.0]) @ grid.ijk_to_lps()
    np.testing.assert_allclose(ijk_to_ras, expected, atol=1e-6)
    # The first voxel's RAS position: negate x and y of the first slice's ImagePositionPatient.
    first = pydicom.dcmread(sorted((tmp_path / "ct").iterdir())[-1])  # names run against positions
    np.testing.assert_allclose(ijk_to_ras[:3, 3], np.array(first.ImagePositionPatient, float) * [-1, -1, 1], atol=1e-6)


def test_per_slice_rescale_slope_is_applied(tmp_path):
    grid = Grid((4, 8, 8), (2.0, 2.0, 3.0))
    values = np.zeros(grid.shape_kji)
    for k in range(4):
        values[k] = 1000.0 * 10 ** k  # needs a different slope per slice
    write_image_series(values, grid, tmp_path, "PT", {"Units": "BQML"}, uid_key="slopes")
    slopes = {float(pydicom.dcmread(p).RescaleSlope) for p in tmp_path.iterdir()}
    assert len(slopes) == 4
    series = read_series(tmp_path)
    np.testing.assert_allclose(series.volume.array, values, rtol=1e-4)
    assert series.volume.unit == "BQML"


def _two_series(folder):
    grid = Grid((3, 4, 4), (1.0, 1.0, 2.0))
    write_image_series(np.zeros(grid.shape_kji), grid, folder, "CT", {"SeriesDescription": "a"}, uid_key="a",
                       fixed_slope=1.0, file_prefix="a")
    write_image_series(np.zeros(grid.shape_kji), grid, folder, "PT", {"SeriesDescription": "b"}, uid_key="b",
                       file_prefix="b")


def test_several_series_are_listed_and_refused(tmp_path):
    _two_series(tmp_path)
    with pytest.raises(InputError, match="several series") as info:
        read_series(tmp_path)
    assert str(tmp_path) in str(info.value) and "SeriesInstanceUID" in str(info.value)
    uids = [s.series_instance_uid for s in scan_folder(tmp_path)]
    assert all(uid in str(info.value) for uid in uids)
    chosen = read_series(tmp_path, series_uid=uids[1])
    assert chosen.volume.metadata["series_instance_uid"] == uids[1]
    assert read_series(tmp_path, modalities=("PT",)).volume.metadata["modality"] == "PT"


def test_missing_position_names_file_and_attribute(tmp_path):
    grid = Grid((3, 4, 4), (1.0, 1.0, 2.0))
    paths = write_image_series(np.zeros(grid.shape_kji), grid, tmp_path, "CT", {}, uid_key="x", fixed_slope=1.0)
    ds = pydicom.dcmread(paths[1])
    del ds.ImagePositionPatient
    ds.save_as(paths[1])
    with pytest.raises(InputError) as info:
        read_series(tmp_path)
    assert str(paths[1]) in str(info.value) and "ImagePositionPatient (0020,0032)" in str(info.value)


def test_duplicate_and_missing_slices_are_refused(tmp_path):
    grid = Grid((4, 4, 4), (1.0, 1.0, 2.0))
    paths = write_image_series(np.zeros(grid.shape_kji), grid, tmp_path / "dup", "CT", {}, uid_key="d", fixed_slope=1.0)
    ds = pydicom.dcmread(paths[2])
    ds.ImagePositionPatient = pydicom.dcmread(paths[1]).ImagePositionPatient
    ds.save_as(paths[2])
    with pytest.raises(InputError, match="same position"):
        read_series(tmp_path / "dup")
    paths = write_image_series(np.zeros(grid.shape_kji), grid, tmp_path / "gap", "CT", {}, uid_key="g", fixed_slope=1.0)
    paths[2].unlink()
    with pytest.raises(InputError, match="missing slice") as info:
        read_series(tmp_path / "gap")
    # The file after the gap is named, with the gap and the series' spacing.
    assert "slice_0004.dcm" in str(info.value) and "4.000 mm" in str(info.value) and "2.000 mm" in str(info.value)


def test_unreadable_dcm_file_is_named(tmp_path):
    grid = Grid((2, 4, 4), (1.0, 1.0, 2.0))
    write_image_series(np.zeros(grid.shape_kji), grid, tmp_path, "CT", {}, uid_key="u", fixed_slope=1.0)
    bad = tmp_path / "broken.dcm"
    bad.write_bytes(b"not a dicom file at all")
    with pytest.raises(InputError) as info:
        read_series(tmp_path)
    assert "broken.dcm" in str(info.value)


def test_truncated_image_file_is_named(tmp_path):
    grid = Grid((4, 4, 4), (1.0, 1.0, 2.0))
    paths = write_image_series(np.zeros(grid.shape_kji), grid, tmp_path, "PT", {}, uid_key="t")
    paths[2].write_bytes(paths[2].read_bytes()[:400])  # the header stops before Rows
    with pytest.raises(InputError) as info:
        read_series(tmp_path)
    assert str(paths[2]) in str(info.value) and "Rows (0028,0010)" in str(info.value)
    paths[1].write_bytes(paths[1].read_bytes()[:-100])  # pixel data cut short
    paths[2].unlink()
    with pytest.raises(InputError):  # (uneven spacing now, but never a volume)
        read_series(tmp_path)


def test_written_files_are_conformant(tmp_path):
    import io

    grid = Grid((2, 4, 4), (1.0, 1.0, 2.0))
    for path in write_image_series(np.ones(grid.shape_kji), grid, tmp_path, "PT", {}, uid_key="c"):
        assert path.read_bytes()[128:132] == b"DICM"  # preamble and prefix (PS3.10 7.1)
        ds = pydicom.dcmread(path)  # force=False: refuses files without a valid header
        assert ds.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        # pydicom 3 validates the file meta information when asked to enforce the file format.
        pydicom.dcmwrite(io.BytesIO(), ds, enforce_file_format=True)
