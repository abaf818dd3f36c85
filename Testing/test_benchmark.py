"""Tests for MIDeepSegLib.evaluation: benchmark, its cases and report, peers and charts.

The benchmark's machinery is checked in quick mode on synthetic cases (no
data files, no trained weights); the classical methods on easy synthetic
objects with known answers; NoC and the targets on hand-made numbers.
"""

import csv
import importlib.util
import json

import numpy as np
import pytest
import torch
from conftest import SPACING_2D, SPACING_3D, make_blob_image

from MIDeepSegLib.evaluation import benchmark, peers
from MIDeepSegLib.evaluation.cases import load_cases, synthetic_cases
from MIDeepSegLib.evaluation.report import _json_ready
from MIDeepSegLib.evaluation.user import clicks_to_reach, mean_noc
from MIDeepSegLib.model.checkpoint import ModelConfig, build_model, save_checkpoint
from MIDeepSegLib.core.crop import relaxed_bbox
from MIDeepSegLib.core.metrics import dice
from MIDeepSegLib.core.simulate import interior_margin_points

QUICK_PEERS = ("graphcut", "random_walker", "geos")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


#: The figures need matplotlib (the benchmark/test extras); results and report do not.
HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def _installed(names):
    return [n for n in names if n in peers.available_peers()]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One quick benchmark on synthetic 2D and 3D cases, written to a folder."""
    out = tmp_path_factory.mktemp("bench")
    # Without any model (as on a machine without shipped weights): hide Resources/Models.
    from MIDeepSegLib.model import checkpoint
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(checkpoint, "model_search_dirs", lambda: [out / "no-models"])
        results = benchmark.run_benchmark("synthetic", dims=(2, 3), quick=True, seed=3,
                                          peers=_installed(QUICK_PEERS), device="cpu", progress=False,
                                          out_dir=out, models={2: None, 3: None})
    return results, out


def _strip_timings(value):
    if isinstance(value, dict):
        return {k: _strip_timings(v) for k, v in value.items() if "seconds" not in k}
    if isinstance(value, list):
        return [_strip_timings(v) for v in value]
    return value


# -- quick mode end to end --------------------------------------------------------------


def test_quick_mode_writes_every_output(quick_run):
    results, out = quick_run
    for name in ("results.json", "results.csv", "report.md"):
        assert (out / name).is_file(), name
    pytest.importorskip("matplotlib", reason="the benchmark's figures need matplotlib (the benchmark/test extras)")
    for dim in (2, 3):
        for kind in ("dice_vs_clicks", "clicks_needed", "overlays"):
            path = out / "{}_{}d.png".format(kind, dim)
            assert path.read_bytes()[:8] == PNG_SIGNATURE, path


def test_quick_mode_json_structure(quick_run):
    results, out = quick_run
    stored = json.loads((out / "results.json").read_text())
    assert stored["settings"]["max_clicks"] == 2 and stored["settings"]["quick"] is True
    assert {c["dim"] for c in stored["cases"]} == {2, 3}
    assert len([c for c in stored["cases"] if c["dim"] == 2]) == 2
    expected = {"standin_ifgc", "standin_gc", "standin_ifgc_paper"} | set(_installed(QUICK_PEERS))
    for case in stored["cases"]:
        assert set(case["methods"]) == expected
        for run in case["methods"].values():
            assert len(run["dice"]) == len(run["assd"]) == 3
            assert all(0.0 <= d <= 1.0 for d in run["dice"])
            assert 1 <= len(run["seconds"]) <= 3 and len(run["clicks"]) == len(run["seconds"]) - 1
            assert run["noc90"] == clicks_to_reach(run["dice"], 0.90)
        # Every method of a case starts from the same interior margin points.
        assert len(case["points"]) >= 4
    # The GC replays IF-GC's clicks (Table 3: the same set of clicks).
    for case in stored["cases"]:
        for replay in ("standin_gc", "standin_ifgc_paper"):
            assert case["methods"][replay]["clicks"] == case["methods"]["standin_ifgc"]["clicks"]
    for dim in ("2", "3"):
        summary = stored["summary"][dim]["methods"]
        assert set(summary) == expected
        assert len(summary["geos"]["dice"]) == 3
    statuses = {(t["target"], t["dim"]): t["status"] for t in stored["targets"]}
    assert statuses[("MIDeepSeg Dice > every classical peer at every click count", 2)] == "not evaluated"
    assert any("No 2D MIDeepSeg model" in n for n in stored["notes"])


def test_quick_mode_csv_and_report(quick_run):
    results, out = quick_run
    with open(str(out / "results.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    n_runs = sum(len(c["methods"]) for c in results["cases"])
    assert len(rows) == n_runs * 3
    assert {r["method"] for r in rows} >= {"geos", "standin_ifgc"}
    clicked = [r for r in rows if r["clicks"] != "0"]
    assert all(r["click_kind"] in ("foreground", "background") for r in clicked if r["click_position"])
    report = (out / "report.md").read_text()
    figures = ("dice_vs_clicks_2d.png", "overlays_3d.png") if HAVE_MATPLOTLIB else ("No figures: matplotlib",)
    for heading in ("## Targets", "Table 4 / Fig. 11", "Table 3", "Table 2", "## 2D (2 cases)",
                    "## 3D (1 cases)", "Quick mode", "stand-in") + figures:
        assert heading in report, heading


def test_deterministic_by_seed(quick_run, tmp_path, monkeypatch):
    results, _ = quick_run
    from MIDeepSegLib.model import checkpoint
    monkeypatch.setattr(checkpoint, "model_search_dirs", lambda: [tmp_path / "no-models"])
    again = benchmark.run_benchmark("synthetic", dims=(2, 3), quick=True, seed=3,
                                    peers=_installed(QUICK_PEERS), device="cpu", progress=False,
                                    models={2: None, 3: None})
    same = json.dumps(_strip_timings(_json_ready(results)), sort_keys=True)
    assert json.dumps(_strip_timings(_json_ready(again)), sort_keys=True) == same
    other = benchmark.run_benchmark("synthetic", dims=(2,), quick=True, seed=4, peers=["geos"], device="cpu",
                                    progress=False, models={2: None})
    assert other["cases"][0]["points"] != results["cases"][0]["points"]


def test_cli_quick(tmp_path, capsys):
    from MIDeepSegLib.cli import main

    out = tmp_path / "cli"
    code = main(["benchmark", "--quick", "--cases", "synthetic", "--dim", "2", "--peers", "geos", "--quiet",
                 "--device", "cpu", "--out", str(out)])
    assert code == 0
    assert (out / "report.md").is_file() and (out / "dice_vs_clicks_2d.png").is_file() == HAVE_MATPLOTLIB
    assert "wrote" in capsys.readouterr().out
    assert main(["benchmark", "--quick", "--cases", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert main(["benchmark", "--encoding-model", "egd", "--out", str(out)]) == 2


def test_network_rows_and_table2(tmp_path):
    """With checkpoints: MIDeepSeg's rows equal Segmenter.refine given the same clicks; Table 2 is filled."""
    from MIDeepSegLib.segmenter import Segmenter

    torch.manual_seed(0)
    paths = {}
    for encoding in ("egd", "gaussian"):
        config = ModelConfig(2, features=(4, 8), input_size=(16, 16), encoding=encoding)
        paths[encoding] = save_checkpoint(tmp_path / "{}.pt".format(encoding), build_model(config), config)
    results = benchmark.run_benchmark("synthetic", dims=(2,), quick=True, seed=1, peers=["geos"],
                                      device="cpu", progress=False, models={2: str(paths["egd"])},
                                      encoding_models={"gaussian": str(paths["gaussian"])},
                                      out_dir=tmp_path / "o")
    case = results["cases"][0]
    assert {"mideepseg", "mideepseg_gc", "mideepseg_ifgc_paper", "geos"} == set(case["methods"])
    assert set(case["encodings"]) == {"egd", "gaussian"}
    # Replaying the benchmark's clicks through the Segmenter gives the same Dice.
    scene = synthetic_cases(2, count=1, seed=1)[0]
    seg = Segmenter(scene.image, scene.spacing, model=str(paths["egd"]), device="cpu")
    dices = [dice(seg.initial(np.array(case["points"])).mask, scene.truth)]
    for point, foreground in case["methods"]["mideepseg"]["clicks"]:
        res = seg.refine(foreground=[point]) if foreground else seg.refine(background=[point])
        dices.append(dice(res.mask, scene.truth))
    run = case["methods"]["mideepseg"]["dice"]
    assert np.allclose(dices, run[:len(dices)], atol=1e-6)
    report = (tmp_path / "o" / "report.md").read_text()
    assert "Missing (no network trained with them): euclidean, geodesic, bbox." in report
    statuses = {(t["target"], t["dim"]): t["status"] for t in results["targets"]}
    assert statuses[("EGD initial Dice >= every other encoding", 2)] in ("met", "MISSED")
    assert statuses[("MIDeepSeg NoC@90 < every classical peer", 2)] in ("met", "MISSED")
    with pytest.raises(ValueError, match="encoding_models"):
        benchmark.run_benchmark("synthetic", dims=(2,), quick=True, peers=[], device="cpu", progress=False,
                                models={2: str(paths["egd"])}, encoding_models={"bbox": str(paths["egd"])})


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_clicks"):
        benchmark.run_benchmark("synthetic", max_clicks=-1, progress=False)
    with pytest.raises(ValueError, match="dim"):
        benchmark.run_benchmark("synthetic", dims=(4,), progress=False)
    with pytest.raises(ValueError, match="peers"):
        benchmark.run_benchmark("synthetic", peers=["magic_wand"], progress=False)
    with pytest.raises(ValueError, match="cases"):
        load_cases("no-such-set", 2)


