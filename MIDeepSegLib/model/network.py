"""The segmentation network: one UNet for 2D and 3D crops.

MIDeepSeg does not depend on a particular CNN (paper, Section 2.3); it uses the
2D UNet of Ronneberger et al. and the 3D UNet of Cicek et al. with two changes:
batch normalisation is replaced by instance normalisation, which adapts better
to images of unseen modalities, and every layer has four times fewer channels
(16, 32, 64, 128 and a 256-channel bridge instead of 64 ... 1024).

The input is the cropped image and its cue map stacked as channels; the output
is one logit per class and voxel. Softmax, thresholds and any post-processing
live outside the network.
"""

import numbers

import torch
from torch import nn

#: Activation functions the network can be built with (name -> constructor).
ACTIVATIONS = {
    "leaky_relu": lambda: nn.LeakyReLU(negative_slope=0.01, inplace=True),
    "relu": lambda: nn.ReLU(inplace=True),
}

# One entry per spatial_dims: (convolution, instance norm, max-pool, transposed convolution).
_LAYERS = {
    2: (nn.Conv2d, nn.InstanceNorm2d, nn.MaxPool2d, nn.ConvTranspose2d),
    3: (nn.Conv3d, nn.InstanceNorm3d, nn.MaxPool3d, nn.ConvTranspose3d),
}


class _DoubleConv(nn.Sequential):
    """Two (3x3[x3] convolution -> instance norm -> activation) layers."""

    def __init__(self, spatial_dims, in_channels, out_channels, activation):
        conv, norm, _, _ = _LAYERS[spatial_dims]
        layers = []
        for channels in (in_channels, out_channels):
            layers += [
                conv(channels, out_channels, kernel_size=3, padding=1),
                # affine=True: a learnt scale and shift per channel (PyTorch defaults to none).
                norm(out_channels, affine=True),
                ACTIVATIONS[activation](),
            ]
        super().__init__(*layers)


class _Down(nn.Sequential):
    """Halve the spatial size with a 2x max-pool, then a double convolution."""

    def __init__(self, spatial_dims, in_channels, out_channels, activation):
        _, _, pool, _ = _LAYERS[spatial_dims]
        super().__init__(
            pool(kernel_size=2, stride=2),
            _DoubleConv(spatial_dims, in_channels, out_channels, activation),
        )


class _Up(nn.Module):
    """Double the spatial size with a transposed convolution, concatenate the skip, convolve."""

    def __init__(self, spatial_dims, in_channels, skip_channels, out_channels, activation):
        super().__init__()
        _, _, _, transposed = _LAYERS[spatial_dims]
        self.upsample = transposed(in_channels, skip_channels, kernel_size=2, stride=2)
        self.conv = _DoubleConv(spatial_dims, 2 * skip_channels, out_channels, activation)

    def forward(self, x, skip):
        return self.conv(torch.cat([skip, self.upsample(x)], dim=1))


