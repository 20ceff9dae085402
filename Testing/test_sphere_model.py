"""Sphere model: the geometric formula, the derived electron path, limits and consistency."""

from __future__ import annotations

import math

import numpy as np
import pytest

from iahepaticprrt.dosimetry import sphere_model
from iahepaticprrt.dosimetry.lu177 import LDM_GY_G_PER_MBQH


def test_distance_to_surface_distribution_by_monte_carlo():
    """P(L > l) = 1 - 3l/(4R) + l^3/(16R^3) for a uniform point and direction in a sphere, so
    phi = E[min(L, s)]/s: checked by sampling (seeded) against the closed form used by the model."""
    rng = np.random.default_rng(4)
    n = 200_000
    r = rng.random(n) ** (1.0 / 3.0)                       # uniform in the unit sphere (radius)
    cos_theta = rng.uniform(-1.0, 1.0, n)                  # angle between position and direction
    # Distance to the surface along the direction: solve |p + L u| = 1.
    length = -r * cos_theta + np.sqrt(1.0 - r * r * (1.0 - cos_theta ** 2))
    for s in (0.1, 0.5, 1.0, 1.9, 3.0):
        sampled = float(np.mean(np.minimum(length, s)) / s)
        assert sampled == pytest.approx(sphere_model.absorbed_fraction_radius(1.0, s), abs=0.003)


def test_derived_path_is_stable_across_radii():
    points = [sphere_model.staircase_escape(r) for r in (15.0, 30.0, 60.0)]
    escape_times_radius = [p["escape_fraction_sphere"] * p["radius_mm"] for p in points]
    print("escape x R (mm):", [round(v, 4) for v in escape_times_radius])
    assert max(escape_times_radius) / min(escape_times_radius) < 1.02  # escape proportional to 1/R
    assert 0.45 < sphere_model.effective_path_mm() < 0.75
    for p in points:
        assert 1.4 < p["area_ratio"] < 1.6  # a voxelised sphere's surface is about 1.5 times the sphere's


def test_other_kernel_sizes_give_the_same_escape():
    # The staircase-corrected escape does not depend much on the kernel voxel size used to derive it.
    fine = sphere_model.staircase_escape(30.0, 2.21)["escape_fraction_sphere"]
    coarse = sphere_model.staircase_escape(30.0, 3.0)["escape_fraction_sphere"]
    assert abs(fine - coarse) < 0.003


def test_s_value_limits_and_monotonicity():
    masses = [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0]
    phis = [sphere_model.absorbed_fraction(m) for m in masses]
    assert all(b > a for a, b in zip(phis, phis[1:]))
    assert phis[-1] == pytest.approx(1.0, abs=0.003)
    # S x m tends to the electron energy per decay (0.08532 Gy g/(MBq h)).
    assert sphere_model.s_value_gy_per_mbqh(10000.0) * 10000.0 == pytest.approx(LDM_GY_G_PER_MBQH, rel=0.003)
    # A 1 g sphere absorbs most of its electron energy, a 10 mg one clearly less.
    assert 0.93 < phis[2] < 0.98 and phis[0] < 0.9
    assert sphere_model.sphere_dose_gy(1000.0, 10.0) == pytest.approx(1000.0 * phis[3] * LDM_GY_G_PER_MBQH / 10.0)


def test_radius_of_unit_density_sphere():
    assert sphere_model.radius_mm(4.0 / 3.0 * math.pi) == pytest.approx(10.0)
