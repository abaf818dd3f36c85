"""Images synthesised from real label maps: a synthetic training source (2D and 3D).

Real labelled data is scarce and the model must segment objects and
modalities it never saw (paper Section 3.2.5), so most training scenes are
synthesised: here, and as random shapes in :mod:`.shapes`.

:class:`LabelMapSynthesis` (the idea behind SynthSeg): a real label map
(brain atlases: AAL, Brodmann, AICHA, JHU white matter, ...) is cut around a
target object, every label gets a random intensity and texture, then a bias
field, a random resolution (thick slices, partial volume), noise and blur
are applied. Contrasts are random, so no modality is learnt.

Its :meth:`sample` returns a :class:`~MIDeepSegLib.training.sources.Scene`:
an image, the target object's mask and the voxel size. Every random choice
comes from the ``numpy.random.Generator`` passed in, so a scene is replayed
from its seed.

The validation structures (:data:`VALIDATION_LABELS_AAL`: caudate, putamen,
pallidum, thalamus, hippocampus, amygdala) are removed from every atlas on
the AAL grid before anything is synthesised: their voxels become unlabelled
tissue, so neither their shapes nor their boundaries appear in training, and
they are never a target. The brain mask is never a target either.
"""

import functools
import re
from collections import namedtuple
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..core.components import largest_component
from .rendering import degrade, random_spacing, smooth_field
from .sources import Scene, Source

#: Where Debian's ``mricron-data`` package installs its templates and atlases.
MRICRON_TEMPLATES = Path("/usr/share/mricron/templates")

#: AAL label values of the structures kept for validation (never trained on):
#: name -> (left, right).
VALIDATION_STRUCTURES_AAL = {
    "caudate": (71, 72),
    "putamen": (73, 74),
    "pallidum": (75, 76),
    "thalamus": (77, 78),
    "hippocampus": (37, 38),
    "amygdala": (41, 42),
}
#: The same as a flat tuple of label values.
VALIDATION_LABELS_AAL = tuple(v for pair in VALIDATION_STRUCTURES_AAL.values() for v in pair)

#: AICHA label names (regular expressions) of the same structures.
_VALIDATION_NAMES_AICHA = r"^(N_Caudate|N_Putamen|N_Pallidum|N_Thalamus|G_Hippocampus|N_Amygdala)"

#: A label map used as a shape source.
#: ``labels``: int32 (D, H, W) array, 0 = unlabelled; ``spacing``: mm per array
#: axis; ``name``: where it came from; ``excluded``: label values removed
#: (set to 0) before use; ``note``: how the exclusion was done.
LabelMap = namedtuple("LabelMap", ["labels", "spacing", "name", "excluded", "note"])


# -- label maps --------------------------------------------------------------------------------

def read_label_map(path, *, exclude=(), exclude_mask=None, name=None, note=""):
    """Read a 3D label map file and remove the excluded labels.

    Parameters
    ----------
    path : str or os.PathLike
        NIfTI / NRRD / ... file of integer labels.
    exclude : sequence of int
        Label values set to 0 (unlabelled tissue): never targets, never drawn
        as their own region.
    exclude_mask : (D, H, W) bool ndarray, optional
        Voxels set to 0 as well (e.g. another atlas's validation structures
        on the same grid).
    name : str, optional
        Name recorded in model cards; default: the file name.

    Returns
    -------
    LabelMap
    """
    image = sitk.ReadImage(str(path))
    labels = sitk.GetArrayFromImage(image)
    if labels.ndim != 3:
        raise ValueError("path must hold a 3D label map, {} has shape {}".format(path, labels.shape))
    if labels.dtype.kind not in "iu":
        if not np.array_equal(labels, np.round(labels)):
            raise ValueError("path must hold integer labels, {} has dtype {}".format(path, labels.dtype))
    labels = labels.astype(np.int32)
    excluded = tuple(sorted(int(v) for v in exclude))
    if excluded:
        labels[np.isin(labels, excluded)] = 0
    if exclude_mask is not None:
        exclude_mask = np.asarray(exclude_mask, dtype=bool)
        if exclude_mask.shape != labels.shape:
            raise ValueError("exclude_mask must have the label map's shape {}, got {}".format(
                labels.shape, exclude_mask.shape))
        labels[exclude_mask] = 0
    spacing = tuple(float(s) for s in image.GetSpacing()[::-1])
    return LabelMap(labels, spacing, name or Path(path).name, excluded, note)


