"""3D Slicer module IAHepaticPRRT: the thin Qt layer.

Only this file imports qt, ctk, slicer.app and the parameter node wrapper. All computation is in
the ``iahepaticprrt`` package (the ``Logic`` folder beside this file). ``IAHepaticPRRTLogic`` is the
package's :class:`~iahepaticprrt.mrml.module_logic.ModuleLogic` with Slicer's logic base class
added: every action of the panel runs there, and the headless tests exercise it.
"""

import datetime
import os
import pathlib
import tempfile
import unittest
from typing import Annotated

import qt

import slicer
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.parameterNodeWrapper import Choice, Minimum, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from iahprrt import import_package

import_package()

from iahepaticprrt import known_answers  # noqa: E402
from iahepaticprrt.dosimetry.kinetics import MODEL_CHOICES  # noqa: E402
from iahepaticprrt.dosimetry.limits import read_previous_cycles  # noqa: E402
from iahepaticprrt.dosimetry.options import METHODS, DosimetryOptions  # noqa: E402
from iahepaticprrt.mrml.uptake_nodes import verdict_text  # noqa: E402
from iahepaticprrt.mrml.module_logic import Cancelled, ModuleLogic  # noqa: E402
from iahepaticprrt.uptake.comparison import METRICS, UptakeParameters  # noqa: E402
from iahepaticprrt.uptake.suv_normalisers import SUV_TYPES  # noqa: E402
from iahepaticprrt.version import __version__  # noqa: E402


