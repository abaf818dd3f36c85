"""The ``mideepseg`` command line: one subcommand per task.

Each subcommand parses its arguments, calls one library function and writes
the outputs. torch is imported inside the commands, so ``--help`` is instant.
User mistakes (missing files, points outside the image, ...) are reported as
one line on stderr with exit status 2, without a traceback.

``segment`` never loses data: every output path is checked before any work
(no output is an input, none exists unless ``--overwrite``, folders exist and
are writable, formats hold the image's dimension and geometry), and the
outputs are written all or nothing (:mod:`MIDeepSegLib.outputs`).
"""

import argparse
import shlex
import sys

import numpy as np

from .geometry import take_slice
from .outputs import check_image_format, check_output_paths, write_all
from .segmenter import Segmenter
from .settings import LAM, SIGMA

_EXAMPLES = """examples:
  mideepseg segment ct.nii.gz --points organ.mrk.json --out organ_mask.nii.gz
  mideepseg segment ct.nii.gz --points organ.mrk.json --foreground fix.mrk.json --out mask.nii.gz
  mideepseg segment mr.nrrd --points p.mrk.json --axis z --out mask.nrrd     (2D model on one slice)
  mideepseg demo --out demo_output
  mideepseg train --dim 2 --data synthetic --iterations 1500 --out model_2d.pt
  mideepseg validate model_2d.pt --card model_2d.md
  mideepseg benchmark --quick --out benchmark_quick
  mideepseg benchmark --cases colin27 --dim both --clicks 10 --out docs/benchmark
"""


class UserError(Exception):
    """A mistake in the command's input: reported in one line, no traceback."""


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    from .model.checkpoint import CheckpointError  # deferred: loads torch; --help stays instant

    try:
        return args.run(args) or 0
    except (UserError, ValueError, OSError, CheckpointError) as error:
        message = str(error).strip().replace("\n", " ")
        print("mideepseg {}: error: {}".format(args.command, message), file=sys.stderr)
        return 2


