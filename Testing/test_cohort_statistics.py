"""Cohort statistics against hand-computed values."""

import math

import pytest

from iahepaticprrt.study.cohort_statistics import describe, mean_with_confidence_interval, paired_wilcoxon


def test_mean_ratio_confidence_interval_by_hand():
    # values 3, 4, 5: mean 4, sd 1, t(0.975, 2) = 4.302652729749464 -> half width 4.3027 / sqrt(3)
    result = mean_with_confidence_interval([3.0, 4.0, 5.0, float("nan"), None])
    assert result["n"] == 3 and result["mean"] == pytest.approx(4.0) and result["sd"] == pytest.approx(1.0)
    half = 4.302652729749464 / math.sqrt(3)
    assert result["ci_low"] == pytest.approx(4.0 - half, rel=1e-9)
    assert result["ci_high"] == pytest.approx(4.0 + half, rel=1e-9)
    single = mean_with_confidence_interval([3.2])
    assert single["mean"] == 3.2 and single["ci_low"] is None


def test_wilcoxon_exact_p_for_five_positive_pairs():
    # All 5 differences positive, distinct: the exact two-sided p is 2 / 2^5 = 0.0625.
    result = paired_wilcoxon([10, 12, 9, 14, 11], [3, 4, 2.5, 3.5, 2.0])
    assert result["n_pairs"] == 5
    assert result["p_value"] == pytest.approx(0.0625)
    assert result["statistic"] == 0.0
    assert result["median_difference"] == pytest.approx(8.0)


def test_wilcoxon_drops_incomplete_pairs():
    result = paired_wilcoxon([1.0, None, 3.0], [0.5, 2.0, float("nan")])
    assert result["n_pairs"] == 1 and result["p_value"] is None


def test_describe():
    d = describe([1.0, 2.0, 4.0])
    assert (d["n"], d["median"], d["min"], d["max"]) == (3, 2.0, 1.0, 4.0)
    assert d["mean"] == pytest.approx(7 / 3)
