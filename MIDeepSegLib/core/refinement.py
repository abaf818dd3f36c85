"""Refinement of a probability map with clicks: IF-GC and the plain GC baseline.

IF-GC (paper Section 2.4): geodesic distances to the foreground and to the
background clicks, information fusion with the CNN's probability (Eq. 3-7),
then a graph cut with the clicks as hard constraints (Eq. 8-11). GC, the
paper's baseline in Table 3, skips the fusion: the graph cut runs on the CNN's
probability with the same hard constraints.

Both work on whatever region they are given; the Segmenter passes the crop.

The values the session uses (distance scale, reaches, lam, sigma) live in
:mod:`MIDeepSegLib.settings`. Why each mechanism exists (the distance scale,
the foreground and background clicks' reach) and what was measured when it
was introduced: docs/refinement-settings.md.
"""

import time
from collections import namedtuple

import numpy as np
from scipy import ndimage

from .._checks import check_image, check_points, check_probability, check_spacing, points_to_mask
from .cuemap import DEFAULT_ITERATIONS
from .fusion import information_fusion
from .geodesic import COARSE_MIN_VOXELS, CoarseGrid, StepCosts, geodesic_distances
from .graphcut import graph_cut
from .reduced_cut import reduced_graph_cut
from .intensity import rescale_unit
from ..settings import (BACKGROUND_REACH_FRACTION, DISTANCE_SCALE, PAPER_LAM, PAPER_SIGMA, REACH_FRACTION,
                        for_dimension)

#: ``mask`` uint8, ``probability`` float32 (the map the graph cut used), ``timings`` dict of seconds.
Refinement = namedtuple("Refinement", ["mask", "probability", "timings"])


