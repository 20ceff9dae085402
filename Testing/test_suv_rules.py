"""One test per rule of docs/physics.md section 2, each against a hand-computed SUV.

The series are written with dicom_writer.write_image_series (pet_builder.py): slices hold 1000,
2000, 4000 and 8000 Bq/mL exactly; by default 80 kg, 180 cm, male, 150 MBq of 68Ga (header
half-life 4057.7 s) injected at 10:00:00, series and acquisition at 11:00:00, DecayCorrection START.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pydicom
import pytest

from iahepaticprrt.errors import InputError
from iahepaticprrt.uptake.suv import SuvOverrides, frame_average_time_s, suv_from_folder

from pet_builder import SLICE_VALUES, base_header, radiopharmaceutical, write_pet
from cli_checks import error_lines

LN2 = math.log(2.0)
HALF_LIFE_GA68_HEADER_S = 4057.7
WEIGHT_G = 80000.0


def decayed(activity_bq: float, seconds: float, half_life_s: float = HALF_LIFE_GA68_HEADER_S) -> float:
    return activity_bq * 2.0 ** (-seconds / half_life_s)


def slice_suv(result) -> np.ndarray:
    """The SUV of each slice (slices are uniform)."""
    array = result.volume.array
    assert np.allclose(array, array[:, :1, :1], rtol=1e-6)
    return array[:, 0, 0].astype(float)


def run(tmp_path, header=None, per_slice=None, suv_type="bw", overrides=None, values=SLICE_VALUES):
    folder = tmp_path / "pet"
    write_pet(folder, header, per_slice, values)
    return suv_from_folder(folder, suv_type, overrides)


# ---- rescale, units ----------------------------------------------------------------------------
def test_rescale_slope_is_applied_per_slice(tmp_path):
    result = run(tmp_path)
    slopes = [float(pydicom.dcmread(p, stop_before_pixels=True).RescaleSlope) for p in result.series.files]
    assert len(set(slopes)) == 4  # the writer chose one slope per slice
    # 1 h of 68Ga decay: A_ref = 150 MBq x 2^(-3600/4057.7) = 81.099 MBq.
    expected = SLICE_VALUES * WEIGHT_G / decayed(150e6, 3600.0)
    np.testing.assert_allclose(slice_suv(result), expected, rtol=1e-6)
    assert expected[0] == pytest.approx(0.98645, rel=1e-4)  # 1000 x 80000 / 81.099e6


def test_units_bqml_start_68ga_half_life_from_the_header(tmp_path):
    result = run(tmp_path)
    info = result.info
    assert info["half_life_s"] == HALF_LIFE_GA68_HEADER_S and "RadionuclideHalfLife" in info["half_life_source"]
    assert info["reference_activity_bq"] == pytest.approx(150e6 * 2 ** (-3600 / 4057.7), rel=1e-12)
    assert info["suv_factor"] == pytest.approx(80000 / (150e6 * 2 ** (-3600 / 4057.7)), rel=1e-12)
    assert info["uptake_time_s"] == 3600.0
    # 18F's half-life would give a 28 % lower dose decay: the header value matters.
    assert info["suv_factor"] != pytest.approx(80000 / (150e6 * 2 ** (-3600 / 6586.2)), rel=0.1)


def test_units_gml_with_empty_suv_type_is_suvbw_as_stored(tmp_path):
    result = run(tmp_path, base_header(Units="GML"), values=[0.5, 1.0, 2.0, 4.0])
    np.testing.assert_allclose(slice_suv(result), [0.5, 1.0, 2.0, 4.0], rtol=1e-7)
    assert result.info["suv_factor"] == 1.0 and result.info["image_suv_type"] == "bw"
    assert any("SUVType (0054,1006) empty" in w for w in result.warnings)


def test_units_gml_bw_to_lbm_james_needs_height_and_sex(tmp_path):
    # 80 kg, 180 cm, male: LBM = 1.10 x 80 - 128 x (80/180)^2 = 88 - 25.2840 = 62.7160 kg.
    result = run(tmp_path, base_header(Units="GML", SUVType="BW"), suv_type="lbm-james", values=[1.0, 2.0, 4.0, 8.0])
    lbm_kg = 1.10 * 80 - 128 * (80 / 180) ** 2
    assert lbm_kg == pytest.approx(62.7160, abs=1e-4)
    np.testing.assert_allclose(slice_suv(result), np.array([1.0, 2.0, 4.0, 8.0]) * lbm_kg / 80, rtol=1e-6)
    with pytest.raises(InputError, match="needs the patient's height") as error:
        run(tmp_path / "no-height", base_header(Units="GML", SUVType="BW", PatientSize=None), suv_type="lbm-james")
    assert error.value.field == "PatientSize (0010,1020)"


def test_units_gml_lbm_is_morgan_120(tmp_path):
    # SUVType LBM (IBSI manual: Morgan, 120 for men): LBM = 88 - 120 x (80/180)^2 = 64.2963 kg.
    result = run(tmp_path, base_header(Units="GML", SUVType="LBM"), values=[1.0, 2.0, 4.0, 8.0])
    np.testing.assert_allclose(slice_suv(result), np.array([1.0, 2.0, 4.0, 8.0]) * 80 / 64.296296, rtol=1e-6)


def test_units_cm2ml_is_suvbsa(tmp_path):
    # Du Bois: 0.007184 x 180^0.725 x 80^0.425 = 1.99642 m^2 = 19964.2 cm^2; SUVbw = SUVbsa x W / BSA.
    bsa_cm2 = 0.007184 * 180 ** 0.725 * 80 ** 0.425 * 1e4
    assert bsa_cm2 == pytest.approx(19964.2, abs=0.5)
    result = run(tmp_path, base_header(Units="CM2ML", SUVType="BSA"), values=[0.25, 0.5, 1.0, 2.0])
    np.testing.assert_allclose(slice_suv(result), np.array([0.25, 0.5, 1.0, 2.0]) * 80000 / bsa_cm2, rtol=1e-6)
    same = run(tmp_path / "bsa", base_header(Units="CM2ML"), suv_type="bsa", values=[0.25, 0.5, 1.0, 2.0])
    assert same.info["suv_factor"] == 1.0


def test_units_cnts_with_philips_suv_factor(tmp_path):
    per_slice = [{(0x7053, 0x0010): ("LO", "Philips PET Private Group"), (0x7053, 0x1000): ("DS", f"{f}")}
                 for f in (0.001, 0.001, 0.002, 0.002)]
    result = run(tmp_path, base_header(Units="CNTS"), per_slice, values=[1000, 2000, 1000, 2000])
    np.testing.assert_allclose(slice_suv(result), [1.0, 2.0, 2.0, 4.0], rtol=1e-6)
    assert result.info["suv_factor"] is None and result.info["suv_factor_per_slice"] == [0.001, 0.001, 0.002, 0.002]


def test_units_cnts_with_only_the_philips_activity_factor_7053_1009(tmp_path):
    # Bq/mL = counts x 2.0; then the BQML rules: SUV = 2 x counts x 80000 / (150 MBq decayed 1 h).
    per_slice = [{(0x7053, 0x1009): ("DS", "2.0")} for _ in range(4)]
    result = run(tmp_path, base_header(Units="CNTS"), per_slice, values=[500, 1000, 2000, 4000])
    expected = np.array([500, 1000, 2000, 4000]) * 2.0 * WEIGHT_G / decayed(150e6, 3600.0)
    np.testing.assert_allclose(slice_suv(result), expected, rtol=1e-6)
    assert any("(7053,1009)" in w for w in result.warnings)


def test_units_cnts_without_philips_factors_is_refused(tmp_path):
    with pytest.raises(InputError, match="Philips SUV factor") as error:
        run(tmp_path, base_header(Units="CNTS"))
    assert "(7053,1000)" in error.value.field


@pytest.mark.parametrize("units", ["PROPCPS", "1CM", ""])
def test_other_units_are_refused(tmp_path, units):
    with pytest.raises(InputError, match="Units") as error:
        run(tmp_path, base_header(Units=units or None))
    assert error.value.field == "Units (0054,1001)"


# ---- decay correction ----------------------------------------------------------------------------
def test_decay_correction_admin_does_not_decay_the_dose(tmp_path):
    result = run(tmp_path, base_header(DecayCorrection="ADMIN"))
    np.testing.assert_allclose(slice_suv(result), SLICE_VALUES * WEIGHT_G / 150e6, rtol=1e-6)
    assert result.info["reference_time"] == "2025-01-01T10:00:00"


def test_decay_correction_none_corrects_each_frame_from_its_own_time_and_duration(tmp_path):
    # Two beds: slices 0-1 start 11:00:00 (300 s), slices 2-3 start 11:05:00 (120 s).
    per_slice = [{"AcquisitionTime": t, "ActualFrameDuration": d} for t, d in
                 [("110000", "300000"), ("110000", "300000"), ("110500", "120000"), ("110500", "120000")]]
    result = run(tmp_path, base_header(DecayCorrection="NONE", CorrectedImage=["ATTN"]), per_slice)
    lam = LN2 / HALF_LIFE_GA68_HEADER_S

    def factor(start_s, duration_s):
        return math.exp(lam * start_s) * lam * duration_s / (1 - math.exp(-lam * duration_s))

    # Hand values: bed 1 e^(lam 3600) x lam T / (1 - e^-lam T) = 1.849586 x 1.025842;
    # bed 2 e^(lam 3900) x 1.010284 = 1.946842 x 1.010284.
    assert factor(3600, 300) == pytest.approx(1.849586 * 1.025842, rel=1e-5)
    assert factor(3900, 120) == pytest.approx(1.946842 * 1.010284, rel=1e-5)
    expected = SLICE_VALUES * np.array([factor(3600, 300)] * 2 + [factor(3900, 120)] * 2) * WEIGHT_G / 150e6
    np.testing.assert_allclose(slice_suv(result), expected, rtol=1e-6)
    assert result.info["decay_correction"] == "NONE" and len(result.info["suv_factor_per_slice"]) == 4


def test_decay_correction_none_without_frame_duration_is_refused(tmp_path):
    with pytest.raises(InputError) as error:
        run(tmp_path, base_header(DecayCorrection="NONE", ActualFrameDuration=None))
    assert error.value.field == "ActualFrameDuration (0018,1242)"


def test_decay_correction_start_without_half_life_is_refused_never_assumed(tmp_path):
    with pytest.raises(InputError, match="never assumed") as error:
        run(tmp_path, base_header(RadiopharmaceuticalInformationSequence=radiopharmaceutical(half_life=None)))
    assert error.value.field == "RadionuclideHalfLife (0018,1075)"


# ---- reference time ------------------------------------------------------------------------------
def test_series_time_later_than_acquisition_back_computes_the_reference(tmp_path):
    # Series re-made at 14:00; acquisition 11:00:00, 300 s frame, FrameReferenceTime 150 s.
    # T_ave(300 s, 68Ga) = ln(lam T / (1 - e^-lam T)) / lam = 149.3594 s (about T/2 - lam T^2 / 24)
    # -> reference 11:00:00 + 149.3594 s - 150 s = 10:59:59.359.
    result = run(tmp_path, base_header(SeriesTime="140000"))
    t_ave = frame_average_time_s(300.0, HALF_LIFE_GA68_HEADER_S)
    assert t_ave == pytest.approx(149.3594, abs=1e-3)
    delay_s = 3600.0 + t_ave - 150.0
    assert result.info["reference_time"].startswith("2025-01-01T10:59:59.359")
    np.testing.assert_allclose(slice_suv(result), SLICE_VALUES * WEIGHT_G / decayed(150e6, delay_s), rtol=1e-6)
    assert any("later than the earliest acquisition" in w for w in result.warnings)


def test_series_time_later_than_acquisition_uses_the_ge_scan_datetime(tmp_path):
    header = base_header(SeriesTime="140000", AcquisitionTime="113000", Manufacturer="GE MEDICAL SYSTEMS")
    header[(0x0009, 0x0010)] = ("LO", "GEMS_PETD_01")
    header[(0x0009, 0x100D)] = ("DT", "20250101110000.000000")
    result = run(tmp_path, header)
    assert result.info["reference_time"] == "2025-01-01T11:00:00"
    assert result.info["reference_time_source"] == "GE private scan date-time (0009,100D)"
    np.testing.assert_allclose(slice_suv(result), SLICE_VALUES * WEIGHT_G / decayed(150e6, 3600.0), rtol=1e-6)


def test_series_time_not_later_than_acquisition_is_the_reference(tmp_path):
    result = run(tmp_path, base_header(SeriesTime="105000", AcquisitionTime="110000"))
    assert result.info["reference_time"] == "2025-01-01T10:50:00"
    np.testing.assert_allclose(slice_suv(result), SLICE_VALUES * WEIGHT_G / decayed(150e6, 3000.0), rtol=1e-6)


# ---- injection time ------------------------------------------------------------------------------
def test_injection_datetime_0018_1078_is_preferred_over_0018_1072(tmp_path):
    rp = radiopharmaceutical(start_datetime="20250101101000", start_time="100000")
    result = run(tmp_path, base_header(RadiopharmaceuticalInformationSequence=rp))
    assert result.info["injection_time"] == "2025-01-01T10:10:00"
    np.testing.assert_allclose(slice_suv(result), SLICE_VALUES * WEIGHT_G / decayed(150e6, 3000.0), rtol=1e-6)


def test_injection_before_midnight_with_only_the_start_time(tmp_path):
    # Injected 23:30 on 1 January, scanned 00:30 on 2 January: 3600 s, not -82800 s.
    rp = radiopharmaceutical(start_datetime=None, start_time="233000")
    header = base_header(RadiopharmaceuticalInformationSequence=rp, SeriesDate="20250102", AcquisitionDate="20250102",
                         SeriesTime="003000", AcquisitionTime="003000")
    result = run(tmp_path, header)
    assert result.info["injection_time"] == "2025-01-01T23:30:00"
    np.testing.assert_allclose(slice_suv(result), SLICE_VALUES * WEIGHT_G / decayed(150e6, 3600.0), rtol=1e-6)
    assert any("before midnight" in w for w in result.warnings)


def test_only_the_start_time_takes_the_series_date(tmp_path):
    rp = radiopharmaceutical(start_datetime=None, start_time="100000")
    result = run(tmp_path, base_header(RadiopharmaceuticalInformationSequence=rp))
    assert result.info["injection_time"] == "2025-01-01T10:00:00"


def test_no_injection_time_is_refused(tmp_path):
    rp = radiopharmaceutical(start_datetime=None, start_time=None)
    with pytest.raises(InputError, match="--injection-time") as error:
        run(tmp_path, base_header(RadiopharmaceuticalInformationSequence=rp))
    assert "(0018,1078)" in error.value.field


def test_injection_after_the_scan_is_refused(tmp_path):
    rp = radiopharmaceutical(start_datetime="20250101120000")
    with pytest.raises(InputError, match="after the scan start"):
        run(tmp_path, base_header(RadiopharmaceuticalInformationSequence=rp))


# ---- dose, weight ------------------------------------------------------------------------------
def test_dose_below_1e5_is_megabecquerel(tmp_path):
    result = run(tmp_path, base_header(RadiopharmaceuticalInformationSequence=radiopharmaceutical(dose="150")))
    assert result.info["injected_activity_bq"] == 150e6
    np.testing.assert_allclose(slice_suv(result), SLICE_VALUES * WEIGHT_G / decayed(150e6, 3600.0), rtol=1e-6)
    assert any("read as MBq" in w for w in result.warnings)


@pytest.mark.parametrize("dose", [None, "0"])
def test_missing_or_zero_dose_is_refused_unless_given(tmp_path, dose):
    header = base_header(RadiopharmaceuticalInformationSequence=radiopharmaceutical(dose=dose))
    with pytest.raises(InputError, match="--injected-mbq") as error:
        run(tmp_path, header)
    assert error.value.field == "RadionuclideTotalDose (0018,1074)"
    result = run(tmp_path / "given", header, overrides=SuvOverrides(injected_mbq=150))
    np.testing.assert_allclose(slice_suv(result), SLICE_VALUES * WEIGHT_G / decayed(150e6, 3600.0), rtol=1e-6)


@pytest.mark.parametrize("weight", [None, "0"])
def test_missing_or_zero_weight_is_refused_never_guessed(tmp_path, weight):
    with pytest.raises(InputError, match="--weight-kg") as error:
        run(tmp_path, base_header(PatientWeight=weight))
    assert error.value.field == "PatientWeight (0010,1030)"
    result = run(tmp_path / "given", base_header(PatientWeight=weight), overrides=SuvOverrides(weight_kg=60))
    np.testing.assert_allclose(slice_suv(result), SLICE_VALUES * 60000 / decayed(150e6, 3600.0), rtol=1e-6)


def test_weight_in_grams_and_height_in_centimetres_are_recognised(tmp_path):
    result = run(tmp_path, base_header(PatientWeight="80000", PatientSize="180"), suv_type="bsa")
    bsa_cm2 = 0.007184 * 180 ** 0.725 * 80 ** 0.425 * 1e4
    np.testing.assert_allclose(slice_suv(result), SLICE_VALUES * bsa_cm2 / decayed(150e6, 3600.0), rtol=1e-6)
    assert sum("read as" in w for w in result.warnings) == 2


# ---- normalisers ---------------------------------------------------------------------------------
@pytest.mark.parametrize("suv_type, sex, normaliser_g", [
    ("bw", "M", 80000.0),
    ("lbm-james", "M", (1.10 * 80 - 128 * (80 / 180) ** 2) * 1000),     # 62716.0 g
    ("lbm-james", "F", (1.07 * 80 - 148 * (80 / 180) ** 2) * 1000),     # 56365.4 g
    ("lbm-janma", "M", 9270 * 80 / (6680 + 216 * 80 / 1.8 ** 2) * 1000),  # BMI 24.69: 61.73 kg
    ("lbm-janma", "F", 9270 * 80 / (8780 + 244 * 80 / 1.8 ** 2) * 1000),  # 50.09 kg
    ("bsa", "M", 0.007184 * 180 ** 0.725 * 80 ** 0.425 * 1e4),           # 19964.2 cm^2
    ("ibw", "M", (48.0 + 1.06 * 28) * 1000),                            # 77.68 kg
    ("ibw", "F", (45.5 + 0.91 * 28) * 1000),                            # 70.98 kg
])
def test_normalisers(tmp_path, suv_type, sex, normaliser_g):
    result = run(tmp_path, base_header(PatientSex=sex), suv_type=suv_type)
    assert result.info["normaliser"] == pytest.approx(normaliser_g, rel=1e-12)
    np.testing.assert_allclose(slice_suv(result), SLICE_VALUES * normaliser_g / decayed(150e6, 3600.0), rtol=1e-6)


def test_hand_values_of_the_normalisers():
    assert 1.10 * 80 - 128 * (80 / 180) ** 2 == pytest.approx(62.7160, abs=1e-4)
    assert 9270 * 80 / (6680 + 216 * 80 / 1.8 ** 2) == pytest.approx(61.7314, abs=1e-3)
    assert 48.0 + 1.06 * 28 == pytest.approx(77.68)


def test_sex_missing_is_refused_for_lbm(tmp_path):
    with pytest.raises(InputError, match="--sex") as error:
        run(tmp_path, base_header(PatientSex=None), suv_type="lbm-james")
    assert error.value.field == "PatientSex (0010,0040)"


# ---- overrides -----------------------------------------------------------------------------------
def test_overrides_beat_the_header_and_are_reported(tmp_path):
    overrides = SuvOverrides(weight_kg=70, injected_mbq=200, residual_mbq=20, injection_time="2025-01-01T10:30:00")
    result = run(tmp_path, overrides=overrides)
    info = result.info
    assert info["injected_activity_bq"] == 200e6 and info["residual_activity_bq"] == 20e6
    assert info["net_injected_activity_bq"] == 180e6 and info["injection_time"] == "2025-01-01T10:30:00"
    np.testing.assert_allclose(slice_suv(result), SLICE_VALUES * 70000 / decayed(180e6, 1800.0), rtol=1e-6)
    assert sum("given by the user replaces" in w for w in result.warnings) == 3
    assert info["patient"]["weight_source"] == "user (--weight-kg)"


def test_injection_time_override_as_time_of_day(tmp_path):
    result = run(tmp_path, overrides=SuvOverrides(injection_time="10:15"))
    assert result.info["injection_time"] == "2025-01-01T10:15:00"


def test_residual_not_less_than_injected_is_refused(tmp_path):
    with pytest.raises(InputError, match="residual"):
        run(tmp_path, overrides=SuvOverrides(residual_mbq=150))


def test_dose_override_on_an_suv_image_rescales_by_the_reference_activities(tmp_path):
    # GML (SUVbw from the scanner with 150 MBq); the user says 100 MBq were injected: x 1.5.
    result = run(tmp_path, base_header(Units="GML"), values=[1.0, 2.0, 4.0, 8.0],
                 overrides=SuvOverrides(injected_mbq=100))
    np.testing.assert_allclose(slice_suv(result), np.array([1.0, 2.0, 4.0, 8.0]) * 1.5, rtol=1e-6)


def test_weight_override_on_an_suv_image(tmp_path):
    result = run(tmp_path, base_header(Units="GML"), values=[1.0, 2.0, 4.0, 8.0], overrides=SuvOverrides(weight_kg=60))
    np.testing.assert_allclose(slice_suv(result), np.array([1.0, 2.0, 4.0, 8.0]) * 60 / 80, rtol=1e-6)


# ---- series selection ----------------------------------------------------------------------------
def test_several_series_are_listed_and_one_is_picked_by_uid(tmp_path):
    folder = tmp_path / "pet"
    write_pet(folder / "a", base_header(), uid_key="series a")
    write_pet(folder / "b", base_header(PatientWeight="60"), uid_key="series b")
    with pytest.raises(InputError, match="several series") as error:
        suv_from_folder(folder)
    uid_b = pydicom.dcmread(next((folder / "b").iterdir()), stop_before_pixels=True).SeriesInstanceUID
    assert uid_b in str(error.value)
    result = suv_from_folder(folder, series_uid=uid_b)
    assert result.info["series_instance_uid"] == uid_b and result.info["patient"]["weight_kg"] == 60


def test_ct_series_is_not_pet(tmp_path):
    from iahepaticprrt import known_answers

    known_answers.write_oblique_ct(tmp_path / "ct")
    with pytest.raises(InputError, match="no PT DICOM series"):
        suv_from_folder(tmp_path / "ct")


def test_result_json_has_the_required_keys(tmp_path):
    info = run(tmp_path).info
    for key in ("suv_type", "suv_factor", "units", "decay_correction", "reference_time", "injection_time",
                "injected_activity_bq", "half_life_s", "series_instance_uid", "warnings"):
        assert key in info
    assert dt.datetime.fromisoformat(info["reference_time"]) == dt.datetime(2025, 1, 1, 11)


# ---- the command -----------------------------------------------------------------------------------
def test_suv_command_writes_float32_on_the_pet_grid_and_prints_json(tmp_path, capsys):
    import json

    from iahepaticprrt.cli import main
    from iahepaticprrt.io.volume_files import read_volume

    from pet_builder import GRID

    write_pet(tmp_path / "pet", base_header(PatientSex="F"))
    assert main(["suv", str(tmp_path / "pet"), "-o", str(tmp_path / "suv.nrrd"), "--suv-type", "lbm-janma",
                 "--weight-kg", "70", "--height-cm", "165"]) == 0
    info = json.loads(capsys.readouterr().out)
    volume = read_volume(tmp_path / "suv.nrrd")
    assert volume.array.dtype == np.float32 and volume.grid.is_same(GRID, 1e-4)
    # Janmahasatian, female, 70 kg, 165 cm: BMI 25.712; LBM = 9270 x 70 / (8780 + 244 x 25.712) = 43.106 kg.
    lbm_g = 9270 * 70 / (8780 + 244 * 70 / 1.65 ** 2) * 1000
    assert lbm_g == pytest.approx(43106, abs=1)
    np.testing.assert_allclose(volume.array[:, 0, 0], SLICE_VALUES * lbm_g / decayed(150e6, 3600.0), rtol=1e-6)
    assert info["suv_unit"] == "SUVlbmJanma" and info["patient"]["height_source"] == "user (--height-cm)"


def test_suv_command_bad_input_is_one_line_exit_2_and_no_output(tmp_path, capsys):
    from iahepaticprrt.cli import main

    write_pet(tmp_path / "pet", base_header(PatientWeight=None))
    assert main(["suv", str(tmp_path / "pet"), "-o", str(tmp_path / "suv.nrrd")]) == 2
    err = capsys.readouterr().err.strip()
    lines = error_lines(err)
    assert len(lines) == 1 and "PatientWeight (0010,1030)" in lines[0] and "--weight-kg" in lines[0]
    assert not (tmp_path / "suv.nrrd").exists()


def test_injection_time_override_is_refused_for_admin_decay_correction(tmp_path):
    # The scanner corrected the pixels to the header's injection time; the override cannot undo that.
    with pytest.raises(InputError, match="ADMIN") as error:
        run(tmp_path, base_header(DecayCorrection="ADMIN"), overrides=SuvOverrides(injection_time="09:50"))
    assert error.value.field == "DecayCorrection (0054,1102)"
    result = run(tmp_path / "dose", base_header(DecayCorrection="ADMIN"), overrides=SuvOverrides(injected_mbq=100))
    np.testing.assert_allclose(slice_suv(result), SLICE_VALUES * WEIGHT_G / 100e6, rtol=1e-6)
