"""Registration across different fields of view, and reproducible transforms (issue 12).

Known answer: the analytic body CT (Testing/synthetic_ct.py) and a copy moved 6 mm along z whose
field of view is cropped by 30 mm at one end and padded with air (-1000 HU), as an export of a
shorter scan onto a longer grid writes it. Landmarks: the lesion centres and the liver centre.
"""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from iahepaticprrt.imaging import transforms as T
from iahepaticprrt.imaging.volume import Volume
from iahepaticprrt.io.transform_files import write_transform
from iahepaticprrt.registration.register import register_rigid
from iahepaticprrt.registration.time_points import TIME_POINT_SCHEDULE

import synthetic_ct as body

GRID = body.default_grid(spacing_mm=(2.0, 2.0, 3.0))
TRUTH = {"translation_mm": (0.0, 0.0, 6.0), "rotation_deg": (0.0, 0.0, 0.0), "center_lps_mm": (-60.0, 0.0, 25.0)}
LANDMARKS = [c for c, _, _ in body.LESIONS.values()] + [(-60.0, 0.0, 25.0)]


@pytest.fixture(scope="module")
def pair():
    truth = T.rigid_transform(**TRUTH)
    fixed = body.body_ct(GRID, noise_hu=10.0, seed=1)
    moving = body.body_ct(GRID, truth.GetInverse(), noise_hu=10.0, seed=2)
    return fixed, moving, truth


def _cropped(moving: Volume, end: str) -> Volume:
    array = moving.array.copy()
    slices = int(round(30.0 / GRID.spacing_mm[2]))  # 30 mm of the field of view
    if end == "superior":
        array[-slices:] = -1000.0
    else:
        array[:slices] = -1000.0
    return Volume(array, moving.grid, "HU")


@pytest.mark.parametrize("end", ["superior", "inferior"])
@pytest.mark.parametrize("schedule", ["default", "time points"])
def test_z_shift_with_cropped_moving_field_of_view(pair, end, schedule):
    fixed, moving, truth = pair
    options = TIME_POINT_SCHEDULE if schedule == "time points" else {}
    result = register_rigid(fixed, _cropped(moving, end), **options)
    error = T.rigid_error(result.transform, truth, LANDMARKS)
    assert error["max_point_error_mm"] < 1.0, error
    padding = result.stages[0]["field_of_view_padding_removed"]["moving"]
    removed = padding["padded_mm_removed"][1 if end == "superior" else 0]
    # 30 mm padded, plus one slice of the working grid that mixes padding and anatomy.
    assert 30.0 <= removed <= 30.0 + 4.0
    assert any("padded slabs" in w for w in result.warnings)


def test_no_padding_is_found_in_a_noisy_image(pair):
    fixed, moving, _ = pair
    result = register_rigid(fixed, moving, **TIME_POINT_SCHEDULE)
    assert result.stages[0]["field_of_view_padding_removed"] == {}


def test_two_runs_give_byte_identical_transform_files(pair, tmp_path):
    """ITK keeps its default (multi-threaded) setting outside the registration; inside, one thread
    per registration: the same inputs give the same bytes."""
    fixed, moving, _ = pair
    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    paths = []
    for run in range(2):
        result = register_rigid(fixed, _cropped(moving, "superior"), **TIME_POINT_SCHEDULE)
        paths.append(write_transform(result.transform, tmp_path / f"run{run}.tfm") or tmp_path / f"run{run}.tfm")
        assert sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() == threads  # restored
    assert (tmp_path / "run0.tfm").read_bytes() == (tmp_path / "run1.tfm").read_bytes()


def test_parallel_time_point_registrations_equal_serial_ones(pair):
    from concurrent.futures import ThreadPoolExecutor

    fixed, moving, _ = pair
    moved = [_cropped(moving, "superior"), _cropped(moving, "inferior")]
    serial = [tuple(register_rigid(fixed, m, **TIME_POINT_SCHEDULE).transform.GetParameters()) for m in moved]
    with ThreadPoolExecutor(2) as pool:
        parallel = list(pool.map(lambda m: tuple(register_rigid(fixed, m, **TIME_POINT_SCHEDULE)
                                                 .transform.GetParameters()), moved))
    assert serial == parallel
    assert np.all(np.isfinite(serial))
