"""The grid the 3D network runs on: its trained grid, or one coarsest cell finer per axis for large crops."""

import numpy as np
import pytest

from MIDeepSegLib.core.simulate import interior_margin_points
from MIDeepSegLib.model.checkpoint import resolve_model
from MIDeepSegLib.model.preprocess import network_grid
from MIDeepSegLib.segmenter import Segmenter


def test_network_grid_grows_only_for_crops_the_trained_grid_would_shrink():
    grid = (32, 48, 48)  # 73,728 cells
    assert network_grid((30, 50, 49), grid, 8, 1) == grid  # 73,500 voxels: the grid already enlarges it
    assert network_grid((20, 200, 200), grid, 8, 1) == (40, 56, 56)
    assert network_grid((20, 200, 200), grid, 8, 2) == (48, 64, 64)
    assert network_grid((20, 200, 200), grid, 8, 0) == grid
    assert network_grid((400, 400), (64, 64), 16, 1.0) == (80, 80)  # an integral float is a count
    for bad in (-1, 0.5, True, "1", None, float("nan")):
        with pytest.raises(ValueError, match="finer_cells"):
            network_grid((20, 200, 200), grid, 8, bad)


def _sphere(shape, radius):
    zz, yy, xx = np.indices(shape)
    centre = np.array(shape) / 2
    truth = (zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2 < radius ** 2
    image = np.random.default_rng(0).normal(0, 10, shape).astype(np.float32) + 100 * truth
    return image, truth


@pytest.mark.parametrize("radius, finer, expected", [(30, 1, (40, 56, 56)), (30, 0, (32, 48, 48)),
                                                     (10, 1, (32, 48, 48))])
def test_segmenter_runs_the_network_on_the_finer_grid_for_large_objects(one_torch_thread, radius, finer,
                                                                         expected):
    image, truth = _sphere((72, 72, 72), radius)
    points = interior_margin_points(truth, np.random.default_rng(1), (1.0, 1.0, 1.0))
    seg = Segmenter(image, (1.0, 1.0, 1.0), model=str(resolve_model("3d")), device="cpu", finer_grid=finer)
    seen = []
    hook = seg.network.register_forward_pre_hook(lambda module, args: seen.append(tuple(args[0].shape[2:])))
    try:
        result = seg.initial(points)
    finally:
        hook.remove()  # the network is cached and shared with other sessions
    assert seen == [expected]
    assert result.probability.shape == image.shape
    assert result.mask[truth].mean() > 0.9 and result.mask[~truth].mean() < 0.05


def test_bad_finer_grid():
    image = np.random.default_rng(0).random((8, 16, 16)).astype(np.float32)
    for bad in (-1, 1.5, "x"):
        with pytest.raises(ValueError, match="finer_cells"):
            Segmenter(image, (2.0, 1.0, 1.0), model=None, margin_mm=5.0, finer_grid=bad)


def test_model_card_states_both_grids():
    from MIDeepSegLib.evaluation.modelcard import render_model_card
    from MIDeepSegLib.model.checkpoint import ModelConfig

    card_3d = render_model_card(ModelConfig(3, features=(16, 32, 64, 128), input_size=(32, 48, 48)))
    assert "32 x 48 x 48 voxels" in card_3d
    assert "or to 40 x 56 x 56 where this grid would shrink it" in card_3d
    card_2d = render_model_card(ModelConfig(2, features=(8, 16, 32), input_size=(64, 64)))
    assert "64 x 64 voxels" in card_2d and "would shrink" not in card_2d  # 2D: the trained grid only
