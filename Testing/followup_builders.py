"""Synthetic follow-up patients for the statistics tests: each patient's truth from the phantom's
dose-response model (iahepaticprrt.phantom.followup) with lesion doses varied per patient, and its
lesion segmentations at baseline and at every visit written as .seg.nrrd files WITHOUT images
(the tests about statistics measure the segmentations only). The manifest's baseline "series" is a
tiny placeholder volume holding only the slice spacing (2 mm) that RECIST's measurability rule reads.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np

from iahepaticprrt.imaging.volume import Volume
from iahepaticprrt.io.segmentation_files import write_seg_nrrd
from iahepaticprrt.io.volume_files import write_volume
from iahepaticprrt.phantom.followup import (
    MR_SPEC,
    _visit_tissues,
    cohort_doses,
    followup_manifest,
    followup_truth,
    lesion_segmentation,
)
from iahepaticprrt.phantom.shapes import IDENTITY

#: The synthetic patient's true lesion doses of the intra-arterial cycle (truth.json
#: spect.mean_dose_gy_ldm, rounded; phantom/kinetics.py gives 0.08532 x TIA / mass).
STANDARD_DOSES_GY = {"Lesion 1": 38.2, "Lesion 2": 21.3, "Lesion 3": 21.5, "Lesion 4": 19.9, "Lesion 5": 20.0,
                     "Extrahepatic lesion 1": 6.9}
START = datetime(2025, 3, 24, 10, 30)
#: Segmentations on the MR grid's lattice at 1 x 1 x 1 mm (factors 1, 1, 2 of its 1 x 1 x 2 mm).
FACTORS = (1, 1, 2)


def write_patient(folder: Path, seed: int, doses: dict | None = None) -> dict:
    """One follow-up-only patient in ``folder``: segmentations, placeholder series, manifest.json;
    returns its truth."""
    folder.mkdir(parents=True)
    doses = doses or cohort_doses(seed, STANDARD_DOSES_GY)
    truth = followup_truth(seed, doses, START)
    grid = MR_SPEC.grid()
    placeholder = folder / "series.nrrd"
    from iahepaticprrt.imaging.grid import Grid

    write_volume(Volume(np.zeros((2, 2, 2), np.int16), Grid((2, 2, 2), grid.spacing_mm)), placeholder)
    scans = {}
    for key in ["baseline"] + [v["key"] for v in truth["visits"]]:
        seg = lesion_segmentation(grid, FACTORS, IDENTITY, _visit_tissues(truth, key))
        write_seg_nrrd(seg, folder / f"{key}.seg.nrrd")
        scans[key] = {"mr": {"series": placeholder.name, "segmentation": f"{key}.seg.nrrd"}}
    section = followup_manifest(truth, scans, "mr")
    section["lesion_doses_gy"] = {name: float(dose) for name, dose in doses.items()}
    manifest = {"manifest_version": 1, "patient": {"id": f"FU-{seed:03d}"}, "followup": section}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return truth


def write_cohort(folder: Path, seeds) -> dict[str, dict]:
    """Patients ``FU-<seed>`` in ``folder/<seed>/``; returns their truths by patient ID."""
    return {f"FU-{seed:03d}": write_patient(folder / f"{seed:03d}", seed) for seed in seeds}
