"""Tests for the coarse-grid geodesic distances of large regions (core.geodesic.CoarseGrid) and their
use in a refinement session (core.refinement, regions above COARSE_MIN_VOXELS).

Real inputs: the organ-like CT scenes of benchmarks/organ_scenes.py (lobulated object, texture, fat,
noise), at a size a test can afford; the reference is the full-resolution geodesic / the exact path.
"""

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from MIDeepSegLib.core import refinement
from MIDeepSegLib.core.geodesic import CoarseGrid, _upsample, coarse_factors, geodesic_distances
from MIDeepSegLib.core.intensity import rescale_unit
from MIDeepSegLib.core.metrics import dice
from MIDeepSegLib.core.refinement import click_reaches, refine_ifgc
from MIDeepSegLib.settings import LAM, SIGMA

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from organ_scenes import ct_volume, lobulated_mask  # noqa: E402

SPACING = (1.5, 0.8, 0.8)


@pytest.fixture(scope="module")
def organ():
    """(int16 volume, truth) of a 48x112x112 CT-like scene with a ~80 k-voxel lobulated organ."""
    truth = lobulated_mask((48, 112, 112), 80_000, seed=1, axes=(0.5, 1.0, 1.0))
    return ct_volume(truth, 1, SPACING), truth


def _centre(mask):
    """The voxel of `mask` farthest from its boundary (the simulated user's click)."""
    inner = ndimage.distance_transform_edt(mask, sampling=SPACING)
    return [int(i) for i in np.unravel_index(np.argmax(inner), mask.shape)]


def test_coarse_factors_keep_thick_slices():
    assert coarse_factors((1.5, 0.8, 0.8)) == (2, 2, 2)
    assert coarse_factors((2.0, 0.75, 0.75)) == (1, 2, 2)   # 2 mm slices, 0.75 mm pixels
    assert coarse_factors((5.0, 0.7, 0.7)) == (1, 2, 2)
    assert coarse_factors((1.0, 1.0)) == (2, 2)
    grid = CoarseGrid(np.random.default_rng(0).random((9, 20, 17), np.float32), (5.0, 0.7, 0.7))
    assert grid.image.shape == (9, 10, 9) and grid.coarse_spacing == (5.0, 1.4, 1.4)


def test_upsample_is_exact_on_linear_functions():
    """Linear interpolation reproduces a linear function of the index wherever a coarse voxel lies on
    both sides (the last odd row repeats the last coarse value)."""
    shape, factors = (9, 20, 17), (1, 2, 2)
    idx = np.indices(shape, dtype=np.float32)
    linear = 0.5 * idx[0] + 1.5 * idx[1] - 2.0 * idx[2]
    coarse = np.ascontiguousarray(linear[:, ::2, ::2])
    import torch
    got = _upsample(torch.from_numpy(coarse), factors, shape).numpy()
    assert got.shape == shape and got.dtype == np.float32
    np.testing.assert_allclose(got[:, :19, :17], linear[:, :19, :17], atol=1e-4)
    np.testing.assert_allclose(got[:, 19, :], got[:, 18, :])  # beyond the last coarse row


def test_coarse_distance_is_close_where_the_fusion_weighs_it(organ):
    """Against the full-resolution geodesic (same sweeps), distances scaled as the session scales them:
    0 at the seed, within 10 % on average where D < 1 (fusion weight alpha = e^-D > 0.37), 15 % where
    D < 2, 25 % where D < 4, and alpha off by < 0.04 on average over the region (measured with
    DISTANCE_SCALE 3: 6 / 12 / 15 % and 0.027 at the organ's centre; 1 / 9 / 10 % and 0.008 outside)."""
    volume, truth = organ
    unit = rescale_unit(volume.astype(np.float32))
    grid = CoarseGrid(unit, SPACING)
    scale = refinement.DISTANCE_SCALE
    for point in (_centre(truth), _centre(~truth)):
        seeds = np.zeros(unit.shape, bool)
        seeds[tuple(point)] = True
        fine = scale * geodesic_distances(unit, [seeds], SPACING, iterations=4)[0]
        coarse = scale * grid.distances([np.array([point])], iterations=4)[0]
        assert coarse[tuple(point)] == 0.0
        for limit, tolerance in ((1.0, 0.10), (2.0, 0.15), (4.0, 0.25)):
            near = fine < limit
            assert near.sum() > 100
            assert np.abs(coarse[near] - fine[near]).mean() <= tolerance * fine[near].mean()
        assert np.abs(np.exp(-coarse) - np.exp(-fine)).mean() < 0.04


def test_coarse_session_matches_exact(organ, monkeypatch):
    """A session on an organ-like scene with the coarse maps forced on (threshold 0) against the exact
    reference (full-resolution geodesics, full-region graph cut): Dice >= 0.995 at every step, and the
    clicks still correct the simulated CNN error."""
    monkeypatch.setattr(refinement, "COARSE_MIN_VOXELS", 0)
    volume, truth = organ
    # The "CNN": the truth shifted by 5 voxels along x and smoothed: a missed part and a leak.
    prob = ndimage.gaussian_filter(np.roll(truth, 5, axis=2).astype(np.float32), 1.5)
    prob = np.clip(prob, 0.02, 0.98).astype(np.float32)
    rng = np.random.default_rng(0)
    interior = np.argwhere(truth & (prob > 0.9))
    fg = [list(p) for p in interior[rng.choice(len(interior), 6, replace=False)]]
    bg = []
    cache = {}
    reaches = click_reaches(volume.shape, SPACING)
    start = None
    for step in range(4):
        fast = refine_ifgc(volume, prob, fg, bg, SPACING, lam=LAM, sigma=SIGMA, cache=cache, **reaches)
        exact = refine_ifgc(volume, prob, fg, bg, SPACING, lam=LAM, sigma=SIGMA, exact=True, **reaches)
        assert "coarse" in cache and "costs" not in cache
        assert dice(fast.mask, exact.mask) >= 0.995, step
        start = dice(fast.mask, truth) if start is None else start
        missed, leak = truth & ~fast.mask.astype(bool), fast.mask.astype(bool) & ~truth
        if missed.sum() >= leak.sum():
            fg = fg + [_centre(missed)]
        else:
            bg = bg + [_centre(leak)]
    assert dice(fast.mask, truth) > start