def refine_ifgc(image, probability, foreground, background, spacing=None, *, lam=PAPER_LAM, sigma=PAPER_SIGMA,
                iterations="default", device=None, connectivity=None, backend="scipy",
                distance_scale=DISTANCE_SCALE, reach_mm=None, background_reach_mm=None, anchors=None,
                anchor_reach_mm=None, smoothing=0.0, exact=False, cache=None):
    """Information fusion + graph cut.

    Parameters
    ----------
    image : (H, W) or (D, H, W) array_like
        Intensities of the region, array order (rescaled to [0, 1] here).
    probability : float array_like, image shape
        The CNN's foreground probability P^f.
    foreground, background : (N, ndim) array_like
        Click positions (voxel coordinates, array order). Foreground should
        include the interior margin points: the paper computes E^f from them
        together with the refinement clicks. Either may be empty.
    spacing : sequence of float, optional
        mm per array axis.
    lam, sigma : float
        Graph-cut weight and contrast scale (default: the paper's 5 and 0.1, settings.PAPER_LAM and
        PAPER_SIGMA; the session uses settings.LAM and SIGMA).
    iterations : int, None or "default"
        Geodesic sweep iterations (see :mod:`MIDeepSegLib.core.cuemap`).
    device : str, optional
        Torch device for the geodesic distances.
    connectivity, backend
        Passed to :func:`~MIDeepSegLib.core.graphcut.graph_cut`.
    distance_scale : float > 0 or dict
        The fusion's distances are measured on the crop rescaled to
        [0, distance_scale] (see the module notes); a dict gives it per
        dimension (default: the settings' value for the image's).
    reach_mm : float > 0 or (N,) array_like of them, optional
        Adds min over the foreground clicks i of (Euclidean distance to click
        i in mm) / reach_i to D^f, so the foreground seeds' weight decays with
        distance even across homogeneous tissue (see the module notes). One
        value for every click, or one per click, in the order of
        `foreground` (the Segmenter lets a click far from the current mask
        reach further: :func:`click_clearance_mm`). None: the paper's pure
        geodesic distances.
    background_reach_mm : float > 0 or (M,) array_like of them, optional
        The same for the background clicks and D^b.
    anchors : (M, ndim) array_like, optional
        More foreground seeds with their own reach, `anchor_reach_mm` (one float; the
        Segmenter passes the interior margin points here: they lie all
        around the object, so they may reach further than a click). D^f is
        then the geodesic distance to all foreground seeds plus the smaller
        of the two Euclidean terms (a group without a reach adds 0).
    smoothing : float >= 0
        Gaussian sigma, in voxels along every axis, applied to the rescaled
        region before the geodesic distances and the graph cut see it (0: none,
        as in the paper). See :func:`region_intensities`.
    exact : bool
        False (default): the graph cut is solved only where the labelling is
        in doubt (:func:`~MIDeepSegLib.core.reduced_cut.reduced_graph_cut`, the same
        minimum of Eq. 8), and with `cache`, only near what changed since
        the last call (its `previous`, not the exact minimum any more) and
        with the earlier seeds' distance maps reused. True: the full-region max-flow
        of :func:`~MIDeepSegLib.core.graphcut.graph_cut` and full-resolution
        geodesic distances, recomputed for every seed (the reference the
        benchmarks compare with). ``backend="simplecrf"`` always solves the
        full region.
    cache : dict, optional
        Kept by the caller between calls on the *same* image region (the
        Segmenter keeps one per working region). It holds the rescaled image
        and its geodesic step costs (float16, :class:`~MIDeepSegLib.core.geodesic.StepCosts`),
        the last graph cut (problem and labels), and, per kind of seed, the
        seeds' geodesic distance and reach term maps: the distance to a set of seeds is the minimum of the distances
        to its parts (also for a fixed number of sweeps: every sweep path
        starts at one seed), so a call with one more click computes the
        distances from the new click only. Ignored when `exact`.
        On a region of more than ``geodesic.COARSE_MIN_VOXELS`` voxels the
        seeds' geodesic maps come from a grid subsampled by 2 along the finely
        sampled axes (:class:`~MIDeepSegLib.core.geodesic.CoarseGrid`:
        full-resolution distances in a box around each seed, interpolated
        coarse ones beyond): an approximation, measured against `exact` on the
        benchmark's organ-sized cases (Dice between the masks >= 0.997 at every
        step, docs/latency.md). Smaller regions keep the full-resolution maps.

    Returns
    -------
    Refinement(mask, probability=R^f, timings={"geodesic", "fusion", "graphcut"})
    """
    image, probability, fg, bg, spacing = _prepare(image, probability, foreground, background, spacing)
    anchors = check_points(anchors, image.shape, name="anchors")
    anchor = points_to_mask(anchors, image.shape)
    distance_scale = for_dimension(distance_scale, image.ndim)
    if (anchor & bg).any():
        raise ValueError("an interior margin point (anchor) and a background click fall on the same voxel {}".format(
            tuple(int(i) for i in np.argwhere(anchor & bg)[0])))
    if not distance_scale > 0:
        raise ValueError("distance_scale must be > 0, got {}".format(distance_scale))
    # kind -> (seed voxels (N, ndim), reach per seed in mm or None)
    seeds = {kind: (_voxels(points, image.shape), _per_seed(reach, len(points), name))
             for kind, points, reach, name in (
                 ("anchor", anchors, anchor_reach_mm, "anchor_reach_mm"),
                 ("fg", check_points(foreground, image.shape), reach_mm, "reach_mm"),
                 ("bg", check_points(background, image.shape), background_reach_mm, "background_reach_mm"))}
    timings = {}
    start = time.perf_counter()
    if iterations == "default":
        iterations = DEFAULT_ITERATIONS[image.ndim]
    if exact or cache is None:
        cache = {}
    unit = _region_cache(image, spacing, iterations, device, cache, smoothing)
    if exact:
        maps = _exact_seed_distances(unit, seeds, spacing, iterations, device)
    else:
        maps = _seed_distances(unit, seeds, spacing, iterations, device, cache)
    dist_fg = dist_bg = np.inf
    parts = [maps[kind] for kind in ("fg", "anchor") if kind in maps]
    if parts:
        dist_fg = _combine_foreground(parts, distance_scale)
    if "bg" in maps:
        dist_bg = _combine(maps["bg"], distance_scale)
    timings["geodesic"] = time.perf_counter() - start

    start = time.perf_counter()
    fused = information_fusion(probability, dist_fg, dist_bg)
    timings["fusion"] = time.perf_counter() - start

    start = time.perf_counter()
    fg = fg | anchor  # the anchors are hard constraints like the foreground clicks
    if exact or backend != "scipy":
        mask = graph_cut(unit, fused, spacing, fg, bg, lam=lam, sigma=sigma, connectivity=connectivity,
                         backend=backend)
    else:
        # The last cut on this region: only what this call changed is solved again (reduced_graph_cut's
        # `previous`); its settings must be the same.
        settings = (lam, sigma, connectivity)
        last = cache.get("cut")
        previous = last[1] if last is not None and last[0] == settings else None
        mask = reduced_graph_cut(unit, fused, spacing, fg, bg, lam=lam, sigma=sigma, connectivity=connectivity,
                                 previous=previous)
        cache["cut"] = (settings, (fused.copy(), fg, bg, mask.copy()))
    timings["graphcut"] = time.perf_counter() - start
    return Refinement(mask, fused, timings)


