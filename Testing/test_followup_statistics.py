"""Progression-free survival, Kaplan-Meier and dose-response statistics against hand-computed values
(docs/physics.md sections 31 and 32)."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pytest

from iahepaticprrt.followup.dose_response import logistic_fit, roc_auc, spearman
from iahepaticprrt.followup.survival import kaplan_meier, months_between, patient_pfs

# Ten patients (months, event): product-limit by hand, S(t) = prod (1 - d_i / n_i):
#   t=2  n=10 d=1: 9/10 = 0.9          t=3  n=9 d=2: 0.9 x 7/9 = 0.7
#   t=5  censored                      t=6  n=6 d=1: 0.7 x 5/6 = 0.583333
#   t=8  censored                      t=9  n=4 d=1: 0.583333 x 3/4 = 0.4375
#   t=12 n=3 (one event, one censored at 12, one at 18) d=1: 0.4375 x 2/3 = 0.291667
#   t=18 censored.
# Log-log ("exponential Greenwood") 95 % band: V = sum d / (n (n - d)); se = sqrt(V) / |ln S|;
# S^exp(+-1.959964 se), evaluated by hand (plain arithmetic):
TIMES = [2, 3, 3, 5, 6, 8, 9, 12, 12, 18]
EVENTS = [1, 1, 1, 0, 1, 0, 1, 0, 1, 0]
HAND = {2.0: (0.9, 0.47300927136205034, 0.9852813933673431),
        3.0: (0.7, 0.3287165932797347, 0.8919490412248443),
        6.0: (0.5833333333333334, 0.22978651892398366, 0.8207394971721561),
        9.0: (0.4375, 0.11871521791481762, 0.7256487921236798),
        12.0: (0.29166666666666663, 0.047055014295071425, 0.6085264832472468)}


def test_kaplan_meier_equals_the_hand_computed_product_limit():
    km = kaplan_meier(TIMES, EVENTS)
    rows = {row["time_months"]: row for row in km["table"]}
    for t, (s, low, high) in HAND.items():
        assert rows[t]["survival"] == pytest.approx(s, abs=1e-12)
        assert rows[t]["ci_low"] == pytest.approx(low, abs=1e-9)
        assert rows[t]["ci_high"] == pytest.approx(high, abs=1e-9)
    assert (rows[12.0]["at_risk"], rows[12.0]["events"], rows[12.0]["censored"]) == (3, 1, 1)
    assert km["median_months"] == 9.0                  # first time S <= 0.5
    # Median interval: the lower band first reaches 0.5 at t=2 (0.473); the upper band never does.
    assert km["median_ci_months"] == [2.0, None]
    assert km["landmark_rate"] == pytest.approx(0.29166666666666663)   # S(18) = S(12)
    assert km["landmark_ci"] == pytest.approx([0.047055014295071425, 0.6085264832472468])
    assert (km["n"], km["events"], km["censored"]) == (10, 6, 4)


def test_landmark_not_estimable_before_it_is_reached_and_no_events():
    assert kaplan_meier([3, 6, 12], [1, 0, 0])["landmark_rate"] is None  # last observation at 12 < 18
    none = kaplan_meier([18.5, 19.0], [0, 0])
    assert none["landmark_rate"] == 1.0 and none["median_months"] is None


START = datetime(2025, 3, 24, 10, 30)


def test_patient_pfs_from_dates():
    # Progression seen on the scan of 2025-09-22 10:30: 182 days = 182 / 30.4375 months.
    pd = patient_pfs(START, datetime(2025, 9, 22, 10, 30), [], datetime(2026, 10, 1, 10, 30))
    assert pd["pfs_months"] == pytest.approx(182 / 30.4375)
    assert (pd["pfs_event"], pd["pfs_event_type"], pd["progressed"], pd["died"]) == (True, "recist_progression", True,
                                                                                    False)
    # Death on 2025-08-01 10:30 (130 days) comes first.
    death = patient_pfs(START, datetime(2025, 9, 22, 10, 30), [("death", datetime(2025, 8, 1, 10, 30))],
                        datetime(2025, 8, 1, 10, 30))
    assert death["pfs_months"] == pytest.approx(130 / 30.4375) and death["pfs_event_type"] == "death"
    # No event: censored at the last contact (2026-10-08 10:30 = 563 days).
    censored = patient_pfs(START, None, [], datetime(2026, 10, 8, 10, 30))
    assert censored["pfs_months"] == pytest.approx(563 / 30.4375) and not censored["pfs_event"]
    assert months_between(START, datetime(2025, 3, 24, 10, 30)) == 0.0


def _log_likelihood(dose, outcome, slope, d50):
    p = 1.0 / (1.0 + np.exp(-slope * (dose - d50)))
    return float(np.sum(np.where(outcome, np.log(p), np.log(1.0 - p))))


def test_logistic_fit_two_dose_groups_and_its_profile_interval():
    # 5 of 20 respond at 10 Gy, 15 of 20 at 30 Gy: the maximum-likelihood curve passes through both
    # observed fractions, logit 0.25 = -ln 3 and logit 0.75 = +ln 3: D50 = 20 Gy, slope = 2 ln 3 / 20.
    dose = np.array([10.0] * 20 + [30.0] * 20)
    outcome = np.array([1] * 5 + [0] * 15 + [1] * 15 + [0] * 5, bool)
    fit = logistic_fit(dose, outcome)
    assert fit["d50_gy"] == pytest.approx(20.0, abs=1e-4)
    assert fit["slope_per_gy"] == pytest.approx(2.0 * math.log(3.0) / 20.0, rel=1e-4)
    low, high = fit["d50_ci_gy"]
    assert low < 20.0 < high and (20.0 - low) == pytest.approx(high - 20.0, rel=1e-3)  # the design is symmetric
    # At each bound the profile deviance (by brute-force search over the slope) is chi2(1, 0.95) = 3.8415.
    slopes = np.linspace(1e-4, 1.0, 200001)
    l_max = _log_likelihood(dose, outcome, 2.0 * math.log(3.0) / 20.0, 20.0)
    for bound in (low, high):
        profile = max(_log_likelihood(dose, outcome, s, bound) for s in slopes[::20])
        assert 2.0 * (l_max - profile) == pytest.approx(3.8415, abs=0.01)
    # Likelihood-ratio test against no dose effect: G = 2 (l_max - l_0), l_0 = 40 ln 0.5.
    g = 2.0 * (l_max - 40.0 * math.log(0.5))
    from scipy.stats import chi2

    assert fit["likelihood_ratio_p_value"] == pytest.approx(float(chi2.sf(g, 1)), rel=1e-6)


def test_logistic_interval_open_when_the_dose_effect_is_not_significant():
    # 1 of 4 and 3 of 4: D50 = 20 Gy, but G = 2 (2 (ln 0.25 + 3 ln 0.75) - 8 ln 0.5) = 2.09 < 3.84:
    # no D50 far from 20 Gy is rejected, so the interval is open on both sides.
    fit = logistic_fit([10.0] * 4 + [30.0] * 4, [1, 0, 0, 0, 1, 1, 1, 0])
    assert fit["d50_gy"] == pytest.approx(20.0, abs=1e-4) and fit["d50_ci_gy"] == [None, None]


def test_logistic_not_estimable_cases_are_named():
    separated = logistic_fit([5, 10, 15, 30, 40], [0, 0, 0, 1, 1])
    assert not separated["estimable"] and separated["separation_interval_gy"] == [15.0, 30.0]
    falling = logistic_fit([5, 10, 15, 30, 40, 50], [1, 1, 0, 1, 0, 0])
    assert falling["d50_gy"] is None and "does not increase" in falling["note"]
    assert logistic_fit([5, 10, 15], [0, 0, 0])["note"].startswith("needs responders")


def test_roc_auc_is_mann_whitney_u_over_n1_n0():
    # Responders 30, 40, 50 against non-responders 10, 20, 35, 40: pairs won 2 + 3.5 (a tie counts
    # one half) + 4 = 9.5 of 12: AUC = 0.791667.
    result = roc_auc([30, 40, 50, 10, 20, 35, 40], [1, 1, 1, 0, 0, 0, 0])
    assert result["auc"] == pytest.approx(9.5 / 12.0)
    assert result["ci_low"] < result["auc"] < result["ci_high"]
    assert roc_auc([1, 2], [1, 1])["auc"] is None


def test_spearman_rank_correlation():
    # Ranks of the changes: 5, 3, 4, 2, 1 against 1..5: sum d^2 = 38, rho = 1 - 6 x 38 / (5 x 24) = -0.9.
    result = spearman([10, 20, 30, 40, 50], [-10, -30, -20, -60, -70])
    assert result["rho"] == pytest.approx(-0.9) and result["n"] == 5
    assert spearman([1, 2], [3, 4])["rho"] is None
