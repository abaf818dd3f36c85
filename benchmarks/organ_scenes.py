"""Synthetic organ-sized CT-like scenes for the click benchmarks (int16 volumes, Hounsfield-like values).

Each scene is a lobulated object (a star-shaped body whose radius varies smoothly with direction)
in soft tissue with a smooth, low-contrast background texture, fat, and noise: the object is
+60 HU above its neighbourhood, noise sigma 12 HU. Sizes follow the organs a Slicer user
segments: a kidney, a LiTS-sized liver (128^3), a 2.6 M-voxel object in 200x256x256, a liver-sized
5 M-voxel object in 400x512x512.
"""

import numpy as np
from scipy import ndimage

#: name -> (shape (z, y, x), spacing mm, object voxels wanted, seed)
SCENES = {
    "lesion": ((120, 256, 256), (1.5, 0.8, 0.8), 4_000, 5),
    "kidney": ((160, 256, 256), (1.5, 0.8, 0.8), 150_000, 4),
    "lits": ((128, 128, 128), (2.0, 1.5, 1.5), 600_000, 3),
    "organ200": ((200, 256, 256), (1.5, 0.8, 0.8), 2_600_000, 1),
    "liver400": ((400, 512, 512), (1.0, 0.75, 0.75), 5_000_000, 2),
}


def lobulated_mask(shape, voxels, seed, centre=None, axes=(0.8, 1.0, 1.0)):
    """A lobulated, star-shaped object of about `voxels` voxels (bool array of `shape`).

    Its radius in direction u is R (1 + 0.22 sum_k a_k cos(f_k . u + p_k)), a few random low
    frequencies: lobes and shallow clefts, like a liver or a spleen.
    """
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    centre = np.asarray(shape, float) / 2 if centre is None else np.asarray(centre, float)
    freqs = rng.normal(0, 2.2, (5, 3))
    amps = rng.uniform(0.4, 1.0, 5)
    amps /= amps.sum()
    phases = rng.uniform(0, 2 * np.pi, 5)

    def build(radius):
        # work on a box around the centre to keep memory small
        half = np.ceil(radius * 1.3 * np.asarray(axes)).astype(int) + 2
        lo = np.maximum(np.round(centre).astype(int) - half, 0)
        hi = np.minimum(np.round(centre).astype(int) + half + 1, shape)
        grids = np.ogrid[tuple(slice(a, b) for a, b in zip(lo, hi))]
        rel = [(g - c) / a for g, c, a in zip(grids, centre, axes)]
        norm = np.sqrt(rel[0] ** 2 + rel[1] ** 2 + rel[2] ** 2).astype(np.float32) + np.float32(1e-6)
        wobble = np.zeros(norm.shape, np.float32)
        for f, a, p in zip(freqs, amps, phases):
            wobble += np.float32(a) * np.cos((f[0] * rel[0] + f[1] * rel[1] + f[2] * rel[2]) / norm + p,
                                             dtype=np.float32)
        inside = norm <= np.float32(radius) * (1 + np.float32(0.22) * wobble)
        out = np.zeros(shape, bool)
        out[tuple(slice(a, b) for a, b in zip(lo, hi))] = inside
        return out

    radius = (voxels * 3 / (4 * np.pi * np.prod(axes))) ** (1 / 3)
    for _ in range(3):  # fit the size
        mask = build(radius)
        radius *= (voxels / max(int(mask.sum()), 1)) ** (1 / 3)
    return build(radius)


def ct_volume(mask, seed, spacing):
    """int16 CT-like intensities around `mask` (object ~ +60 HU over its surroundings)."""
    rng = np.random.default_rng(seed + 100)
    shape = mask.shape
    small = tuple(max(4, n // 8) for n in shape)
    texture = ndimage.zoom(rng.normal(0, 1, small).astype(np.float32), [n / s for n, s in zip(shape, small)],
                           order=1)[tuple(slice(0, n) for n in shape)]
    texture = ndimage.gaussian_filter(texture, 2)
    volume = np.full(shape, 40.0, np.float32)           # soft tissue
    volume += 25.0 * texture                             # slow variation
    volume[texture > 1.0] = -90.0                        # fat pockets
    volume[mask] = 100.0                                 # the organ
    volume += rng.normal(0, 12.0, shape).astype(np.float32)
    out = np.clip(volume, -1024, 3000).astype(np.int16)
    return out


def scene(name):
    """(int16 volume, spacing, bool truth) for a scene of :data:`SCENES`."""
    shape, spacing, voxels, seed = SCENES[name]
    mask = lobulated_mask(shape, voxels, seed)
    return ct_volume(mask, seed, spacing), spacing, mask
