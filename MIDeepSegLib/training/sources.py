"""What every training source shares: the :class:`Scene` it returns and the :class:`Source` base.

A *source* draws scenes with ``sample(rng, ndim)`` (implemented as ``_draw``, or as
``_try``, which may return None for a draw to be repeated) and describes itself for the
model card with ``describe()``. The sources are :class:`~.datasets.FolderDataset`
(the user's labelled images), :class:`~.datasets.MixedSource` (several sources
drawn with weights) and the synthetic ones of :mod:`.shapes` and :mod:`.labelmaps`.
"""

from collections import namedtuple

#: One training scene. ``image``: float32 (H, W) or (D, H, W), array order;
#: ``mask``: bool, image shape, the target object (non-empty); ``spacing``:
#: tuple of float, mm per array axis; ``name``: where it came from (for logs).
Scene = namedtuple("Scene", ["image", "mask", "spacing", "name"])


class Source:
    """Base of the training sources: :meth:`sample` checks `ndim` once.

    Subclasses implement :meth:`_draw`, or :meth:`_try` (None: draw again).
    """

    def sample(self, rng, ndim):
        """Draw one scene.

        Parameters
        ----------
        rng : numpy.random.Generator
            Every random choice comes from it, so a scene is replayed from its seed.
        ndim : {2, 3}

        Returns
        -------
        Scene
        """
        if ndim not in (2, 3):
            raise ValueError("ndim must be 2 or 3, got {!r}".format(ndim))
        return self._draw(rng, int(ndim))

    def _draw(self, rng, ndim):
        """One scene; by default the first that :meth:`_try` gives (it returns None for an unusable draw)."""
        for _ in range(20):
            scene = self._try(rng, ndim)
            if scene is not None:
                return scene
        raise RuntimeError("{} gave no usable scene in 20 tries".format(type(self).__name__))  # pragma: no cover

    def _try(self, rng, ndim):
        raise NotImplementedError("{} must implement _draw(rng, ndim) or _try(rng, ndim)".format(
            type(self).__name__))

    def describe(self):
        """JSON-compatible description for model cards."""
        raise NotImplementedError("{} must implement describe()".format(type(self).__name__))
