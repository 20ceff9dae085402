"""The demo: the synthetic trial patient through the whole analysis (``iahprrt run``)."""

from __future__ import annotations

import os
from pathlib import Path


def run_demo(output: str | os.PathLike, seed: int = 1, small: bool = False, vendor: str = "siemens",
             progress=None, dicom: bool = False) -> dict:
    """Generate the patient into OUTPUT/patient, run it into OUTPUT/results (with ``dicom``, also its DICOM
    results); return the summary of the results (:func:`~iahepaticprrt.study.pipeline.summary_of`),
    which names the report. ``progress(fraction, message)`` is called at each stage."""
    from ..io.output_files import output_folder
    from ..phantom.generate import generate_phantom
    from .pipeline import run_patient, summary_of

    progress = progress or (lambda fraction, message: None)
    output = Path(output)
    patient = output / "patient"
    with output_folder(output):
        generate_phantom(patient, seed=seed, noise=True, vendor=vendor, size="small" if small else "default",
                         progress=lambda f, m: progress(0.3 * f, m))
        results = run_patient(patient / "manifest.json", output / "results",
                              progress=lambda f, m: progress(0.3 + 0.7 * f, m),
                              dicom_out=output / "results" / "dicom" if dicom else None)
    return summary_of(results)
