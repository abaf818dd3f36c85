"""Synthetic scenes: random shapes and label-map synthesis (MIDeepSegLib.training.shapes, .labelmaps)."""

import re
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from MIDeepSegLib.training import labelmaps, shapes
from MIDeepSegLib.training.labelmaps import VALIDATION_LABELS_AAL, LabelMapSynthesis, read_label_map
from MIDeepSegLib.training.rendering import smooth_field
from MIDeepSegLib.training.shapes import SHAPE_KINDS, ShapeSynthesis

MRICRON = Path("/usr/share/mricron/templates")
needs_mricron = pytest.mark.skipif(not (MRICRON / "aal.nii.gz").is_file(),
                                   reason="mricron-data is not installed (apt-get install mricron-data)")


def _check_scene(scene, ndim):
    assert scene.image.ndim == ndim and scene.image.dtype == np.float32
    assert scene.mask.shape == scene.image.shape and scene.mask.dtype == bool
    assert np.isfinite(scene.image).all()
    assert ndimage.label(scene.mask)[1] == 1, "the target must be one connected component"
    assert len(scene.spacing) == ndim and min(scene.spacing) > 0


def test_smooth_field_is_normalised_and_replayable():
    a = smooth_field(np.random.default_rng(0), (40, 50), 8)
    b = smooth_field(np.random.default_rng(0), (40, 50), 8)
    assert a.shape == (40, 50) and a.dtype == np.float32
    assert abs(float(a.mean())) < 1e-4 and abs(float(a.std()) - 1) < 1e-3
    assert np.array_equal(a, b)
    # smooth: neighbouring values are strongly correlated
    assert np.corrcoef(a[:, :-1].ravel(), a[:, 1:].ravel())[0, 1] > 0.9
    assert smooth_field(np.random.default_rng(1), (6, 7, 8), (1, 2, 3)).shape == (6, 7, 8)


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("kind", sorted(SHAPE_KINDS))
def test_shapes_every_kind(ndim, kind):
    source = ShapeSynthesis(kinds={kind: 1.0}, max_shape={2: 96, 3: 48}, extent_vox={2: (12, 40), 3: (8, 20)})
    scene = source.sample(np.random.default_rng(3), ndim)
    _check_scene(scene, ndim)
    assert scene.name == "shapes/" + kind


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (3.0, 0.7, 0.7)])
def test_compound_inner_parts_stay_inside_the_outline(spacing):
    # Sharp edges (pv_sigma 0) so that every changed voxel is a painted one.
    ndim = len(spacing)
    shape = (40,) * ndim if ndim == 2 else (14, 56, 56)
    mesh = np.meshgrid(*[np.arange(n, dtype=np.float32) * s for n, s in zip(shape, spacing)], indexing="ij",
                       sparse=True)
    centre = (np.asarray(shape) - 1) * np.asarray(spacing) / 2
    target = sum(((m - c) / 16.0) ** 2 for m, c in zip(mesh, centre)) < 1
    changed = np.zeros(shape, bool)
    for seed in range(12):
        image = np.full(shape, 0.5, np.float32)
        shapes._paint_inner_parts(np.random.default_rng(seed), image, target, mesh, np.asarray(spacing),
                                     16.0, 0.0)
        changed |= image != np.float32(0.5)
        depth = ndimage.distance_transform_edt(target, sampling=spacing)
        assert (depth[image != np.float32(0.5)] > 1.5 * min(spacing)).all(), "painted on or outside the outline"
    assert changed.sum() > 0.3 * target.sum(), "the inner parts should fill much of the object"


def test_compound_scenes_have_contrast_inside_the_target():
    plain = ShapeSynthesis(kinds={"blob": 1.0})
    compound = ShapeSynthesis(kinds={"compound": 1.0})

    def inner_spread(source, seed):
        scene = source.sample(np.random.default_rng(seed), 2)
        inside = ndimage.binary_erosion(scene.mask, iterations=2)
        values = scene.image[inside] if inside.any() else scene.image[scene.mask]
        return np.percentile(values, 95) - np.percentile(values, 5)

    # Inner parts of their own intensity widen the spread of values inside the object.
    assert np.median([inner_spread(compound, s) for s in range(24)]) > \
        1.5 * np.median([inner_spread(plain, s) for s in range(24)])


