"""Every Slicer, CTK and Qt name the module file and its .ui use exists in Slicer v5.12.3 (the
panel cannot run here: no Slicer application). tools/slicer_api_check.py does the check against
Testing/Data/slicer-api/slicer-v5.12.3-api.json, made from the release's sources by
tools/generate_slicer_api_list.py."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import generate_slicer_api_list as generator  # noqa: E402
import slicer_api_check as api_check  # noqa: E402

MODULE = ROOT / "IAHepaticPRRT" / "IAHepaticPRRT.py"
UI = ROOT / "IAHepaticPRRT" / "Resources" / "UI" / "IAHepaticPRRT.ui"
STORED = ROOT / "Testing" / "Data" / "slicer-api" / "slicer-v5.12.3-api.json"


@pytest.fixture(scope="module")
def api():
    return api_check.StoredApi(STORED)


def test_the_list_says_where_it_came_from(api):
    data = json.loads(STORED.read_text(encoding="utf-8"))
    # The tag's commit and the CTK revision it pins (SuperBuild/External_CTK.cmake of v5.12.3).
    assert data["slicer"] == {"repository": "https://github.com/Slicer/Slicer", "tag": "v5.12.3",
                              "commit": "9034c71a8fce68ab312458b3d7d16f610562263d"}
    assert data["ctk"]["revision"] == "5056664a20a3d0a393bb6d91f040525581e0dcdf"
    assert data["qt"]["qt_version"].startswith("5.15.") and data["qt"]["pyqt_version"]
    assert data["problems_when_generated"] == []
    assert api.slicer_namespace == {"app": "qSlicerApplication", "mrmlScene": "vtkMRMLScene"}


def test_module_file_and_ui_use_only_names_that_exist_in_slicer_5_12_3(api):
    checker = api_check.check(api, MODULE, UI)
    problems = [f"{u.where}: {u.what}: {u.problem}" for u in checker.problems]
    assert problems == []
    checked = {u.what for u in checker.uses if u.ok}
    # Every kind of name is reached (a checker that follows nothing would also report no problem).
    for name in ("qMRMLCheckableNodeComboBox.checkedNodes",           # a Q_INVOKABLE method (CTK/MRML widget)
                 "qMRMLCheckableNodeComboBox.nodeFromIndex",
                 "qSlicerApplication.dicomDatabase",                   # slicer.app, through its C++ class
                 "ctkDICOMDatabase.fileForInstance", "qSlicerApplication.layoutManager",
                 "qSlicerLayoutManager.setLayout",                     # a return type followed
                 "vtkMRMLLayoutNode.SlicerLayoutFourUpPlotTableView",  # a VTK enum value
                 "vtkMRMLScene.StartCloseEvent",
                 "QProgressBar.value", "QPushButton::clicked(bool)",  # Qt property; PythonQt connect signature
                 "QDateTimeEdit.dateTimeChanged", "QDateTime.toString",
                 "slicer.util.setSliceViewerLayers(foregroundOpacity=)",  # a keyword of a Python function
                 "SampleData.SampleDataLogic.registerCustomSampleDataSource(customDownloader=)",
                 "slicer.parameterNodeWrapper.parameterNodeGuiConnector",
                 "ctkCollapsibleButton.collapsed",                     # .ui property of a CTK widget
                 "qSlicerMarkupsPlaceWidget::ForcePlaceSingleMarkup",  # .ui enum value
                 "qMRMLWidget::mrmlSceneChanged(vtkMRMLScene*)",       # .ui connection
                 "qSlicerScriptedLoadableModule.acknowledgementText",
                 "ModuleLogic.dosimetry_inputs"):                      # the package's module logic
        assert name in checked, name
    assert len(checked) >= 200


#: One misspelling of each kind: (file, exact text, misspelt text, the name the problem must show).
MISSPELLINGS = [
    ("module", "self.ui.progressBar.value =", "self.ui.progressBar.vaule =", "QProgressBar.vaule"),
    ("module", "checkedNodes()", "checkedNode()", "qMRMLCheckableNodeComboBox.checkedNode"),
    ("module", "self._widget.nodeCount()", "self._widget.nodes()", "qMRMLCheckableNodeComboBox.nodes"),
    ("module", '"clicked(bool)", self.onComputeUptake', '"clicked(boo)", self.onComputeUptake',
     "QPushButton::clicked(boo)"),
    ("module", "foregroundOpacity=0.5)", "foregroundOpacty=0.5)",
     "slicer.util.setSliceViewerLayers(foregroundOpacty=)"),
    ("module", "SlicerLayoutFourUpPlotTableView", "SlicerLayoutFourUpPlotTableVeiw",
     "vtkMRMLLayoutNode.SlicerLayoutFourUpPlotTableVeiw"),
    ("module", "database.fileForInstance(uid)", "database.fileForInstances(uid)", "ctkDICOMDatabase.fileForInstances"),
    ("module", "slicer.modules.plots.logic()", "slicer.modules.plot.logic()", "slicer.modules.plot"),
    ("module", "p.administrationTimeSet, p.administrationDateTime", "p.administrationTimeSet, p.administrationDateTme",
     "IAHepaticPRRTParameterNode.administrationDateTme"),
    ("module", "self.logic.dosimetry_inputs(", "self.logic.dosimetry_input(", "IAHepaticPRRTLogic.dosimetry_input"),
    ("module", "module.acknowledgementText", "module.acknowledgmentText",
     "qSlicerScriptedLoadableModule.acknowledgmentText"),
    ("ui", '<property name="collapsed">', '<property name="colapsed">', "ctkCollapsibleButton.colapsed"),
    ("ui", '<enum>Qt::Vertical</enum>', '<enum>Qt::Vertcal</enum>', "Qt::Vertcal"),
    ("ui", "<signal>toggled(bool)</signal>", "<signal>toggle(bool)</signal>", "QCheckBox::toggle(bool)"),
    ("ui", 'class="qMRMLCheckableNodeComboBox" name="spectVolumesSelector"',
     'class="qMRMLCheckableNodeCombobox" name="spectVolumesSelector"', "qMRMLCheckableNodeCombobox"),
]


@pytest.mark.parametrize("where, exact, misspelt, reported", MISSPELLINGS, ids=[m[3] for m in MISSPELLINGS])
def test_a_misspelt_name_fails_the_check(api, tmp_path, where, exact, misspelt, reported):
    module, ui = MODULE.read_text(encoding="utf-8"), UI.read_text(encoding="utf-8")
    if where == "module":
        assert exact in module
        module = module.replace(exact, misspelt, 1)
    else:
        assert exact in ui
        ui = ui.replace(exact, misspelt, 1)
    (tmp_path / "IAHepaticPRRT.py").write_text(module, encoding="utf-8")
    (tmp_path / "IAHepaticPRRT.ui").write_text(ui, encoding="utf-8")
    problems = api_check.check(api, tmp_path / "IAHepaticPRRT.py", tmp_path / "IAHepaticPRRT.ui").problems
    assert [p.what for p in problems][:1] == [reported], [f"{p.where}: {p.what}: {p.problem}" for p in problems]


def test_the_command_line_prints_each_problem_and_fails(tmp_path, capsys):
    module = MODULE.read_text(encoding="utf-8").replace("self.ui.progressBar.value =", "self.ui.progressBar.vaule =")
    (tmp_path / "m.py").write_text(module, encoding="utf-8")
    assert api_check.main([str(tmp_path / "m.py"), str(UI)]) == 1
    out = capsys.readouterr()
    assert "QProgressBar.vaule: no such member" in out.out and "1 problem(s)" in out.err
    assert api_check.main([]) == 0


# ---- the header parser the list is made with (literal C++, the answer written out) ------------------
HEADER = r'''
#include "x.h"
#define MACRO(a) \
  a
class qMRMLExampleWidgetPrivate;
/// A widget: see http://www.slicer.org/a//b
class QMRML_WIDGETS_EXPORT qMRMLExampleWidget : public qMRMLWidget
{
  Q_OBJECT
  Q_PROPERTY(bool noneEnabled READ noneEnabled WRITE setNoneEnabled)
  Q_PROPERTY(QStringList nodeTypes READ nodeTypes WRITE setNodeTypes)
  Q_ENUMS(Mode)
public:
  typedef qMRMLWidget Superclass;
  explicit qMRMLExampleWidget(QWidget* parent = nullptr);
  ~qMRMLExampleWidget() override;
  enum Mode { First = 0, Second, Third = 4 };
  Q_INVOKABLE vtkMRMLNode* currentNode() const;
  QList<vtkMRMLNode*> nodes() const;   // not a slot, not Q_INVOKABLE: PythonQt does not expose it
  QString url() const { return "http://www.slicer.org"; }
public slots:
  virtual void setMRMLScene(vtkMRMLScene* scene);
  void setCurrentNode(const QString& id, int index = -1);
signals:
  void currentNodeChanged(vtkMRMLNode* node);
  void checked(bool);
protected:
  void hidden();
private:
  Q_DECLARE_PRIVATE(qMRMLExampleWidget);
};
'''

VTK_HEADER = r'''
class VTK_MRML_EXPORT vtkMRMLExampleNode : public vtkMRMLNode
{
public:
  static vtkMRMLExampleNode* New();
  vtkTypeMacro(vtkMRMLExampleNode, vtkMRMLNode);
  vtkGetMacro(Opacity, double);
  vtkSetClampMacro(Opacity, double, 0.0, 1.0);
  vtkBooleanMacro(Visibility, int);
  enum { StartEvent = 0x2000, EndEvent };
  vtkMRMLNode* GetReferencedNode();
  const char* GetLabel() { return "//"; }
protected:
  void Hidden();
};
'''


def test_header_parser_on_a_qobject_widget():
    info = generator.parse_cpp_class(HEADER, "qMRMLExampleWidget", "Libs/qMRMLExampleWidget.h", "slicer")
    assert info.bases == ["qMRMLWidget"] and info.qobject and info.header == "qMRMLExampleWidget.h"
    assert info.properties == {"noneEnabled": "bool", "nodeTypes": "QStringList"}
    assert info.slots == ["setMRMLScene(vtkMRMLScene*)", "setCurrentNode(QString,int)"]
    assert info.signals == ["currentNodeChanged(vtkMRMLNode*)", "checked(bool)"]
    assert info.members == {"First": "", "Second": "", "Third": "", "currentNode": "vtkMRMLNode",
                            "setMRMLScene": "", "setCurrentNode": "", "currentNodeChanged": "", "checked": ""}


def test_header_parser_on_a_vtk_class():
    info = generator.parse_cpp_class(VTK_HEADER, "vtkMRMLExampleNode", "vtkMRMLExampleNode.h", "slicer")
    assert info.bases == ["vtkMRMLNode"] and not info.qobject
    assert set(info.members) == {"New", "IsA", "IsTypeOf", "SafeDownCast", "NewInstance", "GetOpacity", "SetOpacity",
                                 "VisibilityOn", "VisibilityOff", "StartEvent", "EndEvent", "GetReferencedNode",
                                 "GetLabel"}
    assert info.members["GetReferencedNode"] == "vtkMRMLNode" and info.members["New"] == "vtkMRMLExampleNode"


def test_signatures_are_normalised_as_qt_does():
    assert api_check.normalise_signature("f", "const QString& text, vtkMRMLNode * node = nullptr, bool") == \
        "f(QString,vtkMRMLNode*,bool)"
    assert api_check.normalise_signature("g", "QList<vtkMRMLNode*> nodes, unsigned int n") == \
        "g(QList<vtkMRMLNode*>,unsigned int)"


@pytest.mark.skipif(not os.environ.get("IAHPRRT_SLICER_API_SOURCES"),
                    reason="needs clones of Slicer, CTK and PythonQt and a Python with PyQt5: set "
                           "IAHPRRT_SLICER_API_SOURCES=slicer_git:ctk_git:pythonqt_git:pyqt_python")
def test_the_stored_list_is_what_the_sources_give(tmp_path):
    import argparse

    slicer, ctk, pythonqt, pyqt_python = os.environ["IAHPRRT_SLICER_API_SOURCES"].split(":")
    args = argparse.Namespace(slicer=slicer, tag="v5.12.3", ctk=ctk, pythonqt=pythonqt,
                              pythonqt_revision="patched-10", pyqt_python=pyqt_python)
    generator.write(generator.generate(args), tmp_path / "list.json")
    assert (tmp_path / "list.json").read_text(encoding="utf-8") == STORED.read_text(encoding="utf-8")
