"""MIDeepSeg: minimally interactive segmentation in 3D Slicer (Luo et al., Medical Image Analysis, 2021).

The module is a thin adapter: it turns MRML nodes (a volume, a segment and three
point lists) into numpy arrays and voxel coordinates, drives
``MIDeepSegLib.Segmenter`` and writes the mask back into the segment. The maths
(cue maps, CNN, information fusion, graph cut, coordinate conversions) lives in
MIDeepSegLib, which never imports Slicer; so do the interaction decisions (which
points changed, when to update, what a mode switch or a scene close does, busy and
cancel: ``MIDeepSegLib.interaction``), tested there on Slicer's event sequences.
"""

import contextlib
import functools
import importlib
import importlib.metadata
import importlib.util
import logging
import os
import sys
import time
from typing import Annotated

import numpy as np
import qt
import slicer
import vtk
from slicer import vtkMRMLMarkupsFiducialNode, vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

_MODULE_DIR = os.path.dirname(os.path.abspath(__file__))
LIBRARY = "MIDeepSegLib"


def _addLibraryToPath():
    """Make MIDeepSegLib importable: installed next to this file, or at the repository's top level."""
    for root in (_MODULE_DIR, os.path.dirname(_MODULE_DIR)):
        if os.path.isfile(os.path.join(root, "MIDeepSegLib", "__init__.py")):
            if root not in sys.path:
                sys.path.insert(0, root)
            return


_addLibraryToPath()
from MIDeepSegLib import geometry, settings  # numpy only: importing MIDeepSegLib never imports torch
from MIDeepSegLib.interaction import (
    TORCH_MINIMUM,
    Busy,
    BusyError,
    ClickHistory,
    SessionKey,
    UpdateGate,
    WatchedLists,
    event_point_index,
    mode_switch,
    modifier_role,
    same_session,
    same_target,
    scene_closed,
    setting_bool,
    version_at_least,
)
from MIDeepSegLib.session import ClickSession

logger = logging.getLogger(__name__)


def resourcePath(relativePath):
    """A resource in ``Resources/`` next to this file (installed) or in ``../Resources/`` (source tree)."""
    for base in (_MODULE_DIR, os.path.dirname(_MODULE_DIR)):
        candidate = os.path.join(base, "Resources", relativePath)
        if os.path.exists(candidate):
            return candidate
    return os.path.join(_MODULE_DIR, "Resources", relativePath)


MODES = ("3D", "2D")
#: The shipped weights of each mode, in Resources/Models.
MODEL_FILES = {"3D": "mideepseg_3d.pt", "2D": "mideepseg_2d.pt"}
#: Clicks update the mask on their own from this many interior margin points on (the paper
#: simulates 3-4 boundary points for 2D objects and 5-6 for 3D ones, Section 2.1).
AUTO_RUN_MIN_POINTS = {"3D": 5, "2D": 3}
PROGRESS_DIALOG_DELAY_S = 2.0
#: role -> (node name, colour)
POINT_LISTS = {
    "interior": ("MIDeepSeg interior margin points", (1.0, 0.8, 0.1)),
    "foreground": ("MIDeepSeg foreground clicks", (0.2, 0.85, 0.3)),
    "background": ("MIDeepSeg background clicks", (0.95, 0.25, 0.25)),
}
SHORTCUTS = (  # key, widget method, what it does
    ("i", "placeInterior", _("place interior margin points")),
    ("p", "placeForeground", _("place foreground (positive) clicks")),
    ("n", "placeBackground", _("place background (negative) clicks")),
    ("z", "onUndoButton", _("undo the last click")),
    ("s", "onSegmentButton", _("segment now")),
    ("Shift+N", "onNextSegmentButton", _("keep this segment and start the next one")),
)
#: Application settings (qt.QSettings), remembered across scenes and sessions.
SETTING_DEVICE = "MIDeepSeg/Device"
SETTING_AUTO_UPDATE = "MIDeepSeg/AutoUpdate"
SETTING_SHORTCUTS = "MIDeepSeg/Shortcuts"
#: Attribute that marks the segmentations this module created (only those get their geometry set).
CREATED_ATTRIBUTE = "MIDeepSeg.CreatedByModule"


def shippedModelPath(mode):
    return resourcePath(os.path.join("Models", MODEL_FILES[mode]))


def torchInstalled():
    return importlib.util.find_spec("torch") is not None


def torchVersion():
    """The installed torch's version, read from its metadata (torch is not imported), or None."""
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None


def createSegmenter(image, spacing, model, device, lam, sigma):
    """The logic's default Segmenter factory (imports torch).

    The device is tried once with the loaded model: "auto" falls back to the
    CPU where the model does not run on the accelerator (MPS and the 3D network).
    """
    from MIDeepSegLib import Segmenter
    from MIDeepSegLib._device import checked_device

    segmenter = Segmenter(image, spacing=spacing, model=model, device=device, lam=lam, sigma=sigma)
    usable = checked_device(device, segmenter.network, segmenter.config.in_channels, segmenter.config.input_size)
    if usable != segmenter.device:
        segmenter = Segmenter(image, spacing=spacing, model=model, device=str(usable), lam=lam, sigma=sigma)
    return segmenter


def _renderBlocked():
    """slicer.util.RenderBlocker where views render (slicer.app); nothing to pause without them (slicer-core)."""
    application = getattr(slicer, "app", None)
    return slicer.util.RenderBlocker() if hasattr(application, "pauseRender") else contextlib.nullcontext()


#
# Module
#


