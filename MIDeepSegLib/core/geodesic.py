"""Geodesic distance transform (paper Eq. 2) on torch, 2D and 3D, CPU and CUDA.

The distance from every voxel to a seed set is the length of the cheapest
path on the 8- (2D) or 26-neighbour (3D) voxel graph, where one step from
voxel p to neighbour q costs, as in GeodisTK's raster scan,

    cost(p, q) = |p - q|_mm / ((1 - lamb) + lamb / (|I_p - I_q| + 1e-5))

so ``lamb=1`` is the pure geodesic of Eq. 2 (step length x intensity change)
and ``lamb=0`` the chamfer Euclidean distance in mm. With ``gamma`` given
instead, a step costs the discrete form of GeoS's geodesic length
(Criminisi et al., ECCV 2008: the integral of sqrt(1 + gamma^2 (grad I . u)^2)
along the path)

    cost(p, q) = sqrt(|p - q|_mm^2 + gamma^2 (I_p - I_q)^2)

which keeps the spatial path length (no mixing weight of GeodisTK's form
does: as |I_p - I_q| -> 0 its cost goes to 0 for every lamb > 0). With
``start`` instead of seed masks it computes GeoS's *generalised* geodesic
distance to a soft seed set, min over q of (start(q) + path cost from q).

How it is computed
------------------
A *plane sweep*: for each array axis, the planes perpendicular to it are
visited in order, forwards then backwards, and each plane takes the minimum of
its current distance and (distance of a neighbour in the previous plane + step
cost). Every plane update is a handful of vectorised tensor operations, so the
inner loop runs over planes (~100), not voxels (~10^6). To visit each of the
26 neighbour offsets exactly once per iteration, the sweep along axis ``a``
uses the offsets that move by +-1 along ``a``, by {-1, 0, 1} along the axes
after ``a`` and by 0 along the axes before it (9 + 3 + 1 offsets in 3D).

One *iteration* is a forward and a backward sweep along every axis. Each
iteration can only lower distances, and the result is an upper bound of the
exact shortest-path distance that reaches it once no sweep changes anything:
``iterations=None`` (the default) iterates until then, which gives the exact
distance (``scipy.sparse.csgraph.dijkstra`` on the same graph agrees to float32
round-off; see Testing/test_geodesic.py). A fixed number of iterations is
faster and, on images with smooth structures, already exact or very close.

Memory: the step costs are precomputed once per call, 2 x (9 + 3 + 1) = 26
float32 values per voxel in 3D (about 104 bytes/voxel), 2 x (3 + 1) in 2D.
"""

import contextlib
import itertools
import math
import warnings

import numpy as np

from .._checks import check_image, check_mask, check_spacing

#: Value GeodisTK returns for voxels no seed can reach; kept for compatibility.
UNREACHABLE = 1e10

#: Upper bound on iterations when iterating to convergence.
MAX_ITERATIONS = 256

_BACKENDS = ("torch", "geodistk")


def geodesic_distance(image, seeds, spacing=None, lamb=1.0, iterations=None, device=None, *,
                      backend="torch"):
    """Geodesic distance from every voxel to the nearest seed.

    Parameters
    ----------
    image : (H, W) or (D, H, W) array_like of float
        Intensities, array order. Normalise them first: the distance scales
        with the intensity range (see :mod:`MIDeepSegLib.core.cuemap`).
    seeds : bool array_like, image shape
        Seed voxels (distance 0). At least one must be set.
    spacing : sequence of float, optional
        Voxel size per array axis, (z, y, x) / (y, x) order, mm. Default 1.
    lamb : float in [0, 1]
        Weight of the geodesic term: 1 = pure geodesic (paper Eq. 2),
        0 = Euclidean distance (GeodisTK's lambda).
    iterations : int, optional
        Number of forward+backward sweeps along every axis. ``None`` iterates
        until the distances stop changing (exact; at most MAX_ITERATIONS).
    device : str or torch.device, optional
        ``"cpu"`` (default), ``"cuda"``, ``"cuda:1"``, ``"auto"``... The result
        is the same on every device.
    backend : {"torch", "geodistk"}
        ``"geodistk"`` calls GeodisTK's raster scan (reference; must be
        installed; CPU only; its 2D version has no spacing).

    Returns
    -------
    distance : float32 ndarray, image shape
        0 on seeds, in units of step length (mm) x intensity.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((5, 5), np.float32)
    >>> seeds = np.zeros((5, 5), bool); seeds[2, 2] = True
    >>> d = geodesic_distance(image, seeds, lamb=0.0)
    >>> float(d[2, 4]), round(float(d[0, 0]), 4)
    (2.0, 2.8284)
    """
    return geodesic_distances(image, [seeds], spacing, lamb, iterations, device, backend=backend)[0]


