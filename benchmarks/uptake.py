"""Benchmark: SUV conversion and statistics of 12 VOIs on a 400 x 400 x 300 PET.

Run by hand:  .venv/bin/python benchmarks/uptake.py [--quick]

Measures, in one run:
1. writing is not timed; reading the 300-slice DICOM PET and converting it to SUV
   (dicom_series.read_series + suv.suv_from_series);
2. statistics of 12 VOIs (5 liver lesions of 10 to 50 mm, an extra-hepatic lesion, liver, healthy
   liver, two kidneys, spleen, bone marrow), segments (a) on the PET grid and (b) on a 2.5 mm
   CT-like grid (partial-voxel weights), with voi_statistics (bounding boxes, one FFT for SUVpeak);
3. the same statistics by a plain per-segment numpy loop (full-size weight array per segment, SUVpeak
   by a Python loop over the candidate centres), the baseline; the two must agree.

Prints wall time and the peak traced memory (numpy allocations, tracemalloc) each step adds to what
was already held (the PET and the masks are inputs), and the ratios baseline / vectorised. The
heavy imports (scipy.fft) happen before timing. --quick uses a 200 x 200 x 150 PET of 4 mm voxels.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "IAHepaticPRRT"))

from iahepaticprrt.imaging.grid import Grid  # noqa: E402
from iahepaticprrt.imaging.segmentation import Segmentation, resample_mask  # noqa: E402
from iahepaticprrt.io.dicom_series import read_series  # noqa: E402
from iahepaticprrt.io.dicom_writer import write_image_series  # noqa: E402
from iahepaticprrt.uptake.suv import suv_from_series  # noqa: E402
from iahepaticprrt.uptake.voi_statistics import CORE_FRACTION, segmentation_weights, sphere_kernel, voi_statistics


def measure(label, function, *args):
    """Wall time and peak traced memory above what was held before the call (inputs excluded)."""
    tracemalloc.reset_peak()
    before, _ = tracemalloc.get_traced_memory()
    start = time.perf_counter()
    value = function(*args)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    peak -= before
    print(f"{label:<62s} {seconds:8.2f} s  {peak / 2 ** 20:8.0f} MiB")
    return value, seconds, peak


def shapes(scale: float):
    """VOI name -> (kind, centre LPS mm, radius or half-widths mm)."""
    s = scale
    return {
        "Lesion 1": ("sphere", (-60 * s, -20 * s, 20 * s), 5.0),
        "Lesion 2": ("sphere", (-30 * s, -40 * s, 0.0), 10.0),
        "Lesion 3": ("sphere", (-90 * s, 10 * s, -10 * s), 15.0),
        "Lesion 4": ("sphere", (-40 * s, 30 * s, 30 * s), 20.0),
        "Lesion 5": ("sphere", (-100 * s, -30 * s, -30 * s), 25.0),
        "Extrahepatic lesion 1": ("sphere", (80 * s, 80 * s, 60 * s), 12.0),
        "Liver": ("box", (-60 * s, 0.0, 0.0), (70 * s, 70 * s, 60 * s)),
        "Left kidney": ("box", (70 * s, 60 * s, -60 * s), (30 * s, 35 * s, 55 * s)),
        "Right kidney": ("box", (-70 * s, 70 * s, -70 * s), (30 * s, 35 * s, 55 * s)),
        "Spleen": ("box", (90 * s, -10 * s, 30 * s), (40 * s, 45 * s, 50 * s)),
        "Bone marrow": ("box", (0.0, 100 * s, 0.0), (15 * s, 15 * s, 250 * s)),
    }


def masks_on(grid: Grid, scale: float) -> Segmentation:
    seg = Segmentation(grid, source="benchmark")
    k, j, i = np.ogrid[:grid.shape_kji[0], :grid.shape_kji[1], :grid.shape_kji[2]]
    origin = np.array(grid.origin_lps_mm)
    x = origin[0] + i * grid.spacing_mm[0]
    y = origin[1] + j * grid.spacing_mm[1]
    z = origin[2] + k * grid.spacing_mm[2]
    defs = shapes(scale)
    lesions = np.zeros(grid.shape_kji, bool)
    for name, (kind, c, r) in defs.items():
        if kind == "sphere":
            mask = (x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2 <= r ** 2
            if name.startswith("Lesion"):
                lesions |= mask
        else:
            mask = (np.abs(x - c[0]) <= r[0]) & (np.abs(y - c[1]) <= r[1]) & (np.abs(z - c[2]) <= r[2])
        seg.add(name, mask)
    seg.add("Healthy liver", seg.mask("Liver") & ~lesions)
    return seg


def pet_values(grid: Grid, seg: Segmentation, rng) -> np.ndarray:
    values = rng.gamma(4.0, 1000.0 / 4.0, grid.shape_kji).astype(np.float32)  # background ~1000 Bq/mL
    levels = {"Liver": 5.0, "Healthy liver": 5.0, "Left kidney": 15.0, "Right kidney": 15.0, "Spleen": 20.0,
              "Bone marrow": 2.0, "Extrahepatic lesion 1": 12.0}
    for name in seg.names:
        level = levels.get(name, 30.0)
        values[seg.mask(name)] *= level
    return values


def baseline(suv: np.ndarray, grid: Grid, seg: Segmentation) -> dict:
    """The plain loop: a full-size weight array per segment, SUVpeak candidate by candidate."""
    kernel = sphere_kernel(grid.spacing_mm)
    h = np.array(kernel.shape) // 2
    kernel_sum = kernel.sum()
    padded = np.pad(suv, [(int(n), int(n)) for n in h])
    inside = np.pad(np.ones(suv.shape, np.float32), [(int(n), int(n)) for n in h])
    out = {}
    for segment in seg.segments:
        if seg.grid.is_same(grid):
            w = segment.mask.astype(np.float32)
        else:
            w = resample_mask(segment.mask, seg.grid, grid, "fraction")
        total = float(w.sum(dtype=np.float64))
        mean = float((w * suv).sum(dtype=np.float64) / total)
        core = w >= CORE_FRACTION
        best = -np.inf
        for k, j, i in np.argwhere(core):
            window = padded[k:k + kernel.shape[0], j:j + kernel.shape[1], i:i + kernel.shape[2]]
            valid = inside[k:k + kernel.shape[0], j:j + kernel.shape[1], i:i + kernel.shape[2]]
            value = float(np.sum(window * kernel) / (kernel_sum if valid.all() else np.sum(valid * kernel)))
            best = max(best, value)
        out[segment.name] = {"suv_mean": mean, "suv_max": float(suv[core].max()), "suv_peak": best,
                             "volume_ml": total * grid.voxel_volume_ml}
    return out


def vectorised(suv: np.ndarray, grid: Grid, seg: Segmentation) -> dict:
    vois = segmentation_weights(seg, grid)
    stats = voi_statistics(suv, grid, vois, isocontour_names={n for n in seg.names if "esion" in n})
    return {s["name"]: s for s in stats}


def compare(a: dict, b: dict) -> float:
    worst = 0.0
    for name in a:
        for key in ("suv_mean", "suv_max", "suv_peak", "volume_ml"):
            worst = max(worst, abs(a[name][key] - b[name][key]) / max(abs(b[name][key]), 1e-12))
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 x 200 x 150 PET instead of 400 x 400 x 300")
    args = parser.parse_args()
    size, spacing, scale = ((200, 200, 150), 4.0, 1.0) if args.quick else ((400, 400, 300), 2.0, 1.0)
    pet = Grid((size[2], size[1], size[0]), (spacing, spacing, spacing),
               (-(size[0] - 1) * spacing / 2, -(size[1] - 1) * spacing / 2, -(size[2] - 1) * spacing / 2))
    ct_spacing = (2.5, 2.5, 2.5)
    extent = np.array(pet.size_ijk) * spacing
    ct_size = tuple(int(n) for n in np.ceil(extent / np.array(ct_spacing)))
    ct = Grid(ct_size[::-1], ct_spacing, tuple(-extent / 2 + 0.3), np.eye(3))
    rng = np.random.default_rng(7)
    import scipy.fft  # noqa: F401  (import time is not the method's)
    print(f"PET {size[0]} x {size[1]} x {size[2]} voxels of {spacing} mm; CT-like grid {ct_size} of {ct_spacing} mm")
    seg_pet = masks_on(pet, scale)
    values = pet_values(pet, seg_pet, rng)
    with tempfile.TemporaryDirectory() as tmp:
        header = {"PatientName": "Bench^Mark", "PatientID": "BENCH", "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.5",
                  "Units": "BQML", "DecayCorrection": "START", "SeriesDate": "20250101", "SeriesTime": "110000",
                  "AcquisitionDate": "20250101", "AcquisitionTime": "110000", "PatientWeight": "75",
                  "CorrectedImage": ["ATTN", "DECY"]}
        from pydicom.dataset import Dataset
        from pydicom.sequence import Sequence

        item = Dataset()
        item.RadionuclideTotalDose = "150000000"
        item.RadionuclideHalfLife = "4057.7"
        item.RadiopharmaceuticalStartDateTime = "20250101100000"
        header["RadiopharmaceuticalInformationSequence"] = Sequence([item])
        write_image_series(values, pet, Path(tmp) / "pet", "PT", header, uid_key="benchmark")
        tracemalloc.start()
        print(f"{'step':<62s} {'time':>10s}  {'peak memory above inputs':>24s}")
        series, t_read, _ = measure("read 300-slice DICOM PET (pydicom, per-slice rescale)", read_series,
                                    Path(tmp) / "pet")
        suv_result, t_suv, _ = measure("SUV conversion (suv_from_series)", suv_from_series, series)
    suv = suv_result.volume.array
    del series
    seg_ct = masks_on(ct, scale)
    results = {}
    for label, seg in (("same grid", seg_pet), ("CT-like grid, partial voxels", seg_ct)):
        fast, t_fast, m_fast = measure(f"12 VOIs vectorised ({label})", vectorised, suv, pet, seg)
        slow, t_slow, m_slow = measure(f"12 VOIs plain per-segment loop ({label})", baseline, suv, pet, seg)
        worst = compare(fast, slow)
        print(f"  -> speed-up {t_slow / t_fast:5.1f} x, memory ratio {m_slow / max(m_fast, 1):5.1f} x, "
              f"largest relative difference {worst:.1e}")
        results[label] = (t_fast, t_slow, m_fast, m_slow, worst)
    tracemalloc.stop()
    print(f"process peak resident memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 10:.0f} MiB "
          f"(includes the inputs: PET {suv.nbytes / 2 ** 20:.0f} MiB float32, masks)")
    print("VOI volumes (mL): " + ", ".join(f"{n} {s['volume_ml']:.0f}" for n, s in fast.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
