"""Registration: known rigid motions of an analytic body CT recovered; failures refused; VOIs carried.

Truth convention (the synthetic patient's): x_moving = R (x_fixed - c) + c + t, LPS mm, R = Rz Rx Ry
from rotation_deg (rx, ry, rz) (SimpleITK's Euler3D order). The registration transform maps fixed
points to moving points, so it estimates exactly that mapping.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import SimpleITK as sitk

from iahepaticprrt.errors import ComputationError
from iahepaticprrt.imaging import transforms as T
from iahepaticprrt.imaging.voi_helpers import dilate_mm
from iahepaticprrt.imaging.volume import Volume
from iahepaticprrt.io.transform_files import read_transform, write_transform
from iahepaticprrt.registration.propagation import compare_with_target, dice, propagate_mask, propagate_segmentation
from iahepaticprrt.registration.register import refine_affine, register_deformable, register_multimodal, register_rigid

import synthetic_ct as body

LIVER_CENTRE = (-60.0, 0.0, 25.0)
LESION_CENTRES = [c for c, _, _ in body.LESIONS.values()]

# "IA day 0" (fixed) and "IV day 3" (moving): different grids, the patient moved and turned.
IA_GRID = body.default_grid(spacing_mm=(3.0, 3.0, 3.0))
IV_GRID = body.default_grid(spacing_mm=(2.5, 2.5, 4.0), center=(5.0, 0.0, 20.0))
IV_TRUTH = {"translation_mm": (6.0, -4.0, 9.0), "rotation_deg": (2.0, -1.5, 3.0), "center_lps_mm": LIVER_CENTRE}
# SPECT/CT time points 1 (fixed) and 2 (moving): low-dose CT grids, truth stated about another centre.
TP1_GRID = body.default_grid(spacing_mm=(3.0, 3.0, 4.0), extent_mm=(360.0, 260.0, 200.0), center=(0.0, 10.0, 10.0))
TP2_GRID = body.default_grid(spacing_mm=(3.0, 3.0, 4.0), extent_mm=(360.0, 260.0, 200.0), center=(0.0, 10.0, 25.0))
TP2_TRUTH = {"translation_mm": (-3.0, 5.0, -4.0), "rotation_deg": (-1.0, 0.5, -2.0), "center_lps_mm": (0.0, 0.0, 0.0)}
# Coarse grids for the tests of failures (they need no accuracy, only speed).
COARSE_GRID = body.default_grid(spacing_mm=(6.0, 6.0, 6.0))


def truth_transform(truth: dict):
    return T.rigid_transform(truth["translation_mm"], truth["rotation_deg"], truth["center_lps_mm"])


def assert_recovers(result, truth: dict):
    """Translation within 1 mm and rotation within 0.5 degree, about the truth's own centre."""
    estimated = result.parameters_about(truth["center_lps_mm"])
    translation_error = np.linalg.norm(np.subtract(estimated.translation_mm, truth["translation_mm"]))
    assert translation_error < 1.0, (estimated, truth)
    assert np.max(np.abs(np.subtract(estimated.rotation_deg, truth["rotation_deg"]))) < 0.5, (estimated, truth)
    error = T.rigid_error(result.transform, truth_transform(truth), LESION_CENTRES + [LIVER_CENTRE])
    assert error["rotation_error_deg"] < 0.5
    assert error["max_point_error_mm"] < 1.0
    return translation_error, error


@pytest.fixture(scope="module")
def ia_iv():
    truth = truth_transform(IV_TRUTH)
    fixed = body.body_ct(IA_GRID, noise_hu=10.0, seed=11)
    moving = body.body_ct(IV_GRID, truth.GetInverse(), noise_hu=10.0, seed=12)
    return fixed, moving, truth


@pytest.fixture(scope="module")
def ia_iv_result(ia_iv):
    fixed, moving, _ = ia_iv
    return register_rigid(fixed, moving)


# ---- conventions --------------------------------------------------------------------------------
def test_rotation_conventions():
    assert np.allclose(T.rotation_matrix((0, 0, 90)) @ [1, 0, 0], [0, 1, 0])  # right-handed about z
    assert np.allclose(T.rotation_matrix((90, 0, 0)) @ [0, 1, 0], [0, 0, 1])
    # Order "xyz": x first, then y, then z.
    assert np.allclose(T.rotation_matrix((90, 90, 0), "xyz") @ [0, 1, 0], T.rotation_matrix((0, 90, 0)) @ [0, 0, 1])
    # The default, "yxz" (y first, then x, then z), is SimpleITK's Euler3D and the synthetic patient's.
    assert np.allclose(T.rotation_matrix((90, 90, 0)) @ [0, 0, 1], T.rotation_matrix((90, 0, 0)) @ [1, 0, 0])
    euler = sitk.Euler3DTransform()
    euler.SetRotation(*np.radians([10.0, 20.0, 30.0]))
    assert np.allclose(np.reshape(euler.GetMatrix(), (3, 3)), T.rotation_matrix((10, 20, 30)))
    rng = np.random.default_rng(3)
    for order in map("".join, itertools.permutations("xyz")):
        for _ in range(20):
            angles = rng.uniform(-80, 80, 3)
            assert np.allclose(T.euler_angles_deg(T.rotation_matrix(angles, order), order), angles, atol=1e-8)
    assert T.rotation_angle_deg(T.rotation_matrix((0, 0, 7.5))) == pytest.approx(7.5)


