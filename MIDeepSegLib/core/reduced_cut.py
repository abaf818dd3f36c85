"""The graph cut of Eq. 8-11, solved only where the labelling is in doubt (what a refinement click runs).

Same energy, constraints and result as :func:`MIDeepSegLib.core.graphcut.graph_cut`
(a minimum of E; ties may differ), on a much smaller graph: voxels whose
unary preference outweighs every pair term they could pay are fixed first
(repeatedly, as fixed neighbours fold into unary terms), and only the rest
goes to scipy's max-flow, one connected component at a time. How much faster
it is, and on what: docs/latency.md.
"""

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components, maximum_flow

from .graphcut import CAPACITY_BUDGET, EPS, MAX_SCALE, check_problem, half_stencil

# reduced_graph_cut's look-up codes for a neighbour that is not in doubt (a voxel in doubt is
# _SLOTS + its position), and the sign its pair term takes in the voxel's logit, by min(code, _SLOTS).
_FIXED_FG, _OUTSIDE, _FIXED_BG, _SLOTS = 0, 1, 2, 3
_FOLD_SIGN = np.array([1.0, 0.0, -1.0, 0.0], np.float32)

# Components of the max-flow graph with at least this many voxels get their own max-flow (Dinic's
# phases then run on that component only); the smaller ones share one.
_OWN_MAXFLOW_VOXELS = 2000
# Components of more than 4x this many voxels are narrowed down block by block (blocks of about this
# many) before their max-flow: Dinic's time grows faster than the graph (organ200, shipped settings:
# 2.1-2.4 s for a 329 k-voxel component, 1.5 s with blocks of 30 k). Issue 12, with the softened
# probability (Segmenter's click_temperature): the 294 k-voxel component of liver400's first foreground
# click took 2.0 s with blocks of 10 k against 2.6-3.1 s with blocks of 30 k (whole graph cut, CPU);
# organ200's problems took the same time with either.
_BLOCK_VOXELS = 10000


