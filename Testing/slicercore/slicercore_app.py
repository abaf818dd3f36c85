"""A Slicer application's core, built from the ``slicer-core`` wheel, for the module's tests.

``slicer-core`` is Kitware's build of Slicer's MRML, MRML logic, displayable
managers and the loadable modules' logic (no Qt, no ``slicer.app``). This file
sets up what ``qSlicerCoreApplication`` and the core modules' ``setup()`` set up
in a real Slicer, from those real classes:

* one ``vtkMRMLScene`` with the default crosshair node (qSlicerCoreApplication::setMRMLScene),
* a ``vtkSlicerApplicationLogic`` on it (it adds the selection and interaction
  singletons), with collections for slice and view logics, known to both
  displayable-manager factories,
* the module logics registered the way ``qSlicerAbstractCoreModule`` does
  (``SetMRMLApplicationLogic``, ``SetMRMLScene``, then
  ``vtkMRMLApplicationLogic::SetModuleLogic(moduleName, logic)``): Colors
  (also the application logic's colour logic), Volumes, Segmentations,
  Markups, Transforms, SubjectHierarchy, Terminologies, Data,
* the default slice orientation presets (``vtkMRMLSliceNode::AddDefaultSliceOrientationPresets``).

The stand-ins below are the parts that the Qt application provides and the
core lacks; none of them imitates MRML:

* ``slicer.mrmlScene``, ``slicer.app.applicationLogic()`` and
  ``slicer.modules.<name>.logic()`` return the *real* objects above;
  ``slicer.app.processEvents()`` runs only what a test ``post``-ed (a user's
  action arriving while the module waits for its worker: Cancel, Reset, a
  second click); the MRML events are synchronous anyway;
  ``slicer.app.testingEnabled()`` is True;
  ``pauseRender``/``resumeRender`` count (no layout manager's views to pause);
* ``qt`` and ``ctk`` are modules with no content: any use raises, so a test
  that reaches Qt code fails loudly instead of passing on a fake;
* the pure-Python layer of Slicer's application that the module imports:
  ``slicer.i18n`` (``tr``/``translate`` return the source text),
  ``slicer.ScriptedLoadableModule`` (the logic's ``getParameterNode`` makes the
  module's singleton ``vtkMRMLScriptedModuleNode`` as Slicer's does; the test
  base class is a ``unittest.TestCase`` whose ``delayDisplay`` logs) and
  ``slicer.parameterNodeWrapper`` (typed fields stored on that real node:
  node fields as node references, the others as parameters).

Learnt from how trame-slicer (Apache-2.0) builds its application from these
libraries and from Slicer's qSlicerCoreApplication; written for this project.
"""

import logging
import os
import sys
import tempfile
import types
import typing
import unittest

import numpy as np
import slicer
import vtk

logger = logging.getLogger(__name__)

#: (name Slicer registers the logic under, slicer-core class). The names are the modules' names,
#: which is what ``slicer.modules.<lower-case name>`` and ``GetModuleLogic`` use in Slicer.
MODULE_LOGICS = (
    ("Colors", "vtkSlicerColorLogic"),
    ("Volumes", "vtkSlicerVolumesLogic"),
    ("Terminologies", "vtkSlicerTerminologiesModuleLogic"),
    ("SubjectHierarchy", "vtkSlicerSubjectHierarchyModuleLogic"),
    ("Segmentations", "vtkSlicerSegmentationsModuleLogic"),
    ("Markups", "vtkSlicerMarkupsLogic"),
    ("Transforms", "vtkSlicerTransformLogic"),
    ("Data", "vtkSlicerDataModuleLogic"),
)


