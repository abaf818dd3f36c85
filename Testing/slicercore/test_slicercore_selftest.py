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


def test_reload_and_test_runs_on_slicer_core(module, scene, caplog):
    test = module.MIDeepSegTest()
    with caplog.at_level(logging.INFO):
        test.runTest()
    assert [name for name, _reason in test.skipped] == ["test_MRBrainTumor1"]
    assert "SampleData" in test.skipped[0][1]
    assert any("test_MRBrainTumor1 skipped" in r.getMessage() for r in caplog.records)  # the reason is logged
    assert any("Geometry and write-back passed" in r.getMessage() for r in caplog.records)
    assert any(r.getMessage().startswith("Dice after 0, 1, 2 corrections") for r in caplog.records)


@pytest.mark.parametrize("name", ["test_GeometryAndWriteBack", "test_SyntheticDice"])
def test_each_part_alone(module, scene, name):
    """As ctest runs them through slicer_add_python_unittest: one method, after setUp."""
    test = module.MIDeepSegTest(name)
    test.setUp()
    getattr(test, name)()


def test_model_parts_skip_with_a_reason_without_the_weights(module, scene, monkeypatch, tmp_path):
    """Issue 14 item 8: no weights (or no torch) -> a logged skip, never 'Reload and Test failed'."""
    monkeypatch.setattr(module, "shippedModelPath", lambda mode: str(tmp_path / f"missing-{mode}.pt"))
    test = module.MIDeepSegTest()
    test.runTest()
    skipped = dict(test.skipped)
    assert set(skipped) == {"test_SyntheticDice", "test_MRBrainTumor1"}
    assert "weights missing" in skipped["test_SyntheticDice"]
