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
    logic on the small noise-free synthetic patient, loaded from its manifest as the Sample Data
    entry loads it; returns the differences from its truth.

    The SPECT and CT nodes are handed over in a shuffled order (as a user may check them) with no
    administration time: the logic must order them by acquisition time and take the time from the
    headers. Inside Slicer the panel finds the files of DICOM-loaded volumes in the DICOM database;
    here the nodes carry the files the package loaded them from, which is the only difference.
    """
    import datetime as dt
    import json

    from .dosimetry.options import DosimetryOptions
    from .errors import InputError
    from .phantom.generate import generate_phantom
    from .uptake.comparison import UptakeParameters

    folder = Path(folder)
    patient = folder / "patient"
    truth = generate_phantom(patient, seed=1, noise=False, vendor="siemens", size="small")
    study = module_logic.load_study(patient / "manifest.json")
    uptake_sources = {route: module_logic.dicom_source_of_node(getattr(study, f"{route}_pet"))
                      for route in ("ia", "iv")}
    uptake = module_logic.compare_uptake(uptake_sources["ia"][0], uptake_sources["iv"][0], study.ia_segmentation,
                                         study.iv_segmentation, parameters=UptakeParameters(metric="suv_max",
                                                                                            threshold=3.0),
                                         series_uids={route: source[1] for route, source in uptake_sources.items()})
    spect = truth["spect"]
    order = (2, 0, 3, 1)  # the order the nodes are handed over (checked) in
    inputs = module_logic.dosimetry_inputs([study.spect[i] for i in order], [study.ct[i] for i in order[::-1]])
    options = DosimetryOptions(
        administered_mbq=spect["administered_activity_mbq"], residual_mbq=spect["residual_activity_mbq"],
        administration_datetime=inputs.administration_datetime,
        method="ldm", partial_volume_fwhm_mm=truth["generator"]["spect_fwhm_mm"])
    result, nodes = module_logic.run_dosimetry(inputs.spect_sources, study.dosimetry_segmentation, options,
                                               ct_sources=inputs.ct_sources, dosimetry_inputs=inputs)
    try:
        module_logic.export_report(Path("."), uptake.result, result, {}, deidentify=False)
        unset_refused = False
    except InputError as error:
        unset_refused = "choose an output folder" in str(error)
    report = module_logic.export_report(folder / "report", uptake.result, result,
                                        {"id": "KA-PANEL", "name": "Known^Answer"}, deidentify=False)
    lesion_1 = next(v for v in uptake.result["vois"] if v["name"] == "Lesion 1")
    organs = ("Healthy liver", "Left kidney", "Right kidney", "Spleen")
    tia = {v["name"]: v["tia_mbqh"] for v in result.report["vois"]}
    written = json.loads((folder / "report" / "results.json").read_text())
    expected = [str((patient / tp["nm_file"]).resolve()) for tp in spect["time_points"]]
    expected_ct = [str((patient / tp["ct_folder"]).resolve()) for tp in spect["time_points"]]
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
        "time_points_in_acquisition_order": inputs.spect_sources == expected and inputs.ct_sources == expected_ct
        and all(abs(a["time_h"] - b["time_h"]) < 1e-6 for a, b in zip(result.report["time_points"], spect["time_points"])),
        "administration_from_headers": inputs.administration_datetime == dt.datetime.fromisoformat(
            spect["administration_datetime"]) and "RadiopharmaceuticalStartDateTime" in inputs.administration_source,
        "unset_output_folder_refused": unset_refused,
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


def voi_helpers_scenario(module_logic) -> dict:
    """The panel's VOI helpers on phantoms with a known answer (1 mm voxels): healthy liver = a 60 mm
    cube of liver minus a 10 mm margin around one lesion voxel; a 20 mm sphere at a point; the 41 %
    isocontour around a point inside a 5 mm cube of 100 in a background of 10, with a hotter cube
    (200) out of the 30 mm search sphere, which a 70 mm search reaches (refused). Returns voxel counts."""
    from .errors import InputError
    from .imaging.segmentation import Segmentation
    from .imaging.volume import Volume
    from .mrml import adapter

    scene = module_logic.scene

    def grid(n):
        return Grid((n, n, n), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))

    def points(lps):
        node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "known-answer point")
        node.AddControlPoint(-lps[0], -lps[1], lps[2])  # markups hold RAS
        return node

    def count(node, name):
        return adapter.segmentation_from_node(node).segment(name).voxel_count

    liver = Segmentation(grid(60))
    liver.add("Liver", np.ones(liver.grid.shape_kji, bool))
    lesion = np.zeros(liver.grid.shape_kji, bool)
    lesion[30, 30, 30] = True
    liver.add("Lesion 1", lesion)
    liver_node = adapter.segmentation_node_from_segmentation(scene, liver, "known-answer liver")
    module_logic.add_healthy_liver(liver_node, 10.0)

    values = np.full((40, 40, 40), 10.0, np.float32)
    values[10:15, 10:15, 10:15] = 100.0
    values[30:33, 30:33, 30:33] = 200.0
    image = adapter.volume_node_from_volume(scene, Volume(values, grid(40), "Bq/mL"), "known-answer image")
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "known-answer VOIs")
    module_logic.add_sphere(node, points((20.0, 20.0, 20.0)), 20.0, "Reference sphere", image)
    module_logic.add_isocontour(node, image, points((12.0, 12.0, 12.0)), 41.0, 30.0, "Lesion 1")
    try:
        module_logic.add_isocontour(node, image, points((12.0, 12.0, 12.0)), 41.0, 70.0, "Lesion 2")
        refused = False
    except InputError:
        refused = "Lesion 2" not in adapter.segmentation_from_node(node).names
    return {"healthy_liver_voxels": count(liver_node, "Healthy liver"), "sphere_voxels": count(node, "Reference sphere"),
            "isocontour_voxels": count(node, "Lesion 1"), "far_maximum_refused": refused}
