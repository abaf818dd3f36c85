"""Tests for the ``mideepseg`` command line (MIDeepSegLib.cli) on real files and tiny trained models.

The round trip of issue 3: an anisotropic, oblique (non-identity direction)
volume with a known object, written with SimpleITK; interior margin points
as a 3D Slicer markups file in physical coordinates (LPS and RAS, computed
independently by SimpleITK); ``mideepseg segment``; the mask read back must
have the input's geometry and overlap the known object.
"""

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import _models
import numpy as np
import pytest
import SimpleITK as sitk

from conftest import euler_rotation
from MIDeepSegLib import cli, io
from MIDeepSegLib.core.metrics import dice
from MIDeepSegLib.core.simulate import interior_margin_points, refinement_click

ROOT = Path(__file__).resolve().parents[1]
SHAPE = (20, 44, 40)                 # array order (z, y, x)
SPACING = (3.0, 0.8, 0.9)            # array order, mm: 3 mm slices
ORIGIN = (-40.0, 25.0, 110.0)        # LPS, mm


DIRECTION = euler_rotation(25, -15, 10)


pytestmark = pytest.mark.usefixtures("one_torch_thread")



def _lps_of(image, voxels):
    """LPS positions of array-order voxel coordinates, computed by SimpleITK (not by MIDeepSegLib.io)."""
    return np.array([image.TransformContinuousIndexToPhysicalPoint([float(c) for c in v[::-1]])
                     for v in voxels])


def _markups(path, positions, system):
    """A Slicer markups file written by hand: one point list, positions in `system` (LPS or RAS), mm."""
    points = [{"id": str(i + 1), "label": "F-{}".format(i + 1), "position": [float(v) for v in p],
               "positionStatus": "defined"} for i, p in enumerate(positions)]
    data = {"@schema": io.MARKUPS_SCHEMA, "markups": [
        {"type": "Fiducial", "coordinateSystem": system, "coordinateUnits": "mm", "controlPoints": points}]}
    path.write_text(json.dumps(data))
    return path


def _write_markups(path, image, voxels, system="LPS"):
    lps = _lps_of(image, voxels)
    return _markups(path, lps * ([-1, -1, 1] if system == "RAS" else 1), system)


def _geometry(image):
    return image.GetSize(), image.GetSpacing(), image.GetOrigin(), image.GetDirection()


