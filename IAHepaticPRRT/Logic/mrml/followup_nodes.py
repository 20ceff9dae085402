"""The follow-up (response.json) as MRML nodes: a table of each lesion's course, a table of the
visits, a plot chart of the volume changes over time, and one markups line per diameter
measurement (lesion x scan) on the slices, with its end points as measured, so that a reader can
check every number in Slicer. Works on any scene (Slicer's or the headless host's).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import adapter
from .adapter import Column, PlotSeries

COURSE_COLUMNS = [
    Column("lesion", "string", "", "lesion (segment) name"),
    Column("target", "string", "", "RECIST 1.1 target or non-target"),
    Column("visit", "string", "", "baseline or the visit's name"),
    Column("months_after_start", "double", "month", "months (30.4375 days) after the start of the intra-arterial cycle"),
    Column("volume_ml", "double", "mL", "lesion volume on the segmentation (carried lesions: partial-volume sum)"),
    Column("longest_diameter_mm", "double", "mm", "RECIST 1.1 longest diameter in the slice plane"),
    Column("short_axis_mm", "double", "mm", "longest diameter perpendicular to it in its slice"),
    Column("volume_change_percent", "double", "%", "volume change from baseline"),
    Column("volumetric_response", "string", "", "CR, PR (<= -65.7 %), SD, PD (>= +72.8 % over the nadir), NE"),
    Column("absorbed_dose_gy", "double", "Gy", "absorbed dose of the intra-arterial cycle"),
    Column("source", "string", "", "the visit's own segmentation, or carried from baseline by registration"),
]
VISIT_COLUMNS = [
    Column("visit", "string", "", "visit name"),
    Column("date", "string", "", "scan date"),
    Column("months_after_start", "double", "month", "months after the start of the intra-arterial cycle"),
    Column("modality", "string", "", "MR or CT"),
    Column("sum_of_diameters_mm", "double", "mm", "RECIST 1.1 sum of the target lesions' diameters"),
    Column("change_from_baseline_percent", "double", "%", "sum against the baseline sum"),
    Column("target_response", "string", "", "RECIST 1.1 target response"),
    Column("non_target_response", "string", "", "RECIST 1.1 non-target response"),
    Column("new_lesions", "string", "", "new lesions at this visit"),
    Column("overall_response", "string", "", "RECIST 1.1 overall response"),
]
#: Attribute naming the scan a line node belongs to ("baseline" or the visit's name).
VISIT_ATTRIBUTE = "IAHepaticPRRT.followup.visit"


@dataclass
class FollowupNodes:
    course_table: object
    visits_table: object
    chart: object
    lines: dict = field(default_factory=dict)   # scan name -> [line nodes]
    report: dict | None = None                  # response.json
    images: dict = field(default_factory=dict)  # scan name -> volume node, loaded on demand


def _lps_to_ras(point):
    return (-float(point[0]), -float(point[1]), float(point[2]))


def _color(index: int):
    from ..io.segmentation_files import _default_color

    return _default_color(index)


def diameter_line(scene, name: str, end_points_lps, color, scan: str):
    """A locked markups line between two LPS points (shown in RAS), tagged with its scan."""
    node = scene.AddNewNodeByClass("vtkMRMLMarkupsLineNode", name)
    for point in end_points_lps:
        node.AddControlPoint(*_lps_to_ras(point))
    node.SetLocked(True)
    node.SetAttribute(VISIT_ATTRIBUTE, scan)
    node.CreateDefaultDisplayNodes()
    display = node.GetDisplayNode()
    display.SetSelectedColor(*color)
    display.SetColor(*color)
    return node


def followup_nodes(scene, report: dict, name: str = "Follow-up") -> FollowupNodes:
    """Create the nodes of one patient's follow-up (``report`` = response.json)."""
    rows = []
    lines: dict[str, list] = {}
    series = []
    for index, lesion in enumerate(report["lesions"]):
        color = _color(index)
        role = "target" if lesion["target"] else "non-target"
        scans = [("baseline", None, lesion["baseline"], 0.0)]
        scans += [(e["visit"], e.get("months_after_start"), e, e.get("volume_change_percent")) for e in lesion["course"]]
        months, changes = [0.0], [0.0]
        for scan, month, entry, change in scans:
            rows.append({"lesion": lesion["name"], "target": role, "visit": scan, "months_after_start": month,
                         "volume_ml": entry.get("volume_ml"), "longest_diameter_mm": entry.get("longest_diameter_mm"),
                         "short_axis_mm": entry.get("short_axis_mm"), "volume_change_percent": change,
                         "volumetric_response": entry.get("volumetric_response", ""),
                         "absorbed_dose_gy": lesion.get("absorbed_dose_gy"), "source": entry.get("source", "segmentation")})
            if scan != "baseline" and month is not None and change is not None:
                months.append(month)
                changes.append(change)
            ends = entry.get("longest_diameter_end_points_lps_mm")
            if entry.get("present", True) and ends:
                line = diameter_line(scene, f"{lesion['name']} | {scan} | {entry['longest_diameter_mm']:.1f} mm", ends,
                                     color, scan)
                lines.setdefault(scan, []).append(line)
        series.append(PlotSeries(lesion["name"], months, changes, color))
    course = adapter.table_node_from_rows(scene, f"{name} lesion courses", COURSE_COLUMNS, rows)
    visit_rows = []
    for visit in report["visits"]:
        r = visit["recist"]
        visit_rows.append({"visit": visit["name"], "date": visit["date"], "months_after_start": visit["months_after_start"],
                           "modality": visit["modality"], "sum_of_diameters_mm": r["sum_of_diameters_mm"],
                           "change_from_baseline_percent": r["change_from_baseline_percent"],
                           "target_response": r["target_response"] or "",
                           "non_target_response": r["non_target_response"] or "",
                           "new_lesions": ", ".join(visit.get("new_lesions", [])),
                           "overall_response": r["overall_response"]})
    visits = adapter.table_node_from_rows(scene, f"{name} visits", VISIT_COLUMNS, visit_rows)
    chart = adapter.plot_chart_node(scene, f"{name} lesion volume", series, "line",
                                    "months after the intra-arterial cycle", "volume change from baseline (%)")
    nodes = FollowupNodes(course, visits, chart, lines, report)
    show_scan_lines(nodes, "baseline")
    return nodes


def show_scan_lines(nodes: FollowupNodes, scan: str) -> list:
    """Show the diameter lines of one scan ("baseline" or a visit's name), hide the others; return
    the lines shown."""
    for name, lines in nodes.lines.items():
        for line in lines:
            line.GetDisplayNode().SetVisibility(name == scan)
    return list(nodes.lines.get(scan, []))
