"""Vendor private SUV fields cross-checked against the QIBA computation (issue 12, docs/physics.md
section 2.13), on the IBSI DRO_0_0 (BQML, CC BY 4.0) with private elements added.

DRO_0_0's header: PatientWeight 70 kg, RadionuclideTotalDose 368080000 Bq injected at 10:00:00,
half-life 6586.2 s, DecayCorrection START, SeriesTime 11:00:00, so the QIBA SUVbw factor is
70000 g / (368080000 Bq x 2^(-3600 / 6586.2)) = 2.777778e-4 g/mL per Bq/mL (the DRO's design: 1/3600).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest

from iahepaticprrt.uptake.suv import suv_from_folder

DRO_0_0 = Path(__file__).parent / "Data" / "ibsi-suv-dro" / "DRO_0_0" / "PT"
QIBA_FACTOR = 70000.0 / (368080000.0 * 2.0 ** (-3600.0 / 6586.2))  # g/mL per Bq/mL, from the header above


def _with_private(tmp_path, elements: dict) -> Path:
    folder = tmp_path / "pt"
    shutil.copytree(DRO_0_0, folder)
    for path in folder.iterdir():
        ds = pydicom.dcmread(path)
        for tag, (vr, value) in elements.items():
            ds.add_new(tag, vr, value)
        ds.save_as(path)
    return folder


def test_qiba_factor_of_the_dro_is_the_hand_computed_one():
    assert suv_from_folder(DRO_0_0).info["suv_factor"] == pytest.approx(QIBA_FACTOR, rel=1e-6)
    assert QIBA_FACTOR == pytest.approx(1 / 3600, rel=1e-4)


def test_philips_suv_factor_28_percent_off_bqml_is_a_named_warning(tmp_path):
    folder = _with_private(tmp_path, {(0x7053, 0x0010): ("LO", "Philips PET Private Group"),
                                      (0x7053, 0x1000): ("DS", f"{QIBA_FACTOR * 1.28:.8g}")})
    result = suv_from_folder(folder)
    # The SUV is the QIBA one; the vendor's factor is reported and warned about.
    assert result.info["suv_factor"] == pytest.approx(QIBA_FACTOR, rel=1e-6)
    check = result.info["vendor_cross_checks"][0]
    assert check["difference_percent"] == pytest.approx(28.0, abs=1e-3)
    assert check["qiba_factor"] == pytest.approx(QIBA_FACTOR, rel=1e-6)
    warning = next(w for w in result.warnings if "(7053,1000)" in w)
    assert "+28.0 %" in warning and "QIBA value is used" in warning


def test_philips_suv_factor_within_5_percent_is_recorded_without_warning(tmp_path):
    folder = _with_private(tmp_path, {(0x7053, 0x0010): ("LO", "Philips PET Private Group"),
                                      (0x7053, 0x1000): ("DS", f"{QIBA_FACTOR * 1.04:.8g}")})
    result = suv_from_folder(folder)
    assert result.info["vendor_cross_checks"][0]["difference_percent"] == pytest.approx(4.0, abs=1e-3)
    assert not any("(7053,1000)" in w for w in result.warnings)


def test_philips_factor_of_another_creator_is_not_compared(tmp_path):
    folder = _with_private(tmp_path, {(0x7053, 0x0010): ("LO", "SOMEONE ELSE"),
                                      (0x7053, 0x1000): ("DS", f"{QIBA_FACTOR * 1.28:.8g}")})
    result = suv_from_folder(folder)
    assert result.info["vendor_cross_checks"] == []
    assert not any("disagrees" in w for w in result.warnings)


def test_siemens_decay_reference_15_minutes_late_is_warned(tmp_path):
    """(0071,1022) at 11:15:00 against the reference 11:00:00 used: the dose decayed 900 s more,
    2^(-900 / 6586.2) - 1 = -9.03 % (hand computation)."""
    folder = _with_private(tmp_path, {(0x0071, 0x0010): ("LO", "SIEMENS MED PT"),
                                      (0x0071, 0x1022): ("DT", "20250101111500.000000")})
    result = suv_from_folder(folder)
    check = result.info["vendor_cross_checks"][0]
    assert check["difference_s"] == 900.0
    assert check["difference_percent"] == pytest.approx(100 * (2 ** (-900 / 6586.2) - 1), abs=1e-6)
    assert check["difference_percent"] == pytest.approx(-9.03, abs=0.01)
    assert any("(0071,1022)" in w and "-9.0 %" in w for w in result.warnings)


def test_siemens_decay_reference_equal_to_series_time_is_silent(tmp_path):
    folder = _with_private(tmp_path, {(0x0071, 0x0010): ("LO", "SIEMENS MED PT"),
                                      (0x0071, 0x1022): ("DT", "20250101110000.000000")})
    result = suv_from_folder(folder)
    assert result.info["vendor_cross_checks"][0]["difference_percent"] == 0.0
    assert not any("(0071,1022)" in w for w in result.warnings)
