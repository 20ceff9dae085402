"""The MRML scene that module code works on, inside Slicer or headless.

Inside Slicer, the application's scene and module logics are used as they are. Without Slicer,
:func:`start_headless_host` builds an equivalent from the ``slicer-core`` wheel (the order follows
docs/architecture.md, "The headless host"): a scene, the application logic, Colors with its default color
nodes, then the Volumes, Segmentations, SubjectHierarchy, Tables, Plots and Data logics, exposed
as ``slicer.mrmlScene`` and ``slicer.modules.<name>.logic()`` where ``slicer.util`` looks for them.

Terminologies are left out: slicer-core ships no ``*.term.json`` files, and nothing here needs them.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field

_HOST = None

#: Module name in slicer.modules -> (logic class name, name given to SetModuleLogic).
MODULE_LOGICS = {
    "volumes": ("vtkSlicerVolumesLogic", "Volumes"),
    "segmentations": ("vtkSlicerSegmentationsModuleLogic", "Segmentations"),
    "subjecthierarchy": ("vtkSlicerSubjectHierarchyModuleLogic", "SubjectHierarchy"),
    "tables": ("vtkSlicerTablesLogic", "Tables"),
    "plots": ("vtkSlicerPlotsLogic", "Plots"),
    "data": ("vtkSlicerDataModuleLogic", "Data"),
}


class _ModuleEntry:
    """What ``slicer.modules.<name>`` is to module code: something with a ``logic()``."""

    def __init__(self, logic):
        self._logic = logic

    def logic(self):
        return self._logic


@dataclass
class Host:
    scene: object
    application_logic: object | None
    logics: dict = field(default_factory=dict)
    in_slicer: bool = False

    def logic(self, name: str):
        return self.logics[name]


def running_in_slicer() -> bool:
    """True inside the Slicer application (GUI or ``--no-main-window``)."""
    try:
        import slicer
    except ImportError:
        return False
    return getattr(slicer, "app", None) is not None and hasattr(slicer.app, "applicationLogic")


def start_headless_host() -> Host:
    """Build (once per process) a real MRML scene with Slicer's module logics, from slicer-core."""
    global _HOST
    if _HOST is not None:
        return _HOST
    try:
        import slicer
        import vtk
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("the headless MRML host needs the 'headless' extra: "
                           "pip install 'iahepaticprrt[headless]'") from exc

    scene = slicer.vtkMRMLScene()
    crosshair = slicer.vtkMRMLCrosshairNode()
    crosshair.SetName("default")
    crosshair.SetSingletonTag("default")
    scene.AddNode(crosshair)
    app_logic = slicer.vtkSlicerApplicationLogic()
    app_logic.SetMRMLScene(scene)

    # Colors: without Slicer's ColorFiles folder it logs that it cannot find them; that only means
    # label maps get a procedural color table, so keep that message out of the user's terminal.
    warnings_were_shown = vtk.vtkObject.GetGlobalWarningDisplay()
    vtk.vtkObject.GlobalWarningDisplayOff()
    try:
        colors = slicer.vtkSlicerColorLogic()
        colors.SetMRMLApplicationLogic(app_logic)
        colors.SetMRMLScene(scene)
        app_logic.SetColorLogic(colors)
        app_logic.SetModuleLogic("Colors", colors)
        colors.AddDefaultColorNodes()
    finally:
        vtk.vtkObject.SetGlobalWarningDisplay(warnings_were_shown)

    logics = {"colors": colors}
    for module_name, (class_name, logic_name) in MODULE_LOGICS.items():
        logic = getattr(slicer, class_name)()
        logic.SetMRMLApplicationLogic(app_logic)
        logic.SetMRMLScene(scene)
        app_logic.SetModuleLogic(logic_name, logic)
        logics[module_name] = logic

    slicer.mrmlScene = scene
    modules = getattr(slicer, "modules", None)
    if modules is None or isinstance(modules, types.SimpleNamespace):
        modules = types.SimpleNamespace()
        slicer.modules = modules
    for name, logic in logics.items():
        setattr(modules, name, _ModuleEntry(logic))
    _HOST = Host(scene, app_logic, logics, in_slicer=False)
    return _HOST


def current_host() -> Host:
    """The host module code should use: Slicer's own inside Slicer, else the headless one."""
    if running_in_slicer():
        import slicer

        logics = {name: getattr(slicer.modules, name).logic() for name in MODULE_LOGICS
                  if hasattr(slicer.modules, name)}
        return Host(slicer.mrmlScene, slicer.app.applicationLogic(), logics, in_slicer=True)
    return start_headless_host()


def new_scene_content(host: Host) -> None:
    """Remove every data node (keeps singletons and color tables): a fresh start for a test."""
    host.scene.Clear(False)
