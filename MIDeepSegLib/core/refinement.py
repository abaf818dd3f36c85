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
    reach_mm : float > 0, optional
        Adds (Euclidean distance to the nearest foreground seed in mm) /
        reach_mm to D^f, so the foreground seeds' weight decays with distance
        even across homogeneous tissue (see the module notes). None: the
        paper's pure geodesic distances.
    background_reach_mm : float > 0, optional
        The same for the background clicks and D^b.
    anchors : (M, ndim) array_like, optional
        More foreground seeds with their own reach, `anchor_reach_mm` (the
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
        minimum of Eq. 8), Euclidean distances to the seed points are computed
        directly in float32, and `cache` is used. True: the full-region
        max-flow of :func:`~MIDeepSegLib.core.graphcut.graph_cut` and
        ``scipy.ndimage.distance_transform_edt``, as before (the reference the
        benchmarks compare with). ``backend="simplecrf"`` always solves the
        full region.
    cache : dict, optional
        Kept by the caller between calls on the *same* image region (the
        Segmenter keeps one per working region). It holds the rescaled image
        and its geodesic step costs (float16, :class:`~MIDeepSegLib.core.geodesic.StepCosts`),
        and, per kind of seed, the seeds' geodesic and Euclidean distance
        maps: the distance to a set of seeds is the minimum of the distances
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
    anchor = points_to_mask(check_points(anchors, image.shape, name="anchors"), image.shape)
    distance_scale = for_dimension(distance_scale, image.ndim)
    if (anchor & bg).any():
        raise ValueError("an interior margin point (anchor) and a background click fall on the same voxel {}".format(
            tuple(int(i) for i in np.argwhere(anchor & bg)[0])))
    if not distance_scale > 0:
        raise ValueError("distance_scale must be > 0, got {}".format(distance_scale))
    for name, value in (("reach_mm", reach_mm), ("background_reach_mm", background_reach_mm),
                        ("anchor_reach_mm", anchor_reach_mm)):
        if value is not None and not value > 0:
            raise ValueError("{} must be > 0 or None, got {}".format(name, value))
    timings = {}
    start = time.perf_counter()
    if iterations == "default":
        iterations = DEFAULT_ITERATIONS[image.ndim]
    if exact or cache is None:
        cache = {}
    unit = _region_cache(image, spacing, iterations, device, cache, smoothing)
    dist_fg = dist_bg = np.inf
    if exact:
        clicks_fg, fg = fg, fg | anchor
        seed_sets = [m for m in (fg, bg) if m.any()]
        dists = geodesic_distances(unit, seed_sets, spacing, iterations=iterations, device=device) \
            if seed_sets else []
        # lamb=1: D is linear in the intensity scale, so scaling D scales the image.
        dist_fg = distance_scale * dists.pop(0) if fg.any() else np.inf
        dist_bg = distance_scale * dists.pop(0) if bg.any() else np.inf
        terms = [ndimage.distance_transform_edt(~group, sampling=spacing) / reach if reach is not None else 0.0
                 for group, reach in ((clicks_fg, reach_mm), (anchor, anchor_reach_mm)) if group.any()]
        if terms:
            dist_fg = dist_fg + (np.minimum(*terms) if len(terms) == 2 else terms[0])
        if background_reach_mm is not None and bg.any():
            dist_bg = dist_bg + ndimage.distance_transform_edt(~bg, sampling=spacing) / background_reach_mm
    else:
        maps = _seed_distances(unit, {"anchor": anchor, "fg": fg, "bg": bg}, spacing, iterations, device, cache)
        parts = [(maps[kind], reach) for kind, reach in (("fg", reach_mm), ("anchor", anchor_reach_mm))
                 if kind in maps]
        if parts:
            dist_fg = _combine_foreground(parts, distance_scale)
        if "bg" in maps:
            dist_bg = _combine(maps["bg"], distance_scale, background_reach_mm)
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
        mask = reduced_graph_cut(unit, fused, spacing, fg, bg, lam=lam, sigma=sigma, connectivity=connectivity)
    timings["graphcut"] = time.perf_counter() - start
    return Refinement(mask, fused, timings)


