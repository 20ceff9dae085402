"""3D Slicer module IAHepaticPRRT: the thin Qt layer.

Only this file imports qt, ctk, slicer.app and the parameter node wrapper. All computation is in
the ``iahepaticprrt`` package (the ``Logic`` folder beside this file). ``IAHepaticPRRTLogic`` is the
package's :class:`~iahepaticprrt.mrml.module_logic.ModuleLogic` with Slicer's logic base class
added: every action of the panel runs there, and the headless tests exercise it. Every Slicer, CTK
and Qt name used here and in the .ui file is checked against Slicer's own sources
(tools/slicer_api_check.py, Testing/test_slicer_api.py).
"""

import importlib.util
import json
import os
import pathlib
import tempfile
import typing
import unittest
from typing import Annotated

import ctk  # noqa: F401 - named in annotations that tools/slicer_api_check.py reads
import qt

import slicer
from slicer import vtkMRMLMarkupsFiducialNode, vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.parameterNodeWrapper import (
    Choice,
    GuiConnector,
    Minimum,
    WithinRange,
    parameterNodeGuiConnector,
    parameterNodeWrapper,
    unannotatedType,
)
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin


def _importPackage():
    """Import ``iahepaticprrt`` through the bootstrap in Scripts/iahprrt.py. That script is kept out
    of this folder's top level: Slicer's module factories register every file there, and would take
    a plain .py file for a module."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "Scripts", "iahprrt.py")
    spec = importlib.util.spec_from_file_location("iahepaticprrt_bootstrap", path)
    bootstrap = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bootstrap)
    return bootstrap.import_package()


_importPackage()

from iahepaticprrt import known_answers  # noqa: E402
from iahepaticprrt.dosimetry.kinetics import MODEL_CHOICES  # noqa: E402
from iahepaticprrt.dosimetry.limits import read_previous_cycles  # noqa: E402
from iahepaticprrt.dosimetry.options import METHODS, DosimetryOptions  # noqa: E402
from iahepaticprrt.mrml import module_logic as defaults  # noqa: E402
from iahepaticprrt.mrml.uptake_nodes import verdict_text  # noqa: E402
from iahepaticprrt.mrml.module_logic import Cancelled, ModuleLogic  # noqa: E402
from iahepaticprrt.uptake.comparison import METRICS, UptakeParameters  # noqa: E402
from iahepaticprrt.uptake.suv_normalisers import SUV_TYPES  # noqa: E402
from iahepaticprrt.version import __version__  # noqa: E402

#: How the administration date-time is kept in the parameter node (ISO 8601, local time as in DICOM).
DATE_TIME_FORMAT = "yyyy-MM-ddTHH:mm:ss"
SAMPLE_CATEGORY = "IAHepaticPRRT"
SAMPLE_NAME = "IAHepaticPRRT synthetic patient"


class IAHepaticPRRT(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        module: "slicer.qSlicerScriptedLoadableModule" = self.parent  # typed for tools/slicer_api_check.py
        module.title = "IA Hepatic PRRT"
        module.categories = ["Nuclear Medicine"]
        module.dependencies = []
        module.contributors = ["IAHepaticPRRT developers"]
        module.helpText = (
            "Intra-arterial versus intravenous PRRT of neuroendocrine liver metastases: 68Ga-DOTA PET uptake "
            "comparison (SUV, enhancement ratio, eligibility) and 177Lu SPECT/CT dosimetry (kinetics, absorbed "
            "dose, BED, uncertainty), with an HTML report. VOIs may come from any segmentation node, including "
            "DICOM RTSTRUCT and DICOM SEG loaded through the DICOM module (SlicerRT and QuantitativeReporting "
            f"extensions). Version {__version__}.")
        module.acknowledgementText = (
            "IBSI SUV reference objects (CC BY 4.0), Lanconelli et al. 177Lu voxel S-values and OpenDose organ "
            "S-values: see the extension's README for attributions.")
        slicer.app.connect("startupCompleted()", registerSampleData)


# ---- Sample Data: the synthetic patient, generated on this computer ----------------------------------
def registerSampleData():
    """Add the synthetic trial patient to the Sample Data module: nothing is downloaded, the package
    generates it (about 10 s) into Slicer's temporary folder and loads it."""
    import SampleData

    if hasattr(SampleData.SampleDataLogic, "registerCustomSampleDataCategory"):  # Slicer 5.12 and later
        SampleData.SampleDataLogic.registerCustomSampleDataCategory(SAMPLE_CATEGORY, title="IA Hepatic PRRT")
    SampleData.SampleDataLogic.registerCustomSampleDataSource(
        category=SAMPLE_CATEGORY,
        sampleName=SAMPLE_NAME,
        thumbnailFileName=os.path.join(os.path.dirname(os.path.abspath(__file__)), "Resources", "Icons",
                                       "IAHepaticPRRT.png"),
        uris="generated://iahepaticprrt/synthetic-patient",  # never fetched: the custom loader generates it
        fileNames="manifest.json",
        nodeNames="IAHepaticPRRT synthetic patient",
        loadFiles=False,
        customDownloader=loadSyntheticPatient,
    )


