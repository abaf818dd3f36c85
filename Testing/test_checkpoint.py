"""Tests for MIDeepSegLib.model.checkpoint: file format, loading errors, model lookup, devices."""

import zipfile

import pytest
import torch

from MIDeepSegLib.model import checkpoint as ck
from MIDeepSegLib._device import resolve_device
from MIDeepSegLib.model.checkpoint import (
    CheckpointError,
    ModelConfig,
    build_model,
    load_checkpoint,
    resolve_model,
    save_checkpoint,
)
from MIDeepSegLib.model.network import UNet


def _small_config(**kwargs):
    values = {"spatial_dims": 2, "features": (4, 8, 16), "input_size": (32, 32),
                  "card": {"training_data": "synthetic discs", "validation": {"dice": 0.9}}}
    values.update(kwargs)
    return ModelConfig(**values)


def _trained_like(config, seed=0):
    """A model with non-default weights (random norm affine parameters too)."""
    torch.manual_seed(seed)
    model = build_model(config)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model.eval()


@pytest.fixture
def saved(tmp_path):
    config = _small_config()
    model = _trained_like(config)
    path = save_checkpoint(tmp_path / "model.pt", model, config)
    return path, model, config


@pytest.mark.parametrize("half, tolerance", [(False, 0.0), (True, 5e-2)])
@pytest.mark.parametrize("dims, features, size", [(2, (4, 8, 16), (32, 32)), (3, (4, 8), (8, 12, 12))])
def test_round_trip_same_outputs(tmp_path, half, tolerance, dims, features, size):
    config = ModelConfig(spatial_dims=dims, features=features, input_size=size, margin_mm=3.5)
    model = _trained_like(config)
    path = save_checkpoint(tmp_path / "m.pt", model, config, half=half)
    loaded, loaded_config = load_checkpoint(path)
    assert isinstance(loaded, UNet) and not loaded.training
    assert loaded_config == config
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = torch.randn((1, 2) + size)
    with torch.no_grad():
        expected, got = model(x), loaded(x)
    assert torch.allclose(got, expected, atol=tolerance, rtol=tolerance)


def test_half_precision_halves_the_file(tmp_path):
    # Big enough that the zip container's per-tensor overhead does not dominate.
    config = _small_config(features=(16, 32, 64, 128))
    model = _trained_like(config)
    full = save_checkpoint(tmp_path / "full.pt", model, config).stat().st_size
    half = save_checkpoint(tmp_path / "half.pt", model, config, half=True).stat().st_size
    assert half < 0.6 * full


def test_file_layout_is_plain_data(saved):
    path, _, config = saved
    payload = torch.load(str(path), map_location="cpu", weights_only=True)
    assert payload["format"] == "mideepseg-checkpoint"
    assert payload["format_version"] == 1
    stored = payload["config"]
    assert stored["features"] == [4, 8, 16] and stored["input_size"] == [32, 32]
    assert stored["normalisation"] == "zscore" and stored["encoding"] == "egd"
    assert stored["card"]["validation"] == {"dice": 0.9}
    assert set(payload["state_dict"]) == set(build_model(config).state_dict())


def test_config_defaults_follow_the_paper():
    assert ModelConfig(2).input_size == (64, 64)
    assert ModelConfig(3).input_size == (64, 96, 96)
    assert ModelConfig(2).features == (16, 32, 64, 128, 256)
    assert ModelConfig(2).normalisation == "zscore"


@pytest.mark.parametrize("kwargs, name", [
    ({"spatial_dims": 4}, "spatial_dims"),
    ({"input_size": (32,)}, "input_size"),
    ({"input_size": (30, 32)}, "multiple of 4"),
    ({"features": (8,)}, "features"),
    ({"margin_mm": -1.0}, "margin_mm"),
    ({"margin_mm": float("nan")}, "margin_mm"),
    ({"normalisation": ""}, "normalisation"),
])
def test_invalid_config_raises(kwargs, name):
    with pytest.raises(ValueError, match=name):
        _small_config(**kwargs)


def test_card_must_be_a_json_dict(tmp_path):
    with pytest.raises(TypeError, match="card must be a dict"):
        _small_config(card=["not", "a", "dict"])
    config = _small_config(card={"when": object()})
    with pytest.raises(ValueError, match="JSON"):
        save_checkpoint(tmp_path / "m.pt", build_model(config), config)


def test_save_rejects_model_not_matching_config(tmp_path):
    config = _small_config()
    other = UNet(2, 2, 2, (4, 8))
    with pytest.raises(ValueError, match="does not match config"):
        save_checkpoint(tmp_path / "m.pt", other, config)
    assert not list(tmp_path.iterdir())


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.pt"):
        load_checkpoint(tmp_path / "nothere.pt")