def prepare_cache(image, foreground, spacing=None, *, reach_mm=None, iterations="default", device=None,
                  smoothing=0.0, cache):
    """Fill `cache` for :func:`refine_ifgc` with the anchors' distance maps ahead of the clicks.

    The Segmenter calls this in its initial step with the interior margin
    points (the `anchors` of every later refinement of the same region), so
    that a foreground click computes only its own distances, in a box around
    it.

    Parameters
    ----------
    image : (H, W) or (D, H, W) array_like
        The region's intensities (the same array refine_ifgc will get).
    foreground : (N, ndim) array_like
        The seeds, voxel coordinates in the region, array order.
    reach_mm : float > 0, optional
        Their reach (the `anchor_reach_mm` refine_ifgc will get).
    smoothing : float >= 0
        As in :func:`refine_ifgc` (the value its calls will pass).
    cache : dict
        Filled in place (cleared first if it belongs to another region).
    """
    image = check_image(image)
    spacing = check_spacing(spacing, image.ndim)
    points = _voxels(check_points(foreground, image.shape, name="foreground"), image.shape)
    if iterations == "default":
        iterations = DEFAULT_ITERATIONS[image.ndim]
    unit = _region_cache(image, spacing, iterations, device, cache, smoothing)
    _seed_distances(unit, {"anchor": (points, _per_seed(reach_mm, len(points), "reach_mm"))}, spacing,
                    iterations, device, cache)


def region_intensities(image, smoothing=0.0):
    """The region as the geodesic distances and the graph cut see it: rescaled to [0, 1], then smoothed.

    Parameters
    ----------
    image : (H, W) or (D, H, W) array_like
    smoothing : float >= 0
        Gaussian sigma, voxels along every axis (0: none).

    Returns
    -------
    float32 ndarray, image shape.

    Why smooth: a geodesic path (Eq. 2) pays the intensity change of every
    step, so across a large organ on a noisy CT the noise summed along the
    path outweighs the one step over the organ's boundary, and the distances
    say little about where the organ ends. A sigma of 0.7 voxel divides the
    noise's step changes by about 2 (3D) and blurs an edge by less than a
    voxel; on the organ tuning set it raised Dice at every click count in 2D
    and 3D (docs/benchmark/organs/tuning.md). Sessions use it in 2D only
    (settings.SMOOTHING_VOX): in 3D it widened the graph cut's doubt layer
    threefold on organ-sized regions (docs/latency.md).
    """
    if not smoothing >= 0:
        raise ValueError("smoothing must be a Gaussian sigma >= 0 (voxels), got {}".format(smoothing))
    unit = rescale_unit(image)
    if smoothing > 0:
        unit = ndimage.gaussian_filter(unit, float(smoothing))
    return unit