def _parser():
    parser = argparse.ArgumentParser(
        prog="mideepseg",
        description="Minimally interactive segmentation of medical images (MIDeepSeg): click a few points "
                    "just inside an object's boundary, get its mask; add clicks to correct it.",
        epilog=_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    seg = commands.add_parser(
        "segment", help="segment one object of an image from point files",
        description="Segment one object. Points are 3D Slicer markups files (.mrk.json, LPS or RAS) or JSON "
                    "lists of voxel coordinates in array order ([[z, y, x], ...]). Spacing, origin and direction "
                    "always come from the image file. Outputs are checked before any work and written all or "
                    "nothing; existing files are kept unless --overwrite is given.",
        epilog=_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    seg.add_argument("image", help="image file (NIfTI, NRRD, MHA, ...) or DICOM series folder")
    seg.add_argument("--points", required=True,
                     help="interior margin points: clicks just inside the object's boundary, around it "
                          "(at least 3 in 2D, 4 in 3D)")
    seg.add_argument("--foreground", help="refinement clicks on missed parts of the object")
    seg.add_argument("--background", help="refinement clicks on wrongly included regions")
    seg.add_argument("--out", required=True,
                     help="output mask file, written with the image's geometry: .nii.gz, .nii, .nrrd, .nhdr, .mha, "
                          ".mhd (.png/.tif only for a 2D image without spacing, origin or direction)")
    seg.add_argument("--probability", help="also write the final probability map here")
    seg.add_argument("--model", help="'2d', '3d' (shipped weights) or a checkpoint path; default: the "
                                     "image's dimension (2d with --axis)")
    seg.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps")
    seg.add_argument("--axis", help="segment one slice of a 3D image with the 2D model: the axis normal to "
                                    "the slice, z/y/x (array axes 0/1/2)")
    seg.add_argument("--slice", type=int,
                     help="slice index along --axis (default: the slice the points lie on)")
    seg.add_argument("--lam", type=float, help="graph-cut weight lambda (default: the session's, {:g}; the paper's "
                                               "is 5)".format(LAM))
    seg.add_argument("--sigma", type=float, help="graph-cut contrast scale sigma (default: the session's, {:g}; the "
                                                 "paper's is 0.1)".format(SIGMA))
    seg.add_argument("--save-points", help="write all clicks as one Slicer .mrk.json per kind, with this "
                                           "prefix (e.g. session -> session_points.mrk.json, ...)")
    seg.add_argument("--overwrite", action="store_true",
                     help="replace output files that exist (default: refuse; an input is never replaced)")
    seg.set_defaults(run=_segment)

    demo = commands.add_parser("demo", help="run the pipeline on a bundled example and write pictures")
    demo.add_argument("--out", default="demo_output", help="output folder (default: demo_output)")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the simulated user")
    demo.add_argument("--device", default="auto")
    demo.set_defaults(run=_demo)

    tr = commands.add_parser(
        "train", help="train a 2D or 3D network (paper recipe: Dice loss, Adam, halving learning rate)",
        description="Train a MIDeepSeg network on generated examples: scenes from --data, the paper's "
                    "augmentations, simulated interior margin points, relaxed box, EGD cue map. Writes the "
                    "checkpoint and OUT.train.pt (to --resume from). Data-parallel: run it under "
                    "'torchrun --nproc_per_node N -m MIDeepSegLib.cli train ...'.")
    tr.add_argument("--dim", type=int, choices=(2, 3), required=True, help="2D or 3D network")
    tr.add_argument("--data", action="append",
                    help="scene source, repeatable, NAME or NAME@WEIGHT: synthetic (default: shapes + label "
                         "maps), shapes, bodies (organs among neighbours, CT- or MR-like), labelmaps (mricron "
                         "atlases, validation structures removed), inia19, "
                         "or a folder with imagesTr/ and labelsTr/")
    tr.add_argument("--shape-kinds", nargs="+", metavar="KIND=P",
                    help="random shapes' kinds and probabilities, e.g. blob=0.5 compound=0.5 (default: "
                         "training.shapes.SHAPE_KINDS; kinds: blob, elongated, concave, lobulated, holed, "
                         "compound)")
    tr.add_argument("--out", required=True, help="checkpoint to write (e.g. model.pt)")
    tr.add_argument("--iterations", type=int, default=1000, help="optimisation steps (default 1000)")
    tr.add_argument("--batch-size", type=int, default=4, help="examples per step and process (default 4)")
    tr.add_argument("--features", type=int, nargs="+", help="UNet channels per level, bridge last "
                                                             "(default 16 32 64 128 256)")
    tr.add_argument("--input-size", type=int, nargs="+",
                    help="network grid, array order (default 64 64 in 2D, 64 96 96 in 3D)")
    tr.add_argument("--encoding", default="egd", help="cue-map encoding: egd (default), euclidean, gaussian, "
                                                       "geodesic, bbox")
    tr.add_argument("--margin-mm", type=float, default=5.0, help="relaxed-box margin, mm (default 5)")
    tr.add_argument("--lr", type=float, default=1e-4, help="learning rate (default 1e-4)")
    tr.add_argument("--weight-decay", type=float, default=1e-4, help="Adam weight decay (default 1e-4)")
    tr.add_argument("--lr-constant", type=int, help="iterations at the full learning rate (default half)")
    tr.add_argument("--lr-halve-every", type=int,
                    help="halve it every so many iterations after (default a tenth)")
    tr.add_argument("--val-every", type=int, default=100, help="validate and save every N iterations")
    tr.add_argument("--val-size", type=int, default=32, help="held-out generated validation examples")
    tr.add_argument("--workers", type=int, default=0, help="data-loading processes (default 0)")
    tr.add_argument("--threads", type=int,
                    help="torch CPU threads of the training process (default: torch's)")
    tr.add_argument("--no-augment", action="store_true",
                    help="no rotation/scaling/flip/intensity augmentation")
    tr.add_argument("--cut-p", type=float, default=0.0,
                    help="probability of cutting a scene through its object, as a scan's first or last slice "
                         "cuts an organ (default 0)")
    tr.add_argument("--full-precision", action="store_true", help="store float32 weights (default float16)")
    tr.add_argument("--resume", nargs="?", const=True, default=None,
                    help="continue from OUT.train.pt (or the given .train.pt file)")
    tr.add_argument("--init", help="start from this checkpoint's weights (fine-tuning; same architecture)")
    tr.add_argument("--stop-at", type=int, help="stop after this iteration (resume later)")
    tr.add_argument("--templates", help="mricron templates folder (default /usr/share/mricron/templates)")
    tr.add_argument("--seed", type=int, default=0, help="random seed (weights and examples)")
    tr.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    tr.add_argument("--quiet", action="store_true", help="no progress output")
    tr.set_defaults(run=_train)

    va = commands.add_parser(
        "validate", help="Dice/ASSD of a model on unseen structures of the real Colin27 MRI (simulated user)",
        description="Run the simulated user (interior margin points, then refinement clicks) on the AAL deep "
                    "grey structures and the whole brain of the Colin27 T1 MRI (apt-get install "
                    "mricron-data): volumes for a 3D model, centre slices along z, y, x for a 2D model.")
    va.add_argument("model", help="'2d', '3d' or a checkpoint path")
    va.add_argument("--json", help="write all results (per case, clicks included) here")
    va.add_argument("--markdown", help="write the results table here")
    va.add_argument("--card",
                    help="write the model card (Markdown) here, e.g. Resources/Models/mideepseg_2d.md")
    va.add_argument("--record", action="store_true", help="also store the summary in the checkpoint's card")
    va.add_argument("--max-clicks", type=int, default=10, help="refinement clicks per case (default 10)")
    va.add_argument("--no-brain", action="store_true", help="skip the whole-brain case")
    va.add_argument("--brain-clicks", type=int,
                    help="fewer refinement clicks for the whole brain (3D: minutes per click on a CPU)")
    va.add_argument("--templates", help="mricron templates folder (default /usr/share/mricron/templates)")
    va.add_argument("--seed", type=int, default=0, help="random seed of the simulated user")
    va.add_argument("--device", default="auto")
    va.set_defaults(run=_validate)

    be = commands.add_parser(
        "benchmark", help="the paper's experiments with a simulated user: MIDeepSeg vs classical methods, "
                          "GC vs IF-GC, cue-map encodings; JSON/CSV results, Markdown report, PNG plots",
        description="Run MIDeepSeg and the classical interactive methods (graph cut, random walker, GeoS, "
                    "GrowCut where installed) with the same simulated clicks on a set of cases, and write "
                    "results.json, results.csv, report.md and PNG figures to --out.")
    be.add_argument("--cases", default="colin27",
                    help="colin27 (real Colin27 MRI, AAL deep grey structures + whole brain; apt-get "
                         "install mricron-data), synthetic, or a folder with imagesTr/ and labelsTr/ "
                         "(default colin27)")
    be.add_argument("--dim", default="both", choices=("2", "3", "both"), help="2D slices, 3D volumes or both")
    be.add_argument("--model2d", help="2D MIDeepSeg checkpoint (default: the shipped one if installed, else "
                                      "the MIDeepSeg rows are skipped)")
    be.add_argument("--model3d", help="3D MIDeepSeg checkpoint (same default)")
    be.add_argument("--encoding-model", action="append", default=[], metavar="ENCODING=CHECKPOINT",
                    help="Table 2: a network trained with this cue-map encoding (egd, euclidean, gaussian, "
                         "geodesic, bbox); repeatable; its dimension comes from the checkpoint")
    be.add_argument("--clicks", type=int, default=10, help="refinement clicks per case (default 10)")
    be.add_argument("--peers", nargs="+", help="classical methods to run (default: all installed): graphcut "
                                               "random_walker geos growcut")
    be.add_argument("--quick", action="store_true",
                    help="2-3 small cases and 2 clicks: checks the machinery in well under a minute")
    be.add_argument("--no-brain", action="store_true",
                    help="colin27: skip the whole-brain case (the slowest)")
    be.add_argument("--templates", help="mricron templates folder (default /usr/share/mricron/templates)")
    be.add_argument("--seed", type=int, default=0, help="random seed of the simulated user")
    be.add_argument("--device", default="auto")
    be.add_argument("--out", default="benchmark_output", help="output folder (default benchmark_output)")
    be.add_argument("--quiet", action="store_true", help="no progress output")
    be.set_defaults(run=_benchmark)
    return parser


def _benchmark(args):
    from .evaluation.benchmark import run_benchmark  # deferred: loads torch; --help stays instant

    encodings = {}
    for item in args.encoding_model:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise UserError("--encoding-model must be ENCODING=CHECKPOINT, got {!r}".format(item))
        encodings[name.strip().lower()] = path
    if args.clicks < 0:
        raise UserError("--clicks must be >= 0, got {}".format(args.clicks))
    dims = (2, 3) if args.dim == "both" else (int(args.dim),)
    argv = sys.argv[1:] if sys.argv[1:2] == ["benchmark"] else ["benchmark", "..."]
    results = run_benchmark(args.cases, dims=dims, models={2: args.model2d, 3: args.model3d},
                            encoding_models=encodings, max_clicks=args.clicks, quick=args.quick,
                            seed=args.seed, peers=args.peers, templates_dir=args.templates,
                            brain=not args.no_brain, device=args.device,
                            progress=not args.quiet, out_dir=args.out,
                            command="mideepseg " + " ".join(shlex.quote(a) for a in argv))
    print("wrote {}: report.md, results.json, results.csv, PNG figures".format(args.out))
    for target in results["targets"]:
        print("{}D {}: {}".format(target["dim"], target["target"], target["status"]))
    return 0


def _shape_kinds(items):
    """``["blob=0.5", ...]`` -> ``{"blob": 0.5, ...}`` in the given order (None -> None)."""
    if not items:
        return None
    kinds = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            kinds[name] = float(value)
        except ValueError:  # no "=" leaves value empty
            raise ValueError("--shape-kinds takes KIND=PROBABILITY items, got {!r}".format(item)) from None
    return kinds


def _train(args):
    from .model.checkpoint import ModelConfig  # deferred: loads torch; --help stays instant
    from .training.datasets import build_sources  # deferred: loads torch; --help stays instant
    from .training.loop import train  # deferred: loads torch; --help stays instant

    options = {}
    if args.features:
        options["features"] = tuple(args.features)
    if args.input_size:
        options["input_size"] = tuple(args.input_size)
    config = ModelConfig(args.dim, encoding=args.encoding, margin_mm=args.margin_mm, **options)
    source = build_sources(args.data or ["synthetic"], templates_dir=args.templates,
                           shape_kinds=_shape_kinds(args.shape_kinds))
    argv = sys.argv[1:] if sys.argv[1:2] == ["train"] else ["train", "..."]
    train(config, source, args.out, iterations=args.iterations, batch_size=args.batch_size, lr=args.lr,
          weight_decay=args.weight_decay, lr_constant=args.lr_constant, lr_halve_every=args.lr_halve_every,
          seed=args.seed, device=args.device, resume=args.resume, val_every=args.val_every,
          val_size=args.val_size, workers=args.workers, augment=not args.no_augment, cut_p=args.cut_p,
          half=not args.full_precision, progress=not args.quiet, stop_at=args.stop_at, threads=args.threads,
          init=args.init, command="mideepseg " + " ".join(shlex.quote(a) for a in argv))
    return 0


def _validate(args):
    from .evaluation.validation import run_validation  # deferred: loads torch; --help stays instant

    run_validation(args.model, json_path=args.json, markdown_path=args.markdown, card_path=args.card,
                   record=args.record, max_clicks=args.max_clicks, brain=not args.no_brain,
                   brain_max_clicks=args.brain_clicks,
                   templates_dir=args.templates, seed=args.seed, device=args.device)
    return 0


def _segment(args):
    from . import io  # deferred: loads SimpleITK; --help stays instant

    # Every output path is checked before anything is read or computed.
    outputs = [("--out", args.out)] + ([("--probability", args.probability)] if args.probability else [])
    point_files = {}
    if args.save_points:
        for kind in ("points", "foreground", "background"):
            if kind == "points" or getattr(args, kind):
                point_files[kind] = "{}_{}.mrk.json".format(args.save_points, kind)
                outputs.append(("--save-points", point_files[kind]))
    inputs = [("image", args.image), ("--points", args.points), ("--foreground", args.foreground),
              ("--background", args.background), ("--model", args.model)]
    check_output_paths(outputs, inputs, overwrite=args.overwrite)

    image, geometry = io.read_image(args.image, dtype=None)
    check_image_format(args.out, geometry, np.uint8)
    if args.probability:
        check_image_format(args.probability, geometry, np.float32)
    points = io.read_points(args.points, geometry)
    foreground = io.read_points(args.foreground, geometry) if args.foreground else None
    background = io.read_points(args.background, geometry) if args.background else None
    spacing = geometry.spacing

    axis = None
    if args.axis is not None:
        axis = _parse_axis(args.axis, image.ndim)
        index = _slice_index(points, axis, args.slice, image.shape)
        for name, pts in (("points", points), ("foreground", foreground), ("background", background)):
            if pts is not None and len(pts) and (abs(pts[:, axis] - index) > 0.5).any():
                raise UserError("--{}: every click must lie on slice {} along axis {} (found {})".format(
                    name, index, args.axis, sorted(set(int(round(v)) for v in pts[:, axis]))))
        volume = image
        image, spacing = take_slice(volume, axis, index, spacing)
        keep = [a for a in range(volume.ndim) if a != axis]
        points, foreground, background = (None if p is None else p[:, keep]
                                          for p in (points, foreground, background))
    elif args.slice is not None:
        raise UserError("--slice needs --axis")

    model = args.model or "{}d".format(image.ndim)
    options = {name: value for name, value in (("lam", args.lam), ("sigma", args.sigma)) if value is not None}
    segmenter = Segmenter(image, spacing, model=model, device=args.device, **options)
    result = segmenter.initial(points)
    _print_timings("initial", result)
    if foreground is not None or background is not None:
        result = segmenter.refine(foreground=foreground, background=background)
        _print_timings("refine", result)

    def full_size(array):
        # The whole-image map; with --axis, the slice inside a volume of zeros.
        if axis is None:
            return array
        full = np.zeros(volume.shape, array.dtype)
        full[(slice(None),) * axis + (index,)] = array
        return full

    writers = [(args.out, lambda path: io.write_mask(path, full_size(result.mask), geometry))]
    if args.probability:
        # Built only when asked for: a float32 map of a CT volume is 4 bytes per voxel.
        writers.append((args.probability, lambda path: io.write_image(path, full_size(result.probability),
                                                                      geometry)))
    colours = {"points": (1.0, 0.8, 0.0), "foreground": (0.1, 0.9, 0.1), "background": (0.9, 0.1, 0.1)}
    for kind, target in point_files.items():
        pts = segmenter.clicks[kind]
        if len(pts) == 0:
            continue
        if axis is not None:
            pts = np.insert(pts, axis, index, axis=1)
        writers.append((target, lambda path, pts=pts, kind=kind: io.write_points(
            path, pts, geometry, name="MIDeepSeg " + kind, color=colours[kind])))
    write_all(writers, overwrite=args.overwrite)
    print("wrote {} ({} voxels)".format(args.out, int(result.mask_crop.sum())))
    for path, _ in writers[1:]:
        print("wrote {}".format(path))
    return 0


def _demo(args):
    try:
        import matplotlib  # noqa: F401  (the demo's picture; an optional dependency)
    except ImportError:
        raise UserError("the demo draws its picture with matplotlib: pip install 'MIDeepSegLib[demo]' "
                        "(or pip install matplotlib)") from None
    from .evaluation.demo import run_demo  # deferred: loads torch; --help stays instant

    run_demo(args.out, seed=args.seed, device=args.device)
    return 0


def _parse_axis(text, ndim):
    if ndim != 3:
        raise UserError("--axis needs a 3D image, this one is {}D".format(ndim))
    names = {"z": 0, "y": 1, "x": 2, "0": 0, "1": 1, "2": 2}
    if text.lower() not in names:
        raise UserError("--axis must be z, y or x (array axes 0, 1, 2), got {!r}".format(text))
    return names[text.lower()]


def _slice_index(points, axis, requested, shape):
    if requested is not None:
        if not 0 <= requested < shape[axis]:
            raise UserError("--slice {} is outside 0..{} along that axis".format(requested, shape[axis] - 1))
        return requested
    indices = sorted(set(int(round(v)) for v in points[:, axis]))
    if len(indices) != 1:
        raise UserError("the points lie on several slices {} along the axis: give --slice".format(indices))
    return indices[0]


def _print_timings(stage, result):
    parts = ", ".join("{} {:.3f}".format(k, v) for k, v in result.timings.items() if k != "total")
    print("{}: {:.3f} s ({}) s".format(stage, result.timings["total"], parts))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
