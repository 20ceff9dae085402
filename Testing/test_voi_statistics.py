"""VOI statistics against known answers: partial-voxel weights, SUVpeak sphere, isocontours, bad VOIs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from iahepaticprrt.imaging.grid import Grid
from iahepaticprrt.uptake.voi_statistics import (
    PEAK_SPHERE_RADIUS_MM,
    SphereMeans,
    sphere_kernel,
    voi_statistics,
    voi_weights,
)

PET = Grid((20, 24, 28), (4.0, 4.0, 4.0), (-50.0, -40.0, -30.0))


def _stats(suv, masks, grid=PET, mask_grid=None, lesions=()):
    vois = [voi_weights(name, mask, mask_grid or grid, grid) for name, mask in masks.items()]
    return {s["name"]: s for s in voi_statistics(suv, grid, vois, isocontour_names=lesions)}


def test_sphere_kernel_holds_one_millilitre():
    # 4/3 pi 6.2^3 = 998.3 mm^3; the partial-voxel weights must add up to it (sub-sampling error < 1 %).
    sphere_mm3 = 4.0 / 3.0 * math.pi * PEAK_SPHERE_RADIUS_MM ** 3
    assert sphere_mm3 == pytest.approx(998.3, abs=0.1)
    for spacing in [(4.0, 4.0, 4.0), (2.0, 2.0, 3.0), (3.65, 3.65, 3.27)]:
        kernel = sphere_kernel(spacing)
        assert kernel.sum() * np.prod(spacing) == pytest.approx(sphere_mm3, rel=0.001)
        assert np.allclose(kernel, kernel[::-1, ::-1, ::-1])  # symmetric about the centre voxel


def test_uniform_region_mean_max_peak_and_volume():
    suv = np.full(PET.shape_kji, 1.0, np.float32)
    mask = np.zeros(PET.shape_kji, bool)
    mask[5:15, 6:18, 7:21] = True
    suv[mask] = 3.0
    s = _stats(suv, {"Liver": mask})["Liver"]
    assert s["suv_mean"] == 3.0 and s["suv_max"] == 3.0 and s["suv_min"] == 3.0 and s["suv_std"] == 0.0
    assert s["suv_peak"] == pytest.approx(3.0, rel=1e-6)  # a sphere fits inside the 40 x 48 x 56 mm box
    assert s["volume_ml"] == pytest.approx(10 * 12 * 14 * 0.064)
    assert s["total_uptake_suv_ml"] == pytest.approx(3.0 * 10 * 12 * 14 * 0.064)


def test_suv_peak_of_a_linear_ramp_is_the_ramp_at_the_best_centre():
    # The sphere is symmetric, so its mean of a linear function is the value at its centre.
    k, j, i = np.indices(PET.shape_kji)
    suv = (1.0 + 0.05 * i + 0.02 * j).astype(np.float32)
    mask = np.zeros(PET.shape_kji, bool)
    mask[8:12, 8:12, 8:12] = True
    s = _stats(suv, {"Lesion 1": mask})["Lesion 1"]
    assert s["suv_peak"] == pytest.approx(1.0 + 0.05 * 11 + 0.02 * 11, rel=1e-6)
    i_c, j_c, k_c = PET.lps_to_index(s["suv_peak_centre_lps_mm"])
    assert (i_c, j_c) == pytest.approx((11, 11)) and 8 <= round(k_c) <= 11  # ties along k
    assert s["suv_max"] == pytest.approx(1.0 + 0.05 * 11 + 0.02 * 11, rel=1e-6)


def test_suv_peak_of_a_point_source_is_its_value_over_the_sphere_volume():
    # One hot voxel (64 mm^3) of 100: the sphere centred on it averages 100 x 64 / 998.3 (+-1 %).
    suv = np.zeros(PET.shape_kji, np.float32)
    suv[10, 12, 14] = 100.0
    mask = np.zeros(PET.shape_kji, bool)
    mask[9:12, 11:14, 13:16] = True
    s = _stats(suv, {"Lesion 1": mask})["Lesion 1"]
    assert s["suv_peak"] == pytest.approx(100.0 * 64.0 / 998.3, rel=0.01)
    assert s["suv_max"] == 100.0


def test_partial_voxel_weights_from_a_finer_grid():
    # Segmentation grid 3x finer, aligned so its voxel centres are the PET voxels' sub-samples:
    # each PET voxel's weight is exactly (fine voxels inside) / 27.
    fine = Grid((60, 72, 84), (4.0 / 3, 4.0 / 3, 4.0 / 3),
                tuple(np.array(PET.origin_lps_mm) - 4.0 / 3), np.eye(3))
    mask = np.zeros(fine.shape_kji, bool)
    mask[31:44, 30:47, 32:50] = True  # 13 x 17 x 18 fine voxels, not aligned with PET voxels
    k, j, i = np.indices(PET.shape_kji)
    suv = (2.0 + 0.1 * k + 0.01 * i).astype(np.float32)
    s = _stats(suv, {"Spleen": mask}, mask_grid=fine)["Spleen"]
    fine_ml = (4.0 / 3) ** 3 / 1000.0
    assert s["volume_ml"] == pytest.approx(13 * 17 * 18 * fine_ml, rel=1e-6)
    assert s["segment_volume_ml"] == pytest.approx(13 * 17 * 18 * fine_ml, rel=1e-12)
    # Truth: every fine voxel carries the SUV of the PET voxel containing it.
    fk, fj, fi = np.nonzero(mask)
    expected_mean = np.mean(suv[fk // 3, fj // 3, fi // 3])
    assert s["suv_mean"] == pytest.approx(expected_mean, rel=1e-6)
    # Max/min over the PET voxels covered at least half (weights counted exactly from the fine voxels).
    weights = np.zeros(PET.shape_kji)
    np.add.at(weights, (fk // 3, fj // 3, fi // 3), 1.0 / 27)
    core = weights >= 0.5
    assert s["suv_max"] == pytest.approx(suv[core].max()) and s["suv_min"] == pytest.approx(suv[core].min())


def test_empty_and_outside_segments_give_warnings_not_numbers():
    suv = np.ones(PET.shape_kji, np.float32)
    outside_grid = Grid((5, 5, 5), (4.0, 4.0, 4.0), (500.0, 500.0, 500.0))
    vois = [voi_weights("Spleen", np.zeros(PET.shape_kji, bool), PET, PET),
            voi_weights("Left kidney", np.ones((5, 5, 5), bool), outside_grid, PET)]
    empty, outside = voi_statistics(suv, PET, vois)
    assert empty["suv_mean"] is None and empty["suv_max"] is None and "empty segment" in empty["warnings"][0]
    assert outside["suv_mean"] is None and "outside the PET field of view" in outside["warnings"][0]
    assert outside["fraction_outside_pet_fov"] == 1.0 and outside["segment_volume_ml"] == pytest.approx(125 * 0.064)


def test_segment_partly_outside_the_fov_reports_the_fraction():
    # A 10 x 10 x 10 box on a grid shifted so that its first 4 slices lie below the PET.
    grid = Grid((10, 10, 10), (4.0, 4.0, 4.0), (-10.0, -10.0, -30.0 - 16.0))
    suv = np.ones(PET.shape_kji, np.float32)
    s = _stats(suv, {"Liver": np.ones((10, 10, 10), bool)}, mask_grid=grid)["Liver"]
    assert s["fraction_outside_pet_fov"] == pytest.approx(0.4)
    assert s["volume_ml"] == pytest.approx(600 * 0.064, rel=1e-6)
    assert any("outside the PET field of view" in w for w in s["warnings"])


def test_suv_peak_near_the_edge_averages_the_part_inside_with_a_warning():
    suv = np.full(PET.shape_kji, 2.0, np.float32)
    mask = np.zeros(PET.shape_kji, bool)
    mask[0:2, 0:2, 0:2] = True
    s = _stats(suv, {"Lesion 1": mask})["Lesion 1"]
    assert s["suv_peak"] == pytest.approx(2.0, rel=1e-6)  # not diluted by zeros outside the image
    assert any("cut by the edge" in w for w in s["warnings"])


def test_isocontours_at_41_and_50_percent():
    suv = np.ones(PET.shape_kji, np.float32)
    lesion = np.zeros(PET.shape_kji, bool)
    lesion[8:13, 8:13, 8:13] = True
    suv[8:13, 8:13, 8:13] = 3.0          # 125 voxels
    suv[9:12, 9:12, 9:12] = 4.5          # 27 voxels at 45 % of the max
    suv[10, 10, 10] = 10.0               # the max
    s = _stats(suv, {"Lesion 1": lesion}, lesions=("Lesion 1",))["Lesion 1"]
    iso41, iso50 = s["isocontours"]["41"], s["isocontours"]["50"]
    assert iso41["voxel_count"] == 27 and iso41["threshold_suv"] == pytest.approx(4.1)
    assert iso41["suv_mean"] == pytest.approx((26 * 4.5 + 10) / 27, rel=1e-6)
    assert iso50["voxel_count"] == 1 and iso50["volume_ml"] == pytest.approx(0.064)


def test_sphere_means_match_a_direct_sum_on_a_random_image():
    rng = np.random.default_rng(3)
    grid = Grid((12, 14, 16), (3.0, 3.5, 2.5))
    suv = rng.gamma(2.0, 1.0, grid.shape_kji).astype(np.float32)
    means = SphereMeans(suv, grid.spacing_mm)
    means.prepare([(slice(0, 12), slice(0, 14), slice(0, 16))])
    kernel = means.kernel
    h = np.array(kernel.shape) // 2
    padded = np.pad(suv.astype(float), [(int(n), int(n)) for n in h])
    valid = np.pad(np.ones(grid.shape_kji), [(int(n), int(n)) for n in h])
    points = np.array([[0, 0, 0], [6, 7, 8], [11, 13, 15], [3, 10, 1]])
    got, truncated = means.means_at(points)
    for (k, j, i), value in zip(points, got):
        window = padded[k:k + kernel.shape[0], j:j + kernel.shape[1], i:i + kernel.shape[2]]
        inside = valid[k:k + kernel.shape[0], j:j + kernel.shape[1], i:i + kernel.shape[2]]
        assert value == pytest.approx(np.sum(window * kernel) / np.sum(inside * kernel), rel=1e-5)
    assert truncated.tolist() == [True, False, True, True]


def test_weights_do_not_depend_on_how_the_mask_grid_is_cropped():
    # PET voxel centres fall exactly on faces of the 2 mm mask voxels (a common PET/CT alignment):
    # nearest-neighbour ties must be broken the same way whatever the mask grid's origin.
    ct = Grid((40, 40, 40), (2.0, 2.0, 2.0), (-51.0, -41.0, -31.0))
    k, j, i = np.indices(ct.shape_kji)
    centre = np.array([20, 20, 20])
    mask = (k - centre[0]) ** 2 + (j - centre[1]) ** 2 + (i - centre[2]) ** 2 <= 7.5 ** 2
    crop = (slice(10, 31), slice(11, 30), slice(12, 29))
    cropped = Grid((21, 19, 17), ct.spacing_mm, ct.index_to_lps((12, 11, 10)), ct.direction)
    full = voi_weights("Lesion 1", mask, ct, PET)
    part = voi_weights("Lesion 1", mask[crop], cropped, PET)
    assert full.box == part.box
    np.testing.assert_array_equal(full.weights, part.weights)
    assert full.weights.sum() * PET.voxel_volume_ml == pytest.approx(mask.sum() * ct.voxel_volume_ml, rel=0.02)