def _region_cache(image, spacing, iterations, device, cache, smoothing):
    """Make `cache` belong to this region and settings (cleared if it did not); returns the region's
    intensities (:func:`region_intensities`)."""
    key = (image.shape, spacing, iterations, str(device), float(smoothing))
    if cache.get("key") != key:
        cache.clear()
        cache["key"] = key
    if "unit" not in cache:
        cache["unit"] = region_intensities(image, smoothing)
    return cache["unit"]


def _voxels(points, shape):
    """(N, ndim) float voxel coordinates -> the nearest voxels, (N, ndim) intp (as points_to_mask rounds)."""
    return np.clip(np.rint(points).astype(np.intp), 0, np.asarray(shape) - 1).reshape(-1, len(shape))


def _per_seed(reach, count, name):
    """A reach (None, one float or one per seed) as None or a float64 array of `count` values > 0."""
    if reach is None:
        return None
    values = np.asarray(reach, dtype=float)
    if not (values > 0).all():  # also refuses NaN
        raise ValueError("{} must be > 0 or None, got {}".format(name, values[~(values > 0)].ravel()[0]))
    if values.ndim == 0:
        values = np.full(count, float(values))
    if values.shape != (count,):
        raise ValueError("{} must be one value or one per seed ({}), got shape {}".format(name, count, values.shape))
    return values


def _seed_keys(points, reaches):
    """The seeds of one kind as (voxel tuple, reach or None), in their order: what the cache compares."""
    return [(tuple(int(c) for c in p), None if reaches is None else float(r))
            for p, r in zip(points, [None] * len(points) if reaches is None else reaches)]


def _exact_seed_distances(unit, seeds, spacing, iterations, device):
    """Per kind of seed with seeds, (geodesic, reach term) float32 maps, full resolution, nothing reused.

    The reach term is min over the seeds of Euclidean mm / reach (None where the kind has no reach).
    The foreground clicks and the anchors share one geodesic map, that of all foreground seeds (D^f
    takes the nearer of the two anyway), as the refinement computed it before the cache existed.
    """
    groups = [[kind for kind in ("fg", "anchor") if kind in seeds and len(seeds[kind][0])],
              [kind for kind in ("bg",) if kind in seeds and len(seeds[kind][0])]]
    groups = [group for group in groups if group]
    masks = [np.any([points_to_mask(seeds[kind][0], unit.shape) for kind in group], axis=0) for group in groups]
    geodesic = geodesic_distances(unit, masks, spacing, iterations=iterations, device=device) if masks else []
    out = {}
    for group, geo in zip(groups, geodesic):
        for kind in group:
            points, reaches = seeds[kind]
            out[kind] = (geo, None if reaches is None else point_distance(unit.shape, points, spacing, reaches))
    return out


