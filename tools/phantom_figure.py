"""Draw docs/phantom.png: a few slices of the synthetic patient (no matplotlib; SimpleITK writes the PNG).

    python tools/phantom_figure.py [PHANTOM_DIR] [-o docs/phantom.png]

Without PHANTOM_DIR a default-size patient is generated in a temporary folder. Panels, columns
IA day-0 CT, IA PET, IV PET, 177Lu SPECT; rows: axial through lesion 1 (SPECT tp1), axial through
the kidneys (SPECT tp1), then a coronal CT slice through the kidneys and anterior maximum-intensity
projections (IA PET, IV PET, SPECT tp4). PET and SPECT in inverted grey (black = hot); PET windows
SUV 0-25, SPECT 0 to its 99.9th percentile. Radiological
display: patient's right on the image's left, anterior up.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PANEL_PX = 240
PANEL_MM = 420.0  # square field shown in every panel, centred on the body


def _read_nm(path: Path):
    import pydicom

    from iahepaticprrt.imaging.grid import Grid

    ds = pydicom.dcmread(path)
    frames = ds.pixel_array.astype(float) * float(ds.RescaleSlope)
    detector = ds.DetectorInformationSequence[0]
    spacing = (float(ds.PixelSpacing[1]), float(ds.PixelSpacing[0]), float(ds.SpacingBetweenSlices))
    grid = Grid(frames.shape, spacing, tuple(float(v) for v in detector.ImagePositionPatient))
    return frames, grid


def _panel(array, grid, plane: str, position_mm: float, low: float, high: float, invert: bool) -> np.ndarray:
    """Resample one axial (z = position) or coronal (y = position) plane onto the panel raster."""
    from scipy.ndimage import map_coordinates

    half = PANEL_MM / 2.0
    u = np.linspace(-half, half, PANEL_PX)
    if plane == "axial":
        x, y = np.meshgrid(u, u + 10.0)
        points = np.stack([x, y, np.full_like(x, position_mm)], axis=-1)
    else:
        x, z = np.meshgrid(u, -u)
        points = np.stack([x, np.full_like(x, position_mm), z], axis=-1)
    index = grid.lps_to_index(points)  # (..., i j k)
    values = map_coordinates(array, [index[..., 2], index[..., 1], index[..., 0]], order=1, cval=np.nan)
    return _scale(values, low, high, invert)


def _scale(values, low, high, invert):
    scaled = np.clip((values - low) / (high - low), 0.0, 1.0)
    scaled = np.where(np.isnan(values), 0.0, scaled)  # outside the field of view: black CT, white PET
    if invert:
        scaled = 1.0 - scaled
    return (scaled * 255).astype(np.uint8)


def _mip_panel(array, grid, low: float, high: float) -> np.ndarray:
    """Anterior maximum-intensity projection (max along y) of an axial grid, inverted grey."""
    from scipy.ndimage import map_coordinates

    mip = array.max(axis=1)  # [k, i]
    half = PANEL_MM / 2.0
    u = np.linspace(-half, half, PANEL_PX)
    x, z = np.meshgrid(u, -u)
    index = grid.lps_to_index(np.stack([x, np.zeros_like(x), z], axis=-1))
    values = map_coordinates(mip, [index[..., 2], index[..., 0]], order=1, cval=np.nan)
    return _scale(values, low, high, True)


def draw(folder: Path, output: Path) -> Path:
    import SimpleITK as sitk

    from iahepaticprrt.io.dicom_series import read_series

    truth = json.loads((folder / "truth.json").read_text())
    lesion = truth["regions"]["Lesion 1"]["centre_lps_mm_per_scan"]
    ct = read_series(folder / truth["pet"]["ia"]["ct_folder"]).volume
    pets = {}
    for route in ("ia", "iv"):
        volume = read_series(folder / truth["pet"][route]["pet_folder"]).volume
        pets[route] = (volume.array * truth["pet"][route]["suv_bw"]["Healthy liver"]
                       / truth["pet"][route]["concentration_bqml"]["Healthy liver"], volume.grid)
        if truth["generator"]["vendor"] == "philips":
            pets[route] = (pets[route][0] * truth["pet"][route]["philips_bqml_per_cnts"], volume.grid)
    spect = [_read_nm(folder / truth["spect"]["time_points"][n]["nm_file"]) for n in (0, 3)]
    spect_high = [float(np.percentile(a, 99.9)) for a, _ in spect]
    kidney = truth["regions"]["Left kidney"]["centre_lps_mm_per_scan"]
    rows = []
    for centre in (lesion, kidney):
        rows.append([
            _panel(ct.array, ct.grid, "axial", centre["ia_day0"][2], -160, 240, False),
            _panel(*pets["ia"], "axial", centre["ia_day0"][2], 0, 25, True),
            _panel(*pets["iv"], "axial", centre["iv_day3"][2], 0, 25, True),
            _panel(*spect[0], "axial", centre["spect_tp1"][2], 0, spect_high[0], True),
        ])
    rows.append([
        _panel(ct.array, ct.grid, "coronal", kidney["ia_day0"][1], -160, 240, False),
        _mip_panel(*pets["ia"], 0, 25),
        _mip_panel(*pets["iv"], 0, 25),
        _mip_panel(*spect[1], 0, spect_high[1]),
    ])
    gap = np.full((PANEL_PX, 4), 128, np.uint8)

    def row(panels):
        return np.concatenate([p for panel in panels for p in (panel, gap)][:-1], axis=1)

    lines = [row(r) for r in rows]
    separator = np.full((4, lines[0].shape[1]), 128, np.uint8)
    image = np.concatenate([part for line in lines for part in (line, separator)][:-1], axis=0)
    output.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.GetImageFromArray(image), str(output))
    return output


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", help="a generated patient (default: generate one)")
    parser.add_argument("-o", "--output", default=str(ROOT / "docs" / "phantom.png"))
    args = parser.parse_args(argv)
    if args.folder:
        print(draw(Path(args.folder), Path(args.output)))
        return 0
    from iahepaticprrt.phantom.generate import generate_phantom

    with tempfile.TemporaryDirectory() as tmp:
        generate_phantom(Path(tmp) / "patient", seed=1, noise=True)
        print(draw(Path(tmp) / "patient", Path(args.output)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
