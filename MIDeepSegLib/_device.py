"""Device names -> torch.device, with clear errors for devices that are not there."""

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