def _assert_same_geometry(a, b):
    assert a.GetSize() == b.GetSize()
    np.testing.assert_allclose(a.GetSpacing(), b.GetSpacing(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(a.GetOrigin(), b.GetOrigin(), rtol=0, atol=1e-5)
    np.testing.assert_allclose(a.GetDirection(), b.GetDirection(), rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """The oblique CT-like volume on disk, its known object and simulated interior margin points."""
    folder = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(21)
    array, truth = _models.scene(SHAPE, rng, SPACING, distractor=False)
    array = np.round(array).astype(np.int16)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(SPACING[::-1])
    image.SetOrigin(ORIGIN)
    image.SetDirection(DIRECTION.ravel().tolist())
    path = folder / "ct.nii.gz"
    sitk.WriteImage(image, str(path))
    written = sitk.ReadImage(str(path))
    points = interior_margin_points(truth, rng, SPACING)
    return {"folder": folder, "path": path, "image": written, "array": array, "truth": truth,
            "points": points}


def _run(args):
    """``python -m MIDeepSegLib.cli ARGS`` in a subprocess: (returncode, stdout, stderr)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "MIDeepSegLib.cli"] + [str(a) for a in args],
                          capture_output=True, text=True, env=env, cwd=str(ROOT), timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def _read_mask(path):
    image = sitk.ReadImage(str(path))
    return image, sitk.GetArrayFromImage(image)


# -- the round trip ---------------------------------------------------------------------------


def test_geometry_is_oblique_and_anisotropic(case):
    """Guard: the fixture really is the hard case (else the round trip proves less)."""
    image = case["image"]
    direction = np.reshape(image.GetDirection(), (3, 3))
    assert np.abs(direction - np.eye(3)).max() > 0.1
    assert max(image.GetSpacing()) / min(image.GetSpacing()) > 3


def test_round_trip_lps_markups_subprocess(case, models):
    """Physical LPS markups -> ``python -m MIDeepSegLib.cli segment`` -> mask with the input's geometry."""
    folder = case["folder"]
    points = _write_markups(folder / "points_lps.mrk.json", case["image"], case["points"], "LPS")
    out = folder / "mask_lps.nii.gz"
    code, stdout, stderr = _run(["segment", case["path"], "--points", points, "--out", out,
                                 "--model", models["3d"], "--device", "cpu"])
    assert code == 0, stderr
    assert "initial:" in stdout and "cnn" in stdout and "wrote" in stdout
    mask_image, mask = _read_mask(out)
    _assert_same_geometry(mask_image, case["image"])
    assert mask_image.GetPixelID() == sitk.sitkUInt8
    assert mask.shape == SHAPE and set(np.unique(mask)) <= {0, 1}
    # Measured Dice 0.92 with the tiny 3D network (held-out mean 0.88).
    assert dice(mask, case["truth"]) > 0.8


def test_round_trip_ras_markups_and_correction(case, models, capsys):
    """RAS markups give the same mask as LPS; a --foreground/--background correction file improves it."""
    folder = case["folder"]
    lps = _write_markups(folder / "p_lps.mrk.json", case["image"], case["points"], "LPS")
    ras = _write_markups(folder / "p_ras.mrk.json", case["image"], case["points"], "RAS")
    common = ["--model", str(models["3d"]), "--device", "cpu"]
    masks = []
    for name, points in (("lps", lps), ("ras", ras)):
        out = folder / "m_{}.nii.gz".format(name)
        args = ["segment", str(case["path"]), "--points", str(points), "--out", str(out)]
        assert cli.main(args + common) == 0
        masks.append(_read_mask(out)[1])
    np.testing.assert_array_equal(masks[0], masks[1])

    click = refinement_click(masks[0], case["truth"], SPACING)
    kind = "foreground" if click.foreground else "background"
    fix = _write_markups(folder / "fix.mrk.json", case["image"], [click.point], "RAS")
    out = folder / "m_fixed.nii.gz"
    prob = folder / "p_fixed.nii.gz"
    assert cli.main(["segment", str(case["path"]), "--points", str(lps), "--" + kind, str(fix),
                     "--out", str(out), "--probability", str(prob)] + common) == 0
    stdout = capsys.readouterr().out
    assert "refine:" in stdout and "graphcut" in stdout
    mask_image, fixed = _read_mask(out)
    _assert_same_geometry(mask_image, case["image"])
    assert fixed[tuple(click.point.astype(int))] == (1 if click.foreground else 0)  # the click is honoured
    prob_image, probability = _read_mask(prob)
    _assert_same_geometry(prob_image, case["image"])
    assert probability.dtype == np.float32 and 0 <= probability.min() and probability.max() <= 1


def test_correction_click_improves_dice(case, models):
    """A --foreground/--background correction file (one simulated click) raises the Dice with the object."""
    folder = case["folder"]
    lps = _write_markups(folder / "q_lps.mrk.json", case["image"], case["points"], "LPS")
    common = ["--model", str(models["3d"]), "--device", "cpu"]
    assert cli.main(["segment", str(case["path"]), "--points", str(lps), "--out", str(folder / "q0.nii.gz")]
                    + common) == 0
    initial = _read_mask(folder / "q0.nii.gz")[1]
    click = refinement_click(initial, case["truth"], SPACING)
    fix = _write_markups(folder / "q_fix.mrk.json", case["image"], [click.point], "LPS")
    kind = "--foreground" if click.foreground else "--background"
    assert cli.main(["segment", str(case["path"]), "--points", str(lps), kind, str(fix),
                     "--out", str(folder / "q1.nii.gz")] + common) == 0
    fixed = _read_mask(folder / "q1.nii.gz")[1]
    assert dice(fixed, case["truth"]) > dice(initial, case["truth"])


def test_2d_on_a_slice_of_the_volume_and_save_points(case, models, capsys):
    """--axis y --slice k with the 2D model: only that slice is segmented; --save-points round-trips."""
    folder, axis = case["folder"], 1
    index = int(np.argmax(case["truth"].sum(axis=(0, 2))))
    truth_slice = case["truth"].take(index, axis=axis)
    points_2d = interior_margin_points(truth_slice, np.random.default_rng(22), (SPACING[0], SPACING[2]))
    points = np.insert(points_2d, axis, index, axis=1)
    path = _write_markups(folder / "slice_points.mrk.json", case["image"], points, "LPS")
    fg_2d = np.argwhere(truth_slice)[len(np.argwhere(truth_slice)) // 2]
    fg = np.insert(fg_2d[None].astype(float), axis, index, axis=1)
    common = ["--model", str(models["2d"]), "--device", "cpu"]
    out = folder / "slice_mask.nii.gz"
    assert cli.main(["segment", str(case["path"]), "--points", str(path), "--out", str(out), "--axis", "y",
                     "--slice", str(index)] + common) == 0
    mask_image, mask = _read_mask(out)
    _assert_same_geometry(mask_image, case["image"])
    assert not np.delete(mask, index, axis=axis).any()  # only that slice
    # Measured Dice 0.97 on this 3 mm x 0.9 mm slice (the 2D network saw 1 mm pixels only).
    assert dice(mask.take(index, axis=axis), truth_slice) > 0.85
    # Without --slice the slice is the one the points lie on: same mask.
    out2 = folder / "slice_mask2.nii.gz"
    assert cli.main(["segment", str(case["path"]), "--points", str(path), "--out", str(out2), "--axis", "y"]
                    + common) == 0
    np.testing.assert_array_equal(_read_mask(out2)[1], mask)
    capsys.readouterr()

    # A correction click (plain JSON voxel coordinates) and --save-points.
    fg_path = folder / "slice_fg.json"
    fg_path.write_text(json.dumps(fg.tolist()))
    out3, prefix = folder / "slice_mask3.nii.gz", folder / "session"
    assert cli.main(["segment", str(case["path"]), "--points", str(path), "--foreground", str(fg_path),
                     "--out", str(out3), "--axis", "y", "--save-points", str(prefix)] + common) == 0
    mask = _read_mask(out3)[1]
    assert mask[tuple(fg[0].astype(int))] == 1 and not np.delete(mask, index, axis=axis).any()
    # The saved clicks are Slicer point lists that read back to the same voxels.
    geometry = io.read_image(case["path"], dtype=None)[1]
    saved_points = io.read_points("{}_points.mrk.json".format(prefix), geometry)
    saved_fg = io.read_points("{}_foreground.mrk.json".format(prefix), geometry)
    np.testing.assert_allclose(saved_points, points, atol=1e-4)
    np.testing.assert_allclose(saved_fg, fg, atol=1e-4)
    saved = json.loads(Path("{}_points.mrk.json".format(prefix)).read_text())
    assert saved["markups"][0]["type"] == "Fiducial"
    assert not Path("{}_background.mrk.json".format(prefix)).exists()
    assert "session_points.mrk.json" in capsys.readouterr().out


# -- help and user errors ------------------------------------------------------------------------


def test_help_lists_every_option_and_does_not_import_torch():
    code, stdout, stderr = _run(["segment", "--help"])
    assert code == 0 and stderr == ""
    parser = cli._parser()
    segment = parser._subparsers._group_actions[0].choices["segment"]
    options = [s for action in segment._actions for s in action.option_strings if s.startswith("--")]
    assert {"--points", "--foreground", "--background", "--out", "--model", "--device", "--axis", "--slice",
            "--save-points", "--probability"} <= set(options)
    for option in options:
        assert option in stdout, option
    assert "examples:" in stdout and ".mrk.json" in stdout
    code, stdout, _ = _run(["--help"])
    assert code == 0 and "segment" in stdout and "demo" in stdout
    probe = ("import sys\nfrom MIDeepSegLib import cli\ntry:\n    cli.main(['segment', '--help'])\n"
             "except SystemExit:\n    pass\nprint('TORCH' if 'torch' in sys.modules else 'NO-TORCH')")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=str(ROOT),
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
    assert proc.stdout.strip().endswith("NO-TORCH"), proc.stdout + proc.stderr


def _one_error_line(stderr):
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("mideepseg segment: error:"), stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_user_errors_subprocess(case, models):
    """The real process: exit status 2, one line on stderr, no traceback."""
    folder = case["folder"]
    few = folder / "two_points.json"
    few.write_text(json.dumps(case["points"][:2].tolist()))
    code, _, stderr = _run(["segment", case["path"], "--points", few, "--out", folder / "x.nii.gz",
                            "--model", models["3d"], "--device", "cpu"])
    assert code == 2
    line = _one_error_line(stderr)
    assert "at least 4 distinct interior margin points in 3D, got 2" in line
    code, _, stderr = _run(["segment", folder / "missing.nii.gz", "--points", few,
                            "--out", folder / "x.nii.gz"])
    assert code == 2
    assert "missing.nii.gz" in _one_error_line(stderr)


def test_user_errors_in_process(case, models, tmp_path, capsys):
    good = _write_markups(tmp_path / "good.mrk.json", case["image"], case["points"], "LPS")
    outside = _write_markups(tmp_path / "outside.mrk.json", case["image"],
                             np.vstack([case["points"], [[SHAPE[0] + 3, 2, 2]]]), "LPS")
    identical = tmp_path / "same.json"
    identical.write_text(json.dumps([case["points"][0].tolist()] * 6))
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    image, out, model = str(case["path"]), str(tmp_path / "out.nii.gz"), str(models["3d"])
    cases = [
        (["--points", str(tmp_path / "nope.mrk.json"), "--model", model], "nope.mrk.json"),
        (["--points", str(outside), "--model", model], "outside the image"),
        (["--points", str(identical), "--model", model], "got 1"),
        (["--points", str(good), "--slice", "3", "--model", model], "--slice needs --axis"),
        (["--points", str(good), "--axis", "q", "--model", model], "--axis must be z, y or x"),
        (["--points", str(good), "--axis", "z", "--model", str(models["2d"])], "several slices"),
        (["--points", str(good), "--axis", "z", "--slice", "99"], "outside 0..19"),
        (["--points", str(good), "--model", str(models["2d"])], "model is 2D but the image is 3D"),
        (["--points", str(good), "--model", str(corrupt)], "not a readable checkpoint"),
        (["--points", str(good), "--model", str(tmp_path / "none.pt")], "none.pt"),
        (["--points", str(good), "--model", model, "--device", "tpu"], "unknown device"),
    ]
    for extra, expected in cases:
        assert cli.main(["segment", image, "--out", out] + extra) == 2, extra
        captured = capsys.readouterr()
        assert expected in _one_error_line(captured.err), (extra, captured.err)
    assert not Path(out).exists()


# -- demo ------------------------------------------------------------------------------------------


def _png_size(path):
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])  # width, height


@pytest.mark.parametrize("with_network", [False, True])
def test_demo(tmp_path, models, monkeypatch, capsys, with_network):
    pytest.importorskip("matplotlib", reason="the demo's picture needs matplotlib (the demo/test extras)")
    if with_network:  # the tiny 2D network stands in for the shipped weights
        folder = tmp_path / "models"
        folder.mkdir()
        (folder / "mideepseg_2d.pt").write_bytes(models["2d"].read_bytes())
        monkeypatch.setenv("MIDEEPSEG_MODELS_DIR", str(folder))
    from MIDeepSegLib.model import checkpoint
    search = [tmp_path / "models"] if with_network else [tmp_path / "empty"]  # hide any shipped weights
    monkeypatch.setattr(checkpoint, "model_search_dirs", lambda: search)
    out = tmp_path / "demo"
    assert cli.main(["demo", "--out", str(out), "--device", "cpu"]) == 0
    assert "wrote" in capsys.readouterr().out
    width, height = _png_size(out / "demo.png")
    assert width >= 1200 and height >= 800  # readable: panels about 400 px wide
    sample = sitk.ReadImage(str(ROOT / "Resources" / "Samples" / "colin27_axial_slice.nii.gz"))
    mask_image = sitk.ReadImage(str(out / "mask.nii.gz"))
    _assert_same_geometry(mask_image, sample)  # the mask lines up with the sample in a viewer
    mask = sitk.GetArrayFromImage(mask_image)
    assert mask.dtype == np.uint8 and 0 < mask.sum() < mask.size
    figures = json.loads((out / "figures.json").read_text())
    assert figures["initial_probability"].startswith("shipped 2D network" if with_network else "stand-in")
    assert 0 <= figures["initial"]["dice"] <= 1 and figures["interior_points"] >= 3
    steps = [v for k, v in figures.items() if k.startswith("after_")]
    assert steps and all(step["click"] in ("foreground", "background") for step in steps)
    assert steps[-1]["dice"] >= figures["initial"]["dice"]


def _pixels_of(path, colour):
    """Number of pixels of exactly this '#rrggbb' colour in a PNG (read by matplotlib)."""
    from matplotlib.image import imread

    rgb = np.round(imread(str(path))[..., :3] * 255).astype(int)
    target = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    return int((rgb == target).all(axis=-1).sum())


def test_session_figure_shows_a_click_that_lowers_dice(tmp_path):
    """The panel of a click that lowered Dice is framed and titled in red; no red when every click helps."""
    pytest.importorskip("matplotlib", reason="the session figure needs matplotlib (the demo/test extras)")
    from MIDeepSegLib.evaluation.session_figure import DROP_COLOUR, write_session_figure

    yy, xx = np.mgrid[:60, :70]
    truth = np.hypot(yy - 30, xx - 35) < 15
    image = np.where(truth, 1.0, 0.0) + 0.1 * np.sin(xx / 3.0)
    points = np.array([[18.0, 35.0], [42.0, 35.0], [30.0, 23.0], [30.0, 47.0]])
    empty = np.zeros((0, 2))

    def steps(dices):
        masks = [np.hypot(yy - 30, xx - 35) < r for r in (11, 13, 15)]
        return [{"label": "initial" if k == 0 else "click {}: foreground".format(k), "mask": masks[k],
                 "dice": d, "points": points, "foreground": points[:k] if k else empty, "background": empty,
                 "new": None if k == 0 else ("foreground", points[k - 1])} for k, d in enumerate(dices)]

    better = write_session_figure(tmp_path / "better.png", image, truth, (1.0, 1.0), steps([0.6, 0.8, 1.0]))
    worse = write_session_figure(tmp_path / "worse.png", image, truth, (1.0, 1.0), steps([0.6, 0.8, 0.7]))
    assert _pixels_of(better, DROP_COLOUR) == 0
    assert _pixels_of(worse, DROP_COLOUR) > 500  # the panel's frame, the title, the chart's segment


def test_slicer_runtime_never_imports_matplotlib():
    probe = ("import sys\nimport MIDeepSegLib, MIDeepSegLib.segmenter, MIDeepSegLib.session, MIDeepSegLib.io, "
             "MIDeepSegLib.outputs, MIDeepSegLib.scenes\nprint('MPL' if 'matplotlib' in sys.modules else 'NO-MPL')")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=str(ROOT),
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
    assert proc.stdout.strip().endswith("NO-MPL"), proc.stdout + proc.stderr


# -- issue 15: the command line never loses a user's data -----------------------------------------


def _fail(args, capsys):
    """Run ``mideepseg segment ARGS`` in-process: it must exit 2 with one error line; returns that line."""
    assert cli.main(["segment"] + [str(a) for a in args]) == 2, args
    return _one_error_line(capsys.readouterr().err)


@pytest.fixture
def inputs(case, tmp_path):
    """A copy of the volume and its points in a fresh folder (the tests try to write over them)."""
    image = tmp_path / "ct.nii.gz"
    image.write_bytes(case["path"].read_bytes())
    points = _write_markups(tmp_path / "points.mrk.json", case["image"], case["points"], "LPS")
    return {"image": image, "points": points, "folder": tmp_path,
            "bytes": {p: p.read_bytes() for p in (image, points)}}


def _unchanged(inputs):
    return all(path.read_bytes() == data for path, data in inputs["bytes"].items())


def test_out_equal_to_an_input_is_refused(inputs, models, capsys):
    """--out on the CT replaced the CT with the mask, exit 0; now refused, whatever the path's spelling."""
    image, points, folder = inputs["image"], inputs["points"], inputs["folder"]
    common = ["--model", models["3d"], "--device", "cpu"]
    line = _fail([image, "--points", points, "--out", image] + common, capsys)
    assert "refusing to write over an input" in line and "image" in line
    aliased = folder / "sub" / ".." / image.name
    (folder / "sub").mkdir()
    assert "refusing to write over an input" in _fail([image, "--points", points, "--out", aliased] + common, capsys)
    line = _fail([image, "--points", points, "--out", folder / "m.nii.gz", "--probability", points] + common,
                 capsys)
    assert "--probability" in line and "--points" in line
    # --overwrite never lets an input be replaced.
    line = _fail([image, "--points", points, "--out", image, "--overwrite"] + common, capsys)
    assert "refusing to write over an input" in line
    assert _unchanged(inputs)


def test_existing_outputs_are_kept_unless_overwrite(inputs, models, capsys):
    image, points, folder = inputs["image"], inputs["points"], inputs["folder"]
    common = [image, "--points", points, "--model", models["3d"], "--device", "cpu"]
    out, prob, prefix = folder / "mask.nii.gz", folder / "prob.nii.gz", folder / "session"
    saved = Path("{}_points.mrk.json".format(prefix))
    for existing, extra in ((out, []), (prob, ["--probability", prob]), (saved, ["--save-points", prefix])):
        existing.write_text("precious")
        line = _fail(common + ["--out", out] + extra, capsys)
        assert str(existing) in line and "exists; give --overwrite to replace it" in line
        assert existing.read_text() == "precious"
        existing.unlink()
    # --out and --probability naming one file is refused too.
    assert "name the same file" in _fail(common + ["--out", out, "--probability", out], capsys)
    for existing in (out, prob, saved):
        existing.write_text("precious")
    assert cli.main(["segment"] + [str(a) for a in common] + ["--out", str(out), "--probability", str(prob),
                     "--save-points", str(prefix), "--overwrite"]) == 0
    assert _read_mask(out)[1].sum() > 0 and _read_mask(prob)[1].max() > 0.5
    assert json.loads(saved.read_text())["markups"][0]["type"] == "Fiducial"
    assert _unchanged(inputs)


@pytest.mark.parametrize("name", ["mask.png", "mask.tif", "mask.jpg", "mask.bmp"])
def test_formats_that_lose_dimension_or_geometry_are_refused_before_any_work(inputs, models, tmp_path, capsys,
                                                                           name):
    """PNG wrote one all-zero 2D slice of a 3D mask, TIFF dropped the 3 mm spacing and the direction."""
    corrupt = tmp_path / "corrupt.pt"  # the model is never loaded: the output is checked first
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    line = _fail([inputs["image"], "--points", inputs["points"], "--out", tmp_path / name, "--model", corrupt],
                 capsys)
    assert ".nii.gz, .nii, .nrrd, .nhdr, .mha, .mhd" in line and "checkpoint" not in line
    assert not (tmp_path / name).exists()
    # The probability map is checked too (a PNG cannot hold float32 nor 3D).
    line = _fail([inputs["image"], "--points", inputs["points"], "--out", tmp_path / "m.nrrd", "--probability",
                  tmp_path / "p.png", "--model", corrupt], capsys)
    assert "p.png" in line and ".nrrd" in line


def test_output_paths_checked_before_any_work(inputs, models, tmp_path, capsys):
    """A missing folder for --probability or --save-points left the mask written and exited 2."""
    image, points = inputs["image"], inputs["points"]
    out = tmp_path / "mask.nii.gz"
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    for extra, expected in ((["--probability", tmp_path / "nodir" / "p.nii.gz"], "does not exist"),
                            (["--save-points", tmp_path / "nodir" / "x"], "does not exist"),
                            (["--probability", tmp_path / "p.xyz"], "unknown output image format"),
                            (["--probability", tmp_path], "is a folder")):
        for model in (models["3d"], corrupt):  # with a corrupt model: the output error comes first
            line = _fail([image, "--points", points, "--out", out, "--model", model, "--device", "cpu"] + extra,
                         capsys)
            assert expected in line and "checkpoint" not in line, line
            assert not out.exists()
    assert "unknown output image format" in _fail([image, "--points", points, "--out", tmp_path / "m.xyz"],
                                                  capsys)
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    readonly.chmod(0o500)
    try:
        if not os.access(str(readonly), os.W_OK):  # root may write anywhere
            assert "not writable" in _fail([image, "--points", points, "--out", readonly / "m.nii.gz"], capsys)
    finally:
        readonly.chmod(0o700)


def test_outputs_written_all_or_nothing(inputs, models, tmp_path, capsys):
    """A failure while writing the set (here a .mhd's data file that exists) leaves no output at all."""
    image, points = inputs["image"], inputs["points"]
    out, prob = tmp_path / "mask.mhd", tmp_path / "prob.nii.gz"
    data_file = tmp_path / "mask.zraw"  # where the compressed MetaImage keeps its voxels
    data_file.write_text("precious")
    line = _fail([image, "--points", points, "--out", out, "--probability", prob, "--model", models["3d"],
                  "--device", "cpu"], capsys)
    assert "mask.zraw exists; give --overwrite" in line
    assert not out.exists() and not prob.exists() and data_file.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["mask.zraw"] + [p.name for p in
                                                                                inputs["bytes"]])  # no temporaries
    assert cli.main(["segment", str(image), "--points", str(points), "--out", str(out), "--probability", str(prob),
                     "--model", str(models["3d"]), "--device", "cpu", "--overwrite"]) == 0
    mask_image, mask = _read_mask(out)
    _assert_same_geometry(mask_image, sitk.ReadImage(str(image)))
    assert mask.sum() > 0


def test_malformed_markups_entries_give_one_line(inputs, tmp_path, capsys):
    """controlPoints entries that are not objects gave a traceback (AttributeError)."""
    bad = tmp_path / "ints.mrk.json"
    bad.write_text(json.dumps({"markups": [{"type": "Fiducial", "controlPoints": [1, 2, 3]}]}))
    line = _fail([inputs["image"], "--points", bad, "--out", tmp_path / "m.nii.gz"], capsys)
    assert "ints.mrk.json: control point 1 is 1, not an object" in line
    strings = tmp_path / "strings.mrk.json"
    strings.write_text(json.dumps({"markups": [{"type": "Fiducial", "controlPoints": [
        {"label": "tip", "position": ["a", 1, 2]}]}]}))
    line = _fail([inputs["image"], "--points", strings, "--out", tmp_path / "m.nii.gz"], capsys)
    assert "strings.mrk.json: control point 1 ('tip') has position ['a', 1, 2]" in line


def test_ras_points_labelled_lps_get_a_hint(case, inputs, tmp_path, capsys):
    lps = _lps_of(case["image"], case["points"])
    mislabelled = _markups(tmp_path / "ras_as_lps.mrk.json", lps * [-1, -1, 1], "LPS")
    line = _fail([inputs["image"], "--points", mislabelled, "--out", tmp_path / "m.nii.gz"], capsys)
    assert "outside the image" in line and "read as RAS they would all lie inside" in line


@pytest.mark.parametrize("ext", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_nan_inside_the_object_refused_in_every_format(case, models, tmp_path, capsys, ext):
    """A NaN in the object: .nii.gz went through (ITK reads NaN as 0) and segmented a hole; now refused."""
    array = case["array"].astype(np.float32)
    centre = tuple(np.round(np.argwhere(case["truth"]).mean(axis=0)).astype(int))
    array[centre] = np.nan
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(case["image"])
    path = tmp_path / ("nan" + ext)
    sitk.WriteImage(image, str(path))
    points = _write_markups(tmp_path / "p.mrk.json", case["image"], case["points"], "LPS")
    line = _fail([path, "--points", points, "--out", tmp_path / "m.nii.gz", "--model", models["3d"],
                  "--device", "cpu"], capsys)
    assert "1 NaN or infinite values in the region" in line
    assert not (tmp_path / "m.nii.gz").exists()


def test_coplanar_3d_points_refused_with_a_2d_hint(case, inputs, models, tmp_path, capsys):
    """Interior points all on one slice gave a 5-slice pancake; now a clear error suggesting --axis."""
    truth = case["truth"]
    index = int(np.argmax(truth.sum(axis=(1, 2))))
    points_2d = interior_margin_points(truth[index], np.random.default_rng(5), SPACING[1:])
    flat = np.insert(points_2d, 0, index, axis=1)
    path = _write_markups(tmp_path / "flat.mrk.json", case["image"], flat, "LPS")
    line = _fail([inputs["image"], "--points", path, "--out", tmp_path / "m.nii.gz", "--model", models["3d"],
                  "--device", "cpu"], capsys)
    assert "lie in one plane, all on slice {} along array axis 0 (z)".format(index) in line
    assert "--axis z" in line
    assert not (tmp_path / "m.nii.gz").exists()
    # The suggested 2D mode works on the same file.
    assert cli.main(["segment", str(inputs["image"]), "--points", str(path), "--out", str(tmp_path / "m.nii.gz"),
                     "--axis", "z", "--model", str(models["2d"]), "--device", "cpu"]) == 0


def test_spacing_always_comes_from_the_file(capsys):
    """There is no --spacing: a user's (x, y, z) spacing can never override the file's (z, y, x) one."""
    with pytest.raises(SystemExit) as exit_:
        cli.main(["segment", "ct.nii.gz", "--points", "p.json", "--out", "m.nii.gz", "--spacing", "0.9", "0.8", "3"])
    assert exit_.value.code == 2 and "unrecognized arguments: --spacing" in capsys.readouterr().err
