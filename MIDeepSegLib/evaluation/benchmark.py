"""``mideepseg benchmark``: the paper's experiments with a simulated user, against classical peers.

Every method segments the same cases from the same simulated user:

1. **Interior margin points** (:func:`~MIDeepSegLib.core.simulate.interior_margin_points`,
   drawn from ``numpy.random.default_rng([seed, case index])``): identical for
   every method of a case. MIDeepSeg encodes them as its cue map; the classical
   methods use them as foreground seeds and the border of their relaxed
   bounding box as background (see :mod:`MIDeepSegLib.evaluation.peers`). This is
   interaction 0.
2. **Refinement clicks**, one per interaction, up to ``max_clicks``: each
   method gets its own click, placed by
   :func:`~MIDeepSegLib.core.simulate.refinement_click` at the most interior voxel
   of the largest error region of *that method's* current mask (deterministic).
   A click outside the current region grows it as the
   :class:`~MIDeepSegLib.Segmenter` does (the union with the click's relaxed
   box), for every method.

Recorded after every interaction: Dice, ASSD (mm) and the method's seconds.
NoC@85 / NoC@90 is the number of refinement clicks after which Dice first
reaches 0.85 / 0.90 (0 = the initial result is good enough); a case that
never reaches it within the budget counts as ``max_clicks + 1`` in the mean,
as ``mideepseg validate`` counts it, and the report says how many reached it.

Experiments (2D and 3D reported separately):

* **Table 4 / Fig. 11**: MIDeepSeg (initial CNN + IF-GC refinement) against
  graph cut (Boykov-Jolly), random walker, GeoS and, where ``itk-growcut`` is
  installed, GrowCut.
* **Table 3**: initial CNN result, naive graph cut (GC) and information
  fusion + graph cut (IF-GC) with the same clicks: GC replays the clicks the
  simulated user gave IF-GC (the paper's "same set of clicks"). Without a
  network for a dimension, a *stand-in* probability (the true mask shrunk,
  shifted and blurred) replaces the CNN's so that the refinement machinery is
  still exercised; the report labels it.
* **Table 2**: cue-map encodings, one network per encoding trained with the
  same budget (a mapping encoding -> checkpoint); initial Dice / ASSD and the
  encoding's time. Missing encodings are listed.

Cases: ``"colin27"`` (the real Colin27 T1 MRI with the AAL deep grey
structures and the whole brain, :func:`~MIDeepSegLib.evaluation.validation.colin27_cases`;
3D volumes, and for 2D the slices through each structure's centre along z, y
and x), ``"synthetic"`` (small generated scenes, for CI) or the path of a
folder data set (``imagesTr/`` + ``labelsTr/``, every label's largest
component is one case). Cases are cut to the object's bounding box plus
``context_mm`` (clamped to the image) so that clicks and metrics do not scan
whole volumes; every method only ever looks inside its relaxed box, far
inside that region.
"""

import csv
import json
import platform
import sys
import time
import warnings
from collections import namedtuple
from pathlib import Path

import numpy as np
from scipy import ndimage

from ..core.crop import box_shape, box_union, relaxed_bbox, shift_points
from ..core.metrics import assd, dice
from ..settings import LAM, SIGMA
from ..core.simulate import Click, interior_margin_points, refinement_click

#: One case. ``image``: float32 (H, W) or (D, H, W), array order; ``truth``:
#: bool, image shape, the object; ``spacing``: tuple of float, mm per array
#: axis; ``group``: a label for summaries ("deep grey", "whole brain", ...);
#: ``source``: where it came from (file, structure, slice).
Case = namedtuple("Case", ["name", "image", "truth", "spacing", "group", "source"])

#: Dice thresholds of the NoC columns.
THRESHOLDS = (0.85, 0.90)

#: Display names of the methods (peers' come from :data:`MIDeepSegLib.evaluation.peers.PEER_LABELS`).
METHOD_LABELS = {
    "mideepseg": "MIDeepSeg (IF-GC)",
    "mideepseg_gc": "MIDeepSeg CNN + GC",
    "mideepseg_ifgc_paper": "MIDeepSeg CNN + IF-GC without reach (paper)",
    "standin_ifgc": "stand-in + IF-GC",
    "standin_gc": "stand-in + GC",
    "standin_ifgc_paper": "stand-in + IF-GC without reach (paper)",
}

#: Suffixes of the Table 3 rows that replay IF-GC's clicks instead of placing their own.
REPLAY_SUFFIXES = ("_gc", "_ifgc_paper")

#: Case names and context of the quick mode's Colin27 cases (small structures, small crops).
QUICK_COLIN27 = {2: ("pallidum_L", "amygdala_R"), 3: ("pallidum_L",)}

_CYAN, _GREEN, _RED, _YELLOW = (40, 200, 230), (40, 220, 40), (230, 40, 40), (255, 210, 0)


# -- cases ------------------------------------------------------------------------


def synthetic_cases(dim, count=2, seed=0):
    """Small generated cases: an irregular blob on a textured, noisy background.

    Parameters
    ----------
    dim : {2, 3}
    count : int
        Number of cases.
    seed : int
        Seeds the scenes (independent of the simulated user's seed).

    Returns
    -------
    list of Case
        2D: 64 x 64 at 1 mm; 3D: 20 x 40 x 40 at (2.0, 0.8, 0.8) mm. The
        object is 1.0-1.6 brighter or darker than a background whose texture
        has amplitude ~0.5, with noise of 0.1 (arbitrary units).
    """
    dim = _check_dim(dim)
    shape, spacing = ((64, 64), (1.0, 1.0)) if dim == 2 else ((20, 40, 40), (2.0, 0.8, 0.8))
    cases = []
    for k in range(int(count)):
        rng = np.random.default_rng([int(seed), 1000 + k, dim])
        image, truth = _synthetic_scene(shape, spacing, rng)
        cases.append(Case("synthetic_{}".format(k), image, truth, spacing, "synthetic",
                          "synthetic scene {} (seed {})".format(k, seed)))
    return cases


def _synthetic_scene(shape, spacing, rng):
    grids = [g * s for g, s in zip(np.indices(shape, dtype=np.float64), spacing)]
    extent = np.asarray(shape) * np.asarray(spacing)
    centre = extent * (0.5 + rng.uniform(-0.08, 0.08, len(shape)))
    radii = extent * rng.uniform(0.18, 0.28, len(shape))
    rel = [(g - c) / r for g, c, r in zip(grids, centre, radii)]
    radius = np.sqrt(sum(x ** 2 for x in rel))
    angle = np.arctan2(rel[-2], rel[-1])
    wobble = 1.0 + 0.15 * np.sin(3 * angle + rng.uniform(0, 2 * np.pi))
    truth = radius <= wobble
    texture = ndimage.gaussian_filter(rng.standard_normal(shape), 3.0)
    texture /= texture.std() + 1e-6
    contrast = rng.uniform(1.0, 1.6) * rng.choice([-1.0, 1.0])
    image = 0.5 * texture + contrast * truth
    image = ndimage.gaussian_filter(image, 0.7) + 0.1 * rng.standard_normal(shape)
    return (100.0 * image + 40.0).astype(np.float32), truth


