"""Tests for MIDeepSegLib.model.network: the 2D / 3D UNet."""

import pytest
import torch

from MIDeepSegLib.model.network import UNet

# (spatial_dims, in_channels, out_channels, features, input spatial size)
SHAPE_CASES = [
    (2, 2, 2, (16, 32, 64, 128, 256), (64, 64)),          # the paper's 2D network and input
    (2, 2, 2, (16, 32, 64, 128, 256), (32, 48)),          # non-square
    (2, 1, 3, (4, 8), (6, 10)),                           # shallow: multiple of 2, odd multiples
    (2, 3, 1, (4, 8, 16), (12, 20)),
    (3, 2, 2, (8, 16, 32, 64), (16, 24, 40)),             # light CPU 3D network, anisotropic input
    (3, 1, 2, (4, 8, 16), (4, 12, 8)),
]


@pytest.mark.parametrize("dims, cin, cout, features, size", SHAPE_CASES)
def test_output_shape_and_dtype(dims, cin, cout, features, size):
    torch.manual_seed(0)
    net = UNet(dims, cin, cout, features).eval()
    x = torch.randn((2, cin) + size)
    with torch.no_grad():
        y = net(x)
    assert y.shape == (2, cout) + size
    assert y.dtype == torch.float32
    assert torch.isfinite(y).all()


def test_paper_size_parameter_count():
    # Channels 16..256 (the original UNet's divided by four); the released demo net has ~2.75 M
    # because its transposed convolutions are 3x3 and keep the channel count.
    net = UNet(2, 2, 2)
    count = sum(p.numel() for p in net.parameters())
    assert count == 1_943_922
    assert 1.9e6 <= count <= 2.8e6


def test_instance_norm_is_affine_and_no_batch_norm():
    net = UNet(3, 2, 2, (4, 8, 16))
    norms = [m for m in net.modules() if isinstance(m, torch.nn.InstanceNorm3d)]
    assert norms and all(m.affine for m in norms)
    assert not any(isinstance(m, (torch.nn.BatchNorm3d, torch.nn.Dropout)) for m in net.modules())


def test_relu_activation_and_backward():
    net = UNet(2, 2, 2, (4, 8), activation="relu")
    assert any(isinstance(m, torch.nn.ReLU) for m in net.modules())
    x = torch.randn(1, 2, 8, 8, requires_grad=True)
    net(x).sum().backward()
    assert x.grad is not None and net.head.weight.grad is not None


def test_float64_input_gives_float64_logits():
    net = UNet(2, 2, 2, (4, 8)).double()
    assert net(torch.randn(1, 2, 8, 8, dtype=torch.float64)).dtype == torch.float64


@pytest.mark.parametrize("size, message", [
    ((60, 64), "multiple of 16"),
    ((64, 17), "multiple of 16"),
    ((16, 16), "too small"),
])
def test_bad_spatial_size_raises(size, message):
    net = UNet(2, 2, 2)
    with pytest.raises(ValueError, match=message):
        net(torch.zeros((1, 2) + size))


def test_size_multiple():
    assert UNet(2, 2, 2).size_multiple == 16
    assert UNet(3, 2, 2, (8, 16, 32, 64)).size_multiple == 8


def test_wrong_input_rank_or_channels_raises():
    net = UNet(3, 2, 2, (4, 8))
    with pytest.raises(ValueError, match="5 dimensions"):
        net(torch.zeros(1, 2, 8, 8))
    with pytest.raises(ValueError, match="in_channels=2"):
        net(torch.zeros(1, 3, 8, 8, 8))


@pytest.mark.parametrize("kwargs, name", [
    ({"spatial_dims": 1}, "spatial_dims"),
    ({"spatial_dims": 4}, "spatial_dims"),
    ({"spatial_dims": True}, "spatial_dims"),
    ({"in_channels": 0}, "in_channels"),
    ({"out_channels": 2.5}, "out_channels"),
    ({"features": (16,)}, "features"),
    ({"features": 16}, "features"),
    ({"features": (16, 0)}, r"features\[1\]"),
    ({"features": (16, -32, 64)}, r"features\[1\]"),
    ({"activation": "gelu"}, "activation"),
])
def test_invalid_config_raises(kwargs, name):
    args = {"spatial_dims": 2, "in_channels": 2, "out_channels": 2, "features": (4, 8)}
    args.update(kwargs)
    activation = args.pop("activation", "leaky_relu")
    with pytest.raises(ValueError, match=name):
        UNet(**args, activation=activation)
