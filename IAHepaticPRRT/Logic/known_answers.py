"""Known-answer scenarios shared by the pytest suite and the in-Slicer self-test.

Each scenario builds its input with a truth it knows, runs it through the module logic and
returns the differences, so both test runners assert the same thing.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .imaging.grid import Grid
from .io.dicom_writer import write_image_series


def oblique_grid() -> Grid:
    """A small oblique grid (rotated 20 degrees about z, then 10 about x) with anisotropic voxels."""
    a, b = np.radians(20.0), np.radians(10.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return Grid((12, 20, 24), (1.5, 1.25, 3.0), (-17.0, 40.5, -120.25), rz @ rx)


def ramp_values(grid: Grid) -> np.ndarray:
    """Values that identify every voxel: 100 k + 10 j + i (in HU, exact in 16 bits)."""
    k, j, i = np.indices(grid.shape_kji)
    return (100.0 * k + 10.0 * j + i - 1000.0).astype(np.float32)


def write_oblique_ct(folder: str | os.PathLike) -> tuple[Grid, np.ndarray]:
    """Write the oblique ramp as a CT series whose file names run against slice order."""
    grid = oblique_grid()
    values = ramp_values(grid)
    write_image_series(values, grid, folder, "CT", {
        "PatientName": "Known^Answer", "PatientID": "KA-001", "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.1",
        "SeriesDescription": "oblique ramp", "RescaleType": "HU",
    }, uid_key="known-answer oblique ct", fixed_slope=1.0, reverse_file_order=True)
    return grid, values


def dicom_volume_scenario(module_logic, folder: str | os.PathLike) -> dict:
    """Load the oblique CT through the module logic; return geometry and value errors against truth
    and against SimpleITK's own reading of the same files."""
    import SimpleITK as sitk

    from .mrml.adapter import volume_from_node

    grid, values = write_oblique_ct(folder)
    node = module_logic.load_dicom_volume(folder, name="known answer CT")
    volume = volume_from_node(node)
    reader = sitk.ImageSeriesReader()
    files = reader.GetGDCMSeriesFileNames(str(Path(folder)))
    reader.SetFileNames(files)
    reference = reader.Execute()
    sitk_grid = Grid.from_sitk(reference)
    return {
        "max_value_error": float(np.max(np.abs(volume.array - values))),
        "max_matrix_error_vs_truth": float(np.max(np.abs(volume.grid.ijk_to_lps() - grid.ijk_to_lps()))),
        "max_matrix_error_vs_simpleitk": float(np.max(np.abs(volume.grid.ijk_to_lps() - sitk_grid.ijk_to_lps()))),
        "max_value_error_vs_simpleitk": float(np.max(np.abs(volume.array - sitk.GetArrayFromImage(reference)))),
    }


def panel_scenario(module_logic, folder: str | os.PathLike) -> dict:
    """The panel's three actions (Compare uptake, Compute dosimetry, Export report) through the module
    logic on the small noise-free synthetic patient; returns the differences from its truth.

    Inside Slicer the panel finds the PET and SPECT files of DICOM-loaded volumes in the DICOM
    database; here the files are given directly, which is the only difference.
    """
    import datetime as dt
    import json

    from .dosimetry.options import DosimetryOptions
    from .phantom.generate import generate_phantom
    from .uptake.comparison import UptakeParameters

    folder = Path(folder)
    patient = folder / "patient"
    truth = generate_phantom(patient, seed=1, noise=False, vendor="siemens", size="small")
    seg = {name: module_logic.load_segmentation(patient / "segmentations" / f"{name}.seg.nrrd")
           for name in ("ia_day0", "iv_day3", "spect_tp1")}
    uptake = module_logic.compare_uptake(patient / truth["pet"]["ia"]["pet_folder"],
                                         patient / truth["pet"]["iv"]["pet_folder"], seg["ia_day0"], seg["iv_day3"],
                                         parameters=UptakeParameters(metric="suv_max", threshold=3.0))
    spect = truth["spect"]
    options = DosimetryOptions(
        administered_mbq=spect["administered_activity_mbq"], residual_mbq=spect["residual_activity_mbq"],
        administration_datetime=dt.datetime.fromisoformat(spect["administration_datetime"]),
        method="ldm", partial_volume_fwhm_mm=truth["generator"]["spect_fwhm_mm"])
    result, nodes = module_logic.run_dosimetry(
        [patient / tp["nm_file"] for tp in spect["time_points"]], seg["spect_tp1"], options,
        ct_sources=[patient / tp["ct_folder"] for tp in spect["time_points"]])
    report = module_logic.export_report(folder / "report", uptake.result, result,
                                        {"id": "KA-PANEL", "name": "Known^Answer"}, deidentify=False)
    lesion_1 = next(v for v in uptake.result["vois"] if v["name"] == "Lesion 1")
    organs = ("Healthy liver", "Left kidney", "Right kidney", "Spleen")
    tia = {v["name"]: v["tia_mbqh"] for v in result.report["vois"]}
    written = json.loads((folder / "report" / "results.json").read_text())
    return {
        "eligible_matches_truth": uptake.result["eligible"] == truth["eligible"],
        "lesion_1_ratio_relative_error": abs(lesion_1["enhancement_ratio"] / truth["enhancement_ratio"]["Lesion 1"] - 1),
        "organ_tia_max_relative_error": max(abs(tia[o] / spect["tia_mbqh"][o] - 1) for o in organs),
        "uptake_table_rows": uptake.table_node.GetTable().GetNumberOfRows(),
        "uptake_vois": len(uptake.result["vois"]),
        "uptake_chart_series": uptake.chart_node.GetNumberOfPlotSeriesNodes(),
        "dose_volume_unit": nodes.dose_volume.GetAttribute("IAHepaticPRRT.Unit"),
        "report_written": report.is_file() and "Eligible" in report.read_text(encoding="utf-8"),
        "results_match_report": written["uptake"]["mean_enhancement_ratio"] == uptake.result["mean_enhancement_ratio"],
    }


