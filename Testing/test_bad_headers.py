"""Headers that cannot be, or cannot be this trial's (issue 13): non-finite values, implausible
patients and activities, the wrong radionuclide, broken rescale slopes, another patient's series,
swapped or repeated scans, and activity that was never administered. Each is one line naming the
file and the field, exit 2 (or, where the user accepts a check by name, a warning in the results),
inputs unchanged and nothing written.

Every case mutates a copy of the synthetic patient (``iahprrt phantom --small --no-noise``)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import phantom_checks
from cli_checks import error_lines
import pydicom
import pytest

from iahepaticprrt.cli import main

RUN_OK = 0
BAD_INPUT = 2


@pytest.fixture(scope="module")
def patient(tmp_path_factory):
    return phantom_checks.phantom(tmp_path_factory)  # small, noise-free, siemens


def _copy(patient: Path, tmp_path: Path, *parts: str) -> Path:
    target = tmp_path / "copy" / Path(*parts)
    shutil.copytree(patient / Path(*parts), target)
    return target


def _edit(folder: Path, change, files=None) -> None:
    """Apply ``change(ds, index)`` to every DICOM file of ``folder`` (or to the indices in ``files``)."""
    paths = sorted(folder.glob("*.dcm")) or sorted(p for p in folder.iterdir() if p.is_file())
    for index, path in enumerate(paths):
        if files is None or index in files:
            ds = pydicom.dcmread(path)
            change(ds, index)
            ds.save_as(path)


def _hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _uptake(patient, ia, iv, tmp_path, *extra):
    return main(["uptake", "--ia", str(ia), "--iv", str(iv),
                 "--ia-seg", str(patient / "segmentations" / "ia_day0.seg.nrrd"),
                 "--iv-seg", str(patient / "segmentations" / "iv_day3.seg.nrrd"), "-o", str(tmp_path / "out"), *extra])


def _error_line(capsys) -> str:
    """The one error line on stderr (progress lines, ``[  1.2 s] stage``, may come before it)."""
    err = capsys.readouterr().err.strip()
    lines = error_lines(err)
    assert "Traceback" not in err and len(lines) == 1, err
    return lines[0]


def _assert_refused(status, capsys, tmp_path, *needles):
    assert status == BAD_INPUT
    line = _error_line(capsys)
    for needle in needles:
        assert needle in line, line
    assert not (tmp_path / "out").exists()
    return line


# ---- PET headers: impossible and implausible values ----------------------------------------------
@pytest.mark.parametrize("keyword, value, field", [
    ("PatientWeight", "inf", "PatientWeight (0010,1030)"),        # gave mean ratio 0.0, "not eligible"
    ("PatientWeight", "nan", "PatientWeight (0010,1030)"),
])
def test_non_finite_patient_values(patient, tmp_path, capsys, keyword, value, field):
    iv = _copy(patient, tmp_path, "iv_day3", "pet")
    _edit(iv, lambda ds, i: setattr(ds, keyword, value))
    line = _assert_refused(_uptake(patient, patient / "ia_day0" / "pet", iv, tmp_path), capsys, tmp_path,
                           field, "not a finite number")
    assert str(iv) in line


def test_a_nan_half_life(patient, tmp_path, capsys):
    """RadionuclideHalfLife NaN gave an all-NaN SUV volume."""
    iv = _copy(patient, tmp_path, "iv_day3", "pet")
    _edit(iv, lambda ds, i: setattr(ds.RadiopharmaceuticalInformationSequence[0], "RadionuclideHalfLife", "nan"))
    _assert_refused(_uptake(patient, patient / "ia_day0" / "pet", iv, tmp_path), capsys, tmp_path,
                    "RadionuclideHalfLife (0018,1075)", "not a finite number")


def test_an_implausible_weight_is_refused_unless_accepted(patient, tmp_path, capsys):
    """78 g typed for 78 kg (or pounds, or a decimal slip): outside 20-300 kg."""
    iv = _copy(patient, tmp_path, "iv_day3", "pet")
    _edit(iv, lambda ds, i: setattr(ds, "PatientWeight", "7.72"))
    _assert_refused(_uptake(patient, patient / "ia_day0" / "pet", iv, tmp_path), capsys, tmp_path,
                    "PatientWeight (0010,1030)", "outside the plausible 20 to 300 kg", "--accept patient-weight")
    assert _uptake(patient, patient / "ia_day0" / "pet", iv, tmp_path, "--accept", "patient-weight") == RUN_OK
    result = json.loads((tmp_path / "out" / "uptake.json").read_text())
    assert any("accepted by the user (--accept patient-weight): patient weight 7.72 kg" in w for w in result["warnings"])


def test_an_injected_activity_in_kbq_is_refused(patient, tmp_path, capsys):
    """171.9 MBq written as 171.9e-3 MBq (a unit slip): outside 10-2000 MBq of PET tracer."""
    iv = _copy(patient, tmp_path, "iv_day3", "pet")
    _edit(iv, lambda ds, i: setattr(ds.RadiopharmaceuticalInformationSequence[0], "RadionuclideTotalDose", "171900"))
    _assert_refused(_uptake(patient, patient / "ia_day0" / "pet", iv, tmp_path), capsys, tmp_path,
                    "RadionuclideTotalDose (0018,1074)", "--accept injected-activity")


# ---- rescale slopes ------------------------------------------------------------------------------
@pytest.mark.parametrize("slope, message", [("0", "must be positive"), ("-0.5", "must be positive"),
                                            ("inf", "not a finite number"), (None, "missing in this slice")])
def test_a_broken_rescale_slope_in_one_slice(patient, tmp_path, capsys, slope, message):
    iv = _copy(patient, tmp_path, "iv_day3", "pet")

    def change(ds, index):
        if slope is None:
            del ds.RescaleSlope
        else:
            ds.RescaleSlope = slope

    _edit(iv, change, files={3})
    _assert_refused(_uptake(patient, patient / "ia_day0" / "pet", iv, tmp_path), capsys, tmp_path,
                    "RescaleSlope (0028,1053)", message)


# ---- the radionuclide ----------------------------------------------------------------------------
def test_an_18f_pet_is_not_a_68ga_pet(patient, tmp_path, capsys):
    """The IV PET's header says 18F: ratio 4.44 instead of 3.50, still 'eligible', before."""
    iv = _copy(patient, tmp_path, "iv_day3", "pet")

    def to_18f(ds, index):
        item = ds.RadiopharmaceuticalInformationSequence[0]
        item.RadionuclideCodeSequence[0].CodeMeaning = "^18^Fluorine"
        item.RadionuclideHalfLife = "6586.2"

    _edit(iv, to_18f)
    line = _assert_refused(_uptake(patient, patient / "ia_day0" / "pet", iv, tmp_path), capsys, tmp_path,
                           "F-18", "not Ga-68", "--accept radionuclide")
    assert "RadionuclideCodeSequence" in line