def test_rigid_parameters_about_another_centre():
    c, t, angles = np.array([10.0, -20.0, 30.0]), np.array([1.0, 2.0, 3.0]), (4.0, -5.0, 6.0)
    transform = T.rigid_transform(t, angles, c)
    x = np.array([50.0, 60.0, -70.0])
    r = T.rotation_matrix(angles)
    assert np.allclose(transform.TransformPoint(tuple(x)), r @ (x - c) + c + t)
    other = np.array([-100.0, 40.0, 5.0])
    parameters = T.rigid_parameters(transform, other)
    # t' = t + (R - I)(c' - c): a rotation about another centre needs another translation.
    assert np.allclose(parameters.translation_mm, t + (r - np.eye(3)) @ (other - c))
    assert np.allclose(parameters.rotation_deg, angles)
    assert np.allclose(T.rigid_parameters(transform, c).translation_mm, t)
    other_order = T.rigid_parameters(transform, c, order="xyz")
    assert np.allclose(T.rotation_matrix(other_order.rotation_deg, "xyz"), r)
    assert not np.allclose(other_order.rotation_deg, angles, atol=1e-3)  # the order matters


def test_transform_files_round_trip(tmp_path, ia_iv_result):
    rigid = ia_iv_result.transform
    bspline = sitk.BSplineTransformInitializer(IA_GRID.to_sitk(np.zeros(IA_GRID.shape_kji, np.uint8)), [3, 3, 3], 3)
    parameters = np.random.default_rng(0).normal(0.0, 3.0, len(bspline.GetParameters()))
    bspline.SetParameters(tuple(parameters))
    composite = sitk.CompositeTransform([rigid, bspline])
    points = np.array(LESION_CENTRES)
    for transform, name in ((rigid, "rigid.tfm"), (composite, "deformable.h5"), (composite, "deformable.tfm")):
        path = write_transform(transform, tmp_path / name)
        back = read_transform(path)
        assert np.allclose(T.transform_points(back, points), T.transform_points(transform, points), atol=1e-6)
    assert read_transform(tmp_path / "rigid.tfm").GetName() == "Euler3DTransform"


# ---- CT to CT -------------------------------------------------------------------------------------
def test_ia_iv_rigid_motion_recovered(ia_iv, ia_iv_result):
    fixed, moving, truth = ia_iv
    assert_recovers(ia_iv_result, IV_TRUTH)
    assert ia_iv_result.metric_value < ia_iv_result.initial_metric_value
    assert ia_iv_result.overlap_fraction > 0.9
    summary = ia_iv_result.to_dict()
    assert summary["rigid"]["center_lps_mm"] == list(ia_iv_result.center_lps_mm)
    assert "x_moving = R (x_fixed - c) + c + t" in summary["rigid"]["convention"]


def test_ia_iv_propagated_vois(ia_iv, ia_iv_result):
    """IV VOIs carried onto the IA grid match the IA truth: lesions (20-30 mm) Dice >= 0.9, liver >= 0.95."""
    truth = ia_iv[2]
    iv_segments = body.segmentation(IV_GRID, truth.GetInverse())
    ia_segments = body.segmentation(IA_GRID)
    result = propagate_segmentation(iv_segments, ia_iv_result.transform, IA_GRID)
    scores = {row["segment"]: row["dice"] for row in compare_with_target(result.segmentation, ia_segments)}
    for name in body.LESIONS:
        assert scores[name] >= 0.9, (name, scores)
    assert scores["Liver"] >= 0.95
    assert scores["Left kidney"] >= 0.95 and scores["Spleen"] >= 0.95
    rows = {row["segment"]: row for row in result.rows}
    # Volumes before (IV grid) and after (IA grid) agree within a few per cent for VOIs of 4 mL and more.
    for name in ("Liver", *body.LESIONS):
        assert rows[name]["volume_ratio"] == pytest.approx(1.0, abs=0.06)
    assert rows["Lesion 3"]["volume_ml_before"] == pytest.approx(np.pi / 6 * 20.0 ** 3 / 1000.0, rel=0.1)
    assert rows["Lesion 1"]["role"] == "target_lesion" and rows["Liver"]["role"] == "organ"


