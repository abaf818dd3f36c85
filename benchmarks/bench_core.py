"""Core-stage benchmark: own geodesic and graph cut vs GeodisTK and SimpleCRF, side by side.

Run with ``make benchmark`` (or ``python benchmarks/bench_core.py [--repeats N]
[--device cuda] [--out docs/speed-benchmark.md]``). Every comparison is timed in
the same run, alternating the two implementations, and reported as medians
and ratios. Problems are synthetic but shaped like the real ones: a smooth
textured image with an object whose boundary is weak in places, anisotropic
spacing in 3D, and a probability map that is confident but wrong near part
of the boundary (what the CNN hands to the refinement).
"""

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from MIDeepSegLib.core.cuemap import DEFAULT_ITERATIONS  # noqa: E402
from MIDeepSegLib.core.fusion import information_fusion  # noqa: E402
from MIDeepSegLib.core.geodesic import geodesic_distance  # noqa: E402
from MIDeepSegLib.core.graphcut import graph_cut  # noqa: E402
from MIDeepSegLib.core.intensity import rescale_unit  # noqa: E402
from MIDeepSegLib.core.refinement import refine_ifgc  # noqa: E402


def scene(shape, spacing, seed):
    """(image in [0, 1], truth, probability, fg clicks, bg clicks) for a blob in a textured field."""
    rng = np.random.default_rng(seed)
    grid = np.indices(shape).astype(float) * np.asarray(spacing).reshape((-1,) + (1,) * len(shape))
    centre = (np.asarray(shape) - 1) * np.asarray(spacing) / 2
    rel = grid - centre.reshape((-1,) + (1,) * len(shape))
    radius = 0.3 * min(np.asarray(shape) * np.asarray(spacing))
    bumps = ndimage.gaussian_filter(rng.standard_normal(shape), 4) * radius * 2
    truth = np.sqrt((rel ** 2).sum(0)) < radius + bumps
    texture = ndimage.gaussian_filter(rng.standard_normal(shape), 3)
    image = rescale_unit(0.3 * truth + texture + 0.05 * rng.standard_normal(shape))
    wrong = ndimage.binary_erosion(truth, iterations=3)
    wrong = np.roll(wrong, 3, axis=len(shape) - 1)
    probability = np.clip(ndimage.gaussian_filter(wrong.astype(float), 1.5), 0.02, 0.98).astype(np.float32)
    fg = np.argwhere(truth & ~wrong)[:1]
    outside = ~truth & (probability > 0.2)
    bg = np.argwhere(outside if outside.any() else ~truth)[:1]
    return image, truth, probability, fg, bg


