"""Geometric transfer matrix: uniform regions blurred at 12 mm FWHM give back their activities."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from iahepaticprrt.cli import main
from iahepaticprrt.dosimetry.partial_volume import OUTSIDE, disjoint_regions, transfer_matrix
from iahepaticprrt.imaging.grid import Grid
from iahepaticprrt.imaging.segmentation import Segmentation
from iahepaticprrt.imaging.volume import Volume
from iahepaticprrt.io.segmentation_files import write_seg_nrrd
from iahepaticprrt.io.volume_files import write_volume

import spect_builders as sb

FWHM_MM = 12.0
OVERSAMPLING = 3
BACKGROUND_BQML = 300.0


@pytest.fixture(scope="module")
def scene():
    """Regions drawn on a 1.6 mm grid (like a CT), emission blurred there and averaged into 4.8 mm
    SPECT voxels: an independent forward model of the camera."""
    patient = sb.default_patient()
    coarse = patient.grid
    n = OVERSAMPLING
    fine = Grid(tuple(s * n for s in coarse.shape_kji), (4.8 / n,) * 3,
                np.array(coarse.origin_lps_mm) - (n - 1) / (2 * n) * 4.8)
    seg = Segmentation(fine)
    masks = {}
    for region in patient.regions:
        masks[region.name] = sb.distance_mm(fine, region.centre_lps_mm) <= region.radius_mm
        seg.add(region.name, masks[region.name])

    def image(t_h):
        values = np.full(fine.shape_kji, BACKGROUND_BQML)
        for region in patient.regions:
            values[masks[region.name]] = region.activity_mbq(t_h) / (masks[region.name].sum() * fine.voxel_volume_ml) * 1e6
        blurred = gaussian_filter(values, FWHM_MM / 2.3548200450309493 / (4.8 / n), mode="constant", truncate=5.0)
        k, j, i = coarse.shape_kji
        return blurred.reshape(k, n, j, n, i, n).mean(axis=(1, 3, 5))

    return patient, seg, image


def test_nested_segments_become_disjoint_regions():
    grid = Grid((6, 6, 6), (1.0, 1.0, 1.0))
    seg = Segmentation(grid)
    body = np.ones(grid.shape_kji, bool)
    liver = np.zeros_like(body)
    liver[1:5, 1:5, 1:5] = True
    lesion = np.zeros_like(body)
    lesion[2:3, 2:3, 2:3] = True
    seg.add("Body", body)
    seg.add("Liver", liver)
    seg.add("Lesion 1", lesion)
    labels, names = disjoint_regions(seg)
    assert names == ["Body", "Liver", "Lesion 1"]
    assert np.count_nonzero(labels == 3) == 1 and np.count_nonzero(labels == 2) == 63
    assert np.count_nonzero(labels == 1) == 216 - 64


def test_gtm_recovers_blurred_uniform_regions(scene):
    patient, seg, image = scene
    blurred = image(24.0)
    gtm = transfer_matrix(seg, patient.grid, FWHM_MM)
    assert gtm.regions[-1] == OUTSIDE and gtm.condition_number < 100
    corrected = gtm.corrected_activities_mbq(blurred)
    for region in patient.regions:
        true_mbq = region.activity_mbq(24.0)
        weights = gtm.weights[gtm.regions.index(region.name)]
        plain = float(np.sum(weights * blurred)) * patient.grid.voxel_volume_ml * 1e-6
        print(f"{region.name}: true {true_mbq:.2f}, uncorrected {plain:.2f}, GTM {corrected[region.name]:.2f} MBq")
        assert corrected[region.name] == pytest.approx(true_mbq, rel=0.01)
        assert plain < 0.9 * true_mbq  # the correction matters at 12 mm for these 12-20 mm radius regions


def test_dosimetry_with_gtm_on_blurred_time_points(scene, tmp_path, capsys):
    patient, seg, image = scene
    paths = []
    for t in patient.times_h:
        path = tmp_path / f"tp{t:g}.nrrd"
        write_volume(Volume(image(t).astype(np.float32), patient.grid), path)
        paths.append(str(path))
    write_seg_nrrd(seg, tmp_path / "vois.seg.nrrd")
    base = ["dosimetry", "--spect", *paths, "--times-h", *map(str, patient.times_h), "--seg",
            str(tmp_path / "vois.seg.nrrd"), "--administered-mbq", "7400", "--model", "mono-exp", "--no-registration"]
    assert main(base + ["-o", str(tmp_path / "plain")]) == 0
    assert main(base + ["-o", str(tmp_path / "gtm"), "--pvc-fwhm-mm", str(FWHM_MM)]) == 0
    capsys.readouterr()
    plain = {v["name"]: v for v in json.loads((tmp_path / "plain" / "dosimetry.json").read_text())["vois"]}
    report = json.loads((tmp_path / "gtm" / "dosimetry.json").read_text())
    assert report["provenance"]["partial_volume_correction"]["fwhm_mm"] == FWHM_MM
    for region in patient.regions:
        voi = next(v for v in report["vois"] if v["name"] == region.name)
        for point, t in zip(voi["tac"], patient.times_h):
            assert point["activity_mbq"] == pytest.approx(region.activity_mbq(t), rel=0.01)
        assert plain[region.name]["tac"][1]["activity_mbq"] < 0.9 * region.activity_mbq(patient.times_h[1])
    (tmp_path / "rc.csv").write_text("volume_ml,rc\n1,0.5\n100,0.9\n")
    assert main(base + ["-o", str(tmp_path / "both"), "--pvc-fwhm-mm", "12", "--recovery", str(tmp_path / "rc.csv")]) == 2
    assert "not both" in capsys.readouterr().err