def colin27_benchmark_cases(dim, *, templates_dir=None, structures=None, brain=True, axes=(0, 1, 2),
                            context_mm=32.0, names=None):
    """The Colin27 development cases (real T1 MRI, AAL deep grey structures, whole brain).

    Parameters
    ----------
    dim : {2, 3}
        3: one case per structure (the volume around it); 2: one case per
        structure and axis, the slice through its centre (as ``mideepseg validate``).
    templates_dir : str or os.PathLike, optional
        mricron templates folder (default /usr/share/mricron/templates).
    structures, brain
        See :func:`~MIDeepSegLib.evaluation.validation.colin27_cases`.
    axes : sequence of int
        Slice axes for 2D (0 = z, 1 = y, 2 = x).
    context_mm : float
        Context kept around each object, mm.
    names : sequence of str, optional
        Keep only these cases (e.g. ``"pallidum_L"``; 2D cases keep every axis).

    Returns
    -------
    list of Case
    """
    from ..training.synthesis import MRICRON_TEMPLATES
    from .validation import colin27_cases

    dim = _check_dim(dim)
    image, spacing, truths = colin27_cases(templates_dir or MRICRON_TEMPLATES, structures=structures,
                                           brain=brain)
    if names is not None:
        unknown = sorted(set(names) - set(truths))
        if unknown:
            raise ValueError("names must be among {}, got {}".format(sorted(truths), unknown))
        truths = {k: v for k, v in truths.items() if k in names}
    groups = {k: "whole brain" if k == "brain" else "deep grey" for k in truths}
    return _cases_from_volume(image, spacing, truths, groups, dim, axes, context_mm, "Colin27 ch2.nii.gz")


def folder_cases(root, dim, *, axes=(0, 1, 2), context_mm=32.0, min_voxels=20):
    """Cases from a folder data set (``imagesTr/`` + ``labelsTr/``, read by :class:`.datasets.FolderDataset`).

    Every non-zero label value of every case gives one object, its largest
    connected component (objects under `min_voxels` voxels are skipped). For
    ``dim=2``, 3D cases give the slices through each object's centre along
    `axes`, 2D cases are used as they are; ``dim=3`` skips 2D cases.

    Returns
    -------
    list of Case
    """
    from ..training.datasets import FolderDataset, largest_component

    dim = _check_dim(dim)
    dataset = FolderDataset(root, min_voxels=min_voxels, cache=False)
    cases = []
    for index, (_, label_path) in enumerate(dataset.pairs):
        image, labels, spacing = dataset.load(index)
        if image.ndim < dim:
            continue
        stem = label_path.name.split(".")[0]
        truths, groups = {}, {}
        for value in np.unique(labels):
            if value == 0:
                continue
            truth = largest_component(labels == value)
            if truth.sum() >= min_voxels:
                name = "{}:label{}".format(stem, int(value))
                truths[name], groups[name] = truth, "label {}".format(int(value))
        cases += _cases_from_volume(image, spacing, truths, groups, dim, axes, context_mm, label_path.name)
    if not cases:
        raise ValueError("root: {} holds no {}D object of at least {} voxels".format(root, dim, min_voxels))
    return cases


def load_cases(spec, dim, *, quick=False, templates_dir=None, seed=0, brain=True):
    """The cases named by `spec`: "colin27", "synthetic" or a folder path.

    `brain` (Colin27 only): include the whole-brain case (the largest one by far).

    In quick mode: "colin27" gives the small structures of
    :data:`QUICK_COLIN27` with 10 mm of context (synthetic cases where the
    mricron templates are missing, with a warning); "synthetic" gives 2
    (2D) or 1 (3D) scenes; a folder gives its first 2 (2D) or 1 (3D) cases.
    """
    from ..training.synthesis import MRICRON_TEMPLATES

    dim = _check_dim(dim)
    spec = str(spec)
    if spec == "synthetic":
        return synthetic_cases(dim, count=(2 if dim == 2 else 1) if quick else 4, seed=seed)
    if spec == "colin27":
        templates = Path(templates_dir) if templates_dir else MRICRON_TEMPLATES
        if quick:
            if not templates.is_dir():
                warnings.warn("{} is missing (apt-get install mricron-data): the quick benchmark uses "
                              "synthetic cases".format(templates), stacklevel=2)
                return synthetic_cases(dim, count=2 if dim == 2 else 1, seed=seed)
            return colin27_benchmark_cases(dim, templates_dir=templates, structures=["pallidum", "amygdala"],
                                           brain=False, axes=(0,), context_mm=10.0, names=QUICK_COLIN27[dim])
        return colin27_benchmark_cases(dim, templates_dir=templates, brain=brain)
    if Path(spec).is_dir():
        cases = folder_cases(spec, dim, context_mm=10.0 if quick else 32.0)
        return cases[:2 if dim == 2 else 1] if quick else cases
    raise ValueError("cases must be 'colin27', 'synthetic' or a folder with imagesTr/ and labelsTr/, "
                     "got {!r}".format(spec))


def _cases_from_volume(image, spacing, truths, groups, dim, axes, context_mm, source):
    from ..training.datasets import largest_component
    from .validation import AXIS_NAMES, centre_slices

    cases = []
    for name, truth in truths.items():
        if dim == 3 or image.ndim == 2:
            views = [(name, image, truth, tuple(spacing), source)]
        else:
            views = []
            for axis, index in centre_slices(truth, axes):
                keep = [a for a in range(3) if a != axis]
                views.append(("{} {}={}".format(name, AXIS_NAMES[axis], index), image.take(index, axis=axis),
                              largest_component(truth.take(index, axis=axis)),
                              tuple(spacing[a] for a in keep),
                              "{}, slice {}={}".format(source, AXIS_NAMES[axis], index)))
        for view_name, view_image, view_truth, view_spacing, view_source in views:
            box = _context_box(view_truth, view_spacing, context_mm)
            cases.append(Case(view_name, np.ascontiguousarray(view_image[box], dtype=np.float32),
                              np.ascontiguousarray(view_truth[box]), view_spacing, groups[name], view_source))
    return cases


def _context_box(truth, spacing, context_mm):
    idx = np.argwhere(truth)
    box = []
    for axis, (lo, hi) in enumerate(zip(idx.min(0), idx.max(0))):
        pad = int(np.ceil(context_mm / spacing[axis]))
        box.append(slice(max(int(lo) - pad, 0), min(int(hi) + pad + 1, truth.shape[axis])))
    return tuple(box)


# -- the number of clicks ------------------------------------------------------------


def clicks_to_reach(dices, threshold):
    """Refinement clicks after which Dice first reaches `threshold`.

    Parameters
    ----------
    dices : sequence of float
        Dice after interaction 0 (the interior margin points), 1, 2, ...
    threshold : float

    Returns
    -------
    int or None (never reached).

    Examples
    --------
    >>> clicks_to_reach([0.80, 0.86, 0.91], 0.85), clicks_to_reach([0.80, 0.86, 0.91], 0.95)
    (1, None)
    """
    for k, value in enumerate(dices):
        if value >= threshold:
            return k
    return None


def mean_noc(curves, threshold, max_clicks):
    """Mean number of clicks to reach `threshold` (NoC), and how many curves reach it.

    Parameters
    ----------
    curves : sequence of sequence of float
        One Dice curve per case (see :func:`clicks_to_reach`).
    threshold : float
    max_clicks : int
        The click budget; a curve that never reaches the threshold counts as
        ``max_clicks + 1``.

    Returns
    -------
    (float, int): the mean (NaN without curves) and the number of curves that reach the threshold.

    Examples
    --------
    >>> mean_noc([[0.9], [0.5, 0.88], [0.5, 0.6, 0.7]], 0.85, 2)
    (1.3333333333333333, 2)
    """
    counts = [clicks_to_reach(c, threshold) for c in curves]
    if not counts:
        return float("nan"), 0
    values = [max_clicks + 1 if n is None else n for n in counts]
    return float(np.mean(values)), int(sum(n is not None for n in counts))


# -- one case ----------------------------------------------------------------------


