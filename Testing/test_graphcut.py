"""Tests for MIDeepSegLib.core.graphcut and .reduced_cut: exact min cut of paper Eq. 8-11 with hard constraints (Eq. 9).

Proof required by issue 2:
* the same labels as SimpleCRF's maxflow2d / maxflow3d and
  interactive_maxflow2d / 3d on random problems in the configuration they
  support (4- / 6-neighbour, unit spacing): measured 0 differing voxels in
  every problem here (and in 360 problems while writing these tests);
* hard constraints always hold, also under adversarial probabilities;
* on tiny problems the cut's energy equals the brute-force minimum over all
  2^12 labellings (measured: the cut *is* the argmin, relative energy gap 0;
  asserted <= 1e-3, the integer-scaling resolution).
"""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from MIDeepSegLib.core import graphcut, reduced_cut
from MIDeepSegLib.core.graphcut import energy, graph_cut


def _random_problem(shape, rng, n_seeds=0):
    """Smooth image in ~[0, 1], a structured probability map, optional disjoint seeds."""
    image = np.clip(ndimage.gaussian_filter(rng.random(shape), 1.0) * 3 - 1, 0, 1)
    image = (image + 0.05 * rng.normal(size=shape)).astype(np.float32)
    logit = ndimage.gaussian_filter(rng.normal(size=shape), 1.5)
    logit *= 3.0 / logit.std()  # blobs of confident fg / bg, whatever the dimension
    prob = (1 / (1 + np.exp(-logit))).astype(np.float32)
    fg = bg = None
    if n_seeds:
        idx = rng.choice(image.size, 2 * n_seeds, replace=False)
        fg, bg = np.zeros(shape, bool), np.zeros(shape, bool)
        fg.flat[idx[:n_seeds]] = True
        bg.flat[idx[n_seeds:]] = True
    return image, prob, fg, bg


# ---------------------------------------------------------------------------
# SimpleCRF equivalence

SIMPLECRF_SHAPES = [(20, 24), (33, 17), (48, 40), (6, 10, 12), (9, 14, 11), (12, 16, 16)]


@pytest.mark.parametrize("shape", SIMPLECRF_SHAPES)
@pytest.mark.parametrize("n_seeds", [0, 5])
def test_same_labels_as_simplecrf(shape, n_seeds):
    pytest.importorskip("maxflow")
    connectivity = 4 if len(shape) == 2 else 6
    foreground_fractions = []
    for seed in range(5):
        for lam, sigma in ((5.0, 0.1), (1.0, 0.3), (10.0, 0.05)):
            rng = np.random.default_rng(seed)
            image, prob, fg, bg = _random_problem(shape, rng, n_seeds)
            ours = graph_cut(image, prob, None, fg, bg, lam, sigma, connectivity=connectivity)
            ref = graph_cut(image, prob, None, fg, bg, lam, sigma, connectivity=connectivity,
                            backend="simplecrf")
            assert ours.dtype == np.uint8 and ref.dtype == np.uint8
            np.testing.assert_array_equal(ours, ref, err_msg=f"seed {seed} lam {lam} sigma {sigma}")
            foreground_fractions.append(ours.mean())
    # the problems are not trivial: most cuts have both labels
    assert np.mean([0.02 < f < 0.98 for f in foreground_fractions]) > 0.8


@pytest.mark.parametrize("ndim", [2, 3])
def test_simplecrf_called_directly(ndim):
    """Call SimpleCRF's own functions (not through the adapter): channel 0 = background, 1 = foreground."""
    maxflow = pytest.importorskip("maxflow")
    if not hasattr(maxflow, "interactive_maxflow2d"):
        pytest.skip("the installed 'maxflow' module is not SimpleCRF's")
    shape = (30, 34) if ndim == 2 else (10, 14, 12)
    rng = np.random.default_rng(42)
    image, prob, fg, bg = _random_problem(shape, rng, n_seeds=6)
    connectivity = 4 if ndim == 2 else 6
    img = np.ascontiguousarray(image[..., None])
    p = np.clip(prob, graphcut.EPS, 1 - graphcut.EPS)
    prob2 = np.ascontiguousarray(np.stack([1 - p, p], axis=-1), dtype=np.float32)
    seeds2 = np.ascontiguousarray(np.stack([bg, fg], axis=-1).astype(np.uint8))
    plain = maxflow.maxflow2d if ndim == 2 else maxflow.maxflow3d
    interactive = maxflow.interactive_maxflow2d if ndim == 2 else maxflow.interactive_maxflow3d
    ref_plain = np.asarray(plain(img, prob2, (5.0, 0.1)))
    ref_inter = np.asarray(interactive(img, prob2, seeds2, (5.0, 0.1)))
    np.testing.assert_array_equal(graph_cut(image, prob, connectivity=connectivity), ref_plain > 0)
    np.testing.assert_array_equal(graph_cut(image, prob, None, fg, bg, connectivity=connectivity), ref_inter > 0)
    # The channel order matters (so the checks above can catch a swap):
    swapped = np.asarray(plain(img, np.ascontiguousarray(prob2[..., ::-1]), (5.0, 0.1)))
    assert (swapped > 0).sum() != (ref_plain > 0).sum()
    assert ref_inter[fg].all() and not ref_inter[bg].any()