def test_truncated_file(saved, tmp_path):
    path = saved[0]
    data = path.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated.pt is not a readable checkpoint"):
        load_checkpoint(truncated)


def test_not_a_torch_file(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("these are not weights")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)


def test_bare_state_dict(tmp_path):
    path = tmp_path / "bare.pt"
    torch.save(UNet(2, 2, 2, (4, 8)).state_dict(), str(path))
    with pytest.raises(CheckpointError, match="bare state dict"):
        load_checkpoint(path)


def test_foreign_torch_file(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"epoch": 3, "weights": [1.0, 2.0]}, str(path))
    with pytest.raises(CheckpointError, match="not a MIDeepSeg checkpoint"):
        load_checkpoint(path)


class _Payload:
    """Stands for an arbitrary object a malicious or foreign pickle could carry."""


def test_arbitrary_pickled_object_is_refused(tmp_path):
    path = tmp_path / "pickle.pt"
    torch.save({"format": "mideepseg-checkpoint", "format_version": 1, "config": {}, "state_dict": {},
                "extra": _Payload()}, str(path))
    with pytest.raises(CheckpointError, match="weights_only"):
        load_checkpoint(path)


def test_newer_format_version(saved, tmp_path):
    payload = torch.load(str(saved[0]), weights_only=True)
    payload["format_version"] = 99
    path = tmp_path / "future.pt"
    torch.save(payload, str(path))
    with pytest.raises(CheckpointError, match="format version 99.*upgrade"):
        load_checkpoint(path)


@pytest.mark.parametrize("change, message", [
    (lambda p: p["config"].update(features=[4, 8, 32]), "shape mismatch"),
    (lambda p: p["config"].update(features=[4, 8]), "unexpected keys"),
    (lambda p: p["state_dict"].pop("head.weight"), "missing keys"),
    (lambda p: p["config"].update(input_size=[30, 30]), "invalid model configuration"),
])
def test_config_weights_mismatch(saved, tmp_path, change, message):
    payload = torch.load(str(saved[0]), weights_only=True)
    change(payload)
    path = tmp_path / "bad.pt"
    torch.save(payload, str(path))
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_unknown_config_key_warns(saved, tmp_path):
    payload = torch.load(str(saved[0]), weights_only=True)
    payload["config"]["future_option"] = 1
    path = tmp_path / "extra.pt"
    torch.save(payload, str(path))
    with pytest.warns(UserWarning, match="future_option"):
        load_checkpoint(path)


def test_checkpoint_is_a_zip_with_no_code(saved):
    # torch.save's zip format; weights_only loading never imports MIDeepSegLib classes.
    with zipfile.ZipFile(saved[0]) as archive:
        pickled = next(n for n in archive.namelist() if n.endswith("data.pkl"))
        assert b"MIDeepSegLib" not in archive.read(pickled)


def test_resolve_model_search_order(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (second / "mideepseg_3d.pt").write_bytes(b"x")
    (first / "mideepseg_3d.pt").write_bytes(b"x")
    monkeypatch.setenv(ck.MODELS_DIR_ENV, "{}{}{}".format(first, __import__("os").pathsep, second))
    assert resolve_model("3d") == first / "mideepseg_3d.pt"
    assert resolve_model("3D") == first / "mideepseg_3d.pt"
    (second / "custom.pt").write_bytes(b"x")
    assert resolve_model("custom.pt") == second / "custom.pt"
    assert resolve_model(second / "custom.pt") == second / "custom.pt"


def test_resolve_model_not_found_lists_places(tmp_path, monkeypatch):
    monkeypatch.setenv(ck.MODELS_DIR_ENV, str(tmp_path / "empty"))
    # a name whose file is not shipped, wherever the test runs
    monkeypatch.setitem(ck.MODEL_FILES, "2d", "not_shipped_2d.pt")
    with pytest.raises(FileNotFoundError) as info:
        resolve_model("2d")
    message = str(info.value)
    assert "not_shipped_2d.pt" in message and str(tmp_path / "empty") in message
    assert "Resources" in message and "training pipeline" in message
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        resolve_model(tmp_path / "missing" / "model.pt")


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    with pytest.raises(ValueError, match="index"):
        resolve_device("cuda:x")
    with pytest.raises(TypeError, match="device"):
        resolve_device(3)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message where CUDA is absent")
def test_cuda_unavailable_message():
    with pytest.raises(ValueError, match="CUDA is not available.*cpu"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda:1")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_load_on_cuda(saved):
    model, _ = load_checkpoint(saved[0], device="cuda")
    assert next(model.parameters()).is_cuda
