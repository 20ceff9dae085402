"""Benchmark of the synthetic trial patient generator (run by hand, not a test).

    python benchmarks/phantom.py

Each configuration runs in a fresh process (so peak memory is its own): the small patient
(baseline, the unit tests' size), the default patient without noise and with noise. Prints wall
time, peak resident memory, file count and size, and the ratios to the baseline measured in the
same run. Goal: default patient under 60 s on the 2-core CI machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from iahepaticprrt.phantom import generate_phantom
out, size, noise = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
start = time.perf_counter()
generate_phantom(out, seed=1, noise=noise, vendor="siemens", size=size)
elapsed = time.perf_counter() - start
files = [p for p in Path(out).rglob("*") if p.is_file()]
print(json.dumps({"elapsed_s": elapsed, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "files": len(files), "size_mb": sum(p.stat().st_size for p in files) / 1e6}))
"""

CASES = [("small (baseline)", "small", False), ("default, noise-free", "default", False),
         ("default, with noise", "default", True)]


def run_case(size: str, noise: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "patient")
        result = subprocess.run([sys.executable, "-c", CHILD, out, size, "1" if noise else "0"],
                                capture_output=True, text=True, check=True)
        return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}")
    results = {}
    for label, size, noise in CASES:
        results[label] = run_case(size, noise)
    base = results[CASES[0][0]]
    print(f"{'case':24s} {'time s':>8s} {'peak MB':>8s} {'files':>6s} {'size MB':>8s} {'time x':>7s} {'mem x':>6s}")
    for label, r in results.items():
        print(f"{label:24s} {r['elapsed_s']:8.1f} {r['peak_rss_mb']:8.0f} {r['files']:6d} {r['size_mb']:8.1f} "
              f"{r['elapsed_s'] / base['elapsed_s']:7.1f} {r['peak_rss_mb'] / base['peak_rss_mb']:6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