def simulate_clicks(step, truth, spacing, points, box, *, max_clicks, margin_mm, replay=None):
    """Run one method through interaction 0 and up to `max_clicks` refinement clicks.

    Parameters
    ----------
    step : callable
        ``step(fg_points, bg_points, box, k) -> (mask, seconds)``: the method's
        mask (uint8, image shape) from all clicks so far (foreground = the
        interior margin points and the foreground clicks), computed inside
        `box`, at interaction `k`, and the seconds it took.
    truth : bool ndarray
        The object, image shape.
    spacing : tuple of float
        mm per array axis.
    points : (N, ndim) ndarray
        Interior margin points, voxel coordinates, array order.
    box : tuple of slice
        Their relaxed bounding box (the region of interaction 0).
    max_clicks : int
    margin_mm : float
        Margin of the relaxed box a click adds to the region.
    replay : list of Click, optional
        Use these clicks, in order, instead of asking the simulated user.

    Returns
    -------
    (record, final mask)
        record: ``dice``, ``assd`` (None where the mask is empty),
        ``seconds`` (one per interaction, padded with the last Dice/ASSD to
        ``max_clicks + 1`` entries once the mask is perfect or the replayed
        clicks run out; ``seconds`` is not padded), ``clicks``
        (``[[coordinates], foreground]`` each) and ``noc85`` / ``noc90``.
    """
    ndim = truth.ndim
    fg, bg = [], []
    mask, seconds = step(points, np.zeros((0, ndim)), box, 0)
    dices, assds, times, clicks = [dice(mask, truth)], [_assd(mask, truth, spacing)], [seconds], []
    for k in range(1, max_clicks + 1):
        if replay is not None:
            if k > len(replay):
                break
            click = replay[k - 1]
        else:
            click = refinement_click(mask, truth, spacing)
            if click is None:
                break
        box = box_union(box, relaxed_bbox(click.point[None], truth.shape, spacing, margin_mm))
        (fg if click.foreground else bg).append(click.point)
        mask, seconds = step(np.vstack([points] + fg), np.array(bg, dtype=float).reshape(-1, ndim), box, k)
        clicks.append([[float(c) for c in click.point], bool(click.foreground)])
        dices.append(dice(mask, truth))
        assds.append(_assd(mask, truth, spacing))
        times.append(seconds)
    while len(dices) < max_clicks + 1:
        dices.append(dices[-1])
        assds.append(assds[-1])
    record = {"dice": [round(d, 6) for d in dices], "assd": assds, "seconds": [round(t, 5) for t in times],
              "clicks": clicks}
    for threshold in THRESHOLDS:
        record["noc{}".format(int(round(threshold * 100)))] = clicks_to_reach(dices, threshold)
    return record, mask


def _assd(mask, truth, spacing):
    value = assd(mask, truth, spacing)
    return round(value, 5) if np.isfinite(value) else None


def _paste(mask_crop, box, shape):
    out = np.zeros(shape, np.uint8)
    out[box] = mask_crop
    return out


def _peer_step(function, image, spacing):
    def step(fg, bg, box, k):
        tick = time.perf_counter()
        mask = function(image, spacing, fg, bg, box)
        return mask, time.perf_counter() - tick
    return step


def _refine_step(kind, image, spacing, cnn_box, cnn_probability, initial_mask, initial_seconds, *, lam, sigma,
                 device):
    """A probability-based session: the initial mask at k = 0, then GC or IF-GC on the grown region.

    Mirrors :meth:`Segmenter.refine`: the CNN probability is 0 outside the
    CNN's box, the clicks and the interior margin points are the seeds.
    `kind`: "gc", "ifgc" (the Segmenter's, with the clicks' reach) or
    "ifgc_paper" (pure geodesic fusion, no reach).
    """
    from ..core.refinement import click_reaches, refine_gc, refine_ifgc

    def step(fg, bg, box, k):
        if k == 0:
            return _paste(initial_mask, cnn_box, image.shape), initial_seconds
        tick = time.perf_counter()
        crop = np.asarray(image[box], dtype=np.float32)
        probability = np.zeros(box_shape(box), np.float32)
        inner = tuple(slice(c.start - b.start, c.stop - b.start) for c, b in zip(cnn_box, box))
        probability[inner] = cnn_probability
        seeds = (shift_points(fg, box), shift_points(bg, box))
        if kind in ("ifgc", "ifgc_paper"):
            reaches = click_reaches(crop.shape, spacing) if kind == "ifgc" else {}
            result = refine_ifgc(crop, probability, *seeds, spacing, lam=lam, sigma=sigma, device=device,
                                 **reaches)
        else:
            result = refine_gc(crop, probability, *seeds, spacing, lam=lam, sigma=sigma)
        return _paste(result.mask, box, image.shape), time.perf_counter() - tick
    return step


def _segmenter_step(seg, initial):
    """MIDeepSeg's own session: :meth:`Segmenter.refine` with all clicks so far, from the initial state.

    `initial` is the Result of ``seg.initial(points)``; each step drops the
    later history and refines once with every click (the order of clicks
    within one refine does not matter: the fusion uses all of them).
    """
    depth = len(seg._history)

    def step(fg, bg, box, k):
        if k == 0:
            return initial.mask, initial.timings["total"]
        del seg._history[depth:]
        n_points = len(seg._history[-1].points)
        tick = time.perf_counter()
        result = seg.refine(foreground=fg[n_points:] if len(fg) > n_points else None,
                            background=bg if len(bg) else None)
        return result.mask, time.perf_counter() - tick
    return step


def stand_in_probability(truth_crop):
    """A deliberately imperfect stand-in for a CNN's probability: the truth shrunk, shifted and blurred.

    Used only where no network exists for a dimension, so that GC / IF-GC
    and the report are exercised; it derives from the true mask, so its
    figures say nothing about MIDeepSeg.

    Parameters
    ----------
    truth_crop : bool ndarray (h, w) or (d, h, w)
        The object inside the relaxed box.

    Returns
    -------
    float32 ndarray, same shape, in [0.05, 0.95]: the truth eroded by one
    voxel, shifted by 10 % of the crop along the last axis and 5 % along the
    others, blurred (sigma 0.7 voxel).
    """
    truth_crop = np.asarray(truth_crop, dtype=bool)
    shrunk = ndimage.binary_erosion(truth_crop)
    if not shrunk.any():
        shrunk = truth_crop
    shift = [max(1, int(round(0.1 * n))) if a == truth_crop.ndim - 1 else int(round(0.05 * n))
             for a, n in enumerate(truth_crop.shape)]
    moved = ndimage.shift(shrunk.astype(np.float32), shift, order=0, mode="constant")
    # Confident like a trained network's output: 0.95 inside, 0.05 outside, a soft edge.
    return (0.05 + 0.9 * np.clip(ndimage.gaussian_filter(moved, 0.7), 0.0, 1.0)).astype(np.float32)


