"""Benchmark: registration of the synthetic patient's four SPECT/CT time points (issue 12; goal
under 5 s in all on 2 cores).

Run by hand from the worktree root:

    .venv/bin/python benchmarks/time_points.py [--cache DIR]

The default synthetic patient (``iahprrt phantom``: CTs of 256 x 256 x 101, 1.875 x 1.875 x 4 mm)
is generated once into a cache folder. Then, in this process, with the CTs already read:

- ``current``: ``registration.time_points.register_to_reference`` (run twice: the first call also
  pays ITK's one-time initialisation) (time-point schedule, two
  registrations at a time, ITK single-threaded each), which also resamples the SPECTs;
- ``baseline``: the previous way, the three registrations one after the other with
  ``register_rigid``'s default schedule (2 mm working grid, three levels, 60 000 samples), ITK
  with its default threads.

Printed: wall time of each, the ratio, and each time point's error against the true motion
(largest displacement at the liver centre of the truth, rotation error).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "iahprrt-time-points-benchmark"))
    args = parser.parse_args()
    import SimpleITK as sitk

    from iahepaticprrt.imaging import transforms as T
    from iahepaticprrt.io.dicom_series import read_series
    from iahepaticprrt.io.spect_dicom import read_time_point
    from iahepaticprrt.phantom.generate import generate_phantom
    from iahepaticprrt.registration import register as R
    from iahepaticprrt.registration.time_points import register_to_reference

    cache = Path(args.cache)
    if not (cache / "truth.json").exists():
        generate_phantom(cache, noise=True)
    truth = json.loads((cache / "truth.json").read_text())["transforms"]
    points = [read_time_point(cache / "spect" / f"tp{i}" / "nm" / "spect.dcm") for i in range(1, 5)]
    cts = [read_series(cache / "spect" / f"tp{i}" / "ct").volume for i in range(1, 5)]

    def errors(transforms):
        out = []
        for i, transform in zip(range(2, 5), transforms):
            entry = truth[f"spect_tp{i}"]
            error = T.rigid_error(transform, T.rigid_transform(entry["translation_mm"], entry["rotation_deg"],
                                                               entry["center_lps_mm"]), [entry["center_lps_mm"]])
            out.append((round(error["max_point_error_mm"], 3), round(error["rotation_error_deg"], 3)))
        return out

    start = time.perf_counter()
    _, records, _ = register_to_reference(points, cts, 0, True)
    first_call = time.perf_counter() - start  # includes ITK's one-time initialisation in this process
    start = time.perf_counter()
    _, records, _ = register_to_reference(points, cts, 0, True)
    current = time.perf_counter() - start

    def transform_of(record):
        t = sitk.Euler3DTransform()
        t.SetFixedParameters(record["registration"]["fixed_parameters"])
        t.SetParameters(record["registration"]["parameters"])
        return t

    current_errors = errors([transform_of(r) for r in records[1:]])
    start = time.perf_counter()
    baseline = []
    for ct in cts[1:]:
        result = R._register_linear(cts[0], ct)  # the default schedule, ITK's default threads
        baseline.append(result.transform)
    baseline_time = time.perf_counter() - start
    baseline_errors = errors(baseline)
    print(f"CTs {cts[0].grid.shape_kji[::-1]} voxels of {tuple(round(s, 3) for s in cts[0].grid.spacing_mm)} mm; "
          f"load average {os.getloadavg()[0]:.1f}; ITK default threads {sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()}")
    print("| case | time s | time x | tp2 / tp3 / tp4 error mm, deg |")
    print("|---|---|---|---|")
    print(f"| current (`register_to_reference`, registration and resampling) | {current:.2f} | "
          f"{current / baseline_time:.2f} | {current_errors} |")
    print(f"| current, first call in the process | {first_call:.2f} | {first_call / baseline_time:.2f} | |")
    print(f"| baseline (default schedule, one after the other) | {baseline_time:.2f} | 1.00 | {baseline_errors} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
