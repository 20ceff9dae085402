"""Dosimetry results as MRML nodes: dose volume, TAC and DVH plot charts, results table.

Works on any scene (Slicer's or the headless host's), through :mod:`adapter`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import adapter
from .adapter import Column, PlotSeries

#: Results table columns (name with unit, type, unit, meaning).
RESULT_COLUMNS = [
    Column("name", "string", "", "VOI (segment) name"),
    Column("role", "string", "", "target_lesion, extrahepatic_lesion, organ or other"),
    Column("volume_ml", "double", "mL", "VOI volume on the segmentation grid"),
    Column("mass_g", "double", "g", "VOI mass (CT density, or water-equivalent 1.0 g/mL without CT)"),
    Column("model", "string", "", "kinetic model fitted to the VOI time-activity curve"),
    Column("tia_mbqh", "double", "MBq h", "time-integrated activity"),
    Column("tia_uncertainty_mbqh", "double", "MBq h", "standard uncertainty of the TIA (fit, calibration, recovery)"),
    Column("residence_time_h", "double", "h", "TIA / net administered activity"),
    Column("absorbed_dose_gy", "double", "Gy", "the VOI's absorbed dose: energy the dose map (built from the VOI's own "
                                               "kinetics) deposits in the VOI over its mass"),
    Column("absorbed_dose_uncertainty_gy", "double", "Gy", "standard uncertainty of the absorbed dose (TIA's relative)"),
    Column("absorbed_dose_method", "string", "", "how the absorbed dose was obtained"),
    Column("ldm_voi_dose_gy", "double", "Gy", "secondary: 0.08532 x TIA / mass (VOI-level local deposition)"),
    Column("d2_gy", "double", "Gy", "dose received by the hottest 2 % of the VOI"),
    Column("d50_gy", "double", "Gy", "median dose (50 % of the VOI)"),
    Column("d98_gy", "double", "Gy", "dose received by 98 % of the VOI"),
    Column("sphere_model_dose_gy", "double", "Gy", "secondary, lesions: unit-density sphere model dose"),
    Column("organ_s_value_dose_gy", "double", "Gy", "secondary, liver, spleen, kidneys: OpenDose organ S-value dose"),
    Column("bed_gy", "double", "Gy", "kidneys: biologically effective dose (Dale integral)"),
]


@dataclass
class DosimetryNodes:
    dose_volume: object
    results_table: object
    tac_chart: object
    dvh_chart: object


def _color(index: int) -> tuple[float, float, float]:
    from ..io.segmentation_files import _default_color

    return _default_color(index)


def dosimetry_nodes(scene, result, name: str = "Dosimetry") -> DosimetryNodes:
    """Create the dose volume node, the TAC and DVH charts and the results table of ``result``
    (a :class:`iahepaticprrt.dosimetry.cycle.DosimetryResult`)."""
    dose_node = adapter.volume_node_from_volume(scene, result.dose, f"{name} dose")
    rows = [{c.name: v.get(c.name) for c in RESULT_COLUMNS} for v in result.report["vois"]]
    table = adapter.table_node_from_rows(scene, f"{name} results", RESULT_COLUMNS, rows)
    tac_series = []
    for index, (voi, (times, activities)) in enumerate(result.tacs.items()):
        color = _color(index)
        tac_series.append(PlotSeries(f"{voi} measured", list(times), list(activities), color))
        fit = result.fits.get(voi)
        if fit is not None:
            t_end = max(float(times[-1]) * 1.5, float(times[-1]) + 48.0)
            grid = np.linspace(0.0, t_end, 120)
            tac_series.append(PlotSeries(f"{voi} {fit.model}", list(grid), list(fit.activity_mbq(grid)), color))
    tac_chart = adapter.plot_chart_node(scene, f"{name} time-activity curves", tac_series, "line",
                                        "time after administration (h)", "activity (MBq)")
    # Measured points as markers without lines.
    import slicer

    for index in range(tac_chart.GetNumberOfPlotSeriesNodes()):
        series = tac_chart.GetNthPlotSeriesNode(index)
        if series.GetName().endswith(" measured"):
            series.SetPlotType(slicer.vtkMRMLPlotSeriesNode.PlotTypeScatter)
            series.SetMarkerStyle(slicer.vtkMRMLPlotSeriesNode.MarkerStyleCircle)
    dvh_series = [PlotSeries(voi, list(levels), list(100.0 * np.asarray(fractions)), _color(index))
                  for index, (voi, (levels, fractions)) in enumerate(result.dvh.items())]
    dvh_chart = adapter.plot_chart_node(scene, f"{name} dose-volume histograms", dvh_series, "line",
                                        "absorbed dose (Gy)", "volume (%)")
    return DosimetryNodes(dose_node, table, tac_chart, dvh_chart)
