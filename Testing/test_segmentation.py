"""Segmentations: files, MRML nodes and resampling; lossless round trips, cross-checked with
Slicer's own segmentation storage node."""

from __future__ import annotations

import numpy as np
import pytest

from iahepaticprrt.errors import InputError
from iahepaticprrt.imaging.grid import Grid
from iahepaticprrt.imaging.segmentation import Segmentation, resample_mask
from iahepaticprrt.io.segmentation_files import read_segmentation, write_labelmap, write_seg_nrrd
from iahepaticprrt.known_answers import oblique_grid
from iahepaticprrt.mrml import adapter


def _sphere(grid: Grid, centre_ijk, radius_mm) -> np.ndarray:
    k, j, i = np.indices(grid.shape_kji)
    points = grid.index_to_lps(np.stack([i, j, k], axis=-1))
    centre = grid.index_to_lps(np.asarray(centre_ijk, float))
    return np.linalg.norm(points - centre, axis=-1) <= radius_mm


def _example(grid: Grid) -> Segmentation:
    seg = Segmentation(grid)
    liver = np.zeros(grid.shape_kji, bool)
    liver[2:10, 3:17, 4:20] = True
    seg.add("Liver", liver, (0.8, 0.5, 0.4))
    seg.add("Lesion 1", _sphere(grid, (8, 8, 5), 6.0))          # inside the liver: overlaps it
    seg.add("Lesion 2", _sphere(grid, (15, 12, 6), 4.0))
    seg.add("Spleen", np.zeros(grid.shape_kji, bool))          # empty segment survives
    return seg


def _assert_same(a: Segmentation, b: Segmentation):
    assert a.names == b.names
    assert a.grid.is_same(b.grid, 1e-6)
    for name in a.names:
        np.testing.assert_array_equal(a.mask(name), b.mask(name), err_msg=name)


def test_seg_nrrd_round_trip_with_overlaps(tmp_path):
    seg = _example(oblique_grid())
    write_seg_nrrd(seg, tmp_path / "s.seg.nrrd")
    _assert_same(seg, read_segmentation(tmp_path / "s.seg.nrrd"))


def test_our_seg_nrrd_reads_in_slicer_and_slicers_reads_here(scene, tmp_path):
    grid = oblique_grid()
    seg = _example(grid)
    write_seg_nrrd(seg, tmp_path / "ours.seg.nrrd")
    node = adapter.load_node(scene, tmp_path / "ours.seg.nrrd", "vtkMRMLSegmentationNode")
    _assert_same(seg, adapter.segmentation_from_node(node, grid))
    # Slicer writes (its own layout and cropping); our reader must agree with the node.
    adapter.save_node(node, tmp_path / "slicer.seg.nrrd")
    from_slicer = read_segmentation(tmp_path / "slicer.seg.nrrd")
    for name in seg.names:
        resampled = from_slicer.resampled(grid).mask(name)
        np.testing.assert_array_equal(resampled, seg.mask(name), err_msg=name)


def test_segmentation_node_round_trip_is_lossless(scene):
    grid = oblique_grid()
    seg = _example(grid)
    node = adapter.segmentation_node_from_segmentation(scene, seg, "example")
    assert node.GetSegmentation().GetNumberOfSegments() == 4
    _assert_same(seg, adapter.segmentation_from_node(node, grid))


def test_labelmap_with_labels_csv_round_trip(tmp_path):
    grid = Grid((10, 12, 14), (2.0, 2.0, 3.0), (5.0, -3.0, 100.0))
    seg = Segmentation(grid)
    a = np.zeros(grid.shape_kji, bool)
    a[1:4, 2:6, 3:9] = True
    b = np.zeros(grid.shape_kji, bool)
    b[6:9, 2:6, 3:9] = True
    seg.add("Kidneys", a)
    seg.add("Lesion 1", b)
    write_labelmap(seg, tmp_path / "labels.nii.gz", tmp_path / "labels.csv")
    assert (tmp_path / "labels.csv").read_text().splitlines()[0] == "value,name"
    _assert_same(seg, read_segmentation(tmp_path / "labels.nii.gz", tmp_path / "labels.csv"))


def test_labelmap_refusals(tmp_path):
    grid = Grid((4, 4, 4), (1.0, 1.0, 1.0))
    seg = Segmentation(grid)
    m = np.zeros(grid.shape_kji, bool)
    m[1, 1, 1] = True
    seg.add("Lesion 1", m)
    write_labelmap(seg, tmp_path / "l.nrrd", tmp_path / "l.csv")
    with pytest.raises(InputError, match="--labels"):
        read_segmentation(tmp_path / "l.nrrd")
    (tmp_path / "other.csv").write_text("value,name\n2,Spleen\n")
    with pytest.raises(InputError, match=r"\[1\].*not in the labels file"):
        read_segmentation(tmp_path / "l.nrrd", tmp_path / "other.csv")
    (tmp_path / "bad.csv").write_text("one,Spleen\n")
    with pytest.raises(InputError, match="not an integer"):
        read_segmentation(tmp_path / "l.nrrd", tmp_path / "bad.csv")


def test_nearest_resampling_to_a_shifted_finer_grid():
    coarse = Grid((6, 6, 6), (4.0, 4.0, 4.0))
    mask = np.zeros(coarse.shape_kji, bool)
    mask[2:4, 2:4, 2:4] = True  # covers LPS [6, 14] mm on every axis (voxel faces)
    fine = Grid((20, 20, 20), (1.0, 1.0, 1.0), (0.25, 0.25, 0.25))
    out = resample_mask(mask, coarse, fine, "nearest")
    # Fine voxel centres 0.25 + n lie inside [6, 14) for n = 6..13: 8 per axis.
    assert out.sum() == 8 ** 3
    k, j, i = np.nonzero(out)
    assert (i.min(), i.max()) == (6, 13)


def test_fraction_resampling_preserves_a_sphere_volume():
    fine = Grid((64, 64, 64), (0.5, 0.5, 0.5), (-16.0, -16.0, -16.0))
    sphere = _sphere(fine, (32, 32, 32), 10.0)
    coarse = Grid((9, 9, 9), (4.0, 4.0, 4.0), (-16.25, -16.25, -15.75))
    fraction = resample_mask(sphere, fine, coarse, "fraction")
    assert fraction.max() == pytest.approx(1.0)
    volume_ml = fraction.sum() * coarse.voxel_volume_ml
    assert volume_ml == pytest.approx(4 / 3 * np.pi * 10.0 ** 3 / 1000, rel=0.03)


def test_resampling_outside_the_field_of_view_gives_empty_mask():
    a = Grid((4, 4, 4), (1.0, 1.0, 1.0))
    b = Grid((4, 4, 4), (1.0, 1.0, 1.0), (500.0, 0.0, 0.0))
    assert not resample_mask(np.ones(a.shape_kji, bool), a, b).any()
