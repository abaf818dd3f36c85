"""MIDeepSegLogic, unchanged, on real MRML nodes with the shipped models.

The scene is the self-test's (MIDeepSegLib.scenes.tilted_lesion_volume as MRML):
a sagittally acquired, 10-degree tilted volume (oblique IJK->RAS) with
0.8 x 0.9 x 2.5 mm voxels under a parent linear transform, a bright lesion of
known shape and a dark sphere in another segment that must stay as it is.
Clicks are real vtkMRMLMarkupsFiducialNode control points, placed in world
coordinates computed with numpy (not with the module's own conversions);
masks are read back through Slicer's own export
(slicer.util.arrayFromSegmentBinaryLabelmap -> ExportSegmentsToLabelmapNode).
"""

import numpy as np
import pytest
import slicercore_required

slicercore_required.require()

import slicer  # noqa: E402
import vtk  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _points(module, arrayPoints, scene, name):
    return module.MIDeepSegTest._pointList(arrayPoints, scene["toWorld"], name)


def _segment(module, scene, segmentID, segmentation=None):
    segmentation = segmentation or scene["segmentation"]
    return slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, segmentID, scene["volume"]) > 0


def _dice(a, b):
    return 2.0 * np.logical_and(a, b).sum() / max(int(a.sum()) + int(b.sum()), 1)


def _geometryParameter(segmentationNode):
    name = slicer.vtkSegmentationConverter.GetReferenceImageGeometryParameterName()
    return segmentationNode.GetSegmentation().GetConversionParameter(name)


def test_the_scene_is_oblique_anisotropic_and_transformed(tilted):
    """What the other tests rely on, read back from the MRML nodes."""
    volume = tilted["volume"]
    directions = np.zeros((3, 3))
    volume.GetIJKToRASDirections(directions)
    assert np.abs(directions - np.round(directions)).max() > 0.1  # not axis-aligned
    assert np.ptp(volume.GetSpacing()) > 1.0  # 0.8 / 0.9 / 2.5 mm
    parent = volume.GetParentTransformNode()
    assert parent is not None and parent.IsLinear()
    assert not np.allclose(slicer.util.arrayFromTransformMatrix(parent), np.eye(4))


