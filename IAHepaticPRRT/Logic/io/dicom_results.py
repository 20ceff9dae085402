"""Results as DICOM objects for PACS: the dose map as RT Dose, the VOIs as DICOM SEG, the per-VOI
measurements as a DICOM SR measurement report (TID 1500, as 3D Slicer's QuantitativeReporting
writes), each referencing the series it was computed on.

- RT Dose (:func:`write_rt_dose`) is written with pydicom (PS3.3 A.18): 32-bit unsigned doses
  with DoseGridScaling (Gy per stored unit), frames along the reference image's slice normal
  (GridFrameOffsetVector), the reference image's Frame of Reference, patient and study, and a
  SourceImageSequence naming the image it was computed on.
- SEG (:func:`write_seg`) and SR (:func:`write_measurement_report`) need highdicom, an optional
  extra (``pip install 'iahepaticprrt[dicom]'``; inside Slicer it is installed on demand). Without
  it the error says so and nothing is written.

UIDs derive from a caller-given key (:func:`iahepaticprrt.io.dicom_writer.deterministic_uid`), so
the same inputs give the same objects. Numbers in the SR are the result dictionaries' own (the
numbers of results.json), never recomputed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..imaging.segmentation import Segmentation
from ..imaging.volume import Volume
from ..version import __version__

RT_DOSE_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.481.2"
#: Private coding scheme for the quantities DICOM has no code for (PS3.16 8.2: "99" prefix).
PRIVATE_SCHEME = "99IAHPRRT"
MANUFACTURER = "IAHepaticPRRT"
#: Patient and study attributes copied from the source image into every result object.
PATIENT_STUDY_KEYWORDS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID",
                          "StudyDate", "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName")


def require_highdicom():
    try:
        import highdicom
    except ImportError:
        raise InputError("writing DICOM SEG and SR needs the optional package highdicom: "
                         "pip install 'iahepaticprrt[dicom]' (inside Slicer: it is installed on demand)",
                         "--dicom-out", "highdicom") from None
    return highdicom


def source_headers(source: str | os.PathLike, series_uid: str | None = None) -> list:
    """The headers (no pixel data) of the image a result was computed on: an NM file, or the files
    of the one image series in a folder (sorted as the reader sorts them)."""
    from .dicom_decode import read_dataset
    from .dicom_series import _dcmread, select_series, slice_layout

    path = Path(source)
    if path.is_file():
        ds = read_dataset(path, stop_before_pixels=True)
        if ds is None:
            raise InputError("not a DICOM file: a DICOM result needs the DICOM image it refers to", path)
        return [ds]
    summary = select_series(path, series_uid)
    headers = [_dcmread(p, stop_before_pixels=True) for p in summary.files]
    if summary.number_of_frames > 1 or len(headers) == 1:
        return headers
    _, order, _ = slice_layout(headers, summary.files)
    return [headers[i] for i in order]


def _copy_patient_study(target, source) -> None:
    for keyword in PATIENT_STUDY_KEYWORDS:
        value = source.get(keyword)
        setattr(target, keyword, value if value is not None else "")


def _save(ds, path):
    from .dicom_writer import save_dataset

    if path is None:
        return ds
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_dataset(ds, path)
    return path


# ---- RT Dose -------------------------------------------------------------------------------------
def write_rt_dose(dose: Volume, path: str | os.PathLike | None, source: list, uid_key: str,
                  series_description: str = "Absorbed dose (177Lu)"):
    """The dose map (Gy, on the reference SPECT's grid) as an RT Dose object, written to ``path``
    (returned), or returned as a dataset when ``path`` is None."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    from .dicom_writer import _ds_number, deterministic_uid, new_dataset

    if dose.unit not in ("Gy", ""):
        raise ValueError(f"an RT Dose holds Gy, got '{dose.unit}'")
    values = np.asarray(dose.array, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError("dose values must be finite")
    # RT Dose stores unsigned values. Negative doses (noise of count-based activity, round-off of
    # the FFT convolution) are written as 0 and counted in DoseComment; the NRRD keeps them.
    negative = values < 0
    comment = "177Lu absorbed dose from SPECT/CT dosimetry (IAHepaticPRRT)"
    if negative.any():
        comment += f"; {int(negative.sum())} voxels below 0 Gy (min {values.min():.3g} Gy) written as 0"
        values = np.where(negative, 0.0, values)
    ds_comment = "177Lu absorbed dose (SPECT/CT), IAHepaticPRRT"
    grid = dose.grid
    normal = np.cross(grid.direction[:, 0], grid.direction[:, 1])
    if not np.allclose(normal, grid.direction[:, 2], atol=1e-6):
        raise ValueError("RT Dose frames must run along the normal of the rows and columns")
    reference = source[0]
    ds = new_dataset(RT_DOSE_SOP_CLASS_UID, deterministic_uid(uid_key, "rtdose instance"))
    _copy_patient_study(ds, reference)
    ds.Modality = "RTDOSE"
    ds.SeriesInstanceUID = deterministic_uid(uid_key, "rtdose series")
    ds.SeriesNumber = 910
    ds.OperatorsName = ""  # Type 2 (RT Series module)
    ds.SeriesDescription = series_description
    ds.InstanceNumber = 1
    ds.Manufacturer = MANUFACTURER
    ds.SoftwareVersions = __version__
    ds.FrameOfReferenceUID = str(reference.get("FrameOfReferenceUID", "") or "")
    ds.PositionReferenceIndicator = ""
    ds.ContentDate = reference.get("StudyDate", "") or ""
    ds.ContentTime = reference.get("StudyTime", "") or ""
    ds.ImagePositionPatient = [_ds_number(v) for v in grid.origin_lps_mm]
    ds.ImageOrientationPatient = [_ds_number(v) for v in (*grid.direction[:, 0], *grid.direction[:, 1])]
    ds.PixelSpacing = [_ds_number(grid.spacing_mm[1]), _ds_number(grid.spacing_mm[0])]
    ds.SliceThickness = _ds_number(grid.spacing_mm[2])
    ds.NumberOfFrames = grid.shape_kji[0]
    ds.FrameIncrementPointer = 0x3004000C  # GridFrameOffsetVector
    ds.GridFrameOffsetVector = [_ds_number(k * grid.spacing_mm[2]) for k in range(grid.shape_kji[0])]
    ds.Rows, ds.Columns = grid.shape_kji[1], grid.shape_kji[2]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 32
    ds.HighBit = 31
    ds.PixelRepresentation = 0
    peak = float(values.max())
    # Gy per stored unit: the largest dose uses the full 32-bit range (relative resolution 2.3e-10).
    scaling = float(_ds_number(peak / 4294967295.0)) if peak > 0 else 1.0
    stored = np.round(values / scaling)
    if stored.max() > 4294967295.0:  # the DS rounding of the scaling went down: one step more
        scaling = float(_ds_number(scaling * (1.0 + 1e-12)))
        stored = np.round(values / scaling)
    ds.DoseGridScaling = _ds_number(scaling)
    ds.DoseUnits = "GY"
    ds.DoseType = "PHYSICAL"
    ds.DoseComment = ds_comment  # LO: 64 characters at most
    ds.ImageComments = comment  # LT (General Image module): the full account
    ds.DoseSummationType = "RECORD"
    ds.TissueHeterogeneityCorrection = ["IMAGE"]
    item = Dataset()
    item.ReferencedSOPClassUID = reference.SOPClassUID
    item.ReferencedSOPInstanceUID = reference.SOPInstanceUID
    ds.SourceImageSequence = Sequence([item])
    series = Dataset()
    series.SeriesInstanceUID = reference.SeriesInstanceUID
    series.ReferencedInstanceSequence = Sequence([item])
    ds.ReferencedSeriesSequence = Sequence([series])
    ds.PixelData = stored.astype("<u4").tobytes()
    ds["PixelData"].VR = "OW"
    return _save(ds, path)


def read_rt_dose(path: str | os.PathLike) -> Volume:
    """An RT Dose file back into a volume in Gy (for checks and tests)."""
    import pydicom

    from ..imaging.grid import Grid

    ds = pydicom.dcmread(str(path))
    orientation = np.array(ds.ImageOrientationPatient, dtype=float)
    offsets = np.array(ds.GridFrameOffsetVector, dtype=float)
    spacing_k = float(offsets[1] - offsets[0]) if len(offsets) > 1 else float(ds.SliceThickness)
    grid = Grid((int(ds.NumberOfFrames), int(ds.Rows), int(ds.Columns)),
                (float(ds.PixelSpacing[1]), float(ds.PixelSpacing[0]), spacing_k),
                tuple(float(v) for v in ds.ImagePositionPatient),
                np.column_stack([orientation[:3], orientation[3:], np.cross(orientation[:3], orientation[3:])]))
    values = ds.pixel_array.reshape(grid.shape_kji).astype(np.float64) * float(ds.DoseGridScaling)
    return Volume(values, grid, "Gy", {"sop_instance_uid": str(ds.SOPInstanceUID)})


# ---- SEG ---------------------------------------------------------------------------------------------
def write_seg(segmentation: Segmentation, path: str | os.PathLike | None, source: list, uid_key: str,
              series_description: str = "VOIs"):
    """The segments as a binary DICOM SEG on the segmentation's own grid, referencing ``source``
    (the headers of the image series the VOIs were used on); a dataset when ``path`` is None."""
    hd = require_highdicom()
    from pydicom.sr.codedict import codes

    from .dicom_writer import deterministic_uid

    grid = segmentation.grid
    if not segmentation.segments:
        raise ValueError("no segment to write")
    descriptions = []
    for number, segment in enumerate(segmentation.segments, start=1):
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=segment.name,
            segmented_property_category=codes.SCT.Tissue, segmented_property_type=codes.SCT.Tissue,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL))
    masks = np.stack([s.mask for s in segmentation.segments], axis=-1).astype(np.uint8)
    row_dir, col_dir = grid.direction[:, 0], grid.direction[:, 1]
    positions = [hd.PlanePositionSequence("PATIENT", tuple(float(v) for v in grid.index_to_lps((0.0, 0.0, float(k)))))
                 for k in range(grid.shape_kji[0])]
    if len(source) == 1 and int(source[0].get("NumberOfFrames", 1) or 1) > 1:
        # An NM multi-frame SPECT: highdicom derives geometry from enhanced multi-frame images only;
        # the SEG carries its own geometry (below), so the source is referenced through a copy
        # read as one single-frame image with the NM geometry (UIDs, patient and study unchanged).
        from pydicom.dataset import Dataset

        proxy = Dataset()
        for element in source[0]:
            if element.keyword not in ("NumberOfFrames", "FrameIncrementPointer", "SliceVector",
                                       "DetectorInformationSequence"):
                proxy.add(element)
        detector = (source[0].get("DetectorInformationSequence") or [None])[0]
        if detector is not None:  # NM keeps its geometry here (PS3.3 C.8.4.11): the patient coordinate system
            proxy.ImageOrientationPatient = detector.ImageOrientationPatient
            proxy.ImagePositionPatient = detector.ImagePositionPatient
        shared = Dataset()  # what highdicom reads from a multi-frame source (NM has no functional groups)
        shared.PixelMeasuresSequence = [hd.PixelMeasuresSequence(
            pixel_spacing=[float(v) for v in source[0].PixelSpacing],
            slice_thickness=float(source[0].get("SliceThickness", grid.spacing_mm[2]) or grid.spacing_mm[2]))[0]]
        if detector is not None:
            shared.PlaneOrientationSequence = [hd.PlaneOrientationSequence(
                "PATIENT", [float(v) for v in detector.ImageOrientationPatient])[0]]
        proxy.SharedFunctionalGroupsSequence = [shared]
        proxy.NumberOfFrames = int(source[0].NumberOfFrames)
        if detector is not None:
            iop = np.array(detector.ImageOrientationPatient, dtype=float)
            step = float(source[0].get("SpacingBetweenSlices", 0) or 0) * np.cross(iop[:3], iop[3:])
            frames = []
            for n in range(proxy.NumberOfFrames):
                item = Dataset()
                position = np.array(detector.ImagePositionPatient, dtype=float) + n * step
                item.PlanePositionSequence = [hd.PlanePositionSequence("PATIENT", [float(v) for v in position])[0]]
                frames.append(item)
            proxy.PerFrameFunctionalGroupsSequence = frames
        proxy.file_meta = source[0].file_meta
        source = [proxy]
    seg = hd.seg.Segmentation(
        source_images=source, pixel_array=masks, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=deterministic_uid(uid_key, "seg series"),
        series_number=911, sop_instance_uid=deterministic_uid(uid_key, "seg instance"), instance_number=1,
        manufacturer=MANUFACTURER, manufacturer_model_name="IAHepaticPRRT", software_versions=__version__,
        device_serial_number="none", content_label="VOIS", content_description=series_description[:64],
        pixel_measures=hd.PixelMeasuresSequence(pixel_spacing=(grid.spacing_mm[1], grid.spacing_mm[0]),
                                                slice_thickness=grid.spacing_mm[2],
                                                spacing_between_slices=grid.spacing_mm[2]),
        plane_orientation=hd.PlaneOrientationSequence("PATIENT", tuple(float(v) for v in (*row_dir, *col_dir))),
        plane_positions=positions, omit_empty_frames=True)
    seg.SeriesDescription = series_description
    return _save(seg, path)


