"""Training examples: scene -> augmentation -> simulated user -> crop -> network input.

One example goes through the path the :class:`~MIDeepSegLib.Segmenter`
takes at inference, with a simulated user (paper Section 2.1):

1. a scene (image, target mask, voxel size) from a source
   (:mod:`MIDeepSegLib.training.datasets`, :mod:`.shapes`, :mod:`.labelmaps`);
2. the paper's augmentations (:mod:`MIDeepSegLib.training.augment`);
3. simulated interior margin points
   (:func:`~MIDeepSegLib.core.simulate.interior_margin_points`);
4. their relaxed bounding box (:func:`~MIDeepSegLib.core.crop.relaxed_bbox`) with
   the model's ``margin_mm``, jittered per axis;
5. the crop and its cue map on the network grid
   (:func:`~MIDeepSegLib.model.preprocess.network_input`, the Segmenter's own
   function); the target is the mask crop resized linearly to the grid and
   thresholded at 0.5.

Each example is drawn from its own ``numpy.random.Generator``;
:func:`example_rng` derives it from (seed, rank, iteration, index), so any
example of a training run can be regenerated on its own (resuming, data
parallelism).
"""

import numpy as np

from ..core.crop import relaxed_bbox, shift_points
from ..core.simulate import interior_margin_points
from ..model.preprocess import network_input, resize
from .augment import apply_augmentation, draw_augmentation


def example_rng(seed, rank, iteration, index):
    """The Generator of one training example: ``default_rng([seed, rank, iteration, index])``.

    Validation examples use ``rank = -1`` mapped to a separate stream.
    """
    return np.random.default_rng([int(seed), int(rank) + 1, int(iteration), int(index)])


class ExampleSampler:
    """Make network inputs and targets from a source of scenes.

    Parameters
    ----------
    source : object with ``sample(rng, ndim)``
        Scenes (:class:`~MIDeepSegLib.training.sources.Scene`).
    config : ModelConfig
        The model being trained: ``spatial_dims``, ``input_size``,
        ``encoding``, ``normalisation`` and ``margin_mm`` are used.
    augment : bool, keyword-only
        Apply the paper's augmentations (rotation, scaling, flips, gamma and
        intensity inversion).
    margin_jitter : (float, float), keyword-only
        Range of the factor drawn per axis for the relaxed box's margin
        (``margin_mm`` times it); (1, 1) for none.
    """

    def __init__(self, source, config, *, augment=True, margin_jitter=(0.6, 1.5)):
        if not hasattr(source, "sample"):
            raise ValueError("source must have a sample(rng, ndim) method, got {!r}".format(source))
        lo, hi = (float(v) for v in margin_jitter)
        if not 0 <= lo <= hi:
            raise ValueError("margin_jitter must be (low, high) with 0 <= low <= high, got {}".format(
                margin_jitter))
        self.source = source
        self.config = config
        self.augment = bool(augment)
        self.margin_jitter = (lo, hi)

    def example(self, rng):
        """One training example.

        Parameters
        ----------
        rng : numpy.random.Generator

        Returns
        -------
        inputs : float32 ndarray (2, *input_size)
            Channel 0 the normalised crop, channel 1 the cue map (array order).
        target : uint8 ndarray (*input_size)
            The object on the network grid.
        """
        config = self.config
        ndim = config.spatial_dims
        for _ in range(20):
            scene = self.source.sample(rng, ndim)
            image, mask, spacing = scene.image, scene.mask, scene.spacing
            if self.augment:
                params = draw_augmentation(rng, ndim, spacing)
                image, mask = apply_augmentation(image, mask, spacing, params)
            if mask.sum() < 4:
                continue
            points = _margin_points(mask, rng, spacing)
            margins = config.margin_mm * rng.uniform(*self.margin_jitter, size=ndim)
            box = relaxed_bbox(points, image.shape, spacing, margins)
            crop = image[box]
            if min(crop.shape) < 2:
                continue
            inputs = network_input(crop, shift_points(points, box), spacing, config.input_size,
                                   encoding=config.encoding, normalisation=config.normalisation)
            target = resize(mask[box].astype(np.float32), config.input_size) >= 0.5
            return inputs, target.astype(np.uint8)
        raise RuntimeError("the source gave 20 scenes in a row with no usable object")  # pragma: no cover

    def batch(self, rngs):
        """Stack the examples of several Generators: ``(inputs (B, 2, *size), targets (B, *size))``."""
        examples = [self.example(rng) for rng in rngs]
        return np.stack([e[0] for e in examples]), np.stack([e[1] for e in examples])


def _margin_points(mask, rng, spacing):
    """interior_margin_points on the mask's bounding box only (same result, less work)."""
    idx = np.argwhere(mask)
    lo = np.maximum(idx.min(0) - 2, 0)
    hi = idx.max(0) + 3
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    return interior_margin_points(mask[box], rng, spacing) + lo
