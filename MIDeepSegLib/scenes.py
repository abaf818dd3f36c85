"""Synthetic scenes with known answers, shared by the Slicer self-test, the pytest suite and the benchmark.

The Slicer module's self-test (``MIDeepSegTest``) builds its MRML nodes from
these arrays; ``Testing/test_selftest_scenes.py`` runs the same scenes through
the library with the shipped weights and the self-test's thresholds, so a
change of weights or algorithm that would fail the self-test inside Slicer
fails CI first.
"""

import numpy as np
from scipy import ndimage


def rotation(axis, degrees):
    """3 x 3 rotation matrix about `axis` (any length) by `degrees` (Rodrigues' formula)."""
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    t = np.radians(degrees)
    return np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * k @ k


def ellipsoid_radius(shape, center, semi_axes):
    """Normalised ellipsoid radius per voxel (1 on the surface): float ndarray `shape`, array order."""
    grid = np.ogrid[tuple(slice(0, n) for n in shape)]
    return np.sqrt(sum(((g - c) / a) ** 2 for g, c, a in zip(grid, center, semi_axes)))


def margin_points(center, semi_axes, fraction=0.8):
    """Interior margin points of an axis-aligned ellipsoid: `fraction` of the way to its 2 x ndim extremes.

    Returns
    -------
    float ndarray (2 ndim, ndim), array order.
    """
    center, semi_axes = np.asarray(center, float), np.asarray(semi_axes, float)
    steps = []
    for axis in range(len(center)):
        for sign in (-1.0, 1.0):
            step = np.zeros(len(center))
            step[axis] = sign
            steps.append(step)
    return center + np.array(steps) * fraction * semi_axes


def tilted_lesion_volume(seed=0):
    """A sagittally acquired, tilted, anisotropic volume under a rigid transform, with two known objects.

    The volume's i axis points about S, j about R and k about A (so "axial =
    k" would be wrong), tilted by 10 degrees; voxels are 0.8 x 0.9 x 2.5 mm
    (i, j, k). A bright ellipsoidal lesion (semi-axes 14, 12, 11 mm) on a
    noisy ramp, and a dark 6 mm sphere ("other") that must stay untouched.

    Returns
    -------
    dict with
        ``image`` int16 (40, 64, 56), array order (k, j, i);
        ``spacing`` (3,) mm in array order;
        ``ijk_to_ras`` 4 x 4 (IJK -> the volume's RAS, the volume node's matrix);
        ``volume_to_world`` 4 x 4 (its parent transform);
        ``lesion``, ``other`` bool (40, 64, 56);
        ``center``, ``semi_axes`` the lesion's, voxels, array order;
        ``interior`` (6, 3) its interior margin points, array order.
    """
    shape, spacing_ijk = (40, 64, 56), np.array([0.8, 0.9, 2.5])
    directions = rotation([1, 1, 0], 10) @ np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=float)
    ijk_to_ras = np.eye(4)
    ijk_to_ras[:3, :3], ijk_to_ras[:3, 3] = directions * spacing_ijk, [-30.0, 20.0, -15.0]
    volume_to_world = np.eye(4)
    volume_to_world[:3, :3], volume_to_world[:3, 3] = rotation([0.3, -1, 0.5], 15), [12.0, -7.0, 30.0]
    spacing = spacing_ijk[::-1]
    center, semi_axes = np.array([20.0, 30.0, 28.0]), np.array([14.0, 12.0, 11.0]) / spacing
    lesion = ellipsoid_radius(shape, center, semi_axes) <= 1.0
    other = ellipsoid_radius(shape, (10, 52, 12), 6.0 / spacing) <= 1.0
    rng = np.random.default_rng(seed)
    image = 100.0 + 0.5 * np.arange(shape[1])[None, :, None] + rng.normal(0.0, 8.0, shape)
    image[lesion] += 90.0
    image[other] -= 50.0
    return {"image": image.astype(np.int16), "spacing": spacing, "ijk_to_ras": ijk_to_ras,
            "volume_to_world": volume_to_world, "lesion": lesion, "other": other, "center": center,
            "semi_axes": semi_axes, "interior": margin_points(center, semi_axes)}


