"""Reading PET as scanners and archives deliver it (issue 12): multi-bed series whose bed boundaries
leave uneven steps, irregular and incomplete series, compressed transfer syntaxes, files without
preamble.

Data: the IBSI SUV digital reference objects (Testing/Data/ibsi-suv-dro, CC BY 4.0), their
losslessly compressed copies (Testing/Data/compressed-pet, made with gdcmconv, see its README) and
pydicom's own test files (pydicom.data, MIT). No small public multi-bed PET with uneven bed
boundaries exists in those collections, so the multi-bed series is DERIVED here from the GE-style
DRO_3_3 (20 slices of 4 mm, GE private scan date-time (0009,100D)): its files are copied unchanged
except ImagePositionPatient, shifted per "bed" of 4 slices by +0.05, -0.05, +0.05, -0.05, 0 mm,
which makes the steps between beds 3.90 to 4.10 mm (5 %, as on the GE Discovery of the issue: 3.190
to 3.290 mm) while no slice is more than 0.05 mm off a uniform grid.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from iahepaticprrt.errors import InputError
from iahepaticprrt.io.dicom_series import read_series, scan_folder
from iahepaticprrt.uptake.suv import suv_from_folder, suv_from_series

DATA = Path(__file__).parent / "Data"
DRO = DATA / "ibsi-suv-dro"
COMPRESSED = DATA / "compressed-pet"
#: Per-bed position offsets (mm) of the derived multi-bed series: beds of 4 slices.
BED_OFFSETS_MM = (0.05, -0.05, 0.05, -0.05, 0.0)


def _derive_series(source: Path, target: Path, offsets_mm) -> list[Path]:
    """Copy a DRO series, moving slice n (in position order) by offsets_mm[n] along z."""
    target.mkdir(parents=True, exist_ok=True)
    files = sorted(source.iterdir(), key=lambda p: float(pydicom.dcmread(p, stop_before_pixels=True)
                                                          .ImagePositionPatient[2]))
    out = []
    for n, path in enumerate(files):
        ds = pydicom.dcmread(path)
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y, round(z + offsets_mm[n], 4)]
        ds.save_as(target / path.name)
        out.append(target / path.name)
    return out


def _multibed_offsets() -> list[float]:
    return [BED_OFFSETS_MM[n // 4] for n in range(20)]


def _pydicom_suv_max_dro_3_3(folder: Path) -> float:
    """Reference SUVmax of DRO_3_3 computed with pydicom alone, from the header values written out:
    PatientWeight 70 kg; RadionuclideTotalDose 368080000 Bq at 10:00:00; half-life 6586.2 s;
    DecayCorrection START with the GE private scan date-time (0009,100D) 11:00:00 as reference
    (SeriesTime 11:00:00 too): SUV = value x 70000 g / (368080000 Bq x 2^(-3600 / 6586.2))."""
    factor = 70000.0 / (368080000.0 * 2.0 ** (-3600.0 / 6586.2))
    peak = max(float(np.max(pydicom.dcmread(p).pixel_array * float(pydicom.dcmread(p).RescaleSlope)))
               for p in folder.iterdir())
    return peak * factor


# ---- multi-bed and irregular series -----------------------------------------------------------
def test_multibed_pet_with_uneven_bed_boundaries_loads_with_pydicom_suvmax(tmp_path):
    folder = tmp_path / "multibed"
    _derive_series(DRO / "DRO_3_3" / "PT", folder, _multibed_offsets())
    positions = sorted(float(pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[2])
                       for p in folder.iterdir())
    steps = np.diff(positions)
    assert steps.min() == pytest.approx(3.90, abs=1e-6) and steps.max() == pytest.approx(4.10, abs=1e-6)
    result = suv_from_folder(folder)
    reference = _pydicom_suv_max_dro_3_3(folder)
    assert float(result.volume.array.max()) == pytest.approx(reference, rel=0.005)
    assert float(result.volume.array.max()) == pytest.approx(4.00, rel=0.005)  # the DRO's published truth
    grid = result.volume.grid
    assert grid.shape_kji == (20, 256, 256)  # read as it is: no resampling
    # The fitted uniform grid: spacing from the least-squares line through the positions.
    k = np.arange(20)
    spacing, first = np.polyfit(k, positions, 1)
    assert grid.spacing_mm[2] == pytest.approx(spacing, abs=1e-9)
    assert grid.origin_lps_mm[2] == pytest.approx(first, abs=1e-9)
    geometry = result.info["slice_positions"]
    assert not geometry["regularised"]
    assert geometry["slice_position_max_deviation_mm"] == pytest.approx(
        float(np.max(np.abs(np.array(positions) - (first + spacing * k)))), abs=1e-9)
    # 0.063 mm here (1.6 % of the 4 mm spacing): far inside the tolerance of 10 % of a slice.
    assert 0.04 < geometry["slice_position_max_deviation_mm"] < 0.07
    warning = next(w for w in result.warnings if "uniform grid" in w)
    assert "3.900 to 4.100 mm" in warning and "read on the fitted uniform grid" in warning


def test_positions_on_a_grid_within_rounding_give_no_warning(tmp_path):
    folder = tmp_path / "rounded"
    _derive_series(DRO / "DRO_0_0" / "PT", folder, [0.004 * (-1) ** n for n in range(20)])
    series = read_series(folder)
    assert not any("uniform grid" in w for w in series.warnings)
    assert series.volume.metadata["slice_positions"]["slice_position_max_deviation_mm"] < 0.01


def test_larger_irregularity_is_resampled_onto_a_regular_grid(tmp_path):
    """Steps growing from 3.6 to 4.4 mm (a variable-spacing series, up to 0.6 mm off any uniform
    grid, 15 % of a slice): resampled; a linear ramp along z is interpolated exactly, so the known
    answer is the ramp at the new positions."""
    from iahepaticprrt.imaging.grid import Grid
    from iahepaticprrt.io.dicom_writer import write_image_series

    grid = Grid((12, 6, 6), (2.0, 2.0, 4.0), (0.0, 0.0, 0.0))
    z = np.concatenate([[0.0], np.cumsum(np.linspace(3.6, 4.4, 11))])  # 0 ... 44 mm
    values = np.broadcast_to((100.0 + 10.0 * z)[:, None, None], grid.shape_kji).copy()
    paths = write_image_series(values, grid, tmp_path, "PT", {"Units": "BQML"}, uid_key="irregular")
    for path, position in zip(paths, z):
        ds = pydicom.dcmread(path)
        ds.ImagePositionPatient = [0.0, 0.0, float(position)]
        ds.save_as(path)
    series = read_series(tmp_path)
    assert series.interpolation is not None
    out = series.volume
    assert out.grid.shape_kji[0] == 12 and out.grid.spacing_mm[2] == pytest.approx(4.0)  # 0 to 44 mm
    z_out = out.grid.index_to_lps(np.stack([np.zeros(12), np.zeros(12), np.arange(12.0)], axis=1))[:, 2]
    np.testing.assert_allclose(out.array[:, 3, 3], 100.0 + 10.0 * z_out, rtol=1e-4)
    warning = next(w for w in series.warnings if "irregular slice positions" in w)
    assert "3.600 to 4.400 mm" in warning and "resampled onto a regular grid of 12 slices" in warning
    # A per-slice factor (the SUV's) is applied to each file slice before the interpolation.
    factors = np.linspace(1.0, 2.0, 12)
    expected = (factors * (100.0 + 10.0 * z))  # per file slice, then interpolated
    scaled = series.scaled(factors)
    np.testing.assert_allclose(scaled[0, 0, 0], expected[0], rtol=1e-5)
    np.testing.assert_allclose(scaled[-1, 0, 0], expected[-1], rtol=1e-5)
    between = np.interp(z_out[5], z, expected)
    np.testing.assert_allclose(scaled[5, 0, 0], between, rtol=1e-5)


def test_missing_bed_slices_are_refused(tmp_path):
    folder = tmp_path / "missing"
    paths = _derive_series(DRO / "DRO_3_3" / "PT", folder, _multibed_offsets())
    paths[9].unlink()
    with pytest.raises(InputError, match="missing slice") as info:
        read_series(folder)
    assert paths[10].name in str(info.value) and "ImagePositionPatient (0020,0032)" in str(info.value)


# ---- compressed transfer syntaxes -------------------------------------------------------------
@pytest.mark.parametrize("syntax, uid", [("jpeg-lossless", "1.2.840.10008.1.2.4.70"),
                                         ("j2k", "1.2.840.10008.1.2.4.90"),
                                         ("jpegls", "1.2.840.10008.1.2.4.80"),
                                         ("rle", "1.2.840.10008.1.2.5")])
def test_compressed_pet_decodes_to_the_uncompressed_values(syntax, uid):
    folder = COMPRESSED / f"DRO_1_0-{syntax}"
    assert pydicom.dcmread(next(folder.iterdir()), stop_before_pixels=True).file_meta.TransferSyntaxUID == uid
    original = read_series(DRO / "DRO_1_0" / "PT")
    copy = read_series(folder)
    assert copy.volume.grid == original.volume.grid
    np.testing.assert_array_equal(copy.volume.array, original.volume.array)
    decoders = copy.volume.metadata["pixel_decoders"]
    assert list(decoders.values()) == [20] and uid in next(iter(decoders))
    assert next(iter(decoders)).startswith("SimpleITK GDCM")
    suv = suv_from_series(copy).volume.array
    assert float(suv.max()) == pytest.approx(4.00, rel=0.005)  # the DRO's truth (DRO_list.csv)


def test_pydicom_decoders_take_over_when_gdcm_cannot(monkeypatch):
    from iahepaticprrt.io import dicom_decode

    def refuse(ds, path):
        raise RuntimeError("GDCM unavailable")

    monkeypatch.setattr(dicom_decode, "_decode_with_gdcm", refuse)
    copy = read_series(COMPRESSED / "DRO_1_0-rle")  # pydicom decodes RLE itself
    np.testing.assert_array_equal(copy.volume.array, read_series(DRO / "DRO_1_0" / "PT").volume.array)
    assert next(iter(copy.volume.metadata["pixel_decoders"])).startswith("pydicom (RLE Lossless")


def test_no_decoder_is_one_clear_error(monkeypatch):
    from iahepaticprrt.io import dicom_decode

    def refuse(*args, **kwargs):
        raise RuntimeError("no decoder")

    monkeypatch.setattr(dicom_decode, "_decode_with_gdcm", refuse)
    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array", property(lambda self: refuse()))
    with pytest.raises(InputError) as info:
        read_series(COMPRESSED / "DRO_1_0-j2k")
    text = str(info.value)
    assert "TransferSyntaxUID (0002,0010)" in text and "1.2.840.10008.1.2.4.90" in text
    assert "iahepaticprrt[dicom]" in text and "DRO_1_0-j2k" in text


def test_pydicom_real_compressed_mr_matches_its_uncompressed_copy():
    """pydicom's own test files (a real MR slice; MIT): JPEG 2000, JPEG-LS and RLE copies."""
    from pydicom.data import get_testdata_file

    from iahepaticprrt.io.dicom_decode import decode_pixels

    reference = pydicom.dcmread(get_testdata_file("MR_small.dcm")).pixel_array
    for name in ("MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_RLE.dcm"):
        path = get_testdata_file(name)
        values, decoder = decode_pixels(pydicom.dcmread(path), path)
        np.testing.assert_array_equal(values, reference)
        assert decoder.startswith("SimpleITK GDCM")


