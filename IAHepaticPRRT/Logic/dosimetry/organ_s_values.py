"""Organ-level 177Lu dose from OpenDose S-values with mass scaling (liver, spleen, kidneys).

Data: OpenDose (Chauvin et al., JNM 2020;61:1514), ICRP 110 adult male (AM) and female (AF)
phantoms, source organs liver, spleen, left and right kidney (``data/opendose-organ-s-values``,
with its attribution README); S in mGy/(MBq s) for each target region.

Dose to a target organ T from the source organs S present:

    D_T = sum_S TIA_S x S(T <- S) x 3.6e-3 (mGy/(MBq s) -> Gy/(MBq h))

with the self-dose term (S = T) scaled by phantom mass / patient mass (the usual OLINDA-style
correction: the electrons' energy stays in the organ, the mass changes) and cross-doses between
the four source organs taken from the phantom unscaled. Dose from activity elsewhere in the body
(remainder, lesions outside these organs) is not included (stated in the output).

Organs handled (segment role -> phantom source/target): ``liver`` (whole liver, or the healthy
liver when no whole-liver segment exists), ``spleen``, ``left_kidney``, ``right_kidney`` and
``kidneys`` (both, as one organ: S = mean over the two source kidneys of S(both kidneys <- kidney),
phantom mass of both kidneys).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

DATA_FOLDER = Path(__file__).resolve().parent / "data" / "opendose-organ-s-values"
#: mGy/(MBq s) -> Gy/(MBq h).
GY_PER_MBQH_PER_MGY_PER_MBQ_S = 3600.0 * 1.0e-3

PHANTOMS = {"male": "ICRP_110_AM", "female": "ICRP_110_AF"}
#: Organ key -> source file stem.
SOURCE_FILES = {"liver": "lu-177_liver", "spleen": "lu-177_spleen", "left_kidney": "lu-177_left_kidney_c_m_p",
                "right_kidney": "lu-177_right_kidney_c_m_p"}
#: Organ key -> target region name in the OpenDose files.
TARGET_NAMES = {"liver": "Liver", "spleen": "Spleen", "left_kidney": "Left kidney C+M+P",
                "right_kidney": "Right kidney C+M+P", "kidneys": "RKidney + LKidney"}


@dataclass(frozen=True)
class SValue:
    s_mgy_per_mbq_s: float
    uncertainty_mgy_per_mbq_s: float
    target_mass_g: float


@functools.lru_cache(maxsize=None)
def _table(phantom: str, source: str) -> dict[str, SValue]:
    path = DATA_FOLDER / phantom / f"{SOURCE_FILES[source]}.json"
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        return {str(r[0]): SValue(float(r[1]), float(r[2]), float(r[3])) for r in rows}
    except (OSError, ValueError, IndexError) as exc:
        raise InputError(f"cannot read OpenDose S-values ({exc})", path) from exc


def phantom_for(sex: str) -> str:
    key = (sex or "").strip().lower()
    key = {"m": "male", "f": "female"}.get(key, key)
    if key not in PHANTOMS:
        raise InputError(f"phantom sex must be male or female, got '{sex}'", "--phantom-sex")
    return PHANTOMS[key]


def s_value(phantom: str, target: str, source: str) -> SValue:
    """S(target <- source) for organ keys (``kidneys`` as a target only, or as a source: see module)."""
    if source == "kidneys":
        left, right = (s_value(phantom, target, k) for k in ("left_kidney", "right_kidney"))
        return SValue(0.5 * (left.s_mgy_per_mbq_s + right.s_mgy_per_mbq_s),
                      0.5 * (left.uncertainty_mgy_per_mbq_s + right.uncertainty_mgy_per_mbq_s), left.target_mass_g)
    table = _table(phantom, source)
    name = TARGET_NAMES[target]
    if name not in table:
        raise InputError(f"no target '{name}' in the OpenDose table", DATA_FOLDER / phantom)
    return table[name]


def organ_dose_gy(phantom: str, target: str, target_mass_g: float, tia_by_organ_mbqh: dict[str, float]) -> dict:
    """Dose to ``target`` (organ key) of patient mass ``target_mass_g`` from the source TIAs given.

    ``tia_by_organ_mbqh`` maps organ keys (liver, spleen, left_kidney, right_kidney, kidneys) to TIA.
    Returns the dose, its self and cross parts and the scaling used.
    """
    if target not in TARGET_NAMES:
        raise ValueError(f"no organ S-value for '{target}'")
    if not target_mass_g > 0:
        raise ValueError("organ mass must be positive")
    self_source = target
    self_s = s_value(phantom, target, self_source)
    phantom_mass = self_s.target_mass_g
    scale = phantom_mass / target_mass_g
    self_tia = tia_by_organ_mbqh.get(self_source)
    if self_tia is None:
        raise ValueError(f"no TIA for the organ '{target}' itself")
    self_dose = self_tia * self_s.s_mgy_per_mbq_s * scale * GY_PER_MBQH_PER_MGY_PER_MBQ_S
    cross = {}
    kidney_parts = {"left_kidney", "right_kidney"}
    for source, tia in tia_by_organ_mbqh.items():
        if source == self_source or tia is None:
            continue
        if target == "kidneys" and source in kidney_parts or source == "kidneys" and target in kidney_parts:
            continue
        if source == "kidneys" and ("left_kidney" in tia_by_organ_mbqh or "right_kidney" in tia_by_organ_mbqh):
            continue
        cross[source] = tia * s_value(phantom, target, source).s_mgy_per_mbq_s * GY_PER_MBQH_PER_MGY_PER_MBQ_S
    return {"dose_gy": self_dose + sum(cross.values()), "self_dose_gy": self_dose, "cross_dose_gy": cross,
            "phantom": phantom, "phantom_mass_g": phantom_mass, "mass_scaling": scale,
            "self_s_mgy_per_mbq_s": self_s.s_mgy_per_mbq_s}
