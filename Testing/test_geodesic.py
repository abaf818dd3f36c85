"""Tests for MIDeepSegLib.core.geodesic: the plane-sweep geodesic distance transform.

Proof required by issue 2: the converged transform equals an exact shortest
path reference (scipy's Dijkstra on the same 8- / 26-neighbour graph with
GeodisTK's step cost, see conftest.dijkstra_reference) on random 2D and 3D
images with anisotropic spacing, within a measured bound; it agrees with
GeodisTK's raster scan for the same lambda and passes; CPU and CUDA agree;
bad input raises ValueError.

Measured (this machine, float32 transform vs float64 Dijkstra):
* converged vs Dijkstra, max relative error |D - D_ref| / D_ref over every
  non-seed voxel: 9.7e-7 (2D 40x50 and 3D 12x20x18, noise and smooth images,
  lamb 0 / 0.5 / 1, unit and anisotropic spacing; 3.3e-7 on 96x80 and
  16x40x36). Asserted: 1e-5.
* GeodisTK raster scan vs own, same lamb and passes, max |difference| as a
  fraction of max(D_ref): see the GEODISTK_TOLERANCE table below.
"""

import math

import numpy as np
import pytest
from conftest import (
    SPACING_2D,
    SPACING_3D,
    dijkstra_reference,
    disc_with_gap,
    make_blob_image,
    make_noise_image,
    random_seeds,
    sphere_with_gap,
)

from MIDeepSegLib.core.geodesic import geodesic_distance, geodesic_distances

#: Asserted bound on |D - D_dijkstra| / D_dijkstra for converged distances
#: (float32 accumulation along paths of up to ~60 steps); measured max 9.7e-7.
REL_TOL = 1e-5

SHAPES = {2: (40, 50), 3: (12, 20, 18)}
SPACINGS = {2: [None, SPACING_2D], 3: [None, SPACING_3D]}


def _image(kind, shape, rng):
    if kind == "noise":
        return make_noise_image(shape, rng)
    return make_blob_image(shape, rng)[0]


def _assert_close_to_reference(d, ref, rel=REL_TOL):
    """|d - ref| <= rel * ref everywhere (so exactly 0 on the seeds)."""
    assert d.shape == ref.shape
    err = np.abs(d.astype(np.float64) - ref)
    worst = float((err / np.maximum(ref, 1e-30)).max())
    assert np.all(err <= rel * ref), f"max relative error {worst:.3g} > {rel:.1g}"


def _assert_upper_bound(d, ref, rel=REL_TOL):
    """d >= ref up to float32 round-off."""
    assert np.all(d.astype(np.float64) >= ref * (1.0 - rel)), f"min(d - ref) = {float((d - ref).min()):.3g}"


# ---------------------------------------------------------------------------
# Exactness against Dijkstra

