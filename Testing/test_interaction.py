"""MIDeepSegLib.interaction on the event sequences Slicer produces.

Slicer cannot run here, so each sequence is written out from Slicer's source
(cited per test, Slicer main @583e9b37; the same code is in v5.8.1 and
v5.12.3 unless said). ``Scene`` and ``PointList`` below reproduce only what
those sequences depend on: the unique-ID counter that ``vtkMRMLScene::Clear``
resets, control points with a position status, and the events with their
call data. The same decisions run on real MRML in the slicer-core tests
(issue 16).
"""

import concurrent.futures
import threading

import pytest

from MIDeepSegLib.interaction import (
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

MIN_POINTS = {"3D": 5, "2D": 3}


class Scene:
    """vtkMRMLScene's ID generation: GenerateUniqueID counts per class name; Clear() empties the counters
    (Libs/MRML/Core/vtkMRMLScene.cxx, vtkMRMLScene::Clear: ``this->UniqueIDs.clear();``)."""

    def __init__(self):
        self.ids = {}

    def new_id(self, class_name):
        self.ids[class_name] = self.ids.get(class_name, 0) + 1
        return f"{class_name}{self.ids[class_name]}"

    def clear(self):
        self.ids.clear()


class PointList:
    """A markups fiducial list: control points with IDs and a position status, and the events the module
    observes (Libs/MRML/Core/vtkMRMLMarkupsNode.cxx)."""

    DEFINED, PREVIEW = "defined", "preview"

    def __init__(self, scene):
        self.id = scene.new_id("vtkMRMLMarkupsFiducialNode")
        self.points = []  # [point ID, position, status]
        self.next_point = 0
        self.events = []  # (event, call data)

    def add_preview(self, position):
        """vtkSlicerMarkupsWidget::UpdatePreviewPoint -> UpdateActiveControlPointWorld adds a point in
        PositionPreview status while the mouse moves in place mode (PointAddedEvent)."""
        self.next_point += 1
        self.points.append([f"{self.next_point}", position, self.PREVIEW])
        self.events.append(("PointAddedEvent", len(self.points) - 1))

    def leave(self):
        """vtkSlicerMarkupsWidget::Leave -> RemovePreviewPoint: the auto-created preview point is removed
        with RemoveNthControlPoint when the cursor leaves the view (PointRemovedEvent)."""
        index = next(i for i, p in enumerate(self.points) if p[2] == self.PREVIEW)
        del self.points[index]
        self.events.append(("PointRemovedEvent", index))

    def click(self):
        """A left click in place mode defines the preview point's position: SetNthControlPointPosition ->
        PointPositionDefinedEvent with the point's index as call data
        (``InvokeCustomModifiedEvent(PointPositionDefinedEvent, static_cast<void*>(&n))``)."""
        index = next(i for i, p in enumerate(self.points) if p[2] == self.PREVIEW)
        self.points[index][2] = self.DEFINED
        self.events.append(("PointPositionDefinedEvent", index))
        return index

    def snapshot(self):
        return tuple((p[0], p[1]) for p in self.points if p[2] == self.DEFINED)


# --- 1. scene close: ID reuse ------------------------------------------------------------------------

def test_lists_recreated_after_scene_close_are_observed_although_their_ids_are_reused():
    """vtkMRMLScene::Clear (Libs/MRML/Core/vtkMRMLScene.cxx) clears UniqueIDs, so the lists the widget
    re-creates at EndCloseEvent get vtkMRMLMarkupsFiducialNode1..3 again. Comparing IDs (the old code)
    kept the observers on the deleted nodes; WatchedLists compares objects."""
    scene = Scene()
    old = [PointList(scene) for _ in range(3)]
    watched = WatchedLists()
    assert watched.change(old) == ((), tuple(old))
    assert watched.change(old) == ((), ())  # the same objects: nothing to do

    scene.clear()
    new = [PointList(scene) for _ in range(3)]
    assert [n.id for n in new] == [o.id for o in old]  # the root of the defect
    stop, start = watched.change(new)
    assert stop == tuple(old) and start == tuple(new)
    assert all(a is b for a, b in zip(watched.lists, new))


def test_scene_close_forgets_the_lists_and_re_observes_whatever_comes_next():
    scene = Scene()
    lists = [PointList(scene)]
    watched = WatchedLists()
    watched.change(lists)
    action = scene_closed()
    assert action.end_session and not action.restore and action.drop_spare
    assert action.forget_history and action.forget_lists
    assert watched.forget() == tuple(lists)
    scene.clear()
    again = [PointList(scene)]
    assert watched.change(again) == ((), tuple(again))
    assert watched.change([None, again[0]]) == ((), ())  # an unset role is skipped


# --- 3. hover: preview point added and removed ------------------------------------------------------

def test_hovering_across_views_with_no_points_never_updates():
    """In place mode vtkSlicerMarkupsWidget (Modules/Loadable/Markups/VTKWidgets/vtkSlicerMarkupsWidget.cxx)
    adds a preview point on mouse move (UpdatePreviewPoint) and Leave() removes it (RemovePreviewPoint ->
    RemoveNthControlPoint, PointRemovedEvent). With 0 interior points the old check `0 < count < min`
    was false, so every crossing between views ran an update (install prompt, empty segmentation)."""
    scene = Scene()
    interior = PointList(scene)
    gate = UpdateGate(MIN_POINTS)
    for _view in range(4):  # the cursor enters and leaves four views
        interior.add_preview((1.0, 2.0, 3.0))
        assert gate.decide((interior.snapshot(), (), ()), "3D") == UpdateGate.NOTHING
        interior.leave()
        assert gate.decide((interior.snapshot(), (), ()), "3D") == UpdateGate.NOTHING
    assert [e for e, _ in interior.events] == ["PointAddedEvent", "PointRemovedEvent"] * 4


def test_clicks_wait_until_the_mode_minimum_then_update_and_hover_in_between_changes_nothing():
    scene = Scene()
    interior = PointList(scene)
    gate = UpdateGate(MIN_POINTS)
    decisions = []
    for n in range(5):
        interior.add_preview((float(n), 0.0, 0.0))
        interior.click()
        decisions.append(gate.decide((interior.snapshot(), (), ()), "3D"))
        interior.add_preview((9.0, 9.0, 9.0))  # the next preview follows the mouse
        interior.leave()
        assert gate.decide((interior.snapshot(), (), ()), "3D") == UpdateGate.NOTHING
    assert decisions == [UpdateGate.WAIT] * 4 + [UpdateGate.UPDATE]
    # 2D needs 3; auto-update off always waits
    gate2 = UpdateGate(MIN_POINTS)
    three = (interior.snapshot()[:3], (), ())
    assert gate2.decide(three, "2D") == UpdateGate.UPDATE
    gate2.forget()
    assert gate2.decide(three, "2D", auto_update=False) == UpdateGate.WAIT


def test_removing_the_last_interior_point_clears_only_when_a_session_wrote():
    gate = UpdateGate(MIN_POINTS)
    points = tuple((f"{i}", (float(i), 0.0, 0.0)) for i in range(5))
    assert gate.decide((points, (), ()), "3D") == UpdateGate.UPDATE
    assert gate.decide(((), (), ()), "3D", session_active=True) == UpdateGate.CLEAR
    gate.forget()
    assert gate.decide(((), (), ()), "3D", session_active=False) == UpdateGate.NOTHING


def test_after_segment_was_pressed_below_the_minimum_corrections_update():
    gate = UpdateGate(MIN_POINTS)
    three = tuple((f"{i}", (float(i), 0.0, 0.0)) for i in range(3))
    assert gate.decide((three, (), ()), "3D") == UpdateGate.WAIT  # 3 < 5: the user presses Segment
    click = (("4", (9.0, 9.0, 9.0)),)
    assert gate.decide((three, click, ()), "3D", session_active=True) == UpdateGate.UPDATE
    assert gate.decide((three, click, ()), "3D", auto_update=False, session_active=True) == UpdateGate.NOTHING
    assert gate.decide((three, (), ()), "3D", auto_update=False, session_active=True) == UpdateGate.WAIT


def test_a_moved_point_is_a_change():
    gate = UpdateGate(MIN_POINTS)
    points = [(f"{i}", (float(i), 0.0, 0.0)) for i in range(5)]
    assert gate.decide((points, (), ()), "3D") == UpdateGate.UPDATE
    points[2] = ("2", (2.0, 1.0, 0.0))
    assert gate.decide((points, (), ()), "3D") == UpdateGate.UPDATE
    assert gate.decide((points, (), ()), "3D") == UpdateGate.NOTHING


# --- 12. the event's point index -------------------------------------------------------------------

def test_point_position_defined_refers_to_its_call_data_index_not_the_last_point():
    """vtkMRMLMarkupsNode::SetNthControlPointPositionWorld (and SetNthControlPointPosition, line 1031 on
    main, 1068 in v5.8.1) invokes PointPositionDefinedEvent with the point's index as call data. Placing an
    unplaced point from the Markups table defines a point that is not the last one."""
    scene = Scene()
    points = PointList(scene)
    for position in ((0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (2.0, 0.0, 0.0)):
        points.add_preview(position)
        points.click()
    points.points[1][2] = PointList.PREVIEW  # "unplaced" (UnsetNthControlPointPosition), then placed again
    index = points.click()
    event, call_data = points.events[-1]
    assert (event, call_data, index) == ("PointPositionDefinedEvent", 1, 1)
    assert event_point_index(call_data, len(points.points)) == 1
    assert event_point_index(None, 3) == 2  # no call data delivered: the last point
    assert event_point_index(7, 3) == -1 and event_point_index(0, 0) == -1 and event_point_index(None, 0) == -1


# --- undo order ------------------------------------------------------------------------------------

def test_click_history_skips_clicks_deleted_elsewhere_and_compares_list_objects():
    scene = Scene()
    interior, foreground = PointList(scene), PointList(scene)
    history = ClickHistory()
    history.add(interior, "1")
    history.add(foreground, "1")
    history.add(foreground, "2")
    alive = {(id(interior), "1"), (id(foreground), "1")}  # foreground point 2 was deleted in Markups
    assert history.pop(lambda node, pid: (id(node), pid) in alive) == (foreground, "1")
    assert len(history) == 1
    history.keep_only(interior, "1")
    assert history.pop(lambda node, pid: True) == (interior, "1")
    assert history.pop(lambda node, pid: True) is None
    history.keep_only(None, None)
    assert len(history) == 0


# --- 4. busy, cancel, re-entrancy -----------------------------------------------------------------

def test_one_busy_flag_refuses_reentrant_calls():
    """While the worker runs, _runInWorker pumps slicer.app.processEvents(), so a shortcut, a button
    or the queued timer can call another handler (re-entrancy). Every handler checks the one flag."""
    busy = Busy()
    with busy.hold("segmenting"):
        assert busy.busy
        with pytest.raises(BusyError, match="segmenting"):
            busy.start("installing PyTorch")
    assert not busy.busy
    with pytest.raises(RuntimeError, match="worker failed"), busy.hold("segmenting"):
        raise RuntimeError("worker failed")
    assert not busy.busy  # released on errors too


def test_cancel_discards_the_result_and_stays_busy_until_the_worker_really_ends():
    busy = Busy()
    release = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        busy.start("segmenting")
        future = executor.submit(lambda: release.wait(10) and "stale mask")
        busy.cancel()
        assert busy.cancelled
        busy.finish(future)  # the GUI stops waiting
        assert busy.busy  # but the worker still runs: nothing new may start on it
        with pytest.raises(BusyError, match="cancelled"):
            busy.start("segmenting")
        release.set()
        future.result(timeout=10)
        assert not busy.busy
        busy.start("segmenting")
        assert not busy.cancelled  # a new computation starts uncancelled
        busy.finish()
    busy.cancel()  # nothing running: no effect
    assert not busy.cancelled


# --- 5. mode switch, session key ------------------------------------------------------------------

def test_mode_switch_ends_the_session_keeps_the_segment_and_shows_the_mode_model():
    paths = {"3D": "/models/my3d.pt", "2D": ""}
    switch = mode_switch("3D", "2D", paths)
    assert switch.end_session and not switch.restore and switch.clear_points
    assert switch.model_path == ""
    assert mode_switch("2D", "3D", paths).model_path == "/models/my3d.pt"
    assert mode_switch("3D", "3D", paths) is None


def test_session_key_compares_nodes_by_identity():
    """After a scene close a new volume can get the old volume's ID (vtkMRMLScene::Clear), so a session
    key holding IDs would match a session on a deleted node."""
    scene = Scene()
    old_volume, segmentation = PointList(scene), object()
    scene.clear()
    new_volume = PointList(scene)
    assert old_volume.id == new_volume.id
    a = SessionKey(old_volume, segmentation, "Segment_1", "2D", 1, 30)
    assert not same_target(a, a._replace(volume=new_volume))
    assert same_target(a, a._replace(index=31)) and not same_session(a, a._replace(index=31))
    assert same_session(a, SessionKey(old_volume, segmentation, "Segment_1", "2D", 1, 30))
    assert not same_target(a, a._replace(mode="3D", axis=None, index=None))
    assert not same_target(a, None)
    assert (a.mode, a.axis, a.index) == ("2D", 1, 30)


# --- peer habits: modifier-click, PyTorch minimum, settings ---------------------------------------

def test_modifier_click_roles():
    """vtkSlicerMarkupsWidget's constructor translates LeftButtonPress/Release in WidgetStateDefine only with
    vtkEvent::NoModifier, so Shift/Ctrl-clicks are free for the module."""
    assert modifier_role(True, False) == "foreground"
    assert modifier_role(False, True) == "background"
    assert modifier_role(False, False) is None and modifier_role(True, True) is None


@pytest.mark.parametrize("version,expected", [
    ("2.1.0", True), ("2.1", True), ("2.13.0+cpu", True), ("2.1.0+cu121", True), ("10.0", True),
    ("2.0.1", False), ("1.13.1+cu117", False), ("2.1.0a0+git", True), ("2.0.0rc1", False),
])
def test_torch_minimum_version(version, expected):
    assert version_at_least(version, "2.1") is expected


def test_torch_minimum_is_the_projects_requirement():
    import re
    from pathlib import Path

    from MIDeepSegLib.interaction import TORCH_MINIMUM

    pyproject = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text(encoding="utf-8")
    assert f'"torch>={TORCH_MINIMUM}"' in pyproject, re.findall(r'"torch[^"]*"', pyproject)


def test_bad_version_is_an_error():
    with pytest.raises(ValueError, match="not a version"):
        version_at_least("unknown", "2.1")


def test_settings_booleans_from_qsettings_strings():
    assert setting_bool("true", False) and not setting_bool("false", True)
    assert setting_bool(None, True) and not setting_bool("", False)
    assert setting_bool(True, False) and not setting_bool(0, True)