# ---- follow-up ------------------------------------------------------------------------------------
def standard_lesion_doses_gy() -> dict[str, float]:
    """The synthetic patient's true lesion doses of the intra-arterial cycle (truth.json
    spect.mean_dose_gy_ldm): 0.08532 Gy g/(MBq h) x time-integrated concentration / 1.04 g/mL."""
    from .phantom.anatomy import build_tissues
    from .phantom.kinetics import LDM_GY_G_PER_MBQ_H, lu_kinetics

    return {t.name: LDM_GY_G_PER_MBQ_H * lu_kinetics(t).integral() / t.density_g_per_ml for t in build_tissues()
            if t.kind in ("lesion", "extrahepatic_lesion")}


def write_followup_patient(folder: str | os.PathLike, seed: int, doses_gy: dict | None = None) -> dict:
    """A follow-up-only patient of the synthetic model (phantom/followup.py) in ``folder``: its
    lesion segmentations at baseline and every visit (1 mm voxels, no images), a placeholder
    "series" volume carrying the MR slice spacing (2 mm) that RECIST's measurability reads, and
    ``manifest.json`` with the lesions' doses. Returns the truth."""
    import json
    from datetime import datetime

    from .imaging.volume import Volume
    from .io.segmentation_files import write_seg_nrrd
    from .io.volume_files import write_volume
    from .phantom.followup import MR_SPEC, _visit_tissues, followup_manifest, followup_truth, lesion_segmentation
    from .phantom.shapes import IDENTITY

    folder = Path(folder)
    folder.mkdir(parents=True)
    doses_gy = doses_gy or standard_lesion_doses_gy()
    truth = followup_truth(seed, doses_gy, datetime(2025, 3, 24, 10, 30))
    grid = MR_SPEC.grid()
    write_volume(Volume(np.zeros((2, 2, 2), np.int16), Grid((2, 2, 2), grid.spacing_mm)), folder / "series.nrrd")
    scans = {}
    for key in ["baseline"] + [v["key"] for v in truth["visits"]]:
        write_seg_nrrd(lesion_segmentation(grid, (1, 1, 2), IDENTITY, _visit_tissues(truth, key)),
                       folder / f"{key}.seg.nrrd")
        scans[key] = {"mr": {"series": "series.nrrd", "segmentation": f"{key}.seg.nrrd"}}
    section = followup_manifest(truth, scans, "mr")
    section["lesion_doses_gy"] = {name: float(dose) for name, dose in doses_gy.items()}
    manifest = {"manifest_version": 1, "patient": {"id": f"FU-{seed:03d}"}, "followup": section}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return truth


def followup_scenario(module_logic, folder: str | os.PathLike, seed: int = 5) -> dict:
    """The follow-up of a synthetic patient through the module logic: measured against truth."""
    truth = write_followup_patient(Path(folder) / "followup", seed)
    result, nodes = module_logic.compute_followup(Path(folder) / "followup" / "manifest.json")
    report = result.report
    volume_errors, diameter_errors = [], []
    for lesion in report["lesions"]:
        for measured, expected in zip(lesion["course"], truth["lesions"][lesion["name"]]["course"]):
            volume_errors.append(abs(measured["volume_ml"] / expected["volume_ml"] - 1.0))
            diameter_errors.append(abs(measured["longest_diameter_mm"] - expected["longest_diameter_mm"]))
    lines = sum(len(v) for v in nodes.lines.values())
    return {
        "max_volume_relative_error": max(volume_errors),
        "max_diameter_error_mm": max(diameter_errors),
        "responses_match_truth": [v["recist"]["overall_response"] for v in report["visits"]]
        == [v["overall_response"] for v in truth["recist"]["visits"]],
        "pfs_months_error": abs(report["pfs_months"] - truth["pfs_months"]),
        "lines": lines,
        "expected_lines": len(report["lesions"]) * (1 + len(report["visits"])),
        "course_rows": nodes.course_table.GetNumberOfRows(),
    }
