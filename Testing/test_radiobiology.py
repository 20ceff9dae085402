"""BED: Dale's mono-exponential formula, the general integral (exact and numeric), limits and cycles."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from iahepaticprrt.dosimetry import kinetics, radiobiology
from iahepaticprrt.dosimetry.limits import compare_with_limits, read_previous_cycles
from iahepaticprrt.errors import InputError

MU = math.log(2.0) / 2.8


def test_general_integral_reduces_to_the_mono_exponential_formula():
    dose, t_eff = 20.0, 40.0
    lam = math.log(2.0) / t_eff
    integral = radiobiology.dale_integral_exponentials([dose * lam], [lam])
    bed = radiobiology.bed_from_integral_gy(dose, integral)
    assert bed == pytest.approx(radiobiology.bed_mono_exponential_gy(dose, t_eff), rel=1e-12)
    # Dale's numbers: D = 20 Gy, T_eff = 40 h, alpha/beta 2.6 Gy, T_rep 2.8 h.
    assert bed == pytest.approx(20.0 + 400.0 * 2.8 / (42.8 * 2.6), rel=1e-12)


def test_exact_integral_against_double_quadrature_for_uptake_kinetics():
    c, l1, l2 = 0.5, math.log(2.0) / 50.0, math.log(2.0) / 2.0
    rate = lambda t: c * (math.exp(-l1 * t) - math.exp(-l2 * t))  # noqa: E731
    exact = radiobiology.dale_integral_exponentials([c, -c], [l1, l2])
    reference, _ = integrate.dblquad(lambda w, t: rate(t) * rate(w) * math.exp(-MU * (t - w)), 0.0, 3000.0,
                                     0.0, lambda t: t, epsabs=1e-10, epsrel=1e-8)
    assert exact == pytest.approx(reference, rel=1e-5)
    numeric = radiobiology.dale_integral_numeric(lambda t: c * (np.exp(-l1 * t) - np.exp(-l2 * t)), 3000.0, 0.01)
    assert numeric == pytest.approx(reference, rel=1e-3)


def test_kidney_bed_from_fits():
    t = np.array([4.0, 24.0, 48.0, 96.0, 168.0])
    lam = math.log(2.0) / 45.0
    fit = kinetics.fit_tac("mono-exp", t, 100.0 * np.exp(-lam * t))
    result = radiobiology.kidney_bed(15.0, fit)
    assert result["bed_gy"] == pytest.approx(radiobiology.bed_mono_exponential_gy(15.0, 45.0), rel=1e-6)
    assert result["bed_mono_exp_gy"] == pytest.approx(result["bed_gy"], rel=1e-6)
    trapezoid = kinetics.fit_tac("trapezoid", t, 100.0 * np.exp(-lam * t))
    numeric = radiobiology.kidney_bed(15.0, trapezoid)
    assert "numeric" in numeric["bed_method"] and numeric["bed_gy"] > 15.0


def test_limits_add_previous_cycles(tmp_path):
    path = tmp_path / "cycles.csv"
    path.write_text("cycle,kidney_dose_gy,kidney_bed_gy,bone_marrow_dose_gy\n1,4.0,4.5,0.3\n2,4.2,,0.25\n")
    cycles = read_previous_cycles(path)
    limits, warnings = compare_with_limits(5.0, 5.6, 0.4, cycles, kidney_risk_factors=True,
                                           kidney_effective_half_life_h=50.0)
    kidney = limits["limits"]["kidney_dose_gy"]
    assert kidney["cumulative"] == pytest.approx(13.2) and kidney["limit"] == 23.0 and kidney["exceeded"] is False
    bed = limits["limits"]["kidney_bed_gy"]
    estimated = radiobiology.bed_mono_exponential_gy(4.2, 50.0)
    assert bed["cumulative"] == pytest.approx(5.6 + 4.5 + estimated) and bed["limit"] == 28.0
    assert any("estimated" in w for w in warnings)
    marrow = limits["limits"]["bone_marrow_dose_gy"]
    assert marrow["cumulative"] == pytest.approx(0.95) and marrow["limit"] == 2.0
    over, warnings = compare_with_limits(24.0, 30.0, 2.5)
    assert over["limits"]["kidney_dose_gy"]["exceeded"] and over["limits"]["bone_marrow_dose_gy"]["exceeded"]
    assert over["limits"]["kidney_bed_gy"]["limit"] == 40.0 and not over["limits"]["kidney_bed_gy"]["exceeded"]
    assert sum("exceeds" in w for w in warnings) == 2


def test_previous_cycles_json_and_refusal(tmp_path):
    good = tmp_path / "c.json"
    good.write_text('[{"cycle": 1, "kidney_dose_gy": 3.5}]')
    assert read_previous_cycles(good)[0]["kidney_dose_gy"] == 3.5
    bad = tmp_path / "bad.csv"
    bad.write_text("cycle,kidney_dose_gy\n1,lots\n")
    with pytest.raises(InputError, match="not a number"):
        read_previous_cycles(bad)