def run_case(case, rng, *, peer_names, model=None, encoders=None, max_clicks=10, margin_mm=5.0, lam=LAM,
             sigma=SIGMA, device="cpu"):
    """Run every method on one case with the same simulated user.

    Parameters
    ----------
    case : Case
    rng : numpy.random.Generator
        Draws the interior margin points.
    peer_names : sequence of str
        Keys of :data:`MIDeepSegLib.evaluation.peers.PEERS`.
    model : (UNet, ModelConfig), optional
        MIDeepSeg's network for the case's dimension; None: the stand-in.
    encoders : dict of str -> (UNet, ModelConfig), optional
        Table 2's networks (encoding -> network), initial result only.
    max_clicks : int
    margin_mm : float
        Relaxed-box margin (the model's when there is one).
    lam, sigma : float
        Graph-cut parameters of GC / IF-GC (paper: 5 and 0.1).
    device : str

    Returns
    -------
    (record, views)
        record: JSON-compatible results; views: final masks for the overlay
        figure (method -> mask, plus ``"_points"``).
    """
    from .peers import PEERS
    from ..segmenter import Segmenter

    image, truth, spacing = case.image, case.truth, case.spacing
    points = interior_margin_points(truth, rng, spacing)
    box = relaxed_bbox(points, image.shape, spacing, margin_mm)
    record = {"case": case.name, "dim": image.ndim, "group": case.group, "source": case.source,
              "shape": list(image.shape), "spacing": list(spacing), "voxels": int(truth.sum()),
              "points": points.tolist(), "methods": {}, "encodings": {}}
    views = {"_points": points}
    options = dict(max_clicks=max_clicks, margin_mm=margin_mm)

    if model is not None:
        seg = Segmenter(image, spacing, model=model, device=device, lam=lam, sigma=sigma, margin_mm=margin_mm)
        res = seg.initial(points)
        cnn_box, cnn_probability, initial_mask = res.box, res.probability_crop, res.mask_crop
        initial_seconds, prefix = res.timings["total"], "mideepseg"
    else:
        cnn_box = box
        cnn_probability = stand_in_probability(truth[box])
        initial_mask, initial_seconds, prefix = (cnn_probability >= 0.5).astype(np.uint8), 0.0, "standin"
    if model is not None:
        ifgc = _segmenter_step(seg, res)
    else:
        ifgc = _refine_step("ifgc", image, spacing, cnn_box, cnn_probability, initial_mask, initial_seconds,
                            lam=lam, sigma=sigma, device=device)
    key = prefix if prefix == "mideepseg" else prefix + "_ifgc"
    record["methods"][key], views[key] = simulate_clicks(ifgc, truth, spacing, points, cnn_box, **options)
    replay = [Click(np.array(p, dtype=float), fg) for p, fg in record["methods"][key]["clicks"]]
    for kind in ("gc", "ifgc_paper"):
        step = _refine_step(kind, image, spacing, cnn_box, cnn_probability, initial_mask, initial_seconds,
                            lam=lam, sigma=sigma, device=device)
        name = "{}_{}".format(prefix, kind)
        record["methods"][name], views[name] = simulate_clicks(step, truth, spacing, points, cnn_box,
                                                               replay=replay, **options)

    for name in peer_names:
        record["methods"][name], views[name] = simulate_clicks(_peer_step(PEERS[name], image, spacing), truth,
                                                               spacing, points, box, **options)

    for encoding, network in (encoders or {}).items():
        seg = Segmenter(image, spacing, model=network, device=device)
        res = seg.initial(points)
        record["encodings"][encoding] = {"dice": round(dice(res.mask, truth), 6),
                                         "assd": _assd(res.mask, truth, spacing),
                                         "encoding_seconds": round(res.timings["egd"], 5),
                                         "total_seconds": round(res.timings["total"], 5)}
    return record, views


# -- the whole benchmark -------------------------------------------------------------


def run_benchmark(cases="colin27", *, dims=(2, 3), models=None, encoding_models=None, max_clicks=10,
                  quick=False, seed=0, peers=None, templates_dir=None, brain=True, device="auto", lam=LAM,
                  sigma=SIGMA, progress=True, out_dir=None, command=None):
    """Run the benchmark and (optionally) write its outputs.

    Parameters
    ----------
    cases : str
        "colin27", "synthetic" or a folder data set path (see :func:`load_cases`).
    dims : sequence of {2, 3}
        Dimensions to run (2D slices and / or 3D volumes).
    models : dict of int -> (str, path or (UNet, ModelConfig)), optional
        MIDeepSeg's network per dimension ("2d"/"3d" names, checkpoint
        paths or loaded networks). A dimension without one uses the shipped
        model where installed; otherwise its MIDeepSeg rows are skipped (with
        a note) and Table 3 runs on the stand-in probability.
    encoding_models : dict of str -> checkpoint, optional
        Table 2: encoding name -> network trained with that cue map (any
        dimension; each goes to its dimension's table). The main model is
        added under its own encoding.
    max_clicks : int
        Refinement clicks per case (quick mode: at most 2).
    quick : bool
        A few small cases and 2 clicks: checks the machinery in well under a
        minute, not the figures.
    seed : int
        Case k of a dimension uses ``numpy.random.default_rng([seed, dim, k])``.
    peers : sequence of str, optional
        Classical methods to run (default: every installed one, see
        :func:`~MIDeepSegLib.evaluation.peers.available_peers`).
    templates_dir : str, optional
        mricron templates folder.
    brain : bool
        Colin27: include the whole brain (by far the largest case: about
        4 million voxels in 3D, where the graph cut and the random walker
        take tens of seconds per click on a CPU).
    device : str
        Torch device.
    lam, sigma : float
        Graph-cut parameters of MIDeepSeg's GC / IF-GC.
    progress : bool
        Print a progress bar, one line per case, to stderr.
    out_dir : str or os.PathLike, optional
        Write results.json, results.csv, report.md and the PNG figures there.
    command : str, optional
        The command line, recorded in the report.

    Returns
    -------
    dict: ``settings``, ``models``, ``notes``, ``cases`` (one record per case,
    see :func:`run_case`), ``summary`` and ``targets``.
    """
    from .._device import resolve_device
    from .peers import PEERS, available_peers

    if isinstance(max_clicks, bool) or not isinstance(max_clicks, (int, np.integer)) or max_clicks < 0:
        raise ValueError("max_clicks must be an integer >= 0, got {!r}".format(max_clicks))
    dims = sorted({_check_dim(d) for d in dims})
    if not dims:
        raise ValueError("dims must hold 2 and / or 3")
    max_clicks = min(int(max_clicks), 2) if quick else int(max_clicks)
    installed = available_peers()
    if peers is None:
        peer_names = installed
    else:
        unknown = [p for p in peers if p not in PEERS]
        if unknown:
            raise ValueError("peers must be among {}, got {}".format(list(PEERS), unknown))
        peer_names = [p for p in PEERS if p in peers]
    device = resolve_device(device)
    notes = []
    for name in PEERS:
        if name not in installed and (peers is None or name in peers):
            notes.append(_missing_peer_note(name))
    peer_names = [p for p in peer_names if p in installed]

    start = time.perf_counter()
    loaded, model_info = _load_models(models or {}, dims, device, notes)
    encoders, encoder_info = _load_encoders(encoding_models or {}, loaded, model_info, dims, device, notes)
    _warm_up(peer_names, loaded, dims, device)
    records, views = [], []
    for dim in dims:
        dim_cases = load_cases(cases, dim, quick=quick, templates_dir=templates_dir, seed=seed, brain=brain)
        model = loaded.get(dim)
        margin_mm = model[1].margin_mm if model is not None else 5.0
        for k, case in enumerate(dim_cases):
            tick = time.perf_counter()
            rng = np.random.default_rng([int(seed), dim, k])
            record, case_views = run_case(case, rng, peer_names=peer_names, model=model,
                                          encoders=encoders.get(dim), max_clicks=max_clicks,
                                          margin_mm=margin_mm, lam=lam, sigma=sigma, device=device)
            records.append(record)
            views.append((case, case_views))
            if progress:
                _progress(k + 1, len(dim_cases), dim, record, time.perf_counter() - tick)

    settings = {"cases": str(cases), "brain": bool(brain), "dims": dims, "max_clicks": max_clicks,
                "quick": bool(quick), "seed": int(seed),
                "peers": peer_names, "device": str(device), "lam": lam, "sigma": sigma,
                "thresholds": list(THRESHOLDS), "command": command}
    results = {"settings": settings, "models": model_info, "encoding_models": encoder_info, "notes": notes,
               "cases": records}
    results["summary"] = summarise(records, max_clicks)
    results["targets"] = evaluate_targets(results["summary"], dims)
    results["environment"] = {"python": platform.python_version(), "numpy": np.__version__,
                              "machine": platform.machine(),
                              "runtime_seconds": round(time.perf_counter() - start, 1)}
    if out_dir is not None:
        write_outputs(results, out_dir, views=views)
    return results


