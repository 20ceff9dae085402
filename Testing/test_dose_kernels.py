"""177Lu voxel S-value kernels: the reference-data checks, FFT = direct summation, energy balance."""

from __future__ import annotations

import numpy as np
import pytest

from iahepaticprrt.dosimetry import lu177
from iahepaticprrt.dosimetry.kernels import (
    available_kernels,
    convolve,
    convolve_direct,
    electron_kernel,
    load_kernel,
    mirror_octant,
    nearest_kernel_size,
    short_range_kernel,
)
from iahepaticprrt.dosimetry.voxel import ldm_dose_gy, vsv_dose_gy
from iahepaticprrt.imaging.grid import Grid
from iahepaticprrt.imaging.volume import Volume

ALL_KERNELS = [(size, medium) for medium in ("soft", "bone") for size in available_kernels(medium)]


def test_thirteen_sizes_per_medium_are_shipped():
    for medium in ("soft", "bone"):
        assert list(available_kernels(medium)) == [2.21, 2.33, 2.4, 3.0, 3.59, 3.9, 4.0, 4.42, 4.8, 5.0, 6.0, 6.8, 9.28]


def test_central_values_of_the_reference_readme():
    # reference-data/README.md: 0.178 mGy/(MBq s) at 4.8 mm soft tissue, 0.226 at 4.42 mm.
    assert load_kernel(4.8, "soft").central_value_mgy_per_mbq_s == pytest.approx(0.178, abs=1e-12)
    assert load_kernel(4.42, "soft").central_value_mgy_per_mbq_s == pytest.approx(0.226, abs=1e-12)


@pytest.mark.parametrize("size,medium", ALL_KERNELS)
def test_each_kernel_is_symmetric_and_deposits_at_most_the_energy_per_decay(size, medium):
    kernel = load_kernel(size, medium)
    s = kernel.s_mgy_per_mbq_s
    assert s.shape == (11, 11, 11)
    assert np.array_equal(s, s[::-1]) and np.array_equal(s, s[:, ::-1]) and np.array_equal(s, s[:, :, ::-1])
    assert np.array_equal(s, s.transpose(1, 0, 2)) and np.array_equal(s, s.transpose(2, 1, 0))
    assert s[5, 5, 5] == s.max()
    total = lu177.total_energy_mgy_g_per_mbq_s()  # electrons + photons per decay (ICRP 107)
    assert kernel.energy_sum_mgy_g_per_mbq_s() <= total
    fraction = kernel.electron_energy_fraction()
    print(f"{medium} {size} mm: kernel holds {100 * fraction:.1f} % of the 177Lu electron energy per decay")
    if medium == "soft":
        # Soft-tissue kernels hold 94.7 % (2.21 mm) to 98.7 % (9.28 mm) of the electron energy.
        assert 0.94 < fraction < 0.99


def test_soft_kernel_energy_fractions_stated():
    fractions = {size: load_kernel(size, "soft").electron_energy_fraction() for size in available_kernels("soft")}
    print({k: round(100 * v, 1) for k, v in fractions.items()})
    assert fractions[2.21] == pytest.approx(0.947, abs=0.001)
    assert fractions[4.8] == pytest.approx(0.961, abs=0.001)
    assert fractions[9.28] == pytest.approx(0.987, abs=0.001)


def test_mirroring_an_octant():
    octant = np.arange(8.0).reshape(2, 2, 2)
    full = mirror_octant(octant)
    assert full.shape == (3, 3, 3)
    assert full[1, 1, 1] == octant[0, 0, 0] and full[0, 2, 1] == octant[1, 1, 0] and full[2, 0, 0] == octant[1, 1, 1]


def test_nearest_kernel_size():
    assert nearest_kernel_size((4.7, 4.7, 4.7)) == 4.8
    assert nearest_kernel_size((3.3, 3.3, 3.3)) == 3.0 or nearest_kernel_size((3.3, 3.3, 3.3)) == 3.59
    assert nearest_kernel_size((2.0, 2.0, 2.0)) == 2.21


def test_fft_convolution_equals_direct_summation():
    rng = np.random.default_rng(3)
    tia = rng.random((17, 19, 21)) * (rng.random((17, 19, 21)) > 0.7)
    kernel = load_kernel(4.42)
    np.testing.assert_allclose(convolve(tia, kernel, dtype=np.float64), convolve_direct(tia, kernel),
                               rtol=1e-9, atol=1e-12 * kernel.s_gy_per_mbqh.max())


def test_point_source_dose_is_the_kernel():
    kernel = load_kernel(4.8)
    tia = np.zeros((15, 15, 15))
    tia[7, 7, 7] = 2.0
    dose = convolve(tia, kernel, dtype=np.float64)
    np.testing.assert_allclose(dose[2:13, 2:13, 2:13], 2.0 * kernel.s_gy_per_mbqh, rtol=1e-9)


