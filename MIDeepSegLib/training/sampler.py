"""Training examples: scene -> augmentation -> simulated user -> crop -> network input.

One example goes through the path the :class:`~MIDeepSegLib.Segmenter`
takes at inference, with a simulated user (paper Section 2.1):

1. a scene (image, target mask, voxel size) from a source
   (:mod:`MIDeepSegLib.training.datasets`, :mod:`.shapes`, :mod:`.labelmaps`);
2. the paper's augmentations (:mod:`MIDeepSegLib.training.augment`);
3. simulated interior margin points
   (:func:`~MIDeepSegLib.core.simulate.interior_margin_points`);
4. their relaxed bounding box with the model's ``margin_mm``, jittered per
   axis, grown to the image sides the object runs out of, as the Segmenter's
   region (:func:`~MIDeepSegLib.core.crop.object_region`); there the crop is
   mirrored past the side (:func:`~MIDeepSegLib.model.preprocess.mirror_pad`),
   as at inference. Optionally (``cut_p``) the scene is first cut through its
   object, as a scan cuts an organ with its first or last slice;
5. the crop and its cue map on the network grid
   (:func:`~MIDeepSegLib.model.preprocess.network_input`, the Segmenter's own
   function); the target is the mask crop (mirrored like the crop) resized
   linearly to the grid and thresholded at 0.5.

Each example is drawn from its own ``numpy.random.Generator``;
:func:`example_rng` derives it from (seed, rank, iteration, index), so any
example of a training run can be regenerated on its own (resuming, data
parallelism).
"""

import numpy as np

from ..core.crop import object_region, shift_points
from ..core.simulate import interior_margin_points
from ..model.preprocess import border_pads, mirror_pad, network_input, resize
from ..settings import BORDER_MM, BORDER_VOXELS
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
    cut_p : float in [0, 1], keyword-only
        Probability that a scene is cut through its object first (:func:`cut_through`).
    """

    def __init__(self, source, config, *, augment=True, margin_jitter=(0.6, 1.5), cut_p=0.0):
        if not hasattr(source, "sample"):
            raise ValueError("source must have a sample(rng, ndim) method, got {!r}".format(source))
        lo, hi = (float(v) for v in margin_jitter)
        if not 0 <= lo <= hi:
            raise ValueError("margin_jitter must be (low, high) with 0 <= low <= high, got {}".format(
                margin_jitter))
        if not 0.0 <= float(cut_p) <= 1.0:
            raise ValueError("cut_p must be a probability in [0, 1], got {}".format(cut_p))
        self.source = source
        self.config = config
        self.augment = bool(augment)
        self.margin_jitter = (lo, hi)
        self.cut_p = float(cut_p)

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
            if self.cut_p > 0 and rng.random() < self.cut_p:  # (no draw without it: earlier runs replay)
                image, mask = cut_through(image, mask, rng)
            if mask.sum() < 4:
                continue
            points = _margin_points(mask, rng, spacing)
            margins = config.margin_mm * rng.uniform(*self.margin_jitter, size=ndim)
            box, sides = object_region(points, image.shape, spacing, margins, BORDER_VOXELS)
            crop, target = image[box], mask[box].astype(np.float32)
            if min(crop.shape) < 2:
                continue
            local = shift_points(points, box)
            if sides.any():
                pads = border_pads(sides, spacing, BORDER_MM)
                crop, local = mirror_pad(crop, local, pads)
                target = np.pad(target, pads, mode="symmetric")
            inputs = network_input(crop, local, spacing, config.input_size, encoding=config.encoding,
                                   normalisation=config.normalisation)
            target = resize(target, config.input_size) >= 0.5
            return inputs, target.astype(np.uint8)
        raise RuntimeError("the source gave 20 scenes in a row with no usable object")  # pragma: no cover

    def batch(self, rngs):
        """Stack the examples of several Generators: ``(inputs (B, 2, *size), targets (B, *size))``."""
        examples = [self.example(rng) for rng in rngs]
        return np.stack([e[0] for e in examples]), np.stack([e[1] for e in examples])


def cut_through(image, mask, rng):
    """The scene cut through its object along a random axis, as a scan's first or last slice cuts an organ.

    The cut lies between a quarter and three quarters of the object's extent along that axis; one side
    (chosen at random) is kept. Returns views (image, mask) of the part kept.
    """
    mask = np.asarray(mask)
    axis = int(rng.integers(mask.ndim))
    along = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
    first, last = int(along[0]), int(along[-1])
    at = int(round(first + rng.uniform(0.25, 0.75) * (last - first)))
    keep = slice(at, None) if rng.random() < 0.5 else slice(None, at + 1)
    index = (slice(None),) * axis + (keep,)
    return image[index], mask[index]


def _margin_points(mask, rng, spacing):
    """interior_margin_points on the mask's bounding box only (same result, less work)."""
    idx = np.argwhere(mask)
    lo = np.maximum(idx.min(0) - 2, 0)
    hi = idx.max(0) + 3
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    return interior_margin_points(mask[box], rng, spacing) + lo
