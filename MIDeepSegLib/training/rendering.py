"""Rendering a synthetic scene: smooth random fields, and the acquisition's degradations.

Shared by both synthetic training sources (:mod:`.shapes` and :mod:`.labelmaps`).
Every random choice comes from the ``numpy.random.Generator`` passed in.
"""

import math

import numpy as np
from scipy import ndimage


def smooth_field(rng, shape, scale_vox):
    """A smooth random field: zero mean, unit standard deviation, float32.

    Parameters
    ----------
    rng : numpy.random.Generator
    shape : tuple of int
        Field shape, array order.
    scale_vox : float or sequence of float
        Correlation length per axis, voxels (>= 1): white noise on a grid
        that much coarser, smoothed and upsampled by cubic B-splines (one
        small matrix product per axis, so the cost grows with the output size
        only).
    """
    shape = tuple(int(s) for s in shape)
    scale = np.broadcast_to(np.maximum(np.asarray(scale_vox, dtype=float), 1.0), (len(shape),))
    coarse_shape = tuple(int(math.ceil(n / s)) + 4 for n, s in zip(shape, scale))
    field = rng.standard_normal(coarse_shape).astype(np.float32)
    for axis, (n, s, m) in enumerate(zip(shape, scale, coarse_shape)):
        x = np.arange(n) / s + 1.5  # fine voxel centres on the coarse grid (2 knots of margin)
        weights = _bspline3(x[:, None] - np.arange(m)[None, :]).astype(np.float32)
        field = np.moveaxis(np.tensordot(weights, field, axes=([1], [axis])), 0, axis)
    std = float(field.std())
    return (field - np.float32(field.mean())) / np.float32(std if std > 0 else 1.0)


def _bspline3(t):
    """Cubic B-spline kernel (support [-2, 2])."""
    t = np.abs(t)
    return np.where(t < 1, 2.0 / 3 - t ** 2 + t ** 3 / 2, np.where(t < 2, (2 - t) ** 3 / 6, 0.0))


def degrade(rng, image, spacing, *, noise_std, bias, blur_vox):
    """Bias field, blur and noise on an image in about [0, 1]; returns float32."""
    if bias > 0:
        scale = [max(n / rng.uniform(1.0, 3.0), 2.0) for n in image.shape]
        image = image * np.exp(np.float32(bias) * smooth_field(rng, image.shape, scale))
    if blur_vox > 0:
        finest = min(spacing)
        image = ndimage.gaussian_filter(image, [blur_vox * finest / s for s in spacing])
    if noise_std > 0:
        if rng.random() < 0.2:  # multiplicative speckle, ultrasound-like
            speckle = rng.standard_normal(image.shape, dtype=np.float32)
            image = image * (1.0 + np.float32(2 * noise_std) * speckle)
        else:
            image = image + np.float32(noise_std) * rng.standard_normal(image.shape, dtype=np.float32)
    return image.astype(np.float32)


def random_spacing(rng, ndim, *, anisotropic_p=0.35):
    """Voxel size (mm, array order): isotropic 0.5-2 mm, sometimes with a thick axis.

    In 3D the thick axis is the first (slices, array axis 0) four times out of five.
    """
    base = float(np.exp(rng.uniform(np.log(0.5), np.log(2.0))))
    spacing = [base] * ndim
    if rng.random() < anisotropic_p:
        axis = 0 if (ndim == 3 and rng.random() < 0.8) else int(rng.integers(ndim))
        spacing[axis] = base * float(rng.uniform(1.5, 6.0 if ndim == 3 else 4.0))
    return tuple(spacing)