@pytest.mark.parametrize("size", [2.21, 4.8, 9.28])
def test_energy_complete_electron_kernel_holds_the_icrp_107_electron_energy(size):
    # ICRP 107: 0.13327 (beta) + 0.01352 (conversion) + 0.00113 (Auger) = 0.14792 MeV per decay; as a
    # kernel sum (S x voxel mass): 0.14792 MeV x 1.602176634e-13 J/MeV x 1e6 decays/(MBq s) / 1e-6 J per
    # mGy g = 0.0236994 mGy g/(MBq s) (docs/physics.md section 1).
    expected_mgy_g_per_mbq_s = 0.14792 * 1.602176634e-13 * 1e6 / 1e-6
    kernel = electron_kernel(size)
    energy = float(kernel.s_mgy_per_mbq_s.sum()) * 1.04 * (size / 10.0) ** 3
    print(f"{size} mm: published kernel {load_kernel(size).energy_sum_mgy_g_per_mbq_s():.6f}, energy-complete "
          f"{energy:.6f}, ICRP 107 electrons {expected_mgy_g_per_mbq_s:.6f} mGy g/(MBq s)")
    assert energy == pytest.approx(expected_mgy_g_per_mbq_s, rel=0.01)
    assert energy == pytest.approx(0.0236994, rel=1e-4)
    # Only the central voxel changed: the deficit is short-range (conversion and Auger electrons).
    published = load_kernel(size).s_mgy_per_mbq_s
    changed = np.argwhere(kernel.s_mgy_per_mbq_s != published)
    assert changed.tolist() == [[5, 5, 5]]
    # The short-range kernel adds the L x-rays: ICRP 107 photons 0.0351 MeV minus the lines >= 15 keV.
    short = short_range_kernel(size)
    extra_mev = (float(short.s_mgy_per_mbq_s.sum()) - float(kernel.s_mgy_per_mbq_s.sum())) * 1.04 * (size / 10.0) ** 3 \
        * 1e-6 / 1e6 / 1.602176634e-13
    assert 0.0002 < extra_mev < 0.0004


def _source_in_large_region(spacing, shape=(40, 40, 40)):
    grid = Grid(shape, spacing)
    tia = np.zeros(grid.shape_kji, dtype=np.float32)
    c = [n // 2 for n in shape]
    tia[c[0] - 4:c[0] + 4, c[1] - 5:c[1] + 3, c[2] - 3:c[2] + 5] = 3.0  # 512 voxels, far (>= 15 voxels) from the edges
    return grid, tia


@pytest.mark.parametrize("density", [1.0, 1.04, "random"])
def test_vsv_short_range_energy_balance_on_the_kernel_grid(density):
    """Dose x mass summed over a region much larger than the source = short-range kernel energy x TIA:
    the ICRP 107 electron energy plus the L x-rays (0.14792 + 0.000316 MeV per decay), whatever the density."""
    grid, tia = _source_in_large_region((4.8, 4.8, 4.8))
    rho = np.random.default_rng(5).uniform(0.5, 1.5, grid.shape_kji).astype(np.float32) if density == "random" \
        else np.full(grid.shape_kji, density, np.float32)
    dose, provenance = vsv_dose_gy(Volume(tia, grid), rho, photons=False)
    energy = float(np.sum(dose.astype(np.float64) * rho * grid.voxel_volume_ml))
    expected = (0.14792 + 0.000316) / 0.14792 * lu177.LDM_GY_G_PER_MBQH * float(tia.sum())
    assert energy == pytest.approx(expected, rel=0.01)
    assert "match" in provenance["grid_handling"]
    print(f"VSV 4.8 mm short range: energy = {energy / (lu177.LDM_GY_G_PER_MBQH * tia.sum()):.4f} of the electron "
          "energy (electrons complete, plus the L x-rays)")


def test_vsv_energy_balance_with_resampling_to_the_kernel_grid():
    grid, tia = _source_in_large_region((4.0, 4.0, 5.0))  # anisotropic: resampled to the nearest kernel (4.42 mm)
    rho = np.ones(grid.shape_kji, np.float32)
    dose, provenance = vsv_dose_gy(Volume(tia, grid), rho, photons=False)
    assert "moved" in provenance["grid_handling"] and provenance["kernel"]["voxel_mm"] == 4.42
    energy = float(np.sum(dose.astype(np.float64) * grid.voxel_volume_ml))
    expected = (0.14792 + 0.000316) / 0.14792 * lu177.LDM_GY_G_PER_MBQH * float(tia.sum())
    assert energy == pytest.approx(expected, rel=0.01)


def test_ldm_energy_balance():
    grid, tia = _source_in_large_region((4.8, 4.8, 4.8))
    rho = np.random.default_rng(6).uniform(0.3, 1.9, grid.shape_kji).astype(np.float32)
    dose = ldm_dose_gy(tia, rho, grid.voxel_volume_ml)
    energy = float(np.sum(dose.astype(np.float64) * rho * grid.voxel_volume_ml))
    assert energy == pytest.approx(lu177.LDM_GY_G_PER_MBQH * float(tia.sum()), rel=1e-5)
    print("LDM: holds 100 % of the 177Lu electron energy (0.08532 Gy g/(MBq h)) by construction")


def test_ldm_constant_follows_from_the_electron_energy():
    # 0.14792 MeV x 1.602e-13 J/MeV x 3.6e9 decays/(MBq h) / 1e-3 kg/g
    assert lu177.ELECTRON_ENERGY_PER_DECAY_MEV * lu177.JOULE_PER_MEV * lu177.DECAYS_PER_MBQH / 1e-3 == \
        pytest.approx(lu177.LDM_GY_G_PER_MBQH, rel=2e-4)
