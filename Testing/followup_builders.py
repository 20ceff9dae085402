"""Synthetic follow-up patients for the statistics tests (segmentations only, no images): each
patient's truth from the phantom's dose-response model (iahepaticprrt.phantom.followup) and its
lesion segmentations at baseline and every visit; see known_answers.write_followup_patient. Cohort
patients get lesion doses varied per patient (phantom.followup.cohort_doses)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from iahepaticprrt.known_answers import write_followup_patient
from iahepaticprrt.phantom.followup import cohort_doses

#: The synthetic patient's true lesion doses of the intra-arterial cycle (truth.json
#: spect.mean_dose_gy_ldm, rounded; phantom/kinetics.py: 0.08532 x TIA / mass).
STANDARD_DOSES_GY = {"Lesion 1": 38.2, "Lesion 2": 21.3, "Lesion 3": 21.5, "Lesion 4": 19.9, "Lesion 5": 20.0,
                     "Extrahepatic lesion 1": 6.9}
START = datetime(2025, 3, 24, 10, 30)


def write_patient(folder: Path, seed: int, doses: dict | None = None) -> dict:
    """One follow-up-only cohort patient (doses varied by its seed unless given); returns its truth."""
    return write_followup_patient(folder, seed, doses or cohort_doses(seed, STANDARD_DOSES_GY))


def write_cohort(folder: Path, seeds) -> dict[str, dict]:
    """Patients ``FU-<seed>`` in ``folder/<seed>/``; returns their truths by patient ID."""
    return {f"FU-{seed:03d}": write_patient(folder / f"{seed:03d}", seed) for seed in seeds}