def test_simplecrf_backend_rejects_unsupported_connectivity():
    pytest.importorskip("maxflow")
    image, prob, _, _ = _random_problem((8, 9), np.random.default_rng(0))
    with pytest.raises(ValueError, match="connectivity 4 .2D. / 6 .3D. only"):
        graph_cut(image, prob, connectivity=8, backend="simplecrf")


# ---------------------------------------------------------------------------
# Brute force on tiny problems

def _pairs(shape, spacing, connectivity):
    """Every unordered neighbour pair (i, j, dist / min spacing), by explicit enumeration."""
    ndim = len(shape)
    max_moved = {4: 1, 6: 1, 8: 2, 18: 2, 26: 3}[connectivity]
    coords = list(itertools.product(*[range(n) for n in shape]))
    flat = {c: k for k, c in enumerate(coords)}
    pairs = []
    for c in coords:
        for other in coords:
            delta = [b - a for a, b in zip(c, other)]
            moved = sum(d != 0 for d in delta)
            if flat[other] > flat[c] and max(abs(d) for d in delta) == 1 and moved <= max_moved:
                dist = np.sqrt(sum((d * s) ** 2 for d, s in zip(delta, spacing))) / min(spacing)
                pairs.append((flat[c], flat[other], dist))
    assert ndim in (2, 3)
    return pairs


def _paper_energies(labellings, image, prob, spacing, lam, sigma, connectivity):
    """Eq. 8, 10, 11 transcribed directly, for many labellings at once (float64)."""
    r = np.clip(prob.astype(np.float64).ravel(), 1e-6, 1 - 1e-6)
    values = image.astype(np.float64).ravel()
    lab = labellings.reshape(len(labellings), -1)
    total = lab @ -np.log(r) + (~lab) @ -np.log(1 - r)
    for i, j, dist in _pairs(image.shape, spacing, connectivity):
        w = np.exp(-(values[i] - values[j]) ** 2 / (2 * sigma ** 2)) / dist
        total = total + lam * w * (lab[:, i] != lab[:, j])
    return total


def _all_labellings(shape):
    n = int(np.prod(shape))
    bits = (np.arange(2 ** n)[:, None] >> np.arange(n)) & 1
    return bits.astype(bool).reshape((-1,) + tuple(shape))


TINY = [
    ((3, 4), (5.0, 0.6), 8),
    ((3, 4), None, 4),
    ((2, 2, 3), (5.0, 0.6, 0.8), 26),
    ((2, 2, 3), (0.7, 2.0, 1.0), 18),
    ((2, 2, 3), None, 6),
]


def test_energy_matches_paper_transcription():
    rng = np.random.default_rng(0)
    for shape, spacing, connectivity in TINY:
        image = rng.random(shape).astype(np.float32)
        prob = rng.random(shape).astype(np.float32)
        prob.flat[0] = 0.0  # clipped to 1e-6
        labellings = rng.random((20,) + shape) > 0.5
        expected = _paper_energies(labellings, image, prob, spacing or (1.0,) * len(shape), 3.0, 0.2, connectivity)
        got = [energy(m, image, prob, spacing, 3.0, 0.2, connectivity=connectivity) for m in labellings]
        np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("shape,spacing,connectivity", TINY)
