"""Dose-volume histograms and D2 / D50 / D98 with partial-voxel weights."""

from __future__ import annotations

import numpy as np
import pytest

from iahepaticprrt.dosimetry.dvh import cumulative_dvh, dose_at_volume_gy, dvh_metrics


def test_uniform_dose():
    dose = np.full(50, 3.0)
    metrics = dvh_metrics(dose, np.ones(50))
    assert metrics["d2_gy"] == metrics["d50_gy"] == metrics["d98_gy"] == 3.0
    levels, fraction = cumulative_dvh(dose, np.ones(50))
    assert fraction[0] == 1.0 and fraction[-1] == 1.0  # every voxel gets >= the maximum


def test_ramp_of_100_equal_voxels():
    dose = np.arange(1.0, 101.0)  # 1..100 Gy
    w = np.ones(100)
    assert dose_at_volume_gy(dose, w, 2.0) == 99.0   # hottest 2 voxels: 100 and 99
    assert dose_at_volume_gy(dose, w, 50.0) == 51.0
    assert dose_at_volume_gy(dose, w, 98.0) == 3.0
    levels, fraction = cumulative_dvh(dose, w, bin_width_gy=10.0)
    assert fraction[levels.tolist().index(50.0)] == pytest.approx(0.51)


def test_weights_count_partial_voxels():
    dose = np.array([10.0, 20.0])
    # Voxel with 20 Gy covered at 25 %: it is 1/5 of the VOI volume.
    assert dose_at_volume_gy(dose, np.array([1.0, 0.25]), 15.0) == 20.0
    assert dose_at_volume_gy(dose, np.array([1.0, 0.25]), 30.0) == 10.0
    metrics = dvh_metrics(dose, np.array([1.0, 0.25]))
    assert metrics["max_dose_gy"] == 10.0  # max over voxels covered >= 50 %
