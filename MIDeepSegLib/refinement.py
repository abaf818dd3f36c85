"""Refinement of a probability map with clicks: IF-GC and the plain GC baseline.

IF-GC (paper Section 2.4): geodesic distances to the foreground and to the
background clicks, information fusion with the CNN's probability (Eq. 3-7),
then a graph cut with the clicks as hard constraints (Eq. 8-11). GC, the
paper's baseline in Table 3, skips the fusion: the graph cut runs on the CNN's
probability with the same hard constraints.

Both work on whatever region they are given; the Segmenter passes the crop.
"""

import time
from collections import namedtuple

import numpy as np

from ._validation import check_image, check_points, check_probability, check_spacing, points_to_mask
from .cuemap import DEFAULT_ITERATIONS
from .fusion import information_fusion
from .geodesic import geodesic_distances
from .graphcut import graph_cut
from .intensity import rescale_unit

#: ``mask`` uint8, ``probability`` float32 (the map the graph cut used), ``timings`` dict of seconds.
Refinement = namedtuple("Refinement", ["mask", "probability", "timings"])


def refine_ifgc(image, probability, foreground, background, spacing=None, *, lam=5.0, sigma=0.1,
                iterations="default", device=None, connectivity=None, backend="scipy"):
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
        Graph-cut weight and contrast scale (paper: 5 and 0.1).
    iterations : int, None or "default"
        Geodesic sweep iterations (see :mod:`MIDeepSegLib.cuemap`).
    device : str, optional
        Torch device for the geodesic distances.
    connectivity, backend
        Passed to :func:`~MIDeepSegLib.graphcut.graph_cut`.

    Returns
    -------
    Refinement(mask, probability=R^f, timings={"geodesic", "fusion", "graphcut"})
    """
    image, probability, fg, bg, spacing = _prepare(image, probability, foreground, background, spacing)
    timings = {}
    start = time.perf_counter()
    unit = rescale_unit(image)
    seed_sets = [m for m in (fg, bg) if m.any()]
    if iterations == "default":
        iterations = DEFAULT_ITERATIONS[image.ndim]
    dists = geodesic_distances(unit, seed_sets, spacing, iterations=iterations, device=device) if seed_sets else []
    dist_fg = dists.pop(0) if fg.any() else np.inf
    dist_bg = dists.pop(0) if bg.any() else np.inf
    timings["geodesic"] = time.perf_counter() - start

    start = time.perf_counter()
    fused = information_fusion(probability, dist_fg, dist_bg)
    timings["fusion"] = time.perf_counter() - start

    start = time.perf_counter()
    mask = graph_cut(unit, fused, spacing, fg, bg, lam=lam, sigma=sigma, connectivity=connectivity,
                     backend=backend)
    timings["graphcut"] = time.perf_counter() - start
    return Refinement(mask, fused, timings)


def refine_gc(image, probability, foreground, background, spacing=None, *, lam=5.0, sigma=0.1,
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
