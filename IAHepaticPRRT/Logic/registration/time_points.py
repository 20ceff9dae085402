"""Aligning the SPECT time points of one cycle: each registered (rigid) to the reference time point
and resampled onto its SPECT grid (activity concentration, linear interpolation)."""

from __future__ import annotations

import numpy as np

from ..errors import ComputationError
from ..imaging.grid import Grid
from ..io.spect_dicom import SpectTimePoint


def register_to_reference(points: list[SpectTimePoint], cts: list | None, reference_index: int,
                          registration: bool) -> tuple[list[np.ndarray], list[dict], list[str]]:
    """Each time point's Bq/mL on the reference SPECT grid, the transforms used, warnings."""
    from ..imaging.resample import resample_volume
    from .register import register_rigid

    reference = points[reference_index]
    grid = reference.volume.grid
    arrays, records, warnings = [], [], []
    for index, point in enumerate(points):
        record = {"index": index}
        if index == reference_index:
            arrays.append(point.volume.array.astype(np.float32))
            record["registration"] = "reference"
            records.append(record)
            continue
        transform = None
        if registration:
            if cts is not None:
                fixed, moving, on = cts[reference_index], cts[index], "CT"
            else:
                fixed, moving, on = reference.volume, point.volume, "SPECT"
            try:
                result = register_rigid(fixed, moving)
            except ComputationError as exc:
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

