"""Network input preparation, shared by inference (Segmenter) and training.

A crop (the relaxed bounding box of the interior margin points) is resized to
the network's fixed input grid, the points are encoded as a cue map on that
grid, and the two are stacked as the network's input channels. Doing it on
the fixed grid bounds the cost of the cue map whatever the crop's size, and
training calls the same function, so both see identical inputs.
"""

import math

import numpy as np

from ..core.cuemap import cue_map
from ..core.intensity import zscore


def resize(array, shape, *, mode="linear"):
    """Resize a 2D/3D array to `shape` by (bi/tri)linear or nearest interpolation.

    Voxel centres are aligned as in ``align_corners=False``: the array covers
    the same physical extent before and after (see :func:`grid_points`).
    Returns float32.
    """
    import torch  # deferred: torch on first use: the package imports without it

    array = np.asarray(array, dtype=np.float32)
    if array.shape == tuple(shape):
        return array.copy()
    tensor = torch.from_numpy(np.ascontiguousarray(array))[None, None]
    if mode == "linear":
        torch_mode = {2: "bilinear", 3: "trilinear"}[array.ndim]
        out = torch.nn.functional.interpolate(tensor, size=tuple(shape), mode=torch_mode, align_corners=False)
    elif mode == "nearest":
        out = torch.nn.functional.interpolate(tensor, size=tuple(shape), mode="nearest-exact")
    else:
        raise ValueError("mode must be 'linear' or 'nearest', got {!r}".format(mode))
    return out[0, 0].numpy()


def border_pads(sides, spacing, width_mm):
    """Voxels to mirror past each side: ((before, after), ...) per axis, ceil(width_mm / spacing) where
    `sides` (:func:`~MIDeepSegLib.core.crop.border_sides`' (ndim, 2) bool layout) is True, else 0."""
    widths = [int(math.ceil(width_mm / s)) for s in spacing]
    return [(w * int(lo), w * int(hi)) for w, (lo, hi) in zip(widths, np.asarray(sides, bool))]


def mirror_pad(crop, points, pads):
    """The crop continued past some of its sides by its mirror image, and the points with theirs.

    For an object that runs out of the image (:func:`~MIDeepSegLib.core.crop.border_sides`): the
    network was trained on whole objects, and where a crop ends inside the object it draws the
    object's end there, tapering to nothing in the last few slices of an organ that a scan cut in
    two. Mirrored past the cut, the object goes on, and so do the points near the cut.

    Parameters
    ----------
    crop : (h, w) or (d, h, w) ndarray
    points : (N, ndim) ndarray
        Crop voxel coordinates, array order.
    pads : sequence of (before, after) int
        Voxels to add per axis (0: none).

    Returns
    -------
    (padded, points): ``np.pad(crop, pads, mode="symmetric")``, and the points in its coordinates
    followed by the mirror image of each point that lies within a pad's width of that side (one
    side at a time; no mirror images of mirror images).
    """
    points = np.asarray(points, dtype=float).reshape(-1, crop.ndim)
    shifted = points + np.array([before for before, _ in pads], dtype=float)
    out = [shifted]
    for axis, ((before, after), n) in enumerate(zip(pads, crop.shape)):
        # symmetric padding repeats the edge voxel: x sits at before - 1 - x in the padding before
        # the crop, and at before + 2n - 1 - x in the padding after it
        for near, image in ((points[:, axis] < before, before - 1 - points[:, axis]),
                            (points[:, axis] > n - 1 - after, before + 2 * n - 1 - points[:, axis])):
            mirrored = shifted[near].copy()
            mirrored[:, axis] = image[near]
            out.append(mirrored)
    return np.pad(crop, [tuple(p) for p in pads], mode="symmetric"), np.vstack(out)


def grid_points(points, from_shape, to_shape):
    """Map voxel coordinates (N, ndim) between two grids covering the same extent."""
    scale = np.asarray(to_shape, dtype=float) / np.asarray(from_shape, dtype=float)
    return (np.asarray(points, dtype=float) + 0.5) * scale - 0.5


def network_grid(crop_shape, input_size, size_multiple, finer_cells):
    """The grid the network runs on for one crop, array order.

    The network's trained grid (`input_size`), unless that grid would shrink the
    crop (the crop has more voxels than the grid has cells): then the grid grows
    by `finer_cells` cells of the network's coarsest level along every axis, i.e.
    ``finer_cells * size_multiple`` voxels, so the UNet's poolings still divide it.
    The UNet is fully convolutional, so its weights run on either grid. A large
    object (a liver) keeps more of its boundary's detail; a small one (a deep
    grey nucleus at 1 mm), which the trained grid already enlarges, is unchanged.

    Parameters
    ----------
    crop_shape : tuple of int
        Shape of the crop the network sees, array order.
    input_size : tuple of int
        The network's trained grid, array order.
    size_multiple : int
        Every grid size must be a multiple of this (``ModelConfig.size_multiple``).
    finer_cells : int >= 0
        Coarsest-level cells added per axis; 0 keeps the trained grid.

    Returns
    -------
    tuple of int
    """
    numeric = isinstance(finer_cells, (int, float, np.integer, np.floating)) \
        and not isinstance(finer_cells, bool)
    cells = int(finer_cells) if numeric and float(finer_cells).is_integer() else -1
    if cells < 0:
        raise ValueError("finer_cells must be an integer >= 0 (0: the trained grid), got {!r}"
                         .format(finer_cells))
    if cells == 0 or math.prod(crop_shape) <= math.prod(input_size):
        return tuple(input_size)
    return tuple(int(n) + cells * int(size_multiple) for n in input_size)


def network_input(crop, points, spacing, input_size, *, encoding="egd", normalisation="zscore", device=None):
    """Stack the normalised crop and the points' cue map on the network grid.

    Parameters
    ----------
    crop : (h, w) or (d, h, w) ndarray
        Image region, array order.
    points : (N, ndim) ndarray
        Interior margin points in crop voxel coordinates, array order.
    spacing : sequence of float
        Crop voxel size, mm, array order.
    input_size : tuple of int
        Network grid, array order.
    encoding : str
        Cue-map encoding name (see :data:`MIDeepSegLib.core.cuemap.ENCODINGS`).
    normalisation : {"zscore"}
        Intensity normalisation of the image channel.
    device : str, optional
        Torch device for the geodesic transform.

    Returns
    -------
    (2, *input_size) float32 ndarray: channel 0 the image, channel 1 the cue map.
    """
    if normalisation != "zscore":
        raise ValueError("normalisation must be 'zscore', got {!r}".format(normalisation))
    resized = resize(crop, input_size)
    grid_spacing = np.asarray(spacing, dtype=float) * np.asarray(crop.shape) / np.asarray(input_size)
    on_grid = np.clip(grid_points(points, crop.shape, input_size), 0, np.asarray(input_size) - 1)
    params = {"device": device} if encoding in ("egd", "geodesic") else {}
    cue = cue_map(encoding, resized, on_grid, tuple(grid_spacing), **params)
    return np.stack([zscore(resized), cue]).astype(np.float32)