# ---- SR (TID 1500) -----------------------------------------------------------------------------------
def _code(value: str, meaning: str, scheme: str = PRIVATE_SCHEME):
    from pydicom.sr.coding import Code

    return Code(value, scheme, meaning)


def _units(unit: str):
    from pydicom.sr.coding import Code

    meanings = {"g/ml{SUVbw}": "Standardized Uptake Value body weight", "ml": "milliliter", "Gy": "gray",
                "MBq.h": "megabecquerel hour", "h": "hour", "{ratio}": "ratio", "g/ml{SUV}": "Standardized Uptake Value"}
    return Code(unit, "UCUM", meanings.get(unit, unit))


#: What the SR's measurements are called (concept name, derivation) and their UCUM units, by key of
#: the result dictionaries.
def measurement_concepts(suv_type: str = "bw") -> dict:
    from pydicom.sr.codedict import codes

    suv = _code("126400", "Standardized Uptake Value", "DCM")
    unit = "g/ml{SUVbw}" if suv_type == "bw" else "g/ml{SUV}"
    return {
        "suv_max": (suv, codes.SCT.Maximum, unit),
        "suv_peak": (suv, codes.DCM.PeakValueWithinROI, unit),
        "suv_mean": (suv, codes.SCT.Mean, unit),
        "volume_ml": (codes.SCT.Volume, None, "ml"),
        "enhancement_ratio": (_code("ER-IA-IV", "Enhancement ratio intra-arterial/intravenous"), None, "{ratio}"),
        "tia_mbqh": (_code("TIA", "Time-integrated activity"), None, "MBq.h"),
        "residence_time_h": (_code("RT-TIAC", "Residence time (time-integrated activity coefficient)"), None, "h"),
        "absorbed_dose_gy": (codes.DCM.AbsorbedDose, codes.SCT.Mean, "Gy"),
    }