def test_initial_points_then_clicks_then_undo(module, tilted):
    """Interior points -> the known object; a correction click; removing it undoes exactly; 'other' untouched."""
    logic = module.MIDeepSegLogic()
    other = _segment(module, tilted, tilted["otherID"])
    assert other.sum() > 0
    interior = _points(module, tilted["interior"], tilted, "interior")
    lists = {True: _points(module, [], tilted, "foreground"), False: _points(module, [], tilted, "background")}

    def run():
        return logic.update(tilted["volume"], tilted["segmentation"], tilted["targetID"], interior, lists[True],
                            lists[False]).action

    assert run() == "initial"
    masks = [_segment(module, tilted, tilted["targetID"])]
    assert _dice(masks[0], tilted["lesion"]) >= 0.80
    assert run() == "none"  # nothing changed: no recomputation

    # a foreground click inside the lesion where the mask missed it (or its centre) and a background click
    # on the dark sphere: both clicks' voxels must end up on the right side
    missed = np.argwhere(tilted["lesion"] & ~masks[0])
    fgVoxel = missed[len(missed) // 2] if len(missed) else np.rint(tilted["center"]).astype(int)
    bgVoxel = np.argwhere(tilted["other"])[len(np.argwhere(tilted["other"])) // 2]
    for voxel, foreground in ((fgVoxel, True), (bgVoxel, False)):
        lists[foreground].AddControlPointWorld(*(tilted["toWorld"] @ np.r_[voxel[::-1], 1.0])[:3])
        assert run() == "refine"
        masks.append(_segment(module, tilted, tilted["targetID"]))
    assert masks[-1][tuple(fgVoxel)] and not masks[-1][tuple(bgVoxel)]
    assert _dice(masks[-1], tilted["lesion"]) >= _dice(masks[0], tilted["lesion"]) - 0.01

    lists[False].RemoveNthControlPoint(0)
    assert run() == "undo"
    assert np.array_equal(_segment(module, tilted, tilted["targetID"]), masks[-2])
    assert np.array_equal(_segment(module, tilted, tilted["otherID"]), other)


def test_a_segmentation_made_by_the_module_is_on_the_volume_grid_under_its_transform(module, tilted):
    segmentation = module.MIDeepSegLogic.createSegmentation(tilted["volume"])
    assert segmentation.GetTransformNodeID() == tilted["volume"].GetTransformNodeID()
    reference = segmentation.GetNodeReference(slicer.vtkMRMLSegmentationNode.GetReferenceImageGeometryReferenceRole())
    assert reference is tilted["volume"]


def test_writing_into_a_closed_surface_segmentation(module, tilted):
    """Issue 14 item 9: the segmentation's source representation is a closed surface (e.g. imported models)."""
    volume = tilted["volume"]
    segmentation = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "surfaces")
    segmentation.SetAndObserveTransformNodeID(volume.GetTransformNodeID())
    closedSurface = slicer.vtkSegmentationConverter.GetSegmentationClosedSurfaceRepresentationName()
    segmentation.GetSegmentation().SetSourceRepresentationName(closedSurface)
    ball = vtk.vtkSphereSource()
    ball.SetRadius(6.0)
    ball.SetCenter(*(tilted["toWorld"] @ np.r_[np.argwhere(tilted["other"]).mean(axis=0)[::-1], 1.0])[:3])
    ball.Update()
    ballID = segmentation.AddSegmentFromClosedSurfaceRepresentation(ball.GetOutput(), "ball")
    targetID = segmentation.GetSegmentation().AddEmptySegment("", "target")
    ballSurface = vtk.vtkPolyData()
    segmentation.GetClosedSurfaceRepresentation(ballID, ballSurface)
    ballSurface = vtk.util.numpy_support.vtk_to_numpy(ballSurface.GetPoints().GetData()).copy()
    assert segmentation.GetSegmentation().GetSourceRepresentationName() == closedSurface

    logic = module.MIDeepSegLogic()
    interior = _points(module, tilted["interior"], tilted, "interior")
    assert logic.update(volume, segmentation, targetID, interior).action == "initial"
    assert _dice(_segment(module, tilted, targetID, segmentation), tilted["lesion"]) >= 0.80
    # written through the segmentation's own converters: its source is still the closed surface and
    # the other segment's surface (the user's data) is exactly as it was
    assert segmentation.GetSegmentation().GetSourceRepresentationName() == closedSurface
    after = vtk.vtkPolyData()
    segmentation.GetClosedSurfaceRepresentation(ballID, after)
    np.testing.assert_array_equal(vtk.util.numpy_support.vtk_to_numpy(after.GetPoints().GetData()), ballSurface)


def test_the_users_segmentation_geometry_is_left_as_it_was(module, tilted):
    """Issue 14 item 10: a segmentation the user made on a finer (oversampled) grid keeps that grid."""
    volume = tilted["volume"]
    ijkToRAS = vtk.vtkMatrix4x4()
    volume.GetIJKToRASMatrix(ijkToRAS)
    fine = slicer.util.arrayFromVTKMatrix(ijkToRAS)
    fine[:3, :3] *= 0.5  # half the voxel size on every axis
    shape = tuple(2 * n for n in slicer.util.arrayFromVolume(volume).shape)
    fineVolume = slicer.util.addVolumeFromArray(np.zeros(shape, np.uint8), ijkToRAS=fine, name="fine grid")
    fineVolume.SetAndObserveTransformNodeID(volume.GetTransformNodeID())
    segmentation = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "user's")
    segmentation.SetAndObserveTransformNodeID(volume.GetTransformNodeID())
    segmentation.SetReferenceImageGeometryParameterFromVolumeNode(fineVolume)
    targetID = segmentation.GetSegmentation().AddEmptySegment("", "target")
    before = _geometryParameter(segmentation)

    logic = module.MIDeepSegLogic()
    interior = _points(module, tilted["interior"], tilted, "interior")
    logic.update(volume, segmentation, targetID, interior)
    assert _geometryParameter(segmentation) == before
    assert _dice(_segment(module, tilted, targetID, segmentation), tilted["lesion"]) >= 0.80


