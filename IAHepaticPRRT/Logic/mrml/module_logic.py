"""What the Slicer module's logic does, without Qt: loads inputs into the scene, runs the
package's computations on node contents, and puts results back as nodes.

The scripted module's ``IAHepaticPRRTLogic`` is this class with Slicer's logic base class added,
so every action of the panel runs here, the same inside Slicer and on the headless host (tests).
Long actions take ``progress(fraction, message)``, called between steps; it may raise
:class:`Cancelled` to stop (nothing is written then).

A volume's DICOM files are found through ``file_for_instance`` (inside Slicer the application's
DICOM database, ``slicer.app.dicomDatabase().fileForInstance``) from the volume's
``DICOM.instanceUIDs`` attribute, or else from the files the package itself loaded the node from
(``load_dicom_volume``, ``load_spect_time_point``, ``load_study``). Conventions for the panel
(time-point order, CT pairing, administration time, VOI helper defaults): docs/physics.md
section 27.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from . import adapter
from .host import Host, current_host

#: A CT paired with its SPECT by acquisition time alone, further apart than this, is reported: a
#: SPECT/CT's CT is acquired minutes from its SPECT (docs/physics.md section 21).
CT_PAIRING_WARNING_H = 1.0
#: Administration times of one cycle's time points (RadiopharmaceuticalStartDateTime) that differ
#: by more than this contradict each other; the user must set the time (docs/physics.md section 21).
ADMINISTRATION_TOLERANCE_S = 60.0
#: VOI helper defaults of the panel (docs/physics.md section 21).
HEALTHY_LIVER_MARGIN_MM = 10.0
REFERENCE_SPHERE_DIAMETER_MM = 30.0
ISOCONTOUR_PERCENT = 41.0
ISOCONTOUR_SEARCH_DIAMETER_MM = 60.0

_ISO_SECONDS = "%Y-%m-%dT%H:%M:%S"


class Cancelled(Exception):
    """The user cancelled a long action."""


def _no_progress(fraction: float, message: str) -> None:
    return None


# ---- what the panel found about a cycle's time points ----------------------------------------------
@dataclass
class TimePointInput:
    """One SPECT time point as found from its node's DICOM headers, with the CT paired to it."""

    spect: str                          # the SPECT's file (NM multi-frame) or folder
    spect_name: str                     # its node's name
    acquisition_datetime: dt.datetime   # AcquisitionDateTime, else AcquisitionDate + AcquisitionTime
    ct: str | None = None
    ct_name: str | None = None
    ct_pairing: str = ""                # which rule paired the CT (docs/physics.md section 21)

    def to_dict(self) -> dict:
        return {"spect": self.spect, "spect_node": self.spect_name,
                "acquisition_datetime": self.acquisition_datetime.isoformat(), "ct": self.ct,
                "ct_node": self.ct_name, "ct_pairing": self.ct_pairing or None}


@dataclass
class DosimetryInputs:
    """A cycle's time points in acquisition order, their CTs, and the administration time used."""

    time_points: list[TimePointInput]
    administration_datetime: dt.datetime
    administration_source: str
    warnings: list[str] = field(default_factory=list)

    @property
    def spect_sources(self) -> list[str]:
        return [tp.spect for tp in self.time_points]

    @property
    def ct_sources(self) -> list[str] | None:
        cts = [tp.ct for tp in self.time_points]
        return cts if all(cts) else None

    @property
    def times_h(self) -> list[float]:
        """Hours from the administration to each acquisition start (as the dosimetry computes them)."""
        return [(tp.acquisition_datetime - self.administration_datetime).total_seconds() / 3600.0
                for tp in self.time_points]

    def to_dict(self) -> dict:
        return {"administration_datetime": self.administration_datetime.isoformat(),
                "administration_time_source": self.administration_source,
                "time_points": [tp.to_dict() for tp in self.time_points]}


