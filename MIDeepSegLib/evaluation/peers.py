"""Classical interactive segmentation methods, driven by the same clicks as MIDeepSeg.

The benchmark (:mod:`MIDeepSegLib.evaluation.benchmark`, paper Table 4 / Fig. 11)
compares MIDeepSeg with methods a user would otherwise pick. Each one is a
function with the same signature::

    mask = method(image, spacing, fg_points, bg_points, box)

and sees exactly what MIDeepSeg sees:

* **Foreground seeds**: the interior margin points and the foreground
  refinement clicks (``fg_points``).
* **Background seeds**: the background refinement clicks (``bg_points``)
  *and* the border of the relaxed bounding box ``box``. Interior margin points
  imply a box around the object (MIDeepSeg crops to it and never labels
  anything outside it), so its border is background for every method. Box
  faces that lie on the image's own edge are not used as background seeds
  (the object may touch the image edge); when every face does, all of them
  are used, so there is always a background seed.
* **Region**: like MIDeepSeg, each method segments the crop ``image[box]``
  only, on the crop rescaled to [0, 1]
  (:func:`~MIDeepSegLib.core.intensity.rescale_unit`); the returned mask is 0
  outside `box`. Seeds are hard constraints: the mask is 1 on every
  foreground seed and 0 on every background seed.

Methods
-------
:func:`boykov_jolly`
    Graph cut (Boykov and Jolly, 2001): unaries from intensity histograms of
    the foreground and background seeds, contrast-sensitive pairwise term,
    seeds as hard constraints; solved exactly by
    :func:`~MIDeepSegLib.core.graphcut.graph_cut`.
:func:`random_walker`
    Random walks (Grady, 2006), scikit-image's implementation
    (``pip install scikit-image``; the ``benchmark`` extra).
:func:`geos`
    GeoS (Criminisi et al., 2008): each voxel takes the label of the nearer
    seed set under GeoS's geodesic length (path length and gradient),
    with soft seeds from the seeds' intensity likelihoods, then GeoS's
    symmetric filter; :func:`~MIDeepSegLib.core.geodesic.geodesic_distances`.
:func:`growcut`
    GrowCut (Vezhnevets and Konouchine, 2005) in its "Fast GrowCut" form
    (Zhu et al., 2014), the one in 3D Slicer's "Grow from seeds" effect,
    through the ``itk-growcut`` wheel (optional: the ``growcut`` extra; it
    pulls in ITK, about 1.5 GB installed). :func:`available_peers` lists it
    only where it can be imported.

References
----------
Boykov Y, Jolly MP (2001) Interactive graph cuts for optimal boundary and
region segmentation of objects in N-D images. ICCV. doi:10.1109/ICCV.2001.937505

Grady L (2006) Random walks for image segmentation. IEEE TPAMI 28(11).
doi:10.1109/TPAMI.2006.233

Criminisi A, Sharp T, Blake A (2008) GeoS: geodesic image segmentation. ECCV.
doi:10.1007/978-3-540-88682-2_9

Zhu L, Kolesov I, Gao Y, Kikinis R, Tannenbaum A (2014) An effective
interactive medical image segmentation method using fast GrowCut. MICCAI
workshop on interactive medical image computing.
"""

import contextlib
import importlib.util
import os
import warnings

import numpy as np
from scipy import ndimage

from .._checks import check_image, check_points, check_spacing, points_to_mask
from ..core.cuemap import DEFAULT_ITERATIONS
from ..core.geodesic import geodesic_distances
from ..core.graphcut import graph_cut
from ..core.intensity import rescale_unit
from ..settings import PAPER_LAM, PAPER_SIGMA

#: Method name -> function; the keys are the names the benchmark reports.
PEERS = {}

#: Method name -> label for tables and plots.
PEER_LABELS = {"graphcut": "Graph cut (BJ)", "random_walker": "Random walker", "geos": "GeoS",
               "growcut": "GrowCut"}


