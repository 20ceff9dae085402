"""Uptake of the synthetic patient: 68Ga-DOTA PET SUVs (IA and IV) and 177Lu-DOTATATE kinetics.

PET (true, partial-volume free SUVbw of each tissue, 1 mL = 1 g):

- intravenous (day 3): typical 68Ga-DOTATATE values at 60 min: healthy liver 7, spleen 24,
  kidneys 13-14, bone marrow 1.8, soft tissue 0.8, fat 0.3, blood pool 1.6, liver metastases
  15-30, extra-hepatic lesion 22;
- intra-arterial (day 0): liver metastases x enhancement ratio (ER) 4.6, 3.9, 2.6, 4.2, 3.45
  (mean 3.75, Kratochwil et al., J Nucl Med 2010;51:1310 reported a mean 3.75-fold SUV gain;
  lesion 3 below the eligibility threshold 3), healthy liver x 8/7 (first-pass hepatic
  extraction), systemic tissues lower (kidneys and spleen x about 0.72, marrow x 0.72,
  extra-hepatic lesion x 0.70, soft tissue x 0.81).

177Lu-DOTATATE after the intra-arterial therapy (concentration kinetics of each tissue, t in h
after administration, activities include physical decay, effective half-lives <= 159.53 h):

- organs and lesions: uptake and washout
  ``c(t) = c0 (exp(-ln2 t / T_washout) - exp(-ln2 t / T_uptake))``: kidneys T_eff 55 / 52 h
  (left / right), spleen 68 h, healthy liver 75 h, bone marrow 40 h, liver metastases 95-120 h,
  extra-hepatic lesion 100 h; metastasis c0 proportional to its IA PET SUV (0.025 MBq/mL per SUV);
  the doses that follow (kidneys about 0.36 Gy/GBq, spleen 0.48, marrow 0.026, metastases 2.7-5.2
  Gy/GBq) are in the published range for 177Lu-DOTATATE (docs/physics.md section 7; IA metastases high);
- background tissues: bi-exponential washout ``c(t) = c1 exp(-ln2 t / T1) + c2 exp(-ln2 t / T2)``
  (soft tissue 0.05 MBq/mL with T1 = 3 h and 0.008 MBq/mL with T2 = 45 h; fat x 0.4, lung x 0.3,
  bone and discs x 0.3, blood x 2.5).

Time-integrated activity (0 to infinity) is analytic:
uptake-washout ``A0 (T_w - T_u) / ln2``, washout ``sum(A_i T_i / ln2)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .shapes import Tissue

#: 177Lu half-life, 6.647 d (ICRP Publication 107; docs/physics.md section 1).
LU177_HALF_LIFE_H = 159.53
#: Local deposition of 177Lu electrons: D [Gy] = 0.08532 x TIA [MBq h] / m [g] (docs/physics.md section 1).
LDM_GY_G_PER_MBQ_H = 0.08532

LN2 = math.log(2.0)

# ---- 68Ga PET -----------------------------------------------------------------------------------
#: IV (day 3) SUVbw of the target lesions and their IA/IV enhancement ratios.
LESION_SUV_IV = {"Lesion 1": 24.0, "Lesion 2": 18.0, "Lesion 3": 30.0, "Lesion 4": 15.0, "Lesion 5": 20.0}
LESION_ENHANCEMENT_RATIO = {"Lesion 1": 4.6, "Lesion 2": 3.9, "Lesion 3": 2.6, "Lesion 4": 4.2, "Lesion 5": 3.45}
#: Eligibility threshold on the patient's mean enhancement ratio (DESIGN.md).
ELIGIBILITY_THRESHOLD = 3.0

#: SUVbw by tissue kind or name: (IV day 3, IA day 0).
PET_SUV = {
    "fat": (0.3, 0.25),
    "soft_tissue": (0.8, 0.65),
    "lung": (0.4, 0.35),
    "blood": (1.6, 1.3),
    "bone": (0.5, 0.4),
    "disc": (0.5, 0.4),
    "marrow": (1.8, 1.3),
    "healthy liver": (7.0, 8.0),
    "left kidney": (14.0, 10.1),
    "right kidney": (13.0, 9.4),
    "spleen": (24.0, 17.3),
    "Extrahepatic lesion 1": (22.0, 15.4),
}
for _name, _suv in LESION_SUV_IV.items():
    PET_SUV[_name] = (_suv, _suv * LESION_ENHANCEMENT_RATIO[_name])


def pet_suv(tissue: Tissue, route: str) -> float:
    """True SUVbw of ``tissue`` after ``route`` ("iv" or "ia")."""
    column = {"iv": 0, "ia": 1}[route]
    key = tissue.name if tissue.name in PET_SUV else tissue.kind
    return PET_SUV[key][column]


# ---- 177Lu kinetics -----------------------------------------------------------------------------
@dataclass(frozen=True)
class UptakeWashout:
    """c(t) = c0 (exp(-ln2 t / T_w) - exp(-ln2 t / T_u)), MBq/mL, t in h."""

    c0_mbq_per_ml: float
    washout_half_life_h: float
    uptake_half_life_h: float

    def concentration(self, t_h):
        t = np.asarray(t_h, float)
        return self.c0_mbq_per_ml * (np.exp(-LN2 * t / self.washout_half_life_h)
                                     - np.exp(-LN2 * t / self.uptake_half_life_h))

    def integral(self) -> float:
        """Time-integrated concentration, 0 to infinity (MBq h / mL)."""
        return self.c0_mbq_per_ml * (self.washout_half_life_h - self.uptake_half_life_h) / LN2

    def activity_model(self, volume_ml: float) -> dict:
        a0 = self.c0_mbq_per_ml * volume_ml
        return {
            "model": "uptake_washout",
            "parameters": {
                "a0_mbq": a0,
                "lambda_washout_per_h": LN2 / self.washout_half_life_h,
                "lambda_uptake_per_h": LN2 / self.uptake_half_life_h,
                "effective_half_life_h": self.washout_half_life_h,
                "uptake_half_life_h": self.uptake_half_life_h,
            },
            "formula": "A(t) = a0_mbq (exp(-lambda_washout_per_h t) - exp(-lambda_uptake_per_h t)), "
                       "t in h after administration; TIA = a0_mbq (1/lambda_washout_per_h - 1/lambda_uptake_per_h)",
        }


@dataclass(frozen=True)
class Washout:
    """c(t) = c1 exp(-ln2 t / T1) + c2 exp(-ln2 t / T2), MBq/mL, t in h."""

    c1_mbq_per_ml: float
    half_life_1_h: float
    c2_mbq_per_ml: float
    half_life_2_h: float

    def scaled(self, factor: float) -> "Washout":
        return Washout(self.c1_mbq_per_ml * factor, self.half_life_1_h, self.c2_mbq_per_ml * factor, self.half_life_2_h)

    def concentration(self, t_h):
        t = np.asarray(t_h, float)
        return (self.c1_mbq_per_ml * np.exp(-LN2 * t / self.half_life_1_h)
                + self.c2_mbq_per_ml * np.exp(-LN2 * t / self.half_life_2_h))

    def integral(self) -> float:
        return (self.c1_mbq_per_ml * self.half_life_1_h + self.c2_mbq_per_ml * self.half_life_2_h) / LN2

    def activity_model(self, volume_ml: float) -> dict:
        return {
            "model": "biexponential_washout",
            "parameters": {
                "a1_mbq": self.c1_mbq_per_ml * volume_ml, "lambda_1_per_h": LN2 / self.half_life_1_h,
                "a2_mbq": self.c2_mbq_per_ml * volume_ml, "lambda_2_per_h": LN2 / self.half_life_2_h,
            },
            "formula": "A(t) = a1_mbq exp(-lambda_1_per_h t) + a2_mbq exp(-lambda_2_per_h t); "
                       "TIA = a1_mbq / lambda_1_per_h + a2_mbq / lambda_2_per_h",
        }


#: 177Lu metastasis concentration amplitude per unit of IA PET SUV (MBq/mL).
LESION_C0_PER_IA_SUV = 0.025
LESION_WASHOUT_H = {"Lesion 1": 120.0, "Lesion 2": 105.0, "Lesion 3": 95.0, "Lesion 4": 110.0, "Lesion 5": 100.0}
LESION_UPTAKE_H = {"Lesion 1": 3.0, "Lesion 2": 2.5, "Lesion 3": 2.0, "Lesion 4": 3.5, "Lesion 5": 2.0}

LU_KINETICS = {
    "healthy liver": UptakeWashout(0.22, 75.0, 1.0),
    "left kidney": UptakeWashout(0.42, 55.0, 1.5),
    "right kidney": UptakeWashout(0.40, 52.0, 1.5),
    "spleen": UptakeWashout(0.45, 68.0, 2.0),
    "marrow": UptakeWashout(0.04, 40.0, 0.5),
    "Extrahepatic lesion 1": UptakeWashout(0.60, 100.0, 3.0),
}
for _name in LESION_SUV_IV:
    LU_KINETICS[_name] = UptakeWashout(LESION_C0_PER_IA_SUV * PET_SUV[_name][1], LESION_WASHOUT_H[_name],
                                       LESION_UPTAKE_H[_name])

SOFT_TISSUE_WASHOUT = Washout(0.05, 3.0, 0.008, 45.0)
BACKGROUND_FACTOR = {"soft_tissue": 1.0, "fat": 0.4, "lung": 0.3, "bone": 0.3, "disc": 0.3, "blood": 2.5}
for _kind, _factor in BACKGROUND_FACTOR.items():
    LU_KINETICS[_kind] = SOFT_TISSUE_WASHOUT.scaled(_factor)


def lu_kinetics(tissue: Tissue):
    """The 177Lu concentration kinetics of ``tissue``."""
    return LU_KINETICS[tissue.name] if tissue.name in LU_KINETICS else LU_KINETICS[tissue.kind]


def check_kinetics() -> None:
    """Effective half-lives must not exceed the physical one (activities include decay)."""
    for key, model in LU_KINETICS.items():
        longest = model.washout_half_life_h if isinstance(model, UptakeWashout) else max(
            model.half_life_1_h, model.half_life_2_h)
        if longest > LU177_HALF_LIFE_H:
            raise ValueError(f"{key}: effective half-life {longest} h exceeds the 177Lu half-life")


check_kinetics()
