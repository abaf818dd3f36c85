"""The simulated user: interior margin points and refinement clicks.

Used by training, the benchmarks and the tests. Random choices come from a
``numpy.random.Generator`` that the caller passes (replayable runs); applying
the clicks is deterministic and lives elsewhere.
"""

from collections import namedtuple

import numpy as np
from scipy import ndimage

from .._checks import check_spacing

#: A refinement click: ``point`` (ndim,) float voxel coordinates (array order),
#: ``foreground`` True for an under-segmented region, False for an over-segmented one.
Click = namedtuple("Click", ["point", "foreground"])


def interior_margin_points(mask, rng, spacing=None, *, n_extreme=None, n_random=None, inward_vox=(2, 4),
                           jitter_vox=2):
    """Simulate a user's interior margin points for an object (paper Section 2.1).

    1. Points on the object's boundary near its extreme points (the voxels with
       the lowest / highest coordinate along each axis), each drawn among the
       boundary voxels within `jitter_vox` of an extreme point. The paper
       uses 3-4 in 2D and 5-6 in 3D; by default all 4 / 6 are used, because
       with fewer the side without a point can fall outside the relaxed box,
       breaking the paper's second rule (the box covers the object). Pass
       `n_extreme` (e.g. drawn from 3-4) for training-time variety.
    2. `n_random` further random boundary points (default: drawn from 0..5).
    3. Every point is moved towards the inside of the object by a number of
       voxels drawn from `inward_vox` (inclusive range), onto the nearest
       voxel that lies that deep (less for thin objects).

    Parameters
    ----------
    mask : (H, W) or (D, H, W) array_like
        The object (non-zero voxels). Must not be empty.
    rng : numpy.random.Generator
    spacing : sequence of float, optional
        mm per array axis; depth is measured in voxels of the finest axis.

    Returns
    -------
    float64 ndarray (N, ndim) of voxel coordinates (integers), array order,
    all inside the object.
    """
    mask = np.asarray(mask) != 0
    if mask.ndim not in (2, 3):
        raise ValueError("mask must be 2D or 3D, got shape {}".format(mask.shape))
    if not mask.any():
        raise ValueError("mask is empty: there is no object to click on")
    spacing = check_spacing(spacing, mask.ndim)
    ndim = mask.ndim
    boundary = np.argwhere(mask & ~ndimage.binary_erosion(mask, border_value=0))

    if n_extreme is None:
        n_extreme = 2 * ndim
    extremes = []
    for axis in range(ndim):
        coords = boundary[:, axis]
        extremes.append(boundary[coords == coords.min()])
        extremes.append(boundary[coords == coords.max()])
    chosen = []
    for k in rng.permutation(len(extremes))[:n_extreme]:
        candidates = extremes[k]
        centre = candidates[rng.integers(len(candidates))]
        near = boundary[np.abs(boundary - centre).max(axis=1) <= jitter_vox]
        chosen.append(near[rng.integers(len(near))])
    if n_random is None:
        n_random = int(rng.integers(0, 6))
    if n_random:
        chosen.extend(boundary[rng.choice(len(boundary), size=min(n_random, len(boundary)), replace=False)])
    points = np.array(chosen, dtype=np.intp)

    # Move inwards: the nearest voxel whose depth (distance to the background,
    # in voxels of the finest axis) reaches the drawn value.
    unit = min(spacing)
    depth = ndimage.distance_transform_edt(mask, sampling=[s / unit for s in spacing])
    moved = []
    for point in points:
        wanted = min(float(rng.integers(inward_vox[0], inward_vox[1] + 1)), 0.5 * float(depth.max()))
        deep = depth >= max(wanted, 1.0)
        moved.append(_nearest_true(deep, point, spacing) if deep.any() else point)
    return np.unique(np.array(moved, dtype=float), axis=0)


def refinement_click(prediction, truth, spacing=None):
    """Where a user would click next: the most interior voxel of the largest error region.

    Error regions are the connected components (face connectivity) of the
    under-segmented voxels (truth and not prediction: a foreground click) and
    of the over-segmented ones (prediction and not truth: a background
    click). The largest region by volume gets the click, at the voxel farthest
    (in mm) from the region's border. Deterministic: ties go to the first voxel
    in array order.

    Returns
    -------
    Click or None when prediction equals truth.
    """
    prediction, truth = np.asarray(prediction) != 0, np.asarray(truth) != 0
    if prediction.shape != truth.shape:
        raise ValueError("prediction and truth must have the same shape, got {} and {}".format(
            prediction.shape, truth.shape))
    spacing = check_spacing(spacing, truth.ndim)
    best = None
    for foreground, error in ((True, truth & ~prediction), (False, prediction & ~truth)):
        labels, count = ndimage.label(error)
        if count == 0:
            continue
        sizes = np.bincount(labels.ravel())[1:]
        label = int(np.argmax(sizes)) + 1
        if best is None or sizes[label - 1] > best[0]:
            best = (sizes[label - 1], foreground, labels == label)
    if best is None:
        return None
    _, foreground, region = best
    depth = ndimage.distance_transform_edt(np.pad(region, 1), sampling=spacing)[(slice(1, -1),) * region.ndim]
    point = np.unravel_index(int(np.argmax(depth)), region.shape)
    return Click(np.array(point, dtype=float), foreground)


def _nearest_true(mask, point, spacing):
    """Coordinates of the True voxel of `mask` nearest (mm) to `point`."""
    idx = np.argwhere(mask)
    d2 = (((idx - point) * np.asarray(spacing)) ** 2).sum(axis=1)
    return idx[int(np.argmin(d2))]
