"""Objects that run out of the image: border_sides, extend_to_border, mirror_pad and the Segmenter's use of them.

The last test runs the shipped 3D weights on body scenes (the training
source of organ-like scenes) cut in two by the volume's first slice: without
the mirrored continuation the network draws the organ's end at the cut.
"""

import numpy as np
import pytest

from MIDeepSegLib.core.crop import border_sides, extend_to_border, relaxed_bbox
from MIDeepSegLib.core.metrics import dice
from MIDeepSegLib.core.simulate import interior_margin_points
from MIDeepSegLib.model.checkpoint import resolve_model
from MIDeepSegLib.model.preprocess import mirror_pad
from MIDeepSegLib.segmenter import Segmenter
from MIDeepSegLib.training.bodies import BodySynthesis


def test_border_sides_in_mm_per_axis_and_side():
    points = [[1, 10, 20], [8, 50, 58]]
    shape, spacing = (10, 60, 60), (3.0, 1.0, 0.5)
    # axis 0: 1 voxel = 3 mm from the first slice, 1 voxel = 3 mm from the last; axis 1: 10 mm and 9 mm;
    # axis 2: 20 voxels = 10 mm and 1 voxel = 0.5 mm
    assert border_sides(points, shape, spacing, 3.0).tolist() == [[True, True], [False, False], [False, True]]
    assert border_sides(points, shape, spacing, 9.5).tolist() == [[True, True], [False, True], [False, True]]
    assert border_sides(points, shape, spacing, 10.0).tolist() == [[True, True], [True, True], [True, True]]
    assert not border_sides(points, shape, spacing, 0.0).any()
    assert border_sides([[0, 30, 30]], shape, spacing, 0.0).tolist() == [[True, False], [False, False],
                                                                         [False, False]]
    with pytest.raises(ValueError, match="distance_mm"):
        border_sides(points, shape, spacing, -1.0)
    with pytest.raises(ValueError, match="outside"):
        border_sides([[10, 0, 0]], shape, spacing, 1.0)


def test_extend_to_border_grows_only_the_given_sides():
    shape = (10, 60, 60)
    box = relaxed_bbox([[3, 10, 20], [6, 50, 40]], shape, (3.0, 1.0, 1.0), 3.0)
    assert box == (slice(2, 8), slice(7, 54), slice(17, 44))
    sides = np.array([[True, False], [False, True], [False, False]])
    assert extend_to_border(box, sides, shape) == (slice(0, 8), slice(7, 60), slice(17, 44))


def test_mirror_pad_mirrors_image_and_points_alike():
    rng = np.random.default_rng(0)
    crop = rng.random((6, 7, 5)).astype(np.float32)
    points = np.array([[0, 3, 2], [1, 6, 4], [5, 0, 0], [3, 3, 3]], float)
    pads = [(2, 3), (0, 1), (0, 0)]
    padded, out = mirror_pad(crop, points, pads)
    assert padded.shape == (11, 8, 5)
    shifted = points + [2, 0, 0]
    np.testing.assert_array_equal(out[:4], shifted)
    # every mirror image sits on a voxel holding the same value as its point's voxel
    for p in out[4:]:
        original = [q for q in shifted if sum(a != b for a, b in zip(p, q)) == 1]
        assert original, p
        assert padded[tuple(p.astype(int))] == padded[tuple(original[0].astype(int))]
    mirrored = {tuple(p) for p in out[4:].astype(int)}
    # axis 0: the points at 0 and 1 lie in the first 2 voxels, those at 5 and 3 in the last 3;
    # axis 1: the point at 6 in the last voxel
    assert mirrored == {(1, 3, 2), (0, 6, 4), (8, 0, 0), (10, 3, 3), (3, 7, 4)}
    # without pads: the crop and points unchanged
    same, none = mirror_pad(crop, points, [(0, 0)] * 3)
    np.testing.assert_array_equal(same, crop)
    np.testing.assert_array_equal(none, points)


def test_bad_border_mm():
    image = np.random.default_rng(0).random((8, 16, 16)).astype(np.float32)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="border_mm"):
            Segmenter(image, (2.0, 1.0, 1.0), model=None, margin_mm=5.0, border_mm=bad)


def test_organs_cut_by_the_first_slice_keep_their_cut_face(one_torch_thread):
    """Shipped 3D weights on 8 body scenes cut through the organ's middle (measured: Dice 0.837 -> 0.857,
    recall in the three slices next to the cut 0.75 -> 0.96)."""
    model = str(resolve_model("3d"))
    source = BodySynthesis()
    figures = {0.0: [], 10.0: []}
    for seed in range(8):
        scene = source.sample(np.random.default_rng(seed), 3)
        z = np.argwhere(scene.mask)[:, 0]
        cut = int((z.min() + z.max()) // 2)
        image, truth = scene.image[cut:], scene.mask[cut:] > 0
        points = interior_margin_points(truth, np.random.default_rng(100 + seed), scene.spacing)
        for border in figures:
            seg = Segmenter(image, scene.spacing, model=model, device="cpu", border_mm=border)
            result = seg.initial(points)
            assert result.box[0].start == 0  # the region reaches the cut
            mask = result.mask > 0
            near = (mask[:3] & truth[:3]).sum() / truth[:3].sum()
            figures[border].append((dice(mask, truth), near))
    (dice_off, near_off), (dice_on, near_on) = (np.mean(figures[b], axis=0) for b in (0.0, 10.0))
    assert near_on > near_off + 0.1, (near_off, near_on)
    assert dice_on > dice_off, (dice_off, dice_on)


def test_peers_work_in_the_same_region(one_torch_thread):
    """PeerSession's region is the Segmenter's: the relaxed box grown to the side the object runs out of."""
    from MIDeepSegLib.evaluation.peers import PEERS
    from MIDeepSegLib.evaluation.user import PeerSession

    scene = BodySynthesis().sample(np.random.default_rng(3), 3)
    z = np.argwhere(scene.mask)[:, 0]
    image, truth = scene.image[(z.min() + z.max()) // 2:], scene.mask[(z.min() + z.max()) // 2:] > 0
    points = interior_margin_points(truth, np.random.default_rng(0), scene.spacing)
    seg = Segmenter(image, scene.spacing, model=str(resolve_model("3d")), device="cpu")
    peer = PeerSession(PEERS["geos"], image, scene.spacing, seg.margin_mm)
    peer.initial(points)
    assert peer.box == seg.initial(points).box
    assert peer.box[0].start == 0