# -- NoC and targets ------------------------------------------------------------------


def test_noc_on_hand_made_curves():
    assert clicks_to_reach([0.91, 0.95], 0.90) == 0
    assert clicks_to_reach([0.5, 0.86, 0.89, 0.90], 0.90) == 3
    assert clicks_to_reach([0.5, 0.86, 0.89, 0.90], 0.85) == 1
    assert clicks_to_reach([0.5, 0.6], 0.85) is None
    mean, reached = mean_noc([[0.9, 0.9, 0.9], [0.5, 0.9, 0.9], [0.1, 0.2, 0.3]], 0.90, 2)
    assert reached == 2 and mean == pytest.approx((0 + 1 + 3) / 3)
    assert np.isnan(mean_noc([], 0.9, 5)[0])


def _summary(ours, peer, gc, encodings):
    """A hand-made summary: (Dice curve, NoC@90) for MIDeepSeg and one peer, GC's curve, encodings' Dice."""
    methods = {"mideepseg": {"cases": 1, "dice": ours[0], "noc90": ours[1]},
               "graphcut": {"cases": 1, "dice": peer[0], "noc90": peer[1]},
               "mideepseg_gc": {"cases": 1, "dice": gc, "noc90": 0},
               "geos": {"cases": 1, "dice": [0.1, 0.1, 0.1], "noc90": 3.0}}
    return {"2": {"methods": methods, "encodings": {k: {"dice": v} for k, v in encodings.items()}}}