def geodesic_distances(image, seed_masks, spacing=None, lamb=1.0, iterations=None, device=None, *,
                       backend="torch", costs=None, gamma=None, start=None):
    """Geodesic distances to several seed sets on one image, in one pass.

    Same as ``[geodesic_distance(image, s, ...) for s in seed_masks]`` but the
    step costs are computed once and the sweeps run on all seed sets together
    (information fusion needs the distance to the foreground and to the
    background clicks). Returns a list of float32 arrays, image shape.

    `costs`, a :class:`StepCosts` of this image (same spacing, lamb and
    device), skips computing the step costs: the interactive session keeps
    one per working region, because computing them costs about twice as much
    as four sweep iterations.

    `gamma`, a float > 0 (mm per unit of intensity), selects GeoS's step cost
    ``sqrt(|p - q|_mm^2 + gamma^2 (I_p - I_q)^2)`` instead of the `lamb` form
    (see the module notes); `lamb` must then stay 1, and `costs` and the
    GeodisTK backend are not available with it.

    `start`, a list of float arrays of the image's shape (mm, >= 0 or +inf),
    replaces `seed_masks` (pass None for them): each voxel q starts at
    distance start(q) instead of 0 (seed) or +inf (not a seed), so the result
    is GeoS's generalised geodesic distance min_q (start(q) + d(q, p)) to a
    soft seed set (Criminisi et al., 2008). Torch backend only.
    """
    image = check_image(image)
    if start is not None:
        if seed_masks is not None:
            raise ValueError("give seed_masks or start, not both")
        if backend != "torch":
            raise ValueError("start (soft seeds) works with backend='torch' only, got {!r}".format(backend))
        seed_masks = [_check_start(s, image.shape) for s in start]
        if not seed_masks:
            raise ValueError("start is empty: give at least one array of start distances")
    else:
        seed_masks = [check_mask(s, image.shape, name="seeds", allow_empty=False) for s in seed_masks]
        if not seed_masks:
            raise ValueError("seed_masks is empty: give at least one seed mask")
    spacing = check_spacing(spacing, image.ndim)
    lamb = float(lamb)
    if not 0.0 <= lamb <= 1.0:
        raise ValueError("lamb must be in [0, 1] (1 = pure geodesic, 0 = Euclidean), got {}".format(lamb))
    if iterations is not None and (int(iterations) != iterations or iterations < 1):
        raise ValueError("iterations must be a positive integer or None (until converged), got {!r}".format(
            iterations))
    if gamma is not None:
        gamma = float(gamma)
        if not (gamma > 0 and math.isfinite(gamma)):
            raise ValueError("gamma must be a finite number > 0 (mm per unit of intensity), got {!r}".format(
                gamma))
        if lamb != 1.0 or costs is not None or backend != "torch":
            raise ValueError("gamma (GeoS's step cost) replaces lamb and works with backend='torch' only, "
                             "without precomputed costs; got lamb={}, backend={!r}, costs {}".format(
                                 lamb, backend, "given" if costs is not None else "None"))
    if backend == "geodistk":
        its = 4 if iterations is None else int(iterations)
        return [_geodistk(image, s, spacing, lamb, its) for s in seed_masks]
    if backend != "torch":
        raise ValueError("backend must be one of {}, got {!r}".format(_BACKENDS, backend))

    import torch  # deferred: torch on first use: the package imports without it

    from .._device import resolve_device  # deferred: loads torch, on first use
    dev = torch.device("cpu") if device is None else resolve_device(device)
    if costs is not None and (costs.shape != image.shape or costs.spacing != spacing or costs.lamb != lamb
                              or costs.device != dev):
        raise ValueError("costs were computed for shape {}, spacing {}, lamb {} on {}; this call has {}, {}, {} on "
                         "{}".format(costs.shape, costs.spacing, costs.lamb, costs.device, image.shape, spacing,
                                     lamb, dev))
    with torch.no_grad():
        dist = _raster_sweeps(torch.from_numpy(image).to(dev),
                              torch.from_numpy(np.stack(seed_masks)).to(dev), spacing, lamb, iterations,
                              None if costs is None else costs.tensors, gamma)
    return list(dist.cpu().numpy())