@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("kind", ["noise", "smooth"])
@pytest.mark.parametrize("lamb", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("anisotropic", [False, True])
def test_converged_equals_dijkstra(ndim, kind, lamb, anisotropic):
    shape = SHAPES[ndim]
    spacing = SPACINGS[ndim][anisotropic]
    for seed in range(2):
        rng = np.random.default_rng(1000 * ndim + seed)
        image = _image(kind, shape, rng)
        seeds = random_seeds(shape, rng, count=3)
        d = geodesic_distance(image, seeds, spacing, lamb=lamb)
        assert d.dtype == np.float32 and d.shape == shape
        ref = dijkstra_reference(image, seeds, spacing, lamb)
        _assert_close_to_reference(d, ref)


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("gamma", [3.0, 100.0])
def test_geos_step_cost_equals_dijkstra(ndim, gamma):
    """gamma: GeoS's step cost sqrt(|p - q|_mm^2 + gamma^2 dI^2), exact against Dijkstra on the same graph."""
    rng = np.random.default_rng(40 + ndim)
    image = _image("noise", SHAPES[ndim], rng)
    seeds = random_seeds(SHAPES[ndim], rng, count=3)
    spacing = SPACINGS[ndim][True]
    d = geodesic_distances(image, [seeds], spacing, gamma=gamma)[0]
    _assert_close_to_reference(d, dijkstra_reference(image, seeds, spacing, gamma=gamma))


def test_geos_step_cost_keeps_the_path_length():
    """On a flat image GeoS's distance is the Euclidean (chamfer) length in mm, where lamb=1 gives ~0;
    across a step edge it adds gamma x the jump."""
    image = np.zeros((5, 9), np.float32)
    image[:, 6:] = 0.5
    seeds = np.zeros(image.shape, bool)
    seeds[2, 0] = True
    d = geodesic_distances(image, [seeds], (1.0, 2.0), gamma=10.0)[0]
    assert d[2, 5] == pytest.approx(10.0)                            # 5 steps of 2 mm
    assert d[2, 6] == pytest.approx(10.0 + np.hypot(2.0, 5.0), rel=1e-6)  # the step across the edge
    assert geodesic_distances(image, [seeds], (1.0, 2.0))[0][2, 5] < 1e-3


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("gamma", [None, 50.0])
def test_soft_seeds_equal_dijkstra_from_a_virtual_source(ndim, gamma):
    """start: GeoS's generalised distance min_q (start(q) + d(q, p)), exact against Dijkstra."""
    rng = np.random.default_rng(60 + ndim)
    image = _image("smooth", SHAPES[ndim], rng)
    start = (20.0 * rng.random(SHAPES[ndim])).astype(np.float32)
    start[rng.random(SHAPES[ndim]) < 0.5] = np.inf                  # half the voxels are no seed at all
    start[tuple(n // 2 for n in SHAPES[ndim])] = 0.0                 # and one is a hard seed
    spacing = SPACINGS[ndim][True]
    d = geodesic_distances(image, None, spacing, gamma=gamma, start=[start])[0]
    ref = dijkstra_reference(image, None, spacing, gamma=gamma, start=start)
    _assert_close_to_reference(d, ref)
    assert np.all(d <= start)
    assert (d < start).any()                                         # paths from other seeds are cheaper


def test_start_of_zeros_and_inf_equals_seed_masks():
    rng = np.random.default_rng(5)
    image = _image("noise", SHAPES[3], rng)
    seeds = random_seeds(SHAPES[3], rng, count=3)
    by_mask = geodesic_distances(image, [seeds, ~seeds], SPACING_3D, iterations=2)
    by_start = geodesic_distances(image, None, SPACING_3D, iterations=2,
                                  start=[np.where(seeds, 0.0, np.inf), np.where(seeds, np.inf, 0.0)])
    for a, b in zip(by_mask, by_start):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs, match", [
    ({"start": [np.full((4, 4), np.inf)]}, "inf everywhere"), ({"start": [np.full((4, 4), -1.0)]}, ">= 0"),
    ({"start": [np.full((4, 4), np.nan)]}, "contains NaN"), ({"start": [np.zeros((4, 5))]}, "shape"),
    ({"start": []}, "start is empty"), ({"start": [np.zeros((4, 4))], "backend": "geodistk"}, "torch"),
    ({"start": [np.zeros((4, 4))], "seed_masks": [np.ones((4, 4), bool)]}, "not both")])
def test_start_bad_input(kwargs, match):
    kwargs = dict({"seed_masks": None}, **kwargs)
    with pytest.raises(ValueError, match=match):
        geodesic_distances(np.zeros((4, 4), np.float32), **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"gamma": 0.0}, "gamma must be"), ({"gamma": float("nan")}, "gamma must be"),
    ({"gamma": 5.0, "lamb": 0.5}, "replaces lamb"), ({"gamma": 5.0, "backend": "geodistk"}, "replaces lamb")])
