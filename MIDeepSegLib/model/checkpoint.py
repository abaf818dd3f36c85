"""Model checkpoints: one file holding the weights and everything needed to use them.

A checkpoint is a ``torch.save`` file containing only plain containers,
strings, numbers and tensors, so that it loads with
``torch.load(..., weights_only=True)`` and never unpickles arbitrary objects::

    {
        "format": "mideepseg-checkpoint",
        "format_version": 1,
        "config": {...},               # ModelConfig as str/int/float/bool/list/dict values
        "weights_dtype": "float32",     # or "float16" (converted back to float32 on load)
        "state_dict": {name: tensor},   # the UNet's parameters and buffers
    }

The configuration records the network architecture *and* how its input was
prepared in training (input size, intensity normalisation, cue-map encoding,
crop margin), so that inference prepares inputs the same way. Its ``card`` is
a free-form model card: training data, command, hardware, validation figures.
"""

import dataclasses
import json
import math
import numbers
import os
import pickle
import warnings
from pathlib import Path

import torch

from .. import __version__
from .._device import resolve_device
from .network import ACTIVATIONS, UNet, parse_features, positive_int

#: Value of the "format" key that marks a MIDeepSeg checkpoint.
FORMAT_NAME = "mideepseg-checkpoint"
#: Newest file format this version writes and reads.
FORMAT_VERSION = 1
#: Environment variable naming extra folders (os.pathsep-separated) that hold model files.
MODELS_DIR_ENV = "MIDEEPSEG_MODELS_DIR"
#: Model names accepted by :func:`resolve_model` and the file each one maps to.
MODEL_FILES = {"2d": "mideepseg_2d.pt", "3d": "mideepseg_3d.pt"}

# The paper's CNN input sizes (Sections 3.2.1 and 3.3.2), array order.
_DEFAULT_INPUT_SIZE = {2: (64, 64), 3: (64, 96, 96)}


class CheckpointError(ValueError):
    """A file is not a usable MIDeepSeg checkpoint (corrupt, foreign, too new or inconsistent)."""


