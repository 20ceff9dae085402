"""Cohort statistics for the trial statistician, with the patient as the unit of analysis
(docs/physics.md section 25).

A patient's five lesions are not five independent observations: every test here takes one value
per patient (or resamples patients as clusters), and says so with its n.

- Wilcoxon signed-rank test (Wilcoxon 1945; scipy, exact p-values up to 50 values without ties or
  zeros) of one value per patient: the primary comparison tests the patients' mean log enhancement
  ratios against 0 (IA = IV); per VOI kind it compares each patient's mean IA and IV values.
- Hodges-Lehmann estimate (Hodges and Lehmann 1963): the median of the Walsh averages, with the
  exact distribution-free confidence interval from the signed-rank null distribution (Hollander,
  Wolfe and Chicken 2014, section 3.3); scipy has no Hodges-Lehmann estimator, so it is computed here.
- Cluster (patient) bootstrap interval of the mean of the patients' mean ratios: scipy's bootstrap
  (BCa; Efron and Tibshirani 1993) over patients.
- Eligible patients: count and proportion with the Clopper-Pearson exact interval (Clopper and
  Pearson 1934; scipy ``binomtest(...).proportion_ci(method="exact")``).
- Bland-Altman agreement of predicted and delivered doses on log doses (Bland and Altman 1986), with
  several lesions per patient: the variance of the differences as between- plus within-patient
  components from a one-way analysis of variance (Bland and Altman 2007, "true value varies").
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

#: Fixed seed of the bootstrap resampling (two runs give identical summaries).
BOOTSTRAP_SEED = 20240614
BOOTSTRAP_RESAMPLES = 9999
#: Normal quantile of 95 % limits of agreement (Bland and Altman 1986).
LIMITS_OF_AGREEMENT_Z = 1.96


def _finite(values) -> np.ndarray:
    return np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)


def mean_with_confidence_interval(values, confidence: float = 0.95) -> dict:
    """Mean and two-sided Student-t confidence interval of the mean (n >= 2), else the mean alone."""
    values = _finite(values)
    n = int(values.size)
    result = {"n": n, "mean": float(values.mean()) if n else None, "sd": None,
              "ci_low": None, "ci_high": None, "confidence": confidence}
    if n >= 2:
        sd = float(values.std(ddof=1))
        half = float(stats.t.ppf(0.5 + confidence / 2.0, n - 1)) * sd / math.sqrt(n)
        result.update(sd=sd, ci_low=result["mean"] - half, ci_high=result["mean"] + half)
    return result


def paired_wilcoxon(ia_values, iv_values) -> dict:
    """Two-sided Wilcoxon signed-rank test of paired IA and IV values (pairs with a missing value
    are dropped). Exact p-values for small samples without ties (scipy's default). The caller gives
    one pair per patient."""
    pairs = [(a, b) for a, b in zip(ia_values, iv_values)
             if a is not None and b is not None and math.isfinite(a) and math.isfinite(b)]
    n = len(pairs)
    result = {"n_pairs": n, "statistic": None, "p_value": None,
              "median_ia": None, "median_iv": None, "median_difference": None}
    if n == 0:
        return result
    ia = np.array([p[0] for p in pairs])
    iv = np.array([p[1] for p in pairs])
    result.update(median_ia=float(np.median(ia)), median_iv=float(np.median(iv)),
                  median_difference=float(np.median(ia - iv)))
    if n >= 2 and np.any(ia != iv):
        test = stats.wilcoxon(ia, iv, alternative="two-sided")
        result.update(statistic=float(test.statistic), p_value=float(test.pvalue))
    return result


def describe(values) -> dict:
    """n, mean, sd, median, min, max of the finite values."""
    values = _finite(values)
    if values.size == 0:
        return {"n": 0, "mean": None, "sd": None, "median": None, "min": None, "max": None}
    return {"n": int(values.size), "mean": float(values.mean()),
            "sd": float(values.std(ddof=1)) if values.size > 1 else None,
            "median": float(np.median(values)), "min": float(values.min()), "max": float(values.max())}


# ---- one value per patient -------------------------------------------------------------------------
def signed_rank_null_counts(n: int) -> np.ndarray:
    """Number of the 2^n sign patterns giving each signed-rank sum T+ = 0 .. n(n+1)/2 (no ties)."""
    counts = np.zeros(n * (n + 1) // 2 + 1, dtype=object)  # exact integers: 2^n overflows int64 past n = 62
    counts[0] = 1
    for rank in range(1, n + 1):
        counts[rank:] = counts[rank:] + counts[:-rank].copy()
    return counts


def hodges_lehmann(values, confidence: float = 0.95) -> dict:
    """One-sample Hodges-Lehmann estimate (median of the Walsh averages (x_i + x_j) / 2, i <= j) with
    the exact distribution-free interval [W_(d), W_(M + 1 - d)], d the largest rank with
    P(T+ <= d - 1) <= (1 - confidence) / 2 under the signed-rank null distribution (at least d = 1:
    the interval is then the range of the Walsh averages and ``confidence_achieved`` says how much
    less than asked it holds)."""
    x = _finite(values)
    n = int(x.size)
    result = {"n": n, "estimate": None, "ci_low": None, "ci_high": None, "confidence": confidence,
              "confidence_achieved": None, "method": "exact (signed-rank distribution of the Walsh averages)"}
    if n == 0:
        return result
    i, j = np.triu_indices(n)
    walsh = np.sort((x[i] + x[j]) / 2.0)
    result["estimate"] = float(np.median(walsh))
    if n < 2:
        return result
    counts = signed_rank_null_counts(n)
    total = 2 ** n
    cumulative = np.cumsum(counts)  # cumulative[t] = #(T+ <= t)
    alpha_half = (1.0 - confidence) / 2.0
    d = 1
    while d < len(walsh) // 2 and cumulative[d] / total <= alpha_half:  # P(T+ <= d) <= alpha/2: d + 1 works
        d += 1
    m = len(walsh)
    result.update(ci_low=float(walsh[d - 1]), ci_high=float(walsh[m - d]),
                  confidence_achieved=float(1.0 - 2.0 * cumulative[d - 1] / total))
    return result


def wilcoxon_one_sample(values) -> dict:
    """Two-sided Wilcoxon signed-rank test of one value per patient against 0."""
    x = _finite(values)
    n = int(x.size)
    result = {"n": n, "statistic": None, "p_value": None,
              "minimum_attainable_p_value": None if n == 0 else min(1.0, 2.0 ** (1 - n)),
              "method": "exact" if 0 < n <= 50 else "normal approximation"}
    if n >= 1 and np.any(x != 0):
        test = stats.wilcoxon(x, alternative="two-sided")
        result.update(statistic=float(test.statistic), p_value=float(test.pvalue))
        if np.any(x == 0) or len(np.unique(np.abs(x))) < n:
            result["method"] = "normal approximation (ties or zeros)"
    return result


def cluster_bootstrap_mean(values, confidence: float = 0.95, seed: int = BOOTSTRAP_SEED) -> dict:
    """BCa bootstrap interval of the mean of one value per patient (resampling patients)."""
    x = _finite(values)
    n = int(x.size)
    result = {"n": n, "mean": float(x.mean()) if n else None, "ci_low": None, "ci_high": None,
              "confidence": confidence, "method": "BCa bootstrap over patients", "resamples": BOOTSTRAP_RESAMPLES,
              "seed": seed}
    if n < 2:
        return result
    if np.ptp(x) == 0:
        result.update(ci_low=float(x[0]), ci_high=float(x[0]), method="all patients equal: no spread")
        return result
    interval = stats.bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=BOOTSTRAP_RESAMPLES,
                               method="BCa", rng=np.random.default_rng(seed)).confidence_interval
    low, high = float(interval.low), float(interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):  # BCa undefined (too few distinct values)
        interval = stats.bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=BOOTSTRAP_RESAMPLES,
                                   method="percentile", rng=np.random.default_rng(seed)).confidence_interval
        low, high = float(interval.low), float(interval.high)
        result["method"] = "percentile bootstrap over patients (BCa undefined)"
    result.update(ci_low=low, ci_high=high)
    return result


def clopper_pearson(successes: int, n: int, confidence: float = 0.95) -> dict:
    """Count, proportion and exact (Clopper-Pearson) interval."""
    result = {"count": int(successes), "n": int(n), "proportion": None, "ci_low": None, "ci_high": None,
              "confidence": confidence, "method": "Clopper-Pearson exact"}
    if n > 0:
        ci = stats.binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="exact")
        result.update(proportion=successes / n, ci_low=float(ci.low), ci_high=float(ci.high))
    return result


# ---- agreement -----------------------------------------------------------------------------------------
def bland_altman_log(groups: dict[str, list[tuple[float, float]]], seed: int = BOOTSTRAP_SEED) -> dict:
    """Agreement of (predicted, delivered) pairs on log doses, grouped by patient.

    d = ln(delivered / predicted). Bias = mean of all d; SD of a single difference from the one-way
    analysis of variance by patient (Bland and Altman 2007): s^2 = s_b^2 + s_w^2 with s_w^2 = MS_within,
    s_b^2 = (MS_between - MS_within) / ((N^2 - sum m_i^2) / ((n - 1) N)), floored at 0. Limits of
    agreement: bias +- 1.96 s; all three also as ratios (exp). The bias's interval resamples patients."""
    clean = {p: [(a, b) for a, b in pairs if a and b and a > 0 and b > 0 and math.isfinite(a) and math.isfinite(b)]
             for p, pairs in groups.items()}
    clean = {p: v for p, v in clean.items() if v}
    diffs = {p: np.log([b / a for a, b in v]) for p, v in clean.items()}
    n_patients = len(diffs)
    all_d = np.concatenate(list(diffs.values())) if diffs else np.zeros(0)
    n = int(all_d.size)
    result = {"quantity": "ln(delivered / predicted dose)", "unit_of_analysis": "lesion, clustered by patient",
              "n": n, "n_patients": n_patients, "bias_log": None, "sd_log": None, "loa_low_log": None,
              "loa_high_log": None, "ratio_geometric_mean": None, "loa_low_ratio": None, "loa_high_ratio": None,
              "bias_ci_low_ratio": None, "bias_ci_high_ratio": None, "variance_method": None}
    if n == 0:
        return result
    bias = float(all_d.mean())
    result.update(bias_log=bias, ratio_geometric_mean=math.exp(bias))
    if n < 2:
        return result
    sizes = np.array([len(d) for d in diffs.values()], float)
    if n_patients >= 2 and n > n_patients:
        means = np.array([d.mean() for d in diffs.values()])
        ss_within = float(sum(np.sum((d - d.mean()) ** 2) for d in diffs.values()))
        ss_between = float(np.sum(sizes * (means - bias) ** 2))
        ms_within = ss_within / (n - n_patients)
        ms_between = ss_between / (n_patients - 1)
        divisor = (n * n - float(np.sum(sizes ** 2))) / ((n_patients - 1) * n)
        between = max(0.0, (ms_between - ms_within) / divisor)
        sd = math.sqrt(between + ms_within)
        result.update(variance_method="between- plus within-patient components (Bland and Altman 2007)",
                      sd_between_log=math.sqrt(between), sd_within_log=math.sqrt(ms_within))
    elif n_patients >= 2:
        sd = float(all_d.std(ddof=1))
        result["variance_method"] = "one difference per patient"
    else:
        sd = float(all_d.std(ddof=1))
        result["variance_method"] = "one patient: within-patient SD only (between-patient variation not estimable)"
    half = LIMITS_OF_AGREEMENT_Z * sd
    result.update(sd_log=sd, loa_low_log=bias - half, loa_high_log=bias + half,
                  loa_low_ratio=math.exp(bias - half), loa_high_ratio=math.exp(bias + half))
    if n_patients >= 2:
        rng = np.random.default_rng(seed)
        keys = list(diffs)
        boot = np.empty(BOOTSTRAP_RESAMPLES)
        for b in range(BOOTSTRAP_RESAMPLES):
            chosen = rng.integers(0, n_patients, n_patients)
            boot[b] = np.concatenate([diffs[keys[c]] for c in chosen]).mean()
        low, high = np.percentile(boot, [2.5, 97.5])
        result.update(bias_ci_low_ratio=math.exp(low), bias_ci_high_ratio=math.exp(high),
                      bias_ci_method="percentile cluster bootstrap over patients")
    return result
