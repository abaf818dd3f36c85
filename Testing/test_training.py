"""Training: loss, schedule, checkpoints, resume, CLI and 2-process DDP (MIDeepSegLib.training.loop)."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from MIDeepSegLib.model.checkpoint import ModelConfig, load_checkpoint
from MIDeepSegLib.segmenter import Segmenter
from MIDeepSegLib.training.shapes import ShapeSynthesis
from MIDeepSegLib.training.loop import dice_loss, learning_rate, load_train_state, train, train_state_path

ROOT = Path(__file__).resolve().parent.parent
TINY = dict(features=(8, 16, 32), input_size=(32, 32))
SHAPES = ShapeSynthesis(max_shape={2: 96, 3: 40}, extent_vox={2: (12, 48), 3: (8, 20)})


def test_dice_loss():
    target = torch.zeros(2, 8, 8, dtype=torch.uint8)
    target[:, 2:6, 2:6] = 1
    perfect = torch.stack([(1 - target.float()) * 20 - 10, target.float() * 20 - 10], dim=1)
    assert float(dice_loss(perfect, target)) < 1e-3
    assert float(dice_loss(-perfect, target)) > 0.99
    with pytest.raises(ValueError, match="logits"):
        dice_loss(perfect[:, :1], target)


def test_learning_rate_schedule():
    # paper, 2D: 300 epochs, constant for 150, then halved every 30
    lrs = [learning_rate(i, 300, 1e-4) for i in range(300)]
    assert lrs[0] == lrs[149] == 1e-4
    assert lrs[150] == lrs[179] == 5e-5 and lrs[180] == 2.5e-5 and lrs[299] == 1e-4 / 32
    assert learning_rate(10, 100, 1e-3, constant=5, halve_every=2) == 1e-3 / 8


def test_train_state_path():
    assert train_state_path("a/model.pt").name == "model.train.pt"
    assert train_state_path("model.ckpt").name == "model.ckpt.train.pt"


def test_training_lowers_the_loss_and_writes_a_usable_checkpoint(tmp_path):
    out = tmp_path / "model.pt"
    threads = torch.get_num_threads()
    summary = train(ModelConfig(2, **TINY), SHAPES, out, iterations=40, batch_size=4, lr=2e-3, val_every=10,
                    val_size=8, device="cpu", progress=False, command="pytest", threads=1)
    assert torch.get_num_threads() == threads  # restored
    history = summary["history"]
    assert [h["iteration"] for h in history] == [10, 20, 30, 40]
    assert history[-1]["loss"] < history[0]["loss"] - 0.02
    assert 0 <= history[-1]["val_dice"] <= 1
    network, config = load_checkpoint(out)
    training = config.card["training"]
    assert training["iterations_done"] == 40 and training["command"] == "pytest"
    assert training["input_grid"] == [32, 32] and training["encoding"] == "egd"
    assert training["data"]["source"] == "random shapes" and "hardware" in training
    assert config.card["validation"] is None
    json.dumps(config.card)
    # the Segmenter runs it, from the file
    rng = np.random.default_rng(0)
    image = rng.random((50, 60)).astype(np.float32)
    image[15:35, 20:45] += 1
    result = Segmenter(image, (1.0, 1.0), model=str(out), device="cpu").initial(
        [[16, 30], [34, 30], [25, 21], [25, 44]])
    assert result.mask.shape == image.shape
    assert train_state_path(out).is_file()


def test_resume_gives_the_uninterrupted_result(tmp_path):
    config = ModelConfig(2, **TINY)
    options = dict(iterations=8, batch_size=2, lr=1e-3, val_every=2, val_size=2, device="cpu", progress=False,
                   threads=1)
    train(config, SHAPES, tmp_path / "a.pt", **options)
    train(config, SHAPES, tmp_path / "b.pt", stop_at=4, **options)
    assert load_train_state(tmp_path / "b.train.pt")["iteration"] == 4
    train(config, SHAPES, tmp_path / "b.pt", resume=True, **options)
    a, b = load_train_state(tmp_path / "a.train.pt"), load_train_state(tmp_path / "b.train.pt")
    assert b["iteration"] == 8
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    assert a["history"] == b["history"]


def test_resume_refuses_a_different_configuration(tmp_path):
    options = dict(iterations=4, batch_size=2, val_every=2, val_size=2, device="cpu", progress=False,
                   threads=1)
    train(ModelConfig(2, **TINY), SHAPES, tmp_path / "m.pt", stop_at=2, **options)
    with pytest.raises(ValueError, match="different configuration"):
        train(ModelConfig(2, features=(8, 16, 32), input_size=(64, 64)), SHAPES, tmp_path / "m.pt",
              resume=True, **options)
    with pytest.raises(FileNotFoundError):
        train(ModelConfig(2, **TINY), SHAPES, tmp_path / "other.pt", resume=True, **options)


def test_train_validates_arguments(tmp_path):
    with pytest.raises(ValueError, match="iterations"):
        train(ModelConfig(2, **TINY), SHAPES, tmp_path / "m.pt", iterations=0)
    with pytest.raises(ValueError, match="threads"):
        train(ModelConfig(2, **TINY), SHAPES, tmp_path / "m.pt", threads=0)
    with pytest.raises(ValueError, match="config"):
        train({"spatial_dims": 2}, SHAPES, tmp_path / "m.pt")
    with pytest.raises(ValueError, match="sources"):
        train(ModelConfig(2, **TINY), 42, tmp_path / "m.pt", iterations=1, device="cpu", progress=False)


def test_cli_train_3d(tmp_path, capsys):
    from MIDeepSegLib.cli import main

    out = tmp_path / "m3.pt"
    assert main(["train", "--dim", "3", "--data", "shapes", "--features", "4", "8", "16",
                 "--input-size", "16", "24", "24", "--iterations", "2", "--batch-size", "1",
                 "--val-every", "2", "--val-size", "1", "--device", "cpu", "--threads", "1",
                 "--out", str(out)]) == 0
    _, config = load_checkpoint(out)
    assert config.spatial_dims == 3 and config.input_size == (16, 24, 24)
    assert "loss" in capsys.readouterr().err


def test_cli_train_shape_kinds(tmp_path, capsys):
    from MIDeepSegLib.cli import main

    common = ["train", "--dim", "2", "--data", "shapes", "--features", "4", "8", "--input-size", "16", "16",
              "--iterations", "1", "--batch-size", "1", "--val-size", "1", "--device", "cpu", "--threads", "1",
              "--quiet"]
    out = tmp_path / "m.pt"
    assert main(common + ["--shape-kinds", "compound=3", "blob=1", "--out", str(out)]) == 0
    _, config = load_checkpoint(out)
    assert config.card["training"]["data"]["parts"][0]["kinds"] == {"compound": 0.75, "blob": 0.25}
    for bad, message in [("blob", "KIND=PROBABILITY"), ("star=1", "kinds must map")]:
        assert main(common + ["--shape-kinds", bad, "--out", str(tmp_path / "x.pt")]) == 2
        assert message in capsys.readouterr().err
    # --cut-p: recorded in the model card's augmentation entry
    assert main(common + ["--cut-p", "0.3", "--out", str(out)]) == 0
    _, config = load_checkpoint(out)
    assert config.card["training"]["augmentation"] == ("rotation, scaling, flips, gamma, intensity inversion, "
                                                       "scene cut through the object (p 0.3)")
    capsys.readouterr()
    assert main(common + ["--cut-p", "2", "--out", str(tmp_path / "x.pt")]) == 2
    assert "cut_p must be a probability in [0, 1], got 2.0" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


def test_cli_train_reports_bad_data(tmp_path, capsys):
    from MIDeepSegLib.cli import main

    assert main(["train", "--dim", "2", "--data", "nowhere", "--out", str(tmp_path / "m.pt")]) == 2
    assert "nowhere" in capsys.readouterr().err


@pytest.mark.skipif(sys.platform == "win32", reason="uses POSIX process groups")
def test_ddp_two_processes_gloo(tmp_path):
    """torchrun with 2 CPU processes: both train (gloo), rank 0 writes one checkpoint."""
    out = tmp_path / "ddp.pt"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "MIDeepSegLib.cli", "train", "--dim", "2", "--data", "shapes",
               "--features", "8", "16", "32",
               "--input-size", "32", "32", "--iterations", "4", "--batch-size", "2", "--val-every", "2",
               "--val-size", "2", "--device", "cpu", "--out", str(out)]
    # own session: on a timeout the whole group (torchrun and its workers) is killed, none is left behind
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               cwd=str(tmp_path), start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail("torchrun timed out:\n" + stdout + stderr)
    assert process.returncode == 0, stdout + stderr
    _, config = load_checkpoint(out)
    assert config.card["training"]["processes"] == 2
    assert load_train_state(train_state_path(out))["iteration"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp.pt", "ddp.train.pt"]
    assert stderr.count("wrote ") == 1  # only rank 0 writes and reports


def test_init_starts_from_a_checkpoint_and_records_it(tmp_path):
    from MIDeepSegLib.model.checkpoint import load_checkpoint
    from MIDeepSegLib.evaluation.modelcard import render_model_card

    config = ModelConfig(2, **TINY)
    options = dict(batch_size=2, lr=1e-3, val_every=2, val_size=2, device="cpu", progress=False)
    first = tmp_path / "first.pt"
    train(config, SHAPES, first, iterations=4, **options)
    # lr ~ 0: the fine-tuned weights stay those of the starting checkpoint
    tuned = tmp_path / "tuned.pt"
    train(config, SHAPES, tuned, iterations=2, init=first, **dict(options, lr=1e-12))
    a, _ = load_checkpoint(first, device="cpu")
    b, card_config = load_checkpoint(tuned, device="cpu")
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        torch.testing.assert_close(x, y, atol=1e-3, rtol=0, msg=name)
    scratch = tmp_path / "scratch.pt"
    train(config, SHAPES, scratch, iterations=2, seed=7, **dict(options, lr=1e-12))
    c, _ = load_checkpoint(scratch, device="cpu")
    assert not all(torch.allclose(x, y, atol=1e-3) for x, y in zip(a.state_dict().values(),
                                                                     c.state_dict().values()))
    start = card_config.card["initialised_from"]
    assert start["checkpoint"] == str(first) and start["training"]["iterations_done"] == 4
    assert "Initialised from" in render_model_card(card_config)
    # A second stage on other data records the whole chain, and the card says which data differed.
    blobs = ShapeSynthesis(kinds={"blob": 1.0}, max_shape={2: 64, 3: 32})
    again = tmp_path / "again.pt"
    train(config, blobs, again, iterations=2, init=tuned, **options)
    _, chain_config = load_checkpoint(again, device="cpu")
    chain = chain_config.card["initialised_from"]
    assert chain["checkpoint"] == str(tuned) and chain["initialised_from"]["checkpoint"] == str(first)
    row = [line for line in render_model_card(chain_config).splitlines() if "Initialised from" in line][0]
    assert row.index(str(tuned)) < row.index(str(first))
    assert row.count("on other data (random shapes") == 2  # both earlier stages drew every shape kind
    with pytest.raises(ValueError, match="init: .* different architecture"):
        train(ModelConfig(2, features=(8, 16, 24), input_size=(32, 32)), SHAPES, tmp_path / "x.pt",
              iterations=1, init=first, **options)
    # The UNet is fully convolutional: fine-tuning at a finer input grid keeps the weights,
    # and the card says which grid they were trained at.
    finer = tmp_path / "finer.pt"
    train(ModelConfig(2, features=(8, 16, 32), input_size=(48, 48)), SHAPES, finer, iterations=2,
          init=first, **dict(options, lr=1e-12))
    d, finer_config = load_checkpoint(finer, device="cpu")
    for (name, x), (_, y) in zip(a.state_dict().items(), d.state_dict().items()):
        torch.testing.assert_close(x, y, atol=1e-3, rtol=0, msg=name)
    assert finer_config.input_size == (48, 48)
    assert finer_config.card["initialised_from"]["input_size"] == [32, 32]
    assert "at input grid 32 x 32" in render_model_card(finer_config)
    assert "at input grid" not in render_model_card(chain_config)