class MIDeepSeg(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("MIDeepSeg")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
        self.parent.dependencies = ["Markups", "Segmentations"]
        self.parent.contributors = ["MIDeepSeg contributors"]
        keys = "".join(f"<li><b>{key}</b>: {text}</li>" for key, _method, text in SHORTCUTS)
        self.parent.helpText = _(
            "Minimally interactive segmentation. Click a few <b>interior margin points</b> (inside the object, "
            "near its boundary, all around it) in any slice view, then <b>foreground</b> or <b>background</b> "
            "clicks where the mask is wrong; Shift+click and Ctrl+click in a slice view add a foreground or a "
            "background click whatever list is active. 3D mode segments the volume; 2D mode segments the slice "
            "you click on (the view is turned to the volume's nearest slice plane). Shortcuts while the module "
            "is open (can be turned off under Advanced):<ul>{keys}</ul>"
            '<a href="https://github.com/mideepseg/SlicerMIDeepSeg">Documentation</a>').format(keys=keys)
        self.parent.acknowledgementText = _(
            "Method: X. Luo, G. Wang et al., MIDeepSeg: Minimally interactive segmentation of unseen objects "
            "from medical images using deep learning. Medical Image Analysis, 2021.")
        iconPath = resourcePath("Icons/MIDeepSeg.png")
        if os.path.isfile(iconPath):
            self.parent.icon = qt.QIcon(iconPath)

    def resourcePath(self, filename):
        return resourcePath(filename)


#
# Parameter node
#


@parameterNodeWrapper
class MIDeepSegParameterNode:
    inputVolume: vtkMRMLScalarVolumeNode
    segmentationNode: vtkMRMLSegmentationNode
    segmentID: str = ""
    interiorPoints: vtkMRMLMarkupsFiducialNode
    foregroundPoints: vtkMRMLMarkupsFiducialNode
    backgroundPoints: vtkMRMLMarkupsFiducialNode
    mode: Annotated[str, Choice(list(MODES))] = "3D"
    modelPath3D: str = ""  # empty: the shipped weights of the mode
    modelPath2D: str = ""
    lam: Annotated[float, WithinRange(0.0, 50.0)] = settings.LAM
    sigma: Annotated[float, WithinRange(0.01, 1.0)] = settings.SIGMA


def modelPathOf(parameterNode, mode):
    """The checkpoint of a mode: the user's choice under Advanced, else the shipped weights."""
    return getattr(parameterNode, "modelPath" + mode) or shippedModelPath(mode)


def _setting(key, default):
    return qt.QSettings().value(key, default)


def _setSetting(key, value):
    qt.QSettings().setValue(key, value)


#
# Widget
#


class MIDeepSegWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._watched = WatchedLists()
        self._gate = UpdateGate(AUTO_RUN_MIN_POINTS)
        self._history = ClickHistory()
        self._shortcuts = []
        self._connections = []  # (widget, signal, slot) made in setup, undone in cleanup
        self._sliceViewObservations = []  # (interactor, tag) of the modifier-click observers
        self._sliceNode = None  # the view of the current 2D session
        self._clickView = None  # the view of a modifier-click being placed
        self._mode = None  # the mode the clicks were made in
        self._suppressUpdates = False
        self._dragging = False
        self._updateTimer = None

    def resourcePath(self, filename):
        return resourcePath(filename)  # installed and source-tree layouts

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/MIDeepSeg.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = MIDeepSegLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.NodeRemovedEvent, self.onNodeRemoved)
        self.ui.autoUpdateCheckBox.checked = setting_bool(_setting(SETTING_AUTO_UPDATE, True), True)
        self.ui.shortcutsCheckBox.checked = setting_bool(_setting(SETTING_SHORTCUTS, True), True)
        for widget, signal, slot in (
                (self.ui.segmentSelector, "currentNodeChanged(vtkMRMLNode*)", self.onSegmentationChanged),
                (self.ui.segmentSelector, "currentSegmentChanged(QString)", self.onSegmentChanged),
                (self.ui.modelPathLineEdit, "currentPathChanged(QString)", self.onModelPathChanged),
                (self.ui.deviceComboBox, "currentIndexChanged(int)", self.onDeviceChanged),
                (self.ui.autoUpdateCheckBox, "toggled(bool)", self.onAutoUpdateToggled),
                (self.ui.shortcutsCheckBox, "toggled(bool)", self.onShortcutsToggled),
                (self.ui.segmentButton, "clicked(bool)", self.onSegmentButton),
                (self.ui.undoButton, "clicked(bool)", self.onUndoButton),
                (self.ui.resetButton, "clicked(bool)", self.onResetButton),
                (self.ui.nextSegmentButton, "clicked(bool)", self.onNextSegmentButton)):
            widget.connect(signal, slot)
            self._connections.append((widget, signal, slot))
        for placeWidget in self._placeWidgets():
            placeWidget.setPlaceMultipleMarkups(slicer.qSlicerMarkupsPlaceWidget.ForcePlaceMultipleMarkups)

        self._updateTimer = qt.QTimer()
        self._updateTimer.setSingleShot(True)
        self._updateTimer.setInterval(50)
        self._updateTimer.connect("timeout()", self._onUpdateTimer)
        self._connections.append((self._updateTimer, "timeout()", self._onUpdateTimer))
        self._refreshDevices()
        self.initializeParameterNode()

    def cleanup(self):
        """Undo everything setup() and enter() did (Reload creates a new widget; the old one must go quiet)."""
        if self.logic:
            self.logic.busyFlag.cancel()
        if self._updateTimer is not None:
            self._updateTimer.stop()
        for widget, signal, slot in self._connections:
            widget.disconnect(signal, slot)
        self._connections = []
        self._leavePlaceMode()
        self._removeShortcuts()
        self._removeSliceViewObservers()
        self.setParameterNode(None)
        self._observePointLists(())
        self.removeObservers()
        if self.logic:
            self.logic.shutdown()

    def onReload(self):
        """Reload MIDeepSegLib too (Slicer reloads only this file): drop it from sys.modules first."""
        for name in [n for n in sys.modules if n == LIBRARY or n.startswith(LIBRARY + ".")]:
            del sys.modules[name]
        ScriptedLoadableModuleWidget.onReload(self)

    def enter(self):
        self.initializeParameterNode()
        if self.ui.shortcutsCheckBox.checked:
            self._installShortcuts()
        self._observeSliceViews()
        self._refreshDevices()

    def exit(self):
        self._leavePlaceMode()
        self._removeShortcuts()
        self._removeSliceViewObservers()
        self.setParameterNode(None)

    def onSceneStartClose(self, caller, event):
        action = scene_closed()
        self.logic.busyFlag.cancel()
        if action.end_session:
            self.logic.resetSession(restore=action.restore)
        if action.drop_spare:
            self.logic.dropSpareSegmenter()
        if action.forget_history:
            self._history.clear()
        if action.forget_lists:
            self._observePointLists(())
        self._gate.forget()
        self._sliceNode = self._mode = None
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event):
        if self.parent.isEntered:
            self.initializeParameterNode()

    @vtk.calldata_type(vtk.VTK_OBJECT)
    def onNodeRemoved(self, caller, event, node):
        """A removed volume takes its session and its cached Segmenter (image copy and model) with it."""
        if node is not None and node.IsA("vtkMRMLScalarVolumeNode"):
            self.logic.forgetVolume(node)

    # --- parameter node <-> GUI ---------------------------------------------------------------------

    def initializeParameterNode(self):
        parameterNode = self.logic.getParameterNode()
        if not parameterNode.inputVolume:
            parameterNode.inputVolume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
        self.logic.createPointLists(parameterNode)
        self.setParameterNode(parameterNode)

    def setParameterNode(self, parameterNode):
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateGUIFromParameterNode)
            self._parameterNodeGuiTag = None
        self._parameterNode = parameterNode
        if self._parameterNode:
            # widgets with a SlicerParameterName property in the .ui are synchronised by connectGui
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateGUIFromParameterNode)
            if self._mode is None:
                self._mode = self._parameterNode.mode
        self._updateGUIFromParameterNode()

    def _placeWidgets(self):
        return (self.ui.interiorPlaceWidget, self.ui.foregroundPlaceWidget, self.ui.backgroundPlaceWidget)

    def _pointLists(self):
        p = self._parameterNode
        return (p.interiorPoints, p.foregroundPoints, p.backgroundPoints) if p else (None, None, None)

    def _updateGUIFromParameterNode(self, caller=None, event=None):
        """The widgets that connectGui cannot handle: point lists, segment selector, model path; mode switches."""
        p = self._parameterNode
        if p is None:
            return
        if self._mode is not None and p.mode != self._mode:
            self._onModeChanged(self._mode, p.mode)
        pointLists = self._pointLists()
        for placeWidget, pointList in zip(self._placeWidgets(), pointLists):
            placeWidget.setCurrentNode(pointList)
        self._observePointLists(pointLists)
        wasBlocked = self.ui.segmentSelector.blockSignals(True)
        self.ui.segmentSelector.setCurrentNode(p.segmentationNode)
        self.ui.segmentSelector.setCurrentSegmentID(p.segmentID)
        self.ui.segmentSelector.blockSignals(wasBlocked)
        modelPath = getattr(p, "modelPath" + p.mode)
        if self.ui.modelPathLineEdit.currentPath != modelPath:
            wasBlocked = self.ui.modelPathLineEdit.blockSignals(True)
            self.ui.modelPathLineEdit.currentPath = modelPath
            self.ui.modelPathLineEdit.blockSignals(wasBlocked)
        self._updateButtons()

    def _updateButtons(self):
        p = self._parameterNode
        ready = bool(p and p.inputVolume and p.interiorPoints)
        self.ui.segmentButton.enabled = ready
        self.ui.segmentButton.toolTip = _("Segment with the current clicks (s)") if ready else _("Select a volume")
        self.ui.undoButton.enabled = len(self._history) > 0
        self.ui.resetButton.enabled = ready
        self.ui.nextSegmentButton.enabled = ready

    def _refuseWhileBusy(self):
        """True (and says so) when a computation or an install runs: every handler asks this first."""
        if not self.logic.busyFlag.busy:
            return False
        self._setStatus(_("MIDeepSeg is busy ({what}); wait, or press Cancel in its progress window.").format(
            what=self.logic.busyFlag.what or _("finishing a cancelled computation")), error=True)
        return True

    def _onModeChanged(self, oldMode, newMode):
        """2D <-> 3D: the clicks of one mode are meaningless in the other; the segment stays as it is."""
        p = self._parameterNode
        switch = mode_switch(oldMode, newMode, {m: getattr(p, "modelPath" + m) for m in MODES})
        self._mode = newMode
        if switch is None:
            return
        if switch.end_session:
            self._endSession(clearPoints=switch.clear_points, restore=switch.restore)
        self._setStatus(_("{mode} mode: the clicks were cleared, the segment kept.").format(mode=newMode))

    def onSegmentationChanged(self, node):
        if self._parameterNode and not _sameNode(self._parameterNode.segmentationNode, node):
            if not self._refuseWhileBusy():
                self._endSession(clearPoints=self.logic.hasSession())  # those clicks made the last segment
            self._parameterNode.segmentationNode = node

    def onSegmentChanged(self, segmentID):
        if self._parameterNode and self._parameterNode.segmentID != segmentID:
            if not self._refuseWhileBusy():
                self._endSession(clearPoints=self.logic.hasSession())
            self._parameterNode.segmentID = segmentID

    def onModelPathChanged(self, path):
        if self._parameterNode:
            setattr(self._parameterNode, "modelPath" + self._parameterNode.mode, path)

    def onDeviceChanged(self, index):
        if index >= 0:
            _setSetting(SETTING_DEVICE, self.ui.deviceComboBox.itemText(index))

    def onAutoUpdateToggled(self, checked):
        _setSetting(SETTING_AUTO_UPDATE, bool(checked))
        self._gate.forget()

    def onShortcutsToggled(self, checked):
        _setSetting(SETTING_SHORTCUTS, bool(checked))
        if checked and self.parent.isEntered:
            self._installShortcuts()
        elif not checked:
            self._removeShortcuts()

    def _device(self):
        return self.ui.deviceComboBox.currentText or "auto"

    def _refreshDevices(self):
        """auto, then the devices torch offers (imports torch when it is installed); shows torch's version."""
        wanted = str(_setting(SETTING_DEVICE, "auto") or "auto")
        devices = ["auto"]
        version = torchVersion()
        if version is None:
            info = _("PyTorch is not installed: it is installed (after asking) on the first segmentation.")
        else:
            try:
                from MIDeepSegLib._device import available_devices

                devices += available_devices()
                import torch

                cuda = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
                info = _("PyTorch {version}; {devices}").format(
                    version=torch.__version__, devices=_("GPU: {names}").format(names=cuda) if cuda else _("no GPU"))
            except Exception as error:  # noqa: BLE001 - a broken install is shown, not raised, here
                info = _("PyTorch {version} is installed but cannot be used: {error}").format(
                    version=version, error=error)
            if not version_at_least(version, TORCH_MINIMUM):
                info += " " + _("(MIDeepSeg needs {minimum} or newer)").format(minimum=TORCH_MINIMUM)
        if wanted not in devices:
            devices.append(wanted)  # remembered, maybe not here now: resolve_device will say why
        wasBlocked = self.ui.deviceComboBox.blockSignals(True)
        self.ui.deviceComboBox.clear()
        for device in devices:
            self.ui.deviceComboBox.addItem(device)
        self.ui.deviceComboBox.setCurrentIndex(devices.index(wanted))
        self.ui.deviceComboBox.blockSignals(wasBlocked)
        self.ui.torchLabel.text = info

    # --- shortcuts and modifier-clicks -------------------------------------------------------------

    def _installShortcuts(self):
        if self._shortcuts or not slicer.util.mainWindow():
            return
        for key, method, _text in SHORTCUTS:
            shortcut = qt.QShortcut(qt.QKeySequence(key), slicer.util.mainWindow())
            shortcut.connect("activated()", getattr(self, method))
            self._shortcuts.append(shortcut)

    def _removeShortcuts(self):
        for shortcut in self._shortcuts:
            shortcut.setEnabled(False)
            shortcut.deleteLater()
        self._shortcuts = []

    def _observeSliceViews(self):
        """Shift+click: foreground click, Ctrl+click: background click, in any slice view."""
        layoutManager = slicer.app.layoutManager()
        if self._sliceViewObservations or layoutManager is None:
            return
        for name in layoutManager.sliceViewNames():
            sliceWidget = layoutManager.sliceWidget(name)
            interactor = sliceWidget.sliceView().interactor()
            callback = functools.partial(self._onSliceViewPress, sliceWidget.mrmlSliceNode())
            tag = interactor.AddObserver(vtk.vtkCommand.LeftButtonPressEvent, callback, 1.0)
            self._sliceViewObservations.append((interactor, tag))

    def _removeSliceViewObservers(self):
        for interactor, tag in self._sliceViewObservations:
            interactor.RemoveObserver(tag)
        self._sliceViewObservations = []

    def _onSliceViewPress(self, sliceNode, interactor, event):
        role = modifier_role(interactor.GetShiftKey(), interactor.GetControlKey())
        p = self._parameterNode
        if role is None or p is None or not p.inputVolume or self._refuseWhileBusy():
            return
        x, y = interactor.GetEventPosition()
        xyToRAS = slicer.util.arrayFromVTKMatrix(sliceNode.GetXYToRAS())
        world = (xyToRAS @ np.array([x, y, 0.0, 1.0]))[:3]
        self._clickView = sliceNode
        pointList = p.foregroundPoints if role == "foreground" else p.backgroundPoints
        pointList.AddControlPointWorld(*world)  # the point-defined event: _onPointDefined checks it

    def placeInterior(self):
        self.ui.interiorPlaceWidget.setPlaceModeEnabled(True)

    def placeForeground(self):
        self.ui.foregroundPlaceWidget.setPlaceModeEnabled(True)

    def placeBackground(self):
        self.ui.backgroundPlaceWidget.setPlaceModeEnabled(True)

    def _leavePlaceMode(self):
        """Stop placing into the module's lists (their clicks would land unchecked once the module is left)."""
        for placeWidget in self._placeWidgets():
            if placeWidget.placeModeEnabled:
                placeWidget.setPlaceModeEnabled(False)

    # --- point events ---------------------------------------------------------------------------------

    def _observePointLists(self, nodes):
        stop, start = self._watched.change(nodes)
        markups = slicer.vtkMRMLMarkupsNode
        handlers = ((markups.PointPositionDefinedEvent, self._onPointDefined),
                    (markups.PointStartInteractionEvent, self._onPointStartInteraction),
                    (markups.PointEndInteractionEvent, self._onPointEndInteraction),
                    (markups.PointModifiedEvent, self._onPointsChanged),
                    (markups.PointRemovedEvent, self._onPointsChanged))
        for node in stop:
            for event, handler in handlers:
                self.removeObserver(node, event, handler)
        for node in start:
            for event, handler in handlers:
                self.addObserver(node, event, handler)

    @vtk.calldata_type(vtk.VTK_INT)
    def _onPointDefined(self, markupsNode, event, callData=None):
        """A click was completed: reject it when outside the volume (or off the 2D slice), else update."""
        p = self._parameterNode
        if self._suppressUpdates or not p or not p.inputVolume:
            return
        index = event_point_index(callData, markupsNode.GetNumberOfControlPoints())
        if index < 0:
            return
        pointID = markupsNode.GetNthControlPointID(index)
        world = [0.0, 0.0, 0.0]
        markupsNode.GetNthControlPointPositionWorld(index, world)
        isInterior = _sameNode(markupsNode, p.interiorPoints)
        try:
            inside = self.logic.isInside(p.inputVolume, world)
        except ValueError as error:  # e.g. a volume under a non-linear transform
            self._setStatus(str(error), error=True)
            return
        problem = None
        view = self._clickView or _sliceNodeUnderCursor() or self._sliceNode or _defaultSliceNode()
        self._clickView = None
        if not inside:
            problem = _("That click is outside the volume '{name}': it was removed.").format(
                name=p.inputVolume.GetName())
        elif p.mode == "2D":
            sessionSlice = self.logic.sessionSlice()
            onOtherSlice = bool(sessionSlice) and self.logic.sliceOf(p.inputVolume, world, view) != sessionSlice
            if isInterior and onOtherSlice:  # keep the slice done so far, start over on this one
                qt.QTimer.singleShot(0, lambda: self._startNewSlice(view, markupsNode, pointID, world))
                return
            if isInterior and not sessionSlice and self._sliceNode is None:
                self._startSliceView(view, world)
            elif onOtherSlice:
                problem = _("2D mode segments one slice at a time and that click is on another slice: it was "
                            "removed. Interior margin points on another slice start a new 2D segmentation there.")
        if problem:
            self._setStatus(problem, error=True)
            qt.QTimer.singleShot(0, lambda: _removeControlPoint(markupsNode, pointID))
            return
        self._history.add(markupsNode, pointID)
        self._updateButtons()
        self._scheduleUpdate()

    def _startSliceView(self, view, world):
        """The first interior point of a 2D session: turn its view to the volume's slice plane through it."""
        self._sliceNode = view
        if view is not None and hasattr(view, "RotateToVolumePlane"):
            self.logic.alignViewToVolume(view, self._parameterNode.inputVolume, world)

    def _startNewSlice(self, view, markupsNode, pointID, world):
        if self._refuseWhileBusy():
            self._scheduleUpdate()
            return
        self._endSession(clearPoints=True, keep=(markupsNode, pointID))
        self._startSliceView(view, world)
        self._setStatus(_("New 2D slice; the previous slice stays in the segment."))
        self._scheduleUpdate()

    def _onPointStartInteraction(self, caller, event):
        self._dragging = True

    def _onPointEndInteraction(self, caller, event):
        self._dragging = False
        self._scheduleUpdate()  # a point was moved: replay

    def _onPointsChanged(self, caller, event):
        # PointModified also comes during drags (decided at the drag's end) and for the preview point that
        # follows the mouse in place mode; PointRemoved also when the cursor leaves a view (the preview
        # point is removed). The gate compares the placed points, so those change nothing.
        if not self._dragging:
            self._scheduleUpdate()

    def _scheduleUpdate(self):
        if not self._suppressUpdates and self._updateTimer is not None and not self._updateTimer.isActive():
            self._updateTimer.start()

    def _placedSnapshot(self):
        return self.logic.placedSnapshot(self._pointLists())

    def _onUpdateTimer(self):
        if self.logic.busyFlag.busy:
            self._updateTimer.start()  # a computation is running: decide when it is done
            return
        p = self._parameterNode
        if not p or not p.inputVolume:
            return
        decision = self._gate.decide(self._placedSnapshot(), p.mode, self.ui.autoUpdateCheckBox.checked,
                                     self.logic.hasSession())
        if decision == UpdateGate.WAIT:
            count = _definedPointCount(p.interiorPoints)
            self._setStatus(_("{count} interior margin point(s): from {needed} on, each click updates the mask; "
                              "or press Segment.").format(count=count, needed=AUTO_RUN_MIN_POINTS[p.mode]))
        elif decision in (UpdateGate.UPDATE, UpdateGate.CLEAR):
            self.runUpdate()

    # --- actions --------------------------------------------------------------------------------------

    def runUpdate(self):
        p = self._parameterNode
        if not p or not p.inputVolume or self._refuseWhileBusy():
            return
        with slicer.util.tryWithErrorDisplay(_("MIDeepSeg could not update the segmentation."), waitCursor=True):
            if _definedPointCount(p.interiorPoints) == 0:
                # nothing to segment: never install, load a model or create a segmentation for that
                self.logic.resetSession(restore=True)
                self._setStatus(_("No interior margin points: the segment is as it was before the clicks."))
                return
            if not self._ensureTorch():
                return
            self._ensureSegment()
            update = self.logic.update(
                p.inputVolume, p.segmentationNode, p.segmentID, p.interiorPoints, p.foregroundPoints,
                p.backgroundPoints, mode=p.mode, sliceView=self._sliceNode or _defaultSliceNode(),
                model=modelPathOf(p, p.mode), device=self._device(), lam=p.lam, sigma=p.sigma)
            self._setStatus(update.describe())
        self._updateButtons()

    def onSegmentButton(self):
        if self._parameterNode and self._parameterNode.inputVolume:
            self.runUpdate()

    def onUndoButton(self):
        if self._refuseWhileBusy():
            return
        self._history.pop(lambda node, pointID: _removeControlPoint(node, pointID))
        # the update then uses Segmenter.undo when that was the last refinement click
        self._updateButtons()
        self._scheduleUpdate()

    def onResetButton(self):
        if self._refuseWhileBusy():
            return
        with slicer.util.tryWithErrorDisplay(_("MIDeepSeg could not reset."), waitCursor=True):
            self._clearPoints()
            self.logic.resetSession(restore=True)
            self._setStatus(_("Reset: the clicks are cleared and the segment is as it was before them."))

    def onNextSegmentButton(self):
        p = self._parameterNode
        if not p or not p.inputVolume or self._refuseWhileBusy():
            return
        with slicer.util.tryWithErrorDisplay(_("MIDeepSeg could not start the next segment."), waitCursor=True):
            self.logic.markSegmentCompleted(p.segmentationNode, p.segmentID)
            self._endSession(clearPoints=True)
            if p.segmentationNode:
                p.segmentID = self.logic.addSegment(p.segmentationNode)
            else:
                self._ensureSegment()
            self._setStatus(_("Segment kept. Click interior margin points for the next one."))
            self.placeInterior()

    # --- helpers --------------------------------------------------------------------------------------

    def _ensureTorch(self):
        """True when torch >= TORCH_MINIMUM can be imported; else ask, install through PyTorchUtils, say what to do.

        The busy flag is held from the first dialog on: a modal dialog runs its own event loop, in which the
        update timer or a shortcut would otherwise open a second prompt.
        """
        version = torchVersion()
        if torchInstalled() and version and version_at_least(version, TORCH_MINIMUM):
            return True
        if slicer.app.testingEnabled():
            raise RuntimeError(_("PyTorch {minimum} or newer is not installed, and tests never install packages.")
                               .format(minimum=TORCH_MINIMUM))
        try:
            with self.logic.busyFlag.hold(_("installing PyTorch")):
                installed = self._askAndInstallTorch(version)
        except BusyError as error:
            self._setStatus(str(error), error=True)
            return False
        self._refreshDevices()
        if installed and version is not None:  # an older torch was imported already: only a restart replaces it
            if slicer.util.confirmOkCancelDisplay(_("PyTorch was updated. Restart Slicer now?")):
                slicer.util.restart()
            return False
        return installed

    def _askAndInstallTorch(self, version):
        if not hasattr(slicer.modules, "pytorchutils"):
            slicer.util.errorDisplay(_(
                "MIDeepSeg needs PyTorch {minimum} or newer, installed through the PyTorch extension (it picks the "
                "build that matches your GPU). Install the 'PyTorch' extension from the Extensions Manager, restart "
                "Slicer and segment again.").format(minimum=TORCH_MINIMUM))
            return False
        question = _("MIDeepSeg needs PyTorch {minimum} or newer; {have}. Install it now through the PyTorch "
                     "extension? It downloads up to a few GB and can take several minutes.{restart}").format(
            minimum=TORCH_MINIMUM,
            have=_("{v} is installed").format(v=version) if version else _("it is not installed"),
            restart=_(" Slicer must be restarted afterwards.") if version else "")
        if not slicer.util.confirmOkCancelDisplay(question):
            self._setStatus(_("Nothing was installed; MIDeepSeg needs PyTorch to segment."), error=True)
            return False
        dialog = slicer.util.createProgressDialog(labelText=_("Installing PyTorch, please wait..."), maximum=0,
                                                  windowTitle="MIDeepSeg", windowModality=qt.Qt.ApplicationModal)
        slicer.app.processEvents()
        try:
            with slicer.util.WaitCursor():
                self.logic.installTorch()
        finally:
            dialog.close()
        return True

    def _ensureSegment(self):
        p = self._parameterNode
        if not p.segmentationNode:
            p.segmentationNode = self.logic.createSegmentation(p.inputVolume)
        if not p.segmentID or not p.segmentationNode.GetSegmentation().GetSegment(p.segmentID):
            p.segmentID = self.logic.addSegment(p.segmentationNode)

    def _endSession(self, clearPoints, keep=None, restore=False):
        self.logic.resetSession(restore=restore)
        self._sliceNode = None
        self._gate.forget()
        if clearPoints:
            self._clearPoints(keep)

    def _clearPoints(self, keep=None):
        """Remove every click, except `keep` = (point list, control point ID) when given."""
        self._suppressUpdates = True
        try:
            for node in self._pointLists():
                for index in reversed(range(node.GetNumberOfControlPoints() if node else 0)):
                    if keep is None or not (_sameNode(node, keep[0]) and node.GetNthControlPointID(index) == keep[1]):
                        node.RemoveNthControlPoint(index)
        finally:
            self._suppressUpdates = False
        self._history.keep_only(*(keep or (None, None)))
        self._updateButtons()

    def _setStatus(self, text, error=False):
        self.ui.statusLabel.text = text
        self.ui.statusLabel.styleSheet = "color: #d03030" if error else ""
        slicer.util.showStatusMessage(text, 5000)


