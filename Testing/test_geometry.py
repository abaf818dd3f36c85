"""Tests for MIDeepSegLib.geometry: world/physical <-> array coordinates, 2D axis choice, boxes.

The Slicer module converts every click with these functions, so they are
checked on the geometries that break naive code: oblique direction cosines,
anisotropic spacing (5 mm slices with 0.6 mm pixels), volumes acquired
sagittally (index axes permuted), and volumes under rigid and non-rigid linear
parent transforms. SimpleITK serves as an independent oracle where it can.
"""

import numpy as np
import pytest

from MIDeepSegLib import geometry as g


def _rotation(axis, degrees):
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    theta = np.radians(degrees)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(theta) * k + (1 - np.cos(theta)) * k @ k


def _affine(linear, translation):
    m = np.eye(4)
    m[:3, :3] = linear
    m[:3, 3] = translation
    return m


# An oblique, anisotropic volume: i and j 0.6/0.7 mm, k 5 mm, tilted 20 degrees.
DIRECTIONS = _rotation([1, 2, 0.5], 20)
IJK_TO_RAS = g.ijk_to_physical_matrix([-40.0, 12.5, 80.0], [0.6, 0.7, 5.0], DIRECTIONS)
# Volume -> world parent transforms: rigid, and one that scales and shears.
RIGID = _affine(_rotation([0.2, -1, 0.3], 35), [10.0, -25.0, 4.0])
SHEAR = _affine(np.array([[1.1, 0.25, 0.0], [0.0, 0.9, 0.1], [0.05, 0.0, 1.3]]), [-3.0, 7.0, 11.0])
SHAPE = (30, 200, 180)  # (k, j, i)


def _random_array_points(rng, n=50, shape=SHAPE):
    return rng.uniform(-0.5, np.asarray(shape) - 0.5, size=(n, len(shape)))


def _to_world(array_points, ijk_to_ras, volume_to_world):
    ijk1 = np.c_[np.asarray(array_points)[:, ::-1], np.ones(len(array_points))]
    return (ijk1 @ (volume_to_world @ ijk_to_ras).T)[:, :3]


def test_world_to_array_without_transform_matches_physical_to_array():
    rng = np.random.default_rng(0)
    world = rng.normal(0, 50, size=(20, 3))
    np.testing.assert_allclose(g.world_to_array(world, IJK_TO_RAS), g.physical_to_array(world, IJK_TO_RAS),
                               atol=1e-9)


@pytest.mark.parametrize("volume_to_world", [np.eye(4), RIGID, SHEAR], ids=["identity", "rigid", "shear"])
def test_world_to_array_through_parent_transform(volume_to_world):
    """Points built forward (array -> RAS -> world) come back to the same voxel coordinates."""
    rng = np.random.default_rng(1)
    array_points = _random_array_points(rng)
    world = _to_world(array_points, IJK_TO_RAS, volume_to_world)
    world_to_volume = np.linalg.inv(volume_to_world)
    np.testing.assert_allclose(g.world_to_array(world, IJK_TO_RAS, world_to_volume), array_points, atol=1e-8)
    np.testing.assert_allclose(g.array_to_world(array_points, IJK_TO_RAS, world_to_volume), world, atol=1e-8)
    matrix = g.world_to_array_matrix(IJK_TO_RAS, world_to_volume)
    np.testing.assert_allclose((np.c_[world, np.ones(len(world))] @ matrix.T)[:, :3], array_points, atol=1e-8)


def test_world_to_array_ignores_missing_transform_only_when_asked():
    """Forgetting the parent transform gives wrong voxels: the check is not vacuous."""
    rng = np.random.default_rng(2)
    array_points = _random_array_points(rng, n=5)
    world = _to_world(array_points, IJK_TO_RAS, RIGID)
    wrong = g.world_to_array(world, IJK_TO_RAS)
    assert np.abs(wrong - array_points).max() > 1.0


def test_world_to_array_agrees_with_simpleitk():
    """SimpleITK (LPS) as an independent oracle for an oblique, anisotropic image."""
    sitk = pytest.importorskip("SimpleITK")
    image = sitk.Image(12, 15, 9, sitk.sitkUInt8)   # sizes along i, j, k
    image.SetSpacing((0.6, 0.7, 5.0))
    image.SetOrigin((40.0, -12.5, 80.0))              # LPS
    direction_lps = g.LPS_TO_RAS[:3, :3] @ DIRECTIONS
    image.SetDirection(direction_lps.ravel().tolist())
    ijk_to_lps = g.ijk_to_physical_matrix(image.GetOrigin(), image.GetSpacing(), image.GetDirection())
    ijk_to_ras = g.LPS_TO_RAS @ ijk_to_lps
    rng = np.random.default_rng(3)
    for ijk in rng.uniform(0, 8, size=(10, 3)):
        lps = np.asarray(image.TransformContinuousIndexToPhysicalPoint(ijk.tolist()))
        ras = lps * np.array([-1, -1, 1])
        world = (RIGID @ np.r_[ras, 1.0])[:3]
        kji = g.world_to_array(world, ijk_to_ras, np.linalg.inv(RIGID))[0]
        np.testing.assert_allclose(kji, ijk[::-1], atol=1e-8)


