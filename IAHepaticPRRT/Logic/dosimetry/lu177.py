"""177Lu physical data used by the dosimetry (units in every name, source beside every value).

Sources: ICRP Publication 107 (Nuclear decay data for dosimetric calculations, 2008), as collected
in the project's docs/physics.md section 1.
"""

from __future__ import annotations

import math

#: 177Lu half-life, ICRP 107: 6.647 d.
HALF_LIFE_H = 6.647 * 24.0
#: Physical decay constant (1/h).
DECAY_CONSTANT_PER_H = math.log(2.0) / HALF_LIFE_H

#: Mean electron energy emitted per decay (beta 0.13327 + conversion 0.01352 + Auger 0.00113 MeV), ICRP 107.
ELECTRON_ENERGY_PER_DECAY_MEV = 0.14792
#: Mean photon energy emitted per decay (x and gamma), ICRP 107.
PHOTON_ENERGY_PER_DECAY_MEV = 0.0351
#: Joules per MeV (CODATA 2018 exact elementary charge).
JOULE_PER_MEV = 1.602176634e-13

#: Full local absorption of 177Lu electrons: D [Gy] = 0.08532 x TIA [MBq h] / m [g] (docs/physics.md section 1:
#: 0.14792 MeV x 1.602e-13 J/MeV x 3.6e9 decays per MBq h / 1e-3 kg per g = 0.08532 Gy g/(MBq h)).
LDM_GY_G_PER_MBQH = 0.08532

#: Decays per MBq h.
DECAYS_PER_MBQH = 1.0e6 * 3600.0


def electron_energy_mgy_g_per_mbq_s() -> float:
    """Electron energy per decay expressed as a kernel sum (S x voxel mass), mGy g/(MBq s)."""
    joule_per_mbq_s = ELECTRON_ENERGY_PER_DECAY_MEV * JOULE_PER_MEV * 1.0e6
    return joule_per_mbq_s / 1.0e-6  # 1 mGy g = 1e-3 J/kg x 1e-3 kg = 1e-6 J


def total_energy_mgy_g_per_mbq_s() -> float:
    """Electron + photon energy per decay as a kernel sum, mGy g/(MBq s) (upper bound of any kernel)."""
    joule_per_mbq_s = (ELECTRON_ENERGY_PER_DECAY_MEV + PHOTON_ENERGY_PER_DECAY_MEV) * JOULE_PER_MEV * 1.0e6
    return joule_per_mbq_s / 1.0e-6


def decay_factor(elapsed_h: float) -> float:
    """Fraction of 177Lu left after ``elapsed_h`` hours."""
    return math.exp(-DECAY_CONSTANT_PER_H * elapsed_h)