def _check_start(start, shape):
    """`start` distances as contiguous float32 of `shape`: no NaN, >= 0, at least one finite."""
    arr = np.asarray(start)
    if arr.shape != tuple(shape):
        raise ValueError("start must have the image's shape {}, got {}".format(tuple(shape), arr.shape))
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if np.isnan(arr).any():
        raise ValueError("start contains NaN; start distances must be >= 0 or +inf")
    if (arr < 0).any():
        raise ValueError("start distances must be >= 0 or +inf, got a minimum of {}".format(float(arr.min())))
    if not np.isfinite(arr).any():
        raise ValueError("start is +inf everywhere: at least one voxel must have a finite start distance")
    return arr


class StepCosts:
    """The step costs of one image for :func:`geodesic_distances`, kept for several calls.

    Parameters
    ----------
    image : (H, W) or (D, H, W) array_like of float
        As for :func:`geodesic_distances`.
    spacing, lamb, device
        As for :func:`geodesic_distances`; calls that use these costs must pass the same.
    half : bool
        Store them as float16 (26 values per voxel in 3D: 52 instead of 104
        bytes per voxel). The sweeps still add and compare in float32; a
        cost's relative rounding error is below 5e-4 (measured on a CT-like
        crop: distances within 5e-4 of the float32 ones).
    """

    def __init__(self, image, spacing=None, lamb=1.0, device=None, *, half=True):
        import torch  # deferred: torch on first use: the package imports without it

        from .._device import resolve_device  # deferred: loads torch, on first use

        image = check_image(image)
        self.shape = image.shape
        self.spacing = check_spacing(spacing, image.ndim)
        self.lamb = float(lamb)
        self.device = torch.device("cpu") if device is None else resolve_device(device)
        with torch.no_grad(), _one_cpu_thread():
            padded = torch.nn.functional.pad(torch.from_numpy(image).to(self.device)[None, None],
                                             (1, 1) * image.ndim, mode="replicate")[0]
            self.tensors = [_step_costs(padded, axis, direction, self.spacing, self.lamb,
                                        torch.float16 if half else torch.float32)
                            for axis in range(image.ndim) for direction in (1, -1)]

    @property
    def nbytes(self):
        return sum(t.numel() * t.element_size() for t in self.tensors)


def _raster_sweeps(image, seeds, spacing, lamb, iterations, costs=None, gamma=None):
    """Torch core: `image` float32 (*shape), `seeds` bool (B, *shape) or float32 start distances,
    same device; `costs` the list of :class:`StepCosts` tensors (None: computed here, with `lamb` or `gamma`).

    Returns float32 (B, *shape).
    """
    import torch  # deferred: torch on first use: the package imports without it

    ndim = image.ndim
    # Pad every spatial axis by one voxel; the padding is +inf in `dist`, so it
    # never offers a shorter path, and every neighbour window stays in bounds.
    dist = torch.full((seeds.shape[0],) + tuple(n + 2 for n in image.shape), math.inf,
                      dtype=torch.float32, device=image.device)
    interior = (slice(None),) + tuple(slice(1, -1) for _ in range(ndim))
    dist[interior] = torch.where(seeds, 0.0, math.inf) if seeds.dtype == torch.bool else seeds
    if costs is None:
        padded_image = torch.nn.functional.pad(image[None, None], (1, 1) * ndim, mode="replicate")[0]

    sweeps = []
    with _one_cpu_thread():  # small chunks: see _one_cpu_thread
        for axis in range(ndim):
            for direction in (1, -1):
                if costs is None:
                    cost = _step_costs(padded_image, axis, direction, spacing, lamb, gamma=gamma)
                else:
                    cost = costs[len(sweeps)]
                sweeps.append(_SweepPlan(dist, axis, direction, cost))

    if dist.is_cuda:
        run_iteration = _cuda_graph_or_eager(sweeps)
    else:
        def run_iteration():
            with _one_cpu_thread():
                for sweep in sweeps:
                    sweep.run()

    max_iterations = MAX_ITERATIONS if iterations is None else int(iterations)
    previous = torch.empty_like(dist) if iterations is None else None
    for _ in range(max_iterations):
        if previous is not None:
            previous.copy_(dist)
        run_iteration()
        if previous is not None and torch.equal(previous, dist):
            break
    else:
        if iterations is None:
            warnings.warn("geodesic distance did not converge in {} iterations; the result is an "
                          "upper bound of the exact distance".format(MAX_ITERATIONS), stacklevel=4)
    return dist[interior]


