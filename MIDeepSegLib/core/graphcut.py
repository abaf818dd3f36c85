"""Exact binary graph cut with hard constraints (paper Eq. 8-11).

Minimises, over labels y in {0, 1} (1 = foreground),

    E(y) = sum_i phi(y_i) + lam * sum_{i~j} w_ij [y_i != y_j]
    phi(1) = -log r_i,  phi(0) = -log(1 - r_i)                        (Eq. 10)
    w_ij = exp(-(I_i - I_j)^2 / (2 sigma^2)) / dist_ij                (Eq. 11)

subject to y_i = 1 on foreground clicks and y_i = 0 on background clicks
(Eq. 9). ``dist_ij`` is the distance between the voxel centres in mm divided
by the smallest spacing (so it is 1 for face neighbours of an isotropic image
whatever its voxel size, and lam keeps the paper's meaning; Eq. 11 only fixes
w up to a constant).

The minimum is found exactly as a minimum s-t cut, solved with
``scipy.sparse.csgraph.maximum_flow`` (Dinic's algorithm; BSD, wheels
everywhere). Max-flow needs integer capacities: energies are multiplied by a per-problem
scale (at most 1e4) chosen so that the largest possible flow, the sum of the
capacities leaving the source, fits in 32 bits, and rounded; on a 64x128x128
crop the scale is ~1e3, i.e. energies resolved to ~1e-3.

``backend="simplecrf"`` calls SimpleCRF's max-flow instead (reference;
4-/6-neighbour, unit-distance energy only, as SimpleCRF implements it).

The same minimum, solved only where the labelling is in doubt (what a click
runs): :func:`MIDeepSegLib.core.reduced_cut.reduced_graph_cut`.
"""

import itertools

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order, maximum_flow

from .._checks import check_image, check_mask, check_probability, check_spacing
from ..settings import PAPER_LAM, PAPER_SIGMA

#: Probabilities are clipped to [EPS, 1 - EPS] before taking logs.
EPS = 1e-6

#: 32-bit budget for the sum of the capacities leaving the source (the largest possible flow), and the
#: largest scale from energies to integer capacities (both max-flow solvers use them).
CAPACITY_BUDGET = 2 ** 30
MAX_SCALE = 1e4

_BACKENDS = ("scipy", "simplecrf")

def graph_cut(image, probability, spacing=None, foreground=None, background=None, lam=PAPER_LAM,
              sigma=PAPER_SIGMA, *, connectivity=None, backend="scipy"):
    """Binary segmentation by an exact minimum cut of Eq. 8 subject to Eq. 9.

    Parameters
    ----------
    image : (H, W) or (D, H, W) array_like
        Intensities, array order, on about a [0, 1] scale (sigma is in these
        units; the refinement step min-max normalises the crop).
    probability : float array_like, image shape
        Foreground probability r in [0, 1] (the fused R^f of Eq. 5, or the
        CNN's P^f for the plain "GC" baseline).
    spacing : sequence of float, optional
        Voxel size per array axis, mm (array order). Default 1.
    foreground, background : bool array_like, image shape, optional
        Hard constraints: voxels forced to 1 / to 0. They must not overlap.
    lam : float >= 0
        Weight of the pairwise term (default: the paper's 5, settings.PAPER_LAM; the session's: settings.LAM).
    sigma : float > 0
        Intensity scale of the contrast term (default: the paper's 0.1, settings.PAPER_SIGMA).
    connectivity : int, optional
        Neighbourhood: 4 or 8 in 2D (default 8), 6, 18 or 26 in 3D
        (default 6, the fastest; the paper's SimpleCRF used 4 / 6).
    backend : {"scipy", "simplecrf"}

    Returns
    -------
    mask : uint8 ndarray, image shape, 1 = foreground.
    """
    image, probability, spacing, fg, bg, lam, sigma = check_problem(image, probability, spacing, foreground,
                                                                     background, lam, sigma)
    shape = image.shape
    fg = fg if fg is not None else np.zeros(shape, bool)
    bg = bg if bg is not None else np.zeros(shape, bool)
    offsets = half_stencil(image.ndim, connectivity)

    if backend == "simplecrf":
        return _simplecrf(image, probability, fg, bg, lam, sigma, len(offsets))
    if backend != "scipy":
        raise ValueError("backend must be one of {}, got {!r}".format(_BACKENDS, backend))

    unary_fg, unary_bg = unary_costs(probability)
    pair_weights = [lam * w for w in _pairwise_weights(image, spacing, sigma, offsets)]
    return _min_cut(unary_fg, unary_bg, fg, bg, offsets, pair_weights)