def _seed_distances(unit, seeds, spacing, iterations, device, cache):
    """Per kind of seed ("anchor", "fg", "bg": (voxels (N, ndim), reaches (N,) or None)), the (geodesic,
    reach term) float32 maps of :func:`_exact_seed_distances`, from `cache` where its seeds are a subset
    of these (then only the new seeds are computed)."""
    maps, todo = {}, []
    for kind, (points, reaches) in seeds.items():
        if not len(points):
            continue
        ordered = _seed_keys(points, reaches)
        keys = set(ordered)
        known = cache.get(kind)
        if known is not None and known[0] <= keys:
            new = [i for i, key in enumerate(ordered) if key not in known[0]]
            todo.append((kind, keys, np.asarray(new, dtype=np.intp), known))
        else:
            todo.append((kind, keys, np.arange(len(points)), None))
    needed = [(kind, seeds[kind][0][new]) for kind, _, new, _ in todo if len(new)]
    geodesic = {}
    if needed and unit.size > COARSE_MIN_VOXELS:
        # Large region: approximate maps from a coarser grid (docs/latency.md: Dice vs exact >= 0.995).
        if "coarse" not in cache:
            cache["coarse"] = CoarseGrid(unit, spacing, 1.0, device)
        for (kind, _), dist in zip(needed, cache["coarse"].distances([new for _, new in needed], iterations)):
            geodesic[kind] = dist
    elif needed:
        if "costs" not in cache:
            cache["costs"] = StepCosts(unit, spacing, 1.0, device)
        masks = [points_to_mask(new, unit.shape) for _, new in needed]
        for (kind, _), dist in zip(needed, geodesic_distances(unit, masks, spacing, iterations=iterations,
                                                             device=device, costs=cache["costs"])):
            geodesic[kind] = dist
    for kind, keys, new, known in todo:
        if not len(new):
            geo, term = known[1], known[2]
        else:
            points, reaches = seeds[kind]
            geo = geodesic[kind]
            term = None if reaches is None else point_distance(unit.shape, points[new], spacing, reaches[new])
            if known is not None:
                np.minimum(geo, known[1], out=geo)
                if term is not None:
                    np.minimum(term, known[2], out=term)
        cache[kind] = (keys, geo, term)
        maps[kind] = (geo, term)
    return maps


def _combine(maps, distance_scale):
    """D = distance_scale x geodesic (+ the reach term), float32."""
    geo, term = maps
    out = np.multiply(geo, np.float32(distance_scale), dtype=np.float32)
    if term is not None:
        out += term
    return out


def _combine_foreground(parts, distance_scale):
    """D^f from the clicks' and the anchors' maps: distance_scale x the nearer geodesic + the smaller
    reach term (0 if a group has no reach)."""
    if len(parts) == 1:
        return _combine(parts[0], distance_scale)
    (geo_a, term_a), (geo_b, term_b) = parts
    out = np.minimum(geo_a, geo_b) * np.float32(distance_scale)
    if term_a is not None and term_b is not None:
        out += np.minimum(term_a, term_b)
    return out.astype(np.float32, copy=False)


def point_distance(shape, points, spacing, reaches=None):
    """Euclidean distance in mm from every voxel to the nearest of a few points, or in reaches.

    Parameters
    ----------
    shape : tuple of int
    points : (N, ndim) int array, voxel coordinates, array order; N >= 1.
    spacing : sequence of float, mm per axis.
    reaches : (N,) array of float > 0, optional
        mm per point: then the result is min over the points of distance / reach (unitless).

    Returns
    -------
    float32 ndarray, `shape` (without reaches: the same values as
    ``scipy.ndimage.distance_transform_edt`` of the complement of the points'
    mask, in float32, without its float64 map and index arrays).
    """
    best = None
    for i, point in enumerate(np.asarray(points)):
        squared = None
        for axis, (n, c, s) in enumerate(zip(shape, point, spacing)):
            step = s if reaches is None else s / reaches[i]
            line = ((np.arange(n, dtype=np.float32) - np.float32(c)) * np.float32(step)) ** 2
            line = line.reshape((-1,) + (1,) * (len(shape) - axis - 1))
            squared = line if squared is None else squared + line
        if best is None:
            best = np.broadcast_to(squared, shape).astype(np.float32)
        else:
            np.minimum(best, squared, out=best)
    return np.sqrt(best, out=best)


