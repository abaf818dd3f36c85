"""The simulated user's session and its figures: one loop for validation, the benchmark and tuning.

:func:`run_user` plays the simulated user of :mod:`MIDeepSegLib.core.simulate`
against any session with the :class:`~MIDeepSegLib.Segmenter`'s interface
(``initial(points)``, ``refine(foreground=..., background=...)``, each
returning an object with a ``mask``): a Segmenter, or a classical method
behind :class:`PeerSession`. It is used by ``mideepseg validate``
(:mod:`.validation`), ``mideepseg benchmark`` (:mod:`.benchmark`) and
``scripts/tune_refinement.py``. A Dice curve holds Dice after interaction 0
(the interior margin points), 1, 2, ... refinement clicks; NoC is the number
of clicks after which Dice first reaches a threshold.
"""

import time
from collections import namedtuple

import numpy as np
from scipy import ndimage

from ..core.crop import box_union, object_region, relaxed_bbox
from ..core.metrics import assd, dice
from ..core.simulate import refinement_click
from ..settings import BORDER_VOXELS

#: Click counts reported in the validation tables.
REPORTED_CLICKS = (0, 1, 3, 5)


def click_label(k):
    """Column label of interaction `k`: "initial" for 0, "+k" after k refinement clicks."""
    return "initial" if k == 0 else "+{}".format(k)


def value_at(values, k):
    """Entry k of a per-click list; a session that stopped earlier kept its last value."""
    return values[min(k, len(values) - 1)]


def clicks_to_reach(dices, threshold):
    """Refinement clicks after which Dice first reaches `threshold`.

    Parameters
    ----------
    dices : sequence of float
        Dice after interaction 0 (the interior margin points), 1, 2, ...
    threshold : float

    Returns
    -------
    int or None (never reached).

    Examples
    --------
    >>> clicks_to_reach([0.80, 0.86, 0.91], 0.85), clicks_to_reach([0.80, 0.86, 0.91], 0.95)
    (1, None)
    """
    for k, value in enumerate(dices):
        if value >= threshold:
            return k
    return None


def mean_noc(curves, threshold, max_clicks):
    """Mean number of clicks to reach `threshold` (NoC), and how many curves reach it.

    Parameters
    ----------
    curves : sequence of sequence of float
        One Dice curve per case (see :func:`clicks_to_reach`).
    threshold : float
    max_clicks : int
        The click budget; a curve that never reaches the threshold counts as
        ``max_clicks + 1``.

    Returns
    -------
    (float, int): the mean (NaN without curves) and the number of curves that reach the threshold.

    Examples
    --------
    >>> mean_noc([[0.9], [0.5, 0.88], [0.5, 0.6, 0.7]], 0.85, 2)
    (1.3333333333333333, 2)
    """
    counts = [clicks_to_reach(c, threshold) for c in curves]
    if not counts:
        return float("nan"), 0
    values = [max_clicks + 1 if n is None else n for n in counts]
    return float(np.mean(values)), int(sum(n is not None for n in counts))


def run_user(session, truth, points, spacing, *, max_clicks, target_dice=None, must_clicks=0, replay=None):
    """Play the simulated user: interior margin points, then up to `max_clicks` refinement clicks.

    Parameters
    ----------
    session : object with ``initial(points)`` and ``refine(foreground=, background=)``
        A :class:`~MIDeepSegLib.Segmenter` or a :class:`PeerSession`; each
        call returns an object whose ``mask`` has the image's shape.
    truth : bool ndarray, image shape
        The object.
    points : (N, ndim) ndarray
        Interior margin points, voxel coordinates, array order.
    spacing : tuple of float
        mm per array axis.
    max_clicks : int
        Refinement clicks at most.
    target_dice : float, optional
        Stop once Dice reaches it, after at least `must_clicks` clicks.
    must_clicks : int
        Clicks always simulated when `target_dice` is given.
    replay : sequence of Click, optional
        Use these clicks, in order, instead of asking the simulated user.

    Returns
    -------
    (record, final mask)
        record: ``dice``, ``assd`` (lists, entry k after k clicks; once the
        user has nothing left to click, the last values repeat up to
        ``max_clicks``; a session stopped at `target_dice` is shorter: see
        :func:`value_at`), ``seconds`` (one per call), ``clicks``
        (``[[coordinates], foreground]`` each).
    """
    tick = time.perf_counter()
    mask = session.initial(points).mask
    seconds = [time.perf_counter() - tick]
    dices, assds, clicks = [dice(mask, truth)], [assd(mask, truth, spacing)], []
    for k in range(1, max_clicks + 1):
        if target_dice is not None and k > must_clicks and dices[-1] >= target_dice:
            break
        if replay is not None:
            click = replay[k - 1] if k <= len(replay) else None
        else:
            click = refinement_click(mask, truth, spacing)
        if click is None:  # nothing left to click: the result stays as it is
            while len(dices) < max_clicks + 1:
                dices.append(dices[-1])
                assds.append(assds[-1])
            break
        tick = time.perf_counter()
        side = "foreground" if click.foreground else "background"
        mask = session.refine(**{side: [click.point]}).mask
        seconds.append(time.perf_counter() - tick)
        clicks.append([[float(c) for c in click.point], bool(click.foreground)])
        dices.append(dice(mask, truth))
        assds.append(assd(mask, truth, spacing))
    return {"dice": dices, "assd": assds, "seconds": seconds, "clicks": clicks}, mask


