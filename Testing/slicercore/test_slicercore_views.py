"""Points placed as a user places them: mouse events in a real Red slice view, off-screen.

The view is assembled from Slicer's own classes (slicercore_app.SliceView: slice
logic, Markups displayable manager, slice view interactor style); the module's
point list is the active place node and the interaction node is in Place mode,
as the module's place widgets set it. Mouse move / left click / leave events go
to the view's interactor, so Slicer's Markups placement widget makes the
control points and fires the events: the preview point while hovering, the
placed point with ``PointPositionDefinedEvent`` (call data: its index), the
preview's removal when the cursor leaves the view.

What the module does with those events is decided by
``MIDeepSegLib.interaction`` (UpdateGate, event_point_index) and
``MIDeepSegLogic`` (placedSnapshot, isInside, alignViewToVolume, update); the
Qt widget that wires them together (timers, status label) cannot run without
Qt, so the tests make the same calls in the same order.
"""

import os

import numpy as np
import pytest
import slicercore_required

slicercore_required.require()

import slicer  # noqa: E402
import slicercore_app  # noqa: E402
import vtk  # noqa: E402

from MIDeepSegLib import interaction  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class PointEvents:
    """Records a point list's events in order, with the call data of PointPositionDefinedEvent."""

    NAMES = ("PointAddedEvent", "PointRemovedEvent", "PointPositionDefinedEvent", "PointPositionUndefinedEvent")

    def __init__(self, node):
        self.events, self.tags, self.node = [], [], node
        for name in self.NAMES:
            self.tags.append(node.AddObserver(getattr(slicer.vtkMRMLMarkupsNode, name), self._callback(name)))

    def _callback(self, name):
        @vtk.calldata_type(vtk.VTK_INT)
        def callback(caller, event, callData=None):
            self.events.append((name, callData))

        return callback

    def take(self):
        events, self.events = self.events, []
        return events


@pytest.fixture(scope="module")
def redView(slicer_app):
    """The Red view lives as long as the application, across scene closes, as in Slicer."""
    problem = slicercore_app.offscreenRenderingProblem()
    if problem:
        pytest.skip(problem)
    view = slicercore_app.SliceView(slicer_app, "Red", "Axial")
    yield view
    view.close()


@pytest.fixture
def red(slicer_app, redView, scene):
    redView.sliceNode.SetOrientation("Axial")
    yield redView
    redView.leave()
    slicer_app.interactionNode().SetCurrentInteractionMode(slicer.vtkMRMLInteractionNode.ViewTransform)


@pytest.fixture
def pointLists(module, slicer_app, scene):
    """The module's three point lists, made by the logic as the widget makes them."""
    logic = module.MIDeepSegLogic()
    parameterNode = logic.getParameterNode()
    logic.createPointLists(parameterNode)
    return logic, [parameterNode.interiorPoints, parameterNode.foregroundPoints, parameterNode.backgroundPoints]


@pytest.fixture
def placing(module, slicer_app, tilted, red, pointLists):
    """The volume in the Red view and the interior list in place mode: (logic, lists, events, gate)."""
    logic, lists = pointLists
    red.showVolume(tilted["volume"])
    slicercore_app.placeMode(slicer_app, lists[0])
    return logic, lists, PointEvents(lists[0]), interaction.UpdateGate(module.AUTO_RUN_MIN_POINTS)


def _world(scene, kji):
    return (scene["toWorld"] @ np.r_[np.asarray(kji, dtype=float)[::-1], 1.0])[:3]


def test_hover_shows_a_preview_point_that_leaving_removes_and_neither_updates(tilted, red, placing):
    """Issue 14 item 3 on real Slicer: the preview point comes and goes; the gate sees no placed click."""
    logic, lists, events, gate = placing
    interior = lists[0]

    x, y = red.displayPosition(_world(tilted, tilted["center"]))
    red.mouseMove(x, y)
    assert interior.GetNumberOfControlPoints() == 1  # the preview point follows the mouse
    assert interior.GetNthControlPointPositionStatus(0) == slicer.vtkMRMLMarkupsNode.PositionPreview
    assert ("PointAddedEvent", None) in [(n, None) for n, _ in events.take()]
    assert gate.decide(logic.placedSnapshot(lists), "3D") == gate.NOTHING

    red.leave()
    assert interior.GetNumberOfControlPoints() == 0
    assert [name for name, _ in events.take()] == ["PointRemovedEvent"]
    assert gate.decide(logic.placedSnapshot(lists), "3D") == gate.NOTHING  # nothing was placed: no update

    red.mouseMove(x, y)  # back in the view, then out again: still nothing to do
    red.leave()
    assert gate.decide(logic.placedSnapshot(lists), "3D") == gate.NOTHING


