"""Registration on the synthetic trial patient (``iahprrt phantom --small --no-noise``): the recorded
patient motions (IV day 3 against IA day 0, SPECT time points against tp1) are recovered within
1 mm and 0.5 degree, and the VOIs carried from one scan to the other match the scan's own VOIs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from iahepaticprrt.cli import main
from iahepaticprrt.imaging import transforms as T
from iahepaticprrt.imaging.voi_roles import role_of
from iahepaticprrt.io.image_input import read_image
from iahepaticprrt.io.segmentation_files import read_segmentation
from iahepaticprrt.io.transform_files import write_transform
from iahepaticprrt.registration.propagation import compare_with_target, propagate_segmentation
from iahepaticprrt.registration.register import register_rigid


@pytest.fixture(scope="module")
def patient(tmp_path_factory):
    out = tmp_path_factory.mktemp("phantom") / "patient"
    assert main(["phantom", str(out), "--small", "--no-noise"]) == 0
    truth = json.loads((out / "truth.json").read_text())
    return out, truth


def truth_transform(entry: dict):
    transform = T.rigid_transform(entry["translation_mm"], entry["rotation_deg"], entry["center_lps_mm"])
    # The recorded matrix and the angles in the package's default order describe the same rotation.
    assert np.allclose(T.matrix_and_offset(transform)[0], entry["matrix"], atol=1e-9)
    return transform


def assert_recovered(result, entry: dict):
    estimated = result.parameters_about(entry["center_lps_mm"])
    assert np.linalg.norm(np.subtract(estimated.translation_mm, entry["translation_mm"])) < 1.0, estimated
    assert np.max(np.abs(np.subtract(estimated.rotation_deg, entry["rotation_deg"]))) < 0.5, estimated
    error = T.rigid_error(result.transform, truth_transform(entry), [entry["center_lps_mm"]])
    assert error["rotation_error_deg"] < 0.5 and error["max_point_error_mm"] < 1.0


def test_iv_against_ia_motion_and_propagated_vois(patient, capsys):
    out, truth = patient
    entry = truth["transforms"]["iv_day3"]
    assert entry["reference"] == "ia_day0"
    ia_ct, iv_ct = read_image(out / "ia_day0" / "ct"), read_image(out / "iv_day3" / "ct")
    result = register_rigid(ia_ct, iv_ct)  # fixed = IA (the reference), moving = IV
    assert_recovered(result, entry)
    # The IV VOIs carried onto the IA grid against the IA VOIs.
    iv_segments = read_segmentation(out / "segmentations" / "iv_day3.seg.nrrd")
    ia_segments = read_segmentation(out / "segmentations" / "ia_day0.seg.nrrd")
    carried = propagate_segmentation(iv_segments, result.transform, ia_ct.grid)
    dice = {row["segment"]: row["dice"] for row in compare_with_target(carried.segmentation, ia_segments)}
    large_lesions = [name for name, region in truth["regions"].items()
                     if role_of(name).is_lesion and region["diameter_mm"] >= 20.0]
    assert len(large_lesions) >= 4
    for name in large_lesions:
        assert dice[name] >= 0.9, (name, dice)
    assert dice["Liver"] >= 0.95
    # The same through the command line, the other way round (IA VOIs onto the IV CT, --inverse).
    transform_file = out.parent / "iv_to_ia.tfm"
    write_transform(result.transform, transform_file)
    assert main(["propagate", str(out / "segmentations" / "ia_day0.seg.nrrd"), str(transform_file),
                 "--reference", str(out / "iv_day3" / "ct"), "-o", str(out.parent / "ia_on_iv.seg.nrrd"),
                 "--inverse", "--target-seg", str(out / "segmentations" / "iv_day3.seg.nrrd")]) == 0
    summary = json.loads(capsys.readouterr().out)
    dice = {row["segment"]: row["dice"] for row in summary["dice"]}
    assert dice["Liver"] >= 0.95 and min(dice[name] for name in large_lesions) >= 0.9


@pytest.mark.parametrize("time_point", ["tp2", "tp3", "tp4"])
def test_spect_time_points_against_tp1(patient, time_point):
    out, truth = patient
    entry = truth["transforms"][f"spect_{time_point}"]
    assert entry["reference"] == "spect_tp1"
    fixed = read_image(out / "spect" / "tp1" / "ct")
    moving = read_image(out / "spect" / time_point / "ct")
    assert_recovered(register_rigid(fixed, moving), entry)