class IAHepaticPRRT(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "IA Hepatic PRRT"
        self.parent.categories = ["Nuclear Medicine"]
        self.parent.dependencies = []
        self.parent.contributors = ["IAHepaticPRRT developers"]
        self.parent.helpText = (
            "Intra-arterial versus intravenous PRRT of neuroendocrine liver metastases: 68Ga-DOTA PET uptake "
            "comparison (SUV, enhancement ratio, eligibility) and 177Lu SPECT/CT dosimetry (kinetics, absorbed "
            "dose, BED, uncertainty), with an HTML report. VOIs may come from any segmentation node, including "
            "DICOM RTSTRUCT and DICOM SEG loaded through the DICOM module (SlicerRT and QuantitativeReporting "
            f"extensions). Version {__version__}.")
        self.parent.acknowledgementText = (
            "IBSI SUV reference objects (CC BY 4.0), Lanconelli et al. 177Lu voxel S-values and OpenDose organ "
            "S-values: see the extension's README for attributions.")


@parameterNodeWrapper
class IAHepaticPRRTParameterNode:
    """The panel's state, kept in the scene (widgets bound through SlicerParameterName in the .ui)."""

    iaPet: vtkMRMLScalarVolumeNode
    ivPet: vtkMRMLScalarVolumeNode
    iaSegmentation: vtkMRMLSegmentationNode
    ivSegmentation: vtkMRMLSegmentationNode
    suvType: Annotated[str, Choice(list(SUV_TYPES))] = "bw"
    metric: Annotated[str, Choice(list(METRICS))] = "suv_max"
    threshold: Annotated[float, Minimum(0.1)] = 3.0
    dosimetrySegmentation: vtkMRMLSegmentationNode
    administeredActivityMBq: Annotated[float, Minimum(0.0)] = 7400.0
    residualActivityMBq: Annotated[float, Minimum(0.0)] = 0.0
    calibrationCpsPerMBq: Annotated[float, Minimum(0.0)] = 0.0
    calibrationUncertaintyPercent: Annotated[float, WithinRange(0.0, 100.0)] = 3.0
    method: Annotated[str, Choice(list(METHODS))] = "ldm"
    model: Annotated[str, Choice(list(MODEL_CHOICES))] = "auto"
    partialVolumeCorrection: bool = True
    spectFwhmMm: Annotated[float, WithinRange(1.0, 50.0)] = 12.0
    previousCyclesFile: pathlib.Path
    kidneyRiskFactors: bool = False
    patientId: str = ""
    patientName: str = ""
    outputFolder: pathlib.Path
    deidentify: bool = False


def dicomFiles(volumeNode):
    """The DICOM files a volume was loaded from (Slicer's DICOM module records their instance UIDs)."""
    if volumeNode is None:
        return []
    uids = (volumeNode.GetAttribute("DICOM.instanceUIDs") or "").split()
    database = slicer.dicomDatabase
    return [database.fileForInstance(uid) for uid in uids] if database else []


class IAHepaticPRRTWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._cancelRequested = False
        self.uptakeNodes = None
        self.dosimetryResult = None

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/IAHepaticPRRT.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = IAHepaticPRRTLogic()
        self.ui.versionLabel.text = f"IAHepaticPRRT {__version__}"
        self.ui.administrationDateTimeEdit.dateTime = qt.QDateTime.currentDateTime()
        self.ui.computeUptakeButton.connect("clicked(bool)", self.onComputeUptake)
        self.ui.computeDosimetryButton.connect("clicked(bool)", self.onComputeDosimetry)
        self.ui.exportReportButton.connect("clicked(bool)", self.onExportReport)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancel)
        self.ui.cancelButton.enabled = False
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.initializeParameterNode()

    def cleanup(self):
        self.removeObservers()

    def enter(self):
        self.initializeParameterNode()

    def exit(self):
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None

    def onSceneStartClose(self, caller, event):
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event):
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self):
        self.setParameterNode(IAHepaticPRRTParameterNode(self.logic.getParameterNode()))

    def setParameterNode(self, parameterNode):
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
        self._parameterNode = parameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)

    # ---- progress and cancel -----------------------------------------------------------------
    def _progress(self, fraction, message):
        self.ui.progressBar.value = int(round(100 * fraction))
        self.ui.progressBar.setFormat(f"{message} (%p%)")
        slicer.app.processEvents()
        if self._cancelRequested:
            raise Cancelled("cancelled by the user")

    def _run(self, errorMessage, action):
        """Run a long action with the progress bar, Cancel button and Slicer's error display."""
        self._cancelRequested = False
        self.ui.progressBar.visible = True
        self.ui.cancelButton.enabled = True
        try:
            with slicer.util.tryWithErrorDisplay(errorMessage, waitCursor=True):
                try:
                    return action()
                except Cancelled:
                    slicer.util.showStatusMessage("Cancelled: nothing was written.", 5000)
        finally:
            self.ui.progressBar.visible = False
            self.ui.cancelButton.enabled = False

    def onCancel(self):
        self._cancelRequested = True

    # ---- actions -----------------------------------------------------------------------------
    def onComputeUptake(self):
        p = self._parameterNode

        def action():
            iaFolder, iaSeries = self.logic.dicom_source(dicomFiles(p.iaPet), "intra-arterial PET")
            ivFolder, ivSeries = self.logic.dicom_source(dicomFiles(p.ivPet), "intravenous PET")
            self.uptakeNodes = self.logic.compare_uptake(
                iaFolder, ivFolder, p.iaSegmentation, p.ivSegmentation, progress=self._progress,
                parameters=UptakeParameters(metric=p.metric, threshold=p.threshold, suv_type=p.suvType),
                series_uids={"ia": iaSeries, "iv": ivSeries})
            self.ui.verdictLabel.text = verdict_text(self.uptakeNodes.result)
            self._showTableAndChart(self.uptakeNodes.table_node, self.uptakeNodes.chart_node)

        self._run("Uptake comparison failed.", action)

    def onComputeDosimetry(self):
        p = self._parameterNode

        def action():
            spectNodes = list(self.ui.spectVolumesSelector.checkedNodes())
            ctNodes = list(self.ui.ctVolumesSelector.checkedNodes())
            spect = [self.logic.dicom_source(dicomFiles(n), n.GetName())[0] for n in spectNodes]
            ct = [self.logic.dicom_source(dicomFiles(n), n.GetName())[0] for n in ctNodes] or None
            administration = datetime.datetime.fromisoformat(
                self.ui.administrationDateTimeEdit.dateTime.toString("yyyy-MM-ddTHH:mm:ss"))
            previous = str(p.previousCyclesFile) if str(p.previousCyclesFile) not in ("", ".") else None
            options = DosimetryOptions(
                administered_mbq=p.administeredActivityMBq, residual_mbq=p.residualActivityMBq,
                administration_datetime=administration,
                calibration_cps_per_mbq=p.calibrationCpsPerMBq or None,
                calibration_uncertainty_percent=p.calibrationUncertaintyPercent, method=p.method, model=p.model,
                partial_volume_fwhm_mm=p.spectFwhmMm if p.partialVolumeCorrection else None,
                previous_cycles=read_previous_cycles(previous) if previous else None,
                kidney_risk_factors=p.kidneyRiskFactors)
            self.dosimetryResult, nodes = self.logic.run_dosimetry(
                spect, p.dosimetrySegmentation, options, ct_sources=ct, progress=self._progress)
            slicer.util.setSliceViewerLayers(foreground=nodes.dose_volume, foregroundOpacity=0.5)
            exceeded = [key for key, item in self.dosimetryResult.report["limits"]["limits"].items()
                        if item.get("exceeded")]
            self.ui.dosimetryStatusLabel.text = (
                "Limits exceeded: " + ", ".join(exceeded) if exceeded else "All cumulative doses below their limits.")
            self._showTableAndChart(nodes.results_table, nodes.tac_chart)

        self._run("Dosimetry failed.", action)

    def onExportReport(self):
        p = self._parameterNode

        def action():
            report = self.logic.export_report(
                str(p.outputFolder), self.uptakeNodes.result if self.uptakeNodes else None, self.dosimetryResult,
                {"id": p.patientId, "name": p.patientName}, p.deidentify)
            self.ui.reportStatusLabel.text = f"Report written: {report}"
            qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(str(report)))

        self._run("Report export failed.", action)

    def _showTableAndChart(self, tableNode, chartNode):
        layoutManager = slicer.app.layoutManager()
        layoutManager.setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutFourUpPlotTableView)
        selection = slicer.app.applicationLogic().GetSelectionNode()
        selection.SetActiveTableID(tableNode.GetID())
        slicer.app.applicationLogic().PropagateTableSelection()
        slicer.modules.plots.logic().ShowChartInLayout(chartNode)