def loadSyntheticPatient(source=None):
    """Generate (once per temporary folder) and load the small synthetic patient: both PET/CTs, the
    SPECT/CT time points and their segmentations, and fill the panel's parameters with them."""
    from iahepaticprrt.phantom.generate import generate_phantom

    folder = pathlib.Path(slicer.app.temporaryPath) / "IAHepaticPRRT" / "synthetic-patient"
    with slicer.util.tryWithErrorDisplay("Could not generate or load the synthetic patient.", waitCursor=True):
        if not (folder / "manifest.json").is_file() or not (folder / "truth.json").is_file():
            slicer.util.showStatusMessage("Generating the synthetic patient (about 10 s) ...")
            slicer.app.processEvents()
            generate_phantom(folder, seed=1, noise=True, vendor="siemens", size="small")
        logic = IAHepaticPRRTLogic()
        study = logic.load_study(folder / "manifest.json")
        truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
        ctNodes = [logic.load_dicom_volume(folder / truth["pet"][route]["ct_folder"], f"CT {label}")
                   for route, label in (("ia", "intra-arterial"), ("iv", "intravenous"))]
        parameters = IAHepaticPRRTParameterNode(logic.getParameterNode())
        parameters.iaPet = study.ia_pet
        parameters.ivPet = study.iv_pet
        parameters.iaSegmentation = study.ia_segmentation
        parameters.ivSegmentation = study.iv_segmentation
        parameters.spectVolumes = study.spect
        parameters.ctVolumes = study.ct
        parameters.dosimetrySegmentation = study.dosimetry_segmentation
        parameters.administeredActivityMBq = study.dosimetry["administered_mbq"]
        parameters.residualActivityMBq = study.dosimetry.get("residual_mbq", 0.0)
        parameters.spectFwhmMm = study.dosimetry.get("pvc_fwhm_mm", parameters.spectFwhmMm)
        parameters.administrationTimeSet = False  # from the SPECT headers
        parameters.patientId = study.patient.get("id", "")
        parameters.patientName = study.patient.get("name", "")
        slicer.util.setSliceViewerLayers(background=ctNodes[0], foreground=study.ia_pet, foregroundOpacity=0.5,
                                         fit=True)
        slicer.util.selectModule("IAHepaticPRRT")
        return [study.ia_pet, study.iv_pet, *study.spect]
    return []


