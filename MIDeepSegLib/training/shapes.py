"""Random shapes: smooth objects on textured backgrounds, a synthetic training source (2D and 3D).

:class:`ShapeSynthesis` draws blobs, elongated and bent tubes, concave and
lobulated shapes, shapes with holes and compound objects with inner parts, next
to distractor objects that may touch the target with a low contrast. Its
:meth:`~.sources.Source.sample` returns a :class:`~.sources.Scene`; every random
choice comes from the ``numpy.random.Generator`` passed in.
"""

import math

import numpy as np
from scipy import ndimage

from ..core.components import largest_component
from .rendering import degrade, random_spacing, smooth_field
from .sources import Scene, Source


def _paint(image, mask, value, sigma_vox):
    """Composite `value` (scalar or image-shaped) over `image` where `mask` is, with a soft edge."""
    idx = np.argwhere(mask)
    if len(idx) == 0:
        return
    pad = int(math.ceil(3 * max(sigma_vox, 0.0))) + 1
    box = tuple(slice(max(lo - pad, 0), min(hi + pad + 1, n))
                for lo, hi, n in zip(idx.min(0), idx.max(0), mask.shape))
    weight = mask[box].astype(np.float32)
    if sigma_vox > 0:
        weight = ndimage.gaussian_filter(weight, sigma_vox)
    local = value[box] if isinstance(value, np.ndarray) else np.float32(value)
    image[box] = image[box] * (1 - weight) + local * weight


#: Shape kinds drawn by :class:`ShapeSynthesis`, with their default probabilities.
SHAPE_KINDS = {"blob": 0.25, "elongated": 0.15, "concave": 0.15, "lobulated": 0.15, "holed": 0.1, "compound": 0.2}


