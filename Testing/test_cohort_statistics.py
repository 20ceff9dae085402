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


# ---- patient-level statistics (issue 14) ------------------------------------------------------------
from iahepaticprrt.study.cohort_statistics import (  # noqa: E402
    bland_altman_log,
    clopper_pearson,
    cluster_bootstrap_mean,
    hodges_lehmann,
    signed_rank_null_counts,
    wilcoxon_one_sample,
)


def test_signed_rank_null_distribution_by_counting():
    # Subsets of {1, 2, 3} by their sum: {} 0; {1} 1; {2} 2; {3}, {1,2} 3; {1,3} 4; {2,3} 5; {1,2,3} 6.
    assert list(signed_rank_null_counts(3)) == [1, 1, 1, 2, 1, 1, 1]
    # n = 10: 25 of the 1024 sign patterns give T+ <= 8 and 33 give T+ <= 9 (the table value of the
    # lower 0.025 critical point is 8; Hollander, Wolfe and Chicken 2014, table A.4).
    counts = signed_rank_null_counts(10)
    assert sum(counts[:9]) == 25 and sum(counts[:10]) == 33 and sum(counts) == 1024


def test_hodges_lehmann_of_1_to_10():
    # Walsh averages of 1..10: median 5.5; the 95 % exact interval is the 9th smallest (3.0) and the 9th
    # largest (8.0) Walsh average (d = 9: P(T+ <= 8) = 25/1024), confidence 1 - 50/1024 = 0.951171875.
    result = hodges_lehmann(list(range(1, 11)))
    assert result["estimate"] == 5.5 and (result["ci_low"], result["ci_high"]) == (3.0, 8.0)
    assert result["confidence_achieved"] == pytest.approx(0.951171875, abs=1e-12)


def test_hodges_lehmann_of_five_patients_says_its_confidence():
    # Walsh averages of 0.1 .. 0.5 (15 values): median 0.3. With n = 5 no interval reaches 95 %: the range
    # of the Walsh averages, [0.1, 0.5], holds with 1 - 2/32 = 0.9375.
    result = hodges_lehmann([0.1, 0.3, 0.2, 0.5, 0.4])
    assert result["estimate"] == pytest.approx(0.3)
    assert (result["ci_low"], result["ci_high"]) == pytest.approx((0.1, 0.5))
    assert result["confidence_achieved"] == pytest.approx(0.9375)


def test_one_patient_cannot_reach_significance():
    # One patient is one value however many lesions it has: the exact two-sided p is 1 (2 / 2^1).
    one = wilcoxon_one_sample([0.9])
    assert one["n"] == 1 and one["p_value"] == 1.0 and one["minimum_attainable_p_value"] == 1.0
    # Five patients all positive: 2 / 2^5 = 0.0625, the smallest p five patients can give.
    five = wilcoxon_one_sample([0.5, 0.9, 1.2, 0.7, 1.4])
    assert five["p_value"] == pytest.approx(0.0625) and five["minimum_attainable_p_value"] == pytest.approx(0.0625)
    assert five["method"] == "exact"


def test_clopper_pearson_3_of_5():
    # Exact 95 % interval of 3/5: 0.1466 to 0.9473 (Clopper and Pearson 1934; standard tables).
    result = clopper_pearson(3, 5)
    assert result["proportion"] == 0.6
    assert result["ci_low"] == pytest.approx(0.1466, abs=1e-4) and result["ci_high"] == pytest.approx(0.9473, abs=1e-4)
    assert clopper_pearson(0, 0)["proportion"] is None


def test_cluster_bootstrap_mean():
    result = cluster_bootstrap_mean([3.1, 3.6, 2.8, 4.2, 3.9, 3.3])
    assert result["mean"] == pytest.approx(3.48333333) and result["ci_low"] < 3.48 < result["ci_high"]
    assert 2.8 <= result["ci_low"] and result["ci_high"] <= 4.2  # the mean of resamples stays in the range
    assert cluster_bootstrap_mean([3.1]) ["ci_low"] is None
    assert cluster_bootstrap_mean([3.0, 3.0])["ci_low"] == 3.0


def test_bland_altman_with_two_lesions_per_patient():
    # ln(delivered / predicted): patient A 0.1, 0.3; patient B -0.1, 0.1. Bias 0.1. One-way ANOVA: MS_within
    # = 0.04 / 2 = 0.02, MS_between = 0.04 / 1 = 0.04, divisor (16 - 8) / (1 x 4) = 2, s_b^2 = 0.01:
    # s^2 = 0.03, limits 0.1 -+ 1.96 x 0.173205 = -0.239482 .. 0.439482 (ratios 0.787035 .. 1.551903).
    groups = {"A": [(10.0, 10.0 * math.exp(0.1)), (10.0, 10.0 * math.exp(0.3))],
              "B": [(5.0, 5.0 * math.exp(-0.1)), (5.0, 5.0 * math.exp(0.1))]}
    result = bland_altman_log(groups)
    assert (result["n"], result["n_patients"]) == (4, 2)
    assert result["bias_log"] == pytest.approx(0.1) and result["ratio_geometric_mean"] == pytest.approx(1.105171)
    assert result["sd_log"] == pytest.approx(math.sqrt(0.03))
    assert result["sd_within_log"] == pytest.approx(math.sqrt(0.02)) and result["sd_between_log"] == pytest.approx(0.1)
    assert result["loa_low_log"] == pytest.approx(-0.239482, abs=1e-6)
    assert result["loa_high_ratio"] == pytest.approx(1.551903, abs=1e-6)
    assert result["loa_low_ratio"] == pytest.approx(0.787035, abs=1e-6)
    assert result["bias_ci_low_ratio"] <= result["ratio_geometric_mean"] <= result["bias_ci_high_ratio"]
    # A missing or non-positive dose is left out.
    assert bland_altman_log({"A": [(None, 3.0), (0.0, 2.0)]})["n"] == 0
