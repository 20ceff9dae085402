"""What the panel does, through the module logic on the headless host (real MRML, no mocks):
the synthetic patient loaded from its manifest (as the Sample Data entry does), its time points
put in acquisition order whatever the order the nodes come in, each CT paired with its SPECT, the
administration time from the DICOM headers unless the user sets it, no output into the working
directory, and the VOI helpers on phantoms whose answer the test knows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pydicom
import pytest

import phantom_checks as P
from iahepaticprrt.dosimetry.options import DosimetryOptions
from iahepaticprrt.errors import InputError
from iahepaticprrt.imaging.grid import Grid
from iahepaticprrt.imaging.segmentation import Segmentation
from iahepaticprrt.imaging.volume import Volume
from iahepaticprrt.mrml import adapter
from iahepaticprrt.mrml.module_logic import ModuleLogic

#: The synthetic patient's 177Lu schedule: administration on 2025-03-24 at 10:30, SPECT/CT at 4, 24,
#: 96 and 168 h (docs/phantom.md; phantom/generate.py ADMINISTRATION and TIME_POINTS).
ADMINISTRATION = dt.datetime(2025, 3, 24, 10, 30)
TIMES_H = [4.0, 24.0, 96.0, 168.0]
#: Lattice points (integer vectors) within a distance of 10 of the origin: 4169 (OEIS A000605, the
#: number of points of the cubic lattice in a sphere of radius n, n = 10). On a 1 mm grid that is
#: the voxel count of a 20 mm sphere centred on a voxel centre, and of a 10 mm margin around one voxel.
BALL_10_VOXELS = 4169


@pytest.fixture(scope="module")
def patient(tmp_path_factory):
    return P.phantom(tmp_path_factory, noise=False, size="small")


@pytest.fixture
def study(module_logic, patient):
    return module_logic.load_study(patient / "manifest.json")


def _copy_nm(source: Path, target: Path, edit) -> Path:
    """A copy of an NM file with ``edit(dataset)`` applied (the test's own header variants)."""
    ds = pydicom.dcmread(source)
    edit(ds)
    target.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(target)
    return target


def _copy_ct(source: Path, target: Path, **changes) -> Path:
    target.mkdir(parents=True)
    for path in sorted(source.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        for keyword, value in changes.items():
            setattr(ds, keyword, value)
        ds.save_as(target / path.name)
    return target


# ---- loading the synthetic patient (the Sample Data entry) -------------------------------------------
def test_study_manifest_loads_every_input_as_nodes(study, patient):
    assert study.ia_pet.GetName() == "PET intra-arterial" and study.iv_pet.GetName() == "PET intravenous"
    assert study.ia_pet.GetAttribute("IAHepaticPRRT.source_folder") == str((patient / "ia_day0" / "pet").resolve())
    assert [n.GetName() for n in study.spect] == ["SPECT 2025-03-24 14:30", "SPECT 2025-03-25 10:30",
                                                  "SPECT 2025-03-28 10:30", "SPECT 2025-03-31 10:30"]
    assert all(n.GetAttribute(adapter.UNIT_ATTRIBUTE) == "Bq/mL" for n in study.spect)
    assert len(study.ct) == 4 and all(n.GetAttribute("IAHepaticPRRT.modality") == "CT" for n in study.ct)
    names = [study.dosimetry_segmentation.GetSegmentation().GetNthSegment(i).GetName()
             for i in range(study.dosimetry_segmentation.GetSegmentation().GetNumberOfSegments())]
    assert "Lesion 1" in names and "Healthy liver" in names
    # The manifest's values (phantom/generate.py: 7400 MBq administered, 96 MBq residual).
    assert study.dosimetry["administered_mbq"] == 7400.0 and study.dosimetry["residual_mbq"] == 96.0


def test_dicom_source_of_a_node_from_its_attributes_or_the_dicom_database(module_logic, study, patient):
    folder, uid = module_logic.dicom_source_of_node(study.ia_pet)
    assert folder == str((patient / "ia_day0" / "pet").resolve()) and uid.startswith("2.25.")
    # A node loaded by Slicer's DICOM module: DICOM.instanceUIDs and the database's files.
    files = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): str(p)
             for p in (patient / "iv_day3" / "pet").glob("*.dcm")}
    node = module_logic.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "from the DICOM module")
    node.SetAttribute("DICOM.instanceUIDs", " ".join(files))
    assert module_logic.dicom_source_of_node(node, files.get)[0] == str(patient / "iv_day3" / "pet")
    with pytest.raises(InputError, match="not loaded from DICOM"):
        module_logic.dicom_source_of_node(module_logic.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "bare"))