class ShapeSynthesis(Source):
    """Random smooth objects on random textured backgrounds, 2D and 3D.

    Each scene holds one target object and 0-4 distractors. The target is a
    blob (a randomly deformed ellipse / ellipsoid), an elongated and bent
    tube, a concave shape (a blob with a bite taken out), a lobulated union
    of blobs, a blob with a hole, or a compound object: a blob or lobulated
    shape with inner parts of their own, strongly contrasting intensities (a
    rim around a core, inner blobs), as a brain has grey matter around white
    matter and ventricles, a tumour a necrotic core, a kidney its medulla.
    Distractors are blobs of random intensity, some placed to touch the
    target, sometimes with a low contrast to it. Background and objects carry smooth random textures;
    then come a bias field, partial-volume edges, blur and noise. The voxel
    size is random, with thick slices or anisotropic pixels a third of the
    time.

    Parameters
    ----------
    extent_vox : dict {2: (lo, hi), 3: (lo, hi)}, keyword-only
        Range of the target's diameter along each axis, voxels.
    max_shape : dict {2: int, 3: int}, keyword-only
        Largest scene size along any axis, voxels.
    kinds : dict of str -> float, keyword-only
        Shape kinds (keys of :data:`SHAPE_KINDS`) and their probabilities.
    """

    def __init__(self, *, extent_vox=None, max_shape=None, kinds=None):
        self.extent_vox = {2: (12, 90), 3: (8, 48)} if extent_vox is None else dict(extent_vox)
        self.max_shape = {2: 160, 3: 80} if max_shape is None else dict(max_shape)
        kinds = dict(SHAPE_KINDS if kinds is None else kinds)
        bad = sorted(set(kinds) - set(SHAPE_KINDS))
        if bad or not kinds or min(kinds.values()) < 0 or sum(kinds.values()) <= 0:
            raise ValueError("kinds must map names among {} to probabilities >= 0 (not all 0), got {}".format(
                sorted(SHAPE_KINDS), kinds))
        total = float(sum(kinds.values()))
        self.kinds = {k: v / total for k, v in kinds.items()}

    def describe(self):
        """JSON-compatible description for model cards."""
        return {"source": "random shapes", "kinds": self.kinds, "extent_vox": {str(k): list(v) for k, v in
                                                                               self.extent_vox.items()}}

    def _try(self, rng, ndim):
        spacing = np.asarray(random_spacing(rng, ndim))
        lo, hi = self.extent_vox[ndim]
        # Target diameter in mm, set on the finest axis so that every axis keeps >= lo/2 voxels.
        diameter_mm = float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) * spacing.min()
        diameter_mm = max(diameter_mm, 0.5 * lo * spacing.max())
        radius_mm = diameter_mm / 2
        context = rng.uniform(1.6, 2.6)
        shape = np.minimum(np.ceil(context * diameter_mm / spacing) + 8, self.max_shape[ndim]).astype(int)
        shape = np.maximum(shape, 12)
        grids = [np.arange(n, dtype=np.float32) * np.float32(s) for n, s in zip(shape, spacing)]
        mesh = np.meshgrid(*grids, indexing="ij", sparse=True)
        centre = (shape - 1) * spacing / 2 + rng.uniform(-0.1, 0.1, ndim) * shape * spacing

        kind = rng.choice(list(self.kinds), p=list(self.kinds.values()))
        target = random_shape(rng, kind, mesh, centre, radius_mm, spacing)
        target = largest_component(target)
        if target.sum() < (20 if ndim == 2 else 60):
            return None

        # Intensities on a [0, 1]-ish scale.
        bg_mean = rng.uniform(0.1, 0.9)
        texture = rng.uniform(0.0, 0.25)
        image = bg_mean + texture * smooth_field(rng, shape, radius_mm * rng.uniform(0.2, 1.5) / spacing)
        if rng.random() < 0.5:
            image += 0.5 * texture * smooth_field(rng, shape, radius_mm * rng.uniform(0.05, 0.2) / spacing)
        low_contrast = rng.random() < 0.25
        contrast = rng.uniform(0.04, 0.15) if low_contrast else rng.uniform(0.12, 0.8)
        target_mean = bg_mean + contrast * rng.choice((-1.0, 1.0))
        pv_sigma = rng.uniform(0.3, 1.2)

        for _ in range(int(rng.integers(0, 5))):
            touch = rng.random() < 0.5
            d_radius = radius_mm * rng.uniform(0.3, 1.0)
            if touch:
                boundary = np.argwhere(target & ~ndimage.binary_erosion(target))
                point = boundary[rng.integers(len(boundary))] * spacing
                direction = point - centre
                direction /= max(np.linalg.norm(direction), 1e-6)
                d_centre = point + direction * d_radius * rng.uniform(0.4, 1.0)
            else:
                d_centre = rng.uniform(0, 1, ndim) * shape * spacing
            distractor = random_shape(rng, "blob", mesh, d_centre, d_radius, spacing)
            similar = touch and rng.random() < 0.5
            d_mean = target_mean + rng.uniform(-0.12, 0.12) if similar else rng.uniform(0.0, 1.0)
            d_value = d_mean + rng.uniform(0, 0.2) * smooth_field(rng, shape, d_radius * 0.5 / spacing)
            _paint(image, distractor, d_value, pv_sigma)

        t_value = target_mean + rng.uniform(0.0, 0.6) * contrast * smooth_field(
            rng, shape, radius_mm * rng.uniform(0.1, 0.8) / spacing)
        _paint(image, target, t_value, pv_sigma)
        if kind == "compound":
            _paint_inner_parts(rng, image, target, mesh, spacing, radius_mm, pv_sigma)
        noise_std = rng.uniform(0.0, 0.5) * contrast + rng.uniform(0, 0.03)
        image = degrade(rng, image, spacing, noise_std=noise_std, bias=rng.uniform(0.0, 0.3),
                         blur_vox=rng.uniform(0.0, 0.8))
        return Scene(image, target, tuple(float(s) for s in spacing), "shapes/" + str(kind))


