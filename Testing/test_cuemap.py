"""Tests for MIDeepSegLib.core.cuemap: EGD (paper Eq. 1) and the Table 2 ablation encodings."""

import math

import numpy as np
import pytest
from conftest import SPACING_2D, SPACING_3D, dijkstra_reference, make_blob_image

from MIDeepSegLib.core import cuemap
from MIDeepSegLib.core.geodesic import geodesic_distance
from MIDeepSegLib.core.intensity import rescale_unit


def _case(ndim, seed=0):
    shape = (40, 44) if ndim == 2 else (12, 24, 22)
    rng = np.random.default_rng(seed)
    image, obj = make_blob_image(shape, rng, noise=0.02)
    image = image * 300.0 - 50.0  # not on a [0, 1] scale: egd must normalise it
    inside = np.argwhere(obj)
    points = inside[rng.choice(len(inside), size=4, replace=False)].astype(float)
    spacing = SPACING_2D if ndim == 2 else SPACING_3D
    return image, points, spacing


def _point_mask(points, shape):
    mask = np.zeros(shape, bool)
    mask[tuple(np.rint(points).astype(int).T)] = True
    return mask


@pytest.mark.parametrize("ndim", [2, 3])
def test_egd_is_exp_of_geodesic_on_rescaled_image(ndim):
    image, points, spacing = _case(ndim)
    e = cuemap.egd(image, points, spacing)
    assert e.dtype == np.float32 and e.shape == image.shape
    seeds = _point_mask(points, image.shape)
    d = geodesic_distance(rescale_unit(image), seeds, spacing, lamb=1.0,
                          iterations=cuemap.DEFAULT_ITERATIONS[ndim])
    np.testing.assert_array_equal(e, np.exp(-d).astype(np.float32))
    assert np.all(e[seeds] == 1.0)
    assert e.min() >= 0.0 and e.max() <= 1.0
    assert np.all(e[~seeds] < 1.0)


@pytest.mark.parametrize("ndim", [2, 3])
def test_egd_exact_iterations_matches_dijkstra(ndim):
    """With iterations=None, EGD = exp(-D_exact) (|error| <= 1e-5; measured ~1e-7)."""
    image, points, spacing = _case(ndim, seed=1)
    e = cuemap.egd(image, points, spacing, iterations=None)
    ref = np.exp(-dijkstra_reference(rescale_unit(image), _point_mask(points, image.shape), spacing, 1.0))
    np.testing.assert_allclose(e, ref, atol=1e-5, rtol=0)


def test_egd_normalise_false_uses_image_as_is():
    image, points, spacing = _case(2)
    unit = rescale_unit(image)
    np.testing.assert_array_equal(cuemap.egd(unit, points, spacing, normalise=False),
                                  cuemap.egd(image, points, spacing))
    # without normalisation the raw scale (hundreds) makes exp(-D) ~ 0 off the points
    raw = cuemap.egd(image, points, spacing, normalise=False)
    seeds = _point_mask(points, image.shape)
    assert np.all(raw[seeds] == 1.0)
    assert np.median(raw[~seeds]) < 1e-6