def _warm_up(peer_names, loaded, dims, device):
    """Run every method once on a tiny scene so that import and first-call costs stay out of the timings."""
    from .peers import PEERS
    from ..segmenter import Segmenter

    for dim in dims:
        case = synthetic_cases(dim, count=1, seed=12345)[0]
        points = interior_margin_points(case.truth, np.random.default_rng(0), case.spacing)
        for name in peer_names:
            PEERS[name](case.image, case.spacing, points, np.zeros((0, dim)), None)
        if dim in loaded:
            Segmenter(case.image, case.spacing, model=loaded[dim], device=device).initial(points)


def _missing_peer_note(name):
    if name == "growcut":
        return ("GrowCut was not run: the itk-growcut package is not installed (pip install itk-growcut; it "
                "brings ITK, about 1.5 GB installed).")
    if name == "random_walker":
        return "The random walker was not run: scikit-image is not installed (pip install scikit-image)."
    return "{} was not run: its dependencies are missing.".format(name)


def _load_models(models, dims, device, notes):
    from ..model.checkpoint import ModelConfig, load_checkpoint, resolve_model

    loaded, info = {}, {}
    for dim in dims:
        spec = models.get(dim)
        shipped = spec is None
        if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], ModelConfig):
            network, config = spec[0].to(device).eval(), spec[1]
            label = "(loaded network)"
        else:
            try:
                path = resolve_model("{}d".format(dim) if shipped else spec)
            except FileNotFoundError:
                if not shipped:
                    raise
                notes.append(
                    "No {0}D MIDeepSeg model: no shipped weights (Resources/Models/mideepseg_{0}d.pt) and "
                    "none was passed (--model{0}d). The {0}D MIDeepSeg rows are skipped; Table 3 runs on a "
                    "stand-in probability (the true mask shrunk, shifted and blurred), which checks the "
                    "refinement machinery, not the network.".format(dim))
                continue
            network, config = load_checkpoint(path, device=device)
            label = str(path)
        if config.spatial_dims != dim:
            raise ValueError("models: the model given for {}D is {}D ({})".format(dim, config.spatial_dims,
                                                                                 label))
        loaded[dim] = (network, config)
        info[str(dim)] = _describe_model(label, config)
    return loaded, info


def _describe_model(label, config):
    training = config.card.get("training") or {}
    return {"checkpoint": label, "encoding": config.encoding, "features": list(config.features),
            "input_size": list(config.input_size), "margin_mm": config.margin_mm,
            "iterations": training.get("iterations_done"),
            "batch_size": training.get("batch_size_per_process"),
            "processes": training.get("processes"), "command": training.get("command")}


def _load_encoders(encoding_models, loaded, model_info, dims, device, notes):
    from ..model.checkpoint import load_checkpoint, resolve_model
    from ..core.cuemap import ENCODINGS

    encoders, info = {dim: {} for dim in dims}, {str(dim): {} for dim in dims}
    for encoding, spec in encoding_models.items():
        if encoding not in ENCODINGS:
            raise ValueError("encoding_models: unknown encoding {!r} (one of {})".format(encoding, ENCODINGS))
        path = resolve_model(spec)
        network, config = load_checkpoint(path, device=device)
        if config.encoding != encoding:
            raise ValueError("encoding_models: {} was trained with the {!r} encoding, not {!r}".format(
                path, config.encoding, encoding))
        if config.spatial_dims not in dims:
            continue
        encoders[config.spatial_dims][encoding] = (network, config)
        info[str(config.spatial_dims)][encoding] = _describe_model(str(path), config)
    for dim, (network, config) in loaded.items():
        if config.encoding not in encoders[dim]:
            encoders[dim][config.encoding] = (network, config)
            info[str(dim)][config.encoding] = dict(model_info[str(dim)])
    for dim in dims:
        missing = [e for e in ENCODINGS if e not in encoders[dim]]
        if missing and encoders[dim]:
            notes.append("Table 2 ({}D): no network for the encoding(s) {}; only {} reported.".format(
                dim, ", ".join(missing), ", ".join(sorted(encoders[dim]))))
        elif not encoders[dim]:
            notes.append("Table 2 ({}D): no network at all, the encoding comparison is not "
                         "evaluated.".format(dim))
        budgets = {e: (i.get("iterations"), i.get("batch_size"), i.get("processes"))
                   for e, i in info[str(dim)].items()}
        if len(set(budgets.values())) > 1:
            notes.append("Table 2 ({}D): the encoding networks were NOT trained with the same budget "
                         "(iterations, batch size, processes): {}.".format(
                             dim, ", ".join("{} {}".format(e, b) for e, b in sorted(budgets.items()))))
    return encoders, info


def _progress(done, total, dim, record, seconds):
    width = 20
    filled = int(round(width * done / max(total, 1)))
    parts = ", ".join("{} {:.2f}->{:.2f}".format(name, m["dice"][0], m["dice"][-1])
                      for name, m in record["methods"].items())
    line = "[{}{}] {}D {}/{} {}: {} ({:.1f} s)".format("#" * filled, "." * (width - filled), dim, done, total,
                                                    record["case"], parts, seconds)
    print(line, file=sys.stderr, flush=True)


# -- summary and targets --------------------------------------------------------------


def summarise(records, max_clicks):
    """Per dimension and method: mean Dice / ASSD after each interaction, NoC, times.

    Returns
    -------
    dict ``{"2": {"methods": {name: {...}}, "encodings": {name: {...}}}, "3": ...}``. Method entries:
    ``cases``; ``dice`` and ``assd`` (lists, entry k the mean after k
    clicks; ASSD over the cases whose mask is not empty); ``empty`` (cases
    with an empty mask at the end); ``noc85``, ``noc90`` (means, see
    :func:`mean_noc`), ``reached85``, ``reached90``; ``initial_seconds``
    and ``refine_seconds`` (mean per interaction; NaN without refinements).
    """
    summary = {}
    for dim in sorted({r["dim"] for r in records}):
        chosen = [r for r in records if r["dim"] == dim]
        methods = {}
        for name in _ordered({n for r in chosen for n in r["methods"]}):
            runs = [r["methods"][name] for r in chosen if name in r["methods"]]
            entry = {"cases": len(runs),
                     "dice": [float(np.mean([m["dice"][k] for m in runs])) for k in range(max_clicks + 1)],
                     "assd": [_mean([m["assd"][k] for m in runs]) for k in range(max_clicks + 1)],
                     "empty": int(sum(m["assd"][-1] is None and m["dice"][-1] < 1 for m in runs))}
            for threshold in THRESHOLDS:
                key = int(round(threshold * 100))
                noc, reached = mean_noc([m["dice"] for m in runs], threshold, max_clicks)
                entry["noc{}".format(key)], entry["reached{}".format(key)] = noc, reached
            entry["initial_seconds"] = float(np.mean([m["seconds"][0] for m in runs]))
            refine = [t for m in runs for t in m["seconds"][1:]]
            entry["refine_seconds"] = float(np.mean(refine)) if refine else float("nan")
            methods[name] = entry
        encodings = {}
        for name in sorted({e for r in chosen for e in r["encodings"]}):
            runs = [r["encodings"][name] for r in chosen if name in r["encodings"]]
            encodings[name] = {"cases": len(runs), "dice": float(np.mean([e["dice"] for e in runs])),
                               "assd": _mean([e["assd"] for e in runs]),
                               "encoding_seconds": float(np.mean([e["encoding_seconds"] for e in runs]))}
        summary[str(dim)] = {"methods": methods, "encodings": encodings}
    return summary


