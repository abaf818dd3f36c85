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