def boykov_jolly(image, spacing, fg_points, bg_points, box=None, *, lam=PAPER_LAM, sigma=PAPER_SIGMA, bins=64,
                 smoothing_bins=4.0, brush_vox=1, connectivity=None):
    """Graph cut with seeds and intensity-histogram unaries (Boykov and Jolly, 2001).

    Parameters
    ----------
    image : (H, W) or (D, H, W) array_like
        Intensities, array order.
    spacing : sequence of float or None
        mm per array axis, array order (None: 1 mm).
    fg_points : (N, ndim) array_like
        Foreground seeds (interior margin points and foreground clicks),
        voxel coordinates, array order, inside `box`; at least one.
    bg_points : (M, ndim) array_like
        Background clicks, voxel coordinates, array order, inside `box`; may
        be empty (the box border is background anyway, see the module notes).
    box : tuple of slice, optional
        The region to segment (the relaxed bounding box); default the whole image.
    lam : float >= 0, keyword-only
        Weight of the pairwise term (default: the paper's 5, settings.PAPER_LAM).
    sigma : float > 0, keyword-only
        Contrast scale of the pairwise term on the [0, 1] crop (default: the paper's 0.1,
        settings.PAPER_SIGMA).
    bins : int, keyword-only
        Histogram bins over [0, 1].
    smoothing_bins : float, keyword-only
        Standard deviation, in bins, of the Gaussian that smooths each
        histogram (a few seeds give a spiky histogram).
    brush_vox : int, keyword-only
        The histograms sample the seed voxels and their neighbours up to
        this many voxels away (face connectivity), as a painting brush
        would; the hard constraints stay on the seed voxels themselves.
    connectivity : int, optional, keyword-only
        Graph neighbourhood (see :func:`~MIDeepSegLib.core.graphcut.graph_cut`).

    Returns
    -------
    uint8 ndarray, image shape: 1 = object; 0 outside `box`.

    Notes
    -----
    The unary term of a voxel with intensity I is -log P(fg | I), with
    P(fg | I) = h_fg(I) / (h_fg(I) + h_bg(I)) from the two seed histograms
    (equal priors), each smoothed and given a floor (1e-3 of its mass spread
    over the bins) so that intensities no seed has are uncertain, not
    impossible. The pairwise term and the solver are MIDeepSeg's (paper
    Eq. 8-11).

    Point seeds are much sparser than the scribbles the method was designed
    for. The defaults (smoothing 4 bins, 1-voxel brush, lam 5) were chosen on
    the synthetic scenes of ``Testing/_models.py``, never on benchmark cases:
    there, raw seed voxels with 1.5-bin smoothing gave mean Dice 0.74 (2D) /
    0.83 (3D) from the interior margin points alone, the defaults 0.98 / 0.91.
    """
    unit, fg, bg, clicked_bg, spacing, box, shape = _prepare(image, spacing, fg_points, bg_points, box)
    probability = _seed_likelihood(unit, fg, bg, clicked_bg, bins, smoothing_bins, brush_vox)
    mask = graph_cut(unit, probability, spacing, fg, bg, lam=lam, sigma=sigma, connectivity=connectivity)
    return _paste(mask, box, shape)


def random_walker(image, spacing, fg_points, bg_points, box=None, *, beta=3000.0, tol=1e-3,
                  use_spacing=False):
    """Random walker segmentation (Grady, 2006) with scikit-image.

    Parameters
    ----------
    image, spacing, fg_points, bg_points, box
        As :func:`boykov_jolly`.
    beta : float > 0, keyword-only
        Edge penalty of ``skimage.segmentation.random_walker`` (scikit-image
        divides it by 10 x the crop's standard deviation). Its default, 130,
        is meant for scribbles: with a handful of point seeds the potential
        of a point decays within a few voxels, and in 3D almost everything
        goes to the box border (mean Dice 0.82 in 2D, 0.12 in 3D on the
        synthetic scenes of ``Testing/_models.py``, 6 per spacing). 3000 was
        chosen on those scenes (1000: 0.98 / 0.86; 3000: 0.98 / 0.93;
        10000: 0.90 / 0.91), never on benchmark cases.
    tol : float > 0, keyword-only
        Tolerance of its conjugate-gradient solver (mode ``"cg_j"``).
    use_spacing : bool, keyword-only
        Pass `spacing` to scikit-image (default False, see Notes).

    Returns
    -------
    uint8 ndarray, image shape: 1 where a walker from the voxel reaches a
    foreground seed first with probability >= 1/2; 0 outside `box`.

    Raises
    ------
    ImportError
        scikit-image is not installed (``pip install scikit-image``).

    Notes
    -----
    scikit-image's ``spacing`` divides each intensity difference by the
    voxel size along its axis, which makes the edge weights across thick
    slices *larger* (a 5 mm step looks flat), with no geometric factor to
    compensate: on anisotropic volumes the box border's background floods
    through the slices. On the synthetic ellipsoids of the test-suite
    (5 x 0.6 x 0.8 mm) mean Dice was 0.50 with it and 0.92 without; on
    (3, 0.9, 1) mm scenes 0.67 and 0.93. So by default the walk runs on the
    voxel grid, which is what the method's users get from the plain call.

    BLAS runs on one thread during the solve where ``threadpoolctl`` is
    installed (the ``benchmark`` extra): see :func:`_one_blas_thread`.
    """
    try:
        from skimage.segmentation import random_walker as _skimage_random_walker
    except ImportError:
        raise ImportError("random_walker needs scikit-image: pip install scikit-image "
                          "(or pip install 'MIDeepSegLib[benchmark]')") from None
    unit, fg, bg, _, spacing, box, shape = _prepare(image, spacing, fg_points, bg_points, box)
    if not beta > 0:
        raise ValueError("beta must be > 0, got {!r}".format(beta))
    labels = np.zeros(unit.shape, np.int32)
    labels[bg] = 2
    labels[fg] = 1
    if (labels == 0).any():
        with _one_blas_thread(), warnings.catch_warnings():
            # The conjugate gradient's tolerance lets probabilities stray slightly outside [0, 1]; the
            # 0.5 threshold does not care, and scikit-image would warn on almost every call.
            warnings.filterwarnings("ignore", message="The probability range is outside")
            out = _skimage_random_walker(unit.astype(np.float64), labels, beta=float(beta), mode="cg_j",
                                         tol=tol, spacing=np.asarray(spacing) if use_spacing else None)
    else:
        out = labels
    return _paste((out == 1).astype(np.uint8), box, shape)