def test_fraction_mode_beats_nearest_for_small_lesions(ia_iv):
    truth = ia_iv[2]
    iv = body.segmentation(IV_GRID, truth.GetInverse(), names=("Lesion 3",)).mask("Lesion 3")
    ia = body.segmentation(IA_GRID, names=("Lesion 3",)).mask("Lesion 3")
    by_fraction = dice(propagate_mask(iv, IV_GRID, IA_GRID, truth, "fraction"), ia)
    by_nearest = dice(propagate_mask(iv, IV_GRID, IA_GRID, truth, "nearest"), ia)
    assert by_fraction > by_nearest
    fractions = propagate_mask(iv, IV_GRID, IA_GRID, truth, "fraction", return_fraction=True)
    assert 0.0 <= fractions.min() and fractions.max() <= 1.0
    # Coverage-weighted volume = the source volume (the transform is rigid).
    assert fractions.sum() * IA_GRID.voxel_volume_ml == pytest.approx(iv.sum() * IV_GRID.voxel_volume_ml, rel=0.03)


def test_spect_time_points_with_liver_region():
    truth = truth_transform(TP2_TRUTH)
    fixed = body.body_ct(TP1_GRID, noise_hu=20.0, seed=21)
    moving = body.body_ct(TP2_GRID, truth.GetInverse(), noise_hu=20.0, seed=22)
    liver = body.segmentation(TP1_GRID, names=("Liver",)).mask("Liver")
    region = dilate_mm(liver, TP1_GRID, 30.0)
    fixed_before, moving_before, region_before = fixed.array.copy(), moving.array.copy(), region.copy()
    result = register_rigid(fixed, moving, region, metric="correlation")
    assert_recovers(result, TP2_TRUTH)
    # Parameters are reported about the region's centre unless asked otherwise.
    assert np.linalg.norm(np.subtract(result.center_lps_mm, LIVER_CENTRE)) < 10.0
    # Registration never changes its inputs.
    assert np.array_equal(fixed.array, fixed_before) and np.array_equal(moving.array, moving_before)
    assert np.array_equal(region, region_before)


def test_same_scan_gives_identity():
    fixed = body.body_ct(COARSE_GRID, noise_hu=10.0, seed=5)
    result = register_rigid(fixed, fixed, initialization="none")
    error = T.rigid_error(result.transform, sitk.Euler3DTransform(), LESION_CENTRES)
    assert error["max_point_error_mm"] < 0.3 and error["rotation_error_deg"] < 0.2


# ---- failures ------------------------------------------------------------------------------------
def test_no_overlap_is_an_error():
    fixed = body.body_ct(COARSE_GRID)
    far = body.default_grid(spacing_mm=(6.0, 6.0, 6.0), center=(0.0, 10.0, 2000.0))
    moving = body.body_ct(far, T.rigid_transform((0.0, 0.0, -2000.0)))  # the same anatomy 2 m away
    with pytest.raises(ComputationError, match="do not overlap"):
        register_rigid(fixed, moving, initialization="none")
    # The initialisations that look at the images find it.
    result = register_rigid(fixed, moving, initialization="geometry")
    assert result.parameters_about((0.0, 0.0, 0.0)).translation_mm[2] == pytest.approx(2000.0, abs=1.0)


@pytest.mark.parametrize("metric", ["mattes", "correlation"])
def test_metric_that_does_not_improve_is_an_error(metric):
    fixed = body.body_ct(COARSE_GRID, noise_hu=10.0, seed=1)
    noise = Volume(np.random.default_rng(99).normal(0.0, 100.0, COARSE_GRID.shape_kji).astype(np.float32), COARSE_GRID,
                   "HU")
    with pytest.raises(ComputationError):
        register_rigid(fixed, noise, metric=metric, iterations=50)
    flat = Volume(np.full(COARSE_GRID.shape_kji, 40, np.int16), COARSE_GRID, "HU")
    with pytest.raises(ComputationError):
        register_rigid(fixed, flat, metric=metric, iterations=50)


def test_empty_region_is_an_error():
    fixed = body.body_ct(COARSE_GRID)
    with pytest.raises(ComputationError, match="empty"):
        register_rigid(fixed, fixed, np.zeros(COARSE_GRID.shape_kji, bool))


# ---- MRI to CT --------------------------------------------------------------------------------------
MR_GRID = body.default_grid(spacing_mm=(2.0, 2.0, 5.0), extent_mm=(340.0, 240.0, 180.0), center=(0.0, 5.0, 20.0))
MR_TRUTH = {"translation_mm": (-7.0, 5.0, -6.0), "rotation_deg": (-2.0, 1.5, 2.5), "center_lps_mm": LIVER_CENTRE}


