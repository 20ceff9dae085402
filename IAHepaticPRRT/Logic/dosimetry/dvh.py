"""Cumulative dose-volume histograms and dose-at-volume metrics (D2, D50, D98).

Voxels are weighted by their coverage fraction of the VOI (the project's partial-voxel policy:
a VOI drawn on another grid than the dose map weights each dose voxel by the fraction it covers).
The DVH is volume-based: V(D) = fraction of the VOI volume receiving at least D.
"""

from __future__ import annotations

import numpy as np


def _sorted(dose_gy, weights):
    dose = np.asarray(dose_gy, dtype=np.float64).ravel()
    w = np.asarray(weights, dtype=np.float64).ravel()
    keep = w > 0
    dose, w = dose[keep], w[keep]
    if dose.size == 0:
        raise ValueError("empty VOI")
    order = np.argsort(dose)[::-1]
    return dose[order], w[order]


def dose_at_volume_gy(dose_gy, weights, volume_percent: float) -> float:
    """D_x: the lowest dose received by the hottest ``volume_percent`` % of the VOI volume."""
    dose, w = _sorted(dose_gy, weights)
    cumulative = np.cumsum(w) / np.sum(w)
    index = int(np.searchsorted(cumulative, volume_percent / 100.0 - 1e-12, side="left"))
    return float(dose[min(index, dose.size - 1)])


def cumulative_dvh(dose_gy, weights, bin_width_gy: float | None = None, n_bins: int = 200):
    """(dose levels in Gy, volume fraction receiving >= each level, in [0, 1]).

    Levels run from 0 to the VOI's maximum dose in ``n_bins`` steps (or steps of ``bin_width_gy``).
    """
    dose, w = _sorted(dose_gy, weights)
    maximum = max(float(dose[0]), 0.0)
    if bin_width_gy:
        levels = np.arange(0.0, maximum + bin_width_gy, bin_width_gy)
    else:
        levels = np.linspace(0.0, maximum if maximum > 0 else 1.0, n_bins + 1)
    ascending, w_ascending = dose[::-1], w[::-1]
    below = np.concatenate([[0.0], np.cumsum(w_ascending)])
    # Weight of voxels with dose >= level = total - weight of voxels strictly below the level.
    index = np.searchsorted(ascending, levels, side="left")
    fraction = (below[-1] - below[index]) / below[-1]
    return levels, fraction


def dvh_metrics(dose_gy, weights) -> dict:
    """D2, D50, D98 (Gy), mass-independent, and the VOI's min / max dose over voxels covered >= 50 %."""
    weights = np.asarray(weights, dtype=np.float64)
    core = np.asarray(dose_gy)[weights >= 0.5]
    return {
        "d2_gy": dose_at_volume_gy(dose_gy, weights, 2.0),
        "d50_gy": dose_at_volume_gy(dose_gy, weights, 50.0),
        "d98_gy": dose_at_volume_gy(dose_gy, weights, 98.0),
        "max_dose_gy": float(core.max()) if core.size else None,
        "min_dose_gy": float(core.min()) if core.size else None,
    }