# --- 2D axis choice -------------------------------------------------------------------------------

AXIAL = np.eye(4)                                             # slice x=R, y=A, normal S
SAGITTAL = np.array([[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=float)  # x=A, y=S, n=R
CORONAL = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=float)   # x=R, y=S, n=A


def _view(slice_to_ras, rotation):
    view = slice_to_ras.copy()
    view[:3, :3] = rotation @ view[:3, :3]
    return view


@pytest.mark.parametrize("view,expected", [(AXIAL, 0), (CORONAL, 1), (SAGITTAL, 2)],
                         ids=["axial", "coronal", "sagittal"])
def test_axis_for_standard_views_on_an_axial_volume(view, expected):
    ijk = g.ijk_to_physical_matrix([0, 0, 0], [0.6, 0.6, 5.0], np.eye(3))
    axis, cosine = g.array_axis_for_view(view, ijk)
    assert (axis, cosine) == (expected, pytest.approx(1.0))


@pytest.mark.parametrize("view,expected", [(AXIAL, 1), (CORONAL, 2), (SAGITTAL, 0)],
                         ids=["axial", "coronal", "sagittal"])
def test_axis_for_standard_views_on_a_sagittally_acquired_volume(view, expected):
    """i -> A, j -> -S, k -> R: a sagittal view cuts along k (array axis 0), never 'axial = k'."""
    directions = np.array([[0, 0, 1], [1, 0, 0], [0, -1, 0]], dtype=float)   # columns: i, j, k in RAS
    ijk = g.ijk_to_physical_matrix([10, -20, 30], [0.5, 0.5, 3.0], directions)
    axis, cosine = g.array_axis_for_view(view, ijk)
    assert (axis, cosine) == (expected, pytest.approx(1.0))


@pytest.mark.parametrize("view,expected", [(AXIAL, 0), (CORONAL, 1), (SAGITTAL, 2)],
                         ids=["axial", "coronal", "sagittal"])
def test_axis_for_oblique_volume_and_oblique_view(view, expected):
    """Volume tilted 20 degrees, view tilted another 15: the best-aligned axis still wins."""
    oblique_view = _view(view, _rotation([1, -1, 1], 15))
    axis, cosine = g.array_axis_for_view(oblique_view, IJK_TO_RAS)
    assert axis == expected
    assert 0.75 < cosine < 1.0


def test_axis_uses_direction_not_spacing():
    """A thick-slice axis must not win (or lose) because of its 5 mm spacing."""
    ijk = g.ijk_to_physical_matrix([0, 0, 0], [0.5, 0.5, 5.0], _rotation([0, 0, 1], 40))
    # the i axis is 40 degrees from R and j 50 degrees: a sagittal view (normal R) cuts along i
    assert g.array_axis_for_view(SAGITTAL, ijk)[0] == 2
    assert g.array_axis_for_normal([0, 1, 0], ijk)[0] == 1


@pytest.mark.parametrize("volume_to_world", [RIGID, SHEAR], ids=["rigid", "shear"])
def test_axis_under_parent_transform_follows_the_volume(volume_to_world):
    """A view built from the transformed volume's own planes picks that plane's axis."""
    world_to_volume = np.linalg.inv(volume_to_world)
    volume_to_world_ijk = volume_to_world @ IJK_TO_RAS
    for array_axis in range(3):
        index_axis = 2 - array_axis
        in_plane = [c for c in range(3) if c != index_axis]
        view = np.eye(4)
        view[:3, 0] = volume_to_world_ijk[:3, in_plane[0]]
        view[:3, 1] = volume_to_world_ijk[:3, in_plane[1]]
        view[:3, 2] = np.cross(view[:3, 0], view[:3, 1])
        axis, cosine = g.array_axis_for_view(view, IJK_TO_RAS, world_to_volume)
        assert axis == array_axis
        assert cosine == pytest.approx(1.0)


def test_axis_with_shear_needs_the_plane_not_the_world_normal():
    """Under shear the world normal mapped as a direction can pick another axis; the plane cannot."""
    shear = _affine(np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]), [0, 0, 0])
    ijk = g.ijk_to_physical_matrix([0, 0, 0], [1, 1, 1], np.eye(3))
    # the transformed volume's axial plane (i, j planes) in world: x along R, y along A
    view = np.eye(4)
    world_to_volume = np.linalg.inv(shear)
    assert g.array_axis_for_view(view, ijk, world_to_volume)[0] == 0
    mapped_normal = world_to_volume[:3, :3] @ np.array([0.0, 0.0, 1.0])   # (-2, 0, 1): closest to R
    assert g.array_axis_for_normal(mapped_normal, ijk)[0] == 2


# --- inside tests, boxes --------------------------------------------------------------------------

def test_points_inside_edges():
    shape = (4, 5, 6)
    points = np.array([
        [0, 0, 0], [-0.5, -0.5, -0.5], [3.5, 4.5, 5.5],    # inside, including the outer voxel faces
        [-0.51, 0, 0], [0, 4.51, 0], [0, 0, 5.6],          # just outside
        [np.nan, 1, 1],
    ])
    assert g.points_inside(points, shape).tolist() == [True, True, True, False, False, False, False]
    assert g.points_inside([[0.2, 9.0]], (3, 10)).tolist() == [True]