def _plane_views(padded, axis):
    """Views of a padded (B, *spatial) tensor for a sweep along spatial `axis`.

    Returns ``(windows, centres)``: ``centres`` has shape (L + 2, B, *plane)
    with the interior of every plane perpendicular to `axis`; ``windows`` has
    shape (L + 2, *stencil, B, *plane) and holds, for each interior voxel of a
    plane, the neighbours within that plane that the sweep uses: offsets
    {-1, 0, 1} along the spatial axes after `axis`, 0 along the axes before it
    (stencil (3, 3), (3,) or (1,) in 3D). The stencil axes come first so that
    the minimum over them runs over contiguous rows (about 100x faster on the
    CPU than reducing a trailing 3x3 block). Both are views of `padded`.
    """
    spatial_ndim = padded.ndim - 1
    moved = padded.movedim(axis + 1, 0)
    centres = moved[(slice(None), slice(None)) + tuple(slice(1, -1) for _ in range(spatial_ndim - 1))]
    windows = moved
    n_stencil = 0
    others = [a for a in range(spatial_ndim) if a != axis]
    for dim, other_axis in enumerate(others, start=2):
        size = padded.shape[other_axis + 1] - 2
        if other_axis < axis:
            windows = windows.narrow(dim, 1, size)
        else:
            windows = windows.unfold(dim, 3, 1)  # appends a stencil dimension of size 3
            n_stencil += 1
    if n_stencil == 0:
        windows = windows.unsqueeze(-1)
        n_stencil = 1
    # Must stay a view of `padded` (a reshape here would copy).
    return windows.movedim(tuple(range(-n_stencil, 0)), tuple(range(1, n_stencil + 1))), centres


