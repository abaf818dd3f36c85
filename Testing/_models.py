"""Tiny real MIDeepSeg networks, trained inside the test session on synthetic shapes.

Not a test file: a helper imported by ``test_segmenter.py`` and ``test_cli.py``.

The samples go through exactly the path the :class:`~MIDeepSegLib.Segmenter`
uses at inference: simulated interior margin points
(:func:`~MIDeepSegLib.core.simulate.interior_margin_points`), their relaxed bounding
box (:func:`~MIDeepSegLib.core.crop.relaxed_bbox`), the crop and its EGD cue map on
the network grid (:func:`~MIDeepSegLib.model.preprocess.network_input`). The target
is the object's mask resized to that grid. Training is soft Dice + Adam,
seeded (``torch.manual_seed`` and a ``numpy`` Generator).

The scenes are ellipses / ellipsoids of random size, aspect, intensity
(brighter *or* darker than the background) on a smooth textured background
with noise, sometimes next to a second, distractor object, so the network has to
use the cue map and the image edges and not just threshold the crop.

:func:`trained_models` trains once per process and caches the result;
:func:`heldout_dice` measures a network on fresh scenes through
``Segmenter.initial`` (i.e. end to end, not on the training grid).
"""

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from MIDeepSegLib.scenes import blob_scene

#: Architecture of the tiny test networks (array order input sizes).
TINY_2D = {"features": (8, 16, 32), "input_size": (32, 32)}
TINY_3D = {"features": (4, 8, 16), "input_size": (16, 24, 24)}
#: Spacings the 3D network is trained on (z, y, x, mm): isotropic and thick-slice volumes.
SPACINGS_3D = ((1.0, 1.0, 1.0), (2.0, 0.8, 0.8), (3.0, 0.9, 1.0))

_CACHE = {}


def scene(shape, rng, spacing=None, *, distractor=None):
    """One synthetic scene: :func:`MIDeepSegLib.scenes.blob_scene` (the benchmark's synthetic cases too)."""
    return blob_scene(shape, rng, spacing, distractor=distractor)


def sample(config, image, mask, rng, spacing):
    """(network input (2, *input_size), target (*input_size)) of one scene, as the Segmenter prepares it."""
    from MIDeepSegLib.core.crop import relaxed_bbox, shift_points
    from MIDeepSegLib.model.preprocess import network_input, resize
    from MIDeepSegLib.core.simulate import interior_margin_points

    points = interior_margin_points(mask, rng, spacing)
    box = relaxed_bbox(points, mask.shape, spacing, config.margin_mm)
    inputs = network_input(image[box], shift_points(points, box), spacing, config.input_size,
                           encoding=config.encoding, normalisation=config.normalisation, device="cpu")
    target = resize(mask[box].astype(np.float32), config.input_size) >= 0.5
    return inputs, target.astype(np.float32)


def _dataset(config, count, rng, shape, spacings):
    xs, ys = [], []
    for i in range(count):
        spacing = spacings[i % len(spacings)]
        image, mask = scene(shape, rng, spacing)
        x, y = sample(config, image, mask, rng, spacing)
        xs.append(x)
        ys.append(y)
    return np.stack(xs), np.stack(ys)


def train(config, *, samples, steps, batch, shape, spacings, seed=0, lr=1e-2):
    """Train a fresh UNet for `config` on synthetic scenes; returns (model, figures dict)."""
    import torch

    threads = torch.get_num_threads()
    # One thread: tiny convolutions gain nothing from more, and lose a lot when
    # the cores are shared with other jobs (measured: 20x slower with 2 threads
    # on 2 busy cores).
    torch.set_num_threads(1)
    try:
        return _train(config, samples, steps, batch, shape, spacings, seed, lr)
    finally:
        torch.set_num_threads(threads)


def _train(config, samples, steps, batch, shape, spacings, seed, lr):
    import torch

    from MIDeepSegLib.model.checkpoint import build_model

    start = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    xs, ys = _dataset(config, samples, rng, shape, spacings)
    data_seconds = time.perf_counter() - start
    x_all, y_all = torch.from_numpy(xs), torch.from_numpy(ys)
    model = build_model(config).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    generator = torch.Generator().manual_seed(seed)
    axes = tuple(range(1, config.spatial_dims + 1))
    for _ in range(steps):
        idx = torch.randint(len(x_all), (batch,), generator=generator)
        x, y = x_all[idx], y_all[idx]
        # Random flips: cheap augmentation along every spatial axis.
        for axis in range(2, 2 + config.spatial_dims):
            if torch.rand((), generator=generator) < 0.5:
                x, y = x.flip(axis), y.flip(axis - 1)
        prob = torch.softmax(model(x), dim=1)[:, 1]
        inter = (prob * y).sum(axes)
        loss = 1 - ((2 * inter + 1) / (prob.sum(axes) + y.sum(axes) + 1)).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
    model.eval()
    return model, {"train_seconds": round(time.perf_counter() - start, 2),
                   "data_seconds": round(data_seconds, 2), "final_loss": round(float(loss.detach()), 4)}


def heldout_dice(path, ndim, count=12, seed=12345, shape=None, spacings=None):
    """Dice of the network's own mask (``Segmenter(model=path, initial_fusion=False).initial``) on fresh
    scenes; list of floats. Without the initial fusion: it measures the weights, not the points' geodesics."""
    from MIDeepSegLib.core.metrics import dice
    from MIDeepSegLib.segmenter import Segmenter
    from MIDeepSegLib.core.simulate import interior_margin_points

    rng = np.random.default_rng(seed)
    shape = shape or ((64, 64) if ndim == 2 else (24, 40, 40))
    spacings = spacings or ([(1.0, 1.0)] if ndim == 2 else list(SPACINGS_3D))
    scores = []
    for i in range(count):
        spacing = spacings[i % len(spacings)]
        image, mask = scene(shape, rng, spacing)
        points = interior_margin_points(mask, rng, spacing)
        result = Segmenter(image, spacing, model=str(path), device="cpu", initial_fusion=False).initial(points)
        scores.append(dice(result.mask, mask))
    return scores


def trained_models():
    """Train (once per process) the tiny 2D and 3D models; returns dict with paths and figures.

    Keys: ``"2d"``, ``"3d"`` (checkpoint paths), ``"figures"`` (training times
    and losses per model), ``"dir"`` (the temporary folder holding them,
    removed at interpreter exit).
    """
    if "models" in _CACHE:
        return _CACHE["models"]
    import atexit

    from MIDeepSegLib.model.checkpoint import ModelConfig, save_checkpoint

    folder = Path(tempfile.mkdtemp(prefix="mideepseg-tiny-models-"))
    atexit.register(shutil.rmtree, str(folder), True)
    card = {"purpose": "tiny test model trained inside the test session on synthetic ellipses",
            "training_code": "Testing/_models.py"}
    config2 = ModelConfig(2, card=card, **TINY_2D)
    model2, fig2 = train(config2, samples=120, steps=150, batch=16, shape=(64, 64), spacings=[(1.0, 1.0)])
    path2 = save_checkpoint(folder / "tiny_2d.pt", model2, config2)
    config3 = ModelConfig(3, card=card, **TINY_3D)
    model3, fig3 = train(config3, samples=48, steps=100, batch=4, shape=(24, 40, 40), spacings=SPACINGS_3D)
    path3 = save_checkpoint(folder / "tiny_3d.pt", model3, config3)
    _CACHE["models"] = {"2d": path2, "3d": path3, "dir": folder, "figures": {"2d": fig2, "3d": fig3}}
    return _CACHE["models"]