@dataclasses.dataclass
class ModelConfig:
    """Architecture and input preparation of a trained MIDeepSeg network.

    Parameters
    ----------
    spatial_dims : {2, 3}
        2 for the 2D UNet, 3 for the 3D UNet.
    in_channels, out_channels : int
        Network channels; MIDeepSeg uses 2 in (image crop, cue map) and 2 out
        (background, foreground logits).
    features : tuple of int
        Channels per resolution level, bridge last (see :class:`~MIDeepSegLib.model.network.UNet`).
    input_size : tuple of int, array order, optional
        Size every crop and cue map is resized to before the network, voxels.
        Each value must be a multiple of ``2 ** (len(features) - 1)``.
        Default: the paper's 64 x 64 (2D) or 64 x 96 x 96 (3D).
    activation : str
        The UNet's non-linearity, ``"leaky_relu"`` or ``"relu"``.
    normalisation : str
        Intensity normalisation of the crop. ``"zscore"``: subtract the crop's
        mean and divide by its standard deviation (paper, Section 2.5).
    encoding : str
        Cue-map encoding of the interior margin points, ``"egd"`` by default.
    margin_mm : float
        Margin added on each side of the interior margin points' bounding box
        to get the relaxed bounding box in training, mm (>= 0).
    format_version : int
        Checkpoint format version the configuration was written with.
    library_version : str
        MIDeepSegLib version that wrote it.
    card : dict
        Free-form model card (JSON-compatible values): training data,
        training command, hardware, validation figures, licence, ...
    """

    spatial_dims: int
    in_channels: int = 2
    out_channels: int = 2
    features: tuple = (16, 32, 64, 128, 256)
    input_size: tuple = None
    activation: str = "leaky_relu"
    normalisation: str = "zscore"
    encoding: str = "egd"
    margin_mm: float = 5.0
    format_version: int = FORMAT_VERSION
    library_version: str = __version__
    card: dict = dataclasses.field(default_factory=dict)

    @property
    def size_multiple(self):
        """int: every input grid size must be a multiple of this (2 ** the UNet's poolings)."""
        return 2 ** (len(self.features) - 1)

    def __post_init__(self):
        if isinstance(self.spatial_dims, bool) or self.spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {self.spatial_dims!r}")
        self.spatial_dims = int(self.spatial_dims)
        self.in_channels = positive_int(self.in_channels, "in_channels")
        self.out_channels = positive_int(self.out_channels, "out_channels")
        self.features = parse_features(self.features)
        if self.input_size is None:
            self.input_size = _DEFAULT_INPUT_SIZE[self.spatial_dims]
        if isinstance(self.input_size, (str, bytes)) or not hasattr(self.input_size, "__len__") \
                or len(self.input_size) != self.spatial_dims:
            raise ValueError(
                f"input_size must have {self.spatial_dims} values (array order), got {self.input_size!r}")
        self.input_size = tuple(positive_int(s, f"input_size[{i}]")
                                for i, s in enumerate(self.input_size))
        multiple = self.size_multiple
        if any(s % multiple for s in self.input_size):
            raise ValueError(f"input_size {self.input_size} must be a multiple of {multiple} "
                             "(2 ** (len(features) - 1)) along every axis")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        for name in ("normalisation", "encoding", "library_version"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"{name} must be a non-empty string, got {getattr(self, name)!r}")
        if isinstance(self.margin_mm, bool) or not isinstance(self.margin_mm, numbers.Real) \
                or not math.isfinite(self.margin_mm) or self.margin_mm < 0:
            raise ValueError(f"margin_mm must be a finite number >= 0 (mm), got {self.margin_mm!r}")
        self.margin_mm = float(self.margin_mm)
        self.format_version = positive_int(self.format_version, "format_version")
        if not isinstance(self.card, dict):
            raise TypeError(f"card must be a dict, got {type(self.card).__name__}")

    def to_dict(self):
        """Return the configuration as JSON-compatible plain values (tuples become lists).

        Raises ``ValueError`` if `card` holds something JSON cannot represent.
        """
        try:
            return json.loads(json.dumps(dataclasses.asdict(self), allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise ValueError("the model card must hold only JSON values (str, number, bool, None, "
                             f"list, dict): {exc}") from None

    @classmethod
    def from_dict(cls, values):
        """Build a configuration from :meth:`to_dict` output.

        Unknown keys (written by a later minor version) are ignored with a warning.
        """
        if not isinstance(values, dict):
            raise TypeError(f"a model configuration must be a dict, got {type(values).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            warnings.warn(f"ignoring unknown model configuration keys {unknown}", stacklevel=2)
        return cls(**{k: v for k, v in values.items() if k in names})


def build_model(config):
    """Return a freshly initialised :class:`~MIDeepSegLib.model.network.UNet` for `config`."""
    return UNet(config.spatial_dims, config.in_channels, config.out_channels, config.features,
                activation=config.activation)


def _mismatch(expected, found):
    """Describe how state dict `found` differs from the model's `expected`, or return ''."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    shapes = [f"{k}: model {tuple(expected[k].shape)} vs file {tuple(found[k].shape)}"
              for k in expected if k in found and expected[k].shape != found[k].shape]
    parts = []
    groups = (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", shapes))
    for label, items in groups:
        if items:
            parts.append("{} {} ({}{})".format(len(items), label, ", ".join(items[:3]),
                                                ", ..." if len(items) > 3 else ""))
    return "; ".join(parts)


def save_checkpoint(path, model, config, *, half=False):
    """Write `model`'s weights and `config` to one checkpoint file.

    Parameters
    ----------
    path : str or os.PathLike
        Output file (``.pt`` by convention). Written atomically: a crash never
        leaves a truncated checkpoint behind.
    model : torch.nn.Module
        The trained network; its state dict must match ``build_model(config)``.
    config : ModelConfig
        Architecture, input preparation and model card. The file records the
        current format version and library version.
    half : bool, keyword-only
        Store floating-point weights as float16 (half the file size); they are
        converted back to float32 by :func:`load_checkpoint`.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    if not isinstance(config, ModelConfig):
        raise TypeError(f"config must be a ModelConfig, got {type(config).__name__}")
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    config = dataclasses.replace(config, format_version=FORMAT_VERSION, library_version=__version__)
    state = model.state_dict()
    problem = _mismatch(build_model(config).state_dict(), state)
    if problem:
        raise ValueError(f"model does not match config (UNet {config.spatial_dims}D, features "
                         f"{config.features}): {problem}")
    dtype = torch.float16 if half else torch.float32
    # clone(): torch.save writes a view's whole storage, so detach copies keep files minimal.
    weights = {k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()).clone()
               for k, v in state.items()}
    payload = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "config": config.to_dict(),
        "weights_dtype": "float16" if half else "float32",
        "state_dict": weights,
    }
    path = Path(path)
    atomic_save(payload, path)
    return path


def atomic_save(payload, path):
    """``torch.save`` to a temporary file next to `path`, then rename: readers never see a half-written file."""
    path = Path(path)
    tmp = str(path.with_name("{}.{}.tmp".format(path.name, os.getpid())))
    try:
        with open(tmp, "wb") as stream:
            torch.save(payload, stream)
        os.replace(tmp, str(path))
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def read_payload(path):
    """torch.load `path` (weights only) and check it is a MIDeepSeg checkpoint dict."""
    if not path.is_file():
        raise FileNotFoundError(2, "no checkpoint file at this path", str(path))
    try:
        payload = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path} is not a MIDeepSeg checkpoint: it contains Python objects other than tensors and plain "
            f"values, which are never unpickled (weights_only=True){_unpickling_detail(exc)}") \
            from exc
    except Exception as exc:
        # Damaged files surface as RuntimeError, OSError, EOFError, KeyError, ... depending on where
        # the zip or pickle stream breaks; all of them mean the same thing to the user.
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated, corrupt, or not a torch "
                              f"file): {type(exc).__name__}: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        if isinstance(payload, dict) and payload and all(torch.is_tensor(v) for v in payload.values()):
            raise CheckpointError(
                f"{path} holds a bare state dict (weights without a configuration), not a MIDeepSeg "
                "checkpoint; write it with save_checkpoint(path, model, ModelConfig(...))")
        raise CheckpointError(f"{path} is a torch file but not a MIDeepSeg checkpoint (no \"format\": "
                              f"{FORMAT_NAME!r} entry; found {_describe(payload)})")
    version = payload.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{path} has an invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} uses checkpoint format version {version}, but MIDeepSegLib {__version__} reads "
            f"versions up to {FORMAT_VERSION}; upgrade MIDeepSegLib to load it")
    for key, kind in (("config", dict), ("state_dict", dict)):
        if not isinstance(payload.get(key), kind):
            raise CheckpointError(f"{path} is damaged: its {key!r} entry is missing or not a dict")
    return payload