def mricron_label_maps(templates_dir=MRICRON_TEMPLATES, *, which=("aal", "brodmann", "aicha", "jhu")):
    """The brain atlases of Debian's ``mricron-data`` as shape sources, validation structures removed.

    Parameters
    ----------
    templates_dir : str or os.PathLike
        Folder holding the templates (``apt-get install mricron-data``).
    which : sequence of str
        ``"aal"`` (116 regions; the deep grey validation structures removed),
        ``"brodmann"`` (41 areas, on the AAL grid: voxels of the AAL
        validation structures, dilated by one voxel, removed), ``"aicha"``
        (192 regions at 2 mm; its caudate, putamen, pallidum, thalamus,
        hippocampus and amygdala parcels removed), ``"jhu"`` (48 white-matter
        tracts), ``"inia19"`` (724 macaque regions at 0.5 mm; its label names
        are not shipped, so nothing can be excluded from it: off by default).

    Returns
    -------
    list of LabelMap

    Raises
    ------
    FileNotFoundError
        The folder or a requested atlas is missing.
    """
    root = Path(templates_dir)
    if not root.is_dir():
        raise FileNotFoundError(2, "no mricron templates folder (install the Debian package mricron-data)",
                                str(root))
    known = ("aal", "brodmann", "aicha", "jhu", "inia19")
    unknown = [w for w in which if w not in known]
    if unknown:
        raise ValueError("which must name atlases among {}, got {}".format(known, unknown))
    maps = []
    validation = None
    if "aal" in which or "brodmann" in which:
        aal = read_label_map(root / "aal.nii.gz")
        validation = ndimage.binary_dilation(np.isin(aal.labels, VALIDATION_LABELS_AAL))
    for key in which:
        if key == "aal":
            maps.append(read_label_map(
                root / "aal.nii.gz", exclude=VALIDATION_LABELS_AAL, name="AAL (mricron aal.nii.gz)",
                note="validation structures removed: AAL labels {}".format(list(VALIDATION_LABELS_AAL))))
        elif key == "brodmann":
            maps.append(read_label_map(
                root / "brodmann.nii.gz", exclude_mask=validation, name="Brodmann (mricron brodmann.nii.gz)",
                note="voxels of the AAL validation structures (dilated by 1 voxel) removed"))
        elif key == "aicha":
            names = _label_names(root / "AICHAmc.nii.txt")
            exclude = sorted(v for v, n in names.items() if re.match(_VALIDATION_NAMES_AICHA, n))
            maps.append(read_label_map(
                root / "AICHAmc.nii.gz", exclude=exclude, name="AICHA (mricron AICHAmc.nii.gz)",
                note="caudate, putamen, pallidum, thalamus, hippocampus and amygdala parcels removed: "
                     "labels {}".format(exclude)))
        elif key == "jhu":
            maps.append(read_label_map(root / "JHU-WhiteMatter-labels-1mm.nii.gz",
                                       name="JHU white matter (mricron JHU-WhiteMatter-labels-1mm.nii.gz)",
                                       note="white-matter tracts only; nothing to remove"))
        elif key == "inia19":
            maps.append(read_label_map(root / "inia19-NeuroMaps.nii.gz",
                                       name="INIA19 macaque (mricron inia19-NeuroMaps.nii.gz)",
                                       note="macaque; label names not shipped, nothing removed"))
    return maps


def _label_names(path):
    """{value: name} from an mricron ``.nii.txt`` label list ("index name value" per line)."""
    names = {}
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].isdigit():
            names[int(parts[0])] = parts[1]
    return names