def test_the_generic_suv_command_takes_any_pet_radionuclide(patient, tmp_path, capsys):
    iv = _copy(patient, tmp_path, "iv_day3", "pet")

    def to_18f(ds, index):
        ds.RadiopharmaceuticalInformationSequence[0].RadionuclideCodeSequence[0].CodeMeaning = "^18^Fluorine"
        ds.RadiopharmaceuticalInformationSequence[0].RadionuclideHalfLife = "6586.2"

    _edit(iv, to_18f)
    assert main(["suv", str(iv), "-o", str(tmp_path / "suv.nrrd")]) == RUN_OK


def _dosimetry(patient, spect_paths, tmp_path, *extra, administered="7400", seg=None):
    argv = ["dosimetry", "--spect", *[str(p) for p in spect_paths],
            "--seg", str(seg or patient / "segmentations" / "spect_tp1.seg.nrrd"),
            "--administered-mbq", administered, "--administration-time", "2025-03-24T10:30:00",
            "--no-registration", "-o", str(tmp_path / "out"), *extra]
    return main(argv)


def test_a_tc99m_spect_is_not_a_177lu_spect(patient, tmp_path, capsys):
    tp = _copy(patient, tmp_path, "spect", "tp1", "nm")

    def to_tc(ds, index):
        window = ds.EnergyWindowInformationSequence[0].EnergyWindowRangeSequence[0]
        window.EnergyWindowLowerLimit, window.EnergyWindowUpperLimit = "126.45", "154.55"  # 140.5 keV +- 10 %

    _edit(tp, to_tc)
    _assert_refused(_dosimetry(patient, [tp / "spect.dcm"], tmp_path), capsys, tmp_path,
                    str(tp / "spect.dcm"), "EnergyWindowRangeSequence", "Lu-177")