class CoreApplication:
    """The scene, the application logic and the module logics of a Slicer application (no Qt)."""

    def __init__(self):
        self.scene = slicer.vtkMRMLScene()
        crosshair = slicer.vtkMRMLCrosshairNode()
        crosshair.SetCrosshairName("default")
        self.scene.AddNode(crosshair)

        self.applicationLogic = slicer.vtkSlicerApplicationLogic()
        self.applicationLogic.SetMRMLScene(self.scene)
        self.applicationLogic.SetSliceLogics(vtk.vtkCollection())
        self.applicationLogic.SetViewLogics(vtk.vtkCollection())
        for factory in (slicer.vtkMRMLSliceViewDisplayableManagerFactory,
                        slicer.vtkMRMLThreeDViewDisplayableManagerFactory):
            factory.GetInstance().SetMRMLApplicationLogic(self.applicationLogic)

        # The terminologies' JSON files are in Slicer's share directory, which the wheel does not
        # ship: the logic is registered with an empty one (it logs that it found no terminology).
        self._share = tempfile.TemporaryDirectory(prefix="slicercore-share-")
        self.logics = {}
        for name, className in MODULE_LOGICS:
            logic = getattr(slicer, className)()
            if name == "Terminologies":
                logic.SetModuleShareDirectory(self._share.name)
                vtk.vtkLogger.SetStderrVerbosity(vtk.vtkLogger.VERBOSITY_OFF)
            try:
                logic.SetMRMLApplicationLogic(self.applicationLogic)
                logic.SetMRMLScene(self.scene)
            finally:
                vtk.vtkLogger.SetStderrVerbosity(vtk.vtkLogger.VERBOSITY_WARNING)
            self.applicationLogic.SetModuleLogic(name, logic)
            self.logics[name] = logic
        self.applicationLogic.SetColorLogic(self.logics["Colors"])  # qSlicerColorsModule::setup

        slicer.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(self.scene)

    def logic(self, name):
        """The registered logic of a module, as Slicer's ``GetModuleLogic`` returns it."""
        return self.applicationLogic.GetModuleLogic(name)

    def interactionNode(self):
        return self.applicationLogic.GetInteractionNode()

    def selectionNode(self):
        return self.applicationLogic.GetSelectionNode()


class _Module:
    """``slicer.modules.<name>``: only ``logic()``, the real registered logic."""

    def __init__(self, application, name):
        self._application, self._name = application, name

    def logic(self):
        return self._application.logic(self._name)


class _Application:
    """``slicer.app`` without Qt: the application logic; no event loop to process."""

    def __init__(self, application):
        self._application = application
        self.renderPaused = 0
        self.posted = []

    def applicationLogic(self):
        return self._application.applicationLogic

    def mrmlScene(self):
        return self._application.scene

    def processEvents(self, *args):
        """Qt's event loop, reduced to what a test queues with ``post`` (a user's action arriving while the
        module waits for its worker); MRML/VTK events themselves are synchronous and never queued."""
        while self.posted:
            self.posted.pop(0)()

    def post(self, action):
        """Queue `action` (a callable) for the next processEvents, as Qt queues a click or a key press."""
        self.posted.append(action)

    @staticmethod
    def testingEnabled():
        return True

    def pauseRender(self):
        """qSlicerApplication pauses the layout's views; here no view renders unless a test renders it."""
        self.renderPaused += 1

    def resumeRender(self):
        if self.renderPaused <= 0:
            raise RuntimeError("resumeRender without pauseRender")
        self.renderPaused -= 1


class _NoQt(types.ModuleType):
    """``qt`` / ``ctk``: importable (the module imports them at the top), unusable."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise RuntimeError(f"{self.__name__}.{name} is Qt: the slicer-core test environment has no Qt")


# --- Slicer's application-side Python that the module imports ---------------------------------------------

def _tr(text):
    return text


def _translate(context, text):
    return text


class ScriptedLoadableModule:
    """Only what the tests touch: the module class needs Qt (icons) to be instantiated."""

    def __init__(self, parent):
        raise RuntimeError("ScriptedLoadableModule needs qSlicerScriptedLoadableModule (Qt)")


class ScriptedLoadableModuleWidget:
    def __init__(self, parent=None):
        raise RuntimeError("ScriptedLoadableModuleWidget needs Qt")


class ScriptedLoadableModuleLogic:
    """The logic base class: its parameter node is the module's singleton vtkMRMLScriptedModuleNode."""

    def __init__(self, parent=None):
        name = type(self).__name__
        self.moduleName = name[:-len("Logic")] if name.endswith("Logic") else name

    def getParameterNode(self):
        scene = slicer.mrmlScene
        node = scene.GetSingletonNode(self.moduleName, "vtkMRMLScriptedModuleNode")
        if node is None:
            node = scene.CreateNodeByClass("vtkMRMLScriptedModuleNode")
            node.UnRegister(None)
            node.SetSingletonTag(self.moduleName)
            node.SetModuleName(self.moduleName)
            node.SetName(scene.GenerateUniqueName(self.moduleName))
            scene.AddNode(node)
        return node


class ScriptedLoadableModuleTest(unittest.TestCase):
    """The self-test base class: ``delayDisplay`` logs (no Qt to show a message)."""

    def delayDisplay(self, message, msec=None):
        logger.info(message)

    def runTest(self):  # pragma: no cover - subclasses define it
        pass


class Choice:
    def __init__(self, choices):
        self.choices = list(choices)


class WithinRange:
    def __init__(self, minimum, maximum):
        self.minimum, self.maximum = minimum, maximum