#: GeoS's gradient weight gamma, mm per unit of the [0, 1] crop (see :func:`geos`).
GEOS_GAMMA = 200.0

#: Weight nu (mm) of the soft seeds' likelihood in GeoS's generalised distance (see :func:`geos`).
GEOS_NU = 100.0

#: Radius theta (mm, geodesic) of GeoS's symmetric filter (see :func:`geos`).
GEOS_THETA = 6.0


def geos(image, spacing, fg_points, bg_points, box=None, *, gamma=GEOS_GAMMA, nu=GEOS_NU, theta=GEOS_THETA,
         iterations="default", device=None):
    """GeoS geodesic segmentation (Criminisi, Sharp and Blake, 2008) with point seeds.

    Parameters
    ----------
    image, spacing, fg_points, bg_points, box
        As :func:`boykov_jolly`.
    gamma : float > 0 or None, keyword-only
        Weight of the intensity change in GeoS's geodesic length (mm per unit
        of the crop rescaled to [0, 1]; default :data:`GEOS_GAMMA`, 200).
        None: MIDeepSeg's pure intensity geodesic instead (lamb = 1, no path
        length), what this peer used before; kept for comparison.
    nu : float > 0 or None, keyword-only
        Weight (mm) of the soft seeds (default :data:`GEOS_NU`, 100); None:
        the seeds alone, no soft seeds (nu -> infinity).
    theta : float >= 0, keyword-only
        Radius (mm of geodesic length) of the symmetric filter (default
        :data:`GEOS_THETA`, 6); 0: no filter.
    iterations : int, None or "default", keyword-only
        Geodesic sweep iterations (see
        :func:`~MIDeepSegLib.core.geodesic.geodesic_distance`); "default" is the
        setting MIDeepSeg's refinement uses (DEFAULT_ITERATIONS), None exact.
    device : str, optional, keyword-only
        Torch device for the geodesic distances.

    Returns
    -------
    uint8 ndarray, image shape: 1 where the (generalised) geodesic distance
    to the foreground is smaller than to the background, after the
    symmetric filter; 1 on every foreground seed, 0 on every background
    seed and outside `box`.

    Notes
    -----
    *Distance.* GeoS's geodesic length of a path is the integral of
    sqrt(1 + gamma^2 (grad I . u)^2) ds: the path's length in mm plus, at
    an edge, about gamma x the intensity jump. On the voxel graph a step p -> q
    costs sqrt(|p - q|_mm^2 + gamma^2 (I_p - I_q)^2)
    (:func:`~MIDeepSegLib.core.geodesic.geodesic_distances` with `gamma`),
    I the crop rescaled to [0, 1]. Small changes (noise) add to a step's cost
    only quadratically, large ones (edges) linearly. This peer used to run
    MIDeepSeg's pure intensity geodesic (lamb = 1: |dI| x step length, no
    path length). With it the box border's background, seeded all around a
    large noisy organ, crosses the organ's boundary where it is weakest and
    then travels inside almost for free (the cheapest path picks the
    smallest differences, however long it gets), against a few point seeds:
    3D mean Dice on the tuning organs 0.504 initially, 0.713 after 5 clicks
    (now 0.688 / 0.791). Testing/test_geos_peer.py shows it on a CT-like organ.

    *Soft seeds.* GeoS segments from a soft mask, the likelihood of each
    voxel under the foreground and background models learnt from the user's
    strokes, through the generalised geodesic distance
    D(x; M) = min_x' (d(x', x) + nu M(x')). Here the models are the
    intensity histograms of the seeds (as :func:`boykov_jolly`'s, 64 bins
    smoothed by 4, a 1-voxel brush), P = P(fg | I), and
    D_fg = D(x; 1 - P), D_bg = D(x; P), with the seeds themselves at 0 (hard
    constraints). A voxel is foreground where D_fg < D_bg.

    *Symmetric filter.* GeoS then removes islands and fills holes smaller
    than a geodesic radius (its geodesic symmetric filter). Here: a geodesic
    closing then opening of the labelling, dilations and erosions by
    `theta` with the same distance. GeoS chooses its two radii per image by
    minimising a CRF energy; this peer uses one fixed radius.

    gamma, nu and theta were chosen on the tuning organs of
    ``docs/benchmark/organs/tuning.md`` ("GeoS peer"), never on reported
    cases: gamma with the seeds alone (best from 150 to 200 in 2D and 3D),
    then nu and theta as the pair whose mean Dice after 0, 1, 3 and 5 clicks,
    in 2D and 3D, is above the pure intensity peer's by the largest minimum
    margin. A smaller nu (stronger soft seeds) gives more initially and less
    per click: a click is one voxel among soft seeds everywhere.
    """
    unit, fg, bg, clicked_bg, spacing, box, shape = _prepare(image, spacing, fg_points, bg_points, box)
    if nu is not None and not (nu > 0 and np.isfinite(nu)):
        raise ValueError("nu must be a finite number > 0 (mm) or None (no soft seeds), got {!r}".format(nu))
    if not (theta >= 0 and np.isfinite(theta)):
        raise ValueError("theta must be a finite number >= 0 (mm), got {!r}".format(theta))
    if iterations == "default":
        iterations = DEFAULT_ITERATIONS[unit.ndim]
    options = {"iterations": iterations, "device": device, "gamma": gamma}
    if nu is None:
        dist_fg, dist_bg = geodesic_distances(unit, [fg, bg], spacing, **options)
    else:
        likelihood = _seed_likelihood(unit, fg, bg, clicked_bg)
        start_fg = np.where(fg, 0.0, np.where(bg, np.inf, nu * (1.0 - likelihood)))
        start_bg = np.where(bg, 0.0, np.where(fg, np.inf, nu * likelihood))
        dist_fg, dist_bg = geodesic_distances(unit, None, spacing, start=[start_fg, start_bg], **options)
    mask = ((dist_fg < dist_bg) | fg) & ~bg
    if theta > 0:
        mask = (_geodesic_close_open(mask, unit, spacing, theta, options) | fg) & ~bg
    return _paste(mask.astype(np.uint8), box, shape)