@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("solver", [graphcut.graph_cut, reduced_cut.reduced_graph_cut], ids=["graph_cut", "reduced_graph_cut"])
def test_cut_is_brute_force_minimum(shape, spacing, connectivity, hard, solver):
    labellings = _all_labellings(shape)
    sp = spacing or (1.0,) * len(shape)
    for seed in range(6):
        rng = np.random.default_rng(seed)
        image = rng.random(shape).astype(np.float32)
        prob = rng.random(shape).astype(np.float32)
        lam, sigma = (0.5, 5.0, 20.0)[seed % 3], (0.1, 0.3)[seed % 2]
        fg = bg = None
        candidates = labellings
        if hard:
            idx = rng.choice(image.size, 3, replace=False)
            fg, bg = np.zeros(shape, bool), np.zeros(shape, bool)
            fg.flat[idx[0]] = True
            bg.flat[idx[1:]] = True
            flat = labellings.reshape(len(labellings), -1)
            feasible = flat[:, fg.ravel()].all(1) & ~flat[:, bg.ravel()].any(1)
            candidates = labellings[feasible]
            assert len(candidates) == 2 ** (image.size - 3)
        cut = solver(image, prob, spacing, fg, bg, lam, sigma, connectivity=connectivity)
        energies = _paper_energies(candidates, image, prob, sp, lam, sigma, connectivity)
        e_cut = energy(cut, image, prob, spacing, lam, sigma, connectivity=connectivity)
        best = energies.min()
        assert e_cut <= best * (1 + 1e-3), f"cut energy {e_cut} > minimum {best}"
        if hard:
            assert cut[fg].all() and not cut[bg].any()


def test_spacing_changes_the_optimum():
    """Eq. 11's 1/dist term: the same problem with 5 mm rows cuts differently from unit spacing."""
    rng = np.random.default_rng(3)
    found = False
    for _ in range(30):
        image = rng.random((6, 6)).astype(np.float32)
        prob = rng.random((6, 6)).astype(np.float32)
        a = graph_cut(image, prob, (1.0, 1.0), lam=2.0, sigma=0.5)
        b = graph_cut(image, prob, (5.0, 1.0), lam=2.0, sigma=0.5)
        if (a != b).any():
            found = True
            # each is optimal for its own spacing
            assert energy(a, image, prob, (1.0, 1.0), 2.0, 0.5) <= energy(b, image, prob, (1.0, 1.0), 2.0, 0.5)
            assert energy(b, image, prob, (5.0, 1.0), 2.0, 0.5) <= energy(a, image, prob, (5.0, 1.0), 2.0, 0.5)
            break
    assert found


# ---------------------------------------------------------------------------
# lam = 0, hard constraints, outputs

def test_lam0_thresholds_probability():
    """No pairwise term: y = [r > 0.5]. Exact ties (r = 0.5) go to background.

    Note: values within about 1 / (4 * scale) of 0.5 (scale <= 1e4, so ~2.5e-5
    on small images, coarser on large volumes) round to a zero terminal edge
    and are treated as ties too; that band is avoided here, not asserted.
    """
    rng = np.random.default_rng(0)
    prob = rng.random((30, 40)).astype(np.float32)
    prob[np.abs(prob - 0.5) < 1e-3] = 0.25
    prob[0, :5] = 0.5
    prob[1, :5] = 0.501
    prob[2, :5] = 0.499
    prob[3, :5] = [0.0, 1.0, 1e-7, 1 - 1e-7, 0.5]
    image = rng.random(prob.shape).astype(np.float32)
    for connectivity in (4, 8):
        mask = graph_cut(image, prob, lam=0.0, connectivity=connectivity)
        np.testing.assert_array_equal(mask, (prob > 0.5).astype(np.uint8))
    vol = rng.random((4, 5, 6)).astype(np.float32)
    np.testing.assert_array_equal(graph_cut(vol, vol, lam=0.0, connectivity=26), (vol > 0.5).astype(np.uint8))


def test_hard_constraints_against_strong_disagreement():
    """Probabilities 0 / 1 exactly opposite to the seeds, large lam: the seeds still win."""
    rng = np.random.default_rng(1)
    for shape, connectivity in (((25, 30), 8), ((25, 30), 4), ((6, 12, 10), 26), ((6, 12, 10), 6)):
        image = rng.random(shape).astype(np.float32)
        prob = np.ones(shape, np.float32)
        fg = np.zeros(shape, bool)
        fg.flat[rng.choice(fg.size, 5, replace=False)] = True
        prob[fg] = 0.0
        bg = np.zeros(shape, bool)
        bg.flat[rng.choice(np.flatnonzero(~fg), 5, replace=False)] = True
        prob[bg] = 1.0  # already 1; background seeds inside a certain foreground
        for lam in (0.0, 5.0, 100.0):
            mask = graph_cut(image, prob, None, fg, bg, lam=lam, connectivity=connectivity)
            assert mask[fg].all() and not mask[bg].any()
            assert mask[~(fg | bg)].mean() > 0.5  # elsewhere the probability still rules
        if connectivity in (4, 6):
            pytest.importorskip("maxflow")
            ref = graph_cut(image, prob, None, fg, bg, connectivity=connectivity, backend="simplecrf")
            assert ref[fg].all() and not ref[bg].any()