# ---- parameter node and the two widgets Slicer's wrapper does not bind itself --------------------------
@parameterNodeGuiConnector
class QDateTimeEditToIsoStringConnector(GuiConnector):
    """A QDateTimeEdit bound to a str parameter holding "YYYY-MM-DDTHH:MM:SS", or "" when no time is
    set (the edit then sits at its minimum and shows its special value text)."""

    @staticmethod
    def canRepresent(widget, datatype) -> bool:
        return type(widget) == qt.QDateTimeEdit and unannotatedType(datatype) == str

    @staticmethod
    def create(widget, datatype):
        if QDateTimeEditToIsoStringConnector.canRepresent(widget, datatype):
            return QDateTimeEditToIsoStringConnector(widget)
        return None

    def __init__(self, widget):
        super().__init__()
        self._widget: "qt.QDateTimeEdit" = widget

    def _connect(self):
        self._widget.dateTimeChanged.connect(self.changed)

    def _disconnect(self):
        self._widget.dateTimeChanged.disconnect(self.changed)

    def widget(self):
        return self._widget

    def read(self) -> str:
        text = self._widget.dateTime.toString(DATE_TIME_FORMAT)
        return "" if text == self._widget.minimumDateTime.toString(DATE_TIME_FORMAT) else text

    def write(self, value: str) -> None:
        dateTime: "qt.QDateTime" = (qt.QDateTime.fromString(value, DATE_TIME_FORMAT) if value
                                    else self._widget.minimumDateTime)
        if dateTime.isValid() and dateTime.toString(DATE_TIME_FORMAT) != self._widget.dateTime.toString(DATE_TIME_FORMAT):
            self._widget.dateTime = dateTime


@parameterNodeGuiConnector
class CheckableNodeComboBoxToNodeListConnector(GuiConnector):
    """A qMRMLCheckableNodeComboBox bound to a list-of-nodes parameter: the checked nodes."""

    @staticmethod
    def canRepresent(widget, datatype) -> bool:
        return type(widget) == slicer.qMRMLCheckableNodeComboBox and \
            typing.get_origin(unannotatedType(datatype)) is list

    @staticmethod
    def create(widget, datatype):
        if CheckableNodeComboBoxToNodeListConnector.canRepresent(widget, datatype):
            return CheckableNodeComboBoxToNodeListConnector(widget)
        return None

    def __init__(self, widget):
        super().__init__()
        self._widget: "slicer.qMRMLCheckableNodeComboBox" = widget

    def _connect(self):
        self._widget.checkedNodesChanged.connect(self.changed)

    def _disconnect(self):
        self._widget.checkedNodesChanged.disconnect(self.changed)

    def widget(self):
        return self._widget

    def read(self) -> list:
        return list(self._widget.checkedNodes())

    def write(self, value) -> None:
        wanted = {node.GetID() for node in value if node is not None}
        for index in range(self._widget.nodeCount()):
            node: "slicer.vtkMRMLNode" = self._widget.nodeFromIndex(index)
            state = qt.Qt.Checked if node.GetID() in wanted else qt.Qt.Unchecked
            if self._widget.checkState(node) != state:
                self._widget.setCheckState(node, state)


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
    spectVolumes: list[vtkMRMLScalarVolumeNode]
    ctVolumes: list[vtkMRMLScalarVolumeNode]
    dosimetrySegmentation: vtkMRMLSegmentationNode
    administeredActivityMBq: Annotated[float, Minimum(0.0)] = 7400.0
    residualActivityMBq: Annotated[float, Minimum(0.0)] = 0.0
    #: Unticked (the default): the administration time is the SPECT headers'; never "now".
    administrationTimeSet: bool = False
    administrationDateTime: str = ""
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
    #: Unset: pathlib.Path("."), which export_report refuses (never Slicer's working directory).
    outputFolder: pathlib.Path
    deidentify: bool = False
    followupManifest: pathlib.Path
    voiSegmentation: vtkMRMLSegmentationNode
    voiVolume: vtkMRMLScalarVolumeNode
    voiPoints: vtkMRMLMarkupsFiducialNode
    voiSegmentName: str = "Lesion 1"
    healthyLiverMarginMm: Annotated[float, WithinRange(0.0, 50.0)] = defaults.HEALTHY_LIVER_MARGIN_MM
    sphereDiameterMm: Annotated[float, WithinRange(1.0, 200.0)] = defaults.REFERENCE_SPHERE_DIAMETER_MM
    isocontourPercent: Annotated[float, WithinRange(1.0, 100.0)] = defaults.ISOCONTOUR_PERCENT
    isocontourSearchDiameterMm: Annotated[float, WithinRange(5.0, 200.0)] = defaults.ISOCONTOUR_SEARCH_DIAMETER_MM


