"""Aligning the SPECT time points of one cycle: each registered (rigid) to the reference time point
and resampled onto its SPECT grid (activity concentration, linear interpolation).

The time points' CTs are low-dose scans of one patient on one scanner a few days apart: the
registrations use a coarser schedule than the default (``TIME_POINT_SCHEDULE``: working grid
about 4 mm, two levels, 20 000 samples per level; measured on the synthetic patient within
0.07 mm of the true motions, docs/physics.md section 17) and run two at a time, each on one ITK
thread (reproducible transforms), so that four time points register in a few seconds
(benchmarks/time_points.py).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..errors import ComputationError
from ..imaging.grid import Grid
from ..io.spect_dicom import SpectTimePoint

#: Registration schedule of the time points (see the module docstring).
TIME_POINT_SCHEDULE = {"working_spacing_mm": 4.0, "shrink_factors": (2, 1), "smoothing_sigmas": (1.0, 0.0),
                       "samples_per_level": 20_000}
#: Registrations run at once (Python threads; ITK releases the interpreter while it computes).
PARALLEL_REGISTRATIONS = max(1, min(2, os.cpu_count() or 1))


def register_to_reference(points: list[SpectTimePoint], cts: list | None, reference_index: int,
                          registration: bool) -> tuple[list[np.ndarray], list[dict], list[str]]:
    """Each time point's Bq/mL on the reference SPECT grid, the transforms used, warnings."""
    from ..imaging.resample import resample_volume
    from .register import register_rigid

    reference = points[reference_index]
    grid = reference.volume.grid
    arrays, records, warnings = [], [], []

    def register(index: int):
        if cts is not None:
            fixed, moving = cts[reference_index], cts[index]
        else:
            fixed, moving = reference.volume, points[index].volume
        try:
            return register_rigid(fixed, moving, **TIME_POINT_SCHEDULE)
        except ComputationError as exc:
            return exc

    results = {}
    if registration:
        others = [i for i in range(len(points)) if i != reference_index]
        with ThreadPoolExecutor(PARALLEL_REGISTRATIONS) as pool:
            results = dict(zip(others, pool.map(register, others)))
    for index, point in enumerate(points):
        record = {"index": index}
        if index == reference_index:
            arrays.append(point.volume.array.astype(np.float32))
            record["registration"] = "reference"
            records.append(record)
            continue
        transform = None
        if registration:
            on = "CT" if cts is not None else "SPECT"
            result = results[index]
            if isinstance(result, ComputationError):
                exc = result
                raise ComputationError(f"time point {index + 1} ({point.source}): {on} registration to the reference "
                                       f"failed: {exc}; check the images, or give --no-registration when the time "
                                       "points are already aligned") from exc
            transform = result.transform
            # Without the run time: two runs of one patient must give byte-identical results.
            summary = {k: v for k, v in result.to_dict().items() if k != "elapsed_s"}
            record["registration"] = {"on": on, **summary,
                                      "transform_type": transform.GetName(),
                                      "parameters": list(transform.GetParameters()),
                                      "fixed_parameters": list(transform.GetFixedParameters()),
                                      "convention": "maps reference-space points (LPS mm) to this time point's space "
                                                    "(ITK; parameters as SimpleITK gives them)"}
        else:
            record["registration"] = "none (--no-registration): resampled in scanner coordinates"
        moved = resample_volume(point.volume, grid, transform, interpolation="linear", default_value=0.0)
        arrays.append(moved.array.astype(np.float32))
        inside = _fov_fraction(point.volume.grid, grid, transform)
        if inside < 0.9:
            warnings.append(f"{point.source}: only {100 * inside:.0f} % of the reference field of view lies inside this "
                            "time point's SPECT; voxels outside read 0 Bq/mL")
        records.append(record)
    return arrays, records, warnings


def _fov_fraction(source: Grid, target: Grid, transform) -> float:
    """Fraction of ``target``'s voxel centres (sampled) that fall inside ``source`` after ``transform``."""
    k, j, i = (np.linspace(0, n - 1, min(n, 12)) for n in target.shape_kji)
    points = np.stack(np.meshgrid(i, j, k, indexing="ij"), axis=-1).reshape(-1, 3)
    lps = target.index_to_lps(points)
    if transform is not None:
        lps = np.array([transform.TransformPoint(tuple(p)) for p in lps])
    index = source.lps_to_index(lps)
    size = np.array(source.size_ijk)
    inside = np.all((index >= -0.5) & (index <= size - 0.5), axis=1)
    return float(inside.mean())

