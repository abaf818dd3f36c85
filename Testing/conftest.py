"""Shared seeded factories and exact references for the core-algorithm tests.

Every factory takes a ``numpy.random.Generator`` (or a seed) so a failing case
can be replayed; the known answer of each factory is documented with it.

* :func:`make_blob_image` - a smooth image with a known object (a bright
  ellipse / ellipsoid on a dark, slowly varying background), 2D or 3D.
* :func:`make_noise_image` - i.i.d. uniform noise in [0, 1] (the hardest case
  for a raster scan: shortest paths wind in every direction).
* :func:`disc_with_gap` / :func:`sphere_with_gap` - a ring / spherical shell
  wall with a gap: the geodesic path from inside to outside must go through
  the gap, a known topology.
* :func:`euler_rotation` - a proper rotation matrix from three angles, for
  oblique image directions.
* :func:`dijkstra_reference` - the exact geodesic distance on the same
  8- / 26-neighbour graph and step cost as GeodisTK's raster scan, with
  ``scipy.sparse.csgraph.dijkstra`` in float64.
"""

import itertools

import numpy as np
import pytest
import torch

#: Anisotropic spacings used across the tests (array order, mm): thick slices
#: (5 mm) with fine in-plane pixels (0.6 mm), and a non-square 2D pixel.
SPACING_3D = (5.0, 0.6, 0.8)
SPACING_2D = (0.6, 1.7)


