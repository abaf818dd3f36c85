"""Seconds and peak memory of a click at organ scale: the fast refinement against the full-region graph cut.

Run with ``python benchmarks/bench_organ_click.py [--cases organ200 lits ...] [--clicks 2]
[--out docs/latency.md]``. Every case is a synthetic CT-like scene (``organ_scenes.py``: an
int16 volume with a lobulated object of organ size) segmented with the SHIPPED weights
(``Resources/Models``) by the simulated user of the benchmarks: interior margin points near the
object's extreme points, then one click per step at the centre of the largest error region.

Each configuration runs in its own process (spawned fresh, so its peak resident memory,
VmHWM, is the whole session's: Python, torch, the model, the volume
and every step). The parent holds the ground truth and plays the user: it sends the initial points,
receives each result's crop, and sends the next click. Each process first runs a small warm-up
session (a Slicer user's process after its first segmentation), then loads the volume. The default (``Segmenter(exact=False)``)
runs first; the reference (``exact=True``: full-resolution geodesic distances recomputed for every
click and the max-flow over the whole working region, as before) replays the same clicks. Reported
per step: wall seconds of ``initial`` / ``refine``, the ratio, the Dice between the two masks and
against the truth; per configuration: peak RSS and the RSS after loading (volume + model).
"""

import argparse
import multiprocessing
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from organ_scenes import SCENES, scene  # noqa: E402

#: 2D cases: (3D scene, which slice) -> the object's largest axial slice of that scene.
SCENES_2D = {"lesion2d": "lesion", "kidney2d": "kidney", "liver2d": "liver400"}


def _rss_mb():
    """This process's peak resident memory, MB.

    Linux: VmHWM of /proc/self/status, which starts afresh with the process's
    own address space; ``ru_maxrss`` would not do, it is kept across exec and
    so starts at the parent's peak.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _child(conn, image_path, spacing, model, exact):
    """One session in a fresh process; steps arrive through `conn`."""
    import torch

    from MIDeepSegLib.segmenter import Segmenter

    torch.set_num_threads(2)
    image = np.load(image_path)
    _warm_up(Segmenter, image.ndim, spacing, model, exact)
    seg = Segmenter(image, spacing, model=model, device="cpu", exact=exact)
    conn.send({"rss_loaded_mb": _rss_mb()})
    while True:
        message = conn.recv()
        if message[0] == "end":
            conn.send({"rss_peak_mb": _rss_mb()})
            return
        start, cpu = time.perf_counter(), time.process_time()
        if message[0] == "initial":
            result = seg.initial(message[1])
        else:
            result = seg.refine(**message[1])
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        conn.send({"seconds": seconds, "cpu": cpu, "timings": result.timings, "box": result.box,
                   "mask_crop": result.mask_crop})


def _warm_up(Segmenter, ndim, spacing, model, exact):
    """One small session first (a ball in 48^ndim voxels), as a Slicer user's process after its first
    segmentation: the timed steps then measure the work, not first-call costs (imports, allocator)."""
    rng = np.random.default_rng(0)
    shape = (48,) * ndim
    grid = np.indices(shape) - 24
    ball = (grid ** 2).sum(0) <= 10 ** 2
    image = (ball * 100 + rng.normal(0, 10, shape)).astype(np.int16)
    points = [[24] * ndim for _ in range(2 * ndim)]
    for axis in range(ndim):
        points[2 * axis][axis] -= 8
        points[2 * axis + 1][axis] += 8
    seg = Segmenter(image, spacing, model=model, device="cpu", exact=exact)
    seg.initial(points)
    seg.refine(foreground=[[24] * ndim])
    seg.refine(background=[[24] * (ndim - 1) + [40]])


class Session:
    """The parent's handle on one child process."""

    def __init__(self, image_path, spacing, model, exact):
        context = multiprocessing.get_context("spawn")
        self.conn, child_conn = context.Pipe()
        self.process = context.Process(target=_child, args=(child_conn, image_path, spacing, model, exact))
        self.process.start()
        self.loaded = self.conn.recv()["rss_loaded_mb"]

    def step(self, message):
        return self.conn.recv() if self.conn.send(message) is None else None

    def close(self):
        self.conn.send(("end",))
        peak = self.conn.recv()["rss_peak_mb"]
        self.process.join()
        return peak