def check_problem(image, probability, spacing, foreground, background, lam, sigma):
    """Validated (image, probability, spacing, fg or None, bg or None, lam, sigma) of a graph-cut problem."""
    image = check_image(image)
    shape = image.shape
    probability = check_probability(probability, shape)
    spacing = check_spacing(spacing, image.ndim)
    fg = check_mask(foreground, shape, name="foreground") if foreground is not None else None
    bg = check_mask(background, shape, name="background") if background is not None else None
    if fg is not None and bg is not None and (fg & bg).any():
        raise ValueError("foreground and background constraints overlap at {} voxel(s), e.g. {}; "
                         "a voxel cannot be both".format(int((fg & bg).sum()), tuple(np.argwhere(fg & bg)[0])))
    lam, sigma = float(lam), float(sigma)
    if not lam >= 0:
        raise ValueError("lam must be >= 0, got {}".format(lam))
    if not sigma > 0:
        raise ValueError("sigma must be > 0, got {}".format(sigma))
    return image, probability, spacing, fg, bg, lam, sigma


def unary_costs(probability):
    """Eq. 10: costs (-log r, -log(1 - r)) of labelling each voxel fg / bg, float64."""
    r = np.clip(probability.astype(np.float64), EPS, 1.0 - EPS)
    return -np.log(r), -np.log1p(-r)


def energy(mask, image, probability, spacing=None, lam=PAPER_LAM, sigma=PAPER_SIGMA, *, connectivity=None):
    """Value of Eq. 8 for a labelling (float64): used by tests and diagnostics."""
    image = check_image(image)
    offsets = half_stencil(image.ndim, connectivity)
    mask = check_mask(mask, image.shape, name="mask")
    unary_fg, unary_bg = unary_costs(check_probability(probability, image.shape))
    total = unary_fg[mask].sum() + unary_bg[~mask].sum()
    weights = _pairwise_weights(image, check_spacing(spacing, image.ndim), sigma, offsets)
    for offset, w in zip(offsets, weights):
        src, dst = _pair_slices(image.shape, offset)
        total += lam * w[mask[src] != mask[dst]].sum()
    return float(total)


def half_stencil(ndim, connectivity):
    """One offset per undirected neighbour pair, e.g. [(0, 1), (1, 0)] for 2D 4-connectivity."""
    allowed = {2: (4, 8), 3: (6, 18, 26)}[ndim]
    if connectivity is None:
        connectivity = allowed[-1] if ndim == 2 else allowed[0]
    if connectivity not in allowed:
        raise ValueError("connectivity must be one of {} for {}D images, got {!r}".format(
            allowed, ndim, connectivity))
    max_moved_axes = {4: 1, 6: 1, 18: 2, 8: 2, 26: 3}[connectivity]
    offsets = []
    for offset in itertools.product((-1, 0, 1), repeat=ndim):
        moved = sum(o != 0 for o in offset)
        # keep the lexicographically positive half: each pair once
        if 0 < moved <= max_moved_axes and offset > (0,) * ndim:
            offsets.append(offset)
    return offsets


def _pair_slices(shape, offset):
    """Slices (src, dst) such that image[dst] is the neighbour at `offset` of image[src]."""
    src = tuple(slice(max(0, -o), n - max(0, o)) for o, n in zip(offset, shape))
    dst = tuple(slice(max(0, o), n - max(0, -o)) for o, n in zip(offset, shape))
    return src, dst


def _pairwise_weights(image, spacing, sigma, offsets):
    """Eq. 11 without lam: one float64 array per offset, shape of the overlapping region."""
    unit = min(spacing)
    weights = []
    for offset in offsets:
        src, dst = _pair_slices(image.shape, offset)
        dist = np.sqrt(sum((o * s) ** 2 for o, s in zip(offset, spacing))) / unit
        diff = image[src].astype(np.float64) - image[dst]
        weights.append(np.exp(-diff * diff / (2.0 * sigma * sigma)) / dist)
    return weights