# ---- time points in acquisition order, CTs paired, administration time from the headers -------------
def test_time_points_in_acquisition_order_whatever_the_order_of_the_nodes(module_logic, study, patient):
    spect = [study.spect[i] for i in (2, 0, 3, 1)]
    ct = [study.ct[i] for i in (1, 3, 0, 2)]
    inputs = module_logic.dosimetry_inputs(spect, ct)
    tps = [patient / "spect" / f"tp{n}" for n in (1, 2, 3, 4)]
    assert inputs.spect_sources == [str((tp / "nm" / "spect.dcm").resolve()) for tp in tps]
    assert inputs.ct_sources == [str((tp / "ct").resolve()) for tp in tps]
    assert [tp.ct_pairing for tp in inputs.time_points] == ["FrameOfReferenceUID"] * 4
    assert inputs.administration_datetime == ADMINISTRATION
    assert "RadiopharmaceuticalStartDateTime" in inputs.administration_source
    assert inputs.times_h == pytest.approx(TIMES_H, abs=1e-9)
    assert inputs.warnings == []

    # The same nodes in their checked order, as the panel used to pass them, are refused.
    files = [module_logic.dicom_source_of_node(n)[0] for n in spect]
    with pytest.raises(InputError, match="out of order"):
        module_logic.run_dosimetry(files, study.dosimetry_segmentation,
                                   DosimetryOptions(administered_mbq=7400.0, administration_datetime=ADMINISTRATION))

    # In acquisition order the dosimetry runs, with the header's administration time.
    options = DosimetryOptions(administered_mbq=7400.0, residual_mbq=96.0, method="ldm", model="mono-exp",
                               administration_datetime=inputs.administration_datetime)
    result, _ = module_logic.run_dosimetry(inputs.spect_sources, study.dosimetry_segmentation, options,
                                           ct_sources=inputs.ct_sources, dosimetry_inputs=inputs)
    assert [tp["time_h"] for tp in result.report["time_points"]] == pytest.approx(TIMES_H, abs=1e-9)
    assert result.report["administration_datetime"] == "2025-03-24T10:30:00"
    recorded = result.report["provenance"]["panel_inputs"]
    assert "RadiopharmaceuticalStartDateTime" in recorded["administration_time_source"]
    assert [tp["ct_pairing"] for tp in recorded["time_points"]] == ["FrameOfReferenceUID"] * 4


def test_the_panels_report_shows_the_lesions_and_the_dose_map(module_logic, study, patient, tmp_path):
    """Export report from the panel: the same report as ``iahprrt run``, images included."""
    uptake = module_logic.compare_uptake(patient / "ia_day0" / "pet", patient / "iv_day3" / "pet",
                                         study.ia_segmentation, study.iv_segmentation)
    inputs = module_logic.dosimetry_inputs(study.spect, study.ct)
    options = DosimetryOptions(administered_mbq=7400.0, residual_mbq=96.0, method="ldm", model="mono-exp",
                               administration_datetime=inputs.administration_datetime)
    result, _ = module_logic.run_dosimetry(inputs.spect_sources, study.dosimetry_segmentation, options,
                                           ct_sources=inputs.ct_sources, dosimetry_inputs=inputs)
    report = module_logic.export_report(tmp_path / "out", None, result, {"id": "P1"}, uptake_nodes=uptake)
    html = report.read_text(encoding="utf-8")
    # The synthetic patient's 5 target lesions on both PETs (the first again in the summary), 2 MIPs,
    # the dose at the 5 lesions' levels and the kidneys' (docs/phantom.md: 5 liver lesions).
    assert html.count("<img ") == 5 * 2 + 2 + 2 + 6
    assert "Absorbed dose over the CT" in html and "reference CT (HU window" in html


def test_administration_time_set_by_the_user_wins_and_a_difference_is_reported(module_logic, study):
    later = ADMINISTRATION + dt.timedelta(hours=2)
    inputs = module_logic.dosimetry_inputs(study.spect[::-1], administration_datetime=later)
    assert inputs.administration_datetime == later and inputs.administration_source == "set by the user in the panel"
    assert inputs.times_h == pytest.approx([t - 2.0 for t in TIMES_H], abs=1e-9)
    assert len(inputs.warnings) == 1 and "by 2.00 h" in inputs.warnings[0]
    assert inputs.ct_sources is None
    # Within a minute of the header: no warning.
    assert module_logic.dosimetry_inputs(study.spect, administration_datetime=ADMINISTRATION).warnings == []