def _region(truth, box, pad=8):
    """A box covering the truth's bounding box and `box`, padded: where the user looks."""
    idx = np.argwhere(truth)
    lo = np.minimum(idx.min(0), [s.start for s in box]) - pad
    hi = np.maximum(idx.max(0) + 1, [s.stop for s in box]) + pad
    return tuple(slice(max(0, int(a)), min(n, int(b))) for a, b, n in zip(lo, hi, truth.shape))


def _paste(region, box, crop):
    """The result's crop placed in `region` (uint8 array of the region's shape)."""
    out = np.zeros(tuple(s.stop - s.start for s in region), np.uint8)
    inner = tuple(slice(b.start - r.start, b.stop - r.start) for b, r in zip(box, region))
    out[inner] = crop
    return out


def _dice(a, b):
    a, b = a != 0, b != 0
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


def _real_case(name, workdir):
    """A case from files, ``image.nii.gz:label.nii.gz`` (any SimpleITK format): saved as .npy once."""
    import SimpleITK as sitk

    image_file, label_file = name.split(":")
    stem = Path(label_file).name.split(".")[0]
    image_path = Path(workdir) / "real_{}_image.npy".format(stem)
    truth_path = Path(workdir) / "real_{}_truth.npy".format(stem)
    image = sitk.ReadImage(image_file)
    spacing = tuple(float(s) for s in reversed(image.GetSpacing()))
    if not (image_path.exists() and truth_path.exists()):
        np.save(image_path, sitk.GetArrayFromImage(image))
        np.save(truth_path, sitk.GetArrayFromImage(sitk.ReadImage(label_file)) != 0)
    return str(image_path), spacing, np.load(truth_path)


def prepare(name, workdir):
    """(image path, spacing, truth) of a case, built once and kept in `workdir`."""
    if ":" in name:
        return _real_case(name, workdir)
    base = SCENES_2D.get(name, name)
    image_path = Path(workdir) / "{}_image.npy".format(name)
    truth_path = Path(workdir) / "{}_truth.npy".format(name)
    spacing = SCENES[base][1]
    if not (image_path.exists() and truth_path.exists()):
        image, spacing, truth = scene(base)
        if name in SCENES_2D:
            z = int(np.argmax(truth.sum(axis=(1, 2))))
            image, truth = np.ascontiguousarray(image[z]), np.ascontiguousarray(truth[z])
        np.save(image_path, image)
        np.save(truth_path, truth)
    if name in SCENES_2D:
        spacing = spacing[1:]
    return str(image_path), tuple(spacing), np.load(truth_path)


def run_case(name, workdir, n_clicks, seed=0):
    from MIDeepSegLib.core.simulate import interior_margin_points, refinement_click

    image_path, spacing, truth = prepare(name, workdir)
    ndim = truth.ndim
    model = "{}d".format(ndim)
    rng = np.random.default_rng(seed)
    bbox = _region(truth, tuple(slice(0, 1) for _ in range(ndim)), pad=4)
    bbox = tuple(slice(int(np.argwhere(truth)[:, a].min()), int(np.argwhere(truth)[:, a].max()) + 1)
                 for a in range(ndim))
    points = interior_margin_points(truth[bbox], rng, spacing, n_random=0) + [s.start for s in bbox]

    report = {"name": name, "shape": truth.shape, "spacing": spacing, "voxels": int(truth.sum()), "steps": []}
    fast = Session(image_path, spacing, model, exact=False)
    messages = [("initial", points)]
    outputs_fast = [fast.step(messages[0])]
    for _ in range(n_clicks):
        last = outputs_fast[-1]
        region = _region(truth, last["box"])
        click = refinement_click(_paste(region, last["box"], last["mask_crop"]), truth[region], spacing)
        if click is None:
            break
        point = click.point + [s.start for s in region]
        messages.append(("refine", {"foreground" if click.foreground else "background": [point]}))
        outputs_fast.append(fast.step(messages[-1]))
    report["rss_fast"] = (fast.loaded, fast.close())

    exact = Session(image_path, spacing, model, exact=True)
    outputs_exact = [exact.step(m) for m in messages]
    report["rss_exact"] = (exact.loaded, exact.close())

    for message, a, b in zip(messages, outputs_fast, outputs_exact):
        region = _region(truth, a["box"])
        region = _region(truth, tuple(slice(min(x.start, y.start), max(x.stop, y.stop))
                                      for x, y in zip(region, b["box"])))
        mask_a, mask_b = _paste(region, a["box"], a["mask_crop"]), _paste(region, b["box"], b["mask_crop"])
        kind = "initial" if message[0] == "initial" else \
            ("fg click" if "foreground" in message[1] else "bg click")
        report["steps"].append({
            "kind": kind, "fast": a["seconds"], "exact": b["seconds"], "fast_cpu": a["cpu"], "exact_cpu": b["cpu"], "region": int(np.prod(
                [s.stop - s.start for s in a["box"]])),
            "dice_between": _dice(mask_a, mask_b), "dice_fast": _dice(mask_a, truth[region]),
            "dice_exact": _dice(mask_b, truth[region]), "timings_fast": a["timings"], "timings_exact": b["timings"]})
    return report


