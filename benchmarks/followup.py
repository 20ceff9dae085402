"""Benchmark: the follow-up of the synthetic patient (issue 15): one patient's response on the
visits' own MR segmentations (baseline of the ratios), the same with the baseline VOIs carried to
the visits by registration and refined on the MR images, and the cohort statistics of 24
segmentation-only patients through the batch.

Run by hand from the worktree root:

    .venv/bin/python benchmarks/followup.py [--cache DIR]

The follow-up patient (``iahprrt phantom --small --follow-up --seed 5``: MR 360 x 260 x 116 at
1 x 1 x 2 mm, four visits) is generated once into a cache folder. Printed: wall time and peak
traced memory (tracemalloc, numpy allocations) of each case, and its ratio to the baseline.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path


def _measure(action):
    tracemalloc.start()
    start = time.perf_counter()
    action()
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
    tracemalloc.stop()
    return elapsed, peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "iahprrt-followup-benchmark"))
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Testing"))
    from followup_builders import write_cohort

    from iahepaticprrt.phantom.generate import generate_phantom
    from iahepaticprrt.study.batch import run_batch
    from iahepaticprrt.study.followup_run import run_followup
    from iahepaticprrt.study.manifest import read_manifest

    cache = Path(args.cache)
    if not (cache / "patient" / "truth.json").exists():
        shutil.rmtree(cache / "patient", ignore_errors=True)
        generate_phantom(cache / "patient", seed=5, size="small", follow_up=True)

    def response(name):
        manifest = read_manifest(cache / "patient" / name)
        return lambda: run_followup(manifest.data, manifest.path)

    cases = [("own MR segmentations (baseline)", response("manifest.json")),
             ("own CT segmentations", response("manifest_ct.json")),
             ("carried by registration, refined on MR", response("manifest_carry_over.json"))]

    def cohort():
        folder = Path(tempfile.mkdtemp(prefix="iahprrt-followup-cohort-"))
        try:
            write_cohort(folder / "in", range(1, 25))
            run_batch(folder / "in", folder / "out", workers=2, progress=False)
        finally:
            shutil.rmtree(folder)

    cases.append(("24-patient cohort: write segmentations + batch (2 workers)", cohort))
    baseline = None
    print(f"{'case':<60} {'time s':>8} {'peak MiB':>9} {'time x':>7}")
    for name, action in cases:
        elapsed, peak = _measure(action)
        baseline = baseline or elapsed
        print(f"{name:<60} {elapsed:8.2f} {peak:9.0f} {elapsed / baseline:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