def positive_int(value, name):
    """Return `value` as an int, or raise ValueError naming `name` if it is not a positive integer."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def parse_features(features):
    """Return `features` as a tuple of at least 2 positive ints (channels per level, bridge last)."""
    if isinstance(features, (str, bytes)) or not hasattr(features, "__len__") or len(features) < 2:
        raise ValueError(
            "features must be a sequence of at least 2 channel counts (one per level, bridge last), "
            f"got {features!r}")
    return tuple(positive_int(f, f"features[{i}]") for i, f in enumerate(features))


class UNet(nn.Module):
    """UNet (2D) / 3D UNet with instance normalisation, returning logits.

    Parameters
    ----------
    spatial_dims : {2, 3}
        2 for (H, W) inputs, 3 for (D, H, W) inputs.
    in_channels : int
        Input channels; MIDeepSeg uses 2 (image crop, EGD cue map).
    out_channels : int
        Output channels (classes); MIDeepSeg uses 2 (background, foreground).
    features : sequence of int, length >= 2
        Channels of each resolution level, from the full-resolution level to
        the bridge. The default ``(16, 32, 64, 128, 256)`` is the paper's
        network: the original UNet's channels divided by four. A lighter 3D
        network for CPU use is e.g. ``(8, 16, 32, 64)``.
    activation : {"leaky_relu", "relu"}, keyword-only
        Non-linearity after every instance norm (LeakyReLU slope 0.01).

    Notes
    -----
    Each level is two 3x3(x3) convolutions, each followed by an instance norm
    (affine) and the activation. The encoder goes down with 2x max-pools, the
    decoder up with 2x2(x2) stride-2 transposed convolutions to the skip's
    channel count, then concatenates the skip connection. A 1x1(x1)
    convolution gives the logits. There is no dropout.

    With the default features, 2 input and 2 output channels the 2D network
    has 1,943,922 parameters. (The released MIDeepSeg demo network has about
    2.75 M because its transposed convolutions are 3x3 and keep the channel
    count; the architecture here is the classic UNet one.)

    The network does **not** pad: every spatial size of the input must be a
    multiple of ``2 ** (len(features) - 1)`` (:attr:`size_multiple`: 16 for
    the default), which the MIDeepSeg pipeline guarantees by resizing each
    crop to the model's input size. :meth:`forward` raises ``ValueError``
    otherwise.

    Examples
    --------
    >>> net = UNet(2, in_channels=2, out_channels=2)
    >>> net(torch.zeros(1, 2, 64, 64)).shape
    torch.Size([1, 2, 64, 64])
    """

    def __init__(self, spatial_dims, in_channels, out_channels, features=(16, 32, 64, 128, 256), *,
                 activation="leaky_relu"):
        super().__init__()
        if isinstance(spatial_dims, bool) or spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.spatial_dims = int(spatial_dims)
        self.in_channels = positive_int(in_channels, "in_channels")
        self.out_channels = positive_int(out_channels, "out_channels")
        self.features = parse_features(features)
        self.activation = activation

        dims, feats = self.spatial_dims, self.features
        self.stem = _DoubleConv(dims, self.in_channels, feats[0], activation)
        self.encoder = nn.ModuleList(
            _Down(dims, feats[i], feats[i + 1], activation) for i in range(len(feats) - 1))
        # decoder[i] brings level i + 1 up to level i; it is applied deepest first.
        self.decoder = nn.ModuleList(
            _Up(dims, feats[i + 1], feats[i], feats[i], activation) for i in range(len(feats) - 1))
        self.head = _LAYERS[dims][0](feats[0], self.out_channels, kernel_size=1)

    @property
    def size_multiple(self):
        """int: every input spatial size must be a multiple of this (2 ** number of poolings)."""
        return 2 ** (len(self.features) - 1)

    def _check_input(self, x):
        expected_ndim = self.spatial_dims + 2
        if x.ndim != expected_ndim:
            raise ValueError(
                "input must have shape (batch, channels, {}), i.e. {} dimensions, got shape {}".format(
                    "D, H, W" if self.spatial_dims == 3 else "H, W", expected_ndim, tuple(x.shape)))
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"input has {x.shape[1]} channels but the network expects in_channels={self.in_channels}")
        spatial = tuple(x.shape[2:])
        multiple = self.size_multiple
        if any(s % multiple for s in spatial):
            suggestion = tuple(max(multiple, -(-s // multiple) * multiple) for s in spatial)
            raise ValueError(
                f"input spatial size {spatial} is not a multiple of {multiple} "
                f"(2 ** {len(self.features) - 1} poolings) along every axis; "
                f"resize or pad the crop, e.g. to {suggestion}")
        # Instance norm needs more than one voxel per channel at the deepest level.
        if all(s // multiple == 1 for s in spatial):
            raise ValueError(
                f"input spatial size {spatial} is too small: the deepest level would be a single voxel, "
                f"which instance normalisation cannot normalise; use at least {2 * multiple} along one axis")

    def forward(self, x):
        """Compute class logits.

        Parameters
        ----------
        x : (B, in_channels, H, W) or (B, in_channels, D, H, W) float tensor
            Spatial sizes in array order, each a multiple of :attr:`size_multiple`.

        Returns
        -------
        (B, out_channels, *spatial) tensor
            Unnormalised logits, same spatial size and dtype as `x`.
        """
        self._check_input(x)
        skips = [self.stem(x)]
        for down in self.encoder:
            skips.append(down(skips[-1]))
        x = skips.pop()
        for up in reversed(self.decoder):
            x = up(x, skips.pop())
        return self.head(x)
