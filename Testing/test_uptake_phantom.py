"""The uptake comparison on the synthetic trial patient (``iahprrt phantom --small --no-noise``).

Written against the synthetic-patient contract (BRIEFING.md: truth.json keys, folder layout, segment
names). Skipped until the ``phantom`` command (issue 3) is merged.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from iahepaticprrt.cli import COMMANDS, main

pytestmark = pytest.mark.skipif("phantom" not in COMMANDS, reason="the phantom generator (issue 3) is not merged yet")

#: Distance from a region's surface (mm) beyond which its voxels count as interior: far from the
#: partial-volume and blur zone of a 68Ga PET (several FWHM).
INTERIOR_MARGIN_MM = 12.0
#: The enhancement-ratio tolerance holds for lesions of at least this diameter.
LARGE_LESION_MM = 30.0


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    root = tmp_path_factory.mktemp("phantom")
    assert main(["phantom", str(root / "patient"), "--small", "--no-noise"]) == 0
    patient = root / "patient"
    truth = json.loads((patient / "truth.json").read_text())
    out = root / "uptake"
    assert main(["uptake", "--ia", str(patient / "ia_day0" / "pet"), "--iv", str(patient / "iv_day3" / "pet"),
                 "--ia-seg", str(patient / "segmentations" / "ia_day0.seg.nrrd"),
                 "--iv-seg", str(patient / "segmentations" / "iv_day3.seg.nrrd"), "-o", str(out)]) == 0
    return patient, truth, json.loads((out / "uptake.json").read_text())


def _interior(mask: np.ndarray, spacing_mm, margin_mm: float) -> np.ndarray:
    from scipy import ndimage

    distance = ndimage.distance_transform_edt(mask, sampling=tuple(reversed(spacing_mm)))
    return distance >= margin_mm


@pytest.mark.parametrize("route, folder, seg_name", [("ia", "ia_day0", "ia_day0"), ("iv", "iv_day3", "iv_day3")])
def test_suv_mean_of_every_region_interior_matches_the_truth(phantom, route, folder, seg_name):
    from iahepaticprrt.segmentation import Segmentation, read_segmentation
    from iahepaticprrt.suv import suv_from_folder
    from iahepaticprrt.voi_statistics import segmentation_weights, voi_statistics

    patient, truth, _ = phantom
    suv = suv_from_folder(patient / folder / "pet")
    seg = read_segmentation(patient / "segmentations" / f"{seg_name}.seg.nrrd")
    expected = truth["pet"][route]["suv_bw"]
    interior = Segmentation(seg.grid, source="interiors")
    for segment in seg.segments:
        if segment.name not in expected:
            continue
        core = _interior(segment.mask, seg.grid.spacing_mm, INTERIOR_MARGIN_MM)
        if core.sum() * seg.grid.voxel_volume_ml >= 0.5:  # regions too small for an interior are skipped
            interior.add(segment.name, core)
    assert {"Healthy liver", "Spleen"} <= set(interior.names)  # the large organs are always tested
    stats = voi_statistics(suv.volume.array, suv.volume.grid, segmentation_weights(interior, suv.volume.grid))
    for s in stats:
        assert s["suv_mean"] == pytest.approx(expected[s["name"]], rel=0.01), (route, s["name"])


def test_enhancement_ratio_of_large_lesions(phantom):
    _, truth, result = phantom
    large = [name for name, region in truth["regions"].items()
             if region.get("role") == "target_lesion" and region.get("diameter_mm", 0) >= LARGE_LESION_MM]
    assert large, "the phantom has no lesion of 30 mm or more"
    for name in large:
        voi = next(v for v in result["vois"] if v["name"] == name)
        assert voi["enhancement_ratio"] == pytest.approx(truth["enhancement_ratio"][name], rel=0.02), name


def test_small_lesions_are_flagged(phantom):
    _, truth, result = phantom
    limit = result["partial_volume_criterion"]["diameter_limit_mm"]
    checked = 0
    for voi in result["vois"]:
        region = truth["regions"].get(voi["name"], {})
        diameter = region.get("diameter_mm")
        if not voi["role"].endswith("lesion") or diameter is None:
            continue
        if diameter < 0.9 * limit:
            assert voi["partial_volume_flag"] is True, voi["name"]
            assert any("small lesion" in w for w in voi["warnings"])
            checked += 1
        elif diameter > 1.1 * limit:
            assert voi["partial_volume_flag"] is False, voi["name"]
            checked += 1
    assert checked >= 2
