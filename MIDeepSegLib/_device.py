"""Device names -> torch.device, with clear errors for devices that are not there."""

import logging

import torch


def resolve_device(name):
    """Return the ``torch.device`` for a device name, checking it is available.

    Parameters
    ----------
    name : str or torch.device
        ``"auto"`` (CUDA if available, else Apple MPS, else CPU), ``"cpu"``,
        ``"cuda"``, ``"cuda:<index>"`` or ``"mps"``.

    Raises
    ------
    ValueError
        Unknown name, or the requested accelerator is not available.
    """
    if isinstance(name, torch.device):
        name = str(name)
    if not isinstance(name, str):
        raise TypeError("device must be a string such as 'auto', 'cpu', 'cuda', 'cuda:1' or 'mps', "
                        f"got {name!r}")
    key = name.strip().lower()
    mps = getattr(torch.backends, "mps", None)
    mps_available = mps is not None and mps.is_available()
    if key == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if mps_available else "cpu")
    if key == "cpu":
        return torch.device("cpu")
    if key == "mps":
        if not mps_available:
            raise ValueError("device 'mps' was requested but Apple MPS is not available here; "
                             "use device='cpu' or 'auto'")
        return torch.device("mps")
    if key == "cuda" or key.startswith("cuda:"):
        index = key[5:]
        if index and not index.isdigit():
            raise ValueError(f"device {name!r}: the CUDA index must be a non-negative integer")
        if not torch.cuda.is_available():
            raise ValueError(
                "device {!r} was requested but CUDA is not available (torch {} {}); use device='cpu' or "
                "'auto'".format(name, torch.__version__,
                                "has no CUDA support" if torch.version.cuda is None else "finds no GPU"))
        if index and int(index) >= torch.cuda.device_count():
            raise ValueError(
                f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) are available")
        return torch.device(key)
    raise ValueError(f"unknown device {name!r}; use 'auto', 'cpu', 'cuda', 'cuda:<index>' or 'mps'")


def available_devices():
    """The device names torch really offers here, in menu order.

    Returns
    -------
    list of str: ``"cpu"``, then ``"cuda:0"``, ``"cuda:1"``... for each CUDA
    device torch sees, then ``"mps"`` when Apple MPS is available. (``"auto"``
    is not listed: it is a choice among these, see :func:`resolve_device`.)
    """
    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names


def runs_on(network, device, in_channels, input_size):
    """Whether `network` runs one forward pass on `device` (a trial on a zero input).

    MPS lacks operations the 3D network needs (``ConvTranspose3d`` before
    torch 2.8): the forward pass raises there. The network is moved back to
    its own device afterwards.

    Parameters
    ----------
    network : torch.nn.Module
    device : torch.device
    in_channels : int
    input_size : tuple of int
        The network's spatial input size, array order (``(64, 96, 96)`` for 3D).

    Returns
    -------
    bool; a failure is logged with its reason.
    """
    home = next(network.parameters()).device
    try:
        device = torch.device(device)
        with torch.no_grad():
            network.to(device)(torch.zeros((1, in_channels) + tuple(input_size), device=device))
        return True
    except Exception as error:  # noqa: BLE001 - any failure of the trial means "not there"
        logging.getLogger(__name__).warning("The model does not run on %s: %s", device, error)
        return False
    finally:
        network.to(home)


def checked_device(requested, network, in_channels, input_size):
    """The device to run `network` on for the device name `requested`, tried once.

    ``"auto"`` falls back to the CPU where the network does not run on the
    accelerator it picked (MPS and the 3D network before torch 2.8); a device
    named explicitly raises instead, so the user learns why.

    Parameters are those of :func:`runs_on`; returns a ``torch.device``.
    """
    device = resolve_device(requested)
    if device.type == "cpu" or runs_on(network, device, in_channels, input_size):
        return device
    if str(requested).strip().lower() == "auto":
        logging.getLogger(__name__).warning("Running on the CPU instead of %s", device)
        return torch.device("cpu")
    raise ValueError(f"The model does not run on {device} with torch {torch.__version__} (see the log); choose 'cpu' or 'auto'")
