"""The IA versus IV uptake comparison in a scene: SUV volume nodes, a results table and a bar chart.

The numbers come from :func:`iahepaticprrt.uptake.comparison.compare_routes`, the function the ``iahprrt
uptake`` command calls, on the same inputs: SUV from each PET's DICOM folder (a volume node has no
DICOM headers), and segments read from segmentation nodes on their own stored lattice (no
resampling here: the partial-voxel weights are computed from them exactly as from a .seg.nrrd).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..uptake.comparison import COLUMNS, ROUTES, UptakeParameters, calibrate_routes, compare_routes, table_rows
from ..uptake.suv import SuvOverrides, suv_from_folder
from . import adapter

ROUTE_COLOURS = {"ia": (0.85, 0.33, 0.10), "iv": (0.00, 0.45, 0.74)}
ROUTE_LABELS = {"ia": "intra-arterial", "iv": "intravenous"}


@dataclass
class UptakeNodes:
    """What the comparison put in the scene, and the uptake.json content."""

    result: dict
    table_node: object
    chart_node: object
    suv_volume_nodes: dict = field(default_factory=dict)
    suv: dict = field(default_factory=dict)          # route -> SuvResult (the report's images)
    regions: dict = field(default_factory=dict)      # route -> Segmentation the statistics were measured on


def _column_unit(unit: str, suv_unit: str) -> str:
    return unit.replace("{suv}", suv_unit)


def uptake_table_node(scene, result: dict, name: str = "Uptake IA vs IV", node=None):
    """A table node: one row per VOI, typed columns with units and descriptions (uptake.COLUMNS)."""
    columns = [adapter.Column(c_name, value_type, _column_unit(unit, result["suv_unit"]), description)
               for c_name, value_type, unit, description in COLUMNS]
    node = adapter.table_node_from_rows(scene, name, columns, table_rows(result), node)
    # The patient-level figures (the same numbers as uptake.json's top level) travel with the table.
    for key in ("mean_enhancement_ratio", "eligible", "mean_enhancement_ratio_ci_low", "mean_enhancement_ratio_ci_high",
                "probability_mean_at_least_threshold", "borderline", "mean_enhancement_ratio_suv_max",
                "mean_enhancement_ratio_suv_peak"):
        node.SetAttribute(f"IAHepaticPRRT.{key}", str(result.get(key)))
    node.SetAttribute("IAHepaticPRRT.healthy_liver_margin_mm",
                      str((result.get("reference_regions") or {}).get("healthy_liver_margin_mm")))
    return node


def verdict_text(result: dict) -> str:
    """The eligibility verdict in plain words for the panel, with how sure it is (the same numbers as
    uptake.json: the mean ratio, its interval from the scans' noise, the probability of reaching the
    threshold, the borderline flag)."""
    if result.get("eligible") is None:
        return "No enhancement ratio: no target lesion measured on both scans."
    verdict = "ELIGIBLE" if result["eligible"] else "NOT eligible"
    text = (f"{verdict} for the intra-arterial 177Lu cycle: mean enhancement ratio "
            f"{result['mean_enhancement_ratio']:.2f} (threshold {result['threshold']:g}).")
    low, high = result.get("mean_enhancement_ratio_ci_low"), result.get("mean_enhancement_ratio_ci_high")
    if low is not None and high is not None:
        confidence = 100 * ((result.get("uncertainty") or {}).get("confidence") or 0.95)
        text += (f" {confidence:g} % interval {low:.2f} to {high:.2f}; probability of reaching the threshold "
                 f"{result['probability_mean_at_least_threshold']:.2f}.")
        if result.get("borderline"):
            text += " BORDERLINE: the interval contains the threshold."
    return text


def uptake_chart_node(scene, result: dict, name: str = "Uptake IA vs IV chart", node=None):
    """A bar chart: the comparison metric (SUVmax or SUVpeak) per VOI, IA next to IV."""
    metric = result["metric"]
    names = [v["name"] for v in result["vois"]]
    series = []
    for route in ROUTES:
        values = [(v[route] or {}).get(metric) for v in result["vois"]]
        series.append(adapter.PlotSeries(
            f"{ROUTE_LABELS[route]} {metric}", list(range(len(names))),
            [math.nan if value is None else value for value in values], ROUTE_COLOURS[route], names))
    return adapter.plot_chart_node(scene, name, series, "bar", "VOI", f"{metric} ({result['suv_unit']})", node)


def compare_uptake_in_scene(scene, ia_pet_folder, iv_pet_folder, ia_segmentation_node, iv_segmentation_node,
                            parameters: UptakeParameters = UptakeParameters(),
                            overrides: dict[str, SuvOverrides] | None = None, series_uids: dict | None = None,
                            mapping: dict | None = None, add_suv_volumes: bool = True) -> UptakeNodes:
    """Run the comparison on two PET folders and two segmentation nodes; fill table and chart nodes."""
    overrides = overrides or {}
    series_uids = series_uids or {}
    folders = {"ia": ia_pet_folder, "iv": iv_pet_folder}
    nodes = {"ia": ia_segmentation_node, "iv": iv_segmentation_node}
    parameters.check()
    suv = {route: suv_from_folder(folders[route], parameters.suv_type, overrides.get(route), series_uids.get(route))
           for route in ROUTES}
    suv = calibrate_routes(suv, parameters)  # the SUV volume nodes show the cross-calibrated SUV
    segmentations = {route: adapter.segmentation_from_node(nodes[route]) for route in ROUTES}
    inputs = {"ia_pet": str(ia_pet_folder), "iv_pet": str(iv_pet_folder),
              "ia_segmentation": f"segmentation node '{ia_segmentation_node.GetName()}'",
              "iv_segmentation": f"segmentation node '{iv_segmentation_node.GetName()}'"}
    result = compare_routes(suv, segmentations, parameters, mapping, inputs)
    volume_nodes = {}
    if add_suv_volumes:
        for route in ROUTES:
            volume_nodes[route] = adapter.volume_node_from_volume(
                scene, suv[route].volume, f"{route.upper()} PET {suv[route].info['suv_unit']}")
    table = uptake_table_node(scene, result)
    chart = uptake_chart_node(scene, result)
    from ..imaging.voi_roles import apply_mapping
    from ..uptake.comparison import measured_regions

    regions = {route: measured_regions(segmentations[route], apply_mapping(segmentations[route].names, mapping),
                                       parameters, route)[0] for route in ROUTES}
    return UptakeNodes(result, table, chart, volume_nodes, suv, regions)