def test_administration_time_missing_or_contradicting_in_the_headers(module_logic, patient, tmp_path):
    tp1, tp2 = (patient / "spect" / f"tp{n}" / "nm" / "spect.dcm" for n in (1, 2))

    def drop(ds):
        for item in ds.RadiopharmaceuticalInformationSequence:
            del item.RadiopharmaceuticalStartDateTime

    nodes = [module_logic.load_spect_time_point(_copy_nm(p, tmp_path / "none" / f"{i}.dcm", drop))
             for i, p in enumerate((tp1, tp2))]
    with pytest.raises(InputError, match="no administration time in the SPECT headers") as error:
        module_logic.dosimetry_inputs(nodes)
    assert error.value.field == "RadiopharmaceuticalStartDateTime (0018,1078)"
    assert module_logic.header_administration_datetime(nodes) is None
    assert module_logic.dosimetry_inputs(nodes, administration_datetime=ADMINISTRATION).times_h == \
        pytest.approx(TIMES_H[:2], abs=1e-9)

    def next_day(ds):
        ds.RadiopharmaceuticalInformationSequence[0].RadiopharmaceuticalStartDateTime = "20250325103000"

    other = module_logic.load_spect_time_point(_copy_nm(tp2, tmp_path / "other" / "2.dcm", next_day))
    first = module_logic.load_spect_time_point(tp1)
    with pytest.raises(InputError, match="differs from") as error:
        module_logic.dosimetry_inputs([first, other])
    assert error.value.source.endswith("2.dcm")
    # The user's time settles it.
    assert module_logic.dosimetry_inputs([first, other], administration_datetime=ADMINISTRATION).warnings


def test_ct_pairing_by_frame_of_reference_then_study_then_time(module_logic, study, patient, tmp_path):
    spect_ct = [patient / "spect" / f"tp{n}" / "ct" for n in (1, 2, 3, 4)]
    ct2 = _copy_ct(spect_ct[1], tmp_path / "ct2", FrameOfReferenceUID="2.25.1")
    ct3 = _copy_ct(spect_ct[2], tmp_path / "ct3", FrameOfReferenceUID="2.25.2", StudyInstanceUID="2.25.3")
    cts = [module_logic.load_dicom_volume(f) for f in (ct3, spect_ct[3], ct2, spect_ct[0])]
    inputs = module_logic.dosimetry_inputs(study.spect, cts)
    assert inputs.ct_sources == [str(spect_ct[0].resolve()), str(ct2), str(ct3), str(spect_ct[3].resolve())]
    assert [tp.ct_pairing for tp in inputs.time_points] == [
        "FrameOfReferenceUID", "StudyInstanceUID", "nearest acquisition time", "FrameOfReferenceUID"]
    assert inputs.warnings == []

    # A CT paired by time alone three hours from its SPECT is reported.
    late = _copy_ct(spect_ct[2], tmp_path / "late", FrameOfReferenceUID="2.25.4", StudyInstanceUID="2.25.5",
                    AcquisitionTime="133000")  # the SPECT started at 10:30 (TIMES_H[2] = 96 h after 10:30)
    cts[0] = module_logic.load_dicom_volume(late)
    inputs = module_logic.dosimetry_inputs(study.spect, cts)
    assert inputs.ct_sources[2] == str(late)
    assert len(inputs.warnings) == 1 and "3.0 h apart" in inputs.warnings[0]

    with pytest.raises(InputError, match="2 CTs checked for 4 SPECT time points"):
        module_logic.dosimetry_inputs(study.spect, cts[:2])
    with pytest.raises(InputError, match="the same acquisition start"):
        module_logic.dosimetry_inputs([study.spect[0], module_logic.load_spect_time_point(
            module_logic.dicom_source_of_node(study.spect[0])[0])])


def test_administration_time_of_the_panel():
    assert ModuleLogic.administration_from_panel(False, "2025-03-24T10:30:00") is None
    assert ModuleLogic.administration_from_panel(True, "2025-03-24T10:30:00") == ADMINISTRATION
    with pytest.raises(InputError, match="no time is entered"):
        ModuleLogic.administration_from_panel(True, "")
    with pytest.raises(InputError, match="not a date and time"):
        ModuleLogic.administration_from_panel(True, "yesterday")


# ---- no output into the working directory ------------------------------------------------------------
@pytest.mark.parametrize("folder", [None, "", ".", Path(".")])
def test_an_unset_output_folder_is_refused(module_logic, folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="choose an output folder"):
        module_logic.export_report(folder, {"vois": []})
    assert list(tmp_path.iterdir()) == []


# ---- VOI helpers --------------------------------------------------------------------------------------
def _grid(n: int, spacing: float = 1.0) -> Grid:
    return Grid((n, n, n), (spacing,) * 3, (0.0, 0.0, 0.0), np.eye(3))


def _points(scene, *lps_mm):
    node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "points")
    for x, y, z in lps_mm:
        node.AddControlPoint(-x, -y, z)  # markups hold RAS
    return node