def _mean(values):
    finite = [v for v in values if v is not None]
    return float(np.mean(finite)) if finite else None


def _ordered(names):
    from .peers import PEERS

    order = list(METHOD_LABELS) + list(PEERS)
    return sorted(names, key=lambda n: (order.index(n) if n in order else len(order), n))


def evaluate_targets(summary, dims):
    """Check issue 5's targets (the paper's Tables 2-4 direction) on a summary.

    Targets, per dimension: (1) MIDeepSeg's mean Dice is higher than every
    classical peer's after every number of clicks; (2) its NoC@90 is lower
    than every peer's; (3) EGD's initial Dice is >= every other encoding's;
    (4) IF-GC's mean Dice is >= GC's after every click (on the stand-in
    probability where there is no network, which the detail says).

    Returns
    -------
    list of dict ``{"target", "dim", "status": "met" | "MISSED" | "not evaluated", "detail"}``
    """
    from .peers import PEERS

    out = []
    for dim in dims:
        entry = summary.get(str(dim), {"methods": {}, "encodings": {}})
        methods, encodings = entry["methods"], entry["encodings"]
        peers = [p for p in PEERS if p in methods]

        def add(target, status, detail, dim=dim):
            out.append({"target": target, "dim": dim, "status": status, "detail": detail})

        ours = methods.get("mideepseg")
        t1 = "MIDeepSeg Dice > every classical peer at every click count"
        t2 = "MIDeepSeg NoC@90 < every classical peer"
        if ours is None or not peers:
            why = "no MIDeepSeg model for this dimension" if ours is None else "no classical peer was run"
            add(t1, "not evaluated", why)
            add(t2, "not evaluated", why)
        else:
            losses = ["{} at {} click(s): {:.3f} vs {:.3f}".format(_label(p), k, ours["dice"][k],
                                                                    methods[p]["dice"][k])
                      for p in peers for k in range(len(ours["dice"]))
                      if not ours["dice"][k] > methods[p]["dice"][k]]
            add(t1, "MISSED" if losses else "met",
                ("not higher than " + "; ".join(losses)) if losses else "higher at every click count")
            losses = ["{}: {:.2f} vs {:.2f}".format(_label(p), ours["noc90"], methods[p]["noc90"])
                      for p in peers if not ours["noc90"] < methods[p]["noc90"]]
            detail = "NoC@90 {:.2f}, lower than every peer".format(ours["noc90"])
            add(t2, "MISSED" if losses else "met",
                ("not lower than " + "; ".join(losses)) if losses else detail)

        t3 = "EGD initial Dice >= every other encoding"
        others = [e for e in encodings if e != "egd"]
        if "egd" not in encodings or not others:
            add(t3, "not evaluated", "needs EGD and at least one other encoding's network (have: {})".format(
                ", ".join(sorted(encodings)) or "none"))
        else:
            losses = ["{}: {:.3f} vs EGD {:.3f}".format(e, encodings[e]["dice"], encodings["egd"]["dice"])
                      for e in others if encodings["egd"]["dice"] < encodings[e]["dice"]]
            add(t3, "MISSED" if losses else "met",
                ("EGD lower than " + "; ".join(losses)) if losses else "EGD {:.3f} >= {}".format(
                    encodings["egd"]["dice"], ", ".join(others)))

        t4 = "IF-GC Dice >= GC with the same clicks"
        pair = [("mideepseg", "mideepseg_gc", ""),
                ("standin_ifgc", "standin_gc", " (on the stand-in probability, not the network)")]
        for ifgc, gc, caveat in pair:
            if ifgc in methods and gc in methods:
                a, b = methods[ifgc]["dice"], methods[gc]["dice"]
                losses = ["{} click(s): {:.3f} vs {:.3f}".format(k, a[k], b[k])
                          for k in range(1, len(a)) if a[k] < b[k]]
                if len(a) < 2:
                    add(t4 + caveat, "not evaluated", "no refinement clicks were simulated")
                else:
                    detail = "IF-GC lower after " + "; ".join(losses) if losses else \
                        "IF-GC >= GC after every click"
                    add(t4 + caveat, "MISSED" if losses else "met", detail)
                break
        else:
            add(t4, "not evaluated", "GC / IF-GC were not run")
    return out


# -- outputs ----------------------------------------------------------------------


def _label(name):
    from .peers import PEER_LABELS

    return METHOD_LABELS.get(name) or PEER_LABELS.get(name, name)


def write_outputs(results, out_dir, *, views=None):
    """Write results.json, results.csv, report.md and the PNG figures to `out_dir`; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "results.json", out / "results.csv", out / "report.md"]
    (out / "results.json").write_text(json.dumps(_json_ready(results), indent=1, allow_nan=False))
    _write_csv(results, out / "results.csv")
    figures = write_figures(results, out, views=views)
    (out / "report.md").write_text(markdown_report(results, figures))
    return written + [out / f for f in sorted(set(f for d in figures.values() for f in d.values()))]


def _json_ready(value):
    """Replace NaN / inf by None (strict JSON) and numpy scalars by Python ones."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value


def _write_csv(results, path):
    with open(str(path), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["dim", "case", "group", "method", "clicks", "dice", "assd_mm", "seconds",
                         "click_kind", "click_position"])
        for record in results["cases"]:
            for name, run in record["methods"].items():
                for k, value in enumerate(run["dice"]):
                    click = run["clicks"][k - 1] if 0 < k <= len(run["clicks"]) else None
                    writer.writerow([record["dim"], record["case"], record["group"], name, k, value,
                                     "" if run["assd"][k] is None else run["assd"][k],
                                     run["seconds"][k] if k < len(run["seconds"]) else "",
                                     "" if click is None else ("foreground" if click[1] else "background"),
                                     "" if click is None else " ".join("{:g}".format(c) for c in click[0])])
            for name, run in record["encodings"].items():
                writer.writerow([record["dim"], record["case"], record["group"], "encoding:" + name, 0,
                                 run["dice"], "" if run["assd"] is None else run["assd"],
                                 run["total_seconds"], "", ""])


def _interactive(methods):
    """Methods that place their own clicks (Table 4 / the plots): everything but the Table 3 replays."""
    return [m for m in methods if not m.endswith(REPLAY_SUFFIXES)]


def write_figures(results, out_dir, *, views=None):
    """Dice-vs-clicks plot, clicks-needed histogram and overlay grid per dimension.

    Returns
    -------
    dict ``{dim: {kind: file name}}`` (dim as a string, "2" / "3").
    """
    from .charts import bar_chart, line_chart
    from .visualise import write_png

    out = Path(out_dir)
    figures = {}
    k_max = results["settings"]["max_clicks"]
    for dim, entry in results["summary"].items():
        methods = entry["methods"]
        names = _interactive(methods)
        if not names:
            continue
        files = {}
        lowest = min(min(methods[n]["dice"]) for n in names)
        chart = line_chart([(_label(n), methods[n]["dice"]) for n in names], list(range(k_max + 1)),
                           title="{}D: mean Dice vs refinement clicks ({} cases)".format(
                               dim, methods[names[0]]["cases"]),
                           x_label="refinement clicks", y_label="Dice",
                           y_range=(max(0.0, np.floor(lowest * 10) / 10), 1.0))
        files["dice_vs_clicks"] = "dice_vs_clicks_{}d.png".format(dim)
        write_png(out / files["dice_vs_clicks"], chart)

        categories = [str(k) for k in range(k_max + 1)] + [">{}".format(k_max)]
        series = []
        for name in names:
            counts = np.zeros(len(categories))
            for record in results["cases"]:
                if str(record["dim"]) == dim and name in record["methods"]:
                    n = record["methods"][name]["noc90"]
                    counts[k_max + 1 if n is None else n] += 1
            series.append((_label(name), counts))
        chart = bar_chart(categories, series, title="{}D: refinement clicks to reach Dice 0.90".format(dim),
                          x_label="refinement clicks", y_label="cases")
        files["clicks_needed"] = "clicks_needed_{}d.png".format(dim)
        write_png(out / files["clicks_needed"], chart)

        if views:
            chosen = [(c, v) for c, v in views if str(c.image.ndim) == dim]
            if chosen:
                files["overlays"] = "overlays_{}d.png".format(dim)
                write_png(out / files["overlays"], overlay_grid(chosen, names, results, int(dim)))
        figures[dim] = files
    return figures