def prepare_cache(image, foreground, spacing=None, *, iterations="default", device=None, smoothing=0.0, cache):
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
    smoothing : float >= 0
        As in :func:`refine_ifgc` (the value its calls will pass).
    cache : dict
        Filled in place (cleared first if it belongs to another region).
    """
    image = check_image(image)
    spacing = check_spacing(spacing, image.ndim)
    fg = points_to_mask(check_points(foreground, image.shape, name="foreground"), image.shape)
    if iterations == "default":
        iterations = DEFAULT_ITERATIONS[image.ndim]
    unit = _region_cache(image, spacing, iterations, device, cache, smoothing)
    _seed_distances(unit, {"anchor": fg}, spacing, iterations, device, cache)


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


def _seed_distances(unit, seeds, spacing, iterations, device, cache):
    """Per kind of seed ("fg", "bg": bool masks), (geodesic, Euclidean mm) float32 maps, from `cache`
    where its seeds are a subset of these (then only the new seeds are computed)."""
    maps, todo = {}, []
    for kind, mask in seeds.items():
        points = np.argwhere(mask)
        if not len(points):
            continue
        known = cache.get(kind)
        if known is not None:
            known_points = {tuple(p) for p in known[0]}
            if known_points <= {tuple(p) for p in points}:
                new = np.array([p for p in points if tuple(p) not in known_points], dtype=np.intp)
                todo.append((kind, points, new, known))
                continue
        todo.append((kind, points, points, None))
    needed = [(kind, new) for kind, _, new, _ in todo if len(new)]
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
        masks = []
        for _, new in needed:
            m = np.zeros(unit.shape, bool)
            m[tuple(new.T)] = True
            masks.append(m)
        for (kind, _), dist in zip(needed, geodesic_distances(unit, masks, spacing, iterations=iterations,
                                                             device=device, costs=cache["costs"])):
            geodesic[kind] = dist
    for kind, points, new, known in todo:
        if not len(new):
            geo, euclid = known[1], known[2]
        else:
            geo, euclid = geodesic[kind], point_distance(unit.shape, new, spacing)
            if known is not None:
                np.minimum(geo, known[1], out=geo)
                np.minimum(euclid, known[2], out=euclid)
        cache[kind] = (points, geo, euclid)
        maps[kind] = (geo, euclid)
    return maps


def _combine(maps, distance_scale, reach):
    """D = distance_scale x geodesic (+ Euclidean / reach), float32."""
    geo, euclid = maps
    out = np.multiply(geo, np.float32(distance_scale), dtype=np.float32)
    if reach is not None:
        out += euclid * np.float32(1.0 / reach)
    return out


def _combine_foreground(parts, distance_scale):
    """D^f from the clicks' and the anchors' maps: distance_scale x the nearer geodesic + the smaller
    Euclidean term (each group's Euclidean distance / its reach; 0 for a group without a reach)."""
    if len(parts) == 1:
        return _combine(parts[0][0], distance_scale, parts[0][1])
    (geo_a, euclid_a), reach_a = parts[0]
    (geo_b, euclid_b), reach_b = parts[1]
    out = np.minimum(geo_a, geo_b) * np.float32(distance_scale)
    if reach_a is not None and reach_b is not None:
        out += np.minimum(euclid_a * np.float32(1.0 / reach_a), euclid_b * np.float32(1.0 / reach_b))
    return out.astype(np.float32, copy=False)


def point_distance(shape, points, spacing):
    """Euclidean distance in mm from every voxel to the nearest of a few points.

    Parameters
    ----------
    shape : tuple of int
    points : (N, ndim) int array, voxel coordinates, array order; N >= 1.
    spacing : sequence of float, mm per axis.

    Returns
    -------
    float32 ndarray, `shape` (the same values as ``scipy.ndimage.distance_transform_edt`` of the
    complement of the points' mask, in float32, without its float64 map and index arrays).
    """
    best = None
    for point in np.asarray(points):
        squared = None
        for axis, (n, c, s) in enumerate(zip(shape, point, spacing)):
            line = ((np.arange(n, dtype=np.float32) - np.float32(c)) * np.float32(s)) ** 2
            line = line.reshape((-1,) + (1,) * (len(shape) - axis - 1))
            squared = line if squared is None else squared + line
        if best is None:
            best = np.broadcast_to(squared, shape).astype(np.float32)
        else:
            np.minimum(best, squared, out=best)
    return np.sqrt(best, out=best)


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