def fileForInstance(uid: str) -> str:
    """The file of a DICOM instance from the application's DICOM database (which exists from
    start-up on, unlike ``slicer.dicomDatabase``, set only once the DICOM module has started)."""
    database: "ctk.ctkDICOMDatabase" = slicer.app.dicomDatabase()
    return database.fileForInstance(uid) if database is not None else ""


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
        self.followupResult = None
        self.followupNodes = None
        self.followupScans = []

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget: "slicer.qMRMLWidget" = slicer.util.loadUI(self.resourcePath("UI/IAHepaticPRRT.ui"))
        layout: "qt.QLayout" = self.layout
        layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = IAHepaticPRRTLogic()
        self.ui.versionLabel.text = f"IAHepaticPRRT {__version__}"
        self.ui.computeUptakeButton.connect("clicked(bool)", self.onComputeUptake)
        self.ui.computeDosimetryButton.connect("clicked(bool)", self.onComputeDosimetry)
        self.ui.exportReportButton.connect("clicked(bool)", self.onExportReport)
        self.ui.computeFollowupButton.connect("clicked(bool)", self.onComputeFollowup)
        self.ui.followupVisitsList.connect("currentRowChanged(int)", self.onFollowupScanSelected)
        self.ui.followupManifestPathLineEdit.nameFilters = ["*.json"]
        self.ui.cancelButton.connect("clicked(bool)", self.onCancel)
        self.ui.administrationTimeCheckBox.connect("toggled(bool)", self.onAdministrationTimeToggled)
        self.ui.healthyLiverButton.connect("clicked(bool)", self.onHealthyLiver)
        self.ui.sphereButton.connect("clicked(bool)", self.onSphere)
        self.ui.isocontourButton.connect("clicked(bool)", self.onIsocontour)
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
        panel: "slicer.qSlicerAbstractModuleWidget" = self.parent
        if panel.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self):
        self.setParameterNode(IAHepaticPRRTParameterNode(self.logic.getParameterNode()))

    def setParameterNode(self, parameterNode: "IAHepaticPRRTParameterNode | None"):
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
            iaFolder, iaSeries = self.logic.dicom_source_of_node(p.iaPet, fileForInstance, "intra-arterial PET")
            ivFolder, ivSeries = self.logic.dicom_source_of_node(p.ivPet, fileForInstance, "intravenous PET")
            self.uptakeNodes = self.logic.compare_uptake(
                iaFolder, ivFolder, p.iaSegmentation, p.ivSegmentation, progress=self._progress,
                parameters=UptakeParameters(metric=p.metric, threshold=p.threshold, suv_type=p.suvType),
                series_uids={"ia": iaSeries, "iv": ivSeries})
            self.ui.verdictLabel.text = verdict_text(self.uptakeNodes.result)
            self._showTableAndChart(self.uptakeNodes.table_node, self.uptakeNodes.chart_node)

        self._run("Uptake comparison failed.", action)

    def onAdministrationTimeToggled(self, checked):
        """Ticking 'set' starts the edit from the headers' administration time when they have one."""
        p = self._parameterNode
        if not checked or p is None or p.administrationDateTime:
            return
        with slicer.util.tryWithErrorDisplay("Could not read the administration time from the SPECT headers."):
            header = self.logic.header_administration_datetime(list(p.spectVolumes), fileForInstance)
            if header is not None:
                p.administrationDateTime = header.strftime("%Y-%m-%dT%H:%M:%S")

    def onComputeDosimetry(self):
        p = self._parameterNode

        def action():
            administration = self.logic.administration_from_panel(p.administrationTimeSet, p.administrationDateTime)
            inputs = self.logic.dosimetry_inputs(list(p.spectVolumes), list(p.ctVolumes), administration,
                                                 fileForInstance)
            previous = str(p.previousCyclesFile) if str(p.previousCyclesFile) not in ("", ".") else None
            options = DosimetryOptions(
                administered_mbq=p.administeredActivityMBq, residual_mbq=p.residualActivityMBq,
                administration_datetime=inputs.administration_datetime,
                calibration_cps_per_mbq=p.calibrationCpsPerMBq or None,
                calibration_uncertainty_percent=p.calibrationUncertaintyPercent, method=p.method, model=p.model,
                partial_volume_fwhm_mm=p.spectFwhmMm if p.partialVolumeCorrection else None,
                previous_cycles=read_previous_cycles(previous) if previous else None,
                kidney_risk_factors=p.kidneyRiskFactors)
            self.dosimetryResult, nodes = self.logic.run_dosimetry(
                inputs.spect_sources, p.dosimetrySegmentation, options, ct_sources=inputs.ct_sources,
                progress=self._progress, dosimetry_inputs=inputs)
            slicer.util.setSliceViewerLayers(foreground=nodes.dose_volume, foregroundOpacity=0.5)
            exceeded = [key for key, item in self.dosimetryResult.report["limits"]["limits"].items()
                        if item.get("exceeded")]
            times = ", ".join(f"{t:.1f}" for t in inputs.times_h)
            origin = "set in the panel" if administration is not None else "from the SPECT headers"
            self.ui.dosimetryStatusLabel.text = (
                f"Time points at {times} h after the administration of "
                f"{inputs.administration_datetime:%Y-%m-%d %H:%M} ({origin}). "
                + ("Limits exceeded: " + ", ".join(exceeded) if exceeded else "All cumulative doses below their limits.")
                + ("".join(f"\nWarning: {w}" for w in inputs.warnings)))
            self._showTableAndChart(nodes.results_table, nodes.tac_chart)

        self._run("Dosimetry failed.", action)

    def onComputeFollowup(self):
        p = self._parameterNode

        def action():
            manifest = str(p.followupManifest) if str(p.followupManifest) not in ("", ".") else ""
            self.followupResult, self.followupNodes = self.logic.compute_followup(
                manifest, self.dosimetryResult, progress=self._progress)
            report = self.followupResult.report
            self.followupScans = ["baseline"] + [v["name"] for v in report["visits"]]
            self.ui.followupVisitsList.clear()
            self.ui.followupVisitsList.addItem(f"baseline ({report['baseline']['date'][:10]}, "
                                               f"{report['baseline']['modality']})")
            for visit in report["visits"]:
                self.ui.followupVisitsList.addItem(f"{visit['name']} ({visit['date'][:10]}, {visit['modality']}): "
                                                   f"{visit['recist']['overall_response']}")
            event = report["pfs_event_type"]
            self.ui.followupStatusLabel.text = (
                f"Best overall response (RECIST 1.1): {report['recist']['best_overall_response']}; "
                f"PFS {report['pfs_months']:.1f} months "
                + (f"({event.replace('_', ' ')})." if event else "(censored at the last contact)."))
            self._showTableAndChart(self.followupNodes.course_table, self.followupNodes.chart)
            self.ui.followupVisitsList.setCurrentRow(0)

        self._run("Follow-up failed.", action)

    def onFollowupScanSelected(self, row):
        if self.followupNodes is None or not 0 <= row < len(self.followupScans):
            return

        def action():
            lines, volume = self.logic.show_followup_scan(self.followupNodes, self.followupScans[row])
            if volume is not None:
                slicer.util.setSliceViewerLayers(background=volume, fit=True)
            if lines:
                a, b = lines[0].GetNthControlPointPosition(0), lines[0].GetNthControlPointPosition(1)
                markupsLogic: "slicer.vtkSlicerMarkupsLogic" = slicer.modules.markups.logic()
                markupsLogic.JumpSlicesToLocation((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, (a[2] + b[2]) / 2, True)

        self._run("Showing the scan failed.", action)

    def onExportReport(self):
        p = self._parameterNode

        def action():
            report = self.logic.export_report(
                p.outputFolder, None, self.dosimetryResult, {"id": p.patientId, "name": p.patientName}, p.deidentify,
                self.followupResult, uptake_nodes=self.uptakeNodes)
            self.ui.reportStatusLabel.text = f"Report written: {report}"
            qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(str(report)))

        self._run("Report export failed.", action)

    # ---- VOI helpers -------------------------------------------------------------------------
    def onHealthyLiver(self):
        p = self._parameterNode

        def action():
            done = self.logic.add_healthy_liver(p.voiSegmentation, p.healthyLiverMarginMm)
            self.ui.voiStatusLabel.text = (
                f"{done['segment']}: {done['volume_ml']:.1f} mL ({done['liver_segment']} {done['liver_volume_ml']:.1f} mL "
                f"minus {len(done['lesions'])} lesion(s) and {done['margin_mm']:g} mm around them).")

        self._run("Healthy liver failed.", action)

    def onSphere(self):
        p = self._parameterNode

        def action():
            done = self.logic.add_sphere(p.voiSegmentation, p.voiPoints, p.sphereDiameterMm, p.voiSegmentName,
                                         p.voiVolume)
            self.ui.voiStatusLabel.text = (f"{done['segment']}: sphere of {done['diameter_mm']:g} mm, "
                                           f"{done['volume_ml']:.2f} mL on the voxels.")

        self._run("Sphere failed.", action)

    def onIsocontour(self):
        p = self._parameterNode

        def action():
            done = self.logic.add_isocontour(p.voiSegmentation, p.voiVolume, p.voiPoints, p.isocontourPercent,
                                             p.isocontourSearchDiameterMm, p.voiSegmentName)
            self.ui.voiStatusLabel.text = (
                f"{done['segment']}: {done['volume_ml']:.2f} mL at {done['percent']:g} % of the maximum "
                f"{done['max_value']:.4g} {done['unit']} (threshold {done['threshold_value']:.4g}).")

        self._run("Isocontour failed.", action)

    def _showTableAndChart(self, tableNode: "slicer.vtkMRMLTableNode", chartNode: "slicer.vtkMRMLPlotChartNode"):
        layoutManager: "slicer.qSlicerLayoutManager" = slicer.app.layoutManager()
        layoutManager.setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutFourUpPlotTableView)
        applicationLogic: "slicer.vtkSlicerApplicationLogic" = slicer.app.applicationLogic()
        selection: "slicer.vtkMRMLSelectionNode" = applicationLogic.GetSelectionNode()
        selection.SetActiveTableID(tableNode.GetID())
        applicationLogic.PropagateTableSelection()
        plotsLogic: "slicer.vtkSlicerPlotsLogic" = slicer.modules.plots.logic()
        plotsLogic.ShowChartInLayout(chartNode)


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
        self.setUp()
        self.test_followup()
        self.test_voi_helpers()

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
        self.assertTrue(errors["time_points_in_acquisition_order"])
        self.assertTrue(errors["administration_from_headers"])
        self.assertTrue(errors["unset_output_folder_refused"])
        self.delayDisplay("Test passed")

    def test_voi_helpers(self):
        self.delayDisplay("Healthy liver with margin, sphere at a point, 41 % isocontour around a point")
        counts = known_answers.voi_helpers_scenario(IAHepaticPRRTLogic())
        # 60^3 liver minus the 4169 lattice points within 10 mm of one lesion voxel, a 20 mm sphere of
        # 4169 voxels (OEIS A000605), the 125 voxels of a 5 mm cube at 41 % (Testing/test_panel.py).
        self.assertEqual(counts, {"healthy_liver_voxels": 211831, "sphere_voxels": 4169, "isocontour_voxels": 125,
                                  "far_maximum_refused": True})
        self.delayDisplay("Test passed")


    def test_followup(self):
        self.delayDisplay("Follow-up of a synthetic patient: lesion courses, RECIST 1.1, PFS, diameter lines")
        logic = IAHepaticPRRTLogic()
        with tempfile.TemporaryDirectory() as folder:
            errors = known_answers.followup_scenario(logic, folder)
        self.assertLess(errors["max_volume_relative_error"], 0.03)
        self.assertLessEqual(errors["max_diameter_error_mm"], 1.0)
        self.assertTrue(errors["responses_match_truth"])
        self.assertLess(errors["pfs_months_error"], 1e-9)
        self.assertEqual(errors["lines"], errors["expected_lines"])
        self.delayDisplay("Test passed")


if __name__ == "__main__":  # pragma: no cover
    unittest.main()