def test_scene_close_reuses_the_ids_and_clicks_on_the_new_lists_still_work(module, slicer_app, tilted):
    """Issue 14 item 1 on real MRML: after Close Scene the re-created point lists get the same IDs."""
    logic = module.MIDeepSegLogic()
    parameterNode = logic.getParameterNode()
    logic.createPointLists(parameterNode)
    old = [parameterNode.interiorPoints, parameterNode.foregroundPoints, parameterNode.backgroundPoints]
    oldIDs = [node.GetID() for node in old]
    for kji in tilted["interior"]:
        old[0].AddControlPointWorld(*(tilted["toWorld"] @ np.r_[kji[::-1], 1.0])[:3])
    logic.update(tilted["volume"], tilted["segmentation"], tilted["targetID"], *old)
    oldVolumeID = tilted["volume"].GetID()

    slicer_app.scene.Clear(0)  # File > Close Scene
    assert all(node.GetScene() is None for node in old)

    fresh = module.MIDeepSegTest._syntheticScene()
    parameterNode = logic.getParameterNode()
    logic.createPointLists(parameterNode)
    new = [parameterNode.interiorPoints, parameterNode.foregroundPoints, parameterNode.backgroundPoints]
    assert [node.GetID() for node in new] == oldIDs  # the root of the defect: same IDs, other objects
    assert fresh["volume"].GetID() == oldVolumeID
    assert all(a is not b for a, b in zip(old, new))

    for kji in fresh["interior"]:
        new[0].AddControlPointWorld(*(fresh["toWorld"] @ np.r_[kji[::-1], 1.0])[:3])
    update = logic.update(fresh["volume"], fresh["segmentation"], fresh["targetID"], *new)
    assert update.action == "initial"
    assert _dice(_segment(module, fresh, fresh["targetID"]), fresh["lesion"]) >= 0.80
    center = np.rint(fresh["center"]).astype(int)
    new[2].AddControlPointWorld(*(fresh["toWorld"] @ np.r_[center[::-1], 1.0])[:3])
    assert logic.update(fresh["volume"], fresh["segmentation"], fresh["targetID"], *new).action == "refine"
    assert not _segment(module, fresh, fresh["targetID"])[tuple(center)]


def test_point_lists_are_compared_as_objects_on_real_mrml(module, slicer_app, tilted):
    """Issue 14 item 1's fix rests on two facts of Slicer's Python wrapping, checked here on real nodes:
    a node fetched again is the same Python object, and WatchedLists re-observes new lists with old IDs."""
    from MIDeepSegLib.interaction import WatchedLists

    logic = module.MIDeepSegLogic()
    parameterNode = logic.getParameterNode()
    logic.createPointLists(parameterNode)
    first = [parameterNode.interiorPoints, parameterNode.foregroundPoints, parameterNode.backgroundPoints]
    assert all(slicer.mrmlScene.GetNodeByID(node.GetID()) is node for node in first)
    assert module._sameNode(parameterNode.interiorPoints, first[0])
    watched = WatchedLists()
    assert watched.change(first) == ((), tuple(first))
    assert watched.change(first) == ((), ())  # the same objects: nothing to do

    slicer_app.scene.Clear(0)
    parameterNode = logic.getParameterNode()
    logic.createPointLists(parameterNode)
    second = [parameterNode.interiorPoints, parameterNode.foregroundPoints, parameterNode.backgroundPoints]
    assert [n.GetID() for n in second] == [n.GetID() for n in first]
    assert not module._sameNode(second[0], first[0])
    stop, start = watched.change(second)
    assert stop == tuple(first) and start == tuple(second)  # observed again although the IDs are the same