def _geodesic_close_open(mask, unit, spacing, theta, options):
    """Geodesic closing, then opening, of a bool mask by `theta` (mm of geodesic length).

    Dilation: the voxels within `theta` of the mask; erosion: those farther
    than `theta` from its complement (either is a no-op when the set it
    measures from is empty).
    """
    def within(seeds):
        if not seeds.any():
            return np.zeros(seeds.shape, bool)
        return geodesic_distances(unit, [seeds], spacing, **options)[0] <= theta

    def dilate(m):
        return m | within(m)

    def erode(m):
        return m & ~within(~m)

    return dilate(erode(erode(dilate(mask))))


def growcut(image, spacing, fg_points, bg_points, box=None):
    """Fast GrowCut (Zhu et al., 2014) through the ``itk-growcut`` package.

    Parameters
    ----------
    image, spacing, fg_points, bg_points, box
        As :func:`boykov_jolly`.

    Returns
    -------
    uint8 ndarray, image shape: the region grown from the foreground seeds;
    0 outside `box`.

    Raises
    ------
    ImportError
        ``itk-growcut`` is not installed (``pip install itk-growcut``).

    Notes
    -----
    ITK's filter works on 3D images of at least 3 voxels per axis and does
    not grow seeds that lie on the image's edge, so the crop is padded by one
    voxel on every side (edge values; the padding carries no seed) and a 2D
    crop becomes a stack of three copies (seeded alike).
    """
    if not growcut_available():
        raise ImportError("growcut needs the itk-growcut package: pip install itk-growcut "
                          "(or pip install 'MIDeepSegLib[growcut]')")
    unit, fg, bg, _, spacing, box, shape = _prepare(image, spacing, fg_points, bg_points, box)
    seeds = np.zeros(unit.shape, np.uint8)
    seeds[bg] = 2
    seeds[fg] = 1
    if unit.ndim == 2:
        unit, seeds = np.stack([unit] * 3), np.stack([seeds] * 3)
        spacing = (min(spacing),) + tuple(spacing)
    with warnings.catch_warnings():
        # ITK's SWIG modules load lazily and emit DeprecationWarnings (Python >= 3.12) as they do.
        warnings.simplefilter("ignore", DeprecationWarning)
        labels = _fast_growcut(np.pad(unit, 1, mode="edge").astype(np.float32), np.pad(seeds, 1), spacing)
    labels = labels[1:-1, 1:-1, 1:-1]
    if len(shape) == 2:
        labels = labels[1]
    return _paste((labels == 1).astype(np.uint8), box, shape)


