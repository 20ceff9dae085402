"""Benchmark: rigid CT-to-CT registration of two 512 x 512 x 300 CTs (issue 5; goal under 30 s).

Run by hand from the worktree root:

    .venv/bin/python benchmarks/registration.py [--cache DIR] [--skip-baseline]

Two analytic body CTs (Testing/synthetic_ct.py; 0.9 x 0.9 x 1.5 mm, int16, the second with a
known rigid motion of the patient: 6 mm / 3 degrees) are generated once into a cache folder.
Each registration then runs in a FRESH process that reads the two files, so its peak resident
memory (ru_maxrss) is its own:

- ``current``: ``registration.register_rigid`` with its defaults (working images at about 2 mm,
  three levels, 60 000 samples per level, intensity window, optimum probes);
- ``baseline``: the first version's settings (commit dec4926: native resolution, three levels,
  10 % of the voxels sampled per level, minimum step 1e-4), run from that commit's source.

Printed: time (s), peak resident memory during the registration (MB; the process's peak is reset
after the two files are read, so the NRRD reader's own peak does not count; the two int16 images
themselves, 300 MB, do), ratios, and the recovered motion against the truth.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Testing"))

SHAPE_KJI = (300, 512, 512)
SPACING_MM = (0.9, 0.9, 1.5)
TRUTH = {"translation_mm": (6.0, -4.0, 9.0), "rotation_deg": (2.0, -1.5, 3.0), "center_lps_mm": (-60.0, 0.0, 25.0)}
BASELINE_COMMIT = "dec4926"
LESION_CENTRES = [(-75.0, -20.0, 30.0), (-40.0, 10.0, 5.0), (-85.0, 15.0, 50.0), (-60.0, 0.0, 25.0)]


def make_grid(center):
    from iahepaticprrt.imaging.grid import Grid

    size = np.array(SHAPE_KJI[::-1])
    origin = np.array(center) - (size - 1) / 2.0 * np.array(SPACING_MM)
    return Grid(SHAPE_KJI, SPACING_MM, tuple(origin))


def generate(path: Path, grid, to_anatomy=None, seed: int = 0) -> None:
    """Write the phantom CT slab by slab (the analytic anatomy needs float64 temporaries)."""
    from iahepaticprrt.imaging.volume import Volume
    from iahepaticprrt.io.volume_files import write_volume

    import synthetic_ct as body

    a = np.eye(3) if to_anatomy is None else None
    if to_anatomy is not None:
        from iahepaticprrt.imaging.transforms import matrix_and_offset

        a, o = matrix_and_offset(to_anatomy)
    else:
        o = np.zeros(3)
    out = np.empty(grid.shape_kji, dtype=np.int16)
    rng = np.random.default_rng(seed)
    j, i = np.meshgrid(np.arange(grid.shape_kji[1], dtype=float), np.arange(grid.shape_kji[2], dtype=float),
                       indexing="ij")
    for k0 in range(0, grid.shape_kji[0], 10):
        ks = np.arange(k0, min(k0 + 10, grid.shape_kji[0]), dtype=float)
        index = np.stack([np.broadcast_to(i, (len(ks),) + i.shape), np.broadcast_to(j, (len(ks),) + j.shape),
                          np.broadcast_to(ks[:, None, None], (len(ks),) + i.shape)], axis=-1)
        p = grid.index_to_lps(index) @ a.T + o
        distances = body.anatomy_distances(p[..., 0], p[..., 1], p[..., 2])
        hu = body.paint(distances, body._hu_layers(), -1000.0, float(np.mean(grid.spacing_mm)))
        hu += rng.normal(0.0, 10.0, hu.shape).astype(np.float32)
        out[k0:k0 + len(ks)] = np.round(hu).astype(np.int16)
    write_volume(Volume(out, grid, "HU"), path)


def ensure_images(cache: Path) -> tuple[Path, Path]:
    from iahepaticprrt.imaging.transforms import rigid_transform

    cache.mkdir(parents=True, exist_ok=True)
    # The truth's angles are in the package's default order (R = Rz Rx Ry); the name records it.
    fixed, moving = cache / "fixed_512x512x300.nrrd", cache / "moving_512x512x300_zxy.nrrd"
    if not fixed.exists():
        start = time.perf_counter()
        generate(fixed, make_grid((0.0, 10.0, 0.0)), None, seed=1)
        print(f"generated {fixed} in {time.perf_counter() - start:.0f} s", flush=True)
    if not moving.exists():
        start = time.perf_counter()
        generate(moving, make_grid((5.0, 0.0, 20.0)), rigid_transform(**TRUTH).GetInverse(), seed=2)
        print(f"generated {moving} in {time.perf_counter() - start:.0f} s", flush=True)
    return fixed, moving


def _vm_hwm_mb() -> float:
    """Peak resident memory since the last reset (VmHWM), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return float(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_case(case: str, fixed_path: str, moving_path: str) -> dict:
    """One registration in this (fresh) process; returns time, peak memory and errors."""
    from iahepaticprrt.imaging import transforms as T
    from iahepaticprrt.io.volume_files import read_volume

    fixed, moving = read_volume(fixed_path), read_volume(moving_path)
    loaded_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    # Reset the kernel's peak-RSS counter (VmHWM) so the registration's own peak is measured, not the
    # file reader's (Linux >= 4.0).
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    if case == "current":
        from iahepaticprrt.registration.register import register_rigid
    else:
        import importlib.util

        source = subprocess.run(["git", "-C", str(ROOT), "show", f"{BASELINE_COMMIT}:IAHepaticPRRT/Logic/registration.py"],
                                capture_output=True, text=True, check=True).stdout
        folder = Path(tempfile.mkdtemp())
        # The first version's relative imports, at their modules' present places.
        for old_name, new_name in (("from .errors", "from iahepaticprrt.errors"),
                                   ("from .volume", "from iahepaticprrt.imaging.volume")):
            source = source.replace(old_name, new_name)
        (folder / "registration_first_version.py").write_text(source)
        spec = importlib.util.spec_from_file_location("registration_first_version", folder / "registration_first_version.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        register_rigid = module.register_rigid
    start = time.perf_counter()
    result = register_rigid(fixed, moving)
    elapsed = time.perf_counter() - start
    truth = T.rigid_transform(**TRUTH)
    error = T.rigid_error(result.transform, truth, LESION_CENTRES)
    estimated = T.rigid_parameters(result.transform, TRUTH["center_lps_mm"])
    return {"case": case, "time_s": elapsed, "peak_mb": _vm_hwm_mb(), "loading_peak_mb": loaded_mb,
            "images_mb": (fixed.array.nbytes + moving.array.nbytes) / 2 ** 20, "rotation_error_deg": error["rotation_error_deg"],
            "max_point_error_mm": error["max_point_error_mm"],
            "translation_error_mm": float(np.linalg.norm(np.subtract(estimated.translation_mm, TRUTH["translation_mm"])))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "iahprrt-registration-benchmark"))
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--images", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, *args.images)))
        return 0
    fixed, moving = ensure_images(Path(args.cache))
    results = []
    for case in ["current"] + ([] if args.skip_baseline else ["baseline"]):
        out = subprocess.run([sys.executable, __file__, "--case", case, "--images", str(fixed), str(moving)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{case}: failed\n{out.stderr}", file=sys.stderr)
            continue
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    print(f"\n{SHAPE_KJI[2]} x {SHAPE_KJI[1]} x {SHAPE_KJI[0]} CTs, {SPACING_MM} mm, load average "
          f"{os.getloadavg()[0]:.1f}")
    print("| case | time s | peak MB | time x | mem x | translation error mm | rotation error deg |")
    print("|---|---|---|---|---|---|---|")
    reference = results[-1]
    for r in results:
        print(f"| {r['case']} | {r['time_s']:.1f} | {r['peak_mb']:.0f} | {r['time_s'] / reference['time_s']:.2f} | "
              f"{r['peak_mb'] / reference['peak_mb']:.2f} | {r['translation_error_mm']:.2f} | "
              f"{r['rotation_error_deg']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