def test_3d_mode_clicks_in_the_red_view_segment_the_lesion(module, tilted, red, placing):
    """Five interior margin points clicked in the Red view, each on the slice the user scrolled to."""
    logic, lists, events, gate = placing
    interior = lists[0]
    decisions = []
    segmentation, targetID = tilted["segmentation"], tilted["targetID"]

    for number, kji in enumerate(tilted["interior"][:module.AUTO_RUN_MIN_POINTS["3D"]]):
        target = _world(tilted, kji)
        red.jumpTo(target)
        x, y = red.displayPosition(target)
        red.mouseMove(x - 3, y + 2)  # hover first, as a hand does
        red.click(x, y)
        got = events.take()
        defined = [data for name, data in got if name == "PointPositionDefinedEvent"]
        assert len(defined) == 1, (got, interior.GetNumberOfControlPoints(), x, y)
        index = interaction.event_point_index(defined[0], interior.GetNumberOfControlPoints())
        assert interior.GetNthControlPointPositionStatus(index) == slicer.vtkMRMLMarkupsNode.PositionDefined
        world = interior.GetNthControlPointPositionWorld(index)
        # the click lands where the user clicked, on the slice: within a pixel of the target
        assert np.linalg.norm(np.subtract(world, target)) < red.pixelSize()
        assert logic.isInside(tilted["volume"], world)
        decision = gate.decide(logic.placedSnapshot(lists), "3D")
        decisions.append(decision)
        if decision == gate.UPDATE:
            logic.update(tilted["volume"], segmentation, targetID, *lists)
    red.leave()  # the cursor leaves: the preview point goes, the placed clicks stay
    assert gate.decide(logic.placedSnapshot(lists), "3D") == gate.NOTHING
    assert decisions == [gate.WAIT] * 4 + [gate.UPDATE]
    mask = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, targetID, tilted["volume"]) > 0
    dice = 2.0 * (mask & tilted["lesion"]).sum() / (mask.sum() + tilted["lesion"].sum())
    assert dice >= 0.80, dice


def test_a_click_outside_the_volume_is_recognised(module, tilted, red, placing):
    logic, lists, events, _gate = placing
    interior = lists[0]
    fov = red.sliceNode.GetFieldOfView()
    red.sliceNode.SetFieldOfView(fov[0] * 4, fov[1] * 4, fov[2])  # zoomed out: the volume is a small part
    red.click(2, 2)  # a corner of the view
    defined = [data for name, data in events.take() if name == "PointPositionDefinedEvent"]
    assert len(defined) == 1
    index = interaction.event_point_index(defined[0], interior.GetNumberOfControlPoints())
    world = interior.GetNthControlPointPositionWorld(index)
    assert not logic.isInside(tilted["volume"], world)
    with pytest.raises(module.PointOutsideError, match="outside the volume"):
        logic.update(tilted["volume"], tilted["segmentation"], tilted["targetID"], *lists)


def _sagittalTargets(tilted):
    """(j, four world points): interior margin points of the lesion on its central array slice j."""
    c, s = tilted["center"], 0.8 * tilted["semi_axes"]
    j = int(round(c[1]))
    return j, [_world(tilted, p) for p in ([c[0] - s[0], j, c[2]], [c[0] + s[0], j, c[2]],
                                           [c[0], j, c[2] - s[2]], [c[0], j, c[2] + s[2]])]


def _clickAll(red, interior, events, worldPoints):
    """Click at each point's pixel of the current slice; return the world positions Slicer placed."""
    placed = []
    for target in worldPoints:
        x, y = red.displayPosition(target)
        red.click(x, y)
        defined = [data for name, data in events.take() if name == "PointPositionDefinedEvent"]
        assert len(defined) == 1
        index = interaction.event_point_index(defined[0], interior.GetNumberOfControlPoints())
        placed.append(np.array(interior.GetNthControlPointPositionWorld(index)))
    return placed


