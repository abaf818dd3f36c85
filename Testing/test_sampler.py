"""Training examples: scene -> augmentation -> simulated user -> network input (training.sampler)."""

import numpy as np
import pytest

from MIDeepSegLib.model.checkpoint import ModelConfig
from MIDeepSegLib.training.sources import Scene
from MIDeepSegLib.model.preprocess import network_input
from MIDeepSegLib.training.sampler import ExampleSampler, cut_through, example_rng
from MIDeepSegLib.training.shapes import ShapeSynthesis

CONFIG_2D = ModelConfig(2, features=(8, 16, 32), input_size=(32, 32))
CONFIG_3D = ModelConfig(3, features=(4, 8, 16), input_size=(16, 24, 24))


class _Disc:
    """A bright disc on a dark background: the example's target must be the disc."""

    def sample(self, rng, ndim):
        grid = np.indices((60,) * ndim, dtype=float)
        mask = np.sqrt(((grid - 30) ** 2).sum(0)) < 15
        return Scene(mask.astype(np.float32) + 0.1, mask, (1.0,) * ndim, "disc")

    def describe(self):
        return {"source": "disc"}


@pytest.mark.parametrize("config", [CONFIG_2D, CONFIG_3D], ids=["2d", "3d"])
def test_example_shapes_and_channels(config):
    sampler = ExampleSampler(ShapeSynthesis(max_shape={2: 96, 3: 40}), config)
    inputs, target = sampler.example(example_rng(0, 0, 0, 0))
    assert inputs.shape == (2,) + config.input_size and inputs.dtype == np.float32
    assert target.shape == config.input_size and target.dtype == np.uint8
    assert target.any() and set(np.unique(target)) <= {0, 1}
    cue = inputs[1]
    assert cue.min() >= 0 and cue.max() == pytest.approx(1.0)
    assert abs(float(inputs[0].mean())) < 1e-3  # z-scored crop


def test_examples_are_replayable_and_distinct():
    sampler = ExampleSampler(ShapeSynthesis(), CONFIG_2D)
    a = sampler.example(example_rng(3, 1, 5, 2))
    b = sampler.example(example_rng(3, 1, 5, 2))
    c = sampler.example(example_rng(3, 1, 5, 3))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    inputs, targets = sampler.batch([example_rng(0, 0, 0, j) for j in range(3)])
    assert inputs.shape == (3, 2, 32, 32) and targets.shape == (3, 32, 32)


def test_the_crop_surrounds_the_object_and_matches_network_input():
    """Without augmentation the target fills the grid's middle, and the input is network_input's."""
    sampler = ExampleSampler(_Disc(), CONFIG_2D, augment=False, margin_jitter=(1, 1))
    inputs, target = sampler.example(np.random.default_rng(0))
    assert target[16, 16] == 1 and target[0, 0] == 0 and target[-1, -1] == 0
    assert 0.5 < target.mean() < 0.9
    # the image channel separates the disc from the background
    assert inputs[0][target == 1].mean() > inputs[0][target == 0].mean() + 1
    # same input as the Segmenter's path for the same crop and points
    rng = np.random.default_rng(0)
    scene = _Disc().sample(rng, 2)
    from MIDeepSegLib.core.crop import relaxed_bbox, shift_points
    from MIDeepSegLib.training.sampler import _margin_points

    points = _margin_points(scene.mask, rng, scene.spacing)
    rng.uniform(1, 1, size=2)  # the sampler draws the margin jitter here
    box = relaxed_bbox(points, scene.image.shape, scene.spacing, 5.0)
    expected = network_input(scene.image[box], shift_points(points, box), scene.spacing, (32, 32))
    assert np.array_equal(inputs, expected)


def test_encoding_from_config():
    config = ModelConfig(2, features=(8, 16, 32), input_size=(32, 32), encoding="bbox")
    inputs, _ = ExampleSampler(_Disc(), config).example(np.random.default_rng(0))
    assert set(np.unique(inputs[1])) <= {0.0, 1.0}


def test_sampler_validates():
    with pytest.raises(ValueError, match="source"):
        ExampleSampler(object(), CONFIG_2D)
    with pytest.raises(ValueError, match="margin_jitter"):
        ExampleSampler(_Disc(), CONFIG_2D, margin_jitter=(2, 1))


def test_cut_through_keeps_a_part_cut_by_the_side():
    mask = np.zeros((20, 30, 30), bool)
    mask[4:16, 5:25, 8:22] = True
    image = mask.astype(np.float32)
    for seed in range(12):
        cut_image, cut_mask = cut_through(image, mask, np.random.default_rng(seed))
        assert cut_image.shape == cut_mask.shape and 0 < cut_mask.sum() < mask.sum()
        # the object reaches one side of the part kept, on the axis that was cut, with 25-75 % of its extent
        axis = [a for a in range(3) if cut_mask.shape[a] != mask.shape[a]]
        assert len(axis) == 1, cut_mask.shape
        a = axis[0]
        along = np.flatnonzero(cut_mask.any(axis=tuple(b for b in range(3) if b != a)))
        touches = along[0] == 0 or along[-1] == cut_mask.shape[a] - 1
        assert touches
        full = {0: 12, 1: 20, 2: 14}[a]
        assert 0.2 * full <= len(along) <= 0.8 * full + 1


def test_cut_scenes_are_mirrored_past_the_cut_like_the_segmenter_does():
    """With cut_p=1 the object reaches the crop's side and the target goes on to the grid's edge there."""
    sampler = ExampleSampler(_Disc(), CONFIG_2D, augment=False, margin_jitter=(1, 1), cut_p=1.0)
    edges = 0
    for seed in range(6):
        inputs, target = sampler.example(np.random.default_rng(seed))
        assert inputs.shape == (2,) + CONFIG_2D.input_size and target.shape == CONFIG_2D.input_size
        # a disc cut through: its mirrored continuation fills the padding, so the target touches an edge
        edges += int(target[0].any() or target[-1].any() or target[:, 0].any() or target[:, -1].any())
    assert edges == 6
    # without cutting, the whole disc lies inside the crop with the margin around it
    inputs, target = ExampleSampler(_Disc(), CONFIG_2D, augment=False, margin_jitter=(1, 1)).example(
        np.random.default_rng(0))
    assert not (target[0].any() or target[-1].any() or target[:, 0].any() or target[:, -1].any())
    with pytest.raises(ValueError, match="cut_p"):
        ExampleSampler(_Disc(), CONFIG_2D, cut_p=1.5)
