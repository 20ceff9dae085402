"""Cohort summaries for the trial statistician: mean enhancement ratio with its confidence
interval, paired intra-arterial versus intravenous tests per VOI kind, doses per organ."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def mean_with_confidence_interval(values, confidence: float = 0.95) -> dict:
    """Mean and two-sided Student-t confidence interval of the mean (n >= 2), else the mean alone."""
    values = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
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
    are dropped). Exact p-values for small samples without ties (scipy's default)."""
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
    values = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if values.size == 0:
        return {"n": 0, "mean": None, "sd": None, "median": None, "min": None, "max": None}
    return {"n": int(values.size), "mean": float(values.mean()),
            "sd": float(values.std(ddof=1)) if values.size > 1 else None,
            "median": float(np.median(values)), "min": float(values.min()), "max": float(values.max())}
