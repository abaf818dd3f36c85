"""Cue maps: how the interior margin points are shown to the CNN (paper Section 2.2).

:func:`egd` is the paper's Exponentialized Geodesic Distance (Eq. 1),
``exp(-D_geo)``, parameter-free. The other encodings exist for the paper's
Table 2 ablation. All of them return float32 maps in [0, 1] with the image's
shape, 1 at the points and falling off away from them, and are selected by
name with :func:`cue_map`.

Image normalisation: the geodesic distance is computed on the image rescaled
to [0, 1] between its 0.5th and 99.5th percentiles
(:func:`MIDeepSegLib.core.intensity.rescale_unit`), usually the crop around the
object. The scale matters: D is a sum of intensity changes, so on raw CT
(thousands of HU) or a z-scored crop exp(-D) would be ~0 one voxel away from
the points.
"""

import numpy as np
from scipy import ndimage

from .._checks import check_image, check_points, check_spacing, points_to_mask
from .geodesic import geodesic_distance
from .intensity import rescale_unit

#: Encoding names accepted by :func:`cue_map`.
ENCODINGS = ("egd", "euclidean", "gaussian", "geodesic", "bbox")

#: Default sweep iterations for cue maps and refinement. A compromise: on
#: real crops (Colin27 structures, 64x96x96 grid) 4 passes leave a largest
#: EGD error of 0.05-0.18 against the exact transform at ~1/6 of its cost;
#: GeodisTK with 4 passes is no closer (docs/speed-benchmark.md). Training uses
#: the same setting, so the network sees what it was trained on.
#: ``iterations=None`` anywhere gives the exact distance.
DEFAULT_ITERATIONS = {2: 4, 3: 4}


def egd(image, points, spacing=None, *, iterations="default", device=None, normalise=True):
    """Exponentialized Geodesic Distance of the points (paper Eq. 1).

    Parameters
    ----------
    image : (H, W) or (D, H, W) array_like
        Intensities, array order (usually the crop).
    points : (N, ndim) array_like
        Voxel coordinates of the points, array order (rounded to the nearest voxel).
    spacing : sequence of float, optional
        mm per array axis. Default 1.
    iterations : int, None or "default"
        Geodesic sweep iterations (see :func:`~MIDeepSegLib.core.geodesic.geodesic_distance`);
        "default" = DEFAULT_ITERATIONS[ndim].
    device : str, optional
        Torch device for the geodesic transform.
    normalise : bool
        Rescale the image to [0, 1] first (see the module notes). Set False
        only if it is already on that scale.

    Returns
    -------
    float32 ndarray, image shape: exp(-D), 1 at the points.
    """
    image, seeds, spacing = _prepare(image, points, spacing)
    if iterations == "default":
        iterations = DEFAULT_ITERATIONS[image.ndim]
    dist = geodesic_distance(rescale_unit(image) if normalise else image, seeds, spacing,
                             lamb=1.0, iterations=iterations, device=device)
    return np.exp(-dist).astype(np.float32)


def euclidean(image, points, spacing=None, *, threshold_mm=20.0):
    """Thresholded Euclidean distance: ``1 - min(d, T) / T`` with d in mm (Xu et al. 2016)."""
    image, seeds, spacing = _prepare(image, points, spacing)
    dist = ndimage.distance_transform_edt(~seeds, sampling=spacing)
    return (1.0 - np.minimum(dist, threshold_mm) / threshold_mm).astype(np.float32)


def gaussian(image, points, spacing=None, *, sigma_mm=5.0):
    """Gaussian heat map ``exp(-d^2 / (2 sigma^2))`` around the points, d in mm (Maninis et al. 2018)."""
    image, seeds, spacing = _prepare(image, points, spacing)
    dist = ndimage.distance_transform_edt(~seeds, sampling=spacing)
    return np.exp(-dist ** 2 / (2.0 * sigma_mm ** 2)).astype(np.float32)


def geodesic(image, points, spacing=None, *, threshold=None, iterations="default", device=None):
    """Thresholded geodesic distance, DeepIGeoS style: ``1 - min(D, T) / T``.

    D is computed as for :func:`egd`. ``threshold=None`` uses T = the 90th
    percentile of D over the image, the kind of hand-tuned value the paper
    criticises this encoding for needing.
    """
    image, seeds, spacing = _prepare(image, points, spacing)
    if iterations == "default":
        iterations = DEFAULT_ITERATIONS[image.ndim]
    dist = geodesic_distance(rescale_unit(image), seeds, spacing, iterations=iterations, device=device)
    if threshold is None:
        threshold = float(np.percentile(dist, 90))
    threshold = max(float(threshold), 1e-6)
    return (1.0 - np.minimum(dist, threshold) / threshold).astype(np.float32)


def bbox(image, points, spacing=None):
    """Bounding box only: 1 inside the points' tight bounding box, 0 outside."""
    image, seeds, spacing = _prepare(image, points, spacing)
    out = np.zeros(image.shape, np.float32)
    idx = np.argwhere(seeds)
    out[tuple(slice(lo, hi + 1) for lo, hi in zip(idx.min(0), idx.max(0)))] = 1.0
    return out


_FUNCTIONS = {"egd": egd, "euclidean": euclidean, "gaussian": gaussian, "geodesic": geodesic, "bbox": bbox}


def cue_map(encoding, image, points, spacing=None, **params):
    """Encode points with the named encoding (one of ENCODINGS); `params` go to that function."""
    try:
        function = _FUNCTIONS[encoding]
    except KeyError:
        raise ValueError("encoding must be one of {}, got {!r}".format(ENCODINGS, encoding)) from None
    return function(image, points, spacing, **params)


def _prepare(image, points, spacing):
    image = check_image(image)
    points = check_points(points, image.shape, min_count=1)
    return image, points_to_mask(points, image.shape), check_spacing(spacing, image.ndim)
