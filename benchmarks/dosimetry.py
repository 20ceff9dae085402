"""Dosimetry benchmark (run by hand): ``.venv/bin/python benchmarks/dosimetry.py``.

1. Voxel dosimetry of 4 time points of 128^3 voxels (4.8 mm), registration excluded: voxel-wise
   mono-exponential TIA map, VOI curves and fits, dose map (LDM and VSV), DVHs. Goal: under 10 s.
2. FFT convolution of a 256^3 TIA map with the 11^3 177Lu kernel, against scipy.ndimage.convolve
   (direct summation) on the same input in the same run. Goal: under 5 s.

Prints wall time and peak traced memory (tracemalloc: numpy buffers included) for each step.
"""

from __future__ import annotations

import math
import os
import resource
import sys
import time
import tracemalloc

import numpy as np

from iahepaticprrt.dosimetry.kernels import convolve, convolve_direct, load_kernel
from iahepaticprrt.dosimetry.options import DosimetryOptions
from iahepaticprrt.imaging.grid import Grid
from iahepaticprrt.imaging.segmentation import Segmentation
from iahepaticprrt.imaging.volume import Volume
from iahepaticprrt.io.spect_dicom import SpectTimePoint
from iahepaticprrt.study.dosimetry_run import compute_dosimetry


def measure(label, function, untraced_runs: int = 0):
    """Time ``untraced_runs`` plain calls (tracemalloc slows Python-level allocations), then one
    traced call for the peak memory (its time is printed too)."""
    for run in range(untraced_runs):
        start = time.perf_counter()
        function()
        print(f"{label}: run {run + 1} {time.perf_counter() - start:.2f} s"
              + (" (first call: imports, one-time sphere-model derivation)" if run == 0 else ""))
    tracemalloc.start()
    start = time.perf_counter()
    result = function()
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{label}: traced run {elapsed:.2f} s, peak traced memory {peak / 2**20:.0f} MiB")
    return result, elapsed, peak


def synthetic_time_points(n=128, spacing=4.8, times=(4.0, 24.0, 96.0, 168.0), seed=1):
    grid = Grid((n, n, n), (spacing,) * 3, (-(n - 1) / 2 * spacing,) * 3)
    axis = (np.arange(n) - (n - 1) / 2) * spacing
    z, y, x = np.meshgrid(axis, axis, axis, indexing="ij", sparse=True)
    body = (x / 180.0) ** 2 + (y / 130.0) ** 2 + (z / 250.0) ** 2 <= 1.0
    liver = ((x + 60) / 90.0) ** 2 + ((y + 10) / 70.0) ** 2 + (z / 80.0) ** 2 <= 1.0
    lesion = (x + 60) ** 2 + (y + 10) ** 2 + (z - 20) ** 2 <= 25.0 ** 2
    kidney = ((x - 70) / 30.0) ** 2 + ((y - 40) / 25.0) ** 2 + ((z + 30) / 50.0) ** 2 <= 1.0
    rng = np.random.default_rng(seed)
    points = []
    for t in times:
        conc = (2e3 * body * math.exp(-0.03 * t) + 2e4 * liver * math.exp(-0.01 * t)
                + 2e5 * lesion * math.exp(-0.006 * t) + 6e4 * kidney * math.exp(-0.015 * t))
        conc = conc * (1.0 + 0.05 * rng.standard_normal(conc.shape))
        points.append(SpectTimePoint(Volume(conc.astype(np.float32), grid, "Bq/mL"), f"t={t}"))
    seg = Segmentation(grid)
    seg.add("Liver", np.broadcast_to(liver, grid.shape_kji).copy())
    seg.add("Lesion 1", np.broadcast_to(lesion, grid.shape_kji).copy())
    seg.add("Left kidney", np.broadcast_to(kidney, grid.shape_kji).copy())
    seg.add("Body", np.broadcast_to(body, grid.shape_kji).copy())
    return points, seg, list(times)


def main() -> int:
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} CPUs")
    points, seg, times = synthetic_time_points()
    for method in ("ldm", "vsv"):
        options = DosimetryOptions(7400.0, times_h=times, method=method, registration=False)
        measure(f"voxel dosimetry 4 x 128^3, {method}", lambda: compute_dosimetry(points, seg, options), 2)

    kernel = load_kernel(4.8)
    rng = np.random.default_rng(2)
    tia = rng.random((256, 256, 256), dtype=np.float32)
    fft, fft_s, _ = measure("FFT convolution 256^3 (float32)", lambda: convolve(tia, kernel, dtype=np.float32))
    direct, direct_s, _ = measure("scipy.ndimage.convolve 256^3 (float64, direct summation)",
                                  lambda: convolve_direct(tia, kernel))
    error = float(np.max(np.abs(fft - direct)) / np.max(np.abs(direct)))
    print(f"FFT / ndimage time ratio: {fft_s / direct_s:.4f} (FFT {direct_s / fft_s:.0f} times faster); "
          f"max relative difference {error:.2e}")
    print(f"peak resident set size of the run: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