def parameterNodeWrapper(cls):
    """Typed fields on a vtkMRMLScriptedModuleNode: MRML nodes as references, other values as parameters."""
    hints = typing.get_type_hints(cls, include_extras=True)

    def field(name, hint):
        validators = list(getattr(hint, "__metadata__", ()))
        kind = typing.get_origin(hint) is typing.Annotated and typing.get_args(hint)[0] or hint
        default = getattr(cls, name, None)
        isNode = isinstance(kind, type) and issubclass(kind, slicer.vtkMRMLNode)

        def get(self):
            node = self.parameterNode
            if isNode:
                return node.GetNodeReference(name)
            text = node.GetParameter(name)
            if text == "":
                return default
            return text == "True" if kind is bool else kind(text)

        def set_(self, value):
            node = self.parameterNode
            if isNode:
                if value is not None and not isinstance(value, kind):
                    raise TypeError(f"{name} must be a {kind.__name__}, not {type(value).__name__}")
                node.SetNodeReferenceID(name, value.GetID() if value is not None else None)
                return
            value = kind(value)
            for validator in validators:
                if isinstance(validator, Choice) and value not in validator.choices:
                    raise ValueError(f"{name} must be one of {validator.choices}, not {value!r}")
                if isinstance(validator, WithinRange) and not validator.minimum <= value <= validator.maximum:
                    raise ValueError(f"{name} must be within [{validator.minimum}, {validator.maximum}]")
            node.SetParameter(name, str(value))

        return property(get, set_)

    def __init__(self, parameterNode):
        self.parameterNode = parameterNode

    namespace = {name: field(name, hint) for name, hint in hints.items()}
    namespace["__init__"] = __init__
    return type(cls.__name__, (), namespace)


_STANDIN_MODULES = {
    "slicer.i18n": {"tr": _tr, "translate": _translate},
    "slicer.ScriptedLoadableModule": {
        "ScriptedLoadableModule": ScriptedLoadableModule,
        "ScriptedLoadableModuleWidget": ScriptedLoadableModuleWidget,
        "ScriptedLoadableModuleLogic": ScriptedLoadableModuleLogic,
        "ScriptedLoadableModuleTest": ScriptedLoadableModuleTest,
    },
    "slicer.parameterNodeWrapper": {"parameterNodeWrapper": parameterNodeWrapper, "Choice": Choice,
                                    "WithinRange": WithinRange},
}


def install(application):
    """Make ``import slicer`` look like it does inside Slicer, with this application's real objects."""
    slicer.mrmlScene = application.scene
    slicer.app = _Application(application)
    slicer.modules = types.SimpleNamespace(**{name.lower(): _Module(application, name)
                                              for name, _cls in MODULE_LOGICS})
    for name in ("qt", "ctk"):
        sys.modules.setdefault(name, _NoQt(name))
    for dotted, names in _STANDIN_MODULES.items():
        module = types.ModuleType(dotted)
        module.__dict__.update(names)
        sys.modules[dotted] = module
        setattr(slicer, dotted.split(".", 1)[1], module)