def pytest_collection_modifyitems(config, items):
    """Skip tests marked ``cuda`` where no CUDA device exists (with the reason)."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


def _rng(rng):
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def make_blob_image(shape, rng, *, noise=0.0, contrast=0.8, ramp=0.05):
    """Smooth image in [0, 1] with one known object.

    The object is an axis-aligned ellipse (2D) / ellipsoid (3D) centred near
    the middle, with semi-axes about 1/4 of each extent; inside it the image is
    ``0.1 + contrast`` plus a slow linear ramp (total rise up to `ramp` per
    axis, random direction), outside ``0.1`` plus the same ramp.
    The edge is blurred over about one voxel (a logistic profile), so the
    image is smooth. Optional Gaussian noise of std `noise` is added.

    Returns ``(image float32, mask bool)``: `mask` is the object (the set
    where the blurred profile is > 0.5).
    """
    rng = _rng(rng)
    shape = tuple(shape)
    grids = np.meshgrid(*[np.arange(n, dtype=np.float64) for n in shape], indexing="ij")
    centre = [n / 2.0 + rng.uniform(-0.05, 0.05) * n for n in shape]
    radii = [max(n / 4.0 * rng.uniform(0.9, 1.1), 1.5) for n in shape]
    r = np.sqrt(sum(((g - c) / a) ** 2 for g, c, a in zip(grids, centre, radii)))
    # signed distance to the edge in (approximately) voxels of the smallest semi-axis
    signed = (1.0 - r) * min(radii)
    inside = 1.0 / (1.0 + np.exp(-2.0 * signed))
    slope = ramp * sum(rng.uniform(-1, 1) * g / max(n - 1, 1) for g, n in zip(grids, shape))
    image = 0.1 + contrast * inside + slope
    if noise:
        image = image + rng.normal(0.0, noise, shape)
    return image.astype(np.float32), inside > 0.5


def make_noise_image(shape, rng):
    """I.i.d. uniform noise in [0, 1), float32."""
    return _rng(rng).random(shape, dtype=np.float32)


def random_seeds(shape, rng, count=3):
    """Bool mask with `count` distinct random seed voxels."""
    rng = _rng(rng)
    seeds = np.zeros(shape, bool)
    flat = rng.choice(int(np.prod(shape)), size=count, replace=False)
    seeds.flat[flat] = True
    return seeds


def disc_with_gap(size=41, radius=12, wall=2, gap=3, *, bright=1.0):
    """2D ring wall (bright) on a dark image, with a gap at the ring's right side.

    Returns ``(image float32, inside bool, gap bool)``: `inside` is the disc
    enclosed by the wall, `gap` the voxels where the wall is missing.
    """
    yy, xx = np.mgrid[:size, :size].astype(np.float64)
    c = (size - 1) / 2.0
    r = np.hypot(yy - c, xx - c)
    wall_mask = (r >= radius) & (r < radius + wall)
    gap_mask = wall_mask & (np.abs(yy - c) <= gap // 2) & (xx > c)
    image = np.zeros((size, size), np.float32)
    image[wall_mask & ~gap_mask] = bright
    return image, r < radius, gap_mask


def sphere_with_gap(size=21, radius=6, wall=2, gap=3, *, bright=1.0):
    """3D spherical shell wall (bright) on a dark volume with a gap (a hole) on the +x side."""
    zz, yy, xx = np.mgrid[:size, :size, :size].astype(np.float64)
    c = (size - 1) / 2.0
    r = np.sqrt((zz - c) ** 2 + (yy - c) ** 2 + (xx - c) ** 2)
    wall_mask = (r >= radius) & (r < radius + wall)
    gap_mask = wall_mask & (np.abs(yy - c) <= gap // 2) & (np.abs(zz - c) <= gap // 2) & (xx > c)
    image = np.zeros((size,) * 3, np.float32)
    image[wall_mask & ~gap_mask] = bright
    return image, r < radius, gap_mask


def neighbour_offsets(ndim):
    """All 8 (2D) / 26 (3D) neighbour offsets."""
    return [o for o in itertools.product((-1, 0, 1), repeat=ndim) if any(o)]


def euler_rotation(a, b, c):
    """A proper rotation matrix (det +1): rotations by a, b, c degrees about z, y, x, composed z @ y @ x."""
    a, b, c = np.radians([a, b, c])
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rx = np.array([[1, 0, 0], [0, np.cos(c), -np.sin(c)], [0, np.sin(c), np.cos(c)]])
    return rz @ ry @ rx


def dijkstra_reference(image, seeds, spacing=None, lamb=1.0, gamma=None, start=None):
    """Exact geodesic distance (float64) on the 8- / 26-neighbour voxel graph.

    The step cost from p to a neighbour q is GeodisTK's raster-scan cost,
    ``|p - q|_mm / ((1 - lamb) + lamb / (|I_p - I_q| + 1e-5))`` (symmetric),
    or with `gamma` GeoS's ``sqrt(|p - q|_mm^2 + gamma^2 (I_p - I_q)^2)``,
    computed in float64 from the float32 image; the shortest paths come from
    ``scipy.sparse.csgraph.dijkstra(min_only=True)``. Unreachable voxels get
    ``inf``. With `start` (float array, image shape; pass ``seeds=None``) the
    search starts from one extra node joined to every voxel q of finite
    start(q) by an edge of that weight: the generalised distance
    min_q (start(q) + d(q, p)).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    image = np.asarray(image, dtype=np.float32).astype(np.float64)
    shape = image.shape
    spacing = (1.0,) * image.ndim if spacing is None else tuple(float(s) for s in spacing)
    index = np.arange(image.size).reshape(shape)
    rows, cols, weights = [], [], []
    for offset in neighbour_offsets(image.ndim):
        src = tuple(slice(max(0, -o), n - max(0, o)) for o, n in zip(offset, shape))
        dst = tuple(slice(max(0, o), n - max(0, -o)) for o, n in zip(offset, shape))
        step_mm = float(np.sqrt(sum((o * s) ** 2 for o, s in zip(offset, spacing))))
        diff = np.abs(image[src] - image[dst])
        if gamma is None:
            cost = step_mm / ((1.0 - lamb) + lamb / (diff + 1e-5))
        else:
            cost = np.sqrt(step_mm ** 2 + (gamma * diff) ** 2)
        rows.append(index[src].ravel())
        cols.append(index[dst].ravel())
        weights.append(cost.ravel())
    size = image.size
    if start is not None:
        start = np.asarray(start, dtype=np.float64).ravel()
        finite = np.flatnonzero(np.isfinite(start))
        rows.append(np.full(len(finite), size))
        cols.append(finite)
        # A zero weight would be dropped as "no edge" by the sparse matrix; the offset is removed below.
        weights.append(start[finite] + 1.0)
        sources, size = [size], size + 1
    else:
        sources = np.flatnonzero(np.asarray(seeds, dtype=bool).ravel())
    graph = coo_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
                       shape=(size, size)).tocsr()
    dist = dijkstra(graph, directed=True, indices=sources, min_only=True)[:image.size]
    return (dist if start is None else dist - 1.0).reshape(shape)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small networks and problems run fastest, and reproducibly, on one thread when the cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def models():
    """Paths of the tiny 2D and 3D UNets trained once per session (see Testing/_models.py)."""
    import _models

    return _models.trained_models()