def overlay_grid(chosen, names, results, dim, *, max_rows=6, panel=128):
    """Example overlays: one row per case (evenly chosen), one column per method, final masks.

    Each panel is the object's slice (3D: the axial slice through its centre)
    around the object, resized to `panel` pixels, with the true outline in
    cyan, the method's final mask outlined in green, interior margin points
    in yellow, foreground clicks green and background clicks red (those on
    the slice), and the method's final Dice below it.
    """
    from .charts import draw_text
    from .visualise import draw_outline, draw_points, to_rgb

    if len(chosen) > max_rows:
        picks = np.unique(np.linspace(0, len(chosen) - 1, max_rows).round().astype(int))
        chosen = [chosen[i] for i in picks]
    records = {(r["dim"], r["case"]): r for r in results["cases"]}
    column_titles = ["image + truth"] + [_label(n) for n in names]
    top = np.full((16, (panel + 4) * len(column_titles), 3), 255, np.uint8)
    for j, title in enumerate(column_titles):
        draw_text(top, title[:21], 4, j * (panel + 4) + 2)
    rows = [top]
    for case, case_views in chosen:
        record = records[(dim, case.name)]
        image, truth, index = case.image, case.truth, None
        if dim == 3:
            filled = np.flatnonzero(truth.any(axis=(1, 2)))
            index = int(filled[np.argmin(np.abs(filled - np.argwhere(truth)[:, 0].mean()))])
            image, truth = image[index], truth[index]
        region = _view_box(truth)
        view = (region, index) + _fit_indices(box_shape(region), panel, case.spacing[-2:])

        def fit(array, view=view):
            return array[view[0]][view[2]][:, view[3]]

        def on_panel(points, view=view):
            return _points_on_panel(points, *view)

        base, truth_view = to_rgb(fit(image)), fit(truth)
        label_strip = np.full((18, top.shape[1], 3), 255, np.uint8)
        label_strip[1] = (200, 200, 200)
        draw_text(label_strip, "{} ({})".format(case.name, case.group)[:60], 7, 2)
        panels = [draw_points(draw_outline(base.copy(), truth_view, _CYAN), on_panel(case_views["_points"]),
                              _YELLOW, radius=2)]
        for name in names:
            rgb = base.copy()
            if case_views.get(name) is not None:
                mask = case_views[name][index] if dim == 3 else case_views[name]
                draw_outline(rgb, truth_view, _CYAN)
                draw_outline(rgb, fit(mask), _GREEN)
                clicks = record["methods"][name]["clicks"]
                draw_points(rgb, on_panel(case_views["_points"]), _YELLOW, radius=2)
                draw_points(rgb, on_panel([p for p, f in clicks if f]), _GREEN, radius=2)
                draw_points(rgb, on_panel([p for p, f in clicks if not f]), _RED, radius=2)
            panels.append(rgb)
        strip = np.full((panel + 12, top.shape[1], 3), 255, np.uint8)
        for j, rgb in enumerate(panels):
            strip[:rgb.shape[0], j * (panel + 4):j * (panel + 4) + rgb.shape[1]] = rgb
            if j > 0 and names[j - 1] in record["methods"]:
                draw_text(strip, "DICE {:.3f}".format(record["methods"][names[j - 1]]["dice"][-1]), panel + 3,
                          j * (panel + 4) + 2)
        rows += [label_strip, strip]
    return np.concatenate(rows, axis=0)


def _view_box(truth2d):
    idx = np.argwhere(truth2d)
    box = []
    for axis, (lo, hi) in enumerate(zip(idx.min(0), idx.max(0))):
        pad = int(0.35 * (hi - lo + 1)) + 4
        box.append(slice(max(int(lo) - pad, 0), min(int(hi) + pad + 1, truth2d.shape[axis])))
    return tuple(box)


def _on_slice(points, index, region):
    """Points (N, ndim) on the shown slice, as (M, 2) coordinates relative to `region`."""
    points = np.asarray(points, dtype=float).reshape(-1, len(region) + (0 if index is None else 1))
    if index is not None:
        points = points[np.abs(points[:, 0] - index) <= 0.5][:, 1:]
    corner = np.array([s.start for s in region], dtype=float)
    return points - corner


def _points_on_panel(points, region, index, rows, cols):
    """Points (N, ndim) on the shown slice, in the pixel coordinates of the resized panel."""
    local = _on_slice(points, index, region)
    scale = np.array([len(rows), len(cols)], float) / np.asarray(box_shape(region), float)
    return (local + 0.5) * scale - 0.5


def _fit_indices(shape, size, spacing2d):
    """Row and column indices (nearest) resizing `shape` so that its longer physical side spans `size`."""
    extent = np.asarray(shape, dtype=float) * np.asarray(spacing2d, dtype=float)
    out = np.maximum(1, np.round(extent / extent.max() * size).astype(int))
    rows = np.minimum((np.arange(out[0]) + 0.5) * shape[0] / out[0], shape[0] - 1).astype(int)
    cols = np.minimum((np.arange(out[1]) + 0.5) * shape[1] / out[1], shape[1] - 1).astype(int)
    return rows, cols


def _reported_clicks(max_clicks):
    return [k for k in (0, 1, 3, 5, 10, 20) if k < max_clicks] + [max_clicks]


def _fmt(value, digits=3):
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return "{:.{}f}".format(value, digits)


def _click_label(k):
    return "initial" if k == 0 else "+{}".format(k)


_PROTOCOL = (
    "One simulated user for every method (`core/simulate.py`). Interaction 0: the same interior margin "
    "points for every method of a case (seeded); MIDeepSeg encodes them as its cue map, the classical "
    "methods take them as foreground seeds and the border of their relaxed bounding box (margin {margin} mm) "
    "as background. Each refinement click goes to the most interior voxel of the largest error region of "
    "*that method's* current mask. NoC@85 / NoC@90: refinement clicks until Dice first reaches 0.85 / 0.90 "
    "(0: the initial result does); a case that never does counts as {penalty} (budget + 1). Time: seconds "
    "per interaction (initial, then mean per refinement click). Table 3's GC and the paper's IF-GC (pure "
    "geodesic fusion, no reach) replay the clicks the user gave our IF-GC (the paper's \"same set "
    "of clicks\").")


def markdown_report(results, figures=None):
    """The Markdown report of :func:`run_benchmark` results (figures: from :func:`write_figures`)."""
    settings = results["settings"]
    figures = figures or {}
    lines = _report_header(results)
    for dim in [str(d) for d in settings["dims"]]:
        if dim in results["summary"]:
            lines += _report_dimension(results, dim, figures.get(dim, {}))
    return "\n".join(lines) + "\n"