def _unpickling_detail(exc):
    """The line of torch's (long) weights-only refusal that names the offending object."""
    for line in str(exc).splitlines():
        if "Unsupported" in line:
            return ": " + line.strip()
    return ""


def _describe(obj):
    if isinstance(obj, dict):
        keys = sorted(map(str, obj))
        return "a dict with keys {}{}".format(keys[:5], " ..." if len(keys) > 5 else "")
    return f"a {type(obj).__name__}"


def load_checkpoint(path, device="cpu"):
    """Load a checkpoint written by :func:`save_checkpoint`.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file (see :func:`resolve_model` for "2d" / "3d").
    device : str or torch.device
        Where to put the network: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``
        or ``"auto"`` (see :func:`MIDeepSegLib._device.resolve_device`).

    Returns
    -------
    model : UNet
        The network with the stored weights (float32), in eval mode, on `device`.
    config : ModelConfig

    Raises
    ------
    FileNotFoundError
        `path` does not exist.
    CheckpointError
        (a ``ValueError``) the file is truncated or corrupt, contains
        arbitrary Python objects, is not a MIDeepSeg checkpoint (e.g. a bare
        state dict), has a newer format version, or its weights do not match
        its configuration.
    """
    path = Path(path)
    device = resolve_device(device)
    payload = read_payload(path)
    try:
        config = ModelConfig.from_dict(payload["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} has an invalid model configuration: {exc}") from exc
    state = payload["state_dict"]
    if not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
        raise CheckpointError(f"{path} is damaged: its state_dict must map names to tensors")
    model = build_model(config)
    problem = _mismatch(model.state_dict(), state)
    if problem:
        raise CheckpointError(f"{path}: the weights do not match the configuration (UNet "
                              f"{config.spatial_dims}D, features {config.features}): {problem}")
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), config


def model_search_dirs():
    """Folders searched for named models, in order.

    ``$MIDEEPSEG_MODELS_DIR`` (one or more folders separated by ``os.pathsep``),
    then ``Resources/Models`` next to the package (source tree, Slicer
    extension), then ``Resources/Models`` inside the package (pip install).
    """
    dirs = [Path(d) for d in os.environ.get(MODELS_DIR_ENV, "").split(os.pathsep) if d]
    package = Path(__file__).resolve().parents[1]  # the MIDeepSegLib folder
    return dirs + [package.parent / "Resources" / "Models", package / "Resources" / "Models"]


def resolve_model(name_or_path):
    """Find the checkpoint file for a model name or path.

    Parameters
    ----------
    name_or_path : str or os.PathLike
        ``"2d"`` or ``"3d"`` (the shipped models ``mideepseg_2d.pt`` /
        ``mideepseg_3d.pt``), an existing file path, or a bare file name to look
        for in :func:`model_search_dirs`.

    Returns
    -------
    pathlib.Path
        An existing file.

    Raises
    ------
    FileNotFoundError
        Nothing was found; the message lists every place looked at.
    """
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(f"model must be '2d', '3d' or a checkpoint path, got {name_or_path!r}")
    text = os.fspath(name_or_path)
    candidate = Path(text).expanduser()
    if candidate.is_file():
        return candidate
    key = text.strip().lower()
    file_name = MODEL_FILES.get(key)
    if file_name is None and candidate.name == text and text:
        file_name = text  # a bare file name: search the model folders for it
    if file_name is None:
        raise FileNotFoundError(2, "no checkpoint file at this path (models can also be named {})".format(
            " or ".join(repr(k) for k in MODEL_FILES)), text)
    looked = [d / file_name for d in model_search_dirs()]
    for path in looked:
        if path.is_file():
            return path
    raise FileNotFoundError(
        "model {!r}: {} not found in any of\n  {}\n(set {} to add a folder). Shipped weights may not "
        "exist yet: the training pipeline produces them; or pass the path of a checkpoint.".format(
            text, file_name, "\n  ".join(str(p) for p in looked), MODELS_DIR_ENV))
