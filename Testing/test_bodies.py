"""Body scenes (MIDeepSegLib.training.bodies): organs among neighbours, CT- or MR-like."""

import numpy as np
import pytest
from scipy import ndimage

from MIDeepSegLib.training.bodies import CT_ORGAN_HU, BodySynthesis
from MIDeepSegLib.training.datasets import build_sources


def _hu(image):
    return image * 2000.0 - 1000.0


@pytest.mark.parametrize("ndim", [2, 3])
def test_scenes_are_valid_and_replayable(ndim):
    source = BodySynthesis()
    for seed in range(6):
        scene = source.sample(np.random.default_rng(seed), ndim)
        again = source.sample(np.random.default_rng(seed), ndim)
        assert scene.image.dtype == np.float32 and scene.image.ndim == ndim and np.isfinite(scene.image).all()
        assert scene.mask.shape == scene.image.shape and scene.mask.dtype == bool
        assert ndimage.label(scene.mask)[1] == 1, "the target must be one connected component"
        assert min(scene.mask.shape) >= 12 and max(scene.mask.shape) <= (160 if ndim == 2 else 80)
        assert scene.name.startswith("bodies/")
        assert np.array_equal(scene.image, again.image) and np.array_equal(scene.mask, again.mask)
        assert scene.spacing == again.spacing


def test_ct_scenes_hold_air_and_organ_intensities():
    # What the source exists for: the organ's intensity is soft tissue while the scene often holds air
    # (about -1000 HU), so that the crop's z-score squashes the organ's contrast, as on a real abdominal CT.
    source = BodySynthesis(ct_p=1.0)
    with_air, organ_means = 0, []
    for seed in range(20):
        scene = source.sample(np.random.default_rng(seed), 3)
        hu = _hu(scene.image)
        core = ndimage.binary_erosion(scene.mask, iterations=2)
        organ_means.append(float(np.median(hu[core if core.any() else scene.mask])))
        with_air += bool((hu < -850).any())
    assert with_air >= 8, "air should be in the field of view of many CT-like scenes, got {}/20".format(with_air)
    low, high = CT_ORGAN_HU
    # The median of the organ's core is its intensity (inner vessels may shift it a little).
    assert sum(low - 60 <= m <= high + 60 for m in organ_means) >= 17, organ_means


def test_mr_scenes_have_random_contrasts():
    # No modality is learnt: the organ is brighter than its scene in some MR-like scenes, darker in others.
    source = BodySynthesis(ct_p=0.0)
    brighter = []
    for seed in range(12):
        scene = source.sample(np.random.default_rng(seed), 2)
        brighter.append(float(np.median(scene.image[scene.mask])) > float(np.median(scene.image[~scene.mask])))
    assert 2 <= sum(brighter) <= 10, brighter


def test_targets_vary_in_size_and_spacing():
    source = BodySynthesis()
    rng = np.random.default_rng(11)
    scenes = [source.sample(rng, 3) for _ in range(12)]
    sizes = [int(s.mask.sum()) for s in scenes]
    assert max(sizes) > 5 * min(sizes)
    assert any(s.spacing[0] > 1.4 * s.spacing[1] for s in scenes), "some scenes should have thick slices"


def test_bodies_is_a_data_source_name():
    mixture = build_sources(["bodies@2", "shapes@1"])
    assert isinstance(mixture.sources[0], BodySynthesis)
    assert mixture.weights == pytest.approx([2 / 3, 1 / 3])
    assert mixture.describe()["parts"][0]["source"].startswith("body scenes")


def test_bad_arguments():
    with pytest.raises(ValueError, match="ct_p"):
        BodySynthesis(ct_p=1.5)
    with pytest.raises(ValueError, match="ndim"):
        BodySynthesis().sample(np.random.default_rng(0), 4)
