"""3D Slicer module IAHepaticPRRT: the thin Qt layer.

Only this file imports qt, ctk, slicer.app and the parameter node wrapper. All computation is in
the ``iahepaticprrt`` package (the ``Logic`` folder beside this file); ``IAHepaticPRRTLogic`` is a
facade over :class:`iahepaticprrt.mrml.module_logic.ModuleLogic`, which the headless tests exercise.
"""

import os
import tempfile
import unittest

import slicer
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
from iahepaticprrt.mrml.host import current_host  # noqa: E402
from iahepaticprrt.mrml.module_logic import ModuleLogic  # noqa: E402
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
            "comparison (SUV, enhancement ratio, eligibility) and 177Lu SPECT/CT dosimetry. "
            f"Version {__version__}.")
        self.parent.acknowledgementText = (
            "IBSI SUV reference objects (CC BY 4.0), Lanconelli et al. 177Lu voxel S-values and OpenDose organ "
            "S-values: see the extension's README for attributions.")


class IAHepaticPRRTWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/IAHepaticPRRT.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = IAHepaticPRRTLogic()
        self.ui.versionLabel.text = f"IAHepaticPRRT {__version__}"
        self.ui.loadDicomButton.connect("clicked(bool)", self.onLoadDicom)
        self.layout.addStretch(1)

    def onLoadDicom(self):
        folder = self.ui.dicomDirectoryButton.directory
        with slicer.util.tryWithErrorDisplay("Failed to load the DICOM series.", waitCursor=True):
            node = self.logic.loadDicomVolume(folder)
            slicer.util.setSliceViewerLayers(background=node, fit=True)


class IAHepaticPRRTLogic(ScriptedLoadableModuleLogic):
    """Facade: Slicer-style method names over the package's :class:`ModuleLogic`."""

    def __init__(self):
        ScriptedLoadableModuleLogic.__init__(self)
        self.impl = ModuleLogic(current_host())

    def loadDicomVolume(self, folder, name=None, seriesUid=None):
        return self.impl.load_dicom_volume(folder, name, seriesUid)

    def loadSegmentation(self, path, labelsCsv=None, name=None):
        return self.impl.load_segmentation(path, labelsCsv, name)


class IAHepaticPRRTTest(ScriptedLoadableModuleTest):
    """The same known-answer scenarios as the pytest suite, through the module logic."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_dicom_volume_geometry()

    def test_dicom_volume_geometry(self):
        self.delayDisplay("DICOM series -> volume node: geometry against truth and SimpleITK")
        logic = IAHepaticPRRTLogic()
        with tempfile.TemporaryDirectory() as folder:
            errors = known_answers.dicom_volume_scenario(logic.impl, os.path.join(folder, "ct"))
        self.assertLess(errors["max_value_error"], 1e-6)
        self.assertLess(errors["max_matrix_error_vs_truth"], 1e-6)
        self.assertLess(errors["max_matrix_error_vs_simpleitk"], 1e-6)
        self.delayDisplay("Test passed")


if __name__ == "__main__":  # pragma: no cover
    unittest.main()
