"""The hybrid VOI-voxel TIA map and the body contour (docs/physics.md section 6.1), on phantoms whose
answer the test states: nested spheres with partial voxels, a VOI made only of smaller ones, a VOI
without activity at the reference time, and a CT with lungs, trachea and a couch."""

from __future__ import annotations

import numpy as np
import pytest

from iahepaticprrt.dosimetry.body_mask import body_mask
from iahepaticprrt.dosimetry.ct_density import DEFAULT_CALIBRATION
from iahepaticprrt.dosimetry.masses import density_on_grid
from iahepaticprrt.dosimetry.tia_map import SparseWeights, hybrid_tia_map
from iahepaticprrt.imaging.grid import Grid
from iahepaticprrt.imaging.segmentation import Segmentation, resample_mask
from iahepaticprrt.imaging.volume import Volume

DOSE_GRID = Grid((30, 30, 30), (4.8, 4.8, 4.8), (-69.6, -69.6, -69.6))
SEG_GRID = Grid((70, 70, 70), (2.0, 2.0, 2.0), (-69.0, -69.0, -69.0))  # finer: partial voxels on the dose grid


def _distance(grid, centre):
    k, j, i = np.indices(grid.shape_kji)
    lps = grid.index_to_lps(np.stack([i, j, k], -1).reshape(-1, 3).astype(float)).reshape(*grid.shape_kji, 3)
    return np.linalg.norm(lps - np.asarray(centre, float), axis=-1)


def _segmentation(spheres):
    seg = Segmentation(SEG_GRID)
    for name, centre, radius in spheres:
        seg.add(name, _distance(SEG_GRID, centre) <= radius)
    return seg


def _weights(seg):
    return {s.name: SparseWeights.from_dense(resample_mask(s.mask, SEG_GRID, DOSE_GRID, "fraction"))
            for s in seg.segments}


def _reference_activity():
    # A smooth, non-uniform activity (MBq per voxel), positive everywhere.
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(4)
    return gaussian_filter(rng.uniform(0.5, 1.5, DOSE_GRID.shape_kji), 2.0).astype(np.float32)


SPHERES = [("Body", (0, 0, 0), 60.0), ("Liver", (-10, 5, 0), 35.0), ("Lesion 1", (-20, 5, 8), 12.0),
           ("Spleen", (35, -10, 0), 14.0)]
TIAS = {"Body": 5000.0, "Liver": 2000.0, "Lesion 1": 800.0, "Spleen": 300.0}


def test_nested_vois_hold_exactly_their_own_tia_with_partial_voxels():
    seg = _segmentation(SPHERES)
    weights = _weights(seg)
    body = _distance(DOSE_GRID, (0, 0, 0)) <= 63.0
    voxel_tia = np.full(DOSE_GRID.shape_kji, 7.0, np.float32)  # the fallback for voxels in no VOI
    result = hybrid_tia_map(_reference_activity(), TIAS, weights, seg, DOSE_GRID, body, voxel_tia)
    for name, tia in TIAS.items():
        held = weights[name].dot(result.tia_mbqh)
        print(f"{name}: map {held:.3f} MBq h, fitted {tia:.3f}")
        assert held == pytest.approx(tia, rel=1e-4)
        assert result.map_tia_mbqh[name] == pytest.approx(tia, rel=1e-4)
    assert not result.warnings
    assert float(result.tia_mbqh[~body].max()) == 0.0  # nothing outside the body
    # Voxels of the body in no VOI keep their voxel-wise TIA (whole voxels outside the Body segment).
    body_segment = resample_mask(seg.segments[0].mask, SEG_GRID, DOSE_GRID, "fraction")
    rest = body & (body_segment == 0)
    assert rest.any() and np.allclose(result.tia_mbqh[rest], 7.0)
    # Inside the lesion, away from its boundary, the TIA follows the reference activity: one scale.
    lesion = resample_mask(seg.segments[2].mask, SEG_GRID, DOSE_GRID, "fraction") == 1.0
    ratio = result.tia_mbqh[lesion] / _reference_activity()[lesion]
    assert ratio.std() / ratio.mean() < 1e-5


def test_a_voi_made_only_of_smaller_vois_holds_their_sum_with_a_warning():
    # "Liver" = "Lesion 1" + "Healthy liver" exactly: it owns no voxel; its fit (10 % below its parts) cannot
    # be matched without pulling its parts off theirs, so it holds their sum and says so.
    liver = _distance(SEG_GRID, (-10, 5, 0)) <= 35.0
    lesion = _distance(SEG_GRID, (-20, 5, 8)) <= 12.0
    seg = Segmentation(SEG_GRID)
    seg.add("Liver", liver)
    seg.add("Lesion 1", lesion)
    seg.add("Healthy liver", liver & ~lesion)
    tias = {"Liver": 0.9 * 2800.0, "Lesion 1": 800.0, "Healthy liver": 2000.0}
    weights = _weights(seg)
    result = hybrid_tia_map(_reference_activity(), tias, weights, seg, DOSE_GRID, None,
                            np.zeros(DOSE_GRID.shape_kji, np.float32))
    assert weights["Lesion 1"].dot(result.tia_mbqh) == pytest.approx(800.0, rel=1e-3)
    assert weights["Healthy liver"].dot(result.tia_mbqh) == pytest.approx(2000.0, rel=1e-3)
    assert weights["Liver"].dot(result.tia_mbqh) == pytest.approx(2800.0, rel=1e-3)
    [warning] = result.warnings["Liver"]
    assert "owns no voxel" in warning and "+11.1 %" in warning


