"""Device names -> torch.device, with clear errors for devices that are not there."""


def resolve_device(device="auto"):
    """Return the torch.device for `device`.

    ``"auto"`` picks CUDA, then Apple MPS, then the CPU. ``"cpu"``, ``"cuda"``,
    ``"cuda:N"``, ``"mps"`` and ``torch.device`` objects are checked to exist.
    """
    import torch

    if isinstance(device, torch.device):
        name = str(device)
    else:
        name = str(device).strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ValueError("device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {!r}".format(device))
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device {!r} requested but torch sees no CUDA GPU (torch {}, CUDA build: {}); "
                             "use device='cpu' or 'auto'".format(device, torch.__version__, torch.version.cuda))
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError("device {!r} requested but only {} CUDA device(s) exist".format(
                device, torch.cuda.device_count()))
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError("device 'mps' requested but Apple MPS is not available here")
    elif dev.type != "cpu":
        raise ValueError("device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {!r}".format(device))
    return dev
