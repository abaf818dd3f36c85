"""Training data sources: scenes with one target object each.

A *source* (:class:`~.sources.Source`) has a ``sample(rng, ndim)`` method
returning a :class:`~.sources.Scene` (an image, the mask of one target object
and the voxel size) and a ``describe()`` method returning a JSON-compatible
description for the model card. This module holds :class:`FolderDataset` (the user's own labelled
images), :class:`MixedSource` (several sources drawn with weights) and
:func:`build_sources` (the ``--data`` names of ``mideepseg train``); the
synthetic sources live in :mod:`.shapes` and :mod:`.labelmaps`. How a scene becomes
a network input (augmentation, simulated clicks, crop, cue map) is
:mod:`MIDeepSegLib.training.sampler`'s job.
"""

import warnings
from pathlib import Path

import numpy as np
from scipy import ndimage

from ..core.crop import relaxed_bbox
from ..io import read_image
from .bodies import BodySynthesis
from .labelmaps import MRICRON_TEMPLATES, LabelMapSynthesis, mricron_label_maps
from .shapes import ShapeSynthesis
from .sources import Scene, Source

#: File name endings recognised as images in a folder data set.
IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")


def _strip_suffix(name):
    for suffix in IMAGE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return None


def _context_box(object_box, spacing, shape, rng):
    """The object's box grown by a random context (mm) that leaves room for a rotation, clamped to `shape`."""
    extent_mm = np.array([s.stop - s.start for s in object_box]) * np.asarray(spacing)
    context_mm = 0.45 * extent_mm.max() + rng.uniform(6.0, 20.0)
    corners = np.array([[s.start for s in object_box], [s.stop - 1 for s in object_box]], dtype=float)
    return relaxed_bbox(corners, shape, spacing, context_mm)