#
# Logic
#


class PointOutsideError(ValueError):
    """A click lies outside the volume, or off the slice of a 2D session."""


class UpdateResult:
    """What one :meth:`MIDeepSegLogic.update` did: action, Segmenter result (or None), timings, 2D slice."""

    def __init__(self, action, result=None, axis=None, sliceIndex=None, counts=(0, 0, 0)):
        self.action, self.result, self.axis, self.sliceIndex, self.counts = action, result, axis, sliceIndex, counts
        fresh = action not in ("none", "cleared", "cancelled")
        self.timings = dict(getattr(result, "timings", None) or {}) if fresh else {}

    def describe(self):
        if self.action == "cleared":
            return _("No interior margin points: the segment is as it was before the clicks.")
        if self.action == "none":
            return _("Up to date: the clicks have not changed since the last update.")
        if self.action == "cancelled":
            return _("Cancelled: the segment was not changed by that update.")
        stages = ", ".join(f"{k} {1000 * v:.0f} ms" for k, v in self.timings.items() if k != "total")
        text = _("{action}: {total:.2f} s ({stages})").format(
            action=self.action.capitalize(), total=self.timings.get("total", 0.0), stages=stages or "-")
        text += _(" | {0} interior, {1} foreground, {2} background").format(*self.counts)
        if self.axis is not None:
            text += _(" | slice {index} along array axis {axis} ({name})").format(
                index=self.sliceIndex, axis=self.axis, name="kji"[self.axis])
        return text


