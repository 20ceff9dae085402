"""Biologically effective dose (BED) for a time-varying dose rate (kidneys), docs/physics.md section 7.

Mono-exponential dose rate with effective half-life T_eff (Dale's formula for an instantaneous
uptake):

    BED = D + D^2 T_rep / ((T_rep + T_eff) (alpha/beta))

General case (Dale), R the dose rate, mu = ln 2 / T_rep:

    BED = D + (2 / (alpha/beta)) Int_0^inf R(t) Int_0^t R(w) e^(-mu (t - w)) dw dt

For a dose rate that is a sum of exponentials R(t) = sum_i c_i e^(-a_i t) the double integral
is exact: sum_ij c_i c_j / ((a_i + a_j)(a_i + mu)) (:func:`dale_integral_exponentials`); for any
other curve (trapezoid) it is integrated numerically on a fine uniform grid with the inner
integral as an FFT convolution (:func:`dale_integral_numeric`).

Kidney parameters: alpha/beta = 2.6 Gy, T_rep = 2.8 h (Bodei et al., EJNMMI 2008;35:1847).
"""

from __future__ import annotations

import math

import numpy as np

#: Kidney alpha/beta (Gy) and repair half-time (h), Bodei et al. EJNMMI 2008;35:1847.
KIDNEY_ALPHA_BETA_GY = 2.6
KIDNEY_REPAIR_HALF_TIME_H = 2.8


def bed_mono_exponential_gy(dose_gy: float, effective_half_life_h: float, alpha_beta_gy: float = KIDNEY_ALPHA_BETA_GY,
                            repair_half_time_h: float = KIDNEY_REPAIR_HALF_TIME_H) -> float:
    """Dale's mono-exponential BED (instantaneous uptake, then decay with ``effective_half_life_h``)."""
    return dose_gy + dose_gy ** 2 * repair_half_time_h / ((repair_half_time_h + effective_half_life_h) * alpha_beta_gy)


def dale_integral_exponentials(amplitudes, rates_per_h, repair_half_time_h: float = KIDNEY_REPAIR_HALF_TIME_H) -> float:
    """Int_0^inf R(t) Int_0^t R(w) e^(-mu (t-w)) dw dt for R = sum c_i e^(-a_i t) (Gy^2), exact."""
    c = np.asarray(amplitudes, dtype=float)
    a = np.asarray(rates_per_h, dtype=float)
    mu = math.log(2.0) / repair_half_time_h
    return float(np.sum(np.outer(c, c) / ((a[:, None] + a[None, :]) * (a[:, None] + mu))))


def dale_integral_numeric(dose_rate, t_end_h: float, step_h: float = 0.01,
                          repair_half_time_h: float = KIDNEY_REPAIR_HALF_TIME_H) -> float:
    """The same double integral for any dose-rate function ``dose_rate(t_h) -> Gy/h`` (numeric)."""
    from scipy.signal import fftconvolve

    mu = math.log(2.0) / repair_half_time_h
    n = int(math.ceil(t_end_h / step_h)) + 1
    t = np.arange(n) * step_h
    r = np.asarray(dose_rate(t), dtype=float)
    # Inner integral G(t) = Int_0^t R(w) e^(-mu (t-w)) dw: discrete convolution with trapezoid end weights.
    kernel = np.exp(-mu * t)
    g = fftconvolve(r, kernel)[:n] * step_h - 0.5 * step_h * (r[0] * kernel + r)
    g[0] = 0.0
    return float(np.trapezoid(r * g, t) if hasattr(np, "trapezoid") else np.trapz(r * g, t))


def bed_from_integral_gy(dose_gy: float, dale_integral_gy2: float, alpha_beta_gy: float = KIDNEY_ALPHA_BETA_GY) -> float:
    return dose_gy + 2.0 / alpha_beta_gy * dale_integral_gy2


def exponential_terms(fit) -> tuple[list[float], list[float]] | None:
    """Amplitudes (MBq) and rates (1/h) of a kinetics fit written as a sum of exponentials, or None."""
    p = fit.parameters
    if fit.model == "mono-exp":
        return [p["a0_mbq"]], [p["lambda_per_h"]]
    if fit.model == "bi-exp-uptake":
        return [p["a_mbq"], -p["a_mbq"]], [p["lambda_washout_per_h"], p["lambda_uptake_per_h"]]
    if fit.model == "bi-exp":
        return [p["a1_mbq"], p["a2_mbq"]], [p["lambda1_per_h"], p["lambda2_per_h"]]
    if fit.model == "tri-exp":
        return ([p["a1_mbq"], p["a2_mbq"], -(p["a1_mbq"] + p["a2_mbq"])],
                [p["lambda1_per_h"], p["lambda2_per_h"], p["lambda_uptake_per_h"]])
    if fit.model == "hanscheid-stp":
        rate = math.log(2.0) / p["time_h"]
        return [p["activity_mbq"] * math.exp(rate * p["time_h"])], [rate]
    return None


def effective_half_life_h(fit) -> float | None:
    """Half-life of the slowest exponential term (the mono-exponential one when the model is mono-exp)."""
    terms = exponential_terms(fit)
    if terms is None:
        return None
    return math.log(2.0) / min(terms[1])


def kidney_bed(dose_gy: float, fit, alpha_beta_gy: float = KIDNEY_ALPHA_BETA_GY,
               repair_half_time_h: float = KIDNEY_REPAIR_HALF_TIME_H) -> dict:
    """BED of a VOI whose dose rate follows its activity curve ``fit`` (R = D x A(t) / TIA).

    Returns the general (Dale integral) BED, the mono-exponential formula's BED with the slowest
    effective half-life, and how each was computed.
    """
    from .lu177 import DECAY_CONSTANT_PER_H

    result = {"alpha_beta_gy": alpha_beta_gy, "repair_half_time_h": repair_half_time_h}
    if not (dose_gy is not None and math.isfinite(dose_gy)) or fit is None or not fit.tia_mbqh > 0:
        result.update({"bed_gy": None, "bed_mono_exp_gy": None})
        return result
    scale = dose_gy / fit.tia_mbqh  # Gy per MBq h
    terms = exponential_terms(fit)
    if terms is not None:
        integral = dale_integral_exponentials(np.array(terms[0]) * scale, terms[1], repair_half_time_h)
        result["bed_method"] = "Dale integral, exact for the fitted sum of exponentials"
    else:
        t_last = float(fit.times_h[-1])
        t_end = t_last + 30.0 * math.log(2.0) / DECAY_CONSTANT_PER_H
        integral = dale_integral_numeric(lambda t: scale * fit.activity_mbq(t), t_end, 0.01, repair_half_time_h)
        result["bed_method"] = "Dale integral, numeric on the piecewise-linear curve and its physical-decay tail"
    result["bed_gy"] = bed_from_integral_gy(dose_gy, integral, alpha_beta_gy)
    half_life = effective_half_life_h(fit)
    if half_life is not None:
        result["bed_mono_exp_gy"] = bed_mono_exponential_gy(dose_gy, half_life, alpha_beta_gy, repair_half_time_h)
        result["effective_half_life_h"] = half_life
    else:
        result["bed_mono_exp_gy"] = None
    return result