def measurement_groups(uptake: dict | None, dosimetry: dict | None) -> list[dict]:
    """The SR's measurement groups as plain data: one per VOI and scan, each with the result
    dictionaries' own values ({"group", "segment", "source": "ia"|"iv"|"spect", "values": {key: value}})."""
    groups = []
    for voi in (uptake or {}).get("vois", []):
        for route in ("ia", "iv"):
            stats = voi.get(route) or {}
            values = {key: stats.get(key) for key in ("suv_max", "suv_peak", "suv_mean", "volume_ml")}
            if route == "ia" and voi.get("enhancement_ratio") is not None:
                values["enhancement_ratio"] = voi["enhancement_ratio"]
            values = {k: float(v) for k, v in values.items() if v is not None}
            if values:
                groups.append({"group": f"{voi['name']} ({route.upper()} PET)", "segment": voi["name"],
                               "source": route, "values": values})
    for voi in (dosimetry or {}).get("vois", []):
        values = {key: voi.get(key) for key in ("volume_ml", "tia_mbqh", "residence_time_h", "absorbed_dose_gy")}
        values = {k: float(v) for k, v in values.items() if v is not None}
        if values:
            groups.append({"group": f"{voi['name']} (177Lu SPECT)", "segment": voi["name"], "source": "spect",
                           "values": values})
    return groups


