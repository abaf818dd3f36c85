"""Synthetic body scenes: an organ among its neighbours, CT- or MR-like (a training source, 2D and 3D).

The atlas and random-shape sources (:mod:`.labelmaps`, :mod:`.shapes`) teach
brain-sized structures on backgrounds of similar intensities. An abdominal or
thoracic crop around an organ is different, and the 3D network trained on
those alone under-segmented every real organ of issue 12 (precision about 0.9,
recall about 0.6): the crop holds air outside the body and bone far brighter
than anything else, so after the crop's z-score the organ's contrast to its
neighbours is a fraction of a standard deviation; the organ is large, lobulated
and textured, and touches other organs of nearly the same intensity.

:class:`BodySynthesis` draws such scenes as a label map, then renders it:

1. a body outline (an ellipse in the axial plane, axes 1-2, running along
   axis 0) with air outside, a subcutaneous fat layer and a muscle wall, and
   inside a mixture of visceral fat and soft tissue;
2. 1-5 neighbouring organs (random blobs and lobulated shapes), half of them
   placed against the target, some with nearly its intensity;
3. sometimes bone (bright, elongated) and contrast-filled vessels;
4. the target organ (blob, lobulated, concave or elongated), with inner
   vessels of another intensity a third of the time (they are part of it);
5. intensities per label: Hounsfield-like values (two times in three) or
   random MR-like ones; smooth texture per label, partial volume, noise.

The image is returned on a [0, 1]-ish scale (CT: (HU + 1000) / 2000), like
the other synthetic sources; the network sees it z-scored.
"""

import numpy as np

from ..core.components import largest_component
from .rendering import degrade, smooth_field
from .shapes import random_shape
from .sources import Scene, Source

# Labels of the scene's label map.
AIR, SUBCUTANEOUS_FAT, MUSCLE, SOFT_TISSUE, VISCERAL_FAT, BONE, VESSEL, INNER, TARGET = range(9)
FIRST_NEIGHBOUR = 9

#: Hounsfield-unit ranges a label's mean is drawn from (CT-like scenes).
CT_HU = {AIR: (-1000, -950), SUBCUTANEOUS_FAT: (-120, -80), MUSCLE: (30, 60), SOFT_TISSUE: (10, 50),
         VISCERAL_FAT: (-120, -60), BONE: (250, 1200), VESSEL: (120, 400), INNER: (-10, 250)}
#: Organs (target and neighbours), HU: from fluid-filled to enhancing.
CT_ORGAN_HU = (-20, 220)

#: Kinds of target organ, with their probabilities (see :func:`.shapes.random_shape`).
TARGET_KINDS = {"lobulated": 0.4, "blob": 0.3, "concave": 0.2, "elongated": 0.1}


class BodySynthesis(Source):
    """Organs in a body, CT-like (Hounsfield-like intensities) or MR-like (random ones); 2D and 3D.

    Parameters
    ----------
    extent_vox : dict {2: (lo, hi), 3: (lo, hi)}, keyword-only
        Range of the target's diameter along its finest axis, voxels.
    max_shape : dict {2: int, 3: int}, keyword-only
        Largest scene size along any axis, voxels.
    ct_p : float, keyword-only
        Probability of a CT-like scene.
    """

    def __init__(self, *, extent_vox=None, max_shape=None, ct_p=2.0 / 3.0):
        self.extent_vox = {2: (16, 110), 3: (12, 56)} if extent_vox is None else dict(extent_vox)
        self.max_shape = {2: 160, 3: 80} if max_shape is None else dict(max_shape)
        if not 0.0 <= ct_p <= 1.0:
            raise ValueError("ct_p must be a probability in [0, 1], got {}".format(ct_p))
        self.ct_p = float(ct_p)

    def describe(self):
        """JSON-compatible description for model cards."""
        return {"source": "body scenes (organs among neighbours; CT-like HU or random MR-like contrasts)",
                "ct_p": round(self.ct_p, 3), "target_kinds": TARGET_KINDS,
                "extent_vox": {str(k): list(v) for k, v in self.extent_vox.items()}}

    def _try(self, rng, ndim):
        spacing = _body_spacing(rng, ndim)
        lo, hi = self.extent_vox[ndim]
        diameter_mm = float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) * spacing.min()
        diameter_mm = max(diameter_mm, 0.5 * lo * spacing.max())
        radius_mm = diameter_mm / 2
        shape = np.ceil(rng.uniform(1.4, 2.4) * diameter_mm / spacing) + 8
        shape = np.maximum(np.minimum(shape, self.max_shape[ndim]), 12).astype(int)
        mesh = np.meshgrid(*[np.arange(n, dtype=np.float32) * np.float32(s) for n, s in zip(shape, spacing)],
                           indexing="ij", sparse=True)
        centre = (shape - 1) * spacing / 2 + rng.uniform(-0.1, 0.1, ndim) * shape * spacing

        labels = _body(rng, mesh, centre, radius_mm, shape, spacing)
        kind = rng.choice(list(TARGET_KINDS), p=list(TARGET_KINDS.values()))
        target = largest_component(random_shape(rng, kind, mesh, centre, radius_mm, spacing))
        if target.sum() < (20 if ndim == 2 else 60):
            return None
        boundary = np.argwhere(target) * spacing  # target voxels (mm), to place neighbours against it
        if rng.random() < 0.6:
            _place(rng, labels, mesh, BONE, boundary, centre, radius_mm, spacing, shape, tube=True)
        if rng.random() < 0.5:
            _place(rng, labels, mesh, VESSEL, boundary, centre, radius_mm * 0.4, spacing, shape, tube=True)
        for k in range(int(rng.integers(1, 6))):
            _place(rng, labels, mesh, FIRST_NEIGHBOUR + k, boundary, centre, radius_mm * rng.uniform(0.4, 1.1),
                   spacing, shape, tube=False)
        labels[target] = TARGET
        if rng.random() < 0.35:  # vessels or ducts inside the organ, part of it
            for _ in range(int(rng.integers(1, 4))):
                start = boundary[rng.integers(len(boundary))]
                inner = random_shape(rng, "elongated", mesh, start, radius_mm * rng.uniform(0.3, 0.7),
                                              spacing)
                labels[inner & target] = INNER
        image = _render(rng, labels, spacing, radius_mm, ct=rng.random() < self.ct_p)
        return Scene(image, target, tuple(float(s) for s in spacing), "bodies/" + str(kind))


