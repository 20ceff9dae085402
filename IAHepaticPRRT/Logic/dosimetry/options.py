"""What a user chooses for one 177Lu cycle's dosimetry (:class:`DosimetryOptions`), and its checks."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, replace

from ..errors import InputError
from . import ct_density, kinetics

METHODS = ("ldm", "vsv")


@dataclass
class DosimetryOptions:
    """Everything a user chooses for one cycle (units in the names)."""

    administered_mbq: float
    administration_datetime: dt.datetime | None = None
    residual_mbq: float = 0.0
    times_h: list | None = None
    calibration_cps_per_mbq: float | None = None
    calibration_uncertainty_percent: float = 0.0
    acquisition_duration_s: list | None = None
    method: str = "ldm"
    model: str = "auto"
    voxel_model: str = "mono-exp"
    clamp: bool = True
    trapezoid_start: str = "zero"
    registration: bool = True
    reference_index: int = 0
    activity_uncertainty_percent: float | None = None
    recovery_table: object = None
    partial_volume_fwhm_mm: float | None = None
    ct_calibration: ct_density.DensityCalibration = ct_density.DEFAULT_CALIBRATION
    previous_cycles: list | None = None
    kidney_risk_factors: bool = False
    phantom_sex: str | None = None
    #: Plausibility checks the user accepts by name (docs/physics.md section 21; sanity.CHECKS).
    accept: frozenset = frozenset()

    def validate(self) -> None:
        if not (math.isfinite(self.administered_mbq) and self.administered_mbq > 0):
            raise InputError(f"administered activity must be positive, got {self.administered_mbq}", "--administered-mbq")
        if not (math.isfinite(self.residual_mbq) and 0 <= self.residual_mbq < self.administered_mbq):
            raise InputError(f"residual activity must be >= 0 and below the administered activity, got "
                             f"{self.residual_mbq}", "--residual-mbq")
        if self.method not in METHODS:
            raise InputError(f"unknown method '{self.method}' (ldm or vsv)", "--method")
        if self.model not in kinetics.MODEL_CHOICES:
            raise InputError(f"unknown model '{self.model}' ({', '.join(kinetics.MODEL_CHOICES)})", "--model")
        if not (math.isfinite(self.calibration_uncertainty_percent) and self.calibration_uncertainty_percent >= 0):
            raise InputError("calibration uncertainty must be >= 0 %", "--calibration-uncertainty-percent")
        if self.activity_uncertainty_percent is not None and not self.activity_uncertainty_percent > 0:
            raise InputError("activity uncertainty must be > 0 %", "--activity-uncertainty-percent")
        if self.partial_volume_fwhm_mm is not None:
            if not (math.isfinite(self.partial_volume_fwhm_mm) and self.partial_volume_fwhm_mm > 0):
                raise InputError("the SPECT resolution (FWHM) must be positive", "--pvc-fwhm-mm")
            if self.recovery_table is not None:
                raise InputError("choose one partial-volume correction: recovery coefficients (--recovery) or the "
                                 "geometric transfer matrix (--pvc-fwhm-mm), not both", "--recovery")

    @property
    def net_administered_mbq(self) -> float:
        return self.administered_mbq - self.residual_mbq




def replace_times(options: DosimetryOptions, times_h) -> DosimetryOptions:
    """``options`` with the time points' hours since administration given by the caller (if any)."""
    return options if times_h is None else replace(options, times_h=list(times_h))
