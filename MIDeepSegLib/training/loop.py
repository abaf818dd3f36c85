"""Training a MIDeepSeg network: the paper's recipe (Section 2.5) on generated examples.

Soft Dice loss, Adam with weight decay 1e-4, learning rate 1e-4 kept constant
for the first half of the run and then halved at regular steps (the paper:
2D 300 epochs, constant for 150 then halved every 30; 3D 2000 epochs,
constant for 1000 then halved every 200, i.e. every tenth of the run).
Examples come from :class:`~MIDeepSegLib.training.sampler.ExampleSampler`, drawn
afresh each iteration, so training is counted in iterations, not epochs.

Reproducibility: the network's initial weights come from ``seed``; example
``j`` of iteration ``i`` on process ``rank`` from
``example_rng(seed, rank, i, j)``. A run resumed from its ``.train.pt`` file
therefore sees the same examples as an uninterrupted one and, on the same
machine and device, ends with the same weights.

Data parallelism: started by ``torchrun --nproc_per_node N`` (PyTorch's
``torch.distributed.run``), :func:`train` joins the process group (NCCL on
CUDA, gloo on CPU), wraps the network in ``DistributedDataParallel`` and
gives every process its own examples (its rank in the seed). ``batch_size``
is per process. Only rank 0 validates, prints and writes files.
"""

import contextlib
import dataclasses
import datetime
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from .._device import resolve_device
from ..core.metrics import dice
from ..model.checkpoint import ModelConfig, atomic_save, build_model, load_checkpoint, save_checkpoint
from .datasets import MixedSource, build_sources
from .sampler import ExampleSampler, example_rng

#: Value of the "format" key of a training-state file.
TRAIN_STATE_FORMAT = "mideepseg-train-state"


def train_state_path(out_path):
    """The training-state file kept next to a checkpoint: ``model.pt`` -> ``model.train.pt``."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.name[:-3] + ".train.pt" if out_path.name.endswith(".pt")
                              else out_path.name + ".train.pt")


def dice_loss(logits, target, eps=1e-5):
    """Soft Dice loss, averaged over the two classes and the batch.

    Parameters
    ----------
    logits : (B, 2, *spatial) tensor
        Network output (background, foreground).
    target : (B, *spatial) tensor of {0, 1}
        The object.
    eps : float
        Smoothing term of numerator and denominator.

    Returns
    -------
    scalar tensor: 1 - mean soft Dice.
    """
    if logits.ndim != target.ndim + 1 or logits.shape[1] != 2 or logits.shape[2:] != target.shape[1:]:
        raise ValueError("logits must be (B, 2, *spatial) and target (B, *spatial), got {} and {}".format(
            tuple(logits.shape), tuple(target.shape)))
    probability = torch.softmax(logits.float(), dim=1)
    target = target.float()
    onehot = torch.stack([1.0 - target, target], dim=1)
    dims = tuple(range(2, logits.ndim))
    overlap = (probability * onehot).sum(dims)
    total = probability.sum(dims) + onehot.sum(dims)
    return 1.0 - ((2.0 * overlap + eps) / (total + eps)).mean()


def learning_rate(iteration, iterations, lr=1e-4, constant=None, halve_every=None):
    """The paper's schedule: `lr` for `constant` iterations, then halved every `halve_every`.

    Defaults: ``constant = iterations // 2``, ``halve_every = iterations // 10``
    (at least 1). Iteration numbers start at 0.
    """
    constant = iterations // 2 if constant is None else int(constant)
    halve_every = max(1, iterations // 10) if halve_every is None else max(1, int(halve_every))
    if iteration < constant:
        return lr
    return lr * 0.5 ** (1 + (iteration - constant) // halve_every)


class _BatchStream(torch.utils.data.IterableDataset):
    """Batches of iterations [start, stop) of one process; worker k of n makes iterations start + k + n*m."""

    def __init__(self, sampler, seed, rank, start, stop, batch_size):
        super().__init__()
        self.sampler, self.seed, self.rank = sampler, seed, rank
        self.start, self.stop, self.batch_size = start, stop, batch_size

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        k, n = (0, 1) if info is None else (info.id, info.num_workers)
        for iteration in range(self.start + k, self.stop, n):
            rngs = [example_rng(self.seed, self.rank, iteration, j) for j in range(self.batch_size)]
            inputs, targets = self.sampler.batch(rngs)
            yield iteration, torch.from_numpy(inputs), torch.from_numpy(targets)


def _worker_init(_):
    torch.set_num_threads(1)


class _Progress:
    """One status line: '\\r'-updated on a terminal, a line every `every` iterations otherwise."""

    def __init__(self, total, enabled, stream=None, every=None):
        self.total, self.enabled = total, enabled
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every = every or max(1, total // 50)
        self.start = time.perf_counter()
        self.done_at_start = None

    def update(self, iteration, loss, val_dice, lr, force=False):
        if not self.enabled:
            return
        if self.done_at_start is None:
            self.done_at_start = iteration - 1
        done = iteration - self.done_at_start
        elapsed = time.perf_counter() - self.start
        per_it = elapsed / max(done, 1)
        eta = per_it * (self.total - iteration)
        text = "[{:>{w}}/{}] loss {:.4f}  val Dice {}  lr {:.1e}  {:.2f} s/it  eta {}".format(
            iteration, self.total, loss, "-" if val_dice is None else "{:.3f}".format(val_dice), lr, per_it,
            _duration(eta), w=len(str(self.total)))
        if self.tty:
            self.stream.write("\r" + text + ("\n" if iteration == self.total else ""))
            self.stream.flush()
        elif force or iteration % self.every == 0 or iteration == self.total:
            self.stream.write(text + "\n")
            self.stream.flush()

    def message(self, text):
        if self.enabled:
            self.stream.write(("\n" if self.tty else "") + text + "\n")
            self.stream.flush()


def _duration(seconds):
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return "{}h{:02d}m".format(hours, rest // 60) if hours else "{}m{:02d}s".format(*divmod(rest, 60))


def _augmentation(augment, cut_p):
    """The model card's augmentation entry."""
    kinds = ["rotation, scaling, flips, gamma, intensity inversion"] if augment else []
    if cut_p > 0:
        kinds.append("scene cut through the object (p {:g})".format(cut_p))
    return ", ".join(kinds) if kinds else "none"


