"""Keep a Segmenter in step with point lists that the user edits freely.

In a viewer the point lists are the truth: the user adds, moves and deletes
points in any order and the mask must follow. :class:`ClickSession` is given
the whole current set of clicks every time and makes the cheapest
:class:`~MIDeepSegLib.segmenter.Segmenter` calls that reach it:

- the same clicks as last time: nothing (``"none"``);
- new foreground / background clicks after the earlier ones: one
  ``refine`` with only the new clicks (``"refine"``);
- the clicks of the state before the current one (the last click was
  removed): ``undo`` (``"undo"``);
- anything else (a click moved or deleted, the interior margin points
  changed): ``reset``, ``initial`` and one ``refine`` with every click
  (``"replay"``), or only ``initial`` when there are no corrections
  (``"initial"``).

Slicer-free: the Slicer module drives it, and the tests run it with real
networks.
"""

import numpy as np

#: Clicks are compared after rounding to this many decimals (voxel units), so
#: a point list's float round trip through world coordinates is "unchanged".
DECIMALS = 4


class ClickSession:
    """A Segmenter plus the decision of which calls bring it to the user's clicks.

    The undo history is the Segmenter's (:attr:`Segmenter.history
    <MIDeepSegLib.segmenter.Segmenter.history>`): this class keeps none of its
    own, so the two cannot disagree.

    Parameters
    ----------
    segmenter : Segmenter
        Any object with ``initial``, ``refine``, ``undo``, ``reset``, ``result``
        and ``history`` as :class:`~MIDeepSegLib.segmenter.Segmenter` has them.
        It is reset here.

    Examples
    --------
    >>> session = ClickSession(Segmenter(image, model="2d"))       # doctest: +SKIP
    >>> session.update(points)                                      # doctest: +SKIP
    'initial'
    >>> session.update(points, foreground=[[40, 52]])               # doctest: +SKIP
    'refine'
    >>> session.update(points)                                      # doctest: +SKIP
    'undo'
    """

    def __init__(self, segmenter):
        self.segmenter = segmenter
        self.segmenter.reset()

    @property
    def result(self):
        """The Result of the last update, or None."""
        return self.segmenter.result

    def is_current(self, points, foreground=None, background=None):
        """Whether these clicks are the ones applied last (then :meth:`update` would do nothing)."""
        applied = self._applied(1)
        return bool(applied) and self._key(points, foreground, background) == applied[-1]

    def update(self, points, foreground=None, background=None):
        """Bring the segmentation to these clicks.

        Parameters
        ----------
        points : (N, ndim) array_like
            All interior margin points, voxel coordinates, array order.
        foreground, background : (M, ndim) array_like, optional
            All correction clicks, in the order they were made.

        Returns
        -------
        str, the action taken: "none", "initial", "refine", "undo" or "replay".
        The Result is :attr:`result`. If the Segmenter raises, the session is
        emptied (the Segmenter reset) before the error propagates, so the
        next update starts afresh instead of from an unknown state.
        """
        state = self._key(points, foreground, background)
        if self.is_current(points, foreground, background):
            return "none"
        try:
            return self._apply(state)
        except Exception:
            self.reset()
            raise

    def reset(self):
        """Forget every click (the Segmenter keeps its model)."""
        self.segmenter.reset()

    def _applied(self, count):
        """The keys of the Segmenter's last `count` history states, oldest first."""
        return [self._key(s["points"], s["foreground"], s["background"])
                for s in self.segmenter.history[-count:]]

    def _apply(self, state):
        segmenter, ndim = self.segmenter, len(state[0][0])
        applied = self._applied(2)
        if len(applied) == 2 and state == applied[0]:
            segmenter.undo()
            return "undo"
        last = applied[-1] if applied else None
        if last and state[0] == last[0] and all(state[i][:len(last[i])] == last[i] for i in (1, 2)):
            new = [np.asarray(state[i][len(last[i]):], dtype=float).reshape(-1, ndim) for i in (1, 2)]
            segmenter.refine(foreground=new[0], background=new[1])
            return "refine"
        if applied:
            segmenter.reset()
        segmenter.initial(np.asarray(state[0], dtype=float))
        if not (state[1] or state[2]):
            return "initial"
        segmenter.refine(foreground=np.asarray(state[1], dtype=float).reshape(-1, ndim),
                         background=np.asarray(state[2], dtype=float).reshape(-1, ndim))
        return "replay"

    @staticmethod
    def _key(points, foreground, background):
        points = np.asarray(points, dtype=float)
        if points.ndim != 2 or len(points) == 0:
            raise ValueError("points must be a non-empty (N, ndim) array of interior margin points, got shape "
                             "{}".format(points.shape))
        ndim = points.shape[1]
        key = []
        for name, clicks in (("points", points), ("foreground", foreground), ("background", background)):
            clicks = np.zeros((0, ndim)) if clicks is None else np.asarray(clicks, dtype=float)
            if clicks.size == 0:
                clicks = clicks.reshape(0, ndim)
            if clicks.ndim != 2 or clicks.shape[1] != ndim:
                raise ValueError("{} must be an (N, {}) array like the points, got shape {}".format(
                    name, ndim, clicks.shape))
            key.append(tuple(map(tuple, np.round(clicks, DECIMALS).tolist())))
        return tuple(key)
