"""MIDeepSegLib._device: the devices torch offers, and the trial run that decides where a model runs."""

import pytest
import torch

from MIDeepSegLib._device import available_devices, checked_device, resolve_device, runs_on
from MIDeepSegLib.model.checkpoint import load_checkpoint, resolve_model


@pytest.fixture(scope="module")
def model_2d():
    return load_checkpoint(resolve_model("2d"), device="cpu")


def test_available_devices_lists_what_torch_sees():
    names = available_devices()
    assert names[0] == "cpu"
    cuda = [n for n in names if n.startswith("cuda:")]
    assert cuda == [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() \
        else cuda == []
    assert ("mps" in names) == bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    for name in names:  # every listed name resolves
        assert resolve_device(name).type == name.split(":")[0]


def test_the_shipped_model_runs_on_the_cpu_and_stays_where_it_was(model_2d):
    network, config = model_2d
    assert runs_on(network, "cpu", config.in_channels, config.input_size)
    assert next(network.parameters()).device.type == "cpu"
    assert checked_device("cpu", network, config.in_channels, config.input_size) == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA, where the trial fails")
def test_a_device_the_model_cannot_run_on_fails_the_trial_and_auto_falls_back(model_2d):
    network, config = model_2d
    assert not runs_on(network, "cuda", config.in_channels, config.input_size)  # a real failure, logged
    assert next(network.parameters()).device.type == "cpu"
    # here auto resolves to the CPU (no CUDA; MPS only on macOS): the trial is skipped and the CPU kept
    assert checked_device("auto", network, config.in_channels, config.input_size).type in ("cpu", "mps")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_the_model_runs_on_each_listed_gpu(model_2d):
    network, config = model_2d
    for name in available_devices()[1:]:
        assert runs_on(network, name, config.in_channels, config.input_size), name
        assert checked_device(name, network, config.in_channels, config.input_size) == torch.device(name)