class _Session:
    """One target (a SessionKey) with its ClickSession (Segmenter + applied clicks)."""

    def __init__(self, target, base):
        self.target = target
        self.base = base  # (start, array): the segment's content before the session, cropped; or None
        self.algorithm = None
        self.clicks = None  # MIDeepSegLib.session.ClickSession, made on the first update


class _Cancelled(Exception):
    """The user pressed Cancel: the worker's result is discarded."""


class MIDeepSegLogic(ScriptedLoadableModuleLogic):
    """MRML <-> arrays, and the Segmenter session; scriptable without the GUI.

    ``segmenterFactory(image, spacing, model, device, lam, sigma)`` makes the
    Segmenter (the self-test passes a stand-in that needs no weights).
    """

    def __init__(self, segmenterFactory=None):
        ScriptedLoadableModuleLogic.__init__(self)
        self.segmenterFactory = segmenterFactory or createSegmenter
        self.busyFlag = Busy()  # the one flag every handler of the widget checks
        self._session = None
        self._spare = None  # (volume node, algorithm, Segmenter) of the last session, reused by the next one
        self._executor = None

    @property
    def busy(self):
        return self.busyFlag.busy

    def getParameterNode(self):
        return MIDeepSegParameterNode(super().getParameterNode())

    def shutdown(self):
        self.dropSpareSegmenter()
        self._session = None
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    def dropSpareSegmenter(self):
        """Forget the cached Segmenter (a float32 copy of the volume and the loaded model)."""
        self._spare = None

    def forgetVolume(self, volumeNode):
        """The volume left the scene: drop its session and its cached Segmenter."""
        if self._spare is not None and self._spare[0] is volumeNode:
            self._spare = None
        if self._session is not None and self._session.target.volume is volumeNode:
            self._session = None

    # --- nodes ----------------------------------------------------------------------------------------

    @staticmethod
    def createPointLists(parameterNode):
        for role, (name, color) in POINT_LISTS.items():
            if getattr(parameterNode, role + "Points"):
                continue
            node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", name)
            node.CreateDefaultDisplayNodes()
            display = node.GetDisplayNode()
            display.SetSelectedColor(color)
            display.SetColor(color)
            display.SetPointLabelsVisibility(False)
            setattr(parameterNode, role + "Points", node)

    @staticmethod
    def createSegmentation(volumeNode):
        """A new segmentation on the volume's grid, under the volume's parent transform, marked as the module's."""
        segmentationNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "MIDeepSeg segmentation")
        segmentationNode.CreateDefaultDisplayNodes()
        segmentationNode.SetReferenceImageGeometryParameterFromVolumeNode(volumeNode)
        segmentationNode.SetAndObserveTransformNodeID(volumeNode.GetTransformNodeID())
        segmentationNode.SetAttribute(CREATED_ATTRIBUTE, "1")
        return segmentationNode

    @staticmethod
    def addSegment(segmentationNode, name=""):
        return segmentationNode.GetSegmentation().AddEmptySegment("", name)

    @staticmethod
    def markSegmentCompleted(segmentationNode, segmentID):
        segment = segmentationNode.GetSegmentation().GetSegment(segmentID) if segmentationNode else None
        if segment is not None:
            slicer.vtkSlicerSegmentationsModuleLogic.SetSegmentStatus(
                segment, slicer.vtkSlicerSegmentationsModuleLogic.Completed)

    @staticmethod
    def alignViewToVolume(sliceNode, volumeNode, worldPoint=None):
        """Turn a slice view to the volume's nearest array plane, on the voxel slice through `worldPoint`.

        Slicer's default views follow RAS, not the volume's IJK axes: on an
        oblique volume the clicks of one view would round to several array
        slices. Afterwards every click in the view lies on one array slice.
        """
        sliceNode.RotateToVolumePlane(volumeNode)
        if worldPoint is not None:
            sliceNode.JumpSliceByOffsetting(*[float(c) for c in worldPoint])
        sliceLogic = slicer.app.applicationLogic().GetSliceLogic(sliceNode) if hasattr(slicer, "app") else None
        background = sliceLogic.GetBackgroundLayer() if sliceLogic is not None else None
        if background is not None and _sameNode(background.GetVolumeNode(), volumeNode):
            # on the centre of that voxel slice (SnapSliceOffsetToIJK snaps to the *background* volume: only
            # when that is the segmented one, else a neighbouring slice of ours could be shown)
            sliceLogic.SnapSliceOffsetToIJK()

    # --- geometry (the maths is in MIDeepSegLib.geometry) ---------------------------------------------

    @staticmethod
    def volumeGeometry(volumeNode):
        """(ijkToRAS, worldToVolumeRAS, shape): two 4x4 arrays and the array shape (k, j, i)."""
        ijkToRAS = vtk.vtkMatrix4x4()
        volumeNode.GetIJKToRASMatrix(ijkToRAS)
        worldToVolume = vtk.vtkMatrix4x4()
        if not slicer.vtkMRMLTransformNode.GetMatrixTransformBetweenNodes(
                None, volumeNode.GetParentTransformNode(), worldToVolume):
            raise ValueError(_("The volume '{name}' is under a non-linear transform: harden the transform first "
                               "(Data module, right-click the volume, Harden transform).").format(
                                   name=volumeNode.GetName()))
        shape = tuple(reversed(volumeNode.GetImageData().GetDimensions()))
        return slicer.util.arrayFromVTKMatrix(ijkToRAS), slicer.util.arrayFromVTKMatrix(worldToVolume), shape

    @staticmethod
    def placedSnapshot(pointLists):
        """What UpdateGate decides on: per list, ((control point ID, rounded world position), ...) of the
        placed points (the preview point that follows the mouse in place mode is not placed)."""
        snapshot = []
        for node in pointLists:
            points = []
            for index in range(node.GetNumberOfControlPoints() if node else 0):
                if node.GetNthControlPointPositionStatus(index) == slicer.vtkMRMLMarkupsNode.PositionDefined:
                    world = [0.0, 0.0, 0.0]
                    node.GetNthControlPointPositionWorld(index, world)
                    points.append((node.GetNthControlPointID(index), tuple(round(c, 4) for c in world)))
            snapshot.append(tuple(points))
        return tuple(snapshot)

    @staticmethod
    def definedPointsWorld(points):
        """World RAS (N, 3) of a point list's placed points (previews skipped), or of an (N, 3) array."""
        if points is None:
            return np.zeros((0, 3))
        if not hasattr(points, "GetNumberOfControlPoints"):
            return np.asarray(points, dtype=float).reshape(-1, 3)
        world = []
        for index in range(points.GetNumberOfControlPoints()):
            if points.GetNthControlPointPositionStatus(index) == slicer.vtkMRMLMarkupsNode.PositionDefined:
                position = [0.0, 0.0, 0.0]
                points.GetNthControlPointPositionWorld(index, position)
                world.append(position)
        return np.asarray(world, dtype=float).reshape(-1, 3)

    def toArray(self, volumeNode, points, what="Point"):
        """World points (point list or (N, 3)) -> array-order voxel coordinates; PointOutsideError if outside."""
        ijkToRAS, worldToVolume, shape = self.volumeGeometry(volumeNode)
        arrayPoints = geometry.world_to_array(self.definedPointsWorld(points), ijkToRAS, worldToVolume)
        inside = geometry.points_inside(arrayPoints, shape)
        if not inside.all():
            bad = int(np.flatnonzero(~inside)[0])
            raise PointOutsideError(_("{what} {number} is outside the volume '{name}' (voxel {voxel}, volume size "
                                      "{shape}): delete or move it.").format(
                what=what, number=bad + 1, name=volumeNode.GetName(), shape=shape,
                voxel=tuple(round(float(c), 1) for c in arrayPoints[bad])))
        return arrayPoints

    def isInside(self, volumeNode, worldPoint):
        ijkToRAS, worldToVolume, shape = self.volumeGeometry(volumeNode)
        arrayPoint = geometry.world_to_array(worldPoint, ijkToRAS, worldToVolume)
        return bool(geometry.points_inside(arrayPoint, shape)[0])

    def sliceAxis(self, volumeNode, sliceView):
        """(array axis, |cos|) that a slice view (vtkMRMLSliceNode or its 4x4 SliceToRAS) cuts across."""
        if hasattr(sliceView, "GetSliceToRAS"):
            sliceView = slicer.util.arrayFromVTKMatrix(sliceView.GetSliceToRAS())
        ijkToRAS, worldToVolume, _shape = self.volumeGeometry(volumeNode)
        return geometry.array_axis_for_view(sliceView, ijkToRAS, worldToVolume)

    def sliceOf(self, volumeNode, worldPoint, sliceView):
        """(axis, index) of the 2D slice that a click in that view belongs to."""
        axis, _cosine = self.sliceAxis(volumeNode, sliceView)
        ijkToRAS, worldToVolume, _shape = self.volumeGeometry(volumeNode)
        return axis, int(np.rint(geometry.world_to_array(worldPoint, ijkToRAS, worldToVolume)[0, axis]))

    def hasSession(self):
        return self._session is not None

    def sessionSlice(self):
        target = self._session.target if self._session else None
        return (target.axis, target.index) if target and target.mode == "2D" else None

    # --- segmentation ---------------------------------------------------------------------------------

    def update(self, volumeNode, segmentationNode, segmentID, interior, foreground=None, background=None,
               mode="3D", sliceView=None, model=None, device="auto", lam=settings.LAM,
               sigma=settings.SIGMA):
        """Bring the segment up to date with these clicks; return an :class:`UpdateResult`.

        Clicks are point lists or (N, 3) world RAS arrays. One session is kept
        per (volume, segment, mode, 2D slice): new foreground/background clicks
        go to ``Segmenter.refine``, removing the last one to ``Segmenter.undo``,
        anything else (moved or removed points, new interior points, other
        settings) resets and replays every click. A session keeps what the
        segment held before it and adds its mask (3D) or replaces its slice
        (2D); Reset restores the segment as it was. `sliceView` (2D) is a
        vtkMRMLSliceNode or its SliceToRAS; `model` a checkpoint path (default:
        the shipped weights of the mode). Action "cancelled": the user pressed
        Cancel and the segment is unchanged.
        """
        if self.busyFlag.busy:
            raise BusyError(_("MIDeepSeg is still computing the previous update."))
        if mode not in MODES:
            raise ValueError(_("mode must be one of {modes}, not {mode!r}").format(modes=MODES, mode=mode))
        if not volumeNode or not volumeNode.GetImageData():
            raise ValueError(_("Select a scalar volume with image data."))
        if not segmentationNode or not segmentationNode.GetSegmentation().GetSegment(segmentID):
            raise ValueError(_("Select a segmentation and a segment to write into."))
        model = shippedModelPath(mode) if model is None else model
        if os.path.splitext(str(model))[1] and not os.path.isfile(str(model)):
            raise ValueError(_("Model weights not found: {path}. The shipped weights belong in Resources/Models of "
                               "the extension; another checkpoint can be chosen under Advanced.").format(path=model))
        _ijk, _world, shape = self.volumeGeometry(volumeNode)
        clicks = [self.toArray(volumeNode, points, what) for points, what in (
            (interior, _("Interior margin point")), (foreground, _("Foreground click")),
            (background, _("Background click")))]
        counts = tuple(len(c) for c in clicks)
        axis = index = None
        if mode == "2D" and counts[0]:
            axis, cosine = self.sliceAxis(volumeNode, sliceView if sliceView is not None else _defaultSliceNode())
            if cosine < 0.9:
                logger.warning("MIDeepSeg 2D: the view is %.0f degrees off the volume's array axis %d; clicks are "
                               "taken on the nearest slice", np.degrees(np.arccos(cosine)), axis)
            index = int(np.rint(clicks[0][0, axis]))
            for points in clicks:
                off = np.flatnonzero(np.rint(points[:, axis]) != index)
                if len(off):
                    raise PointOutsideError(_("2D mode: a click is on slice {other}, not on the segmented slice "
                                              "{index} (array axis {axis}).").format(
                        other=int(np.rint(points[off[0], axis])), index=index, axis=axis))
            clicks = [np.delete(points, axis, axis=1) for points in clicks]
        elif mode == "3D" and min(shape) == 1:
            raise ValueError(_("The volume has a single slice: use 2D mode."))

        target = SessionKey(volumeNode, segmentationNode, segmentID, mode, axis, index)
        if self._session and not same_target(self._session.target, target):
            self.resetSession(restore=False)  # another volume, segment or mode: the last one stays as it is
        if not counts[0]:
            self.resetSession(restore=True)
            return UpdateResult("cleared", counts=counts)
        if self._session and not same_session(self._session.target, target):
            self.resetSession(restore=False)  # another 2D slice: the previous slice stays in the segment
        if self._session is None:
            self._session = _Session(target, self._snapshot(volumeNode, segmentationNode, segmentID, shape))
        session = self._session

        algorithm = (volumeNode.GetImageData().GetMTime(), axis, index, str(model), str(device), float(lam),
                     float(sigma))
        if session.algorithm != algorithm:
            session.algorithm, session.clicks = algorithm, None
            if self._spare and self._spare[0] is volumeNode and self._spare[1] == algorithm:
                # same image and settings: keep the loaded model
                session.clicks = ClickSession(self._spare[2])
        if session.clicks and session.clicks.is_current(*clicks):
            return UpdateResult("none", session.clicks.result, axis, index, counts)

        image, spacing = None, tuple(reversed(volumeNode.GetSpacing()))
        if session.clicks is None:
            image = slicer.util.arrayFromVolume(volumeNode)
            if image.ndim != 3:
                raise ValueError(_("MIDeepSeg needs a scalar volume; '{name}' has {n} components.").format(
                    name=volumeNode.GetName(), n=image.shape[-1]))
            # a float32 copy: the Segmenter must not keep a view into VTK's memory
            image = np.array(image if axis is None else geometry.take_slice(image, axis, index)[0], dtype=np.float32)
            spacing = spacing if axis is None else tuple(s for a, s in enumerate(spacing) if a != axis)
        clickSession = session.clicks

        def compute():
            current = clickSession
            if current is None:
                current = ClickSession(self.segmenterFactory(image, spacing=spacing, model=model, device=device,
                                                             lam=lam, sigma=sigma))
            return current, current.update(*clicks)

        try:
            clickSession, action = self._runInWorker(compute, _("MIDeepSeg is segmenting..."))
        except _Cancelled:
            # the worker may still change that Segmenter: neither the session nor the cache keeps it
            session.clicks = None
            if self._spare is not None and clickSession is not None and self._spare[2] is clickSession.segmenter:
                self._spare = None
            return UpdateResult("cancelled", counts=counts)
        except Exception:
            session.clicks = None  # unknown state: start afresh
            raise
        if self._session is not session:
            return UpdateResult("cancelled", counts=counts)  # the session was ended meanwhile (scene closed)
        session.clicks = clickSession
        self._spare = (volumeNode, algorithm, clickSession.segmenter)
        if volumeNode.GetScene() is None or segmentationNode.GetScene() is None:
            self._session = self._spare = None
            raise RuntimeError(_("The volume or the segmentation was removed during the computation."))
        self._writeSessionMask(session, shape)
        return UpdateResult(action, clickSession.result, axis, index, counts)

    def resetSession(self, restore=True):
        """End the session; with `restore`, put its segment back as it was before the session."""
        session, self._session = self._session, None
        if not (restore and session):
            return
        target = session.target
        if target.volume.GetScene() is None or target.segmentation.GetScene() is None:
            return  # removed from the scene: nothing to restore
        if target.segmentation.GetSegmentation().GetSegment(target.segmentID):
            start, array = session.base or ((0, 0, 0), np.zeros((1, 1, 1), np.uint8))
            self._writeBox(target.volume, target.segmentation, target.segmentID, start, array)

    def _snapshot(self, volumeNode, segmentationNode, segmentID, shape):
        """The segment's content on the volume's grid, cropped: (start, array), or None when empty.

        The reference geometry is set only on segmentations this module
        created, or on those that have none: a user's own geometry (an
        oversampled one, say) stays as it is.
        """
        reference = segmentationNode.GetNodeReference(
            slicer.vtkMRMLSegmentationNode.GetReferenceImageGeometryReferenceRole())
        geometryString = segmentationNode.GetSegmentation().GetConversionParameter(
            slicer.vtkSegmentationConverter.GetReferenceImageGeometryParameterName())
        ours = segmentationNode.GetAttribute(CREATED_ATTRIBUTE) == "1"
        if not geometryString or (ours and reference is not volumeNode):
            segmentationNode.SetReferenceImageGeometryParameterFromVolumeNode(volumeNode)
        content = slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, segmentID, volumeNode)
        if content.shape != tuple(shape):
            raise RuntimeError(_("Could not read segment {id} on the volume's grid.").format(id=segmentID))
        box = geometry.bounding_box(content)
        return None if box is None else (box[0], np.ascontiguousarray(content[tuple(map(slice, *box))]))

    def _writeSessionMask(self, session, shape):
        target, mask = session.target, session.clicks.result.mask
        if target.axis is None:  # 3D: the mask, plus what the segment held before the session
            region = mask != 0
            if session.base is not None:
                start, array = session.base
                region = region.copy()
                region[tuple(slice(s, s + n) for s, n in zip(start, array.shape))] |= array != 0
            composed = geometry.compose_cropped(None, (0, 0, 0), region, shape)
        else:  # 2D: replace the session's slice, keep the rest of the segment
            start = [0, 0, 0]
            start[target.axis] = target.index
            composed = geometry.compose_cropped(session.base, start, np.expand_dims(mask, target.axis), shape)
        start, array = composed or ((0, 0, 0), np.zeros((1, 1, 1), np.uint8))
        self._writeBox(target.volume, target.segmentation, target.segmentID, start, array)

    @classmethod
    def _writeBox(cls, volumeNode, segmentationNode, segmentID, start, array):
        """Replace the segment by `array`, a box of the volume's grid whose first voxel is `start` (k, j, i).

        Only the box is copied and imported (fast for small objects in large
        volumes); the other segments are not touched. The segmentation's
        state is saved for the Segment Editor's Undo first, views are not
        rendered half-way, the segment is marked "in progress" and the closed
        surface is rebuilt when the segmentation had one ("Show 3D" on).
        """
        cls._saveStateForUndo(segmentationNode)
        closedSurface = slicer.vtkSegmentationConverter.GetSegmentationClosedSurfaceRepresentationName()
        shownIn3D = segmentationNode.GetSegmentation().ContainsRepresentation(closedSurface)  # "Show 3D" is on
        ijkToRAS = vtk.vtkMatrix4x4()
        volumeNode.GetIJKToRASMatrix(ijkToRAS)
        with _renderBlocked():
            boxNode = slicer.vtkMRMLScalarVolumeNode()
            boxNode.SetHideFromEditors(True)
            boxNode.SetName(slicer.mrmlScene.GenerateUniqueName("MIDeepSeg box"))
            slicer.mrmlScene.AddNode(boxNode)
            try:
                boxNode.SetIJKToRASMatrix(slicer.util.vtkMatrixFromArray(
                    geometry.box_ijk_to_physical(slicer.util.arrayFromVTKMatrix(ijkToRAS), start)))
                boxNode.SetAndObserveTransformNodeID(volumeNode.GetTransformNodeID())
                array = np.ascontiguousarray(array, dtype=np.uint8)
                slicer.util.updateVolumeFromArray(boxNode, array)
                labelmap = slicer.vtkSegmentationConverter.GetSegmentationBinaryLabelmapRepresentationName()
                if segmentationNode.GetSegmentation().GetSourceRepresentationName() == labelmap:
                    slicer.util.updateSegmentBinaryLabelmapFromArray(array, segmentationNode, segmentID, boxNode)
                else:
                    cls._writeIntoOtherSource(segmentationNode, segmentID, boxNode, array)
            finally:
                slicer.mrmlScene.RemoveNode(boxNode)
            segment = segmentationNode.GetSegmentation().GetSegment(segmentID)
            slicer.vtkSlicerSegmentationsModuleLogic.SetSegmentStatus(
                segment, slicer.vtkSlicerSegmentationsModuleLogic.InProgress)
            if shownIn3D:
                segmentationNode.CreateClosedSurfaceRepresentation()  # rebuilt from the new labelmap

    @staticmethod
    def _writeIntoOtherSource(segmentationNode, segmentID, boxNode, array):
        """Write a mask into a segmentation whose source representation is not a binary labelmap.

        ``updateSegmentBinaryLabelmapFromArray`` (ImportLabelmapToSegmentationNode) refuses those ("Importing
        of segment failed"). The mask is imported into a scratch segmentation, converted there to the target's
        source representation (a closed surface, say) by the segmentation's own converters, and copied into
        the segment's source representation. The other segments keep their representation untouched.
        """
        segmentation = segmentationNode.GetSegmentation()
        sourceName = segmentation.GetSourceRepresentationName()
        scratch = slicer.vtkMRMLSegmentationNode()
        scratch.SetHideFromEditors(True)
        slicer.mrmlScene.AddNode(scratch)
        scratch.SetAndObserveTransformNodeID(segmentationNode.GetTransformNodeID())  # same frame as the target
        try:
            scratchID = scratch.GetSegmentation().AddEmptySegment(segmentID)
            slicer.util.updateSegmentBinaryLabelmapFromArray(array, scratch, scratchID, boxNode)
            converted = None
            if scratch.GetSegmentation().CreateRepresentation(sourceName):
                converted = scratch.GetSegmentation().GetSegment(scratchID).GetRepresentation(sourceName)
            if converted is None and array.any():
                raise RuntimeError(_("MIDeepSeg could not convert its mask to the representation '{name}' of the "
                                     "segmentation '{node}'.").format(name=sourceName, node=segmentationNode.GetName()))
            segment = segmentation.GetSegment(segmentID)
            current = segment.GetRepresentation(sourceName)
            if current is None and converted is not None:
                copy = converted.NewInstance()
                copy.DeepCopy(converted)
                segment.AddRepresentation(sourceName, copy)
            elif current is not None:
                if converted is None:
                    current.Initialize()  # an empty mask
                else:
                    current.DeepCopy(converted)
                current.Modified()
            segment.RemoveAllRepresentations(sourceName)  # derived ones are stale: converted again on demand
        finally:
            slicer.mrmlScene.RemoveNode(scratch)

    @staticmethod
    def _saveStateForUndo(segmentationNode):
        """Let Segment Editor's Undo (Ctrl+Z) restore the segment when it edits this segmentation."""
        editorWidget = getattr(slicer.modules, "SegmentEditorWidget", None)
        editor = getattr(editorWidget, "editor", None)
        if editor is not None and _sameNode(editor.segmentationNode(), segmentationNode):
            editor.saveStateForUndo()

    def _runInWorker(self, function, message):
        """Run `function` on one persistent worker thread, keep the GUI alive, show a modal dialog past ~2 s.

        The dialog's Cancel stops the waiting at once (_Cancelled); the
        worker's result is then discarded, and busyFlag stays set until the
        worker has finished.
        """
        import concurrent.futures

        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="MIDeepSeg")
        self.busyFlag.start(message)
        started, dialog, future = time.perf_counter(), None, None
        try:
            future = self._executor.submit(function)
            while not future.done():
                concurrent.futures.wait([future], timeout=0.05)
                late = time.perf_counter() - started > PROGRESS_DIALOG_DELAY_S
                if late and dialog is None and not future.done() and hasattr(slicer, "app"):
                    dialog = slicer.util.createProgressDialog(labelText=message, maximum=0, windowTitle="MIDeepSeg",
                                                              windowModality=qt.Qt.ApplicationModal)
                    dialog.connect("canceled()", self.busyFlag.cancel)
                if hasattr(slicer, "app"):
                    slicer.app.processEvents()
                if self.busyFlag.cancelled:
                    raise _Cancelled()
            if self.busyFlag.cancelled:
                raise _Cancelled()
            return future.result()
        finally:
            self.busyFlag.finish(future)
            if dialog is not None:
                dialog.close()

    # --- dependencies ---------------------------------------------------------------------------------

    @staticmethod
    def installTorch():
        """Install torch >= TORCH_MINIMUM through the PyTorch extension (it picks the build for the GPU)."""
        import PyTorchUtils

        requirement = ">=" + TORCH_MINIMUM
        if PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False,
                                                         torchVersionRequirement=requirement) is None:
            raise RuntimeError(_("PyTorch was not installed (cancelled or failed; see the log)."))
        importlib.invalidate_caches()
        if not torchInstalled():
            raise RuntimeError(_("PyTorch still cannot be imported after the installation; see the log."))
        logger.info("MIDeepSeg: PyTorch %s installed", torchVersion())


