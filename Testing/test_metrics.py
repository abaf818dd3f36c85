"""Tests for MIDeepSegLib.core.metrics: Dice, ASSD and HD95 in mm, with anisotropic spacing.

Expected values are derived analytically (formulas in each test), or, for one
3D case, by brute force over all surface-voxel pairs.
"""

import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from MIDeepSegLib.core.metrics import assd, dice, hd95


def _square(shape, centre, radius):
    """Filled square / cube of Chebyshev radius `radius` (side 2 radius + 1)."""
    mask = np.zeros(shape, bool)
    mask[tuple(slice(c - radius, c + radius + 1) for c in centre)] = True
    return mask


def _ring(radius):
    """Relative coordinates of the surface (outer ring) of a filled square of that radius."""
    return [(y, x) for y in range(-radius, radius + 1) for x in range(-radius, radius + 1)
            if max(abs(y), abs(x)) == radius]


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (5.0, 0.6), (0.6, 5.0)])
@pytest.mark.parametrize("outer,inner", [(8, 5), (6, 1), (9, 8)])
def test_concentric_squares_analytic(spacing, outer, inner):
    """Surfaces are the two square rings; nearest-ring distances in closed form.

    Outer ring voxel (R, x) to the inner ring: sy (R - r) if |x| <= r, else the
    inner corner, hypot(sy (R - r), sx (|x| - r)); (y, R) likewise with axes
    swapped. Inner ring voxel (r, x) to the outer ring: min(sy (R - r), sx (R - |x|));
    (y, r) likewise.
    """
    sy, sx = spacing
    R, r = outer, inner
    shape, centre = (2 * R + 7, 2 * R + 5), (R + 3, R + 2)
    a, b = _square(shape, centre, R), _square(shape, centre, r)

    def outer_to_inner(y, x):
        if abs(y) == R:  # top / bottom side (corners included)
            return sy * (R - r) if abs(x) <= r else math.hypot(sy * (R - r), sx * (abs(x) - r))
        return sx * (R - r) if abs(y) <= r else math.hypot(sx * (R - r), sy * (abs(y) - r))

    def inner_to_outer(y, x):
        best = math.inf
        if abs(y) == r:
            best = min(best, sy * (R - r), sx * (R - abs(x)))
        if abs(x) == r:
            best = min(best, sx * (R - r), sy * (R - abs(y)))
        return best

    d_a = [outer_to_inner(*p) for p in _ring(R)]
    d_b = [inner_to_outer(*p) for p in _ring(r)]
    expected_assd = (sum(d_a) + sum(d_b)) / (len(d_a) + len(d_b))
    expected_hd95 = float(np.percentile(d_a + d_b, 95))
    assert assd(a, b, spacing) == pytest.approx(expected_assd, rel=1e-9)
    assert assd(b, a, spacing) == pytest.approx(expected_assd, rel=1e-9)  # symmetric
    assert hd95(a, b, spacing) == pytest.approx(expected_hd95, rel=1e-9)
    n_a, n_b = (2 * R + 1) ** 2, (2 * r + 1) ** 2
    assert dice(a, b) == pytest.approx(2 * n_b / (n_a + n_b))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_plates_shifted_by_k_slices(k):
    """One-voxel-thick plates k slices apart, 5 mm slices: every surface distance is exactly 5k mm."""
    shape = (10, 12, 14)
    a = np.zeros(shape, bool)
    a[2, 3:9, 2:11] = True
    b = np.roll(a, k, axis=0)
    spacing = (5.0, 0.6, 0.8)
    assert assd(a, b, spacing) == pytest.approx(5.0 * k)
    assert hd95(a, b, spacing) == pytest.approx(5.0 * k)
    assert dice(a, b) == 0.0
    # with the slice thickness on another axis the answer follows the spacing, not the index
    assert assd(a, b, (0.6, 5.0, 0.8)) == pytest.approx(0.6 * k)