def insert_lesion(image, spacing, semi_axes_mm=(12.0, 15.0, 10.0)):
    """A real image with a bright ellipsoidal lesion of known shape at its centre.

    The lesion is brighter than anything in the image (1.3 x its 99th
    percentile) and fades by 30 % towards its surface, over 5 % of the
    original texture. The Slicer self-test does this to the MRBrainTumor1
    sample, the pytest suite to the Colin27 MRI.

    Parameters
    ----------
    image : (D, H, W) array_like
    spacing : (3,) mm, array order
    semi_axes_mm : (3,) mm, array order

    Returns
    -------
    dict with ``image`` float32 (D, H, W), ``lesion`` bool (D, H, W),
    ``interior`` (6, 3) interior margin points (array order).
    """
    image = np.asarray(image, dtype=np.float32)
    center = np.array(image.shape) / 2.0
    semi_axes = np.asarray(semi_axes_mm, float) / np.asarray(spacing, float)
    radius = ellipsoid_radius(image.shape, center, semi_axes)
    lesion = radius <= 1.0
    bright = 1.3 * np.percentile(image, 99)
    out = np.where(lesion, bright * (1.0 - 0.3 * radius) + 0.05 * image, image).astype(np.float32)
    return {"image": out, "lesion": lesion, "interior": margin_points(center, semi_axes)}


def blob_scene(shape, rng, spacing=None, *, distractor=None):
    """A textured blob with a known mask: the test suite's and the benchmark's synthetic scene.

    Returns ``(image float32, mask bool)``, both `shape`, array order. An
    ellipse (2D) / ellipsoid (3D) with random centre, semi-axes of 12-30 %
    of each physical extent and a random rotation in the last two axes, on a
    smooth random background with Gaussian noise; its contrast is +-(0.5-1.0)
    of the background's texture amplitude. With `distractor` (default: drawn,
    p = 0.4) a second, smaller blob of similar brightness is added apart from it.
    Every random draw comes from `rng` (a ``numpy.random.Generator``); `spacing`
    is mm per array axis (default 1).
    """
    shape = tuple(shape)
    ndim = len(shape)
    spacing = np.ones(ndim) if spacing is None else np.asarray(spacing, float)
    extent = np.asarray(shape) * spacing
    grids = [g * s for g, s in zip(np.indices(shape, dtype=np.float64), spacing)]

    def ellipse(centre, radii, angle):
        rel = [g - c for g, c in zip(grids, centre)]
        a, b = rel[-2], rel[-1]
        cos, sin = np.cos(angle), np.sin(angle)
        rel[-2], rel[-1] = cos * a + sin * b, -sin * a + cos * b
        return sum((r / rad) ** 2 for r, rad in zip(rel, radii)) <= 1.0

    radii = extent * rng.uniform(0.12, 0.30, ndim)
    radii = np.maximum(radii, 2.5 * spacing)
    centre = extent * 0.5 + rng.uniform(-0.15, 0.15, ndim) * extent
    mask = ellipse(centre, radii, rng.uniform(0, np.pi))
    texture = ndimage.gaussian_filter(rng.standard_normal(shape), 3.0)
    texture /= texture.std() + 1e-6
    contrast = rng.uniform(0.8, 1.6) * rng.choice([-1.0, 1.0])
    image = 0.5 * texture + contrast * mask
    if distractor is None:
        distractor = rng.random() < 0.4
    if distractor:
        other_centre = centre + np.sign(rng.uniform(-1, 1, ndim)) * (radii + extent * 0.12)
        other = ellipse(other_centre, radii * rng.uniform(0.4, 0.7), 0.0)
        other &= ~ndimage.binary_dilation(mask, None, 2)
        image = image + contrast * rng.uniform(0.6, 1.0) * other
    image = ndimage.gaussian_filter(image, 0.7) + 0.15 * rng.standard_normal(shape)
    return (100.0 * image + 40.0).astype(np.float32), mask
