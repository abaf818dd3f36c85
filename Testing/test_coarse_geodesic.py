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
from MIDeepSegLib.core.geodesic import CoarseGrid, _upsample, coarse_factors, geodesic_distances, step_change_ratio
from MIDeepSegLib.core.metrics import dice
from MIDeepSegLib.core.refinement import click_reaches, refine_ifgc, region_intensities
from MIDeepSegLib.settings import LAM, SIGMA, SMOOTHING_VOX

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


def test_step_change_ratio_matches_the_texture():
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 1, (30, 40, 40)).astype(np.float32)
    assert step_change_ratio(noise, (2, 2, 2)) == pytest.approx(1.0, abs=0.03)  # independent neighbours
    ramp = np.broadcast_to(np.arange(40, dtype=np.float32), (30, 40, 40))
    assert step_change_ratio(ramp, (1, 1, 2)) == pytest.approx(0.5)  # smooth: two steps change twice as much
    smoothed = ndimage.gaussian_filter(noise, 0.7)
    assert 0.5 < step_change_ratio(smoothed, (2, 2, 2)) < 0.9
    assert step_change_ratio(np.ones((10, 10, 10), np.float32), (2, 2, 2)) == 1.0
    assert step_change_ratio(noise, (1, 1, 1)) == 1.0


@pytest.mark.parametrize("smoothing", [0.0, SMOOTHING_VOX])
def test_coarse_distance_is_close_where_the_fusion_weighs_it(organ, smoothing):
    """Against the full-resolution geodesic (same sweeps), distances scaled as the session scales them,
    on the crop as the session sees it (smoothed or not): 0 at the seed, a bounded mean relative error
    where D < 1 (fusion weight alpha = e^-D > 0.37), D < 2 and D < 4, and a bounded mean alpha error.
    The smoothed case holds thanks to step_change_ratio (without it the coarse distances were 1.5
    times the full-resolution ones)."""
    volume, truth = organ
    unit = region_intensities(volume.astype(np.float32), smoothing)  # what the session's maps see
    grid = CoarseGrid(unit, SPACING)
    scale = refinement.DISTANCE_SCALE
    for point in (_centre(truth), _centre(~truth)):
        seeds = np.zeros(unit.shape, bool)
        seeds[tuple(point)] = True
        fine = scale * geodesic_distances(unit, [seeds], SPACING, iterations=4)[0]
        coarse = scale * grid.distances([np.array([point])], iterations=4)[0]
        assert coarse[tuple(point)] == 0.0
        # Measured (DISTANCE_SCALE 2): no smoothing 5 / 11 / 10 % and alpha 0.029 at the organ's centre,
        # 2 / 8 / 6 % and 0.013 outside; smoothed 4 / 4 / 4 % and 0.015, 17 / 16 / 16 % and 0.062 outside
        # (the background's fat pockets: one ratio per region cannot fit every texture).
        tolerances = (0.10, 0.15, 0.25) if smoothing == 0 else (0.20, 0.20, 0.20)
        for limit, tolerance in zip((1.0, 2.0, 4.0), tolerances):
            near = fine < limit
            assert near.sum() > 100
            assert np.abs(coarse[near] - fine[near]).mean() <= tolerance * fine[near].mean()
        assert np.abs(np.exp(-coarse) - np.exp(-fine)).mean() < (0.04 if smoothing == 0 else 0.07)


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