def test_column_box_shifted_by_two_slices():
    """A 6 x 2 x 2 column shifted by 2 slices (5 mm): distances are 0, 5 and 10 mm.

    Every voxel is on the surface. Per mask: 4 voxels at 10 mm, 4 at 5 mm,
    16 at 0, so ASSD = (2 x 60) / 48 = 2.5 mm and HD95 = 10 mm.
    """
    a = np.zeros((12, 5, 5), bool)
    a[1:7, 1:3, 2:4] = True
    b = np.roll(a, 2, axis=0)
    spacing = (5.0, 0.6, 0.6)
    assert assd(a, b, spacing) == pytest.approx(2.5)
    assert hd95(a, b, spacing) == pytest.approx(10.0)
    assert dice(a, b) == pytest.approx(2 * 16 / 48)


def _surface_bruteforce(mask):
    """Voxels of the mask with a face neighbour outside it (or at the array border)."""
    padded = np.pad(mask, 1)
    out = []
    for idx in np.argwhere(mask):
        p = idx + 1
        for axis in range(mask.ndim):
            for step in (-1, 1):
                q = p.copy()
                q[axis] += step
                if not padded[tuple(q)]:
                    out.append(idx)
                    break
            else:
                continue
            break
    return np.array(out)


def test_3d_against_brute_force():
    rng = np.random.default_rng(0)
    shape = (8, 14, 15)
    a = _square(shape, (4, 7, 7), 3)
    a[4:, 5:10, 9:] = True  # an appendage
    b = _square(shape, (3, 6, 8), 3)
    b[rng.random(shape) < 0.03] = True  # speckle
    spacing = np.array([5.0, 0.6, 0.8])
    sa, sb = _surface_bruteforce(a) * spacing, _surface_bruteforce(b) * spacing
    d = cdist(sa, sb)
    both = np.concatenate([d.min(axis=1), d.min(axis=0)])
    assert assd(a, b, tuple(spacing)) == pytest.approx(both.mean(), rel=1e-9)
    assert hd95(a, b, tuple(spacing)) == pytest.approx(np.percentile(both, 95), rel=1e-9)
    # objects touching the array border: the border counts as surface
    a[:, 0, :] = True
    sa = _surface_bruteforce(a) * spacing
    d = cdist(sa, sb)
    both = np.concatenate([d.min(axis=1), d.min(axis=0)])
    assert assd(a, b, tuple(spacing)) == pytest.approx(both.mean(), rel=1e-9)


def test_identical_masks():
    a = _square((9, 10, 11), (4, 5, 5), 2)
    assert dice(a, a) == 1.0
    assert assd(a, a, (5.0, 0.6, 0.6)) == 0.0
    assert hd95(a, a) == 0.0


def test_dice_known_overlap():
    a = np.zeros((20, 10), bool)
    b = np.zeros((20, 10), bool)
    a[0:10] = True
    b[5:15] = True
    assert dice(a, b) == pytest.approx(0.5)
    assert dice(a.astype(np.uint8) * 7, b.astype(float)) == pytest.approx(0.5)  # any non-zero is foreground


def test_empty_masks():
    empty = np.zeros((5, 6), bool)
    full = np.zeros((5, 6), bool)
    full[2, 3] = True
    assert dice(empty, empty) == 1.0
    assert assd(empty, empty) == 0.0 and hd95(empty, empty) == 0.0
    assert dice(empty, full) == 0.0
    assert assd(empty, full) == math.inf and assd(full, empty) == math.inf
    assert hd95(empty, full) == math.inf and hd95(full, empty) == math.inf


def test_return_types():
    a = _square((9, 9), (4, 4), 2)
    b = _square((9, 9), (4, 5), 2)
    for value in (dice(a, b), assd(a, b, (1.0, 2.0)), hd95(a, b, (1.0, 2.0))):
        assert isinstance(value, float)


def test_shape_mismatch_and_bad_spacing():
    a = np.ones((4, 5), bool)
    for metric in (dice, assd, hd95):
        with pytest.raises(ValueError, match="same shape"):
            metric(a, np.ones((5, 4), bool))
    with pytest.raises(ValueError, match="finite and positive"):
        assd(a, a, (1.0, -1.0))
    with pytest.raises(ValueError, match="one value per array axis"):
        hd95(a, a, (1.0, 1.0, 1.0))