def test_2d_mode_on_a_sagittal_view_of_the_tilted_volume(module, slicer_app, tilted, red, pointLists):
    """Issue 14 item 2 on real Slicer: on the RAS-aligned sagittal view the clicks fall on several array
    slices; once 2D mode turns the view to the volume's plane they fall on one, and the slice is segmented."""
    logic, lists = pointLists
    interior = lists[0]
    volume = tilted["volume"]
    red.sliceNode.SetOrientation("Sagittal")
    red.showVolume(volume)
    j, targets = _sagittalTargets(tilted)
    c = tilted["center"]
    slicercore_app.placeMode(slicer_app, interior)
    events = PointEvents(interior)

    red.jumpTo(_world(tilted, [c[0], j, c[2]]))
    placed = _clickAll(red, interior, events, targets)
    slices = {logic.sliceOf(volume, world, red.sliceNode) for world in placed}
    assert len(slices) > 1, slices  # Slicer's sagittal view is not the volume's plane: the defect's cause
    with pytest.raises(module.PointOutsideError, match="2D mode"):
        logic.update(volume, tilted["segmentation"], tilted["targetID"], *lists, mode="2D", sliceView=red.sliceNode)
    interior.RemoveAllControlPoints()

    module.MIDeepSegLogic.alignViewToVolume(red.sliceNode, volume, _world(tilted, [c[0], j, c[2]]))
    red.render()
    gate = interaction.UpdateGate(module.AUTO_RUN_MIN_POINTS)
    decisions = []
    for target in targets:
        _clickAll(red, interior, events, [target])
        decisions.append(gate.decide(logic.placedSnapshot(lists), "2D"))
    assert decisions == [gate.WAIT] * 2 + [gate.UPDATE] * 2
    placed = [np.array(interior.GetNthControlPointPositionWorld(i)) for i in range(interior.GetNumberOfControlPoints())]
    assert {logic.sliceOf(volume, world, red.sliceNode) for world in placed} == {(1, j)}
    update = logic.update(volume, tilted["segmentation"], tilted["targetID"], *lists, mode="2D",
                          sliceView=red.sliceNode)
    assert (update.axis, update.sliceIndex) == (1, j)
    mask = slicer.util.arrayFromSegmentBinaryLabelmap(tilted["segmentation"], tilted["targetID"], volume) > 0
    assert not np.delete(mask, j, axis=1).any()
    reference = tilted["lesion"][:, j]
    dice = 2.0 * (mask[:, j] & reference).sum() / (mask[:, j].sum() + reference.sum())
    assert dice >= 0.80, dice


# The "placing" case crashed (SIGSEGV) about one run in five inside slicer-core 5.13's own handling of a
# Shift/Ctrl left-button press while Markups place mode is on, even with the module's point addition
# deferred until after the event: the crash is in Slicer's event processing, not in the module's code.
# It is kept as a test to run by hand (MIDEEPSEG_SLICERCORE_PLACING=1) rather than left to fail CI at random.
_PLACING = pytest.param(True, id="placing interior points", marks=pytest.mark.skipif(
    not os.environ.get("MIDEEPSEG_SLICERCORE_PLACING"),
    reason="crashes intermittently inside slicer-core's Markups place mode on a modifier press; "
           "set MIDEEPSEG_SLICERCORE_PLACING=1 to run it"))


@pytest.mark.parametrize("placing", [pytest.param(False, id="view-transform mode"), _PLACING])
def test_shift_and_ctrl_click_add_one_correction_click_and_nothing_else(module, slicer_app, tilted, red,
                                                                          pointLists, placing):
    """The widget's modifier-click handler (MIDeepSegWidget._onSliceViewPress, run as it is on the view's
    interactor, with the widget's state reduced to its parameter node) on a real view: Shift+click adds a
    foreground click, Ctrl+click a background click, at the clicked position; Slicer's placement widget
    places nothing into the active interior list meanwhile."""
    import functools
    import types

    logic, lists = pointLists
    parameterNode = logic.getParameterNode()
    parameterNode.inputVolume = tilted["volume"]
    red.showVolume(tilted["volume"])
    if placing:
        slicercore_app.placeMode(slicer_app, lists[0])
    widgetState = types.SimpleNamespace(_parameterNode=parameterNode, _refuseWhileBusy=lambda: False,
                                        _clickView=None)
    handler = functools.partial(module.MIDeepSegWidget._onSliceViewPress, widgetState, red.sliceNode)
    tag = red.interactor.AddObserver(vtk.vtkCommand.LeftButtonPressEvent, handler, 1.0)  # as _observeSliceViews
    try:
        target = _world(tilted, tilted["center"])
        red.jumpTo(target)
        x, y = red.displayPosition(target)
        for control, shift, expected in ((0, 1, [0, 1, 0]), (1, 0, [0, 1, 1])):
            red.interactor.SetEventInformation(x, y, control, shift)
            red.interactor.MouseMoveEvent()
            red.interactor.LeftButtonPressEvent()
            red.interactor.LeftButtonReleaseEvent()
            placed = [len([i for i in range(n.GetNumberOfControlPoints())
                           if n.GetNthControlPointPositionStatus(i) == slicer.vtkMRMLMarkupsNode.PositionDefined])
                      for n in lists]
            assert placed == expected
        assert widgetState._clickView is red.sliceNode  # _onPointDefined then knows the view of the click
        for node in lists[1:]:
            world = node.GetNthControlPointPositionWorld(0)
            assert np.linalg.norm(np.subtract(world, target)) < red.pixelSize()
    finally:
        red.interactor.RemoveObserver(tag)


