"""OpenDose organ S-values: the copied figures, mass scaling, cross-dose."""

from __future__ import annotations

import pytest

from iahepaticprrt.dosimetry.organ_s_values import GY_PER_MBQH_PER_MGY_PER_MBQ_S, organ_dose_gy, phantom_for, s_value
from iahepaticprrt.errors import InputError


def test_self_s_values_of_the_reference_readme():
    liver = s_value("ICRP_110_AM", "liver", "liver")
    spleen = s_value("ICRP_110_AM", "spleen", "spleen")
    assert liver.s_mgy_per_mbq_s == pytest.approx(1.3713e-5) and liver.target_mass_g == pytest.approx(1799.776)
    assert spleen.s_mgy_per_mbq_s == pytest.approx(1.5967e-4) and spleen.target_mass_g == pytest.approx(149.968)


def test_phantom_mass_gives_the_phantom_s_value_and_mass_scales_inversely():
    tia = 5000.0
    at_phantom = organ_dose_gy("ICRP_110_AM", "spleen", 149.968, {"spleen": tia})
    assert at_phantom["dose_gy"] == pytest.approx(tia * 1.5967e-4 * GY_PER_MBQH_PER_MGY_PER_MBQ_S)
    double = organ_dose_gy("ICRP_110_AM", "spleen", 2 * 149.968, {"spleen": tia})
    assert double["dose_gy"] == pytest.approx(at_phantom["dose_gy"] / 2.0)


def test_cross_dose_is_added_unscaled():
    tias = {"left_kidney": 2000.0, "liver": 30000.0}
    result = organ_dose_gy("ICRP_110_AM", "left_kidney", 152.983, tias)
    cross = 30000.0 * 4.7165e-8 * GY_PER_MBQH_PER_MGY_PER_MBQ_S  # Left kidney C+M+P <- liver (AM)
    assert result["cross_dose_gy"]["liver"] == pytest.approx(cross)
    assert result["dose_gy"] == pytest.approx(result["self_dose_gy"] + cross)


def test_both_kidneys_as_one_organ():
    result = organ_dose_gy("ICRP_110_AM", "kidneys", 309.994, {"kidneys": 4000.0})
    # Mean over the two source kidneys of S(both kidneys <- one kidney): about half the one-kidney self-S.
    expected_s = 0.5 * (7.7060e-5 + 7.7176e-5)
    assert result["self_s_mgy_per_mbq_s"] == pytest.approx(expected_s)


def test_female_phantom_and_refusal():
    assert phantom_for("F") == "ICRP_110_AF" and phantom_for("male") == "ICRP_110_AM"
    with pytest.raises(InputError):
        phantom_for("unknown")
