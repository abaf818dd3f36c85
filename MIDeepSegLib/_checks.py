"""Input checks shared by every public function.

Each checker validates one argument, names it and the offending value in a
``ValueError``, and returns it coerced once (contiguous, right dtype) so that
the inner loops can trust their inputs.
"""

import numbers

import numpy as np


def check_image(image, name="image", allow_constant=True):
    """Return `image` as a contiguous float32 array of 2 or 3 dimensions.

    Raises ``ValueError`` for a wrong number of dimensions, an empty array, or
    NaN/inf values (`allow_constant=False` also rejects a constant image).
    """
    arr = np.asarray(image)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError("{} must be a numeric array, got dtype {}".format(name, arr.dtype))
    if arr.ndim not in (2, 3):
        raise ValueError(
            "{} must be 2D (H, W) or 3D (D, H, W), got {} dimensions with shape {}".format(
                name, arr.ndim, arr.shape))
    if arr.size == 0:
        raise ValueError("{} is empty (shape {})".format(name, arr.shape))
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise ValueError("{} contains {} NaN or infinite values; fill or mask them first".format(
            name, int((~np.isfinite(arr)).sum())))
    if not allow_constant and arr.min() == arr.max():
        raise ValueError("{} is constant (every value is {}); there is nothing to segment".format(
            name, float(arr.flat[0])))
    return arr


def check_spacing(spacing, ndim, name="spacing"):
    """Return `spacing` as a tuple of `ndim` positive floats (array order, mm).

    ``None`` means unit spacing.
    """
    if spacing is None:
        return (1.0,) * ndim
    if isinstance(spacing, numbers.Number):
        raise ValueError(
            "{} must have one value per array axis ({} values, array order), got the scalar {}".format(
                name, ndim, spacing))
    values = tuple(float(s) for s in np.asarray(spacing, dtype=float).ravel())
    if len(values) != ndim:
        raise ValueError("{} must have one value per array axis ({} values, array order), got {}".format(
            name, ndim, tuple(spacing)))
    if not all(np.isfinite(s) and s > 0 for s in values):
        raise ValueError("{} values must be finite and positive (mm), got {}".format(name, values))
    return values


def check_mask(mask, shape, name="mask", allow_empty=True):
    """Return `mask` as a contiguous bool array of the given shape."""
    arr = np.asarray(mask)
    if arr.shape != tuple(shape):
        raise ValueError("{} must have the image's shape {}, got {}".format(name, tuple(shape), arr.shape))
    arr = np.ascontiguousarray(arr != 0)
    if not allow_empty and not arr.any():
        raise ValueError("{} is empty: at least one voxel must be set".format(name))
    return arr


def check_probability(probability, shape, name="probability"):
    """Return `probability` as contiguous float32 of `shape`, values in [0, 1]."""
    arr = np.asarray(probability)
    if arr.shape != tuple(shape):
        raise ValueError("{} must have the image's shape {}, got {}".format(name, tuple(shape), arr.shape))
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise ValueError("{} contains NaN or infinite values".format(name))
    if arr.min() < 0 or arr.max() > 1:
        raise ValueError("{} must lie in [0, 1], got values in [{}, {}]".format(
            name, float(arr.min()), float(arr.max())))
    return arr


def check_points(points, shape, name="points", min_count=0):
    """Return `points` as a float64 (N, ndim) array of voxel coordinates.

    Coordinates are in array order and must lie inside the image: each one in
    [-0.5, size - 0.5] along its axis, i.e. within the voxel's extent. An empty
    list gives shape (0, ndim).
    """
    ndim = len(shape)
    arr = np.asarray(points if points is not None else [], dtype=float)
    if arr.size == 0:
        arr = arr.reshape(0, ndim)
    if arr.ndim == 1 and arr.shape[0] == ndim:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != ndim:
        raise ValueError("{} must have shape (N, {}) in array order, got shape {}".format(
            name, ndim, arr.shape))
    if not np.isfinite(arr).all():
        raise ValueError("{} contains NaN or infinite coordinates".format(name))
    if len(arr) < min_count:
        raise ValueError("{} needs at least {} points, got {}".format(name, min_count, len(arr)))
    upper = np.asarray(shape, dtype=float) - 0.5
    outside = ((arr < -0.5) | (arr > upper)).any(axis=1)
    if outside.any():
        bad = arr[outside][0]
        raise ValueError(
            "{}: {} point(s) lie outside the image of shape {}, e.g. {} (voxel coordinates, array order)".format(
                name, int(outside.sum()), tuple(shape), tuple(round(float(c), 2) for c in bad)))
    return arr


def points_to_mask(points, shape):
    """Rasterise voxel coordinates (N, ndim) to a bool mask (nearest voxel)."""
    mask = np.zeros(shape, dtype=bool)
    if len(points):
        idx = np.clip(np.rint(points).astype(np.intp), 0, np.asarray(shape) - 1)
        mask[tuple(idx.T)] = True
    return mask