def random_shape(rng, kind, mesh, centre, radius_mm, spacing):
    """A random object of `kind` (a key of :data:`SHAPE_KINDS`) around `centre` (mm), bool, mesh shape.

    `mesh`: sparse coordinate grids in mm (``np.meshgrid(..., sparse=True)``);
    `radius_mm`: its typical radius. A "compound" kind gives the outline only.
    """
    ndim = len(mesh)
    if kind == "compound":  # the outline; its inner parts are painted by _paint_inner_parts
        kind = "lobulated" if rng.random() < 0.4 else "blob"
    if kind == "blob":
        return _blob(rng, mesh, centre, radius_mm * rng.uniform(0.6, 1.4, ndim), rng.uniform(0.05, 0.35))
    if kind == "elongated":
        radii = radius_mm * np.array([rng.uniform(1.0, 1.4)] + [rng.uniform(0.2, 0.5)] * (ndim - 1))
        return _blob(rng, mesh, centre, radii, rng.uniform(0.0, 0.2), bend=rng.uniform(-1.0, 1.0))
    if kind == "concave":
        body = _blob(rng, mesh, centre, radius_mm * rng.uniform(0.8, 1.2, ndim), rng.uniform(0.05, 0.25))
        direction = rng.standard_normal(ndim)
        direction /= np.linalg.norm(direction)
        bite = _blob(rng, mesh, centre + direction * radius_mm * rng.uniform(0.7, 1.1),
                     radius_mm * rng.uniform(0.4, 0.8, ndim), 0.1)
        return body & ~bite
    if kind == "lobulated":
        out = None
        for _ in range(int(rng.integers(2, 4))):
            offset = rng.uniform(-0.6, 0.6, ndim) * radius_mm
            part = _blob(rng, mesh, centre + offset, radius_mm * rng.uniform(0.4, 0.8, ndim), 0.15)
            out = part if out is None else out | part
        return out
    if kind == "holed":
        body = _blob(rng, mesh, centre, radius_mm * rng.uniform(0.8, 1.2, ndim), rng.uniform(0.05, 0.2))
        hole = _blob(rng, mesh, centre + rng.uniform(-0.2, 0.2, ndim) * radius_mm,
                     radius_mm * rng.uniform(0.2, 0.5, ndim), 0.1)
        return body & ~hole
    raise ValueError("unknown shape kind {!r}".format(kind))  # pragma: no cover


def _paint_inner_parts(rng, image, target, mesh, spacing, radius_mm, pv_sigma):
    """Paint a compound object's inside: a core within a rim (3 times in 5) and 0-4 inner blobs (1-4 without a core).

    The parts keep at least 1.5 voxels (finest axis) away from the target's
    boundary, so the object's outline stays the target's; their intensities
    are drawn over the whole range, often far from the rim's (which the
    network must learn to include).
    """
    depth = ndimage.distance_transform_edt(target, sampling=spacing)
    inside = depth > 1.5 * min(spacing)
    if not inside.any():
        return
    has_core = rng.random() < 0.6
    if has_core:
        rim_mm = depth.max() * rng.uniform(0.15, 0.5)
        core = depth > max(rim_mm, 1.5 * min(spacing))
        texture = rng.uniform(0, 0.1) * smooth_field(rng, image.shape, radius_mm * 0.3 / spacing)
        core_value = rng.uniform(0.0, 1.0) + texture
        _paint(image, core, core_value, pv_sigma)
    for _ in range(int(rng.integers(0 if has_core else 1, 5))):
        centre = np.argwhere(inside)[rng.integers(inside.sum())] * spacing
        part = _blob(rng, mesh, centre, radius_mm * rng.uniform(0.1, 0.5, len(spacing)), rng.uniform(0.0, 0.3))
        _paint(image, part & inside, rng.uniform(0.0, 1.0), pv_sigma)


def _rotation(rng, ndim):
    """A uniformly random rotation matrix (ndim x ndim)."""
    q, r = np.linalg.qr(rng.standard_normal((ndim, ndim)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _blob(rng, mesh, centre, radii, roughness, bend=0.0):
    """A rotated ellipse / ellipsoid (semi-axes `radii`, mm) with a smoothly perturbed boundary.

    `bend` curves the first semi-axis (the long one of elongated shapes) into an arc.
    """
    ndim = len(mesh)
    rot = _rotation(rng, ndim)
    rel = [m - np.float32(c) for m, c in zip(mesh, centre)]
    local = [sum(np.float32(rot[a, b]) * rel[a] for a in range(ndim)) for b in range(ndim)]
    if bend:
        local[1] = local[1] - np.float32(bend / radii[0]) * local[0] ** 2
    r = np.sqrt(sum((loc / np.float32(rad)) ** 2 for loc, rad in zip(local, radii)))
    shape = np.broadcast_shapes(*[m.shape for m in mesh])
    if roughness > 0:
        spacing = [float(m.ravel()[1] - m.ravel()[0]) if m.size > 1 else 1.0 for m in mesh]
        scale = [min(radii) * rng.uniform(0.3, 0.9) / s for s in spacing]
        r = r + np.float32(roughness) * smooth_field(rng, shape, scale)
    return np.broadcast_to(r < 1.0, shape).copy()
