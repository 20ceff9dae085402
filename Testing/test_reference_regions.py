"""Healthy liver away from the lesions, the liver reference sphere, VOIs that contain lesions and
spill-in: analytic shapes on a 2 mm grid whose answers follow from geometry (stated per test)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from iahepaticprrt.errors import InputError
from iahepaticprrt.imaging.grid import Grid
from iahepaticprrt.imaging.segmentation import Segmentation
from iahepaticprrt.uptake.reference_regions import (
    build_reference_regions,
    contained_lesions,
    place_reference_sphere,
    spill_in,
)

#: 2 mm grid, LPS origin at voxel [0, 0, 0] = (-80, -80, -80): covers -80..80 mm on each axis.
GRID = Grid((81, 81, 81), (2.0, 2.0, 2.0), (-80.0, -80.0, -80.0))


def _points():
    k, j, i = np.indices(GRID.shape_kji, dtype=float)
    return GRID.index_to_lps(np.stack([i, j, k], axis=-1))


POINTS = _points()


def _sphere(centre, radius):
    return np.sum((POINTS - np.asarray(centre, float)) ** 2, axis=-1) <= radius ** 2


def _case():
    """Liver: sphere of radius 60 mm at the origin; Lesion 1: radius 10 mm at (30, 0, 0)."""
    seg = Segmentation(GRID, source="analytic")
    seg.add("Lesion 1", _sphere((30.0, 0.0, 0.0), 10.0))
    seg.add("Liver", _sphere((0.0, 0.0, 0.0), 60.0))
    seg.add("Body", np.ones(GRID.shape_kji, bool))
    seg.add("Spleen", _sphere((0.0, 70.0, 0.0), 8.0))
    return seg


def test_healthy_liver_is_the_liver_minus_the_lesion_dilated_by_the_margin():
    out, info, warnings = build_reference_regions(_case(), margin_mm=10.0)
    healthy = out.mask("Healthy liver")
    # Liver sphere (r = 60) minus a sphere of r = 10 + 10 mm wholly inside it:
    # 4/3 pi (60^3 - 20^3) = 871 268 mm^3 = 871.3 mL; voxel-centre discretisation on 2 mm: within 1 %.
    assert info["healthy_liver"]["volume_ml"] == pytest.approx(4 / 3 * math.pi * (60 ** 3 - 20 ** 3) / 1000, rel=0.01)
    assert info["healthy_liver"]["source_segment"] == "Liver" and info["healthy_liver"]["lesion_margin_mm"] == 10.0
    # No healthy-liver voxel centre lies within 10 mm of a lesion voxel centre; the nearest is within a
    # voxel diagonal (3.5 mm) beyond.
    lesion = out.mask("Lesion 1")
    from scipy import ndimage

    distance = ndimage.distance_transform_edt(~lesion, sampling=2.0)
    assert distance[healthy].min() > 10.0 and distance[healthy].min() < 13.5
    assert not warnings


def test_margin_zero_gives_the_liver_minus_the_lesion():
    out, info, _ = build_reference_regions(_case(), margin_mm=0.0)
    seg = _case()
    assert np.array_equal(out.mask("Healthy liver"), seg.mask("Liver") & ~seg.mask("Lesion 1"))


def test_reference_sphere_sits_farthest_from_the_surface_and_the_lesion_margin():
    # Healthy liver = (r < 60) minus (within 20 mm of (30, 0, 0)'s lesion of r 10, margin 10). Along -x the
    # distance to the liver surface is 60 - a and to the dilated lesion a + 30 - 20: equal at a = 25, where
    # both are 35 mm: the sphere's centre is (-25, 0, 0), 35 mm deep.
    out, info, _ = build_reference_regions(_case(), margin_mm=10.0)
    sphere = info["reference_sphere"]
    assert sphere["centre_lps_mm"] == pytest.approx([-25.0, 0.0, 0.0], abs=2.0)
    assert sphere["distance_to_healthy_liver_edge_mm"] == pytest.approx(35.0, abs=2.0)
    # The lesion's surface is 30 + 25 - 10 = 45 mm away, the liver surface 60 - 25 = 35 mm.
    assert sphere["distance_to_nearest_lesion_mm"] == pytest.approx(45.0, abs=2.0)
    assert sphere["distance_to_liver_surface_mm"] == pytest.approx(35.0, abs=2.0)
    assert sphere["diameter_mm"] == 30.0 and sphere["fraction_outside_healthy_liver"] == 0.0
    # 30 mm sphere: 4/3 pi 15^3 = 14.14 mL (voxel centres on 2 mm: within 3 %).
    assert out.volume_ml("Liver reference sphere") == pytest.approx(14.137, rel=0.03)


def test_user_centre_and_a_centre_outside_the_healthy_liver():
    out, info, _ = build_reference_regions(_case(), 10.0, sphere_centre_lps_mm=(0.0, -30.0, 0.0))
    assert info["reference_sphere"]["placement"].startswith("user")
    assert info["reference_sphere"]["centre_lps_mm"] == [0.0, -30.0, 0.0]
    with pytest.raises(InputError, match="not in the healthy liver"):
        build_reference_regions(_case(), 10.0, sphere_centre_lps_mm=(30.0, 0.0, 0.0))  # inside the lesion


def test_a_sphere_that_does_not_fit_is_placed_and_named():
    seg = Segmentation(GRID, source="analytic")
    seg.add("Liver", _sphere((0.0, 0.0, 0.0), 12.0))  # a 24 mm liver cannot hold a 30 mm sphere
    _, info, warnings = build_reference_regions(seg, 14.0)
    assert info["reference_sphere"]["fraction_outside_healthy_liver"] > 0.4
    assert any("does not fit" in w for w in warnings)


def test_no_liver_no_reference_regions():
    seg = Segmentation(GRID, source="analytic")
    seg.add("Lesion 1", _sphere((30.0, 0.0, 0.0), 10.0))
    out, info, warnings = build_reference_regions(seg, 14.0)
    assert out.names == ["Lesion 1"] and info["healthy_liver"] is None and "no 'Healthy liver'" in warnings[0]


def test_place_reference_sphere_on_a_cube():
    # A cube of 21 x 21 x 21 voxels (2 mm) centred on the origin: the centre voxel is 11 voxels = 22 mm from
    # the nearest voxel outside; only it reaches that depth.
    region = np.zeros(GRID.shape_kji, bool)
    region[30:51, 30:51, 30:51] = True
    centre, depth = place_reference_sphere(region, GRID)
    assert centre.tolist() == [0.0, 0.0, 0.0] and depth == 22.0


def test_containers_are_the_vois_holding_half_a_lesion_or_more():
    seg = _case()
    seg.add("Touching", _sphere((42.0, 0.0, 0.0), 6.0))  # overlaps the lesion's edge, far less than half of it
    assert contained_lesions(seg) == {"Liver": ["Lesion 1"], "Body": ["Lesion 1"]}


def test_spill_in_from_a_hotter_neighbour_within_the_distance():
    seg = Segmentation(GRID, source="analytic")
    seg.add("Lesion 1", _sphere((0.0, 0.0, 0.0), 10.0))
    seg.add("Spleen", _sphere((0.0, 30.0, 0.0), 10.0))
    seg.add("Healthy liver", _sphere((0.0, -40.0, 0.0), 10.0))
    stats = {  # the spleen's SUVmax voxel at (0, 22, 0): 12 mm from the lesion's surface voxel (0, 10, 0)
        "Lesion 1": {"suv_max": 50.0, "suv_max_position_lps_mm": [0.0, 0.0, 0.0]},
        "Spleen": {"suv_max": 20.0, "suv_max_position_lps_mm": [0.0, 22.0, 0.0]},
        "Healthy liver": {"suv_max": 8.0, "suv_max_position_lps_mm": [0.0, -40.0, 0.0]},  # 30 mm away
    }
    found = spill_in(seg, stats, 14.0)
    assert set(found) == {"Spleen"}
    assert found["Spleen"][0]["from"] == "Lesion 1" and found["Spleen"][0]["distance_mm"] == pytest.approx(12.0)
    assert spill_in(seg, stats, 12.0) == {}  # 12 mm is not within (closer than) 12 mm
    assert spill_in(seg, stats, 14.0, skip={"Lesion 1"}) == {}


def test_noise_reference_keeps_the_sphere_one_fwhm_inside_the_healthy_liver():
    from iahepaticprrt.uptake.reference_regions import noise_reference_mask

    # Deep sphere (35 mm from every edge, radius 15): all of it is more than 7 mm inside.
    out, _, _ = build_reference_regions(_case(), margin_mm=10.0)
    assert np.array_equal(noise_reference_mask(out, 7.0), out.mask("Liver reference sphere"))
    # A sphere at (0, -42, 0) reaches y = -57, 3 mm from the liver surface (r = 60): the shell within 7 mm of
    # the surface (|p| > 53 mm) is left out, the rest kept.
    out, _, _ = build_reference_regions(_case(), 10.0, sphere_centre_lps_mm=(0.0, -42.0, 0.0))
    sphere = out.mask("Liver reference sphere")
    kept = noise_reference_mask(out, 7.0)
    radius = np.linalg.norm(POINTS, axis=-1)
    assert kept.sum() < sphere.sum() and not (kept & ~sphere).any()
    assert radius[kept].max() <= 53.0 + 2.0 and radius[sphere & ~kept].min() > 53.0 - 2.0