# ---- files without preamble -------------------------------------------------------------------
def test_pet_without_preamble_reads(tmp_path):
    folder = tmp_path / "nopreamble"
    folder.mkdir()
    for path in (DRO / "DRO_0_0" / "PT").iterdir():
        ds = pydicom.dcmread(path)
        del ds.file_meta
        ds.preamble = None
        with open(folder / path.name, "wb") as f:
            pydicom.filewriter.dcmwrite(f, ds, implicit_vr=True, little_endian=True, enforce_file_format=False)
    raw = next(folder.iterdir()).read_bytes()
    assert raw[128:132] != b"DICM" and raw[:2] == b"\x08\x00"  # starts with a group 0008 element
    with pytest.raises(pydicom.errors.InvalidDicomError):
        pydicom.dcmread(next(folder.iterdir()))  # what the reader refused before
    series = read_series(folder)
    np.testing.assert_array_equal(series.volume.array, read_series(DRO / "DRO_0_0" / "PT").volume.array)
    assert series.volume.metadata["files_without_file_meta"] == 20
    assert any("without the DICOM preamble" in w for w in series.warnings)
    assert float(suv_from_series(series).volume.array.max()) == pytest.approx(4.00, rel=0.005)


def test_real_file_without_file_meta_is_recognised_as_dicom(tmp_path):
    """pydicom's ExplVR_LitEndNoMeta.dcm (a real RT Plan without preamble or file meta) is DICOM
    but not an image: the folder scan recognises it and skips it instead of calling it unreadable."""
    from pydicom.data import get_testdata_file

    from iahepaticprrt.io.dicom_decode import read_dataset

    path = get_testdata_file("ExplVR_LitEndNoMeta.dcm")
    ds = read_dataset(path)
    assert ds is not None and ds.Modality == "RTPLAN" and ds.read_without_file_meta
    shutil.copy(path, tmp_path / "plan.dcm")
    assert scan_folder(tmp_path) == []
    (tmp_path / "junk.dcm").write_bytes(b"\x00" * 300)
    with pytest.raises(InputError, match="not a readable DICOM file"):
        scan_folder(tmp_path)


def test_compressed_nm_multiframe_spect_reads_like_the_original(tmp_path):
    """An NM RECON TOMO file re-encoded RLE Lossless (pydicom's own encoder): the same Bq/mL, and the
    decoder in the provenance."""
    import spect_builders as sb
    from pydicom.uid import RLELossless

    from iahepaticprrt.io.spect_dicom import read_time_point

    patient = sb.default_patient()
    written = sb.write_time_point(patient, 0, tmp_path, ct=False)
    original = read_time_point(written["nm"])
    ds = pydicom.dcmread(written["nm"])
    ds.compress(RLELossless)
    compressed_path = tmp_path / "rle.dcm"
    ds.save_as(compressed_path)
    assert pydicom.dcmread(compressed_path).file_meta.TransferSyntaxUID == RLELossless
    compressed = read_time_point(compressed_path)
    np.testing.assert_array_equal(compressed.volume.array, original.volume.array)
    assert "RLE Lossless" in compressed.provenance["pixel_decoders"]