#: What a :class:`PeerSession` call returns (the part of a Segmenter Result the user loop reads).
PeerResult = namedtuple("PeerResult", ["mask"])


class PeerSession:
    """A classical method behind the Segmenter's session interface, for :func:`run_user`.

    The method sees all clicks so far (foreground = the interior margin points
    and the foreground clicks) and works in MIDeepSeg's region: the relaxed
    box of the points, grown to the image sides the object runs out of
    (:func:`~MIDeepSegLib.core.crop.object_region`), then by each click's
    relaxed box as :meth:`Segmenter.refine` grows its region.

    Parameters
    ----------
    function : callable
        ``function(image, spacing, fg_points, bg_points, box) -> uint8 mask, image shape``
        (see :data:`MIDeepSegLib.evaluation.peers.PEERS`).
    image : ndarray (H, W) or (D, H, W)
    spacing : tuple of float
        mm per array axis.
    margin_mm : float
        Margin of the relaxed boxes.
    """

    def __init__(self, function, image, spacing, margin_mm):
        self.function, self.image, self.spacing, self.margin_mm = function, image, spacing, margin_mm

    def initial(self, points):
        self.foreground = [np.asarray(p, dtype=float) for p in points]
        self.background = []
        self.box, _ = object_region(points, self.image.shape, self.spacing, self.margin_mm, BORDER_VOXELS)
        return self._run()

    def refine(self, foreground=(), background=()):
        for point in list(foreground) + list(background):
            point = np.asarray(point, dtype=float)[None]
            self.box = box_union(self.box, relaxed_bbox(point, self.image.shape, self.spacing, self.margin_mm))
        self.foreground += [np.asarray(p, dtype=float) for p in foreground]
        self.background += [np.asarray(p, dtype=float) for p in background]
        return self._run()

    def _run(self):
        ndim = self.image.ndim
        mask = self.function(self.image, self.spacing, np.array(self.foreground).reshape(-1, ndim),
                             np.array(self.background, dtype=float).reshape(-1, ndim), self.box)
        return PeerResult(mask)


def stand_in_probability(truth_crop):
    """A deliberately imperfect stand-in for a CNN's probability: the truth shrunk, shifted and blurred.

    Used only where no network exists (the benchmark and the demo without
    weights), so that the refinement and the reports are exercised; it
    derives from the true mask, so its figures say nothing about MIDeepSeg.

    Parameters
    ----------
    truth_crop : bool ndarray (h, w) or (d, h, w)
        The object inside the region (e.g. the relaxed box of the points).

    Returns
    -------
    float32 ndarray, same shape, in [0.05, 0.95]: the truth eroded by one
    voxel, shifted by 10 % of the crop along the last axis and 5 % along the
    others, blurred (sigma 0.7 voxel).
    """
    truth_crop = np.asarray(truth_crop, dtype=bool)
    shrunk = ndimage.binary_erosion(truth_crop)
    if not shrunk.any():
        shrunk = truth_crop
    shift = [max(1, int(round(0.1 * n))) if a == truth_crop.ndim - 1 else int(round(0.05 * n))
             for a, n in enumerate(truth_crop.shape)]
    moved = ndimage.shift(shrunk.astype(np.float32), shift, order=0, mode="constant")
    # Confident like a trained network's output: 0.95 inside, 0.05 outside, a soft edge.
    return (0.05 + 0.9 * np.clip(ndimage.gaussian_filter(moved, 0.7), 0.0, 1.0)).astype(np.float32)
