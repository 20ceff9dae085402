"""DICOM results of one analysis for PACS (``--dicom-out DIR``, or ``"report": {"dicom": true}`` in
a manifest): built in memory first, then each file written atomically.

- ``uptake_ia_seg.dcm``, ``uptake_iv_seg.dcm``: each PET's VOIs as DICOM SEG (on the segmentation's
  own grid), referencing that PET series;
- ``dosimetry_rtdose.dcm``: the dose map as RT Dose on the reference SPECT's frame of reference;
- ``dosimetry_seg.dcm``: the dosimetry VOIs as DICOM SEG referencing the reference SPECT;
- ``measurements_sr.dcm``: one TID 1500 measurement report with every VOI's measurements (SUVmax,
  SUVpeak, SUVmean, volume and enhancement ratio per PET; volume, TIA, residence time, mean
  absorbed dose on the SPECT), each group referencing its segment in the SEG above. The numbers
  are those of the result dictionaries (results.json).

UIDs derive from the patient ID and the source series, so a run repeated on the same inputs gives
the same objects.
"""

from __future__ import annotations

import os
from pathlib import Path


def _renamed(segmentation, names: list[str]):
    """The segmentation with its segments renamed as in the results (name mapping applied)."""
    from ..imaging.segmentation import Segment, Segmentation

    out = Segmentation(segmentation.grid, source=segmentation.source)
    out.segments = [Segment(name, s.mask, s.color) for name, s in zip(names, segmentation.segments)]
    return out


def build_dicom_results(patient_id: str, uptake: dict | None = None, dosimetry: dict | None = None) -> dict:
    """{file name: dataset} of the DICOM results.

    ``uptake``: {"result": uptake dict, "suv": {route: SuvResult}, "segmentations": {route: path},
    "labels": {route: csv}, "mapping": path or None}. ``dosimetry``: {"result": DosimetryResult,
    "spect": [sources], "reference_index": int, "segmentation": path or Segmentation, "labels": csv}."""
    from ..io import dicom_results as R
    from ..io.segmentation_files import read_segmentation

    R.require_highdicom()
    objects, segs, sources = {}, {}, {}
    uptake_result = dosimetry_report = None
    if uptake is not None:
        from .voi_regions import uptake_regions

        uptake_result = uptake["result"]
        # The regions the statistics were measured on (healthy liver with its margin, reference sphere).
        regions = uptake.get("regions") or uptake_regions(uptake_result, uptake["suv"], uptake["segmentations"],
                                                          uptake.get("labels"), uptake.get("mapping"))
        for route in ("ia", "iv"):
            suv = uptake["suv"][route]
            headers = suv.series.datasets
            segmentation = regions[route]
            key = f"{patient_id}|uptake|{route}|{headers[0].SeriesInstanceUID}"
            seg = R.write_seg(segmentation, None, headers, key, f"VOIs on the {route.upper()} PET")
            objects[f"uptake_{route}_seg.dcm"] = seg
            segs[route], sources[route] = seg, headers
    if dosimetry is not None:
        result = dosimetry["result"]
        dosimetry_report = result.report
        reference = dosimetry["spect"][dosimetry.get("reference_index", 0)]
        headers = R.source_headers(reference)
        key = f"{patient_id}|dosimetry|{headers[0].SeriesInstanceUID}"
        objects["dosimetry_rtdose.dcm"] = R.write_rt_dose(result.dose, None, headers, key)
        segmentation = result.segmentation or dosimetry["segmentation"]
        if not hasattr(segmentation, "segments"):
            from types import SimpleNamespace

            # The dose map is on the reference SPECT's grid: the image an RTSTRUCT is rasterised for.
            reference_image = SimpleNamespace(grid=result.dose.grid, metadata={
                "frame_of_reference_uid": str(headers[0].get("FrameOfReferenceUID", "") or "")})
            segmentation = read_segmentation(segmentation, dosimetry.get("labels"), reference_image)
        seg = R.write_seg(segmentation, None, headers, key, "VOIs on the reference SPECT")
        objects["dosimetry_seg.dcm"] = seg
        segs["spect"], sources["spect"] = seg, headers
    groups = R.measurement_groups(uptake_result, dosimetry_report)
    suv_type = (uptake_result or {}).get("suv_type", "bw")
    objects["measurements_sr.dcm"] = R.write_measurement_report(groups, None, segs, sources,
                                                                f"{patient_id}|sr|{sorted(objects)}", suv_type)
    return objects


def write_dicom_results(folder: str | os.PathLike, objects: dict) -> list[str]:
    """Write the built objects into ``folder``, each atomically; return the paths."""
    from ..io.dicom_writer import save_dataset
    from ..io.output_files import atomic_path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, ds in objects.items():
        with atomic_path(folder / name) as tmp:
            save_dataset(ds, tmp)
        paths.append(str(folder / name))
    return paths
