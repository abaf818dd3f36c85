"""Interaction latency of the Segmenter: one initial segmentation + one refinement click, by stage.

Run with ``python benchmarks/bench_segmenter.py [--repeats N] [--device cpu cuda] [--threads T]
[--out docs/latency.md]``. Each problem is an image with a small (~60-voxel) object; a session is
``Segmenter(...).initial(points)`` then ``refine(background=[one click])``, exactly what the Slicer
module and the CLI run. Reported: medians over `--repeats` sessions (after one warm-up session) of
every stage in ``Result.timings``, per device, side by side, against the issue's targets.

The networks have the paper's size (features 16-32-64-128-256; 2D input 64 x 64, 3D input
64 x 96 x 96) but **random weights**: the numbers are timings only, they say nothing about
segmentation quality. Timings do not depend on the weights' values.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from MIDeepSegLib._device import resolve_device  # noqa: E402
from MIDeepSegLib.model.checkpoint import ModelConfig, build_model  # noqa: E402
from MIDeepSegLib.segmenter import Segmenter  # noqa: E402

#: Targets of issue 3, seconds per interaction (initial or refinement), by (ndim, device kind).
TARGETS = {(2, "cpu"): 0.05, (3, "cpu"): 1.0, (3, "cuda"): 0.15}

INITIAL_STAGES = ("crop", "egd", "cnn", "postprocess", "total")
REFINE_STAGES = ("crop", "geodesic", "fusion", "graphcut", "total")


def problem(ndim, seed=0):
    """(image, spacing, interior margin points, background click) with a ~60-voxel object.

    2D: 256 x 256, 1 mm pixels, a disc of radius 4.4 px (61 px).
    3D: 100 x 256 x 256 (z, y, x), 2.5 x 0.8 x 0.8 mm, an ellipsoid of semi-axes 1.45 x 3 x 3
    voxels (3.6 x 2.4 x 2.4 mm; 55 voxels). Background: smooth texture and noise, CT-like values.
    """
    rng = np.random.default_rng(seed)
    if ndim == 2:
        shape, spacing, radii = (256, 256), (1.0, 1.0), (4.4, 4.4)
    else:
        shape, spacing, radii = (100, 256, 256), (2.5, 0.8, 0.8), (1.45, 3.0, 3.0)
    centre = np.array(shape) // 2
    image = rng.normal(40.0, 15.0, shape).astype(np.float32)
    near = tuple(slice(c - 12, c + 13) for c in centre)
    grid = np.indices(image[near].shape).astype(float) - 12
    inside = sum((g / r) ** 2 for g, r in zip(grid, radii)) <= 1.0
    image[near][inside] += 120.0
    offsets = []
    for axis in range(ndim):
        for sign in (-1, 1):
            step = np.zeros(ndim)
            step[axis] = sign * max(1, int(radii[axis]) - 1)
            offsets.append(step)
    points = centre + np.array(offsets)
    background = centre + np.eye(ndim)[-1] * (int(radii[-1]) + 3)
    return image, spacing, points, background, int(inside.sum())


def paper_network(ndim, device):
    """A paper-size UNet with random weights (seeded), as the (network, config) pair Segmenter accepts."""
    import torch

    torch.manual_seed(0)
    config = ModelConfig(ndim, features=(16, 32, 64, 128, 256),
                         card={"weights": "random: timing only"})
    return build_model(config).to(device).eval(), config


def session(image, spacing, model, device, points, background):
    seg = Segmenter(image, spacing, model=model, device=device)
    first = seg.initial(points)
    second = seg.refine(background=[background])
    return first.timings, second.timings


def measure(ndim, device, repeats):
    image, spacing, points, background, voxels = problem(ndim)
    model = paper_network(ndim, device)
    session(image, spacing, model, device, points, background)  # warm-up: allocator, kernels, imports
    runs = [session(image, spacing, model, device, points, background) for _ in range(repeats)]
    initial = {k: statistics.median(r[0][k] for r in runs) for k in INITIAL_STAGES}
    refine = {k: statistics.median(r[1][k] for r in runs) for k in REFINE_STAGES}
    params = sum(p.numel() for p in model[0].parameters())
    return {"shape": image.shape, "spacing": spacing, "voxels": voxels, "initial": initial, "refine": refine,
            "params": params, "input_size": model[1].input_size}


def machine_line(devices):
    import torch

    cpu = platform.processor() or platform.machine()
    parts = ["{} ({} CPU cores, torch uses {} threads)".format(cpu, os.cpu_count(), torch.get_num_threads())]
    if any(d.startswith("cuda") for d in devices):
        parts.append("GPU {}".format(torch.cuda.get_device_name(0)))
    parts.append("Python {}, torch {}, numpy {}".format(platform.python_version(), torch.__version__,
                                                      np.__version__))
    return ", ".join(parts)


def table(results, devices):
    """Markdown: one row per (problem, interaction, stage), one column per device."""
    lines = ["| problem | interaction | stage | " + " | ".join("{} (ms)".format(d) for d in devices)
             + " | target (ms) |",
             "|---|---|---|" + "---|" * len(devices) + "---|"]
    for ndim in (2, 3):
        first = results[(ndim, devices[0])]
        name = "{}D {} ({} mm), {}-voxel object, UNet {:.2f} M params at {}".format(
            ndim, "x".join(map(str, first["shape"])), "x".join("{:g}".format(s) for s in first["spacing"]),
            first["voxels"], first["params"] / 1e6, "x".join(map(str, first["input_size"])))
        for interaction, stages in (("initial", INITIAL_STAGES), ("refine", REFINE_STAGES)):
            for stage in stages:
                cells = []
                for device in devices:
                    cells.append("{:.1f}".format(1e3 * results[(ndim, device)][interaction][stage]))
                targets = [TARGETS.get((ndim, d.split(":")[0])) for d in devices]
                target = " / ".join("{:g}".format(1e3 * t) if t else "-" for t in targets) \
                    if stage == "total" else ""
                if stage == "total":
                    cells = ["**{}**".format(c) for c in cells]
                lines.append("| {} | {} | {} | {} | {} |".format(name, interaction, stage, " | ".join(cells),
                                                                 target))
                name = ""
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="sessions timed per problem and device")
    parser.add_argument("--device", nargs="+", default=None,
                        help="devices to compare (default: cpu, plus cuda where available)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--out", help="also write the report (Markdown) here, e.g. docs/latency.md")
    args = parser.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    for device in devices:
        resolve_device(device)  # a clear error now for a device that is not there
    start = time.perf_counter()
    results = {}
    for device in devices:
        for ndim in (2, 3):
            results[(ndim, device)] = measure(ndim, device, args.repeats)
            print("measured {}D on {}: initial {:.3f} s, refine {:.3f} s".format(
                ndim, device, results[(ndim, device)]["initial"]["total"],
                results[(ndim, device)]["refine"]["total"]), file=sys.stderr)
    machine = machine_line(devices)
    report = "\n".join([
        "# Interaction latency",
        "",
        "Generated by `python benchmarks/bench_segmenter.py --repeats {}{}` in {:.0f} s on: {}.".format(
            args.repeats, " --threads {}".format(args.threads) if args.threads else "",
            time.perf_counter() - start, machine),
        "",
        "One session = `Segmenter.initial(interior margin points)` then `refine(background=[one click])`; "
        "medians of {} sessions after one warm-up, per stage of `Result.timings` (milliseconds). The "
        "networks have the paper's size but random weights: these are timings only, not a quality "
        "measure. Targets are per interaction (issue 3): 2D <= 50 ms on CPU, 3D <= 1 s on 2 CPU cores "
        "and <= 150 ms on a GPU.".format(args.repeats),
        "",
        table(results, devices),
        "",
    ])
    print(report)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(report)
        print("wrote", args.out, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