def _report_header(results):
    settings, env = results["settings"], results.get("environment", {})
    k_max = settings["max_clicks"]
    lines = ["# MIDeepSeg benchmark", ""]
    if settings.get("quick"):
        lines += ["> **Quick mode**: a few small cases and {} clicks, to check the machinery. These numbers "
                  "are not the benchmark's figures.".format(k_max), ""]
    dims = ", ".join("{}D".format(d) for d in settings["dims"])
    lines.append("Cases: `{}`; dimensions: {}; refinement clicks: {}; seed: {}; device: {}; runtime: {} s "
                 "(Python {}, numpy {}, {}).".format(settings["cases"], dims, k_max, settings["seed"],
                                                     settings["device"], env.get("runtime_seconds", "?"),
                                                     env.get("python", "?"), env.get("numpy", "?"),
                                                     env.get("machine", "?")))
    if settings.get("command"):
        lines += ["", "Command: `{}`".format(settings["command"])]
    lines += ["", "## Protocol", "", _PROTOCOL.format(margin=_margin_text(results), penalty=k_max + 1), ""]
    lines += ["## Targets", "", "| target | dim | status | detail |", "|---|---|---|---|"]
    for t in results["targets"]:
        status = "**MISSED**" if t["status"] == "MISSED" else t["status"]
        lines.append("| {} | {}D | {} | {} |".format(t["target"], t["dim"], status,
                                                     t["detail"].replace("|", "/")))
    missed = [t for t in results["targets"] if t["status"] == "MISSED"]
    lines.append("")
    if missed:
        lines.append("**{} target(s) missed.** The tables below show by how much.".format(len(missed)))
    else:
        lines.append("No evaluated target was missed.")
    if results["notes"]:
        lines += ["", "## Notes", ""] + ["- " + n for n in results["notes"]]
    if results.get("models"):
        lines += ["", "## Models", "", "| dim | checkpoint | encoding | iterations | batch x processes |",
                  "|---|---|---|---|---|"]
        for dim, m in sorted(results["models"].items()):
            budget = [("-" if v is None else v) for v in (m["iterations"], m["batch_size"], m["processes"])]
            lines.append("| {}D | `{}` | {} | {} | {} x {} |".format(dim, m["checkpoint"], m["encoding"],
                                                                   *budget))
    return lines


def _report_dimension(results, dim, figures):
    k_max = results["settings"]["max_clicks"]
    ks = _reported_clicks(k_max)
    methods = results["summary"][dim]["methods"]
    n_cases = max([m["cases"] for m in methods.values()] + [0])
    lines = ["", "## {}D ({} cases)".format(dim, n_cases), "",
             "### Table 4 / Fig. 11: MIDeepSeg vs classical interactive methods", ""]
    lines += _method_table(methods, _interactive(methods), ks, k_max)
    for kind, caption in (("dice_vs_clicks", "Mean Dice vs refinement clicks"),
                          ("clicks_needed", "Refinement clicks needed to reach Dice 0.90 (Fig. 8)")):
        if kind in figures:
            lines += ["", "![{}]({})".format(caption, figures[kind])]
    lines += ["", "### Table 3: refinement with the same clicks", ""] + _table3(methods, dim, ks, k_max)
    lines += ["", "### Table 2: cue-map encodings (initial result)", ""] + _table2(results, dim)
    if "overlays" in figures:
        lines += ["", "### Examples (final masks)", "",
                  "Cyan: truth; green: the method's mask; yellow: interior margin points; green / red "
                  "squares: foreground / background clicks on the shown slice.", "",
                  "![Example overlays]({})".format(figures["overlays"])]
    lines += ["", "### Per case: Dice initial -> after {} clicks (NoC@90)".format(k_max), ""]
    names = _ordered(methods)
    lines += ["| case | group | " + " | ".join(_label(n) for n in names) + " |",
              "|---|---|" + "---|" * len(names)]
    for record in results["cases"]:
        if str(record["dim"]) != dim:
            continue
        cells = []
        for n in names:
            run = record["methods"].get(n)
            if run is None:
                cells.append("-")
                continue
            noc = run["noc90"] if run["noc90"] is not None else ">{}".format(k_max)
            cells.append("{:.3f} -> {:.3f} ({})".format(run["dice"][0], run["dice"][-1], noc))
        lines.append("| {} | {} | {} |".format(record["case"], record["group"], " | ".join(cells)))
    return lines


def _table3(methods, dim, ks, k_max):
    ifgc, gc = ("mideepseg", "mideepseg_gc") if "mideepseg" in methods else ("standin_ifgc", "standin_gc")
    if ifgc not in methods:
        return ["Not run."]
    lines = []
    if ifgc == "standin_ifgc":
        lines += ["*No {}D network: the initial probability is a stand-in (the true mask shrunk, shifted and "
                  "blurred). This checks GC / IF-GC, not MIDeepSeg.*".format(dim), ""]
    head = ["method"] + ["Dice {}".format(_click_label(k)) for k in ks] + \
           ["ASSD {} (mm)".format(_click_label(k)) for k in (0, k_max)]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    first = methods[ifgc]
    cells = [_fmt(first["dice"][0])] + ["-"] * (len(ks) - 1) + [_fmt(first["assd"][0], 2), "-"]
    source = "CNN" if ifgc == "mideepseg" else "stand-in"
    lines.append("| initial ({}) | {} |".format(source, " | ".join(cells)))
    rows = ((gc, "GC"), (ifgc + "_paper" if ifgc == "standin_ifgc" else "mideepseg_ifgc_paper",
                         "IF-GC, pure geodesic fusion (paper)"), (ifgc, "IF-GC with the clicks' reach (ours)"))
    for name, short in rows:
        if name not in methods:
            continue
        m = methods[name]
        cells = [_fmt(m["dice"][k]) for k in ks] + [_fmt(m["assd"][0], 2), _fmt(m["assd"][k_max], 2)]
        lines.append("| {} | {} |".format(short, " | ".join(cells)))
    return lines


def _table2(results, dim):
    from ..core.cuemap import ENCODINGS

    encodings = results["summary"][dim]["encodings"]
    if not encodings:
        return ["Not evaluated: no network for this dimension (pass one checkpoint per encoding)."]
    info = results.get("encoding_models", {}).get(dim, {})
    lines = ["| encoding | checkpoint | Dice | ASSD (mm) | encoding time (s) |", "|---|---|---|---|---|"]
    for name, e in encodings.items():
        lines.append("| {} | `{}` | {} | {} | {} |".format(
            name, info.get(name, {}).get("checkpoint", "?"), _fmt(e["dice"]), _fmt(e["assd"], 2),
            _fmt(e["encoding_seconds"], 4)))
    missing = [e for e in ENCODINGS if e not in encodings]
    if missing:
        lines += ["", "Missing (no network trained with them): {}.".format(", ".join(missing))]
    return lines


def _margin_text(results):
    margins = {m.get("margin_mm") for m in results.get("models", {}).values()}
    return "5" if not margins else "/".join("{:g}".format(m) for m in sorted(margins))


def _method_table(methods, names, ks, k_max):
    head = ["method"] + ["Dice {}".format(_click_label(k)) for k in ks] + \
           ["ASSD {} (mm)".format(_click_label(k)) for k in (0, k_max)] + \
           ["NoC@85", "NoC@90", "s initial", "s / click"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in names:
        m = methods[name]
        cells = [_label(name)] + [_fmt(m["dice"][k]) for k in ks]
        cells += [_fmt(m["assd"][0], 2), _fmt(m["assd"][k_max], 2)]
        cells += ["{} ({}/{})".format(_fmt(m["noc85"], 2), m["reached85"], m["cases"]),
                  "{} ({}/{})".format(_fmt(m["noc90"], 2), m["reached90"], m["cases"]),
                  _fmt(m["initial_seconds"], 3), _fmt(m["refine_seconds"], 3)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _check_dim(dim):
    if isinstance(dim, bool) or dim not in (2, 3):
        raise ValueError("dim must be 2 or 3, got {!r}".format(dim))
    return int(dim)
