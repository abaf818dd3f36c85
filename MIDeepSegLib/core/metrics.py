"""Segmentation metrics in physical units: Dice, ASSD and HD95.

Surfaces are the voxels of a mask that touch the background (face
connectivity); surface distances are Euclidean distances between voxel
centres in mm, honouring anisotropic spacing.
"""

import numpy as np
from scipy import ndimage

from .._checks import check_spacing


def dice(a, b):
    """Dice coefficient 2|A n B| / (|A| + |B|) of two masks (1.0 when both are empty)."""
    a, b = _pair(a, b)
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


def assd(a, b, spacing=None):
    """Average symmetric surface distance in mm.

    0.0 when both masks are empty, ``inf`` when exactly one is.
    """
    d_ab, d_ba = _surface_distances(a, b, spacing)
    if d_ab is None:
        return _empty_value(a, b)
    return float((d_ab.sum() + d_ba.sum()) / (len(d_ab) + len(d_ba)))


def hd95(a, b, spacing=None):
    """95th-percentile symmetric Hausdorff distance in mm (0.0 / inf as :func:`assd`)."""
    d_ab, d_ba = _surface_distances(a, b, spacing)
    if d_ab is None:
        return _empty_value(a, b)
    return float(np.percentile(np.concatenate([d_ab, d_ba]), 95))


def _pair(a, b):
    a, b = np.asarray(a) != 0, np.asarray(b) != 0
    if a.shape != b.shape:
        raise ValueError("masks must have the same shape, got {} and {}".format(a.shape, b.shape))
    return a, b


def _empty_value(a, b):
    a, b = _pair(a, b)
    return 0.0 if not a.any() and not b.any() else float("inf")


def _surface(mask):
    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def _surface_distances(a, b, spacing):
    """Distances (mm) from each surface voxel of a to b's surface, and back; None if one is empty."""
    a, b = _pair(a, b)
    if not a.any() or not b.any():
        return None, None
    spacing = check_spacing(spacing, a.ndim)
    # Work on the joint bounding box (+1 voxel) only: distance transforms of
    # whole volumes are costly and the far background does not matter.
    idx = np.argwhere(a | b)
    box = tuple(slice(max(lo - 1, 0), hi + 2) for lo, hi in zip(idx.min(0), idx.max(0)))
    surf_a, surf_b = _surface(a[box]), _surface(b[box])
    to_b = ndimage.distance_transform_edt(~surf_b, sampling=spacing)
    to_a = ndimage.distance_transform_edt(~surf_a, sampling=spacing)
    return to_b[surf_a], to_a[surf_b]