@dataclass
class LoadedStudy:
    """The nodes a study manifest names, loaded into the scene, and the manifest's dosimetry values."""

    ia_pet: object = None
    iv_pet: object = None
    ia_segmentation: object = None
    iv_segmentation: object = None
    spect: list = field(default_factory=list)
    ct: list = field(default_factory=list)
    dosimetry_segmentation: object = None
    dosimetry: dict = field(default_factory=dict)
    patient: dict = field(default_factory=dict)


@dataclass
class _Header:
    """What ordering and pairing need from one series' first header."""

    source: str
    name: str
    acquisition: dt.datetime | None
    frame_of_reference_uid: str
    study_instance_uid: str
    administration: dt.datetime | None = None


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

    def load_spect_time_point(self, path, name: str | None = None, calibration_cps_per_mbq: float | None = None):
        """One SPECT time point (NM multi-frame file, NM/PT series folder) into a volume node in Bq/mL
        (counts when no calibration is known), named after its acquisition start."""
        from ..io.spect_dicom import read_time_point

        point = read_time_point(path, calibration_cps_per_mbq)
        if name is None:
            when = point.acquisition_datetime
            name = f"SPECT {when:%Y-%m-%d %H:%M}" if when else f"SPECT {Path(path).name}"
        return adapter.volume_node_from_volume(self.scene, point.volume, name)

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

    def load_study(self, manifest_path, progress=None) -> LoadedStudy:
        """Every input a study manifest names (PET scans and their VOIs, SPECT time points, their CTs
        and VOIs) as nodes, with the manifest's dosimetry values for the panel (docs/manifest.md)."""
        from ..study.manifest import read_manifest

        progress = progress or _no_progress
        manifest = read_manifest(manifest_path)
        data = manifest.data
        loaded = LoadedStudy(patient=dict(data.get("patient", {})))
        uptake = data.get("uptake")
        if uptake:
            for route, label in (("ia", "intra-arterial"), ("iv", "intravenous")):
                progress(0.1 if route == "ia" else 0.3, f"loading the {label} PET")
                scan = uptake[route]
                pet = self.load_dicom_volume(scan["pet"], f"PET {label}", scan.get("series_uid"))
                segmentation = self.load_segmentation(scan["segmentation"], scan.get("labels"),
                                                      f"VOIs {label}")
                setattr(loaded, f"{route}_pet", pet)
                setattr(loaded, f"{route}_segmentation", segmentation)
        dosimetry = data.get("dosimetry")
        if dosimetry:
            calibration = dosimetry.get("calibration_cps_per_mbq")
            points = dosimetry["time_points"]
            for index, point in enumerate(points):
                progress(0.5 + 0.4 * index / len(points), f"loading SPECT time point {index + 1}")
                loaded.spect.append(self.load_spect_time_point(point["spect"], calibration_cps_per_mbq=calibration))
                if point.get("ct"):
                    loaded.ct.append(self.load_dicom_volume(point["ct"], f"CT of {loaded.spect[-1].GetName()}"))
            loaded.dosimetry_segmentation = self.load_segmentation(dosimetry["segmentation"], dosimetry.get("labels"),
                                                                   "VOIs dosimetry")
            loaded.dosimetry = {key: dosimetry[key] for key in (
                "administered_mbq", "residual_mbq", "administration_time", "calibration_cps_per_mbq",
                "calibration_uncertainty_percent", "method", "model", "pvc_fwhm_mm", "kidney_risk_factors")
                if key in dosimetry}
        progress(1.0, "study loaded")
        return loaded

    # ---- registration ------------------------------------------------------------------------
    def register_volumes(self, fixed_node, moving_node, roi_segmentation_node=None, roi_segment=None, **options):
        """Register ``moving_node`` to ``fixed_node`` (see mrml/registration_nodes.py); returns
        (transform node, RegistrationResult). Put the moving volume or its segmentation under the node."""
        from .registration_nodes import register_volume_nodes

        return register_volume_nodes(self.scene, fixed_node, moving_node, roi_segmentation_node, roi_segment, **options)

    # ---- DICOM sources of nodes ----------------------------------------------------------------
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

    def dicom_source_of_node(self, node, file_for_instance=None, what: str | None = None) -> tuple[str, str | None]:
        """The DICOM folder (or NM file) and SeriesInstanceUID a volume node was loaded from.

        A node loaded by Slicer's DICOM module lists its instances in ``DICOM.instanceUIDs``; their
        files come from ``file_for_instance`` (inside Slicer ``slicer.app.dicomDatabase().fileForInstance``).
        A node loaded by this package records its source in its IAHepaticPRRT attributes."""
        if node is None:
            raise InputError("no volume selected", what or "volume", "node")
        what = what or node.GetName()
        uids = (node.GetAttribute("DICOM.instanceUIDs") or "").split()
        if uids and file_for_instance is not None:
            return self.dicom_source([file_for_instance(uid) for uid in uids], what)
        series_uid = node.GetAttribute("IAHepaticPRRT.series_instance_uid") or None
        for key in ("source_file", "source_folder"):
            value = node.GetAttribute(f"IAHepaticPRRT.{key}")
            if value:
                if not Path(value).exists():
                    raise InputError(f"the volume's DICOM source is missing: {value}", what, "DICOM files")
                return value, series_uid
        return self.dicom_source([], what)

    # ---- a cycle's time points: order, CTs, administration time ---------------------------------
    def _header_of(self, node, file_for_instance, modalities: tuple[str, ...]) -> _Header:
        import pydicom

        from ..io.dicom_series import select_series
        from ..io.spect_dicom import acquisition_start, header_administration, parse_dicom_datetime

        source, series_uid = self.dicom_source_of_node(node, file_for_instance)
        first = Path(source) if Path(source).is_file() else select_series(source, series_uid, modalities).files[0]
        try:
            ds = pydicom.dcmread(str(first), stop_before_pixels=True)
        except Exception as exc:
            raise InputError(f"not a readable DICOM file ({exc})", first) from None
        acquisition = acquisition_start(ds, first)
        if acquisition is None and "CT" in modalities:  # pairing only: the series start is close enough
            try:
                acquisition = parse_dicom_datetime(ds.get("SeriesDate"), ds.get("SeriesTime"))
            except ValueError:
                acquisition = None
        return _Header(source, node.GetName(), acquisition, str(ds.get("FrameOfReferenceUID", "") or ""),
                       str(ds.get("StudyInstanceUID", "") or ""), header_administration(ds))

    def header_administration_datetime(self, spect_nodes, file_for_instance=None) -> dt.datetime | None:
        """The administration time the SPECTs' headers give (RadiopharmaceuticalStartDateTime), or
        None when none gives one; contradicting headers are an error (docs/physics.md section 21)."""
        headers = [self._header_of(n, file_for_instance, ("NM", "PT")) for n in spect_nodes if n is not None]
        return _header_administration(headers)[0]

    def dosimetry_inputs(self, spect_nodes, ct_nodes=(), administration_datetime: dt.datetime | None = None,
                         file_for_instance=None) -> DosimetryInputs:
        """The checked SPECT (and CT) nodes of a cycle as the dosimetry needs them: time points in
        acquisition order whatever the order of the nodes, each CT paired with its SPECT (same
        FrameOfReferenceUID, else same StudyInstanceUID, else nearest acquisition time), and the
        administration time: ``administration_datetime`` when the user set it, else the headers'."""
        spect_nodes = [n for n in spect_nodes if n is not None]
        ct_nodes = [n for n in (ct_nodes or ()) if n is not None]
        if not spect_nodes:
            raise InputError("check the SPECT time points of the cycle", "dosimetry", "SPECT time points")
        if ct_nodes and len(ct_nodes) != len(spect_nodes):
            raise InputError(f"{len(ct_nodes)} CTs checked for {len(spect_nodes)} SPECT time points: check one CT per "
                             "time point, or none", "dosimetry", "CT of each time point")
        spects = [self._header_of(n, file_for_instance, ("NM", "PT")) for n in spect_nodes]
        for header in spects:
            if header.acquisition is None:
                raise InputError("no acquisition start time: the time points cannot be ordered", header.source,
                                 "AcquisitionDate/AcquisitionTime (0008,0022)/(0008,0032)")
        spects.sort(key=lambda h: h.acquisition)
        for a, b in zip(spects, spects[1:]):
            if a.acquisition == b.acquisition:
                raise InputError(f"the same acquisition start ({a.acquisition.isoformat()}) as {a.source}: each time "
                                 "point once", b.source, "AcquisitionDate/AcquisitionTime (0008,0022)/(0008,0032)")
        warnings: list[str] = []
        time_points = [TimePointInput(h.source, h.name, h.acquisition) for h in spects]
        if ct_nodes:
            cts = [self._header_of(n, file_for_instance, ("CT",)) for n in ct_nodes]
            for point, (ct, rule) in zip(time_points, _pair_cts(spects, cts)):
                point.ct, point.ct_name, point.ct_pairing = ct.source, ct.name, rule
                if rule.startswith("nearest") and ct.acquisition is not None:
                    apart_h = abs((ct.acquisition - point.acquisition_datetime).total_seconds()) / 3600.0
                    if apart_h > CT_PAIRING_WARNING_H:
                        warnings.append(f"CT {ct.name} paired with SPECT {point.spect_name} by acquisition time alone, "
                                        f"{apart_h:.1f} h apart (no shared FrameOfReferenceUID or StudyInstanceUID): "
                                        "check that it is this time point's CT")
        header_time, contradiction = _header_administration(spects, strict=administration_datetime is None)
        if administration_datetime is not None:
            administration, source = administration_datetime, "set by the user in the panel"
            if contradiction:
                warnings.append(f"{contradiction} The administration time set in the panel is used")
            if header_time is not None:
                apart_s = abs((administration - header_time).total_seconds())
                if apart_s > ADMINISTRATION_TOLERANCE_S:
                    warnings.append(f"the administration time set in the panel ({administration.isoformat()}) differs "
                                    f"from the SPECT headers' RadiopharmaceuticalStartDateTime ({header_time.isoformat()}) "
                                    f"by {apart_s / 3600.0:.2f} h; the panel's time is used")
        elif header_time is not None:
            administration = header_time
            source = f"RadiopharmaceuticalStartDateTime (0018,1078) of {spects[0].source}"
        else:
            raise InputError("no administration time in the SPECT headers (RadiopharmaceuticalStartDateTime "
                             "(0018,1078)): tick 'Set the administration time' and enter it", spects[0].source,
                             "RadiopharmaceuticalStartDateTime (0018,1078)")
        return DosimetryInputs(time_points, administration, source, warnings)

    @staticmethod
    def administration_from_panel(is_set: bool, text: str) -> dt.datetime | None:
        """The administration time the panel holds: None unless the user ticked 'Set the
        administration time' (then the headers' time is used); the time entered otherwise."""
        if not is_set:
            return None
        text = (text or "").strip()
        if not text:
            raise InputError("'Set the administration time' is ticked but no time is entered", "dosimetry",
                             "administration time")
        try:
            return dt.datetime.strptime(text[:19], _ISO_SECONDS) if len(text) >= 19 else dt.datetime.fromisoformat(text)
        except ValueError:
            raise InputError(f"not a date and time: '{text}'", "dosimetry", "administration time") from None

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
                      name: str = "Dosimetry", progress=None, dosimetry_inputs: DosimetryInputs | None = None):
        """177Lu dosimetry of one cycle (see :func:`iahepaticprrt.study.dosimetry_run.run_dosimetry`); ``segmentation``
        is a file or a segmentation node. Returns (result, nodes): the dose volume node, results table,
        TAC and DVH charts. With ``dosimetry_inputs`` (from :meth:`dosimetry_inputs`) its warnings and
        how the time points, CTs and administration time were found go into the result."""
        from ..study.dosimetry_run import run_dosimetry
        from .dosimetry_nodes import dosimetry_nodes

        progress = progress or _no_progress
        if segmentation is None:
            raise InputError("choose the VOIs of the reference time point", "dosimetry", "VOIs")
        if hasattr(segmentation, "GetSegmentation"):
            segmentation = adapter.segmentation_from_node(segmentation)
        progress(0.0, "dosimetry: time points, registration, kinetics, dose")
        result = run_dosimetry(spect_sources, segmentation, options, labels_csv, ct_sources)
        if dosimetry_inputs is not None:
            result.report["warnings"].extend(dosimetry_inputs.warnings)
            result.report["provenance"]["panel_inputs"] = dosimetry_inputs.to_dict()
        progress(0.9, "dosimetry: result nodes")
        nodes = dosimetry_nodes(self.scene, result, name)
        progress(1.0, "dosimetry done")
        return result, nodes

    # ---- follow-up ---------------------------------------------------------------------------
    def compute_followup(self, manifest_path, dosimetry_result=None, name: str = "Follow-up", progress=None):
        """The follow-up of a manifest's ``followup`` section (:func:`iahepaticprrt.study.followup_run.run_followup`):
        lesions at every visit, RECIST 1.1 and volumetric response, PFS, dose-response. The lesions'
        doses: the manifest's own source, else ``dosimetry_result`` (the panel's dosimetry). Returns
        (result, nodes): the lesion-course and visit tables, the volume chart and the diameter lines."""
        from ..study.followup_run import run_followup
        from ..study.manifest import read_manifest
        from .followup_nodes import followup_nodes

        progress = progress or _no_progress
        if not manifest_path:
            raise InputError("choose the patient's manifest with a followup section", "follow-up", "manifest")
        manifest = read_manifest(manifest_path)
        if "followup" not in manifest.data:
            raise InputError("the manifest has no followup section", manifest.path, "followup")
        spec = manifest.data["followup"]
        own_doses = "dosimetry" in manifest.data or "lesion_doses_gy" in spec or "dosimetry_results" in spec
        report = dosimetry_result.report if (dosimetry_result is not None and not own_doses) else None
        result = run_followup(manifest.data, manifest.path, report, manifest.patient_id, progress)
        progress(0.95, "follow-up: tables, chart and diameter lines")
        nodes = followup_nodes(self.scene, result.report, name)
        progress(1.0, "follow-up done")
        return result, nodes

    def show_followup_scan(self, nodes, scan: str, load_image: bool = True):
        """Show one scan's diameter lines ("baseline" or a visit's name) and, with ``load_image``, its
        image as a volume node (loaded once, kept on ``nodes.images``). Returns (lines, volume node)."""
        from .followup_nodes import show_scan_lines

        lines = show_scan_lines(nodes, scan)
        volume_node = None
        if load_image:
            if scan not in nodes.images:
                nodes.images[scan] = self._load_scan(nodes.report, scan)
            volume_node = nodes.images[scan]
        return lines, volume_node

    def _load_scan(self, report: dict, scan: str):
        from ..io.image_input import read_image

        spec = report["baseline"] if scan == "baseline" else next(v for v in report["visits"] if v["name"] == scan)
        return adapter.volume_node_from_volume(self.scene, read_image(spec["series"]), f"Follow-up {scan}")

    # ---- report ------------------------------------------------------------------------------
    def export_report(self, output_folder, uptake_result: dict | None = None, dosimetry_result=None,
                      patient: dict | None = None, deidentify: bool = False, followup_result=None,
                      uptake_nodes=None) -> Path:
        """Write the HTML report, uptake and dosimetry JSON/CSV, the dose map, the follow-up and
        results.json; return the report's path. An unset folder (empty, or ``.``, what an untouched
        path parameter holds) is refused: the outputs never land in Slicer's working directory. With
        ``uptake_nodes`` (what :meth:`compare_uptake` returned) the report shows the lesions' PET images too."""
        from ..report.patient_images import patient_images
        from ..study.pipeline import write_patient_outputs

        if uptake_nodes is not None and uptake_result is None:
            uptake_result = uptake_nodes.result

        if uptake_result is None and dosimetry_result is None and followup_result is None:
            raise InputError("nothing to report: compute the uptake comparison, the dosimetry or the follow-up first",
                             "report")
        if output_folder is None or str(output_folder).strip() in ("", ".") or Path(output_folder) == Path("."):
            raise InputError("choose an output folder", "report", "output folder")
        images = patient_images(uptake_result, getattr(uptake_nodes, "suv", None),
                                getattr(uptake_nodes, "regions", None), dosimetry_result)
        results = write_patient_outputs(output_folder, uptake_result, dosimetry_result, patient or {}, deidentify,
                                        images=images, followup_result=followup_result)
        return Path(results["outputs"]["report"])

    # ---- VOI helpers -------------------------------------------------------------------------
    def add_healthy_liver(self, segmentation_node, margin_mm: float = HEALTHY_LIVER_MARGIN_MM,
                          name: str = "Healthy liver") -> dict:
        """Segment ``name``: the segment "Liver" minus every lesion segment (Lesion N, Extrahepatic
        lesion N) and every voxel within ``margin_mm`` of one (imaging.voi_helpers.healthy_liver),
        on the segmentation's own voxels. Returns what was done (volumes in mL)."""
        from ..imaging.voi_helpers import healthy_liver
        from ..imaging.voi_roles import role_of

        _check_segmentation_node(segmentation_node)
        segmentation = adapter.segmentation_from_node(segmentation_node)
        livers = [s for s in segmentation.segments if role_of(s.name).organ == "liver"]
        if not livers:
            raise InputError("no segment named 'Liver' to take the healthy liver from", segmentation_node.GetName(),
                             "segment name")
        lesions = [s for s in segmentation.segments if role_of(s.name).is_lesion]
        mask = healthy_liver(livers[0].mask, [s.mask for s in lesions], segmentation.grid, float(margin_mm))
        adapter.set_segment(segmentation_node, name, mask, segmentation.grid, (0.87, 0.67, 0.47))
        voxel_ml = segmentation.grid.voxel_volume_ml
        return {"segment": name, "liver_segment": livers[0].name, "lesions": [s.name for s in lesions],
                "margin_mm": float(margin_mm), "liver_volume_ml": livers[0].voxel_count * voxel_ml,
                "volume_ml": int(np.count_nonzero(mask)) * voxel_ml}

    def add_sphere(self, segmentation_node, points_node, diameter_mm: float = REFERENCE_SPHERE_DIAMETER_MM,
                   name: str = "Reference sphere", volume_node=None) -> dict:
        """Segment ``name``: the voxels whose centre lies within ``diameter_mm / 2`` of the last point
        of ``points_node`` (a markups point list), on the segmentation's voxel lattice (or, for an
        empty segmentation, on ``volume_node``'s)."""
        from ..imaging.voi_helpers import sphere_mask, sphere_volume_ml

        _check_segmentation_node(segmentation_node)
        if not (np.isfinite(diameter_mm) and diameter_mm > 0):
            raise InputError(f"the sphere diameter must be positive, got {diameter_mm} mm", "sphere", "diameter")
        centre = last_point_lps(points_node)
        radius = diameter_mm / 2.0
        corners = centre + radius * np.array([[a, b, c] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)])
        grid = self._grid_for_new_segment(segmentation_node, volume_node, corners)
        mask = sphere_mask(grid, centre, diameter_mm)
        if not mask.any():
            raise InputError("the sphere holds no voxel centre (too small for the voxels?)", "sphere", "diameter")
        adapter.set_segment(segmentation_node, name, mask, grid)
        return {"segment": name, "centre_lps_mm": [float(v) for v in centre], "diameter_mm": float(diameter_mm),
                "volume_ml": int(np.count_nonzero(mask)) * grid.voxel_volume_ml,
                "exact_sphere_volume_ml": sphere_volume_ml(diameter_mm)}

    def add_isocontour(self, segmentation_node, volume_node, points_node, percent: float = ISOCONTOUR_PERCENT,
                       search_diameter_mm: float = ISOCONTOUR_SEARCH_DIAMETER_MM, name: str = "Lesion") -> dict:
        """Segment ``name``: the voxels of ``volume_node`` at or above ``percent`` % of the maximum
        inside a sphere of ``search_diameter_mm`` around the last point of ``points_node``, the
        26-connected part holding the maximum (imaging.voi_helpers.isocontour_in_sphere). The contour
        must contain the clicked point; otherwise the maximum belongs to another structure and
        nothing is written."""
        from ..imaging.segmentation import resample_mask
        from ..imaging.voi_helpers import isocontour_in_sphere

        _check_segmentation_node(segmentation_node)
        if volume_node is None:
            raise InputError("choose the image to contour (PET or SPECT)", "isocontour", "volume")
        if not (np.isfinite(search_diameter_mm) and search_diameter_mm > 0):
            raise InputError(f"the search diameter must be positive, got {search_diameter_mm} mm", "isocontour",
                             "search diameter")
        volume = adapter.volume_from_node(volume_node)
        point = last_point_lps(points_node)
        voi = isocontour_in_sphere(volume, point, search_diameter_mm, percent)
        index = np.round(volume.grid.lps_to_index(point[np.newaxis])[0]).astype(int)  # (i, j, k)
        inside = np.all(index >= 0) and np.all(index < np.array(volume.grid.size_ijk))
        if not inside or not voi.mask[index[2], index[1], index[0]]:
            raise InputError(f"the {percent:g} % isocontour of the maximum within {search_diameter_mm:g} mm does not "
                             "contain the clicked point: that maximum belongs to another structure; click nearer the "
                             "lesion's centre or reduce the search diameter", volume_node.GetName(), "point")
        kji = np.argwhere(voi.mask)
        corners = volume.grid.index_to_lps(np.stack([kji.min(axis=0)[::-1] - 1, kji.max(axis=0)[::-1] + 1]).astype(float))
        grid = self._grid_for_new_segment(segmentation_node, volume_node, corners)
        mask = voi.mask if grid.is_same(volume.grid) else resample_mask(voi.mask, volume.grid, grid, "nearest")
        adapter.set_segment(segmentation_node, name, mask, grid)
        return {"segment": name, "image": volume_node.GetName(), "percent": float(percent),
                "search_diameter_mm": float(search_diameter_mm), "max_value": voi.max_value,
                "threshold_value": voi.threshold_value, "unit": volume.unit,
                "image_volume_ml": voi.volume_ml, "volume_ml": int(np.count_nonzero(mask)) * grid.voxel_volume_ml}

    def _grid_for_new_segment(self, segmentation_node, volume_node, corners_lps_mm):
        """The grid a new segment covering ``corners_lps_mm`` is voxelised on: the segmentation's
        lattice when it holds voxels (see adapter.segmentation_lattice), else the image's."""
        lattice = adapter.segmentation_lattice(segmentation_node)
        if lattice is None:
            if volume_node is None:
                raise InputError("the segmentation is empty: choose the image whose voxels the VOI takes",
                                 segmentation_node.GetName(), "volume")
            volume_grid = adapter.volume_from_node(volume_node).grid
            lattice = volume_grid.ijk_to_ras()
        return adapter.lattice_grid_covering(lattice, corners_lps_mm)