def _fast_growcut(image, seeds, spacing):
    """ITK's FastGrowCut on a 3D float32 image and uint8 seeds (1 fg, 2 bg); returns the label array."""
    import itk  # deferred: optional (itk-growcut) and slow to import

    itk_image = itk.image_from_array(image)
    itk_seeds = itk.image_from_array(seeds)
    itk_spacing = [float(s) for s in reversed(spacing)]  # ITK orders axes (x, y, z)
    itk_image.SetSpacing(itk_spacing)
    itk_seeds.SetSpacing(itk_spacing)
    grower = itk.FastGrowCut[itk.Image[itk.F, 3], itk.Image[itk.UC, 3]].New()
    grower.SetInput(itk_image)
    grower.SetSeedImage(itk_seeds)
    grower.Update()
    return np.asarray(itk.array_from_image(grower.GetOutput()))


def growcut_available():
    """True where the ``itk-growcut`` package is installed (checked without importing ITK)."""
    spec = importlib.util.find_spec("itk")
    if spec is None or not spec.submodule_search_locations:
        return False
    return any(os.path.isfile(os.path.join(folder, "GrowCutPython.py"))
               for folder in spec.submodule_search_locations)


def random_walker_available():
    """True where scikit-image can be imported."""
    return importlib.util.find_spec("skimage") is not None


def available_peers():
    """Names (keys of :data:`PEERS`) of the methods whose dependencies are installed, in table order."""
    ready = {"graphcut": True, "geos": True, "random_walker": random_walker_available(),
             "growcut": growcut_available()}
    return [name for name in PEERS if ready[name]]


PEERS.update({"graphcut": boykov_jolly, "random_walker": random_walker, "geos": geos, "growcut": growcut})


# -- helpers --------------------------------------------------------------------


def _check_box(box, shape):
    """`box` as a tuple of non-empty slices inside `shape` (None: the whole image)."""
    if box is None:
        return tuple(slice(0, n) for n in shape)
    if not isinstance(box, (tuple, list)) or len(box) != len(shape) \
            or not all(isinstance(s, slice) for s in box):
        raise ValueError("box must be a tuple of {} slices (array order), got {!r}".format(len(shape), box))
    out = []
    for s, n in zip(box, shape):
        start, stop, step = s.indices(n)
        if step != 1 or stop <= start:
            raise ValueError("box must select a non-empty region with step 1 along every axis, "
                             "got {!r}".format(box))
        out.append(slice(start, stop))
    return tuple(out)


def _border_seeds(box, shape):
    """Bool mask, box shape: the box's faces that are not on the image edge (all faces if none is)."""
    crop_shape = tuple(s.stop - s.start for s in box)
    inner = np.zeros(crop_shape, bool)
    every = np.zeros(crop_shape, bool)
    for axis, (s, n) in enumerate(zip(box, shape)):
        for index, at_edge in ((0, s.start == 0), (crop_shape[axis] - 1, s.stop == n)):
            face = (slice(None),) * axis + (index,)
            every[face] = True
            if not at_edge:
                inner[face] = True
    return inner if inner.any() else every