class IAHepaticPRRTLogic(ScriptedLoadableModuleLogic, ModuleLogic):
    """The package's module logic with Slicer's logic base class (parameter node handling)."""

    def __init__(self):
        ScriptedLoadableModuleLogic.__init__(self)
        ModuleLogic.__init__(self)


class IAHepaticPRRTTest(ScriptedLoadableModuleTest):
    """The same known-answer scenarios as the pytest suite (Testing/test_dicom_series.py and
    Testing/test_panel.py), through the module logic inside Slicer."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_dicom_volume_geometry()
        self.setUp()
        self.test_panel_actions()

    def test_dicom_volume_geometry(self):
        self.delayDisplay("DICOM series -> volume node: geometry against truth and SimpleITK")
        logic = IAHepaticPRRTLogic()
        with tempfile.TemporaryDirectory() as folder:
            errors = known_answers.dicom_volume_scenario(logic, os.path.join(folder, "ct"))
        self.assertLess(errors["max_value_error"], 1e-6)
        self.assertLess(errors["max_matrix_error_vs_truth"], 1e-6)
        self.assertLess(errors["max_matrix_error_vs_simpleitk"], 1e-6)
        self.delayDisplay("Test passed")

    def test_panel_actions(self):
        self.delayDisplay("Compare uptake, compute dosimetry, export report on the synthetic patient")
        logic = IAHepaticPRRTLogic()
        with tempfile.TemporaryDirectory() as folder:
            errors = known_answers.panel_scenario(logic, folder)
        self.assertTrue(errors["eligible_matches_truth"])
        self.assertLess(errors["lesion_1_ratio_relative_error"], 0.02)
        self.assertLess(errors["organ_tia_max_relative_error"], 0.05)
        self.assertEqual(errors["uptake_table_rows"], errors["uptake_vois"])
        self.assertEqual(errors["uptake_chart_series"], 2)
        self.assertEqual(errors["dose_volume_unit"], "Gy")
        self.assertTrue(errors["report_written"] and errors["results_match_report"])
        self.delayDisplay("Test passed")


if __name__ == "__main__":  # pragma: no cover
    unittest.main()
