"""What the Slicer module's logic does, without Qt: loads inputs into the scene, runs the
package's computations on node contents, and puts results back as nodes.

The scripted module's ``IAHepaticPRRTLogic`` is this class with Slicer's logic base class added,
so every action of the panel runs here, the same inside Slicer and on the headless host (tests).
Long actions take ``progress(fraction, message)``, called between steps; it may raise
:class:`Cancelled` to stop (nothing is written then).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError
from . import adapter
from .host import Host, current_host


class Cancelled(Exception):
    """The user cancelled a long action."""


def _no_progress(fraction: float, message: str) -> None:
    return None


class ModuleLogic:
    def __init__(self, host: Host | None = None):
        self.host = host or current_host()

    @property
    def scene(self):
        return self.host.scene

    # ---- inputs ------------------------------------------------------------------------------
    def load_dicom_volume(self, folder, name: str | None = None, series_uid: str | None = None):
        """A DICOM series folder (CT, PT) into a new scalar volume node."""
        return adapter.load_dicom_series_as_volume_node(self.scene, folder, name, series_uid)

    def load_segmentation(self, path, labels_csv=None, name: str | None = None, reference_node=None):
        """A ``.seg.nrrd``, a label map + labels CSV, a DICOM RTSTRUCT or a DICOM SEG into a new
        segmentation node. ``reference_node``: the volume the VOIs are used on (needed by an
        RTSTRUCT, whose contours are rasterised for its grid; its Frame of Reference is checked
        when the volume was read from DICOM). Inside Slicer, RTSTRUCT and SEG are better loaded
        through Slicer's DICOM module (SlicerRT and QuantitativeReporting): the panel takes the
        segmentation nodes they create."""
        from ..io.segmentation_files import read_segmentation

        reference = None
        if reference_node is not None:
            reference = adapter.volume_from_node(reference_node)
            frame = reference_node.GetAttribute("IAHepaticPRRT.frame_of_reference_uid")
            if frame:
                reference.metadata["frame_of_reference_uid"] = frame
        segmentation = read_segmentation(path, labels_csv, reference)
        return adapter.segmentation_node_from_segmentation(self.scene, segmentation, name or segmentation_name(path))

    # ---- registration ------------------------------------------------------------------------
    def register_volumes(self, fixed_node, moving_node, roi_segmentation_node=None, roi_segment=None, **options):
        """Register ``moving_node`` to ``fixed_node`` (see mrml/registration_nodes.py); returns
        (transform node, RegistrationResult). Put the moving volume or its segmentation under the node."""
        from .registration_nodes import register_volume_nodes

        return register_volume_nodes(self.scene, fixed_node, moving_node, roi_segmentation_node, roi_segment, **options)

    @staticmethod
    def dicom_source(files: list, what: str = "volume") -> tuple[str, str | None]:
        """The folder and SeriesInstanceUID of a loaded volume's DICOM files (Slicer finds the files
        through the volume's DICOM.instanceUIDs attribute and its DICOM database). One NM
        multi-frame file is returned as the file itself."""
        import pydicom

        files = [Path(f) for f in files if f]
        if not files:
            raise InputError("this volume was not loaded from DICOM (no DICOM.instanceUIDs, or files not in the "
                             "DICOM database): its headers are needed", what, "DICOM.instanceUIDs")
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise InputError(f"DICOM file(s) listed in the database are missing: {missing[0]}", what, "DICOM files")
        folders = {f.parent for f in files}
        if len(folders) != 1:
            raise InputError("the volume's files are spread over several folders; copy them into one", what,
                             "DICOM files")
        header = pydicom.dcmread(str(files[0]), stop_before_pixels=True)
        if len(files) == 1 and int(header.get("NumberOfFrames", 1) or 1) > 1:
            return str(files[0]), str(header.get("SeriesInstanceUID", "")) or None
        return str(folders.pop()), str(header.get("SeriesInstanceUID", "")) or None

    # ---- PET uptake --------------------------------------------------------------------------
    def compare_uptake(self, ia_pet_folder, iv_pet_folder, ia_segmentation_node, iv_segmentation_node,
                       progress=None, **options):
        """IA versus IV SUV per VOI, enhancement ratios and eligibility: SUV volume nodes, a table node
        and a bar chart (see :func:`iahepaticprrt.mrml.uptake_nodes.compare_uptake_in_scene`)."""
        from .uptake_nodes import compare_uptake_in_scene

        (progress or _no_progress)(0.0, "uptake: SUV and VOI statistics of both PET scans")
        result = compare_uptake_in_scene(self.scene, ia_pet_folder, iv_pet_folder, ia_segmentation_node,
                                         iv_segmentation_node, **options)
        (progress or _no_progress)(1.0, "uptake done")
        return result

    # ---- dosimetry ---------------------------------------------------------------------------
    def run_dosimetry(self, spect_sources, segmentation, options, labels_csv=None, ct_sources=None,
                      name: str = "Dosimetry", progress=None):
        """177Lu dosimetry of one cycle (see :func:`iahepaticprrt.study.dosimetry_run.run_dosimetry`); ``segmentation``
        is a file or a segmentation node. Returns (result, nodes): the dose volume node, results table,
        TAC and DVH charts."""
        from ..study.dosimetry_run import run_dosimetry
        from .dosimetry_nodes import dosimetry_nodes

        progress = progress or _no_progress
        if hasattr(segmentation, "GetSegmentation"):
            segmentation = adapter.segmentation_from_node(segmentation)
        progress(0.0, "dosimetry: time points, registration, kinetics, dose")
        result = run_dosimetry(spect_sources, segmentation, options, labels_csv, ct_sources)
        progress(0.9, "dosimetry: result nodes")
        nodes = dosimetry_nodes(self.scene, result, name)
        progress(1.0, "dosimetry done")
        return result, nodes

    # ---- report ------------------------------------------------------------------------------
    def export_report(self, output_folder, uptake_result: dict | None = None, dosimetry_result=None,
                      patient: dict | None = None, deidentify: bool = False) -> Path:
        """Write the HTML report, uptake and dosimetry JSON/CSV, the dose map and results.json; return
        the report's path."""
        from ..study.pipeline import write_patient_outputs

        if uptake_result is None and dosimetry_result is None:
            raise InputError("nothing to report: compute the uptake comparison or the dosimetry first", "report")
        if not output_folder:
            raise InputError("choose an output folder", "report", "output folder")
        results = write_patient_outputs(output_folder, uptake_result, dosimetry_result, patient or {}, deidentify)
        return Path(results["outputs"]["report"])


def segmentation_name(path: str | os.PathLike) -> str:
    name = Path(path).name
    for suffix in (".seg.nrrd", ".nii.gz", ".nrrd", ".nii"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name