def timed(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compare(label, ours, reference, repeats):
    """Alternate the two implementations; returns (median ours, median reference)."""
    ours(), reference()  # warm up (imports, allocator)
    t_ours, t_ref = [], []
    for _ in range(repeats):
        t_ours.append(timed(ours, 1))
        t_ref.append(timed(reference, 1))
    a, b = statistics.median(t_ours), statistics.median(t_ref)
    print("{:<58} ours {:8.4f} s   reference {:8.4f} s   ratio {:5.2f}".format(label, a, b, a / b))
    return a, b


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", help="write a Markdown table here")
    args = parser.parse_args()
    import torch

    rows = []
    machine = "{} ({} CPU cores seen by torch: {} threads), Python {}, torch {}, numpy {}".format(
        platform.processor() or platform.machine(), os.cpu_count(), torch.get_num_threads(),
        platform.python_version(), torch.__version__, np.__version__)
    print(machine)

    # (name, shape, spacing, GeodisTK passes as in the paper's tools, our default graph-cut connectivity)
    cases = [("2D 512x512", (512, 512), (1.0, 1.0), 2, 8),
             ("3D 64x128x128, spacing 2.5x0.8x0.8 mm", (64, 128, 128), (2.5, 0.8, 0.8), 4, 6)]
    for name, shape, spacing, passes, connectivity in cases:
        image, truth, probability, fg_pts, bg_pts = scene(shape, spacing, seed=1)
        seeds = np.zeros(shape, bool)
        seeds[tuple(fg_pts.T)] = True
        exact = geodesic_distance(image, seeds, spacing, iterations=None)

        ours = geodesic_distance(image, seeds, spacing, iterations=passes, device=args.device)
        ref = geodesic_distance(image, seeds, spacing, iterations=passes, backend="geodistk")
        a, b = compare("geodesic {}, {} passes".format(name, passes),
                       lambda: geodesic_distance(image, seeds, spacing, iterations=passes, device=args.device),
                       lambda: geodesic_distance(image, seeds, spacing, iterations=passes, backend="geodistk"),
                       args.repeats)
        t_exact = timed(lambda: geodesic_distance(image, seeds, spacing, iterations=None), 3)
        rows.append(("geodesic, {} passes".format(passes), name, a, b,
                     "max error vs exact: ours {:.3g}, GeodisTK {:.3g} (exact D max {:.3g}; ours to "
                     "convergence {:.3f} s)".format(np.abs(ours - exact).max(), np.abs(ref - exact).max(),
                                                    exact.max(), t_exact)))

        fg = np.zeros(shape, bool)
        bg = np.zeros(shape, bool)
        fg[tuple(fg_pts.T)] = True
        bg[tuple(bg_pts.T)] = True
        unit_conn = {2: 4, 3: 6}[len(shape)]
        labels_ours = graph_cut(image, probability, None, fg, bg, connectivity=unit_conn)
        labels_ref = graph_cut(image, probability, None, fg, bg, connectivity=unit_conn, backend="simplecrf")
        a, b = compare("graph cut {}, {}-neighbour".format(name, unit_conn),
                       lambda: graph_cut(image, probability, None, fg, bg, connectivity=unit_conn),
                       lambda: graph_cut(image, probability, None, fg, bg, connectivity=unit_conn,
                                         backend="simplecrf"), args.repeats)
        rows.append(("graph cut, {}-neighbour, with seeds".format(unit_conn), name, a, b,
                     "labels differing from SimpleCRF: {}".format(int((labels_ours != labels_ref).sum()))))

        fg_all = np.vstack([fg_pts, np.argwhere(ndimage.binary_erosion(truth, iterations=6))[::997][:5]])

        def ours_refine():
            return refine_ifgc(image, probability, fg_all, bg_pts, spacing, device=args.device)

        def reference_refine():
            # the paper's tools for the same step: GeodisTK for both distances, SimpleCRF's max-flow
            fg_mask = np.zeros(shape, bool)
            fg_mask[tuple(fg_all.T)] = True
            unit = rescale_unit(image)
            d_f = geodesic_distance(unit, fg_mask, spacing, iterations=passes, backend="geodistk")
            d_b = geodesic_distance(unit, bg, spacing, iterations=passes, backend="geodistk")
            fused = information_fusion(probability, d_f, d_b)
            return graph_cut(unit, fused, None, fg_mask, bg, connectivity=unit_conn, backend="simplecrf")

        a, b = compare("refinement step (2 geodesics + fusion + graph cut) {}".format(name),
                       ours_refine, reference_refine, args.repeats)
        rows.append(("whole IF-GC refinement step", name, a, b,
                     "ours: refine_ifgc defaults ({}-neighbour graph cut with spacing, {} geodesic passes, "
                     "lam 5); reference: GeodisTK x2 ({} passes) + fusion + SimpleCRF ({}-neighbour)".format(
                         connectivity, DEFAULT_ITERATIONS[len(shape)], passes, unit_conn)))

    if args.out:
        lines = ["# Core-stage benchmark", "",
                 "Generated by `python benchmarks/bench_core.py --out {}` on: {}.".format(args.out, machine), "",
                 "Medians of {} alternating runs; ratio = ours / reference (< 1 means ours is faster).".format(
                     args.repeats), "",
                 "| stage | problem | ours (s) | reference (s) | ratio | notes |",
                 "|---|---|---|---|---|---|"]
        for stage, problem, a, b, note in rows:
            lines.append("| {} | {} | {:.4f} | {:.4f} | {:.2f} | {} |".format(stage, problem, a, b, a / b, note))
        Path(args.out).write_text("\n".join(lines) + "\n")
        print("wrote", args.out)


if __name__ == "__main__":
    main()
