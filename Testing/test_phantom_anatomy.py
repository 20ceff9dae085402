"""The synthetic patient's anatomy, uptake and kinetics (no files): exact volumes, painting,
transform convention, enhancement ratios, analytic TIA and dose."""

from __future__ import annotations

import math

import numpy as np
import pytest

from iahepaticprrt.imaging.grid import Grid
from iahepaticprrt.phantom import anatomy as pa
from iahepaticprrt.phantom import kinetics as pk
from iahepaticprrt.phantom.shapes import RigidPose, paint, rotation_matrix_deg


@pytest.fixture(scope="module")
def tissues():
    return pa.build_tissues()


def test_solids_nest_in_their_parents_and_keep_apart(tissues):
    # Sampled every 3 mm; organs and lesions at least 3 mm apart (spine parts touch by design).
    assert pa.nesting_violations(tissues, spacing_mm=3.0, gap_mm=3.0) == []


def test_visible_volumes_add_up_to_the_torso(tissues):
    volumes = pa.visible_volumes_ml(tissues)
    assert min(volumes.values()) > 0
    assert sum(volumes.values()) == pytest.approx(pa.torso_volume_ml(), rel=1e-12)
    assert pa.torso_volume_ml() == pytest.approx(math.pi * 170 * 120 * 300 / 1000.0)


def test_region_table_is_consistent(tissues):
    regions = pa.region_table(tissues)
    assert list(regions) == pa.SEGMENT_NAMES
    lesions = [regions[f"Lesion {n}"] for n in range(1, 6)]
    diameters = [r["diameter_mm"] for r in lesions]
    assert len(set(diameters)) == 5 and min(diameters) >= 10 and max(diameters) <= 40
    assert sum(d >= 30 for d in diameters) >= 2
    for r in lesions:
        assert r["volume_ml"] == pytest.approx(math.pi / 6 * r["diameter_mm"] ** 3 / 1000)
        assert r["role"] == "target_lesion"
    liver = regions["Liver"]["volume_ml"]
    assert liver == pytest.approx(regions["Healthy liver"]["volume_ml"] + sum(r["volume_ml"] for r in lesions))
    assert liver == pytest.approx(4 / 3 * math.pi * 82 * 64 * 72 / 1000)
    for name, r in regions.items():
        assert r["mass_g"] == pytest.approx(r["volume_ml"] * r["density_g_per_ml"])
        if name not in ("Body", "Vertebral bone"):
            assert r["density_g_per_ml"] == pytest.approx(1.04)
    assert 1.0 < regions["Body"]["density_g_per_ml"] < 1.04  # fat and lungs outweigh bone
    # Cortex and arches (cortical bone) with the discs (soft tissue): between the two densities.
    assert 1.04 < regions["Vertebral bone"]["density_g_per_ml"] < pa.CORTICAL_BONE_DENSITY_G_PER_ML
    assert regions["Vertebral bone"]["role"] == "other" and not regions["Vertebral bone"]["uniform"]
    assert regions["Extrahepatic lesion 1"]["role"] == "extrahepatic_lesion"
    assert regions["Healthy liver"]["role"] == "organ" and regions["Body"]["role"] == "other"
    assert 100 < regions["Left kidney"]["volume_ml"] < 200 and 100 < regions["Bone marrow"]["volume_ml"] < 200


@pytest.mark.parametrize("spacing", [(2.0, 2.0, 2.0), (1.875, 1.875, 3.0), (4.0, 4.0, 4.0)])
def test_painted_volumes_match_the_exact_volumes(tissues, spacing):
    """Coverage-fraction painting (rotated pose, anisotropic voxels) keeps each region's volume."""
    volumes = pa.visible_volumes_ml(tissues)
    pose = RigidPose((3.0, -2.0, 1.5), (1.0, 2.0, 3.0), (0.0, 0.0, 0.0))
    extent = np.array([300.0, 210.0, 255.0])  # mm, around the organs (not the torso ends)
    shape_kji = tuple(int(n) for n in np.ceil(extent[::-1] / np.array(spacing[::-1])))
    grid = Grid(shape_kji, spacing, (-150.0, -110.0, -125.0))
    tolerance = {"Lesion 5": 0.01, "Lesion 4": 0.01}  # 12 and 18 mm spheres (4 mm voxels: -0.4 %, -0.5 %)
    for name in ["healthy liver", "Lesion 1", "Lesion 2", "Lesion 3", "Lesion 4", "Lesion 5", "left kidney",
                 "right kidney", "spleen", "Extrahepatic lesion 1"]:
        values = {t.name: float(t.name == name) for t in tissues}
        painted = paint(grid, pose, tissues, values).sum(dtype=np.float64) * grid.voxel_volume_ml
        assert painted == pytest.approx(volumes[name], rel=tolerance.get(name, 0.002)), name


def test_pose_matches_simpleitk_euler3d_and_composes():
    import SimpleITK as sitk

    centre, angles, shift = (-40.0, -10.0, 30.0), (1.5, -1.0, 2.5), (3.5, -2.5, 6.0)
    pose = RigidPose(shift, angles, centre)
    euler = sitk.Euler3DTransform(centre, *np.radians(angles), shift)
    points = np.array([[0.0, 0.0, 0.0], [100.0, -50.0, 20.0], [-120.0, 80.0, -140.0]])
    for p in points:
        assert np.allclose(pose.apply(p), euler.TransformPoint(tuple(p)), atol=1e-9)
        assert np.allclose(pose.inverse_apply(pose.apply(p)), p, atol=1e-9)
    assert np.allclose(np.array(euler.GetMatrix()).reshape(3, 3), rotation_matrix_deg(*angles))
    other = RigidPose((1.0, 2.0, 3.0), (0.5, 0.2, -1.0), (10.0, 0.0, 0.0))
    assert np.allclose(pose.then(other).apply(points), other.apply(pose.apply(points)))


def test_pet_uptake_follows_the_trial_design(tissues):
    ratios = [pk.PET_SUV[f"Lesion {n}"][1] / pk.PET_SUV[f"Lesion {n}"][0] for n in range(1, 6)]
    assert np.mean(ratios) == pytest.approx(3.75)
    assert sum(r < 3.0 for r in ratios) == 1 and len(set(ratios)) == 5
    by_name = {t.name: t for t in tissues}
    for name in ("left kidney", "right kidney", "spleen", "vertebra 4 marrow", "Extrahepatic lesion 1", "soft tissue"):
        assert pk.pet_suv(by_name[name], "ia") < pk.pet_suv(by_name[name], "iv"), name
    assert pk.pet_suv(by_name["healthy liver"], "ia") > pk.pet_suv(by_name["healthy liver"], "iv")


def test_kinetics_integrals_and_half_lives():
    from scipy.integrate import quad

    for key, model in pk.LU_KINETICS.items():
        numeric, _ = quad(lambda t: float(model.concentration(t)), 0.0, 20000.0, limit=400)
        assert model.integral() == pytest.approx(numeric, rel=1e-7), key
        if isinstance(model, pk.UptakeWashout):
            assert model.concentration(0.0) == 0.0  # uptake phase starts from zero
    kidneys = [pk.LU_KINETICS[k].washout_half_life_h for k in ("left kidney", "right kidney")]
    assert all(50 <= h <= 60 for h in kidneys)
    lesions = [pk.LU_KINETICS[f"Lesion {n}"].washout_half_life_h for n in range(1, 6)]
    assert min(lesions) > max(kidneys)
    assert max(lesions) < pk.LU177_HALF_LIFE_H