def _segments(node) -> dict:
    return {s.name: s.voxel_count for s in adapter.segmentation_from_node(node).segments}


def test_healthy_liver_with_a_margin(module_logic, scene):
    grid = _grid(60)
    segmentation = Segmentation(grid)
    segmentation.add("Liver", np.ones(grid.shape_kji, bool))
    lesion = np.zeros(grid.shape_kji, bool)
    lesion[30, 30, 30] = True
    segmentation.add("Lesion 1", lesion)
    node = adapter.segmentation_node_from_segmentation(scene, segmentation, "VOIs")
    done = module_logic.add_healthy_liver(node, margin_mm=10.0)
    # 60^3 liver voxels minus the 4169 within 10 mm of the lesion voxel (OEIS A000605).
    assert _segments(node) == {"Liver": 216000, "Lesion 1": 1, "Healthy liver": 216000 - BALL_10_VOXELS}
    assert done["volume_ml"] == pytest.approx(211.831, abs=1e-9) and done["lesions"] == ["Lesion 1"]
    module_logic.add_healthy_liver(node, margin_mm=0.0)  # replaces the segment
    assert _segments(node)["Healthy liver"] == 215999
    empty = adapter.segmentation_node_from_segmentation(scene, Segmentation(grid, [], ""), "no liver")
    empty.GetSegmentation().AddEmptySegment("Spleen")
    with pytest.raises(InputError, match="no segment named 'Liver'"):
        module_logic.add_healthy_liver(empty)


def test_reference_sphere_at_the_clicked_point(module_logic, scene):
    volume = adapter.volume_node_from_volume(scene, Volume(np.zeros((40, 40, 40), np.float32), _grid(40)), "image")
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "VOIs")
    done = module_logic.add_sphere(node, _points(scene, (20.0, 20.0, 20.0)), 20.0, "Reference sphere", volume)
    assert _segments(node) == {"Reference sphere": BALL_10_VOXELS}
    assert done["volume_ml"] == pytest.approx(4.169, abs=1e-9)
    assert done["centre_lps_mm"] == [20.0, 20.0, 20.0]
    # A second sphere on a coarser image goes onto the segmentation's own 1 mm voxels; the first stays.
    coarse = adapter.volume_node_from_volume(scene, Volume(np.zeros((20, 20, 20), np.float32), _grid(20, 2.0)), "2 mm")
    module_logic.add_sphere(node, _points(scene, (0.0, 0.0, 0.0), (30.0, 25.0, 20.0)), 20.0, "Second", coarse)
    assert _segments(node) == {"Reference sphere": BALL_10_VOXELS, "Second": BALL_10_VOXELS}
    centre = adapter.segmentation_from_node(node)
    kji = np.argwhere(centre.mask("Second")).mean(axis=0)
    assert centre.grid.index_to_lps(kji[::-1]) == pytest.approx([30.0, 25.0, 20.0], abs=1e-9)  # the last point
    with pytest.raises(InputError, match="empty"):
        module_logic.add_sphere(scene.AddNewNodeByClass("vtkMRMLSegmentationNode"), _points(scene, (1, 1, 1)), 10.0)
    with pytest.raises(InputError, match="place a point"):
        module_logic.add_sphere(node, None, 10.0)


def test_isocontour_41_percent_around_the_clicked_point(module_logic, scene):
    values = np.full((40, 40, 40), 10.0, np.float32)
    values[10:15, 10:15, 10:15] = 100.0   # the lesion clicked: a 5 x 5 x 5 mm cube
    values[30:33, 30:33, 30:33] = 200.0   # a hotter structure 31 mm away from its centre
    image = adapter.volume_node_from_volume(scene, Volume(values, _grid(40), "Bq/mL"), "PET")
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "VOIs")
    point = _points(scene, (12.0, 12.0, 12.0))
    done = module_logic.add_isocontour(node, image, point, 41.0, 30.0, "Lesion 1")
    # max 100 in the 30 mm search sphere, threshold 41: exactly the 125 voxels of the cube.
    assert _segments(node) == {"Lesion 1": 125}
    assert (done["max_value"], done["threshold_value"], done["volume_ml"]) == (100.0, 41.0, pytest.approx(0.125))
    # 70 mm reaches the hotter structure: its contour does not hold the point, nothing is written.
    with pytest.raises(InputError, match="does not contain the clicked point"):
        module_logic.add_isocontour(node, image, point, 41.0, 70.0, "Lesion 2")
    assert _segments(node) == {"Lesion 1": 125}
    # 50 % keeps the cube as well (100 >= 50 > 10); 95 % of 100 too (the cube is flat).
    module_logic.add_isocontour(node, image, point, 95.0, 30.0, "Lesion 1")
    assert _segments(node) == {"Lesion 1": 125}
