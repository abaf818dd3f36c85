"""Tests for MIDeepSegLib.session.ClickSession: point lists edited freely -> the cheapest Segmenter calls."""

import numpy as np
import pytest

from MIDeepSegLib.core.metrics import dice
from MIDeepSegLib.segmenter import Segmenter
from MIDeepSegLib.session import ClickSession
from MIDeepSegLib.core.simulate import interior_margin_points, refinement_click


class _Recorder:
    """Wraps a real Segmenter and records which of its methods were called, with what."""

    def __init__(self, segmenter):
        self.segmenter, self.calls = segmenter, []

    def initial(self, points):
        self.calls.append(("initial", len(points)))
        return self.segmenter.initial(points)

    def refine(self, foreground, background):
        self.calls.append(("refine", np.asarray(foreground).tolist(), np.asarray(background).tolist()))
        return self.segmenter.refine(foreground=foreground, background=background)

    def undo(self):
        self.calls.append(("undo",))
        return self.segmenter.undo()

    def reset(self):
        self.calls.append(("reset",))
        self.segmenter.reset()

    @property
    def result(self):
        return self.segmenter.result

    @property
    def history(self):
        return self.segmenter.history


def _scene():
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[:64, :64]
    truth = (yy - 30) ** 2 / 14 ** 2 + (xx - 34) ** 2 / 10 ** 2 <= 1
    image = (np.where(truth, 150.0, 50.0) + rng.normal(0, 5, truth.shape)).astype(np.float32)
    return image, truth, interior_margin_points(truth, rng)


def test_each_edit_maps_to_the_cheapest_calls_and_matches_a_direct_session(models):
    image, truth, points = _scene()
    recorder = _Recorder(Segmenter(image, model=str(models["2d"]), device="cpu"))
    session = ClickSession(recorder)
    assert recorder.calls == [("reset",)] and session.result is None
    f1, f2, b1 = [12.0, 34.0], [48.0, 30.0], [3.0, 3.0]

    assert session.update(points) == "initial"
    assert recorder.calls[-1] == ("initial", len(points))
    assert session.update(points, [f1]) == "refine"
    assert recorder.calls[-1] == ("refine", [f1], [])
    assert session.update(points, [f1], [b1]) == "refine"
    assert recorder.calls[-1] == ("refine", [], [b1])  # only the new click
    with_both = session.result.mask.copy()
    assert session.update(points, [f1], [b1]) == "none" and session.is_current(points, [f1], [b1])
    assert session.update(points, [f1]) == "undo"  # the last click removed
    assert recorder.calls[-1] == ("undo",)
    assert session.update(points, [f2]) == "replay"  # a click moved: reset and replay every click
    assert recorder.calls[-3:] == [("reset",), ("initial", len(points)), ("refine", [f2], [])]
    assert session.update(points[:-1], [f2], [b1]) == "replay"  # interior points changed
    assert session.update(points) == "initial"
    assert recorder.calls[-1] == ("initial", len(points))

    # The masks are those of a Segmenter driven directly with the same clicks.
    direct = Segmenter(image, model=str(models["2d"]), device="cpu")
    direct.initial(points)
    direct.refine(foreground=[f1])
    np.testing.assert_array_equal(direct.refine(background=[b1]).mask, with_both)
    session.update(points, [f1], [b1])
    np.testing.assert_array_equal(session.result.mask, with_both)


def test_simulated_user_through_the_session(models):
    """Clicks added one at a time, as in the viewer: refine every time, and the mask improves."""
    image, truth, points = _scene()
    session = ClickSession(Segmenter(image, model=str(models["2d"]), device="cpu"))
    session.update(points)
    dices = [dice(session.result.mask, truth)]
    fg, bg = [], []
    for _ in range(3):
        click = refinement_click(session.result.mask, truth)
        if click is None:
            break
        (fg if click.foreground else bg).append(click.point)
        assert session.update(points, fg, bg) == "refine"
        dices.append(dice(session.result.mask, truth))
    assert dices[-1] >= dices[0] and dices[-1] > 0.9, dices


def test_a_failing_segmenter_leaves_an_empty_session(models):
    image, _, points = _scene()
    session = ClickSession(Segmenter(image, model=str(models["2d"]), device="cpu"))
    session.update(points)
    with pytest.raises(ValueError, match="outside"):
        session.update(points, [[500.0, 3.0]])
    assert session.result is None and not session.is_current(points)
    assert session.update(points) == "initial"  # starts afresh


def test_bad_click_arrays():
    segmenter = _NoSegmenter()
    session = ClickSession(segmenter)
    with pytest.raises(ValueError, match="points"):
        session.update(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="foreground"):
        session.update([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], foreground=[[1.0, 2.0, 3.0]])
    assert segmenter.calls == ["reset"]  # rejected before any Segmenter call


class _NoSegmenter:
    def __init__(self):
        self.calls = []

    def reset(self):
        self.calls.append("reset")