def test_outside_detection_through_transform():
    """A click just past the last slice of a transformed, oblique volume is outside; one inside is not."""
    inside = np.array([[SHAPE[0] - 0.6, 10, 10]])
    outside = np.array([[SHAPE[0] - 0.4, 10, 10]])
    world = _to_world(np.r_[inside, outside], IJK_TO_RAS, RIGID)
    array_points = g.world_to_array(world, IJK_TO_RAS, np.linalg.inv(RIGID))
    assert g.points_inside(array_points, SHAPE).tolist() == [True, False]


def test_bounding_box():
    mask = np.zeros((5, 6, 7), dtype=np.uint8)
    assert g.bounding_box(mask) is None
    mask[1, 2:4, 6] = 1
    assert g.bounding_box(mask) == ((1, 2, 6), (2, 4, 7))
    assert g.bounding_box(mask, pad=2) == ((0, 0, 4), (4, 6, 7))
    assert g.bounding_box(np.eye(3, dtype=bool)) == ((0, 0), (3, 3))
    with pytest.raises(ValueError, match="pad"):
        g.bounding_box(mask, pad=-1)


def test_box_geometry_matches_the_volume_lattice():
    start = (3, 17, 40)
    box = g.box_ijk_to_physical(IJK_TO_RAS, start)
    rng = np.random.default_rng(4)
    box_points = rng.uniform(0, 10, size=(10, 3))
    physical = g.array_to_physical(box_points, box)
    np.testing.assert_allclose(g.physical_to_array(physical, IJK_TO_RAS), box_points + np.array(start),
                               atol=1e-9)
    np.testing.assert_allclose(box[:3, :3], IJK_TO_RAS[:3, :3])


@pytest.mark.parametrize("bad", [np.eye(3), np.zeros((4, 4)), np.full((4, 4), np.nan)],
                         ids=["3x3", "singular", "nan"])
def test_bad_matrices_raise(bad):
    with pytest.raises(ValueError):
        g.world_to_array([[0, 0, 0]], bad)
    with pytest.raises(ValueError):
        g.array_axis_for_normal([0, 0, 1], bad)


def test_zero_normal_raises():
    with pytest.raises(ValueError, match="normal"):
        g.array_axis_for_normal([0, 0, 0], IJK_TO_RAS)


def _full(composed, shape):
    full = np.zeros(shape, dtype=np.uint8)
    if composed is not None:
        start, array = composed
        full[tuple(slice(s, s + n) for s, n in zip(start, array.shape))] = array
    return full


def test_compose_cropped_replaces_one_slice_and_keeps_the_rest():
    """2D mode: a new mask on slice j=4 replaces that slice only, wherever the old content was."""
    rng = np.random.default_rng(5)
    shape = (6, 9, 7)
    before = (rng.random(shape) > 0.7).astype(np.uint8)
    base = (g.bounding_box(before)[0], before[tuple(map(slice, *g.bounding_box(before)))])
    new_slice = np.zeros((6, 1, 7), dtype=np.uint8)
    new_slice[2:4, 0, 1:3] = 1
    composed = g.compose_cropped(base, (0, 4, 0), new_slice, shape)
    expected = before.copy()
    expected[:, 4:5, :] = new_slice
    np.testing.assert_array_equal(_full(composed, shape), expected)
    assert composed[1].dtype == np.uint8
    array = composed[1]
    assert g.bounding_box(array) == ((0,) * 3, array.shape)   # tightly cropped


def test_compose_cropped_without_base_and_when_empty():
    shape = (5, 5)
    region = np.zeros(shape)
    region[1:3, 2] = 1
    composed = g.compose_cropped(None, (0, 0), region, shape)
    assert composed[0] == (1, 2) and composed[1].shape == (2, 1)
    assert g.compose_cropped(None, (0, 0), np.zeros(shape), shape) is None
    base = ((1, 1), np.ones((2, 2), dtype=np.uint8))
    assert g.compose_cropped(base, (0, 0), np.zeros(shape), shape) is None   # zeros clear the base


def test_compose_cropped_region_outside_the_base_box():
    shape = (10, 10)
    base = ((0, 0), np.ones((2, 2), dtype=np.uint8))
    composed = g.compose_cropped(base, (8, 7), np.ones((2, 3)), shape)
    expected = np.zeros(shape, dtype=np.uint8)
    expected[:2, :2] = 1
    expected[8:, 7:] = 1
    np.testing.assert_array_equal(_full(composed, shape), expected)


def test_compose_cropped_rejects_regions_that_do_not_fit():
    with pytest.raises(ValueError, match="does not fit"):
        g.compose_cropped(None, (0, 8), np.ones((2, 3)), (10, 10))
    with pytest.raises(ValueError, match="dimensions"):
        g.compose_cropped(None, (0, 0), np.ones((2, 3, 1)), (10, 10))
