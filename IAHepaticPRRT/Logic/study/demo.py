"""The demo: the synthetic trial patient through the whole analysis (``iahprrt run``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def run_demo(output: str | os.PathLike, seed: int = 1, small: bool = False, vendor: str = "siemens",
             log=sys.stderr, dicom: bool = False) -> Path:
    """Generate the patient into OUTPUT/patient, run it into OUTPUT/results; return the report path."""
    from ..io.output_files import output_folder, to_json_text
    from ..phantom.generate import generate_phantom
    from .pipeline import run_patient, summary_of

    output = Path(output)
    patient = output / "patient"
    with output_folder(output):
        print(f"generating the synthetic patient in {patient} ...", file=log, flush=True)
        generate_phantom(patient, seed=seed, noise=True, vendor=vendor, size="small" if small else "default")
        print("running uptake comparison, dosimetry and report ...", file=log, flush=True)
        results = run_patient(patient / "manifest.json", output / "results",
                              dicom_out=output / "results" / "dicom" if dicom else None)
    print(to_json_text(summary_of(results)), end="", file=log)
    return Path(results["outputs"]["report"])
