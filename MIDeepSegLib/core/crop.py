"""The relaxed bounding box of the interior margin points, and cropping to it."""

import math

import numpy as np

from .._checks import check_points, check_spacing


def relaxed_bbox(points, shape, spacing=None, margin_mm=5.0):
    """Bounding box of the points enlarged by a margin, clamped to the image.

    Parameters
    ----------
    points : (N, ndim) array_like
        Voxel coordinates, array order; at least one.
    shape : tuple of int
        Image shape (array order).
    spacing : sequence of float, optional
        mm per array axis. Default 1.
    margin_mm : float or sequence of float
        Margin added on each side, mm (per axis if a sequence). Rounded up to
        whole voxels, so every axis gets at least one voxel of margin when
        margin_mm > 0.

    Returns
    -------
    tuple of slice, one per axis, usable as ``image[box]``; never empty.
    """
    points = check_points(points, shape, min_count=1)
    spacing = check_spacing(spacing, len(shape))
    margins = np.broadcast_to(np.asarray(margin_mm, dtype=float), (len(shape),))
    if (margins < 0).any() or not np.isfinite(margins).all():
        raise ValueError("margin_mm must be finite and >= 0, got {}".format(margin_mm))
    box = []
    for axis, size in enumerate(shape):
        margin_vox = int(math.ceil(margins[axis] / spacing[axis] - 1e-9))
        lo = int(math.floor(points[:, axis].min() + 0.5)) - margin_vox
        hi = int(math.floor(points[:, axis].max() + 0.5)) + margin_vox + 1
        box.append(slice(max(lo, 0), min(hi, size)))
    return tuple(box)


def box_union(a, b):
    """Smallest box containing boxes `a` and `b` (tuples of slices)."""
    return tuple(slice(min(x.start, y.start), max(x.stop, y.stop)) for x, y in zip(a, b))


def box_shape(box):
    """Shape of the region a box selects."""
    return tuple(s.stop - s.start for s in box)


def shift_points(points, box):
    """Express image voxel coordinates relative to the box's corner (array order)."""
    return np.asarray(points, dtype=float).reshape(-1, len(box)) - np.array([s.start for s in box], dtype=float)


def border_sides(points, shape, spacing=None, distance_mm=0.0):
    """The image sides that the points come within `distance_mm` of: where the object runs out of the image.

    A user puts interior margin points a few voxels inside the object's
    boundary; a point this close to the image's first or last voxel along an
    axis says that the object reaches that side, and most likely goes on
    beyond it (an organ cut by a scan's first or last slice).

    Parameters
    ----------
    points : (N, ndim) array_like
        Voxel coordinates, array order.
    shape : tuple of int
        Image shape.
    spacing : sequence of float, optional
        mm per array axis. Default 1.
    distance_mm : float >= 0
        A side counts when a point lies at most this far (mm, between voxel centres) from its outermost voxels.

    Returns
    -------
    bool ndarray (ndim, 2): ``[axis, 0]`` the side at index 0, ``[axis, 1]`` the side at ``shape[axis] - 1``.
    """
    points = check_points(points, shape, min_count=1)
    spacing = np.asarray(check_spacing(spacing, len(shape)))
    if not (np.isfinite(distance_mm) and distance_mm >= 0):
        raise ValueError("distance_mm must be a distance >= 0 in mm, got {}".format(distance_mm))
    low = points.min(axis=0) * spacing
    high = (np.asarray(shape) - 1 - points.max(axis=0)) * spacing
    return np.stack([low <= distance_mm, high <= distance_mm], axis=1)


def extend_to_border(box, sides, shape):
    """`box` grown to the image border on the `sides` that are True (:func:`border_sides`' layout)."""
    return tuple(slice(0 if lo else s.start, n if hi else s.stop) for s, (lo, hi), n in zip(box, sides, shape))


def object_region(points, shape, spacing=None, margin_mm=5.0, border_voxels=0):
    """The region a session works on: the points' relaxed box, grown to the sides the object runs out of.

    Parameters
    ----------
    points, shape, spacing, margin_mm
        As :func:`relaxed_bbox`.
    border_voxels : float >= 0
        A side counts when a point lies within this many voxels of the finest
        axis (in mm) of it (:func:`border_sides`); 0: the relaxed box alone.

    Returns
    -------
    (box, sides): the box (tuple of slices) and :func:`border_sides`' (ndim, 2) bool array.
    """
    box = relaxed_bbox(points, shape, spacing, margin_mm)
    if not border_voxels > 0:
        return box, np.zeros((len(shape), 2), bool)
    spacing = check_spacing(spacing, len(shape))
    sides = border_sides(points, shape, spacing, border_voxels * min(spacing))
    return extend_to_border(box, sides, shape), sides
