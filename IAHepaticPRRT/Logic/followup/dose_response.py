"""Dose-response of lesions: absorbed dose against volume change (Spearman), a logistic model of
response against dose with the dose for 50 % response (D50) and its profile-likelihood interval,
and the ROC AUC of the dose for response (Mann-Whitney U / (n1 n0)). docs/physics.md section 32.

Every statistic comes from scipy (scipy.stats, scipy.optimize); lesions are treated as
independent observations (see section 32 on lesions of one patient).
"""

from __future__ import annotations

import math

import numpy as np

#: Minimum number of lesions for any statistic; minimum of each class for the logistic fit and AUC.
MIN_LESIONS = 3
MIN_PER_CLASS = 1
#: Profile-likelihood search for the D50 interval stops at this multiple of the dose range beyond
#: the data (the interval is then reported open on that side).
PROFILE_REACH = 10.0


def _clean(doses, *others):
    rows = [values for values in zip(doses, *others)
            if all(v is not None and not (isinstance(v, float) and not math.isfinite(v)) for v in values)]
    return [np.asarray(column, dtype=float) for column in zip(*rows)] if rows else [np.zeros(0) for _ in
                                                                                    range(1 + len(others))]


def spearman(doses_gy, volume_changes_percent) -> dict:
    """Spearman rank correlation of dose and volume change (two-sided p-value, scipy.stats.spearmanr)."""
    from scipy import stats

    dose, change = _clean(doses_gy, volume_changes_percent)
    out = {"n": int(dose.size), "rho": None, "p_value": None}
    if dose.size < MIN_LESIONS or np.ptp(dose) == 0 or np.ptp(change) == 0:
        out["note"] = f"needs at least {MIN_LESIONS} lesions with different doses and volume changes"
        return out
    test = stats.spearmanr(dose, change)
    out.update(rho=float(test.statistic), p_value=float(test.pvalue))
    return out


def roc_auc(doses_gy, responded) -> dict:
    """Area under the ROC curve of the dose for response: U / (n1 n0), U the Mann-Whitney statistic
    of the responders' doses (scipy.stats.mannwhitneyu; ties count one half), with the two-sided
    p-value and the Hanley-McNeil (1982) 95 % interval."""
    from scipy import stats

    dose, outcome = _clean(doses_gy, responded)
    outcome = outcome.astype(bool)
    n1, n0 = int(outcome.sum()), int((~outcome).sum())
    out = {"n_responders": n1, "n_non_responders": n0, "auc": None, "ci_low": None, "ci_high": None,
           "p_value": None, "method": "Mann-Whitney U / (n1 n0); interval Hanley and McNeil 1982"}
    if n1 < MIN_PER_CLASS or n0 < MIN_PER_CLASS:
        out["note"] = "needs responders and non-responders"
        return out
    test = stats.mannwhitneyu(dose[outcome], dose[~outcome], alternative="two-sided")
    auc = float(test.statistic) / (n1 * n0)
    q1, q2 = auc / (2.0 - auc), 2.0 * auc * auc / (1.0 + auc)
    se = math.sqrt(max(auc * (1 - auc) + (n1 - 1) * (q1 - auc * auc) + (n0 - 1) * (q2 - auc * auc), 0.0) / (n1 * n0))
    z = float(stats.norm.ppf(0.975))
    out.update(auc=auc, ci_low=max(0.0, auc - z * se), ci_high=min(1.0, auc + z * se), p_value=float(test.pvalue))
    return out


def _log_likelihood(slope: float, d50: float, dose: np.ndarray, outcome: np.ndarray) -> float:
    """Bernoulli log-likelihood of logit p = slope (dose - d50)."""
    eta = slope * (dose - d50)
    # log p = -log(1 + e^-eta), log (1 - p) = -log(1 + e^eta), computed stably
    return float(-np.sum(np.where(outcome, np.logaddexp(0.0, -eta), np.logaddexp(0.0, eta))))


