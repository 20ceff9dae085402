"""Cumulative doses against the organ limits of PRRT (docs/physics.md section 7).

Limits: kidneys 23 Gy absorbed dose and BED 40 Gy (28 Gy with risk factors), Bodei et al.,
EJNMMI 2008;35:1847; bone marrow 2 Gy. Cycles add up: the cumulative value is the sum of the
previous cycles' values (entered by the user) and this cycle's.

This cycle's kidney value is the highest over the kidney VOIs (left, right or both as one), the
conservative reading when the kidneys differ.

Previous cycles file: CSV (header) or JSON list of objects with ``cycle`` and any of
``kidney_dose_gy``, ``kidney_bed_gy``, ``bone_marrow_dose_gy``. A cycle without a kidney BED gets
one estimated from its kidney dose with this cycle's kidney effective half-life (mono-exponential
formula), with a warning.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from ..errors import InputError
from ..io.text_files import read_csv_dicts, read_json

KIDNEY_DOSE_LIMIT_GY = 23.0
KIDNEY_BED_LIMIT_GY = 40.0
KIDNEY_BED_LIMIT_RISK_FACTORS_GY = 28.0
BONE_MARROW_DOSE_LIMIT_GY = 2.0

FIELDS = ("kidney_dose_gy", "kidney_bed_gy", "bone_marrow_dose_gy")


def read_previous_cycles(path: str | os.PathLike) -> list[dict]:
    """Rows {cycle, kidney_dose_gy, kidney_bed_gy, bone_marrow_dose_gy} (None where not given)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        rows = read_json(path, "previous cycles file")
        if isinstance(rows, dict):
            rows = rows.get("cycles", [])
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise InputError("expected a list of objects (one per cycle)", path)
    else:
        header, dict_rows = read_csv_dicts(path, "previous cycles file")
        if not header or not set(FIELDS) & {c.strip() for c in header if c}:
            raise InputError(f"expected columns cycle and any of {', '.join(FIELDS)}", path, "header")
        rows = [{k.strip(): v for k, v in row.items() if k} for row in dict_rows]
    cycles = []
    for number, row in enumerate(rows, start=1):
        entry = {"cycle": row.get("cycle", number)}
        for key in FIELDS:
            value = row.get(key)
            if value is None or (isinstance(value, str) and value.strip() == ""):
                entry[key] = None
                continue
            try:
                entry[key] = float(value)
            except (TypeError, ValueError):
                raise InputError(f"cycle {entry['cycle']}: '{value}' is not a number", path, key) from None
            if not math.isfinite(entry[key]) or entry[key] < 0:
                raise InputError(f"cycle {entry['cycle']}: must be a non-negative number", path, key)
        cycles.append(entry)
    return cycles


def _sum(values) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def compare_with_limits(kidney_dose_gy: float | None, kidney_bed_gy: float | None, bone_marrow_dose_gy: float | None,
                        previous: list[dict] | None = None, kidney_risk_factors: bool = False,
                        kidney_effective_half_life_h: float | None = None) -> tuple[dict, list[str]]:
    """The limits table and the warnings it raises."""
    from .radiobiology import bed_mono_exponential_gy

    previous = previous or []
    warnings = []
    previous_bed = []
    for cycle in previous:
        bed = cycle.get("kidney_bed_gy")
        if bed is None and cycle.get("kidney_dose_gy") is not None:
            if kidney_effective_half_life_h is not None:
                bed = bed_mono_exponential_gy(cycle["kidney_dose_gy"], kidney_effective_half_life_h)
                warnings.append(f"previous cycle {cycle['cycle']}: kidney BED estimated ({bed:.2f} Gy) from its dose "
                                f"with this cycle's kidney effective half-life ({kidney_effective_half_life_h:.1f} h)")
            else:
                warnings.append(f"previous cycle {cycle['cycle']}: kidney BED unknown and not estimable: left out of "
                                "the cumulative BED")
        previous_bed.append(bed)

    bed_limit = KIDNEY_BED_LIMIT_RISK_FACTORS_GY if kidney_risk_factors else KIDNEY_BED_LIMIT_GY

    def entry(name, this_cycle, previous_values, limit, source):
        cumulative = None if this_cycle is None else this_cycle + (_sum(previous_values) or 0.0)
        missing = sum(1 for v in previous_values if v is None)
        row = {"quantity": name, "this_cycle": this_cycle, "previous_cycles": _sum(previous_values),
               "cumulative": cumulative, "limit": limit, "limit_source": source,
               "fraction_of_limit": None if cumulative is None else cumulative / limit,
               "exceeded": None if cumulative is None else cumulative > limit,
               "previous_cycles_missing": missing}
        if cumulative is not None and cumulative > limit:
            warnings.append(f"{name}: cumulative {cumulative:.2f} exceeds the limit {limit:g}")
        if this_cycle is None:
            warnings.append(f"{name}: not computed for this cycle (no such VOI or no dose)")
        return row

    limits = {
        "kidney_dose_gy": entry("kidney_dose_gy", kidney_dose_gy, [c.get("kidney_dose_gy") for c in previous],
                                KIDNEY_DOSE_LIMIT_GY, "Bodei et al., EJNMMI 2008;35:1847"),
        "kidney_bed_gy": entry("kidney_bed_gy", kidney_bed_gy, previous_bed, bed_limit,
                               "Bodei et al., EJNMMI 2008;35:1847" + (" (risk factors)" if kidney_risk_factors else "")),
        "bone_marrow_dose_gy": entry("bone_marrow_dose_gy", bone_marrow_dose_gy,
                                     [c.get("bone_marrow_dose_gy") for c in previous], BONE_MARROW_DOSE_LIMIT_GY,
                                     "conventional red-marrow limit of radionuclide therapy (Benua et al., AJR "
                                     "1962;87:171; docs/physics.md section 7)"),
    }
    return {"previous_cycles": previous, "kidney_risk_factors": kidney_risk_factors, "limits": limits}, warnings