def test_constant_image_and_trivial_problems():
    image = np.zeros((5, 6), np.float32)
    assert not graph_cut(image, np.zeros((5, 6))).any()
    assert graph_cut(image, np.ones((5, 6))).all()
    everything = np.ones((5, 6), bool)
    np.testing.assert_array_equal(graph_cut(image, np.zeros((5, 6)), foreground=everything), 1)
    np.testing.assert_array_equal(graph_cut(image, np.ones((5, 6)), background=everything), 0)


@st.composite
def _problems(draw):
    ndim = draw(st.sampled_from([2, 3]))
    shape = tuple(draw(st.integers(1 if ndim == 3 else 2, 6)) for _ in range(ndim))
    size = int(np.prod(shape))
    seed = draw(st.integers(0, 2 ** 31 - 1))
    rng = np.random.default_rng(seed)
    image = rng.random(shape).astype(np.float32)
    # probabilities with exact 0 / 1 and values near them
    prob = rng.choice(np.array([0.0, 1e-9, 0.3, 0.5, 0.7, 1 - 1e-9, 1.0], np.float32), size=shape)
    labels = rng.choice(3, size=shape, p=[0.2, 0.2, 0.6])  # 0 fg seed, 1 bg seed, 2 free
    fg, bg = labels == 0, labels == 1
    # adversarial: the probability contradicts every seed
    prob[fg] = 0.0
    prob[bg] = 1.0
    connectivity = draw(st.sampled_from([4, 8] if ndim == 2 else [6, 18, 26]))
    spacing = tuple(draw(st.sampled_from([0.6, 1.0, 5.0])) for _ in range(ndim))
    lam = draw(st.sampled_from([0.0, 1.0, 5.0, 1000.0]))
    sigma = draw(st.sampled_from([0.01, 0.1, 1.0]))
    assert size >= 1
    return image, prob, fg, bg, connectivity, spacing, lam, sigma


@settings(max_examples=25, deadline=None)
@given(_problems())
def test_hard_constraints_hold_property(problem):
    image, prob, fg, bg, connectivity, spacing, lam, sigma = problem
    copies = [a.copy() for a in (image, prob, fg, bg)]
    mask = graph_cut(image, prob, spacing, fg, bg, lam, sigma, connectivity=connectivity)
    assert mask.dtype == np.uint8 and mask.shape == image.shape
    assert set(np.unique(mask)) <= {0, 1}
    assert mask[fg].all() and not mask[bg].any()
    for before, after in zip(copies, (image, prob, fg, bg)):
        np.testing.assert_array_equal(before, after)


def test_output_dtype_and_input_types():
    rng = np.random.default_rng(5)
    image = rng.random((7, 8))
    prob = rng.random((7, 8))
    mask = graph_cut(image, prob)  # float64 inputs are accepted
    assert mask.dtype == np.uint8 and mask.shape == (7, 8)
    np.testing.assert_array_equal(mask, graph_cut(image.astype(np.float32), prob.astype(np.float32)))
    fg = np.zeros((7, 8), np.uint8)
    fg[0, 0] = 1
    assert graph_cut(image, prob, foreground=fg)[0, 0] == 1


def test_default_connectivity():
    """2D defaults to 8 neighbours, 3D to 6 (docstring)."""
    rng = np.random.default_rng(9)
    for shape, default in (((12, 13), 8), ((5, 6, 7), 6)):
        for _ in range(10):
            image, prob, _, _ = _random_problem(shape, rng)
            np.testing.assert_array_equal(graph_cut(image, prob), graph_cut(image, prob, connectivity=default))
            assert energy(graph_cut(image, prob), image, prob) == energy(
                graph_cut(image, prob, connectivity=default), image, prob, connectivity=default)


# ---------------------------------------------------------------------------
# Bad input

def _ok(shape=(6, 7)):
    rng = np.random.default_rng(0)
    return {"image": rng.random(shape).astype(np.float32), "probability": rng.random(shape).astype(np.float32)}


def _overlap():
    m = np.zeros((6, 7), bool)
    m[2, 3] = True
    return m


