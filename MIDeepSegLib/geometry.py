"""Physical <-> voxel coordinate conversion, shared by file I/O and the Slicer module.

This is the one place where physical coordinates (mm, RAS or LPS) meet array
coordinates. Everything else in MIDeepSegLib works in *array order* voxel
coordinates: ``(k, j, i)`` = ``(z, y, x)``, the order of
``SimpleITK.GetArrayFromImage`` and ``slicer.util.arrayFromVolume``.

An image's geometry is described by one homogeneous 4x4 matrix,
``ijk_to_physical``, that maps a voxel index ``(i, j, k, 1)`` (ITK/VTK order,
i = fastest axis = array axis 2) to a physical point ``(x, y, z, 1)`` in mm.
Slicer calls it IJKToRAS (physical = RAS); SimpleITK's origin/spacing/direction
give it in LPS (see :func:`ijk_to_physical_matrix`).
"""

import numpy as np

#: Flips x and y: converts LPS <-> RAS (its own inverse).
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def ijk_to_physical_matrix(origin, spacing, direction):
    """Build the 4x4 voxel-index -> physical matrix of an ITK-style image.

    Parameters
    ----------
    origin : (3,) sequence of float
        Physical position of voxel (0, 0, 0), mm, (x, y, z).
    spacing : (3,) sequence of float
        Voxel size along i, j, k (ITK order, *not* array order), mm.
    direction : (9,) or (3, 3) sequence of float
        Direction cosines, row-major as ``SimpleITK.Image.GetDirection()``
        returns them: column c is the physical direction of index axis c.

    Returns
    -------
    (4, 4) float64 ndarray mapping ``(i, j, k, 1)`` to ``(x, y, z, 1)``.
    """
    matrix = np.eye(4)
    direction = np.asarray(direction, dtype=float).reshape(3, 3)
    matrix[:3, :3] = direction * np.asarray(spacing, dtype=float)[None, :]
    matrix[:3, 3] = np.asarray(origin, dtype=float)
    return matrix


def physical_to_array(points, ijk_to_physical):
    """Convert physical points (N, 3), mm, to continuous array-order voxel coordinates.

    Returns float64 (N, 3) in ``(k, j, i)`` order. Points are not rounded or
    bounds-checked here; callers decide what outside means.
    """
    points = np.asarray(points, dtype=float).reshape(-1, 3)
    homogeneous = np.c_[points, np.ones(len(points))]
    ijk = homogeneous @ np.linalg.inv(np.asarray(ijk_to_physical, dtype=float)).T
    return ijk[:, 2::-1].copy()


def array_to_physical(points, ijk_to_physical):
    """Convert array-order voxel coordinates (N, 3) ``(k, j, i)`` to physical points (N, 3), mm."""
    points = np.asarray(points, dtype=float).reshape(-1, 3)
    homogeneous = np.c_[points[:, ::-1], np.ones(len(points))]
    return (homogeneous @ np.asarray(ijk_to_physical, dtype=float).T)[:, :3]


# ---------------------------------------------------------------------------
# World -> array conversion for the Slicer module (and anything else that has
# a volume sitting under a linear "world -> volume" transform), 2D slice-axis
# choice, inside tests and the sub-box geometry used to write only the part of
# a volume that changed. All Slicer-free, all in numpy.
# ---------------------------------------------------------------------------

#: Reorders (i, j, k, 1) <-> (k, j, i, 1): its own inverse.
_IJK_TO_KJI = np.array([[0.0, 0.0, 1.0, 0.0],
                        [0.0, 1.0, 0.0, 0.0],
                        [1.0, 0.0, 0.0, 0.0],
                        [0.0, 0.0, 0.0, 1.0]])