def test_geos_step_cost_bad_input(kwargs, match):
    seeds = np.zeros((4, 4), bool)
    seeds[0, 0] = True
    with pytest.raises(ValueError, match=match):
        geodesic_distances(np.zeros((4, 4), np.float32), [seeds], **kwargs)


@pytest.mark.parametrize("make", [disc_with_gap, sphere_with_gap])
def test_wall_with_gap_equals_dijkstra(make):
    """A bright wall with a gap: the geodesic from inside must go through the gap.

    Far outside the wall the distance is small only via the gap; a transform
    that missed neighbour directions or stopped early would differ here.
    """
    image, inside, gap = make()
    seeds = np.zeros(image.shape, bool)
    seeds[tuple(s // 2 for s in image.shape)] = True  # the centre, inside
    spacing = (1.0, 1.0) if image.ndim == 2 else (2.0, 1.0, 1.0)
    d = geodesic_distance(image, seeds, spacing)
    _assert_close_to_reference(d, dijkstra_reference(image, seeds, spacing, 1.0))
    # Everything reachable without crossing the wall costs ~0 (1e-5 per mm);
    # crossing the wall costs at least 2 intensity steps of 1.
    outside = ~inside & (image == 0)
    assert d[inside].max() < 1e-3
    assert d[gap].max() < 1e-3
    assert d[outside].max() < 1e-3  # reached through the gap
    wall = image == 1
    assert d[wall].min() >= 1.0


def test_larger_images_equal_dijkstra():
    """One bigger case per dimension (longer paths, more float32 accumulation)."""
    rng = np.random.default_rng(7)
    for shape, spacing in (((96, 80), SPACING_2D), ((16, 40, 36), SPACING_3D)):
        image = make_blob_image(shape, rng, noise=0.05)[0]
        seeds = random_seeds(shape, rng, count=2)
        d = geodesic_distance(image, seeds, spacing, lamb=1.0)
        _assert_close_to_reference(d, dijkstra_reference(image, seeds, spacing, 1.0))


# ---------------------------------------------------------------------------
# Fixed numbers of iterations: upper bounds, monotone, converging

@pytest.mark.parametrize("ndim", [2, 3])
def test_fixed_iterations_are_monotone_upper_bounds(ndim):
    shape = SHAPES[ndim]
    spacing = SPACINGS[ndim][1]
    rng = np.random.default_rng(11)
    image = make_noise_image(shape, rng)  # noise: paths wind, a few passes are not enough
    seeds = random_seeds(shape, rng, count=2)
    ref = dijkstra_reference(image, seeds, spacing, 1.0)
    previous = None
    results = []
    for iterations in (1, 2, 3, 4, 6, 8, 12):
        d = geodesic_distance(image, seeds, spacing, iterations=iterations)
        assert d.dtype == np.float32
        assert np.all(d[seeds] == 0)
        _assert_upper_bound(d, ref)
        if previous is not None:
            assert np.all(d <= previous), "more iterations raised a distance"
        previous = d
        results.append(d)
    # One iteration is not exact on noise (otherwise the test above proves nothing) ...
    assert np.abs(results[0] - ref).max() > 1e-2 * ref.max()
    # ... and the iterations converge to the exact distance.
    converged = geodesic_distance(image, seeds, spacing, iterations=None)
    _assert_close_to_reference(converged, ref)
    assert np.all(converged <= results[-1])
    many = geodesic_distance(image, seeds, spacing, iterations=64)
    np.testing.assert_array_equal(many, converged)


# ---------------------------------------------------------------------------
# Agreement with GeodisTK's raster scan

#: max |own - GeodisTK| / max(D_dijkstra) asserted for the same lamb and passes;
#: measured maxima over 10 seeds (lamb 0 / 0.5 / 1) in brackets. The two raster
#: orders differ (GeodisTK: whole-image forward/backward raster; own: plane
#: sweeps along each axis), so they agree only where both are (near) exact:
#: * 2D smooth blob without ramp, 4 passes: both exact [0, 1.8e-7, 2.0e-7] -> 1e-5.
#: * 2D smooth blob with a slow ramp, 4 passes [0, 2.3e-3, 1.8e-3] -> 1e-2;
#:   16 passes [0, 1.8e-7, 2.0e-7] -> 1e-5.
#: * 3D smooth blob, spacing (5, 0.6, 0.8), 4 passes [5.8e-2, 5.7e-2, 5.5e-2]
#:   -> 0.25: with 4 passes neither is converged on 3D blobs (each is up to
#:   ~0.1 of max D above Dijkstra; GeodisTK's lamb=0 needs 8-16 passes on
#:   non-cubic volumes, the plane sweep 1); 32 passes [1.2e-7, 1.6e-7, 1.9e-7] -> 1e-5.
GEODISTK_CASES = [
    # (ndim, ramp, passes, tolerance)
    (2, 0.0, 4, 1e-5),
    (2, 0.05, 4, 1e-2),
    (2, 0.05, 16, 1e-5),
    (3, 0.05, 4, 0.25),
    (3, 0.05, 32, 1e-5),
]


@pytest.mark.parametrize("ndim,ramp,passes,tolerance", GEODISTK_CASES)
@pytest.mark.parametrize("lamb", [0.0, 0.5, 1.0])
def test_agrees_with_geodistk_raster_scan(ndim, ramp, passes, tolerance, lamb):
    GeodisTK = pytest.importorskip("GeodisTK")
    shape = (48, 56) if ndim == 2 else (14, 24, 20)
    spacing = (1.0, 1.0) if ndim == 2 else SPACING_3D  # GeodisTK's 2D raster has no spacing
    for seed in range(3):
        rng = np.random.default_rng(seed)
        image = make_blob_image(shape, rng, ramp=ramp)[0]
        seeds = random_seeds(shape, rng, count=3)
        own = geodesic_distance(image, seeds, spacing, lamb=lamb, iterations=passes)
        if ndim == 2:
            ref_gtk = GeodisTK.geodesic2d_raster_scan(image, seeds.astype(np.uint8), lamb, passes)
        else:
            ref_gtk = GeodisTK.geodesic3d_raster_scan(image, seeds.astype(np.uint8), list(spacing), lamb, passes)
        exact = dijkstra_reference(image, seeds, spacing, lamb)
        _assert_upper_bound(own, exact)
        _assert_upper_bound(ref_gtk, exact)
        diff = float(np.abs(own - ref_gtk).max()) / float(exact.max())
        assert diff <= tolerance, f"own vs GeodisTK: {diff:.3g} of max D > {tolerance:.1g}"


@pytest.mark.parametrize("ndim", [2, 3])
def test_geodistk_is_an_upper_bound_on_noise(ndim):
    """On noise the two raster orders give different upper bounds, both above Dijkstra."""
    GeodisTK = pytest.importorskip("GeodisTK")
    shape = SHAPES[ndim]
    rng = np.random.default_rng(5)
    image = make_noise_image(shape, rng)
    seeds = random_seeds(shape, rng, count=2)
    spacing = (1.0,) * ndim
    exact = dijkstra_reference(image, seeds, spacing, 1.0)
    if ndim == 2:
        ref_gtk = GeodisTK.geodesic2d_raster_scan(image, seeds.astype(np.uint8), 1.0, 2)
    else:
        ref_gtk = GeodisTK.geodesic3d_raster_scan(image, seeds.astype(np.uint8), list(spacing), 1.0, 2)
    _assert_upper_bound(ref_gtk, exact)
    _assert_upper_bound(geodesic_distance(image, seeds, spacing, iterations=2), exact)


def test_geodistk_backend_calls_geodistk():
    GeodisTK = pytest.importorskip("GeodisTK")
    rng = np.random.default_rng(3)
    image = make_noise_image((10, 12, 9), rng)
    seeds = random_seeds(image.shape, rng, count=2)
    d = geodesic_distance(image, seeds, SPACING_3D, lamb=0.7, iterations=3, backend="geodistk")
    expected = GeodisTK.geodesic3d_raster_scan(image, seeds.astype(np.uint8), list(SPACING_3D), 0.7, 3)
    assert d.dtype == np.float32
    np.testing.assert_array_equal(d, expected)
    image2 = make_noise_image((15, 13), rng)
    seeds2 = random_seeds(image2.shape, rng, count=2)
    d2 = geodesic_distance(image2, seeds2, lamb=1.0, iterations=2, backend="geodistk")
    np.testing.assert_array_equal(d2, GeodisTK.geodesic2d_raster_scan(image2, seeds2.astype(np.uint8), 1.0, 2))
    with pytest.warns(UserWarning, match="ignores spacing"):
        geodesic_distance(image2, seeds2, SPACING_2D, backend="geodistk")


# ---------------------------------------------------------------------------
# Known values, several seed sets, seeds

def test_lamb0_is_chamfer_euclidean_2d():
    """Constant image, spacing (2, 0.5): chamfer distance with diagonal sqrt(2^2 + 0.5^2)."""
    image = np.full((7, 9), 3.0, np.float32)
    seeds = np.zeros(image.shape, bool)
    seeds[0, 0] = True
    a, b = 2.0, 0.5
    d = geodesic_distance(image, seeds, (a, b), lamb=0.0)
    c = math.hypot(a, b)
    for i in range(7):
        for j in range(9):
            k = min(i, j)
            expected = k * c + (i - k) * a + (j - k) * b
            assert d[i, j] == pytest.approx(expected, rel=1e-6), (i, j)


def test_lamb0_is_chamfer_euclidean_3d():
    """Constant 3D image, spacing (5, 0.6, 0.8): along axes k*s, along the main diagonal k*|s|."""
    image = np.zeros((5, 6, 7), np.float32)
    seeds = np.zeros(image.shape, bool)
    seeds[0, 0, 0] = True
    s = SPACING_3D
    d = geodesic_distance(image, seeds, s, lamb=0.0)
    for k in range(5):
        assert d[k, 0, 0] == pytest.approx(k * s[0], rel=1e-6)
        assert d[k, k, k] == pytest.approx(k * math.sqrt(sum(v * v for v in s)), rel=1e-6)
    for k in range(6):
        assert d[0, k, 0] == pytest.approx(k * s[1], rel=1e-6)
    for k in range(7):
        assert d[0, 0, k] == pytest.approx(k * s[2], rel=1e-6)
    # the intensity does not matter at lamb=0
    noisy = make_noise_image(image.shape, 1) * 100
    np.testing.assert_allclose(geodesic_distance(noisy, seeds, s, lamb=0.0), d, rtol=1e-6)
    _assert_close_to_reference(d, dijkstra_reference(image, seeds, s, 0.0))


def test_lamb1_on_a_step_edge_is_the_intensity_jump():
    """Pure geodesic (Eq. 2): crossing a step of height h costs h (+ 1e-5 per mm)."""
    image = np.zeros((5, 10), np.float32)
    image[:, 5:] = 0.7
    seeds = np.zeros(image.shape, bool)
    seeds[:, 0] = True
    d = geodesic_distance(image, seeds, (1.0, 0.5))
    np.testing.assert_allclose(d[:, 4], 1e-5 * 4 * 0.5, rtol=1e-3)
    np.testing.assert_allclose(d[:, 9], 0.5 * (0.7 + 1e-5) + 1e-5 * 8 * 0.5, rtol=1e-5)


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("iterations", [None, 2])
def test_several_seed_sets_equal_separate_calls(ndim, iterations):
    shape = SHAPES[ndim]
    spacing = SPACINGS[ndim][1]
    rng = np.random.default_rng(21)
    image = make_noise_image(shape, rng)
    fg, bg = random_seeds(shape, rng, count=1), random_seeds(shape, rng, count=5)
    both = geodesic_distances(image, [fg, bg], spacing, iterations=iterations)
    assert isinstance(both, list) and len(both) == 2
    for seeds, d in zip((fg, bg), both):
        assert d.dtype == np.float32 and d.shape == shape
        np.testing.assert_array_equal(d, geodesic_distance(image, seeds, spacing, iterations=iterations))


@pytest.mark.parametrize("ndim", [2, 3])
def test_zero_on_seeds_positive_elsewhere(ndim):
    shape = SHAPES[ndim]
    rng = np.random.default_rng(4)
    image = make_blob_image(shape, rng)[0]
    seeds = random_seeds(shape, rng, count=7)
    d = geodesic_distance(image, seeds, SPACINGS[ndim][1], iterations=1)
    assert np.all(d[seeds] == 0.0)
    assert np.all(d[~seeds] > 0.0)
    assert np.isfinite(d).all()
    all_seeds = np.ones(shape, bool)
    assert not geodesic_distance(image, all_seeds).any()


def test_inputs_not_modified_and_dtypes_accepted():
    rng = np.random.default_rng(8)
    image = make_noise_image((9, 11), rng).astype(np.float64) * 5
    seeds = random_seeds(image.shape, rng, count=2).astype(np.uint8)
    image0, seeds0 = image.copy(), seeds.copy()
    d = geodesic_distance(image, seeds)
    np.testing.assert_array_equal(image, image0)
    np.testing.assert_array_equal(seeds, seeds0)
    assert d.dtype == np.float32
    # float64 / int images and 0/1 seed masks give the same result as float32 + bool
    np.testing.assert_array_equal(d, geodesic_distance(image.astype(np.float32), seeds.astype(bool)))
    ints = (image * 10).astype(np.int16)
    np.testing.assert_array_equal(geodesic_distance(ints, seeds), geodesic_distance(ints.astype(np.float32), seeds))


# ---------------------------------------------------------------------------
# CPU vs CUDA

@pytest.mark.cuda
@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("iterations", [None, 4])
@pytest.mark.parametrize("lamb", [0.5, 1.0])
def test_cuda_equals_cpu(ndim, iterations, lamb):
    shape = (64, 72) if ndim == 2 else (20, 40, 36)
    spacing = SPACINGS[ndim][1]
    rng = np.random.default_rng(31)
    image = make_blob_image(shape, rng, noise=0.05)[0]
    seeds = [random_seeds(shape, rng, count=3), random_seeds(shape, rng, count=2)]
    cpu = geodesic_distances(image, seeds, spacing, lamb=lamb, iterations=iterations, device="cpu")
    gpu = geodesic_distances(image, seeds, spacing, lamb=lamb, iterations=iterations, device="cuda")
    for a, b in zip(cpu, gpu):
        assert b.dtype == np.float32
        # The same IEEE float32 operations (add, min, clamp) in the same order.
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=0)
    if iterations is None:
        _assert_close_to_reference(gpu[0], dijkstra_reference(image, seeds[0], spacing, lamb))


# ---------------------------------------------------------------------------
# Bad input

def _ok():
    return np.zeros((6, 7), np.float32), np.eye(6, 7, dtype=bool)


@pytest.mark.parametrize("kwargs,match", [
    ({"seeds": np.zeros((6, 8), bool)}, r"seeds must have the image's shape \(6, 7\)"),
    ({"seeds": np.zeros((6, 7), bool)}, "seeds is empty"),
    ({"image": np.full((6, 7), np.nan, np.float32)}, "NaN or infinite"),
    ({"image": np.array([[0, np.inf, 0, 0, 0, 0, 0]] * 6, np.float32)}, "NaN or infinite"),
    ({"image": np.zeros(7, np.float32), "seeds": np.ones(7, bool)}, "got 1 dimensions"),
    ({"image": np.zeros((2, 3, 6, 7), np.float32), "seeds": np.ones((2, 3, 6, 7), bool)}, "got 4 dimensions"),
    ({"image": np.zeros((0, 7), np.float32), "seeds": np.zeros((0, 7), bool)}, "empty"),
    ({"image": np.array([["a"] * 7] * 6)}, "numeric"),
    ({"spacing": (1.0, 0.0)}, "finite and positive"),
    ({"spacing": (1.0, -2.0)}, "finite and positive"),
    ({"spacing": (np.nan, 1.0)}, "finite and positive"),
    ({"spacing": (1.0, np.inf)}, "finite and positive"),
    ({"spacing": (1.0, 1.0, 1.0)}, "one value per array axis"),
    ({"spacing": 1.0}, "one value per array axis"),
    ({"lamb": -0.1}, r"lamb must be in \[0, 1\]"),
    ({"lamb": 1.5}, r"lamb must be in \[0, 1\]"),
    ({"lamb": float("nan")}, r"lamb must be in \[0, 1\]"),
    ({"iterations": 0}, "iterations must be a positive integer"),
    ({"iterations": -3}, "iterations must be a positive integer"),
    ({"iterations": 1.5}, "iterations must be a positive integer"),
    ({"backend": "fast"}, "backend must be one of"),
])
def test_bad_input_raises_value_error(kwargs, match):
    image, seeds = _ok()
    args = {"image": image, "seeds": seeds}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        geodesic_distance(**args)


def test_bad_seed_lists():
    image, seeds = _ok()
    with pytest.raises(ValueError, match="seed_masks is empty"):
        geodesic_distances(image, [])
    with pytest.raises(ValueError, match="seeds is empty"):
        geodesic_distances(image, [seeds, np.zeros_like(seeds)])
    with pytest.raises(ValueError, match="shape"):
        geodesic_distances(image, [seeds, np.ones((7, 6), bool)])


def test_unavailable_device_is_a_value_error():
    import torch
    if torch.cuda.is_available():
        pytest.skip("checks the message where CUDA is absent")
    image, seeds = _ok()
    with pytest.raises(ValueError, match="CUDA is not available"):
        geodesic_distance(image, seeds, device="cuda")


def test_step_costs_reused_give_the_same_distances():
    """StepCosts kept between calls (float16 or float32) give the distances of a fresh call."""
    from MIDeepSegLib.core.geodesic import StepCosts

    rng = np.random.default_rng(4)
    image = np.clip(rng.normal(0.5, 0.1, (10, 24, 20)), 0, 1).astype(np.float32)
    image[:, 12:] += 0.3
    spacing = (2.0, 0.8, 0.8)
    seeds = [np.zeros(image.shape, bool) for _ in range(2)]
    seeds[0][5, 3, 4] = True
    seeds[1][2, 20, 15] = True
    expected = geodesic_distances(image, seeds, spacing, iterations=4)
    full = StepCosts(image, spacing, half=False)
    half = StepCosts(image, spacing)
    assert half.nbytes * 2 == full.nbytes
    for got in (geodesic_distances(image, seeds, spacing, iterations=4, costs=full),
                [geodesic_distances(image, [s], spacing, iterations=4, costs=full)[0] for s in seeds]):
        for g, e in zip(got, expected):
            np.testing.assert_array_equal(g, e)
    for g, e in zip(geodesic_distances(image, seeds, spacing, iterations=4, costs=half), expected):
        np.testing.assert_allclose(g, e, rtol=1e-3, atol=1e-4)
    with pytest.raises(ValueError, match="costs were computed for"):
        geodesic_distances(image, seeds, (1.0, 1.0, 1.0), iterations=4, costs=half)
