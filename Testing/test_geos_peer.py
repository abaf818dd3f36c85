"""Tests for the GeoS peer (evaluation.peers.geos): its geodesic length, soft seeds and symmetric filter.

Real computation throughout (the torch geodesic sweeps); the scene that separates GeoS's distance from
the pure intensity geodesic is an organ-like CT crop: a lobulated organ of benchmarks/organ_scenes.py,
3 mm voxels, noise, and gas at one side so that the crop's [0, 1] range spans a CT's (the tuning organs'
crops span about -1000 to +100 HU or more).
"""

import sys
from pathlib import Path

import numpy as np
import pytest

from MIDeepSegLib.core.crop import relaxed_bbox
from MIDeepSegLib.core.metrics import dice
from MIDeepSegLib.core.simulate import interior_margin_points
from MIDeepSegLib.evaluation import peers

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from organ_scenes import lobulated_mask

SPACING = (3.0, 3.0, 3.0)


def _noisy_organ(seed):
    """(HU volume, truth, points, box): an 8,000-voxel organ 100 HU over its surroundings, noise 15 HU."""
    shape = (28, 44, 44)
    truth = lobulated_mask(shape, 8000, seed=seed, axes=(0.8, 1.0, 1.0))
    rng = np.random.default_rng(seed + 7)
    volume = np.where(truth, 120.0, 20.0) + rng.normal(0, 15.0, shape)
    volume[:, :, :6] -= 1020.0                                 # gas: the crop's range reaches -1000 HU
    points = interior_margin_points(truth, np.random.default_rng(seed), SPACING, n_random=0)
    box = relaxed_bbox(points, shape, SPACING, 5.0)
    box = box[:2] + (slice(0, box[2].stop),)                  # the box takes in the gas
    return volume, truth, points, box


@pytest.mark.parametrize("seed", [1, 3])
def test_path_length_keeps_the_organ_that_the_pure_intensity_geodesic_loses(seed):
    """With |dI| x step length alone (gamma=None) the box border's background enters the noisy organ at
    the weakest spot of its long boundary and then travels inside for almost nothing: most of the organ
    goes to the background. GeoS's length sqrt(step^2 + gamma^2 dI^2) charges the path length too, so
    the leak stays local. (Measured, seeds only: Dice 0.13 / 0.08 without the length, 0.42 / 0.42 with it.)"""
    volume, truth, points, box = _noisy_organ(seed)
    no_clicks = np.zeros((0, 3))
    pure = dice(peers.geos(volume, SPACING, points, no_clicks, box, gamma=None, nu=None, theta=0), truth)
    length = dice(peers.geos(volume, SPACING, points, no_clicks, box, nu=None, theta=0), truth)
    assert pure < 0.2
    assert length > pure + 0.2


def test_soft_seeds_take_in_object_like_voxels_that_no_seed_reaches():
    """nu: voxels with the foreground seeds' intensity start close to the foreground (GeoS's soft mask),
    so a separate object-like blob becomes foreground; with the seeds alone (nu=None) it does not."""
    rng = np.random.default_rng(0)
    yy, xx = np.indices((64, 64))
    disc = (yy - 36) ** 2 + (xx - 36) ** 2 <= 15 ** 2
    blob = (yy - 10) ** 2 + (xx - 10) ** 2 <= 2 ** 2
    image = np.where(disc | blob, 0.7, 0.3) + rng.normal(0, 0.02, disc.shape)
    points = interior_margin_points(disc, rng, n_random=0)
    box = (slice(2, 62), slice(2, 62))
    soft = peers.geos(image, (1.0, 1.0), points, np.zeros((0, 2)), box, theta=0).astype(bool)
    hard = peers.geos(image, (1.0, 1.0), points, np.zeros((0, 2)), box, nu=None, theta=0).astype(bool)
    assert soft[blob].all() and not hard[blob].any()
    assert dice(soft & disc, disc) > 0.98 and dice(hard, disc) > 0.98


def test_symmetric_filter_is_contrast_sensitive():
    """The geodesic closing + opening removes a small island and fills a small hole where the image is
    flat (geodesic = Euclidean), and keeps both where a strong edge outlines them."""
    shape = (40, 40)
    mask = np.zeros(shape, bool)
    mask[5:35, 5:20] = True                                   # a large region: kept
    mask[18:21, 10:13] = False                                # a 3 x 3 hole in it
    mask[18:21, 30:33] = True                                 # a 3 x 3 island outside it
    options = {"iterations": None, "device": None, "gamma": 200.0}
    flat = np.zeros(shape, np.float32)
    out = peers._geodesic_close_open(mask, flat, (1.0, 1.0), 3.0, options)
    region = np.zeros(shape, bool)
    region[5:35, 5:20] = True
    assert out[18:21, 10:13].all() and not out[:, 25:].any()  # hole filled, island removed
    assert dice(out, region) > 0.97                           # the region kept (corners rounded)
    edged = np.where(mask, 0.8, 0.2).astype(np.float32)       # the same mask, outlined by the image
    np.testing.assert_array_equal(peers._geodesic_close_open(mask, edged, (1.0, 1.0), 3.0, options), mask)


@pytest.mark.parametrize("kwargs, match", [
    ({"nu": 0.0}, "nu must be"), ({"nu": np.inf}, "nu must be"), ({"theta": -1.0}, "theta must be"),
    ({"gamma": 0.0}, "gamma must be")])
def test_geos_bad_parameters(kwargs, match):
    image = np.random.default_rng(0).random((20, 20))
    with pytest.raises(ValueError, match=match):
        peers.geos(image, None, [[10, 10]], [], None, **kwargs)