def _min_cut(unary_fg, unary_bg, fg, bg, offsets, pair_weights):
    """Solve the s-t min cut on the voxel grid; returns the uint8 source-side mask.

    Source = foreground: a voxel left on the sink side pays its s-edge
    (= its background cost), one left on the source side its t-edge.
    """
    shape = unary_fg.shape
    n = unary_fg.size
    source, sink = n, n + 1

    # Only the difference between the two unary costs matters.
    to_source = np.maximum(unary_bg - unary_fg, 0.0)   # capacity s -> i
    to_sink = np.maximum(unary_fg - unary_bg, 0.0)      # capacity i -> t

    # Hard constraints: a terminal edge larger than everything that could be
    # cut around the voxel instead, so the cut never separates it.
    around = np.zeros(shape)
    for offset, w in zip(offsets, pair_weights):
        src, dst = _pair_slices(shape, offset)
        around[src] += w
        around[dst] += w
    hard = 2.0 * around + 1.0
    to_source[fg], to_sink[fg] = hard[fg], 0.0
    to_sink[bg], to_source[bg] = hard[bg], 0.0

    # The flow can never exceed what leaves the source; every single edge is
    # smaller than that total (hard edges included), so nothing overflows.
    scale = min(MAX_SCALE, CAPACITY_BUDGET / max(to_source.sum(), 1e-12))

    # The graph is built directly in CSR form, one row per voxel with its
    # columns in increasing order: the neighbours (full stencil, sorted by
    # index offset), then the source, then the sink; then the rows of the
    # source and the sink. Every edge has its reverse (the reverse of a
    # terminal edge gets capacity 1: an edge into the source or out of the
    # sink never crosses a cut, so it changes nothing), which makes the flow
    # matrix that scipy returns share the graph's structure: the residual
    # capacities are then one subtraction away.
    full = sorted([o for o in offsets] + [tuple(-c for c in o) for o in offsets],
                  key=lambda o: np.ravel_multi_index(np.array(o) + 1, (3,) * len(o)))
    slots = np.zeros(shape + (len(full) + 2,), np.int32)
    column = {o: k for k, o in enumerate(full)}
    for offset, w in zip(offsets, pair_weights):
        src, dst = _pair_slices(shape, offset)
        cap = np.rint(w * scale).astype(np.int32)
        slots[src + (column[offset],)] = cap
        slots[dst + (column[tuple(-c for c in offset)],)] = cap
    s_cap = np.rint(to_source * scale).astype(np.int32).ravel()
    t_cap = np.rint(to_sink * scale).astype(np.int32).ravel()
    slots = slots.reshape(n, -1)
    slots[:, -2] = np.minimum(s_cap, 1)   # i -> s (reverse of s -> i)
    slots[:, -1] = t_cap

    strides = np.array([int(np.prod(shape[a + 1:])) for a in range(len(shape))])
    deltas = np.array([int(np.dot(o, strides)) for o in full] + [0, 0], np.int64)
    columns = np.arange(n, dtype=np.int64)[:, None] + deltas[None, :]
    columns[:, -2], columns[:, -1] = source, sink
    present = slots > 0
    voxels = np.arange(n, dtype=np.int32)
    s_present, t_present = s_cap > 0, t_cap > 0
    data = np.concatenate([slots[present], s_cap[s_present], np.ones(int(t_present.sum()), np.int32)])
    indices = np.concatenate([columns[present].astype(np.int32), voxels[s_present], voxels[t_present]])
    counts = np.concatenate([present.sum(axis=1), [s_present.sum(), t_present.sum()]])
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    graph = csr_matrix((data, indices, indptr), shape=(n + 2, n + 2))

    flow = maximum_flow(graph, source, sink, method="dinic").flow
    if np.array_equal(flow.indptr, graph.indptr) and np.array_equal(flow.indices, graph.indices):
        open_edges = (graph.data - flow.data) > 0
        rows = np.repeat(np.arange(n + 2), counts)
        open_counts = np.bincount(rows[open_edges], minlength=n + 2)
        residual = csr_matrix((np.ones(int(open_edges.sum()), np.int8), graph.indices[open_edges],
                               np.concatenate([[0], np.cumsum(open_counts)]).astype(np.int32)),
                              shape=graph.shape)
    else:  # pragma: no cover - only if scipy changes how it lays out the flow
        residual = (graph - flow).tocsr()
        residual.data = (residual.data > 0).astype(np.int8)
        residual.eliminate_zeros()
    reachable = breadth_first_order(residual, source, directed=True, return_predecessors=False)
    mask = np.zeros(n + 2, np.uint8)
    mask[reachable] = 1
    return mask[:n].reshape(shape)


def _simplecrf(image, probability, fg, bg, lam, sigma, n_pairs):
    """SimpleCRF's max-flow (reference backend): 4-/6-neighbour, no distance term."""
    if n_pairs != image.ndim:
        raise ValueError("backend='simplecrf' supports connectivity 4 (2D) / 6 (3D) only")
    try:
        import maxflow as simplecrf_maxflow
        if not hasattr(simplecrf_maxflow, "interactive_maxflow2d"):
            raise ImportError("the 'maxflow' module found is not SimpleCRF's (PyMaxflow?)")
    except ImportError as error:
        raise ImportError("backend='simplecrf' needs the SimpleCRF package (see README)") from error
    prob = np.clip(probability, EPS, 1.0 - EPS).astype(np.float32)
    prob2 = np.ascontiguousarray(np.stack([1.0 - prob, prob], axis=-1), dtype=np.float32)
    img = np.ascontiguousarray(image[..., None], dtype=np.float32)
    param = (float(lam), float(sigma))
    three_d = image.ndim == 3
    if fg.any() or bg.any():
        seeds = np.ascontiguousarray(np.stack([bg, fg], axis=-1).astype(np.uint8))
        run = simplecrf_maxflow.interactive_maxflow3d if three_d else simplecrf_maxflow.interactive_maxflow2d
        out = run(img, prob2, seeds, param)
    else:
        run = simplecrf_maxflow.maxflow3d if three_d else simplecrf_maxflow.maxflow2d
        out = run(img, prob2, param)
    return (np.asarray(out) > 0).astype(np.uint8)
