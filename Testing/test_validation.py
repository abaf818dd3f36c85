"""Validation on unseen structures and model cards (MIDeepSegLib.evaluation: validation, modelcard)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from MIDeepSegLib import settings
from MIDeepSegLib.model.checkpoint import ModelConfig, build_model, load_checkpoint, save_checkpoint
from MIDeepSegLib.evaluation.modelcard import SPLIT, record_validation, render_model_card
from MIDeepSegLib.segmenter import Segmenter
from MIDeepSegLib.evaluation.validation import (
    centre_slices,
    markdown_table,
    run_validation,
    simulate_session,
    summarise,
    validate_unseen,
)

MRICRON = Path("/usr/share/mricron/templates")
needs_mricron = pytest.mark.skipif(not (MRICRON / "ch2.nii.gz").is_file(),
                                   reason="mricron-data is not installed (apt-get install mricron-data)")


def _model(ndim, tmp_path=None):
    torch.manual_seed(0)
    config = ModelConfig(ndim, features=(4, 8, 16), input_size=(16, 16) if ndim == 2 else (16, 16, 16))
    network = build_model(config).eval()
    if tmp_path is None:
        return network, config
    path = tmp_path / "m{}d.pt".format(ndim)
    save_checkpoint(path, network, config, half=True)
    return path


def _case(name, group, dices, reached, axis=None):
    return {"case": name, "group": group, "axis": axis, "slice": None if axis is None else 10,
            "dice": dices, "assd": [1.0] * len(dices), "clicks_to_target": reached, "voxels": 100,
            "points": [], "clicks": [], "seconds": []}


def _results(cases, max_clicks=5):
    settings = {"data": "toy", "seed": 0, "max_clicks": max_clicks, "target_dice": 0.9, "slices": None}
    return {"model": {}, "settings": settings, "cases": cases,
            "summary": summarise(cases, max_clicks=max_clicks)}


def test_centre_slices_pick_non_empty_slices():
    mask = np.zeros((20, 20, 20), bool)
    mask[2:6, 3:9, 4:16] = True
    mask[14:18, 3:9, 4:16] = True  # the centre (z = 10) falls in the gap
    slices = dict(centre_slices(mask))
    assert mask[slices[0]].any() and mask[:, slices[1]].any() and mask[:, :, slices[2]].any()
    assert slices[0] in (5, 14)


def test_simulate_session_records_every_step():
    rng = np.random.default_rng(0)
    image = rng.normal(0, 0.05, (48, 48)).astype(np.float32)
    truth = np.zeros((48, 48), bool)
    truth[12:36, 10:38] = True
    image[truth] += 1
    segmenter = Segmenter(image, (1.0, 1.0), model=_model(2), device="cpu")
    record = simulate_session(segmenter, truth, np.random.default_rng(1), max_clicks=3)
    assert len(record["dice"]) == len(record["assd"]) == 4  # 1 and 3 clicks are always simulated
    assert len(record["clicks"]) <= 3 and len(record["seconds"]) == 1 + len(record["clicks"])
    reached = record["clicks_to_target"]
    assert reached is None or record["dice"][reached] >= 0.9
    again = simulate_session(segmenter, truth, np.random.default_rng(1), max_clicks=3)
    assert again["dice"] == record["dice"] and again["points"] == record["points"]


def test_session_stops_at_the_target_after_the_reported_clicks():
    class Perfect:
        spacing = (1.0, 1.0)

        def __init__(self, truth):
            self.truth = truth

        def initial(self, points):
            return _Result(self.truth.copy())

        def refine(self, foreground=None, background=None):
            return _Result(self.truth.copy())

    truth = np.zeros((30, 30), bool)
    truth[5:25, 5:25] = True
    record = simulate_session(Perfect(truth), truth, np.random.default_rng(0), max_clicks=10)
    assert record["dice"] == [1.0] * 11 and record["clicks"] == [] and record["clicks_to_target"] == 0

    class AlmostPerfect(Perfect):
        def initial(self, points):
            mask = self.truth.copy()
            mask[10:13, 10:13] = False
            return _Result(mask)

        def refine(self, foreground=None, background=None):
            return self.initial(None)

    record = simulate_session(AlmostPerfect(truth), truth, np.random.default_rng(0), max_clicks=10)
    assert len(record["clicks"]) == 5 and len(record["dice"]) == 6  # +1, +3, +5 simulated, then stop
    assert record["clicks_to_target"] == 0


class _Result:
    def __init__(self, mask):
        self.mask = mask.astype(np.uint8)


def test_summary_and_tables():
    cases = [_case("caudate_L", "deep grey", [0.8, 0.85, 0.9, 0.95, 0.95, 0.96], 3),
             _case("caudate_R", "deep grey", [0.6, 0.7, 0.7, 0.8, 0.8, 0.8], None),
             _case("brain", "whole brain", [0.95] * 6, 0)]
    results = _results(cases)
    summary = results["summary"]
    assert summary["deep grey"]["dice"]["0"] == pytest.approx(0.7)
    assert summary["deep grey"]["clicks_to_target_mean"] == pytest.approx((3 + 6) / 2)
    assert summary["deep grey"]["reached"] == 1 and summary["all"]["cases"] == 3
    table = markdown_table(results)
    assert "| caudate_R | 0.600 | 0.700 | 0.800 | 0.800 |" in table and "> 5" in table
    assert table.count("\n") == 2 + 3 + 3


def test_model_card_and_record(tmp_path):
    path = _model(2, tmp_path)
    _, config = load_checkpoint(path)
    card = render_model_card(config, file_name="m2d.pt")
    assert card.startswith("# MIDeepSeg 2D model (`m2d.pt`)") and "Not validated yet" in card
    assert SPLIT[:40] in card and "16 x 16" in card
    results = _results([_case("brain", "whole brain", [0.9] * 6, 0)])
    assert "| **mean, whole brain (1 cases)** |" in render_model_card(config, validation=results)
    before = path.stat().st_size
    record_validation(path, results)
    network, config = load_checkpoint(path)
    assert config.card["validation"][0]["summary"]["whole brain"]["cases"] == 1
    assert abs(path.stat().st_size - before) < 4096  # still half precision


@needs_mricron
@pytest.mark.parametrize("ndim", [2, 3])
def test_validate_unseen_on_colin27(ndim, tmp_path):
    results = validate_unseen(_model(ndim), structures=["pallidum"], brain=False, axes=(0,), max_clicks=1,
                              device="cpu", progress=False)
    names = [c["case"] for c in results["cases"]]
    assert names == ["pallidum_L", "pallidum_R"]
    for case in results["cases"]:
        assert len(case["dice"]) == 2 and all(0 <= d <= 1 for d in case["dice"])
        assert (case["axis"] == "z") == (ndim == 2)
    assert results["summary"]["deep grey"]["cases"] == 2
    json.dumps(results)


@needs_mricron
def test_run_validation_writes_outputs(tmp_path):
    path = _model(2, tmp_path)
    run_validation(path, json_path=tmp_path / "v.json", markdown_path=tmp_path / "v.md",
                   card_path=tmp_path / "card.md", record=True, structures=["amygdala"], brain=False,
                   axes=(1,), max_clicks=1, device="cpu", progress=False)
    assert json.loads((tmp_path / "v.json").read_text())["cases"][0]["axis"] == "y"
    assert "amygdala_L (y=" in (tmp_path / "v.md").read_text()
    card = (tmp_path / "card.md").read_text()
    assert "## Validation on unseen structures" in card
    assert "Refinement settings: lam {:g}, sigma {:g}, distance scale".format(settings.LAM, settings.SIGMA) in card
    recorded = load_checkpoint(path)[1].card["validation"][0]["settings"]
    assert recorded["max_clicks"] == 1 and recorded["refinement"] == settings.as_keywords()
