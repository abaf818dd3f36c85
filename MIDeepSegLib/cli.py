"""The ``mideepseg`` command line: one subcommand per task.

Each subcommand parses its arguments, calls one library function and writes
the outputs. torch is imported inside the commands, so ``--help`` is instant.
User mistakes (missing files, points outside the image, ...) are reported as
one line on stderr with exit status 2, without a traceback.
"""

import argparse
import sys

_EXAMPLES = """examples:
  mideepseg segment ct.nii.gz --points organ.mrk.json --out organ_mask.nii.gz
  mideepseg segment ct.nii.gz --points organ.mrk.json --foreground fix.mrk.json --out mask.nii.gz
  mideepseg segment mr.nrrd --points p.mrk.json --axis z --out mask.nrrd     (2D model on one slice)
  mideepseg demo --out demo_output
"""


class UserError(Exception):
    """A mistake in the command's input: reported in one line, no traceback."""


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    from .checkpoint import CheckpointError

    try:
        return args.run(args) or 0
    except (UserError, ValueError, FileNotFoundError, CheckpointError, IsADirectoryError) as error:
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
                    "lists of voxel coordinates in array order ([[z, y, x], ...]).",
        epilog=_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    seg.add_argument("image", help="image file (NIfTI, NRRD, MHA, ...) or DICOM series folder")
    seg.add_argument("--points", required=True,
                     help="interior margin points: clicks just inside the object's boundary, around it "
                          "(at least 3 in 2D, 4 in 3D)")
    seg.add_argument("--foreground", help="refinement clicks on missed parts of the object")
    seg.add_argument("--background", help="refinement clicks on wrongly included regions")
    seg.add_argument("--out", required=True, help="output mask file (written with the image's geometry)")
    seg.add_argument("--probability", help="also write the final probability map here")
    seg.add_argument("--model", help="'2d', '3d' (shipped weights) or a checkpoint path; default: the "
                                     "image's dimension (2d with --axis)")
    seg.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps")
    seg.add_argument("--axis", help="segment one slice of a 3D image with the 2D model: the axis normal to "
                                    "the slice, z/y/x (array axes 0/1/2)")
    seg.add_argument("--slice", type=int,
                     help="slice index along --axis (default: the slice the points lie on)")
    seg.add_argument("--lam", type=float, default=5.0, help="graph-cut weight lambda (default 5)")
    seg.add_argument("--sigma", type=float, default=0.1, help="graph-cut contrast scale sigma (default 0.1)")
    seg.add_argument("--save-points", help="write all clicks as one Slicer .mrk.json per kind, with this "
                                           "prefix (e.g. session -> session_points.mrk.json, ...)")
    seg.set_defaults(run=_segment)

    demo = commands.add_parser("demo", help="run the pipeline on a bundled example and write pictures")
    demo.add_argument("--out", default="demo_output", help="output folder (default: demo_output)")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the simulated user")
    demo.add_argument("--device", default="auto")
    demo.set_defaults(run=_demo)
    return parser


def _segment(args):
    import numpy as np

    from . import io
    from .segmenter import Segmenter

    image, geometry = io.read_image(args.image, dtype=None)
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
        image = volume.take(index, axis=axis)
        keep = [a for a in range(volume.ndim) if a != axis]
        spacing = tuple(spacing[a] for a in keep)
        points, foreground, background = (None if p is None else p[:, keep]
                                          for p in (points, foreground, background))
    elif args.slice is not None:
        raise UserError("--slice needs --axis")

    model = args.model or "{}d".format(image.ndim)
    segmenter = Segmenter(image, spacing, model=model, device=args.device, lam=args.lam, sigma=args.sigma)
    result = segmenter.initial(points)
    _print_timings("initial", result)
    if foreground is not None or background is not None:
        result = segmenter.refine(foreground=foreground, background=background)
        _print_timings("refine", result)

    mask, probability = result.mask, result.probability
    if axis is not None:
        full = np.zeros(volume.shape, mask.dtype)
        full_prob = np.zeros(volume.shape, probability.dtype)
        slicer_index = [slice(None)] * volume.ndim
        slicer_index[axis] = index
        full[tuple(slicer_index)] = mask
        full_prob[tuple(slicer_index)] = probability
        mask, probability = full, full_prob
    io.write_mask(args.out, mask, geometry)
    print("wrote {} ({} voxels)".format(args.out, int(mask.sum())))
    if args.probability:
        io.write_image(args.probability, probability, geometry)
        print("wrote {}".format(args.probability))
    if args.save_points:
        clicks = segmenter.clicks
        for kind, colour in (("points", (1.0, 0.8, 0.0)), ("foreground", (0.1, 0.9, 0.1)),
                             ("background", (0.9, 0.1, 0.1))):
            pts = clicks[kind]
            if len(pts) == 0:
                continue
            if axis is not None:
                pts = np.insert(pts, axis, index, axis=1)
            path = "{}_{}.mrk.json".format(args.save_points, kind)
            io.write_points(path, pts, geometry, name="MIDeepSeg " + kind, color=colour)
            print("wrote {}".format(path))
    return 0


def _demo(args):
    from .demo import run_demo

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
