"""Training augmentations of the paper (Section 2.5): rotation, scaling, flips in space and intensity.

Drawing the random parameters (:func:`draw_augmentation`) is separate from
applying them (:func:`apply_augmentation`, deterministic), so an augmented
scene can be replayed from its parameters.
"""

import math
from collections import namedtuple

import numpy as np
from scipy import ndimage

from .._checks import check_spacing
from ..core.components import largest_component

#: Parameters of one augmentation.
#: ``matrix``: (ndim, ndim) linear map in physical space (rotation x scaling),
#: applied about the object's centre, or None for no spatial transform;
#: ``flips``: tuple of bool per array axis; ``gamma``: exponent applied to
#: the image rescaled to [0, 1] (1 = none); ``invert``: negate the intensities.
Augmentation = namedtuple("Augmentation", ["matrix", "flips", "gamma", "invert"])


def _rotation_2d(angle):
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


def _plane_rotation(ndim, a, b, angle):
    out = np.eye(ndim)
    out[np.ix_([a, b], [a, b])] = _rotation_2d(angle)
    return out


def draw_augmentation(rng, ndim, spacing=None, *, spatial_p=0.8, max_rotation_deg=180.0,
                      max_tilt_deg=(10.0, 30.0), scale_range=(0.8, 1.25), anisotropic_scale=0.1, flip_p=0.5,
                      gamma_log_std=0.35, invert_p=0.2):
    """Draw random augmentation parameters.

    Parameters
    ----------
    rng : numpy.random.Generator
    ndim : {2, 3}
    spacing : sequence of float, optional
        Voxel size, mm per array axis; thick-slice volumes get smaller tilts.
    spatial_p : float
        Probability of a rotation + scaling.
    max_rotation_deg : float
        Largest rotation in the image plane (2D) or about array axis 0 (3D,
        the slice plane), degrees.
    max_tilt_deg : (float, float)
        Largest rotation out of the slice plane (3D), degrees: for
        thick-slice volumes (voxel size ratio >= 1.5) and for others.
    scale_range : (float, float)
        Range of the overall scale factor (log-uniform).
    anisotropic_scale : float
        Extra independent scale per axis, ``exp(U(-a, a))``.
    flip_p : float
        Probability of flipping each axis.
    gamma_log_std : float
        Standard deviation of log(gamma).
    invert_p : float
        Probability of negating the intensities ("flipping in intensity").

    Returns
    -------
    Augmentation
    """
    if ndim not in (2, 3):
        raise ValueError("ndim must be 2 or 3, got {!r}".format(ndim))
    spacing = check_spacing(spacing, ndim)
    matrix = None
    if rng.random() < spatial_p:
        theta = math.radians(rng.uniform(-max_rotation_deg, max_rotation_deg))
        if ndim == 2:
            rotation = _rotation_2d(theta)
        else:
            thick = max(spacing) / min(spacing) >= 1.5
            tilt = math.radians(max_tilt_deg[0] if thick else max_tilt_deg[1])
            rotation = (_plane_rotation(3, 1, 2, theta) @ _plane_rotation(3, 0, 1, rng.uniform(-tilt, tilt))
                        @ _plane_rotation(3, 0, 2, rng.uniform(-tilt, tilt)))
        scale = math.exp(rng.uniform(math.log(scale_range[0]), math.log(scale_range[1])))
        scales = scale * np.exp(rng.uniform(-anisotropic_scale, anisotropic_scale, ndim))
        matrix = rotation @ np.diag(scales)
    flips = tuple(bool(f) for f in rng.random(ndim) < flip_p)
    gamma = float(math.exp(rng.normal(0.0, gamma_log_std)))
    invert = bool(rng.random() < invert_p)
    return Augmentation(matrix, flips, gamma, invert)


def apply_augmentation(image, mask, spacing, params):
    """Apply augmentation parameters to an image and its object mask (deterministic).

    The spatial transform maps physical space (mm, honouring `spacing`) about
    the object's centre onto the same grid: the output has the input's shape
    and spacing. The image is interpolated linearly (edges continued), the
    mask linearly and thresholded at 0.5, keeping its largest component.

    Parameters
    ----------
    image : (H, W) or (D, H, W) ndarray
        Intensities, array order.
    mask : bool ndarray, image shape
        The object; must not be empty.
    spacing : sequence of float
        mm per array axis.
    params : Augmentation

    Returns
    -------
    image : float32 ndarray, image shape
    mask : bool ndarray, image shape (empty only if the transform moved the
        object out of the grid)
    """
    image = np.asarray(image, dtype=np.float32)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != image.shape:
        raise ValueError("mask must have the image's shape {}, got {}".format(image.shape, mask.shape))
    if not mask.any():
        raise ValueError("mask is empty: there is no object to augment")
    spacing = np.asarray(check_spacing(spacing, image.ndim))
    if params.matrix is not None:
        linear = np.asarray(params.matrix, dtype=float)
        centre = np.argwhere(mask).mean(axis=0)
        # output voxel o -> input voxel D^-1 (c + A^-1 (D o - c)), D = diag(spacing), c = D centre
        inverse = np.linalg.inv(linear)
        matrix = np.diag(1 / spacing) @ inverse @ np.diag(spacing)
        offset = centre - matrix @ centre
        image = ndimage.affine_transform(image, matrix, offset, order=1, mode="nearest")
        moved = ndimage.affine_transform(mask.astype(np.float32), matrix, offset, order=1, mode="constant")
        mask = largest_component(moved >= 0.5)
    flip = tuple(slice(None, None, -1) if f else slice(None) for f in params.flips)
    image, mask = image[flip], mask[flip]
    if params.gamma != 1.0 or params.invert:
        low, high = float(image.min()), float(image.max())
        if high > low:
            unit = (image - np.float32(low)) / np.float32(high - low)
            if params.gamma != 1.0:
                unit = unit ** np.float32(params.gamma)
            image = 1.0 - unit if params.invert else unit
    return np.ascontiguousarray(image, dtype=np.float32), np.ascontiguousarray(mask)