class LabelMapSynthesis(Source):
    """Images synthesised from real label maps, around a random target object (2D and 3D).

    A target is one label, the union of a label with 1-2 adjacent ones, or
    one connected component of them; labels removed from the map (the
    validation structures) are never targets. The map is cut around the
    target with context; in 2D a slice through it is taken along a random
    axis. Intensities (SynthSeg's idea): each label gets a random mean
    intensity, noise and sometimes a texture; unlabelled voxels inside the
    brain and outside it get their own; the target's contrast to its
    neighbours is at least a random minimum four times out of five (and
    anything, even nil, otherwise). The image is then resampled to a random
    voxel size (thick slices with partial volume: block averages of a finer
    grid), with a bias field, blur and noise.

    Parameters
    ----------
    label_maps : sequence of LabelMap
        Shape sources, e.g. :func:`mricron_label_maps`.
    min_extent_vox : int, keyword-only
        Smallest diameter of a target along any axis (3D) or in the slice
        (2D), voxels of the output grid.
    max_shape : dict {2: int, 3: int}, keyword-only
        Largest output size along any axis, voxels.
    union_p : float, keyword-only
        Probability that the target is the union of adjacent labels.
    """

    def __init__(self, label_maps, *, min_extent_vox=8, max_shape=None, union_p=0.25):
        label_maps = list(label_maps)
        if not label_maps:
            raise ValueError("label_maps must hold at least one LabelMap")
        if not 0 <= union_p <= 1:
            raise ValueError("union_p must be a probability in [0, 1], got {!r}".format(union_p))
        self.min_extent_vox = int(min_extent_vox)
        self.max_shape = {2: 192, 3: 80} if max_shape is None else dict(max_shape)
        self.union_p = float(union_p)
        self._maps = [_IndexedLabelMap(m, min_voxels=200) for m in label_maps]

    def describe(self):
        """JSON-compatible description for model cards."""
        return {"source": "label-map synthesis",
                "label_maps": [{"name": m.map.name, "targets": len(m.targets),
                                "excluded": list(m.map.excluded), "note": m.map.note} for m in self._maps]}

    def _draw(self, rng, ndim):
        """One scene (:meth:`Source.sample`), drawn as the class notes say."""
        for _ in range(50):
            indexed = self._maps[int(rng.integers(len(self._maps)))]
            scene = self._try(rng, indexed, ndim)
            if scene is not None:
                return scene
        raise RuntimeError("no usable target found in 50 tries")  # pragma: no cover

    def _try(self, rng, indexed, ndim):
        labels, native = indexed.map.labels, np.asarray(indexed.map.spacing)
        value = int(indexed.targets[rng.integers(len(indexed.targets))])
        values = [value]
        if rng.random() < self.union_p:
            neighbours = sorted(indexed.adjacency.get(value, ()))
            if neighbours:
                count = min(len(neighbours), int(rng.integers(1, 3)))
                values += [int(v) for v in rng.choice(neighbours, size=count, replace=False)]
        box = indexed.box(values)
        region = np.isin(labels[box], values)
        if ndim == 2:
            axis = int(rng.integers(3))
            areas = region.sum(axis=tuple(a for a in range(3) if a != axis))
            candidates = np.flatnonzero(areas >= 30)
            if len(candidates) == 0:
                return None
            index = box[axis].start + int(candidates[rng.integers(len(candidates))])
            keep = [a for a in range(3) if a != axis]
            label_slice = labels.take(index, axis=axis)
            native = native[keep]
            sub_box = tuple(box[a] for a in keep)
            region = np.isin(label_slice[sub_box], values)
            source = label_slice
            box = sub_box
        else:
            source = labels
        components, count = ndimage.label(region)
        if count == 0:
            return None
        sizes = np.bincount(components.ravel())[1:]
        if count > 1 and rng.random() < 0.3:
            usable = np.flatnonzero(sizes >= min(max(30, 0.05 * sizes.max()), sizes.max())) + 1
            chosen = int(usable[rng.integers(len(usable))])
        else:
            chosen = int(np.argmax(sizes)) + 1
        object_box = ndimage.find_objects((components == chosen).astype(np.int32))[0]
        object_box = tuple(slice(b.start + o.start, b.start + o.stop) for b, o in zip(box, object_box))
        extent_mm = np.array([s.stop - s.start for s in object_box]) * native

        spacing, factors = self._output_grid(rng, extent_mm, native, ndim)
        # Context around the object: enough that a rotation keeps the crop inside the scene.
        context_mm = 0.45 * extent_mm.max() + rng.uniform(6.0, 20.0)
        out_shape = np.ceil((extent_mm + 2 * context_mm) / spacing).astype(int)
        out_shape = np.clip(out_shape, 8, self.max_shape[ndim])
        fine_shape = out_shape * factors
        fine_spacing = spacing / factors
        centre_mm = np.array([(s.start + s.stop - 1) / 2 for s in object_box]) * native
        # Fine-grid voxel i sits at centre + (i - (n - 1) / 2) * fine_spacing, mm; nearest source voxel.
        coords = [np.rint((centre_mm[a] + (np.arange(n) - (n - 1) / 2) * fine_spacing[a]) / native[a])
                  .astype(np.intp) for a, n in enumerate(fine_shape)]
        inside = [(c >= 0) & (c < n) for c, n in zip(coords, source.shape)]
        clipped = [np.clip(c, 0, n - 1) for c, n in zip(coords, source.shape)]
        fine = source[np.ix_(*clipped)]
        valid = functools.reduce(np.logical_and, [m.reshape([-1 if a == i else 1 for i in range(ndim)])
                                                  for a, m in enumerate(inside)])
        fine = np.where(valid, fine, 0)
        target_fine = np.isin(fine, values)
        # Keep the chosen component only: the other pieces of the label are ordinary tissue.
        target_fine = _component_near(target_fine, np.asarray(fine_shape) // 2)
        if not target_fine.any():
            return None
        image_fine = self._intensities(rng, fine, target_fine, indexed, fine_spacing)
        image = _block_mean(image_fine, factors)
        target = _block_mean(target_fine.astype(np.float32), factors) >= 0.5
        target = largest_component(target)
        idx = np.argwhere(target)
        if len(idx) == 0:
            return None
        span = idx.max(0) - idx.min(0) + 1
        if (span < min(self.min_extent_vox, 4)).any() or target.sum() < (20 if ndim == 2 else 60):
            return None
        contrast = float(np.std(image))
        noise_std = rng.uniform(0.0, 0.25) * contrast + rng.uniform(0, 0.02)
        image = degrade(rng, image, spacing, noise_std=noise_std, bias=rng.uniform(0.0, 0.4),
                         blur_vox=rng.uniform(0.0, 0.7))
        name = "{}/{}{}".format(indexed.map.name.split(" ")[0], "+".join(map(str, values)),
                                "" if ndim == 3 else "/slice")
        return Scene(image, target, tuple(float(s) for s in spacing), name)

    def _output_grid(self, rng, extent_mm, native, ndim):
        """Random output voxel size (mm) and the integer fine-grid factor per axis."""
        spacing = np.asarray(random_spacing(rng, ndim), dtype=float)
        # Keep the target between min_extent_vox and the largest scene, voxels, on every axis.
        lo = self.min_extent_vox
        hi = 0.5 * self.max_shape[ndim]
        for a in range(ndim):
            spacing[a] = min(spacing[a], extent_mm[a] / lo)
            spacing[a] = max(spacing[a], extent_mm.max() / hi * (spacing[a] / spacing.min()), native[a] * 0.5)
        factors = np.clip(np.rint(spacing / native), 1, 3).astype(int)
        if np.prod(factors) > 6:
            factors = np.minimum(factors, 2)
        return spacing, factors

    @staticmethod
    def _intensities(rng, fine, target, indexed, spacing):
        """Random per-label intensities on the fine grid (float32, about [0, 1])."""
        values = np.flatnonzero(np.bincount(fine.ravel()))
        lookup = np.zeros(int(values[-1]) + 1, np.intp)
        lookup[values] = np.arange(len(values))
        inverse = lookup[fine]
        means = rng.uniform(0.0, 1.0, len(values)).astype(np.float32)
        stds = (rng.uniform(0.0, 0.08, len(values)) * (rng.random(len(values)) < 0.8)).astype(np.float32)
        # The target's contrast to the tissue around it (4 times out of 5).
        ring = ndimage.binary_dilation(target, iterations=2) & ~target
        target_ids = np.unique(inverse[target])
        if ring.any() and rng.random() < 0.8:
            around = np.bincount(inverse[ring], minlength=len(values)).astype(float)
            around[target_ids] = 0
            if around.sum() > 0:
                local = float((around * means).sum() / around.sum())
                wanted = rng.uniform(0.08, 0.4)
                for t in target_ids:
                    if abs(means[t] - local) < wanted:
                        up = local + wanted <= 1.0 and (local - wanted < 0 or rng.random() < 0.5)
                        side = 1.0 if up else -1.0
                        means[t] = np.float32(local + side * wanted)
        if len(target_ids) > 1 and rng.random() < 0.5:
            means[target_ids] = means[target_ids[0]]
        image = means[inverse] + stds[inverse] * rng.standard_normal(fine.shape, dtype=np.float32)
        if rng.random() < 0.5:
            amount = rng.uniform(0.0, 0.1)
            scale = rng.uniform(2.0, 6.0) * min(spacing) / np.asarray(spacing)
            image += np.float32(amount) * smooth_field(rng, fine.shape, scale)
        sigma = rng.uniform(0.0, 1.0)
        if sigma > 0.1:
            image = ndimage.gaussian_filter(image, sigma)
        return image.astype(np.float32)


def _block_mean(array, factors):
    """Average non-overlapping blocks of `factors` voxels (array shape = factors x output shape)."""
    factors = tuple(int(f) for f in factors)
    if all(f == 1 for f in factors):
        return array
    shape = []
    for n, f in zip(array.shape, factors):
        shape += [n // f, f]
    return array.reshape(shape).mean(axis=tuple(range(1, 2 * len(factors), 2))).astype(array.dtype)


def _component_near(mask, point):
    """The connected component of `mask` nearest to `point` (voxel index)."""
    components, count = ndimage.label(mask)
    if count <= 1:
        return mask
    idx = np.argwhere(mask)
    nearest = idx[np.argmin(((idx - point) ** 2).sum(1))]
    return components == components[tuple(nearest)]


class _IndexedLabelMap:
    """A label map with the lookups target sampling needs, computed once."""

    def __init__(self, label_map, min_voxels):
        self.map = label_map
        labels = label_map.labels
        counts = np.bincount(labels.ravel())
        self.targets = np.flatnonzero(counts >= min_voxels)
        self.targets = self.targets[self.targets > 0]
        if len(self.targets) == 0:
            raise ValueError("label map {} has no label with at least {} voxels".format(
                label_map.name, min_voxels))
        self._boxes = ndimage.find_objects(labels)
        # Unlabelled voxels inside the brain get their own value (white matter, CSF...).
        self.inside_value = int(labels.max()) + 1
        self.adjacency = {}
        for axis in range(labels.ndim):
            a = labels.take(np.arange(labels.shape[axis] - 1), axis=axis).ravel()
            b = labels.take(np.arange(1, labels.shape[axis]), axis=axis).ravel()
            touching = (a != b) & (a > 0) & (b > 0)
            pairs = np.unique(np.stack([a[touching], b[touching]], 1), axis=0)
            for x, y in pairs:
                self.adjacency.setdefault(int(x), set()).add(int(y))
                self.adjacency.setdefault(int(y), set()).add(int(x))
        hull = ndimage.binary_closing(labels > 0, iterations=3)
        hull = ndimage.binary_fill_holes(hull)
        # Outside the hull: value 0 ("outside"); inside but unlabelled: inside_value.
        self.map = label_map._replace(labels=np.where((labels == 0) & hull, self.inside_value, labels)
                                      .astype(np.int32))
        self.targets = np.array([t for t in self.targets if t != self.inside_value])
        self.adjacency = {k: {v for v in vs if v != self.inside_value} for k, vs in self.adjacency.items()}

    def box(self, values):
        """Bounding box (tuple of slices) of the given label values."""
        boxes = [self._boxes[v - 1] for v in values
                 if v - 1 < len(self._boxes) and self._boxes[v - 1] is not None]
        return tuple(slice(min(b[a].start for b in boxes), max(b[a].stop for b in boxes))
                     for a in range(self.map.labels.ndim))
