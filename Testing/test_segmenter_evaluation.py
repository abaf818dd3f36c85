"""Segmenter features the evaluation drives: the GC baseline, a session begun from a probability, the model cache.

The benchmark runs every MIDeepSeg variant through :class:`Segmenter` itself
(no copy of its refinement): IF-GC, the paper's pure IF-GC (no reach) and
Table 3's plain graph cut (``refinement="gc"``); without a trained network it
begins the session from a stand-in probability (:meth:`Segmenter.start`).
"""

import _models
import numpy as np
import pytest

from MIDeepSegLib import segmenter as segmenter_module
from MIDeepSegLib.core.crop import box_shape, box_union, relaxed_bbox, shift_points
from MIDeepSegLib.core.metrics import dice
from MIDeepSegLib.core.refinement import refine_gc
from MIDeepSegLib.core.simulate import interior_margin_points, refinement_click
from MIDeepSegLib.evaluation.user import stand_in_probability
from MIDeepSegLib.segmenter import Segmenter

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _scene(seed=0, shape=(64, 64)):
    rng = np.random.default_rng(seed)
    image, truth = _models.scene(shape, rng, distractor=False)
    return image, truth, interior_margin_points(truth, rng, (1.0, 1.0))


def test_gc_refinement_is_tables_3_graph_cut_on_the_grown_region(models):
    image, truth, points = _scene(1)
    seg = Segmenter(image, (1.0, 1.0), model=models["2d"], device="cpu", refinement="gc")
    first = seg.initial(points)
    click = refinement_click(first.mask, truth, (1.0, 1.0))
    assert click is not None
    side = "foreground" if click.foreground else "background"
    refined = seg.refine(**{side: [click.point]})

    # The same graph cut, computed here from the pieces: the CNN probability (0 outside its box) on the
    # region grown by the click's relaxed box, the points and the foreground clicks as foreground seeds.
    box = box_union(first.box, relaxed_bbox(click.point[None], image.shape, (1.0, 1.0), seg.margin_mm))
    probability = np.zeros(box_shape(box), np.float32)
    probability[tuple(slice(c.start - b.start, c.stop - b.start) for c, b in zip(first.box, box))] = \
        first.probability_crop
    fg = np.vstack([points] + ([click.point[None]] if click.foreground else []))
    bg = click.point[None] if not click.foreground else np.zeros((0, 2))
    expected = refine_gc(image[box].astype(np.float32), probability, shift_points(fg, box), shift_points(bg, box),
                         (1.0, 1.0), lam=seg.lam, sigma=seg.sigma, smoothing=seg.smoothing)
    assert refined.box == box
    np.testing.assert_array_equal(refined.mask_crop, expected.mask)
    assert set(refined.timings) >= {"graphcut", "total"} and "fusion" not in refined.timings


def test_ifgc_and_gc_differ_and_bad_refinement_is_refused(models):
    image, truth, points = _scene(2)
    masks = {}
    for refinement in ("ifgc", "gc"):
        seg = Segmenter(image, (1.0, 1.0), model=models["2d"], device="cpu", refinement=refinement)
        seg.initial(points)
        masks[refinement] = seg.refine(foreground=[points.mean(axis=0)]).timings
    assert "fusion" in masks["ifgc"] and "fusion" not in masks["gc"]
    with pytest.raises(ValueError, match="refinement must be one of"):
        Segmenter(image, (1.0, 1.0), model=models["2d"], device="cpu", refinement="grabcut")


def test_a_session_begun_from_a_probability(models):
    image, truth, points = _scene(3)
    with pytest.raises(ValueError, match="margin_mm is needed without a model"):
        Segmenter(image, (1.0, 1.0), model=None, device="cpu")
    seg = Segmenter(image, (1.0, 1.0), model=None, device="cpu", margin_mm=5.0)
    with pytest.raises(RuntimeError, match="no model"):
        seg.initial(points)
    with pytest.raises(ValueError, match="probability must lie in"):
        seg.start(points, np.full(image.shape, 2.0))
    assert seg.result is None  # a refused start leaves the session as it was

    box = relaxed_bbox(points, image.shape, (1.0, 1.0), 5.0)
    probability = np.zeros(image.shape, np.float32)
    probability[box] = stand_in_probability(truth[box])
    begun = seg.start(points, probability)
    assert begun.box == box
    np.testing.assert_array_equal(begun.probability_crop, probability[box])
    assert begun.mask.sum() > 0 and not begun.mask[probability < 0.5].any()
    before = dice(begun.mask, truth)
    result = begun
    for _ in range(3):
        click = refinement_click(result.mask, truth, (1.0, 1.0))
        if click is None:
            break
        result = seg.refine(**{"foreground" if click.foreground else "background": [click.point]})
    assert dice(result.mask, truth) >= before
    assert seg.undo() is not None


def test_the_model_cache_keeps_the_last_model_per_device(models):
    segmenter_module._MODEL_CACHE.clear()
    image2d, _, _ = _scene(4)
    Segmenter(image2d, (1.0, 1.0), model=models["2d"], device="cpu")
    Segmenter(image2d, (1.0, 1.0), model=models["2d"], device="cpu")
    assert len(segmenter_module._MODEL_CACHE) == 1
    Segmenter(np.zeros((8, 16, 16), np.float32), model=models["3d"], device="cpu")
    keys = list(segmenter_module._MODEL_CACHE)
    assert len(keys) == 1 and keys[0][0] == str(models["3d"].resolve()) and keys[0][2] == "cpu"