# ---- one patient, two different scans in the right order ------------------------------------------
def test_an_iv_pet_of_another_patient(patient, tmp_path, capsys):
    iv = _copy(patient, tmp_path, "iv_day3", "pet")
    inputs = _hashes(iv)
    _edit(iv, lambda ds, i: setattr(ds, "PatientID", "IAHPRRT-SYN-0002"))
    inputs = _hashes(iv)
    _assert_refused(_uptake(patient, patient / "ia_day0" / "pet", iv, tmp_path), capsys, tmp_path,
                    "PatientID (0010,0020)", "another patient's", "--accept patient-identity")
    assert _hashes(iv) == inputs
    # De-identified data with a pseudonym per series: accepted by name, with a warning.
    assert _uptake(patient, patient / "ia_day0" / "pet", iv, tmp_path, "--accept", "patient-identity") == RUN_OK
    warnings = json.loads((tmp_path / "out" / "uptake.json").read_text())["warnings"]
    assert any("--accept patient-identity" in w for w in warnings)


def test_ia_and_iv_swapped(patient, tmp_path, capsys):
    """The ratio of swapped scans is the inverse (0.30 for 3.3): refused on the acquisition dates."""
    status = main(["uptake", "--ia", str(patient / "iv_day3" / "pet"), "--iv", str(patient / "ia_day0" / "pet"),
                   "--ia-seg", str(patient / "segmentations" / "iv_day3.seg.nrrd"),
                   "--iv-seg", str(patient / "segmentations" / "ia_day0.seg.nrrd"), "-o", str(tmp_path / "out")])
    _assert_refused(status, capsys, tmp_path, "is not after the intra-arterial one", "--accept scan-order")


def test_the_same_series_as_ia_and_iv(patient, tmp_path, capsys):
    _assert_refused(_uptake(patient, patient / "ia_day0" / "pet", patient / "ia_day0" / "pet", tmp_path), capsys,
                    tmp_path, "the same series")


def test_a_spect_time_point_of_another_patient(patient, tmp_path, capsys):
    tp = _copy(patient, tmp_path, "spect", "tp2", "nm")
    _edit(tp, lambda ds, i: setattr(ds, "PatientBirthDate", "19700101"))
    _assert_refused(_dosimetry(patient, [patient / "spect" / "tp1" / "nm" / "spect.dcm", tp / "spect.dcm"], tmp_path),
                    capsys, tmp_path, "PatientBirthDate (0010,0030)", str(tp / "spect.dcm"))


def test_the_same_spect_time_point_twice(patient, tmp_path, capsys):
    tp1 = patient / "spect" / "tp1" / "nm" / "spect.dcm"
    _assert_refused(_dosimetry(patient, [tp1, tp1], tmp_path, "--times-h", "4", "24"), capsys, tmp_path,
                    "the same SPECT series")


# ---- activity that was never administered ----------------------------------------------------------
def test_gbq_typed_as_mbq(patient, tmp_path, capsys):
    """--administered-mbq 7.4 gave a residence time of 1,508 h."""
    _assert_refused(_dosimetry(patient, [patient / "spect" / "tp1" / "nm" / "spect.dcm"], tmp_path,
                               administered="7.4"), capsys, tmp_path,
                    "--administered-mbq", "administered 177Lu activity 7.4 MBq", "--accept administered-activity")


def test_bqml_spect_read_as_counts_breaks_the_activity_balance(patient, tmp_path, capsys):
    """A Bq/mL SPECT whose RealWorldValueMapping is lost is read as counts, then divided by the
    calibration: a liver TIA x 12 and 'kidney limit exceeded' before; now the balance refuses it."""
    tp = _copy(patient, tmp_path, "spect", "tp1", "bqml")
    _edit(tp, lambda ds, i: delattr(ds, "RealWorldValueMappingSequence"))
    line = _assert_refused(_dosimetry(patient, [tp / "spect.dcm"], tmp_path, "--calibration-cps-per-mbq", "0.1"),
                           capsys, tmp_path, "times the net administered", "--accept activity-balance")
    assert str(tp / "spect.dcm") in line


def _tac(tmp_path: Path, rows: list[tuple]) -> Path:
    path = tmp_path / "tac.csv"
    path.write_text("voi,time_h,activity_mbq\n" + "".join(f"{v},{t},{a}\n" for v, t, a in rows))
    return path