def test_point_defined_event_carries_the_index_of_the_point_placed(module, tilted):
    """Issue 14 item 12: placing an unplaced point of the list (or pasting) defines a point that is not the last."""
    from MIDeepSegLib.interaction import event_point_index

    node = _points(module, tilted["interior"][:3], tilted, "interior")
    node.UnsetNthControlPointPosition(1)
    received = []

    @vtk.calldata_type(vtk.VTK_INT)
    def onDefined(caller, event, callData=None):
        received.append(callData)

    node.AddObserver(slicer.vtkMRMLMarkupsNode.PointPositionDefinedEvent, onDefined)
    node.SetNthControlPointPositionWorld(1, *(tilted["toWorld"] @ np.r_[tilted["interior"][1][::-1], 1.0])[:3])
    assert received == [1]
    assert event_point_index(received[0], node.GetNumberOfControlPoints()) == 1  # not the last point (2)
    # the widget's handler declares the call data type, so VTK passes the index to it
    assert getattr(module.MIDeepSegWidget._onPointDefined, "CallDataType", None) == vtk.VTK_INT


def test_3d_after_2d_on_the_same_segment_keeps_the_2d_slice(module, tilted):
    """Issue 14 item 5: a 3D session adds its mask to what the segment held (the slice done in 2D)."""
    logic = module.MIDeepSegLogic()
    volume, segmentation, targetID = tilted["volume"], tilted["segmentation"], tilted["targetID"]
    sagittal = np.array([[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=float)
    # a 2D slice far from the lesion: a bright-free slice segmented around a few points (whatever it gives)
    j = 8
    points2D = np.array([[10.0, j, 10.0], [16.0, j, 10.0], [13.0, j, 6.0], [13.0, j, 14.0]])
    update = logic.update(volume, segmentation, targetID, _points(module, points2D, tilted, "2D"), mode="2D",
                          sliceView=sagittal)
    assert update.axis == 1 and update.sliceIndex == j
    slice2D = _segment(module, tilted, targetID)
    assert slice2D[:, j].any()

    logic.update(volume, segmentation, targetID, _points(module, tilted["interior"], tilted, "interior"), mode="3D")
    after = _segment(module, tilted, targetID)
    assert np.array_equal(after[:, j] | slice2D[:, j], after[:, j])  # the 2D slice is still there
    assert _dice(after & ~slice2D, tilted["lesion"]) >= 0.80


class _Slow:
    """The real Segmenter, made to take at least `seconds` per call on the worker thread, so that
    user actions queued for the event loop are delivered while the module waits for it."""

    def __init__(self, module, seconds=0.3):
        self.module, self.seconds = module, seconds

    def __call__(self, image, **kwargs):
        import time

        segmenter = self.module.createSegmenter(image, **kwargs)
        for name in ("initial", "refine"):
            method = getattr(segmenter, name)

            def slow(*args, _method=method, **kw):
                time.sleep(self.seconds)
                return _method(*args, **kw)

            setattr(segmenter, name, slow)
        return segmenter


def test_actions_during_a_computation(module, slicer_app, tilted):
    """Issue 14 item 4: while the worker computes, a second update is refused, Reset and Cancel win over
    the stale result (the segment is not overwritten), and the module works again afterwards."""
    logic = module.MIDeepSegLogic(segmenterFactory=_Slow(module))
    volume, segmentation, targetID = tilted["volume"], tilted["segmentation"], tilted["targetID"]
    interior = _points(module, tilted["interior"], tilted, "interior")
    refused = []

    def secondUpdate():
        try:
            logic.update(volume, segmentation, targetID, interior)
        except RuntimeError as error:  # BusyError
            refused.append(str(error))

    slicer.app.post(secondUpdate)
    slicer.app.post(lambda: logic.resetSession(restore=True))  # Reset pressed while computing
    assert logic.update(volume, segmentation, targetID, interior).action == "cancelled"
    assert refused and "still" in refused[0]
    assert not _segment(module, tilted, targetID).any()  # the stale mask was not written

    slicer.app.post(logic.busyFlag.cancel)  # the progress dialog's Cancel
    assert logic.update(volume, segmentation, targetID, interior).action == "cancelled"
    assert not _segment(module, tilted, targetID).any()
    import time

    deadline = time.monotonic() + 30
    while logic.busyFlag.busy and time.monotonic() < deadline:  # the cancelled worker finishes on its own
        time.sleep(0.05)
    assert not logic.busyFlag.busy
    assert logic.update(volume, segmentation, targetID, interior).action == "initial"
    assert _dice(_segment(module, tilted, targetID), tilted["lesion"]) >= 0.80