def test_targets_met_and_missed():
    met = benchmark.evaluate_targets(_summary(([0.8, 0.9, 0.95], 1.0), ([0.5, 0.7, 0.8], 3.0),
                                              [0.8, 0.85, 0.9], {"egd": 0.8, "bbox": 0.7}), [2])
    assert [t["status"] for t in met] == ["met"] * 4
    missed = benchmark.evaluate_targets(_summary(([0.8, 0.9, 0.95], 3.0), ([0.5, 0.95, 0.8], 2.0),
                                                 [0.8, 0.95, 0.9], {"egd": 0.6, "bbox": 0.7}), [2])
    assert [t["status"] for t in missed] == ["MISSED"] * 4
    assert "1 click" in missed[0]["detail"] and "bbox" in missed[2]["detail"]
    nothing = benchmark.evaluate_targets({}, [3])
    assert {t["status"] for t in nothing} == {"not evaluated"}


# -- peers ----------------------------------------------------------------------------


def _easy_case(ndim, seed=0):
    """A bright ellipse / ellipsoid (anisotropic voxels), interior margin points, two background clicks."""
    rng = np.random.default_rng(seed)
    shape, spacing = ((48, 40), SPACING_2D) if ndim == 2 else ((16, 36, 32), SPACING_3D)
    image, truth = make_blob_image(shape, rng, noise=0.03)
    points = interior_margin_points(truth, rng, spacing)
    box = relaxed_bbox(points, shape, spacing, 4.0)
    outside = np.argwhere(~truth[box]) + np.array([s.start for s in box])
    background = outside[rng.choice(len(outside), 2, replace=False)].astype(float)
    return image, truth, spacing, points, background, box


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("name", list(peers.PEERS))
def test_peers_respect_clicks_and_segment_an_easy_object(name, ndim):
    if name not in peers.available_peers():
        pytest.skip("{} is not installed".format(name))
    image, truth, spacing, points, background, box = _easy_case(ndim)
    mask = peers.PEERS[name](image, spacing, points, background, box)
    assert mask.dtype == np.uint8 and mask.shape == image.shape
    assert mask[tuple(np.rint(points).astype(int).T)].all()
    assert not mask[tuple(background.astype(int).T)].any()
    outside = np.ones(image.shape, bool)
    outside[box] = False
    assert not mask[outside].any()
    assert dice(mask, truth) > 0.8, dice(mask, truth)