def _as_matrix(matrix, name):
    matrix = np.asarray(matrix, dtype=float)
    if matrix.shape != (4, 4):
        raise ValueError(f"{name} must be a 4x4 homogeneous matrix, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if abs(np.linalg.det(matrix[:3, :3])) < 1e-12:
        raise ValueError(f"{name} is singular (its 3x3 part has determinant ~0)")
    return matrix


def world_to_array_matrix(ijk_to_physical, world_to_physical=None):
    """Compose the 4x4 matrix mapping world points to array-order voxel coordinates.

    Parameters
    ----------
    ijk_to_physical : (4, 4) array_like
        Voxel index ``(i, j, k, 1)`` -> the volume's own physical frame, mm
        (Slicer: the volume node's IJKToRAS, *without* its parent transform).
    world_to_physical : (4, 4) array_like, optional
        World -> the volume's physical frame, mm: the inverse of the volume's
        parent transform chain (Slicer: ``GetMatrixTransformBetweenNodes(None,
        volume.GetParentTransformNode(), m)``). ``None`` = identity (the volume
        is not transformed).

    Returns
    -------
    (4, 4) float64 ndarray ``M`` with ``M @ (x, y, z, 1) = (k, j, i, 1)``.
    """
    ijk_to_physical = _as_matrix(ijk_to_physical, "ijk_to_physical")
    world = np.eye(4) if world_to_physical is None else _as_matrix(world_to_physical, "world_to_physical")
    return _IJK_TO_KJI @ np.linalg.inv(ijk_to_physical) @ world


def world_to_array(points, ijk_to_physical, world_to_physical=None):
    """Convert world points (N, 3), mm, to continuous array-order voxel coordinates (N, 3).

    Equivalent to :func:`physical_to_array` after mapping the points through
    `world_to_physical` (see :func:`world_to_array_matrix`). Voxel centres have
    integer coordinates; nothing is rounded or bounds-checked here (see
    :func:`points_inside`).
    """
    points = np.asarray(points, dtype=float).reshape(-1, 3)
    matrix = world_to_array_matrix(ijk_to_physical, world_to_physical)
    return (np.c_[points, np.ones(len(points))] @ matrix.T)[:, :3]


def array_to_world(points, ijk_to_physical, world_to_physical=None):
    """Inverse of :func:`world_to_array`: array-order voxel coordinates (N, 3) -> world points (N, 3), mm."""
    points = np.asarray(points, dtype=float).reshape(-1, 3)
    matrix = np.linalg.inv(world_to_array_matrix(ijk_to_physical, world_to_physical))
    return (np.c_[points, np.ones(len(points))] @ matrix.T)[:, :3]


def array_axis_for_normal(normal, ijk_to_physical):
    """Pick the array axis that a 2D view with this plane normal slices along.

    Parameters
    ----------
    normal : (3,) array_like
        Normal of the view plane, in the volume's physical frame (e.g. RAS,
        after undoing the volume's parent transform). Its sign and length do not
        matter.
    ijk_to_physical : (4, 4) array_like
        The volume's voxel index -> physical matrix.

    Returns
    -------
    axis : int
        Array axis (0 = k, 1 = j, 2 = i) whose physical direction is best
        aligned with `normal`; spacing does not bias the choice.
    cosine : float
        ``|cos|`` of the angle between that axis and the normal: 1.0 when the
        view is exactly aligned with the volume's grid, down to 1/sqrt(3) for the
        most oblique view. Callers may warn when it is low.
    """
    normal = np.asarray(normal, dtype=float).reshape(-1)
    if normal.shape != (3,) or not np.isfinite(normal).all() or np.linalg.norm(normal) == 0:
        raise ValueError(f"normal must be a finite, non-zero 3-vector, got {normal!r}")
    columns = _as_matrix(ijk_to_physical, "ijk_to_physical")[:3, :3]
    directions = columns / np.linalg.norm(columns, axis=0, keepdims=True)   # unit i, j, k directions
    cosines = np.abs(directions.T @ (normal / np.linalg.norm(normal)))       # per index axis i, j, k
    index_axis = int(np.argmax(cosines))
    return 2 - index_axis, float(cosines[index_axis])


def array_axis_for_view(slice_to_world, ijk_to_physical, world_to_physical=None):
    """Pick the array axis a 2D slice view cuts across, for a volume under a linear transform.

    Parameters
    ----------
    slice_to_world : (4, 4) array_like
        The view's slice -> world matrix (Slicer: ``sliceNode.GetSliceToRAS()``);
        columns 0 and 1 are the view's in-plane axes, in world coordinates.
    ijk_to_physical, world_to_physical : (4, 4) array_like
        As in :func:`world_to_array_matrix`.

    Returns
    -------
    (axis, cosine) as :func:`array_axis_for_normal`.

    Notes
    -----
    The in-plane axes are mapped into the volume's frame and the plane normal
    is their cross product there. This stays right when the transform scales or
    shears, where mapping the world normal itself as a direction would not
    (plane normals transform with the inverse transpose).
    """
    slice_to_world = np.asarray(slice_to_world, dtype=float)
    if slice_to_world.shape != (4, 4):
        raise ValueError(f"slice_to_world must be a 4x4 matrix, got shape {slice_to_world.shape}")
    linear = np.eye(3)
    if world_to_physical is not None:
        linear = _as_matrix(world_to_physical, "world_to_physical")[:3, :3]
    in_plane = linear @ slice_to_world[:3, :2]
    return array_axis_for_normal(np.cross(in_plane[:, 0], in_plane[:, 1]), ijk_to_physical)


def points_inside(points, shape):
    """Tell which array-order voxel coordinates (N, ndim) fall inside an image of `shape`.

    A point is inside when every coordinate lies in ``[-0.5, size - 0.5]``, i.e.
    within the extent of the image's voxels (the rule of MIDeepSegLib's point
    validation). Returns a bool array of length N.
    """
    shape = tuple(int(s) for s in shape)
    points = np.asarray(points, dtype=float).reshape(-1, len(shape))
    upper = np.asarray(shape, dtype=float) - 0.5
    return np.isfinite(points).all(axis=1) & ((points >= -0.5) & (points <= upper)).all(axis=1)


def take_slice(volume, axis, index, spacing=None):
    """Slice `index` of a 3D array along array `axis` (2D mode on one slice of a volume).

    Parameters
    ----------
    volume : (D, H, W) array_like
        Array order (z, y, x).
    axis : {0, 1, 2}
        Array axis across the slice (0 = z: an axial slice of a volume in the usual orientation).
    index : int
        Slice index along `axis`.
    spacing : sequence of 3 float, optional
        mm per array axis.

    Returns
    -------
    image : ndarray (2D), a copy (contiguous) with the volume's dtype, the two other axes in array order
    spacing : tuple of 2 float (the two other axes), or None without `spacing`

    Examples
    --------
    >>> image, spacing = take_slice(np.arange(24).reshape(2, 3, 4), 1, 2, (5.0, 0.6, 0.7))
    >>> image.tolist(), spacing
    ([[8, 9, 10, 11], [20, 21, 22, 23]], (5.0, 0.7))
    """
    volume = np.asarray(volume)
    if volume.ndim != 3 or axis not in (0, 1, 2) or not 0 <= int(index) < volume.shape[axis]:
        raise ValueError("need a 3D volume, an axis in 0-2 and an index inside it; got shape {}, axis {!r}, "
                         "index {!r}".format(volume.shape, axis, index))
    image = np.take(volume, int(index), axis=axis)
    if spacing is None:
        return image, None
    return image, tuple(float(s) for a, s in enumerate(spacing) if a != axis)


def bounding_box(mask, pad=0):
    """Array-order bounding box of the non-zero voxels of `mask`, optionally padded.

    Returns ``(start, stop)``, two int tuples (stop exclusive, clamped to the
    image) such that ``mask[tuple(map(slice, start, stop))]`` holds every
    non-zero voxel; ``None`` when `mask` is all zero.
    """
    mask = np.asarray(mask)
    if int(pad) < 0:
        raise ValueError(f"pad must be >= 0 voxels, got {pad}")
    nonzero = [np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
               for axis in range(mask.ndim)]
    if any(len(n) == 0 for n in nonzero):
        return None
    start = tuple(max(int(n[0]) - int(pad), 0) for n in nonzero)
    stop = tuple(min(int(n[-1]) + 1 + int(pad), size) for n, size in zip(nonzero, mask.shape))
    return start, stop


def box_ijk_to_physical(ijk_to_physical, start):
    """The voxel index -> physical matrix of a sub-box of a volume.

    `start` is the box's first voxel in array order ``(k, j, i)``. The box has the
    volume's spacing and directions; only the origin moves, so that voxel
    ``(0, 0, 0)`` of the box is voxel `start` of the volume.
    """
    matrix = _as_matrix(ijk_to_physical, "ijk_to_physical").copy()
    start_ijk = np.asarray(start, dtype=float).reshape(3)[::-1]
    matrix[:3, 3] = matrix[:3, :3] @ start_ijk + matrix[:3, 3]
    return matrix


def compose_cropped(base, region_start, region, shape):
    """Overwrite one box of a mask that is stored cropped, and crop the result again.

    Parameters
    ----------
    base : tuple (start, array) or None
        The current mask of an image of `shape`, stored as its non-zero
        bounding box: `array` placed at array-order voxel `start`. ``None`` =
        empty.
    region_start : sequence of int
        Array-order voxel where `region` starts.
    region : ndarray
        New content of its whole box (zeros included: they clear `base`).
    shape : sequence of int
        Shape of the full image.

    Returns
    -------
    ``(start, array)`` with `array` uint8 {0, 1} cropped to the non-zero
    bounding box of the result, or ``None`` when the result is empty. Only the
    union of the two boxes is ever allocated, never the full image (unless the
    boxes cover it).
    """
    region = np.asarray(region) != 0
    region_start = np.asarray(region_start, dtype=int).reshape(-1)
    shape = np.asarray(shape, dtype=int).reshape(-1)
    if region.ndim != len(shape) or len(region_start) != len(shape):
        raise ValueError(f"region must have {len(shape)} dimensions and region_start {len(shape)} values, "
                         f"got {region.ndim} and {len(region_start)}")
    region_stop = region_start + region.shape
    if (region_start < 0).any() or (region_stop > shape).any():
        raise ValueError(f"region [{tuple(region_start)}, {tuple(region_stop)}) does not fit "
                         f"in an image of shape {tuple(shape)}")
    if base is None:
        low, canvas = region_start, region
    else:
        base_start = np.asarray(base[0], dtype=int)
        base_array = np.asarray(base[1]) != 0
        low = np.minimum(base_start, region_start)
        high = np.maximum(base_start + base_array.shape, region_stop)
        canvas = np.zeros(tuple(high - low), dtype=bool)
        canvas[tuple(map(slice, base_start - low, base_start - low + base_array.shape))] = base_array
        canvas[tuple(map(slice, region_start - low, region_stop - low))] = region
    box = bounding_box(canvas)
    if box is None:
        return None
    start = tuple(int(v) for v in low + np.asarray(box[0]))
    return start, np.ascontiguousarray(canvas[tuple(map(slice, *box))], dtype=np.uint8)