def test_a_voi_holding_twenty_times_the_administered_activity(tmp_path, capsys):
    tac = _tac(tmp_path, [("Liver", t, 20 * 7400 * 0.5 ** (t / 159.53)) for t in (4, 24, 96, 168)])
    status = main(["kinetics", str(tac), "--administered-mbq", "7400", "-o", str(tmp_path / "out")])
    _assert_refused(status, capsys, tmp_path, "VOI 'Liver'", "the most the administered activity can give",
                    "--accept activity-balance")


def test_a_rising_curve_without_the_physical_decay_bound(tmp_path, capsys):
    """--no-clamp on a curve still rising at the last point extrapolated to 19,776 h of residence."""
    tac = _tac(tmp_path, [("Lesion 1", t, a) for t, a in ((4, 100), (24, 300), (96, 900), (168, 1400))])
    status = main(["kinetics", str(tac), "--administered-mbq", "7400", "--no-clamp", "-o", str(tmp_path / "out")])
    _assert_refused(status, capsys, tmp_path, "VOI 'Lesion 1'", "residence time")


def test_unknown_accept_names_are_refused(patient, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        _uptake(patient, patient / "ia_day0" / "pet", patient / "iv_day3" / "pet", tmp_path, "--accept", "weight")
    assert info.value.code == 2
    assert "invalid choice: 'weight'" in capsys.readouterr().err


def test_the_valid_patient_trips_no_check(patient, tmp_path):
    """The synthetic patient runs with no acceptance and no new warning from these checks."""
    assert main(["run", str(patient / "manifest.json"), "-o", str(tmp_path / "out")]) == RUN_OK
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    warnings = results["uptake"]["warnings"] + results["dosimetry"]["warnings"]
    assert not [w for w in warnings if "accept" in w or "radionuclide" in w or "plausible" in w
                or "off the uptake" in w]
    assert results["uptake"]["scan_checks"]["days_from_ia_to_iv"] == pytest.approx(3.0, abs=0.1)
    fractions = [tp["field_of_view_activity_fraction_of_administered"] for tp in results["dosimetry"]["time_points"]]
    assert all(0 < f < 1 for f in fractions)


# ---- a segmentation of another scan ------------------------------------------------------------------
def test_the_ia_segmentation_on_the_iv_pet_is_named(patient, tmp_path):
    """A .seg.nrrd has no frame of reference: the IA VOIs on the IV PET sit 7-12 mm off the uptake
    (the patient moved between day 0 and day 3); the run goes on, with a named warning."""
    status = main(["uptake", "--ia", str(patient / "ia_day0" / "pet"), "--iv", str(patient / "iv_day3" / "pet"),
                   "--ia-seg", str(patient / "segmentations" / "ia_day0.seg.nrrd"),
                   "--iv-seg", str(patient / "segmentations" / "ia_day0.seg.nrrd"), "-o", str(tmp_path / "out")])
    assert status == RUN_OK
    result = json.loads((tmp_path / "out" / "uptake.json").read_text())
    placement = [w for w in result["warnings"] if "off the uptake they should hold" in w]
    assert len(placement) == 1 and placement[0].startswith("iv: ") and "ia_day0.seg.nrrd" in placement[0]
    offsets = result["scan_checks"]["voi_offsets_mm"]
    assert max(offsets["ia"].values()) < 3.0  # each scan's own VOIs: within half a voxel or so
    assert sorted(offsets["iv"].values())[len(offsets["iv"]) // 2] > 5.0


def test_the_pet_ct_segmentation_on_the_spect_is_named(patient, tmp_path):
    status = _dosimetry(patient, [patient / "spect" / "tp1" / "nm" / "spect.dcm"], tmp_path,
                        seg=patient / "segmentations" / "iv_day3.seg.nrrd")
    assert status == RUN_OK
    warnings = json.loads((tmp_path / "out" / "dosimetry.json").read_text())["warnings"]
    assert [w for w in warnings if "iv_day3.seg.nrrd sit a median" in w and "reference SPECT" in w]


def test_a_spect_duration_of_one_view(patient, tmp_path, capsys):
    """20 s (one view) given as the whole acquisition multiplies every activity by 60."""
    _assert_refused(_dosimetry(patient, [patient / "spect" / "tp1" / "nm" / "spect.dcm"], tmp_path,
                               "--acquisition-duration-s", "20"), capsys, tmp_path,
                    "--acquisition-duration-s", "SPECT acquisition duration 20 s", "--accept frame-duration")
