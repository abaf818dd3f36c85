"""The benchmark's cases: one object each, cut to its box plus context (``mideepseg benchmark --cases``).

``"colin27"`` (the real Colin27 T1 MRI with the AAL deep grey structures and
the whole brain; 3D volumes, and for 2D the slices through each structure's
centre along z, y and x), ``"synthetic"`` (small generated scenes, for CI) or
the path of a folder data set (``imagesTr/`` + ``labelsTr/``, every label's
largest component is one case). Cases are cut to the object's bounding box
plus ``context_mm`` (clamped to the image) so that clicks and metrics do not
scan whole volumes.
"""

import warnings
from collections import namedtuple
from pathlib import Path

import numpy as np

from ..core.components import largest_component
from ..core.crop import relaxed_bbox
from ..geometry import take_slice
from ..scenes import blob_scene
from ..training.datasets import FolderDataset
from ..training.labelmaps import MRICRON_TEMPLATES
from .validation import AXIS_NAMES, centre_slices, colin27_cases

#: One case. ``image``: float32 (H, W) or (D, H, W), array order; ``truth``:
#: bool, image shape, the object; ``spacing``: tuple of float, mm per array
#: axis; ``group``: a label for summaries ("deep grey", "whole brain", ...);
#: ``source``: where it came from (file, structure, slice).
Case = namedtuple("Case", ["name", "image", "truth", "spacing", "group", "source"])

#: Case names and context of the quick mode's Colin27 cases (small structures, small crops).
QUICK_COLIN27 = {2: ("pallidum_L", "amygdala_R"), 3: ("pallidum_L",)}


def synthetic_cases(dim, count=2, seed=0):
    """Small generated cases: :func:`MIDeepSegLib.scenes.blob_scene` (an ellipse / ellipsoid, no distractor).

    Parameters
    ----------
    dim : {2, 3}
    count : int
        Number of cases.
    seed : int
        Seeds the scenes (independent of the simulated user's seed).

    Returns
    -------
    list of Case
        2D: 64 x 64 at 1 mm; 3D: 20 x 40 x 40 at (2.0, 0.8, 0.8) mm.
    """
    dim = check_dim(dim)
    shape, spacing = ((64, 64), (1.0, 1.0)) if dim == 2 else ((20, 40, 40), (2.0, 0.8, 0.8))
    cases = []
    for k in range(int(count)):
        rng = np.random.default_rng([int(seed), 1000 + k, dim])
        image, truth = blob_scene(shape, rng, spacing, distractor=False)
        cases.append(Case("synthetic_{}".format(k), image, truth, spacing, "synthetic",
                          "synthetic scene {} (seed {})".format(k, seed)))
    return cases


def colin27_benchmark_cases(dim, *, templates_dir=None, structures=None, brain=True, axes=(0, 1, 2),
                            context_mm=32.0, names=None):
    """The Colin27 development cases (real T1 MRI, AAL deep grey structures, whole brain).

    Parameters
    ----------
    dim : {2, 3}
        3: one case per structure (the volume around it); 2: one case per
        structure and axis, the slice through its centre (as ``mideepseg validate``).
    templates_dir : str or os.PathLike, optional
        mricron templates folder (default /usr/share/mricron/templates).
    structures, brain
        See :func:`~MIDeepSegLib.evaluation.validation.colin27_cases`.
    axes : sequence of int
        Slice axes for 2D (0 = z, 1 = y, 2 = x).
    context_mm : float
        Context kept around each object, mm.
    names : sequence of str, optional
        Keep only these cases (e.g. ``"pallidum_L"``; 2D cases keep every axis).

    Returns
    -------
    list of Case
    """
    dim = check_dim(dim)
    image, spacing, truths = colin27_cases(templates_dir or MRICRON_TEMPLATES, structures=structures,
                                           brain=brain)
    if names is not None:
        unknown = sorted(set(names) - set(truths))
        if unknown:
            raise ValueError("names must be among {}, got {}".format(sorted(truths), unknown))
        truths = {k: v for k, v in truths.items() if k in names}
    groups = {k: "whole brain" if k == "brain" else "deep grey" for k in truths}
    return _cases_from_volume(image, spacing, truths, groups, dim, axes, context_mm, "Colin27 ch2.nii.gz")


