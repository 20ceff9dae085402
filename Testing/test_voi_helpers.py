"""VOI helpers: known voxel counts, analytic isocontour radii, margins, marrow cylinders on a phantom spine."""

from __future__ import annotations

import numpy as np
import pytest

from iahepaticprrt.errors import InputError
from iahepaticprrt.imaging import voi_helpers as V
from iahepaticprrt.imaging.grid import Grid
from iahepaticprrt.imaging.volume import Volume

import synthetic_ct as body

UNIT_GRID = Grid((21, 21, 21), (1.0, 1.0, 1.0), (-10.0, -10.0, -10.0))


def test_sphere_counts_lattice_points():
    # Integer points with x^2 + y^2 + z^2 <= 4: 1 + 6 + 12 + 8 + 6 = 33.
    assert V.sphere_mask(UNIT_GRID, (0, 0, 0), 4.0).sum() == 33
    assert V.sphere_mask(UNIT_GRID, (0, 0, 0), 2.0).sum() == 7
    assert V.sphere_mask(UNIT_GRID, (500, 0, 0), 10.0).sum() == 0  # outside the grid: empty, no error
    fine = Grid((81, 81, 81), (0.5, 0.5, 0.5), (-20.0, -20.0, -20.0))
    volume_ml = V.sphere_mask(fine, (0.2, -0.1, 0.3), 30.0).sum() * fine.voxel_volume_ml
    assert volume_ml == pytest.approx(V.sphere_volume_ml(30.0), rel=0.01)
    with pytest.raises(InputError):
        V.sphere_mask(UNIT_GRID, (0, 0, 0), 0.0)


def test_box_and_cylinder_counts():
    assert V.box_mask(UNIT_GRID, (-2, -1, 0), (2, 1, 0)).sum() == 5 * 3 * 1
    assert V.box_mask(UNIT_GRID, (2.5, 1.5, 0.5), (-2.5, -1.5, -0.5)).sum() == 5 * 3 * 1  # corners in any order
    # Radius 1 (5 points per slice) over |z| <= 1 (3 slices).
    assert V.cylinder_mask(UNIT_GRID, (0, 0, 0), (0, 0, 1), 2.0, 2.0).sum() == 15
    # Along x instead: the same count, other voxels.
    along_x = V.cylinder_mask(UNIT_GRID, (0, 0, 0), (1, 0, 0), 2.0, 2.0)
    assert along_x.sum() == 15 and along_x[10, 10, 9] and along_x[10, 10, 11] and not along_x[10, 10, 12]


def test_dilate_and_erode_respect_anisotropic_spacing():
    grid = Grid((11, 11, 11), (1.0, 1.0, 2.0))
    point = np.zeros(grid.shape_kji, bool)
    point[5, 5, 5] = True
    grown = V.dilate_mm(point, grid, 3.0)
    assert grown[5, 5, 2] and grown[5, 5, 8] and not grown[5, 5, 1]   # i: 3 voxels of 1 mm
    assert grown[4, 5, 5] and grown[6, 5, 5] and not grown[3, 5, 5]   # k: 1 voxel of 2 mm (2 <= 3 < 4)
    block = np.zeros(grid.shape_kji, bool)
    block[2:9, 2:9, 2:9] = True
    shrunk = V.erode_mm(block, grid, 1.5)
    # Voxel centres farther than 1.5 mm from every outside voxel centre: one layer off along i and j
    # (1 mm from the outside), none along k (2 mm).
    assert shrunk.sum() == 5 * 5 * 7
    assert shrunk[2, 5, 5] and not shrunk[5, 5, 2]
    everything = V.erode_mm(np.ones(grid.shape_kji, bool), grid, 1.5)  # the grid edge counts as outside
    assert not everything[:, :, 0].any() and everything[0, 1:-1, 1:-1].all()


def gaussian_blob(grid: Grid, centre, sigma_mm: float, peak: float) -> np.ndarray:
    k, j, i = np.meshgrid(*(np.arange(n) for n in grid.shape_kji), indexing="ij")
    p = grid.index_to_lps(np.stack([i, j, k], axis=-1))
    r2 = np.sum((p - np.asarray(centre)) ** 2, axis=-1)
    return peak * np.exp(-r2 / (2.0 * sigma_mm ** 2))


def test_isocontour_in_sphere_matches_the_analytic_radius():
    grid = Grid((81, 81, 81), (0.5, 0.5, 0.5), (-20.0, -20.0, -20.0))
    sigma = 5.0
    values = gaussian_blob(grid, (0, 0, 0), sigma, 10.0) + gaussian_blob(grid, (0, 14.0, 0), 1.5, 6.0)
    suv = Volume(values.astype(np.float32), grid, "SUVbw")
    voi = V.isocontour_in_sphere(suv, (0, 2, 0), 40.0, 41.0)
    # exp(-r^2 / 2 sigma^2) = 0.41  =>  r = sigma sqrt(-2 ln 0.41)
    radius = sigma * np.sqrt(-2.0 * np.log(0.41))
    assert voi.volume_ml == pytest.approx(4.0 / 3.0 * np.pi * radius ** 3 / 1000.0, rel=0.03)
    assert voi.max_value == pytest.approx(10.0, rel=1e-6) and voi.threshold_value == pytest.approx(4.1, rel=1e-6)
    assert not voi.mask[40, 68, 40]  # the second hot spot (y = 14 mm) is above threshold but not connected
    # The same percentage of an activity image (Bq/mL) gives the same VOI; a background shifts nothing.
    activity = Volume((values * 2.5e4).astype(np.float32), grid, "Bq/mL")
    assert np.array_equal(V.isocontour_in_sphere(activity, (0, 2, 0), 40.0, 41.0).mask, voi.mask)
    shifted = Volume((values + 1.0).astype(np.float32), grid, "SUVbw")
    adapted = V.isocontour_in_sphere(shifted, (0, 2, 0), 40.0, 41.0, background_value=1.0)
    assert np.array_equal(adapted.mask, voi.mask)
    assert adapted.threshold_value == pytest.approx(1.0 + 0.41 * 10.0, rel=1e-5)
    box = V.isocontour_in_box(suv, (-10, -10, -10), (10, 10, 10), 50.0)
    assert box.volume_ml == pytest.approx(4.0 / 3.0 * np.pi * (sigma * np.sqrt(2.0 * np.log(2.0))) ** 3 / 1000.0,
                                          rel=0.03)
    with pytest.raises(InputError):
        V.isocontour_in_sphere(suv, (0, 0, 0), 10.0, 0.0)
    with pytest.raises(InputError):
        V.isocontour_in_sphere(suv, (500, 0, 0), 10.0, 41.0)


