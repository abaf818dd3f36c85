"""The module's own self-test (MIDeepSegTest, "Reload and Test") on slicer-core.

``runTest`` runs every part as Slicer runs it; the part that needs the SampleData
module (a Qt application module that downloads MRBrainTumor1) skips with a
logged reason, and the others must really run here: torch and the shipped
weights are installed, so a skip of them is a failure.
"""

import logging

import pytest
import slicercore_required

slicercore_required.require()

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _skips(caplog):
    return [r.getMessage() for r in caplog.records if "skipped:" in r.getMessage() and r.name == "MIDeepSeg"]


def test_reload_and_test_runs_on_slicer_core(module, scene, caplog):
    test = module.MIDeepSegTest()
    with caplog.at_level(logging.INFO):
        test.runTest()
    skips = _skips(caplog)
    assert len(skips) == 1 and "test_MRBrainTumor1 skipped" in skips[0] and "SampleData" in skips[0], skips
    messages = [r.getMessage() for r in caplog.records]
    assert "Geometry and write-back passed" in messages
    assert any(m.startswith("Dice after 0, 1, 2 corrections") for m in messages), messages


@pytest.mark.parametrize("name", ["test_GeometryAndWriteBack", "test_SyntheticDice"])
def test_each_part_alone(module, scene, name, caplog):
    """As ctest runs them through slicer_add_python_unittest: one method, after setUp; nothing skipped."""
    test = module.MIDeepSegTest(name)
    test.setUp()
    with caplog.at_level(logging.INFO):
        getattr(test, name)()
    assert _skips(caplog) == []


def test_model_parts_skip_with_a_logged_reason_without_the_weights(module, scene, monkeypatch, tmp_path, caplog):
    """Issue 14 item 8: no weights (or no torch) -> a logged skip, never 'Reload and Test failed'."""
    monkeypatch.setattr(module, "shippedModelPath", lambda mode: str(tmp_path / f"missing-{mode}.pt"))
    test = module.MIDeepSegTest()
    with caplog.at_level(logging.INFO):
        test.runTest()
    skips = _skips(caplog)
    assert len(skips) == 2 and all("weights missing" in m for m in skips), skips
    assert "Geometry and write-back passed" in [r.getMessage() for r in caplog.records]
