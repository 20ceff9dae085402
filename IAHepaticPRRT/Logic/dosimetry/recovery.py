"""Recovery-coefficient (partial-volume) correction of VOI activities by VOI volume.

The user measures recovery coefficients RC = measured / true activity on a sphere phantom with
their own camera and reconstruction (MIRD Pamphlet 26, Ljungberg et al. JNM 2016;57:151) and
gives them as a CSV ``volume_ml,rc`` (optional ``rc_uncertainty``, a standard uncertainty on RC).
A VOI's activity is divided by RC interpolated at its volume (linear in log volume; outside the
table the end value is used, with a warning). The relative RC uncertainty is the same at every
time point, so it is added to the TIA uncertainty as a fully correlated term.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.text_files import open_text


@dataclass(frozen=True)
class RecoveryTable:
    volume_ml: tuple[float, ...]
    rc: tuple[float, ...]
    rc_uncertainty: tuple[float, ...] | None
    source: str

    def lookup(self, volume_ml: float) -> tuple[float, float, str | None]:
        """(RC, relative RC uncertainty, warning or None) at ``volume_ml``."""
        x = np.log(np.asarray(self.volume_ml))
        warning = None
        if volume_ml < self.volume_ml[0] or volume_ml > self.volume_ml[-1]:
            warning = (f"VOI volume {volume_ml:.1f} mL outside the recovery table "
                       f"({self.volume_ml[0]:g}-{self.volume_ml[-1]:g} mL): end value used")
        rc = float(np.interp(math.log(volume_ml), x, self.rc))
        relative = 0.0
        if self.rc_uncertainty is not None:
            relative = float(np.interp(math.log(volume_ml), x, self.rc_uncertainty)) / rc
        return rc, relative, warning


def read_recovery_table(path: str | os.PathLike) -> RecoveryTable:
    path = Path(path)
    if not path.is_file():
        raise InputError("recovery-coefficient table not found", path)
    rows = []
    with open_text(path, "recovery-coefficient table") as f:
        reader = csv.DictReader(f)
        columns = {c.strip() for c in (reader.fieldnames or [])}
        if not {"volume_ml", "rc"} <= columns:
            raise InputError("expected columns volume_ml,rc[,rc_uncertainty]", path, "header")
        with_u = "rc_uncertainty" in columns
        for number, row in enumerate(reader, start=2):
            row = {k.strip(): v for k, v in row.items() if k}
            try:
                volume, rc = float(row["volume_ml"]), float(row["rc"])
                u = float(row["rc_uncertainty"]) if with_u else None
            except (TypeError, ValueError):
                raise InputError(f"line {number}: numbers expected", path, "volume_ml,rc") from None
            if not (volume > 0 and 0 < rc <= 1.5 and math.isfinite(volume)):
                raise InputError(f"line {number}: volume must be > 0 and RC in (0, 1.5]", path, "rc")
            if u is not None and not (u >= 0 and math.isfinite(u)):
                raise InputError(f"line {number}: rc_uncertainty must be >= 0", path, "rc_uncertainty")
            rows.append((volume, rc, u))
    rows.sort()
    if len(rows) < 1 or len({r[0] for r in rows}) != len(rows):
        raise InputError("at least one row and distinct volumes are needed", path, "volume_ml")
    if len(rows) == 1:
        rows.append((rows[0][0] * 1.000001, rows[0][1], rows[0][2]))
    return RecoveryTable(tuple(r[0] for r in rows), tuple(r[1] for r in rows),
                         tuple(r[2] for r in rows) if rows[0][2] is not None else None, str(path))
