"""Refinement of a probability map with clicks: IF-GC and the plain GC baseline.

IF-GC (paper Section 2.4): geodesic distances to the foreground and to the
background clicks, information fusion with the CNN's probability (Eq. 3-7),
then a graph cut with the clicks as hard constraints (Eq. 8-11). GC, the
paper's baseline in Table 3, skips the fusion: the graph cut runs on the CNN's
probability with the same hard constraints.

Both work on whatever region they are given; the Segmenter passes the crop.

The values the session uses (distance scale, reaches, lam, sigma) live in
:mod:`MIDeepSegLib.settings`, which says how they were tuned. The figures
below measured each mechanism when it was introduced, with the settings of
that time (distance scale 10, lam 1, sigma 0.1).

The scale of the distances in the fusion
----------------------------------------
Eq. 3-7 turn geodesic distances into weights, alpha = exp(-D), so the unit of
D decides how far a click reaches. Measured on the crop rescaled to [0, 1]
(the scale of the initial EGD cue map), D stays below ~0.5 across a whole
crop: alpha ~ 1 everywhere and one click overrides the network in the whole
crop (a test case went from Dice 0.87 to 0.14 after one correction click).
The fusion therefore measures D on the crop rescaled to [0, DISTANCE_SCALE]:
at scale s, each edge of contrast c (on [0, 1]) that a path crosses multiplies
alpha by e^(-s c) or less, while a homogeneous region connected to the click
stays close to it. At scale 10 the same cases improve with every click (0.87
-> 0.94 -> 0.95 in 3D, 0.97 -> 0.99 in 2D; Testing/test_segmenter.py).

Without the reaches below, scale 10 was too short on smooth, low-contrast
real images: on 2D centre slices of the unseen Colin27 deep grey structures
(5 simulated clicks, lam = 5) a background click whose region leaked across
a weak boundary could collapse a case to 0.05 (mean 0.77; 0.87 at scale 30,
where a click on the noisy synthetic scenes barely acted). The reaches bound
how far a click acts in millimetres, whatever the contrast, and with them the
shorter scale 5 is the better one (:mod:`MIDeepSegLib.settings`).

A foreground click's reach
--------------------------
The pure geodesic of Eq. 2 costs nothing across homogeneous tissue, so the
foreground seeds (the interior margin points, which lie just inside the
boundary, and the foreground clicks) reach every voxel of similar intensity
connected to them, across weak boundaries and however far; with no
background click there, E^f = 1 and alpha ~ 1 all over it. On the unseen
Colin27 structures a single click often made things worse (3D deep grey,
mean Dice 0.715 -> 0.583 after one click, one case to 0.01). ``reach_mm``
adds the Euclidean distance to the nearest foreground seed, in units of
reach_mm, to D^f, so its weight also decays by e^-1 every reach_mm. The
Segmenter sets reach_mm to REACH_FRACTION of the working region's mean
extent (:func:`click_reach_mm`): the relaxed box of the interior margin
points, grown by clicks outside it, so a click far out along a missed part
still reaches back to the object. Background clicks keep the pure geodesic.

Measured on the Colin27 deep grey structures with the shipped models
(simulated user, seed 0), mean Dice after 0 / 1 / 3 / 5 clicks:

    reach                          3D (12 structures)             2D (36 centre slices)
    none (the paper's fusion)      0.715 / 0.583 / 0.730 / 0.669  0.839 / 0.816 / 0.865 / 0.873
    0.3, foreground only (used)    0.715 / 0.761 / 0.779 / 0.783  0.839 / 0.848 / 0.876 / 0.884
    0.3, both kinds                0.715 / 0.749 / 0.775 / 0.784  0.839 / 0.847 / 0.874 / 0.883
    0.3, background only           0.715 / 0.557 / 0.615 / 0.623  0.839 / 0.811 / 0.855 / 0.861
    1.0, both kinds                0.715 / 0.698 / 0.749 / 0.741  0.839 / 0.834 / 0.867 / 0.879

The value was chosen on these validation cases (no separate test set).

A background click's reach
--------------------------
Background clicks kept the pure geodesic, and a single one could wipe an
object out: on a weak boundary its geodesic region runs through the whole
object, while the foreground seeds' weight there is cut by their reach (3D
amygdala_R, shipped stage-3 weights: Dice 0.76 -> 0.10 at click 9). A
background click may still need to clear a large region that the network
added (a tiny, bright ball in noise, over-segmented far beyond it:
``test_ct_sized_volume_memory``), so its reach is long: ``background_reach_mm``
= BACKGROUND_REACH_FRACTION x the working region's mean extent. Mean Dice
after 1 / 3 / 5 / 10 clicks, and the largest drop of one case from one click:

    background reach     3D deep grey (12, validation)          3D, 12 other AAL structures + MNI152 ventricles
    none                 0.773 / 0.777 / 0.789 / 0.734, -0.66   0.681 / 0.704 / 0.720 / 0.734, -0.00
    0.3                  0.770 / 0.781 / 0.795 / 0.796, -0.04   (fails the over-segmented ball)
    0.6                  0.771 / 0.784 / 0.795 / 0.796, -0.04   0.679 / 0.692 / 0.703 / 0.723, -0.01
    1.0                  0.771 / 0.784 / 0.787 / 0.792, -0.06   0.680 / 0.696 / 0.709 / 0.728, -0.00
    2.0 (used)           0.772 / 0.781 / 0.793 / 0.792, -0.04   0.680 / 0.699 / 0.712 / 0.732, -0.00

In 2D (36 deep grey slices) every setting gives 0.85 / 0.87 / 0.89 / 0.90
within 0.004. 2.0 is the shortest reach that still clears the ball and that
costs least on the other structures (cortical parcels, whose AAL boundaries
are conventions more than edges, where long-reaching clicks help).
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
from ..settings import BACKGROUND_REACH_FRACTION, DISTANCE_SCALE, REACH_FRACTION

#: ``mask`` uint8, ``probability`` float32 (the map the graph cut used), ``timings`` dict of seconds.
Refinement = namedtuple("Refinement", ["mask", "probability", "timings"])


def refine_ifgc(image, probability, foreground, background, spacing=None, *, lam=5.0, sigma=0.1,
                iterations="default", device=None, connectivity=None, backend="scipy",
                distance_scale=DISTANCE_SCALE, reach_mm=None, background_reach_mm=None, anchors=None,
                anchor_reach_mm=None):
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
    anchors : (M, ndim) array_like, optional
        More foreground seeds with their own reach, `anchor_reach_mm` (the
        Segmenter passes the interior margin points here: they lie all
        around the object, so they may reach further than a click). D^f is
        the geodesic distance to all foreground seeds plus the smaller of the
        two Euclidean terms.

    Returns
    -------
    Refinement(mask, probability=R^f, timings={"geodesic", "fusion", "graphcut"})
    """
    image, probability, fg, bg, spacing = _prepare(image, probability, foreground, background, spacing)
    anchor = points_to_mask(check_points(anchors, image.shape, name="anchors"), image.shape)
    if (anchor & bg).any():
        raise ValueError("an anchor and a background click fall on the same voxel")
    if not distance_scale > 0:
        raise ValueError("distance_scale must be > 0, got {}".format(distance_scale))
    for name, value in (("reach_mm", reach_mm), ("background_reach_mm", background_reach_mm),
                        ("anchor_reach_mm", anchor_reach_mm)):
        if value is not None and not value > 0:
            raise ValueError("{} must be > 0 or None, got {}".format(name, value))
    timings = {}
    start = time.perf_counter()
    unit = rescale_unit(image)
    clicks_fg, fg = fg, fg | anchor
    seed_sets = [m for m in (fg, bg) if m.any()]
    if iterations == "default":
        iterations = DEFAULT_ITERATIONS[image.ndim]
    dists = geodesic_distances(unit, seed_sets, spacing, iterations=iterations, device=device) if seed_sets else []
    # lamb=1: D is linear in the intensity scale, so scaling D scales the image.
    dist_fg = distance_scale * dists.pop(0) if fg.any() else np.inf
    dist_bg = distance_scale * dists.pop(0) if bg.any() else np.inf
    if anchor.any() and (reach_mm is not None or anchor_reach_mm is not None):
        # Each group's Euclidean term with its own reach (None: no decay for that group).
        terms = [ndimage.distance_transform_edt(~group, sampling=spacing) / reach if reach is not None else 0.0
                 for group, reach in ((clicks_fg, reach_mm), (anchor, anchor_reach_mm)) if group.any()]
        dist_fg = dist_fg + (np.minimum(*terms) if len(terms) == 2 else terms[0])
    elif reach_mm is not None and fg.any():
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
