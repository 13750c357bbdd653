"""Where torch work runs: the default (CUDA when present, otherwise the CPU) and the check of a
device the caller names."""

from __future__ import annotations

import torch


def default_device() -> torch.device:
    """CUDA when present, otherwise the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def check_device(device: object) -> torch.device:
    """``device`` (``'cpu'``, ``'cuda'``, ``'cuda:1'``, a ``torch.device``) as a checked
    ``torch.device``; ``TypeError`` for another type, ``ValueError`` for a device torch does not
    know or a CUDA device without a GPU."""
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"`device` must be 'cpu', 'cuda', a torch.device or None; got {device!r}.")
    try:
        device = torch.device(device)
    except RuntimeError:
        raise ValueError(
            f"`device`: {device!r} is not a device torch knows; use 'cpu' or 'cuda'."
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("`device` is 'cuda' but torch sees no CUDA GPU; use 'cpu' or None.")
    return device
