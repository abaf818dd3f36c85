"""Folder data sets, mixtures and the --data names (MIDeepSegLib.training.datasets)."""

import warnings

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from MIDeepSegLib.core.components import largest_component
from MIDeepSegLib.training.datasets import FolderDataset, MixedSource, build_sources
from MIDeepSegLib.training.sources import Scene


def _write(path, array, spacing):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(tuple(float(s) for s in spacing[::-1]))
    sitk.WriteImage(image, str(path))


@pytest.fixture
def folder(tmp_path):
    """Two 3D cases (one in the nnU-Net _0000 naming) with two classes; class 1 has two components."""
    (tmp_path / "imagesTr").mkdir()
    (tmp_path / "labelsTr").mkdir()
    rng = np.random.default_rng(0)
    for name, image_name in (("case_a", "case_a.nii.gz"), ("case_b", "case_b_0000.nii.gz")):
        labels = np.zeros((12, 40, 44), np.uint8)
        labels[3:9, 5:15, 6:18] = 1      # first object of class 1
        labels[4:8, 25:35, 28:40] = 1    # second object of class 1
        labels[2:10, 5:14, 26:36] = 2    # one object of class 2
        labels[0, 0, 0] = 2              # a speck, below min_voxels
        image = (labels * 40 + rng.normal(0, 5, labels.shape)).astype(np.float32)
        _write(tmp_path / "imagesTr" / image_name, image, (3.0, 0.8, 0.8))
        _write(tmp_path / "labelsTr" / (name + ".nii.gz"), labels, (3.0, 0.8, 0.8))
    return tmp_path


def test_largest_component():
    mask = np.zeros((10, 10), bool)
    mask[1:3, 1:3] = True
    mask[5:9, 5:9] = True
    out = largest_component(mask)
    assert out.sum() == 16 and out[6, 6] and not out[1, 1]
    assert not largest_component(np.zeros((4, 4), bool)).any()


def test_folder_pairs_objects_and_spacing(folder):
    data = FolderDataset(folder)
    assert len(data) == 2
    assert [p[0].name for p in data.pairs] == ["case_a.nii.gz", "case_b_0000.nii.gz"]
    image, labels, spacing = data.load(0)
    assert image.dtype == np.float32 and labels.dtype == np.int32
    assert spacing == pytest.approx((3.0, 0.8, 0.8))  # NIfTI stores float32
    objects = data.objects(0)
    assert sorted(v for v, _, _ in objects) == [1, 1, 2]  # the speck is dropped
    assert data.describe()["cases"] == ["case_a.nii.gz", "case_b.nii.gz"]


def test_folder_samples_one_object_3d(folder):
    data = FolderDataset(folder)
    rng = np.random.default_rng(1)
    for _ in range(8):
        scene = data.sample(rng, 3)
        assert isinstance(scene, Scene)
        assert scene.image.shape == scene.mask.shape and scene.image.dtype == np.float32
        assert scene.spacing == pytest.approx((3.0, 0.8, 0.8))
        assert ndimage.label(scene.mask)[1] == 1
        # the object is one whole class component: its voxels are bright (class 1: ~40, class 2: ~80)
        mean = scene.image[scene.mask].mean()
        assert 30 < mean < 50 or 70 < mean < 90


def test_folder_samples_slices_2d(folder):
    data = FolderDataset(folder)
    rng = np.random.default_rng(2)
    spacings = set()
    for _ in range(12):
        scene = data.sample(rng, 2)
        assert scene.image.ndim == 2 and scene.mask.any()
        assert ndimage.label(scene.mask)[1] == 1
        spacings.add(tuple(round(s, 4) for s in scene.spacing))
    assert spacings <= {(0.8, 0.8), (3.0, 0.8)}


def test_folder_sampling_is_replayable(folder):
    a = FolderDataset(folder).sample(np.random.default_rng(5), 3)
    b = FolderDataset(folder).sample(np.random.default_rng(5), 3)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)


def test_folder_errors(tmp_path, folder):
    with pytest.raises(FileNotFoundError):
        FolderDataset(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="labels"):
        (tmp_path / "only_images" / "imagesTr").mkdir(parents=True)
        FolderDataset(tmp_path / "only_images")
    (tmp_path / "empty" / "imagesTr").mkdir(parents=True)
    (tmp_path / "empty" / "labelsTr").mkdir()
    with pytest.raises(ValueError, match="no label files"):
        FolderDataset(tmp_path / "empty")
    (folder / "imagesTr" / "case_a.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match="case_a"):
        FolderDataset(folder)


def test_folder_2d_case_cannot_give_3d(tmp_path):
    (tmp_path / "imagesTr").mkdir()
    (tmp_path / "labelsTr").mkdir()
    labels = np.zeros((30, 30), np.uint8)
    labels[5:20, 8:25] = 1
    _write(tmp_path / "imagesTr" / "s.nii.gz", labels.astype(np.float32), (1.0, 1.0))
    _write(tmp_path / "labelsTr" / "s.nii.gz", labels, (1.0, 1.0))
    data = FolderDataset(tmp_path)
    assert data.sample(np.random.default_rng(0), 2).mask.sum() == 15 * 17
    with pytest.raises(ValueError, match="ndim"):
        data.sample(np.random.default_rng(0), 3)


class _Constant:
    def __init__(self, value):
        self.value = value

    def sample(self, rng, ndim):
        shape = (4,) * ndim
        return Scene(np.full(shape, self.value, np.float32), np.ones(shape, bool), (1.0,) * ndim, "c")

    def describe(self):
        return {"source": "constant", "value": self.value}


def test_mixed_source_weights():
    mixed = MixedSource([_Constant(0), _Constant(1)], [1, 3])
    rng = np.random.default_rng(0)
    values = [mixed.sample(rng, 2).image.flat[0] for _ in range(400)]
    assert 0.68 < np.mean(values) < 0.82
    assert [p["weight"] for p in mixed.describe()["parts"]] == [0.25, 0.75]
    with pytest.raises(ValueError, match="weights"):
        MixedSource([_Constant(0)], [1, 2])
    with pytest.raises(ValueError, match="sources"):
        MixedSource([])


def test_build_sources(folder, tmp_path):
    assert isinstance(build_sources(["shapes"]).sources[0].sample(np.random.default_rng(0), 2), Scene)
    mixed = build_sources(["shapes@2", str(folder) + "@1"])
    assert [type(s).__name__ for s in mixed.sources] == ["ShapeSynthesis", "FolderDataset"]
    assert mixed.weights == pytest.approx([2 / 3, 1 / 3])
    with pytest.raises(ValueError, match="neither"):
        build_sources(["no-such-source"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        only_shapes = build_sources(["synthetic"], templates_dir=tmp_path / "nothing")
    assert len(only_shapes.sources) == 1 and any("mricron" in str(w.message) for w in caught)
