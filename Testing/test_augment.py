"""Training augmentations: random drawing apart from deterministic application (training.augment)."""

import math

import numpy as np
import pytest

from MIDeepSegLib.training.augment import Augmentation, apply_augmentation, draw_augmentation

IDENTITY = Augmentation(None, (False, False), 1.0, False)


def _square(size=40):
    image = np.zeros((size, size), np.float32)
    mask = np.zeros((size, size), bool)
    mask[10:20, 12:30] = True
    image[mask] = 1.0
    return image + np.linspace(0, 0.1, size, dtype=np.float32)[None, :], mask


def test_draw_is_replayable_and_valid():
    a = draw_augmentation(np.random.default_rng(0), 3, (3.0, 0.8, 0.8))
    b = draw_augmentation(np.random.default_rng(0), 3, (3.0, 0.8, 0.8))
    assert a.flips == b.flips and a.gamma == b.gamma and a.invert == b.invert
    assert (a.matrix is None and b.matrix is None) or np.array_equal(a.matrix, b.matrix)
    rng = np.random.default_rng(1)
    for _ in range(50):
        params = draw_augmentation(rng, 2)
        assert len(params.flips) == 2 and params.gamma > 0
        if params.matrix is not None:
            scales = np.linalg.svd(params.matrix, compute_uv=False)
            assert 0.7 < scales.min() and scales.max() < 1.45
    with pytest.raises(ValueError, match="ndim"):
        draw_augmentation(rng, 4)


def test_identity_changes_nothing():
    image, mask = _square()
    out_image, out_mask = apply_augmentation(image, mask, None, IDENTITY)
    assert np.array_equal(out_image, image) and np.array_equal(out_mask, mask)


def test_flips():
    image, mask = _square()
    flip = Augmentation(None, (True, False), 1.0, False)
    out_image, out_mask = apply_augmentation(image, mask, (1.0, 2.0), flip)
    assert np.array_equal(out_image, image[::-1]) and np.array_equal(out_mask, mask[::-1])


def test_rotation_quarter_turn_about_the_object():
    image, mask = _square()
    quarter = Augmentation(np.array([[0.0, -1.0], [1.0, 0.0]]), (False, False), 1.0, False)
    _, out_mask = apply_augmentation(image, mask, None, quarter)
    idx = np.argwhere(out_mask)
    extent = idx.max(0) - idx.min(0) + 1
    assert tuple(extent) == (18, 10)  # the 10 x 18 box turned by 90 degrees
    assert np.allclose(idx.mean(0), np.argwhere(mask).mean(0), atol=0.6)


def test_scaling_honours_spacing():
    image, mask = _square()
    spacing = (2.0, 1.0)
    double = Augmentation(np.diag([2.0, 2.0]), (False, False), 1.0, False)
    _, out_mask = apply_augmentation(image, mask, spacing, double)
    assert out_mask.sum() == pytest.approx(4 * mask.sum(), rel=0.12)
    # a rotation in physical space keeps the physical area on an anisotropic grid
    angle = math.radians(30)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    _, turned = apply_augmentation(image, mask, spacing, Augmentation(rot, (False, False), 1.0, False))
    assert turned.sum() == pytest.approx(mask.sum(), rel=0.12)


def test_intensity_gamma_and_inversion():
    image, mask = _square()
    out, _ = apply_augmentation(image, mask, None, Augmentation(None, (False, False), 1.0, True))
    assert out[mask].mean() < out[~mask].mean()  # bright object became dark
    out, _ = apply_augmentation(image, mask, None, Augmentation(None, (False, False), 2.0, False))
    assert out.min() == 0.0 and out.max() == pytest.approx(1.0)
    # monotonic: the order of intensities is kept
    order = np.argsort(image.ravel(), kind="stable")
    assert (np.diff(out.ravel()[order]) >= 0).all()


def test_apply_validates():
    image, mask = _square()
    with pytest.raises(ValueError, match="shape"):
        apply_augmentation(image, mask[:-1], None, IDENTITY)
    with pytest.raises(ValueError, match="empty"):
        apply_augmentation(image, np.zeros_like(mask), None, IDENTITY)
