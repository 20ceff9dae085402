"""The uptake comparison on the synthetic trial patient (``iahprrt phantom --small --no-noise``).

Truth: truth.json (docs/phantom.md). A region's interior follows the phantom's own definition: the
voxels more than 2 PET FWHM inside its boundary (here from the segmentation's distance transform),
where the noise-free image holds the region's exact value.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from iahepaticprrt.cli import COMMANDS, main

pytestmark = pytest.mark.skipif("phantom" not in COMMANDS, reason="the phantom generator (issue 3) is not merged")

#: Interior: more than this many PET FWHM inside the region (docs/phantom.md, "Region interiors").
INTERIOR_FWHM = 2.0
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
    from iahepaticprrt.imaging.segmentation import Segmentation
    from iahepaticprrt.io.segmentation_files import read_segmentation
    from iahepaticprrt.uptake.suv import suv_from_folder
    from iahepaticprrt.uptake.voi_statistics import segmentation_weights, voi_statistics

    patient, truth, _ = phantom
    suv = suv_from_folder(patient / folder / "pet")
    seg = read_segmentation(patient / "segmentations" / f"{seg_name}.seg.nrrd")
    expected = truth["pet"][route]["suv_bw"]
    margin_mm = INTERIOR_FWHM * truth["generator"]["pet_fwhm_mm"]
    interior = Segmentation(seg.grid, source="interiors")
    for segment in seg.segments:
        if not truth["regions"][segment.name]["uniform"]:
            continue  # Liver (with its lesions) and Body are mixtures, not one value
        core = _interior(segment.mask, seg.grid.spacing_mm, margin_mm)
        if core.any():  # lesions smaller than 2 x 2 FWHM have no interior
            interior.add(segment.name, core)
    assert {"Lesion 1", "Healthy liver", "Left kidney", "Right kidney", "Spleen"} <= set(interior.names)
    stats = voi_statistics(suv.volume.array, suv.volume.grid, segmentation_weights(interior, suv.volume.grid))
    for s in stats:
        assert s["suv_mean"] == pytest.approx(expected[s["name"]], rel=0.01), (route, s["name"])


def test_enhancement_ratio_of_large_lesions(phantom):
    _, truth, result = phantom
    large = [name for name, region in truth["regions"].items()
             if region["role"].endswith("lesion") and region.get("diameter_mm", 0) >= LARGE_LESION_MM]
    assert {"Lesion 1", "Lesion 2", "Extrahepatic lesion 1"} <= set(large)
    for name in large:
        voi = next(v for v in result["vois"] if v["name"] == name)
        expected = truth["pet"]["ia"]["suv_bw"][name] / truth["pet"]["iv"]["suv_bw"][name]
        if name in truth["enhancement_ratio"]:
            assert truth["enhancement_ratio"][name] == pytest.approx(expected, rel=1e-9)
        assert voi["enhancement_ratio"] == pytest.approx(expected, rel=0.02), name


def test_mean_ratio_and_eligibility_are_reported(phantom):
    _, truth, result = phantom
    # All five target lesions get a ratio; small ones read low on both scans (partial volume), so the
    # mean is compared loosely and eligibility must agree with the truth.
    assert result["target_lesions_in_mean"] == [f"Lesion {n}" for n in range(1, 6)]
    assert result["mean_enhancement_ratio"] == pytest.approx(truth["mean_enhancement_ratio"], rel=0.1)
    assert result["eligible"] == truth["eligible"]


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


@pytest.mark.parametrize("vendor", ["ge", "philips"])
def test_vendor_variants_give_the_true_suv(tmp_path, vendor, capsys):
    """GE (SeriesTime after the acquisition, scan date-time in (0009,100D)) and Philips (CNTS with
    (7053,1000) and (7053,1009)) headers give the same SUV as the truth in region interiors."""
    from iahepaticprrt.imaging.segmentation import Segmentation
    from iahepaticprrt.io.segmentation_files import read_segmentation
    from iahepaticprrt.uptake.voi_statistics import segmentation_weights, voi_statistics

    assert main(["phantom", str(tmp_path / "p"), "--small", "--no-noise", "--vendor", vendor]) == 0
    capsys.readouterr()
    truth = json.loads((tmp_path / "p" / "truth.json").read_text())
    assert main(["suv", str(tmp_path / "p" / "iv_day3" / "pet"), "-o", str(tmp_path / "suv.nrrd")]) == 0
    info = json.loads(capsys.readouterr().out)
    if vendor == "ge":
        assert info["reference_time_source"] == "GE private scan date-time (0009,100D)"
        assert info["reference_time"] == truth["pet"]["iv"]["reference_datetime"]
    else:
        assert info["units"] == "CNTS"
    from iahepaticprrt.io.volume_files import read_volume

    suv = read_volume(tmp_path / "suv.nrrd")
    seg = read_segmentation(tmp_path / "p" / "segmentations" / "iv_day3.seg.nrrd")
    margin_mm = INTERIOR_FWHM * truth["generator"]["pet_fwhm_mm"]
    interior = Segmentation(seg.grid)
    for name in ("Healthy liver", "Spleen", "Lesion 1"):
        interior.add(name, _interior(seg.mask(name), seg.grid.spacing_mm, margin_mm))
    for s in voi_statistics(suv.array, suv.grid, segmentation_weights(interior, suv.grid)):
        assert s["suv_mean"] == pytest.approx(truth["pet"]["iv"]["suv_bw"][s["name"]], rel=0.01), s["name"]


# ---- reference regions on the noise-free default-size patient (issue 14) ----------------------------
@pytest.fixture(scope="module")
def default_patient(tmp_path_factory):
    """``iahprrt phantom --no-noise`` (default size, 4 mm PET voxels, PET FWHM 6 mm) through ``iahprrt uptake``."""
    root = tmp_path_factory.mktemp("default_phantom")
    patient = root / "patient"
    assert main(["phantom", str(patient), "--no-noise"]) == 0
    out = root / "uptake"
    assert main(["uptake", "--ia", str(patient / "ia_day0" / "pet"), "--iv", str(patient / "iv_day3" / "pet"),
                 "--ia-seg", str(patient / "segmentations" / "ia_day0.seg.nrrd"),
                 "--iv-seg", str(patient / "segmentations" / "iv_day3.seg.nrrd"), "-o", str(out)]) == 0
    truth = json.loads((patient / "truth.json").read_text())
    return truth, json.loads((out / "uptake.json").read_text())


def test_healthy_liver_suv_max_is_the_liver_not_a_lesion(default_patient):
    truth, result = default_patient
    healthy = next(v for v in result["vois"] if v["name"] == "Healthy liver")
    for route in ("ia", "iv"):
        expected = truth["pet"][route]["suv_bw"]["Healthy liver"]  # 8.0 (IA) and 7.0 (IV)
        assert expected == (8.0 if route == "ia" else 7.0)
        # Acceptance: within 5 % (measured 8.001 and 7.000); without the margin it was 55.1 and 19.1.
        assert healthy[route]["suv_max"] == pytest.approx(expected, rel=0.05), route
    regions = result["reference_regions"]
    assert regions["healthy_liver_margin_mm"] == 14.0 and regions["margin_rule"] == "2 x the PET FWHM of 7 mm"
    assert regions["ia"]["healthy_liver"]["lesions_excluded"][:5] == [f"Lesion {n}" for n in range(1, 6)]


def test_reference_sphere_suv_mean_is_the_healthy_liver(default_patient):
    truth, result = default_patient
    sphere = next(v for v in result["vois"] if v["name"] == "Liver reference sphere")
    assert sphere["role"] == "reference"
    for route in ("ia", "iv"):
        # Acceptance: within 2 % (measured within 0.02 %).
        assert sphere[route]["suv_mean"] == pytest.approx(truth["pet"][route]["suv_bw"]["Healthy liver"], rel=0.02)
        placed = result["reference_regions"][route]["reference_sphere"]
        assert placed["fraction_outside_healthy_liver"] == 0.0 and placed["distance_to_liver_surface_mm"] > 15.0
        assert placed["distance_to_nearest_lesion_mm"] > 15.0 + 14.0
    # It is the noise reference of both scans (all of it: it lies deeper than 15 mm + one FWHM in the healthy liver).
    noise = result["uncertainty"]["noise"]
    assert {noise[r]["reference_region"] for r in ("ia", "iv")} == {"Liver reference sphere, 1 FWHM inside the healthy liver"}
    for route in ("ia", "iv"):
        assert noise[route]["voxels"] == sphere[route]["voxel_count"]


def test_whole_liver_and_body_report_no_suv_max(default_patient):
    _, result = default_patient
    for name in ("Liver", "Body"):
        voi = next(v for v in result["vois"] if v["name"] == name)
        for route in ("ia", "iv"):
            assert voi[route]["suv_max"] is None and voi[route]["suv_peak"] is None
            assert "Lesion 1" in voi[route]["contains_lesions"] and voi[route]["suv_mean"] > 0
    # The lesions themselves keep theirs; and in the noise-free patient every interval is a point.
    lesion = next(v for v in result["vois"] if v["name"] == "Lesion 1")
    assert lesion["ia"]["suv_max"] == pytest.approx(110.4, rel=1e-3)  # truth: 24.0 x 4.6 (40 mm, no partial volume)
    assert lesion["enhancement_ratio_interval"]["suv_peak"]["ci_high"] - \
        lesion["enhancement_ratio_interval"]["suv_peak"]["ci_low"] < 1e-3