def test_healthy_liver_excludes_lesions_and_margin():
    grid = Grid((41, 81, 81), (1.0, 1.0, 2.0), (-40.0, -40.0, -40.0))
    liver = V.sphere_mask(grid, (0, 0, 0), 70.0)
    lesion_a = V.sphere_mask(grid, (-12, 5, 4), 16.0)
    lesion_b = V.sphere_mask(grid, (15, -10, -6), 10.0)
    assert np.array_equal(V.healthy_liver(liver, [lesion_a, lesion_b], grid, 0.0), liver & ~lesion_a & ~lesion_b)
    healthy = V.healthy_liver(liver, [lesion_a, lesion_b], grid, 5.0)
    distance_a = V.distance_to_mask_mm(lesion_a, grid)
    distance_b = V.distance_to_mask_mm(lesion_b, grid)
    near = (distance_a <= 5.0) | (distance_b <= 5.0)
    assert not (healthy & near).any()
    assert np.array_equal(healthy, liver & ~near)
    # Known geometry: every liver voxel centre more than 8 + 5 + 1 mm from lesion A's centre and
    # 5 + 5 + 1 mm from B's is healthy; none closer than 8 + 5 - 1 mm (voxel-centre discretisation).
    k, j, i = np.meshgrid(*(np.arange(n) for n in grid.shape_kji), indexing="ij")
    p = grid.index_to_lps(np.stack([i, j, k], axis=-1))
    ra = np.linalg.norm(p - (-12, 5, 4), axis=-1)
    rb = np.linalg.norm(p - (15, -10, -6), axis=-1)
    assert np.all(healthy[liver & (ra > 14.0) & (rb > 11.0)])
    assert not np.any(healthy[(ra < 12.0) | (rb < 9.0)])
    with pytest.raises(InputError):
        V.healthy_liver(liver, lesion_a, grid, -1.0)


# ---- bone marrow on the phantom spine -------------------------------------------------------------
SPINE_GRID = body.default_grid(spacing_mm=(1.0, 1.0, 2.0), extent_mm=(100.0, 100.0, 130.0), center=(0.0, 75.0, 20.0))
# Vertebral bodies span z in [8 + 32 n, 32 (n + 1)]: centres at 32 n + 20 mm, axis (0, 70).
TRUE_CENTRES = {"L2": (0.0, 70.0, 52.0), "L3": (0.0, 70.0, 20.0), "L4": (0.0, 70.0, -12.0)}


@pytest.fixture(scope="module")
def spine():
    ct = body.body_ct(SPINE_GRID, noise_hu=15.0, seed=7)
    masks = body.segmentation(SPINE_GRID, names=("Vertebral bodies", "Cortex"))
    trabecular = masks.mask("Vertebral bodies") & ~masks.mask("Cortex")
    return ct, trabecular


def test_marrow_cylinders_from_points(spine):
    _, trabecular = spine
    marrow = V.marrow_cylinders(SPINE_GRID, list(TRUE_CENTRES.values()), diameter_mm=20.0, height_mm=15.0)
    assert marrow.any() and not (marrow & ~trabecular).any()
    expected_ml = 3 * np.pi * 10.0 ** 2 * 15.0 / 1000.0
    assert marrow.sum() * SPINE_GRID.voxel_volume_ml == pytest.approx(expected_ml, rel=0.1)
    with pytest.raises(InputError):
        V.marrow_cylinders(SPINE_GRID, [(0, 70, 20), (0, 70, 20)])


def test_vertebral_bodies_found_from_ct(spine):
    ct, trabecular = spine
    # Clicks up to 10 mm off in-plane and 5 mm along the spine.
    clicks = [(6.0, 62.0, 57.0), (-8.0, 77.0, 16.0), (5.0, 80.0, -8.0)]
    bodies = V.find_vertebral_bodies(ct, clicks)
    assert [b.level for b in bodies] == ["L2", "L3", "L4"]
    for found in bodies:
        truth = np.array(TRUE_CENTRES[found.level])
        assert np.linalg.norm(np.subtract(found.centre_lps_mm[:2], truth[:2])) <= 1.5, found
        assert abs(found.centre_lps_mm[2] - truth[2]) <= 1.5, found
        assert found.height_mm == pytest.approx(24.0, abs=2.5)        # body height between the discs
        assert found.inscribed_radius_mm == pytest.approx(16.0, abs=1.5)  # the body's semi-minor axis
    marrow, _ = V.marrow_voi_from_ct(ct, clicks)
    assert marrow.any() and not (marrow & ~trabecular).any()
    with pytest.raises(InputError, match="L2"):
        V.find_vertebral_bodies(ct, [(45.0, 30.0, 20.0)])  # soft tissue far from the spine