@pytest.mark.parametrize("kwargs,match", [
    ({"foreground": _overlap(), "background": _overlap()}, r"overlap at 1 voxel"),
    ({"probability": np.full((6, 7), 1.2)}, r"must lie in \[0, 1\]"),
    ({"probability": np.full((6, 7), -0.1)}, r"must lie in \[0, 1\]"),
    ({"probability": np.full((6, 7), np.nan)}, "NaN or infinite"),
    ({"probability": np.zeros((7, 6))}, "probability must have the image's shape"),
    ({"foreground": np.zeros((6, 8), bool)}, "foreground must have the image's shape"),
    ({"background": np.zeros((5, 7), bool)}, "background must have the image's shape"),
    ({"connectivity": 6}, r"connectivity must be one of \(4, 8\) for 2D"),
    ({"connectivity": 26}, r"connectivity must be one of \(4, 8\) for 2D"),
    ({"sigma": 0.0}, "sigma must be > 0"),
    ({"sigma": -1.0}, "sigma must be > 0"),
    ({"sigma": float("nan")}, "sigma must be > 0"),
    ({"lam": -1.0}, "lam must be >= 0"),
    ({"lam": float("nan")}, "lam must be >= 0"),
    ({"spacing": (1.0, 0.0)}, "finite and positive"),
    ({"spacing": (1.0,)}, "one value per array axis"),
    ({"image": np.full((6, 7), np.inf)}, "NaN or infinite"),
    ({"image": np.zeros((6, 7, 2, 2)), "probability": np.zeros((6, 7, 2, 2))}, "got 4 dimensions"),
    ({"backend": "pymaxflow"}, "backend must be one of"),
])
def test_bad_input(kwargs, match):
    args = _ok()
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        graph_cut(**args)


def test_bad_connectivity_3d():
    args = _ok((3, 4, 5))
    for connectivity in (4, 8, 27):
        with pytest.raises(ValueError, match=r"\(6, 18, 26\) for 3D"):
            graph_cut(**args, connectivity=connectivity)


# ---------------------------------------------------------------------------
# reduced_graph_cut: the same minimum on a smaller graph


def _organ_like_problem(shape, seed):
    """A noisy lobulated object and a CNN-like probability: the truth blurred on a coarse grid, upsampled
    (a wide uncertain band, like a 32x48x48 network output resized to the crop), with errors."""
    rng = np.random.default_rng(seed)
    grid = np.indices(shape).astype(np.float32)
    centre = np.array(shape, np.float32)[:, None, None, None] / 2
    rel = (grid - centre) / (np.array(shape, np.float32)[:, None, None, None] / 3)
    radius = np.sqrt((rel ** 2).sum(0))
    wobble = 0.2 * np.cos(3 * np.arctan2(rel[1], rel[2])) + 0.15 * np.sin(2 * rel[0])
    truth = radius < 1 + wobble
    image = np.where(truth, 0.6, 0.35) + rng.normal(0, 0.06, shape)
    image = np.clip(image, 0, 1).astype(np.float32)
    coarse = ndimage.zoom(truth.astype(np.float32), 0.25, order=1)
    coarse = ndimage.shift(coarse, (0.0, 0.7, -0.5), order=1)  # a misplaced boundary: errors to correct
    prob = np.clip(ndimage.zoom(ndimage.gaussian_filter(coarse, 0.8), 4.0, order=1), 0, 1)
    prob = prob[tuple(slice(0, n) for n in shape)]
    prob = np.pad(prob, [(0, n - p) for n, p in zip(shape, prob.shape)], mode="edge").astype(np.float32)
    fg, bg = np.zeros(shape, bool), np.zeros(shape, bool)
    fg[tuple(np.argwhere(truth & (prob < 0.5))[0])] = True
    bg[tuple(np.argwhere(~truth & (prob > 0.5))[-1])] = True
    return image, prob, fg, bg


@pytest.mark.parametrize("seed", [0, 1])
def test_reduced_cut_matches_full_region_cut_on_organ_like_problem(seed):
    """Same energy (to the integer capacities' resolution) and Dice >= 0.995 against the full-region
    cut, on a 48x64x64 problem; and the max-flow graph is a small part of the region."""
    image, prob, fg, bg = _organ_like_problem((48, 64, 64), seed)
    spacing, lam, sigma = (1.5, 0.8, 0.8), 0.5, 0.2
    full = graph_cut(image, prob, spacing, fg, bg, lam, sigma)
    reduced, stats = reduced_cut.reduced_graph_cut(image, prob, spacing, fg, bg, lam, sigma, return_stats=True)
    e_full = energy(full, image, prob, spacing, lam, sigma)
    e_reduced = energy(reduced, image, prob, spacing, lam, sigma)
    assert e_reduced <= e_full * (1 + 1e-5), (e_reduced, e_full)
    both = (full == 1) & (reduced == 1)
    assert 2 * both.sum() / (full.sum() + reduced.sum()) >= 0.995
    assert reduced[fg].all() and not reduced[bg].any()
    assert stats["free"] < 0.2 * image.size and stats["candidates"] < image.size


