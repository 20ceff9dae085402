"""The regions each PET's statistics were measured on, read again for the outputs that draw or encode
them (the report's images, the DICOM SEG): the segmentation under the results' VOI names (name mapping
applied), with the healthy liver away from the lesions and the liver reference sphere as the
comparison built them (:func:`iahepaticprrt.uptake.comparison.measured_regions`)."""

from __future__ import annotations


def uptake_regions(uptake_result: dict, suv: dict, segmentation_paths: dict, labels: dict | None = None,
                   mapping_path=None) -> dict:
    """{route: Segmentation} of the measured regions of the intra-arterial and intravenous PET.

    ``suv`` maps a route to its :class:`~iahepaticprrt.uptake.suv.SuvResult` (the PET an RTSTRUCT is
    rasterised for); ``segmentation_paths`` and ``labels`` map a route to the files of the run."""
    from ..imaging.voi_roles import apply_mapping
    from ..io.segmentation_files import read_name_mapping, read_segmentation
    from ..uptake.comparison import measured_regions, parameters_of

    mapping = read_name_mapping(mapping_path) if mapping_path else None
    parameters = parameters_of(uptake_result)
    regions = {}
    for route in ("ia", "iv"):
        segmentation = read_segmentation(segmentation_paths[route], (labels or {}).get(route), suv[route].volume)
        regions[route], _, _ = measured_regions(segmentation, apply_mapping(segmentation.names, mapping), parameters,
                                                route)
    return regions