def machine_line():
    import torch

    return "{} ({} CPU cores), Python {}, torch {} ({} threads), numpy {}, load average {:.1f} at the end".format(
        platform.processor() or platform.machine(), os.cpu_count(), platform.python_version(), torch.__version__,
        2, np.__version__, os.getloadavg()[0])


def table(reports):
    lines = ["| case | step | working region (voxels) | fast, wall (s) | full-region GC, wall (s) | ratio"
             " | fast, CPU (s) | full-region GC, CPU (s) | ratio (CPU) | Dice fast vs full"
             " | Dice vs truth (fast / full) | fast: geodesic / fusion / graph cut, wall (s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for rep in reports:
        title = "{} {} ({} mm), object {:,} voxels".format(
            Path(rep["name"].split(":")[-1]).name.split(".")[0], "x".join(map(str, rep["shape"])), "x".join("{:g}".format(s) for s in rep["spacing"]),
            rep["voxels"])
        for step in rep["steps"]:
            t = step["timings_fast"]
            stages = "" if step["kind"] == "initial" else "{:.2f} / {:.2f} / {:.2f}".format(
                t.get("geodesic", 0), t.get("fusion", 0), t.get("graphcut", 0))
            lines.append("| {} | {} | {:,} | **{:.2f}** | {:.2f} | {:.1f}x | **{:.2f}** | {:.2f} | {:.1f}x | {:.4f} "
                         "| {:.3f} / {:.3f} | {} |".format(
                title, step["kind"], step["region"], step["fast"], step["exact"], step["exact"] / step["fast"],
                step["fast_cpu"], step["exact_cpu"], step["exact_cpu"] / step["fast_cpu"], step["dice_between"], step["dice_fast"], step["dice_exact"], stages))
            title = ""
    lines += ["", "| case | peak RSS, fast (MB) | peak RSS, full-region GC (MB) | peak RSS after warm-up and loading the volume (MB) |",
              "|---|---|---|---|"]
    for rep in reports:
        lines.append("| {} | **{:.0f}** | {:.0f} | {:.0f} |".format(
            Path(rep["name"].split(":")[-1]).name.split(".")[0], rep["rss_fast"][1],
                                                                   rep["rss_exact"][1], rep["rss_fast"][0]))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["lesion", "kidney", "lits", "organ200"],
                        help="scenes ({}) or real volumes as IMAGE:LABEL files".format(
                            ", ".join(sorted(SCENES) + sorted(SCENES_2D))))
    parser.add_argument("--clicks", type=int, default=2, help="refinement clicks per session")
    parser.add_argument("--workdir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "mideepseg-organ-bench"))
    parser.add_argument("--out", help="also append the Markdown tables to this file")
    args = parser.parse_args(argv)
    os.makedirs(args.workdir, exist_ok=True)
    reports = []
    started = time.time()
    for name in args.cases:
        reports.append(run_case(name, args.workdir, args.clicks))
        print(table(reports[-1:]), flush=True)
    text = "Generated by `python benchmarks/bench_organ_click.py --cases {} --clicks {}` in {:.0f} s on: {}.\n\n{}\n".format(
        " ".join(args.cases), args.clicks, time.time() - started, machine_line(), table(reports))
    print(text)
    if args.out:
        with open(args.out, "a") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