def reduced_graph_cut(image, probability, spacing=None, foreground=None, background=None, lam=5.0, sigma=0.1,
                      *, connectivity=None, previous=None, return_stats=False):
    """The minimum of Eq. 8 subject to Eq. 9, solved only where the labelling is in doubt.

    Same energy and constraints as :func:`~MIDeepSegLib.core.graphcut.graph_cut`; the minimum cut is found
    on a much smaller graph. A voxel whose unary preference outweighs every
    pairwise term it could pay,

        |log(r_i / (1 - r_i))| >= lam * sum_{j~i} w_ij,

    takes its preferred label in a minimum of E (moving it there never raises
    the energy, whatever its neighbours' labels). Such voxels are fixed, as
    are the hard constraints; a fixed neighbour's pair term becomes a unary
    term of the voxel next to it, which may fix it in turn (repeated until
    nothing changes). Only the voxels left, a thin layer where the
    probability is uncertain (typically a few per cent of the region), go
    into the max-flow graph, one connected component at a time (a component
    whose voxels all prefer one label takes it without a max-flow). The
    result is a minimum of the same energy as :func:`~MIDeepSegLib.core.graphcut.graph_cut`'s; where two
    labellings have the same energy (ties, or differences below the integer
    capacities' resolution) the two may pick different ones.

    Only the voxels that could be in doubt (their probability between the
    two bounds that the largest possible pair sum allows) are visited after
    one pass over the region, so the cost grows with the boundary's area,
    not with the region's volume; the arrays are one int32 and one float32
    copy of the region (padded by one voxel) and arrays the size of that
    layer.

    Parameters
    ----------
    As :func:`graph_cut` (scipy max-flow only).
    previous : (probability, foreground, background, mask), optional
        The last problem solved on the same region (its arrays, as given then)
        and its labels. Then only the voxels near where the problem changed
        (:func:`near_changes`: the probability by more than CHANGE_TOLERANCE,
        or a hard constraint) are solved again; the others keep their label
        from `mask`, as hard constraints; and if every change favours one
        label (a foreground click without background clicks only raises the
        probability), the voxels that had that label keep it too (a minimum
        cut's foreground only grows when every unary term favours the
        foreground more). Not the exact minimum any more: a change could
        travel further along the boundary than the margin. On the saved
        problems of the organ-scale session (benchmarks/bench_reduced_cut.py)
        the masks differed from a solve from scratch in 0-4 of 6 M voxels
        (docs/latency.md).
    return_stats : bool
        Also return a dict: ``candidates`` (voxels visited), ``free`` (voxels
        in the max-flow graph).

    Returns
    -------
    mask : uint8 ndarray, image shape (and the stats dict if asked).
    """
    image, probability, spacing, fg, bg, lam, sigma = check_problem(image, probability, spacing, foreground,
                                                                     background, lam, sigma)
    offsets = half_stencil(image.ndim, connectivity)
    unit = min(spacing)
    dists = [np.sqrt(sum((o * s) ** 2 for o, s in zip(offset, spacing))) / unit for offset in offsets]
    # The largest pair sum a voxel can have (every w = 1 / dist): beyond the
    # logit this allows, a voxel is fixed without looking at its neighbours.
    bound = lam * 2.0 * sum(1.0 / d for d in dists)
    low = np.float32(1.0 / (1.0 + np.exp(bound)))
    high = np.float32(1.0 / (1.0 + np.exp(-bound)))
    # The energy clips r to [EPS, 1 - EPS]: where the bound lies beyond that, no voxel is fixed by it.
    if low <= EPS:
        low = np.float32(-1.0)
    if high >= 1.0 - EPS:
        high = np.float32(2.0)
    prob = probability if probability.dtype == np.float32 else probability.astype(np.float32)
    mask = (prob >= high).astype(np.uint8)
    doubt = (prob > low) & (prob < high)
    if fg is not None:
        mask[fg] = 1
        doubt &= ~fg
    if bg is not None:
        mask[bg] = 0
        doubt &= ~bg
    if previous is not None:
        old_prob, old_fg, old_bg, old_mask = previous
        if old_prob.shape != prob.shape or old_mask.shape != prob.shape:
            raise ValueError("previous: a problem on a region of shape {}, not this one's {}".format(
                old_prob.shape, prob.shape))
        changed = np.subtract(prob, old_prob)
        np.abs(changed, out=changed)
        changed = changed > CHANGE_TOLERANCE
        # A voxel whose probability changed but that still prefers the label it has (R^f >= 0.5 where it
        # was foreground, < 0.5 where it was background) counts as a change only on the old mask's
        # boundary, and is solved again only within EDGE_BLOCK voxels of it. The session's first
        # foreground and background clicks soften the CNN's probability everywhere (Segmenter's
        # click_temperature): without this rule they solve the whole doubt layer again.
        agrees = (prob >= 0.5) == (old_mask != 0)
        agrees &= changed
        changed &= ~agrees
        agrees &= _mask_boundary(old_mask != 0)
        for new, old in ((fg, old_fg), (bg, old_bg)):  # a hard constraint added or removed
            if new is not None or old is not None:
                changed |= (new if new is not None else False) ^ (old if old is not None else False)
        # Every voxel's preference moved towards one label (a foreground click without background
        # clicks raises R^f everywhere): the voxels that had that label keep it (a minimum cut's
        # foreground only grows when every unary term favours the foreground more), so their pair
        # terms do not change either, and only changes at the other voxels need solving around them.
        side = _monotone_side(prob, old_prob, fg, old_fg, bg, old_bg)
        if side is not None:
            changed &= old_mask != side
        keep = ~near_changes(changed)
        keep &= ~near_changes(agrees, EDGE_BLOCK)
        del changed, agrees
        if side is not None:
            keep |= old_mask == side
        keep &= doubt
        mask[keep] = old_mask[keep]
        doubt &= ~keep
        del keep
    stats = {"candidates": int(np.count_nonzero(doubt)), "free": 0}
    if stats["candidates"]:
        _solve_layer(image, prob, mask, doubt, offsets, dists, lam, sigma, stats)
    return (mask, stats) if return_stats else mask


def _mask_boundary(mask):
    """The voxels of a bool mask with a face neighbour of the other label (on both sides of the boundary)."""
    edge = np.zeros(mask.shape, bool)
    for axis in range(mask.ndim):
        upper = tuple(slice(1, None) if a == axis else slice(None) for a in range(mask.ndim))
        lower = tuple(slice(None, -1) if a == axis else slice(None) for a in range(mask.ndim))
        differs = mask[upper] != mask[lower]
        edge[upper] |= differs
        edge[lower] |= differs
    return edge