def logistic_fit(doses_gy, responded, confidence: float = 0.95) -> dict:
    """Maximum-likelihood logistic model P(response) = 1 / (1 + exp(-(b0 + b1 dose))) (scipy.optimize),
    D50 = -b0 / b1, and the profile-likelihood interval of D50: the D50 values whose profile
    deviance 2 (l_max - l_profile(D50)) stays below the chi-square(1) quantile (3.84 for 95 %).

    Not estimated (with the reason) without responders and non-responders, when the doses separate
    them completely (no finite maximum: the interval of D50 values between the highest dose without
    response and the lowest with response is reported), or when response does not rise with dose."""
    from scipy import optimize, stats

    dose, outcome = _clean(doses_gy, responded)
    outcome = outcome.astype(bool)
    n1, n0 = int(outcome.sum()), int((~outcome).sum())
    out = {"n": int(dose.size), "n_responders": n1, "n_non_responders": n0, "d50_gy": None, "d50_ci_gy": [None, None],
           "slope_per_gy": None, "intercept": None, "gamma50": None, "likelihood_ratio_p_value": None,
           "confidence": confidence, "estimable": False,
           "model": "logit P(response) = intercept + slope_per_gy x dose; D50 = -intercept / slope_per_gy",
           "interval": "profile likelihood (chi-square with 1 degree of freedom)"}
    if n1 < MIN_PER_CLASS or n0 < MIN_PER_CLASS or dose.size < MIN_LESIONS:
        out["note"] = "needs responders and non-responders (and at least 3 lesions)"
        return out
    highest_without, lowest_with = float(dose[~outcome].max()), float(dose[outcome].min())
    if highest_without < lowest_with:
        out["note"] = ("complete separation: every lesion above a dose responded and none below it; no finite "
                       "maximum-likelihood fit. D50 lies between the highest dose without response and the lowest "
                       "with response")
        out["separation_interval_gy"] = [highest_without, lowest_with]
        return out
    scale = float(np.std(dose)) or 1.0
    centre = float(np.mean(dose))

    def negative(params):
        b0, b1 = params
        eta = b0 + b1 * (dose - centre) / scale
        return float(np.sum(np.where(outcome, np.logaddexp(0.0, -eta), np.logaddexp(0.0, eta))))

    fit = optimize.minimize(negative, x0=[0.0, 0.0], method="BFGS")
    b0s, b1s = fit.x
    slope = b1s / scale
    intercept = b0s - b1s * centre / scale
    l_max = -float(fit.fun)
    p_null = n1 / (n1 + n0)
    l_null = n1 * math.log(p_null) + n0 * math.log(1.0 - p_null)
    out.update(slope_per_gy=float(slope), intercept=float(intercept),
               likelihood_ratio_p_value=float(stats.chi2.sf(max(2.0 * (l_max - l_null), 0.0), 1)))
    if not fit.success and not np.isfinite(fit.fun):
        out["note"] = f"the fit did not converge ({fit.message})"
        return out
    if slope <= 0:
        out["note"] = "response does not increase with dose in these data: no D50"
        return out
    d50 = -intercept / slope
    critical = float(stats.chi2.ppf(confidence, 1))

    def profile_deviance(value: float) -> float:
        best = optimize.minimize_scalar(lambda s: -_log_likelihood(s, value, dose, outcome),
                                        bounds=(1e-9, 100.0 * abs(slope) + 10.0 / scale), method="bounded",
                                        options={"xatol": 1e-10})
        return 2.0 * (l_max + float(best.fun)) - critical

    reach = PROFILE_REACH * (float(np.ptp(dose)) or scale)
    bounds = []
    for direction in (-1.0, 1.0):
        far = d50 + direction * reach
        if profile_deviance(far) < 0:
            bounds.append(None)
            continue
        bounds.append(float(optimize.brentq(profile_deviance, *sorted((d50, far)), xtol=1e-8)))
    out.update(d50_gy=float(d50), d50_ci_gy=bounds, gamma50=float(d50 * slope / 4.0), estimable=True)
    return out


def dose_response(doses_gy, volume_changes_percent, responded, confidence: float = 0.95) -> dict:
    """The three analyses on one set of lesions (rows with a missing value are left out of each)."""
    return {"spearman": spearman(doses_gy, volume_changes_percent),
            "logistic": logistic_fit(doses_gy, responded, confidence),
            "roc": roc_auc(doses_gy, responded)}