def test_mri_to_ct_rigid_and_affine():
    """An MR-like image (fat bright, lesions dark, bias field: not a monotonic function of HU)."""
    truth = truth_transform(MR_TRUTH)
    ct = body.body_ct(IA_GRID, noise_hu=10.0, seed=31)
    mr = body.body_mr(MR_GRID, truth.GetInverse(), noise=20.0, seed=32)
    rigid = register_multimodal(ct, mr)
    assert_recovers(rigid, MR_TRUTH)
    mr_lesions = body.segmentation(MR_GRID, truth.GetInverse(), names=tuple(body.LESIONS))
    on_ct = propagate_segmentation(mr_lesions, rigid.transform, IA_GRID).segmentation
    scores = compare_with_target(on_ct, body.segmentation(IA_GRID, names=tuple(body.LESIONS)))
    assert min(row["dice"] for row in scores) >= 0.9
    affine = refine_affine(ct, mr, rigid)
    error = T.rigid_error(affine.transform, truth, LESION_CENTRES + [LIVER_CENTRE])
    assert error["max_point_error_mm"] < 1.5 and error["rotation_error_deg"] < 1.0
    assert affine.transform_type == "affine" and [s["stage"] for s in affine.stages] == ["rigid", "affine"]


# ---- deformable stage ---------------------------------------------------------------------------------
def test_deformable_stage_improves_liver_dice():
    """The moving scan = the fixed anatomy moved rigidly and pushed by a smooth 12 mm bump (Gaussian,
    40 mm wide) at the upper front of the liver: a change of shape that no rigid motion undoes."""
    grid = body.default_grid(spacing_mm=(4.0, 4.0, 4.0))
    rigid_truth = T.rigid_transform((4.0, -3.0, 6.0), (1.0, -1.0, 2.0), LIVER_CENTRE)
    bump = body.smooth_deformation(grid, 12.0, centre=(-60.0, -40.0, 60.0), width_mm=40.0)
    to_anatomy = sitk.CompositeTransform([bump, rigid_truth.GetInverse()])
    fixed = body.body_ct(grid, noise_hu=10.0, seed=41)
    moving = body.body_ct(grid, to_anatomy, noise_hu=10.0, seed=42)
    fixed_segments = body.segmentation(grid, names=("Liver", *body.LESIONS))
    moving_segments = body.segmentation(grid, to_anatomy, names=("Liver", *body.LESIONS))
    region = dilate_mm(fixed_segments.mask("Liver"), grid, 30.0)
    rigid = register_rigid(fixed, moving, region, metric="correlation")
    deformable = register_deformable(fixed, moving, rigid, region, working_spacing_mm=None, iterations=20)

    def scores(result):
        carried = propagate_segmentation(moving_segments, result.transform, grid).segmentation
        return {row["segment"]: row["dice"] for row in compare_with_target(carried, fixed_segments)}

    before, after = scores(rigid), scores(deformable)
    assert after["Liver"] > before["Liver"] + 0.005, (before, after)  # measured 0.961 -> 0.973
    assert np.mean([after[n] for n in body.LESIONS]) > np.mean([before[n] for n in body.LESIONS])
    assert deformable.metric_value < deformable.stages[-1]["initial_metric_value"]
    assert deformable.transform_type == "rigid+bspline"
    assert deformable.linear_transform is rigid.transform


def test_propagation_work_box_misses_nothing_under_a_deformable_transform():
    """The target voxels computed (a box bounded with the B-spline's largest coefficient) hold every
    voxel that a plain whole-grid nearest-neighbour resampling puts in the VOI."""
    grid = body.default_grid(spacing_mm=(5.0, 5.0, 5.0))
    bspline = sitk.BSplineTransformInitializer(grid.to_sitk(np.zeros(grid.shape_kji, np.uint8)), [4, 4, 4], 3)
    bspline.SetParameters(tuple(np.random.default_rng(5).normal(0.0, 6.0, len(bspline.GetParameters()))))
    transform = sitk.CompositeTransform([T.rigid_transform((8.0, -5.0, 4.0), (2.0, 1.0, -3.0), LIVER_CENTRE), bspline])
    lesion = body.segmentation(grid, names=("Lesion 1",)).mask("Lesion 1")
    whole = sitk.GetArrayFromImage(sitk.Resample(grid.to_sitk(lesion.astype(np.uint8)), grid.to_sitk(lesion.astype(
        np.uint8)), transform, sitk.sitkNearestNeighbor, 0)).astype(bool)
    assert whole.sum() > 50
    assert np.array_equal(propagate_mask(lesion, grid, grid, transform, "nearest"), whole)