@pytest.mark.parametrize("own_maxflow_voxels", [1, 10 ** 9])
def test_reduced_cut_per_component_max_flow(monkeypatch, own_maxflow_voxels):
    """The max-flow graph left after settling has several connected components: each cut on its own
    graph (threshold 1) or all on one (threshold above the region), the result has the full-region
    cut's energy. The threshold is the module's setting, the code path the real one."""
    image, prob, fg, bg = _organ_like_problem((48, 64, 64), 1)
    spacing, lam, sigma = (1.5, 0.8, 0.8), 0.5, 0.2
    counts = []
    components = reduced_cut._min_cut_components

    def counting(logit, neighbours, cap):
        present = neighbours >= 0
        graph = csr_matrix((np.ones(int(present.sum())), neighbours[present],
                            np.concatenate([[0], np.cumsum(present.sum(axis=1))])), shape=(logit.size,) * 2)
        counts.append(connected_components(graph, directed=False)[0])
        return components(logit, neighbours, cap)

    monkeypatch.setattr(reduced_cut, "_OWN_MAXFLOW_VOXELS", own_maxflow_voxels)
    monkeypatch.setattr(reduced_cut, "_min_cut_components", counting)
    reduced = reduced_cut.reduced_graph_cut(image, prob, spacing, fg, bg, lam, sigma)
    full = graph_cut(image, prob, spacing, fg, bg, lam, sigma)
    assert counts and counts[0] > 1   # the case this test is about
    e_full = energy(full, image, prob, spacing, lam, sigma)
    assert energy(reduced, image, prob, spacing, lam, sigma) <= e_full * (1 + 1e-5)
    assert reduced[fg].all() and not reduced[bg].any()


def _record_block_cuts(monkeypatch):
    """The sizes of the graphs _min_cut_blocks gets (it still runs), as a list filled during the test."""
    calls = []
    blocks = reduced_cut._min_cut_blocks

    def recording(logit, neighbours, cap):
        calls.append(logit.size)
        return blocks(logit, neighbours, cap)

    monkeypatch.setattr(reduced_cut, "_min_cut_blocks", recording)
    return calls


@pytest.mark.parametrize("shape,spacing,connectivity", TINY)
def test_reduced_cut_by_blocks_is_brute_force_minimum(monkeypatch, shape, spacing, connectivity):
    """The block bounds of _min_cut_blocks (forced here: every component its own graph, cut in blocks of
    one voxel) fix only labels every minimum shares: the result is the brute-force minimum."""
    monkeypatch.setattr(reduced_cut, "_OWN_MAXFLOW_VOXELS", 1)
    monkeypatch.setattr(reduced_cut, "_BLOCK_VOXELS", 1)
    calls = _record_block_cuts(monkeypatch)
    labellings = _all_labellings(shape)
    sp = spacing or (1.0,) * len(shape)
    for seed in range(12):
        rng = np.random.default_rng(100 + seed)
        image = rng.random(shape).astype(np.float32)
        prob = (0.5 + 0.1 * (rng.random(shape) - 0.5)).astype(np.float32)   # weak unary terms: few voxels settle
        lam, sigma = (0.5, 2.0)[seed % 2], 0.5
        cut = reduced_cut.reduced_graph_cut(image, prob, spacing, None, None, lam, sigma, connectivity=connectivity)
        energies = _paper_energies(labellings, image, prob, sp, lam, sigma, connectivity)
        e_cut = energy(cut, image, prob, spacing, lam, sigma, connectivity=connectivity)
        assert e_cut <= energies.min() * (1 + 1e-3), (seed, e_cut, energies.min())
    assert len(calls) >= 3   # the block path ran (on graphs of more than 4 voxels)


def test_reduced_cut_by_blocks_on_organ_like_problem(monkeypatch):
    """Blocks of 300 voxels on the organ-like problem's max-flow graph: the full-region cut's energy."""
    image, prob, fg, bg = _organ_like_problem((48, 64, 64), 0)
    spacing, lam, sigma = (1.5, 0.8, 0.8), 0.5, 0.2
    monkeypatch.setattr(reduced_cut, "_BLOCK_VOXELS", 300)
    calls = _record_block_cuts(monkeypatch)
    reduced = reduced_cut.reduced_graph_cut(image, prob, spacing, fg, bg, lam, sigma)
    full = graph_cut(image, prob, spacing, fg, bg, lam, sigma)
    assert calls and max(calls) > 1200
    e_full = energy(full, image, prob, spacing, lam, sigma)
    assert energy(reduced, image, prob, spacing, lam, sigma) <= e_full * (1 + 1e-5)
    assert reduced[fg].all() and not reduced[bg].any()