def test_a_voi_without_activity_at_the_reference_time_is_filled_uniformly():
    seg = _segmentation([("Spleen", (35, -10, 0), 14.0)])
    weights = _weights(seg)
    activity = _reference_activity()
    activity[_distance(DOSE_GRID, (35, -10, 0)) <= 25.0] = 0.0  # nothing there at the reference time
    result = hybrid_tia_map(activity, {"Spleen": 300.0}, weights, seg, DOSE_GRID, None,
                            np.zeros(DOSE_GRID.shape_kji, np.float32))
    assert weights["Spleen"].dot(result.tia_mbqh) == pytest.approx(300.0, rel=1e-4)
    core = resample_mask(seg.segments[0].mask, SEG_GRID, DOSE_GRID, "fraction") == 1.0
    assert np.allclose(result.tia_mbqh[core], result.tia_mbqh[core].mean(), rtol=1e-5)
    assert any("spread uniformly" in w for w in result.warnings["Spleen"])


# ---- the body contour ------------------------------------------------------------------------------
def _ct_with_lungs_trachea_and_couch():
    grid = Grid((60, 80, 80), (2.5, 2.5, 2.5), (-98.75, -98.75, -73.75))  # shape k, j, i
    k, j, i = np.indices(grid.shape_kji)
    lps = grid.index_to_lps(np.stack([i, j, k], -1).reshape(-1, 3).astype(float)).reshape(*grid.shape_kji, 3)
    x, y, z = lps[..., 0], lps[..., 1], lps[..., 2]
    hu = np.full(grid.shape_kji, -1000.0, np.float32)
    body = (x / 80.0) ** 2 + (y / 55.0) ** 2 <= 1.0                     # an elliptic cylinder, every slice
    hu[body] = 40.0
    lungs = (((x - 35) / 22.0) ** 2 + (y / 30.0) ** 2 + ((z - 20) / 40.0) ** 2 <= 1.0) | \
            (((x + 35) / 22.0) ** 2 + (y / 30.0) ** 2 + ((z - 20) / 40.0) ** 2 <= 1.0)
    hu[lungs] = -850.0
    trachea = (x ** 2 + y ** 2 <= 8.0 ** 2) & (z >= 20.0)               # air up to the top of the field of view
    hu[trachea] = -1000.0
    couch = (y >= 65.0) & (y <= 75.0) & (np.abs(x) <= 95.0)            # below the patient, 10 mm of air between
    hu[couch] = 200.0
    return Volume(hu, grid), dict(body=body, lungs=lungs, trachea=trachea, couch=couch), lps


def test_body_contour_from_ct_keeps_lungs_and_trachea_and_drops_air_and_couch():
    ct, parts, _ = _ct_with_lungs_trachea_and_couch()
    grid = Grid((30, 40, 40), (5.0, 5.0, 5.0), (-97.5, -97.5, -72.5))
    density, _ = density_on_grid(ct, grid, DEFAULT_CALIBRATION)
    mask, source = body_mask(ct, grid, density, DEFAULT_CALIBRATION, Segmentation(grid))
    assert source.startswith("reference CT")

    def fraction_inside(part):
        coverage = resample_mask(part, ct.grid, grid, "fraction")
        whole = coverage == 1.0
        return float(mask[whole].mean())

    assert fraction_inside(parts["lungs"]) == 1.0          # filled holes
    assert fraction_inside(parts["trachea"] & parts["body"]) == 1.0  # open to the top: filled slice by slice
    assert fraction_inside(parts["couch"]) == 0.0          # not the largest component
    outside = resample_mask(~parts["body"] & ~parts["couch"], ct.grid, grid, "fraction") == 1.0
    assert float(mask[outside].mean()) == 0.0              # air around the patient
    body = resample_mask(parts["body"], ct.grid, grid, "fraction") == 1.0
    assert float(mask[body].mean()) == 1.0


def test_body_contour_without_ct_from_a_body_segment_or_none():
    grid = DOSE_GRID
    seg = Segmentation(SEG_GRID)
    seg.add("Lesion 1", _distance(SEG_GRID, (0, 0, 0)) <= 10.0)
    density = np.ones(grid.shape_kji, np.float32)
    mask, source = body_mask(None, grid, density, DEFAULT_CALIBRATION, seg)
    assert mask is None and source.startswith("none")
    seg.add("BODY", _distance(SEG_GRID, (0, 0, 0)) <= 50.0)  # the name in any case
    mask, source = body_mask(None, grid, density, DEFAULT_CALIBRATION, seg)
    assert "BODY" in source
    coverage = resample_mask(seg.segments[1].mask, SEG_GRID, grid, "fraction")
    np.testing.assert_array_equal(mask, coverage >= 0.5)