def click_clearance_mm(mask, box, click, foreground, spacing, limit_mm):
    """How far a click lies from the nearest voxel that already has the label it asks for, in mm.

    A user clicks in the middle of what is wrong, so a click far from the
    current mask (a foreground click) or from the current background (a
    background click) marks a large error: the Segmenter lets such a click
    reach further (its reach grows with this clearance, settings.REACH_GROWTH).

    Parameters
    ----------
    mask : (H, W) or (D, H, W) bool or uint8 array
        The current mask inside `box` (everything outside `box` is background).
    box : tuple of slice
        Where `mask` lies in the image, array order.
    click : (ndim,) array_like
        Voxel coordinates in the image, array order.
    foreground : bool
        A foreground click (distance to the mask) or a background one (to the background).
    spacing : sequence of float, mm per axis.
    limit_mm : float > 0
        Only a box of this half-width around the click is searched.

    Returns
    -------
    float, mm in [0, limit_mm] (`limit_mm` when no such voxel lies within it).
    """
    click = np.rint(np.asarray(click, dtype=float)).astype(np.intp)
    window = tuple(slice(int(c) - int(limit_mm // s), int(c) + int(limit_mm // s) + 1)
                   for c, s in zip(click, spacing))
    labels = np.zeros(tuple(w.stop - w.start for w in window), bool)
    # The part of the window inside `box`, in window and in mask coordinates.
    lo = [max(w.start, b.start) for w, b in zip(window, box)]
    hi = [min(w.stop, b.stop) for w, b in zip(window, box)]
    if all(h > l for l, h in zip(lo, hi)):
        labels[tuple(slice(l - w.start, h - w.start) for l, h, w in zip(lo, hi, window))] = \
            mask[tuple(slice(l - b.start, h - b.start) for l, h, b in zip(lo, hi, box))] != 0
    wanted = labels if foreground else ~labels
    if not wanted.any():
        return float(limit_mm)
    centre = np.array([c - w.start for c, w in zip(click, window)])
    nearest = point_distance(labels.shape, centre[None], spacing)[wanted].min()
    return float(min(limit_mm, nearest))


def click_reach_mm(shape, spacing, fraction=REACH_FRACTION):
    """A click's reach in a region of `shape` voxels of `spacing` mm: fraction x its mean extent.

    Returns
    -------
    float, mm (None if `fraction` is None).
    """
    if fraction is None:
        return None
    if not fraction > 0:
        raise ValueError("the click reach fraction must be > 0 or None, got {}".format(fraction))
    return float(fraction * np.mean(np.asarray(shape, float) * np.asarray(check_spacing(spacing, len(shape)))))


def click_reaches(shape, spacing, fraction=REACH_FRACTION, background_fraction=BACKGROUND_REACH_FRACTION):
    """Both reaches for a working region, as :func:`refine_ifgc` keywords.

    Returns
    -------
    dict: ``reach_mm`` (foreground seeds) and ``background_reach_mm`` (background clicks), mm or None.
    """
    return {"reach_mm": click_reach_mm(shape, spacing, fraction),
            "background_reach_mm": click_reach_mm(shape, spacing, background_fraction)}


def refine_gc(image, probability, foreground, background, spacing=None, *, lam=PAPER_LAM, sigma=PAPER_SIGMA,
              connectivity=None, backend="scipy", smoothing=0.0):
    """Plain graph cut on the CNN probability with the clicks as hard constraints (Table 3's "GC").

    `smoothing`: as in :func:`refine_ifgc` (the image the contrast term sees).
    """
    image, probability, fg, bg, spacing = _prepare(image, probability, foreground, background, spacing)
    start = time.perf_counter()
    mask = graph_cut(region_intensities(image, smoothing), probability, spacing, fg, bg, lam=lam, sigma=sigma,
                     connectivity=connectivity, backend=backend)
    return Refinement(mask, probability, {"graphcut": time.perf_counter() - start})


def _prepare(image, probability, foreground, background, spacing):
    image = check_image(image)
    probability = check_probability(probability, image.shape)
    fg = points_to_mask(check_points(foreground, image.shape, name="foreground"), image.shape)
    bg = points_to_mask(check_points(background, image.shape, name="background"), image.shape)
    if (fg & bg).any():
        raise ValueError("a foreground and a background click fall on the same voxel {}".format(
            tuple(int(i) for i in np.argwhere(fg & bg)[0])))
    return image, probability, fg, bg, check_spacing(spacing, image.ndim)
