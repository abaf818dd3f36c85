"""Segmenter(click_temperature=): after the user's clicks, the CNN's probability is softened on the side they
contradict (settings.CLICK_TEMPERATURE; issue 12).

The session runs with the tiny trained test networks (Testing/_models.py). What the fusion receives is
observed by wrapping the real ``refine_ifgc`` (it still runs); nothing is replaced.
"""

import _models
import numpy as np
import pytest

from MIDeepSegLib import segmenter as segmenter_module
from MIDeepSegLib.core.fusion import soften
from MIDeepSegLib.core.simulate import interior_margin_points, refinement_click
from MIDeepSegLib.segmenter import Segmenter
from MIDeepSegLib.settings import CLICK_TEMPERATURE

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _observe(monkeypatch, name):
    """The CNN probability (crop) that each call of the segmenter's `name` (refine_ifgc, refine_gc)
    receives, in call order; the real function still runs."""
    seen = []
    real = getattr(segmenter_module, name)

    def observed(image, probability, *args, **kwargs):
        seen.append(np.array(probability, copy=True))
        return real(image, probability, *args, **kwargs)

    monkeypatch.setattr(segmenter_module, name, observed)
    return seen


@pytest.fixture
def fusion_inputs(monkeypatch):
    return _observe(monkeypatch, "refine_ifgc")


def _session(models, temperature, **kwargs):
    rng = np.random.default_rng(4)
    image, truth = _models.scene((64, 64), rng, distractor=False)
    points = interior_margin_points(truth, rng)
    seg = Segmenter(image, model=str(models["2d"]), device="cpu", click_temperature=temperature, **kwargs)
    return seg, seg.initial(points), truth


def _in_region(cnn_probability, cnn_box, box):
    """The CNN probability placed in a (possibly larger) working region, zero outside its own box."""
    out = np.zeros(tuple(b.stop - b.start for b in box), np.float32)
    out[tuple(slice(c.start - b.start, c.stop - b.start) for c, b in zip(cnn_box, box))] = cnn_probability
    return out


def test_the_side_each_kind_of_click_contradicts_is_softened(models, fusion_inputs):
    seg, first, truth = _session(models, 4.0)
    cnn_box, cnn = first.box, first.probability[first.box]
    # The initial step fuses the network's own probability.
    assert len(fusion_inputs) == 1 and np.array_equal(fusion_inputs[0], cnn)
    fg = np.argwhere((truth == 1) & (first.mask == 0))
    fg = fg[len(fg) // 2] if len(fg) else np.argwhere(first.mask == 1)[0]
    after_fg = seg.refine(foreground=[fg])
    expected = _in_region(soften(cnn, below=4.0), cnn_box, after_fg.box)
    np.testing.assert_array_equal(fusion_inputs[1], expected)
    # A foreground click raised the low side only: the network's confident foreground is untouched.
    assert (fusion_inputs[1] >= _in_region(cnn, cnn_box, after_fg.box)).all()
    bg = np.argwhere((after_fg.mask == 0))[0]
    after_bg = seg.refine(background=[bg])
    np.testing.assert_array_equal(fusion_inputs[2], _in_region(soften(cnn, 4.0, 4.0), cnn_box, after_bg.box))
    # Back to the foreground click alone, then the background click again: the same inputs, from the
    # session's cache.
    seg.undo()
    again = seg.refine(background=[bg])
    np.testing.assert_array_equal(fusion_inputs[3], fusion_inputs[2])
    np.testing.assert_array_equal(again.mask, after_bg.mask)


def test_temperature_one_keeps_the_networks_probability(models, fusion_inputs):
    seg, first, truth = _session(models, 1.0)
    click = refinement_click(first.mask, truth)
    seg.refine(**{"foreground" if click.foreground else "background": [click.point]})
    placed = _in_region(first.probability[first.box], first.box, seg.result.box)
    np.testing.assert_array_equal(fusion_inputs[1], placed)


def test_a_region_above_the_size_limit_keeps_the_networks_probability(models, fusion_inputs):
    """On a working region of more voxels than click_temperature_max_voxels the first click of each kind
    would re-solve the whole boundary (seconds on a liver): no softening there."""
    seg, first, truth = _session(models, 4.0, click_temperature_max_voxels=100)
    assert first.mask_crop.size > 100
    click = refinement_click(first.mask, truth)
    seg.refine(**{"foreground" if click.foreground else "background": [click.point]})
    np.testing.assert_array_equal(fusion_inputs[1],
                                  _in_region(first.probability[first.box], first.box, seg.result.box))


def test_the_gc_baseline_keeps_the_networks_probability(models, monkeypatch):
    """Table 3's baseline (the clicks as hard constraints on the CNN's probability) is the paper's: no
    softening."""
    seen = _observe(monkeypatch, "refine_gc")
    seg, first, truth = _session(models, 4.0, refinement="gc")
    click = refinement_click(first.mask, truth)
    seg.refine(**{"foreground" if click.foreground else "background": [click.point]})
    placed = _in_region(first.probability[first.box], first.box, seg.result.box)
    np.testing.assert_array_equal(seen[0], placed)


def test_softening_changes_what_a_click_does(models):
    """Same session, same click: the softened probability lets the click's fusion and the graph cut move the
    boundary in places the network's own probability holds (the effect the organ benchmark measures)."""
    results = {}
    for temperature in (1.0, 4.0):
        seg, first, truth = _session(models, temperature)
        click = refinement_click(first.mask, truth)
        results[temperature] = (first, seg.refine(**{"foreground" if click.foreground else "background":
                                                     [click.point]}))
    np.testing.assert_array_equal(results[1.0][0].mask, results[4.0][0].mask)  # initial: identical
    assert not np.array_equal(results[1.0][1].probability, results[4.0][1].probability)


@pytest.mark.parametrize("bad", [0.5, 0.0, -2.0, float("nan"), float("inf")])
def test_bad_click_temperature(models, bad):
    with pytest.raises(ValueError, match="click_temperature must be >= 1"):
        Segmenter(np.zeros((8, 8), np.float32), model=str(models["2d"]), device="cpu", click_temperature=bad)


def test_click_temperature_per_dimension(models):
    image = np.zeros((8, 8), np.float32)
    seg = Segmenter(image, model=str(models["2d"]), device="cpu")
    assert seg.click_temperature == CLICK_TEMPERATURE["2d"]
    seg = Segmenter(image, model=str(models["2d"]), device="cpu", click_temperature={"2d": 2.5, "3d": 1.0})
    assert seg.click_temperature == 2.5
