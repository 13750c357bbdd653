"""The model file: what :meth:`ScPairing.save` writes and :meth:`ScPairing.load` reads.

A file is one ``torch.save`` dict readable with ``torch.load(weights_only=True)``: tensors,
plain Python values, and NumPy arrays wrapped as tensors (numbers) or lists (strings).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import _validate, pp
from ._train import TrainConfig

FILE_FORMAT = "scpairing.ScPairing"
FILE_VERSION = 1


@dataclass
class ModelState:
    """Everything a trained model is besides its torch weights and its bridge data.

    :class:`ScPairing` is set up from one of these both when it is built from a bridge and when
    it is loaded from a file, so the two cannot hold different attributes.
    """

    config: dict[str, Any]
    train_config: TrainConfig
    reductions: dict[str, str | pp.Reduction]
    input_mean: dict[str, np.ndarray]
    input_scale: dict[str, float]
    batch_key: str | None
    batch_categories: list[str]
    count_features: dict[str, list[str]]
    history: list[dict[str, float]]
    is_trained: bool
    # Absent from files written before they existed.
    reproducibility: dict[str, Any]
    validation: dict[str, Any] | None
    adaptation: dict[str, Any] | None


# Entries every model file has had; "reproducibility", "validation" and "adaptation" came later.
REQUIRED_KEYS = (
    "format",
    "version",
    "config",
    "train_config",
    "modalities",
    "input_dims",
    "input_mean",
    "input_scale",
    "reductions",
    "batch_key",
    "batch_categories",
    "count_features",
    "history",
    "is_trained",
    "state_dict",
)


def _numpy_to_torch(value: Any) -> Any:
    """Make a reduction state loadable with ``torch.load(weights_only=True)``."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return {"__ndarray__": torch.from_numpy(np.ascontiguousarray(value))}
    if isinstance(value, np.ndarray):
        return {"__strarray__": [str(v) for v in value]}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {k: _numpy_to_torch(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_numpy_to_torch(v) for v in value]
    return value


def _torch_to_numpy(value: Any) -> Any:
    if isinstance(value, Mapping):
        if "__ndarray__" in value:
            return value["__ndarray__"].numpy()
        if "__strarray__" in value:
            return np.asarray(value["__strarray__"], dtype=object)
        return {k: _torch_to_numpy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_torch_to_numpy(v) for v in value]
    return value


def write(
    path: str | os.PathLike,
    state: ModelState,
    modalities: list[str],
    state_dict: Mapping[str, torch.Tensor],
) -> None:
    """Write ``state`` and the module weights to ``path``."""
    reductions = {
        m: {"obsm_key": spec} if isinstance(spec, str) else {"state": spec.to_state()}
        for m, spec in state.reductions.items()
    }
    payload = {
        "format": FILE_FORMAT,
        "version": FILE_VERSION,
        "config": state.config,
        "train_config": state.train_config.to_dict(),
        "modalities": modalities,
        "input_dims": {m: int(mean.shape[0]) for m, mean in state.input_mean.items()},
        "input_mean": {m: torch.from_numpy(x) for m, x in state.input_mean.items()},
        "input_scale": state.input_scale,
        "reductions": _numpy_to_torch(reductions),
        "batch_key": state.batch_key,
        "batch_categories": state.batch_categories,
        "count_features": state.count_features,
        "history": state.history,
        "is_trained": state.is_trained,
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "reproducibility": state.reproducibility,
        "validation": state.validation,
        "adaptation": state.adaptation,
    }
    torch.save(payload, Path(path))


def read(path: object) -> tuple[ModelState, dict[str, int], dict[str, torch.Tensor]]:
    """The state, encoder input widths and module weights in the model file at ``path``.

    Raises ``TypeError`` for a non-path, ``FileNotFoundError`` for no file and ``ValueError``
    for a file that is not a complete model file this version can read.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a file path; got {type(path).__name__}.")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"`path`: no file at {str(path)!r}.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        # torch's own message advises retrying with weights_only=False, which would run
        # whatever code a hostile file carries; it is deliberately not passed on.
        raise ValueError(
            f"`path`: {str(path)!r} is not a readable scpairing model file: not written by "
            "ScPairing.save, corrupted or truncated, or holding objects a model file never "
            f"holds ({type(error).__name__}); it was not loaded."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FILE_FORMAT:
        raise ValueError(f"`path`: {str(path)!r} is not a scpairing model file.")
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise ValueError(
            f"`path`: {str(path)!r} is an incomplete scpairing model file, missing the "
            f"entries {missing}; it is corrupted or from an incompatible scpairing version."
        )
    if not _validate.is_integer(payload["version"]) or payload["version"] > FILE_VERSION:
        raise ValueError(
            f"`path`: model file version {payload['version']!r} is newer than this "
            f"scpairing supports ({FILE_VERSION}); upgrade scpairing."
        )
    try:
        return _state_from_payload(payload), payload["input_dims"], payload["state_dict"]
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as error:
        raise ValueError(
            f"`path`: {str(path)!r} is not a valid scpairing model file ({error}); it is "
            "corrupted or from an incompatible scpairing version."
        ) from None


def _state_from_payload(payload: dict) -> ModelState:
    reductions = _torch_to_numpy(payload["reductions"])
    return ModelState(
        config=payload["config"],
        train_config=TrainConfig.from_dict(payload["train_config"]),
        reductions={
            m: spec["obsm_key"] if "obsm_key" in spec else pp.reduction_from_state(spec["state"])
            for m, spec in reductions.items()
        },
        input_mean={m: t.numpy() for m, t in payload["input_mean"].items()},
        input_scale=payload["input_scale"],
        batch_key=payload["batch_key"],
        batch_categories=payload["batch_categories"],
        count_features=payload["count_features"],
        history=payload["history"],
        is_trained=payload["is_trained"],
        reproducibility=payload.get("reproducibility", {}),
        validation=payload.get("validation"),
        adaptation=payload.get("adaptation"),
    )