def folder_cases(root, dim, *, axes=(0, 1, 2), context_mm=32.0, min_voxels=20):
    """Cases from a folder data set (``imagesTr/`` + ``labelsTr/``, read by :class:`.datasets.FolderDataset`).

    Every non-zero label value of every case gives one object, its largest
    connected component (objects under `min_voxels` voxels are skipped). For
    ``dim=2``, 3D cases give the slices through each object's centre along
    `axes`, 2D cases are used as they are; ``dim=3`` skips 2D cases.

    Returns
    -------
    list of Case
    """
    dim = check_dim(dim)
    dataset = FolderDataset(root, min_voxels=min_voxels, cache=False)
    cases = []
    for index, (_, label_path) in enumerate(dataset.pairs):
        image, labels, spacing = dataset.load(index)
        if image.ndim < dim:
            continue
        stem = label_path.name.split(".")[0]
        truths, groups = {}, {}
        for value in np.unique(labels):
            if value == 0:
                continue
            truth = largest_component(labels == value)
            if truth.sum() >= min_voxels:
                name = "{}:label{}".format(stem, int(value))
                truths[name], groups[name] = truth, "label {}".format(int(value))
        cases += _cases_from_volume(image, spacing, truths, groups, dim, axes, context_mm, label_path.name)
    if not cases:
        raise ValueError("root: {} holds no {}D object of at least {} voxels".format(root, dim, min_voxels))
    return cases


def load_cases(spec, dim, *, quick=False, templates_dir=None, seed=0, brain=True):
    """The cases named by `spec`: "colin27", "synthetic" or a folder path.

    `brain` (Colin27 only): include the whole-brain case (the largest one by far).

    In quick mode: "colin27" gives the small structures of
    :data:`QUICK_COLIN27` with 10 mm of context (synthetic cases where the
    mricron templates are missing, with a warning); "synthetic" gives 2
    (2D) or 1 (3D) scenes; a folder gives its first 2 (2D) or 1 (3D) cases.
    """
    dim = check_dim(dim)
    spec = str(spec)
    if spec == "synthetic":
        return synthetic_cases(dim, count=(2 if dim == 2 else 1) if quick else 4, seed=seed)
    if spec == "colin27":
        templates = Path(templates_dir) if templates_dir else MRICRON_TEMPLATES
        if quick:
            if not templates.is_dir():
                warnings.warn("{} is missing (apt-get install mricron-data): the quick benchmark uses "
                              "synthetic cases".format(templates), stacklevel=2)
                return synthetic_cases(dim, count=2 if dim == 2 else 1, seed=seed)
            return colin27_benchmark_cases(dim, templates_dir=templates, structures=["pallidum", "amygdala"],
                                           brain=False, axes=(0,), context_mm=10.0, names=QUICK_COLIN27[dim])
        return colin27_benchmark_cases(dim, templates_dir=templates, brain=brain)
    if Path(spec).is_dir():
        cases = folder_cases(spec, dim, context_mm=10.0 if quick else 32.0)
        return cases[:2 if dim == 2 else 1] if quick else cases
    raise ValueError("cases must be 'colin27', 'synthetic' or a folder with imagesTr/ and labelsTr/, "
                     "got {!r}".format(spec))


def _cases_from_volume(image, spacing, truths, groups, dim, axes, context_mm, source):
    cases = []
    for name, truth in truths.items():
        if dim == 3 or image.ndim == 2:
            views = [(name, image, truth, tuple(spacing), source)]
        else:
            views = []
            for axis, index in centre_slices(truth, axes):
                view_image, view_spacing = take_slice(image, axis, index, spacing)
                views.append(("{} {}={}".format(name, AXIS_NAMES[axis], index), view_image,
                              largest_component(take_slice(truth, axis, index)[0]), view_spacing,
                              "{}, slice {}={}".format(source, AXIS_NAMES[axis], index)))
        for view_name, view_image, view_truth, view_spacing, view_source in views:
            box = relaxed_bbox(np.argwhere(view_truth), view_truth.shape, view_spacing, context_mm)
            cases.append(Case(view_name, np.ascontiguousarray(view_image[box], dtype=np.float32),
                              np.ascontiguousarray(view_truth[box]), view_spacing, groups[name], view_source))
    return cases


def check_dim(dim):
    if isinstance(dim, bool) or dim not in (2, 3):
        raise ValueError("dim must be 2 or 3, got {!r}".format(dim))
    return int(dim)
