"""Where torch work runs by default: CUDA when present, otherwise the CPU."""

from __future__ import annotations

import torch


def default_device() -> torch.device:
    """CUDA when present, otherwise the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