@pytest.mark.parametrize("ndim", [2, 3])
def test_egd_is_context_aware(ndim):
    """Same Euclidean distance from the point: higher EGD inside the homogeneous object than across its edge."""
    shape = (31, 31) if ndim == 2 else (15, 31, 31)
    image = np.full(shape, 0.2, np.float32)
    obj = (slice(None),) * (ndim - 2) + (slice(5, 26), slice(5, 16))  # bright object, right edge at x=15
    image[obj] = 0.8
    image += np.random.default_rng(0).normal(0, 0.01, shape).astype(np.float32)
    centre = [s // 2 for s in shape]
    point = list(centre[:-1]) + [12]  # inside, 3 voxels left of the edge
    e = cuemap.egd(image, [point])
    left = tuple(point[:-1] + [6])     # 6 voxels left: inside the object
    right = tuple(point[:-1] + [18])   # 6 voxels right: across the edge
    assert e[left] > 0.9
    assert e[right] < 0.6
    assert e[left] > e[right] + 0.3


def test_euclidean_known_values_with_spacing():
    image = np.zeros((20, 50), np.float32)
    e = cuemap.euclidean(image, [[0, 0]], (5.0, 0.6), threshold_mm=20.0)
    assert e.dtype == np.float32
    assert e[0, 0] == 1.0
    assert e[1, 0] == pytest.approx(1 - 5.0 / 20)
    assert e[0, 10] == pytest.approx(1 - 6.0 / 20)
    assert e[2, 5] == pytest.approx(1 - math.hypot(10.0, 3.0) / 20, rel=1e-6)
    assert e[4, 0] == 0.0 and e[19, 49] == 0.0
    assert e.min() >= 0 and e.max() <= 1


def test_gaussian_known_values_with_spacing():
    image = np.zeros((8, 9, 10), np.float32)
    g = cuemap.gaussian(image, [[1, 2, 3]], SPACING_3D, sigma_mm=4.0)
    assert g.dtype == np.float32
    assert g[1, 2, 3] == 1.0
    for idx in [(2, 2, 3), (1, 7, 3), (3, 4, 9)]:
        d2 = sum(((i - p) * s) ** 2 for i, p, s in zip(idx, (1, 2, 3), SPACING_3D))
        assert g[idx] == pytest.approx(math.exp(-d2 / 32.0), rel=1e-6)
    assert g.min() >= 0 and g.max() <= 1


def test_geodesic_encoding_known_formula():
    image, points, spacing = _case(2)
    seeds = _point_mask(points, image.shape)
    d = geodesic_distance(rescale_unit(image), seeds, spacing, iterations=cuemap.DEFAULT_ITERATIONS[2])
    g = cuemap.geodesic(image, points, spacing, threshold=0.5)
    np.testing.assert_allclose(g, 1 - np.minimum(d, 0.5) / 0.5, atol=1e-7)
    assert g.dtype == np.float32
    assert np.all(g[seeds] == 1.0) and g.min() == 0.0
    auto = cuemap.geodesic(image, points, spacing)  # threshold = 90th percentile of D
    assert np.mean(auto == 0.0) == pytest.approx(0.1, abs=0.02)


def test_bbox_encoding():
    image = np.zeros((10, 12, 14), np.float32)
    b = cuemap.bbox(image, [[2, 3, 4], [5, 9, 6], [3.4, 4, 12.6]])
    assert b.dtype == np.float32
    expected = np.zeros(image.shape, np.float32)
    expected[2:6, 3:10, 4:14] = 1.0  # 12.6 rounds to 13
    np.testing.assert_array_equal(b, expected)


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("name", cuemap.ENCODINGS)
def test_cue_map_by_name(name, ndim):
    image, points, spacing = _case(ndim, seed=2)
    m = cuemap.cue_map(name, image, points, spacing)
    direct = getattr(cuemap, name)(image, points, spacing)
    np.testing.assert_array_equal(m, direct)
    assert m.dtype == np.float32 and m.shape == image.shape
    assert m.min() >= 0.0 and m.max() <= 1.0
    assert np.all(m[_point_mask(points, image.shape)] == 1.0)


def test_cue_map_passes_parameters():
    image, points, spacing = _case(2)
    np.testing.assert_array_equal(cuemap.cue_map("gaussian", image, points, spacing, sigma_mm=2.0),
                                  cuemap.gaussian(image, points, spacing, sigma_mm=2.0))
    with pytest.raises(TypeError):
        cuemap.cue_map("bbox", image, points, spacing, sigma_mm=2.0)


@pytest.mark.parametrize("name", ["EGD", "exp", "", None])
def test_unknown_encoding(name):
    image, points, spacing = _case(2)
    with pytest.raises(ValueError, match="encoding must be one of"):
        cuemap.cue_map(name, image, points, spacing)


@pytest.mark.parametrize("name", cuemap.ENCODINGS)
@pytest.mark.parametrize("points,match", [
    ([[40, 3]], "outside the image"),
    ([[3, -0.6]], "outside the image"),
    ([[3, 3], [100, 100]], "outside the image"),
    ([], "at least 1 points"),
    ([[1, 2, 3]], r"shape \(N, 2\)"),
    ([[np.nan, 2]], "NaN"),
])
def test_bad_points(name, points, match):
    image = np.zeros((40, 44), np.float32)
    with pytest.raises(ValueError, match=match):
        cuemap.cue_map(name, image, points)


def test_bad_image_and_spacing():
    with pytest.raises(ValueError, match="NaN or infinite"):
        cuemap.egd(np.full((5, 5), np.nan), [[2, 2]])
    with pytest.raises(ValueError, match="dimensions"):
        cuemap.egd(np.zeros((5,)), [[2]])
    with pytest.raises(ValueError, match="finite and positive"):
        cuemap.egd(np.zeros((5, 5)), [[2, 2]], spacing=(1.0, 0.0))