class FolderDataset(Source):
    """Image / label pairs in the common medical layout: ``imagesTr/`` and ``labelsTr/``.

    Every file of ``labelsTr`` is matched with the image of the same name in
    ``imagesTr`` (or ``<name>_0000<suffix>``, the nnU-Net convention). Any
    non-zero label value is an object class; each connected component of a
    class with at least `min_voxels` voxels is one object, and a scene shows
    one object, drawn uniformly over cases and then over the case's objects.

    Parameters
    ----------
    root : str or os.PathLike
        The data set's folder.
    images, labels : str, keyword-only
        Sub-folder names (default ``imagesTr`` and ``labelsTr``).
    min_voxels : int, keyword-only
        Smallest object kept (components below it are ignored), voxels.
    cache : bool, keyword-only
        Keep the volumes in memory after their first use (fast; needs the
        memory of the whole data set).

    Notes
    -----
    2D scenes from a 3D case are slices through a drawn object along a random
    axis, the cross-section's largest component being the target (another
    component 3 times out of 10). Scenes are cut around the object with a
    context that leaves room for the sampler's rotations.
    """

    def __init__(self, root, *, images="imagesTr", labels="labelsTr", min_voxels=20, cache=True):
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(2, "no data set folder", str(root))
        image_dir, label_dir = root / images, root / labels
        for folder, what in ((image_dir, "images"), (label_dir, "labels")):
            if not folder.is_dir():
                raise FileNotFoundError(2, "the data set has no {} folder (expected {}/*.nii.gz)".format(
                    what, folder.name), str(folder))
        self.root = root
        self.min_voxels = int(min_voxels)
        self.cache = bool(cache)
        self.pairs = []
        for label_path in sorted(label_dir.iterdir()):
            stem = _strip_suffix(label_path.name)
            if stem is None or label_path.name.startswith("."):
                continue
            suffix = label_path.name[len(stem):]
            candidates = [image_dir / label_path.name, image_dir / (stem + "_0000" + suffix)]
            image_path = next((c for c in candidates if c.is_file()), None)
            if image_path is None:
                raise FileNotFoundError(2, "label file {} has no image (looked for {})".format(
                    label_path.name, " or ".join(c.name for c in candidates)), str(image_dir))
            self.pairs.append((image_path, label_path))
        if not self.pairs:
            raise ValueError("root: {} holds no label files ({}) in {}".format(
                root, ", ".join(IMAGE_SUFFIXES), label_dir))
        self._loaded = {}
        self._objects = {}

    def __len__(self):
        return len(self.pairs)

    def describe(self):
        """JSON-compatible description for model cards."""
        return {"source": "folder", "root": str(self.root), "cases": [p[1].name for p in self.pairs]}

    def load(self, index):
        """Read case `index`: ``(image float32, labels int32, spacing)`` (array order, mm)."""
        if index in self._loaded:
            return self._loaded[index]
        image_path, label_path = self.pairs[index]
        image, geometry = read_image(image_path)
        labels, label_geometry = read_image(label_path, dtype=None)
        if labels.shape != image.shape:
            raise ValueError("labels of {} have shape {} but the image has {}".format(
                label_path.name, labels.shape, image.shape))
        if labels.dtype.kind == "f" and not np.array_equal(labels, np.round(labels)):
            raise ValueError("{} must hold integer labels".format(label_path))
        case = (np.asarray(image, dtype=np.float32), labels.astype(np.int32), tuple(geometry.spacing))
        if self.cache:
            self._loaded[index] = case
        return case

    def objects(self, index):
        """The objects of case `index`: list of ``(value, box, seed)``.

        ``box`` is a tuple of slices, ``seed`` one voxel of the object (array order).
        """
        if index not in self._objects:
            _, labels, _ = self.load(index)
            found = []
            for value in np.unique(labels):
                if value == 0:
                    continue
                components, count = ndimage.label(labels == value)
                sizes = np.bincount(components.ravel())
                for component, box in enumerate(ndimage.find_objects(components), start=1):
                    if box is None or sizes[component] < self.min_voxels:
                        continue
                    local = np.argwhere(components[box] == component)[0]
                    found.append((int(value), box, tuple(int(s.start + c) for s, c in zip(box, local))))
            self._objects[index] = found
        return self._objects[index]

    def _draw(self, rng, ndim):
        """One scene (:meth:`Source.sample`): a case, one of its objects, a patch around it.

        ndim 3 needs 3D cases; 2 takes 2D cases as they are and slices 3D ones.
        """
        for _ in range(50):
            index = int(rng.integers(len(self.pairs)))
            image, labels, spacing = self.load(index)
            if image.ndim < ndim:
                raise ValueError("ndim: a 3D scene was asked for but case {} is 2D".format(
                    self.pairs[index][1].name))
            found = self.objects(index)
            if not found:
                continue
            value, box, seed = found[int(rng.integers(len(found)))]
            region = labels[box] == value
            components, _ = ndimage.label(region)
            target = components == components[tuple(c - s.start for c, s in zip(seed, box))]
            if image.ndim == 3 and ndim == 2:
                scene = self._slice(rng, image, labels, spacing, value, box, target)
                if scene is None:
                    continue
                return scene._replace(name="{}:{}".format(self.pairs[index][1].name, scene.name))
            context = _context_box(box, spacing, image.shape, rng)
            mask = np.zeros(tuple(s.stop - s.start for s in context), bool)
            mask[tuple(slice(b.start - c.start, b.stop - c.start) for b, c in zip(box, context))] = target
            return Scene(image[context].copy(), mask, tuple(spacing),
                         "{}:label{}".format(self.pairs[index][1].name, value))
        raise ValueError("no case of {} holds an object of at least {} voxels".format(
            self.root, self.min_voxels))

    def _slice(self, rng, image, labels, spacing, value, box, target):
        axis = int(rng.integers(3))
        areas = target.sum(axis=tuple(a for a in range(3) if a != axis))
        candidates = np.flatnonzero(areas >= max(self.min_voxels // 4, 10))
        if len(candidates) == 0:
            return None
        index = box[axis].start + int(candidates[rng.integers(len(candidates))])
        keep = [a for a in range(3) if a != axis]
        cross = labels.take(index, axis=axis) == value
        components, count = ndimage.label(cross)
        # Components of this slice that belong to the drawn 3D object.
        local = target.take(index - box[axis].start, axis=axis)
        ids = np.unique(components[tuple(box[a] for a in keep)][local])
        ids = ids[ids > 0]
        if len(ids) == 0:
            return None
        sizes = np.bincount(components.ravel())
        chosen = int(ids[np.argmax(sizes[ids])]) if rng.random() < 0.7 else int(ids[rng.integers(len(ids))])
        mask2d = components == chosen
        spacing2d = tuple(spacing[a] for a in keep)
        object_box = ndimage.find_objects(mask2d.astype(np.int32))[0]
        context = _context_box(object_box, spacing2d, mask2d.shape, rng)
        slice_image = image.take(index, axis=axis)
        return Scene(slice_image[context].copy(), mask2d[context].copy(), spacing2d,
                     "label{}/axis{}/slice{}".format(value, axis, index))


class MixedSource(Source):
    """Draw each scene from one of several sources, with given probabilities.

    Parameters
    ----------
    sources : sequence
        Objects with ``sample(rng, ndim)`` and ``describe()``.
    weights : sequence of float, optional
        Relative probabilities (default: equal).
    """

    def __init__(self, sources, weights=None):
        self.sources = list(sources)
        if not self.sources:
            raise ValueError("sources must hold at least one source")
        weights = [1.0] * len(self.sources) if weights is None else [float(w) for w in weights]
        if len(weights) != len(self.sources) or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError("weights must be one non-negative number per source, not all 0, got {}".format(
                weights))
        total = sum(weights)
        self.weights = [w / total for w in weights]

    def _draw(self, rng, ndim):
        """Draw a source by weight, then a scene from it (see :class:`Scene`)."""
        index = int(rng.choice(len(self.sources), p=self.weights)) if len(self.sources) > 1 else 0
        return self.sources[index].sample(rng, ndim)

    def describe(self):
        """JSON-compatible description for model cards."""
        return {"source": "mixture", "parts": [dict(s.describe(), weight=round(w, 4))
                                               for s, w in zip(self.sources, self.weights)]}


#: ``--data`` names accepted by :func:`build_sources` (besides folder paths).
SOURCE_NAMES = ("synthetic", "shapes", "labelmaps", "inia19", "bodies")


def build_sources(specs, *, templates_dir=None, shape_kinds=None):
    """Build the training source from ``--data`` specifications.

    Parameters
    ----------
    specs : sequence of str
        Each one ``NAME`` or ``NAME@WEIGHT``, NAME being ``"shapes"`` (random
        shapes), ``"labelmaps"`` (images synthesised from the mricron brain
        atlases, validation structures removed), ``"synthetic"`` (both,
        weights 0.5 / 0.5; random shapes alone where mricron-data is not
        installed, with a warning), ``"inia19"`` (the macaque atlas as a
        label map) or the path of a folder data set (``imagesTr/``,
        ``labelsTr/``).
    templates_dir : str or os.PathLike, optional
        The mricron templates folder (default /usr/share/mricron/templates).
    shape_kinds : dict of str -> float, optional
        The random shapes' kinds and probabilities (default
        :data:`~MIDeepSegLib.training.shapes.SHAPE_KINDS`).

    Returns
    -------
    MixedSource
    """
    if isinstance(specs, str):
        specs = [specs]
    if not specs:
        raise ValueError("specs must name at least one data source")
    templates = Path(templates_dir) if templates_dir is not None else MRICRON_TEMPLATES
    sources, weights = [], []
    for spec in specs:
        name, weight = spec, 1.0
        if "@" in spec:
            head, _, tail = spec.rpartition("@")
            try:
                weight = float(tail)
                name = head
            except ValueError:
                pass
        if name == "shapes":
            sources.append(ShapeSynthesis(kinds=shape_kinds))
            weights.append(weight)
        elif name == "bodies":
            sources.append(BodySynthesis())
            weights.append(weight)
        elif name in ("labelmaps", "inia19"):
            which = ("inia19",) if name == "inia19" else ("aal", "brodmann", "aicha", "jhu")
            sources.append(LabelMapSynthesis(mricron_label_maps(templates, which=which)))
            weights.append(weight)
        elif name == "synthetic":
            sources.append(ShapeSynthesis(kinds=shape_kinds))
            if templates.is_dir():
                sources.append(LabelMapSynthesis(mricron_label_maps(templates)))
                weights += [weight / 2, weight / 2]
            else:
                warnings.warn("{} is missing (apt-get install mricron-data): 'synthetic' uses random shapes "
                              "only".format(templates), stacklevel=2)
                weights.append(weight)
        elif Path(name).is_dir():
            sources.append(FolderDataset(name))
            weights.append(weight)
        else:
            raise ValueError("data source {!r} is neither one of {} nor a folder".format(spec, SOURCE_NAMES))
    return MixedSource(sources, weights)