def write_measurement_report(groups: list[dict], path: str | os.PathLike | None, segs: dict, sources: dict,
                             uid_key: str, suv_type: str = "bw"):
    """A TID 1500 measurement report: one volumetric ROI group per entry of ``groups``
    (:func:`measurement_groups`), its segment referenced in the SEG of its source
    (``segs[source]``: the SEG dataset; ``sources[source]``: the image headers)."""
    hd = require_highdicom()
    from pydicom.sr.codedict import codes

    from .dicom_writer import deterministic_uid

    concepts = measurement_concepts(suv_type)
    observer = hd.sr.ObserverContext(observer_type=codes.cid270.Device,
                                     observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                                         uid=deterministic_uid("IAHepaticPRRT device"), name="IAHepaticPRRT",
                                         manufacturer_name=MANUFACTURER, model_name=__version__))
    context = hd.sr.ObservationContext(observer_device_context=observer)
    algorithm = hd.sr.AlgorithmIdentification(name="IAHepaticPRRT", version=__version__)
    items = []
    for index, group in enumerate(groups, start=1):
        seg = segs[group["source"]]
        numbers = {str(item.SegmentLabel): int(item.SegmentNumber) for item in seg.SegmentSequence}
        if group["segment"] not in numbers:
            continue
        image = sources[group["source"]][0]
        referenced = hd.sr.ReferencedSegment(
            sop_class_uid=seg.SOPClassUID, sop_instance_uid=seg.SOPInstanceUID,
            segment_number=numbers[group["segment"]],
            source_series=hd.sr.SourceSeriesForSegmentation(image.SeriesInstanceUID))
        measurements = []
        for key, value in group["values"].items():
            name, derivation, unit = concepts[key]
            measurements.append(hd.sr.Measurement(name=name, value=value, unit=_units(unit), derivation=derivation,
                                                  algorithm_id=algorithm))
        items.append(hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=deterministic_uid(uid_key, "tracking", index),
                                                         identifier=group["group"]),
            referenced_segment=referenced, finding_type=codes.SCT.Tissue, measurements=measurements))
    report = hd.sr.MeasurementReport(observation_context=context,
                                     procedure_reported=_code("IAHPRRT-PRRT", "Peptide receptor radionuclide therapy "
                                                                              "uptake and dosimetry"),
                                     imaging_measurements=items)
    evidence = list(segs.values()) + [headers[0] for headers in sources.values()]
    sr = hd.sr.Comprehensive3DSR(evidence=evidence, content=report,
                                 series_instance_uid=deterministic_uid(uid_key, "sr series"), series_number=912,
                                 sop_instance_uid=deterministic_uid(uid_key, "sr instance"), instance_number=1,
                                 manufacturer=MANUFACTURER, is_complete=True, is_final=False)
    sr.SeriesDescription = "IAHepaticPRRT measurements"
    from pydicom.dataset import Dataset

    scheme = Dataset()  # the private coding scheme declared (PS3.3 C.12.1.1.2)
    scheme.CodingSchemeDesignator = PRIVATE_SCHEME
    scheme.CodingSchemeName = "IAHepaticPRRT quantities"
    scheme.CodingSchemeResponsibleOrganization = "IAHepaticPRRT project"
    sr.CodingSchemeIdentificationSequence = [scheme]
    return _save(sr, path)