# ---- helpers ------------------------------------------------------------------------------------
def _header_administration(headers: list[_Header], strict: bool = True) -> tuple[dt.datetime | None, str]:
    """The one administration time the headers give (or None), and a description of a
    contradiction between them: an error when ``strict``, else returned for a warning."""
    given = [h for h in headers if h.administration is not None]
    if not given:
        return None, ""
    first = given[0]
    for other in given[1:]:
        if abs((other.administration - first.administration).total_seconds()) > ADMINISTRATION_TOLERANCE_S:
            message = (f"RadiopharmaceuticalStartDateTime {other.administration.isoformat()} differs from "
                       f"{first.administration.isoformat()} in {first.source}: time points of different administrations?")
            if strict:
                raise InputError(f"{message} Tick 'Set the administration time' and enter it", other.source,
                                 "RadiopharmaceuticalStartDateTime (0018,1078)")
            return None, f"{other.source}: {message}"
    return first.administration, ""


def _pair_cts(spects: list[_Header], cts: list[_Header]) -> list[tuple[_Header, str]]:
    """One CT for each SPECT (in the SPECTs' order): same FrameOfReferenceUID first, then same
    StudyInstanceUID, then nearest acquisition time, each pass among the CTs still unpaired; among
    several candidates of a rule the nearest in time."""
    paired: list[tuple[_Header, str] | None] = [None] * len(spects)
    unused = list(cts)
    rules = (("FrameOfReferenceUID", lambda s, c: bool(c.frame_of_reference_uid)
              and c.frame_of_reference_uid == s.frame_of_reference_uid),
             ("StudyInstanceUID", lambda s, c: bool(c.study_instance_uid) and c.study_instance_uid == s.study_instance_uid),
             ("nearest acquisition time", lambda s, c: True))
    for rule, matches in rules:
        for index, spect in enumerate(spects):
            if paired[index] is not None:
                continue
            candidates = [c for c in unused if matches(spect, c)]
            if not candidates:
                continue
            timed = [c for c in candidates if c.acquisition is not None]
            if len(candidates) > 1 and not timed:
                raise InputError(f"{len(candidates)} CTs could be the CT of this SPECT and none has an acquisition "
                                 "time to choose by", spect.source, "CT of each time point")
            chosen = min(timed, key=lambda c: abs((c.acquisition - spect.acquisition).total_seconds())) \
                if timed else candidates[0]
            unused.remove(chosen)
            paired[index] = (chosen, rule if len(candidates) == 1 or rule.startswith("nearest")
                             else f"{rule}, nearest acquisition time of {len(candidates)}")
    return paired  # every SPECT got one: as many CTs as SPECTs, and the last rule takes any CT


def _check_segmentation_node(node) -> None:
    if node is None:
        raise InputError("choose the segmentation the VOI goes into", "VOI helpers", "segmentation")


def last_point_lps(points_node) -> np.ndarray:
    """The last placed point of a markups point list, in world LPS mm (parent transforms applied)."""
    if points_node is None:
        raise InputError("place a point first (markups point list)", "VOI helpers", "point")
    for index in range(points_node.GetNumberOfControlPoints() - 1, -1, -1):
        if points_node.GetNthControlPointPositionStatus(index) != points_node.PositionDefined:
            continue
        ras = [0.0, 0.0, 0.0]
        points_node.GetNthControlPointPositionWorld(index, ras)
        return np.array([-ras[0], -ras[1], ras[2]], dtype=float)
    raise InputError("the point list has no placed point", points_node.GetName(), "point")


def segmentation_name(path: str | os.PathLike) -> str:
    name = Path(path).name
    for suffix in (".seg.nrrd", ".nii.gz", ".nrrd", ".nii"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name
