"""Mass density (g/mL) from CT numbers (HU), for voxel masses and VOI masses.

Default calibration: two straight segments (a bilinear curve), the form Schneider, Pedroni and
Lomax (Phys. Med. Biol. 1996;41:111) showed for body tissues, whose soft tissues and bone
mixtures fall on different HU-density lines:

- HU <= 100 (air, lung, fat, water, soft tissue): rho = 1.0 + HU / 1000 g/mL, the air-water line
  (air -1000 HU -> 0.0, water 0 HU -> 1.000 g/mL; liver near 60 HU -> 1.06 g/mL);
- HU > 100 (bone mixtures): the straight line from (100 HU, 1.100 g/mL) to cortical bone,
  1.92 g/mL (ICRP Publication 110 / ICRU Report 46) placed at 1500 HU, a nominal 120 kVp value.

The bone end point is scanner- and kVp-dependent: a site should give its own phantom calibration
(CSV ``hu,density_g_per_ml``, at least two rows, piecewise linear, extrapolated flat). Values are
clipped to [0.0012, 3.0] g/mL (dry air, ICRU; nothing in a patient is denser than 3 g/mL apart
from metal).

Without a CT the project takes every voxel as water-equivalent: 1.0 g/mL (stated in the output).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.text_files import open_text

#: Water-equivalent density used when no CT is given (g/mL).
WATER_EQUIVALENT_DENSITY_G_PER_ML = 1.0
#: Red bone marrow density (ICRP Publication 89, 2002: 1.03 g/cm3). A marrow VOI in the vertebral
#: bodies holds trabecular bone too, whose CT number would overstate the marrow's mass.
RED_MARROW_DENSITY_G_PER_ML = 1.03
#: Dry air, ICRU Report 44 (g/mL): the lower clip.
AIR_DENSITY_G_PER_ML = 0.0012
MAX_DENSITY_G_PER_ML = 3.0


@dataclass(frozen=True)
class DensityCalibration:
    """Piecewise-linear HU -> g/mL through ``points`` (sorted by HU)."""

    hu: tuple[float, ...]
    density_g_per_ml: tuple[float, ...]
    description: str

    def __call__(self, hu) -> np.ndarray:
        hu = np.asarray(hu, dtype=np.float32)
        x = np.asarray(self.hu, dtype=np.float64)
        y = np.asarray(self.density_g_per_ml, dtype=np.float64)
        # Linear beyond the end segments, then clipped.
        values = np.interp(hu, x, y).astype(np.float32)
        low_slope = (y[1] - y[0]) / (x[1] - x[0])
        high_slope = (y[-1] - y[-2]) / (x[-1] - x[-2])
        values = np.where(hu < x[0], y[0] + (hu - x[0]) * low_slope, values)
        values = np.where(hu > x[-1], y[-1] + (hu - x[-1]) * high_slope, values)
        return np.clip(values, AIR_DENSITY_G_PER_ML, MAX_DENSITY_G_PER_ML).astype(np.float32)

    def to_dict(self) -> dict:
        return {"hu": list(self.hu), "density_g_per_ml": list(self.density_g_per_ml), "description": self.description}


#: The default bilinear calibration (see module docstring).
DEFAULT_CALIBRATION = DensityCalibration(
    (-1000.0, 100.0, 1500.0), (0.0, 1.1, 1.92),
    "bilinear: rho = 1 + HU/1000 up to 100 HU (air-water line); then linear to cortical bone 1.92 g/mL "
    "(ICRP 110) at 1500 HU (nominal 120 kVp); form of Schneider et al., Phys Med Biol 1996;41:111")


def read_calibration(path: str | os.PathLike) -> DensityCalibration:
    """A site calibration CSV with ``hu,density_g_per_ml`` rows (header required)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("CT density calibration file not found", path)
    points = []
    with open_text(path, "CT density calibration file") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"hu", "density_g_per_ml"} <= {c.strip() for c in reader.fieldnames}:
            raise InputError("expected columns hu,density_g_per_ml", path, "header")
        for number, row in enumerate(reader, start=2):
            try:
                hu, rho = float(row["hu"]), float(row["density_g_per_ml"])
            except (TypeError, ValueError):
                raise InputError(f"line {number}: numbers expected", path, "hu,density_g_per_ml") from None
            if not np.isfinite(hu) or not np.isfinite(rho) or rho <= 0:
                raise InputError(f"line {number}: finite HU and a positive density expected", path, "density_g_per_ml")
            points.append((hu, rho))
    points.sort()
    if len(points) < 2 or len({p[0] for p in points}) != len(points):
        raise InputError("at least two rows with distinct HU values are needed", path, "hu")
    return DensityCalibration(tuple(p[0] for p in points), tuple(p[1] for p in points), f"site calibration {path}")


def density_from_hu(hu, calibration: DensityCalibration = DEFAULT_CALIBRATION) -> np.ndarray:
    """Density (g/mL) of each voxel of a CT in HU."""
    return calibration(hu)
