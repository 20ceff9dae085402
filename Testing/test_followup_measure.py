"""Lesion measurements (followup/measure.py) and carried-lesion refinement (followup/carry_over.py)
against shapes whose answers are known (docs/physics.md section 28)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from iahepaticprrt.followup.carry_over import LesionContrast, fine_grid, refine_lesion
from iahepaticprrt.followup.measure import measure_lesion, outline_points
from iahepaticprrt.imaging.grid import Grid
from iahepaticprrt.phantom.shapes import IDENTITY, Sphere, Tissue, paint


def _grid_points(grid: Grid) -> np.ndarray:
    kk, jj, ii = np.indices(grid.shape_kji)
    return grid.index_to_lps(np.stack([ii, jj, kk], axis=-1))


def test_one_voxel_measures_one_voxel():
    grid = Grid((3, 3, 3), (0.8, 0.6, 2.0))
    mask = np.zeros(grid.shape_kji, bool)
    mask[1, 1, 1] = True
    m = measure_lesion(mask, grid, "dot")
    # Outline half a voxel each side: 0.8 mm along i (the longer side), 0.6 mm across it.
    assert m.longest_diameter_mm == pytest.approx(0.8)
    assert m.short_axis_mm == pytest.approx(0.6)
    assert m.volume_ml == pytest.approx(0.8 * 0.6 * 2.0 / 1000.0)


def test_bar_end_points_in_patient_coordinates():
    grid = Grid((6, 5, 8), (1.0, 1.0, 2.0), (10.0, 20.0, 30.0))
    mask = np.zeros(grid.shape_kji, bool)
    mask[3, 2, 1:6] = True  # voxels i = 1..5 of row j = 2, slice k = 3
    m = measure_lesion(mask, grid, "bar")
    assert m.longest_diameter_mm == pytest.approx(5.0)   # outline from i = 0.5 to i = 5.5
    assert m.short_axis_mm == pytest.approx(1.0)
    ends = sorted(m.longest_diameter_end_points_lps_mm)
    # x = 10 + i, y = 20 + j, z = 30 + 2 k
    assert ends[0] == pytest.approx([10.5, 22.0, 36.0])
    assert ends[1] == pytest.approx([15.5, 22.0, 36.0])
    assert m.slice_index == 3 and m.plane_normal_lps == pytest.approx([0.0, 0.0, 1.0])


def test_outline_points_are_half_way_to_the_outside():
    mask = np.array([[0, 0, 0], [0, 1, 1], [0, 0, 0]], bool)  # [j, i]
    points = {tuple(p) for p in outline_points(mask).tolist()}
    assert points == {(0.5, 1.0), (2.5, 1.0), (1.0, 0.5), (1.0, 1.5), (2.0, 0.5), (2.0, 1.5)}


@pytest.mark.parametrize("radius_mm", [4.0, 7.5, 15.0])
def test_sphere_diameter_within_a_voxel_and_volume_by_count(radius_mm):
    grid = Grid((30, 70, 70), (0.5, 0.5, 1.0), (-17.0, -17.0, -14.5))
    centre = np.array([0.13, -0.21, 0.37])
    mask = np.linalg.norm(_grid_points(grid) - centre, axis=-1) <= radius_mm
    m = measure_lesion(mask, grid, "sphere")
    assert abs(m.longest_diameter_mm - 2.0 * radius_mm) <= 0.5  # one in-plane voxel
    assert m.volume_ml == pytest.approx(mask.sum() * 0.25 / 1000.0)
    assert m.volume_ml == pytest.approx(4.0 / 3.0 * math.pi * radius_mm ** 3 / 1000.0, rel=0.03)
    a, b = np.array(m.longest_diameter_end_points_lps_mm)
    assert np.linalg.norm(a - b) == pytest.approx(m.longest_diameter_mm)
    assert abs(a[2] - centre[2]) <= 0.5  # the longest diameter lies in the slice through the centre


def test_empty_mask_is_an_absent_lesion_and_oblique_slices_are_named():
    grid = Grid((4, 4, 4), (1.0, 1.0, 1.0))
    m = measure_lesion(np.zeros(grid.shape_kji, bool), grid, "gone")
    assert not m.present and m.volume_ml == 0.0 and m.longest_diameter_mm == 0.0
    c, s = math.cos(math.radians(20)), math.sin(math.radians(20))
    oblique = Grid((4, 4, 4), (1.0, 1.0, 1.0), direction=np.array([[1, 0, 0], [0, c, -s], [0, s, c]]))
    mask = np.zeros(oblique.shape_kji, bool)
    mask[1:3, 1:3, 1:3] = True
    assert any("not axial" in w for w in measure_lesion(mask, oblique, "x").warnings)


def _painted(grid: Grid, centre, radius_mm: float, lesion=250.0, background=100.0, noise=4.0, seed=0):
    """A uniform sphere painted with partial-voxel coverage in a uniform background, plus noise."""
    tissues = [Tissue("background", [Sphere((0.0, 0.0, 0.0), 500.0)], 0.0, 1.0),
               Tissue("lesion", [Sphere(tuple(centre), radius_mm)], 0.0, 1.0, parent="background")]
    image = paint(grid, IDENTITY, tissues, {"background": background, "lesion": lesion})
    return image + np.random.default_rng(seed).normal(0.0, noise, grid.shape_kji)


REFINE_GRID = Grid((40, 80, 80), (1.0, 1.0, 2.0), (-39.5, -39.5, -39.0))


@pytest.mark.parametrize("radius_mm, shift_mm", [(4.0, (2.0, 0.0, 3.0)), (9.0, (0.0, -4.0, 0.0)),
                                                   (14.0, (1.0, 1.0, -1.0))])
def test_carried_lesion_refined_to_its_true_volume(radius_mm, shift_mm):
    """The baseline VOI (a 12 mm sphere) is carried to where the lesion was; the lesion has shrunk
    or grown and moved. Its refined volume is within 3 % of the sphere's (4/3 pi r^3), its diameter
    within one voxel (1 mm)."""
    centre = np.array([0.3, -0.2, 0.7])
    image = _painted(REFINE_GRID, centre + shift_mm, radius_mm)
    carried = np.linalg.norm(_grid_points(REFINE_GRID) - centre, axis=-1) <= 12.0
    refined = refine_lesion(image, REFINE_GRID, carried, +1.0, "lesion")
    truth_ml = 4.0 / 3.0 * math.pi * radius_mm ** 3 / 1000.0
    assert refined.detected
    assert refined.volume_ml == pytest.approx(truth_ml, rel=0.03)
    assert refined.displacement_mm == pytest.approx(np.linalg.norm(shift_mm), abs=0.5)
    m = measure_lesion(refined.mask, refined.grid, "lesion")
    assert abs(m.longest_diameter_mm - 2.0 * radius_mm) <= 1.0
    assert 0.25 <= refined.level_fraction <= 0.75 and not refined.warnings


def test_dark_lesion_refined_with_its_polarity():
    centre = np.array([0.0, 0.0, 0.0])
    image = _painted(REFINE_GRID, centre, 8.0, lesion=40.0, background=110.0, noise=5.0)
    carried = np.linalg.norm(_grid_points(REFINE_GRID) - centre, axis=-1) <= 10.0
    refined = refine_lesion(image, REFINE_GRID, carried, -1.0, "lesion")
    assert refined.volume_ml == pytest.approx(4.0 / 3.0 * math.pi * 8.0 ** 3 / 1000.0, rel=0.03)


def test_vanished_lesion_is_recorded_gone_and_a_lesion_beyond_the_margin_is_named():
    noise_only = 100.0 + np.random.default_rng(3).normal(0.0, 4.0, REFINE_GRID.shape_kji)
    carried = np.linalg.norm(_grid_points(REFINE_GRID), axis=-1) <= 8.0
    gone = refine_lesion(noise_only, REFINE_GRID, carried, +1.0, "lesion")
    assert gone.detected is False and gone.volume_ml == 0.0 and "disappeared" in gone.warnings[0]
    # Grown past the search region's edge on one side: measured, with a warning.
    edge = _painted(REFINE_GRID, (9.0, 0.0, 0.0), 10.0)
    grown = refine_lesion(edge, REFINE_GRID, carried, +1.0, "lesion", margin_mm=4.0)
    assert grown.detected and any("edge of the search region" in w for w in grown.warnings)
    # Grown over the whole search region: never "gone", not evaluated (with the baseline's contrast).
    big = _painted(REFINE_GRID, (0.0, 0.0, 0.0), 25.0)
    baseline = LesionContrast(+1.0, 250.0, 100.0, 4.0)
    filled = refine_lesion(big, REFINE_GRID, carried, +1.0, "lesion", margin_mm=6.0, baseline=baseline)
    assert filled.detected is None and "looks like lesion everywhere" in filled.warnings[0]


def test_fine_grid_is_a_sub_lattice_of_its_image():
    grid = Grid((4, 5, 6), (1.0, 1.2, 2.0), (3.0, 4.0, 5.0))
    fine = fine_grid(grid, (2, 2, 4))
    assert fine.shape_kji == (16, 10, 12) and fine.spacing_mm == pytest.approx((0.5, 0.6, 0.5))
    # The mean of a voxel's sub-voxel centres is the voxel's centre.
    sub = fine.index_to_lps(np.array([[i, j, k] for i in range(2) for j in range(2) for k in range(4)], float))
    assert sub.mean(axis=0) == pytest.approx(grid.index_to_lps((0.0, 0.0, 0.0)))
