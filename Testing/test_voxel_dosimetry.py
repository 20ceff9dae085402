"""Analytic cases for the voxel dosimetry: a uniform 30 mm sphere, energy balance, vectorised voxel fits,
conservative remapping between grids."""

from __future__ import annotations

import math

import numpy as np
import pytest

from iahepaticprrt.dosimetry.kernels import short_range_kernel
from iahepaticprrt.dosimetry.lu177 import DECAY_CONSTANT_PER_H, LDM_GY_G_PER_MBQH
from iahepaticprrt.dosimetry.options import DosimetryOptions
from iahepaticprrt.dosimetry.voxel import conservative_remap, voxel_tia_mbqh
from iahepaticprrt.imaging.grid import Grid
from iahepaticprrt.imaging.segmentation import Segmentation
from iahepaticprrt.imaging.volume import Volume
from iahepaticprrt.io.spect_dicom import SpectTimePoint
from iahepaticprrt.study.dosimetry_run import compute_dosimetry

RADIUS_MM = 30.0
A0_MBQ = 1000.0
LAMBDA_PER_H = math.log(2.0) / 60.0
TIMES_H = [4.0, 24.0, 96.0, 168.0]


def _sphere_case(method: str):
    grid = Grid((32, 32, 32), (4.8, 4.8, 4.8), (-74.4, -74.4, -74.4))
    k, j, i = np.indices(grid.shape_kji)
    lps = grid.index_to_lps(np.stack([i, j, k], axis=-1).reshape(-1, 3).astype(float)).reshape(*grid.shape_kji, 3)
    mask = np.linalg.norm(lps, axis=-1) <= RADIUS_MM
    n = int(mask.sum())
    points = []
    for t in TIMES_H:
        bqml = np.where(mask, A0_MBQ * math.exp(-LAMBDA_PER_H * t) / n / grid.voxel_volume_ml * 1e6, 0.0)
        points.append(SpectTimePoint(Volume(bqml.astype(np.float32), grid, "Bq/mL"), f"t={t}"))
    seg = Segmentation(grid)
    seg.add("Lesion 1", mask)
    options = DosimetryOptions(7400.0, times_h=TIMES_H, method=method, model="mono-exp", registration=False)
    result = compute_dosimetry(points, seg, options)
    return grid, mask, result


@pytest.fixture(scope="module")
def ldm_case():
    return _sphere_case("ldm")


@pytest.fixture(scope="module")
def vsv_case():
    return _sphere_case("vsv")


def test_sphere_tia_and_ldm_dose(ldm_case):
    grid, mask, result = ldm_case
    voi = result.report["vois"][0]
    tia_true = A0_MBQ / LAMBDA_PER_H
    assert voi["tia_mbqh"] == pytest.approx(tia_true, rel=0.01)
    mass_g = mask.sum() * grid.voxel_volume_ml * 1.0  # no CT: water-equivalent 1.0 g/mL
    assert voi["mass_g"] == pytest.approx(mass_g, rel=1e-9)
    assert mass_g == pytest.approx(4.0 / 3.0 * math.pi * 3.0 ** 3, rel=0.05)  # the voxelised sphere (+4 %)
    expected = LDM_GY_G_PER_MBQH * tia_true / mass_g
    assert voi["absorbed_dose_gy"] == pytest.approx(expected, rel=0.01)
    assert voi["ldm_voi_dose_gy"] == pytest.approx(expected, rel=0.01)
    assert voi["d2_gy"] == pytest.approx(expected, rel=0.01) and voi["d98_gy"] == pytest.approx(expected, rel=0.01)
    assert voi["residence_time_h"] == pytest.approx(voi["tia_mbqh"] / 7400.0, rel=1e-12)


def _pair_summation_mean_dose(mask: np.ndarray, tia_per_voxel: float, kernel, density_ratio: float) -> float:
    """Independent reference: mean dose = (TIA per voxel / N) x sum over offsets d of S(d) x C(d),
    C(d) = number of voxel pairs (p, p + d) both inside the sphere (no FFT, no padding)."""
    n = mask.sum()
    s = kernel.s_gy_per_mbqh
    total = 0.0
    shape = mask.shape
    for dk in range(-5, 6):
        for dj in range(-5, 6):
            for di in range(-5, 6):
                a = mask[max(dk, 0):shape[0] + min(dk, 0), max(dj, 0):shape[1] + min(dj, 0), max(di, 0):shape[2] + min(di, 0)]
                b = mask[max(-dk, 0):shape[0] + min(-dk, 0), max(-dj, 0):shape[1] + min(-dj, 0),
                         max(-di, 0):shape[2] + min(-di, 0)]
                total += s[dk + 5, dj + 5, di + 5] * np.count_nonzero(a & b)
    return tia_per_voxel * total / n * density_ratio


