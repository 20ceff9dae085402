"""The report's images (report/figures.py) on volumes whose every voxel the test knows.

Geometry by hand: lesion slices are 0.5 mm pixels over a 90 mm field centred on the marked voxel, so
the marked voxel is pixel (90, 90) of a 181 x 181 image; 20 mm is 40 pixels. Radiological convention:
the patient's right (smaller LPS x) on the image's left, anterior (smaller LPS y) up."""

import numpy as np
import pytest
import SimpleITK as sitk

from iahepaticprrt.imaging.grid import Grid
from iahepaticprrt.imaging.volume import Volume
from iahepaticprrt.report.figures import coronal_mip, dose_slice, isodose_levels, lesion_slice

RED = (255, 40, 40)      # the SUVmax cross (figures.MARKER_COLOUR, written out)
BLUE = (0, 150, 255)     # the PET VOI contour (figures.PET_VOI_COLOUR, written out)


def _decode(png: bytes, tmp_path) -> np.ndarray:
    path = tmp_path / "figure.png"
    path.write_bytes(png)
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))  # [rows, columns, 3]


def _pet():
    """2 mm voxels, 101 x 101 x 21, voxel [50, 50, 10] at LPS (0, 0, 0)."""
    grid = Grid((21, 101, 101), (2.0, 2.0, 2.0), (-100.0, -100.0, -20.0))
    return Volume(np.zeros(grid.shape_kji, dtype=np.float32), grid, "SUVbw")


def _at(volume, x, y, z, value):
    i, j, k = (np.array([x, y, z]) - np.array(volume.grid.origin_lps_mm)) / 2.0
    volume.array[int(k), int(j), int(i)] = value


def test_lesion_slice_marks_the_given_voxel_with_the_patients_right_on_the_left(tmp_path):
    pet = _pet()
    _at(pet, -20.0, 0.0, 0.0, 10.0)    # the lesion's SUVmax voxel
    _at(pet, -40.0, 0.0, 0.0, 10.0)    # 20 mm further to the patient's right
    _at(pet, -20.0, -20.0, 0.0, 10.0)  # 20 mm anterior
    k, j, i = np.indices(pet.grid.shape_kji)
    mask = ((i * 2.0 - 100.0 + 20.0) ** 2 + (j * 2.0 - 100.0) ** 2 + (k * 2.0 - 20.0) ** 2) <= 10.0 ** 2
    figure = lesion_slice(pet, mask, pet.grid, 10.0, (-20.0, 0.0, 0.0))
    rgb = _decode(figure.png, tmp_path)
    assert rgb.shape == (181, 181, 3)
    assert tuple(rgb[90, 90]) == (0, 0, 0)            # SUV 10 at the window's top: black, the cross open on it
    for d in (4, 8, 12):
        assert tuple(rgb[90, 90 + d]) == RED and tuple(rgb[90 - d, 90]) == RED
    assert tuple(rgb[90, 50]) == (0, 0, 0)            # patient's right: image left (column 90 - 40)
    assert tuple(rgb[90, 130]) == (255, 255, 255)     # patient's left of the lesion: nothing
    assert tuple(rgb[50, 90]) == (0, 0, 0)            # anterior: up (row 90 - 40)
    # The 10 mm VOI's contour: 20 pixels from the centre, drawn 3 pixels wide inside its edge.
    assert tuple(rgb[90, 90 + 19]) == BLUE and tuple(rgb[90, 90 + 24]) != BLUE
    assert tuple(rgb[90, 90 + 12 + 2]) != BLUE  # the interior is not painted
    assert figure.caption["z_mm"] == 0.0 and figure.caption["window_suv"] == [0.0, 10.0]


def test_coronal_mip_takes_the_maximum_along_anterior_posterior(tmp_path):
    pet = _pet()
    _at(pet, 0.0, -60.0, 0.0, 4.0)  # anterior
    _at(pet, 0.0, 60.0, 0.0, 8.0)   # posterior, same x and z: the projection keeps 8
    _at(pet, -60.0, 0.0, 10.0, 8.0)
    figure = coronal_mip(pet, 8.0, pixel_mm=2.0)
    rgb = _decode(figure.png, tmp_path)
    # Columns run from x = -100 (patient's right) by 2 mm; rows from z = +20 (head) down by 2 mm.
    assert rgb.shape == (21, 101, 3)
    assert tuple(rgb[10, 50]) == (0, 0, 0)   # x 0, z 0: max(4, 8) = 8, the window's top
    assert tuple(rgb[5, 20]) == (0, 0, 0)    # x -60 (image left), z +10 (up)
    assert tuple(rgb[15, 80]) == (255, 255, 255)


def test_isodose_levels_from_two_percent_of_the_slice_maximum_to_it():
    assert [level for level, _ in isodose_levels(56.1)] == [2.0, 5.0, 10.0, 20.0, 40.0]  # 1.12 Gy excludes 1
    assert [level for level, _ in isodose_levels(3.68)] == [0.5, 1.0, 2.0]
    assert isodose_levels(0.3) == []


def test_dose_slice_draws_each_isodose_line_where_the_dose_crosses_it(tmp_path):
    grid = Grid((11, 101, 101), (2.0, 2.0, 2.0), (-100.0, -100.0, -10.0))
    k, j, i = np.indices(grid.shape_kji)
    radius_mm = np.hypot(i * 2.0 - 100.0, j * 2.0 - 100.0)
    dose = Volume(np.clip(25.0 - radius_mm / 2.0, 0.0, None).astype(np.float32), grid, "Gy")  # 25 Gy at 0, -0.5 Gy/mm
    ct = Volume(np.zeros(grid.shape_kji, dtype=np.float32), grid, "HU")
    figure = dose_slice(dose, ct, (-160.0, 240.0), (0.0, 0.0, 0.0), [], max_lines=5, half_width_mm=60.0,
                        pixel_mm=1.0)
    rgb = _decode(figure.png, tmp_path)
    assert figure.caption["isodose_levels_gy"] == [1.0, 2.0, 5.0, 10.0, 20.0]  # 0.5 Gy is < 2 % of 25 Gy
    colours = figure.caption["isodose_colours"]
    # 20 Gy at 10 mm, 10 Gy at 30 mm from the centre (pixel 60): each line on its radius' inner edge.
    for level_gy, radius in ((20.0, 10), (10.0, 30)):
        colour = colours[figure.caption["isodose_levels_gy"].index(level_gy)]
        expected = tuple(int(colour[n:n + 2], 16) for n in (1, 3, 5))
        assert tuple(rgb[60, 60 + radius]) == expected, level_gy
    assert figure.caption["slice_max_dose_gy"] == pytest.approx(25.0)
