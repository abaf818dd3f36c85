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
    height_px, width_px = 130, 140  # the bundled Colin27 slice
    width, height = _png_size(out / "cue_map.png")
    assert height == height_px and width >= 2 * width_px
    width, height = _png_size(out / "refinement.png")
    assert height == height_px and width >= 4 * width_px
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "mask.nii.gz")))
    assert mask.shape == (height_px, width_px) and mask.dtype == np.uint8 and 0 < mask.sum() < mask.size
    figures = json.loads((out / "figures.json").read_text())
    assert figures["initial_probability"].startswith("shipped 2D network" if with_network else "stand-in")
    assert 0 <= figures["initial"]["dice"] <= 1 and figures["interior_points"] >= 3
    refined = [v["dice"] for k, v in figures.items() if k.startswith("after_")]
    assert refined and refined[-1] >= figures["initial"]["dice"]