def test_shapes_replayable_and_varied():
    source = ShapeSynthesis()
    a = source.sample(np.random.default_rng(7), 2)
    b = source.sample(np.random.default_rng(7), 2)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask) and a.spacing == b.spacing
    rng = np.random.default_rng(8)
    spacings = [source.sample(rng, 2).spacing for _ in range(20)]
    assert len(set(spacings)) > 10


def test_shapes_bad_arguments():
    with pytest.raises(ValueError, match="kinds"):
        ShapeSynthesis(kinds={"star": 1.0})
    with pytest.raises(ValueError, match="ndim"):
        ShapeSynthesis().sample(np.random.default_rng(0), 4)


@pytest.fixture
def toy_map(tmp_path):
    """A 3D label map of boxes: labels 1-4 usable, 5 excluded (a 'validation structure')."""
    labels = np.zeros((40, 48, 48), np.uint8)
    labels[4:20, 4:24, 4:24] = 1
    labels[4:20, 4:24, 24:44] = 2
    labels[20:36, 4:24, 4:44] = 3
    labels[8:32, 28:44, 8:40] = 4
    labels[14:26, 32:40, 18:30] = 5
    path = tmp_path / "toy.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(labels), str(path))
    return path


def test_read_label_map_excludes(toy_map):
    label_map = read_label_map(toy_map, exclude=[5], name="toy")
    assert label_map.excluded == (5,) and not (label_map.labels == 5).any()
    assert label_map.spacing == (1.0, 1.0, 1.0) and label_map.name == "toy"


@pytest.mark.parametrize("ndim", [2, 3])
def test_label_map_synthesis_never_targets_excluded(toy_map, ndim):
    original = sitk.GetArrayFromImage(sitk.ReadImage(str(toy_map)))
    source = LabelMapSynthesis([read_label_map(toy_map, exclude=[5], name="toy")], max_shape={2: 64, 3: 40})
    rng = np.random.default_rng(ndim)
    targets = set()
    for _ in range(12):
        scene = source.sample(rng, ndim)
        _check_scene(scene, ndim)
        values = {int(v) for v in re.match(r"toy/([\d+]+)", scene.name).group(1).split("+")}
        targets |= values
    assert 5 not in targets and targets <= {1, 2, 3, 4}
    assert len(targets) >= 2
    assert (original == 5).sum() > 0


def test_label_map_synthesis_replayable(toy_map):
    source = LabelMapSynthesis([read_label_map(toy_map)], max_shape={2: 64, 3: 40})
    a = source.sample(np.random.default_rng(11), 3)
    b = source.sample(np.random.default_rng(11), 3)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert source.describe()["label_maps"][0]["targets"] == 5


def test_label_map_synthesis_bad_arguments():
    with pytest.raises(ValueError, match="label_maps"):
        LabelMapSynthesis([])


@needs_mricron
def test_mricron_atlases_lose_the_validation_structures():
    maps = labelmaps.mricron_label_maps(MRICRON, which=("aal", "brodmann", "aicha"))
    aal = sitk.GetArrayFromImage(sitk.ReadImage(str(MRICRON / "aal.nii.gz")))
    validation = np.isin(aal, VALIDATION_LABELS_AAL)
    by_name = {m.name.split(" ")[0]: m for m in maps}
    assert not np.isin(by_name["AAL"].labels, VALIDATION_LABELS_AAL).any()
    assert not by_name["Brodmann"].labels[validation].any()
    assert len(by_name["AICHA"].excluded) >= 20  # caudate, putamen, pallidum, thalamus, hippocampus, amygdala
    source = LabelMapSynthesis(maps)
    for indexed in source._maps:
        if indexed.map.name.startswith("AAL"):
            assert not set(VALIDATION_LABELS_AAL) & {int(t) for t in indexed.targets}
    rng = np.random.default_rng(0)
    for ndim in (2, 3):
        _check_scene(source.sample(rng, ndim), ndim)
