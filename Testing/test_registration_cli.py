"""``iahprrt register`` and ``iahprrt propagate``: JSON summaries, files, quality numbers, exit codes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from iahepaticprrt.cli import main
from iahepaticprrt.imaging import transforms as T
from iahepaticprrt.io.dicom_writer import write_image_series
from iahepaticprrt.io.output_files import write_csv
from iahepaticprrt.io.segmentation_files import read_segmentation, write_labelmap, write_seg_nrrd
from iahepaticprrt.io.transform_files import read_transform, write_transform
from iahepaticprrt.io.volume_files import read_volume, write_volume

import synthetic_ct as body

LIVER_CENTRE = (-60.0, 0.0, 25.0)
FIXED_GRID = body.default_grid(spacing_mm=(4.0, 4.0, 4.0))
MOVING_GRID = body.default_grid(spacing_mm=(3.5, 3.5, 5.0), center=(0.0, 0.0, 15.0))
TRUTH = {"translation_mm": (5.0, 3.0, -7.0), "rotation_deg": (1.5, -2.0, 2.5), "center_lps_mm": LIVER_CENTRE}
LANDMARKS = {"lesion 1": body.LESIONS["Lesion 1"][0], "lesion 2": body.LESIONS["Lesion 2"][0],
             "left kidney": body.KIDNEYS["Left kidney"][0], "spleen": body.SPLEEN[0]}


def digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """Fixed ("IA") and moving ("IV") CTs as NRRD, their true segmentations, landmark files."""
    folder = tmp_path_factory.mktemp("registration_cli")
    truth = T.rigid_transform(**TRUTH)
    to_moving_anatomy = truth.GetInverse()
    write_volume(body.body_ct(FIXED_GRID, noise_hu=10.0, seed=1), folder / "ia.nrrd")
    write_volume(body.body_ct(MOVING_GRID, to_moving_anatomy, noise_hu=10.0, seed=2), folder / "iv.nii.gz")
    write_seg_nrrd(body.segmentation(FIXED_GRID), folder / "ia.seg.nrrd")
    write_seg_nrrd(body.segmentation(MOVING_GRID, to_moving_anatomy), folder / "iv.seg.nrrd")
    write_csv(folder / "ia_landmarks.csv", [{"name": n, "x": p[0], "y": p[1], "z": p[2]} for n, p in LANDMARKS.items()])
    moved = {n: truth.TransformPoint(tuple(p)) for n, p in LANDMARKS.items()}
    write_csv(folder / "iv_landmarks.csv", [{"name": n, "x": p[0], "y": p[1], "z": p[2]} for n, p in moved.items()])
    return folder


@pytest.fixture(scope="module")
def registered(case, tmp_path_factory):
    out = tmp_path_factory.mktemp("registered")
    before = digest(case)
    args = ["register", str(case / "ia.nrrd"), str(case / "iv.nii.gz"), "-o", str(out / "iv_to_ia.tfm"),
            "--center-lps-mm", *(str(v) for v in LIVER_CENTRE),
            "--landmarks-fixed", str(case / "ia_landmarks.csv"), "--landmarks-moving", str(case / "iv_landmarks.csv"),
            "--resampled", str(out / "iv_on_ia.nrrd"), "--summary", str(out / "summary.json")]
    return out, args, before


def test_register_prints_the_rigid_parameters_and_tre(case, registered, capsys):
    out, args, before = registered
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary == json.loads((out / "summary.json").read_text())
    rigid = summary["rigid"]
    assert rigid["center_lps_mm"] == list(LIVER_CENTRE)
    assert np.linalg.norm(np.subtract(rigid["translation_mm"], TRUTH["translation_mm"])) < 1.0
    assert np.max(np.abs(np.subtract(rigid["rotation_deg"], TRUTH["rotation_deg"]))) < 0.5
    assert summary["metric_value"] < summary["initial_metric_value"]
    assert summary["elapsed_s"] > 0 and summary["transform_type"] == "rigid" and summary["metric"] == "mattes"
    tre = summary["target_registration_error"]
    assert tre["mean_tre_mm"] < 1.0 and tre["mean_distance_before_mm"] > 5.0 and len(tre["landmarks"]) == 4
    # The transform file maps fixed points to moving points.
    transform = read_transform(out / "iv_to_ia.tfm")
    truth = T.rigid_transform(**TRUTH)
    assert T.rigid_error(transform, truth, list(LANDMARKS.values()))["max_point_error_mm"] < 1.0
    resampled = read_volume(out / "iv_on_ia.nrrd")
    assert resampled.grid.is_same(FIXED_GRID)
    assert digest(case) == before  # inputs untouched


def test_propagate_reports_volumes_and_dice(case, registered, tmp_path, capsys):
    out, args, _ = registered
    if not (out / "iv_to_ia.tfm").exists():
        assert main(args) == 0
        capsys.readouterr()
    before = digest(case)
    assert main(["propagate", str(case / "iv.seg.nrrd"), str(out / "iv_to_ia.tfm"), "--reference", str(case / "ia.nrrd"),
                 "-o", str(tmp_path / "on_ia.seg.nrrd"), "--target-seg", str(case / "ia.seg.nrrd")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["mode"] == "fraction" and summary["fraction_threshold"] == 0.5
    rows = {r["segment"]: r for r in summary["segments"]}
    assert rows["Liver"]["volume_ml_after"] == pytest.approx(rows["Liver"]["volume_ml_before"], rel=0.03)
    dice = {r["segment"]: r["dice"] for r in summary["dice"]}
    assert dice["Liver"] >= 0.95
    assert dice["Lesion 1"] >= 0.9 and dice["Lesion 2"] >= 0.85  # 30 and 25 mm lesions on 4 mm voxels
    carried = read_segmentation(tmp_path / "on_ia.seg.nrrd")
    assert carried.grid.is_same(FIXED_GRID) and set(carried.names) == set(rows)
    # The other way round: IA VOIs onto the IV grid with the inverse transform.
    assert main(["propagate", str(case / "ia.seg.nrrd"), str(out / "iv_to_ia.tfm"), "--reference",
                 str(case / "iv.nii.gz"), "-o", str(tmp_path / "on_iv.seg.nrrd"), "--inverse",
                 "--target-seg", str(case / "iv.seg.nrrd")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {r["segment"]: r["dice"] for r in summary["dice"]}["Liver"] >= 0.95
    assert digest(case) == before


def test_register_dicom_folders_with_a_roi_label_map(tmp_path, capsys):
    truth = T.rigid_transform((2.0, -3.0, 4.0), (0.0, 1.0, -1.0), LIVER_CENTRE)
    grid_a = body.default_grid(spacing_mm=(4.0, 4.0, 5.0), extent_mm=(360.0, 260.0, 200.0), center=(0.0, 10.0, 10.0))
    grid_b = body.default_grid(spacing_mm=(4.0, 4.0, 5.0), extent_mm=(360.0, 260.0, 200.0), center=(0.0, 10.0, 20.0))
    for name, grid, to_anatomy in (("tp1", grid_a, None), ("tp2", grid_b, truth.GetInverse())):
        ct = body.body_ct(grid, to_anatomy, noise_hu=10.0, seed=3)
        write_image_series(ct.array.astype(np.float64), grid, tmp_path / name, "CT", {"SeriesDescription": name},
                           uid_key=name)
    write_labelmap(body.segmentation(grid_a, names=("Liver",)), tmp_path / "liver.nrrd", tmp_path / "labels.csv")
    assert main(["register", str(tmp_path / "tp1"), str(tmp_path / "tp2"), "-o", str(tmp_path / "t.h5"),
                 "--roi", f"{tmp_path / 'liver.nrrd'}:Liver", "--roi-labels", str(tmp_path / "labels.csv")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["roi"]["segment"] == "Liver" and summary["roi"]["margin_mm"] == 30.0
    assert summary["metric"] == "correlation"  # the default inside a region
    error = T.rigid_error(read_transform(tmp_path / "t.h5"), truth, [c for c, _, _ in body.LESIONS.values()])
    # Inside a liver-only region the rotation is less determined than on the whole body (docs: Limits);
    # what matters for the VOIs is the lesions' positions.
    assert error["max_point_error_mm"] < 1.0 and error["rotation_error_deg"] < 1.0


def test_failures_exit_3_and_write_nothing(case, tmp_path, capsys):
    far = body.default_grid(spacing_mm=(6.0, 6.0, 6.0), center=(0.0, 10.0, 2000.0))
    write_volume(body.body_ct(far, T.rigid_transform((0.0, 0.0, -2000.0))), tmp_path / "far.nrrd")
    code = main(["register", str(case / "ia.nrrd"), str(tmp_path / "far.nrrd"), "-o", str(tmp_path / "t.tfm"),
                 "--init", "none"])
    assert code == 3
    assert "do not overlap" in capsys.readouterr().err
    assert not (tmp_path / "t.tfm").exists()


@pytest.mark.parametrize("extra, message", [
    (["--roi", "no-colon-here"], "SEGMENTATION:SEGMENT"),
    (["--roi", "{case}/ia.seg.nrrd:Pancreas"], "Pancreas"),
    (["--landmarks-fixed", "{case}/ia_landmarks.csv"], "--landmarks-moving"),
])
def test_bad_arguments_exit_2(case, tmp_path, capsys, extra, message):
    extra = [e.replace("{case}", str(case)) for e in extra]
    code = main(["register", str(case / "ia.nrrd"), str(case / "iv.nii.gz"), "-o", str(tmp_path / "t.tfm"), *extra])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "t.tfm").exists()


def test_deformable_registration_and_propagation(tmp_path, capsys):
    """--deformable writes a composite (rigid then B-spline) .h5 that propagate reads; the liver fits
    better than with the rigid stage alone (the moving anatomy is pushed by a smooth 12 mm bump)."""
    import SimpleITK as sitk

    grid = body.default_grid(spacing_mm=(4.0, 4.0, 4.0))
    bump = body.smooth_deformation(grid, 12.0, centre=(-60.0, -40.0, 60.0), width_mm=40.0)
    to_anatomy = sitk.CompositeTransform([bump, T.rigid_transform((4.0, -3.0, 6.0), (1.0, -1.0, 2.0),
                                                                  LIVER_CENTRE).GetInverse()])
    names = ("Liver", "Lesion 1", "Lesion 2")
    write_volume(body.body_ct(grid, noise_hu=10.0, seed=1), tmp_path / "fixed.nrrd")
    write_volume(body.body_ct(grid, to_anatomy, noise_hu=10.0, seed=2), tmp_path / "moving.nrrd")
    write_seg_nrrd(body.segmentation(grid, names=names), tmp_path / "fixed.seg.nrrd")
    write_seg_nrrd(body.segmentation(grid, to_anatomy, names=names), tmp_path / "moving.seg.nrrd")
    assert main(["register", str(tmp_path / "fixed.nrrd"), str(tmp_path / "moving.nrrd"), "-o", str(tmp_path / "t.h5"),
                 "--roi", f"{tmp_path / 'fixed.seg.nrrd'}:Liver", "--deformable"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["transform_type"] == "rigid+bspline" and [s["stage"] for s in summary["stages"]] == ["rigid", "bspline"]
    assert summary["stages"][1]["metric_value"] < summary["stages"][1]["initial_metric_value"]
    transform = read_transform(tmp_path / "t.h5")
    assert transform.GetName() == "CompositeTransform"
    dice = {}
    for name, path in (("rigid", tmp_path / "rigid.tfm"), ("deformable", tmp_path / "t.h5")):
        if name == "rigid":
            rigid = sitk.CompositeTransform(transform).GetNthTransform(0)
            write_transform(rigid, path)
        assert main(["propagate", str(tmp_path / "moving.seg.nrrd"), str(path), "--reference", str(tmp_path / "fixed.nrrd"),
                     "-o", str(tmp_path / f"{name}.seg.nrrd"), "--target-seg", str(tmp_path / "fixed.seg.nrrd")]) == 0
        dice[name] = {r["segment"]: r["dice"] for r in json.loads(capsys.readouterr().out)["dice"]}
    assert dice["deformable"]["Liver"] > dice["rigid"]["Liver"], dice
    # No exact inverse of a deformable transform: propagate --inverse refuses it (exit 2).
    assert main(["propagate", str(tmp_path / "fixed.seg.nrrd"), str(tmp_path / "t.h5"), "--reference",
                 str(tmp_path / "moving.nrrd"), "-o", str(tmp_path / "back.seg.nrrd"), "--inverse"]) == 2
    assert "deformable" in capsys.readouterr().err and not (tmp_path / "back.seg.nrrd").exists()