def importModule():
    """Import MIDeepSeg/MIDeepSeg.py as Slicer does (by path; ``MIDeepSeg`` is also a folder name)."""
    import importlib.util

    if "MIDeepSeg" in sys.modules and hasattr(sys.modules["MIDeepSeg"], "MIDeepSegLogic"):
        return sys.modules["MIDeepSeg"]
    path = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "MIDeepSeg", "MIDeepSeg.py")
    spec = importlib.util.spec_from_file_location("MIDeepSeg", os.path.abspath(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules["MIDeepSeg"] = module
    spec.loader.exec_module(module)
    return module


def offscreenRenderingProblem():
    """None when VTK can render off-screen here (EGL or OSMesa), else why not.

    Tried in a child process: without an off-screen context VTK aborts the process, which must not take
    the test session with it.
    """
    import subprocess

    probe = ("import vtk; w = vtk.vtkRenderWindow(); w.SetOffScreenRendering(1); w.SetSize(8, 8); "
             "w.AddRenderer(vtk.vtkRenderer()); w.Render(); print(w.GetClassName())")
    try:
        result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return "VTK's off-screen render window did not answer within 120 s"
    if result.returncode != 0:
        return "VTK cannot render off-screen here (no EGL/OSMesa context): " + result.stderr.strip()[-300:]
    return None


class SliceView:
    """One slice view rendered off-screen, as qMRMLSliceWidget assembles it: render window and
    interactor, slice logic (registered with the application logic), the Markups (and crosshair)
    displayable managers, and the slice view interactor style that routes the interactor's events
    to them. ``mouseMove`` / ``click`` / ``leave`` send the events a user's mouse sends.
    """

    DISPLAYABLE_MANAGERS = ("vtkMRMLCrosshairDisplayableManager", "vtkMRMLMarkupsDisplayableManager")

    def __init__(self, application, name="Red", orientation="Axial", size=(400, 300)):
        self.application = application
        self.renderWindow = vtk.vtkRenderWindow()
        self.renderWindow.SetOffScreenRendering(1)
        self.renderWindow.SetSize(*size)
        self.renderer = vtk.vtkRenderer()
        self.renderer.GetActiveCamera().ParallelProjectionOn()
        self.renderWindow.AddRenderer(self.renderer)
        self.interactor = vtk.vtkRenderWindowInteractor()
        self.interactor.SetRenderWindow(self.renderWindow)
        self.interactor.Initialize()

        factory = slicer.vtkMRMLSliceViewDisplayableManagerFactory.GetInstance()
        for manager in self.DISPLAYABLE_MANAGERS:
            if not factory.IsDisplayableManagerRegistered(manager):
                factory.RegisterDisplayableManager(manager)
        self.displayableManagers = slicer.vtkMRMLDisplayableManagerGroup()
        self.displayableManagers.SetRenderer(self.renderer)
        self.displayableManagers.Initialize(factory, self.renderer)

        self.sliceLogic = slicer.vtkMRMLSliceLogic()
        self.sliceLogic.SetMRMLApplicationLogic(application.applicationLogic)
        application.applicationLogic.GetSliceLogics().AddItem(self.sliceLogic)
        self.sliceLogic.SetMRMLScene(application.scene)
        self.sliceNode = self.sliceLogic.AddSliceNode(name)
        self.sliceNode.SetOrientation(orientation)
        self.displayableManagers.SetMRMLDisplayableNode(self.sliceNode)

        self.style = slicer.vtkMRMLSliceViewInteractorStyle()
        self.style.SetSliceLogic(self.sliceLogic)
        self.style.SetDisplayableManagers(self.displayableManagers)
        self.interactor.SetInteractorStyle(vtk.vtkInteractorStyleUser())
        self.style.SetInteractor(self.interactor)
        self.sliceLogic.ResizeSliceNode(*size)

    def close(self):
        self.style.SetInteractor(None)
        self.displayableManagers.SetMRMLDisplayableNode(None)
        self.application.applicationLogic.GetSliceLogics().RemoveItem(self.sliceLogic)
        self.sliceLogic.SetMRMLScene(None)
        self.renderWindow.Finalize()

    def showVolume(self, volumeNode):
        """The volume as the background layer, fitted to the view."""
        if volumeNode.GetDisplayNode() is None:
            volumeNode.CreateDefaultDisplayNodes()
        self.sliceLogic.GetSliceCompositeNode().SetBackgroundVolumeID(volumeNode.GetID())
        self.sliceLogic.FitSliceToBackground()
        self.render()

    def render(self):
        self.renderWindow.Render()

    def jumpTo(self, ras):
        """Move the slice through this RAS point (the user scrolls to the slice of a point)."""
        self.sliceNode.JumpSliceByOffsetting(*ras)

    def displayPosition(self, ras):
        """Display (x, y) pixel of a RAS point on the current slice (inverse of the slice node's XYToRAS)."""
        rasToXY = vtk.vtkMatrix4x4()
        vtk.vtkMatrix4x4.Invert(self.sliceNode.GetXYToRAS(), rasToXY)
        xy = rasToXY.MultiplyPoint([*ras, 1.0])
        return int(round(xy[0])), int(round(xy[1]))

    def pixelSize(self):
        """mm per display pixel."""
        xyToRAS = self.sliceNode.GetXYToRAS()
        return float(np.linalg.norm([xyToRAS.GetElement(row, 0) for row in range(3)]))

    def rasAt(self, x, y):
        return self.sliceNode.GetXYToRAS().MultiplyPoint([x, y, 0.0, 1.0])[:3]

    def mouseMove(self, x, y):
        self.interactor.SetEventInformation(int(x), int(y), 0, 0)
        self.interactor.MouseMoveEvent()

    def click(self, x, y):
        """Move there, press and release the left button (a click without dragging)."""
        self.mouseMove(x, y)
        self.interactor.LeftButtonPressEvent()
        self.interactor.LeftButtonReleaseEvent()

    def leave(self):
        self.interactor.LeaveEvent()


def placeMode(application, markupsNode, persistent=True):
    """Place mode for this point list, as qSlicerMarkupsPlaceWidget sets it (selection + interaction node)."""
    selection = application.selectionNode()
    selection.SetReferenceActivePlaceNodeClassName(markupsNode.GetClassName())
    selection.SetActivePlaceNodeID(markupsNode.GetID())
    interaction = application.interactionNode()
    interaction.SetPlaceModePersistence(1 if persistent else 0)
    interaction.SetCurrentInteractionMode(slicer.vtkMRMLInteractionNode.Place)
