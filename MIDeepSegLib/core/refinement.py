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
from .geodesic import geodesic_distances
from .graphcut import graph_cut
from .intensity import rescale_unit
from ..settings import BACKGROUND_REACH_FRACTION, DISTANCE_SCALE, PAPER_LAM, PAPER_SIGMA, REACH_FRACTION

#: ``mask`` uint8, ``probability`` float32 (the map the graph cut used), ``timings`` dict of seconds.
Refinement = namedtuple("Refinement", ["mask", "probability", "timings"])


def refine_ifgc(image, probability, foreground, background, spacing=None, *, lam=PAPER_LAM, sigma=PAPER_SIGMA,
                iterations="default", device=None, connectivity=None, backend="scipy",
                distance_scale=DISTANCE_SCALE, reach_mm=None, background_reach_mm=None):
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
    distance_scale : float > 0
        The fusion's distances are measured on the crop rescaled to
        [0, distance_scale] (see the module notes).
    reach_mm : float > 0, optional
        Adds (Euclidean distance to the nearest foreground seed in mm) /
        reach_mm to D^f, so the foreground seeds' weight decays with distance
        even across homogeneous tissue (see the module notes). None: the
        paper's pure geodesic distances.
    background_reach_mm : float > 0, optional
        The same for the background clicks and D^b.

    Returns
    -------
    Refinement(mask, probability=R^f, timings={"geodesic", "fusion", "graphcut"})
    """
    image, probability, fg, bg, spacing = _prepare(image, probability, foreground, background, spacing)
    if not distance_scale > 0:
        raise ValueError("distance_scale must be > 0, got {}".format(distance_scale))
    for name, value in (("reach_mm", reach_mm), ("background_reach_mm", background_reach_mm)):
        if value is not None and not value > 0:
            raise ValueError("{} must be > 0 or None, got {}".format(name, value))
    timings = {}
    start = time.perf_counter()
    unit = rescale_unit(image)
    seed_sets = [m for m in (fg, bg) if m.any()]
    if iterations == "default":
        iterations = DEFAULT_ITERATIONS[image.ndim]
    dists = geodesic_distances(unit, seed_sets, spacing, iterations=iterations, device=device) if seed_sets else []
    # lamb=1: D is linear in the intensity scale, so scaling D scales the image.
    dist_fg = distance_scale * dists.pop(0) if fg.any() else np.inf
    dist_bg = distance_scale * dists.pop(0) if bg.any() else np.inf
    if reach_mm is not None and fg.any():
        dist_fg = dist_fg + ndimage.distance_transform_edt(~fg, sampling=spacing) / reach_mm
    if background_reach_mm is not None and bg.any():
        dist_bg = dist_bg + ndimage.distance_transform_edt(~bg, sampling=spacing) / background_reach_mm
    timings["geodesic"] = time.perf_counter() - start

    start = time.perf_counter()
    fused = information_fusion(probability, dist_fg, dist_bg)
    timings["fusion"] = time.perf_counter() - start

    start = time.perf_counter()
    mask = graph_cut(unit, fused, spacing, fg, bg, lam=lam, sigma=sigma, connectivity=connectivity,
                     backend=backend)
    timings["graphcut"] = time.perf_counter() - start
    return Refinement(mask, fused, timings)


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
              connectivity=None, backend="scipy"):
    """Plain graph cut on the CNN probability with the clicks as hard constraints (Table 3's "GC")."""
    image, probability, fg, bg, spacing = _prepare(image, probability, foreground, background, spacing)
    start = time.perf_counter()
    mask = graph_cut(rescale_unit(image), probability, spacing, fg, bg, lam=lam, sigma=sigma,
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
