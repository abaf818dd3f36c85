"""Development driver: MIDeepSeg (IF-GC) vs GeoS on a folder data set with the benchmark's simulated user.

A lighter `mideepseg benchmark` for choosing settings: only MIDeepSeg and
GeoS (no GC / paper replays, no figures), the same cases, points and clicks
(case k of dimension d draws its points from ``default_rng([seed, d, k])``).

Usage: python scripts/organ_eval.py FOLDER --dim 3 --clicks 5 [--set reach=0.3 ...] [--out runs.json]
       python scripts/organ_eval.py FOLDER --dim 3 --no-mideepseg [--geos gamma=100 ...]   (GeoS alone)
"""

import argparse
import functools
import json
import sys
import time

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--dim", type=int, default=3)
    parser.add_argument("--clicks", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], help="Segmenter keyword=value")
    parser.add_argument("--only", help="comma-separated substrings of case names")
    parser.add_argument("--no-geos", action="store_true")
    parser.add_argument("--no-mideepseg", action="store_true", help="run GeoS alone")
    parser.add_argument("--geos", action="append", default=[], help="GeoS keyword=value (e.g. gamma=100)")
    parser.add_argument("--axes", default="0", help="2D: slice axes through each object's centre")
    parser.add_argument("--out")
    args = parser.parse_args(argv)

    from MIDeepSegLib.core.simulate import interior_margin_points
    from MIDeepSegLib.evaluation.benchmark import run_method
    from MIDeepSegLib.evaluation.cases import folder_cases
    from MIDeepSegLib.evaluation.peers import PEERS
    from MIDeepSegLib.evaluation.user import PeerSession
    from MIDeepSegLib.segmenter import Segmenter, _load_model

    overrides, geos_options = _keywords(args.set), _keywords(args.geos)
    geos = functools.partial(PEERS["geos"], **geos_options)
    model = _load_model("{}d".format(args.dim), "cpu")
    margin = model[1].margin_mm
    cases = folder_cases(args.folder, args.dim, axes=tuple(int(a) for a in args.axes.split(",")))
    records = []
    for k, case in enumerate(cases):
        if args.only and not any(s in case.name for s in args.only.split(",")):
            continue  # k stays the case's index in the full list: the same points as a full run
        rng = np.random.default_rng([args.seed, args.dim, k])
        points = interior_margin_points(case.truth, rng, case.spacing)
        rec = {"case": case.name, "voxels": int(case.truth.sum()), "shape": list(case.image.shape)}
        line = "{:40s} {:8d}".format(case.name, rec["voxels"])
        if not args.no_mideepseg:
            tick = time.perf_counter()
            seg = Segmenter(case.image, case.spacing, model=model, device="cpu", **overrides)
            rec["mideepseg"], _ = run_method(seg, case.truth, case.spacing, points, max_clicks=args.clicks)
            rec["mideepseg_s"] = round(time.perf_counter() - tick, 1)
            line += " M {} ({:.0f}s)".format(_curve(rec["mideepseg"]), rec["mideepseg_s"])
        if not args.no_geos:
            tick = time.perf_counter()
            rec["geos"], _ = run_method(PeerSession(geos, case.image, case.spacing, margin), case.truth,
                                        case.spacing, points, max_clicks=args.clicks)
            rec["geos_s"] = round(time.perf_counter() - tick, 1)
            line += "  G {} ({:.0f}s)".format(_curve(rec["geos"]), rec["geos_s"])
        records.append(rec)
        print(line, flush=True)
    summary(records, args.clicks)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "records": records}, f)


def _keywords(items):
    """["key=value", ...] -> dict; values: None, True / False, numbers, else the string."""
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        if value in ("None", "True", "False"):
            out[key] = {"None": None, "True": True, "False": False}[value]
        else:
            try:
                out[key] = float(value)
            except ValueError:
                out[key] = value
    return out


def _curve(record):
    return " ".join("{:.3f}".format(d) for d in record["dice"])


def summary(records, clicks):
    ks = [k for k in (0, 1, 3, 5, 10) if k <= clicks]
    for method in ("mideepseg", "geos"):
        rows = [r[method]["dice"] for r in records if method in r]
        if not rows:
            continue
        d = np.array(rows)
        steps = np.diff(d, axis=1)
        clicked = [len(r[method]["clicks"]) for r in records if method in r]
        n_clicks = sum(clicked)
        drops = sum(int((steps[i, :clicked[i]] < -0.03).sum()) for i in range(len(rows)))
        print("{:10s} {}  drops>0.03: {}/{}".format(
            method, " / ".join("{:.3f}".format(d[:, k].mean()) for k in ks), drops, n_clicks))


if __name__ == "__main__":
    sys.exit(main())
