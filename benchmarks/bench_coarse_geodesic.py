"""A click's cost with and without the coarse-grid geodesic maps, same clicks, one process.

Runs one session of a scene of :mod:`organ_scenes` (shipped 3D weights) with the coarse maps
(`core.refinement.COARSE_MIN_VOXELS` as shipped), then the same clicks with full-resolution maps
(the threshold raised above the region), and prints CPU seconds per click and the Segmenter's
timings (wall). Usage: ``python benchmarks/bench_coarse_geodesic.py [organ200] [--clicks 3]``.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from organ_scenes import SCENES, scene  # noqa: E402


def main():
    import torch

    from MIDeepSegLib.core import refinement
    from MIDeepSegLib.core.simulate import interior_margin_points, refinement_click
    from MIDeepSegLib.segmenter import Segmenter

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", nargs="?", default="organ200", choices=sorted(SCENES))
    parser.add_argument("--clicks", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(2)
    volume, spacing, truth = scene(args.case)
    idx = np.argwhere(truth)
    bbox = tuple(slice(a, b + 1) for a, b in zip(idx.min(0), idx.max(0)))
    points = interior_margin_points(truth[bbox], np.random.default_rng(0), spacing, n_random=0) \
        + [s.start for s in bbox]
    clicks, masks = [], {}
    for label, threshold in (("coarse", refinement.COARSE_MIN_VOXELS), ("full-resolution", float("inf"))):
        refinement.COARSE_MIN_VOXELS = threshold
        seg = Segmenter(volume, spacing, model="3d", device="cpu")
        result = seg.initial(points)
        for k in range(args.clicks):
            if len(clicks) <= k:  # the coarse session plays the simulated user; the other replays its clicks
                full = np.zeros(truth.shape, np.uint8)
                full[result.box] = result.mask_crop
                click = refinement_click(full, truth, spacing)
                clicks.append({("foreground" if click.foreground else "background"): [click.point]})
            cpu = time.process_time()
            result = seg.refine(**clicks[k])
            print("{}: click {} {:.2f} s CPU; wall: {}".format(label, k + 1, time.process_time() - cpu, ", ".join(
                "{} {:.2f}".format(key, value) for key, value in result.timings.items())), flush=True)
        full = np.zeros(truth.shape, bool)
        full[result.box] = result.mask_crop != 0
        masks[label] = full
    a, b = masks.values()
    print("Dice between the two final masks: {:.4f}".format(2 * (a & b).sum() / (a.sum() + b.sum())))


if __name__ == "__main__":
    main()
