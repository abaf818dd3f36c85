"""The slicer-core environment is what the other tests take it for: a Slicer application's core."""

import pytest
import slicercore_required

slicercore_required.require()

import slicer  # noqa: E402
import slicercore_app  # noqa: E402


def test_module_logics_are_registered_as_slicer_registers_them(slicer_app):
    for name, className in slicercore_app.MODULE_LOGICS:
        logic = slicer_app.applicationLogic.GetModuleLogic(name)
        assert logic is not None and logic.GetClassName() == className, name
        assert logic.GetMRMLScene() is slicer_app.scene
        assert logic.GetMRMLApplicationLogic() is slicer_app.applicationLogic
        assert getattr(slicer.modules, name.lower()).logic() is logic  # the stand-in returns the real object
    assert slicer_app.applicationLogic.GetColorLogic() is slicer_app.logic("Colors")


def test_scene_singletons_and_slice_orientation_presets(slicer_app, scene):
    assert slicer.mrmlScene is scene
    assert slicer.app.applicationLogic() is slicer_app.applicationLogic
    assert slicer_app.selectionNode().GetID() == "vtkMRMLSelectionNodeSingleton"
    assert slicer_app.interactionNode().GetID() == "vtkMRMLInteractionNodeSingleton"
    assert scene.GetFirstNodeByClass("vtkMRMLCrosshairNode") is not None
    sliceNode = scene.AddNewNodeByClass("vtkMRMLSliceNode")  # made from the scene's default slice node
    for orientation in ("Axial", "Sagittal", "Coronal"):
        assert sliceNode.HasSliceOrientationPreset(orientation), orientation
        sliceNode.SetOrientation(orientation)
        assert sliceNode.GetOrientation() == orientation


def test_scene_close_keeps_the_singletons_and_the_presets_and_removes_the_data(slicer_app):
    import numpy as np

    volume = slicer.util.addVolumeFromArray(np.zeros((2, 3, 4)))
    interaction = slicer_app.interactionNode()
    slicer_app.scene.Clear(0)
    assert volume.GetScene() is None
    assert slicer_app.interactionNode() is interaction
    assert slicer_app.scene.AddNewNodeByClass("vtkMRMLSliceNode").HasSliceOrientationPreset("Sagittal")
    slicer_app.scene.Clear(0)


def test_qt_is_not_there():
    import qt

    with pytest.raises(RuntimeError, match="no Qt"):
        qt.QTimer