def test_box_border_is_background_except_on_the_image_edge():
    shape = (10, 12)
    box = (slice(0, 6), slice(3, 12))
    seeds = peers._border_seeds(box, shape)
    assert seeds.shape == (6, 9)
    assert not seeds[0, 1:-1].any()       # top face lies on the image edge
    assert not seeds[1:-1, -1].any()      # right face too
    assert seeds[-1].all() and seeds[:, 0].all()
    every = peers._border_seeds((slice(0, 10), slice(0, 12)), shape)
    assert every[0].all() and every[-1].all() and every[:, 0].all() and not every[1:-1, 1:-1].any()


def test_peers_bad_input():
    image, truth, spacing, points, background, box = _easy_case(2)
    with pytest.raises(ValueError, match="fg_points"):
        peers.geos(image, spacing, np.zeros((0, 2)), background, box)
    with pytest.raises(ValueError, match="outside box"):
        peers.geos(image, spacing, points, [[0.0, 0.0]], (slice(5, 40), slice(5, 35)))
    with pytest.raises(ValueError, match="share the voxel"):
        peers.boykov_jolly(image, spacing, points, points[:1], box)
    with pytest.raises(ValueError, match="spacing"):
        peers.geos(image, (1.0,), points, background, box)
    with pytest.raises(ValueError, match="box"):
        peers.geos(image, spacing, points, background, (slice(0, 5),))
    with pytest.raises(ValueError, match="bins"):
        peers.boykov_jolly(image, spacing, points, background, box, bins=1)
    with pytest.raises(ValueError, match="image"):
        peers.geos(np.zeros(5), None, [[1]], [], None)


# -- charts ---------------------------------------------------------------------------


def test_charts(tmp_path):
    pytest.importorskip("matplotlib", reason="the benchmark's figures need matplotlib (the benchmark/test extras)")
    from matplotlib.image import imread

    from MIDeepSegLib.evaluation.plots import bar_chart, line_chart

    line = line_chart(tmp_path / "l.png", [("a", [0.5, 0.7, np.nan]), ("b", [0.6, 0.6, 0.9])], [0, 1, 2],
                      title="t", x_label="clicks", y_label="Dice")
    bars = bar_chart(tmp_path / "b.png", ["0", "1", ">1"], [("a", [1, 0, 2]), ("b", [0, 3, 0])], title="h",
                     x_label="clicks", y_label="cases")
    for path in (line, bars):
        rgb = imread(str(path))
        assert rgb.shape[:2] == (500, 800) and (rgb[..., :3] < 0.9).any()  # something drawn on white
    with pytest.raises(ValueError, match="series"):
        line_chart(tmp_path / "x.png", [("a", [0.5])], [0, 1], title="t", x_label="x", y_label="y")


def test_folder_cases(tmp_path):
    """A folder data set (imagesTr/labelsTr, NIfTI) gives one 3D case per label, three 2D slices per label."""
    import SimpleITK as sitk

    (tmp_path / "imagesTr").mkdir()
    (tmp_path / "labelsTr").mkdir()
    scene = synthetic_cases(3, count=1, seed=0)[0]
    labels = scene.truth.astype(np.uint8)
    labels[:3, :4, :4] = 2  # a second, small object
    for folder, array in (("imagesTr", scene.image), ("labelsTr", labels)):
        img = sitk.GetImageFromArray(array)
        img.SetSpacing(tuple(reversed(scene.spacing)))
        sitk.WriteImage(img, str(tmp_path / folder / "case01.nii.gz"))
    cases3 = load_cases(str(tmp_path), 3)
    assert [c.name for c in cases3] == ["case01:label1", "case01:label2"]
    assert np.allclose(cases3[0].spacing, scene.spacing)
    assert cases3[0].truth.sum() == scene.truth.sum()
    cases2 = load_cases(str(tmp_path), 2)
    assert len(cases2) == 6 and all(c.image.ndim == 2 for c in cases2)
    assert len(load_cases(str(tmp_path), 2, quick=True)) == 2
