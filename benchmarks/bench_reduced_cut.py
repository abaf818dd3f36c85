"""Seconds of the reduced graph cut on the real problems of an organ-scale session, saved once.

``python benchmarks/bench_reduced_cut.py organ200 --clicks 2`` runs one default session of a scene
of :mod:`organ_scenes` (shipped 3D weights, shipped settings, the benchmarks' simulated user) the
first time and saves every graph-cut problem it solves (rescaled crop, fused probability, hard
constraints, spacing, lam, sigma) to ``<workdir>/cut_<case>_<step>.npz``; later runs load them
(``--fresh`` records them again: needed after a change of the refinement or its settings). Then
each problem is solved ``--repeat`` times by ``reduced_graph_cut`` (CPU seconds, candidates, free
voxels), and with ``--check`` also by the full-region ``graph_cut`` (energy of both labellings, Dice).
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def record(case, n_clicks, workdir):
    """Run a default session of `case` and save its graph-cut problems; returns their paths."""
    import torch

    from organ_scenes import scene
    from MIDeepSegLib.core import refinement
    from MIDeepSegLib.core.simulate import interior_margin_points, refinement_click
    from MIDeepSegLib.segmenter import Segmenter

    torch.set_num_threads(2)
    volume, spacing, truth = scene(case)
    idx = np.argwhere(truth)
    bbox = tuple(slice(a, b + 1) for a, b in zip(idx.min(0), idx.max(0)))
    points = interior_margin_points(truth[bbox], np.random.default_rng(0), spacing, n_random=0) \
        + [s.start for s in bbox]
    paths = []
    solve = refinement.reduced_graph_cut

    def saving(image, probability, spacing, fg, bg, lam, sigma, connectivity=None, previous=None):
        path = Path(workdir) / "cut_{}_{}.npz".format(case, len(paths))
        arrays = dict(image=image, probability=probability, spacing=np.asarray(spacing), fg=fg, bg=bg,
                      lam=lam, sigma=sigma)
        if previous is not None:  # the last cut on the region, which the session's solve starts from
            arrays.update(zip(("previous_probability", "previous_fg", "previous_bg", "previous_mask"),
                              (np.zeros(0, bool) if a is None else a for a in previous)))
        np.savez(path, **arrays)
        paths.append(path)
        return solve(image, probability, spacing, fg, bg, lam=lam, sigma=sigma, connectivity=connectivity,
                     previous=previous)

    refinement.reduced_graph_cut = saving
    try:
        seg = Segmenter(volume, spacing, model="3d", device="cpu")
        result = seg.initial(points)
        for _ in range(n_clicks):
            full = np.zeros(truth.shape, np.uint8)
            full[result.box] = result.mask_crop
            click = refinement_click(full, truth, spacing)
            if click is None:
                break
            result = seg.refine(**{("foreground" if click.foreground else "background"): [click.point]})
    finally:
        refinement.reduced_graph_cut = solve
    return paths


def main():
    from MIDeepSegLib.core.graphcut import energy, graph_cut
    from MIDeepSegLib.core.reduced_cut import reduced_graph_cut

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", nargs="?", default="organ200")
    parser.add_argument("--clicks", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--check", action="store_true", help="also solve with the full-region graph_cut")
    parser.add_argument("--fresh", action="store_true", help="record the problems again (settings changed)")
    parser.add_argument("--workdir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "mideepseg-organ-bench"))
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    paths = sorted(Path(args.workdir).glob("cut_{}_*.npz".format(args.case)))
    if args.fresh or not paths:
        for path in paths:
            path.unlink()
        paths = record(args.case, args.clicks, args.workdir)
    for path in paths:
        p = dict(np.load(path))
        problem = (p["image"], p["probability"], tuple(p["spacing"]), p["fg"], p["bg"])
        keywords = {"lam": float(p["lam"]), "sigma": float(p["sigma"])}
        starts = {"from scratch": None}
        if "previous_mask" in p:  # as the session solved it: from the last cut on the region
            starts["from the last cut"] = tuple(None if p[key].size == 0 else p[key] for key in (
                "previous_probability", "previous_fg", "previous_bg", "previous_mask"))
        for start, previous in starts.items():
            for _ in range(args.repeat):
                cpu, wall = time.process_time(), time.perf_counter()
                mask, stats = reduced_graph_cut(*problem, return_stats=True, previous=previous, **keywords)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                print("{} {}: {:.2f} s CPU ({:.2f} wall), {:,} voxels, {}".format(
                    path.name, start, cpu, wall, mask.size, stats), flush=True)
        if args.check:
            full = graph_cut(*problem, **keywords)
            e_red, e_full = (energy(m.astype(bool), p["image"], p["probability"], problem[2], **keywords)
                             for m in (mask, full))
            a, b = mask != 0, full != 0
            print("  full-region cut: energy {:.3f} vs reduced {:.3f}, Dice {:.5f}".format(
                e_full, e_red, 2 * (a & b).sum() / (a.sum() + b.sum())), flush=True)


if __name__ == "__main__":
    main()