def _step_costs(padded_image, axis, direction, spacing, lamb, dtype=None, gamma=None):
    """Step costs into each plane from its predecessor in the sweep.

    `padded_image` is (1, *spatial + 2). Returns a contiguous tensor of
    `dtype` (default float32), (L, *stencil, 1, *plane): entry [t, s...] is
    the cost from stencil neighbour s in plane t - direction to the voxels of
    plane t (interior indices; entries that come from the padding are finite
    but never used). Computed in float32, a few planes at a time (the
    temporaries stay in the CPU's cache; a float16 result needs no float32
    copy of the whole). `gamma` (not None) selects GeoS's cost instead of `lamb`'s.
    """
    import torch  # deferred: torch on first use: the package imports without it

    windows, centres = _plane_views(padded_image, axis)
    length = centres.shape[0] - 2
    previous = windows[1 - direction:length + 1 - direction]
    n_stencil = previous.ndim - centres.ndim
    current = centres[1:length + 1].reshape((length,) + (1,) * n_stencil + centres.shape[1:])

    later_spacing = torch.tensor(spacing[axis + 1:], dtype=torch.float64)
    offsets = torch.tensor(list(itertools.product((-1.0, 0.0, 1.0), repeat=len(later_spacing))),
                           dtype=torch.float64)
    squared = spacing[axis] ** 2 + ((offsets * later_spacing) ** 2).sum(-1)
    stencil_shape = previous.shape[1:1 + n_stencil]
    step_mm = squared.sqrt().to(torch.float32).to(previous.device).reshape(
        stencil_shape + (1,) * (centres.ndim - 1))

    out = torch.empty((length,) + tuple(previous.shape[1:]), dtype=dtype or torch.float32, device=previous.device)
    per_plane = max(1, out[0].numel())
    chunk = max(1, (1 << 18) // per_plane)
    for start in range(0, length, chunk):
        part = slice(start, min(length, start + chunk))
        diff = (previous[part] - current[part]).abs_()
        if gamma is not None:
            out[part] = torch.hypot(diff.mul_(gamma), step_mm)
        elif lamb == 1.0:
            out[part] = diff.add_(1e-5).mul_(step_mm)
        else:
            out[part] = step_mm / ((1.0 - lamb) + lamb / diff.add_(1e-5))
    return out


class _SweepPlan:
    """One sweep (axis, direction) over a distance tensor, prepared once.

    Every tensor view and scratch buffer is made here, so :meth:`run` only
    issues three in-place operations per plane (and, on CUDA, can be captured
    into a graph: all addresses stay fixed).
    """

    def __init__(self, dist, axis, direction, cost):
        import torch  # deferred: torch on first use: the package imports without it

        windows, centres = _plane_views(dist, axis)
        length = centres.shape[0] - 2
        order = range(2, length + 1) if direction == 1 else range(length - 1, 0, -1)
        self.steps = [(windows[t - direction], cost[t - 1], centres[t]) for t in order]
        self.candidates = torch.empty(windows.shape[1:], dtype=dist.dtype, device=dist.device)
        self.flat_candidates = self.candidates.view((-1,) + centres.shape[1:])
        self.best = torch.empty(centres.shape[1:], dtype=dist.dtype, device=dist.device)

    def run(self):
        import torch  # deferred: torch on first use: the package imports without it

        candidates, flat, best = self.candidates, self.flat_candidates, self.best
        for window, cost, centre in self.steps:
            torch.add(window, cost, out=candidates)
            torch.amin(flat, dim=0, out=best)
            # In place on the strided view (out= would not write through it).
            centre.clamp_(max=best)


@contextlib.contextmanager
def _one_cpu_thread():
    """Run torch's CPU ops on one thread, restoring the setting afterwards.

    Each plane update is small (~10^5 values): a second thread gains little,
    and when the cores are busy with anything else (Slicer's rendering,
    another process) torch's waiting worker threads slow every small op down
    by up to several hundred times (measured: 16 us with one thread, 7.7 ms
    with two on a loaded 2-core machine).
    """
    import torch  # deferred: torch on first use: the package imports without it

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _cuda_graph_or_eager(sweeps):
    """On CUDA the sweeps are launch-bound (~1,000 tiny kernels per iteration):
    capture one iteration as a CUDA graph and replay it. Falls back to eager
    launches (same results) if capture is not possible."""
    import torch  # deferred: torch on first use: the package imports without it

    def eager():
        for sweep in sweeps:
            sweep.run()

    try:
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            graph = torch.cuda.CUDAGraph()
            # Capture must not change `dist`; the captured kernels run only on replay.
            with torch.cuda.graph(graph, stream=stream):
                eager()
        torch.cuda.current_stream().wait_stream(stream)
    except RuntimeError as error:  # pragma: no cover - depends on the driver
        warnings.warn("CUDA graph capture failed ({}); using eager kernels".format(error), stacklevel=4)
        return eager
    return graph.replay


def _geodistk(image, seeds, spacing, lamb, iterations):
    """GeodisTK's raster scan (reference backend)."""
    try:
        import GeodisTK
    except ImportError as error:
        raise ImportError("backend='geodistk' needs the GeodisTK package (pip install MIDeepSegLib[reference], "
                          "see README)") from error
    seeds = seeds.astype(np.uint8)
    if image.ndim == 2:
        if spacing != (1.0, 1.0):
            warnings.warn("GeodisTK's 2D raster scan ignores spacing", stacklevel=3)
        dist = GeodisTK.geodesic2d_raster_scan(image, seeds, lamb, iterations)
    else:
        dist = GeodisTK.geodesic3d_raster_scan(image, seeds, [float(s) for s in spacing], lamb, iterations)
    return np.asarray(dist, dtype=np.float32)


#: Half-size, in coarse voxels, of the full-resolution box computed around each seed (see CoarseGrid.distances).
LOCAL_HALF = 16

#: Regions with more voxels than this get a click's geodesic on a grid coarsened by :func:`coarse_factors`.
COARSE_MIN_VOXELS = 2_000_000


def coarse_factors(spacing):
    """Per axis, 2 where the spacing is below twice the finest spacing, else 1.

    A thick-slice axis (spacing >= 2x the in-plane spacing) keeps its
    resolution: halving it would make its steps several times longer than the
    others and lose whole slices of anatomy.

    Returns
    -------
    tuple of int (1 or 2), array order.
    """
    finest = min(spacing)
    return tuple(2 if s < 2 * finest else 1 for s in spacing)


class CoarseGrid:
    """A region's image on a coarser grid, for approximate geodesic distances of large regions.

    The coarse image takes every `factors`-th voxel (the voxels whose indices
    are multiples of the factors; subsampling, not averaging: averaging would
    remove most of the noise that a CT's homogeneous tissue adds to a
    geodesic path's length, and the distances would shrink there). Its step
    costs use ``spacing x factors`` (each coarse step is that long): with
    half as many steps of twice the length, and the intensity change per
    step adding up noise as on the fine grid, a path through noisy tissue
    costs about as much as on the fine grid. Measured on the organ-like CT
    scenes (Testing/test_coarse_geodesic.py): beyond the full-resolution box
    around the seed, the coarse distances are 10-25 % longer on average than
    the full-resolution ones (a coarse path has fewer ways around noise).

    That holds for noise whose neighbours are independent. On a smooth image
    (a smoothed crop, a ramp, an edge blurred over voxels) the change over two
    voxels is nearly twice the change over one, and the same path would cost
    up to twice as much on the coarse grid. So the coarse intensities are
    multiplied by :func:`step_change_ratio` (1 for independent noise, 0.5 for
    a smooth image): a straight path then costs the same on both grids on
    average, whatever the image's texture (with the crop smoothed by 0.7
    voxel, as the session does, the coarse distances were 1.5 times the
    full-resolution ones without it).
    Used by :func:`~MIDeepSegLib.core.refinement.refine_ifgc` on regions of
    more than :data:`COARSE_MIN_VOXELS` voxels.

    Parameters
    ----------
    image : (H, W) or (D, H, W) array_like of float
        The full-resolution image (already rescaled as for :func:`geodesic_distances`).
    spacing : sequence of float
        mm per array axis of the full-resolution image.
    lamb, device
        As for :func:`geodesic_distances`.
    factors : tuple of int, optional
        Default :func:`coarse_factors` of `spacing`.
    """

    def __init__(self, image, spacing=None, lamb=1.0, device=None, factors=None):
        image = check_image(image)
        self.shape = image.shape
        self.spacing = check_spacing(spacing, image.ndim)
        self.factors = coarse_factors(self.spacing) if factors is None else tuple(int(f) for f in factors)
        if len(self.factors) != image.ndim or min(self.factors) < 1:
            raise ValueError("factors must be {} positive integers, got {!r}".format(image.ndim, factors))
        self.fine = image
        self.scale = step_change_ratio(image, self.factors)
        coarse = image[tuple(slice(None, None, f) for f in self.factors)]
        self.image = np.ascontiguousarray(coarse * np.float32(self.scale), dtype=np.float32)
        self.coarse_spacing = tuple(s * f for s, f in zip(self.spacing, self.factors))
        self.costs = StepCosts(self.image, self.coarse_spacing, lamb, device)

    def distances(self, seed_points, iterations=None):
        """Approximate geodesic distances to several seed sets, full resolution.

        Each seed moves to the nearest coarse voxel; the coarse distances are
        computed there, then interpolated back to every full-resolution voxel
        (linear along each axis, float32). Near each seed, where the fusion
        weights the distances most and the coarse grid errs most (its first
        step is twice as long), the full-resolution distance within a box of
        :data:`LOCAL_HALF` voxels around the seed replaces it where smaller.

        Parameters
        ----------
        seed_points : list of (N, ndim) int arrays
            Voxel coordinates (full resolution, array order) of each seed set; N >= 1.
        iterations : int, optional
            As for :func:`geodesic_distances`.

        Returns
        -------
        list of float32 ndarrays, the full-resolution shape.
        """
        import torch  # deferred: torch on first use: the package imports without it

        coarse_shape = self.image.shape
        masks = []
        for points in seed_points:
            points = np.asarray(points, dtype=np.intp).reshape(-1, len(self.shape))
            nearest = np.rint(points / np.asarray(self.factors)).astype(np.intp)
            nearest = np.minimum(nearest, np.asarray(coarse_shape) - 1)
            mask = np.zeros(coarse_shape, bool)
            mask[tuple(nearest.T)] = True
            masks.append(mask)
        coarse = geodesic_distances(self.image, masks, self.coarse_spacing, self.costs.lamb, iterations,
                                    self.costs.device, costs=self.costs)
        out = []
        with torch.no_grad(), _one_cpu_thread():
            for dist, points in zip(coarse, seed_points):
                out.append(_upsample(torch.from_numpy(dist), self.factors, self.shape).numpy())
        for full, points in zip(out, seed_points):
            for point in np.asarray(points, dtype=np.intp).reshape(-1, len(self.shape)):
                box = tuple(slice(max(0, c - LOCAL_HALF * f), c + LOCAL_HALF * f + 1)
                            for c, f in zip(point, self.factors))
                seed = np.zeros(full[box].shape, bool)
                seed[tuple(c - b.start for c, b in zip(point, box))] = True
                local = geodesic_distances(self.fine[box], [seed], self.spacing, self.costs.lamb, iterations,
                                           self.costs.device)[0]
                np.minimum(full[box], local, out=full[box])
        return out


def step_change_ratio(image, factors):
    """Mean |intensity change| per step on the full grid over that on the coarse grid.

    A geodesic path of length L (mm) through a region costs about L x the mean
    absolute intensity change of one step, on either grid (lamb = 1). This
    ratio, over the axes the coarse grid subsamples, is the factor that makes
    the two agree: multiply the coarse image by it.

    Parameters
    ----------
    image : (H, W) or (D, H, W) float ndarray
    factors : tuple of int
        Subsampling per axis (1 or 2, :func:`coarse_factors`).

    Returns
    -------
    float in (0, 1] (1 where nothing is subsampled or the image is constant).
    """
    fine = coarse = 0.0
    for axis, factor in enumerate(factors):
        if factor == 1 or image.shape[axis] <= factor:
            continue
        # Every third plane across another axis is enough for a mean, and keeps this cheap on 12 M voxels.
        other = 1 if axis == 0 else 0
        sample = image[(slice(None),) * other + (slice(None, None, 3),)] if image.shape[other] >= 9 else image
        ahead = np.moveaxis(sample, axis, 0)
        fine += float(np.abs(ahead[1:] - ahead[:-1]).mean(dtype=np.float64))
        coarse += float(np.abs(ahead[factor:] - ahead[:-factor]).mean(dtype=np.float64))
    if not coarse > 0:
        return 1.0
    return min(1.0, fine / coarse)


def _upsample(coarse, factors, shape):
    """Linear interpolation of a subsampled grid (voxel i at full-resolution index i x factor) to `shape`.

    Full-resolution voxels beyond the last coarse voxel take its value.
    """
    import torch  # deferred: torch on first use: the package imports without it

    size = tuple((n - 1) * f + 1 for n, f in zip(coarse.shape, factors))
    mode = "trilinear" if coarse.ndim == 3 else "bilinear"
    # align_corners=True maps coarse voxel i exactly onto full-resolution index i x factor.
    out = torch.nn.functional.interpolate(coarse[None, None], size=size, mode=mode, align_corners=True)
    pad = [p for n, s in zip(reversed(shape), reversed(size)) for p in (0, n - s)]
    if any(pad):
        out = torch.nn.functional.pad(out, pad, mode="replicate")
    return out[0, 0]