def test_reduced_cut_bad_input():
    image, prob, fg, bg = _organ_like_problem((48, 64, 64), 0)
    with pytest.raises(ValueError, match="overlap"):
        reduced_cut.reduced_graph_cut(image, prob, None, fg, fg)
    with pytest.raises(ValueError, match="lam"):
        reduced_cut.reduced_graph_cut(image, prob, None, fg, bg, lam=-1.0)
    with pytest.raises(ValueError, match="probability|shape"):
        reduced_cut.reduced_graph_cut(image, prob[:-1], None, fg, bg)


def test_reduced_cut_with_a_large_lam_on_clipped_probabilities():
    """lam so large that the bound passes the clipping of r at 1e-6: every voxel stays in doubt, and the
    cut is still the full-region one (here a probability of exactly 0 or 1 does not decide a voxel)."""
    rng = np.random.default_rng(5)
    image = rng.random((12, 14)).astype(np.float32)
    prob = (rng.random((12, 14)) > 0.5).astype(np.float32)  # exactly 0 and 1: clipped to 1e-6, 1 - 1e-6
    full = graph_cut(image, prob, None, None, None, 40.0, 0.3)
    reduced, stats = reduced_cut.reduced_graph_cut(image, prob, None, None, None, 40.0, 0.3, return_stats=True)
    assert stats["candidates"] == image.size
    assert energy(reduced, image, prob, None, 40.0, 0.3) <= energy(full, image, prob, None, 40.0, 0.3) * (1 + 1e-6)


def test_near_changes_covers_one_block_around_every_change():
    rng = np.random.default_rng(0)
    changed = np.zeros((30, 41, 37), bool)
    changed[tuple(rng.integers(0, n, 5) for n in changed.shape)] = True
    near = reduced_cut.near_changes(changed, block=4)
    assert near.shape == changed.shape and near.dtype == bool
    # Every voxel within 4 voxels along each axis (a cube of side 9) of a change is included ...
    assert near[ndimage.binary_dilation(changed, np.ones((9, 9, 9), bool))].all()
    # ... and nothing beyond the blocks' reach (two blocks, 8 voxels, along each axis).
    assert not near[~ndimage.binary_dilation(changed, np.ones((17, 17, 17), bool))].any()
    assert not reduced_cut.near_changes(np.zeros((5, 6), bool)).any()


def test_reduced_cut_from_a_previous_problem_solves_only_near_the_change():
    """A click changes the probability in one corner: solving only near the change gives the labels that
    solving everything gives (to a few voxels), on far fewer candidates; a new hard constraint counts as
    a change; and a problem of another shape is refused."""
    image, prob, fg, bg = _organ_like_problem((48, 64, 64), 0)
    spacing, lam, sigma = (1.5, 0.8, 0.8), 0.5, 0.2
    first = reduced_cut.reduced_graph_cut(image, prob, spacing, fg, bg, lam, sigma)
    # A foreground click's evidence: probability raised around a point of the missed part.
    point = np.argwhere((prob < 0.5) & (image > 0.5))[0]
    dist = np.sqrt((((np.indices(prob.shape).T - point) * spacing) ** 2).sum(-1)).T
    second = np.maximum(prob, np.exp(-dist / 6.0).astype(np.float32))
    fg2 = fg.copy()
    fg2[tuple(point)] = True
    full, all_stats = reduced_cut.reduced_graph_cut(image, second, spacing, fg2, bg, lam, sigma, return_stats=True)
    again, stats = reduced_cut.reduced_graph_cut(image, second, spacing, fg2, bg, lam, sigma,
                                                  previous=(prob, fg, bg, first), return_stats=True)
    assert (again != full).sum() <= 5
    assert stats["candidates"] < 0.6 * all_stats["candidates"]
    assert again[fg2].all() and not again[bg].any()
    # Nothing changed: nothing is solved again. A new hard constraint alone is a change: its
    # neighbourhood is solved again.
    same, stats = reduced_cut.reduced_graph_cut(image, prob, spacing, fg, bg, lam, sigma,
                                                previous=(prob, fg, bg, first), return_stats=True)
    assert stats["candidates"] == 0 and np.array_equal(same, first)
    fg3 = fg.copy()
    fg3[tuple(np.argwhere((first == 0) & (prob > 0.3))[0])] = True
    _, stats = reduced_cut.reduced_graph_cut(image, prob, spacing, fg3, bg, lam, sigma,
                                             previous=(prob, fg, bg, first), return_stats=True)
    assert stats["candidates"] > 0
    with pytest.raises(ValueError, match="previous"):
        reduced_cut.reduced_graph_cut(image, prob, spacing, fg, bg, lam, sigma,
                                      previous=(prob[:-1], fg[:-1], bg[:-1], first[:-1]))


