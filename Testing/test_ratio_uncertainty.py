"""The enhancement-ratio uncertainty against analytic answers: noise statistics of known fields, the
SIMEX extrapolation of an exact quadratic, the expected maximum of a flat plateau, and intervals of
noise-free data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from iahepaticprrt.imaging.grid import Grid
from iahepaticprrt.uptake import ratio_uncertainty as ru
from iahepaticprrt.uptake.voi_statistics import VoiWeights

GRID = Grid((40, 40, 40), (4.0, 4.0, 4.0), (0.0, 0.0, 0.0))


def _region(name="reference", lo=5, hi=35):
    box = (slice(lo, hi), slice(lo, hi), slice(lo, hi))
    return VoiWeights(name, box, np.ones((hi - lo,) * 3, np.float32), 1.0, 0.0)


def test_filter_autocorrelation_follows_the_gaussian_law():
    # White noise filtered by a Gaussian of sigma s (voxels) has the autocorrelation exp(-d^2 / (4 s^2)) (the
    # filter's own autocorrelation is a Gaussian of sigma s sqrt 2); at s = 3, lag 1: exp(-1/36) = 0.97260.
    assert ru.lag1_autocorrelation_of_filter(3.0) == pytest.approx(0.97260, abs=2e-4)
    assert ru.lag1_autocorrelation_of_filter(0.0) == 0.0
    for rho in (0.2, 0.5, 0.8):
        assert ru.lag1_autocorrelation_of_filter(ru.filter_sigma_for_autocorrelation(rho)) == pytest.approx(rho, abs=1e-6)
    assert ru.filter_sigma_for_autocorrelation(-0.1) == 0.0


def test_noise_of_a_white_field_of_known_sd():
    rng = np.random.default_rng(7)
    field = 10.0 + 1.5 * rng.standard_normal(GRID.shape_kji)  # mean 10, SD 1.5, no correlation
    noise = ru.estimate_noise(field, GRID, _region(), "poisson")
    assert noise["voxels"] == 27000
    # SD of an SD estimate from 27000 values: 1.5 / sqrt(2 x 27000) = 0.0065: within 2 %.
    assert noise["suv_sd"] == pytest.approx(1.5, rel=0.02) and noise["suv_mean"] == pytest.approx(10.0, abs=0.05)
    # A lag-1 estimate from 26100 pairs has SD 1 / sqrt(26100) = 0.006: all three near 0; a chance excess over
    # the significance limit (2 SD) gives at most a filter far narrower than a voxel (4 mm).
    assert all(abs(r) < 0.03 for r in noise["lag1_autocorrelation_ijk"])
    assert max(noise["correlation_filter_sigma_mm_ijk"]) < 1.5
    # The model: variance proportional to the SUV, SD 1.5 at 10, so sqrt(40 x 1.5^2 / 10) = 3.0 at 40 (with
    # the measured mean and SD: SD x sqrt(40 / mean)); proportional: SD x 40 / mean = 6.0.
    assert ru.noise_sd(np.array([40.0]), noise)[0] == pytest.approx(3.0, rel=0.02)
    assert ru.noise_sd(np.array([40.0]), noise)[0] == pytest.approx(noise["suv_sd"] * math.sqrt(40 / noise["suv_mean"]))
    proportional = dict(noise, model="proportional")
    assert ru.noise_sd(np.array([40.0]), proportional)[0] == pytest.approx(6.0, rel=0.02)
    assert ru.noise_sd(np.array([0.0, -1.0]), noise).tolist() == [0.0, 0.0]


def test_noise_correlation_is_measured_and_reproduced():
    rng = np.random.default_rng(8)
    sigma = 1.5  # voxels along every axis: lag-1 autocorrelation exp(-1/9) = 0.895 (continuous law)
    field = 10.0 + ru.correlated_unit_noise(rng, (1,) + GRID.shape_kji, (sigma, sigma, sigma))[0]
    noise = ru.estimate_noise(field, GRID, _region(), "poisson")
    assert noise["suv_sd"] == pytest.approx(1.0, rel=0.1)  # unit variance after the filter
    expected = ru.lag1_autocorrelation_of_filter(sigma)
    assert expected == pytest.approx(math.exp(-1 / 9), abs=0.01)
    assert noise["lag1_autocorrelation_ijk"] == pytest.approx([expected] * 3, abs=0.03)
    assert noise["correlation_filter_sigma_mm_ijk"] == pytest.approx([sigma * 4.0] * 3, rel=0.1)


def test_simex_of_an_exact_quadratic():
    # Means on 10 + 2 lambda + 0.5 lambda^2: at lambda = -1 the quadratic gives 10 - 2 + 0.5 = 8.5.
    means = {lam: 10 + 2 * lam + 0.5 * lam ** 2 for lam in ru.SIMEX_LAMBDAS}
    assert ru.simex(10.0, means) == pytest.approx(8.5, abs=1e-9)
    assert ru.simex(7.0, {lam: 7.0 for lam in ru.SIMEX_LAMBDAS}) == 7.0


def _plateau(value=100.0):
    """A lesion of 5 x 5 x 4 = 100 voxels at ``value`` in a zero background (no blur)."""
    image = np.zeros(GRID.shape_kji)
    box = (slice(18, 22), slice(18, 23), slice(18, 23))
    image[box] = value
    return image, VoiWeights("Lesion 1", box, np.ones((4, 5, 5), np.float32), 0.1, 0.0)


def test_noise_free_lesion_has_no_bias_and_no_spread():
    image, voi = _plateau()
    noise = {"suv_mean": 8.0, "suv_sd": 0.0, "model": "poisson", "_sigma_voxels_kji": (0.0, 0.0, 0.0)}
    errors = ru.lesion_noise_errors(image, GRID, voi, noise, np.random.default_rng(1), replicates=20)
    for metric in ("suv_max", "suv_peak"):
        assert errors[metric]["noise_bias"] == 0.0 and errors[metric]["sd"] == 0.0
    assert errors["suv_max"]["observed"] == 100.0


def test_simex_on_a_flat_plateau_removes_the_expected_share_of_the_bias():
    # The maximum of M = 100 independent N(t, s^2) voxels is on average t + 2.50759 s (expected maximum of 100
    # standard normal values; Tippett 1925, Biometrika 17:364). With the extra noise lambda s^2 it is
    # t + 2.50759 s sqrt(1 + lambda) exactly, so the SIMEX quadratic in lambda through lambda = 0, 0.5, 1, 2, 3
    # gives on average t + 2.50759 s x sum_i w_i sqrt(1 + lambda_i), with the extrapolation weights w_i to
    # lambda = -1: (2.1045, 0.2985, -0.8731, -1.3134, 0.7836) -> 0.52751: t + 1.3228 s. Here t = 100, s = 2.
    lam = np.array([0.0] + list(ru.SIMEX_LAMBDAS))
    weights = np.array([1.0, -1.0, 1.0]) @ np.linalg.pinv(np.vander(lam, 3))
    assert weights == pytest.approx([2.1045, 0.2985, -0.8731, -1.3134, 0.7836], abs=1e-4)
    assert float(weights @ np.sqrt(1 + lam)) == pytest.approx(0.52751, abs=1e-5)
    noise = {"suv_mean": 100.0, "suv_sd": 2.0, "model": "proportional", "_sigma_voxels_kji": (0.0, 0.0, 0.0)}
    rng = np.random.default_rng(11)
    raw, corrected = [], []
    for _ in range(40):
        image, voi = _plateau()
        image[voi.box] += 2.0 * rng.standard_normal((4, 5, 5))
        errors = ru.lesion_noise_errors(image, GRID, voi, noise, rng, replicates=100, copies=0)
        raw.append(errors["suv_max"]["observed"])
        corrected.append(errors["suv_max"]["noise_free_estimate"])
    # Mean of 40: the raw maximum's SD is about 0.43 s (0.86), the estimate's about 1.5 (SE of the means 0.14, 0.24).
    assert np.mean(raw) == pytest.approx(100 + 2.50759 * 2.0, abs=0.45)
    assert np.mean(corrected) == pytest.approx(100 + 1.3228 * 2.0, abs=0.8)


def test_ratio_intervals_of_noise_free_lesions_are_points():
    def exact(value):
        return {m: {"observed": value, "noise_free_estimate": value, "noise_bias": 0.0, "sd": 0.0,
                    "_deviations": np.zeros(10)} for m in ("suv_max", "suv_peak")}

    errors = {"Lesion 1": {"ia": exact(40.0), "iv": exact(10.0)}, "Lesion 2": {"ia": exact(20.0), "iv": exact(10.0)}}
    per_lesion, means = ru.ratio_intervals(errors, ["Lesion 1", "Lesion 2"], 3.0, 0.95, np.random.default_rng(0))
    assert per_lesion["Lesion 1"]["suv_max"] == {"ratio": 4.0, "noise_corrected_ratio": 4.0, "ci_low": 4.0,
                                                 "ci_high": 4.0}
    mean = means["suv_peak"]
    assert (mean["mean_ratio"], mean["ci_low"], mean["ci_high"]) == (3.0, 3.0, 3.0)  # (4 + 2) / 2
    # The interval [3, 3] contains the threshold 3: borderline, and the mean reaches it in every sample.
    assert mean["borderline"] is True and mean["probability_at_least_threshold"] == 1.0
    _, above = ru.ratio_intervals(errors, ["Lesion 1"], 3.0, 0.95, np.random.default_rng(0))
    assert above["suv_max"]["borderline"] is False


def test_interval_of_a_noisy_ratio_matches_the_normal_approximation():
    # IA 40 +- 0.4 and IV 10 +- 0.1 (1 % each, normal): the ratio 4 has a relative SD of sqrt(2) % = 0.0566,
    # so its 95 % interval is about 4 +- 1.96 x 0.0566 = 3.889 .. 4.111.
    rng = np.random.default_rng(3)

    def normal(value, sd):
        deviations = sd * rng.standard_normal(20000)
        return {m: {"observed": value, "noise_free_estimate": value, "noise_bias": 0.0, "sd": sd,
                    "_deviations": deviations - deviations.mean()} for m in ("suv_max", "suv_peak")}

    errors = {"Lesion 1": {"ia": normal(40.0, 0.4), "iv": normal(10.0, 0.1)}}
    per_lesion, means = ru.ratio_intervals(errors, ["Lesion 1"], 4.05, 0.95, rng, samples=40000)
    interval = per_lesion["Lesion 1"]["suv_max"]
    assert interval["ci_low"] == pytest.approx(3.889, abs=0.01) and interval["ci_high"] == pytest.approx(4.111, abs=0.01)
    # P(ratio >= 4.05) = P(z >= 0.05 / 0.0566 = 0.884) = 0.188.
    assert means["suv_max"]["probability_at_least_threshold"] == pytest.approx(0.188, abs=0.01)
    assert means["suv_max"]["borderline"] is True