def _monotone_side(prob, old_prob, fg, old_fg, bg, old_bg):
    """1 if no voxel's probability fell and no hard constraint moved towards background (none was
    added to the background ones, none removed from the foreground ones), 0 for the reverse, else None."""
    def covers(big, small):  # every voxel of `small` is in `big`
        return small is None or (big is not None and not (small & ~big).any())
    if covers(fg, old_fg) and covers(old_bg, bg) and not (prob < old_prob).any():
        return 1
    if covers(old_fg, fg) and covers(bg, old_bg) and not (prob > old_prob).any():
        return 0
    return None


#: previous=: a voxel's probability "changed" when it moved by more than this.
CHANGE_TOLERANCE = 1e-3

#: near_changes: the region is split into cubes of this many voxels a side.
CHANGE_BLOCK = 8

#: previous=: the block for changes on the old mask's boundary that leave its voxels' preference as it was
#: (a band of 4-8 voxels around it is solved again). Issue 12: on the organ200 session the first
#: background click after a foreground one (the softening of the CNN's other side) visited 0.9 M voxels
#: instead of 2.5 M, with the same mask (Dice 0.9933 against the truth either way).
EDGE_BLOCK = 4


def near_changes(changed, block=CHANGE_BLOCK):
    """The voxels within about one block of a change: blocks holding a change and their 26 neighbours.

    Parameters
    ----------
    changed : bool ndarray, 2D or 3D
    block : int
        Block side, voxels.

    Returns
    -------
    bool ndarray, `changed`'s shape. Every voxel within `block` voxels (along each axis) of a changed
    one is True; some further ones too (whole blocks). Blocks instead of a binary dilation: the same
    margin for a hundredth of the time on millions of voxels.
    """
    shape = changed.shape
    padded = np.pad(changed, [(0, -n % block) for n in shape])
    grid = padded.reshape([v for n in padded.shape for v in (n // block, block)])
    blocks = grid.any(axis=tuple(range(1, 2 * len(shape), 2)))
    # grow by one block along every axis (26 neighbours in 3D), by maxima of shifted views
    grown = blocks.copy()
    for axis in range(blocks.ndim):
        ahead = np.moveaxis(grown, axis, 0)
        step = ahead.copy()
        step[1:] |= ahead[:-1]
        step[:-1] |= ahead[1:]
        grown = np.moveaxis(step, 0, axis)
    for axis in range(blocks.ndim):
        grown = np.repeat(grown, block, axis=axis)
    return np.ascontiguousarray(grown[tuple(slice(0, n) for n in shape)])


def _solve_layer(image, prob, mask, doubt, offsets, dists, lam, sigma, stats):
    """Fix what the pair sums allow, then min-cut the rest; writes the labels of the voxels in doubt into `mask`.

    `doubt`: bool, image shape: the voxels in doubt (m of them). Arrays are
    (2 * len(offsets), m + 3) for the neighbours and pair weights (one row per
    direction), (m + 3,) per voxel, plus an int32 look-up map and a float32
    copy of the region, both padded by one voxel so that no neighbour needs
    a bounds test. Slots 0-2 of the per-voxel arrays stand for the
    neighbours that are not in doubt (_FIXED_FG, _OUTSIDE, _FIXED_BG);
    voxel i in doubt (in array order) is slot i + 3.
    """
    shape = image.shape
    padded = tuple(n + 2 for n in shape)
    inner = tuple(slice(1, -1) for _ in shape)
    flat = np.flatnonzero(doubt)
    m = flat.size
    # the same voxels' indices in the padded region (same order; cheaper than unravel + ravel)
    doubt_padded = np.zeros(padded, bool)
    doubt_padded[inner] = doubt
    flat_padded = np.flatnonzero(doubt_padded)
    del doubt_padded
    code = np.full(padded, _OUTSIDE, np.int32)
    code[inner] = mask   # 1: foreground, 0: background -> _FIXED_FG (0), _FIXED_BG (2)
    code[inner] *= _FIXED_FG - _FIXED_BG
    code[inner] += _FIXED_BG
    code = code.reshape(-1)
    code[flat_padded] = np.arange(_SLOTS, m + _SLOTS, dtype=np.int32)
    # The padding's intensity is +inf: its pair weight exp(-inf) is 0.
    intensity = np.full(padded, np.inf, np.float32)
    intensity[inner] = image
    intensity = intensity.reshape(-1)
    values = intensity[flat_padded]
    strides = [int(np.prod(padded[a + 1:])) for a in range(len(shape))]
    forward = [(int(np.dot(o, strides)), d) for o, d in zip(offsets, dists)]
    # One row per direction, in ascending index offset: a voxel's neighbours in doubt are then in
    # ascending order (CSR-ready).
    row = {delta: k for k, delta in enumerate(sorted([delta for delta, _ in forward] +
                                                     [-delta for delta, _ in forward]))}
    # Per direction and voxel in doubt: the neighbour's slot and lam * w (0 where it is not in doubt).
    neighbours = np.full((len(row), m + _SLOTS), _OUTSIDE, np.int32)
    weights = np.zeros((len(row), m + _SLOTS), np.float32)
    fold = np.zeros(m, np.float32)     # pair terms with known neighbours, as unary terms (see below)
    around = np.zeros(m, np.float32)   # sum of lam * w over the neighbours in doubt
    exponent = np.float32(-0.5 / (sigma * sigma))

    for delta, dist in forward:
        target = flat_padded + delta
        index = neighbours[row[delta], _SLOTS:]
        np.take(code, target, out=index)
        w = _layer_weights(values, intensity[target], exponent, lam / dist)
        # A neighbour with a known label: its pair term is a unary term (logit + w if it is foreground).
        fold += w * _FOLD_SIGN[np.minimum(index, _SLOTS)]
        w *= index >= _SLOTS
        around += w
        weights[row[delta], _SLOTS:] = w
    for delta, dist in forward:
        # The opposite direction: a neighbour in doubt has this pair's weight in its own forward row
        # already (slots 0-2 hold 0); only the pairs with known neighbours are computed.
        target = flat_padded - delta
        index = neighbours[row[-delta], _SLOTS:]
        np.take(code, target, out=index)
        w = weights[row[-delta], _SLOTS:]
        np.take(weights[row[delta]], index, out=w)
        around += w
        known = np.flatnonzero(index < _SLOTS)
        fold[known] += _layer_weights(values[known], intensity[target[known]], exponent, lam / dist) \
            * _FOLD_SIGN[index[known]]
    del code, intensity, values, target, index, w, known, flat_padded
    r = np.clip(prob.reshape(-1)[flat], EPS, 1.0 - EPS).astype(np.float64)
    logit = np.log(r) - np.log1p(-r)   # cost(background) - cost(foreground)
    logit += fold
    del r, fold

    # Settling, in terms of the two slacks to_fg = around - logit and to_bg = around + logit: a free
    # voxel takes foreground once to_fg <= 0 (logit >= around), background once to_bg <= 0. A pair with
    # a settled foreground voxel moves w from around into logit (lowers to_fg by 2 w, keeps to_bg);
    # with a background one, it lowers to_bg by 2 w. So each pair updates one array, once, when its
    # first voxel settles. (Updates reaching a voxel that is settled already, or slots 0-2, change
    # values that are no longer read.)
    to_fg = np.zeros(m + _SLOTS)
    to_bg = np.zeros(m + _SLOTS)
    np.subtract(around, logit, out=to_fg[_SLOTS:])
    np.add(around, logit, out=to_bg[_SLOTS:])
    del logit, around
    weights *= 2.0
    free = np.ones(m + _SLOTS, bool)
    free[:_SLOTS] = False
    label = np.zeros(m + _SLOTS, bool)
    settled = np.flatnonzero(free & ((to_fg <= 0) | (to_bg <= 0)))
    stamp = np.zeros(m + _SLOTS, np.int64)   # scratch for removing repeated voxels without sorting
    while settled.size:
        fg = to_fg[settled] <= 0
        label[settled] = fg
        free[settled] = False
        # (the neighbours' slots and weights of the settled foreground voxels, then background ones)
        near_fg, near_bg = (np.take(neighbours, settled[which], axis=1).ravel() for which in (fg, ~fg))
        w_fg, w_bg = (np.take(weights, settled[which], axis=1).astype(np.float64).ravel() for which in (fg, ~fg))
        if near_fg.size + near_bg.size > m // 8:   # many: passes over the layer beat scattered updates
            to_fg -= np.bincount(near_fg, w_fg, minlength=m + _SLOTS)
            to_bg -= np.bincount(near_bg, w_bg, minlength=m + _SLOTS)
            # only the voxels whose slacks changed can settle now: a test of all is the same
            settled = np.flatnonzero(free & ((to_fg <= 0) | (to_bg <= 0)))
        else:
            np.subtract.at(to_fg, near_fg, w_fg)   # (one dtype: ufunc.at is slow on mixed ones)
            np.subtract.at(to_bg, near_bg, w_bg)
            near = np.concatenate([near_fg, near_bg])
            near = near[free[near]]
            near = near[(to_fg[near] <= 0) | (to_bg[near] <= 0)]
            # each voxel once: where it appears several times, the last write to stamp wins
            order = np.arange(near.size)
            stamp[near] = order
            settled = near[stamp[near] == order]
    # After the loop a free voxel's pair terms with settled voxels are in its
    # unary term, logit = (to_bg - to_fg) / 2; the pairs between free voxels make the max-flow graph.
    keep = np.flatnonzero(free)
    stats["free"] = int(keep.size)
    if keep.size:
        renumber = np.full(m + _SLOTS, -1, np.int64)
        renumber[keep] = np.arange(keep.size)
        near = renumber[neighbours[:, keep].T]   # -1: none, or settled
        cap = weights[:, keep].T * 0.5
        cap[near < 0] = 0.0
        label[keep] = _min_cut_components((to_bg[keep] - to_fg[keep]) * 0.5, near, cap.astype(np.float64))
    mask.reshape(-1)[flat] = label[_SLOTS:]


def _layer_weights(values, neighbour_values, exponent, factor):
    """lam * w of Eq. 11 (float32) for voxels of intensities `values` and their neighbours' along one
    direction; `exponent` = -1 / (2 sigma^2), `factor` = lam / dist."""
    w = values - neighbour_values
    w *= w
    w *= exponent
    np.exp(w, out=w)
    w *= np.float32(factor)
    return w


def _min_cut_components(logit, neighbours, cap, blocks=True):
    """Exact min cut of a graph given by rows, solved per connected component; bool foreground labels.

    Components are independent problems. One whose voxels all prefer the
    same label takes it (every unary term at its minimum, no pair cut): no
    max-flow. Large components are cut one by one, so that Dinic's phases
    (a breadth-first search over the whole graph each) do not revisit the
    components that are already done; the small ones share one graph.

    Parameters
    ----------
    logit : float (n,)
        Unary cost(background) - cost(foreground) per node.
    neighbours : int (n, k)
        Each node's neighbours (every undirected pair given from both ends), ascending along a row;
        -1: none.
    cap : float (n, k)
        The pair capacities (0 where there is no neighbour).
    blocks : bool
        Narrow components of more than ``4 * _BLOCK_VOXELS`` voxels down block by block first
        (:func:`_min_cut_blocks`).
    """
    n = logit.size
    present = neighbours >= 0
    graph = csr_matrix((np.ones(int(present.sum()), np.int8), neighbours[present],
                        np.concatenate([[0], np.cumsum(present.sum(axis=1))])), shape=(n, n))
    count, component = connected_components(graph, directed=False)
    del graph
    positive = np.bincount(component, logit > 0, minlength=count)
    negative = np.bincount(component, logit < 0, minlength=count)
    label = positive[component] > 0   # the agreeing components' label; the others' are set below
    size = np.bincount(component, minlength=count)
    cut = (positive > 0) & (negative > 0)
    # group 0: the small components together; 1, 2, ...: each large one; -1: no max-flow
    group = np.where(cut, 0, -1)
    large = np.flatnonzero(cut & (size >= _OWN_MAXFLOW_VOXELS))
    group[large] = np.arange(1, large.size + 1)
    group = group[component]
    # Stable order: within a group the nodes keep their order, so renumbered rows stay ascending.
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(large.size + 2))
    rank = np.empty(n + 1, np.int64)
    rank[order] = np.arange(n)
    for g in range(large.size + 1):   # group g: order[bounds[g]:bounds[g + 1]] (no group above large.size)
        first, last = bounds[g], bounds[g + 1]
        if last > first:
            nodes = order[first:last]
            near = neighbours[nodes]
            near = np.where(near >= 0, rank[near] - first, -1)
            solve = _min_cut_blocks if blocks and g > 0 and nodes.size > 4 * _BLOCK_VOXELS else _min_cut_rows
            label[nodes] = solve(logit[nodes], near, cap[nodes])
    return label


def _min_cut_blocks(logit, neighbours, cap):
    """:func:`_min_cut_rows` of a large connected graph, first narrowed down block by block.

    The nodes (in index order, so roughly slabs of the region) are split into
    blocks of about ``_BLOCK_VOXELS``. Each block is cut twice: with every
    neighbour outside it background, then foreground. The minimal minimiser
    of Eq. 8 grows with the unary terms' preference for foreground (minimum
    cuts are monotone), and a block's part of the whole problem's minimal
    (maximal) minimiser is the minimal (maximal) minimiser of the block given
    the rest; so every minimiser lies between the first cut's minimal
    minimiser and the second's maximal one. Where the two agree the label is
    fixed; the rest (near the blocks' faces, mostly) is cut once more, with
    the fixed nodes' pair terms as unary terms. Same arguments and result as
    :func:`_min_cut_rows`.
    """
    n = logit.size
    fixed = np.zeros(n, bool)
    label = np.zeros(n, bool)
    edges = np.linspace(0, n, max(2, n // _BLOCK_VOXELS) + 1).astype(np.int64)
    for first, last in zip(edges[:-1], edges[1:]):
        near = neighbours[first:last]
        inside = (near >= first) & (near < last)
        outside = np.where((near >= 0) & ~inside, cap[first:last], 0.0).sum(axis=1)
        local = np.where(inside, near - first, -1)
        local_cap = np.where(inside, cap[first:last], 0.0)
        low = _min_cut_rows(logit[first:last] - outside, local, local_cap)
        # the maximal minimiser: the complement of the flipped problem's minimal one
        high = ~_min_cut_rows(-(logit[first:last] + outside), local, local_cap)
        fixed[first:last] = low == high
        label[first:last] = low
    keep = np.flatnonzero(~fixed)
    if keep.size:
        renumber = np.full(n + 1, -1, np.int64)   # (index -1: no neighbour -> -1)
        renumber[keep] = np.arange(keep.size)
        near = neighbours[keep]
        known = (near >= 0) & fixed[near]
        signed = np.where(label[near], cap[keep], -cap[keep])
        unary = logit[keep] + np.where(known, signed, 0.0).sum(axis=1)
        near = renumber[near]
        label[keep] = _min_cut_components(unary, near, np.where(near >= 0, cap[keep], 0.0), blocks=False)
    return label


def _min_cut_rows(logit, neighbours, cap):
    """Exact min cut of one graph given by rows (as :func:`_min_cut_components`); bool foreground labels."""
    n = logit.size
    source, sink = n, n + 1
    to_source = np.maximum(logit, 0.0)
    to_sink = np.maximum(-logit, 0.0)
    scale = min(MAX_SCALE, CAPACITY_BUDGET / max(to_source.sum() + cap.sum(), 1e-12))
    s_cap = np.rint(to_source * scale).astype(np.int32)
    t_cap = np.rint(to_sink * scale).astype(np.int32)
    # CSR rows built directly (no sorting): a node's pair edges in ascending order, then its sink
    # edge; the source's row; the sink's (empty). scipy adds the reverse edges it needs.
    data = np.empty((n, cap.shape[1] + 1), np.int32)
    np.rint(cap * scale, out=data[:, :-1], casting="unsafe")
    data[:, -1] = t_cap
    columns = np.empty(data.shape, np.int32)
    columns[:, :-1] = neighbours
    columns[:, -1] = sink
    present = data > 0
    s_nodes = np.flatnonzero(s_cap > 0).astype(np.int32)
    counts = np.concatenate([present.sum(axis=1), [s_nodes.size, 0]])
    graph = csr_matrix((np.concatenate([data[present], s_cap[s_nodes]]),
                        np.concatenate([columns[present], s_nodes]),
                        np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)), shape=(n + 2, n + 2))
    flow = maximum_flow(graph, source, sink, method="dinic").flow
    residual = (graph - flow).tocsr()
    residual.data = (residual.data > 0).astype(np.int8)
    residual.eliminate_zeros()
    reachable = breadth_first_order(residual, source, directed=True, return_predecessors=False)
    side = np.zeros(n + 2, bool)
    side[reachable] = True
    return side[:n]