def test_sphere_vsv_mean_dose_against_direct_pair_summation(vsv_case):
    grid, mask, result = vsv_case
    voi = result.report["vois"][0]
    kernel = short_range_kernel(4.8)  # the energy-complete short-range kernel (input data, not the answer)
    tia_per_voxel = A0_MBQ / LAMBDA_PER_H / mask.sum()
    # No CT: tissue at 1.0 g/mL, kernel for 1.04 g/mL -> short-range dose x 1.04 (energy kept).
    reference = _pair_summation_mean_dose(mask, tia_per_voxel, kernel, 1.04 / 1.0)
    photons = voi["absorbed_dose_gy"] - reference
    print(f"VSV absorbed dose {voi['absorbed_dose_gy']:.3f} Gy: short range by pair summation {reference:.3f} Gy + "
          f"photons {photons:.3f} Gy ({100 * photons / voi['ldm_voi_dose_gy']:.1f} % of LDM {voi['ldm_voi_dose_gy']:.3f} Gy)")
    # Photon self-dose of a 30 mm sphere: its photons (0.0351 MeV per decay, 24 % of the electron energy)
    # are absorbed in it only by a few per cent (MIRD sphere absorbed fractions): 0.5-4 % of the LDM dose.
    assert 0.005 * voi["ldm_voi_dose_gy"] < photons < 0.04 * voi["ldm_voi_dose_gy"]
    assert result.report["provenance"]["dose"]["grid_handling"].startswith("image voxels")


def test_pipeline_energy_balance(ldm_case, vsv_case):
    for grid, mask, result in (ldm_case, vsv_case):
        tia_total = float(np.sum(result.tia_map.array, dtype=np.float64))
        assert tia_total == pytest.approx(A0_MBQ / LAMBDA_PER_H, rel=1e-4)
        energy = float(np.sum(result.dose.array.astype(np.float64) * result.density.array * grid.voxel_volume_ml))
        if result.report["method"] == "ldm":
            assert energy == pytest.approx(LDM_GY_G_PER_MBQH * tia_total, rel=0.01)
        else:
            # The 30 mm sphere sits >= 7 voxels from the grid edge: all the short-range energy (ICRP 107
            # electrons 0.14792 + L x-rays 0.000316 MeV per decay) stays in the grid, and part of the photon
            # energy (at most 0.0351 MeV per decay) is absorbed in the 153 mm cube.
            short_range = (0.14792 + 0.000316) / 0.14792 * LDM_GY_G_PER_MBQH * tia_total
            print(f"VSV energy in the grid: {energy / short_range:.4f} x the short-range energy")
            assert short_range * 1.02 < energy < short_range * (0.14792 + 0.0351) / 0.14792


def test_vectorised_voxel_fits_equal_per_voxel_fits():
    rng = np.random.default_rng(2)
    t = np.array([4.0, 24.0, 96.0, 168.0])
    a0 = rng.uniform(0.1, 2.0, 60)
    lam = rng.uniform(0.3, 3.0, 60) * DECAY_CONSTANT_PER_H
    noise = 1.0 + 0.05 * rng.standard_normal((4, 60))
    maps = [(a0 * np.exp(-lam * ti) * noise[n]).reshape(3, 4, 5) for n, ti in enumerate(t)]
    tia, summary = voxel_tia_mbqh(t, maps, "mono-exp")
    assert summary["voxels_fitted"] == 60
    for v in range(60):
        slope, intercept = np.polyfit(t, np.log([m.ravel()[v] for m in maps]), 1)
        rate = max(-slope, DECAY_CONSTANT_PER_H)
        log_a0 = np.mean(np.log([m.ravel()[v] for m in maps]) + rate * t)  # refit at a clamped rate
        assert tia.ravel()[v] == pytest.approx(math.exp(log_a0) / rate, rel=1e-5)


def test_voxels_with_zero_values_fall_back_to_the_trapezoid():
    t = np.array([4.0, 24.0, 96.0])
    maps = [np.array([[[1.0, 0.0]]]), np.array([[[0.8, 2.0]]]), np.array([[[0.4, 1.0]]])]
    tia, summary = voxel_tia_mbqh(t, maps, "mono-exp")
    assert summary["voxels_trapezoid"] == 1 and summary["voxels_fitted"] == 1
    lam_phys = DECAY_CONSTANT_PER_H
    expected = 0.5 * 4 * 0 + 0.5 * 20 * (0 + 2) + 0.5 * 72 * (2 + 1) + 1.0 / lam_phys
    assert tia[0, 0, 1] == pytest.approx(expected, rel=1e-6)


def test_conservative_remap_keeps_the_total_and_the_position():
    source = Grid((10, 12, 14), (4.0, 4.0, 5.0), (1.0, -3.0, 7.0))
    target = Grid((14, 12, 15), (4.42, 4.42, 4.42), (-1.0, -5.0, 3.0))
    values = np.zeros(source.shape_kji)
    values[5, 6, 7] = 10.0
    moved = conservative_remap(values, source, target)
    assert moved.sum() == pytest.approx(10.0, rel=1e-12)
    centre = source.index_to_lps((7, 6, 5))
    k, j, i = np.indices(target.shape_kji)
    positions = target.index_to_lps(np.stack([i, j, k], -1).reshape(-1, 3).astype(float))
    mean_position = (moved.ravel()[:, None] * positions).sum(axis=0) / moved.sum()
    np.testing.assert_allclose(mean_position, centre, atol=4.42 / 4)  # within a quarter of a target voxel