@pytest.mark.parametrize("change", ["up", "down", "mixed"])
def test_reduced_cut_from_a_previous_problem_after_monotone_and_mixed_changes(change):
    """Foreground evidence only (R^f rises, a foreground constraint added), background evidence only, or
    both: the labels match a solve from scratch; the one-sided changes keep the previous labels of
    that side, so fewer voxels are solved again than after the mixed change."""
    image, prob, fg, bg = _organ_like_problem((40, 56, 56), 1)
    spacing, lam, sigma = (1.5, 0.8, 0.8), 0.5, 0.2
    first = reduced_cut.reduced_graph_cut(image, prob, spacing, fg, bg, lam, sigma)
    grid = np.indices(prob.shape).T

    def bump(point):  # 1 at `point`, falling by e^-1 per 5 mm
        return np.exp(-np.sqrt((((grid - point) * spacing) ** 2).sum(-1)).T / 5)

    near_up = bump(np.argwhere((first == 0) & (image > 0.5))[0])
    near_down = bump(np.argwhere((first == 1) & (image < 0.45))[0])
    second = prob.copy()
    if change in ("up", "mixed"):
        second = np.maximum(second, near_up.astype(np.float32))
    if change in ("down", "mixed"):
        second = np.minimum(second, (1 - near_down).astype(np.float32))
    scratch = reduced_cut.reduced_graph_cut(image, second, spacing, fg, bg, lam, sigma)
    again, stats = reduced_cut.reduced_graph_cut(image, second, spacing, fg, bg, lam, sigma,
                                                  previous=(prob, fg, bg, first), return_stats=True)
    assert (again != scratch).sum() <= 5
    side = reduced_cut._monotone_side(second, prob, fg, fg, bg, bg)
    assert side == {"up": 1, "down": 0, "mixed": None}[change]
    if side is not None:  # no voxel that had the favoured label is solved again
        assert stats["candidates"] <= int(((first != side) & (second > 1e-4) & (second < 1 - 1e-4)).sum())


def test_reduced_cut_after_a_softening_of_the_whole_probability():
    """A session's first foreground click softens the CNN's probability below 0.5, its first background click
    above 0.5 too (Segmenter's click_temperature): every voxel's probability changes. The voxels that still
    prefer their label are solved again only around the old boundary: each step's labels match a solve
    from scratch (to a few voxels) on far fewer candidates."""
    from MIDeepSegLib.core.fusion import soften

    image, prob, fg, bg = _organ_like_problem((48, 64, 64), 0)
    spacing, lam, sigma = (1.5, 0.8, 0.8), 0.5, 0.2
    last = (prob, reduced_cut.reduced_graph_cut(image, prob, spacing, fg, bg, lam, sigma))
    for below, above in ((4.0, 1.0), (4.0, 4.0)):
        softened = soften(prob, below, above)
        scratch, all_stats = reduced_cut.reduced_graph_cut(image, softened, spacing, fg, bg, lam, sigma,
                                                           return_stats=True)
        again, stats = reduced_cut.reduced_graph_cut(image, softened, spacing, fg, bg, lam, sigma,
                                                      previous=(last[0], fg, bg, last[1]), return_stats=True)
        assert (again != scratch).sum() <= 5
        assert (scratch != last[1]).sum() > 100  # the softening moved the boundary: there was work to redo
        # Measured: 60 k of 151 k candidates, then 26 k of 158 k.
        assert stats["candidates"] < 0.5 * all_stats["candidates"], (below, above, stats, all_stats)
        last = (softened, again)


def test_mask_boundary_marks_both_sides():
    mask = np.zeros((5, 7), bool)
    mask[1:4, 2:5] = True
    edge = reduced_cut._mask_boundary(mask)
    expected = ndimage.binary_dilation(mask) & ~ndimage.binary_erosion(mask)
    assert np.array_equal(edge, expected)
    assert not reduced_cut._mask_boundary(np.ones((4, 4, 4), bool)).any()