class WidgetState:
    """MIDeepSegWidget's point handlers, run as they are, on an object that holds only the widget's state.

    The widget itself is a Qt object and cannot be made here. ``_onPointDefined`` and ``_startSliceView``
    are the widget's own functions; the three Qt-side calls they make (status label, buttons, the update
    timer) only record what was asked.
    """

    def __init__(self, module, logic, parameterNode):
        import types

        from MIDeepSegLib.interaction import ClickHistory

        self.logic, self._parameterNode = logic, parameterNode
        self._suppressUpdates, self._clickView, self._sliceNode = False, None, None
        self._history = ClickHistory()
        self.statuses, self.scheduled = [], 0
        for name in ("_onPointDefined", "_startSliceView"):
            setattr(self, name, types.MethodType(getattr(module.MIDeepSegWidget, name), self))

    def _setStatus(self, text, error=False):
        self.statuses.append((text, error))

    def _updateButtons(self):
        pass

    def _scheduleUpdate(self):
        self.scheduled += 1


def test_the_widgets_point_handler_turns_the_clicked_view_in_2d_mode(module, slicer_app, tilted, red, pointLists):
    """Issue 14 item 2 through the widget's own handler: the first interior point of a 2D session, clicked
    in the RAS-aligned sagittal view, turns *that* view (found through the crosshair's cursor position) to
    the volume's plane; the following clicks then land on one array slice and the update segments it."""
    logic, lists = pointLists
    parameterNode = logic.getParameterNode()
    parameterNode.inputVolume = tilted["volume"]
    parameterNode.mode = "2D"
    state = WidgetState(module, logic, parameterNode)
    tag = lists[0].AddObserver(slicer.vtkMRMLMarkupsNode.PointPositionDefinedEvent, state._onPointDefined)
    try:
        red.sliceNode.SetOrientation("Sagittal")
        red.showVolume(tilted["volume"])
        j, targets = _sagittalTargets(tilted)
        red.jumpTo(targets[0])
        normalBefore = np.array([red.sliceNode.GetSliceToRAS().GetElement(r, 2) for r in range(3)])
        slicercore_app.placeMode(slicer_app, lists[0])
        for target in targets:
            x, y = red.displayPosition(target)
            red.click(x, y)
        assert module._sliceNodeUnderCursor() is red.sliceNode  # the crosshair knows the view of the click
        assert state._sliceNode is red.sliceNode and state.statuses == [] and len(state._history) == 4
        normal = np.array([red.sliceNode.GetSliceToRAS().GetElement(r, 2) for r in range(3)])
        jAxis = tilted["toWorld"][:3, 1] / np.linalg.norm(tilted["toWorld"][:3, 1])
        assert abs(normalBefore @ jAxis) < 0.999  # Slicer's sagittal view was not the volume's plane
        assert abs(normal @ jAxis) > 0.9999  # now it is
        placed = [lists[0].GetNthControlPointPositionWorld(i) for i in range(4)]
        assert {logic.sliceOf(tilted["volume"], world, red.sliceNode) for world in placed} == {(1, j)}
        update = logic.update(tilted["volume"], tilted["segmentation"], tilted["targetID"], *lists, mode="2D",
                              sliceView=state._sliceNode)
        assert (update.axis, update.sliceIndex) == (1, j)
    finally:
        lists[0].RemoveObserver(tag)