def _body_spacing(rng, ndim):
    """Voxel size (mm, array order) of a clinical body scan: in-plane 0.6-2 mm, slices often thicker."""
    base = float(np.exp(rng.uniform(np.log(0.6), np.log(2.0))))
    spacing = np.full(ndim, base)
    if ndim == 3 and rng.random() < 0.6:
        spacing[0] = min(base * rng.uniform(1.5, 5.0), 6.0)
    return spacing


def _body(rng, mesh, centre, radius_mm, shape, spacing):
    """Label map of the body around the target's centre: air, fat, muscle wall, viscera (int16)."""
    labels = np.full(shape, SOFT_TISSUE, np.int16)
    visceral_fat = smooth_field(rng, shape, radius_mm * rng.uniform(0.2, 0.6) / spacing)
    labels[visceral_fat > rng.uniform(0.0, 1.5)] = VISCERAL_FAT
    if rng.random() < 0.3:  # deep inside the body: no air, no wall in the field of view
        return labels
    # The body's outline: an ellipse in the last two axes (the axial plane), edge 0.3-1.5 radii from the target.
    plane = mesh[-2:]
    direction = rng.standard_normal(2)
    direction /= np.linalg.norm(direction)
    semi = radius_mm * rng.uniform(4.0, 10.0, 2)
    edge_distance = radius_mm * rng.uniform(1.3, 2.5)
    body_centre = np.asarray(centre[-2:]) - direction * (semi.mean() - edge_distance)
    r = np.sqrt(sum(((p - np.float32(c)) / np.float32(s)) ** 2 for p, c, s in zip(plane, body_centre, semi)))
    depth_mm = (1.0 - r) * np.float32(semi.mean())  # about the distance inside the outline
    depth_mm = np.broadcast_to(depth_mm, shape)
    fat = rng.uniform(3.0, 25.0)
    wall = fat + rng.uniform(3.0, 15.0)
    labels[depth_mm < wall] = MUSCLE
    labels[depth_mm < fat] = SUBCUTANEOUS_FAT
    labels[depth_mm < 0] = AIR
    return labels


def _place(rng, labels, mesh, label, target_mm, centre, radius_mm, spacing, shape, *, tube):
    """Paint a blob (or a tube) with `label`: against the target half of the time, else anywhere."""
    ndim = len(mesh)
    if rng.random() < 0.5:
        point = target_mm[rng.integers(len(target_mm))]
        direction = point - centre
        direction /= max(np.linalg.norm(direction), 1e-6)
        where = point + direction * radius_mm * rng.uniform(0.3, 1.0)
    else:
        where = rng.uniform(0, 1, ndim) * shape * spacing
    kind = "elongated" if tube else ("lobulated" if rng.random() < 0.4 else "blob")
    part = random_shape(rng, kind, mesh, where, radius_mm, spacing)
    labels[part & (labels != AIR)] = label


def _render(rng, labels, spacing, radius_mm, *, ct):
    """Intensities for a label map: per-label mean and texture, partial volume, noise; float32 ~[0, 1]."""
    present = np.unique(labels)
    means = {}
    if ct:
        target_hu = rng.uniform(*CT_ORGAN_HU)
        for label in present:
            if label == TARGET:
                hu = target_hu
            elif label >= FIRST_NEIGHBOUR:  # a neighbour: often nearly the target's intensity
                hu = target_hu + rng.uniform(-40, 40) if rng.random() < 0.5 else rng.uniform(*CT_ORGAN_HU)
            else:
                hu = rng.uniform(*CT_HU[int(label)])
            means[int(label)] = (hu + 1000.0) / 2000.0
        texture_scale = rng.uniform(2.0, 15.0) / 2000.0
        noise = rng.uniform(3.0, 30.0) / 2000.0
        bias = 0.0
    else:
        for label in present:
            means[int(label)] = rng.uniform(0.0, 0.08) if label == AIR else rng.uniform(0.05, 1.0)
        texture_scale = rng.uniform(0.0, 0.06)
        noise = rng.uniform(0.003, 0.05)
        bias = rng.uniform(0.0, 0.3)
    lookup = np.zeros(int(present.max()) + 1, np.float32)
    for label, value in means.items():
        lookup[label] = value
    image = lookup[labels]
    image += np.float32(texture_scale) * smooth_field(rng, labels.shape, radius_mm * rng.uniform(0.1, 0.5) / spacing)
    return degrade(rng, image, spacing, noise_std=noise, bias=bias, blur_vox=rng.uniform(0.3, 1.0))