def _prepare(image, spacing, fg_points, bg_points, box):
    """Validate; return (unit crop, fg seeds, bg seeds, clicked bg seeds, spacing, box, image shape).

    The seed masks have the crop's shape; "bg seeds" are the clicked ones and the box border.
    """
    image_arr = np.asarray(image)
    if image_arr.ndim not in (2, 3):
        raise ValueError("image must be 2D (H, W) or 3D (D, H, W), got shape {}".format(image_arr.shape))
    shape = image_arr.shape
    spacing = check_spacing(spacing, len(shape))
    box = _check_box(box, shape)
    crop = check_image(image_arr[box], name="image")
    fg = check_points(fg_points, shape, name="fg_points", min_count=1)
    bg = check_points(bg_points, shape, name="bg_points")
    corner = np.array([s.start for s in box], dtype=float)
    for name, points in (("fg_points", fg), ("bg_points", bg)):
        local = np.rint(points) - corner
        outside = ((local < 0) | (local > np.asarray(crop.shape) - 1)).any(axis=1)
        if outside.any():
            raise ValueError("{}: {} point(s) lie outside box {}, e.g. {}".format(
                name, int(outside.sum()), tuple((s.start, s.stop) for s in box),
                tuple(float(c) for c in points[outside][0])))
    fg_mask = points_to_mask(fg - corner, crop.shape)
    clicked_bg = points_to_mask(bg - corner, crop.shape)
    if (fg_mask & clicked_bg).any():
        raise ValueError("fg_points and bg_points share the voxel {}".format(
            tuple(int(c + o) for c, o in zip(np.argwhere(fg_mask & clicked_bg)[0], corner))))
    bg_mask = (clicked_bg | _border_seeds(box, shape)) & ~fg_mask
    return rescale_unit(crop), fg_mask, bg_mask, clicked_bg & ~fg_mask, spacing, box, shape


def _one_blas_thread():
    """Limit BLAS to one thread where threadpoolctl is installed (else a no-op context).

    The random walker's conjugate gradient calls BLAS on vectors of one
    crop's size, thousands of times; with several BLAS threads on busy cores
    the synchronisation dominates (measured: 3.5 s instead of 0.02 s for a
    16,000-voxel crop on 2 shared cores).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _seed_likelihood(unit, fg, bg, clicked_bg, bins=64, smoothing_bins=4.0, brush_vox=1):
    """P(fg | I) per voxel (float32, crop shape) from the seeds' intensity histograms.

    The histograms sample the seed voxels and, within `brush_vox` voxels
    (face connectivity), the neighbours of the foreground seeds and the
    background clicks, as a painting brush would (see :func:`boykov_jolly`).
    """
    bins = int(bins)
    if bins < 2:
        raise ValueError("bins must be an integer >= 2, got {!r}".format(bins))
    if not smoothing_bins >= 0:
        raise ValueError("smoothing_bins must be >= 0, got {!r}".format(smoothing_bins))
    brush_vox = int(brush_vox)
    if brush_vox < 0:
        raise ValueError("brush_vox must be an integer >= 0, got {!r}".format(brush_vox))
    sample_fg, sample_bg = fg, bg
    if brush_vox:
        sample_fg = ndimage.binary_dilation(fg, iterations=brush_vox) & ~bg
        sample_bg = bg | (ndimage.binary_dilation(clicked_bg, iterations=brush_vox) & ~fg)
    h_fg = _histogram(unit[sample_fg], bins, smoothing_bins)
    h_bg = _histogram(unit[sample_bg], bins, smoothing_bins)
    index = np.minimum((unit * bins).astype(np.intp), bins - 1)
    return (h_fg / (h_fg + h_bg))[index].astype(np.float32)


def _histogram(values, bins, smoothing_bins):
    """Smoothed, floored, normalised histogram of values in [0, 1] (float64, `bins` entries)."""
    counts = np.bincount(np.minimum((values * bins).astype(np.intp), bins - 1), minlength=bins).astype(float)
    if smoothing_bins > 0:
        counts = ndimage.gaussian_filter1d(counts, smoothing_bins, mode="nearest")
    counts /= max(counts.sum(), 1e-12)
    counts += 1e-3 / bins
    return counts / counts.sum()


def _paste(mask_crop, box, shape):
    out = np.zeros(shape, np.uint8)
    out[box] = mask_crop
    return out