def read_measurement_report(path: str | os.PathLike) -> dict[str, dict[str, float]]:
    """{group (tracking identifier): {concept meaning [/ derivation]: value}} of a TID 1500 SR."""
    import pydicom

    ds = pydicom.dcmread(str(path))
    out: dict[str, dict[str, float]] = {}

    def walk(items, group=None):
        for item in items:
            name = item.ConceptNameCodeSequence[0].CodeMeaning if "ConceptNameCodeSequence" in item else ""
            if item.get("ValueType") == "TEXT" and name == "Tracking Identifier":
                group = str(item.TextValue)
                out.setdefault(group, {})
            if item.get("ValueType") == "NUM" and group is not None:
                value = item.MeasuredValueSequence[0]
                number = float(value.get("FloatingPointValue", value.NumericValue))
                derivation = ""
                for child in item.get("ContentSequence", []):
                    if child.ConceptNameCodeSequence[0].CodeMeaning == "Derivation":
                        derivation = child.ConceptCodeSequence[0].CodeMeaning
                out[group][name + (f" / {derivation}" if derivation else "")] = number
            if "ContentSequence" in item:
                # Each measurement group starts its own tracking identifier.
                walk(item.ContentSequence, group if item.get("ValueType") != "CONTAINER" else None)

    walk(ds.ContentSequence)
    return {k: v for k, v in out.items() if v}
