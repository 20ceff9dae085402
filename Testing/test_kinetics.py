"""Kinetic models: parameter recovery, TIA known answers, uncertainty coverage, auto choice, refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from iahepaticprrt.dosimetry import kinetics
from iahepaticprrt.dosimetry.lu177 import DECAY_CONSTANT_PER_H, HALF_LIFE_H
from iahepaticprrt.errors import InputError

LN2 = math.log(2.0)
TIMES = np.array([1.0, 4.0, 24.0, 48.0, 96.0, 168.0, 336.0])

# Written out independently of the module: value(t) and analytic TIA per model.
TRUTH = {
    "mono-exp": ({"a0_mbq": 1000.0, "lambda_per_h": 0.02},
                 lambda t, p: p["a0_mbq"] * np.exp(-p["lambda_per_h"] * t),
                 lambda p: p["a0_mbq"] / p["lambda_per_h"]),
    "bi-exp-uptake": ({"a_mbq": 800.0, "lambda_washout_per_h": 0.015, "lambda_uptake_per_h": 0.3},
                      lambda t, p: p["a_mbq"] * (np.exp(-p["lambda_washout_per_h"] * t) - np.exp(-p["lambda_uptake_per_h"] * t)),
                      lambda p: p["a_mbq"] * (1 / p["lambda_washout_per_h"] - 1 / p["lambda_uptake_per_h"])),
    "bi-exp": ({"a1_mbq": 600.0, "lambda1_per_h": 0.01, "a2_mbq": 400.0, "lambda2_per_h": 0.1},
               lambda t, p: p["a1_mbq"] * np.exp(-p["lambda1_per_h"] * t) + p["a2_mbq"] * np.exp(-p["lambda2_per_h"] * t),
               lambda p: p["a1_mbq"] / p["lambda1_per_h"] + p["a2_mbq"] / p["lambda2_per_h"]),
    "tri-exp": ({"a1_mbq": 500.0, "lambda1_per_h": 0.008, "a2_mbq": 400.0, "lambda2_per_h": 0.08,
                 "lambda_uptake_per_h": 0.7},
                lambda t, p: (p["a1_mbq"] * np.exp(-p["lambda1_per_h"] * t) + p["a2_mbq"] * np.exp(-p["lambda2_per_h"] * t)
                              - (p["a1_mbq"] + p["a2_mbq"]) * np.exp(-p["lambda_uptake_per_h"] * t)),
                lambda p: (p["a1_mbq"] / p["lambda1_per_h"] + p["a2_mbq"] / p["lambda2_per_h"]
                           - (p["a1_mbq"] + p["a2_mbq"]) / p["lambda_uptake_per_h"])),
}


@pytest.mark.parametrize("model", list(TRUTH))
def test_noise_free_parameters_recovered_within_half_a_percent(model):
    parameters, curve, tia = TRUTH[model]
    result = kinetics.fit_tac(model, TIMES, curve(TIMES, parameters))
    assert result.model == model
    for name, value in parameters.items():
        assert result.parameters[name] == pytest.approx(value, rel=0.005), name
    assert result.tia_mbqh == pytest.approx(tia(parameters), rel=0.005)
    # The fitted curve evaluates the same function.
    np.testing.assert_allclose(result.activity_mbq(TIMES), curve(TIMES, parameters), rtol=1e-6)


@pytest.mark.parametrize("model", list(TRUTH))
def test_auto_picks_the_generating_model_on_noise_free_curves(model):
    parameters, curve, _ = TRUTH[model]
    result = kinetics.fit_tac("auto", TIMES, curve(TIMES, parameters))
    assert result.model == model


def test_trapezoid_known_answer():
    t = np.array([2.0, 24.0, 72.0])
    a = np.array([100.0, 80.0, 40.0])
    # From A=0 at t=0: 0.5*2*100 + 0.5*22*(100+80) + 0.5*48*(80+40) + 40/lambda_phys
    expected = 100.0 + 1980.0 + 2880.0 + 40.0 / (LN2 / HALF_LIFE_H)
    result = kinetics.fit_tac("trapezoid", t, a)
    assert result.tia_mbqh == pytest.approx(expected, rel=1e-12)
    constant = kinetics.fit_tac("trapezoid", t, a, trapezoid_start="constant")
    assert constant.tia_mbqh == pytest.approx(expected + 100.0, rel=1e-12)  # 2 h x 100 instead of 0.5 x 2 x 100
    u = np.array([5.0, 4.0, 2.0])
    with_u = kinetics.fit_tac("trapezoid", t, a, u)
    weights = np.array([1.0 + 11.0, 11.0 + 24.0, 24.0 + 1.0 / (LN2 / HALF_LIFE_H)])
    assert with_u.tia_fit_uncertainty_mbqh == pytest.approx(math.sqrt(np.sum((weights * u) ** 2)), rel=1e-12)


def test_hanscheid_is_exact_when_the_effective_half_life_equals_the_time_point():
    t_eff = 80.0
    a0 = 500.0
    activity = a0 * math.exp(-LN2 / t_eff * t_eff)
    result = kinetics.fit_tac("hanscheid-stp", [t_eff], [activity])
    assert result.tia_mbqh == pytest.approx(a0 * t_eff / LN2, rel=1e-12)  # mono-exponential TIA
    assert result.tia_mbqh == pytest.approx(activity * 2 * t_eff / LN2, rel=1e-12)
    assert result.tia_fit_uncertainty_mbqh > 0  # the model uncertainty is reported
    assert kinetics.fit_tac("auto", [t_eff], [activity]).model == "hanscheid-stp"


def test_physical_decay_is_the_slowest_rate():
    lam = DECAY_CONSTANT_PER_H * 0.5  # data decaying slower than 177Lu itself: continued uptake
    t = np.array([24.0, 72.0, 120.0, 168.0])
    a = 100.0 * np.exp(-lam * t)
    clamped = kinetics.fit_tac("mono-exp", t, a)
    assert clamped.parameters["lambda_per_h"] == pytest.approx(DECAY_CONSTANT_PER_H, rel=1e-9)
    assert clamped.clamped and any("still gaining activity" in w for w in clamped.warnings)
    free = kinetics.fit_tac("mono-exp", t, a, clamp=False)
    assert free.parameters["lambda_per_h"] == pytest.approx(lam, rel=1e-6)
    assert free.tia_mbqh > clamped.tia_mbqh


def test_auto_takes_mono_exp_with_three_points():
    parameters, curve, tia = TRUTH["bi-exp-uptake"]
    t = np.array([24.0, 96.0, 168.0])
    result = kinetics.fit_tac("auto", t, curve(t, parameters))
    assert result.model == "mono-exp"  # the only model with a degree of freedom
    assert math.isfinite(result.tia_mbqh) and result.tia_mbqh > 0
    assert result.tia_mbqh == pytest.approx(tia(parameters), rel=0.1)
    # Why auto chose the model is recorded as information, not as a warning to the reader.
    assert result.selection.startswith("auto:") and "model_selection" in result.to_dict()
    assert not any(w.startswith("auto:") for w in result.warnings)


def test_auto_can_choose_a_three_parameter_model_at_four_points():
    # Four points of an uptake-washout curve (uptake half-life 2.3 h, the first point at 4 h below the
    # mono-exponential trend): AICc cannot rank bi-exp-uptake (n = k + 1); the F-test of the nested pair
    # (docs/physics.md section 5.6) finds it significantly better and auto takes it.
    parameters, curve, tia = TRUTH["bi-exp-uptake"]
    t = np.array([4.0, 24.0, 96.0, 168.0])
    result = kinetics.fit_tac("auto", t, curve(t, parameters))
    assert result.model == "bi-exp-uptake"
    assert "F-test bi-exp-uptake against mono-exp" in result.selection and "significantly better" in result.selection
    assert result.tia_mbqh == pytest.approx(tia(parameters), rel=0.005)
    for name, value in parameters.items():
        assert result.parameters[name] == pytest.approx(value, rel=0.005), name
    assert not any(w.startswith("auto:") for w in result.warnings)


def test_auto_f_test_rarely_prefers_bi_exp_uptake_on_mono_exponential_data():
    # 300 noisy mono-exponential curves at 4 points: the F-test at 5 % may pick the richer model in about
    # 5 % of them at most (fewer, since a fit whose uptake rate ends at its bound is not tested).
    parameters, curve, _ = TRUTH["mono-exp"]
    t = np.array([4.0, 24.0, 96.0, 168.0])
    rng = np.random.default_rng(3)
    clean = curve(t, parameters)
    chosen = [kinetics.fit_tac("auto", t, clean * (1.0 + 0.05 * rng.standard_normal(t.size))).model
              for _ in range(300)]
    fraction = chosen.count("bi-exp-uptake") / len(chosen)
    print(f"auto on mono-exp data, 4 points, 5 % noise: bi-exp-uptake chosen in {100 * fraction:.1f} %")
    assert fraction <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 300)


def _coverage(model, times, seed, draws=500):
    parameters, curve, tia = TRUTH[model]
    truth = tia(parameters)
    clean = curve(times, parameters)
    rng = np.random.default_rng(seed)
    covered = 0
    for _ in range(draws):
        noisy = clean * (1.0 + 0.05 * rng.standard_normal(clean.size))
        result = kinetics.fit_tac(model, times, noisy, 0.05 * noisy)  # the user states 5 % per point
        covered += abs(result.tia_mbqh - truth) <= result.tia_fit_uncertainty_mbqh
    return covered / draws


def test_uncertainty_covers_the_true_tia_about_68_percent_mono_exp():
    fraction = _coverage("mono-exp", np.array([4.0, 24.0, 96.0, 168.0]), seed=7)
    print(f"mono-exp, 4 points, 5 % noise: coverage {fraction:.3f}")
    assert 0.62 <= fraction <= 0.74  # 68 % +- 3 binomial standard errors of 500 draws


def test_uncertainty_covers_the_true_tia_about_68_percent_bi_exp_uptake():
    fraction = _coverage("bi-exp-uptake", np.array([1.0, 4.0, 24.0, 48.0, 96.0, 168.0]), seed=11)
    print(f"bi-exp-uptake, 6 points, 5 % noise: coverage {fraction:.3f}")
    assert 0.62 <= fraction <= 0.74


def test_uncertainty_from_residuals_without_stated_point_uncertainties():
    parameters, curve, _ = TRUTH["mono-exp"]
    t = np.array([4.0, 24.0, 48.0, 96.0, 168.0])
    noisy = curve(t, parameters) * np.array([1.03, 0.98, 1.01, 0.97, 1.02])
    result = kinetics.fit_tac("mono-exp", t, noisy)
    assert result.tia_fit_uncertainty_mbqh > 0 and "residuals" in result.uncertainty_source
    exact = kinetics.fit_tac("mono-exp", t[:2], noisy[:2])  # no degree of freedom, no stated uncertainty
    assert exact.tia_fit_uncertainty_mbqh is None and any("unknown" in w for w in exact.warnings)


def test_combined_uncertainty_adds_calibration_in_quadrature():
    total, parts = kinetics.combine_uncertainty(1000.0, 30.0, calibration_relative=0.04, recovery_relative=0.0)
    assert total == pytest.approx(50.0) and parts["calibration_mbqh"] == pytest.approx(40.0)
    total, _ = kinetics.combine_uncertainty(1000.0, None, 0.0)
    assert total is None


@pytest.mark.parametrize("times,activities,message", [
    ([24.0, 4.0, 96.0], [10.0, 12.0, 5.0], "strictly increasing"),
    ([-2.0, 24.0, 96.0], [10.0, 12.0, 5.0], "before the administration"),
    ([4.0, 24.0, 96.0], [10.0, float("nan"), 5.0], "non-finite"),
    ([4.0, 24.0, 96.0], [10.0, -1.0, 5.0], "negative activity"),
])
def test_bad_curves_are_refused(times, activities, message):
    with pytest.raises(InputError, match=message):
        kinetics.fit_tac("mono-exp", times, activities, voi="Lesion 1")


@pytest.mark.parametrize("model,n", [("bi-exp-uptake", 2), ("bi-exp", 3), ("tri-exp", 4), ("mono-exp", 1)])
def test_too_few_points_for_the_model(model, n):
    t = np.array([4.0, 24.0, 96.0, 168.0])[:n]
    with pytest.raises(InputError, match="needs at least"):
        kinetics.fit_tac(model, t, 100.0 * np.exp(-0.01 * t), voi="Left kidney")


def test_zero_activity_is_refused_by_the_fit():
    with pytest.raises(InputError, match="zero activity"):
        kinetics.fit_tac("mono-exp", [4.0, 24.0, 96.0], [0.0, 0.0, 0.0], voi="Spleen")


def test_snmmi_challenge_patient_4_left_kidney_fits():
    # docs/physics.md section 9: left kidney activities of patient 4 of the SNMMI 177Lu dosimetry challenge.
    t = np.array([3.741, 27.725, 103.094, 123.984])
    a = np.array([98.56, 73.60, 25.40, 19.05])
    result = kinetics.fit_tac("mono-exp", t, a)
    # A straight line through ln A: the rate and TIA of the least-squares fit (relative weights).
    slope, intercept = np.polyfit(t, np.log(a), 1)
    assert result.parameters["lambda_per_h"] == pytest.approx(-slope, rel=0.05)
    assert result.tia_mbqh == pytest.approx(math.exp(intercept) / -slope, rel=0.05)
    trapezoid = kinetics.fit_tac("trapezoid", t, a)
    assert trapezoid.tia_mbqh > result.tia_mbqh  # physical-decay tail: an upper bound


def _global_bi_exp_uptake_optimum(t, a):
    """Independent reference: the weighted least-squares optimum of A (e^-l1 t - e^-l2 t) with relative
    weights, by brute force over a fine grid of rate pairs (best A in closed form for each pair), then
    polished by Nelder-Mead from the best grid point. No code of the module under test."""
    from scipy.optimize import minimize

    sigma = a
    def residual(l1, l2):
        b = (np.exp(-l1 * t) - np.exp(-l2 * t)) / sigma
        amplitude = float(b @ (a / sigma) / (b @ b))
        return float(np.sum((amplitude * b - a / sigma) ** 2)), amplitude

    best = (math.inf, None, None)
    for l1 in np.geomspace(1e-3, 0.1, 300):
        for l2 in np.geomspace(l1 * 1.01, 100.0, 400):
            value, _ = residual(l1, l2)
            if value < best[0]:
                best = (value, l1, l2)
    polished = minimize(lambda x: residual(math.exp(x[0]), math.exp(x[1]))[0], np.log(best[1:]),
                        method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-16, "maxiter": 20000})
    l1, l2 = np.exp(polished.x)
    value, amplitude = residual(l1, l2)
    return value, amplitude, l1, l2


def test_snmmi_kidney_bi_exp_uptake_reaches_the_global_optimum():
    # docs/physics.md section 9 (SNMMI challenge patient 4, left kidney). A single start used to end in a
    # local minimum (uptake rate 3.6e6 /h, weighted residual 40 x the best) without a warning.
    t = np.array([3.741, 27.725, 103.094, 123.984])
    a = np.array([98.56, 73.60, 25.40, 19.05])
    wrss, amplitude, l1, l2 = _global_bi_exp_uptake_optimum(t, a)
    print(f"reference optimum: A {amplitude:.4f} MBq, l1 {l1:.6f} /h, l2 {l2:.5f} /h, WRSS {wrss:.4e}")
    result = kinetics.fit_tac("bi-exp-uptake", t, a)
    assert result.weighted_rss <= wrss * 1.001
    assert result.parameters["a_mbq"] == pytest.approx(amplitude, rel=0.005)
    assert result.parameters["lambda_washout_per_h"] == pytest.approx(l1, rel=0.005)
    assert result.parameters["lambda_uptake_per_h"] == pytest.approx(l2, rel=0.005)
    assert result.tia_mbqh == pytest.approx(amplitude * (1.0 / l1 - 1.0 / l2), rel=0.005)
    assert result.starts > 1 and not result.bound_parameters
    assert not any("not determined" in w or "another start" in w for w in result.warnings)


def test_an_undetermined_uptake_rate_is_a_warning():
    # Mono-exponential data fitted with an uptake model: the best fit is an instantaneous uptake (the
    # uptake term vanished before the first point, or its rate at the upper bound): the uptake rate is
    # not determined, and the output says so.
    t = np.array([4.0, 24.0, 96.0, 168.0])
    a = 1000.0 * np.exp(-0.02 * t)
    result = kinetics.fit_tac("bi-exp-uptake", t, a)
    assert "lambda_uptake_per_h" in result.bound_parameters
    assert any("lambda_uptake_per_h not determined by the data" in w for w in result.warnings)
    # Reported at the limit, the uptake rate at its upper bound 10 x 20 / (first time, 4 h) = 50 /h
    # TIA = A (1/l1 - 1/l2) within 0.1 % of the mono-exponential 1000 / 0.02, whatever the optimiser's stop.
    assert result.parameters["lambda_uptake_per_h"] == pytest.approx(10 * 20.0 / 4.0, rel=1e-9)
    assert result.tia_mbqh == pytest.approx(1000.0 / 0.02, rel=1e-3)
    auto = kinetics.fit_tac("auto", t, a)
    assert auto.model == "mono-exp" and "not tested" in auto.selection


def test_equally_good_optima_with_different_tia_are_flagged():
    # The rule itself: a start within 1 % of the best residual whose TIA differs by more than 2 %.
    assert kinetics._rival_optimum([(1.0, 100.0), (1.005, 110.0)], 1.0, 100.0, 4) == (1.005, 110.0)
    assert kinetics._rival_optimum([(1.0, 100.0), (1.05, 110.0)], 1.0, 100.0, 4) is None   # clearly worse
    assert kinetics._rival_optimum([(1.0, 100.0), (1.0, 101.0)], 1.0, 100.0, 4) is None    # same TIA