def _hardware(device, world_size):
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as stream:
            for line in stream:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {"device": str(device), "cpu": cpu, "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "processes": world_size, "torch": torch.__version__,
            "python": platform.python_version(), "platform": platform.platform()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _as_source(sources):
    if isinstance(sources, str):
        return build_sources([sources])
    if isinstance(sources, (list, tuple)):
        if sources and all(isinstance(s, str) for s in sources):
            return build_sources(list(sources))
        return sources[0] if len(sources) == 1 else MixedSource(sources)
    if not hasattr(sources, "sample"):
        raise ValueError("sources must be a source (with sample(rng, ndim)), a list of them, or --data "
                         "names; got {!r}".format(sources))
    return sources


def _comparable(config_dict):
    return {k: v for k, v in config_dict.items() if k not in ("card", "library_version", "format_version")}


def load_train_state(path):
    """Read a ``.train.pt`` file (``torch.load(weights_only=True)``) and check its format."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "no training-state file to resume from", str(path))
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != TRAIN_STATE_FORMAT:
        raise ValueError("resume: {} is not a MIDeepSeg training-state file".format(path))
    return state


def train(config, sources, out_path, *, iterations=1000, batch_size=8, lr=1e-4, weight_decay=1e-4,
          lr_constant=None, lr_halve_every=None, seed=0, device="auto", resume=None, val_every=100,
          val_size=32, val_source=None, checkpoint_every=None, workers=0, augment=True, cut_p=0.0,
          half=True, progress=True, command=None, card=None, stop_at=None, threads=None, init=None):
    """Train a network and write its checkpoint (and a ``.train.pt`` file to resume from).

    Parameters
    ----------
    config : ModelConfig
        Architecture and input preparation (``spatial_dims``, ``features``,
        ``input_size``, ``encoding``, ``normalisation``, ``margin_mm``).
    sources : source, list of sources, or list of str
        Where scenes come from (:mod:`MIDeepSegLib.training.datasets`); strings are
        ``--data`` names for :func:`~MIDeepSegLib.training.datasets.build_sources`.
    out_path : str or os.PathLike
        The checkpoint to write (``save_checkpoint``); the training state goes
        to :func:`train_state_path` (``model.pt`` -> ``model.train.pt``).
    iterations : int
        Total number of optimisation steps (including those of a resumed run).
    batch_size : int
        Examples per step and process.
    lr, weight_decay : float
        Adam's learning rate and L2 weight decay (paper: 1e-4 and 1e-4).
    lr_constant, lr_halve_every : int, optional
        Schedule (:func:`learning_rate`); default half the run, then every tenth.
    seed : int
        Seeds the initial weights and every example.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``, ... Under torchrun with CUDA each
        process takes ``cuda:LOCAL_RANK``.
    resume : None, True or path
        Continue from a training-state file: True = the one next to
        `out_path`; a path = that file (or a checkpoint path, whose
        ``.train.pt`` is used). The configuration must match.
    val_every : int
        Validate (mean Dice on held-out generated examples, argmax of the
        network on its input grid) and save every so many iterations, and at
        the end.
    val_size : int
        Number of validation examples (drawn once, from `val_source` or the
        training source with a separate seed stream).
    checkpoint_every : int, optional
        Save every so many iterations (default: `val_every`).
    workers : int
        DataLoader worker processes making examples (0 = in the training process).
    augment : bool
        The paper's augmentations (see :mod:`MIDeepSegLib.training.augment`).
    cut_p : float in [0, 1]
        Probability that a scene is cut through its object, as a scan's first or last slice cuts an
        organ (:func:`~MIDeepSegLib.training.sampler.cut_through`).
    half : bool
        Store the checkpoint's weights as float16 (the training state keeps float32).
    progress : bool
        Print a progress line (loss, validation Dice, learning rate, speed) to stderr.
    command : str, optional
        The command line recorded in the model card.
    card : dict, optional
        Extra model-card entries.
    stop_at : int, optional
        Stop (and save) after this iteration, as if interrupted there; the
        schedule is still that of `iterations`. Continue with `resume`.
    threads : int, optional
        torch CPU threads of the training process (``torch.set_num_threads``).
        On a small shared CPU, 1 thread plus ``workers=1`` is often much
        faster than the default (OpenMP threads spin when cores are busy).
    init : str or os.PathLike, optional
        Start from the weights of this checkpoint (fine-tuning, e.g. the
        shipped model on your own data) instead of random ones; its
        architecture and input preparation must equal `config`'s. The
        optimiser and the schedule start afresh; the model card records the
        checkpoint and its own training. When resuming, the weights come from
        the training state and `init` is only recorded (pass it again).

    Returns
    -------
    dict with ``"iterations"``, ``"seconds"`` (this run), ``"history"``
    (list of dicts: iteration, loss, val_dice, lr), ``"checkpoint"`` and
    ``"train_state"`` paths.
    """
    _check_arguments(config, iterations=iterations, batch_size=batch_size, val_every=val_every,
                     val_size=val_size, workers=workers, lr=lr, weight_decay=weight_decay)
    checkpoint_every = val_every if checkpoint_every is None else int(checkpoint_every)
    out_path = Path(out_path)
    state_path = train_state_path(out_path)
    with _torch_threads(threads):
        world_size, rank, device, created_group = _join_processes(resolve_device(device))
        main = rank == 0
        if main:
            out_path.parent.mkdir(parents=True, exist_ok=True)

        source = _as_source(sources)
        sampler = ExampleSampler(source, config, augment=augment, cut_p=cut_p)
        torch.manual_seed(seed)
        network = build_model(config).to(device)
        if init is not None:
            card = dict(card or {}, initialised_from=_load_initial_weights(network, config, init))
        optimizer = torch.optim.Adam(network.parameters(), lr=lr, weight_decay=weight_decay)
        start, history, seconds_before, recent = 0, [], 0.0, []
        if resume:
            start, history, seconds_before, recent = _resume(resume, state_path, network, optimizer, config,
                                                             seed=seed, batch_size=batch_size,
                                                             iterations=iterations)
        model = network
        if world_size > 1:
            model = DistributedDataParallel(network,
                                            device_ids=[device.index] if device.type == "cuda" else None)

        validation = None
        if main:
            val_sampler = ExampleSampler(_as_source(val_source) if val_source is not None else source, config,
                                         augment=augment, cut_p=cut_p)
            validation = val_sampler.batch([example_rng(seed, -1, 0, j) for j in range(val_size)])

        stop = iterations if stop_at is None else min(int(stop_at), iterations)
        if stop <= start:
            raise ValueError("stop_at must be after the starting iteration {}, got {!r}".format(
                start, stop_at))
        stream = _BatchStream(sampler, seed, rank, start, stop, batch_size)
        loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=workers,
                                             worker_init_fn=_worker_init if workers else None,
                                             pin_memory=device.type == "cuda")
        bar = _Progress(iterations, progress and main)
        if start:
            bar.message("resuming from iteration {} ({})".format(
                start, state_path if resume is True else resume))
        tick = time.perf_counter()
        val_dice = history[-1]["val_dice"] if history else None
        model.train()
        for iteration, inputs, targets in loader:
            current_lr = learning_rate(iteration, iterations, lr, lr_constant, lr_halve_every)
            for group in optimizer.param_groups:
                group["lr"] = current_lr
            inputs, targets = inputs.to(device, non_blocking=True), targets.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            loss = dice_loss(model(inputs), targets)
            loss.backward()
            optimizer.step()
            value = loss.detach()
            if world_size > 1:
                dist.all_reduce(value)
                value = value / world_size
            recent = (recent + [float(value)])[-20:]
            done = iteration + 1
            is_last = done == stop
            if main and (done % val_every == 0 or is_last):
                val_dice = _validate(network, validation, device, batch_size)
                model.train()
                history.append({"iteration": done, "loss": float(np.mean(recent)), "val_dice": val_dice,
                                "lr": current_lr})
            bar.update(done, float(np.mean(recent)), val_dice, current_lr, force=done % val_every == 0)
            if main and (done % checkpoint_every == 0 or is_last):
                seconds = seconds_before + time.perf_counter() - tick
                _write(out_path, state_path, network, optimizer, config, done, history, recent, seconds, seed,
                       batch_size,
                       dict(iterations=iterations, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                            lr_constant=lr_constant, lr_halve_every=lr_halve_every, augment=augment,
                            cut_p=cut_p, seed=seed, world_size=world_size, source=source, device=device,
                            command=command, card=card, half=half, val_size=val_size))
        seconds = time.perf_counter() - tick
        if world_size > 1:
            dist.barrier()
            if created_group:
                dist.destroy_process_group()
        if main:
            bar.message("wrote {} and {} ({:.0f} s)".format(out_path, state_path, seconds))
    return {"iterations": iterations, "seconds": seconds, "history": history, "checkpoint": str(out_path),
            "train_state": str(state_path)}


@contextlib.contextmanager
def _torch_threads(threads):
    """Run with `threads` torch threads (None: as set), restoring the count afterwards."""
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError("threads must be a positive integer, got {!r}".format(threads))
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _join_processes(device):
    """Under torchrun, join the process group: (world size, rank, this process's device, group created)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world_size > 1 and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    created = False
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        created = True
    return world_size, rank, device, created


def _resume(resume, state_path, network, optimizer, config, *, seed, batch_size, iterations):
    """Load a training state into `network` and `optimizer`: (start, history, seconds, recent losses)."""
    resume_path = state_path if resume is True else Path(resume)
    if not resume_path.name.endswith(".train.pt"):
        resume_path = train_state_path(resume_path)
    state = load_train_state(resume_path)
    if _comparable(state["config"]) != _comparable(config.to_dict()):
        raise ValueError("resume: {} was trained with a different configuration: {} (now {})".format(
            resume_path, _comparable(state["config"]), _comparable(config.to_dict())))
    if state["seed"] != seed or state["batch_size"] != batch_size:
        raise ValueError("resume: {} used seed {} and batch size {}; pass the same (got {} and {})"
                         .format(resume_path, state["seed"], state["batch_size"], seed, batch_size))
    network.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    start = int(state["iteration"])
    if start >= iterations:
        raise ValueError("resume: {} is already at iteration {} (iterations={}); ask for more".format(
            resume_path, start, iterations))
    return start, list(state["history"]), float(state["seconds"]), [float(v) for v in state.get("recent", [])]


def _check_arguments(config, *, iterations, batch_size, val_every, val_size, workers, lr, weight_decay):
    """Refuse a bad config or training number before any work, naming the argument."""
    if not isinstance(config, ModelConfig):
        raise ValueError("config must be a ModelConfig, got {!r}".format(type(config).__name__))
    for name, value in (("iterations", iterations), ("batch_size", batch_size), ("val_every", val_every),
                        ("val_size", val_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError("{} must be a positive integer, got {!r}".format(name, value))
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError("workers must be an integer >= 0, got {!r}".format(workers))
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError("lr must be a positive number, got {!r}".format(lr))
    if not (weight_decay >= 0 and math.isfinite(weight_decay)):
        raise ValueError("weight_decay must be >= 0, got {!r}".format(weight_decay))


def _load_initial_weights(network, config, path):
    """Copy a checkpoint's weights into `network`; returns the card entry that records them."""
    source, source_config = load_checkpoint(path, device="cpu")
    # The UNet is fully convolutional, so its weights carry over to another input grid
    # (fine-tuning at a finer grid); everything else must match.
    def same(config_dict):
        return {k: v for k, v in _comparable(config_dict).items() if k != "input_size"}
    if same(source_config.to_dict()) != same(config.to_dict()):
        raise ValueError("init: {} has a different architecture or input preparation: {} (training asks for {})"
                         .format(path, same(source_config.to_dict()), same(config.to_dict())))
    network.load_state_dict(source.state_dict())  # float16 weights are copied into float32 parameters
    # The starting weights' own start too: a model fine-tuned in stages records every stage.
    return {"checkpoint": str(path), "input_size": list(source_config.input_size),
            "training": source_config.card.get("training"),
            "initialised_from": source_config.card.get("initialised_from")}


def _validate(network, validation, device, batch_size):
    """Mean Dice of the network's argmax on the validation examples (input grid)."""
    inputs, targets = validation
    network.eval()
    scores = []
    with torch.no_grad():
        for lo in range(0, len(inputs), batch_size):
            logits = network(torch.from_numpy(inputs[lo:lo + batch_size]).to(device))
            predicted = logits.argmax(dim=1).cpu().numpy()
            scores += [dice(p, t) for p, t in zip(predicted, targets[lo:lo + batch_size])]
    return float(np.mean(scores))


def _write(out_path, state_path, network, optimizer, config, done, history, recent, seconds, seed, batch_size,
           info):
    card = dict(config.card)
    card.update(info["card"] or {})
    card["training"] = training_card(config, info, done, history, seconds)
    card.setdefault("validation", None)
    save_checkpoint(out_path, network, dataclasses.replace(config, card=card), half=info["half"])
    atomic_save({
        "format": TRAIN_STATE_FORMAT, "iteration": done, "seed": seed, "batch_size": batch_size,
        "config": config.to_dict(),
        "model": {k: v.detach().cpu().clone() for k, v in network.state_dict().items()},
        "optimizer": optimizer.state_dict(), "history": history, "recent": recent, "seconds": seconds,
    }, state_path)


def training_card(config, info, done, history, seconds):
    """The model card's "training" entry (JSON values only)."""
    params = sum(p.numel() for p in build_model(config).parameters())
    last = history[-1] if history else {}
    entry = {
        "architecture": "UNet {}D, instance norm, {} activation, features {}, {} parameters".format(
            config.spatial_dims, config.activation, list(config.features), params),
        "input_grid": list(config.input_size),
        "normalisation": config.normalisation,
        "encoding": config.encoding,
        "margin_mm": config.margin_mm,
        "data": info["source"].describe(),
        "command": info["command"],
        "iterations_done": done,
        "iterations": info["iterations"],
        "batch_size_per_process": info["batch_size"],
        "processes": info["world_size"],
        "loss": "soft Dice (background and foreground)",
        "optimizer": "Adam, lr {}, weight decay {}".format(info["lr"], info["weight_decay"]),
        "schedule": "lr constant for {} iterations, then halved every {}".format(
            info["iterations"] // 2 if info["lr_constant"] is None else info["lr_constant"],
            max(1, info["iterations"] // 10) if info["lr_halve_every"] is None else info["lr_halve_every"]),
        "augmentation": _augmentation(info["augment"], info["cut_p"]),
        "seed": info["seed"],
        "seconds": round(seconds, 1),
        "hardware": _hardware(info["device"], info["world_size"]),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "final_loss": last.get("loss"),
        "synthetic_validation_dice": last.get("val_dice"),
        "synthetic_validation_examples": info["val_size"],
    }
    return json.loads(json.dumps(entry, default=_json_default))


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.ndarray, tuple, set)):
        return list(value)
    return str(value)
