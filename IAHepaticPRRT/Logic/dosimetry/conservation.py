"""Activity conservation: no SPECT and no VOI can hold more 177Lu than was administered.

Every unit slip ends up here: GBq typed as MBq (7.4 for 7400), Bq/mL read as counts and divided by a
calibration factor (x 12 in a real case), a curve still rising at the last point extrapolated without
the physical-decay bound. Each gave a plausible-looking residence time of thousands of hours.

- A time point's field of view, decay-corrected to the administration, holds at most the net
  administered activity (patients only lose activity, by excretion), plus the quantification
  margin ``ACTIVITY_MARGIN``.
- A VOI's time-integrated activity is at most that of the whole administered activity staying in it
  and decaying physically, A_net / lambda_phys (plus the same margin): its residence time is at most
  the 177Lu mean life, 230.2 h.

The margin covers the calibration and reconstruction uncertainty of quantitative 177Lu SPECT (MIRD
Pamphlet 26 reports calibration accuracies within about 10 %); docs/physics.md section 21.
"""

from __future__ import annotations

import math
from collections.abc import Collection

import numpy as np

from ..sanity import LU177_ADMINISTERED_ACTIVITY, check_range, refuse_or_accept
from .lu177 import DECAY_CONSTANT_PER_H

#: Relative excess over the administered activity that quantification error can explain.
ACTIVITY_MARGIN = 0.25


def check_administered_activity(administered_mbq: float, source, accept: Collection[str], warnings: list) -> None:
    """The administered 177Lu activity of a therapy cycle (a GBq value typed as MBq is refused)."""
    check_range(administered_mbq, LU177_ADMINISTERED_ACTIVITY, source, None, accept, warnings)


def field_of_view_activity_mbq(concentration_bqml: np.ndarray, voxel_ml: float) -> float:
    return float(np.sum(concentration_bqml, dtype=np.float64)) * voxel_ml / 1.0e6


def check_field_of_view(totals_mbq: list[float], times_h: list[float], sources: list[str], net_administered_mbq: float,
                        accept: Collection[str], warnings: list) -> list[float]:
    """Each time point's total activity, decay-corrected to the administration, against the net
    administered activity; returns the ratios (for the provenance)."""
    ratios = []
    for total, t, source in zip(totals_mbq, times_h, sources):
        ratio = total * math.exp(DECAY_CONSTANT_PER_H * t) / net_administered_mbq
        ratios.append(ratio)
        if ratio > 1.0 + ACTIVITY_MARGIN:
            refuse_or_accept("activity-balance", f"the SPECT holds {total:.0f} MBq at {t:.3g} h, {ratio:.2f} times the "
                             f"net administered {net_administered_mbq:.0f} MBq decayed to that time: a unit, "
                             "calibration or activity error", source, "voxel values / --administered-mbq", accept,
                             warnings)
    return ratios


def maximum_tia_mbqh(net_administered_mbq: float) -> float:
    """All the activity in one VOI from the administration on, decaying physically only."""
    return net_administered_mbq / DECAY_CONSTANT_PER_H


def check_tia(name: str, tia_mbqh: float | None, net_administered_mbq: float, source, accept: Collection[str],
              warnings: list) -> None:
    if tia_mbqh is None or not math.isfinite(tia_mbqh):
        return
    limit = maximum_tia_mbqh(net_administered_mbq)
    if tia_mbqh > (1.0 + ACTIVITY_MARGIN) * limit:
        refuse_or_accept("activity-balance", f"VOI '{name}': TIA {tia_mbqh:.0f} MBq h is {tia_mbqh / limit:.2f} times "
                         f"the most the administered activity can give ({limit:.0f} MBq h, all of it staying in the VOI; "
                         f"residence time {tia_mbqh / net_administered_mbq:.0f} h against at most "
                         f"{1.0 / DECAY_CONSTANT_PER_H:.0f} h)", source, f"{name}: tia_mbqh", accept, warnings)