def _definedPointCount(markupsNode):
    return len(MIDeepSegLogic.definedPointsWorld(markupsNode)) if markupsNode else 0


def _sameNode(a, b):
    """The same MRML node object (never compared by ID: IDs are reused after a scene close)."""
    return a is not None and b is not None and a is b


def _removeControlPoint(markupsNode, pointID):
    index = markupsNode.GetControlPointIndexByID(pointID) if markupsNode else -1
    if index >= 0:
        markupsNode.RemoveNthControlPoint(index)
    return index >= 0


def _sliceNodeUnderCursor():
    """The slice view the mouse is in (where a click was just placed), or None."""
    crosshairNode = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLCrosshairNode")
    return crosshairNode.GetCursorPositionXYZ([0.0, 0.0, 0.0]) if crosshairNode else None


def _defaultSliceNode():
    return slicer.mrmlScene.GetNodeByID("vtkMRMLSliceNodeRed")


#
# Self-test (Reload and Test, and ctest through slicer_add_python_unittest)
#


class MIDeepSegTest(ScriptedLoadableModuleTest):
    """Known objects in oblique, anisotropic, transformed volumes; then MRBrainTumor1.

    test_GeometryAndWriteBack uses a stand-in Segmenter and always runs. The
    Dice tests need torch and the shipped weights (Resources/Models): where
    either is missing (the extension build machines have no torch) they are
    skipped with a logged message that names what is missing, and runTest
    goes on (a unittest.SkipTest would abort "Reload and Test", which calls
    runTest directly).
    """

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        for test in (self.test_GeometryAndWriteBack, self.test_SyntheticDice, self.test_MRBrainTumor1):
            self.setUp()
            test()

    # --- fixtures -------------------------------------------------------------------------------------

    def _modelsMissing(self, test, *modes):
        """Why `test` cannot run (logged, shown), or None when torch and the weights of `modes` are there."""
        missing = [shippedModelPath(m) for m in modes if not os.path.isfile(shippedModelPath(m))]
        reason = None
        if missing:
            reason = f"MIDeepSeg weights missing: {', '.join(missing)}"
        elif not torchInstalled():
            reason = "PyTorch is not installed (install the PyTorch extension)"
        elif not version_at_least(torchVersion(), TORCH_MINIMUM):
            reason = f"PyTorch {torchVersion()} is older than {TORCH_MINIMUM}"
        if reason:
            self._logSkip(test, reason)
        return reason

    def _logSkip(self, test, reason):
        logger.warning("MIDeepSeg self-test: %s skipped: %s", test, reason)
        self.delayDisplay(f"{test} skipped: {reason}")

    @staticmethod
    def _syntheticScene():
        """MIDeepSegLib.scenes.tilted_lesion_volume as MRML nodes: volume under a transform, two segments."""
        from MIDeepSegLib.scenes import tilted_lesion_volume

        scene = tilted_lesion_volume()
        volumeNode = slicer.util.addVolumeFromArray(scene["image"], ijkToRAS=scene["ijk_to_ras"],
                                                    name="MIDeepSegTest")
        transformNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "MIDeepSegTest transform")
        transformNode.SetMatrixTransformToParent(slicer.util.vtkMatrixFromArray(scene["volume_to_world"]))
        volumeNode.SetAndObserveTransformNodeID(transformNode.GetID())

        segmentationNode = MIDeepSegLogic.createSegmentation(volumeNode)
        otherID = MIDeepSegLogic.addSegment(segmentationNode, "other")
        slicer.util.updateSegmentBinaryLabelmapFromArray(scene["other"].astype(np.uint8), segmentationNode,
                                                         otherID, volumeNode)
        scene.update({"volume": volumeNode, "segmentation": segmentationNode, "otherID": otherID,
                      "targetID": MIDeepSegLogic.addSegment(segmentationNode, "target"),
                      "semiAxes": scene["semi_axes"], "toWorld": scene["volume_to_world"] @ scene["ijk_to_ras"]})
        return scene

    @staticmethod
    def _pointList(arrayPoints, toWorld, name):
        """A point list at array coordinates (k, j, i), mapped forward with numpy (not with the module's code)."""
        node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", name)
        for kji in np.asarray(arrayPoints, dtype=float).reshape(-1, 3):
            node.AddControlPointWorld(*(toWorld @ np.r_[kji[::-1], 1.0])[:3])
        return node

    def _viewPointList(self, view, arrayPoints, scene, name):
        """Points clicked in a slice view, as a user's clicks land: on the view plane, at whole pixels.

        2D mode turns the view to the volume plane through the first point (as
        the widget does at a session's first interior point); each point is
        then mapped to the view's XY pixels and back through the slice node's
        XYToRAS, so it lies on the view plane, not at the exact array
        coordinates asked for. Without a slice view (no layout) the points are
        placed at those coordinates.
        """
        if not hasattr(view, "GetXYToRAS"):
            return self._pointList(arrayPoints, scene["toWorld"], name)
        world = [(scene["toWorld"] @ np.r_[kji[::-1], 1.0])[:3] for kji in np.asarray(arrayPoints, dtype=float)]
        MIDeepSegLogic.alignViewToVolume(view, scene["volume"], world[0])
        xyToRAS = slicer.util.arrayFromVTKMatrix(view.GetXYToRAS())
        node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", name)
        for point in world:
            xy = np.rint(np.linalg.solve(xyToRAS, np.r_[point, 1.0])[:2])
            node.AddControlPointWorld(*(xyToRAS @ np.r_[xy, 0.0, 1.0])[:3])
        return node

    @staticmethod
    def _segment(scene, segmentID):
        return slicer.util.arrayFromSegmentBinaryLabelmap(scene["segmentation"], segmentID, scene["volume"]) > 0

    @staticmethod
    def _dice(a, b):
        return 2.0 * np.logical_and(a, b).sum() / max(int(np.sum(a)) + int(np.sum(b)), 1)

    @staticmethod
    def _correctionClick(mask, reference, spacing):
        """The simulated user's next click (MIDeepSegLib.core.simulate): (array point, is foreground) or None."""
        from MIDeepSegLib.core.simulate import refinement_click

        click = refinement_click(mask, reference, spacing)
        return None if click is None else (click.point, click.foreground)

    @staticmethod
    def _sagittalView():
        """The Yellow view, sagittal; without a layout (--no-main-window, slicer-core) a slice node of its own.

        A real vtkMRMLSliceNode either way, so that 2D points go through the
        view's plane (alignViewToVolume, XYToRAS) as a user's clicks do.
        """
        sliceNode = slicer.mrmlScene.GetNodeByID("vtkMRMLSliceNodeYellow")
        if sliceNode is None:
            sliceNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSliceNode", "MIDeepSegTest sagittal")
            sliceNode.SetLayoutName("MIDeepSegTest")
            sliceNode.SetDimensions(400, 300, 1)
            sliceNode.SetFieldOfView(250.0, 187.5, 1.0)
        sliceNode.SetOrientation("Sagittal")
        return sliceNode

    # --- tests ----------------------------------------------------------------------------------------

    def test_GeometryAndWriteBack(self):
        """Clicks reach the Segmenter at the right voxels through the transform; masks land on the right voxels."""
        self.delayDisplay("Geometry and write-back, with a stand-in Segmenter")
        created = []

        class BoxSegmenter:
            """Stand-in: initial = the box spanned by the points; refine sets / clears the clicked voxels."""

            def __init__(self, image, spacing, **kwargs):
                self.image, self.spacing, self.masks, self.calls = image, spacing, [], []
                self.history = []  # the clicks of each state, as Segmenter.history
                created.append(self)

            @property
            def result(self):
                from types import SimpleNamespace

                if not self.masks:
                    return None
                return SimpleNamespace(mask=self.masks[-1], probability=self.masks[-1].astype(np.float32),
                                       timings={"total": 0.0})

            def initial(self, points):
                self.calls.append(("initial", np.asarray(points)))
                low, high = np.rint(points).min(axis=0).astype(int), np.rint(points).max(axis=0).astype(int)
                self.masks = [np.zeros(self.image.shape, np.uint8)]
                self.masks[0][tuple(slice(a, b + 1) for a, b in zip(low, high))] = 1
                empty = np.zeros((0, self.image.ndim))
                self.history = [{"points": np.asarray(points, float), "foreground": empty, "background": empty}]
                return self.result

            def refine(self, foreground, background):
                self.calls.append(("refine", np.asarray(foreground), np.asarray(background)))
                mask = self.masks[-1].copy()
                for points, value in ((foreground, 1), (background, 0)):
                    for p in np.rint(np.asarray(points)).astype(int).reshape(-1, mask.ndim):
                        mask[tuple(p)] = value
                self.masks.append(mask)
                last = self.history[-1]
                self.history.append({"points": last["points"],
                                     "foreground": np.vstack([last["foreground"], foreground]),
                                     "background": np.vstack([last["background"], background])})
                return self.result

            def undo(self):
                self.calls.append(("undo",))
                self.masks.pop()
                self.history.pop()

            def reset(self):
                self.calls.append(("reset",))
                self.masks, self.history = [], []

        scene = self._syntheticScene()
        logic = MIDeepSegLogic(segmenterFactory=BoxSegmenter)
        otherBefore = self._segment(scene, scene["otherID"])
        interior = self._pointList(scene["interior"], scene["toWorld"], "interior")
        foreground = self._pointList([], scene["toWorld"], "foreground")
        background = self._pointList([], scene["toWorld"], "background")

        def run():
            return logic.update(scene["volume"], scene["segmentation"], scene["targetID"], interior, foreground,
                                background, model="stand-in").action

        self.assertEqual(run(), "initial")
        segmenter = created[-1]
        self.assertEqual(segmenter.image.shape, (40, 64, 56))
        np.testing.assert_allclose(segmenter.spacing, (2.5, 0.9, 0.8))
        self.assertEqual([c[0] for c in segmenter.calls], ["reset", "initial"])
        np.testing.assert_allclose(segmenter.calls[1][1], scene["interior"], atol=1e-3)
        self.assertTrue(np.array_equal(self._segment(scene, scene["targetID"]), segmenter.masks[-1] > 0))

        fgVoxel, bgVoxel = (5, 5, 5), tuple(int(c) for c in np.rint(scene["center"]))
        foreground.AddControlPointWorld(*(scene["toWorld"] @ np.r_[fgVoxel[::-1], 1])[:3])
        self.assertEqual(run(), "refine")
        background.AddControlPointWorld(*(scene["toWorld"] @ np.r_[bgVoxel[::-1], 1])[:3])
        self.assertEqual(run(), "refine")
        written = self._segment(scene, scene["targetID"])
        self.assertTrue(written[fgVoxel] and not written[bgVoxel])
        background.RemoveNthControlPoint(0)
        self.assertEqual(run(), "undo")
        self.assertEqual(segmenter.calls[-1], ("undo",))
        self.assertTrue(self._segment(scene, scene["targetID"])[bgVoxel])

        outside = self._pointList([[-3.0, 10.0, 10.0]], scene["toWorld"], "outside")
        with self.assertRaises(PointOutsideError):
            logic.update(scene["volume"], scene["segmentation"], scene["targetID"], outside, model="stand-in")
        self.assertTrue(np.array_equal(self._segment(scene, scene["otherID"]), otherBefore))

        self.delayDisplay("2D mode on a sagittal view")
        sliceID = MIDeepSegLogic.addSegment(scene["segmentation"], "slice")
        j = 30
        points2D = np.array([[14.0, j, 20.0], [26.0, j, 20.0], [20.0, j, 14.0], [20.0, j, 40.0]])
        view = self._sagittalView()
        update = logic.update(scene["volume"], scene["segmentation"], sliceID,
                              self._viewPointList(view, points2D, scene, "interior 2D"), mode="2D",
                              sliceView=view, model="stand-in")
        self.assertEqual((update.axis, update.sliceIndex), (1, j))  # j is this volume's R axis
        self.assertEqual(created[-1].image.shape, (40, 56))
        np.testing.assert_allclose(created[-1].spacing, (2.5, 0.8))
        written = self._segment(scene, sliceID)
        self.assertTrue(written[:, j].any() and not np.delete(written, j, axis=1).any())
        self.assertTrue(np.array_equal(self._segment(scene, scene["otherID"]), otherBefore))
        logic.resetSession(restore=True)
        self.assertFalse(self._segment(scene, sliceID).any())
        self.delayDisplay("Geometry and write-back passed")

    def test_SyntheticDice(self):
        """The shipped models: Dice after the interior points, after corrections; undo; 2D on a sagittal view."""
        if self._modelsMissing("test_SyntheticDice", "3D", "2D"):
            return
        scene = self._syntheticScene()
        logic = MIDeepSegLogic()
        otherBefore = self._segment(scene, scene["otherID"])
        reference = scene["lesion"]
        interior = self._pointList(scene["interior"], scene["toWorld"], "interior")
        clickLists = {True: self._pointList([], scene["toWorld"], "foreground"),
                      False: self._pointList([], scene["toWorld"], "background")}

        def run():
            update = logic.update(scene["volume"], scene["segmentation"], scene["targetID"], interior,
                                  clickLists[True], clickLists[False])
            logger.info("MIDeepSeg self-test: %s", update.describe())
            return update.action

        run()
        masks = [self._segment(scene, scene["targetID"])]
        lastList = None
        for _click in range(2):
            click = self._correctionClick(masks[-1], reference, scene["spacing"])
            if click is None:
                break
            lastList = clickLists[click[1]]
            lastList.AddControlPointWorld(*(scene["toWorld"] @ np.r_[click[0][::-1], 1])[:3])
            run()
            masks.append(self._segment(scene, scene["targetID"]))
        dices = [self._dice(m, reference) for m in masks]
        self.delayDisplay("Dice after 0, 1, 2 corrections: " + ", ".join(f"{d:.3f}" for d in dices))
        self.assertGreaterEqual(dices[0], 0.80)
        self.assertGreaterEqual(dices[-1], max(0.85, dices[0] - 0.01))
        if lastList is not None:
            lastList.RemoveNthControlPoint(lastList.GetNumberOfControlPoints() - 1)
            self.assertEqual(run(), "undo")
            self.assertTrue(np.array_equal(self._segment(scene, scene["targetID"]), masks[-2]))
        self.assertTrue(np.array_equal(self._segment(scene, scene["otherID"]), otherBefore))

        j, c, s = int(scene["center"][1]), scene["center"], 0.8 * scene["semiAxes"]
        points2D = np.array([[c[0] - s[0], j, c[2]], [c[0] + s[0], j, c[2]], [c[0], j, c[2] - s[2]],
                             [c[0], j, c[2] + s[2]]])
        sliceID = MIDeepSegLogic.addSegment(scene["segmentation"], "slice")
        view = self._sagittalView()
        update = logic.update(scene["volume"], scene["segmentation"], sliceID,
                              self._viewPointList(view, points2D, scene, "interior 2D"), mode="2D",
                              sliceView=view)
        self.assertEqual(update.axis, 1)
        written = self._segment(scene, sliceID)
        self.assertFalse(np.delete(written, j, axis=1).any())
        self.assertGreaterEqual(self._dice(written[:, j], reference[:, j]), 0.80)

    def test_MRBrainTumor1(self):
        """Real MR (MRBrainTumor1: its grid, header, intensities and anatomy) with a lesion of known shape added."""
        if self._modelsMissing("test_MRBrainTumor1", "3D"):
            return
        try:
            import SampleData
        except ImportError as error:  # slicer-core: no Qt application, no SampleData module
            self._logSkip("test_MRBrainTumor1", f"the SampleData module is not available ({error})")
            return

        from MIDeepSegLib.scenes import insert_lesion

        sample = SampleData.downloadSample("MRBrainTumor1")
        ijkToRAS = vtk.vtkMatrix4x4()
        sample.GetIJKToRASMatrix(ijkToRAS)
        toWorld = slicer.util.arrayFromVTKMatrix(ijkToRAS)
        spacing = np.array(sample.GetSpacing())[::-1]
        lesionScene = insert_lesion(slicer.util.arrayFromVolume(sample), spacing)
        image, reference = lesionScene["image"], lesionScene["lesion"]
        volumeNode = slicer.util.addVolumeFromArray(image, ijkToRAS=toWorld, name="MRBrainTumor1 with lesion")
        segmentationNode = MIDeepSegLogic.createSegmentation(volumeNode)
        segmentID = MIDeepSegLogic.addSegment(segmentationNode, "lesion")
        scene = {"segmentation": segmentationNode, "volume": volumeNode}
        interior = self._pointList(lesionScene["interior"], toWorld, "interior")
        clickLists = {True: self._pointList([], toWorld, "foreground"),
                      False: self._pointList([], toWorld, "background")}
        logic = MIDeepSegLogic()

        def run():
            update = logic.update(volumeNode, segmentationNode, segmentID, interior, clickLists[True],
                                  clickLists[False])
            logger.info("MIDeepSeg self-test on MRBrainTumor1 %s: %s", image.shape, update.describe())

        run()
        initial = self._dice(self._segment(scene, segmentID), reference)
        click = self._correctionClick(self._segment(scene, segmentID), reference, spacing)
        if click is not None:
            clickLists[click[1]].AddControlPointWorld(*(toWorld @ np.r_[click[0][::-1], 1])[:3])
            run()
        final = self._dice(self._segment(scene, segmentID), reference)
        self.delayDisplay(f"MRBrainTumor1: Dice {initial:.3f} initially, {final:.3f} after one correction")
        self.assertGreaterEqual(initial, 0.80)
        self.assertGreaterEqual(final, max(0.85, initial - 0.01))
